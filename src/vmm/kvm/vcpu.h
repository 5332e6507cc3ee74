/* kvm/vcpu.h: a vCPU fd, its run page, and running it
 *
 * The thin layer between the engine's vCPU threads (run.c) and KVM: create
 * and map, KVM_RUN with the immediate_exit handshake that lets another
 * thread stop a vCPU without a race, the exit decoded (exit.h), and the
 * registers for a log when the guest dies. Returns are -errno.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include "kvm/exit.h"

struct vmm_kvm_vcpu {
  int fd;                       /* -1: not created */
  unsigned index;
  struct kvm_run *run;          /* NULL: not mapped */
  size_t run_size;
};

/* KVM_CREATE_VCPU number INDEX on VM_FD and maps its RUN_SIZE-byte run page
 * (vmm_kvm's vcpu_mmap_size). Returns 0, or -errno with nothing left open. */
int  vmm_kvm_vcpu_create  (struct vmm_kvm_vcpu *vcpu, int vm_fd, unsigned index,
                           size_t run_size);
/* Unmaps and closes what create made (safe on a zeroed struct with fd -1). */
void vmm_kvm_vcpu_destroy (struct vmm_kvm_vcpu *vcpu);

/* Runs the guest until it exits. Returns 0 with the exit decoded into *EXIT;
 * -EINTR when a kick (or another signal) stopped it first, the kick cleared
 * so the next call runs again; or -errno when KVM failed. */
int  vmm_kvm_vcpu_run (struct vmm_kvm_vcpu *vcpu, struct vmm_exit *exit);

/* Lets KVM finish the instruction behind the last exit (the value of an I/O
 * read goes into its register, a string operation steps on) without
 * running the guest further: KVM_RUN with immediate_exit. For a vCPU about
 * to stop for a while whose registers will be read (a snapshot). Returns 0
 * or -errno. */
int  vmm_kvm_vcpu_complete_io (struct vmm_kvm_vcpu *vcpu);

/* From any thread: the vCPU's KVM_RUN returns -EINTR now, or at once if it
 * is not inside KVM_RUN yet. THREAD runs the vCPU and takes SIGNAL (with a
 * handler installed, so it only interrupts). */
void vmm_kvm_vcpu_kick (struct vmm_kvm_vcpu *vcpu, pthread_t thread, int signal);

/* Tells a kvm-clock guest it was stopped, so it does not take the time lost
 * for a lockup. Fails harmlessly for a guest without kvm-clock. */
void vmm_kvm_vcpu_clock_paused (struct vmm_kvm_vcpu *vcpu);

/* Logs the registers that say where the guest was (an error, for crashes). */
void vmm_kvm_vcpu_log_registers (struct vmm_kvm_vcpu *vcpu);
