/* virtio/input.c: the input device (virtio 1.2, 5.8)
 *
 * Queue 0 (eventq) takes device-writable buffers the device fills with
 * one event each (le16 type, le16 code, le32 value): what the display
 * server's clients did, one report of events ended by EV_SYN SYN_REPORT
 * per call of the sink. Queue 1 (statusq) brings events from the guest:
 * the keyboard LEDs (EV_LED), passed to the LED listener; the rest is
 * ignored.
 *
 * The configuration space is a window the driver points with select and
 * subsel; what it shows is computed on each read, and a select we do not
 * have shows size 0.
 *
 * Locking: dev->lock covers all of it. Queue work and config accesses
 * come from the transport with the lock held; the sink (the display
 * server's thread) takes it, queues its report in the ring and has the
 * transport come back to the event queue on the device's loop
 * (vmm_virtio_queue_resume), which fills the guest's buffers there.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>
#include <linux/input-event-codes.h>

#include "display/keymap.h"
#include "viv-bytes.h"

#define VIRTIO_ID_INPUT           18
#define PCI_CLASS_INPUT_OTHER     0x098000
#define INPUT_QUEUE_SIZE          64

#define Q_EVENT                   0
#define Q_STATUS                  1

/* struct virtio_input_config: select, subsel, size, 5 reserved, then a
 * 128-byte union (a string, a bitmap, an absinfo or the device ids) */
#define CFG_SELECT                0
#define CFG_SUBSEL                1
#define CFG_SIZE                  2
#define CFG_U                     8
#define CFG_U_LEN                 128
#define CFG_LEN                   (CFG_U + CFG_U_LEN)

/* What select asks for */
#define CFG_ID_NAME               0x01
#define CFG_ID_SERIAL             0x02
#define CFG_ID_DEVIDS             0x03
#define CFG_PROP_BITS             0x10
#define CFG_EV_BITS               0x11
#define CFG_ABS_INFO              0x12

#define EVENT_LEN                 8      /* struct virtio_input_event */
/* Status events one chain may carry; the driver sends one */
#define STATUS_EVENTS_MAX         64

#define INPUT_BUS_VIRTUAL         0x06   /* BUS_VIRTUAL, linux/input.h */
#define INPUT_VENDOR              0x1af4 /* virtio's PCI vendor */
#define INPUT_PRODUCT_BASE        0x1100 /* + the kind */
#define INPUT_VERSION             1

#define LED_MASK ((1u << LED_NUML) | (1u << LED_CAPSL) | (1u << LED_SCROLLL))

struct input_ev {
  uint16_t type, code;
  int32_t value;
};

struct vmm_virtio_input {
  struct vmm_virtio_dev dev;
  enum vmm_input_kind kind;
  const char *name, *serial;

  uint8_t ev_bits[EV_CNT][CFG_U_LEN];  /* the codes of each event type we send */
  uint8_t select, subsel;

  struct vmm_input_led_listener leds;
  uint32_t led_state;                  /* 1 << LED_* as the guest last set them */

  /* Events waiting for the guest's buffers: a ring of whole reports */
  struct input_ev ring[VMM_INPUT_RING_EVENTS];
  unsigned head, count;
  uint64_t dropped;
};

static bool
has_code (const struct vmm_virtio_input *in, unsigned type, unsigned code)
{
  return type < EV_CNT && code / 8 < CFG_U_LEN && (in->ev_bits[type][code / 8] >> (code % 8)) & 1;
}

static void
set_code (struct vmm_virtio_input *in, unsigned type, unsigned code)
{
  in->ev_bits[type][code / 8] |= (uint8_t) (1u << (code % 8));
}

/* Whether queue Q can be used now (the transport checks this before
 * queue_notify; the sink comes from elsewhere) */
static bool
queue_ready (const struct vmm_virtio_input *in, unsigned q)
{
  const struct vmm_virtio_dev *dev = &in->dev;

  return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
         dev->queues[q].enabled;
}

bool
vmm_virtio_input_ready (struct vmm_virtio_input *input)
{
  bool ready;

  pthread_mutex_lock (&input->dev.lock);
  ready = queue_ready (input, Q_EVENT);
  pthread_mutex_unlock (&input->dev.lock);
  return ready;
}

/* ---- the event queue ------------------------------------------------------- */

/* Moves waiting events into the guest's buffers, one each. */
static void
fill_events (struct vmm_virtio_input *in)
{
  struct vmm_virtio_dev *dev = &in->dev;
  struct virtq *vq = &dev->queues[Q_EVENT].vq;
  struct virtq_chain chain;
  unsigned budget;
  bool pushed = false;
  int ret = 0;

  if (in->count == 0 || !queue_ready (in, Q_EVENT))
    return;
  budget = virtq_drain_budget (vq);
  /* Events left and no buffers: kicks come back on for new ones. */
  while (in->count > 0 && (ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      const struct input_ev *ev = &in->ring[in->head];
      uint8_t buf[EVENT_LEN];

      if (chain.in_len < EVENT_LEN)
        {
          vmm_log_guest (&dev->rl, "virtio-input: an event buffer of %llu bytes (less than %u)",
                         (unsigned long long) chain.in_len, EVENT_LEN);
          virtq_push (vq, chain.head, 0);
          pushed = true;
          continue;
        }
      viv_put_le16 (buf, ev->type);
      viv_put_le16 (buf + 2, ev->code);
      viv_put_le32 (buf + 4, (uint32_t) ev->value);
      virtq_push (vq, chain.head, virtq_chain_write (&chain, buf, EVENT_LEN));
      pushed = true;
      in->head = (in->head + 1) % VMM_INPUT_RING_EVENTS;
      in->count--;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, Q_EVENT);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, Q_EVENT);
      return;
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, Q_EVENT);
}

/* Drops the oldest report (its events up to its SYN_REPORT); returns the
 * number of events dropped. */
static unsigned
drop_oldest_report (struct vmm_virtio_input *in)
{
  unsigned n = 0;

  while (in->count > 0)
    {
      const struct input_ev *ev = &in->ring[in->head];
      bool syn = ev->type == EV_SYN && ev->code == SYN_REPORT;

      in->head = (in->head + 1) % VMM_INPUT_RING_EVENTS;
      in->count--;
      n++;
      if (syn)
        break;
    }
  return n;
}

/* Queues a report of N events (a SYN_REPORT is added) for the device's
 * thread; with dev->lock held. */
static void
queue_report (struct vmm_virtio_input *in, const struct input_ev *evs, unsigned n)
{
  struct vmm_virtio_dev *dev = &in->dev;
  unsigned dropped = 0;

  /* No driver: no one to keep them for; they would be stale by then. */
  if (!queue_ready (in, Q_EVENT))
    return;
  g_assert (n + 1 <= VMM_INPUT_RING_EVENTS);
  while (VMM_INPUT_RING_EVENTS - in->count < n + 1)
    dropped += drop_oldest_report (in);
  for (unsigned i = 0; i <= n; i++)
    {
      static const struct input_ev syn = { EV_SYN, SYN_REPORT, 0 };

      in->ring[(in->head + in->count) % VMM_INPUT_RING_EVENTS] = i < n ? evs[i] : syn;
      in->count++;
    }
  if (dropped > 0)
    {
      in->dropped += dropped;
      vmm_log_guest (&dev->rl, "virtio-input: %s: the guest takes no events; the oldest %u "
                     "dropped (%llu in all)", in->name, dropped,
                     (unsigned long long) in->dropped);
    }
  vmm_virtio_queue_resume (dev, Q_EVENT);
}

/* ---- the status queue ------------------------------------------------------ */

static void
status_event (struct vmm_virtio_input *in, uint16_t type, uint16_t code, uint32_t value)
{
  if (type == EV_LED && has_code (in, EV_LED, code))
    {
      if (value != 0)
        in->led_state |= 1u << code;
      else
        in->led_state &= ~(1u << code);
    }
  /* Anything else (EV_SND: a beep) we have nothing for. */
}

static void
drain_status (struct vmm_virtio_input *in)
{
  struct vmm_virtio_dev *dev = &in->dev;
  struct virtq *vq = &dev->queues[Q_STATUS].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  uint32_t old_leds = in->led_state;
  bool pushed = false;
  int ret;

  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint64_t n = chain.out_len / EVENT_LEN;

      if (chain.out_len == 0 || chain.out_len % EVENT_LEN != 0)
        vmm_log_guest (&dev->rl, "virtio-input: a status buffer of %llu bytes (not a multiple "
                       "of %u)", (unsigned long long) chain.out_len, EVENT_LEN);
      if (n > STATUS_EVENTS_MAX)
        {
          vmm_log_guest (&dev->rl, "virtio-input: a status buffer of %llu events; the first "
                         "%u taken", (unsigned long long) n, STATUS_EVENTS_MAX);
          n = STATUS_EVENTS_MAX;
        }
      for (unsigned i = 0; i < n; i++)
        {
          uint8_t buf[EVENT_LEN];

          /* Copied out first: the guest may change the buffer meanwhile. */
          if (virtq_chain_read (&chain, (uint64_t) i * EVENT_LEN, buf, EVENT_LEN) < EVENT_LEN)
            break;
          status_event (in, viv_get_le16 (buf), viv_get_le16 (buf + 2), viv_get_le32 (buf + 4));
        }
      virtq_push (vq, chain.head, 0);
      pushed = true;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, Q_STATUS);
  else if (ret < 0)
    vmm_virtio_set_queue_broken (dev, Q_STATUS);
  else if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, Q_STATUS);
  if (in->led_state != old_leds && in->leds.leds != NULL)
    in->leds.leds (in->leds.data, in->led_state);
}

/* ---- transport ops --------------------------------------------------------- */

static void
input_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_input *in = dev->priv;

  if (q == Q_EVENT)
    fill_events (in);
  else if (q == Q_STATUS)
    drain_status (in);
}

static uint8_t
put_string (uint8_t *u, const char *s)
{
  size_t len = strlen (s);

  g_assert (len <= CFG_U_LEN);
  memcpy (u, s, len);
  return (uint8_t) len;
}

/* The bytes of BITMAP up to its last non-zero one */
static uint8_t
put_bitmap (uint8_t *u, const uint8_t *bitmap)
{
  unsigned size = CFG_U_LEN;

  while (size > 0 && bitmap[size - 1] == 0)
    size--;
  memcpy (u, bitmap, size);
  return (uint8_t) size;
}

static void
config_image (const struct vmm_virtio_input *in, uint8_t img[CFG_LEN])
{
  uint8_t *u = img + CFG_U;
  uint8_t size = 0;

  memset (img, 0, CFG_LEN);
  img[CFG_SELECT] = in->select;
  img[CFG_SUBSEL] = in->subsel;
  switch (in->select)
    {
    case CFG_ID_NAME:
      if (in->subsel == 0)
        size = put_string (u, in->name);
      break;
    case CFG_ID_SERIAL:
      if (in->subsel == 0)
        size = put_string (u, in->serial);
      break;
    case CFG_ID_DEVIDS:
      if (in->subsel == 0)
        {
          viv_put_le16 (u, INPUT_BUS_VIRTUAL);
          viv_put_le16 (u + 2, INPUT_VENDOR);
          viv_put_le16 (u + 4, (uint16_t) (INPUT_PRODUCT_BASE + in->kind));
          viv_put_le16 (u + 6, INPUT_VERSION);
          size = 8;
        }
      break;
    case CFG_PROP_BITS:
      /* none: the tablet is a pointer (no INPUT_PROP_DIRECT) */
      break;
    case CFG_EV_BITS:
      if (in->subsel == EV_REP && in->kind == VMM_INPUT_KEYBOARD)
        size = 1;     /* there, with no codes: the guest repeats keys itself */
      else if (in->subsel < EV_CNT && in->subsel != EV_SYN)
        size = put_bitmap (u, in->ev_bits[in->subsel]);
      break;
    case CFG_ABS_INFO:
      if (has_code (in, EV_ABS, in->subsel))
        {
          viv_put_le32 (u, 0);                      /* min */
          viv_put_le32 (u + 4, VMM_INPUT_ABS_MAX);  /* max */
          /* fuzz, flat and resolution: 0 */
          size = 20;
        }
      break;
    default:
      break;
    }
  img[CFG_SIZE] = size;
}

static void
input_config_read (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
  uint8_t img[CFG_LEN];

  config_image (dev->priv, img);
  memcpy (data, img + offset, len);
}

static void
input_config_write (struct vmm_virtio_dev *dev, uint32_t offset, const void *data, uint32_t len)
{
  struct vmm_virtio_input *in = dev->priv;
  const uint8_t *p = data;

  for (uint32_t i = 0; i < len; i++)
    {
      if (offset + i == CFG_SELECT)
        in->select = p[i];
      else if (offset + i == CFG_SUBSEL)
        in->subsel = p[i];
      else
        {
          vmm_log_guest (&dev->rl, "virtio-input: a write to read-only config offset %u",
                         offset + i);
          break;
        }
    }
}

static void
input_reset (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_input *in = dev->priv;

  /* Events for the driver that was are not the next one's. The LEDs stay
   * as they are until a driver sets them. */
  in->head = in->count = 0;
  in->select = in->subsel = 0;
}

/* ---- snapshots ------------------------------------------------------------- */

#define INPUT_STATE_VERSION 1

/* What the guest sees: the config window's select and subsel, the LEDs it
 * set, and the events waiting for its buffers. Not the count of dropped
 * events (the host's). */
static void
input_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  struct vmm_virtio_input *in = dev->priv;

  vmm_state_begin (w, name, INPUT_STATE_VERSION);
  vmm_state_put_u32 (w, in->kind);
  vmm_state_put_u8 (w, in->select);
  vmm_state_put_u8 (w, in->subsel);
  vmm_state_put_u32 (w, in->led_state);
  vmm_state_put_u32 (w, in->count);
  for (unsigned i = 0; i < in->count; i++)
    {
      const struct input_ev *ev = &in->ring[(in->head + i) % VMM_INPUT_RING_EVENTS];

      vmm_state_put_u16 (w, ev->type);
      vmm_state_put_u16 (w, ev->code);
      vmm_state_put_u32 (w, (uint32_t) ev->value);
    }
  vmm_state_end (w);
}

static gboolean
input_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
            bool apply, GError **error)
{
  struct vmm_virtio_input *in = dev->priv;
  g_autofree struct input_ev *ring = g_new0 (struct input_ev, VMM_INPUT_RING_EVENTS);
  struct vmm_state_reader r;
  uint8_t select, subsel;
  uint32_t kind, leds, count, old_leds;

  if (!vmm_state_reader_init (&r, f, name, INPUT_STATE_VERSION, error))
    return FALSE;
  kind = vmm_state_get_u32 (&r);
  select = vmm_state_get_u8 (&r);
  subsel = vmm_state_get_u8 (&r);
  leds = vmm_state_get_u32 (&r);
  count = vmm_state_get_u32 (&r);
  if (kind != in->kind)
    vmm_state_reader_fail (&r, N_("it is of another kind of input device"));
  for (unsigned code = 0; code < 32; code++)
    if (((leds >> code) & 1) && !has_code (in, EV_LED, code))
      vmm_state_reader_fail (&r, N_("an LED this device does not have"));
  if (count > VMM_INPUT_RING_EVENTS)
    {
      vmm_state_reader_fail (&r, N_("more events wait than the device keeps"));
      return vmm_state_reader_done (&r, error);
    }
  for (unsigned i = 0; i < count; i++)
    {
      struct input_ev *ev = &ring[i];
      bool syn;

      ev->type = vmm_state_get_u16 (&r);
      ev->code = vmm_state_get_u16 (&r);
      ev->value = (int32_t) vmm_state_get_u32 (&r);
      syn = ev->type == EV_SYN && ev->code == SYN_REPORT && ev->value == 0;
      /* Only events the device sends, and whole reports at the end
       * (queue_report); the first may have begun before (fill_events) */
      if ((!syn && !has_code (in, ev->type, ev->code)) || (i == count - 1 && !syn))
        vmm_state_reader_fail (&r, N_("an event this device does not send"));
    }
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  in->select = select;
  in->subsel = subsel;
  memcpy (in->ring, ring, count * sizeof *ring);
  in->head = 0;
  in->count = count;
  /* The host's LEDs show what the guest last set (the listener runs with
   * the lock held, as from the status queue) */
  old_leds = in->led_state;
  in->led_state = leds;
  if (leds != old_leds && in->leds.leds != NULL)
    in->leds.leds (in->leds.data, leds);
  return TRUE;
}

static const struct vmm_virtio_ops input_ops = {
  .name = "input",
  .device_id = VIRTIO_ID_INPUT,
  .pci_class = PCI_CLASS_INPUT_OTHER,
  .features = 0,
  .num_queues = 2,
  .queue_size = INPUT_QUEUE_SIZE,
  .config_size = CFG_LEN,
  .config_read = input_config_read,
  .config_write = input_config_write,
  .reset = input_reset,
  .queue_notify = input_queue_notify,
  .save = input_save,
  .load = input_load,
};

/* ---- the sink (the display server's thread) -------------------------------- */

static void
sink_key (void *data, uint16_t code, bool pressed)
{
  struct vmm_virtio_input *in = data;
  struct input_ev ev = { EV_KEY, code, pressed };

  if (!has_code (in, EV_KEY, code))
    return;
  pthread_mutex_lock (&in->dev.lock);
  queue_report (in, &ev, 1);
  pthread_mutex_unlock (&in->dev.lock);
}

/* X of 0 .. SIZE - 1 to 0 .. VMM_INPUT_ABS_MAX, rounded; past the edge is
 * the edge */
static int32_t
scale_abs (uint32_t x, uint32_t size)
{
  if (size <= 1)
    return 0;
  if (x > size - 1)
    x = size - 1;
  return (int32_t) (((uint64_t) x * VMM_INPUT_ABS_MAX + (size - 1) / 2) / (size - 1));
}

static void
sink_abs (void *data, uint32_t x, uint32_t y, uint32_t width, uint32_t height)
{
  struct vmm_virtio_input *in = data;
  struct input_ev evs[2] = {
    { EV_ABS, ABS_X, scale_abs (x, width) },
    { EV_ABS, ABS_Y, scale_abs (y, height) },
  };

  if (!has_code (in, EV_ABS, ABS_X) || width == 0 || height == 0)
    return;
  pthread_mutex_lock (&in->dev.lock);
  queue_report (in, evs, 2);
  pthread_mutex_unlock (&in->dev.lock);
}

static void
sink_rel (void *data, int32_t dx, int32_t dy)
{
  struct vmm_virtio_input *in = data;
  struct input_ev evs[2];
  unsigned n = 0;

  if (!has_code (in, EV_REL, REL_X))
    return;
  if (dx != 0)
    evs[n++] = (struct input_ev) { EV_REL, REL_X, dx };
  if (dy != 0)
    evs[n++] = (struct input_ev) { EV_REL, REL_Y, dy };
  if (n == 0)
    return;
  pthread_mutex_lock (&in->dev.lock);
  queue_report (in, evs, n);
  pthread_mutex_unlock (&in->dev.lock);
}

static void
sink_wheel (void *data, int32_t dy)
{
  struct vmm_virtio_input *in = data;
  struct input_ev ev = { EV_REL, REL_WHEEL, dy };

  if (!has_code (in, EV_REL, REL_WHEEL) || dy == 0)
    return;
  pthread_mutex_lock (&in->dev.lock);
  queue_report (in, &ev, 1);
  pthread_mutex_unlock (&in->dev.lock);
}

/* ---- construction ---------------------------------------------------------- */

static void
set_buttons (struct vmm_virtio_input *in)
{
  static const uint16_t buttons[] = { BTN_LEFT, BTN_RIGHT, BTN_MIDDLE, BTN_SIDE, BTN_EXTRA };

  for (unsigned i = 0; i < G_N_ELEMENTS (buttons); i++)
    set_code (in, EV_KEY, buttons[i]);
}

struct vmm_virtio_input *
vmm_virtio_input_new (const struct vmm_virtio_env *env, enum vmm_input_kind kind,
                      const struct vmm_input_led_listener *leds, GError **error)
{
  struct vmm_virtio_input *in;

  g_return_val_if_fail (kind <= VMM_INPUT_MOUSE, NULL);
  in = calloc (1, sizeof *in);
  if (in == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }
  in->kind = kind;
  if (leds != NULL)
    in->leds = *leds;
  switch (kind)
    {
    case VMM_INPUT_KEYBOARD:
      in->name = "Vivarium Keyboard";
      in->serial = "vivarium-keyboard";
      vmm_keymap_key_bits (in->ev_bits[EV_KEY], CFG_U_LEN);
      set_code (in, EV_LED, LED_NUML);
      set_code (in, EV_LED, LED_CAPSL);
      set_code (in, EV_LED, LED_SCROLLL);
      break;
    case VMM_INPUT_TABLET:
      in->name = "Vivarium Tablet";
      in->serial = "vivarium-tablet";
      set_code (in, EV_ABS, ABS_X);
      set_code (in, EV_ABS, ABS_Y);
      set_buttons (in);
      set_code (in, EV_REL, REL_WHEEL);
      break;
    case VMM_INPUT_MOUSE:
      in->name = "Vivarium Mouse";
      in->serial = "vivarium-mouse";
      set_code (in, EV_REL, REL_X);
      set_code (in, EV_REL, REL_Y);
      set_code (in, EV_REL, REL_WHEEL);
      set_buttons (in);
      break;
    }
  if (!vmm_virtio_pci_init (&in->dev, &input_ops, in, env, error))
    {
      free (in);
      return NULL;
    }
  return in;
}

struct vmm_virtio_dev *
vmm_virtio_input_dev (struct vmm_virtio_input *input)
{
  return &input->dev;
}

struct vmm_input_sink
vmm_virtio_input_sink (struct vmm_virtio_input *input)
{
  return (struct vmm_input_sink) {
    .key = sink_key,
    .abs = sink_abs,
    .rel = sink_rel,
    .wheel = sink_wheel,
    .data = input,
  };
}

uint64_t
vmm_virtio_input_dropped (struct vmm_virtio_input *input)
{
  uint64_t n;

  pthread_mutex_lock (&input->dev.lock);
  n = input->dropped;
  pthread_mutex_unlock (&input->dev.lock);
  return n;
}

void
vmm_virtio_input_free (struct vmm_virtio_input *input)
{
  if (input == NULL)
    return;
  vmm_virtio_pci_destroy (&input->dev);
  free (input);
}
