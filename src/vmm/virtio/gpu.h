/* virtio/gpu.h: the GPU device, 2D only (virtio 1.2, 5.7)
 *
 * One scanout, shown through a struct vmm_display_listener (display/
 * display.h); a display server asks for another size through the
 * struct vmm_display_device this gives it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

#include "display/display.h"
#include "virtio/device.h"

/* Host memory the guest's resources may take, together and each */
#define VMM_GPU_MAX_HOST_MEM      (256u * 1024 * 1024)
#define VMM_GPU_MAX_RESOURCE_MEM  (128u * 1024 * 1024)
/* The largest resource side, in pixels */
#define VMM_GPU_MAX_DIM           16384u
#define VMM_GPU_MAX_RESOURCES     4096u
/* Backing entries one resource may have */
#define VMM_GPU_MAX_BACKING       16384u

struct vmm_virtio_gpu_config {
  uint32_t width, height;       /* the scanout's preferred size */
};

struct vmm_virtio_gpu;

/* Returns the device, or NULL with ERROR set (see device.h). The size is
 * clamped to VMM_EDID_MIN_ACTIVE .. VMM_EDID_MAX_ACTIVE (display/edid.h). */
struct vmm_virtio_gpu *vmm_virtio_gpu_new  (const struct vmm_virtio_env *env,
                                            const struct vmm_virtio_gpu_config *config,
                                            GError **error);
struct vmm_virtio_dev *vmm_virtio_gpu_dev  (struct vmm_virtio_gpu *gpu);
void                   vmm_virtio_gpu_free (struct vmm_virtio_gpu *gpu);

/* Where the scanout and cursor go from now on (copied; NULL: nowhere).
 * Any thread; the listener is called from the device's loop thread with
 * the device lock held (display.h). */
void vmm_virtio_gpu_set_listener (struct vmm_virtio_gpu *gpu,
                                  const struct vmm_display_listener *listener);

/* The display server's view of the device (display.h) */
struct vmm_display_device vmm_virtio_gpu_display_device (struct vmm_virtio_gpu *gpu);

/* A client would like the scanout at WIDTH × HEIGHT: from any thread,
 * queued for the device's loop, which updates the preferred size and
 * raises VIRTIO_GPU_EVENT_DISPLAY with a config interrupt. A zero size is
 * ignored; others are clamped as for _new. */
void vmm_virtio_gpu_request_size (struct vmm_virtio_gpu *gpu, uint32_t width, uint32_t height);
