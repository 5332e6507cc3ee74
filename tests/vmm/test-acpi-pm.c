/* test-acpi-pm.c: the ACPI PM1 and GPE0 registers and the PM timer
 *
 * On a bus at their ports: status and enable bits, the power button and
 * the SCI (a fake line), sleep to S5 (a fake power-off), the timer.
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
#include "devices/acpi_pm.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define PM1_STS  (VMM_PORT_ACPI_PM1A_EVT)
#define PM1_EN   (VMM_PORT_ACPI_PM1A_EVT + 2)
#define PM1_CNT  (VMM_PORT_ACPI_PM1A_CNT)
#define PM_TMR   (VMM_PORT_ACPI_PM_TMR)
#define GPE0_STS (VMM_PORT_ACPI_GPE0)
#define GPE0_EN  (VMM_PORT_ACPI_GPE0 + 8)

#define PWRBTN   0x0100
#define SLP_EN   0x2000
#define SLP_TYP(t) ((t) << 10)
#define PM_TIMER_HZ 3579545.0

struct acpi_fx {
  struct vmm_bus pio;
  struct vmm_acpi_pm pm;
  struct vmm_test_irq sci;
  unsigned power_offs;
  bool locked_in_callback;
};

static void
fake_power_off (void *opaque)
{
  struct acpi_fx *fx = opaque;

  fx->power_offs++;
  if (!vmm_test_mutex_is_free (&fx->pm.lock))
    fx->locked_in_callback = true;
}

static void
acpi_fx_init (struct acpi_fx *fx)
{
  memset (fx, 0, sizeof *fx);
  vmm_bus_init (&fx->pio, "pio");
  vmm_acpi_pm_init (&fx->pm, vmm_test_irq_line (&fx->sci, VMM_ACPI_SCI_IRQ), fake_power_off, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_ACPI_PM_BASE, VMM_ACPI_PM_LEN,
                                     &vmm_acpi_pm_ops, &fx->pm, "acpi-pm"), ==, 0);
}

static void
acpi_fx_destroy (struct acpi_fx *fx)
{
  g_assert_cmpuint (fx->sci.redundant, ==, 0);
  g_assert_false (fx->locked_in_callback);
  vmm_acpi_pm_destroy (&fx->pm);
  vmm_bus_destroy (&fx->pio);
}

static void
test_acpi_pm1_status (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_EN, 2), ==, 0);

  /* Enable: only the defined bits stick (TMR, GBL, PWRBTN, SLPBTN, RTC) */
  vmm_test_bus_out (&fx.pio, PM1_EN, 2, 0xffff);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_EN, 2), ==, 0x0721);
  vmm_test_bus_out (&fx.pio, PM1_EN + 1, 1, 0x00);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_EN, 2), ==, 0x0021);
  vmm_test_bus_out (&fx.pio, PM1_EN, 2, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 0);

  /* Status: write-one-to-clear, writing 0 changes nothing */
  fx.pm.pm1_sts = 0x8521;   /* WAK, RTC, PWRBTN, GBL, TMR as hardware would set them */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0x8521);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS + 1, 1), ==, 0x85);
  vmm_test_bus_out (&fx.pio, PM1_STS, 2, 0x0000);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0x8521);
  vmm_test_bus_out (&fx.pio, PM1_STS, 2, 0x0001);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0x8520);
  vmm_test_bus_out (&fx.pio, PM1_STS + 1, 1, 0x80);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0x0520);
  /* A dword write covers status and enable */
  vmm_test_bus_out (&fx.pio, PM1_STS, 4, 0x01000020);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 4), ==, 0x01000500);
  g_assert_cmpuint (fx.sci.calls, ==, 1);   /* PWRBTN_STS and PWRBTN_EN */
  g_assert_true (fx.sci.level);
  vmm_test_bus_out (&fx.pio, PM1_STS, 2, 0xffff);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_power_button (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);

  /* Not enabled: status only */
  vmm_acpi_pm_power_button (&fx.pm);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, PWRBTN);
  g_assert_cmpuint (fx.sci.calls, ==, 0);
  /* The guest enables it later: SCI then */
  vmm_test_bus_out (&fx.pio, PM1_EN, 2, PWRBTN);
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  g_assert_true (fx.sci.level);
  g_assert_cmpuint (fx.sci.gsi, ==, VMM_ACPI_SCI_IRQ);
  vmm_acpi_pm_power_button (&fx.pm);                 /* already up */
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  /* OSPM acknowledges it */
  vmm_test_bus_out (&fx.pio, PM1_STS, 2, PWRBTN);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  /* Enabled: a press raises at once */
  vmm_acpi_pm_power_button (&fx.pm);
  g_assert_cmpuint (fx.sci.calls, ==, 3);
  g_assert_true (fx.sci.level);
  /* Other status bits do not clear it */
  vmm_test_bus_out (&fx.pio, PM1_STS, 2, 0xfeff);
  g_assert_true (fx.sci.level);
  /* Disabling drops it; status stays */
  vmm_test_bus_out (&fx.pio, PM1_EN, 2, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 4);
  g_assert_false (fx.sci.level);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_STS, 2), ==, PWRBTN);
  g_assert_cmpuint (fx.power_offs, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_pm1_cnt (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);   /* SCI_EN: no SMM */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, 0x0000);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (3));
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_CNT, 2), ==, SLP_TYP (3) | 0x0001);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, 0x0000);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);
  g_assert_cmpuint (fx.power_offs, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_s5 (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);

  /* Linux's acpi_hw_legacy_sleep: SLP_TYP first, then SLP_TYP | SLP_EN */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5));
  g_assert_cmpuint (fx.power_offs, ==, 0);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 1);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, PM1_CNT, 2) & SLP_EN, ==, 0);   /* write-only */

  /* Two byte writes, low then high */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, 0);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 1, 0x00);
  g_assert_cmpuint (fx.power_offs, ==, 1);
  vmm_test_bus_out (&fx.pio, PM1_CNT + 1, 1, (SLP_TYP (5) | SLP_EN) >> 8);
  g_assert_cmpuint (fx.power_offs, ==, 2);

  /* A dword write of the block, and the handler called directly */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 4, SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 3);
  vmm_test_dev_out (&vmm_acpi_pm_ops, &fx.pm, PM1_CNT - VMM_PORT_ACPI_PM_BASE, 2,
                    SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 4);

  /* Other sleep types, or no SLP_EN: nothing */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (0) | SLP_EN);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (3) | SLP_EN);
  vmm_test_bus_out (&fx.pio, PM1_CNT + 1, 1, (SLP_TYP (3) | SLP_EN) >> 8);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (1) | SLP_EN);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (7) | SLP_EN);
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5));
  vmm_test_bus_out (&fx.pio, PM1_CNT, 1, 0xff);                 /* low byte: SLP_EN is not there */
  vmm_test_bus_out (&fx.pio, PM1_CNT, 2, SLP_EN);               /* SLP_TYP 0 in the same write */
  g_assert_cmpuint (fx.power_offs, ==, 4);
  g_assert_cmpuint (fx.sci.calls, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_gpe (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS, 8), ==, 0);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_EN, 8), ==, 0);

  /* The enable bytes are plain read/write */
  vmm_test_bus_out (&fx.pio, GPE0_EN, 8, 0x8000000000000001ull);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_EN, 8), ==, 0x8000000000000001ull);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_EN + 7, 1), ==, 0x80);
  vmm_test_bus_out (&fx.pio, GPE0_EN, 8, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 0);

  /* A GPE as a device would latch it (there is no API for it yet) */
  fx.pm.gpe_sts[1] = 0x04;
  fx.pm.gpe_sts[6] = 0x10;
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS + 1, 1), ==, 0x04);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000400ull);

  /* Enabling GPE 10 raises the SCI */
  vmm_test_bus_out (&fx.pio, GPE0_EN + 1, 1, 0x04);
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  g_assert_true (fx.sci.level);
  /* W1C: zeros and other bits leave it */
  vmm_test_bus_out (&fx.pio, GPE0_STS, 4, 0);
  vmm_test_bus_out (&fx.pio, GPE0_STS + 1, 1, 0xfb);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000400ull);
  g_assert_true (fx.sci.level);
  vmm_test_bus_out (&fx.pio, GPE0_STS + 1, 1, 0x04);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000000ull);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  /* GPE 52, enabled after it latched, then cleared with an 8-byte write */
  vmm_test_bus_out (&fx.pio, GPE0_EN + 6, 1, 0x10);
  g_assert_cmpuint (fx.sci.calls, ==, 3);
  vmm_test_bus_out (&fx.pio, GPE0_STS, 8, UINT64_MAX);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, GPE0_STS, 8), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 4);
  g_assert_false (fx.sci.level);

  /* Past the block: not dispatched */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, VMM_PORT_ACPI_PM_BASE + VMM_ACPI_PM_LEN - 2, 4), ==,
                   0xffffffff);
  acpi_fx_destroy (&fx);
}

/* The clock acpi_pm.c counts from */
static uint64_t
mono_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint32_t
pm_timer (struct acpi_fx *fx)
{
  return (uint32_t) vmm_test_bus_in (&fx->pio, PM_TMR, 4);
}

/* Reads the timer twice around a sleep, each read bracketed by the host's
 * monotonic clock: the time between the reads lies between the inner and
 * the outer bracket, however long the thread was preempted. */
static void
check_timer_rate (struct acpi_fx *fx, bool expect_wrap)
{
  uint32_t t0, t1, ticks;
  gint64 u0a, u0b, u1a, u1b;
  double lo, hi;

  u0a = g_get_monotonic_time ();
  t0 = pm_timer (fx);
  u0b = g_get_monotonic_time ();
  g_usleep (20000);
  u1a = g_get_monotonic_time ();
  t1 = pm_timer (fx);
  u1b = g_get_monotonic_time ();

  ticks = t1 - t0;   /* modulo 2^32 */
  lo = (double) (u1a - u0b) * PM_TIMER_HZ / 1e6;
  hi = (double) (u1b - u0a) * PM_TIMER_HZ / 1e6;
  g_test_message ("PM timer: %u ticks, %.0f to %.0f expected", ticks, lo, hi);
  g_assert_cmpfloat (ticks, >=, 0.02 * PM_TIMER_HZ * 0.99);   /* the 20 ms slept */
  g_assert_cmpfloat (ticks, >=, lo * 0.99 - 10);
  g_assert_cmpfloat (ticks, <=, hi * 1.01 + 10);
  if (expect_wrap)
    g_assert_cmphex (t1, <, t0);
}

static void
test_acpi_pm_timer (void)
{
  struct acpi_fx fx;
  uint32_t prev, now;
  uint64_t to_wrap;

  acpi_fx_init (&fx);
  check_timer_rate (&fx, false);

  /* Close to the 32-bit wrap: 5 ms before it */
  to_wrap = (uint64_t) ((4294967296.0 - PM_TIMER_HZ / 200) / PM_TIMER_HZ * 1e9);
  fx.pm.timer_epoch_ns = mono_ns () - to_wrap;   /* modulo 2^64 is fine */
  check_timer_rate (&fx, true);

  /* Monotonic (modulo 2^32) and read-only */
  prev = pm_timer (&fx);
  vmm_test_bus_out (&fx.pio, PM_TMR, 4, 0);
  for (unsigned i = 0; i < 1000; i++)
    {
      now = pm_timer (&fx);
      g_assert_cmpuint (now - prev, <, 0x80000000u);
      prev = now;
    }
  acpi_fx_destroy (&fx);
}

/* True when some value between A and B (modulo 2^32) has X at byte/word K. */
static bool
timer_part_in_range (uint32_t a, uint32_t b, unsigned shift, uint32_t mask, uint32_t x)
{
  for (uint32_t t = a;; t++)
    {
      if (((t >> shift) & mask) == x)
        return true;
      if (t == b)
        return false;
    }
}

static void
test_acpi_pm_timer_bytes (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  /* Somewhere with all four bytes non-zero, so the high ones matter */
  fx.pm.timer_epoch_ns = mono_ns () - (uint64_t) (0x12345678 / PM_TIMER_HZ * 1e9);

  for (unsigned round = 0; round < 20; round++)
    for (unsigned k = 0; k < 4; k++)
      {
        uint32_t a = pm_timer (&fx);
        uint32_t x = (uint32_t) vmm_test_bus_in (&fx.pio, PM_TMR + k, 1);
        uint32_t b = pm_timer (&fx);

        g_assert_cmpuint (b - a, <, 10000000);
        g_assert_true (timer_part_in_range (a, b, 8 * k, 0xff, x));
        if (k % 2 == 0)
          {
            a = pm_timer (&fx);
            x = (uint32_t) vmm_test_bus_in (&fx.pio, PM_TMR + k, 2);
            b = pm_timer (&fx);
            g_assert_true (timer_part_in_range (a, b, 8 * k, 0xffff, x));
          }
      }
  /* The handler directly, at its offset */
  {
    uint32_t a = pm_timer (&fx);
    uint32_t x = (uint32_t) vmm_test_dev_in (&vmm_acpi_pm_ops, &fx.pm, 0x0b, 1);
    uint32_t b = pm_timer (&fx);

    g_assert_true (timer_part_in_range (a, b, 24, 0xff, x));
    g_assert_cmphex (x, ==, 0x12);
  }
  acpi_fx_destroy (&fx);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_pm (void *pm, const struct vmm_state_file *f, const char *name, bool apply,
         GError **error)
{
  return vmm_acpi_pm_load (pm, f, name, apply, error);
}

static void
save_pm (struct acpi_fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_acpi_pm_save (&fx->pm, w, "acpi-pm");
  vmm_test_state_close (st, w);
}

/* The timer's last 8 bytes run on: the rest is compared byte for byte,
 * the timer within SLACK_NS */
static void
assert_pm_same (const struct vmm_test_state *a, const struct vmm_test_state *b,
                uint64_t slack_ns)
{
  const struct vmm_state_section *sa = vmm_test_state_section (a, "acpi-pm");
  const struct vmm_state_section *sb = vmm_test_state_section (b, "acpi-pm");
  uint64_t ta, tb;

  g_assert_cmpuint (sa->len, ==, sb->len);
  g_assert_cmpmem (sa->data, sa->len - 8, sb->data, sb->len - 8);
  memcpy (&ta, sa->data + sa->len - 8, 8);
  memcpy (&tb, sb->data + sb->len - 8, 8);
  ta = GUINT64_FROM_LE (ta);
  tb = GUINT64_FROM_LE (tb);
  g_assert_cmpuint (tb, >=, ta);
  g_assert_cmpuint (tb - ta, <=, slack_ns);
}

/* The power button pressed with its SCI enabled, a GPE raised by hand,
 * SLP_TYP written, the timer a minute in; saved and loaded into fresh PM
 * registers: the SCI goes up, the registers read the same, and the timer
 * goes on from a minute, not from its own start. */
static void
test_acpi_pm_state (void)
{
  struct acpi_fx a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  uint32_t tmr;

  acpi_fx_init (&a);
  a.pm.timer_epoch_ns = mono_ns () - 60 * G_GUINT64_CONSTANT (1000000000);
  vmm_test_bus_out (&a.pio, PM1_EN, 2, PWRBTN);
  vmm_test_bus_out (&a.pio, PM1_CNT, 2, SLP_TYP (3));
  vmm_test_bus_out (&a.pio, GPE0_EN + 1, 1, 0x40);
  a.pm.gpe_sts[1] = 0x41;
  vmm_acpi_pm_power_button (&a.pm);
  g_assert_true (a.sci.level);
  save_pm (&a, &sa);

  acpi_fx_init (&b);
  save_pm (&b, &sb0);
  g_assert_true (vmm_acpi_pm_load (&b.pm, sa.file, "acpi-pm", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "acpi-pm", load_pm, &b.pm, 1, 0x10);
  g_assert_cmpuint (b.sci.calls, ==, 0);
  save_pm (&b, &sb);
  assert_pm_same (&sb0, &sb, G_GUINT64_CONSTANT (1000000000));
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_acpi_pm_load (&b.pm, sa.file, "acpi-pm", true, &error));
  g_assert_no_error (error);
  save_pm (&b, &sb);
  assert_pm_same (&sa, &sb, G_GUINT64_CONSTANT (1000000000));
  g_assert_true (b.sci.level);
  g_assert_cmpuint (b.sci.calls, ==, 1);
  g_assert_cmphex (vmm_test_bus_in (&b.pio, PM1_STS, 2), ==, PWRBTN);
  g_assert_cmphex (vmm_test_bus_in (&b.pio, PM1_EN, 2), ==, PWRBTN);
  g_assert_cmphex (vmm_test_bus_in (&b.pio, PM1_CNT, 2), ==, SLP_TYP (3) | 1);
  g_assert_cmphex (vmm_test_bus_in (&b.pio, GPE0_STS, 4), ==, 0x4100);
  g_assert_cmphex (vmm_test_bus_in (&b.pio, GPE0_EN, 4), ==, 0x4000);
  tmr = (uint32_t) vmm_test_bus_in (&b.pio, PM_TMR, 4);
  g_assert_cmpuint (tmr, >=, (uint32_t) (60 * PM_TIMER_HZ));
  g_assert_cmpuint (tmr, <, (uint32_t) (62 * PM_TIMER_HZ));
  /* The guest acknowledges the button: the SCI falls, the GPE holds it */
  vmm_test_bus_out (&b.pio, PM1_STS, 2, PWRBTN);
  g_assert_true (b.sci.level);
  vmm_test_bus_out (&b.pio, GPE0_STS + 1, 1, 0x40);
  g_assert_false (b.sci.level);

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  acpi_fx_destroy (&a);
  acpi_fx_destroy (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/acpi-pm/pm1-status", test_acpi_pm1_status);
  g_test_add_func ("/acpi-pm/power-button", test_acpi_power_button);
  g_test_add_func ("/acpi-pm/pm1-cnt", test_acpi_pm1_cnt);
  g_test_add_func ("/acpi-pm/s5", test_acpi_s5);
  g_test_add_func ("/acpi-pm/gpe", test_acpi_gpe);
  g_test_add_func ("/acpi-pm/timer", test_acpi_pm_timer);
  g_test_add_func ("/acpi-pm/timer-bytes", test_acpi_pm_timer_bytes);
  g_test_add_func ("/acpi-pm/state", test_acpi_pm_state);

  return g_test_run ();
}
