/* fuzz-virtq.c: the split virtqueue, device side, over guest RAM the input fills
 *
 * Everything in the rings is the guest's: the input is guest RAM (the
 * descriptor table, the avail ring, buffers, indirect tables), the queue's
 * size, ring addresses and features, and a sequence of what the devices do
 * with a queue (start, pop, the drain loop with its budget, push,
 * notification suppression, the interrupt decision, reading and writing a
 * chain, unpop, reset) with the guest poking its memory in between.
 *
 * Beyond "no crash, no sanitizer report":
 *  - a popped chain lies in guest RAM, has at most size segments, and its
 *    lengths add up;
 *  - a drain ends, and takes at most its budget;
 *  - what the device writes of its own accord (push, kicks on and off, the
 *    interrupt decision) never changes the descriptor table or the avail
 *    ring (issue 16: overlapping rings let the device move avail->idx);
 *  - a broken queue stays broken until reset.
 *
 * Input: a 16-byte header, N_OPS ops of 4 bytes, then the RAM image.
 *
 *   [0]     size: 1 << (b % 9) below 0xf0, else the raw u16 at [1..2]
 *   [3]     flags: 1 EVENT_IDX, 2 INDIRECT_DESC, 4 rings in the second
 *           region (+0x10000), 8 raw (unaligned) ring addresses
 *   [4..9]  desc, avail, used: u16 offsets into RAM
 *   [10]    n_ops
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viv-bytes.h"
#include "virtio/virtq.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define RAM_A_GPA   0x0u
#define RAM_A_SIZE  0x10000u
#define RAM_B_GPA   0x11000u    /* a hole of a page between the two */
#define RAM_B_SIZE  0x1000u
#define HEADER_LEN  16u
#define OP_LEN      4u

enum {
  OP_POP, OP_PUSH, OP_DRAIN, OP_DRAIN_QUIET, OP_ENABLE, OP_DISABLE, OP_SHOULD_NOTIFY,
  OP_UNPOP, OP_POKE, OP_PUBLISH, OP_RESTART, OP_CHAIN_COPY, N_OPS
};

struct fuzz {
  struct vmm_test_ram ram;
  uint8_t *a, *b;
  struct virtq q;
  uint8_t flags;
  uint16_t desc_off, avail_off, used_off;
  /* popped and not pushed yet, oldest first */
  uint16_t held[VIRTQ_MAX_SIZE];
  unsigned n_held;
  bool just_popped;
  struct virtq_chain chain;     /* the last chain popped, while valid */
  bool chain_valid;
};

static struct fuzz *fz;
static bool trace;              /* VIVARIUM_FUZZ_TRACE: what each op did, on stderr */

static void
configure (struct fuzz *f, uint16_t qsize)
{
  uint64_t base = (f->flags & 4) ? RAM_B_GPA - RAM_A_SIZE : 0;
  uint64_t desc = f->desc_off, avail = f->avail_off, used = f->used_off;

  if (!(f->flags & 8))
    {
      desc &= ~(uint64_t) 15;
      avail &= ~(uint64_t) 1;
      used &= ~(uint64_t) 3;
    }
  virtq_init (&f->q, &f->ram.mem);
  f->q.size = qsize;
  f->q.desc_gpa = base + desc;
  f->q.avail_gpa = base + avail;
  f->q.used_gpa = base + used;
  f->q.event_idx = f->flags & 1;
  f->q.indirect = f->flags & 2;
  f->n_held = 0;
  f->just_popped = false;
  f->chain_valid = false;
}

/* The bytes the driver owns and the device must only read: the table and
 * the avail ring (with used_event if EVENT_IDX: without it, the used ring
 * may start there) */
static size_t
driver_bytes (const struct fuzz *f, uint8_t *out)
{
  size_t desc_len = 16 * (size_t) f->q.size;
  size_t avail_len = 4 + 2 * (size_t) f->q.size + (f->q.event_idx ? 2 : 0);

  memcpy (out, (const void *) f->q.desc, desc_len);
  memcpy (out + desc_len, (const void *) f->q.avail, avail_len);
  return desc_len + avail_len;
}

static bool
in_ram (const struct fuzz *f, const void *p, uint32_t len)
{
  const uint8_t *u = p;

  return (u >= f->a && u + len <= f->a + RAM_A_SIZE) || (u >= f->b && u + len <= f->b + RAM_B_SIZE);
}

static void
check_chain (const struct fuzz *f, const struct virtq_chain *c)
{
  uint64_t out = 0, in = 0;

  if (c->head >= f->q.size || c->n_out + c->n_in > f->q.size)
    abort ();
  for (unsigned k = 0; k < c->n_out + c->n_in; k++)
    {
      if (c->iov[k].len == 0 || !in_ram (f, c->iov[k].base, c->iov[k].len))
        abort ();
      if (k < c->n_out)
        out += c->iov[k].len;
      else
        in += c->iov[k].len;
    }
  if (out != c->out_len || in != c->in_len || out + in > (UINT64_C (1) << 32))
    abort ();
}

static void
took (struct fuzz *f, const struct virtq_chain *c)
{
  check_chain (f, c);
  f->held[f->n_held++] = c->head;
  f->chain = *c;
  f->chain_valid = true;
}

/* A drain as the devices run it; every chain is answered at once. */
static void
drain (struct fuzz *f, bool quiet)
{
  unsigned budget = virtq_drain_budget (&f->q), start = budget, taken = 0;
  struct virtq_chain c;
  int ret;

  while ((ret = quiet ? virtq_pop_quiet (&f->q, &c, &budget)
                      : virtq_pop_or_enable (&f->q, &c, &budget)) > 0)
    {
      check_chain (f, &c);
      if (++taken > start)
        {
          fprintf (stderr, "a drain took %u chains, over its budget of %u\n", taken, start);
          abort ();
        }
      virtq_push (&f->q, c.head, (uint32_t) MIN (c.in_len, UINT32_MAX));
    }
  if (trace)
    fprintf (stderr, "drain: %u chains, then %d%s\n", taken, ret,
             f->q.error != NULL ? f->q.error : "");
  if (ret == -EAGAIN && budget != 0)
    abort ();
  if (ret < 0 && ret != -EAGAIN && ret != -EIO)
    abort ();
  if (ret == -EIO && !f->q.broken)
    abort ();
  f->chain_valid = false;
  virtq_should_notify (&f->q);
}

static void
run_op (struct fuzz *f, const uint8_t *op)
{
  static uint8_t before[16 * VIRTQ_MAX_SIZE + 6 + 2 * VIRTQ_MAX_SIZE];
  static uint8_t after[sizeof before];
  unsigned kind = op[0] % N_OPS;
  bool was_broken = f->q.broken;
  bool device_writes = kind == OP_PUSH || kind == OP_DRAIN || kind == OP_DRAIN_QUIET ||
                       kind == OP_ENABLE || kind == OP_DISABLE || kind == OP_SHOULD_NOTIFY;
  size_t n = 0;
  struct virtq_chain c;
  int ret;

  if (device_writes && f->q.started)
    n = driver_bytes (f, before);

  switch (kind)
    {
    case OP_POP:
      ret = virtq_pop (&f->q, &c);
      if (trace)
        fprintf (stderr, "pop: %d (head %u, %u out, %u in)\n", ret, ret > 0 ? c.head : 0,
                 ret > 0 ? c.n_out : 0, ret > 0 ? c.n_in : 0);
      if (ret > 0)
        took (f, &c);
      else if (ret < 0 && (ret != -EIO || !f->q.broken))
        abort ();
      f->just_popped = ret > 0;
      return;
    case OP_PUSH:
      if (f->n_held > 0)
        {
          unsigned i = op[1] % f->n_held;
          uint16_t head = f->held[i];

          memmove (&f->held[i], &f->held[i + 1], (f->n_held - i - 1) * sizeof f->held[0]);
          f->n_held--;
          virtq_push (&f->q, head, viv_get_le16 (op + 2));
        }
      break;
    case OP_DRAIN:
    case OP_DRAIN_QUIET:
      drain (f, kind == OP_DRAIN_QUIET);
      break;
    case OP_ENABLE:
      virtq_enable_notify (&f->q);
      break;
    case OP_DISABLE:
      virtq_disable_notify (&f->q);
      break;
    case OP_SHOULD_NOTIFY:
      virtq_should_notify (&f->q);
      break;
    case OP_UNPOP:
      /* As a device does it: right after a pop, giving that chain back */
      if (f->just_popped)
        {
          virtq_unpop (&f->q);
          f->n_held--;
          f->chain_valid = false;
        }
      break;
    case OP_POKE:
      /* The guest, meanwhile, on another vCPU */
      f->a[viv_get_le16 (op + 1)] = op[3];
      break;
    case OP_PUBLISH:
      if (f->q.started)
        {
          uint16_t idx = le16toh (f->q.avail[1]);

          f->q.avail[1] = htole16 ((uint16_t) (idx + 1 + op[1] % 4));
        }
      break;
    case OP_RESTART:
      {
        uint16_t qsize = f->q.size;

        virtq_reset (&f->q);
        f->flags ^= op[1] & 3;
        configure (f, qsize);
      }
      if (virtq_start (&f->q) < 0 && f->q.error == NULL)
        abort ();
      break;
    case OP_CHAIN_COPY:
      if (f->chain_valid)
        {
          uint8_t buf[4096];
          uint32_t len = (uint32_t) (op[2] | (op[3] & 0x0f) << 8);

          if (virtq_chain_read (&f->chain, op[1], buf, len) > len)
            abort ();
          memset (buf, op[3], sizeof buf);
          if (virtq_chain_write (&f->chain, buf, len) > len)
            abort ();
        }
      break;
    }
  f->just_popped = false;

  if (was_broken && !f->q.broken && kind != OP_RESTART)
    abort ();
  if (n > 0 && (driver_bytes (f, after) != n || memcmp (before, after, n) != 0))
    {
      fprintf (stderr, "the device changed the descriptor table or the avail ring (op %u)\n",
               kind);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fuzz *f;
  uint16_t qsize;
  size_t n_ops, image;

  if (size < HEADER_LEN)
    return 0;
  if (fz == NULL)
    {
      fz = calloc (1, sizeof *fz);
      fz->a = vmm_test_ram_add (&fz->ram, RAM_A_GPA, RAM_A_SIZE);
      fz->b = vmm_test_ram_add (&fz->ram, RAM_B_GPA, RAM_B_SIZE);
      trace = getenv ("VIVARIUM_FUZZ_TRACE") != NULL;
    }
  f = fz;

  qsize = data[0] < 0xf0 ? (uint16_t) (1u << (data[0] % 9)) : viv_get_le16 (data + 1);
  f->flags = data[3];
  f->desc_off = viv_get_le16 (data + 4);
  f->avail_off = viv_get_le16 (data + 6);
  f->used_off = viv_get_le16 (data + 8);
  n_ops = MIN (data[10], (size - HEADER_LEN) / OP_LEN);
  image = size - HEADER_LEN - n_ops * OP_LEN;

  memset (f->a, 0, RAM_A_SIZE);
  memset (f->b, 0, RAM_B_SIZE);
  memcpy (f->a, data + HEADER_LEN + n_ops * OP_LEN, MIN (image, RAM_A_SIZE));
  if (image > RAM_A_SIZE)
    memcpy (f->b, data + HEADER_LEN + n_ops * OP_LEN + RAM_A_SIZE,
            MIN (image - RAM_A_SIZE, RAM_B_SIZE));

  configure (f, qsize);
  if (virtq_start (&f->q) < 0)
    {
      if (trace)
        fprintf (stderr, "start: %s\n", f->q.error);
      if (f->q.error == NULL)
        abort ();
      virtq_reset (&f->q);
      return 0;
    }
  for (size_t i = 0; i < n_ops; i++)
    run_op (f, data + HEADER_LEN + i * OP_LEN);
  virtq_reset (&f->q);
  return 0;
}
