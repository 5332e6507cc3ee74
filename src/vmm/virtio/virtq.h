/* virtio/virtq.h: the split virtqueue, device side (virtio 1.x, 2.7)
 *
 * Everything read from the rings is guest-controlled. virtq_pop() copies each
 * descriptor once before using it, checks every index and every address range
 * against guest memory, bounds every walk, and reports a malformed chain as
 * -EIO; the device then marks itself broken (DEVICE_NEEDS_RESET). Nothing a
 * guest writes can make these functions read or write outside guest RAM.
 *
 * One thread at a time uses a queue (the device's own lock or thread).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "mem.h"

#define VIRTQ_MAX_SIZE        32768

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
} __attribute__ ((packed));

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
} __attribute__ ((packed));

/* One buffer segment, already translated to a host pointer. */
struct virtq_iov {
  void *base;
  uint32_t len;
};

/* A popped descriptor chain: iov[0 .. n_out) are device-readable (driver to
 * device), iov[n_out .. n_out + n_in) device-writable. Zero-length
 * descriptors are checked like any other but leave no segment. */
struct virtq_chain {
  uint16_t head;
  unsigned n_out, n_in;
  uint64_t out_len, in_len;   /* bytes in each direction */
  struct virtq_iov *iov;      /* the queue's own array, valid until the next pop */
};

struct virtq {
  const struct vmm_mem *mem;

  /* As the driver configured them (common config) */
  uint16_t size;
  uint64_t desc_gpa, avail_gpa, used_gpa;
  bool event_idx;             /* VIRTIO_F_RING_EVENT_IDX negotiated */
  bool indirect;              /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

  /* Host views of the rings, set by virtq_start() */
  volatile struct virtq_desc *desc;
  volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
  volatile uint16_t *used;    /* flags, idx, then elements; avail_event after them */

  uint16_t last_avail_idx;    /* next entry of the avail ring to take */
  uint16_t used_idx;          /* our copy of used->idx */
  uint16_t signalled_used;    /* used idx when we last decided about an interrupt */
  bool signalled_used_valid;

  unsigned drain_budget;       /* chains a device takes per drain (virtq_drain_budget);
                               * the queue size, set by virtq_start */

  bool started;
  bool notify_off;            /* we asked the driver not to kick (virtq_disable_notify) */
  bool broken;                /* a malformed chain was seen; needs a reset */
  const char *error;          /* why it broke, or why virtq_start refused the
                               * rings (static string) */

  struct virtq_iov *iov;      /* allocated at start: size entries, as a chain holds at
                               * most size descriptors (direct and indirect together) */
  unsigned iov_cap;
};

/* Resets Q to its just-created state for guest memory MEM. */
void virtq_init  (struct virtq *q, const struct vmm_mem *mem);

/* Checks the ring addresses and size the driver wrote (size a power of two,
 * 1 .. VIRTQ_MAX_SIZE; each ring aligned and wholly in guest RAM; no two
 * rings sharing a byte, counting the event fields only with EVENT_IDX) and
 * maps them. Returns 0, or -EINVAL (bad size or alignment, overlapping
 * rings), -EFAULT (a ring is outside RAM), -ENOMEM; q->error then says
 * what (except for -ENOMEM). */
int  virtq_start (struct virtq *q);

/* Checks the rings as virtq_start does, without mapping them or changing
 * Q: 0, or -EINVAL / -EFAULT with *WHY saying what (a static string). */
int  virtq_check (const struct virtq *q, const char **why);

/* A queue's progress through its rings, beyond what the driver configured
 * (size, addresses, event_idx, indirect in struct virtq): what a snapshot
 * keeps of a started queue. The rings themselves are in guest memory. */
struct virtq_progress {
  uint16_t last_avail_idx;
  uint16_t used_idx;
  uint16_t signalled_used;
  bool signalled_used_valid;
  bool notify_off;
  bool broken;
};

void virtq_get_progress (const struct virtq *q, struct virtq_progress *p);
/* Starts Q (virtq_start, its configuration set) and puts P back: the queue
 * goes on from where the saved one was. Returns virtq_start's result. */
int  virtq_restore (struct virtq *q, const struct virtq_progress *p);

/* Back to the state after virtq_init (device reset), freeing what start took. */
void virtq_reset (struct virtq *q);

/* Takes the next available chain. Returns 1 with *chain filled, 0 when the
 * ring is empty, -EIO when the guest wrote something malformed (then
 * q->broken is set, q->error says what, and every later call returns -EIO):
 * a head or next index out of range, a loop (more descriptors than the ring
 * or table holds), an address range outside guest RAM, a readable descriptor
 * after a writable one, an indirect table that is misaligned, empty, not a
 * multiple of 16 bytes, nested or not negotiated, a chain over 4 GiB, or an
 * avail index more than the ring size ahead. */
int  virtq_pop   (struct virtq *q, struct virtq_chain *chain);

/* The loop every device runs when it takes chains: the driver's kicks
 * are off while the device drains the ring (it is looking anyway); when
 * the ring is empty they go back on and the ring is looked at once more,
 * so a chain made available just before (without a kick: they were off)
 * is still taken. Returns 1 with *chain filled; 0 when the ring is empty
 * and kicks are on again; -EIO as virtq_pop.
 *
 * One drain takes at most *BUDGET chains (it counts them down; start it
 * at virtq_drain_budget): a driver that refills the ring as fast as the
 * device empties it, from another vCPU, must not hold the device's thread
 * and lock for ever. With the budget spent and chains left, it returns
 * -EAGAIN: the device must come back to the queue by itself, as for a
 * kick (vmm_virtio_queue_resume), since the driver need not kick again
 * for chains it already made available.
 *
 * A device that stops before 0 (it has nothing to give, or its backend is
 * full) leaves kicks off and drains again by itself when it can go on:
 *
 *   unsigned budget = virtq_drain_budget (q);
 *
 *   while ((ret = virtq_pop_or_enable (q, &chain, &budget)) > 0)
 *     { ...; virtq_push (q, chain.head, written); }
 *   if (ret == -EAGAIN)
 *     ...come back later...
 *   else if (ret < 0)
 *     ...the device needs a reset...
 *   if (virtq_should_notify (q))
 *     ...raise the interrupt...
 *
 * With EVENT_IDX, "kicks off" leaves avail_event where it was, and "on"
 * moves it to the next entry (2.7.10). */
int  virtq_pop_or_enable (struct virtq *q, struct virtq_chain *chain, unsigned *budget);

/* The same, except that an empty ring leaves kicks off: for a device that
 * will look at the ring again soon by itself (virtio-blk polls a busy
 * queue on completions). */
int  virtq_pop_quiet (struct virtq *q, struct virtq_chain *chain, unsigned *budget);

/* The most chains one drain takes: the queue size (a full ring), so an
 * honest driver's ring is emptied in one go. */
unsigned virtq_drain_budget (const struct virtq *q);

/* Puts a chain back unused (it will be popped again). */
void virtq_unpop (struct virtq *q);

/* Returns HEAD to the driver with LEN bytes written into its writable part. */
void virtq_push  (struct virtq *q, uint16_t head, uint32_t len);

/* After one or more pushes: whether the driver wants an interrupt now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool virtq_should_notify (struct virtq *q);

/* Notification suppression from our side, for devices with a loop of
 * their own (most use virtq_pop_or_enable). With EVENT_IDX, writes
 * avail_event; otherwise sets or clears VIRTQ_USED_F_NO_NOTIFY. Enabling
 * returns true if buffers arrived meanwhile (the caller must then pop again). */
bool virtq_enable_notify  (struct virtq *q);
void virtq_disable_notify (struct virtq *q);

/* Copies up to LEN bytes into the chain's writable segments, from the start.
 * Returns the number of bytes copied. */
uint32_t virtq_chain_write (const struct virtq_chain *chain, const void *data, uint32_t len);
/* Copies up to LEN bytes out of the chain's readable segments, starting OFFSET
 * bytes in. Returns the number of bytes copied. */
uint32_t virtq_chain_read  (const struct virtq_chain *chain, uint64_t offset, void *data,
                            uint32_t len);
