/* vm.h: one virtual machine: KVM, memory, buses, devices and vCPUs
 *
 * Everything a VM uses hangs off struct vmm_vm; nothing is global, so a
 * test can build two. vmm_vm_create() builds the machine and loads the
 * kernel, vmm_vm_run() runs it until the guest powers off, resets, fails,
 * or someone asks it to stop.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "bus.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "kvm/irq.h"
#include "kvm/kvm.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "virtio/console.h"
#include "virtio/rng.h"

#define VMM_MAX_CPUS 255

#define VMM_ERROR (vmm_error_quark ())
typedef enum {
  VMM_ERROR_NO_KVM,     /* KVM missing or unusable: exit status 2 */
  VMM_ERROR_CONFIG,     /* bad options */
  VMM_ERROR_BOOT,       /* the kernel or initrd cannot be booted */
  VMM_ERROR_FAILED,     /* anything else */
} VmmError;
GQuark vmm_error_quark (void);

enum vmm_serial_mode {
  VMM_SERIAL_NONE,
  VMM_SERIAL_STDIO,
  VMM_SERIAL_FILE,
};

struct vmm_config {
  const char *kvm_path;        /* NULL: /dev/kvm */
  const char *kernel_path;
  const char *initrd_path;     /* NULL: none */
  const char *cmdline;         /* NULL: empty */
  uint64_t memory;             /* bytes */
  unsigned cpus;
  enum vmm_serial_mode serial;
  const char *serial_path;     /* for VMM_SERIAL_FILE */
  bool rng;
  bool console_enabled;        /* a virtio-console device */
  struct vmm_console_config console;
};

enum vmm_exit_reason {
  VMM_EXIT_NONE,
  VMM_EXIT_POWER_OFF,          /* the guest powered off (ACPI S5) */
  VMM_EXIT_RESET,              /* the guest reset (or triple-faulted) */
  VMM_EXIT_STOPPED,            /* stopped from outside (a signal, the app) */
  VMM_EXIT_ERROR,              /* KVM or the VMM failed */
};

struct vmm_vm;

struct vmm_vcpu {
  struct vmm_vm *vm;
  unsigned index;
  int fd;
  struct kvm_run *run;
  size_t run_size;
  pthread_t thread;
  bool started;
  atomic_bool in_run;
};

struct vmm_vm {
  struct vmm_config config;

  struct vmm_kvm kvm;
  int vm_fd;
  struct kvm_cpuid2 *cpuid;
  struct vmm_mem mem;
  struct vmm_bus pio, mmio;
  struct vmm_irq_router router;
  struct vmm_loop loop;

  /* Platform devices */
  struct vmm_serial com1;
  int serial_fd;
  bool serial_fd_owned;
  bool stdin_attached;
  struct vmm_rtc rtc;
  struct vmm_i8042 i8042;
  struct vmm_acpi_pm pm;
  struct vmm_pci_host pci;
  struct vmm_virtio_rng *rng;
  struct vmm_virtio_console *console;
  struct vmm_ratelimit unhandled_rl;

  struct vmm_boot_state boot;
  uint64_t rsdp_gpa;

  struct vmm_vcpu *vcpus;
  unsigned n_vcpus;

  /* Exit */
  pthread_mutex_t exit_lock;
  pthread_cond_t exit_cond;
  atomic_bool exit_requested;
  enum vmm_exit_reason exit_reason;
  char *exit_message;
  int signal_fd;
};

/* Builds the VM (nothing runs yet). Returns NULL with ERROR set. */
struct vmm_vm *vmm_vm_create (const struct vmm_config *config, GError **error);

/* Runs the vCPUs and the device loop until the VM stops; returns why, and
 * a message for errors in *message (owned by the VM). */
enum vmm_exit_reason vmm_vm_run (struct vmm_vm *vm, const char **message);

/* Asks a running VM to stop (thread-safe; the first reason wins). */
void vmm_vm_request_exit (struct vmm_vm *vm, enum vmm_exit_reason reason, const char *message);

/* Presses the ACPI power button. */
void vmm_vm_power_button (struct vmm_vm *vm);

void vmm_vm_destroy (struct vmm_vm *vm);
