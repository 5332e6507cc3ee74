/* arch/x86/e820.c: the guest's memory map
 *
 * The map mirrors what vmm_mem_alloc lays out and what the rest of the
 * platform puts in the holes: the EBDA and the ACPI area below 1 MiB are
 * reserved so the kernel leaves the tables alone, and the PCI ECAM window is
 * reserved because Linux only trusts MCFG when e820 reserves its range.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "arch/x86/boot.h"

#include <errno.h>

#include "arch/x86/layout.h"

static int
e820_add (struct vmm_e820_entry *entries, unsigned max, unsigned *n,
          uint64_t addr, uint64_t size, uint32_t type)
{
  if (*n >= max)
    return -EINVAL;
  entries[*n] = (struct vmm_e820_entry) { .addr = addr, .size = size, .type = type };
  (*n)++;
  return 0;
}

int
vmm_e820_build (uint64_t ram_size, struct vmm_e820_entry *entries, unsigned max)
{
  uint64_t low_end;
  unsigned n = 0;
  int ret;

  if (ram_size < VMM_MIN_RAM || entries == NULL)
    return -EINVAL;
  /* Guest RAM must fit in the physical address space after the hole. */
  if (ram_size > UINT64_MAX - VMM_HIGH_RAM_BASE)
    return -EINVAL;

  low_end = ram_size < VMM_PCI_HOLE_START ? ram_size : VMM_PCI_HOLE_START;

  if ((ret = e820_add (entries, max, &n, 0, VMM_EBDA_START, VMM_E820_RAM)) < 0
      || (ret = e820_add (entries, max, &n, VMM_EBDA_START,
                          VMM_LOW_RAM_TOP - VMM_EBDA_START, VMM_E820_RESERVED)) < 0
      || (ret = e820_add (entries, max, &n, VMM_ACPI_BASE,
                          VMM_BIOS_AREA_END - VMM_ACPI_BASE, VMM_E820_RESERVED)) < 0
      || (ret = e820_add (entries, max, &n, VMM_HIMEM_START,
                          low_end - VMM_HIMEM_START, VMM_E820_RAM)) < 0
      || (ret = e820_add (entries, max, &n, VMM_PCI_ECAM_BASE,
                          VMM_PCI_ECAM_SIZE, VMM_E820_RESERVED)) < 0)
    return ret;

  /* The RAM the PCI hole displaced continues at 4 GiB. */
  if (ram_size > low_end
      && (ret = e820_add (entries, max, &n, VMM_HIGH_RAM_BASE,
                          ram_size - low_end, VMM_E820_RAM)) < 0)
    return ret;

  return (int) n;
}
