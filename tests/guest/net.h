/* net.h: mode=net and mode=netbench (net.c), over the virtio-net driver
 * in netdev.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "acpi.h"
#include "pci.h"

/* Byte OFF of the stream for SEED: byte OFF % 8 (little-endian) of
 * splitmix64 ((SEED << 40) + OFF / 8); net-harness.py computes the same */
void net_pattern (uint32_t seed, uint64_t off, uint8_t *buf, uint32_t len);

/* Both end with the plan line and a power-off through ACPI */
NORETURN void net_mode (const struct pci *pci, const struct acpi *acpi);
NORETURN void netbench_mode (const struct pci *pci, const struct acpi *acpi);
/* Brings the card up and takes a DHCP lease, then leaves the card as it
 * is (idle mode's dhcp=1: the host sees the lease); false when it could
 * not */
bool net_lease (const struct pci *pci);
