/* test-bus.c: the port-I/O and MMIO bus
 *
 * Ranges registered on a struct vmm_bus and accessed at absolute addresses,
 * as the vCPU loop does: dispatch, overlaps, accesses that straddle a
 * range's end, many ranges, a handler that changes its own bus, and vCPU
 * threads dispatching while ranges come and go.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "bus.h"
#include "viv-bytes.h"
#include "vmm-test.h"

/* A device that answers reads with (id << 16 | offset) and records accesses. */
struct rec_dev {
  unsigned id;
  unsigned reads, writes;
  uint64_t last_offset;
  uint32_t last_len;
  uint64_t last_value;
};

static void
rec_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct rec_dev *r = opaque;

  r->reads++;
  r->last_offset = offset;
  r->last_len = len;
  viv_put_le (data, (uint64_t) r->id << 16 | offset, len);
}

static void
rec_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct rec_dev *r = opaque;

  r->writes++;
  r->last_offset = offset;
  r->last_len = len;
  r->last_value = viv_get_le (data, len);
}

static const struct vmm_io_ops rec_ops = {
  .read = rec_read,
  .write = rec_write,
};

/* Reads only, no state changed: safe from several threads. */
static void
id_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  const struct rec_dev *r = opaque;

  viv_put_le (data, (uint64_t) r->id << 16 | offset, len);
}

static const struct vmm_io_ops id_ops = {
  .read = id_read,
};

static void
test_bus_dispatch (void)
{
  struct vmm_bus bus;
  struct rec_dev a = { .id = 0xa }, b = { .id = 0xb };
  uint8_t buf[8];

  g_assert_cmpint (vmm_bus_init (&bus, "pio"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, 0x200, 0x10, &rec_ops, &b, "b"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 0x8, &rec_ops, &a, "a"), ==, 0);

  g_assert_true (vmm_bus_read (&bus, 0x104, buf, 4));
  g_assert_cmphex (viv_get_le (buf, 4), ==, 0xa0004);
  g_assert_cmpuint (a.reads, ==, 1);
  g_assert_cmpuint (a.last_offset, ==, 4);
  g_assert_cmpuint (a.last_len, ==, 4);

  g_assert_true (vmm_bus_read (&bus, 0x100, buf, 8));
  g_assert_cmphex (viv_get_le (buf, 8), ==, 0xa0000);
  g_assert_true (vmm_bus_read (&bus, 0x20f, buf, 1));
  g_assert_cmphex (buf[0], ==, 0x0f);
  g_assert_cmpuint (b.last_offset, ==, 0xf);

  viv_put_le (buf, 0xbeef, 2);
  g_assert_true (vmm_bus_write (&bus, 0x20e, buf, 2));
  g_assert_cmpuint (b.writes, ==, 1);
  g_assert_cmpuint (b.last_offset, ==, 0xe);
  g_assert_cmpuint (b.last_len, ==, 2);
  g_assert_cmphex (b.last_value, ==, 0xbeef);

  /* Between and around the ranges: nothing, reads are all-ones. */
  g_assert_false (vmm_bus_read (&bus, 0x108, buf, 1));
  g_assert_cmphex (buf[0], ==, 0xff);
  g_assert_false (vmm_bus_read (&bus, 0xff, buf, 1));
  g_assert_false (vmm_bus_read (&bus, 0x1ff, buf, 4));
  g_assert_cmphex (viv_get_le (buf, 4), ==, 0xffffffff);
  g_assert_false (vmm_bus_read (&bus, 0x210, buf, 2));
  g_assert_false (vmm_bus_read (&bus, 0, buf, 8));
  g_assert_cmphex (viv_get_le (buf, 8), ==, UINT64_MAX);
  g_assert_false (vmm_bus_write (&bus, 0x300, buf, 1));
  g_assert_cmpuint (a.reads + b.reads, ==, 3);
  g_assert_cmpuint (a.writes + b.writes, ==, 1);

  vmm_bus_destroy (&bus);
}

static void
test_bus_register_errors (void)
{
  struct vmm_bus bus;
  struct rec_dev a = { .id = 1 }, b = { .id = 2 };

  vmm_bus_init (&bus, "mmio");
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 0x10, &rec_ops, &a, "a"), ==, 0);

  /* Any overlap, from any side */
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 0x10, &rec_ops, &b, "b"), ==, -EEXIST);
  g_assert_cmpint (vmm_bus_register (&bus, 0xf0, 0x11, &rec_ops, &b, "b"), ==, -EEXIST);
  g_assert_cmpint (vmm_bus_register (&bus, 0x10f, 0x10, &rec_ops, &b, "b"), ==, -EEXIST);
  g_assert_cmpint (vmm_bus_register (&bus, 0x104, 0x4, &rec_ops, &b, "b"), ==, -EEXIST);
  g_assert_cmpint (vmm_bus_register (&bus, 0x0, 0x1000, &rec_ops, &b, "b"), ==, -EEXIST);
  g_assert_cmpint (vmm_bus_register (&bus, 0x10f, 1, &rec_ops, &b, "b"), ==, -EEXIST);

  /* Empty and wrapping ranges */
  g_assert_cmpint (vmm_bus_register (&bus, 0x1000, 0, &rec_ops, &b, "b"), ==, -EINVAL);
  g_assert_cmpint (vmm_bus_register (&bus, UINT64_MAX - 0xf, 0x20, &rec_ops, &b, "b"), ==,
                   -EINVAL);
  g_assert_cmpint (vmm_bus_register (&bus, UINT64_MAX, 2, &rec_ops, &b, "b"), ==, -EINVAL);
  g_assert_cmpuint (bus.n_ranges, ==, 1);

  /* Adjacent on both sides is fine, and so is a range ending at the very top. */
  g_assert_cmpint (vmm_bus_register (&bus, 0xf0, 0x10, &rec_ops, &b, "below"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, 0x110, 0x10, &rec_ops, &b, "above"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, UINT64_MAX - 0xf, 0x10, &rec_ops, &b, "top"), ==, 0);
  g_assert_cmpuint (bus.n_ranges, ==, 4);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0xff, 1), ==, 0x0f);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0x100, 4), ==, 0x10000);
  g_assert_cmpuint (a.last_offset, ==, 0);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0x110, 4), ==, 0x20000);
  g_assert_cmphex (vmm_test_bus_in (&bus, UINT64_MAX - 3, 4), ==, 0x2000c);

  vmm_bus_destroy (&bus);
}

static void
test_bus_straddle (void)
{
  struct vmm_bus bus;
  struct rec_dev a = { .id = 1 };
  uint8_t buf[8];

  vmm_bus_init (&bus, "pio");
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 4, &rec_ops, &a, "a"), ==, 0);

  /* The last bytes fit ... */
  g_assert_true (vmm_bus_read (&bus, 0x103, buf, 1));
  g_assert_true (vmm_bus_read (&bus, 0x102, buf, 2));
  g_assert_cmpuint (a.reads, ==, 2);

  /* ... one more does not: no call, all-ones */
  memset (buf, 0, sizeof buf);
  g_assert_false (vmm_bus_read (&bus, 0x102, buf, 4));
  g_assert_cmphex (viv_get_le (buf, 4), ==, 0xffffffff);
  g_assert_false (vmm_bus_read (&bus, 0x103, buf, 2));
  g_assert_cmphex (viv_get_le (buf, 2), ==, 0xffff);
  g_assert_false (vmm_bus_read (&bus, 0x100, buf, 8));
  g_assert_cmphex (viv_get_le (buf, 8), ==, UINT64_MAX);
  g_assert_false (vmm_bus_read (&bus, 0xfe, buf, 4));   /* starts below */
  g_assert_cmphex (viv_get_le (buf, 4), ==, 0xffffffff);
  g_assert_false (vmm_bus_write (&bus, 0x101, buf, 4));
  g_assert_false (vmm_bus_write (&bus, 0xff, buf, 2));
  g_assert_cmpuint (a.reads, ==, 2);
  g_assert_cmpuint (a.writes, ==, 0);

  vmm_bus_destroy (&bus);
}

static void
test_bus_unregister (void)
{
  struct vmm_bus bus;
  struct rec_dev a = { .id = 1 }, b = { .id = 2 };

  vmm_bus_init (&bus, "pio");
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 8, &rec_ops, &a, "a"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, 0x108, 8, &rec_ops, &b, "b"), ==, 0);

  g_assert_cmpint (vmm_bus_unregister (&bus, 0x100, &b), ==, -ENOENT);   /* not its owner */
  g_assert_cmpint (vmm_bus_unregister (&bus, 0x104, &a), ==, -ENOENT);   /* not its base */
  g_assert_cmpint (vmm_bus_unregister (&bus, 0x200, &a), ==, -ENOENT);
  g_assert_cmpuint (bus.n_ranges, ==, 2);

  g_assert_cmpint (vmm_bus_unregister (&bus, 0x100, &a), ==, 0);
  g_assert_cmpint (vmm_bus_unregister (&bus, 0x100, &a), ==, -ENOENT);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0x100, 4), ==, 0xffffffff);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0x108, 4), ==, 0x20000);
  g_assert_cmpuint (a.reads, ==, 0);

  /* The space is free again */
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 8, &rec_ops, &b, "b2"), ==, 0);
  g_assert_cmphex (vmm_test_bus_in (&bus, 0x101, 1), ==, 0x01);
  g_assert_cmpint (vmm_bus_unregister (&bus, 0x108, &b), ==, 0);
  g_assert_cmpint (vmm_bus_unregister (&bus, 0x100, &b), ==, 0);
  g_assert_cmpuint (bus.n_ranges, ==, 0);
  g_assert_false (vmm_bus_read (&bus, 0x100, &(uint8_t) { 0 }, 1));

  vmm_bus_destroy (&bus);
}

#define MANY 500
#define MANY_BASE(i) (0x10000ull + (uint64_t) (i) * 0x20)
#define MANY_LEN(i)  (0x10ull + (uint64_t) ((i) % 3) * 4)

static void
test_bus_many (void)
{
  struct vmm_bus bus;
  struct rec_dev *devs = g_new0 (struct rec_dev, MANY);
  uint8_t buf[4];

  vmm_bus_init (&bus, "mmio");
  /* 337 is prime to 500: every index once, far out of order */
  for (unsigned k = 0; k < MANY; k++)
    {
      unsigned i = (k * 337) % MANY;
      devs[i].id = i + 1;
      g_assert_cmpint (vmm_bus_register (&bus, MANY_BASE (i), MANY_LEN (i), &rec_ops, &devs[i],
                                         "many"), ==, 0);
    }
  g_assert_cmpuint (bus.n_ranges, ==, MANY);
  for (unsigned i = 1; i < MANY; i++)
    g_assert_cmphex (bus.ranges[i - 1].base, <, bus.ranges[i].base);

  for (unsigned i = 0; i < MANY; i++)
    {
      uint64_t last = MANY_BASE (i) + MANY_LEN (i) - 1;

      g_assert_cmphex (vmm_test_bus_in (&bus, MANY_BASE (i), 4), ==, (uint64_t) (i + 1) << 16);
      g_assert_cmpuint (devs[i].reads, ==, 1);
      g_assert_true (vmm_bus_read (&bus, last, buf, 1));
      g_assert_cmphex (buf[0], ==, MANY_LEN (i) - 1);
      g_assert_cmpuint (devs[i].reads, ==, 2);
      g_assert_cmphex (vmm_test_bus_in (&bus, MANY_BASE (i) + 4, 4), ==,
                       (uint64_t) (i + 1) << 16 | 4);
      /* the gap after it, and an overlap attempt */
      g_assert_false (vmm_bus_read (&bus, last + 1, buf, 1));
      g_assert_cmpint (vmm_bus_register (&bus, last, 2, &rec_ops, &devs[0], "x"), ==, -EEXIST);
    }
  g_assert_false (vmm_bus_read (&bus, MANY_BASE (0) - 1, buf, 1));

  /* Take every other one out, again out of order. */
  for (unsigned k = 0; k < MANY; k++)
    {
      unsigned i = (k * 211) % MANY;
      if (i % 2 == 0)
        g_assert_cmpint (vmm_bus_unregister (&bus, MANY_BASE (i), &devs[i]), ==, 0);
    }
  g_assert_cmpuint (bus.n_ranges, ==, MANY / 2);
  for (unsigned i = 0; i < MANY; i++)
    {
      bool found = vmm_bus_read (&bus, MANY_BASE (i) + 1, buf, 1);
      g_assert_cmpint (found, ==, i % 2 == 1);
      if (found)
        g_assert_cmphex (buf[0], ==, 1);
    }

  vmm_bus_destroy (&bus);
  g_free (devs);
}

/* A handler that changes the bus it is called from: a write registers a
 * second range, a read removes it. Run on a thread, so a deadlock fails the
 * test instead of hanging it. */
struct reenter {
  struct vmm_bus *bus;
  struct rec_dev inner;
  int reg_ret, unreg_ret;
  uint64_t inner_read, after_read;
  GMutex lock;
  GCond cond;
  bool done;
};

static void
reenter_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct reenter *re = opaque;

  (void) offset, (void) data, (void) len;
  re->reg_ret = vmm_bus_register (re->bus, 0x1000, 0x10, &rec_ops, &re->inner, "inner");
}

static void
reenter_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct reenter *re = opaque;

  (void) offset;
  re->unreg_ret = vmm_bus_unregister (re->bus, 0x1000, &re->inner);
  viv_put_le (data, 0x42, len);
}

static const struct vmm_io_ops reenter_ops = {
  .read = reenter_read,
  .write = reenter_write,
};

static gpointer
reenter_thread (gpointer data)
{
  struct reenter *re = data;

  vmm_test_bus_out (re->bus, 0x100, 1, 1);
  re->inner_read = vmm_test_bus_in (re->bus, 0x1004, 4);
  g_assert_cmphex (vmm_test_bus_in (re->bus, 0x100, 1), ==, 0x42);
  re->after_read = vmm_test_bus_in (re->bus, 0x1004, 4);

  g_mutex_lock (&re->lock);
  re->done = true;
  g_cond_signal (&re->cond);
  g_mutex_unlock (&re->lock);
  return NULL;
}

static void
test_bus_reentrant (void)
{
  struct vmm_bus bus;
  struct reenter re = { .bus = &bus, .inner = { .id = 7 }, .reg_ret = 1, .unreg_ret = 1 };
  gint64 deadline;
  GThread *thread;
  bool done;

  vmm_bus_init (&bus, "mmio");
  g_mutex_init (&re.lock);
  g_cond_init (&re.cond);
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 4, &reenter_ops, &re, "outer"), ==, 0);

  thread = g_thread_new ("reenter", reenter_thread, &re);
  deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&re.lock);
  while (!re.done)
    if (!g_cond_wait_until (&re.cond, &re.lock, deadline))
      break;
  done = re.done;
  g_mutex_unlock (&re.lock);
  if (!done)
    g_error ("a handler that changes its own bus deadlocked");
  g_thread_join (thread);

  g_assert_cmpint (re.reg_ret, ==, 0);
  g_assert_cmpint (re.unreg_ret, ==, 0);
  g_assert_cmphex (re.inner_read, ==, 0x70004);
  g_assert_cmphex (re.after_read, ==, 0xffffffff);
  g_assert_cmpuint (bus.n_ranges, ==, 1);

  g_cond_clear (&re.cond);
  g_mutex_clear (&re.lock);
  vmm_bus_destroy (&bus);
}

/* vCPU threads dispatching while the bus changes under them (a BAR moving). */
struct stress {
  struct vmm_bus *bus;
  volatile bool stop;
  unsigned bad;
};

static gpointer
stress_reader (gpointer data)
{
  struct stress *st = data;
  unsigned bad = 0;

  for (unsigned n = 0; n < 20000; n++)
    {
      /* the ranges at 0x100 and 0x300 never move */
      if (vmm_test_bus_in (st->bus, 0x104, 4) != 0x10004
          || vmm_test_bus_in (st->bus, 0x30c, 4) != 0x3000c)
        bad++;
    }
  g_atomic_int_add (&st->bad, bad);
  return NULL;
}

static void
test_bus_concurrent (void)
{
  struct vmm_bus bus;
  struct rec_dev fixed1 = { .id = 1 }, fixed3 = { .id = 3 }, moving = { .id = 2 };
  struct stress st = { .bus = &bus };
  GThread *threads[4];

  vmm_bus_init (&bus, "mmio");
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 0x10, &id_ops, &fixed1, "f1"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&bus, 0x300, 0x10, &id_ops, &fixed3, "f3"), ==, 0);
  for (unsigned i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("reader", stress_reader, &st);
  /* Enough ranges to make the array grow, so it moves while they read. */
  for (unsigned round = 0; round < 50; round++)
    {
      for (unsigned i = 0; i < 40; i++)
        g_assert_cmpint (vmm_bus_register (&bus, 0x1000 + i * 0x100, 0x10, &id_ops, &moving, "m"),
                         ==, 0);
      for (unsigned i = 0; i < 40; i++)
        g_assert_cmpint (vmm_bus_unregister (&bus, 0x1000 + i * 0x100, &moving), ==, 0);
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_assert_cmpuint (st.bad, ==, 0);
  vmm_bus_destroy (&bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/bus/dispatch", test_bus_dispatch);
  g_test_add_func ("/bus/register-errors", test_bus_register_errors);
  g_test_add_func ("/bus/straddle", test_bus_straddle);
  g_test_add_func ("/bus/unregister", test_bus_unregister);
  g_test_add_func ("/bus/many", test_bus_many);
  g_test_add_func ("/bus/reentrant", test_bus_reentrant);
  g_test_add_func ("/bus/concurrent", test_bus_concurrent);

  return g_test_run ();
}
