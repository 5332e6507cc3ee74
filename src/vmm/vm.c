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
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "firmware/acpi-loader.h"
#include "firmware/pflash.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"

/* The port Linux and firmware write to for a short delay. */
#define PORT_POST 0x80

static int update_acpi_fw_cfg (struct vmm_vm *vm);

/* ---- the guest stops --------------------------------------------------------- */

/* The guest's requests, from the ACPI PM block and the i8042 (on a vCPU
 * thread) and from KVM system events (the dispatch). */
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

/* An exit the guest does not survive (dispatch.c). */
static void
on_vcpu_stop (void *opaque, enum vmm_exit_reason reason, const char *message)
{
  vmm_vm_request_exit (opaque, reason, message);
}

static void
on_vcpu_log_registers (void *opaque, unsigned vcpu)
{
  struct vmm_vm *vm = opaque;

  vmm_kvm_vcpu_log_registers (&vm->vcpus[vcpu].kvm);
}

void
vmm_vm_power_button (struct vmm_vm *vm)
{
  vmm_acpi_pm_power_button (&vm->pm);
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

/* ---- memory slots ---------------------------------------------------------------- */

/* Maps HOST at [GPA, GPA + SIZE) as guest memory in a free KVM slot;
 * returns the slot or -errno. */
static int
map_memory (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
  struct vmm_vm *vm = opaque;
  int slot = -ENOSPC, ret;

  pthread_mutex_lock (&vm->slots_lock);
  for (unsigned i = 0; i < 64; i++)
    if (!(vm->slots_used & (1ull << i)))
      {
        slot = (int) i;
        break;
      }
  if (slot >= 0)
    {
      ret = vmm_kvm_set_memory_flags (vm->vm_fd, (unsigned) slot, gpa, size, host,
                                      readonly ? KVM_MEM_READONLY : 0);
      if (ret < 0)
        slot = ret;
      else
        vm->slots_used |= 1ull << slot;
    }
  pthread_mutex_unlock (&vm->slots_lock);
  return slot;
}

static void
unmap_memory (void *opaque, int slot)
{
  struct vmm_vm *vm = opaque;
  int ret;

  if (slot < 0 || slot >= 64)
    return;
  pthread_mutex_lock (&vm->slots_lock);
  ret = vmm_kvm_set_memory_flags (vm->vm_fd, (unsigned) slot, 0, 0, NULL, 0);
  if (ret < 0)
    vmm_log_error ("cannot remove memory slot %d: %s", slot, strerror (-ret));
  else
    vm->slots_used &= ~(1ull << slot);
  pthread_mutex_unlock (&vm->slots_lock);
}

/* Guest RAM in KVM's slots. Below 1 MiB only [0, 640 KiB) is plain RAM:
 * 0xa0000-0xbffff is the VGA window, and the chipset maps 0xc0000-0xfffff
 * as its PAM registers say (firmware/q35.c). */
static gboolean
setup_memory (struct vmm_vm *vm, GError **error)
{
  int ret = vmm_mem_alloc (&vm->mem, vm->config.memory, VMM_PCI_HOLE_START);

  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED,
                   _("Cannot allocate %llu MiB of guest memory: %s"),
                   (unsigned long long) (vm->config.memory >> 20), g_strerror (-ret));
      return FALSE;
    }
  for (unsigned i = 0; i < vm->mem.n_regions && ret >= 0; i++)
    {
      const struct vmm_mem_region *r = &vm->mem.regions[i];

      if (r->gpa == 0 && r->size > VMM_HIMEM_START)
        {
          ret = map_memory (vm, 0, VMM_LOW_RAM_TOP, r->host, false);
          if (ret >= 0)
            ret = map_memory (vm, VMM_HIMEM_START, r->size - VMM_HIMEM_START,
                              r->host + VMM_HIMEM_START, false);
        }
      else
        ret = map_memory (vm, r->gpa, r->size, r->host, false);
    }
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED,
                   _("KVM refused the guest memory: %s"), g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

/* ---- firmware ------------------------------------------------------------------------ */

/* The ROM's writes are dropped (its reads come from the slot). */
static const struct vmm_io_ops rom_ops = { 0 };

static gboolean load_uefi (struct vmm_vm *vm, GError **error);

/* Loads the BIOS and maps it read-only so that it ends at 4 GiB, where the
 * vCPU's reset vector fetches from; the chipset shows its last 128 KiB at
 * 0xe0000 too. UEFI: OVMF's two flash devices (load_uefi). */
static gboolean
load_firmware (struct vmm_vm *vm, GError **error)
{
  const char *path = vm->config.firmware_path;
  g_autofree char *data = NULL;
  g_autoptr(GError) local = NULL;
  gsize size = 0;
  uint64_t base;
  int ret;

  if (vm->config.firmware == VMM_FIRMWARE_UEFI)
    return load_uefi (vm, error);
  if (path == NULL)
    path = VMM_SEABIOS_PATH;
  if (!g_file_get_contents (path, &data, &size, &local))
    {
      if (vm->config.firmware_path == NULL && g_error_matches (local, G_FILE_ERROR,
                                                               G_FILE_ERROR_NOENT))
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("The BIOS firmware is not installed: install the “%s” package (%s is "
                       "missing)"), "seabios", path);
      else
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot read the firmware: %s"),
                     local->message);
      return FALSE;
    }
  if (size < VMM_ISA_BIOS_SIZE || size > VMM_FIRMWARE_MAX || (size & 0xffff) != 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("%s is not a BIOS image: its size must be a multiple of 64 KiB between "
                     "128 KiB and 16 MiB"), path);
      return FALSE;
    }
  vm->firmware = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (vm->firmware == MAP_FAILED)
    {
      vm->firmware = NULL;
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (errno));
      return FALSE;
    }
  memcpy (vm->firmware, data, size);
  vm->firmware_size = size;
  base = VMM_FIRMWARE_TOP - size;
  ret = map_memory (vm, base, size, vm->firmware, true);
  if (ret >= 0)
    ret = vmm_bus_register (&vm->mmio, base, size, &rom_ops, vm, "bios");
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot map the firmware: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  vmm_log_debug ("firmware %s at %#llx-%#llx", path, (unsigned long long) base,
                 (unsigned long long) (VMM_FIRMWARE_TOP - 1));
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

/* ---- the display ------------------------------------------------------------------ */

/* The SPICE server's input, from its thread, to the input devices. Keys
 * go to the keyboard; positions to the tablet (client mouse mode) and
 * motion to the mouse (server mouse mode). Buttons and the wheel go to the
 * pointer that moved last, never to both: a guest that drives both would
 * see every click and every wheel step twice. The sinks only queue for the
 * devices' thread, and each device drops the events it does not have.
 *
 * The PS/2 keyboard and mouse are there too, for the firmware, boot
 * loaders and installers that know nothing else: input
 * goes to a virtio device once its driver runs, to PS/2 until then (as
 * QEMU hands input to the device activated last). Positions need the
 * tablet's driver: without it, and with a PS/2 mouse the guest turned on,
 * the server is told to send motion instead (server mouse mode), and back
 * when the driver comes. */
static const struct vmm_input_sink *
keyboard_for (struct vmm_vm *vm)
{
  if (vm->ps2_input && !vmm_virtio_input_ready (vm->keyboard))
    return &vm->ps2_keyboard_sink;
  return &vm->keyboard_sink;
}

static const struct vmm_input_sink *
mouse_for (struct vmm_vm *vm)
{
  if (vm->ps2_input && !vmm_virtio_input_ready (vm->mouse))
    return &vm->ps2_mouse_sink;
  return &vm->mouse_sink;
}

static const struct vmm_input_sink *
current_pointer (struct vmm_vm *vm)
{
  return vm->pointer_is_mouse ? mouse_for (vm) : &vm->tablet_sink;
}

static void
fan_key (void *data, uint16_t code, bool pressed)
{
  struct vmm_vm *vm = data;
  const struct vmm_input_sink *keyboard = keyboard_for (vm);
  const struct vmm_input_sink *pointer = current_pointer (vm);

  keyboard->key (keyboard->data, code, pressed);
  pointer->key (pointer->data, code, pressed);
}

static void
fan_abs (void *data, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
  struct vmm_vm *vm = data;

  if (vm->ps2_input && !vmm_virtio_input_ready (vm->tablet))
    {
      /* Nobody reads positions: ask for motion, if the PS/2 mouse takes
       * it (else the client had better keep its pointer) */
      if (vmm_i8042_mouse_active (&vm->i8042))
        vmm_spice_set_absolute_pointer (vm->spice, false);
      return;
    }
  vm->pointer_is_mouse = false;
  vm->tablet_sink.abs (vm->tablet_sink.data, x, y, width, height);
}

static void
fan_rel (void *data, int32_t dx, int32_t dy)
{
  struct vmm_vm *vm = data;
  const struct vmm_input_sink *mouse = mouse_for (vm);

  if (vm->ps2_input && vmm_virtio_input_ready (vm->tablet))
    vmm_spice_set_absolute_pointer (vm->spice, true);
  vm->pointer_is_mouse = true;
  mouse->rel (mouse->data, dx, dy);
}

static void
fan_wheel (void *data, int32_t dy)
{
  struct vmm_vm *vm = data;
  const struct vmm_input_sink *pointer = current_pointer (vm);

  pointer->wheel (pointer->data, dy);
}

/* The keyboard's LEDs, on the devices' thread, to the server's clients.
 * vm->spice is set before the loop runs and freed after it stopped. */
static void
forward_leds (void *data, uint32_t leds)
{
  struct vmm_vm *vm = data;
  const struct vmm_input_led_listener *l;

  if (vm->spice == NULL)
    return;
  l = vmm_spice_led_listener (vm->spice);
  l->leds (l->data, leds);
}

/* ---- the screen: the VGA and virtio-gpu ------------------------------------ */

/* Both devices call these on the loop thread. The GPU's scanout wins
 * while its driver shows one, as on QEMU's virtio-vga: Linux's virtio-gpu
 * driver takes the screen over from the firmware's. */
static const struct vmm_display_listener *
screen_of (struct vmm_vm *vm)
{
  return vmm_spice_display_listener (vm->spice);
}

static void
vga_set_surface (void *data, const struct vmm_display_surface *surface)
{
  struct vmm_vm *vm = data;

  if (!vm->gpu_scanout)
    screen_of (vm)->set_surface (screen_of (vm)->data, surface);
}

static void
vga_update (void *data, const struct vmm_display_surface *surface, uint32_t x, uint32_t y,
            uint32_t w, uint32_t h)
{
  struct vmm_vm *vm = data;

  if (!vm->gpu_scanout)
    screen_of (vm)->update (screen_of (vm)->data, surface, x, y, w, h);
}

static void
vga_set_cursor (void *data, const struct vmm_display_cursor *cursor, int32_t x, int32_t y)
{
  struct vmm_vm *vm = data;

  if (!vm->gpu_scanout)
    screen_of (vm)->set_cursor (screen_of (vm)->data, cursor, x, y);
}

static void
vga_move_cursor (void *data, int32_t x, int32_t y)
{
  struct vmm_vm *vm = data;

  if (!vm->gpu_scanout)
    screen_of (vm)->move_cursor (screen_of (vm)->data, x, y);
}

static void
gpu_set_surface (void *data, const struct vmm_display_surface *surface)
{
  struct vmm_vm *vm = data;

  vm->gpu_scanout = surface != NULL;
  if (surface == NULL && vm->vga != NULL)
    {
      /* The VGA's screen again, all of it */
      vmm_vga_set_listener (vm->vga, &vm->vga_out);
      return;
    }
  /* Hidden, the VGA neither draws nor polls */
  if (vm->vga != NULL)
    vmm_vga_set_listener (vm->vga, NULL);
  screen_of (vm)->set_surface (screen_of (vm)->data, surface);
}

static void
gpu_update (void *data, const struct vmm_display_surface *surface, uint32_t x, uint32_t y,
            uint32_t w, uint32_t h)
{
  struct vmm_vm *vm = data;

  if (vm->gpu_scanout)
    screen_of (vm)->update (screen_of (vm)->data, surface, x, y, w, h);
}

static void
gpu_set_cursor (void *data, const struct vmm_display_cursor *cursor, int32_t x, int32_t y)
{
  struct vmm_vm *vm = data;

  if (vm->gpu_scanout)
    screen_of (vm)->set_cursor (screen_of (vm)->data, cursor, x, y);
}

static void
gpu_move_cursor (void *data, int32_t x, int32_t y)
{
  struct vmm_vm *vm = data;

  if (vm->gpu_scanout)
    screen_of (vm)->move_cursor (screen_of (vm)->data, x, y);
}

/* The VGA's video memory as guest RAM where its BAR is */
static int
vga_map_ram (void *opaque, uint64_t gpa, uint64_t size, void *host, bool map)
{
  struct vmm_vm *vm = opaque;

  if (vm->vga_slot >= 0)
    {
      unmap_memory (vm, vm->vga_slot);
      vm->vga_slot = -1;
    }
  if (map)
    {
      int slot = map_memory (vm, gpa, size, host, false);
      if (slot < 0)
        return slot;
      vm->vga_slot = slot;
    }
  return 0;
}

static unsigned
flush_mmio_ring (void *opaque)
{
  return vmm_vm_flush_mmio_ring (opaque);
}

/* The VGA, first on the bus so that the firmware takes it as the primary
 * display, with its legacy ports and window */
static gboolean
setup_vga (struct vmm_vm *vm, GError **error)
{
  const struct vmm_vga_config config = {
    .edid_width = vm->config.display.width, .edid_height = vm->config.display.height,
  };
  const struct vmm_vga_env env = {
    .loop = &vm->loop, .mmio = &vm->mmio, .map_ram = vga_map_ram, .map_opaque = vm,
    .flush = flush_mmio_ring, .flush_opaque = vm,
  };
  g_autoptr(GError) local = NULL;
  int ret;

  vm->vga_slot = -1;
  vm->vga = vmm_vga_new (&config, &env, &local);
  if (vm->vga == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "VGA", local->message);
      return FALSE;
    }
  ret = vmm_pci_host_add (&vm->pci, vmm_vga_pci_dev (vm->vga));
  if (ret >= 0)
    ret = vmm_bus_register (&vm->pio, 0x3b0, 0x30, &vmm_vga_ioport_ops, vm->vga, "vga");
  if (ret >= 0)
    ret = vmm_bus_register (&vm->pio, 0x1ce, 3, &vmm_vga_dispi_ops, vm->vga, "vga-dispi");
  if (ret >= 0)
    ret = vmm_bus_register (&vm->mmio, VMM_VGA_WINDOW_BASE, VMM_VGA_WINDOW_SIZE,
                            &vmm_vga_mem_ops, vm->vga, "vga-window");
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "VGA", g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

/* virtio-gpu, a keyboard, a tablet and a mouse on PCI, then the SPICE
 * server over them: everything the server's thread calls exists before it
 * starts. */
static gboolean
setup_display (struct vmm_vm *vm, const struct vmm_virtio_env *env, GError **error)
{
  struct vmm_virtio_gpu_config gpu_config = {
    .width = vm->config.display.width, .height = vm->config.display.height,
  };
  const struct vmm_input_led_listener leds = { forward_leds, vm };
  const struct vmm_input_sink input = {
    .key = fan_key, .abs = fan_abs, .rel = fan_rel, .wheel = fan_wheel, .data = vm,
  };
  struct vmm_display_device device;
  struct vmm_spice_config spice_config = { .input = &input, .device = &device };
  g_autoptr(GError) local = NULL;

  if (vm->config.firmware != VMM_FIRMWARE_NONE && !setup_vga (vm, error))
    return FALSE;
  vm->gpu = vmm_virtio_gpu_new (env, &gpu_config, &local);
  if (!plug_virtio (vm, vm->gpu ? vmm_virtio_gpu_dev (vm->gpu) : NULL, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "virtio-gpu", local->message);
      return FALSE;
    }
  vm->keyboard = vmm_virtio_input_new (env, VMM_INPUT_KEYBOARD, &leds, &local);
  if (!plug_virtio (vm, vm->keyboard ? vmm_virtio_input_dev (vm->keyboard) : NULL, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "virtio-keyboard", local->message);
      return FALSE;
    }
  vm->tablet = vmm_virtio_input_new (env, VMM_INPUT_TABLET, NULL, &local);
  if (!plug_virtio (vm, vm->tablet ? vmm_virtio_input_dev (vm->tablet) : NULL, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "virtio-tablet", local->message);
      return FALSE;
    }
  vm->mouse = vmm_virtio_input_new (env, VMM_INPUT_MOUSE, NULL, &local);
  if (!plug_virtio (vm, vm->mouse ? vmm_virtio_input_dev (vm->mouse) : NULL, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "virtio-mouse", local->message);
      return FALSE;
    }
  vm->keyboard_sink = vmm_virtio_input_sink (vm->keyboard);
  vm->tablet_sink = vmm_virtio_input_sink (vm->tablet);
  vm->mouse_sink = vmm_virtio_input_sink (vm->mouse);

  device = vmm_virtio_gpu_display_device (vm->gpu);
  vm->spice = vmm_spice_new (&spice_config, error);
  if (vm->spice == NULL)
    return FALSE;
  vm->vga_out = (struct vmm_display_listener) {
    vga_set_surface, vga_update, vga_set_cursor, vga_move_cursor, vm,
  };
  vm->gpu_out = (struct vmm_display_listener) {
    gpu_set_surface, gpu_update, gpu_set_cursor, gpu_move_cursor, vm,
  };
  vmm_virtio_gpu_set_listener (vm->gpu, &vm->gpu_out);
  if (vm->vga != NULL)
    vmm_vga_set_listener (vm->vga, &vm->vga_out);
  /* PS/2 takes input while no virtio driver does (with direct kernel
   * boot no one reads it: the tables do not announce the controller) */
  vm->ps2_input = true;
  vm->ps2_keyboard_sink = vmm_i8042_keyboard_sink (&vm->i8042);
  vm->ps2_mouse_sink = vmm_i8042_mouse_sink (&vm->i8042);
  if (vm->config.display.socket_path != NULL &&
      !vmm_spice_listen_unix (vm->spice, vm->config.display.socket_path, error))
    return FALSE;
  return TRUE;
}

struct vmm_spice *
vmm_vm_get_spice (struct vmm_vm *vm)
{
  return vm->spice;
}

/* OVMF as QEMU gives it: its code in a read-only flash ending at 4 GiB,
 * its variables in a writable one right below (the machine's own copy of
 * Debian's template, so they persist; a temporary copy when none is
 * named). The code's last 128 KiB also show at 0xe0000. */
static gboolean
load_uefi (struct vmm_vm *vm, GError **error)
{
  const char *code = vm->config.firmware_path ? vm->config.firmware_path : VMM_OVMF_CODE_PATH;
  const char *vars = vm->config.vars_path;
  /* The device keeps a pointer to its ops */
  static const struct vmm_pflash_ops ops = { map_memory, unmap_memory };
  struct vmm_pflash_config config = { .path = code, .readonly = true, .end = VMM_FIRMWARE_TOP };
  g_autofree char *data = NULL;
  g_autoptr(GError) local = NULL;
  gsize size = 0;
  int ret;

  if (!g_file_test (code, G_FILE_TEST_EXISTS) && vm->config.firmware_path == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The UEFI firmware is not installed: install the “%s” package (%s is "
                     "missing)"), "ovmf", code);
      return FALSE;
    }
  /* The variables: the machine's, made from the template the first time */
  if (vars == NULL || !g_file_test (vars, G_FILE_TEST_EXISTS))
    {
      if (!g_file_get_contents (VMM_OVMF_VARS_PATH, &data, &size, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("The UEFI firmware is not installed: install the “%s” package (%s)"),
                       "ovmf", local->message);
          return FALSE;
        }
      if (vars == NULL)
        {
          int fd = g_file_open_tmp ("vivarium-ovmf-vars-XXXXXX.fd", &vm->temp_vars, &local);

          if (fd >= 0)
            close (fd);
          vars = vm->temp_vars;
        }
      /* Whole or not at all: a new file renamed into place */
      if (local == NULL)
        g_file_set_contents (vars, data, (gssize) size, &local);
      if (local != NULL)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("Cannot create the UEFI variable store %s: %s"),
                       vars ? vars : "", local->message);
          return FALSE;
        }
      g_clear_pointer (&data, g_free);
    }

  vm->code_flash = vmm_pflash_new (&config, &ops, vm, &local);
  if (vm->code_flash != NULL)
    {
      config = (struct vmm_pflash_config) {
        .path = vars, .readonly = false, .end = vmm_pflash_base (vm->code_flash),
      };
      vm->vars_flash = vmm_pflash_new (&config, &ops, vm, &local);
    }
  if (vm->vars_flash == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot use the UEFI firmware: %s"),
                   local->message);
      return FALSE;
    }
  if (vmm_pflash_base (vm->vars_flash) < VMM_FIRMWARE_TOP - VMM_FIRMWARE_MAX)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The UEFI firmware is too large: its code and variables take more than "
                     "%llu MiB"), VMM_FIRMWARE_MAX >> 20);
      return FALSE;
    }
  if ((ret = vmm_bus_register (&vm->mmio, vmm_pflash_base (vm->code_flash),
                               vmm_pflash_size (vm->code_flash), &vmm_pflash_ops, vm->code_flash,
                               "ovmf-code")) < 0 ||
      (ret = vmm_bus_register (&vm->mmio, vmm_pflash_base (vm->vars_flash),
                               vmm_pflash_size (vm->vars_flash), &vmm_pflash_ops, vm->vars_flash,
                               "ovmf-vars")) < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot map the firmware: %s"),
                   g_strerror (-ret));
      return FALSE;
    }

  /* The code's end for the chipset's 0xe0000-0xfffff */
  if (!g_file_get_contents (code, &data, &size, &local) || size < VMM_ISA_BIOS_SIZE)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot read the firmware: %s"),
                   local ? local->message : code);
      return FALSE;
    }
  vm->firmware = mmap (NULL, VMM_ISA_BIOS_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (vm->firmware == MAP_FAILED)
    {
      vm->firmware = NULL;
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (errno));
      return FALSE;
    }
  memcpy (vm->firmware, data + size - VMM_ISA_BIOS_SIZE, VMM_ISA_BIOS_SIZE);
  vm->firmware_size = VMM_ISA_BIOS_SIZE;
  vmm_log_debug ("OVMF %s at %#llx, variables %s at %#llx", code,
                 (unsigned long long) vmm_pflash_base (vm->code_flash), vars,
                 (unsigned long long) vmm_pflash_base (vm->vars_flash));
  return TRUE;
}

/* ---- the chipset ------------------------------------------------------------------ */

/* PCIEXBAR moved ECAM (the firmware's choice; ours is the same). */
static void
move_ecam (void *opaque, uint64_t base, bool enabled)
{
  struct vmm_vm *vm = opaque;
  int ret;

  if (vm->ecam_on == enabled && (!enabled || vm->ecam_base == base))
    return;
  if (vm->ecam_on)
    vmm_bus_unregister (&vm->mmio, vm->ecam_base, &vm->pci);
  vm->ecam_on = false;
  if (!enabled)
    return;
  ret = vmm_bus_register (&vm->mmio, base, VMM_PCI_ECAM_SIZE, &vmm_pci_ecam_ops, &vm->pci,
                          "pci-ecam");
  if (ret < 0)
    {
      vmm_log_guest (&vm->unhandled_rl, "ECAM cannot decode at %#llx: %s",
                     (unsigned long long) base, strerror (-ret));
      return;
    }
  vm->ecam_base = base;
  vm->ecam_on = true;
  update_acpi_fw_cfg (vm);
}

/* PMBASE/ACPI_CNTL moved the PM block (firmware sets the address we use). */
static void
move_pm (void *opaque, uint16_t port, bool enabled)
{
  struct vmm_vm *vm = opaque;
  int ret;

  if (vm->pm_on == enabled && (!enabled || vm->pm_base == port))
    return;
  if (vm->pm_on)
    {
      vmm_bus_unregister (&vm->pio, vm->pm_base, &vm->pm);
      vmm_bus_unregister (&vm->pio, vm->pm_base + VMM_Q35_PM_SMI_EN, &vm->q35);
    }
  vm->pm_on = false;
  if (!enabled)
    return;
  ret = vmm_bus_register (&vm->pio, port, VMM_ACPI_PM_LEN, &vmm_acpi_pm_ops, &vm->pm, "acpi-pm");
  if (ret == 0)
    {
      ret = vmm_bus_register (&vm->pio, port + VMM_Q35_PM_SMI_EN,
                              VMM_Q35_PM_LEN - VMM_Q35_PM_SMI_EN, &vmm_q35_pm_ops, &vm->q35,
                              "q35-pm");
      if (ret < 0)
        vmm_bus_unregister (&vm->pio, port, &vm->pm);
    }
  if (ret < 0)
    {
      vmm_log_guest (&vm->unhandled_rl, "the PM block cannot decode at %#x: %s", port,
                     strerror (-ret));
      return;
    }
  vm->pm_base = port;
  vm->pm_on = true;
  update_acpi_fw_cfg (vm);
}

/* The firmware's debug log: the engine's debug log, and a file if asked */
static void
debugcon_line (void *opaque, const char *line)
{
  struct vmm_vm *vm = opaque;

  vmm_log_debug ("firmware: %s", line);
  if (vm->debugcon_file != NULL)
    {
      fprintf (vm->debugcon_file, "%s\n", line);
      fflush (vm->debugcon_file);
    }
}

static const struct vmm_q35_ops q35_ops = {
  .map = map_memory,
  .unmap = unmap_memory,
  .move_ecam = move_ecam,
  .move_pm = move_pm,
  .set_irq = set_irq_line,
  .reset = on_reset,
};

/* The Q35 chipset over the PCI host, with ECAM and the PM block where the
 * firmware will put them, and 0xc0000-0xfffff as reset leaves it. */
static gboolean
setup_chipset (struct vmm_vm *vm, GError **error)
{
  const struct vmm_q35_config config = {
    .low_ram_end = vm->mem.regions[0].size,
    .ecam_base = VMM_PCI_ECAM_BASE,
    .pm_base = VMM_PORT_ACPI_PM_BASE,
    .shadow_ram = vmm_mem_ptr (&vm->mem, VMM_Q35_SHADOW_BASE,
                               VMM_Q35_SHADOW_END - VMM_Q35_SHADOW_BASE),
    .isa_bios = vm->firmware ? vm->firmware + vm->firmware_size - VMM_ISA_BIOS_SIZE : NULL,
  };
  int ret;

  vm->pci.reset = on_reset;
  vm->pci.reset_opaque = vm;
  vm->pci.enable_at_add = vm->config.firmware == VMM_FIRMWARE_NONE;
  if (vm->config.debugcon_path != NULL)
    {
      vm->debugcon_file = fopen (vm->config.debugcon_path, "we");
      if (vm->debugcon_file == NULL)
        {
          int saved = errno;
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot open the debug log %s: %s"),
                       vm->config.debugcon_path, g_strerror (saved));
          return FALSE;
        }
    }
  vmm_debugcon_init (&vm->debugcon, debugcon_line, vm);
  ret = vmm_q35_init (&vm->q35, &vm->pci.bridge, &config, &q35_ops, vm);
  if (ret == 0)
    ret = vmm_pci_host_add_at (&vm->pci, &vm->q35.lpc, VMM_Q35_LPC_SLOT);
  if (ret >= 0)
    ret = vmm_bus_register (&vm->pio, VMM_PORT_SYSCTL_A, 1, &vmm_q35_port92_ops, &vm->q35,
                            "sysctl-a");
  /* The debug console only when someone reads it: firmware that finds
   * the port writes its whole log there, an exit a byte (as QEMU, which
   * has it only with -debugcon) */
  if (ret >= 0 && (vm->debugcon_file != NULL || vmm_log_get_level () >= VMM_LOG_DEBUG))
    ret = vmm_bus_register (&vm->pio, VMM_PORT_DEBUGCON, 1, &vmm_debugcon_ops, &vm->debugcon,
                            "debugcon");
  if (ret >= 0)
    ret = vmm_bus_register (&vm->mmio, VMM_Q35_SHADOW_BASE,
                            VMM_Q35_SHADOW_END - VMM_Q35_SHADOW_BASE, &vmm_q35_shadow_ops,
                            &vm->q35, "bios-shadow");
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot set up the chipset: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  move_ecam (vm, VMM_PCI_ECAM_BASE, true);
  move_pm (vm, VMM_PORT_ACPI_PM_BASE, true);
  if (!vm->ecam_on || !vm->pm_on)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot set up the chipset: %s"),
                   g_strerror (EEXIST));
      return FALSE;
    }
  return TRUE;
}

/* ---- SATA: disks and CD-ROM drives ------------------------------------------------- */

/* The controller's INTA, through the chipset's PIRQ for its slot (the
 * usual swizzle: slot N's INTA is PIRQ N mod 4) */
static void
ahci_intx (void *opaque, unsigned pirq, bool level)
{
  struct vmm_vm *vm = opaque;

  vmm_q35_set_pirq (&vm->q35, pirq, level);
}

/* The guest ejected a disc: on the controller's thread */
static void
on_guest_eject (struct vmm_ahci *ahci, unsigned port, void *data)
{
  struct vmm_vm *vm = data;

  (void) ahci;
  for (unsigned i = 0; i < vm->config.n_cdroms; i++)
    if (vm->cdrom_port[i] == port)
      {
        vmm_log_info ("the guest ejected the disc of CD-ROM drive %u", i);
        if (vm->medium_fn != NULL)
          vm->medium_fn (vm->medium_data, i, false);
      }
}

static int
open_disc (const char *path, struct vmm_block **block, GError **error)
{
  const struct vmm_block_open_opts opts = {
    .path = path, .format = VMM_BLOCK_FORMAT_RAW, .read_only = true,
  };

  return vmm_block_open (block, &opts, error);
}

/* The AHCI controller, when there are SATA disks or CD-ROM drives: the
 * disks on the first ports, then the drives */
static gboolean
setup_ahci (struct vmm_vm *vm, GError **error)
{
  struct vmm_ahci_port_config ports[VMM_AHCI_PORTS] = { 0 };
  struct vmm_ahci_env env = {
    .mem = &vm->mem, .mmio = &vm->mmio, .router = &vm->router, .vm_fd = vm->vm_fd,
  };
  unsigned n = 0;
  g_autoptr(GError) local = NULL;
  int ret;

  vm->ahci_slot = -1;
  for (unsigned i = 0; i < vm->config.n_disks; i++)
    {
      const struct vmm_disk_spec *d = &vm->config.disks[i];
      const struct vmm_block_open_opts opts = {
        .path = d->path, .format = d->format, .read_only = d->read_only,
        .direct = d->cache == VMM_DISK_CACHE_NONE,
      };

      if (d->bus != VMM_DISK_BUS_SATA)
        continue;
      if (n == VMM_AHCI_PORTS)
        goto too_many;
      ports[n].kind = VMM_AHCI_DISK;
      ports[n].serial = d->serial;
      if (vmm_block_open (&ports[n].block, &opts, &local) < 0)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot use the disk %s: %s"),
                       d->path, local->message);
          goto fail;
        }
      n++;
    }
  for (unsigned i = 0; i < vm->config.n_cdroms; i++)
    {
      const char *path = vm->config.cdroms[i].path;

      if (n == VMM_AHCI_PORTS)
        goto too_many;
      ports[n].kind = VMM_AHCI_CDROM;
      vm->cdrom_port[i] = n;
      if (path != NULL && open_disc (path, &ports[n].block, &local) < 0)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot use the disc %s: %s"),
                       path, local->message);
          goto fail;
        }
      n++;
    }
  if (n == 0)
    return TRUE;

  /* The slot it will get decides its PIRQ: the first free one */
  for (unsigned slot = 1; slot < VMM_PCI_SLOTS; slot++)
    if (vm->pci.slots[slot] == NULL)
      {
        env.intx = (struct vmm_irq_line) { ahci_intx, vm, slot % 4 };
        break;
      }
  vm->ahci = vmm_ahci_new (&env, ports, &local);
  if (vm->ahci == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "AHCI", local->message);
      return FALSE;
    }
  vmm_ahci_set_eject_fn (vm->ahci, on_guest_eject, vm);
  ret = vmm_pci_host_add (&vm->pci, vmm_ahci_pci_dev (vm->ahci));
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "AHCI", g_strerror (-ret));
      return FALSE;
    }
  vm->ahci_slot = ret;
  return TRUE;

too_many:
  g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
               _("At most %d SATA disks and CD-ROM drives together"), VMM_AHCI_PORTS);
fail:
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    if (ports[i].block != NULL)
      vmm_block_close (ports[i].block);
  return FALSE;
}

void
vmm_vm_set_medium_fn (struct vmm_vm *vm, vmm_vm_medium_fn fn, void *data)
{
  vm->medium_fn = fn;
  vm->medium_data = data;
}

gboolean
vmm_vm_insert_medium (struct vmm_vm *vm, unsigned drive, const char *path, GError **error)
{
  struct vmm_block *block = NULL;
  g_autoptr(GError) local = NULL;
  int ret;

  if (drive >= vm->config.n_cdroms || vm->ahci == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("There is no CD-ROM drive %u"), drive);
      return FALSE;
    }
  if (open_disc (path, &block, &local) < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot use the disc %s: %s"), path,
                   local->message);
      return FALSE;
    }
  ret = vmm_ahci_insert_medium (vm->ahci, vm->cdrom_port[drive], block);
  if (ret < 0)
    {
      vmm_block_close (block);
      if (ret == -EBUSY)
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("CD-ROM drive %u holds a disc: eject it first"), drive);
      else
        g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot insert the disc: %s"),
                     g_strerror (-ret));
      return FALSE;
    }
  vmm_log_info ("disc %s inserted in CD-ROM drive %u", path, drive);
  return TRUE;
}

int
vmm_vm_eject_medium (struct vmm_vm *vm, unsigned drive, bool force)
{
  int ret;

  if (drive >= vm->config.n_cdroms || vm->ahci == NULL)
    return -ENODEV;
  ret = vmm_ahci_eject_medium (vm->ahci, vm->cdrom_port[drive], force);
  if (ret == -ENOMEDIUM)
    return 0;
  if (ret == 0)
    vmm_log_info ("the disc of CD-ROM drive %u was ejected", drive);
  return ret;
}

/* ---- fw_cfg ------------------------------------------------------------------------ */

/* The firmware's boot order: each device path as SeaBIOS and OVMF build
 * them (/pci@i0cf8/NAME@SLOT, then the drive on an AHCI port) */
static char *
build_bootorder (struct vmm_vm *vm)
{
  static const enum vmm_boot_device default_order[] = {
    VMM_BOOT_DEVICE_DISK, VMM_BOOT_DEVICE_CDROM,
  };
  const enum vmm_boot_device *order = vm->config.n_boot ? vm->config.boot : default_order;
  unsigned n_order = vm->config.n_boot ? vm->config.n_boot : G_N_ELEMENTS (default_order);
  GString *s = g_string_new (NULL);

  /* a kernel given with the firmware boots first, as QEMU's -kernel */
  if (vm->config.kernel_path != NULL && vm->config.firmware == VMM_FIRMWARE_BIOS)
    g_string_append (s, "/rom@genroms/linuxboot_dma.bin\n");

  for (unsigned o = 0; o < n_order; o++)
    {
      if (order[o] == VMM_BOOT_DEVICE_DISK)
        {
          unsigned sata_port = 0;

          for (unsigned i = 0; i < vm->config.n_disks; i++)
            {
              if (vm->config.disks[i].bus == VMM_DISK_BUS_SATA)
                g_string_append_printf (s, "/pci@i0cf8/sata@%x/drive@%x/disk@0\n",
                                        (unsigned) vm->ahci_slot, sata_port++);
              else if (vm->disks[i] != NULL)
                g_string_append_printf (s, "/pci@i0cf8/scsi@%x/disk@0,0\n",
                                        vmm_virtio_blk_dev (vm->disks[i])->pci.slot);
            }
        }
      else
        for (unsigned i = 0; i < vm->config.n_cdroms; i++)
          g_string_append_printf (s, "/pci@i0cf8/sata@%x/drive@%x/disk@0\n",
                                  (unsigned) vm->ahci_slot, vm->cdrom_port[i]);
    }
  return g_string_free (s, FALSE);
}

static gboolean
read_boot_file (const char *path, gboolean initrd, char **data, gsize *size, GError **error)
{
  if (g_file_get_contents (path, data, size, error))
    return TRUE;
  g_prefix_error (error, initrd ? _("Cannot read the initrd: ") : _("Cannot read the kernel: "));
  if (error != NULL)
    (*error)->domain = VMM_ERROR, (*error)->code = VMM_ERROR_BOOT;
  return FALSE;
}

/* A kernel the firmware boots (--kernel with --firmware): the fw_cfg items
 * SeaBIOS's linuxboot option ROM and OVMF's kernel loader read, as QEMU's
 * -kernel gives them */
static gboolean
fw_cfg_add_kernel (struct vmm_vm *vm, GError **error)
{
  g_autofree char *kernel = NULL, *initrd = NULL, *rom = NULL;
  gsize kernel_size = 0, initrd_size = 0, rom_size = 0;
  struct vmm_boot_params params = { 0 };
  struct vmm_fw_kernel fk;
  g_autoptr(GError) local = NULL;
  struct vmm_fw_cfg *c = vm->fw_cfg;
  int ret;

  if (!read_boot_file (vm->config.kernel_path, FALSE, &kernel, &kernel_size, error) ||
      (vm->config.initrd_path != NULL &&
       !read_boot_file (vm->config.initrd_path, TRUE, &initrd, &initrd_size, error)))
    return FALSE;
  if (vm->config.firmware == VMM_FIRMWARE_BIOS &&
      !g_file_get_contents (VMM_LINUXBOOT_ROM_PATH, &rom, &rom_size, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("Booting a kernel through SeaBIOS needs its loader: install the “%s” "
                     "package (%s)"), "qemu-system-data", local->message);
      return FALSE;
    }
  params.kernel = kernel;
  params.kernel_size = kernel_size;
  params.initrd = initrd;
  params.initrd_size = initrd_size;
  params.cmdline = vm->config.cmdline;
  if (!vmm_fw_kernel_prepare (&params, vm->mem.regions[0].size, &fk, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_BOOT, _("Cannot boot %s: %s"),
                   vm->config.kernel_path, local->message);
      return FALSE;
    }
  if ((ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_SETUP_ADDR, VMM_FW_KERNEL_SETUP_ADDR)) < 0 ||
      (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_SETUP_SIZE, (uint32_t) fk.setup_size)) < 0 ||
      (ret = vmm_fw_cfg_add_bytes (c, VMM_FW_CFG_SETUP_DATA, fk.setup, fk.setup_size)) < 0 ||
      (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_KERNEL_ADDR, VMM_FW_KERNEL_ADDR)) < 0 ||
      (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_KERNEL_SIZE, (uint32_t) fk.kernel_size)) < 0 ||
      (ret = vmm_fw_cfg_add_bytes (c, VMM_FW_CFG_KERNEL_DATA, fk.kernel, fk.kernel_size)) < 0 ||
      (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_CMDLINE_ADDR, VMM_FW_KERNEL_CMDLINE_ADDR)) < 0 ||
      (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_CMDLINE_SIZE, (uint32_t) fk.cmdline_size)) < 0 ||
      (ret = vmm_fw_cfg_add_bytes (c, VMM_FW_CFG_CMDLINE_DATA, fk.cmdline,
                                   fk.cmdline_size)) < 0 ||
      (fk.initrd_addr != 0 &&
       ((ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_INITRD_ADDR, fk.initrd_addr)) < 0 ||
        (ret = vmm_fw_cfg_add_u32 (c, VMM_FW_CFG_INITRD_SIZE, (uint32_t) initrd_size)) < 0 ||
        (ret = vmm_fw_cfg_add_bytes (c, VMM_FW_CFG_INITRD_DATA, initrd, initrd_size)) < 0)) ||
      (rom != NULL &&
       (ret = vmm_fw_cfg_add_file (c, "genroms/linuxboot_dma.bin", rom, rom_size)) < 0))
    {
      vmm_fw_kernel_clear (&fk);
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot set up fw_cfg: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  vmm_log_debug ("kernel for the firmware: setup %zu bytes, kernel %zu at %#x, initrd %zu at %#x",
                 fk.setup_size, fk.kernel_size, VMM_FW_KERNEL_ADDR, (size_t) initrd_size,
                 fk.initrd_addr);
  vmm_fw_kernel_clear (&fk);
  return TRUE;
}

/* What the firmware reads: the machine's size, its memory map, the boot
 * order, the VGA BIOS and the ACPI tables */
static gboolean
setup_fw_cfg (struct vmm_vm *vm, GError **error)
{
  struct vmm_e820_entry e820[3];
  unsigned n = 0;
  uint64_t low = vm->mem.regions[0].size;
  g_autofree char *bootorder = NULL;
  int ret;

  vm->fw_cfg = vmm_fw_cfg_new (&vm->mem);
  if ((ret = vmm_bus_register (&vm->pio, VMM_FW_CFG_PORT_BASE, VMM_FW_CFG_PORT_LEN,
                               &vmm_fw_cfg_io_ops, vm->fw_cfg, "fw_cfg")) < 0)
    goto fail;

  /* RAM only: the firmware reserves what it uses and the holes it knows */
  e820[n++] = (struct vmm_e820_entry) { 0, low, VMM_E820_RAM };
  if (vm->config.memory > low)
    e820[n++] = (struct vmm_e820_entry) { VMM_HIGH_RAM_BASE, vm->config.memory - low,
                                          VMM_E820_RAM };
  e820[n++] = (struct vmm_e820_entry) { VMM_KVM_IDENTITY_MAP, VMM_KiB (16), VMM_E820_RESERVED };
  bootorder = build_bootorder (vm);
  vmm_log_debug ("bootorder:\n%s", bootorder);

  if ((ret = vmm_fw_cfg_add_u16 (vm->fw_cfg, VMM_FW_CFG_NB_CPUS, (uint16_t) vm->config.cpus)) < 0 ||
      (ret = vmm_fw_cfg_add_u16 (vm->fw_cfg, VMM_FW_CFG_MAX_CPUS,
                                 (uint16_t) vm->config.cpus)) < 0 ||
      (ret = vmm_fw_cfg_add_u64 (vm->fw_cfg, VMM_FW_CFG_RAM_SIZE, vm->config.memory)) < 0 ||
      /* "Press ESC for boot menu", for a while; not before a kernel given
       * to boot, as QEMU's -kernel */
      (ret = vmm_fw_cfg_add_u16 (vm->fw_cfg, VMM_FW_CFG_BOOT_MENU,
                                 vm->config.kernel_path == NULL)) < 0 ||
      (ret = vmm_fw_cfg_add_file (vm->fw_cfg, "etc/boot-menu-wait",
                                  &(uint16_t) { GUINT16_TO_LE (vm->config.boot_menu_wait_ms) },
                                  2)) < 0 ||
      (ret = vmm_fw_cfg_add_file (vm->fw_cfg, "etc/e820", e820, n * sizeof e820[0])) < 0 ||
      (ret = vmm_fw_cfg_add_file (vm->fw_cfg, "bootorder", bootorder, strlen (bootorder))) < 0)
    goto fail;

  /* SeaBIOS runs the VGA BIOS it finds under the display's PCI IDs */
  if (vm->vga != NULL && vm->config.firmware == VMM_FIRMWARE_BIOS)
    {
      g_autofree char *path = g_build_filename (VMM_SEAVGABIOS_DIR, "vgabios-stdvga.bin", NULL);
      g_autofree char *rom = NULL;
      gsize size = 0;
      g_autoptr(GError) local = NULL;

      if (!g_file_get_contents (path, &rom, &size, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("The VGA BIOS is not installed: install the “%s” package (%s)"),
                       "seabios", local->message);
          return FALSE;
        }
      if ((ret = vmm_fw_cfg_add_file (vm->fw_cfg, "pci1234,1111.rom", rom, size)) < 0)
        goto fail;
    }
  if ((ret = update_acpi_fw_cfg (vm)) < 0)
    goto fail;
  /* (direct kernel boot loads it itself, with fw_cfg present all the same) */
  if (vm->config.firmware != VMM_FIRMWARE_NONE && vm->config.kernel_path != NULL &&
      !fw_cfg_add_kernel (vm, error))
    return FALSE;
  return TRUE;

fail:
  g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot set up fw_cfg: %s"),
               g_strerror (-ret));
  return FALSE;
}

/* ---- the network card -------------------------------------------------------------- */

static void
net_tx_ready (void *opaque)
{
  struct vmm_vm *vm = opaque;

  if (vm->net_backend != NULL)
    vm->net_backend->ops->tx_ready (vm->net_backend);
}

static void
net_rx_ready (void *opaque)
{
  struct vmm_vm *vm = opaque;

  if (vm->net_backend != NULL)
    vm->net_backend->ops->rx_ready (vm->net_backend);
}

static void
net_lease (void *opaque, const char *address)
{
  struct vmm_vm *vm = opaque;

  if (vm->lease_fn != NULL)
    vm->lease_fn (vm, address, vm->lease_data);
}

/* virtio-net, and what is behind it */
static gboolean
setup_net (struct vmm_vm *vm, const struct vmm_virtio_env *env, GError **error)
{
  const struct vmm_net_spec *spec = &vm->config.net;
  struct vmm_virtio_net_config config = {
    /* libslirp and passt make the frames they send; a tap carries others' */
    .rx_checksummed = spec->mode == VMM_NET_USER || spec->mode == VMM_NET_PASST,
    /* libslirp takes a 64 KiB TCP segment whole. A tap (without
     * IFF_VNET_HDR) takes a frame of its MTU: segments of the guest's MSS.
     * So does passt: it takes frames of 65520 bytes, but Debian 12's
     * (2023-03) now and then stalls a connection when a big segment can be
     * sent on only in part (net-vmm-passt beside other loads); a guest on
     * passt's own 65520-byte MTU sends big segments without TSO anyway */
    .backend_max_frame = spec->mode == VMM_NET_USER ? VMM_NET_MAX_FRAME : 1518,
    .backend_kicks = true,
    .tx_ready = net_tx_ready, .rx_ready = net_rx_ready, .opaque = vm,
  };
  const struct vmm_net_events events = { vm, net_lease };
  g_autoptr(GError) local = NULL;
  struct vmm_net_card card;

  memcpy (config.mac, spec->mac, 6);
  vm->net = vmm_virtio_net_new (env, &config, &local);
  if (!plug_virtio (vm, vm->net ? vmm_virtio_net_dev (vm->net) : NULL, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the %s device: %s"),
                   "virtio-net", local->message);
      return FALSE;
    }
  card = vmm_virtio_net_card (vm->net);
  switch (spec->mode)
    {
    case VMM_NET_USER:
      {
        const struct vmm_net_user_config user = { spec->forwards, spec->n_forwards };

        vm->net_backend = vmm_net_user_new (&user, &card, &events, &local);
        break;
      }
    case VMM_NET_TAP:
      vm->net_backend = vmm_net_tap_new (spec->tap, &card, &local);
      break;
    case VMM_NET_PASST:
      {
        const struct vmm_net_user_config user = { spec->forwards, spec->n_forwards };

        vm->net_backend = vmm_net_passt_new (NULL, &user, &card, &events, &local);
        break;
      }
    default:
      g_assert_not_reached ();
    }
  if (vm->net_backend == NULL)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot set up the network: %s"),
                   local->message);
      return FALSE;
    }
  return TRUE;
}

void
vmm_vm_set_lease_fn (struct vmm_vm *vm,
                     void (*fn) (struct vmm_vm *vm, const char *address, void *data), void *data)
{
  vm->lease_fn = fn;
  vm->lease_data = data;
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
  vmm_i8042_init (&vm->i8042, (struct vmm_irq_line) { set_irq_line, vm, VMM_I8042_KBD_IRQ },
                  (struct vmm_irq_line) { set_irq_line, vm, VMM_I8042_AUX_IRQ },
                  &(const struct vmm_input_led_listener) { forward_leds, vm }, on_reset, vm);
  vmm_acpi_pm_init (&vm->pm, sci, on_power_off, vm);
  vmm_pci_host_init (&vm->pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  vm->pvpanic.event = on_pvpanic;
  vm->pvpanic.opaque = vm;
  vm->platform_ready = true;

  if ((ret = vmm_bus_register (&vm->pio, VMM_PORT_RTC, 2, &vmm_rtc_ops, &vm->rtc, "rtc")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_I8042_DATA, 5, &vmm_i8042_ops, &vm->i8042,
                               "i8042")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops, &vm->pci,
                               "pci-cf8")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, VMM_PORT_PVPANIC, 1, &vmm_pvpanic_ops, &vm->pvpanic,
                               "pvpanic")) < 0 ||
      (ret = vmm_bus_register (&vm->pio, PORT_POST, 1, &post_ops, NULL, "post")) < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot place the platform devices: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  /* The i8042 owns 0x60 and 0x64; 0x61 (the PIT's speaker gate) is in KVM. */
  if (!setup_chipset (vm, error))
    return FALSE;

  if (vm->config.net.mode != VMM_NET_NONE && !setup_net (vm, &env, error))
    return FALSE;
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
      vm->config.disks[i].index = i;
      if (vm->config.disks[i].bus != VMM_DISK_BUS_VIRTIO)
        continue;
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

  /* The display first: the console's agent port talks to its server */
  if (vm->config.display.kind == VMM_DISPLAY_SPICE && !setup_display (vm, &env, error))
    return FALSE;

  /* A display brings the console device even when none was asked for, as
   * its port is how the guest agent (clipboard, monitor configuration)
   * reaches the server; port 0 has nothing behind it then. */
  if (vm->config.console_enabled || vm->spice != NULL)
    {
      struct vmm_console_config console = vm->config.console;
      gboolean has_agent_port = FALSE;

      if (!vm->config.console_enabled)
        console = (struct vmm_console_config) { .console.kind = VMM_CHARDEV_NONE };
      /* With a display, the SPICE guest agent's port, unless the
       * configuration names that port itself */
      for (unsigned i = 0; i < console.n_ports; i++)
        if (g_strcmp0 (console.ports[i].name, VMM_SPICE_AGENT_PORT) == 0)
          has_agent_port = TRUE;
      if (vm->spice != NULL && !has_agent_port && console.n_ports < G_N_ELEMENTS (console.ports))
        {
          console.ports[console.n_ports].name = VMM_SPICE_AGENT_PORT;
          console.ports[console.n_ports].backend = (struct vmm_chardev_spec) {
            .kind = VMM_CHARDEV_PEER, .peer = vmm_spice_agent_peer (vm->spice),
          };
          console.n_ports++;
        }
      vm->console = vmm_virtio_console_new (&env, &console, &local);
      if (!plug_virtio (vm, vm->console ? vmm_virtio_console_dev (vm->console) : NULL, &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("Cannot create the %s device: %s"),
                       "virtio-console", local->message);
          return FALSE;
        }
    }
  /* fw_cfg with direct kernel boot too, as QEMU has it: a guest (the
   * probe) can read what the firmware would */
  return setup_ahci (vm, error) && setup_fw_cfg (vm, error);
}

/* The tables the guest's OS reads: the same for direct kernel boot (we
 * write them) and firmware (it loads them from fw_cfg), but for where the
 * firmware put the PM block and ECAM and which legacy devices it has. */
static void
acpi_config (struct vmm_vm *vm, struct vmm_acpi_config *acpi)
{
  uint64_t high_end = VMM_HIGH_RAM_BASE;
  unsigned phys_bits = guest_phys_bits (vm->cpuid);
  bool firmware = vm->config.firmware != VMM_FIRMWARE_NONE;

  *acpi = (struct vmm_acpi_config) {
    .n_cpus = vm->config.cpus,
    .ecam_base = vm->ecam_on ? vm->ecam_base : VMM_PCI_ECAM_BASE,
    .ecam_start_bus = 0,
    .ecam_end_bus = VMM_PCI_ECAM_BUSES - 1,
    .mmio32_base = VMM_PCI_MMIO32_BASE,
    .mmio32_size = VMM_PCI_MMIO32_SIZE,
    .com1 = true,
    .rtc = true,
    /* With firmware, the PS/2 keyboard and mouse; for direct kernel boot
     * the OS need not probe them (input comes through virtio). */
    .i8042 = firmware,
    .pvpanic = true,
    .vga = vm->vga != NULL,
    .pm_base = vm->pm_on ? vm->pm_base : VMM_PORT_ACPI_PM_BASE,
  };
  if (vm->config.memory > VMM_PCI_HOLE_START)
    high_end += vm->config.memory - VMM_PCI_HOLE_START;
  acpi->mmio64_base = (high_end + VMM_PCI_MMIO64_ALIGN - 1) & ~(VMM_PCI_MMIO64_ALIGN - 1);
  acpi->mmio64_size = VMM_PCI_MMIO64_SIZE;
  if (phys_bits < 64 && acpi->mmio64_base + acpi->mmio64_size > (1ull << phys_bits))
    acpi->mmio64_size = 0;
}

static gboolean
setup_acpi (struct vmm_vm *vm, GError **error)
{
  struct vmm_acpi_config acpi;
  int ret;

  acpi_config (vm, &acpi);
  ret = vmm_acpi_build (&vm->mem, &acpi, &vm->rsdp_gpa);
  if (ret < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot build the ACPI tables: %s"),
                   g_strerror (-ret));
      return FALSE;
    }
  return TRUE;
}

/* With firmware: the tables as fw_cfg files, again whenever the firmware
 * moves what they describe (before the OS reads them). */
static int
update_acpi_fw_cfg (struct vmm_vm *vm)
{
  struct vmm_acpi_config acpi;
  int ret;

  if (vm->fw_cfg == NULL)
    return 0;
  acpi_config (vm, &acpi);
  ret = vmm_acpi_build_fw_cfg (vm->fw_cfg, &acpi);
  if (ret < 0)
    vmm_log_error ("cannot build the ACPI tables for the firmware: %s", strerror (-ret));
  return ret;
}

static gboolean
load_kernel (struct vmm_vm *vm, GError **error)
{
  g_autofree char *kernel = NULL;
  g_autofree char *initrd = NULL;
  gsize kernel_size = 0, initrd_size = 0;
  struct vmm_boot_params params = { 0 };
  g_autoptr(GError) local = NULL;

  if (!read_boot_file (vm->config.kernel_path, FALSE, &kernel, &kernel_size, error) ||
      (vm->config.initrd_path != NULL &&
       !read_boot_file (vm->config.initrd_path, TRUE, &initrd, &initrd_size, error)))
    return FALSE;

  params.kernel = kernel;
  params.kernel_size = kernel_size;
  params.initrd = initrd;
  params.initrd_size = initrd_size;
  params.cmdline = vm->config.cmdline;
  params.rsdp_gpa = vm->rsdp_gpa;
  if (!vmm_boot_load (&vm->mem, &params, &vm->boot, &local))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_BOOT, _("Cannot boot %s: %s"),
                   vm->config.kernel_path, local->message);
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
  unsigned i;
  int ret;

  vm->vcpus = calloc (vm->config.cpus, sizeof *vm->vcpus);
  if (vm->vcpus == NULL)
    {
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, g_strerror (ENOMEM));
      return FALSE;
    }
  for (i = 0; i < vm->config.cpus; i++)
    {
      struct vmm_vcpu *vcpu = &vm->vcpus[i];

      vcpu->vm = vm;
      ret = vmm_kvm_vcpu_create (&vcpu->kvm, vm->vm_fd, i, (size_t) vm->kvm.vcpu_mmap_size);
      if (ret < 0)
        goto fail;
      vm->n_vcpus = i + 1;
      ret = vmm_x86_vcpu_init (vm->kvm.fd, vcpu->kvm.fd, vm->cpuid, i, vm->config.cpus);
      if (ret < 0)
        goto fail;
      /* The application processors wait for the guest's INIT/SIPI (KVM puts
       * them in that state); only the boot processor gets registers. */
      /* With firmware, the boot processor starts at the reset vector, as
       * KVM made it. */
      if (i == 0 && vm->config.firmware == VMM_FIRMWARE_NONE &&
          (ret = vmm_x86_vcpu_set_boot_state (vcpu->kvm.fd, &vm->boot)) < 0)
        goto fail;
    }
  return TRUE;

fail:
  g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create virtual CPU %u: %s"), i,
               g_strerror (-ret));
  return FALSE;
}

/* The VGA window's writes held back in KVM's ring, as QEMU's VGA window
 * is: a firmware writing text costs an exit per character otherwise.
 * Without the ring every write exits, which is only slower. */
static void
setup_mmio_ring (struct vmm_vm *vm)
{
  struct vmm_kvm_vcpu *boot = &vm->vcpus[0].kvm;
  int ret = vmm_kvm_mmio_ring_map (&vm->mmio_ring, &vm->kvm, boot->run, boot->run_size);

  if (ret == 0)
    ret = vmm_kvm_mmio_ring_add_zone (&vm->mmio_ring, vm->vm_fd, VMM_VGA_WINDOW_BASE,
                                      VMM_VGA_WINDOW_SIZE);
  if (ret < 0)
    {
      vmm_log_debug ("VGA window writes are not coalesced: %s", strerror (-ret));
      vm->mmio_ring.ring = NULL;
    }
}

static void
ring_write (void *opaque, uint64_t addr, const void *data, uint32_t len)
{
  struct vmm_vm *vm = opaque;

  vmm_bus_write (&vm->mmio, addr, data, len);
}

unsigned
vmm_vm_flush_mmio_ring (struct vmm_vm *vm)
{
  return vmm_kvm_mmio_ring_drain (&vm->mmio_ring, ring_write, vm);
}

struct vmm_vm *
vmm_vm_create (const struct vmm_config *config, GError **error)
{
  struct vmm_vm *vm;
  int ret, n_gsi;

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (config->kernel_path != NULL || config->firmware != VMM_FIRMWARE_NONE,
                        NULL);

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

  /* The signals that stop the VM go to its signalfd (run.c); blocked
   * before any thread starts (the disks', the display server's), so that
   * none of those takes one and dies of it */
  if (config->handle_signals)
    {
      sigset_t set;

      sigemptyset (&set);
      sigaddset (&set, SIGINT);
      sigaddset (&set, SIGTERM);
      sigaddset (&set, SIGHUP);
      pthread_sigmask (SIG_BLOCK, &set, NULL);
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
  vm->memory_base_fd = -1;
  pthread_mutex_init (&vm->exit_lock, NULL);
  pthread_cond_init (&vm->exit_cond, NULL);
  pthread_mutex_init (&vm->pause_lock, NULL);
  pthread_cond_init (&vm->pause_cond, NULL);
  pthread_mutex_init (&vm->slots_lock, NULL);
  vmm_kvm_mmio_ring_init (&vm->mmio_ring);
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

  if (!setup_memory (vm, error) ||
      (config->firmware != VMM_FIRMWARE_NONE && !load_firmware (vm, error)) ||
      !setup_devices (vm, error))
    goto fail;
  /* Firmware builds its own tables in its own memory and loads the
   * kernel itself; direct kernel boot gets both from us. */
  if (config->firmware == VMM_FIRMWARE_NONE && (!setup_acpi (vm, error) || !load_kernel (vm, error)))
    goto fail;
  if (!setup_vcpus (vm, error))
    goto fail;
  if (vm->vga != NULL)
    setup_mmio_ring (vm);

  /* What the vCPUs' exits reach (run.c) */
  vm->dispatch = (struct vmm_dispatch) {
    .pio = &vm->pio, .mmio = &vm->mmio, .unhandled_rl = &vm->unhandled_rl,
    .opaque = vm, .power_off = on_power_off, .reset = on_reset, .stop = on_vcpu_stop,
    .log_registers = on_vcpu_log_registers,
  };
  return vm;

fail_errno:
  g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, _("Cannot create the virtual machine: %s"),
               g_strerror (-ret));
fail:
  vmm_vm_destroy (vm);
  return NULL;
}

void
vmm_vm_destroy (struct vmm_vm *vm)
{
  if (vm == NULL)
    return;
  vmm_loop_stop (&vm->loop);
  if (vm->memory_base_fd >= 0)
    close (vm->memory_base_fd);
  /* the ring is in vCPU 0's run area */
  vmm_kvm_mmio_ring_destroy (&vm->mmio_ring);
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    vmm_kvm_vcpu_destroy (&vm->vcpus[i].kvm);
  free (vm->vcpus);
  /* The display server first: it calls into the GPU and the input devices
   * from its thread until it stops; the devices' thread (the loop, which
   * calls its listeners) has stopped already. */
  if (vm->gpu != NULL)
    vmm_virtio_gpu_set_listener (vm->gpu, NULL);
  /* The console before the server: its agent port is the server's peer */
  vmm_virtio_console_free (vm->console);
  vm->console = NULL;
  vmm_spice_free (vm->spice);
  vmm_vga_free (vm->vga);
  vmm_virtio_gpu_free (vm->gpu);
  vmm_virtio_input_free (vm->keyboard);
  vmm_virtio_input_free (vm->tablet);
  vmm_virtio_input_free (vm->mouse);
  vmm_virtio_rng_free (vm->rng);
  /* the backend's thread calls the card: it goes first */
  vmm_net_backend_free (vm->net_backend);
  vmm_virtio_net_free (vm->net);
  if (vm->ahci != NULL)
    {
      int ret = vmm_ahci_free (vm->ahci);
      if (ret < 0)
        vmm_log_error ("cannot flush the SATA disks: %s", strerror (-ret));
    }
  vmm_fw_cfg_free (vm->fw_cfg);
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
  /* After the loop and the vCPUs: nothing reaches these devices any more. */
  if (vm->platform_ready)
    {
      vmm_serial_destroy (&vm->com1);
      vmm_rtc_destroy (&vm->rtc);
      vmm_i8042_destroy (&vm->i8042);
      vmm_acpi_pm_destroy (&vm->pm);
      vmm_q35_destroy (&vm->q35);
      vmm_debugcon_destroy (&vm->debugcon);
      vmm_pci_host_destroy (&vm->pci);
    }
  if (vm->serial_fd_owned)
    close (vm->serial_fd);
  if (vm->debugcon_file != NULL)
    fclose (vm->debugcon_file);
  if (vm->signal_fd >= 0)
    close (vm->signal_fd);
  vmm_irq_router_destroy (&vm->router);
  if (vm->vm_fd >= 0)
    close (vm->vm_fd);
  vmm_mem_free (&vm->mem);
  if (vm->firmware != NULL)
    munmap (vm->firmware, vm->firmware_size);
  vmm_pflash_free (vm->code_flash);
  vmm_pflash_free (vm->vars_flash);
  if (vm->temp_vars != NULL)
    unlink (vm->temp_vars);
  g_free (vm->temp_vars);
  free (vm->cpuid);
  vmm_kvm_close (&vm->kvm);
  vmm_bus_destroy (&vm->pio);
  vmm_bus_destroy (&vm->mmio);
  free (vm->exit_message);
  pthread_mutex_destroy (&vm->exit_lock);
  pthread_cond_destroy (&vm->exit_cond);
  pthread_mutex_destroy (&vm->pause_lock);
  pthread_cond_destroy (&vm->pause_cond);
  pthread_mutex_destroy (&vm->slots_lock);
  free (vm);
}
