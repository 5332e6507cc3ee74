/* viv-wizard.h: the create-machine wizard
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-library.h"
#include "viv-machine-creator.h"
#include "viv-media.h"

G_BEGIN_DECLS

#define VIV_TYPE_WIZARD (viv_wizard_get_type ())
G_DECLARE_FINAL_TYPE (VivWizard, viv_wizard, VIV, WIZARD, AdwWindow)

VivWizard         *viv_wizard_new          (GtkWindow  *parent,
                                            VivLibrary *library);
void               viv_wizard_choose_file  (VivWizard  *self,
                                            GFile      *file);
const char        *viv_wizard_get_page     (VivWizard  *self);
gboolean           viv_wizard_get_busy     (VivWizard  *self);
VivMachineCreator *viv_wizard_get_creator  (VivWizard  *self);
VivMedia          *viv_wizard_get_media    (VivWizard  *self);

G_END_DECLS
