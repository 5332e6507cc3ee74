/* kvm/mmio-ring.h: coalesced MMIO, KVM's ring of buffered guest writes
 *
 * For a zone registered with KVM_REGISTER_COALESCED_MMIO, KVM does not exit
 * on a guest write: it appends the write to a ring in a page shared with us
 * (one ring per VM, mapped through any vCPU fd) and lets the guest run on.
 * Reads still exit. The writes must reach the device before anything that
 * could observe them, so the ring is drained before every exit is handled
 * and before a device reads the memory they went to (the VGA's frame).
 * This is what turns the ~20,000 exits of a firmware writing text into the
 * VGA window into a few hundred, as QEMU does for its VGA window.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"

struct kvm_coalesced_mmio_ring;

struct vmm_kvm_mmio_ring {
  struct kvm_coalesced_mmio_ring *ring;   /* NULL: no ring (every write exits) */
  uint32_t max;                           /* entries the page holds */
  pthread_mutex_t lock;                   /* one drainer at a time, in ring order */
};

/* A buffered write: LEN (1-8) bytes of DATA to ADDR. */
typedef void (*vmm_kvm_mmio_ring_write_fn) (void *opaque, uint64_t addr, const void *data,
                                            uint32_t len);

/* An empty ring, not mapped: draining it does nothing. */
void vmm_kvm_mmio_ring_init    (struct vmm_kvm_mmio_ring *ring);
/* Finds the ring in RUN, a vCPU's mapped run area of RUN_SIZE bytes
 * (vmm_kvm_vcpu), which must outlive the ring's use. Returns 0; -ENOTSUP
 * when KVM has no coalesced MMIO (nothing is ever buffered); -EINVAL when
 * the page KVM names lies outside RUN_SIZE. */
int  vmm_kvm_mmio_ring_map     (struct vmm_kvm_mmio_ring *ring, const struct vmm_kvm *kvm,
                                void *run, size_t run_size);
/* Uses PAGE (PAGE_SIZE bytes laid out as KVM's ring) as the ring: for
 * tests, which write entries into it as KVM would. */
void vmm_kvm_mmio_ring_attach  (struct vmm_kvm_mmio_ring *ring, void *page, size_t page_size);
void vmm_kvm_mmio_ring_destroy (struct vmm_kvm_mmio_ring *ring);

/* Asks KVM to buffer guest writes to [ADDR, ADDR + SIZE) on VM_FD. Returns 0
 * or -errno. Only for memory whose writes have no side effect the guest
 * waits on (a frame buffer), never for registers. */
int  vmm_kvm_mmio_ring_add_zone (const struct vmm_kvm_mmio_ring *ring, int vm_fd, uint64_t addr,
                                 uint32_t size);

/* Hands every buffered write to WRITE, oldest first, and frees its entry.
 * From any thread; returns how many went. Cheap when the ring is empty. */
unsigned vmm_kvm_mmio_ring_drain (struct vmm_kvm_mmio_ring *ring, vmm_kvm_mmio_ring_write_fn write,
                                  void *opaque);
