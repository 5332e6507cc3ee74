/* fuzz-virtio-gpu.c: virtio-gpu's commands from a hostile guest
 *
 * The device as it runs in a VM, on its virtio-pci transport over fake
 * guest RAM with KVM faked (vmm-test-virtio.c), with a listener that reads
 * every pixel it is shown (the whole surface when it is set, the flushed
 * rectangle, the cursor), so a read outside a resource is a sanitizer
 * report. The rings are laid out by the harness (virtq's own target fuzzes
 * them); the input is what a driver puts in them: the commands, the guest
 * RAM their backing entries point at, and when it resets, resizes and
 * clears events.
 *
 * Input: a 16-byte header, then records until the input ends:
 *
 *   header  driver features (le64, masked with what the device offers),
 *           8 bytes unused
 *   record  kind u8, arg u8, len le16, then LEN bytes of payload (cut
 *           short where the input ends)
 *
 *   CMD     a command (the payload) on queue arg & 1, with a response
 *           buffer of 1056 bytes (16 if arg & 2); the request split into
 *           two descriptors after (arg >> 2) × 4 bytes when that is inside
 *           it; kicked and waited for
 *   QUEUE   the same, not kicked: the next CMD's kick takes it too
 *   RAM     payload[4..] written to guest RAM at le32 payload[0..3]
 *           (within the first RAM_WINDOW bytes)
 *   RESIZE  request_size (le32 width, le32 height of the payload) from
 *           this thread; waits for the display event when the size is
 *           not zero
 *   CLEAR   writes le32 payload to events_clear
 *   RESET   a device reset, then the driver's set-up again
 *
 * Each input starts from a fresh set-up and ends with a reset, which frees
 * every resource; RAM goes back to zeroes. A command not answered within
 * WAIT_MS is a finding (abort).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "viv-bytes.h"
#include "virtio/gpu.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER_LEN   16u
#define RECORD_LEN   4u
#define RAM_WINDOW   0x100000u      /* below the rings (vmm-test-virtio.c) */
#define RESP_LEN     1056u
#define RESP_SHORT   16u
#define QUEUE_SIZE   64u
#define WAIT_MS      5000u
#define CC_STATUS    0x14
#define DEVICE_OFF   0x2000

enum { REC_CMD, REC_QUEUE, REC_RAM, REC_RESIZE, REC_CLEAR, REC_RESET, N_RECORDS };

struct fuzz {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_gpu *gpu;
  struct vmm_virtio_dev *dev;
  uint64_t offered;
  uint64_t features;
  unsigned queued[2];           /* chains added and not yet waited for */
  uint32_t sum;                 /* what the listener read, so it is not optimised out */
};

static struct fuzz *fz;

/* ---- a listener that looks at everything it is shown ---------------------------------- */

static void
read_rows (struct fuzz *f, const uint8_t *p, uint32_t stride, uint32_t x, uint32_t y,
           uint32_t w, uint32_t h)
{
  for (uint32_t r = 0; r < h; r++)
    {
      const uint8_t *row = p + (uint64_t) (y + r) * stride + (uint64_t) x * 4;

      /* first and last byte of each row: enough for ASan, cheap enough to
       * fuzz fast */
      f->sum += row[0] + row[(uint64_t) w * 4 - 1];
    }
}

static void
on_set_surface (void *data, const struct vmm_display_surface *s)
{
  if (s != NULL)
    read_rows (data, s->pixels, s->stride, 0, 0, s->width, s->height);
}

static void
on_update (void *data, const struct vmm_display_surface *s, uint32_t x, uint32_t y,
           uint32_t w, uint32_t h)
{
  if (w == 0 || h == 0 || x + w > s->width || y + h > s->height)
    abort ();   /* display.h: the rectangle is within the surface */
  read_rows (data, s->pixels, s->stride, x, y, w, h);
}

static void
on_set_cursor (void *data, const struct vmm_display_cursor *c, int32_t x, int32_t y)
{
  (void) x, (void) y;
  if (c != NULL)
    read_rows (data, c->pixels, c->width * 4, 0, 0, c->width, c->height);
}

static void
on_move_cursor (void *data, int32_t x, int32_t y)
{
  (void) data, (void) x, (void) y;
}

/* ---- the machine ------------------------------------------------------------------------ */

static void
cleanup (void)
{
  if (fz == NULL)
    return;
  vmm_test_virtio_stop (&fz->t);
  vmm_virtio_gpu_free (fz->gpu);
  vmm_test_virtio_clear (&fz->t);
}

static struct fuzz *
fuzz_new (void)
{
  g_autoptr (GError) error = NULL;
  struct vmm_virtio_gpu_config config = { 1024, 768 };
  struct fuzz *f = calloc (1, sizeof *f);
  struct vmm_display_listener listener = {
    on_set_surface, on_update, on_set_cursor, on_move_cursor, f,
  };

  /* guests that get things wrong are logged; here that is every input */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));
  vmm_test_virtio_init (&f->t, &f->env);
  f->gpu = vmm_virtio_gpu_new (&f->env, &config, &error);
  g_assert_no_error (error);
  f->dev = vmm_virtio_gpu_dev (f->gpu);
  vmm_virtio_gpu_set_listener (f->gpu, &listener);
  vmm_test_virtio_plug (&f->t, f->dev);
  f->offered = vmm_test_virtio_device_features (&f->t);
  atexit (cleanup);
  return f;
}

static void
setup (struct fuzz *f)
{
  if (!(vmm_test_virtio_setup (&f->t, f->features, 2, QUEUE_SIZE) & VIRTIO_STATUS_DRIVER_OK))
    abort ();
  f->queued[0] = f->queued[1] = 0;
}

static void
wait_all (struct fuzz *f, unsigned q)
{
  for (; f->queued[q] > 0; f->queued[q]--)
    {
      uint32_t id, len;

      if (!vmm_test_vq_wait_used (&f->t.vq[q], &id, &len, WAIT_MS))
        {
          fprintf (stderr, "a command on queue %u was not answered in %u ms\n", q, WAIT_MS);
          abort ();
        }
    }
}

static void
add_command (struct fuzz *f, uint8_t arg, const uint8_t *p, uint16_t len, bool kick)
{
  unsigned q = arg & 1;
  struct vmm_test_vq *vq = &f->t.vq[q];
  uint32_t split = (uint32_t) (arg >> 2) * 4;
  uint32_t resp = (arg & 2) ? RESP_SHORT : RESP_LEN;
  struct vmm_test_buf bufs[3];
  static const uint8_t zero;
  unsigned n = 0;

  /* a full ring: what is in it is answered first */
  if (f->queued[q] >= QUEUE_SIZE / 2)
    {
      vmm_test_virtio_kick (&f->t, q);
      wait_all (f, q);
    }
  if (len == 0)
    {
      /* a descriptor of 0 bytes would leave the chain without a readable
       * part: one zero byte instead (P may be the end of the input) */
      p = &zero;
      len = 1;
    }
  if (split > 0 && split < len)
    {
      bufs[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, p, split), split, false };
      bufs[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, p + split, len - split),
                                          len - split, false };
    }
  else
    bufs[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, p, len), len, false };
  bufs[n++] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, resp), resp, true };
  vmm_test_vq_add_bufs (vq, bufs, n);
  f->queued[q]++;
  if (kick)
    {
      vmm_test_virtio_kick (&f->t, q);
      wait_all (f, q);
    }
}

static bool
event_raised (void *data)
{
  struct fuzz *f = data;

  return (vmm_test_virtio_read (&f->t, DEVICE_OFF, 4) & 1) != 0;
}

static void
run_record (struct fuzz *f, uint8_t kind, uint8_t arg, const uint8_t *p, uint16_t len)
{
  uint8_t payload[8] = { 0 };

  memcpy (payload, p, MIN (len, sizeof payload));
  switch (kind % N_RECORDS)
    {
    case REC_CMD:
    case REC_QUEUE:
      add_command (f, arg, p, len, kind % N_RECORDS == REC_CMD);
      break;
    case REC_RAM:
      if (len > 4)
        {
          uint32_t addr = viv_get_le32 (payload) % RAM_WINDOW;
          uint32_t n = MIN ((uint32_t) len - 4, RAM_WINDOW - addr);

          memcpy (vmm_test_ptr (&f->t.ram.mem, addr, n), p + 4, n);
        }
      break;
    case REC_RESIZE:
      {
        uint32_t w = viv_get_le32 (payload), h = viv_get_le32 (payload + 4);

        vmm_test_virtio_write (&f->t, DEVICE_OFF + 4, 4, 1);
        vmm_virtio_gpu_request_size (f->gpu, w, h);
        if (w != 0 && h != 0 && !vmm_test_wait_until (event_raised, f, WAIT_MS))
          {
            fprintf (stderr, "no display event for a new size in %u ms\n", WAIT_MS);
            abort ();
          }
      }
      break;
    case REC_CLEAR:
      vmm_test_virtio_write (&f->t, DEVICE_OFF + 4, 4, viv_get_le32 (payload));
      break;
    case REC_RESET:
      for (unsigned q = 0; q < 2; q++)
        {
          vmm_test_virtio_kick (&f->t, q);
          wait_all (f, q);
        }
      vmm_test_virtio_write (&f->t, CC_STATUS, 1, 0);
      setup (f);
      break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmm_mem_region *ram;
  struct fuzz *f;
  size_t at;

  if (size < HEADER_LEN)
    return 0;
  if (fz == NULL)
    fz = fuzz_new ();
  f = fz;
  ram = &f->t.ram.mem.regions[0];

  f->features = viv_get_le64 (data) & f->offered;
  setup (f);
  for (at = HEADER_LEN; at + RECORD_LEN <= size;)
    {
      uint16_t len = viv_get_le16 (data + at + 2);

      if (len > size - at - RECORD_LEN)
        len = (uint16_t) (size - at - RECORD_LEN);
      run_record (f, data[at], data[at + 1], data + at + RECORD_LEN, len);
      at += RECORD_LEN + len;
    }
  for (unsigned q = 0; q < 2; q++)
    {
      vmm_test_virtio_kick (&f->t, q);
      wait_all (f, q);
    }

  /* Nothing left for the next input: the reset frees every resource, and
   * RAM reads as zeroes again (the window in place, the rest given back) */
  vmm_test_virtio_write (&f->t, CC_STATUS, 1, 0);
  memset (ram->host, 0, RAM_WINDOW);
  if (madvise (ram->host + RAM_WINDOW, ram->size - RAM_WINDOW, MADV_DONTNEED) != 0)
    abort ();
  return 0;
}
