/* blk.h: the virtio-blk tests (virtio 1.2 §5.2)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"
#include "pci.h"

/* Runs the virtio-blk tests on every 1af4:1042 function (TAP lines); each
 * disk's role comes from its serial (GET_ID): see blk.c.  One skip line
 * without a device, unless disks= says how many to expect. */
void test_blk (const struct pci *pci);

/* The modes (blkmode.c): mode=writeloop and mode=diskbench.  They end
 * with the plan line and a power-off through ACPI, and never return. */
NORETURN void blk_writeloop_mode (const struct pci *pci, const struct acpi *acpi);
NORETURN void blk_diskbench_mode (const struct pci *pci, const struct acpi *acpi);
