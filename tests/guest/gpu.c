/* gpu.c: a polling virtio-gpu 2D driver
 *
 * Written from virtio 1.2 §5.7.  Every request is two descriptors (the
 * request, device-readable; the response, device-writable), and the
 * driver waits for it before the next, so descriptor 0 is always the head.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "gpu.h"

#define VIRTIO_VENDOR 0x1af4
#define GPU_QSIZE     16
#define GPU_WAIT_MS   2000

static uint8_t req_buf[4096] __attribute__ ((aligned (64)));
static uint8_t resp_buf[2048] __attribute__ ((aligned (64)));
static uint8_t cursor_buf[64] __attribute__ ((aligned (64)));

static void put32 (uint8_t *p, uint32_t v) { memcpy (p, &v, 4); }
static void put64 (uint8_t *p, uint64_t v) { memcpy (p, &v, 8); }
static uint32_t get32 (const uint8_t *p) { uint32_t v; memcpy (&v, p, 4); return v; }

static void
put_rect (uint8_t *p, struct gpu_rect r)
{
  put32 (p, r.x);
  put32 (p + 4, r.y);
  put32 (p + 8, r.w);
  put32 (p + 12, r.h);
}

bool
gpu_find (struct gpu *g, const struct pci *pci)
{
  memset (g, 0, sizeof *g);
  g->pci = pci_find (pci, VIRTIO_VENDOR, VIRTIO_GPU_ID);
  if (!g->pci)
    return false;
  for (unsigned i = 0; i < 6;)
    {
      bool restored;
      unsigned used = pci_bar_size (g->pci, i, &g->bars[i], &restored);

      if (g->bars[i].present && !g->bars[i].io)
        map_phys (g->bars[i].base, g->bars[i].size);
      i += used;
    }
  return virtio_find_caps (&g->dev, g->pci, g->bars, false) && g->dev.device.addr;
}

bool
gpu_setup (struct gpu *g)
{
  g->ok = virtio_begin (&g->dev, 1ull << VIRTIO_GPU_F_EDID, false)
          && virtio_setup_queue (&g->dev, 0, GPU_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
          && virtio_setup_queue (&g->dev, 1, GPU_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
          && virtio_driver_ok (&g->dev, false);
  if (g->ok)
    g->num_scanouts = virtio_cfg_read32 (&g->dev, GPU_CFG_NUM_SCANOUTS);
  return g->ok;
}

void
gpu_hdr (void *req, uint32_t type)
{
  memset (req, 0, GPU_HDR_LEN);
  put32 (req, type);
}

uint32_t
gpu_raw (struct gpu *g, const void *req, uint32_t req_len, void *resp, uint32_t resp_cap)
{
  struct vq *q = &g->dev.vq[0];
  uint8_t *r = resp ? resp : resp_buf;
  uint32_t cap = resp ? resp_cap : GPU_HDR_LEN, len;

  if (!g->ok)
    return GPU_RESP_NONE;
  if (req != req_buf)
    memcpy (req_buf, req, req_len);
  memset (r, 0, cap);
  virtq_set_desc (q, 0, (uint64_t) req_buf, req_len, VIRTQ_DESC_F_NEXT, 1);
  virtq_set_desc (q, 1, (uint64_t) r, cap, VIRTQ_DESC_F_WRITE, 0);
  if (virtq_submit_wait (q, 0, GPU_WAIT_MS, &len) != VQ_USED || len < GPU_HDR_LEN)
    return GPU_RESP_NONE;
  return get32 (r);
}

uint32_t
gpu_display_info (struct gpu *g, struct gpu_rect rects[16], bool enabled[16])
{
  uint32_t t;

  gpu_hdr (req_buf, GPU_CMD_GET_DISPLAY_INFO);
  t = gpu_raw (g, req_buf, GPU_HDR_LEN, resp_buf, GPU_HDR_LEN + 16 * 24);
  for (unsigned i = 0; i < 16; i++)
    {
      const uint8_t *p = resp_buf + GPU_HDR_LEN + 24 * i;

      rects[i] = (struct gpu_rect) { get32 (p), get32 (p + 4), get32 (p + 8), get32 (p + 12) };
      enabled[i] = t == GPU_RESP_OK_DISPLAY_INFO && get32 (p + 16) != 0;
    }
  return t;
}

uint32_t
gpu_get_edid (struct gpu *g, uint32_t scanout, uint8_t edid[1024], uint32_t *size)
{
  uint32_t t;

  gpu_hdr (req_buf, GPU_CMD_GET_EDID);
  put32 (req_buf + GPU_HDR_LEN, scanout);
  put32 (req_buf + GPU_HDR_LEN + 4, 0);
  t = gpu_raw (g, req_buf, GPU_HDR_LEN + 8, resp_buf, GPU_HDR_LEN + 8 + 1024);
  *size = get32 (resp_buf + GPU_HDR_LEN);
  memcpy (edid, resp_buf + GPU_HDR_LEN + 8, 1024);
  return t;
}

uint32_t
gpu_create_2d (struct gpu *g, uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
  gpu_hdr (req_buf, GPU_CMD_RESOURCE_CREATE_2D);
  put32 (req_buf + GPU_HDR_LEN, id);
  put32 (req_buf + GPU_HDR_LEN + 4, format);
  put32 (req_buf + GPU_HDR_LEN + 8, w);
  put32 (req_buf + GPU_HDR_LEN + 12, h);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 16, NULL, 0);
}

uint32_t
gpu_unref (struct gpu *g, uint32_t id)
{
  gpu_hdr (req_buf, GPU_CMD_RESOURCE_UNREF);
  put32 (req_buf + GPU_HDR_LEN, id);
  put32 (req_buf + GPU_HDR_LEN + 4, 0);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 8, NULL, 0);
}

uint32_t
gpu_attach (struct gpu *g, uint32_t id, uint64_t addr, uint32_t len)
{
  gpu_hdr (req_buf, GPU_CMD_RESOURCE_ATTACH_BACKING);
  put32 (req_buf + GPU_HDR_LEN, id);
  put32 (req_buf + GPU_HDR_LEN + 4, 1);
  put64 (req_buf + GPU_HDR_LEN + 8, addr);
  put32 (req_buf + GPU_HDR_LEN + 16, len);
  put32 (req_buf + GPU_HDR_LEN + 20, 0);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 24, NULL, 0);
}

uint32_t
gpu_set_scanout (struct gpu *g, uint32_t scanout, uint32_t id, struct gpu_rect r)
{
  gpu_hdr (req_buf, GPU_CMD_SET_SCANOUT);
  put_rect (req_buf + GPU_HDR_LEN, r);
  put32 (req_buf + GPU_HDR_LEN + 16, scanout);
  put32 (req_buf + GPU_HDR_LEN + 20, id);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 24, NULL, 0);
}

uint32_t
gpu_transfer (struct gpu *g, uint32_t id, struct gpu_rect r, uint64_t offset)
{
  gpu_hdr (req_buf, GPU_CMD_TRANSFER_TO_HOST_2D);
  put_rect (req_buf + GPU_HDR_LEN, r);
  put64 (req_buf + GPU_HDR_LEN + 16, offset);
  put32 (req_buf + GPU_HDR_LEN + 24, id);
  put32 (req_buf + GPU_HDR_LEN + 28, 0);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 32, NULL, 0);
}

uint32_t
gpu_flush (struct gpu *g, uint32_t id, struct gpu_rect r)
{
  gpu_hdr (req_buf, GPU_CMD_RESOURCE_FLUSH);
  put_rect (req_buf + GPU_HDR_LEN, r);
  put32 (req_buf + GPU_HDR_LEN + 16, id);
  put32 (req_buf + GPU_HDR_LEN + 20, 0);
  return gpu_raw (g, req_buf, GPU_HDR_LEN + 24, NULL, 0);
}

static bool
cursor_cmd (struct gpu *g, uint32_t type, uint32_t id, uint32_t x, uint32_t y, uint32_t hot_x,
            uint32_t hot_y)
{
  struct vq *q = &g->dev.vq[1];
  uint32_t len;

  if (!g->ok)
    return false;
  gpu_hdr (cursor_buf, type);
  put32 (cursor_buf + GPU_HDR_LEN, 0);          /* scanout */
  put32 (cursor_buf + GPU_HDR_LEN + 4, x);
  put32 (cursor_buf + GPU_HDR_LEN + 8, y);
  put32 (cursor_buf + GPU_HDR_LEN + 12, 0);
  put32 (cursor_buf + GPU_HDR_LEN + 16, id);
  put32 (cursor_buf + GPU_HDR_LEN + 20, hot_x);
  put32 (cursor_buf + GPU_HDR_LEN + 24, hot_y);
  put32 (cursor_buf + GPU_HDR_LEN + 28, 0);
  virtq_set_desc (q, 0, (uint64_t) cursor_buf, GPU_HDR_LEN + 32, 0, 0);
  return virtq_submit_wait (q, 0, GPU_WAIT_MS, &len) == VQ_USED;
}

bool
gpu_update_cursor (struct gpu *g, uint32_t id, uint32_t x, uint32_t y, uint32_t hot_x,
                   uint32_t hot_y)
{
  return cursor_cmd (g, GPU_CMD_UPDATE_CURSOR, id, x, y, hot_x, hot_y);
}

bool
gpu_move_cursor (struct gpu *g, uint32_t x, uint32_t y)
{
  return cursor_cmd (g, GPU_CMD_MOVE_CURSOR, 0, x, y, 0, 0);
}

const char *
gpu_resp_name (uint32_t type)
{
  static const char *const ok[] = { "OK_NODATA", "OK_DISPLAY_INFO", "OK_CAPSET_INFO",
                                    "OK_CAPSET", "OK_EDID" };
  static const char *const err[] = { "ERR_UNSPEC", "ERR_OUT_OF_MEMORY",
                                     "ERR_INVALID_SCANOUT_ID", "ERR_INVALID_RESOURCE_ID",
                                     "ERR_INVALID_CONTEXT_ID", "ERR_INVALID_PARAMETER" };

  if (type >= GPU_RESP_OK_NODATA && type - GPU_RESP_OK_NODATA < ARRAY_SIZE (ok))
    return ok[type - GPU_RESP_OK_NODATA];
  if (type >= GPU_RESP_ERR_UNSPEC && type - GPU_RESP_ERR_UNSPEC < ARRAY_SIZE (err))
    return err[type - GPU_RESP_ERR_UNSPEC];
  return type == GPU_RESP_NONE ? "no response" : "unknown";
}
