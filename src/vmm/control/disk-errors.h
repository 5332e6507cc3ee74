/* control/disk-errors.h: a disk's failed requests as DiskError signals
 *
 * The disks report failed requests on their I/O threads (see
 * vmm_virtio_blk_set_error_fn, which also rate-limits them); the service
 * emits org.vivarium.Vmm1.DiskError for each on its main thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio/blk.h"
#include "viv-vmm1-generated.h"

struct vmm_vm;

/* A vmm_disk_error_fn for any thread: DATA is the VivVmm1 skeleton, whose
 * DiskError goes out from the default main context. */
void vmm_disk_error_to_dbus  (const struct vmm_disk_error *error, void *data);
