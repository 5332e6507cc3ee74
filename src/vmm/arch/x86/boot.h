/* arch/x86/boot.h: loading a guest kernel the way the Linux boot protocols say
 *
 * - PVH: an ELF (32- or 64-bit) with a XEN_ELFNOTE_PHYS32_ENTRY note; the
 *   vCPU starts in 32-bit protected mode, paging off, with EBX pointing at a
 *   struct hvm_start_info (Xen's arch-x86/hvm/start_info.h, version 1).
 * - bzImage: the Linux x86 boot protocol (Documentation/arch/x86/boot.rst),
 *   entered at the 64-bit entry point (load address + 0x200) in long mode
 *   with identity-mapped page tables and RSI pointing at the zero page.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* ---- e820 ---------------------------------------------------------------- */

#define VMM_E820_RAM       1
#define VMM_E820_RESERVED  2
#define VMM_E820_ACPI      3
#define VMM_E820_MAX       16

struct vmm_e820_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
} __attribute__ ((packed));

/* The guest's memory map for RAM_SIZE bytes of RAM laid out by
 * vmm_mem_alloc (low RAM below VMM_PCI_HOLE_START, the rest from 4 GiB):
 * RAM below the EBDA, the EBDA and the ACPI area reserved, RAM from 1 MiB,
 * the PCI ECAM reserved, RAM from 4 GiB. Sorted, non-overlapping. Returns
 * the number of entries (at most 6), or -EINVAL when RAM_SIZE is below
 * VMM_MIN_RAM or MAX entries are too few. */
int vmm_e820_build (uint64_t ram_size, struct vmm_e820_entry *entries, unsigned max);

/* ---- errors ----------------------------------------------------------------- */

/* What went wrong, for callers that act on it; the message says it for people. */
#define VMM_BOOT_ERROR (vmm_boot_error_quark ())
typedef enum {
  VMM_BOOT_ERROR_NOT_KERNEL,  /* not a kernel these loaders boot */
  VMM_BOOT_ERROR_INVALID,     /* a malformed kernel, or guest RAM not laid out as expected */
  VMM_BOOT_ERROR_NO_ROOM,     /* the kernel or the initrd does not fit where it may go */
  VMM_BOOT_ERROR_CMDLINE,     /* the command line is too long for the kernel */
} VmmBootError;
GQuark vmm_boot_error_quark (void);

/* ---- what to boot --------------------------------------------------------- */

enum vmm_boot_kind {
  VMM_BOOT_PVH,
  VMM_BOOT_BZIMAGE,
};

struct vmm_boot_params {
  const void *kernel;         /* the kernel file's bytes */
  size_t kernel_size;
  const void *initrd;         /* NULL: none */
  size_t initrd_size;
  const char *cmdline;        /* NULL: empty */
  uint64_t rsdp_gpa;          /* where vmm_acpi_build put the RSDP */
};

/* The registers the boot vCPU starts with. The caller turns these into
 * KVM_SET_REGS/KVM_SET_SREGS; segment values are the hidden parts too. */
struct vmm_boot_segment {
  uint64_t base;
  uint32_t limit;
  uint16_t selector;
  uint8_t type, present, dpl, db, s, l, g;
};

struct vmm_boot_state {
  enum vmm_boot_kind kind;
  uint64_t rip, rsp, rsi, rbx, rflags;
  uint64_t cr0, cr3, cr4, efer;
  struct vmm_boot_segment cs, ds, es, fs, gs, ss, tr, ldt;
  uint64_t gdt_base, idt_base;
  uint16_t gdt_limit, idt_limit;

  /* Where things went, for logs and tests */
  uint64_t kernel_load_addr, kernel_end;
  uint64_t initrd_addr, initrd_size;
  uint64_t cmdline_addr;
};

/* Detects the kernel's format: PVH if it is an ELF with the PVH note,
 * bzImage if it has the "HdrS" setup header. Anything else, an ELF without
 * the note or a broken ELF included, is VMM_BOOT_ERROR_NOT_KERNEL. */
gboolean vmm_boot_detect (const void *kernel, size_t size, enum vmm_boot_kind *kind,
                          GError **error);

/* Loads the kernel, the initrd and the command line into guest memory, writes
 * the boot information (hvm_start_info or zero page, with the e820 map and the
 * RSDP) and fills *state. On failure *state is all zeros and ERROR says why:
 * NOT_KERNEL (not a kernel we boot), CMDLINE (too long for the kernel),
 * NO_ROOM (kernel or initrd do not fit in RAM below the limits the kernel's
 * header gives), INVALID (malformed). */
gboolean vmm_boot_load (const struct vmm_mem *mem, const struct vmm_boot_params *params,
                        struct vmm_boot_state *state, GError **error);

/* ---- bzImage header, exposed for tests ------------------------------------ */

struct vmm_bzimage_info {
  uint16_t version;           /* boot protocol, e.g. 0x020f */
  uint8_t setup_sects;
  uint8_t loadflags;
  uint16_t xloadflags;
  uint32_t syssize;
  uint32_t initrd_addr_max;
  uint32_t kernel_alignment;
  uint8_t relocatable_kernel;
  uint8_t min_alignment;
  uint32_t cmdline_size;
  uint64_t pref_address;
  uint32_t init_size;
  size_t setup_size;          /* (setup_sects + 1) * 512 */
  size_t payload_offset;      /* where the protected-mode kernel starts in the file */
  size_t payload_size;
};

/* Parses and checks the setup header; a header it refuses is NOT_KERNEL. */
gboolean vmm_bzimage_parse (const void *image, size_t size, struct vmm_bzimage_info *info,
                            GError **error);

/* ---- a kernel the firmware loads ------------------------------------------ */

/* Where the boot protocol's real-mode loaders (SeaBIOS's linuxboot option
 * ROM; OVMF reads the same items) are told to put a bzImage */
#define VMM_FW_KERNEL_SETUP_ADDR    0x10000u    /* the real-mode setup code */
#define VMM_FW_KERNEL_CMDLINE_ADDR  0x20000u
#define VMM_FW_KERNEL_ADDR          0x100000u   /* the protected-mode kernel */
/* Kept free below the end of low RAM for the firmware's own tables
 * (SeaBIOS takes 256 KiB there), so the initrd goes below it */
#define VMM_FW_KERNEL_RESERVED_TOP  0x100000u

/* A bzImage split into what fw_cfg hands the firmware (the SETUP, KERNEL,
 * INITRD and CMDLINE items), as QEMU's -kernel does with a firmware. */
struct vmm_fw_kernel {
  uint8_t *setup;             /* the setup sectors, header patched (g_free) */
  size_t setup_size;
  const uint8_t *kernel;      /* the protected-mode kernel, in the caller's image */
  size_t kernel_size;
  uint32_t initrd_addr;       /* 0: no initrd */
  char *cmdline;              /* with its NUL (g_free) */
  size_t cmdline_size;        /* strlen + 1 */
};

/* Splits PARAMS's bzImage (boot protocol 2.02 or newer, loaded high) for a
 * firmware to load into LOW_END bytes of low RAM: the header says where the
 * command line and the initrd are (the top of RAM below the firmware's
 * reserve and the kernel's initrd_addr_max) and who loaded it (0xb0, as
 * QEMU). A PVH ELF or an old zImage is NOT_KERNEL; what does not fit is
 * NO_ROOM; a command line longer than the kernel takes is CMDLINE. */
gboolean vmm_fw_kernel_prepare (const struct vmm_boot_params *params, uint64_t low_end,
                                struct vmm_fw_kernel *out, GError **error);
void     vmm_fw_kernel_clear   (struct vmm_fw_kernel *fk);
