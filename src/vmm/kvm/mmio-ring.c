/* kvm/mmio-ring.c: coalesced MMIO, KVM's ring of buffered guest writes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/mmio-ring.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void
vmm_kvm_mmio_ring_init (struct vmm_kvm_mmio_ring *ring)
{
  memset (ring, 0, sizeof *ring);
  pthread_mutex_init (&ring->lock, NULL);
}

int
vmm_kvm_mmio_ring_map (struct vmm_kvm_mmio_ring *ring, const struct vmm_kvm *kvm, void *run,
                       size_t run_size)
{
  long page = sysconf (_SC_PAGESIZE);
  int offset;

  /* KVM_CHECK_EXTENSION answers the ring's page offset in the run area */
  offset = vmm_kvm_check_extension (kvm, KVM_CAP_COALESCED_MMIO);
  if (offset <= 0)
    return -ENOTSUP;
  if (page <= 0 || (size_t) (offset + 1) * (size_t) page > run_size)
    return -EINVAL;
  vmm_kvm_mmio_ring_attach (ring, (uint8_t *) run + (size_t) offset * (size_t) page,
                            (size_t) page);
  return 0;
}

void
vmm_kvm_mmio_ring_attach (struct vmm_kvm_mmio_ring *ring, void *page, size_t page_size)
{
  ring->ring = page;
  ring->max = (uint32_t) ((page_size - sizeof (struct kvm_coalesced_mmio_ring)) /
                          sizeof (struct kvm_coalesced_mmio));
}

void
vmm_kvm_mmio_ring_destroy (struct vmm_kvm_mmio_ring *ring)
{
  ring->ring = NULL;
  pthread_mutex_destroy (&ring->lock);
}

int
vmm_kvm_mmio_ring_add_zone (const struct vmm_kvm_mmio_ring *ring, int vm_fd, uint64_t addr,
                            uint32_t size)
{
  struct kvm_coalesced_mmio_zone zone = { .addr = addr, .size = size };

  if (ring->ring == NULL)
    return -ENOTSUP;
  return ioctl (vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0 ? -errno : 0;
}

unsigned
vmm_kvm_mmio_ring_drain (struct vmm_kvm_mmio_ring *ring, vmm_kvm_mmio_ring_write_fn write,
                         void *opaque)
{
  struct kvm_coalesced_mmio_ring *r = ring->ring;
  unsigned n = 0;
  uint32_t first, last;

  if (r == NULL ||
      __atomic_load_n (&r->first, __ATOMIC_RELAXED) == __atomic_load_n (&r->last, __ATOMIC_ACQUIRE))
    return 0;

  pthread_mutex_lock (&ring->lock);
  first = __atomic_load_n (&r->first, __ATOMIC_RELAXED);
  /* KVM writes an entry, then moves LAST past it */
  last = __atomic_load_n (&r->last, __ATOMIC_ACQUIRE);
  /* Only KVM writes LAST and we write FIRST; out of range means the page is
   * not what KVM made, and then nothing in it is trusted. */
  if (first < ring->max && last < ring->max)
    while (first != last)
      {
        struct kvm_coalesced_mmio e;

        memcpy (&e, &r->coalesced_mmio[first], sizeof e);
        if (e.len >= 1 && e.len <= sizeof e.data && !e.pio)
          write (opaque, e.phys_addr, e.data, e.len);
        first = (first + 1) % ring->max;
        /* the entry is ours until FIRST moves past it */
        __atomic_store_n (&r->first, first, __ATOMIC_RELEASE);
        n++;
      }
  pthread_mutex_unlock (&ring->lock);
  return n;
}
