/* firmware/fw_cfg.h: QEMU's firmware configuration device, as SeaBIOS and
 * OVMF read it
 *
 * Items the VMM hands the firmware, each under a 16-bit key: fixed ones
 * (the number of CPUs, the RAM size...) and named files listed in a
 * directory (key 0x19). The guest selects a key, then reads the item one
 * byte at a time or with DMA. Layout as in QEMU's docs/specs/fw_cfg.rst,
 * on x86 ports:
 *
 *   0x510  selector, 16-bit, little-endian (write)
 *   0x511  data, 8-bit: reads advance; past the end they read 0
 *   0x514  DMA address, 64-bit big-endian: high half at 0x514, low half at
 *          0x518; writing the low half (or all 8 bytes at 0x514) runs the
 *          transfer. Reading it gives "QEMU CFG".
 *
 * The guest cannot write any item (data port writes are ignored, DMA
 * writes fail). All entry points take the device's lock.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "mem.h"
#include "snapshot/state.h"

#define VMM_FW_CFG_PORT_BASE      0x510
#define VMM_FW_CFG_PORT_LEN       12       /* selector, data, DMA address */
#define VMM_FW_CFG_SELECTOR       0x0      /* offsets from the base */
#define VMM_FW_CFG_DATA           0x1
#define VMM_FW_CFG_DMA_HIGH       0x4
#define VMM_FW_CFG_DMA_LOW        0x8

/* Keys */
#define VMM_FW_CFG_SIGNATURE      0x00     /* "QEMU" */
#define VMM_FW_CFG_ID             0x01     /* le32, VMM_FW_CFG_VERSION_* */
#define VMM_FW_CFG_UUID           0x02
#define VMM_FW_CFG_RAM_SIZE       0x03
#define VMM_FW_CFG_NOGRAPHIC      0x04
#define VMM_FW_CFG_NB_CPUS        0x05
#define VMM_FW_CFG_MACHINE_ID     0x06
#define VMM_FW_CFG_KERNEL_ADDR    0x07
#define VMM_FW_CFG_KERNEL_SIZE    0x08
#define VMM_FW_CFG_KERNEL_CMDLINE 0x09
#define VMM_FW_CFG_INITRD_ADDR    0x0a
#define VMM_FW_CFG_INITRD_SIZE    0x0b
#define VMM_FW_CFG_BOOT_DEVICE    0x0c
#define VMM_FW_CFG_NUMA           0x0d
#define VMM_FW_CFG_BOOT_MENU      0x0e
#define VMM_FW_CFG_MAX_CPUS       0x0f
#define VMM_FW_CFG_KERNEL_ENTRY   0x10
#define VMM_FW_CFG_KERNEL_DATA    0x11
#define VMM_FW_CFG_INITRD_DATA    0x12
#define VMM_FW_CFG_CMDLINE_ADDR   0x13
#define VMM_FW_CFG_CMDLINE_SIZE   0x14
#define VMM_FW_CFG_CMDLINE_DATA   0x15
#define VMM_FW_CFG_SETUP_ADDR     0x16
#define VMM_FW_CFG_SETUP_SIZE     0x17
#define VMM_FW_CFG_SETUP_DATA     0x18
#define VMM_FW_CFG_FILE_DIR       0x19     /* be32 count, then the files */
#define VMM_FW_CFG_FILE_FIRST     0x20
#define VMM_FW_CFG_WRITE_CHANNEL  0x4000   /* selector bit: ignored, as by QEMU */
#define VMM_FW_CFG_ARCH_LOCAL     0x8000   /* selector bit: the architecture's keys */
#define VMM_FW_CFG_ENTRY_MASK     0x3fff

/* x86's keys (with VMM_FW_CFG_ARCH_LOCAL) */
#define VMM_FW_CFG_ACPI_TABLES    0x8000
#define VMM_FW_CFG_SMBIOS_ENTRIES 0x8001
#define VMM_FW_CFG_IRQ0_OVERRIDE  0x8002
#define VMM_FW_CFG_E820_TABLE     0x8003
#define VMM_FW_CFG_HPET           0x8004

/* VMM_FW_CFG_ID bits */
#define VMM_FW_CFG_VERSION        0x01     /* the selector and data ports */
#define VMM_FW_CFG_VERSION_DMA    0x02     /* the DMA interface */

/* FWCfgDmaAccess: be32 control, be32 length, be64 address */
#define VMM_FW_CFG_DMA_ACCESS_LEN 16
#define VMM_FW_CFG_DMA_ERROR      0x01
#define VMM_FW_CFG_DMA_READ       0x02
#define VMM_FW_CFG_DMA_SKIP       0x04
#define VMM_FW_CFG_DMA_SELECT     0x08     /* the key is in control's upper 16 bits */
#define VMM_FW_CFG_DMA_WRITE      0x10

#define VMM_FW_CFG_DMA_SIGNATURE  "QEMU CFG"

/* A file's directory entry: be32 size, be16 key, be16 reserved, name */
#define VMM_FW_CFG_FILE_ENTRY_LEN 64
#define VMM_FW_CFG_MAX_NAME       56       /* with the NUL */
#define VMM_FW_CFG_MAX_FILES      256

struct vmm_fw_cfg;

/* A device whose DMA reaches MEM (which must outlive it). */
struct vmm_fw_cfg *vmm_fw_cfg_new  (const struct vmm_mem *mem);
void               vmm_fw_cfg_free (struct vmm_fw_cfg *cfg);

/* Sets the item under KEY (below VMM_FW_CFG_FILE_DIR, or an architecture
 * key) to a copy of DATA, replacing what was there. Returns 0, -EINVAL for
 * a key that is not settable (the signature, the ID, the directory, files),
 * -E2BIG for more than 4 GiB - 1 bytes. */
int vmm_fw_cfg_add_bytes (struct vmm_fw_cfg *cfg, uint16_t key, const void *data, size_t len);
/* Little-endian numbers, as QEMU stores them */
int vmm_fw_cfg_add_u16   (struct vmm_fw_cfg *cfg, uint16_t key, uint16_t value);
int vmm_fw_cfg_add_u32   (struct vmm_fw_cfg *cfg, uint16_t key, uint32_t value);
int vmm_fw_cfg_add_u64   (struct vmm_fw_cfg *cfg, uint16_t key, uint64_t value);

/* Adds a copy of DATA as the file NAME (at most 55 bytes), under the next
 * free key from VMM_FW_CFG_FILE_FIRST, and lists it in the directory,
 * which is kept sorted by name. Returns the key, or -EEXIST for a name
 * already there, -EINVAL for an empty name, -E2BIG for a name too long or
 * more than 4 GiB - 1 bytes, -ENOSPC past VMM_FW_CFG_MAX_FILES files. */
int vmm_fw_cfg_add_file  (struct vmm_fw_cfg *cfg, const char *name, const void *data,
                          size_t len);

/* The same, but a file already there under NAME gets the new contents
 * (same key; an item being read goes on with the new bytes). */
int vmm_fw_cfg_set_file  (struct vmm_fw_cfg *cfg, const char *name, const void *data,
                          size_t len);

/* The ports, at VMM_FW_CFG_PORT_BASE for VMM_FW_CFG_PORT_LEN bytes;
 * opaque: the struct vmm_fw_cfg. */
extern const struct vmm_io_ops vmm_fw_cfg_io_ops;

/* Saved state (snapshot/README.md), one section NAME: the selected key,
 * the offset in it, and the DMA address register's high half as the
 * guest left it. The items are not saved: the VM builds them again as
 * for any start, so a key selected at the save reads on from where it
 * was. */
void     vmm_fw_cfg_save (const struct vmm_fw_cfg *cfg, struct vmm_state_writer *w,
                          const char *name);
gboolean vmm_fw_cfg_load (struct vmm_fw_cfg *cfg, const struct vmm_state_file *f,
                          const char *name, bool apply, GError **error);
