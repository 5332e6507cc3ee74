/* firmware/q35.h: the Q35-compatible chipset PC firmware looks for
 *
 * SeaBIOS and OVMF recognise the machine by two PCI functions and program
 * a few of their registers before anything else:
 *
 * - the host bridge at 00:00.0 (Intel's Q35 MCH, 8086:29c0): the PAM
 *   registers that decide whether 0xc0000-0xfffff reads the BIOS ROM or
 *   the RAM under it (shadowing), PCIEXBAR (where ECAM lives), TOLUD and
 *   the SMRAM control;
 * - the LPC bridge at 00:1f.0 (ICH9, 8086:2918): PMBASE and ACPI_CNTL
 *   (where the ACPI PM block decodes), the PIRQ routing registers, RCBA
 *   and the power-management configuration words; and, in the PM block,
 *   SMI_EN, which says there is no SMM to set up.
 *
 * Port 0xcf9 (reset control) is the PCI host's (devices/pci.c). The
 * chipset changes the machine through callbacks the VM gives: it maps
 * memory (KVM memory slots) for shadowing, moves ECAM and the PM block on
 * the buses, and drives the PIRQ lines. All of them are called from a
 * vCPU thread, inside a config write, with the PCI host's lock held.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "devices/pci.h"
#include "log.h"
#include "snapshot/state.h"

#define VMM_Q35_MCH_VENDOR       0x8086
#define VMM_Q35_MCH_DEVICE       0x29c0
#define VMM_Q35_LPC_DEVICE       0x2918
#define VMM_Q35_LPC_SLOT         31

/* MCH registers (config space of 00:00.0) */
#define VMM_Q35_PCIEXBAR         0x60   /* 64 bits */
#define VMM_Q35_PAM0             0x90   /* PAM0 .. PAM6 */
#define VMM_Q35_SMRAM            0x9d
#define VMM_Q35_ESMRAMC          0x9e
#define VMM_Q35_TOLUD            0xb0   /* 16 bits: bits 15:4 are address bits 31:20 */

/* LPC registers (config space of 00:1f.0) */
#define VMM_Q35_LPC_PMBASE       0x40
#define VMM_Q35_LPC_ACPI_CNTL    0x44
#define VMM_Q35_LPC_PIRQA_ROUT   0x60   /* PIRQ A-D at 0x60-0x63 */
#define VMM_Q35_LPC_PIRQE_ROUT   0x68   /* PIRQ E-H at 0x68-0x6b */
#define VMM_Q35_LPC_GEN_PMCON_1  0xa0
#define VMM_Q35_LPC_RCBA         0xf0

#define VMM_Q35_LPC_ACPI_EN      0x80

/* The PM block's chipset part, after the ACPI registers */
#define VMM_Q35_PM_SMI_EN        0x30
#define VMM_Q35_PM_SMI_STS       0x34
#define VMM_Q35_PM_LEN           0x80
#define VMM_Q35_SMI_EN_GBL       (1u << 0)
#define VMM_Q35_SMI_EN_APMC      (1u << 5)

/* The shadowed BIOS area: 13 segments, PAM0's high nibble for
 * 0xf0000-0xfffff, then PAM1..6 low and high nibbles for 16 KiB each from
 * 0xc0000. */
#define VMM_Q35_SHADOW_BASE      0xc0000ULL
#define VMM_Q35_SHADOW_END       0x100000ULL
#define VMM_Q35_PAM_SEGMENTS     13

#define VMM_Q35_PIRQS            8
/* In APIC mode PIRQ A..H are IOAPIC pins 16..23 (as on QEMU's q35). */
#define VMM_Q35_PIRQ_GSI_BASE    16

enum vmm_q35_pam_mode {
  VMM_Q35_PAM_OFF = 0,       /* reads and writes go to the bus (the BIOS ROM, or nothing) */
  VMM_Q35_PAM_READ = 1,      /* reads from RAM, writes to the bus */
  VMM_Q35_PAM_WRITE = 2,     /* reads from the bus, writes to RAM */
  VMM_Q35_PAM_RW = 3,        /* RAM */
};

struct vmm_q35_ops {
  /* Maps HOST at [GPA, GPA + SIZE) as guest memory, read-only or not;
   * returns a handle (>= 0) for unmap, or -errno. */
  int  (*map)       (void *opaque, uint64_t gpa, uint64_t size, void *host, bool readonly);
  void (*unmap)     (void *opaque, int handle);
  /* ECAM decodes at BASE (256 MiB) or not at all; the PM block at PORT. */
  void (*move_ecam) (void *opaque, uint64_t base, bool enabled);
  void (*move_pm)   (void *opaque, uint16_t port, bool enabled);
  /* Sets an interrupt line: an IOAPIC pin (PIRQ A..H on 16..23) or an
   * ISA IRQ the PIRQ routing registers send a PIRQ to. */
  void (*set_irq)   (void *opaque, unsigned gsi, bool level);
  /* Port 0x92's fast reset (called with no lock held) */
  void (*reset)     (void *opaque);
};

struct vmm_q35_config {
  uint64_t low_ram_end;      /* where RAM below 4 GiB ends (TOLUD) */
  uint64_t ecam_base;        /* PCIEXBAR at reset (enabled) */
  uint16_t pm_base;          /* PMBASE at reset (decoding) */
  /* The RAM under 0xc0000-0xfffff (guest RAM's host mapping there) */
  uint8_t *shadow_ram;
  /* The BIOS ROM's last 128 KiB, which 0xe0000-0xfffff reads while not
   * shadowed, or NULL (no firmware: the area reads as RAM from reset). */
  const uint8_t *isa_bios;
};

struct vmm_q35 {
  struct vmm_pci_device lpc;
  struct vmm_pci_device *mch;  /* the PCI host's bridge, made ours */
  struct vmm_q35_config config;
  const struct vmm_q35_ops *ops;
  void *opaque;

  pthread_mutex_t lock;      /* the fields below, for the PM and shadow handlers */
  uint8_t pam[7];            /* what the mappings follow */
  int handles[VMM_Q35_PAM_SEGMENTS];
  unsigned n_handles;
  uint32_t smi_en, smi_sts;
  uint8_t port92;
  bool pirq_level[VMM_Q35_PIRQS];
  uint8_t pirq_route[VMM_Q35_PIRQS];  /* the LPC's routing registers, copied */
  struct vmm_ratelimit rl;
};

/* The PM block's chipset registers (SMI_EN, SMI_STS), VMM_Q35_PM_LEN -
 * VMM_Q35_PM_SMI_EN bytes registered right after the ACPI PM block. */
extern const struct vmm_io_ops vmm_q35_pm_ops;
/* Port 0x92, System Control Port A: A20 (always on here) and fast reset */
#define VMM_PORT_SYSCTL_A 0x92
extern const struct vmm_io_ops vmm_q35_port92_ops;
/* The shadowed area [VMM_Q35_SHADOW_BASE, VMM_Q35_SHADOW_END) as MMIO: the
 * accesses no memory slot takes (a write to a read-only segment, anything
 * in a write-only or unmapped one). */
extern const struct vmm_io_ops vmm_q35_shadow_ops;

/* Makes BRIDGE (the PCI host's 00:00.0) the MCH and fills the LPC
 * function (for vmm_pci_host_add_at, slot VMM_Q35_LPC_SLOT); maps the
 * shadowed area as it is at reset. Returns 0 or -errno from ops->map. */
int  vmm_q35_init    (struct vmm_q35 *q35, struct vmm_pci_device *bridge,
                      const struct vmm_q35_config *config, const struct vmm_q35_ops *ops,
                      void *opaque);
void vmm_q35_destroy (struct vmm_q35 *q35);

/* A device's INTx output on PIRQ A..H (0..7) changed level. Thread-safe. */
void vmm_q35_set_pirq (struct vmm_q35 *q35, unsigned pirq, bool level);

/* What a PAM segment does now, for tests. */
enum vmm_q35_pam_mode vmm_q35_pam_mode (struct vmm_q35 *q35, unsigned segment);

/* Saved state (snapshot/README.md), one section NAME: SMI_EN and SMI_STS,
 * port 0x92, and the PIRQ lines' levels as the devices drive them. The
 * MCH's and LPC's config space is the PCI host's section: load with APPLY
 * comes after vmm_pci_host_load applied it, and does what guest writes of
 * those registers do, through the same callbacks: the shadowed area
 * mapped as PAM says (when that changed), ECAM where PCIEXBAR says, the
 * PM block where PMBASE and ACPI_CNTL say, the PIRQ routes taken and
 * every interrupt line whose level changes driven. Called with the vCPUs
 * paused (the PCI host's lock is not taken). */
void     vmm_q35_save (const struct vmm_q35 *q35, struct vmm_state_writer *w, const char *name);
gboolean vmm_q35_load (struct vmm_q35 *q35, const struct vmm_state_file *f, const char *name,
                       bool apply, GError **error);
