/* kvm/irq.c: the VM's GSI routing table
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kvm/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"

#define N_FIXED (VMM_IOAPIC_PINS + 16)

static unsigned
fill_fixed (struct kvm_irq_routing_entry *e)
{
  unsigned n = 0;

  for (unsigned gsi = 0; gsi < VMM_IOAPIC_PINS; gsi++)
    {
      /* GSI 2 is the 8259 cascade; the PIT's IRQ 0 arrives on IOAPIC pin 2. */
      if (gsi == 2)
        continue;
      e[n++] = (struct kvm_irq_routing_entry) {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_IRQCHIP,
        .u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi },
      };
    }
  for (unsigned gsi = 0; gsi < 16; gsi++)
    {
      if (gsi == 2)
        continue;
      e[n++] = (struct kvm_irq_routing_entry) {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_IRQCHIP,
        .u.irqchip = {
          .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
          .pin = gsi % 8,
        },
      };
    }
  return n;
}

/* Called with the lock held. */
static int
commit (struct vmm_irq_router *r)
{
  struct kvm_irq_routing *table;
  unsigned n, max = N_FIXED + r->n_gsi;
  int ret = 0;

  table = calloc (1, sizeof *table + max * sizeof table->entries[0]);
  if (table == NULL)
    return -ENOMEM;
  n = fill_fixed (table->entries);
  for (unsigned gsi = VMM_IOAPIC_PINS; gsi < r->n_gsi; gsi++)
    if (r->msi[gsi].routed)
      table->entries[n++] = (struct kvm_irq_routing_entry) {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_MSI,
        .u.msi = {
          .address_lo = (uint32_t) r->msi[gsi].address,
          .address_hi = (uint32_t) (r->msi[gsi].address >> 32),
          .data = r->msi[gsi].data,
        },
      };
  table->nr = n;
  if (ioctl (r->vm_fd, KVM_SET_GSI_ROUTING, table) < 0)
    ret = -errno;
  free (table);
  return ret;
}

int
vmm_irq_router_init (struct vmm_irq_router *r, int vm_fd, unsigned n_gsi)
{
  int ret;

  memset (r, 0, sizeof *r);
  r->vm_fd = vm_fd;
  /* Enough for many devices; KVM's own limit is usually 4096. */
  r->n_gsi = n_gsi > 1024 ? 1024 : n_gsi;
  if (r->n_gsi <= VMM_IOAPIC_PINS)
    return -ENOTSUP;
  r->msi = calloc (r->n_gsi, sizeof *r->msi);
  if (r->msi == NULL)
    return -ENOMEM;
  pthread_mutex_init (&r->lock, NULL);
  pthread_mutex_lock (&r->lock);
  ret = commit (r);
  pthread_mutex_unlock (&r->lock);
  if (ret < 0)
    vmm_irq_router_destroy (r);
  return ret;
}

void
vmm_irq_router_destroy (struct vmm_irq_router *r)
{
  if (r->msi != NULL)
    {
      free (r->msi);
      pthread_mutex_destroy (&r->lock);
    }
  memset (r, 0, sizeof *r);
}

int
vmm_irq_router_alloc_msi (struct vmm_irq_router *r, unsigned *gsi)
{
  int ret = -ENOSPC;

  pthread_mutex_lock (&r->lock);
  for (unsigned g = VMM_IOAPIC_PINS; g < r->n_gsi; g++)
    if (!r->msi[g].used)
      {
        r->msi[g] = (struct vmm_irq_msi) { .used = true };
        *gsi = g;
        ret = 0;
        break;
      }
  pthread_mutex_unlock (&r->lock);
  return ret;
}

void
vmm_irq_router_free_msi (struct vmm_irq_router *r, unsigned gsi)
{
  bool was_routed;

  if (gsi < VMM_IOAPIC_PINS || gsi >= r->n_gsi)
    return;
  pthread_mutex_lock (&r->lock);
  was_routed = r->msi[gsi].routed;
  r->msi[gsi] = (struct vmm_irq_msi) { 0 };
  if (was_routed)
    commit (r);
  pthread_mutex_unlock (&r->lock);
}

int
vmm_irq_router_set_msi (struct vmm_irq_router *r, unsigned gsi, uint64_t address, uint32_t data)
{
  struct vmm_irq_msi old;
  int ret;

  if (gsi < VMM_IOAPIC_PINS || gsi >= r->n_gsi)
    return -EINVAL;
  pthread_mutex_lock (&r->lock);
  old = r->msi[gsi];
  if (!old.used)
    {
      pthread_mutex_unlock (&r->lock);
      return -EINVAL;
    }
  if (old.routed && old.address == address && old.data == data)
    {
      pthread_mutex_unlock (&r->lock);
      return 0;
    }
  r->msi[gsi].routed = true;
  r->msi[gsi].address = address;
  r->msi[gsi].data = data;
  ret = commit (r);
  if (ret < 0)
    r->msi[gsi] = old;
  pthread_mutex_unlock (&r->lock);
  return ret;
}
