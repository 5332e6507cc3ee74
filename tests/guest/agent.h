/* agent.h: a tiny SPICE guest agent on the "com.redhat.spice.0" port
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "pci.h"

#define AGENT_PORT_NAME "com.redhat.spice.0"

/* Finds the console and the agent's port and opens it; false without one */
bool agent_start (const struct pci *pci);
/* Receives and answers what came; called about every millisecond.
 * monitors is called for a VD_AGENT_MONITORS_CONFIG's first monitor. */
void agent_poll (void (*monitors) (uint32_t w, uint32_t h));
/* Grabs the clipboard with UTF8_TEXT; text goes out when the client asks */
void agent_clip (const char *text);
/* Offers pattern_png (pattern.h) as the clipboard, as image/png */
void agent_clip_png (void);
