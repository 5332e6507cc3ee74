/* block/fd.c: whole reads, writes and syncs of a file descriptor
 *
 * The system calls move fewer bytes than asked, or stop at EINTR; these
 * helpers retry until the whole transfer is done, so the drivers and the
 * asynchronous I/O's worker threads need no loops of their own.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/fd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
vmm_block_fdatasync_fd (int fd)
{
  while (fdatasync (fd) < 0)
    if (errno != EINTR)
      return -errno;
  return 0;
}

static bool
is_aligned (const void *buf, size_t len, uint64_t offset, uint32_t align)
{
  return align <= 1
         || ((uintptr_t) buf % align == 0 && len % align == 0 && offset % align == 0);
}

/* Whole read without alignment games; zeroes past the end of the file. */
static int
pread_plain (int fd, void *buf, size_t len, uint64_t offset)
{
  uint8_t *p = buf;

  while (len > 0)
    {
      ssize_t n = pread (fd, p, len, (off_t) offset);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        {
          memset (p, 0, len);
          return 0;
        }
      p += n;
      len -= (size_t) n;
      offset += (uint64_t) n;
    }
  return 0;
}

static int
pwrite_plain (int fd, const void *buf, size_t len, uint64_t offset)
{
  const uint8_t *p = buf;

  while (len > 0)
    {
      ssize_t n = pwrite (fd, p, len, (off_t) offset);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return -errno;
        }
      if (n == 0)
        return -EIO;
      p += n;
      len -= (size_t) n;
      offset += (uint64_t) n;
    }
  return 0;
}

/* An aligned buffer for [*START, *END): OFFSET and LEN widened to ALIGN.
 * NULL when out of memory. */
static void *
bounce_new (uint64_t offset, size_t len, uint32_t align, uint64_t *start, uint64_t *end)
{
  void *bounce;

  *start = offset - offset % align;
  *end = offset + len;
  if (*end % align)
    *end += align - *end % align;
  if (posix_memalign (&bounce, align < 4096 ? 4096 : align, *end - *start) != 0)
    return NULL;
  return bounce;
}

int
vmm_block_pread_fd (int fd, void *buf, size_t len, uint64_t offset, uint32_t align)
{
  uint64_t start, end;
  void *bounce;
  int ret;

  if (len == 0)
    return 0;
  if (is_aligned (buf, len, offset, align))
    return pread_plain (fd, buf, len, offset);
  bounce = bounce_new (offset, len, align, &start, &end);
  if (bounce == NULL)
    return -ENOMEM;
  ret = pread_plain (fd, bounce, end - start, start);
  if (ret == 0)
    memcpy (buf, (uint8_t *) bounce + (offset - start), len);
  free (bounce);
  return ret;
}

int
vmm_block_pwrite_fd (int fd, const void *buf, size_t len, uint64_t offset, uint32_t align)
{
  uint64_t start, end;
  void *bounce;
  int ret;

  if (len == 0)
    return 0;
  if (is_aligned (buf, len, offset, align))
    return pwrite_plain (fd, buf, len, offset);
  bounce = bounce_new (offset, len, align, &start, &end);
  if (bounce == NULL)
    return -ENOMEM;
  /* Only the partial blocks at either end need their old contents. */
  ret = 0;
  if (start != offset)
    ret = pread_plain (fd, bounce, align, start);
  if (ret == 0 && (offset + len) % align != 0 && (end - align != start || start == offset))
    ret = pread_plain (fd, (uint8_t *) bounce + (end - start - align), align, end - align);
  if (ret == 0)
    {
      memcpy ((uint8_t *) bounce + (offset - start), buf, len);
      ret = pwrite_plain (fd, bounce, end - start, start);
    }
  free (bounce);
  return ret;
}

size_t
vmm_block_iov_len (const struct iovec *iov, int iovcnt)
{
  size_t total = 0;

  for (int i = 0; i < iovcnt; i++)
    total += iov[i].iov_len;
  return total;
}

static bool
iov_is_aligned (const struct iovec *iov, int iovcnt, uint64_t offset, uint32_t align)
{
  if (align <= 1)
    return true;
  if (offset % align)
    return false;
  for (int i = 0; i < iovcnt; i++)
    if ((uintptr_t) iov[i].iov_base % align || iov[i].iov_len % align)
      return false;
  return true;
}

int
vmm_block_preadv_fd (int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
                     uint32_t align)
{
  size_t total = vmm_block_iov_len (iov, iovcnt);
  uint8_t *bounce;
  size_t off = 0;
  int ret;

  if (iovcnt == 1)
    return vmm_block_pread_fd (fd, iov[0].iov_base, iov[0].iov_len, offset, align);
  if (iov_is_aligned (iov, iovcnt, offset, align))
    {
      /* Scatter reads, one preadv per short-transfer retry */
      int i = 0;
      size_t skip = 0;
      while (i < iovcnt)
        {
          struct iovec local[64];
          int n = 0;
          ssize_t got;

          for (int j = i; j < iovcnt && n < 64; j++, n++)
            local[n] = iov[j];
          local[0].iov_base = (uint8_t *) local[0].iov_base + skip;
          local[0].iov_len -= skip;
          got = preadv (fd, local, n, (off_t) offset);
          if (got < 0)
            {
              if (errno == EINTR)
                continue;
              return -errno;
            }
          if (got == 0)
            {
              /* End of file: the rest reads as zeroes. */
              for (int j = 0; j < n; j++)
                memset (local[j].iov_base, 0, local[j].iov_len);
              for (int j = i + n; j < iovcnt; j++)
                memset (iov[j].iov_base, 0, iov[j].iov_len);
              return 0;
            }
          offset += (uint64_t) got;
          while (got > 0 && i < iovcnt)
            {
              size_t left = iov[i].iov_len - skip;
              if ((size_t) got >= left)
                {
                  got -= (ssize_t) left;
                  i++;
                  skip = 0;
                }
              else
                {
                  skip += (size_t) got;
                  got = 0;
                }
            }
        }
      return 0;
    }
  bounce = NULL;
  if (posix_memalign ((void **) &bounce, 4096, total ? total : 1) != 0)
    return -ENOMEM;
  ret = vmm_block_pread_fd (fd, bounce, total, offset, align);
  for (int i = 0; ret == 0 && i < iovcnt; i++)
    {
      memcpy (iov[i].iov_base, bounce + off, iov[i].iov_len);
      off += iov[i].iov_len;
    }
  free (bounce);
  return ret;
}

int
vmm_block_pwritev_fd (int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
                      uint32_t align)
{
  size_t total = vmm_block_iov_len (iov, iovcnt);
  uint8_t *bounce = NULL;
  size_t off = 0;
  int ret;

  if (iovcnt == 1)
    return vmm_block_pwrite_fd (fd, iov[0].iov_base, iov[0].iov_len, offset, align);
  /* Gathering into one buffer keeps the retry logic in one place; the
   * synchronous path is for tools and fallbacks, not the hot path. */
  if (posix_memalign ((void **) &bounce, 4096, total ? total : 1) != 0)
    return -ENOMEM;
  for (int i = 0; i < iovcnt; i++)
    {
      memcpy (bounce + off, iov[i].iov_base, iov[i].iov_len);
      off += iov[i].iov_len;
    }
  ret = vmm_block_pwrite_fd (fd, bounce, total, offset, align);
  free (bounce);
  return ret;
}
