/* viv-application.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-library.h"

G_BEGIN_DECLS

#define VIV_TYPE_APPLICATION (viv_application_get_type ())

G_DECLARE_FINAL_TYPE (VivApplication, viv_application, VIV, APPLICATION, AdwApplication)

VivApplication *viv_application_new       (void);
void            viv_application_init_i18n (void);
GSettings      *viv_application_get_settings (VivApplication *self);
VivLibrary     *viv_application_get_library  (VivApplication *self);
const char     *viv_application_get_library_error (VivApplication *self);

G_END_DECLS
