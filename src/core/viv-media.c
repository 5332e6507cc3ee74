/* viv-media.c: an installation disc image, and the operating system on it
 *
 * Detection, in a worker thread:
 *
 * 1. Our own look at the file: it exists, can be read, holds an ISO 9660
 *    primary volume descriptor at sector 16 ("CD001"), and is as long as
 *    the volume that descriptor announces. These give the errors people
 *    understand ("is not a disc image", "is truncated") rather than
 *    libosinfo's terse ones, and the volume id.
 * 2. libosinfo: osinfo_media_create_from_location_with_flags() reads the
 *    descriptors (bootable or not: an image made for a test has no El
 *    Torito record), osinfo_db_identify_media() matches them against the
 *    database's media entries, and fills in the matched entry's kernel and
 *    initrd paths: IDENTIFIED.
 * 3. Otherwise the volume id may name a distribution the database knows,
 *    in a release newer than any it has ("Debian 12.2.0 amd64 n" against
 *    Debian 12's osinfo-db 20221130, whose newest Debian is 11). The newest
 *    release it knows is then the profile (resources, kernel and initrd
 *    paths): NEWER_THAN_DB. The paths come from matching the volume id with
 *    the version swapped for the known release's ("Debian 11.2.0 amd64 n"),
 *    so that a netinst disc gets the netinst entry's paths.
 * 4. Otherwise: UNKNOWN, with libosinfo's newest generic Linux profile,
 *    until the user picks one with viv_media_set_os().
 *
 * The kernel and initrd are copied out of the image with libarchive's ISO
 * 9660 reader (Rock Ridge, Joliet or plain names, compared without regard
 * to case), into temporary files renamed into place once both are complete.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-media"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-media.h"
#include "viv-os-catalog.h"
#include "viv-size.h"

#define SECTOR            2048
#define FIRST_DESCRIPTOR  16            /* sectors of system area before it */
#define MAX_DESCRIPTORS   32            /* how far to look for the primary one */
#define COPY_BUFFER       (256 * 1024)
#define MAX_LINK_HOPS     8

struct _VivMedia
{
  GObject          parent_instance;

  GFile           *file;
  char            *path;
  guint64          size;
  char            *volume_id;
  char            *system_id;
  char            *publisher_id;
  char            *application_id;
  guint64          volume_size;

  VivMediaOsMatch  os_match;
  char            *name;
  char            *distro;
  char            *version;
  OsinfoOs        *os;
  char            *kernel_path;
  char            *initrd_path;
};

G_DEFINE_FINAL_TYPE (VivMedia, viv_media, G_TYPE_OBJECT)
G_DEFINE_QUARK (viv-media-error-quark, viv_media_error)

enum {
  PROP_0,
  PROP_OS_MATCH,
  PROP_NAME,
  PROP_OS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
viv_media_finalize (GObject *object)
{
  VivMedia *self = VIV_MEDIA (object);

  g_clear_object (&self->file);
  g_free (self->path);
  g_free (self->volume_id);
  g_free (self->system_id);
  g_free (self->publisher_id);
  g_free (self->application_id);
  g_free (self->name);
  g_free (self->distro);
  g_free (self->version);
  g_clear_object (&self->os);
  g_free (self->kernel_path);
  g_free (self->initrd_path);

  G_OBJECT_CLASS (viv_media_parent_class)->finalize (object);
}

static void
viv_media_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  VivMedia *self = VIV_MEDIA (object);

  switch (prop_id)
    {
    case PROP_OS_MATCH:
      g_value_set_int (value, self->os_match);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_OS:
      g_value_set_object (value, self->os);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_media_class_init (VivMediaClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = viv_media_finalize;
  object_class->get_property = viv_media_get_property;

  properties[PROP_OS_MATCH] = g_param_spec_int ("os-match", NULL, NULL,
                                                VIV_MEDIA_OS_IDENTIFIED, VIV_MEDIA_OS_CHOSEN,
                                                VIV_MEDIA_OS_UNKNOWN, flags);
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_OS] = g_param_spec_object ("os", NULL, NULL, OSINFO_TYPE_OS, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_media_init (VivMedia *self)
{
  self->os_match = VIV_MEDIA_OS_UNKNOWN;
}

/* ---- errors ------------------------------------------------------------------------ */

static void
set_errno_error (GError     **error,
                 const char  *path,
                 int          saved_errno)
{
  g_autofree char *display = g_filename_display_basename (path);

  switch (saved_errno)
    {
    case ENOENT:
    case ENOTDIR:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   /* Translators: %s is a file name */
                   _("“%s” does not exist"), display);
      break;
    case EACCES:
    case EPERM:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   /* Translators: %s is a file name */
                   _("You do not have permission to read “%s”"), display);
      break;
    default:
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   /* Translators: the first %s is a file name, the second
                    * the reason */
                   _("Could not read “%s”: %s"), display, g_strerror (saved_errno));
    }
}

static void
set_not_iso_error (GError     **error,
                   const char  *path)
{
  g_autofree char *display = g_filename_display_basename (path);

  g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NOT_ISO,
               /* Translators: %s is a file name */
               _("“%s” is not a disc image (ISO 9660)"), display);
}

/* ---- the ISO 9660 header ----------------------------------------------------------- */

static gssize
pread_all (int     fd,
           void   *buf,
           gsize   len,
           off_t   offset)
{
  gsize done = 0;

  while (done < len)
    {
      ssize_t n = pread (fd, (guint8 *) buf + done, len - done, offset + (off_t) done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      done += (gsize) n;
    }
  return (gssize) done;
}

/* A descriptor's text field, without the padding */
static char *
field_string (const guint8 *field,
              gsize         len)
{
  g_autofree char *raw = g_strndup ((const char *) field, len);

  g_strchomp (raw);
  if (raw[0] == '\0')
    return NULL;
  return g_utf8_make_valid (raw, -1);
}

/* The beginning of a disc image: what an ISO's system area holds (zeroes,
 * or a hybrid image's MBR) */
static gboolean
looks_like_image_start (const guint8 *data,
                        gsize         len)
{
  if (len >= 512 && data[510] == 0x55 && data[511] == 0xaa)
    return TRUE;
  for (gsize i = 0; i < len; i++)
    if (data[i] != 0)
      return FALSE;
  return len > 0;
}

/* A file or a block device: what can hold a disc image */
static gboolean
check_file_type (const struct stat  *st,
                 const char         *display,
                 GError            **error)
{
  if (S_ISDIR (st->st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY,
                   /* Translators: %s is a folder name */
                   _("“%s” is a folder, not a disc image"), display);
      return FALSE;
    }
  if (!S_ISREG (st->st_mode) && !S_ISBLK (st->st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   /* Translators: %s is a file name */
                   _("“%s” is not a disc image file"), display);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_header (VivMedia  *self,
             GError   **error)
{
  g_autofree char *display = g_filename_display_basename (self->path);
  g_autofree guint8 *start = NULL;
  guint8 pvd[SECTOR];
  struct stat st;
  gboolean found = FALSE;
  guint32 blocks;
  guint16 block_size;
  gssize n;
  int fd;

  /* Opening a FIFO waits for a writer, reading a socket or a terminal
   * for data, maybe forever: anything but a file or a block device is
   * refused before it is opened, and opened without blocking in case it
   * was swapped in between (then fstat() refuses it). */
  if (stat (self->path, &st) < 0)
    {
      set_errno_error (error, self->path, errno);
      return FALSE;
    }
  if (!check_file_type (&st, display, error))
    return FALSE;

  fd = open (self->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      set_errno_error (error, self->path, errno);
      return FALSE;
    }

  if (fstat (fd, &st) < 0)
    goto io_error;
  if (!check_file_type (&st, display, error))
    goto fail;
  if (S_ISREG (st.st_mode))
    {
      self->size = (guint64) st.st_size;
    }
  else if (ioctl (fd, BLKGETSIZE64, &self->size) < 0)
    {
      goto io_error;
    }

  for (guint i = 0; i < MAX_DESCRIPTORS && !found; i++)
    {
      n = pread_all (fd, pvd, SECTOR, (off_t) (FIRST_DESCRIPTOR + i) * SECTOR);
      if (n < 0)
        goto io_error;
      if (n < SECTOR && i == 0)
        {
          gsize len = MIN (self->size, (guint64) FIRST_DESCRIPTOR * SECTOR);

          start = g_malloc (MAX (len, 1));
          n = pread_all (fd, start, len, 0);
          if (n < 0)
            goto io_error;
          if (looks_like_image_start (start, (gsize) n))
            {
              g_autofree char *size = viv_size_format (self->size);

              g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_TRUNCATED,
                           /* Translators: the first %s is a file name, the
                            * second a size ("20.5 KiB") */
                           _("“%s” is truncated: it ends after %s, before the disc image’s "
                             "description"), display, size);
            }
          else
            {
              set_not_iso_error (error, self->path);
            }
          goto fail;
        }
      if (n < SECTOR || memcmp (pvd + 1, "CD001", 5) != 0)
        break;
      if (pvd[0] == 1)          /* primary */
        found = TRUE;
      else if (pvd[0] == 255)   /* terminator */
        break;
    }
  if (!found)
    {
      set_not_iso_error (error, self->path);
      goto fail;
    }

  /* Both-endian fields: the little-endian half comes first. */
  blocks = (guint32) pvd[80] | (guint32) pvd[81] << 8 | (guint32) pvd[82] << 16 |
           (guint32) pvd[83] << 24;
  block_size = (guint16) (pvd[128] | pvd[129] << 8);
  if (block_size == 0 || (block_size & (block_size - 1)) != 0 || blocks == 0)
    {
      g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_CORRUPT,
                   /* Translators: %s is a file name */
                   _("“%s” is damaged: its description of the disc is not valid"), display);
      goto fail;
    }
  self->volume_size = (guint64) blocks * block_size;
  if (self->volume_size > self->size)
    {
      g_autofree char *have = viv_size_format (self->size);
      g_autofree char *want = viv_size_format (self->volume_size);

      /* Short by less than the rounding shows: the sizes in full */
      if (strcmp (have, want) == 0)
        {
          g_free (have);
          g_free (want);
          have = viv_size_format_exact (self->size);
          want = viv_size_format_exact (self->volume_size);
        }

      g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_TRUNCATED,
                   /* Translators: the first %s is a file name, the others
                    * sizes ("20.5 KiB", "650.1 MiB") */
                   _("“%s” is truncated: it holds %s of a %s disc image"),
                   display, have, want);
      goto fail;
    }

  self->system_id = field_string (pvd + 8, 32);
  self->volume_id = field_string (pvd + 40, 32);
  self->publisher_id = field_string (pvd + 318, 128);
  self->application_id = field_string (pvd + 574, 128);
  close (fd);
  return TRUE;

io_error:
  set_errno_error (error, self->path, errno);
fail:
  close (fd);
  return FALSE;
}

/* ---- kernel and initrd paths of a profile ------------------------------------------ */

static gboolean
regex_matches (const char *pattern,
               const char *value)
{
  if (pattern == NULL)
    return TRUE;
  if (value == NULL)
    return FALSE;
  return g_regex_match_simple (pattern, value, 0, 0);
}

/* For an OS given by hand, or when nothing else matched: the x86_64 media
 * entry whose volume id matches ours, else the first with a kernel. */
static void
boot_paths_for_os (OsinfoOs    *os,
                   const char  *volume_id,
                   char       **kernel_path,
                   char       **initrd_path)
{
  g_autoptr(OsinfoMediaList) list = osinfo_os_get_media_list (os);
  OsinfoMedia *first = NULL, *best = NULL;
  int n = osinfo_list_get_length (OSINFO_LIST (list));

  for (int i = 0; i < n && best == NULL; i++)
    {
      OsinfoMedia *media = OSINFO_MEDIA (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *arch = osinfo_media_get_architecture (media);

      if (osinfo_media_get_kernel_path (media) == NULL ||
          (g_strcmp0 (arch, "x86_64") != 0 && g_strcmp0 (arch, "all") != 0))
        continue;
      if (first == NULL)
        first = media;
      if (osinfo_media_get_volume_id (media) != NULL &&
          regex_matches (osinfo_media_get_volume_id (media), volume_id))
        best = media;
    }
  if (best == NULL)
    best = first;

  g_free (*kernel_path);
  g_free (*initrd_path);
  *kernel_path = best != NULL ? g_strdup (osinfo_media_get_kernel_path (best)) : NULL;
  *initrd_path = best != NULL ? g_strdup (osinfo_media_get_initrd_path (best)) : NULL;
}

/* ---- newer than the database ------------------------------------------------------- */

/* Dotted numeric versions ("11", "22.04"); anything else is not a version */
static gboolean
is_numeric_version (const char *version)
{
  if (version == NULL || !g_ascii_isdigit (version[0]))
    return FALSE;
  for (const char *p = version; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p) && !(*p == '.' && g_ascii_isdigit (p[1])))
      return FALSE;
  return TRUE;
}

static int
compare_versions (const char *a,
                  const char *b)
{
  g_auto(GStrv) parts_a = g_strsplit (a, ".", -1);
  g_auto(GStrv) parts_b = g_strsplit (b, ".", -1);
  guint len_a = g_strv_length (parts_a), len_b = g_strv_length (parts_b);

  for (guint i = 0; i < MAX (len_a, len_b); i++)
    {
      guint64 value_a = i < len_a ? g_ascii_strtoull (parts_a[i], NULL, 10) : 0;
      guint64 value_b = i < len_b ? g_ascii_strtoull (parts_b[i], NULL, 10) : 0;

      if (value_a != value_b)
        return value_a < value_b ? -1 : 1;
    }
  return 0;
}

static guint
count_parts (const char *version)
{
  guint n = 1;

  for (const char *p = version; *p != '\0'; p++)
    if (*p == '.')
      n++;
  return n;
}

/* The first N dot-separated parts of VERSION */
static char *
first_parts (const char *version,
             guint       n)
{
  const char *p = version;

  for (; *p != '\0'; p++)
    if (*p == '.' && --n == 0)
      break;
  return g_strndup (version, (gsize) (p - version));
}

/* The newest release of DISTRO with a numeric version */
static OsinfoOs *
newest_release (OsinfoDb   *db,
                const char *distro)
{
  g_autoptr(OsinfoOsList) list = osinfo_db_get_os_list (db);
  OsinfoOs *best = NULL;
  int n = osinfo_list_get_length (OSINFO_LIST (list));

  for (int i = 0; i < n; i++)
    {
      OsinfoOs *os = OSINFO_OS (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *version = osinfo_product_get_version (OSINFO_PRODUCT (os));
      int order;

      if (g_strcmp0 (osinfo_os_get_distro (os), distro) != 0 || !is_numeric_version (version))
        continue;
      if (best == NULL)
        {
          best = os;
          continue;
        }
      order = compare_versions (version, osinfo_product_get_version (OSINFO_PRODUCT (best)));
      if (order > 0 ||
          (order == 0 &&
           g_strcmp0 (osinfo_product_get_release_date_string (OSINFO_PRODUCT (os)),
                      osinfo_product_get_release_date_string (OSINFO_PRODUCT (best))) > 0))
        best = os;
    }
  return best;
}

/* A volume id's word names DISTRO: "debian", or "alpine" for "alpinelinux" */
static gboolean
word_names_distro (const char *word,
                   const char *distro)
{
  g_autofree char *folded = g_ascii_strdown (distro, -1);
  gsize len = strlen (word);

  if (len < 3)
    return FALSE;
  return strcmp (word, folded) == 0 ||
         (strncmp (word, folded, len) == 0 && strcmp (folded + len, "linux") == 0);
}

/* "Debian" out of "Debian 11" */
static char *
distro_display_name (OsinfoOs *os)
{
  const char *name = osinfo_product_get_name (OSINFO_PRODUCT (os));
  const char *version = osinfo_product_get_version (OSINFO_PRODUCT (os));
  const char *at;

  if (name == NULL)
    return g_strdup (osinfo_os_get_distro (os));
  at = version != NULL ? strstr (name, version) : NULL;
  if (at != NULL && at > name)
    return g_strchomp (g_strndup (name, (gsize) (at - name)));
  return g_strdup (name);
}

static gboolean
match_newer (VivMedia    *self,
             OsinfoDb    *db,
             OsinfoMedia *detected)
{
  g_autofree char *folded = NULL;
  g_auto(GStrv) words = NULL;
  g_autoptr(GList) distros = NULL;
  g_autofree char *read_version = NULL;
  g_autofree char *version = NULL;
  g_autofree char *display = NULL;
  g_autofree char *rewritten = NULL;
  g_autoptr(OsinfoMedia) probe = NULL;
  const char *distro = NULL;
  const char *newest_version;
  const char *at;
  OsinfoOs *newest;
  guint i;

  if (self->volume_id == NULL)
    return FALSE;

  /* The first word naming a known distribution, then the first word that
   * starts with a digit: "debian" and "12.2.0" in "Debian 12.2.0 amd64 n" */
  folded = g_ascii_strdown (self->volume_id, -1);
  words = g_strsplit_set (folded, " _-", -1);
  distros = osinfo_db_unique_values_for_property_in_os (db, OSINFO_OS_PROP_DISTRO);
  for (i = 0; words[i] != NULL && distro == NULL; i++)
    for (GList *l = distros; l != NULL; l = l->next)
      if (word_names_distro (words[i], l->data))
        {
          distro = l->data;
          break;
        }
  if (distro == NULL)
    return FALSE;
  for (; words[i] != NULL && read_version == NULL; i++)
    if (g_ascii_isdigit (words[i][0]))
      {
        gsize len = strspn (words[i], "0123456789.");

        read_version = g_strndup (words[i], len);
        while (len > 0 && read_version[len - 1] == '.')
          read_version[--len] = '\0';
      }
  if (read_version == NULL)
    return FALSE;

  newest = newest_release (db, distro);
  if (newest == NULL)
    return FALSE;
  newest_version = osinfo_product_get_version (OSINFO_PRODUCT (newest));

  /* As precise as the distribution's releases: Debian "12", Ubuntu "24.04" */
  version = first_parts (read_version, count_parts (newest_version));
  if (compare_versions (version, newest_version) <= 0)
    return FALSE;

  display = distro_display_name (newest);
  self->os_match = VIV_MEDIA_OS_NEWER_THAN_DB;
  self->distro = g_strdup (distro);
  self->version = g_strdup (version);
  self->name = g_strdup_printf ("%s %s", display, version);
  g_set_object (&self->os, newest);

  /* The newest known release's media entry for a disc like ours: its
   * volume id with the known version in place of the read one */
  at = strstr (self->volume_id, version);
  if (at != NULL)
    rewritten = g_strdup_printf ("%.*s%s%s", (int) (at - self->volume_id), self->volume_id,
                                 newest_version, at + strlen (version));
  if (rewritten != NULL)
    {
      probe = osinfo_media_new ("urn:vivarium:newer-than-db", "x86_64");
      osinfo_entity_set_param (OSINFO_ENTITY (probe), OSINFO_MEDIA_PROP_VOLUME_ID, rewritten);
      if (self->system_id != NULL)
        osinfo_entity_set_param (OSINFO_ENTITY (probe), OSINFO_MEDIA_PROP_SYSTEM_ID,
                                 self->system_id);
      if (self->publisher_id != NULL)
        osinfo_entity_set_param (OSINFO_ENTITY (probe), OSINFO_MEDIA_PROP_PUBLISHER_ID,
                                 self->publisher_id);
      if (self->application_id != NULL)
        osinfo_entity_set_param (OSINFO_ENTITY (probe), OSINFO_MEDIA_PROP_APPLICATION_ID,
                                 self->application_id);
      osinfo_entity_set_param_int64 (OSINFO_ENTITY (probe), OSINFO_MEDIA_PROP_VOLUME_SIZE,
                                     detected != NULL ? osinfo_media_get_volume_size (detected)
                                                      : (gint64) self->volume_size);
      if (osinfo_db_identify_media (db, probe))
        {
          g_autoptr(OsinfoOs) os = osinfo_media_get_os (probe);

          if (os == newest)
            {
              self->kernel_path = g_strdup (osinfo_media_get_kernel_path (probe));
              self->initrd_path = g_strdup (osinfo_media_get_initrd_path (probe));
              return TRUE;
            }
        }
    }

  boot_paths_for_os (newest, rewritten, &self->kernel_path, &self->initrd_path);
  return TRUE;
}

/* ---- detection --------------------------------------------------------------------- */

static void
set_unknown (VivMedia *self,
             OsinfoDb *db)
{
  self->os_match = VIV_MEDIA_OS_UNKNOWN;
  self->name = g_strdup (_("Unknown operating system"));
  g_set_object (&self->os, viv_os_db_get_generic_linux (db));
}

static gboolean
identify (VivMedia      *self,
          OsinfoDb      *db,
          GCancellable  *cancellable,
          GError       **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(OsinfoMedia) detected = NULL;
  g_autoptr(GError) local_error = NULL;

  /* libosinfo's synchronous call runs a main loop on the thread-default
   * context: this thread's own, never the main thread's. */
  g_main_context_push_thread_default (context);
  detected = osinfo_media_create_from_location_with_flags (self->path, cancellable, 0,
                                                           &local_error);
  g_main_context_pop_thread_default (context);

  if (detected == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      /* Our own reading found an ISO 9660 volume: carry on with what we
       * read from it. */
      g_debug ("libosinfo cannot read %s: %s", self->path, local_error->message);
    }
  else if (osinfo_db_identify_media (db, detected))
    {
      g_autoptr(OsinfoOs) os = osinfo_media_get_os (detected);

      self->os_match = VIV_MEDIA_OS_IDENTIFIED;
      g_set_object (&self->os, os);
      self->name = g_strdup (osinfo_product_get_name (OSINFO_PRODUCT (os)));
      self->distro = g_strdup (osinfo_os_get_distro (os));
      self->version = g_strdup (osinfo_product_get_version (OSINFO_PRODUCT (os)));
      self->kernel_path = g_strdup (osinfo_media_get_kernel_path (detected));
      self->initrd_path = g_strdup (osinfo_media_get_initrd_path (detected));
      return TRUE;
    }

  if (!match_newer (self, db, detected))
    set_unknown (self, db);
  return TRUE;
}

/**
 * viv_media_detect:
 * @file: a disc image (a local file, or a block device)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #VIV_MEDIA_ERROR or #G_IO_ERROR
 *
 * Reads the image's ISO 9660 description and finds the operating system
 * on it. Blocks: call it from a worker thread, or use
 * viv_media_detect_async().
 *
 * Returns: (transfer full): the media, or %NULL with @error set
 */
VivMedia *
viv_media_detect (GFile         *file,
                  GCancellable  *cancellable,
                  GError       **error)
{
  g_autoptr(VivMedia) self = NULL;
  g_autoptr(OsinfoDb) db = NULL;

  g_return_val_if_fail (G_IS_FILE (file), NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (VIV_TYPE_MEDIA, NULL);
  self->file = g_object_ref (file);
  self->path = g_file_get_path (file);
  if (self->path == NULL)
    {
      g_autofree char *display = g_file_get_parse_name (file);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   /* Translators: %s is a file name or URI */
                   _("“%s” is not on this computer: copy it here first"), display);
      return NULL;
    }

  if (!read_header (self, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  db = viv_os_db_get (error);
  if (db == NULL || !identify (self, db, cancellable, error))
    return NULL;

  g_debug ("%s: volume id “%s”, %s (%s), kernel %s, initrd %s", self->path,
           self->volume_id != NULL ? self->volume_id : "",
           self->name, viv_media_get_os_id (self),
           self->kernel_path != NULL ? self->kernel_path : "-",
           self->initrd_path != NULL ? self->initrd_path : "-");
  return g_steal_pointer (&self);
}

/* The longest a detection may take: past it, the disc is on something that
 * stopped answering (a network share, a dying drive), and the caller hears
 * so instead of waiting on it forever. */
#define DETECT_TIMEOUT_S 30

/* The caller's task (its cancellable, its callback) waits on a worker's
 * task that returns as soon as it is cancelled, by the caller or by the
 * time limit: a worker stuck in a read is left to finish on its own, with
 * nobody waiting for it. */
typedef struct
{
  GTask        *task;        /* the caller's */
  GCancellable *cancellable; /* the worker's */
  gulong        cancelled_id;
  GSource      *timeout;
  guint         timeout_s;
  gboolean      timed_out;
} DetectData;

static void
detect_data_free (DetectData *data)
{
  if (data->timeout != NULL)
    {
      g_source_destroy (data->timeout);
      g_source_unref (data->timeout);
    }
  g_cancellable_disconnect (g_task_get_cancellable (data->task), data->cancelled_id);
  g_clear_object (&data->cancellable);
  g_clear_object (&data->task);
  g_free (data);
}

static void
detect_thread (GTask        *task,
               gpointer      source_object G_GNUC_UNUSED,
               gpointer      task_data,
               GCancellable *cancellable)
{
  GError *error = NULL;
  VivMedia *media = viv_media_detect (task_data, cancellable, &error);

  if (media != NULL)
    g_task_return_pointer (task, media, g_object_unref);
  else
    g_task_return_error (task, error);
}

static void
on_detect_cancelled (GCancellable *cancellable G_GNUC_UNUSED,
                     gpointer      user_data)
{
  /* Any thread: the worker's cancellable is safe to cancel from there */
  g_cancellable_cancel (user_data);
}

static gboolean
on_detect_timeout (gpointer user_data)
{
  DetectData *data = user_data;

  data->timed_out = TRUE;
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_worker_done (GObject      *object G_GNUC_UNUSED,
                GAsyncResult *result,
                gpointer      user_data)
{
  DetectData *data = user_data;
  GError *error = NULL;
  VivMedia *media = g_task_propagate_pointer (G_TASK (result), &error);

  if (media != NULL)
    {
      g_task_return_pointer (data->task, media, g_object_unref);
    }
  else if (data->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      GFile *file = g_task_get_task_data (data->task);
      g_autofree char *display = g_file_get_basename (file);
      g_autofree char *utf8 = g_filename_display_name (display);

      g_clear_error (&error);
      g_task_return_new_error (data->task, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               /* Translators: the first %s is a file name; the
                                * second a number of seconds */
                               _("Reading “%s” took longer than %u seconds: the drive or "
                                 "share it is on may have stopped answering"),
                               utf8, data->timeout_s);
    }
  else
    {
      g_task_return_error (data->task, error);
    }
  detect_data_free (data);
}

/**
 * viv_media_detect_async:
 * @file: a disc image (a local file, or a block device)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the result
 * @user_data: data for @callback
 *
 * viv_media_detect() in a worker thread. Cancelling @cancellable calls
 * @callback at once, whatever the worker is waiting on; a detection that
 * takes longer than half a minute ends with %G_IO_ERROR_TIMED_OUT.
 */
void
viv_media_detect_async (GFile               *file,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) worker = NULL;
  DetectData *data;

  g_return_if_fail (G_IS_FILE (file));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (DetectData, 1);
  data->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (data->task, viv_media_detect_async);
  g_task_set_task_data (data->task, g_object_ref (file), g_object_unref);
  data->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_detect_cancelled),
                                                data->cancellable, NULL);
  data->timeout_s = DETECT_TIMEOUT_S;
  data->timeout = g_timeout_source_new_seconds (data->timeout_s);
  g_source_set_callback (data->timeout, on_detect_timeout, data, NULL);
  g_source_attach (data->timeout, g_task_get_context (data->task));

  worker = g_task_new (NULL, data->cancellable, on_worker_done, data);
  g_task_set_task_data (worker, g_object_ref (file), g_object_unref);
  g_task_set_return_on_cancel (worker, TRUE);
  g_task_run_in_thread (worker, detect_thread);
}

/**
 * viv_media_detect_finish:
 *
 * Returns: (transfer full): the media, or %NULL with @error set
 */
VivMedia *
viv_media_detect_finish (GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_media_detect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * viv_media_copy:
 * @self: a media
 *
 * A copy, for a worker thread to use while the original may change
 * (viv_media_set_os() on the main thread).
 *
 * Returns: (transfer full): the copy
 */
VivMedia *
viv_media_copy (VivMedia *self)
{
  VivMedia *copy;

  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);

  copy = g_object_new (VIV_TYPE_MEDIA, NULL);
  copy->file = g_object_ref (self->file);
  copy->path = g_strdup (self->path);
  copy->size = self->size;
  copy->volume_id = g_strdup (self->volume_id);
  copy->system_id = g_strdup (self->system_id);
  copy->publisher_id = g_strdup (self->publisher_id);
  copy->application_id = g_strdup (self->application_id);
  copy->volume_size = self->volume_size;
  copy->os_match = self->os_match;
  copy->name = g_strdup (self->name);
  copy->distro = g_strdup (self->distro);
  copy->version = g_strdup (self->version);
  copy->os = self->os != NULL ? g_object_ref (self->os) : NULL;
  copy->kernel_path = g_strdup (self->kernel_path);
  copy->initrd_path = g_strdup (self->initrd_path);
  return copy;
}

/* ---- getters ----------------------------------------------------------------------- */

/* Returns: (transfer none) */
GFile *
viv_media_get_file (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->file;
}

const char *
viv_media_get_path (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->path;
}

/* The file's size in bytes */
guint64
viv_media_get_size (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), 0);
  return self->size;
}

/* The ISO 9660 volume id, or NULL where it is blank */
const char *
viv_media_get_volume_id (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->volume_id;
}

/* Always TRUE today: detection refuses anything else (VIV_MEDIA_ERROR_NOT_ISO) */
gboolean
viv_media_is_iso9660 (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), FALSE);
  return TRUE;
}

VivMediaOsMatch
viv_media_get_os_match (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), VIV_MEDIA_OS_UNKNOWN);
  return self->os_match;
}

/* What is on the media, for people: "Debian 11"; for a release newer than
 * the database, the distribution and the version read from the volume id
 * ("Debian 12"); "Unknown operating system" */
const char *
viv_media_get_name (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->name;
}

/* libosinfo's distribution id ("debian"), or NULL when unknown */
const char *
viv_media_get_distro (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->distro;
}

/* The release on the media ("11"; "12" for a Debian 12 disc), or NULL */
const char *
viv_media_get_version (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->version;
}

/**
 * viv_media_get_os:
 *
 * The libosinfo entry used as the profile: the identified OS, the newest
 * known release of a newer one, the generic Linux entry, or the one chosen.
 *
 * Returns: (transfer none) (nullable): the OS
 */
OsinfoOs *
viv_media_get_os (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os;
}

const char *
viv_media_get_os_id (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_entity_get_id (OSINFO_ENTITY (self->os)) : NULL;
}

const char *
viv_media_get_os_name (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_product_get_name (OSINFO_PRODUCT (self->os)) : NULL;
}

const char *
viv_media_get_os_short_id (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_product_get_short_id (OSINFO_PRODUCT (self->os)) : NULL;
}

const char *
viv_media_get_os_version (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_product_get_version (OSINFO_PRODUCT (self->os)) : NULL;
}

const char *
viv_media_get_os_vendor (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_product_get_vendor (OSINFO_PRODUCT (self->os)) : NULL;
}

/* A URI of the profile's logo, where the database has one */
const char *
viv_media_get_logo_uri (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->os != NULL ? osinfo_product_get_logo (OSINFO_PRODUCT (self->os)) : NULL;
}

/**
 * viv_media_set_os:
 * @self: a media
 * @os: the OS the user says is on it
 *
 * The OS chosen by hand (the os-match becomes %VIV_MEDIA_OS_CHOSEN); the
 * kernel and initrd paths become those of its x86_64 media entry that
 * matches this disc's volume id, else its first with a kernel, else none.
 * Main thread only.
 */
void
viv_media_set_os (VivMedia *self,
                  OsinfoOs *os)
{
  g_return_if_fail (VIV_IS_MEDIA (self));
  g_return_if_fail (OSINFO_IS_OS (os));

  g_set_object (&self->os, os);
  self->os_match = VIV_MEDIA_OS_CHOSEN;
  g_free (self->name);
  self->name = g_strdup (osinfo_product_get_name (OSINFO_PRODUCT (os)));
  g_free (self->distro);
  self->distro = g_strdup (osinfo_os_get_distro (os));
  g_free (self->version);
  self->version = g_strdup (osinfo_product_get_version (OSINFO_PRODUCT (os)));
  boot_paths_for_os (os, self->volume_id, &self->kernel_path, &self->initrd_path);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NAME]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OS_MATCH]);
}

/* The kernel's path in the image, as the database names it, or NULL */
const char *
viv_media_get_kernel_path (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->kernel_path;
}

/* The initrd's path in the image, or NULL */
const char *
viv_media_get_initrd_path (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return self->initrd_path;
}

/* Whether the database says where the kernel is: direct kernel boot is
 * possible (the files are looked for when they are extracted) */
gboolean
viv_media_can_boot_kernel (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), FALSE);
  return self->kernel_path != NULL;
}

/* dracut's LABEL= escapes what would end the argument */
static char *
escape_label (const char *label)
{
  GString *escaped = g_string_new (NULL);

  for (const char *p = label; *p != '\0'; p++)
    {
      if (*p == ' ' || *p == '/' || *p == '\\' || *p == '"' || *p == '\'')
        g_string_append_printf (escaped, "\\x%02x", (guchar) *p);
      else
        g_string_append_c (escaped, *p);
    }
  return g_string_free (escaped, FALSE);
}

/**
 * viv_media_dup_kernel_cmdline:
 * @self: a media
 *
 * The least the installer's kernel needs on its command line when it is
 * booted directly (the disc's own boot loader would have passed it):
 *
 * - Debian, Ubuntu and the rest: nothing. Debian's installer finds its disc
 *   by itself; console= is not needed, the machine has a display.
 * - Anaconda (Fedora, RHEL and rebuilds): inst.stage2=hd:LABEL=<volume id>,
 *   where the installer's second stage lives, as their isolinux.cfg says.
 *
 * Returns: (transfer full) (nullable): the command line, or %NULL for none
 */
char *
viv_media_dup_kernel_cmdline (VivMedia *self)
{
  static const char * const anaconda[] = {
    "fedora", "rhel", "centos", "centos-stream", "rocky", "almalinux", "ol", "circle", NULL,
  };
  const char *distro;
  g_autofree char *label = NULL;

  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);

  distro = self->os != NULL ? osinfo_os_get_distro (self->os) : NULL;
  if (distro == NULL || self->volume_id == NULL || !g_strv_contains (anaconda, distro))
    return NULL;
  label = escape_label (self->volume_id);
  return g_strdup_printf ("inst.stage2=hd:LABEL=%s", label);
}

/* ---- extracting the kernel and initrd ---------------------------------------------- */

/* "initrd.gz" for install.amd/initrd.gz, "initrd.img" for images/pxeboot/initrd.img */
static char *
initrd_name_for (const char *initrd_path)
{
  g_autofree char *base = NULL;
  const char *dot;

  if (initrd_path == NULL)
    return NULL;
  base = g_path_get_basename (initrd_path);
  dot = strrchr (base, '.');
  if (dot != NULL && dot != base && strlen (dot) <= 5 && strchr (dot, ';') == NULL)
    return g_strconcat ("initrd", dot, NULL);
  return g_strdup ("initrd");
}

/**
 * viv_media_dup_initrd_name:
 *
 * The name the initrd gets when extracted ("initrd.gz"), or %NULL when the
 * OS has none. The kernel is always %VIV_MEDIA_KERNEL_NAME.
 *
 * Returns: (transfer full) (nullable): the name
 */
char *
viv_media_dup_initrd_name (VivMedia *self)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), NULL);
  return initrd_name_for (self->initrd_path);
}

typedef struct
{
  char    *path;      /* as libarchive names it */
  gint64   size;
  mode_t   type;
  char    *symlink;   /* target of a symbolic link */
  char    *hardlink;  /* the entry whose data this one shares */
} IsoEntry;

static void
iso_entry_free (IsoEntry *entry)
{
  g_free (entry->path);
  g_free (entry->symlink);
  g_free (entry->hardlink);
  g_free (entry);
}

/* A path for comparing: lower case, no "./" or "/" in front, no ISO
 * 9660 version (";1") or lone trailing dot on a component */
static char *
path_key (const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, "/", -1);
  GString *key = g_string_new (NULL);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *part = parts[i];
      char *semicolon = strrchr (part, ';');
      gsize len;

      if (semicolon != NULL && semicolon[1] != '\0' &&
          strspn (semicolon + 1, "0123456789") == strlen (semicolon + 1))
        *semicolon = '\0';
      len = strlen (part);
      if (len > 1 && part[len - 1] == '.' && strcmp (part, "..") != 0)
        part[len - 1] = '\0';
      if (part[0] == '\0' || strcmp (part, ".") == 0)
        continue;
      if (strcmp (part, "..") == 0)
        {
          const char *slash = strrchr (key->str, '/');

          g_string_truncate (key, slash != NULL ? (gsize) (slash - key->str) : 0);
          continue;
        }
      if (key->len > 0)
        g_string_append_c (key, '/');
      g_string_append (key, part);
    }

  {
    g_autofree char *joined = g_string_free (key, FALSE);

    return g_ascii_strdown (joined, -1);
  }
}

static void
set_archive_error (GError          **error,
                   const char       *path,
                   struct archive   *archive)
{
  g_autofree char *display = g_filename_display_basename (path);
  const char *reason = archive_error_string (archive);
  int code = archive_errno (archive);

  /* The system's errors; libarchive's own (EILSEQ for the format, -1 for
   * the rest) describe the image */
  if (code == ENOENT || code == EACCES || code == EPERM || code == EIO || code == EISDIR)
    {
      set_errno_error (error, path, code);
      return;
    }
  g_set_error (error, VIV_MEDIA_ERROR,
               reason != NULL && strstr (reason, "runcated") != NULL ? VIV_MEDIA_ERROR_TRUNCATED
                                                                     : VIV_MEDIA_ERROR_CORRUPT,
               /* Translators: the first %s is a file name, the second the
                * reason, in English */
               _("“%s” is damaged or truncated: %s"), display,
               reason != NULL ? reason : _("it cannot be read as a disc image"));
}

static struct archive *
open_iso (const char  *path,
          GError     **error)
{
  struct archive *archive = archive_read_new ();

  archive_read_support_format_iso9660 (archive);
  if (archive_read_open_filename (archive, path, 64 * 1024) != ARCHIVE_OK)
    {
      set_archive_error (error, path, archive);
      archive_read_free (archive);
      return NULL;
    }
  return archive;
}

static const char *
entry_path (struct archive_entry *entry)
{
  const char *path = archive_entry_pathname_utf8 (entry);

  return path != NULL ? path : archive_entry_pathname (entry);
}

/* Every entry of the image, by path_key() */
static GHashTable *
list_entries (const char    *path,
              GCancellable  *cancellable,
              GError       **error)
{
  g_autoptr(GHashTable) entries = NULL;
  struct archive_entry *header;
  struct archive *archive;
  int r;

  archive = open_iso (path, error);
  if (archive == NULL)
    return NULL;

  entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) iso_entry_free);
  while ((r = archive_read_next_header (archive, &header)) == ARCHIVE_OK || r == ARCHIVE_WARN)
    {
      const char *name = entry_path (header);
      IsoEntry *entry;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          archive_read_free (archive);
          return NULL;
        }
      if (name == NULL)
        continue;
      entry = g_new0 (IsoEntry, 1);
      entry->path = g_strdup (name);
      entry->size = archive_entry_size (header);
      entry->type = archive_entry_filetype (header);
      entry->symlink = g_strdup (archive_entry_symlink (header));
      entry->hardlink = g_strdup (archive_entry_hardlink (header));
      g_hash_table_replace (entries, path_key (name), entry);
    }
  if (r != ARCHIVE_EOF)
    {
      set_archive_error (error, path, archive);
      archive_read_free (archive);
      return NULL;
    }
  archive_read_free (archive);
  return g_steal_pointer (&entries);
}

/* The key of the entry holding WANTED's data, following links */
static char *
resolve (GHashTable *entries,
         const char *wanted,
         gint64     *size)
{
  g_autofree char *key = path_key (wanted);

  for (guint hop = 0; hop < MAX_LINK_HOPS; hop++)
    {
      IsoEntry *entry = g_hash_table_lookup (entries, key);
      g_autofree char *dir = NULL;
      g_autofree char *joined = NULL;

      if (entry == NULL)
        return NULL;
      if (entry->hardlink != NULL)
        {
          g_free (key);
          key = path_key (entry->hardlink);
          continue;
        }
      if (entry->type == AE_IFREG)
        {
          *size = entry->size;
          return g_steal_pointer (&key);
        }
      if (entry->type != AE_IFLNK || entry->symlink == NULL)
        return NULL;

      dir = g_path_get_dirname (key);
      joined = entry->symlink[0] == '/' ? g_strdup (entry->symlink)
                                        : g_build_filename (dir, entry->symlink, NULL);
      g_free (key);
      key = path_key (joined);
    }
  return NULL;
}

/* The image's directory, once the kernel (and initrd) the database names
 * are found in it; NULL with an error saying which is not */
static GHashTable *
find_boot_files (const char    *iso_path,
                 const char    *kernel_path,
                 const char    *initrd_path,
                 GCancellable  *cancellable,
                 GError       **error)
{
  g_autofree char *display = g_filename_display_basename (iso_path);
  g_autoptr(GHashTable) entries = NULL;
  const char *wanted[2] = { kernel_path, initrd_path };

  if (kernel_path == NULL)
    {
      g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NO_BOOT_FILES,
                   /* Translators: %s is a file name */
                   _("Where the kernel is on “%s” is not known: start it from its boot "
                     "loader instead"), display);
      return NULL;
    }

  entries = list_entries (iso_path, cancellable, error);
  if (entries == NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (wanted); i++)
    {
      g_autofree char *key = NULL;
      gint64 size = 0;

      if (wanted[i] == NULL)
        continue;
      key = resolve (entries, wanted[i], &size);
      if (key == NULL)
        {
          g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_MISSING_FILE,
                       i == 0
                       /* Translators: the first %s is a path inside a disc
                        * image, the second the image's file name */
                       ? _("The kernel “%s” is not on “%s”")
                       /* Translators: the first %s is a path inside a disc
                        * image, the second the image's file name */
                       : _("The initial RAM disk “%s” is not on “%s”"),
                       wanted[i], display);
          return NULL;
        }
    }
  return g_steal_pointer (&entries);
}

typedef struct
{
  const char *wanted;     /* path in the image */
  const char *name;       /* file name in the destination */
  char       *source;     /* key of the entry with the data */
  gint64      size;
  char       *tmp_path;
  char       *final_path;
  int         fd;
  guint64     copied;
  gboolean    done;
  gboolean    committed;
} Target;

static void
target_clear (Target *target)
{
  if (target->fd >= 0)
    close (target->fd);
  target->fd = -1;
  if (target->tmp_path != NULL)
    g_unlink (target->tmp_path);
  if (target->committed)
    g_unlink (target->final_path);
  g_clear_pointer (&target->source, g_free);
  g_clear_pointer (&target->tmp_path, g_free);
  g_clear_pointer (&target->final_path, g_free);
}

/* Moves TMP to FINAL, never over an existing file */
static gboolean
rename_noreplace (const char  *tmp,
                  const char  *final,
                  GError     **error)
{
  if (renameat2 (AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) == 0)
    return TRUE;
  /* File systems without RENAME_NOREPLACE: link() refuses to replace too */
  if ((errno == EINVAL || errno == ENOSYS) && link (tmp, final) == 0)
    {
      g_unlink (tmp);
      return TRUE;
    }
  if (errno == EEXIST)
    {
      g_autofree char *display = g_filename_display_name (final);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   /* Translators: %s is a file name */
                   _("“%s” exists already"), display);
      return FALSE;
    }
  viv_file_set_write_error (error, errno, final);
  return FALSE;
}

static gboolean
extract (const char            *iso_path,
         const char            *kernel_path,
         const char            *initrd_path,
         const char            *dest_dir,
         VivMediaProgressFunc   progress,
         gpointer               progress_data,
         char                 **kernel_name_out,
         char                 **initrd_name_out,
         GCancellable          *cancellable,
         GError               **error)
{
  g_autofree char *display = g_filename_display_basename (iso_path);
  g_autofree char *initrd_name = initrd_name_for (initrd_path);
  g_autoptr(GHashTable) entries = NULL;
  g_autofree guint8 *buffer = NULL;
  struct archive *archive = NULL;
  struct archive_entry *header;
  Target targets[2] = {
    { .wanted = kernel_path, .name = VIV_MEDIA_KERNEL_NAME, .fd = -1 },
    { .wanted = initrd_path, .name = initrd_name, .fd = -1 },
  };
  guint n_targets = initrd_path != NULL ? 2 : 1;
  guint n_done = 0;
  guint64 total = 0, done = 0;
  gboolean ok = FALSE;
  int r;

  /* First the directory, to know the sizes and follow links */
  entries = find_boot_files (iso_path, kernel_path, initrd_path, cancellable, error);
  if (entries == NULL)
    return FALSE;
  for (guint i = 0; i < n_targets; i++)
    {
      Target *target = &targets[i];

      target->source = resolve (entries, target->wanted, &target->size);
      g_assert (target->source != NULL);
      total += (guint64) MAX (target->size, 0);
    }

  for (guint i = 0; i < n_targets; i++)
    {
      Target *target = &targets[i];
      g_autofree char *template = g_strdup_printf (".%s-XXXXXX", target->name);

      target->final_path = g_build_filename (dest_dir, target->name, NULL);
      target->tmp_path = g_build_filename (dest_dir, template, NULL);
      target->fd = g_mkstemp_full (target->tmp_path, O_RDWR | O_CLOEXEC, 0644);
      if (target->fd < 0)
        {
          int saved_errno = errno;

          g_clear_pointer (&target->tmp_path, g_free);
          viv_file_set_write_error (error, saved_errno, target->final_path);
          goto out;
        }
    }

  /* Then the data, in the order the image holds it */
  archive = open_iso (iso_path, error);
  if (archive == NULL)
    goto out;
  buffer = g_malloc (COPY_BUFFER);
  if (progress != NULL)
    progress (0, total, progress_data);

  while (n_done < n_targets &&
         ((r = archive_read_next_header (archive, &header)) == ARCHIVE_OK || r == ARCHIVE_WARN))
    {
      const char *name = entry_path (header);
      g_autofree char *key = NULL;
      Target *matched[2];
      guint n_matched = 0;

      if (name == NULL)
        continue;
      key = path_key (name);
      for (guint i = 0; i < n_targets; i++)
        if (!targets[i].done && strcmp (targets[i].source, key) == 0)
          matched[n_matched++] = &targets[i];
      if (n_matched == 0)
        continue;

      for (;;)
        {
          la_ssize_t n;

          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            goto out;
          n = archive_read_data (archive, buffer, COPY_BUFFER);
          if (n < 0)
            {
              set_archive_error (error, iso_path, archive);
              goto out;
            }
          if (n == 0)
            break;
          for (guint i = 0; i < n_matched; i++)
            {
              if (!viv_file_write_all (matched[i]->fd, buffer, (gsize) n))
                {
                  viv_file_set_write_error (error, errno, matched[i]->final_path);
                  goto out;
                }
              matched[i]->copied += (guint64) n;
            }
          done += (guint64) n * n_matched;
          if (progress != NULL)
            progress (MIN (done, total), total, progress_data);
        }

      for (guint i = 0; i < n_matched; i++)
        {
          if (matched[i]->copied != (guint64) MAX (matched[i]->size, 0))
            {
              g_autofree char *have = viv_size_format (matched[i]->copied);

              g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_TRUNCATED,
                           /* Translators: the first %s is a path inside a
                            * disc image, the second the image's file name,
                            * the third a size */
                           _("“%s” on “%s” is cut short after %s: the image is truncated"),
                           matched[i]->wanted, display, have);
              goto out;
            }
          matched[i]->done = TRUE;
          n_done++;
        }
    }
  if (n_done < n_targets)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto out;
      set_archive_error (error, iso_path, archive);
      goto out;
    }

  for (guint i = 0; i < n_targets; i++)
    {
      Target *target = &targets[i];
      int fd = target->fd;

      target->fd = -1;
      if (fsync (fd) < 0 || close (fd) < 0)
        {
          viv_file_set_write_error (error, errno, target->final_path);
          goto out;
        }
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    goto out;
  for (guint i = 0; i < n_targets; i++)
    {
      Target *target = &targets[i];

      if (!rename_noreplace (target->tmp_path, target->final_path, error))
        goto out;
      g_clear_pointer (&target->tmp_path, g_free);
      target->committed = TRUE;
    }

  if (kernel_name_out != NULL)
    *kernel_name_out = g_strdup (VIV_MEDIA_KERNEL_NAME);
  if (initrd_name_out != NULL)
    *initrd_name_out = n_targets > 1 ? g_strdup (initrd_name) : NULL;
  for (guint i = 0; i < n_targets; i++)
    targets[i].committed = FALSE;
  ok = TRUE;

out:
  if (archive != NULL)
    archive_read_free (archive);
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    target_clear (&targets[i]);
  return ok;
}

/**
 * viv_media_extract_boot_files:
 * @self: a media whose OS names its kernel (viv_media_can_boot_kernel())
 * @dest_dir: an existing folder
 * @progress: (nullable) (scope call): called in this thread as data is
 *   copied, with the bytes done and the bytes of both files
 * @progress_data: data for @progress
 * @kernel_name: (out) (optional): the kernel's file name in @dest_dir
 *   (%VIV_MEDIA_KERNEL_NAME)
 * @initrd_name: (out) (optional) (nullable): the initrd's, or %NULL when
 *   the OS has none (viv_media_dup_initrd_name())
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #VIV_MEDIA_ERROR or #G_IO_ERROR
 *
 * Copies the kernel and initrd out of the image into @dest_dir: each into
 * a temporary file, made durable, then both renamed into place (never over
 * an existing file). On failure or cancellation nothing is left. Blocks:
 * call it from a worker thread.
 */
gboolean
viv_media_extract_boot_files (VivMedia              *self,
                              const char            *dest_dir,
                              VivMediaProgressFunc   progress,
                              gpointer               progress_data,
                              char                 **kernel_name,
                              char                 **initrd_name,
                              GCancellable          *cancellable,
                              GError               **error)
{
  g_return_val_if_fail (VIV_IS_MEDIA (self), FALSE);
  g_return_val_if_fail (dest_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return extract (self->path, self->kernel_path, self->initrd_path, dest_dir,
                  progress, progress_data, kernel_name, initrd_name, cancellable, error);
}

typedef struct
{
  /* copied at the start: set_os() may change the media meanwhile */
  char                 *iso_path;
  char                 *kernel_path;
  char                 *initrd_path;
  char                 *dest_dir;
  VivMediaProgressFunc  progress;
  gpointer              progress_data;
  GDestroyNotify        progress_data_free;
  GMainContext         *context;

  GMutex                lock;
  guint64               done;       /* under lock */
  guint64               total;
  gboolean              pending;    /* a report is queued */

  char                 *kernel_name;
  char                 *initrd_name;
} ExtractData;

static void
extract_data_free (ExtractData *data)
{
  g_free (data->iso_path);
  g_free (data->kernel_path);
  g_free (data->initrd_path);
  g_free (data->dest_dir);
  if (data->progress_data_free != NULL)
    data->progress_data_free (data->progress_data);
  g_main_context_unref (data->context);
  g_mutex_clear (&data->lock);
  g_free (data->kernel_name);
  g_free (data->initrd_name);
  g_free (data);
}

/* In the caller's context: the latest numbers, once per queued report */
static gboolean
report_progress (gpointer user_data)
{
  GTask *task = user_data;
  ExtractData *data = g_task_get_task_data (task);
  guint64 done, total;

  g_mutex_lock (&data->lock);
  done = data->done;
  total = data->total;
  data->pending = FALSE;
  g_mutex_unlock (&data->lock);

  if (!g_task_get_completed (task))
    data->progress (done, total, data->progress_data);
  return G_SOURCE_REMOVE;
}

/* In the worker: reports are coalesced, at most one waits in the queue */
static void
on_worker_progress (guint64  done,
                    guint64  total,
                    gpointer user_data)
{
  GTask *task = user_data;
  ExtractData *data = g_task_get_task_data (task);
  gboolean queue;

  g_mutex_lock (&data->lock);
  data->done = done;
  data->total = total;
  queue = !data->pending;
  data->pending = TRUE;
  g_mutex_unlock (&data->lock);

  if (queue)
    g_main_context_invoke_full (data->context, G_PRIORITY_DEFAULT, report_progress,
                                g_object_ref (task), g_object_unref);
}

static void
extract_thread (GTask        *task,
                gpointer      source_object G_GNUC_UNUSED,
                gpointer      task_data,
                GCancellable *cancellable)
{
  ExtractData *data = task_data;
  GError *error = NULL;

  if (extract (data->iso_path, data->kernel_path, data->initrd_path, data->dest_dir,
               data->progress != NULL ? on_worker_progress : NULL, task,
               &data->kernel_name, &data->initrd_name, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * viv_media_extract_boot_files_async:
 * @self: a media
 * @dest_dir: an existing folder
 * @progress: (nullable): called in the thread-default main context of the
 *   caller as data is copied (coalesced: not for every block)
 * @progress_data: data for @progress
 * @progress_data_free: (nullable): frees @progress_data once the operation
 *   is over (in any thread)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: data for @callback
 *
 * viv_media_extract_boot_files() in a worker thread.
 */
void
viv_media_extract_boot_files_async (VivMedia             *self,
                                    const char           *dest_dir,
                                    VivMediaProgressFunc  progress,
                                    gpointer              progress_data,
                                    GDestroyNotify        progress_data_free,
                                    GCancellable         *cancellable,
                                    GAsyncReadyCallback   callback,
                                    gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  ExtractData *data;

  g_return_if_fail (VIV_IS_MEDIA (self));
  g_return_if_fail (dest_dir != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (ExtractData, 1);
  data->iso_path = g_strdup (self->path);
  data->kernel_path = g_strdup (self->kernel_path);
  data->initrd_path = g_strdup (self->initrd_path);
  data->dest_dir = g_strdup (dest_dir);
  data->progress = progress;
  data->progress_data = progress_data;
  data->progress_data_free = progress_data_free;
  data->context = g_main_context_ref_thread_default ();
  g_mutex_init (&data->lock);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_media_extract_boot_files_async);
  g_task_set_task_data (task, data, (GDestroyNotify) extract_data_free);
  g_task_run_in_thread (task, extract_thread);
}

gboolean
viv_media_extract_boot_files_finish (VivMedia      *self,
                                     GAsyncResult  *result,
                                     char         **kernel_name,
                                     char         **initrd_name,
                                     GError       **error)
{
  ExtractData *data;

  g_return_val_if_fail (VIV_IS_MEDIA (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_media_extract_boot_files_async, FALSE);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  data = g_task_get_task_data (G_TASK (result));
  if (kernel_name != NULL)
    *kernel_name = g_steal_pointer (&data->kernel_name);
  if (initrd_name != NULL)
    *initrd_name = g_steal_pointer (&data->initrd_name);
  return TRUE;
}

/* ---- checking ------------------------------------------------------------------------ */

typedef struct
{
  char *iso_path;
  char *kernel_path;
  char *initrd_path;
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_free (data->iso_path);
  g_free (data->kernel_path);
  g_free (data->initrd_path);
  g_free (data);
}

static void
check_thread (GTask        *task,
              gpointer      source_object G_GNUC_UNUSED,
              gpointer      task_data,
              GCancellable *cancellable)
{
  CheckData *data = task_data;
  g_autoptr(GHashTable) entries = NULL;
  GError *error = NULL;

  entries = find_boot_files (data->iso_path, data->kernel_path, data->initrd_path, cancellable,
                             &error);
  if (entries == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/**
 * viv_media_check_boot_files_async:
 * @self: a media
 *
 * Looks for the kernel and initrd that the database names (for a system
 * chosen by hand, they are a guess) in the image's directory, reading no
 * file's data: a few milliseconds, in a worker thread.
 */
void
viv_media_check_boot_files_async (VivMedia            *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  CheckData *data;

  g_return_if_fail (VIV_IS_MEDIA (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (CheckData, 1);
  data->iso_path = g_strdup (self->path);
  data->kernel_path = g_strdup (self->kernel_path);
  data->initrd_path = g_strdup (self->initrd_path);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_media_check_boot_files_async);
  g_task_set_task_data (task, data, (GDestroyNotify) check_data_free);
  g_task_run_in_thread (task, check_thread);
}

/* Returns: whether both are there; if not, @error says which is missing
 * (VIV_MEDIA_ERROR_MISSING_FILE, or NO_BOOT_FILES where the database says
 * nothing) or why the image cannot be read */
gboolean
viv_media_check_boot_files_finish (VivMedia      *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_media_check_boot_files_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
