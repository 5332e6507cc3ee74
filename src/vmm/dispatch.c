/* dispatch.c: what a vCPU exit does
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "dispatch.h"

#include <stdio.h>

static void
dispatch_io (const struct vmm_dispatch *d, const struct vmm_exit *exit)
{
  uint8_t *data = exit->io.data;

  /* A string instruction (rep outsb) moves COUNT items through one exit. */
  for (uint32_t i = 0; i < exit->io.count; i++, data += exit->io.size)
    {
      bool handled = exit->io.out ? vmm_bus_write (d->pio, exit->io.port, data, exit->io.size)
                                  : vmm_bus_read (d->pio, exit->io.port, data, exit->io.size);
      if (!handled)
        vmm_log_debug ("unhandled port %s %#x (%u bytes)", exit->io.out ? "write" : "read",
                       exit->io.port, exit->io.size);
    }
}

static void
dispatch_mmio (const struct vmm_dispatch *d, const struct vmm_exit *exit)
{
  uint32_t len = exit->mmio.len;
  bool handled;

  if (len == 0 || len > VMM_EXIT_MMIO_MAX)
    return;
  handled = exit->mmio.write ? vmm_bus_write (d->mmio, exit->mmio.addr, exit->mmio.data, len)
                             : vmm_bus_read (d->mmio, exit->mmio.addr, exit->mmio.data, len);
  if (!handled)
    vmm_log_guest (d->unhandled_rl, "MMIO %s at %#llx (%u bytes) hits nothing",
                   exit->mmio.write ? "write" : "read", (unsigned long long) exit->mmio.addr,
                   len);
}

/* An exit the guest does not survive: logged, with the registers if they
 * tell where it died, then the VM stops. */
static void
fail (const struct vmm_dispatch *d, const struct vmm_exit *exit, const char *message,
      bool registers)
{
  vmm_log_error ("%s", message);
  if (registers)
    d->log_registers (d->opaque, exit->vcpu);
  d->stop (d->opaque, VMM_EXIT_ERROR, message);
}

void
vmm_exit_dispatch (const struct vmm_dispatch *d, const struct vmm_exit *exit)
{
  char message[160];

  switch (exit->kind)
    {
    case VMM_EXIT_KIND_IO:
      dispatch_io (d, exit);
      break;
    case VMM_EXIT_KIND_MMIO:
      dispatch_mmio (d, exit);
      break;
    case VMM_EXIT_KIND_INTR:
      break;
    case VMM_EXIT_KIND_HLT:
      /* With the in-kernel LAPIC, KVM waits for interrupts itself. */
      break;
    case VMM_EXIT_KIND_SHUTDOWN:
      vmm_log_warning ("vCPU %u: the guest triple-faulted; resetting", exit->vcpu);
      d->log_registers (d->opaque, exit->vcpu);
      d->stop (d->opaque, VMM_EXIT_RESET, "the guest triple-faulted");
      break;
    case VMM_EXIT_KIND_SYSTEM_EVENT:
      switch (exit->system_event.event)
        {
        case VMM_SYSTEM_EVENT_SHUTDOWN:
          d->power_off (d->opaque);
          break;
        case VMM_SYSTEM_EVENT_RESET:
          d->reset (d->opaque);
          break;
        case VMM_SYSTEM_EVENT_OTHER:
          snprintf (message, sizeof message, "the guest crashed (system event %u)",
                    exit->system_event.type);
          d->stop (d->opaque, VMM_EXIT_ERROR, message);
          break;
        }
      break;
    case VMM_EXIT_KIND_FAIL_ENTRY:
      snprintf (message, sizeof message,
                "vCPU %u could not enter the guest (hardware reason %#llx)", exit->vcpu,
                (unsigned long long) exit->fail_entry.reason);
      fail (d, exit, message, true);
      break;
    case VMM_EXIT_KIND_INTERNAL_ERROR:
      snprintf (message, sizeof message, "KVM internal error on vCPU %u (suberror %u%s)",
                exit->vcpu, exit->internal.suberror,
                exit->internal.emulation ? ": an instruction KVM cannot emulate" : "");
      fail (d, exit, message, true);
      break;
    case VMM_EXIT_KIND_UNKNOWN:
      snprintf (message, sizeof message, "unexpected KVM exit %u on vCPU %u",
                exit->unknown.reason, exit->vcpu);
      fail (d, exit, message, false);
      break;
    }
}
