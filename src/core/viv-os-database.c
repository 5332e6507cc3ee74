/* viv-os-database.c: names and logos of operating systems, from libosinfo
 *
 * Reading osinfo-db takes about half a second (OsinfoLoader parses some
 * thousand XML files), so it is read once, in a worker thread, and only
 * what the app shows is kept: each OS's name, and its logo where the
 * database names a local file (osinfo-db's logos are web addresses, which
 * the app does not fetch; a symbolic icon stands in for them). Until the
 * database is loaded, lookups return NULL; "loaded" is notified once it is.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-os-database"

#include "config.h"

#include <osinfo/osinfo.h>

#include "viv-os-catalog.h"
#include "viv-os-database.h"

typedef struct
{
  char       *name;
  GdkTexture *logo;   /* nullable */
} OsEntry;

struct _VivOsDatabase
{
  GObject     parent_instance;

  GHashTable *entries;  /* OS id → OsEntry*; NULL until loaded */
  gboolean    loading;
};

G_DEFINE_FINAL_TYPE (VivOsDatabase, viv_os_database, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_LOADED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
os_entry_free (OsEntry *entry)
{
  g_free (entry->name);
  g_clear_object (&entry->logo);
  g_free (entry);
}

static GdkTexture *
load_logo (const char *logo)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;
  GdkTexture *texture;

  if (logo == NULL)
    return NULL;
  if (g_str_has_prefix (logo, "file://"))
    file = g_file_new_for_uri (logo);
  else if (g_path_is_absolute (logo))
    file = g_file_new_for_path (logo);
  else
    return NULL;   /* on the web: not fetched */

  texture = gdk_texture_new_from_file (file, &error);
  if (texture == NULL)
    g_debug ("cannot load the logo %s: %s", logo, error->message);
  return texture;
}

static void
load_thread (GTask        *task,
             gpointer      source_object G_GNUC_UNUSED,
             gpointer      task_data G_GNUC_UNUSED,
             GCancellable *cancellable G_GNUC_UNUSED)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(OsinfoOsList) list = NULL;
  g_autoptr(OsinfoDb) db = NULL;
  GHashTable *entries;

  entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) os_entry_free);

  /* The one database the wizard uses too, read once for the process. */
  db = viv_os_db_get (&error);
  if (db == NULL)
    {
      g_debug ("no operating system names: %s", error->message);
      g_task_return_pointer (task, entries, (GDestroyNotify) g_hash_table_unref);
      return;
    }
  list = osinfo_db_get_os_list (db);
  for (int i = 0; i < osinfo_list_get_length (OSINFO_LIST (list)); i++)
    {
      OsinfoProduct *product = OSINFO_PRODUCT (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *id = osinfo_entity_get_id (OSINFO_ENTITY (product));
      const char *name = osinfo_product_get_name (product);
      OsEntry *entry;

      if (id == NULL || name == NULL)
        continue;
      entry = g_new0 (OsEntry, 1);
      entry->name = g_strdup (name);
      entry->logo = load_logo (osinfo_product_get_logo (product));
      g_hash_table_replace (entries, g_strdup (id), entry);
    }

  g_task_return_pointer (task, entries, (GDestroyNotify) g_hash_table_unref);
}

static void
on_loaded (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data G_GNUC_UNUSED)
{
  VivOsDatabase *self = VIV_OS_DATABASE (object);

  self->loading = FALSE;
  self->entries = g_task_propagate_pointer (G_TASK (result), NULL);
  g_debug ("%u operating systems known", g_hash_table_size (self->entries));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
}

/* The one database of the process, for the main thread; it starts loading
 * when first asked for. */
VivOsDatabase *
viv_os_database_get_default (void)
{
  static VivOsDatabase *instance;

  if (instance == NULL)
    {
      instance = g_object_new (VIV_TYPE_OS_DATABASE, NULL);
      viv_os_database_load (instance);
    }
  return instance;
}

/* Starts reading osinfo-db in a worker thread, unless done or under way */
void
viv_os_database_load (VivOsDatabase *self)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (VIV_IS_OS_DATABASE (self));

  if (self->entries != NULL || self->loading)
    return;
  self->loading = TRUE;
  task = g_task_new (self, NULL, on_loaded, NULL);
  g_task_set_source_tag (task, viv_os_database_load);
  g_task_run_in_thread (task, load_thread);
}

gboolean
viv_os_database_get_loaded (VivOsDatabase *self)
{
  g_return_val_if_fail (VIV_IS_OS_DATABASE (self), FALSE);

  return self->entries != NULL;
}

/* The OS's name for people ("Debian 11"), or NULL: unknown, or not loaded yet */
const char *
viv_os_database_get_name (VivOsDatabase *self,
                          const char    *os_id)
{
  OsEntry *entry;

  g_return_val_if_fail (VIV_IS_OS_DATABASE (self), NULL);

  if (os_id == NULL || self->entries == NULL)
    return NULL;
  entry = g_hash_table_lookup (self->entries, os_id);
  return entry != NULL ? entry->name : NULL;
}

/* (transfer none) (nullable): the OS's logo, where osinfo-db has a local one */
GdkPaintable *
viv_os_database_get_logo (VivOsDatabase *self,
                          const char    *os_id)
{
  OsEntry *entry;

  g_return_val_if_fail (VIV_IS_OS_DATABASE (self), NULL);

  if (os_id == NULL || self->entries == NULL)
    return NULL;
  entry = g_hash_table_lookup (self->entries, os_id);
  return entry != NULL && entry->logo != NULL ? GDK_PAINTABLE (entry->logo) : NULL;
}

static void
viv_os_database_finalize (GObject *object)
{
  VivOsDatabase *self = VIV_OS_DATABASE (object);

  g_clear_pointer (&self->entries, g_hash_table_unref);

  G_OBJECT_CLASS (viv_os_database_parent_class)->finalize (object);
}

static void
viv_os_database_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  VivOsDatabase *self = VIV_OS_DATABASE (object);

  switch (prop_id)
    {
    case PROP_LOADED:
      g_value_set_boolean (value, viv_os_database_get_loaded (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_os_database_class_init (VivOsDatabaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = viv_os_database_finalize;
  object_class->get_property = viv_os_database_get_property;

  properties[PROP_LOADED] =
    g_param_spec_boolean ("loaded", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_os_database_init (VivOsDatabase *self G_GNUC_UNUSED)
{
}
