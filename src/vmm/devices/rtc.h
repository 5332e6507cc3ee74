/* devices/rtc.h: the CMOS real-time clock and NVRAM (MC146818)
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

struct vmm_rtc {
  pthread_mutex_t lock;
  uint8_t index;
  uint8_t cmos[128];
  int64_t offset_s;  /* guest time minus host UTC time, set by guest writes */
};

extern const struct vmm_io_ops vmm_rtc_ops; /* ports 0x70 and 0x71 */

/* RAM_SIZE and N_CPUS go into the NVRAM where PC firmware looks for them. */
void vmm_rtc_init    (struct vmm_rtc *rtc, uint64_t ram_size, unsigned n_cpus);
void vmm_rtc_destroy (struct vmm_rtc *rtc);

/* Saved state (snapshot/README.md), one section NAME: the index, the 128
 * bytes of CMOS RAM, and the clock as the guest's offset from the host's
 * UTC time. The offset, not the time: the clock runs from the host's, so
 * a machine restored later finds it as far from the real time as it was
 * (as a PC's battery-backed clock that kept running), not stopped at the
 * instant of the snapshot. */
void     vmm_rtc_save (const struct vmm_rtc *rtc, struct vmm_state_writer *w, const char *name);
gboolean vmm_rtc_load (struct vmm_rtc *rtc, const struct vmm_state_file *f, const char *name,
                       bool apply, GError **error);
