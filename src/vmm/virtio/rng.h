/* virtio/rng.h: the entropy device (virtio 1.2, 5.4)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio/device.h"

struct vmm_virtio_rng;

/* Returns the device, or NULL with ERROR set (see device.h). */
struct vmm_virtio_rng *vmm_virtio_rng_new  (const struct vmm_virtio_env *env, GError **error);
struct vmm_virtio_dev *vmm_virtio_rng_dev  (struct vmm_virtio_rng *rng);
void                   vmm_virtio_rng_free (struct vmm_virtio_rng *rng);
