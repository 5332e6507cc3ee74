/* fuzz-virtio-blk.c: virtio-blk driven through its virtio-pci transport
 *
 * The device as it runs in a VM: its I/O thread, the aio engine (io_uring,
 * or its threads) on a small raw image, the modern virtio-pci transport on
 * an MMIO bus, over fake guest RAM, with KVM faked (vmm-test-virtio.c).
 * The input is the guest: what it writes to the common configuration
 * (features, queue layout, status), what it puts in RAM (rings, requests,
 * indirect tables), and when it kicks and reads.
 *
 * Each input does bounded work and leaves nothing behind: a wait is for
 * the requests taken to be answered, at most WAIT_MS (longer is a finding:
 * a request lost); the device is reset at the end (which waits for what
 * is in flight) and RAM goes back to zeroes. A device loop that does not
 * end is a timeout (libFuzzer's -timeout, replay's alarm): a finding.
 *
 * Input: a 64-byte header, N_OPS ops of 8 bytes, then RAM from address 0
 * (at most IMAGE_MAX bytes).
 *
 *   [0..7]    driver features (masked with what the device offers, unless
 *             the setup op says raw)
 *   [8..21]   queue 0: size u16, desc u32, avail u32, used u32 (size 0:
 *             left alone)
 *   [22..35]  queue 1, the same
 *   [36]      n_ops
 *
 *   op: kind u8, a u8, b u16, c u32 (little-endian)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "log.h"
#include "viv-bytes.h"
#include "virtio/blk.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN   64u
#define OP_LEN       8u
#define IMAGE_MAX    0x40000u       /* RAM the input can fill: 256 KiB */
#define DISK_SIZE    (1024u * 1024u)
#define N_QUEUES     2u
#define WAIT_MS      5000u

/* The common configuration (virtio 1.2, 4.1.4.3) */
#define CC_STATUS    0x14
#define COMMON_LEN   0x3c
#define ISR_OFF      0x1000
#define DEVICE_OFF   0x2000
#define CONFIG_LEN   60

enum { OP_SETUP, OP_KICK, OP_WAIT, OP_COMMON, OP_CONFIG, OP_POKE, OP_ISR, OP_RESET, N_OPS };

struct fuzz {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_blk *blk;
  struct vmm_virtio_dev *dev;
  uint64_t offered;
  char *dir, *path;
  bool trace;                   /* VIVARIUM_FUZZ_TRACE: what each op did, on stderr */
};

static struct fuzz *fz;

static void
cleanup (void)
{
  if (fz == NULL)
    return;
  vmm_test_virtio_stop (&fz->t);
  vmm_virtio_blk_free (fz->blk);
  vmm_test_virtio_clear (&fz->t);
  g_unlink (fz->path);
  g_rmdir (fz->dir);
}

static struct fuzz *
fuzz_new (void)
{
  g_autoptr (GError) error = NULL;
  struct vmm_disk_spec spec = { 0 };
  struct fuzz *f = calloc (1, sizeof *f);
  int fd;

  /* guests that get things wrong are logged; here that is every input */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));
  f->dir = g_dir_make_tmp ("fuzz-virtio-blk-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "disk.raw", NULL);
  fd = open (f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, DISK_SIZE), ==, 0);
  close (fd);

  spec.path = f->path;
  spec.format = VMM_BLOCK_FORMAT_RAW;
  spec.cache = VMM_DISK_CACHE_WRITEBACK;
  spec.serial = "fuzz";
  vmm_test_virtio_init (&f->t, &f->env);
  f->blk = vmm_virtio_blk_new (&f->env, &spec, N_QUEUES, false, &error);
  g_assert_no_error (error);
  f->dev = vmm_virtio_blk_dev (f->blk);
  vmm_test_virtio_plug (&f->t, f->dev);
  f->offered = vmm_test_virtio_device_features (&f->t);
  f->trace = g_getenv ("VIVARIUM_FUZZ_TRACE") != NULL;
  atexit (cleanup);
  return f;
}

/* Whether every chain the device took from an enabled queue was answered
 * (without DRIVER_OK, answers go nowhere: nothing to wait for) */
static bool
all_answered (struct fuzz *f)
{
  bool done = true;

  pthread_mutex_lock (&f->dev->lock);
  if (f->dev->status & VIRTIO_STATUS_DRIVER_OK)
    for (unsigned q = 0; q < N_QUEUES; q++)
      if (f->dev->queues[q].enabled &&
          f->dev->queues[q].vq.used_idx != f->dev->queues[q].vq.last_avail_idx)
        done = false;
  pthread_mutex_unlock (&f->dev->lock);
  return done;
}

static void
wait_answered (struct fuzz *f)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * 1000;

  /* Completions come within microseconds from the page cache: poll */
  while (!all_answered (f))
    {
      if (g_get_monotonic_time () > deadline)
        {
          fprintf (stderr, "requests the device took were not answered in %u ms\n", WAIT_MS);
          abort ();
        }
      g_usleep (20);
    }
}

static void
setup (struct fuzz *f, const uint8_t *hdr, uint8_t how)
{
  vmm_test_virtio_setup_from (&f->t, hdr, N_QUEUES, f->offered, how);
}

static void
run_op (struct fuzz *f, const uint8_t *hdr, const uint8_t *op)
{
  uint8_t a = op[1];
  uint16_t b = viv_get_le16 (op + 2);
  uint32_t c = viv_get_le32 (op + 4);
  static const uint32_t widths[] = { 1, 2, 4, 8 };

  switch (op[0] % N_OPS)
    {
    case OP_SETUP:
      setup (f, hdr, a);
      break;
    case OP_KICK:
      vmm_test_virtio_kick (&f->t, a % (N_QUEUES + 1));
      break;
    case OP_WAIT:
      wait_answered (f);
      break;
    case OP_COMMON:
      {
        uint32_t len = widths[b % 3];
        uint32_t off = (a % (COMMON_LEN / len)) * len;

        vmm_test_virtio_write (&f->t, off, len, c);
      }
      break;
    case OP_CONFIG:
      {
        uint32_t len = widths[b % 4];

        vmm_test_virtio_read (&f->t, DEVICE_OFF + a % (CONFIG_LEN + 4), len);
      }
      break;
    case OP_POKE:
      /* The guest, meanwhile, on another vCPU */
      vmm_test_put16 (&f->t.ram.mem, c % (IMAGE_MAX - 1), b);
      break;
    case OP_ISR:
      vmm_test_virtio_read (&f->t, ISR_OFF, 1);
      break;
    case OP_RESET:
      vmm_test_virtio_write (&f->t, CC_STATUS, 1, 0);
      break;
    }
  if (f->trace)
    {
      pthread_mutex_lock (&f->dev->lock);
      fprintf (stderr, "op %u: status %#x", op[0] % N_OPS, f->dev->status);
      for (unsigned q = 0; q < N_QUEUES; q++)
        {
          const struct virtq *vq = &f->dev->queues[q].vq;

          fprintf (stderr, "; queue %u: %s, taken %u, answered %u", q,
                   f->dev->queues[q].enabled ? "on" : "off", vq->last_avail_idx, vq->used_idx);
          for (uint16_t i = 0; i < vq->used_idx && i < 4 && vq->started; i++)
            fprintf (stderr, " (%u: %u bytes)", viv_get_le32 ((const uint8_t *) vq->used + 4 + 8 * i),
                     viv_get_le32 ((const uint8_t *) vq->used + 8 + 8 * i));
        }
      fprintf (stderr, "\n");
      pthread_mutex_unlock (&f->dev->lock);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmm_mem_region *ram;
  struct fuzz *f;
  size_t n_ops, image;

  if (size < HEADER_LEN)
    return 0;
  if (fz == NULL)
    fz = fuzz_new ();
  f = fz;
  ram = &f->t.ram.mem.regions[0];

  n_ops = MIN (data[36], (size - HEADER_LEN) / OP_LEN);
  image = MIN (size - HEADER_LEN - n_ops * OP_LEN, IMAGE_MAX);
  memcpy (ram->host, data + HEADER_LEN + n_ops * OP_LEN, image);

  for (size_t i = 0; i < n_ops; i++)
    run_op (f, data, data + HEADER_LEN + i * OP_LEN);

  /* Nothing left for the next input: the reset waits for what is in
   * flight, and RAM reads as zeroes again. The window the input fills is
   * zeroed in place (a page fault per page per input would cost more than
   * the rest of the input); beyond it, pages the device wrote go back to
   * the kernel's zero page. */
  vmm_test_virtio_write (&f->t, CC_STATUS, 1, 0);
  memset (ram->host, 0, IMAGE_MAX);
  if (madvise (ram->host + IMAGE_MAX, ram->size - IMAGE_MAX, MADV_DONTNEED) != 0)
    abort ();
  return 0;
}
