/* dispatch.h: what a vCPU exit does
 *
 * The vCPU loop (run.c) gets an exit from kvm/ and hands it here: port and
 * MMIO accesses go to the buses, the guest's power-off and reset requests
 * and the exits it cannot survive go to the callbacks. Nothing here touches
 * KVM or a thread, so a unit test can feed it exits it made up.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "bus.h"
#include "kvm/exit.h"
#include "log.h"

/* Why a VM stops. */
enum vmm_exit_reason {
  VMM_EXIT_NONE,
  VMM_EXIT_POWER_OFF,          /* the guest powered off (ACPI S5) */
  VMM_EXIT_RESET,              /* the guest reset (or triple-faulted) */
  VMM_EXIT_STOPPED,            /* stopped from outside (a signal, the app) */
  VMM_EXIT_ERROR,              /* KVM or the VMM failed */
};

struct vmm_dispatch {
  struct vmm_bus *pio;
  struct vmm_bus *mmio;
  struct vmm_ratelimit *unhandled_rl;   /* MMIO that hits nothing is the guest's doing */

  /* Called on the vCPU's thread, with OPAQUE. */
  void *opaque;
  /* The guest asked to power off, or for a reset (KVM system events). */
  void (*power_off)     (void *opaque);
  void (*reset)         (void *opaque);
  /* The guest cannot go on: REASON is VMM_EXIT_RESET after a triple fault,
   * VMM_EXIT_ERROR otherwise; MESSAGE says why. */
  void (*stop)          (void *opaque, enum vmm_exit_reason reason, const char *message);
  /* Logs the registers of vCPU VCPU; called before stop where they say
   * where the guest died. */
  void (*log_registers) (void *opaque, unsigned vcpu);
};

void vmm_exit_dispatch (const struct vmm_dispatch *dispatch, const struct vmm_exit *exit);
