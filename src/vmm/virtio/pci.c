/* virtio/pci.c: the modern virtio-pci transport (virtio 1.2, 4.1)
 *
 * No legacy interface. One 64-bit memory BAR holds every structure:
 *
 *   0x0000 common configuration      0x3000 notifications (4 bytes per queue)
 *   0x1000 ISR status                0x4000 MSI-X table
 *   0x2000 device configuration      0x5000 MSI-X pending bits
 *
 * Interrupts are MSI-X only (no INTx pin): each vector has a GSI routed to
 * the MSI the driver programmed and an irqfd; a masked vector sets its
 * pending bit instead and fires when unmasked. Queue notifications are
 * ioeventfds, served on the VM's event loop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "kvm/kvm.h"
#include "viv-bytes.h"

#define VIRTIO_PCI_VENDOR       0x1af4
#define VIRTIO_PCI_DEVICE_BASE  0x1040
#define VIRTIO_PCI_REVISION     1

#define BAR_INDEX     0
#define BAR_SIZE      0x8000
#define COMMON_OFF    0x0000
#define COMMON_LEN    0x3c
#define ISR_OFF       0x1000
#define DEVICE_OFF    0x2000
#define NOTIFY_OFF    0x3000
#define NOTIFY_MULT   4
#define MSIX_OFF      0x4000
#define PBA_OFF       0x5000
#define REGION_LEN    0x1000

#define MAX_QUEUES    (REGION_LEN / NOTIFY_MULT)
#define MAX_VECTORS   (REGION_LEN / 16)

/* virtio_pci_cap cfg_type */
#define CAP_COMMON    1
#define CAP_NOTIFY    2
#define CAP_ISR       3
#define CAP_DEVICE    4
#define CAP_PCI_CFG   5

/* Common configuration layout */
#define CC_DFSELECT   0x00
#define CC_DF         0x04
#define CC_GFSELECT   0x08
#define CC_GF         0x0c
#define CC_MSIX       0x10
#define CC_NUMQ       0x12
#define CC_STATUS     0x14
#define CC_CFGGEN     0x15
#define CC_Q_SELECT   0x16
#define CC_Q_SIZE     0x18
#define CC_Q_MSIX     0x1a
#define CC_Q_ENABLE   0x1c
#define CC_Q_NOFF     0x1e
#define CC_Q_DESC     0x20
#define CC_Q_AVAIL    0x28
#define CC_Q_USED     0x30
#define CC_Q_NDATA    0x38
#define CC_Q_RESET    0x3a

#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_ENTRY_MASKED 0x1

#define TRANSPORT_FEATURES ((1ull << VIRTIO_F_VERSION_1) | \
                            (1ull << VIRTIO_F_RING_INDIRECT_DESC) | \
                            (1ull << VIRTIO_F_RING_EVENT_IDX))

bool
vmm_virtio_has_feature (const struct vmm_virtio_dev *dev, unsigned bit)
{
  return (dev->driver_features >> bit) & 1;
}

/* ---- MSI-X ----------------------------------------------------------------- */

static uint16_t
msix_control (const struct vmm_virtio_dev *dev)
{
  return vmm_pci_get16 (&dev->pci.config[dev->msix_cap + 2]);
}

static bool
vector_masked (const struct vmm_virtio_dev *dev, unsigned v)
{
  return (msix_control (dev) & MSIX_CTRL_MASKALL) || (dev->msix[v].ctrl & MSIX_ENTRY_MASKED);
}

static void
fire (struct vmm_virtio_dev *dev, unsigned v)
{
  uint64_t one = 1;

  if (write (dev->irqfds[v], &one, sizeof one) != sizeof one)
    vmm_log_error ("virtio-%s: cannot raise vector %u: %s", dev->ops->name, v, strerror (errno));
}

/* Lock held. */
static void
signal_vector (struct vmm_virtio_dev *dev, uint16_t v)
{
  if (v == VIRTIO_MSI_NO_VECTOR || v >= dev->n_vectors)
    return;
  /* No INTx: with MSI-X off, nothing can be delivered (ISR still says why). */
  if (!(msix_control (dev) & MSIX_CTRL_ENABLE))
    return;
  if (vector_masked (dev, v))
    dev->pba[v / 64] |= 1ull << (v % 64);
  else
    fire (dev, v);
}

/* Lock held. After a vector or the whole function was unmasked. */
static void
deliver_pending (struct vmm_virtio_dev *dev)
{
  if (!(msix_control (dev) & MSIX_CTRL_ENABLE))
    return;
  for (unsigned v = 0; v < dev->n_vectors; v++)
    if ((dev->pba[v / 64] >> (v % 64) & 1) && !vector_masked (dev, v))
      {
        dev->pba[v / 64] &= ~(1ull << (v % 64));
        fire (dev, v);
      }
}

static void
update_route (struct vmm_virtio_dev *dev, unsigned v)
{
  const struct vmm_virtio_msix_entry *e = &dev->msix[v];
  int ret;

  ret = vmm_irq_router_set_msi (dev->env.router, dev->gsis[v],
                                (uint64_t) e->addr_hi << 32 | e->addr_lo, e->data);
  if (ret < 0)
    vmm_log_error ("virtio-%s: cannot route vector %u: %s", dev->ops->name, v, strerror (-ret));
}

static void
msix_table_access (struct vmm_virtio_dev *dev, uint64_t off, void *data, uint32_t len, bool write)
{
  unsigned v = (unsigned) (off / 16);
  unsigned field = (unsigned) (off % 16);
  uint32_t *words;

  /* Dword (or qword) accesses to whole fields only, as the PCI spec says. */
  if (v >= dev->n_vectors || (len != 4 && len != 8) || (field % len) != 0)
    return;
  words = (uint32_t *) &dev->msix[v];
  for (uint32_t i = 0; i < len / 4; i++)
    {
      unsigned w = field / 4 + i;
      uint32_t value;

      if (!write)
        {
          viv_put_le32 ((uint8_t *) data + 4 * i, words[w]);
          continue;
        }
      value = viv_get_le32 ((const uint8_t *) data + 4 * i);
      if (w == 3)
        {
          bool was_masked = dev->msix[v].ctrl & MSIX_ENTRY_MASKED;
          dev->msix[v].ctrl = value & MSIX_ENTRY_MASKED;
          if (was_masked && !(value & MSIX_ENTRY_MASKED))
            {
              update_route (dev, v);
              deliver_pending (dev);
            }
        }
      else
        {
          words[w] = value;
          /* The driver changes address/data with the vector masked; the
           * route follows when it unmasks, or now if it did not mask. */
          if (!(dev->msix[v].ctrl & MSIX_ENTRY_MASKED))
            update_route (dev, v);
        }
    }
}

/* ---- device reset and status ---------------------------------------------- */

static void
reset_device (struct vmm_virtio_dev *dev)
{
  if (dev->ops->reset != NULL)
    dev->ops->reset (dev);
  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      struct vmm_virtio_queue *vq = &dev->queues[q];
      virtq_reset (&vq->vq);
      vq->size = dev->ops->queue_size;
      vq->vector = VIRTIO_MSI_NO_VECTOR;
      vq->enabled = false;
    }
  dev->driver_features = 0;
  dev->device_feature_select = dev->driver_feature_select = 0;
  dev->queue_select = 0;
  dev->config_vector = VIRTIO_MSI_NO_VECTOR;
  dev->isr = 0;
  dev->status = 0;
}

void
vmm_virtio_config_changed (struct vmm_virtio_dev *dev)
{
  dev->config_generation++;
  dev->isr |= 2;
  signal_vector (dev, dev->config_vector);
}

void
vmm_virtio_set_broken (struct vmm_virtio_dev *dev, const char *why)
{
  if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
    return;
  vmm_log_guest (&dev->rl, "virtio-%s: %s; the device needs a reset", dev->ops->name, why);
  dev->status |= VIRTIO_STATUS_NEEDS_RESET;
  vmm_virtio_config_changed (dev);
}

void
vmm_virtio_set_queue_broken (struct vmm_virtio_dev *dev, unsigned q)
{
  const struct virtq *vq = &dev->queues[q].vq;

  vmm_virtio_set_broken (dev, vq->error != NULL ? vq->error : "malformed descriptor chain");
}

void
vmm_virtio_notify_queue (struct vmm_virtio_dev *dev, unsigned q)
{
  if (q >= dev->ops->num_queues)
    return;
  dev->isr |= 1;
  signal_vector (dev, dev->queues[q].vector);
}

void
vmm_virtio_queue_resume (struct vmm_virtio_dev *dev, unsigned q)
{
  uint64_t one = 1;

  if (q >= dev->ops->num_queues)
    return;
  /* The queue's own notification eventfd: served on the device's loop
   * after what is already waiting there, with the lock taken afresh, and
   * only while the queue is still runnable (on_queue_notify). */
  if (write (dev->queues[q].notify_fd, &one, sizeof one) != sizeof one)
    vmm_log_error ("virtio-%s: cannot come back to queue %u: %s", dev->ops->name, q,
                   strerror (errno));
}

static bool
queue_runnable (const struct vmm_virtio_dev *dev, unsigned q)
{
  return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
         dev->queues[q].enabled;
}

static void
set_status (struct vmm_virtio_dev *dev, uint8_t value)
{
  uint8_t old = dev->status;

  if (value == 0)
    {
      reset_device (dev);
      return;
    }
  /* NEEDS_RESET is the device's to set; only a reset clears it. */
  value = (uint8_t) ((value & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));

  if ((value & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK))
    {
      /* Accept only features we offered, and always VERSION_1 (no legacy). */
      if ((dev->driver_features & ~dev->device_features) != 0 ||
          !vmm_virtio_has_feature (dev, VIRTIO_F_VERSION_1))
        {
          vmm_log_guest (&dev->rl, "virtio-%s: driver features %#llx refused",
                         dev->ops->name, (unsigned long long) dev->driver_features);
          value &= (uint8_t) ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
  dev->status = value;

  if ((value & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
    {
      if (!(value & VIRTIO_STATUS_FEATURES_OK))
        {
          vmm_virtio_set_broken (dev, "DRIVER_OK without FEATURES_OK");
          return;
        }
      if (dev->ops->activate != NULL && dev->ops->activate (dev) < 0)
        {
          vmm_virtio_set_broken (dev, "device activation failed");
          return;
        }
      /* Buffers made available before DRIVER_OK are served now. */
      for (unsigned q = 0; q < dev->ops->num_queues; q++)
        if (queue_runnable (dev, q) && dev->ops->queue_notify != NULL)
          dev->ops->queue_notify (dev, q);
    }
}

static void
enable_queue (struct vmm_virtio_dev *dev, struct vmm_virtio_queue *vq)
{
  int ret;

  if (vq->enabled)
    return;
  vq->vq.size = vq->size;
  vq->vq.event_idx = vmm_virtio_has_feature (dev, VIRTIO_F_RING_EVENT_IDX);
  vq->vq.indirect = vmm_virtio_has_feature (dev, VIRTIO_F_RING_INDIRECT_DESC);
  ret = virtq_start (&vq->vq);
  if (ret < 0)
    {
      g_autofree char *why = g_strdup_printf ("queue %u: %s", vq->index,
                                              vq->vq.error != NULL ? vq->vq.error
                                                                   : g_strerror (-ret));

      /* Not enabled: nothing runs on it, and the driver sees why it
       * cannot go on (DEVICE_NEEDS_RESET, said once). */
      vmm_virtio_set_broken (dev, why);
      return;
    }
  vq->enabled = true;
}

/* ---- common configuration ------------------------------------------------- */

static struct vmm_virtio_queue *
selected_queue (struct vmm_virtio_dev *dev)
{
  return dev->queue_select < dev->ops->num_queues ? &dev->queues[dev->queue_select] : NULL;
}

static void
common_image (struct vmm_virtio_dev *dev, uint8_t img[COMMON_LEN])
{
  struct vmm_virtio_queue *vq = selected_queue (dev);

  memset (img, 0, COMMON_LEN);
  viv_put_le (img + CC_DFSELECT, dev->device_feature_select, 4);
  viv_put_le (img + CC_DF, dev->device_feature_select < 2
                ? (uint32_t) (dev->device_features >> (32 * dev->device_feature_select)) : 0, 4);
  viv_put_le (img + CC_GFSELECT, dev->driver_feature_select, 4);
  viv_put_le (img + CC_GF, dev->driver_feature_select < 2
                ? (uint32_t) (dev->driver_features >> (32 * dev->driver_feature_select)) : 0, 4);
  viv_put_le (img + CC_MSIX, dev->config_vector, 2);
  viv_put_le (img + CC_NUMQ, dev->ops->num_queues, 2);
  viv_put_le (img + CC_STATUS, dev->status, 1);
  viv_put_le (img + CC_CFGGEN, dev->config_generation, 1);
  viv_put_le (img + CC_Q_SELECT, dev->queue_select, 2);
  if (vq != NULL)
    {
      viv_put_le (img + CC_Q_SIZE, vq->size, 2);
      viv_put_le (img + CC_Q_MSIX, vq->vector, 2);
      viv_put_le (img + CC_Q_ENABLE, vq->enabled, 2);
      viv_put_le (img + CC_Q_NOFF, vq->index, 2);
      viv_put_le (img + CC_Q_DESC, vq->vq.desc_gpa, 8);
      viv_put_le (img + CC_Q_AVAIL, vq->vq.avail_gpa, 8);
      viv_put_le (img + CC_Q_USED, vq->vq.used_gpa, 8);
      viv_put_le (img + CC_Q_NDATA, vq->index, 2);
    }
}

static uint16_t
checked_vector (const struct vmm_virtio_dev *dev, uint64_t v)
{
  return v < dev->n_vectors ? (uint16_t) v : VIRTIO_MSI_NO_VECTOR;
}

static void
common_write (struct vmm_virtio_dev *dev, unsigned off, const void *data, uint32_t len)
{
  uint8_t img[COMMON_LEN];
  struct vmm_virtio_queue *vq;
  unsigned end = off + len;

  common_image (dev, img);
  memcpy (img + off, data, len);
  vq = selected_queue (dev);

  /* Apply each field the write touched, reading its new value from the image. */
#define TOUCHES(o, l) (off < (o) + (l) && (o) < end)
  if (TOUCHES (CC_DFSELECT, 4))
    dev->device_feature_select = (uint32_t) viv_get_le (img + CC_DFSELECT, 4);
  if (TOUCHES (CC_GFSELECT, 4))
    dev->driver_feature_select = (uint32_t) viv_get_le (img + CC_GFSELECT, 4);
  if (TOUCHES (CC_GF, 4) && !(dev->status & VIRTIO_STATUS_FEATURES_OK) &&
      dev->driver_feature_select < 2)
    {
      unsigned shift = 32 * dev->driver_feature_select;
      dev->driver_features = (dev->driver_features & ~(0xffffffffull << shift)) |
                             viv_get_le (img + CC_GF, 4) << shift;
    }
  if (TOUCHES (CC_MSIX, 2))
    dev->config_vector = checked_vector (dev, viv_get_le (img + CC_MSIX, 2));
  if (TOUCHES (CC_STATUS, 1))
    set_status (dev, (uint8_t) viv_get_le (img + CC_STATUS, 1));
  if (TOUCHES (CC_Q_SELECT, 2))
    dev->queue_select = (uint16_t) viv_get_le (img + CC_Q_SELECT, 2);
  if (vq != NULL)
    {
      if (TOUCHES (CC_Q_SIZE, 2) && !vq->enabled)
        {
          uint64_t size = viv_get_le (img + CC_Q_SIZE, 2);
          /* The driver may only shrink the ring; virtq_start checks the rest. */
          vq->size = size <= dev->ops->queue_size ? (uint16_t) size : vq->size;
        }
      if (TOUCHES (CC_Q_MSIX, 2))
        vq->vector = checked_vector (dev, viv_get_le (img + CC_Q_MSIX, 2));
      if (TOUCHES (CC_Q_DESC, 8) && !vq->enabled)
        vq->vq.desc_gpa = viv_get_le (img + CC_Q_DESC, 8);
      if (TOUCHES (CC_Q_AVAIL, 8) && !vq->enabled)
        vq->vq.avail_gpa = viv_get_le (img + CC_Q_AVAIL, 8);
      if (TOUCHES (CC_Q_USED, 8) && !vq->enabled)
        vq->vq.used_gpa = viv_get_le (img + CC_Q_USED, 8);
      if (TOUCHES (CC_Q_ENABLE, 2) && viv_get_le (img + CC_Q_ENABLE, 2) == 1)
        enable_queue (dev, vq);
    }
#undef TOUCHES
}

/* ---- the BAR ---------------------------------------------------------------- */

static void
bar_access (struct vmm_virtio_dev *dev, uint64_t offset, void *data, uint32_t len, bool write)
{
  uint8_t img[COMMON_LEN];
  bool kick = false;
  unsigned q = 0;

  pthread_mutex_lock (&dev->lock);
  if (offset + len <= COMMON_OFF + COMMON_LEN) /* COMMON_OFF is 0 */
    {
      if (write)
        common_write (dev, (unsigned) (offset - COMMON_OFF), data, len);
      else
        {
          common_image (dev, img);
          memcpy (data, img + offset - COMMON_OFF, len);
        }
    }
  else if (offset == ISR_OFF && !write)
    {
      /* Reading ISR clears it. */
      memset (data, 0, len);
      *(uint8_t *) data = dev->isr;
      dev->isr = 0;
    }
  else if (offset >= DEVICE_OFF && offset + len <= DEVICE_OFF + dev->ops->config_size)
    {
      if (write && dev->ops->config_write)
        dev->ops->config_write (dev, (uint32_t) (offset - DEVICE_OFF), data, len);
      else if (!write && dev->ops->config_read)
        dev->ops->config_read (dev, (uint32_t) (offset - DEVICE_OFF), data, len);
    }
  else if (offset >= NOTIFY_OFF && offset < NOTIFY_OFF + (uint64_t) NOTIFY_MULT * dev->ops->num_queues)
    {
      /* Reached only when the ioeventfd did not take the write (another width). */
      if (write)
        {
          q = (unsigned) ((offset - NOTIFY_OFF) / NOTIFY_MULT);
          kick = queue_runnable (dev, q) && dev->ops->queue_notify != NULL;
        }
    }
  else if (offset >= MSIX_OFF && offset + len <= MSIX_OFF + 16ull * dev->n_vectors)
    msix_table_access (dev, offset - MSIX_OFF, data, len, write);
  else if (offset >= PBA_OFF && offset + len <= PBA_OFF + 8ull * ((dev->n_vectors + 63) / 64))
    {
      /* Bits 0-7 first, whatever the host's byte order */
      for (uint32_t i = 0; i < len && !write; i++)
        {
          uint64_t bit = 8 * (offset - PBA_OFF + i);

          ((uint8_t *) data)[i] = (uint8_t) (dev->pba[bit / 64] >> (bit % 64));
        }
    }
  if (kick)
    dev->ops->queue_notify (dev, q);
  pthread_mutex_unlock (&dev->lock);
}

static void
bar_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  bar_access (opaque, offset, data, len, false);
}

static void
bar_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  bar_access (opaque, offset, (void *) data, len, true);
}

static const struct vmm_io_ops bar_ops = {
  .read = bar_read,
  .write = bar_write,
};

int
vmm_virtio_queue_detach_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_queue *vq;

  if (q >= dev->ops->num_queues)
    return -1;
  vq = &dev->queues[q];
  if (!vq->notify_detached && vq->notify_fd >= 0)
    {
      vmm_loop_remove (dev->env.loop, vq->notify_fd);
      vq->notify_detached = true;
    }
  return vq->notify_fd;
}

static void
on_queue_notify (void *opaque, int fd, uint32_t events __attribute__ ((unused)))
{
  struct vmm_virtio_queue *vq = opaque;
  struct vmm_virtio_dev *dev = vq->dev;

  vmm_eventfd_drain (fd);
  pthread_mutex_lock (&dev->lock);
  if (queue_runnable (dev, vq->index) && dev->ops->queue_notify != NULL)
    dev->ops->queue_notify (dev, vq->index);
  pthread_mutex_unlock (&dev->lock);
}

/* ---- PCI hooks ---------------------------------------------------------------- */

static void
pci_bar_map (struct vmm_pci_device *pci, unsigned bar, uint64_t addr, bool map)
{
  struct vmm_virtio_dev *dev = pci->opaque;
  int ret;

  if (bar != BAR_INDEX)
    return;
  pthread_mutex_lock (&dev->lock);
  if (map)
    {
      ret = vmm_bus_register (dev->env.mmio, addr, BAR_SIZE, &bar_ops, dev, dev->ops->name);
      if (ret < 0)
        vmm_log_guest (&dev->rl, "virtio-%s: BAR at %#llx overlaps another device",
                       dev->ops->name, (unsigned long long) addr);
      else
        {
          dev->bar_mapped = true;
          dev->bar_addr = addr;
        }
    }
  else if (dev->bar_mapped)
    {
      vmm_bus_unregister (dev->env.mmio, dev->bar_addr, dev);
      dev->bar_mapped = false;
    }

  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      struct vmm_virtio_queue *vq = &dev->queues[q];

      if (vq->notify_registered)
        {
          vmm_kvm_ioeventfd (dev->env.vm_fd, vq->notify_fd, vq->notify_addr, 2, false, false);
          vq->notify_registered = false;
        }
      if (dev->bar_mapped)
        {
          vq->notify_addr = dev->bar_addr + NOTIFY_OFF + (uint64_t) NOTIFY_MULT * q;
          ret = vmm_kvm_ioeventfd (dev->env.vm_fd, vq->notify_fd, vq->notify_addr, 2, false, true);
          if (ret < 0)
            vmm_log_warning ("virtio-%s: no ioeventfd for queue %u (%s); notifications will "
                             "exit to the VMM", dev->ops->name, q, strerror (-ret));
          else
            vq->notify_registered = true;
        }
    }
  pthread_mutex_unlock (&dev->lock);
}

/* The pci_cfg capability's window: bar, offset, length, then 4 data bytes. */
static bool
pci_cfg_window (struct vmm_virtio_dev *dev, uint64_t *offset, uint32_t *len)
{
  const uint8_t *cap = &dev->pci.config[dev->pci_cfg_cap];
  uint32_t l = vmm_pci_get32 (cap + 12);
  uint32_t o = vmm_pci_get32 (cap + 8);

  if (cap[4] != BAR_INDEX || (l != 1 && l != 2 && l != 4) || o % l != 0 ||
      (uint64_t) o + l > BAR_SIZE)
    return false;
  *offset = o;
  *len = l;
  return true;
}

static bool
touches (uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
  return a < b + blen && b < a + alen;
}

static void
pci_config_read (struct vmm_pci_device *pci, uint32_t offset, uint32_t len)
{
  struct vmm_virtio_dev *dev = pci->opaque;
  uint64_t o;
  uint32_t l;

  if (touches (offset, len, dev->pci_cfg_cap + 16u, 4) && pci_cfg_window (dev, &o, &l))
    bar_access (dev, o, &pci->config[dev->pci_cfg_cap + 16], l, false);
}

static void
pci_config_write (struct vmm_pci_device *pci, uint32_t offset, uint32_t len)
{
  struct vmm_virtio_dev *dev = pci->opaque;
  uint64_t o;
  uint32_t l;

  if (touches (offset, len, dev->msix_cap + 2u, 2))
    {
      pthread_mutex_lock (&dev->lock);
      /* Unmasking the function or enabling MSI-X: routes, then what waited. */
      for (unsigned v = 0; v < dev->n_vectors; v++)
        if (!(dev->msix[v].ctrl & MSIX_ENTRY_MASKED))
          update_route (dev, v);
      deliver_pending (dev);
      pthread_mutex_unlock (&dev->lock);
    }
  if (touches (offset, len, dev->pci_cfg_cap + 16u, 4) && pci_cfg_window (dev, &o, &l))
    bar_access (dev, o, &pci->config[dev->pci_cfg_cap + 16], l, true);
}

static const struct vmm_pci_device_ops pci_ops = {
  .config_write = pci_config_write,
  .config_read = pci_config_read,
  .bar_map = pci_bar_map,
};

/* ---- snapshots ------------------------------------------------------------- */

/* The transport's section: its layout's version */
#define STATE_VERSION 1

#define STATUS_KNOWN (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
                      VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK | \
                      VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

struct saved_queue {
  uint16_t size, vector;
  bool enabled;
  uint64_t desc, avail, used;
  struct virtq_progress progress;
};

/* A copy of the transport's state, read and checked before any of it is
 * put in place */
struct saved_transport {
  uint64_t driver_features;
  uint32_t device_feature_select, driver_feature_select;
  uint8_t status, config_generation, isr;
  uint16_t queue_select, config_vector;
  struct vmm_virtio_msix_entry *msix;
  uint64_t *pba;
  struct saved_queue *queues;
};

static char *
device_section (const char *name)
{
  return g_strdup_printf ("%s.device", name);
}

void
vmm_virtio_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  g_autofree char *dev_name = NULL;

  g_return_if_fail (dev != NULL && dev->ops != NULL && w != NULL && name != NULL);

  pthread_mutex_lock (&dev->lock);
  vmm_state_begin (w, name, STATE_VERSION);
  /* What the state fits: a device with as many queues and vectors */
  vmm_state_put_u32 (w, dev->ops->num_queues);
  vmm_state_put_u32 (w, dev->n_vectors);

  vmm_state_put_u64 (w, dev->driver_features);
  vmm_state_put_u32 (w, dev->device_feature_select);
  vmm_state_put_u32 (w, dev->driver_feature_select);
  vmm_state_put_u8 (w, dev->status);
  vmm_state_put_u8 (w, dev->config_generation);
  vmm_state_put_u8 (w, dev->isr);
  vmm_state_put_u16 (w, dev->queue_select);
  vmm_state_put_u16 (w, dev->config_vector);

  for (unsigned v = 0; v < dev->n_vectors; v++)
    {
      vmm_state_put_u32 (w, dev->msix[v].addr_lo);
      vmm_state_put_u32 (w, dev->msix[v].addr_hi);
      vmm_state_put_u32 (w, dev->msix[v].data);
      vmm_state_put_u32 (w, dev->msix[v].ctrl);
    }
  for (unsigned i = 0; i < (dev->n_vectors + 63) / 64; i++)
    vmm_state_put_u64 (w, dev->pba[i]);

  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      const struct vmm_virtio_queue *vq = &dev->queues[q];
      struct virtq_progress p;

      virtq_get_progress (&vq->vq, &p);
      vmm_state_put_u16 (w, vq->size);
      vmm_state_put_u16 (w, vq->vector);
      vmm_state_put_bool (w, vq->enabled);
      vmm_state_put_u64 (w, vq->vq.desc_gpa);
      vmm_state_put_u64 (w, vq->vq.avail_gpa);
      vmm_state_put_u64 (w, vq->vq.used_gpa);
      vmm_state_put_u16 (w, p.last_avail_idx);
      vmm_state_put_u16 (w, p.used_idx);
      vmm_state_put_u16 (w, p.signalled_used);
      vmm_state_put_bool (w, p.signalled_used_valid);
      vmm_state_put_bool (w, p.notify_off);
      vmm_state_put_bool (w, p.broken);
    }
  vmm_state_end (w);

  if (dev->ops->save != NULL)
    {
      dev_name = device_section (name);
      dev->ops->save (dev, w, dev_name);
    }
  pthread_mutex_unlock (&dev->lock);
}

static bool
vector_valid (const struct vmm_virtio_dev *dev, uint16_t v)
{
  return v == VIRTIO_MSI_NO_VECTOR || v < dev->n_vectors;
}

/* Reads the transport's section into S (its arrays allocated for DEV),
 * checking every value against what DEV can be in */
static gboolean
read_transport (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
                struct saved_transport *s, GError **error)
{
  struct vmm_state_reader r;
  unsigned n_words = (dev->n_vectors + 63) / 64;
  uint32_t n_queues, n_vectors;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  n_queues = vmm_state_get_u32 (&r);
  n_vectors = vmm_state_get_u32 (&r);
  if (n_queues != dev->ops->num_queues || n_vectors != dev->n_vectors)
    {
      vmm_state_reader_fail (&r, N_("it is of a device with another number of queues"));
      return vmm_state_reader_done (&r, error);
    }

  s->driver_features = vmm_state_get_u64 (&r);
  s->device_feature_select = vmm_state_get_u32 (&r);
  s->driver_feature_select = vmm_state_get_u32 (&r);
  s->status = vmm_state_get_u8 (&r);
  s->config_generation = vmm_state_get_u8 (&r);
  s->isr = vmm_state_get_u8 (&r);
  s->queue_select = vmm_state_get_u16 (&r);
  s->config_vector = vmm_state_get_u16 (&r);
  if (s->status & ~STATUS_KNOWN)
    vmm_state_reader_fail (&r, N_("an unknown device status"));
  /* DRIVER_OK without FEATURES_OK only ever comes with NEEDS_RESET (set_status) */
  if ((s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK) &&
      !(s->status & VIRTIO_STATUS_NEEDS_RESET))
    vmm_state_reader_fail (&r, N_("an unknown device status"));
  if ((s->status & VIRTIO_STATUS_FEATURES_OK) &&
      ((s->driver_features & ~dev->device_features) != 0 ||
       !((s->driver_features >> VIRTIO_F_VERSION_1) & 1)))
    vmm_state_reader_fail (&r, N_("the driver uses features this device does not offer"));
  if (s->isr & ~3u)
    vmm_state_reader_fail (&r, N_("an unknown interrupt status"));
  if (!vector_valid (dev, s->config_vector))
    vmm_state_reader_fail (&r, N_("an MSI-X vector out of range"));

  s->msix = g_new0 (struct vmm_virtio_msix_entry, dev->n_vectors);
  s->pba = g_new0 (uint64_t, n_words);
  s->queues = g_new0 (struct saved_queue, dev->ops->num_queues);
  for (unsigned v = 0; v < dev->n_vectors; v++)
    {
      s->msix[v].addr_lo = vmm_state_get_u32 (&r);
      s->msix[v].addr_hi = vmm_state_get_u32 (&r);
      s->msix[v].data = vmm_state_get_u32 (&r);
      s->msix[v].ctrl = vmm_state_get_u32 (&r);
      if (s->msix[v].ctrl & ~(uint32_t) MSIX_ENTRY_MASKED)
        vmm_state_reader_fail (&r, N_("an unknown MSI-X vector control bit"));
    }
  for (unsigned i = 0; i < n_words; i++)
    {
      unsigned valid = dev->n_vectors - 64 * i;

      s->pba[i] = vmm_state_get_u64 (&r);
      if (valid < 64 && (s->pba[i] >> valid) != 0)
        vmm_state_reader_fail (&r, N_("an MSI-X vector out of range"));
    }

  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      struct saved_queue *sq = &s->queues[q];
      struct virtq_progress *p = &sq->progress;

      sq->size = vmm_state_get_u16 (&r);
      sq->vector = vmm_state_get_u16 (&r);
      sq->enabled = vmm_state_get_bool (&r);
      sq->desc = vmm_state_get_u64 (&r);
      sq->avail = vmm_state_get_u64 (&r);
      sq->used = vmm_state_get_u64 (&r);
      p->last_avail_idx = vmm_state_get_u16 (&r);
      p->used_idx = vmm_state_get_u16 (&r);
      p->signalled_used = vmm_state_get_u16 (&r);
      p->signalled_used_valid = vmm_state_get_bool (&r);
      p->notify_off = vmm_state_get_bool (&r);
      p->broken = vmm_state_get_bool (&r);
      if (r.failed != NULL)
        break;

      if (sq->size > dev->ops->queue_size)
        vmm_state_reader_fail (&r, N_("a queue is larger than the device allows"));
      if (!vector_valid (dev, sq->vector))
        vmm_state_reader_fail (&r, N_("an MSI-X vector out of range"));
      if (sq->enabled)
        {
          struct virtq check;
          const char *why;

          /* As enable_queue would start it (the memory map is the
           * machine's, whether or not its contents are back yet) */
          virtq_init (&check, dev->env.mem);
          check.size = sq->size;
          check.desc_gpa = sq->desc;
          check.avail_gpa = sq->avail;
          check.used_gpa = sq->used;
          check.event_idx = (s->driver_features >> VIRTIO_F_RING_EVENT_IDX) & 1;
          if (virtq_check (&check, &why) < 0)
            vmm_state_reader_fail (&r, N_("a queue's rings are not in guest memory as a "
                                          "queue's must be"));
          /* A broken ring marked the device (vmm_virtio_set_queue_broken) */
          if (p->broken && !(s->status & VIRTIO_STATUS_NEEDS_RESET))
            vmm_state_reader_fail (&r, N_("a queue is broken but the device is not"));
        }
      else if (p->last_avail_idx != 0 || p->used_idx != 0 || p->signalled_used != 0 ||
               p->signalled_used_valid || p->notify_off || p->broken)
        vmm_state_reader_fail (&r, N_("a queue that is not enabled has been used"));
    }
  return vmm_state_reader_done (&r, error);
}

static void
saved_transport_clear (struct saved_transport *s)
{
  g_free (s->msix);
  g_free (s->pba);
  g_free (s->queues);
}

/* Puts S in place (lock held); -errno when a queue cannot start (memory) */
static int
apply_transport (struct vmm_virtio_dev *dev, const struct saved_transport *s)
{
  int ret = 0;

  /* From a clean device: what ran before (a device's requests of the
   * driver that was) is dropped, as at a reset */
  reset_device (dev);
  dev->driver_features = s->driver_features;
  dev->device_feature_select = s->device_feature_select;
  dev->driver_feature_select = s->driver_feature_select;
  dev->status = s->status;
  dev->config_generation = s->config_generation;
  dev->isr = s->isr;
  dev->queue_select = s->queue_select;
  dev->config_vector = s->config_vector;
  memcpy (dev->msix, s->msix, dev->n_vectors * sizeof *dev->msix);
  memcpy (dev->pba, s->pba, (dev->n_vectors + 63) / 64 * sizeof *dev->pba);

  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      const struct saved_queue *sq = &s->queues[q];
      struct vmm_virtio_queue *vq = &dev->queues[q];

      vq->size = sq->size;
      vq->vector = sq->vector;
      vq->vq.desc_gpa = sq->desc;
      vq->vq.avail_gpa = sq->avail;
      vq->vq.used_gpa = sq->used;
      if (!sq->enabled)
        continue;
      vq->vq.size = sq->size;
      vq->vq.event_idx = vmm_virtio_has_feature (dev, VIRTIO_F_RING_EVENT_IDX);
      vq->vq.indirect = vmm_virtio_has_feature (dev, VIRTIO_F_RING_INDIRECT_DESC);
      ret = virtq_restore (&vq->vq, &sq->progress);
      if (ret < 0)
        break;
      vq->enabled = true;
    }
  return ret;
}

gboolean
vmm_virtio_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
                 bool apply, GError **error)
{
  g_autofree char *dev_name = NULL;
  struct saved_transport s = { 0 };
  gboolean ok = FALSE;
  int ret;

  g_return_val_if_fail (dev != NULL && dev->ops != NULL && f != NULL && name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  dev_name = device_section (name);
  pthread_mutex_lock (&dev->lock);
  /* Both sections checked whole before anything changes */
  if (!read_transport (dev, f, name, &s, error))
    goto out;
  if (dev->ops->load != NULL && !dev->ops->load (dev, f, dev_name, false, error))
    goto out;
  if (!apply)
    {
      ok = TRUE;
      goto out;
    }

  ret = apply_transport (dev, &s);
  if (ret < 0)
    {
      vmm_virtio_set_error (error, ret);
      reset_device (dev);
      goto out;
    }
  if (dev->ops->load != NULL && !dev->ops->load (dev, f, dev_name, true, error))
    {
      reset_device (dev);     /* not reached: the same section was just checked */
      goto out;
    }

  /* KVM's routes for the vectors the driver unmasked, and what waited;
   * the irqfds are attached to their GSIs still */
  for (unsigned v = 0; v < dev->n_vectors; v++)
    if (!(dev->msix[v].ctrl & MSIX_ENTRY_MASKED))
      update_route (dev, v);
  deliver_pending (dev);
  /* The driver may have made buffers available with its kicks off (the
   * device was draining or parked when saved): each running queue is
   * looked at once, on the device's loop, as after a kick */
  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    if (queue_runnable (dev, q))
      vmm_virtio_queue_resume (dev, q);
  ok = TRUE;

out:
  pthread_mutex_unlock (&dev->lock);
  saved_transport_clear (&s);
  return ok;
}

/* ---- construction ----------------------------------------------------------- */

static uint8_t
add_virtio_cap (struct vmm_pci_device *pci, uint8_t type, uint8_t len, uint32_t offset,
                uint32_t length)
{
  uint8_t cap = vmm_pci_device_add_cap (pci, PCI_CAP_ID_VNDR, len);

  if (cap == 0)
    return 0;
  pci->config[cap + 2] = len;
  pci->config[cap + 3] = type;
  pci->config[cap + 4] = BAR_INDEX;
  vmm_pci_set32 (&pci->config[cap + 8], offset);
  vmm_pci_set32 (&pci->config[cap + 12], length);
  return cap;
}

void
vmm_virtio_set_error (GError **error, int ret)
{
  g_set_error_literal (error, G_IO_ERROR, g_io_error_from_errno (-ret), g_strerror (-ret));
}

bool
vmm_virtio_pci_init (struct vmm_virtio_dev *dev, const struct vmm_virtio_ops *ops, void *priv,
                     const struct vmm_virtio_env *env, GError **error)
{
  struct vmm_pci_device *pci = &dev->pci;
  uint8_t cap;
  int ret;

  memset (dev, 0, sizeof *dev);
  if (ops->num_queues == 0 || ops->num_queues > MAX_QUEUES || ops->num_queues + 1 > MAX_VECTORS ||
      ops->config_size > REGION_LEN)
    {
      vmm_virtio_set_error (error, -EINVAL);
      return false;
    }

  dev->ops = ops;
  dev->priv = priv;
  dev->env = *env;
  pthread_mutex_init (&dev->lock, NULL);
  dev->device_features = ops->features | TRANSPORT_FEATURES;
  dev->n_vectors = ops->num_queues + 1;

  dev->queues = calloc (ops->num_queues, sizeof *dev->queues);
  dev->msix = calloc (dev->n_vectors, sizeof *dev->msix);
  dev->pba = calloc ((dev->n_vectors + 63) / 64, sizeof *dev->pba);
  dev->irqfds = calloc (dev->n_vectors, sizeof *dev->irqfds);
  dev->gsis = calloc (dev->n_vectors, sizeof *dev->gsis);
  if (!dev->queues || !dev->msix || !dev->pba || !dev->irqfds || !dev->gsis)
    {
      ret = -ENOMEM;
      goto fail;
    }
  for (unsigned v = 0; v < dev->n_vectors; v++)
    {
      dev->irqfds[v] = -1;
      dev->gsis[v] = 0;
      dev->msix[v].ctrl = MSIX_ENTRY_MASKED;
    }
  for (unsigned q = 0; q < ops->num_queues; q++)
    {
      struct vmm_virtio_queue *vq = &dev->queues[q];
      vq->dev = dev;
      vq->index = q;
      vq->notify_fd = -1;
      virtq_init (&vq->vq, env->mem);
    }
  reset_device (dev);

  /* Interrupts: a GSI and an irqfd per vector. */
  for (unsigned v = 0; v < dev->n_vectors; v++)
    {
      dev->irqfds[v] = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (dev->irqfds[v] < 0)
        {
          ret = -errno;
          goto fail;
        }
      ret = vmm_irq_router_alloc_msi (env->router, &dev->gsis[v]);
      if (ret < 0)
        goto fail;
      ret = vmm_kvm_irqfd (env->vm_fd, dev->irqfds[v], dev->gsis[v], true);
      if (ret < 0)
        goto fail;
    }
  /* Notifications: an eventfd per queue, served on the loop. */
  for (unsigned q = 0; q < ops->num_queues; q++)
    {
      struct vmm_virtio_queue *vq = &dev->queues[q];
      vq->notify_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (vq->notify_fd < 0)
        {
          ret = -errno;
          goto fail;
        }
      ret = vmm_loop_add (env->loop, vq->notify_fd, EPOLLIN, on_queue_notify, vq);
      if (ret < 0)
        goto fail;
    }

  /* The PCI function */
  vmm_pci_device_init (pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + ops->device_id,
                       ops->pci_class, VIRTIO_PCI_REVISION, VIRTIO_PCI_VENDOR,
                       VIRTIO_PCI_DEVICE_BASE + ops->device_id, &pci_ops, dev);
  vmm_pci_device_set_bar (pci, BAR_INDEX, BAR_SIZE, true, false);

  if (!add_virtio_cap (pci, CAP_COMMON, 16, COMMON_OFF, COMMON_LEN) ||
      !(cap = add_virtio_cap (pci, CAP_NOTIFY, 20, NOTIFY_OFF, NOTIFY_MULT * ops->num_queues)) ||
      !add_virtio_cap (pci, CAP_ISR, 16, ISR_OFF, 1) ||
      (ops->config_size > 0 && !add_virtio_cap (pci, CAP_DEVICE, 16, DEVICE_OFF, ops->config_size)))
    {
      ret = -ENOSPC;
      goto fail;
    }
  vmm_pci_set32 (&pci->config[cap + 16], NOTIFY_MULT);

  dev->pci_cfg_cap = add_virtio_cap (pci, CAP_PCI_CFG, 20, 0, 0);
  if (dev->pci_cfg_cap == 0)
    {
      ret = -ENOSPC;
      goto fail;
    }
  /* bar, offset, length and the data window are the driver's to write */
  pci->wmask[dev->pci_cfg_cap + 4] = 0xff;
  vmm_pci_set32 (&pci->wmask[dev->pci_cfg_cap + 8], 0xffffffff);
  vmm_pci_set32 (&pci->wmask[dev->pci_cfg_cap + 12], 0xffffffff);
  vmm_pci_set32 (&pci->wmask[dev->pci_cfg_cap + 16], 0xffffffff);

  dev->msix_cap = vmm_pci_device_add_cap (pci, PCI_CAP_ID_MSIX, 12);
  if (dev->msix_cap == 0)
    {
      ret = -ENOSPC;
      goto fail;
    }
  vmm_pci_set16 (&pci->config[dev->msix_cap + 2], (uint16_t) (dev->n_vectors - 1));
  vmm_pci_set16 (&pci->wmask[dev->msix_cap + 2], MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
  vmm_pci_set32 (&pci->config[dev->msix_cap + 4], MSIX_OFF | BAR_INDEX);
  vmm_pci_set32 (&pci->config[dev->msix_cap + 8], PBA_OFF | BAR_INDEX);
  return true;

fail:
  vmm_virtio_pci_destroy (dev);
  vmm_virtio_set_error (error, ret);
  return false;
}

void
vmm_virtio_pci_destroy (struct vmm_virtio_dev *dev)
{
  if (dev->ops == NULL)
    return;
  if (dev->queues != NULL)
    for (unsigned q = 0; q < dev->ops->num_queues; q++)
      {
        struct vmm_virtio_queue *vq = &dev->queues[q];
        if (vq->notify_registered)
          vmm_kvm_ioeventfd (dev->env.vm_fd, vq->notify_fd, vq->notify_addr, 2, false, false);
        if (vq->notify_fd >= 0)
          {
            if (!vq->notify_detached)
              vmm_loop_remove (dev->env.loop, vq->notify_fd);
            close (vq->notify_fd);
          }
        virtq_reset (&vq->vq);
      }
  if (dev->irqfds != NULL)
    for (unsigned v = 0; v < dev->n_vectors; v++)
      {
        if (dev->irqfds[v] < 0)
          continue;
        if (dev->gsis[v] != 0)
          {
            vmm_kvm_irqfd (dev->env.vm_fd, dev->irqfds[v], dev->gsis[v], false);
            vmm_irq_router_free_msi (dev->env.router, dev->gsis[v]);
          }
        close (dev->irqfds[v]);
      }
  if (dev->bar_mapped)
    vmm_bus_unregister (dev->env.mmio, dev->bar_addr, dev);
  free (dev->queues);
  free (dev->msix);
  free (dev->pba);
  free (dev->irqfds);
  free (dev->gsis);
  pthread_mutex_destroy (&dev->lock);
  memset (dev, 0, sizeof *dev);
}
