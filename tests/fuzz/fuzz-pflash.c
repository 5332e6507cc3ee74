/* fuzz-pflash.c: OVMF's flash (firmware/pflash.c), driven by a hostile guest
 *
 * The device works on an in-memory image file (a memfd, reopened through
 * /proc/self/fd so the device opens and locks it as it would a file), with
 * its map and unmap callbacks faked. The input is a sequence of MMIO
 * accesses at any offset and width, commands, resets, syncs and failing
 * maps.
 *
 * Beyond "no crash, no sanitizer report":
 *  - map and unmap alternate, the mapping is always the whole device,
 *    read-only, over the same memory;
 *  - while mapped (read-array mode), a read through the handlers returns
 *    what the mapping holds;
 *  - the file never changes size (no write past the image), and a
 *    read-only device never changes a byte of it or of its memory;
 *  - at the end, clear status and read array map the device again, and
 *    after a sync the file holds what the mapping shows.
 *
 * Input: a 2-byte header (byte 0: bit 0 read-only, bits 1-3 the number of
 * 4 KiB blocks - 1; byte 1: the seed of the image's bytes), then ops of
 * 12 bytes:
 *
 *   [0]      bits 0-1: write, read, command (one byte from a table of the
 *            commands the device knows and some it does not, [4] picks),
 *            other ([4] % 4: reset, sync, fail the next map, nothing);
 *            bits 2-3: log2 of the width (1 to 8 bytes)
 *   [1..3]   le24: the offset, modulo the device's size + 64
 *   [4..11]  le64: the value written
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
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "firmware/pflash.h"
#include "viv-bytes.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define BLOCK       4096u
#define MAX_BLOCKS  8u
#define OP_LEN      12u
#define END_4G      0x100000000ULL

enum { OP_WRITE, OP_READ, OP_COMMAND, OP_OTHER };

static const uint8_t commands[] = {
  0x00, 0x01, 0x10, 0x20, 0x28, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xb0, 0xd0, 0xe8,
  0xf0, 0xff, 0x42, 0x03,
};

struct fake {
  uint64_t size;
  int mapped;                /* handle, or -1 */
  int next_handle;
  uint8_t *host;             /* what the first map gave */
  int fail;
};

static void
check (bool ok, const char *what)
{
  if (!ok)
    {
      fprintf (stderr, "fuzz-pflash: %s\n", what);
      abort ();
    }
}

static int
fake_map (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
  struct fake *f = opaque;

  if (f->fail)
    {
      f->fail = 0;
      return -ENOMEM;
    }
  check (f->mapped < 0, "mapped twice");
  check (gpa == END_4G - f->size && size == f->size, "mapping is not the whole device");
  check (readonly, "mapping is writable");
  check (f->host == NULL || f->host == host, "mapping moved");
  f->host = host;
  f->mapped = f->next_handle++;
  return f->mapped;
}

static void
fake_unmap (void *opaque, int handle)
{
  struct fake *f = opaque;

  check (f->mapped >= 0 && handle == f->mapped, "unmap of a handle that is not mapped");
  f->mapped = -1;
}

static const struct vmm_pflash_ops fake_ops = {
  .map = fake_map,
  .unmap = fake_unmap,
};

static int image_fd = -1;
static int log_fd = -1;

static void
file_read (uint8_t *buf, uint64_t size)
{
  struct stat st;

  check (fstat (image_fd, &st) == 0 && (uint64_t) st.st_size == size, "the file changed size");
  check (pread (image_fd, buf, size, 0) == (ssize_t) size, "cannot read the file back");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static uint8_t image[MAX_BLOCKS * BLOCK], now[MAX_BLOCKS * BLOCK];
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  struct vmm_pflash_config config = { 0 };
  struct fake fake = { .mapped = -1, .next_handle = 1 };
  struct vmm_pflash *flash;
  uint64_t image_size;
  bool readonly;

  if (size < 2)
    return 0;
  if (image_fd < 0)
    {
      image_fd = memfd_create ("fuzz-pflash", MFD_CLOEXEC);
      check (image_fd >= 0, "memfd_create");
      /* the device's rate-limited guest warnings: kept out of the output */
      log_fd = vmm_test_log_capture ();
    }
  readonly = data[0] & 1;
  image_size = (uint64_t) (((data[0] >> 1) & 7) + 1) * BLOCK;
  for (uint64_t i = 0; i < image_size; i++)
    image[i] = (uint8_t) (data[1] + i * 13 + (i >> 8));
  check (ftruncate (image_fd, 0) == 0 && ftruncate (image_fd, (off_t) image_size) == 0,
         "ftruncate");
  check (pwrite (image_fd, image, image_size, 0) == (ssize_t) image_size, "pwrite");
  data += 2;
  size -= 2;

  path = g_strdup_printf ("/proc/self/fd/%d", image_fd);
  config.path = path;
  config.readonly = readonly;
  config.end = END_4G;
  fake.size = image_size;
  flash = vmm_pflash_new (&config, &fake_ops, &fake, &error);
  if (flash == NULL)
    {
      fprintf (stderr, "fuzz-pflash: %s\n", error->message);
      abort ();
    }
  check (fake.mapped >= 0, "not mapped at the start");

  for (; size >= OP_LEN; data += OP_LEN, size -= OP_LEN)
    {
      uint32_t width = 1u << ((data[0] >> 2) & 3);
      uint64_t offset = (data[1] | (data[2] << 8) | ((uint32_t) data[3] << 16))
                        % (image_size + 64);
      uint64_t value = viv_get_le64 (data + 4);

      switch (data[0] & 3)
        {
        case OP_WRITE:
          vmm_test_dev_out (&vmm_pflash_ops, flash, offset, width, value);
          break;
        case OP_READ:
          {
            uint64_t got = vmm_test_dev_in (&vmm_pflash_ops, flash, offset, width);
            uint64_t want = 0;

            if (fake.mapped >= 0 && offset + width <= image_size)
              {
                memcpy (&want, fake.host + offset, width);
                check (got == want, "a read in read-array mode differs from the mapping");
              }
            break;
          }
        case OP_COMMAND:
          vmm_test_dev_out (&vmm_pflash_ops, flash, offset, 1,
                            commands[data[4] % sizeof commands]);
          break;
        default:
          switch (data[4] % 4)
            {
            case 0:
              {
                bool failing = fake.fail != 0;

                vmm_pflash_reset (flash);
                check (fake.mapped >= 0 || failing, "not mapped after a reset");
                break;
              }
            case 1:
              check (vmm_pflash_sync (flash) == 0, "sync failed");
              break;
            case 2:
              fake.fail = 1;
              break;
            default:
              break;
            }
          break;
        }
      file_read (now, image_size);
      if (readonly)
        check (memcmp (now, image, image_size) == 0, "a read-only device changed its file");
    }

  /* Back to read array: a program waiting for its data takes the first
   * 0x50 as data. */
  fake.fail = 0;
  vmm_test_dev_out (&vmm_pflash_ops, flash, 0, 1, 0x50);
  vmm_test_dev_out (&vmm_pflash_ops, flash, 0, 1, 0x50);
  vmm_test_dev_out (&vmm_pflash_ops, flash, 0, 1, 0xff);
  check (fake.mapped >= 0, "not mapped in read-array mode");
  check (vmm_pflash_sync (flash) == 0, "sync failed");
  file_read (now, image_size);
  check (memcmp (now, fake.host, image_size) == 0, "the file differs from the memory");
  if (readonly)
    check (memcmp (fake.host, image, image_size) == 0, "a read-only device changed");
  vmm_pflash_free (flash);
  check (fake.mapped < 0, "still mapped after free");
  g_free (vmm_test_log_take (log_fd));
  return 0;
}
