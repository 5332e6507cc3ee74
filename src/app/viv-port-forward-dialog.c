/* viv-port-forward-dialog.c: adds or edits one port forward of a machine
 *
 * A small modal window over the machine's preferences: the protocol, the
 * port on this computer, the port on the machine, and whether other
 * computers may connect (the forward then listens on every address,
 * 0.0.0.0; otherwise on 127.0.0.1 only). The ports are spin buttons
 * bounded to 1–65535, so a port out of range cannot be entered. A forward
 * of a protocol and host port that another forward of the machine already
 * has is refused here, with the reason under the rows, before machine.json
 * would refuse it. Enter adds (or saves), Escape cancels; "apply" says the
 * person confirmed, and the window closes itself after it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-port-forward-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "viv-port-forward-dialog.h"

#define ADDRESS_ANY "0.0.0.0"

struct _VivPortForwardDialog
{
  AdwWindow       parent_instance;

  VivPortForward *forward;        /* the one edited, or NULL when adding */
  GPtrArray      *others;         /* of VivPortForward*: the machine's other forwards */
  gboolean        public_touched; /* the switch was used: the address follows it */
  char           *problem;

  /* template children */
  GtkButton      *save_button;
  AdwComboRow    *protocol_row;
  GtkSpinButton  *host_spin;
  GtkSpinButton  *guest_spin;
  GtkSwitch      *public_switch;
  GtkLabel       *problem_label;
};

G_DEFINE_FINAL_TYPE (VivPortForwardDialog, viv_port_forward_dialog, ADW_TYPE_WINDOW)

enum {
  SIGNAL_APPLY,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *
protocol_name (VivProtocol protocol)
{
  /* Not translated: the protocols' names */
  return protocol == VIV_PROTOCOL_UDP ? "UDP" : "TCP";
}

static VivProtocol
selected_protocol (VivPortForwardDialog *self)
{
  return adw_combo_row_get_selected (self->protocol_row) == 1 ? VIV_PROTOCOL_UDP
                                                               : VIV_PROTOCOL_TCP;
}

/* Whether ADDRESS lets other computers connect */
static gboolean
address_is_public (const char *address)
{
  g_autoptr(GInetAddress) parsed = NULL;

  if (address == NULL)
    return FALSE;
  parsed = g_inet_address_new_from_string (address);
  return parsed == NULL || !g_inet_address_get_is_loopback (parsed);
}

/* Another forward has this protocol and host port: say so, and refuse */
static void
check (VivPortForwardDialog *self)
{
  VivProtocol protocol = selected_protocol (self);
  guint host_port = (guint) gtk_spin_button_get_value_as_int (self->host_spin);

  g_clear_pointer (&self->problem, g_free);
  for (guint i = 0; i < self->others->len; i++)
    {
      const VivPortForward *other = g_ptr_array_index (self->others, i);

      if (other->protocol == protocol && other->host_port == host_port)
        {
          /* Translators: %s is a protocol (TCP or UDP), %u a port number */
          self->problem = g_strdup_printf (_("%s port %u is already forwarded to this machine"),
                                           protocol_name (protocol), host_port);
          break;
        }
    }

  gtk_label_set_label (self->problem_label, self->problem != NULL ? self->problem : "");
  gtk_widget_set_visible (GTK_WIDGET (self->problem_label), self->problem != NULL);
  if (self->problem != NULL)
    gtk_widget_add_css_class (GTK_WIDGET (self->host_spin), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->host_spin), "error");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "forward.apply", self->problem == NULL);
}

static void
on_changed (VivPortForwardDialog *self)
{
  check (self);
}

static void
on_public_changed (VivPortForwardDialog *self)
{
  self->public_touched = TRUE;
}

static void
apply_action (GtkWidget  *widget,
              const char *action_name G_GNUC_UNUSED,
              GVariant   *parameter G_GNUC_UNUSED)
{
  VivPortForwardDialog *self = VIV_PORT_FORWARD_DIALOG (widget);

  /* what is typed but not yet taken (the Enter that got here) counts */
  gtk_spin_button_update (self->host_spin);
  gtk_spin_button_update (self->guest_spin);
  check (self);
  if (self->problem != NULL)
    return;

  g_signal_emit (self, signals[SIGNAL_APPLY], 0);
  gtk_window_destroy (GTK_WINDOW (self));
}

/* The spin buttons' Enter is the dialog's default button */
static void
activates_default (GtkSpinButton *spin)
{
  GtkEditable *delegate = gtk_editable_get_delegate (GTK_EDITABLE (spin));

  if (GTK_IS_TEXT (delegate))
    gtk_text_set_activates_default (GTK_TEXT (delegate), TRUE);
}

/**
 * viv_port_forward_dialog_new:
 * @parent: the machine's preferences
 * @forward: (nullable): the forward to edit, or %NULL to add one
 * @others: (element-type VivPortForward): the machine's other forwards,
 *   whose protocol and host port the new one must not repeat; copied
 */
VivPortForwardDialog *
viv_port_forward_dialog_new (GtkWindow            *parent,
                             const VivPortForward *forward,
                             GPtrArray            *others)
{
  VivPortForwardDialog *self;

  g_return_val_if_fail (GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (others != NULL, NULL);

  self = g_object_new (VIV_TYPE_PORT_FORWARD_DIALOG,
                       "transient-for", parent,
                       "modal", TRUE,
                       NULL);
  for (guint i = 0; i < others->len; i++)
    {
      const VivPortForward *other = g_ptr_array_index (others, i);

      g_ptr_array_add (self->others,
                       viv_port_forward_new (other->protocol, other->host_port,
                                             other->guest_port));
    }

  if (forward != NULL)
    {
      self->forward = viv_port_forward_new (forward->protocol, forward->host_port,
                                            forward->guest_port);
      self->forward->address = g_strdup (forward->address);
      gtk_window_set_title (GTK_WINDOW (self), _("Edit Port Forward"));
      gtk_button_set_label (self->save_button, _("_Save"));
      adw_combo_row_set_selected (self->protocol_row,
                                  forward->protocol == VIV_PROTOCOL_UDP ? 1 : 0);
      gtk_spin_button_set_value (self->host_spin, forward->host_port);
      gtk_spin_button_set_value (self->guest_spin, forward->guest_port);
      gtk_switch_set_active (self->public_switch, address_is_public (forward->address));
    }
  self->public_touched = FALSE;
  check (self);
  /* the port to type first; its Enter adds */
  gtk_window_set_focus (GTK_WINDOW (self), GTK_WIDGET (self->host_spin));
  return self;
}

/* What the dialog says: a new forward (free it) */
VivPortForward *
viv_port_forward_dialog_dup_forward (VivPortForwardDialog *self)
{
  VivPortForward *forward;

  g_return_val_if_fail (VIV_IS_PORT_FORWARD_DIALOG (self), NULL);

  forward = viv_port_forward_new (selected_protocol (self),
                                  (guint) gtk_spin_button_get_value_as_int (self->host_spin),
                                  (guint) gtk_spin_button_get_value_as_int (self->guest_spin));
  /* An address set elsewhere ("::", or one of the host's) stays until the
   * switch is used */
  if (self->forward != NULL && !self->public_touched)
    forward->address = g_strdup (self->forward->address);
  else if (gtk_switch_get_active (self->public_switch))
    forward->address = g_strdup (ADDRESS_ANY);
  return forward;
}

/* Why the forward cannot be added as it is, or NULL */
const char *
viv_port_forward_dialog_get_problem (VivPortForwardDialog *self)
{
  g_return_val_if_fail (VIV_IS_PORT_FORWARD_DIALOG (self), NULL);

  return self->problem;
}

/* Whether it edits a forward rather than adding one */
gboolean
viv_port_forward_dialog_get_editing (VivPortForwardDialog *self)
{
  g_return_val_if_fail (VIV_IS_PORT_FORWARD_DIALOG (self), FALSE);

  return self->forward != NULL;
}

static void
viv_port_forward_dialog_finalize (GObject *object)
{
  VivPortForwardDialog *self = VIV_PORT_FORWARD_DIALOG (object);

  g_clear_pointer (&self->forward, viv_port_forward_free);
  g_clear_pointer (&self->others, g_ptr_array_unref);
  g_free (self->problem);

  G_OBJECT_CLASS (viv_port_forward_dialog_parent_class)->finalize (object);
}

static void
viv_port_forward_dialog_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), VIV_TYPE_PORT_FORWARD_DIALOG);

  G_OBJECT_CLASS (viv_port_forward_dialog_parent_class)->dispose (object);
}

static void
viv_port_forward_dialog_class_init (VivPortForwardDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = viv_port_forward_dialog_dispose;
  object_class->finalize = viv_port_forward_dialog_finalize;

  /**
   * VivPortForwardDialog::apply:
   *
   * The person confirmed a forward no other forward conflicts with:
   * viv_port_forward_dialog_dup_forward() says which. The dialog closes
   * after.
   */
  signals[SIGNAL_APPLY] =
    g_signal_new ("apply", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PATH "/ui/viv-port-forward-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, save_button);
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, protocol_row);
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, host_spin);
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, guest_spin);
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, public_switch);
  gtk_widget_class_bind_template_child (widget_class, VivPortForwardDialog, problem_label);
  gtk_widget_class_bind_template_callback (widget_class, on_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_public_changed);

  gtk_widget_class_install_action (widget_class, "forward.apply", NULL, apply_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
viv_port_forward_dialog_init (VivPortForwardDialog *self)
{
  /* before the template: its rows' signals check against it */
  self->others = g_ptr_array_new_with_free_func ((GDestroyNotify) viv_port_forward_free);
  gtk_widget_init_template (GTK_WIDGET (self));

  activates_default (self->host_spin);
  activates_default (self->guest_spin);
  gtk_window_set_default_widget (GTK_WINDOW (self), GTK_WIDGET (self->save_button));
}
