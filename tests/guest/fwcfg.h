/* fwcfg.h: fw_cfg and the Q35 chipset's registers (fwcfg.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "pci.h"

/* The tests: fw_cfg's ports, directory, etc/e820 and DMA; the MCH and LPC */
void test_fw_cfg (void);
void test_chipset (const struct pci *p);

/* For other tests (ahci.c's bootorder): reads the signature and the
 * directory; false without fw_cfg */
bool fw_cfg_load (void);
bool fw_cfg_find_file (const char *name, uint16_t *key, uint32_t *size);
/* A file read whole by DMA into buf (cut at size); its length, or -1 */
int fw_cfg_read_file (const char *name, void *buf, uint32_t size);
