/* block/raw.c: raw images, a file or a block device used as it is
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cookie of a raw write: it commits nothing, but must not be NULL. */
static const char raw_cookie;

int
vmm_block_raw_open (struct vmm_block *b, GError **error)
{
  struct stat st;
  int err;

  if (fstat (b->fd, &st) < 0)
    {
      err = errno;
      g_set_error (error, VMM_BLOCK_ERROR, err, "cannot stat %s: %s", b->path, strerror (err));
      return -err;
    }
  if (S_ISBLK (st.st_mode))
    {
      uint64_t bytes = 0;
      if (ioctl (b->fd, BLKGETSIZE64, &bytes) < 0)
        {
          err = errno;
          g_set_error (error, VMM_BLOCK_ERROR, err, "cannot get the size of %s: %s", b->path,
                       strerror (err));
          return -err;
        }
      b->size = bytes;
    }
  else
    b->size = (uint64_t) st.st_size;
  b->drv = &vmm_block_raw_driver;
  return 0;
}

int
vmm_block_raw_create (int fd, const struct vmm_block_create_opts *opts, GError **error)
{
  int err;

  if (opts->size > (uint64_t) INT64_MAX)
    {
      g_set_error_literal (error, VMM_BLOCK_ERROR, EFBIG, "the size is too large");
      return -EFBIG;
    }
  if (ftruncate (fd, (off_t) opts->size) < 0)
    {
      err = errno;
      g_set_error (error, VMM_BLOCK_ERROR, err, "cannot size %s: %s", opts->path,
                   strerror (err));
      return -err;
    }
  return 0;
}

static void
raw_close (struct vmm_block *b)
{
  (void) b;
}

static int
raw_map_read (struct vmm_block *b, uint64_t offset, uint64_t len,
              struct vmm_block_extent *extents, unsigned max)
{
  (void) max;
  extents[0] = (struct vmm_block_extent) {
    .kind = VMM_BLOCK_EXTENT_DATA, .offset = offset, .len = len,
    .fd = b->fd, .host_offset = offset,
  };
  return 1;
}

static int
raw_map_write (struct vmm_block *b, uint64_t offset, uint64_t len,
               struct vmm_block_extent *extents, unsigned max, void **cookie)
{
  *cookie = (void *) &raw_cookie;
  return raw_map_read (b, offset, len, extents, max);
}

static int
raw_commit (struct vmm_block *b, void *cookie)
{
  (void) b;
  return cookie == &raw_cookie ? 0 : -EINVAL;
}

static void
raw_abort (struct vmm_block *b, void *cookie)
{
  (void) b;
  (void) cookie;
}

static int
raw_read_sync (struct vmm_block *b, uint64_t offset, uint64_t len, void *buf)
{
  return vmm_block_pread_fd (b->fd, buf, len, offset, b->alignment);
}

static int
raw_flush (struct vmm_block *b)
{
  return vmm_block_fdatasync_fd (b->fd);
}

static bool
refused (int err)
{
  return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL || err == ENODEV;
}

static int
raw_discard (struct vmm_block *b, uint64_t offset, uint64_t len)
{
  /* The header promises zeroes afterwards, which a punched hole gives. */
  if (fallocate (b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                 (off_t) len) == 0)
    return 0;
  if (!refused (errno))
    return -errno;
  return vmm_block_write_zero_data (b, offset, len);
}

static int
raw_write_zeroes (struct vmm_block *b, uint64_t offset, uint64_t len, bool may_unmap)
{
  if (may_unmap
      && fallocate (b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                    (off_t) len) == 0)
    return 0;
  if (fallocate (b->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                 (off_t) len) == 0)
    return 0;
  if (!refused (errno))
    return -errno;
  if (fallocate (b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset,
                 (off_t) len) == 0)
    return 0;
  if (!refused (errno))
    return -errno;
  return vmm_block_write_zero_data (b, offset, len);
}

static int
raw_info (struct vmm_block *b, struct vmm_block_image_info *info, GError **error)
{
  (void) b;
  (void) info;
  (void) error;
  return 0;
}

static int
raw_check (struct vmm_block *b, struct vmm_block_check_result *result, GError **error)
{
  (void) b;
  (void) error;
  /* Nothing to check in a raw image. */
  memset (result, 0, sizeof *result);
  return 0;
}

const struct vmm_block_driver vmm_block_raw_driver = {
  .name = "raw",
  .close = raw_close,
  .map_read = raw_map_read,
  .map_write = raw_map_write,
  .commit = raw_commit,
  .abort = raw_abort,
  .read_sync = raw_read_sync,
  .flush = raw_flush,
  .discard = raw_discard,
  .write_zeroes = raw_write_zeroes,
  .info = raw_info,
  .check = raw_check,
};
