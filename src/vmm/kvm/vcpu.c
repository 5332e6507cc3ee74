/* kvm/vcpu.c: a vCPU fd, its run page, and running it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

int
vmm_kvm_vcpu_create (struct vmm_kvm_vcpu *vcpu, int vm_fd, unsigned index, size_t run_size)
{
  void *run;
  int ret;

  vcpu->index = index;
  vcpu->run = NULL;
  vcpu->run_size = 0;
  vcpu->fd = ioctl (vm_fd, KVM_CREATE_VCPU, (unsigned long) index);
  if (vcpu->fd < 0)
    return -errno;
  run = mmap (NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
  if (run == MAP_FAILED)
    {
      ret = -errno;
      close (vcpu->fd);
      vcpu->fd = -1;
      return ret;
    }
  vcpu->run = run;
  vcpu->run_size = run_size;
  return 0;
}

void
vmm_kvm_vcpu_destroy (struct vmm_kvm_vcpu *vcpu)
{
  if (vcpu->run != NULL)
    munmap (vcpu->run, vcpu->run_size);
  if (vcpu->fd >= 0)
    close (vcpu->fd);
  vcpu->run = NULL;
  vcpu->fd = -1;
}

int
vmm_kvm_vcpu_run (struct vmm_kvm_vcpu *vcpu, struct vmm_exit *exit)
{
  if (ioctl (vcpu->fd, KVM_RUN, 0) < 0)
    {
      if (errno == EINTR || errno == EAGAIN)
        {
          /* Kicked: run again next time, unless kicked again meanwhile. */
          __atomic_store_n (&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
          return -EINTR;
        }
      return -errno;
    }
  vmm_kvm_exit_decode (vcpu->run, vcpu->index, exit);
  return 0;
}

int
vmm_kvm_vcpu_complete_io (struct vmm_kvm_vcpu *vcpu)
{
  int ret = 0;

  /* KVM finishes the pending I/O before it looks at immediate_exit */
  __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (ioctl (vcpu->fd, KVM_RUN, 0) == 0)
    ret = -EIO;                 /* it ran the guest: not what was asked */
  else if (errno != EINTR && errno != EAGAIN)
    ret = -errno;
  __atomic_store_n (&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
  return ret;
}

void
vmm_kvm_vcpu_kick (struct vmm_kvm_vcpu *vcpu, pthread_t thread, int signal)
{
  /* immediate_exit covers a vCPU about to enter KVM_RUN, the signal one
   * already inside it. */
  __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  pthread_kill (thread, signal);
}

void
vmm_kvm_vcpu_clock_paused (struct vmm_kvm_vcpu *vcpu)
{
  ioctl (vcpu->fd, KVM_KVMCLOCK_CTRL, 0);
}

void
vmm_kvm_vcpu_log_registers (struct vmm_kvm_vcpu *vcpu)
{
  struct kvm_regs regs;
  struct kvm_sregs sregs;

  if (ioctl (vcpu->fd, KVM_GET_REGS, &regs) < 0 || ioctl (vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
    return;
  vmm_log_error ("vCPU %u: rip=%#llx rsp=%#llx rflags=%#llx cr0=%#llx cr3=%#llx cr4=%#llx "
                 "efer=%#llx cs=%#x (l=%u db=%u dpl=%u)",
                 vcpu->index, (unsigned long long) regs.rip, (unsigned long long) regs.rsp,
                 (unsigned long long) regs.rflags, (unsigned long long) sregs.cr0,
                 (unsigned long long) sregs.cr3, (unsigned long long) sregs.cr4,
                 (unsigned long long) sregs.efer, sregs.cs.selector, sregs.cs.l, sregs.cs.db,
                 sregs.cs.dpl);
}
