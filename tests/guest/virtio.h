/* virtio.h: a small polling driver for a modern virtio-pci device
 *
 * One split virtqueue (queue 0), indirect descriptors and EVENT_IDX when
 * offered, MSI-X programmed but never taken: completions are found by
 * polling the used ring.
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

struct virtio_cap
{
  bool present;
  uint8_t pos, bar;
  uint32_t offset, length;
  uint64_t addr;
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
  uint16_t qsize, notify_off;
  uint64_t notify_addr;
  uint64_t desc, avail, used;   /* guest-physical = virtual */
  uint16_t avail_idx, last_used;
};

enum vq_result
{
  VQ_USED,          /* the buffer came back; *len says how much was written */
  VQ_NEEDS_RESET,   /* the device flagged DEVICE_NEEDS_RESET */
  VQ_TIMEOUT,
  VQ_BAD_ID,        /* a used element that names another descriptor */
};

/* Finds and checks the virtio vendor capabilities and MSI-X (TAP lines) */
bool virtio_find_caps (struct virtio_dev *v, const struct pci_dev *d,
                       const struct pci_bar bars[6]);

/* Reset, feature negotiation, queue 0 with MSI-X table entry 0 as its
 * vector (left masked), DRIVER_OK.  With report, each step is a TAP line;
 * without, a failure is one diagnostic line and the result. */
bool virtio_init (struct virtio_dev *v, bool report);
bool virtio_reset (struct virtio_dev *v);
uint8_t virtio_status (const struct virtio_dev *v);
static inline bool virtio_has (const struct virtio_dev *v, unsigned bit)
{
  return v->features & (1ull << bit);
}

/* Descriptor i of queue 0 */
void virtq_set_desc (struct virtio_dev *v, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next);
/* Makes head available, notifies if the device wants it, polls for the
 * used element (or NEEDS_RESET) for up to timeout_ms. */
enum vq_result virtq_submit_wait (struct virtio_dev *v, uint16_t head, uint64_t timeout_ms,
                                  uint32_t *len);
uint16_t virtq_used_idx (const struct virtio_dev *v);
void virtq_set_used_event (struct virtio_dev *v, uint16_t idx);

/* A one-descriptor device-writable request of len bytes into buf */
enum vq_result virtio_rng_read (struct virtio_dev *v, void *buf, uint32_t len,
                                uint32_t *used_len);

/* MSI-X table entry i and its pending bit */
void msix_program (struct virtio_dev *v, unsigned i, uint64_t addr, uint32_t data,
                   bool masked);
void msix_mask (struct virtio_dev *v, unsigned i, bool masked);
bool msix_pending (const struct virtio_dev *v, unsigned i);
