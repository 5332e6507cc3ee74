/* display/vga-render.c: drawing the VGA core's screen
 *
 * A frame is drawn whole from a copy of the registers into NEXT, then
 * compared with what the listener was last shown, row by row: runs of
 * changed rows go out as one update each, as wide as their changed
 * columns. A new size (or a new listener) goes out as set_surface.
 *
 * Modes: text (planes 0 and 1, the font in plane 2, 8 or 9 dots, line
 * graphics, blink and cursor), 16-colour planar (modes 0Dh-12h), 256-colour
 * (mode 13h and its tweaks), and the DISPI linear modes of 8 (palette),
 * 15, 16, 24 and 32 bits per pixel. CGA's 2- and 4-colour shift modes
 * (BIOS modes 4-6) are not drawn: they show black.
 *
 * Every video memory address is masked to the planes (text and VGA
 * graphics) or checked against the memory's size (DISPI), so no register
 * value reads outside it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "display/vga-core.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_NS           16666667ull
#define CURSOR_PHASE_NS    266666667ull    /* 16 frames at 60 Hz, as a VGA */
#define BLINK_PHASE_NS     533333333ull    /* 32 frames */
#define LFB_BUSY_NS        1000000000ull   /* polled at frame rate this long after a change */
#define LFB_IDLE_POLL_NS   50000000ull

enum vga_mode { MODE_NONE, MODE_TEXT, MODE_PLANAR, MODE_256, MODE_CGA, MODE_VBE };

struct frame_info {
  enum vga_mode mode;
  uint32_t w, h;
};

static bool
dispi_on (const struct vmm_vga_regs *r)
{
  return (r->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED) != 0;
}

static uint32_t
vde_lines (const struct vmm_vga_regs *r)
{
  return ((uint32_t) r->cr[0x12] | ((uint32_t) (r->cr[7] & 0x02) << 7) |
          ((uint32_t) (r->cr[7] & 0x40) << 3)) + 1;
}

static struct frame_info
frame_info (const struct vmm_vga_regs *r)
{
  struct frame_info f = { MODE_NONE, 0, 0 };
  uint32_t lines = vde_lines (r), rep;

  if (dispi_on (r))
    {
      f.mode = MODE_VBE;
      f.w = r->dispi[VBE_DISPI_INDEX_XRES];
      f.h = r->dispi[VBE_DISPI_INDEX_YRES];
      return f;
    }
  /* power-on registers describe no screen */
  if (r->cr[1] == 0 || lines <= 1)
    return f;
  if (!(r->gr[6] & 0x01))
    {
      uint32_t cw = (r->sr[1] & 0x01) ? 8 : 9, ch = (r->cr[9] & 0x1f) + 1;

      if (r->cr[9] & 0x80)
        lines /= 2;
      f.mode = MODE_TEXT;
      f.w = (r->cr[1] + 1u) * cw * ((r->sr[1] & 0x08) ? 2 : 1);
      f.h = lines / ch * ch;
    }
  else
    {
      unsigned shift = (r->gr[5] >> 5) & 3;

      rep = ((r->cr[9] & 0x1fu) + 1) * ((r->cr[9] & 0x80) ? 2 : 1);
      f.h = lines / rep;
      if (shift == 0)
        f.mode = MODE_PLANAR, f.w = (r->cr[1] + 1u) * 8;
      else if (shift == 1)
        f.mode = MODE_CGA, f.w = (r->cr[1] + 1u) * 8;
      else
        f.mode = MODE_256, f.w = (r->cr[1] + 1u) * 4;
    }
  if (f.w == 0 || f.h == 0)
    f.mode = MODE_NONE;
  return f;
}

static void
build_palette (const struct vmm_vga_regs *r, uint32_t pal[256])
{
  bool dac8 = dispi_on (r) && (r->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC);

  for (unsigned i = 0; i < 256; i++)
    {
      const uint8_t *c = &r->palette[(i & r->pel_mask) * 3];
      uint32_t rgb[3];

      for (unsigned k = 0; k < 3; k++)
        rgb[k] = dac8 ? c[k] : (uint32_t) ((c[k] & 0x3f) << 2 | (c[k] & 0x3f) >> 4);
      pal[i] = rgb[0] << 16 | rgb[1] << 8 | rgb[2];
    }
}

/* A 4-bit colour through the attribute controller's palette to the DAC */
static uint32_t
ar_color (const struct vmm_vga_regs *r, const uint32_t pal[256], unsigned c)
{
  unsigned v = r->ar[c & 0x0f];

  if (r->ar[0x10] & 0x80)
    v = (v & 0x0f) | ((r->ar[0x14] & 0x03u) << 4);
  v |= (r->ar[0x14] & 0x0cu) << 4;
  return pal[v & 0xff];
}

static inline uint8_t
plane_byte (const struct vmm_vga_core *core, uint32_t offset, unsigned plane)
{
  return core->vram[(offset & 0xffff) * 4 + plane];
}

static void
draw_text (struct vmm_vga_core *core, const struct vmm_vga_regs *r, const uint32_t pal[256],
           uint32_t *out, uint32_t w, uint32_t h, uint64_t now_ns)
{
  uint32_t cw = (r->sr[1] & 0x01) ? 8 : 9, dbl = (r->sr[1] & 0x08) ? 2 : 1;
  uint32_t ch = (r->cr[9] & 0x1f) + 1u;
  uint32_t cols = r->cr[1] + 1u, rows = h / ch;
  uint32_t start = (uint32_t) r->cr[0xc] << 8 | r->cr[0xd];
  uint32_t pitch = r->cr[0x13] * 2u;
  uint32_t cursor = (uint32_t) r->cr[0xe] << 8 | r->cr[0xf];
  unsigned map_a = ((r->sr[3] >> 5) & 1u) << 2 | ((r->sr[3] >> 2) & 3u);
  unsigned map_b = ((r->sr[3] >> 4) & 1u) << 2 | (r->sr[3] & 3u);
  bool cursor_on = !(r->cr[0xa] & 0x20) && (now_ns / CURSOR_PHASE_NS) % 2 == 0;
  bool blink_on = (now_ns / BLINK_PHASE_NS) % 2 == 0;
  unsigned cs = r->cr[0xa] & 0x1fu, ce = r->cr[0xb] & 0x1fu;

  (void) w;
  for (uint32_t row = 0; row < rows; row++)
    for (uint32_t col = 0; col < cols; col++)
      {
        uint32_t addr = (start + row * pitch + col) & 0xffff;
        uint8_t chr = plane_byte (core, addr, 0), attr = plane_byte (core, addr, 1);
        unsigned map = (attr & 0x08) ? map_a : map_b;
        uint32_t font = ((map & 3u) << 14 | (map & 4u) << 11) + chr * 32u;
        unsigned fgi = attr & 0x0f, bgi = attr >> 4;
        uint32_t fg, bg;

        if (r->ar[0x10] & 0x08)
          {
            if ((bgi & 0x08) && !blink_on)
              fgi = bgi & 0x07;
            bgi &= 0x07;
          }
        fg = ar_color (r, pal, fgi);
        bg = ar_color (r, pal, bgi);
        for (uint32_t l = 0; l < ch; l++)
          {
            uint8_t bits = plane_byte (core, font + l, 2);
            uint32_t *p = out + (size_t) (row * ch + l) * w + (size_t) col * cw * dbl;
            /* the ninth dot repeats the eighth for line graphics, and in the cursor */
            bool dup9 = (r->ar[0x10] & 0x04) && chr >= 0xc0 && chr <= 0xdf;

            if (cursor_on && addr == cursor && l >= cs && l <= ce)
              bits = 0xff, dup9 = true;
            for (uint32_t x = 0; x < cw; x++)
              {
                bool on;

                if (x < 8)
                  on = bits & (0x80 >> x);
                else
                  on = dup9 && (bits & 1);
                for (uint32_t d = 0; d < dbl; d++)
                  *p++ = on ? fg : bg;
              }
          }
      }
}

static void
draw_vga_graphics (struct vmm_vga_core *core, const struct vmm_vga_regs *r,
                   const uint32_t pal[256], enum vga_mode mode, uint32_t *out, uint32_t w,
                   uint32_t h)
{
  uint32_t start = (uint32_t) r->cr[0xc] << 8 | r->cr[0xd];
  uint32_t pitch = r->cr[0x13] * 2u;

  for (uint32_t y = 0; y < h; y++)
    {
      uint32_t base = start + y * pitch;
      uint32_t *p = out + (size_t) y * w;

      if (mode == MODE_PLANAR)
        for (uint32_t x = 0; x < w; x++)
          {
            uint32_t off = (base + x / 8) & 0xffff;
            unsigned c = 0, bit = 7 - (x & 7);

            for (unsigned pl = 0; pl < 4; pl++)
              c |= ((core->vram[off * 4 + pl] >> bit) & 1u) << pl;
            *p++ = ar_color (r, pal, c & r->ar[0x12]);
          }
      else if (mode == MODE_256)
        for (uint32_t x = 0; x < w; x++)
          *p++ = pal[core->vram[(base * 4 + x) & 0x3ffff]];
      else
        memset (p, 0, (size_t) w * 4);
    }
}

static void
draw_vbe (struct vmm_vga_core *core, const struct vmm_vga_regs *r, const uint32_t pal[256],
          uint32_t *out, uint32_t w, uint32_t h)
{
  unsigned bpp = r->dispi[VBE_DISPI_INDEX_BPP], bytes = (bpp + 7) / 8;

  for (uint32_t y = 0; y < h; y++)
    {
      uint64_t base = r->vbe_start + (uint64_t) y * r->vbe_line_offset;
      const uint8_t *s = core->vram + base;
      uint32_t *p = out + (size_t) y * w;

      if (base + (uint64_t) w * bytes > core->vram_size)
        {
          memset (p, 0, (size_t) w * 4);
          continue;
        }
      /* The guest writes these bytes as we read them: each pixel is read
       * once, so a torn frame is all it can cause. */
      for (uint32_t x = 0; x < w; x++, s += bytes)
        {
          uint32_t v, rr, g, b;

          switch (bpp)
            {
            case 8:
              *p++ = pal[s[0]];
              continue;
            case 15:
              v = (uint32_t) s[0] | (uint32_t) s[1] << 8;
              rr = (v >> 10) & 31, g = (v >> 5) & 31, b = v & 31;
              *p++ = (rr << 3 | rr >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
              continue;
            case 16:
              v = (uint32_t) s[0] | (uint32_t) s[1] << 8;
              rr = v >> 11, g = (v >> 5) & 63, b = v & 31;
              *p++ = (rr << 3 | rr >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
              continue;
            default:     /* 24 and 32: B, G, R (, X) */
              *p++ = (uint32_t) s[2] << 16 | (uint32_t) s[1] << 8 | s[0];
              continue;
            }
        }
    }
}

static bool
ensure (uint32_t **buf, size_t *cap, size_t n)
{
  uint32_t *p;

  if (*cap >= n)
    return true;
  p = realloc (*buf, n * 4);
  if (p == NULL)
    return false;
  *buf = p;
  *cap = n;
  return true;
}

/* Sends the changed runs of rows; returns whether anything changed */
static bool
send_damage (struct vmm_vga_core *core, const struct vmm_display_surface *surface)
{
  uint32_t w = core->frame_w, h = core->frame_h;
  uint32_t run_start = 0, x0 = UINT32_MAX, x1 = 0;
  bool in_run = false, changed = false;

  for (uint32_t y = 0; y <= h; y++)
    {
      bool row_changed = false;

      if (y < h)
        {
          uint32_t *old = core->frame + (size_t) y * w, *new = core->line + (size_t) y * w;

          if (memcmp (old, new, (size_t) w * 4) != 0)
            {
              uint32_t a = 0, b = w - 1;

              while (old[a] == new[a])
                a++;
              while (old[b] == new[b])
                b--;
              memcpy (old + a, new + a, (size_t) (b - a + 1) * 4);
              x0 = MIN (x0, a);
              x1 = MAX (x1, b);
              row_changed = true;
            }
        }
      if (row_changed && !in_run)
        {
          in_run = true;
          run_start = y;
        }
      else if (!row_changed && in_run)
        {
          if (core->has_listener)
            core->listener.update (core->listener.data, surface, x0, run_start, x1 - x0 + 1,
                                   y - run_start);
          in_run = false;
          changed = true;
          x0 = UINT32_MAX;
          x1 = 0;
        }
    }
  return changed;
}

uint64_t
vmm_vga_core_render (struct vmm_vga_core *core, uint64_t now_ns)
{
  struct vmm_vga_regs r;
  struct frame_info f;
  struct vmm_display_surface surface;
  uint32_t pal[256];
  bool changed = false, blank;
  uint64_t next = 0;

  pthread_mutex_lock (&core->lock);
  r = core->r;
  pthread_mutex_unlock (&core->lock);

  pthread_mutex_lock (&core->render_lock);
  f = frame_info (&r);
  if (f.mode != MODE_NONE && !ensure (&core->line, &core->line_cap, (size_t) f.w * f.h))
    f.mode = MODE_NONE;
  if (f.mode == MODE_NONE)
    {
      if (!core->shown_null || core->new_listener)
        {
          if (core->has_listener)
            core->listener.set_surface (core->listener.data, NULL);
          core->shown_null = true;
          core->new_listener = false;
          core->frame_w = core->frame_h = 0;
        }
      pthread_mutex_unlock (&core->render_lock);
      return 0;
    }

  blank = f.mode != MODE_VBE && (!(r.ar_index & 0x20) || (r.sr[1] & 0x20));
  build_palette (&r, pal);
  if (blank)
    memset (core->line, 0, (size_t) f.w * f.h * 4);
  else if (f.mode == MODE_TEXT)
    draw_text (core, &r, pal, core->line, f.w, f.h, now_ns);
  else if (f.mode == MODE_VBE)
    draw_vbe (core, &r, pal, core->line, f.w, f.h);
  else
    draw_vga_graphics (core, &r, pal, f.mode, core->line, f.w, f.h);

  surface = (struct vmm_display_surface) {
    .width = f.w, .height = f.h, .stride = f.w * 4, .format = VMM_PIXEL_XRGB8888,
  };
  if (core->shown_null || core->new_listener || f.w != core->frame_w || f.h != core->frame_h)
    {
      if (!ensure (&core->frame, &core->frame_cap, (size_t) f.w * f.h))
        {
          pthread_mutex_unlock (&core->render_lock);
          return FRAME_NS;
        }
      memcpy (core->frame, core->line, (size_t) f.w * f.h * 4);
      core->frame_w = f.w;
      core->frame_h = f.h;
      core->shown_null = false;
      core->new_listener = false;
      surface.pixels = (const uint8_t *) core->frame;
      if (core->has_listener)
        core->listener.set_surface (core->listener.data, &surface);
      changed = true;
    }
  else
    {
      surface.pixels = (const uint8_t *) core->frame;
      changed = send_damage (core, &surface);
    }

  if (changed)
    core->last_change_ns = now_ns;
  if (changed)
    next = FRAME_NS;
  else if (f.mode == MODE_VBE)
    /* the guest writes the LFB without us knowing: look at it */
    next = now_ns - core->last_change_ns < LFB_BUSY_NS ? FRAME_NS : LFB_IDLE_POLL_NS;
  else if (f.mode == MODE_TEXT && !blank && (!(r.cr[0xa] & 0x20) || (r.ar[0x10] & 0x08)))
    next = CURSOR_PHASE_NS - now_ns % CURSOR_PHASE_NS + 1000000;
  pthread_mutex_unlock (&core->render_lock);
  return next;
}
