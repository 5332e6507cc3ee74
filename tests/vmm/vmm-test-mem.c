/* vmm-test-mem.c: fake guest RAM and the driver side of a split virtqueue
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vmm-test.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "viv-bytes.h"
#include "virtio/virtq.h"

/* ---- RAM ---------------------------------------------------------------------- */

static unsigned
ram_slot (struct vmm_test_ram *ram, uint64_t gpa, uint64_t size, void *host)
{
  unsigned i = ram->mem.n_regions;

  g_assert_cmpuint (i, <, VMM_MEM_MAX_REGIONS);
  g_assert_cmpint (vmm_mem_add_region (&ram->mem, gpa, size, host), ==, 0);
  return i;
}

/* Fresh anonymous pages rather than the heap: they read as zeroes without
 * being written, so a guest of hundreds of MiB costs only the pages a test
 * touches (memset on a heap block would touch them all). */
uint8_t *
vmm_test_ram_add (struct vmm_test_ram *ram, uint64_t gpa, uint64_t size)
{
  size_t page = (size_t) sysconf (_SC_PAGESIZE);
  size_t len;
  uint8_t *map;
  unsigned i;

  g_assert_cmpuint (size, >, 0);
  g_assert_cmpuint (size % page, ==, 0);
  len = size + 2 * page;
  map = mmap (NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  g_assert_true (map != MAP_FAILED);
  g_assert_cmpint (mprotect (map + page, size, PROT_READ | PROT_WRITE), ==, 0);
  i = ram_slot (ram, gpa, size, map + page);
  ram->maps[i] = map;
  ram->map_sizes[i] = len;
  return map + page;
}

void
vmm_test_ram_reserve (struct vmm_test_ram *ram, uint64_t gpa, uint64_t size)
{
  void *p = mmap (NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  unsigned i;

  g_assert_true (p != MAP_FAILED);
  i = ram_slot (ram, gpa, size, p);
  ram->maps[i] = p;
  ram->map_sizes[i] = size;
}

void
vmm_test_ram_free (struct vmm_test_ram *ram)
{
  for (unsigned i = 0; i < ram->mem.n_regions; i++)
    g_assert_cmpint (munmap (ram->maps[i], ram->map_sizes[i]), ==, 0);
  memset (ram, 0, sizeof *ram);
}

void *
vmm_test_ptr (const struct vmm_mem *mem, uint64_t gpa, uint64_t len)
{
  void *p = vmm_mem_ptr (mem, gpa, len);

  g_assert_nonnull (p);
  return p;
}

uint16_t
vmm_test_get16 (const struct vmm_mem *mem, uint64_t gpa)
{
  return viv_get_le16 (vmm_test_ptr (mem, gpa, 2));
}

uint32_t
vmm_test_get32 (const struct vmm_mem *mem, uint64_t gpa)
{
  return viv_get_le32 (vmm_test_ptr (mem, gpa, 4));
}

uint64_t
vmm_test_get64 (const struct vmm_mem *mem, uint64_t gpa)
{
  return viv_get_le64 (vmm_test_ptr (mem, gpa, 8));
}

void
vmm_test_put16 (const struct vmm_mem *mem, uint64_t gpa, uint16_t v)
{
  viv_put_le16 (vmm_test_ptr (mem, gpa, 2), v);
}

void
vmm_test_put32 (const struct vmm_mem *mem, uint64_t gpa, uint32_t v)
{
  viv_put_le32 (vmm_test_ptr (mem, gpa, 4), v);
}

void
vmm_test_put64 (const struct vmm_mem *mem, uint64_t gpa, uint64_t v)
{
  viv_put_le64 (vmm_test_ptr (mem, gpa, 8), v);
}

/* ---- the driver ------------------------------------------------------------------- */

void
vmm_test_vq_init (struct vmm_test_vq *vq, const struct vmm_mem *mem, uint16_t size,
                  uint64_t desc, uint64_t avail, uint64_t used, uint64_t data_start,
                  uint64_t data_end)
{
  memset (vq, 0, sizeof *vq);
  vq->mem = mem;
  vq->size = size;
  vq->desc = desc;
  vq->avail = avail;
  vq->used = used;
  vq->data_start = vq->next_data = data_start;
  vq->data_end = data_end;
}

/* LEN bytes of the data area, 16-aligned */
static uint64_t
carve (struct vmm_test_vq *vq, uint32_t len)
{
  uint64_t gpa;

  g_assert_cmpuint (len, <=, vq->data_end - vq->data_start);
  if (vq->next_data + len > vq->data_end)
    vq->next_data = vq->data_start;
  gpa = vq->next_data;
  vq->next_data = (vq->next_data + len + 15) & ~(uint64_t) 15;
  return gpa;
}

uint64_t
vmm_test_vq_data (struct vmm_test_vq *vq, uint32_t len, uint8_t seed)
{
  uint64_t gpa = carve (vq, len);
  uint8_t *p = vmm_test_ptr (vq->mem, gpa, len);

  for (uint32_t i = 0; i < len; i++)
    p[i] = (uint8_t) (seed + i);
  return gpa;
}

uint64_t
vmm_test_vq_copy (struct vmm_test_vq *vq, const void *data, uint32_t len)
{
  uint64_t gpa = carve (vq, len);
  uint8_t *p = vmm_test_ptr (vq->mem, gpa, len);

  if (data != NULL)
    memcpy (p, data, len);
  else
    memset (p, 0, len);
  return gpa;
}

void
vmm_test_put_desc_at (void *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
  uint8_t *b = p;

  viv_put_le64 (b, addr);
  viv_put_le32 (b + 8, len);
  viv_put_le16 (b + 12, flags);
  viv_put_le16 (b + 14, next);
}

void
vmm_test_vq_put_desc (struct vmm_test_vq *vq, uint64_t table, unsigned i, uint64_t addr,
                      uint32_t len, uint16_t flags, uint16_t next)
{
  vmm_test_put_desc_at (vmm_test_ptr (vq->mem, table + 16 * (uint64_t) i, 16), addr, len, flags,
                        next);
}

void
vmm_test_vq_offer (struct vmm_test_vq *vq, uint16_t head)
{
  vmm_test_put16 (vq->mem, vq->avail + 4 + 2 * (uint64_t) (vq->avail_idx % vq->size), head);
  vq->avail_idx++;
}

void
vmm_test_vq_publish (struct vmm_test_vq *vq)
{
  /* The entries and descriptors before the index, for a device thread */
  __atomic_thread_fence (__ATOMIC_RELEASE);
  vmm_test_put16 (vq->mem, vq->avail + 2, vq->avail_idx);
}

uint16_t
vmm_test_vq_add (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n, unsigned n_out)
{
  uint16_t head = vq->next_desc % vq->size;

  for (unsigned k = 0; k < n; k++)
    {
      uint16_t i = vq->next_desc++ % vq->size;
      uint16_t flags = (k >= n_out ? VIRTQ_DESC_F_WRITE : 0)
                       | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

      vmm_test_vq_put_desc (vq, vq->desc, i, vmm_test_vq_data (vq, lens[k], (uint8_t) (16 * k)),
                            lens[k], flags, vq->next_desc % vq->size);
    }
  vmm_test_vq_offer (vq, head);
  vmm_test_vq_publish (vq);
  return head;
}

uint64_t
vmm_test_vq_table (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n, unsigned n_out)
{
  uint64_t table = vmm_test_vq_data (vq, 16 * n, 0);

  for (unsigned k = 0; k < n; k++)
    {
      uint16_t flags = (k >= n_out ? VIRTQ_DESC_F_WRITE : 0)
                       | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

      vmm_test_vq_put_desc (vq, table, k, vmm_test_vq_data (vq, lens[k], (uint8_t) (16 * k)),
                            lens[k], flags, (uint16_t) (k + 1));
    }
  return table;
}

uint16_t
vmm_test_vq_add_indirect (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n,
                          unsigned n_out)
{
  uint64_t table = vmm_test_vq_table (vq, lens, n, n_out);
  uint16_t head = vq->next_desc++ % vq->size;

  vmm_test_vq_put_desc (vq, vq->desc, head, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
  vmm_test_vq_offer (vq, head);
  vmm_test_vq_publish (vq);
  return head;
}

uint16_t
vmm_test_vq_add_bufs (struct vmm_test_vq *vq, const struct vmm_test_buf *bufs, unsigned n)
{
  uint16_t head = vq->next_desc % vq->size;

  g_assert_cmpuint (n, >, 0);
  for (unsigned k = 0; k < n; k++)
    {
      uint16_t i = vq->next_desc++ % vq->size;
      uint16_t flags = (bufs[k].writable ? VIRTQ_DESC_F_WRITE : 0)
                       | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

      vmm_test_vq_put_desc (vq, vq->desc, i, bufs[k].gpa, bufs[k].len, flags,
                            vq->next_desc % vq->size);
    }
  vmm_test_vq_offer (vq, head);
  vmm_test_vq_publish (vq);
  return head;
}

uint16_t
vmm_test_vq_used_idx (const struct vmm_test_vq *vq)
{
  const uint16_t *p = vmm_test_ptr (vq->mem, vq->used + 2, 2);
  uint16_t v = __atomic_load_n (p, __ATOMIC_ACQUIRE);

  return viv_get_le16 (&v);
}

void
vmm_test_vq_used_elem (const struct vmm_test_vq *vq, uint16_t idx, uint32_t *id, uint32_t *len)
{
  uint64_t e = vq->used + 4 + 8 * (uint64_t) (idx % vq->size);

  *id = vmm_test_get32 (vq->mem, e);
  *len = vmm_test_get32 (vq->mem, e + 4);
}

bool
vmm_test_vq_next_used (struct vmm_test_vq *vq, uint32_t *id, uint32_t *len)
{
  if (vmm_test_vq_used_idx (vq) == vq->last_used)
    return false;
  vmm_test_vq_used_elem (vq, vq->last_used++, id, len);
  return true;
}

struct next_used {
  struct vmm_test_vq *vq;
  uint32_t *id, *len;
};

static bool
next_used_cb (void *data)
{
  struct next_used *n = data;

  return vmm_test_vq_next_used (n->vq, n->id, n->len);
}

bool
vmm_test_vq_wait_used (struct vmm_test_vq *vq, uint32_t *id, uint32_t *len,
                       unsigned timeout_ms)
{
  struct next_used n = { vq, id, len };

  return vmm_test_wait_until (next_used_cb, &n, timeout_ms);
}

uint64_t
vmm_test_vq_used_event (const struct vmm_test_vq *vq)
{
  return vq->avail + 4 + 2 * (uint64_t) vq->size;
}

uint64_t
vmm_test_vq_avail_event (const struct vmm_test_vq *vq)
{
  return vq->used + 4 + 8 * (uint64_t) vq->size;
}
