/* kvm/kvm.h: the /dev/kvm system fd and the capabilities the engine needs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

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
