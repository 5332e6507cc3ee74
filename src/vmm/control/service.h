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

struct vmm_service_options {
  const char *machine_dir;
  const char *kvm_path;             /* NULL: /dev/kvm */
  gboolean verbose;
};

/* Loads DIR/machine.json, takes the machine's lock, builds and runs the VM,
 * serves org.vivarium.Vmm1 on $XDG_RUNTIME_DIR/vivarium/<uuid>.sock until
 * the machine stops. Returns an exit status; errors before the machine
 * runs are printed on stderr (and nothing in DIR is changed). */
int vmm_service_run (const struct vmm_service_options *options);
