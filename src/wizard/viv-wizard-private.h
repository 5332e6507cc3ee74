/* viv-wizard-private.h: what the files of VivWizard share
 *
 * viv-wizard.c has the window: its pages and how one goes from one to the
 * next, the header's buttons and the keys; viv-wizard-source.c the first
 * steps (what the machine starts from: a disc image and what is on it, a
 * disk image, a kernel, an operating system from the list);
 * viv-wizard-review.c the last ones (resources, review, creating).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "viv-os-catalog.h"
#include "viv-wizard.h"
#include "viv-wizard-os-list.h"

G_BEGIN_DECLS

#define VIV_MIB (G_GUINT64_CONSTANT (1) << 20)
#define VIV_GIB (G_GUINT64_CONSTANT (1) << 30)

struct _VivWizard
{
  AdwWindow          parent_instance;

  VivLibrary        *library;
  VivMachineCreator *creator;
  GCancellable      *cancellable;         /* the window's: cancelled when it goes */
  gboolean           disposed;
  GPtrArray         *history;             /* of page names, for Back */
  VivOsCatalog      *catalog;             /* NULL while it loads */
  char              *pending_os_id;       /* wizard.choose-os before the catalog was there */

  /* A disc image */
  GCancellable      *detect_cancellable;  /* the detection under way */
  char              *iso_path;
  VivMedia          *media;               /* detected */
  guint              detect_delay_id;
  gint64             detect_started;      /* monotonic, µs */
  gboolean           checking_detected;   /* its boot files looked for, as part of detecting */

  /* A disk image */
  GCancellable      *disk_cancellable;    /* reading its header */
  char              *disk_path;
  char              *disk_format;         /* "qcow2", "raw"; NULL until read */
  guint64            disk_virtual_size;
  guint64            disk_actual_size;
  gboolean           disk_ok;
  char              *disk_import;         /* "copy" or "reference" */
  char              *disk_write_problem;  /* why it cannot be used where it is */

  /* A kernel */
  GCancellable      *kernel_cancellable;  /* checking the files are there */

  /* The OS list opened from this page */
  char              *os_list_from;

  /* Resources, review, creating */
  guint64            free_space;          /* in the machines' folder */
  gboolean           free_space_known;
  gboolean           updating;            /* filling in the widgets: no feedback */
  gboolean           name_edited;
  gboolean           start_machine;
  GCancellable      *create_cancellable;  /* the creation under way */

  /* template children */
  AdwToastOverlay   *toast_overlay;
  GtkButton         *back_button;
  AdwWindowTitle    *window_title;
  GtkButton         *next_button;
  GtkButton         *create_button;
  GtkStack          *stack;
  GtkWidget         *source_page;
  GtkListBox        *source_list;
  VivWizardOsList   *source_os_list;
  GtkStack          *media_stack;
  AdwStatusPage     *detecting_page;
  GtkSpinner        *detecting_spinner;
  GtkImage          *media_logo;
  GtkLabel          *media_title;
  GtkLabel          *media_description;
  AdwActionRow      *media_os_row;
  AdwActionRow      *media_file_row;
  AdwActionRow      *media_boot_row;
  AdwStatusPage     *media_error_page;
  AdwActionRow      *disk_file_row;
  AdwActionRow      *reference_row;
  GtkCheckButton    *reference_check;
  GtkSpinner        *disk_spinner;
  AdwEntryRow       *kernel_entry;
  AdwEntryRow       *initrd_entry;
  AdwEntryRow       *cmdline_entry;
  GtkLabel          *kernel_error;
  GtkLabel          *os_page_label;
  VivWizardOsList   *os_list;
  AdwPreferencesGroup *resources_group;
  AdwActionRow      *memory_row;
  GtkSpinButton     *memory_spin;
  AdwActionRow      *cpus_row;
  GtkSpinButton     *cpus_spin;
  AdwActionRow      *disk_row;
  GtkSpinButton     *disk_spin;
  AdwActionRow      *image_disk_row;
  GtkWidget         *space_warning;
  GtkLabel          *space_warning_label;
  GtkWidget         *review_error;
  GtkLabel          *review_error_label;
  GtkWidget         *review_warning;
  GtkLabel          *review_warning_label;
  AdwEntryRow       *name_row;
  GtkLabel          *name_error;
  AdwActionRow      *review_os_row;
  GtkImage          *review_logo;
  AdwActionRow      *review_source_row;
  AdwActionRow      *review_resources_row;
  AdwActionRow      *start_row;
  GtkSwitch         *start_switch;
  AdwStatusPage     *creating_page;
  GtkProgressBar    *progress_bar;
  GtkLabel          *progress_label;
};

/* viv-wizard.c */
void     viv_wizard_show_page             (VivWizard      *self,
                                           const char     *page,
                                           gboolean        push);
void     viv_wizard_go_to_review          (VivWizard      *self,
                                           const char     *via);
void     viv_wizard_update_actions        (VivWizard      *self);
gboolean viv_wizard_is_page               (VivWizard      *self,
                                           const char     *page);

/* viv-wizard-source.c */
void     viv_wizard_class_init_source     (GtkWidgetClass *widget_class);
void     viv_wizard_init_source           (VivWizard      *self);
void     viv_wizard_dispose_source        (VivWizard      *self);
void     viv_wizard_cancel_source_tasks   (VivWizard      *self);
gboolean viv_wizard_source_can_go_on      (VivWizard      *self,
                                           const char     *page);
void     viv_wizard_next_from_kernel      (VivWizard      *self);
void     viv_wizard_set_disk_import       (VivWizard      *self,
                                           const char     *import);
void     viv_wizard_describe_os           (VivWizard      *self,
                                           char          **name,
                                           char          **detail,
                                           GdkPaintable  **logo);

/* viv-wizard-review.c */
void     viv_wizard_class_init_review     (GtkWidgetClass *widget_class);
void     viv_wizard_init_review           (VivWizard      *self);
void     viv_wizard_refresh_resources     (VivWizard      *self);
void     viv_wizard_refresh_review        (VivWizard      *self);
gboolean viv_wizard_review_can_create     (VivWizard      *self);
gboolean viv_wizard_can_start             (VivWizard      *self);
void     viv_wizard_create                (VivWizard      *self);

G_END_DECLS
