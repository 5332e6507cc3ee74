/* test-spice.c: the engine's SPICE server with a real SPICE client
 *
 * A fake display device feeds surfaces and flushed rectangles into
 * display/spice.c; a headless spice-client-glib session connects through
 * vmm_spice_connect_client()'s sockets (or the unix socket) and checks the
 * pixels it gets, and sends input that must reach a fake input sink as
 * Linux input codes. A fake guest agent on the agent port's peer
 * (vmm_spice_agent_peer()) speaks enough of the vdagent protocol for the
 * monitor configuration and the clipboard. No KVM.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <linux/input-event-codes.h>
#include <spice-client.h>
#include <spice/vd_agent.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "display/spice.h"

#define WAIT_SECONDS 60

/* ---- the fake input sink ---- */

enum ev_type { EV_KEY_EV, EV_ABS_EV, EV_REL_EV, EV_WHEEL_EV, EV_SIZE_EV };

struct ev {
  enum ev_type type;
  int32_t a, b, c, d;
};

struct sink {
  GMutex lock;
  GArray *events;
};

static void
sink_push (struct sink *sink, struct ev ev)
{
  g_mutex_lock (&sink->lock);
  g_array_append_val (sink->events, ev);
  g_mutex_unlock (&sink->lock);
  g_main_context_wakeup (NULL);
}

static void
sink_key (void *data, uint16_t code, bool pressed)
{
  sink_push (data, (struct ev) { EV_KEY_EV, code, pressed, 0, 0 });
}

static void
sink_abs (void *data, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
  sink_push (data, (struct ev) { EV_ABS_EV, (int32_t) x, (int32_t) y, (int32_t) w, (int32_t) h });
}

static void
sink_rel (void *data, int32_t dx, int32_t dy)
{
  sink_push (data, (struct ev) { EV_REL_EV, dx, dy, 0, 0 });
}

static void
sink_wheel (void *data, int32_t dy)
{
  sink_push (data, (struct ev) { EV_WHEEL_EV, dy, 0, 0, 0 });
}

static void
device_request_size (void *dev, uint32_t w, uint32_t h)
{
  sink_push (dev, (struct ev) { EV_SIZE_EV, (int32_t) w, (int32_t) h, 0, 0 });
}

static void
sink_init (struct sink *sink)
{
  g_mutex_init (&sink->lock);
  sink->events = g_array_new (FALSE, TRUE, sizeof (struct ev));
}

static void
sink_clear (struct sink *sink)
{
  g_array_unref (sink->events);
  g_mutex_clear (&sink->lock);
}

/* ---- waiting ---- */

static gboolean
keep_awake (gpointer data)
{
  (void) data;
  return G_SOURCE_CONTINUE;
}

/* Runs the default main context until COND (DATA) holds; FALSE after
 * WAIT_SECONDS (a loaded machine gets plenty of time) */
static gboolean
wait_for (gboolean (*cond) (gpointer), gpointer data)
{
  gint64 end = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;
  guint tick = g_timeout_add (100, keep_awake, NULL);
  gboolean ok;

  while (!(ok = cond (data)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

/* Runs the default main context for MS milliseconds */
static void
run_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  guint tick = g_timeout_add (20, keep_awake, NULL);

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

struct ev_wait {
  struct sink *sink;
  guint count;
};

static gboolean
have_events (gpointer data)
{
  struct ev_wait *w = data;
  gboolean ok;

  g_mutex_lock (&w->sink->lock);
  ok = w->sink->events->len >= w->count;
  g_mutex_unlock (&w->sink->lock);
  return ok;
}

/* Waits for the sink to have EXPECTED's events and checks they are them */
static void
assert_events (struct sink *sink, const struct ev *expected, guint n)
{
  struct ev_wait w = { sink, n };

  g_assert_true (wait_for (have_events, &w));
  g_mutex_lock (&sink->lock);
  g_assert_cmpuint (sink->events->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      const struct ev *got = &g_array_index (sink->events, struct ev, i);
      g_test_message ("event %u: %d %d %d %d %d", i, got->type, got->a, got->b, got->c, got->d);
      g_assert_cmpint (got->type, ==, expected[i].type);
      g_assert_cmpint (got->a, ==, expected[i].a);
      g_assert_cmpint (got->b, ==, expected[i].b);
      g_assert_cmpint (got->c, ==, expected[i].c);
      g_assert_cmpint (got->d, ==, expected[i].d);
    }
  g_array_set_size (sink->events, 0);
  g_mutex_unlock (&sink->lock);
}

/* ---- the fake display device ---- */

struct screen {
  uint32_t w, h;
  enum vmm_pixel_format format;
  uint8_t *pixels;              /* in FORMAT */
  uint8_t *expected;            /* B G R, as the client's xRGB primary has it */
};

static void
screen_put (struct screen *s, uint32_t x, uint32_t y, uint8_t r, uint8_t g, uint8_t b)
{
  uint8_t *p = s->pixels + ((size_t) y * s->w + x) * 4;
  uint8_t *e = s->expected + ((size_t) y * s->w + x) * 3;

  switch (s->format)
    {
    case VMM_PIXEL_XBGR8888:
      p[0] = r, p[1] = g, p[2] = b, p[3] = 0x55;
      break;
    case VMM_PIXEL_XRGB8888:
    default:
      p[0] = b, p[1] = g, p[2] = r, p[3] = 0x55;
      break;
    }
  e[0] = b, e[1] = g, e[2] = r;
}

/* Pattern SEED over [x0, x0 + w) × [y0, y0 + h) */
static void
screen_fill (struct screen *s, unsigned seed, uint32_t x0, uint32_t y0, uint32_t w, uint32_t h)
{
  for (uint32_t y = y0; y < y0 + h; y++)
    for (uint32_t x = x0; x < x0 + w; x++)
      screen_put (s, x, y, (uint8_t) (x * 7 + y + seed), (uint8_t) (y * 3 + seed * 11),
                  (uint8_t) ((x ^ y) + seed * 29));
}

static void
screen_init (struct screen *s, uint32_t w, uint32_t h, enum vmm_pixel_format format)
{
  g_free (s->pixels);
  g_free (s->expected);
  s->w = w;
  s->h = h;
  s->format = format;
  s->pixels = g_malloc0 ((size_t) w * h * 4);
  s->expected = g_malloc0 ((size_t) w * h * 3);
}

static struct vmm_display_surface
screen_surface (const struct screen *s)
{
  return (struct vmm_display_surface) {
    .width = s->w, .height = s->h, .stride = s->w * 4, .format = s->format, .pixels = s->pixels,
  };
}

static void
screen_show (struct screen *s, struct vmm_spice *spice)
{
  const struct vmm_display_listener *l = vmm_spice_display_listener (spice);
  struct vmm_display_surface surface = screen_surface (s);

  l->set_surface (l->data, &surface);
}

static void
screen_flush (struct screen *s, struct vmm_spice *spice, uint32_t x, uint32_t y, uint32_t w,
              uint32_t h)
{
  const struct vmm_display_listener *l = vmm_spice_display_listener (spice);
  struct vmm_display_surface surface = screen_surface (s);

  l->update (l->data, &surface, x, y, w, h);
}

static void
screen_clear (struct screen *s)
{
  g_clear_pointer (&s->pixels, g_free);
  g_clear_pointer (&s->expected, g_free);
}

/* ---- the client ---- */

struct client {
  struct vmm_spice *spice;
  SpiceSession *session;
  SpiceChannel *main;
  SpiceChannel *display;
  SpiceChannel *inputs;
  gboolean inputs_open;
  guint fds;
  /* The cursor as the client last saw it */
  gint cursor_sets, cursor_w, cursor_h, cursor_hot_x, cursor_hot_y;
  guint8 cursor_first[4];
  gint cursor_moves, cursor_x, cursor_y;
  gint cursor_hides;
  SpiceChannel *cursor_channel;
  gint black_w, black_h;        /* for primary_is_black */
  const struct screen *screen;  /* what the primary should show */
};

static void
on_open_fd (SpiceChannel *channel, gint with_tls, gpointer data)
{
  struct client *c = data;
  g_autoptr (GError) error = NULL;
  int fd;

  g_assert_false (with_tls);
  fd = vmm_spice_connect_client (c->spice, &error);
  g_assert_no_error (error);
  g_assert_cmpint (fd, >=, 0);
  c->fds++;
  g_assert_true (spice_channel_open_fd (channel, fd));
}

static void
on_channel_event (SpiceChannel *channel, SpiceChannelEvent event, gpointer data)
{
  struct client *c = data;

  if (SPICE_IS_INPUTS_CHANNEL (channel) && event == SPICE_CHANNEL_OPENED)
    c->inputs_open = TRUE;
  g_main_context_wakeup (NULL);
}

static void
on_cursor_set (SpiceCursorChannel *channel, gint w, gint h, gint hot_x, gint hot_y,
               gpointer rgba, gpointer data)
{
  struct client *c = data;

  (void) channel;
  c->cursor_sets++;
  c->cursor_w = w;
  c->cursor_h = h;
  c->cursor_hot_x = hot_x;
  c->cursor_hot_y = hot_y;
  if (rgba != NULL)
    memcpy (c->cursor_first, rgba, 4);
}

static void
on_cursor_move (SpiceCursorChannel *channel, gint x, gint y, gpointer data)
{
  struct client *c = data;

  (void) channel;
  c->cursor_moves++;
  c->cursor_x = x;
  c->cursor_y = y;
}

static void
on_cursor_hide (SpiceCursorChannel *channel, gpointer data)
{
  struct client *c = data;

  (void) channel;
  c->cursor_hides++;
}

static void
on_channel_new (SpiceSession *session, SpiceChannel *channel, gpointer data)
{
  struct client *c = data;

  (void) session;
  g_signal_connect (channel, "open-fd", G_CALLBACK (on_open_fd), c);
  g_signal_connect (channel, "channel-event", G_CALLBACK (on_channel_event), c);
  if (SPICE_IS_MAIN_CHANNEL (channel))
    c->main = channel;
  else if (SPICE_IS_DISPLAY_CHANNEL (channel))
    {
      c->display = channel;
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_INPUTS_CHANNEL (channel))
    {
      c->inputs = channel;
      spice_channel_connect (channel);
    }
  else if (SPICE_IS_CURSOR_CHANNEL (channel))
    {
      c->cursor_channel = channel;
      g_signal_connect (channel, "cursor-set", G_CALLBACK (on_cursor_set), c);
      g_signal_connect (channel, "cursor-move", G_CALLBACK (on_cursor_move), c);
      g_signal_connect (channel, "cursor-hide", G_CALLBACK (on_cursor_hide), c);
      spice_channel_connect (channel);
    }
}

/* Through vmm_spice_connect_client()'s sockets, or UNIX_PATH */
static void
client_connect (struct client *c, struct vmm_spice *spice, const char *unix_path)
{
  memset (c, 0, sizeof *c);
  c->spice = spice;
  c->session = spice_session_new ();
  g_signal_connect (c->session, "channel-new", G_CALLBACK (on_channel_new), c);
  if (unix_path != NULL)
    {
      g_object_set (c->session, "unix-path", unix_path, NULL);
      g_assert_true (spice_session_connect (c->session));
    }
  else
    {
      /* -1: every channel asks for its socket with SpiceChannel::open-fd */
      g_assert_true (spice_session_open_fd (c->session, -1));
    }
}

static gboolean
no_channels (gpointer data)
{
  struct client *c = data;
  GList *channels = spice_session_get_channels (c->session);
  gboolean none = channels == NULL;

  g_list_free (channels);
  return none;
}

static void
client_disconnect (struct client *c)
{
  spice_session_disconnect (c->session);
  g_assert_true (wait_for (no_channels, c));
  g_clear_object (&c->session);
}

static gboolean
primary_shows_screen (gpointer data)
{
  struct client *c = data;
  const struct screen *s = c->screen;
  SpiceDisplayPrimary primary;

  if (c->display == NULL || !spice_display_channel_get_primary (c->display, 0, &primary))
    return FALSE;
  if (primary.width != (gint) s->w || primary.height != (gint) s->h
      || primary.format != SPICE_SURFACE_FMT_32_xRGB)
    return FALSE;
  for (uint32_t y = 0; y < s->h; y++)
    for (uint32_t x = 0; x < s->w; x++)
      {
        const uint8_t *p = primary.data + (size_t) y * (size_t) primary.stride + (size_t) x * 4;
        const uint8_t *e = s->expected + ((size_t) y * s->w + x) * 3;
        if (p[0] != e[0] || p[1] != e[1] || p[2] != e[2])
          return FALSE;
      }
  return TRUE;
}

/* The black primary surface the server shows while the guest shows
 * nothing, of c->black_w × c->black_h */
static gboolean
primary_is_black (gpointer data)
{
  struct client *c = data;
  SpiceDisplayPrimary primary;

  if (c->display == NULL || !spice_display_channel_get_primary (c->display, 0, &primary)
      || primary.width != c->black_w || primary.height != c->black_h)
    return FALSE;
  for (gint y = 0; y < primary.height; y++)
    for (gint x = 0; x < primary.width; x++)
      {
        const uint8_t *p = primary.data + (size_t) y * (size_t) primary.stride + (size_t) x * 4;
        if (p[0] != 0 || p[1] != 0 || p[2] != 0)
          return FALSE;
      }
  return TRUE;
}

static gboolean
cursor_channel_up (gpointer data)
{
  struct client *c = data;

  return c->cursor_channel != NULL;
}

static void
assert_client_shows (struct client *c, const struct screen *s)
{
  c->screen = s;
  g_assert_true (wait_for (primary_shows_screen, c));
}

static gboolean
inputs_ready (gpointer data)
{
  struct client *c = data;
  return c->inputs != NULL && c->inputs_open;
}

static gboolean
mouse_mode_is (struct client *c, gint mode)
{
  gint got = 0;

  if (c->main == NULL)
    return FALSE;
  g_object_get (c->main, "mouse-mode", &got, NULL);
  return got == mode;
}

static gboolean
mouse_mode_client (gpointer data)
{
  return mouse_mode_is (data, SPICE_MOUSE_MODE_CLIENT);
}

static gint
key_modifiers (struct client *c)
{
  gint mods = -1;

  g_object_get (c->inputs, "key-modifiers", &mods, NULL);
  return mods;
}

static gboolean
modifiers_caps_num (gpointer data)
{
  return key_modifiers (data) == (SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK
                                  | SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK);
}

static gboolean
modifiers_none (gpointer data)
{
  return key_modifiers (data) == 0;
}

static gboolean
cursor_set_seen (gpointer data)
{
  struct client *c = data;
  return c->cursor_sets > 0 && c->cursor_w == 32;
}

static gboolean
cursor_moved (gpointer data)
{
  struct client *c = data;
  return c->cursor_moves > 0 && c->cursor_x == 40 && c->cursor_y == 30;
}

static gboolean
cursor_hidden (gpointer data)
{
  struct client *c = data;
  return c->cursor_hides > 0;
}

/* ---- tests ---- */

struct fixture {
  struct sink sink;
  struct vmm_spice *spice;
  struct screen screen;
};

/* SIZES: the display device takes new sizes (else spice gives monitor
 * configurations to the agent) */
static void
fixture_start_full (struct fixture *f, bool tablet, bool sizes)
{
  struct vmm_input_sink input = {
    .key = sink_key, .abs = tablet ? sink_abs : NULL, .rel = sink_rel, .wheel = sink_wheel,
    .data = &f->sink,
  };
  struct vmm_display_device device = {
    .request_size = sizes ? device_request_size : NULL, .dev = &f->sink,
  };
  struct vmm_spice_config config = { .input = &input, .device = &device };
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  sink_init (&f->sink);
  f->spice = vmm_spice_new (&config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (f->spice);
}

static void
fixture_start (struct fixture *f, bool tablet)
{
  fixture_start_full (f, tablet, true);
}

static void
fixture_stop (struct fixture *f)
{
  vmm_spice_free (f->spice);
  screen_clear (&f->screen);
  sink_clear (&f->sink);
}

/* The primary surface has the scanout's size and the pattern's pixels,
 * flushed rectangles arrive, a new size makes a new primary */
static void
test_display (void)
{
  struct fixture f;
  struct client c;

  fixture_start (&f, true);
  screen_init (&f.screen, 320, 200, VMM_PIXEL_XBGR8888);
  screen_fill (&f.screen, 1, 0, 0, 320, 200);
  screen_show (&f.screen, f.spice);

  client_connect (&c, f.spice, NULL);
  assert_client_shows (&c, &f.screen);

  /* Small rectangles, one at a corner */
  screen_fill (&f.screen, 2, 10, 20, 50, 40);
  screen_flush (&f.screen, f.spice, 10, 20, 50, 40);
  screen_fill (&f.screen, 3, 319, 199, 1, 1);
  screen_flush (&f.screen, f.spice, 319, 199, 1, 1);
  assert_client_shows (&c, &f.screen);

  /* Many flushes at once: merged, but all there */
  for (unsigned i = 0; i < 100; i++)
    {
      screen_fill (&f.screen, 4 + i, (i * 13) % 300, (i * 7) % 190, 20, 10);
      screen_flush (&f.screen, f.spice, (i * 13) % 300, (i * 7) % 190, 20, 10);
    }
  assert_client_shows (&c, &f.screen);

  /* A new size, another format */
  screen_init (&f.screen, 400, 300, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 5, 0, 0, 400, 300);
  screen_show (&f.screen, f.spice);
  assert_client_shows (&c, &f.screen);

  /* The same size again: a new surface, all of it new */
  screen_fill (&f.screen, 6, 0, 0, 400, 300);
  screen_show (&f.screen, f.spice);
  assert_client_shows (&c, &f.screen);

  /* Nothing (a reset): black at the same size; then a screen again */
  {
    const struct vmm_display_listener *l = vmm_spice_display_listener (f.spice);
    l->set_surface (l->data, NULL);
  }
  c.black_w = 400;
  c.black_h = 300;
  g_assert_true (wait_for (primary_is_black, &c));
  screen_fill (&f.screen, 7, 0, 0, 400, 300);
  screen_show (&f.screen, f.spice);
  assert_client_shows (&c, &f.screen);

  /* Nothing and at once a screen of the same size, before the surface
   * job on the server's thread ran (a revert to a snapshot does this): the
   * screen comes, and flushes after it do too. Twenty times: the job runs
   * between the two only by chance. */
  for (unsigned i = 0; i < 20; i++)
    {
      const struct vmm_display_listener *l = vmm_spice_display_listener (f.spice);

      screen_fill (&f.screen, 8 + i, 0, 0, 400, 300);
      l->set_surface (l->data, NULL);
      screen_show (&f.screen, f.spice);
    }
  assert_client_shows (&c, &f.screen);
  screen_fill (&f.screen, 40, 10, 20, 30, 30);
  screen_flush (&f.screen, f.spice, 10, 20, 30, 30);
  assert_client_shows (&c, &f.screen);

  client_disconnect (&c);
  fixture_stop (&f);
}

/* A client before the guest's first screen: a black 640x480 primary and
 * the cursor channel up; then the screen comes. spice-client-glib's
 * criticals are fatal here: a second CURSOR_INIT (the server's reply to a
 * primary that came after the cursor channel) would end the test. */
static void
test_early_client (void)
{
  struct fixture f;
  struct client c;

  fixture_start (&f, true);
  client_connect (&c, f.spice, NULL);
  c.black_w = 640;
  c.black_h = 480;
  g_assert_true (wait_for (primary_is_black, &c));
  g_assert_true (wait_for (cursor_channel_up, &c));
  run_for (300);

  screen_init (&f.screen, 320, 200, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 3, 0, 0, 320, 200);
  screen_show (&f.screen, f.spice);
  assert_client_shows (&c, &f.screen);
  run_for (300);

  client_disconnect (&c);
  fixture_stop (&f);
}

/* Keys as Linux codes; the tablet in client mouse mode: positions,
 * buttons, the wheel */
static void
test_tablet_keyboard (void)
{
  struct fixture f;
  struct client c;

  fixture_start (&f, true);
  screen_init (&f.screen, 640, 480, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 1, 0, 0, 640, 480);
  screen_show (&f.screen, f.spice);

  client_connect (&c, f.spice, NULL);
  assert_client_shows (&c, &f.screen);
  g_assert_true (wait_for (inputs_ready, &c));
  g_assert_true (wait_for (mouse_mode_client, &c));

  spice_inputs_channel_key_press (SPICE_INPUTS_CHANNEL (c.inputs), 0x1e);
  spice_inputs_channel_key_release (SPICE_INPUTS_CHANNEL (c.inputs), 0x1e);
  spice_inputs_channel_key_press (SPICE_INPUTS_CHANNEL (c.inputs), 0x148);
  spice_inputs_channel_key_press (SPICE_INPUTS_CHANNEL (c.inputs), 0x11d);
  spice_inputs_channel_key_release (SPICE_INPUTS_CHANNEL (c.inputs), 0x11d);
  spice_inputs_channel_key_release (SPICE_INPUTS_CHANNEL (c.inputs), 0x148);
  {
    const struct ev keys[] = {
      { EV_KEY_EV, KEY_A, 1, 0, 0 },
      { EV_KEY_EV, KEY_A, 0, 0, 0 },
      { EV_KEY_EV, KEY_UP, 1, 0, 0 },
      { EV_KEY_EV, KEY_RIGHTCTRL, 1, 0, 0 },
      { EV_KEY_EV, KEY_RIGHTCTRL, 0, 0, 0 },
      { EV_KEY_EV, KEY_UP, 0, 0, 0 },
    };
    assert_events (&f.sink, keys, G_N_ELEMENTS (keys));
  }

  spice_inputs_channel_position (SPICE_INPUTS_CHANNEL (c.inputs), 100, 50, 0, 0);
  {
    const struct ev moved[] = { { EV_ABS_EV, 100, 50, 640, 480 } };
    assert_events (&f.sink, moved, G_N_ELEMENTS (moved));
  }

  spice_inputs_channel_button_press (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_LEFT, 0);
  spice_inputs_channel_button_release (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_LEFT,
                                       SPICE_MOUSE_BUTTON_MASK_LEFT);
  spice_inputs_channel_button_press (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_RIGHT, 0);
  spice_inputs_channel_button_release (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_RIGHT,
                                       SPICE_MOUSE_BUTTON_MASK_RIGHT);
  spice_inputs_channel_button_press (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_press (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_DOWN, 0);
  spice_inputs_channel_button_release (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_DOWN, 0);
  {
    const struct ev buttons[] = {
      { EV_KEY_EV, BTN_LEFT, 1, 0, 0 },
      { EV_KEY_EV, BTN_LEFT, 0, 0, 0 },
      { EV_KEY_EV, BTN_RIGHT, 1, 0, 0 },
      { EV_KEY_EV, BTN_RIGHT, 0, 0, 0 },
      { EV_WHEEL_EV, 1, 0, 0, 0 },
      { EV_WHEEL_EV, -1, 0, 0, 0 },
    };
    assert_events (&f.sink, buttons, G_N_ELEMENTS (buttons));
  }

  /* The guest's LEDs reach the client */
  const struct vmm_input_led_listener *leds = vmm_spice_led_listener (f.spice);
  leds->leds (leds->data, 1u << LED_CAPSL | 1u << LED_NUML);
  c.screen = NULL;
  g_assert_true (wait_for (modifiers_caps_num, &c));
  leds->leds (leds->data, 0);
  g_assert_true (wait_for (modifiers_none, &c));

  client_disconnect (&c);
  fixture_stop (&f);
}

/* Without a tablet: server mouse mode, relative motion */
static void
test_mouse (void)
{
  struct fixture f;
  struct client c;

  fixture_start (&f, false);
  screen_init (&f.screen, 64, 48, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 1, 0, 0, 64, 48);
  screen_show (&f.screen, f.spice);

  client_connect (&c, f.spice, NULL);
  assert_client_shows (&c, &f.screen);
  g_assert_true (wait_for (inputs_ready, &c));
  g_assert_true (mouse_mode_is (&c, SPICE_MOUSE_MODE_SERVER));

  spice_inputs_channel_motion (SPICE_INPUTS_CHANNEL (c.inputs), 5, -3, 0);
  spice_inputs_channel_button_press (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_MIDDLE, 0);
  spice_inputs_channel_button_release (SPICE_INPUTS_CHANNEL (c.inputs), SPICE_MOUSE_BUTTON_MIDDLE,
                                       SPICE_MOUSE_BUTTON_MASK_MIDDLE);
  {
    const struct ev expected[] = {
      { EV_REL_EV, 5, -3, 0, 0 },
      { EV_KEY_EV, BTN_MIDDLE, 1, 0, 0 },
      { EV_KEY_EV, BTN_MIDDLE, 0, 0, 0 },
    };
    assert_events (&f.sink, expected, G_N_ELEMENTS (expected));
  }

  /* The cursor: its image and hot spot, moves, hidden (server mouse mode:
   * the client draws it where the server says) */
  {
    const struct vmm_display_listener *l = vmm_spice_display_listener (f.spice);
    g_autofree guint8 *pixels = g_malloc (32 * 32 * 4);
    struct vmm_display_cursor cursor = {
      .width = 32, .height = 32, .hot_x = 3, .hot_y = 5, .pixels = pixels,
    };
    for (unsigned i = 0; i < 32 * 32; i++)
      memcpy (pixels + i * 4, "\x10\x20\x30\xff", 4);
    l->set_cursor (l->data, &cursor, 10, 10);
    g_assert_true (wait_for (cursor_set_seen, &c));
    g_assert_cmpint (c.cursor_h, ==, 32);
    g_assert_cmpint (c.cursor_hot_x, ==, 3);
    g_assert_cmpint (c.cursor_hot_y, ==, 5);
    l->move_cursor (l->data, 40, 30);
    g_assert_true (wait_for (cursor_moved, &c));
    l->set_cursor (l->data, NULL, 0, 0);
    g_assert_true (wait_for (cursor_hidden, &c));
  }

  client_disconnect (&c);
  fixture_stop (&f);
}

/* A client leaves, another comes: it sees the screen, as it is now, and
 * its input arrives */
static void
test_reconnect (void)
{
  struct fixture f;
  struct client c;

  fixture_start (&f, true);
  screen_init (&f.screen, 200, 100, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 1, 0, 0, 200, 100);
  screen_show (&f.screen, f.spice);

  for (unsigned round = 0; round < 3; round++)
    {
      client_connect (&c, f.spice, NULL);
      assert_client_shows (&c, &f.screen);
      g_assert_true (wait_for (inputs_ready, &c));
      g_assert_cmpuint (c.fds, >=, 3);      /* main, display, inputs... */
      spice_inputs_channel_key_press (SPICE_INPUTS_CHANNEL (c.inputs), 0x1c);
      spice_inputs_channel_key_release (SPICE_INPUTS_CHANNEL (c.inputs), 0x1c);
      {
        const struct ev keys[] = {
          { EV_KEY_EV, KEY_ENTER, 1, 0, 0 },
          { EV_KEY_EV, KEY_ENTER, 0, 0, 0 },
        };
        assert_events (&f.sink, keys, G_N_ELEMENTS (keys));
      }
      client_disconnect (&c);

      /* What changes while nobody looks is there for the next one */
      screen_fill (&f.screen, 10 + round, 30, 30, 100, 50);
      screen_flush (&f.screen, f.spice, 30, 30, 100, 50);
    }
  fixture_stop (&f);
}

/* A stock client's route: the unix socket, mode 0600 */
static void
test_listen_unix (void)
{
  struct fixture f;
  struct client c;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vivarium-spice-XXXXXX", &error);
  g_autofree char *path = NULL;
  struct stat st;

  g_assert_no_error (error);
  path = g_build_filename (dir, "spice.sock", NULL);
  fixture_start (&f, true);
  screen_init (&f.screen, 160, 120, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 7, 0, 0, 160, 120);
  screen_show (&f.screen, f.spice);

  g_assert_true (vmm_spice_listen_unix (f.spice, path, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_false (vmm_spice_listen_unix (f.spice, path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);

  for (unsigned round = 0; round < 2; round++)
    {
      client_connect (&c, f.spice, path);
      assert_client_shows (&c, &f.screen);
      g_assert_cmpuint (c.fds, ==, 0);
      client_disconnect (&c);
    }

  fixture_stop (&f);
  g_assert_cmpint (lstat (path, &st), ==, -1);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* The PNG's pixels, decoded: 8-bit RGB, filter 0 rows as we write them */
static guint8 *
read_png_rgb (const char *path, uint32_t *w, uint32_t *h)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;
  const guint8 *p;
  g_autoptr (GByteArray) idat = g_byte_array_new ();

  g_assert_true (g_file_get_contents (path, &data, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (len, >, 8 + 25 + 12);
  g_assert_cmpmem (data, 8, "\x89PNG\r\n\x1a\n", 8);
  p = (const guint8 *) data + 8;
  while (p < (const guint8 *) data + len)
    {
      uint32_t clen = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
      g_assert_cmpuint (clen, <=, len - (gsize) (p - (const guint8 *) data) - 12);
      uint32_t crc = (uint32_t) crc32 (0, p + 4, clen + 4);
      const guint8 *c = p + 8 + clen;
      g_assert_cmpuint (crc, ==, (uint32_t) c[0] << 24 | (uint32_t) c[1] << 16
                                 | (uint32_t) c[2] << 8 | c[3]);
      if (memcmp (p + 4, "IHDR", 4) == 0)
        {
          const guint8 *d = p + 8;
          *w = (uint32_t) d[0] << 24 | (uint32_t) d[1] << 16 | (uint32_t) d[2] << 8 | d[3];
          *h = (uint32_t) d[4] << 24 | (uint32_t) d[5] << 16 | (uint32_t) d[6] << 8 | d[7];
          g_assert_cmpuint (d[8], ==, 8);
          g_assert_cmpuint (d[9], ==, 2);
        }
      else if (memcmp (p + 4, "IDAT", 4) == 0)
        g_byte_array_append (idat, p + 8, clen);
      p += 12 + clen;
    }
  uLongf raw_len = (uLongf) (*w * 3 + 1) * *h;
  guint8 *raw = g_malloc (raw_len);
  g_assert_cmpint (uncompress (raw, &raw_len, idat->data, idat->len), ==, Z_OK);
  g_assert_cmpuint (raw_len, ==, (uLongf) (*w * 3 + 1) * *h);
  guint8 *rgb = g_malloc ((size_t) *w * *h * 3);
  for (uint32_t y = 0; y < *h; y++)
    {
      g_assert_cmpuint (raw[y * (*w * 3 + 1)], ==, 0);
      memcpy (rgb + (size_t) y * *w * 3, raw + y * (*w * 3 + 1) + 1, (size_t) *w * 3);
    }
  g_free (raw);
  return rgb;
}

static void
screen_solid (struct screen *s, uint32_t x0, uint32_t w, uint8_t r, uint8_t g, uint8_t b)
{
  for (uint32_t y = 0; y < s->h; y++)
    for (uint32_t x = x0; x < x0 + w; x++)
      screen_put (s, x, y, r, g, b);
}

/* Thumbnails: about 320 px wide, the screen's colours, written only when
 * the screen changed */
static void
count_change (void *data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
test_thumbnail (void)
{
  struct fixture f;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vivarium-thumb-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "thumbnail.png", NULL);
  g_autofree guint8 *rgb = NULL;
  uint32_t w = 0, h = 0;

  gint changes = 0;

  fixture_start (&f, true);
  vmm_spice_set_changed_fn (f.spice, count_change, &changes);
  /* No screen yet: nothing */
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_atomic_int_get (&changes), ==, 0);

  screen_init (&f.screen, 1280, 720, VMM_PIXEL_XBGR8888);
  screen_solid (&f.screen, 0, 640, 0xff, 0x00, 0x00);
  screen_solid (&f.screen, 640, 640, 0x00, 0x40, 0xff);
  screen_show (&f.screen, f.spice);
  /* Told once about the change, however many flushes follow before the
   * thumbnail is written: the service's timer is one-shot */
  screen_flush (&f.screen, f.spice, 0, 0, 10, 10);
  g_assert_cmpint (g_atomic_int_get (&changes), ==, 1);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 1);
  g_assert_no_error (error);
  rgb = read_png_rgb (path, &w, &h);
  g_assert_cmpuint (w, ==, 320);
  g_assert_cmpuint (h, ==, 180);
  g_assert_cmpmem (rgb, 3, "\xff\x00\x00", 3);
  g_assert_cmpmem (rgb + (159 * 320 + 159) * 3, 3, "\xff\x00\x00", 3);
  g_assert_cmpmem (rgb + (20 * 320 + 160) * 3, 3, "\x00\x40\xff", 3);
  g_assert_cmpmem (rgb + (179 * 320 + 319) * 3, 3, "\x00\x40\xff", 3);
  g_clear_pointer (&rgb, g_free);

  /* Still: nothing written */
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 0);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  g_assert_cmpint (g_atomic_int_get (&changes), ==, 1);

  /* A flush: told again, and a new one */
  screen_solid (&f.screen, 0, 640, 0x00, 0xff, 0x00);
  screen_flush (&f.screen, f.spice, 0, 0, 640, 720);
  g_assert_cmpint (g_atomic_int_get (&changes), ==, 2);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 1);
  rgb = read_png_rgb (path, &w, &h);
  g_assert_cmpmem (rgb + (90 * 320 + 10) * 3, 3, "\x00\xff\x00", 3);
  g_clear_pointer (&rgb, g_free);

  /* Failing to write: an error, and it is tried again */
  g_autofree char *bad = g_build_filename (dir, "missing", "thumbnail.png", NULL);
  screen_flush (&f.screen, f.spice, 0, 0, 1, 1);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, bad, &error), ==, -1);
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 1);

  /* Small screens are not scaled up */
  screen_init (&f.screen, 100, 50, VMM_PIXEL_XRGB8888);
  screen_solid (&f.screen, 0, 100, 1, 2, 3);
  screen_show (&f.screen, f.spice);
  g_assert_cmpint (vmm_spice_write_thumbnail_if_changed (f.spice, path, &error), ==, 1);
  rgb = read_png_rgb (path, &w, &h);
  g_assert_cmpuint (w, ==, 100);
  g_assert_cmpuint (h, ==, 50);

  fixture_stop (&f);
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* ---- the fake guest agent, on the agent port's peer ---- */

/* What the agent got: whole VDAgentMessages (header and data) */
struct agent {
  const struct vmm_chardev_peer *peer;
  GByteArray *in;               /* chunks not yet taken apart */
  GByteArray *stream;           /* the client port's message stream */
  GPtrArray *messages;          /* GByteArray each */
  guint kicks;
};

static void
agent_kick (void *data)
{
  struct agent *a = data;

  g_atomic_int_inc (&a->kicks);
  g_main_context_wakeup (NULL);
}

static void
agent_attach (struct agent *a, struct vmm_spice *spice)
{
  memset (a, 0, sizeof *a);
  a->peer = vmm_spice_agent_peer (spice);
  a->in = g_byte_array_new ();
  a->stream = g_byte_array_new ();
  a->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  a->peer->ops->attach (a->peer->data, agent_kick, a);
  g_assert_true (a->peer->ops->connected (a->peer->data));
}

static void
agent_detach (struct agent *a)
{
  a->peer->ops->attach (a->peer->data, NULL, NULL);
  g_byte_array_unref (a->in);
  g_byte_array_unref (a->stream);
  g_ptr_array_unref (a->messages);
}

static void
agent_open (struct agent *a, bool open)
{
  a->peer->ops->guest_open (a->peer->data, open);
  g_byte_array_set_size (a->in, 0);
  g_byte_array_set_size (a->stream, 0);
  g_ptr_array_set_size (a->messages, 0);
}

/* Takes what spice wrote apart: VDIChunkHeaders, then the messages of
 * the client port's stream */
static void
agent_pump (struct agent *a)
{
  guint8 buf[1000];
  size_t n;

  while ((n = a->peer->ops->read (a->peer->data, buf, sizeof buf)) > 0)
    g_byte_array_append (a->in, buf, (guint) n);
  while (a->in->len >= sizeof (VDIChunkHeader))
    {
      VDIChunkHeader chunk;

      memcpy (&chunk, a->in->data, sizeof chunk);
      g_assert_cmpuint (chunk.size, <=, VD_AGENT_MAX_DATA_SIZE);
      if (a->in->len < sizeof chunk + chunk.size)
        break;
      if (chunk.port == VDP_CLIENT_PORT)
        g_byte_array_append (a->stream, a->in->data + sizeof chunk, chunk.size);
      g_byte_array_remove_range (a->in, 0, (guint) (sizeof chunk + chunk.size));
    }
  while (a->stream->len >= sizeof (VDAgentMessage))
    {
      VDAgentMessage msg;
      GByteArray *whole;

      memcpy (&msg, a->stream->data, sizeof msg);
      g_assert_cmpuint (msg.protocol, ==, VD_AGENT_PROTOCOL);
      if (a->stream->len < sizeof msg + msg.size)
        break;
      whole = g_byte_array_new ();
      g_byte_array_append (whole, a->stream->data, (guint) (sizeof msg + msg.size));
      g_ptr_array_add (a->messages, whole);
      g_byte_array_remove_range (a->stream, 0, (guint) (sizeof msg + msg.size));
    }
}

struct agent_wait {
  struct agent *a;
  uint32_t type;
  GByteArray *found;
};

static gboolean
agent_has (gpointer data)
{
  struct agent_wait *w = data;

  agent_pump (w->a);
  for (guint i = 0; i < w->a->messages->len; i++)
    {
      GByteArray *m = g_ptr_array_index (w->a->messages, i);
      VDAgentMessage msg;

      memcpy (&msg, m->data, sizeof msg);
      g_test_message ("agent: message type %u, %u bytes", msg.type, msg.size);
      if (msg.type == w->type)
        {
          w->found = g_ptr_array_steal_index (w->a->messages, i);
          return TRUE;
        }
    }
  return FALSE;
}

/* Waits for a message of TYPE; returns its data (after the header), and
 * *SIZE its size. Messages of other types before it are dropped. */
static guint8 *
agent_expect (struct agent *a, uint32_t type, uint32_t *size)
{
  struct agent_wait w = { a, type, NULL };
  VDAgentMessage msg;
  guint8 *data;

  if (!wait_for (agent_has, &w))
    g_error ("the agent got no message of type %u", type);
  memcpy (&msg, w.found->data, sizeof msg);
  *size = msg.size;
  data = g_memdup2 (w.found->data + sizeof msg, msg.size);
  g_byte_array_unref (w.found);
  return data;
}

struct agent_write {
  struct agent *a;
  const guint8 *data;
  size_t len, done;
  guint short_writes;
};

static gboolean
agent_written (gpointer data)
{
  struct agent_write *w = data;
  size_t n;

  agent_pump (w->a);
  n = w->a->peer->ops->write (w->a->peer->data, w->data + w->done, w->len - w->done);
  if (n < w->len - w->done)
    w->short_writes++;
  w->done += n;
  return w->done == w->len;
}

/* The agent sends a message of TYPE to the client, in chunks of at most
 * VD_AGENT_MAX_DATA_SIZE. Returns how often the port was full. */
static guint
agent_send (struct agent *a, uint32_t type, const void *data, uint32_t size)
{
  VDAgentMessage msg = { .protocol = VD_AGENT_PROTOCOL, .type = type, .opaque = 0,
                         .size = size };
  g_autoptr (GByteArray) stream = g_byte_array_new ();
  g_autoptr (GByteArray) out = g_byte_array_new ();
  struct agent_write w;

  g_byte_array_append (stream, (const guint8 *) &msg, sizeof msg);
  g_byte_array_append (stream, data, size);
  for (guint off = 0; off < stream->len; off += VD_AGENT_MAX_DATA_SIZE)
    {
      VDIChunkHeader chunk = { .port = VDP_CLIENT_PORT,
                               .size = MIN (VD_AGENT_MAX_DATA_SIZE, stream->len - off) };

      g_byte_array_append (out, (const guint8 *) &chunk, sizeof chunk);
      g_byte_array_append (out, stream->data + off, chunk.size);
    }
  w = (struct agent_write) { a, out->data, out->len, 0, 0 };
  g_assert_true (wait_for (agent_written, &w));
  return w.short_writes;
}

/* ---- the client's side of the agent ---- */

struct clip {
  struct client *c;
  guint grabs;
  guint32 grab_type;
  GString *got;                 /* clipboard data the client received */
  const char *expect;           /* what it should be */
  const char *offer;            /* what it gives when asked */
  guint requests;
};

static gboolean
on_clipboard_grab (SpiceMainChannel *main, guint selection, gpointer types, guint ntypes,
                   gpointer data)
{
  struct clip *clip = data;

  clip->grabs++;
  clip->grab_type = ntypes > 0 ? ((const guint32 *) types)[0] : 0;
  /* The guest has text: ask for it, as a client whose user pastes */
  spice_main_channel_clipboard_selection_request (main, selection, clip->grab_type);
  return TRUE;
}

static void
on_clipboard (SpiceMainChannel *main, guint selection, guint type, gpointer bytes, guint size,
              gpointer data)
{
  struct clip *clip = data;

  (void) main;
  (void) selection;
  g_assert_cmpuint (type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
  g_string_truncate (clip->got, 0);
  g_string_append_len (clip->got, bytes, size);
}

static gboolean
on_clipboard_request (SpiceMainChannel *main, guint selection, guint type, gpointer data)
{
  struct clip *clip = data;

  clip->requests++;
  g_assert_cmpuint (type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
  spice_main_channel_clipboard_selection_notify (main, selection, type,
                                                 (const guchar *) clip->offer,
                                                 strlen (clip->offer));
  return TRUE;
}

static gboolean
agent_connected (gpointer data)
{
  struct client *c = data;
  gboolean connected = FALSE;

  if (c->main != NULL)
    g_object_get (c->main, "agent-connected", &connected, NULL);
  return connected;
}

static gboolean
agent_gone (gpointer data)
{
  return !agent_connected (data);
}

static gboolean
client_knows_agent_caps (gpointer data)
{
  struct client *c = data;

  return spice_main_channel_agent_test_capability (SPICE_MAIN_CHANNEL (c->main),
                                                   VD_AGENT_CAP_MONITORS_CONFIG)
         && spice_main_channel_agent_test_capability (SPICE_MAIN_CHANNEL (c->main),
                                                      VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
}

static gboolean
clip_got_text (gpointer data)
{
  struct clip *clip = data;

  return strcmp (clip->got->str, clip->expect) == 0;
}

/* The agent announces what it can (MONITORS_CONFIG, CLIPBOARD_BY_DEMAND),
 * after taking the client's announcement */
static void
agent_handshake (struct agent *a, struct client *c)
{
  g_autofree guint8 *caps_in = NULL;
  uint32_t size;
  struct {
    VDAgentAnnounceCapabilities head;
    uint32_t caps[VD_AGENT_CAPS_SIZE_FROM_MSG_SIZE (sizeof (VDAgentAnnounceCapabilities) + 4)];
  } announce = { 0 };

  caps_in = agent_expect (a, VD_AGENT_ANNOUNCE_CAPABILITIES, &size);
  g_assert_cmpuint (size, >=, sizeof (VDAgentAnnounceCapabilities) + 4);
  VD_AGENT_SET_CAPABILITY (announce.caps, VD_AGENT_CAP_MONITORS_CONFIG);
  VD_AGENT_SET_CAPABILITY (announce.caps, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
  agent_send (a, VD_AGENT_ANNOUNCE_CAPABILITIES, &announce, sizeof announce);
  g_assert_true (wait_for (client_knows_agent_caps, c));
}

/* The guest agent: connected when the guest opens the port, gone when it
 * closes it; the client's monitor configuration reaches it, and clipboard
 * text goes both ways */
static void
test_agent (void)
{
  struct fixture f;
  struct client c;
  struct agent a;
  struct clip clip = { .got = g_string_new (NULL), .offer = "text from the client" };
  g_autofree guint8 *data = NULL;
  uint32_t size;

  /* A display device that takes no sizes: monitor configurations go to
   * the agent */
  fixture_start_full (&f, true, false);
  screen_init (&f.screen, 320, 200, VMM_PIXEL_XRGB8888);
  screen_fill (&f.screen, 1, 0, 0, 320, 200);
  screen_show (&f.screen, f.spice);
  agent_attach (&a, f.spice);

  client_connect (&c, f.spice, NULL);
  assert_client_shows (&c, &f.screen);
  g_assert_false (agent_connected (&c));
  clip.c = &c;
  g_signal_connect (c.main, "main-clipboard-selection-grab", G_CALLBACK (on_clipboard_grab),
                    &clip);
  g_signal_connect (c.main, "main-clipboard-selection", G_CALLBACK (on_clipboard), &clip);
  g_signal_connect (c.main, "main-clipboard-selection-request",
                    G_CALLBACK (on_clipboard_request), &clip);

  /* The guest's agent opens the port */
  agent_open (&a, true);
  g_assert_true (wait_for (agent_connected, &c));
  agent_handshake (&a, &c);

  /* A monitor configuration from the client */
  spice_main_channel_update_display_enabled (SPICE_MAIN_CHANNEL (c.main), 0, TRUE, FALSE);
  spice_main_channel_update_display (SPICE_MAIN_CHANNEL (c.main), 0, 0, 0, 1024, 768, FALSE);
  g_assert_true (spice_main_channel_send_monitor_config (SPICE_MAIN_CHANNEL (c.main)));
  data = agent_expect (&a, VD_AGENT_MONITORS_CONFIG, &size);
  {
    VDAgentMonitorsConfig config;
    VDAgentMonConfig mon;

    g_assert_cmpuint (size, >=, sizeof config + sizeof mon);
    memcpy (&config, data, sizeof config);
    memcpy (&mon, data + sizeof config, sizeof mon);
    g_assert_cmpuint (config.num_of_monitors, ==, 1);
    g_assert_cmpuint (mon.width, ==, 1024);
    g_assert_cmpuint (mon.height, ==, 768);
  }
  g_clear_pointer (&data, g_free);

  /* Guest to client: the agent grabs the clipboard, the client asks for
   * the text and gets it */
  {
    guint32 type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    VDAgentClipboardRequest request;
    g_autoptr (GByteArray) clipboard = g_byte_array_new ();

    agent_send (&a, VD_AGENT_CLIPBOARD_GRAB, &type, sizeof type);
    data = agent_expect (&a, VD_AGENT_CLIPBOARD_REQUEST, &size);
    g_assert_cmpuint (clip.grabs, ==, 1);
    g_assert_cmpuint (clip.grab_type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    g_assert_cmpuint (size, ==, sizeof request);
    memcpy (&request, data, sizeof request);
    g_assert_cmpuint (request.type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    g_clear_pointer (&data, g_free);
    g_byte_array_append (clipboard, (const guint8 *) &type, sizeof type);
    g_byte_array_append (clipboard, (const guint8 *) "text from the guest", 19);
    clip.expect = "text from the guest";
    agent_send (&a, VD_AGENT_CLIPBOARD, clipboard->data, clipboard->len);
    g_assert_true (wait_for (clip_got_text, &clip));
  }

  /* A text larger than the port's buffer: the agent's writes wait for
   * spice to take what is there, and all of it arrives */
  {
    enum { BIG = 300 * 1000 };
    guint32 type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    g_autoptr (GByteArray) clipboard = g_byte_array_new ();
    g_autofree char *big = g_malloc (BIG + 1);

    for (guint i = 0; i < BIG; i++)
      big[i] = (char) ('a' + (i * 7 + i / 1000) % 26);
    big[BIG] = '\0';
    agent_send (&a, VD_AGENT_CLIPBOARD_GRAB, &type, sizeof type);
    data = agent_expect (&a, VD_AGENT_CLIPBOARD_REQUEST, &size);
    g_clear_pointer (&data, g_free);
    g_byte_array_append (clipboard, (const guint8 *) &type, sizeof type);
    g_byte_array_append (clipboard, (const guint8 *) big, BIG);
    clip.expect = big;
    g_assert_cmpuint (agent_send (&a, VD_AGENT_CLIPBOARD, clipboard->data, clipboard->len), >,
                      0);
    g_assert_true (wait_for (clip_got_text, &clip));
    clip.expect = NULL;
  }

  /* Client to guest: the client grabs, the agent asks and gets the text */
  {
    guint32 types[] = { VD_AGENT_CLIPBOARD_UTF8_TEXT };
    VDAgentClipboardRequest request = { .type = VD_AGENT_CLIPBOARD_UTF8_TEXT };
    guint32 type;

    spice_main_channel_clipboard_selection_grab (SPICE_MAIN_CHANNEL (c.main),
                                                 VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD, types,
                                                 1);
    data = agent_expect (&a, VD_AGENT_CLIPBOARD_GRAB, &size);
    g_assert_cmpuint (size, ==, sizeof types);
    g_assert_cmpmem (data, size, types, sizeof types);
    g_clear_pointer (&data, g_free);
    agent_send (&a, VD_AGENT_CLIPBOARD_REQUEST, &request, sizeof request);
    data = agent_expect (&a, VD_AGENT_CLIPBOARD, &size);
    g_assert_cmpuint (clip.requests, ==, 1);
    g_assert_cmpuint (size, ==, sizeof type + strlen (clip.offer));
    memcpy (&type, data, sizeof type);
    g_assert_cmpuint (type, ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    g_assert_cmpmem (data + sizeof type, size - sizeof type, clip.offer, strlen (clip.offer));
    g_clear_pointer (&data, g_free);
  }

  /* The agent closes the port: gone for the client; it comes back, and
   * the client starts a session with it afresh */
  agent_open (&a, false);
  g_assert_true (wait_for (agent_gone, &c));
  agent_open (&a, true);
  g_assert_true (wait_for (agent_connected, &c));
  data = agent_expect (&a, VD_AGENT_ANNOUNCE_CAPABILITIES, &size);
  g_clear_pointer (&data, g_free);

  client_disconnect (&c);
  agent_detach (&a);
  fixture_stop (&f);
  g_string_free (clip.got, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* spice-server warns when a client leaves in the middle of its
   * traffic (what a leaving client does), with structured logging that a
   * fatal handler cannot filter: criticals stay fatal, warnings do not */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/spice/display", test_display);
  g_test_add_func ("/spice/early-client", test_early_client);
  g_test_add_func ("/spice/tablet-keyboard", test_tablet_keyboard);
  g_test_add_func ("/spice/mouse", test_mouse);
  g_test_add_func ("/spice/reconnect", test_reconnect);
  g_test_add_func ("/spice/listen-unix", test_listen_unix);
  g_test_add_func ("/spice/thumbnail", test_thumbnail);
  g_test_add_func ("/spice/agent", test_agent);
  return g_test_run ();
}
