/* fuzz-qcow2.c: a qcow2 image, opened, read, written, checked
 *
 * The disk image a person downloads and hands to the wizard, or that the
 * helper opens at every start: header, extensions, L1/L2 and refcount
 * tables, snapshots, bitmaps, all hostile. The input is the image file,
 * put in a memfd; then, in a fixed sequence: img info and img check; a
 * read-only open that maps and reads the start, the middle and the end of
 * the disk; a read-write open (refcount repair of a dirty image, bitmaps
 * marked in use) that writes (aligned and not), reads each write back,
 * discards, writes zeroes and flushes; and the check again. Any step may
 * fail with an error; none may crash, leak, run past the timeout, or
 * read back other bytes than a write that succeeded just wrote. Backing
 * files are not opened (their names would be paths on this machine).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/driver.h"
#include "log.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

static int image_fd = -1;
static char image_path[64];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  /* Corrupt images make the block layer warn, as it should; quietly. */
  vmm_log_set_level (VMM_LOG_ERROR);
  image_fd = memfd_create ("fuzz-qcow2", MFD_CLOEXEC);
  if (image_fd < 0)
    {
      perror ("memfd_create");
      abort ();
    }
  snprintf (image_path, sizeof image_path, "/proc/self/fd/%d", image_fd);
  return 0;
}

static void
refused (int ret, GError *error, const char *what)
{
  /* An error is a negative errno with a message */
  if (ret >= 0 || error == NULL || error->message == NULL || error->message[0] == '\0')
    {
      fprintf (stderr, "%s failed (%d) without a message\n", what, ret);
      abort ();
    }
}

static int
open_image (struct vmm_block **b, bool read_only)
{
  struct vmm_block_open_opts opts = {
    .path = image_path, .format = VMM_BLOCK_FORMAT_QCOW2, .read_only = read_only,
  };
  g_autoptr (GError) error = NULL;
  int ret = vmm_block_open_internal (b, &opts, NULL,
                                     VMM_BLOCK_OPEN_NO_BACKING | VMM_BLOCK_OPEN_NO_LOCK, &error);

  if (ret < 0)
    refused (ret, error, read_only ? "open read-only" : "open read-write");
  return ret;
}

static void
info_and_check (void)
{
  struct vmm_block_image_info info;
  struct vmm_block_check_result res;
  g_autoptr (GError) error = NULL;
  int ret;

  ret = vmm_block_info (image_path, &info, &error);
  if (ret == 0)
    vmm_block_image_info_clear (&info);
  else
    refused (ret, error, "info");
  g_clear_error (&error);
  ret = vmm_block_check (image_path, &res, &error);
  if (ret == 0)
    free (res.first_problem);
  else
    refused (ret, error, "check");
}

/* Maps and reads up to 64 KiB at OFFSET */
static void
read_at (struct vmm_block *b, uint64_t offset)
{
  static uint8_t buf[65536];
  struct vmm_block_extent ext[8];
  uint64_t size = vmm_block_size (b), len;
  struct iovec iov;

  if (offset >= size)
    return;
  len = MIN (size - offset, sizeof buf);
  (void) vmm_block_map_read (b, offset, len, ext, G_N_ELEMENTS (ext));
  iov = (struct iovec) { buf, (size_t) len };
  (void) vmm_block_preadv (b, &iov, 1, offset);
}

/* Writes LEN bytes of a pattern at OFFSET; what a successful write wrote
 * must read back. */
static void
write_at (struct vmm_block *b, uint64_t offset, size_t len, uint8_t seed)
{
  static uint8_t buf[8192], back[8192];
  uint64_t size = vmm_block_size (b);
  struct iovec iov;

  if (offset >= size)
    return;
  len = (size_t) MIN (MIN ((uint64_t) len, size - offset), sizeof buf);
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t) (seed + i * 7);
  iov = (struct iovec) { buf, len };
  if (vmm_block_pwritev (b, &iov, 1, offset) != 0)
    return;
  iov = (struct iovec) { back, len };
  if (vmm_block_preadv (b, &iov, 1, offset) != 0)
    return;
  if (memcmp (buf, back, len) != 0)
    {
      fprintf (stderr, "%zu bytes written at %llu read back differently\n", len,
               (unsigned long long) offset);
      abort ();
    }
}

static uint64_t
clamp (uint64_t size, uint64_t want)
{
  return want < size ? want : 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmm_block *b = NULL;
  uint64_t vsize;

  if (image_fd < 0)
    LLVMFuzzerInitialize (NULL, NULL);
  if (ftruncate (image_fd, 0) < 0 || pwrite (image_fd, data, size, 0) != (ssize_t) size)
    abort ();

  info_and_check ();

  if (open_image (&b, true) == 0)
    {
      vsize = vmm_block_size (b);
      read_at (b, 0);
      read_at (b, vsize / 2 - MIN (vsize / 2, 4096));
      read_at (b, vsize - MIN (vsize, 65536));
      vmm_block_close (b);
    }

  if (open_image (&b, false) == 0)
    {
      vsize = vmm_block_size (b);
      write_at (b, 0, 4096, 1);
      write_at (b, 1000, 3000, 2);                       /* unaligned, two clusters */
      write_at (b, vsize / 2 + 100, 700, 3);
      (void) vmm_block_discard (b, clamp (vsize, 512), MIN (vsize, 65536) / 2);
      (void) vmm_block_write_zeroes (b, clamp (vsize, 4096), MIN (vsize - MIN (vsize, 4096),
                                                                   1024), true);
      (void) vmm_block_write_zeroes (b, vsize / 2, MIN (vsize / 2, 65536), false);
      read_at (b, 0);
      write_at (b, vsize - MIN (vsize, 512), 512, 4);
      (void) vmm_block_flush (b);
      (void) vmm_block_close (b);
      info_and_check ();
    }
  return 0;
}
