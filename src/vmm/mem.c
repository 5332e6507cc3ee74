/* mem.c: guest physical memory
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86/layout.h"

int
vmm_mem_add_region (struct vmm_mem *mem, uint64_t gpa, uint64_t size, void *host)
{
  if (mem->n_regions >= VMM_MEM_MAX_REGIONS || size == 0 || gpa + size < gpa)
    return -EINVAL;
  for (unsigned i = 0; i < mem->n_regions; i++)
    {
      const struct vmm_mem_region *r = &mem->regions[i];
      if (gpa < r->gpa + r->size && r->gpa < gpa + size)
        return -EINVAL;
    }
  mem->regions[mem->n_regions++] = (struct vmm_mem_region) { gpa, size, host };
  mem->ram_size += size;
  return 0;
}

int
vmm_mem_alloc (struct vmm_mem *mem, uint64_t ram_size, uint64_t low_end)
{
  uint64_t low, high;
  void *map;
  int ret;

  memset (mem, 0, sizeof *mem);
  if (ram_size == 0 || low_end == 0 || low_end > VMM_HIGH_RAM_BASE)
    return -EINVAL;

  map = mmap (NULL, ram_size, PROT_READ | PROT_WRITE,
              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED)
    return -errno;
  /* Transparent huge pages make guest RAM faster to touch and walk. */
  madvise (map, ram_size, MADV_HUGEPAGE);
  /* A core dump of the helper should not carry the guest's RAM. */
  madvise (map, ram_size, MADV_DONTDUMP);

  mem->mapping = map;
  mem->mapping_size = ram_size;

  low = ram_size < low_end ? ram_size : low_end;
  high = ram_size - low;
  ret = vmm_mem_add_region (mem, 0, low, map);
  if (ret == 0 && high > 0)
    ret = vmm_mem_add_region (mem, VMM_HIGH_RAM_BASE, high, (uint8_t *) map + low);
  if (ret < 0)
    vmm_mem_free (mem);
  return ret;
}

void
vmm_mem_free (struct vmm_mem *mem)
{
  if (mem->mapping != NULL)
    munmap (mem->mapping, mem->mapping_size);
  memset (mem, 0, sizeof *mem);
}

const struct vmm_mem_region *
vmm_mem_region_of (const struct vmm_mem *mem, uint64_t gpa)
{
  for (unsigned i = 0; i < mem->n_regions; i++)
    {
      const struct vmm_mem_region *r = &mem->regions[i];
      if (gpa >= r->gpa && gpa - r->gpa < r->size)
        return r;
    }
  return NULL;
}

void *
vmm_mem_ptr (const struct vmm_mem *mem, uint64_t gpa, uint64_t len)
{
  const struct vmm_mem_region *r = vmm_mem_region_of (mem, gpa);
  uint64_t off;

  if (r == NULL)
    return NULL;
  off = gpa - r->gpa;
  /* off < size here, so size - off cannot wrap */
  if (len > r->size - off)
    return NULL;
  return r->host + off;
}

int
vmm_mem_read (const struct vmm_mem *mem, uint64_t gpa, void *buf, uint64_t len)
{
  void *p = vmm_mem_ptr (mem, gpa, len);

  if (p == NULL)
    return -EFAULT;
  memcpy (buf, p, len);
  return 0;
}

int
vmm_mem_write (const struct vmm_mem *mem, uint64_t gpa, const void *buf, uint64_t len)
{
  void *p = vmm_mem_ptr (mem, gpa, len);

  if (p == NULL)
    return -EFAULT;
  memcpy (p, buf, len);
  return 0;
}
