/* test-virtio-rng.c: the entropy device on a fake queue, and the
 * transport's MSI-X on it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "loop.h"
#include "virtio/rng.h"
#include "vmm-test.h"

#define TIMEOUT_MS 10000u

/* How many of LEN bytes at GPA still hold the 0xee they were given */
static uint32_t
untouched (struct vmm_test_virtio *t, uint64_t gpa, uint32_t len)
{
  const uint8_t *p = vmm_test_ptr (&t->ram.mem, gpa, len);
  uint32_t n = 0;

  for (uint32_t i = 0; i < len; i++)
    n += p[i] == 0xee;
  return n;
}

static void
test_fill (void)
{
  const uint32_t lens[] = { 64, 200 * 1024, 1 };
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *fill = g_malloc (200 * 1024);
  struct vmm_test_buf bufs[G_N_ELEMENTS (lens)];
  struct vmm_virtio_env env;
  struct vmm_virtio_rng *rng;
  struct vmm_test_virtio t;
  struct vmm_test_vq *vq;
  uint32_t id, len;
  int log_fd;

  log_fd = vmm_test_log_capture ();
  vmm_test_virtio_init (&t, &env);
  rng = vmm_virtio_rng_new (&env, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&t, vmm_virtio_rng_dev (rng));
  g_assert_cmpuint (vmm_test_virtio_setup (&t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  vq = &t.vq[0];

  /* Each buffer filled, a request at most 64 KiB, one kick for all */
  memset (fill, 0xee, 200 * 1024);
  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      bufs[i] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, fill, lens[i]), lens[i], true };
      vmm_test_vq_add_bufs (vq, &bufs[i], 1);
    }
  vmm_test_virtio_kick (&t, 0);
  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      uint32_t want = MIN (lens[i], 64 * 1024);

      g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
      g_assert_cmpuint (id, ==, i);
      g_assert_cmpuint (len, ==, want);
      /* random bytes: about 1 in 256 is 0xee (3 of 64 happens about once
       * in 460 runs; 8 of 64, once in 10^9) */
      g_assert_cmpuint (untouched (&t, bufs[i].gpa, want), <, want / 32 + 6);
      g_assert_cmpuint (untouched (&t, bufs[i].gpa + want, lens[i] - want), ==, lens[i] - want);
    }
  g_assert_cmpuint (vmm_test_virtio_isr (&t) & 1, ==, 1);

  /* Nothing writable: given back empty, and logged */
  bufs[0].writable = false;
  vmm_test_vq_add_bufs (vq, &bufs[0], 1);
  vmm_test_virtio_kick (&t, 0);
  g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (len, ==, 0);
  vmm_test_log_expect (log_fd, "virtio-rng: a request with no writable bytes");

  vmm_test_virtio_stop (&t);
  vmm_virtio_rng_free (rng);
  vmm_test_virtio_clear (&t);
  vmm_test_log_release (log_fd);
}

/* A drain takes at most a budget of chains (issue 16: a driver refilling
 * the ring from another vCPU must not keep the device's thread for ever);
 * what is left is taken when the device comes back to the queue by
 * itself, without another kick. */
static void
test_budget (void)
{
  g_autoptr (GError) error = NULL;
  struct vmm_virtio_env env;
  struct vmm_virtio_rng *rng;
  struct vmm_test_virtio t;
  uint32_t id, len;

  vmm_test_virtio_init (&t, &env);
  rng = vmm_virtio_rng_new (&env, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&t, vmm_virtio_rng_dev (rng));
  g_assert_cmpuint (vmm_test_virtio_setup (&t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  g_assert_cmpuint (virtq_drain_budget (&vmm_virtio_rng_dev (rng)->queues[0].vq), ==, 8);
  vmm_virtio_rng_dev (rng)->queues[0].vq.drain_budget = 3;

  for (unsigned i = 0; i < 8; i++)
    {
      struct vmm_test_buf b = { vmm_test_vq_copy (&t.vq[0], NULL, 16), 16, true };

      vmm_test_vq_add_bufs (&t.vq[0], &b, 1);
    }
  vmm_test_virtio_kick (&t, 0);
  for (unsigned i = 0; i < 8; i++)
    {
      g_assert_true (vmm_test_vq_wait_used (&t.vq[0], &id, &len, TIMEOUT_MS));
      g_assert_cmpuint (id, ==, i);
      g_assert_cmpuint (len, ==, 16);
    }
  g_assert_cmpuint (vmm_test_virtio_read (&t, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET, ==, 0);

  vmm_test_virtio_stop (&t);
  vmm_virtio_rng_free (rng);
  vmm_test_virtio_clear (&t);
}

/* The transport's MSI-X, on the simplest device: the table as the driver
 * writes it, a masked vector's pending bit, and the irqfd written when
 * it fires. */
#define MSIX_TABLE   0x4000
#define MSIX_PBA     0x5000
#define CC_MSIX      0x10
#define CC_Q_SELECT  0x16
#define CC_Q_MSIX    0x1a

static void
refill (struct vmm_test_virtio *t)
{
  struct vmm_test_buf b = { vmm_test_vq_copy (&t->vq[0], NULL, 16), 16, true };
  uint32_t id, len;

  vmm_test_vq_add_bufs (&t->vq[0], &b, 1);
  vmm_test_virtio_kick (t, 0);
  g_assert_true (vmm_test_vq_wait_used (&t->vq[0], &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (len, ==, 16);
}

static void
test_msix (void)
{
  g_autoptr (GError) error = NULL;
  struct vmm_virtio_env env;
  struct vmm_virtio_rng *rng;
  struct vmm_virtio_dev *dev;
  struct vmm_test_virtio t;
  uint8_t *ctrl;

  vmm_test_virtio_init (&t, &env);
  rng = vmm_virtio_rng_new (&env, &error);
  g_assert_no_error (error);
  dev = vmm_virtio_rng_dev (rng);
  vmm_test_virtio_plug (&t, dev);
  g_assert_cmpuint (vmm_test_virtio_setup (&t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);

  /* vectors: 0 for config changes, 1 for the queue; out of range is none */
  vmm_test_virtio_write (&t, CC_MSIX, 2, 0);
  vmm_test_virtio_write (&t, CC_Q_SELECT, 2, 0);
  vmm_test_virtio_write (&t, CC_Q_MSIX, 2, 7);
  g_assert_cmphex (vmm_test_virtio_read (&t, CC_Q_MSIX, 2), ==, VIRTIO_MSI_NO_VECTOR);
  vmm_test_virtio_write (&t, CC_Q_MSIX, 2, 1);
  g_assert_cmpuint (vmm_test_virtio_read (&t, CC_Q_MSIX, 2), ==, 1);

  /* the table, in dwords and a qword, little-endian; masked to start with */
  vmm_test_virtio_write (&t, MSIX_TABLE + 16, 4, 0xfee01000);
  vmm_test_virtio_write (&t, MSIX_TABLE + 20, 4, 0);
  vmm_test_virtio_write (&t, MSIX_TABLE + 24, 4, 0x4041);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 16, 8), ==, 0xfee01000);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 24, 4), ==, 0x4041);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 28, 4), ==, 1);
  vmm_test_virtio_write (&t, MSIX_TABLE + 16, 8, 0x12345678fee02000ull);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 20, 4), ==, 0x12345678);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 16, 4), ==, 0xfee02000);
  /* a partial access to an entry is ignored */
  vmm_test_virtio_write (&t, MSIX_TABLE + 24, 2, 0xffff);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_TABLE + 24, 4), ==, 0x4041);

  /* MSI-X on, as the PCI host passes a config write on */
  ctrl = &dev->pci.config[dev->msix_cap + 2];
  vmm_pci_set16 (ctrl, (uint16_t) (vmm_pci_get16 (ctrl) | 0x8000));
  dev->pci.ops->config_write (&dev->pci, dev->msix_cap + 2, 2);

  /* masked: the pending bit, no interrupt */
  refill (&t);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_PBA, 8), ==, 1u << 1);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_PBA, 1), ==, 1u << 1);
  g_assert_cmpuint (vmm_eventfd_drain (dev->irqfds[1]), ==, 0);
  /* unmasked: it fires, and the bit clears */
  vmm_test_virtio_write (&t, MSIX_TABLE + 28, 4, 0);
  g_assert_cmpuint (vmm_eventfd_drain (dev->irqfds[1]), ==, 1);
  g_assert_cmphex (vmm_test_virtio_read (&t, MSIX_PBA, 8), ==, 0);
  refill (&t);
  g_assert_cmpuint (vmm_eventfd_drain (dev->irqfds[1]), ==, 1);
  g_assert_cmpuint (vmm_eventfd_drain (dev->irqfds[0]), ==, 0);

  vmm_test_virtio_stop (&t);
  vmm_virtio_rng_free (rng);
  vmm_test_virtio_clear (&t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-rng/fill", test_fill);
  g_test_add_func ("/virtio-rng/budget", test_budget);
  g_test_add_func ("/virtio-pci/msix", test_msix);
  return g_test_run ();
}
