/* snapmode.h: mode=snapshot (snapmode.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"
#include "pci.h"

/* Never returns: q on the serial line powers off. RAM_TOP: the end of the
 * RAM the region may use. */
NORETURN void snapshot_mode (const struct pci *pci, const struct acpi *acpi, uint64_t ram_top);
