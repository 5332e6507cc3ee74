/* bus.c: port-I/O and MMIO range dispatch
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
vmm_bus_init (struct vmm_bus *bus, const char *name)
{
  memset (bus, 0, sizeof *bus);
  bus->name = name;
  return -pthread_rwlock_init (&bus->lock, NULL);
}

void
vmm_bus_destroy (struct vmm_bus *bus)
{
  free (bus->ranges);
  pthread_rwlock_destroy (&bus->lock);
  memset (bus, 0, sizeof *bus);
}

/* Index of the first range whose end is above ADDR (binary search). */
static unsigned
lower_bound (const struct vmm_bus *bus, uint64_t addr)
{
  unsigned lo = 0, hi = bus->n_ranges;

  while (lo < hi)
    {
      unsigned mid = lo + (hi - lo) / 2;
      const struct vmm_bus_range *r = &bus->ranges[mid];
      if (r->base + (r->len - 1) < addr)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

int
vmm_bus_register (struct vmm_bus *bus, uint64_t base, uint64_t len,
                  const struct vmm_io_ops *ops, void *opaque, const char *name)
{
  unsigned i;
  int ret = 0;

  if (len == 0 || base + (len - 1) < base)
    return -EINVAL;

  pthread_rwlock_wrlock (&bus->lock);
  i = lower_bound (bus, base);
  if (i < bus->n_ranges && bus->ranges[i].base <= base + (len - 1))
    {
      ret = -EEXIST;
      goto out;
    }
  if (bus->n_ranges == bus->cap)
    {
      unsigned cap = bus->cap ? bus->cap * 2 : 16;
      struct vmm_bus_range *r = realloc (bus->ranges, cap * sizeof *r);
      if (r == NULL)
        {
          ret = -ENOMEM;
          goto out;
        }
      bus->ranges = r;
      bus->cap = cap;
    }
  memmove (&bus->ranges[i + 1], &bus->ranges[i], (bus->n_ranges - i) * sizeof *bus->ranges);
  bus->ranges[i] = (struct vmm_bus_range) { base, len, ops, opaque, name };
  bus->n_ranges++;
out:
  pthread_rwlock_unlock (&bus->lock);
  return ret;
}

int
vmm_bus_unregister (struct vmm_bus *bus, uint64_t base, void *opaque)
{
  unsigned i;
  int ret = -ENOENT;

  pthread_rwlock_wrlock (&bus->lock);
  i = lower_bound (bus, base);
  if (i < bus->n_ranges && bus->ranges[i].base == base && bus->ranges[i].opaque == opaque)
    {
      memmove (&bus->ranges[i], &bus->ranges[i + 1],
               (bus->n_ranges - i - 1) * sizeof *bus->ranges);
      bus->n_ranges--;
      ret = 0;
    }
  pthread_rwlock_unlock (&bus->lock);
  return ret;
}

/* The range is copied out and the lock dropped before the handler runs: a
 * handler may change the bus itself (a PCI config write moving a BAR on the
 * MMIO bus arrives through ECAM on that same bus). Devices are only freed
 * after every vCPU has stopped, so the copied OPAQUE stays valid. */
static bool
dispatch (struct vmm_bus *bus, uint64_t addr, void *data, uint32_t len, bool write)
{
  struct vmm_bus_range r = { 0 };
  bool found = false;
  unsigned i;

  pthread_rwlock_rdlock (&bus->lock);
  i = lower_bound (bus, addr);
  if (i < bus->n_ranges)
    {
      r = bus->ranges[i];
      found = addr >= r.base && len <= r.len && addr - r.base <= r.len - len;
    }
  pthread_rwlock_unlock (&bus->lock);

  if (!found)
    return false;
  if (write && r.ops->write != NULL)
    r.ops->write (r.opaque, addr - r.base, data, len);
  else if (!write && r.ops->read != NULL)
    r.ops->read (r.opaque, addr - r.base, data, len);
  return true;
}

bool
vmm_bus_read (struct vmm_bus *bus, uint64_t addr, void *data, uint32_t len)
{
  memset (data, 0xff, len);
  return dispatch (bus, addr, data, len, false);
}

bool
vmm_bus_write (struct vmm_bus *bus, uint64_t addr, const void *data, uint32_t len)
{
  return dispatch (bus, addr, (void *) data, len, true);
}
