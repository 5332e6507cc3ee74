/* devices/rtc.h: the CMOS real-time clock and NVRAM (MC146818)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdint.h>

#include "bus.h"

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
