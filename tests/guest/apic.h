/* apic.h: the local APIC through MMIO from CPL 3
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "lib.h"

#define LAPIC_ID   0x020
#define LAPIC_VER  0x030
#define LAPIC_SVR  0x0f0
#define LAPIC_ISR  0x100
#define LAPIC_IRR  0x200
#define LAPIC_ESR  0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

struct lapic
{
  uint64_t base;
  uint32_t id;   /* the BSP's APIC ID */
};

/* Maps it and software-enables it (SVR bit 8) so that it accepts MSIs */
bool lapic_init (struct lapic *l, uint64_t base);
bool lapic_irr (const struct lapic *l, uint8_t vector);
bool lapic_isr (const struct lapic *l, uint8_t vector);
/* Writes the ICR and waits (bounded) for the delivery-status bit to clear */
bool lapic_ipi (const struct lapic *l, uint32_t dest, uint32_t icr_low);
