/* kvm/kvm.c: the /dev/kvm system fd and the capabilities the engine needs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define CAP(id, req) { #id, id, req }

static const struct vmm_kvm_cap caps[] = {
  CAP (KVM_CAP_USER_MEMORY, true),     /* guest RAM from our own mmap */
  CAP (KVM_CAP_IRQCHIP, true),         /* in-kernel PIC, IOAPIC and LAPIC */
  CAP (KVM_CAP_PIT2, true),            /* in-kernel PIT */
  CAP (KVM_CAP_IRQ_ROUTING, true),     /* GSI routing, for MSI-X */
  CAP (KVM_CAP_IRQFD, true),           /* device interrupts from eventfds */
  CAP (KVM_CAP_IOEVENTFD, true),       /* queue notifications as eventfds */
  CAP (KVM_CAP_EXT_CPUID, true),       /* KVM_GET_SUPPORTED_CPUID */
  CAP (KVM_CAP_SET_TSS_ADDR, true),    /* the TSS page Intel VT-x needs */
  CAP (KVM_CAP_MP_STATE, true),        /* APs wait for INIT/SIPI */
  CAP (KVM_CAP_IMMEDIATE_EXIT, true),  /* stopping a vCPU without races */
  CAP (KVM_CAP_SIGNAL_MSI, false),
  CAP (KVM_CAP_ADJUST_CLOCK, false),
  CAP (KVM_CAP_TSC_DEADLINE_TIMER, false),
  CAP (KVM_CAP_X2APIC_API, false),
};

const struct vmm_kvm_cap *
vmm_kvm_caps (size_t *n_caps)
{
  *n_caps = sizeof caps / sizeof caps[0];
  return caps;
}

int
vmm_kvm_open (struct vmm_kvm *kvm, const char *path)
{
  int fd, ret;

  kvm->fd = -1;
  kvm->api_version = 0;
  kvm->max_vcpus = 0;
  kvm->vcpu_mmap_size = 0;

  fd = open (path != NULL ? path : VMM_KVM_DEFAULT_PATH, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -errno;

  ret = ioctl (fd, KVM_GET_API_VERSION, 0);
  if (ret < 0)
    {
      /* /dev/null, a regular file or another device answers ENOTTY or EINVAL */
      ret = -ENOTTY;
      goto fail;
    }
  if (ret != KVM_API_VERSION)
    {
      kvm->api_version = ret;
      ret = -EPROTO;
      goto fail;
    }
  kvm->api_version = ret;
  kvm->fd = fd;

  kvm->max_vcpus = vmm_kvm_check_extension (kvm, KVM_CAP_MAX_VCPUS);
  if (kvm->max_vcpus <= 0)
    kvm->max_vcpus = vmm_kvm_check_extension (kvm, KVM_CAP_NR_VCPUS);
  if (kvm->max_vcpus <= 0)
    kvm->max_vcpus = 4; /* what KVM documents for kernels without either cap */

  ret = ioctl (fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (ret <= 0)
    {
      ret = ret < 0 ? -errno : -EINVAL;
      kvm->fd = -1;
      goto fail;
    }
  kvm->vcpu_mmap_size = ret;
  return 0;

fail:
  close (fd);
  return ret;
}

void
vmm_kvm_close (struct vmm_kvm *kvm)
{
  if (kvm->fd >= 0)
    close (kvm->fd);
  kvm->fd = -1;
}

int
vmm_kvm_check_extension (const struct vmm_kvm *kvm, int cap)
{
  int ret = ioctl (kvm->fd, KVM_CHECK_EXTENSION, cap);

  return ret < 0 ? 0 : ret;
}

int
vmm_kvm_check_required (const struct vmm_kvm *kvm, const struct vmm_kvm_cap **missing)
{
  for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
    if (caps[i].required && vmm_kvm_check_extension (kvm, caps[i].id) <= 0)
      {
        if (missing != NULL)
          *missing = &caps[i];
        return -ENOTSUP;
      }
  return 0;
}
