/* test-ahci.c: the AHCI controller, driven as an AHCI driver drives it
 *
 * The controller sits on a real PCI host and MMIO bus over fake guest RAM,
 * with KVM's irqfd and GSI routing faked (vmm-test.h), a raw disk image
 * and an ISO-sized raw image whose 2 KiB sectors hold known bytes. The test
 * lays out command lists, tables and PRDs in RAM, writes PxCI, waits for
 * the controller's thread to retire the slot, and checks what a driver
 * looks at: PxTFD, PxIS, the received FISes, PRDBC, the data and the
 * image files.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "arch/x86/layout.h"
#include "devices/ahci.h"
#include "viv-bytes.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define RAM_SIZE       VMM_MiB (16)
#define DISK_SECTORS   4096u           /* 2 MiB */
#define CD_SECTORS     600u            /* 1.2 MiB of 2048-byte sectors */
#define TIMEOUT_MS     10000u

#define DISK_PORT      0
#define CD_PORT        1
#define EMPTY_PORT     2               /* a CD-ROM drive with an empty tray */
#define NONE_PORT      3

/* Guest RAM layout */
#define CLB(p)         (0x10000u + (p) * 0x1000u)
#define FB(p)          (0x20000u + (p) * 0x1000u)
#define TABLE(p, s)    (0x100000u + ((p) * 32u + (s)) * 0x1000u)
#define DATA           0x400000u

/* Registers */
#define CAP 0x00
#define GHC 0x04
#define IS  0x08
#define PI  0x0c
#define VS  0x10
#define PX(p, r)       (0x100u + (p) * 0x80u + (r))
#define PX_CLB  0x00
#define PX_CLBU 0x04
#define PX_FB   0x08
#define PX_FBU  0x0c
#define PX_IS   0x10
#define PX_IE   0x14
#define PX_CMD  0x18
#define PX_TFD  0x20
#define PX_SIG  0x24
#define PX_SSTS 0x28
#define PX_SCTL 0x2c
#define PX_SERR 0x30
#define PX_SACT 0x34
#define PX_CI   0x38

#define IS_DHRS  (1u << 0)
#define IS_PSS   (1u << 1)
#define IS_SDBS  (1u << 3)
#define IS_TFES  (1u << 30)

struct fx {
  struct vmm_test_ram ram;
  struct vmm_bus mmio;
  struct vmm_irq_router router;
  struct vmm_pci_host pci;
  struct vmm_test_irq irq;
  struct vmm_ahci *ahci;
  unsigned slot;                /* PCI slot */
  uint64_t abar;
  char *dir, *disk, *iso;
  int log_fd;
  unsigned ejects;              /* the eject callback's calls */
  unsigned eject_port;
};

struct prd {
  uint64_t gpa;
  uint32_t len;
};

static uint8_t
disk_pattern (uint64_t offset)
{
  return (uint8_t) (offset * 13 + offset / 512);
}

/* Sector N of the disc starts with N (big-endian), then N + i */
static uint8_t
cd_pattern (uint64_t offset)
{
  uint64_t n = offset / 2048, i = offset % 2048;

  if (i < 4)
    return (uint8_t) (n >> (8 * (3 - i)));
  return (uint8_t) (n + i);
}

static struct vmm_block *
open_image (const char *path, bool read_only)
{
  struct vmm_block_open_opts opts = { .path = path, .format = VMM_BLOCK_FORMAT_RAW,
                                      .read_only = read_only };
  g_autoptr (GError) error = NULL;
  struct vmm_block *block = NULL;

  g_assert_cmpint (vmm_block_open (&block, &opts, &error), ==, 0);
  g_assert_no_error (error);
  return block;
}

static uint32_t
rd (struct fx *f, uint64_t off)
{
  return (uint32_t) vmm_test_bus_in (&f->mmio, f->abar + off, 4);
}

static void
wr (struct fx *f, uint64_t off, uint32_t v)
{
  vmm_test_bus_out (&f->mmio, f->abar + off, 4, v);
}

static uint64_t
cfg_in (struct fx *f, unsigned reg, unsigned len)
{
  return vmm_test_dev_in (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 | reg, len);
}

static void
cfg_out (struct fx *f, unsigned reg, unsigned len, uint64_t v)
{
  vmm_test_dev_out (&vmm_pci_ecam_ops, &f->pci, (uint64_t) f->slot << 15 | reg, len, v);
}

static void
on_eject (struct vmm_ahci *ahci, unsigned port, void *data)
{
  struct fx *f = data;

  (void) ahci;
  f->ejects++;
  f->eject_port = port;
}

static void
fx_init (struct fx *f, bool disk_read_only)
{
  g_autofree uint8_t *image = g_malloc (MAX (CD_SECTORS * 2048, DISK_SECTORS * 512));
  g_autoptr (GError) error = NULL;
  struct vmm_ahci_port_config ports[VMM_AHCI_PORTS] = { 0 };
  struct vmm_ahci_env env = { 0 };
  int slot;

  memset (f, 0, sizeof *f);
  f->dir = vmm_test_make_dir ("test-ahci-XXXXXX");
  f->disk = g_build_filename (f->dir, "disk.raw", NULL);
  f->iso = g_build_filename (f->dir, "disc.iso", NULL);
  for (uint64_t i = 0; i < DISK_SECTORS * 512; i++)
    image[i] = disk_pattern (i);
  g_file_set_contents (f->disk, (const char *) image, DISK_SECTORS * 512, &error);
  g_assert_no_error (error);
  for (uint64_t i = 0; i < CD_SECTORS * 2048; i++)
    image[i] = cd_pattern (i);
  g_file_set_contents (f->iso, (const char *) image, CD_SECTORS * 2048, &error);
  g_assert_no_error (error);
  f->log_fd = vmm_test_log_capture ();

  vmm_test_ram_add (&f->ram, 0, RAM_SIZE);
  g_assert_cmpint (vmm_bus_init (&f->mmio, "mmio"), ==, 0);
  f->router.vm_fd = -1;
  vmm_pci_host_init (&f->pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  ports[DISK_PORT] = (struct vmm_ahci_port_config) {
    VMM_AHCI_DISK, open_image (f->disk, disk_read_only), "Test Disk", "SERIAL42" };
  ports[CD_PORT] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM,
                                                   .block = open_image (f->iso, true) };
  ports[EMPTY_PORT] = (struct vmm_ahci_port_config) { .kind = VMM_AHCI_CDROM };
  env = (struct vmm_ahci_env) {
    .mem = &f->ram.mem,
    .mmio = &f->mmio,
    .router = &f->router,
    .vm_fd = -1,
    .intx = vmm_test_irq_line (&f->irq, 10),
  };
  f->ahci = vmm_ahci_new (&env, ports, &error);
  g_assert_no_error (error);
  vmm_ahci_set_eject_fn (f->ahci, on_eject, f);
  slot = vmm_pci_host_add (&f->pci, vmm_ahci_pci_dev (f->ahci));
  g_assert_cmpint (slot, >, 0);
  f->slot = (unsigned) slot;
  f->abar = vmm_ahci_pci_dev (f->ahci)->bars[5].addr;
  g_assert_cmpuint (f->abar, !=, 0);
  cfg_out (f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void
fx_clear (struct fx *f)
{
  g_assert_cmpint (vmm_ahci_free (f->ahci), ==, 0);
  vmm_pci_host_destroy (&f->pci);
  vmm_bus_destroy (&f->mmio);
  vmm_test_ram_free (&f->ram);
  vmm_test_log_release (f->log_fd);
  vmm_test_remove_dir (f->dir);
  g_free (f->dir);
  g_free (f->disk);
  g_free (f->iso);
}

/* The driver's port bring-up: lists in RAM, FIS receive, then the engine */
static void
port_start (struct fx *f, unsigned p)
{
  wr (f, PX (p, PX_CLB), CLB (p));
  wr (f, PX (p, PX_CLBU), 0);
  wr (f, PX (p, PX_FB), FB (p));
  wr (f, PX (p, PX_FBU), 0);
  wr (f, PX (p, PX_CMD), rd (f, PX (p, PX_CMD)) | (1u << 4));
  g_assert_cmphex (rd (f, PX (p, PX_CMD)) & (1u << 14), !=, 0);   /* FR */
  wr (f, PX (p, PX_SERR), 0xffffffffu);
  wr (f, PX (p, PX_IS), 0xffffffffu);
  wr (f, PX (p, PX_CMD), rd (f, PX (p, PX_CMD)) | 1u);
  g_assert_cmphex (rd (f, PX (p, PX_CMD)) & (1u << 15), !=, 0);   /* CR */
}

static void
fis_h2d (uint8_t *fis, uint8_t command, uint64_t lba, uint16_t count)
{
  memset (fis, 0, 20);
  fis[0] = 0x27;
  fis[1] = 0x80;
  fis[2] = command;
  fis[4] = (uint8_t) lba;
  fis[5] = (uint8_t) (lba >> 8);
  fis[6] = (uint8_t) (lba >> 16);
  fis[7] = 0x40;
  fis[8] = (uint8_t) (lba >> 24);
  fis[9] = (uint8_t) (lba >> 32);
  fis[10] = (uint8_t) (lba >> 40);
  fis[12] = (uint8_t) count;
  fis[13] = (uint8_t) (count >> 8);
}

/* Writes slot S's header and table: CFIS, the packet (or NULL), N PRDs;
 * FLAGS adds the header's W (1 << 6) or A (1 << 5) bits. */
static void
prepare (struct fx *f, unsigned p, unsigned s, const uint8_t *cfis, const uint8_t *packet,
         const struct prd *prds, unsigned n, uint32_t flags)
{
  const struct vmm_mem *mem = &f->ram.mem;
  uint64_t hdr = CLB (p) + s * 32u, t = TABLE (p, s);

  vmm_test_put32 (mem, hdr, 5 | flags | n << 16);
  vmm_test_put32 (mem, hdr + 4, 0xdeadbeef);   /* PRDBC: the controller's to write */
  vmm_test_put64 (mem, hdr + 8, t);
  memset (vmm_test_ptr (mem, t, 0x80), 0, 0x80);
  memcpy (vmm_test_ptr (mem, t, 20), cfis, 20);
  if (packet != NULL)
    memcpy (vmm_test_ptr (mem, t + 0x40, 12), packet, 12);
  for (unsigned i = 0; i < n; i++)
    {
      vmm_test_put64 (mem, t + 0x80 + 16 * i, prds[i].gpa);
      vmm_test_put32 (mem, t + 0x88 + 16 * i, 0);
      vmm_test_put32 (mem, t + 0x8c + 16 * i, prds[i].len - 1);
    }
}

struct wait_ci {
  struct fx *f;
  unsigned p;
  uint32_t mask;
  unsigned reg;
};

static bool
slots_done (void *data)
{
  struct wait_ci *w = data;

  return (rd (w->f, PX (w->p, w->reg)) & w->mask) == 0;
}

/* Waits until the bits MASK of PxCI (or REG) are clear. */
static void
wait_clear (struct fx *f, unsigned p, unsigned reg, uint32_t mask)
{
  struct wait_ci w = { f, p, mask, reg };

  g_assert_true (vmm_test_wait_until (slots_done, &w, TIMEOUT_MS));
}

/* Issues slot S and waits for it; returns PxIS (then cleared, and the
 * HBA's IS). */
static uint32_t
issue (struct fx *f, unsigned p, unsigned s)
{
  uint32_t is;

  wr (f, PX (p, PX_CI), 1u << s);
  wait_clear (f, p, PX_CI, 1u << s);
  is = rd (f, PX (p, PX_IS));
  wr (f, PX (p, PX_IS), is);
  wr (f, IS, 1u << p);
  return is;
}

static uint32_t
run (struct fx *f, unsigned p, unsigned s, const uint8_t *cfis, const uint8_t *packet,
     const struct prd *prds, unsigned n, uint32_t flags)
{
  prepare (f, p, s, cfis, packet, prds, n, flags);
  return issue (f, p, s);
}

static uint32_t
prdbc (struct fx *f, unsigned p, unsigned s)
{
  return vmm_test_get32 (&f->ram.mem, CLB (p) + s * 32u + 4);
}

/* ---- the HBA ------------------------------------------------------------------------ */

static void
test_pci (void)
{
  struct fx f;
  uint32_t cap;

  fx_init (&f, false);
  g_assert_cmphex (cfg_in (&f, PCI_VENDOR_ID, 2), ==, 0x8086);
  g_assert_cmphex (cfg_in (&f, PCI_DEVICE_ID, 2), ==, 0x2922);
  g_assert_cmphex (cfg_in (&f, PCI_CLASS_PROG, 1), ==, 0x01);
  g_assert_cmphex (cfg_in (&f, PCI_CLASS_PROG + 1, 2), ==, 0x0106);
  g_assert_cmphex (cfg_in (&f, PCI_INTERRUPT_PIN, 1), ==, 1);
  cfg_out (&f, PCI_INTERRUPT_LINE, 1, 11);
  g_assert_cmphex (cfg_in (&f, PCI_INTERRUPT_LINE, 1), ==, 11);
  g_assert_cmphex (cfg_in (&f, PCI_BAR0 + 4 * 5, 4), ==, f.abar);
  /* BAR 5 sizes as 4 KiB */
  cfg_out (&f, PCI_BAR0 + 4 * 5, 4, 0xffffffffu);
  g_assert_cmphex (cfg_in (&f, PCI_BAR0 + 4 * 5, 4), ==, 0xfffff000u);
  cfg_out (&f, PCI_BAR0 + 4 * 5, 4, f.abar);
  /* an MSI capability in the list */
  g_assert_cmphex (cfg_in (&f, cfg_in (&f, PCI_CAPABILITY_LIST, 1), 1), ==, 0x05);

  cap = rd (&f, CAP);
  g_assert_cmphex (cap & 0x1f, ==, 5);                 /* 6 ports */
  g_assert_cmphex ((cap >> 8) & 0x1f, ==, 31);         /* 32 slots */
  g_assert_cmphex (cap & (1u << 31 | 1u << 30), ==, 1u << 31 | 1u << 30);  /* 64-bit, NCQ */
  g_assert_cmphex (rd (&f, PI), ==, 0x3f);
  g_assert_cmphex (rd (&f, VS), ==, 0x00010301);
  g_assert_cmphex (rd (&f, GHC) & (1u << 31), !=, 0);   /* AE */

  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_SIG)), ==, 0x00000101);
  g_assert_cmphex (rd (&f, PX (CD_PORT, PX_SIG)), ==, 0xeb140101);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_SSTS)) & 0xf, ==, 3);
  g_assert_cmphex (rd (&f, PX (NONE_PORT, PX_SSTS)) & 0xf, ==, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_TFD)) & 0x88, ==, 0);

  /* HBA reset: the ports stop and lose their set-up */
  port_start (&f, DISK_PORT);
  wr (&f, GHC, 1u << 1);
  wr (&f, PX (DISK_PORT, PX_IE), 0xffffffffu);
  wr (&f, GHC, 1u);
  g_assert_cmphex (rd (&f, GHC), ==, 1u << 31);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_CMD)) & 0xc011, ==, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_CLB)), ==, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_IE)), ==, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_SIG)), ==, 0x00000101);
  fx_clear (&f);
}

static void
test_comreset (void)
{
  struct fx f;
  const uint8_t *fb;

  fx_init (&f, false);
  port_start (&f, CD_PORT);
  fb = vmm_test_ptr (&f.ram.mem, FB (CD_PORT), 256);
  /* the signature FIS came when FIS receive was turned on */
  g_assert_cmphex (fb[0x40], ==, 0x34);
  g_assert_cmphex (fb[0x45], ==, 0x14);
  g_assert_cmphex (fb[0x46], ==, 0xeb);
  memset ((uint8_t *) fb + 0x40, 0, 20);

  wr (&f, PX (CD_PORT, PX_CMD), rd (&f, PX (CD_PORT, PX_CMD)) & ~1u);
  wr (&f, PX (CD_PORT, PX_SCTL), 0x301);
  g_assert_cmphex (rd (&f, PX (CD_PORT, PX_SSTS)) & 0xf, ==, 0);
  wr (&f, PX (CD_PORT, PX_SCTL), 0x300);
  g_assert_cmphex (rd (&f, PX (CD_PORT, PX_SSTS)), ==, 0x113);
  g_assert_cmphex (rd (&f, PX (CD_PORT, PX_SIG)), ==, 0xeb140101);
  g_assert_cmphex (rd (&f, PX (CD_PORT, PX_TFD)) & 0x88, ==, 0);
  g_assert_cmphex (fb[0x40], ==, 0x34);
  g_assert_cmphex (fb[0x46], ==, 0xeb);
  fx_clear (&f);
}

/* ---- a disk ------------------------------------------------------------------------- */

static void
test_identify (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd prd = { DATA, 512 };
  const uint8_t *id, *fb;
  uint8_t sum = 0;
  uint32_t is;
  char model[41];

  fx_init (&f, false);
  port_start (&f, DISK_PORT);
  fis_h2d (cfis, 0xec, 0, 0);
  is = run (&f, DISK_PORT, 0, cfis, NULL, &prd, 1, 0);
  g_assert_cmphex (is & (IS_DHRS | IS_PSS | IS_TFES), ==, IS_DHRS | IS_PSS);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_TFD)) & 0xff89, ==, 0);
  g_assert_cmpuint (prdbc (&f, DISK_PORT, 0), ==, 512);
  id = vmm_test_ptr (&f.ram.mem, DATA, 512);
  for (unsigned i = 0; i < 512; i++)
    sum = (uint8_t) (sum + id[i]);
  g_assert_cmphex (sum, ==, 0);
  g_assert_cmphex (id[510], ==, 0xa5);
  for (unsigned i = 0; i < 40; i += 2)
    {
      model[i] = (char) id[54 + i + 1];
      model[i + 1] = (char) id[54 + i];
    }
  model[40] = 0;
  g_assert_cmpstr (g_strchomp (model), ==, "Test Disk");
  g_assert_cmphex (id[20 + 1], ==, 'S');    /* serial, byte-swapped */
  g_assert_cmpuint (viv_get_le64 (&id[200]), ==, DISK_SECTORS);   /* LBA48 */
  g_assert_cmphex (viv_get_le16 (&id[83 * 2]) & (1u << 10), !=, 0);
  g_assert_cmphex (viv_get_le16 (&id[76 * 2]) & (1u << 8), !=, 0);   /* NCQ */
  g_assert_cmpuint (viv_get_le16 (&id[75 * 2]), ==, 31);
  fb = vmm_test_ptr (&f.ram.mem, FB (DISK_PORT), 256);
  g_assert_cmphex (fb[0x20], ==, 0x5f);     /* PIO Setup */
  g_assert_cmphex (fb[0x40], ==, 0x34);     /* D2H Register */
  g_assert_cmphex (fb[0x42] & 0x89, ==, 0);

  /* IDENTIFY PACKET DEVICE is not for a disk */
  fis_h2d (cfis, 0xa1, 0, 0);
  is = run (&f, DISK_PORT, 1, cfis, NULL, &prd, 1, 0);
  g_assert_cmphex (is & IS_TFES, !=, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_TFD)) & 0x04ff, ==, 0x0441);
  fx_clear (&f);
}

static void
fill (struct fx *f, uint64_t gpa, uint32_t len, uint8_t seed)
{
  uint8_t *p = vmm_test_ptr (&f->ram.mem, gpa, len);

  for (uint32_t i = 0; i < len; i++)
    p[i] = (uint8_t) (seed + i * 3);
}

static void
test_disk_rw (void)
{
  struct fx f;
  uint8_t cfis[20];
  /* 8 sectors in two PRDs of 1 KiB and 3 KiB */
  struct prd out[2] = { { DATA, 1024 }, { DATA + 0x10000, 3072 } };
  struct prd in[3] = { { DATA + 0x20000, 512 }, { DATA + 0x30000, 2048 },
                       { DATA + 0x40000, 4096 } };
  g_autofree uint8_t *file = NULL;
  const uint8_t *d;
  gsize len;
  uint32_t is;

  fx_init (&f, false);
  port_start (&f, DISK_PORT);
  fill (&f, DATA, 1024, 1);
  fill (&f, DATA + 0x10000, 3072, 77);

  fis_h2d (cfis, 0x35, 100, 8);   /* WRITE DMA EXT */
  is = run (&f, DISK_PORT, 3, cfis, NULL, out, 2, 1u << 6);
  g_assert_cmphex (is & (IS_DHRS | IS_TFES), ==, IS_DHRS);
  g_assert_cmpuint (prdbc (&f, DISK_PORT, 3), ==, 4096);

  fis_h2d (cfis, 0xea, 0, 0);     /* FLUSH CACHE EXT */
  is = run (&f, DISK_PORT, 4, cfis, NULL, NULL, 0, 0);
  g_assert_cmphex (is & (IS_DHRS | IS_TFES), ==, IS_DHRS);
  g_file_get_contents (f.disk, (char **) &file, &len, NULL);
  g_assert_cmpuint (len, ==, DISK_SECTORS * 512);
  g_assert_cmpmem (file + 100 * 512, 1024, vmm_test_ptr (&f.ram.mem, DATA, 1024), 1024);
  g_assert_cmpmem (file + 102 * 512, 3072, vmm_test_ptr (&f.ram.mem, DATA + 0x10000, 3072),
                   3072);
  g_assert_cmphex (file[99 * 512], ==, disk_pattern (99 * 512));

  /* READ DMA EXT of 99..106: the sector before, then what was written */
  fis_h2d (cfis, 0x25, 99, 5);
  is = run (&f, DISK_PORT, 5, cfis, NULL, in, 3, 0);
  g_assert_cmphex (is & (IS_DHRS | IS_TFES), ==, IS_DHRS);
  g_assert_cmpuint (prdbc (&f, DISK_PORT, 5), ==, 2560);
  d = vmm_test_ptr (&f.ram.mem, DATA + 0x20000, 512);
  g_assert_cmpmem (d, 512, file + 99 * 512, 512);
  d = vmm_test_ptr (&f.ram.mem, DATA + 0x30000, 2048);
  g_assert_cmpmem (d, 2048, file + 100 * 512, 2048);

  /* READ DMA (28-bit) past the end: IDNF */
  fis_h2d (cfis, 0xc8, DISK_SECTORS - 1, 2);
  is = run (&f, DISK_PORT, 6, cfis, NULL, in, 3, 0);
  g_assert_cmphex (is & IS_TFES, !=, 0);
  g_assert_cmphex ((rd (&f, PX (DISK_PORT, PX_TFD)) >> 8) & 0x10, !=, 0);
  fx_clear (&f);
}

static void
test_disk_ncq (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd w = { DATA, 16 * 512 }, r = { DATA + 0x100000, 16 * 512 };
  const uint8_t *fb;
  uint32_t is;

  fx_init (&f, false);
  port_start (&f, DISK_PORT);
  wr (&f, PX (DISK_PORT, PX_IE), 0xffffffffu);
  fill (&f, DATA, 16 * 512, 9);

  /* WRITE FPDMA QUEUED, tag 7: count in the features */
  fis_h2d (cfis, 0x61, 2000, 0);
  cfis[3] = 16;
  cfis[12] = 7 << 3;
  prepare (&f, DISK_PORT, 7, cfis, NULL, &w, 1, 1u << 6);
  wr (&f, PX (DISK_PORT, PX_SACT), 1u << 7);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_SACT)), ==, 1u << 7);
  wr (&f, PX (DISK_PORT, PX_CI), 1u << 7);
  wait_clear (&f, DISK_PORT, PX_SACT, 1u << 7);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_CI)), ==, 0);
  is = rd (&f, PX (DISK_PORT, PX_IS));
  g_assert_cmphex (is & (IS_SDBS | IS_TFES), ==, IS_SDBS);
  wr (&f, PX (DISK_PORT, PX_IS), is);
  fb = vmm_test_ptr (&f.ram.mem, FB (DISK_PORT), 256);
  g_assert_cmphex (fb[0x58], ==, 0xa1);
  g_assert_cmphex (viv_get_le32 (&fb[0x5c]), ==, 1u << 7);

  /* READ FPDMA QUEUED, tags 2 and 9 at once */
  fis_h2d (cfis, 0x60, 2000, 0);
  cfis[3] = 8;
  cfis[12] = 2 << 3;
  prepare (&f, DISK_PORT, 2, cfis, NULL, &r, 1, 0);
  {
    struct prd r2 = { DATA + 0x200000, 8 * 512 };

    fis_h2d (cfis, 0x60, 2008, 0);
    cfis[3] = 8;
    cfis[12] = 9 << 3;
    prepare (&f, DISK_PORT, 9, cfis, NULL, &r2, 1, 0);
  }
  wr (&f, PX (DISK_PORT, PX_SACT), 1u << 2 | 1u << 9);
  wr (&f, PX (DISK_PORT, PX_CI), 1u << 2 | 1u << 9);
  wait_clear (&f, DISK_PORT, PX_SACT, 1u << 2 | 1u << 9);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_IS)) & IS_TFES, ==, 0);
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, DATA + 0x100000, 4096), 4096,
                   vmm_test_ptr (&f.ram.mem, DATA, 4096), 4096);
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, DATA + 0x200000, 4096), 4096,
                   vmm_test_ptr (&f.ram.mem, DATA + 4096, 4096), 4096);
  fx_clear (&f);
}

/* DATA SET MANAGEMENT (TRIM) zeroes the ranges; READ SECTORS (PIO) reads
 * them back, with a PIO Setup FIS */
static void
test_disk_trim_pio (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd ranges = { DATA, 512 }, in = { DATA + 0x10000, 4 * 512 };
  const uint8_t *d;
  uint32_t is;

  fx_init (&f, false);
  port_start (&f, DISK_PORT);
  memset (vmm_test_ptr (&f.ram.mem, DATA, 512), 0, 512);
  vmm_test_put64 (&f.ram.mem, DATA, 11 | 2ull << 48);     /* sectors 11 and 12 */
  fis_h2d (cfis, 0x06, 0, 1);
  cfis[3] = 1;
  is = run (&f, DISK_PORT, 0, cfis, NULL, &ranges, 1, 1u << 6);
  g_assert_cmphex (is & (IS_DHRS | IS_TFES), ==, IS_DHRS);

  fis_h2d (cfis, 0x20, 10, 4);    /* READ SECTORS 10..13 */
  is = run (&f, DISK_PORT, 1, cfis, NULL, &in, 1, 0);
  g_assert_cmphex (is & (IS_PSS | IS_TFES), ==, IS_PSS);
  d = vmm_test_ptr (&f.ram.mem, DATA + 0x10000, 4 * 512);
  g_assert_cmphex (d[0], ==, disk_pattern (10 * 512));
  for (unsigned i = 512; i < 3 * 512; i++)
    g_assert_cmphex (d[i], ==, 0);
  g_assert_cmphex (d[3 * 512 + 1], ==, disk_pattern (13 * 512 + 1));

  /* a range past the end: IDNF */
  vmm_test_put64 (&f.ram.mem, DATA, (DISK_SECTORS - 1) | 2ull << 48);
  fis_h2d (cfis, 0x06, 0, 1);
  cfis[3] = 1;
  is = run (&f, DISK_PORT, 2, cfis, NULL, &ranges, 1, 1u << 6);
  g_assert_cmphex (is & IS_TFES, !=, 0);
  fx_clear (&f);
}

static void
test_disk_read_only (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd prd = { DATA, 512 };
  g_autofree uint8_t *file = NULL;
  gsize len;
  uint32_t is;

  fx_init (&f, true);
  port_start (&f, DISK_PORT);
  fill (&f, DATA, 512, 5);
  fis_h2d (cfis, 0x35, 0, 1);
  is = run (&f, DISK_PORT, 0, cfis, NULL, &prd, 1, 1u << 6);
  g_assert_cmphex (is & IS_TFES, !=, 0);
  g_assert_cmphex (rd (&f, PX (DISK_PORT, PX_TFD)) & 0x04ff, ==, 0x0441);
  g_file_get_contents (f.disk, (char **) &file, &len, NULL);
  g_assert_cmphex (file[0], ==, disk_pattern (0));
  fx_clear (&f);
}

/* ---- malformed command lists ------------------------------------------------------ */

static void
expect_error (struct fx *f, unsigned s)
{
  uint32_t is = issue (f, DISK_PORT, s);

  g_assert_cmphex (is & IS_TFES, !=, 0);
  g_assert_cmphex (rd (f, PX (DISK_PORT, PX_TFD)) & 0x01, ==, 1);
}

static void
test_malformed (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd prd = { DATA, 4096 };
  const struct vmm_mem *mem;
  uint32_t is;

  fx_init (&f, false);
  mem = &f.ram.mem;
  port_start (&f, DISK_PORT);
  fis_h2d (cfis, 0x25, 0, 8);

  /* a PRD outside RAM */
  prd.gpa = RAM_SIZE - 2048;
  prepare (&f, DISK_PORT, 0, cfis, NULL, &prd, 1, 0);
  expect_error (&f, 0);
  /* no PRDs for a read */
  prepare (&f, DISK_PORT, 1, cfis, NULL, NULL, 0, 0);
  expect_error (&f, 1);
  /* PRDs too short */
  prd = (struct prd) { DATA, 512 };
  prepare (&f, DISK_PORT, 2, cfis, NULL, &prd, 1, 0);
  expect_error (&f, 2);
  /* 65535 PRDs: the table runs out of RAM */
  prd = (struct prd) { DATA, 4096 };
  prepare (&f, DISK_PORT, 3, cfis, NULL, &prd, 1, 0);
  vmm_test_put64 (mem, CLB (DISK_PORT) + 3 * 32 + 8, RAM_SIZE - 0x1000);
  vmm_test_put32 (mem, CLB (DISK_PORT) + 3 * 32, 5 | 0xffffu << 16);
  expect_error (&f, 3);
  /* a command table outside RAM */
  prepare (&f, DISK_PORT, 4, cfis, NULL, &prd, 1, 0);
  vmm_test_put64 (mem, CLB (DISK_PORT) + 4 * 32 + 8, 0x7fffffff80ull);
  expect_error (&f, 4);
  /* not a Register H2D FIS */
  cfis[0] = 0x34;
  prepare (&f, DISK_PORT, 5, cfis, NULL, &prd, 1, 0);
  expect_error (&f, 5);
  cfis[0] = 0x27;
  /* a command FIS length of 0 */
  prepare (&f, DISK_PORT, 6, cfis, NULL, &prd, 1, 0);
  vmm_test_put32 (mem, CLB (DISK_PORT) + 6 * 32, 1u << 16);
  expect_error (&f, 6);
  /* a command list outside RAM: the slot still ends, with an error */
  wr (&f, PX (DISK_PORT, PX_CMD), rd (&f, PX (DISK_PORT, PX_CMD)) & ~1u);
  wr (&f, PX (DISK_PORT, PX_CLB), RAM_SIZE - 0x400);
  wr (&f, PX (DISK_PORT, PX_CLBU), 1);
  wr (&f, PX (DISK_PORT, PX_CMD), rd (&f, PX (DISK_PORT, PX_CMD)) | 1u);
  expect_error (&f, 7);
  vmm_test_log_expect (f.log_fd, "guest: ahci");

  /* and the port still works */
  port_start (&f, DISK_PORT);
  prd = (struct prd) { DATA, 4096 };
  is = run (&f, DISK_PORT, 8, cfis, NULL, &prd, 1, 0);
  g_assert_cmphex (is & (IS_DHRS | IS_TFES), ==, IS_DHRS);
  g_assert_cmphex (*(uint8_t *) vmm_test_ptr (mem, DATA + 1, 1), ==, disk_pattern (1));
  fx_clear (&f);
}

/* ---- interrupts ------------------------------------------------------------------- */

static void
test_irq (void)
{
  struct fx f;
  uint8_t cfis[20];
  struct prd prd = { DATA, 512 };
  uint8_t msi;
  uint64_t address;
  uint32_t data;
  unsigned gsi;
  int fd;

  fx_init (&f, false);
  port_start (&f, DISK_PORT);
  fis_h2d (cfis, 0xec, 0, 0);

  /* INTx: nothing until GHC.IE and PxIE allow it */
  prepare (&f, DISK_PORT, 0, cfis, NULL, &prd, 1, 0);
  wr (&f, PX (DISK_PORT, PX_CI), 1);
  wait_clear (&f, DISK_PORT, PX_CI, 1);
  g_assert_false (f.irq.level);
  wr (&f, PX (DISK_PORT, PX_IE), IS_DHRS);
  g_assert_false (f.irq.level);
  wr (&f, GHC, 1u << 1);
  g_assert_true (f.irq.level);
  g_assert_cmphex (rd (&f, IS), ==, 1u << DISK_PORT);
  /* clearing the HBA's IS alone: the port still asks */
  wr (&f, IS, 1u << DISK_PORT);
  g_assert_true (f.irq.level);
  wr (&f, PX (DISK_PORT, PX_IS), 0xffffffffu);
  wr (&f, IS, 1u << DISK_PORT);
  g_assert_false (f.irq.level);
  /* a command raises it again; INTx disable in COMMAND lowers it */
  prepare (&f, DISK_PORT, 1, cfis, NULL, &prd, 1, 0);
  wr (&f, PX (DISK_PORT, PX_CI), 2);
  wait_clear (&f, DISK_PORT, PX_CI, 2);
  g_assert_true (f.irq.level);
  cfg_out (&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                               PCI_COMMAND_INTX_DISABLE);
  g_assert_false (f.irq.level);
  cfg_out (&f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  g_assert_true (f.irq.level);
  wr (&f, PX (DISK_PORT, PX_IS), 0xffffffffu);
  wr (&f, IS, 0xffffffffu);
  g_assert_false (f.irq.level);
  g_assert_cmpuint (f.irq.redundant, ==, 0);

  /* MSI: programmed through the router, signalled through the irqfd */
  msi = (uint8_t) cfg_in (&f, PCI_CAPABILITY_LIST, 1);
  g_assert_cmphex (cfg_in (&f, msi, 1), ==, 0x05);
  gsi = 24 + f.router.n_gsi - 1;
  fd = vmm_test_fake_irqfd (gsi);
  g_assert_cmpint (fd, >=, 0);
  cfg_out (&f, msi + 4, 4, 0xfee01000u);
  cfg_out (&f, msi + 8, 4, 0);
  cfg_out (&f, msi + 12, 2, 0x4031);
  g_assert_false (vmm_test_fake_msi (gsi, &address, &data));
  cfg_out (&f, msi + 2, 2, 1);
  g_assert_true (vmm_test_fake_msi (gsi, &address, &data));
  g_assert_cmphex (address, ==, 0xfee01000u);
  g_assert_cmphex (data, ==, 0x4031);
  g_assert_cmpuint (vmm_eventfd_drain (fd), ==, 0);
  prepare (&f, DISK_PORT, 2, cfis, NULL, &prd, 1, 0);
  wr (&f, PX (DISK_PORT, PX_CI), 4);
  wait_clear (&f, DISK_PORT, PX_CI, 4);
  g_assert_cmpuint (vmm_eventfd_drain (fd), ==, 1);
  g_assert_false (f.irq.level);
  fx_clear (&f);
}

/* ---- the CD-ROM --------------------------------------------------------------------- */

/* Runs PACKET with CDB (12 bytes) on port P, LEN bytes of data in at DATA.
 * Returns the sense key (0 when the command succeeded) and, in *ASC, the
 * additional sense code and qualifier from REQUEST SENSE. */
static unsigned
packet (struct fx *f, unsigned p, const uint8_t *cdb, uint32_t len, unsigned *asc)
{
  uint8_t cfis[20], sense_cdb[12] = { 0x03, 0, 0, 0, 18 };
  struct prd prd = { DATA, len ? len : 2 };
  uint32_t is, tfd;
  const uint8_t *s;

  fis_h2d (cfis, 0xa0, 0, 0);
  cfis[3] = 1;   /* DMA */
  is = run (f, p, 0, cfis, cdb, &prd, 1, 1u << 5);
  tfd = rd (f, PX (p, PX_TFD));
  if (!(tfd & 1))
    {
      g_assert_cmphex (is & IS_TFES, ==, 0);
      return 0;
    }
  g_assert_cmphex (is & IS_TFES, !=, 0);
  prd = (struct prd) { DATA + 0x10000, 18 };
  is = run (f, p, 1, cfis, sense_cdb, &prd, 1, 1u << 5);
  g_assert_cmphex (is & IS_TFES, ==, 0);
  s = vmm_test_ptr (&f->ram.mem, DATA + 0x10000, 18);
  g_assert_cmphex (s[0], ==, 0x70);
  g_assert_cmphex (s[2] & 0xf, ==, tfd >> 12);
  if (asc != NULL)
    *asc = (unsigned) s[12] << 8 | s[13];
  return s[2] & 0xf;
}

static void
test_atapi (void)
{
  struct fx f;
  uint8_t cfis[20];
  uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
  uint8_t capacity[12] = { 0x25 };
  uint8_t read10[12] = { 0x28, 0, 0, 0, 0x01, 0x02, 0, 0, 3 };   /* 3 sectors at 258 */
  uint8_t read12[12] = { 0xa8, 0, 0, 0, 0, 5, 0, 0, 0, 1 };      /* 1 sector at 5 */
  uint8_t toc[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
  uint8_t config[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 64 };
  uint8_t mode[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64 };
  uint8_t big[12] = { 0x28, 0, 0, 0, 0x02, 0x58, 0, 0, 1 };     /* sector 600: past the end */
  struct prd prd = { DATA, 512 };
  const uint8_t *d;
  unsigned asc;

  fx_init (&f, false);
  port_start (&f, CD_PORT);

  fis_h2d (cfis, 0xa1, 0, 0);
  g_assert_cmphex (run (&f, CD_PORT, 0, cfis, NULL, &prd, 1, 0) & IS_TFES, ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 512);
  g_assert_cmphex (viv_get_le16 (d), ==, 0x85c0);
  /* IDENTIFY DEVICE is refused, with the ATAPI signature */
  fis_h2d (cfis, 0xec, 0, 0);
  g_assert_cmphex (run (&f, CD_PORT, 0, cfis, NULL, &prd, 1, 0) & IS_TFES, !=, 0);
  d = vmm_test_ptr (&f.ram.mem, FB (CD_PORT), 256);
  g_assert_cmphex (d[0x45], ==, 0x14);
  g_assert_cmphex (d[0x46], ==, 0xeb);

  g_assert_cmpuint (packet (&f, CD_PORT, inquiry, 36, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 36);
  g_assert_cmphex (d[0], ==, 0x05);
  g_assert_cmphex (d[1], ==, 0x80);
  g_assert_cmpmem (&d[8], 8, "VIVARIUM", 8);

  g_assert_cmpuint (packet (&f, CD_PORT, capacity, 8, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 8);
  g_assert_cmpuint (viv_get_be32 (d), ==, CD_SECTORS - 1);
  g_assert_cmpuint (viv_get_be32 (d + 4), ==, 2048);

  g_assert_cmpuint (packet (&f, CD_PORT, read10, 3 * 2048, NULL), ==, 0);
  for (unsigned i = 0; i < 3 * 2048; i++)
    g_assert_cmphex (*(uint8_t *) vmm_test_ptr (&f.ram.mem, DATA + i, 1), ==,
                     cd_pattern (258 * 2048 + i));
  g_assert_cmpuint (prdbc (&f, CD_PORT, 0), ==, 3 * 2048);
  g_assert_cmpuint (packet (&f, CD_PORT, read12, 2048, NULL), ==, 0);
  g_assert_cmpuint (viv_get_be32 (vmm_test_ptr (&f.ram.mem, DATA, 4)), ==, 5);

  g_assert_cmpuint (packet (&f, CD_PORT, big, 2048, &asc), ==, 5);
  g_assert_cmphex (asc, ==, 0x2100);

  /* the TOC: track 1 at 0, the lead-out at the end */
  g_assert_cmpuint (packet (&f, CD_PORT, toc, 100, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 20);
  g_assert_cmpuint (viv_get_be16 (d), ==, 18);
  g_assert_cmphex (d[6], ==, 1);
  g_assert_cmphex (d[14], ==, 0xaa);
  g_assert_cmpuint (viv_get_be32 (&d[16]), ==, CD_SECTORS);

  /* a CD-sized disc: the CD-ROM profile is current */
  g_assert_cmpuint (packet (&f, CD_PORT, config, 64, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 64);
  g_assert_cmphex (viv_get_be16 (&d[6]), ==, 0x0008);
  g_assert_cmphex (viv_get_be16 (&d[8]), ==, 0x0000);
  g_assert_cmphex (viv_get_be16 (&d[12]), ==, 0x0010);
  g_assert_cmphex (viv_get_be16 (&d[16]), ==, 0x0008);
  g_assert_cmphex (d[18], ==, 1);

  g_assert_cmpuint (packet (&f, CD_PORT, mode, 64, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 64);
  g_assert_cmphex (d[8], ==, 0x2a);
  fx_clear (&f);
}

/* The disc's layout and the drive's pages, in their other formats */
static void
test_atapi_layout (void)
{
  struct fx f;
  uint8_t toc_msf[12] = { 0x43, 2, 0, 0, 0, 0, 0, 0, 100 };
  uint8_t session[12] = { 0x43, 0, 1, 0, 0, 0, 0, 0, 100 };
  uint8_t full[12] = { 0x43, 2, 2, 0, 0, 0, 1, 0, 100 };
  uint8_t disc[12] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34 };
  uint8_t mech[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
  uint8_t mode6[12] = { 0x1a, 0, 0x01, 0, 64 };
  uint8_t mode_saved[12] = { 0x1a, 0, 0xc1, 0, 64 };
  uint8_t async[12] = { 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8 };
  uint8_t unknown[12] = { 0xff };
  const uint8_t *d;
  unsigned asc;

  fx_init (&f, false);
  port_start (&f, CD_PORT);
  /* 600 sectors + the 2 s lead-in: the lead-out at 00:10:00 */
  g_assert_cmpuint (packet (&f, CD_PORT, toc_msf, 100, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 20);
  g_assert_cmpmem (&d[8], 4, "\0\0\2\0", 4);
  g_assert_cmpmem (&d[16], 4, "\0\0\12\0", 4);
  g_assert_cmpuint (packet (&f, CD_PORT, session, 100, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 12);
  g_assert_cmpuint (viv_get_be16 (d), ==, 10);
  g_assert_cmphex (d[6], ==, 1);
  g_assert_cmpuint (packet (&f, CD_PORT, full, 100, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 48);
  g_assert_cmpuint (viv_get_be16 (d), ==, 2 + 4 * 11);
  g_assert_cmphex (d[4 + 2 * 11 + 3], ==, 0xa2);
  g_assert_cmpmem (&d[4 + 2 * 11 + 8], 3, "\0\12\0", 3);

  g_assert_cmpuint (packet (&f, CD_PORT, disc, 34, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 34);
  g_assert_cmpuint (viv_get_be16 (d), ==, 32);
  g_assert_cmphex (d[2], ==, 0x0e);
  g_assert_cmpuint (packet (&f, CD_PORT, mech, 8, NULL), ==, 0);
  g_assert_cmphex (*(uint8_t *) vmm_test_ptr (&f.ram.mem, DATA + 1, 1), ==, 0);

  g_assert_cmpuint (packet (&f, CD_PORT, mode6, 64, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 16);
  g_assert_cmpuint (d[0], ==, 3 + 12);
  g_assert_cmphex (d[4], ==, 0x01);
  g_assert_cmpuint (packet (&f, CD_PORT, mode_saved, 64, &asc), ==, 5);
  g_assert_cmphex (asc, ==, 0x3900);
  g_assert_cmpuint (packet (&f, CD_PORT, async, 8, &asc), ==, 5);
  g_assert_cmphex (asc, ==, 0x2400);
  g_assert_cmpuint (packet (&f, CD_PORT, unknown, 8, &asc), ==, 5);
  g_assert_cmphex (asc, ==, 0x2000);
  fx_clear (&f);
}

/* A disc larger than a CD is a DVD */
static void
test_atapi_dvd (void)
{
  struct fx f;
  uint8_t config[12] = { 0x46, 2, 0, 0, 0, 0, 0, 0, 16 };
  g_autofree char *path = NULL;
  const uint8_t *d;
  int fd;

  fx_init (&f, false);
  port_start (&f, EMPTY_PORT);
  path = g_build_filename (f.dir, "dvd.iso", NULL);
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, 4000000ll * 2048), ==, 0);   /* sparse */
  close (fd);
  g_assert_cmpint (vmm_ahci_insert_medium (f.ahci, EMPTY_PORT, open_image (path, true)), ==, 0);
  /* RT 2: only the feature asked for (profile list) */
  g_assert_cmpuint (packet (&f, EMPTY_PORT, config, 16, NULL), ==, 0);
  d = vmm_test_ptr (&f.ram.mem, DATA, 16);
  g_assert_cmphex (viv_get_be16 (&d[6]), ==, 0x0010);
  g_assert_cmphex (d[12 + 2], ==, 1);    /* DVD-ROM current */
  fx_clear (&f);
}

static void
gesn (struct fx *f, unsigned p, uint8_t *event, uint8_t *status)
{
  uint8_t cdb[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
  const uint8_t *d;

  g_assert_cmpuint (packet (f, p, cdb, 8, NULL), ==, 0);
  d = vmm_test_ptr (&f->ram.mem, DATA, 8);
  g_assert_cmphex (d[2], ==, 0x04);
  *event = d[4];
  *status = d[5];
}

static void
test_atapi_media (void)
{
  struct fx f;
  uint8_t tur[12] = { 0 };
  uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
  uint8_t allow[12] = { 0x1e };
  uint8_t eject[12] = { 0x1b, 0, 0, 0, 0x02 };
  uint8_t event, status;
  unsigned asc;

  fx_init (&f, false);
  port_start (&f, EMPTY_PORT);

  /* an empty tray: not ready, medium not present */
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, &asc), ==, 2);
  g_assert_cmphex (asc >> 8, ==, 0x3a);
  g_assert_cmpint (vmm_ahci_eject_medium (f.ahci, EMPTY_PORT, false), ==, -ENOMEDIUM);
  {
    struct vmm_block *spare = open_image (f.iso, true);

    /* refused: the caller keeps it */
    g_assert_cmpint (vmm_ahci_insert_medium (f.ahci, DISK_PORT, spare), ==, -ENODEV);
    g_assert_cmpint (vmm_ahci_insert_medium (f.ahci, CD_PORT, spare), ==, -EBUSY);
    vmm_block_close (spare);
  }

  /* the host inserts a disc: a new-media event, then a unit attention once */
  g_assert_cmpint (vmm_ahci_insert_medium (f.ahci, EMPTY_PORT, open_image (f.iso, true)),
                   ==, 0);
  gesn (&f, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 2);
  g_assert_cmphex (status, ==, 0x02);
  gesn (&f, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 0);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, &asc), ==, 6);
  g_assert_cmphex (asc, ==, 0x2800);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, NULL), ==, 0);

  /* the guest locks the tray: the host's eject becomes a request */
  g_assert_cmpuint (packet (&f, EMPTY_PORT, prevent, 0, NULL), ==, 0);
  g_assert_cmpint (vmm_ahci_eject_medium (f.ahci, EMPTY_PORT, false), ==, -EBUSY);
  gesn (&f, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 1);
  /* and its own eject is refused while locked */
  g_assert_cmpuint (packet (&f, EMPTY_PORT, eject, 0, &asc), ==, 5);
  g_assert_cmphex (asc, ==, 0x5302);
  g_assert_cmpuint (f.ejects, ==, 0);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, NULL), ==, 0);

  /* unlocked, it ejects: the callback hears of it, the tray is empty */
  g_assert_cmpuint (packet (&f, EMPTY_PORT, allow, 0, NULL), ==, 0);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, eject, 0, NULL), ==, 0);
  g_assert_cmpuint (f.ejects, ==, 1);
  g_assert_cmpuint (f.eject_port, ==, EMPTY_PORT);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, &asc), ==, 2);
  g_assert_cmphex (asc >> 8, ==, 0x3a);
  gesn (&f, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 3);
  g_assert_cmphex (status & 0x02, ==, 0);

  /* a forced eject from the host ignores the lock */
  g_assert_cmpint (vmm_ahci_insert_medium (f.ahci, EMPTY_PORT, open_image (f.iso, true)),
                   ==, 0);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, NULL), ==, 6);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, prevent, 0, NULL), ==, 0);
  g_assert_cmpint (vmm_ahci_eject_medium (f.ahci, EMPTY_PORT, true), ==, 0);
  g_assert_cmpuint (packet (&f, EMPTY_PORT, tur, 0, NULL), ==, 2);
  g_assert_cmpuint (f.ejects, ==, 1);
  fx_clear (&f);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_ahci (void *ahci, const struct vmm_state_file *f, const char *name, bool apply,
           GError **error)
{
  return vmm_ahci_load (ahci, f, name, apply, error);
}

static void
save_ahci (struct fx *f, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_pci_host_save (&f->pci, w, "pci");
  g_assert_cmpint (vmm_ahci_save (f->ahci, w, "ahci"), ==, 0);
  vmm_test_state_close (st, w);
}

/* REQUEST SENSE on port P: the sense key and ASC/ASCQ the drive holds */
static unsigned
held_sense (struct fx *f, unsigned p)
{
  uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };
  const uint8_t *s;

  g_assert_cmpuint (packet (f, p, cdb, 18, NULL), ==, 0);
  s = vmm_test_ptr (&f->ram.mem, DATA, 18);
  return (unsigned) (s[2] & 0xf) << 16 | (unsigned) s[12] << 8 | s[13];
}

/* A disk that answered IDENTIFY with its interrupt still pending on INTx,
 * a CD-ROM locked by the guest with a failed read's sense, a disc the
 * host put in the third drive and the guest has not heard of: saved with
 * the PCI host, loaded into the same controller fresh, whose drives hold
 * another disc, which the snapshot's replaces (and into one whose third
 * drive is still empty: the disc goes back in; and after the disc file
 * was deleted: the drives are left empty, and the guest told). */
static void
test_state (void)
{
  struct fx a, b, c, d;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  uint8_t cfis[20];
  uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
  uint8_t big[12] = { 0x28, 0, 0, 0, 0x02, 0x58, 0, 0, 1 };
  uint8_t event, status;
  struct prd prd = { DATA, 512 };

  fx_init (&a, false);
  port_start (&a, DISK_PORT);
  port_start (&a, CD_PORT);
  port_start (&a, EMPTY_PORT);
  g_assert_cmpuint (packet (&a, CD_PORT, prevent, 0, NULL), ==, 0);
  prd.len = 2048;
  fis_h2d (cfis, 0xa0, 0, 0);
  cfis[3] = 1;
  g_assert_cmphex (run (&a, CD_PORT, 0, cfis, big, &prd, 1, 1u << 5) & IS_TFES, !=, 0);
  g_assert_cmpint (vmm_ahci_insert_medium (a.ahci, EMPTY_PORT, open_image (a.iso, true)), ==, 0);
  prd.len = 512;
  fis_h2d (cfis, 0xef, 0, 0x46);                  /* SET FEATURES: UDMA 6 */
  cfis[3] = 0x03;
  run (&a, DISK_PORT, 0, cfis, NULL, &prd, 1, 0);
  wr (&a, PX (DISK_PORT, PX_IE), IS_DHRS);
  wr (&a, GHC, 1u << 1);
  fis_h2d (cfis, 0xec, 0, 0);
  prepare (&a, DISK_PORT, 3, cfis, NULL, &prd, 1, 0);
  wr (&a, PX (DISK_PORT, PX_CI), 1u << 3);
  wait_clear (&a, DISK_PORT, PX_CI, 1u << 3);
  g_assert_true (a.irq.level);
  save_ahci (&a, &sa);

  fx_init (&b, false);
  g_assert_cmpint (vmm_ahci_insert_medium (b.ahci, EMPTY_PORT, open_image (b.iso, true)), ==, 0);
  save_ahci (&b, &sb0);
  g_assert_true (vmm_pci_host_load (&b.pci, sa.file, "pci", false, &error));
  g_assert_true (vmm_ahci_load (b.ahci, sa.file, "ahci", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "ahci", load_ahci, b.ahci, 0, 0x01);
  g_assert_cmpuint (b.irq.calls, ==, 0);
  save_ahci (&b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "ahci");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_pci_host_load (&b.pci, sa.file, "pci", true, &error));
  g_assert_true (vmm_ahci_load (b.ahci, sa.file, "ahci", true, &error));
  g_assert_no_error (error);
  save_ahci (&b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "ahci");
  vmm_test_state_assert_same (&sa, &sb, "pci");
  g_assert_true (b.irq.level);
  g_assert_cmpuint (b.irq.calls, ==, 1);
  {
    g_autofree char *cd = vmm_ahci_dup_medium_path (b.ahci, CD_PORT);
    g_autofree char *third = vmm_ahci_dup_medium_path (b.ahci, EMPTY_PORT);

    g_assert_cmpstr (cd, ==, a.iso);
    g_assert_cmpstr (third, ==, a.iso);
  }
  for (unsigned off = 0; off < 0x100 + VMM_AHCI_PORTS * 0x80; off += 4)
    g_assert_cmphex (rd (&b, off), ==, rd (&a, off));

  /* B goes on as A: the interrupt acknowledged, a command run on the
   * lists A's driver set up, the CD-ROM's sense, lock and disc news */
  wr (&b, PX (DISK_PORT, PX_IS), IS_DHRS);
  wr (&b, IS, 1u << DISK_PORT);
  g_assert_false (b.irq.level);
  wr (&b, GHC, 0);
  {
    const uint8_t *id;

    fis_h2d (cfis, 0xec, 0, 0);
    g_assert_cmphex (run (&b, DISK_PORT, 1, cfis, NULL, &prd, 1, 0) & IS_TFES, ==, 0);
    id = vmm_test_ptr (&b.ram.mem, DATA, 512);
    g_assert_cmphex (viv_get_le16 (&id[88 * 2]) & 0x7f00, ==, 1u << 14);   /* UDMA 6 */
  }
  g_assert_cmphex (held_sense (&b, CD_PORT), ==, held_sense (&a, CD_PORT));
  g_assert_cmpint (vmm_ahci_eject_medium (b.ahci, CD_PORT, false), ==, -EBUSY);
  gesn (&b, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 2);

  /* A controller whose third drive is empty gets the disc back, and the
   * guest the news it had not heard yet */
  fx_init (&c, false);
  g_assert_true (vmm_pci_host_load (&c.pci, sa.file, "pci", true, &error));
  g_assert_true (vmm_ahci_load (c.ahci, sa.file, "ahci", true, &error));
  g_assert_no_error (error);
  {
    g_autofree char *third = vmm_ahci_dup_medium_path (c.ahci, EMPTY_PORT);

    g_assert_cmpstr (third, ==, a.iso);
  }
  gesn (&c, EMPTY_PORT, &event, &status);
  g_assert_cmphex (event, ==, 2);
  g_assert_cmphex (status & 0x02, ==, 0x02);

  /* The disc file deleted: the load still goes through (a missing disc
   * does not stop a restore), the drives are left empty with their trays
   * closed as saved, and the guest sees the change */
  g_assert_cmpint (g_unlink (a.iso), ==, 0);
  fx_init (&d, false);
  port_start (&d, CD_PORT);
  g_assert_true (vmm_pci_host_load (&d.pci, sa.file, "pci", false, &error));
  g_assert_true (vmm_ahci_load (d.ahci, sa.file, "ahci", false, &error));
  g_assert_true (vmm_pci_host_load (&d.pci, sa.file, "pci", true, &error));
  g_assert_true (vmm_ahci_load (d.ahci, sa.file, "ahci", true, &error));
  g_assert_no_error (error);
  vmm_test_log_expect (d.log_fd, "is gone or changed since the snapshot");
  g_assert_null (vmm_ahci_dup_medium_path (d.ahci, CD_PORT));
  g_assert_null (vmm_ahci_dup_medium_path (d.ahci, EMPTY_PORT));
  g_assert_cmphex (held_sense (&d, CD_PORT), ==, 0x062800);   /* unit attention */
  gesn (&d, CD_PORT, &event, &status);
  g_assert_cmphex (event, ==, 3);
  g_assert_cmphex (status, ==, 0);   /* no disc, tray closed */
  g_assert_cmpint (vmm_ahci_eject_medium (d.ahci, CD_PORT, false), ==, -ENOMEDIUM);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  fx_clear (&a);
  fx_clear (&b);
  fx_clear (&c);
  fx_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ahci/pci", test_pci);
  g_test_add_func ("/ahci/state", test_state);
  g_test_add_func ("/ahci/comreset", test_comreset);
  g_test_add_func ("/ahci/disk/identify", test_identify);
  g_test_add_func ("/ahci/disk/read-write", test_disk_rw);
  g_test_add_func ("/ahci/disk/ncq", test_disk_ncq);
  g_test_add_func ("/ahci/disk/trim-pio", test_disk_trim_pio);
  g_test_add_func ("/ahci/disk/read-only", test_disk_read_only);
  g_test_add_func ("/ahci/malformed", test_malformed);
  g_test_add_func ("/ahci/irq", test_irq);
  g_test_add_func ("/ahci/atapi/commands", test_atapi);
  g_test_add_func ("/ahci/atapi/layout", test_atapi_layout);
  g_test_add_func ("/ahci/atapi/dvd", test_atapi_dvd);
  g_test_add_func ("/ahci/atapi/media", test_atapi_media);
  return g_test_run ();
}
