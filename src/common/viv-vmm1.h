/* viv-vmm1.h: the names org.vivarium.Vmm1 uses besides its XML: where a
 * helper serves it, and the states it reports in its State property and
 * StateChanged signal
 *
 * The engine serves and sets them, the app reads them: one spelling for both.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

/* The one object a helper serves, on its peer-to-peer connections */
#define VIV_VMM1_OBJECT_PATH "/org/vivarium/Vmm1"

#define VIV_VMM_STATE_STARTING      "starting"       /* building the VM */
#define VIV_VMM_STATE_RUNNING       "running"
#define VIV_VMM_STATE_PAUSED        "paused"
#define VIV_VMM_STATE_SHUTTING_DOWN "shutting-down"  /* the guest was asked to power off */
#define VIV_VMM_STATE_STOPPED       "stopped"        /* powered off or switched off; exits */
#define VIV_VMM_STATE_CRASHED       "crashed"        /* the VM failed; exits */
