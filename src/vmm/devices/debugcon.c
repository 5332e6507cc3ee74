/* devices/debugcon.c: the firmware's debug console
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/debugcon.h"

#include <string.h>

/* What the port reads: QEMU's isa-debugcon answers 0xe9, and firmware
 * writes its log only where it reads that. */
#define READBACK 0xe9

/* con->lock held */
static void
flush_line (struct vmm_debugcon *con)
{
  con->line[con->len] = '\0';
  if (con->line_fn != NULL)
    con->line_fn (con->opaque, con->line);
  con->len = 0;
}

static void
debugcon_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  (void) opaque;
  if (offset == 0 && len == 1)
    *(uint8_t *) data = READBACK;
}

static void
debugcon_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_debugcon *con = opaque;
  char c = *(const char *) data;

  if (offset != 0 || len != 1)
    return;
  pthread_mutex_lock (&con->lock);
  if (c == '\n')
    flush_line (con);
  else if (c != '\r')
    {
      /* Control characters other than tabs would garble a log */
      con->line[con->len++] = (c == '\t' || (unsigned char) c >= 0x20) ? c : '?';
      if (con->len == VMM_DEBUGCON_LINE - 1)
        flush_line (con);
    }
  pthread_mutex_unlock (&con->lock);
}

const struct vmm_io_ops vmm_debugcon_ops = {
  .read = debugcon_read,
  .write = debugcon_write,
};

void
vmm_debugcon_init (struct vmm_debugcon *con, void (*line_fn) (void *, const char *), void *opaque)
{
  memset (con, 0, sizeof *con);
  pthread_mutex_init (&con->lock, NULL);
  con->line_fn = line_fn;
  con->opaque = opaque;
}

void
vmm_debugcon_destroy (struct vmm_debugcon *con)
{
  pthread_mutex_lock (&con->lock);
  if (con->len > 0)
    flush_line (con);
  pthread_mutex_unlock (&con->lock);
  pthread_mutex_destroy (&con->lock);
}
