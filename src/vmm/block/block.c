/* block/block.c: opening images, format detection, and the synchronous API
 *
 * The drivers (raw.c, qcow2.c) only map ranges; the synchronous calls here
 * do the data I/O the maps describe, the same way the asynchronous device
 * does it, so both paths exercise the same metadata code.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Extents mapped per round of the synchronous calls */
#define SYNC_EXTENTS 16u
/* Zeroes written per call where nothing better zeroes a range */
#define ZERO_CHUNK (1u << 20)

G_DEFINE_QUARK (vmm-block-error-quark, vmm_block_error)

/* Ends a set-up call: every failure leaves a GError, those with nothing to
 * add (out of memory, mostly) the message of their errno. LOCAL is taken. */
static int
setup_result (int ret, GError *local, GError **error)
{
  if (ret >= 0)
    {
      g_clear_error (&local);
      return ret;
    }
  if (local == NULL)
    local = g_error_new_literal (VMM_BLOCK_ERROR, -ret, g_strerror (-ret));
  g_propagate_error (error, local);
  return ret;
}

char *
vmm_block_resolve_backing (const char *image_path, const char *name)
{
  const char *slash;
  char *out = NULL;

  if (name[0] == '/' || (slash = strrchr (image_path, '/')) == NULL)
    return strdup (name);
  if (asprintf (&out, "%.*s/%s", (int) (slash - image_path), image_path, name) < 0)
    return NULL;
  return out;
}

/* ---- open and close ------------------------------------------------------- */

static const char *
format_name (enum vmm_block_format f)
{
  switch (f)
    {
    case VMM_BLOCK_FORMAT_RAW:
      return "raw";
    case VMM_BLOCK_FORMAT_QCOW2:
      return "qcow2";
    case VMM_BLOCK_FORMAT_AUTO:
    default:
      return "auto";
    }
}

/* qcow2 by its magic, raw otherwise. A raw image whose guest wrote a qcow2
 * header would be misread, so machines record their disks' formats and
 * only tools probe. */
static int
probe_format (int fd, enum vmm_block_format *format)
{
  uint8_t magic[4];
  ssize_t n;

  do
    n = pread (fd, magic, sizeof magic, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EINVAL)
    {
      /* O_DIRECT wants an aligned buffer; probe through one. */
      void *buf;
      if (posix_memalign (&buf, 4096, 4096) != 0)
        return -ENOMEM;
      do
        n = pread (fd, buf, 4096, 0);
      while (n < 0 && errno == EINTR);
      if (n >= 4)
        memcpy (magic, buf, 4);
      free (buf);
    }
  if (n < 0)
    return -errno;
  *format = (n >= 4 && magic[0] == 'Q' && magic[1] == 'F' && magic[2] == 'I' && magic[3] == 0xfb)
            ? VMM_BLOCK_FORMAT_QCOW2 : VMM_BLOCK_FORMAT_RAW;
  return 0;
}

static uint32_t
direct_alignment (int fd, const struct stat *st)
{
  int lbs = 0;

  /* The device's logical block size; files get 4096, which every file
   * system and disk we know accepts. */
  if (S_ISBLK (st->st_mode) && ioctl (fd, BLKSSZGET, &lbs) == 0 && lbs >= 512
      && (lbs & (lbs - 1)) == 0)
    return (uint32_t) lbs;
  return 4096;
}

/* One advisory lock per open image, like QEMU's image locking: a writer
 * excludes everyone, readers exclude writers. OFD locks belong to the open
 * file, so they also work between threads of one process. */
static int
lock_image (int fd, bool write)
{
  struct flock fl = {
    .l_type = write ? F_WRLCK : F_RDLCK,
    .l_whence = SEEK_SET,
    .l_start = 0,
    .l_len = 0,
  };

  if (fcntl (fd, F_OFD_SETLK, &fl) < 0)
    {
      if (errno == EAGAIN || errno == EACCES)
        return -EBUSY;
      /* File systems without locks: go on unlocked. */
      if (errno == ENOLCK || errno == EINVAL || errno == EOPNOTSUPP)
        return 0;
      return -errno;
    }
  return 0;
}

static void
block_free (struct vmm_block *b)
{
  if (b->fd >= 0)
    close (b->fd);
  pthread_mutex_destroy (&b->rmw_lock);
  free (b->path);
  free (b);
}

static int
open_image (struct vmm_block **block, const struct vmm_block_open_opts *opts,
            const struct vmm_block_chain *chain, unsigned flags, GError **error)
{
  struct vmm_block *b;
  struct stat st;
  int oflags, ret;

  *block = NULL;
  if (opts == NULL || opts->path == NULL || opts->path[0] == '\0')
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL, "no image path given");
      return -EINVAL;
    }

  b = calloc (1, sizeof *b);
  if (b == NULL)
    return -ENOMEM;
  b->fd = -1;
  pthread_mutex_init (&b->rmw_lock, NULL);
  b->path = strdup (opts->path);
  if (b->path == NULL)
    {
      block_free (b);
      return -ENOMEM;
    }
  b->read_only = opts->read_only;
  b->direct = opts->direct;
  b->alignment = 1;

  oflags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (opts->direct)
    oflags |= O_DIRECT;
  b->fd = open (opts->path, oflags);
  if (b->fd < 0 && errno == EINVAL && opts->direct)
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL,
                   "%s: the file system does not support direct I/O (O_DIRECT)", opts->path);
      goto fail;
    }
  if (b->fd < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot open %s: %s", opts->path,
                   strerror (-ret));
      goto fail;
    }
  if (fstat (b->fd, &st) < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot stat %s: %s", opts->path,
                   strerror (-ret));
      goto fail;
    }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
    {
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s is neither a file nor a block device",
                   opts->path);
      goto fail;
    }
  b->dev = st.st_dev;
  b->ino = st.st_ino;
  for (const struct vmm_block_chain *c = chain; c != NULL; c = c->up)
    if (c->dev == st.st_dev && c->ino == st.st_ino)
      {
        ret = -ELOOP;
        g_set_error (error, VMM_BLOCK_ERROR, ELOOP,
                     "backing file loop: %s is its own backing file", opts->path);
        goto fail;
      }
  if (opts->direct)
    b->alignment = direct_alignment (b->fd, &st);

  if (!(flags & VMM_BLOCK_OPEN_NO_LOCK))
    {
      ret = lock_image (b->fd, !opts->read_only);
      if (ret == -EBUSY)
        {
          g_set_error (error, VMM_BLOCK_ERROR, EBUSY,
                       "%s is in use by another program (it is locked)", opts->path);
          goto fail;
        }
      if (ret < 0)
        {
          g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot lock %s: %s", opts->path,
                       strerror (-ret));
          goto fail;
        }
    }

  b->format = opts->format;
  if (b->format == VMM_BLOCK_FORMAT_AUTO)
    {
      ret = probe_format (b->fd, &b->format);
      if (ret < 0)
        {
          g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot read %s: %s", opts->path,
                       strerror (-ret));
          goto fail;
        }
    }

  switch (b->format)
    {
    case VMM_BLOCK_FORMAT_RAW:
      ret = vmm_block_raw_open (b, error);
      break;
    case VMM_BLOCK_FORMAT_QCOW2:
      ret = vmm_block_qcow2_open (b, chain, flags, error);
      break;
    case VMM_BLOCK_FORMAT_AUTO:
    default:
      ret = -EINVAL;
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "unknown image format %d", (int) b->format);
      break;
    }
  if (ret == 0 && (b->drv == NULL || b->drv->close == NULL))
    ret = -EIO;   /* a driver that did not set itself up */
  if (ret != 0)
    {
      ret = ret < 0 ? ret : -EIO;
      goto fail;
    }
  *block = b;
  return 0;

fail:
  block_free (b);
  return ret;
}

int
vmm_block_open_internal (struct vmm_block **block, const struct vmm_block_open_opts *opts,
                         const struct vmm_block_chain *chain, unsigned flags, GError **error)
{
  GError *local = NULL;
  int ret = open_image (block, opts, chain, flags, &local);

  return setup_result (ret, local, error);
}

int
vmm_block_open (struct vmm_block **block, const struct vmm_block_open_opts *opts,
                GError **error)
{
  if (block == NULL)
    return setup_result (-EINVAL, NULL, error);
  return vmm_block_open_internal (block, opts, NULL, 0, error);
}

int
vmm_block_close (struct vmm_block *block)
{
  int ret = 0;

  if (block == NULL)
    return 0;
  if (!block->read_only)
    ret = block->drv->flush (block);
  if (ret < 0)
    vmm_log_warning ("%s: flushing on close failed: %s", block->path, strerror (-ret));
  block->drv->close (block);
  block_free (block);
  return ret;
}

uint64_t
vmm_block_size (const struct vmm_block *block)
{
  return block->size;
}

bool
vmm_block_read_only (const struct vmm_block *block)
{
  return block->read_only;
}

enum vmm_block_format
vmm_block_format (const struct vmm_block *block)
{
  return block->format;
}

uint32_t
vmm_block_alignment (const struct vmm_block *block)
{
  return block->alignment;
}

const char *
vmm_block_file_of_fd (struct vmm_block *block, int fd, unsigned *depth)
{
  for (unsigned d = 0; block != NULL && d <= VMM_BLOCK_MAX_CHAIN; d++)
    {
      if (block->fd == fd)
        {
          if (depth != NULL)
            *depth = d;
          return block->path;
        }
      block = block->drv->backing != NULL ? block->drv->backing (block) : NULL;
    }
  return NULL;
}

/* ---- synchronous I/O ------------------------------------------------------ */

/* A cursor over a scatter list, to hand out slices of it. */
struct iov_cursor {
  const struct iovec *iov;
  int cnt;
  int idx;
  size_t off;                 /* into iov[idx] */
  struct iovec *slice;        /* scratch, cnt entries */
};

/* The next LEN bytes as a scatter list in cur->slice; returns its count. */
static int
iov_take (struct iov_cursor *cur, size_t len)
{
  int n = 0;

  while (len > 0 && cur->idx < cur->cnt)
    {
      size_t avail = cur->iov[cur->idx].iov_len - cur->off;
      size_t take = avail < len ? avail : len;

      if (take > 0)
        {
          cur->slice[n].iov_base = (uint8_t *) cur->iov[cur->idx].iov_base + cur->off;
          cur->slice[n].iov_len = take;
          n++;
        }
      cur->off += take;
      len -= take;
      if (cur->off == cur->iov[cur->idx].iov_len)
        {
          cur->idx++;
          cur->off = 0;
        }
    }
  return n;
}

static int
check_range (const struct vmm_block *block, uint64_t offset, uint64_t len)
{
  if (offset > block->size || len > block->size - offset)
    return -EINVAL;
  return 0;
}

int
vmm_block_preadv (struct vmm_block *block, const struct iovec *iov, int iovcnt,
                  uint64_t offset)
{
  struct vmm_block_extent ext[SYNC_EXTENTS];
  struct iov_cursor cur = { iov, iovcnt, 0, 0, NULL };
  uint64_t len, pos;
  int ret = 0;

  if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
    return -EINVAL;
  len = vmm_block_iov_len (iov, iovcnt);
  if ((ret = check_range (block, offset, len)) < 0 || len == 0)
    return ret;
  cur.slice = calloc ((size_t) iovcnt, sizeof *cur.slice);
  if (cur.slice == NULL)
    return -ENOMEM;

  pos = offset;
  while (pos < offset + len && ret == 0)
    {
      int n = block->drv->map_read (block, pos, offset + len - pos, ext, SYNC_EXTENTS);
      if (n <= 0)
        {
          ret = n < 0 ? n : -EIO;
          break;
        }
      for (int i = 0; i < n && ret == 0; i++)
        {
          int cnt;

          if (ext[i].offset != pos || ext[i].len == 0 || ext[i].len > offset + len - pos)
            {
              ret = -EIO;
              break;
            }
          cnt = iov_take (&cur, ext[i].len);
          switch (ext[i].kind)
            {
            case VMM_BLOCK_EXTENT_DATA:
              ret = vmm_block_preadv_fd (ext[i].fd, cur.slice, cnt, ext[i].host_offset,
                                         block->alignment);
              break;
            case VMM_BLOCK_EXTENT_ZERO:
              for (int j = 0; j < cnt; j++)
                memset (cur.slice[j].iov_base, 0, cur.slice[j].iov_len);
              break;
            case VMM_BLOCK_EXTENT_SYNC:
            default:
              {
                uint8_t *buf = malloc (ext[i].len);
                size_t off = 0;

                if (buf == NULL)
                  {
                    ret = -ENOMEM;
                    break;
                  }
                ret = block->drv->read_sync (block, ext[i].offset, ext[i].len, buf);
                for (int j = 0; ret == 0 && j < cnt; j++)
                  {
                    memcpy (cur.slice[j].iov_base, buf + off, cur.slice[j].iov_len);
                    off += cur.slice[j].iov_len;
                  }
                free (buf);
              }
              break;
            }
          pos += ext[i].len;
        }
    }
  free (cur.slice);
  return ret;
}

static bool
needs_rmw (const struct iovec *iov, int iovcnt, uint64_t offset, uint32_t align)
{
  if (align <= 1)
    return false;
  if (offset % align != 0)
    return true;
  for (int i = 0; i < iovcnt; i++)
    if ((uintptr_t) iov[i].iov_base % align != 0 || iov[i].iov_len % align != 0)
      return true;
  return false;
}

int
vmm_block_write_data (struct vmm_block *block, int fd, const struct iovec *iov, int iovcnt,
                      uint64_t offset, uint32_t align)
{
  bool rmw = needs_rmw (iov, iovcnt, offset, align);
  int ret;

  /* Aligned writes, the guest's usual ones, never wait here. An aligned
   * write that overlaps a read-modify-write in flight overlaps its
   * sectors too, and the order of overlapping writes is the guest's. */
  if (rmw)
    pthread_mutex_lock (&block->rmw_lock);
  ret = vmm_block_pwritev_fd (fd, iov, iovcnt, offset, align);
  if (rmw)
    pthread_mutex_unlock (&block->rmw_lock);
  return ret;
}

int
vmm_block_pwritev (struct vmm_block *block, const struct iovec *iov, int iovcnt,
                   uint64_t offset)
{
  struct vmm_block_extent ext[SYNC_EXTENTS];
  struct iov_cursor cur = { iov, iovcnt, 0, 0, NULL };
  uint64_t len, pos;
  int ret = 0;

  if (block->read_only)
    return -EROFS;
  if (iovcnt < 0 || (iovcnt > 0 && iov == NULL))
    return -EINVAL;
  len = vmm_block_iov_len (iov, iovcnt);
  if ((ret = check_range (block, offset, len)) < 0 || len == 0)
    return ret;
  cur.slice = calloc ((size_t) iovcnt, sizeof *cur.slice);
  if (cur.slice == NULL)
    return -ENOMEM;

  pos = offset;
  while (pos < offset + len && ret == 0)
    {
      void *cookie = NULL;
      int n = block->drv->map_write (block, pos, offset + len - pos, ext, SYNC_EXTENTS,
                                     &cookie);
      if (n <= 0)
        {
          ret = n < 0 ? n : -EIO;
          break;
        }
      for (int i = 0; i < n && ret == 0; i++)
        {
          int cnt;

          if (ext[i].offset != pos || ext[i].len == 0 || ext[i].len > offset + len - pos
              || ext[i].kind != VMM_BLOCK_EXTENT_DATA)
            {
              ret = -EIO;
              break;
            }
          cnt = iov_take (&cur, ext[i].len);
          ret = vmm_block_write_data (block, ext[i].fd, cur.slice, cnt, ext[i].host_offset,
                                      block->alignment);
          pos += ext[i].len;
        }
      if (ret == 0)
        ret = block->drv->commit (block, cookie);
      else
        block->drv->abort (block, cookie);
    }
  free (cur.slice);
  return ret;
}

int
vmm_block_write_zero_data (struct vmm_block *block, uint64_t offset, uint64_t len)
{
  size_t chunk = len < ZERO_CHUNK ? (size_t) len : ZERO_CHUNK;
  void *zero;
  int ret = 0;

  if (posix_memalign (&zero, 4096, chunk) != 0)
    return -ENOMEM;
  memset (zero, 0, chunk);
  while (len > 0 && ret == 0)
    {
      struct iovec iov = { zero, len < chunk ? (size_t) len : chunk };
      ret = vmm_block_pwritev (block, &iov, 1, offset);
      offset += iov.iov_len;
      len -= iov.iov_len;
    }
  free (zero);
  return ret;
}

int
vmm_block_flush (struct vmm_block *block)
{
  if (block->read_only)
    return 0;
  return block->drv->flush (block);
}

int
vmm_block_discard (struct vmm_block *block, uint64_t offset, uint64_t len)
{
  int ret;

  if (block->read_only)
    return -EROFS;
  if ((ret = check_range (block, offset, len)) < 0 || len == 0)
    return ret;
  return block->drv->discard (block, offset, len);
}

int
vmm_block_write_zeroes (struct vmm_block *block, uint64_t offset, uint64_t len,
                        bool may_unmap)
{
  int ret;

  if (block->read_only)
    return -EROFS;
  if ((ret = check_range (block, offset, len)) < 0 || len == 0)
    return ret;
  return block->drv->write_zeroes (block, offset, len, may_unmap);
}

int
vmm_block_map_read (struct vmm_block *block, uint64_t offset, uint64_t len,
                    struct vmm_block_extent *extents, unsigned max)
{
  int ret;

  if (max == 0 || extents == NULL)
    return -EINVAL;
  if ((ret = check_range (block, offset, len)) < 0)
    return ret;
  if (len == 0)
    return 0;
  return block->drv->map_read (block, offset, len, extents, max);
}

int
vmm_block_map_write (struct vmm_block *block, uint64_t offset, uint64_t len,
                     struct vmm_block_extent *extents, unsigned max, void **cookie)
{
  int ret;

  if (cookie == NULL || max == 0 || extents == NULL)
    return -EINVAL;
  *cookie = NULL;
  if (block->read_only)
    return -EROFS;
  if ((ret = check_range (block, offset, len)) < 0)
    return ret;
  if (len == 0)
    return -EINVAL;
  return block->drv->map_write (block, offset, len, extents, max, cookie);
}

int
vmm_block_write_commit (struct vmm_block *block, void *cookie)
{
  if (cookie == NULL)
    return -EINVAL;
  return block->drv->commit (block, cookie);
}

void
vmm_block_write_abort (struct vmm_block *block, void *cookie)
{
  if (cookie != NULL)
    block->drv->abort (block, cookie);
}

/* ---- images ----------------------------------------------------------------- */

static int
fsync_dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');
  char *dir;
  int fd, ret = 0;

  if (slash == NULL)
    dir = strdup (".");
  else if (slash == path)
    dir = strdup ("/");
  else
    dir = strndup (path, (size_t) (slash - path));
  if (dir == NULL)
    return -ENOMEM;
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free (dir);
  if (fd < 0)
    return -errno;
  if (fsync (fd) < 0 && errno != EINVAL)
    ret = -errno;
  close (fd);
  return ret;
}

/* Renames TMP to PATH unless PATH exists. */
static int
rename_noreplace (const char *tmp, const char *path)
{
  if (renameat2 (AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -errno;
  /* File systems without RENAME_NOREPLACE: link() never replaces either. */
  if (link (tmp, path) < 0)
    return -errno;
  unlink (tmp);
  return 0;
}

int
vmm_block_open_new_backing (const struct vmm_block_create_opts *opts, unsigned flags,
                            struct vmm_block **backing, GError **error)
{
  struct vmm_block_open_opts bo = { .format = opts->backing_format, .read_only = true };
  g_autoptr (GError) why = NULL;
  char *resolved;
  int ret;

  *backing = NULL;
  resolved = vmm_block_resolve_backing (opts->path, opts->backing_file);
  if (resolved == NULL)
    return -ENOMEM;
  bo.path = resolved;
  ret = vmm_block_open_internal (backing, &bo, NULL, flags | VMM_BLOCK_OPEN_NO_LOCK, &why);
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot open the backing file %s: %s", resolved,
                 why->message);
  free (resolved);
  return ret;
}

static int
create_image (const struct vmm_block_create_opts *opts, GError **error)
{
  struct stat st;
  char *tmp = NULL;
  uint64_t size;
  int fd = -1, ret;

  if (opts == NULL || opts->path == NULL || opts->path[0] == '\0')
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL, "no image path given");
      return -EINVAL;
    }
  if (opts->format != VMM_BLOCK_FORMAT_RAW && opts->format != VMM_BLOCK_FORMAT_QCOW2)
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL,
                           "images can be created as raw or qcow2 only");
      return -EINVAL;
    }
  if (opts->backing_file != NULL && opts->format != VMM_BLOCK_FORMAT_QCOW2)
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EINVAL,
                           "only qcow2 images can have a backing file");
      return -EINVAL;
    }
  if (lstat (opts->path, &st) == 0)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EEXIST, "%s already exists", opts->path);
      return -EEXIST;
    }

  size = opts->size;
  if (opts->backing_file != NULL && size == 0)
    {
      struct vmm_block *bb;

      ret = vmm_block_open_new_backing (opts, 0, &bb, error);
      if (ret < 0)
        return ret;
      size = vmm_block_size (bb);
      vmm_block_close (bb);
    }

  if (asprintf (&tmp, "%s.tmpXXXXXX", opts->path) < 0)
    return -ENOMEM;
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot create a file next to %s: %s",
                   opts->path, strerror (-ret));
      free (tmp);
      return ret;
    }

  if (opts->format == VMM_BLOCK_FORMAT_RAW)
    ret = vmm_block_raw_create (fd, opts, error);
  else
    ret = vmm_block_qcow2_create (fd, opts, size, error);
  if (ret == 0 && fsync (fd) < 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", tmp, strerror (-ret));
    }
  if (close (fd) < 0 && ret == 0)
    {
      ret = -errno;
      g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", tmp, strerror (-ret));
    }
  if (ret == 0)
    {
      ret = rename_noreplace (tmp, opts->path);
      if (ret == -EEXIST)
        g_set_error (error, VMM_BLOCK_ERROR, EEXIST, "%s already exists", opts->path);
      else if (ret < 0)
        g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot create %s: %s", opts->path,
                     strerror (-ret));
    }
  if (ret < 0)
    unlink (tmp);
  else
    {
      ret = fsync_dir_of (opts->path);
      if (ret < 0)
        g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot sync the directory of %s: %s",
                     opts->path, strerror (-ret));
    }
  free (tmp);
  return ret;
}

int
vmm_block_create (const struct vmm_block_create_opts *opts, GError **error)
{
  GError *local = NULL;
  int ret = create_image (opts, &local);

  return setup_result (ret, local, error);
}

/* Opens PATH for info or check: read-only, unlocked, without its chain. */
static int
open_to_inspect (const char *path, struct vmm_block **b, GError **error)
{
  struct vmm_block_open_opts opts = {
    .path = path, .format = VMM_BLOCK_FORMAT_AUTO, .read_only = true,
  };

  return vmm_block_open_internal (b, &opts, NULL,
                                  VMM_BLOCK_OPEN_NO_BACKING | VMM_BLOCK_OPEN_NO_LOCK, error);
}

int
vmm_block_check (const char *path, struct vmm_block_check_result *result, GError **error)
{
  GError *local = NULL;
  struct vmm_block *b;
  int ret;

  memset (result, 0, sizeof *result);
  ret = open_to_inspect (path, &b, &local);
  if (ret == 0)
    {
      ret = b->drv->check (b, result, &local);
      vmm_block_close (b);
    }
  return setup_result (ret, local, error);
}

int
vmm_block_info (const char *path, struct vmm_block_image_info *info, GError **error)
{
  GError *local = NULL;
  struct vmm_block *b;
  struct stat st;
  int ret;

  memset (info, 0, sizeof *info);
  ret = open_to_inspect (path, &b, &local);
  if (ret < 0)
    return setup_result (ret, local, error);
  info->format = b->format;
  info->virtual_size = b->size;
  if (fstat (b->fd, &st) == 0)
    info->actual_size = (uint64_t) st.st_blocks * 512;
  ret = b->drv->info (b, info, &local);
  vmm_block_close (b);
  if (ret < 0)
    vmm_block_image_info_clear (info);
  return setup_result (ret, local, error);
}

void
vmm_block_image_info_clear (struct vmm_block_image_info *info)
{
  if (info == NULL)
    return;
  for (unsigned i = 0; i < info->n_snapshots; i++)
    {
      free (info->snapshots[i].id);
      free (info->snapshots[i].name);
    }
  free (info->snapshots);
  for (unsigned i = 0; i < info->n_bitmaps; i++)
    free (info->bitmaps[i].name);
  free (info->bitmaps);
  free (info->backing_file);
  free (info->backing_format);
  memset (info, 0, sizeof *info);
}

/* ---- internal snapshots ---------------------------------------------------------- */

/* Whether BLOCK can take snapshot changes; sets *ERROR when not. */
static int
snapshot_target (struct vmm_block *block, const char *name, GError **error)
{
  if (block->format != VMM_BLOCK_FORMAT_QCOW2)
    {
      g_set_error (error, VMM_BLOCK_ERROR, ENOTSUP, _("%s: snapshots need a qcow2 disk"),
                   block->path);
      return -ENOTSUP;
    }
  if (block->read_only)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EROFS, "%s: %s", block->path, g_strerror (EROFS));
      return -EROFS;
    }
  if (name == NULL || name[0] == '\0' || strlen (name) > UINT16_MAX)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, _("%s: a snapshot name must have 1 to %u "
                                                     "bytes"), block->path, UINT16_MAX);
      return -EINVAL;
    }
  return 0;
}

int
vmm_block_snapshot_create (struct vmm_block *block, const char *name, GError **error)
{
  GError *local = NULL;
  int ret;

  g_return_val_if_fail (block != NULL, -EINVAL);
  ret = snapshot_target (block, name, &local);
  if (ret == 0)
    ret = qcow2_snapshot_create (block, name, &local);
  return setup_result (ret, local, error);
}

int
vmm_block_snapshot_apply (struct vmm_block *block, const char *name_or_id, GError **error)
{
  GError *local = NULL;
  int ret;

  g_return_val_if_fail (block != NULL, -EINVAL);
  ret = snapshot_target (block, name_or_id, &local);
  if (ret == 0)
    ret = qcow2_snapshot_apply (block, name_or_id, &local);
  return setup_result (ret, local, error);
}

int
vmm_block_snapshot_delete (struct vmm_block *block, const char *name_or_id, GError **error)
{
  GError *local = NULL;
  int ret;

  g_return_val_if_fail (block != NULL, -EINVAL);
  ret = snapshot_target (block, name_or_id, &local);
  if (ret == 0)
    ret = qcow2_snapshot_delete (block, name_or_id, &local);
  return setup_result (ret, local, error);
}

int
vmm_block_snapshot_rename (struct vmm_block *block, const char *name_or_id,
                           const char *new_name, GError **error)
{
  GError *local = NULL;
  int ret;

  g_return_val_if_fail (block != NULL, -EINVAL);
  ret = snapshot_target (block, name_or_id, &local);
  if (ret == 0)
    ret = snapshot_target (block, new_name, &local);
  if (ret == 0)
    ret = qcow2_snapshot_rename (block, name_or_id, new_name, &local);
  return setup_result (ret, local, error);
}

int
vmm_block_snapshot_list (struct vmm_block *block, struct vmm_block_snapshot_info **out,
                         unsigned *n)
{
  g_return_val_if_fail (block != NULL && out != NULL && n != NULL, -EINVAL);
  *out = NULL;
  *n = 0;
  if (block->format != VMM_BLOCK_FORMAT_QCOW2)
    return 0;
  return qcow2_snapshot_list (block, out, n);
}

void
vmm_block_snapshot_info_free (struct vmm_block_snapshot_info *info, unsigned n)
{
  for (unsigned i = 0; info != NULL && i < n; i++)
    {
      free (info[i].id);
      free (info[i].name);
    }
  free (info);
}

const char *
vmm_block_format_name (enum vmm_block_format format)
{
  return format_name (format);
}
