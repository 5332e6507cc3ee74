/* virtio.c: a small polling driver for a modern virtio-pci device
 *
 * Written from the virtio 1.2 specification: §4.1.4 (capabilities),
 * §4.1.4.3 (common configuration), §3.1.1 (initialisation), §2.7 (split
 * virtqueues).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio.h"

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* struct virtio_pci_common_cfg */
#define COMMON_DFSELECT      0x00
#define COMMON_DF            0x04
#define COMMON_GFSELECT      0x08
#define COMMON_GF            0x0c
#define COMMON_MSIX_CONFIG   0x10
#define COMMON_NUM_QUEUES    0x12
#define COMMON_STATUS        0x14
#define COMMON_CFG_GEN       0x15
#define COMMON_Q_SELECT      0x16
#define COMMON_Q_SIZE        0x18
#define COMMON_Q_MSIX        0x1a
#define COMMON_Q_ENABLE      0x1c
#define COMMON_Q_NOFF        0x1e
#define COMMON_Q_DESC        0x20
#define COMMON_Q_DRIVER      0x28
#define COMMON_Q_DEVICE      0x30

/* The rings, in the image (physical = virtual): a page each for up to
 * VIRTQ_MAX_SIZE entries, handed out to queues as they are first set up
 * and kept across re-initialisations */
struct ring_set
{
  uint8_t desc[VIRTQ_MAX_SIZE * 16];
  uint8_t avail[4096];
  uint8_t used[4096];
};
static struct ring_set ring_pool[48] __attribute__ ((aligned (4096)));
static unsigned ring_pool_used;

/* --- capabilities --------------------------------------------------------------- */

static bool
cap_inside_bar (const struct virtio_dev *v, const struct virtio_cap *c)
{
  const struct pci_bar *b;

  if (c->bar > 5)
    return false;
  b = &v->bars[c->bar];
  return b->present && !b->io && b->base != 0 && c->length > 0
         && (uint64_t) c->offset + c->length <= b->size;
}

static void
cap_check (struct virtio_dev *v, struct virtio_cap *c, const char *what, bool report)
{
  bool ok = c->present && cap_inside_bar (v, c);

  if (report)
    tap_ok (ok, "virtio: %s capability%s (BAR %u + 0x%x, 0x%x bytes, inside the BAR)", what,
            c->present ? "" : " MISSING", c->bar, c->offset, c->length);
  else if (!ok)
    tap_diag ("virtio: %s capability %s", what, c->present ? "outside its BAR" : "missing");
  if (!ok)
    return;
  c->addr = v->bars[c->bar].base + c->offset;
  map_phys (c->addr, c->length);
}

bool
virtio_find_caps (struct virtio_dev *v, const struct pci_dev *d, const struct pci_bar bars[6],
                  bool report)
{
  uint8_t pos = 0;
  unsigned n_vendor = 0;

  memset (v, 0, sizeof *v);
  v->pci = d;
  memcpy (v->bars, bars, sizeof v->bars);

  while ((pos = pci_find_cap (d, PCI_CAP_ID_VENDOR, pos)) != 0)
    {
      struct virtio_cap c = { true, pos, pci_read8 (d, pos + 4), pci_read32 (d, pos + 8),
                              pci_read32 (d, pos + 12), 0 };
      uint8_t type = pci_read8 (d, pos + 3);
      struct virtio_cap *slot = NULL;

      n_vendor++;
      /* The first of each type is the one to use (§4.1.4) */
      if (type == VIRTIO_PCI_CAP_COMMON_CFG && !v->common.present)
        slot = &v->common;
      else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !v->notify.present)
        {
          slot = &v->notify;
          v->notify_mult = pci_read32 (d, pos + 16);
        }
      else if (type == VIRTIO_PCI_CAP_ISR_CFG && !v->isr.present)
        slot = &v->isr;
      else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !v->device.present)
        slot = &v->device;
      if (report)
        tap_diag ("vendor capability at 0x%02x: cfg_type %u, BAR %u, offset 0x%x, length 0x%x",
                  pos, type, c.bar, c.offset, c.length);
      if (slot)
        *slot = c;
    }

  cap_check (v, &v->common, "common configuration", report);
  if (v->common.present && v->common.length < 0x38)
    tap_diag ("common configuration is only 0x%x bytes", v->common.length);
  cap_check (v, &v->notify, "notification", report);
  if (report)
    tap_diag ("notify_off_multiplier %u", v->notify_mult);
  cap_check (v, &v->isr, "ISR status", report);
  if (v->device.present)
    cap_check (v, &v->device, "device-specific configuration", report);
  else if (report)
    tap_skip ("virtio-rng defines no device-specific configuration",
              "virtio: device-specific configuration capability");

  v->msix_pos = pci_find_cap (d, PCI_CAP_ID_MSIX, 0);
  if (v->msix_pos)
    {
      uint16_t ctrl = pci_read16 (d, v->msix_pos + 2);
      uint32_t table = pci_read32 (d, v->msix_pos + 4);
      uint32_t pba = pci_read32 (d, v->msix_pos + 8);
      const struct pci_bar *tb = &v->bars[table & 7], *pb = &v->bars[pba & 7];
      bool ok;

      v->msix_size = (ctrl & 0x7ff) + 1;
      ok = (table & 7) < 6 && (pba & 7) < 6 && tb->present && pb->present && !tb->io && !pb->io
           && (table & ~7u) + 16ull * v->msix_size <= tb->size
           && (pba & ~7u) + 8ull * ((v->msix_size + 63) / 64) <= pb->size;
      if (report || !ok)
        tap_ok (ok, "virtio: MSI-X capability at 0x%02x, %u vectors, table BAR %u + 0x%x, "
                "PBA BAR %u + 0x%x, inside their BARs", v->msix_pos, v->msix_size, table & 7,
                table & ~7u, pba & 7, pba & ~7u);
      if (ok)
        {
          v->msix_table = tb->base + (table & ~7u);
          v->msix_pba = pb->base + (pba & ~7u);
          map_phys (v->msix_table, 16ull * v->msix_size);
          map_phys (v->msix_pba, 8);
        }
    }
  else if (report)
    tap_ok (false, "virtio: MSI-X capability MISSING");

  return v->common.addr && v->notify.addr;
}

/* --- the common configuration --------------------------------------------------- */

static uint64_t cc (const struct virtio_dev *v, unsigned off) { return v->common.addr + off; }

uint8_t
virtio_status (const struct virtio_dev *v)
{
  return mmio_read8 (cc (v, COMMON_STATUS));
}

static void
set_status (struct virtio_dev *v, uint8_t s)
{
  mmio_write8 (cc (v, COMMON_STATUS), s);
}

bool
virtio_reset (struct virtio_dev *v)
{
  uint64_t deadline = deadline_after_ms (1000);

  set_status (v, 0);
  /* §4.1.4.3.2: the reset is complete when status reads 0 */
  while (virtio_status (v) != 0)
    {
      if (deadline_passed (deadline))
        return false;
      cpu_relax ();
    }
  return true;
}

/* A step of the handshake: a TAP line when reporting, else a diagnostic
 * on failure only */
static bool
step (bool report, bool ok, const char *what, uint32_t value)
{
  if (report)
    tap_ok (ok, "virtio: %s (0x%x)", what, value);
  else if (!ok)
    tap_diag ("re-initialisation failed: %s (0x%x)", what, value);
  return ok;
}

static void
msix_enable (struct virtio_dev *v)
{
  uint16_t ctrl;
  unsigned i;

  if (!v->msix_pos || !v->msix_table)
    return;
  /* Every entry masked before the function is enabled, so nothing fires
   * until a test asks for it */
  for (i = 0; i < v->msix_size; i++)
    mmio_write32 (v->msix_table + 16 * i + 12, 1);
  ctrl = pci_read16 (v->pci, v->msix_pos + 2);
  ctrl = (ctrl | 0x8000) & ~0x4000;   /* enable, function mask off */
  pci_write16 (v->pci, v->msix_pos + 2, ctrl);
}

bool
virtio_begin (struct virtio_dev *v, uint64_t extra, bool report)
{
  uint64_t wanted;
  uint8_t s;

  /* Decode and DMA on: the VMM (or firmware) assigned the BARs */
  pci_write16 (v->pci, PCI_COMMAND, pci_read16 (v->pci, PCI_COMMAND) | PCI_COMMAND_MEMORY
               | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
  msix_enable (v);

  if (!step (report, virtio_reset (v), "reset: device status reads back 0", virtio_status (v)))
    return false;
  for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
    v->vq[i].enabled = false;

  set_status (v, VIRTIO_STATUS_ACKNOWLEDGE);
  set_status (v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
  s = virtio_status (v);
  if (!step (report, s == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER),
             "ACKNOWLEDGE | DRIVER set", s))
    return false;

  mmio_write32 (cc (v, COMMON_DFSELECT), 0);
  v->offered = mmio_read32 (cc (v, COMMON_DF));
  mmio_write32 (cc (v, COMMON_DFSELECT), 1);
  v->offered |= (uint64_t) mmio_read32 (cc (v, COMMON_DF)) << 32;
  if (report)
    tap_diag ("device features 0x%016lx", v->offered);
  if (!step (report, v->offered & (1ull << VIRTIO_F_VERSION_1), "VERSION_1 offered",
             (uint32_t) (v->offered >> 32)))
    return false;

  wanted = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_F_INDIRECT_DESC
           | 1ull << VIRTIO_F_EVENT_IDX | extra;
  v->features = v->offered & wanted;
  mmio_write32 (cc (v, COMMON_GFSELECT), 0);
  mmio_write32 (cc (v, COMMON_GF), (uint32_t) v->features);
  mmio_write32 (cc (v, COMMON_GFSELECT), 1);
  mmio_write32 (cc (v, COMMON_GF), (uint32_t) (v->features >> 32));
  if (report)
    tap_diag ("driver features 0x%016lx (VERSION_1%s%s)", v->features,
              virtio_has (v, VIRTIO_F_INDIRECT_DESC) ? " INDIRECT_DESC" : "",
              virtio_has (v, VIRTIO_F_EVENT_IDX) ? " EVENT_IDX" : "");

  set_status (v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
  s = virtio_status (v);
  if (!step (report, s & VIRTIO_STATUS_FEATURES_OK, "FEATURES_OK reads back", s))
    return false;

  /* MSI-X: no vector for configuration changes */
  mmio_write16 (cc (v, COMMON_MSIX_CONFIG), VIRTIO_MSI_NO_VECTOR);
  v->num_queues = mmio_read16 (cc (v, COMMON_NUM_QUEUES));
  return true;
}

bool
virtio_setup_queue (struct virtio_dev *v, uint16_t index, uint16_t max_size, uint16_t vector,
                    bool report)
{
  struct vq *q;
  char what[96];
  uint16_t size, vec;

  if (index >= VIRTIO_MAX_QUEUES || index >= v->num_queues)
    return step (report, false, "queue index within num_queues and the driver's limit",
                 v->num_queues);
  q = &v->vq[index];
  if (!q->desc)
    {
      if (ring_pool_used == ARRAY_SIZE (ring_pool))
        return step (report, false, "rings left in the driver's pool", ring_pool_used);
      q->desc = (uint64_t) ring_pool[ring_pool_used].desc;
      q->avail = (uint64_t) ring_pool[ring_pool_used].avail;
      q->used = (uint64_t) ring_pool[ring_pool_used].used;
      ring_pool_used++;
    }
  q->dev = v;
  q->index = index;

  /* §4.1.5.1.3 */
  mmio_write16 (cc (v, COMMON_Q_SELECT), index);
  size = mmio_read16 (cc (v, COMMON_Q_SIZE));
  snprintf (what, sizeof what, "queue %u exists, queue_size", index);
  if (!step (report, size != 0, what, size))
    return false;
  if (max_size > VIRTQ_MAX_SIZE)
    max_size = VIRTQ_MAX_SIZE;
  if (size > max_size)
    {
      mmio_write16 (cc (v, COMMON_Q_SIZE), max_size);
      size = max_size;
    }
  q->size = size;
  q->avail_idx = 0;
  q->published = 0;
  q->last_used = 0;
  memset ((void *) q->desc, 0, VIRTQ_MAX_SIZE * 16);
  memset ((void *) q->avail, 0, 4096);
  memset ((void *) q->used, 0, 4096);

  if (vector != VIRTIO_MSI_NO_VECTOR && v->msix_table)
    {
      mmio_write16 (cc (v, COMMON_Q_MSIX), vector);
      vec = mmio_read16 (cc (v, COMMON_Q_MSIX));
      snprintf (what, sizeof what, "queue %u MSI-X vector %u accepted", index, vector);
      if (!step (report, vec == vector, what, vec))
        return false;
    }
  else
    mmio_write16 (cc (v, COMMON_Q_MSIX), VIRTIO_MSI_NO_VECTOR);

  mmio_write64 (cc (v, COMMON_Q_DESC), q->desc);
  mmio_write64 (cc (v, COMMON_Q_DRIVER), q->avail);
  mmio_write64 (cc (v, COMMON_Q_DEVICE), q->used);
  q->notify_off = mmio_read16 (cc (v, COMMON_Q_NOFF));
  q->notify_addr = v->notify.addr + (uint64_t) q->notify_off * v->notify_mult;
  snprintf (what, sizeof what,
            "queue %u notify address inside the notify region, queue_notify_off", index);
  if (!step (report, (uint64_t) q->notify_off * v->notify_mult + 2 <= v->notify.length, what,
             q->notify_off))
    return false;
  mmio_write16 (cc (v, COMMON_Q_ENABLE), 1);
  snprintf (what, sizeof what, "queue %u enabled, ring addresses read back", index);
  if (!step (report, mmio_read16 (cc (v, COMMON_Q_ENABLE)) == 1
                     && mmio_read64 (cc (v, COMMON_Q_DESC)) == q->desc, what, q->size))
    return false;
  q->enabled = true;
  return true;
}

bool
virtio_driver_ok (struct virtio_dev *v, bool report)
{
  uint8_t s;

  set_status (v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK
                 | VIRTIO_STATUS_DRIVER_OK);
  s = virtio_status (v);
  return step (report, s == 0x0f, "DRIVER_OK: status reads 0x0f", s);
}

bool
virtio_init (struct virtio_dev *v, bool report)
{
  return virtio_begin (v, 0, report) && virtio_setup_queue (v, 0, VIRTQ_MAX_SIZE, 0, report)
         && virtio_driver_ok (v, report);
}

uint8_t
virtio_cfg_read8 (const struct virtio_dev *v, unsigned off)
{
  return v->device.addr ? mmio_read8 (v->device.addr + off) : 0;
}

uint16_t
virtio_cfg_read16 (const struct virtio_dev *v, unsigned off)
{
  return v->device.addr ? mmio_read16 (v->device.addr + off) : 0;
}

uint64_t
virtio_cfg_read64 (const struct virtio_dev *v, unsigned off)
{
  uint8_t gen;
  uint64_t value;

  /* Two 32-bit halves, read again if the configuration changed between
   * them (§4.1.4.3.1, config_generation) */
  do
    {
      gen = mmio_read8 (cc (v, COMMON_CFG_GEN));
      value = virtio_cfg_read32 (v, off) | (uint64_t) virtio_cfg_read32 (v, off + 4) << 32;
    }
  while (gen != mmio_read8 (cc (v, COMMON_CFG_GEN)));
  return value;
}

uint32_t
virtio_cfg_read32 (const struct virtio_dev *v, unsigned off)
{
  return v->device.addr ? mmio_read32 (v->device.addr + off) : 0;
}

void
virtio_cfg_write32 (const struct virtio_dev *v, unsigned off, uint32_t value)
{
  if (v->device.addr)
    mmio_write32 (v->device.addr + off, value);
}

/* --- the split virtqueue ------------------------------------------------------------ */

static inline uint16_t rd16 (uint64_t a) { return *(volatile uint16_t *) a; }
static inline uint32_t rd32 (uint64_t a) { return *(volatile uint32_t *) a; }
static inline void wr16 (uint64_t a, uint16_t x) { *(volatile uint16_t *) a = x; }

void
virtq_set_desc (struct vq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                uint16_t next)
{
  volatile uint8_t *d = (volatile uint8_t *) (q->desc + 16ull * i);

  *(volatile uint64_t *) d = addr;
  *(volatile uint32_t *) (d + 8) = len;
  *(volatile uint16_t *) (d + 12) = flags;
  *(volatile uint16_t *) (d + 14) = next;
}

uint16_t
virtq_used_idx (const struct vq *q)
{
  return rd16 (q->used + 2);
}

void
virtq_set_used_event (struct vq *q, uint16_t idx)
{
  wr16 (q->avail + 4 + 2ull * q->size, idx);
  mfence ();
}

/* §2.7.10: notify if the device asked to hear about the entries from
 * its avail_event up to and including new - 1 */
static bool
need_event (uint16_t event, uint16_t new_idx, uint16_t old)
{
  return (uint16_t) (new_idx - event - 1) < (uint16_t) (new_idx - old);
}

void
virtq_add_avail (struct vq *q, uint16_t head)
{
  wr16 (q->avail + 4 + 2ull * (q->avail_idx % q->size), head);
  q->avail_idx++;
}

void
virtq_kick (struct vq *q)
{
  uint16_t old = q->published;
  bool kick;

  if (old == q->avail_idx)
    return;
  barrier ();   /* x86 keeps stores in order; the compiler must too */
  q->published = q->avail_idx;
  wr16 (q->avail + 2, q->avail_idx);
  mfence ();    /* the index store before the avail_event/flags load */

  if (virtio_has (q->dev, VIRTIO_F_EVENT_IDX))
    kick = need_event (rd16 (q->used + 4 + 8ull * q->size), q->avail_idx, old);
  else
    kick = !(rd16 (q->used) & 1);   /* VIRTQ_USED_F_NO_NOTIFY */
  if (kick)
    {
      mmio_write16 (q->notify_addr, q->index);
      q->kicks++;
    }
}

void
virtq_publish (struct vq *q, uint16_t head)
{
  virtq_add_avail (q, head);
  virtq_kick (q);
}

bool
virtq_next_used (struct vq *q, uint32_t *id, uint32_t *len)
{
  uint64_t e;

  if (!q->enabled || virtq_used_idx (q) == q->last_used)
    return false;
  barrier ();
  e = q->used + 4 + 8ull * (q->last_used % q->size);
  *id = rd32 (e);
  *len = rd32 (e + 4);
  q->last_used++;
  return true;
}

enum vq_result
virtq_submit_wait (struct vq *q, uint16_t head, uint64_t timeout_ms, uint32_t *len)
{
  uint64_t deadline, next_status_check;
  uint32_t id;

  *len = 0;
  virtq_publish (q, head);

  /* Poll the used ring in RAM (free); look at the status register, an
   * exit, once a millisecond */
  deadline = deadline_after_ms (timeout_ms);
  next_status_check = deadline_after_ms (1);
  for (;;)
    {
      if (virtq_next_used (q, &id, len))
        /* One request in flight at a time: the element must be it */
        return id == head ? VQ_USED : VQ_BAD_ID;
      if (deadline_passed (next_status_check))
        {
          if (virtio_status (q->dev) & VIRTIO_STATUS_NEEDS_RESET)
            return VQ_NEEDS_RESET;
          if (deadline_passed (deadline))
            return VQ_TIMEOUT;
          next_status_check = deadline_after_ms (1);
        }
      cpu_relax ();
    }
}

enum vq_result
virtio_rng_read (struct virtio_dev *v, void *buf, uint32_t len, uint32_t *used_len)
{
  virtq_set_desc (&v->vq[0], 0, (uint64_t) buf, len, VIRTQ_DESC_F_WRITE, 0);
  return virtq_submit_wait (&v->vq[0], 0, 1000, used_len);
}

/* --- MSI-X ---------------------------------------------------------------------- */

void
msix_program (struct virtio_dev *v, unsigned i, uint64_t addr, uint32_t data, bool masked)
{
  uint64_t e = v->msix_table + 16ull * i;

  /* Masked while the message changes (PCI 3.0 §6.8.2.9) */
  mmio_write32 (e + 12, 1);
  mmio_write32 (e, (uint32_t) addr);
  mmio_write32 (e + 4, (uint32_t) (addr >> 32));
  mmio_write32 (e + 8, data);
  if (!masked)
    mmio_write32 (e + 12, 0);
}

void
msix_mask (struct virtio_dev *v, unsigned i, bool masked)
{
  mmio_write32 (v->msix_table + 16ull * i + 12, masked ? 1 : 0);
}

bool
msix_pending (const struct virtio_dev *v, unsigned i)
{
  return mmio_read32 (v->msix_pba + 4ull * (i / 32)) & (1u << (i % 32));
}
