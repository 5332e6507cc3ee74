/* vm.c: one virtual machine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

/* The signal that pulls a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

/* The port Linux and firmware write to for a short delay. */
#define PORT_POST 0x80

G_DEFINE_QUARK (vmm-error-quark, vmm_error)

/* ---- exits ------------------------------------------------------------------ */

static void
kick_vcpus (struct vmm_vm *vm)
{
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      struct vmm_vcpu *vcpu = &vm->vcpus[i];
      if (!vcpu->started)
        continue;
      __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
      pthread_kill (vcpu->thread, VCPU_KICK_SIGNAL);
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
  /* Tell a kvm-clock guest it was stopped, so it does not take the lost
   * time for a lockup. Fails harmlessly for guests without kvm-clock. */
  ioctl (vcpu->fd, KVM_KVMCLOCK_CTRL, 0);
}

void
vmm_vm_power_button (struct vmm_vm *vm)
{
  vmm_acpi_pm_power_button (&vm->pm);
}

static void
on_power_off (void *opaque)
{
  vmm_log_info ("the guest powered off");
  vmm_vm_request_exit (opaque, VMM_EXIT_POWER_OFF, NULL);
}

static void
on_reset (void *opaque)
{
  vmm_log_info ("the guest asked for a reset");
  vmm_vm_request_exit (opaque, VMM_EXIT_RESET, NULL);
}

/* ---- platform glue ---------------------------------------------------------- */

static void
set_irq_line (void *opaque, unsigned gsi, bool level)
{
  struct vmm_vm *vm = opaque;
  int ret = vmm_kvm_irq_line (vm->vm_fd, gsi, level);

  if (ret < 0)
    vmm_log_error ("cannot set IRQ %u: %s", gsi, strerror (-ret));
}

static void
serial_output (void *opaque, const uint8_t *data, size_t len)
{
  struct vmm_vm *vm = opaque;

  while (len > 0)
    {
      ssize_t n = write (vm->serial_fd, data, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          /* The reader went away (a closed pipe): keep the guest running. */
          return;
        }
      data += n;
      len -= (size_t) n;
    }
}

static void
serial_callback (void *opaque, const uint8_t *data, size_t len)
{
  struct vmm_vm *vm = opaque;

  vm->config.serial_output (vm->config.serial_data, data, len);
}

size_t
vmm_vm_serial_input (struct vmm_vm *vm, const uint8_t *data, size_t len)
{
  return vmm_serial_receive (&vm->com1, data, len);
}

static void
on_stdin (void *opaque, int fd, uint32_t events)
{
  struct vmm_vm *vm = opaque;
  uint8_t buf[256];
  size_t space = vmm_serial_rx_space (&vm->com1);
  ssize_t n;

  (void) events;
  /* With the UART's buffer full, input is dropped as a UART would overrun;
   * reading it anyway keeps the loop from spinning on a readable fd. */
  n = read (fd, buf, space > 0 && space < sizeof buf ? space : sizeof buf);
  if (n <= 0)
    {
      if (n == 0 || (errno != EINTR && errno != EAGAIN))
        {
          vmm_loop_remove (&vm->loop, fd);
          vm->stdin_attached = false;
        }
      return;
    }
  vmm_serial_receive (&vm->com1, buf, (size_t) n);
}

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

static const struct vmm_io_ops post_ops = { 0 };

static void
on_pvpanic (void *opaque, unsigned events)
{
  struct vmm_vm *vm = opaque;

  if (events & VMM_PVPANIC_PANICKED)
    {
      vmm_log_error ("the guest reported a kernel panic");
      if (vm->panic_fn != NULL)
        vm->panic_fn (vm, vm->callback_data);
    }
  if (events & VMM_PVPANIC_CRASH_LOADED)
    vmm_log_warning ("the guest crashed and loaded a crash kernel");
}

/* ---- building ------------------------------------------------------------------ */

static unsigned
guest_phys_bits (const struct kvm_cpuid2 *cpuid)
{
  for (unsigned i = 0; i < cpuid->nent; i++)
    if (cpuid->entries[i].function == 0x80000008)
      return cpuid->entries[i].eax & 0xff;
  return 36;
}

static gboolean
setup_memory (struct vmm_vm *vm, GError **error)
{
  int ret = vmm_mem_alloc (&vm->mem, vm->config.memory, VMM_PCI_HOLE_START);

  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot allocate %llu MiB of guest memory: %s"),
                   (unsigned long long) (vm->config.memory >> 20), g_strerror (-ret));
      return FALSE;
    }
  for (unsigned i = 0; i < vm->mem.n_regions; i++)
    {
      const struct vmm_mem_region *r = &vm->mem.regions[i];
      ret = vmm_kvm_set_memory (vm->vm_fd, i, r->gpa, r->size, r->host);
      if (ret < 0)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED,
                       _("KVM refused the guest memory: %s"), g_strerror (-ret));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
setup_serial (struct vmm_vm *vm, GError **error)
{
  struct vmm_irq_line irq = { set_irq_line, vm, VMM_IRQ_COM1 };
  vmm_serial_output_fn output = NULL;
  int ret;

  vm->serial_fd = -1;
  switch (vm->config.serial)
    {
    case VMM_SERIAL_STDIO:
      vm->serial_fd = STDOUT_FILENO;
      output = serial_output;
      break;
    case VMM_SERIAL_FILE:
      vm->serial_fd = open (vm->config.serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (vm->serial_fd < 0)
        {
          int saved = errno;
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot open the serial log %s: %s"),
                       vm->config.serial_path, g_strerror (saved));
          return FALSE;
        }
      vm->serial_fd_owned = true;
      output = serial_output;
      break;
    case VMM_SERIAL_CALLBACK:
      if (vm->config.serial_output != NULL)
        output = serial_callback;
      break;
    case VMM_SERIAL_NONE:
      break;
    }
  vmm_serial_init (&vm->com1, irq, output, vm);
  ret = vmm_bus_register (&vm->pio, VMM_PORT_COM1, 8, &vmm_serial_ops, &vm->com1, "com1");
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, "COM1: %s", g_strerror (-ret));
      return FALSE;
    }
  /* Typed input reaches the guest; a regular file or /dev/null cannot be
   * watched, and that is fine. */
  if (vm->config.serial == VMM_SERIAL_STDIO &&
      vmm_loop_add (&vm->loop, STDIN_FILENO, EPOLLIN, on_stdin, vm) == 0)
    vm->stdin_attached = true;
  return TRUE;
}

/* Puts a virtio device's PCI function on the bus. DEV is NULL when
 * creating it failed with *LOCAL; FALSE with *LOCAL saying why either way. */
static gboolean
plug_virtio (struct vmm_vm *vm, struct vmm_virtio_dev *dev, GError **local)
{
  int ret;

  if (dev == NULL)
    return FALSE;
  ret = vmm_pci_host_add (&vm->pci, &dev->pci);
  if (ret < 0)
    {
      g_set_error_literal (local, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

static gboolean
setup_devices (struct vmm_vm *vm, GError **error)
{
  struct vmm_irq_line sci = { set_irq_line, vm, VMM_ACPI_SCI_IRQ };
  struct vmm_virtio_env env = {
    .mem = &vm->mem, .loop = &vm->loop, .mmio = &vm->mmio,
    .router = &vm->router, .vm_fd = vm->vm_fd,
  };
  g_autoptr (GError) local = NULL;
  int ret;

  if (!setup_serial (vm, error))
    return FALSE;

  vmm_rtc_init (&vm->rtc, vm->config.memory, vm->config.cpus);
  vmm_i8042_init (&vm->i8042, on_reset, vm);
  vmm_acpi_pm_init (&vm->pm, sci, on_power_off, vm);
  vmm_pci_host_init (&vm->pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  vm->pvpanic.event = on_pvpanic;
  vm->pvpanic.opaque = vm;

  if ((ret = vmm_bus_register (&vm->pio, VMM_PORT_RTC, 2, &vmm_rtc_ops, &vm->rtc, "rtc")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_I8042_DATA, 5, &vmm_i8042_ops, &vm->i8042,
                               "i8042")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_ACPI_PM_BASE, VMM_ACPI_PM_LEN, &vmm_acpi_pm_ops,
                               &vm->pm, "acpi-pm")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops, &vm->pci,
                               "pci-cf8")) < 0 ||
      (ret = vmm_bus_register (&vm->mmio, VMM_PCI_ECAM_BASE, VMM_PCI_ECAM_SIZE, &vmm_pci_ecam_ops,
                               &vm->pci, "pci-ecam")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_PVPANIC, 1, &vmm_pvpanic_ops, &vm->pvpanic,
                               "pvpanic")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, PORT_POST, 1, &post_ops, NULL, "post")) < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot place the platform devices: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  /* The i8042 owns 0x60 and 0x64; 0x61 (the PIT's speaker gate) is in KVM. */

  if (vm->config.rng)
    {
      vm->rng = vmm_virtio_rng_new (&env, &local);
      if (!plug_virtio (vm, vm->rng ? vmm_virtio_rng_dev (vm->rng) : NULL, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                       "virtio-rng", local->message);
          return FALSE;
        }
    }
  for (unsigned i = 0; i < vm->config.n_disks; i++)
    {
      /* One request queue per vCPU, as the guest can then submit from
       * every CPU without a lock. */
      vm->disks[i] = vmm_virtio_blk_new (&env, &vm->config.disks[i], vm->config.cpus,
                                         vm->config.io_threads, &local);
      if (!plug_virtio (vm, vm->disks[i] ? vmm_virtio_blk_dev (vm->disks[i]) : NULL, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot use the disk %s: %s"),
                       vm->config.disks[i].path, local->message);
          return FALSE;
        }
    }

  if (vm->config.console_enabled)
    {
      vm->console = vmm_virtio_console_new (&env, &vm->config.console, &local);
      if (!plug_virtio (vm, vm->console ? vmm_virtio_console_dev (vm->console) : NULL, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot create the %s device: %s"),
                       "virtio-console", local->message);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
setup_acpi (struct vmm_vm *vm, GError **error)
{
  uint64_t high_end = VMM_HIGH_RAM_BASE;
  struct vmm_acpi_config acpi = {
    .n_cpus = vm->config.cpus,
    .ecam_base = VMM_PCI_ECAM_BASE,
    .ecam_start_bus = 0,
    .ecam_end_bus = VMM_PCI_ECAM_BUSES - 1,
    .mmio32_base = VMM_PCI_MMIO32_BASE,
    .mmio32_size = VMM_PCI_MMIO32_SIZE,
    .com1 = true,
    .rtc = true,
    /* Reset only: no keyboard behind it, so the OS need not probe it. */
    .i8042 = false,
    .pvpanic = true,
  };
  unsigned phys_bits = guest_phys_bits (vm->cpuid);
  int ret;

  if (vm->config.memory > VMM_PCI_HOLE_START)
    high_end += vm->config.memory - VMM_PCI_HOLE_START;
  acpi.mmio64_base = (high_end + VMM_PCI_MMIO64_ALIGN - 1) & ~(VMM_PCI_MMIO64_ALIGN - 1);
  acpi.mmio64_size = VMM_PCI_MMIO64_SIZE;
  if (phys_bits < 64 && acpi.mmio64_base + acpi.mmio64_size > (1ull << phys_bits))
    acpi.mmio64_size = 0;

  ret = vmm_acpi_build (&vm->mem, &acpi, &vm->rsdp_gpa);
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot build the ACPI tables: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_kernel (struct vmm_vm *vm, GError **error)
{
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  gsize kernel_size = 0, initrd_size = 0;
  struct vmm_boot_params params = { 0 };
  const char *why = NULL;
  int ret;

  if (!g_file_get_contents (vm->config.kernel_path, &kernel, &kernel_size, error))
    {
      g_prefix_error (error, _("Cannot read the kernel: "));
      if (*error)
        (*error)->domain = VMM_ERROR, (*error)->code = VMM_ERROR_BOOT;
      return FALSE;
    }
  if (vm->config.initrd_path != NULL &&
      !g_file_get_contents (vm->config.initrd_path, &initrd, &initrd_size, error))
    {
      g_prefix_error (error, _("Cannot read the initrd: "));
      if (*error)
        (*error)->domain = VMM_ERROR, (*error)->code = VMM_ERROR_BOOT;
      return FALSE;
    }

  params.kernel = kernel;
  params.kernel_size = kernel_size;
  params.initrd = initrd;
  params.initrd_size = initrd_size;
  params.cmdline = vm->config.cmdline;
  params.rsdp_gpa = vm->rsdp_gpa;
  ret = vmm_boot_load (&vm->mem, &params, &vm->boot, &why);
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_BOOT, _("Cannot boot %s: %s"),
                   vm->config.kernel_path, why ? why : g_strerror (-ret));
      return FALSE;
    }
  vmm_log_debug ("%s kernel at %#llx-%#llx, entry %#llx",
                 vm->boot.kind == VMM_BOOT_PVH ? "PVH" : "bzImage",
                 (unsigned long long) vm->boot.kernel_load_addr,
                 (unsigned long long) vm->boot.kernel_end, (unsigned long long) vm->boot.rip);
  return TRUE;
}

static gboolean
setup_vcpus (struct vmm_vm *vm, GError **error)
{
  int ret;

  vm->vcpus = calloc (vm->config.cpus, sizeof *vm->vcpus);
  if (vm->vcpus == NULL)
    {
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (ENOMEM));
      return FALSE;
    }
  for (unsigned i = 0; i < vm->config.cpus; i++)
    {
      struct vmm_vcpu *vcpu = &vm->vcpus[i];
      void *run;

      vcpu->vm = vm;
      vcpu->index = i;
      vcpu->fd = ioctl (vm->vm_fd, KVM_CREATE_VCPU, (unsigned long) i);
      if (vcpu->fd < 0)
        {
          ret = -errno;
          goto fail;
        }
      vm->n_vcpus = i + 1;
      run = mmap (NULL, (size_t) vm->kvm.vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  vcpu->fd, 0);
      if (run == MAP_FAILED)
        {
          ret = -errno;
          goto fail;
        }
      vcpu->run = run;
      vcpu->run_size = (size_t) vm->kvm.vcpu_mmap_size;
      ret = vmm_x86_vcpu_init (vm->kvm.fd, vcpu->fd, vm->cpuid, i, vm->config.cpus);
      if (ret < 0)
        goto fail;
      /* The application processors wait for the guest's INIT/SIPI (KVM puts
       * them in that state); only the boot processor gets registers. */
      if (i == 0 && (ret = vmm_x86_vcpu_set_boot_state (vcpu->fd, &vm->boot)) < 0)
        goto fail;
    }
  return TRUE;

fail:
  g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create virtual CPU %u: %s"),
               vm->n_vcpus, g_strerror (-ret));
  return FALSE;
}

struct vmm_vm *
vmm_vm_create (const struct vmm_config *config, GError **error)
{
  struct vmm_vm *vm;
  int ret, n_gsi;

  g_return_val_if_fail (config != NULL && config->kernel_path != NULL, NULL);

  if (config->cpus < 1 || config->cpus > VMM_MAX_CPUS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The number of CPUs must be between 1 and %d"), VMM_MAX_CPUS);
      return NULL;
    }
  if (config->memory < VMM_MIN_RAM || (config->memory & 0xfff) != 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The memory size must be at least %llu MiB and a multiple of 4 KiB"),
                   VMM_MIN_RAM >> 20);
      return NULL;
    }

  vm = calloc (1, sizeof *vm);
  if (vm == NULL)
    {
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (ENOMEM));
      return NULL;
    }
  vm->config = *config;
  vm->vm_fd = -1;
  vm->kvm.fd = -1;
  vm->serial_fd = -1;
  vm->signal_fd = -1;
  pthread_mutex_init (&vm->exit_lock, NULL);
  pthread_cond_init (&vm->exit_cond, NULL);
  pthread_mutex_init (&vm->pause_lock, NULL);
  pthread_cond_init (&vm->pause_cond, NULL);
  vmm_bus_init (&vm->pio, "pio");
  vmm_bus_init (&vm->mmio, "mmio");
  if ((ret = vmm_loop_init (&vm->loop)) < 0)
    goto fail_errno;

  ret = vmm_kvm_open (&vm->kvm, config->kvm_path);
  if (ret == 0)
    ret = vmm_kvm_check_required (&vm->kvm, NULL);
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_NO_KVM, _("KVM is not usable: %s"),
                   g_strerror (-ret));
      goto fail;
    }
  if (config->cpus > (unsigned) vm->kvm.max_vcpus)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("KVM allows at most %d CPUs"),
                   vm->kvm.max_vcpus);
      goto fail;
    }
  if ((ret = vmm_x86_supported_cpuid (vm->kvm.fd, &vm->cpuid)) < 0)
    goto fail_errno;

  vm->vm_fd = vmm_kvm_create_vm (&vm->kvm);
  if (vm->vm_fd < 0)
    {
      ret = vm->vm_fd;
      goto fail_errno;
    }
  if ((ret = vmm_kvm_setup_platform (vm->vm_fd)) < 0)
    goto fail_errno;
  n_gsi = vmm_kvm_check_extension (&vm->kvm, KVM_CAP_IRQ_ROUTING);
  if ((ret = vmm_irq_router_init (&vm->router, vm->vm_fd, n_gsi > 0 ? (unsigned) n_gsi : 0)) < 0)
    goto fail_errno;

  if (!setup_memory (vm, error) || !setup_devices (vm, error) || !setup_acpi (vm, error) ||
      !load_kernel (vm, error) || !setup_vcpus (vm, error))
    goto fail;
  return vm;

fail_errno:
  g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the virtual machine: %s"),
               g_strerror (-ret));
fail:
  vmm_vm_destroy (vm);
  return NULL;
}

/* ---- running ----------------------------------------------------------------- */

static void
log_vcpu_state (struct vmm_vcpu *vcpu)
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

static void
handle_io (struct vmm_vcpu *vcpu)
{
  struct kvm_run *run = vcpu->run;
  struct vmm_vm *vm = vcpu->vm;
  uint8_t *data = (uint8_t *) run + run->io.data_offset;
  bool out = run->io.direction == KVM_EXIT_IO_OUT;

  /* A string instruction (rep outsb) moves COUNT items through one exit.
   * data_offset and count come from KVM, which keeps them in the page. */
  for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
    {
      bool handled = out ? vmm_bus_write (&vm->pio, run->io.port, data, run->io.size)
                         : vmm_bus_read (&vm->pio, run->io.port, data, run->io.size);
      if (!handled)
        vmm_log_debug ("unhandled port %s %#x (%u bytes)", out ? "write" : "read", run->io.port,
                       run->io.size);
    }
}

static void
handle_mmio (struct vmm_vcpu *vcpu)
{
  struct kvm_run *run = vcpu->run;
  struct vmm_vm *vm = vcpu->vm;
  uint32_t len = run->mmio.len;
  bool handled;

  if (len == 0 || len > sizeof run->mmio.data)
    return;
  handled = run->mmio.is_write ? vmm_bus_write (&vm->mmio, run->mmio.phys_addr, run->mmio.data, len)
                               : vmm_bus_read (&vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
  if (!handled)
    vmm_log_guest (&vm->unhandled_rl, "MMIO %s at %#llx (%u bytes) hits nothing",
                   run->mmio.is_write ? "write" : "read",
                   (unsigned long long) run->mmio.phys_addr, len);
}

static void *
vcpu_thread (void *data)
{
  struct vmm_vcpu *vcpu = data;
  struct vmm_vm *vm = vcpu->vm;
  struct kvm_run *run = vcpu->run;
  char message[160];
  sigset_t set;

  sigemptyset (&set);
  sigaddset (&set, VCPU_KICK_SIGNAL);
  pthread_sigmask (SIG_UNBLOCK, &set, NULL);

  while (!atomic_load (&vm->exit_requested))
    {
      if (atomic_load (&vm->pause_requested))
        {
          park (vcpu);
          continue;
        }
      if (ioctl (vcpu->fd, KVM_RUN, 0) < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            {
              __atomic_store_n (&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
              continue;
            }
          snprintf (message, sizeof message, "KVM_RUN failed on vCPU %u: %s", vcpu->index,
                    strerror (errno));
          vmm_log_error ("%s", message);
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
          break;
        }

      switch (run->exit_reason)
        {
        case KVM_EXIT_IO:
          handle_io (vcpu);
          break;
        case KVM_EXIT_MMIO:
          handle_mmio (vcpu);
          break;
        case KVM_EXIT_INTR:
          break;
        case KVM_EXIT_HLT:
          /* With the in-kernel LAPIC, KVM waits for interrupts itself. */
          break;
        case KVM_EXIT_SHUTDOWN:
          vmm_log_warning ("vCPU %u: the guest triple-faulted; resetting", vcpu->index);
          log_vcpu_state (vcpu);
          vmm_vm_request_exit (vm, VMM_EXIT_RESET, "the guest triple-faulted");
          break;
        case KVM_EXIT_SYSTEM_EVENT:
          switch (run->system_event.type)
            {
            case KVM_SYSTEM_EVENT_SHUTDOWN:
              on_power_off (vm);
              break;
            case KVM_SYSTEM_EVENT_RESET:
              on_reset (vm);
              break;
            default:
              snprintf (message, sizeof message, "the guest crashed (system event %u)",
                        run->system_event.type);
              vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
              break;
            }
          break;
        case KVM_EXIT_FAIL_ENTRY:
          snprintf (message, sizeof message,
                    "vCPU %u could not enter the guest (hardware reason %#llx)", vcpu->index,
                    (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
          vmm_log_error ("%s", message);
          log_vcpu_state (vcpu);
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
          break;
        case KVM_EXIT_INTERNAL_ERROR:
          snprintf (message, sizeof message, "KVM internal error on vCPU %u (suberror %u%s)",
                    vcpu->index, run->internal.suberror,
                    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                      ? ": an instruction KVM cannot emulate" : "");
          vmm_log_error ("%s", message);
          log_vcpu_state (vcpu);
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
          break;
        default:
          snprintf (message, sizeof message, "unexpected KVM exit %u on vCPU %u",
                    run->exit_reason, vcpu->index);
          vmm_log_error ("%s", message);
          vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
          break;
        }
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

void
vmm_vm_destroy (struct vmm_vm *vm)
{
  if (vm == NULL)
    return;
  vmm_loop_stop (&vm->loop);
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      if (vm->vcpus[i].run != NULL)
        munmap (vm->vcpus[i].run, vm->vcpus[i].run_size);
      if (vm->vcpus[i].fd >= 0)
        close (vm->vcpus[i].fd);
    }
  free (vm->vcpus);
  vmm_virtio_rng_free (vm->rng);
  vmm_virtio_console_free (vm->console);
  for (unsigned i = 0; i < VMM_MAX_DISKS; i++)
    if (vm->disks[i] != NULL)
      {
        /* Whatever the guest wrote reaches the image before we exit. */
        int ret = vmm_virtio_blk_free (vm->disks[i]);
        if (ret < 0)
          vmm_log_error ("cannot flush the disk %s: %s", vm->config.disks[i].path,
                         strerror (-ret));
      }
  vmm_loop_destroy (&vm->loop);
  if (vm->serial_fd_owned)
    close (vm->serial_fd);
  if (vm->signal_fd >= 0)
    close (vm->signal_fd);
  vmm_irq_router_destroy (&vm->router);
  if (vm->vm_fd >= 0)
    close (vm->vm_fd);
  vmm_mem_free (&vm->mem);
  free (vm->cpuid);
  vmm_kvm_close (&vm->kvm);
  vmm_bus_destroy (&vm->pio);
  vmm_bus_destroy (&vm->mmio);
  free (vm->exit_message);
  pthread_mutex_destroy (&vm->exit_lock);
  pthread_cond_destroy (&vm->exit_cond);
  pthread_mutex_destroy (&vm->pause_lock);
  pthread_cond_destroy (&vm->pause_cond);
  free (vm);
}
