/* viv-vmm-state.h: the states of one vivarium-vmm helper, as org.vivarium.Vmm1
 * names them in its State property and StateChanged signal
 *
 * The engine sets them and the app reads them: one spelling for both.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define VIV_VMM_STATE_STARTING      "starting"       /* building the VM */
#define VIV_VMM_STATE_RUNNING       "running"
#define VIV_VMM_STATE_PAUSED        "paused"
#define VIV_VMM_STATE_SHUTTING_DOWN "shutting-down"  /* the guest was asked to power off */
#define VIV_VMM_STATE_STOPPED       "stopped"        /* powered off or switched off; exits */
#define VIV_VMM_STATE_CRASHED       "crashed"        /* the VM failed; exits */
