/* virtio/virtq.c: the split virtqueue, device side (virtio 1.2, 2.7)
 *
 * The driver (the guest) writes the descriptor table and the available ring
 * while we read them, possibly on another CPU and possibly maliciously. So:
 * every ring field is loaded exactly once into a local and only the local is
 * checked and used; avail->idx is loaded with acquire semantics so the ring
 * entries and descriptors the driver published before it are visible; used
 * elements are published before used->idx with release semantics.
 *
 * Ring fields are accessed through __atomic builtins on naturally aligned
 * addresses: that is what makes a concurrent guest write a torn value at
 * worst, never undefined behaviour in the VMM. virtq_start() checks the
 * alignments once; indirect tables are checked when met.
 *
 * Devices take chains with virtq_pop_or_enable(), which closes the race
 * between the last pop and re-enabling notifications: enabling is followed
 * by a full barrier and a last look at avail->idx. A drain takes at most
 * a budget of chains, so that no guest can keep it going: the rings never
 * overlap (virtq_start), so the device's writes cannot move what it reads,
 * but another vCPU can refill the ring for ever.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtq.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define VIRTQ_DESC_SIZE 16u

/* The spec allows a chain of up to 2^32 bytes (2.7.5: "Drivers MUST NOT add
 * a descriptor chain longer than 2^32 bytes in total"). */
#define VIRTQ_CHAIN_MAX_BYTES (UINT64_C (1) << 32)

/* The spec asks no alignment of indirect tables; we want the 64-bit addr
 * field of every entry naturally aligned, and every driver we know allocates
 * them at least that aligned (Linux's kmalloc promises 8 bytes, not 16). */
#define VIRTQ_INDIRECT_ALIGN 8u

/* Offsets, in uint16_t units, into the avail and used rings. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX   1
#define AVAIL_RING  2
#define USED_FLAGS  0
#define USED_IDX    1

static inline uint16_t
load16 (const volatile uint16_t *p)
{
  return le16toh (__atomic_load_n (p, __ATOMIC_RELAXED));
}

static inline void
store16 (volatile uint16_t *p, uint16_t v)
{
  __atomic_store_n (p, htole16 (v), __ATOMIC_RELAXED);
}

static inline volatile uint16_t *
used_event_ptr (const struct virtq *q)
{
  return &q->avail[AVAIL_RING + q->size];
}

static inline volatile uint16_t *
avail_event_ptr (const struct virtq *q)
{
  /* after flags, idx and size 8-byte elements: 2 + 4 × size uint16_t */
  return &q->used[2 + 4 * (size_t) q->size];
}

/* Copies descriptor I of TABLE (16-byte entries, 8-byte aligned). The copy
 * is the only thing the walk looks at afterwards. */
static struct virtq_desc
desc_load (const volatile void *table, unsigned i)
{
  const volatile uint8_t *p = (const volatile uint8_t *) table + (size_t) i * VIRTQ_DESC_SIZE;
  struct virtq_desc d;

  d.addr = le64toh (__atomic_load_n ((const volatile uint64_t *) p, __ATOMIC_RELAXED));
  d.len = le32toh (__atomic_load_n ((const volatile uint32_t *) (p + 8), __ATOMIC_RELAXED));
  d.flags = le16toh (__atomic_load_n ((const volatile uint16_t *) (p + 12), __ATOMIC_RELAXED));
  d.next = le16toh (__atomic_load_n ((const volatile uint16_t *) (p + 14), __ATOMIC_RELAXED));
  return d;
}

static int
fail (struct virtq *q, const char *why)
{
  q->broken = true;
  q->error = why;
  return -EIO;
}

void
virtq_init (struct virtq *q, const struct vmm_mem *mem)
{
  memset (q, 0, sizeof *q);
  q->mem = mem;
}

void
virtq_reset (struct virtq *q)
{
  const struct vmm_mem *mem = q->mem;

  free (q->iov);
  virtq_init (q, mem);
}

/* Maps the ring at GPA of LEN bytes aligned to ALIGN, or returns -errno. */
static int
map_ring (const struct virtq *q, uint64_t gpa, uint64_t len, unsigned align, void **out)
{
  void *p;

  if (gpa % align != 0)
    return -EINVAL;
  p = vmm_mem_ptr (q->mem, gpa, len);
  if (p == NULL)
    return -EFAULT;
  /* Guest RAM is page aligned in the VMM; a caller-made region that is not
   * would make our aligned accesses unaligned. */
  if ((uintptr_t) p % align != 0)
    return -EINVAL;
  *out = p;
  return 0;
}

/* Whether [A, A + ALEN) and [B, B + BLEN) share a byte (in guest physical
 * addresses; both ranges are in RAM, so neither end overflows) */
static bool
ranges_overlap (uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
  return a < b + blen && b < a + alen;
}

/* The checks of virtq_start, with the rings' host addresses: 0, or
 * -EINVAL / -EFAULT with *WHY set */
static int
check_rings (const struct virtq *q, void **desc, void **avail, void **used, const char **why)
{
  uint64_t desc_len, avail_len, used_len, event;
  int ret;

  if (q->mem == NULL)
    {
      *why = "no guest memory";
      return -EINVAL;
    }
  if (q->size == 0 || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)) != 0)
    {
      *why = "queue size is not a power of two up to 32768";
      return -EINVAL;
    }

  /* used_event and avail_event are reserved whether or not EVENT_IDX is
   * negotiated, as every driver lays the rings out. */
  desc_len = (uint64_t) VIRTQ_DESC_SIZE * q->size;
  ret = map_ring (q, q->desc_gpa, desc_len, 16, desc);
  if (ret == 0)
    ret = map_ring (q, q->avail_gpa, 6 + 2 * (uint64_t) q->size, 2, avail);
  if (ret == 0)
    ret = map_ring (q, q->used_gpa, 6 + 8 * (uint64_t) q->size, 4, used);
  if (ret < 0)
    {
      *why = ret == -EFAULT ? "rings lie outside guest memory" : "rings are misaligned";
      return ret;
    }

  /* The rings must not share a byte (2.7: three separate parts): the device
   * writes the used ring, and reads the other two as the driver's. Were
   * used->flags avail->idx, turning kicks off and on would move the avail
   * index under the device. The bytes the device touches count: the event
   * fields only with EVENT_IDX (without it, a driver may put something else
   * there). */
  event = q->event_idx ? 2 : 0;
  avail_len = 4 + 2 * (uint64_t) q->size + event;
  used_len = 4 + 8 * (uint64_t) q->size + event;
  if (ranges_overlap (q->desc_gpa, desc_len, q->avail_gpa, avail_len) ||
      ranges_overlap (q->desc_gpa, desc_len, q->used_gpa, used_len) ||
      ranges_overlap (q->avail_gpa, avail_len, q->used_gpa, used_len))
    {
      *why = "rings overlap";
      return -EINVAL;
    }
  return 0;
}

int
virtq_check (const struct virtq *q, const char **why)
{
  void *desc, *avail, *used;

  return check_rings (q, &desc, &avail, &used, why);
}

int
virtq_start (struct virtq *q)
{
  void *desc, *avail, *used;
  struct virtq_iov *iov;
  int ret;

  q->error = NULL;
  ret = check_rings (q, &desc, &avail, &used, &q->error);
  if (ret < 0)
    return ret;

  /* A chain holds at most size descriptors (direct and indirect together),
   * each giving at most one segment. */
  iov = calloc (q->size, sizeof *iov);
  if (iov == NULL)
    return -ENOMEM;
  free (q->iov);
  q->iov = iov;
  q->iov_cap = q->size;

  q->desc = desc;
  q->avail = avail;
  q->used = used;
  q->drain_budget = q->size;
  q->started = true;
  return 0;
}

void
virtq_get_progress (const struct virtq *q, struct virtq_progress *p)
{
  *p = (struct virtq_progress) {
    .last_avail_idx = q->last_avail_idx,
    .used_idx = q->used_idx,
    .signalled_used = q->signalled_used,
    .signalled_used_valid = q->signalled_used_valid,
    .notify_off = q->notify_off,
    .broken = q->broken,
  };
}

int
virtq_restore (struct virtq *q, const struct virtq_progress *p)
{
  int ret = virtq_start (q);

  if (ret < 0)
    return ret;
  q->last_avail_idx = p->last_avail_idx;
  q->used_idx = p->used_idx;
  q->signalled_used = p->signalled_used;
  q->signalled_used_valid = p->signalled_used_valid;
  q->notify_off = p->notify_off;
  /* Why it broke was a static string of the engine that saved it */
  q->broken = p->broken;
  q->error = p->broken ? "malformed descriptor chain (before the snapshot)" : NULL;
  return 0;
}

/* Walks the chain starting at HEAD into Q's iov array. The walk is bounded:
 * at most size entries of the ring's table, then (no nesting) at most size
 * entries of one indirect table. */
static int
walk_chain (struct virtq *q, uint16_t head, struct virtq_chain *chain)
{
  const volatile void *table = q->desc;
  unsigned table_len = q->size;     /* entries in the table being walked */
  unsigned in_table = 0;            /* descriptors visited in that table */
  unsigned n_data = 0;              /* non-indirect descriptors in the chain */
  unsigned n_iov = 0;
  bool indirect = false, writable = false;
  uint64_t out_len = 0, in_len = 0;
  unsigned i = head;

  for (;;)
    {
      struct virtq_desc d;
      void *p;

      /* Each table is walked at most once per entry: that bounds the walk
       * and catches loops. The whole chain is bounded by the queue size. */
      if (++in_table > table_len)
        return fail (q, "descriptor chain loops");
      d = desc_load (table, i);

      if (d.flags & VIRTQ_DESC_F_INDIRECT)
        {
          /* The WRITE flag of this descriptor means nothing (2.7.5.3.2). */
          if (!q->indirect)
            return fail (q, "indirect descriptor but VIRTIO_F_INDIRECT_DESC not negotiated");
          if (indirect)
            return fail (q, "nested indirect descriptor");
          if (d.flags & VIRTQ_DESC_F_NEXT)
            return fail (q, "indirect descriptor with NEXT set");
          if (d.len == 0 || d.len % VIRTQ_DESC_SIZE != 0)
            return fail (q, "indirect table length is zero or not a multiple of 16");
          if (d.len / VIRTQ_DESC_SIZE > q->size)
            return fail (q, "indirect table longer than the queue");
          if (d.addr % VIRTQ_INDIRECT_ALIGN != 0)
            return fail (q, "indirect table misaligned");
          p = vmm_mem_ptr (q->mem, d.addr, d.len);
          if (p == NULL)
            return fail (q, "indirect table outside guest RAM");
          if ((uintptr_t) p % VIRTQ_INDIRECT_ALIGN != 0)
            return fail (q, "indirect table misaligned");
          table = p;
          table_len = d.len / VIRTQ_DESC_SIZE;
          in_table = 0;
          indirect = true;
          i = 0;
          continue;
        }

      if (++n_data > q->size)
        return fail (q, "descriptor chain longer than the queue");

      if (d.flags & VIRTQ_DESC_F_WRITE)
        writable = true;
      else if (writable)
        return fail (q, "device-readable descriptor after a device-writable one");

      /* Zero-length buffers are legal, but their address must still be RAM. */
      p = vmm_mem_ptr (q->mem, d.addr, d.len);
      if (p == NULL)
        return fail (q, "descriptor buffer outside guest RAM or across regions");

      /* At most size × 2^32 - 1 bytes: no overflow in 64 bits. */
      if (d.flags & VIRTQ_DESC_F_WRITE)
        in_len += d.len;
      else
        out_len += d.len;
      if (out_len + in_len > VIRTQ_CHAIN_MAX_BYTES)
        return fail (q, "descriptor chain longer than 4 GiB");

      if (d.len > 0)
        {
          q->iov[n_iov].base = p;
          q->iov[n_iov].len = d.len;
          n_iov++;
          if (d.flags & VIRTQ_DESC_F_WRITE)
            chain->n_in++;
          else
            chain->n_out++;
        }

      if (!(d.flags & VIRTQ_DESC_F_NEXT))
        break;
      if (d.next >= table_len)
        return fail (q, "descriptor next index out of range");
      i = d.next;
    }

  chain->out_len = out_len;
  chain->in_len = in_len;
  return 0;
}

int
virtq_pop (struct virtq *q, struct virtq_chain *chain)
{
  uint16_t avail_idx, pending, head;
  int ret;

  if (q->broken)
    return -EIO;
  if (!q->started)
    return 0;

  /* Acquire: the ring entries and descriptors written before idx are
   * visible to the loads below. */
  avail_idx = le16toh (__atomic_load_n (&q->avail[AVAIL_IDX], __ATOMIC_ACQUIRE));
  pending = (uint16_t) (avail_idx - q->last_avail_idx);
  if (pending == 0)
    return 0;
  if (pending > q->size)
    return fail (q, "available index more than the queue size ahead");

  head = load16 (&q->avail[AVAIL_RING + q->last_avail_idx % q->size]);
  if (head >= q->size)
    return fail (q, "available ring head index out of range");

  memset (chain, 0, sizeof *chain);
  chain->head = head;
  chain->iov = q->iov;
  ret = walk_chain (q, head, chain);
  if (ret < 0)
    return ret;

  q->last_avail_idx++;
  return 1;
}

/* Whether the driver made chains available that we have not taken */
static bool
has_pending (const struct virtq *q)
{
  return le16toh (__atomic_load_n (&q->avail[AVAIL_IDX], __ATOMIC_ACQUIRE)) != q->last_avail_idx;
}

/* virtq_pop, within *BUDGET: -EAGAIN when it is spent and the ring is not
 * empty (its order says why: broken first, then nothing to do, then not
 * now). */
static int
pop_budgeted (struct virtq *q, struct virtq_chain *chain, unsigned *budget)
{
  int ret;

  if (q->broken)
    return -EIO;
  if (*budget == 0)
    return q->started && has_pending (q) ? -EAGAIN : 0;
  ret = virtq_pop (q, chain);
  if (ret > 0)
    (*budget)--;
  return ret;
}

int
virtq_pop_quiet (struct virtq *q, struct virtq_chain *chain, unsigned *budget)
{
  /* Once per drain, not once per chain: the flag is in guest memory. */
  if (!q->notify_off)
    virtq_disable_notify (q);
  return pop_budgeted (q, chain, budget);
}

int
virtq_pop_or_enable (struct virtq *q, struct virtq_chain *chain, unsigned *budget)
{
  int ret = virtq_pop_quiet (q, chain, budget);

  if (ret != 0 || !virtq_enable_notify (q))
    return ret;
  /* A chain was made available between the last look and enabling, and
   * the driver need not have kicked for it: take it now, with kicks on
   * (the next call turns them off again). If it is gone (a driver moving
   * avail->idx back), the ring is empty with kicks on, as 0 says. */
  return pop_budgeted (q, chain, budget);
}

unsigned
virtq_drain_budget (const struct virtq *q)
{
  return q->drain_budget;
}

void
virtq_unpop (struct virtq *q)
{
  q->last_avail_idx--;
}

void
virtq_push (struct virtq *q, uint16_t head, uint32_t len)
{
  volatile uint32_t *elem;

  if (!q->started)
    return;
  elem = (volatile uint32_t *) &q->used[2] + 2 * (size_t) (q->used_idx % q->size);
  __atomic_store_n (&elem[0], htole32 (head), __ATOMIC_RELAXED);
  __atomic_store_n (&elem[1], htole32 (len), __ATOMIC_RELAXED);
  q->used_idx++;
  /* Release: the element is visible before the index that exposes it. */
  __atomic_store_n (&q->used[USED_IDX], htole16 (q->used_idx), __ATOMIC_RELEASE);
}

/* 2.7.10: whether moving from OLD to NEW_IDX crossed EVENT_IDX, i.e. the
 * entry at index EVENT_IDX was written in [old, new_idx). */
static inline bool
vring_need_event (uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
  return (uint16_t) (new_idx - event_idx - 1) < (uint16_t) (new_idx - old);
}

bool
virtq_should_notify (struct virtq *q)
{
  uint16_t old, used_event;
  bool valid;

  if (!q->started)
    return false;

  /* Our used->idx store must be visible before we read the driver's
   * suppression state, or we and the driver can each miss the other's
   * update and the interrupt is lost. */
  __atomic_thread_fence (__ATOMIC_SEQ_CST);

  if (!q->event_idx)
    return !(load16 (&q->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);

  old = q->signalled_used;
  valid = q->signalled_used_valid;
  q->signalled_used = q->used_idx;
  q->signalled_used_valid = true;
  /* With nothing to compare against (first decision after start), an
   * interrupt too many is harmless and one too few hangs the driver. */
  if (!valid)
    return true;
  used_event = load16 (used_event_ptr (q));
  return vring_need_event (used_event, q->used_idx, old);
}

bool
virtq_enable_notify (struct virtq *q)
{
  uint16_t avail_idx;

  if (!q->started || q->broken)
    return false;

  if (q->event_idx)
    store16 (avail_event_ptr (q), q->last_avail_idx);
  else
    store16 (&q->used[USED_FLAGS], load16 (&q->used[USED_FLAGS]) & ~VIRTQ_USED_F_NO_NOTIFY);
  q->notify_off = false;

  /* The store above must be visible before we look at avail->idx again:
   * the driver does the mirror image (idx, barrier, read our suppression
   * state), so at least one of us sees the other. */
  __atomic_thread_fence (__ATOMIC_SEQ_CST);
  avail_idx = le16toh (__atomic_load_n (&q->avail[AVAIL_IDX], __ATOMIC_ACQUIRE));
  return avail_idx != q->last_avail_idx;
}

void
virtq_disable_notify (struct virtq *q)
{
  if (!q->started)
    return;
  q->notify_off = true;
  /* With EVENT_IDX there is no "never": avail_event stays where enable put
   * it, so the driver kicks at most once more, and flags must stay 0. */
  if (q->event_idx)
    return;
  store16 (&q->used[USED_FLAGS], load16 (&q->used[USED_FLAGS]) | VIRTQ_USED_F_NO_NOTIFY);
}

uint32_t
virtq_chain_write (const struct virtq_chain *chain, const void *data, uint32_t len)
{
  const uint8_t *src = data;
  uint32_t done = 0;

  for (unsigned k = chain->n_out; k < chain->n_out + chain->n_in && done < len; k++)
    {
      uint32_t n = chain->iov[k].len;

      if (n > len - done)
        n = len - done;
      memcpy (chain->iov[k].base, src + done, n);
      done += n;
    }
  return done;
}

uint32_t
virtq_chain_read (const struct virtq_chain *chain, uint64_t offset, void *data, uint32_t len)
{
  uint8_t *dst = data;
  uint32_t done = 0;

  for (unsigned k = 0; k < chain->n_out && done < len; k++)
    {
      const struct virtq_iov *v = &chain->iov[k];
      uint32_t n;

      if (offset >= v->len)
        {
          offset -= v->len;
          continue;
        }
      n = v->len - (uint32_t) offset;
      if (n > len - done)
        n = len - done;
      memcpy (dst + done, (const uint8_t *) v->base + offset, n);
      done += n;
      offset = 0;
    }
  return done;
}
