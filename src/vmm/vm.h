/* vm.h: one virtual machine: KVM, memory, buses, devices and vCPUs
 *
 * Everything a VM uses hangs off struct vmm_vm; nothing is global, so a
 * test can build two. vmm_vm_create() builds the machine and loads the
 * kernel (vm.c); vmm_vm_run() runs it until the guest powers off, resets,
 * fails, or someone asks it to stop (run.c).
 *
 * Errors, as everywhere in the engine (README.md): building reports a
 * GError in VMM_ERROR, running returns -errno, and why a VM stopped is an
 * enum vmm_exit_reason with a message.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "arch/x86/boot.h"
#include "bus.h"
#include "devices/acpi_pm.h"
#include "devices/ahci.h"
#include "devices/debugcon.h"
#include "display/vga.h"
#include "firmware/fw_cfg.h"
#include "firmware/pflash.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "display/spice.h"
#include "dispatch.h"
#include "firmware/q35.h"
#include "kvm/irq.h"
#include "kvm/kvm.h"
#include "kvm/mmio-ring.h"
#include "kvm/vcpu.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/gpu.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "net/fd.h"
#include "virtio/rng.h"
#include "vm-config.h"

struct vmm_vm;

/* Called once, from whichever thread stopped the VM, when it stops. */
typedef void (*vmm_vm_exit_fn) (struct vmm_vm *vm, enum vmm_exit_reason reason,
                                const char *message, void *data);
/* Called when a CD-ROM drive's medium changed by the guest's doing (it
 * ejected the disc), from the controller's thread: must only queue. */
typedef void (*vmm_vm_medium_fn) (void *data, unsigned drive, bool inserted);
/* Called from a vCPU thread when the guest reports a panic. */
typedef void (*vmm_vm_panic_fn) (struct vmm_vm *vm, void *data);

struct vmm_vcpu {
  struct vmm_vm *vm;
  struct vmm_kvm_vcpu kvm;
  pthread_t thread;
  bool started;                /* the thread runs */
};

struct vmm_vm {
  struct vmm_config config;

  struct vmm_kvm kvm;
  int vm_fd;
  struct kvm_cpuid2 *cpuid;
  struct vmm_mem mem;
  /* The snapshot's memory file RAM was last mapped from (vm-snapshot.c),
   * or -1: its data counts as touched when a snapshot is taken */
  int memory_base_fd;
  /* KVM memory slots in use (bit N: slot N): RAM, the shadowed BIOS area,
   * the firmware, framebuffers. Taken and freed by vCPUs (PAM writes). */
  pthread_mutex_t slots_lock;
  uint64_t slots_used;
  /* The firmware image (config.firmware): a private copy the guest reads
   * at the top of 4 GiB (and its last 128 KiB at 0xe0000) */
  uint8_t *firmware;
  size_t firmware_size;
  /* UEFI: OVMF's code and variables, and the variables' temporary copy
   * when the configuration named none */
  struct vmm_pflash *code_flash, *vars_flash;
  char *temp_vars;
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
  struct vmm_pvpanic pvpanic;
  struct vmm_q35 q35;          /* the MCH over pci.bridge, and the LPC */
  struct vmm_debugcon debugcon;
  FILE *debugcon_file;         /* config.debugcon_path, or NULL */
  bool platform_ready;         /* the devices above are initialised */
  uint64_t ecam_base;          /* where ECAM decodes now (PCIEXBAR) */
  bool ecam_on;
  uint16_t pm_base;            /* where the PM block decodes now (PMBASE) */
  bool pm_on;
  struct vmm_virtio_rng *rng;
  /* The network card and its backend (config.net); the backend's thread
   * calls the card, the card wakes the backend */
  struct vmm_virtio_net *net;
  struct vmm_net_backend *net_backend;
  /* The guest's address the backend's DHCP server gave, and who hears of
   * it (the service), on the backend's thread */
  void (*lease_fn) (struct vmm_vm *vm, const char *address, void *data);
  void *lease_data;
  struct vmm_virtio_console *console;
  struct vmm_virtio_blk *disks[VMM_MAX_DISKS];
  struct vmm_ratelimit unhandled_rl;

  /* The display (config.display.kind spice): the GPU, a keyboard, a
   * tablet and a mouse, shown and fed by the SPICE server; the server's
   * input goes to the input devices through vm.c's fan-out, which calls
   * these. pointer_is_mouse (the server's thread only) says which pointer
   * moved last: buttons and the wheel go to that one alone. */
  struct vmm_virtio_gpu *gpu;
  struct vmm_virtio_input *keyboard, *tablet, *mouse;
  struct vmm_input_sink keyboard_sink, tablet_sink, mouse_sink;
  bool pointer_is_mouse;
  /* The PS/2 devices take input while no virtio driver does */
  bool ps2_input;
  struct vmm_input_sink ps2_keyboard_sink, ps2_mouse_sink;
  struct vmm_spice *spice;

  /* With firmware and a display: the VGA the firmware draws on. It and
   * virtio-gpu share the screen: the GPU's scanout when its driver set
   * one, the VGA's otherwise (the loop thread only). */
  struct vmm_vga *vga;
  /* KVM holds back the guest's writes to the VGA window here; drained
   * before every exit is handled and before every frame (run.c) */
  struct vmm_kvm_mmio_ring mmio_ring;
  int vga_slot;                /* its video memory's KVM slot, or -1 */
  bool gpu_scanout;
  struct vmm_display_listener vga_out, gpu_out;

  /* With firmware: fw_cfg, and the SATA disks and CD-ROM drives */
  struct vmm_fw_cfg *fw_cfg;
  struct vmm_ahci *ahci;
  int ahci_slot;
  unsigned cdrom_port[VMM_MAX_CDROMS];   /* the AHCI port of each drive */
  vmm_vm_medium_fn medium_fn;
  void *medium_data;

  struct vmm_boot_state boot;
  uint64_t rsdp_gpa;

  struct vmm_vcpu *vcpus;
  unsigned n_vcpus;
  struct vmm_dispatch dispatch;

  /* Exit */
  pthread_mutex_t exit_lock;
  pthread_cond_t exit_cond;
  atomic_bool exit_requested;
  enum vmm_exit_reason exit_reason;
  char *exit_message;
  int signal_fd;
  vmm_vm_exit_fn exit_fn;
  vmm_vm_panic_fn panic_fn;
  void *callback_data;
  bool started;

  /* Pause: vCPU threads park on pause_cond while pause_requested */
  pthread_mutex_t pause_lock;
  pthread_cond_t pause_cond;
  atomic_bool pause_requested;
  unsigned n_parked, n_running_threads;

  /* Uptime, CLOCK_MONOTONIC */
  uint64_t start_ns, paused_ns, pause_began_ns;
};

/* ---- vm.c: building ---------------------------------------------------------- */

/* Builds the VM (nothing runs yet). Returns NULL with ERROR set. */
struct vmm_vm *vmm_vm_create (const struct vmm_config *config, GError **error);
/* Flushes the disks and frees everything; after vmm_vm_wait, or for a VM
 * that never started. */
void vmm_vm_destroy (struct vmm_vm *vm);

/* Presses the ACPI power button. */
void vmm_vm_power_button (struct vmm_vm *vm);

/* The SPICE server showing the VM's screen, or NULL: no display. Clients
 * connect through vmm_spice_connect_client() and vmm_spice_listen_unix();
 * valid until vmm_vm_destroy. */
struct vmm_spice *vmm_vm_get_spice (struct vmm_vm *vm);

/* ---- CD-ROM drives (config.cdroms, by index) ------------------------------- */

void vmm_vm_set_medium_fn (struct vmm_vm *vm, vmm_vm_medium_fn fn, void *data);

/* Opens PATH (read-only) and puts it in DRIVE, which must be empty. The
 * guest sees a new medium. Thread-safe. FALSE with ERROR (VMM_ERROR) for a
 * drive that does not exist or holds a disc, or a file that cannot be used. */
gboolean vmm_vm_insert_medium (struct vmm_vm *vm, unsigned drive, const char *path,
                               GError **error);
/* Takes the disc out of DRIVE. A guest that locked the tray is asked to
 * let go instead, unless FORCE: -EBUSY. -ENODEV: no such drive; 0 when
 * the drive is empty after the call. Thread-safe. */
int      vmm_vm_eject_medium  (struct vmm_vm *vm, unsigned drive, bool force);

/* Typed input for COM1. Returns the bytes the UART took. */
size_t vmm_vm_serial_input (struct vmm_vm *vm, const uint8_t *data, size_t len);

/* ---- run.c: running ----------------------------------------------------------- */

/* Callbacks for an embedding (the D-Bus service); set before starting. */
void vmm_vm_set_callbacks (struct vmm_vm *vm, vmm_vm_exit_fn exit_fn, vmm_vm_panic_fn panic_fn,
                           void *data);
/* Every disk's failed requests go to FN (from the disks' I/O threads, with
 * the device locked: FN must only queue). Set before starting. */
void vmm_vm_set_disk_error_fn (struct vmm_vm *vm, vmm_disk_error_fn fn, void *data);
/* FN hears when the screen changes after a thumbnail was written (see
 * vmm_spice_set_changed_fn); nothing without a display. Set before starting. */
void vmm_vm_set_display_changed_fn (struct vmm_vm *vm, void (*fn) (void *data), void *data);

/* Starts the device loop and the vCPUs. Returns 0 or -errno. */
int  vmm_vm_start (struct vmm_vm *vm);
/* Waits until the VM stops and its threads end; returns why, and a
 * message for errors in *message (owned by the VM). */
enum vmm_exit_reason vmm_vm_wait (struct vmm_vm *vm, const char **message);
/* vmm_vm_start, then vmm_vm_wait. */
enum vmm_exit_reason vmm_vm_run (struct vmm_vm *vm, const char **message);

/* Stops every vCPU (devices keep running) and returns once they are all
 * parked; resumes them. Thread-safe; no-ops in the wrong state. */
void vmm_vm_pause  (struct vmm_vm *vm);
void vmm_vm_resume (struct vmm_vm *vm);
bool vmm_vm_is_paused (struct vmm_vm *vm);

/* Hands the devices the MMIO writes KVM held back (vm->mmio_ring);
 * returns how many. Any thread; a vCPU thread does it before each exit,
 * the VGA before a frame. */
unsigned vmm_vm_flush_mmio_ring (struct vmm_vm *vm);

/* FN hears the address the guest was leased (user-mode networking), on
 * the network backend's thread. Set before vmm_vm_start. */
void vmm_vm_set_lease_fn (struct vmm_vm *vm,
                          void (*fn) (struct vmm_vm *vm, const char *address, void *data),
                          void *data);

/* Time the guest has run since it started, pauses excluded. */
uint64_t vmm_vm_uptime_ns (struct vmm_vm *vm);

/* Asks a running VM to stop (thread-safe; the first reason wins). */
void vmm_vm_request_exit (struct vmm_vm *vm, enum vmm_exit_reason reason, const char *message);
