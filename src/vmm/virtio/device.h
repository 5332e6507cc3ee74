/* virtio/device.h: a virtio device on the modern virtio-pci transport
 *
 * A device (rng, blk, console...) is an ops table plus its own state; the
 * transport (virtio/pci.c) owns the PCI function, the common configuration,
 * the queues, MSI-X and notifications. Queue work runs on the VM's event
 * loop thread with the device lock held; so do config accesses from vCPUs.
 *
 * Every device has the same lifecycle: vmm_virtio_X_new (env, its
 * configuration..., error) returns the device or NULL with a GError, its
 * PCI function is vmm_virtio_X_dev (dev)->pci, vmm_virtio_X_free (dev)
 * frees it (NULL is fine). Errors: GError when setting up (the message
 * says why, the caller says which device); -errno at run time, and what
 * the guest gets wrong is logged (rate-limited) or marks the device broken.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "devices/pci.h"
#include "kvm/irq.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "snapshot/state.h"
#include "virtio/virtq.h"

/* Device status bits (virtio 1.2, 2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE   0x01
#define VIRTIO_STATUS_DRIVER        0x02
#define VIRTIO_STATUS_DRIVER_OK     0x04
#define VIRTIO_STATUS_FEATURES_OK   0x08
#define VIRTIO_STATUS_NEEDS_RESET   0x40
#define VIRTIO_STATUS_FAILED        0x80

/* Transport feature bits */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_MSI_NO_VECTOR        0xffff

/* What the transport needs from the VM. */
struct vmm_virtio_env {
  const struct vmm_mem *mem;
  struct vmm_loop *loop;
  struct vmm_bus *mmio;
  struct vmm_irq_router *router;
  int vm_fd;
};

struct vmm_virtio_dev;

struct vmm_virtio_ops {
  const char *name;             /* "rng", for logs */
  uint16_t device_id;           /* virtio device type: 4 is entropy */
  uint32_t pci_class;
  uint64_t features;            /* device-specific feature bits offered */
  unsigned num_queues;
  uint16_t queue_size;          /* the largest ring the device takes */
  uint32_t config_size;         /* bytes of device-specific config */

  /* Device config space; OFFSET + LEN <= config_size, checked. */
  void (*config_read)  (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len);
  void (*config_write) (struct vmm_virtio_dev *dev, uint32_t offset, const void *data,
                        uint32_t len);
  /* The driver set DRIVER_OK. Returning < 0 marks the device broken. */
  int  (*activate)     (struct vmm_virtio_dev *dev);
  /* The driver reset the device: drop everything in flight. */
  void (*reset)        (struct vmm_virtio_dev *dev);
  /* The driver made buffers available on queue Q. */
  void (*queue_notify) (struct vmm_virtio_dev *dev, unsigned q);

  /* Snapshots (snapshot/README.md): the device's own state, beyond what
   * the transport keeps (common configuration, queues, MSI-X), in a
   * section of its own, NAME (the transport derives it: "virtio-blk.0.device"),
   * with a version of its own. Both optional: a device without them (rng)
   * has no state but its queues. Called with dev->lock held, the vCPUs
   * paused and the device quiet (the caller drained what was in flight).
   *
   * save: vmm_state_begin (w, NAME, version), the fields, vmm_state_end.
   * load: reads NAME whole into a copy (vmm_state_reader_init with the
   * newest version it knows ... vmm_state_reader_done), checks every value
   * (vmm_state_reader_fail (r, N_("..."))), and only with APPLY writes the
   * copy into the device and re-derives what follows from it. Returns
   * FALSE with ERROR set, the device unchanged, when the section is
   * missing, damaged, too new or does not fit this device. With APPLY the
   * transport's state is already in place (features, queues started), and
   * after it the transport looks at every running queue as if the driver
   * had kicked: the device need not drain its queues itself. */
  void     (*save) (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name);
  gboolean (*load) (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
                    bool apply, GError **error);
};

struct vmm_virtio_queue {
  struct vmm_virtio_dev *dev;
  unsigned index;
  struct virtq vq;
  uint16_t size;                /* as the driver set it */
  uint16_t vector;
  bool enabled;
  int notify_fd;                /* ioeventfd */
  bool notify_registered;
  bool notify_detached;         /* notify_fd is polled by the device's own thread */
  uint64_t notify_addr;
};

struct vmm_virtio_msix_entry {
  uint32_t addr_lo, addr_hi, data, ctrl;
};

struct vmm_virtio_dev {
  const struct vmm_virtio_ops *ops;
  void *priv;                   /* the device's own state */
  struct vmm_virtio_env env;
  struct vmm_pci_device pci;
  pthread_mutex_t lock;
  struct vmm_ratelimit rl;

  /* Common configuration */
  uint64_t device_features;
  uint64_t driver_features;
  uint32_t device_feature_select, driver_feature_select;
  uint8_t status;
  uint8_t config_generation;
  uint16_t queue_select;
  uint16_t config_vector;
  uint8_t isr;

  struct vmm_virtio_queue *queues;

  /* MSI-X */
  unsigned n_vectors;
  struct vmm_virtio_msix_entry *msix;
  uint64_t *pba;
  int *irqfds;
  unsigned *gsis;
  uint8_t msix_cap;             /* capability offset in config space */
  uint8_t pci_cfg_cap;          /* VIRTIO_PCI_CAP_PCI_CFG offset */

  bool bar_mapped;
  uint64_t bar_addr;
};

/* Creates the PCI function for a device and wires its queues and vectors
 * to KVM. Returns false with ERROR set (G_IO_ERROR; the message is the
 * errno's text). The caller then adds dev->pci to the host. */
bool vmm_virtio_pci_init    (struct vmm_virtio_dev *dev, const struct vmm_virtio_ops *ops,
                             void *priv, const struct vmm_virtio_env *env, GError **error);
void vmm_virtio_pci_destroy (struct vmm_virtio_dev *dev);

/* Snapshots: the device as its driver sees it, in the section NAME
 * ("virtio-blk.0": the common configuration, the queues' configuration and
 * progress, the MSI-X table and pending bits, the ISR) and, through the
 * ops' save and load, NAME.device (the device's own part). Not saved: the
 * PCI function's config space and BAR (the PCI host's: MSI-X's enable and
 * mask-all bits are there), the eventfds, the host side.
 *
 * The caller has the vCPUs paused and the device quiet (nothing in
 * flight). vmm_virtio_load checks both sections whole, and only with
 * APPLY puts them in place: the queues go on from the saved indices over
 * guest memory (restored before, or after but before the vCPUs run), the
 * MSI-X routes of unmasked vectors are set again (KVM's GSI routing), the
 * pending ones are delivered if the function's MSI-X is on by then, and
 * each running queue is looked at once as if kicked, on the device's
 * loop. The notification eventfds and irqfds stay as they are. */
void     vmm_virtio_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w,
                          const char *name);
gboolean vmm_virtio_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f,
                          const char *name, bool apply, GError **error);

/* Sets ERROR for -errno RET, as vmm_virtio_pci_init does: for set-up code
 * that calls functions returning -errno. */
void vmm_virtio_set_error (GError **error, int ret);

/* For devices, with dev->lock held: */

/* Interrupts the driver for used buffers on queue Q (the caller checked
 * virtq_should_notify). */
void vmm_virtio_notify_queue (struct vmm_virtio_dev *dev, unsigned q);
/* Device config changed: new generation and a config interrupt. */
void vmm_virtio_config_changed (struct vmm_virtio_dev *dev);
/* The guest broke the protocol: DEVICE_NEEDS_RESET and a config interrupt;
 * queues stop until the driver resets the device. */
void vmm_virtio_set_broken (struct vmm_virtio_dev *dev, const char *why);
/* The same for a malformed ring (virtq_pop said -EIO), with its reason. */
void vmm_virtio_set_queue_broken (struct vmm_virtio_dev *dev, unsigned q);
/* Queue Q's drain stopped with chains left (virtq_pop_or_enable said
 * -EAGAIN): queue_notify runs again for it soon, from the device's loop,
 * as if the driver had kicked. */
void vmm_virtio_queue_resume (struct vmm_virtio_dev *dev, unsigned q);
bool vmm_virtio_has_feature (const struct vmm_virtio_dev *dev, unsigned bit);

/* For a device whose work runs on a thread of its own: queue Q's
 * notification eventfd (the guest's kicks, through KVM's ioeventfd) leaves
 * the VM's loop and is returned, for that thread to poll and drain; the
 * transport still owns and closes it. queue_notify is then not called for
 * Q: the thread takes the lock and looks at the queue itself. */
int  vmm_virtio_queue_detach_notify (struct vmm_virtio_dev *dev, unsigned q);
