/* devices/rtc.c: the CMOS real-time clock and NVRAM
 *
 * The clock reads the host's UTC time plus an offset the guest can change
 * by writing the time registers. No periodic or alarm interrupts: Linux
 * keeps time with kvm-clock and the LAPIC timer, and only reads the RTC.
 * The NVRAM carries the memory sizes and CPU count where PC firmware
 * (SeaBIOS) reads them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/rtc.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <glib/gi18n.h>

#include "arch/x86/layout.h"

#define RTC_SECONDS      0x00
#define RTC_MINUTES      0x02
#define RTC_HOURS        0x04
#define RTC_DAY_OF_WEEK  0x06
#define RTC_DAY          0x07
#define RTC_MONTH        0x08
#define RTC_YEAR         0x09
#define RTC_REG_A        0x0a
#define RTC_REG_B        0x0b
#define RTC_REG_C        0x0c
#define RTC_REG_D        0x0d
#define RTC_CENTURY      0x32

#define REG_A_UIP        0x80
#define REG_B_SET        0x80  /* updates halted while the time is set */
#define REG_B_24H        0x02
#define REG_B_BINARY     0x04
#define REG_D_VRT        0x80

/* NVRAM, as PC firmware reads it */
#define CMOS_BASE_MEM_LO 0x15  /* KiB below 640 KiB */
#define CMOS_EXT_MEM_LO  0x17  /* KiB from 1 MiB to 64 MiB */
#define CMOS_EXT_MEM2_LO 0x30  /* the same, again */
#define CMOS_MEM_16M_LO  0x34  /* 64 KiB units from 16 MiB to the PCI hole */
#define CMOS_SMP_COUNT   0x5f  /* CPUs - 1 */
#define CMOS_MEM_4G_LO   0x5b  /* 64 KiB units above 4 GiB, 3 bytes */

static uint8_t
to_bcd (unsigned v)
{
  return (uint8_t) (((v / 10) << 4) | (v % 10));
}

static unsigned
from_bcd (uint8_t v)
{
  return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t
encode (const struct vmm_rtc *rtc, unsigned v)
{
  return (rtc->cmos[RTC_REG_B] & REG_B_BINARY) ? (uint8_t) v : to_bcd (v);
}

static unsigned
decode (const struct vmm_rtc *rtc, uint8_t v)
{
  return (rtc->cmos[RTC_REG_B] & REG_B_BINARY) ? v : from_bcd (v);
}

static void
guest_time (const struct vmm_rtc *rtc, struct tm *tm, long *nsec)
{
  struct timespec ts;
  time_t t;

  clock_gettime (CLOCK_REALTIME, &ts);
  t = ts.tv_sec + rtc->offset_s;
  gmtime_r (&t, tm);
  *nsec = ts.tv_nsec;
}

static uint8_t
read_hours (const struct vmm_rtc *rtc, int hour)
{
  if (rtc->cmos[RTC_REG_B] & REG_B_24H)
    return encode (rtc, (unsigned) hour);
  /* 12-hour mode: 1..12, bit 7 for PM */
  return (uint8_t) (encode (rtc, (unsigned) (hour % 12 == 0 ? 12 : hour % 12)) |
                    (hour >= 12 ? 0x80 : 0));
}

static bool
is_time_reg (uint8_t index)
{
  return index <= RTC_YEAR || index == RTC_CENTURY;
}

static uint8_t read_reg (struct vmm_rtc *rtc, uint8_t index);

/* SET turned on: freeze the current time into the registers, where the
 * guest then writes the new date field by field. */
static void
freeze_time (struct vmm_rtc *rtc)
{
  static const uint8_t regs[] = { RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK,
                                  RTC_DAY, RTC_MONTH, RTC_YEAR, RTC_CENTURY };

  for (unsigned i = 0; i < sizeof regs; i++)
    rtc->cmos[regs[i]] = read_reg (rtc, regs[i]);
}

/* SET turned off: the date the registers now hold becomes the clock, all
 * fields at once (field by field, 31 January + "February" would roll over). */
static void
apply_time (struct vmm_rtc *rtc)
{
  struct timespec now;
  struct tm tm = { 0 };
  uint8_t hours = rtc->cmos[RTC_HOURS];
  time_t t;

  tm.tm_sec = (int) decode (rtc, rtc->cmos[RTC_SECONDS]);
  tm.tm_min = (int) decode (rtc, rtc->cmos[RTC_MINUTES]);
  if (rtc->cmos[RTC_REG_B] & REG_B_24H)
    tm.tm_hour = (int) decode (rtc, hours);
  else
    tm.tm_hour = (int) (decode (rtc, hours & 0x7f) % 12) + ((hours & 0x80) ? 12 : 0);
  tm.tm_mday = (int) decode (rtc, rtc->cmos[RTC_DAY]);
  tm.tm_mon = (int) decode (rtc, rtc->cmos[RTC_MONTH]) - 1;
  tm.tm_year = (int) decode (rtc, rtc->cmos[RTC_CENTURY]) * 100 +
               (int) decode (rtc, rtc->cmos[RTC_YEAR]) - 1900;
  t = timegm (&tm);
  if (t == (time_t) -1)
    return;
  clock_gettime (CLOCK_REALTIME, &now);
  rtc->offset_s = (int64_t) t - (int64_t) now.tv_sec;
}

static uint8_t
read_reg (struct vmm_rtc *rtc, uint8_t index)
{
  struct tm tm;
  long nsec;

  /* While SET is on, the time registers hold what the guest wrote. */
  if ((rtc->cmos[RTC_REG_B] & REG_B_SET) && is_time_reg (index))
    return rtc->cmos[index];

  guest_time (rtc, &tm, &nsec);
  switch (index)
    {
    case RTC_SECONDS:     return encode (rtc, (unsigned) tm.tm_sec);
    case RTC_MINUTES:     return encode (rtc, (unsigned) tm.tm_min);
    case RTC_HOURS:       return read_hours (rtc, tm.tm_hour);
    case RTC_DAY_OF_WEEK: return encode (rtc, (unsigned) tm.tm_wday + 1);
    case RTC_DAY:         return encode (rtc, (unsigned) tm.tm_mday);
    case RTC_MONTH:       return encode (rtc, (unsigned) tm.tm_mon + 1);
    case RTC_YEAR:        return encode (rtc, (unsigned) (tm.tm_year + 1900) % 100);
    case RTC_CENTURY:     return encode (rtc, (unsigned) (tm.tm_year + 1900) / 100);
    case RTC_REG_A:
      /* The update cycle runs in the last 244 µs of each second; firmware
       * that waits for UIP to fall sees it happen. */
      return (uint8_t) ((rtc->cmos[RTC_REG_A] & ~REG_A_UIP) |
                        (nsec >= 1000000000L - 244000L ? REG_A_UIP : 0));
    case RTC_REG_C:
      {
        uint8_t v = rtc->cmos[RTC_REG_C];
        rtc->cmos[RTC_REG_C] = 0; /* read to clear */
        return v;
      }
    case RTC_REG_D:
      return REG_D_VRT;
    default:
      return rtc->cmos[index];
    }
}

static void
write_time (struct vmm_rtc *rtc, uint8_t index, uint8_t value)
{
  struct timespec now;
  struct tm tm;
  long nsec;
  time_t t;

  guest_time (rtc, &tm, &nsec);
  switch (index)
    {
    case RTC_SECONDS: tm.tm_sec = (int) decode (rtc, value); break;
    case RTC_MINUTES: tm.tm_min = (int) decode (rtc, value); break;
    case RTC_HOURS:
      if (rtc->cmos[RTC_REG_B] & REG_B_24H)
        tm.tm_hour = (int) decode (rtc, value);
      else
        tm.tm_hour = (int) (decode (rtc, value & 0x7f) % 12) + ((value & 0x80) ? 12 : 0);
      break;
    case RTC_DAY:     tm.tm_mday = (int) decode (rtc, value); break;
    case RTC_MONTH:   tm.tm_mon = (int) decode (rtc, value) - 1; break;
    case RTC_YEAR:    tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + (int) decode (rtc, value) - 1900; break;
    case RTC_CENTURY: tm.tm_year = (int) decode (rtc, value) * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
    default: return;
    }
  t = timegm (&tm);
  if (t == (time_t) -1)
    return;
  clock_gettime (CLOCK_REALTIME, &now);
  rtc->offset_s = (int64_t) t - (int64_t) now.tv_sec;
}

static void
rtc_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_rtc *rtc = opaque;

  if (len != 1)
    return;
  pthread_mutex_lock (&rtc->lock);
  *(uint8_t *) data = offset == 0 ? 0xff : read_reg (rtc, rtc->index);
  pthread_mutex_unlock (&rtc->lock);
}

static void
rtc_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_rtc *rtc = opaque;
  uint8_t value = *(const uint8_t *) data;

  if (len != 1)
    return;
  pthread_mutex_lock (&rtc->lock);
  if (offset == 0)
    rtc->index = value & 0x7f;   /* bit 7 masks NMIs on real boards */
  else
    switch (rtc->index)
      {
      case RTC_SECONDS: case RTC_MINUTES: case RTC_HOURS: case RTC_DAY:
      case RTC_MONTH: case RTC_YEAR: case RTC_CENTURY:
        if (rtc->cmos[RTC_REG_B] & REG_B_SET)
          rtc->cmos[rtc->index] = value;
        else
          write_time (rtc, rtc->index, value);
        break;
      case RTC_REG_B:
        if ((value & REG_B_SET) && !(rtc->cmos[RTC_REG_B] & REG_B_SET))
          freeze_time (rtc);
        else if (!(value & REG_B_SET) && (rtc->cmos[RTC_REG_B] & REG_B_SET))
          {
            /* decode with the format the fields were written in */
            rtc->cmos[RTC_REG_B] = (uint8_t) (value | REG_B_SET);
            apply_time (rtc);
          }
        rtc->cmos[RTC_REG_B] = value;
        break;
      case RTC_DAY_OF_WEEK:
        break; /* derived from the date */
      case RTC_REG_A:
        rtc->cmos[RTC_REG_A] = value & 0x7f;
        break;
      case RTC_REG_C: case RTC_REG_D:
        break; /* read-only */
      default:
        rtc->cmos[rtc->index] = value;
        break;
      }
  pthread_mutex_unlock (&rtc->lock);
}

const struct vmm_io_ops vmm_rtc_ops = {
  .read = rtc_read,
  .write = rtc_write,
};

static void
put16 (uint8_t *p, uint64_t v)
{
  if (v > 0xffff)
    v = 0xffff;
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
}

void
vmm_rtc_init (struct vmm_rtc *rtc, uint64_t ram_size, unsigned n_cpus)
{
  uint64_t low = ram_size < VMM_PCI_HOLE_START ? ram_size : VMM_PCI_HOLE_START;
  uint64_t high = ram_size - low;
  uint64_t above_16m = low > VMM_MiB (16) ? (low - VMM_MiB (16)) >> 16 : 0;
  uint64_t ext = low > VMM_MiB (1) ? (low - VMM_MiB (1)) >> 10 : 0;

  memset (rtc, 0, sizeof *rtc);
  pthread_mutex_init (&rtc->lock, NULL);
  rtc->cmos[RTC_REG_A] = 0x26;        /* 32.768 kHz time base, 1024 Hz rate */
  rtc->cmos[RTC_REG_B] = REG_B_24H;   /* BCD, 24-hour */

  put16 (&rtc->cmos[CMOS_BASE_MEM_LO], 640);
  put16 (&rtc->cmos[CMOS_EXT_MEM_LO], ext);
  put16 (&rtc->cmos[CMOS_EXT_MEM2_LO], ext);
  put16 (&rtc->cmos[CMOS_MEM_16M_LO], above_16m);
  high >>= 16;
  rtc->cmos[CMOS_MEM_4G_LO] = (uint8_t) high;
  rtc->cmos[CMOS_MEM_4G_LO + 1] = (uint8_t) (high >> 8);
  rtc->cmos[CMOS_MEM_4G_LO + 2] = (uint8_t) (high >> 16);
  rtc->cmos[CMOS_SMP_COUNT] = (uint8_t) (n_cpus > 0 ? n_cpus - 1 : 0);
}

void
vmm_rtc_destroy (struct vmm_rtc *rtc)
{
  pthread_mutex_destroy (&rtc->lock);
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1
/* Beyond what the registers can set (century 0xff in BCD decodes to 165),
 * with room: a larger offset would overflow the time arithmetic. */
#define MAX_OFFSET_S  (INT64_C (1) << 40)

void
vmm_rtc_save (const struct vmm_rtc *rtc, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &rtc->lock;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u8 (w, rtc->index);
  vmm_state_put_bytes (w, rtc->cmos, sizeof rtc->cmos);
  vmm_state_put_u64 (w, (uint64_t) rtc->offset_s);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

gboolean
vmm_rtc_load (struct vmm_rtc *rtc, const struct vmm_state_file *f, const char *name, bool apply,
              GError **error)
{
  struct vmm_state_reader r;
  uint8_t index, cmos[sizeof rtc->cmos];
  int64_t offset_s;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  index = vmm_state_get_u8 (&r);
  vmm_state_get_bytes (&r, cmos, sizeof cmos);
  offset_s = (int64_t) vmm_state_get_u64 (&r);
  if (index >= sizeof cmos)
    vmm_state_reader_fail (&r, N_("the CMOS index is out of range"));
  if (cmos[RTC_REG_A] & REG_A_UIP)
    vmm_state_reader_fail (&r, N_("the RTC’s register A has a read-only bit set"));
  if (offset_s > MAX_OFFSET_S || offset_s < -MAX_OFFSET_S)
    vmm_state_reader_fail (&r, N_("the RTC’s time is out of range"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  pthread_mutex_lock (&rtc->lock);
  rtc->index = index;
  memcpy (rtc->cmos, cmos, sizeof cmos);
  rtc->offset_s = offset_s;
  pthread_mutex_unlock (&rtc->lock);
  return TRUE;
}
