/* arch/x86/cpu.h: a vCPU's CPUID, MSRs, LAPIC and boot registers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

#include "arch/x86/boot.h"

struct kvm_cpuid2;

/* Our hypervisor signature at CPUID 0x40000000; KVM's leaves move to
 * 0x40000100, where Linux's KVM detection also looks. */
#define VMM_CPUID_SIGNATURE "VivariumVMM\0"

/* KVM_GET_SUPPORTED_CPUID. Returns 0 with a malloc'ed table, or -errno. */
int  vmm_x86_supported_cpuid (int kvm_fd, struct kvm_cpuid2 **cpuid);

/* The table vCPU INDEX of N_CPUS gets: SUPPORTED plus our signature, the
 * hypervisor bit, APIC IDs and a topology of N_CPUS cores in one socket.
 * Returns a malloc'ed table or NULL. Exposed for tests. */
struct kvm_cpuid2 *vmm_x86_vcpu_cpuid (const struct kvm_cpuid2 *supported, unsigned index,
                                       unsigned n_cpus);

/* CPUID, MSRs, FPU and LAPIC (LINT0 ExtINT, LINT1 NMI) of a new vCPU. */
int  vmm_x86_vcpu_init (int kvm_fd, int vcpu_fd, const struct kvm_cpuid2 *supported,
                        unsigned index, unsigned n_cpus);

/* The boot vCPU's registers, from the loader's state. */
int  vmm_x86_vcpu_set_boot_state (int vcpu_fd, const struct vmm_boot_state *state);
