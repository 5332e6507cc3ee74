/* viv-wizard-os-list.h: the operating systems libosinfo knows, searchable
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-os-catalog.h"

G_BEGIN_DECLS

#define VIV_TYPE_WIZARD_OS_LIST (viv_wizard_os_list_get_type ())
G_DECLARE_FINAL_TYPE (VivWizardOsList, viv_wizard_os_list, VIV, WIZARD_OS_LIST, GtkWidget)

void        viv_wizard_os_list_set_catalog            (VivWizardOsList *self,
                                                       VivOsCatalog    *catalog);
void        viv_wizard_os_list_set_error              (VivWizardOsList *self,
                                                       const char      *message);
void        viv_wizard_os_list_set_search_text        (VivWizardOsList *self,
                                                       const char      *text);
const char *viv_wizard_os_list_get_search_text        (VivWizardOsList *self);
guint       viv_wizard_os_list_get_n_shown            (VivWizardOsList *self);
VivOsItem  *viv_wizard_os_list_get_shown              (VivWizardOsList *self,
                                                       guint            position);
void        viv_wizard_os_list_set_key_capture_widget (VivWizardOsList *self,
                                                       GtkWidget       *widget);
void        viv_wizard_os_list_focus_search           (VivWizardOsList *self);

G_END_DECLS
