/* viv-os-catalog.h: the operating systems libosinfo knows, and what they need
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <osinfo/osinfo.h>

G_BEGIN_DECLS

/* ---- the database, loaded once and shared ------------------------------------ */

void        viv_os_db_load_async          (GCancellable         *cancellable,
                                           GAsyncReadyCallback   callback,
                                           gpointer              user_data);
OsinfoDb   *viv_os_db_load_finish         (GAsyncResult         *result,
                                           GError              **error);
OsinfoDb   *viv_os_db_get                 (GError              **error);
void        viv_os_db_shutdown            (void);

OsinfoOs   *viv_os_db_get_generic_linux   (OsinfoDb             *db);
OsinfoOs   *viv_os_db_find_os             (OsinfoDb             *db,
                                           const char           *id_or_short_id);

/* ---- one operating system ------------------------------------------------------ */

#define VIV_TYPE_OS_ITEM (viv_os_item_get_type ())
G_DECLARE_FINAL_TYPE (VivOsItem, viv_os_item, VIV, OS_ITEM, GObject)

VivOsItem  *viv_os_item_new               (OsinfoOs             *os);
OsinfoOs   *viv_os_item_get_os            (VivOsItem            *self);
const char *viv_os_item_get_id            (VivOsItem            *self);
const char *viv_os_item_get_short_id      (VivOsItem            *self);
const char *viv_os_item_get_name          (VivOsItem            *self);
const char *viv_os_item_get_vendor        (VivOsItem            *self);
const char *viv_os_item_get_family        (VivOsItem            *self);
const char *viv_os_item_get_distro        (VivOsItem            *self);
const char *viv_os_item_get_version       (VivOsItem            *self);
const char *viv_os_item_get_release_date  (VivOsItem            *self);
const char *viv_os_item_get_logo          (VivOsItem            *self);
GIcon      *viv_os_item_get_logo_icon     (VivOsItem            *self);
gboolean    viv_os_item_get_eol           (VivOsItem            *self);
gboolean    viv_os_item_matches           (VivOsItem            *self,
                                           const char           *query);

/* ---- the catalog: a GListModel of VivOsItem ----------------------------------- */

#define VIV_TYPE_OS_CATALOG (viv_os_catalog_get_type ())
G_DECLARE_FINAL_TYPE (VivOsCatalog, viv_os_catalog, VIV, OS_CATALOG, GObject)

VivOsCatalog *viv_os_catalog_get_default  (void);
void          viv_os_catalog_load         (VivOsCatalog         *self);
gboolean      viv_os_catalog_get_loaded   (VivOsCatalog         *self);
const char   *viv_os_catalog_get_name     (VivOsCatalog         *self,
                                           const char           *os_id);
GIcon        *viv_os_catalog_get_logo     (VivOsCatalog         *self,
                                           const char           *os_id);
void          viv_os_catalog_new_async    (GCancellable         *cancellable,
                                           GAsyncReadyCallback   callback,
                                           gpointer              user_data);
VivOsCatalog *viv_os_catalog_new_finish   (GAsyncResult         *result,
                                           GError              **error);
VivOsCatalog *viv_os_catalog_new_for_db   (OsinfoDb             *db);
VivOsItem    *viv_os_catalog_find         (VivOsCatalog         *self,
                                           const char           *id_or_short_id);
GListModel   *viv_os_catalog_search       (VivOsCatalog         *self,
                                           const char           *query);

/* ---- resources ------------------------------------------------------------------- */

/* Where a value of VivOsResources came from */
typedef enum
{
  VIV_OS_RESOURCE_RECOMMENDED,    /* the OS's recommended resources */
  VIV_OS_RESOURCE_MINIMUM,        /* its minimum, larger than our default */
  VIV_OS_RESOURCE_DEFAULT,        /* the database says nothing: our default */
} VivOsResourceOrigin;

typedef struct
{
  guint64             memory;        /* bytes */
  guint               cpus;
  guint64             disk;          /* bytes */
  VivOsResourceOrigin memory_origin;
  VivOsResourceOrigin cpus_origin;
  VivOsResourceOrigin disk_origin;
  gboolean            memory_capped; /* the OS wanted more than the host allows */
  gboolean            cpus_capped;
} VivOsResources;

#define VIV_OS_DEFAULT_MEMORY (G_GUINT64_CONSTANT (2) << 30)    /* 2 GiB */
#define VIV_OS_DEFAULT_CPUS   2
#define VIV_OS_DEFAULT_DISK   (G_GUINT64_CONSTANT (20) << 30)   /* 20 GiB */

void        viv_os_get_resources          (OsinfoOs             *os,
                                           VivOsResources       *resources);
gboolean    viv_os_needs_uefi             (OsinfoOs             *os);
gboolean    viv_os_has_virtio_block       (OsinfoOs             *os);

G_END_DECLS
