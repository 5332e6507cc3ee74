/* test-virtq.c: the split virtqueue against a driver played by the test
 *
 * Guest RAM is plain heap memory (plus a second region right after it, so
 * chains can span regions); the test lays out the rings and adds chains as
 * a guest driver would (vmm-test.h), then checks what the device side makes
 * of them.
 * Run under ASan, any access outside the buffers is a failure.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "viv-bytes.h"
#include "virtio/virtq.h"
#include "vmm-test.h"

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

/* The driver side: fake RAM and the rings in it, from vmm-test.h */
struct drv {
  struct vmm_test_ram guest;
  uint8_t *ram, *high, *top;    /* the host side of the three regions */
  struct vmm_test_vq vq;
  struct virtq q;               /* what the test checks: the device side */
};

static void
drv_configure (struct drv *d, uint16_t size, bool event_idx, bool indirect)
{
  virtq_init (&d->q, &d->guest.mem);
  d->q.size = size;
  d->q.desc_gpa = DESC_GPA;
  d->q.avail_gpa = AVAIL_GPA;
  d->q.used_gpa = USED_GPA;
  d->q.event_idx = event_idx;
  d->q.indirect = indirect;
  vmm_test_vq_init (&d->vq, &d->guest.mem, size, DESC_GPA, AVAIL_GPA, USED_GPA, DATA_GPA,
                    DESC_GPA);
}

static void
drv_init (struct drv *d, uint16_t size, bool event_idx, bool indirect)
{
  memset (d, 0, sizeof *d);
  d->ram = vmm_test_ram_add (&d->guest, 0, RAM_SIZE);
  d->high = vmm_test_ram_add (&d->guest, HIGH_GPA, HIGH_SIZE);
  d->top = vmm_test_ram_add (&d->guest, TOP_GPA, TOP_SIZE);
  drv_configure (d, size, event_idx, indirect);
  g_assert_cmpint (virtq_start (&d->q), ==, 0);
}

static void
drv_free (struct drv *d)
{
  virtq_reset (&d->q);
  vmm_test_ram_free (&d->guest);
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

/* Issue 16: rings that share a byte are refused. Used two bytes after avail
 * made used->flags the avail index, so the device's own "kicks off" and
 * "on" moved it. What counts is the bytes the device touches: the event
 * fields only with EVENT_IDX. Size 8: the table is 128 bytes, avail 20 (+2),
 * used 68 (+2). */
static void
test_start_overlap (void)
{
  static const struct {
    uint64_t desc, avail, used;
    bool event_idx, ok;
  } cases[] = {
    { 0x1000, 0x1080, 0x1094, false, true },    /* end to end, no gap */
    { 0x1000, 0x1080, 0x1098, true, true },     /* room for used_event */
    { 0x1000, 0x1080, 0x1094, true, false },    /* used_event is used->flags */
    { 0x1000, 0x1082, 0x1084, false, false },   /* issue 16: used->flags is avail->idx */
    { 0x1000, 0x1082, 0x1084, true, false },
    { 0x1000, 0x1080, 0x1080, false, false },   /* the same address */
    { 0x1000, 0x107e, 0x1100, false, false },   /* avail on the last descriptor */
    { 0x1000, 0x2000, 0x1040, false, false },   /* used inside the table */
    { 0x1040, 0x2000, 0x1000, false, false },   /* the table inside used */
    { 0x1100, 0x1144, 0x1000, false, false },   /* avail inside the table */
    { 0x1100, 0x1044, 0x1000, false, true },    /* used ends where avail starts... */
    { 0x1100, 0x1044, 0x1000, true, false },    /* ...unless avail_event is there */
    { 0x1100, 0x1046, 0x1000, true, true },
    { 0x1000, 0x1100, 0x1200, false, true },    /* apart */
  };
  struct drv d;

  drv_init (&d, 8, false, false);
  for (unsigned i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      virtq_reset (&d.q);
      drv_configure (&d, 8, cases[i].event_idx, false);
      d.q.desc_gpa = cases[i].desc;
      d.q.avail_gpa = cases[i].avail;
      d.q.used_gpa = cases[i].used;
      g_test_message ("case %u", i);
      if (cases[i].ok)
        {
          g_assert_cmpint (virtq_start (&d.q), ==, 0);
          g_assert_true (d.q.started);
          g_assert_null (d.q.error);
        }
      else
        {
          g_assert_cmpint (virtq_start (&d.q), ==, -EINVAL);
          g_assert_false (d.q.started);
          g_assert_cmpstr (d.q.error, ==, "rings overlap");
        }
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
  vmm_test_vq_add (&d.vq, lens, 2, 1);
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
  vmm_test_vq_add_indirect (&d.vq, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 1);
  g_assert_cmpuint (c.n_in, ==, 1);
  virtq_push (&d.q, c.head, 8);
  g_assert_cmpuint (vmm_test_vq_used_idx (&d.vq), ==, 1);

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
  head = vmm_test_vq_add (&d.vq, lens, 1, 1);
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
  head = vmm_test_vq_add (&d.vq, lens, 1, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, head);
  g_assert_cmpuint (c.n_out, ==, 0);
  g_assert_cmpuint (c.n_in, ==, 1);
  g_assert_cmpuint (c.out_len, ==, 0);
  g_assert_cmpuint (c.in_len, ==, 4096);
  g_assert_true (c.iov[0].base == vmm_test_ptr (&d.guest.mem, DATA_GPA, 4096));
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
  d.vq.next_desc = 10;
  vmm_test_vq_add (&d.vq, lens, G_N_ELEMENTS (lens), 6);
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
  vmm_test_vq_add (&d.vq, lens, 64, 32);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 32);
  g_assert_cmpuint (c.n_in, ==, 32);
  g_assert_cmpuint (c.out_len + c.in_len, ==, 64 * 65 / 2);
  for (unsigned i = 0; i < 64; i++)
    check_seg (&c, i, lens[i], (uint8_t) (16 * i));

  /* an indirect table as long as the queue */
  vmm_test_vq_add_indirect (&d.vq, lens, 64, 10);
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
  head = vmm_test_vq_add_indirect (&d.vq, lens, G_N_ELEMENTS (lens), 3);
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
  table = vmm_test_vq_table (&d.vq, lens, G_N_ELEMENTS (lens), 3);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 5, table, 16 * G_N_ELEMENTS (lens),
            VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_offer (&d.vq, 5);
  vmm_test_vq_publish (&d.vq);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.head, ==, 5);
  g_assert_cmpuint (c.n_out, ==, 2);
  g_assert_cmpuint (c.n_in, ==, 2);

  /* A table only 8-aligned is taken (Linux's kmalloc promises no more). */
  table = vmm_test_vq_data (&d.vq, 16 * 2 + 8, 0) + 8;
  vmm_test_vq_put_desc (&d.vq, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d.vq, table, 1, DATA_GPA, 4, VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 6, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  vmm_test_vq_offer (&d.vq, 6);
  vmm_test_vq_publish (&d.vq);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.n_out, ==, 1);
  g_assert_cmpuint (c.n_in, ==, 1);

  /* The chain in a table need not start in order: next is followed. */
  table = vmm_test_vq_data (&d.vq, 16 * 3, 0);
  vmm_test_vq_put_desc (&d.vq, table, 0, DATA_GPA, 4, VIRTQ_DESC_F_NEXT, 2);
  vmm_test_vq_put_desc (&d.vq, table, 1, DATA_GPA, 0x77, 0, 0);   /* never reached */
  vmm_test_vq_put_desc (&d.vq, table, 2, DATA_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 7, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
  vmm_test_vq_offer (&d.vq, 7);
  vmm_test_vq_publish (&d.vq);
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
  table = vmm_test_vq_table (&d.vq, lens, 2, 1);
  hdr = vmm_test_vq_data (&d.vq, 10, 0xa0);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 3, hdr, 10, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  vmm_test_vq_offer (&d.vq, 3);
  vmm_test_vq_publish (&d.vq);
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
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 0, HIGH_GPA - 64, 64, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 1, HIGH_GPA, HIGH_SIZE, VIRTQ_DESC_F_NEXT, 2);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 2, HIGH_GPA + HIGH_SIZE,
                        0, VIRTQ_DESC_F_NEXT, 3);  /* ends RAM: no */
  vmm_test_vq_offer (&d.vq, 0);
  vmm_test_vq_publish (&d.vq);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);

  virtq_reset (&d.q);
  drv_configure (&d, 8, false, false);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 2, HIGH_GPA + HIGH_SIZE - 1, 0, VIRTQ_DESC_F_NEXT, 3);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 3, TOP_GPA, TOP_SIZE, VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_offer (&d.vq, 0);
  vmm_test_vq_publish (&d.vq);
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
  vmm_test_ram_reserve (&d->guest, UINT64_C (1) << 40, UINT64_C (5) << 30);
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
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 0, big, UINT32_MAX, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 1, big, 1, VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_offer (&d.vq, 0);
  vmm_test_vq_publish (&d.vq);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (c.out_len, ==, UINT32_MAX);
  g_assert_cmpuint (c.in_len, ==, 1);

  vmm_test_vq_put_desc (&d.vq, DESC_GPA, 1, big, 2, VIRTQ_DESC_F_WRITE, 0);
  vmm_test_vq_offer (&d.vq, 0);
  vmm_test_vq_publish (&d.vq);
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
  h1 = vmm_test_vq_add (&d.vq, lens, 2, 1);
  h2 = vmm_test_vq_add (&d.vq, lens, 2, 1);
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
      vmm_test_vq_add (&d.vq, lens, 2, 1);
      g_assert_cmpint (virtq_pop (&d.q, &c[i]), ==, 1);
    }
  g_assert_cmpuint (vmm_test_vq_used_idx (&d.vq), ==, 0);
  /* out of order, as a device may complete them */
  virtq_push (&d.q, c[1].head, 32);
  g_assert_cmpuint (vmm_test_vq_used_idx (&d.vq), ==, 1);
  virtq_push (&d.q, c[0].head, 0);
  virtq_push (&d.q, c[2].head, 7);
  g_assert_cmpuint (vmm_test_vq_used_idx (&d.vq), ==, 3);
  g_assert_cmpuint (d.q.used_idx, ==, 3);
  vmm_test_vq_used_elem (&d.vq, 0, &id, &len);
  g_assert_cmpuint (id, ==, c[1].head);
  g_assert_cmpuint (len, ==, 32);
  vmm_test_vq_used_elem (&d.vq, 1, &id, &len);
  g_assert_cmpuint (id, ==, c[0].head);
  g_assert_cmpuint (len, ==, 0);
  vmm_test_vq_used_elem (&d.vq, 2, &id, &len);
  g_assert_cmpuint (id, ==, c[2].head);
  g_assert_cmpuint (len, ==, 7);
  /* nothing beyond the used ring was written */
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
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
        heads[k] = vmm_test_vq_add (&d.vq, lens, 1, 1);
      for (unsigned k = 0; k < batch; k++)
        {
          uint32_t id, len;
          uint16_t before = d.q.used_idx;

          g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
          g_assert_cmpuint (c.head, ==, heads[k]);
          g_assert_cmpuint (c.out_len, ==, 4);
          /* the driver wants to hear when entry `before` is used, or not */
          vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq),
                          (n & 1) ? before : (uint16_t) (before + 1));
          virtq_push (&d.q, c.head, (uint32_t) n);
          g_assert_cmpuint (vmm_test_vq_used_idx (&d.vq), ==, (uint16_t) (before + 1));
          vmm_test_vq_used_elem (&d.vq, before, &id, &len);
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

  vmm_test_vq_add (&d->vq, lens, 1, 0);
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
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));
  /* used_event means nothing without EVENT_IDX */
  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), d.q.used_idx - 1);
  g_assert_false (virtq_should_notify (&d.q));
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA, 0);
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

  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), 1);
  push_one (&d);                                    /* wrote entry 1 */
  g_assert_true (virtq_should_notify (&d.q));

  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), 5);
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
  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), 8);
  push_one (&d);                                    /* 7 */
  push_one (&d);                                    /* 8 */
  push_one (&d);                                    /* 9 */
  g_assert_true (virtq_should_notify (&d.q));
  g_assert_false (virtq_should_notify (&d.q));

  /* used_event behind us (the driver is slow): no, until it wraps */
  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), 3);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));

  /* the flags are ignored with EVENT_IDX */
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), d.q.used_idx);
  push_one (&d);
  g_assert_true (virtq_should_notify (&d.q));
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA, 0);
  push_one (&d);
  g_assert_false (virtq_should_notify (&d.q));

  /* after a reset the first decision is yes again */
  virtq_reset (&d.q);
  memset (d.ram + AVAIL_GPA, 0, RAM_SIZE - AVAIL_GPA);
  drv_configure (&d, 8, true, false);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  vmm_test_put16 (&d.guest.mem, vmm_test_vq_used_event (&d.vq), 100);
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
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);

  virtq_disable_notify (&d.q);
  vmm_test_vq_add (&d.vq, lens, 1, 0);
  /* a buffer came while disabled: enabling says so */
  g_assert_true (virtq_enable_notify (&d.q));
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  /* avail_event is never written without EVENT_IDX */
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 0);
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
    vmm_test_vq_add (&d.vq, lens, 1, 0);
  for (unsigned i = 0; i < 3; i++)
    g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 3);
  /* flags stay 0 with EVENT_IDX (2.7.10) */
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);

  virtq_disable_notify (&d.q);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 3);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);

  vmm_test_vq_add (&d.vq, lens, 1, 0);
  g_assert_true (virtq_enable_notify (&d.q));
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 3);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_false (virtq_enable_notify (&d.q));
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 4);

  /* a broken queue asks for nothing more */
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA + 2, 100);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_false (virtq_enable_notify (&d.q));
  drv_free (&d);
}

/* --- draining: virtq_pop_or_enable ------------------------------------------ */

static void
test_drain_flags (void)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  unsigned budget = VIRTQ_MAX_SIZE;   /* not the point here (test_drain_budget) */
  struct drv d;
  uint16_t h1, h2, h3;

  drv_init (&d, 8, false, false);
  h1 = vmm_test_vq_add (&d.vq, lens, 1, 0);
  h2 = vmm_test_vq_add (&d.vq, lens, 1, 0);
  /* while the device drains, the driver is told not to kick */
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
  g_assert_cmpuint (c.head, ==, h1);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  virtq_push (&d.q, c.head, 4);
  /* a chain made available meanwhile is taken in the same drain */
  h3 = vmm_test_vq_add (&d.vq, lens, 1, 0);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
  g_assert_cmpuint (c.head, ==, h2);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
  g_assert_cmpuint (c.head, ==, h3);
  /* empty: kicks are back on */
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 0);

  /* virtq_pop_quiet leaves them off when the ring is empty */
  vmm_test_vq_add (&d.vq, lens, 1, 0);
  g_assert_cmpint (virtq_pop_quiet (&d.q, &c, &budget), ==, 1);
  g_assert_cmpint (virtq_pop_quiet (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  drv_free (&d);
}

static void
test_drain_event_idx (void)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  unsigned budget = VIRTQ_MAX_SIZE;   /* not the point here (test_drain_budget) */
  struct drv d;
  uint64_t avail_event;

  drv_init (&d, 8, true, false);
  avail_event = vmm_test_vq_avail_event (&d.vq);
  for (unsigned i = 0; i < 3; i++)
    vmm_test_vq_add (&d.vq, lens, 1, 0);
  /* "off" with EVENT_IDX: avail_event stays behind while draining ... */
  for (unsigned i = 0; i < 3; i++)
    {
      g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
      g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, avail_event), ==, 0);
    }
  /* ... and asks for the next entry once the ring is empty */
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, avail_event), ==, 3);
  /* the flags stay 0 throughout (2.7.10) */
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);

  vmm_test_vq_add (&d.vq, lens, 1, 0);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, avail_event), ==, 4);

  /* a broken queue asks for nothing more */
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA + 2, 100);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EIO);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, avail_event), ==, 4);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EIO);
  drv_free (&d);
}

/* Issue 16: a driver that refills the ring as fast as the device takes
 * chains (from another vCPU) kept a drain going for as long as it liked,
 * on the device's thread with its lock held. A drain takes at most its
 * budget, the queue size, then says -EAGAIN with kicks still off, and the
 * next drain goes on where it stopped. The driver here refills in the
 * same thread, after each push. */
static void
drain_budget (bool event_idx, bool quiet)
{
  static const uint32_t lens[] = { 4 };
  struct virtq_chain c;
  struct drv d;
  unsigned budget, taken = 0;
  uint32_t id, len;
  int ret;

  drv_init (&d, 8, event_idx, false);
  g_assert_cmpuint (virtq_drain_budget (&d.q), ==, 8);
  for (unsigned i = 0; i < 8; i++)
    vmm_test_vq_add (&d.vq, lens, 1, 0);
  budget = virtq_drain_budget (&d.q);
  while ((ret = quiet ? virtq_pop_quiet (&d.q, &c, &budget)
                      : virtq_pop_or_enable (&d.q, &c, &budget)) > 0)
    {
      g_assert_cmpuint (++taken, <, 1000);   /* no end: the failure this test is for */
      virtq_push (&d.q, c.head, 0);
      g_assert_true (vmm_test_vq_next_used (&d.vq, &id, &len));
      vmm_test_vq_offer (&d.vq, (uint16_t) id);
      vmm_test_vq_publish (&d.vq);
    }
  g_assert_cmpint (ret, ==, -EAGAIN);
  g_assert_cmpuint (taken, ==, 8);
  g_assert_cmpuint (budget, ==, 0);
  g_assert_false (d.q.broken);
  /* kicks stay off: the device comes back by itself */
  g_assert_true (d.q.notify_off);
  if (!event_idx)
    g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, VIRTQ_USED_F_NO_NOTIFY);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EAGAIN);

  /* The next drain takes the 8 waiting, in order, then finds the ring
   * empty: kicks on again */
  budget = virtq_drain_budget (&d.q);
  for (unsigned i = 0; i < 8; i++)
    {
      g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);
      virtq_push (&d.q, c.head, 0);
    }
  g_assert_cmpuint (budget, ==, 0);
  /* spent, but nothing left: no need to come back */
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  g_assert_false (d.q.notify_off);
  g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  if (event_idx)
    g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 16);

  /* a ring gone bad is the next drain's to find; then every drain says so */
  vmm_test_put16 (&d.guest.mem, AVAIL_GPA + 2, 100);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EAGAIN);
  budget = virtq_drain_budget (&d.q);
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EIO);
  budget = 0;
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, -EIO);
  drv_free (&d);
}

static void
test_drain_budget (void)
{
  drain_budget (false, false);
}

static void
test_drain_budget_event_idx (void)
{
  drain_budget (true, false);
}

static void
test_drain_budget_quiet (void)
{
  drain_budget (false, true);
}

/* The race virtq_pop_or_enable closes: the driver makes a chain available
 * after the device found the ring empty but before kicks were on again, so
 * it does not kick. To make that moment exact, the used ring's page is
 * read-only: the device's store that turns kicks on faults, the handler
 * adds the chain (as the driver would, on its own vCPU) and gives the page
 * back, and the store runs again. */
static struct drv *race_drv;
static uint16_t race_head;
static unsigned race_faults;

static void
race_on_fault (int sig, siginfo_t *info, void *context)
{
  static const uint32_t lens[] = { 12 };
  uint8_t *page = vmm_test_ptr (&race_drv->guest.mem, USED_GPA, 1);
  size_t page_size = (size_t) sysconf (_SC_PAGESIZE);

  (void) sig, (void) context;
  if ((uint8_t *) info->si_addr < page || (uint8_t *) info->si_addr >= page + page_size)
    abort ();
  race_faults++;
  race_head = vmm_test_vq_add (&race_drv->vq, lens, 1, 1);
  mprotect (page, page_size, PROT_READ | PROT_WRITE);
}

static void
drain_race (bool event_idx)
{
  static const uint32_t lens[] = { 4 };
  size_t page_size = (size_t) sysconf (_SC_PAGESIZE);
  struct sigaction sa = { 0 }, old;
  struct virtq_chain c;
  unsigned budget = VIRTQ_MAX_SIZE;   /* not the point here (test_drain_budget) */
  struct drv d;
  void *page;

  drv_init (&d, 8, event_idx, false);
  vmm_test_vq_add (&d.vq, lens, 1, 0);
  /* Drained, kicks still off, as a device sees it just before enabling */
  g_assert_cmpint (virtq_pop_quiet (&d.q, &c, &budget), ==, 1);
  g_assert_cmpint (virtq_pop_quiet (&d.q, &c, &budget), ==, 0);

  race_drv = &d;
  race_faults = 0;
  sa.sa_sigaction = race_on_fault;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset (&sa.sa_mask);
  g_assert_cmpint (sigaction (SIGSEGV, &sa, &old), ==, 0);
  page = vmm_test_ptr (&d.guest.mem, USED_GPA, page_size);
  g_assert_cmpint (mprotect (page, page_size, PROT_READ), ==, 0);

  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 1);

  g_assert_cmpint (sigaction (SIGSEGV, &old, NULL), ==, 0);
  g_assert_cmpint (mprotect (page, page_size, PROT_READ | PROT_WRITE), ==, 0);
  g_assert_cmpuint (race_faults, ==, 1);
  g_assert_cmpuint (c.head, ==, race_head);
  g_assert_cmpuint (c.out_len, ==, 12);
  /* and then the ring is empty, with kicks on */
  g_assert_cmpint (virtq_pop_or_enable (&d.q, &c, &budget), ==, 0);
  if (event_idx)
    g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, vmm_test_vq_avail_event (&d.vq)), ==, 2);
  else
    g_assert_cmpuint (vmm_test_get16 (&d.guest.mem, USED_GPA), ==, 0);
  race_drv = NULL;
  drv_free (&d);
}

static void
test_drain_race_flags (void)
{
  drain_race (false);
}

static void
test_drain_race_event_idx (void)
{
  drain_race (true);
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
  vmm_test_vq_add (&d.vq, lens, G_N_ELEMENTS (lens), 4);
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
  vmm_test_vq_add (&d.vq, lens, 3, 3);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (virtq_chain_write (&c, src, sizeof src), ==, 0);
  /* and one with nothing readable gives nothing */
  vmm_test_vq_add (&d.vq, lens, 2, 0);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  g_assert_cmpuint (virtq_chain_read (&c, 0, buf, sizeof buf), ==, 0);
  drv_free (&d);
}

/* --- malformed rings ------------------------------------------------------- */

#define BAD_SIZE 8

static void
bad_publish (struct drv *d, uint16_t head)
{
  vmm_test_vq_offer (&d->vq, head);
  vmm_test_vq_publish (&d->vq);
}

static void
bad_head (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, 0, 0);
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
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, BAD_SIZE);
  bad_publish (d, 0);
}

static void
bad_loop (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 5);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 5, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  bad_publish (d, 2);
}

static void
bad_self_loop (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 7, DATA_GPA,
                        0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 7);
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
  table = vmm_test_vq_table (&d->vq, lens, BAD_SIZE, BAD_SIZE);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 2, table, 16 * BAD_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_loop (struct drv *d)
{
  uint64_t table = vmm_test_vq_data (&d->vq, 16 * 4, 0);

  vmm_test_vq_put_desc (&d->vq, table, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, table, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 3);
  vmm_test_vq_put_desc (&d->vq, table, 3, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, table, 64, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_next (struct drv *d)
{
  uint64_t table = vmm_test_vq_data (&d->vq, 16 * 2, 0);

  /* in range of the queue, not of the table */
  vmm_test_vq_put_desc (&d->vq, table, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_outside (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, HIGH_GPA + HIGH_SIZE, 16, VIRTQ_DESC_F_WRITE, 0);
  bad_publish (d, 0);
}

static void
bad_hole (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, UINT64_C (1) << 32, 16, 0, 0);
  bad_publish (d, 0);
}

static void
bad_straddle_end (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, HIGH_GPA + HIGH_SIZE - 8, 9, 0, 0);
  bad_publish (d, 0);
}

static void
bad_zero_len_outside (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, HIGH_GPA + HIGH_SIZE, 0, 0, 0);
  bad_publish (d, 0);
}

static void
bad_overflow (struct drv *d)
{
  /* inside the top region, but addr + len wraps past 2^64 */
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, TOP_GPA + 0x800, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
  bad_publish (d, 0);
}

static void
bad_overflow_max (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, UINT64_MAX, 2, 0, 0);
  bad_publish (d, 0);
}

static void
bad_span (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, HIGH_GPA - 8, 16, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, DATA_GPA,
                        8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 2, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order_zero_len (struct drv *d)
{
  /* a zero-length descriptor still counts for the order */
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA,
                        0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_order_indirect (struct drv *d)
{
  static const uint32_t lens[] = { 8, 8 };
  uint64_t table = vmm_test_vq_table (&d->vq, lens, 2, 1);

  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA,
                        8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_not_negotiated (struct drv *d)
{
  static const uint32_t lens[] = { 8 };

  d->q.indirect = false;
  vmm_test_vq_add_indirect (&d->vq, lens, 1, 1);
}

static void
bad_nested (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t inner = vmm_test_vq_table (&d->vq, lens, 1, 1);
  uint64_t outer = vmm_test_vq_data (&d->vq, 32, 0);

  vmm_test_vq_put_desc (&d->vq, outer, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, outer, 1, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, outer, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_with_next (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t table = vmm_test_vq_table (&d->vq, lens, 1, 1);

  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, table,
                        16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, DATA_GPA, 8, 0, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_misaligned (struct drv *d)
{
  static const uint32_t lens[] = { 8 };
  uint64_t table = vmm_test_vq_table (&d->vq, lens, 1, 1);

  memmove (vmm_test_ptr (&d->guest.mem, table + 4, 16),
           vmm_test_ptr (&d->guest.mem, table, 16), 16);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, table + 4, 16, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_empty (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_partial (struct drv *d)
{
  static const uint32_t lens[] = { 8, 8 };
  uint64_t table = vmm_test_vq_table (&d->vq, lens, 2, 2);

  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_outside (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, HIGH_GPA + HIGH_SIZE - 16,
                        32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_span (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, HIGH_GPA - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_indirect_too_many (struct drv *d)
{
  uint32_t lens[BAD_SIZE + 1];

  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    lens[i] = 1;
  vmm_test_vq_add_indirect (&d->vq, lens, G_N_ELEMENTS (lens), 1);
}

static void
bad_indirect_huge (struct drv *d)
{
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, DATA_GPA, 0xfffffff0, VIRTQ_DESC_F_INDIRECT, 0);
  bad_publish (d, 0);
}

static void
bad_avail_ahead (struct drv *d)
{
  static const uint32_t lens[] = { 8 };

  vmm_test_vq_add (&d->vq, lens, 1, 1);
  /* one chain already taken: this is size + 1 ahead */
  vmm_test_put16 (&d->guest.mem, AVAIL_GPA + 2, 1 + BAD_SIZE + 1);
}

static void
bad_avail_behind (struct drv *d)
{
  /* idx moved backwards: 65535 ahead */
  vmm_test_put16 (&d->guest.mem, AVAIL_GPA + 2, 0xffff);
}

static void
bad_too_big (struct drv *d)
{
  big_region (d);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 0, UINT64_C (1) << 40, UINT32_MAX,
            VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
  vmm_test_vq_put_desc (&d->vq, DESC_GPA, 1, UINT64_C (1) << 40, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
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
  vmm_test_vq_add (&d.vq, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, 1);
  virtq_push (&d.q, c.head, 8);
  d.vq.next_desc = 0;

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
  d.vq.avail_idx = 0;
  d.vq.next_desc = 0;
  vmm_test_vq_add (&d.vq, lens, 2, 1);
  g_assert_cmpint (virtq_pop (&d.q, &c), ==, -EIO);
  g_assert_true (d.q.broken);

  /* until a reset */
  virtq_reset (&d.q);
  g_assert_false (d.q.broken);
  g_assert_null (d.q.error);
  drv_configure (&d, BAD_SIZE, true, true);
  g_assert_cmpint (virtq_start (&d.q), ==, 0);
  vmm_test_vq_add (&d.vq, lens, 2, 1);
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
  vmm_test_put_desc_at (p, addr, len, flags, next);
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
  struct vmm_test_ram guest = { 0 };
  uint8_t *ram = vmm_test_ram_add (&guest, 0, FZ_RAM);
  uint8_t *high = vmm_test_ram_add (&guest, FZ_RAM, FZ_HIGH);
  unsigned iterations = g_test_thorough () ? 2000000 : 200000;
  unsigned pops = 0, breaks = 0;
  uint8_t buf[96];
  struct virtq q;
  bool restart = true;

  virtq_init (&q, &guest.mem);

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
        viv_put_le16 (ram + FZ_AVAIL + 4 + 2 * g_rand_int_range (r, 0, q.size),
                g_rand_int_range (r, 0, 64) != 0 ? g_rand_int_range (r, 0, q.size)
                                                 : (uint16_t) g_rand_int (r));
      if (g_rand_int_range (r, 0, 64) == 0)
        avail_idx = (uint16_t) g_rand_int (r);
      else
        avail_idx = (uint16_t) (q.last_avail_idx + g_rand_int_range (r, 0, q.size + 1));
      viv_put_le16 (ram + FZ_AVAIL + 2, avail_idx);
      viv_put_le16 (ram + FZ_AVAIL, (uint16_t) g_rand_int_range (r, 0, 2));
      viv_put_le16 (ram + FZ_AVAIL + 4 + 2 * q.size, (uint16_t) g_rand_int (r));

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
  vmm_test_ram_free (&guest);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/virtq/start/sizes", test_start_sizes);
  g_test_add_func ("/virtq/start/misaligned", test_start_misaligned);
  g_test_add_func ("/virtq/start/overlap", test_start_overlap);
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
  g_test_add_func ("/virtq/drain/flags", test_drain_flags);
  g_test_add_func ("/virtq/drain/event-idx", test_drain_event_idx);
  g_test_add_func ("/virtq/drain/budget", test_drain_budget);
  g_test_add_func ("/virtq/drain/budget-event-idx", test_drain_budget_event_idx);
  g_test_add_func ("/virtq/drain/budget-quiet", test_drain_budget_quiet);
  g_test_add_func ("/virtq/drain/race-flags", test_drain_race_flags);
  g_test_add_func ("/virtq/drain/race-event-idx", test_drain_race_event_idx);
  g_test_add_func ("/virtq/chain/read-write", test_chain_copy);
  for (unsigned i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/virtq/malformed/%s", bad_cases[i].name);
      g_test_add_data_func (path, &bad_cases[i], test_malformed);
    }
  g_test_add_func ("/virtq/random", test_random);

  return g_test_run ();
}
