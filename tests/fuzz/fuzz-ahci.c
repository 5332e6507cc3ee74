/* fuzz-ahci.c: the AHCI controller driven through its registers
 *
 * The controller as it runs in a VM: its thread, a disk on port 0 and a
 * CD-ROM with a disc on port 1 (raw images in memory: memfds), an empty
 * CD-ROM drive on port 2, over fake guest RAM, with KVM faked
 * (vmm-test-virtio.c). The input is the guest: register writes (ports'
 * list and FIS addresses, CMD, SCTL, IE, SACT, CI, the HBA's GHC and IS),
 * PCI config writes (COMMAND, MSI), what it puts in RAM (command lists,
 * FISes, ATAPI packets, PRD tables), and the host's tray.
 *
 * Each input does bounded work and leaves nothing behind: a wait is for
 * every issued slot to be retired, at most WAIT_MS (longer is a finding: a
 * command lost); the controller is reset at the end (vmm_ahci_reset waits
 * for the command running) and RAM goes back to zeroes.
 *
 * Input: n_ops u8, N ops of 8 bytes, then RAM from address 0 (at most
 * IMAGE_MAX bytes).
 *
 *   op: kind u8, a u8, b u16, c u32 (little-endian)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "devices/ahci.h"
#include "log.h"
#include "viv-bytes.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define OP_LEN       8u
#define RAM_SIZE     0x100000u      /* 1 MiB */
#define IMAGE_MAX    0x40000u       /* RAM the input can fill: 256 KiB */
#define DISK_SIZE    (256u * 1024u)
#define CD_SIZE      (64u * 2048u)
#define WAIT_MS      5000u

enum { OP_WRITE, OP_READ, OP_ISSUE, OP_WAIT, OP_POKE, OP_CONFIG, OP_TRAY, OP_RESET, N_OPS };

struct fuzz {
  struct vmm_test_ram ram;
  struct vmm_bus mmio;
  struct vmm_irq_router router;
  struct vmm_pci_host pci;
  struct vmm_test_irq irq;
  struct vmm_ahci *ahci;
  unsigned slot;
  uint64_t abar;
  int disk_fd, cd_fd;
  char cd_path[64];
  bool trace;                   /* VIVARIUM_FUZZ_TRACE: what each op did, on stderr */
};

static struct fuzz *fz;

static int
memfd_image (const char *name, size_t size, uint8_t seed)
{
  g_autofree uint8_t *buf = g_malloc (size);
  int fd = memfd_create (name, MFD_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  for (size_t i = 0; i < size; i++)
    buf[i] = (uint8_t) (seed + i / 512);
  g_assert_cmpint (pwrite (fd, buf, size, 0), ==, (ssize_t) size);
  return fd;
}

static struct vmm_block *
open_path (const char *path, bool read_only)
{
  struct vmm_block_open_opts opts = { .path = path, .format = VMM_BLOCK_FORMAT_RAW,
                                      .read_only = read_only };
  g_autoptr (GError) error = NULL;
  struct vmm_block *block = NULL;

  g_assert_cmpint (vmm_block_open (&block, &opts, &error), ==, 0);
  return block;
}

static void
cleanup (void)
{
  if (fz == NULL)
    return;
  vmm_ahci_free (fz->ahci);
  vmm_pci_host_destroy (&fz->pci);
  vmm_bus_destroy (&fz->mmio);
  vmm_test_ram_free (&fz->ram);
  close (fz->disk_fd);
  close (fz->cd_fd);
}

static struct fuzz *
fuzz_new (void)
{
  g_autoptr (GError) error = NULL;
  struct vmm_ahci_port_config ports[VMM_AHCI_PORTS] = { 0 };
  struct vmm_ahci_env env = { 0 };
  struct fuzz *f = calloc (1, sizeof *f);
  char disk_path[64];
  int slot;

  /* guests that get things wrong are logged; here that is every input */
  vmm_log_set_fd (open ("/dev/null", O_WRONLY | O_CLOEXEC));
  f->disk_fd = memfd_image ("fuzz-ahci-disk", DISK_SIZE, 1);
  f->cd_fd = memfd_image ("fuzz-ahci-cd", CD_SIZE, 100);
  g_snprintf (disk_path, sizeof disk_path, "/proc/self/fd/%d", f->disk_fd);
  g_snprintf (f->cd_path, sizeof f->cd_path, "/proc/self/fd/%d", f->cd_fd);

  vmm_test_ram_add (&f->ram, 0, RAM_SIZE);
  g_assert_cmpint (vmm_bus_init (&f->mmio, "mmio"), ==, 0);
  f->router.vm_fd = -1;
  vmm_pci_host_init (&f->pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  ports[0] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_DISK,
                                             .block = open_path (disk_path, false) };
  ports[1] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM,
                                             .block = open_path (f->cd_path, true) };
  ports[2] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM };
  env = (struct vmm_ahci_env) { .mem = &f->ram.mem, .mmio = &f->mmio, .router = &f->router,
                                .vm_fd = -1, .intx = vmm_test_irq_line (&f->irq, 10) };
  f->ahci = vmm_ahci_new (&env, ports, &error);
  g_assert_no_error (error);
  slot = vmm_pci_host_add (&f->pci, vmm_ahci_pci_dev (f->ahci));
  g_assert_cmpint (slot, >, 0);
  f->slot = (unsigned) slot;
  f->abar = vmm_ahci_pci_dev (f->ahci)->bars[5].addr;
  f->trace = g_getenv ("VIVARIUM_FUZZ_TRACE") != NULL;
  atexit (cleanup);
  return f;
}

static uint32_t
rd (struct fuzz *f, uint64_t off)
{
  return (uint32_t) vmm_test_bus_in (&f->mmio, f->abar + off, 4);
}

/* Whether every slot issued was retired */
static bool
all_retired (void *data)
{
  struct fuzz *f = data;

  for (unsigned p = 0; p < VMM_AHCI_PORTS; p++)
    if (rd (f, 0x100 + p * 0x80 + 0x38) != 0)
      return false;
  return true;
}

static void
wait_retired (struct fuzz *f)
{
  if (!vmm_test_wait_until (all_retired, f, WAIT_MS))
    {
      fprintf (stderr, "slots issued were not retired in %u ms\n", WAIT_MS);
      abort ();
    }
}

static void
run_op (struct fuzz *f, const uint8_t *op)
{
  uint8_t a = op[1];
  uint16_t b = viv_get_le16 (op + 2);
  uint32_t c = viv_get_le32 (op + 4);
  static const uint32_t widths[] = { 1, 2, 4, 8 };

  switch (op[0] % N_OPS)
    {
    case OP_WRITE:
      /* the HBA's and the ports' registers, whole dwords as drivers write */
      vmm_test_bus_out (&f->mmio, f->abar + (b % 0x400 & ~3u), a & 1 ? 8 : 4,
                        a & 1 ? (uint64_t) c << 32 | c : c);
      break;
    case OP_READ:
      vmm_test_bus_in (&f->mmio, f->abar + b % 0x1000, widths[a % 4]);
      break;
    case OP_ISSUE:
      /* a port's engine on with its lists at fixed places, then slots */
      {
        uint64_t port = 0x100 + (a % VMM_AHCI_PORTS) * 0x80;

        vmm_test_bus_out (&f->mmio, f->abar + port + 0x00, 4, (b & 0xff) << 10);
        vmm_test_bus_out (&f->mmio, f->abar + port + 0x08, 4, 0x80000 + ((b >> 8) << 8));
        vmm_test_bus_out (&f->mmio, f->abar + port + 0x18, 4, 0x11);
        if (a & 0x80)
          vmm_test_bus_out (&f->mmio, f->abar + port + 0x34, 4, c);
        vmm_test_bus_out (&f->mmio, f->abar + port + 0x38, 4, c);
        wait_retired (f);
      }
      break;
    case OP_WAIT:
      wait_retired (f);
      break;
    case OP_POKE:
      /* the guest, meanwhile, on another vCPU */
      vmm_test_put32 (&f->ram.mem, c % (IMAGE_MAX - 3), (uint32_t) b << 16 | a);
      break;
    case OP_CONFIG:
      /* COMMAND (memory decode stays on: the BAR stays where the ops
       * reach it) and the MSI capability, at 0x40 */
      if (a & 1)
        vmm_test_dev_out (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 | PCI_COMMAND,
                          2, b | PCI_COMMAND_MEMORY);
      else
        vmm_test_dev_out (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 |
                          (0x40u + (a & 0x0e)), 2, b);
      break;
    case OP_TRAY:
      if (a & 1)
        {
          struct vmm_block *disc = open_path (f->cd_path, true);

          if (vmm_ahci_insert_medium (f->ahci, 1 + b % 2, disc) < 0)
            vmm_block_close (disc);
        }
      else
        vmm_ahci_eject_medium (f->ahci, 1 + b % 2, a & 2);
      break;
    case OP_RESET:
      vmm_ahci_reset (f->ahci);
      break;
    }
  if (f->trace)
    {
      fprintf (stderr, "op %u: IS %#x", op[0] % N_OPS, rd (f, 0x08));
      for (unsigned p = 0; p < 3; p++)
        fprintf (stderr, "; port %u: IS %#x TFD %#x CI %#x SACT %#x", p,
                 rd (f, 0x100 + p * 0x80 + 0x10), rd (f, 0x100 + p * 0x80 + 0x20),
                 rd (f, 0x100 + p * 0x80 + 0x38), rd (f, 0x100 + p * 0x80 + 0x34));
      fprintf (stderr, "; INTx %d\n", f->irq.level);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vmm_mem_region *ram;
  struct fuzz *f;
  size_t n_ops, image;

  if (size < 1)
    return 0;
  if (fz == NULL)
    fz = fuzz_new ();
  f = fz;
  ram = &f->ram.mem.regions[0];

  n_ops = MIN (data[0], (size - 1) / OP_LEN);
  image = MIN (size - 1 - n_ops * OP_LEN, IMAGE_MAX);
  memcpy (ram->host, data + 1 + n_ops * OP_LEN, image);

  for (size_t i = 0; i < n_ops; i++)
    run_op (f, data + 1 + i * OP_LEN);

  /* Nothing left for the next input: the reset waits for the command
   * running, the disc goes back in, PCI config back to the start, and
   * RAM reads as zeroes again. */
  vmm_ahci_reset (f->ahci);
  {
    struct vmm_block *disc = open_path (f->cd_path, true);

    if (vmm_ahci_insert_medium (f->ahci, 1, disc) < 0)
      vmm_block_close (disc);
  }
  vmm_ahci_eject_medium (f->ahci, 2, true);
  vmm_test_dev_out (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 | PCI_COMMAND, 2,
                    PCI_COMMAND_MEMORY);
  vmm_test_dev_out (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 | 0x42, 2, 0);
  memset (ram->host, 0, RAM_SIZE);
  return 0;
}
