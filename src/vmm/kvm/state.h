/* kvm/state.h: a vCPU's and the VM's in-kernel state, saved and restored
 *
 * What KVM holds for the guest and the engine cannot see otherwise: each
 * vCPU's registers, FPU/XSAVE area, XCRs, debug registers, LAPIC, MSRs,
 * pending events and run state ("vcpu.N" sections), and the VM's in-kernel
 * PIC, IOAPIC and PIT and its kvmclock ("kvm.irqchip", "kvm.pit",
 * "kvm.clock"). The same work as QEMU's kvm_arch_get_registers and
 * kvm_arch_put_registers and Firecracker's vCPU save_state, in the layout
 * of snapshot/state.h and the save/load convention of snapshot/README.md.
 *
 * Features KVM lacks are left out the way QEMU leaves them out (no SREGS2:
 * the PDPTRs are reloaded from guest memory; no XSAVE: the legacy FPU
 * area), and said once in the log by vmm_kvm_vm_save.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>

#include <glib.h>

#include "kvm/kvm.h"
#include "kvm/vcpu.h"
#include "snapshot/state.h"

#define VMM_KVM_STATE_ERROR (vmm_kvm_state_error_quark ())
typedef enum {
  VMM_KVM_STATE_ERROR_KVM,      /* an ioctl failed; the message says which */
  VMM_KVM_STATE_ERROR_BUSY,     /* the vCPU is inside an instruction the engine must finish */
  VMM_KVM_STATE_ERROR_CPU,      /* saved on a processor with features this one lacks */
} VmmKvmStateError;
GQuark vmm_kvm_state_error_quark (void);

/* Bounds a load checks before anything else */
#define VMM_KVM_STATE_MAX_MSRS   1024
#define VMM_KVM_STATE_MAX_XSAVE  (1u << 20)
#define VMM_KVM_STATE_MAX_CPUID  1024

/* Saves VCPU into the section NAME ("vcpu.0"), with the CPUID it was
 * given (KVM_GET_CPUID2). The vCPU must be paused
 * (its thread out of KVM_RUN and staying out) and the exit it last
 * returned with dispatched: the save first re-enters KVM_RUN with
 * immediate_exit set, as KVM's API documentation asks, so that a port or
 * MMIO access it stopped on completes (RIP moves past the instruction, an
 * IN's data lands in its register). If that completion needs the engine
 * once more (a string I/O instruction not finished yet) the save fails
 * with VMM_KVM_STATE_ERROR_BUSY and the exit is left in the run page for
 * the run loop: resume, pause and save again. */
gboolean vmm_kvm_vcpu_save (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm,
                            struct vmm_state_writer *w, const char *name, GError **error);

/* Reads the section NAME of F and checks it, also against what this KVM
 * can take (the XSAVE area's size, the MSRs this vCPU accepts) and this
 * processor can give: a feature in the CPUID the saved vCPU was given
 * that this vCPU's lacks (kvm/cpuid.h) refuses the load with
 * VMM_KVM_STATE_ERROR_CPU, naming it; with APPLY
 * writes it into VCPU in the order KVM needs (see state.c). VCPU is paused,
 * has the CPUID it was saved with, and has not run since it was created or
 * paused (a restore into a vCPU that ran is fine too). With APPLY false
 * only read-only ioctls are made. */
gboolean vmm_kvm_vcpu_load (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm,
                            const struct vmm_state_file *f, const char *name, bool apply,
                            GError **error);

/* Saves the VM's in-kernel PIC (master, slave) and IOAPIC ("kvm.irqchip"),
 * PIT ("kvm.pit") and kvmclock ("kvm.clock"). Every vCPU paused. */
gboolean vmm_kvm_vm_save (struct vmm_kvm *kvm, int vm_fd, struct vmm_state_writer *w,
                          GError **error);

/* Loads the three sections; with APPLY sets the clock first (the guest's
 * kvmclock continues from the saved value: the time the machine spent
 * saved is not counted), then the irqchip, then the PIT. Lines devices
 * hold at a level are not in the irqchip's state: the devices' loads
 * assert them again. Call it before the vCPUs' loads or after: KVM
 * recomputes what the LAPICs derive from the IOAPIC at the next entry. */
gboolean vmm_kvm_vm_load (struct vmm_kvm *kvm, int vm_fd, const struct vmm_state_file *f,
                          bool apply, GError **error);
