/* vmm-test-virtio.c: a virtio-pci device on a fake bus, driven as a guest
 * driver drives it, without /dev/kvm
 *
 * The device is created on fake guest RAM with a real MMIO bus, event loop
 * and PCI host; what only KVM does is faked below: irqfds and ioeventfds
 * are taken as attached (interrupts stay in the transport's eventfds and
 * its ISR; notifications are MMIO writes the transport handles itself), and
 * the GSI router only hands out numbers. Both remember what they were told
 * (vmm_test_fake_irqfd, vmm_test_fake_msi), for any device's test.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vmm-test.h"

#include <string.h>

#include "arch/x86/layout.h"
#include "kvm/kvm.h"
#include "snapshot/state.h"
#include "virtio/device.h"
#include "viv-bytes.h"

/* Guest RAM: the rings of queue q at RING_BASE + q × RING_STRIDE (desc,
 * then avail and used on pages of their own), buffers above DATA_BASE, an
 * equal share for each queue. */
#define RAM_SIZE      VMM_MiB (16)
#define RING_BASE     0x100000u
#define RING_STRIDE   0x4000u
#define DATA_BASE     0x200000u

/* Where the transport puts its structures in the BAR, and the common
 * configuration's fields (virtio 1.2, 4.1.4.3), as a driver reads them
 * from the capabilities */
#define ISR_OFF       0x1000
#define NOTIFY_OFF    0x3000
#define NOTIFY_MULT   4
#define CC_DFSELECT   0x00
#define CC_DF         0x04
#define CC_GFSELECT   0x08
#define CC_GF         0x0c
#define CC_STATUS     0x14
#define CC_Q_SELECT   0x16
#define CC_Q_SIZE     0x18
#define CC_Q_ENABLE   0x1c
#define CC_Q_DESC     0x20
#define CC_Q_AVAIL    0x28
#define CC_Q_USED     0x30

/* ---- what KVM would do ------------------------------------------------------------- */

/* What the fakes were told, for vmm_test_fake_irqfd and _msi */
static int fake_irqfds[VMM_TEST_FAKE_GSIS];
static struct vmm_irq_msi fake_msi[VMM_TEST_FAKE_GSIS];

int
vmm_kvm_irqfd (int vm_fd, int eventfd, unsigned gsi, bool assign)
{
  (void) vm_fd;
  if (gsi >= 24 && gsi - 24 < VMM_TEST_FAKE_GSIS)
    fake_irqfds[gsi - 24] = assign ? eventfd + 1 : 0;
  return 0;
}

int
vmm_test_fake_irqfd (unsigned gsi)
{
  if (gsi < 24 || gsi - 24 >= VMM_TEST_FAKE_GSIS)
    return -1;
  return fake_irqfds[gsi - 24] - 1;
}

bool
vmm_test_fake_msi (unsigned gsi, uint64_t *address, uint32_t *data)
{
  if (gsi < 24 || gsi - 24 >= VMM_TEST_FAKE_GSIS || !fake_msi[gsi - 24].routed)
    return false;
  *address = fake_msi[gsi - 24].address;
  *data = fake_msi[gsi - 24].data;
  return true;
}

int
vmm_kvm_ioeventfd (int vm_fd, int eventfd, uint64_t addr, unsigned len, bool pio, bool assign)
{
  (void) vm_fd, (void) eventfd, (void) addr, (void) len, (void) pio, (void) assign;
  return 0;
}

int
vmm_irq_router_alloc_msi (struct vmm_irq_router *r, unsigned *gsi)
{
  /* n_gsi counts them here; above the 24 IOAPIC pins, as KVM's would be */
  *gsi = 24 + r->n_gsi++;
  return 0;
}

void
vmm_irq_router_free_msi (struct vmm_irq_router *r, unsigned gsi)
{
  (void) r;
  if (gsi >= 24 && gsi - 24 < VMM_TEST_FAKE_GSIS)
    fake_msi[gsi - 24] = (struct vmm_irq_msi) { 0 };
}

int
vmm_irq_router_set_msi (struct vmm_irq_router *r, unsigned gsi, uint64_t address, uint32_t data)
{
  (void) r;
  if (gsi >= 24 && gsi - 24 < VMM_TEST_FAKE_GSIS)
    fake_msi[gsi - 24] = (struct vmm_irq_msi) { .used = true, .routed = true,
                                                .address = address, .data = data };
  return 0;
}

/* ---- the machine around the device ------------------------------------------------ */

void
vmm_test_virtio_init (struct vmm_test_virtio *t, struct vmm_virtio_env *env)
{
  memset (t, 0, sizeof *t);
  vmm_test_ram_add (&t->ram, 0, RAM_SIZE);
  g_assert_cmpint (vmm_bus_init (&t->mmio, "mmio"), ==, 0);
  t->router.vm_fd = -1;
  g_assert_cmpint (vmm_loop_init (&t->loop), ==, 0);
  g_assert_cmpint (vmm_loop_start (&t->loop), ==, 0);
  vmm_pci_host_init (&t->pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  *env = (struct vmm_virtio_env) {
    .mem = &t->ram.mem,
    .loop = &t->loop,
    .mmio = &t->mmio,
    .router = &t->router,
    .vm_fd = -1,
  };
}

void
vmm_test_virtio_plug (struct vmm_test_virtio *t, struct vmm_virtio_dev *dev)
{
  g_assert_cmpint (vmm_pci_host_add (&t->pci, &dev->pci), >, 0);
  g_assert_true (dev->bar_mapped);
  t->dev = dev;
  t->bar = dev->bar_addr;
}

void
vmm_test_virtio_stop (struct vmm_test_virtio *t)
{
  vmm_loop_stop (&t->loop);
}

void
vmm_test_virtio_clear (struct vmm_test_virtio *t)
{
  vmm_loop_destroy (&t->loop);
  vmm_pci_host_destroy (&t->pci);
  vmm_bus_destroy (&t->mmio);
  vmm_test_ram_free (&t->ram);
}

/* ---- the driver ------------------------------------------------------------------- */

uint64_t
vmm_test_virtio_read (struct vmm_test_virtio *t, uint64_t offset, uint32_t len)
{
  return vmm_test_bus_in (&t->mmio, t->bar + offset, len);
}

void
vmm_test_virtio_write (struct vmm_test_virtio *t, uint64_t offset, uint32_t len, uint64_t value)
{
  vmm_test_bus_out (&t->mmio, t->bar + offset, len, value);
}

uint64_t
vmm_test_virtio_device_features (struct vmm_test_virtio *t)
{
  uint64_t features;

  vmm_test_virtio_write (t, CC_DFSELECT, 4, 0);
  features = vmm_test_virtio_read (t, CC_DF, 4);
  vmm_test_virtio_write (t, CC_DFSELECT, 4, 1);
  return features | vmm_test_virtio_read (t, CC_DF, 4) << 32;
}

/* 64-bit fields in two halves, as Linux writes them */
static void
write64 (struct vmm_test_virtio *t, uint64_t offset, uint64_t value)
{
  vmm_test_virtio_write (t, offset, 4, (uint32_t) value);
  vmm_test_virtio_write (t, offset + 4, 4, value >> 32);
}

uint8_t
vmm_test_virtio_negotiate (struct vmm_test_virtio *t, uint64_t driver_features)
{
  uint64_t features = driver_features | 1ull << VIRTIO_F_VERSION_1;
  uint8_t status;

  vmm_test_virtio_write (t, CC_STATUS, 1, 0);
  g_assert_cmpuint (vmm_test_virtio_read (t, CC_STATUS, 1), ==, 0);
  status = VIRTIO_STATUS_ACKNOWLEDGE;
  vmm_test_virtio_write (t, CC_STATUS, 1, status);
  status |= VIRTIO_STATUS_DRIVER;
  vmm_test_virtio_write (t, CC_STATUS, 1, status);
  vmm_test_virtio_write (t, CC_GFSELECT, 4, 0);
  vmm_test_virtio_write (t, CC_GF, 4, (uint32_t) features);
  vmm_test_virtio_write (t, CC_GFSELECT, 4, 1);
  vmm_test_virtio_write (t, CC_GF, 4, features >> 32);
  status |= VIRTIO_STATUS_FEATURES_OK;
  vmm_test_virtio_write (t, CC_STATUS, 1, status);
  return (uint8_t) vmm_test_virtio_read (t, CC_STATUS, 1);
}

bool
vmm_test_virtio_queue (struct vmm_test_virtio *t, unsigned q, uint16_t size, uint64_t desc,
                       uint64_t avail, uint64_t used)
{
  vmm_test_virtio_write (t, CC_Q_SELECT, 2, q);
  vmm_test_virtio_write (t, CC_Q_SIZE, 2, size);
  write64 (t, CC_Q_DESC, desc);
  write64 (t, CC_Q_AVAIL, avail);
  write64 (t, CC_Q_USED, used);
  vmm_test_virtio_write (t, CC_Q_ENABLE, 2, 1);
  return vmm_test_virtio_read (t, CC_Q_ENABLE, 2) == 1;
}

uint8_t
vmm_test_virtio_driver_ok (struct vmm_test_virtio *t)
{
  uint8_t status = (uint8_t) vmm_test_virtio_read (t, CC_STATUS, 1);

  vmm_test_virtio_write (t, CC_STATUS, 1, status | VIRTIO_STATUS_DRIVER_OK);
  return (uint8_t) vmm_test_virtio_read (t, CC_STATUS, 1);
}

void
vmm_test_virtio_setup_from (struct vmm_test_virtio *t, const uint8_t *hdr, unsigned n_queues,
                            uint64_t offered, uint8_t how)
{
  uint64_t features = viv_get_le64 (hdr);

  if (!(how & 1))
    features &= offered;
  if (!(vmm_test_virtio_negotiate (t, features) & VIRTIO_STATUS_FEATURES_OK) && !(how & 2))
    return;
  for (unsigned q = 0; q < n_queues; q++)
    {
      const uint8_t *p = hdr + 8 + 14 * q;
      uint16_t size = viv_get_le16 (p);

      if (size != 0)
        vmm_test_virtio_queue (t, q, size, viv_get_le32 (p + 2), viv_get_le32 (p + 6),
                               viv_get_le32 (p + 10));
    }
  if (!(how & 4))
    vmm_test_virtio_driver_ok (t);
}

uint8_t
vmm_test_virtio_setup (struct vmm_test_virtio *t, uint64_t driver_features, unsigned n_queues,
                       uint16_t size)
{
  uint64_t share;
  uint8_t status;

  g_assert_cmpuint (n_queues, >, 0);
  g_assert_cmpuint (n_queues, <=, VMM_TEST_VIRTIO_MAX_QUEUES);
  g_assert_cmpuint (size, <=, 256);
  status = vmm_test_virtio_negotiate (t, driver_features);
  if (!(status & VIRTIO_STATUS_FEATURES_OK))
    return status;

  /* A new driver starts from clean rings. */
  memset (vmm_test_ptr (&t->ram.mem, RING_BASE, DATA_BASE - RING_BASE), 0, DATA_BASE - RING_BASE);
  share = ((RAM_SIZE - DATA_BASE) / n_queues) & ~(uint64_t) 0xfff;
  t->n_queues = n_queues;
  for (unsigned q = 0; q < n_queues; q++)
    {
      uint64_t base = RING_BASE + (uint64_t) q * RING_STRIDE;
      uint64_t data = DATA_BASE + q * share;

      vmm_test_vq_init (&t->vq[q], &t->ram.mem, size, base, base + 0x1000, base + 0x2000, data,
                        data + share);
      g_assert_true (vmm_test_virtio_queue (t, q, size, t->vq[q].desc, t->vq[q].avail,
                                            t->vq[q].used));
    }
  return vmm_test_virtio_driver_ok (t);
}

void
vmm_test_virtio_kick (struct vmm_test_virtio *t, unsigned q)
{
  vmm_test_virtio_write (t, NOTIFY_OFF + (uint64_t) NOTIFY_MULT * q, 2, q);
}

uint8_t
vmm_test_virtio_isr (struct vmm_test_virtio *t)
{
  return (uint8_t) vmm_test_virtio_read (t, ISR_OFF, 1);
}

void
vmm_test_virtio_copy_guest (struct vmm_test_virtio *dst, const struct vmm_test_virtio *src)
{
  memcpy (vmm_test_ptr (&dst->ram.mem, 0, RAM_SIZE), vmm_test_ptr (&src->ram.mem, 0, RAM_SIZE),
          RAM_SIZE);
  dst->n_queues = src->n_queues;
  for (unsigned q = 0; q < VMM_TEST_VIRTIO_MAX_QUEUES; q++)
    {
      dst->vq[q] = src->vq[q];
      dst->vq[q].mem = &dst->ram.mem;
    }
}

/* ---- saved state ------------------------------------------------------------------ */

GBytes *
vmm_test_virtio_save (struct vmm_virtio_dev *dev, const char *name)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_virtio_save (dev, w, name);
  return vmm_test_state_finish (w);
}

static void
assert_same_bytes (GBytes *a, GBytes *b)
{
  size_t alen, blen;
  const uint8_t *ap = g_bytes_get_data (a, &alen), *bp = g_bytes_get_data (b, &blen);

  g_assert_cmpmem (ap, alen, bp, blen);
}

void
vmm_test_virtio_load (struct vmm_virtio_dev *dev, GBytes *file, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) before = vmm_test_virtio_save (dev, name);
  g_autoptr (GBytes) after = NULL, again = NULL;
  struct vmm_state_file *f = vmm_test_state_parse (file);

  g_assert_true (vmm_virtio_load (dev, f, name, false, &error));
  g_assert_no_error (error);
  after = vmm_test_virtio_save (dev, name);
  assert_same_bytes (after, before);

  g_assert_true (vmm_virtio_load (dev, f, name, true, &error));
  g_assert_no_error (error);
  again = vmm_test_virtio_save (dev, name);
  assert_same_bytes (again, file);
  vmm_state_file_free (f);
}

/* FILE must be refused, naming SECTION, with DEV left as it was */
static void
assert_refused (struct vmm_virtio_dev *dev, GBytes *file, const char *name, const char *section)
{
  g_autofree char *quoted = g_strdup_printf ("“%s”", section);
  g_autoptr (GBytes) before = vmm_test_virtio_save (dev, name);
  struct vmm_state_file *f = vmm_test_state_parse (file);

  for (int apply = 0; apply < 2; apply++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) after = NULL;

      g_assert_false (vmm_virtio_load (dev, f, name, apply, &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == VMM_STATE_ERROR);
      if (strstr (error->message, quoted) == NULL)
        g_error ("“%s” does not name %s", error->message, quoted);
      after = vmm_test_virtio_save (dev, name);
      assert_same_bytes (after, before);
    }
  vmm_state_file_free (f);
}

void
vmm_test_virtio_refusals (struct vmm_virtio_dev *dev, GBytes *file, const char *name,
                          const char *section, size_t offset, uint8_t value)
{
  g_autoptr (GBytes) payload = vmm_test_state_payload (file, section);
  struct vmm_state_file *f = vmm_test_state_parse (file);
  uint32_t version = vmm_state_file_find (f, section)->version;
  size_t len;
  const uint8_t *data = g_bytes_get_data (payload, &len);
  g_autofree uint8_t *bad = g_memdup2 (data, len);
  g_autoptr (GBytes) cut = NULL, wrong = NULL, newer = NULL;

  vmm_state_file_free (f);
  g_assert_cmpuint (len, >, 0);
  g_assert_cmpuint (offset, <, len);
  cut = vmm_test_state_replace (file, section, version, data, len - 1);
  assert_refused (dev, cut, name, section);
  g_assert_cmpuint (bad[offset], !=, value);
  bad[offset] = value;
  wrong = vmm_test_state_replace (file, section, version, bad, len);
  assert_refused (dev, wrong, name, section);
  newer = vmm_test_state_replace (file, section, version + 1, data, len);
  assert_refused (dev, newer, name, section);
}
