/* test-virtq.c: the split virtqueue against a driver played by the test
 *
 * Guest RAM is a plain heap buffer (plus a second one mapped right after it,
 * so chains can span regions); the test lays out the rings and adds chains
 * as a guest driver would, then checks what the device side makes of them.
 * Run under ASan, any access outside the buffers is a failure.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio/virtq.h"

/* Low RAM [0, RAM_SIZE); a second region right after it, so a buffer can
 * span both; a third at the very top of the address space, so addr + len
 * can wrap. */
#define RAM_SIZE   0x200000u
#define HIGH_GPA   ((uint64_t) RAM_SIZE)
#define HIGH_SIZE  0x10000u
#define TOP_GPA    (UINT64_MAX - 0x1fffu)
#define TOP_SIZE   0x1000u

#define DATA_GPA   0x1000u      /* buffers and indirect tables, up to DESC_GPA */
#define DESC_GPA   0x100000u    /* 16 × 32768 bytes at most */
#define AVAIL_GPA  0x180000u
#define USED_GPA   0x1a0000u

/* The driver side */
struct drv {
  uint8_t *ram, *high, *top;
  void *big;                    /* a 4 GiB+ PROT_NONE region, for the length limit */
  size_t big_size;
  struct vmm_mem mem;
  struct virtq q;
  uint16_t avail_idx;           /* ours; published with drv_publish */
  uint16_t next_desc;
  uint64_t next_data;
};

static void *
host (struct drv *d, uint64_t gpa, uint64_t len)
{
  void *p = vmm_mem_ptr (&d->mem, gpa, len);

  g_assert_nonnull (p);
  return p;
}

static void
put16 (struct drv *d, uint64_t gpa, uint16_t v)
{
  v = GUINT16_TO_LE (v);
  memcpy (host (d, gpa, 2), &v, 2);
}

static uint16_t
get16 (struct drv *d, uint64_t gpa)
{
  uint16_t v;

  memcpy (&v, host (d, gpa, 2), 2);
  return GUINT16_FROM_LE (v);
}

static uint32_t
get32 (struct drv *d, uint64_t gpa)
{
  uint32_t v;

  memcpy (&v, host (d, gpa, 4), 4);
  return GUINT32_FROM_LE (v);
}

static void
put_desc_at (void *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
  uint8_t *b = p;

  addr = GUINT64_TO_LE (addr);
  len = GUINT32_TO_LE (len);
  flags = GUINT16_TO_LE (flags);
  next = GUINT16_TO_LE (next);
  memcpy (b, &addr, 8);
  memcpy (b + 8, &len, 4);
  memcpy (b + 12, &flags, 2);
  memcpy (b + 14, &next, 2);
}

/* Descriptor I of the table at TABLE */
static void
put_desc (struct drv *d, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next)
{
  put_desc_at (host (d, table + 16 * (uint64_t) i, 16), addr, len, flags, next);
}

static void
drv_configure (struct drv *d, uint16_t size, bool event_idx, bool indirect)
{
  virtq_init (&d->q, &d->mem);
  d->q.size = size;
  d->q.desc_gpa = DESC_GPA;
  d->q.avail_gpa = AVAIL_GPA;
  d->q.used_gpa = USED_GPA;
  d->q.event_idx = event_idx;
  d->q.indirect = indirect;
  d->avail_idx = 0;
  d->next_desc = 0;
  d->next_data = DATA_GPA;
}

static void
drv_init (struct drv *d, uint16_t size, bool event_idx, bool indirect)
{
  memset (d, 0, sizeof *d);
  d->ram = g_malloc0 (RAM_SIZE);
  d->high = g_malloc0 (HIGH_SIZE);
  d->top = g_malloc0 (TOP_SIZE);
  g_assert_cmpint (vmm_mem_add_region (&d->mem, 0, RAM_SIZE, d->ram), ==, 0);
  g_assert_cmpint (vmm_mem_add_region (&d->mem, HIGH_GPA, HIGH_SIZE, d->high), ==, 0);
  g_assert_cmpint (vmm_mem_add_region (&d->mem, TOP_GPA, TOP_SIZE, d->top), ==, 0);
  drv_configure (d, size, event_idx, indirect);
  g_assert_cmpint (virtq_start (&d->q), ==, 0);
}

static void
drv_free (struct drv *d)
{
  virtq_reset (&d->q);
  g_free (d->ram);
  g_free (d->high);
  g_free (d->top);
  if (d->big != NULL)
    munmap (d->big, d->big_size);
}

/* A buffer of LEN bytes in the data area, filled with a pattern from SEED. */
static uint64_t
drv_data (struct drv *d, uint32_t len, uint8_t seed)
{
  uint64_t gpa;
  uint8_t *p;

  if (d->next_data + len > DESC_GPA)
    d->next_data = DATA_GPA;
  gpa = d->next_data;
  d->next_data = (d->next_data + len + 15) & ~(uint64_t) 15;
  p = host (d, gpa, len);
  for (uint32_t i = 0; i < len; i++)
    p[i] = (uint8_t) (seed + i);
  return gpa;
}

/* Writes HEAD into the next avail entry, without publishing it. */
static void
drv_offer (struct drv *d, uint16_t head)
{
  put16 (d, AVAIL_GPA + 4 + 2 * (uint64_t) (d->avail_idx % d->q.size), head);
  d->avail_idx++;
}

static void
drv_publish (struct drv *d)
{
  put16 (d, AVAIL_GPA + 2, d->avail_idx);
}

/* Adds a direct chain of N buffers of LENS, the first N_OUT device-readable,
 * and returns its head. */
static uint16_t
drv_add (struct drv *d, const uint32_t *lens, unsigned n, unsigned n_out)
{
  uint16_t head = d->next_desc % d->q.size;

  for (unsigned k = 0; k < n; k++)
    {
      uint16_t i = d->next_desc++ % d->q.size;
      uint16_t flags = (k >= n_out ? VIRTQ_DESC_F_WRITE : 0)
                       | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

      put_desc (d, DESC_GPA, i, drv_data (d, lens[k], (uint8_t) (16 * k)), lens[k], flags,
                d->next_desc % d->q.size);
    }
  drv_offer (d, head);
  drv_publish (d);
  return head;
}

/* Writes an indirect table of N buffers in the data area; returns its GPA. */
static uint64_t
drv_table (struct drv *d, const uint32_t *lens, unsigned n, unsigned n_out)
{
  uint64_t table = drv_data (d, 16 * n, 0);

  for (unsigned k = 0; k < n; k++)
    {
      uint16_t flags = (k >= n_out ? VIRTQ_DESC_F_WRITE : 0)
                       | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

      put_desc (d, table, k, drv_data (d, lens[k], (uint8_t) (16 * k)), lens[k], flags,
                (uint16_t) (k + 1));
    }
  return table;
}

/* Adds one descriptor pointing to an indirect table of N buffers. */
static uint16_t
drv_add_indirect (struct drv *d, const uint32_t *lens, unsigned n, unsigned n_out)
{
  uint64_t table = drv_table (d, lens, n, n_out);
  uint16_t head = d->next_desc++ % d->q.size;

  put_desc (d, DESC_GPA, head, table, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
  drv_offer (d, head);
  drv_publish (d);
  return head;
}

static void
used_elem (struct drv *d, uint16_t idx, uint32_t *id, uint32_t *len)
{
  uint64_t e = USED_GPA + 4 + 8 * (uint64_t) (idx % d->q.size);

  *id = get32 (d, e);
  *len = get32 (d, e + 4);
}

static uint16_t
used_idx (struct drv *d)
{
  return get16 (d, USED_GPA + 2);
}

static uint64_t
used_event_gpa (struct drv *d)
{
  return AVAIL_GPA + 4 + 2 * (uint64_t) d->q.size;
}

static uint64_t
avail_event_gpa (struct drv *d)
{
  return USED_GPA + 4 + 8 * (uint64_t) d->q.size;
}

/* Checks that segment K of CHAIN is LEN bytes of the pattern from SEED. */
static void
check_seg (const struct virtq_chain *c, unsigned k, uint32_t len, uint8_t seed)
{
  const uint8_t *p = c->iov[k].base;

  g_assert_cmpuint (c->iov[k].len, ==, len);
  for (uint32_t i = 0; i < len; i++)
    g_assert_cmpuint (p[i], ==, (uint8_t) (seed + i));
}

/* --- virtq_start ---------------------------------------------------------- */

static void
test_start_sizes (void)
{
  static const uint16_t good[] = { 1, 2, 4, 256, 1024, VIRTQ_MAX_SIZE };
  static const uint16_t bad[] = { 0, 3, 6, 1000, 32767, 32769, 49152, 65535, (uint16_t) 65536 };
  struct drv d;

  drv_init (&d, 1, false, false);
  for (unsigned i = 0; i < G_N_ELEMENTS (good); i++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, good[i], false, false);
      g_assert_cmpint (virtq_start (&d.q), ==, 0);
      g_assert_true (d.q.started);
      g_assert_cmpuint (d.q.iov_cap, >=, good[i]);
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, bad[i], false, false);
      g_assert_cmpint (virtq_start (&d.q), ==, -EINVAL);
      g_assert_false (d.q.started);
    }
  drv_free (&d);
}

static void
test_start_misaligned (void)
{
  struct drv d;

  drv_init (&d, 8, false, false);
  for (unsigned off = 1; off < 16; off++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, 8, false, false);
      d.q.desc_gpa += off;
      g_assert_cmpint (virtq_start (&d.q), ==, -EINVAL);
    }
  virtq_reset (&d.q);
  drv_configure (&d, 8, false, false);
  d.q.avail_gpa += 1;
  g_assert_cmpint (virtq_start (&d.q), ==, -EINVAL);
  for (unsigned off = 1; off < 4; off++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, 8, false, false);
      d.q.used_gpa += off;
      g_assert_cmpint (virtq_start (&d.q), ==, -EINVAL);
    }
  /* the minimum alignments are enough */
  virtq_reset (&d.q);
  drv_configure (&d, 8, false, false);
  d.q.desc_gpa += 16;
  d.q.avail_gpa += 2;
  d.q.used_gpa += 4;
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  drv_free (&d);
}

static void
test_start_outside (void)
{
  struct drv d;
  struct {
    int which;    /* 0 desc, 1 avail, 2 used */
    uint64_t gpa;
  } cases[] = {
    { 0, HIGH_GPA + HIGH_SIZE },                    /* after all RAM */
    { 0, HIGH_GPA + HIGH_SIZE - 16 * 4 },           /* straddles the end */
    { 0, HIGH_GPA - 16 * 4 },                       /* spans two regions */
    { 0, UINT64_MAX & ~(uint64_t) 15 },             /* far beyond, gpa + len wraps */
    { 0, TOP_GPA + TOP_SIZE - 16 },                 /* past the top region */
    { 1, HIGH_GPA + HIGH_SIZE - 6 - 2 * 8 + 2 },    /* avail one u16 too long */
    { 1, HIGH_GPA - 8 },
    { 1, UINT64_MAX - 1 },
    { 2, HIGH_GPA + HIGH_SIZE - 6 - 8 * 8 + 2 },    /* used, avail_event past the end */
    { 2, HIGH_GPA - 16 },
    { 2, UINT64_MAX - 3 },
    { 2, 0x40000000 },                              /* a hole */
  };

  drv_init (&d, 8, false, false);
  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, 8, false, false);
      if (cases[i].which == 0)
        d.q.desc_gpa = cases[i].gpa;
      else if (cases[i].which == 1)
        d.q.avail_gpa = cases[i].gpa;
      else
        d.q.used_gpa = cases[i].gpa;
      g_assert_cmpint (virtq_start (&d.q), ==, -EFAULT);
      g_assert_false (d.q.started);
    }
  /* as close to the end of RAM as alignment allows is fine */
  virtq_reset (&d.q);
  drv_configure (&d, 8, false, false);
  d.q.used_gpa = HIGH_GPA + HIGH_SIZE - 8 * 8 - 8;
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  drv_free (&d);
}

static void
test_start_reset_restart (void)
{
  static const uint32_t lens[] = { 8, 8 };
  struct virtq_chain c;
  struct drv d;

  drv_init (&d, 8, false, false);
  drv_add (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  virtq_push (&d.q, c.head, 8);

  virtq_reset (&d.q);
  g_assert_false (d.q.started);
  g_assert_null (d.q.iov);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);

  /* the driver starts over with fresh rings */
  memset (d.ram + AVAIL_GPA, 0, RAM_SIZE - AVAIL_GPA);
  drv_configure (&d, 16, true, true);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
  drv_add_indirect (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 1);
  g_assert_cmpuint (c.n_in, ==, 1);
  virtq_push (&d.q, c.head, 8);
  g_assert_cmpuint (used_idx (&d), ==, 1);

  /* starting twice just maps again */
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  drv_free (&d);
}

/* --- virtq_pop ------------------------------------------------------------ */

static void
test_pop_empty (void)
{
  struct virtq_chain c;
  struct virtq q;
  struct drv d;

  /* a queue never started has nothing and touches nothing */
  virtq_init (&q, NULL);
  g_assert_cmpint (virtq_pop (&q, &c), ==, 0);
  g_assert_false (virtq_should_notify (&q));
  g_assert_false (virtq_enable_notify (&q));
  virtq_disable_notify (&q);
  virtq_push (&q, 0, 0);
  virtq_reset (&q);

  drv_init (&d, 8, false, false);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
  g_assert_false (d.q.broken);
  drv_free (&d);
}

static void
test_pop_readable (void)
{
  static const uint32_t lens[] = { 100 };
  struct virtq_chain c;
  struct drv d;
  uint16_t head;

  drv_init (&d, 8, false, false);
  head = drv_add (&d, lens, 1, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, head);
  g_assert_cmpuint (c.n_out, ==, 1);
  g_assert_cmpuint (c.n_in, ==, 0);
  g_assert_cmpuint (c.out_len, ==, 100);
  g_assert_cmpuint (c.in_len, ==, 0);
  check_seg (&c, 0, 100, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
  drv_free (&d);
}

static void
test_pop_writable (void)
{
  static const uint32_t lens[] = { 4096 };
  struct virtq_chain c;
  struct drv d;
  uint16_t head;

  drv_init (&d, 8, false, false);
  head = drv_add (&d, lens, 1, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, head);
  g_assert_cmpuint (c.n_out, ==, 0);
  g_assert_cmpuint (c.n_in, ==, 1);
  g_assert_cmpuint (c.out_len, ==, 0);
  g_assert_cmpuint (c.in_len, ==, 4096);
  g_assert_true (c.iov[0].base == host (&d, DATA_GPA, 4096));
  g_assert_cmpuint (c.iov[0].len, ==, 4096);
  drv_free (&d);
}

static void
test_pop_mixed (void)
{
  /* zero-length descriptors are legal and leave no segment */
  static const uint32_t lens[] = { 16, 1, 0, 300, 7, 0, 64, 0, 9, 1000, 3 };
  struct virtq_chain c;
  struct drv d;

  drv_init (&d, 16, false, false);
  /* start away from 0 so the chain wraps around the table */
  d.next_desc = 10;
  drv_add (&d, lens, G_N_ELEMENTS (lens), 6);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, 10);
  g_assert_cmpuint (c.n_out, ==, 4);
  g_assert_cmpuint (c.n_in, ==, 4);
  g_assert_cmpuint (c.out_len, ==, 16 + 1 + 300 + 7);
  g_assert_cmpuint (c.in_len, ==, 64 + 9 + 1000 + 3);
  check_seg (&c, 0, 16, 0);
  check_seg (&c, 1, 1, 16);
  check_seg (&c, 2, 300, 48);
  check_seg (&c, 3, 7, 64);
  check_seg (&c, 4, 64, 96);
  check_seg (&c, 5, 9, 128);
  check_seg (&c, 6, 1000, 144);
  check_seg (&c, 7, 3, 160);
  drv_free (&d);
}

static void
test_pop_full_table (void)
{
  uint32_t lens[64];
  struct virtq_chain c;
  struct drv d;

  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    lens[i] = i + 1;

  /* a direct chain using every descriptor */
  drv_init (&d, 64, false, true);
  drv_add (&d, lens, 64, 32);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 32);
  g_assert_cmpuint (c.n_in, ==, 32);
  g_assert_cmpuint (c.out_len + c.in_len, ==, 64 * 65 / 2);
  for (unsigned i = 0; i < 64; i++)
    check_seg (&c, i, lens[i], (uint8_t) (16 * i));

  /* an indirect table as long as the queue */
  drv_add_indirect (&d, lens, 64, 10);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 10);
  g_assert_cmpuint (c.n_in, ==, 54);
  for (unsigned i = 0; i < 64; i++)
    check_seg (&c, i, lens[i], (uint8_t) (16 * i));
  drv_free (&d);
}

static void
test_pop_indirect (void)
{
  static const uint32_t lens[] = { 12, 0, 4000, 512, 1 };
  struct virtq_chain c;
  struct drv d;
  uint16_t head;
  uint64_t table;

  drv_init (&d, 8, false, true);
  head = drv_add_indirect (&d, lens, G_N_ELEMENTS (lens), 3);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, head);
  g_assert_cmpuint (c.n_out, ==, 2);
  g_assert_cmpuint (c.n_in, ==, 2);
  g_assert_cmpuint (c.out_len, ==, 4012);
  g_assert_cmpuint (c.in_len, ==, 513);
  check_seg (&c, 0, 12, 0);
  check_seg (&c, 1, 4000, 32);
  check_seg (&c, 2, 512, 48);
  check_seg (&c, 3, 1, 64);

  /* The WRITE flag on the descriptor naming the table means nothing. */
  table = drv_table (&d, lens, G_N_ELEMENTS (lens), 3);
  put_desc (&d, DESC_GPA, 5, table, 16 * G_N_ELEMENTS (lens),
            VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
  drv_offer (&d, 5);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, 5);
  g_assert_cmpuint (c.n_out, ==, 2);
  g_assert_cmpuint (c.n_in, ==, 2);

  /* A table only 8-aligned is taken (Linux's kmalloc promises no more). */
  table = drv_data (&d, 16 * 2 + 8, 0) + 8;
  put_desc (&d, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
  put_desc (&d, table, 1, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
  put_desc (&d, DESC_GPA, 6, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  drv_offer (&d, 6);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 1);
  g_assert_cmpuint (c.n_in, ==, 1);

  /* The chain in a table need not start in order: next is followed. */
  table = drv_data (&d, 16 * 3, 0);
  put_desc (&d, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
  put_desc (&d, table, 1, DATA_GPA, 0x77, 0, 0);   /* never reached */
  put_desc (&d, table, 2, DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
  put_desc (&d, DESC_GPA, 7, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
  drv_offer (&d, 7);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.out_len, ==, 4);
  g_assert_cmpuint (c.in_len, ==, 8);
  g_assert_false (d.q.broken);
  drv_free (&d);
}

static void
test_pop_direct_then_indirect (void)
{
  /* 2.7.5.3.2: zero or more direct descriptors, then one indirect */
  static const uint32_t lens[] = { 100, 200 };
  struct virtq_chain c;
  struct drv d;
  uint64_t table, hdr;

  drv_init (&d, 8, false, true);
  table = drv_table (&d, lens, 2, 1);
  hdr = drv_data (&d, 10, 0xa0);
  put_desc (&d, DESC_GPA, 3, hdr, 10, VIRTQ_DESC_F_NEXT, 1);
  put_desc (&d, DESC_GPA, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  drv_offer (&d, 3);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, 3);
  g_assert_cmpuint (c.n_out, ==, 2);
  g_assert_cmpuint (c.n_in, ==, 1);
  g_assert_cmpuint (c.out_len, ==, 110);
  g_assert_cmpuint (c.in_len, ==, 200);
  check_seg (&c, 0, 10, 0xa0);
  check_seg (&c, 1, 100, 0);
  check_seg (&c, 2, 200, 16);
  drv_free (&d);
}

static void
test_pop_regions (void)
{
  struct virtq_chain c;
  struct drv d;

  /* buffers touching the ends of each region, and in the top one */
  drv_init (&d, 8, false, false);
  put_desc (&d, DESC_GPA, 0, HIGH_GPA - 64, 64, VIRTQ_DESC_F_NEXT, 1);
  put_desc (&d, DESC_GPA, 1, HIGH_GPA, HIGH_SIZE, VIRTQ_DESC_F_NEXT, 2);
  put_desc (&d, DESC_GPA, 2, HIGH_GPA + HIGH_SIZE, 0, VIRTQ_DESC_F_NEXT, 3);  /* ends RAM: no */
  drv_offer (&d, 0);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);

  virtq_reset (&d.q);
  drv_configure (&d, 8, false, false);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  put_desc (&d, DESC_GPA, 2, HIGH_GPA + HIGH_SIZE - 1, 0, VIRTQ_DESC_F_NEXT, 3);
  put_desc (&d, DESC_GPA, 3, TOP_GPA, TOP_SIZE, VIRTQ_DESC_F_WRITE, 0);
  drv_offer (&d, 0);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 2);
  g_assert_cmpuint (c.n_in, ==, 1);
  g_assert_true (c.iov[0].base == d.ram + RAM_SIZE - 64);
  g_assert_true (c.iov[1].base == d.high);
  g_assert_true (c.iov[2].base == d.top);
  g_assert_cmpuint (c.in_len, ==, TOP_SIZE);
  drv_free (&d);
}

static void
big_region (struct drv *d)
{
  /* Address space only: nothing in it is ever touched by a pop. */
  d->big_size = (UINT64_C (5) << 30);
  d->big = mmap (NULL, d->big_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  g_assert_true (d->big != MAP_FAILED);
  g_assert_cmpint (vmm_mem_add_region (&d->mem, UINT64_C (1) << 40, d->big_size, d->big), ==, 0);
}

static void
test_pop_4gib (void)
{
  const uint64_t big = UINT64_C (1) << 40;
  struct virtq_chain c;
  struct drv d;

  /* 2^32 bytes in all is the most a chain may carry */
  drv_init (&d, 8, false, false);
  big_region (&d);
  put_desc (&d, DESC_GPA, 0, big, UINT32_MAX, VIRTQ_DESC_F_NEXT, 1);
  put_desc (&d, DESC_GPA, 1, big, 1, VIRTQ_DESC_F_WRITE, 0);
  drv_offer (&d, 0);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.out_len, ==, UINT32_MAX);
  g_assert_cmpuint (c.in_len, ==, 1);

  put_desc (&d, DESC_GPA, 1, big, 2, VIRTQ_DESC_F_WRITE, 0);
  drv_offer (&d, 0);
  drv_publish (&d);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_true (d.q.broken);
  g_assert_nonnull (d.q.error);
  drv_free (&d);
}

static void
test_pop_unpop (void)
{
  static const uint32_t lens[] = { 8, 8 };
  struct virtq_chain c;
  struct drv d;
  uint16_t h1, h2;

  drv_init (&d, 8, false, false);
  h1 = drv_add (&d, lens, 2, 1);
  h2 = drv_add (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, h1);
  virtq_unpop (&d.q);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, h1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, h2);
  virtq_unpop (&d.q);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, h2);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
  drv_free (&d);
}

/* --- virtq_push and the used ring --------------------------------------- */

static void
test_push (void)
{
  static const uint32_t lens[] = { 4, 32 };
  struct virtq_chain c[3];
  struct drv d;
  uint32_t id, len;

  drv_init (&d, 8, false, false);
  for (unsigned i = 0; i < 3; i++)
    {
      drv_add (&d, lens, 2, 1);
      g_assert_cmpint (virtq_pop (&d.q, &c[i]), ==, 1);
    }
  g_assert_cmpuint (used_idx (&d), ==, 0);
  /* out of order, as a device may complete them */
  virtq_push (&d.q, c[1].head, 32);
  g_assert_cmpuint (used_idx (&d), ==, 1);
  virtq_push (&d.q, c[0].head, 0);
  virtq_push (&d.q, c[2].head, 7);
  g_assert_cmpuint (used_idx (&d), ==, 3);
  g_assert_cmpuint (d.q.used_idx, ==, 3);
  used_elem (&d, 0, &id, &len);
  g_assert_cmpuint (id, ==, c[1].head);
  g_assert_cmpuint (len, ==, 32);
  used_elem (&d, 1, &id, &len);
  g_assert_cmpuint (id, ==, c[0].head);
  g_assert_cmpuint (len, ==, 0);
  used_elem (&d, 2, &id, &len);
  g_assert_cmpuint (id, ==, c[2].head);
  g_assert_cmpuint (len, ==, 7);
  /* nothing beyond the used ring was written */
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 0);
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, 0);
  drv_free (&d);
}

static void
test_wraparound (void)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  struct drv d;
  unsigned n = 0;

  /* Run the 16-bit indices past 65535 twice, in batches that sometimes fill
   * the ring, with EVENT_IDX asking for every other interrupt. */
  drv_init (&d, 4, true, false);
  while (n < 140000)
    {
      unsigned batch = 1 + n % 4;
      uint16_t heads[4];

      for (unsigned k = 0; k < batch; k++)
        heads[k] = drv_add (&d, lens, 1, 1);
      for (unsigned k = 0; k < batch; k++)
        {
          uint32_t id, len;
          uint16_t before = d.q.used_idx;

          g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
          g_assert_cmpuint (c.head, ==, heads[k]);
          g_assert_cmpuint (c.out_len, ==, 4);
          /* the driver wants to hear when entry `before` is used, or not */
          put16 (&d, used_event_gpa (&d), (n & 1) ? before : (uint16_t) (before + 1));
          virtq_push (&d.q, c.head, (uint32_t) n);
          g_assert_cmpuint (used_idx (&d), ==, (uint16_t) (before + 1));
          used_elem (&d, before, &id, &len);
          g_assert_cmpuint (id, ==, c.head);
          g_assert_cmpuint (len, ==, n);
          if (n > 0)
            g_assert_cmpint (virtq_should_notify (&d.q), ==, (n & 1) != 0);
          else
            g_assert_true (virtq_should_notify (&d.q));
          n++;
        }
      g_assert_cmpint (virtq_pop (&d.q, &c), ==, 0);
      g_assert_cmpuint (d.q.last_avail_idx, ==, (uint16_t) n);
    }
  g_assert_false (d.q.broken);
  drv_free (&d);
}

/* --- notifications --------------------------------------------------------- */

static void
push_one (struct drv *d)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;

  drv_add (d, lens, 1, 0);
  g_assert_cmpint (virtq_pop (&d->q, &c), ==, 1);
  virtq_push (&d->q, c.head, 4);
}

static void
test_notify_no_interrupt (void)
{
  struct drv d;

  drv_init (&d, 8, false, false);
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  put16 (&d, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));
  /* used_event means nothing without EVENT_IDX */
  put16 (&d, used_event_gpa (&d), d.q.used_idx - 1);
  g_assert_false (virtq_should_notify (&d.q));
  put16 (&d, AVAIL_GPA, 0);
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  drv_free (&d);
}

static void
test_notify_event_idx (void)
{
  struct drv d;

  drv_init (&d, 8, true, false);
  /* used_event is 0: the first used entry is the one asked for; and the
   * first decision is always yes anyway */
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  /* nothing new: no */
  g_assert_false (virtq_should_notify (&d.q));

  put16 (&d, used_event_gpa (&d), 1);
  push_one (&d);                                    /* wrote entry 1 */
  g_assert_true (virtq_should_notify (&d.q));

  put16 (&d, used_event_gpa (&d), 5);
  push_one (&d);                                    /* entry 2 */
  g_assert_false (virtq_should_notify (&d.q));
  push_one (&d);                                    /* 3 */
  push_one (&d);                                    /* 4 */
  g_assert_false (virtq_should_notify (&d.q));
  push_one (&d);                                    /* 5 */
  g_assert_true (virtq_should_notify (&d.q));
  push_one (&d);                                    /* 6 */
  g_assert_false (virtq_should_notify (&d.q));

  /* a batch crossing used_event: one interrupt for all */
  put16 (&d, used_event_gpa (&d), 8);
  push_one (&d);                                    /* 7 */
  push_one (&d);                                    /* 8 */
  push_one (&d);                                    /* 9 */
  g_assert_true (virtq_should_notify (&d.q));
  g_assert_false (virtq_should_notify (&d.q));

  /* used_event behind us (the driver is slow): no, until it wraps */
  put16 (&d, used_event_gpa (&d), 3);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));

  /* the flags are ignored with EVENT_IDX */
  put16 (&d, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
  put16 (&d, used_event_gpa (&d), d.q.used_idx);
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  put16 (&d, AVAIL_GPA, 0);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));

  /* after a reset the first decision is yes again */
  virtq_reset (&d.q);
  memset (d.ram + AVAIL_GPA, 0, RAM_SIZE - AVAIL_GPA);
  drv_configure (&d, 8, true, false);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  put16 (&d, used_event_gpa (&d), 100);
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));
  drv_free (&d);
}

static void
test_notify_enable_flags (void)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  struct drv d;

  drv_init (&d, 8, false, false);
  virtq_disable_notify (&d.q);
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, 0);

  virtq_disable_notify (&d.q);
  drv_add (&d, lens, 1, 0);
  /* a buffer came while disabled: enabling says so */
  g_assert_true (virtq_enable_notify (&d.q));
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  /* avail_event is never written without EVENT_IDX */
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 0);
  drv_free (&d);
}

static void
test_notify_enable_event_idx (void)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  struct drv d;

  drv_init (&d, 8, true, false);
  for (unsigned i = 0; i < 3; i++)
    drv_add (&d, lens, 1, 0);
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 3);
  /* flags stay 0 with EVENT_IDX (2.7.10) */
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, 0);

  virtq_disable_notify (&d.q);
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 3);
  g_assert_cmpuint (get16 (&d, USED_GPA), ==, 0);

  drv_add (&d, lens, 1, 0);
  g_assert_true (virtq_enable_notify (&d.q));
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 3);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (get16 (&d, avail_event_gpa (&d)), ==, 4);

  /* a broken queue asks for nothing more */
  put16 (&d, AVAIL_GPA + 2, 100);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_false (virtq_enable_notify (&d.q));
  drv_free (&d);
}

/* --- copying --------------------------------------------------------------- */

static void
test_chain_copy (void)
{
  static const uint32_t lens[] = { 3, 0, 5, 7, 4, 0, 6 };
  uint8_t buf[64], src[64];
  struct virtq_chain c;
  struct drv d;

  drv_init (&d, 8, false, false);
  drv_add (&d, lens, G_N_ELEMENTS (lens), 4);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 3);
  g_assert_cmpuint (c.n_in, ==, 2);
  g_assert_cmpuint (c.out_len, ==, 15);
  g_assert_cmpuint (c.in_len, ==, 10);

  /* readable bytes are 0 1 2 | 32 .. 36 | 48 .. 54 */
  memset (buf, 0xee, sizeof buf);
  g_assert_cmpuint (virtq_chain_read (&c, 0, buf, sizeof buf), ==, 15);
  {
    static const uint8_t want[] = { 0, 1, 2, 32, 33, 34, 35, 36, 48, 49, 50, 51, 52, 53, 54 };
    g_assert_cmpmem (buf, 15, want, 15);
    g_assert_cmpuint (buf[15], ==, 0xee);
  }
  memset (buf, 0xee, sizeof buf);
  g_assert_cmpuint (virtq_chain_read (&c, 2, buf, 4), ==, 4);
  g_assert_cmpuint (buf[0], ==, 2);
  g_assert_cmpuint (buf[1], ==, 32);
  g_assert_cmpuint (buf[3], ==, 34);
  g_assert_cmpuint (buf[4], ==, 0xee);
  g_assert_cmpuint (virtq_chain_read (&c, 3, buf, 100), ==, 12);
  g_assert_cmpuint (buf[0], ==, 32);
  g_assert_cmpuint (virtq_chain_read (&c, 8, buf, 2), ==, 2);
  g_assert_cmpuint (buf[0], ==, 48);
  g_assert_cmpuint (virtq_chain_read (&c, 14, buf, 2), ==, 1);
  g_assert_cmpuint (buf[0], ==, 54);
  g_assert_cmpuint (virtq_chain_read (&c, 15, buf, 2), ==, 0);
  g_assert_cmpuint (virtq_chain_read (&c, UINT64_MAX, buf, 2), ==, 0);
  g_assert_cmpuint (virtq_chain_read (&c, 0, buf, 0), ==, 0);

  /* writes fill the writable segments in order, never the readable ones */
  for (unsigned i = 0; i < sizeof src; i++)
    src[i] = (uint8_t) (0x80 + i);
  g_assert_cmpuint (virtq_chain_write (&c, src, 6), ==, 6);
  g_assert_cmpmem (c.iov[3].base, 4, src, 4);
  g_assert_cmpmem (c.iov[4].base, 2, src + 4, 2);
  g_assert_cmpuint (((uint8_t *) c.iov[4].base)[2], ==, 6 * 16 + 2);  /* untouched */
  g_assert_cmpuint (virtq_chain_write (&c, src, sizeof src), ==, 10);
  g_assert_cmpmem (c.iov[4].base, 6, src + 4, 6);
  g_assert_cmpuint (virtq_chain_write (&c, src, 0), ==, 0);
  g_assert_cmpuint (virtq_chain_read (&c, 0, buf, 3), ==, 3);
  g_assert_cmpuint (buf[0], ==, 0);

  /* a chain with nothing writable takes nothing */
  drv_add (&d, lens, 3, 3);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (virtq_chain_write (&c, src, sizeof src), ==, 0);
  /* and one with nothing readable gives nothing */
  drv_add (&d, lens, 2, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (virtq_chain_read (&c, 0, buf, sizeof buf), ==, 0);
  drv_free (&d);
}

/* --- malformed rings ------------------------------------------------------- */

#define BAD_SIZE 8

static void
bad_publish (struct drv *d, uint16_t head)
{
  drv_offer (d, head);
  drv_publish (d);
}

static void
bad_head (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, 0, 0);
  bad_publish (d, BAD_SIZE);
}

static void
bad_head_max (struct drv *d)
{
  bad_publish (d, 0xffff);
}

static void
bad_next (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, BAD_SIZE);
  bad_publish (d, 0);
}

static void
bad_loop (struct drv *d)
{
  put_desc (d, DESC_GPA, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
  put_desc (d, DESC_GPA, 5, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  bad_publish (d, 2);
}

static void
bad_self_loop (struct drv *d)
{
  put_desc (d, DESC_GPA, 7, DATA_GPA, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
  bad_publish (d, 7);
}

static void
bad_too_long (struct drv *d)
{
  /* two direct descriptors and a full-size table: size + 2 in all */
  uint32_t lens[BAD_SIZE];
  uint64_t table;

  for (unsigned i = 0; i < BAD_SIZE; i++)
    lens[i] = 8;
  table = drv_table (d, lens, BAD_SIZE, BAD_SIZE);
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  put_desc (d, DESC_GPA, 2, table, 16 * BAD_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_loop (struct drv *d)
{
  uint64_t table = drv_data (d, 16 * 4, 0);

  put_desc (d, table, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, table, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
  put_desc (d, table, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 0, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_next (struct drv *d)
{
  uint64_t table = drv_data (d, 16 * 2, 0);

  /* in range of the queue, not of the table */
  put_desc (d, table, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  put_desc (d, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_outside (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, HIGH_GPA + HIGH_SIZE, 16, VIRTQ_DESC_F_WRITE, 0);
  bad_publish (d, 0);
}

static void
bad_hole (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, UINT64_C (1) << 32, 16, 0, 0);
  bad_publish (d, 0);
}

static void
bad_straddle_end (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, HIGH_GPA + HIGH_SIZE - 8, 9, 0, 0);
  bad_publish (d, 0);
}

static void
bad_zero_len_outside (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, HIGH_GPA + HIGH_SIZE, 0, 0, 0);
  bad_publish (d, 0);
}

static void
bad_overflow (struct drv *d)
{
  /* inside the top region, but addr + len wraps past 2^64 */
  put_desc (d, DESC_GPA, 0, TOP_GPA + 0x800, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
  bad_publish (d, 0);
}

static void
bad_overflow_max (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, UINT64_MAX, 2, 0, 0);
  bad_publish (d, 0);
}

static void
bad_span (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, HIGH_GPA - 8, 16, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
  put_desc (d, DESC_GPA, 2, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order_zero_len (struct drv *d)
{
  /* a zero-length descriptor still counts for the order */
  put_desc (d, DESC_GPA, 0, DATA_GPA, 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
  put_desc (d, DESC_GPA, 1, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order_indirect (struct drv *d)
{
  static const uint32_t lens[] = { 8, 8 };
  uint64_t table = drv_table (d, lens, 2, 1);

  put_desc (d, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
  put_desc (d, DESC_GPA, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_not_negotiated (struct drv *d)
{
  static const uint32_t lens[] = { 8 };

  d->q.indirect = false;
  drv_add_indirect (d, lens, 1, 1);
}

static void
bad_nested (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t inner = drv_table (d, lens, 1, 1);
  uint64_t outer = drv_data (d, 32, 0);

  put_desc (d, outer, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, outer, 1, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
  put_desc (d, DESC_GPA, 0, outer, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_with_next (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t table = drv_table (d, lens, 1, 1);

  put_desc (d, DESC_GPA, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_misaligned (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t table = drv_table (d, lens, 1, 1);

  memmove (host (d, table + 4, 16), host (d, table, 16), 16);
  put_desc (d, DESC_GPA, 0, table + 4, 16, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_empty (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_partial (struct drv *d)
{
  static const uint32_t lens[] = { 8, 8 };
  uint64_t table = drv_table (d, lens, 2, 2);

  put_desc (d, DESC_GPA, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_outside (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, HIGH_GPA + HIGH_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_span (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, HIGH_GPA - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_too_many (struct drv *d)
{
  uint32_t lens[BAD_SIZE + 1];

  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    lens[i] = 1;
  drv_add_indirect (d, lens, G_N_ELEMENTS (lens), 1);
}

static void
bad_indirect_huge (struct drv *d)
{
  put_desc (d, DESC_GPA, 0, DATA_GPA, 0xfffffff0, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_avail_ahead (struct drv *d)
{
  static const uint32_t lens[] = { 8 };

  drv_add (d, lens, 1, 1);
  /* one chain already taken: this is size + 1 ahead */
  put16 (d, AVAIL_GPA + 2, 1 + BAD_SIZE + 1);
}

static void
bad_avail_behind (struct drv *d)
{
  /* idx moved backwards: 65535 ahead */
  put16 (d, AVAIL_GPA + 2, 0xffff);
}

static void
bad_too_big (struct drv *d)
{
  big_region (d);
  put_desc (d, DESC_GPA, 0, UINT64_C (1) << 40, UINT32_MAX,
            VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
  put_desc (d, DESC_GPA, 1, UINT64_C (1) << 40, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
  bad_publish (d, 0);
}

struct bad_case {
  const char *name;
  void (*build) (struct drv *d);
};

static const struct bad_case bad_cases[] = {
  { "head-out-of-range", bad_head },
  { "head-0xffff", bad_head_max },
  { "next-out-of-range", bad_next },
  { "loop", bad_loop },
  { "self-loop", bad_self_loop },
  { "longer-than-queue", bad_too_long },
  { "indirect-loop", bad_indirect_loop },
  { "indirect-next-out-of-range", bad_indirect_next },
  { "outside-ram", bad_outside },
  { "in-a-hole", bad_hole },
  { "straddles-end-of-ram", bad_straddle_end },
  { "zero-length-outside-ram", bad_zero_len_outside },
  { "addr-len-overflow", bad_overflow },
  { "addr-max", bad_overflow_max },
  { "spans-regions", bad_span },
  { "readable-after-writable", bad_order },
  { "readable-after-zero-length-writable", bad_order_zero_len },
  { "readable-indirect-after-writable", bad_order_indirect },
  { "indirect-not-negotiated", bad_indirect_not_negotiated },
  { "nested-indirect", bad_nested },
  { "indirect-and-next", bad_indirect_with_next },
  { "indirect-misaligned", bad_indirect_misaligned },
  { "indirect-zero-length", bad_indirect_empty },
  { "indirect-not-multiple-of-16", bad_indirect_partial },
  { "indirect-outside-ram", bad_indirect_outside },
  { "indirect-spans-regions", bad_indirect_span },
  { "indirect-more-than-size", bad_indirect_too_many },
  { "indirect-huge", bad_indirect_huge },
  { "avail-idx-too-far-ahead", bad_avail_ahead },
  { "avail-idx-backwards", bad_avail_behind },
  { "over-4gib", bad_too_big },
};

static void
test_malformed (gconstpointer data)
{
  const struct bad_case *bc = data;
  static const uint32_t lens[] = { 8, 8 };
  g_autofree uint8_t *ram_copy = NULL;
  g_autofree uint8_t *high_copy = NULL;
  g_autofree uint8_t *top_copy = NULL;
  struct virtq_chain c;
  struct drv d;

  /* a good chain first, so the bad one is not at index 0 */
  drv_init (&d, BAD_SIZE, true, true);
  drv_add (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  virtq_push (&d.q, c.head, 8);
  d.next_desc = 0;

  bc->build (&d);

  ram_copy = g_memdup2 (d.ram, RAM_SIZE);
  high_copy = g_memdup2 (d.high, HIGH_SIZE);
  top_copy = g_memdup2 (d.top, TOP_SIZE);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_true (d.q.broken);
  g_assert_nonnull (d.q.error);
  g_assert_cmpuint (strlen (d.q.error), >, 0);
  g_test_message ("%s: %s", bc->name, d.q.error);
  g_assert_cmpuint (d.q.last_avail_idx, ==, 1);
  /* a pop writes nothing to guest memory, least of all a bad one */
  g_assert_cmpmem (d.ram, RAM_SIZE, ram_copy, RAM_SIZE);
  g_assert_cmpmem (d.high, HIGH_SIZE, high_copy, HIGH_SIZE);
  g_assert_cmpmem (d.top, TOP_SIZE, top_copy, TOP_SIZE);

  /* broken stays broken, even once the ring looks fine again */
  memset (d.ram + DESC_GPA, 0, RAM_SIZE - DESC_GPA);
  d.avail_idx = 0;
  d.next_desc = 0;
  drv_add (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_true (d.q.broken);

  /* until a reset */
  virtq_reset (&d.q);
  g_assert_false (d.q.broken);
  g_assert_null (d.q.error);
  drv_configure (&d, BAD_SIZE, true, true);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  drv_add (&d, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.out_len, ==, 8);
  g_assert_cmpuint (c.in_len, ==, 8);
  drv_free (&d);
}

/* --- random rings ---------------------------------------------------------- */

/* A small guest: rings at the bottom, indirect tables and buffers above
 * them, a second region right after it. */
#define FZ_RAM        0x4000u
#define FZ_HIGH       0x1000u
#define FZ_DESC       0x0u
#define FZ_AVAIL      0x100u
#define FZ_USED       0x200u
#define FZ_TABLES     0x400u
#define FZ_TABLES_END 0x800u
#define FZ_TABLE_ENTRIES ((FZ_TABLES_END - FZ_TABLES) / 16)
#define FZ_MAX_SIZE   16u

static uint64_t
fz_addr (GRand *r)
{
  switch (g_rand_int_range (r, 0, 32))
    {
    case 0:
      return ((uint64_t) g_rand_int (r) << 32) | g_rand_int (r);
    case 1:
      return UINT64_MAX - g_rand_int_range (r, 0, 64);
    case 2:
      return FZ_RAM - g_rand_int_range (r, 0, 64);
    case 3:
      return FZ_RAM + FZ_HIGH - g_rand_int_range (r, 0, 64);
    case 4:
      return g_rand_int_range (r, 0, FZ_RAM + FZ_HIGH + 64);
    case 5:
      return g_rand_int_range (r, 0, FZ_TABLES_END);   /* the rings themselves */
    default:
      return g_rand_int_range (r, FZ_TABLES_END, FZ_RAM + FZ_HIGH) & ~7u;
    }
}

static uint32_t
fz_len (GRand *r)
{
  switch (g_rand_int_range (r, 0, 32))
    {
    case 0:
      return g_rand_int (r);
    case 1:
      return 0;
    case 2:
      return 16 * g_rand_int_range (r, 1, FZ_MAX_SIZE + 2);
    case 3:
      return g_rand_int_range (r, 0, FZ_RAM + FZ_HIGH);
    default:
      return g_rand_int_range (r, 0, 128);
    }
}

static uint16_t
fz_flags (GRand *r)
{
  uint16_t f = 0;

  if (g_rand_boolean (r))
    f |= VIRTQ_DESC_F_NEXT;
  if (g_rand_boolean (r))
    f |= VIRTQ_DESC_F_WRITE;
  if (g_rand_int_range (r, 0, 8) == 0)
    f |= VIRTQ_DESC_F_INDIRECT;
  if (g_rand_int_range (r, 0, 64) == 0)
    f |= (uint16_t) g_rand_int (r);
  return f;
}

static void
fz_desc (GRand *r, uint8_t *p, uint16_t size)
{
  uint16_t flags = fz_flags (r);
  uint64_t addr;
  uint32_t len;
  uint16_t next;

  if ((flags & VIRTQ_DESC_F_INDIRECT) && g_rand_int_range (r, 0, 4) != 0)
    {
      /* a plausible table in the tables area */
      unsigned n = g_rand_int_range (r, 1, size + 1);

      addr = FZ_TABLES + 16 * g_rand_int_range (r, 0, FZ_TABLE_ENTRIES - n + 1);
      len = 16 * n;
      if (g_rand_int_range (r, 0, 8) == 0)
        addr += 4 * g_rand_int_range (r, 1, 3);   /* 4: refused, 8: taken */
      if (g_rand_int_range (r, 0, 8) != 0)
        flags &= ~VIRTQ_DESC_F_NEXT;
    }
  else
    {
      addr = fz_addr (r);
      len = fz_len (r);
    }
  if (g_rand_int_range (r, 0, 32) != 0)
    next = (uint16_t) g_rand_int_range (r, 0, size);
  else
    next = (uint16_t) g_rand_int (r);
  put_desc_at (p, addr, len, flags, next);
}

static void
fz_u16 (uint8_t *p, uint16_t v)
{
  v = GUINT16_TO_LE (v);
  memcpy (p, &v, 2);
}

static bool
fz_inside (const void *p, uint32_t len, const uint8_t *base, size_t size)
{
  uintptr_t a = (uintptr_t) p, b = (uintptr_t) base;

  return a >= b && a - b <= size && len <= size - (a - b);
}

static void
test_random (void)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (g_test_rand_int ());
  g_autofree uint8_t *ram = g_malloc0 (FZ_RAM);
  g_autofree uint8_t *high = g_malloc0 (FZ_HIGH);
  unsigned iterations = g_test_thorough () ? 2000000 : 200000;
  unsigned pops = 0, breaks = 0;
  struct vmm_mem mem = { 0 };
  uint8_t buf[96];
  struct virtq q;
  bool restart = true;

  g_assert_cmpint (vmm_mem_add_region (&mem, 0, FZ_RAM, ram), ==, 0);
  g_assert_cmpint (vmm_mem_add_region (&mem, FZ_RAM, FZ_HIGH, high), ==, 0);
  virtq_init (&q, &mem);

  for (unsigned it = 0; it < iterations; it++)
    {
      uint16_t avail_idx;

      if (restart)
        {
          virtq_reset (&q);
          q.size = (uint16_t) (1u << g_rand_int_range (r, 0, 5));
          q.desc_gpa = FZ_DESC;
          q.avail_gpa = FZ_AVAIL;
          q.used_gpa = FZ_USED;
          q.event_idx = g_rand_boolean (r);
          q.indirect = g_rand_int_range (r, 0, 4) != 0;
          g_assert_cmpint (virtq_start (&q), ==, 0);
          /* a new driver starts from clean rings */
          memset (ram, 0, FZ_TABLES);
          restart = false;
        }

      /* The guest scribbles over some descriptors, ring entries, indirect
       * table entries and the avail header. */
      for (unsigned k = g_rand_int_range (r, 0, q.size + 1); k > 0; k--)
        fz_desc (r, ram + FZ_DESC + 16 * g_rand_int_range (r, 0, q.size), q.size);
      for (unsigned k = g_rand_int_range (r, 0, 8); k > 0; k--)
        fz_desc (r, ram + FZ_TABLES + 16 * g_rand_int_range (r, 0, FZ_TABLE_ENTRIES), q.size);
      for (unsigned k = g_rand_int_range (r, 0, q.size + 1); k > 0; k--)
        fz_u16 (ram + FZ_AVAIL + 4 + 2 * g_rand_int_range (r, 0, q.size),
                g_rand_int_range (r, 0, 64) != 0 ? g_rand_int_range (r, 0, q.size)
                                                 : (uint16_t) g_rand_int (r));
      if (g_rand_int_range (r, 0, 64) == 0)
        avail_idx = (uint16_t) g_rand_int (r);
      else
        avail_idx = (uint16_t) (q.last_avail_idx + g_rand_int_range (r, 0, q.size + 1));
      fz_u16 (ram + FZ_AVAIL + 2, avail_idx);
      fz_u16 (ram + FZ_AVAIL, (uint16_t) g_rand_int_range (r, 0, 2));
      fz_u16 (ram + FZ_AVAIL + 4 + 2 * q.size, (uint16_t) g_rand_int (r));

      for (unsigned k = 0; k < 2u * q.size + 2; k++)
        {
          struct virtq_chain c;
          uint64_t total = 0;
          int ret = virtq_pop (&q, &c);

          if (ret < 0)
            {
              g_assert_cmpint (ret, ==, -EIO);
              g_assert_true (q.broken);
              g_assert_nonnull (q.error);
              breaks++;
              restart = true;
              break;
            }
          if (ret == 0)
            break;
          pops++;

          g_assert_cmpuint (c.head, <, q.size);
          g_assert_cmpuint (c.n_out + c.n_in, <=, q.size);
          for (unsigned s = 0; s < c.n_out + c.n_in; s++)
            {
              g_assert_cmpuint (c.iov[s].len, >, 0);
              g_assert_true (fz_inside (c.iov[s].base, c.iov[s].len, ram, FZ_RAM)
                             || fz_inside (c.iov[s].base, c.iov[s].len, high, FZ_HIGH));
              total += c.iov[s].len;
            }
          g_assert_cmpuint (total, ==, c.out_len + c.in_len);
          g_assert_cmpuint (total, <=, UINT64_C (1) << 32);

          /* the device uses the buffers (which may well be the rings) */
          virtq_chain_read (&c, g_rand_int_range (r, 0, 64), buf,
                            g_rand_int_range (r, 0, sizeof buf));
          for (unsigned b = 0; b < sizeof buf; b++)
            buf[b] = (uint8_t) g_rand_int (r);
          virtq_chain_write (&c, buf, g_rand_int_range (r, 0, sizeof buf));

          if (g_rand_int_range (r, 0, 8) == 0)
            {
              virtq_unpop (&q);
              continue;
            }
          virtq_push (&q, c.head, g_rand_int (r));
          switch (g_rand_int_range (r, 0, 4))
            {
            case 0:
              virtq_disable_notify (&q);
              break;
            case 1:
              virtq_enable_notify (&q);
              break;
            default:
              virtq_should_notify (&q);
              break;
            }
        }
    }

  g_test_message ("%u iterations: %u chains popped, %u queues broken", iterations, pops, breaks);
  /* the generator must reach both outcomes often */
  g_assert_cmpuint (pops, >, iterations / 10);
  g_assert_cmpuint (breaks, >, iterations / 10);
  virtq_reset (&q);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/virtq/start/sizes", test_start_sizes);
  g_test_add_func ("/virtq/start/misaligned", test_start_misaligned);
  g_test_add_func ("/virtq/start/outside-ram", test_start_outside);
  g_test_add_func ("/virtq/start/reset-restart", test_start_reset_restart);
  g_test_add_func ("/virtq/pop/empty", test_pop_empty);
  g_test_add_func ("/virtq/pop/readable", test_pop_readable);
  g_test_add_func ("/virtq/pop/writable", test_pop_writable);
  g_test_add_func ("/virtq/pop/mixed", test_pop_mixed);
  g_test_add_func ("/virtq/pop/full-table", test_pop_full_table);
  g_test_add_func ("/virtq/pop/indirect", test_pop_indirect);
  g_test_add_func ("/virtq/pop/direct-then-indirect", test_pop_direct_then_indirect);
  g_test_add_func ("/virtq/pop/regions", test_pop_regions);
  g_test_add_func ("/virtq/pop/4gib", test_pop_4gib);
  g_test_add_func ("/virtq/pop/unpop", test_pop_unpop);
  g_test_add_func ("/virtq/push/used-ring", test_push);
  g_test_add_func ("/virtq/push/wraparound", test_wraparound);
  g_test_add_func ("/virtq/notify/no-interrupt", test_notify_no_interrupt);
  g_test_add_func ("/virtq/notify/event-idx", test_notify_event_idx);
  g_test_add_func ("/virtq/notify/enable-flags", test_notify_enable_flags);
  g_test_add_func ("/virtq/notify/enable-event-idx", test_notify_enable_event_idx);
  g_test_add_func ("/virtq/chain/read-write", test_chain_copy);
  for (unsigned i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/virtq/malformed/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_malformed);
    }
  g_test_add_func ("/virtq/random", test_random);

  return g_test_run ();
}
