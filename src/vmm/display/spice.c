/* display/spice.c: spice-server on a thread of its own
 *
 * spice-server's public calls (init, interfaces, clients, LEDs, the
 * primary surface) all happen on our thread, whose GMainContext also runs
 * spice's core interface: its timers and fd watches are GSources there.
 * spice runs its display worker on a thread of its own and asks us for
 * commands (get_command) from there.
 *
 * The display device copies each flushed rectangle into our framebuffer
 * (XRGB8888, under fb_lock) and queues the rectangle; the worker turns each
 * queued rectangle into a QXL_DRAW_COPY of a bitmap copied from the
 * framebuffer. Nothing polls: the device wakes the worker when it asked to
 * be told (req_cmd_notification), a size change wakes our thread, which
 * recreates spice's primary surface.
 *
 * The guest agent's port ("com.redhat.spice.0" on virtio-console) is a
 * char device of subtype "vdagent", reached through a struct
 * vmm_chardev_peer: two bounded byte rings under agent_lock, the console's
 * backend on one side, spice's read and write callbacks (our thread) on the
 * other. The guest opening the port adds the interface (spice then tells
 * the clients the agent is connected), closing it removes it, as QEMU does.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "vmm-spice"

#include "display/spice.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/input-event-codes.h>
#include <spice.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib-unix.h>

#include "display/keymap.h"
#include "log.h"

#define MAX_PENDING_RECTS 32
/* The black primary surface before the guest's first screen */
#define PLACEHOLDER_WIDTH  640
#define PLACEHOLDER_HEIGHT 480
#define THUMB_WIDTH       320
/* Each way of the agent's port: many times the agent's largest chunk
 * (VD_AGENT_MAX_DATA_SIZE plus its header); when full, the writer waits */
#define AGENT_RING_SIZE   (64 * 1024)

/* The struct vmm_spice whose MEMBER PTR is */
#define SPICE_OF(ptr, member) \
  ((struct vmm_spice *) (void *) ((char *) (ptr) - offsetof (struct vmm_spice, member)))

struct rect {
  uint32_t x, y, w, h;
};

/* A command handed to spice, freed when spice releases it */
struct spice_cmd {
  QXLCommandExt ext;
  union {
    QXLDrawable drawable;
    QXLCursorCmd cursor;
  } u;
  QXLImage image;
  QXLCursor *shape;
  uint8_t *bitmap;
};

/* A byte ring; under agent_lock */
struct agent_ring {
  uint8_t buf[AGENT_RING_SIZE];
  size_t head, len;
};

struct vmm_spice {
  struct vmm_input_sink input;
  struct vmm_display_device device;
  struct vmm_display_listener listener;
  struct vmm_input_led_listener led_listener;

  GThread *thread;
  GMainContext *ctx;
  GMainLoop *loop;

  SpiceServer *server;
  SpiceCoreInterface core;
  QXLInterface qxl_if;
  QXLInstance qxl;
  SpiceKbdInterface kbd_if;
  SpiceKbdInstance kbd;
  SpiceTabletInterface tablet_if;
  SpiceTabletInstance tablet;
  SpiceMouseInterface mouse_if;
  SpiceMouseInstance mouse;

  /* Our thread only: spice's primary surface and its memory (which
   * spice's worker draws into), the listening socket */
  uint8_t *primary_mem;
  uint32_t primary_w, primary_h;
  bool primary_exists;
  bool primary_placeholder;     /* black, while the guest shows nothing */
  GSource *listen_source;
  int listen_fd;
  char *listen_path;

  /* Our thread only: the keyboard's and pointer's state */
  struct vmm_keymap_decoder kbd_decoder;
  uint32_t buttons;
  uint32_t tablet_w, tablet_h;

  GMutex fb_lock;
  /* The screen, XRGB8888, fb_w * 4 bytes a row; NULL: none */
  uint8_t *fb;
  uint32_t fb_w, fb_h;
  /* Spice's primary has the framebuffer's size: rectangles may be sent */
  bool primary_ready;
  bool surface_job_queued;
  struct rect pending[MAX_PENDING_RECTS];
  unsigned n_pending;
  bool notify_display;
  GQueue cursor_cmds;
  bool notify_cursor;
  bool thumb_dirty;
  vmm_spice_changed_fn changed_fn;   /* on thumb_dirty's false → true; set before running */
  void *changed_data;
  uint64_t image_serial;
  uint32_t leds;              /* SPICE_KEYBOARD_MODIFIER_FLAGS_* */
  bool leds_job_queued;
  /* Whether the tablet interface should be there (client mouse mode);
   * tablet_attached is our thread's view of what spice has */
  bool want_tablet;
  bool tablet_job_queued;
  bool tablet_attached;

  /* The guest agent's port */
  struct vmm_chardev_peer agent_peer;
  SpiceCharDeviceInterface agent_if;
  SpiceCharDeviceInstance agent_sin;
  bool agent_attached;          /* our thread: the interface is added */
  uint64_t agent_attached_gen;  /* our thread: for which open */
  GMutex agent_lock;
  void (*agent_kick) (void *data);
  void *agent_kick_data;
  bool agent_guest_open;
  uint64_t agent_open_gen;      /* counts the guest's opens */
  bool agent_job_queued;
  bool agent_guest_blocked;     /* the guest's write came up short */
  bool agent_spice_blocked;     /* spice's write came up short */
  struct agent_ring to_spice, to_guest;
  struct vmm_ratelimit agent_rl;
};

/* ---- spice's core interface on our GMainContext ---- */

/* spice-server calls its core without a pointer of ours: it does so from
 * the thread that calls it, ours, whose thread-default context is ours */
static GMainContext *
core_context (void)
{
  GMainContext *ctx = g_main_context_get_thread_default ();

  if (ctx == NULL)
    {
      g_critical ("spice-server called its core from a foreign thread");
      ctx = g_main_context_default ();
    }
  return ctx;
}

struct SpiceTimer {
  GMainContext *ctx;
  GSource *source;
  SpiceTimerFunc func;
  void *opaque;
};

static SpiceTimer *
core_timer_add (SpiceTimerFunc func, void *opaque)
{
  SpiceTimer *timer = g_new0 (SpiceTimer, 1);

  timer->ctx = g_main_context_ref (core_context ());
  timer->func = func;
  timer->opaque = opaque;
  return timer;
}

static void
core_timer_cancel (SpiceTimer *timer)
{
  if (timer->source != NULL)
    {
      g_source_destroy (timer->source);
      g_clear_pointer (&timer->source, g_source_unref);
    }
}

static gboolean
core_timer_fired (gpointer data)
{
  SpiceTimer *timer = data;

  /* One-shot; FUNC may start it again or remove it */
  g_clear_pointer (&timer->source, g_source_unref);
  timer->func (timer->opaque);
  return G_SOURCE_REMOVE;
}

static void
core_timer_start (SpiceTimer *timer, uint32_t ms)
{
  core_timer_cancel (timer);
  timer->source = g_timeout_source_new (ms);
  g_source_set_callback (timer->source, core_timer_fired, timer, NULL);
  g_source_attach (timer->source, timer->ctx);
}

static void
core_timer_remove (SpiceTimer *timer)
{
  core_timer_cancel (timer);
  g_main_context_unref (timer->ctx);
  g_free (timer);
}

/* A watch is a GSource itself, so that removing it from its own callback
 * is safe: GLib holds a reference while it dispatches */
struct SpiceWatch {
  GSource source;
  gpointer tag;
  int fd;
  SpiceWatchFunc func;
  void *opaque;
};

static gboolean
core_watch_dispatch (GSource *source, GSourceFunc callback, gpointer data)
{
  SpiceWatch *watch = (SpiceWatch *) source;
  GIOCondition got = g_source_query_unix_fd (source, watch->tag);
  int events = 0;

  (void) callback;
  (void) data;
  if (got & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    events |= SPICE_WATCH_EVENT_READ;
  if (got & (G_IO_OUT | G_IO_ERR))
    events |= SPICE_WATCH_EVENT_WRITE;
  if (events != 0)
    watch->func (watch->fd, events, watch->opaque);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs core_watch_funcs = {
  .dispatch = core_watch_dispatch,
};

static GIOCondition
watch_condition (int event_mask)
{
  GIOCondition cond = 0;

  if (event_mask & SPICE_WATCH_EVENT_READ)
    cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
  if (event_mask & SPICE_WATCH_EVENT_WRITE)
    cond |= G_IO_OUT | G_IO_ERR;
  return cond;
}

static SpiceWatch *
core_watch_add (int fd, int event_mask, SpiceWatchFunc func, void *opaque)
{
  GSource *source = g_source_new (&core_watch_funcs, sizeof (SpiceWatch));
  SpiceWatch *watch = (SpiceWatch *) source;

  watch->fd = fd;
  watch->func = func;
  watch->opaque = opaque;
  watch->tag = g_source_add_unix_fd (source, fd, watch_condition (event_mask));
  g_source_attach (source, core_context ());
  return watch;
}

static void
core_watch_update_mask (SpiceWatch *watch, int event_mask)
{
  g_source_modify_unix_fd (&watch->source, watch->tag, watch_condition (event_mask));
}

static void
core_watch_remove (SpiceWatch *watch)
{
  g_source_destroy (&watch->source);
  g_source_unref (&watch->source);
}

/* ---- running things on our thread ---- */

struct thread_call {
  GSourceFunc func;
  gpointer data;
  GMutex lock;
  GCond cond;
  bool done;
};

static gboolean
thread_call_run (gpointer data)
{
  struct thread_call *call = data;

  call->func (call->data);
  g_mutex_lock (&call->lock);
  call->done = true;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->lock);
  return G_SOURCE_REMOVE;
}

/* FUNC (DATA) on our thread, waiting for it */
static void
run_on_thread (struct vmm_spice *spice, GSourceFunc func, gpointer data)
{
  struct thread_call call = { .func = func, .data = data };

  if (g_main_context_is_owner (spice->ctx))
    {
      func (data);
      return;
    }
  g_mutex_init (&call.lock);
  g_cond_init (&call.cond);
  g_main_context_invoke (spice->ctx, thread_call_run, &call);
  g_mutex_lock (&call.lock);
  while (!call.done)
    g_cond_wait (&call.cond, &call.lock);
  g_mutex_unlock (&call.lock);
  g_mutex_clear (&call.lock);
  g_cond_clear (&call.cond);
}

/* ---- the display: QXL interface, called from spice's worker thread ---- */

static void
spice_cmd_free (struct spice_cmd *cmd)
{
  g_free (cmd->shape);
  g_free (cmd->bitmap);
  g_free (cmd);
}

static void
qxl_attached_worker (QXLInstance *qin)
{
  QXLDevMemSlot slot = { 0 };

  /* One slot for the whole address space: our commands' "physical"
   * addresses are host pointers */
  slot.slot_group_id = 0;
  slot.slot_id = 0;
  slot.virt_start = 0;
  slot.virt_end = ~(uintptr_t) 0;
  spice_qxl_add_memslot (qin, &slot);
}

static void
qxl_set_compression_level (QXLInstance *qin, int level)
{
  (void) qin;
  (void) level;
}

static void
qxl_get_init_info (QXLInstance *qin, QXLDevInitInfo *info)
{
  (void) qin;
  memset (info, 0, sizeof *info);
  info->num_memslots_groups = 1;
  info->num_memslots = 1;
  info->memslot_gen_bits = 8;
  info->memslot_id_bits = 8;
  info->internal_groupslot_id = 0;
  info->qxl_ram_size = 16 * 1024 * 1024;
  info->n_surfaces = 1;
}

static uint32_t
mm_time_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint32_t) ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

/* A copy of R of the framebuffer as a drawable; fb_lock held */
static struct spice_cmd *
make_draw_cmd (struct vmm_spice *spice, const struct rect *r)
{
  struct spice_cmd *cmd = g_new0 (struct spice_cmd, 1);
  QXLDrawable *d = &cmd->u.drawable;
  QXLImage *image = &cmd->image;
  size_t row = (size_t) r->w * 4;

  cmd->bitmap = g_malloc (row * r->h);
  for (uint32_t y = 0; y < r->h; y++)
    memcpy (cmd->bitmap + y * row, spice->fb + ((size_t) (r->y + y) * spice->fb_w + r->x) * 4, row);

  d->release_info.id = (uintptr_t) cmd;
  d->surface_id = 0;
  d->effect = QXL_EFFECT_OPAQUE;
  d->type = QXL_DRAW_COPY;
  d->bbox.left = (int32_t) r->x;
  d->bbox.top = (int32_t) r->y;
  d->bbox.right = (int32_t) (r->x + r->w);
  d->bbox.bottom = (int32_t) (r->y + r->h);
  d->clip.type = SPICE_CLIP_TYPE_NONE;
  d->mm_time = mm_time_now ();
  d->surfaces_dest[0] = d->surfaces_dest[1] = d->surfaces_dest[2] = -1;
  d->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
  d->u.copy.src_bitmap = (uintptr_t) image;
  d->u.copy.src_area.right = (int32_t) r->w;
  d->u.copy.src_area.bottom = (int32_t) r->h;

  QXL_SET_IMAGE_ID (image, QXL_IMAGE_GROUP_DEVICE, spice->image_serial++);
  image->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
  image->descriptor.width = r->w;
  image->descriptor.height = r->h;
  image->bitmap.format = SPICE_BITMAP_FMT_32BIT;
  image->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
  image->bitmap.x = r->w;
  image->bitmap.y = r->h;
  image->bitmap.stride = (uint32_t) row;
  image->bitmap.data = (uintptr_t) cmd->bitmap;

  cmd->ext.cmd.type = QXL_CMD_DRAW;
  cmd->ext.cmd.data = (uintptr_t) d;
  cmd->ext.group_id = 0;
  return cmd;
}

static int
qxl_get_command (QXLInstance *qin, QXLCommandExt *ext)
{
  struct vmm_spice *spice = SPICE_OF (qin, qxl);
  struct spice_cmd *cmd = NULL;

  g_mutex_lock (&spice->fb_lock);
  if (spice->primary_ready && spice->n_pending > 0)
    {
      cmd = make_draw_cmd (spice, &spice->pending[0]);
      spice->n_pending--;
      memmove (&spice->pending[0], &spice->pending[1], spice->n_pending * sizeof (struct rect));
    }
  g_mutex_unlock (&spice->fb_lock);
  if (cmd == NULL)
    return 0;
  *ext = cmd->ext;
  return 1;
}

static int
qxl_req_cmd_notification (QXLInstance *qin)
{
  struct vmm_spice *spice = SPICE_OF (qin, qxl);
  int wait;

  g_mutex_lock (&spice->fb_lock);
  wait = !(spice->primary_ready && spice->n_pending > 0);
  spice->notify_display = wait;
  g_mutex_unlock (&spice->fb_lock);
  return wait;
}

static void
qxl_release_resource (QXLInstance *qin, QXLReleaseInfoExt release)
{
  (void) qin;
  spice_cmd_free ((struct spice_cmd *) (uintptr_t) release.info->id);
}

static int
qxl_get_cursor_command (QXLInstance *qin, QXLCommandExt *ext)
{
  struct vmm_spice *spice = SPICE_OF (qin, qxl);
  struct spice_cmd *cmd;

  g_mutex_lock (&spice->fb_lock);
  cmd = g_queue_pop_head (&spice->cursor_cmds);
  g_mutex_unlock (&spice->fb_lock);
  if (cmd == NULL)
    return 0;
  *ext = cmd->ext;
  return 1;
}

static int
qxl_req_cursor_notification (QXLInstance *qin)
{
  struct vmm_spice *spice = SPICE_OF (qin, qxl);
  int wait;

  g_mutex_lock (&spice->fb_lock);
  wait = g_queue_is_empty (&spice->cursor_cmds);
  spice->notify_cursor = wait;
  g_mutex_unlock (&spice->fb_lock);
  return wait;
}

static void
qxl_notify_update (QXLInstance *qin, uint32_t update_id)
{
  (void) qin;
  (void) update_id;
}

static int
qxl_flush_resources (QXLInstance *qin)
{
  (void) qin;
  return 0;
}

static void
qxl_async_complete (QXLInstance *qin, uint64_t cookie)
{
  (void) qin;
  (void) cookie;
}

static void
qxl_update_area_complete (QXLInstance *qin, uint32_t surface_id, QXLRect *rects, uint32_t n)
{
  (void) qin;
  (void) surface_id;
  (void) rects;
  (void) n;
}

static void
qxl_set_client_capabilities (QXLInstance *qin, uint8_t present, uint8_t *caps)
{
  (void) qin;
  (void) present;
  (void) caps;
}

static int
qxl_client_monitors_config (QXLInstance *qin, VDAgentMonitorsConfig *config)
{
  struct vmm_spice *spice = SPICE_OF (qin, qxl);

  if (spice->device.request_size == NULL)
    return 0;
  if (config == NULL)
    return 1;
  /* One scanout: the first monitor's size */
  if (config->num_of_monitors >= 1 && config->monitors[0].width > 0
      && config->monitors[0].height > 0)
    spice->device.request_size (spice->device.dev, config->monitors[0].width,
                                config->monitors[0].height);
  return 1;
}

/* ---- the primary surface, on our thread ---- */

static gboolean
surface_job (gpointer data)
{
  struct vmm_spice *spice = data;
  uint32_t w, h, pw, ph;
  bool placeholder;

  g_mutex_lock (&spice->fb_lock);
  spice->surface_job_queued = false;
  w = spice->fb != NULL ? spice->fb_w : 0;
  h = spice->fb != NULL ? spice->fb_h : 0;
  /* Without the guest's screen, a black one: a primary surface exists from
   * the start and at all times, as spice-server's clients expect (a cursor
   * channel that connects while there is none gets its CURSOR_INIT twice,
   * the second when a primary comes, and spice-client-glib objects) */
  placeholder = w == 0 || h == 0;
  pw = placeholder ? (spice->primary_exists ? spice->primary_w : PLACEHOLDER_WIDTH) : w;
  ph = placeholder ? (spice->primary_exists ? spice->primary_h : PLACEHOLDER_HEIGHT) : h;
  /* The primary it needs may be there already: the screen went away and
   * came back at the same size before this job ran. Then it only becomes
   * ready again, below (returning here would leave it not ready, and the
   * display frozen, for good). */
  if (spice->primary_exists && pw == spice->primary_w && ph == spice->primary_h
      && (placeholder ? spice->primary_placeholder : !spice->primary_placeholder))
    {
      g_mutex_unlock (&spice->fb_lock);
      goto ready;
    }
  spice->primary_ready = false;
  g_mutex_unlock (&spice->fb_lock);

  if (spice->primary_exists)
    {
      spice_qxl_destroy_primary_surface (&spice->qxl, 0);
      spice->primary_exists = false;
      g_clear_pointer (&spice->primary_mem, g_free);
    }
  {
    QXLDevSurfaceCreate create = { 0 };

    spice->primary_mem = g_try_malloc0 ((size_t) pw * ph * 4);
    if (spice->primary_mem == NULL)
      {
        vmm_log_warning ("spice: no memory for a %" PRIu32 "×%" PRIu32 " surface", pw, ph);
        return G_SOURCE_REMOVE;
      }
    create.width = pw;
    create.height = ph;
    create.stride = (int32_t) (pw * 4);
    create.format = SPICE_SURFACE_FMT_32_xRGB;
    create.mouse_mode = 1;      /* client mouse mode allowed */
    create.mem = (uintptr_t) spice->primary_mem;
    create.group_id = 0;
    spice_qxl_create_primary_surface (&spice->qxl, 0, &create);
    spice->primary_exists = true;
    spice->primary_placeholder = placeholder;
  }
  spice->primary_w = pw;
  spice->primary_h = ph;

ready:
  w = pw;
  h = ph;
  g_mutex_lock (&spice->fb_lock);
  /* Ready unless the size changed again meanwhile (then a new job is
   * queued); all of it is new */
  bool wake = false;
  if (!placeholder && spice->fb != NULL && spice->fb_w == w && spice->fb_h == h)
    {
      spice->primary_ready = true;
      spice->n_pending = 1;
      spice->pending[0] = (struct rect) { 0, 0, w, h };
      wake = spice->notify_display;
      spice->notify_display = false;
    }
  g_mutex_unlock (&spice->fb_lock);
  if (wake)
    spice_qxl_wakeup (&spice->qxl);
  return G_SOURCE_REMOVE;
}

/* ---- the display listener, called from the device's thread ---- */

/* One row of N pixels in FORMAT to XRGB8888 (B G R X) */
static void
convert_row (uint8_t *dst, const uint8_t *src, uint32_t n, enum vmm_pixel_format format)
{
  /* Where B, G, R are in a source pixel */
  unsigned b, g, r;

  switch (format)
    {
    case VMM_PIXEL_XRGB8888:
    case VMM_PIXEL_ARGB8888:
      memcpy (dst, src, (size_t) n * 4);
      return;
    case VMM_PIXEL_XBGR8888:
    case VMM_PIXEL_ABGR8888:
      r = 0, g = 1, b = 2;
      break;
    case VMM_PIXEL_BGRX8888:
    case VMM_PIXEL_BGRA8888:
      r = 1, g = 2, b = 3;
      break;
    case VMM_PIXEL_RGBX8888:
    case VMM_PIXEL_RGBA8888:
    default:
      r = 3, g = 2, b = 1;
      break;
    }
  for (uint32_t i = 0; i < n; i++, src += 4, dst += 4)
    {
      dst[0] = src[b];
      dst[1] = src[g];
      dst[2] = src[r];
      dst[3] = 0xff;
    }
}

static void
copy_rect (struct vmm_spice *spice, const struct vmm_display_surface *s,
           uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
  for (uint32_t row = y; row < y + h; row++)
    convert_row (spice->fb + ((size_t) row * spice->fb_w + x) * 4,
                 s->pixels + (size_t) row * s->stride + (size_t) x * 4, w, s->format);
}

/* Queues R to be sent, merged with what is queued; fb_lock held */
static void
queue_rect (struct vmm_spice *spice, struct rect r)
{
  for (unsigned i = 0; i < spice->n_pending; i++)
    {
      const struct rect *p = &spice->pending[i];
      if (r.x >= p->x && r.y >= p->y && r.x + r.w <= p->x + p->w && r.y + r.h <= p->y + p->h)
        return;
    }
  if (spice->n_pending == MAX_PENDING_RECTS)
    {
      /* Too many: their bounding box */
      uint32_t x0 = r.x, y0 = r.y, x1 = r.x + r.w, y1 = r.y + r.h;
      for (unsigned i = 0; i < spice->n_pending; i++)
        {
          const struct rect *p = &spice->pending[i];
          x0 = MIN (x0, p->x);
          y0 = MIN (y0, p->y);
          x1 = MAX (x1, p->x + p->w);
          y1 = MAX (y1, p->y + p->h);
        }
      spice->n_pending = 1;
      spice->pending[0] = (struct rect) { x0, y0, x1 - x0, y1 - y0 };
      return;
    }
  spice->pending[spice->n_pending++] = r;
}

static void
listener_set_surface (void *data, const struct vmm_display_surface *surface)
{
  struct vmm_spice *spice = data;
  bool first_change = false;
  bool queue_job;

  g_mutex_lock (&spice->fb_lock);
  if (surface == NULL || surface->width == 0 || surface->height == 0)
    {
      g_clear_pointer (&spice->fb, g_free);
      spice->fb_w = spice->fb_h = 0;
    }
  else
    {
      if (spice->fb == NULL || spice->fb_w != surface->width || spice->fb_h != surface->height)
        {
          g_free (spice->fb);
          spice->fb = g_try_malloc ((size_t) surface->width * surface->height * 4);
          spice->fb_w = spice->fb != NULL ? surface->width : 0;
          spice->fb_h = spice->fb != NULL ? surface->height : 0;
          if (spice->fb == NULL)
            vmm_log_warning ("spice: no memory for a %" PRIu32 "×%" PRIu32 " screen",
                             surface->width, surface->height);
        }
      if (spice->fb != NULL)
        copy_rect (spice, surface, 0, 0, surface->width, surface->height);
    }
  first_change = !spice->thumb_dirty;
  spice->thumb_dirty = true;
  spice->n_pending = 0;
  if (spice->fb != NULL && spice->primary_ready && spice->primary_w == spice->fb_w
      && spice->primary_h == spice->fb_h)
    {
      /* Same size: the primary stays, all of it is new */
      bool wake = spice->notify_display;
      spice->notify_display = false;
      queue_rect (spice, (struct rect) { 0, 0, spice->fb_w, spice->fb_h });
      g_mutex_unlock (&spice->fb_lock);
      if (wake)
        spice_qxl_wakeup (&spice->qxl);
      if (first_change && spice->changed_fn != NULL)
        spice->changed_fn (spice->changed_data);
      return;
    }
  spice->primary_ready = false;
  queue_job = !spice->surface_job_queued;
  spice->surface_job_queued = true;
  g_mutex_unlock (&spice->fb_lock);
  if (queue_job)
    g_main_context_invoke (spice->ctx, surface_job, spice);
  if (first_change && spice->changed_fn != NULL)
    spice->changed_fn (spice->changed_data);
}

static void
listener_update (void *data, const struct vmm_display_surface *surface,
                 uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
  struct vmm_spice *spice = data;
  bool first_change;
  bool wake = false;

  if (w == 0 || h == 0)
    return;
  g_mutex_lock (&spice->fb_lock);
  if (spice->fb == NULL || surface->width != spice->fb_w || surface->height != spice->fb_h
      || x > spice->fb_w || w > spice->fb_w - x || y > spice->fb_h || h > spice->fb_h - y)
    {
      g_mutex_unlock (&spice->fb_lock);
      return;
    }
  copy_rect (spice, surface, x, y, w, h);
  first_change = !spice->thumb_dirty;
  spice->thumb_dirty = true;
  if (spice->primary_ready)
    {
      queue_rect (spice, (struct rect) { x, y, w, h });
      wake = spice->notify_display;
      spice->notify_display = false;
    }
  g_mutex_unlock (&spice->fb_lock);
  if (wake)
    spice_qxl_wakeup (&spice->qxl);
  if (first_change && spice->changed_fn != NULL)
    spice->changed_fn (spice->changed_data);
}

void
vmm_spice_set_changed_fn (struct vmm_spice *spice, vmm_spice_changed_fn fn, void *data)
{
  bool changed;

  g_mutex_lock (&spice->fb_lock);
  spice->changed_fn = fn;
  spice->changed_data = data;
  changed = spice->thumb_dirty;
  g_mutex_unlock (&spice->fb_lock);
  if (changed && fn != NULL)
    fn (data);
}

/* Queues a cursor command, dropping a queued move it supersedes */
static void
push_cursor_cmd (struct vmm_spice *spice, struct spice_cmd *cmd)
{
  bool wake;

  g_mutex_lock (&spice->fb_lock);
  struct spice_cmd *last = g_queue_peek_tail (&spice->cursor_cmds);
  if (last != NULL && last->u.cursor.type == QXL_CURSOR_MOVE)
    spice_cmd_free (g_queue_pop_tail (&spice->cursor_cmds));
  g_queue_push_tail (&spice->cursor_cmds, cmd);
  wake = spice->notify_cursor;
  spice->notify_cursor = false;
  g_mutex_unlock (&spice->fb_lock);
  if (wake)
    spice_qxl_wakeup (&spice->qxl);
}

static struct spice_cmd *
new_cursor_cmd (uint8_t type)
{
  struct spice_cmd *cmd = g_new0 (struct spice_cmd, 1);

  cmd->u.cursor.release_info.id = (uintptr_t) cmd;
  cmd->u.cursor.type = type;
  cmd->ext.cmd.type = QXL_CMD_CURSOR;
  cmd->ext.cmd.data = (uintptr_t) &cmd->u.cursor;
  cmd->ext.group_id = 0;
  return cmd;
}

static int16_t
clamp16 (int32_t v)
{
  return (int16_t) CLAMP (v, INT16_MIN, INT16_MAX);
}

static void
listener_set_cursor (void *data, const struct vmm_display_cursor *cursor, int32_t x, int32_t y)
{
  struct vmm_spice *spice = data;
  struct spice_cmd *cmd;

  if (cursor == NULL || cursor->width == 0 || cursor->height == 0 || cursor->width > 512
      || cursor->height > 512)
    {
      push_cursor_cmd (spice, new_cursor_cmd (QXL_CURSOR_HIDE));
      return;
    }
  uint32_t size = cursor->width * cursor->height * 4;
  QXLCursor *shape = g_malloc0 (sizeof (QXLCursor) + size);
  shape->header.unique = 0;
  shape->header.type = SPICE_CURSOR_TYPE_ALPHA;
  shape->header.width = (uint16_t) cursor->width;
  shape->header.height = (uint16_t) cursor->height;
  shape->header.hot_spot_x = (uint16_t) MIN (cursor->hot_x, cursor->width - 1);
  shape->header.hot_spot_y = (uint16_t) MIN (cursor->hot_y, cursor->height - 1);
  shape->data_size = size;
  shape->chunk.data_size = size;
  memcpy (shape->chunk.data, cursor->pixels, size);

  cmd = new_cursor_cmd (QXL_CURSOR_SET);
  cmd->shape = shape;
  cmd->u.cursor.u.set.position.x = clamp16 (x);
  cmd->u.cursor.u.set.position.y = clamp16 (y);
  cmd->u.cursor.u.set.visible = 1;
  cmd->u.cursor.u.set.shape = (uintptr_t) shape;
  push_cursor_cmd (spice, cmd);
}

static void
listener_move_cursor (void *data, int32_t x, int32_t y)
{
  struct vmm_spice *spice = data;
  struct spice_cmd *cmd = new_cursor_cmd (QXL_CURSOR_MOVE);

  cmd->u.cursor.u.position.x = clamp16 (x);
  cmd->u.cursor.u.position.y = clamp16 (y);
  push_cursor_cmd (spice, cmd);
}

/* ---- input, on our thread ---- */

static void
kbd_push_scan_freg (SpiceKbdInstance *sin, uint8_t frag)
{
  struct vmm_spice *spice = SPICE_OF (sin, kbd);
  uint16_t key;
  bool pressed;

  if (vmm_keymap_decode (&spice->kbd_decoder, frag, &key, &pressed))
    spice->input.key (spice->input.data, key, pressed);
}

static uint8_t
kbd_get_leds (SpiceKbdInstance *sin)
{
  struct vmm_spice *spice = SPICE_OF (sin, kbd);
  uint8_t leds;

  g_mutex_lock (&spice->fb_lock);
  leds = (uint8_t) spice->leds;
  g_mutex_unlock (&spice->fb_lock);
  return leds;
}

static void
set_buttons (struct vmm_spice *spice, uint32_t state)
{
  /* spice-server hands its interfaces the PS/2 order (left, right,
   * middle), not the protocol's SPICE_MOUSE_BUTTON_MASK_* */
  static const struct {
    uint32_t mask;
    uint16_t code;
  } map[] = {
    { 1 << 0, BTN_LEFT },
    { 1 << 1, BTN_RIGHT },
    { 1 << 2, BTN_MIDDLE },
    { 1 << 5, BTN_SIDE },
    { 1 << 6, BTN_EXTRA },
  };
  uint32_t changed = state ^ spice->buttons;

  spice->buttons = state;
  if (spice->input.key == NULL)
    return;
  for (unsigned i = 0; i < G_N_ELEMENTS (map); i++)
    if (changed & map[i].mask)
      spice->input.key (spice->input.data, map[i].code, (state & map[i].mask) != 0);
}

static void
tablet_set_logical_size (SpiceTabletInstance *sin, int width, int height)
{
  struct vmm_spice *spice = SPICE_OF (sin, tablet);

  spice->tablet_w = width > 0 ? (uint32_t) width : 0;
  spice->tablet_h = height > 0 ? (uint32_t) height : 0;
}

static void
tablet_position (SpiceTabletInstance *sin, int x, int y, uint32_t buttons)
{
  struct vmm_spice *spice = SPICE_OF (sin, tablet);
  uint32_t w = spice->tablet_w, h = spice->tablet_h;

  if (w == 0 || h == 0)
    {
      w = MAX (spice->primary_w, 1);
      h = MAX (spice->primary_h, 1);
    }
  x = CLAMP (x, 0, (int) w - 1);
  y = CLAMP (y, 0, (int) h - 1);
  spice->input.abs (spice->input.data, (uint32_t) x, (uint32_t) y, w, h);
  set_buttons (spice, buttons);
}

static void
tablet_wheel (SpiceTabletInstance *sin, int motion, uint32_t buttons)
{
  struct vmm_spice *spice = SPICE_OF (sin, tablet);

  /* SPICE's is + down, ours + up */
  if (motion != 0 && spice->input.wheel != NULL)
    spice->input.wheel (spice->input.data, -motion);
  set_buttons (spice, buttons);
}

static void
tablet_buttons (SpiceTabletInstance *sin, uint32_t buttons)
{
  set_buttons (SPICE_OF (sin, tablet), buttons);
}

static void
mouse_motion (SpiceMouseInstance *sin, int dx, int dy, int dz, uint32_t buttons)
{
  struct vmm_spice *spice = SPICE_OF (sin, mouse);

  if (dx != 0 || dy != 0)
    spice->input.rel (spice->input.data, dx, dy);
  if (dz != 0 && spice->input.wheel != NULL)
    spice->input.wheel (spice->input.data, -dz);
  set_buttons (spice, buttons);
}

static void
mouse_buttons (SpiceMouseInstance *sin, uint32_t buttons)
{
  set_buttons (SPICE_OF (sin, mouse), buttons);
}

static gboolean
leds_job (gpointer data)
{
  struct vmm_spice *spice = data;
  uint32_t leds;

  g_mutex_lock (&spice->fb_lock);
  spice->leds_job_queued = false;
  leds = spice->leds;
  g_mutex_unlock (&spice->fb_lock);
  spice_server_kbd_leds (&spice->kbd, (int) leds);
  return G_SOURCE_REMOVE;
}

static void
listener_leds (void *data, uint32_t leds)
{
  struct vmm_spice *spice = data;
  uint32_t flags = 0;
  bool queue_job;

  if (leds & (1u << LED_SCROLLL))
    flags |= SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK;
  if (leds & (1u << LED_NUML))
    flags |= SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK;
  if (leds & (1u << LED_CAPSL))
    flags |= SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK;
  g_mutex_lock (&spice->fb_lock);
  spice->leds = flags;
  queue_job = !spice->leds_job_queued;
  spice->leds_job_queued = true;
  g_mutex_unlock (&spice->fb_lock);
  if (queue_job)
    g_main_context_invoke (spice->ctx, leds_job, spice);
}

/* ---- absolute or relative pointer ---- */

/* Adds or removes the tablet: spice's clients send positions (client
 * mouse mode) while it is there, motion (server mode) when not. */
static gboolean
tablet_job (gpointer data)
{
  struct vmm_spice *spice = data;
  bool want;

  g_mutex_lock (&spice->fb_lock);
  want = spice->want_tablet;
  spice->tablet_job_queued = false;
  g_mutex_unlock (&spice->fb_lock);
  if (spice->server == NULL || want == spice->tablet_attached)
    return G_SOURCE_REMOVE;
  if (want)
    spice_server_add_interface (spice->server, &spice->tablet.base);
  else
    spice_server_remove_interface (&spice->tablet.base);
  spice->tablet_attached = want;
  vmm_log_debug ("spice: %s mouse mode", want ? "client" : "server");
  return G_SOURCE_REMOVE;
}

void
vmm_spice_set_absolute_pointer (struct vmm_spice *spice, bool absolute)
{
  bool queue_job = false;

  if (spice->input.abs == NULL)
    return;
  g_mutex_lock (&spice->fb_lock);
  if (spice->want_tablet != absolute)
    {
      spice->want_tablet = absolute;
      queue_job = !spice->tablet_job_queued;
      spice->tablet_job_queued = true;
    }
  g_mutex_unlock (&spice->fb_lock);
  if (queue_job)
    g_main_context_invoke (spice->ctx, tablet_job, spice);
}

/* ---- the guest agent's port ---- */

static size_t
ring_space (const struct agent_ring *r)
{
  return sizeof r->buf - r->len;
}

static size_t
ring_put (struct agent_ring *r, const void *data, size_t len)
{
  const uint8_t *p = data;
  size_t n = MIN (len, ring_space (r));

  for (size_t done = 0; done < n;)
    {
      size_t tail = (r->head + r->len) % sizeof r->buf;
      size_t chunk = MIN (n - done, sizeof r->buf - tail);
      memcpy (r->buf + tail, p + done, chunk);
      r->len += chunk;
      done += chunk;
    }
  return n;
}

static size_t
ring_get (struct agent_ring *r, void *data, size_t len)
{
  uint8_t *p = data;
  size_t n = MIN (len, r->len);

  for (size_t done = 0; done < n;)
    {
      size_t chunk = MIN (n - done, sizeof r->buf - r->head);
      memcpy (p + done, r->buf + r->head, chunk);
      r->head = (r->head + chunk) % sizeof r->buf;
      r->len -= chunk;
      done += chunk;
    }
  return n;
}

static void
ring_clear (struct agent_ring *r)
{
  r->head = r->len = 0;
}

/* On our thread: the interface added while the guest has the port open
 * (removed and added again for each new open, so spice starts the agent's
 * session afresh), and spice told to read and write */
static gboolean
agent_job (gpointer data)
{
  struct vmm_spice *spice = data;
  bool want;
  uint64_t gen;

  g_mutex_lock (&spice->agent_lock);
  spice->agent_job_queued = false;
  want = spice->agent_guest_open;
  gen = spice->agent_open_gen;
  g_mutex_unlock (&spice->agent_lock);
  if (spice->server == NULL)
    return G_SOURCE_REMOVE;

  if (spice->agent_attached && (!want || spice->agent_attached_gen != gen))
    {
      spice_server_remove_interface (&spice->agent_sin.base);
      spice->agent_attached = false;
      vmm_log_debug ("spice: the guest agent left");
    }
  if (want && !spice->agent_attached)
    {
      if (spice_server_add_interface (spice->server, &spice->agent_sin.base) != 0)
        {
          vmm_log_warning ("spice: the guest agent's port could not be added");
          return G_SOURCE_REMOVE;
        }
      spice->agent_attached = true;
      spice->agent_attached_gen = gen;
      vmm_log_debug ("spice: the guest agent is there");
    }
  if (spice->agent_attached)
    spice_server_char_device_wakeup (&spice->agent_sin);
  return G_SOURCE_REMOVE;
}

/* Queues agent_job unless it is queued; agent_lock held. Returns whether
 * the caller must attach it (after unlocking). */
static bool
agent_want_job (struct vmm_spice *spice)
{
  if (spice->agent_job_queued)
    return false;
  spice->agent_job_queued = true;
  return true;
}

static void
agent_queue_job (struct vmm_spice *spice)
{
  /* Always through the loop, never run here: callers may be inside spice */
  GSource *source = g_idle_source_new ();

  g_source_set_callback (source, agent_job, spice, NULL);
  g_source_attach (source, spice->ctx);
  g_source_unref (source);
}

static void
agent_kick (struct vmm_spice *spice)
{
  if (spice->agent_kick != NULL)
    spice->agent_kick (spice->agent_kick_data);
}

/* spice's side, on our thread: guest bytes for spice */
static int
agent_sif_read (SpiceCharDeviceInstance *sin, uint8_t *buf, int len)
{
  struct vmm_spice *spice = SPICE_OF (sin, agent_sin);
  size_t n;

  if (len <= 0)
    return 0;
  g_mutex_lock (&spice->agent_lock);
  n = ring_get (&spice->to_spice, buf, (size_t) len);
  if (spice->agent_guest_blocked && ring_space (&spice->to_spice) >= AGENT_RING_SIZE / 2)
    {
      spice->agent_guest_blocked = false;
      agent_kick (spice);
    }
  g_mutex_unlock (&spice->agent_lock);
  return (int) n;
}

/* spice's side, on our thread: bytes for the guest; less than LEN when
 * the guest is not reading, and spice waits for our wakeup */
static int
agent_sif_write (SpiceCharDeviceInstance *sin, const uint8_t *buf, int len)
{
  struct vmm_spice *spice = SPICE_OF (sin, agent_sin);
  size_t n;

  if (len <= 0)
    return 0;
  g_mutex_lock (&spice->agent_lock);
  if (!spice->agent_guest_open)
    {
      /* Closed meanwhile (the interface goes soon): nobody to read it */
      g_mutex_unlock (&spice->agent_lock);
      return len;
    }
  n = ring_put (&spice->to_guest, buf, (size_t) len);
  if (n < (size_t) len && !spice->agent_spice_blocked)
    {
      spice->agent_spice_blocked = true;
      vmm_log_limited (&spice->agent_rl, VMM_LOG_INFO,
                       "spice: the guest agent is not reading; its messages wait");
    }
  if (n > 0)
    agent_kick (spice);
  g_mutex_unlock (&spice->agent_lock);
  return (int) n;
}

static void
agent_sif_state (SpiceCharDeviceInstance *sin, int connected)
{
  (void) sin;
  vmm_log_debug ("spice: the agent's channel is %s", connected ? "up" : "down");
}

static void
agent_sif_event (SpiceCharDeviceInstance *sin, uint8_t event)
{
  (void) sin;
  (void) event;
}

/* The console's side (struct vmm_chardev_peer) */

static void
agent_peer_attach (void *data, void (*kick) (void *kick_data), void *kick_data)
{
  struct vmm_spice *spice = data;
  bool job = false;

  g_mutex_lock (&spice->agent_lock);
  spice->agent_kick = kick;
  spice->agent_kick_data = kick_data;
  if (kick == NULL && spice->agent_guest_open)
    {
      /* The port is gone: so is the agent */
      spice->agent_guest_open = false;
      ring_clear (&spice->to_spice);
      ring_clear (&spice->to_guest);
      spice->agent_guest_blocked = spice->agent_spice_blocked = false;
      job = agent_want_job (spice);
    }
  g_mutex_unlock (&spice->agent_lock);
  if (job)
    agent_queue_job (spice);
}

static size_t
agent_peer_write (void *data, const void *buf, size_t len)
{
  struct vmm_spice *spice = data;
  bool job = false;
  size_t n;

  g_mutex_lock (&spice->agent_lock);
  if (!spice->agent_guest_open)
    {
      /* Not a session: nothing for spice (a guest writing to a port it did
       * not open) */
      g_mutex_unlock (&spice->agent_lock);
      return len;
    }
  n = ring_put (&spice->to_spice, buf, len);
  if (n < len && !spice->agent_guest_blocked)
    {
      spice->agent_guest_blocked = true;
      vmm_log_limited (&spice->agent_rl, VMM_LOG_INFO,
                       "spice: the agent's messages wait for the clients to take them");
    }
  if (n > 0)
    job = agent_want_job (spice);
  g_mutex_unlock (&spice->agent_lock);
  if (job)
    agent_queue_job (spice);
  return n;
}

static size_t
agent_peer_read (void *data, void *buf, size_t len)
{
  struct vmm_spice *spice = data;
  bool job = false;
  size_t n;

  g_mutex_lock (&spice->agent_lock);
  n = ring_get (&spice->to_guest, buf, len);
  if (spice->agent_spice_blocked && ring_space (&spice->to_guest) >= AGENT_RING_SIZE / 2)
    {
      spice->agent_spice_blocked = false;
      job = agent_want_job (spice);
    }
  g_mutex_unlock (&spice->agent_lock);
  if (job)
    agent_queue_job (spice);
  return n;
}

static bool
agent_peer_connected (void *data)
{
  /* The server is there as long as we are: the guest may talk at once */
  (void) data;
  return true;
}

static void
agent_peer_guest_open (void *data, bool open)
{
  struct vmm_spice *spice = data;
  bool job = false;

  g_mutex_lock (&spice->agent_lock);
  if (spice->agent_guest_open != open)
    {
      spice->agent_guest_open = open;
      if (open)
        spice->agent_open_gen++;
      /* A new session starts with nothing of the old one (the protocol's
       * framing would not survive half a message) */
      ring_clear (&spice->to_spice);
      ring_clear (&spice->to_guest);
      spice->agent_spice_blocked = false;
      if (spice->agent_guest_blocked)
        {
          /* Its writes are dropped now: let the device go on */
          spice->agent_guest_blocked = false;
          agent_kick (spice);
        }
      job = agent_want_job (spice);
    }
  g_mutex_unlock (&spice->agent_lock);
  if (job)
    agent_queue_job (spice);
}

static const struct vmm_chardev_peer_ops agent_peer_ops = {
  .attach = agent_peer_attach,
  .write = agent_peer_write,
  .read = agent_peer_read,
  .connected = agent_peer_connected,
  .guest_open = agent_peer_guest_open,
};

/* ---- set-up and tear-down ---- */

struct setup {
  struct vmm_spice *spice;
  GError *error;
};

static gboolean
setup_on_thread (gpointer data)
{
  struct setup *setup = data;
  struct vmm_spice *spice = setup->spice;
  bool tablet = spice->input.abs != NULL;

  spice->server = spice_server_new ();
  spice_server_set_noauth (spice->server);
  /* Local clients: raw pixels beat compressing them */
  spice_server_set_image_compression (spice->server, SPICE_IMAGE_COMPRESSION_OFF);
  spice_server_set_streaming_video (spice->server, SPICE_STREAM_VIDEO_OFF);
  /* Client mouse mode through the tablet when there is one, not the agent */
  spice_server_set_agent_mouse (spice->server, !tablet);
  /* The clipboard through the guest agent */
  spice_server_set_agent_copypaste (spice->server, 1);
  if (spice_server_init (spice->server, &spice->core) != 0)
    {
      g_set_error (&setup->error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("The SPICE server could not be started"));
      g_clear_pointer (&spice->server, spice_server_destroy);
      return G_SOURCE_REMOVE;
    }
  if (spice->input.key != NULL)
    spice_server_add_interface (spice->server, &spice->kbd.base);
  if (tablet)
    spice_server_add_interface (spice->server, &spice->tablet.base);
  spice->tablet_attached = tablet;
  g_mutex_lock (&spice->fb_lock);
  spice->want_tablet = tablet;
  g_mutex_unlock (&spice->fb_lock);
  if (spice->input.rel != NULL)
    spice_server_add_interface (spice->server, &spice->mouse.base);
  spice_server_add_interface (spice->server, &spice->qxl.base);
  spice_server_vm_start (spice->server);
  /* The primary surface before any client: the guest's screen when it
   * already has one, else the black one */
  surface_job (spice);
  return G_SOURCE_REMOVE;
}

static gpointer
spice_thread (gpointer data)
{
  struct vmm_spice *spice = data;

  g_main_context_push_thread_default (spice->ctx);
  g_main_loop_run (spice->loop);
  g_main_context_pop_thread_default (spice->ctx);
  return NULL;
}

static void
init_interfaces (struct vmm_spice *spice)
{
  spice->core = (SpiceCoreInterface) {
    .base = {
      .type = SPICE_INTERFACE_CORE,
      .description = "vivarium",
      .major_version = SPICE_INTERFACE_CORE_MAJOR,
      .minor_version = SPICE_INTERFACE_CORE_MINOR,
    },
    .timer_add = core_timer_add,
    .timer_start = core_timer_start,
    .timer_cancel = core_timer_cancel,
    .timer_remove = core_timer_remove,
    .watch_add = core_watch_add,
    .watch_update_mask = core_watch_update_mask,
    .watch_remove = core_watch_remove,
  };
  spice->qxl_if = (QXLInterface) {
    .base = {
      .type = SPICE_INTERFACE_QXL,
      .description = "vivarium display",
      .major_version = SPICE_INTERFACE_QXL_MAJOR,
      .minor_version = SPICE_INTERFACE_QXL_MINOR,
    },
    .attached_worker = qxl_attached_worker,
    .set_compression_level = qxl_set_compression_level,
    .get_init_info = qxl_get_init_info,
    .get_command = qxl_get_command,
    .req_cmd_notification = qxl_req_cmd_notification,
    .release_resource = qxl_release_resource,
    .get_cursor_command = qxl_get_cursor_command,
    .req_cursor_notification = qxl_req_cursor_notification,
    .notify_update = qxl_notify_update,
    .flush_resources = qxl_flush_resources,
    .async_complete = qxl_async_complete,
    .update_area_complete = qxl_update_area_complete,
    .set_client_capabilities = qxl_set_client_capabilities,
    .client_monitors_config = qxl_client_monitors_config,
  };
  spice->qxl.base.sif = &spice->qxl_if.base;
  spice->qxl.id = 0;
  spice->kbd_if = (SpiceKbdInterface) {
    .base = {
      .type = SPICE_INTERFACE_KEYBOARD,
      .description = "vivarium keyboard",
      .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
      .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
    },
    .push_scan_freg = kbd_push_scan_freg,
    .get_leds = kbd_get_leds,
  };
  spice->kbd.base.sif = &spice->kbd_if.base;
  spice->tablet_if = (SpiceTabletInterface) {
    .base = {
      .type = SPICE_INTERFACE_TABLET,
      .description = "vivarium tablet",
      .major_version = SPICE_INTERFACE_TABLET_MAJOR,
      .minor_version = SPICE_INTERFACE_TABLET_MINOR,
    },
    .set_logical_size = tablet_set_logical_size,
    .position = tablet_position,
    .wheel = tablet_wheel,
    .buttons = tablet_buttons,
  };
  spice->tablet.base.sif = &spice->tablet_if.base;
  spice->mouse_if = (SpiceMouseInterface) {
    .base = {
      .type = SPICE_INTERFACE_MOUSE,
      .description = "vivarium mouse",
      .major_version = SPICE_INTERFACE_MOUSE_MAJOR,
      .minor_version = SPICE_INTERFACE_MOUSE_MINOR,
    },
    .motion = mouse_motion,
    .buttons = mouse_buttons,
  };
  spice->mouse.base.sif = &spice->mouse_if.base;
  spice->agent_if = (SpiceCharDeviceInterface) {
    .base = {
      .type = SPICE_INTERFACE_CHAR_DEVICE,
      .description = "vivarium guest agent",
      .major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
      .minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
    },
    .state = agent_sif_state,
    .write = agent_sif_write,
    .read = agent_sif_read,
    .event = agent_sif_event,
    /* We wake spice when the guest made room: no retry timer */
    .flags = SPICE_CHAR_DEVICE_NOTIFY_WRITABLE,
  };
  spice->agent_sin.base.sif = &spice->agent_if.base;
  spice->agent_sin.subtype = "vdagent";
  spice->agent_peer = (struct vmm_chardev_peer) { .ops = &agent_peer_ops, .data = spice };
}

struct vmm_spice *
vmm_spice_new (const struct vmm_spice_config *config, GError **error)
{
  struct vmm_spice *spice;
  struct setup setup = { 0 };

  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  spice = g_new0 (struct vmm_spice, 1);
  if (config->input != NULL)
    spice->input = *config->input;
  if (config->device != NULL)
    spice->device = *config->device;
  spice->listen_fd = -1;
  g_mutex_init (&spice->fb_lock);
  g_mutex_init (&spice->agent_lock);
  g_queue_init (&spice->cursor_cmds);
  spice->listener = (struct vmm_display_listener) {
    .set_surface = listener_set_surface,
    .update = listener_update,
    .set_cursor = listener_set_cursor,
    .move_cursor = listener_move_cursor,
    .data = spice,
  };
  spice->led_listener = (struct vmm_input_led_listener) {
    .leds = listener_leds,
    .data = spice,
  };
  init_interfaces (spice);

  spice->ctx = g_main_context_new ();
  spice->loop = g_main_loop_new (spice->ctx, FALSE);
  spice->thread = g_thread_try_new ("spice", spice_thread, spice, error);
  if (spice->thread == NULL)
    {
      vmm_spice_free (spice);
      return NULL;
    }
  setup.spice = spice;
  run_on_thread (spice, setup_on_thread, &setup);
  if (setup.error != NULL)
    {
      g_propagate_error (error, setup.error);
      vmm_spice_free (spice);
      return NULL;
    }
  return spice;
}

static gboolean
teardown_on_thread (gpointer data)
{
  struct vmm_spice *spice = data;

  if (spice->listen_source != NULL)
    {
      g_source_destroy (spice->listen_source);
      g_clear_pointer (&spice->listen_source, g_source_unref);
    }
  if (spice->server != NULL)
    {
      if (spice->agent_attached)
        spice_server_remove_interface (&spice->agent_sin.base);
      spice->agent_attached = false;
      spice_server_vm_stop (spice->server);
      g_clear_pointer (&spice->server, spice_server_destroy);
    }
  g_main_loop_quit (spice->loop);
  return G_SOURCE_REMOVE;
}

void
vmm_spice_free (struct vmm_spice *spice)
{
  struct spice_cmd *cmd;

  if (spice == NULL)
    return;
  if (spice->thread != NULL)
    {
      run_on_thread (spice, teardown_on_thread, spice);
      g_thread_join (spice->thread);
    }
  if (spice->listen_fd >= 0)
    close (spice->listen_fd);
  if (spice->listen_path != NULL)
    unlink (spice->listen_path);
  g_free (spice->listen_path);
  while ((cmd = g_queue_pop_head (&spice->cursor_cmds)) != NULL)
    spice_cmd_free (cmd);
  g_free (spice->primary_mem);
  g_free (spice->fb);
  g_clear_pointer (&spice->loop, g_main_loop_unref);
  g_clear_pointer (&spice->ctx, g_main_context_unref);
  g_mutex_clear (&spice->fb_lock);
  g_mutex_clear (&spice->agent_lock);
  g_free (spice);
}

const struct vmm_display_listener *
vmm_spice_display_listener (struct vmm_spice *spice)
{
  g_return_val_if_fail (spice != NULL, NULL);
  return &spice->listener;
}

const struct vmm_input_led_listener *
vmm_spice_led_listener (struct vmm_spice *spice)
{
  g_return_val_if_fail (spice != NULL, NULL);
  return &spice->led_listener;
}

const struct vmm_chardev_peer *
vmm_spice_agent_peer (struct vmm_spice *spice)
{
  g_return_val_if_fail (spice != NULL, NULL);
  return &spice->agent_peer;
}

/* ---- clients ---- */

struct add_client {
  struct vmm_spice *spice;
  int fd;
  int result;
};

static gboolean
add_client_on_thread (gpointer data)
{
  struct add_client *add = data;

  add->result = spice_server_add_client (add->spice->server, add->fd, 0);
  return G_SOURCE_REMOVE;
}

int
vmm_spice_connect_client (struct vmm_spice *spice, GError **error)
{
  int fds[2];
  struct add_client add = { .spice = spice };

  g_return_val_if_fail (spice != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Could not make a socket for the display: %s"), g_strerror (saved));
      return -1;
    }
  add.fd = fds[1];
  run_on_thread (spice, add_client_on_thread, &add);
  if (add.result != 0)
    {
      /* spice-server keeps the fd only when it takes the client */
      close (fds[1]);
      close (fds[0]);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("The SPICE server did not take the connection"));
      return -1;
    }
  return fds[0];
}

static gboolean
listen_accept (gint fd, GIOCondition cond, gpointer data)
{
  struct vmm_spice *spice = data;
  int client;

  (void) cond;
  client = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0)
    {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        vmm_log_warning ("spice: accepting a client failed: %s", g_strerror (errno));
      return G_SOURCE_CONTINUE;
    }
  if (spice_server_add_client (spice->server, client, 0) != 0)
    close (client);
  return G_SOURCE_CONTINUE;
}

static gboolean
listen_on_thread (gpointer data)
{
  struct vmm_spice *spice = data;

  spice->listen_source = g_unix_fd_source_new (spice->listen_fd, G_IO_IN);
  g_source_set_callback (spice->listen_source, (GSourceFunc) (void (*) (void)) listen_accept,
                         spice, NULL);
  g_source_attach (spice->listen_source, spice->ctx);
  return G_SOURCE_REMOVE;
}

gboolean
vmm_spice_listen_unix (struct vmm_spice *spice, const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct stat st;
  int fd;

  g_return_val_if_fail (spice != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (spice->listen_fd >= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("The display already listens on %s"), spice->listen_path);
      return FALSE;
    }
  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   _("The display socket path %s is too long"), path);
      return FALSE;
    }
  strcpy (addr.sun_path, path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    goto fail;
  /* The socket's file gets the socket's mode: nobody else may connect */
  if (fchmod (fd, 0600) < 0)
    goto fail;
  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    goto fail;
  if (chmod (path, 0600) < 0 || listen (fd, 8) < 0)
    {
      int saved = errno;
      unlink (path);
      errno = saved;
      goto fail;
    }
  spice->listen_fd = fd;
  spice->listen_path = g_strdup (path);
  run_on_thread (spice, listen_on_thread, spice);
  return TRUE;

fail:
  {
    int saved = errno;
    if (fd >= 0)
      close (fd);
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                 _("Could not listen for display clients on %s: %s"), path, g_strerror (saved));
    return FALSE;
  }
}

/* ---- thumbnails ---- */

static void
png_chunk (GByteArray *out, const char *type, const uint8_t *data, uint32_t len)
{
  uint8_t be[4] = { len >> 24, len >> 16, len >> 8, len };
  uLong crc = crc32 (0, (const Bytef *) type, 4);

  g_byte_array_append (out, be, 4);
  g_byte_array_append (out, (const guint8 *) type, 4);
  if (len > 0)
    {
      g_byte_array_append (out, data, len);
      crc = crc32 (crc, data, len);
    }
  be[0] = (uint8_t) (crc >> 24);
  be[1] = (uint8_t) (crc >> 16);
  be[2] = (uint8_t) (crc >> 8);
  be[3] = (uint8_t) crc;
  g_byte_array_append (out, be, 4);
}

/* An 8-bit RGB PNG of W × H pixels, rows of W * 3 bytes */
static GByteArray *
png_encode (const uint8_t *rgb, uint32_t w, uint32_t h)
{
  static const uint8_t signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  GByteArray *out = g_byte_array_new ();
  size_t row = (size_t) w * 3;
  size_t raw_len = (row + 1) * h;
  g_autofree uint8_t *raw = g_malloc (raw_len);
  uLongf z_len = compressBound ((uLong) raw_len);
  g_autofree uint8_t *z = g_malloc (z_len);
  uint8_t ihdr[13] = {
    w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h,
    8,  /* bit depth */
    2,  /* colour type: RGB */
    0, 0, 0,
  };

  for (uint32_t y = 0; y < h; y++)
    {
      raw[y * (row + 1)] = 0;   /* filter: none */
      memcpy (raw + y * (row + 1) + 1, rgb + y * row, row);
    }
  if (compress2 (z, &z_len, raw, (uLong) raw_len, 6) != Z_OK)
    {
      g_byte_array_unref (out);
      return NULL;
    }
  g_byte_array_append (out, signature, sizeof signature);
  png_chunk (out, "IHDR", ihdr, sizeof ihdr);
  png_chunk (out, "IDAT", z, (uint32_t) z_len);
  png_chunk (out, "IEND", NULL, 0);
  return out;
}

static int write_thumbnail (struct vmm_spice *spice, const char *path, bool if_changed,
                            GError **error);

int
vmm_spice_write_thumbnail_if_changed (struct vmm_spice *spice, const char *path, GError **error)
{
  return write_thumbnail (spice, path, true, error);
}

int
vmm_spice_write_thumbnail (struct vmm_spice *spice, const char *path, GError **error)
{
  return write_thumbnail (spice, path, false, error);
}

static int
write_thumbnail (struct vmm_spice *spice, const char *path, bool if_changed, GError **error)
{
  g_autofree uint8_t *rgb = NULL;
  g_autoptr (GByteArray) png = NULL;
  bool was_dirty;
  uint32_t tw, th;

  g_return_val_if_fail (spice != NULL, -1);
  g_return_val_if_fail (path != NULL, -1);
  g_return_val_if_fail (error == NULL || *error == NULL, -1);

  g_mutex_lock (&spice->fb_lock);
  if ((if_changed && !spice->thumb_dirty) || spice->fb == NULL)
    {
      g_mutex_unlock (&spice->fb_lock);
      return 0;
    }
  was_dirty = spice->thumb_dirty;
  if (if_changed)
    spice->thumb_dirty = false;
  /* Scaled down by averaging boxes of source pixels (up: nearest) */
  tw = MIN (THUMB_WIDTH, spice->fb_w);
  th = (uint32_t) MAX (1, (uint64_t) spice->fb_h * tw / spice->fb_w);
  rgb = g_malloc ((size_t) tw * th * 3);
  for (uint32_t ty = 0; ty < th; ty++)
    {
      uint32_t y0 = (uint32_t) ((uint64_t) ty * spice->fb_h / th);
      uint32_t y1 = MAX (y0 + 1, (uint32_t) ((uint64_t) (ty + 1) * spice->fb_h / th));
      for (uint32_t tx = 0; tx < tw; tx++)
        {
          uint32_t x0 = (uint32_t) ((uint64_t) tx * spice->fb_w / tw);
          uint32_t x1 = MAX (x0 + 1, (uint32_t) ((uint64_t) (tx + 1) * spice->fb_w / tw));
          uint64_t sum[3] = { 0 }, n = (uint64_t) (x1 - x0) * (y1 - y0);
          for (uint32_t y = y0; y < y1; y++)
            for (uint32_t x = x0; x < x1; x++)
              {
                const uint8_t *p = spice->fb + ((size_t) y * spice->fb_w + x) * 4;
                sum[0] += p[2];
                sum[1] += p[1];
                sum[2] += p[0];
              }
          uint8_t *o = rgb + ((size_t) ty * tw + tx) * 3;
          for (unsigned c = 0; c < 3; c++)
            o[c] = (uint8_t) ((sum[c] + n / 2) / n);
        }
    }
  g_mutex_unlock (&spice->fb_lock);

  png = png_encode (rgb, tw, th);
  if (png == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("Could not compress the screen thumbnail"));
      goto retry;
    }
  if (!g_file_set_contents_full (path, (const char *) png->data, png->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0644, error))
    goto retry;
  return 1;

retry:
  g_mutex_lock (&spice->fb_lock);
  spice->thumb_dirty = spice->thumb_dirty || was_dirty;
  g_mutex_unlock (&spice->fb_lock);
  return -1;
}
