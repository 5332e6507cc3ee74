/* vmm-test-util.c: device handlers called directly, a fake interrupt line,
 * waiting for another thread, scratch folders
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vmm-test.h"

#include <string.h>

#include <glib/gstdio.h>

#include "viv-bytes.h"

uint64_t
vmm_test_dev_in (const struct vmm_io_ops *ops, void *opaque, uint64_t offset, uint32_t len)
{
  uint8_t buf[8];

  memset (buf, 0xff, sizeof buf);
  ops->read (opaque, offset, buf, len);
  return viv_get_le (buf, len);
}

void
vmm_test_dev_out (const struct vmm_io_ops *ops, void *opaque, uint64_t offset, uint32_t len,
                  uint64_t value)
{
  uint8_t buf[8];

  viv_put_le (buf, value, len);
  ops->write (opaque, offset, buf, len);
}

static void
irq_set (void *opaque, unsigned gsi, bool level)
{
  struct vmm_test_irq *irq = opaque;

  if (level == irq->level)
    irq->redundant++;
  irq->calls++;
  irq->level = level;
  irq->gsi = gsi;
}

struct vmm_irq_line
vmm_test_irq_line (struct vmm_test_irq *irq, unsigned gsi)
{
  memset (irq, 0, sizeof *irq);
  return (struct vmm_irq_line) { .set = irq_set, .opaque = irq, .gsi = gsi };
}

bool
vmm_test_mutex_is_free (pthread_mutex_t *lock)
{
  if (pthread_mutex_trylock (lock) != 0)
    return false;
  pthread_mutex_unlock (lock);
  return true;
}

bool
vmm_test_wait_until (bool (*cond) (void *data), void *data, unsigned timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!cond (data))
    {
      if (g_get_monotonic_time () >= deadline)
        return cond (data);
      g_usleep (1000);
    }
  return true;
}

char *
vmm_test_make_dir (const char *tmpl)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp (tmpl, &error);

  g_assert_no_error (error);
  return dir;
}

void
vmm_test_remove_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_assert_cmpint (g_unlink (path), ==, 0);
    }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}
