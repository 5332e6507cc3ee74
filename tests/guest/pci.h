/* pci.h: PCI configuration space through ECAM
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "lib.h"

#define PCI_MAX_DEVICES 64

#define PCI_COMMAND          0x04
#define PCI_COMMAND_IO       0x0001
#define PCI_COMMAND_MEMORY   0x0002
#define PCI_COMMAND_MASTER   0x0004
#define PCI_COMMAND_INTX_OFF 0x0400
#define PCI_STATUS           0x06
#define PCI_STATUS_CAP_LIST  0x0010
#define PCI_BAR0             0x10
#define PCI_CAP_PTR          0x34

#define PCI_CAP_ID_MSIX      0x11
#define PCI_CAP_ID_VENDOR    0x09

struct pci_dev
{
  uint8_t bus, dev, fn;
  uint64_t cfg;          /* ECAM address of its 4 KiB of configuration space */
  uint16_t vendor, device;
  uint8_t class, subclass, prog_if, header_type;
};

struct pci_bar
{
  bool present;
  bool io, is64, prefetch;
  uint64_t base, size;
};

struct pci
{
  uint64_t ecam;
  uint8_t bus_start, bus_end;
  unsigned n_devs;
  struct pci_dev devs[PCI_MAX_DEVICES];
};

static inline uint8_t
pci_read8 (const struct pci_dev *d, unsigned off)
{
  return mmio_read8 (d->cfg + off);
}

static inline uint16_t
pci_read16 (const struct pci_dev *d, unsigned off)
{
  return mmio_read16 (d->cfg + off);
}

static inline uint32_t
pci_read32 (const struct pci_dev *d, unsigned off)
{
  return mmio_read32 (d->cfg + off);
}

static inline void
pci_write8 (const struct pci_dev *d, unsigned off, uint8_t v)
{
  mmio_write8 (d->cfg + off, v);
}

static inline void
pci_write16 (const struct pci_dev *d, unsigned off, uint16_t v)
{
  mmio_write16 (d->cfg + off, v);
}

static inline void
pci_write32 (const struct pci_dev *d, unsigned off, uint32_t v)
{
  mmio_write32 (d->cfg + off, v);
}

/* Walks the buses the MCFG covers (from bus_start, through bridges) */
bool pci_enumerate (struct pci *p, uint64_t ecam, uint8_t bus_start, uint8_t bus_end);
const struct pci_dev *pci_find (const struct pci *p, uint16_t vendor, uint16_t device);

/* Sizes BAR idx with decoding off, restores it and the command register;
 * *restored says whether the BAR read back exactly.  Returns how many BAR
 * slots it used (2 for a 64-bit BAR). */
unsigned pci_bar_size (const struct pci_dev *d, unsigned idx, struct pci_bar *bar,
                       bool *restored);

/* The offset of the capability with this id at or after *after (0 = from
 * the start), 0 if none */
uint8_t pci_find_cap (const struct pci_dev *d, uint8_t id, uint8_t after);
