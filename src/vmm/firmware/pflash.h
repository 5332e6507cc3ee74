/* firmware/pflash.h: CFI parallel flash (Intel command set) for OVMF
 *
 * OVMF runs from two flash devices that end at 4 GiB, as on QEMU's pc and
 * q35 machines: its code (read-only) right below 4 GiB, its variable
 * store (writable, one copy per machine) right below the code. Each is a
 * byte-wide (x8) CFI flash with uniform erase blocks that answers the
 * Intel/Sharp command set OVMF's QemuFlashFvbServicesRuntimeDxe drives:
 * read array (0xff), read status (0x70), clear status (0x50), byte
 * program (0x10/0x40), block erase (0x20, confirmed by 0xd0), block lock
 * (0x60, accepted and ignored), CFI query (0x98) and read identifier
 * (0x90). There is no write buffer (0xe8): the CFI table says so, and
 * OVMF does not use one. Unknown commands put the device back in read
 * array mode, as QEMU's model does.
 *
 * In read-array mode the whole device is guest memory mapped read-only
 * (through the map callback: a KVM memory slot), so reads run at memory
 * speed and a write exits to vmm_pflash_ops as a command. A command that
 * leaves read-array mode unmaps it, so that reads come to the device too
 * (the status register, the CFI table); going back maps it again (QEMU's
 * "romd" mode). The device lock is held while it calls map and unmap.
 *
 * A writable device writes every program and erase to its file before
 * the guest can see it done (see pflash.c on when it syncs); a read-only
 * one refuses them with the status register's error bits, as a
 * write-protected chip does, and never changes a byte.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "snapshot/state.h"

/* The status register's bits (Intel's SR.7 .. SR.1) */
#define VMM_PFLASH_SR_READY         0x80    /* write state machine ready */
#define VMM_PFLASH_SR_ERASE_ERROR   0x20
#define VMM_PFLASH_SR_PROGRAM_ERROR 0x10
#define VMM_PFLASH_SR_LOCKED        0x02    /* the block is protected */

/* What read identifier answers at offsets 0 and 1 (Intel, 28F128J3) */
#define VMM_PFLASH_MANUFACTURER     0x89
#define VMM_PFLASH_DEVICE           0x18

/* The largest image: 64 MiB, far above OVMF's 4 MiB, far below the PCI
 * hole the devices sit in. */
#define VMM_PFLASH_MAX_SIZE         (64ULL << 20)

struct vmm_pflash_config {
  const char *path;          /* the image: the whole file is the device */
  bool readonly;
  /* Where the device ends in guest physical memory (exclusive): 4 GiB for
   * OVMF's code, the code's base for its variables. */
  uint64_t end;
  /* The erase block: a power of two from 4096 (a page, so the mapping is
   * whole pages) to 1 MiB; 0 means 4096, QEMU's sector-length for the pc
   * machines' flash. The image's size must be a multiple of it. */
  uint32_t block_size;
};

struct vmm_pflash_ops {
  /* Maps HOST at [GPA, GPA + SIZE) as guest memory, read-only or not
   * (always read-only here); returns a handle (>= 0) for unmap, or -errno.
   * As vmm_q35_ops' map. */
  int  (*map)   (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly);
  void (*unmap) (void *opaque, int handle);
};

struct vmm_pflash;

/* Opens CONFIG->path (read-write and locked against every other open of
 * it by this or another helper; read-only with a shared lock), reads it
 * into memory and maps it in read-array mode. NULL with ERROR
 * (G_FILE_ERROR, a message for the user) when the file is missing,
 * unreadable, in use, empty, too large or not whole blocks, or the first
 * map fails. */
struct vmm_pflash *vmm_pflash_new  (const struct vmm_pflash_config *config,
                                    const struct vmm_pflash_ops *ops, void *opaque,
                                    GError **error);
/* Unmaps the device, syncs the file, unlocks and closes it. NULL is fine. */
void               vmm_pflash_free (struct vmm_pflash *flash);

/* The MMIO handlers: register [vmm_pflash_base, + vmm_pflash_size) with
 * the device as opaque. Thread-safe. */
extern const struct vmm_io_ops vmm_pflash_ops;

uint64_t vmm_pflash_base (const struct vmm_pflash *flash);
uint64_t vmm_pflash_size (const struct vmm_pflash *flash);

/* A system reset: read-array mode (mapped), the status register ready. */
void     vmm_pflash_reset (struct vmm_pflash *flash);
/* Writes what the guest changed to the disk now (fdatasync). 0 or -errno. */
int      vmm_pflash_sync  (struct vmm_pflash *flash);

/* Saved state (snapshot/README.md), one section NAME: the read mode, the
 * command waiting for its second cycle and the status register. The
 * contents are the file's (not saved here). Load with APPLY puts the mode
 * back as a command would, mapping the device (read array) or unmapping
 * it (the others) through the map callbacks. */
void     vmm_pflash_save (const struct vmm_pflash *flash, struct vmm_state_writer *w,
                          const char *name);
gboolean vmm_pflash_load (struct vmm_pflash *flash, const struct vmm_state_file *f,
                          const char *name, bool apply, GError **error);
