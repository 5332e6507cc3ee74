/* devices/ahci.h: an ICH9-compatible AHCI controller (SATA disks, ATAPI CD-ROMs)
 *
 * PCI function 8086:2922, class 01 06 01, registers (ABAR) in a 4 KiB
 * memory BAR 5 (QEMU's ich9-ahci size; the real ICH9 decodes 2 KiB), one
 * plain MSI vector or INTA. Six ports, 32 command slots each, NCQ. A port
 * holds a disk (ATA: DMA, NCQ, PIO) or a CD-ROM (ATAPI: MMC commands on
 * 2048-byte sectors, read-only, with a tray the host and the guest
 * eject).
 *
 * Commands run on the controller's own thread (a vmm_loop): a vCPU's
 * write of PxCI only records the slots and kicks it. Disk and medium I/O
 * use the synchronous block calls there, without the device's lock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "block/block.h"
#include "bus.h"
#include "devices/irq_line.h"
#include "devices/pci.h"
#include "kvm/irq.h"
#include "mem.h"
#include "snapshot/state.h"

#define VMM_AHCI_PORTS 6

enum vmm_ahci_kind {
  VMM_AHCI_NONE,    /* nothing attached */
  VMM_AHCI_DISK,
  VMM_AHCI_CDROM,
};

struct vmm_ahci_port_config {
  enum vmm_ahci_kind kind;
  /* DISK: the image (required); CDROM: the medium, or NULL for an empty
   * tray. The controller owns it from vmm_ahci_new on, even when that
   * fails, and closes it. */
  struct vmm_block *block;
  const char *model;      /* IDENTIFY's model; NULL: a default */
  const char *serial;     /* NULL: derived from the port number */
};

/* What the controller needs from the VM */
struct vmm_ahci_env {
  const struct vmm_mem *mem;
  struct vmm_bus *mmio;             /* BAR 5 is registered here */
  struct vmm_irq_router *router;    /* MSI: a GSI and its route */
  int vm_fd;                        /* for the MSI's irqfd */
  struct vmm_irq_line intx;         /* INTA, level-triggered */
};

struct vmm_ahci;

/* The guest ejected the medium of PORT (START STOP UNIT), which is closed.
 * Runs on the controller's thread, device unlocked; it must only hand the
 * news over (a tray call on PORT from here would wait for itself). */
typedef void (*vmm_ahci_eject_fn) (struct vmm_ahci *ahci, unsigned port, void *data);

/* PORTS has VMM_AHCI_PORTS entries. Returns the controller, or NULL with
 * ERROR set (G_IO_ERROR). */
struct vmm_ahci *vmm_ahci_new (const struct vmm_ahci_env *env,
                               const struct vmm_ahci_port_config *ports, GError **error);
/* For vmm_pci_host_add */
struct vmm_pci_device *vmm_ahci_pci_dev (struct vmm_ahci *ahci);
/* Stops the thread, flushes and closes every image. Returns the first
 * flush's error, or 0. NULL is fine. */
int  vmm_ahci_free (struct vmm_ahci *ahci);

/* The machine's reset: the HBA's (as GHC.HR), and waits until the
 * command the thread is running ends; guest RAM is then the guest's. */
void vmm_ahci_reset (struct vmm_ahci *ahci);

void vmm_ahci_set_eject_fn (struct vmm_ahci *ahci, vmm_ahci_eject_fn fn, void *data);

/* Host side of a CD-ROM's tray; thread-safe, they wait for a command using
 * the medium. insert: -ENODEV (not a CD-ROM), -EBUSY (a medium is in; eject
 * it first); on success the controller owns MEDIUM, and the guest sees a
 * unit attention and a new-media event. eject: -ENODEV, -ENOMEDIUM,
 * -EBUSY when the guest locked the tray (PREVENT ALLOW MEDIUM REMOVAL) and
 * FORCE is false: the guest then sees an eject-request event, as a real
 * drive's button gives it. */
int  vmm_ahci_insert_medium (struct vmm_ahci *ahci, unsigned port, struct vmm_block *medium);
int  vmm_ahci_eject_medium  (struct vmm_ahci *ahci, unsigned port, bool force);
/* The file of the disc in PORT as it was opened (g_free it), or NULL: no
 * disc, not a CD-ROM, or a disc whose file is not known. Thread-safe. */
char *vmm_ahci_dup_medium_path (struct vmm_ahci *ahci, unsigned port);

/* Saved state (snapshot/README.md), one section NAME: GHC and IS, and for
 * each port its registers (list and FIS addresses, interrupt status and
 * enable, command, task file, signature, SATA status and control, SACT),
 * its features (write cache, transfer mode) and, for a CD-ROM, the
 * drive's (devices/atapi.h). What the ports hold is the host's, but for
 * a CD-ROM's disc: its file (path, size, modification time) is saved,
 * and a load with APPLY puts it back in a drive that holds another disc
 * or none, as InsertMedium would (a load without APPLY does not look at
 * it: a missing disc does not stop a restore); a file gone or changed
 * leaves the drive empty (logged). A CD-ROM whose medium is then not the
 * one the guest knew of reports a change. Save needs the controller quiet: no command issued or running
 * (PxCI clear, the thread idle); it returns -EBUSY and writes nothing
 * otherwise, else 0. The BAR and the MSI follow the PCI config space: load
 * with APPLY comes after vmm_pci_host_load applied it, routes the MSI it
 * names and drives INTx where its level changes. */
/* The image of the disk on PORT, or NULL (no disk there) */
struct vmm_block *vmm_ahci_port_block (struct vmm_ahci *ahci, unsigned port);

int      vmm_ahci_save (const struct vmm_ahci *ahci, struct vmm_state_writer *w,
                        const char *name);
gboolean vmm_ahci_load (struct vmm_ahci *ahci, const struct vmm_state_file *f, const char *name,
                        bool apply, GError **error);
