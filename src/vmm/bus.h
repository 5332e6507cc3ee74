/* bus.h: port-I/O and MMIO range dispatch
 *
 * A bus maps address ranges to devices. vCPU threads look ranges up
 * concurrently; registration (a BAR moving) takes the write side of a
 * read-write lock. A device's handlers do their own locking.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vmm_io_ops {
  /* OFFSET is relative to the range's base; LEN is 1, 2, 4 or 8. Reads fill
   * DATA (little-endian); a handler that does not know the register leaves
   * the all-ones pattern the bus put there. */
  void (*read)  (void *opaque, uint64_t offset, void *data, uint32_t len);
  void (*write) (void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct vmm_bus_range {
  uint64_t base;
  uint64_t len;
  const struct vmm_io_ops *ops;
  void *opaque;
  const char *name;
};

struct vmm_bus {
  const char *name;            /* "pio" or "mmio", for logs */
  pthread_rwlock_t lock;
  struct vmm_bus_range *ranges; /* sorted by base, non-overlapping */
  unsigned n_ranges, cap;
};

int  vmm_bus_init    (struct vmm_bus *bus, const char *name);
void vmm_bus_destroy (struct vmm_bus *bus);

/* Returns 0, -EEXIST when [base, base + len) overlaps a registered range,
 * -EINVAL for an empty or wrapping range, -ENOMEM. */
int  vmm_bus_register   (struct vmm_bus *bus, uint64_t base, uint64_t len,
                         const struct vmm_io_ops *ops, void *opaque, const char *name);
/* Removes the range starting at BASE that belongs to OPAQUE. -ENOENT if none. */
int  vmm_bus_unregister (struct vmm_bus *bus, uint64_t base, void *opaque);

/* Dispatches an access. Returns true when a device handled it; false when
 * nothing is there (reads then return all-ones, writes are dropped). An
 * access that straddles the end of a range is not dispatched. */
bool vmm_bus_read  (struct vmm_bus *bus, uint64_t addr, void *data, uint32_t len);
bool vmm_bus_write (struct vmm_bus *bus, uint64_t addr, const void *data, uint32_t len);
