/* devices/acpi_pm.h: ACPI fixed hardware: PM1 event and control, the PM
 * timer and GPE0, with the power button and sleep (S5 = power off)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "snapshot/state.h"
#include "devices/irq_line.h"
#include "log.h"

/* The DSDT's \_S5_ says SLP_TYP 5 means soft-off. */
#define VMM_ACPI_SLP_TYP_S5 5

#define VMM_ACPI_PM_LEN 0x30   /* ports 0x600 .. 0x62f */

struct vmm_acpi_pm {
  pthread_mutex_t lock;
  struct vmm_irq_line sci;
  bool sci_level;
  uint16_t pm1_sts, pm1_en, pm1_cnt;
  uint8_t gpe_sts[8], gpe_en[8];
  uint64_t timer_epoch_ns;
  struct vmm_ratelimit rl;

  /* Called (with no lock held) when the guest asks to power off. */
  void (*power_off) (void *opaque);
  void *opaque;
};

extern const struct vmm_io_ops vmm_acpi_pm_ops;

void vmm_acpi_pm_init    (struct vmm_acpi_pm *pm, struct vmm_irq_line sci,
                          void (*power_off) (void *opaque), void *opaque);
void vmm_acpi_pm_destroy (struct vmm_acpi_pm *pm);

/* A press of the fixed-feature power button: PWRBTN_STS, and an SCI when
 * the guest enabled it. The guest's OSPM then shuts down cleanly. */
void vmm_acpi_pm_power_button (struct vmm_acpi_pm *pm);

/* Saved state (snapshot/README.md), one section NAME: PM1 status, enable
 * and control, GPE0's, and the PM timer as the time it has run. The timer
 * goes on from where it was (it follows the guest's clocks, which a
 * restore puts back as they were, not the host's), so the save takes the
 * host's monotonic time at save and the load at load. The SCI is derived:
 * load with APPLY drives it only where its level changes. */
void     vmm_acpi_pm_save (const struct vmm_acpi_pm *pm, struct vmm_state_writer *w,
                           const char *name);
gboolean vmm_acpi_pm_load (struct vmm_acpi_pm *pm, const struct vmm_state_file *f,
                           const char *name, bool apply, GError **error);
