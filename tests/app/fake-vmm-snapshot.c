/* fake-vmm-snapshot.c: `vivarium-vmm snapshot` for the app's tests
 *
 * The engine's command line for a machine that is off, on
 * snapshots/index.json only (no disks, no state files):
 *
 *   vivarium-vmm snapshot take   --machine DIR NAME   (prints the new id)
 *   vivarium-vmm snapshot revert --machine DIR ID
 *   vivarium-vmm snapshot delete --machine DIR ID
 *   vivarium-vmm snapshot rename --machine DIR ID NAME
 *
 * and refuses to start a machine, `vivarium-vmm --machine DIR --restore ID`
 * (noted like the rest; it says FAKE_NO_START and fails, as a helper that
 * cannot start does).
 *
 * Status 0 when done, else 1 with the reason on one line of stderr, as the
 * engine does. $VIVARIUM_FAKE_SNAPSHOT_DELAY_MS makes it take that long
 * (tests of the busy state), $VIVARIUM_FAKE_SNAPSHOT_FAIL makes it fail
 * with that message (after the delay); each call is appended to
 * $VIVARIUM_FAKE_SNAPSHOT_LOG when set, so a test sees what ran.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "viv-snapshot-index.h"

#define FAKE_NO_START "The fake helper starts no machine"

static int
fail (const char *message)
{
  fprintf (stderr, "%s\n", message);
  return 1;
}

static void
note (int    argc,
      char **argv)
{
  const char *log = g_getenv ("VIVARIUM_FAKE_SNAPSHOT_LOG");
  g_autofree char *line = NULL;
  FILE *file;

  if (log == NULL)
    return;
  line = g_strjoinv (" ", argv + 1);
  file = fopen (log, "a");
  if (file == NULL)
    return;
  fprintf (file, "%s\n", line);
  fclose (file);
  (void) argc;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(VivSnapshotIndex) index = NULL;
  g_autoptr(GError) error = NULL;
  const char *verb, *dir, *delay;
  const char *args[2] = { NULL, NULL };
  int n = 0;

  if (argc == 5 && strcmp (argv[1], "--machine") == 0 && strcmp (argv[3], "--restore") == 0)
    {
      note (argc, argv);
      return fail (FAKE_NO_START);
    }
  if (argc < 5 || strcmp (argv[1], "snapshot") != 0 || strcmp (argv[3], "--machine") != 0)
    return fail ("usage: vivarium-vmm snapshot VERB --machine DIR [ARGS]");
  note (argc, argv);
  verb = argv[2];
  dir = argv[4];
  for (int i = 5; i < argc && n < 2; i++)
    args[n++] = argv[i];

  delay = g_getenv ("VIVARIUM_FAKE_SNAPSHOT_DELAY_MS");
  if (delay != NULL)
    g_usleep (strtoul (delay, NULL, 10) * 1000);
  if (g_getenv ("VIVARIUM_FAKE_SNAPSHOT_FAIL") != NULL)
    return fail (g_getenv ("VIVARIUM_FAKE_SNAPSHOT_FAIL"));

  index = viv_snapshot_index_load (dir, &error);
  if (index == NULL)
    return fail (error->message);

  if (strcmp (verb, "take") == 0 && n == 1)
    {
      VivSnapshot *snapshot;

      if (!viv_snapshot_name_check (args[0], &error))
        return fail (error->message);
      snapshot = viv_snapshot_index_add (index, args[0], FALSE,
                                         g_get_real_time () / G_USEC_PER_SEC);
      if (!viv_snapshot_index_save (index, dir, &error))
        return fail (error->message);
      printf ("%s\n", snapshot->id);
      return 0;
    }
  if (strcmp (verb, "revert") == 0 && n == 1)
    {
      if (viv_snapshot_index_find (index, args[0]) == NULL)
        return fail ("No such snapshot");
      g_free (index->current);
      index->current = g_strdup (args[0]);
    }
  else if (strcmp (verb, "delete") == 0 && n == 1)
    {
      if (!viv_snapshot_index_remove (index, args[0], &error))
        return fail (error->message);
    }
  else if (strcmp (verb, "rename") == 0 && n == 2)
    {
      if (!viv_snapshot_index_rename (index, args[0], args[1], &error))
        return fail (error->message);
    }
  else
    return fail ("usage: vivarium-vmm snapshot VERB --machine DIR [ARGS]");

  if (!viv_snapshot_index_save (index, dir, &error))
    return fail (error->message);
  return 0;
}
