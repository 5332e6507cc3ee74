/* test-devices.c: the bus and the platform devices, driven as a guest would
 *
 * Each device is reached through its struct vmm_io_ops, either directly with
 * offsets from its base (as the bus calls it) or registered on a struct
 * vmm_bus and accessed at its absolute port or address. Interrupt lines,
 * serial output, power-off and reset are fakes that count what they see.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"

/* ---- helpers ----------------------------------------------------------------- */

static uint64_t
get_le (const uint8_t *p, uint32_t len)
{
  uint64_t v = 0;

  for (uint32_t i = 0; i < len; i++)
    v |= (uint64_t) p[i] << (8 * i);
  return v;
}

static void
put_le (uint8_t *p, uint64_t v, uint32_t len)
{
  for (uint32_t i = 0; i < len; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

/* An access through the bus, as the vCPU loop makes it. */
static uint64_t
bus_in (struct vmm_bus *bus, uint64_t addr, uint32_t len)
{
  uint8_t buf[8];

  vmm_bus_read (bus, addr, buf, len);
  return get_le (buf, len);
}

static void
bus_out (struct vmm_bus *bus, uint64_t addr, uint32_t len, uint64_t value)
{
  uint8_t buf[8];

  put_le (buf, value, len);
  vmm_bus_write (bus, addr, buf, len);
}

/* A direct call of a device's handler, with the all-ones the bus puts in
 * the buffer before a read. */
static uint64_t
dev_in (const struct vmm_io_ops *ops, void *opaque, uint64_t offset, uint32_t len)
{
  uint8_t buf[8];

  memset (buf, 0xff, sizeof buf);
  ops->read (opaque, offset, buf, len);
  return get_le (buf, len);
}

static void
dev_out (const struct vmm_io_ops *ops, void *opaque, uint64_t offset, uint32_t len,
         uint64_t value)
{
  uint8_t buf[8];

  put_le (buf, value, len);
  ops->write (opaque, offset, buf, len);
}

/* An interrupt line that counts its calls. A call that does not change the
 * level is counted apart: devices should only drive changes. */
struct fake_irq {
  unsigned calls;
  unsigned redundant;
  bool level;
  unsigned gsi;
};

static void
fake_irq_set (void *opaque, unsigned gsi, bool level)
{
  struct fake_irq *f = opaque;

  if (level == f->level)
    f->redundant++;
  f->calls++;
  f->level = level;
  f->gsi = gsi;
}

static struct vmm_irq_line
fake_irq_line (struct fake_irq *f, unsigned gsi)
{
  memset (f, 0, sizeof *f);
  return (struct vmm_irq_line) { .set = fake_irq_set, .opaque = f, .gsi = gsi };
}

/* True when LOCK is free, i.e. a callback was not called with it held. */
static bool
mutex_is_free (pthread_mutex_t *lock)
{
  if (pthread_mutex_trylock (lock) != 0)
    return false;
  pthread_mutex_unlock (lock);
  return true;
}

/* ---- bus --------------------------------------------------------------------- */

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
  put_le (data, (uint64_t) r->id << 16 | offset, len);
}

static void
rec_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct rec_dev *r = opaque;

  r->writes++;
  r->last_offset = offset;
  r->last_len = len;
  r->last_value = get_le (data, len);
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

  put_le (data, (uint64_t) r->id << 16 | offset, len);
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
  g_assert_cmphex (get_le (buf, 4), ==, 0xa0004);
  g_assert_cmpuint (a.reads, ==, 1);
  g_assert_cmpuint (a.last_offset, ==, 4);
  g_assert_cmpuint (a.last_len, ==, 4);

  g_assert_true (vmm_bus_read (&bus, 0x100, buf, 8));
  g_assert_cmphex (get_le (buf, 8), ==, 0xa0000);
  g_assert_true (vmm_bus_read (&bus, 0x20f, buf, 1));
  g_assert_cmphex (buf[0], ==, 0x0f);
  g_assert_cmpuint (b.last_offset, ==, 0xf);

  put_le (buf, 0xbeef, 2);
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
  g_assert_cmphex (get_le (buf, 4), ==, 0xffffffff);
  g_assert_false (vmm_bus_read (&bus, 0x210, buf, 2));
  g_assert_false (vmm_bus_read (&bus, 0, buf, 8));
  g_assert_cmphex (get_le (buf, 8), ==, UINT64_MAX);
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
  g_assert_cmphex (bus_in (&bus, 0xff, 1), ==, 0x0f);
  g_assert_cmphex (bus_in (&bus, 0x100, 4), ==, 0x10000);
  g_assert_cmpuint (a.last_offset, ==, 0);
  g_assert_cmphex (bus_in (&bus, 0x110, 4), ==, 0x20000);
  g_assert_cmphex (bus_in (&bus, UINT64_MAX - 3, 4), ==, 0x2000c);

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
  g_assert_cmphex (get_le (buf, 4), ==, 0xffffffff);
  g_assert_false (vmm_bus_read (&bus, 0x103, buf, 2));
  g_assert_cmphex (get_le (buf, 2), ==, 0xffff);
  g_assert_false (vmm_bus_read (&bus, 0x100, buf, 8));
  g_assert_cmphex (get_le (buf, 8), ==, UINT64_MAX);
  g_assert_false (vmm_bus_read (&bus, 0xfe, buf, 4));   /* starts below */
  g_assert_cmphex (get_le (buf, 4), ==, 0xffffffff);
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
  g_assert_cmphex (bus_in (&bus, 0x100, 4), ==, 0xffffffff);
  g_assert_cmphex (bus_in (&bus, 0x108, 4), ==, 0x20000);
  g_assert_cmpuint (a.reads, ==, 0);

  /* The space is free again */
  g_assert_cmpint (vmm_bus_register (&bus, 0x100, 8, &rec_ops, &b, "b2"), ==, 0);
  g_assert_cmphex (bus_in (&bus, 0x101, 1), ==, 0x01);
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

      g_assert_cmphex (bus_in (&bus, MANY_BASE (i), 4), ==, (uint64_t) (i + 1) << 16);
      g_assert_cmpuint (devs[i].reads, ==, 1);
      g_assert_true (vmm_bus_read (&bus, last, buf, 1));
      g_assert_cmphex (buf[0], ==, MANY_LEN (i) - 1);
      g_assert_cmpuint (devs[i].reads, ==, 2);
      g_assert_cmphex (bus_in (&bus, MANY_BASE (i) + 4, 4), ==, (uint64_t) (i + 1) << 16 | 4);
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
  put_le (data, 0x42, len);
}

static const struct vmm_io_ops reenter_ops = {
  .read = reenter_read,
  .write = reenter_write,
};

static gpointer
reenter_thread (gpointer data)
{
  struct reenter *re = data;

  bus_out (re->bus, 0x100, 1, 1);
  re->inner_read = bus_in (re->bus, 0x1004, 4);
  g_assert_cmphex (bus_in (re->bus, 0x100, 1), ==, 0x42);
  re->after_read = bus_in (re->bus, 0x1004, 4);

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
      if (bus_in (st->bus, 0x104, 4) != 0x10004 || bus_in (st->bus, 0x30c, 4) != 0x3000c)
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

/* ---- PCI --------------------------------------------------------------------- */

#define TEST_VENDOR   0x1af4
#define TEST_DEVICE   0x10f0
#define TEST_CLASS    0x050000
#define BAR0_SIZE     0x1000    /* 32-bit, BAR0 */
#define BAR2_SIZE     0x8000    /* 64-bit prefetchable, BAR2/BAR3 */

struct pci_fx {
  struct vmm_bus pio, mmio;
  struct vmm_pci_host host;
};

struct bar_event {
  unsigned bar;
  uint64_t addr;
  bool map;
};

struct test_pci;

struct bar_ctx {
  struct test_pci *t;
  unsigned bar;
};

struct test_pci {
  struct vmm_pci_device dev;
  struct vmm_bus *mmio;         /* where the hook registers BARs, or NULL */
  GArray *events;               /* struct bar_event */
  unsigned config_writes;
  uint8_t cap_msix, cap_vndr;
  struct bar_ctx ctx[VMM_PCI_NUM_BARS];
};

static void
bar_mmio_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  const struct bar_ctx *c = opaque;

  put_le (data, 0xba000000u | c->bar << 16 | offset, len);
}

static const struct vmm_io_ops bar_mmio_ops = {
  .read = bar_mmio_read,
};

static void
test_pci_bar_map (struct vmm_pci_device *dev, unsigned bar, uint64_t addr, bool map)
{
  struct test_pci *t = dev->opaque;
  struct bar_event ev = { .bar = bar, .addr = addr, .map = map };

  g_array_append_val (t->events, ev);
  /* What a real device does: put the BAR on the MMIO bus, the same bus
   * ECAM is on, from inside a config write that arrived through it. */
  if (t->mmio == NULL)
    return;
  if (map)
    g_assert_cmpint (vmm_bus_register (t->mmio, addr, dev->bars[bar].size, &bar_mmio_ops,
                                       &t->ctx[bar], "bar"), ==, 0);
  else
    g_assert_cmpint (vmm_bus_unregister (t->mmio, addr, &t->ctx[bar]), ==, 0);
}

static void
test_pci_config_write (struct vmm_pci_device *dev, uint32_t offset, uint32_t len)
{
  struct test_pci *t = dev->opaque;

  (void) offset, (void) len;
  t->config_writes++;
}

static const struct vmm_pci_device_ops test_pci_ops = {
  .config_write = test_pci_config_write,
  .bar_map = test_pci_bar_map,
};

static void
test_pci_init (struct test_pci *t, struct vmm_bus *mmio)
{
  memset (t, 0, sizeof *t);
  t->mmio = mmio;
  t->events = g_array_new (FALSE, FALSE, sizeof (struct bar_event));
  for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
    t->ctx[i] = (struct bar_ctx) { .t = t, .bar = i };
  vmm_pci_device_init (&t->dev, TEST_VENDOR, TEST_DEVICE, TEST_CLASS, 0x01, TEST_VENDOR, 0x0001,
                       &test_pci_ops, t);
  vmm_pci_device_set_bar (&t->dev, 0, BAR0_SIZE, false, false);
  vmm_pci_device_set_bar (&t->dev, 2, BAR2_SIZE, true, true);
  t->cap_msix = vmm_pci_device_add_cap (&t->dev, PCI_CAP_ID_MSIX, 12);
  t->cap_vndr = vmm_pci_device_add_cap (&t->dev, PCI_CAP_ID_VNDR, 16);
}

static void
test_pci_clear (struct test_pci *t)
{
  g_array_unref (t->events);
}

static void
assert_event (struct test_pci *t, unsigned i, unsigned bar, uint64_t addr, bool map)
{
  const struct bar_event *ev;

  g_assert_cmpuint (i, <, t->events->len);
  ev = &g_array_index (t->events, struct bar_event, i);
  g_assert_cmpuint (ev->bar, ==, bar);
  g_assert_cmphex (ev->addr, ==, addr);
  g_assert_cmpint (ev->map, ==, map);
}

static void
pci_fx_init (struct pci_fx *fx, uint64_t window_base, uint64_t window_size)
{
  vmm_bus_init (&fx->pio, "pio");
  vmm_bus_init (&fx->mmio, "mmio");
  vmm_pci_host_init (&fx->host, window_base, window_size);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops,
                                     &fx->host, "pci-cf8"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&fx->mmio, VMM_PCI_ECAM_BASE, VMM_PCI_ECAM_SIZE,
                                     &vmm_pci_ecam_ops, &fx->host, "pci-ecam"), ==, 0);
}

static void
pci_fx_destroy (struct pci_fx *fx)
{
  vmm_pci_host_destroy (&fx->host);
  vmm_bus_destroy (&fx->mmio);
  vmm_bus_destroy (&fx->pio);
}

static uint32_t
cf8_address (unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
  return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

/* As a BIOS does it: latch the dword address, then access CFC + (reg & 3). */
static uint32_t
cf8_read (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t len)
{
  bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 4, cf8_address (bus, dev, fn, reg));
  return (uint32_t) bus_in (&fx->pio, VMM_PORT_PCI_CONFIG_DATA + (reg & 3), len);
}

static void
cf8_write (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t len,
           uint32_t value)
{
  bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 4, cf8_address (bus, dev, fn, reg));
  bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_DATA + (reg & 3), len, value);
}

static uint64_t
ecam_addr (unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
  return VMM_PCI_ECAM_BASE + ((uint64_t) bus << 20 | dev << 15 | fn << 12 | reg);
}

static uint64_t
ecam_read (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
           uint32_t len)
{
  return bus_in (&fx->mmio, ecam_addr (bus, dev, fn, reg), len);
}

static void
ecam_write (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
            uint32_t len, uint64_t value)
{
  bus_out (&fx->mmio, ecam_addr (bus, dev, fn, reg), len, value);
}

/* Slot-1 shortcuts, through CF8 */
#define R(fx, reg, len)      cf8_read ((fx), 0, 1, 0, (reg), (len))
#define W(fx, reg, len, v)   cf8_write ((fx), 0, 1, 0, (reg), (len), (v))

static void
test_pci_cf8_host_bridge (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x08, 4) >> 8, ==, 0x060000);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_HEADER_TYPE, 1), ==, 0x00);
  /* every byte and word of the first dwords, at CFC..CFF */
  for (unsigned reg = 0; reg < 0x10; reg += 4)
    {
      uint32_t dword = cf8_read (&fx, 0, 0, 0, reg, 4);

      for (unsigned i = 0; i < 4; i++)
        g_assert_cmphex (cf8_read (&fx, 0, 0, 0, reg + i, 1), ==, (dword >> (8 * i)) & 0xff);
      for (unsigned i = 0; i < 4; i += 2)
        g_assert_cmphex (cf8_read (&fx, 0, 0, 0, reg + i, 2), ==, (dword >> (8 * i)) & 0xffff);
    }
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_VENDOR_ID, 2), ==, 0x1b36);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_DEVICE_ID, 2), ==, 0x0008);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x0b, 1), ==, 0x06);  /* base class */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x0a, 1), ==, 0x00);  /* subclass: host */

  /* Empty slots, other functions, other buses: all-ones */
  g_assert_cmphex (cf8_read (&fx, 0, 1, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 31, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 5, 0, 0, 2), ==, 0xffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 1, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 7, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 1, 0, 0, 0, 4), ==, 0xffffffff);
  cf8_write (&fx, 0, 0, 3, PCI_COMMAND, 2, 0x0006);   /* dropped */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_COMMAND, 2), ==, 0x0000);

  pci_fx_destroy (&fx);
}

static void
test_pci_cf8_latch (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  bus_out (&fx.pio, 0xcf8, 4, 0x80001234);
  g_assert_cmphex (bus_in (&fx.pio, 0xcf8, 4), ==, 0x80001234);
  bus_out (&fx.pio, 0xcf8, 4, 0x8000ab07);           /* the low two bits read as 0 */
  g_assert_cmphex (bus_in (&fx.pio, 0xcf8, 4), ==, 0x8000ab04);
  /* Only a dword write latches */
  bus_out (&fx.pio, 0xcf8, 1, 0x00);
  bus_out (&fx.pio, 0xcf8, 2, 0x0000);
  bus_out (&fx.pio, 0xcfa, 2, 0x0000);
  g_assert_cmphex (bus_in (&fx.pio, 0xcf8, 4), ==, 0x8000ab04);
  bus_out (&fx.pio, 0xcf8, 4, 0);
  g_assert_cmphex (bus_in (&fx.pio, 0xcf8, 4), ==, 0);

  /* Without the enable bit, CFC reaches nothing, neither reads nor writes. */
  bus_out (&fx.pio, 0xcf8, 4, 0x00000000);
  g_assert_cmphex (bus_in (&fx.pio, 0xcfc, 4), ==, 0xffffffff);
  g_assert_cmphex (bus_in (&fx.pio, 0xcfe, 2), ==, 0xffff);
  bus_out (&fx.pio, 0xcf8, 4, PCI_COMMAND);
  bus_out (&fx.pio, 0xcfc, 2, 0x0006);
  bus_out (&fx.pio, 0xcf8, 4, PCI_INTERRUPT_LINE);
  bus_out (&fx.pio, 0xcfc, 1, 0x0b);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_COMMAND, 2), ==, 0x0000);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x00);

  /* With it, the same writes land */
  cf8_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x0b);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0b);

  pci_fx_destroy (&fx);
}

static void
test_pci_ecam (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x02, 2), ==, 0x0008);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x08, 4) >> 8, ==, 0x060000);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x0b, 1), ==, 0x06);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x100, 4), ==, 0);        /* extended space */
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0xffc, 4), ==, 0);
  g_assert_cmphex (ecam_read (&fx, 0, 3, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 1, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 7, 0x08, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 1, 0, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 255, 31, 7, 0xffc, 4), ==, 0xffffffff);

  /* A write through ECAM is seen through CF8 and back */
  ecam_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x05);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x05);
  cf8_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x0a);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0a);

  /* The handler directly, with offsets from the ECAM base */
  g_assert_cmphex (dev_in (&vmm_pci_ecam_ops, &fx.host, 0, 4), ==, 0x00081b36);
  g_assert_cmphex (dev_in (&vmm_pci_ecam_ops, &fx.host, 1 << 15, 4), ==, 0xffffffff);

  pci_fx_destroy (&fx);
}

static uint64_t
bar_addr_from_config (struct pci_fx *fx, unsigned bar, bool is_64)
{
  uint64_t addr = R (fx, PCI_BAR0 + 4 * bar, 4) & ~0xfull;

  if (is_64)
    addr |= (uint64_t) R (fx, PCI_BAR0 + 4 * (bar + 1), 4) << 32;
  return addr;
}

static void
test_pci_add_device (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint64_t a0, a2;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpuint (t.cap_msix, ==, 0x40);
  g_assert_cmpuint (t.cap_vndr, ==, 0x4c);

  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  g_assert_cmpuint (t.dev.slot, ==, 1);

  g_assert_cmphex (R (&fx, PCI_VENDOR_ID, 4), ==, (uint32_t) TEST_DEVICE << 16 | TEST_VENDOR);
  g_assert_cmphex (R (&fx, 0x08, 4), ==, (uint32_t) TEST_CLASS << 8 | 0x01);
  g_assert_cmphex (R (&fx, PCI_SUBSYSTEM_VENDOR_ID, 4), ==, 0x0001u << 16 | TEST_VENDOR);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0, 4), ==, (uint32_t) TEST_DEVICE << 16 | TEST_VENDOR);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, ==, PCI_COMMAND_MEMORY);

  /* BARs: type bits, aligned to their size, inside the window, disjoint */
  g_assert_cmphex (R (&fx, PCI_BAR0, 4) & 0xf, ==, 0x0);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 8, 4) & 0xf, ==, PCI_BAR_MEM_64 | PCI_BAR_MEM_PREFETCH);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 4, 4), ==, 0);   /* BAR1: none */
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_assert_cmphex (a0 % BAR0_SIZE, ==, 0);
  g_assert_cmphex (a2 % BAR2_SIZE, ==, 0);
  g_assert_cmphex (a0, >=, VMM_PCI_MMIO32_BASE);
  g_assert_cmphex (a0 + BAR0_SIZE, <=, VMM_PCI_MMIO32_BASE + VMM_PCI_MMIO32_SIZE);
  g_assert_cmphex (a2, >=, VMM_PCI_MMIO32_BASE);
  g_assert_cmphex (a2 + BAR2_SIZE, <=, VMM_PCI_MMIO32_BASE + VMM_PCI_MMIO32_SIZE);
  g_assert_true (a0 + BAR0_SIZE <= a2 || a2 + BAR2_SIZE <= a0);

  /* The hook saw both mapped there, and they answer on the MMIO bus */
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, true);
  assert_event (&t, 1, 2, a2, true);
  g_assert_true (t.dev.bars[0].mapped && t.dev.bars[2].mapped);
  g_assert_cmphex (bus_in (&fx.mmio, a0 + 0x10, 4), ==, 0xba000010);
  g_assert_cmphex (bus_in (&fx.mmio, a2 + 0x7ffc, 4), ==, 0xba027ffc);

  /* A second device goes to slot 2, after the first one's BARs */
  {
    struct test_pci t2;
    uint64_t b0;

    test_pci_init (&t2, &fx.mmio);
    g_assert_cmpint (vmm_pci_host_add (&fx.host, &t2.dev), ==, 2);
    b0 = cf8_read (&fx, 0, 2, 0, PCI_BAR0, 4) & ~0xfu;
    g_assert_true (b0 >= a2 + BAR2_SIZE || b0 + BAR0_SIZE <= a0);
    g_assert_cmphex (bus_in (&fx.mmio, b0, 4), ==, 0xba000000);
    test_pci_clear (&t2);
  }

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bar_sizing (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd, orig0, orig2lo, orig2hi, lo, hi;
  uint64_t a0, a2, size;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_array_set_size (t.events, 0);

  /* Linux's __pci_read_base: decode off first */
  cmd = R (&fx, PCI_COMMAND, 2);
  W (&fx, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, false);
  assert_event (&t, 1, 2, a2, false);
  g_assert_false (vmm_bus_read (&fx.mmio, a0, &(uint32_t) { 0 }, 4));
  g_assert_false (vmm_bus_read (&fx.mmio, a2, &(uint32_t) { 0 }, 4));

  /* 32-bit BAR0 */
  orig0 = R (&fx, PCI_BAR0, 4);
  W (&fx, PCI_BAR0, 4, 0xffffffff);
  lo = R (&fx, PCI_BAR0, 4);
  W (&fx, PCI_BAR0, 4, orig0);
  g_assert_cmphex (lo, ==, 0xfffff000);
  g_assert_cmphex (~(lo & ~0xfu) + 1, ==, BAR0_SIZE);
  g_assert_cmphex (R (&fx, PCI_BAR0, 4), ==, orig0);

  /* 64-bit BAR2/3: each half */
  orig2lo = R (&fx, PCI_BAR0 + 8, 4);
  orig2hi = R (&fx, PCI_BAR0 + 12, 4);
  W (&fx, PCI_BAR0 + 8, 4, 0xffffffff);
  lo = R (&fx, PCI_BAR0 + 8, 4);
  W (&fx, PCI_BAR0 + 8, 4, orig2lo);
  W (&fx, PCI_BAR0 + 12, 4, 0xffffffff);
  hi = R (&fx, PCI_BAR0 + 12, 4);
  W (&fx, PCI_BAR0 + 12, 4, orig2hi);
  g_assert_cmphex (lo, ==, 0xffff8000 | PCI_BAR_MEM_64 | PCI_BAR_MEM_PREFETCH);
  g_assert_cmphex (hi, ==, 0xffffffff);
  size = ~((uint64_t) hi << 32 | (lo & ~0xfu)) + 1;
  g_assert_cmphex (size, ==, BAR2_SIZE);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 8, 4), ==, orig2lo);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 12, 4), ==, orig2hi);

  /* BARs that are not there size to 0 */
  for (unsigned bar = 4; bar < VMM_PCI_NUM_BARS; bar++)
    {
      W (&fx, PCI_BAR0 + 4 * bar, 4, 0xffffffff);
      g_assert_cmphex (R (&fx, PCI_BAR0 + 4 * bar, 4), ==, 0);
    }
  W (&fx, PCI_BAR0 + 4, 4, 0xffffffff);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 4, 4), ==, 0);

  /* Nothing mapped while decode was off */
  g_assert_cmpuint (t.events->len, ==, 2);

  /* Decode back on: mapped at the restored addresses */
  W (&fx, PCI_COMMAND, 2, cmd);
  g_assert_cmpuint (t.events->len, ==, 4);
  assert_event (&t, 2, 0, a0, true);
  assert_event (&t, 3, 2, a2, true);
  g_assert_cmphex (bus_in (&fx.mmio, a0 + 4, 4), ==, 0xba000004);
  g_assert_cmphex (bus_in (&fx.mmio, a2 + 4, 4), ==, 0xba020004);
  g_assert_cmpuint (t.config_writes, >, 0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bar_move (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint64_t a0, a2, n0;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_array_set_size (t.events, 0);

  /* Writing the same address again changes nothing */
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  W (&fx, PCI_COMMAND, 2, R (&fx, PCI_COMMAND, 2));
  g_assert_cmpuint (t.events->len, ==, 0);

  /* A 32-bit BAR moved with decode on, through ECAM this time */
  n0 = a0 + VMM_MiB (1);
  ecam_write (&fx, 0, 1, 0, PCI_BAR0, 4, n0);
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, false);
  assert_event (&t, 1, 0, n0, true);
  g_assert_false (vmm_bus_read (&fx.mmio, a0, &(uint32_t) { 0 }, 4));
  g_assert_cmphex (bus_in (&fx.mmio, n0 + 8, 4), ==, 0xba000008);

  /* A 64-bit BAR moved above 4 GiB through its high half */
  W (&fx, PCI_BAR0 + 12, 4, 0x10);
  g_assert_cmpuint (t.events->len, ==, 4);
  assert_event (&t, 2, 2, a2, false);
  assert_event (&t, 3, 2, 0x1000000000ull | a2, true);
  g_assert_cmphex (bus_in (&fx.mmio, 0x1000000000ull | a2, 4), ==, 0xba020000);
  g_assert_cmphex (bar_addr_from_config (&fx, 2, true), ==, 0x1000000000ull | a2);

  /* Sized with decode left on: both halves all-ones wraps, so not decoded */
  W (&fx, PCI_BAR0 + 8, 4, 0xffffffff);
  W (&fx, PCI_BAR0 + 12, 4, 0xffffffff);
  g_assert_false (t.dev.bars[2].mapped);
  g_assert_false (g_array_index (t.events, struct bar_event, t.events->len - 1).map);
  W (&fx, PCI_BAR0 + 8, 4, (uint32_t) a2);
  W (&fx, PCI_BAR0 + 12, 4, 0);
  g_assert_true (t.dev.bars[2].mapped);
  assert_event (&t, t.events->len - 1, 2, a2, true);
  g_assert_cmphex (bus_in (&fx.mmio, a2, 4), ==, 0xba020000);

  /* Address 0 is not decoded either */
  W (&fx, PCI_BAR0, 4, 0);
  g_assert_false (t.dev.bars[0].mapped);
  assert_event (&t, t.events->len - 1, 0, n0, false);
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  assert_event (&t, t.events->len - 1, 0, a0, true);

  /* The same for a 32-bit BAR: its all-ones address (4 GiB - size) is the
   * sizing pattern, and update_bars says it does not decode that. */
  W (&fx, PCI_BAR0, 4, 0xffffffff);
  g_assert_false (t.dev.bars[0].mapped);
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  g_assert_true (t.dev.bars[0].mapped);
  g_assert_cmphex (t.dev.bars[0].addr, ==, a0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_capabilities (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint8_t ids[48], n = 0;
  unsigned pos;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);

  /* As Linux's pci_find_capability walks it, bounded */
  g_assert_cmphex (R (&fx, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
  pos = R (&fx, PCI_CAPABILITY_LIST, 1);
  while (pos != 0 && n < sizeof ids)
    {
      g_assert_cmpuint (pos, >=, 0x40);
      g_assert_cmpuint (pos % 4, ==, 0);
      ids[n++] = (uint8_t) R (&fx, pos, 1);
      pos = R (&fx, pos + 1, 1);
    }
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmphex (ids[0], ==, PCI_CAP_ID_MSIX);
  g_assert_cmphex (ids[1], ==, PCI_CAP_ID_VNDR);
  g_assert_cmphex (R (&fx, t.cap_msix, 2), ==, (uint32_t) t.cap_vndr << 8 | PCI_CAP_ID_MSIX);
  g_assert_cmphex (R (&fx, t.cap_vndr, 2), ==, PCI_CAP_ID_VNDR);

  /* The host bridge has none */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, 0);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_CAPABILITY_LIST, 1), ==, 0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_cap_space (void)
{
  struct vmm_pci_device dev;
  unsigned pos, n = 0;

  /* Filling the standard space ends the list instead of running past it */
  vmm_pci_device_init (&dev, 1, 2, 0, 0, 0, 0, NULL, NULL);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x40), ==, 0x40);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x3d), ==, 0x80);  /* 0x40 */
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x41), ==, 0);    /* too big */
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x40), ==, 0xc0);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 4), ==, 0);
  for (pos = dev.config[PCI_CAPABILITY_LIST]; pos != 0 && n < 48; pos = dev.config[pos + 1])
    n++;
  g_assert_cmpuint (n, ==, 3);

  /* A capability longer than what is left is refused, whatever its length. */
  vmm_pci_device_init (&dev, 1, 2, 0, 0, 0, 0, NULL, NULL);
  pos = vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0xfe);
  g_assert_cmpuint (pos, ==, 0);
}

static void
test_pci_read_only (void)
{
  struct pci_fx fx;
  struct test_pci t;
  static const struct { unsigned reg, len; } ro[] = {
    { PCI_VENDOR_ID, 4 }, { PCI_VENDOR_ID, 2 }, { PCI_DEVICE_ID, 2 }, { 0x08, 4 }, { 0x09, 1 },
    { 0x0b, 1 }, { PCI_HEADER_TYPE, 1 }, { PCI_SUBSYSTEM_VENDOR_ID, 4 },
    { PCI_CAPABILITY_LIST, 1 }, { 0x40, 1 }, { 0x41, 1 }, { 0x4c, 2 }, { 0x40, 4 },
    { PCI_INTERRUPT_PIN, 1 },
  };
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);

  for (unsigned i = 0; i < G_N_ELEMENTS (ro); i++)
    {
      uint32_t before = R (&fx, ro[i].reg, ro[i].len);

      W (&fx, ro[i].reg, ro[i].len, ~before);
      g_assert_cmphex (R (&fx, ro[i].reg, ro[i].len), ==, before);
      ecam_write (&fx, 0, 1, 0, ro[i].reg, ro[i].len, 0);
      g_assert_cmphex (R (&fx, ro[i].reg, ro[i].len), ==, before);
    }
  /* The host bridge's IDs too */
  cf8_write (&fx, 0, 0, 0, 0, 4, 0);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0, 4), ==, 0x00081b36);
  cf8_write (&fx, 0, 0, 0, 0x08, 4, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x08, 4), ==, 0x06000000);

  /* What is writable: INTERRUPT_LINE, and only the defined COMMAND bits */
  W (&fx, PCI_INTERRUPT_LINE, 1, 0x0b);
  g_assert_cmphex (R (&fx, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  cmd = R (&fx, PCI_COMMAND, 2);
  W (&fx, PCI_COMMAND, 2, 0xffff);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                   PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
  W (&fx, PCI_COMMAND, 2, cmd);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_status_w1c (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  cmd = R (&fx, PCI_COMMAND, 2);

  /* The device side latches errors: master/target aborts, parity */
  t.dev.config[PCI_STATUS + 1] |= 0xf9;
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0xf910);

  W (&fx, PCI_STATUS, 2, 0x0000);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0xf910);
  W (&fx, PCI_STATUS, 2, 0x8000);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7910);
  W (&fx, PCI_STATUS + 1, 1, 0x01);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7810);
  /* A dword write of COMMAND carries STATUS: zeros there clear nothing */
  W (&fx, PCI_COMMAND, 4, cmd);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7810);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);
  /* All ones clears every error bit; CAP_LIST is read-only */
  W (&fx, PCI_COMMAND, 4, 0xffff0000u | cmd);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, PCI_STATUS_CAP_LIST);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bad_access (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  W (&fx, PCI_INTERRUPT_LINE, 1, 0x0b);
  cmd = R (&fx, PCI_COMMAND, 4);
  g_array_set_size (t.events, 0);

  /* Unaligned through ECAM */
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x02, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x01, 2), ==, 0xffff);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x3b, 2), ==, 0xffff);
  ecam_write (&fx, 0, 1, 0, 0x3b, 2, 0);
  ecam_write (&fx, 0, 1, 0, 0x3a, 4, 0);
  ecam_write (&fx, 0, 1, 0, 0x11, 4, 0);       /* into BAR0, unaligned */
  ecam_write (&fx, 0, 1, 0, 0x05, 2, 0xffff);  /* COMMAND/STATUS, unaligned */
  /* Oversize: 8 bytes, and odd lengths the bus never makes */
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x00, 8), ==, UINT64_MAX);
  ecam_write (&fx, 0, 1, 0, 0x38, 8, 0);
  ecam_write (&fx, 0, 1, 0, 0x10, 8, 0);
  g_assert_cmphex (dev_in (&vmm_pci_ecam_ops, &fx.host, 1 << 15, 3), ==, 0xffffff);
  dev_out (&vmm_pci_ecam_ops, &fx.host, (1 << 15) | 0x3c, 3, 0);
  dev_out (&vmm_pci_ecam_ops, &fx.host, (1 << 15) | 0x3c, 0, 0);

  /* Unaligned through CF8/CFC */
  g_assert_cmphex (R (&fx, 0x01, 2), ==, 0xffff);
  g_assert_cmphex (R (&fx, 0x03, 2), ==, 0xffff);      /* straddles CFF */
  g_assert_cmphex (R (&fx, 0x01, 4), ==, 0xffffffff);  /* straddles CFF */
  W (&fx, PCI_COMMAND + 1, 2, 0xffff);                  /* COMMAND high byte, STATUS */
  g_assert_cmphex (R (&fx, 0x01, 1), ==, TEST_VENDOR >> 8);  /* a byte is fine */
  g_assert_cmphex (bus_in (&fx.pio, 0xcf9, 1), ==, 0xff);    /* latch bytes */

  /* Nothing moved */
  g_assert_cmphex (R (&fx, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 4), ==, cmd);
  g_assert_cmphex (R (&fx, PCI_BAR0, 4), ==, t.dev.bars[0].addr);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, ==, PCI_COMMAND_MEMORY);
  g_assert_cmpuint (t.events->len, ==, 0);
  g_assert_true (t.dev.bars[0].mapped && t.dev.bars[2].mapped);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_window_full (void)
{
  struct pci_fx fx;
  struct vmm_pci_device a, b, c, d, e;

  /* A 64 KiB window */
  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_KiB (64));
  vmm_pci_device_init (&a, 1, 1, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&a, 0, VMM_KiB (32), false, false);
  vmm_pci_device_init (&b, 1, 2, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&b, 0, VMM_KiB (64), true, false);
  vmm_pci_device_init (&c, 1, 3, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&c, 0, VMM_KiB (4), false, false);
  vmm_pci_device_set_bar (&c, 1, VMM_KiB (16), false, false);
  vmm_pci_device_init (&d, 1, 4, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&d, 0, VMM_KiB (16), false, false);
  vmm_pci_device_init (&e, 1, 5, 0, 0, 0, 0, NULL, NULL);

  g_assert_cmpint (vmm_pci_host_add (&fx.host, &a), ==, 1);
  g_assert_cmphex (cf8_read (&fx, 0, 1, 0, PCI_BAR0, 4), ==, VMM_PCI_MMIO32_BASE);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &b), ==, -ENOSPC);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, 0, 4), ==, 0xffffffff);  /* slot 2 still free */
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &c), ==, 2);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, PCI_BAR0, 4), ==, VMM_PCI_MMIO32_BASE + 0x8000);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, PCI_BAR0 + 4, 4), ==, VMM_PCI_MMIO32_BASE + 0xc000);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &d), ==, -ENOSPC);
  /* A device without BARs still fits */
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &e), ==, 3);

  pci_fx_destroy (&fx);
}

static void
test_pci_slots_full (void)
{
  struct pci_fx fx;
  struct vmm_pci_device *devs = g_new0 (struct vmm_pci_device, VMM_PCI_SLOTS);

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  for (unsigned i = 0; i < VMM_PCI_SLOTS - 1; i++)
    {
      vmm_pci_device_init (&devs[i], 0x1af4, (uint16_t) (0x1000 + i), 0xff0000, 0, 0, 0, NULL,
                           NULL);
      vmm_pci_device_set_bar (&devs[i], 0, 0x1000, false, false);
      g_assert_cmpint (vmm_pci_host_add (&fx.host, &devs[i]), ==, (int) i + 1);
    }
  vmm_pci_device_init (&devs[VMM_PCI_SLOTS - 1], 0x1af4, 0x2000, 0xff0000, 0, 0, 0, NULL, NULL);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &devs[VMM_PCI_SLOTS - 1]), ==, -ENOSPC);

  for (unsigned slot = 1; slot < VMM_PCI_SLOTS; slot++)
    g_assert_cmphex (ecam_read (&fx, 0, slot, 0, PCI_DEVICE_ID, 2), ==, 0x1000 + slot - 1);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0, 4), ==, 0x00081b36);

  pci_fx_destroy (&fx);
  g_free (devs);
}

/* ---- serial ------------------------------------------------------------------ */

#define UART_RBR 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

struct serial_fx {
  struct vmm_bus pio;
  struct vmm_serial s;
  struct fake_irq irq;
  GByteArray *out;
  bool out_locked;   /* the output callback ran with the UART's lock held */
};

static void
serial_output (void *opaque, const uint8_t *data, size_t len)
{
  struct serial_fx *fx = opaque;

  fx->out_locked = !mutex_is_free (&fx->s.lock);
  g_byte_array_append (fx->out, data, (guint) len);
}

static void
serial_fx_init (struct serial_fx *fx)
{
  vmm_bus_init (&fx->pio, "pio");
  fx->out = g_byte_array_new ();
  vmm_serial_init (&fx->s, fake_irq_line (&fx->irq, VMM_IRQ_COM1), serial_output, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_COM1, 8, &vmm_serial_ops, &fx->s,
                                     "com1"), ==, 0);
}

static void
serial_fx_destroy (struct serial_fx *fx)
{
  g_assert_cmpuint (fx->irq.redundant, ==, 0);
  vmm_serial_destroy (&fx->s);
  g_byte_array_unref (fx->out);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
uart_in (struct serial_fx *fx, unsigned reg)
{
  return (uint8_t) bus_in (&fx->pio, VMM_PORT_COM1 + reg, 1);
}

static void
uart_out (struct serial_fx *fx, unsigned reg, uint8_t value)
{
  bus_out (&fx->pio, VMM_PORT_COM1 + reg, 1, value);
}

static void
test_serial_scratch (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  /* 8250 autoconfig: the scratch register tells a 16450+ from an 8250 */
  uart_out (&fx, UART_SCR, 0xa5);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0xa5);
  uart_out (&fx, UART_SCR, 0x5a);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0x5a);
  /* The handler directly, offsets from the base */
  dev_out (&vmm_serial_ops, &fx.s, UART_SCR, 1, 0x3c);
  g_assert_cmphex (dev_in (&vmm_serial_ops, &fx.s, UART_SCR, 1), ==, 0x3c);
  /* Wider accesses are not for a UART */
  dev_out (&vmm_serial_ops, &fx.s, UART_SCR, 2, 0x1111);
  g_assert_cmphex (uart_in (&fx, UART_SCR), ==, 0x3c);
  g_assert_cmphex (dev_in (&vmm_serial_ops, &fx.s, UART_LSR, 2), ==, 0xffff);
  /* Idle state: THR empty, nothing received, no interrupt */
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x60);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  serial_fx_destroy (&fx);
}

static void
test_serial_loopback (void)
{
  struct serial_fx fx;
  uint8_t msr;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xb0);   /* DCD, DSR, CTS */

  /* 8250 autoconfig: MCR = LOOP | OUT2 | RTS reads back as DCD | CTS */
  uart_out (&fx, UART_MCR, 0x1a);
  g_assert_cmphex (uart_in (&fx, UART_MCR), ==, 0x1a);
  msr = uart_in (&fx, UART_MSR);
  g_assert_cmphex (msr & 0xf0, ==, 0x90);
  g_assert_cmphex (msr & 0x0f, ==, 0x02);                   /* DSR went away: DDSR */
  g_assert_cmphex (uart_in (&fx, UART_MSR), ==, 0x90);      /* deltas clear on read */
  uart_out (&fx, UART_MCR, 0x1f);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xf0);
  uart_out (&fx, UART_MCR, 0x1b);                           /* OUT1 off: RI trailing edge */
  g_assert_cmphex (uart_in (&fx, UART_MSR), ==, 0xb4);
  uart_out (&fx, UART_MCR, 0x10);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0x00);

  /* Data sent in loopback comes back in RBR, not out */
  uart_out (&fx, UART_RBR, 0x41);
  uart_out (&fx, UART_RBR, 0x42);
  g_assert_cmpuint (fx.out->len, ==, 0);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 0x41);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 0x42);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  /* and the outside is disconnected */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "x", 1), ==, 0);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);

  /* Back to normal: the cable is there again, bytes go out */
  uart_out (&fx, UART_MCR, 0x0b);
  g_assert_cmphex (uart_in (&fx, UART_MSR) & 0xf0, ==, 0xb0);
  uart_out (&fx, UART_RBR, 0x43);
  g_assert_cmpuint (fx.out->len, ==, 1);
  g_assert_cmphex (fx.out->data[0], ==, 0x43);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 0);   /* no interrupt was enabled */
  serial_fx_destroy (&fx);
}

static void
test_serial_fifo (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_IIR) & 0xc0, ==, 0x00);
  /* 8250 autoconfig: FCR = ENABLE | CLEAR_RCVR | CLEAR_XMIT; IIR[7:6] says 16550A */
  uart_out (&fx, UART_FCR, 0x07);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0xc1);
  /* Clearing the receive FIFO drops what was received */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "abc", 3), ==, 3);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  uart_out (&fx, UART_FCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  uart_out (&fx, UART_FCR, 0x00);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  serial_fx_destroy (&fx);
}

static void
test_serial_dlab (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);
  g_assert_cmphex (uart_in (&fx, UART_LCR), ==, 0x03);

  uart_out (&fx, UART_IER, 0x05);
  uart_out (&fx, UART_LCR, 0x83);
  g_assert_cmphex (uart_in (&fx, UART_LCR), ==, 0x83);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x01);        /* DLL: 115200 baud */
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x00);        /* DLM */
  uart_out (&fx, 0, 0x0c);                              /* 9600 baud */
  uart_out (&fx, 1, 0x00);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x0c);
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x00);
  uart_out (&fx, 1, 0x12);
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x12);
  g_assert_cmpuint (fx.out->len, ==, 0);               /* DLL writes are not data */

  uart_out (&fx, UART_LCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x05);  /* DLM did not touch IER */
  uart_out (&fx, UART_RBR, 'z');
  g_assert_cmpuint (fx.out->len, ==, 1);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "q", 1), ==, 1);
  uart_out (&fx, UART_LCR, 0x83);
  g_assert_cmphex (uart_in (&fx, 0), ==, 0x0c);        /* DLL, not the received byte */
  g_assert_cmphex (uart_in (&fx, 1), ==, 0x12);
  uart_out (&fx, UART_LCR, 0x03);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'q');
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x05);
  uart_out (&fx, UART_IER, 0xff);
  g_assert_cmphex (uart_in (&fx, UART_IER), ==, 0x0f);  /* the upper bits do not exist */
  serial_fx_destroy (&fx);
}

static void
test_serial_output (void)
{
  struct serial_fx fx;
  static const char msg[] = "Linux version 6.1\r\n\x00\xff";

  serial_fx_init (&fx);
  for (unsigned i = 0; i < sizeof msg; i++)
    {
      /* as a polling driver does */
      g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x20, ==, 0x20);
      uart_out (&fx, UART_RBR, (uint8_t) msg[i]);
    }
  g_assert_cmpuint (fx.out->len, ==, sizeof msg);
  g_assert_cmpmem (fx.out->data, fx.out->len, msg, sizeof msg);
  g_assert_true (fx.out_locked);   /* as serial.h says */
  /* A word write to THR is not a byte */
  bus_out (&fx.pio, VMM_PORT_COM1, 2, 0x4141);
  g_assert_cmpuint (fx.out->len, ==, sizeof msg);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  serial_fx_destroy (&fx);
}

static void
test_serial_thri (void)
{
  struct serial_fx fx;
  uint8_t iir1, iir2;

  serial_fx_init (&fx);

  uart_out (&fx, UART_IER, 0x02);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_true (fx.irq.level);
  g_assert_cmpuint (fx.irq.gsi, ==, VMM_IRQ_COM1);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x02);   /* reading acknowledges it */
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 2);

  uart_out (&fx, UART_RBR, 'a');                         /* sent at once: empty again */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_true (fx.irq.level);
  uart_out (&fx, UART_RBR, 'b');                         /* already up: no call */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  uart_out (&fx, UART_FCR, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0xc2);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);

  /* Masking a pending one drops the line; unmasking brings it back */
  uart_out (&fx, UART_RBR, 'c');
  g_assert_cmpuint (fx.irq.calls, ==, 5);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 6);
  g_assert_false (fx.irq.level);

  /* 8250 startup's UART_BUG_THRE test: THRE comes back when re-enabled */
  uart_out (&fx, UART_IER, 0x02);
  iir1 = uart_in (&fx, UART_IIR);
  uart_out (&fx, UART_IER, 0x00);
  uart_out (&fx, UART_IER, 0x02);
  iir2 = uart_in (&fx, UART_IIR);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_cmphex (iir1 & 0x0f, ==, 0x02);
  g_assert_cmphex (iir2 & 0x0f, ==, 0x02);
  g_assert_false (fx.irq.level);
  g_assert_cmpuint (fx.out->len, ==, 3);
  serial_fx_destroy (&fx);
}

static void
test_serial_receive (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);

  /* Without IER.RDI: data is there, no interrupt */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "xy", 2), ==, 2);
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x61);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 0);
  /* Enabling it with data waiting raises the line */
  uart_out (&fx, UART_IER, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'x');
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'y');
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR), ==, 0x60);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x01);

  /* With it: one raise for a burst, in order, dropped when drained */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "abc", 3), ==, 3);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "de", 2), ==, 2);
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);
  for (const char *p = "abcde"; *p != '\0'; p++)
    {
      g_assert_true (fx.irq.level);
      g_assert_cmphex (uart_in (&fx, UART_RBR), ==, (uint8_t) *p);
    }
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  /* Reading an empty RBR changes nothing */
  uart_in (&fx, UART_RBR);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, NULL, 0), ==, 0);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  serial_fx_destroy (&fx);
}

static void
test_serial_rx_full (void)
{
  struct serial_fx fx;
  uint8_t data[VMM_SERIAL_RX_SIZE + 100];
  unsigned next_in = 0, next_out = 0;

  serial_fx_init (&fx);
  for (unsigned i = 0; i < sizeof data; i++)
    data[i] = (uint8_t) (i * 7 + 1);
  uart_out (&fx, UART_IER, 0x01);

  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data, 1000), ==, 1000);
  next_in = 1000;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE - 1000);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, 100), ==, VMM_SERIAL_RX_SIZE - 1000);
  next_in = VMM_SERIAL_RX_SIZE;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 0);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, 1), ==, 0);
  g_assert_cmpuint (fx.irq.calls, ==, 1);

  /* Drain part of it, refill across the ring's end, drain it all in order */
  for (; next_out < 600; next_out++)
    g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[next_out]);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 600);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data + next_in, sizeof data - next_in), ==, 100);
  next_in += 100;
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 500);
  for (; next_out < next_in; next_out++)
    {
      g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x01);
      g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[next_out]);
    }
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, VMM_SERIAL_RX_SIZE);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);

  /* Loopback into a full buffer drops the byte */
  g_assert_cmpuint (vmm_serial_receive (&fx.s, data, VMM_SERIAL_RX_SIZE), ==, VMM_SERIAL_RX_SIZE);
  uart_out (&fx, UART_MCR, 0x1b);
  uart_out (&fx, UART_RBR, 0xee);
  uart_out (&fx, UART_MCR, 0x0b);
  g_assert_cmpuint (vmm_serial_rx_space (&fx.s), ==, 0);
  for (unsigned i = 0; i < VMM_SERIAL_RX_SIZE; i++)
    g_assert_cmphex (uart_in (&fx, UART_RBR), ==, data[i]);
  g_assert_cmphex (uart_in (&fx, UART_LSR) & 0x01, ==, 0x00);
  serial_fx_destroy (&fx);
}

static void
test_serial_irq_priority (void)
{
  struct serial_fx fx;

  serial_fx_init (&fx);

  /* THRE and received data both pending: one raise, data reported first */
  uart_out (&fx, UART_IER, 0x03);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmpuint (vmm_serial_receive (&fx.s, (const uint8_t *) "k", 1), ==, 1);
  g_assert_cmpuint (fx.irq.calls, ==, 1);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x04);   /* does not ack THRE */
  g_assert_cmphex (uart_in (&fx, UART_RBR), ==, 'k');
  g_assert_cmpuint (fx.irq.calls, ==, 1);                /* THRE still pending */
  g_assert_true (fx.irq.level);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x02);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  g_assert_false (fx.irq.level);
  /* Enabling RDI with nothing received raises nothing */
  uart_out (&fx, UART_IER, 0x01);
  g_assert_cmpuint (fx.irq.calls, ==, 2);

  /* Modem status interrupt: a loopback line change, cleared by reading MSR */
  uart_out (&fx, UART_IER, 0x08);
  g_assert_cmpuint (fx.irq.calls, ==, 2);
  uart_out (&fx, UART_MCR, 0x1a);                        /* DSR drops: delta */
  g_assert_cmpuint (fx.irq.calls, ==, 3);
  g_assert_cmphex (uart_in (&fx, UART_IIR), ==, 0x00);
  g_assert_cmpuint (fx.irq.calls, ==, 3);                /* IIR does not clear it */
  uart_in (&fx, UART_MSR);
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  g_assert_false (fx.irq.level);
  uart_out (&fx, UART_MCR, 0x1a);                        /* no change: no delta */
  g_assert_cmpuint (fx.irq.calls, ==, 4);
  uart_out (&fx, UART_MCR, 0x0b);
  uart_in (&fx, UART_MSR);
  uart_out (&fx, UART_IER, 0x00);
  g_assert_false (fx.irq.level);
  g_assert_cmpuint (fx.irq.calls % 2, ==, 0);
  serial_fx_destroy (&fx);
}

/* ---- ACPI PM ----------------------------------------------------------------- */

#define PM1_STS  (VMM_PORT_ACPI_PM1A_EVT)
#define PM1_EN   (VMM_PORT_ACPI_PM1A_EVT + 2)
#define PM1_CNT  (VMM_PORT_ACPI_PM1A_CNT)
#define PM_TMR   (VMM_PORT_ACPI_PM_TMR)
#define GPE0_STS (VMM_PORT_ACPI_GPE0)
#define GPE0_EN  (VMM_PORT_ACPI_GPE0 + 8)

#define PWRBTN   0x0100
#define SLP_EN   0x2000
#define SLP_TYP(t) ((t) << 10)
#define PM_TIMER_HZ 3579545.0

struct acpi_fx {
  struct vmm_bus pio;
  struct vmm_acpi_pm pm;
  struct fake_irq sci;
  unsigned power_offs;
  bool locked_in_callback;
};

static void
fake_power_off (void *opaque)
{
  struct acpi_fx *fx = opaque;

  fx->power_offs++;
  if (!mutex_is_free (&fx->pm.lock))
    fx->locked_in_callback = true;
}

static void
acpi_fx_init (struct acpi_fx *fx)
{
  memset (fx, 0, sizeof *fx);
  vmm_bus_init (&fx->pio, "pio");
  vmm_acpi_pm_init (&fx->pm, fake_irq_line (&fx->sci, VMM_ACPI_SCI_IRQ), fake_power_off, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_ACPI_PM_BASE, VMM_ACPI_PM_LEN,
                                     &vmm_acpi_pm_ops, &fx->pm, "acpi-pm"), ==, 0);
}

static void
acpi_fx_destroy (struct acpi_fx *fx)
{
  g_assert_cmpuint (fx->sci.redundant, ==, 0);
  g_assert_false (fx->locked_in_callback);
  vmm_acpi_pm_destroy (&fx->pm);
  vmm_bus_destroy (&fx->pio);
}

static void
test_acpi_pm1_status (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmphex (bus_in (&fx.pio, PM1_EN, 2), ==, 0);

  /* Enable: only the defined bits stick (TMR, GBL, PWRBTN, SLPBTN, RTC) */
  bus_out (&fx.pio, PM1_EN, 2, 0xffff);
  g_assert_cmphex (bus_in (&fx.pio, PM1_EN, 2), ==, 0x0721);
  bus_out (&fx.pio, PM1_EN + 1, 1, 0x00);
  g_assert_cmphex (bus_in (&fx.pio, PM1_EN, 2), ==, 0x0021);
  bus_out (&fx.pio, PM1_EN, 2, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 0);

  /* Status: write-one-to-clear, writing 0 changes nothing */
  fx.pm.pm1_sts = 0x8521;   /* WAK, RTC, PWRBTN, GBL, TMR as hardware would set them */
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0x8521);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS + 1, 1), ==, 0x85);
  bus_out (&fx.pio, PM1_STS, 2, 0x0000);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0x8521);
  bus_out (&fx.pio, PM1_STS, 2, 0x0001);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0x8520);
  bus_out (&fx.pio, PM1_STS + 1, 1, 0x80);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0x0520);
  /* A dword write covers status and enable */
  bus_out (&fx.pio, PM1_STS, 4, 0x01000020);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 4), ==, 0x01000500);
  g_assert_cmpuint (fx.sci.calls, ==, 1);   /* PWRBTN_STS and PWRBTN_EN */
  g_assert_true (fx.sci.level);
  bus_out (&fx.pio, PM1_STS, 2, 0xffff);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_power_button (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);

  /* Not enabled: status only */
  vmm_acpi_pm_power_button (&fx.pm);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, PWRBTN);
  g_assert_cmpuint (fx.sci.calls, ==, 0);
  /* The guest enables it later: SCI then */
  bus_out (&fx.pio, PM1_EN, 2, PWRBTN);
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  g_assert_true (fx.sci.level);
  g_assert_cmpuint (fx.sci.gsi, ==, VMM_ACPI_SCI_IRQ);
  vmm_acpi_pm_power_button (&fx.pm);                 /* already up */
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  /* OSPM acknowledges it */
  bus_out (&fx.pio, PM1_STS, 2, PWRBTN);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  /* Enabled: a press raises at once */
  vmm_acpi_pm_power_button (&fx.pm);
  g_assert_cmpuint (fx.sci.calls, ==, 3);
  g_assert_true (fx.sci.level);
  /* Other status bits do not clear it */
  bus_out (&fx.pio, PM1_STS, 2, 0xfeff);
  g_assert_true (fx.sci.level);
  /* Disabling drops it; status stays */
  bus_out (&fx.pio, PM1_EN, 2, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 4);
  g_assert_false (fx.sci.level);
  g_assert_cmphex (bus_in (&fx.pio, PM1_STS, 2), ==, PWRBTN);
  g_assert_cmpuint (fx.power_offs, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_pm1_cnt (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);   /* SCI_EN: no SMM */
  bus_out (&fx.pio, PM1_CNT, 2, 0x0000);
  g_assert_cmphex (bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (3));
  g_assert_cmphex (bus_in (&fx.pio, PM1_CNT, 2), ==, SLP_TYP (3) | 0x0001);
  bus_out (&fx.pio, PM1_CNT, 2, 0x0000);
  g_assert_cmphex (bus_in (&fx.pio, PM1_CNT, 2), ==, 0x0001);
  g_assert_cmpuint (fx.power_offs, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_s5 (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);

  /* Linux's acpi_hw_legacy_sleep: SLP_TYP first, then SLP_TYP | SLP_EN */
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5));
  g_assert_cmpuint (fx.power_offs, ==, 0);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 1);
  g_assert_cmphex (bus_in (&fx.pio, PM1_CNT, 2) & SLP_EN, ==, 0);   /* write-only */

  /* Two byte writes, low then high */
  bus_out (&fx.pio, PM1_CNT, 2, 0);
  bus_out (&fx.pio, PM1_CNT, 1, 0x00);
  g_assert_cmpuint (fx.power_offs, ==, 1);
  bus_out (&fx.pio, PM1_CNT + 1, 1, (SLP_TYP (5) | SLP_EN) >> 8);
  g_assert_cmpuint (fx.power_offs, ==, 2);

  /* A dword write of the block, and the handler called directly */
  bus_out (&fx.pio, PM1_CNT, 4, SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 3);
  dev_out (&vmm_acpi_pm_ops, &fx.pm, PM1_CNT - VMM_PORT_ACPI_PM_BASE, 2, SLP_TYP (5) | SLP_EN);
  g_assert_cmpuint (fx.power_offs, ==, 4);

  /* Other sleep types, or no SLP_EN: nothing */
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (0) | SLP_EN);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (3) | SLP_EN);
  bus_out (&fx.pio, PM1_CNT + 1, 1, (SLP_TYP (3) | SLP_EN) >> 8);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (1) | SLP_EN);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (7) | SLP_EN);
  bus_out (&fx.pio, PM1_CNT, 2, SLP_TYP (5));
  bus_out (&fx.pio, PM1_CNT, 1, 0xff);                 /* low byte: SLP_EN is not there */
  bus_out (&fx.pio, PM1_CNT, 2, SLP_EN);               /* SLP_TYP 0 in the same write */
  g_assert_cmpuint (fx.power_offs, ==, 4);
  g_assert_cmpuint (fx.sci.calls, ==, 0);
  acpi_fx_destroy (&fx);
}

static void
test_acpi_gpe (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS, 8), ==, 0);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_EN, 8), ==, 0);

  /* The enable bytes are plain read/write */
  bus_out (&fx.pio, GPE0_EN, 8, 0x8000000000000001ull);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_EN, 8), ==, 0x8000000000000001ull);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_EN + 7, 1), ==, 0x80);
  bus_out (&fx.pio, GPE0_EN, 8, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 0);

  /* A GPE as a device would latch it (there is no API for it yet) */
  fx.pm.gpe_sts[1] = 0x04;
  fx.pm.gpe_sts[6] = 0x10;
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS + 1, 1), ==, 0x04);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000400ull);

  /* Enabling GPE 10 raises the SCI */
  bus_out (&fx.pio, GPE0_EN + 1, 1, 0x04);
  g_assert_cmpuint (fx.sci.calls, ==, 1);
  g_assert_true (fx.sci.level);
  /* W1C: zeros and other bits leave it */
  bus_out (&fx.pio, GPE0_STS, 4, 0);
  bus_out (&fx.pio, GPE0_STS + 1, 1, 0xfb);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000400ull);
  g_assert_true (fx.sci.level);
  bus_out (&fx.pio, GPE0_STS + 1, 1, 0x04);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS, 8), ==, 0x0010000000000000ull);
  g_assert_cmpuint (fx.sci.calls, ==, 2);
  g_assert_false (fx.sci.level);
  /* GPE 52, enabled after it latched, then cleared with an 8-byte write */
  bus_out (&fx.pio, GPE0_EN + 6, 1, 0x10);
  g_assert_cmpuint (fx.sci.calls, ==, 3);
  bus_out (&fx.pio, GPE0_STS, 8, UINT64_MAX);
  g_assert_cmphex (bus_in (&fx.pio, GPE0_STS, 8), ==, 0);
  g_assert_cmpuint (fx.sci.calls, ==, 4);
  g_assert_false (fx.sci.level);

  /* Past the block: not dispatched */
  g_assert_cmphex (bus_in (&fx.pio, VMM_PORT_ACPI_PM_BASE + VMM_ACPI_PM_LEN - 2, 4), ==,
                   0xffffffff);
  acpi_fx_destroy (&fx);
}

/* The clock acpi_pm.c counts from */
static uint64_t
mono_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint32_t
pm_timer (struct acpi_fx *fx)
{
  return (uint32_t) bus_in (&fx->pio, PM_TMR, 4);
}

/* Reads the timer twice around a sleep, each read bracketed by the host's
 * monotonic clock: the time between the reads lies between the inner and
 * the outer bracket, however long the thread was preempted. */
static void
check_timer_rate (struct acpi_fx *fx, bool expect_wrap)
{
  uint32_t t0, t1, ticks;
  gint64 u0a, u0b, u1a, u1b;
  double lo, hi;

  u0a = g_get_monotonic_time ();
  t0 = pm_timer (fx);
  u0b = g_get_monotonic_time ();
  g_usleep (20000);
  u1a = g_get_monotonic_time ();
  t1 = pm_timer (fx);
  u1b = g_get_monotonic_time ();

  ticks = t1 - t0;   /* modulo 2^32 */
  lo = (double) (u1a - u0b) * PM_TIMER_HZ / 1e6;
  hi = (double) (u1b - u0a) * PM_TIMER_HZ / 1e6;
  g_test_message ("PM timer: %u ticks, %.0f to %.0f expected", ticks, lo, hi);
  g_assert_cmpfloat (ticks, >=, 0.02 * PM_TIMER_HZ * 0.99);   /* the 20 ms slept */
  g_assert_cmpfloat (ticks, >=, lo * 0.99 - 10);
  g_assert_cmpfloat (ticks, <=, hi * 1.01 + 10);
  if (expect_wrap)
    g_assert_cmphex (t1, <, t0);
}

static void
test_acpi_pm_timer (void)
{
  struct acpi_fx fx;
  uint32_t prev, now;
  uint64_t to_wrap;

  acpi_fx_init (&fx);
  check_timer_rate (&fx, false);

  /* Close to the 32-bit wrap: 5 ms before it */
  to_wrap = (uint64_t) ((4294967296.0 - PM_TIMER_HZ / 200) / PM_TIMER_HZ * 1e9);
  fx.pm.timer_epoch_ns = mono_ns () - to_wrap;   /* modulo 2^64 is fine */
  check_timer_rate (&fx, true);

  /* Monotonic (modulo 2^32) and read-only */
  prev = pm_timer (&fx);
  bus_out (&fx.pio, PM_TMR, 4, 0);
  for (unsigned i = 0; i < 1000; i++)
    {
      now = pm_timer (&fx);
      g_assert_cmpuint (now - prev, <, 0x80000000u);
      prev = now;
    }
  acpi_fx_destroy (&fx);
}

/* True when some value between A and B (modulo 2^32) has X at byte/word K. */
static bool
timer_part_in_range (uint32_t a, uint32_t b, unsigned shift, uint32_t mask, uint32_t x)
{
  for (uint32_t t = a;; t++)
    {
      if (((t >> shift) & mask) == x)
        return true;
      if (t == b)
        return false;
    }
}

static void
test_acpi_pm_timer_bytes (void)
{
  struct acpi_fx fx;

  acpi_fx_init (&fx);
  /* Somewhere with all four bytes non-zero, so the high ones matter */
  fx.pm.timer_epoch_ns = mono_ns () - (uint64_t) (0x12345678 / PM_TIMER_HZ * 1e9);

  for (unsigned round = 0; round < 20; round++)
    for (unsigned k = 0; k < 4; k++)
      {
        uint32_t a = pm_timer (&fx);
        uint32_t x = (uint32_t) bus_in (&fx.pio, PM_TMR + k, 1);
        uint32_t b = pm_timer (&fx);

        g_assert_cmpuint (b - a, <, 10000000);
        g_assert_true (timer_part_in_range (a, b, 8 * k, 0xff, x));
        if (k % 2 == 0)
          {
            a = pm_timer (&fx);
            x = (uint32_t) bus_in (&fx.pio, PM_TMR + k, 2);
            b = pm_timer (&fx);
            g_assert_true (timer_part_in_range (a, b, 8 * k, 0xffff, x));
          }
      }
  /* The handler directly, at its offset */
  {
    uint32_t a = pm_timer (&fx);
    uint32_t x = (uint32_t) dev_in (&vmm_acpi_pm_ops, &fx.pm, 0x0b, 1);
    uint32_t b = pm_timer (&fx);

    g_assert_true (timer_part_in_range (a, b, 24, 0xff, x));
    g_assert_cmphex (x, ==, 0x12);
  }
  acpi_fx_destroy (&fx);
}

/* ---- RTC --------------------------------------------------------------------- */

#define CMOS_SEC   0x00
#define CMOS_MIN   0x02
#define CMOS_HOUR  0x04
#define CMOS_WDAY  0x06
#define CMOS_MDAY  0x07
#define CMOS_MON   0x08
#define CMOS_YEAR  0x09
#define CMOS_A     0x0a
#define CMOS_B     0x0b
#define CMOS_C     0x0c
#define CMOS_D     0x0d
#define CMOS_CENT  0x32

struct rtc_fx {
  struct vmm_bus pio;
  struct vmm_rtc rtc;
};

static void
rtc_fx_init (struct rtc_fx *fx, uint64_t ram, unsigned cpus)
{
  vmm_bus_init (&fx->pio, "pio");
  vmm_rtc_init (&fx->rtc, ram, cpus);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_RTC, 2, &vmm_rtc_ops, &fx->rtc, "rtc"),
                   ==, 0);
}

static void
rtc_fx_destroy (struct rtc_fx *fx)
{
  vmm_rtc_destroy (&fx->rtc);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
cmos_read (struct rtc_fx *fx, uint8_t index)
{
  bus_out (&fx->pio, VMM_PORT_RTC, 1, index);
  return (uint8_t) bus_in (&fx->pio, VMM_PORT_RTC + 1, 1);
}

static void
cmos_write (struct rtc_fx *fx, uint8_t index, uint8_t value)
{
  bus_out (&fx->pio, VMM_PORT_RTC, 1, index);
  bus_out (&fx->pio, VMM_PORT_RTC + 1, 1, value);
}

static unsigned
cmos_decode (uint8_t reg_b, uint8_t v)
{
  if (reg_b & 0x04)
    return v;
  g_assert_cmpuint (v >> 4, <=, 9);
  g_assert_cmpuint (v & 0xf, <=, 9);
  return (v >> 4) * 10 + (v & 0xf);
}

/* Reads the clock as Linux's mc146818_get_time does: wait for UIP to fall,
 * read everything, retry if the seconds moved meanwhile. */
static time_t
rtc_read_time (struct rtc_fx *fx, struct tm *out)
{
  for (unsigned tries = 0; tries < 10; tries++)
    {
      uint8_t b, sec, min, hour, mday, mon, year, cent, wday;
      struct tm tm = { 0 };
      unsigned h;
      time_t t;

      for (unsigned n = 0; n < 10000 && (cmos_read (fx, CMOS_A) & 0x80); n++)
        g_usleep (10);
      b = cmos_read (fx, CMOS_B);
      sec = cmos_read (fx, CMOS_SEC);
      min = cmos_read (fx, CMOS_MIN);
      hour = cmos_read (fx, CMOS_HOUR);
      wday = cmos_read (fx, CMOS_WDAY);
      mday = cmos_read (fx, CMOS_MDAY);
      mon = cmos_read (fx, CMOS_MON);
      year = cmos_read (fx, CMOS_YEAR);
      cent = cmos_read (fx, CMOS_CENT);
      if (cmos_read (fx, CMOS_SEC) != sec || (cmos_read (fx, CMOS_A) & 0x80))
        continue;

      if (b & 0x02)
        h = cmos_decode (b, hour);
      else
        {
          h = cmos_decode (b, hour & 0x7f);
          g_assert_cmpuint (h, >=, 1);
          g_assert_cmpuint (h, <=, 12);
          h = h % 12 + ((hour & 0x80) ? 12 : 0);
        }
      tm.tm_sec = (int) cmos_decode (b, sec);
      tm.tm_min = (int) cmos_decode (b, min);
      tm.tm_hour = (int) h;
      tm.tm_mday = (int) cmos_decode (b, mday);
      tm.tm_mon = (int) cmos_decode (b, mon) - 1;
      tm.tm_year = (int) (cmos_decode (b, cent) * 100 + cmos_decode (b, year)) - 1900;
      g_assert_cmpint (tm.tm_sec, <, 60);
      g_assert_cmpint (tm.tm_min, <, 60);
      g_assert_cmpint (tm.tm_hour, <, 24);
      t = timegm (&tm);
      /* timegm normalised nothing, and filled the weekday RTC_WDAY must match */
      g_assert_cmpint (tm.tm_mday, ==, (int) cmos_decode (b, mday));
      g_assert_cmpuint (cmos_decode (b, wday), ==, (unsigned) tm.tm_wday + 1);
      if (out != NULL)
        *out = tm;
      return t;
    }
  g_assert_not_reached ();
  return 0;
}

static void
assert_rtc_near (struct rtc_fx *fx, int64_t offset)
{
  time_t before = time (NULL);
  time_t guest = rtc_read_time (fx, NULL);
  time_t after = time (NULL);

  g_assert_cmpint ((int64_t) guest, >=, (int64_t) before + offset - 2);
  g_assert_cmpint ((int64_t) guest, <=, (int64_t) after + offset + 2);
}

static void
test_rtc_ports (void)
{
  struct rtc_fx fx;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  /* Ordinary NVRAM bytes round-trip */
  for (unsigned i = 0x40; i < 0x5b; i++)
    cmos_write (&fx, (uint8_t) i, (uint8_t) (i ^ 0xa5));
  cmos_write (&fx, 0x7f, 0x3c);
  cmos_write (&fx, 0x0e, 0x00);   /* the diagnostic byte firmware clears */
  for (unsigned i = 0x40; i < 0x5b; i++)
    g_assert_cmphex (cmos_read (&fx, (uint8_t) i), ==, i ^ 0xa5);
  g_assert_cmphex (cmos_read (&fx, 0x7f), ==, 0x3c);
  g_assert_cmphex (cmos_read (&fx, 0x0e), ==, 0x00);
  /* Bit 7 of the index is the NMI mask, not part of the index */
  g_assert_cmphex (cmos_read (&fx, 0x80 | 0x41), ==, 0x41 ^ 0xa5);
  /* The index port does not read back; wide accesses are ignored */
  g_assert_cmphex (bus_in (&fx.pio, VMM_PORT_RTC, 1), ==, 0xff);
  bus_out (&fx.pio, VMM_PORT_RTC, 1, 0x42);
  bus_out (&fx.pio, VMM_PORT_RTC, 2, 0xff43);
  g_assert_cmphex (bus_in (&fx.pio, VMM_PORT_RTC + 1, 1), ==, 0x42 ^ 0xa5);
  g_assert_cmphex (bus_in (&fx.pio, VMM_PORT_RTC, 2), ==, 0xffff);
  /* The handler directly */
  dev_out (&vmm_rtc_ops, &fx.rtc, 0, 1, 0x50);
  g_assert_cmphex (dev_in (&vmm_rtc_ops, &fx.rtc, 1, 1), ==, 0x50 ^ 0xa5);

  /* Register A: the rate bits are kept, UIP is not writable */
  g_assert_cmphex (cmos_read (&fx, CMOS_A) & 0x7f, ==, 0x26);
  cmos_write (&fx, CMOS_A, 0xa6);
  g_assert_cmphex (cmos_read (&fx, CMOS_A) & 0x7f, ==, 0x26);
  /* Register B: 24-hour BCD by default */
  g_assert_cmphex (cmos_read (&fx, CMOS_B), ==, 0x02);

  /* Register C reads then clears, and is read-only */
  fx.rtc.cmos[CMOS_C] = 0xc0;
  cmos_write (&fx, CMOS_C, 0x00);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0xc0);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0x00);
  cmos_write (&fx, CMOS_C, 0xff);
  g_assert_cmphex (cmos_read (&fx, CMOS_C), ==, 0x00);
  /* Register D: valid RAM and time, read-only */
  g_assert_cmphex (cmos_read (&fx, CMOS_D), ==, 0x80);
  cmos_write (&fx, CMOS_D, 0x00);
  g_assert_cmphex (cmos_read (&fx, CMOS_D), ==, 0x80);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_time_bcd (void)
{
  struct rtc_fx fx;
  struct tm tm;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  assert_rtc_near (&fx, 0);
  rtc_read_time (&fx, &tm);
  g_assert_cmpint (tm.tm_year + 1900, >=, 2024);
  /* The weekday register is derived, writes do not stick */
  cmos_write (&fx, CMOS_WDAY, 0x09);
  g_assert_cmpuint (cmos_read (&fx, CMOS_WDAY), <=, 7);
  assert_rtc_near (&fx, 0);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_modes (void)
{
  struct rtc_fx fx;

  rtc_fx_init (&fx, VMM_MiB (64), 1);

  /* Binary, 24 h; BCD, 12 h; binary, 12 h: the same time each way */
  cmos_write (&fx, CMOS_B, 0x06);
  assert_rtc_near (&fx, 0);
  cmos_write (&fx, CMOS_B, 0x00);
  assert_rtc_near (&fx, 0);
  cmos_write (&fx, CMOS_B, 0x04);
  assert_rtc_near (&fx, 0);

  /* The hour itself, at set times: minutes to 10 so it cannot roll over */
  cmos_write (&fx, CMOS_B, 0x02);
  cmos_write (&fx, CMOS_MIN, 0x10);
  cmos_write (&fx, CMOS_HOUR, 0x15);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x15);
  cmos_write (&fx, CMOS_B, 0x00);                      /* 12 h BCD */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x83);   /* 3 PM */
  cmos_write (&fx, CMOS_B, 0x04);                      /* 12 h binary */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x83);
  cmos_write (&fx, CMOS_B, 0x06);                      /* 24 h binary */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 15);
  g_assert_cmphex (cmos_read (&fx, CMOS_MIN), >=, 10);

  /* Midnight and noon in 12-hour mode */
  cmos_write (&fx, CMOS_B, 0x00);
  cmos_write (&fx, CMOS_HOUR, 0x12);                   /* 12 AM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x12);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x00);
  cmos_write (&fx, CMOS_B, 0x00);
  cmos_write (&fx, CMOS_HOUR, 0x92);                   /* 12 PM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x92);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x12);
  cmos_write (&fx, CMOS_B, 0x04);                      /* 12 h binary */
  cmos_write (&fx, CMOS_HOUR, 0x81);                   /* 1 PM */
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x81);
  cmos_write (&fx, CMOS_B, 0x06);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 13);
  cmos_write (&fx, CMOS_HOUR, 23);
  cmos_write (&fx, CMOS_B, 0x02);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x23);
  rtc_fx_destroy (&fx);
}

static void
test_rtc_set_hour (void)
{
  struct rtc_fx fx;
  int64_t expected = 0;
  bool set = false;

  rtc_fx_init (&fx, VMM_MiB (64), 1);
  for (unsigned tries = 0; tries < 5 && !set; tries++)
    {
      time_t t0 = time (NULL), t1;
      struct tm h0, h1;
      int newh;

      gmtime_r (&t0, &h0);
      newh = (h0.tm_hour + 5) % 24;
      cmos_write (&fx, CMOS_HOUR, (uint8_t) ((newh / 10) << 4 | newh % 10));
      t1 = time (NULL);
      gmtime_r (&t1, &h1);
      if (h1.tm_hour != h0.tm_hour)
        continue;   /* the host's hour turned meanwhile */
      expected = (int64_t) (newh - h0.tm_hour) * 3600;   /* +5 h, or -19 h past 19:00 */
      set = true;
    }
  g_assert_true (set);
  g_assert_cmpint (fx.rtc.offset_s, >=, expected - 1);
  g_assert_cmpint (fx.rtc.offset_s, <=, expected + 1);
  assert_rtc_near (&fx, expected);
  /* Later reads keep it */
  g_usleep (50000);
  assert_rtc_near (&fx, expected);
  assert_rtc_near (&fx, expected);

  /* Setting the year (2-digit, then century) moves by whole years */
  {
    struct tm now;
    rtc_read_time (&fx, &now);
    cmos_write (&fx, CMOS_YEAR, 0x99);
    g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x99);
    g_assert_cmphex (cmos_read (&fx, CMOS_CENT), ==, 0x20);
    cmos_write (&fx, CMOS_CENT, 0x19);
    g_assert_cmphex (cmos_read (&fx, CMOS_CENT), ==, 0x19);
    g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x99);
    g_assert_cmpint (fx.rtc.offset_s, <, 0);
  }
  rtc_fx_destroy (&fx);
}

/* The date set the way Linux's mc146818_set_time does it: SET in register B,
 * then year, month, day, hours, minutes, seconds, then SET cleared. */
static void
rtc_set_date (struct rtc_fx *fx, uint8_t year, uint8_t mon, uint8_t mday)
{
  uint8_t b = cmos_read (fx, CMOS_B);

  cmos_write (fx, CMOS_B, b | 0x80);
  cmos_write (fx, CMOS_YEAR, year);
  cmos_write (fx, CMOS_MON, mon);
  cmos_write (fx, CMOS_MDAY, mday);
  cmos_write (fx, CMOS_HOUR, 0x10);
  cmos_write (fx, CMOS_MIN, 0x00);
  cmos_write (fx, CMOS_SEC, 0x00);
  cmos_write (fx, CMOS_B, b);
}

static void
test_rtc_set_date (void)
{
  struct rtc_fx fx;
  uint8_t mon, mday;

  rtc_fx_init (&fx, VMM_MiB (64), 1);

  /* Jan 15 2023, then Jan 31: each field on its own is valid */
  rtc_set_date (&fx, 0x23, 0x01, 0x15);
  g_assert_cmphex (cmos_read (&fx, CMOS_YEAR), ==, 0x23);
  g_assert_cmphex (cmos_read (&fx, CMOS_MON), ==, 0x01);
  g_assert_cmphex (cmos_read (&fx, CMOS_MDAY), ==, 0x15);
  rtc_set_date (&fx, 0x23, 0x01, 0x31);
  g_assert_cmphex (cmos_read (&fx, CMOS_MDAY), ==, 0x31);
  g_assert_cmphex (cmos_read (&fx, CMOS_HOUR), ==, 0x10);

  /* From Jan 31 to Feb 15: the month is written first, and Feb 31 does
   * not exist. */
  rtc_set_date (&fx, 0x23, 0x02, 0x15);
  mon = cmos_read (&fx, CMOS_MON);
  mday = cmos_read (&fx, CMOS_MDAY);
  g_assert_cmphex (mon, ==, 0x02);
  g_assert_cmphex (mday, ==, 0x15);
  rtc_fx_destroy (&fx);
}

/* Index, then data: through the handler, offsets 0 and 1 */
static unsigned
nvram_byte (struct vmm_rtc *rtc, uint8_t index)
{
  dev_out (&vmm_rtc_ops, rtc, 0, 1, index);
  return (unsigned) dev_in (&vmm_rtc_ops, rtc, 1, 1);
}

static void
check_nvram (uint64_t ram, unsigned cpus, unsigned ext_kib, unsigned above_16m,
             unsigned above_4g)
{
  struct vmm_rtc rtc;

  vmm_rtc_init (&rtc, ram, cpus);
#define NV(i) nvram_byte (&rtc, (i))
  g_assert_cmpuint (NV (0x15) | NV (0x16) << 8, ==, 640);
  g_assert_cmphex (NV (0x17) | NV (0x18) << 8, ==, ext_kib);
  g_assert_cmphex (NV (0x30) | NV (0x31) << 8, ==, ext_kib);
  g_assert_cmphex (NV (0x34) | NV (0x35) << 8, ==, above_16m);
  g_assert_cmphex (NV (0x5b) | NV (0x5c) << 8 | NV (0x5d) << 16, ==, above_4g);
  g_assert_cmpuint (NV (0x5f), ==, cpus - 1);
#undef NV
  vmm_rtc_destroy (&rtc);
}

static void
test_rtc_nvram (void)
{
  /* 63 MiB above 1 MiB; 48 MiB above 16 MiB */
  check_nvram (VMM_MiB (64), 1, 63 * 1024, 48 * 16, 0);
  /* below the 3 GiB hole: capped extended memory */
  check_nvram (VMM_GiB (3), 4, 0xffff, (3072 - 16) * 16, 0);
  /* 3 GiB above 4 GiB */
  check_nvram (VMM_GiB (6), 8, 0xffff, (3072 - 16) * 16, 3 * 1024 * 16);
  check_nvram (VMM_GiB (2) + VMM_MiB (1), 2, 0xffff, (2049 - 16) * 16, 0);
}

/* ---- i8042 ------------------------------------------------------------------- */

#define KBD_DATA   VMM_PORT_I8042_DATA
#define KBD_CMD    VMM_PORT_I8042_CMD

struct kbc_fx {
  struct vmm_bus pio;
  struct vmm_i8042 kbc;
  unsigned resets;
  bool locked_in_callback;
};

static void
fake_reset (void *opaque)
{
  struct kbc_fx *fx = opaque;

  fx->resets++;
  if (!mutex_is_free (&fx->kbc.lock))
    fx->locked_in_callback = true;
}

static void
kbc_fx_init (struct kbc_fx *fx)
{
  memset (fx, 0, sizeof *fx);
  vmm_bus_init (&fx->pio, "pio");
  vmm_i8042_init (&fx->kbc, fake_reset, fx);
  g_assert_cmpint (vmm_bus_register (&fx->pio, KBD_DATA, 5, &vmm_i8042_ops, &fx->kbc, "i8042"),
                   ==, 0);
}

static void
kbc_fx_destroy (struct kbc_fx *fx)
{
  g_assert_false (fx->locked_in_callback);
  vmm_i8042_destroy (&fx->kbc);
  vmm_bus_destroy (&fx->pio);
}

static uint8_t
kbc_status (struct kbc_fx *fx)
{
  return (uint8_t) bus_in (&fx->pio, KBD_CMD, 1);
}

static void
kbc_command (struct kbc_fx *fx, uint8_t cmd)
{
  bus_out (&fx->pio, KBD_CMD, 1, cmd);
}

/* Reads the output buffer if OBF says there is something: -1 if not. */
static int
kbc_read_data (struct kbc_fx *fx)
{
  if (!(kbc_status (fx) & 0x01))
    return -1;
  return (int) bus_in (&fx->pio, KBD_DATA, 1);
}

static void
test_i8042_self_test (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0);
  g_assert_cmphex (kbc_status (&fx) & 0x04, ==, 0x04);   /* system flag */
  kbc_command (&fx, 0xaa);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x01);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x55);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  g_assert_cmpint (kbc_read_data (&fx), ==, -1);
  kbc_command (&fx, 0xab);                              /* keyboard interface test */
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x00);
  kbc_command (&fx, 0xa9);                              /* aux interface test */
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x00);
  /* The handler directly: offsets 0 and 4; 1-3 are not ours */
  dev_out (&vmm_i8042_ops, &fx.kbc, 4, 1, 0xaa);
  g_assert_cmphex (dev_in (&vmm_i8042_ops, &fx.kbc, 4, 1) & 0x01, ==, 0x01);
  g_assert_cmphex (dev_in (&vmm_i8042_ops, &fx.kbc, 0, 1), ==, 0x55);
  g_assert_cmphex (bus_in (&fx.pio, KBD_DATA + 1, 1), ==, 0xff);
  g_assert_cmphex (bus_in (&fx.pio, KBD_CMD, 2), ==, 0xffff);  /* straddles the end */
  g_assert_cmphex (bus_in (&fx.pio, KBD_DATA, 2), ==, 0xffff);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_command_byte (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  kbc_command (&fx, 0x60);
  g_assert_cmphex (kbc_status (&fx) & 0x08, ==, 0x08);   /* waiting for its byte */
  bus_out (&fx.pio, KBD_DATA, 1, 0x45);
  g_assert_cmphex (kbc_status (&fx) & 0x08, ==, 0x00);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);   /* a write produces no output */
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* Port enable/disable commands flip their bits */
  kbc_command (&fx, 0xad);
  kbc_command (&fx, 0xa7);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x75);
  kbc_command (&fx, 0xae);
  kbc_command (&fx, 0xa8);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* A data byte with no command waiting goes nowhere */
  bus_out (&fx.pio, KBD_DATA, 1, 0x99);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  /* A command interrupting another drops the first */
  kbc_command (&fx, 0x60);
  kbc_command (&fx, 0xaa);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x55);
  bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x45);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_reset (void)
{
  struct kbc_fx fx;

  kbc_fx_init (&fx);

  /* The pulse: what Linux's reboot=k and the FADT reset register do */
  kbc_command (&fx, VMM_ACPI_RESET_VALUE);
  g_assert_cmpuint (fx.resets, ==, 1);
  kbc_command (&fx, 0xff);                              /* pulses nothing */
  g_assert_cmpuint (fx.resets, ==, 1);
  kbc_command (&fx, 0xf0);                              /* pulses bits 0-3, reset among them */
  g_assert_cmpuint (fx.resets, ==, 2);
  kbc_command (&fx, 0xfd);                              /* bit 1 only: not reset */
  g_assert_cmpuint (fx.resets, ==, 2);

  /* The output port */
  kbc_command (&fx, 0xd0);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x03);      /* reset high, A20 on */
  kbc_command (&fx, 0xd1);
  bus_out (&fx.pio, KBD_DATA, 1, 0xdd);                 /* bit 0 set: running */
  g_assert_cmpuint (fx.resets, ==, 2);
  kbc_command (&fx, 0xd0);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0xdd);
  kbc_command (&fx, 0xd1);
  bus_out (&fx.pio, KBD_DATA, 1, 0xdc);                 /* bit 0 clear: reset */
  g_assert_cmpuint (fx.resets, ==, 3);
  kbc_command (&fx, 0xd0);
  g_assert_cmphex (kbc_read_data (&fx) & 0x01, ==, 0x01);
  /* The byte after is plain data again */
  bus_out (&fx.pio, KBD_DATA, 1, 0x00);
  g_assert_cmpuint (fx.resets, ==, 3);
  kbc_fx_destroy (&fx);
}

static void
test_i8042_unknown (void)
{
  struct kbc_fx fx;
  static const uint8_t cmds[] = { 0x00, 0x1f, 0x7f, 0xa1, 0xc0, 0xc1, 0xe0, 0xef };

  kbc_fx_init (&fx);
  for (unsigned i = 0; i < G_N_ELEMENTS (cmds); i++)
    {
      kbc_command (&fx, cmds[i]);
      bus_out (&fx.pio, KBD_DATA, 1, 0xfe);
    }
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  /* Bytes for devices that are not there: nothing comes back */
  kbc_command (&fx, 0xd4);
  bus_out (&fx.pio, KBD_DATA, 1, 0xff);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  bus_out (&fx.pio, KBD_DATA, 1, 0xff);
  g_assert_cmphex (kbc_status (&fx) & 0x01, ==, 0x00);
  /* ... except the echo commands */
  kbc_command (&fx, 0xd2);
  bus_out (&fx.pio, KBD_DATA, 1, 0x42);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x42);
  kbc_command (&fx, 0xd3);
  bus_out (&fx.pio, KBD_DATA, 1, 0x43);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x43);
  /* Wide writes are dropped */
  bus_out (&fx.pio, KBD_CMD, 1, 0x60);
  bus_out (&fx.pio, KBD_DATA, 2, 0x1234);
  bus_out (&fx.pio, KBD_DATA, 1, 0x30);
  kbc_command (&fx, 0x20);
  g_assert_cmpint (kbc_read_data (&fx), ==, 0x30);
  g_assert_cmpuint (fx.resets, ==, 0);
  kbc_fx_destroy (&fx);
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

  g_test_add_func ("/pci/cf8-host-bridge", test_pci_cf8_host_bridge);
  g_test_add_func ("/pci/cf8-latch", test_pci_cf8_latch);
  g_test_add_func ("/pci/ecam", test_pci_ecam);
  g_test_add_func ("/pci/add-device", test_pci_add_device);
  g_test_add_func ("/pci/bar-sizing", test_pci_bar_sizing);
  g_test_add_func ("/pci/bar-move", test_pci_bar_move);
  g_test_add_func ("/pci/capabilities", test_pci_capabilities);
  g_test_add_func ("/pci/cap-space", test_pci_cap_space);
  g_test_add_func ("/pci/read-only", test_pci_read_only);
  g_test_add_func ("/pci/status-w1c", test_pci_status_w1c);
  g_test_add_func ("/pci/bad-access", test_pci_bad_access);
  g_test_add_func ("/pci/window-full", test_pci_window_full);
  g_test_add_func ("/pci/slots-full", test_pci_slots_full);

  g_test_add_func ("/serial/scratch", test_serial_scratch);
  g_test_add_func ("/serial/loopback", test_serial_loopback);
  g_test_add_func ("/serial/fifo", test_serial_fifo);
  g_test_add_func ("/serial/dlab", test_serial_dlab);
  g_test_add_func ("/serial/output", test_serial_output);
  g_test_add_func ("/serial/thr-empty-irq", test_serial_thri);
  g_test_add_func ("/serial/receive", test_serial_receive);
  g_test_add_func ("/serial/rx-full", test_serial_rx_full);
  g_test_add_func ("/serial/irq-priority", test_serial_irq_priority);

  g_test_add_func ("/acpi-pm/pm1-status", test_acpi_pm1_status);
  g_test_add_func ("/acpi-pm/power-button", test_acpi_power_button);
  g_test_add_func ("/acpi-pm/pm1-cnt", test_acpi_pm1_cnt);
  g_test_add_func ("/acpi-pm/s5", test_acpi_s5);
  g_test_add_func ("/acpi-pm/gpe", test_acpi_gpe);
  g_test_add_func ("/acpi-pm/timer", test_acpi_pm_timer);
  g_test_add_func ("/acpi-pm/timer-bytes", test_acpi_pm_timer_bytes);

  g_test_add_func ("/rtc/ports", test_rtc_ports);
  g_test_add_func ("/rtc/time-bcd", test_rtc_time_bcd);
  g_test_add_func ("/rtc/modes", test_rtc_modes);
  g_test_add_func ("/rtc/set-hour", test_rtc_set_hour);
  g_test_add_func ("/rtc/set-date", test_rtc_set_date);
  g_test_add_func ("/rtc/nvram", test_rtc_nvram);

  g_test_add_func ("/i8042/self-test", test_i8042_self_test);
  g_test_add_func ("/i8042/command-byte", test_i8042_command_byte);
  g_test_add_func ("/i8042/reset", test_i8042_reset);
  g_test_add_func ("/i8042/unknown", test_i8042_unknown);

  return g_test_run ();
}
