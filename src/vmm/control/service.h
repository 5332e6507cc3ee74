/* control/service.h: vivarium-vmm --machine DIR, the org.vivarium.Vmm1 service
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

/* Exit statuses of the helper (also in --help) */
enum {
  VMM_SERVICE_EXIT_OK = 0,          /* the machine stopped (power-off, Quit, SIGTERM) */
  VMM_SERVICE_EXIT_FAILED = 1,      /* the machine could not start, or crashed */
  VMM_SERVICE_EXIT_NO_KVM = 2,
  VMM_SERVICE_EXIT_RUNNING = 4,     /* another helper already runs this machine */
};

/* What one helper lets its clients hold. A connection is "pending" until it
 * has authenticated; one that takes longer than the timeout is closed. A
 * client is dropped when it falls more than VMM_SERVICE_MAX_BEHIND messages
 * behind (it stopped reading: signals would pile up for it forever). */
#define VMM_SERVICE_MAX_PENDING      8
#define VMM_SERVICE_MAX_CLIENTS      32
#define VMM_SERVICE_MAX_BEHIND       2048
#define VMM_SERVICE_AUTH_TIMEOUT_MS  15000

struct vmm_service_options {
  const char *machine_dir;
  const char *kvm_path;             /* NULL: /dev/kvm */
  gboolean verbose;
  guint auth_timeout_ms;            /* 0: VMM_SERVICE_AUTH_TIMEOUT_MS (tests set it shorter) */
  const char *restore_id;           /* NULL, or the snapshot (of a running machine) it starts
                                     * from instead of booting */
};

/* Raises the soft limit on open files to the hard one (a machine with long
 * backing chains needs hundreds), checks that the machine fits in it,
 * loads DIR/machine.json, takes the machine's lock, builds and runs the VM,
 * serves org.vivarium.Vmm1 on $XDG_RUNTIME_DIR/vivarium/<uuid>.sock until
 * the machine stops. Returns an exit status; errors before the machine
 * runs are printed on stderr (and nothing in DIR is changed). */
int vmm_service_run (const struct vmm_service_options *options);
