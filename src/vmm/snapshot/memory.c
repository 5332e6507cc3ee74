/* snapshot/memory.c: guest RAM to a file, and back by mapping it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "snapshot/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_PRESENT   (1ull << 63)
#define PM_SWAPPED   (1ull << 62)
/* Entries read at once: 2 MiB of RAM a read, and the run written at once */
#define PM_BATCH     512

static bool
page_is_zero (const uint8_t *p, uint64_t len)
{
  const uint64_t *w = (const uint64_t *) p;

  for (uint64_t i = 0; i < len / 8; i += 8)
    if ((w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) != 0)
      return false;
  return true;
}

/* Writes [off, off + len) of the mapping at OFF in FD. The file is open
 * with O_DIRECT where the file system takes it (the pages go from guest
 * RAM to the disk, not through the page cache); one that refuses a write
 * that way gets the rest through the page cache. */
static int
write_run (int fd, const uint8_t *base, uint64_t off, uint64_t len)
{
  while (len > 0)
    {
      ssize_t n = pwrite (fd, base + off, len > (1u << 30) ? (1u << 30) : (size_t) len,
                          (off_t) off);

      if (n < 0 && errno == EINVAL && (fcntl (fd, F_GETFL) & O_DIRECT) != 0)
        {
          if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) & ~O_DIRECT) < 0)
            return -errno;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? -errno : -EIO;
      off += (uint64_t) n;
      len -= (uint64_t) n;
    }
  return 0;
}

/* The data extents of the base file, walked forward */
struct extents {
  int fd;
  uint64_t data, hole;         /* the extent [data, hole) holding or after the last asked */
};

/* Whether the page at P (asked in increasing order) holds data in the base */
static bool
base_has_data (struct extents *e, uint64_t p)
{
  if (e->fd < 0)
    return false;
  if (p >= e->hole)
    {
      off_t data = lseek (e->fd, (off_t) p, SEEK_DATA), hole;

      if (data < 0)
        {
          /* ENXIO: no data from P on; another error: take all as data */
          e->data = errno == ENXIO ? UINT64_MAX : p;
          e->hole = UINT64_MAX;
          return e->data == p;
        }
      hole = lseek (e->fd, data, SEEK_HOLE);
      e->data = (uint64_t) data;
      e->hole = hole < 0 ? UINT64_MAX : (uint64_t) hole;
    }
  return p >= e->data && p < e->hole;
}

gboolean
vmm_snapshot_memory_save (const struct vmm_mem *mem, int base_fd, const char *path,
                          uint64_t *written, GError **error)
{
  const uint8_t *base = mem->mapping;
  uint64_t size = mem->mapping_size, page = (uint64_t) sysconf (_SC_PAGESIZE), total = 0;
  uint64_t run_start = 0, run_len = 0;
  int fd = -1, pm = -1, ret = 0;
  uint64_t entries[PM_BATCH];
  struct extents ext = { base_fd, 0, 0 };

  g_return_val_if_fail (base != NULL && size % page == 0, FALSE);
  /* read-only: a running machine maps it, and would fault on any page
   * past its end if it were cut short */
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0400);
  if (fd < 0 && errno == EINVAL)
    fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), _("Cannot create %s: %s"),
                   path, g_strerror (err));
      return FALSE;
    }
  if (ftruncate (fd, (off_t) size) < 0)
    {
      ret = -errno;
      goto out;
    }
  pm = open ("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0)
    {
      ret = -errno;
      goto out;
    }

  for (uint64_t off = 0; off < size && ret == 0; off += PM_BATCH * page)
    {
      uint64_t n = MIN ((uint64_t) PM_BATCH, (size - off) / page);
      off_t at = (off_t) (((uintptr_t) base + off) / page * sizeof (uint64_t));
      ssize_t got = pread (pm, entries, n * sizeof (uint64_t), at);

      if (got != (ssize_t) (n * sizeof (uint64_t)))
        {
          ret = got < 0 ? -errno : -EIO;
          break;
        }
      for (uint64_t i = 0; i < n && ret == 0; i++)
        {
          uint64_t p = off + i * page;
          /* a page only read maps the shared zero page, present too;
           * any page of zeroes stays a hole */
          bool touched = ((entries[i] & (PM_PRESENT | PM_SWAPPED)) != 0
                          || base_has_data (&ext, p))
                         && !page_is_zero (base + p, page);

          if (touched && run_len > 0 && run_start + run_len == p)
            run_len += page;
          else if (touched)
            {
              if (run_len > 0)
                ret = write_run (fd, base, run_start, run_len);
              total += run_len;
              run_start = p;
              run_len = page;
            }
        }
    }
  if (ret == 0 && run_len > 0)
    {
      ret = write_run (fd, base, run_start, run_len);
      total += run_len;
    }
  if (ret == 0 && fsync (fd) < 0)
    ret = -errno;

out:
  if (pm >= 0)
    close (pm);
  if (close (fd) < 0 && ret == 0)
    ret = -errno;
  if (ret < 0)
    {
      g_unlink (path);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (-ret),
                   _("Cannot save the machine’s memory to %s: %s"), path, g_strerror (-ret));
      return FALSE;
    }
  if (written != NULL)
    *written = total;
  return TRUE;
}

int
vmm_snapshot_memory_map (struct vmm_mem *mem, const char *path, GError **error)
{
  struct stat st;
  void *map;
  int fd;

  g_return_val_if_fail (mem->mapping != NULL, -1);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), _("Cannot open %s: %s"),
                   path, g_strerror (err));
      return -1;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || (uint64_t) st.st_size != mem->mapping_size)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The saved memory %s does not fit this machine (%llu bytes, not %llu)"),
                   path, (unsigned long long) st.st_size,
                   (unsigned long long) mem->mapping_size);
      close (fd);
      return -1;
    }
  /* Private: the guest's writes never reach the file */
  map = mmap (mem->mapping, mem->mapping_size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
  if (map == MAP_FAILED)
    {
      /* the file was checked above: this is ENOMEM or the like */
      int err = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (err), _("Cannot map %s: %s"),
                   path, g_strerror (err));
      close (fd);
      return -1;
    }
  madvise (map, mem->mapping_size, MADV_DONTDUMP);
  return fd;
}
