/* run.c: running a VM: its vCPU threads, pausing, stopping
 *
 * vm.c builds the machine; this file runs it. Each vCPU has a thread that
 * calls KVM_RUN (kvm/vcpu.c) and hands every exit to the dispatch
 * (dispatch.c). Other threads stop or pause the vCPUs by setting a flag and
 * kicking them out of KVM_RUN with VCPU_KICK_SIGNAL; a pause parks them on
 * a condition variable until resumed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* The signal that pulls a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* ---- stopping and pausing ---------------------------------------------------- */

static void
kick_vcpus (struct vmm_vm *vm)
{
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      struct vmm_vcpu *vcpu = &vm->vcpus[i];
      if (!vcpu->started)
        continue;
      vmm_kvm_vcpu_kick (&vcpu->kvm, vcpu->thread, VCPU_KICK_SIGNAL);
    }
}

void
vmm_vm_request_exit (struct vmm_vm *vm, enum vmm_exit_reason reason, const char *message)
{
  bool first = false;

  pthread_mutex_lock (&vm->exit_lock);
  if (vm->exit_reason == VMM_EXIT_NONE)
    {
      vm->exit_reason = reason;
      vm->exit_message = message ? strdup (message) : NULL;
      atomic_store (&vm->exit_requested, true);
      pthread_cond_broadcast (&vm->exit_cond);
      first = true;
    }
  pthread_mutex_unlock (&vm->exit_lock);

  /* Parked vCPUs wake up to see the exit. */
  pthread_mutex_lock (&vm->pause_lock);
  pthread_cond_broadcast (&vm->pause_cond);
  pthread_mutex_unlock (&vm->pause_lock);
  kick_vcpus (vm);

  if (first && vm->exit_fn != NULL)
    vm->exit_fn (vm, reason, vm->exit_message, vm->callback_data);
}

void
vmm_vm_set_callbacks (struct vmm_vm *vm, vmm_vm_exit_fn exit_fn, vmm_vm_panic_fn panic_fn,
                      void *data)
{
  vm->exit_fn = exit_fn;
  vm->panic_fn = panic_fn;
  vm->callback_data = data;
}

void
vmm_vm_set_disk_error_fn (struct vmm_vm *vm, vmm_disk_error_fn fn, void *data)
{
  for (unsigned i = 0; i < VMM_MAX_DISKS; i++)
    if (vm->disks[i] != NULL)
      vmm_virtio_blk_set_error_fn (vm->disks[i], fn, data);
}

void
vmm_vm_set_display_changed_fn (struct vmm_vm *vm, void (*fn) (void *data), void *data)
{
  if (vm->spice != NULL)
    vmm_spice_set_changed_fn (vm->spice, fn, data);
}

uint64_t
vmm_vm_uptime_ns (struct vmm_vm *vm)
{
  uint64_t now = vmm_monotonic_ns (), paused;

  if (vm->start_ns == 0)
    return 0;
  pthread_mutex_lock (&vm->pause_lock);
  paused = vm->paused_ns + (vm->pause_began_ns ? now - vm->pause_began_ns : 0);
  pthread_mutex_unlock (&vm->pause_lock);
  return now - vm->start_ns - paused;
}

void
vmm_vm_pause (struct vmm_vm *vm)
{
  pthread_mutex_lock (&vm->pause_lock);
  if (!vm->started || atomic_load (&vm->pause_requested) || atomic_load (&vm->exit_requested))
    {
      pthread_mutex_unlock (&vm->pause_lock);
      return;
    }
  atomic_store (&vm->pause_requested, true);
  pthread_mutex_unlock (&vm->pause_lock);
  kick_vcpus (vm);

  pthread_mutex_lock (&vm->pause_lock);
  while (vm->n_parked < vm->n_running_threads && !atomic_load (&vm->exit_requested))
    pthread_cond_wait (&vm->pause_cond, &vm->pause_lock);
  vm->pause_began_ns = vmm_monotonic_ns ();
  pthread_mutex_unlock (&vm->pause_lock);
  /* a paused machine's devices hold all it wrote */
  vmm_vm_flush_mmio_ring (vm);
}

void
vmm_vm_resume (struct vmm_vm *vm)
{
  pthread_mutex_lock (&vm->pause_lock);
  if (atomic_load (&vm->pause_requested))
    {
      atomic_store (&vm->pause_requested, false);
      if (vm->pause_began_ns)
        vm->paused_ns += vmm_monotonic_ns () - vm->pause_began_ns;
      vm->pause_began_ns = 0;
      pthread_cond_broadcast (&vm->pause_cond);
    }
  pthread_mutex_unlock (&vm->pause_lock);
}

bool
vmm_vm_is_paused (struct vmm_vm *vm)
{
  return atomic_load (&vm->pause_requested);
}

/* On a vCPU thread: wait while the VM is paused. */
static void
park (struct vmm_vcpu *vcpu)
{
  struct vmm_vm *vm = vcpu->vm;

  pthread_mutex_lock (&vm->pause_lock);
  vm->n_parked++;
  pthread_cond_broadcast (&vm->pause_cond);
  while (atomic_load (&vm->pause_requested) && !atomic_load (&vm->exit_requested))
    pthread_cond_wait (&vm->pause_cond, &vm->pause_lock);
  vm->n_parked--;
  pthread_mutex_unlock (&vm->pause_lock);
  vmm_kvm_vcpu_clock_paused (&vcpu->kvm);
}

/* ---- running ----------------------------------------------------------------- */

static void
on_signal (void *opaque, int fd, uint32_t events)
{
  struct vmm_vm *vm = opaque;
  struct signalfd_siginfo info;
  char message[64];

  (void) events;
  if (read (fd, &info, sizeof info) != sizeof info)
    return;
  snprintf (message, sizeof message, "stopped by SIG%s", sigabbrev_np ((int) info.ssi_signo));
  vmm_log_info ("%s", message);
  vmm_vm_request_exit (vm, VMM_EXIT_STOPPED, message);
}

static void *
vcpu_thread (void *data)
{
  struct vmm_vcpu *vcpu = data;
  struct vmm_vm *vm = vcpu->vm;
  struct vmm_exit exit;
  char message[160];
  bool exited = false;          /* the last KVM_RUN ended in an exit, handled since */
  sigset_t set;
  int ret;

  sigemptyset (&set);
  sigaddset (&set, VCPU_KICK_SIGNAL);
  pthread_sigmask (SIG_UNBLOCK, &set, NULL);

  while (!atomic_load (&vm->exit_requested))
    {
      if (atomic_load (&vm->pause_requested))
        {
          /* A paused vCPU's registers are whole: the exit just handled is
           * finished first (a snapshot saves them) */
          if (exited && (ret = vmm_kvm_vcpu_complete_io (&vcpu->kvm)) < 0)
            vmm_log_error ("vCPU %u: cannot finish its last exit: %s", vcpu->kvm.index,
                           strerror (-ret));
          exited = false;
          park (vcpu);
          continue;
        }
      ret = vmm_kvm_vcpu_run (&vcpu->kvm, &exit);
      exited = ret == 0;
      if (ret == -EINTR)
        continue;
      if (ret < 0)
        {
          snprintf (message, sizeof message, "KVM_RUN failed on vCPU %u: %s", vcpu->kvm.index,
                    strerror (-ret));
          vmm_log_error ("%s", message);
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
          break;
        }
      /* writes KVM held back came before this exit */
      vmm_vm_flush_mmio_ring (vm);
      vmm_exit_dispatch (&vm->dispatch, &exit);
    }
  return NULL;
}

static void
kick_handler (int sig)
{
  (void) sig;
}

int
vmm_vm_start (struct vmm_vm *vm)
{
  struct sigaction sa = { 0 };
  sigset_t set;
  int ret;

  /* vCPU threads take the kick signal (they unblock it); everyone else
   * blocks it. With handle_signals, the stop signals arrive through a
   * signalfd on the loop. */
  sa.sa_handler = kick_handler;
  sigemptyset (&sa.sa_mask);
  sigaction (VCPU_KICK_SIGNAL, &sa, NULL);

  sigemptyset (&set);
  sigaddset (&set, VCPU_KICK_SIGNAL);
  if (vm->config.handle_signals)
    {
      sigaddset (&set, SIGINT);
      sigaddset (&set, SIGTERM);
      sigaddset (&set, SIGHUP);
    }
  pthread_sigmask (SIG_BLOCK, &set, NULL);

  if (vm->config.handle_signals)
    {
      sigdelset (&set, VCPU_KICK_SIGNAL);
      vm->signal_fd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
      if (vm->signal_fd >= 0)
        vmm_loop_add (&vm->loop, vm->signal_fd, EPOLLIN, on_signal, vm);
    }

  ret = vmm_loop_start (&vm->loop);
  if (ret < 0)
    return ret;

  vm->start_ns = vmm_monotonic_ns ();
  vm->started = true;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      ret = -pthread_create (&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
      if (ret < 0)
        {
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, "cannot start a vCPU thread");
          return ret;
        }
      {
        /* Named as tools list them (top -H, /proc/PID/task/TID/comm) */
        char name[16];

        snprintf (name, sizeof name, "vmm-vcpu%u", i % 1000u);
        pthread_setname_np (vm->vcpus[i].thread, name);
      }
      vm->vcpus[i].started = true;
      pthread_mutex_lock (&vm->pause_lock);
      vm->n_running_threads++;
      pthread_mutex_unlock (&vm->pause_lock);
    }
  return 0;
}

enum vmm_exit_reason
vmm_vm_wait (struct vmm_vm *vm, const char **message)
{
  pthread_mutex_lock (&vm->exit_lock);
  while (vm->exit_reason == VMM_EXIT_NONE)
    pthread_cond_wait (&vm->exit_cond, &vm->exit_lock);
  pthread_mutex_unlock (&vm->exit_lock);

  kick_vcpus (vm);
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    if (vm->vcpus[i].started)
      {
        pthread_join (vm->vcpus[i].thread, NULL);
        vm->vcpus[i].started = false;
      }
  vmm_loop_stop (&vm->loop);

  if (message != NULL)
    *message = vm->exit_message;
  return vm->exit_reason;
}

enum vmm_exit_reason
vmm_vm_run (struct vmm_vm *vm, const char **message)
{
  int ret = vmm_vm_start (vm);

  if (ret < 0)
    vmm_vm_request_exit (vm, VMM_EXIT_ERROR, "cannot start the virtual machine");
  return vmm_vm_wait (vm, message);
}
