/* kvm/irq.h: the VM's GSI routing table
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so one router owns it: the
 * fixed ISA/IOAPIC entries (GSI 0 goes to IOAPIC pin 2, as the MADT's
 * interrupt source override says; the 8259 pair sees GSIs 0-15) and one MSI
 * entry per allocated GSI above the IOAPIC pins.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vmm_irq_msi {
  bool used;      /* allocated */
  bool routed;    /* has an address: in the table */
  uint64_t address;
  uint32_t data;
};

struct vmm_irq_router {
  int vm_fd;
  pthread_mutex_t lock;
  unsigned n_gsi;              /* KVM's limit (KVM_CAP_IRQ_ROUTING) */
  struct vmm_irq_msi *msi;     /* indexed by GSI; the IOAPIC pins unused */
};

/* Installs the fixed entries. Returns 0 or -errno. */
int  vmm_irq_router_init    (struct vmm_irq_router *r, int vm_fd, unsigned n_gsi);
void vmm_irq_router_destroy (struct vmm_irq_router *r);

/* Reserves a GSI for an MSI (no route until vmm_irq_router_set_msi).
 * Returns 0 with *gsi, or -ENOSPC. */
int  vmm_irq_router_alloc_msi (struct vmm_irq_router *r, unsigned *gsi);
void vmm_irq_router_free_msi  (struct vmm_irq_router *r, unsigned gsi);

/* Points GSI at the MSI ADDRESS/DATA a guest programmed, and commits the
 * table. Returns 0 or -errno (the old table stays on failure). */
int  vmm_irq_router_set_msi   (struct vmm_irq_router *r, unsigned gsi, uint64_t address,
                               uint32_t data);
