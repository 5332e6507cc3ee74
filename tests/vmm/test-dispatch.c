/* test-dispatch.c: vCPU exits, decoded and dispatched, without /dev/kvm
 *
 * The exits are made up: a struct kvm_run page filled in the way KVM fills
 * it (kvm/exit.c decodes it), or a struct vmm_exit written directly. The
 * dispatch (dispatch.c) sends them to fake devices on real buses and to
 * callbacks that record what they were told.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <linux/kvm.h>
#include <string.h>

#include "bus.h"
#include "dispatch.h"
#include "kvm/exit.h"
#include "kvm/mmio-ring.h"
#include "log.h"
#include "viv-bytes.h"
#include "vmm-test.h"

/* ---- a device that records its accesses ---------------------------------- */

typedef struct {
  gboolean write;
  guint64 offset;
  guint32 len;
  guint64 value;             /* written, or returned by a read */
} Access;

typedef struct {
  GArray *accesses;          /* of Access */
} Device;

/* A read returns 0xa0 + the offset of each byte, so a test can tell which
 * register and which item it got. */
static void
device_read (void *opaque, guint64 offset, void *data, guint32 len)
{
  Device *dev = opaque;
  Access a = { FALSE, offset, len, 0 };
  guint8 *p = data;

  for (guint32 i = 0; i < len; i++)
    p[i] = (guint8) (0xa0 + offset + i);
  a.value = viv_get_le (p, len);
  g_array_append_val (dev->accesses, a);
}

static void
device_write (void *opaque, guint64 offset, const void *data, guint32 len)
{
  Device *dev = opaque;
  Access a = { TRUE, offset, len, viv_get_le (data, len) };

  g_array_append_val (dev->accesses, a);
}

static const struct vmm_io_ops device_ops = { device_read, device_write };

static const Access *
access_at (const Device *dev, guint i)
{
  g_assert_cmpuint (i, <, dev->accesses->len);
  return &g_array_index (dev->accesses, Access, i);
}

/* ---- the machine around the dispatch ------------------------------------- */

#define PORT_BASE 0x3f8
#define MMIO_BASE 0xfe000000ull

typedef struct {
  struct vmm_bus pio, mmio;
  struct vmm_ratelimit rl;
  struct vmm_dispatch dispatch;
  Device port_dev, mmio_dev;
  GPtrArray *calls;          /* what the callbacks heard, in order */
  int log_fd;                /* the engine's log goes here (vmm_test_log_capture) */
} Fixture;

static void
on_power_off (void *opaque)
{
  Fixture *f = opaque;

  g_ptr_array_add (f->calls, g_strdup ("power-off"));
}

static void
on_reset (void *opaque)
{
  Fixture *f = opaque;

  g_ptr_array_add (f->calls, g_strdup ("reset"));
}

static void
on_stop (void *opaque, enum vmm_exit_reason reason, const char *message)
{
  Fixture *f = opaque;

  g_ptr_array_add (f->calls, g_strdup_printf ("stop %s: %s",
                                              reason == VMM_EXIT_RESET ? "reset"
                                              : reason == VMM_EXIT_ERROR ? "error" : "other",
                                              message));
}

static void
on_log_registers (void *opaque, unsigned vcpu)
{
  Fixture *f = opaque;

  g_ptr_array_add (f->calls, g_strdup_printf ("registers %u", vcpu));
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  (void) data;
  f->calls = g_ptr_array_new_with_free_func (g_free);
  f->port_dev.accesses = g_array_new (FALSE, TRUE, sizeof (Access));
  f->mmio_dev.accesses = g_array_new (FALSE, TRUE, sizeof (Access));
  g_assert_cmpint (vmm_bus_init (&f->pio, "pio"), ==, 0);
  g_assert_cmpint (vmm_bus_init (&f->mmio, "mmio"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&f->pio, PORT_BASE, 8, &device_ops, &f->port_dev, "port"),
                   ==, 0);
  g_assert_cmpint (vmm_bus_register (&f->mmio, MMIO_BASE, 0x1000, &device_ops, &f->mmio_dev,
                                     "mmio"), ==, 0);
  memset (&f->rl, 0, sizeof f->rl);
  f->dispatch = (struct vmm_dispatch) {
    .pio = &f->pio, .mmio = &f->mmio, .unhandled_rl = &f->rl, .opaque = f,
    .power_off = on_power_off, .reset = on_reset, .stop = on_stop,
    .log_registers = on_log_registers,
  };
  f->log_fd = vmm_test_log_capture ();
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  (void) data;
  vmm_test_log_release (f->log_fd);
  vmm_bus_destroy (&f->pio);
  vmm_bus_destroy (&f->mmio);
  g_array_unref (f->port_dev.accesses);
  g_array_unref (f->mmio_dev.accesses);
  g_ptr_array_unref (f->calls);
}

/* The callbacks heard exactly EXPECTED (NULL-terminated), in that order. */
static void
assert_calls (Fixture *f, const char *const *expected)
{
  guint n = g_strv_length ((char **) expected);

  for (guint i = 0; i < MIN (n, f->calls->len); i++)
    g_assert_cmpstr (f->calls->pdata[i], ==, expected[i]);
  g_assert_cmpuint (f->calls->len, ==, n);
}

static void
assert_no_calls (Fixture *f)
{
  g_assert_cmpuint (f->calls->len, ==, 0);
}

/* ---- port I/O -------------------------------------------------------------- */

static struct vmm_exit
io_exit (guint16 port, guint8 size, gboolean out, guint32 count, guint8 *data)
{
  struct vmm_exit e = { .kind = VMM_EXIT_KIND_IO, .vcpu = 0 };

  e.io.port = port;
  e.io.size = size;
  e.io.out = out;
  e.io.count = count;
  e.io.data = data;
  return e;
}

static void
test_port_out (Fixture *f, gconstpointer data)
{
  guint8 bytes[4] = { 0x41, 0x42, 0x43, 0x44 };
  struct vmm_exit e = io_exit (PORT_BASE + 3, 1, TRUE, 1, bytes);

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 1);
  g_assert_true (access_at (&f->port_dev, 0)->write);
  g_assert_cmpuint (access_at (&f->port_dev, 0)->offset, ==, 3);
  g_assert_cmpuint (access_at (&f->port_dev, 0)->len, ==, 1);
  g_assert_cmpuint (access_at (&f->port_dev, 0)->value, ==, 0x41);

  /* A word write is one access of two bytes. */
  e = io_exit (PORT_BASE + 4, 2, TRUE, 1, bytes);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 2);
  g_assert_cmpuint (access_at (&f->port_dev, 1)->offset, ==, 4);
  g_assert_cmpuint (access_at (&f->port_dev, 1)->len, ==, 2);
  g_assert_cmpuint (access_at (&f->port_dev, 1)->value, ==, 0x4241);
  assert_no_calls (f);
}

/* rep outsb: COUNT items through one exit, each its own access, in order */
static void
test_port_out_string (Fixture *f, gconstpointer data)
{
  guint8 text[] = "hello";
  guint16 words[3] = { 0x1111, 0x2222, 0x3333 };
  struct vmm_exit e = io_exit (PORT_BASE, 1, TRUE, 5, text);

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 5);
  for (guint i = 0; i < 5; i++)
    {
      g_assert_true (access_at (&f->port_dev, i)->write);
      g_assert_cmpuint (access_at (&f->port_dev, i)->offset, ==, 0);
      g_assert_cmpuint (access_at (&f->port_dev, i)->len, ==, 1);
      g_assert_cmpuint (access_at (&f->port_dev, i)->value, ==, text[i]);
    }

  /* rep outsw steps by the item size */
  e = io_exit (PORT_BASE + 2, 2, TRUE, 3, (guint8 *) words);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 8);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpuint (access_at (&f->port_dev, 5 + i)->len, ==, 2);
      g_assert_cmpuint (access_at (&f->port_dev, 5 + i)->value, ==, 0x1111u * (i + 1));
    }
  assert_no_calls (f);
}

static void
test_port_in (Fixture *f, gconstpointer data)
{
  guint8 buf[8];
  struct vmm_exit e;

  (void) data;
  /* in al: the device's byte lands in the exit's buffer */
  memset (buf, 0, sizeof buf);
  e = io_exit (PORT_BASE + 5, 1, FALSE, 1, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (buf[0], ==, 0xa5);
  g_assert_cmpuint (buf[1], ==, 0);
  g_assert_false (access_at (&f->port_dev, 0)->write);

  /* rep insb fills one item after the other */
  memset (buf, 0, sizeof buf);
  e = io_exit (PORT_BASE + 1, 1, FALSE, 4, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 5);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpuint (buf[i], ==, 0xa1);
  g_assert_cmpuint (buf[4], ==, 0);

  /* in ax */
  memset (buf, 0, sizeof buf);
  e = io_exit (PORT_BASE + 6, 2, FALSE, 1, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (buf[0], ==, 0xa6);
  g_assert_cmpuint (buf[1], ==, 0xa7);
  assert_no_calls (f);
}

/* A port nobody owns: reads float high, writes vanish, the guest goes on. */
static void
test_port_unhandled (Fixture *f, gconstpointer data)
{
  guint8 buf[4] = { 0x12, 0x34, 0x56, 0x78 };
  struct vmm_exit e = io_exit (0x80, 1, TRUE, 1, buf);

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &e);
  e = io_exit (0x70, 2, FALSE, 2, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpmem (buf, 4, "\xff\xff\xff\xff", 4);
  /* Straddling the device's last port is not the device's either. */
  e = io_exit (PORT_BASE + 7, 2, TRUE, 1, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 0);
  assert_no_calls (f);
}

/* ---- MMIO ------------------------------------------------------------------ */

static struct vmm_exit
mmio_exit (guint64 addr, guint32 len, gboolean write, guint8 *data)
{
  struct vmm_exit e = { .kind = VMM_EXIT_KIND_MMIO, .vcpu = 1 };

  e.mmio.addr = addr;
  e.mmio.len = len;
  e.mmio.write = write;
  e.mmio.data = data;
  return e;
}

static void
test_mmio_hit (Fixture *f, gconstpointer data)
{
  guint8 buf[8] = { 0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0 };
  struct vmm_exit e = mmio_exit (MMIO_BASE + 0x10, 4, TRUE, buf);

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 1);
  g_assert_true (access_at (&f->mmio_dev, 0)->write);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->offset, ==, 0x10);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->len, ==, 4);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->value, ==, 0xdeadbeef);

  memset (buf, 0, sizeof buf);
  e = mmio_exit (MMIO_BASE + 0x20, 8, FALSE, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 2);
  g_assert_false (access_at (&f->mmio_dev, 1)->write);
  g_assert_cmpuint (access_at (&f->mmio_dev, 1)->offset, ==, 0x20);
  g_assert_cmpuint (access_at (&f->mmio_dev, 1)->len, ==, 8);
  for (guint i = 0; i < 8; i++)
    g_assert_cmpuint (buf[i], ==, 0xc0 + i);
  g_assert_cmpuint (f->port_dev.accesses->len, ==, 0);
  assert_no_calls (f);
}

static void
test_mmio_miss (Fixture *f, gconstpointer data)
{
  guint8 buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  g_autofree char *log = NULL;
  struct vmm_exit e;

  (void) data;
  e = mmio_exit (0xd0000000, 4, FALSE, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpmem (buf, 8, "\xff\xff\xff\xff\x05\x06\x07\x08", 8);
  e = mmio_exit (MMIO_BASE + 0x1000, 2, TRUE, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 0);
  assert_no_calls (f);

  /* Both are the guest's doing, logged through its rate limit. */
  log = vmm_test_log_take (f->log_fd);
  g_assert_nonnull (strstr (log, "MMIO read at 0xd0000000 (4 bytes) hits nothing"));
  g_assert_nonnull (strstr (log, "MMIO write at 0xfe001000 (2 bytes) hits nothing"));
  g_assert_true (f->rl.started);
}

/* A length KVM would never send is dropped before any device sees it. */
static void
test_mmio_bad_length (Fixture *f, gconstpointer data)
{
  guint8 buf[16] = { 0 };
  struct vmm_exit e;

  (void) data;
  e = mmio_exit (MMIO_BASE, 0, TRUE, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  e = mmio_exit (MMIO_BASE, VMM_EXIT_MMIO_MAX + 1, FALSE, buf);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 0);
  g_assert_cmpuint (buf[0], ==, 0);
  assert_no_calls (f);
}

/* ---- exits that stop the guest, or do nothing -------------------------- */

static void
test_quiet_exits (Fixture *f, gconstpointer data)
{
  struct vmm_exit hlt = { .kind = VMM_EXIT_KIND_HLT };
  struct vmm_exit intr = { .kind = VMM_EXIT_KIND_INTR };

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &hlt);
  vmm_exit_dispatch (&f->dispatch, &intr);
  assert_no_calls (f);
  g_assert_cmpuint (f->port_dev.accesses->len + f->mmio_dev.accesses->len, ==, 0);
}

static void
test_triple_fault (Fixture *f, gconstpointer data)
{
  struct vmm_exit e = { .kind = VMM_EXIT_KIND_SHUTDOWN, .vcpu = 3 };
  static const char *const expected[] = {
    "registers 3", "stop reset: the guest triple-faulted", NULL,
  };
  g_autofree char *log = NULL;

  (void) data;
  vmm_exit_dispatch (&f->dispatch, &e);
  assert_calls (f, expected);
  log = vmm_test_log_take (f->log_fd);
  g_assert_nonnull (strstr (log, "vCPU 3: the guest triple-faulted; resetting"));
}

static void
test_system_events (Fixture *f, gconstpointer data)
{
  struct vmm_exit e = { .kind = VMM_EXIT_KIND_SYSTEM_EVENT };
  static const char *const expected[] = {
    "power-off", "reset", "stop error: the guest crashed (system event 3)", NULL,
  };

  (void) data;
  e.system_event.event = VMM_SYSTEM_EVENT_SHUTDOWN;
  e.system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
  vmm_exit_dispatch (&f->dispatch, &e);
  e.system_event.event = VMM_SYSTEM_EVENT_RESET;
  e.system_event.type = KVM_SYSTEM_EVENT_RESET;
  vmm_exit_dispatch (&f->dispatch, &e);
  e.system_event.event = VMM_SYSTEM_EVENT_OTHER;
  e.system_event.type = KVM_SYSTEM_EVENT_CRASH;
  vmm_exit_dispatch (&f->dispatch, &e);
  assert_calls (f, expected);
}

static void
test_failures (Fixture *f, gconstpointer data)
{
  struct vmm_exit entry = { .kind = VMM_EXIT_KIND_FAIL_ENTRY, .vcpu = 2 };
  struct vmm_exit emulation = { .kind = VMM_EXIT_KIND_INTERNAL_ERROR, .vcpu = 1 };
  struct vmm_exit internal = { .kind = VMM_EXIT_KIND_INTERNAL_ERROR, .vcpu = 0 };
  struct vmm_exit unknown = { .kind = VMM_EXIT_KIND_UNKNOWN, .vcpu = 4 };
  static const char *const expected[] = {
    "registers 2", "stop error: vCPU 2 could not enter the guest (hardware reason 0x80000021)",
    "registers 1", "stop error: KVM internal error on vCPU 1 (suberror 1: an instruction KVM "
                   "cannot emulate)",
    "registers 0", "stop error: KVM internal error on vCPU 0 (suberror 3)",
    /* An exit nobody knows says nothing about where the guest was. */
    "stop error: unexpected KVM exit 99 on vCPU 4",
    NULL,
  };
  g_autofree char *log = NULL;

  (void) data;
  entry.fail_entry.reason = 0x80000021;
  emulation.internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  emulation.internal.emulation = TRUE;
  internal.internal.suberror = KVM_INTERNAL_ERROR_DELIVERY_EV;
  unknown.unknown.reason = 99;
  vmm_exit_dispatch (&f->dispatch, &entry);
  vmm_exit_dispatch (&f->dispatch, &emulation);
  vmm_exit_dispatch (&f->dispatch, &internal);
  vmm_exit_dispatch (&f->dispatch, &unknown);
  assert_calls (f, expected);

  /* Each is an error in the log too. */
  log = vmm_test_log_take (f->log_fd);
  g_assert_nonnull (strstr (log, "vCPU 2 could not enter the guest"));
  g_assert_nonnull (strstr (log, "unexpected KVM exit 99 on vCPU 4"));
}

/* ---- decoding kvm_run ------------------------------------------------------- */

/* A run page as KVM maps it: the struct, then room for I/O data. */
typedef struct {
  guint8 *page;
  struct kvm_run *run;
} RunPage;

static RunPage
run_page_new (void)
{
  RunPage r;

  r.page = g_malloc0 (4096);
  r.run = (struct kvm_run *) r.page;
  return r;
}

static void
test_decode_io (void)
{
  RunPage r = run_page_new ();
  struct vmm_exit e;

  r.run->exit_reason = KVM_EXIT_IO;
  r.run->io.direction = KVM_EXIT_IO_OUT;
  r.run->io.size = 2;
  r.run->io.port = 0x1f0;
  r.run->io.count = 7;
  r.run->io.data_offset = 0x800;
  vmm_kvm_exit_decode (r.run, 5, &e);
  g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_IO);
  g_assert_cmpuint (e.vcpu, ==, 5);
  g_assert_cmpuint (e.io.port, ==, 0x1f0);
  g_assert_cmpuint (e.io.size, ==, 2);
  g_assert_true (e.io.out);
  g_assert_cmpuint (e.io.count, ==, 7);
  g_assert_true (e.io.data == r.page + 0x800);

  r.run->io.direction = KVM_EXIT_IO_IN;
  vmm_kvm_exit_decode (r.run, 0, &e);
  g_assert_false (e.io.out);
  g_free (r.page);
}

static void
test_decode_mmio (void)
{
  RunPage r = run_page_new ();
  struct vmm_exit e;

  r.run->exit_reason = KVM_EXIT_MMIO;
  r.run->mmio.phys_addr = 0xfebf0004;
  r.run->mmio.len = 4;
  r.run->mmio.is_write = 1;
  vmm_kvm_exit_decode (r.run, 1, &e);
  g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_MMIO);
  g_assert_cmpuint (e.mmio.addr, ==, 0xfebf0004);
  g_assert_cmpuint (e.mmio.len, ==, 4);
  g_assert_true (e.mmio.write);
  g_assert_true (e.mmio.data == r.run->mmio.data);
  r.run->mmio.is_write = 0;
  vmm_kvm_exit_decode (r.run, 1, &e);
  g_assert_false (e.mmio.write);
  g_free (r.page);
}

static void
test_decode_others (void)
{
  static const struct {
    guint32 reason;
    enum vmm_exit_kind kind;
  } simple[] = {
    { KVM_EXIT_HLT, VMM_EXIT_KIND_HLT },
    { KVM_EXIT_INTR, VMM_EXIT_KIND_INTR },
    { KVM_EXIT_SHUTDOWN, VMM_EXIT_KIND_SHUTDOWN },
  };
  static const struct {
    guint32 type;
    enum vmm_system_event event;
  } events[] = {
    { KVM_SYSTEM_EVENT_SHUTDOWN, VMM_SYSTEM_EVENT_SHUTDOWN },
    { KVM_SYSTEM_EVENT_RESET, VMM_SYSTEM_EVENT_RESET },
    { KVM_SYSTEM_EVENT_CRASH, VMM_SYSTEM_EVENT_OTHER },
    { 0x77, VMM_SYSTEM_EVENT_OTHER },
  };
  RunPage r = run_page_new ();
  struct vmm_exit e;

  for (guint i = 0; i < G_N_ELEMENTS (simple); i++)
    {
      r.run->exit_reason = simple[i].reason;
      vmm_kvm_exit_decode (r.run, 2, &e);
      g_assert_cmpint (e.kind, ==, simple[i].kind);
      g_assert_cmpuint (e.vcpu, ==, 2);
    }

  r.run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
  for (guint i = 0; i < G_N_ELEMENTS (events); i++)
    {
      r.run->system_event.type = events[i].type;
      vmm_kvm_exit_decode (r.run, 0, &e);
      g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_SYSTEM_EVENT);
      g_assert_cmpint (e.system_event.event, ==, events[i].event);
      g_assert_cmpuint (e.system_event.type, ==, events[i].type);
    }

  r.run->exit_reason = KVM_EXIT_FAIL_ENTRY;
  r.run->fail_entry.hardware_entry_failure_reason = 0x80000021;
  vmm_kvm_exit_decode (r.run, 0, &e);
  g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_FAIL_ENTRY);
  g_assert_cmpuint (e.fail_entry.reason, ==, 0x80000021);

  r.run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  r.run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  vmm_kvm_exit_decode (r.run, 0, &e);
  g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_INTERNAL_ERROR);
  g_assert_cmpuint (e.internal.suberror, ==, KVM_INTERNAL_ERROR_EMULATION);
  g_assert_true (e.internal.emulation);
  r.run->internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
  vmm_kvm_exit_decode (r.run, 0, &e);
  g_assert_false (e.internal.emulation);

  r.run->exit_reason = KVM_EXIT_DEBUG;
  vmm_kvm_exit_decode (r.run, 0, &e);
  g_assert_cmpint (e.kind, ==, VMM_EXIT_KIND_UNKNOWN);
  g_assert_cmpuint (e.unknown.reason, ==, KVM_EXIT_DEBUG);
  g_free (r.page);
}

/* Decoded and dispatched: what a device answers is in the run page, where
 * KVM takes it from on the next KVM_RUN. */
static void
test_decode_dispatch (Fixture *f, gconstpointer data)
{
  RunPage r = run_page_new ();
  struct vmm_exit e;

  (void) data;
  r.run->exit_reason = KVM_EXIT_IO;
  r.run->io.direction = KVM_EXIT_IO_IN;
  r.run->io.size = 1;
  r.run->io.port = PORT_BASE + 2;
  r.run->io.count = 3;
  r.run->io.data_offset = 0x400;
  vmm_kvm_exit_decode (r.run, 0, &e);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpmem (r.page + 0x400, 4, "\xa2\xa2\xa2\x00", 4);

  r.run->exit_reason = KVM_EXIT_MMIO;
  r.run->mmio.phys_addr = MMIO_BASE + 4;
  r.run->mmio.len = 2;
  r.run->mmio.is_write = 0;
  vmm_kvm_exit_decode (r.run, 0, &e);
  vmm_exit_dispatch (&f->dispatch, &e);
  g_assert_cmpuint (r.run->mmio.data[0], ==, 0xa4);
  g_assert_cmpuint (r.run->mmio.data[1], ==, 0xa5);

  r.run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
  r.run->system_event.type = KVM_SYSTEM_EVENT_RESET;
  vmm_kvm_exit_decode (r.run, 0, &e);
  vmm_exit_dispatch (&f->dispatch, &e);
  {
    static const char *const expected[] = { "reset", NULL };
    assert_calls (f, expected);
  }
  g_free (r.page);
}

/* ---- coalesced MMIO ------------------------------------------------------- */

#define RING_PAGE 4096

static void
ring_to_bus (void *opaque, guint64 addr, const void *data, guint32 len)
{
  Fixture *f = opaque;

  vmm_bus_write (&f->mmio, addr, data, len);
}

/* Appends a write as KVM does: the entry, then LAST past it. */
static void
ring_put (struct kvm_coalesced_mmio_ring *r, guint32 max, guint64 addr, guint32 len,
          guint64 value)
{
  struct kvm_coalesced_mmio *e = &r->coalesced_mmio[r->last];

  memset (e, 0, sizeof *e);
  e->phys_addr = addr;
  e->len = len;
  memcpy (e->data, &value, sizeof e->data);
  r->last = (r->last + 1) % max;
}

/* Writes KVM held back reach the bus in order, across the ring's end, and
 * each entry is freed (FIRST moves) once handed over. */
static void
test_ring_order (Fixture *f, gconstpointer data)
{
  struct vmm_kvm_mmio_ring ring;
  struct kvm_coalesced_mmio_ring *r = g_malloc0 (RING_PAGE);
  guint32 max;

  (void) data;
  vmm_kvm_mmio_ring_init (&ring);
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 0);
  vmm_kvm_mmio_ring_attach (&ring, r, RING_PAGE);
  max = ring.max;
  g_assert_cmpuint (max, ==, (RING_PAGE - sizeof *r) / sizeof (struct kvm_coalesced_mmio));
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 0);

  /* start three entries before the end, so the writes wrap */
  r->first = r->last = max - 3;
  for (guint i = 0; i < 6; i++)
    ring_put (r, max, MMIO_BASE + i, 1 + i % 2, 0x10 + i);
  g_assert_cmpuint (r->last, ==, 3);
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 6);
  g_assert_cmpuint (r->first, ==, r->last);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 6);
  for (guint i = 0; i < 6; i++)
    {
      g_assert_true (access_at (&f->mmio_dev, i)->write);
      g_assert_cmpuint (access_at (&f->mmio_dev, i)->offset, ==, i);
      g_assert_cmpuint (access_at (&f->mmio_dev, i)->len, ==, 1 + i % 2);
      g_assert_cmpuint (access_at (&f->mmio_dev, i)->value, ==, 0x10 + i);
    }
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 0);
  vmm_kvm_mmio_ring_destroy (&ring);
  g_free (r);
}

/* An entry no guest write could make (a length of 0 or over 8, a port) is
 * skipped; indexes outside the ring make the whole page untrusted: nothing
 * is written and FIRST stays. */
static void
test_ring_bad_entries (Fixture *f, gconstpointer data)
{
  struct vmm_kvm_mmio_ring ring;
  struct kvm_coalesced_mmio_ring *r = g_malloc0 (RING_PAGE);
  guint32 max;

  (void) data;
  vmm_kvm_mmio_ring_init (&ring);
  vmm_kvm_mmio_ring_attach (&ring, r, RING_PAGE);
  max = ring.max;
  ring_put (r, max, MMIO_BASE + 1, 0, 0xaa);
  ring_put (r, max, MMIO_BASE + 2, 9, 0xbb);
  ring_put (r, max, MMIO_BASE + 3, 4, 0xcc);
  r->coalesced_mmio[2].pio = 1;
  ring_put (r, max, MMIO_BASE + 4, 8, 0x0102030405060708ull);
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 4);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 1);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->offset, ==, 4);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->len, ==, 8);
  g_assert_cmpuint (access_at (&f->mmio_dev, 0)->value, ==, 0x0102030405060708ull);

  r->first = 0;
  r->last = max;
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 0);
  r->first = max + 7;
  r->last = 1;
  g_assert_cmpuint (vmm_kvm_mmio_ring_drain (&ring, ring_to_bus, f), ==, 0);
  g_assert_cmpuint (r->first, ==, max + 7);
  g_assert_cmpuint (f->mmio_dev.accesses->len, ==, 1);
  vmm_kvm_mmio_ring_destroy (&ring);
  g_free (r);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/dispatch/port/out", test_port_out);
  ADD ("/dispatch/port/out-string", test_port_out_string);
  ADD ("/dispatch/port/in", test_port_in);
  ADD ("/dispatch/port/unhandled", test_port_unhandled);
  ADD ("/dispatch/mmio/hit", test_mmio_hit);
  ADD ("/dispatch/mmio/miss", test_mmio_miss);
  ADD ("/dispatch/mmio/bad-length", test_mmio_bad_length);
  ADD ("/dispatch/quiet", test_quiet_exits);
  ADD ("/dispatch/triple-fault", test_triple_fault);
  ADD ("/dispatch/system-events", test_system_events);
  ADD ("/dispatch/failures", test_failures);
  ADD ("/dispatch/decoded", test_decode_dispatch);
  ADD ("/dispatch/ring/order", test_ring_order);
  ADD ("/dispatch/ring/bad-entries", test_ring_bad_entries);
#undef ADD
  g_test_add_func ("/decode/io", test_decode_io);
  g_test_add_func ("/decode/mmio", test_decode_mmio);
  g_test_add_func ("/decode/others", test_decode_others);

  return g_test_run ();
}
