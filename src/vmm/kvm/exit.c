/* kvm/exit.c: struct kvm_run to struct vmm_exit
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/exit.h"

#include <linux/kvm.h>
#include <string.h>

_Static_assert (sizeof ((struct kvm_run *) 0)->mmio.data == VMM_EXIT_MMIO_MAX,
                "an MMIO exit carries at most VMM_EXIT_MMIO_MAX bytes");

void
vmm_kvm_exit_decode (struct kvm_run *run, unsigned vcpu, struct vmm_exit *exit)
{
  memset (exit, 0, sizeof *exit);
  exit->vcpu = vcpu;

  switch (run->exit_reason)
    {
    case KVM_EXIT_IO:
      exit->kind = VMM_EXIT_KIND_IO;
      exit->io.port = run->io.port;
      exit->io.size = run->io.size;
      exit->io.out = run->io.direction == KVM_EXIT_IO_OUT;
      exit->io.count = run->io.count;
      /* data_offset and count come from KVM, which keeps them in the page. */
      exit->io.data = (uint8_t *) run + run->io.data_offset;
      break;
    case KVM_EXIT_MMIO:
      exit->kind = VMM_EXIT_KIND_MMIO;
      exit->mmio.addr = run->mmio.phys_addr;
      exit->mmio.len = run->mmio.len;
      exit->mmio.write = run->mmio.is_write;
      exit->mmio.data = run->mmio.data;
      break;
    case KVM_EXIT_HLT:
      exit->kind = VMM_EXIT_KIND_HLT;
      break;
    case KVM_EXIT_INTR:
      exit->kind = VMM_EXIT_KIND_INTR;
      break;
    case KVM_EXIT_SHUTDOWN:
      exit->kind = VMM_EXIT_KIND_SHUTDOWN;
      break;
    case KVM_EXIT_SYSTEM_EVENT:
      exit->kind = VMM_EXIT_KIND_SYSTEM_EVENT;
      exit->system_event.type = run->system_event.type;
      switch (run->system_event.type)
        {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          exit->system_event.event = VMM_SYSTEM_EVENT_SHUTDOWN;
          break;
        case KVM_SYSTEM_EVENT_RESET:
          exit->system_event.event = VMM_SYSTEM_EVENT_RESET;
          break;
        default:
          exit->system_event.event = VMM_SYSTEM_EVENT_OTHER;
          break;
        }
      break;
    case KVM_EXIT_FAIL_ENTRY:
      exit->kind = VMM_EXIT_KIND_FAIL_ENTRY;
      exit->fail_entry.reason = run->fail_entry.hardware_entry_failure_reason;
      break;
    case KVM_EXIT_INTERNAL_ERROR:
      exit->kind = VMM_EXIT_KIND_INTERNAL_ERROR;
      exit->internal.suberror = run->internal.suberror;
      exit->internal.emulation = run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION;
      break;
    default:
      exit->kind = VMM_EXIT_KIND_UNKNOWN;
      exit->unknown.reason = run->exit_reason;
      break;
    }
}
