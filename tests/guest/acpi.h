/* acpi.h: finding and checking the ACPI tables the VMM built
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "lib.h"

#define ACPI_MAX_TABLES 64
#define ACPI_MAX_CPUS   64

/* A Generic Address Structure, decoded */
struct acpi_gas
{
  uint8_t space;   /* 0 memory, 1 I/O */
  uint8_t bit_width;
  uint64_t address;
};

struct acpi
{
  uint64_t rsdp;
  uint8_t rsdp_revision;
  uint64_t root;          /* XSDT, or RSDT when there is none */
  bool root_is_xsdt;

  unsigned n_tables;
  uint64_t tables[ACPI_MAX_TABLES];

  uint64_t fadt, madt, mcfg, dsdt;

  /* FADT */
  bool hw_reduced;
  uint32_t pm1a_cnt, pm1b_cnt;   /* I/O ports, 0 = none */
  uint32_t pm1a_evt;             /* PM1a status (2 bytes), then enable */
  uint32_t pm_tmr;
  bool pm_tmr_32bit;
  struct acpi_gas sleep_control;
  bool reset_supported;          /* FADT RESET_REG_SUP */
  struct acpi_gas reset_reg;
  uint8_t reset_value;

  /* MADT */
  uint64_t lapic_addr;
  unsigned n_cpus;               /* enabled processors */
  uint32_t apic_ids[ACPI_MAX_CPUS];

  /* MCFG, segment 0 */
  uint64_t ecam;
  uint8_t bus_start, bus_end;

  /* \_S5_ from the DSDT */
  bool have_s5;
  uint8_t slp_typa, slp_typb;
};

/* The ACPI group of tests.  Returns false when the tables are unusable
 * (the caller bails out). */
bool acpi_probe (struct acpi *a, uint64_t rsdp_hint);

/* Finds \_S5_ in the DSDT (called by acpi_probe; exposed for the power-off
 * test's message). */
bool acpi_find_s5 (struct acpi *a);

/* Enters S5; returns only if the VM is still running afterwards. */
void acpi_power_off (const struct acpi *a);

/* Writes the FADT's reset value to its reset register; returns only if the
 * VM is still running afterwards. */
void acpi_reset (const struct acpi *a);
