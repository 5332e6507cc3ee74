/* vmm-test-vm.h: the fake machine (vmm-test-vm.c) the control service's
 * test links instead of vm.c and run.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

/* When set, creating a machine writes DIR/creating and waits for
 * DIR/release. */
extern const char *vmm_test_vm_gate_dir;

/* The fake machine's screen, when it has a display: SCREEN_W × SCREEN_H,
 * pixel (x, y) 0x00RRGGBB = vmm_test_vm_pixel (seed, x, y), the seed 0 at
 * first and one more after each "D" on the serial console. */
#define VMM_TEST_VM_SCREEN_W 400
#define VMM_TEST_VM_SCREEN_H 300
uint32_t vmm_test_vm_pixel (unsigned seed, uint32_t x, uint32_t y);
