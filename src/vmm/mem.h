/* mem.h: guest physical memory, as the VMM sees it
 *
 * Guest RAM is one anonymous mapping split into regions (low RAM below the
 * PCI hole, high RAM from 4 GiB). Every address and length that comes from
 * the guest goes through vmm_mem_ptr(), which refuses anything not wholly
 * inside one region, including ranges whose end overflows.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_MEM_MAX_REGIONS 4

struct vmm_mem_region {
  uint64_t gpa;   /* guest physical start */
  uint64_t size;
  uint8_t *host;  /* where it is mapped in the VMM */
};

struct vmm_mem {
  struct vmm_mem_region regions[VMM_MEM_MAX_REGIONS];
  unsigned n_regions;
  uint64_t ram_size;   /* sum of the region sizes */
  void *mapping;       /* the anonymous mapping, when vmm_mem_alloc made it */
  size_t mapping_size;
};

/* Maps RAM_SIZE bytes of guest RAM (anonymous, MAP_NORESERVE) laid out as on
 * x86: [0, min(size, low_end)) and the rest from 4 GiB. Returns 0 or -errno. */
int  vmm_mem_alloc   (struct vmm_mem *mem, uint64_t ram_size, uint64_t low_end);
void vmm_mem_free    (struct vmm_mem *mem);

/* Describes memory the caller owns (tests use a plain buffer). Returns 0, or
 * -EINVAL when regions overlap or there are too many. */
int  vmm_mem_add_region (struct vmm_mem *mem, uint64_t gpa, uint64_t size, void *host);

/* Host pointer for [gpa, gpa + len), or NULL when any byte of it is outside
 * guest RAM or the range spans two regions. LEN 0 is allowed (a pointer to
 * GPA, which must still be inside RAM). */
void *vmm_mem_ptr    (const struct vmm_mem *mem, uint64_t gpa, uint64_t len);

/* Copies to and from guest memory. Return 0, or -EFAULT for a bad range. */
int  vmm_mem_read    (const struct vmm_mem *mem, uint64_t gpa, void *buf, uint64_t len);
int  vmm_mem_write   (const struct vmm_mem *mem, uint64_t gpa, const void *buf, uint64_t len);

/* The region holding GPA, or NULL. */
const struct vmm_mem_region *vmm_mem_region_of (const struct vmm_mem *mem, uint64_t gpa);
