/* test-virtio-input.c: virtio-input on fake queues
 *
 * The device runs as in a VM (the virtio-pci transport on an MMIO bus, its
 * queues served on a running event loop), over fake guest RAM and without
 * /dev/kvm (vmm-test.h). The test plays the guest's virtio_input driver
 * (the config space it reads, event buffers of one event each, LED
 * status events) and the display server (the sink, from its own thread
 * here as there: the test's).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>
#include <linux/input-event-codes.h>

#include "snapshot/state.h"
#include "viv-bytes.h"
#include "virtio/input.h"
#include "vmm-test.h"

#define QUEUE_SIZE      64u
#define TIMEOUT_MS      10000u
#define DEVICE_OFF      0x2000
#define CC_STATUS       0x14
#define Q_EVENT         0
#define Q_STATUS        1

/* struct virtio_input_config */
#define CFG_SELECT      0
#define CFG_SUBSEL      1
#define CFG_SIZE        2
#define CFG_U           8
#define ID_NAME         0x01
#define ID_SERIAL       0x02
#define ID_DEVIDS       0x03
#define PROP_BITS       0x10
#define EV_BITS         0x11
#define ABS_INFO        0x12

struct fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_input *in;
  struct vmm_input_sink sink;
  uint64_t gpa[QUEUE_SIZE];     /* event buffers, by head */
  unsigned leds_calls;          /* the LED listener's, atomically */
  uint32_t leds;
  int log_fd;
};

struct ev {
  uint16_t type, code;
  int32_t value;
};

static void
on_leds (void *data, uint32_t leds)
{
  struct fx *f = data;

  g_assert_false (vmm_test_mutex_is_free (&vmm_virtio_input_dev (f->in)->lock));
  __atomic_store_n (&f->leds, leds, __ATOMIC_RELEASE);
  __atomic_add_fetch (&f->leds_calls, 1, __ATOMIC_RELEASE);
}

static void
fx_init (struct fx *f, enum vmm_input_kind kind, bool driver)
{
  const struct vmm_input_led_listener leds = { on_leds, f };
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->log_fd = vmm_test_log_capture ();
  vmm_test_virtio_init (&f->t, &f->env);
  f->in = vmm_virtio_input_new (&f->env, kind, &leds, &error);
  g_assert_no_error (error);
  f->sink = vmm_virtio_input_sink (f->in);
  vmm_test_virtio_plug (&f->t, vmm_virtio_input_dev (f->in));
  if (driver)
    g_assert_cmpuint (vmm_test_virtio_setup (&f->t, 0, 2, QUEUE_SIZE) & VIRTIO_STATUS_DRIVER_OK,
                      !=, 0);
}

static void
fx_clear (struct fx *f)
{
  vmm_test_virtio_stop (&f->t);
  vmm_virtio_input_free (f->in);
  vmm_test_virtio_clear (&f->t);
  vmm_test_log_release (f->log_fd);
}

/* N event buffers of LEN bytes, then a kick */
static void
give_buffers (struct fx *f, unsigned n, uint32_t len)
{
  for (unsigned i = 0; i < n; i++)
    {
      struct vmm_test_buf b = { vmm_test_vq_copy (&f->t.vq[Q_EVENT], NULL, len), len, true };
      uint16_t head = vmm_test_vq_add_bufs (&f->t.vq[Q_EVENT], &b, 1);

      f->gpa[head] = b.gpa;
    }
  vmm_test_virtio_kick (&f->t, Q_EVENT);
}

/* The next event the device put in a buffer, waiting for it */
static struct ev
next_event (struct fx *f)
{
  const uint8_t *p;
  uint32_t id, len;

  g_assert_true (vmm_test_vq_wait_used (&f->t.vq[Q_EVENT], &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (id, <, QUEUE_SIZE);
  g_assert_cmpuint (len, ==, 8);
  p = vmm_test_ptr (&f->t.ram.mem, f->gpa[id], 8);
  return (struct ev) { viv_get_le16 (p), viv_get_le16 (p + 2), (int32_t) viv_get_le32 (p + 4) };
}

static void
expect_event (struct fx *f, uint16_t type, uint16_t code, int32_t value)
{
  struct ev ev = next_event (f);

  g_assert_cmpuint (ev.type, ==, type);
  g_assert_cmpuint (ev.code, ==, code);
  g_assert_cmpint (ev.value, ==, value);
}

static void
expect_syn (struct fx *f)
{
  expect_event (f, EV_SYN, SYN_REPORT, 0);
}

/* ---- config space ------------------------------------------------------------ */

static unsigned
cfg_select (struct fx *f, uint8_t select, uint8_t subsel)
{
  vmm_test_virtio_write (&f->t, DEVICE_OFF + CFG_SELECT, 1, select);
  vmm_test_virtio_write (&f->t, DEVICE_OFF + CFG_SUBSEL, 1, subsel);
  g_assert_cmpuint (vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_SELECT, 1), ==, select);
  g_assert_cmpuint (vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_SUBSEL, 1), ==, subsel);
  return (unsigned) vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_SIZE, 1);
}

static void
cfg_bytes (struct fx *f, uint8_t *buf, unsigned len)
{
  for (unsigned i = 0; i < len; i++)
    buf[i] = (uint8_t) vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_U + i, 1);
}

static char *
cfg_string (struct fx *f, uint8_t select)
{
  unsigned size = cfg_select (f, select, 0);
  char *s = g_malloc0 (size + 1);

  cfg_bytes (f, (uint8_t *) s, size);
  return s;
}

/* The codes of event type TYPE the device says it sends, as a list
 * "1 2 3" */
static char *
cfg_codes (struct fx *f, uint8_t type)
{
  unsigned size = cfg_select (f, EV_BITS, type);
  uint8_t bits[128];
  GString *s = g_string_new (NULL);

  g_assert_cmpuint (size, <=, 128);
  cfg_bytes (f, bits, size);
  if (size > 0)
    g_assert_cmpuint (bits[size - 1], !=, 0);    /* no trailing zeroes */
  for (unsigned c = 0; c < size * 8; c++)
    if ((bits[c / 8] >> (c % 8)) & 1)
      g_string_append_printf (s, "%s%u", s->len > 0 ? " " : "", c);
  return g_string_free (s, FALSE);
}

static void
check_common_config (struct fx *f, const char *name, const char *serial, uint16_t product)
{
  g_autofree char *got_name = cfg_string (f, ID_NAME);
  g_autofree char *got_serial = cfg_string (f, ID_SERIAL);
  uint8_t ids[8];

  g_assert_cmpstr (got_name, ==, name);
  g_assert_cmpstr (got_serial, ==, serial);
  g_assert_cmpuint (cfg_select (f, ID_DEVIDS, 0), ==, 8);
  cfg_bytes (f, ids, 8);
  g_assert_cmpuint (viv_get_le16 (ids), ==, 0x06);           /* BUS_VIRTUAL */
  g_assert_cmpuint (viv_get_le16 (ids + 2), ==, 0x1af4);
  g_assert_cmpuint (viv_get_le16 (ids + 4), ==, product);
  g_assert_cmpuint (viv_get_le16 (ids + 6), ==, 1);
  /* no properties: the tablet is a pointer, not a touch screen */
  g_assert_cmpuint (cfg_select (f, PROP_BITS, 0), ==, 0);
  /* selects we do not have, and subsels that are not there */
  g_assert_cmpuint (cfg_select (f, 0x00, 0), ==, 0);
  g_assert_cmpuint (cfg_select (f, 0x42, 0), ==, 0);
  g_assert_cmpuint (cfg_select (f, 0xff, 0xff), ==, 0);
  g_assert_cmpuint (cfg_select (f, ID_NAME, 1), ==, 0);
  g_assert_cmpuint (cfg_select (f, EV_BITS, EV_SYN), ==, 0);
  g_assert_cmpuint (cfg_select (f, EV_BITS, EV_MSC), ==, 0);
  g_assert_cmpuint (cfg_select (f, EV_BITS, 200), ==, 0);
  g_assert_cmpuint (cfg_select (f, ABS_INFO, ABS_Z), ==, 0);
  /* read-only past subsel: logged, and size stays what it is */
  cfg_select (f, ID_NAME, 0);
  vmm_test_virtio_write (&f->t, DEVICE_OFF + CFG_SIZE, 1, 0x99);
  g_assert_cmpuint (vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_SIZE, 1), ==, strlen (name));
  vmm_test_log_expect (f->log_fd, "virtio-input: a write to read-only config offset 2");
  /* select and subsel in one 16-bit write, as a driver may */
  vmm_test_virtio_write (&f->t, DEVICE_OFF + CFG_SELECT, 2, ID_SERIAL);
  g_assert_cmpuint (vmm_test_virtio_read (&f->t, DEVICE_OFF + CFG_SIZE, 1), ==, strlen (serial));
}

static void
test_config_keyboard (void)
{
  struct fx f;
  g_autofree char *leds = NULL;
  g_autofree char *rel = NULL;
  uint8_t bits[128];
  unsigned size;

  fx_init (&f, VMM_INPUT_KEYBOARD, false);
  g_assert_cmpuint (vmm_virtio_input_dev (f.in)->pci.config[2], ==, 0x52);   /* 1af4:1052 */
  g_assert_cmpuint (vmm_virtio_input_dev (f.in)->pci.config[3], ==, 0x10);
  check_common_config (&f, "Vivarium Keyboard", "vivarium-keyboard", 0x1100);

  /* the keys: all of them from Esc to keypad . , the F keys, arrows,
   * right Ctrl and Alt, the Windows keys; no buttons */
  size = cfg_select (&f, EV_BITS, EV_KEY);
  g_assert_cmpuint (size, >=, KEY_F24 / 8 + 1);
  cfg_bytes (&f, bits, size);
#define HAS(k) ((k) / 8u < size && ((bits[(k) / 8] >> ((k) % 8)) & 1))
  for (unsigned k = KEY_ESC; k <= KEY_KPDOT; k++)
    g_assert_true (HAS (k));
  g_assert_true (HAS (KEY_F12) && HAS (KEY_F24) && HAS (KEY_RIGHTCTRL) && HAS (KEY_RIGHTALT));
  g_assert_true (HAS (KEY_LEFTMETA) && HAS (KEY_UP) && HAS (KEY_PAUSE) && HAS (KEY_MUTE));
  g_assert_false (HAS (BTN_LEFT));
  g_assert_false (HAS (KEY_RESERVED));
#undef HAS
  leds = cfg_codes (&f, EV_LED);
  g_assert_cmpstr (leds, ==, "0 1 2");          /* NumLock, CapsLock, ScrollLock */
  /* EV_REP there, with no codes */
  g_assert_cmpuint (cfg_select (&f, EV_BITS, EV_REP), ==, 1);
  cfg_bytes (&f, bits, 1);
  g_assert_cmpuint (bits[0], ==, 0);
  rel = cfg_codes (&f, EV_REL);
  g_assert_cmpstr (rel, ==, "");
  g_assert_cmpuint (cfg_select (&f, EV_BITS, EV_ABS), ==, 0);
  g_assert_cmpuint (cfg_select (&f, ABS_INFO, ABS_X), ==, 0);
  fx_clear (&f);
}

static void
test_config_tablet (void)
{
  struct fx f;
  g_autofree char *keys = NULL;
  g_autofree char *abs = NULL;
  g_autofree char *rel = NULL;
  uint8_t info[20];

  fx_init (&f, VMM_INPUT_TABLET, false);
  check_common_config (&f, "Vivarium Tablet", "vivarium-tablet", 0x1101);
  keys = cfg_codes (&f, EV_KEY);
  g_assert_cmpstr (keys, ==, "272 273 274 275 276");   /* BTN_LEFT .. BTN_EXTRA */
  abs = cfg_codes (&f, EV_ABS);
  g_assert_cmpstr (abs, ==, "0 1");                    /* ABS_X, ABS_Y */
  rel = cfg_codes (&f, EV_REL);
  g_assert_cmpstr (rel, ==, "8");                      /* REL_WHEEL */
  g_assert_cmpuint (cfg_select (&f, EV_BITS, EV_LED), ==, 0);
  g_assert_cmpuint (cfg_select (&f, EV_BITS, EV_REP), ==, 0);
  for (unsigned axis = ABS_X; axis <= ABS_Y; axis++)
    {
      g_assert_cmpuint (cfg_select (&f, ABS_INFO, (uint8_t) axis), ==, 20);
      cfg_bytes (&f, info, 20);
      g_assert_cmpuint (viv_get_le32 (info), ==, 0);          /* min */
      g_assert_cmpuint (viv_get_le32 (info + 4), ==, 32767);  /* max */
      g_assert_cmpuint (viv_get_le32 (info + 8), ==, 0);      /* fuzz */
      g_assert_cmpuint (viv_get_le32 (info + 12), ==, 0);     /* flat */
      g_assert_cmpuint (viv_get_le32 (info + 16), ==, 0);     /* res */
    }
  fx_clear (&f);
}

static void
test_config_mouse (void)
{
  struct fx f;
  g_autofree char *keys = NULL;
  g_autofree char *rel = NULL;

  fx_init (&f, VMM_INPUT_MOUSE, false);
  check_common_config (&f, "Vivarium Mouse", "vivarium-mouse", 0x1102);
  keys = cfg_codes (&f, EV_KEY);
  g_assert_cmpstr (keys, ==, "272 273 274 275 276");
  rel = cfg_codes (&f, EV_REL);
  g_assert_cmpstr (rel, ==, "0 1 8");                  /* REL_X, REL_Y, REL_WHEEL */
  g_assert_cmpuint (cfg_select (&f, EV_BITS, EV_ABS), ==, 0);
  g_assert_cmpuint (cfg_select (&f, ABS_INFO, ABS_X), ==, 0);
  fx_clear (&f);
}

/* ---- events ------------------------------------------------------------------- */

/* Keys in order, each followed by SYN_REPORT; events that come before the
 * guest has buffers wait for them; what the keyboard does not have is
 * dropped */
static void
test_keyboard_events (void)
{
  struct fx f;

  fx_init (&f, VMM_INPUT_KEYBOARD, true);
  give_buffers (&f, 4, 8);
  f.sink.key (f.sink.data, KEY_A, true);
  f.sink.key (f.sink.data, BTN_LEFT, true);      /* not a keyboard's */
  f.sink.abs (f.sink.data, 1, 1, 10, 10);
  f.sink.rel (f.sink.data, 1, 1);
  f.sink.wheel (f.sink.data, 1);
  f.sink.key (f.sink.data, KEY_A, false);
  expect_event (&f, EV_KEY, KEY_A, 1);
  expect_syn (&f);
  expect_event (&f, EV_KEY, KEY_A, 0);
  expect_syn (&f);
  g_assert_cmpuint (vmm_test_virtio_isr (&f.t) & 1, ==, 1);

  /* no buffers: they wait, and go with the next ones the guest gives */
  f.sink.key (f.sink.data, KEY_LEFTSHIFT, true);
  f.sink.key (f.sink.data, KEY_RIGHTALT, true);
  f.sink.key (f.sink.data, KEY_RIGHTALT, false);
  give_buffers (&f, 2, 8);
  expect_event (&f, EV_KEY, KEY_LEFTSHIFT, 1);
  expect_syn (&f);
  give_buffers (&f, 8, 16);                      /* larger buffers take one event each too */
  expect_event (&f, EV_KEY, KEY_RIGHTALT, 1);
  expect_syn (&f);
  expect_event (&f, EV_KEY, KEY_RIGHTALT, 0);
  expect_syn (&f);

  /* a buffer too small for an event goes back empty, logged */
  {
    uint32_t id, len;

    give_buffers (&f, 1, 4);
    f.sink.key (f.sink.data, KEY_B, true);
    /* the 4 buffers left from before take it; the small one is last */
    expect_event (&f, EV_KEY, KEY_B, 1);
    expect_syn (&f);
    f.sink.key (f.sink.data, KEY_B, false);
    expect_event (&f, EV_KEY, KEY_B, 0);
    expect_syn (&f);
    f.sink.key (f.sink.data, KEY_C, true);
    g_assert_true (vmm_test_vq_wait_used (&f.t.vq[Q_EVENT], &id, &len, TIMEOUT_MS));
    g_assert_cmpuint (len, ==, 0);
    vmm_test_log_expect (f.log_fd, "virtio-input: an event buffer of 4 bytes (less than 8)");
    give_buffers (&f, 2, 8);
    expect_event (&f, EV_KEY, KEY_C, 1);
    expect_syn (&f);
  }
  fx_clear (&f);
}

/* The tablet scales (x, y) of a width × height screen to 0..32767 */
static void
test_tablet_events (void)
{
  struct fx f;

  fx_init (&f, VMM_INPUT_TABLET, true);
  give_buffers (&f, QUEUE_SIZE, 8);
  f.sink.abs (f.sink.data, 0, 0, 1024, 768);
  expect_event (&f, EV_ABS, ABS_X, 0);
  expect_event (&f, EV_ABS, ABS_Y, 0);
  expect_syn (&f);
  f.sink.abs (f.sink.data, 1023, 767, 1024, 768);
  expect_event (&f, EV_ABS, ABS_X, 32767);
  expect_event (&f, EV_ABS, ABS_Y, 32767);
  expect_syn (&f);
  /* the middle, rounded: 1 of 0..2 is 16383.5; 512 of 0..1023 is 16400.0 */
  f.sink.abs (f.sink.data, 1, 512, 3, 1024);
  expect_event (&f, EV_ABS, ABS_X, 16384);
  expect_event (&f, EV_ABS, ABS_Y, 16400);
  expect_syn (&f);
  /* past the edge is the edge; a 1-pixel screen is 0; an empty one nothing */
  f.sink.abs (f.sink.data, 5000, UINT32_MAX, 1920, 1080);
  expect_event (&f, EV_ABS, ABS_X, 32767);
  expect_event (&f, EV_ABS, ABS_Y, 32767);
  expect_syn (&f);
  f.sink.abs (f.sink.data, 7, 0, 0, 100);
  f.sink.abs (f.sink.data, 0, 0, 1, 1);
  expect_event (&f, EV_ABS, ABS_X, 0);
  expect_event (&f, EV_ABS, ABS_Y, 0);
  expect_syn (&f);
  /* buttons and the wheel; no relative motion, no keys */
  f.sink.rel (f.sink.data, 5, 5);
  f.sink.key (f.sink.data, KEY_A, true);
  f.sink.key (f.sink.data, BTN_RIGHT, true);
  f.sink.key (f.sink.data, BTN_RIGHT, false);
  f.sink.wheel (f.sink.data, -2);
  f.sink.wheel (f.sink.data, 0);
  f.sink.key (f.sink.data, BTN_EXTRA, true);
  expect_event (&f, EV_KEY, BTN_RIGHT, 1);
  expect_syn (&f);
  expect_event (&f, EV_KEY, BTN_RIGHT, 0);
  expect_syn (&f);
  expect_event (&f, EV_REL, REL_WHEEL, -2);
  expect_syn (&f);
  expect_event (&f, EV_KEY, BTN_EXTRA, 1);
  expect_syn (&f);
  fx_clear (&f);
}

static void
test_mouse_events (void)
{
  struct fx f;

  fx_init (&f, VMM_INPUT_MOUSE, true);
  give_buffers (&f, QUEUE_SIZE, 8);
  f.sink.abs (f.sink.data, 5, 5, 10, 10);       /* not a mouse's */
  f.sink.rel (f.sink.data, 3, -4);
  expect_event (&f, EV_REL, REL_X, 3);
  expect_event (&f, EV_REL, REL_Y, -4);
  expect_syn (&f);
  f.sink.rel (f.sink.data, 0, 0);               /* nothing */
  f.sink.rel (f.sink.data, 0, 7);
  expect_event (&f, EV_REL, REL_Y, 7);
  expect_syn (&f);
  f.sink.rel (f.sink.data, -1, 0);
  expect_event (&f, EV_REL, REL_X, -1);
  expect_syn (&f);
  f.sink.key (f.sink.data, BTN_LEFT, true);
  f.sink.wheel (f.sink.data, 1);
  f.sink.key (f.sink.data, BTN_LEFT, false);
  expect_event (&f, EV_KEY, BTN_LEFT, 1);
  expect_syn (&f);
  expect_event (&f, EV_REL, REL_WHEEL, 1);
  expect_syn (&f);
  expect_event (&f, EV_KEY, BTN_LEFT, 0);
  expect_syn (&f);
  fx_clear (&f);
}

/* ---- the status queue ----------------------------------------------------- */

static void
send_status (struct fx *f, const struct ev *evs, unsigned n, uint32_t extra)
{
  struct vmm_test_vq *vq = &f->t.vq[Q_STATUS];
  uint8_t buf[8 * 8 + 8] = { 0 };
  struct vmm_test_buf b;
  uint32_t id, len;

  g_assert_cmpuint (n, <=, 8);
  for (unsigned i = 0; i < n; i++)
    {
      viv_put_le16 (buf + 8 * i, evs[i].type);
      viv_put_le16 (buf + 8 * i + 2, evs[i].code);
      viv_put_le32 (buf + 8 * i + 4, (uint32_t) evs[i].value);
    }
  b = (struct vmm_test_buf) { vmm_test_vq_copy (vq, buf, 8 * n + extra), 8 * n + extra, false };
  vmm_test_vq_add_bufs (vq, &b, 1);
  vmm_test_virtio_kick (&f->t, Q_STATUS);
  g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (len, ==, 0);
}

struct leds_wait {
  struct fx *f;
  unsigned calls;
};

static bool
leds_called (void *data)
{
  struct leds_wait *w = data;

  return __atomic_load_n (&w->f->leds_calls, __ATOMIC_ACQUIRE) >= w->calls;
}

static void
expect_leds (struct fx *f, unsigned calls, uint32_t leds)
{
  struct leds_wait w = { f, calls };

  g_assert_true (vmm_test_wait_until (leds_called, &w, TIMEOUT_MS));
  g_assert_cmpuint (__atomic_load_n (&f->leds_calls, __ATOMIC_ACQUIRE), ==, calls);
  g_assert_cmpuint (__atomic_load_n (&f->leds, __ATOMIC_ACQUIRE), ==, leds);
}

/* LED events from the guest reach the listener, once per change; the rest
 * of what comes on the status queue is ignored */
static void
test_leds (void)
{
  struct fx f;
  const struct ev caps_num[] = { { EV_LED, LED_CAPSL, 1 }, { EV_LED, LED_NUML, 1 } };
  const struct ev caps_off[] = { { EV_LED, LED_CAPSL, 0 } };
  const struct ev others[] = {
    { EV_SND, SND_BELL, 1 }, { EV_LED, LED_KANA, 1 }, { EV_LED, LED_NUML, 1 },
    { EV_KEY, KEY_A, 1 },
  };
  const struct ev scroll[] = { { EV_LED, LED_SCROLLL, 7 } };

  fx_init (&f, VMM_INPUT_KEYBOARD, true);
  send_status (&f, caps_num, 2, 0);
  expect_leds (&f, 1, (1u << LED_CAPSL) | (1u << LED_NUML));
  send_status (&f, caps_off, 1, 0);
  expect_leds (&f, 2, 1u << LED_NUML);
  /* nothing that changes them: no call */
  send_status (&f, others, 4, 0);
  /* a buffer with a stray tail: the whole events in it count, and it is
   * logged */
  send_status (&f, scroll, 1, 3);
  expect_leds (&f, 3, (1u << LED_NUML) | (1u << LED_SCROLLL));
  vmm_test_log_expect (f.log_fd, "virtio-input: a status buffer of 11 bytes");
  fx_clear (&f);
}

/* ---- the ring ------------------------------------------------------------------- */

/* A guest that takes no events: they wait in a bounded ring, the oldest
 * reports go (logged), and what the guest gets later is the newest,
 * whole reports in order */
static void
test_ring_bounded (void)
{
  const unsigned n_reports = 1000;
  const unsigned kept = VMM_INPUT_RING_EVENTS / 3;    /* ABS_X, ABS_Y, SYN each */
  struct fx f;

  fx_init (&f, VMM_INPUT_TABLET, true);
  for (unsigned i = 0; i < n_reports; i++)
    f.sink.abs (f.sink.data, i, 2 * i, 32768, 32768);   /* scaled 1:1 */
  g_assert_cmpuint (vmm_virtio_input_dropped (f.in), ==, 3 * (n_reports - kept));
  vmm_test_log_expect (f.log_fd, "virtio-input: Vivarium Tablet: the guest takes no events");

  for (unsigned i = n_reports - kept; i < n_reports; i++)
    {
      if ((i - (n_reports - kept)) % 16 == 0)
        give_buffers (&f, 48, 8);
      expect_event (&f, EV_ABS, ABS_X, (int32_t) i);
      expect_event (&f, EV_ABS, ABS_Y, (int32_t) (2 * i));
      expect_syn (&f);
    }
  /* nothing more: the next event is a new one */
  f.sink.key (f.sink.data, BTN_LEFT, true);
  give_buffers (&f, 2, 8);
  expect_event (&f, EV_KEY, BTN_LEFT, 1);
  expect_syn (&f);
  fx_clear (&f);
}

/* A reset drops what waits; without a driver nothing is queued */
static void
test_reset (void)
{
  struct fx f;

  fx_init (&f, VMM_INPUT_KEYBOARD, true);
  f.sink.key (f.sink.data, KEY_X, true);
  f.sink.key (f.sink.data, KEY_X, false);
  vmm_test_virtio_write (&f.t, CC_STATUS, 1, 0);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, CC_STATUS, 1), ==, 0);
  f.sink.key (f.sink.data, KEY_Y, true);           /* no driver: dropped */

  /* a driver coming up, as setup does but with a key before DRIVER_OK */
  g_assert_cmpuint (vmm_test_virtio_negotiate (&f.t, 0) & VIRTIO_STATUS_FEATURES_OK, !=, 0);
  for (unsigned q = 0; q < 2; q++)
    {
      struct vmm_test_vq *vq = &f.t.vq[q];

      memset (vmm_test_ptr (&f.t.ram.mem, vq->desc, 0x3000), 0, 0x3000);
      vmm_test_vq_init (vq, &f.t.ram.mem, QUEUE_SIZE, vq->desc, vq->avail, vq->used,
                        vq->data_start, vq->data_end);
      g_assert_true (vmm_test_virtio_queue (&f.t, q, QUEUE_SIZE, vq->desc, vq->avail, vq->used));
    }
  f.sink.key (f.sink.data, KEY_Y, false);          /* not DRIVER_OK yet: dropped */
  g_assert_cmpuint (vmm_test_virtio_driver_ok (&f.t) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  f.sink.key (f.sink.data, KEY_Z, true);
  give_buffers (&f, 4, 8);
  expect_event (&f, EV_KEY, KEY_Z, 1);
  expect_syn (&f);
  g_assert_cmpuint (vmm_virtio_input_dropped (f.in), ==, 0);
  fx_clear (&f);
}

/* The sink from another thread while the guest takes events: all arrive,
 * in order */
struct pump {
  struct fx *f;
  unsigned n;
};

static gpointer
pump_thread (gpointer data)
{
  struct pump *p = data;

  for (unsigned i = 0; i < p->n; i++)
    p->f->sink.rel (p->f->sink.data, (int32_t) i + 1, 0);
  return NULL;
}

static void
test_threads (void)
{
  struct fx f;
  struct pump p = { &f, 60 };
  GThread *th;

  fx_init (&f, VMM_INPUT_MOUSE, true);
  give_buffers (&f, QUEUE_SIZE, 8);
  th = g_thread_new ("pump", pump_thread, &p);
  for (unsigned i = 0; i < p.n; i++)
    {
      expect_event (&f, EV_REL, REL_X, (int32_t) i + 1);
      expect_syn (&f);
      give_buffers (&f, 2, 8);
    }
  g_thread_join (th);
  g_assert_cmpuint (vmm_virtio_input_dropped (f.in), ==, 0);
  fx_clear (&f);
}

/* ---- snapshots ------------------------------------------------------------------ */

/* A keyboard whose driver set LEDs and the config window, with events
 * waiting for buffers (the first report half taken), is saved; restored
 * over a copy of the guest's memory, the host hears the LEDs, the driver
 * reads the same window and gets the events that waited, in order. */
static void
test_state (void)
{
  const struct ev caps_num[] = { { EV_LED, LED_CAPSL, 1 }, { EV_LED, LED_NUML, 1 } };
  g_autoptr (GBytes) file = NULL;
  struct fx a, b;

  fx_init (&a, VMM_INPUT_KEYBOARD, true);
  send_status (&a, caps_num, 2, 0);
  expect_leds (&a, 1, (1u << LED_CAPSL) | (1u << LED_NUML));
  give_buffers (&a, 1, 8);
  a.sink.key (a.sink.data, KEY_A, true);
  expect_event (&a, EV_KEY, KEY_A, 1);
  a.sink.key (a.sink.data, KEY_B, true);
  g_assert_cmpuint (cfg_select (&a, ID_SERIAL, 0), ==, strlen ("vivarium-keyboard"));
  file = vmm_test_virtio_save (vmm_virtio_input_dev (a.in), "virtio-input.0");

  fx_init (&b, VMM_INPUT_KEYBOARD, false);
  vmm_test_virtio_copy_guest (&b.t, &a.t);
  memcpy (b.gpa, a.gpa, sizeof b.gpa);
  fx_clear (&a);
  vmm_test_virtio_load (vmm_virtio_input_dev (b.in), file, "virtio-input.0");
  expect_leds (&b, 1, (1u << LED_CAPSL) | (1u << LED_NUML));
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, DEVICE_OFF + CFG_SELECT, 1), ==, ID_SERIAL);
  g_assert_cmpuint (vmm_test_virtio_read (&b.t, DEVICE_OFF + CFG_SIZE, 1), ==,
                    strlen ("vivarium-keyboard"));
  g_assert_true (vmm_virtio_input_ready (b.in));
  give_buffers (&b, 4, 8);
  expect_syn (&b);
  expect_event (&b, EV_KEY, KEY_B, 1);
  expect_syn (&b);
  b.sink.key (b.sink.data, KEY_B, false);
  expect_event (&b, EV_KEY, KEY_B, 0);

  /* refused: cut short, another kind of device, a newer layout */
  g_clear_pointer (&file, g_bytes_unref);
  file = vmm_test_virtio_save (vmm_virtio_input_dev (b.in), "virtio-input.0");
  vmm_test_virtio_refusals (vmm_virtio_input_dev (b.in), file, "virtio-input.0",
                            "virtio-input.0.device", 0, VMM_INPUT_MOUSE);
  fx_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-input/config/keyboard", test_config_keyboard);
  g_test_add_func ("/virtio-input/config/tablet", test_config_tablet);
  g_test_add_func ("/virtio-input/config/mouse", test_config_mouse);
  g_test_add_func ("/virtio-input/events/keyboard", test_keyboard_events);
  g_test_add_func ("/virtio-input/events/tablet", test_tablet_events);
  g_test_add_func ("/virtio-input/events/mouse", test_mouse_events);
  g_test_add_func ("/virtio-input/leds", test_leds);
  g_test_add_func ("/virtio-input/ring-bounded", test_ring_bounded);
  g_test_add_func ("/virtio-input/reset", test_reset);
  g_test_add_func ("/virtio-input/threads", test_threads);
  g_test_add_func ("/virtio-input/state", test_state);
  return g_test_run ();
}
