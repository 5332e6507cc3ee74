/* test-snapshot-index.c: snapshots/index.json (viv-snapshot-index.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-snapshot-index.h"

static const char *
parent_of (VivSnapshotIndex *index, const char *id)
{
  VivSnapshot *s = viv_snapshot_index_find (index, id);

  g_assert_nonnull (s);
  return s->parent;
}

static void
test_tree (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vivarium-snapidx-XXXXXX", NULL);
  g_autoptr (VivSnapshotIndex) index = NULL;
  g_autoptr (VivSnapshotIndex) again = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) roots = NULL;
  g_autoptr (GPtrArray) kids = NULL;
  g_autofree char *data = NULL, *data2 = NULL;

  /* no file: an empty index */
  index = viv_snapshot_index_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (index->snapshots->len, ==, 0);
  g_assert_null (index->current);

  /* A, then B after it; revert to A (current = A), then C: a branch */
  g_assert_cmpstr (viv_snapshot_index_add (index, "A", TRUE, 100)->id, ==, "1");
  g_assert_cmpstr (viv_snapshot_index_add (index, "B", FALSE, 200)->id, ==, "2");
  g_assert_cmpstr (parent_of (index, "2"), ==, "1");
  g_free (index->current);
  index->current = g_strdup ("1");
  g_assert_cmpstr (viv_snapshot_index_add (index, "C", TRUE, 300)->id, ==, "3");
  g_assert_cmpstr (parent_of (index, "3"), ==, "1");
  kids = viv_snapshot_index_children (index, "1");
  g_assert_cmpuint (kids->len, ==, 2);

  /* saved and loaded back the same */
  g_assert_true (viv_snapshot_index_save (index, dir, &error));
  g_assert_no_error (error);
  again = viv_snapshot_index_load (dir, &error);
  g_assert_no_error (error);
  data = viv_snapshot_index_to_data (index);
  data2 = viv_snapshot_index_to_data (again);
  g_assert_cmpstr (data, ==, data2);
  g_assert_cmpstr (again->current, ==, "3");

  /* deleting the middle: its children go to its parent (none: roots), and
   * current too; ids are never reused */
  g_assert_true (viv_snapshot_index_remove (index, "1", &error));
  g_assert_null (parent_of (index, "2"));
  g_assert_null (parent_of (index, "3"));
  roots = viv_snapshot_index_children (index, NULL);
  g_assert_cmpuint (roots->len, ==, 2);
  g_assert_true (viv_snapshot_index_remove (index, "3", &error));
  g_assert_null (index->current);
  g_assert_cmpstr (viv_snapshot_index_add (index, "D", TRUE, 400)->id, ==, "4");
  g_assert_false (viv_snapshot_index_remove (index, "3", &error));
  g_assert_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* names */
  g_assert_true (viv_snapshot_index_rename (index, "4", "Before the upgrade ✓", &error));
  g_assert_false (viv_snapshot_index_rename (index, "4", "   ", &error));
  g_assert_error (error, VIV_SNAPSHOT_INDEX_ERROR, VIV_SNAPSHOT_INDEX_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (viv_snapshot_name_check ("", NULL));
  g_assert_false (viv_snapshot_name_check ("a\nb", NULL));
  g_assert_false (viv_snapshot_name_check ("\xff", NULL));
  g_assert_cmpstr (viv_snapshot_index_find (index, "4")->name, ==, "Before the upgrade ✓");

  g_autofree char *sub = g_build_filename (dir, VIV_SNAPSHOT_INDEX_DIR, NULL);
  g_autofree char *file = g_build_filename (sub, VIV_SNAPSHOT_INDEX_FILE, NULL);
  g_unlink (file);
  g_rmdir (sub);
  g_rmdir (dir);
}

static void
test_damaged (void)
{
  static const struct {
    const char *json;
    int code;
    const char *says;
  } cases[] = {
    { "[]", VIV_SNAPSHOT_INDEX_ERROR_PARSE, "object" },
    { "{\"version\": 2, \"next-id\": 1, \"current\": null, \"snapshots\": []}",
      VIV_SNAPSHOT_INDEX_ERROR_TOO_NEW, "newer" },
    { "{\"version\": 1, \"next-id\": 0, \"current\": null, \"snapshots\": []}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "next-id" },
    { "{\"version\": 1, \"next-id\": 2, \"current\": \"5\", \"snapshots\": []}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "current" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"1\", \"name\": \"a\", \"parent\": null, \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0},"
      "{\"id\": \"1\", \"name\": \"b\", \"parent\": null, \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "twice" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"2\", \"name\": \"a\", \"parent\": \"7\", \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "not there" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"1\", \"name\": \"a\", \"parent\": \"2\", \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0},"
      "{\"id\": \"2\", \"name\": \"b\", \"parent\": \"1\", \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "ancestor" },
    { "{\"version\": 1, \"next-id\": 2, \"current\": null, \"snapshots\": ["
      "{\"id\": \"2\", \"name\": \"a\", \"parent\": null, \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "next-id" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"01\", \"name\": \"a\", \"parent\": null, \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "id" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"1\", \"name\": \"\", \"parent\": null, \"created\": 1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "name" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"1\", \"name\": \"a\", \"parent\": null, \"created\": -1, \"memory\": true,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "created" },
    { "{\"version\": 1, \"next-id\": 3, \"current\": null, \"snapshots\": ["
      "{\"id\": \"1\", \"name\": \"a\", \"parent\": null, \"created\": 1, \"memory\": 1,"
      " \"memory-bytes\": 0, \"state-bytes\": 0}]}",
      VIV_SNAPSHOT_INDEX_ERROR_INVALID, "memory" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load_from_data (cases[i].json, -1,
                                                                              &error);

      g_test_message ("case %u", i);
      g_assert_null (index);
      g_assert_error (error, VIV_SNAPSHOT_INDEX_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].says));
    }
  /* not JSON at all: the strict check's message */
  {
    g_autoptr (GError) error = NULL;

    g_assert_null (viv_snapshot_index_load_from_data ("{\"version\": 1,", -1, &error));
    g_assert_nonnull (error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/snapshot-index/tree", test_tree);
  g_test_add_func ("/snapshot-index/damaged", test_damaged);
  return g_test_run ();
}
