/* test-library.c: VivLibrary and VivMachine against real folders and helpers
 *
 * Everything happens under a private XDG_DATA_HOME and XDG_RUNTIME_DIR, made
 * before anything else runs. The tests that run machines boot the probe
 * guest (tests/guest/) with vivarium-vmm; in its idle mode it prints
 * "tick N" on COM1 and powers off when the ACPI power button is pressed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <poll.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
/* GDK writes the thumbnails, and decodes them as the tiles do */
#include <gtk/gtk.h>

#include "viv-file.h"
#include "viv-helper.h"
#include "viv-library.h"
#include "viv-machine.h"
#include "viv-test-util.h"

#define TIMEOUT_MS   20000
#define MIB          (G_GUINT64_CONSTANT (1) << 20)
#define N_MANY       500

static char *root;              /* everything of the tests lives here */
static char *data_home;
static char *runtime_dir;
static const char *probe_path;
static gboolean have_kvm;
static int probe_idles = -1;    /* unknown yet */

/* --- waiting ------------------------------------------------------------------- */

/* --- files ------------------------------------------------------------------- */

static char *
machines_dir (void)
{
  return g_build_filename (data_home, "vivarium", "machines", NULL);
}

static char *
read_file (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static char *
machine_json_path (VivMachine *machine)
{
  return g_build_filename (viv_machine_get_directory (machine), "machine.json", NULL);
}

/* Files whose names start with a dot, in DIR: temporary files left behind */
static guint
count_hidden (const char *dir_path)
{
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;
  guint n = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (name[0] == '.')
      n++;
  return n;
}

/* --- machines ------------------------------------------------------------------ */

static VivMachineConfig *
plain_config (const char *name)
{
  return viv_machine_config_new (name, 64 * MIB, 1);
}

static VivMachineConfig *
probe_config (const char *name,
              const char *cmdline)
{
  VivMachineConfig *config = viv_machine_config_new (name, 64 * MIB, 1);

  config->boot.kind = VIV_BOOT_KIND_KERNEL;
  config->boot.kernel = g_strdup (probe_path);
  config->boot.cmdline = g_strdup (cmdline);
  config->devices.rng = FALSE;
  return config;
}

/* Writes a machine folder by hand, as another process would */
static char *
write_folder (const char *folder,
              const char *json)
{
  g_autofree char *dir = machines_dir ();
  g_autofree char *machine_dir = g_build_filename (dir, folder, NULL);
  g_autofree char *path = g_build_filename (machine_dir, "machine.json", NULL);

  g_assert_cmpint (g_mkdir_with_parents (machine_dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  return g_steal_pointer (&path);
}

static VivLibrary *
load_library (void)
{
  g_autoptr(VivLibrary) library = viv_library_new (NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  viv_library_load_async (library, NULL, viv_test_store_result, &result);
  g_assert_true (viv_library_load_finish (library, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_true (viv_library_get_loaded (library));
  return g_steal_pointer (&library);
}

static VivMachine *
nth_machine (VivLibrary *library,
             guint       i)
{
  g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (library), i);

  return machine;   /* the library holds it */
}

static gboolean
in_model (VivLibrary *library,
          VivMachine *machine)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (library)); i++)
    if (nth_machine (library, i) == machine)
      return TRUE;
  return FALSE;
}

static void
rename_machine (VivMachine  *machine,
                const char  *name,
                GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  viv_machine_rename_async (machine, name, NULL, viv_test_store_result, &result);
  viv_machine_rename_finish (machine, viv_test_wait_result (&result), error);
}

static void
set_resources (VivMachine  *machine,
               guint64      memory,
               guint        cpus,
               GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  viv_machine_set_resources_async (machine, memory, cpus, NULL, viv_test_store_result, &result);
  viv_machine_set_resources_finish (machine, viv_test_wait_result (&result), error);
}

typedef void (*ActionAsync) (VivMachine *, GCancellable *, GAsyncReadyCallback, gpointer);
typedef gboolean (*ActionFinish) (VivMachine *, GAsyncResult *, GError **);

static gboolean
run_action (VivMachine    *machine,
            ActionAsync    action,
            ActionFinish   finish,
            GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  action (machine, NULL, viv_test_store_result, &result);
  return finish (machine, viv_test_wait_result (&result), error);
}

#define START(m, e)      run_action (m, viv_machine_start_async, viv_machine_start_finish, e)
#define FORCE_OFF(m, e)  run_action (m, viv_machine_force_off_async, \
                                     viv_machine_force_off_finish, e)
#define SHUTDOWN(m, e)   run_action (m, viv_machine_shutdown_async, \
                                     viv_machine_shutdown_finish, e)

static GPid
helper_pid (VivMachine *machine)
{
  g_autofree char *name = g_strconcat (viv_machine_get_uuid (machine), ".lock", NULL);
  g_autofree char *path = g_build_filename (runtime_dir, "vivarium", name, NULL);
  g_autofree char *contents = read_file (path);

  g_assert_nonnull (contents);
  return (GPid) g_ascii_strtoll (contents, NULL, 10);
}

typedef struct
{
  GArray *states;
} StateLog;

static void
on_state (VivMachine *machine,
          GParamSpec *pspec G_GNUC_UNUSED,
          GArray     *states)
{
  VivMachineState state = viv_machine_get_state (machine);

  g_array_append_val (states, state);
}

static gboolean
saw_state (GArray          *states,
           VivMachineState  state)
{
  for (guint i = 0; i < states->len; i++)
    if (g_array_index (states, VivMachineState, i) == state)
      return TRUE;
  return FALSE;
}

/* Stops every machine of the library that runs: the helpers outlive their
 * app by design, so the tests stop them. */
static void
stop_all (VivLibrary *library)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (library)); i++)
    {
      VivMachine *machine = nth_machine (library, i);
      g_autoptr(GError) error = NULL;

      if (!viv_machine_is_active (machine))
        continue;
      WAIT_UNTIL (viv_machine_get_state (machine) != VIV_MACHINE_STATE_STARTING, TIMEOUT_MS);
      if (!FORCE_OFF (machine, &error))
        {
          g_test_message ("force-off of %s: %s", viv_machine_get_name (machine),
                          error->message);
          kill (helper_pid (machine), SIGKILL);
        }
      WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
      g_assert_false (viv_machine_is_active (machine));
    }
}

/* --- fixture: an empty machines folder and a loaded library -------------------------- */

typedef struct
{
  VivLibrary *library;
} Fixture;

static void
fixture_setup (Fixture       *f,
               gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = machines_dir ();
  g_autofree char *trash = g_build_filename (data_home, "Trash", NULL);

  viv_file_remove_tree (dir);
  viv_file_remove_tree (trash);
  f->library = load_library ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
}

static void
fixture_teardown (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *dir = machines_dir ();

  if (f->library != NULL)
    stop_all (f->library);
  g_clear_object (&f->library);
  viv_file_remove_tree (dir);
}

static VivMachine *
create (Fixture          *f,
        VivMachineConfig *config)
{
  g_autoptr(VivMachineConfig) owned = config;
  g_autoptr(GError) error = NULL;
  VivMachine *machine;

  machine = viv_library_create_machine (f->library, config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (machine);
  return machine;
}

/* --- tests without a helper ------------------------------------------------------- */

static void
test_create_load (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivLibrary) second = NULL;
  g_autoptr(VivMachineConfig) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  const char *names[] = { "beta", "Alpha", "gamma" };
  const char *sorted[] = { "Alpha", "beta", "gamma" };
  VivMachine *machines[3];

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    machines[i] = create (f, plain_config (names[i]));

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 3);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (f->library)) == VIV_TYPE_MACHINE);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpstr (viv_machine_get_name (nth_machine (f->library, i)), ==, sorted[i]);
  g_assert_true (viv_library_find (f->library, viv_machine_get_uuid (machines[0])) ==
                 machines[0]);
  g_assert_cmpint (viv_machine_get_state (machines[0]), ==, VIV_MACHINE_STATE_STOPPED);

  path = machine_json_path (machines[0]);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));

  /* the same UUID again is refused */
  again = plain_config ("again");
  g_free (again->uuid);
  again->uuid = g_strdup (viv_machine_get_uuid (machines[1]));
  g_assert_null (viv_library_create_machine (f->library, again, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 3);

  /* another instance sees the same machines, in the same order */
  second = load_library ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (second)), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      VivMachine *machine = nth_machine (second, i);
      VivMachine *original = viv_library_find (f->library, viv_machine_get_uuid (machine));

      g_assert_cmpstr (viv_machine_get_name (machine), ==, sorted[i]);
      g_assert_nonnull (original);
      g_assert_true (viv_machine_config_equal (viv_machine_get_config (machine),
                                               viv_machine_get_config (original)));
      g_assert_cmpstr (viv_machine_get_directory (machine), ==,
                       viv_machine_get_directory (original));
    }
}

static void
count_notify (GObject    *object G_GNUC_UNUSED,
              GParamSpec *pspec G_GNUC_UNUSED,
              guint      *count)
{
  (*count)++;
}

static void
test_rename (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *a = create (f, plain_config ("Alpha"));
  VivMachine *b = create (f, plain_config ("Bravo"));
  g_autoptr(VivMachineConfig) on_disk = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = machine_json_path (a);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *too_long = g_strnfill (257, 'x');
  g_autofree char *longest = g_strnfill (256, 'y');
  guint notified = 0;

  g_signal_connect (a, "notify::name", G_CALLBACK (count_notify), &notified);

  rename_machine (a, "  Zulu  ", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (viv_machine_get_name (a), ==, "Zulu");
  g_assert_cmpuint (notified, ==, 1);
  on_disk = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (on_disk->name, ==, "Zulu");
  /* written by rename(2): no temporary file left */
  g_assert_cmpuint (count_hidden (viv_machine_get_directory (a)), ==, 0);
  /* and the list is sorted again */
  g_assert_true (nth_machine (f->library, 0) == b);
  g_assert_true (nth_machine (f->library, 1) == a);

  before = read_file (path);
  rename_machine (a, too_long, &error);
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME);
  g_clear_error (&error);
  rename_machine (a, "   ", &error);
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME);
  g_clear_error (&error);
  rename_machine (a, "", &error);
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_INVALID_NAME);
  g_clear_error (&error);
  after = read_file (path);
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpstr (viv_machine_get_name (a), ==, "Zulu");

  rename_machine (a, longest, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (viv_machine_get_name (a), ==, longest);

  /* two changes at once both land */
  {
    g_autoptr(GAsyncResult) r1 = NULL;
    g_autoptr(GAsyncResult) r2 = NULL;
    g_autoptr(VivMachineConfig) both = NULL;

    viv_machine_rename_async (a, "Yankee", NULL, viv_test_store_result, &r1);
    viv_machine_set_resources_async (a, 96 * MIB, 3, NULL, viv_test_store_result, &r2);
    g_assert_true (viv_machine_rename_finish (a, viv_test_wait_result (&r1), NULL));
    g_assert_true (viv_machine_set_resources_finish (a, viv_test_wait_result (&r2), NULL));
    both = viv_machine_config_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (both->name, ==, "Yankee");
    g_assert_cmpuint (both->memory, ==, 96 * MIB);
    g_assert_cmpuint (both->cpus, ==, 3);
  }
}

static void
test_set_resources (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Resources"));
  g_autoptr(VivMachineConfig) on_disk = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = machine_json_path (machine);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint notified = 0;

  g_signal_connect (machine, "notify::config", G_CALLBACK (count_notify), &notified);
  set_resources (machine, 256 * MIB, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpuint (viv_machine_get_config (machine)->memory, ==, 256 * MIB);
  g_assert_cmpuint (viv_machine_get_config (machine)->cpus, ==, 2);
  g_assert_false (viv_machine_get_pending_changes (machine));
  on_disk = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (on_disk->memory, ==, 256 * MIB);
  g_assert_cmpuint (on_disk->cpus, ==, 2);

  /* out of range: refused, nothing written */
  before = read_file (path);
  set_resources (machine, 256 * MIB, 0, &error);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_clear_error (&error);
  set_resources (machine, 1 * MIB, 1, &error);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_clear_error (&error);
  after = read_file (path);
  g_assert_cmpstr (before, ==, after);
}

static void
test_delete_undo (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *keep = create (f, plain_config ("Keep"));
  VivMachine *machine = create (f, plain_config ("Delete me"));
  g_autoptr(VivMachine) ref = g_object_ref (machine);
  g_autofree char *uuid = g_strdup (viv_machine_get_uuid (machine));
  g_autofree char *dir = g_strdup (viv_machine_get_directory (machine));
  g_autofree char *mdir = machines_dir ();
  g_autofree char *parked = g_build_filename (mdir, ".deleted", uuid, NULL);
  g_autoptr(GError) error = NULL;

  g_assert_true (viv_library_delete_machine (f->library, machine, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (parked, G_FILE_TEST_IS_DIR));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 1);
  g_assert_null (viv_library_find (f->library, uuid));
  g_assert_true (nth_machine (f->library, 0) == keep);

  /* the folder monitor sees the move and must not bring it back */
  viv_test_sleep_ms (300);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 1);

  /* loading again keeps what can still be undone */
  {
    g_autoptr(GAsyncResult) result = NULL;

    viv_library_load_async (f->library, NULL, viv_test_store_result, &result);
    g_assert_true (viv_library_load_finish (f->library, viv_test_wait_result (&result), &error));
    g_assert_no_error (error);
    g_assert_true (g_file_test (parked, G_FILE_TEST_IS_DIR));
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 1);
  }

  g_assert_true (viv_library_undo_delete (f->library, uuid, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  g_assert_false (g_file_test (parked, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 2);
  g_assert_true (viv_library_find (f->library, uuid) == ref);
  g_assert_true (in_model (f->library, ref));

  viv_test_sleep_ms (300);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 2);
  g_assert_cmpint (viv_machine_get_state (ref), ==, VIV_MACHINE_STATE_STOPPED);

  /* nothing to undo now */
  g_assert_false (viv_library_undo_delete (f->library, uuid, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

static void
test_delete_commit (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Trash me"));
  g_autofree char *uuid = g_strdup (viv_machine_get_uuid (machine));
  g_autofree char *mdir = machines_dir ();
  g_autofree char *deleted = g_build_filename (mdir, ".deleted", NULL);
  g_autofree char *trashed = g_build_filename (data_home, "Trash", "files", uuid, NULL);
  g_autofree char *trashed_json = g_build_filename (trashed, "machine.json", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (viv_library_delete_machine (f->library, machine, &error));
  g_assert_no_error (error);

  viv_library_commit_deletes_async (f->library, NULL, viv_test_store_result, &result);
  g_assert_true (viv_library_commit_deletes_finish (f->library, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);

  g_assert_true (g_file_test (trashed_json, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (count_hidden (deleted), ==, 0);
  g_assert_false (viv_library_undo_delete (f->library, uuid, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* a delete left over when the app quit is committed by the next load */
  {
    VivMachine *second = create (f, plain_config ("Left over"));
    g_autofree char *second_uuid = g_strdup (viv_machine_get_uuid (second));
    g_autofree char *second_trashed = g_build_filename (data_home, "Trash", "files",
                                                        second_uuid, NULL);
    g_autoptr(VivLibrary) other = NULL;

    g_assert_true (viv_library_delete_machine (f->library, second, &error));
    g_assert_no_error (error);
    other = load_library ();
    g_assert_true (g_file_test (second_trashed, G_FILE_TEST_IS_DIR));
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (other)), ==, 0);
  }
}

/* What a killed app's creation leaves, machines/.new-<uuid>/, goes at the
 * next load, with a word in the log; one that another app instance works
 * in (it holds the lock) stays. */
static void
test_staging_leftover (Fixture       *f G_GNUC_UNUSED,
                       gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *mdir = machines_dir ();
  g_autofree char *killed = g_build_filename (mdir, VIV_LIBRARY_STAGING_PREFIX "killed", NULL);
  g_autofree char *killed_disk = g_build_filename (killed, "disk.img", NULL);
  g_autofree char *killed_lock = g_build_filename (killed, VIV_LIBRARY_STAGING_LOCK, NULL);
  g_autofree char *early = g_build_filename (mdir, VIV_LIBRARY_STAGING_PREFIX "early", NULL);
  g_autofree char *live = g_build_filename (mdir, VIV_LIBRARY_STAGING_PREFIX "live", NULL);
  g_autofree char *live_disk = g_build_filename (live, "disk.img", NULL);
  g_autofree char *other = g_build_filename (mdir, ".other", NULL);
  g_autoptr(VivLibrary) library = NULL;
  int live_lock;

  /* Killed while copying: the lock file is there, nobody holds it */
  g_assert_cmpint (g_mkdir_with_parents (killed, 0755), ==, 0);
  g_assert_true (g_file_set_contents (killed_disk, "partial copy", -1, NULL));
  g_assert_true (g_file_set_contents (killed_lock, "", -1, NULL));
  /* Killed before it took the lock: no lock file */
  g_assert_cmpint (g_mkdir_with_parents (early, 0755), ==, 0);
  /* Another instance's creation in progress */
  g_assert_cmpint (g_mkdir_with_parents (live, 0755), ==, 0);
  live_lock = viv_library_lock_staging (live);
  g_assert_cmpint (live_lock, >=, 0);
  g_assert_true (g_file_set_contents (live_disk, "being copied", -1, NULL));
  /* Not a staging folder: not ours to remove */
  g_assert_cmpint (g_mkdir_with_parents (other, 0755), ==, 0);

  g_test_expect_message ("viv-library", G_LOG_LEVEL_MESSAGE,
                         "Removed */" VIV_LIBRARY_STAGING_PREFIX "*, left over by a machine "
                         "creation that did not finish");
  g_test_expect_message ("viv-library", G_LOG_LEVEL_MESSAGE,
                         "Removed */" VIV_LIBRARY_STAGING_PREFIX "*, left over by a machine "
                         "creation that did not finish");
  library = load_library ();
  g_test_assert_expected_messages ();

  g_assert_false (g_file_test (killed, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (early, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (live_disk, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (other, G_FILE_TEST_IS_DIR));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (library)), ==, 0);

  /* Held: nobody else gets it; released: the next load removes it */
  g_assert_cmpint (viv_library_lock_staging (live), ==, -EWOULDBLOCK);
  close (live_lock);
  g_test_expect_message ("viv-library", G_LOG_LEVEL_MESSAGE,
                         "Removed *" VIV_LIBRARY_STAGING_PREFIX "live, left over by a machine "
                         "creation that did not finish");
  g_clear_object (&library);
  library = load_library ();
  g_test_assert_expected_messages ();
  g_assert_false (g_file_test (live, G_FILE_TEST_EXISTS));
}

static void
kill_before_rename (const char *tmp_path G_GNUC_UNUSED,
                    gpointer    data G_GNUC_UNUSED)
{
  raise (SIGKILL);
}

static void
test_atomic_write (void)
{
  const char *uuid = g_getenv ("VIV_TEST_ATOMIC_UUID");
  g_autoptr(VivLibrary) library = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *mdir = machines_dir ();
  g_autofree char *json = NULL;
  VivMachine *machine;

  if (g_test_subprocess ())
    {
      g_autoptr(GAsyncResult) result = NULL;

      /* the child: dies between writing the new file and renaming it */
      g_assert_nonnull (uuid);
      library = load_library ();
      machine = viv_library_find (library, uuid);
      g_assert_nonnull (machine);
      viv_library_set_replace_hook (library, kill_before_rename, NULL);
      viv_machine_rename_async (machine, "New name", NULL, viv_test_store_result, &result);
      viv_test_wait_result (&result);
      g_assert_not_reached ();
    }

  viv_file_remove_tree (mdir);
  config = plain_config ("Old name");
  json = viv_machine_config_to_data (config, NULL);
  path = write_folder (config->uuid, json);
  before = read_file (path);
  g_setenv ("VIV_TEST_ATOMIC_UUID", config->uuid, TRUE);

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();

  /* the child got as far as the temporary file, which it left behind */
  {
    g_autofree char *dir = g_path_get_dirname (path);

    g_assert_cmpuint (count_hidden (dir), ==, 1);
  }
  after = read_file (path);
  g_assert_cmpstr (before, ==, after);

  library = load_library ();
  machine = viv_library_find (library, config->uuid);
  g_assert_nonnull (machine);
  g_assert_cmpstr (viv_machine_get_name (machine), ==, "Old name");
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  g_clear_object (&library);
  viv_file_remove_tree (mdir);
}

/* A replace hook that counts the writes of machine.json files */
static void
count_write (const char *tmp_path,
             gpointer    data)
{
  guint *writes = data;
  g_autofree char *base = g_path_get_basename (tmp_path);

  g_assert_true (g_str_has_prefix (base, "." VIV_MACHINE_CONFIG_FILE_NAME "."));
  g_atomic_int_inc (writes);
}

/* The write hook is the library's: its machines, those it has and those it
 * adds, use it, and another library's do not */
static void
test_replace_hook (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *before = create (f, plain_config ("Before"));
  g_autoptr(VivLibrary) other = load_library ();
  VivMachine *other_machine = viv_library_find (other, viv_machine_get_uuid (before));
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  guint writes = 0;
  VivMachine *after;

  g_assert_nonnull (other_machine);
  viv_library_set_replace_hook (f->library, count_write, &writes);

  viv_machine_rename_async (before, "Renamed", NULL, viv_test_store_result, &result);
  g_assert_true (viv_machine_rename_finish (before, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (writes, ==, 1);
  g_clear_object (&result);

  /* the other library's machine, the same folder: not this hook's */
  viv_machine_rename_async (other_machine, "Renamed again", NULL, viv_test_store_result,
                            &result);
  g_assert_true (viv_machine_rename_finish (other_machine, viv_test_wait_result (&result),
                                            &error));
  g_assert_no_error (error);
  g_assert_cmpuint (writes, ==, 1);
  g_clear_object (&result);

  /* a machine the library makes afterwards: its machine.json, then a change */
  after = create (f, plain_config ("After"));
  g_assert_cmpuint (writes, ==, 2);
  viv_machine_rename_async (after, "After, renamed", NULL, viv_test_store_result, &result);
  g_assert_true (viv_machine_rename_finish (after, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (writes, ==, 3);
  g_clear_object (&result);

  /* and none once it is unset */
  viv_library_set_replace_hook (f->library, NULL, NULL);
  viv_machine_rename_async (after, "After, again", NULL, viv_test_store_result, &result);
  g_assert_true (viv_machine_rename_finish (after, viv_test_wait_result (&result), &error));
  g_assert_no_error (error);
  g_assert_cmpuint (writes, ==, 3);
}

/* Issue 23, item 4: a machine.json that is a FIFO hung the library scan
 * (and the app at every start); a link to /dev/zero read until memory ran
 * out. Such machines are listed as broken now, and the scan ends. */
static void
test_not_a_file (Fixture       *f G_GNUC_UNUSED,
                 gconstpointer  data G_GNUC_UNUSED)
{
  static const char *const folders[] = {
    "22222222-2222-4333-8444-555555555555",
    "33333333-2222-4333-8444-555555555555",
  };
  g_autoptr(VivLibrary) library = NULL;
  g_autofree char *fifo = write_folder (folders[0], "");
  g_autofree char *zero = write_folder (folders[1], "");

  g_assert_cmpint (g_unlink (fifo), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (g_unlink (zero), ==, 0);
  g_assert_cmpint (symlink ("/dev/zero", zero), ==, 0);

  library = load_library ();
  for (guint i = 0; i < G_N_ELEMENTS (folders); i++)
    {
      VivMachine *machine = viv_library_find (library, folders[i]);

      g_assert_nonnull (machine);
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_BROKEN);
      g_test_message ("%s", viv_machine_get_broken_reason (machine));
      g_assert_nonnull (strstr (viv_machine_get_broken_reason (machine), "not a regular file"));
    }
}

static void
test_broken (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  static const struct {
    const char *folder;
    const char *json;
    const char *reason;     /* a part of broken-reason */
  } cases[] = {
    { "not-json", "{ \"version\": 1, \"name\": ", NULL },
    { "11111111-2222-4333-8444-555555555555",
      "{ \"version\": 1, \"uuid\": \"11111111-2222-4333-8444-555555555555\",\n"
      "  \"name\": \"No CPUs\", \"memory\": 67108864 }\n", "cpus" },
    { "aaaaaaaa-2222-4333-8444-555555555555",
      "{ \"version\": 99, \"uuid\": \"aaaaaaaa-2222-4333-8444-555555555555\",\n"
      "  \"name\": \"Future\", \"memory\": 67108864, \"cpus\": 1, \"hologram\": true }\n", "99" },
  };
  g_autoptr(VivLibrary) library = NULL;
  g_auto(GStrv) paths = g_new0 (char *, G_N_ELEMENTS (cases) + 1);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    paths[i] = write_folder (cases[i].folder, cases[i].json);
  create (f, plain_config ("Fine"));

  library = load_library ();
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (library)), ==, 4);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      VivMachine *machine = viv_library_find (library, cases[i].folder);
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *contents = NULL;

      g_assert_nonnull (machine);
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_BROKEN);
      g_assert_cmpstr (viv_machine_get_name (machine), ==, cases[i].folder);
      g_assert_null (viv_machine_get_config (machine));
      g_assert_nonnull (viv_machine_get_broken_reason (machine));
      g_test_message ("%s: %s", cases[i].folder, viv_machine_get_broken_reason (machine));
      if (cases[i].reason != NULL)
        g_assert_nonnull (strstr (viv_machine_get_broken_reason (machine), cases[i].reason));

      /* nothing writes to it, or starts it */
      rename_machine (machine, "Repaired?", &error);
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BROKEN);
      g_clear_error (&error);
      viv_machine_start_async (machine, NULL, viv_test_store_result, &result);
      g_assert_false (viv_machine_start_finish (machine, viv_test_wait_result (&result), &error));
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_BROKEN);

      contents = read_file (paths[i]);
      g_assert_cmpstr (contents, ==, cases[i].json);
      g_assert_cmpuint (count_hidden (viv_machine_get_directory (machine)), ==, 0);
    }

  /* the first load's library reads them too, through its monitor */
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (f->library)) == 4, TIMEOUT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 4);
  g_clear_object (&library);

  /* fixing a file makes its machine usable */
  {
    VivMachine *machine = viv_library_find (f->library, cases[1].folder);
    g_autoptr(VivMachineConfig) fixed = plain_config ("Fixed");
    g_autofree char *json = NULL;

    g_assert_nonnull (machine);
    g_free (fixed->uuid);
    fixed->uuid = g_strdup (cases[1].folder);
    json = viv_machine_config_to_data (fixed, NULL);
    g_assert_true (g_file_set_contents (paths[1], json, -1, NULL));
    WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
    g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
    g_assert_cmpstr (viv_machine_get_name (machine), ==, "Fixed");
    g_assert_null (viv_machine_get_broken_reason (machine));
  }
}

static void
test_external_edit (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Before"));
  g_autoptr(VivMachineConfig) config = viv_machine_config_copy (viv_machine_get_config (machine));
  g_autofree char *path = machine_json_path (machine);
  g_autofree char *json = NULL;
  guint notified = 0;

  g_signal_connect (machine, "notify::name", G_CALLBACK (count_notify), &notified);

  /* another process renames it (g_file_set_contents() replaces the file) */
  g_free (config->name);
  config->name = g_strdup ("After");
  json = viv_machine_config_to_data (config, NULL);
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  WAIT_UNTIL (notified > 0, TIMEOUT_MS);
  g_assert_cmpuint (notified, ==, 1);
  g_assert_cmpstr (viv_machine_get_name (machine), ==, "After");

  /* and writes in place, the way a text editor might */
  {
    FILE *file = fopen (path, "w");

    g_assert_nonnull (file);
    fputs ("{ \"version\": 1, ", file);
    fclose (file);
  }
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_BROKEN, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_BROKEN);
  g_assert_nonnull (viv_machine_get_broken_reason (machine));
  g_assert_cmpstr (viv_machine_get_name (machine), ==, viv_machine_get_uuid (machine));

  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_cmpstr (viv_machine_get_name (machine), ==, "After");
  g_assert_null (viv_machine_get_broken_reason (machine));
}

static void
test_external_add_remove (Fixture       *f,
                          gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = plain_config ("From a script");
  g_autofree char *json = viv_machine_config_to_data (config, NULL);
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;
  VivMachine *machine;

  path = write_folder (config->uuid, json);
  WAIT_UNTIL (viv_library_find (f->library, config->uuid) != NULL, TIMEOUT_MS);
  machine = viv_library_find (f->library, config->uuid);
  g_assert_nonnull (machine);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 1);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpstr (viv_machine_get_name (machine), ==, "From a script");

  /* and removed by one */
  dir = g_path_get_dirname (path);
  viv_file_remove_tree (dir);
  WAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (f->library)) == 0, TIMEOUT_MS);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (f->library)), ==, 0);
  g_assert_null (viv_library_find (f->library, config->uuid));
}

static void
write_thumbnail (const char *path,
                 int         width)
{
  g_autofree guint8 *pixels = g_malloc0 ((gsize) width * 4 * 2);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *tmp = g_strconcat (path, ".new", NULL);

  for (int i = 0; i < width * 2; i++)
    pixels[i * 4 + 3] = 0xff;
  bytes = g_bytes_new (pixels, (gsize) width * 4 * 2);
  texture = gdk_memory_texture_new (width, 2, GDK_MEMORY_R8G8B8A8, bytes, (gsize) width * 4);
  g_assert_true (gdk_texture_save_to_png (texture, tmp));
  g_assert_cmpint (g_rename (tmp, path), ==, 0);
}

/* The width of the picture the tiles make of MACHINE's thumbnail, or -1
 * without one */
static int
thumbnail_width (VivMachine *machine)
{
  GBytes *png = viv_machine_get_thumbnail (machine);
  g_autoptr(GdkTexture) texture = NULL;
  g_autoptr(GError) error = NULL;

  if (png == NULL)
    return -1;
  texture = gdk_texture_new_from_bytes (png, &error);
  g_assert_no_error (error);
  return gdk_texture_get_width (texture);
}

static void
test_thumbnail (Fixture       *f,
                gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Pictured"));
  g_autofree char *path = g_build_filename (viv_machine_get_directory (machine),
                                            "thumbnail.png", NULL);
  g_autoptr(VivLibrary) second = NULL;
  VivMachine *loaded;

  g_assert_null (viv_machine_get_thumbnail (machine));

  /* the helper writes one: it is read */
  write_thumbnail (path, 4);
  WAIT_UNTIL (viv_machine_get_thumbnail (machine) != NULL, TIMEOUT_MS);
  g_assert_nonnull (viv_machine_get_thumbnail (machine));
  g_assert_cmpint (thumbnail_width (machine), ==, 4);

  /* and again when it changes */
  write_thumbnail (path, 8);
  WAIT_UNTIL (viv_machine_get_thumbnail (machine) != NULL && thumbnail_width (machine) == 8,
              TIMEOUT_MS);
  g_assert_cmpint (thumbnail_width (machine), ==, 8);

  /* a library loads it with the machine */
  second = load_library ();
  loaded = viv_library_find (second, viv_machine_get_uuid (machine));
  g_assert_nonnull (viv_machine_get_thumbnail (loaded));
  g_assert_cmpint (thumbnail_width (loaded), ==, 8);

  /* a file that is not a PNG is none */
  g_assert_true (g_file_set_contents (path, "not a picture", -1, NULL));
  WAIT_UNTIL (viv_machine_get_thumbnail (machine) == NULL, TIMEOUT_MS);
  g_assert_null (viv_machine_get_thumbnail (machine));
  write_thumbnail (path, 4);
  WAIT_UNTIL (viv_machine_get_thumbnail (machine) != NULL, TIMEOUT_MS);
  g_assert_cmpint (thumbnail_width (machine), ==, 4);

  g_assert_cmpint (g_remove (path), ==, 0);
  WAIT_UNTIL (viv_machine_get_thumbnail (machine) == NULL, TIMEOUT_MS);
  g_assert_null (viv_machine_get_thumbnail (machine));
}

typedef struct
{
  gint64 last;
  gint64 max_gap;
} Ticker;

static gboolean
tick (gpointer data)
{
  Ticker *ticker = data;
  gint64 now = g_get_monotonic_time ();

  ticker->max_gap = MAX (ticker->max_gap, now - ticker->last);
  ticker->last = now;
  return G_SOURCE_CONTINUE;
}

static void
on_items_changed (GListModel *model G_GNUC_UNUSED,
                  guint       position G_GNUC_UNUSED,
                  guint       removed G_GNUC_UNUSED,
                  guint       added G_GNUC_UNUSED,
                  guint      *count)
{
  (*count)++;
}

static void
test_many (Fixture       *f,
           gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivLibrary) library = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  Ticker ticker = { 0, 0 };
  guint changes = 0;
  gint64 start, end;
  guint id;

  g_clear_object (&f->library);
  for (guint i = 0; i < N_MANY; i++)
    {
      g_autofree char *name = g_strdup_printf ("Machine %03u", (i * 7919) % N_MANY);
      g_autoptr(VivMachineConfig) config = plain_config (name);
      g_autofree char *json = viv_machine_config_to_data (config, NULL);
      g_autofree char *path = write_folder (config->uuid, json);
    }

  library = viv_library_new (NULL);
  g_signal_connect (library, "items-changed", G_CALLBACK (on_items_changed), &changes);
  ticker.last = start = g_get_monotonic_time ();
  id = g_timeout_add (10, tick, &ticker);
  viv_library_load_async (library, NULL, viv_test_store_result, &result);
  g_assert_true (viv_library_load_finish (library, viv_test_wait_result (&result), &error));
  end = g_get_monotonic_time ();
  /* and a little more, for what follows the load */
  viv_test_sleep_ms (100);
  g_source_remove (id);

  g_assert_no_error (error);
  g_test_message ("%u machines loaded in %.1f ms; the main loop's longest pause was %.1f ms",
                  N_MANY, (end - start) / 1000.0, ticker.max_gap / 1000.0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (library)), ==, N_MANY);
  g_assert_cmpuint (changes, ==, 1);
  /* The pause is reported, not asserted: on a loaded machine any thread
   * can wait that long for a CPU (bench/app-start.sh measures the load) */
  for (guint i = 0; i < N_MANY; i++)
    {
      g_autofree char *name = g_strdup_printf ("Machine %03u", i);

      g_assert_cmpstr (viv_machine_get_name (nth_machine (library, i)), ==, name);
    }
}

/* --- tests with a helper -------------------------------------------------------------- */

static gboolean
need_kvm (void)
{
  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm is missing or not accessible (or the helper or the probe "
                   "is not built): no machine can run here");
      return FALSE;
    }
  return TRUE;
}

static VivMachine *
start_probe (Fixture    *f,
             const char *name,
             const char *cmdline)
{
  VivMachine *machine = create (f, probe_config (name, cmdline));
  g_autoptr(GError) error = NULL;

  g_assert_true (START (machine, &error));
  g_assert_no_error (error);
  return machine;
}

static void
on_serial_read (GObject      *object,
                GAsyncResult *result,
                gpointer      data)
{
  GString *out = data;
  g_autoptr(GBytes) bytes = NULL;
  gsize size;
  const char *chars;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, NULL);
  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    return;
  chars = g_bytes_get_data (bytes, &size);
  g_string_append_len (out, chars, (gssize) size);
  g_input_stream_read_bytes_async (G_INPUT_STREAM (object), 4096, G_PRIORITY_DEFAULT, NULL,
                                   on_serial_read, out);
}

/* Whether the probe has its idle mode: without it, it runs its checks for
 * a fraction of a second and powers off. */
static gboolean
need_idle (Fixture *f)
{
  if (!need_kvm ())
    return FALSE;

  if (probe_idles < 0)
    {
      VivMachine *machine = start_probe (f, "Idle?", "mode=idle");
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GIOStream) stream = NULL;
      g_autoptr(GString) out = g_string_new (NULL);
      g_autoptr(GError) error = NULL;

      /* it idles if it ticks */
      viv_machine_open_serial_async (machine, NULL, viv_test_store_result, &result);
      stream = viv_machine_open_serial_finish (machine, viv_test_wait_result (&result), NULL);
      if (stream != NULL)
        {
          g_input_stream_read_bytes_async (g_io_stream_get_input_stream (stream), 4096,
                                           G_PRIORITY_DEFAULT, NULL, on_serial_read, out);
          WAIT_UNTIL (strstr (out->str, "tick ") != NULL ||
                      !viv_machine_is_active (machine), TIMEOUT_MS);
          g_io_stream_close (stream, NULL, NULL);
          viv_test_sleep_ms (50);
        }
      probe_idles = strstr (out->str, "tick ") != NULL;
      stop_all (f->library);
      g_assert_true (viv_library_delete_machine (f->library, machine, &error));
      g_assert_no_error (error);
      if (!probe_idles)
        g_printerr ("# the probe guest has no idle mode (mode=idle): "
                    "the tests that need a machine that keeps running skip\n");
    }
  if (!probe_idles)
    {
      g_test_skip ("the probe guest has no idle mode (mode=idle) yet");
      return FALSE;
    }
  return TRUE;
}

static void
test_start_stop (Fixture       *f,
                 gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GArray) states = g_array_new (FALSE, FALSE, sizeof (VivMachineState));
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  VivMachine *machine;

  if (!need_kvm ())
    return;

  machine = create (f, probe_config ("Probe", "mode=idle"));
  g_signal_connect (machine, "notify::state", G_CALLBACK (on_state), states);
  g_assert_true (START (machine, &error));
  g_assert_no_error (error);
  g_assert_true (saw_state (states, VIV_MACHINE_STATE_STARTING));
  g_assert_true (viv_machine_is_active (machine) ||
                 viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED);

  if (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING)
    {
      /* a second start is refused */
      g_assert_false (START (machine, &error));
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
      g_clear_error (&error);
    }

  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, 1500);
  if (viv_machine_get_state (machine) != VIV_MACHINE_STATE_STOPPED)
    {
      /* the probe idles: press the power button */
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
      viv_test_sleep_ms (1100);
      g_assert_cmpuint (viv_machine_get_uptime (machine), >=, 1);
      g_assert_true (SHUTDOWN (machine, &error));
      g_assert_no_error (error);
      WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
      g_assert_true (saw_state (states, VIV_MACHINE_STATE_SHUTTING_DOWN));
    }

  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_true (saw_state (states, VIV_MACHINE_STATE_RUNNING));
  g_signal_handlers_disconnect_by_data (machine, states);

  /* and it starts again at once, while its last helper may still be on
   * its way out */
  g_assert_true (START (machine, &error));
  g_assert_no_error (error);
  stop_all (f->library);

  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_assert_false (viv_machine_is_active (machine));
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_null (viv_machine_get_error_message (machine));
  g_assert_cmpuint (viv_machine_get_uptime (machine), ==, 0);

  viv_machine_read_log_async (machine, 64 * 1024, NULL, viv_test_store_result, &result);
  log = viv_machine_read_log_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (log, viv_machine_get_uuid (machine)));
}

static void
test_start_fails (Fixture       *f,
                  gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) config = probe_config ("No kernel", "mode=idle");
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *log = NULL;
  VivMachine *machine;

  /* The real engine: it looks for KVM before the kernel (without KVM,
   * test_start_refused covers the refusal with a fake engine) */
  if (!have_kvm)
    {
      g_test_skip ("/dev/kvm, VIVARIUM_VMM or VIVARIUM_PROBE_ELF is missing");
      return;
    }

  g_free (config->boot.kernel);
  config->boot.kernel = g_strdup ("/nonexistent/vmlinuz");
  machine = create (f, g_steal_pointer (&config));
  g_assert_false (START (machine, &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_CRASHED);
  g_assert_nonnull (viv_machine_get_error_message (machine));
  /* field names belong in the log, not in what people read */
  g_assert_null (strstr (viv_machine_get_error_message (machine), "boot.kernel"));
  g_assert_false (viv_machine_is_active (machine));
  g_clear_error (&error);
  viv_machine_read_log_async (machine, 64 * 1024, NULL, viv_test_store_result, &result);
  log = viv_machine_read_log_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (log, "boot.kernel"));
}

/* A start the engine refuses, with a fake engine that says what the real
 * one would (on stderr) and exits 1: no KVM needed. */
typedef struct
{
  const char             *said;       /* its stderr */
  int                     status;     /* its exit status */
  VivMachineStartFailure  failure;
  const char             *field;      /* in the log, not in the message */
} StartFailure;

static const StartFailure start_failures[] = {
  { "vivarium-vmm: backing file base.qcow2 of /m/disk.qcow2 cannot be opened: "
    "No such file or directory (disks[0].path)", 1,
    VIV_MACHINE_START_FAILURE_DISK, "disks[0].path" },
  { "vivarium-vmm: Cannot read the kernel: /m/vmlinuz is not a Linux kernel "
    "(boot.kernel)", 1,
    VIV_MACHINE_START_FAILURE_KERNEL, "boot.kernel" },
  { "vivarium-vmm: /m: machine.json: memory_mib must be at least 16", 1,
    VIV_MACHINE_START_FAILURE_SETTINGS, "memory_mib" },
  { "vivarium-vmm: KVM is not available: /dev/kvm does not exist.", 2,
    VIV_MACHINE_START_FAILURE_NO_KVM, "/dev/kvm" },
  { "vivarium-vmm: Cannot start the virtual machine: Out of memory", 1,
    VIV_MACHINE_START_FAILURE_OTHER, "Out of memory" },
};

static void
test_start_refused (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autofree char *fake = g_build_filename (root, "fake-vmm", NULL);
  g_autofree char *saved = g_strdup (g_getenv ("VIVARIUM_VMM"));

  for (guint i = 0; i < G_N_ELEMENTS (start_failures); i++)
    {
      const StartFailure *sf = &start_failures[i];
      g_autofree char *name = g_strdup_printf ("Refused %u", i);
      g_autofree char *script =
        g_strdup_printf ("#!/bin/sh\n"
                         "echo '[    0.000100] vivarium-vmm info: state: starting' >&2\n"
                         "echo '%s' >&2\n"
                         "exit %d\n", sf->said, sf->status);
      g_autoptr(VivMachineConfig) config = viv_machine_config_new (name, 64 * MIB, 1);
      g_autoptr(GError) error = NULL;
      g_autoptr(GAsyncResult) result = NULL;
      g_autofree char *log = NULL;
      VivMachine *machine;
      const char *message;

      g_test_message ("engine says: %s", sf->said);
      g_assert_true (g_file_set_contents (fake, script, -1, NULL));
      g_assert_cmpint (g_chmod (fake, 0755), ==, 0);
      g_setenv ("VIVARIUM_VMM", fake, TRUE);

      config->boot.kind = VIV_BOOT_KIND_KERNEL;
      config->boot.kernel = g_strdup ("/nonexistent/vmlinuz");
      machine = create (f, g_steal_pointer (&config));
      g_assert_cmpint (viv_machine_get_start_failure (machine), ==,
                       VIV_MACHINE_START_FAILURE_NONE);
      g_assert_false (START (machine, &error));
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED);

      /* not a crash: said in words, with what it is about */
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_CRASHED);
      g_assert_cmpint (viv_machine_get_start_failure (machine), ==, sf->failure);
      g_assert_cmpstr (viv_machine_get_state_label (machine), ==, "Could Not Start");
      message = viv_machine_get_error_message (machine);
      g_assert_nonnull (message);
      g_test_message ("the app says: %s", message);
      g_assert_cmpstr (error->message, ==, message);
      g_assert_null (strstr (message, sf->field));
      g_assert_null (strstr (message, "vivarium-vmm"));
      g_assert_false (viv_machine_is_active (machine));

      /* the engine's words, start-up lines included, are in the log */
      g_clear_error (&error);
      viv_machine_read_log_async (machine, 64 * 1024, NULL, viv_test_store_result, &result);
      log = viv_machine_read_log_finish (machine, viv_test_wait_result (&result), &error);
      g_assert_no_error (error);
      g_assert_nonnull (strstr (log, sf->said));
      g_assert_nonnull (strstr (log, "vivarium-vmm info: state: starting"));
    }

  if (saved != NULL)
    g_setenv ("VIVARIUM_VMM", saved, TRUE);
  else
    g_unsetenv ("VIVARIUM_VMM");
}

static void
test_force_off (Fixture       *f,
                gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  VivMachine *machine;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Force off", "mode=idle");
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_true (FORCE_OFF (machine, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_null (viv_machine_get_error_message (machine));

  /* not running: refused */
  g_assert_false (FORCE_OFF (machine, &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
}

/* With user-mode networking (machine.json's default), the guest's DHCP
 * lease reaches the app as the machine's address */
static void
test_guest_address (Fixture       *f,
                    gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  const char *const *addresses;
  VivMachine *machine;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Leased", "mode=idle dhcp=1");
  WAIT_UNTIL (viv_machine_get_guest_addresses (machine) != NULL, TIMEOUT_MS);
  addresses = viv_machine_get_guest_addresses (machine);
  g_assert_nonnull (addresses);
  g_assert_cmpstr (addresses[0], ==, "10.0.2.15");
  g_assert_null (addresses[1]);
  g_assert_true (FORCE_OFF (machine, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_assert_null (viv_machine_get_guest_addresses (machine));
}

static void
test_pause_resume (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  VivMachine *machine;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Pause", "mode=idle");
  g_assert_true (run_action (machine, viv_machine_pause_async, viv_machine_pause_finish,
                             &error));
  g_assert_no_error (error);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_PAUSED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_PAUSED);

  /* paused twice: the helper says no */
  g_assert_false (run_action (machine, viv_machine_pause_async, viv_machine_pause_finish,
                              &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
  g_clear_error (&error);

  g_assert_true (run_action (machine, viv_machine_resume_async, viv_machine_resume_finish,
                             &error));
  g_assert_no_error (error);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);

  /* a reset boots it again in the same helper */
  WAIT_UNTIL (viv_machine_get_uptime (machine) >= 1, 3000);
  g_assert_cmpuint (viv_machine_get_uptime (machine), >=, 1);
  g_assert_true (run_action (machine, viv_machine_reset_async, viv_machine_reset_finish,
                             &error));
  g_assert_no_error (error);
  WAIT_UNTIL (viv_machine_get_uptime (machine) == 0, TIMEOUT_MS);
  g_assert_cmpuint (viv_machine_get_uptime (machine), ==, 0);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_true (viv_machine_is_active (machine));
}

static void
test_crash (Fixture       *f,
            gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *victim;
  VivMachine *bystander;
  GPid pid;

  if (!need_idle (f))
    return;

  victim = start_probe (f, "Victim", "mode=idle");
  bystander = start_probe (f, "Bystander", "mode=idle");
  g_assert_cmpint (viv_machine_get_state (victim), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_cmpint (viv_machine_get_state (bystander), ==, VIV_MACHINE_STATE_RUNNING);

  pid = helper_pid (victim);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);

  WAIT_UNTIL (viv_machine_get_state (victim) == VIV_MACHINE_STATE_CRASHED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (victim), ==, VIV_MACHINE_STATE_CRASHED);
  g_assert_false (viv_machine_is_active (victim));
  g_assert_nonnull (viv_machine_get_error_message (victim));
  g_test_message ("%s", viv_machine_get_error_message (victim));
  g_assert_nonnull (strstr (viv_machine_get_error_message (victim), "signal 9"));
  /* with the end of its log */
  g_assert_nonnull (strstr (viv_machine_get_error_message (victim), "vmm.log"));

  viv_test_sleep_ms (300);
  g_assert_cmpint (viv_machine_get_state (bystander), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_null (viv_machine_get_error_message (bystander));

  /* a crashed machine starts again, and the message goes */
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (START (victim, &error));
    g_assert_no_error (error);
    g_assert_null (viv_machine_get_error_message (victim));
  }
}

static void
test_attach (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivLibrary) restarted = NULL;
  g_autoptr(GError) error = NULL;
  VivMachine *machine;
  VivMachine *found;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Long runner", "mode=idle");

  /* the app restarted: a new library finds the helper running */
  restarted = load_library ();
  found = viv_library_find (restarted, viv_machine_get_uuid (machine));
  g_assert_nonnull (found);
  WAIT_UNTIL (viv_machine_get_state (found) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (found), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_true (viv_machine_is_active (found));
  WAIT_UNTIL (viv_machine_get_uptime (found) >= 1, 3000);
  g_assert_cmpuint (viv_machine_get_uptime (found), >=, 1);

  /* deleting it is refused there too */
  g_assert_false (viv_library_delete_machine (restarted, found, &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
  g_clear_error (&error);

  /* switched off from the new one: both see it stop */
  g_assert_true (FORCE_OFF (found, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (!viv_machine_is_active (found) && !viv_machine_is_active (machine), TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (found), ==, VIV_MACHINE_STATE_STOPPED);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);

  /* nothing runs it now */
  {
    g_autoptr(GAsyncResult) result = NULL;

    viv_machine_attach_async (found, NULL, viv_test_store_result, &result);
    g_assert_false (viv_machine_attach_finish (found, viv_test_wait_result (&result), &error));
    g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_NOT_FOUND);
  }
}

static void
test_attach_crash (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivLibrary) restarted = NULL;
  VivMachine *machine;
  VivMachine *found;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Killed later", "mode=idle");
  restarted = load_library ();
  found = viv_library_find (restarted, viv_machine_get_uuid (machine));
  WAIT_UNTIL (viv_machine_get_state (found) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (found), ==, VIV_MACHINE_STATE_RUNNING);

  /* not our child: its end is seen through its connection */
  g_assert_cmpint (kill (helper_pid (found), SIGKILL), ==, 0);
  WAIT_UNTIL (viv_machine_get_state (found) == VIV_MACHINE_STATE_CRASHED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (found), ==, VIV_MACHINE_STATE_CRASHED);
  g_assert_nonnull (viv_machine_get_error_message (found));
  g_test_message ("%s", viv_machine_get_error_message (found));
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_CRASHED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_CRASHED);
}

static void
test_serial (Fixture       *f,
             gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  VivMachine *machine;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Serial", "mode=idle");
  viv_machine_open_serial_async (machine, NULL, viv_test_store_result, &result);
  stream = viv_machine_open_serial_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_true (G_IS_SOCKET_CONNECTION (stream));

  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (stream), 4096,
                                   G_PRIORITY_DEFAULT, NULL, on_serial_read, out);
  WAIT_UNTIL (strstr (out->str, "tick ") != NULL, TIMEOUT_MS);
  g_assert_nonnull (strstr (out->str, "tick "));

  g_io_stream_close (stream, NULL, NULL);
  /* let the pending read finish before OUT goes */
  viv_test_sleep_ms (50);

  /* not running: refused */
  g_assert_true (FORCE_OFF (machine, &error));
  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_clear_object (&result);
  viv_machine_open_serial_async (machine, NULL, viv_test_store_result, &result);
  g_assert_null (viv_machine_open_serial_finish (machine, viv_test_wait_result (&result), &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
}

/* A connected stream socket: what OpenDisplay gives */
static gboolean
is_connected_stream (int fd)
{
  struct sockaddr_storage peer;
  socklen_t len = sizeof peer;
  int type = 0;
  socklen_t type_len = sizeof type;

  return getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM
         && getpeername (fd, (struct sockaddr *) &peer, &len) == 0;
}

/* A SPICE server at the other end of FD: a link header of a major version
 * it does not speak gets its own header back ("REDQ", then the error) */
static gboolean
speaks_spice (int fd)
{
  const guint32 link[4] = { GUINT32_FROM_LE (0x51444552u) /* "REDQ" */, GUINT32_TO_LE (99),
                            0, 0 };
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  char reply[4];

  return write (fd, link, sizeof link) == sizeof link && poll (&pfd, 1, TIMEOUT_MS) == 1
         && read (fd, reply, sizeof reply) == sizeof reply && memcmp (reply, "REDQ", 4) == 0;
}

/* A socket to the SPICE server per call; refused when not running */
static void
test_open_display (Fixture       *f,
                   gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  VivMachine *machine;
  int fd1, fd2;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Display", "mode=idle");
  g_assert_cmpint (viv_machine_get_config (machine)->display.kind, ==, VIV_DISPLAY_KIND_SPICE);
  viv_machine_open_display_async (machine, NULL, viv_test_store_result, &result);
  fd1 = viv_machine_open_display_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd1, >=, 0);
  g_assert_true (is_connected_stream (fd1));
  g_clear_object (&result);
  viv_machine_open_display_async (machine, NULL, viv_test_store_result, &result);
  fd2 = viv_machine_open_display_finish (machine, viv_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd2, >=, 0);
  g_assert_cmpint (fd2, !=, fd1);
  g_assert_true (is_connected_stream (fd2));
  g_assert_true (speaks_spice (fd2));
  close (fd1);
  close (fd2);

  g_assert_true (FORCE_OFF (machine, &error));
  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_clear_object (&result);
  viv_machine_open_display_async (machine, NULL, viv_test_store_result, &result);
  g_assert_cmpint (viv_machine_open_display_finish (machine, viv_test_wait_result (&result),
                                                    &error), ==, -1);
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
}

static void
test_running_changes (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  g_autoptr(VivMachineConfig) on_disk = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;
  VivMachine *machine;

  if (!need_idle (f))
    return;

  machine = start_probe (f, "Busy", "mode=idle");
  path = machine_json_path (machine);
  dir = g_strdup (viv_machine_get_directory (machine));

  /* resources while running: saved, applied at the next start */
  g_assert_false (viv_machine_get_pending_changes (machine));
  set_resources (machine, 128 * MIB, 2, &error);
  g_assert_no_error (error);
  g_assert_true (viv_machine_get_pending_changes (machine));
  on_disk = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (on_disk->memory, ==, 128 * MIB);
  g_assert_cmpuint (on_disk->cpus, ==, 2);
  /* back to what it runs with: nothing pending */
  set_resources (machine, 64 * MIB, 1, &error);
  g_assert_no_error (error);
  g_assert_false (viv_machine_get_pending_changes (machine));
  set_resources (machine, 128 * MIB, 1, &error);
  g_assert_no_error (error);
  g_assert_true (viv_machine_get_pending_changes (machine));

  /* renaming while running is fine */
  rename_machine (machine, "Busy bee", &error);
  g_assert_no_error (error);

  /* deleting is not */
  g_assert_false (viv_library_delete_machine (f->library, machine, &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  g_assert_true (in_model (f->library, machine));

  /* stopped: nothing pending any more */
  g_assert_true (FORCE_OFF (machine, &error));
  WAIT_UNTIL (!viv_machine_is_active (machine), TIMEOUT_MS);
  g_assert_false (viv_machine_get_pending_changes (machine));

  g_assert_true (viv_library_delete_machine (f->library, machine, &error));
  g_assert_no_error (error);
}

/* --- helpers found in the runtime folder ------------------------------------------- */

/* Waits for a subprocess to end; its exit status (or -1 if it did not exit) */
static int
wait_exit (GSubprocess *process)
{
  g_autoptr(GAsyncResult) result = NULL;

  g_subprocess_wait_async (process, NULL, viv_test_store_result, &result);
  g_assert_true (g_subprocess_wait_finish (process, viv_test_wait_result (&result), NULL));
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

/* A helper started elsewhere (another Vivarium, a terminal) is followed as
 * soon as it appears, not only when the library loads */
static void
test_helper_appears (Fixture       *f,
                     gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Started Elsewhere"));
  VivTestFakeHelper *helper;

  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
  helper = viv_test_fake_helper_serve (machine);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_RUNNING, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_RUNNING);
  g_assert_true (viv_machine_is_active (machine));

  /* It ends there: the machine is off here */
  viv_test_fake_helper_free (helper);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
}

/* A helper that holds the lock but cannot be reached is neither "Off" nor
 * started again; forcing it off ends that process */
static void
test_helper_unreachable (Fixture       *f,
                         gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Unreachable"));
  g_autoptr(VivLibrary) second = NULL;
  VivMachine *there;

  for (guint refuse = 0; refuse <= 1; refuse++)
    {
      g_autoptr(GSubprocess) process = NULL;
      g_autoptr(GError) error = NULL;
      GPid pid;

      g_test_message ("the helper has %s", refuse ? "a socket that refuses" : "no socket");
      process = viv_test_unreachable_helper_new (machine, refuse, &pid);
      WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_UNREACHABLE, TIMEOUT_MS);
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_UNREACHABLE);
      g_assert_cmpint (viv_machine_get_helper_pid (machine), ==, pid);
      g_assert_cmpstr (viv_machine_get_state_label (machine), ==,
                       viv_machine_state_to_string (VIV_MACHINE_STATE_UNREACHABLE));
      g_assert_false (viv_machine_is_active (machine));

      /* Another app instance sees it the same way when it loads */
      second = load_library ();
      there = viv_library_find (second, viv_machine_get_uuid (machine));
      g_assert_nonnull (there);
      WAIT_UNTIL (viv_machine_get_state (there) == VIV_MACHINE_STATE_UNREACHABLE, TIMEOUT_MS);
      g_assert_cmpint (viv_machine_get_state (there), ==, VIV_MACHINE_STATE_UNREACHABLE);
      g_assert_cmpint (viv_machine_get_helper_pid (there), ==, pid);

      /* Neither started a second time nor deleted under it */
      g_assert_false (START (machine, &error));
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
      g_clear_error (&error);
      g_assert_false (viv_library_delete_machine (f->library, machine, &error));
      g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE);
      g_clear_error (&error);

      /* Force Off: SIGTERM, which a helper ends on */
      g_assert_true (FORCE_OFF (machine, &error));
      g_assert_no_error (error);
      g_assert_cmpint (wait_exit (process), ==, 0);
      WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED &&
                  viv_machine_get_state (there) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
      g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
      g_assert_cmpint (viv_machine_get_state (there), ==, VIV_MACHINE_STATE_STOPPED);
      g_assert_cmpint (viv_machine_get_helper_pid (machine), ==, 0);
      stop_all (second);
      g_clear_object (&second);
    }
}

/* A process that holds the lock but is not a vivarium-vmm gets no signal */
static void
test_helper_impostor (Fixture       *f,
                      gconstpointer  data G_GNUC_UNUSED)
{
  VivMachine *machine = create (f, plain_config ("Impostor"));
  g_autofree char *lock_path = g_strconcat (runtime_dir, "/vivarium/",
                                            viv_machine_get_uuid (machine), ".lock", NULL);
  g_autofree char *lock_dir = g_path_get_dirname (lock_path);
  g_autofree char *pid_text = g_strdup_printf ("%d\n", (int) getpid ());
  g_autoptr(GError) error = NULL;
  int fd;

  g_assert_cmpint (g_mkdir_with_parents (lock_dir, 0700), ==, 0);
  fd = open (lock_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX | LOCK_NB), ==, 0);
  g_assert_cmpint (write (fd, pid_text, strlen (pid_text)), ==, (gssize) strlen (pid_text));

  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_UNREACHABLE, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_UNREACHABLE);
  g_assert_cmpint (viv_machine_get_helper_pid (machine), ==, getpid ());

  /* This process is no vivarium-vmm: it is left alone (we are still here) */
  g_assert_false (FORCE_OFF (machine, &error));
  g_assert_error (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_FAILED);
  g_test_message ("%s", error->message);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_UNREACHABLE);

  /* The lock goes: the machine is off */
  close (fd);
  WAIT_UNTIL (viv_machine_get_state (machine) == VIV_MACHINE_STATE_STOPPED, TIMEOUT_MS);
  g_assert_cmpint (viv_machine_get_state (machine), ==, VIV_MACHINE_STATE_STOPPED);
}

/* --- helpers a failed test leaves behind ---------------------------------------------- */

#define LEAVE_HELPER_ARG "--leave-helper-and-abort"

/* The child of test_helpers_reaped(): a test program of its own (its own
 * folder, since VIV_TEST_ROOT is not passed on) that starts a helper as the
 * app does (its own session: it outlives us), says its pid and folder, and
 * fails on an assertion. */
static int
leave_helper_and_abort (const char *program)
{
  g_autofree char *child_root = viv_test_init_folders (program);
  g_autofree char *dir = g_build_filename (child_root, "data", "vivarium", "machines",
                                           "0b5e0b5e-0000-4000-8000-00000000a11e", NULL);
  g_autoptr(VivHelper) helper = NULL;
  g_autoptr(GError) error = NULL;
  GPid pid = 0;
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  helper = viv_helper_spawn (dir, "0b5e0b5e-0000-4000-8000-00000000a11e", NULL, &error);
  g_assert_no_error (error);
  while (viv_helper_probe ("0b5e0b5e-0000-4000-8000-00000000a11e", &pid) == VIV_HELPER_ABSENT &&
         g_get_monotonic_time () < deadline)
    g_usleep (10 * 1000);
  g_assert_cmpint (pid, >, 0);
  g_print ("%d %s\n", (int) pid, child_root);
  fflush (stdout);
  g_assert_not_reached ();   /* a test failing, with a helper running */
  return 0;
}

static gboolean
helper_alive (GPid pid)
{
  return viv_helper_is_helper_process (pid);
}

/* A test program that aborts with a helper running: the harness ends the
 * helper, removes the program's folder and notes it for leftover-helpers */
static void
test_helpers_reaped (void)
{
  const char *fake_vmm = g_getenv ("VIVARIUM_TEST_FAKE_VMM");
  g_autofree char *leftovers = g_build_filename (root, "leftovers", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *line = NULL;
  g_auto(GStrv) words = NULL;
  g_autoptr(GDir) notes = NULL;
  GPid pid;
  gboolean gone;

  g_assert_nonnull (fake_vmm);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_unsetenv (launcher, "VIV_TEST_ROOT");
  g_subprocess_launcher_setenv (launcher, "VIVARIUM_VMM", fake_vmm, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIVARIUM_TEST_LEFTOVERS", leftovers, TRUE);
  child = g_subprocess_launcher_spawn (launcher, &error, self_exe, LEAVE_HELPER_ARG, NULL);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (line);
  words = g_strsplit (line, " ", 2);
  g_assert_cmpuint (g_strv_length (words), ==, 2);
  pid = (GPid) g_ascii_strtoll (words[0], NULL, 10);
  g_assert_cmpint (pid, >, 0);

  g_assert_true (g_subprocess_wait (child, NULL, NULL));
  g_assert_true (g_subprocess_get_if_signaled (child));
  g_assert_cmpint (g_subprocess_get_term_sig (child), ==, SIGABRT);

  /* The helper goes soon after: it is no child of ours to wait for */
  WAIT_UNTIL (!helper_alive (pid), TIMEOUT_MS);
  gone = !helper_alive (pid);
  if (!gone)
    kill (pid, SIGKILL);   /* not ours to leave either */
  g_assert_true (gone);

  /* Its folder is swept, and the suite hears of it */
  WAIT_UNTIL (!g_file_test (words[1], G_FILE_TEST_EXISTS), TIMEOUT_MS);
  g_assert_false (g_file_test (words[1], G_FILE_TEST_EXISTS));
  notes = g_dir_open (leftovers, 0, NULL);
  g_assert_nonnull (notes);
  g_assert_nonnull (g_dir_read_name (notes));
  viv_file_remove_tree (leftovers);
}

/* --- main ----------------------------------------------------------------------------- */

int
main (int   argc,
      char *argv[])
{
  int status;

  if (argc == 2 && strcmp (argv[1], LEAVE_HELPER_ARG) == 0)
    return leave_helper_and_abort (argv[0]);

  /* A child started by g_test_trap_subprocess() shares its parent's folder */
  root = viv_test_init (&argc, &argv);
  data_home = g_build_filename (root, "data", NULL);
  runtime_dir = g_build_filename (root, "run", NULL);
  have_kvm = viv_test_can_run_machines (&probe_path, "the tests that run machines skip");

#define ADD(name, fn) g_test_add ("/library/" name, Fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("create-load", test_create_load);
  ADD ("rename", test_rename);
  ADD ("set-resources", test_set_resources);
  ADD ("delete-undo", test_delete_undo);
  ADD ("delete-commit", test_delete_commit);
  ADD ("staging-leftover", test_staging_leftover);
  g_test_add_func ("/library/atomic-write", test_atomic_write);
  ADD ("replace-hook", test_replace_hook);
  ADD ("broken", test_broken);
  ADD ("not-a-file", test_not_a_file);
  ADD ("external-edit", test_external_edit);
  ADD ("external-add-remove", test_external_add_remove);
  ADD ("thumbnail", test_thumbnail);
  ADD ("many", test_many);
  ADD ("machine/start-fails", test_start_fails);
  ADD ("machine/start-refused", test_start_refused);
  ADD ("machine/start-stop", test_start_stop);
  ADD ("machine/force-off", test_force_off);
  ADD ("machine/pause-resume", test_pause_resume);
  ADD ("machine/crash", test_crash);
  ADD ("machine/attach", test_attach);
  ADD ("machine/attach-crash", test_attach_crash);
  ADD ("machine/serial", test_serial);
  ADD ("machine/open-display", test_open_display);
  ADD ("machine/running-changes", test_running_changes);
  ADD ("machine/guest-address", test_guest_address);
  ADD ("helper/appears", test_helper_appears);
  ADD ("helper/unreachable", test_helper_unreachable);
  ADD ("helper/impostor", test_helper_impostor);
  g_test_add_func ("/library/helper/reaped", test_helpers_reaped);

  status = g_test_run ();

  viv_test_finish (root);
  g_free (data_home);
  g_free (runtime_dir);
  return status;
}
