/* test-virtio-gpu.c: the GPU device on fake queues, as a guest driver
 * drives it, with a listener that records what the display server would
 * be told
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "display/edid.h"
#include "snapshot/state.h"
#include "viv-bytes.h"
#include "virtio/gpu.h"
#include "vmm-test.h"

#define TIMEOUT_MS   10000u
#define DEVICE_OFF   0x2000
#define CC_STATUS    0x14

#define Q_CONTROL    0
#define Q_CURSOR     1

/* Guest RAM below the rings (vmm-test-virtio.c puts them at 1 MiB) is
 * ours, for backing pages */
#define BACKING_BASE 0x10000u
#define BACKING_END  0x100000u
#define RAM_SIZE     (16u * 1024 * 1024)

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
  CMD_CTX_CREATE = 0x0200,
  CMD_UPDATE_CURSOR = 0x0300,
  CMD_MOVE_CURSOR,
};

enum {
  OK_NODATA = 0x1100,
  OK_DISPLAY_INFO,
  OK_CAPSET_INFO,
  OK_CAPSET,
  OK_EDID,
  ERR_UNSPEC = 0x1200,
  ERR_OUT_OF_MEMORY,
  ERR_INVALID_SCANOUT_ID,
  ERR_INVALID_RESOURCE_ID,
  ERR_INVALID_CONTEXT_ID,
  ERR_INVALID_PARAMETER,
};

#define FMT_B8G8R8A8 1
#define FMT_B8G8R8X8 2
#define HDR_LEN      24

/* ---- what the listener was told ---------------------------------------------------- */

struct seen {
  unsigned surfaces, updates, cursors, moves;
  bool surface_null;
  struct vmm_display_surface surface;   /* the last one (pixels: its first byte) */
  uint8_t *surface_pixels;              /* the last set_surface's, packed rows */
  uint32_t ux, uy, uw, uh;              /* the last update */
  uint8_t *update_pixels;               /* its pixels, packed rows */
  bool cursor_null;
  struct vmm_display_cursor cursor;
  uint8_t cursor_pixels[64 * 64 * 4];
  int32_t cx, cy;
};

static void
on_set_surface (void *data, const struct vmm_display_surface *surface)
{
  struct seen *s = data;

  s->surfaces++;
  s->surface_null = surface == NULL;
  g_clear_pointer (&s->surface_pixels, g_free);
  if (surface == NULL)
    return;
  s->surface = *surface;
  s->surface_pixels = g_malloc ((gsize) surface->width * surface->height * 4 + 1);
  for (uint32_t r = 0; r < surface->height; r++)
    memcpy (s->surface_pixels + (gsize) r * surface->width * 4,
            surface->pixels + (gsize) r * surface->stride, (gsize) surface->width * 4);
}

static void
on_update (void *data, const struct vmm_display_surface *surface, uint32_t x, uint32_t y,
           uint32_t w, uint32_t h)
{
  struct seen *s = data;

  g_assert_cmpuint (x + w, <=, surface->width);
  g_assert_cmpuint (y + h, <=, surface->height);
  s->updates++;
  s->surface = *surface;
  s->ux = x, s->uy = y, s->uw = w, s->uh = h;
  g_free (s->update_pixels);
  s->update_pixels = g_malloc ((gsize) w * h * 4 + 1);
  for (uint32_t r = 0; r < h; r++)
    memcpy (s->update_pixels + (gsize) r * w * 4,
            surface->pixels + (gsize) (y + r) * surface->stride + (gsize) x * 4, (gsize) w * 4);
}

static void
on_set_cursor (void *data, const struct vmm_display_cursor *cursor, int32_t x, int32_t y)
{
  struct seen *s = data;

  s->cursors++;
  s->cursor_null = cursor == NULL;
  s->cx = x, s->cy = y;
  if (cursor != NULL)
    {
      s->cursor = *cursor;
      memcpy (s->cursor_pixels, cursor->pixels, sizeof s->cursor_pixels);
    }
}

static void
on_move_cursor (void *data, int32_t x, int32_t y)
{
  struct seen *s = data;

  s->moves++;
  s->cx = x, s->cy = y;
}

/* ---- the fixture ------------------------------------------------------------------------ */

struct fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_gpu *gpu;
  struct seen seen;
  int log_fd;
};

static void
fx_up (struct fx *f, uint32_t width, uint32_t height)
{
  g_autoptr (GError) error = NULL;
  struct vmm_virtio_gpu_config config = { width, height };
  struct vmm_display_listener listener = {
    on_set_surface, on_update, on_set_cursor, on_move_cursor, &f->seen,
  };

  memset (f, 0, sizeof *f);
  f->log_fd = vmm_test_log_capture ();
  vmm_test_virtio_init (&f->t, &f->env);
  f->gpu = vmm_virtio_gpu_new (&f->env, &config, &error);
  g_assert_no_error (error);
  vmm_virtio_gpu_set_listener (f->gpu, &listener);
  vmm_test_virtio_plug (&f->t, vmm_virtio_gpu_dev (f->gpu));
  g_assert_cmpuint (vmm_test_virtio_setup (&f->t, 1u << 1, 2, 64) & VIRTIO_STATUS_DRIVER_OK, !=,
                    0);
}

static void
fx_down (struct fx *f)
{
  /* never broken, whatever the test sent */
  g_assert_cmpuint (vmm_test_virtio_read (&f->t, CC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET, ==,
                    0);
  vmm_test_virtio_stop (&f->t);
  vmm_virtio_gpu_free (f->gpu);
  vmm_test_virtio_clear (&f->t);
  g_free (f->seen.update_pixels);
  g_free (f->seen.surface_pixels);
  g_free (vmm_test_log_take (f->log_fd));
  vmm_test_log_release (f->log_fd);
}

/* Sends REQ (LEN bytes) on queue Q with a response buffer of RESP_LEN
 * bytes; returns the response type, with the response in RESP (if not
 * NULL) and its length in *GOT (if not NULL). */
static uint32_t
send (struct fx *f, unsigned q, const void *req, uint32_t len, void *resp, uint32_t resp_len,
      uint32_t *got)
{
  struct vmm_test_vq *vq = &f->t.vq[q];
  struct vmm_test_buf bufs[2];
  uint32_t id, used_len;
  uint16_t head;
  uint8_t *r;

  bufs[0] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, req, len), len, false };
  if (resp_len > 0)
    bufs[1] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, resp_len), resp_len, true };
  head = vmm_test_vq_add_bufs (vq, bufs, resp_len > 0 ? 2 : 1);
  vmm_test_virtio_kick (&f->t, q);
  g_assert_true (vmm_test_vq_wait_used (vq, &id, &used_len, TIMEOUT_MS));
  g_assert_cmpuint (id, ==, head);
  if (got != NULL)
    *got = used_len;
  if (resp_len == 0)
    return 0;
  g_assert_cmpuint (used_len, <=, resp_len);
  r = vmm_test_ptr (&f->t.ram.mem, bufs[1].gpa, resp_len);
  if (resp != NULL)
    memcpy (resp, r, resp_len);
  return viv_get_le32 (r);
}

/* A command of TYPE with N le32 fields after the header; returns the
 * response type. */
static uint32_t
cmd_q (struct fx *f, unsigned q, uint32_t type, unsigned n, const uint32_t *fields)
{
  uint8_t req[HDR_LEN + 64] = { 0 };

  g_assert_cmpuint (n, <=, 16);
  viv_put_le32 (req, type);
  for (unsigned i = 0; i < n; i++)
    viv_put_le32 (req + HDR_LEN + 4 * i, fields[i]);
  return send (f, q, req, HDR_LEN + 4 * n, NULL, HDR_LEN, NULL);
}

#define CMD(f, type, ...) \
  cmd_q ((f), Q_CONTROL, (type), G_N_ELEMENTS (((uint32_t[]) { __VA_ARGS__ })), \
         (uint32_t[]) { __VA_ARGS__ })
#define CURSOR_CMD(f, type, ...) \
  cmd_q ((f), Q_CURSOR, (type), G_N_ELEMENTS (((uint32_t[]) { __VA_ARGS__ })), \
         (uint32_t[]) { __VA_ARGS__ })

static uint32_t
create_2d (struct fx *f, uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
  return CMD (f, CMD_RESOURCE_CREATE_2D, id, format, w, h);
}

/* ATTACH_BACKING with N entries (addr, len) */
static uint32_t
attach (struct fx *f, uint32_t id, uint32_t n_claimed, unsigned n, const uint64_t *addrs,
        const uint32_t *lens)
{
  g_autofree uint8_t *req = g_malloc0 (HDR_LEN + 8 + 16 * (gsize) n);

  viv_put_le32 (req, CMD_RESOURCE_ATTACH_BACKING);
  viv_put_le32 (req + HDR_LEN, id);
  viv_put_le32 (req + HDR_LEN + 4, n_claimed);
  for (unsigned i = 0; i < n; i++)
    {
      viv_put_le64 (req + HDR_LEN + 8 + 16 * i, addrs[i]);
      viv_put_le32 (req + HDR_LEN + 8 + 16 * i + 8, lens[i]);
    }
  return send (f, Q_CONTROL, req, HDR_LEN + 8 + 16 * n, NULL, HDR_LEN, NULL);
}

static uint32_t
transfer (struct fx *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
          uint64_t offset)
{
  return CMD (f, CMD_TRANSFER_TO_HOST_2D, x, y, w, h, (uint32_t) offset,
              (uint32_t) (offset >> 32), id, 0);
}

/* The backing of the tests' resources: three pieces of guest RAM, out of
 * order and apart, so a row may cross from one to the next */
static const uint64_t piece_addr[3] = { BACKING_BASE + 0x60000, BACKING_BASE, 0xc0000 };
static const uint32_t piece_len[3] = { 5000, 7001, 0x20000 };

/* The byte at OFFSET of the backing, in guest RAM */
static uint8_t *
backing_byte (struct fx *f, uint64_t offset)
{
  for (unsigned i = 0; i < 3; i++)
    {
      if (offset < piece_len[i])
        return vmm_test_ptr (&f->t.ram.mem, piece_addr[i] + offset, 1);
      offset -= piece_len[i];
    }
  g_assert_not_reached ();
}

/* Fills the guest's copy of a W-pixel-wide resource: pixel (x, y) holds
 * bytes x, y, SEED, 0x80 + x ^ y */
static void
fill_backing (struct fx *f, uint32_t w, uint32_t h, uint8_t seed)
{
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++)
      {
        uint64_t o = ((uint64_t) y * w + x) * 4;

        *backing_byte (f, o) = (uint8_t) x;
        *backing_byte (f, o + 1) = (uint8_t) y;
        *backing_byte (f, o + 2) = seed;
        *backing_byte (f, o + 3) = (uint8_t) (0x80 + (x ^ y));
      }
}

static void
check_pixel (const uint8_t *p, uint32_t x, uint32_t y, uint8_t seed)
{
  g_assert_cmpuint (p[0], ==, (uint8_t) x);
  g_assert_cmpuint (p[1], ==, (uint8_t) y);
  g_assert_cmpuint (p[2], ==, seed);
  g_assert_cmpuint (p[3], ==, (uint8_t) (0x80 + (x ^ y)));
}

/* The last update's pixels are the resource's (RX, RY) onwards, which
 * came from the backing filled with SEED */
static void
check_update (struct fx *f, uint32_t rx, uint32_t ry, uint8_t seed)
{
  for (uint32_t y = 0; y < f->seen.uh; y++)
    for (uint32_t x = 0; x < f->seen.uw; x++)
      check_pixel (f->seen.update_pixels + ((gsize) y * f->seen.uw + x) * 4, rx + x, ry + y,
                   seed);
}

static void
attach_pieces (struct fx *f, uint32_t id)
{
  g_assert_cmphex (attach (f, id, 3, 3, piece_addr, piece_len), ==, OK_NODATA);
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void
test_config (void)
{
  struct fx f;
  struct vmm_virtio_dev *dev;

  fx_up (&f, 1024, 768);
  dev = vmm_virtio_gpu_dev (f.gpu);
  g_assert_cmphex (vmm_pci_get16 (&dev->pci.config[0]), ==, 0x1af4);
  g_assert_cmphex (vmm_pci_get16 (&dev->pci.config[2]), ==, 0x1050);
  g_assert_cmphex (vmm_test_virtio_device_features (&f.t) & 0xff, ==, 1u << 1);   /* EDID only */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF, 4), ==, 0);       /* events_read */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 8, 4), ==, 1);   /* scanouts */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 12, 4), ==, 0);  /* capsets */
  fx_down (&f);
}

static void
test_display_info (void)
{
  uint8_t req[HDR_LEN + 8] = { 0 };
  uint8_t resp[HDR_LEN + 8 + 1024];
  uint8_t want[VMM_EDID_SIZE];
  uint32_t got;
  struct fx f;

  fx_up (&f, 1024, 768);
  viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN, resp, 408, &got), ==, OK_DISPLAY_INFO);
  g_assert_cmpuint (got, ==, 408);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN), ==, 0);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 4), ==, 0);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 8), ==, 1024);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 12), ==, 768);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 16), ==, 1);
  for (unsigned i = 1; i < 16; i++)
    g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 24 * i + 16), ==, 0);

  viv_put_le32 (req, CMD_GET_EDID);
  g_assert_cmphex (send (&f, Q_CONTROL, req, sizeof req, resp, sizeof resp, &got), ==, OK_EDID);
  g_assert_cmpuint (got, ==, sizeof resp);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN), ==, VMM_EDID_SIZE);
  vmm_edid_build (want, 1024, 768);
  g_assert_cmpmem (resp + HDR_LEN + 8, VMM_EDID_SIZE, want, VMM_EDID_SIZE);

  /* EDID for a scanout that is not there */
  viv_put_le32 (req + HDR_LEN, 1);
  g_assert_cmphex (send (&f, Q_CONTROL, req, sizeof req, resp, sizeof resp, &got), ==,
                   ERR_INVALID_SCANOUT_ID);
  g_assert_cmpuint (got, ==, HDR_LEN);
  fx_down (&f);
}

/* A resource created, backed, transferred, shown and flushed: the
 * listener gets the surface, then exactly the flushed pixels */
static void
test_happy_path (void)
{
  struct fx f;

  fx_up (&f, 1024, 768);
  g_assert_cmphex (create_2d (&f, 7, FMT_B8G8R8X8, 64, 48), ==, OK_NODATA);
  attach_pieces (&f, 7);
  fill_backing (&f, 64, 48, 0x11);
  g_assert_cmphex (transfer (&f, 7, 0, 0, 64, 48, 0), ==, OK_NODATA);

  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 48, 0, 7), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.surfaces, ==, 1);
  g_assert_false (f.seen.surface_null);
  g_assert_cmpuint (f.seen.surface.width, ==, 64);
  g_assert_cmpuint (f.seen.surface.height, ==, 48);
  g_assert_cmpuint (f.seen.surface.stride, ==, 256);
  g_assert_cmpint (f.seen.surface.format, ==, VMM_PIXEL_XRGB8888);

  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 10, 5, 20, 7, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.updates, ==, 1);
  g_assert_cmpuint (f.seen.ux, ==, 10);
  g_assert_cmpuint (f.seen.uy, ==, 5);
  g_assert_cmpuint (f.seen.uw, ==, 20);
  g_assert_cmpuint (f.seen.uh, ==, 7);
  check_update (&f, 10, 5, 0x11);

  /* a rectangle transferred from its offset in the guest's copy: only it
   * changes */
  fill_backing (&f, 64, 48, 0x22);
  g_assert_cmphex (transfer (&f, 7, 3, 30, 50, 10, (30 * 64 + 3) * 4), ==, OK_NODATA);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 0, 0, 64, 48, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.uw, ==, 64);
  g_assert_cmpuint (f.seen.uh, ==, 48);
  for (uint32_t y = 0; y < 48; y++)
    for (uint32_t x = 0; x < 64; x++)
      {
        bool in = x >= 3 && x < 53 && y >= 30 && y < 40;

        check_pixel (f.seen.update_pixels + (y * 64 + x) * 4, x, y, in ? 0x22 : 0x11);
      }

  /* a scanout showing part of the resource: a flush is clipped to it and
   * given in its coordinates; one beside it is not passed on */
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 8, 4, 32, 20, 0, 7), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.surfaces, ==, 2);
  g_assert_cmpuint (f.seen.surface.width, ==, 32);
  g_assert_cmpuint (f.seen.surface.height, ==, 20);
  g_assert_cmpuint (f.seen.surface.stride, ==, 256);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 0, 0, 12, 30, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.updates, ==, 3);
  g_assert_cmpuint (f.seen.ux, ==, 0);
  g_assert_cmpuint (f.seen.uy, ==, 0);
  g_assert_cmpuint (f.seen.uw, ==, 4);
  g_assert_cmpuint (f.seen.uh, ==, 20);
  check_update (&f, 8, 4, 0x11);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 30, 10, 20, 5, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.updates, ==, 4);
  g_assert_cmpuint (f.seen.ux, ==, 22);
  g_assert_cmpuint (f.seen.uy, ==, 6);
  g_assert_cmpuint (f.seen.uw, ==, 10);
  g_assert_cmpuint (f.seen.uh, ==, 5);
  check_update (&f, 30, 10, 0x11);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 50, 30, 10, 10, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.updates, ==, 4);

  /* detached, it can be attached again; unref'd, the scanout goes dark */
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_DETACH_BACKING, 7, 0), ==, OK_NODATA);
  g_assert_cmphex (transfer (&f, 7, 0, 0, 1, 1, 0), ==, ERR_UNSPEC);
  attach_pieces (&f, 7);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.surfaces, ==, 3);
  g_assert_true (f.seen.surface_null);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 0, 0, 1, 1, 7, 0), ==, ERR_INVALID_RESOURCE_ID);

  /* SET_SCANOUT to resource 0 disables it */
  g_assert_cmphex (create_2d (&f, 8, FMT_B8G8R8X8, 16, 16), ==, OK_NODATA);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 16, 16, 0, 8), ==, OK_NODATA);
  g_assert_false (f.seen.surface_null);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 0, 0, 0, 0), ==, OK_NODATA);
  g_assert_true (f.seen.surface_null);
  fx_down (&f);
}

/* The formats Linux and Windows drivers use, as display.h names them */
static void
test_formats (void)
{
  static const struct { uint32_t virtio; enum vmm_pixel_format want; } formats[] = {
    { 1, VMM_PIXEL_ARGB8888 },   { 2, VMM_PIXEL_XRGB8888 },   { 3, VMM_PIXEL_BGRA8888 },
    { 4, VMM_PIXEL_BGRX8888 },   { 67, VMM_PIXEL_ABGR8888 },  { 68, VMM_PIXEL_RGBX8888 },
    { 121, VMM_PIXEL_RGBA8888 }, { 134, VMM_PIXEL_XBGR8888 },
  };
  struct fx f;

  fx_up (&f, 1024, 768);
  for (unsigned i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_assert_cmphex (create_2d (&f, 100 + i, formats[i].virtio, 8, 8), ==, OK_NODATA);
      g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 8, 8, 0, 100 + i), ==, OK_NODATA);
      g_assert_cmpint (f.seen.surface.format, ==, formats[i].want);
    }
  g_assert_cmphex (create_2d (&f, 200, 5, 8, 8), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (create_2d (&f, 200, 0, 8, 8), ==, ERR_INVALID_PARAMETER);
  fx_down (&f);
}

static void
test_errors (void)
{
  const uint64_t outside[] = { RAM_SIZE - 4096 }, far[] = { 0x7ff000000000ull };
  const uint32_t page[] = { 8192 }, big[] = { 64 * 48 * 4 };
  uint8_t req[HDR_LEN + 16] = { 0 };
  uint8_t resp[HDR_LEN];
  struct fx f;

  fx_up (&f, 1024, 768);

  /* RESOURCE_CREATE_2D */
  g_assert_cmphex (create_2d (&f, 0, FMT_B8G8R8X8, 64, 48), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (create_2d (&f, 1, FMT_B8G8R8X8, 64, 48), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&f, 1, FMT_B8G8R8X8, 64, 48), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 0, 48), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 64, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 16385, 1), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 0xffffffff, 0xffffffff), ==,
                   ERR_INVALID_PARAMETER);
  /* 1 GiB for one resource; then the whole budget taken by two */
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 16384, 16384), ==, ERR_OUT_OF_MEMORY);
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 8192, 4096), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&f, 3, FMT_B8G8R8X8, 8192, 4096), ==, ERR_OUT_OF_MEMORY);
  g_assert_cmphex (create_2d (&f, 3, FMT_B8G8R8X8, 8192, 4095), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&f, 4, FMT_B8G8R8X8, 128, 64), ==, ERR_OUT_OF_MEMORY);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 3, 0), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&f, 4, FMT_B8G8R8X8, 128, 64), ==, OK_NODATA);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 2, 0), ==, OK_NODATA);

  /* RESOURCE_UNREF */
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 99, 0), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 0, 0), ==, ERR_INVALID_RESOURCE_ID);

  /* RESOURCE_ATTACH_BACKING: resource 1 is 64 × 48 */
  g_assert_cmphex (attach (&f, 99, 3, 3, piece_addr, piece_len), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (attach (&f, 1, 0, 0, NULL, NULL), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (attach (&f, 1, 100000, 3, piece_addr, piece_len), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (attach (&f, 1, 5, 3, piece_addr, piece_len), ==, ERR_UNSPEC);   /* short */
  g_assert_cmphex (attach (&f, 1, 1, 1, outside, page), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (attach (&f, 1, 1, 1, far, big), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (attach (&f, 1, 1, 1, piece_addr, page), ==, ERR_INVALID_PARAMETER); /* < size */
  g_assert_cmphex (transfer (&f, 1, 0, 0, 64, 48, 0), ==, ERR_UNSPEC);   /* none attached */
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_DETACH_BACKING, 1, 0), ==, ERR_UNSPEC);
  attach_pieces (&f, 1);
  g_assert_cmphex (attach (&f, 1, 3, 3, piece_addr, piece_len), ==, ERR_UNSPEC);   /* twice */

  /* RESOURCE_DETACH_BACKING */
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_DETACH_BACKING, 99, 0), ==, ERR_INVALID_RESOURCE_ID);

  /* TRANSFER_TO_HOST_2D: rectangles past the resource, offsets past the
   * backing (its length: 5000 + 7001 + 0x20000) */
  g_assert_cmphex (transfer (&f, 99, 0, 0, 1, 1, 0), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (transfer (&f, 1, 60, 0, 5, 1, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0, 40, 1, 9, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0xffffffff, 0, 2, 1, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0, 0xfffffff0, 1, 0x20, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0, 0, 64, 48, 5000 + 7001 + 0x20000 - 64 * 48 * 4 + 1), ==,
                   ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0, 0, 64, 48, 5000 + 7001 + 0x20000 - 64 * 48 * 4), ==,
                   OK_NODATA);
  g_assert_cmphex (transfer (&f, 1, 0, 0, 1, 1, ~0ull), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (transfer (&f, 1, 0, 0, 1, 1, 1ull << 40), ==, ERR_INVALID_PARAMETER);

  /* SET_SCANOUT */
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 48, 1, 1), ==, ERR_INVALID_SCANOUT_ID);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 48, 0xffffffff, 1), ==,
                   ERR_INVALID_SCANOUT_ID);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 48, 0, 99), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 1, 0, 64, 48, 0, 1), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 49, 0, 1), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0xffffffff, 0, 2, 1, 0, 1), ==,
                   ERR_INVALID_PARAMETER);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 0, 48, 0, 1), ==, ERR_INVALID_PARAMETER);
  g_assert_cmpuint (f.seen.surfaces, ==, 0);

  /* RESOURCE_FLUSH */
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 0, 0, 1, 1, 99, 0), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 0, 0, 65, 1, 1, 0), ==, ERR_INVALID_PARAMETER);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_FLUSH, 1, 0xffffffff, 1, 2, 1, 0), ==,
                   ERR_INVALID_PARAMETER);
  g_assert_cmpuint (f.seen.updates, ==, 0);

  /* commands we do not take: unknown, 3D (no context exists), a cursor
   * command on the control queue, capsets (there are none) */
  g_assert_cmphex (CMD (&f, 0x0777, 0), ==, ERR_UNSPEC);
  g_assert_cmphex (CMD (&f, CMD_CTX_CREATE, 0), ==, ERR_INVALID_CONTEXT_ID);
  g_assert_cmphex (CMD (&f, 0x0207, 0), ==, ERR_INVALID_CONTEXT_ID);
  g_assert_cmphex (CMD (&f, CMD_MOVE_CURSOR, 0, 0, 0, 0, 0, 0, 0, 0), ==, ERR_UNSPEC);
  g_assert_cmphex (CMD (&f, CMD_GET_CAPSET_INFO, 0, 0), ==, ERR_UNSPEC);

  /* commands shorter than their structure, a request shorter than a header */
  viv_put_le32 (req, CMD_RESOURCE_CREATE_2D);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN + 12, resp, sizeof resp, NULL), ==,
                   ERR_UNSPEC);
  g_assert_cmphex (send (&f, Q_CONTROL, req, 10, resp, sizeof resp, NULL), ==, ERR_UNSPEC);

  /* fences come back, on errors too */
  viv_put_le32 (req, CMD_RESOURCE_UNREF);
  viv_put_le32 (req + 4, 1);
  viv_put_le64 (req + 8, 0x1122334455667788ull);
  viv_put_le32 (req + 16, 5);
  viv_put_le32 (req + HDR_LEN, 98);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN + 8, resp, sizeof resp, NULL), ==,
                   ERR_INVALID_RESOURCE_ID);
  g_assert_cmpuint (viv_get_le32 (resp + 4), ==, 1);
  g_assert_cmphex (viv_get_le64 (resp + 8), ==, 0x1122334455667788ull);
  g_assert_cmpuint (viv_get_le32 (resp + 16), ==, 5);
  viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
  viv_put_le64 (req + 8, 42);
  {
    uint8_t info[408];

    g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN, info, sizeof info, NULL), ==,
                     OK_DISPLAY_INFO);
    g_assert_cmpuint (viv_get_le32 (info + 4), ==, 1);
    g_assert_cmpuint (viv_get_le64 (info + 8), ==, 42);
  }
  /* without the flag, no fence */
  viv_put_le32 (req + 4, 0);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN, resp, sizeof resp, NULL), ==,
                   OK_DISPLAY_INFO);
  g_assert_cmpuint (viv_get_le32 (resp + 4), ==, 0);
  g_assert_cmpuint (viv_get_le64 (resp + 8), ==, 0);

  fx_down (&f);
}

static void
test_cursor (void)
{
  uint8_t req[HDR_LEN + 32] = { 0 };
  uint32_t got = 1;
  struct fx f;

  fx_up (&f, 1024, 768);
  g_assert_cmphex (create_2d (&f, 5, FMT_B8G8R8A8, 64, 64), ==, OK_NODATA);
  attach_pieces (&f, 5);
  fill_backing (&f, 64, 64, 0x33);
  g_assert_cmphex (transfer (&f, 5, 0, 0, 64, 64, 0), ==, OK_NODATA);

  /* pos: scanout, x, y, pad; resource, hot_x, hot_y, pad */
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 100, 200, 0, 5, 3, 4, 0), ==,
                   OK_NODATA);
  g_assert_cmpuint (f.seen.cursors, ==, 1);
  g_assert_false (f.seen.cursor_null);
  g_assert_cmpuint (f.seen.cursor.width, ==, 64);
  g_assert_cmpuint (f.seen.cursor.height, ==, 64);
  g_assert_cmpuint (f.seen.cursor.hot_x, ==, 3);
  g_assert_cmpuint (f.seen.cursor.hot_y, ==, 4);
  g_assert_cmpint (f.seen.cx, ==, 100);
  g_assert_cmpint (f.seen.cy, ==, 200);
  for (uint32_t y = 0; y < 64; y++)
    for (uint32_t x = 0; x < 64; x++)
      check_pixel (f.seen.cursor_pixels + (y * 64 + x) * 4, x, y, 0x33);

  /* moves, as the Linux driver sends them: no response buffer, and no
   * complaint about it in the log */
  g_free (vmm_test_log_take (f.log_fd));
  viv_put_le32 (req, CMD_MOVE_CURSOR);
  viv_put_le32 (req + HDR_LEN + 4, (uint32_t) -5);
  viv_put_le32 (req + HDR_LEN + 8, 7);
  send (&f, Q_CURSOR, req, sizeof req, NULL, 0, &got);
  g_assert_cmpuint (got, ==, 0);
  g_assert_cmpuint (f.seen.moves, ==, 1);
  g_assert_cmpint (f.seen.cx, ==, -5);
  g_assert_cmpint (f.seen.cy, ==, 7);
  {
    g_autofree char *log = vmm_test_log_take (f.log_fd);

    g_assert_null (strstr (log, "virtio-gpu"));
  }

  /* errors: not 64 × 64, a hot spot outside, unknown, scanout 1, a control
   * command on the cursor queue */
  g_assert_cmphex (create_2d (&f, 6, FMT_B8G8R8A8, 32, 32), ==, OK_NODATA);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 0, 0, 0, 6, 0, 0, 0), ==,
                   ERR_INVALID_PARAMETER);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 0, 0, 0, 5, 64, 0, 0), ==,
                   ERR_INVALID_PARAMETER);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 0, 0, 0, 99, 0, 0, 0), ==,
                   ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 1, 0, 0, 0, 5, 0, 0, 0), ==,
                   ERR_INVALID_SCANOUT_ID);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_MOVE_CURSOR, 7, 0, 0, 0, 0, 0, 0, 0), ==,
                   ERR_INVALID_SCANOUT_ID);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_RESOURCE_UNREF, 5, 0), ==, ERR_UNSPEC);
  g_assert_cmpuint (f.seen.cursors, ==, 1);

  /* resource 0 hides it */
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 0, 0, 0, 0, 0, 0, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.cursors, ==, 2);
  g_assert_true (f.seen.cursor_null);
  fx_down (&f);
}

struct resize {
  struct vmm_display_device dev;
  uint32_t w, h;
};

static gpointer
resize_thread (gpointer data)
{
  struct resize *r = data;

  r->dev.request_size (r->dev.dev, r->w, r->h);
  return NULL;
}

static bool
event_raised (void *data)
{
  struct fx *f = data;

  return vmm_test_virtio_read (&f->t, DEVICE_OFF, 4) == 1;
}

/* A client asks for a size, from the server's thread: the guest sees the
 * display event, a config interrupt and the new size in its display info
 * and EDID */
static void
test_resize (void)
{
  uint8_t req[HDR_LEN + 8] = { 0 };
  uint8_t resp[HDR_LEN + 8 + 1024];
  uint8_t want[VMM_EDID_SIZE];
  struct resize r;
  struct fx f;
  uint8_t generation;

  fx_up (&f, 1024, 768);
  generation = (uint8_t) vmm_test_virtio_read (&f.t, 0x15, 1);
  vmm_test_virtio_isr (&f.t);
  r = (struct resize) { vmm_virtio_gpu_display_device (f.gpu), 1280, 720 };
  g_thread_join (g_thread_new ("server", resize_thread, &r));
  g_assert_true (vmm_test_wait_until (event_raised, &f, TIMEOUT_MS));
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 2, ==, 2);
  g_assert_cmpuint ((uint8_t) vmm_test_virtio_read (&f.t, 0x15, 1), !=, generation);

  viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN, resp, 408, NULL), ==, OK_DISPLAY_INFO);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 8), ==, 1280);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 12), ==, 720);
  viv_put_le32 (req, CMD_GET_EDID);
  g_assert_cmphex (send (&f, Q_CONTROL, req, sizeof req, resp, sizeof resp, NULL), ==, OK_EDID);
  vmm_edid_build (want, 1280, 720);
  g_assert_cmpmem (resp + HDR_LEN + 8, VMM_EDID_SIZE, want, VMM_EDID_SIZE);

  /* the driver clears the event */
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 4, 4, 1);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF, 4), ==, 0);
  /* events_read and the rest are read-only */
  vmm_test_virtio_write (&f.t, DEVICE_OFF + 8, 4, 5);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, DEVICE_OFF + 8, 4), ==, 1);

  /* a size no descriptor holds is clamped; zero is ignored */
  r.w = 100000, r.h = 10;
  g_thread_join (g_thread_new ("server", resize_thread, &r));
  g_assert_true (vmm_test_wait_until (event_raised, &f, TIMEOUT_MS));
  viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
  g_assert_cmphex (send (&f, Q_CONTROL, req, HDR_LEN, resp, 408, NULL), ==, OK_DISPLAY_INFO);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 8), ==, VMM_EDID_MAX_ACTIVE);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 12), ==, VMM_EDID_MIN_ACTIVE);
  fx_down (&f);
}

/* A device reset frees the resources and blanks the scanout and cursor */
static void
test_reset (void)
{
  struct fx f;

  fx_up (&f, 1024, 768);
  g_assert_cmphex (create_2d (&f, 5, FMT_B8G8R8A8, 64, 64), ==, OK_NODATA);
  attach_pieces (&f, 5);
  g_assert_cmphex (CMD (&f, CMD_SET_SCANOUT, 0, 0, 64, 64, 0, 5), ==, OK_NODATA);
  g_assert_cmphex (CURSOR_CMD (&f, CMD_UPDATE_CURSOR, 0, 1, 1, 0, 5, 0, 0, 0), ==, OK_NODATA);
  g_assert_cmpuint (f.seen.surfaces, ==, 1);
  g_assert_cmpuint (f.seen.cursors, ==, 1);

  vmm_test_virtio_write (&f.t, CC_STATUS, 1, 0);
  g_assert_cmpuint (f.seen.surfaces, ==, 2);
  g_assert_true (f.seen.surface_null);
  g_assert_cmpuint (f.seen.cursors, ==, 2);
  g_assert_true (f.seen.cursor_null);

  g_assert_cmpuint (vmm_test_virtio_setup (&f.t, 1u << 1, 2, 64) & VIRTIO_STATUS_DRIVER_OK, !=,
                    0);
  g_assert_cmpuint (f.seen.surfaces, ==, 2);
  g_assert_cmphex (CMD (&f, CMD_RESOURCE_UNREF, 5, 0), ==, ERR_INVALID_RESOURCE_ID);
  /* and their memory: the whole budget is there again */
  g_assert_cmphex (create_2d (&f, 2, FMT_B8G8R8X8, 8192, 4096), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&f, 3, FMT_B8G8R8X8, 8192, 4096), ==, OK_NODATA);
  fx_down (&f);
}

/* One drain takes at most a budget of commands; the rest are taken
 * without another kick */
static void
test_budget (void)
{
  struct vmm_test_vq *vq;
  uint32_t id, len;
  struct fx f;

  fx_up (&f, 1024, 768);
  vmm_virtio_gpu_dev (f.gpu)->queues[Q_CONTROL].vq.drain_budget = 2;
  vq = &f.t.vq[Q_CONTROL];
  for (unsigned i = 0; i < 7; i++)
    {
      uint8_t req[HDR_LEN] = { 0 };
      struct vmm_test_buf bufs[2];

      viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
      bufs[0] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, req, HDR_LEN), HDR_LEN, false };
      bufs[1] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, NULL, 408), 408, true };
      vmm_test_vq_add_bufs (vq, bufs, 2);
    }
  vmm_test_virtio_kick (&f.t, Q_CONTROL);
  for (unsigned i = 0; i < 7; i++)
    {
      g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
      g_assert_cmpuint (len, ==, 408);
    }
  fx_down (&f);
}

/* ---- saved state --------------------------------------------------------------------------- */

#define SECTION "virtio-gpu.0"

/* A state file holding the section (vmm-test.h's state helpers) */
static GBytes *
save_state (struct fx *f)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_virtio_gpu_save_device (f->gpu, w, SECTION);
  return vmm_test_state_finish (w);
}

/* A state file whose section SECTION, of VERSION, holds LEN bytes of PAYLOAD */
static GBytes *
make_state (uint32_t version, const uint8_t *payload, size_t len)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_state_begin (w, SECTION, version);
  vmm_state_put_bytes (w, payload, len);
  vmm_state_end (w);
  return vmm_test_state_finish (w);
}

/* A copy of the payload of STATE's section */
static uint8_t *
state_payload (GBytes *state, size_t *len)
{
  gsize n;
  uint8_t *copy = g_bytes_unref_to_data (vmm_test_state_payload (state, SECTION), &n);

  *len = n;
  return copy;
}

static gboolean
load_state (struct fx *f, GBytes *state, bool apply, GError **error)
{
  struct vmm_state_file *file;
  gboolean ok;
  gsize n;
  const uint8_t *data = g_bytes_get_data (state, &n);

  file = vmm_state_file_parse (data, n, error);
  g_assert_nonnull (file);
  ok = vmm_virtio_gpu_load_device (f->gpu, file, SECTION, apply, error);
  vmm_state_file_free (file);
  return ok;
}

/* What restoring guest memory does: B's RAM for backing is A's */
static void
copy_backing_ram (struct fx *from, struct fx *to)
{
  memcpy (vmm_test_ptr (&to->t.ram.mem, BACKING_BASE, BACKING_END - BACKING_BASE),
          vmm_test_ptr (&from->t.ram.mem, BACKING_BASE, BACKING_END - BACKING_BASE),
          BACKING_END - BACKING_BASE);
}

/* A device with a resized display (its event pending), three resources
 * (one backed by a piece of RAM, small enough to be saved raw; one
 * unbacked), a scanout on part of one and a cursor whose resource is
 * gone, moved since: the scanout's pixels are in A's last update */
static void
state_setup (struct fx *a)
{
  static const uint64_t one_addr[] = { BACKING_BASE };
  static const uint32_t one_len[] = { 7001 };
  struct resize r;

  fx_up (a, 1024, 768);
  r = (struct resize) { vmm_virtio_gpu_display_device (a->gpu), 1280, 720 };
  g_thread_join (g_thread_new ("server", resize_thread, &r));
  g_assert_true (vmm_test_wait_until (event_raised, a, TIMEOUT_MS));

  g_assert_cmphex (create_2d (a, 5, FMT_B8G8R8A8, 64, 64), ==, OK_NODATA);
  attach_pieces (a, 5);
  fill_backing (a, 64, 64, 0x33);
  g_assert_cmphex (transfer (a, 5, 0, 0, 64, 64, 0), ==, OK_NODATA);
  g_assert_cmphex (CURSOR_CMD (a, CMD_UPDATE_CURSOR, 0, 100, 200, 0, 5, 3, 4, 0), ==,
                   OK_NODATA);
  g_assert_cmphex (CURSOR_CMD (a, CMD_MOVE_CURSOR, 0, (uint32_t) -5, 7, 0, 0, 0, 0, 0), ==,
                   OK_NODATA);
  g_assert_cmphex (CMD (a, CMD_RESOURCE_UNREF, 5, 0), ==, OK_NODATA);

  g_assert_cmphex (create_2d (a, 7, FMT_B8G8R8X8, 64, 48), ==, OK_NODATA);
  attach_pieces (a, 7);
  fill_backing (a, 64, 48, 0x11);
  g_assert_cmphex (transfer (a, 7, 0, 0, 64, 48, 0), ==, OK_NODATA);
  g_assert_cmphex (create_2d (a, 9, 134, 8, 8), ==, OK_NODATA);
  g_assert_cmphex (attach (a, 9, 1, 1, one_addr, one_len), ==, OK_NODATA);
  g_assert_cmphex (transfer (a, 9, 0, 0, 8, 8, 0), ==, OK_NODATA);
  g_assert_cmphex (create_2d (a, 12, FMT_B8G8R8X8, 16, 16), ==, OK_NODATA);
  g_assert_cmphex (CMD (a, CMD_SET_SCANOUT, 8, 4, 32, 20, 0, 7), ==, OK_NODATA);
  g_assert_cmphex (CMD (a, CMD_RESOURCE_FLUSH, 0, 0, 64, 48, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (a->seen.uw, ==, 32);
  g_assert_cmpuint (a->seen.uh, ==, 20);
}

/* A saved device restored into a fresh one: not before apply, then the
 * display shows the same frame and cursor, the guest sees the same
 * device, and commands go on as they would on the first */
static void
test_state (void)
{
  g_autoptr (GBytes) state = NULL, before = NULL, again = NULL;
  g_autoptr (GError) error = NULL;
  uint8_t req[HDR_LEN] = { 0 };
  uint8_t resp[408];
  struct fx a, b;

  state_setup (&a);
  state = save_state (&a);

  fx_up (&b, 1024, 768);
  copy_backing_ram (&a, &b);
  before = save_state (&b);
  g_assert_true (load_state (&b, state, false, &error));
  g_assert_no_error (error);
  again = save_state (&b);
  g_assert_true (g_bytes_equal (before, again));
  g_assert_cmpuint (b.seen.surfaces + b.seen.cursors, ==, 0);
  g_clear_pointer (&again, g_bytes_unref);

  g_assert_true (load_state (&b, state, true, &error));
  g_assert_no_error (error);
  /* the display is told the scanout, with the pixels A's showed... */
  g_assert_cmpuint (b.seen.surfaces, ==, 1);
  g_assert_false (b.seen.surface_null);
  g_assert_cmpuint (b.seen.surface.width, ==, 32);
  g_assert_cmpuint (b.seen.surface.height, ==, 20);
  g_assert_cmpuint (b.seen.surface.stride, ==, 64 * 4);
  g_assert_cmpint (b.seen.surface.format, ==, VMM_PIXEL_XRGB8888);
  g_assert_cmpmem (b.seen.surface_pixels, 32 * 20 * 4, a.seen.update_pixels, 32 * 20 * 4);
  /* ...and the cursor, where A's was moved, though its resource is gone */
  g_assert_cmpuint (b.seen.cursors, ==, 1);
  g_assert_false (b.seen.cursor_null);
  g_assert_cmpuint (b.seen.cursor.hot_x, ==, 3);
  g_assert_cmpuint (b.seen.cursor.hot_y, ==, 4);
  g_assert_cmpint (b.seen.cx, ==, -5);
  g_assert_cmpint (b.seen.cy, ==, 7);
  g_assert_cmpmem (b.seen.cursor_pixels, sizeof b.seen.cursor_pixels, a.seen.cursor_pixels,
                   sizeof a.seen.cursor_pixels);
  /* the guest's view: the size asked for, its event still pending */
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, DEVICE_OFF, 4), ==, 1);
  viv_put_le32 (req, CMD_GET_DISPLAY_INFO);
  g_assert_cmphex (send (&b, Q_CONTROL, req, HDR_LEN, resp, 408, NULL), ==, OK_DISPLAY_INFO);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 8), ==, 1280);
  g_assert_cmpuint (viv_get_le32 (resp + HDR_LEN + 12), ==, 720);
  /* saved again, the same bytes */
  again = save_state (&b);
  g_assert_true (g_bytes_equal (state, again));

  /* the guest goes on, on both: a new frame through the same backing */
  fill_backing (&a, 64, 48, 0x44);
  fill_backing (&b, 64, 48, 0x44);
  g_assert_cmphex (transfer (&a, 7, 3, 10, 50, 10, (10 * 64 + 3) * 4), ==, OK_NODATA);
  g_assert_cmphex (transfer (&b, 7, 3, 10, 50, 10, (10 * 64 + 3) * 4), ==, OK_NODATA);
  g_assert_cmphex (CMD (&a, CMD_RESOURCE_FLUSH, 0, 0, 64, 48, 7, 0), ==, OK_NODATA);
  g_assert_cmphex (CMD (&b, CMD_RESOURCE_FLUSH, 0, 0, 64, 48, 7, 0), ==, OK_NODATA);
  g_assert_cmpuint (b.seen.updates, ==, 1);
  g_assert_cmpuint (b.seen.ux, ==, a.seen.ux);
  g_assert_cmpuint (b.seen.uy, ==, a.seen.uy);
  g_assert_cmpuint (b.seen.uw, ==, 32);
  g_assert_cmpuint (b.seen.uh, ==, 20);
  g_assert_cmpmem (b.seen.update_pixels, 32 * 20 * 4, a.seen.update_pixels, 32 * 20 * 4);
  check_pixel (b.seen.update_pixels + (8 * 32 + 0) * 4, 8, 12, 0x44);
  check_pixel (b.seen.update_pixels + (0 * 32 + 0) * 4, 8, 4, 0x11);
  g_assert_cmphex (transfer (&b, 9, 0, 0, 8, 8, 0), ==, OK_NODATA);
  /* the same resources, and the same memory taken */
  g_assert_cmphex (CMD (&b, CMD_RESOURCE_UNREF, 5, 0), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (create_2d (&b, 9, FMT_B8G8R8X8, 8, 8), ==, ERR_INVALID_RESOURCE_ID);
  g_assert_cmphex (transfer (&b, 12, 0, 0, 1, 1, 0), ==, ERR_UNSPEC);   /* not backed */
  g_assert_cmphex (create_2d (&a, 20, FMT_B8G8R8X8, 8192, 4096), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&b, 20, FMT_B8G8R8X8, 8192, 4096), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&a, 21, FMT_B8G8R8X8, 8192, 4095), ==, OK_NODATA);
  g_assert_cmphex (create_2d (&b, 21, FMT_B8G8R8X8, 8192, 4095), ==, OK_NODATA);
  /* 32 KiB left, less 7's, 9's and 12's 13568 bytes: 80 × 60 pixels */
  for (unsigned i = 0; i < 2; i++)
    {
      struct fx *f = i == 0 ? &a : &b;

      g_assert_cmphex (create_2d (f, 22, FMT_B8G8R8X8, 80, 60), ==, OK_NODATA);
      g_assert_cmphex (create_2d (f, 23, FMT_B8G8R8X8, 1, 1), ==, ERR_OUT_OF_MEMORY);
    }
  /* and the cursor moves on */
  g_assert_cmphex (CURSOR_CMD (&b, CMD_MOVE_CURSOR, 0, 9, 9, 0, 0, 0, 0, 0), ==, OK_NODATA);
  g_assert_cmpuint (b.seen.moves, ==, 1);
  fx_down (&b);
  fx_down (&a);
}

static void
expect_refused (struct fx *b, GBytes *state, GBytes *before, int code)
{
  g_autoptr (GBytes) after = NULL;

  for (int apply = 0; apply < 2; apply++)
    {
      g_autoptr (GError) error = NULL;

      g_assert_false (load_state (b, state, apply, &error));
      g_assert_error (error, VMM_STATE_ERROR, code);
      g_assert_nonnull (strstr (error->message, "“" SECTION "”"));
      g_test_message ("refused: %s", error->message);
    }
  after = save_state (b);
  g_assert_true (g_bytes_equal (before, after));
  g_assert_cmpuint (b->seen.surfaces + b->seen.cursors, ==, 0);
}

/* A section cut short, with a value the device cannot take, or from a
 * newer engine: refused, naming the section, the device unchanged */
static void
test_state_refused (void)
{
  /* offsets in the payload: the first resource's id, format, width; its
   * first backing entry's address; the scanout's resource */
  static const struct { size_t offset; unsigned size; uint64_t value; } bad[] = {
    { 0, 4, 10000 },                  /* width */
    { 8, 4, 2 },                      /* events_read */
    { 12, 4, 5000 },                  /* resources */
    { 16, 4, 0 },                     /* id */
    { 20, 4, 5 },                     /* format */
    { 24, 4, 16385 },                 /* width */
    { 32, 4, 20000 },                 /* backing entries */
    { 36, 8, RAM_SIZE - 100 },        /* an entry's address */
  };
  g_autoptr (GBytes) state = NULL, before = NULL;
  g_autofree uint8_t *payload = NULL;
  size_t len;
  struct fx a, b;

  state_setup (&a);
  state = save_state (&a);
  payload = state_payload (state, &len);
  /* the first resource is 5's successor, 7, with the three pieces */
  g_assert_cmpuint (viv_get_le32 (payload + 16), ==, 7);
  g_assert_cmpuint (viv_get_le32 (payload + 32), ==, 3);

  fx_up (&b, 1024, 768);
  before = save_state (&b);

  for (size_t cut = 1; cut < len; cut += cut < 64 ? 1 : len / 7)
    {
      g_autoptr (GBytes) cut_state = make_state (1, payload, len - cut);

      expect_refused (&b, cut_state, before, VMM_STATE_ERROR_DAMAGED);
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree uint8_t *p = g_memdup2 (payload, len);
      g_autoptr (GBytes) bad_state = NULL;

      if (bad[i].size == 4)
        viv_put_le32 (p + bad[i].offset, (uint32_t) bad[i].value);
      else
        viv_put_le64 (p + bad[i].offset, bad[i].value);
      bad_state = make_state (1, p, len);
      expect_refused (&b, bad_state, before, VMM_STATE_ERROR_DAMAGED);
    }
  /* the scanout (resource 7, 8, 4, 32 × 20) and the cursor after it: a
   * resource that is not there, a rectangle outside it or empty, a
   * rectangle for a disabled scanout, a hot spot outside the cursor */
  {
    uint8_t scanout[20];
    const uint8_t *at;
    size_t off;
    const struct { size_t field; uint32_t value; } bad_scanout[] = {
      { 0, 99 }, { 0, 0 }, { 4, 40 }, { 12, 0 }, { 16, 45 }, { 21, 64 }, { 25, 64 },
    };

    viv_put_le32 (scanout, 7);
    viv_put_le32 (scanout + 4, 8);
    viv_put_le32 (scanout + 8, 4);
    viv_put_le32 (scanout + 12, 32);
    viv_put_le32 (scanout + 16, 20);
    at = memmem (payload, len, scanout, sizeof scanout);
    g_assert_nonnull (at);
    off = (size_t) (at - payload);
    g_assert_cmpuint (payload[off + 20], ==, 1);      /* the cursor is shown */
    for (unsigned i = 0; i < G_N_ELEMENTS (bad_scanout); i++)
      {
        g_autofree uint8_t *p = g_memdup2 (payload, len);
        g_autoptr (GBytes) bad_state = NULL;

        viv_put_le32 (p + off + bad_scanout[i].field, bad_scanout[i].value);
        bad_state = make_state (1, p, len);
        expect_refused (&b, bad_state, before, VMM_STATE_ERROR_DAMAGED);
      }
    /* the cursor image's encoding */
    {
      g_autofree uint8_t *p = g_memdup2 (payload, len);
      g_autoptr (GBytes) bad_state = NULL;

      p[off + 37] = 7;
      bad_state = make_state (1, p, len);
      expect_refused (&b, bad_state, before, VMM_STATE_ERROR_DAMAGED);
    }
  }
  {
    g_autoptr (GBytes) newer = make_state (2, payload, len);

    expect_refused (&b, newer, before, VMM_STATE_ERROR_TOO_NEW);
  }
  fx_down (&b);
  fx_down (&a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-gpu/config", test_config);
  g_test_add_func ("/virtio-gpu/display-info", test_display_info);
  g_test_add_func ("/virtio-gpu/happy-path", test_happy_path);
  g_test_add_func ("/virtio-gpu/formats", test_formats);
  g_test_add_func ("/virtio-gpu/errors", test_errors);
  g_test_add_func ("/virtio-gpu/cursor", test_cursor);
  g_test_add_func ("/virtio-gpu/resize", test_resize);
  g_test_add_func ("/virtio-gpu/reset", test_reset);
  g_test_add_func ("/virtio-gpu/budget", test_budget);
  g_test_add_func ("/virtio-gpu/state", test_state);
  g_test_add_func ("/virtio-gpu/state-refused", test_state_refused);
  return g_test_run ();
}
