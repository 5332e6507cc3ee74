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
#include "snapshot/state.h"
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

/* The device's part of a saved state (snapshot/README.md), in the section
 * NAME: the preferred size, the pending display event, every resource
 * (format, size, backing as guest addresses, and its pixels: the guest
 * may never transfer them again), the scanout and the cursor. The
 * transport and its queues are saved apart (virtio/pci.c), guest memory
 * too.
 *
 * The caller has paused the vCPUs and quiesced the device (no command in
 * flight). Both take the device lock: call them without it. load checks
 * the section as the commands check a guest's (ids, formats, sizes, the
 * memory budget, backing inside guest RAM, the scanout's rectangle, the
 * cursor's hot spot) and changes nothing unless APPLY; with it, the
 * resources replace the device's, their backing points into guest RAM
 * again (vmm_mem_ptr: guest RAM must already be mapped where it stays),
 * and the listener is told the scanout and the cursor, from the caller's
 * thread. A size a client asked for and the device has not yet taken
 * (vmm_virtio_gpu_request_size) is left pending. */
void     vmm_virtio_gpu_save_device (struct vmm_virtio_gpu *gpu, struct vmm_state_writer *w,
                                     const char *name);
gboolean vmm_virtio_gpu_load_device (struct vmm_virtio_gpu *gpu, const struct vmm_state_file *f,
                                     const char *name, bool apply, GError **error);
