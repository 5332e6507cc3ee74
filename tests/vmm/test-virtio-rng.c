/* test-virtio-rng.c: the entropy device on a fake queue, and the
 * transport's MSI-X on it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "loop.h"
#include "snapshot/state.h"
#include "viv-bytes.h"
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

/* ---- snapshots ------------------------------------------------------------------ */

#define CC_STATUS    0x14
#define CC_CFGGEN    0x15
#define CC_Q_SIZE    0x18
#define CC_Q_ENABLE  0x1c
#define CC_Q_DESC    0x20
#define CC_Q_AVAIL   0x28
#define CC_Q_USED    0x30

struct rng_fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_rng *rng;
  struct vmm_virtio_dev *dev;
};

static void
rng_fx_init (struct rng_fx *f)
{
  g_autoptr (GError) error = NULL;

  vmm_test_virtio_init (&f->t, &f->env);
  f->rng = vmm_virtio_rng_new (&f->env, &error);
  g_assert_no_error (error);
  f->dev = vmm_virtio_rng_dev (f->rng);
  vmm_test_virtio_plug (&f->t, f->dev);
}

static void
rng_fx_clear (struct rng_fx *f)
{
  vmm_test_virtio_stop (&f->t);
  vmm_virtio_rng_free (f->rng);
  vmm_test_virtio_clear (&f->t);
}

static uint16_t
msix_ctrl (struct vmm_virtio_dev *dev)
{
  return vmm_pci_get16 (&dev->pci.config[dev->msix_cap + 2]);
}

/* MSI-X's enable bit, as the PCI host restores the function's config space */
static void
set_msix_ctrl (struct vmm_virtio_dev *dev, uint16_t ctrl)
{
  vmm_pci_set16 (&dev->pci.config[dev->msix_cap + 2], ctrl);
}

/* A running device with MSI-X (the queue's vector unmasked, the config
 * vector masked with an interrupt pending), three buffers served, saved;
 * restored into a fresh device over a copy of the guest's memory, it goes
 * on: the next buffer from the next slot of the rings, the used index
 * after the saved one, the interrupt through the same route. */
static void
test_state (void)
{
  g_autoptr (GBytes) file = NULL;
  struct rng_fx a, b;
  uint64_t address;
  uint32_t data, id, len;
  uint16_t ctrl;

  rng_fx_init (&a);
  g_assert_cmpuint (vmm_test_virtio_setup (&a.t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  vmm_test_virtio_write (&a.t, CC_MSIX, 2, 0);
  vmm_test_virtio_write (&a.t, CC_Q_SELECT, 2, 0);
  vmm_test_virtio_write (&a.t, CC_Q_MSIX, 2, 1);
  vmm_test_virtio_write (&a.t, MSIX_TABLE + 0, 8, 0xfee03000);
  vmm_test_virtio_write (&a.t, MSIX_TABLE + 8, 4, 0x4030);
  vmm_test_virtio_write (&a.t, MSIX_TABLE + 16, 8, 0xfee04000);
  vmm_test_virtio_write (&a.t, MSIX_TABLE + 24, 4, 0x4041);
  vmm_test_virtio_write (&a.t, MSIX_TABLE + 28, 4, 0);          /* vector 1 unmasked */
  set_msix_ctrl (a.dev, (uint16_t) (msix_ctrl (a.dev) | 0x8000));
  a.dev->pci.ops->config_write (&a.dev->pci, a.dev->msix_cap + 2, 2);
  for (unsigned i = 0; i < 3; i++)
    refill (&a.t);
  g_assert_cmpuint (vmm_eventfd_drain (a.dev->irqfds[1]), >=, 1);
  /* a config change while vector 0 is masked: pending */
  pthread_mutex_lock (&a.dev->lock);
  vmm_virtio_config_changed (a.dev);
  pthread_mutex_unlock (&a.dev->lock);
  g_assert_cmphex (vmm_test_virtio_read (&a.t, MSIX_PBA, 8), ==, 1);

  file = vmm_test_virtio_save (a.dev, "virtio-rng.0");
  /* the transport's section only: rng has no state of its own */
  g_assert_cmpuint (g_bytes_get_size (file), <, 512);
  ctrl = msix_ctrl (a.dev);

  /* The machine comes back in another process: the same memory, a new
   * device with its own eventfds and GSIs */
  rng_fx_init (&b);
  vmm_test_virtio_copy_guest (&b.t, &a.t);
  rng_fx_clear (&a);
  set_msix_ctrl (b.dev, ctrl);
  g_assert_false (vmm_test_fake_msi (b.dev->gsis[1], &address, &data));
  vmm_test_virtio_load (b.dev, file, "virtio-rng.0");

  /* what the driver reads */
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_STATUS, 1), ==,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                    VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_Q_MSIX, 2), ==, 1);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_MSIX, 2), ==, 0);
  g_assert_cmphex (vmm_test_virtio_read (&b.t, MSIX_TABLE + 16, 8), ==, 0xfee04000);
  g_assert_cmphex (vmm_test_virtio_read (&b.t, MSIX_TABLE + 12, 4), ==, 1);
  g_assert_cmphex (vmm_test_virtio_read (&b.t, MSIX_PBA, 8), ==, 1);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_CFGGEN, 1), ==, 1);
  g_assert_cmpuint (vmm_test_virtio_isr (&b.t), ==, 3);
  /* KVM's route for the unmasked vector is back */
  g_assert_true (vmm_test_fake_msi (b.dev->gsis[1], &address, &data));
  g_assert_cmphex (address, ==, 0xfee04000);
  g_assert_cmphex (data, ==, 0x4041);

  /* the next buffer: ring slot 3, used index 4, vector 1 fires */
  refill (&b.t);
  g_assert_cmpuint (vmm_test_vq_used_idx (&b.t.vq[0]), ==, 4);
  vmm_test_vq_used_elem (&b.t.vq[0], 3, &id, &len);
  g_assert_cmpuint (id, ==, 3);
  g_assert_cmpuint (len, ==, 16);
  g_assert_cmpuint (vmm_eventfd_drain (b.dev->irqfds[1]), ==, 1);
  /* the pending config interrupt fires on unmasking */
  vmm_test_virtio_write (&b.t, MSIX_TABLE + 12, 4, 0);
  g_assert_cmpuint (vmm_eventfd_drain (b.dev->irqfds[0]), ==, 1);
  rng_fx_clear (&b);
}

/* A driver half-way through its set-up (FEATURES_OK, a queue's size and
 * rings written but not enabled, no DRIVER_OK) goes on after a restore */
static void
test_state_mid_setup (void)
{
  g_autoptr (GBytes) file = NULL;
  struct rng_fx a, b;
  struct vmm_test_vq *vq;
  uint32_t id, len;

  rng_fx_init (&a);
  g_assert_cmpuint (vmm_test_virtio_negotiate (&a.t, 0) & VIRTIO_STATUS_FEATURES_OK, !=, 0);
  vmm_test_vq_init (&a.t.vq[0], &a.t.ram.mem, 4, 0x10000, 0x11000, 0x12000, 0x20000, 0x30000);
  vmm_test_virtio_write (&a.t, CC_Q_SELECT, 2, 0);
  vmm_test_virtio_write (&a.t, CC_Q_SIZE, 2, 4);
  vmm_test_virtio_write (&a.t, CC_Q_DESC, 8, 0x10000);
  vmm_test_virtio_write (&a.t, CC_Q_AVAIL, 8, 0x11000);
  vmm_test_virtio_write (&a.t, CC_Q_USED, 8, 0x12000);
  file = vmm_test_virtio_save (a.dev, "virtio-rng.0");

  rng_fx_init (&b);
  vmm_test_virtio_copy_guest (&b.t, &a.t);
  rng_fx_clear (&a);
  vmm_test_virtio_load (b.dev, file, "virtio-rng.0");
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_STATUS, 1), ==,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                    VIRTIO_STATUS_FEATURES_OK);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_Q_SIZE, 2), ==, 4);
  g_assert_cmphex (vmm_test_virtio_read (&b.t, CC_Q_AVAIL, 8), ==, 0x11000);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_Q_ENABLE, 2), ==, 0);

  /* the driver goes on: enables the queue, DRIVER_OK, a buffer */
  vmm_test_virtio_write (&b.t, CC_Q_ENABLE, 2, 1);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, CC_Q_ENABLE, 2), ==, 1);
  g_assert_cmpuint (vmm_test_virtio_driver_ok (&b.t) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  vq = &b.t.vq[0];
  vmm_test_vq_add_bufs (vq, &(struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, 8), 8, true },
                        1);
  vmm_test_virtio_kick (&b.t, 0);
  g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (len, ==, 8);
  rng_fx_clear (&b);
}

/* What the transport's section refuses: cut short, a device status no
 * device has, a newer layout; a state with another number of queues */
static void
test_state_refused (void)
{
  g_autoptr (GBytes) file = NULL, other = NULL;
  struct rng_fx a;

  rng_fx_init (&a);
  g_assert_cmpuint (vmm_test_virtio_setup (&a.t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  refill (&a.t);
  file = vmm_test_virtio_save (a.dev, "virtio-rng.0");
  /* status: after the queue and vector counts, the features, the selects */
  vmm_test_virtio_refusals (a.dev, file, "virtio-rng.0", "virtio-rng.0", 24, 0x20);

  /* a queue whose rings are outside guest memory */
  {
    g_autoptr (GBytes) payload = vmm_test_state_payload (file, "virtio-rng.0");
    size_t n = g_bytes_get_size (payload);
    g_autofree uint8_t *bad = g_memdup2 (g_bytes_get_data (payload, NULL), n);
    g_autoptr (GBytes) wrong = NULL;
    g_autoptr (GError) error = NULL;
    struct vmm_state_file *f;
    size_t flen;
    const uint8_t *fdata;

    /* the first queue's desc address: after 31 bytes of common config,
     * 2 × 16 of MSI-X table and 8 of pending bits, its size, vector and
     * enable (5 bytes) */
    g_assert_cmpuint (n, >, 76 + 8);
    g_assert_cmphex (viv_get_le64 (bad + 76), ==, 0x100000);
    viv_put_le64 (bad + 76, 0x7fff0000000ull);
    wrong = vmm_test_state_replace (file, "virtio-rng.0", 1, bad, n);
    fdata = g_bytes_get_data (wrong, &flen);
    f = vmm_state_file_parse (fdata, flen, &error);
    g_assert_no_error (error);
    g_assert_false (vmm_virtio_load (a.dev, f, "virtio-rng.0", false, &error));
    g_assert_nonnull (strstr (error->message, "rings"));
    vmm_state_file_free (f);
  }
  rng_fx_clear (&a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-rng/fill", test_fill);
  g_test_add_func ("/virtio-rng/budget", test_budget);
  g_test_add_func ("/virtio-pci/msix", test_msix);
  g_test_add_func ("/virtio-pci/state", test_state);
  g_test_add_func ("/virtio-pci/state/mid-setup", test_state_mid_setup);
  g_test_add_func ("/virtio-pci/state/refused", test_state_refused);
  return g_test_run ();
}
