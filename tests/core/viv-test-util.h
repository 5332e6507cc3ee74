/* viv-test-util.h: what the app's tests share: their start and end,
 * waiting on the main loop, async results, machines left running, and a
 * stand-in for a helper
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "viv-library.h"

G_BEGIN_DECLS

/* The start of a test program's main(): makes the program's folder ROOT
 * and points XDG_DATA_HOME at ROOT/data and XDG_RUNTIME_DIR at ROOT/run,
 * before anything reads them (GLib caches both); then g_test_init(). A
 * child started by g_test_trap_subprocess() shares its parent's folder.
 * Returns ROOT, for viv_test_finish().
 *
 * Helpers outlive the app by design, so a test that fails would leave the
 * ones it started running. A process forked here waits for the program to
 * end, however it ends, then ends every vivarium-vmm started with the
 * program's ROOT in its environment, removes ROOT, and notes in
 * $VIVARIUM_TEST_LEFTOVERS what it had to end: the suite's last test,
 * leftover-helpers, fails on those notes. A test must still stop what it
 * started: this is the net under it. */
char    *viv_test_init           (int         *argc,
                                  char      ***argv);

/* The folders of viv_test_init(), for a start of its own (PROGRAM names
 * the folder: argv[0]) */
char    *viv_test_init_folders   (const char   *program);

/* The end of main(): removes ROOT, unless this is a child that shares its
 * parent's, and frees it */
void     viv_test_finish         (char         *root);

gboolean viv_test_keep_going (gpointer data);

/* First thing in main(), before any thread: gives the program a mount
 * namespace of its own (a thread keeps the one it started in), so that
 * viv_test_mount_read_only()'s mounts go when it exits, however it ends.
 * Quietly does nothing where it may not (not root, a container). */
void     viv_test_private_mounts (void);

/* Makes the folder DIR read-only where it is (a read-only bind mount over
 * it, in the namespace of viv_test_private_mounts()); FALSE with *REASON,
 * for a skip, where mounts are not allowed */
gboolean viv_test_mount_read_only (const char  *dir,
                                   char       **reason);

/* Iterates the default main context until EXPR holds, for at most MS
 * milliseconds (a 10 ms tick keeps it from sleeping past the deadline) */
#define WAIT_UNTIL(expr, ms)                                                  \
  G_STMT_START {                                                              \
    gint64 wait_end_ = g_get_monotonic_time () + (gint64) (ms) * 1000;       \
    guint wait_tick_ = g_timeout_add (10, viv_test_keep_going, NULL);         \
    while (!(expr) && g_get_monotonic_time () < wait_end_)                    \
      g_main_context_iteration (NULL, TRUE);                                  \
    g_source_remove (wait_tick_);                                             \
  } G_STMT_END

/* Runs the main loop for MS milliseconds */
void     viv_test_sleep_ms       (guint        ms);

/* A GAsyncReadyCallback that stores a reference to the result in the
 * GAsyncResult* that DATA points to */
void     viv_test_store_result   (GObject      *object,
                                  GAsyncResult *result,
                                  gpointer      data);

/* Waits (30 s at most) for viv_test_store_result() to fill *SLOT; returns it */
GAsyncResult *viv_test_wait_result (GAsyncResult **slot);

/* Whether machines can run here: /dev/kvm can be opened, and
 * $VIVARIUM_VMM (the helper) and $VIVARIUM_PROBE_ELF (the probe guest) are
 * there. Sets *PROBE_PATH to the probe's path (or NULL). Where they cannot,
 * a TAP comment says why and that WHAT_SKIPS (once, not in children). */
gboolean viv_test_can_run_machines (const char **probe_path,
                                    const char  *what_skips);

/* The pid of MACHINE's helper, from its lock file; 0 if none */
GPid     viv_test_helper_pid     (VivMachine   *machine);

/* Switches off every machine of LIBRARY that runs (helpers outlive the app
 * by design): a force-off, then SIGKILL where that fails */
void     viv_test_stop_machines  (VivLibrary   *library);

/* A stand-in for a machine's helper (vivarium-vmm), served by the test
 * process itself: it holds the machine's lock and answers on its socket as
 * a running helper does, so the app attaches to it; what the test prints
 * is the guest's serial console output, replayed (the last 64 KiB) to each
 * new reader as the helper does. PowerOff and Quit stop it. The snapshot
 * methods change snapshots/index.json as the helper does (nothing else),
 * then say SnapshotsChanged. For tests of
 * what the app does with a running machine that need no /dev/kvm. */
typedef struct _VivTestFakeHelper VivTestFakeHelper;

/* Serves MACHINE's helper socket and attaches MACHINE to it: on return the
 * machine runs */
VivTestFakeHelper *viv_test_fake_helper_new   (VivMachine        *machine);

/* Serves MACHINE's helper socket as viv_test_fake_helper_new() does, but
 * does not attach MACHINE: a helper another Vivarium, or a terminal,
 * started */
VivTestFakeHelper *viv_test_fake_helper_serve (VivMachine        *machine);

/* Writes TEXT to the guest's serial console, as the guest prints it */
void               viv_test_fake_helper_print (VivTestFakeHelper *self,
                                               const char        *text);

/* Emits DiskError (org.vivarium.Vmm1), as a helper does when a disk
 * request fails on the host */
void               viv_test_fake_helper_disk_error (VivTestFakeHelper *self,
                                                    guint              disk,
                                                    const char        *path,
                                                    const char        *operation,
                                                    const char        *error,
                                                    const char        *message);

/* Sets GuestAddresses (org.vivarium.Vmm1), as a helper does when the
 * guest takes a DHCP lease; NULL or empty: none known */
void               viv_test_fake_helper_set_guest_addresses (VivTestFakeHelper  *self,
                                                             const char *const  *addresses);

/* Stops serving (the machine stops, as when a helper exits) and frees it */
void               viv_test_fake_helper_free  (VivTestFakeHelper *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivTestFakeHelper, viv_test_fake_helper_free)

/* A real process named vivarium-vmm (tests/core/fake-vmm.c) that holds
 * MACHINE's lock, with its pid (*PID) written there, and cannot be reached:
 * it has no socket, or (REFUSE) one that refuses connections. It ends with
 * status 0 on SIGTERM. Returns once it holds the lock. */
GSubprocess *viv_test_unreachable_helper_new (VivMachine *machine,
                                              gboolean    refuse,
                                              GPid       *pid);

G_END_DECLS
