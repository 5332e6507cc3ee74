/* kvm/kvm.h: the /dev/kvm system fd and the capabilities the engine needs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_KVM_DEFAULT_PATH "/dev/kvm"

struct vmm_kvm_cap {
  const char *name;     /* KVM_CAP_* as the kernel headers spell it */
  int         id;
  bool        required; /* false: used when present, not needed */
};

struct vmm_kvm {
  int fd;
  int api_version;
  int max_vcpus;        /* KVM_CAP_MAX_VCPUS, or NR_VCPUS on old kernels */
  int vcpu_mmap_size;   /* size of the kvm_run area of a vCPU fd */
};

/* The capabilities the engine asks for, in the order they are checked. */
const struct vmm_kvm_cap *vmm_kvm_caps (size_t *n_caps);

/* Opens the KVM device at PATH (NULL: /dev/kvm) and checks the API version.
 * Returns 0, or -errno: -ENOENT (no such device), -EACCES/-EPERM (no
 * permission), -ENOTTY (not a KVM device), -EPROTO (API version not 12). */
int  vmm_kvm_open  (struct vmm_kvm *kvm, const char *path);
void vmm_kvm_close (struct vmm_kvm *kvm);

/* KVM_CHECK_EXTENSION on the system fd: > 0 when present, 0 when absent. */
int  vmm_kvm_check_extension (const struct vmm_kvm *kvm, int cap);

/* Checks every required capability. Returns 0, or -ENOTSUP with *missing set
 * to the first capability that is absent. */
int  vmm_kvm_check_required  (const struct vmm_kvm *kvm, const struct vmm_kvm_cap **missing);

/* ---- the VM fd ------------------------------------------------------------ */

/* KVM_CREATE_VM. Returns the VM fd or -errno. */
int  vmm_kvm_create_vm (const struct vmm_kvm *kvm);

/* The platform pieces KVM emulates: the TSS and identity-map pages VT-x
 * needs (in the PCI hole, never RAM), the in-kernel PIC/IOAPIC/LAPIC and the
 * PIT (with the speaker port 0x61 handled in the kernel too). */
int  vmm_kvm_setup_platform (int vm_fd);

int  vmm_kvm_set_memory (int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host);
/* The same with KVM_MEM_* flags (KVM_MEM_READONLY: writes exit as MMIO).
 * SIZE 0 deletes the slot. */
int  vmm_kvm_set_memory_flags (int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                               uint32_t flags);

/* Level-triggered ISA/IOAPIC line (KVM_IRQ_LINE). */
int  vmm_kvm_irq_line (int vm_fd, unsigned gsi, bool level);

/* Attaches (or detaches) EVENTFD to GSI: a write to it raises the interrupt. */
int  vmm_kvm_irqfd (int vm_fd, int eventfd, unsigned gsi, bool assign);

/* Attaches (or detaches) EVENTFD to a guest write of LEN bytes (0: any) at
 * ADDR in MMIO or port space; KVM completes the write without an exit. */
int  vmm_kvm_ioeventfd (int vm_fd, int eventfd, uint64_t addr, unsigned len, bool pio,
                        bool assign);
