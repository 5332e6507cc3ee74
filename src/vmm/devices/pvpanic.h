/* devices/pvpanic.h: the guest tells us it panicked (one I/O port)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "bus.h"

#define VMM_PVPANIC_PANICKED     (1u << 0)
#define VMM_PVPANIC_CRASH_LOADED (1u << 1)

struct vmm_pvpanic {
  /* Called on the vCPU thread with the event bits the guest wrote. */
  void (*event) (void *opaque, unsigned events);
  void *opaque;
};

extern const struct vmm_io_ops vmm_pvpanic_ops; /* one port */
