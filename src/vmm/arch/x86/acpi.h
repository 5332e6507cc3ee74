/* arch/x86/acpi.h: ACPI tables, built in C at boot
 *
 * RSDP (revision 2) at VMM_ACPI_BASE, then XSDT, FADT (with FACS and DSDT),
 * MADT and MCFG, all inside [VMM_ACPI_BASE, VMM_ACPI_END).
 *
 * One builder (vmm_acpi_tables_build) makes them as two blobs, the RSDP and
 * the rest, whose address fields hold offsets into a blob, with the list of
 * those fields and of the checksums to fill in once the blobs are placed.
 * vmm_acpi_build places them itself; firmware/acpi-loader.c hands the same
 * blobs and lists to SeaBIOS or OVMF through fw_cfg, which place them.
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
  bool i8042;                 /* PS/2 keyboard (0x60/0x64, IRQ 1) and mouse (IRQ 12) */
  bool pvpanic;               /* pvpanic at 0x505 (QEMU0001) */
  bool vga;                   /* a VGA-compatible display (the FADT says whether) */

  /* Where the PM block decodes (PMBASE); 0: VMM_PORT_ACPI_PM_BASE */
  uint16_t pm_base;
};

enum {
  VMM_ACPI_BLOB_RSDP,         /* the RSDP alone: firmware puts it in the F segment */
  VMM_ACPI_BLOB_TABLES,       /* FACS first, then the tables */
  VMM_ACPI_N_BLOBS
};

#define VMM_ACPI_MAX_POINTERS  16
#define VMM_ACPI_MAX_CHECKSUMS 16

/* A field of SIZE bytes (4 or 8, little-endian) at OFFSET in blob BLOB
 * holding an offset into blob TARGET: TARGET's address is added to it. */
struct vmm_acpi_pointer {
  unsigned blob, target;
  uint32_t offset;
  uint8_t size;
};

/* The byte at OFFSET in blob BLOB (zero as built) that makes [START,
 * START + LEN) of it sum to zero; filled in after the pointers, in order. */
struct vmm_acpi_checksum_field {
  unsigned blob;
  uint32_t offset, start, len;
};

struct vmm_acpi_tables {
  uint8_t *data[VMM_ACPI_N_BLOBS];
  size_t len[VMM_ACPI_N_BLOBS];
  uint32_t align[VMM_ACPI_N_BLOBS];   /* what each blob's address must be a multiple of */
  struct vmm_acpi_pointer pointers[VMM_ACPI_MAX_POINTERS];
  unsigned n_pointers;
  struct vmm_acpi_checksum_field checksums[VMM_ACPI_MAX_CHECKSUMS];
  unsigned n_checksums;
};

/* Builds the tables, unlinked, into T (vmm_acpi_tables_clear frees them).
 * Returns 0 or -EINVAL for a bad config. */
int  vmm_acpi_tables_build (struct vmm_acpi_tables *t, const struct vmm_acpi_config *config);
void vmm_acpi_tables_clear (struct vmm_acpi_tables *t);
/* Links the blobs for BASE[blob], their guest addresses: adds them to the
 * pointer fields, then fills in the checksums. Done once. Returns 0, or
 * -EINVAL when a base is misaligned or makes a 32-bit field overflow. */
int  vmm_acpi_tables_link  (struct vmm_acpi_tables *t, const uint64_t base[VMM_ACPI_N_BLOBS]);

/* Writes the tables into guest memory and returns the RSDP's address in
 * *rsdp_gpa. Returns 0, -ENOSPC if they do not fit below VMM_ACPI_END,
 * -EFAULT if that range is not guest RAM, -EINVAL for a bad config. */
int vmm_acpi_build (const struct vmm_mem *mem, const struct vmm_acpi_config *config,
                    uint64_t *rsdp_gpa);

/* The byte that makes a table's bytes sum to zero, mod 256. */
uint8_t vmm_acpi_checksum (const void *data, size_t len);
