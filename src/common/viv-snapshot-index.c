/* viv-snapshot-index.c: a machine's snapshots, as snapshots/index.json says
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "viv-snapshot-index.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "viv-file.h"
#include "viv-json.h"

#define INDEX_VERSION  1
#define MAX_NESTING    8
#define MAX_SNAPSHOTS  10000
#define MAX_INDEX_SIZE (16 << 20)

G_DEFINE_QUARK (viv-snapshot-index-error-quark, viv_snapshot_index_error)

static void
snapshot_free (VivSnapshot *s)
{
  g_free (s->id);
  g_free (s->name);
  g_free (s->parent);
  g_free (s);
}

VivSnapshotIndex *
viv_snapshot_index_new (void)
{
  VivSnapshotIndex *index = g_new0 (VivSnapshotIndex, 1);

  index->snapshots = g_ptr_array_new_with_free_func ((GDestroyNotify) snapshot_free);
  index->next_id = 1;
  return index;
}

void
viv_snapshot_index_free (VivSnapshotIndex *index)
{
  if (index == NULL)
    return;
  g_ptr_array_unref (index->snapshots);
  g_free (index->current);
  g_free (index);
}

VivSnapshot *
viv_snapshot_index_find (const VivSnapshotIndex *index, const char *id)
{
  g_return_val_if_fail (index != NULL, NULL);
  if (id == NULL)
    return NULL;
  for (guint i = 0; i < index->snapshots->len; i++)
    {
      VivSnapshot *s = g_ptr_array_index (index->snapshots, i);

      if (g_strcmp0 (s->id, id) == 0)
        return s;
    }
  return NULL;
}

gboolean
viv_snapshot_name_check (const char *name, GError **error)
{
  gboolean blank = TRUE;
  glong n;

  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    goto bad;
  n = g_utf8_strlen (name, -1);
  if (n < 1 || n > VIV_SNAPSHOT_NAME_MAX)
    goto bad;
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c))
        goto bad;
      if (!g_unichar_isspace (c))
        blank = FALSE;
    }
  if (!blank)
    return TRUE;
bad:
  g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_INVALID,
               _("A snapshot’s name must have 1 to %d characters, not only spaces, and no "
                 "control characters"), VIV_SNAPSHOT_NAME_MAX);
  return FALSE;
}

/* ---- reading ---------------------------------------------------------------------- */

static gboolean
invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);
  /* Translators: %s says what is wrong in the file */
  g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_INVALID,
               _("The snapshot index is damaged: %s"), what);
  return FALSE;
}

/* An id: a decimal number from 1, no leading zero */
static gboolean
id_ok (const char *id, guint64 *value)
{
  guint64 v;

  if (id == NULL || id[0] < '1' || id[0] > '9' || strlen (id) > 19)
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  v = g_ascii_strtoull (id, NULL, 10);
  if (value)
    *value = v;
  return TRUE;
}

static const char *
member_string (JsonObject *o, const char *name, gboolean nullable, gboolean *ok)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || (nullable && JSON_NODE_HOLDS_NULL (n)))
    {
      *ok = nullable && n != NULL;
      return NULL;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      *ok = FALSE;
      return NULL;
    }
  *ok = TRUE;
  return json_node_get_string (n);
}

static gboolean
member_uint (JsonObject *o, const char *name, guint64 max, guint64 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  gint64 v;

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (n);
  if (v < 0 || (guint64) v > max)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
member_bool (JsonObject *o, const char *name, gboolean *out)
{
  JsonNode *n = json_object_get_member (o, name);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return FALSE;
  *out = json_node_get_boolean (n);
  return TRUE;
}

static gboolean
parse_snapshot (JsonNode *node, guint i, VivSnapshot **out, GError **error)
{
  g_autoptr (GError) name_error = NULL;
  VivSnapshot *s;
  JsonObject *o;
  const char *id, *name, *parent;
  gboolean ok_id, ok_name, ok_parent;
  guint64 created;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, _("entry %u is not an object"), i + 1);
  o = json_node_get_object (node);
  id = member_string (o, "id", FALSE, &ok_id);
  name = member_string (o, "name", FALSE, &ok_name);
  parent = member_string (o, "parent", TRUE, &ok_parent);
  if (!ok_id || !id_ok (id, NULL))
    return invalid (error, _("entry %u has no valid “id”"), i + 1);
  if (!ok_name || !viv_snapshot_name_check (name, &name_error))
    return invalid (error, _("snapshot %s has no valid “name”"), id);
  if (!ok_parent || (parent != NULL && !id_ok (parent, NULL)))
    return invalid (error, _("snapshot %s has no valid “parent”"), id);
  s = g_new0 (VivSnapshot, 1);
  s->id = g_strdup (id);
  s->name = g_strdup (name);
  s->parent = g_strdup (parent);
  *out = s;
  if (!member_uint (o, "created", G_MAXINT64, &created))
    return invalid (error, _("snapshot %s has no valid “%s”"), id, "created");
  s->created = (gint64) created;
  if (!member_bool (o, "memory", &s->memory))
    return invalid (error, _("snapshot %s has no valid “%s”"), id, "memory");
  if (!member_uint (o, "memory-bytes", G_MAXINT64, &s->memory_bytes))
    return invalid (error, _("snapshot %s has no valid “%s”"), id, "memory-bytes");
  if (!member_uint (o, "state-bytes", G_MAXINT64, &s->state_bytes))
    return invalid (error, _("snapshot %s has no valid “%s”"), id, "state-bytes");
  return TRUE;
}

/* Every parent is there, and following parents ends */
static gboolean
check_tree (VivSnapshotIndex *index, GError **error)
{
  guint n = index->snapshots->len;

  for (guint i = 0; i < n; i++)
    {
      VivSnapshot *s = g_ptr_array_index (index->snapshots, i);
      VivSnapshot *p = s;
      guint steps = 0;

      if (s->parent != NULL && viv_snapshot_index_find (index, s->parent) == NULL)
        return invalid (error, _("the parent of snapshot %s, %s, is not there"), s->id,
                        s->parent);
      while (p != NULL && p->parent != NULL && steps <= n)
        {
          p = viv_snapshot_index_find (index, p->parent);
          steps++;
        }
      if (steps > n)
        return invalid (error, _("snapshot %s is its own ancestor"), s->id);
    }
  return TRUE;
}

VivSnapshotIndex *
viv_snapshot_index_load_from_data (const char *data, gssize len, GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) json_error = NULL;
  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  JsonObject *root;
  JsonArray *list;
  JsonNode *node;
  const char *current;
  gboolean ok;
  guint64 version, max_id = 0;

  if (len < 0)
    len = (gssize) strlen (data);
  if (!viv_json_check (data, (gsize) len, MAX_NESTING, VIV_SNAPSHOT_INDEX_FILE, error))
    return NULL;
  if (!json_parser_load_from_data (parser, data, len, &json_error)
      || (node = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_PARSE,
                   _("The snapshot index is not a JSON object"));
      return NULL;
    }
  root = json_node_get_object (node);
  if (!member_uint (root, "version", G_MAXUINT32, &version) || version == 0)
    {
      invalid (error, _("it has no valid “%s”"), "version");
      return NULL;
    }
  if (version > INDEX_VERSION)
    {
      g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_TOO_NEW,
                   _("The snapshot index was written by a newer version of Vivarium "
                     "(version %u)"), (unsigned) version);
      return NULL;
    }
  if (!member_uint (root, "next-id", G_MAXINT64, &index->next_id) || index->next_id == 0)
    {
      invalid (error, _("it has no valid “%s”"), "next-id");
      return NULL;
    }
  node = json_object_get_member (root, "snapshots");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      invalid (error, _("it has no valid “%s”"), "snapshots");
      return NULL;
    }
  list = json_node_get_array (node);
  if (json_array_get_length (list) > MAX_SNAPSHOTS)
    {
      invalid (error, _("it lists more than %d snapshots"), MAX_SNAPSHOTS);
      return NULL;
    }
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      VivSnapshot *s = NULL;
      guint64 id;

      ok = parse_snapshot (json_array_get_element (list, i), i, &s, error);
      if (s != NULL)
        g_ptr_array_add (index->snapshots, s);
      if (!ok)
        return NULL;
      if (!g_hash_table_add (ids, s->id))
        {
          invalid (error, _("snapshot %s is listed twice"), s->id);
          return NULL;
        }
      id_ok (s->id, &id);
      max_id = MAX (max_id, id);
    }
  if (max_id >= index->next_id)
    {
      invalid (error, _("“%s” is not above every snapshot’s id"), "next-id");
      return NULL;
    }
  current = member_string (root, "current", TRUE, &ok);
  if (!ok || (current != NULL && viv_snapshot_index_find (index, current) == NULL))
    {
      invalid (error, _("it has no valid “%s”"), "current");
      return NULL;
    }
  index->current = g_strdup (current);
  if (!check_tree (index, error))
    return NULL;
  return g_steal_pointer (&index);
}

static char *
index_path (const char *machine_dir)
{
  return g_build_filename (machine_dir, VIV_SNAPSHOT_INDEX_DIR, VIV_SNAPSHOT_INDEX_FILE, NULL);
}

VivSnapshotIndex *
viv_snapshot_index_load (const char *machine_dir, GError **error)
{
  g_autofree char *path = index_path (machine_dir);
  g_autofree char *data = NULL;
  g_autoptr (GError) local = NULL;
  gsize len;
  GStatBuf st;

  if (g_stat (path, &st) < 0 && errno == ENOENT)
    return viv_snapshot_index_new ();
  if (g_stat (path, &st) == 0 && st.st_size > MAX_INDEX_SIZE)
    {
      invalid (error, _("it is larger than %d MiB"), MAX_INDEX_SIZE >> 20);
      return NULL;
    }
  if (!g_file_get_contents (path, &data, &len, &local))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  return viv_snapshot_index_load_from_data (data, (gssize) len, error);
}

/* ---- writing ---------------------------------------------------------------------- */

char *
viv_snapshot_index_to_data (const VivSnapshotIndex *index)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, INDEX_VERSION);
  json_builder_set_member_name (b, "next-id");
  json_builder_add_int_value (b, (gint64) index->next_id);
  json_builder_set_member_name (b, "current");
  if (index->current)
    json_builder_add_string_value (b, index->current);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "snapshots");
  json_builder_begin_array (b);
  for (guint i = 0; i < index->snapshots->len; i++)
    {
      const VivSnapshot *s = g_ptr_array_index (index->snapshots, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, s->id);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, s->name);
      json_builder_set_member_name (b, "parent");
      if (s->parent)
        json_builder_add_string_value (b, s->parent);
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "created");
      json_builder_add_int_value (b, s->created);
      json_builder_set_member_name (b, "memory");
      json_builder_add_boolean_value (b, s->memory);
      json_builder_set_member_name (b, "memory-bytes");
      json_builder_add_int_value (b, (gint64) s->memory_bytes);
      json_builder_set_member_name (b, "state-bytes");
      json_builder_add_int_value (b, (gint64) s->state_bytes);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

gboolean
viv_snapshot_index_save (const VivSnapshotIndex *index, const char *machine_dir, GError **error)
{
  g_autofree char *dir = g_build_filename (machine_dir, VIV_SNAPSHOT_INDEX_DIR, NULL);
  g_autofree char *path = index_path (machine_dir);
  g_autofree char *data = viv_snapshot_index_to_data (index);

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), dir, g_strerror (errno));
      return FALSE;
    }
  return viv_file_replace (path, data, strlen (data), error);
}

/* ---- changing ---------------------------------------------------------------------- */

VivSnapshot *
viv_snapshot_index_add (VivSnapshotIndex *index, const char *name, gboolean memory,
                        gint64 created)
{
  VivSnapshot *s;

  g_return_val_if_fail (viv_snapshot_name_check (name, NULL), NULL);
  s = g_new0 (VivSnapshot, 1);
  s->id = g_strdup_printf ("%" G_GUINT64_FORMAT, index->next_id++);
  s->name = g_strdup (name);
  s->parent = g_strdup (index->current);
  s->created = created;
  s->memory = memory;
  g_ptr_array_add (index->snapshots, s);
  g_free (index->current);
  index->current = g_strdup (s->id);
  return s;
}

VivSnapshot *
viv_snapshot_index_get (const VivSnapshotIndex *index, const char *id, GError **error)
{
  VivSnapshot *s = viv_snapshot_index_find (index, id);

  if (s == NULL)
    g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND,
                 _("There is no snapshot %s"), id);
  return s;
}

static gboolean
not_found (GError **error, const char *id)
{
  g_set_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND,
               _("There is no snapshot %s"), id);
  return FALSE;
}

gboolean
viv_snapshot_index_remove (VivSnapshotIndex *index, const char *id, GError **error)
{
  VivSnapshot *s = viv_snapshot_index_find (index, id);

  if (s == NULL)
    return not_found (error, id);
  for (guint i = 0; i < index->snapshots->len; i++)
    {
      VivSnapshot *c = g_ptr_array_index (index->snapshots, i);

      if (g_strcmp0 (c->parent, s->id) == 0)
        {
          g_free (c->parent);
          c->parent = g_strdup (s->parent);
        }
    }
  if (g_strcmp0 (index->current, s->id) == 0)
    {
      g_free (index->current);
      index->current = g_strdup (s->parent);
    }
  g_ptr_array_remove (index->snapshots, s);
  return TRUE;
}

gboolean
viv_snapshot_index_rename (VivSnapshotIndex *index, const char *id, const char *name,
                           GError **error)
{
  VivSnapshot *s = viv_snapshot_index_find (index, id);

  if (s == NULL)
    return not_found (error, id);
  if (!viv_snapshot_name_check (name, error))
    return FALSE;
  g_free (s->name);
  s->name = g_strdup (name);
  return TRUE;
}

GPtrArray *
viv_snapshot_index_children (const VivSnapshotIndex *index, const char *id)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < index->snapshots->len; i++)
    {
      VivSnapshot *s = g_ptr_array_index (index->snapshots, i);

      if (g_strcmp0 (s->parent, id) == 0)
        g_ptr_array_add (out, s);
    }
  return out;
}
