/* test-vga.c: the VGA display (display/vga*.c), programmed as SeaBIOS's
 * VGA BIOS and a VBE driver program it, with a listener that keeps the
 * screen a display client would see
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "display/vga.h"
#include "snapshot/state.h"
#include "viv-bytes.h"
#include "vmm-test.h"

#define MMIO32_BASE  0xc0000000ull
#define MMIO32_SIZE  0x20000000ull
#define CURSOR_PHASE 266666667ull     /* vga-render.c's */

/* ---- what the listener was told, and the screen it keeps ------------------------------ */

struct seen {
  pthread_mutex_t *lock;             /* the callbacks may run on the loop thread */
  unsigned surfaces, updates;
  bool surface_null;
  uint32_t w, h;
  uint32_t *screen;                  /* w × h, XRGB */
  uint32_t ux, uy, uw, uh;           /* the last update */
};

static void
set_surface_locked (struct seen *s, const struct vmm_display_surface *surface)
{
  s->surfaces++;
  s->surface_null = surface == NULL;
  g_clear_pointer (&s->screen, g_free);
  s->w = s->h = 0;
  if (surface == NULL)
    return;
  g_assert_cmpint (surface->format, ==, VMM_PIXEL_XRGB8888);
  s->w = surface->width;
  s->h = surface->height;
  s->screen = g_malloc ((gsize) s->w * s->h * 4);
  for (uint32_t y = 0; y < s->h; y++)
    memcpy (s->screen + (gsize) y * s->w, surface->pixels + (gsize) y * surface->stride,
            (gsize) s->w * 4);
}

static void
on_set_surface (void *data, const struct vmm_display_surface *surface)
{
  struct seen *s = data;

  pthread_mutex_lock (s->lock);
  set_surface_locked (s, surface);
  pthread_mutex_unlock (s->lock);
}

static void
update_locked (struct seen *s, const struct vmm_display_surface *surface, uint32_t x,
                 uint32_t y, uint32_t w, uint32_t h)
{
  g_assert_cmpuint (surface->width, ==, s->w);
  g_assert_cmpuint (surface->height, ==, s->h);
  g_assert_cmpuint (w, >, 0);
  g_assert_cmpuint (h, >, 0);
  g_assert_cmpuint (x + w, <=, surface->width);
  g_assert_cmpuint (y + h, <=, surface->height);
  s->updates++;
  s->ux = x, s->uy = y, s->uw = w, s->uh = h;
  for (uint32_t r = 0; r < h; r++)
    memcpy (s->screen + (gsize) (y + r) * s->w + x,
            surface->pixels + (gsize) (y + r) * surface->stride + (gsize) x * 4, (gsize) w * 4);
}

static void
on_update (void *data, const struct vmm_display_surface *surface, uint32_t x, uint32_t y,
           uint32_t w, uint32_t h)
{
  struct seen *s = data;

  pthread_mutex_lock (s->lock);
  update_locked (s, surface, x, y, w, h);
  pthread_mutex_unlock (s->lock);
}

static uint32_t
px (const struct seen *s, uint32_t x, uint32_t y)
{
  g_assert_nonnull (s->screen);
  g_assert_cmpuint (x, <, s->w);
  g_assert_cmpuint (y, <, s->h);
  return s->screen[(gsize) y * s->w + x] & 0xffffff;
}

/* ---- the machine around it ------------------------------------------------------------- */

struct fx {
  struct vmm_loop loop;
  struct vmm_bus pio, mmio;
  struct vmm_pci_host pci;
  struct vmm_vga *vga;
  struct seen seen;
  pthread_mutex_t seen_lock;
  /* what map_ram was asked */
  unsigned maps, unmaps;
  uint64_t lfb_gpa;
  uint8_t *lfb;
};

static int
map_ram (void *opaque, uint64_t gpa, uint64_t size, void *host, bool map)
{
  struct fx *f = opaque;

  g_assert_cmpuint (size, ==, 16u << 20);
  if (map)
    {
      f->maps++;
      f->lfb_gpa = gpa;
      f->lfb = host;
    }
  else
    f->unmaps++;
  return 0;
}

static void
fx_up (struct fx *f)
{
  struct vmm_vga_config config = { 0 };
  struct vmm_vga_env env;
  struct vmm_display_listener listener = {
    .set_surface = on_set_surface, .update = on_update, .data = &f->seen,
  };
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  pthread_mutex_init (&f->seen_lock, NULL);
  f->seen.lock = &f->seen_lock;
  g_assert_cmpint (vmm_loop_init (&f->loop), ==, 0);
  g_assert_cmpint (vmm_bus_init (&f->pio, "pio"), ==, 0);
  g_assert_cmpint (vmm_bus_init (&f->mmio, "mmio"), ==, 0);
  vmm_pci_host_init (&f->pci, MMIO32_BASE, MMIO32_SIZE);
  env = (struct vmm_vga_env) {
    .loop = &f->loop, .mmio = &f->mmio, .map_ram = map_ram, .map_opaque = f,
  };
  f->vga = vmm_vga_new (&config, &env, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vmm_bus_register (&f->pio, VMM_VGA_IOPORT_BASE, VMM_VGA_IOPORT_LEN,
                                     &vmm_vga_ioport_ops, f->vga, "vga"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&f->pio, VMM_VGA_DISPI_BASE, VMM_VGA_DISPI_LEN,
                                     &vmm_vga_dispi_ops, f->vga, "vbe"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&f->mmio, VMM_VGA_MEM_BASE, VMM_VGA_MEM_LEN,
                                     &vmm_vga_mem_ops, f->vga, "vga-mem"), ==, 0);
  g_assert_cmpint (vmm_pci_host_add (&f->pci, vmm_vga_pci_dev (f->vga)), >=, 0);
  vmm_vga_set_listener (f->vga, &listener);
}

static void
fx_down (struct fx *f)
{
  vmm_bus_unregister (&f->pio, VMM_VGA_IOPORT_BASE, f->vga);
  vmm_bus_unregister (&f->pio, VMM_VGA_DISPI_BASE, f->vga);
  vmm_bus_unregister (&f->mmio, VMM_VGA_MEM_BASE, f->vga);
  vmm_vga_free (f->vga);
  g_assert_cmpuint (f->unmaps, ==, f->maps);
  vmm_pci_host_destroy (&f->pci);
  vmm_bus_destroy (&f->mmio);
  vmm_bus_destroy (&f->pio);
  vmm_loop_destroy (&f->loop);
  g_free (f->seen.screen);
  pthread_mutex_destroy (&f->seen_lock);
}

static void
outb (struct fx *f, uint16_t port, uint8_t v)
{
  vmm_test_bus_out (&f->pio, port, 1, v);
}

static uint8_t
inb (struct fx *f, uint16_t port)
{
  return (uint8_t) vmm_test_bus_in (&f->pio, port, 1);
}

static void
dispi_out (struct fx *f, uint16_t index, uint16_t v)
{
  vmm_test_bus_out (&f->pio, 0x1ce, 2, index);
  vmm_test_bus_out (&f->pio, 0x1cf, 2, v);
}

static uint16_t
dispi_in (struct fx *f, uint16_t index)
{
  vmm_test_bus_out (&f->pio, 0x1ce, 2, index);
  return (uint16_t) vmm_test_bus_in (&f->pio, 0x1cf, 2);
}

static void
memb (struct fx *f, uint64_t addr, uint8_t v)
{
  vmm_test_bus_out (&f->mmio, addr, 1, v);
}

static void
reg (struct fx *f, uint16_t port, uint8_t index, uint8_t v)
{
  outb (f, port, index);
  outb (f, port + 1, v);
}

static void
render (struct fx *f, uint64_t now)
{
  vmm_vga_render (f->vga, now);
}

/* ---- BIOS modes, as SeaBIOS's stdvga tables have them ---------------------------------- */

struct bios_mode {
  uint8_t misc;
  uint8_t sr[4];             /* SR1-SR4 */
  uint8_t cr[25];
  uint8_t ar[20];
  uint8_t gr[9];
};

static const struct bios_mode mode_03 = {
  0x67, { 0x00, 0x03, 0x00, 0x02 },
  { 0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00,
    0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff },
  { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
    0x3f, 0x0c, 0x00, 0x0f, 0x08 },
  { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x0f, 0xff },
};

static const struct bios_mode mode_12 = {
  0xe3, { 0x01, 0x0f, 0x00, 0x06 },
  { 0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff },
  { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
    0x3f, 0x01, 0x00, 0x0f, 0x00 },
  { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x0f, 0xff },
};

static const struct bios_mode mode_13 = {
  0x63, { 0x01, 0x0f, 0x00, 0x0e },
  { 0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff },
  { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x41, 0x00, 0x0f, 0x00 },
  { 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x05, 0x0f, 0xff },
};

/* The EGA palette's 64 colours in the DAC (6 bits): rgbRGB */
static uint32_t
ega_rgb (unsigned i)
{
  unsigned c[3];

  for (unsigned k = 0; k < 3; k++)
    {
      unsigned v = ((i >> (2 - k)) & 1) * 0x2a + ((i >> (5 - k)) & 1) * 0x15;

      c[k] = v << 2 | v >> 4;
    }
  return c[0] << 16 | c[1] << 8 | c[2];
}

static void
set_mode (struct fx *f, const struct bios_mode *m)
{
  reg (f, 0x3c4, 0, 0x01);                    /* synchronous reset */
  outb (f, 0x3c2, m->misc);
  for (unsigned i = 0; i < 4; i++)
    reg (f, 0x3c4, (uint8_t) (i + 1), m->sr[i]);
  reg (f, 0x3c4, 0, 0x03);
  reg (f, 0x3d4, 0x11, 0x00);                 /* unprotect CR0-7 */
  for (unsigned i = 0; i < 25; i++)
    reg (f, 0x3d4, (uint8_t) i, m->cr[i]);
  inb (f, 0x3da);
  for (unsigned i = 0; i < 20; i++)
    {
      outb (f, 0x3c0, (uint8_t) i);
      outb (f, 0x3c0, m->ar[i]);
    }
  for (unsigned i = 0; i < 9; i++)
    reg (f, 0x3ce, (uint8_t) i, m->gr[i]);
  outb (f, 0x3c8, 0);
  for (unsigned i = 0; i < 64; i++)
    {
      uint32_t c = ega_rgb (i);

      outb (f, 0x3c9, (uint8_t) ((c >> 18) & 0x3f));
      outb (f, 0x3c9, (uint8_t) ((c >> 10) & 0x3f));
      outb (f, 0x3c9, (uint8_t) ((c >> 2) & 0x3f));
    }
  inb (f, 0x3da);
  outb (f, 0x3c0, 0x20);                      /* palette address source: display on */
}

/* The test font: a cross for 'A', a horizontal line in row 8 for 0xc4
 * (line graphics), all dots for 0xb0, nothing elsewhere */
static uint8_t
font_line (unsigned c, unsigned l)
{
  static const uint8_t a[16] = { 0, 0, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                                 0xc6, 0xc6, 0xc6, 0xc6, 0, 0, 0, 0 };

  if (c == 'A')
    return a[l];
  if (c == 0xc4)
    return l == 8 ? 0xff : 0;
  if (c == 0xb0)
    return 0xff;
  return 0;
}

/* As SeaBIOS's stdvga_load_font: plane 2 alone, sequential, then back */
static void
load_font (struct fx *f)
{
  reg (f, 0x3c4, 0x02, 0x04);
  reg (f, 0x3c4, 0x04, 0x07);
  reg (f, 0x3ce, 0x04, 0x02);
  reg (f, 0x3ce, 0x05, 0x00);
  reg (f, 0x3ce, 0x06, 0x04);
  for (unsigned c = 0; c < 256; c++)
    for (unsigned l = 0; l < 32; l++)
      memb (f, 0xa0000 + c * 32 + l, l < 16 ? font_line (c, l) : 0);
  reg (f, 0x3c4, 0x02, 0x03);
  reg (f, 0x3c4, 0x04, 0x02);
  reg (f, 0x3ce, 0x04, 0x00);
  reg (f, 0x3ce, 0x05, 0x10);
  reg (f, 0x3ce, 0x06, 0x0e);
}

static void
put_char (struct fx *f, unsigned col, unsigned row, uint8_t c, uint8_t attr)
{
  uint64_t a = 0xb8000 + (row * 80 + col) * 2;

  memb (f, a, c);
  memb (f, a + 1, attr);
}

static void
save_ppm (const struct seen *s, const char *name)
{
  FILE *fp = fopen (name, "wb");

  g_assert_nonnull (fp);
  fprintf (fp, "P6\n%u %u\n255\n", s->w, s->h);
  for (uint32_t i = 0; i < s->w * s->h; i++)
    {
      uint8_t rgb[3] = { (uint8_t) (s->screen[i] >> 16), (uint8_t) (s->screen[i] >> 8),
                         (uint8_t) s->screen[i] };

      fwrite (rgb, 1, 3, fp);
    }
  fclose (fp);
  g_test_message ("text screen saved as %s", name);
}

/* ---- tests ------------------------------------------------------------------------------ */

/* At power-on no mode is set: no surface; a mode with its display off
 * (palette address source clear) is black at the mode's size */
static void
test_screen_off (void)
{
  struct fx f;

  fx_up (&f);
  render (&f, 0);
  g_assert_cmpuint (f.seen.surfaces, ==, 1);
  g_assert_true (f.seen.surface_null);
  render (&f, 0);
  g_assert_cmpuint (f.seen.surfaces, ==, 1);

  set_mode (&f, &mode_03);
  load_font (&f);
  put_char (&f, 0, 0, 0xb0, 0x1f);
  inb (&f, 0x3da);
  outb (&f, 0x3c0, 0x00);                     /* blanked */
  render (&f, 0);
  g_assert_cmpuint (f.seen.surfaces, ==, 2);
  g_assert_cmpuint (f.seen.w, ==, 720);
  g_assert_cmpuint (f.seen.h, ==, 400);
  g_assert_cmphex (px (&f.seen, 0, 0), ==, 0);
  inb (&f, 0x3da);
  outb (&f, 0x3c0, 0x20);
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 0, 0), ==, 0xffffff);

  vmm_vga_reset (f.vga);
  render (&f, 0);
  g_assert_true (f.seen.surface_null);
  fx_down (&f);
}

static void
test_text (void)
{
  uint32_t yellow = ega_rgb (0x3e), blue = ega_rgb (0x01), grey = ega_rgb (0x07);
  unsigned updates;
  struct fx f;

  fx_up (&f);
  set_mode (&f, &mode_03);
  load_font (&f);
  /* clear the screen as the BIOS does: spaces, grey on black */
  for (unsigned i = 0; i < 80 * 25; i++)
    put_char (&f, i % 80, i / 80, ' ', 0x07);
  put_char (&f, 0, 0, 'A', 0x1e);
  put_char (&f, 1, 0, 0xc4, 0x07);
  put_char (&f, 2, 0, 0xb0, 0x07);
  put_char (&f, 3, 0, 'A', 0x07);
  reg (&f, 0x3d4, 0x0e, 0x00);                /* the cursor at column 5 of row 1 */
  reg (&f, 0x3d4, 0x0f, 85);
  render (&f, 0);
  g_assert_false (f.seen.surface_null);
  g_assert_cmpuint (f.seen.w, ==, 720);
  g_assert_cmpuint (f.seen.h, ==, 400);

  /* 'A', yellow on blue, 9 dots wide: the ninth is background */
  for (unsigned l = 0; l < 16; l++)
    for (unsigned x = 0; x < 9; x++)
      {
        bool on = x < 8 && (font_line ('A', l) & (0x80 >> x));

        g_assert_cmphex (px (&f.seen, x, l), ==, on ? yellow : blue);
      }
  /* line graphics: the ninth dot continues the line */
  for (unsigned x = 9; x < 18; x++)
    {
      g_assert_cmphex (px (&f.seen, x, 8), ==, grey);
      g_assert_cmphex (px (&f.seen, x, 7), ==, 0);
    }
  /* not line graphics: the ninth dot is background */
  g_assert_cmphex (px (&f.seen, 18 + 7, 3), ==, grey);
  g_assert_cmphex (px (&f.seen, 18 + 8, 3), ==, 0);
  /* the cursor: scan lines 13 and 14 of its cell, in the cell's colour */
  g_assert_cmphex (px (&f.seen, 45, 16 + 12), ==, 0);
  g_assert_cmphex (px (&f.seen, 45, 16 + 13), ==, grey);
  g_assert_cmphex (px (&f.seen, 53, 16 + 14), ==, grey);
  g_assert_cmphex (px (&f.seen, 45, 16 + 15), ==, 0);
  save_ppm (&f.seen, "test-vga-text.ppm");

  /* the cursor blinks off: only its two lines are sent */
  updates = f.seen.updates;
  render (&f, CURSOR_PHASE);
  g_assert_cmpuint (f.seen.updates, ==, updates + 1);
  g_assert_cmpuint (f.seen.ux, ==, 45);
  g_assert_cmpuint (f.seen.uy, ==, 16 + 13);
  g_assert_cmpuint (f.seen.uw, ==, 9);
  g_assert_cmpuint (f.seen.uh, ==, 2);
  g_assert_cmphex (px (&f.seen, 45, 16 + 13), ==, 0);
  /* nothing changed: nothing sent */
  render (&f, CURSOR_PHASE);
  g_assert_cmpuint (f.seen.updates, ==, updates + 1);

  /* one character: at most its cell is sent */
  put_char (&f, 10, 3, 'A', 0x07);
  render (&f, CURSOR_PHASE);
  g_assert_cmpuint (f.seen.updates, ==, updates + 2);
  g_assert_cmpuint (f.seen.ux, >=, 90);
  g_assert_cmpuint (f.seen.ux + f.seen.uw, <=, 99);
  g_assert_cmpuint (f.seen.uy, >=, 48);
  g_assert_cmpuint (f.seen.uy + f.seen.uh, <=, 64);
  g_assert_cmphex (px (&f.seen, 90 + 3, 48 + 3), ==, grey);

  /* blink: with AR10 bit 3, a bright background is the blink bit */
  put_char (&f, 0, 0, 'A', 0x9e);
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 3, 3), ==, yellow);
  g_assert_cmphex (px (&f.seen, 0, 0), ==, blue);
  render (&f, 2 * CURSOR_PHASE);
  g_assert_cmphex (px (&f.seen, 3, 3), ==, blue);

  /* an 8-dot font (SR1 bit 0): 640 wide */
  reg (&f, 0x3c4, 0x01, 0x01);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 640);
  g_assert_cmphex (px (&f.seen, 8 + 0, 8), ==, grey);   /* 0xc4 now at x = 8 */
  fx_down (&f);
}

/* Mode 12h: 640 × 480, four planes, write modes 0 and 2, the bit mask */
static void
test_planar (void)
{
  struct fx f;

  fx_up (&f);
  set_mode (&f, &mode_12);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 640);
  g_assert_cmpuint (f.seen.h, ==, 480);

  /* write mode 2, bit mask 0xf0: colour 12 in pixels 0-3; the latches
   * (read first) keep pixels 4-7 */
  reg (&f, 0x3ce, 0x05, 0x02);
  reg (&f, 0x3ce, 0x08, 0xf0);
  (void) vmm_test_bus_in (&f.mmio, 0xa0000, 1);
  memb (&f, 0xa0000, 0x0c);
  /* write mode 0 with set/reset on all planes: colour 9 everywhere */
  reg (&f, 0x3ce, 0x05, 0x00);
  reg (&f, 0x3ce, 0x08, 0xff);
  reg (&f, 0x3ce, 0x00, 0x09);
  reg (&f, 0x3ce, 0x01, 0x0f);
  memb (&f, 0xa0001, 0x00);
  /* write mode 0, no set/reset, plane 1 only: colour 2 in pixel 16,
   * on the second line */
  reg (&f, 0x3ce, 0x01, 0x00);
  reg (&f, 0x3c4, 0x02, 0x02);
  memb (&f, 0xa0000 + 80 + 2, 0x80);
  reg (&f, 0x3c4, 0x02, 0x0f);
  render (&f, 0);
  for (unsigned x = 0; x < 4; x++)
    g_assert_cmphex (px (&f.seen, x, 0), ==, ega_rgb (0x3c));
  for (unsigned x = 4; x < 8; x++)
    g_assert_cmphex (px (&f.seen, x, 0), ==, 0);
  for (unsigned x = 8; x < 16; x++)
    g_assert_cmphex (px (&f.seen, x, 0), ==, ega_rgb (0x39));
  g_assert_cmphex (px (&f.seen, 16, 1), ==, ega_rgb (0x02));
  g_assert_cmphex (px (&f.seen, 17, 1), ==, 0);

  /* read mode 0 reads the plane GR4 names; read mode 1 compares colours */
  reg (&f, 0x3ce, 0x04, 0x03);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, 0xa0000, 1), ==, 0xf0);
  reg (&f, 0x3ce, 0x04, 0x01);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, 0xa0000, 1), ==, 0x00);
  reg (&f, 0x3ce, 0x05, 0x08);
  reg (&f, 0x3ce, 0x02, 0x0c);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, 0xa0000, 1), ==, 0xf0);
  reg (&f, 0x3ce, 0x02, 0x09);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, 0xa0001, 1), ==, 0xff);
  fx_down (&f);
}

/* Mode 13h: 320 × 200, a byte a pixel through the DAC */
static void
test_mode13 (void)
{
  struct fx f;

  fx_up (&f);
  set_mode (&f, &mode_13);
  outb (&f, 0x3c8, 200);
  outb (&f, 0x3c9, 0x3f);
  outb (&f, 0x3c9, 0x20);
  outb (&f, 0x3c9, 0x00);
  memb (&f, 0xa0000 + 199 * 320 + 319, 200);
  memb (&f, 0xa0000 + 10 * 320 + 7, 0x01);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 320);
  g_assert_cmpuint (f.seen.h, ==, 200);
  g_assert_cmphex (px (&f.seen, 319, 199), ==, 0xff8200);
  g_assert_cmphex (px (&f.seen, 7, 10), ==, ega_rgb (1));
  g_assert_cmphex (px (&f.seen, 8, 10), ==, 0);
  /* the DAC reads back */
  outb (&f, 0x3c7, 200);
  g_assert_cmphex (inb (&f, 0x3c9), ==, 0x3f);
  g_assert_cmphex (inb (&f, 0x3c9), ==, 0x20);
  fx_down (&f);
}

static void
test_dispi_id (void)
{
  struct fx f;

  fx_up (&f);
  g_assert_cmphex (dispi_in (&f, 0), ==, 0xb0c5);
  dispi_out (&f, 0, 0xb0c0);
  g_assert_cmphex (dispi_in (&f, 0), ==, 0xb0c0);
  dispi_out (&f, 0, 0x1234);
  g_assert_cmphex (dispi_in (&f, 0), ==, 0xb0c0);
  g_assert_cmpuint (dispi_in (&f, 0xa), ==, 256);            /* 16 MiB in 64 KiB */
  dispi_out (&f, 4, 0x02);                                     /* GETCAPS */
  g_assert_cmpuint (dispi_in (&f, 1), ==, 16000);
  g_assert_cmpuint (dispi_in (&f, 2), ==, 12000);
  g_assert_cmpuint (dispi_in (&f, 3), ==, 32);
  dispi_out (&f, 4, 0x00);
  g_assert_cmpuint (dispi_in (&f, 3), ==, 8);
  fx_down (&f);
}

static void
dispi_mode (struct fx *f, uint16_t w, uint16_t h, uint16_t bpp)
{
  dispi_out (f, 4, 0);
  dispi_out (f, 1, w);
  dispi_out (f, 2, h);
  dispi_out (f, 3, bpp);
  dispi_out (f, 4, 0x41);                                      /* ENABLED | LFB */
}

static void
test_dispi_32 (void)
{
  uint32_t pixel = 0x00123456;
  uint64_t bar2;
  struct fx f;

  fx_up (&f);
  g_assert_cmpuint (f.maps, ==, 1);
  g_assert_cmpuint (f.lfb_gpa & 0xffffff, ==, 0);
  g_assert_true (f.lfb == vmm_vga_vram (f.vga, NULL));

  dispi_mode (&f, 1024, 768, 32);
  g_assert_cmpuint (dispi_in (&f, 6), ==, 1024);
  g_assert_cmpuint (dispi_in (&f, 7), ==, (16u << 20) / 4096);
  memcpy (f.lfb + (50 * 1024 + 100) * 4, &pixel, 4);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 1024);
  g_assert_cmpuint (f.seen.h, ==, 768);
  g_assert_cmphex (px (&f.seen, 100, 50), ==, 0x123456);
  g_assert_cmphex (px (&f.seen, 101, 50), ==, 0);

  /* the banked window: bank 3 is byte 3 × 64 KiB, pixel (0, 48) */
  dispi_out (&f, 5, 3);
  vmm_test_bus_out (&f.mmio, 0xa0000, 4, 0x00abcdef);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, 0xa0000, 4), ==, 0x00abcdef);
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 0, 48), ==, 0xabcdef);
  g_assert_cmpuint (f.seen.ux, ==, 0);
  g_assert_cmpuint (f.seen.uy, ==, 48);
  g_assert_cmpuint (f.seen.uw, ==, 1);
  g_assert_cmpuint (f.seen.uh, ==, 1);

  /* virtual width and offsets: the view pans */
  dispi_out (&f, 6, 2048);
  g_assert_cmpuint (dispi_in (&f, 6), ==, 2048);
  dispi_out (&f, 8, 16);
  dispi_out (&f, 9, 2);
  memcpy (f.lfb + (2 * 2048 + 16) * 4, &pixel, 4);
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 0, 0), ==, 0x123456);

  /* the same registers through BAR2 (16-bit, index × 2 from 0x500), and
   * the EDID at its start */
  bar2 = vmm_vga_pci_dev (f.vga)->bars[2].addr;
  g_assert_true (vmm_vga_pci_dev (f.vga)->bars[2].mapped);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, bar2 + 0x500 + 2 * 1, 2), ==, 1024);
  g_assert_cmphex (vmm_test_bus_in (&f.mmio, bar2, 8), ==, 0x00ffffffffffff00ull);
  vmm_test_bus_out (&f.mmio, bar2 + 0x500 + 2 * 4, 2, 0);
  g_assert_cmphex (dispi_in (&f, 4), ==, 0);
  /* the VGA ports at 0x400: the DAC index */
  vmm_test_bus_out (&f.mmio, bar2 + 0x400 + 8, 1, 77);
  g_assert_cmphex (inb (&f, 0x3c8), ==, 77);
  fx_down (&f);
}

static void
test_dispi_16 (void)
{
  uint16_t pixels[5] = { 0xf800, 0x07e0, 0x001f, 0x8410, 0xffff };
  uint16_t p15 = 0x7c00;
  struct fx f;

  fx_up (&f);
  dispi_mode (&f, 640, 480, 16);
  memcpy (f.lfb + 640 * 2 * 7, pixels, sizeof pixels);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 640);
  g_assert_cmphex (px (&f.seen, 0, 7), ==, 0xff0000);
  g_assert_cmphex (px (&f.seen, 1, 7), ==, 0x00ff00);
  g_assert_cmphex (px (&f.seen, 2, 7), ==, 0x0000ff);
  g_assert_cmphex (px (&f.seen, 3, 7), ==, 0x848284);
  g_assert_cmphex (px (&f.seen, 4, 7), ==, 0xffffff);

  dispi_mode (&f, 640, 480, 15);
  memcpy (f.lfb, &p15, 2);
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 0, 0), ==, 0xff0000);

  /* 24 bits: B, G, R */
  dispi_mode (&f, 800, 600, 24);
  memcpy (f.lfb + 3 * 5, "\x11\x22\x33", 3);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, 800);
  g_assert_cmphex (px (&f.seen, 5, 0), ==, 0x332211);

  /* 8 bits through the palette, 8-bit DAC */
  dispi_out (&f, 4, 0);
  dispi_out (&f, 3, 8);
  dispi_out (&f, 4, 0x61);
  outb (&f, 0x3c8, 9);
  outb (&f, 0x3c9, 0xfe);
  outb (&f, 0x3c9, 0x80);
  outb (&f, 0x3c9, 0x01);
  f.lfb[3] = 9;
  render (&f, 0);
  g_assert_cmphex (px (&f.seen, 3, 0), ==, 0xfe8001);
  fx_down (&f);
}

/* Whatever the guest writes, the mode fits the memory and nothing is
 * read or written outside it */
static void
test_hostile (void)
{
  uint32_t vram_size;
  struct fx f;

  fx_up (&f);
  vmm_vga_vram (f.vga, &vram_size);
  outb (&f, 0x3c2, 0x67);                     /* the CRTC at 0x3d4 */
  /* indices that do not exist */
  dispi_out (&f, 0xffff, 0xffff);
  g_assert_cmphex (dispi_in (&f, 0xffff), ==, 0);
  dispi_out (&f, 7, 0xffff);
  dispi_out (&f, 0xa, 0xffff);
  g_assert_cmpuint (dispi_in (&f, 0xa), ==, 256);
  for (unsigned i = 0; i < 256; i++)
    {
      reg (&f, 0x3c4, (uint8_t) i, 0xff);
      reg (&f, 0x3ce, (uint8_t) i, 0xff);
      reg (&f, 0x3d4, (uint8_t) i, 0xff);
      (void) inb (&f, 0x3da);
      outb (&f, 0x3c0, (uint8_t) i);
      outb (&f, 0x3c0, 0xff);
      (void) inb (&f, 0x3c1);
      (void) inb (&f, 0x3c5);
      (void) inb (&f, 0x3cf);
      (void) inb (&f, 0x3d5);
    }
  /* the largest VGA geometry, every mode's path */
  for (unsigned gr6 = 0; gr6 < 2; gr6++)
    for (unsigned gr5 = 0; gr5 < 4; gr5++)
      {
        reg (&f, 0x3ce, 0x06, (uint8_t) gr6);
        reg (&f, 0x3ce, 0x05, (uint8_t) (gr5 << 5));
        reg (&f, 0x3d4, 0x09, (uint8_t) (gr5 & 1 ? 0x00 : 0x9f));
        render (&f, 0);
        g_assert_false (f.seen.surface_null);
      }
  /* every legacy window byte, in every memory map and mode */
  for (unsigned sr4 = 0; sr4 < 16; sr4 += 4)
    for (unsigned map = 0; map < 4; map++)
      {
        reg (&f, 0x3c4, 0x04, (uint8_t) sr4);
        reg (&f, 0x3ce, 0x06, (uint8_t) (map << 2 | 1));
        for (uint64_t a = 0; a < VMM_VGA_MEM_LEN; a += 0xfff)
          {
            memb (&f, VMM_VGA_MEM_BASE + a, 0x5a);
            (void) vmm_test_bus_in (&f.mmio, VMM_VGA_MEM_BASE + a, 1);
          }
      }

  /* huge resolutions, a bad depth */
  dispi_out (&f, 1, 0xffff);
  dispi_out (&f, 2, 0xffff);
  dispi_out (&f, 3, 0xffff);
  dispi_out (&f, 4, 0x41 | 0x80);
  g_assert_cmpuint (dispi_in (&f, 3), ==, 8);
  g_assert_cmpuint (dispi_in (&f, 1), <=, 16000);
  g_assert_cmpuint ((uint64_t) dispi_in (&f, 1) * dispi_in (&f, 2), <=, vram_size);
  render (&f, 0);
  g_assert_cmpuint (f.seen.w, ==, dispi_in (&f, 1));
  dispi_out (&f, 3, 32);
  g_assert_cmpuint ((uint64_t) dispi_in (&f, 1) * dispi_in (&f, 2) * 4, <=, vram_size);
  render (&f, 0);
  /* a virtual width that would not fit, offsets past the end */
  dispi_out (&f, 4, 0);
  dispi_mode (&f, 1024, 768, 32);
  dispi_out (&f, 6, 0xffff);
  g_assert_cmpuint ((uint64_t) dispi_in (&f, 6) * 4 * 768, <=, vram_size);
  dispi_out (&f, 8, 0xffff);
  dispi_out (&f, 9, 0xffff);
  g_assert_cmpuint (((uint64_t) dispi_in (&f, 9) * dispi_in (&f, 6) + dispi_in (&f, 8) + 1024 *
                     768) * 4, <=, vram_size);
  render (&f, 0);
  /* a bank beyond the memory wraps inside it */
  dispi_out (&f, 5, 0xffff);
  g_assert_cmpuint ((uint64_t) dispi_in (&f, 5) << 16, <, vram_size);
  vmm_test_bus_out (&f.mmio, 0xa0000 + 0xfffc, 4, 0x01020304);
  vmm_test_bus_out (&f.mmio, 0xa0000 + 0x10000, 4, 0x01020304);
  render (&f, 0);
  fx_down (&f);
}

static bool
has_text_surface (void *data)
{
  struct fx *f = data;
  bool shown;

  pthread_mutex_lock (&f->seen_lock);
  shown = f->seen.surfaces >= 1 && f->seen.w == 720 && f->seen.h == 400;
  pthread_mutex_unlock (&f->seen_lock);
  return shown;
}

static bool
has_char (void *data)
{
  struct fx *f = data;
  bool shown;

  pthread_mutex_lock (&f->seen_lock);
  shown = f->seen.screen != NULL && f->seen.w == 720 &&
          (f->seen.screen[3 * 720 + 3] & 0xffffff) == ega_rgb (0x3e);
  pthread_mutex_unlock (&f->seen_lock);
  return shown;
}

/* Nobody calls render: the device's timer on the running loop draws what
 * the guest changed */
static void
test_loop (void)
{
  struct fx f;

  fx_up (&f);
  g_assert_cmpint (vmm_loop_start (&f.loop), ==, 0);
  set_mode (&f, &mode_03);
  g_assert_true (vmm_test_wait_until (has_text_surface, &f, 10000));
  load_font (&f);
  put_char (&f, 0, 0, 'A', 0x1e);
  g_assert_true (vmm_test_wait_until (has_char, &f, 10000));
  vmm_loop_stop (&f.loop);
  fx_down (&f);
}

/* ---- saved state --------------------------------------------------------------------------- */

#define SECTION "vga"

/* A state file holding the display's section */
static GBytes *
save_state (struct fx *f)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_vga_save (f->vga, w, SECTION);
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
  return g_bytes_unref_to_data (vmm_test_state_payload (state, SECTION), len);
}

static gboolean
load_state (struct fx *f, GBytes *state, bool apply, GError **error)
{
  struct vmm_state_file *file = vmm_test_state_parse (state);
  gboolean ok;

  ok = vmm_vga_load (f->vga, file, SECTION, apply, error);
  vmm_state_file_free (file);
  return ok;
}

static void
assert_same_screen (const struct fx *a, const struct fx *b)
{
  g_assert_false (b->seen.surface_null);
  g_assert_cmpuint (b->seen.w, ==, a->seen.w);
  g_assert_cmpuint (b->seen.h, ==, a->seen.h);
  g_assert_cmpmem (b->seen.screen, (gsize) b->seen.w * b->seen.h * 4, a->seen.screen,
                   (gsize) a->seen.w * a->seen.h * 4);
}

/* Restores A's state into a fresh B: not before apply; then B's next
 * frame is whole and A's, and saved again it is the same bytes */
static void
restore (struct fx *a, struct fx *b)
{
  g_autoptr (GBytes) state = save_state (a), before = NULL, again = NULL;
  g_autoptr (GError) error = NULL;
  unsigned surfaces;

  fx_up (b);
  render (b, 0);
  g_assert_true (b->seen.surface_null);
  before = save_state (b);
  g_assert_true (load_state (b, state, false, &error));
  g_assert_no_error (error);
  again = save_state (b);
  g_assert_true (g_bytes_equal (before, again));
  g_clear_pointer (&again, g_bytes_unref);
  render (b, 0);
  g_assert_true (b->seen.surface_null);

  surfaces = b->seen.surfaces;
  g_assert_true (load_state (b, state, true, &error));
  g_assert_no_error (error);
  render (b, 0);
  g_assert_cmpuint (b->seen.surfaces, ==, surfaces + 1);
  assert_same_screen (a, b);
  again = save_state (b);
  g_assert_true (g_bytes_equal (state, again));
}

/* Text mode with a font in plane 2, colours, the cursor; the DAC half
 * way through reading a colour and the attribute controller waiting for
 * data: B shows what A showed and goes on as A does */
static void
test_state_text (void)
{
  struct fx a, b;

  fx_up (&a);
  set_mode (&a, &mode_03);
  load_font (&a);
  for (unsigned i = 0; i < 80 * 25; i++)
    put_char (&a, i % 80, i / 80, ' ', 0x07);
  put_char (&a, 0, 0, 'A', 0x1e);
  put_char (&a, 1, 0, 0xc4, 0x07);
  put_char (&a, 5, 2, 'A', 0x9e);                     /* blinks */
  reg (&a, 0x3d4, 0x0e, 0x00);
  reg (&a, 0x3d4, 0x0f, 85);
  outb (&a, 0x3c7, 0x3e);                             /* read colour 0x3e: R taken */
  g_assert_cmphex (inb (&a, 0x3c9), ==, (ega_rgb (0x3e) >> 18) & 0x3f);
  render (&a, 0);
  g_assert_cmpuint (a.seen.w, ==, 720);

  restore (&a, &b);
  /* the DAC read goes on with G, B, then the next colour */
  for (unsigned i = 0; i < 4; i++)
    g_assert_cmphex (inb (&b, 0x3c9), ==, inb (&a, 0x3c9));
  /* the flip-flop: this write is attribute register 0's data on both */
  outb (&a, 0x3c0, 0x01);
  outb (&b, 0x3c0, 0x01);
  outb (&a, 0x3c0, 0x20);
  outb (&b, 0x3c0, 0x20);
  put_char (&a, 10, 3, 'A', 0x70);
  put_char (&b, 10, 3, 'A', 0x70);
  render (&a, 2 * CURSOR_PHASE);
  render (&b, 2 * CURSOR_PHASE);
  assert_same_screen (&a, &b);
  fx_down (&b);
  fx_down (&a);
}

/* A DISPI mode with a virtual width, panned, and a bank selected: B
 * shows the same pixels, reads the same registers, and its window is on
 * the same bank */
static void
test_state_vbe (void)
{
  uint32_t pixel = 0x00123456;
  struct fx a, b;

  fx_up (&a);
  dispi_mode (&a, 800, 600, 32);
  dispi_out (&a, 6, 1024);
  dispi_out (&a, 8, 16);
  dispi_out (&a, 9, 2);
  for (unsigned y = 0; y < 600; y += 7)
    for (unsigned x = 0; x < 800; x += 3)
      {
        uint32_t v = pixel ^ (y << 12) ^ x;

        memcpy (a.lfb + ((2 + y) * 1024 + 16 + x) * 4, &v, 4);
      }
  dispi_out (&a, 5, 3);
  outb (&a, 0x3c8, 7);                                 /* the DAC written half way */
  outb (&a, 0x3c9, 0x11);
  render (&a, 0);
  g_assert_cmpuint (a.seen.w, ==, 800);
  g_assert_cmphex (px (&a.seen, 0, 0), ==, 0x123456);

  restore (&a, &b);
  for (uint16_t i = 0; i < 0xb; i++)
    g_assert_cmphex (dispi_in (&b, i), ==, dispi_in (&a, i));
  g_assert_cmphex (vmm_test_bus_in (&b.mmio, 0xa0000, 4), ==,
                   vmm_test_bus_in (&a.mmio, 0xa0000, 4));
  vmm_test_bus_out (&a.mmio, 0xa0010, 4, 0x00abcdef);
  vmm_test_bus_out (&b.mmio, 0xa0010, 4, 0x00abcdef);
  g_assert_cmphex (inb (&b, 0x3c8), ==, 7);
  outb (&a, 0x3c9, 0x22);
  outb (&b, 0x3c9, 0x22);
  outb (&a, 0x3c9, 0x33);
  outb (&b, 0x3c9, 0x33);
  outb (&a, 0x3c7, 7);
  outb (&b, 0x3c7, 7);
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmphex (inb (&b, 0x3c9), ==, inb (&a, 0x3c9));
  render (&a, 0);
  render (&b, 0);
  assert_same_screen (&a, &b);
  fx_down (&b);
  fx_down (&a);
}

static void
expect_refused (struct fx *b, GBytes *state, GBytes *before, int code)
{
  g_autoptr (GBytes) after = NULL;
  unsigned surfaces = b->seen.surfaces;

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
  render (b, 0);
  g_assert_cmpuint (b->seen.surfaces, ==, surfaces);
}

/* The layout (vga.c): size, misc, SR index and 8 SRs, GR index and 16,
 * CR index and 32, AR index and 32, the flip-flop, the DAC's state,
 * indices and sub-index, its cache, the palette, PEL mask, ST01, FCR, the
 * latch, the DISPI index and registers, the memory */
#define OFF_MISC     4
#define OFF_SR       6
#define OFF_GR       15
#define OFF_CR       32
#define OFF_AR       65
#define OFF_FLIP     97
#define OFF_DAC      98
#define OFF_ST01     874
#define OFF_DISPI    882
#define OFF_VRAM     904

/* A section cut short, with a value no guest could have set, or from a
 * newer engine: refused, naming the section, the display unchanged */
static void
test_state_refused (void)
{
  static const struct { size_t offset; unsigned size; uint32_t value; } bad[] = {
    { 0, 4, 8u << 20 },                        /* another memory size */
    { OFF_MISC, 1, 0x10 },
    { OFF_SR - 1, 1, 8 },                      /* SR index */
    { OFF_SR + 0, 1, 0xff },                   /* SR0 has 2 bits */
    { OFF_GR - 1, 1, 16 },                     /* GR index */
    { OFF_GR + 9, 1, 1 },                      /* no GR9 */
    { OFF_CR + 0x19, 1, 1 },                   /* no CR19 */
    { OFF_AR - 1, 1, 0x40 },                   /* AR index */
    { OFF_AR + 0x10, 1, 0x10 },
    { OFF_AR + 0x15, 1, 1 },
    { OFF_FLIP, 1, 2 },                        /* a bool */
    { OFF_DAC, 1, 1 },                         /* neither writing nor reading */
    { OFF_DAC + 3, 1, 3 },                     /* sub-index */
    { OFF_ST01, 1, 0x80 },
    { OFF_ST01 + 1, 1, 0x01 },                 /* FCR */
    { OFF_DISPI + 0, 2, 0x1234 },              /* ID */
    { OFF_DISPI + 2 * 1, 2, 801 },             /* XRES not what fixup leaves */
    { OFF_DISPI + 2 * 2, 2, 60000 },           /* YRES past the memory */
    { OFF_DISPI + 2 * 3, 2, 12 },              /* BPP */
    { OFF_DISPI + 2 * 5, 2, 256 },             /* bank past 16 MiB */
    { OFF_DISPI + 2 * 8, 2, 300 },             /* X offset past the virtual width */
    { OFF_DISPI + 2 * 10, 2, 1 },              /* VIDEO_MEMORY_64K is never written */
    { OFF_VRAM, 1, 9 },                        /* encoding */
  };
  g_autoptr (GBytes) state = NULL, before = NULL;
  g_autofree uint8_t *payload = NULL;
  size_t len;
  struct fx a, b;

  fx_up (&a);
  dispi_mode (&a, 800, 600, 32);
  dispi_out (&a, 6, 1024);
  state = save_state (&a);
  payload = state_payload (state, &len);
  /* where the tests expect the fields */
  g_assert_cmpuint (viv_get_le32 (payload), ==, 16u << 20);
  g_assert_cmphex (viv_get_le16 (payload + OFF_DISPI), ==, 0xb0c5);
  g_assert_cmpuint (viv_get_le16 (payload + OFF_DISPI + 2), ==, 800);
  g_assert_cmpuint (viv_get_le16 (payload + OFF_DISPI + 12), ==, 1024);
  g_assert_cmpuint (payload[OFF_VRAM], ==, 2);   /* raw deflate */

  fx_up (&b);
  render (&b, 0);
  before = save_state (&b);
  /* cut short in every part: the size, the registers, the memory */
  {
    const size_t keep[] = {
      0, 2, OFF_MISC, OFF_SR + 3, OFF_FLIP, OFF_ST01, OFF_DISPI + 3, OFF_VRAM, OFF_VRAM + 1,
      OFF_VRAM + 4, OFF_VRAM + 5, len / 2, len - 1,
    };

    for (unsigned i = 0; i < G_N_ELEMENTS (keep); i++)
      {
        g_autoptr (GBytes) cut_state = make_state (1, payload, keep[i]);

        expect_refused (&b, cut_state, before, VMM_STATE_ERROR_DAMAGED);
      }
  }
  for (unsigned i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree uint8_t *p = g_memdup2 (payload, len);
      g_autoptr (GBytes) bad_state = NULL;

      if (bad[i].size == 4)
        viv_put_le32 (p + bad[i].offset, bad[i].value);
      else if (bad[i].size == 2)
        viv_put_le16 (p + bad[i].offset, (uint16_t) bad[i].value);
      else
        p[bad[i].offset] = (uint8_t) bad[i].value;
      bad_state = make_state (1, p, len);
      expect_refused (&b, bad_state, before, VMM_STATE_ERROR_DAMAGED);
    }
  {
    /* the memory, damaged: it no longer inflates to 16 MiB */
    g_autofree uint8_t *p = g_memdup2 (payload, len);
    g_autoptr (GBytes) bad_state = NULL;

    p[len - 6] ^= 0x55;
    bad_state = make_state (1, p, len);
    expect_refused (&b, bad_state, before, VMM_STATE_ERROR_DAMAGED);
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
  g_test_add_func ("/vga/screen-off", test_screen_off);
  g_test_add_func ("/vga/text", test_text);
  g_test_add_func ("/vga/planar", test_planar);
  g_test_add_func ("/vga/mode13", test_mode13);
  g_test_add_func ("/vga/dispi-id", test_dispi_id);
  g_test_add_func ("/vga/dispi-32", test_dispi_32);
  g_test_add_func ("/vga/dispi-16", test_dispi_16);
  g_test_add_func ("/vga/hostile", test_hostile);
  g_test_add_func ("/vga/loop", test_loop);
  g_test_add_func ("/vga/state-text", test_state_text);
  g_test_add_func ("/vga/state-vbe", test_state_vbe);
  g_test_add_func ("/vga/state-refused", test_state_refused);
  return g_test_run ();
}
