/* test-q35.c: the Q35 chipset's registers, driven as SeaBIOS and OVMF do
 *
 * Through the PCI host's CF8/CFC ports with the MCH over its bridge and the
 * LPC at 00:1f.0; the VM's side (memory slots, ECAM and PM moves, interrupt
 * lines, reset) is recorded by fakes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "firmware/q35.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define MAX_SLOTS 32

struct slot {
  bool used;
  uint64_t gpa, size;
  uint8_t *host;
  bool readonly;
};

struct fx {
  struct vmm_bus pio;
  struct vmm_pci_host host;
  struct vmm_q35 q35;
  uint8_t *shadow;                 /* the RAM under 0xc0000-0xfffff */
  uint8_t *isa_bios;               /* the ROM's last 128 KiB */
  struct slot slots[MAX_SLOTS];
  unsigned maps, unmaps;
  uint64_t ecam_base;
  bool ecam_on;
  unsigned ecam_moves;
  uint16_t pm_port;
  bool pm_on;
  bool irq[32];
  unsigned irq_changes[32];
  unsigned resets;
};

static int
fake_map (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly)
{
  struct fx *fx = opaque;

  for (int i = 0; i < MAX_SLOTS; i++)
    if (!fx->slots[i].used)
      {
        fx->slots[i] = (struct slot) { true, gpa, size, host, readonly };
        fx->maps++;
        return i;
      }
  return -ENOSPC;
}

static void
fake_unmap (void *opaque, int handle)
{
  struct fx *fx = opaque;

  g_assert_true (handle >= 0 && handle < MAX_SLOTS && fx->slots[handle].used);
  fx->slots[handle].used = false;
  fx->unmaps++;
}

static void
fake_move_ecam (void *opaque, uint64_t base, bool enabled)
{
  struct fx *fx = opaque;

  fx->ecam_base = base;
  fx->ecam_on = enabled;
  fx->ecam_moves++;
}

static void
fake_move_pm (void *opaque, uint16_t port, bool enabled)
{
  struct fx *fx = opaque;

  fx->pm_port = port;
  fx->pm_on = enabled;
}

static void
fake_set_irq (void *opaque, unsigned gsi, bool level)
{
  struct fx *fx = opaque;

  g_assert_cmpuint (gsi, <, 32);
  fx->irq[gsi] = level;
  fx->irq_changes[gsi]++;
}

static void
fake_reset (void *opaque)
{
  ((struct fx *) opaque)->resets++;
}

static const struct vmm_q35_ops fake_ops = {
  .map = fake_map, .unmap = fake_unmap, .move_ecam = fake_move_ecam, .move_pm = fake_move_pm,
  .set_irq = fake_set_irq, .reset = fake_reset,
};

static void
fx_init (struct fx *fx, bool firmware)
{
  struct vmm_q35_config config = {
    .low_ram_end = VMM_MiB (512),
    .ecam_base = VMM_PCI_ECAM_BASE,
    .pm_base = VMM_PORT_ACPI_PM_BASE,
  };

  memset (fx, 0, sizeof *fx);
  fx->shadow = g_malloc0 (VMM_Q35_SHADOW_END - VMM_Q35_SHADOW_BASE);
  fx->isa_bios = g_malloc (VMM_ISA_BIOS_SIZE);
  for (unsigned i = 0; i < VMM_ISA_BIOS_SIZE; i++)
    fx->isa_bios[i] = (uint8_t) (i * 7 + 1);
  config.shadow_ram = fx->shadow;
  config.isa_bios = firmware ? fx->isa_bios : NULL;
  vmm_bus_init (&fx->pio, "pio");
  vmm_pci_host_init (&fx->host, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops,
                                     &fx->host, "pci-cf8"), ==, 0);
  g_assert_cmpint (vmm_q35_init (&fx->q35, &fx->host.bridge, &config, &fake_ops, fx), ==, 0);
  g_assert_cmpint (vmm_pci_host_add_at (&fx->host, &fx->q35.lpc, VMM_Q35_LPC_SLOT), ==,
                   VMM_Q35_LPC_SLOT);
}

static void
fx_clear (struct fx *fx)
{
  vmm_q35_destroy (&fx->q35);
  vmm_pci_host_destroy (&fx->host);
  vmm_bus_destroy (&fx->pio);
  g_free (fx->shadow);
  g_free (fx->isa_bios);
}

static uint32_t
cfg_read (struct fx *fx, unsigned slot, unsigned reg, unsigned len)
{
  vmm_test_bus_out (&fx->pio, 0xcf8, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  return (uint32_t) vmm_test_bus_in (&fx->pio, 0xcfc + (reg & 3), len);
}

static void
cfg_write (struct fx *fx, unsigned slot, unsigned reg, unsigned len, uint32_t value)
{
  vmm_test_bus_out (&fx->pio, 0xcf8, 4, 0x80000000u | slot << 11 | (reg & 0xfc));
  vmm_test_bus_out (&fx->pio, 0xcfc + (reg & 3), len, value);
}

/* The slot that maps GPA now, or NULL */
static const struct slot *
slot_at (struct fx *fx, uint64_t gpa)
{
  for (int i = 0; i < MAX_SLOTS; i++)
    if (fx->slots[i].used && gpa >= fx->slots[i].gpa && gpa < fx->slots[i].gpa + fx->slots[i].size)
      return &fx->slots[i];
  return NULL;
}

/* The slot that maps GPA, which must exist */
static const struct slot *
mapped_at (struct fx *fx, uint64_t gpa)
{
  const struct slot *s = slot_at (fx, gpa);

  if (s == NULL)
    g_error ("nothing maps %#llx", (unsigned long long) gpa);
  return s;
}

/* What the guest reads at GPA in the shadowed area: through a slot, or the
 * MMIO ops when none maps it */
static uint8_t
guest_read (struct fx *fx, uint64_t gpa)
{
  const struct slot *s = slot_at (fx, gpa);

  if (s != NULL)
    return s->host[gpa - s->gpa];
  return (uint8_t) vmm_test_dev_in (&vmm_q35_shadow_ops, &fx->q35, gpa - VMM_Q35_SHADOW_BASE, 1);
}

/* A guest write: to the slot's memory unless read-only (then it exits) */
static void
guest_write (struct fx *fx, uint64_t gpa, uint8_t v)
{
  const struct slot *s = slot_at (fx, gpa);

  if (s != NULL && !s->readonly)
    s->host[gpa - s->gpa] = v;
  else
    vmm_test_dev_out (&vmm_q35_shadow_ops, &fx->q35, gpa - VMM_Q35_SHADOW_BASE, 1, v);
}

static void
test_ids (void)
{
  struct fx fx;

  fx_init (&fx, true);
  g_assert_cmphex (cfg_read (&fx, 0, 0, 4), ==, 0x29c08086);
  g_assert_cmphex (cfg_read (&fx, 0, 0x0a, 2), ==, 0x0600);          /* host bridge */
  g_assert_cmphex (cfg_read (&fx, 31, 0, 4), ==, 0x29188086);
  g_assert_cmphex (cfg_read (&fx, 31, 0x0a, 2), ==, 0x0601);         /* ISA bridge */
  /* TOLUD: 512 MiB in bits 15:4 as address bits 31:20 */
  g_assert_cmphex (cfg_read (&fx, 0, VMM_Q35_TOLUD, 2), ==, 512 << 4);
  /* PCIEXBAR: enabled at ECAM, 256 buses */
  g_assert_cmphex (cfg_read (&fx, 0, VMM_Q35_PCIEXBAR, 4), ==, VMM_PCI_ECAM_BASE | 1);
  /* SMI_EN says SMM is set up already, whatever is written */
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_pm_ops, &fx.q35, 0, 4) & VMM_Q35_SMI_EN_APMC, !=, 0);
  vmm_test_dev_out (&vmm_q35_pm_ops, &fx.q35, 0, 4, 0);
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_pm_ops, &fx.q35, 0, 4), ==, VMM_Q35_SMI_EN_APMC);
  fx_clear (&fx);
}

/* SeaBIOS's shadowing: the ROM at reset, RAM read-write while it copies
 * itself, then read-only */
static void
test_pam_seabios (void)
{
  struct fx fx;
  uint32_t pam;

  fx_init (&fx, true);
  for (unsigned s = 0; s < VMM_Q35_PAM_SEGMENTS; s++)
    g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, s), ==, VMM_Q35_PAM_OFF);
  /* The ROM answers 0xe0000-0xfffff, read-only; 0xc0000-0xdffff nothing */
  g_assert_cmphex (guest_read (&fx, 0xe0000), ==, fx.isa_bios[0]);
  g_assert_cmphex (guest_read (&fx, 0xffff0), ==, fx.isa_bios[0x1fff0]);
  g_assert_true (mapped_at (&fx, 0xf0000)->readonly);
  g_assert_cmphex (guest_read (&fx, 0xc8000), ==, 0xff);
  guest_write (&fx, 0xf0000, 0x12);
  g_assert_cmphex (guest_read (&fx, 0xf0000), ==, fx.isa_bios[0x10000]);
  g_assert_cmphex (fx.shadow[0x30000], ==, 0);

  /* make_bios_writable: 0x33 in PAM1-6, 0x30 in PAM0, as two dwords */
  pam = cfg_read (&fx, 0, 0x90, 4);
  g_assert_cmphex (pam, ==, 0);
  cfg_write (&fx, 0, 0x90, 4, 0x33333330u);
  cfg_write (&fx, 0, 0x94, 4, 0x00333333u);
  for (unsigned s = 0; s < VMM_Q35_PAM_SEGMENTS; s++)
    g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, s), ==, VMM_Q35_PAM_RW);
  /* One slot covers the whole area now: contiguous RAM merges */
  g_assert_true (mapped_at (&fx, 0xc0000) == slot_at (&fx, 0xfffff));
  g_assert_false (mapped_at (&fx, 0xc0000)->readonly);
  guest_write (&fx, 0xf0000, 0x12);
  g_assert_cmphex (fx.shadow[0x30000], ==, 0x12);

  /* make_bios_readonly: 0x11 (read-only RAM); writes are dropped */
  cfg_write (&fx, 0, 0x90, 4, 0x11111110u);
  cfg_write (&fx, 0, 0x94, 4, 0x00111111u);
  g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, 0), ==, VMM_Q35_PAM_READ);
  g_assert_true (mapped_at (&fx, 0xf0000)->readonly);
  guest_write (&fx, 0xf0000, 0x34);
  g_assert_cmphex (guest_read (&fx, 0xf0000), ==, 0x12);
  g_assert_cmphex (fx.shadow[0x30000], ==, 0x12);
  /* The reserved low nibble of PAM0 does not stick */
  g_assert_cmphex (cfg_read (&fx, 0, 0x90, 1), ==, 0x10);
  fx_clear (&fx);
}

/* Mixed modes, segment by segment: write-only goes through the MMIO ops */
static void
test_pam_modes (void)
{
  struct fx fx;
  unsigned live = 0;

  fx_init (&fx, true);
  /* 0xc0000 RW, 0xc4000 write-only, 0xc8000 read-only, 0xcc000 off */
  cfg_write (&fx, 0, 0x91, 1, 0x23);
  cfg_write (&fx, 0, 0x92, 1, 0x01);
  g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, 1), ==, VMM_Q35_PAM_RW);
  g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, 2), ==, VMM_Q35_PAM_WRITE);
  g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, 3), ==, VMM_Q35_PAM_READ);
  g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, 4), ==, VMM_Q35_PAM_OFF);

  guest_write (&fx, 0xc0010, 0xaa);
  g_assert_cmphex (fx.shadow[0x10], ==, 0xaa);
  /* Write-only: no slot; the write reaches RAM, a read does not see it */
  g_assert_null (slot_at (&fx, 0xc4000));
  guest_write (&fx, 0xc4000, 0xbb);
  g_assert_cmphex (fx.shadow[0x4000], ==, 0xbb);
  g_assert_cmphex (guest_read (&fx, 0xc4000), ==, 0xff);
  /* Read-only: reads RAM, drops writes */
  fx.shadow[0x8000] = 0xcc;
  g_assert_cmphex (guest_read (&fx, 0xc8000), ==, 0xcc);
  guest_write (&fx, 0xc8000, 0xdd);
  g_assert_cmphex (fx.shadow[0x8000], ==, 0xcc);
  /* Off: nothing (no ROM below 0xe0000) */
  g_assert_null (slot_at (&fx, 0xcc000));
  g_assert_cmphex (guest_read (&fx, 0xcc000), ==, 0xff);
  guest_write (&fx, 0xcc000, 0xee);
  g_assert_cmphex (fx.shadow[0xc000], ==, 0);

  /* Every remap removed what it replaced */
  for (int i = 0; i < MAX_SLOTS; i++)
    live += fx.slots[i].used;
  g_assert_cmpuint (fx.maps - fx.unmaps, ==, live);
  fx_clear (&fx);
}

/* Without firmware the area is RAM from the start */
static void
test_pam_direct_boot (void)
{
  struct fx fx;

  fx_init (&fx, false);
  for (unsigned s = 0; s < VMM_Q35_PAM_SEGMENTS; s++)
    g_assert_cmpint (vmm_q35_pam_mode (&fx.q35, s), ==, VMM_Q35_PAM_RW);
  g_assert_cmpuint (fx.maps, ==, 1);
  g_assert_cmpuint (mapped_at (&fx, 0xc0000)->size, ==, VMM_Q35_SHADOW_END - VMM_Q35_SHADOW_BASE);
  fx_clear (&fx);
}

/* PCIEXBAR and PMBASE move what they say */
static void
test_moves (void)
{
  struct fx fx;

  fx_init (&fx, true);
  /* SeaBIOS: disable, set the high half, then the low half with enable */
  cfg_write (&fx, 0, VMM_Q35_PCIEXBAR, 4, 0);
  g_assert_false (fx.ecam_on);
  cfg_write (&fx, 0, VMM_Q35_PCIEXBAR + 4, 4, 0);
  cfg_write (&fx, 0, VMM_Q35_PCIEXBAR, 4, 0xb0000001u);
  g_assert_true (fx.ecam_on);
  g_assert_cmphex (fx.ecam_base, ==, 0xb0000000u);

  /* PMBASE: bits 15:7, bit 0 reads 1; decoding needs ACPI_EN */
  cfg_write (&fx, 31, VMM_Q35_LPC_PMBASE, 4, 0xb000);
  g_assert_cmphex (cfg_read (&fx, 31, VMM_Q35_LPC_PMBASE, 4), ==, 0xb001);
  g_assert_true (fx.pm_on);
  g_assert_cmphex (fx.pm_port, ==, 0xb000);
  cfg_write (&fx, 31, VMM_Q35_LPC_ACPI_CNTL, 1, 0);
  g_assert_false (fx.pm_on);
  cfg_write (&fx, 31, VMM_Q35_LPC_ACPI_CNTL, 1, 0x80);
  g_assert_true (fx.pm_on);
  g_assert_cmphex (fx.pm_port, ==, 0xb000);
  /* Low bits do not stick */
  cfg_write (&fx, 31, VMM_Q35_LPC_PMBASE, 2, 0x0667);
  g_assert_cmphex (fx.pm_port, ==, 0x0600);
  fx_clear (&fx);
}

/* A device's INTx on a PIRQ: the IOAPIC pin always, an ISA IRQ when routed */
static void
test_pirq (void)
{
  struct fx fx;

  fx_init (&fx, true);
  g_assert_cmphex (cfg_read (&fx, 31, VMM_Q35_LPC_PIRQA_ROUT, 4), ==, 0x80808080u);
  vmm_q35_set_pirq (&fx.q35, 0, true);
  g_assert_true (fx.irq[16]);
  g_assert_false (fx.irq[10]);
  /* SeaBIOS routes PIRQ A to IRQ 10 while it is asserted: IRQ 10 rises */
  cfg_write (&fx, 31, VMM_Q35_LPC_PIRQA_ROUT, 1, 10);
  g_assert_true (fx.irq[10]);
  /* PIRQ E shares IRQ 10: the line stays up until both go down */
  cfg_write (&fx, 31, VMM_Q35_LPC_PIRQE_ROUT, 1, 10);
  vmm_q35_set_pirq (&fx.q35, 4, true);
  g_assert_true (fx.irq[20]);
  vmm_q35_set_pirq (&fx.q35, 0, false);
  g_assert_false (fx.irq[16]);
  g_assert_true (fx.irq[10]);
  vmm_q35_set_pirq (&fx.q35, 4, false);
  g_assert_false (fx.irq[10]);
  /* Moving an asserted PIRQ moves the ISA line */
  vmm_q35_set_pirq (&fx.q35, 0, true);
  cfg_write (&fx, 31, VMM_Q35_LPC_PIRQA_ROUT, 1, 11);
  g_assert_false (fx.irq[10]);
  g_assert_true (fx.irq[11]);
  cfg_write (&fx, 31, VMM_Q35_LPC_PIRQA_ROUT, 1, 0x80);
  g_assert_false (fx.irq[11]);
  g_assert_true (fx.irq[16]);
  /* Repeating a level changes nothing; a PIRQ past H is ignored */
  {
    unsigned before = fx.irq_changes[16];
    vmm_q35_set_pirq (&fx.q35, 0, true);
    vmm_q35_set_pirq (&fx.q35, 8, true);
    g_assert_cmpuint (fx.irq_changes[16], ==, before);
  }
  fx_clear (&fx);
}

/* Port 0x92: A20 reads back, bit 0 rising resets */
static void
test_port92 (void)
{
  struct fx fx;

  fx_init (&fx, true);
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_port92_ops, &fx.q35, 0, 1), ==, 0x02);
  vmm_test_dev_out (&vmm_q35_port92_ops, &fx.q35, 0, 1, 0x00);
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_port92_ops, &fx.q35, 0, 1), ==, 0x00);
  g_assert_cmpuint (fx.resets, ==, 0);
  vmm_test_dev_out (&vmm_q35_port92_ops, &fx.q35, 0, 1, 0x03);
  g_assert_cmpuint (fx.resets, ==, 1);
  /* Wider accesses are not the register */
  vmm_test_dev_out (&vmm_q35_port92_ops, &fx.q35, 0, 2, 0x0101);
  g_assert_cmpuint (fx.resets, ==, 1);
  fx_clear (&fx);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_q35 (void *q35, const struct vmm_state_file *f, const char *name, bool apply,
          GError **error)
{
  return vmm_q35_load (q35, f, name, apply, error);
}

static void
save_all (struct fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_pci_host_save (&fx->host, w, "pci");
  vmm_q35_save (&fx->q35, w, "q35");
  vmm_test_state_close (st, w);
}

static unsigned
irq_changes (const struct fx *fx)
{
  unsigned n = 0;

  for (unsigned i = 0; i < 32; i++)
    n += fx->irq_changes[i];
  return n;
}

/* The chipset as firmware leaves it (the BIOS area shadowed, part of it
 * read-only, ECAM and the PM block moved, PIRQs routed) with two PIRQs
 * up, SMI_EN written and A20 cleared: saved with the PCI host, loaded
 * into a fresh chipset after the host. The area maps as before, ECAM and
 * the PM block move, the lines rise, and the guest reads the same. */
static void
test_state (void)
{
  struct fx a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  unsigned maps;

  fx_init (&a, true);
  cfg_write (&a, 0, VMM_Q35_PAM0, 1, 0x30);
  for (unsigned i = 1; i < 7; i++)
    cfg_write (&a, 0, VMM_Q35_PAM0 + i, 1, i == 3 ? 0x13 : 0x33);
  cfg_write (&a, 0, VMM_Q35_PCIEXBAR, 4, 0);
  cfg_write (&a, 0, VMM_Q35_PCIEXBAR, 4, 0xb0000001u);
  cfg_write (&a, 31, VMM_Q35_LPC_PMBASE, 4, 0xb000);
  cfg_write (&a, 31, VMM_Q35_LPC_PIRQA_ROUT, 1, 10);
  cfg_write (&a, 31, VMM_Q35_LPC_PIRQE_ROUT, 1, 11);
  vmm_q35_set_pirq (&a.q35, 0, true);
  vmm_q35_set_pirq (&a.q35, 4, true);
  vmm_test_dev_out (&vmm_q35_pm_ops, &a.q35, 0, 4, VMM_Q35_SMI_EN_GBL);
  vmm_test_dev_out (&vmm_q35_port92_ops, &a.q35, 0, 1, 0x00);
  guest_write (&a, 0xf0010, 0x5a);
  save_all (&a, &sa);

  fx_init (&b, true);
  save_all (&b, &sb0);
  maps = b.maps;
  g_assert_true (vmm_pci_host_load (&b.host, sa.file, "pci", false, &error));
  g_assert_true (vmm_q35_load (&b.q35, sa.file, "q35", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "q35", load_q35, &b.q35, 8, 0x01);
  g_assert_cmpuint (b.maps, ==, maps);
  g_assert_cmpuint (b.unmaps + b.ecam_moves + irq_changes (&b), ==, 0);
  save_all (&b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "pci");
  vmm_test_state_assert_same (&sb, &sb0, "q35");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_pci_host_load (&b.host, sa.file, "pci", true, &error));
  g_assert_true (vmm_q35_load (&b.q35, sa.file, "q35", true, &error));
  g_assert_no_error (error);
  save_all (&b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "pci");
  vmm_test_state_assert_same (&sa, &sb, "q35");
  g_assert_true (b.ecam_on);
  g_assert_cmphex (b.ecam_base, ==, 0xb0000000u);
  g_assert_true (b.pm_on);
  g_assert_cmphex (b.pm_port, ==, 0xb000);
  for (unsigned i = 0; i < 32; i++)
    g_assert_cmpint (b.irq[i], ==, a.irq[i]);
  g_assert_true (b.irq[10] && b.irq[11] && b.irq[16] && b.irq[20]);
  g_assert_cmpuint (irq_changes (&b), ==, 4);
  for (unsigned seg = 0; seg < VMM_Q35_PAM_SEGMENTS; seg++)
    g_assert_cmpint (vmm_q35_pam_mode (&b.q35, seg), ==, vmm_q35_pam_mode (&a.q35, seg));
  g_assert_true (mapped_at (&b, 0xd4000)->readonly);
  g_assert_false (mapped_at (&b, 0xf0000)->readonly);
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_pm_ops, &b.q35, 0, 4), ==,
                   VMM_Q35_SMI_EN_GBL | VMM_Q35_SMI_EN_APMC);
  g_assert_cmphex (vmm_test_dev_in (&vmm_q35_port92_ops, &b.q35, 0, 1), ==, 0x00);

  /* Going on: the lines fall as the devices let go, IRQ 10 with PIRQ A */
  vmm_q35_set_pirq (&b.q35, 0, false);
  g_assert_false (b.irq[16] || b.irq[10]);
  g_assert_true (b.irq[11]);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  fx_clear (&a);
  fx_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/q35/ids", test_ids);
  g_test_add_func ("/q35/pam/seabios", test_pam_seabios);
  g_test_add_func ("/q35/pam/modes", test_pam_modes);
  g_test_add_func ("/q35/pam/direct-boot", test_pam_direct_boot);
  g_test_add_func ("/q35/moves", test_moves);
  g_test_add_func ("/q35/pirq", test_pirq);
  g_test_add_func ("/q35/port92", test_port92);
  g_test_add_func ("/q35/state", test_state);
  return g_test_run ();
}
