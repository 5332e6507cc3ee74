/* vmm-test-bus.c: accesses through a bus, as a vCPU makes them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vmm-test.h"

#include "viv-bytes.h"

uint64_t
vmm_test_bus_in (struct vmm_bus *bus, uint64_t addr, uint32_t len)
{
  uint8_t buf[8];

  vmm_bus_read (bus, addr, buf, len);
  return viv_get_le (buf, len);
}

void
vmm_test_bus_out (struct vmm_bus *bus, uint64_t addr, uint32_t len, uint64_t value)
{
  uint8_t buf[8];

  viv_put_le (buf, value, len);
  vmm_bus_write (bus, addr, buf, len);
}
