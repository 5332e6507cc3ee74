/* display/edid.c: the EDID a display device shows its guest
 *
 * Layout (VESA E-EDID 1.4): header, vendor and product, basic parameters
 * (digital input, 8 bits per colour, sRGB), chromaticity, no established
 * or standard timings, then four 18-byte descriptors: the preferred
 * detailed timing, the monitor name, the range limits and a dummy one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "display/edid.h"

#include <string.h>

#include <glib.h>

#define DTD_OFF         54
#define DESC_LEN        18

/* CVT reduced blanking (v1): fixed horizontal blanking and sync, at least
 * 460 µs of vertical blanking */
#define RB_H_BLANK      160
#define RB_H_FRONT      48
#define RB_H_SYNC       32
#define RB_V_FRONT      3
#define RB_V_SYNC       6
#define RB_V_BACK_MIN   6
#define RB_MIN_VBI_US   460
#define REFRESH_HZ      60
#define MAX_CLOCK_10KHZ 65535u

/* The size in millimetres of N pixels at 96 dpi */
static uint32_t
pixels_to_mm (uint32_t n)
{
  return (uint32_t) ((uint64_t) n * 254 / 960);
}

/* A chromaticity coordinate (in 1/10000) as EDID's 10-bit fraction */
static uint32_t
chroma10 (uint32_t v)
{
  return (v * 1024 + 5000) / 10000;
}

static void
put_chromaticity (uint8_t *p)
{
  /* sRGB primaries and D65 white point */
  const uint32_t xy[8] = { 6400, 3300, 3000, 6000, 1500, 600, 3127, 3290 };
  uint32_t v[8];

  for (unsigned i = 0; i < 8; i++)
    v[i] = chroma10 (xy[i]);
  /* low two bits first: red x/y, green x/y, then blue x/y, white x/y */
  p[0] = (uint8_t) (((v[0] & 3) << 6) | ((v[1] & 3) << 4) | ((v[2] & 3) << 2) | (v[3] & 3));
  p[1] = (uint8_t) (((v[4] & 3) << 6) | ((v[5] & 3) << 4) | ((v[6] & 3) << 2) | (v[7] & 3));
  for (unsigned i = 0; i < 8; i++)
    p[2 + i] = (uint8_t) (v[i] >> 2);
}

struct timing {
  uint32_t h_active, h_blank, h_front, h_sync;
  uint32_t v_active, v_blank, v_front, v_sync;
  uint32_t clock_10khz;
  uint32_t refresh;
};

static void
cvt_rb (struct timing *t, uint32_t width, uint32_t height)
{
  uint32_t h_total, v_total;
  uint64_t clock;

  t->h_active = width;
  t->h_blank = RB_H_BLANK;
  t->h_front = RB_H_FRONT;
  t->h_sync = RB_H_SYNC;
  t->v_active = height;
  t->v_front = RB_V_FRONT;
  t->v_sync = RB_V_SYNC;
  h_total = width + RB_H_BLANK;

  /* lines of 460 µs at the line period that leaves 460 µs of each frame
   * for blanking: 460 / ((10^6 / 60 - 460) / height), rounded up, plus one */
  t->v_blank = (uint32_t) (((uint64_t) RB_MIN_VBI_US * height * REFRESH_HZ +
                            (1000000 - RB_MIN_VBI_US * REFRESH_HZ) - 1) /
                           (1000000 - RB_MIN_VBI_US * REFRESH_HZ)) + 1;
  if (t->v_blank < RB_V_FRONT + RB_V_SYNC + RB_V_BACK_MIN)
    t->v_blank = RB_V_FRONT + RB_V_SYNC + RB_V_BACK_MIN;
  v_total = height + t->v_blank;

  /* rounded down: never faster than 60 Hz */
  clock = (uint64_t) h_total * v_total * REFRESH_HZ / 10000;
  t->refresh = REFRESH_HZ;
  if (clock > MAX_CLOCK_10KHZ)
    {
      /* Too fast for the descriptor: a lower refresh rate, same mode */
      t->refresh = (uint32_t) ((uint64_t) MAX_CLOCK_10KHZ * 10000 / ((uint64_t) h_total * v_total));
      if (t->refresh == 0)
        t->refresh = 1;
      clock = (uint64_t) h_total * v_total * t->refresh / 10000;
    }
  t->clock_10khz = (uint32_t) clock;
}

static void
put_dtd (uint8_t *p, const struct timing *t)
{
  uint32_t w_mm = pixels_to_mm (t->h_active), h_mm = pixels_to_mm (t->v_active);

  p[0] = (uint8_t) (t->clock_10khz & 0xff);
  p[1] = (uint8_t) (t->clock_10khz >> 8);
  p[2] = (uint8_t) (t->h_active & 0xff);
  p[3] = (uint8_t) (t->h_blank & 0xff);
  p[4] = (uint8_t) (((t->h_active >> 8) << 4) | (t->h_blank >> 8));
  p[5] = (uint8_t) (t->v_active & 0xff);
  p[6] = (uint8_t) (t->v_blank & 0xff);
  p[7] = (uint8_t) (((t->v_active >> 8) << 4) | (t->v_blank >> 8));
  p[8] = (uint8_t) (t->h_front & 0xff);
  p[9] = (uint8_t) (t->h_sync & 0xff);
  p[10] = (uint8_t) (((t->v_front & 0xf) << 4) | (t->v_sync & 0xf));
  p[11] = (uint8_t) (((t->h_front >> 8) << 6) | ((t->h_sync >> 8) << 4) |
                     ((t->v_front >> 4) << 2) | (t->v_sync >> 4));
  p[12] = (uint8_t) (w_mm & 0xff);
  p[13] = (uint8_t) (h_mm & 0xff);
  p[14] = (uint8_t) (((w_mm >> 8) << 4) | ((h_mm >> 8) & 0xf));
  p[15] = 0;
  p[16] = 0;
  /* digital separate sync; CVT-RB's polarities: hsync +, vsync - */
  p[17] = 0x18 | 0x02;
}

static void
put_name (uint8_t *p, const char *name)
{
  size_t n = strlen (name);

  memset (p, 0, 5);
  p[3] = 0xfc;
  memset (p + 5, ' ', 13);
  memcpy (p + 5, name, n);
  p[5 + n] = '\n';
}

static void
put_range_limits (uint8_t *p, const struct timing *t)
{
  uint32_t h_total = t->h_active + t->h_blank;
  uint32_t h_khz = (uint32_t) ((uint64_t) t->clock_10khz * 10 / h_total);
  uint32_t max_clock_10mhz = (t->clock_10khz + 999) / 1000;

  memset (p, 0, DESC_LEN);
  p[3] = 0xfd;
  p[5] = (uint8_t) (t->refresh < 50 ? t->refresh : 50);       /* min vertical, Hz */
  p[6] = 75;                                                  /* max vertical */
  p[7] = (uint8_t) (h_khz < 30 ? (h_khz > 0 ? h_khz : 1) : 30); /* min horizontal, kHz */
  p[8] = (uint8_t) (h_khz + 1 > 255 ? 255 : h_khz + 1 > 160 ? h_khz + 1 : 160);
  p[9] = (uint8_t) (max_clock_10mhz > 255 ? 255 : max_clock_10mhz); /* max clock, 10 MHz */
  p[10] = 0x01;                                               /* range limits only */
  p[11] = 0x0a;
  memset (p + 12, ' ', 6);
}

void
vmm_edid_build (uint8_t out[VMM_EDID_SIZE], uint32_t width, uint32_t height)
{
  static const uint8_t header[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
  /* "VIV": three 5-bit letters, 'A' = 1, big-endian */
  const uint16_t vendor = (uint16_t) ((('V' - '@') << 10) | (('I' - '@') << 5) | ('V' - '@'));
  struct timing t;
  uint32_t w_cm, h_cm;
  uint8_t sum = 0;

  width = CLAMP (width, VMM_EDID_MIN_ACTIVE, VMM_EDID_MAX_ACTIVE);
  height = CLAMP (height, VMM_EDID_MIN_ACTIVE, VMM_EDID_MAX_ACTIVE);
  cvt_rb (&t, width, height);

  memset (out, 0, VMM_EDID_SIZE);
  memcpy (out, header, sizeof header);
  out[8] = (uint8_t) (vendor >> 8);
  out[9] = (uint8_t) (vendor & 0xff);
  out[10] = 0x01;                 /* product code, little-endian */
  out[11] = 0x00;
  out[16] = 0;                    /* week: unknown */
  out[17] = 2026 - 1990;          /* year of manufacture */
  out[18] = 1;                    /* EDID 1.4 */
  out[19] = 4;
  out[20] = 0x80 | 0x20;          /* digital, 8 bits per primary, interface not given */
  w_cm = (pixels_to_mm (width) + 5) / 10;
  h_cm = (pixels_to_mm (height) + 5) / 10;
  out[21] = (uint8_t) (w_cm < 1 ? 1 : w_cm > 255 ? 255 : w_cm);
  out[22] = (uint8_t) (h_cm < 1 ? 1 : h_cm > 255 ? 255 : h_cm);
  out[23] = 120;                  /* gamma 2.2 */
  out[24] = 0x04 | 0x02;          /* sRGB; the preferred timing is the native mode */
  put_chromaticity (out + 25);
  for (unsigned i = 0; i < 8; i++)
    {
      out[38 + 2 * i] = 0x01;     /* standard timings unused */
      out[39 + 2 * i] = 0x01;
    }
  put_dtd (out + DTD_OFF, &t);
  put_name (out + DTD_OFF + DESC_LEN, "Vivarium");
  put_range_limits (out + DTD_OFF + 2 * DESC_LEN, &t);
  out[DTD_OFF + 3 * DESC_LEN + 3] = 0x10;   /* dummy descriptor */
  out[126] = 0;                   /* no extension blocks */
  for (unsigned i = 0; i < VMM_EDID_SIZE - 1; i++)
    sum = (uint8_t) (sum + out[i]);
  out[127] = (uint8_t) (0x100 - sum);
}
