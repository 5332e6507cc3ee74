/* apic.c: the local APIC through MMIO from CPL 3
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "apic.h"

static uint32_t
rd (const struct lapic *l, unsigned reg)
{
  return mmio_read32 (l->base + reg);
}

static void
wr (const struct lapic *l, unsigned reg, uint32_t v)
{
  mmio_write32 (l->base + reg, v);
}

bool
lapic_init (struct lapic *l, uint64_t base)
{
  l->base = base;
  if (!base || !map_phys (base, 4096))
    return false;
  l->id = rd (l, LAPIC_ID) >> 24;
  /* Software-enable with spurious vector 0xff; a disabled LAPIC drops
   * MSIs, and the IRR checks depend on it accepting them */
  wr (l, LAPIC_SVR, (rd (l, LAPIC_SVR) & ~0xffu) | 0x100 | 0xff);
  return rd (l, LAPIC_SVR) & 0x100;
}

bool
lapic_irr (const struct lapic *l, uint8_t vector)
{
  return rd (l, LAPIC_IRR + 0x10 * (vector / 32)) & (1u << (vector % 32));
}

bool
lapic_isr (const struct lapic *l, uint8_t vector)
{
  return rd (l, LAPIC_ISR + 0x10 * (vector / 32)) & (1u << (vector % 32));
}

bool
lapic_ipi (const struct lapic *l, uint32_t dest, uint32_t icr_low)
{
  uint64_t deadline;

  wr (l, LAPIC_ICR_HI, dest << 24);
  wr (l, LAPIC_ICR_LO, icr_low);
  deadline = deadline_after_ms (100);
  while (rd (l, LAPIC_ICR_LO) & (1u << 12))
    {
      if (deadline_passed (deadline))
        return false;
      cpu_relax ();
    }
  return true;
}
