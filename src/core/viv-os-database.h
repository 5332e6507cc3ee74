/* viv-os-database.h: names and logos of operating systems, from libosinfo
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VIV_TYPE_OS_DATABASE (viv_os_database_get_type ())
G_DECLARE_FINAL_TYPE (VivOsDatabase, viv_os_database, VIV, OS_DATABASE, GObject)

VivOsDatabase *viv_os_database_get_default (void);
gboolean       viv_os_database_get_loaded  (VivOsDatabase *self);
void           viv_os_database_load        (VivOsDatabase *self);
const char    *viv_os_database_get_name    (VivOsDatabase *self,
                                            const char    *os_id);
GdkPaintable  *viv_os_database_get_logo    (VivOsDatabase *self,
                                            const char    *os_id);

G_END_DECLS
