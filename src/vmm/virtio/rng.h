/* virtio/rng.h: the entropy device (virtio 1.2, 5.4)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio/device.h"

struct vmm_virtio_rng {
  struct vmm_virtio_dev dev;
  uint64_t bytes_served;
};

int  vmm_virtio_rng_init    (struct vmm_virtio_rng *rng, const struct vmm_virtio_env *env);
void vmm_virtio_rng_destroy (struct vmm_virtio_rng *rng);
