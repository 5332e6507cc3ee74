/* fuzz-vm-state.c: a whole machine's saved state, loaded into its devices
 *
 * A snapshot's state.bin is read back from the machine's folder, where
 * anything may have happened to it. vmm_vm_load_state reads it twice: once
 * with apply false, where every device only checks its sections, then, when
 * all of them took it, with apply true. The machine must never be left
 * loaded half-way: a state every device accepted when checking must load
 * when applied. That is what this target hunts: it aborts when a device
 * refuses with apply true what it accepted with apply false, or refuses
 * anything without a message.
 *
 * The machine: the devices of a Q35 machine with everything (the PCI host,
 * Q35's chipset, COM1, the RTC, the i8042, ACPI PM, fw_cfg, OVMF's
 * variable flash, AHCI with a disk and two CD-ROM drives, virtio-rng,
 * -net, -console, -blk, -gpu, the three virtio-input devices and the VGA
 * display), built as their unit tests build them, without /dev/kvm, on one
 * PCI host over fake guest RAM (vmm-test.h). Left out: the "machine"
 * section (vm-snapshot.c's, which compares it with a struct vmm_vm) and
 * kvm/state.c's sections ("kvm.irqchip", "kvm.pit", "kvm.clock",
 * "vcpu.N"): their checks call KVM (KVM_GET_PIT, KVM_GET_MSRS,
 * KVM_CHECK_EXTENSION) and have no entry point that parses without a VM.
 *
 * Input: a state file (snapshot/state.h); its checksum is made right
 * before it is parsed, so the fuzzer gets past it (fuzz-snapshot-state.c
 * fuzzes the container itself). After an input that was applied, the
 * machine is put back as it was built, by loading that state again.
 *
 * VIVARIUM_FUZZ_TRACE=1 says on stderr which device refused each input.
 *
 * Seeds: fuzz-replay-vm-state --make-seeds DIR writes them (this
 * machine's state as built, and with every virtio driver set up); the
 * committed ones are in corpus/vm-state/.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "devices/ahci.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "display/vga.h"
#include "firmware/fw_cfg.h"
#include "firmware/pflash.h"
#include "firmware/q35.h"
#include "log.h"
#include "snapshot/state.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/device.h"
#include "virtio/gpu.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "viv-bytes.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

#define DISK_SIZE   VMM_MiB (1)
#define CD_SIZE     VMM_KiB (64)
#define FLASH_BLOCK 4096u
#define FLASH_SIZE  (4 * FLASH_BLOCK)

enum { RNG, NET, CONSOLE, BLK, GPU, KEYBOARD, TABLET, MOUSE, N_VIRTIO };

struct machine {
  struct vmm_test_virtio t;     /* RAM, the MMIO bus, the loop, the PCI host */
  struct vmm_virtio_env env;
  struct vmm_bus pio;
  struct vmm_test_irq irqs[4];
  uint8_t *isa_bios;
  struct vmm_q35 q35;
  struct vmm_serial com1;
  struct vmm_rtc rtc;
  struct vmm_i8042 i8042;
  struct vmm_acpi_pm pm;
  struct vmm_fw_cfg *fw_cfg;
  struct vmm_pflash *vars_flash;
  struct vmm_ahci *ahci;
  struct vmm_virtio_rng *rng;
  struct vmm_virtio_net *net;
  struct vmm_virtio_console *console;
  struct vmm_virtio_blk *disk;
  struct vmm_virtio_gpu *gpu;
  struct vmm_virtio_input *keyboard, *tablet, *mouse;
  struct vmm_vga *vga;
  struct vmm_virtio_dev *virtio[N_VIRTIO];
  int fds[4];                   /* the images' memfds */
  GBytes *built;                /* the state as built, to go back to */
  bool trace;                   /* VIVARIUM_FUZZ_TRACE: who refused an input, on stderr */
};

/* The virtio devices' sections, named as vm-snapshot.c's virtio_devices
 * names them (and in its order) */
static const char *const virtio_names[N_VIRTIO] = {
  "virtio-rng", "virtio-net", "virtio-console", "virtio-blk.0", "virtio-gpu",
  "virtio-input.keyboard", "virtio-input.tablet", "virtio-input.mouse",
};

static struct machine *machine;

/* ---- the callbacks: the VM's side, doing nothing -------------------------------------- */

static int
fake_map (void *opaque G_GNUC_UNUSED, uint64_t gpa G_GNUC_UNUSED, uint64_t size G_GNUC_UNUSED,
          void *host G_GNUC_UNUSED, bool readonly G_GNUC_UNUSED)
{
  return 1;
}

static void
fake_unmap (void *opaque G_GNUC_UNUSED, int handle G_GNUC_UNUSED)
{
}

static void
fake_move_ecam (void *opaque G_GNUC_UNUSED, uint64_t base G_GNUC_UNUSED,
                bool enabled G_GNUC_UNUSED)
{
}

static void
fake_move_pm (void *opaque G_GNUC_UNUSED, uint16_t port G_GNUC_UNUSED,
              bool enabled G_GNUC_UNUSED)
{
}

static void
fake_set_irq (void *opaque G_GNUC_UNUSED, unsigned gsi G_GNUC_UNUSED, bool level G_GNUC_UNUSED)
{
}

static void
fake_reset (void *opaque G_GNUC_UNUSED)
{
}

static void
fake_output (void *opaque G_GNUC_UNUSED, const uint8_t *data G_GNUC_UNUSED,
             size_t len G_GNUC_UNUSED)
{
}

static void
fake_leds (void *opaque G_GNUC_UNUSED, uint32_t leds G_GNUC_UNUSED)
{
}

static void
fake_ready (void *opaque G_GNUC_UNUSED)
{
}

/* The display reads what it is shown: every row of a surface, and the
 * cursor's image, so a sanitizer sees a restored buffer too small */
static volatile uint8_t shown;

static void
on_set_surface (void *data G_GNUC_UNUSED, const struct vmm_display_surface *surface)
{
  if (surface == NULL || surface->width == 0 || surface->height == 0)
    return;
  for (uint32_t y = 0; y < surface->height; y++)
    shown ^= surface->pixels[(size_t) y * surface->stride]
             ^ surface->pixels[(size_t) y * surface->stride + surface->width * 4 - 1];
}

static void
on_update (void *data, const struct vmm_display_surface *surface, uint32_t x G_GNUC_UNUSED,
           uint32_t y G_GNUC_UNUSED, uint32_t w G_GNUC_UNUSED, uint32_t h G_GNUC_UNUSED)
{
  on_set_surface (data, surface);
}

static void
on_set_cursor (void *data G_GNUC_UNUSED, const struct vmm_display_cursor *cursor,
               int32_t x G_GNUC_UNUSED, int32_t y G_GNUC_UNUSED)
{
  if (cursor != NULL && cursor->width > 0 && cursor->height > 0)
    shown ^= cursor->pixels[0] ^ cursor->pixels[cursor->width * cursor->height * 4 - 1];
}

static void
on_move_cursor (void *data G_GNUC_UNUSED, int32_t x G_GNUC_UNUSED, int32_t y G_GNUC_UNUSED)
{
}

static const struct vmm_display_listener listener = {
  on_set_surface, on_update, on_set_cursor, on_move_cursor, NULL,
};

static const struct vmm_q35_ops q35_ops = {
  .map = fake_map, .unmap = fake_unmap, .move_ecam = fake_move_ecam, .move_pm = fake_move_pm,
  .set_irq = fake_set_irq, .reset = fake_reset,
};

static const struct vmm_pflash_ops flash_ops = { .map = fake_map, .unmap = fake_unmap };

/* ---- the machine ---------------------------------------------------------------------- */

static void
check (bool ok, const char *what)
{
  if (!ok)
    {
      fprintf (stderr, "fuzz-vm-state: cannot build the machine: %s\n", what);
      abort ();
    }
}

static void
check_error (GError *error, const char *what)
{
  if (error != NULL)
    {
      fprintf (stderr, "fuzz-vm-state: cannot build the machine: %s: %s\n", what,
               error->message);
      abort ();
    }
}

/* An image of SIZE bytes in memory, opened through /proc as a file */
static char *
memfd_image (struct machine *m, unsigned i, size_t size, uint8_t seed)
{
  g_autofree uint8_t *buf = g_malloc (size);
  int fd = memfd_create ("fuzz-vm-state", MFD_CLOEXEC);

  check (fd >= 0, "memfd_create");
  for (size_t k = 0; k < size; k++)
    buf[k] = (uint8_t) (seed + k / 512);
  check (pwrite (fd, buf, size, 0) == (ssize_t) size, "pwrite");
  m->fds[i] = fd;
  return g_strdup_printf ("/proc/self/fd/%d", fd);
}

static struct vmm_block *
open_image (const char *path, bool read_only)
{
  struct vmm_block_open_opts opts = { .path = path, .format = VMM_BLOCK_FORMAT_RAW,
                                      .read_only = read_only };
  g_autoptr (GError) error = NULL;
  struct vmm_block *block = NULL;

  vmm_block_open (&block, &opts, &error);
  check_error (error, "an AHCI image");
  return block;
}

static void
plug (struct machine *m, unsigned i, struct vmm_virtio_dev *dev)
{
  m->virtio[i] = dev;
  vmm_test_virtio_plug (&m->t, dev);
}

static struct machine *
machine_new (void)
{
  const struct vmm_input_led_listener leds = { fake_leds, NULL };
  struct vmm_q35_config q35 = {
    .low_ram_end = VMM_MiB (16),
    .ecam_base = VMM_PCI_ECAM_BASE,
    .pm_base = VMM_PORT_ACPI_PM_BASE,
  };
  struct vmm_ahci_port_config ports[VMM_AHCI_PORTS] = { 0 };
  struct vmm_virtio_net_config net = {
    .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 },
    .rx_checksummed = true,
    .tx_ready = fake_ready,
    .rx_ready = fake_ready,
  };
  struct vmm_console_config console = {
    .console = { .kind = VMM_CHARDEV_NONE },
    .n_ports = 1,
    .ports = { { "org.test.port", { .kind = VMM_CHARDEV_NONE } } },
  };
  struct vmm_virtio_gpu_config gpu = { 1024, 768 };
  struct vmm_vga_config vga = { .vram_size = VMM_VGA_MIN_VRAM };   /* a smaller state */
  struct vmm_vga_env vga_env;
  struct vmm_ahci_env ahci_env;
  struct vmm_pflash_config flash = { .end = 0xffc00000ull, .block_size = FLASH_BLOCK };
  struct vmm_disk_spec disk = { .format = VMM_BLOCK_FORMAT_RAW,
                                .cache = VMM_DISK_CACHE_WRITEBACK, .serial = "fuzz" };
  g_autofree char *disk_path = NULL, *ahci_disk = NULL, *ahci_cd = NULL, *flash_path = NULL;
  g_autoptr (GError) error = NULL;
  struct machine *m = g_new0 (struct machine, 1);

  /* a state refused is logged; here that is most inputs */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));

  /* The platform, as vm.c sets it up */
  vmm_test_virtio_init (&m->t, &m->env);
  check (vmm_bus_init (&m->pio, "pio") == 0, "the port bus");
  vmm_serial_init (&m->com1, vmm_test_irq_line (&m->irqs[0], 4), fake_output, m);
  vmm_rtc_init (&m->rtc, VMM_MiB (16), 1);
  vmm_i8042_init (&m->i8042, vmm_test_irq_line (&m->irqs[1], VMM_I8042_KBD_IRQ),
                  vmm_test_irq_line (&m->irqs[2], VMM_I8042_AUX_IRQ), &leds, fake_reset, m);
  vmm_acpi_pm_init (&m->pm, vmm_test_irq_line (&m->irqs[3], 9), fake_reset, m);

  /* Q35 and the firmware's devices */
  m->isa_bios = g_malloc0 (VMM_ISA_BIOS_SIZE);
  q35.shadow_ram = vmm_test_ptr (&m->t.ram.mem, VMM_Q35_SHADOW_BASE,
                                 VMM_Q35_SHADOW_END - VMM_Q35_SHADOW_BASE);
  q35.isa_bios = m->isa_bios;
  check (vmm_q35_init (&m->q35, &m->t.pci.bridge, &q35, &q35_ops, m) == 0, "q35");
  check (vmm_pci_host_add_at (&m->t.pci, &m->q35.lpc, VMM_Q35_LPC_SLOT) == VMM_Q35_LPC_SLOT,
         "the LPC bridge");
  m->fw_cfg = vmm_fw_cfg_new (&m->t.ram.mem);
  flash_path = memfd_image (m, 0, FLASH_SIZE, 1);
  flash.path = flash_path;
  m->vars_flash = vmm_pflash_new (&flash, &flash_ops, m, &error);
  check_error (error, "pflash");

  /* SATA: a disk, a CD-ROM with a disc, an empty drive */
  ahci_disk = memfd_image (m, 1, DISK_SIZE, 2);
  ahci_cd = memfd_image (m, 2, CD_SIZE, 3);
  ports[0] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_DISK,
                                             .block = open_image (ahci_disk, false) };
  ports[1] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM,
                                             .block = open_image (ahci_cd, true) };
  ports[2] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM };
  ahci_env = (struct vmm_ahci_env) { .mem = &m->t.ram.mem, .mmio = &m->t.mmio,
                                     .router = &m->t.router, .vm_fd = -1,
                                     .intx = vmm_test_irq_line (&m->irqs[0], 10) };
  m->ahci = vmm_ahci_new (&ahci_env, ports, &error);
  check_error (error, "ahci");
  check (vmm_pci_host_add (&m->t.pci, vmm_ahci_pci_dev (m->ahci)) > 0, "ahci's slot");

  /* virtio */
  m->rng = vmm_virtio_rng_new (&m->env, &error);
  check_error (error, "virtio-rng");
  plug (m, RNG, vmm_virtio_rng_dev (m->rng));
  m->net = vmm_virtio_net_new (&m->env, &net, &error);
  check_error (error, "virtio-net");
  plug (m, NET, vmm_virtio_net_dev (m->net));
  m->console = vmm_virtio_console_new (&m->env, &console, &error);
  check_error (error, "virtio-console");
  plug (m, CONSOLE, vmm_virtio_console_dev (m->console));
  disk_path = memfd_image (m, 3, DISK_SIZE, 4);
  disk.path = disk_path;
  m->disk = vmm_virtio_blk_new (&m->env, &disk, 1, false, &error);
  check_error (error, "virtio-blk");
  plug (m, BLK, vmm_virtio_blk_dev (m->disk));
  m->gpu = vmm_virtio_gpu_new (&m->env, &gpu, &error);
  check_error (error, "virtio-gpu");
  vmm_virtio_gpu_set_listener (m->gpu, &listener);
  plug (m, GPU, vmm_virtio_gpu_dev (m->gpu));
  m->keyboard = vmm_virtio_input_new (&m->env, VMM_INPUT_KEYBOARD, &leds, &error);
  check_error (error, "the keyboard");
  plug (m, KEYBOARD, vmm_virtio_input_dev (m->keyboard));
  m->tablet = vmm_virtio_input_new (&m->env, VMM_INPUT_TABLET, NULL, &error);
  check_error (error, "the tablet");
  plug (m, TABLET, vmm_virtio_input_dev (m->tablet));
  m->mouse = vmm_virtio_input_new (&m->env, VMM_INPUT_MOUSE, NULL, &error);
  check_error (error, "the mouse");
  plug (m, MOUSE, vmm_virtio_input_dev (m->mouse));

  /* VGA, its LFB not mapped as RAM */
  vga_env = (struct vmm_vga_env) { .loop = &m->t.loop, .mmio = &m->t.mmio };
  m->vga = vmm_vga_new (&vga, &vga_env, &error);
  check_error (error, "vga");
  check (vmm_pci_host_add (&m->t.pci, vmm_vga_pci_dev (m->vga)) > 0, "vga's slot");
  vmm_vga_set_listener (m->vga, &listener);
  return m;
}

static void
machine_free (void)
{
  struct machine *m = machine;

  if (m == NULL)
    return;
  machine = NULL;
  vmm_test_virtio_stop (&m->t);
  vmm_vga_free (m->vga);
  vmm_virtio_input_free (m->mouse);
  vmm_virtio_input_free (m->tablet);
  vmm_virtio_input_free (m->keyboard);
  vmm_virtio_gpu_free (m->gpu);
  vmm_virtio_blk_free (m->disk);
  vmm_virtio_console_free (m->console);
  vmm_virtio_net_free (m->net);
  vmm_virtio_rng_free (m->rng);
  vmm_ahci_free (m->ahci);
  vmm_pflash_free (m->vars_flash);
  vmm_fw_cfg_free (m->fw_cfg);
  vmm_q35_destroy (&m->q35);
  vmm_acpi_pm_destroy (&m->pm);
  vmm_i8042_destroy (&m->i8042);
  vmm_rtc_destroy (&m->rtc);
  vmm_serial_destroy (&m->com1);
  vmm_bus_destroy (&m->pio);
  vmm_test_virtio_clear (&m->t);
  g_free (m->isa_bios);
  g_clear_pointer (&m->built, g_bytes_unref);
  for (unsigned i = 0; i < G_N_ELEMENTS (m->fds); i++)
    close (m->fds[i]);
  g_free (m);
}

/* The machine's state, as vmm_vm_save_state writes it (but for the
 * sections left out, see the top) */
static GBytes *
machine_save (struct machine *m)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_pci_host_save (&m->t.pci, w, "pci");
  vmm_q35_save (&m->q35, w, "q35");
  vmm_serial_save (&m->com1, w, "serial.0");
  vmm_rtc_save (&m->rtc, w, "rtc");
  vmm_i8042_save (&m->i8042, w, "i8042");
  vmm_acpi_pm_save (&m->pm, w, "acpi-pm");
  vmm_fw_cfg_save (m->fw_cfg, w, "fw-cfg");
  vmm_pflash_save (m->vars_flash, w, "pflash.vars");
  check (vmm_ahci_save (m->ahci, w, "ahci") == 0, "ahci's save");
  for (unsigned i = 0; i < N_VIRTIO; i++)
    vmm_virtio_save (m->virtio[i], w, virtio_names[i]);
  vmm_vga_save (m->vga, w, "vga");
  return vmm_test_state_finish (w);
}

/* Loads F into every device, in vmm_vm_load_state's order (vm-snapshot.c:
 * the PCI functions first, the platform, the firmware's devices, AHCI, the
 * virtio devices in virtio_devices' order, VGA; then KVM's sections and
 * the vCPUs', left out here). Returns the first refusal's loader, or NULL
 * when every device took it. */
static const char *
machine_load (struct machine *m, const struct vmm_state_file *f, bool apply, GError **error)
{
  if (!vmm_pci_host_load (&m->t.pci, f, "pci", apply, error))
    return "pci";
  if (!vmm_q35_load (&m->q35, f, "q35", apply, error))
    return "q35";
  if (!vmm_serial_load (&m->com1, f, "serial.0", apply, error))
    return "serial.0";
  if (!vmm_rtc_load (&m->rtc, f, "rtc", apply, error))
    return "rtc";
  if (!vmm_i8042_load (&m->i8042, f, "i8042", apply, error))
    return "i8042";
  if (!vmm_acpi_pm_load (&m->pm, f, "acpi-pm", apply, error))
    return "acpi-pm";
  if (!vmm_fw_cfg_load (m->fw_cfg, f, "fw-cfg", apply, error))
    return "fw-cfg";
  if (!vmm_pflash_load (m->vars_flash, f, "pflash.vars", apply, error))
    return "pflash.vars";
  if (!vmm_ahci_load (m->ahci, f, "ahci", apply, error))
    return "ahci";
  for (unsigned i = 0; i < N_VIRTIO; i++)
    if (!vmm_virtio_load (m->virtio[i], f, virtio_names[i], apply, error))
      return virtio_names[i];
  if (!vmm_vga_load (m->vga, f, "vga", apply, error))
    return "vga";
  return NULL;
}

/* Loads BYTES, which must load */
static void
machine_restore (struct machine *m, GBytes *bytes, const char *what)
{
  g_autoptr (GError) error = NULL;
  struct vmm_state_file *f;
  gsize len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);
  const char *refused;

  f = vmm_state_file_parse (data, len, &error);
  check_error (error, what);
  refused = machine_load (m, f, true, &error);
  if (refused != NULL)
    {
      fprintf (stderr, "fuzz-vm-state: %s: %s refused it: %s\n", what, refused,
               error != NULL ? error->message : "(no message)");
      abort ();
    }
  vmm_state_file_free (f);
}

/* ---- seeds ------------------------------------------------------------------------------ */

static void
write_seed (const char *dir, const char *name, GBytes *bytes)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!g_file_set_contents (path, data, (gssize) len, &error))
    {
      fprintf (stderr, "fuzz-vm-state: %s\n", error->message);
      exit (1);
    }
  printf ("%s: %zu bytes\n", path, (size_t) len);
}

/* The machine as built, then with a driver on every virtio device (all
 * the features it offers, every queue), AHCI's ports started and COM1
 * and the RTC touched */
static void
make_seeds (const char *dir)
{
  struct machine *m = machine;
  g_autoptr (GBytes) running = NULL;

  write_seed (dir, "built.bin", m->built);

  for (unsigned i = 0; i < N_VIRTIO; i++)
    {
      struct vmm_virtio_dev *dev = m->virtio[i];

      m->t.dev = dev;
      m->t.bar = dev->bar_addr;
      check (vmm_test_virtio_setup (&m->t, vmm_test_virtio_device_features (&m->t),
                                    dev->ops->num_queues, 64) & VIRTIO_STATUS_DRIVER_OK,
             "a virtio driver");
    }
  /* COM1: 8N1 at 115200 with the FIFO and its interrupts on */
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 3, 1, 0x83);
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 0, 1, 0x01);
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 3, 1, 0x03);
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 2, 1, 0xc7);
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 1, 1, 0x03);
  vmm_test_dev_out (&vmm_serial_ops, &m->com1, 7, 1, 0x5a);
  running = machine_save (m);
  write_seed (dir, "running.bin", running);
}

/* ---- the target ----------------------------------------------------------------------- */

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  machine = machine_new ();
  machine->built = machine_save (machine);
  machine->trace = g_getenv ("VIVARIUM_FUZZ_TRACE") != NULL;
  atexit (machine_free);
  for (int i = 1; i + 1 < *argc; i++)
    if (strcmp ((*argv)[i], "--make-seeds") == 0)
      {
        make_seeds ((*argv)[i + 1]);
        exit (0);
      }
  return 0;
}

static void
refused (GError *error)
{
  if (error == NULL || error->message == NULL || error->message[0] == '\0')
    {
      fprintf (stderr, "fuzz-vm-state: a state refused without a message\n");
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *copy = NULL;
  struct vmm_state_file *f;
  const char *who;

  if (machine == NULL)
    LLVMFuzzerInitialize (&(int) { 0 }, &(char **) { NULL });
  if (size < 4)
    return 0;
  /* a copy of its own size, so a sanitizer sees any read past the end */
  copy = g_memdup2 (data, size);
  viv_put_le32 (copy + size - 4, (uint32_t) crc32_z (0, copy, size - 4));
  f = vmm_state_file_parse (copy, size, &error);
  if (f == NULL)
    {
      refused (error);
      if (machine->trace)
        fprintf (stderr, "fuzz-vm-state: not a state file: %s\n", error->message);
      return 0;
    }

  /* Checked, every device: nothing changes */
  who = machine_load (machine, f, false, &error);
  if (who != NULL)
    {
      refused (error);
      if (machine->trace)
        fprintf (stderr, "fuzz-vm-state: %s refused it: %s\n", who, error->message);
      vmm_state_file_free (f);
      return 0;
    }

  /* Taken by all: then it must load */
  who = machine_load (machine, f, true, &error);
  if (who != NULL)
    {
      fprintf (stderr, "fuzz-vm-state: loaded half-way: %s took the state when checking, "
               "then refused it: %s\n", who, error != NULL ? error->message : "(no message)");
      abort ();
    }
  if (machine->trace)
    fprintf (stderr, "fuzz-vm-state: every device took it and loaded it\n");
  vmm_state_file_free (f);
  machine_restore (machine, machine->built, "the state as built");
  return 0;
}
