/* vmm-test-vm.h: the fake machine (vmm-test-vm.c) the control service's
 * test links instead of vm.c and run.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

/* When set, creating a machine writes DIR/creating and waits for
 * DIR/release. */
extern const char *vmm_test_vm_gate_dir;
