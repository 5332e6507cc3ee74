/* virtio/gpu.c: the GPU device, 2D only (virtio 1.2, 5.7)
 *
 * Queue 0 is the control queue, queue 1 the cursor queue. Every request
 * starts with a control header; the response goes into the chain's
 * writable part. Resources live in host memory (calloc'd, at most
 * VMM_GPU_MAX_HOST_MEM together); the guest attaches pages of its RAM as a
 * resource's backing, and TRANSFER_TO_HOST_2D copies from them into the
 * resource. The scanout shows a rectangle of one resource; RESOURCE_FLUSH
 * tells the listener which part changed.
 *
 * Everything the guest sends is copied out of its memory before it is
 * looked at. Resource ids, formats, sizes, rectangles, offsets and backing
 * entries are checked; a command that fails a check changes nothing and
 * is answered with the matching VIRTIO_GPU_RESP_ERR_*. Backing entries are
 * translated to host pointers once, at ATTACH_BACKING, each wholly inside
 * one region of guest RAM (vmm_mem_ptr); guest RAM is never unmapped while
 * the device lives.
 *
 * No 3D: no virgl, no capsets, no contexts. Commands for a context are
 * answered INVALID_CONTEXT_ID, as no context id is valid; unknown ones
 * UNSPEC.
 *
 * Locking: dev->lock covers all of it, as for every device; request_size
 * (another thread) only queues the size under its own small lock and
 * wakes the loop through an eventfd.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/gpu.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zlib.h>

#include "display/edid.h"
#include "snapshot/state.h"
#include "viv-bytes.h"

#define VIRTIO_ID_GPU             16
#define PCI_CLASS_DISPLAY_OTHER   0x038000
#define GPU_QUEUE_SIZE            256
#define Q_CONTROL                 0
#define Q_CURSOR                  1

/* Feature bits */
#define VIRTIO_GPU_F_VIRGL        0
#define VIRTIO_GPU_F_EDID         1

/* struct virtio_gpu_config */
#define CFG_EVENTS_READ           0
#define CFG_EVENTS_CLEAR          4
#define CFG_NUM_SCANOUTS          8
#define CFG_NUM_CAPSETS           12
#define CFG_SIZE                  16

#define VIRTIO_GPU_EVENT_DISPLAY  1
#define NUM_SCANOUTS              1
#define MAX_SCANOUTS              16    /* entries in the display info */

/* Commands */
enum {
  CMD_GET_DISPLAY_INFO = 0x0100,
  CMD_RESOURCE_CREATE_2D,
  CMD_RESOURCE_UNREF,
  CMD_SET_SCANOUT,
  CMD_RESOURCE_FLUSH,
  CMD_TRANSFER_TO_HOST_2D,
  CMD_RESOURCE_ATTACH_BACKING,
  CMD_RESOURCE_DETACH_BACKING,
  CMD_GET_CAPSET_INFO,
  CMD_GET_CAPSET,
  CMD_GET_EDID,
  CMD_CTX_FIRST = 0x0200,
  CMD_CTX_LAST = 0x02ff,
  CMD_UPDATE_CURSOR = 0x0300,
  CMD_MOVE_CURSOR,
};

/* Responses */
enum {
  RESP_OK_NODATA = 0x1100,
  RESP_OK_DISPLAY_INFO,
  RESP_OK_CAPSET_INFO,
  RESP_OK_CAPSET,
  RESP_OK_EDID,
  RESP_ERR_UNSPEC = 0x1200,
  RESP_ERR_OUT_OF_MEMORY,
  RESP_ERR_INVALID_SCANOUT_ID,
  RESP_ERR_INVALID_RESOURCE_ID,
  RESP_ERR_INVALID_CONTEXT_ID,
  RESP_ERR_INVALID_PARAMETER,
};

#define VIRTIO_GPU_FLAG_FENCE         1
#define VIRTIO_GPU_FLAG_INFO_RING_IDX 2

/* Formats */
enum {
  FMT_B8G8R8A8 = 1,
  FMT_B8G8R8X8 = 2,
  FMT_A8R8G8B8 = 3,
  FMT_X8R8G8B8 = 4,
  FMT_R8G8B8A8 = 67,
  FMT_X8B8G8R8 = 68,
  FMT_A8B8G8R8 = 121,
  FMT_R8G8B8X8 = 134,
};

/* Wire sizes (all fields little-endian) */
#define HDR_LEN           24    /* type, flags, fence_id (64), ctx_id, ring_idx, pad[3] */
#define RECT_LEN          16    /* x, y, width, height */
#define MEM_ENTRY_LEN     16    /* addr (64), length, padding */
#define DISPLAY_INFO_LEN  (HDR_LEN + MAX_SCANOUTS * (RECT_LEN + 8))
#define EDID_RESP_LEN     (HDR_LEN + 8 + 1024)
#define RESP_MAX          EDID_RESP_LEN
/* Each command's length, header included */
#define LEN_CREATE_2D     (HDR_LEN + 16)
#define LEN_UNREF         (HDR_LEN + 8)
#define LEN_SET_SCANOUT   (HDR_LEN + RECT_LEN + 8)
#define LEN_FLUSH         (HDR_LEN + RECT_LEN + 8)
#define LEN_TRANSFER      (HDR_LEN + RECT_LEN + 16)
#define LEN_ATTACH        (HDR_LEN + 8)
#define LEN_DETACH        (HDR_LEN + 8)
#define LEN_GET_EDID      (HDR_LEN + 8)
#define LEN_CURSOR        (HDR_LEN + 16 + 16)   /* pos (scanout, x, y, pad), resource, hot x, y, pad */

#define CURSOR_SIZE       64
#define BPP               4

struct backing_entry {
  const uint8_t *host;
  uint64_t addr;                /* where the guest put it, for a saved state */
  uint64_t start;               /* offset of this entry in the backing */
  uint32_t len;
};

struct gpu_resource {
  uint32_t id;
  uint32_t format;              /* virtio's */
  enum vmm_pixel_format pixel_format;
  uint32_t width, height, stride;
  uint64_t size;
  uint8_t *data;
  struct backing_entry *backing;  /* NULL: none attached */
  uint32_t n_backing;
  uint64_t backing_len;
};

struct gpu_rect {
  uint32_t x, y, w, h;
};

struct vmm_virtio_gpu {
  struct vmm_virtio_dev dev;

  uint32_t width, height;       /* the preferred size */
  uint32_t events_read;

  GHashTable *resources;        /* id → struct gpu_resource */
  uint64_t host_mem;            /* bytes their pixels take */

  /* The scanout */
  struct gpu_resource *scanout_res;   /* NULL: disabled */
  struct gpu_rect scanout_rect;

  /* The cursor: the image as the last UPDATE_CURSOR gave it (the guest may
   * unref its resource afterwards; a restored state shows it again) */
  bool cursor_shown;
  uint32_t cursor_hot_x, cursor_hot_y;
  int32_t cursor_x, cursor_y;
  uint8_t cursor_image[CURSOR_SIZE * CURSOR_SIZE * BPP];

  struct vmm_display_listener listener;
  bool has_listener;

  /* request_size, from another thread */
  pthread_mutex_t pending_lock;
  uint32_t pending_width, pending_height;
  bool pending;
  int wake_fd;
  bool wake_added;
};

/* ---- helpers ------------------------------------------------------------------------ */

static bool
format_of (uint32_t format, enum vmm_pixel_format *out)
{
  switch (format)
    {
    case FMT_B8G8R8A8: *out = VMM_PIXEL_ARGB8888; return true;
    case FMT_B8G8R8X8: *out = VMM_PIXEL_XRGB8888; return true;
    case FMT_A8R8G8B8: *out = VMM_PIXEL_BGRA8888; return true;
    case FMT_X8R8G8B8: *out = VMM_PIXEL_BGRX8888; return true;
    case FMT_R8G8B8A8: *out = VMM_PIXEL_ABGR8888; return true;
    case FMT_X8B8G8R8: *out = VMM_PIXEL_RGBX8888; return true;
    case FMT_A8B8G8R8: *out = VMM_PIXEL_RGBA8888; return true;
    case FMT_R8G8B8X8: *out = VMM_PIXEL_XBGR8888; return true;
    default: return false;
    }
}

static void
get_rect (const uint8_t *p, struct gpu_rect *r)
{
  r->x = viv_get_le32 (p);
  r->y = viv_get_le32 (p + 4);
  r->w = viv_get_le32 (p + 8);
  r->h = viv_get_le32 (p + 12);
}

/* Whether R is a rectangle inside RES (empty ones included), without
 * overflow */
static bool
rect_inside (const struct gpu_rect *r, const struct gpu_resource *res)
{
  return r->x <= res->width && r->w <= res->width - r->x &&
         r->y <= res->height && r->h <= res->height - r->y;
}

static void
resource_free_backing (struct gpu_resource *res)
{
  free (res->backing);
  res->backing = NULL;
  res->n_backing = 0;
  res->backing_len = 0;
}

static void
resource_free (gpointer data)
{
  struct gpu_resource *res = data;

  resource_free_backing (res);
  free (res->data);
  free (res);
}

static struct vmm_display_surface
scanout_surface (const struct vmm_virtio_gpu *gpu)
{
  const struct gpu_resource *res = gpu->scanout_res;
  const struct gpu_rect *r = &gpu->scanout_rect;

  return (struct vmm_display_surface) {
    .width = r->w,
    .height = r->h,
    .stride = res->stride,
    .format = res->pixel_format,
    .pixels = res->data + (uint64_t) r->y * res->stride + (uint64_t) r->x * BPP,
  };
}

static struct vmm_display_cursor
cursor_of (const struct vmm_virtio_gpu *gpu)
{
  return (struct vmm_display_cursor) {
    .width = CURSOR_SIZE, .height = CURSOR_SIZE,
    .hot_x = gpu->cursor_hot_x, .hot_y = gpu->cursor_hot_y,
    .pixels = gpu->cursor_image,
  };
}

static void
scanout_disable (struct vmm_virtio_gpu *gpu)
{
  gpu->scanout_res = NULL;
  if (gpu->has_listener)
    gpu->listener.set_surface (gpu->listener.data, NULL);
}

/* Copies LEN bytes at OFFSET of RES's backing (the caller checked that
 * they are inside it) to DST. */
static void
backing_read (const struct gpu_resource *res, uint64_t offset, uint8_t *dst, uint32_t len)
{
  uint32_t lo = 0, hi = res->n_backing;

  /* the last entry starting at or before OFFSET */
  while (hi - lo > 1)
    {
      uint32_t mid = lo + (hi - lo) / 2;

      if (res->backing[mid].start <= offset)
        lo = mid;
      else
        hi = mid;
    }
  for (uint32_t i = lo; i < res->n_backing && len > 0; i++)
    {
      const struct backing_entry *e = &res->backing[i];
      uint64_t in = offset - e->start;
      uint32_t n;

      if (offset < e->start || in >= e->len)
        continue;   /* zero-length entries */
      n = (uint32_t) MIN ((uint64_t) len, e->len - in);
      memcpy (dst, e->host + in, n);
      dst += n;
      offset += n;
      len -= n;
    }
}

/* ---- the commands ---------------------------------------------------------------------
 * Each takes the request (REQ, LEN bytes copied out: at least the command's
 * own length, checked by the caller) and writes its response body after
 * the header in RESP, returning the response type; *RESP_LEN is the
 * response's length. */

static uint32_t
cmd_get_display_info (struct vmm_virtio_gpu *gpu, uint8_t *resp, uint32_t *resp_len)
{
  uint8_t *pm = resp + HDR_LEN;

  memset (pm, 0, DISPLAY_INFO_LEN - HDR_LEN);
  viv_put_le32 (pm + 8, gpu->width);
  viv_put_le32 (pm + 12, gpu->height);
  viv_put_le32 (pm + 16, 1);      /* enabled */
  *resp_len = DISPLAY_INFO_LEN;
  return RESP_OK_DISPLAY_INFO;
}

static uint32_t
cmd_get_edid (struct vmm_virtio_gpu *gpu, const uint8_t *req, uint8_t *resp,
              uint32_t *resp_len)
{
  uint32_t scanout = viv_get_le32 (req + HDR_LEN);

  if (scanout >= NUM_SCANOUTS)
    return RESP_ERR_INVALID_SCANOUT_ID;
  memset (resp + HDR_LEN, 0, EDID_RESP_LEN - HDR_LEN);
  viv_put_le32 (resp + HDR_LEN, VMM_EDID_SIZE);
  vmm_edid_build (resp + HDR_LEN + 8, gpu->width, gpu->height);
  *resp_len = EDID_RESP_LEN;
  return RESP_OK_EDID;
}

static uint32_t
cmd_resource_create_2d (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  uint32_t id = viv_get_le32 (req + HDR_LEN);
  uint32_t format = viv_get_le32 (req + HDR_LEN + 4);
  uint32_t width = viv_get_le32 (req + HDR_LEN + 8);
  uint32_t height = viv_get_le32 (req + HDR_LEN + 12);
  enum vmm_pixel_format pf;
  struct gpu_resource *res;
  uint64_t size;

  if (id == 0 || g_hash_table_contains (gpu->resources, GUINT_TO_POINTER (id)))
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (!format_of (format, &pf))
    return RESP_ERR_INVALID_PARAMETER;
  if (width == 0 || height == 0 || width > VMM_GPU_MAX_DIM || height > VMM_GPU_MAX_DIM)
    return RESP_ERR_INVALID_PARAMETER;
  size = (uint64_t) width * height * BPP;
  if (size > VMM_GPU_MAX_RESOURCE_MEM || size > VMM_GPU_MAX_HOST_MEM - gpu->host_mem ||
      g_hash_table_size (gpu->resources) >= VMM_GPU_MAX_RESOURCES)
    return RESP_ERR_OUT_OF_MEMORY;

  res = calloc (1, sizeof *res);
  if (res == NULL)
    return RESP_ERR_OUT_OF_MEMORY;
  res->data = calloc (1, size);
  if (res->data == NULL)
    {
      free (res);
      return RESP_ERR_OUT_OF_MEMORY;
    }
  res->id = id;
  res->format = format;
  res->pixel_format = pf;
  res->width = width;
  res->height = height;
  res->stride = width * BPP;
  res->size = size;
  gpu->host_mem += size;
  g_hash_table_insert (gpu->resources, GUINT_TO_POINTER (id), res);
  return RESP_OK_NODATA;
}

static struct gpu_resource *
lookup (struct vmm_virtio_gpu *gpu, uint32_t id)
{
  return id == 0 ? NULL : g_hash_table_lookup (gpu->resources, GUINT_TO_POINTER (id));
}

static uint32_t
cmd_resource_unref (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  struct gpu_resource *res = lookup (gpu, viv_get_le32 (req + HDR_LEN));

  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (gpu->scanout_res == res)
    scanout_disable (gpu);
  gpu->host_mem -= res->size;
  g_hash_table_remove (gpu->resources, GUINT_TO_POINTER (res->id));
  return RESP_OK_NODATA;
}

static uint32_t
cmd_set_scanout (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  struct gpu_rect r;
  uint32_t scanout = viv_get_le32 (req + HDR_LEN + RECT_LEN);
  uint32_t id = viv_get_le32 (req + HDR_LEN + RECT_LEN + 4);
  struct gpu_resource *res;
  struct vmm_display_surface surface;

  get_rect (req + HDR_LEN, &r);
  if (scanout >= NUM_SCANOUTS)
    return RESP_ERR_INVALID_SCANOUT_ID;
  if (id == 0)
    {
      if (gpu->scanout_res != NULL)
        scanout_disable (gpu);
      return RESP_OK_NODATA;
    }
  res = lookup (gpu, id);
  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (r.w == 0 || r.h == 0 || !rect_inside (&r, res))
    return RESP_ERR_INVALID_PARAMETER;
  gpu->scanout_res = res;
  gpu->scanout_rect = r;
  surface = scanout_surface (gpu);
  if (gpu->has_listener)
    gpu->listener.set_surface (gpu->listener.data, &surface);
  return RESP_OK_NODATA;
}

static uint32_t
cmd_resource_flush (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  struct gpu_rect r;
  const struct gpu_rect *s = &gpu->scanout_rect;
  struct gpu_resource *res = lookup (gpu, viv_get_le32 (req + HDR_LEN + RECT_LEN));
  struct vmm_display_surface surface;
  uint32_t x0, y0, x1, y1;

  get_rect (req + HDR_LEN, &r);
  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (!rect_inside (&r, res))
    return RESP_ERR_INVALID_PARAMETER;
  if (gpu->scanout_res != res || !gpu->has_listener)
    return RESP_OK_NODATA;

  /* the part of R the scanout shows, in the scanout's coordinates (both
   * rectangles are inside the resource: no overflow) */
  x0 = MAX (r.x, s->x);
  y0 = MAX (r.y, s->y);
  x1 = MIN (r.x + r.w, s->x + s->w);
  y1 = MIN (r.y + r.h, s->y + s->h);
  if (x0 >= x1 || y0 >= y1)
    return RESP_OK_NODATA;
  surface = scanout_surface (gpu);
  gpu->listener.update (gpu->listener.data, &surface, x0 - s->x, y0 - s->y, x1 - x0, y1 - y0);
  return RESP_OK_NODATA;
}

static uint32_t
cmd_transfer_to_host_2d (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  struct gpu_rect r;
  uint64_t offset = viv_get_le64 (req + HDR_LEN + RECT_LEN);
  struct gpu_resource *res = lookup (gpu, viv_get_le32 (req + HDR_LEN + RECT_LEN + 8));
  uint32_t row;

  get_rect (req + HDR_LEN, &r);
  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (res->backing == NULL)
    return RESP_ERR_UNSPEC;
  if (!rect_inside (&r, res))
    return RESP_ERR_INVALID_PARAMETER;
  if (r.w == 0 || r.h == 0)
    return RESP_OK_NODATA;
  /* Row k of the rectangle comes from OFFSET + k × stride in the backing
   * (the layout of the guest's copy of the whole resource): the last row
   * must end inside it. */
  row = r.w * BPP;
  if (offset > res->backing_len ||
      (uint64_t) (r.h - 1) * res->stride + row > res->backing_len - offset)
    return RESP_ERR_INVALID_PARAMETER;
  for (uint32_t k = 0; k < r.h; k++)
    backing_read (res, offset + (uint64_t) k * res->stride,
                  res->data + (uint64_t) (r.y + k) * res->stride + (uint64_t) r.x * BPP, row);
  return RESP_OK_NODATA;
}

static uint32_t
cmd_attach_backing (struct vmm_virtio_gpu *gpu, const struct virtq_chain *chain,
                    const uint8_t *req)
{
  struct gpu_resource *res = lookup (gpu, viv_get_le32 (req + HDR_LEN));
  uint32_t n = viv_get_le32 (req + HDR_LEN + 4);
  struct backing_entry *entries;
  uint64_t total = 0;

  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (res->backing != NULL)
    return RESP_ERR_UNSPEC;
  if (n == 0 || n > VMM_GPU_MAX_BACKING)
    return RESP_ERR_INVALID_PARAMETER;
  if (chain->out_len < LEN_ATTACH + (uint64_t) n * MEM_ENTRY_LEN)
    return RESP_ERR_UNSPEC;
  entries = calloc (n, sizeof *entries);
  if (entries == NULL)
    return RESP_ERR_OUT_OF_MEMORY;
  for (uint32_t i = 0; i < n; i++)
    {
      uint8_t e[MEM_ENTRY_LEN];
      uint64_t addr;
      uint32_t len;
      void *host;

      virtq_chain_read (chain, LEN_ATTACH + (uint64_t) i * MEM_ENTRY_LEN, e, sizeof e);
      addr = viv_get_le64 (e);
      len = viv_get_le32 (e + 8);
      host = vmm_mem_ptr (gpu->dev.env.mem, addr, len);
      if (host == NULL)
        {
          vmm_log_guest (&gpu->dev.rl, "virtio-gpu: backing entry %u of resource %u is not "
                         "in guest RAM", i, res->id);
          free (entries);
          return RESP_ERR_INVALID_PARAMETER;
        }
      entries[i] = (struct backing_entry) { host, addr, total, len };
      total += len;
    }
  if (total < res->size)
    {
      free (entries);
      return RESP_ERR_INVALID_PARAMETER;
    }
  res->backing = entries;
  res->n_backing = n;
  res->backing_len = total;
  return RESP_OK_NODATA;
}

static uint32_t
cmd_detach_backing (struct vmm_virtio_gpu *gpu, const uint8_t *req)
{
  struct gpu_resource *res = lookup (gpu, viv_get_le32 (req + HDR_LEN));

  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (res->backing == NULL)
    return RESP_ERR_UNSPEC;
  resource_free_backing (res);
  return RESP_OK_NODATA;
}

static uint32_t
cmd_cursor (struct vmm_virtio_gpu *gpu, uint32_t type, const uint8_t *req)
{
  uint32_t scanout = viv_get_le32 (req + HDR_LEN);
  int32_t x = (int32_t) viv_get_le32 (req + HDR_LEN + 4);
  int32_t y = (int32_t) viv_get_le32 (req + HDR_LEN + 8);
  uint32_t id = viv_get_le32 (req + HDR_LEN + 16);
  uint32_t hot_x = viv_get_le32 (req + HDR_LEN + 20);
  uint32_t hot_y = viv_get_le32 (req + HDR_LEN + 24);
  struct gpu_resource *res;
  struct vmm_display_cursor cursor;

  if (scanout >= NUM_SCANOUTS)
    return RESP_ERR_INVALID_SCANOUT_ID;
  if (type == CMD_MOVE_CURSOR)
    {
      gpu->cursor_x = x;
      gpu->cursor_y = y;
      if (gpu->has_listener && gpu->cursor_shown)
        gpu->listener.move_cursor (gpu->listener.data, x, y);
      return RESP_OK_NODATA;
    }
  if (id == 0)
    {
      if (gpu->has_listener && gpu->cursor_shown)
        gpu->listener.set_cursor (gpu->listener.data, NULL, x, y);
      gpu->cursor_shown = false;
      gpu->cursor_x = x;
      gpu->cursor_y = y;
      return RESP_OK_NODATA;
    }
  res = lookup (gpu, id);
  if (res == NULL)
    return RESP_ERR_INVALID_RESOURCE_ID;
  if (res->width != CURSOR_SIZE || res->height != CURSOR_SIZE || hot_x >= CURSOR_SIZE ||
      hot_y >= CURSOR_SIZE)
    return RESP_ERR_INVALID_PARAMETER;
  G_STATIC_ASSERT (sizeof gpu->cursor_image == (uint64_t) CURSOR_SIZE * CURSOR_SIZE * BPP);
  memcpy (gpu->cursor_image, res->data, sizeof gpu->cursor_image);
  gpu->cursor_shown = true;
  gpu->cursor_hot_x = hot_x;
  gpu->cursor_hot_y = hot_y;
  gpu->cursor_x = x;
  gpu->cursor_y = y;
  cursor = cursor_of (gpu);
  if (gpu->has_listener)
    gpu->listener.set_cursor (gpu->listener.data, &cursor, x, y);
  return RESP_OK_NODATA;
}

/* The length each command needs, header included; 0 for one we do not
 * know */
static uint32_t
command_len (uint32_t type)
{
  switch (type)
    {
    case CMD_GET_DISPLAY_INFO: return HDR_LEN;
    case CMD_RESOURCE_CREATE_2D: return LEN_CREATE_2D;
    case CMD_RESOURCE_UNREF: return LEN_UNREF;
    case CMD_SET_SCANOUT: return LEN_SET_SCANOUT;
    case CMD_RESOURCE_FLUSH: return LEN_FLUSH;
    case CMD_TRANSFER_TO_HOST_2D: return LEN_TRANSFER;
    case CMD_RESOURCE_ATTACH_BACKING: return LEN_ATTACH;
    case CMD_RESOURCE_DETACH_BACKING: return LEN_DETACH;
    case CMD_GET_EDID: return LEN_GET_EDID;
    case CMD_UPDATE_CURSOR: case CMD_MOVE_CURSOR: return LEN_CURSOR;
    default: return 0;
    }
}

/* Runs one command from queue Q; returns the bytes written into CHAIN */
static uint32_t
handle_command (struct vmm_virtio_gpu *gpu, unsigned q, const struct virtq_chain *chain)
{
  uint8_t req[LEN_CURSOR];      /* the longest fixed part */
  uint8_t resp[RESP_MAX];
  uint32_t type, flags, need, resp_type, resp_len = HDR_LEN;

  G_STATIC_ASSERT (LEN_CURSOR >= LEN_TRANSFER && LEN_CURSOR >= LEN_SET_SCANOUT);
  memset (req, 0, sizeof req);
  memset (resp, 0, HDR_LEN);
  if (chain->out_len < HDR_LEN)
    {
      vmm_log_guest (&gpu->dev.rl, "virtio-gpu: a request shorter than its header");
      viv_put_le32 (resp, RESP_ERR_UNSPEC);
      return virtq_chain_write (chain, resp, HDR_LEN);
    }
  virtq_chain_read (chain, 0, req, HDR_LEN);
  type = viv_get_le32 (req);
  flags = viv_get_le32 (req + 4);
  need = command_len (type);

  /* each queue has its own commands */
  if ((q == Q_CURSOR) != (type == CMD_UPDATE_CURSOR || type == CMD_MOVE_CURSOR))
    need = 0;
  if (type >= CMD_CTX_FIRST && type <= CMD_CTX_LAST && q == Q_CONTROL)
    resp_type = RESP_ERR_INVALID_CONTEXT_ID;
  else if (need == 0)
    resp_type = RESP_ERR_UNSPEC;
  else if (chain->out_len < need)
    resp_type = RESP_ERR_UNSPEC;
  else
    {
      virtq_chain_read (chain, HDR_LEN, req + HDR_LEN, need - HDR_LEN);
      switch (type)
        {
        case CMD_GET_DISPLAY_INFO:
          resp_type = cmd_get_display_info (gpu, resp, &resp_len);
          break;
        case CMD_GET_EDID:
          resp_type = vmm_virtio_has_feature (&gpu->dev, VIRTIO_GPU_F_EDID)
                        ? cmd_get_edid (gpu, req, resp, &resp_len)
                        : RESP_ERR_UNSPEC;
          break;
        case CMD_RESOURCE_CREATE_2D:
          resp_type = cmd_resource_create_2d (gpu, req);
          break;
        case CMD_RESOURCE_UNREF:
          resp_type = cmd_resource_unref (gpu, req);
          break;
        case CMD_SET_SCANOUT:
          resp_type = cmd_set_scanout (gpu, req);
          break;
        case CMD_RESOURCE_FLUSH:
          resp_type = cmd_resource_flush (gpu, req);
          break;
        case CMD_TRANSFER_TO_HOST_2D:
          resp_type = cmd_transfer_to_host_2d (gpu, req);
          break;
        case CMD_RESOURCE_ATTACH_BACKING:
          resp_type = cmd_attach_backing (gpu, chain, req);
          break;
        case CMD_RESOURCE_DETACH_BACKING:
          resp_type = cmd_detach_backing (gpu, req);
          break;
        default:
          resp_type = cmd_cursor (gpu, type, req);
          break;
        }
    }
  if (resp_type >= RESP_ERR_UNSPEC)
    {
      vmm_log_guest (&gpu->dev.rl, "virtio-gpu: command %#x answered with error %#x", type,
                     resp_type);
      resp_len = HDR_LEN;
    }

  viv_put_le32 (resp, resp_type);
  if (flags & VIRTIO_GPU_FLAG_FENCE)
    {
      /* fenced: the response carries the fence back (we complete in order) */
      viv_put_le32 (resp + 4, flags & (VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX));
      memcpy (resp + 8, req + 8, 8);    /* fence_id */
      memcpy (resp + 16, req + 16, 4);  /* ctx_id */
      if (flags & VIRTIO_GPU_FLAG_INFO_RING_IDX)
        resp[20] = req[20];
    }
  /* Linux gives cursor commands no response buffer: nothing to say then */
  if (chain->in_len < resp_len && q == Q_CONTROL)
    vmm_log_guest (&gpu->dev.rl, "virtio-gpu: no room for the response to command %#x", type);
  return virtq_chain_write (chain, resp, resp_len);
}

/* ---- the transport's ops ------------------------------------------------------------- */

static void
gpu_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_gpu *gpu = dev->priv;
  struct virtq *vq = &dev->queues[q].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  bool pushed = false;
  int ret;

  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint32_t len = handle_command (gpu, q, &chain);

      virtq_push (vq, chain.head, len);
      pushed = true;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, q);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, q);
      return;
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, q);
}

static void
gpu_config_read (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
  struct vmm_virtio_gpu *gpu = dev->priv;
  uint8_t cfg[CFG_SIZE] = { 0 };

  viv_put_le32 (cfg + CFG_EVENTS_READ, gpu->events_read);
  viv_put_le32 (cfg + CFG_NUM_SCANOUTS, NUM_SCANOUTS);
  viv_put_le32 (cfg + CFG_NUM_CAPSETS, 0);
  memcpy (data, cfg + offset, len);
}

static void
gpu_config_write (struct vmm_virtio_dev *dev, uint32_t offset, const void *data, uint32_t len)
{
  struct vmm_virtio_gpu *gpu = dev->priv;
  uint8_t cfg[CFG_SIZE] = { 0 };

  /* only events_clear is writable: the bits written clear events_read */
  if (offset + len <= CFG_EVENTS_CLEAR || offset >= CFG_EVENTS_CLEAR + 4)
    return;
  memcpy (cfg + offset, data, len);
  gpu->events_read &= ~viv_get_le32 (cfg + CFG_EVENTS_CLEAR);
}

static void
gpu_reset (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_gpu *gpu = dev->priv;

  if (gpu->scanout_res != NULL)
    scanout_disable (gpu);
  if (gpu->cursor_shown && gpu->has_listener)
    gpu->listener.set_cursor (gpu->listener.data, NULL, 0, 0);
  gpu->cursor_shown = false;
  gpu->cursor_hot_x = gpu->cursor_hot_y = 0;
  gpu->cursor_x = gpu->cursor_y = 0;
  memset (gpu->cursor_image, 0, sizeof gpu->cursor_image);
  g_hash_table_remove_all (gpu->resources);
  gpu->host_mem = 0;
  gpu->events_read = 0;
}

static void     gpu_state_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w,
                                const char *name);
static gboolean gpu_state_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f,
                                const char *name, bool apply, GError **error);

static const struct vmm_virtio_ops gpu_ops = {
  .name = "gpu",
  .device_id = VIRTIO_ID_GPU,
  .pci_class = PCI_CLASS_DISPLAY_OTHER,
  .features = 1ull << VIRTIO_GPU_F_EDID,
  .num_queues = 2,
  .queue_size = GPU_QUEUE_SIZE,
  .config_size = CFG_SIZE,
  .config_read = gpu_config_read,
  .config_write = gpu_config_write,
  .reset = gpu_reset,
  .queue_notify = gpu_queue_notify,
  .save = gpu_state_save,
  .load = gpu_state_load,
};

/* ---- a new size, from another thread ---------------------------------------------------- */

static uint32_t
clamp_size (uint32_t v)
{
  return CLAMP (v, VMM_EDID_MIN_ACTIVE, VMM_EDID_MAX_ACTIVE);
}

static void
on_wake (void *opaque, int fd, uint32_t events)
{
  struct vmm_virtio_gpu *gpu = opaque;
  uint32_t w, h;
  bool pending;

  (void) events;
  vmm_eventfd_drain (fd);
  pthread_mutex_lock (&gpu->pending_lock);
  pending = gpu->pending;
  w = gpu->pending_width;
  h = gpu->pending_height;
  gpu->pending = false;
  pthread_mutex_unlock (&gpu->pending_lock);
  if (!pending)
    return;

  pthread_mutex_lock (&gpu->dev.lock);
  gpu->width = w;
  gpu->height = h;
  gpu->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
  if ((gpu->dev.status & VIRTIO_STATUS_DRIVER_OK) &&
      !(gpu->dev.status & VIRTIO_STATUS_NEEDS_RESET))
    vmm_virtio_config_changed (&gpu->dev);
  pthread_mutex_unlock (&gpu->dev.lock);
}

void
vmm_virtio_gpu_request_size (struct vmm_virtio_gpu *gpu, uint32_t width, uint32_t height)
{
  uint64_t one = 1;

  if (width == 0 || height == 0)
    return;
  pthread_mutex_lock (&gpu->pending_lock);
  gpu->pending_width = clamp_size (width);
  gpu->pending_height = clamp_size (height);
  gpu->pending = true;
  pthread_mutex_unlock (&gpu->pending_lock);
  if (write (gpu->wake_fd, &one, sizeof one) != sizeof one)
    vmm_log_error ("virtio-gpu: cannot pass on a new display size: %s", strerror (errno));
}

static void
request_size_op (void *dev, uint32_t width, uint32_t height)
{
  vmm_virtio_gpu_request_size (dev, width, height);
}

struct vmm_display_device
vmm_virtio_gpu_display_device (struct vmm_virtio_gpu *gpu)
{
  return (struct vmm_display_device) { .request_size = request_size_op, .dev = gpu };
}

void
vmm_virtio_gpu_set_listener (struct vmm_virtio_gpu *gpu,
                             const struct vmm_display_listener *listener)
{
  pthread_mutex_lock (&gpu->dev.lock);
  gpu->has_listener = listener != NULL;
  if (listener != NULL)
    gpu->listener = *listener;
  pthread_mutex_unlock (&gpu->dev.lock);
}

/* ---- saved state ----------------------------------------------------------------------------
 * The section (version 1), in the device's own terms; the transport and
 * the queues are the transport's (virtio/pci.c):
 *
 *   u32 width, height              the preferred size: display info and EDID
 *   u32 events_read
 *   u32 n                          resources, by increasing id, each:
 *     u32 id, format, width, height
 *     u32 n_backing                0: none attached; then each entry's u64 address, u32 length
 *     zblob pixels                 width × height × 4 bytes, as the host holds them
 *   u32 scanout resource (0: disabled), u32 x, y, w, h (zeroes when disabled)
 *   bool cursor shown, u32 hot x, hot y, u32 x, y (int32 bits), zblob image (64 × 64 × 4)
 *
 * A zblob (vmm_state_put_zblob): its size comes from the context. A resource's pixels are saved because the guest may never
 * transfer them again (a console drawn once); its backing is saved as
 * guest addresses, as guest memory is restored on its own. */

#define GPU_STATE_VERSION  1

static int
compare_ids (const void *a, const void *b)
{
  guint x = GPOINTER_TO_UINT (*(const gpointer *) a), y = GPOINTER_TO_UINT (*(const gpointer *) b);

  return x < y ? -1 : x > y;
}

/* With the device's lock held */
static void
save_device_locked (struct vmm_virtio_gpu *gpu, struct vmm_state_writer *w, const char *name)
{
  g_autofree gpointer *ids = NULL;
  const struct gpu_resource *s;
  guint n;

  vmm_state_begin (w, name, GPU_STATE_VERSION);
  vmm_state_put_u32 (w, gpu->width);
  vmm_state_put_u32 (w, gpu->height);
  vmm_state_put_u32 (w, gpu->events_read);

  ids = (gpointer *) g_hash_table_get_keys_as_array (gpu->resources, &n);
  qsort (ids, n, sizeof *ids, compare_ids);
  vmm_state_put_u32 (w, n);
  for (guint i = 0; i < n; i++)
    {
      const struct gpu_resource *res = g_hash_table_lookup (gpu->resources, ids[i]);

      vmm_state_put_u32 (w, res->id);
      vmm_state_put_u32 (w, res->format);
      vmm_state_put_u32 (w, res->width);
      vmm_state_put_u32 (w, res->height);
      vmm_state_put_u32 (w, res->n_backing);
      for (uint32_t k = 0; k < res->n_backing; k++)
        {
          vmm_state_put_u64 (w, res->backing[k].addr);
          vmm_state_put_u32 (w, res->backing[k].len);
        }
      vmm_state_put_zblob (w, res->data, (uint32_t) res->size);
    }

  s = gpu->scanout_res;
  vmm_state_put_u32 (w, s != NULL ? s->id : 0);
  vmm_state_put_u32 (w, s != NULL ? gpu->scanout_rect.x : 0);
  vmm_state_put_u32 (w, s != NULL ? gpu->scanout_rect.y : 0);
  vmm_state_put_u32 (w, s != NULL ? gpu->scanout_rect.w : 0);
  vmm_state_put_u32 (w, s != NULL ? gpu->scanout_rect.h : 0);

  vmm_state_put_bool (w, gpu->cursor_shown);
  vmm_state_put_u32 (w, gpu->cursor_hot_x);
  vmm_state_put_u32 (w, gpu->cursor_hot_y);
  vmm_state_put_u32 (w, (uint32_t) gpu->cursor_x);
  vmm_state_put_u32 (w, (uint32_t) gpu->cursor_y);
  vmm_state_put_zblob (w, gpu->cursor_image, sizeof gpu->cursor_image);
  vmm_state_end (w);
}

void
vmm_virtio_gpu_save_device (struct vmm_virtio_gpu *gpu, struct vmm_state_writer *w,
                            const char *name)
{
  pthread_mutex_lock (&gpu->dev.lock);
  save_device_locked (gpu, w, name);
  pthread_mutex_unlock (&gpu->dev.lock);
}

/* What a section holds, read and checked before any of it is applied */
struct gpu_saved {
  uint32_t width, height, events_read;
  GHashTable *resources;        /* id → struct gpu_resource, as gpu->resources */
  uint64_t host_mem;
  uint32_t scanout_id;
  struct gpu_rect scanout_rect;
  bool cursor_shown;
  uint32_t cursor_hot_x, cursor_hot_y;
  int32_t cursor_x, cursor_y;
  uint8_t cursor_image[CURSOR_SIZE * CURSOR_SIZE * BPP];
};

static void
gpu_saved_free (struct gpu_saved *s)
{
  if (s->resources != NULL)
    g_hash_table_unref (s->resources);
  g_free (s);
}

typedef struct gpu_saved GpuSaved;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GpuSaved, gpu_saved_free)

/* Reads one resource (ids before it were up to PREV_ID) as
 * RESOURCE_CREATE_2D and ATTACH_BACKING would have made it, with the
 * checks they make; NULL when the reader failed. */
static struct gpu_resource *
load_resource (struct vmm_virtio_gpu *gpu, struct vmm_state_reader *r, uint32_t prev_id,
               uint64_t host_mem)
{
  struct gpu_resource *res;
  enum vmm_pixel_format pf;
  uint32_t id = vmm_state_get_u32 (r);
  uint32_t format = vmm_state_get_u32 (r);
  uint32_t width = vmm_state_get_u32 (r);
  uint32_t height = vmm_state_get_u32 (r);
  uint32_t n_backing = vmm_state_get_u32 (r);
  uint64_t size, total = 0;

  if (r->failed != NULL)
    return NULL;
  if (id <= prev_id)
    {
      vmm_state_reader_fail (r, N_("a resource id is 0, repeated or out of order"));
      return NULL;
    }
  if (!format_of (format, &pf))
    {
      vmm_state_reader_fail (r, N_("a resource has an unknown format"));
      return NULL;
    }
  if (width == 0 || height == 0 || width > VMM_GPU_MAX_DIM || height > VMM_GPU_MAX_DIM)
    {
      vmm_state_reader_fail (r, N_("a resource has a size the device does not allow"));
      return NULL;
    }
  size = (uint64_t) width * height * BPP;
  if (size > VMM_GPU_MAX_RESOURCE_MEM || size > VMM_GPU_MAX_HOST_MEM - host_mem)
    {
      vmm_state_reader_fail (r, N_("the resources take more memory than the device allows"));
      return NULL;
    }
  if (n_backing > VMM_GPU_MAX_BACKING)
    {
      vmm_state_reader_fail (r, N_("a resource has too many backing entries"));
      return NULL;
    }

  res = calloc (1, sizeof *res);
  if (res == NULL)
    goto no_memory;
  *res = (struct gpu_resource) {
    .id = id, .format = format, .pixel_format = pf, .width = width, .height = height,
    .stride = width * BPP, .size = size,
  };
  if (n_backing > 0)
    {
      res->backing = calloc (n_backing, sizeof *res->backing);
      if (res->backing == NULL)
        goto no_memory;
      res->n_backing = n_backing;
    }
  for (uint32_t k = 0; k < n_backing; k++)
    {
      uint64_t addr = vmm_state_get_u64 (r);
      uint32_t len = vmm_state_get_u32 (r);
      void *host;

      if (r->failed != NULL)
        goto fail;
      host = vmm_mem_ptr (gpu->dev.env.mem, addr, len);
      if (host == NULL)
        {
          vmm_state_reader_fail (r, N_("a backing entry is not in guest RAM"));
          goto fail;
        }
      res->backing[k] = (struct backing_entry) { host, addr, total, len };
      total += len;
    }
  if (n_backing > 0 && total < size)
    {
      vmm_state_reader_fail (r, N_("a resource's backing is smaller than the resource"));
      goto fail;
    }
  res->backing_len = total;
  res->data = malloc (size);
  if (res->data == NULL)
    goto no_memory;
  vmm_state_get_zblob (r, res->data, (uint32_t) size);
  if (r->failed != NULL)
    goto fail;
  return res;

no_memory:
  vmm_state_reader_fail (r, N_("there is not enough memory to restore it"));
fail:
  if (res != NULL)
    resource_free (res);
  return NULL;
}

static void
load_section (struct vmm_virtio_gpu *gpu, struct vmm_state_reader *r, struct gpu_saved *s)
{
  uint32_t n, prev_id = 0;

  s->width = vmm_state_get_u32 (r);
  s->height = vmm_state_get_u32 (r);
  s->events_read = vmm_state_get_u32 (r);
  if (s->width != clamp_size (s->width) || s->height != clamp_size (s->height))
    vmm_state_reader_fail (r, N_("the display size is not one the device offers"));
  if (s->events_read & ~(uint32_t) VIRTIO_GPU_EVENT_DISPLAY)
    vmm_state_reader_fail (r, N_("an unknown display event is pending"));

  n = vmm_state_get_u32 (r);
  if (n > VMM_GPU_MAX_RESOURCES)
    vmm_state_reader_fail (r, N_("there are more resources than the device allows"));
  for (uint32_t i = 0; i < n && r->failed == NULL; i++)
    {
      struct gpu_resource *res = load_resource (gpu, r, prev_id, s->host_mem);

      if (res == NULL)
        break;
      prev_id = res->id;
      s->host_mem += res->size;
      g_hash_table_insert (s->resources, GUINT_TO_POINTER (res->id), res);
    }

  s->scanout_id = vmm_state_get_u32 (r);
  s->scanout_rect.x = vmm_state_get_u32 (r);
  s->scanout_rect.y = vmm_state_get_u32 (r);
  s->scanout_rect.w = vmm_state_get_u32 (r);
  s->scanout_rect.h = vmm_state_get_u32 (r);
  if (r->failed == NULL && s->scanout_id != 0)
    {
      const struct gpu_resource *res = g_hash_table_lookup (s->resources,
                                                            GUINT_TO_POINTER (s->scanout_id));

      /* as SET_SCANOUT checks it */
      if (res == NULL || s->scanout_rect.w == 0 || s->scanout_rect.h == 0 ||
          !rect_inside (&s->scanout_rect, res))
        vmm_state_reader_fail (r, N_("the scanout shows a resource or a rectangle that is not "
                                     "there"));
    }
  else if (s->scanout_rect.x != 0 || s->scanout_rect.y != 0 || s->scanout_rect.w != 0 ||
           s->scanout_rect.h != 0)
    vmm_state_reader_fail (r, N_("a disabled scanout has a rectangle"));

  s->cursor_shown = vmm_state_get_bool (r);
  s->cursor_hot_x = vmm_state_get_u32 (r);
  s->cursor_hot_y = vmm_state_get_u32 (r);
  s->cursor_x = (int32_t) vmm_state_get_u32 (r);
  s->cursor_y = (int32_t) vmm_state_get_u32 (r);
  if (s->cursor_hot_x >= CURSOR_SIZE || s->cursor_hot_y >= CURSOR_SIZE)
    vmm_state_reader_fail (r, N_("the cursor's hot spot is outside it"));
  vmm_state_get_zblob (r, s->cursor_image, sizeof s->cursor_image);
}

/* LOCKED: the caller holds the device's lock (the transport's hook) */
static gboolean
load_device (struct vmm_virtio_gpu *gpu, const struct vmm_state_file *f, const char *name,
             bool apply, bool locked, GError **error)
{
  g_autoptr (GpuSaved) s = apply ? vmm_state_file_take (f, name) : NULL;
  struct vmm_state_reader r;
  struct vmm_display_surface surface;
  struct vmm_display_cursor cursor;
  GHashTable *old;

  /* The check's decoding (the pixels: most of the time it takes) serves the apply */
  if (s == NULL)
    {
      if (!vmm_state_reader_init (&r, f, name, GPU_STATE_VERSION, error))
        return FALSE;
      s = g_new0 (struct gpu_saved, 1);
      s->resources = g_hash_table_new_full (NULL, NULL, NULL, resource_free);
      load_section (gpu, &r, s);
      if (!vmm_state_reader_done (&r, error))
        return FALSE;
    }
  if (!apply)
    {
      vmm_state_file_keep (f, name, g_steal_pointer (&s), (GDestroyNotify) gpu_saved_free);
      return TRUE;
    }

  if (!locked)
    pthread_mutex_lock (&gpu->dev.lock);
  old = gpu->resources;
  gpu->resources = g_steal_pointer (&s->resources);
  gpu->host_mem = s->host_mem;
  gpu->width = s->width;
  gpu->height = s->height;
  gpu->events_read = s->events_read;
  gpu->scanout_res = lookup (gpu, s->scanout_id);
  gpu->scanout_rect = s->scanout_rect;
  gpu->cursor_shown = s->cursor_shown;
  gpu->cursor_hot_x = s->cursor_hot_x;
  gpu->cursor_hot_y = s->cursor_hot_y;
  gpu->cursor_x = s->cursor_x;
  gpu->cursor_y = s->cursor_y;
  memcpy (gpu->cursor_image, s->cursor_image, sizeof gpu->cursor_image);
  g_hash_table_unref (old);

  /* the display shows the restored frame and cursor, whatever it showed */
  if (gpu->has_listener)
    {
      if (gpu->scanout_res != NULL)
        {
          surface = scanout_surface (gpu);
          gpu->listener.set_surface (gpu->listener.data, &surface);
        }
      else
        gpu->listener.set_surface (gpu->listener.data, NULL);
      cursor = cursor_of (gpu);
      gpu->listener.set_cursor (gpu->listener.data, gpu->cursor_shown ? &cursor : NULL,
                                gpu->cursor_x, gpu->cursor_y);
    }
  if (!locked)
    pthread_mutex_unlock (&gpu->dev.lock);
  return TRUE;
}

gboolean
vmm_virtio_gpu_load_device (struct vmm_virtio_gpu *gpu, const struct vmm_state_file *f,
                            const char *name, bool apply, GError **error)
{
  return load_device (gpu, f, name, apply, false, error);
}

/* The transport's hooks (device.h), with the device's lock held */
static void
gpu_state_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  save_device_locked (dev->priv, w, name);
}

static gboolean
gpu_state_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
                bool apply, GError **error)
{
  return load_device (dev->priv, f, name, apply, true, error);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

struct vmm_virtio_gpu *
vmm_virtio_gpu_new (const struct vmm_virtio_env *env, const struct vmm_virtio_gpu_config *config,
                    GError **error)
{
  struct vmm_virtio_gpu *gpu = calloc (1, sizeof *gpu);
  int ret;

  if (gpu == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }
  gpu->width = clamp_size (config->width);
  gpu->height = clamp_size (config->height);
  gpu->resources = g_hash_table_new_full (NULL, NULL, NULL, resource_free);
  pthread_mutex_init (&gpu->pending_lock, NULL);
  gpu->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (gpu->wake_fd < 0)
    {
      vmm_virtio_set_error (error, -errno);
      goto fail;
    }
  ret = vmm_loop_add (env->loop, gpu->wake_fd, EPOLLIN, on_wake, gpu);
  if (ret < 0)
    {
      vmm_virtio_set_error (error, ret);
      goto fail;
    }
  gpu->wake_added = true;
  if (!vmm_virtio_pci_init (&gpu->dev, &gpu_ops, gpu, env, error))
    goto fail;
  return gpu;

fail:
  if (gpu->wake_added)
    vmm_loop_remove (env->loop, gpu->wake_fd);
  if (gpu->wake_fd >= 0)
    close (gpu->wake_fd);
  pthread_mutex_destroy (&gpu->pending_lock);
  g_hash_table_unref (gpu->resources);
  free (gpu);
  return NULL;
}

struct vmm_virtio_dev *
vmm_virtio_gpu_dev (struct vmm_virtio_gpu *gpu)
{
  return &gpu->dev;
}

void
vmm_virtio_gpu_free (struct vmm_virtio_gpu *gpu)
{
  if (gpu == NULL)
    return;
  vmm_loop_remove (gpu->dev.env.loop, gpu->wake_fd);
  vmm_virtio_pci_destroy (&gpu->dev);
  close (gpu->wake_fd);
  pthread_mutex_destroy (&gpu->pending_lock);
  g_hash_table_unref (gpu->resources);
  free (gpu);
}
