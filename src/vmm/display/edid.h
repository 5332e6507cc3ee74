/* display/edid.h: the EDID a display device shows its guest
 *
 * One EDID 1.4 base block (128 bytes) for a monitor whose preferred mode
 * is the size the device was asked for: vendor "VIV", a detailed timing
 * descriptor (CVT reduced blanking, 60 Hz, or less where the pixel clock
 * would not fit the descriptor's 655.35 MHz), the name "Vivarium", range
 * limits around that mode, and the checksum.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

#define VMM_EDID_SIZE       128
/* The detailed timing descriptor's fields are 12 bits wide; below 64
 * pixels no timing makes sense */
#define VMM_EDID_MIN_ACTIVE 64
#define VMM_EDID_MAX_ACTIVE 4095

/* Writes the block for a WIDTH × HEIGHT preferred mode into OUT. WIDTH and
 * HEIGHT are clamped to VMM_EDID_MIN_ACTIVE .. VMM_EDID_MAX_ACTIVE. */
void vmm_edid_build (uint8_t out[VMM_EDID_SIZE], uint32_t width, uint32_t height);
