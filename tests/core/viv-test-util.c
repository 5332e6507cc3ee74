/* viv-test-util.c: what the app's tests share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <unistd.h>

#include "viv-test-util.h"

#define STOP_TIMEOUT_MS 30000

gboolean
viv_test_keep_going (gpointer data G_GNUC_UNUSED)
{
  return G_SOURCE_CONTINUE;
}

void
viv_test_sleep_ms (guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  WAIT_UNTIL (g_get_monotonic_time () >= end, ms + 1000);
}

void
viv_test_store_result (GObject      *object G_GNUC_UNUSED,
                       GAsyncResult *result,
                       gpointer      data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

GAsyncResult *
viv_test_wait_result (GAsyncResult **slot)
{
  WAIT_UNTIL (*slot != NULL, STOP_TIMEOUT_MS);
  g_assert_nonnull (*slot);
  return *slot;
}

gboolean
viv_test_can_run_machines (const char **probe_path)
{
  const char *vmm = g_getenv ("VIVARIUM_VMM");
  const char *probe = g_getenv ("VIVARIUM_PROBE_ELF");

  *probe_path = probe;
  return access ("/dev/kvm", R_OK | W_OK) == 0 &&
         vmm != NULL && g_file_test (vmm, G_FILE_TEST_IS_EXECUTABLE) &&
         probe != NULL && g_file_test (probe, G_FILE_TEST_IS_REGULAR);
}

GPid
viv_test_helper_pid (VivMachine *machine)
{
  g_autofree char *name = g_strconcat (viv_machine_get_uuid (machine), ".lock", NULL);
  g_autofree char *path = g_build_filename (g_get_user_runtime_dir (), "vivarium", name, NULL);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  return (GPid) g_ascii_strtoll (contents, NULL, 10);
}

void
viv_test_stop_machines (VivLibrary *library)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (library)); i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (G_LIST_MODEL (library), i);
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      if (!viv_machine_is_active (machine))
        continue;
      WAIT_UNTIL (viv_machine_get_state (machine) != VIV_MACHINE_STATE_STARTING, STOP_TIMEOUT_MS);
      viv_machine_force_off_async (machine, NULL, viv_test_store_result, &result);
      WAIT_UNTIL (result != NULL, STOP_TIMEOUT_MS);
      if (!viv_machine_force_off_finish (machine, result, &error))
        {
          GPid pid = viv_test_helper_pid (machine);

          g_test_message ("force-off of %s: %s", viv_machine_get_name (machine),
                          error->message);
          if (pid > 0)
            kill (pid, SIGKILL);
        }
      WAIT_UNTIL (!viv_machine_is_active (machine), STOP_TIMEOUT_MS);
      g_assert_false (viv_machine_is_active (machine));
    }
}
