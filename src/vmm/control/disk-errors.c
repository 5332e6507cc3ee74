/* control/disk-errors.c: a disk's failed requests as DiskError signals
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "control/disk-errors.h"

#include <string.h>

#include "vm.h"

typedef struct {
  VivVmm1 *iface;
  guint disk;
  char *path, *operation, *error, *message;
} DiskErrorEvent;

static void
event_free (gpointer data)
{
  DiskErrorEvent *e = data;

  g_object_unref (e->iface);
  g_free (e->path);
  g_free (e->operation);
  g_free (e->error);
  g_free (e->message);
  g_free (e);
}

static gboolean
emit_main (gpointer data)
{
  DiskErrorEvent *e = data;

  viv_vmm1_emit_disk_error (e->iface, e->disk, e->path, e->operation, e->error, e->message);
  return G_SOURCE_REMOVE;
}

void
vmm_disk_error_to_dbus (const struct vmm_disk_error *error, void *data)
{
  DiskErrorEvent *e = g_new0 (DiskErrorEvent, 1);
  const char *name = strerrorname_np (error->error);

  e->iface = g_object_ref (data);
  e->disk = error->disk;
  e->path = g_strdup (error->path);
  e->operation = g_strdup (error->operation);
  e->error = name != NULL ? g_strdup (name) : g_strdup_printf ("%d", error->error);
  e->message = g_strdup (error->message);
  /* Always queued, never run here: this is a disk's I/O thread, with the
   * device locked. */
  g_idle_add_full (G_PRIORITY_DEFAULT, emit_main, e, event_free);
}
