/* viv-shortcuts.h: the keyboard shortcuts of the machine actions
 *
 * One list for the window's key bindings and the menus that show them; the
 * shortcuts window (data/ui/help-overlay.ui) repeats them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define VIV_ACCEL_START        "<Control><Shift>s"
#define VIV_ACCEL_PAUSE        "<Control><Shift>p"   /* pause or resume */
#define VIV_ACCEL_SHUTDOWN     "<Control><Shift>d"
#define VIV_ACCEL_FORCE_OFF    "<Control><Shift>f"
#define VIV_ACCEL_RESET        "<Control><Shift>r"
#define VIV_ACCEL_RENAME       "F2"
#define VIV_ACCEL_PREFERENCES  "<Alt>Return"
#define VIV_ACCEL_SHOW_LOG     "<Control><Shift>l"
#define VIV_ACCEL_DELETE       "Delete"
#define VIV_ACCEL_TAKE_SNAPSHOT "<Control>t"
