/* vm-snapshot.h: snapshots of a machine (snapshot/README.md)
 *
 * A snapshot of a running machine is its memory (snapshot/memory.h), its
 * vCPUs' and devices' state (snapshot/state.h) and its disks (qcow2
 * internal snapshots named "vivarium-ID"), taken at one instant with the
 * vCPUs parked and the devices quiet, in MACHINE_DIR/snapshots/ID/ beside
 * the index (viv-snapshot-index.h). A stopped machine's snapshot is its
 * disks alone.
 *
 * Every operation leaves the machine's folder in a state a crash cannot
 * spoil: a snapshot is built in snapshots/.new-ID/ and its disks' snapshots
 * made before the folder gets its name and the index lists it; a delete
 * takes it out of the index first. What a crash leaves behind (a folder or
 * disk snapshots no index lists) is removed by the next operation.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "vm.h"

/* The disk snapshots' names in the qcow2 images */
#define VMM_SNAPSHOT_DISK_PREFIX "vivarium-"

/* Takes snapshot NAME of VM (running or paused) after the current one:
 * the machine stops for the time it takes and goes on as it was. Returns
 * the new snapshot's id, or NULL with ERROR set (nothing is left of it). */
char *vmm_vm_snapshot_take (struct vmm_vm *vm, const char *machine_dir, const char *name,
                            GError **error);

/* Puts VM back to snapshot ID (one taken while the machine ran) and runs
 * it from there. A damaged or foreign snapshot is refused before anything
 * changes; FALSE with ERROR set. */
gboolean vmm_vm_snapshot_revert (struct vmm_vm *vm, const char *machine_dir, const char *id,
                                 GError **error);

/* Deletes snapshot ID: from the index, VM's disks and the folder. */
gboolean vmm_vm_snapshot_delete (struct vmm_vm *vm, const char *machine_dir, const char *id,
                                 GError **error);

gboolean vmm_vm_snapshot_rename (const char *machine_dir, const char *id, const char *name,
                                 GError **error);

/* vivarium-vmm snapshot --machine DIR take NAME | revert ID | delete ID |
 * rename ID NAME: a machine that is off (its disks only; it is locked
 * meanwhile). Prints the new id for take; 0, or 1 with the reason on
 * stderr. */
int vmm_snapshot_cli_main (int argc, char **argv);

/* The machine's state alone, into W / from F (vm-snapshot.c's sections);
 * with APPLY false, only checked. For tests and the fuzz target. */
gboolean vmm_vm_save_state (struct vmm_vm *vm, struct vmm_state_writer *w, GError **error);
gboolean vmm_vm_load_state (struct vmm_vm *vm, const struct vmm_state_file *f, bool apply,
                            GError **error);
