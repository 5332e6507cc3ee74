/* kvm/cpuid.h: whether a guest's CPUID fits this host's
 *
 * A snapshot's guest has seen the CPUID its vCPU was given (KVM_SET_CPUID2,
 * arch/x86/cpu.c's table) and may use every feature in it: restored on a
 * processor without one, it would fault on the first such instruction, or
 * find registers (AVX-512's) the XSAVE area has no room for. The check
 * compares the feature leaves bit by bit, as QEMU's migration does with
 * "-cpu host": 1, 7.0, 7.1, 0xd.0 and 0xd.1 (the XSAVE components and
 * instructions), 0x80000001; a feature the guest saw and this table lacks
 * refuses the load. The bits KVM changes as the guest runs (OSXSAVE,
 * OSPKE, the APIC bit) are not features and are left out.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

enum vmm_cpuid_reg { VMM_CPUID_EAX, VMM_CPUID_EBX, VMM_CPUID_ECX, VMM_CPUID_EDX };

/* The first thing SAVED has that HOST lacks */
struct vmm_cpuid_lack {
  bool xsave_size;              /* the XSAVE area: saved_size > host_size bytes */
  uint32_t saved_size, host_size;
  /* else a feature bit */
  uint32_t function, index;
  enum vmm_cpuid_reg reg;
  unsigned bit;
};

/* TRUE when every feature bit set in SAVED (N_SAVED entries) is set in
 * HOST too (a leaf HOST lacks has none) and SAVED's largest XSAVE area
 * (0xd.0 ECX) is no larger than HOST's; else FALSE with *LACK (may be
 * NULL) the first feature missing, in leaf order. */
bool vmm_cpuid_fits (const struct kvm_cpuid_entry2 *saved, uint32_t n_saved,
                     const struct kvm_cpuid_entry2 *host, uint32_t n_host,
                     struct vmm_cpuid_lack *lack);

/* The feature's usual name ("AVX-512F", "XSAVEC"), or NULL for a bit
 * without one here */
const char *vmm_cpuid_feature_name (uint32_t function, uint32_t index, enum vmm_cpuid_reg reg,
                                    unsigned bit);

/* What LACK means, for the user (translated): g_free it */
char *vmm_cpuid_lack_message (const struct vmm_cpuid_lack *lack);
