/* viv-serial-console.c: a machine's serial console, as text
 *
 * While the machine runs, the console reads the guest's COM1 through
 * viv_machine_open_serial_async() and shows it in a read-only monospace
 * text view that follows the output (unless the user scrolled up), keeping
 * the last VIV_SERIAL_CONSOLE_MAX_LINES lines. Keys typed into it go to the
 * guest, as a terminal would send them; Ctrl+Shift+C and Ctrl+Shift+V copy
 * and paste, and the keys the app uses (Escape, Alt+Left, Ctrl+Shift+…)
 * stay the app's. The helper replays the last 64 KiB on each connection, so
 * the text starts over when the machine starts again.
 *
 * The graphical console replaces this widget for machines with a display;
 * it stays for the text-only ones.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-serial-console"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-serial-console.h"

#define READ_SIZE    8192
#define FOLLOW_SLACK 24     /* pixels from the end that still count as the end */
#define FOLLOW_STEPS 64     /* scrolls to the end in one frame, at most */
#define SILENCE_SECONDS 5   /* connected without a word this long: the page gives a hint */

typedef enum
{
  ESCAPE_NONE,
  ESCAPE_START,     /* after ESC */
  ESCAPE_CSI,       /* after ESC [ */
  ESCAPE_STRING,    /* after ESC ] (up to BEL or ESC \) */
} EscapeState;

struct _VivSerialConsole
{
  GtkWidget      parent_instance;

  VivMachine    *machine;
  GCancellable  *cancellable;   /* the connection; replaced on each */
  GIOStream     *stream;
  gboolean       opening;
  GByteArray    *partial;       /* the start of a UTF-8 character cut by a read */
  EscapeState    escape;
  GByteArray    *outgoing;      /* keys not written yet */
  gboolean       writing;
  gboolean       follow;        /* keep the end in sight: the user has not scrolled away */
  guint          follow_id;     /* scrolling to the end on the next frame */
  guint          silence_id;    /* connected, nothing shown yet: counting to "silent" */
  gboolean       silent;

  /* template children */
  GtkScrolledWindow *scroller;
  GtkTextView       *text_view;
};

G_DEFINE_FINAL_TYPE (VivSerialConsole, viv_serial_console, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MACHINE,
  PROP_CONNECTED,
  PROP_SILENT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void start_read  (VivSerialConsole *self);
static void write_next  (VivSerialConsole *self);

/* --- silence ---------------------------------------------------------------------- */

/* A guest that writes nowhere we read (a kernel without console=ttyS0, or
 * one on a graphical console we cannot show yet) leaves the view blank:
 * after a while connected without a character, the console says it is
 * silent, and the page explains. */
static void
set_silent (VivSerialConsole *self,
            gboolean          silent)
{
  if (self->silent == silent)
    return;
  self->silent = silent;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SILENT]);
}

static gboolean
on_silence (gpointer data)
{
  VivSerialConsole *self = data;

  self->silence_id = 0;
  set_silent (self, TRUE);
  return G_SOURCE_REMOVE;
}

static void
stop_silence (VivSerialConsole *self)
{
  g_clear_handle_id (&self->silence_id, g_source_remove);
  set_silent (self, FALSE);
}

/* --- text ----------------------------------------------------------------------- */

/* Drops what a terminal would interpret (escape sequences, carriage
 * returns, other control characters); a backspace takes back a character. */
static void
filter_controls (VivSerialConsole *self,
                 const char       *text,
                 GString          *out)
{
  for (const char *p = text; *p != '\0'; p++)
    {
      char c = *p;

      switch (self->escape)
        {
        case ESCAPE_START:
          self->escape = c == '[' ? ESCAPE_CSI : c == ']' ? ESCAPE_STRING : ESCAPE_NONE;
          continue;
        case ESCAPE_CSI:
          if (c >= 0x40 && c <= 0x7e)
            self->escape = ESCAPE_NONE;
          continue;
        case ESCAPE_STRING:
          if (c == '\a' || c == '\\')
            self->escape = ESCAPE_NONE;
          continue;
        case ESCAPE_NONE:
        default:
          break;
        }

      if (c == '\x1b')
        self->escape = ESCAPE_START;
      else if (c == '\b')
        {
          if (out->len > 0 && out->str[out->len - 1] != '\n')
            {
              const char *prev = g_utf8_find_prev_char (out->str, out->str + out->len);

              g_string_truncate (out, prev != NULL ? (gsize) (prev - out->str) : 0);
            }
        }
      else if (c == '\n' || c == '\t' || (guchar) c >= 0x20)
        g_string_append_c (out, c);
    }
}

/* How many bytes at the end of DATA start a UTF-8 character they do not finish */
static gsize
incomplete_tail (const guchar *data,
                 gsize         len)
{
  for (gsize back = 1; back <= 3 && back <= len; back++)
    {
      guchar c = data[len - back];
      gsize need;

      if ((c & 0xc0) == 0x80)
        continue;          /* a continuation byte: look further back */
      if ((c & 0xe0) == 0xc0)
        need = 2;
      else if ((c & 0xf0) == 0xe0)
        need = 3;
      else if ((c & 0xf8) == 0xf0)
        need = 4;
      else
        return 0;
      return need > back ? back : 0;
    }
  return 0;
}

/* Following the output: the view keeps the end in sight, unless the user
 * scrolled up. Whether it follows is a state that only the user's scrolling
 * changes, not a guess from where the view is when text comes: the text
 * view lays out new lines lazily (a line has no height until then, and
 * lines off screen are laid out later, in idle time), so the end moves
 * after the view got there, and a view left short of it would look
 * scrolled up by the user and stop following for good. */
static gboolean
at_end (GtkAdjustment *adjustment)
{
  double page = gtk_adjustment_get_page_size (adjustment);

  /* Not on screen yet, or the end shows above the bottom margin */
  return page <= 0 || gtk_adjustment_get_value (adjustment) + page >=
                      gtk_adjustment_get_upper (adjustment) - FOLLOW_SLACK;
}

/* Straight to the end: scroll_to_mark() animates, and the steps of an
 * animation would look like the user scrolling. Each scroll lays out the
 * lines it brings on screen, which moves the end on: again until it
 * stays, the rest at the next frame. */
static gboolean
follow_tick (GtkWidget     *widget G_GNUC_UNUSED,
             GdkFrameClock *clock G_GNUC_UNUSED,
             gpointer       data)
{
  VivSerialConsole *self = data;
  GtkAdjustment *adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (self->text_view));

  for (guint i = 0; i < FOLLOW_STEPS; i++)
    {
      double end = gtk_adjustment_get_upper (adjustment) -
                   gtk_adjustment_get_page_size (adjustment);

      if (!self->follow || gtk_adjustment_get_value (adjustment) >= end)
        {
          self->follow_id = 0;
          return G_SOURCE_REMOVE;
        }
      gtk_adjustment_set_value (adjustment, end);
    }
  return G_SOURCE_CONTINUE;
}

static void
follow_on_next_frame (VivSerialConsole *self)
{
  if (self->follow && self->follow_id == 0)
    self->follow_id = gtk_widget_add_tick_callback (GTK_WIDGET (self->text_view), follow_tick,
                                                    self, NULL);
}

/* The view moved. While it scrolls to the end itself, that is its own
 * doing (and the text view's, keeping the lines on screen in place as it
 * lays out the ones above); otherwise the user scrolled: away from the end
 * stops following, back to it starts again. */
static void
on_value_changed (GtkAdjustment    *adjustment,
                  VivSerialConsole *self)
{
  if (self->follow_id == 0)
    self->follow = at_end (adjustment);
}

/* The text grew or shrank, or the view did: the end may have moved */
static void
on_adjustment_changed (GtkAdjustment    *adjustment G_GNUC_UNUSED,
                       VivSerialConsole *self)
{
  follow_on_next_frame (self);
}

static void
append_text (VivSerialConsole *self,
             const char       *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->text_view);
  GtkTextIter end;
  int lines;

  if (*text == '\0')
    return;

  stop_silence (self);
  gtk_text_buffer_get_end_iter (buffer, &end);
  gtk_text_buffer_insert (buffer, &end, text, -1);

  /* Bounded: drop the oldest lines, a tenth at a time */
  lines = gtk_text_buffer_get_line_count (buffer);
  if (lines > VIV_SERIAL_CONSOLE_MAX_LINES + VIV_SERIAL_CONSOLE_MAX_LINES / 10)
    {
      GtkTextIter start, cut;

      gtk_text_buffer_get_start_iter (buffer, &start);
      gtk_text_buffer_get_iter_at_line (buffer, &cut, lines - VIV_SERIAL_CONSOLE_MAX_LINES);
      gtk_text_buffer_delete (buffer, &start, &cut);
    }

  follow_on_next_frame (self);
}

static void
append_bytes (VivSerialConsole *self,
              const guchar     *data,
              gsize             len)
{
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *valid = NULL;
  gsize tail;

  g_byte_array_append (self->partial, data, (guint) len);
  tail = incomplete_tail (self->partial->data, self->partial->len);
  valid = g_utf8_make_valid ((const char *) self->partial->data,
                             (gssize) (self->partial->len - tail));
  g_byte_array_remove_range (self->partial, 0, (guint) (self->partial->len - tail));

  filter_controls (self, valid, out);
  append_text (self, out->str);
}

/* --- the connection --------------------------------------------------------------------- */

static void
set_stream (VivSerialConsole *self,
            GIOStream        *stream)
{
  gboolean was_connected = self->stream != NULL;

  if (self->stream != NULL)
    {
      g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
      g_clear_object (&self->stream);
    }
  self->stream = stream != NULL ? g_object_ref (stream) : NULL;
  g_byte_array_set_size (self->outgoing, 0);
  stop_silence (self);
  if (self->stream != NULL &&
      gtk_text_buffer_get_char_count (gtk_text_view_get_buffer (self->text_view)) == 0)
    self->silence_id = g_timeout_add_seconds (SILENCE_SECONDS, on_silence, self);
  gtk_text_view_set_cursor_visible (self->text_view, self->stream != NULL);
  if (was_connected != (self->stream != NULL))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONNECTED]);
}

static void
disconnect (VivSerialConsole *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->opening = FALSE;
  self->writing = FALSE;
  set_stream (self, NULL);
}

static void
on_read (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(VivSerialConsole) self = user_data;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->stream == NULL || g_io_stream_get_input_stream (self->stream) != G_INPUT_STREAM (object))
    return;   /* an old connection */

  if (bytes == NULL || g_bytes_get_size (bytes) == 0)
    {
      if (error != NULL)
        g_debug ("the serial console closed: %s", error->message);
      set_stream (self, NULL);
      return;
    }

  append_bytes (self, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  start_read (self);
}

static void
start_read (VivSerialConsole *self)
{
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (self->stream), READ_SIZE,
                                   G_PRIORITY_DEFAULT, self->cancellable, on_read,
                                   g_object_ref (self));
}

static void
on_serial_opened (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(VivSerialConsole) self = user_data;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GError) error = NULL;

  stream = viv_machine_open_serial_finish (VIV_MACHINE (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (VIV_MACHINE (object) != self->machine)
    return;
  self->opening = FALSE;

  if (stream == NULL)
    {
      g_autofree char *line = NULL;

      g_debug ("cannot open the serial console of %s: %s",
               viv_machine_get_uuid (self->machine), error->message);
      /* it stopped meanwhile: nothing to say */
      if (g_error_matches (error, VIV_MACHINE_ERROR, VIV_MACHINE_ERROR_WRONG_STATE))
        return;
      /* Translators: %s says why */
      line = g_strdup_printf (_("Could not connect to the serial console: %s"), error->message);
      append_text (self, line);
      append_text (self, "\n");
      return;
    }

  /* The helper replays what the guest printed lately: start over. */
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->text_view), "", 0);
  g_byte_array_set_size (self->partial, 0);
  self->escape = ESCAPE_NONE;
  set_stream (self, stream);
  start_read (self);
}

static gboolean
machine_has_console (VivMachine *machine)
{
  switch (viv_machine_get_state (machine))
    {
    case VIV_MACHINE_STATE_RUNNING:
    case VIV_MACHINE_STATE_PAUSED:
    case VIV_MACHINE_STATE_SHUTTING_DOWN:
      return TRUE;
    case VIV_MACHINE_STATE_STOPPED:
    case VIV_MACHINE_STATE_STARTING:
    case VIV_MACHINE_STATE_CRASHED:
    case VIV_MACHINE_STATE_BROKEN:
    default:
      return FALSE;
    }
}

static void
update_connection (VivSerialConsole *self)
{
  if (self->machine == NULL || !machine_has_console (self->machine))
    {
      /* Keep the text: the last words of a machine that stopped */
      if (self->stream != NULL || self->opening)
        disconnect (self);
      return;
    }

  if (self->stream != NULL || self->opening)
    return;

  self->opening = TRUE;
  self->cancellable = g_cancellable_new ();
  viv_machine_open_serial_async (self->machine, self->cancellable, on_serial_opened,
                                 g_object_ref (self));
}

/* --- typing ------------------------------------------------------------------------ */

static void
on_written (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(VivSerialConsole) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize written;

  written = g_output_stream_write_bytes_finish (G_OUTPUT_STREAM (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->writing = FALSE;
  if (self->stream == NULL || g_io_stream_get_output_stream (self->stream) != G_OUTPUT_STREAM (object))
    return;
  if (written < 0)
    {
      g_debug ("cannot type into the serial console: %s", error->message);
      g_byte_array_set_size (self->outgoing, 0);
      return;
    }
  g_byte_array_remove_range (self->outgoing, 0, (guint) written);
  write_next (self);
}

static void
write_next (VivSerialConsole *self)
{
  g_autoptr(GBytes) bytes = NULL;

  if (self->writing || self->stream == NULL || self->outgoing->len == 0)
    return;
  self->writing = TRUE;
  bytes = g_bytes_new (self->outgoing->data, self->outgoing->len);
  g_output_stream_write_bytes_async (g_io_stream_get_output_stream (self->stream), bytes,
                                     G_PRIORITY_DEFAULT, self->cancellable, on_written,
                                     g_object_ref (self));
}

/**
 * viv_serial_console_send:
 * @self: a console
 * @data: bytes to type into the guest
 * @len: their length
 *
 * Writes to the guest's serial port, as typing does. Nothing happens while
 * the console is not connected.
 */
void
viv_serial_console_send (VivSerialConsole *self,
                         const char       *data,
                         gsize             len)
{
  g_return_if_fail (VIV_IS_SERIAL_CONSOLE (self));

  if (self->stream == NULL || len == 0)
    return;
  g_byte_array_append (self->outgoing, (const guint8 *) data, (guint) len);
  write_next (self);
}

static void
on_paste_text (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(VivSerialConsole) self = user_data;
  g_autofree char *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (object), result, NULL);

  if (text != NULL)
    viv_serial_console_send (self, text, strlen (text));
}

static const char *
sequence_for_key (guint keyval)
{
  switch (keyval)
    {
    case GDK_KEY_Return:
    case GDK_KEY_KP_Enter:
    case GDK_KEY_ISO_Enter:
      return "\r";
    case GDK_KEY_BackSpace:
      return "\x7f";
    case GDK_KEY_Tab:
      return "\t";
    case GDK_KEY_Up:
      return "\x1b[A";
    case GDK_KEY_Down:
      return "\x1b[B";
    case GDK_KEY_Right:
      return "\x1b[C";
    case GDK_KEY_Left:
      return "\x1b[D";
    case GDK_KEY_Home:
      return "\x1b[H";
    case GDK_KEY_End:
      return "\x1b[F";
    case GDK_KEY_Delete:
      return "\x1b[3~";
    default:
      return NULL;
    }
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller G_GNUC_UNUSED,
                guint                  keyval,
                guint                  keycode G_GNUC_UNUSED,
                GdkModifierType        state,
                VivSerialConsole      *self)
{
  const char *sequence;
  gunichar c;

  if (self->stream == NULL)
    return FALSE;

  state &= gtk_accelerator_get_default_mod_mask ();
  if (state & (GDK_ALT_MASK | GDK_SUPER_MASK | GDK_META_MASK))
    return FALSE;

  if ((state & GDK_CONTROL_MASK) && (state & GDK_SHIFT_MASK))
    {
      if (keyval == GDK_KEY_C || keyval == GDK_KEY_c)
        {
          g_signal_emit_by_name (self->text_view, "copy-clipboard");
          return TRUE;
        }
      if (keyval == GDK_KEY_V || keyval == GDK_KEY_v)
        {
          gdk_clipboard_read_text_async (gtk_widget_get_clipboard (GTK_WIDGET (self)), NULL,
                                         on_paste_text, g_object_ref (self));
          return TRUE;
        }
      return FALSE;   /* the app's shortcuts */
    }

  if (state & GDK_CONTROL_MASK)
    {
      guint lower = gdk_keyval_to_lower (keyval);

      if (lower >= GDK_KEY_a && lower <= GDK_KEY_z)
        {
          char control = (char) (lower - GDK_KEY_a + 1);

          viv_serial_console_send (self, &control, 1);
          return TRUE;
        }
      return FALSE;
    }

  sequence = sequence_for_key (keyval);
  if (sequence != NULL)
    {
      viv_serial_console_send (self, sequence, strlen (sequence));
      return TRUE;
    }

  c = gdk_keyval_to_unicode (keyval);
  if (c >= 0x20 && c != 0x7f)
    {
      char utf8[6];
      int len = g_unichar_to_utf8 (c, utf8);

      viv_serial_console_send (self, utf8, (gsize) len);
      return TRUE;
    }
  return FALSE;   /* Escape and the rest: the app's */
}

/* --- public API ----------------------------------------------------------------------- */

GtkWidget *
viv_serial_console_new (void)
{
  return g_object_new (VIV_TYPE_SERIAL_CONSOLE, NULL);
}

VivMachine *
viv_serial_console_get_machine (VivSerialConsole *self)
{
  g_return_val_if_fail (VIV_IS_SERIAL_CONSOLE (self), NULL);

  return self->machine;
}

static void
on_machine_state (VivSerialConsole *self)
{
  update_connection (self);
}

void
viv_serial_console_set_machine (VivSerialConsole *self,
                                VivMachine       *machine)
{
  g_return_if_fail (VIV_IS_SERIAL_CONSOLE (self));
  g_return_if_fail (machine == NULL || VIV_IS_MACHINE (machine));

  if (self->machine == machine)
    return;

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  disconnect (self);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->text_view), "", 0);
  g_byte_array_set_size (self->partial, 0);
  self->escape = ESCAPE_NONE;

  g_set_object (&self->machine, machine);
  if (machine != NULL)
    g_signal_connect_swapped (machine, "notify::state", G_CALLBACK (on_machine_state), self);
  update_connection (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MACHINE]);
}

/* Whether the console reads the guest now */
gboolean
viv_serial_console_get_connected (VivSerialConsole *self)
{
  g_return_val_if_fail (VIV_IS_SERIAL_CONSOLE (self), FALSE);

  return self->stream != NULL;
}

/* Whether the console has been connected a while and shown nothing */
gboolean
viv_serial_console_get_silent (VivSerialConsole *self)
{
  g_return_val_if_fail (VIV_IS_SERIAL_CONSOLE (self), FALSE);

  return self->silent;
}

/* The text shown */
char *
viv_serial_console_dup_text (VivSerialConsole *self)
{
  GtkTextBuffer *buffer;
  GtkTextIter start, end;

  g_return_val_if_fail (VIV_IS_SERIAL_CONSOLE (self), NULL);

  buffer = gtk_text_view_get_buffer (self->text_view);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

/* --- GObject ------------------------------------------------------------------------- */

static gboolean
viv_serial_console_grab_focus (GtkWidget *widget)
{
  return gtk_widget_grab_focus (GTK_WIDGET (VIV_SERIAL_CONSOLE (widget)->text_view));
}

static void
viv_serial_console_dispose (GObject *object)
{
  VivSerialConsole *self = VIV_SERIAL_CONSOLE (object);

  if (self->machine != NULL)
    g_signal_handlers_disconnect_by_data (self->machine, self);
  g_clear_object (&self->machine);
  disconnect (self);
  self->follow = FALSE;   /* the text view going away changes the adjustment */
  if (self->follow_id != 0 && self->text_view != NULL)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self->text_view), self->follow_id);
  self->follow_id = 0;
  g_clear_handle_id (&self->silence_id, g_source_remove);

  gtk_widget_dispose_template (GTK_WIDGET (self), VIV_TYPE_SERIAL_CONSOLE);

  G_OBJECT_CLASS (viv_serial_console_parent_class)->dispose (object);
}

static void
viv_serial_console_finalize (GObject *object)
{
  VivSerialConsole *self = VIV_SERIAL_CONSOLE (object);

  g_byte_array_unref (self->partial);
  g_byte_array_unref (self->outgoing);

  G_OBJECT_CLASS (viv_serial_console_parent_class)->finalize (object);
}

static void
viv_serial_console_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  VivSerialConsole *self = VIV_SERIAL_CONSOLE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      g_value_set_object (value, self->machine);
      break;

    case PROP_CONNECTED:
      g_value_set_boolean (value, self->stream != NULL);
      break;

    case PROP_SILENT:
      g_value_set_boolean (value, self->silent);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_serial_console_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  VivSerialConsole *self = VIV_SERIAL_CONSOLE (object);

  switch (prop_id)
    {
    case PROP_MACHINE:
      viv_serial_console_set_machine (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_serial_console_class_init (VivSerialConsoleClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_serial_console_dispose;
  object_class->finalize = viv_serial_console_finalize;
  object_class->get_property = viv_serial_console_get_property;
  object_class->set_property = viv_serial_console_set_property;

  widget_class->grab_focus = viv_serial_console_grab_focus;

  properties[PROP_MACHINE] =
    g_param_spec_object ("machine", NULL, NULL,
                         VIV_TYPE_MACHINE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CONNECTED] =
    g_param_spec_boolean ("connected", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SILENT] =
    g_param_spec_boolean ("silent", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-serial-console.ui");
  gtk_widget_class_bind_template_child (widget_class, VivSerialConsole, scroller);
  gtk_widget_class_bind_template_child (widget_class, VivSerialConsole, text_view);

  gtk_widget_class_set_css_name (widget_class, "serialconsole");
}

static void
viv_serial_console_init (VivSerialConsole *self)
{
  GtkEventController *keys;
  GtkAdjustment *adjustment;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->follow = TRUE;
  adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (self->text_view));
  g_signal_connect_object (adjustment, "value-changed", G_CALLBACK (on_value_changed), self, 0);
  g_signal_connect_object (adjustment, "changed", G_CALLBACK (on_adjustment_changed), self, 0);

  self->partial = g_byte_array_new ();
  self->outgoing = g_byte_array_new ();

  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->text_view), keys);
}
