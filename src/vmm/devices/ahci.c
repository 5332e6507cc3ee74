/* devices/ahci.c: an ICH9-compatible AHCI controller
 *
 * The HBA's registers (AHCI 1.3.1, section 3) live behind BAR 5; vCPUs
 * read and write them under the device lock. A write of PxCI records the
 * slots as pending and kicks the controller's thread, which walks the
 * command list: the command header, the command table's Register H2D FIS
 * (and ATAPI packet), the PRD table. Every guest address and length goes
 * through vmm_mem; a command whose list, table, FIS or PRDs are wrong ends
 * with an error (TFD.ERR, PxIS.TFES), never with a read outside RAM.
 *
 * Disk and medium I/O runs on that thread with the lock dropped (the
 * port is marked busy, so the host's tray calls wait for it). A port reset
 * or a stop of its command engine in the meantime bumps its generation:
 * the command's data still lands, its completion is dropped.
 *
 * Completion as a SATA device and the HBA show it: a D2H Register FIS (and
 * a PIO Setup FIS for PIO data-in) in the received-FIS area, a Set Device
 * Bits FIS for NCQ, PxTFD, PxCI/PxSACT bits cleared, PxIS bits raised.
 * Like QEMU's, a failed command is retired too (its CI bit cleared) rather
 * than halting the port until the driver restarts it: firmware that never
 * restarts a port (SeaBIOS after an ATAPI CHECK CONDITION) keeps working.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/ahci.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "devices/atapi.h"
#include "kvm/kvm.h"
#include "log.h"
#include "loop.h"
#include "viv-bytes.h"

#define ICH9_VENDOR           0x8086
#define ICH9_AHCI_DEVICE      0x2922
#define PCI_CLASS_SATA_AHCI   0x010601
#define ABAR                  5
#define ABAR_SIZE             0x1000

/* ---- registers ----------------------------------------------------------- */

#define HBA_CAP        0x00
#define HBA_GHC        0x04
#define HBA_IS         0x08
#define HBA_PI         0x0c
#define HBA_VS         0x10
#define HBA_CAP2       0x24
#define PORT_BASE      0x100
#define PORT_STRIDE    0x80

#define CAP_S64A       (1u << 31)
#define CAP_SNCQ       (1u << 30)
#define CAP_SAM        (1u << 18)   /* AHCI only: GHC.AE is 1 */
#define CAP_ISS_GEN1   (1u << 20)
#define CAP_VALUE      (CAP_S64A | CAP_SNCQ | CAP_SAM | CAP_ISS_GEN1 | (31u << 8) | \
                        (VMM_AHCI_PORTS - 1))

#define GHC_HR         (1u << 0)
#define GHC_IE         (1u << 1)
#define GHC_AE         (1u << 31)

#define PX_CLB         0x00
#define PX_CLBU        0x04
#define PX_FB          0x08
#define PX_FBU         0x0c
#define PX_IS          0x10
#define PX_IE          0x14
#define PX_CMD         0x18
#define PX_TFD         0x20
#define PX_SIG         0x24
#define PX_SSTS        0x28
#define PX_SCTL        0x2c
#define PX_SERR        0x30
#define PX_SACT        0x34
#define PX_CI          0x38
#define PX_SNTF        0x3c

#define PXIS_DHRS      (1u << 0)
#define PXIS_PSS       (1u << 1)
#define PXIS_SDBS      (1u << 3)
#define PXIS_TFES      (1u << 30)
#define PXIS_MASK      0xfdc000ffu

#define PXCMD_ST       (1u << 0)
#define PXCMD_SUD      (1u << 1)
#define PXCMD_POD      (1u << 2)
#define PXCMD_CLO      (1u << 3)
#define PXCMD_FRE      (1u << 4)
#define PXCMD_FR       (1u << 14)
#define PXCMD_CR       (1u << 15)
#define PXCMD_ATAPI    (1u << 24)
#define PXCMD_ICC      (0xfu << 28)
#define PXCMD_CCS_SHIFT 8

#define SSTS_UP        0x113         /* device present, Gen1, active */

#define SIG_DISK       0x00000101u
#define SIG_ATAPI      0xeb140101u

/* ATA status and error bits */
#define ST_ERR         0x01
#define ST_DRQ         0x08
#define ST_DSC         0x10
#define ST_DRDY        0x40
#define ST_BSY         0x80
#define ER_ABRT        0x04
#define ER_IDNF        0x10
#define ER_UNC         0x40

/* ---- command list structures ------------------------------------------------ */

#define CMD_HDR_SIZE   32
#define CMD_CFL_MASK   0x1f
#define CMD_ATAPI      (1u << 5)
#define CMD_WRITE      (1u << 6)
#define CT_CFIS        0x00
#define CT_ACMD        0x40
#define CT_PRDT        0x80
#define PRD_SIZE       16
#define PRD_DBC_MASK   0x3fffff      /* byte count - 1: 4 MiB per entry */

#define FIS_REG_H2D    0x27
#define FIS_REG_D2H    0x34
#define FIS_SDB        0xa1
#define FIS_PIO_SETUP  0x5f
#define RFIS_PSFIS     0x20
#define RFIS_RFIS      0x40
#define RFIS_SDBFIS    0x58
#define RFIS_SIZE      256

#define SECTOR         512u
#define MAX_IOV        1024

struct ahci_port {
  struct vmm_ahci *ahci;
  unsigned index;
  enum vmm_ahci_kind kind;
  struct vmm_block *block;      /* a disk's image; a CD-ROM's is cd.medium */
  struct atapi_state cd;
  char model[41], serial[21];
  uint64_t sectors;             /* disk: of 512 bytes */
  bool read_only;

  uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;
  uint32_t pending;             /* CI bits the thread has not taken yet */
  bool busy;                    /* a command's I/O runs without the lock */
  bool sig_posted;              /* the reset's D2H FIS is in the received-FIS area */
  unsigned generation;          /* bumped by resets and stops: drop completions */
  bool write_cache;
  uint8_t udma;                 /* SET FEATURES transfer mode: 0x40 | mode */
};

struct vmm_ahci {
  struct vmm_pci_device pci;
  struct vmm_ahci_env env;
  pthread_mutex_t lock;
  pthread_cond_t idle;          /* a port stopped being busy */
  struct vmm_loop loop;
  int kick_fd;
  int msi_fd;
  unsigned msi_gsi;
  bool msi_gsi_ok;
  uint8_t msi_cap;
  bool msi_enabled, intx_disabled, intx_level;
  bool msi_routed;
  uint64_t msi_address;
  uint32_t msi_data;
  bool bar_mapped;
  uint64_t bar_addr;
  uint32_t ghc, is;
  bool running;                 /* the thread is walking command lists */
  bool hr_waiting;              /* GHC.HR reads 1 until the I/O running now ends */
  struct ahci_port ports[VMM_AHCI_PORTS];
  vmm_ahci_eject_fn eject_fn;
  void *eject_data;
  struct vmm_ratelimit rl, io_rl;
};

/* ---- interrupts ---------------------------------------------------------------- */

/* Lock held. EDGE: something new is pending, worth an MSI. */
static void
update_irq (struct vmm_ahci *ahci, bool edge)
{
  bool pending = (ahci->ghc & GHC_IE) && ahci->is != 0;
  bool level = pending && !ahci->msi_enabled && !ahci->intx_disabled;

  if (pending && edge && ahci->msi_enabled && ahci->msi_fd >= 0)
    {
      uint64_t one = 1;

      if (write (ahci->msi_fd, &one, sizeof one) != sizeof one)
        vmm_log_limited (&ahci->io_rl, VMM_LOG_WARNING, "ahci: cannot signal the MSI");
    }
  if (level != ahci->intx_level)
    {
      ahci->intx_level = level;
      vmm_irq_line_set (&ahci->env.intx, level);
    }
}

/* Lock held. Re-derives the HBA's IS bit of port P from PxIS & PxIE. */
static void
port_update_irq (struct ahci_port *p, bool edge)
{
  struct vmm_ahci *ahci = p->ahci;

  if (p->is & p->ie)
    {
      ahci->is |= 1u << p->index;
      update_irq (ahci, edge);
    }
  else
    update_irq (ahci, false);
}

static void
port_raise (struct ahci_port *p, uint32_t bits)
{
  p->is |= bits;
  port_update_irq (p, (bits & p->ie) != 0);
}

/* ---- FIS ------------------------------------------------------------------------- */

static uint64_t
port_fb (const struct ahci_port *p)
{
  return (uint64_t) p->fbu << 32 | p->fb;
}

/* Lock held. Writes LEN bytes of FIS at OFFSET of the received-FIS area,
 * when FIS receive is on. */
static void
post_fis (struct ahci_port *p, unsigned offset, const uint8_t *fis, unsigned len)
{
  if (!(p->cmd & PXCMD_FRE))
    return;
  if (vmm_mem_write (p->ahci->env.mem, port_fb (p) + offset, fis, len) < 0)
    vmm_log_guest (&p->ahci->rl, "ahci: port %u: received-FIS area %#llx is not in RAM",
                   p->index, (unsigned long long) port_fb (p));
}

static void
post_d2h (struct ahci_port *p, uint8_t status, uint8_t error, const uint8_t *regs)
{
  uint8_t fis[20] = { FIS_REG_D2H, 0x40, status, error };

  if (regs != NULL)
    memcpy (&fis[4], regs, 10);   /* LBA, device, LBA (exp), count */
  post_fis (p, RFIS_RFIS, fis, sizeof fis);
}

/* The signature a device sends after a reset, in a D2H FIS's registers */
static void
signature_regs (const struct ahci_port *p, uint8_t regs[10])
{
  memset (regs, 0, 10);
  regs[0] = 1;                                  /* LBA low */
  if (p->kind == VMM_AHCI_CDROM)
    {
      regs[1] = 0x14;
      regs[2] = 0xeb;
    }
  regs[8] = 1;                                  /* count */
}

/* ---- resets ------------------------------------------------------------------------- */

static uint8_t
ready_status (const struct ahci_port *p)
{
  return p->kind == VMM_AHCI_CDROM ? 0 : ST_DRDY | ST_DSC;
}

/* Lock held. The device side of a reset: signature, status, features. */
static void
device_reset (struct ahci_port *p)
{
  if (p->kind == VMM_AHCI_NONE)
    {
      p->sig = 0xffffffffu;
      p->tfd = 0x7f;
      p->ssts = 0;
      return;
    }
  p->sig = p->kind == VMM_AHCI_CDROM ? SIG_ATAPI : SIG_DISK;
  p->tfd = 1u << 8 | ready_status (p);   /* diagnostics passed */
  p->ssts = SSTS_UP;
  p->write_cache = true;
  p->udma = 0x45;
  p->sig_posted = false;
}

static void
post_signature (struct ahci_port *p)
{
  uint8_t regs[10];

  signature_regs (p, regs);
  post_d2h (p, ready_status (p), 1, regs);
  p->sig_posted = true;
}

/* Lock held. The command engine stops: nothing is pending any more and
 * completions of what runs are dropped. */
static void
port_stop_engine (struct ahci_port *p)
{
  p->ci = 0;
  p->sact = 0;
  p->pending = 0;
  p->cmd &= ~(PXCMD_CR | (0x1fu << PXCMD_CCS_SHIFT));
  p->generation++;
}

static void
port_reset (struct ahci_port *p)
{
  p->clb = p->clbu = p->fb = p->fbu = 0;
  p->is = p->ie = 0;
  p->cmd = PXCMD_SUD | PXCMD_POD | (p->kind == VMM_AHCI_CDROM ? PXCMD_ATAPI : 0);
  p->sctl = p->serr = 0;
  port_stop_engine (p);
  device_reset (p);
}

static void
hba_reset (struct vmm_ahci *ahci)
{
  ahci->ghc = GHC_AE;
  ahci->is = 0;
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    port_reset (&ahci->ports[i]);
  update_irq (ahci, false);
}

/* ---- IDENTIFY ---------------------------------------------------------------------- */

static void
id_string (uint16_t *id, unsigned word, const char *s, unsigned len)
{
  size_t n = strlen (s);

  for (unsigned i = 0; i < len; i += 2)
    {
      uint8_t a = i < n ? (uint8_t) s[i] : ' ', b = i + 1 < n ? (uint8_t) s[i + 1] : ' ';

      id[word + i / 2] = (uint16_t) (a << 8 | b);
    }
}

/* The integrity word: the 512 bytes sum to 0 */
static void
id_finish (uint16_t *id, uint8_t *buf)
{
  uint8_t sum = 0;

  id[255] = 0xa5;
  for (unsigned i = 0; i < 256; i++)
    viv_put_le16 (&buf[2 * i], id[i]);
  for (unsigned i = 0; i < 511; i++)
    sum = (uint8_t) (sum + buf[i]);
  buf[511] = (uint8_t) -sum;
}

static void
identify_disk (const struct ahci_port *p, uint8_t *buf)
{
  uint16_t id[256] = { 0 };
  uint64_t n = p->sectors, lba28 = MIN (n, 0x0fffffffu);
  uint64_t cyl = MIN (n / (16 * 63), 16383);

  id[0] = 0x0040;                       /* fixed device */
  id[1] = (uint16_t) cyl;
  id[3] = 16;
  id[6] = 63;
  id_string (id, 10, p->serial, 20);
  id_string (id, 23, "1.0", 8);
  id_string (id, 27, p->model, 40);
  id[47] = 0x8000 | 16;                 /* READ/WRITE MULTIPLE: 16 sectors */
  id[49] = 0x0b00;                      /* IORDY, LBA, DMA */
  id[53] = 0x0006;                      /* words 64-70 and 88 valid */
  id[54] = (uint16_t) cyl;
  id[55] = 16;
  id[56] = 63;
  id[57] = (uint16_t) (cyl * 16 * 63);
  id[58] = (uint16_t) ((cyl * 16 * 63) >> 16);
  id[59] = 0x0100 | 16;
  id[60] = (uint16_t) lba28;
  id[61] = (uint16_t) (lba28 >> 16);
  id[63] = 0x0007;                      /* multiword DMA 0-2 */
  id[64] = 0x0003;                      /* PIO 3-4 */
  id[65] = id[66] = id[67] = id[68] = 120;
  id[75] = 31;                          /* queue depth 32 */
  id[76] = 0x0102;                      /* NCQ, SATA Gen1 */
  id[80] = 0x01f0;                      /* ATA/ATAPI-4 to ATA8-ACS */
  id[82] = 0x4020;                      /* NOP, write cache */
  id[83] = 0x7400;                      /* FLUSH CACHE (EXT), LBA48 */
  id[84] = 0x4000;
  id[85] = (uint16_t) (0x4000 | (p->write_cache ? 0x0020 : 0));
  id[86] = 0x3400;
  id[87] = 0x4000;
  id[88] = (uint16_t) (0x007f | (p->udma >= 0x40 && p->udma <= 0x46
                                 ? 1u << (8 + (p->udma & 7)) : 0));
  id[93] = 0;
  id[100] = (uint16_t) n;
  id[101] = (uint16_t) (n >> 16);
  id[102] = (uint16_t) (n >> 32);
  id[103] = (uint16_t) (n >> 48);
  id[106] = 0x4000;                     /* 512-byte sectors */
  if (!p->read_only)
    {
      id[105] = 1;                      /* DSM: one 512-byte block of ranges */
      id[169] = 0x0001;                 /* TRIM */
    }
  id[217] = 1;                          /* not rotating */
  id_finish (id, buf);
}

static void
identify_packet (const struct ahci_port *p, uint8_t *buf)
{
  uint16_t id[256] = { 0 };

  id[0] = 0x85c0;                       /* ATAPI, CD-ROM, removable, 12-byte packets */
  id_string (id, 10, p->serial, 20);
  id_string (id, 23, "1.0", 8);
  id_string (id, 27, p->model, 40);
  id[49] = 0x0b00;                      /* IORDY, LBA, DMA */
  id[53] = 0x0006;
  id[63] = 0x0007;
  id[64] = 0x0003;
  id[65] = id[66] = id[67] = id[68] = 120;
  id[71] = 30;
  id[72] = 30;
  id[76] = 0x0002;                      /* SATA Gen1 */
  id[80] = 0x01f0;
  id[82] = 0x4214;                      /* NOP, DEVICE RESET, PACKET, removable */
  id[83] = 0x4000;
  id[84] = 0x4000;
  id[85] = 0x4214;
  id[86] = 0x0000;
  id[87] = 0x4000;
  id[88] = (uint16_t) (0x007f | (p->udma >= 0x40 && p->udma <= 0x46
                                 ? 1u << (8 + (p->udma & 7)) : 0));
  id_finish (id, buf);
}

/* ---- a command ------------------------------------------------------------------------- */

struct ahci_cmd {
  struct ahci_port *p;
  unsigned slot;
  uint64_t hdr_gpa;
  uint32_t flags;               /* the header's DW0 */
  uint64_t table;
  uint8_t cfis[64];
  uint8_t acmd[16];
  struct iovec *iov;            /* the PRDs, cut to the transfer */
  int n_iov;
  uint64_t prd_bytes;           /* what the PRDs hold, in all */
  uint64_t transferred;         /* PRDBC */
  /* the outcome */
  uint8_t status, error;
  bool pio, ncq, atapi_reason;
  unsigned tag;
  const uint8_t *regs;          /* D2H registers (a signature), or NULL */
  uint8_t sig[10];
};

/* Maps the PRD table to host memory, for LEN bytes of transfer. Returns 0,
 * -EFAULT (a PRD or the table outside RAM) or -ENOSPC (the PRDs hold less
 * than LEN). */
static int
map_prdt (struct ahci_cmd *c, uint64_t len)
{
  const struct vmm_mem *mem = c->p->ahci->env.mem;
  unsigned prdtl = c->flags >> 16;
  const uint8_t *prdt;
  uint64_t left = len;

  c->n_iov = 0;
  c->prd_bytes = 0;
  if (len == 0)
    return 0;
  if (prdtl == 0)
    return -ENOSPC;
  prdt = vmm_mem_ptr (mem, c->table + CT_PRDT, (uint64_t) prdtl * PRD_SIZE);
  if (prdt == NULL)
    return -EFAULT;
  c->iov = calloc (MIN (prdtl, (len + 1) / 2 + 1), sizeof *c->iov);
  if (c->iov == NULL)
    return -ENOMEM;
  for (unsigned i = 0; i < prdtl && left > 0; i++)
    {
      const uint8_t *e = &prdt[i * PRD_SIZE];
      uint64_t dba = viv_get_le64 (e);
      uint64_t dbc = (viv_get_le32 (&e[12]) & PRD_DBC_MASK) + 1;
      uint64_t take = MIN (dbc, left);
      void *host = vmm_mem_ptr (mem, dba, take);

      if (host == NULL)
        return -EFAULT;
      c->iov[c->n_iov++] = (struct iovec) { host, take };
      c->prd_bytes += take;
      left -= take;
    }
  return left > 0 ? -ENOSPC : 0;
}

/* Copies LEN bytes of BUF to the PRDs (as many as they hold). */
static void
copy_to_prds (struct ahci_cmd *c, const uint8_t *buf, uint64_t len)
{
  uint64_t done = 0;

  for (int i = 0; i < c->n_iov && done < len; i++)
    {
      size_t n = MIN (c->iov[i].iov_len, len - done);

      memcpy (c->iov[i].iov_base, buf + done, n);
      done += n;
    }
  c->transferred = done;
}

/* Synchronous block I/O over any number of iovecs */
static int
block_rw (struct vmm_block *block, struct iovec *iov, int n, uint64_t offset, bool write)
{
  while (n > 0)
    {
      int chunk = MIN (n, MAX_IOV);
      uint64_t bytes = 0;
      int ret;

      for (int i = 0; i < chunk; i++)
        bytes += iov[i].iov_len;
      ret = write ? vmm_block_pwritev (block, iov, chunk, offset)
                  : vmm_block_preadv (block, iov, chunk, offset);
      if (ret < 0)
        return ret;
      iov += chunk;
      n -= chunk;
      offset += bytes;
    }
  return 0;
}

static void
cmd_fail (struct ahci_cmd *c, uint8_t error)
{
  c->status = ST_DRDY | ST_ERR;
  c->error = error;
}

/* Lock held on entry and exit; dropped around I/O. Returns false when the
 * port was reset meanwhile (the completion is dropped). */
static bool
run_io (struct ahci_cmd *c, struct vmm_block *block, uint64_t offset, bool write,
        bool flush, int *result)
{
  struct ahci_port *p = c->p;
  struct vmm_ahci *ahci = p->ahci;
  unsigned generation = p->generation;
  int ret = 0;

  p->busy = true;
  pthread_mutex_unlock (&ahci->lock);
  if (c->n_iov > 0)
    ret = block_rw (block, c->iov, c->n_iov, offset, write);
  if (ret == 0 && flush)
    ret = vmm_block_flush (block);
  pthread_mutex_lock (&ahci->lock);
  p->busy = false;
  pthread_cond_broadcast (&ahci->idle);
  *result = ret;
  if (ret < 0)
    vmm_log_limited (&ahci->io_rl, VMM_LOG_WARNING, "ahci: port %u: %s at %llu failed: %s",
                     p->index, flush && c->n_iov == 0 ? "flush" : write ? "write" : "read",
                     (unsigned long long) offset, g_strerror (-ret));
  return generation == p->generation;
}

/* READ/WRITE (DMA, PIO, FPDMA) of COUNT sectors at LBA */
static bool
disk_rw (struct ahci_cmd *c, uint64_t lba, uint64_t count, bool write, bool fua)
{
  struct ahci_port *p = c->p;
  int ret;

  if (lba + count > p->sectors)
    {
      cmd_fail (c, ER_IDNF | ER_ABRT);
      return true;
    }
  if (write && p->read_only)
    {
      cmd_fail (c, ER_ABRT);
      return true;
    }
  ret = map_prdt (c, count * SECTOR);
  if (ret < 0)
    {
      vmm_log_guest (&p->ahci->rl, "ahci: port %u slot %u: PRD table %s", p->index, c->slot,
                     ret == -EFAULT ? "outside RAM" : "too short for the transfer");
      cmd_fail (c, ER_ABRT);
      return true;
    }
  if (!run_io (c, p->block, lba * SECTOR, write, fua || (write && !p->write_cache), &ret))
    return false;
  if (ret < 0)
    cmd_fail (c, write ? ER_ABRT : ER_UNC | ER_ABRT);
  else
    c->transferred = count * SECTOR;
  return true;
}

static bool
disk_flush (struct ahci_cmd *c)
{
  int ret;

  c->n_iov = 0;
  if (!run_io (c, c->p->block, 0, true, true, &ret))
    return false;
  if (ret < 0)
    cmd_fail (c, ER_ABRT);
  return true;
}

/* DATA SET MANAGEMENT, TRIM: COUNT blocks of 64 ranges (LBA 48 bits, length 16) */
static bool
disk_trim (struct ahci_cmd *c, uint64_t count)
{
  struct ahci_port *p = c->p;
  g_autofree uint8_t *ranges = NULL;
  unsigned generation = p->generation;
  int ret = 0;

  if (!(c->cfis[3] & 1) || p->read_only || count == 0 || count > 1)
    {
      cmd_fail (c, ER_ABRT);
      return true;
    }
  if (map_prdt (c, count * SECTOR) < 0)
    {
      cmd_fail (c, ER_ABRT);
      return true;
    }
  ranges = g_malloc (SECTOR);
  for (int i = 0, done = 0; i < c->n_iov; done += (int) c->iov[i].iov_len, i++)
    memcpy (ranges + done, c->iov[i].iov_base, c->iov[i].iov_len);
  c->transferred = SECTOR;
  p->busy = true;
  pthread_mutex_unlock (&p->ahci->lock);
  for (unsigned i = 0; i < SECTOR / 8 && ret == 0; i++)
    {
      uint64_t e = viv_get_le64 (&ranges[8 * i]);
      uint64_t lba = e & 0xffffffffffffull, n = e >> 48;

      if (n == 0)
        continue;
      if (lba + n > p->sectors)
        ret = -EINVAL;
      else
        {
          ret = vmm_block_discard (p->block, lba * SECTOR, n * SECTOR);
          if (ret == -ENOTSUP || ret == -EOPNOTSUPP)
            ret = 0;   /* TRIM is a hint */
        }
    }
  pthread_mutex_lock (&p->ahci->lock);
  p->busy = false;
  pthread_cond_broadcast (&p->ahci->idle);
  if (ret < 0)
    cmd_fail (c, ret == -EINVAL ? ER_IDNF | ER_ABRT : ER_ABRT);
  return generation == p->generation;
}

static uint64_t
lba28 (const uint8_t *f)
{
  return f[4] | f[5] << 8 | f[6] << 16 | (uint64_t) (f[7] & 0x0f) << 24;
}

static uint64_t
lba48 (const uint8_t *f)
{
  return f[4] | f[5] << 8 | f[6] << 16 | (uint64_t) f[8] << 24 | (uint64_t) f[9] << 32 |
         (uint64_t) f[10] << 40;
}

static bool
run_disk (struct ahci_cmd *c)
{
  struct ahci_port *p = c->p;
  const uint8_t *f = c->cfis;
  uint8_t buf[ATAPI_BUF_SIZE];
  uint64_t count28 = f[12] ? f[12] : 256;
  uint64_t count48 = viv_get_le16 (&f[12]) ? viv_get_le16 (&f[12]) : 65536;

  switch (f[2])
    {
    case 0xec:   /* IDENTIFY DEVICE */
      identify_disk (p, buf);
      if (map_prdt (c, SECTOR) == -EFAULT)
        {
          cmd_fail (c, ER_ABRT);
          break;
        }
      copy_to_prds (c, buf, SECTOR);
      c->pio = true;
      break;
    case 0xc8:   /* READ DMA */
    case 0x20:   /* READ SECTORS */
    case 0xc4:   /* READ MULTIPLE */
      c->pio = f[2] != 0xc8;
      return disk_rw (c, lba28 (f), count28, false, false);
    case 0x25:   /* READ DMA EXT */
    case 0x24:   /* READ SECTORS EXT */
    case 0x29:   /* READ MULTIPLE EXT */
      c->pio = f[2] != 0x25;
      return disk_rw (c, lba48 (f), count48, false, false);
    case 0xca:   /* WRITE DMA */
    case 0x30:   /* WRITE SECTORS */
    case 0xc5:   /* WRITE MULTIPLE */
      return disk_rw (c, lba28 (f), count28, true, false);
    case 0x35:   /* WRITE DMA EXT */
    case 0x34:   /* WRITE SECTORS EXT */
    case 0x39:   /* WRITE MULTIPLE EXT */
    case 0x3d:   /* WRITE DMA FUA EXT */
      return disk_rw (c, lba48 (f), count48, true, f[2] == 0x3d);
    case 0x60:   /* READ FPDMA QUEUED */
    case 0x61:   /* WRITE FPDMA QUEUED */
      {
        uint64_t count = (f[3] | f[11] << 8) ? (uint64_t) (f[3] | f[11] << 8) : 65536;

        c->ncq = true;
        c->tag = f[12] >> 3;
        return disk_rw (c, lba48 (f), count, f[2] == 0x61, f[7] & 0x80);
      }
    case 0xe7:   /* FLUSH CACHE */
    case 0xea:   /* FLUSH CACHE EXT */
      return disk_flush (c);
    case 0x40:   /* READ VERIFY SECTORS */
    case 0x42:   /* READ VERIFY SECTORS EXT */
      {
        uint64_t lba = f[2] == 0x40 ? lba28 (f) : lba48 (f);

        if (lba + (f[2] == 0x40 ? count28 : count48) > p->sectors)
          cmd_fail (c, ER_IDNF | ER_ABRT);
        break;
      }
    case 0x06:   /* DATA SET MANAGEMENT */
      return disk_trim (c, viv_get_le16 (&f[12]));
    case 0xef:   /* SET FEATURES */
      switch (f[3])
        {
        case 0x02:
          p->write_cache = true;
          break;
        case 0x82:
          p->write_cache = false;
          break;
        case 0x03:
          p->udma = f[12];
          break;
        case 0x10: case 0x90: case 0xaa: case 0x55: case 0x66: case 0xcc:
          break;
        default:
          cmd_fail (c, ER_ABRT);
        }
      break;
    case 0x90:   /* EXECUTE DEVICE DIAGNOSTIC */
      signature_regs (p, c->sig);
      c->regs = c->sig;
      c->error = 1;
      break;
    case 0xe5:   /* CHECK POWER MODE: active */
      signature_regs (p, c->sig);
      memset (c->sig, 0, sizeof c->sig);
      c->sig[8] = 0xff;
      c->regs = c->sig;
      break;
    case 0xe0: case 0xe1: case 0xe2: case 0xe3:   /* standby and idle */
    case 0xc6:   /* SET MULTIPLE MODE */
    case 0x91:   /* INITIALIZE DEVICE PARAMETERS */
    case 0x10:   /* RECALIBRATE */
      break;
    default:
      cmd_fail (c, ER_ABRT);
      break;
    }
  return true;
}

static bool
run_packet (struct ahci_cmd *c)
{
  struct ahci_port *p = c->p;
  struct vmm_ahci *ahci = p->ahci;
  uint8_t buf[ATAPI_BUF_SIZE];
  struct atapi_result r;
  bool keep = true;

  atapi_command (&p->cd, c->acmd, buf, &r);
  c->atapi_reason = true;
  c->pio = !(c->cfis[3] & 1);
  if (r.check)
    {
      c->status = ST_DRDY | ST_ERR;
      c->error = (uint8_t) (p->cd.sense_key << 4);
      c->pio = false;
    }
  else if (r.read)
    {
      int ret = map_prdt (c, r.read_len);

      if (ret < 0)
        {
          vmm_log_guest (&ahci->rl, "ahci: port %u slot %u: PRD table %s", p->index, c->slot,
                         ret == -EFAULT ? "outside RAM" : "too short for the transfer");
          cmd_fail (c, ER_ABRT);
        }
      else
        {
          keep = run_io (c, p->cd.medium, r.offset, false, false, &ret);
          if (keep && ret < 0)
            {
              atapi_set_sense (&p->cd, ATAPI_SENSE_MEDIUM_ERROR, 0x11, 0x00);
              c->status = ST_DRDY | ST_ERR;
              c->error = ATAPI_SENSE_MEDIUM_ERROR << 4;
            }
          else
            c->transferred = r.read_len;
        }
    }
  else if (r.len > 0)
    {
      if (map_prdt (c, r.len) == -EFAULT)
        cmd_fail (c, ER_ABRT);
      else
        copy_to_prds (c, buf, r.len);
    }
  if (r.ejected != NULL)
    {
      unsigned generation = p->generation;
      vmm_ahci_eject_fn fn = ahci->eject_fn;
      void *fn_data = ahci->eject_data;

      p->busy = true;
      pthread_mutex_unlock (&ahci->lock);
      vmm_block_close (r.ejected);
      if (fn != NULL)
        fn (ahci, p->index, fn_data);
      pthread_mutex_lock (&ahci->lock);
      p->busy = false;
      pthread_cond_broadcast (&ahci->idle);
      keep = keep && generation == p->generation;
    }
  return keep;
}

static bool
run_cdrom (struct ahci_cmd *c)
{
  struct ahci_port *p = c->p;
  uint8_t buf[ATAPI_BUF_SIZE];

  switch (c->cfis[2])
    {
    case 0xa0:   /* PACKET */
      return run_packet (c);
    case 0xa1:   /* IDENTIFY PACKET DEVICE */
      identify_packet (p, buf);
      if (map_prdt (c, SECTOR) == -EFAULT)
        {
          cmd_fail (c, ER_ABRT);
          break;
        }
      copy_to_prds (c, buf, SECTOR);
      c->pio = true;
      break;
    case 0xec:   /* IDENTIFY DEVICE: not an ATA device; say what it is */
    case 0x90:   /* EXECUTE DEVICE DIAGNOSTIC */
    case 0x08:   /* DEVICE RESET */
      signature_regs (p, c->sig);
      c->regs = c->sig;
      if (c->cfis[2] == 0xec)
        cmd_fail (c, ER_ABRT);
      else
        {
          c->status = 0;
          c->error = 1;
        }
      break;
    case 0xef:   /* SET FEATURES */
      if (c->cfis[3] == 0x03)
        p->udma = c->cfis[12];
      break;
    case 0xe5:
    case 0xe0: case 0xe1: case 0xe2: case 0xe3:
      break;
    default:
      cmd_fail (c, ER_ABRT);
      break;
    }
  return true;
}

/* Lock held. Reports C's outcome: FIS, PRDBC, TFD, CI/SACT, interrupts. */
static void
complete (struct ahci_cmd *c)
{
  struct ahci_port *p = c->p;
  uint32_t raise = 0;
  uint8_t prdbc[4];

  viv_put_le32 (prdbc, (uint32_t) c->transferred);
  if (vmm_mem_write (p->ahci->env.mem, c->hdr_gpa + 4, prdbc, sizeof prdbc) < 0)
    vmm_log_guest (&p->ahci->rl, "ahci: port %u: command header left RAM", p->index);
  p->tfd = (uint32_t) c->error << 8 | c->status;
  if (c->ncq && !(c->status & ST_ERR))
    {
      uint8_t fis[8] = { FIS_SDB, 0x40, c->status & 0x77, c->error };

      viv_put_le32 (&fis[4], 1u << c->tag);
      post_fis (p, RFIS_SDBFIS, fis, sizeof fis);
      p->sact &= ~(1u << c->tag);
      raise |= PXIS_SDBS;
    }
  else
    {
      uint8_t regs[10];

      if (c->regs != NULL)
        memcpy (regs, c->regs, sizeof regs);
      else
        {
          memcpy (regs, &c->cfis[4], 4);
          memcpy (&regs[4], &c->cfis[8], 3);
          regs[7] = 0;
          memcpy (&regs[8], &c->cfis[12], 2);
          if (c->atapi_reason)
            {
              regs[8] = 3;   /* interrupt reason: I/O, C/D: the command is done */
              regs[9] = 0;
            }
        }
      if (c->pio && !(c->status & ST_ERR))
        {
          uint8_t fis[20] = { FIS_PIO_SETUP, 0x60, c->status, c->error };

          memcpy (&fis[4], regs, 10);
          fis[15] = c->status;
          viv_put_le16 (&fis[16], (uint16_t) MIN (c->transferred, 0xffff));
          post_fis (p, RFIS_PSFIS, fis, sizeof fis);
          raise |= PXIS_PSS;
        }
      post_d2h (p, c->status, c->error, regs);
      raise |= PXIS_DHRS;
      if (c->ncq)
        p->sact &= ~(1u << c->tag);
    }
  if (c->status & ST_ERR)
    raise |= PXIS_TFES;
  p->ci &= ~(1u << c->slot);
  port_raise (p, raise);
}

/* A Register H2D FIS with C clear: the control register. SRST resets the
 * device; its release sends the signature. */
static void
run_control (struct ahci_port *p, const uint8_t *cfis, unsigned slot)
{
  if (cfis[15] & 0x04)
    {
      device_reset (p);
      p->tfd = ST_BSY;
    }
  else
    {
      device_reset (p);
      post_signature (p);
      port_raise (p, PXIS_DHRS);
    }
  p->ci &= ~(1u << slot);
}

static void
cmd_error (struct ahci_cmd *c, const char *why)
{
  vmm_log_guest (&c->p->ahci->rl, "ahci: port %u slot %u: %s", c->p->index, c->slot, why);
  cmd_fail (c, ER_ABRT);
  complete (c);
}

/* Lock held (dropped around I/O). Runs command SLOT of port P. */
static void
run_command (struct ahci_port *p, unsigned slot)
{
  const struct vmm_mem *mem = p->ahci->env.mem;
  struct ahci_cmd c = { .p = p, .slot = slot, .status = ST_DRDY | ST_DSC };
  uint8_t hdr[16];
  unsigned cfl;
  bool keep = true;

  if (p->kind == VMM_AHCI_NONE)
    {
      p->ci &= ~(1u << slot);
      return;
    }
  if (p->kind == VMM_AHCI_CDROM)
    c.status = ST_DRDY;
  p->cmd = (p->cmd & ~(0x1fu << PXCMD_CCS_SHIFT)) | slot << PXCMD_CCS_SHIFT;
  c.hdr_gpa = ((uint64_t) p->clbu << 32 | p->clb) + (uint64_t) slot * CMD_HDR_SIZE;
  if (vmm_mem_read (mem, c.hdr_gpa, hdr, sizeof hdr) < 0)
    {
      /* Nowhere to write PRDBC: error in TFD and PxIS only */
      vmm_log_guest (&p->ahci->rl, "ahci: port %u: command list %#llx is not in RAM", p->index,
                     (unsigned long long) c.hdr_gpa);
      p->tfd = (uint32_t) ER_ABRT << 8 | ST_DRDY | ST_ERR;
      p->ci &= ~(1u << slot);
      port_raise (p, PXIS_TFES);
      return;
    }
  c.flags = viv_get_le32 (hdr);
  c.table = viv_get_le64 (&hdr[8]) & ~0x7full;
  cfl = c.flags & CMD_CFL_MASK;
  if (cfl < 5 || cfl > 16)
    {
      cmd_error (&c, "command FIS length out of range");
      return;
    }
  if (vmm_mem_read (mem, c.table, c.cfis, sizeof c.cfis) < 0 ||
      vmm_mem_read (mem, c.table + CT_ACMD, c.acmd, sizeof c.acmd) < 0)
    {
      cmd_error (&c, "command table is not in RAM");
      return;
    }
  if (c.cfis[0] != FIS_REG_H2D)
    {
      cmd_error (&c, "command FIS is not a Register H2D FIS");
      return;
    }
  if (!(c.cfis[1] & 0x80))
    {
      run_control (p, c.cfis, slot);
      return;
    }

  if (p->kind == VMM_AHCI_DISK)
    keep = run_disk (&c);
  else
    keep = run_cdrom (&c);
  if (keep)
    complete (&c);
  free (c.iov);
}

/* The controller's thread: PxCI writes kicked it. */
static void
kick_handler (void *opaque, int fd, uint32_t events)
{
  struct vmm_ahci *ahci = opaque;
  bool again = true;

  (void) events;
  vmm_eventfd_drain (fd);
  pthread_mutex_lock (&ahci->lock);
  ahci->running = true;
  while (again)
    {
      again = false;
      for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
        {
          struct ahci_port *p = &ahci->ports[i];
          unsigned slot;

          if (p->pending == 0 || !(p->cmd & PXCMD_ST))
            continue;
          slot = (unsigned) __builtin_ctz (p->pending);
          p->pending &= ~(1u << slot);
          run_command (p, slot);
          again = true;
        }
    }
  ahci->running = false;
  ahci->hr_waiting = false;
  pthread_cond_broadcast (&ahci->idle);
  pthread_mutex_unlock (&ahci->lock);
}

static void
kick (struct vmm_ahci *ahci)
{
  uint64_t one = 1;

  if (write (ahci->kick_fd, &one, sizeof one) != sizeof one)
    vmm_log_limited (&ahci->io_rl, VMM_LOG_WARNING, "ahci: cannot wake the controller");
}

/* ---- MMIO ------------------------------------------------------------------------------ */

static uint32_t
port_read (struct ahci_port *p, unsigned reg)
{
  switch (reg)
    {
    case PX_CLB: return p->clb;
    case PX_CLBU: return p->clbu;
    case PX_FB: return p->fb;
    case PX_FBU: return p->fbu;
    case PX_IS: return p->is;
    case PX_IE: return p->ie;
    case PX_CMD: return p->cmd;
    case PX_TFD: return p->tfd;
    case PX_SIG: return p->sig;
    case PX_SSTS: return p->ssts;
    case PX_SCTL: return p->sctl;
    case PX_SERR: return p->serr;
    case PX_SACT: return p->sact;
    case PX_CI: return p->ci;
    default: return 0;
    }
}

static void
port_write_cmd (struct ahci_port *p, uint32_t v)
{
  uint32_t old = p->cmd;

  p->cmd = (old & ~(PXCMD_ST | PXCMD_FRE | PXCMD_ATAPI | PXCMD_ICC)) |
           (v & (PXCMD_ST | PXCMD_FRE | PXCMD_ATAPI));
  if (v & PXCMD_CLO)
    p->tfd &= ~(uint32_t) (ST_BSY | ST_DRQ);
  if ((p->cmd & PXCMD_FRE) && !(old & PXCMD_FRE))
    {
      p->cmd |= PXCMD_FR;
      if (!p->sig_posted && p->kind != VMM_AHCI_NONE)
        post_signature (p);
    }
  else if (!(p->cmd & PXCMD_FRE))
    p->cmd &= ~PXCMD_FR;
  if ((p->cmd & PXCMD_ST) && !(old & PXCMD_ST))
    p->cmd |= PXCMD_CR;
  else if (!(p->cmd & PXCMD_ST) && (old & PXCMD_ST))
    port_stop_engine (p);
}

static void
port_write (struct ahci_port *p, unsigned reg, uint32_t v)
{
  struct vmm_ahci *ahci = p->ahci;

  switch (reg)
    {
    case PX_CLB: p->clb = v & ~0x3ffu; break;
    case PX_CLBU: p->clbu = v; break;
    case PX_FB: p->fb = v & ~0xffu; break;
    case PX_FBU: p->fbu = v; break;
    case PX_IS:
      p->is &= ~v;
      port_update_irq (p, false);
      break;
    case PX_IE:
      {
        uint32_t newly = v & PXIS_MASK & ~p->ie;

        p->ie = v & PXIS_MASK;
        port_update_irq (p, (newly & p->is) != 0);
        break;
      }
    case PX_CMD:
      port_write_cmd (p, v);
      break;
    case PX_SCTL:
      {
        uint32_t old = p->sctl;

        p->sctl = v & 0xfff;
        if ((v & 0xf) == 1 && (old & 0xf) != 1)   /* COMRESET: the link goes down */
          {
            port_stop_engine (p);
            p->ssts = 0;
            p->tfd = 0x7f;
          }
        else if ((v & 0xf) != 1 && (old & 0xf) == 1)   /* and comes back up */
          {
            device_reset (p);
            if (p->kind != VMM_AHCI_NONE)
              {
                p->serr |= 1u << 26;   /* DIAG.X: the device's first FIS */
                post_signature (p);
              }
          }
        break;
      }
    case PX_SERR: p->serr &= ~v; break;
    case PX_SACT:
      if (p->cmd & PXCMD_ST)
        p->sact |= v;
      break;
    case PX_CI:
      if (p->cmd & PXCMD_ST)
        {
          uint32_t fresh = v & ~p->ci;

          p->ci |= v;
          p->pending |= fresh;
          if (fresh)
            kick (ahci);
        }
      break;
    default:
      break;
    }
}

static uint32_t
reg_read (struct vmm_ahci *ahci, uint64_t offset)
{
  if (offset >= PORT_BASE && offset < PORT_BASE + VMM_AHCI_PORTS * PORT_STRIDE)
    return port_read (&ahci->ports[(offset - PORT_BASE) / PORT_STRIDE],
                      (unsigned) (offset - PORT_BASE) % PORT_STRIDE);
  switch (offset)
    {
    case HBA_CAP: return CAP_VALUE;
    case HBA_GHC: return ahci->ghc | (ahci->hr_waiting ? GHC_HR : 0);
    case HBA_IS: return ahci->is;
    case HBA_PI: return (1u << VMM_AHCI_PORTS) - 1;
    case HBA_VS: return 0x00010301;
    default: return 0;
    }
}

static void
reg_write (struct vmm_ahci *ahci, uint64_t offset, uint32_t v)
{
  if (offset >= PORT_BASE && offset < PORT_BASE + VMM_AHCI_PORTS * PORT_STRIDE)
    {
      port_write (&ahci->ports[(offset - PORT_BASE) / PORT_STRIDE],
                  (unsigned) (offset - PORT_BASE) % PORT_STRIDE, v);
      return;
    }
  switch (offset)
    {
    case HBA_GHC:
      if (v & GHC_HR)
        {
          /* Done at once, but a command whose I/O runs (the lock is
           * free only then) still ends first: HR reads 1 until then, as
           * drivers poll it to know the HBA is quiet. */
          hba_reset (ahci);
          ahci->hr_waiting = ahci->running;
          break;
        }
      {
        bool was = ahci->ghc & GHC_IE;

        ahci->ghc = GHC_AE | (v & GHC_IE);
        update_irq (ahci, !was && (v & GHC_IE));
      }
      break;
    case HBA_IS:
      ahci->is &= ~v;
      /* A port still pending sets its bit again */
      for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
        if (ahci->ports[i].is & ahci->ports[i].ie)
          ahci->is |= 1u << i;
      update_irq (ahci, false);
      break;
    default:
      break;
    }
}

static void
mmio_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_ahci *ahci = opaque;
  uint64_t v;

  if (len != 4 && len != 8 && len != 1 && len != 2)
    return;
  pthread_mutex_lock (&ahci->lock);
  v = reg_read (ahci, offset & ~3ull);
  if (len == 8)
    v |= (uint64_t) reg_read (ahci, (offset & ~3ull) + 4) << 32;
  else
    v >>= 8 * (offset & 3);
  pthread_mutex_unlock (&ahci->lock);
  viv_put_le (data, v, len);
}

static void
mmio_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_ahci *ahci = opaque;
  uint64_t v = viv_get_le (data, len);

  if ((len != 4 && len != 8) || (offset & 3))
    {
      vmm_log_guest (&ahci->rl, "ahci: %u-byte write at %#llx ignored", len,
                     (unsigned long long) offset);
      return;
    }
  pthread_mutex_lock (&ahci->lock);
  reg_write (ahci, offset, (uint32_t) v);
  if (len == 8)
    reg_write (ahci, offset + 4, (uint32_t) (v >> 32));
  pthread_mutex_unlock (&ahci->lock);
}

static const struct vmm_io_ops abar_ops = {
  .read = mmio_read,
  .write = mmio_write,
};

/* ---- PCI ---------------------------------------------------------------------------- */

static void
pci_bar_map (struct vmm_pci_device *pci, unsigned bar, uint64_t addr, bool map)
{
  struct vmm_ahci *ahci = pci->opaque;

  if (bar != ABAR)
    return;
  if (map)
    {
      if (vmm_bus_register (ahci->env.mmio, addr, ABAR_SIZE, &abar_ops, ahci, "ahci") < 0)
        vmm_log_guest (&ahci->rl, "ahci: BAR at %#llx overlaps another device",
                       (unsigned long long) addr);
      else
        {
          ahci->bar_mapped = true;
          ahci->bar_addr = addr;
        }
    }
  else if (ahci->bar_mapped)
    {
      vmm_bus_unregister (ahci->env.mmio, ahci->bar_addr, ahci);
      ahci->bar_mapped = false;
    }
}

/* PCI host lock held. COMMAND's INTx disable and the MSI capability. */
static void
pci_config_write (struct vmm_pci_device *pci, uint32_t offset, uint32_t len)
{
  struct vmm_ahci *ahci = pci->opaque;
  uint64_t address;
  uint32_t data;
  bool enabled;

  (void) offset, (void) len;
  enabled = ahci->msi_cap != 0 && vmm_pci_msi_message (pci, ahci->msi_cap, &address, &data);
  if (enabled && ahci->msi_gsi_ok &&
      (!ahci->msi_routed || address != ahci->msi_address || data != ahci->msi_data))
    {
      int ret = vmm_irq_router_set_msi (ahci->env.router, ahci->msi_gsi, address, data);

      if (ret < 0)
        vmm_log_limited (&ahci->io_rl, VMM_LOG_WARNING, "ahci: cannot route the MSI: %s",
                         g_strerror (-ret));
      else
        {
          ahci->msi_routed = true;
          ahci->msi_address = address;
          ahci->msi_data = data;
        }
    }
  pthread_mutex_lock (&ahci->lock);
  ahci->msi_enabled = enabled;
  ahci->intx_disabled = vmm_pci_get16 (&pci->config[PCI_COMMAND]) & PCI_COMMAND_INTX_DISABLE;
  update_irq (ahci, false);
  pthread_mutex_unlock (&ahci->lock);
}

static const struct vmm_pci_device_ops pci_ops = {
  .config_write = pci_config_write,
  .bar_map = pci_bar_map,
};

/* ---- life cycle ------------------------------------------------------------------------ */

static void
close_blocks (const struct vmm_ahci_port_config *ports)
{
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    if (ports[i].block != NULL)
      vmm_block_close (ports[i].block);
}

/* ---- the media's files ------------------------------------------------------------ */

/* Which file MEDIUM reads from (the path it was opened with) and that
 * file's size and modification time now: into S's record of it. A medium
 * that cannot be told (empty) is recorded as unknown. */
static void
identify_medium (struct atapi_state *s, struct vmm_block *medium)
{
  struct vmm_block_extent e;
  const char *path;
  struct stat st;
  uint64_t len = MIN (vmm_block_size (medium), ATAPI_SECTOR);

  if (len == 0 || vmm_block_map_read (medium, 0, len, &e, 1) < 1 ||
      e.kind != VMM_BLOCK_EXTENT_DATA)
    return;
  path = vmm_block_file_of_fd (medium, e.fd, NULL);
  if (path == NULL || fstat (e.fd, &st) < 0)
    return;
  atapi_set_medium_file (s, g_strdup (path), (uint64_t) st.st_size,
                         (int64_t) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) +
                         st.st_mtim.tv_nsec);
}

/* Whether the file at PATH is still of SIZE bytes, modified at MTIME_NS */
static bool
file_unchanged (const char *path, uint64_t size, int64_t mtime_ns)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && (uint64_t) st.st_size == size &&
         (int64_t) st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st.st_mtim.tv_nsec ==
           mtime_ns;
}

struct vmm_ahci *
vmm_ahci_new (const struct vmm_ahci_env *env, const struct vmm_ahci_port_config *ports,
              GError **error)
{
  struct vmm_ahci *ahci;
  int ret;

  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    if (ports[i].kind == VMM_AHCI_DISK && ports[i].block == NULL)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                     _("SATA port %u has a disk without an image"), i);
        close_blocks (ports);
        return NULL;
      }

  ahci = calloc (1, sizeof *ahci);
  if (ahci == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, g_strerror (ENOMEM));
      close_blocks (ports);
      return NULL;
    }
  ahci->env = *env;
  ahci->kick_fd = ahci->msi_fd = -1;
  pthread_mutex_init (&ahci->lock, NULL);
  pthread_cond_init (&ahci->idle, NULL);

  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      struct ahci_port *p = &ahci->ports[i];
      const struct vmm_ahci_port_config *pc = &ports[i];

      p->ahci = ahci;
      p->index = i;
      p->kind = pc->kind;
      if (p->kind == VMM_AHCI_DISK)
        {
          p->block = pc->block;
          p->sectors = vmm_block_size (p->block) / SECTOR;
          p->read_only = vmm_block_read_only (p->block);
        }
      else if (p->kind == VMM_AHCI_CDROM)
        {
          atapi_set_medium (&p->cd, pc->block);
          if (pc->block != NULL)
            identify_medium (&p->cd, pc->block);
          p->cd.unit_attention = false;   /* in the drive at power-on */
          p->cd.event = ATAPI_EVENT_NONE;
        }
      else if (pc->block != NULL)
        vmm_block_close (pc->block);
      g_strlcpy (p->model, pc->model != NULL ? pc->model
                 : p->kind == VMM_AHCI_CDROM ? "Vivarium DVD-ROM" : "Vivarium HARDDISK",
                 sizeof p->model);
      if (pc->serial != NULL)
        g_strlcpy (p->serial, pc->serial, sizeof p->serial);
      else
        g_snprintf (p->serial, sizeof p->serial, "VIV-SATA-%u", i);
    }
  hba_reset (ahci);

  vmm_pci_device_init (&ahci->pci, ICH9_VENDOR, ICH9_AHCI_DEVICE, PCI_CLASS_SATA_AHCI, 2,
                       0x1af4, 0x1100, &pci_ops, ahci);
  ahci->pci.config[PCI_INTERRUPT_PIN] = 1;   /* INTA */
  vmm_pci_device_set_bar (&ahci->pci, ABAR, ABAR_SIZE, false, false);
  ahci->msi_cap = vmm_pci_device_add_msi (&ahci->pci);

  ret = vmm_irq_router_alloc_msi (env->router, &ahci->msi_gsi);
  if (ret == 0)
    {
      ahci->msi_gsi_ok = true;
      ahci->msi_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (ahci->msi_fd < 0)
        ret = -errno;
      else
        ret = vmm_kvm_irqfd (env->vm_fd, ahci->msi_fd, ahci->msi_gsi, true);
    }
  if (ret < 0)
    goto fail;

  ahci->kick_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ahci->kick_fd < 0)
    {
      ret = -errno;
      goto fail;
    }
  ret = vmm_loop_init (&ahci->loop);
  if (ret < 0)
    goto fail;
  ret = vmm_loop_add (&ahci->loop, ahci->kick_fd, EPOLLIN, kick_handler, ahci);
  if (ret == 0)
    ret = vmm_loop_start (&ahci->loop);
  if (ret < 0)
    {
      vmm_loop_destroy (&ahci->loop);
      goto fail;
    }
  return ahci;

fail:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-ret),
               _("Cannot set up the SATA controller: %s"), g_strerror (-ret));
  if (ahci->msi_fd >= 0)
    {
      vmm_kvm_irqfd (env->vm_fd, ahci->msi_fd, ahci->msi_gsi, false);
      close (ahci->msi_fd);
    }
  if (ahci->msi_gsi_ok)
    vmm_irq_router_free_msi (env->router, ahci->msi_gsi);
  if (ahci->kick_fd >= 0)
    close (ahci->kick_fd);
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      if (ahci->ports[i].block != NULL)
        vmm_block_close (ahci->ports[i].block);
      if (ahci->ports[i].cd.medium != NULL)
        vmm_block_close (ahci->ports[i].cd.medium);
      g_free (ahci->ports[i].cd.path);
    }
  pthread_cond_destroy (&ahci->idle);
  pthread_mutex_destroy (&ahci->lock);
  free (ahci);
  return NULL;
}

struct vmm_pci_device *
vmm_ahci_pci_dev (struct vmm_ahci *ahci)
{
  return &ahci->pci;
}

void
vmm_ahci_set_eject_fn (struct vmm_ahci *ahci, vmm_ahci_eject_fn fn, void *data)
{
  pthread_mutex_lock (&ahci->lock);
  ahci->eject_fn = fn;
  ahci->eject_data = data;
  pthread_mutex_unlock (&ahci->lock);
}

int
vmm_ahci_free (struct vmm_ahci *ahci)
{
  int result = 0;

  if (ahci == NULL)
    return 0;
  vmm_loop_destroy (&ahci->loop);
  if (ahci->bar_mapped)
    vmm_bus_unregister (ahci->env.mmio, ahci->bar_addr, ahci);
  if (ahci->msi_fd >= 0)
    {
      vmm_kvm_irqfd (ahci->env.vm_fd, ahci->msi_fd, ahci->msi_gsi, false);
      close (ahci->msi_fd);
    }
  if (ahci->msi_gsi_ok)
    vmm_irq_router_free_msi (ahci->env.router, ahci->msi_gsi);
  close (ahci->kick_fd);
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      struct vmm_block *b = ahci->ports[i].block != NULL ? ahci->ports[i].block
                                                         : ahci->ports[i].cd.medium;
      int ret;

      g_free (ahci->ports[i].cd.path);
      if (b == NULL)
        continue;
      ret = vmm_block_close (b);
      if (ret < 0 && result == 0)
        result = ret;
    }
  pthread_cond_destroy (&ahci->idle);
  pthread_mutex_destroy (&ahci->lock);
  free (ahci);
  return result;
}

void
vmm_ahci_reset (struct vmm_ahci *ahci)
{
  pthread_mutex_lock (&ahci->lock);
  hba_reset (ahci);
  while (ahci->running)
    pthread_cond_wait (&ahci->idle, &ahci->lock);
  pthread_mutex_unlock (&ahci->lock);
}

/* ---- the host's tray ------------------------------------------------------------------- */

/* Lock held: waits until no command uses port P's medium. */
static void
wait_idle (struct vmm_ahci *ahci, struct ahci_port *p)
{
  while (p->busy)
    pthread_cond_wait (&ahci->idle, &ahci->lock);
}

int
vmm_ahci_insert_medium (struct vmm_ahci *ahci, unsigned port, struct vmm_block *medium)
{
  struct atapi_state file = { 0 };
  struct ahci_port *p;
  int ret = 0;

  g_return_val_if_fail (ahci != NULL && medium != NULL, -EINVAL);
  if (port >= VMM_AHCI_PORTS || ahci->ports[port].kind != VMM_AHCI_CDROM)
    return -ENODEV;
  p = &ahci->ports[port];
  identify_medium (&file, medium);
  pthread_mutex_lock (&ahci->lock);
  wait_idle (ahci, p);
  if (p->cd.medium != NULL)
    {
      ret = -EBUSY;
      g_free (file.path);
    }
  else
    {
      atapi_set_medium (&p->cd, medium);
      atapi_set_medium_file (&p->cd, file.path, file.file_size, file.file_mtime_ns);
    }
  pthread_mutex_unlock (&ahci->lock);
  return ret;
}

int
vmm_ahci_eject_medium (struct vmm_ahci *ahci, unsigned port, bool force)
{
  struct vmm_block *old = NULL;
  struct ahci_port *p;
  int ret = 0;

  g_return_val_if_fail (ahci != NULL, -EINVAL);
  if (port >= VMM_AHCI_PORTS || ahci->ports[port].kind != VMM_AHCI_CDROM)
    return -ENODEV;
  p = &ahci->ports[port];
  pthread_mutex_lock (&ahci->lock);
  wait_idle (ahci, p);
  if (p->cd.medium == NULL)
    ret = -ENOMEDIUM;
  else if (p->cd.prevent && !force)
    {
      p->cd.event = ATAPI_EVENT_EJECT_REQUEST;
      ret = -EBUSY;
    }
  else
    {
      old = p->cd.medium;
      atapi_set_medium (&p->cd, NULL);
    }
  pthread_mutex_unlock (&ahci->lock);
  if (old != NULL)
    vmm_block_close (old);
  return ret;
}

char *
vmm_ahci_dup_medium_path (struct vmm_ahci *ahci, unsigned port)
{
  char *path;

  if (ahci == NULL || port >= VMM_AHCI_PORTS || ahci->ports[port].kind != VMM_AHCI_CDROM)
    return NULL;
  pthread_mutex_lock (&ahci->lock);
  path = g_strdup (ahci->ports[port].cd.path);
  pthread_mutex_unlock (&ahci->lock);
  return path;
}

/* ---- saved state -------------------------------------------------------------------- */

/* 2: a CD-ROM's disc file */
#define STATE_VERSION 2

/* What a port saves: its registers and features; the rest is the host's
 * or derived */
struct saved_port {
  uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact;
  bool sig_posted, write_cache;
  uint8_t udma;
  struct atapi_state cd;
  bool had_medium;
  /* apply: the saved disc, opened to go back in the drive */
  bool swap;
  struct vmm_block *medium;
};

static void
saved_ports_clear (struct saved_port *saved)
{
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      g_clear_pointer (&saved[i].cd.path, g_free);
      if (saved[i].medium != NULL)
        vmm_block_close (saved[i].medium);
      saved[i].medium = NULL;
    }
}

/* For each CD-ROM drive whose disc is not the file the snapshot's was
 * (another file, none, or one changed since): the saved one, opened as
 * InsertMedium opens a disc, or none when it is gone or changed (the
 * guest then hears the disc went). Before the lock: opening a file may
 * take a while. */
static void
reopen_media (struct vmm_ahci *ahci, struct saved_port *saved)
{
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      const struct atapi_state *now = &ahci->ports[i].cd;
      struct saved_port *sp = &saved[i];
      const char *path = sp->cd.path;
      g_autoptr (GError) error = NULL;
      struct vmm_block_open_opts opts = {
        .path = path, .format = VMM_BLOCK_FORMAT_RAW, .read_only = true,
      };

      /* An older section, or a disc that could not be told: as before */
      if (ahci->ports[i].kind != VMM_AHCI_CDROM || (sp->had_medium && path == NULL))
        continue;
      if (now->medium != NULL && path != NULL && g_strcmp0 (now->path, path) == 0 &&
          now->file_size == sp->cd.file_size && now->file_mtime_ns == sp->cd.file_mtime_ns)
        continue;
      sp->swap = true;
      if (path == NULL)
        continue;
      if (!file_unchanged (path, sp->cd.file_size, sp->cd.file_mtime_ns))
        {
          vmm_log_warning ("CD-ROM on SATA port %u: %s is gone or changed since the snapshot; "
                           "the drive is left empty", i, path);
          continue;
        }
      if (vmm_block_open (&sp->medium, &opts, &error) < 0)
        {
          vmm_log_warning ("CD-ROM on SATA port %u: cannot open %s: %s; the drive is left empty",
                           i, path, error->message);
          sp->medium = NULL;
          continue;
        }
      identify_medium (&sp->cd, sp->medium);
    }
}

int
vmm_ahci_save (const struct vmm_ahci *ahci, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &ahci->lock;

  pthread_mutex_lock (lock);
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    if (ahci->ports[i].ci != 0 || ahci->ports[i].pending != 0 || ahci->ports[i].busy)
      {
        pthread_mutex_unlock (lock);
        return -EBUSY;
      }
  if (ahci->running || ahci->hr_waiting)
    {
      pthread_mutex_unlock (lock);
      return -EBUSY;
    }
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u32 (w, ahci->ghc);
  vmm_state_put_u32 (w, ahci->is);
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      const struct ahci_port *p = &ahci->ports[i];

      vmm_state_put_u8 (w, (uint8_t) p->kind);
      vmm_state_put_u32 (w, p->clb);
      vmm_state_put_u32 (w, p->clbu);
      vmm_state_put_u32 (w, p->fb);
      vmm_state_put_u32 (w, p->fbu);
      vmm_state_put_u32 (w, p->is);
      vmm_state_put_u32 (w, p->ie);
      vmm_state_put_u32 (w, p->cmd);
      vmm_state_put_u32 (w, p->tfd);
      vmm_state_put_u32 (w, p->sig);
      vmm_state_put_u32 (w, p->ssts);
      vmm_state_put_u32 (w, p->sctl);
      vmm_state_put_u32 (w, p->serr);
      vmm_state_put_u32 (w, p->sact);
      vmm_state_put_bool (w, p->sig_posted);
      vmm_state_put_bool (w, p->write_cache);
      vmm_state_put_u8 (w, p->udma);
      if (p->kind == VMM_AHCI_CDROM)
        atapi_put (&p->cd, w);
    }
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
  return 0;
}

gboolean
vmm_ahci_load (struct vmm_ahci *ahci, const struct vmm_state_file *f, const char *name,
               bool apply, GError **error)
{
  struct vmm_state_reader r;
  struct saved_port saved[VMM_AHCI_PORTS];
  uint32_t ghc, is;

  struct vmm_block *old[VMM_AHCI_PORTS] = { 0 };

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  memset (saved, 0, sizeof saved);
  ghc = vmm_state_get_u32 (&r);
  is = vmm_state_get_u32 (&r);
  if (ghc != GHC_AE && ghc != (GHC_AE | GHC_IE))
    vmm_state_reader_fail (&r, N_("the SATA controller’s GHC holds a bad value"));
  if (is & ~((1u << VMM_AHCI_PORTS) - 1))
    vmm_state_reader_fail (&r, N_("the SATA controller’s IS names a port it lacks"));
  for (unsigned i = 0; i < VMM_AHCI_PORTS && r.failed == NULL; i++)
    {
      struct saved_port *sp = &saved[i];
      uint8_t kind = vmm_state_get_u8 (&r);

      if (kind != ahci->ports[i].kind)
        {
          vmm_state_reader_fail (&r, N_("the SATA ports are not this machine’s"));
          break;
        }
      sp->clb = vmm_state_get_u32 (&r);
      sp->clbu = vmm_state_get_u32 (&r);
      sp->fb = vmm_state_get_u32 (&r);
      sp->fbu = vmm_state_get_u32 (&r);
      sp->is = vmm_state_get_u32 (&r);
      sp->ie = vmm_state_get_u32 (&r);
      sp->cmd = vmm_state_get_u32 (&r);
      sp->tfd = vmm_state_get_u32 (&r);
      sp->sig = vmm_state_get_u32 (&r);
      sp->ssts = vmm_state_get_u32 (&r);
      sp->sctl = vmm_state_get_u32 (&r);
      sp->serr = vmm_state_get_u32 (&r);
      sp->sact = vmm_state_get_u32 (&r);
      sp->sig_posted = vmm_state_get_bool (&r);
      sp->write_cache = vmm_state_get_bool (&r);
      sp->udma = vmm_state_get_u8 (&r);
      if (kind == VMM_AHCI_CDROM)
        atapi_get (&sp->cd, &sp->had_medium, &r, r.s->version);
      /* As the register writes leave them */
      if ((sp->clb & 0x3ffu) || (sp->fb & 0xffu) || (sp->is & ~PXIS_MASK) ||
          (sp->ie & ~PXIS_MASK) || (sp->sctl & ~0xfffu))
        vmm_state_reader_fail (&r, N_("a SATA port register has reserved bits set"));
    }
  if (!vmm_state_reader_done (&r, error) || !apply)
    {
      saved_ports_clear (saved);
      return r.failed == NULL;
    }

  reopen_media (ahci, saved);
  pthread_mutex_lock (&ahci->lock);
  /* The caller made the controller quiet; a command running would write
   * its completion over what is loaded */
  g_assert (!ahci->running);
  ahci->ghc = ghc;
  ahci->is = is;
  ahci->hr_waiting = false;
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    {
      struct ahci_port *p = &ahci->ports[i];
      struct saved_port *sp = &saved[i];

      g_assert (!p->busy);
      p->clb = sp->clb;
      p->clbu = sp->clbu;
      p->fb = sp->fb;
      p->fbu = sp->fbu;
      p->is = sp->is;
      p->ie = sp->ie;
      p->cmd = sp->cmd;
      p->tfd = sp->tfd;
      p->sig = sp->sig;
      p->ssts = sp->ssts;
      p->sctl = sp->sctl;
      p->serr = sp->serr;
      p->sact = sp->sact;
      p->ci = 0;
      p->pending = 0;
      p->generation++;
      p->sig_posted = sp->sig_posted;
      p->write_cache = sp->write_cache;
      p->udma = sp->udma;
      if (p->kind == VMM_AHCI_CDROM)
        {
          if (sp->swap)
            {
              /* The file's record moves with the medium */
              char *path = sp->medium != NULL ? g_steal_pointer (&sp->cd.path) : NULL;

              old[i] = p->cd.medium;
              atapi_set_medium (&p->cd, g_steal_pointer (&sp->medium));
              atapi_set_medium_file (&p->cd, path, sp->cd.file_size, sp->cd.file_mtime_ns);
            }
          atapi_restore (&p->cd, &sp->cd, sp->had_medium);
        }
    }
  pthread_mutex_unlock (&ahci->lock);
  for (unsigned i = 0; i < VMM_AHCI_PORTS; i++)
    if (old[i] != NULL)
      vmm_block_close (old[i]);
  saved_ports_clear (saved);
  /* What a config write does: the MSI routed as the capability says,
   * INTx disable taken, the line driven where its level changes */
  pci_config_write (&ahci->pci, 0, VMM_PCI_CONFIG_SIZE);
  return TRUE;
}

struct vmm_block *
vmm_ahci_port_block (struct vmm_ahci *ahci, unsigned port)
{
  if (ahci == NULL || port >= VMM_AHCI_PORTS || ahci->ports[port].kind != VMM_AHCI_DISK)
    return NULL;
  return ahci->ports[port].block;
}
