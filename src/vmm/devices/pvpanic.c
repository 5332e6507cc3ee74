/* devices/pvpanic.c: the guest tells us it panicked
 *
 * Reading the port gives the events we understand; the guest writes
 * PANICKED when its kernel panics (or CRASH_LOADED when a crash kernel
 * takes over). Linux's pvpanic driver finds it through ACPI (QEMU0001).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/pvpanic.h"

#include <stdint.h>

static void
pvpanic_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  (void) opaque;
  if (offset == 0 && len == 1)
    *(uint8_t *) data = VMM_PVPANIC_PANICKED | VMM_PVPANIC_CRASH_LOADED;
}

static void
pvpanic_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_pvpanic *p = opaque;
  unsigned events;

  if (offset != 0 || len != 1)
    return;
  events = *(const uint8_t *) data & (VMM_PVPANIC_PANICKED | VMM_PVPANIC_CRASH_LOADED);
  if (events != 0 && p->event != NULL)
    p->event (p->opaque, events);
}

const struct vmm_io_ops vmm_pvpanic_ops = {
  .read = pvpanic_read,
  .write = pvpanic_write,
};
