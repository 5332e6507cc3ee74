/* devices/acpi_pm.c: ACPI fixed hardware
 *
 * Register block (offsets from VMM_PORT_ACPI_PM_BASE, see layout.h):
 *   0x00 PM1a_STS (16)  0x02 PM1a_EN (16)  0x04 PM1a_CNT (16)
 *   0x08 PM_TMR (32, read-only, 3.579545 MHz, 32 bits: FADT TMR_VAL_EXT)
 *   0x20 GPE0_STS (8 bytes)  0x28 GPE0_EN (8 bytes)
 * Status bits are write-one-to-clear. There is no SMM: SCI_EN reads as 1.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/acpi_pm.h"

#include <string.h>

#include <glib/gi18n.h>

#include "loop.h"

#define PM1_STS    0x00
#define PM1_EN     0x02
#define PM1_CNT    0x04
#define PM_TMR     0x08
#define GPE0_STS   0x20
#define GPE0_EN    0x28

#define PM1_TMR_STS    (1u << 0)
#define PM1_GBL_STS    (1u << 5)
#define PM1_PWRBTN_STS (1u << 8)
#define PM1_SLPBTN_STS (1u << 9)
#define PM1_RTC_STS    (1u << 10)
#define PM1_WAK_STS    (1u << 15)
#define PM1_EN_MASK    (PM1_TMR_STS | PM1_GBL_STS | PM1_PWRBTN_STS | PM1_SLPBTN_STS | PM1_RTC_STS)

#define CNT_SCI_EN     (1u << 0)
#define CNT_SLP_TYP(v) (((v) >> 10) & 7)
#define CNT_SLP_EN     (1u << 13)
#define CNT_RW_MASK    (0x0006 | (7u << 10)) /* BM_RLD, GBL_RLS, SLP_TYP */

#define PM_TIMER_HZ 3579545ull

static uint32_t
timer_value (const struct vmm_acpi_pm *pm)
{
  unsigned __int128 ticks =
    (unsigned __int128) (vmm_monotonic_ns () - pm->timer_epoch_ns) * PM_TIMER_HZ;

  return (uint32_t) (ticks / 1000000000u);
}

/* With the lock held. */
static void
update_sci (struct vmm_acpi_pm *pm)
{
  bool level = (pm->pm1_sts & pm->pm1_en & PM1_EN_MASK) != 0;

  for (unsigned i = 0; i < sizeof pm->gpe_sts; i++)
    level |= (pm->gpe_sts[i] & pm->gpe_en[i]) != 0;
  if (level != pm->sci_level)
    {
      pm->sci_level = level;
      vmm_irq_line_set (&pm->sci, level);
    }
}

/* The registers as one little-endian byte image, so byte, word and dword
 * accesses at any offset inside a register all work. */
static void
snapshot (const struct vmm_acpi_pm *pm, uint8_t regs[VMM_ACPI_PM_LEN])
{
  uint32_t tmr = timer_value (pm);
  uint16_t cnt = pm->pm1_cnt | CNT_SCI_EN;

  memset (regs, 0, VMM_ACPI_PM_LEN);
  memcpy (regs + PM1_STS, &pm->pm1_sts, 2);
  memcpy (regs + PM1_EN, &pm->pm1_en, 2);
  memcpy (regs + PM1_CNT, &cnt, 2);
  memcpy (regs + PM_TMR, &tmr, 4);
  memcpy (regs + GPE0_STS, pm->gpe_sts, 8);
  memcpy (regs + GPE0_EN, pm->gpe_en, 8);
}

static void
pm_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_acpi_pm *pm = opaque;
  uint8_t regs[VMM_ACPI_PM_LEN];

  if (offset + len > VMM_ACPI_PM_LEN)
    return;
  pthread_mutex_lock (&pm->lock);
  snapshot (pm, regs);
  pthread_mutex_unlock (&pm->lock);
  memcpy (data, regs + offset, len);
}

static void
pm_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_acpi_pm *pm = opaque;
  bool power_off = false;
  unsigned slp_typ = 0;

  if (offset + len > VMM_ACPI_PM_LEN)
    return;

  pthread_mutex_lock (&pm->lock);
  for (uint32_t i = 0; i < len; i++)
    {
      uint64_t off = offset + i;
      uint8_t v = ((const uint8_t *) data)[i];
      unsigned shift = (off & 1) * 8;

      if (off < PM1_STS + 2)
        pm->pm1_sts &= ~((uint16_t) v << shift);
      else if (off >= PM1_EN && off < PM1_EN + 2)
        pm->pm1_en = (pm->pm1_en & ~(0xffu << shift)) | (((uint16_t) v << shift) & PM1_EN_MASK);
      else if (off >= PM1_CNT && off < PM1_CNT + 2)
        {
          uint16_t full = (uint16_t) v << shift;
          pm->pm1_cnt = (pm->pm1_cnt & ~(0xffu << shift)) | (full & CNT_RW_MASK);
          /* SLP_EN lives in the high byte; it acts on the SLP_TYP written
           * with it (or before it, for byte writes). */
          if (full & CNT_SLP_EN)
            {
              slp_typ = CNT_SLP_TYP (pm->pm1_cnt);
              if (slp_typ == VMM_ACPI_SLP_TYP_S5)
                power_off = true;
              else if (slp_typ != 0)
                vmm_log_guest (&pm->rl, "ACPI sleep state with SLP_TYP %u is not supported",
                               slp_typ);
            }
        }
      else if (off >= GPE0_STS && off < GPE0_STS + 8)
        pm->gpe_sts[off - GPE0_STS] &= ~v;
      else if (off >= GPE0_EN && off < GPE0_EN + 8)
        pm->gpe_en[off - GPE0_EN] = v;
      /* the timer is read-only */
    }
  update_sci (pm);
  pthread_mutex_unlock (&pm->lock);

  if (power_off && pm->power_off != NULL)
    pm->power_off (pm->opaque);
}

const struct vmm_io_ops vmm_acpi_pm_ops = {
  .read = pm_read,
  .write = pm_write,
};

void
vmm_acpi_pm_init (struct vmm_acpi_pm *pm, struct vmm_irq_line sci,
                  void (*power_off) (void *opaque), void *opaque)
{
  memset (pm, 0, sizeof *pm);
  pthread_mutex_init (&pm->lock, NULL);
  pm->sci = sci;
  pm->power_off = power_off;
  pm->opaque = opaque;
  pm->timer_epoch_ns = vmm_monotonic_ns ();
}

void
vmm_acpi_pm_destroy (struct vmm_acpi_pm *pm)
{
  pthread_mutex_destroy (&pm->lock);
}

void
vmm_acpi_pm_power_button (struct vmm_acpi_pm *pm)
{
  pthread_mutex_lock (&pm->lock);
  pm->pm1_sts |= PM1_PWRBTN_STS;
  update_sci (pm);
  pthread_mutex_unlock (&pm->lock);
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1
/* What PM1_STS can hold: the enable bits' events and WAK_STS */
#define PM1_STS_MASK  (PM1_EN_MASK | PM1_WAK_STS)

void
vmm_acpi_pm_save (const struct vmm_acpi_pm *pm, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &pm->lock;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u16 (w, pm->pm1_sts);
  vmm_state_put_u16 (w, pm->pm1_en);
  vmm_state_put_u16 (w, pm->pm1_cnt);
  vmm_state_put_bytes (w, pm->gpe_sts, sizeof pm->gpe_sts);
  vmm_state_put_bytes (w, pm->gpe_en, sizeof pm->gpe_en);
  /* Modulo 2^64, as timer_value takes it */
  vmm_state_put_u64 (w, vmm_monotonic_ns () - pm->timer_epoch_ns);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

gboolean
vmm_acpi_pm_load (struct vmm_acpi_pm *pm, const struct vmm_state_file *f, const char *name,
                  bool apply, GError **error)
{
  struct vmm_state_reader r;
  uint16_t pm1_sts, pm1_en, pm1_cnt;
  uint8_t gpe_sts[sizeof pm->gpe_sts], gpe_en[sizeof pm->gpe_en];
  uint64_t timer_ns;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  pm1_sts = vmm_state_get_u16 (&r);
  pm1_en = vmm_state_get_u16 (&r);
  pm1_cnt = vmm_state_get_u16 (&r);
  vmm_state_get_bytes (&r, gpe_sts, sizeof gpe_sts);
  vmm_state_get_bytes (&r, gpe_en, sizeof gpe_en);
  timer_ns = vmm_state_get_u64 (&r);
  if ((pm1_sts & ~PM1_STS_MASK) || (pm1_en & ~PM1_EN_MASK) || (pm1_cnt & ~CNT_RW_MASK))
    vmm_state_reader_fail (&r, N_("a PM1 register has reserved bits set"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  pthread_mutex_lock (&pm->lock);
  pm->pm1_sts = pm1_sts;
  pm->pm1_en = pm1_en;
  pm->pm1_cnt = pm1_cnt;
  memcpy (pm->gpe_sts, gpe_sts, sizeof gpe_sts);
  memcpy (pm->gpe_en, gpe_en, sizeof gpe_en);
  pm->timer_epoch_ns = vmm_monotonic_ns () - timer_ns;
  update_sci (pm);
  pthread_mutex_unlock (&pm->lock);
  return TRUE;
}
