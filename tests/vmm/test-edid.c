/* test-edid.c: the EDID block virtio-gpu shows its guest, parsed back as
 * a guest's EDID parser reads it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "display/edid.h"

#define DTD_OFF  54
#define DESC_LEN 18

struct mode {
  uint32_t h_active, h_blank, v_active, v_blank;
  uint32_t h_front, h_sync, v_front, v_sync;
  uint64_t clock_hz;
};

static void
parse_dtd (const uint8_t *p, struct mode *m)
{
  m->clock_hz = (uint64_t) (p[0] | p[1] << 8) * 10000;
  m->h_active = p[2] | (uint32_t) (p[4] >> 4) << 8;
  m->h_blank = p[3] | (uint32_t) (p[4] & 0xf) << 8;
  m->v_active = p[5] | (uint32_t) (p[7] >> 4) << 8;
  m->v_blank = p[6] | (uint32_t) (p[7] & 0xf) << 8;
  m->h_front = p[8] | (uint32_t) (p[11] >> 6) << 8;
  m->h_sync = p[9] | (uint32_t) ((p[11] >> 4) & 3) << 8;
  m->v_front = (p[10] >> 4) | (uint32_t) ((p[11] >> 2) & 3) << 4;
  m->v_sync = (p[10] & 0xf) | (uint32_t) (p[11] & 3) << 4;
}

/* The descriptor with TAG among the last three, or NULL */
static const uint8_t *
find_descriptor (const uint8_t *edid, uint8_t tag)
{
  for (unsigned i = 1; i < 4; i++)
    {
      const uint8_t *d = edid + DTD_OFF + i * DESC_LEN;

      if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == tag)
        return d;
    }
  return NULL;
}

static void
check_block (const uint8_t *edid, uint32_t width, uint32_t height)
{
  static const uint8_t header[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
  uint16_t vendor = (uint16_t) (edid[8] << 8 | edid[9]);
  char name[4] = { 0 };
  const uint8_t *d;
  struct mode m;
  uint8_t sum = 0;
  uint64_t total, refresh_mhz;

  for (unsigned i = 0; i < VMM_EDID_SIZE; i++)
    sum = (uint8_t) (sum + edid[i]);
  g_assert_cmpuint (sum, ==, 0);
  g_assert_cmpmem (edid, 8, header, 8);
  name[0] = (char) ('@' + ((vendor >> 10) & 0x1f));
  name[1] = (char) ('@' + ((vendor >> 5) & 0x1f));
  name[2] = (char) ('@' + (vendor & 0x1f));
  g_assert_cmpstr (name, ==, "VIV");
  g_assert_cmpuint (edid[18], ==, 1);
  g_assert_cmpuint (edid[19], ==, 4);
  g_assert_cmpuint (edid[20] & 0x80, ==, 0x80);         /* digital */
  g_assert_cmpuint (edid[24] & 0x02, ==, 0x02);         /* preferred timing is native */
  g_assert_cmpuint (edid[126], ==, 0);

  /* the first descriptor is a timing (nonzero clock), the preferred mode */
  parse_dtd (edid + DTD_OFF, &m);
  g_assert_cmpuint (m.clock_hz, >, 0);
  g_assert_cmpuint (m.h_active, ==, width);
  g_assert_cmpuint (m.v_active, ==, height);
  g_assert_cmpuint (m.h_front + m.h_sync, <=, m.h_blank);
  g_assert_cmpuint (m.v_front + m.v_sync, <, m.v_blank);
  total = (uint64_t) (m.h_active + m.h_blank) * (m.v_active + m.v_blank);
  refresh_mhz = m.clock_hz * 1000 / total;
  /* 60 Hz where the clock fits, never more, and a usable rate */
  g_assert_cmpuint (refresh_mhz, <=, 60500);
  g_assert_cmpuint (refresh_mhz, >=, 10000);
  if (m.clock_hz >= 10000000 && m.clock_hz < 600000000)
    g_assert_cmpuint (refresh_mhz, >=, 59500);

  d = find_descriptor (edid, 0xfc);
  g_assert_nonnull (d);
  g_assert_cmpmem (d + 5, 9, "Vivarium\n", 9);

  /* the range limits hold the mode */
  d = find_descriptor (edid, 0xfd);
  g_assert_nonnull (d);
  g_assert_cmpuint (d[5] * 1000u, <=, refresh_mhz + 999);
  g_assert_cmpuint (d[6] * 1000u, >=, refresh_mhz);
  g_assert_cmpuint (d[7] * 1000u, <=, m.clock_hz / (m.h_active + m.h_blank));
  g_assert_cmpuint (d[8] * 1000u, >=, m.clock_hz / (m.h_active + m.h_blank));
  g_assert_cmpuint (d[9] * 10000000ull, >=, m.clock_hz);
}

static void
test_sizes (void)
{
  static const uint32_t sizes[][2] = {
    { 1024, 768 }, { 1280, 800 }, { 1920, 1080 }, { 2560, 1600 }, { 3840, 2160 },
    { 640, 480 }, { 333, 257 }, { 4095, 4095 }, { 64, 64 },
  };

  for (unsigned i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      uint8_t edid[VMM_EDID_SIZE];

      memset (edid, 0xa5, sizeof edid);
      vmm_edid_build (edid, sizes[i][0], sizes[i][1]);
      check_block (edid, sizes[i][0], sizes[i][1]);
    }
}

/* 1920 × 1080 is CVT-RB's well-known mode: 2080 × 1111 or so at 60 Hz,
 * about 138.5 MHz */
static void
test_full_hd (void)
{
  uint8_t edid[VMM_EDID_SIZE];
  struct mode m;

  vmm_edid_build (edid, 1920, 1080);
  parse_dtd (edid + DTD_OFF, &m);
  g_assert_cmpuint (m.h_active + m.h_blank, ==, 2080);
  g_assert_cmpuint (m.v_active + m.v_blank, >=, 1110);
  g_assert_cmpuint (m.v_active + m.v_blank, <=, 1113);
  g_assert_cmpuint (m.clock_hz, >=, 138000000);
  g_assert_cmpuint (m.clock_hz, <=, 139000000);
  /* image size: about 508 × 286 mm at 96 dpi */
  g_assert_cmpuint (edid[DTD_OFF + 12] | (edid[DTD_OFF + 14] >> 4) << 8, ==, 508);
}

/* Sizes past the descriptor's 12 bits are clamped, not wrapped */
static void
test_clamped (void)
{
  uint8_t edid[VMM_EDID_SIZE];

  vmm_edid_build (edid, 8192, 0);
  check_block (edid, VMM_EDID_MAX_ACTIVE, VMM_EDID_MIN_ACTIVE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edid/sizes", test_sizes);
  g_test_add_func ("/edid/full-hd", test_full_hd);
  g_test_add_func ("/edid/clamped", test_clamped);
  return g_test_run ();
}
