/* test-rtc.c: the CMOS RTC
 *
 * Through ports 0x70/0x71 on a bus: the time in BCD and binary, 12 and 24
 * hour modes, setting the clock, and the NVRAM.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/rtc.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define CMOS_SEC   0x00
#define CMOS_MIN   0x02
#define CMOS_HOUR  0x04
#define CMOS_WDAY  0x06
#define CMOS_MDAY  0x07
#define CMOS_MON   0x08
#define CMOS_YEAR  0x09
#define CMOS_A     0x0a
#define CMOS_B     0x0b
#define CMOS_C     0x0c
#define CMOS_D     0x0d
#define CMOS_CENT  0x32

struct rtc_fx {
  struct vmm_bus pio;
  struct vmm_rtc rtc;
};

static void
rtc_fx_init (struct rtc_fx *fx, uint64_t ram, unsigned cpus)
{
  vmm_bus_init (&fx->pio, "pio");
  vmm_rtc_init (&fx->rtc, ram, cpus);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_RTC, 2, &vmm_rtc_ops, &fx->rtc, "rtc"),
                   ==, 0);
}

static void
rtc_fx_destroy (struct rtc_fx *fx)
{
  vmm_rtc_destroy (&fx->rtc);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
cmos_read (struct rtc_fx *fx, uint8_t index)
{
  vmm_test_bus_out (&fx->pio, VMM_PORT_RTC, 1, index);
  return (uint8_t) vmm_test_bus_in (&fx->pio, VMM_PORT_RTC + 1, 1);
}

static void
cmos_write (struct rtc_fx *fx, uint8_t index, uint8_t value)
{
  vmm_test_bus_out (&fx->pio, VMM_PORT_RTC, 1, index);
  vmm_test_bus_out (&fx->pio, VMM_PORT_RTC + 1, 1, value);
}

static unsigned
cmos_decode (uint8_t reg_b, uint8_t v)
{
  if (reg_b & 0x04)
    return v;
  g_assert_cmpuint (v >> 4, <=, 9);
  g_assert_cmpuint (v & 0xf, <=, 9);
  return (v >> 4) * 10 + (v & 0xf);
}

/* Reads the clock as Linux's mc146818_get_time does: wait for UIP to fall,
 * read everything, retry if the seconds moved meanwhile. */
static time_t
rtc_read_time (struct rtc_fx *fx, struct tm *out)
{
  for (unsigned tries = 0; tries < 10; tries++)
    {
      uint8_t b, sec, min, hour, mday, mon, year, cent, wday;
      struct tm tm = { 0 };
      unsigned h;
      time_t t;

      for (unsigned n = 0; n < 10000 && (cmos_read (fx, CMOS_A) & 0x80); n++)
        g_usleep (10);
      b = cmos_read (fx, CMOS_B);
      sec = cmos_read (fx, CMOS_SEC);
      min = cmos_read (fx, CMOS_MIN);
      hour = cmos_read (fx, CMOS_HOUR);
      wday = cmos_read (fx, CMOS_WDAY);
      mday = cmos_read (fx, CMOS_MDAY);
      mon = cmos_read (fx, CMOS_MON);
      year = cmos_read (fx, CMOS_YEAR);
      cent = cmos_read (fx, CMOS_CENT);
      if (cmos_read (fx, CMOS_SEC) != sec || (cmos_read (fx, CMOS_A) & 0x80))
        continue;

      if (b & 0x02)
        h = cmos_decode (b, hour);
      else
        {
          h = cmos_decode (b, hour & 0x7f);
          g_assert_cmpuint (h, >=, 1);
          g_assert_cmpuint (h, <=, 12);
          h = h % 12 + ((hour & 0x80) ? 12 : 0);
        }
      tm.tm_sec = (int) cmos_decode (b, sec);
      tm.tm_min = (int) cmos_decode (b, min);
      tm.tm_hour = (int) h;
      tm.tm_mday = (int) cmos_decode (b, mday);
      tm.tm_mon = (int) cmos_decode (b, mon) - 1;
      tm.tm_year = (int) (cmos_decode (b, cent) * 100 + cmos_decode (b, year)) - 1900;
      g_assert_cmpint (tm.tm_sec, <, 60);
      g_assert_cmpint (tm.tm_min, <, 60);
      g_assert_cmpint (tm.tm_hour, <, 24);
      t = timegm (&tm);
      /* timegm normalised nothing, and filled the weekday RTC_WDAY must match */
      g_assert_cmpint (tm.tm_mday, ==, (int) cmos_decode (b, mday));
      g_assert_cmpuint (cmos_decode (b, wday), ==, (unsigned) tm.tm_wday + 1);
      if (out != NULL)
        *out = tm;
      return t;
    }
  g_assert_not_reached ();
  return 0;
}

static void
assert_rtc_near (struct rtc_fx *fx, int64_t offset)
{
  time_t before = time (NULL);
  time_t guest = rtc_read_time (fx, NULL);
  time_t after = time (NULL);

  g_assert_cmpint ((int64_t) guest, >=, (int64_t) before + offset - 2);
  g_assert_cmpint ((int64_t) guest, <=, (int64_t) after + offset + 2);
}

static void
test_rtc_ports (void)
{
  struct rtc_fx fx;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  /* Ordinary NVRAM bytes round-trip */
  for (unsigned i = 0x40; i < 0x5b; i++)
    cmos_write (&fx, (uint8_t) i, (uint8_t) (i ^ 0xa5));
  cmos_write (&fx, 0x7f, 0x3c);
  cmos_write (&fx, 0x0e, 0x00);   /* the diagnostic byte firmware clears */
  for (unsigned i = 0x40; i < 0x5b; i++)
    g_assert_cmphex (cmos_read (&fx, (uint8_t) i), ==, i ^ 0xa5);
  g_assert_cmphex (cmos_read (&fx, 0x7f), ==, 0x3c);
  g_assert_cmphex (cmos_read (&fx, 0x0e), ==, 0x00);
  /* Bit 7 of the index is the NMI mask, not part of the index */
  g_assert_cmphex (cmos_read (&fx, 0x80 | 0x41), ==, 0x41 ^ 0xa5);
  /* The index port does not read back; wide accesses are ignored */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, VMM_PORT_RTC, 1), ==, 0xff);
  vmm_test_bus_out (&fx.pio, VMM_PORT_RTC, 1, 0x42);
  vmm_test_bus_out (&fx.pio, VMM_PORT_RTC, 2, 0xff43);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, VMM_PORT_RTC + 1, 1), ==, 0x42 ^ 0xa5);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, VMM_PORT_RTC, 2), ==, 0xffff);
  /* The handler directly */
  vmm_test_dev_out (&vmm_rtc_ops, &fx.rtc, 0, 1, 0x50);
  g_assert_cmphex (vmm_test_dev_in (&vmm_rtc_ops, &fx.rtc, 1, 1), ==, 0x50 ^ 0xa5);

  /* Register A: the rate bits are kept, UIP is not writable */
  g_assert_cmphex (cmos_read (&fx, CMOS_A) & 0x7f, ==, 0x26);
  cmos_write (&fx, CMOS_A, 0xa6);
  g_assert_cmphex (cmos_read (&fx, CMOS_A) & 0x7f, ==, 0x26);
  /* Register B: 24-hour BCD by default */
  g_assert_cmphex (cmos_read (&fx, CMOS_B), ==, 0x02);

  /* Register C reads then clears, and is read-only */
  fx.rtc.cmos[CMOS_C] = 0xc0;
  cmos_write (&fx, CMOS_C, 0x00);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0xc0);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0x00);
  cmos_write (&fx, CMOS_C, 0xff);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0x00);
  /* Register D: valid RAM and time, read-only */
  g_assert_cmphex (cmos_read (&fx, CMOS_D), ==, 0x80);
  cmos_write (&fx, CMOS_D, 0x00);
  g_assert_cmphex (cmos_read (&fx, CMOS_D), ==, 0x80);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_time_bcd (void)
{
  struct rtc_fx fx;
  struct tm tm;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  assert_rtc_near (&fx, 0);
  rtc_read_time (&fx, &tm);
  g_assert_cmpint (tm.tm_year + 1900, >=, 2024);
  /* The weekday register is derived, writes do not stick */
  cmos_write (&fx, CMOS_WDAY, 0x09);
  g_assert_cmpuint (cmos_read (&fx, CMOS_WDAY), <=, 7);
  assert_rtc_near (&fx, 0);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_modes (void)
{
  struct rtc_fx fx;

  rtc_fx_init (&fx, VMM_MiB (64), 1);

  /* Binary, 24 h; BCD, 12 h; binary, 12 h: the same time each way */
  cmos_write (&fx, CMOS_B, 0x06);
  assert_rtc_near (&fx, 0);
  cmos_write (&fx, CMOS_B, 0x00);
  assert_rtc_near (&fx, 0);
  cmos_write (&fx, CMOS_B, 0x04);
  assert_rtc_near (&fx, 0);

  /* The hour itself, at set times: minutes to 10 so it cannot roll over */
  cmos_write (&fx, CMOS_B, 0x02);
  cmos_write (&fx, CMOS_MIN, 0x10);
  cmos_write (&fx, CMOS_HOUR, 0x15);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x15);
  cmos_write (&fx, CMOS_B, 0x00);                      /* 12 h BCD */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x83);   /* 3 PM */
  cmos_write (&fx, CMOS_B, 0x04);                      /* 12 h binary */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x83);
  cmos_write (&fx, CMOS_B, 0x06);                      /* 24 h binary */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 15);
  g_assert_cmphex (cmos_read (&fx, CMOS_MIN), >=, 10);

  /* Midnight and noon in 12-hour mode */
  cmos_write (&fx, CMOS_B, 0x00);
  cmos_write (&fx, CMOS_HOUR, 0x12);                   /* 12 AM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x12);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x00);
  cmos_write (&fx, CMOS_B, 0x00);
  cmos_write (&fx, CMOS_HOUR, 0x92);                   /* 12 PM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x92);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x12);
  cmos_write (&fx, CMOS_B, 0x04);                      /* 12 h binary */
  cmos_write (&fx, CMOS_HOUR, 0x81);                   /* 1 PM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x81);
  cmos_write (&fx, CMOS_B, 0x06);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 13);
  cmos_write (&fx, CMOS_HOUR, 23);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x23);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_set_hour (void)
{
  struct rtc_fx fx;
  int64_t expected = 0;
  bool set = false;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  for (unsigned tries = 0; tries < 5 && !set; tries++)
    {
      time_t t0 = time (NULL), t1;
      struct tm h0, h1;
      int newh;

      gmtime_r (&t0, &h0);
      newh = (h0.tm_hour + 5) % 24;
      cmos_write (&fx, CMOS_HOUR, (uint8_t) ((newh / 10) << 4 | newh % 10));
      t1 = time (NULL);
      gmtime_r (&t1, &h1);
      if (h1.tm_hour != h0.tm_hour)
        continue;   /* the host's hour turned meanwhile */
      expected = (int64_t) (newh - h0.tm_hour) * 3600;   /* +5 h, or -19 h past 19:00 */
      set = true;
    }
  g_assert_true (set);
  g_assert_cmpint (fx.rtc.offset_s, >=, expected - 1);
  g_assert_cmpint (fx.rtc.offset_s, <=, expected + 1);
  assert_rtc_near (&fx, expected);
  /* Later reads keep it */
  g_usleep (50000);
  assert_rtc_near (&fx, expected);
  assert_rtc_near (&fx, expected);

  /* Setting the year (2-digit, then century) moves by whole years */
  {
    struct tm now;
    rtc_read_time (&fx, &now);
    cmos_write (&fx, CMOS_YEAR, 0x99);
    g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x99);
    g_assert_cmphex (cmos_read (&fx, CMOS_CENT), ==, 0x20);
    cmos_write (&fx, CMOS_CENT, 0x19);
    g_assert_cmphex (cmos_read (&fx, CMOS_CENT), ==, 0x19);
    g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x99);
    g_assert_cmpint (fx.rtc.offset_s, <, 0);
  }
  rtc_fx_destroy (&fx);
}

/* The date set the way Linux's mc146818_set_time does it: SET in register B,
 * then year, month, day, hours, minutes, seconds, then SET cleared. */
static void
rtc_set_date (struct rtc_fx *fx, uint8_t year, uint8_t mon, uint8_t mday)
{
  uint8_t b = cmos_read (fx, CMOS_B);

  cmos_write (fx, CMOS_B, b | 0x80);
  cmos_write (fx, CMOS_YEAR, year);
  cmos_write (fx, CMOS_MON, mon);
  cmos_write (fx, CMOS_MDAY, mday);
  cmos_write (fx, CMOS_HOUR, 0x10);
  cmos_write (fx, CMOS_MIN, 0x00);
  cmos_write (fx, CMOS_SEC, 0x00);
  cmos_write (fx, CMOS_B, b);
}

static void
test_rtc_set_date (void)
{
  struct rtc_fx fx;
  uint8_t mon, mday;

  rtc_fx_init (&fx, VMM_MiB (64), 1);

  /* Jan 15 2023, then Jan 31: each field on its own is valid */
  rtc_set_date (&fx, 0x23, 0x01, 0x15);
  g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x23);
  g_assert_cmphex (cmos_read (&fx, CMOS_MON), ==, 0x01);
  g_assert_cmphex (cmos_read (&fx, CMOS_MDAY), ==, 0x15);
  rtc_set_date (&fx, 0x23, 0x01, 0x31);
  g_assert_cmphex (cmos_read (&fx, CMOS_MDAY), ==, 0x31);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x10);

  /* From Jan 31 to Feb 15: the month is written first, and Feb 31 does
   * not exist. */
  rtc_set_date (&fx, 0x23, 0x02, 0x15);
  mon = cmos_read (&fx, CMOS_MON);
  mday = cmos_read (&fx, CMOS_MDAY);
  g_assert_cmphex (mon, ==, 0x02);
  g_assert_cmphex (mday, ==, 0x15);
  rtc_fx_destroy (&fx);
}

/* Index, then data: through the handler, offsets 0 and 1 */
static unsigned
nvram_byte (struct vmm_rtc *rtc, uint8_t index)
{
  vmm_test_dev_out (&vmm_rtc_ops, rtc, 0, 1, index);
  return (unsigned) vmm_test_dev_in (&vmm_rtc_ops, rtc, 1, 1);
}

static void
check_nvram (uint64_t ram, unsigned cpus, unsigned ext_kib, unsigned above_16m,
             unsigned above_4g)
{
  struct vmm_rtc rtc;

  vmm_rtc_init (&rtc, ram, cpus);
#define NV(i) nvram_byte (&rtc, (i))
  g_assert_cmpuint (NV (0x15) | NV (0x16) << 8, ==, 640);
  g_assert_cmphex (NV (0x17) | NV (0x18) << 8, ==, ext_kib);
  g_assert_cmphex (NV (0x30) | NV (0x31) << 8, ==, ext_kib);
  g_assert_cmphex (NV (0x34) | NV (0x35) << 8, ==, above_16m);
  g_assert_cmphex (NV (0x5b) | NV (0x5c) << 8 | NV (0x5d) << 16, ==, above_4g);
  g_assert_cmpuint (NV (0x5f), ==, cpus - 1);
#undef NV
  vmm_rtc_destroy (&rtc);
}

static void
test_rtc_nvram (void)
{
  /* 63 MiB above 1 MiB; 48 MiB above 16 MiB */
  check_nvram (VMM_MiB (64), 1, 63 * 1024, 48 * 16, 0);
  /* the 2.75 GiB hole: capped extended memory, the rest above 4 GiB */
  check_nvram (VMM_GiB (3), 4, 0xffff, (2816 - 16) * 16, 256 * 16);
  /* 3.25 GiB above 4 GiB */
  check_nvram (VMM_GiB (6), 8, 0xffff, (2816 - 16) * 16, (6144 - 2816) * 16);
  check_nvram (VMM_GiB (2) + VMM_MiB (1), 2, 0xffff, (2049 - 16) * 16, 0);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_rtc (void *rtc, const struct vmm_state_file *f, const char *name, bool apply,
          GError **error)
{
  return vmm_rtc_load (rtc, f, name, apply, error);
}

static void
save_rtc (struct rtc_fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_rtc_save (&fx->rtc, w, "rtc");
  vmm_test_state_close (st, w);
}

/* A clock the guest set to 2023 in binary mode, an NVRAM byte and the
 * index left on it, saved and loaded into a fresh clock: the same date
 * (still running), the same byte read without writing the index. */
static void
test_rtc_state (void)
{
  struct rtc_fx a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  struct tm tm;
  int64_t offset;

  rtc_fx_init (&a, VMM_MiB (64), 2);
  rtc_set_date (&a, 0x23, 0x01, 0x15);
  cmos_write (&a, CMOS_B, 0x06);
  cmos_write (&a, 0x40, 0x77);
  offset = (int64_t) rtc_read_time (&a, NULL) - (int64_t) time (NULL);
  vmm_test_bus_out (&a.pio, VMM_PORT_RTC, 1, 0x40);
  save_rtc (&a, &sa);

  rtc_fx_init (&b, VMM_MiB (64), 2);
  save_rtc (&b, &sb0);
  g_assert_true (vmm_rtc_load (&b.rtc, sa.file, "rtc", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "rtc", load_rtc, &b.rtc, 0, 0x80);
  save_rtc (&b, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "rtc");
  vmm_test_state_clear (&sb);
  assert_rtc_near (&b, 0);

  g_assert_true (vmm_rtc_load (&b.rtc, sa.file, "rtc", true, &error));
  g_assert_no_error (error);
  save_rtc (&b, &sb);
  vmm_test_state_assert_same (&sa, &sb, "rtc");
  g_assert_cmphex (vmm_test_bus_in (&b.pio, VMM_PORT_RTC + 1, 1), ==, 0x77);
  g_assert_cmphex (cmos_read (&b, CMOS_B), ==, 0x06);
  assert_rtc_near (&b, offset);
  rtc_read_time (&b, &tm);
  g_assert_cmpint (tm.tm_year, ==, 123);
  g_assert_cmpint (tm.tm_mon, ==, 0);
  g_assert_cmphex (cmos_read (&b, 0x5f), ==, 1);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  rtc_fx_destroy (&a);
  rtc_fx_destroy (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rtc/ports", test_rtc_ports);
  g_test_add_func ("/rtc/time-bcd", test_rtc_time_bcd);
  g_test_add_func ("/rtc/modes", test_rtc_modes);
  g_test_add_func ("/rtc/set-hour", test_rtc_set_hour);
  g_test_add_func ("/rtc/set-date", test_rtc_set_date);
  g_test_add_func ("/rtc/nvram", test_rtc_nvram);
  g_test_add_func ("/rtc/state", test_rtc_state);

  return g_test_run ();
}
