/* pci.c: PCI configuration space through ECAM
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "pci.h"

static uint64_t
ecam_addr (const struct pci *p, unsigned bus, unsigned dev, unsigned fn)
{
  return p->ecam + ((uint64_t) (bus - p->bus_start) << 20) + (dev << 15) + (fn << 12);
}

static void
scan_bus (struct pci *p, unsigned bus, unsigned depth)
{
  unsigned dev, fn;

  if (depth > 8 || bus < p->bus_start || bus > p->bus_end)
    return;
  for (dev = 0; dev < 32; dev++)
    for (fn = 0; fn < 8; fn++)
      {
        uint64_t cfg = ecam_addr (p, bus, dev, fn);
        uint32_t id = mmio_read32 (cfg);
        uint32_t class = mmio_read32 (cfg + 8);
        uint8_t header = mmio_read8 (cfg + 0x0e);
        struct pci_dev *d;

        if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
          {
            if (fn == 0)
              break;
            continue;
          }
        if (p->n_devs == PCI_MAX_DEVICES)
          return;
        d = &p->devs[p->n_devs++];
        d->bus = bus;
        d->dev = dev;
        d->fn = fn;
        d->cfg = cfg;
        d->vendor = id & 0xffff;
        d->device = id >> 16;
        d->class = class >> 24;
        d->subclass = class >> 16;
        d->prog_if = class >> 8;
        d->header_type = header & 0x7f;
        if (d->header_type == 1)
          {
            uint8_t secondary = mmio_read8 (cfg + 0x19);

            if (secondary > bus)
              scan_bus (p, secondary, depth + 1);
          }
        if (fn == 0 && !(header & 0x80))
          break;
      }
}

bool
pci_enumerate (struct pci *p, uint64_t ecam, uint8_t bus_start, uint8_t bus_end)
{
  memset (p, 0, sizeof *p);
  p->ecam = ecam;
  p->bus_start = bus_start;
  p->bus_end = bus_end;
  if (!map_phys (ecam, ((uint64_t) bus_end - bus_start + 1) << 20))
    return false;
  scan_bus (p, bus_start, 0);
  return true;
}

const struct pci_dev *
pci_find (const struct pci *p, uint16_t vendor, uint16_t device)
{
  for (unsigned i = 0; i < p->n_devs; i++)
    if (p->devs[i].vendor == vendor && p->devs[i].device == device)
      return &p->devs[i];
  return NULL;
}

unsigned
pci_bar_size (const struct pci_dev *d, unsigned idx, struct pci_bar *bar, bool *restored)
{
  unsigned off = PCI_BAR0 + 4 * idx;
  uint16_t cmd = pci_read16 (d, PCI_COMMAND);
  uint32_t lo, hi = 0, mask_lo, mask_hi = 0;
  uint64_t mask;

  memset (bar, 0, sizeof *bar);
  *restored = true;

  /* Decoding off while the BAR holds all-ones, so the device never claims
   * that address range (PCI Local Bus 3.0 §6.2.5.1). */
  pci_write16 (d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));

  lo = pci_read32 (d, off);
  bar->io = lo & 1;
  bar->is64 = !bar->io && ((lo >> 1) & 3) == 2 && idx < 5;
  bar->prefetch = !bar->io && (lo & 8);

  pci_write32 (d, off, 0xffffffff);
  mask_lo = pci_read32 (d, off);
  pci_write32 (d, off, lo);
  if (pci_read32 (d, off) != lo)
    *restored = false;
  if (bar->is64)
    {
      hi = pci_read32 (d, off + 4);
      pci_write32 (d, off + 4, 0xffffffff);
      mask_hi = pci_read32 (d, off + 4);
      pci_write32 (d, off + 4, hi);
      if (pci_read32 (d, off + 4) != hi)
        *restored = false;
    }

  pci_write16 (d, PCI_COMMAND, cmd);

  if (bar->io)
    {
      mask = (mask_lo & ~3u) | 0xffffffffffff0000ull;
      bar->base = lo & ~3u;
    }
  else if (bar->is64)
    {
      mask = ((uint64_t) mask_hi << 32 | mask_lo) & ~0xfull;
      bar->base = ((uint64_t) hi << 32 | lo) & ~0xfull;
    }
  else
    {
      mask = (mask_lo & ~0xfu) | 0xffffffff00000000ull;
      bar->base = lo & ~0xfu;
    }
  bar->present = bar->io ? (mask_lo & ~3u) != 0
                         : (mask_lo & ~0xfu) != 0 || (bar->is64 && mask_hi != 0);
  bar->size = bar->present ? ~mask + 1 : 0;
  return bar->is64 ? 2 : 1;
}

uint8_t
pci_find_cap (const struct pci_dev *d, uint8_t id, uint8_t after)
{
  uint8_t pos;
  unsigned guard;

  if (!(pci_read16 (d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
    return 0;
  pos = after ? pci_read8 (d, after + 1) : pci_read8 (d, PCI_CAP_PTR);
  /* 48 capabilities fill the 192 bytes after the header: more is a loop */
  for (guard = 0; guard < 48 && pos >= 0x40; guard++)
    {
      pos &= 0xfc;
      if (pci_read8 (d, pos) == id)
        return pos;
      pos = pci_read8 (d, pos + 1);
    }
  return 0;
}
