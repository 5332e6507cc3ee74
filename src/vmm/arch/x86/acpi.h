/* arch/x86/acpi.h: ACPI tables, built in C at boot
 *
 * RSDP (revision 2) at VMM_ACPI_BASE, then XSDT, FADT (with FACS and DSDT),
 * MADT and MCFG, all inside [VMM_ACPI_BASE, VMM_ACPI_END).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

#define VMM_ACPI_MAX_CPUS 255

struct vmm_acpi_config {
  unsigned n_cpus;            /* processors, with APIC IDs 0 .. n_cpus - 1 */

  /* PCI root bridge, segment 0 */
  uint64_t ecam_base;
  unsigned ecam_start_bus;
  unsigned ecam_end_bus;
  uint64_t mmio32_base, mmio32_size;
  uint64_t mmio64_base, mmio64_size;   /* size 0: no 64-bit window */

  /* Optional devices described in the DSDT */
  bool com1;                  /* 8250 at 0x3f8, IRQ 4 */
  bool com2;                  /* 8250 at 0x2f8, IRQ 3 */
  bool rtc;                   /* CMOS RTC at 0x70, IRQ 8 */
  bool i8042;                 /* keyboard controller at 0x60/0x64, IRQ 1 (reset) */
  bool pvpanic;               /* pvpanic at 0x505 (QEMU0001) */
};

/* Writes the tables into guest memory and returns the RSDP's address in
 * *rsdp_gpa. Returns 0, -ENOSPC if they do not fit below VMM_ACPI_END,
 * -EFAULT if that range is not guest RAM, -EINVAL for a bad config. */
int vmm_acpi_build (const struct vmm_mem *mem, const struct vmm_acpi_config *config,
                    uint64_t *rsdp_gpa);

/* The byte that makes a table's bytes sum to zero, mod 256. */
uint8_t vmm_acpi_checksum (const void *data, size_t len);
