/* firmware/q35.c: the Q35 MCH and ICH9 LPC registers firmware programs
 *
 * Shadowing. The 13 PAM segments of 0xc0000-0xfffff each say where reads
 * and writes go: the RAM under the segment, or the bus (where the BIOS
 * ROM's last 128 KiB answer for 0xe0000-0xfffff, as on a PC). KVM memory
 * slots carry the common cases at full speed: RAM read-write, RAM
 * read-only (a write exits to us and is dropped), the ROM read-only. A
 * write-only segment has no slot; vmm_q35_shadow_ops reads the ROM and
 * writes the RAM for it, as it drops what a read-only segment refuses.
 * Segments that map the same way and are contiguous share one slot.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "firmware/q35.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>

#define PCI_CLASS_BRIDGE_HOST 0x060000
#define PCI_CLASS_BRIDGE_ISA  0x060100

#define ISA_BIOS_BASE   0xe0000ULL
#define ISA_BIOS_SIZE   0x20000ULL
#define SEGMENT_SIZE    0x4000ULL

#define PCIEXBAR_EN     0x1u
#define PCIEXBAR_LENGTH 0x6u        /* 00: 256 MiB, 01: 128, 10: 64 */
#define PCIEXBAR_MASK   0xf0000000ULL

#define PIRQ_ROUTE_OFF  0x80

/* ---- shadowing ------------------------------------------------------------------ */

static void
segment_range (unsigned segment, uint64_t *base, uint64_t *size)
{
  if (segment == 0)
    {
      *base = 0xf0000;
      *size = 0x10000;
    }
  else
    {
      *base = VMM_Q35_SHADOW_BASE + (segment - 1) * SEGMENT_SIZE;
      *size = SEGMENT_SIZE;
    }
}

static enum vmm_q35_pam_mode
segment_mode (const uint8_t *pam, unsigned segment)
{
  uint8_t reg;

  if (segment == 0)
    return (enum vmm_q35_pam_mode) ((pam[0] >> 4) & 3);
  reg = pam[(segment + 1) / 2];
  return (enum vmm_q35_pam_mode) ((segment & 1) ? reg & 3 : (reg >> 4) & 3);
}

/* How a segment is mapped: what backs it and whether writes exit. */
struct mapping {
  uint8_t *host;       /* NULL: no slot */
  bool readonly;
};

static struct mapping
segment_mapping (const struct vmm_q35 *q35, const uint8_t *pam, unsigned segment)
{
  uint64_t base, size;

  segment_range (segment, &base, &size);
  switch (segment_mode (pam, segment))
    {
    case VMM_Q35_PAM_RW:
      return (struct mapping) { q35->config.shadow_ram + (base - VMM_Q35_SHADOW_BASE), false };
    case VMM_Q35_PAM_READ:
      return (struct mapping) { q35->config.shadow_ram + (base - VMM_Q35_SHADOW_BASE), true };
    case VMM_Q35_PAM_OFF:
      if (q35->config.isa_bios != NULL && base >= ISA_BIOS_BASE)
        return (struct mapping) { (uint8_t *) q35->config.isa_bios + (base - ISA_BIOS_BASE),
                                  true };
      return (struct mapping) { NULL, false };
    case VMM_Q35_PAM_WRITE:
    default:
      return (struct mapping) { NULL, false };
    }
}

/* Unmaps the area and maps it again as PAM says. q35->lock held. */
static int
remap_shadow (struct vmm_q35 *q35)
{
  unsigned order[VMM_Q35_PAM_SEGMENTS];
  int ret = 0;

  for (unsigned i = 0; i < q35->n_handles; i++)
    q35->ops->unmap (q35->opaque, q35->handles[i]);
  q35->n_handles = 0;

  /* Segments in address order: 1..12, then 0 (0xf0000) */
  for (unsigned i = 0; i < VMM_Q35_PAM_SEGMENTS - 1; i++)
    order[i] = i + 1;
  order[VMM_Q35_PAM_SEGMENTS - 1] = 0;

  for (unsigned i = 0; i < VMM_Q35_PAM_SEGMENTS;)
    {
      struct mapping m = segment_mapping (q35, q35->pam, order[i]);
      uint64_t base, size, run_size;
      unsigned j = i + 1;
      int handle;

      segment_range (order[i], &base, &size);
      run_size = size;
      if (m.host == NULL)
        {
          i = j;
          continue;
        }
      /* Extend the run while the next segment continues the same memory */
      while (j < VMM_Q35_PAM_SEGMENTS)
        {
          struct mapping n = segment_mapping (q35, q35->pam, order[j]);
          uint64_t nbase, nsize;

          segment_range (order[j], &nbase, &nsize);
          if (n.host != m.host + run_size || n.readonly != m.readonly || nbase != base + run_size)
            break;
          run_size += nsize;
          j++;
        }
      handle = q35->ops->map (q35->opaque, base, run_size, m.host, m.readonly);
      if (handle < 0)
        {
          vmm_log_error ("q35: cannot map %#llx-%#llx for shadowing: %s",
                         (unsigned long long) base, (unsigned long long) (base + run_size - 1),
                         strerror (-handle));
          ret = handle;
        }
      else
        q35->handles[q35->n_handles++] = handle;
      i = j;
    }
  return ret;
}

enum vmm_q35_pam_mode
vmm_q35_pam_mode (struct vmm_q35 *q35, unsigned segment)
{
  enum vmm_q35_pam_mode mode;

  pthread_mutex_lock (&q35->lock);
  mode = segment < VMM_Q35_PAM_SEGMENTS ? segment_mode (q35->pam, segment) : VMM_Q35_PAM_OFF;
  pthread_mutex_unlock (&q35->lock);
  return mode;
}

/* The segment holding ADDR (an offset from VMM_Q35_SHADOW_BASE) */
static unsigned
segment_of (uint64_t offset)
{
  uint64_t addr = VMM_Q35_SHADOW_BASE + offset;

  return addr >= 0xf0000 ? 0 : (unsigned) (offset / SEGMENT_SIZE) + 1;
}

static void
shadow_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;
  uint8_t *out = data;

  pthread_mutex_lock (&q35->lock);
  for (uint32_t i = 0; i < len; i++)
    {
      uint64_t off = offset + i;
      uint64_t addr = VMM_Q35_SHADOW_BASE + off;
      enum vmm_q35_pam_mode mode = segment_mode (q35->pam, segment_of (off));

      if (mode == VMM_Q35_PAM_READ || mode == VMM_Q35_PAM_RW)
        out[i] = q35->config.shadow_ram[off];
      else if (q35->config.isa_bios != NULL && addr >= ISA_BIOS_BASE)
        out[i] = q35->config.isa_bios[addr - ISA_BIOS_BASE];
      else
        out[i] = 0xff;
    }
  pthread_mutex_unlock (&q35->lock);
}

static void
shadow_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;
  const uint8_t *in = data;

  pthread_mutex_lock (&q35->lock);
  for (uint32_t i = 0; i < len; i++)
    {
      uint64_t off = offset + i;
      enum vmm_q35_pam_mode mode = segment_mode (q35->pam, segment_of (off));

      /* Read-only RAM and the ROM drop writes, as the chipset does. */
      if (mode == VMM_Q35_PAM_WRITE || mode == VMM_Q35_PAM_RW)
        q35->config.shadow_ram[off] = in[i];
    }
  pthread_mutex_unlock (&q35->lock);
}

const struct vmm_io_ops vmm_q35_shadow_ops = {
  .read = shadow_read,
  .write = shadow_write,
};

/* ---- the PM block's SMI registers -------------------------------------------------- */

static void
pm_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;
  uint8_t regs[8];

  pthread_mutex_lock (&q35->lock);
  vmm_pci_set32 (regs, q35->smi_en);
  vmm_pci_set32 (regs + 4, q35->smi_sts);
  pthread_mutex_unlock (&q35->lock);
  if (offset + len <= sizeof regs)
    memcpy (data, regs + offset, len);
  else
    memset (data, 0, len);
}

static void
pm_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;
  uint8_t regs[8];

  if (offset + len > sizeof regs)
    return;
  pthread_mutex_lock (&q35->lock);
  vmm_pci_set32 (regs, q35->smi_en);
  vmm_pci_set32 (regs + 4, q35->smi_sts);
  for (uint32_t i = 0; i < len; i++)
    {
      uint8_t v = ((const uint8_t *) data)[i];

      if (offset + i < 4)
        regs[offset + i] = v;
      else
        regs[offset + i] &= (uint8_t) ~v;     /* SMI_STS: write one to clear */
    }
  /* No SMM here: APMC_EN stays set, which tells SeaBIOS that SMM was
   * already set up (so it never raises an SMI through port 0xb2). */
  q35->smi_en = vmm_pci_get32 (regs) | VMM_Q35_SMI_EN_APMC;
  q35->smi_sts = vmm_pci_get32 (regs + 4);
  pthread_mutex_unlock (&q35->lock);
}

const struct vmm_io_ops vmm_q35_pm_ops = {
  .read = pm_read,
  .write = pm_write,
};

/* ---- port 0x92 ------------------------------------------------------------------------ */

static void
port92_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;

  if (offset != 0 || len != 1)
    return;
  pthread_mutex_lock (&q35->lock);
  *(uint8_t *) data = q35->port92;
  pthread_mutex_unlock (&q35->lock);
}

static void
port92_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_q35 *q35 = opaque;
  uint8_t v = *(const uint8_t *) data;
  bool reset;

  if (offset != 0 || len != 1)
    return;
  pthread_mutex_lock (&q35->lock);
  /* Bit 0 going from 0 to 1 resets the CPU; bit 1 is A20, which KVM keeps
   * enabled (no guest we run wants the 8086's wrap-around). */
  reset = (v & 1) && !(q35->port92 & 1);
  q35->port92 = v & 0x02;
  pthread_mutex_unlock (&q35->lock);
  if (reset && q35->ops->reset != NULL)
    q35->ops->reset (q35->opaque);
}

const struct vmm_io_ops vmm_q35_port92_ops = {
  .read = port92_read,
  .write = port92_write,
};

/* ---- PIRQs ---------------------------------------------------------------------------- */

/* The level of ISA IRQ IRQ: every PIRQ routed there, ORed. q35->lock held. */
static bool
isa_level (const struct vmm_q35 *q35, uint8_t irq)
{
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    if (q35->pirq_level[i] && !(q35->pirq_route[i] & PIRQ_ROUTE_OFF) &&
        (q35->pirq_route[i] & 0x0f) == irq)
      return true;
  return false;
}

void
vmm_q35_set_pirq (struct vmm_q35 *q35, unsigned pirq, bool level)
{
  uint8_t route;

  if (pirq >= VMM_Q35_PIRQS)
    return;
  pthread_mutex_lock (&q35->lock);
  if (q35->pirq_level[pirq] == level)
    {
      pthread_mutex_unlock (&q35->lock);
      return;
    }
  q35->pirq_level[pirq] = level;
  route = q35->pirq_route[pirq];
  q35->ops->set_irq (q35->opaque, VMM_Q35_PIRQ_GSI_BASE + pirq, level);
  if (!(route & PIRQ_ROUTE_OFF))
    q35->ops->set_irq (q35->opaque, route & 0x0f, isa_level (q35, route & 0x0f));
  pthread_mutex_unlock (&q35->lock);
}

/* The routing registers changed: move asserted lines. q35->lock held. */
static void
update_routes (struct vmm_q35 *q35, const uint8_t *route)
{
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    {
      uint8_t old = q35->pirq_route[i];

      if (old == route[i])
        continue;
      q35->pirq_route[i] = route[i];
      if (!q35->pirq_level[i])
        continue;
      if (!(old & PIRQ_ROUTE_OFF))
        q35->ops->set_irq (q35->opaque, old & 0x0f, isa_level (q35, old & 0x0f));
      if (!(route[i] & PIRQ_ROUTE_OFF))
        q35->ops->set_irq (q35->opaque, route[i] & 0x0f, true);
    }
}

/* ---- config space ------------------------------------------------------------------ */

static bool
touches (uint32_t offset, uint32_t len, uint32_t reg, uint32_t reg_len)
{
  return offset < reg + reg_len && reg < offset + len;
}

static void
mch_update_ecam (struct vmm_q35 *q35, struct vmm_pci_device *dev)
{
  uint64_t bar = vmm_pci_get32 (&dev->config[VMM_Q35_PCIEXBAR]) |
                 (uint64_t) vmm_pci_get32 (&dev->config[VMM_Q35_PCIEXBAR + 4]) << 32;

  if ((bar & PCIEXBAR_LENGTH) != 0)
    vmm_log_guest (&q35->rl, "q35: PCIEXBAR length %u is not supported; ECAM covers 256 buses",
                   (unsigned) ((bar & PCIEXBAR_LENGTH) >> 1));
  q35->ops->move_ecam (q35->opaque, bar & PCIEXBAR_MASK & ((1ull << 36) - 1),
                       (bar & PCIEXBAR_EN) != 0);
}

static void
mch_config_write (struct vmm_pci_device *dev, uint32_t offset, uint32_t len)
{
  struct vmm_q35 *q35 = dev->opaque;

  if (touches (offset, len, VMM_Q35_PCIEXBAR, 8))
    mch_update_ecam (q35, dev);
  if (touches (offset, len, VMM_Q35_PAM0, 7))
    {
      pthread_mutex_lock (&q35->lock);
      if (memcmp (q35->pam, &dev->config[VMM_Q35_PAM0], sizeof q35->pam) != 0)
        {
          memcpy (q35->pam, &dev->config[VMM_Q35_PAM0], sizeof q35->pam);
          remap_shadow (q35);
        }
      pthread_mutex_unlock (&q35->lock);
    }
}

static const struct vmm_pci_device_ops mch_ops = {
  .config_write = mch_config_write,
};

static void
lpc_update_pm (struct vmm_q35 *q35, struct vmm_pci_device *dev)
{
  uint16_t base = vmm_pci_get16 (&dev->config[VMM_Q35_LPC_PMBASE]) & 0xff80;
  bool enabled = (dev->config[VMM_Q35_LPC_ACPI_CNTL] & VMM_Q35_LPC_ACPI_EN) != 0;

  q35->ops->move_pm (q35->opaque, base, enabled && base != 0);
}

static void
lpc_config_write (struct vmm_pci_device *dev, uint32_t offset, uint32_t len)
{
  struct vmm_q35 *q35 = dev->opaque;

  if (touches (offset, len, VMM_Q35_LPC_PMBASE, 4) || touches (offset, len,
                                                               VMM_Q35_LPC_ACPI_CNTL, 1))
    lpc_update_pm (q35, dev);
  if (touches (offset, len, VMM_Q35_LPC_PIRQA_ROUT, 4) ||
      touches (offset, len, VMM_Q35_LPC_PIRQE_ROUT, 4))
    {
      uint8_t route[VMM_Q35_PIRQS];

      memcpy (route, &dev->config[VMM_Q35_LPC_PIRQA_ROUT], 4);
      memcpy (route + 4, &dev->config[VMM_Q35_LPC_PIRQE_ROUT], 4);
      pthread_mutex_lock (&q35->lock);
      update_routes (q35, route);
      pthread_mutex_unlock (&q35->lock);
    }
}

static const struct vmm_pci_device_ops lpc_ops = {
  .config_write = lpc_config_write,
};

static void
set_wmask16 (struct vmm_pci_device *dev, uint32_t reg, uint16_t mask)
{
  vmm_pci_set16 (&dev->wmask[reg], mask);
}

static void
set_wmask32 (struct vmm_pci_device *dev, uint32_t reg, uint32_t mask)
{
  vmm_pci_set32 (&dev->wmask[reg], mask);
}

int
vmm_q35_init (struct vmm_q35 *q35, struct vmm_pci_device *bridge,
              const struct vmm_q35_config *config, const struct vmm_q35_ops *ops, void *opaque)
{
  struct vmm_pci_device *lpc = &q35->lpc;
  uint64_t tolud = config->low_ram_end;
  int ret;

  memset (q35, 0, sizeof *q35);
  q35->config = *config;
  q35->mch = bridge;
  q35->ops = ops;
  q35->opaque = opaque;
  pthread_mutex_init (&q35->lock, NULL);
  q35->smi_en = VMM_Q35_SMI_EN_APMC;
  q35->port92 = 0x02;
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    q35->pirq_route[i] = PIRQ_ROUTE_OFF;

  /* The MCH, over the PCI host's generic bridge */
  vmm_pci_device_init (bridge, VMM_Q35_MCH_VENDOR, VMM_Q35_MCH_DEVICE, PCI_CLASS_BRIDGE_HOST, 0,
                       0x1af4, 0x1100, &mch_ops, q35);
  vmm_pci_set32 (&bridge->config[VMM_Q35_PCIEXBAR], (uint32_t) config->ecam_base | PCIEXBAR_EN);
  vmm_pci_set32 (&bridge->config[VMM_Q35_PCIEXBAR + 4], (uint32_t) (config->ecam_base >> 32));
  set_wmask32 (bridge, VMM_Q35_PCIEXBAR, 0xf0000007u);
  set_wmask32 (bridge, VMM_Q35_PCIEXBAR + 4, 0xfu);
  for (unsigned i = 0; i < 7; i++)
    bridge->wmask[VMM_Q35_PAM0 + i] = i == 0 ? 0x30 : 0x33;
  /* Without firmware the BIOS area is RAM from the start, as a BIOS that
   * ran would have left it; with firmware it is the ROM, as at reset. */
  if (config->isa_bios == NULL)
    {
      bridge->config[VMM_Q35_PAM0] = 0x30;
      memset (&bridge->config[VMM_Q35_PAM0 + 1], 0x33, 6);
    }
  memcpy (q35->pam, &bridge->config[VMM_Q35_PAM0], sizeof q35->pam);
  bridge->config[VMM_Q35_SMRAM] = 0x02;
  bridge->wmask[VMM_Q35_SMRAM] = 0x78;
  bridge->config[VMM_Q35_ESMRAMC] = 0x38;
  bridge->wmask[VMM_Q35_ESMRAMC] = 0x07;
  vmm_pci_set16 (&bridge->config[VMM_Q35_TOLUD], (uint16_t) ((tolud >> 20) << 4));

  /* The LPC bridge */
  vmm_pci_device_init (lpc, VMM_Q35_MCH_VENDOR, VMM_Q35_LPC_DEVICE, PCI_CLASS_BRIDGE_ISA, 2,
                       0x1af4, 0x1100, &lpc_ops, q35);
  vmm_pci_set32 (&lpc->config[VMM_Q35_LPC_PMBASE], (uint32_t) config->pm_base | 1);
  set_wmask32 (lpc, VMM_Q35_LPC_PMBASE, 0xff80u);
  lpc->config[VMM_Q35_LPC_ACPI_CNTL] = VMM_Q35_LPC_ACPI_EN;
  lpc->wmask[VMM_Q35_LPC_ACPI_CNTL] = 0x87;
  vmm_pci_set32 (&lpc->config[0x48], 1);               /* GPIOBASE: I/O space indicator */
  set_wmask32 (lpc, 0x48, 0xff80u);
  lpc->wmask[0x4c] = 0x10;                             /* GC: GPIO enable */
  for (unsigned i = 0; i < 4; i++)
    {
      lpc->config[VMM_Q35_LPC_PIRQA_ROUT + i] = PIRQ_ROUTE_OFF;
      lpc->config[VMM_Q35_LPC_PIRQE_ROUT + i] = PIRQ_ROUTE_OFF;
      lpc->wmask[VMM_Q35_LPC_PIRQA_ROUT + i] = 0x8f;
      lpc->wmask[VMM_Q35_LPC_PIRQE_ROUT + i] = 0x8f;
    }
  set_wmask16 (lpc, VMM_Q35_LPC_GEN_PMCON_1, 0xffff);
  set_wmask16 (lpc, VMM_Q35_LPC_GEN_PMCON_1 + 2, 0xffff);
  set_wmask16 (lpc, VMM_Q35_LPC_GEN_PMCON_1 + 4, 0xffff);
  /* RCBA: the register is there (Linux's lpc_ich reads it); nothing
   * decodes behind it. */
  set_wmask32 (lpc, VMM_Q35_LPC_RCBA, 0xffffc001u);

  pthread_mutex_lock (&q35->lock);
  ret = remap_shadow (q35);
  pthread_mutex_unlock (&q35->lock);
  return ret;
}

void
vmm_q35_destroy (struct vmm_q35 *q35)
{
  pthread_mutex_destroy (&q35->lock);
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1

void
vmm_q35_save (const struct vmm_q35 *q35, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &q35->lock;
  uint8_t levels = 0;

  pthread_mutex_lock (lock);
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    levels |= (uint8_t) (q35->pirq_level[i] << i);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u32 (w, q35->smi_en);
  vmm_state_put_u32 (w, q35->smi_sts);
  vmm_state_put_u8 (w, q35->port92);
  vmm_state_put_u8 (w, levels);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

/* The ISA IRQs (bit N: IRQ N) the PIRQs hold high. q35->lock held. */
static uint32_t
isa_lines (const struct vmm_q35 *q35)
{
  uint32_t lines = 0;

  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    if (q35->pirq_level[i] && !(q35->pirq_route[i] & PIRQ_ROUTE_OFF))
      lines |= 1u << (q35->pirq_route[i] & 0x0f);
  return lines;
}

gboolean
vmm_q35_load (struct vmm_q35 *q35, const struct vmm_state_file *f, const char *name, bool apply,
              GError **error)
{
  struct vmm_state_reader r;
  uint32_t smi_en, smi_sts, old_isa, new_isa;
  uint8_t port92, levels, route[VMM_Q35_PIRQS];
  bool old_level[VMM_Q35_PIRQS];

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  smi_en = vmm_state_get_u32 (&r);
  smi_sts = vmm_state_get_u32 (&r);
  port92 = vmm_state_get_u8 (&r);
  levels = vmm_state_get_u8 (&r);
  /* No SMM: APMC_EN always reads 1 */
  if (!(smi_en & VMM_Q35_SMI_EN_APMC))
    vmm_state_reader_fail (&r, N_("the chipset’s SMI_EN has APMC_EN clear"));
  if (port92 & ~0x02u)
    vmm_state_reader_fail (&r, N_("port 0x92 holds a bad value"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  /* What guest writes of PCIEXBAR, PMBASE and ACPI_CNTL do */
  mch_update_ecam (q35, q35->mch);
  lpc_update_pm (q35, &q35->lpc);

  memcpy (route, &q35->lpc.config[VMM_Q35_LPC_PIRQA_ROUT], 4);
  memcpy (route + 4, &q35->lpc.config[VMM_Q35_LPC_PIRQE_ROUT], 4);
  pthread_mutex_lock (&q35->lock);
  q35->smi_en = smi_en;
  q35->smi_sts = smi_sts;
  q35->port92 = port92;
  if (memcmp (q35->pam, &q35->mch->config[VMM_Q35_PAM0], sizeof q35->pam) != 0)
    {
      memcpy (q35->pam, &q35->mch->config[VMM_Q35_PAM0], sizeof q35->pam);
      remap_shadow (q35);
    }
  /* The lines as they are driven now, and as they are to be */
  old_isa = isa_lines (q35);
  memcpy (old_level, q35->pirq_level, sizeof old_level);
  memcpy (q35->pirq_route, route, sizeof route);
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    q35->pirq_level[i] = (levels >> i) & 1;
  new_isa = isa_lines (q35);
  for (unsigned i = 0; i < VMM_Q35_PIRQS; i++)
    if (q35->pirq_level[i] != old_level[i])
      q35->ops->set_irq (q35->opaque, VMM_Q35_PIRQ_GSI_BASE + i, q35->pirq_level[i]);
  for (unsigned irq = 0; irq < 16; irq++)
    if ((old_isa ^ new_isa) & (1u << irq))
      q35->ops->set_irq (q35->opaque, irq, (new_isa >> irq) & 1);
  pthread_mutex_unlock (&q35->lock);
  return TRUE;
}
