/* vmm-test-machine.c: running vivarium-vmm on a machine folder
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vmm-test-machine.h"

#include <errno.h>

#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

char *
vmm_test_machine_write (const char *dir, const char *uuid, const char *probe,
                        const char *cmdline, guint64 memory, const char *extra)
{
  g_autofree char *json = NULL;
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);

  g_mkdir_with_parents (dir, 0755);
  json = g_strdup_printf ("{\n"
                          "  \"version\": 1,\n"
                          "  \"uuid\": \"%s\",\n"
                          "  \"name\": \"Probe\",\n"
                          "  \"memory\": %" G_GUINT64_FORMAT ",\n"
                          "  \"cpus\": 1,\n"
                          "  \"boot\": { \"kind\": \"kernel\", \"kernel\": \"%s\","
                          " \"cmdline\": \"%s\" },\n"
                          "%s\n"
                          "}\n", uuid, memory, probe, cmdline,
                          extra ? extra : "  \"devices\": { \"rng\": false }");
  g_assert_true (g_file_set_contents (path, json, -1, NULL));
  return g_steal_pointer (&path);
}

/* A test that aborts must not leave helpers behind (they would keep the
 * test's output pipes open, and run forever). */
static void
die_with_parent (gpointer data)
{
  (void) data;
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

GSubprocess *
vmm_test_machine_spawn (const char *vmm, const char *runtime_dir, const char *machine_dir,
                        GSubprocessFlags flags)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (flags | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr(GError) error = NULL;
  GSubprocess *p;

  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime_dir, TRUE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  p = g_subprocess_launcher_spawn (launcher, &error, vmm, "--machine", machine_dir, NULL);
  g_assert_no_error (error);
  return p;
}

VivVmm1 *
vmm_test_machine_connect (const char *socket_path, GDBusConnection **conn_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *address = g_strdup_printf ("unix:path=%s", socket_path);
  GDBusConnection *conn;
  VivVmm1 *proxy;

  conn = g_dbus_connection_new_for_address_sync (address,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                                                 NULL, NULL, &error);
  g_assert_no_error (error);
  proxy = viv_vmm1_proxy_new_sync (conn, G_DBUS_PROXY_FLAGS_NONE, NULL, "/org/vivarium/Vmm1",
                                   NULL, &error);
  g_assert_no_error (error);
  *conn_out = conn;
  return proxy;
}

int
vmm_test_machine_open_serial (VivVmm1 *proxy)
{
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) handle = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  g_assert_true (viv_vmm1_call_open_serial_sync (proxy, NULL, &handle, &fds, NULL, &error));
  g_assert_no_error (error);
  fd = g_unix_fd_list_get (fds, g_variant_get_handle (handle), &error);
  g_assert_no_error (error);
  g_assert_cmpint (fcntl (fd, F_SETFL, O_NONBLOCK), ==, 0);
  return fd;
}

gboolean
vmm_test_machine_drain (int fd, GString *to)
{
  char buf[4096];
  ssize_t n;

  if (fd < 0)
    return FALSE;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (to, buf, n);
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}
