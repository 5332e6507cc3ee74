/* arch/x86/layout.h: the guest physical address map and the fixed ports
 *
 *   0x0000_0500  boot GDT (64-bit bzImage entry)
 *   0x0000_0540  boot IDT (empty)
 *   0x0000_6000  PVH hvm_start_info, then its module list and memory map
 *   0x0000_7000  Linux zero page (struct boot_params)
 *   0x0000_9000  boot page tables: PML4, PDPT, 4 PDs identity-mapping 4 GiB
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA (reserved)
 *   0x000e_0000  ACPI: RSDP, then the tables (reserved)
 *   0x000f_8000  the boot TSS, with an I/O permission bitmap (reserved)
 *   0x0010_0000  RAM the kernel is loaded into
 *   ...          RAM up to the PCI hole (2.75 GiB)
 *   0xb000_0000  PCI ECAM, 256 buses (reserved): where Q35 firmware puts it
 *   0xc000_0000  PCI 32-bit MMIO window (BARs), up to the IOAPIC
 *   0xfec0_0000  IOAPIC
 *   0xfee0_0000  LAPIC
 *   0xfeff_c000  KVM identity-map page, then the TSS pages KVM needs on VT-x
 *   0xff00_0000  firmware: the BIOS ROM or OVMF's flash, ending at 4 GiB
 *   0x1_0000_0000  RAM above 4 GiB, then the PCI 64-bit MMIO window
 *
 * With firmware (SeaBIOS, OVMF) the low megabyte is the firmware's: only
 * the RAM map and the holes below hold, and 0xa0000-0xbffff is the VGA
 * window, 0xc0000-0xfffff the shadowed BIOS area (firmware/q35.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define VMM_KiB(x) ((unsigned long long) (x) << 10)
#define VMM_MiB(x) ((unsigned long long) (x) << 20)
#define VMM_GiB(x) ((unsigned long long) (x) << 30)

/* Boot structures in low memory */
#define VMM_BOOT_GDT_ADDR        0x500ULL
#define VMM_BOOT_IDT_ADDR        0x540ULL
#define VMM_PVH_INFO_ADDR        0x6000ULL
#define VMM_PVH_INFO_MAX         0x1000ULL     /* start info + modules + memmap */
#define VMM_ZERO_PAGE_ADDR       0x7000ULL
#define VMM_PML4_ADDR            0x9000ULL
#define VMM_PDPT_ADDR            0xa000ULL
#define VMM_PD_ADDR              0xb000ULL     /* four pages: 4 GiB in 2 MiB pages */
#define VMM_CMDLINE_ADDR         0x20000ULL
#define VMM_CMDLINE_MAX          0x10000ULL    /* including the NUL */
#define VMM_BOOT_STACK_TOP       0x8ff0ULL     /* initial RSP for a bzImage */

#define VMM_EBDA_START           0x9fc00ULL
#define VMM_LOW_RAM_TOP          0xa0000ULL    /* 640 KiB */
#define VMM_ACPI_BASE            0xe0000ULL    /* RSDP here, tables after it */
#define VMM_ACPI_END             0xf8000ULL
#define VMM_BOOT_TSS_ADDR        0xf8000ULL
#define VMM_BOOT_TSS_IOMAP       0x68          /* the bitmap follows the 104-byte TSS */
#define VMM_BOOT_TSS_LIMIT       (VMM_BOOT_TSS_IOMAP + 8192) /* 65536 ports, then 0xff */
#define VMM_BIOS_AREA_END        0x100000ULL   /* [VMM_ACPI_BASE, here) is reserved */
#define VMM_HIMEM_START          0x100000ULL   /* 1 MiB */

#define VMM_MIN_RAM              VMM_MiB (16)

/* The PCI hole below 4 GiB. SeaBIOS puts ECAM at 0xb0000000 on Q35 and
 * assigns BARs from 0xc0000000, so RAM below 4 GiB ends where ECAM starts. */
#define VMM_PCI_HOLE_START       0xb0000000ULL /* RAM below 4 GiB ends here */
#define VMM_PCI_ECAM_BASE        0xb0000000ULL
#define VMM_PCI_ECAM_SIZE        VMM_MiB (256)  /* 256 buses × 32 devices × 8 functions × 4 KiB */
#define VMM_PCI_ECAM_BUSES       256
#define VMM_PCI_MMIO32_BASE      0xc0000000ULL
#define VMM_PCI_MMIO32_SIZE      (VMM_IOAPIC_ADDR - VMM_PCI_MMIO32_BASE)
#define VMM_IOAPIC_ADDR          0xfec00000ULL
#define VMM_LAPIC_ADDR           0xfee00000ULL
#define VMM_KVM_IDENTITY_MAP     0xfeffc000ULL
#define VMM_KVM_TSS_ADDR         0xfeffd000ULL /* three pages */
#define VMM_FIRMWARE_TOP         0x100000000ULL
#define VMM_FIRMWARE_MAX         VMM_MiB (16)   /* from 0xff000000 */
#define VMM_ISA_BIOS_SIZE        VMM_KiB (128)  /* the ROM's end, also at 0xe0000 */
#define VMM_VGA_WINDOW_BASE      0xa0000ULL
#define VMM_VGA_WINDOW_SIZE      VMM_KiB (128)

#define VMM_HIGH_RAM_BASE        0x100000000ULL
#define VMM_PCI_MMIO64_ALIGN     VMM_GiB (1)
#define VMM_PCI_MMIO64_SIZE      VMM_GiB (64)

/* Legacy I/O ports */
#define VMM_PORT_PIC_MASTER      0x20
#define VMM_PORT_PIT             0x40
#define VMM_PORT_I8042_DATA      0x60
#define VMM_PORT_I8042_CMD       0x64
#define VMM_PORT_RTC             0x70          /* index at 0x70, data at 0x71 */
#define VMM_PORT_PVPANIC         0x505
#define VMM_PORT_COM1            0x3f8
#define VMM_PORT_COM2            0x2f8
#define VMM_PORT_PCI_CONFIG_ADDR 0xcf8
#define VMM_PORT_PCI_CONFIG_DATA 0xcfc  /* and 0xcf9, reset control, in between */
#define VMM_PORT_FW_CFG          0x510         /* selector, data; DMA at 0x514 */

/* ACPI fixed hardware, as on QEMU's q35 so firmware that knows it is at home */
#define VMM_PORT_ACPI_PM_BASE    0x600
#define VMM_PORT_ACPI_PM1A_EVT   0x600         /* status (2 bytes), enable (2 bytes) */
#define VMM_PORT_ACPI_PM1A_CNT   0x604         /* 2 bytes */
#define VMM_PORT_ACPI_PM_TMR     0x608         /* 4 bytes, 3.579545 MHz */
#define VMM_PORT_ACPI_GPE0       0x620         /* status (8 bytes), enable (8 bytes) */
#define VMM_ACPI_GPE0_LEN        16
#define VMM_ACPI_SCI_IRQ         9
#define VMM_ACPI_PM_BLOCK_LEN    0x80          /* with the chipset's SMI registers */

/* Reset: the FADT's reset register points at the i8042 command port. */
#define VMM_ACPI_RESET_PORT      VMM_PORT_I8042_CMD
#define VMM_ACPI_RESET_VALUE     0xfe

/* ISA interrupts */
#define VMM_IRQ_PIT              0
#define VMM_IRQ_COM2             3
#define VMM_IRQ_COM1             4
#define VMM_IRQ_RTC              8
#define VMM_IOAPIC_PINS          24
/* PCI INTx: slot S's pin P (INTA = 0) raises IOAPIC pin 16 + (S + P) % 4,
 * through the chipset's PIRQ A..D (the DSDT's _PRT says so) */
#define VMM_PCI_INTX_GSI_BASE    16
#define VMM_PCI_SLOTS_ROUTED     32
