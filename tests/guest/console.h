/* console.h: the virtio-console tests (virtio 1.2 §5.3)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "pci.h"

/* Runs the console tests against 1af4:1043 if present (TAP lines), talking
 * to the host harness (run-console.sh) through the ports; one skip line
 * without the device, unless ports= says one is expected. */
void test_console (const struct pci *pci);
