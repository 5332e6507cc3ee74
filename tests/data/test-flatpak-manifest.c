/* test-flatpak-manifest.c: the Flatpak manifest parses, builds what the GNOME
 * runtime lacks, and asks for the permissions a VM manager needs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>

static JsonObject *manifest;

static gboolean
array_has_string (JsonArray *array, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  return FALSE;
}

/* Module names, depth first (modules may nest). */
static void
collect_modules (JsonArray *modules, GPtrArray *names, GPtrArray *objects)
{
  for (guint i = 0; i < json_array_get_length (modules); i++)
    {
      JsonObject *module = json_array_get_object_element (modules, i);

      g_assert_nonnull (module);
      g_assert_true (json_object_has_member (module, "name"));
      g_ptr_array_add (names, (gpointer) json_object_get_string_member (module, "name"));
      g_ptr_array_add (objects, module);
      if (json_object_has_member (module, "modules"))
        collect_modules (json_object_get_array_member (module, "modules"), names, objects);
    }
}

static void
test_identity (void)
{
  g_assert_cmpstr (json_object_get_string_member (manifest, "id"), ==, BASE_APP_ID);
  g_assert_cmpstr (json_object_get_string_member (manifest, "runtime"), ==,
                   "org.gnome.Platform");
  g_assert_cmpstr (json_object_get_string_member (manifest, "sdk"), ==, "org.gnome.Sdk");
  g_assert_cmpstr (json_object_get_string_member (manifest, "command"), ==, "vivarium");
  g_assert_true (json_object_has_member (manifest, "runtime-version"));
}

static void
test_permissions (void)
{
  JsonArray *args = json_object_get_array_member (manifest, "finish-args");

  g_assert_nonnull (args);
  g_assert_true (array_has_string (args, "--device=kvm") ||
                 array_has_string (args, "--device=all"));
  g_assert_true (array_has_string (args, "--socket=wayland"));
  g_assert_true (array_has_string (args, "--socket=fallback-x11"));
  g_assert_true (array_has_string (args, "--share=ipc"));
  /* Guest networking (libslirp) and remote libvirt hosts need the network. */
  g_assert_true (array_has_string (args, "--share=network"));
  /* qemu:///session's socket lives in $XDG_RUNTIME_DIR/libvirt. */
  g_assert_true (array_has_string (args, "--filesystem=xdg-run/libvirt"));
  /* Never the whole host: ISOs come through the file chooser portal. */
  g_assert_false (array_has_string (args, "--filesystem=host"));
  g_assert_false (array_has_string (args, "--filesystem=home"));
}

static void
test_modules (void)
{
  static const char *needed[] = {
    "spice-server", "spice-gtk", "gtk-vnc", "libosinfo", "osinfo-db", "libvirt",
    "libslirp", "liburing",
  };
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GPtrArray) objects = g_ptr_array_new ();
  JsonArray *modules = json_object_get_array_member (manifest, "modules");
  JsonObject *last;

  g_assert_nonnull (modules);
  collect_modules (modules, names, objects);

  for (guint i = 0; i < G_N_ELEMENTS (needed); i++)
    {
      gboolean found = FALSE;
      for (guint j = 0; j < names->len; j++)
        found |= g_strcmp0 (names->pdata[j], needed[i]) == 0;
      if (!found)
        g_test_message ("module %s is missing", needed[i]);
      g_assert_true (found);
    }

  /* The app itself comes last, from this folder, built with meson. */
  last = json_array_get_object_element (modules, json_array_get_length (modules) - 1);
  g_assert_cmpstr (json_object_get_string_member (last, "name"), ==, "vivarium");
  g_assert_cmpstr (json_object_get_string_member (last, "buildsystem"), ==, "meson");

  /* Every module says where its source comes from, pinned to a release. */
  for (guint i = 0; i < objects->len; i++)
    {
      JsonObject *module = objects->pdata[i];
      JsonArray *sources = json_object_get_array_member (module, "sources");

      g_assert_nonnull (sources);
      g_assert_cmpuint (json_array_get_length (sources), >, 0);
      for (guint j = 0; j < json_array_get_length (sources); j++)
        {
          JsonObject *src = json_array_get_object_element (sources, j);
          const char *type = json_object_get_string_member (src, "type");

          if (g_strcmp0 (type, "git") == 0)
            g_assert_true (json_object_has_member (src, "tag") ||
                           json_object_has_member (src, "commit"));
          else if (g_strcmp0 (type, "archive") == 0)
            g_assert_true (json_object_has_member (src, "sha256"));
          else
            g_assert_cmpstr (type, ==, "dir");
        }
    }
}

int
main (int argc, char *argv[])
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char *path;
  JsonNode *root;

  g_test_init (&argc, &argv, NULL);

  path = g_getenv ("VIVARIUM_FLATPAK_MANIFEST");
  g_assert_nonnull (path);
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  manifest = json_node_get_object (root);

  g_test_add_func ("/flatpak/identity", test_identity);
  g_test_add_func ("/flatpak/permissions", test_permissions);
  g_test_add_func ("/flatpak/modules", test_modules);
  return g_test_run ();
}
