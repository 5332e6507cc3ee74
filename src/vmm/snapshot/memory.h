/* snapshot/memory.h: guest RAM to a file, and back by mapping it
 *
 * Saving writes each page of the guest's RAM mapping the guest has touched
 * (present or swapped out, as /proc/self/pagemap says) and that is not all
 * zeroes, at its offset in the mapping, and leaves every other page a hole: a 4 GiB guest that used
 * 300 MiB makes a file of 4 GiB that takes 300 MiB. Restoring maps the
 * file privately over the same addresses (MAP_FIXED): KVM's memory slots
 * and every device's pointers into RAM stay valid, pages are read from the
 * file on first touch, and the guest's writes go to private copies, never
 * to the file. RAM mapped from a file this way counts the file's data as
 * touched when it is saved again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

#include <glib.h>

#include "mem.h"

/* Writes MEM's mapping to a new file PATH (created, made the mapping's size,
 * fsynced); *WRITTEN (may be NULL) gets the bytes of pages written. BASE_FD:
 * the file the mapping was last mapped from (vmm_snapshot_memory_map), or
 * -1. FALSE with *ERROR set; PATH is then removed. */
gboolean vmm_snapshot_memory_save (const struct vmm_mem *mem, int base_fd, const char *path,
                                   uint64_t *written, GError **error);

/* Maps the file PATH, which must be exactly MEM's mapping's size, privately
 * over that mapping. Returns the file's descriptor (for the next save's
 * BASE_FD; the caller closes it after the mapping goes), or -1 with *ERROR
 * set and the mapping untouched. */
int vmm_snapshot_memory_map (struct vmm_mem *mem, const char *path, GError **error);
