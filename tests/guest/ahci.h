/* ahci.h: mode=ahci (ahci.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"
#include "pci.h"

/* The CD-ROM image's byte I of 2 KiB sector SECTOR (run-ahci.sh makes it) */
uint8_t ahci_cd_byte (uint32_t sector, uint32_t i);
/* What the probe writes at byte OFF of the disk for SEED */
uint8_t ahci_disk_byte (uint32_t seed, uint64_t off);

NORETURN void ahci_mode (struct pci *pci, struct acpi *acpi);
