/* devices/pci.h: the PCI host bridge, configuration space and BARs
 *
 * One root bus (segment 0, bus 0), function 0 of up to 32 slots, reached
 * through the legacy CF8/CFC ports and through ECAM. The host bridge itself
 * is 00:00.0. Config space accesses are serialised by the host's lock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "snapshot/state.h"

#define VMM_PCI_SLOTS        32
#define VMM_PCI_CONFIG_SIZE  4096   /* PCIe extended config space */
#define VMM_PCI_NUM_BARS     6

/* Standard header offsets */
#define PCI_VENDOR_ID        0x00
#define PCI_DEVICE_ID        0x02
#define PCI_COMMAND          0x04
#define PCI_STATUS           0x06
#define PCI_REVISION_ID      0x08
#define PCI_CLASS_PROG       0x09
#define PCI_HEADER_TYPE      0x0e
#define PCI_BAR0             0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID     0x2e
#define PCI_CAPABILITY_LIST  0x34
#define PCI_INTERRUPT_LINE   0x3c
#define PCI_INTERRUPT_PIN    0x3d

#define PCI_COMMAND_IO       0x0001
#define PCI_COMMAND_MEMORY   0x0002
#define PCI_COMMAND_MASTER   0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_BAR_MEM_64       0x04
#define PCI_BAR_MEM_PREFETCH 0x08

#define PCI_CAP_ID_MSI       0x05
#define PCI_CAP_ID_MSIX      0x11
#define PCI_CAP_ID_VNDR      0x09

struct vmm_pci_device;

struct vmm_pci_device_ops {
  /* After the bytes [offset, offset + len) were written (already masked). */
  void (*config_write) (struct vmm_pci_device *dev, uint32_t offset, uint32_t len);
  /* Before a read, to refresh bytes that change on their own. */
  void (*config_read)  (struct vmm_pci_device *dev, uint32_t offset, uint32_t len);
  /* BAR I/O decode turned on at ADDR (map) or off (unmap). */
  void (*bar_map)      (struct vmm_pci_device *dev, unsigned bar, uint64_t addr, bool map);
};

struct vmm_pci_bar {
  uint64_t size;          /* power of two; 0: no BAR */
  bool is_64, prefetch;
  bool mapped;            /* decode on, at 'addr' */
  uint64_t addr;
};

struct vmm_pci_device {
  uint8_t config[VMM_PCI_CONFIG_SIZE];
  uint8_t wmask[VMM_PCI_CONFIG_SIZE];   /* bits the guest may change */
  uint8_t w1cmask[VMM_PCI_CONFIG_SIZE]; /* bits a 1 clears (status) */
  struct vmm_pci_bar bars[VMM_PCI_NUM_BARS];
  uint8_t next_cap;       /* where the next capability goes */
  uint8_t last_cap;       /* the last one's offset, for chaining */
  unsigned slot;
  const struct vmm_pci_device_ops *ops;
  void *opaque;
};

struct vmm_pci_host {
  pthread_mutex_t lock;
  struct vmm_pci_device *slots[VMM_PCI_SLOTS];
  struct vmm_pci_device bridge;
  uint32_t config_address;   /* the CF8 latch */
  uint8_t reset_control;     /* port 0xcf9 */
  void (*reset) (void *opaque);  /* 0xcf9 asked for a reset (no lock held) */
  void *reset_opaque;
  uint64_t mmio32_next, mmio32_end;
  /* Devices added come with their BARs decoding, as firmware would leave
   * them (direct kernel boot); false for firmware, which finds them off
   * as after a reset and assigns the BARs itself. */
  bool enable_at_add;
};

/* 8 ports at 0xcf8: the address latch (dword at 0xcf8), the reset control
 * register (byte at 0xcf9: setting RST_CPU calls host->reset), the data
 * window (0xcfc-0xcff) */
extern const struct vmm_io_ops vmm_pci_cf8_ops;
extern const struct vmm_io_ops vmm_pci_ecam_ops;  /* VMM_PCI_ECAM_SIZE at the ECAM base */

void vmm_pci_host_init    (struct vmm_pci_host *host, uint64_t mmio32_base, uint64_t mmio32_size);
void vmm_pci_host_destroy (struct vmm_pci_host *host);

/* Fills the standard header of DEV: IDs, class (24 bits), subsystem IDs;
 * header type 0, no INTx pin, capabilities list empty. */
void vmm_pci_device_init (struct vmm_pci_device *dev, uint16_t vendor, uint16_t device,
                          uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                          uint16_t subsys_id, const struct vmm_pci_device_ops *ops,
                          void *opaque);

/* Declares a memory BAR of SIZE (a power of two, at least 4 KiB). */
void vmm_pci_device_set_bar (struct vmm_pci_device *dev, unsigned bar, uint64_t size, bool is_64,
                             bool prefetch);

/* Appends a capability of LEN bytes with ID; returns its offset in config
 * space (the ID and next pointer are filled), or 0 when it does not fit. */
uint8_t vmm_pci_device_add_cap (struct vmm_pci_device *dev, uint8_t id, uint8_t len);

/* Appends a plain MSI capability (one vector, 64-bit message address, no
 * per-vector masking); returns its offset, or 0 when it does not fit. */
uint8_t vmm_pci_device_add_msi (struct vmm_pci_device *dev);
/* The message the guest programmed into the MSI capability at CAP: returns
 * whether MSI is enabled, with its ADDRESS and DATA. */
bool vmm_pci_msi_message (const struct vmm_pci_device *dev, uint8_t cap, uint64_t *address,
                          uint32_t *data);

/* Places DEV in the first free slot, assigns its BARs from the 32-bit
 * window and turns memory decode on, as firmware would (unless
 * enable_at_add is false). Returns the slot,
 * or -ENOSPC (no slot or no room in the window). */
int  vmm_pci_host_add (struct vmm_pci_host *host, struct vmm_pci_device *dev);

/* The same in slot SLOT (the chipset's fixed places: the LPC at 31).
 * Returns SLOT, -EBUSY when it is taken, -ENOSPC (no room for the BARs). */
int  vmm_pci_host_add_at (struct vmm_pci_host *host, struct vmm_pci_device *dev, unsigned slot);

/* Little-endian helpers for config space */
static inline uint16_t vmm_pci_get16 (const uint8_t *p) { return (uint16_t) (p[0] | p[1] << 8); }
static inline uint32_t vmm_pci_get32 (const uint8_t *p)
{ return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24; }
static inline void vmm_pci_set16 (uint8_t *p, uint16_t v) { p[0] = (uint8_t) v; p[1] = (uint8_t) (v >> 8); }
static inline void vmm_pci_set32 (uint8_t *p, uint32_t v)
{ p[0] = (uint8_t) v; p[1] = (uint8_t) (v >> 8); p[2] = (uint8_t) (v >> 16); p[3] = (uint8_t) (v >> 24); }

/* Saved state (snapshot/README.md): section NAME holds the CF8 latch, the
 * reset control register, and for every function on the bus its whole
 * config space and its BARs' decode (mapped, address). Masks, capability
 * layout and the functions themselves are the machine's, built as before:
 * a function in the file must sit in the same slot with the same IDs.
 * Load with APPLY unmaps every BAR that decodes now, writes the config
 * spaces back, then maps the saved BARs through each device's bar_map, as
 * guest writes would (all off first, so no two BARs ever overlap on the
 * way). Only bar_map is called: what a device derives from its config
 * space (MSI routes, the chipset's PAM, ECAM and PMBASE) its own load
 * re-derives, so this load runs first. */
void     vmm_pci_host_save (const struct vmm_pci_host *host, struct vmm_state_writer *w,
                            const char *name);
gboolean vmm_pci_host_load (struct vmm_pci_host *host, const struct vmm_state_file *f,
                            const char *name, bool apply, GError **error);
