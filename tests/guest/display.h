/* display.h: mode=display (the SPICE display test's guest) and the idle
 * mode's picture
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"
#include "pci.h"

/* mode=display: the checks, then the command loop of protocol.md until
 * `quit` powers the VM off */
NORETURN void display_mode (const struct pci *pci, const struct acpi *acpi);

/* mode=idle: sets up the colour bars if there is a virtio-gpu; false if
 * there is none (no output then) */
bool display_idle_start (const struct pci *pci);
/* Shows the tick counter (transfer and flush of its rectangle only) */
void display_idle_tick (unsigned tick);
