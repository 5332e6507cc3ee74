/* ps2.h: mode=ps2 (ps2.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"

NORETURN void ps2_mode (struct acpi *acpi);
