/* kvm/kvm.c: the /dev/kvm system fd and the capabilities the engine needs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/kvm.h"

#include "arch/x86/layout.h"

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
  CAP (KVM_CAP_READONLY_MEM, false),   /* firmware ROM and flash (firmware boot needs it) */
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

int
vmm_kvm_create_vm (const struct vmm_kvm *kvm)
{
  int fd;

  do
    fd = ioctl (kvm->fd, KVM_CREATE_VM, 0);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

int
vmm_kvm_setup_platform (int vm_fd)
{
  struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
  uint64_t identity = VMM_KVM_IDENTITY_MAP;

  if (ioctl (vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
    return -errno;
  if (ioctl (vm_fd, KVM_SET_TSS_ADDR, (unsigned long) VMM_KVM_TSS_ADDR) < 0)
    return -errno;
  if (ioctl (vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
    return -errno;
  if (ioctl (vm_fd, KVM_CREATE_PIT2, &pit) < 0)
    return -errno;
  return 0;
}

int
vmm_kvm_set_memory_flags (int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host,
                          uint32_t flags)
{
  struct kvm_userspace_memory_region region = {
    .slot = slot,
    .flags = flags,
    .guest_phys_addr = gpa,
    .memory_size = size,
    .userspace_addr = (uint64_t) (uintptr_t) host,
  };

  return ioctl (vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

int
vmm_kvm_set_memory (int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host)
{
  return vmm_kvm_set_memory_flags (vm_fd, slot, gpa, size, host, 0);
}

int
vmm_kvm_irq_line (int vm_fd, unsigned gsi, bool level)
{
  struct kvm_irq_level irq = { .irq = gsi, .level = level };

  return ioctl (vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int
vmm_kvm_irqfd (int vm_fd, int eventfd, unsigned gsi, bool assign)
{
  struct kvm_irqfd irqfd = {
    .fd = (uint32_t) eventfd,
    .gsi = gsi,
    .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
  };

  return ioctl (vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int
vmm_kvm_ioeventfd (int vm_fd, int eventfd, uint64_t addr, unsigned len, bool pio, bool assign)
{
  struct kvm_ioeventfd io = {
    .addr = addr,
    .len = len,
    .fd = eventfd,
    .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
  };

  return ioctl (vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}
