/* viv-os-catalog.c: the operating systems libosinfo knows, and what they need
 *
 * libosinfo's database takes a good part of a second to read, so it is read
 * once, in a worker thread, and shared: viv_os_db_get() blocks the calling
 * (worker) thread until it is there, viv_os_db_load_async() is the same for
 * the main thread. The database is only read afterwards, from any thread.
 *
 * The catalog is a GListModel of VivOsItem, small objects that copy what the
 * wizard shows (so that the UI never calls into libosinfo while drawing),
 * sorted: supported releases before those past their end of life, then by
 * distribution (or family), newest first. The wizard builds one for its
 * list; the process's own (viv_os_catalog_get_default()) names the systems
 * of the machines in the collection, and has their logos, as soon as it is
 * loaded: until then lookups return NULL, and "loaded" is notified once it
 * is. Logos are GIcons (the file's bytes): the widgets make the pictures.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-os-catalog"

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-host.h"
#include "viv-os-catalog.h"

#define MIB                  (G_GUINT64_CONSTANT (1) << 20)
#define GENERIC_LINUX_PREFIX "http://libosinfo.org/linux/"
#define HOST_ARCH            "x86_64"
#define UNKNOWN_OS_ID        "http://libosinfo.org/unknown"

/* ---- the database ------------------------------------------------------------------ */

static GMutex db_lock;
static OsinfoLoader *db_loader;     /* guarded by db_lock */

/**
 * viv_os_db_get:
 * @error: return location for a #GError
 *
 * The shared libosinfo database, read the first time it is asked for. Blocks
 * while it is read (once): call it from a worker thread, or use
 * viv_os_db_load_async(). Thread-safe.
 *
 * Returns: (transfer full): the database
 */
OsinfoDb *
viv_os_db_get (GError **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&db_lock);
  OsinfoDb *db;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (db_loader == NULL)
    {
      g_autoptr(OsinfoLoader) loader = osinfo_loader_new ();
      g_autoptr(GError) local_error = NULL;
      g_autoptr(OsinfoOsList) list = NULL;

      osinfo_loader_process_default_path (loader, &local_error);
      list = osinfo_db_get_os_list (osinfo_loader_get_db (loader));
      if (osinfo_list_get_length (OSINFO_LIST (list)) == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       /* Translators: %s is the reason */
                       _("Could not read the database of operating systems: %s"),
                       local_error != NULL ? local_error->message
                                           : _("it lists no operating system"));
          return NULL;
        }
      /* One broken file does not make the rest useless. */
      if (local_error != NULL)
        g_warning ("Parts of the osinfo database could not be read: %s", local_error->message);
      db_loader = g_steal_pointer (&loader);
    }

  db = osinfo_loader_get_db (db_loader);
  return g_object_ref (db);
}

static void
load_db_thread (GTask        *task,
                gpointer      source_object G_GNUC_UNUSED,
                gpointer      task_data G_GNUC_UNUSED,
                GCancellable *cancellable G_GNUC_UNUSED)
{
  GError *error = NULL;
  OsinfoDb *db = viv_os_db_get (&error);

  if (db != NULL)
    g_task_return_pointer (task, db, g_object_unref);
  else
    g_task_return_error (task, error);
}

void
viv_os_db_load_async (GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_os_db_load_async);
  g_task_set_return_on_cancel (task, TRUE);
  g_task_run_in_thread (task, load_db_thread);
}

/**
 * viv_os_db_load_finish:
 *
 * Returns: (transfer full): the shared database, or %NULL with @error set
 */
OsinfoDb *
viv_os_db_load_finish (GAsyncResult  *result,
                       GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_os_db_load_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * viv_os_db_shutdown:
 *
 * Drops the shared database, at exit (so that LeakSanitizer sees nothing
 * left). Objects handed out keep theirs alive; a later viv_os_db_get()
 * reads it again.
 */
void
viv_os_db_shutdown (void)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&db_lock);

  g_clear_object (&db_loader);
}

static gboolean
has_short_id (OsinfoOs   *os,
              const char *short_id)
{
  g_autoptr(GList) ids = osinfo_product_get_short_id_list (OSINFO_PRODUCT (os));

  for (GList *l = ids; l != NULL; l = l->next)
    if (g_strcmp0 (l->data, short_id) == 0)
      return TRUE;
  return FALSE;
}

/**
 * viv_os_db_find_os:
 * @db: the database
 * @id_or_short_id: a libosinfo id ("http://debian.org/debian/11") or short
 *   id ("debian11")
 *
 * Returns: (transfer none) (nullable): the OS
 */
OsinfoOs *
viv_os_db_find_os (OsinfoDb   *db,
                   const char *id_or_short_id)
{
  g_autoptr(OsinfoOsList) list = NULL;
  OsinfoOs *os;
  int n;

  g_return_val_if_fail (OSINFO_IS_DB (db), NULL);
  g_return_val_if_fail (id_or_short_id != NULL, NULL);

  os = osinfo_db_get_os (db, id_or_short_id);
  if (os != NULL)
    return os;

  list = osinfo_db_get_os_list (db);
  n = osinfo_list_get_length (OSINFO_LIST (list));
  for (int i = 0; i < n; i++)
    {
      OsinfoOs *candidate = OSINFO_OS (osinfo_list_get_nth (OSINFO_LIST (list), i));

      if (has_short_id (candidate, id_or_short_id))
        return candidate;
    }
  return NULL;
}

/**
 * viv_os_db_get_generic_linux:
 * @db: the database
 *
 * The newest of libosinfo's generic Linux entries
 * ("http://libosinfo.org/linux/2022" with osinfo-db 20221130): the profile
 * for a Linux nobody recognised.
 *
 * Returns: (transfer none) (nullable): the OS
 */
OsinfoOs *
viv_os_db_get_generic_linux (OsinfoDb *db)
{
  g_autoptr(OsinfoOsList) list = NULL;
  OsinfoOs *best = NULL;
  const char *best_date = NULL;
  int n;

  g_return_val_if_fail (OSINFO_IS_DB (db), NULL);

  list = osinfo_db_get_os_list (db);
  n = osinfo_list_get_length (OSINFO_LIST (list));
  for (int i = 0; i < n; i++)
    {
      OsinfoOs *os = OSINFO_OS (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *id = osinfo_entity_get_id (OSINFO_ENTITY (os));
      const char *date = osinfo_product_get_release_date_string (OSINFO_PRODUCT (os));

      if (!g_str_has_prefix (id, GENERIC_LINUX_PREFIX))
        continue;
      if (best == NULL || g_strcmp0 (date, best_date) > 0)
        {
          best = os;
          best_date = date;
        }
    }
  return best;
}

/* ---- VivOsItem --------------------------------------------------------------------- */

struct _VivOsItem
{
  GObject   parent_instance;

  OsinfoOs *os;
  char     *id;
  char     *short_id;
  char     *name;
  char     *vendor;
  char     *family;
  char     *distro;
  char     *version;
  char     *release_date;
  char     *logo;
  GIcon    *logo_icon;      /* the logo's file, read; NULL for a logo on the web */
  gboolean  eol;
  char     *search_text;    /* case-folded name, short ids and vendor */
  char     *group_key;      /* case-folded distro, or family */
};

G_DEFINE_FINAL_TYPE (VivOsItem, viv_os_item, G_TYPE_OBJECT)

enum {
  ITEM_PROP_0,
  ITEM_PROP_ID,
  ITEM_PROP_SHORT_ID,
  ITEM_PROP_NAME,
  ITEM_PROP_VENDOR,
  ITEM_PROP_FAMILY,
  ITEM_PROP_DISTRO,
  ITEM_PROP_VERSION,
  ITEM_PROP_RELEASE_DATE,
  ITEM_PROP_LOGO,
  ITEM_PROP_EOL,
  ITEM_N_PROPS
};

static GParamSpec *item_properties[ITEM_N_PROPS];

static void
viv_os_item_finalize (GObject *object)
{
  VivOsItem *self = VIV_OS_ITEM (object);

  g_clear_object (&self->os);
  g_free (self->id);
  g_free (self->short_id);
  g_free (self->name);
  g_free (self->vendor);
  g_free (self->family);
  g_free (self->distro);
  g_free (self->version);
  g_free (self->release_date);
  g_free (self->logo);
  g_clear_object (&self->logo_icon);
  g_free (self->search_text);
  g_free (self->group_key);

  G_OBJECT_CLASS (viv_os_item_parent_class)->finalize (object);
}

static void
viv_os_item_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  VivOsItem *self = VIV_OS_ITEM (object);

  switch (prop_id)
    {
    case ITEM_PROP_ID:
      g_value_set_string (value, self->id);
      break;
    case ITEM_PROP_SHORT_ID:
      g_value_set_string (value, self->short_id);
      break;
    case ITEM_PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case ITEM_PROP_VENDOR:
      g_value_set_string (value, self->vendor);
      break;
    case ITEM_PROP_FAMILY:
      g_value_set_string (value, self->family);
      break;
    case ITEM_PROP_DISTRO:
      g_value_set_string (value, self->distro);
      break;
    case ITEM_PROP_VERSION:
      g_value_set_string (value, self->version);
      break;
    case ITEM_PROP_RELEASE_DATE:
      g_value_set_string (value, self->release_date);
      break;
    case ITEM_PROP_LOGO:
      g_value_set_string (value, self->logo);
      break;
    case ITEM_PROP_EOL:
      g_value_set_boolean (value, self->eol);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_os_item_class_init (VivOsItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->finalize = viv_os_item_finalize;
  object_class->get_property = viv_os_item_get_property;

  item_properties[ITEM_PROP_ID] = g_param_spec_string ("id", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_SHORT_ID] = g_param_spec_string ("short-id", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_VENDOR] = g_param_spec_string ("vendor", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_FAMILY] = g_param_spec_string ("family", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_DISTRO] = g_param_spec_string ("distro", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_VERSION] = g_param_spec_string ("version", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_RELEASE_DATE] =
    g_param_spec_string ("release-date", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_LOGO] = g_param_spec_string ("logo", NULL, NULL, NULL, flags);
  item_properties[ITEM_PROP_EOL] = g_param_spec_boolean ("eol", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, ITEM_N_PROPS, item_properties);
}

static void
viv_os_item_init (VivOsItem *self G_GNUC_UNUSED)
{
}

static char *
casefold0 (const char *text)
{
  return g_utf8_casefold (text != NULL ? text : "", -1);
}

/* DATE ("YYYY-MM-DD", the database's form) is before today. Compared as
 * text: libosinfo's own GDate parser trusts the format. */
static gboolean
is_past (const char *date)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *today = g_date_time_format (now, "%Y-%m-%d");

  return date != NULL && strcmp (date, today) < 0;
}

/* The logo at LOGO (a URI or path), where it is a local file: its bytes, read
 * here (this runs in a worker thread) so that the widgets, which make a
 * picture of it, never wait on the disk. Logos on the web are not fetched:
 * a symbolic icon stands in for them. */
static GIcon *
load_logo (const char *logo)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  if (logo == NULL)
    return NULL;
  if (g_str_has_prefix (logo, "file://"))
    file = g_file_new_for_uri (logo);
  else if (g_path_is_absolute (logo))
    file = g_file_new_for_path (logo);
  else
    return NULL;

  bytes = g_file_load_bytes (file, NULL, NULL, &error);
  if (bytes == NULL)
    {
      g_debug ("cannot load the logo %s: %s", logo, error->message);
      return NULL;
    }
  return g_bytes_icon_new (bytes);
}

/**
 * viv_os_item_new:
 * @os: an OS of the database
 *
 * Returns: (transfer full): an item describing @os
 */
VivOsItem *
viv_os_item_new (OsinfoOs *os)
{
  OsinfoProduct *product = OSINFO_PRODUCT (os);
  VivOsItem *self;
  g_autoptr(GString) search = g_string_new (NULL);
  g_autoptr(GList) short_ids = NULL;
  g_autofree char *folded_name = NULL;
  g_autofree char *folded_vendor = NULL;

  g_return_val_if_fail (OSINFO_IS_OS (os), NULL);

  self = g_object_new (VIV_TYPE_OS_ITEM, NULL);
  self->os = g_object_ref (os);
  self->id = g_strdup (osinfo_entity_get_id (OSINFO_ENTITY (os)));
  self->short_id = g_strdup (osinfo_product_get_short_id (product));
  self->name = g_strdup (osinfo_product_get_name (product));
  if (self->name == NULL)
    self->name = g_strdup (self->short_id != NULL ? self->short_id : self->id);
  self->vendor = g_strdup (osinfo_product_get_vendor (product));
  self->family = g_strdup (osinfo_os_get_family (os));
  self->distro = g_strdup (osinfo_os_get_distro (os));
  self->version = g_strdup (osinfo_product_get_version (product));
  self->release_date = g_strdup (osinfo_product_get_release_date_string (product));
  self->logo = g_strdup (osinfo_product_get_logo (product));
  self->logo_icon = load_logo (self->logo);
  self->eol = is_past (osinfo_product_get_eol_date_string (product));

  folded_name = casefold0 (self->name);
  folded_vendor = casefold0 (self->vendor);
  g_string_append (search, folded_name);
  short_ids = osinfo_product_get_short_id_list (product);
  for (GList *l = short_ids; l != NULL; l = l->next)
    {
      g_autofree char *folded = casefold0 (l->data);

      g_string_append_c (search, '\n');
      g_string_append (search, folded);
    }
  g_string_append_c (search, '\n');
  g_string_append (search, folded_vendor);
  self->search_text = g_string_free (g_steal_pointer (&search), FALSE);
  self->group_key = casefold0 (self->distro != NULL ? self->distro : self->family);

  return self;
}

/**
 * viv_os_item_get_os:
 *
 * Returns: (transfer none): the libosinfo OS
 */
OsinfoOs *
viv_os_item_get_os (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->os;
}

const char *
viv_os_item_get_id (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->id;
}

const char *
viv_os_item_get_short_id (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->short_id;
}

const char *
viv_os_item_get_name (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->name;
}

const char *
viv_os_item_get_vendor (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->vendor;
}

const char *
viv_os_item_get_family (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->family;
}

const char *
viv_os_item_get_distro (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->distro;
}

const char *
viv_os_item_get_version (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->version;
}

/* "YYYY-MM-DD", or NULL */
const char *
viv_os_item_get_release_date (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->release_date;
}

/* A URI of the OS's logo, where the database has one */
const char *
viv_os_item_get_logo (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->logo;
}

/**
 * viv_os_item_get_logo_icon:
 *
 * The logo's image, where it is a local file: a #GBytesIcon holding the
 * file (PNG, SVG...) as read. viv_os_logo_get_paintable() on the widget
 * side makes it a picture.
 *
 * Returns: (transfer none) (nullable): the logo
 */
GIcon *
viv_os_item_get_logo_icon (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), NULL);
  return self->logo_icon;
}

/* Whether its end-of-life date is past */
gboolean
viv_os_item_get_eol (VivOsItem *self)
{
  g_return_val_if_fail (VIV_IS_OS_ITEM (self), FALSE);
  return self->eol;
}

/**
 * viv_os_item_matches:
 * @self: an item
 * @query: (nullable): what the user typed
 *
 * Case-insensitive search over the name, the short ids and the vendor: every
 * word of @query must occur in one of them ("debian 11" finds Debian 11). An
 * empty query matches everything. A list filter in the widgets can wrap this.
 */
gboolean
viv_os_item_matches (VivOsItem  *self,
                     const char *query)
{
  g_autofree char *folded = NULL;
  g_auto(GStrv) words = NULL;

  g_return_val_if_fail (VIV_IS_OS_ITEM (self), FALSE);

  if (query == NULL)
    return TRUE;
  folded = g_utf8_casefold (query, -1);
  words = g_strsplit_set (folded, " \t\n", -1);
  for (guint i = 0; words[i] != NULL; i++)
    if (words[i][0] != '\0' && strstr (self->search_text, words[i]) == NULL)
      return FALSE;
  return TRUE;
}

/* ---- VivOsCatalog ------------------------------------------------------------------ */

struct _VivOsCatalog
{
  GObject     parent_instance;

  GPtrArray  *items;        /* of VivOsItem*, sorted; empty until loaded */
  GHashTable *named;        /* id → VivOsItem* (in items, or the "unknown" OS), for
                             * the systems the database names */
  gboolean    loaded;
  gboolean    loading;
};

static void viv_os_catalog_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VivOsCatalog, viv_os_catalog, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      viv_os_catalog_list_model_init))

enum {
  PROP_0,
  PROP_LOADED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static GType
viv_os_catalog_get_item_type (GListModel *model G_GNUC_UNUSED)
{
  return VIV_TYPE_OS_ITEM;
}

static guint
viv_os_catalog_get_n_items (GListModel *model)
{
  return VIV_OS_CATALOG (model)->items->len;
}

static gpointer
viv_os_catalog_get_item (GListModel *model,
                         guint       position)
{
  VivOsCatalog *self = VIV_OS_CATALOG (model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
viv_os_catalog_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = viv_os_catalog_get_item_type;
  iface->get_n_items = viv_os_catalog_get_n_items;
  iface->get_item = viv_os_catalog_get_item;
}

static void
viv_os_catalog_finalize (GObject *object)
{
  VivOsCatalog *self = VIV_OS_CATALOG (object);

  g_clear_pointer (&self->items, g_ptr_array_unref);
  g_clear_pointer (&self->named, g_hash_table_unref);

  G_OBJECT_CLASS (viv_os_catalog_parent_class)->finalize (object);
}

static void
viv_os_catalog_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  VivOsCatalog *self = VIV_OS_CATALOG (object);

  switch (prop_id)
    {
    case PROP_LOADED:
      g_value_set_boolean (value, self->loaded);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_os_catalog_class_init (VivOsCatalogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = viv_os_catalog_finalize;
  object_class->get_property = viv_os_catalog_get_property;

  properties[PROP_LOADED] =
    g_param_spec_boolean ("loaded", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_os_catalog_init (VivOsCatalog *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
  self->named = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
}

/* Supported before end of life; then by distribution; newest first */
static int
compare_items (gconstpointer a,
               gconstpointer b)
{
  const VivOsItem *item_a = *(const VivOsItem * const *) a;
  const VivOsItem *item_b = *(const VivOsItem * const *) b;
  int result;

  if (item_a->eol != item_b->eol)
    return item_a->eol ? 1 : -1;
  result = g_utf8_collate (item_a->group_key, item_b->group_key);
  if (result != 0)
    return result;
  /* ISO dates compare as strings; undated ones go last */
  if ((item_a->release_date == NULL) != (item_b->release_date == NULL))
    return item_a->release_date == NULL ? 1 : -1;
  result = g_strcmp0 (item_b->release_date, item_a->release_date);
  if (result != 0)
    return result;
  result = g_utf8_collate (item_a->name, item_b->name);
  return result != 0 ? result : strcmp (item_a->id, item_b->id);
}

/**
 * viv_os_catalog_new_for_db:
 * @db: the database
 *
 * Builds the catalog at once (a few milliseconds); viv_os_catalog_new_async()
 * reads the database first, in a worker thread.
 *
 * Returns: (transfer full): the catalog, loaded
 */
VivOsCatalog *
viv_os_catalog_new_for_db (OsinfoDb *db)
{
  VivOsCatalog *self;
  g_autoptr(OsinfoOsList) list = NULL;
  int n;

  g_return_val_if_fail (OSINFO_IS_DB (db), NULL);

  self = g_object_new (VIV_TYPE_OS_CATALOG, NULL);
  self->loaded = TRUE;
  list = osinfo_db_get_os_list (db);
  n = osinfo_list_get_length (OSINFO_LIST (list));
  for (int i = 0; i < n; i++)
    {
      OsinfoOs *os = OSINFO_OS (osinfo_list_get_nth (OSINFO_LIST (list), i));
      g_autoptr(VivOsItem) item = viv_os_item_new (os);

      /* Names and logos, for the systems the database names */
      if (item->id != NULL && osinfo_product_get_name (OSINFO_PRODUCT (os)) != NULL)
        g_hash_table_replace (self->named, item->id, g_object_ref (item));
      /* libosinfo's "Unknown" is what it says when it knows nothing, not a
       * system one could choose */
      if (g_strcmp0 (item->id, UNKNOWN_OS_ID) == 0)
        continue;
      g_ptr_array_add (self->items, g_steal_pointer (&item));
    }
  g_ptr_array_sort (self->items, compare_items);
  return self;
}

static void
new_catalog_thread (GTask        *task,
                    gpointer      source_object G_GNUC_UNUSED,
                    gpointer      task_data G_GNUC_UNUSED,
                    GCancellable *cancellable G_GNUC_UNUSED)
{
  GError *error = NULL;
  g_autoptr(OsinfoDb) db = viv_os_db_get (&error);

  if (db == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, viv_os_catalog_new_for_db (db), g_object_unref);
}

void
viv_os_catalog_new_async (GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_os_catalog_new_async);
  g_task_run_in_thread (task, new_catalog_thread);
}

/**
 * viv_os_catalog_new_finish:
 *
 * Returns: (transfer full): the catalog, or %NULL with @error set
 */
VivOsCatalog *
viv_os_catalog_new_finish (GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == viv_os_catalog_new_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
on_loaded (GObject      *object G_GNUC_UNUSED,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(VivOsCatalog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VivOsCatalog) loaded = viv_os_catalog_new_finish (result, &error);
  guint n;

  self->loading = FALSE;
  self->loaded = TRUE;
  if (loaded == NULL)
    {
      /* Machines then show without their systems' names */
      g_debug ("no operating system names: %s", error->message);
    }
  else
    {
      /* Ours are empty: take what the worker built */
      GPtrArray *items = self->items;
      GHashTable *named = self->named;

      self->items = loaded->items;
      self->named = loaded->named;
      loaded->items = items;
      loaded->named = named;
    }
  n = self->items->len;
  g_debug ("%u operating systems known", n);
  if (n > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, n);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADED]);
}

/**
 * viv_os_catalog_get_default:
 *
 * The catalog of the process, for the main thread: empty until it is
 * loaded (#VivOsCatalog:loaded), which starts when it is first asked for.
 * Where the database cannot be read it stays empty, and loaded: machines
 * then show without the names of their systems.
 *
 * Returns: (transfer none): the catalog
 */
VivOsCatalog *
viv_os_catalog_get_default (void)
{
  static VivOsCatalog *instance;

  if (instance == NULL)
    {
      instance = g_object_new (VIV_TYPE_OS_CATALOG, NULL);
      viv_os_catalog_load (instance);
    }
  return instance;
}

/* Starts reading osinfo-db in a worker thread, unless done or under way */
void
viv_os_catalog_load (VivOsCatalog *self)
{
  g_return_if_fail (VIV_IS_OS_CATALOG (self));

  if (self->loaded || self->loading)
    return;
  self->loading = TRUE;
  viv_os_catalog_new_async (NULL, on_loaded, g_object_ref (self));
}

gboolean
viv_os_catalog_get_loaded (VivOsCatalog *self)
{
  g_return_val_if_fail (VIV_IS_OS_CATALOG (self), FALSE);

  return self->loaded;
}

/* The OS's name for people ("Debian 11"), or NULL: unknown, or not loaded yet */
const char *
viv_os_catalog_get_name (VivOsCatalog *self,
                         const char   *os_id)
{
  VivOsItem *item;

  g_return_val_if_fail (VIV_IS_OS_CATALOG (self), NULL);

  if (os_id == NULL)
    return NULL;
  item = g_hash_table_lookup (self->named, os_id);
  return item != NULL ? item->name : NULL;
}

/**
 * viv_os_catalog_get_logo:
 * @self: a catalog
 * @os_id: (nullable): a libosinfo id
 *
 * The OS's logo, where the database has a local one (see
 * viv_os_item_get_logo_icon()); %NULL while the catalog loads.
 *
 * Returns: (transfer none) (nullable): the logo
 */
GIcon *
viv_os_catalog_get_logo (VivOsCatalog *self,
                         const char   *os_id)
{
  VivOsItem *item;

  g_return_val_if_fail (VIV_IS_OS_CATALOG (self), NULL);

  if (os_id == NULL)
    return NULL;
  item = g_hash_table_lookup (self->named, os_id);
  return item != NULL ? item->logo_icon : NULL;
}

/**
 * viv_os_catalog_find:
 * @self: the catalog
 * @id_or_short_id: a libosinfo id or short id
 *
 * Returns: (transfer none) (nullable): the item
 */
VivOsItem *
viv_os_catalog_find (VivOsCatalog *self,
                     const char   *id_or_short_id)
{
  g_return_val_if_fail (VIV_IS_OS_CATALOG (self), NULL);
  g_return_val_if_fail (id_or_short_id != NULL, NULL);

  for (guint i = 0; i < self->items->len; i++)
    {
      VivOsItem *item = g_ptr_array_index (self->items, i);

      if (g_strcmp0 (item->id, id_or_short_id) == 0)
        return item;
    }
  for (guint i = 0; i < self->items->len; i++)
    {
      VivOsItem *item = g_ptr_array_index (self->items, i);

      if (has_short_id (item->os, id_or_short_id))
        return item;
    }
  return NULL;
}

/**
 * viv_os_catalog_search:
 * @self: the catalog
 * @query: (nullable): what the user typed
 *
 * The items viv_os_item_matches() accepts, in the catalog's order.
 *
 * Returns: (transfer full): a new list of #VivOsItem
 */
GListModel *
viv_os_catalog_search (VivOsCatalog *self,
                       const char   *query)
{
  GListStore *store;

  g_return_val_if_fail (VIV_IS_OS_CATALOG (self), NULL);

  store = g_list_store_new (VIV_TYPE_OS_ITEM);
  for (guint i = 0; i < self->items->len; i++)
    {
      VivOsItem *item = g_ptr_array_index (self->items, i);

      if (viv_os_item_matches (item, query))
        g_list_store_append (store, item);
    }
  return G_LIST_MODEL (store);
}

/* ---- resources --------------------------------------------------------------------- */

/* The entry for our architecture, else the one for every architecture */
static OsinfoResources *
pick_resources (OsinfoResourcesList *list)
{
  OsinfoResources *all = NULL;
  int n = osinfo_list_get_length (OSINFO_LIST (list));

  for (int i = 0; i < n; i++)
    {
      OsinfoResources *resources = OSINFO_RESOURCES (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *arch = osinfo_resources_get_architecture (resources);

      if (g_strcmp0 (arch, HOST_ARCH) == 0)
        return resources;
      if (g_strcmp0 (arch, "all") == 0 && all == NULL)
        all = resources;
    }
  return all;
}

/* Recommended; else the minimum, where it is above our default (a bare
 * minimum makes a poor proposal); else the default. */
static guint64
choose (gint64               recommended,
        gint64               minimum,
        guint64              fallback,
        VivOsResourceOrigin *origin)
{
  if (recommended > 0)
    {
      *origin = VIV_OS_RESOURCE_RECOMMENDED;
      return (guint64) recommended;
    }
  if (minimum > 0 && (guint64) minimum > fallback)
    {
      *origin = VIV_OS_RESOURCE_MINIMUM;
      return (guint64) minimum;
    }
  *origin = VIV_OS_RESOURCE_DEFAULT;
  return fallback;
}

/**
 * viv_os_get_resources:
 * @os: (nullable): an OS, or %NULL for the defaults
 * @resources: (out caller-allocates): what to propose
 *
 * Memory, CPUs and disk size to propose for @os, each from its recommended
 * resources (for x86_64, else for all architectures), else from its minimum
 * where that is above the default, else the default (2 GiB, 2 CPUs, 20
 * GiB); then bounded by the host: memory at most half its RAM, CPUs at most
 * its CPUs. Memory is rounded down to whole MiB.
 */
void
viv_os_get_resources (OsinfoOs       *os,
                      VivOsResources *resources)
{
  gint64 rec_ram = -1, rec_cpus = -1, rec_disk = -1;
  gint64 min_ram = -1, min_cpus = -1, min_disk = -1;
  guint64 max_memory, memory, cpus;
  guint host_cpus;

  g_return_if_fail (os == NULL || OSINFO_IS_OS (os));
  g_return_if_fail (resources != NULL);

  memset (resources, 0, sizeof *resources);

  if (os != NULL)
    {
      g_autoptr(OsinfoResourcesList) recommended = osinfo_os_get_recommended_resources (os);
      g_autoptr(OsinfoResourcesList) minimum = osinfo_os_get_minimum_resources (os);
      OsinfoResources *rec = pick_resources (recommended);
      OsinfoResources *min = pick_resources (minimum);

      if (rec != NULL)
        {
          rec_ram = osinfo_resources_get_ram (rec);
          rec_cpus = osinfo_resources_get_n_cpus (rec);
          rec_disk = osinfo_resources_get_storage (rec);
        }
      if (min != NULL)
        {
          min_ram = osinfo_resources_get_ram (min);
          min_cpus = osinfo_resources_get_n_cpus (min);
          min_disk = osinfo_resources_get_storage (min);
        }
    }

  memory = choose (rec_ram, min_ram, VIV_OS_DEFAULT_MEMORY, &resources->memory_origin);
  cpus = choose (rec_cpus, min_cpus, VIV_OS_DEFAULT_CPUS, &resources->cpus_origin);
  resources->disk = choose (rec_disk, min_disk, VIV_OS_DEFAULT_DISK, &resources->disk_origin);

  max_memory = viv_host_get_max_guest_memory ();
  if (memory > max_memory)
    {
      memory = max_memory;
      resources->memory_capped = TRUE;
    }
  resources->memory = MAX (memory / MIB * MIB, MIB);

  host_cpus = viv_host_get_cpus ();
  if (cpus > host_cpus)
    {
      cpus = host_cpus;
      resources->cpus_capped = TRUE;
    }
  resources->cpus = (guint) MAX (cpus, 1);
}

/**
 * viv_os_needs_uefi:
 * @os: (nullable): an OS
 *
 * Whether @os boots through UEFI only: libosinfo lists an x86_64 "efi"
 * firmware it supports and says it does not support "bios" (Windows 11).
 * libosinfo 1.10 has no notion of a preferred firmware: an OS that lists
 * "efi" and not an unsupported "bios" boots either way, and gets BIOS,
 * the firmware that runs on every KVM host.
 *
 * Returns: %TRUE to start @os with UEFI
 */
gboolean
viv_os_needs_uefi (OsinfoOs *os)
{
  g_autoptr(OsinfoFirmwareList) list = NULL;
  gboolean efi = FALSE, no_bios = FALSE;

  g_return_val_if_fail (os == NULL || OSINFO_IS_OS (os), FALSE);

  if (os == NULL)
    return FALSE;
  list = osinfo_os_get_complete_firmware_list (os, NULL);
  for (int i = 0; i < osinfo_list_get_length (OSINFO_LIST (list)); i++)
    {
      OsinfoFirmware *firmware = OSINFO_FIRMWARE (osinfo_list_get_nth (OSINFO_LIST (list), i));
      const char *arch = osinfo_firmware_get_architecture (firmware);
      const char *type = osinfo_firmware_get_firmware_type (firmware);

      if (g_strcmp0 (arch, "x86_64") != 0 && g_strcmp0 (arch, "all") != 0)
        continue;
      if (g_strcmp0 (type, "efi") == 0 && osinfo_firmware_is_supported (firmware))
        efi = TRUE;
      else if (g_strcmp0 (type, "bios") == 0 && !osinfo_firmware_is_supported (firmware))
        no_bios = TRUE;
    }
  return efi && no_bios;
}

/**
 * viv_os_has_virtio_block:
 * @os: (nullable): an OS
 *
 * Whether @os has a virtio-blk driver out of the box, as GNOME Boxes
 * decides: libosinfo lists the virtio-block device (legacy or 1.0) among
 * the devices it supports. Unknown OSes are assumed not to.
 *
 * Returns: %TRUE to give @os its disks on virtio, %FALSE for SATA
 */
gboolean
viv_os_has_virtio_block (OsinfoOs *os)
{
  g_autoptr(OsinfoDeviceList) devices = NULL;

  g_return_val_if_fail (os == NULL || OSINFO_IS_OS (os), FALSE);

  if (os == NULL)
    return FALSE;
  devices = osinfo_os_get_all_devices (os, NULL);
  for (int i = 0; i < osinfo_list_get_length (OSINFO_LIST (devices)); i++)
    {
      OsinfoDevice *device = OSINFO_DEVICE (osinfo_list_get_nth (OSINFO_LIST (devices), i));
      const char *name = osinfo_device_get_name (device);

      if (g_strcmp0 (name, "virtio-block") == 0 || g_strcmp0 (name, "virtio1.0-block") == 0)
        return TRUE;
    }
  return FALSE;
}
