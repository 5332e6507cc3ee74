/* devices/irq_line.h: an interrupt line a platform device drives
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>

struct vmm_irq_line {
  void (*set) (void *opaque, unsigned gsi, bool level);
  void *opaque;
  unsigned gsi;
};

static inline void
vmm_irq_line_set (const struct vmm_irq_line *line, bool level)
{
  if (line->set != NULL)
    line->set (line->opaque, line->gsi, level);
}
