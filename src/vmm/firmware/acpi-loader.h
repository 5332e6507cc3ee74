/* firmware/acpi-loader.h: the ACPI tables, for firmware to place
 *
 * Firmware that boots from fw_cfg (SeaBIOS, OVMF) does not take tables at
 * fixed addresses: it reads them as fw_cfg files and runs a script,
 * "etc/table-loader", that says where to allocate each file, which fields
 * hold pointers into another file (to be relocated) and which bytes are
 * checksums (to be filled in). The script is a list of 128-byte commands,
 * little-endian, as QEMU's hw/acpi/bios-linker-loader.c writes them:
 *
 *   u32 command, then
 *   ALLOCATE      char file[56], u32 align, u8 zone (HIGH or FSEG)
 *   ADD_POINTER   char dest[56], char src[56], u32 offset, u8 size:
 *                 dest's SIZE bytes at OFFSET += src's address
 *   ADD_CHECKSUM  char file[56], u32 offset, u32 start, u32 length:
 *                 file[offset] -= sum of file[start .. start + length)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/x86/acpi.h"
#include "firmware/fw_cfg.h"

#define VMM_ACPI_LOADER_FILE           "etc/table-loader"
#define VMM_ACPI_LOADER_RSDP_FILE      "etc/acpi/rsdp"
#define VMM_ACPI_LOADER_TABLES_FILE    "etc/acpi/tables"

#define VMM_ACPI_LOADER_ENTRY_LEN      128
#define VMM_ACPI_LOADER_FILESZ         56

#define VMM_ACPI_LOADER_ALLOCATE       1
#define VMM_ACPI_LOADER_ADD_POINTER    2
#define VMM_ACPI_LOADER_ADD_CHECKSUM   3
#define VMM_ACPI_LOADER_WRITE_POINTER  4   /* not written by us */

#define VMM_ACPI_LOADER_ZONE_HIGH      1   /* anywhere in RAM */
#define VMM_ACPI_LOADER_ZONE_FSEG      2   /* the F segment, where the RSDP is looked for */

struct vmm_acpi_loader;

struct vmm_acpi_loader *vmm_acpi_loader_new  (void);
void                    vmm_acpi_loader_free (struct vmm_acpi_loader *loader);

/* Each returns 0, or -EINVAL for a file name that does not fit (55 bytes
 * at most), an alignment that is not a power of two, a bad zone or a
 * pointer size other than 1, 2, 4 or 8. */
int vmm_acpi_loader_allocate     (struct vmm_acpi_loader *loader, const char *file,
                                  uint32_t align, uint8_t zone);
int vmm_acpi_loader_add_pointer  (struct vmm_acpi_loader *loader, const char *dest_file,
                                  const char *src_file, uint32_t offset, uint8_t size);
int vmm_acpi_loader_add_checksum (struct vmm_acpi_loader *loader, const char *file,
                                  uint32_t offset, uint32_t start, uint32_t length);

/* The script so far: LEN is a multiple of VMM_ACPI_LOADER_ENTRY_LEN. */
const uint8_t *vmm_acpi_loader_data (const struct vmm_acpi_loader *loader, size_t *len);

/* Builds the tables vmm_acpi_build writes and puts them in CFG as
 * "etc/acpi/rsdp" (for the F segment), "etc/acpi/tables" and the script
 * "etc/table-loader" that links them; called again (the firmware moved
 * the PM block or ECAM), it replaces them. Returns 0, -EINVAL for a bad
 * config, or what vmm_fw_cfg_set_file returned. */
int vmm_acpi_build_fw_cfg (struct vmm_fw_cfg *cfg, const struct vmm_acpi_config *config);
