/* virtio.h: a small polling driver for modern virtio-pci devices
 *
 * Split virtqueues (any number up to VIRTIO_MAX_QUEUES per device, rings
 * from a static pool), indirect descriptors and EVENT_IDX when offered,
 * MSI-X programmed but never taken: completions are found by polling the
 * used ring.  Several devices at once (virtio-rng and virtio-console).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "pci.h"

#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* The virtqueue size the driver uses at most (the size of its buffers) */
#define VIRTQ_MAX_SIZE 256
/* Queues per device the driver can set up (virtio-console: 4 ports) */
#define VIRTIO_MAX_QUEUES 10

struct virtio_cap
{
  bool present;
  uint8_t pos, bar;
  uint32_t offset, length;
  uint64_t addr;
};

struct virtio_dev;

/* One split virtqueue, driver side */
struct vq
{
  struct virtio_dev *dev;
  uint16_t index;
  bool enabled;
  uint16_t size, notify_off;
  uint64_t notify_addr;
  uint64_t desc, avail, used;   /* guest-physical = virtual, from the pool */
  uint16_t avail_idx, last_used;
  uint16_t published;           /* the avail index the device has been shown */
  uint64_t kicks;               /* notifications written */
};

struct virtio_dev
{
  const struct pci_dev *pci;
  struct pci_bar bars[6];

  struct virtio_cap common, notify, isr, device;
  uint32_t notify_mult;

  uint8_t msix_pos;
  uint16_t msix_size;
  uint64_t msix_table, msix_pba;

  uint64_t offered, features;
  uint16_t num_queues;          /* as the device reports it */
  struct vq vq[VIRTIO_MAX_QUEUES];
};

enum vq_result
{
  VQ_USED,          /* the buffer came back; *len says how much was written */
  VQ_NEEDS_RESET,   /* the device flagged DEVICE_NEEDS_RESET */
  VQ_TIMEOUT,
  VQ_BAD_ID,        /* a used element that names another descriptor */
};

/* Finds and checks the virtio vendor capabilities and MSI-X: TAP lines
 * with report, else a diagnostic for what is wrong */
bool virtio_find_caps (struct virtio_dev *v, const struct pci_dev *d,
                       const struct pci_bar bars[6], bool report);

/* Reset, feature negotiation, queue 0 with MSI-X table entry 0 as its
 * vector (left masked), DRIVER_OK.  With report, each step is a TAP line;
 * without, a failure is one diagnostic line and the result. */
bool virtio_init (struct virtio_dev *v, bool report);
/* The same in steps, for devices with more queues: reset to FEATURES_OK
 * (VERSION_1, INDIRECT_DESC and EVENT_IDX where offered, plus the offered
 * ones of extra), then each queue (at most max_size entries; MSI-X entry
 * vector, or VIRTIO_MSI_NO_VECTOR), then DRIVER_OK. */
bool virtio_begin (struct virtio_dev *v, uint64_t extra, bool report);
bool virtio_setup_queue (struct virtio_dev *v, uint16_t index, uint16_t max_size,
                         uint16_t vector, bool report);
bool virtio_driver_ok (struct virtio_dev *v, bool report);
bool virtio_reset (struct virtio_dev *v);
uint8_t virtio_status (const struct virtio_dev *v);
static inline bool virtio_has (const struct virtio_dev *v, unsigned bit)
{
  return v->features & (1ull << bit);
}

/* The device-specific configuration (needs its capability) */
uint8_t virtio_cfg_read8 (const struct virtio_dev *v, unsigned off);
uint16_t virtio_cfg_read16 (const struct virtio_dev *v, unsigned off);
uint32_t virtio_cfg_read32 (const struct virtio_dev *v, unsigned off);
/* Two 32-bit reads, repeated until config_generation holds still */
uint64_t virtio_cfg_read64 (const struct virtio_dev *v, unsigned off);
void virtio_cfg_write32 (const struct virtio_dev *v, unsigned off, uint32_t value);

/* Descriptor i of a queue */
void virtq_set_desc (struct vq *q, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next);
/* Makes head available and notifies if the device wants it */
void virtq_publish (struct vq *q, uint16_t head);
/* The same in two steps, for batches: add heads to the ring (not yet
 * visible), then publish them all with one index store and at most one
 * notification */
void virtq_add_avail (struct vq *q, uint16_t head);
void virtq_kick (struct vq *q);
/* The next used element, if there is one (no waiting) */
bool virtq_next_used (struct vq *q, uint32_t *id, uint32_t *len);
/* Makes head available, notifies if the device wants it, polls for the
 * used element (or NEEDS_RESET) for up to timeout_ms.  One buffer in
 * flight on the queue at a time. */
enum vq_result virtq_submit_wait (struct vq *q, uint16_t head, uint64_t timeout_ms,
                                  uint32_t *len);
uint16_t virtq_used_idx (const struct vq *q);
void virtq_set_used_event (struct vq *q, uint16_t idx);

/* A one-descriptor device-writable request of len bytes into buf */
enum vq_result virtio_rng_read (struct virtio_dev *v, void *buf, uint32_t len,
                                uint32_t *used_len);

/* MSI-X table entry i and its pending bit */
void msix_program (struct virtio_dev *v, unsigned i, uint64_t addr, uint32_t data,
                   bool masked);
void msix_mask (struct virtio_dev *v, unsigned i, bool masked);
bool msix_pending (const struct virtio_dev *v, unsigned i);
