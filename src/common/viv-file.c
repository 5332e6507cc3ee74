/* viv-file.c: atomic file replacement and private folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-file"

#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "viv-file.h"

/* Sets ERROR to a G_IO_ERROR for SAVED_ERRNO, with the message FORMAT makes */
void
viv_file_set_io_error (GError     **error,
                       int          saved_errno,
                       const char  *format,
                       ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), message);
}

/* "Could not write “PATH”: the reason" */
void
viv_file_set_write_error (GError     **error,
                          int          saved_errno,
                          const char  *path)
{
  g_autofree char *display = g_filename_display_name (path);

  viv_file_set_io_error (error, saved_errno,
                         /* Translators: the first %s is a file name, the second
                          * the reason, like “No space left on device” */
                         _("Could not write “%s”: %s"),
                         display, g_strerror (saved_errno));
}

/* Writes all of DATA to FD, again after EINTR and short writes; FALSE
 * with errno set on failure */
gboolean
viv_file_write_all (int          fd,
                    const void  *data,
                    gsize        len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, MIN (len, (gsize) G_MAXSSIZE));

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return FALSE;
        }
      p += n;
      len -= (gsize) n;
    }

  return TRUE;
}

/* Writes PATH so that, whatever happens (a crash, a full disk, a power cut
 * after we return), PATH holds either its old content or DATA, never a mix:
 * the data goes to a temporary file in the same folder, which is fsynced and
 * renamed over PATH; the folder is then fsynced so that the rename itself
 * is on disk. The new file gets mode 0644 (less the umask). A crash between
 * the write and the rename can leave a hidden ".NAME.XXXXXX" behind; PATH is
 * never touched by it. */
gboolean
viv_file_replace (const char  *path,
                  const void  *data,
                  gsize        len,
                  GError     **error)
{
  return viv_file_replace_full (path, data, len, NULL, NULL, error);
}

/* viv_file_replace(), calling HOOK (nullable; for tests) just before the
 * rename */
gboolean
viv_file_replace_full (const char          *path,
                       const void          *data,
                       gsize                len,
                       VivFileReplaceHook   hook,
                       gpointer             hook_data,
                       GError             **error)
{
  g_autofree char *display = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *base = NULL;
  g_autofree char *tmp_name = NULL;
  g_autofree char *tmp_path = NULL;
  int fd;
  int r;
  int saved_errno;

  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  display = g_filename_display_name (path);
  dir = g_path_get_dirname (path);
  base = g_path_get_basename (path);
  tmp_name = g_strdup_printf (".%s.XXXXXX", base);
  tmp_path = g_build_filename (dir, tmp_name, NULL);

  fd = g_mkstemp_full (tmp_path, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      saved_errno = errno;
      viv_file_set_io_error (error, saved_errno,
                             /* Translators: the first %s is a file name, the second
                              * the reason, like “Permission denied” */
                             _("Could not create a temporary file to write “%s”: %s"),
                             display, g_strerror (saved_errno));
      return FALSE;
    }

  if (!viv_file_write_all (fd, data, len) || fsync (fd) < 0)
    {
      saved_errno = errno;
      close (fd);
      goto fail_write;
    }

  /* On Linux the descriptor is gone even when close() fails; the error
   * (from NFS, say) still means the data may not have been written. */
  if (close (fd) < 0 && errno != EINTR)
    {
      saved_errno = errno;
      goto fail_write;
    }

  if (hook != NULL)
    hook (tmp_path, hook_data);

  if (rename (tmp_path, path) < 0)
    {
      saved_errno = errno;
      g_unlink (tmp_path);
      viv_file_set_io_error (error, saved_errno,
                             /* Translators: the first %s is a file name, the second
                              * the reason, like “Permission denied” */
                             _("Could not replace “%s”: %s"),
                             display, g_strerror (saved_errno));
      return FALSE;
    }

  /* The rename is done; this makes it durable */
  r = viv_file_fsync_dir (dir);
  if (r < 0)
    {
      saved_errno = -r;
      viv_file_set_io_error (error, saved_errno,
                             /* Translators: the first %s is a file name, the second
                              * the reason, like “Input/output error” */
                             _("Could not flush the folder of “%s” to disk: %s"),
                             display, g_strerror (saved_errno));
      return FALSE;
    }

  return TRUE;

fail_write:
  g_unlink (tmp_path);
  viv_file_set_write_error (error, saved_errno, path);
  return FALSE;
}

/* Flushes the folder PATH (the renames in it) to disk: 0, or -errno. A
 * file system that cannot fsync a folder (EINVAL) makes renames durable on
 * its own terms: that is 0 too. */
int
viv_file_fsync_dir (const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = 0;

  if (fd < 0)
    return -errno;
  if (fsync (fd) < 0 && errno != EINVAL)
    r = -errno;
  close (fd);
  return r;
}

/* Creates PATH (and its missing parents) with mode 0700, or accepts an
 * existing PATH that is a real folder (not a symbolic link), owned by us and
 * closed to everyone else. Anything else is refused rather than repaired:
 * a runtime folder with the wrong owner or mode means someone else may have
 * put it there. */
gboolean
viv_file_make_private_dir (const char  *path,
                           GError     **error)
{
  g_autofree char *display = NULL;
  struct stat st;
  int saved_errno;

  g_return_val_if_fail (path != NULL && *path != '\0', FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  display = g_filename_display_name (path);

  if (lstat (path, &st) < 0)
    {
      if (errno != ENOENT ||
          g_mkdir_with_parents (path, 0700) < 0 ||
          lstat (path, &st) < 0)
        {
          saved_errno = errno;
          viv_file_set_io_error (error, saved_errno,
                                 /* Translators: the first %s is a folder name, the
                                  * second the reason, like “Permission denied” */
                                 _("Could not create the folder “%s”: %s"),
                                 display, g_strerror (saved_errno));
          return FALSE;
        }
    }

  if (S_ISLNK (st.st_mode))
    {
      viv_file_set_io_error (error, ENOTDIR, _("“%s” is a symbolic link, not a folder"), display);
      return FALSE;
    }

  if (!S_ISDIR (st.st_mode))
    {
      viv_file_set_io_error (error, ENOTDIR, _("“%s” is not a folder"), display);
      return FALSE;
    }

  if (st.st_uid != geteuid ())
    {
      viv_file_set_io_error (error, EPERM, _("The folder “%s” belongs to another user"), display);
      return FALSE;
    }

  if ((st.st_mode & 0077) != 0)
    {
      viv_file_set_io_error (error, EPERM,
                             /* Translators: %04o is a file mode, like 0755 */
                             _("The folder “%s” is open to other users (mode %04o); it must be "
                               "private (0700)"),
                             display, (guint) (st.st_mode & 07777));
      return FALSE;
    }

  return TRUE;
}

gboolean
viv_file_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;
  gboolean ok = TRUE;

  g_return_val_if_fail (path != NULL, FALSE);

  if (!g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          ok = viv_file_remove_tree (child) && ok;
        }
    }
  if (g_remove (path) < 0 && errno != ENOENT)
    {
      g_debug ("Could not remove %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return ok;
}
