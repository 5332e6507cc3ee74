/* gpu.h: a polling virtio-gpu 2D driver (virtio 1.2 §5.7)
 *
 * One request in flight at a time on each queue: the driver writes the
 * request, waits for the used element and returns the response type.
 * Resources are backed by one contiguous range of guest RAM each.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio.h"

#define VIRTIO_GPU_ID            0x1050
#define VIRTIO_GPU_F_EDID        1

#define VIRTIO_GPU_EVENT_DISPLAY 1
/* struct virtio_gpu_config */
#define GPU_CFG_EVENTS_READ      0
#define GPU_CFG_EVENTS_CLEAR     4
#define GPU_CFG_NUM_SCANOUTS     8

enum
{
  GPU_CMD_UNSPEC = 0,
  GPU_CMD_GET_DISPLAY_INFO = 0x0100,
  GPU_CMD_RESOURCE_CREATE_2D,
  GPU_CMD_RESOURCE_UNREF,
  GPU_CMD_SET_SCANOUT,
  GPU_CMD_RESOURCE_FLUSH,
  GPU_CMD_TRANSFER_TO_HOST_2D,
  GPU_CMD_RESOURCE_ATTACH_BACKING,
  GPU_CMD_RESOURCE_DETACH_BACKING,
  GPU_CMD_GET_CAPSET_INFO,
  GPU_CMD_GET_CAPSET,
  GPU_CMD_GET_EDID,
  GPU_CMD_UPDATE_CURSOR = 0x0300,
  GPU_CMD_MOVE_CURSOR,
};

enum
{
  GPU_RESP_OK_NODATA = 0x1100,
  GPU_RESP_OK_DISPLAY_INFO,
  GPU_RESP_OK_CAPSET_INFO,
  GPU_RESP_OK_CAPSET,
  GPU_RESP_OK_EDID,
  GPU_RESP_ERR_UNSPEC = 0x1200,
  GPU_RESP_ERR_OUT_OF_MEMORY,
  GPU_RESP_ERR_INVALID_SCANOUT_ID,
  GPU_RESP_ERR_INVALID_RESOURCE_ID,
  GPU_RESP_ERR_INVALID_CONTEXT_ID,
  GPU_RESP_ERR_INVALID_PARAMETER,
};

/* Not a response type: the device did not answer (timeout, NEEDS_RESET) */
#define GPU_RESP_NONE 0

#define GPU_FMT_B8G8R8A8 1
#define GPU_FMT_B8G8R8X8 2

#define GPU_HDR_LEN 24

struct gpu_rect
{
  uint32_t x, y, w, h;
};

struct gpu
{
  const struct pci_dev *pci;
  struct pci_bar bars[6];
  struct virtio_dev dev;
  bool ok;                      /* set up, DRIVER_OK */
  uint32_t num_scanouts;
};

/* Finds 1af4:1050, sizes its BARs and reads its capabilities; no output */
bool gpu_find (struct gpu *g, const struct pci *pci);
/* The handshake with EDID where offered, both queues, DRIVER_OK */
bool gpu_setup (struct gpu *g);

/* A raw control-queue request: req_len bytes out, up to resp_cap bytes of
 * response in resp (NULL: a header into a scratch buffer).  Returns the
 * response type, GPU_RESP_NONE if none came. */
uint32_t gpu_raw (struct gpu *g, const void *req, uint32_t req_len, void *resp,
                  uint32_t resp_cap);
/* A header for a request of type */
void gpu_hdr (void *req, uint32_t type);

/* The commands; each returns the response type */
uint32_t gpu_display_info (struct gpu *g, struct gpu_rect rects[16], bool enabled[16]);
uint32_t gpu_get_edid (struct gpu *g, uint32_t scanout, uint8_t edid[1024], uint32_t *size);
uint32_t gpu_create_2d (struct gpu *g, uint32_t id, uint32_t format, uint32_t w, uint32_t h);
uint32_t gpu_unref (struct gpu *g, uint32_t id);
uint32_t gpu_attach (struct gpu *g, uint32_t id, uint64_t addr, uint32_t len);
uint32_t gpu_set_scanout (struct gpu *g, uint32_t scanout, uint32_t id, struct gpu_rect r);
uint32_t gpu_transfer (struct gpu *g, uint32_t id, struct gpu_rect r, uint64_t offset);
uint32_t gpu_flush (struct gpu *g, uint32_t id, struct gpu_rect r);
/* Cursor queue (no response buffer, as Linux sends them); returns
 * whether the request came back used */
bool gpu_update_cursor (struct gpu *g, uint32_t id, uint32_t x, uint32_t y, uint32_t hot_x,
                        uint32_t hot_y);
bool gpu_move_cursor (struct gpu *g, uint32_t x, uint32_t y);

const char *gpu_resp_name (uint32_t type);
