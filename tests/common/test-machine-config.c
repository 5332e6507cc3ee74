/* test-machine-config.c: machine.json (viv-machine-config) and atomic
 * writes (viv-file)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "viv-file.h"
#include "viv-machine-config.h"

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* Every member, with values that are not the defaults. */
static const char full_json[] =
  "{\n"
  "  \"version\": 1,\n"
  "  \"uuid\": \"" UUID "\",\n"
  "  \"name\": \"Debian 12 — test\",\n"
  "  \"osinfo\": \"http://debian.org/debian/12\",\n"
  "  \"created\": \"2024-05-01T12:00:00Z\",\n"
  "  \"memory\": 2147483648,\n"
  "  \"cpus\": 4,\n"
  "  \"boot\": {\"kind\": \"kernel\", \"kernel\": \"vmlinuz\", \"initrd\": \"initrd.img\",\n"
  "           \"cmdline\": \"console=ttyS0 quiet\", \"firmware\": \"uefi\",\n"
  "           \"order\": [\"cdrom\", \"disk\"]},\n"
  "  \"disks\": [\n"
  "    {\"path\": \"disk.qcow2\", \"format\": \"qcow2\"},\n"
  "    {\"path\": \"/var/lib/data.img\", \"format\": \"raw\", \"readonly\": true,\n"
  "     \"cache\": \"none\", \"serial\": \"DATA-01\", \"bus\": \"sata\"}\n"
  "  ],\n"
  "  \"media\": [{\"path\": \"debian.iso\", \"kind\": \"cdrom\", \"inserted\": false}],\n"
  "  \"network\": {\"mode\": \"user\", \"mac\": \"52:54:00:AB:cd:01\", \"tap\": \"tap-vm0\",\n"
  "              \"forwards\": [{\"protocol\": \"tcp\", \"address\": \"0.0.0.0\",\n"
  "                            \"host_port\": 2222, \"guest_port\": 22},\n"
  "                           {\"protocol\": \"udp\", \"host_port\": 5353, \"guest_port\": 53}]},\n"
  "  \"display\": {\"kind\": \"none\", \"width\": 1280, \"height\": 800},\n"
  "  \"devices\": {\"rng\": false, \"console\": true}\n"
  "}\n";

static const char minimal_json[] =
  "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216, \"cpus\": 1}";

/* --- helpers --------------------------------------------------------------- */

static char *
make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("vivarium-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static void
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = NULL;
      const char *name;

      chmod (path, 0700);
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
    }
  else
    g_assert_cmpint (g_unlink (path), ==, 0);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The names in DIR, sorted, as one string: "a b c". */
static char *
list_dir (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static char *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *data = NULL;

  g_file_get_contents (path, &data, NULL, &error);
  g_assert_no_error (error);
  return data;
}

static void
write_file (const char *path,
            const char *data)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, data, -1, &error);
  g_assert_no_error (error);
}

static VivMachineConfig *
load_ok (const char *json)
{
  g_autoptr(GError) error = NULL;
  VivMachineConfig *config = viv_machine_config_load_from_data (json, -1, &error);

  g_assert_no_error (error);
  g_assert_nonnull (config);
  return config;
}

/* Finds the node at PATH ("network.forwards[1].host_port") in ROOT, or its
 * parent object (with *member set) when the last step is a member. */
static JsonNode *
walk (JsonNode    *root,
      const char  *path,
      JsonObject **parent,
      char       **member)
{
  g_auto(GStrv) steps = g_strsplit (path, ".", -1);
  JsonNode *node = root;

  for (guint i = 0; steps[i] != NULL; i++)
    {
      char *bracket = strchr (steps[i], '[');
      guint64 index = 0;

      if (bracket != NULL)
        {
          index = g_ascii_strtoull (bracket + 1, NULL, 10);
          *bracket = '\0';
        }
      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      *parent = json_node_get_object (node);
      g_free (*member);
      *member = g_strdup (steps[i]);
      node = json_object_get_member (*parent, steps[i]);
      if (bracket != NULL)
        {
          g_assert_nonnull (node);
          *parent = NULL;
          node = json_array_get_element (json_node_get_array (node), (guint) index);
        }
    }
  return node;
}

static JsonNode *
parse_value (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

/* full_json with the member or element at PATH set to VALUE (JSON text),
 * or a member removed when VALUE is NULL. */
static char *
mutate (const char *path,
        const char *value)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *member = NULL;
  JsonObject *parent = NULL;
  JsonNode *root;

  json_parser_load_from_data (parser, full_json, -1, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);

  if (g_str_has_suffix (path, "]"))
    {
      /* An element: json-glib cannot replace one, so rebuild the array. */
      g_autofree char *array_path = g_strndup (path, strrchr (path, '[') - path);
      guint index = (guint) g_ascii_strtoull (strrchr (path, '[') + 1, NULL, 10);
      JsonArray *array = json_node_get_array (walk (root, array_path, &parent, &member));
      g_autoptr(JsonArray) copy = json_array_new ();

      g_assert_nonnull (value);
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          json_array_add_element (copy,
                                  i == index ? parse_value (value) : json_node_copy (element));
        }
      json_object_set_array_member (parent, member, g_steal_pointer (&copy));
    }
  else
    {
      walk (root, path, &parent, &member);
      g_assert_nonnull (parent);
      if (value == NULL)
        json_object_remove_member (parent, member);
      else
        json_object_set_member (parent, member, parse_value (value));
    }

  return json_to_string (root, FALSE);
}

/* --- round trips and every field ------------------------------------------- */

static void
test_new_defaults (void)
{
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("New", 1 << 30, 2);
  g_autoptr(GError) error = NULL;
  g_autofree char *mac = NULL;

  g_assert_true (g_uuid_string_is_valid (config->uuid));
  g_assert_cmpstr (config->name, ==, "New");
  g_assert_null (config->osinfo);
  g_assert_nonnull (config->created);
  g_assert_cmpint (g_date_time_get_utc_offset (config->created), ==, 0);
  g_assert_cmpuint (config->memory, ==, 1 << 30);
  g_assert_cmpuint (config->cpus, ==, 2);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_DISK);
  g_assert_cmpuint (config->disks->len, ==, 0);
  g_assert_cmpuint (config->media->len, ==, 0);
  g_assert_cmpint (config->network.mode, ==, VIV_NETWORK_MODE_USER);
  g_assert_null (config->network.mac);
  g_assert_cmpint (config->display.kind, ==, VIV_DISPLAY_KIND_SPICE);
  g_assert_true (config->devices.rng);
  g_assert_false (config->devices.console);
  g_assert_true (viv_machine_config_check (config, &error));
  g_assert_no_error (error);

  /* Two machines never share a UUID. */
  {
    g_autoptr(VivMachineConfig) other = viv_machine_config_new ("New", 1 << 30, 2);

    g_assert_cmpstr (config->uuid, !=, other->uuid);
  }

  /* The MAC derived from the UUID is stable and unicast. */
  mac = viv_machine_config_dup_mac (config);
  g_assert_true (g_str_has_prefix (mac, "52:54:00:"));
  g_assert_cmpuint (strlen (mac), ==, 17);
  {
    g_autofree char *again = viv_machine_config_dup_mac (config);

    g_assert_cmpstr (mac, ==, again);
  }
}

static void
test_round_trip (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Round trip", 512 << 20, 1);
  g_autoptr(VivMachineConfig) loaded = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  g_ptr_array_add (config->disks, viv_disk_config_new ("disk.qcow2", VIV_DISK_FORMAT_QCOW2));
  g_ptr_array_add (config->media, viv_media_config_new ("/isos/debian.iso", VIV_MEDIA_KIND_CDROM));
  g_ptr_array_add (config->network.forwards, viv_port_forward_new (VIV_PROTOCOL_TCP, 2222, 22));

  g_assert_true (viv_machine_config_save (config, path, &error));
  g_assert_no_error (error);
  loaded = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (viv_machine_config_equal (config, loaded));
  g_assert_cmpstr (loaded->uuid, ==, config->uuid);
  g_assert_true (g_date_time_equal (loaded->created, config->created));

  /* save → load → save is byte-identical. */
  first = read_file (path);
  g_assert_true (viv_machine_config_save (loaded, path, &error));
  g_assert_no_error (error);
  second = read_file (path);
  g_assert_cmpstr (first, ==, second);

  /* Only machine.json is left: no temporary files. */
  {
    g_autofree char *names = list_dir (dir);

    g_assert_cmpstr (names, ==, "machine.json");
  }

  remove_tree (dir);
}

static void
test_every_field (void)
{
  g_autoptr(VivMachineConfig) config = load_ok (full_json);
  const VivDiskConfig *disk;
  const VivMediaConfig *media;
  const VivPortForward *forward;
  g_autofree char *created = NULL;
  g_autofree char *mac = NULL;

  g_assert_cmpstr (config->uuid, ==, UUID);
  g_assert_cmpstr (config->name, ==, "Debian 12 — test");
  g_assert_cmpstr (config->osinfo, ==, "http://debian.org/debian/12");
  created = g_date_time_format_iso8601 (config->created);
  g_assert_cmpstr (created, ==, "2024-05-01T12:00:00Z");
  g_assert_cmpuint (config->memory, ==, G_GUINT64_CONSTANT (2) << 30);
  g_assert_cmpuint (config->cpus, ==, 4);

  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_KERNEL);
  g_assert_cmpstr (config->boot.kernel, ==, "vmlinuz");
  g_assert_cmpstr (config->boot.initrd, ==, "initrd.img");
  g_assert_cmpstr (config->boot.cmdline, ==, "console=ttyS0 quiet");
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_UEFI);
  g_assert_cmpuint (config->boot.n_order, ==, 2);
  g_assert_cmpint (config->boot.order[0], ==, VIV_BOOT_DEVICE_CDROM);
  g_assert_cmpint (config->boot.order[1], ==, VIV_BOOT_DEVICE_DISK);

  g_assert_cmpuint (config->disks->len, ==, 2);
  disk = g_ptr_array_index (config->disks, 0);
  g_assert_cmpstr (disk->path, ==, "disk.qcow2");
  g_assert_cmpint (disk->format, ==, VIV_DISK_FORMAT_QCOW2);
  g_assert_false (disk->readonly);
  g_assert_cmpint (disk->cache, ==, VIV_DISK_CACHE_WRITEBACK);
  g_assert_null (disk->serial);
  g_assert_cmpint (disk->bus, ==, VIV_DISK_BUS_VIRTIO);
  disk = g_ptr_array_index (config->disks, 1);
  g_assert_cmpstr (disk->path, ==, "/var/lib/data.img");
  g_assert_cmpint (disk->format, ==, VIV_DISK_FORMAT_RAW);
  g_assert_true (disk->readonly);
  g_assert_cmpint (disk->cache, ==, VIV_DISK_CACHE_NONE);
  g_assert_cmpstr (disk->serial, ==, "DATA-01");
  g_assert_cmpint (disk->bus, ==, VIV_DISK_BUS_SATA);

  g_assert_cmpuint (config->media->len, ==, 1);
  media = g_ptr_array_index (config->media, 0);
  g_assert_cmpstr (media->path, ==, "debian.iso");
  g_assert_cmpint (media->kind, ==, VIV_MEDIA_KIND_CDROM);
  g_assert_false (media->inserted);

  g_assert_cmpint (config->network.mode, ==, VIV_NETWORK_MODE_USER);
  /* Read in any case, kept in lower case. */
  g_assert_cmpstr (config->network.mac, ==, "52:54:00:ab:cd:01");
  mac = viv_machine_config_dup_mac (config);
  g_assert_cmpstr (mac, ==, "52:54:00:ab:cd:01");
  /* kept whatever the mode */
  g_assert_cmpstr (config->network.tap, ==, "tap-vm0");
  g_assert_cmpuint (config->network.forwards->len, ==, 2);
  forward = g_ptr_array_index (config->network.forwards, 0);
  g_assert_cmpint (forward->protocol, ==, VIV_PROTOCOL_TCP);
  g_assert_cmpstr (forward->address, ==, "0.0.0.0");
  g_assert_cmpuint (forward->host_port, ==, 2222);
  g_assert_cmpuint (forward->guest_port, ==, 22);
  forward = g_ptr_array_index (config->network.forwards, 1);
  g_assert_null (forward->address);
  g_assert_cmpint (forward->protocol, ==, VIV_PROTOCOL_UDP);
  g_assert_cmpuint (forward->host_port, ==, 5353);
  g_assert_cmpuint (forward->guest_port, ==, 53);

  g_assert_cmpint (config->display.kind, ==, VIV_DISPLAY_KIND_NONE);
  g_assert_cmpuint (config->display.width, ==, 1280);
  g_assert_cmpuint (config->display.height, ==, 800);
  g_assert_false (config->devices.rng);
  g_assert_true (config->devices.console);

  /* Nothing unknown in it. */
  g_assert_null (config->unknown);
  g_assert_null (config->boot.unknown);
  g_assert_null (disk->unknown);
  g_assert_null (config->network.unknown);

  /* Every field survives writing and reading, and a copy. */
  {
    g_autofree char *data = viv_machine_config_to_data (config, NULL);
    g_autoptr(VivMachineConfig) again = load_ok (data);
    g_autofree char *data_again = viv_machine_config_to_data (again, NULL);
    g_autoptr(VivMachineConfig) copy = viv_machine_config_copy (again);

    g_assert_cmpstr (data, ==, data_again);
    g_assert_true (viv_machine_config_equal (config, copy));
    g_free (copy->name);
    copy->name = g_strdup ("Changed");
    g_assert_false (viv_machine_config_equal (config, copy));
  }
}

static void
test_defaults_when_absent (void)
{
  g_autoptr(VivMachineConfig) config = load_ok (minimal_json);

  g_assert_null (config->osinfo);
  g_assert_null (config->created);
  g_assert_cmpint (config->boot.kind, ==, VIV_BOOT_KIND_DISK);
  g_assert_null (config->boot.kernel);
  g_assert_cmpint (config->boot.firmware, ==, VIV_FIRMWARE_UNSET);
  g_assert_cmpuint (config->boot.n_order, ==, 0);
  g_assert_cmpuint (config->disks->len, ==, 0);
  g_assert_cmpuint (config->media->len, ==, 0);
  g_assert_cmpint (config->network.mode, ==, VIV_NETWORK_MODE_USER);
  g_assert_cmpuint (config->network.forwards->len, ==, 0);
  g_assert_cmpint (config->display.kind, ==, VIV_DISPLAY_KIND_SPICE);
  g_assert_cmpuint (config->display.width, ==, 0);
  g_assert_true (config->devices.rng);
  g_assert_false (config->devices.console);
}

/* The layout is part of the format: pin it. */
static void
test_golden_output (void)
{
  static const char expected[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"uuid\": \"" UUID "\",\n"
    "  \"name\": \"m \\\"q\\\" \\\\ \\n\",\n"
    "  \"created\": \"2024-05-01T10:00:00Z\",\n"
    "  \"memory\": 16777216,\n"
    "  \"cpus\": 1,\n"
    "  \"boot\": {\n"
    "    \"kind\": \"firmware\",\n"
    "    \"firmware\": \"bios\"\n"
    "  },\n"
    "  \"disks\": [\n"
    "    {\n"
    "      \"path\": \"disk.qcow2\",\n"
    "      \"format\": \"qcow2\",\n"
    "      \"readonly\": false,\n"
    "      \"cache\": \"writeback\",\n"
    "      \"bus\": \"virtio\"\n"
    "    }\n"
    "  ],\n"
    "  \"media\": [\n"
    "    {\n"
    "      \"kind\": \"cdrom\",\n"
    "      \"inserted\": false\n"
    "    }\n"
    "  ],\n"
    "  \"network\": {\n"
    "    \"mode\": \"none\",\n"
    "    \"forwards\": []\n"
    "  },\n"
    "  \"display\": {\n"
    "    \"kind\": \"spice\"\n"
    "  },\n"
    "  \"devices\": {\n"
    "    \"rng\": true,\n"
    "    \"console\": false\n"
    "  },\n"
    "  \"x-extra\": {\n"
    "    \"list\": [\n"
    "      1,\n"
    "      0.1,\n"
    "      1000000000.0,\n"
    "      null,\n"
    "      {}\n"
    "    ]\n"
    "  }\n"
    "}\n";
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  /* Control characters are rejected in names, but must still be escaped
   * when written; the check is not run by to_data. */
  config = load_ok ("{\"x-extra\": {\"list\": [1, 0.1, 1e9, null, {}]},"
                    " \"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m \\\"q\\\" \\\\ \","
                    " \"created\": \"2024-05-01T12:00:00+02:00\","
                    " \"memory\": 16777216, \"cpus\": 1,"
                    " \"boot\": {\"kind\": \"firmware\", \"firmware\": \"bios\"},"
                    " \"disks\": [{\"path\": \"disk.qcow2\", \"format\": \"qcow2\"}],"
                    " \"media\": [{\"kind\": \"cdrom\", \"path\": null, \"inserted\": false}],"
                    " \"network\": {\"mode\": \"none\"}}");
  g_free (config->name);
  config->name = g_strdup ("m \"q\" \\ \n");
  data = viv_machine_config_to_data (config, &len);
  g_assert_cmpstr (data, ==, expected);
  g_assert_cmpuint (len, ==, strlen (expected));
}

/* The network modes beyond user and none: a tap device by name, passt */
static void
test_network_modes (void)
{
  g_autoptr(VivMachineConfig) tap = load_ok (
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"network\": {\"mode\": \"tap\", \"tap\": \"vmtap0\"}}");
  g_autoptr(VivMachineConfig) passt = load_ok (
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"network\": {\"mode\": \"passt\", \"forwards\": [{\"protocol\": \"udp\","
    " \"address\": \"::\", \"host_port\": 5353, \"guest_port\": 53}]}}");
  g_autoptr(VivMachineConfig) again = NULL;
  g_autofree char *data = NULL;
  const VivPortForward *forward;

  g_assert_cmpint (tap->network.mode, ==, VIV_NETWORK_MODE_TAP);
  g_assert_cmpstr (tap->network.tap, ==, "vmtap0");
  data = viv_machine_config_to_data (tap, NULL);
  g_assert_nonnull (strstr (data, "\"tap\": \"vmtap0\""));
  again = load_ok (data);
  g_assert_cmpint (again->network.mode, ==, VIV_NETWORK_MODE_TAP);
  g_assert_cmpstr (again->network.tap, ==, "vmtap0");

  g_assert_cmpint (passt->network.mode, ==, VIV_NETWORK_MODE_PASST);
  g_assert_null (passt->network.tap);
  forward = g_ptr_array_index (passt->network.forwards, 0);
  g_assert_cmpstr (forward->address, ==, "::");
  g_clear_pointer (&again, viv_machine_config_free);
  g_clear_pointer (&data, g_free);
  again = viv_machine_config_copy (passt);
  forward = g_ptr_array_index (again->network.forwards, 0);
  g_assert_cmpstr (forward->address, ==, "::");
  data = viv_machine_config_to_data (again, NULL);
  g_assert_nonnull (strstr (data, "\"address\": \"::\""));
}

static void
test_unknown_members (void)
{
  static const char json[] =
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"future\": {\"a\": [1, 2.5, null, \"s\", true]},"
    " \"boot\": {\"kind\": \"disk\", \"secure_boot\": true},"
    " \"disks\": [{\"path\": \"d\", \"format\": \"raw\", \"discard\": \"unmap\"}],"
    " \"media\": [{\"path\": \"i.iso\", \"kind\": \"cdrom\", \"label\": \"Install\"}],"
    " \"network\": {\"mode\": \"user\", \"ipv6\": false,"
    "   \"forwards\": [{\"protocol\": \"tcp\", \"host_port\": 80, \"guest_port\": 80,"
    "                   \"bind\": \"127.0.0.1\"}]},"
    " \"display\": {\"kind\": \"spice\", \"scale\": 2},"
    " \"devices\": {\"balloon\": true},"
    " \"zzz\": \"last\"}";
  static const struct { const char *path; const char *value; } kept[] = {
    { "future", "{\"a\":[1,2.5,null,\"s\",true]}" },
    { "boot.secure_boot", "true" },
    { "disks[0].discard", "\"unmap\"" },
    { "media[0].label", "\"Install\"" },
    { "network.ipv6", "false" },
    { "network.forwards[0].bind", "\"127.0.0.1\"" },
    { "display.scale", "2" },
    { "devices.balloon", "true" },
    { "zzz", "\"last\"" },
  };
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);
  g_autoptr(VivMachineConfig) config = load_ok (json);
  g_autoptr(VivMachineConfig) copy = NULL;
  g_autoptr(VivMachineConfig) reloaded = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  g_assert_nonnull (config->unknown);
  g_assert_cmpuint (json_object_get_size (config->unknown), ==, 2);

  /* An older app edits what it knows and saves... */
  copy = viv_machine_config_copy (config);
  g_clear_pointer (&config, viv_machine_config_free);
  g_free (copy->name);
  copy->name = g_strdup ("Renamed");
  copy->cpus = 2;
  g_assert_true (viv_machine_config_save (copy, path, &error));
  g_assert_no_error (error);

  /* ...and what it does not know is still there, unchanged. */
  first = read_file (path);
  json_parser_load_from_data (parser, first, -1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (kept); i++)
    {
      g_autofree char *member = NULL;
      g_autofree char *text = NULL;
      JsonObject *parent = NULL;
      JsonNode *node = walk (json_parser_get_root (parser), kept[i].path, &parent, &member);

      g_assert_nonnull (node);
      text = json_to_string (node, FALSE);
      g_assert_cmpstr (text, ==, kept[i].value);
    }
  /* Unknown members come after the known ones, in their order. */
  g_assert_nonnull (strstr (first, "\"future\""));
  g_assert_true (strstr (first, "\"devices\"") < strstr (first, "\"future\""));
  g_assert_true (strstr (first, "\"future\"") < strstr (first, "\"zzz\""));

  reloaded = viv_machine_config_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reloaded->name, ==, "Renamed");
  g_assert_true (viv_machine_config_equal (reloaded, copy));
  g_assert_true (viv_machine_config_save (reloaded, path, &error));
  g_assert_no_error (error);
  second = read_file (path);
  g_assert_cmpstr (first, ==, second);

  remove_tree (dir);
}

/* Switching the boot kind keeps the other kind's members. */
static void
test_boot_kinds (void)
{
  g_autoptr(VivMachineConfig) config = load_ok (full_json);
  g_autoptr(GError) error = NULL;
  g_autofree char *data = NULL;
  g_autoptr(VivMachineConfig) again = NULL;

  config->boot.kind = VIV_BOOT_KIND_DISK;
  g_assert_true (viv_machine_config_check (config, &error));
  g_assert_no_error (error);
  data = viv_machine_config_to_data (config, NULL);
  again = load_ok (data);
  g_assert_cmpint (again->boot.kind, ==, VIV_BOOT_KIND_DISK);
  g_assert_cmpstr (again->boot.kernel, ==, "vmlinuz");

  again->boot.kind = VIV_BOOT_KIND_FIRMWARE;
  again->boot.firmware = VIV_FIRMWARE_UNSET;
  g_assert_false (viv_machine_config_check (again, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FIELD);
  g_assert_cmpstr (error->message, ==, "boot.firmware is missing");
}

/* Which kinds start a firmware, and which. */
static void
test_firmware_kinds (void)
{
  g_autoptr(VivMachineConfig) config = load_ok (full_json);
  g_autoptr(GError) error = NULL;

  g_assert_false (viv_machine_config_uses_firmware (config));
  g_assert_cmpint (viv_machine_config_get_firmware (config), ==, VIV_FIRMWARE_UNSET);
  config->boot.kind = VIV_BOOT_KIND_FIRMWARE;
  g_assert_true (viv_machine_config_uses_firmware (config));
  g_assert_cmpint (viv_machine_config_get_firmware (config), ==, VIV_FIRMWARE_UEFI);
  config->boot.kind = VIV_BOOT_KIND_DISK;
  g_assert_true (viv_machine_config_uses_firmware (config));
  g_assert_cmpint (viv_machine_config_get_firmware (config), ==, VIV_FIRMWARE_BIOS);

  /* The check refuses what the parser refuses. */
  config->boot.order[1] = VIV_BOOT_DEVICE_CDROM;
  g_assert_false (viv_machine_config_check (config, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_assert_cmpstr (error->message, ==, "boot.order[1]: “cdrom” is already listed as boot.order[0]");
  g_clear_error (&error);
  config->boot.n_order = 1;
  g_assert_true (viv_machine_config_check (config, &error));

  /* An empty drive has no path and is written without one. */
  {
    VivMediaConfig *media = g_ptr_array_index (config->media, 0);
    g_autofree char *data = NULL;
    g_autoptr(VivMachineConfig) again = NULL;

    g_clear_pointer (&media->path, g_free);
    g_assert_true (viv_machine_config_check (config, &error));
    data = viv_machine_config_to_data (config, NULL);
    g_assert_null (strstr (data, "debian.iso"));
    again = load_ok (data);
    media = g_ptr_array_index (again->media, 0);
    g_assert_null (media->path);
    g_assert_false (media->inserted);
    g_assert_cmpuint (again->boot.n_order, ==, 1);

    media->inserted = TRUE;
    g_assert_false (viv_machine_config_check (again, &error));
    g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FIELD);
    g_assert_cmpstr (error->message, ==, "media[0].path is missing");
  }
}

/* A config that fails its check is not saved. */
static void
test_save_checks (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);
  g_autoptr(VivMachineConfig) config = viv_machine_config_new ("Bad", 1000, 1);
  g_autoptr(GError) error = NULL;

  g_assert_false (viv_machine_config_save (config, path, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_assert_nonnull (strstr (error->message, "memory"));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  config->memory = 1 << 30;
  config->cpus = 300;
  g_assert_false (viv_machine_config_save (config, path, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_assert_nonnull (strstr (error->message, "cpus"));
  g_clear_error (&error);

  config->cpus = 1;
  g_ptr_array_add (config->disks, viv_disk_config_new (NULL, VIV_DISK_FORMAT_RAW));
  g_assert_false (viv_machine_config_save (config, path, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FIELD);
  g_assert_cmpstr (error->message, ==, "disks[0].path is missing");
  g_clear_error (&error);

  g_free (config->uuid);
  config->uuid = g_strdup ("0F8FAD5B-D9CB-469F-A165-70867728950E");
  g_assert_false (viv_machine_config_check (config, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_assert_true (g_str_has_prefix (error->message, "uuid: "));

  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  remove_tree (dir);
}

static void
test_load_dir (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *machine_dir = g_build_filename (dir, UUID, NULL);
  g_autofree char *other_dir = g_build_filename (dir, "not-the-uuid", NULL);
  g_autofree char *path = g_build_filename (machine_dir, "machine.json", NULL);
  g_autofree char *other_path = g_build_filename (other_dir, "machine.json", NULL);
  g_autofree char *slash = g_strconcat (machine_dir, "/", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir (machine_dir, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (other_dir, 0700), ==, 0);
  write_file (path, minimal_json);
  write_file (other_path, minimal_json);

  config = viv_machine_config_load_dir (machine_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (config->uuid, ==, UUID);
  g_clear_pointer (&config, viv_machine_config_free);

  config = viv_machine_config_load_dir (slash, &error);
  g_assert_no_error (error);
  g_clear_pointer (&config, viv_machine_config_free);

  config = viv_machine_config_load_dir (other_dir, &error);
  g_assert_null (config);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
  g_assert_cmpstr (error->message, ==,
                   "uuid: “" UUID "” does not match the name of the machine’s folder, "
                   "“not-the-uuid”");
  g_clear_error (&error);

  /* A missing file is a GFileError. */
  config = viv_machine_config_load_dir (missing, &error);
  g_assert_null (config);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);

  remove_tree (dir);
}

/* --- malformed input ------------------------------------------------------- */

typedef struct
{
  const char *name;     /* the test's name */
  const char *path;     /* a member of full_json to change, or NULL: use json */
  const char *value;    /* its new value as JSON, or NULL to remove it */
  const char *json;     /* the whole document, when path is NULL */
  int         code;
  const char *message;  /* the message, or its start when it ends in "…" */
} BadCase;

#define TOO_LONG_NAME \
  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""

#define E(code) VIV_MACHINE_CONFIG_ERROR_##code

static const BadCase bad_cases[] = {
  /* Not a machine.json at all. */
  { "not-json", NULL, NULL, "{\"version\": 1,", E (PARSE), "machine.json is not valid JSON: it ends too early (line 1, column 15)" },
  { "garbage", NULL, NULL, "vivarium", E (PARSE), "machine.json is not valid JSON at line 1, column 1" },
  { "empty", NULL, NULL, "", E (PARSE), "machine.json is empty" },
  { "not-object", NULL, NULL, "[1, 2]", E (WRONG_TYPE),
    "machine.json must hold an object, got an array" },
  { "string", NULL, NULL, "\"machine\"", E (WRONG_TYPE),
    "machine.json must hold an object, got a string" },

  /* Required members. */
  { "missing-version", "version", NULL, NULL, E (MISSING_FIELD), "version is missing" },
  { "missing-uuid", "uuid", NULL, NULL, E (MISSING_FIELD), "uuid is missing" },
  { "missing-name", "name", NULL, NULL, E (MISSING_FIELD), "name is missing" },
  { "missing-memory", "memory", NULL, NULL, E (MISSING_FIELD), "memory is missing" },
  { "missing-cpus", "cpus", NULL, NULL, E (MISSING_FIELD), "cpus is missing" },
  { "missing-boot-kind", "boot.kind", NULL, NULL, E (MISSING_FIELD), "boot.kind is missing" },
  { "missing-boot-kernel", "boot.kernel", NULL, NULL, E (MISSING_FIELD),
    "boot.kernel is missing" },
  { "missing-disk-path", "disks[0].path", NULL, NULL, E (MISSING_FIELD),
    "disks[0].path is missing" },
  { "missing-disk-format", "disks[1].format", NULL, NULL, E (MISSING_FIELD),
    "disks[1].format is missing" },
  { "missing-media-path", NULL, NULL,
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"media\": [{\"kind\": \"cdrom\"}]}", E (MISSING_FIELD),
    "media[0].path is missing" },
  { "missing-media-path-inserted", NULL, NULL,
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"media\": [{\"kind\": \"cdrom\", \"inserted\": true}]}", E (MISSING_FIELD),
    "media[0].path is missing" },
  { "null-media-path-inserted", NULL, NULL,
    "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", \"memory\": 16777216,"
    " \"cpus\": 1, \"media\": [{\"kind\": \"cdrom\", \"path\": null}]}", E (WRONG_TYPE),
    "media[0].path: expected a string, got null" },
  { "missing-media-kind", "media[0].kind", NULL, NULL, E (MISSING_FIELD),
    "media[0].kind is missing" },
  { "missing-network-mode", "network.mode", NULL, NULL, E (MISSING_FIELD),
    "network.mode is missing" },
  { "missing-forward-protocol", "network.forwards[1].protocol", NULL, NULL, E (MISSING_FIELD),
    "network.forwards[1].protocol is missing" },
  { "missing-host-port", "network.forwards[0].host_port", NULL, NULL, E (MISSING_FIELD),
    "network.forwards[0].host_port is missing" },
  { "missing-guest-port", "network.forwards[0].guest_port", NULL, NULL, E (MISSING_FIELD),
    "network.forwards[0].guest_port is missing" },
  { "missing-display-kind", "display.kind", NULL, NULL, E (MISSING_FIELD),
    "display.kind is missing" },

  /* Wrong types, one per field. */
  { "type-version", "version", "\"1\"", NULL, E (WRONG_TYPE),
    "version: expected an integer, got a string" },
  { "type-uuid", "uuid", "42", NULL, E (WRONG_TYPE), "uuid: expected a string, got an integer" },
  { "type-name", "name", "null", NULL, E (WRONG_TYPE), "name: expected a string, got null" },
  { "type-osinfo", "osinfo", "[]", NULL, E (WRONG_TYPE),
    "osinfo: expected a string, got an array" },
  { "type-created", "created", "1714564800", NULL, E (WRONG_TYPE),
    "created: expected a string, got an integer" },
  { "type-memory", "memory", "\"2G\"", NULL, E (WRONG_TYPE),
    "memory: expected an integer, got a string" },
  { "type-memory-float", "memory", "2147483648.5", NULL, E (WRONG_TYPE),
    "memory: expected an integer, got a floating-point number" },
  { "type-cpus", "cpus", "true", NULL, E (WRONG_TYPE), "cpus: expected an integer, got a boolean" },
  { "type-boot", "boot", "\"disk\"", NULL, E (WRONG_TYPE),
    "boot: expected an object, got a string" },
  { "type-boot-kind", "boot.kind", "1", NULL, E (WRONG_TYPE),
    "boot.kind: expected a string, got an integer" },
  { "type-boot-kernel", "boot.kernel", "{}", NULL, E (WRONG_TYPE),
    "boot.kernel: expected a string, got an object" },
  { "type-boot-initrd", "boot.initrd", "false", NULL, E (WRONG_TYPE),
    "boot.initrd: expected a string, got a boolean" },
  { "type-boot-cmdline", "boot.cmdline", "[\"quiet\"]", NULL, E (WRONG_TYPE),
    "boot.cmdline: expected a string, got an array" },
  { "type-boot-firmware", "boot.firmware", "1", NULL, E (WRONG_TYPE),
    "boot.firmware: expected a string, got an integer" },
  { "type-disks", "disks", "{}", NULL, E (WRONG_TYPE), "disks: expected an array, got an object" },
  { "type-disk", "disks[1]", "\"disk.qcow2\"", NULL, E (WRONG_TYPE),
    "disks[1]: expected an object, got a string" },
  { "type-disk-path", "disks[0].path", "1", NULL, E (WRONG_TYPE),
    "disks[0].path: expected a string, got an integer" },
  { "type-disk-format", "disks[1].format", "null", NULL, E (WRONG_TYPE),
    "disks[1].format: expected a string, got null" },
  { "type-disk-readonly", "disks[1].readonly", "\"yes\"", NULL, E (WRONG_TYPE),
    "disks[1].readonly: expected true or false, got a string" },
  { "type-disk-cache", "disks[1].cache", "0", NULL, E (WRONG_TYPE),
    "disks[1].cache: expected a string, got an integer" },
  { "type-disk-serial", "disks[1].serial", "12345", NULL, E (WRONG_TYPE),
    "disks[1].serial: expected a string, got an integer" },
  { "type-media", "media", "\"debian.iso\"", NULL, E (WRONG_TYPE),
    "media: expected an array, got a string" },
  { "type-media-element", "media[0]", "[]", NULL, E (WRONG_TYPE),
    "media[0]: expected an object, got an array" },
  { "type-media-path", "media[0].path", "[]", NULL, E (WRONG_TYPE),
    "media[0].path: expected a string, got an array" },
  { "type-media-kind", "media[0].kind", "true", NULL, E (WRONG_TYPE),
    "media[0].kind: expected a string, got a boolean" },
  { "type-media-inserted", "media[0].inserted", "\"no\"", NULL, E (WRONG_TYPE),
    "media[0].inserted: expected true or false, got a string" },
  { "type-disk-bus", "disks[1].bus", "1", NULL, E (WRONG_TYPE),
    "disks[1].bus: expected a string, got an integer" },
  { "type-boot-order", "boot.order", "\"cdrom\"", NULL, E (WRONG_TYPE),
    "boot.order: expected an array, got a string" },
  { "type-boot-order-element", "boot.order", "[\"cdrom\", 1]", NULL, E (WRONG_TYPE),
    "boot.order[1]: expected a string, got an integer" },
  { "type-network", "network", "\"user\"", NULL, E (WRONG_TYPE),
    "network: expected an object, got a string" },
  { "type-network-mode", "network.mode", "0", NULL, E (WRONG_TYPE),
    "network.mode: expected a string, got an integer" },
  { "type-network-mac", "network.mac", "525400123456", NULL, E (WRONG_TYPE),
    "network.mac: expected a string, got an integer" },
  { "type-forwards", "network.forwards", "{}", NULL, E (WRONG_TYPE),
    "network.forwards: expected an array, got an object" },
  { "type-forward", "network.forwards[0]", "22", NULL, E (WRONG_TYPE),
    "network.forwards[0]: expected an object, got an integer" },
  { "type-forward-protocol", "network.forwards[0].protocol", "6", NULL, E (WRONG_TYPE),
    "network.forwards[0].protocol: expected a string, got an integer" },
  { "type-host-port", "network.forwards[0].host_port", "\"2222\"", NULL, E (WRONG_TYPE),
    "network.forwards[0].host_port: expected an integer, got a string" },
  { "type-guest-port", "network.forwards[1].guest_port", "53.0", NULL, E (WRONG_TYPE),
    "network.forwards[1].guest_port: expected an integer, got a floating-point number" },
  { "type-display", "display", "1", NULL, E (WRONG_TYPE),
    "display: expected an object, got an integer" },
  { "type-display-kind", "display.kind", "true", NULL, E (WRONG_TYPE),
    "display.kind: expected a string, got a boolean" },
  { "type-display-width", "display.width", "\"1280\"", NULL, E (WRONG_TYPE),
    "display.width: expected an integer, got a string" },
  { "type-display-height", "display.height", "1.5", NULL, E (WRONG_TYPE),
    "display.height: expected an integer, got a floating-point number" },
  { "type-devices", "devices", "[]", NULL, E (WRONG_TYPE),
    "devices: expected an object, got an array" },
  { "type-devices-rng", "devices.rng", "1", NULL, E (WRONG_TYPE),
    "devices.rng: expected true or false, got an integer" },
  { "type-devices-console", "devices.console", "\"no\"", NULL, E (WRONG_TYPE),
    "devices.console: expected true or false, got a string" },

  /* Versions. */
  { "version-2", "version", "2", NULL, E (NEWER_VERSION),
    "machine.json version 2 is newer than this Vivarium understands (1)" },
  { "version-0", "version", "0", NULL, E (BAD_VALUE),
    "version: 0 is not a valid version; versions start at 1" },
  { "version-negative", "version", "-1", NULL, E (BAD_VALUE),
    "version: -1 is not a valid version; versions start at 1" },
  /* A newer version is refused before anything else is looked at. */
  { "version-2-other-format", NULL, NULL, "{\"version\": 2, \"memory\": \"lots\"}",
    E (NEWER_VERSION), "machine.json version 2 is newer than this Vivarium understands (1)" },

  /* Values. */
  { "memory-small", "memory", "8388608", NULL, E (BAD_VALUE),
    "memory: 8388608 bytes is too little; a machine needs at least 16 MiB" },
  { "memory-zero", "memory", "0", NULL, E (BAD_VALUE), "memory: 0 bytes is too little; …" },
  { "memory-negative", "memory", "-1073741824", NULL, E (BAD_VALUE),
    "memory: -1073741824 bytes is too little; …" },
  { "memory-not-mib", "memory", "16777217", NULL, E (BAD_VALUE),
    "memory: 16777217 bytes is not a whole number of MiB (1048576 bytes)" },
  { "memory-huge", "memory", "18014398509481984", NULL, E (BAD_VALUE),
    "memory: 18014398509481984 bytes is more than the most Vivarium allows, 16 TiB" },
  { "cpus-0", "cpus", "0", NULL, E (BAD_VALUE),
    "cpus: 0 is not a valid number of CPUs (1 to 255)" },
  { "cpus-256", "cpus", "256", NULL, E (BAD_VALUE),
    "cpus: 256 is not a valid number of CPUs (1 to 255)" },
  { "cpus-negative", "cpus", "-2", NULL, E (BAD_VALUE),
    "cpus: -2 is not a valid number of CPUs (1 to 255)" },
  { "uuid-bad", "uuid", "\"not-a-uuid\"", NULL, E (BAD_VALUE),
    "uuid: “not-a-uuid” is not a UUID in lower case, like "
    "“0f8fad5b-d9cb-469f-a165-70867728950e”" },
  { "uuid-upper", "uuid", "\"0F8FAD5B-D9CB-469F-A165-70867728950E\"", NULL, E (BAD_VALUE),
    "uuid: “0F8FAD5B-D9CB-469F-A165-70867728950E” is not a UUID in lower case, …" },
  { "uuid-braces", "uuid", "\"{" UUID "}\"", NULL, E (BAD_VALUE),
    "uuid: “{" UUID "}” is not …" },
  { "name-empty", "name", "\"\"", NULL, E (BAD_VALUE), "name must not be empty" },
  { "name-long", "name", TOO_LONG_NAME, NULL, E (BAD_VALUE), "name is longer than 256 bytes" },
  { "name-control", "name", "\"two\\nlines\"", NULL, E (BAD_VALUE),
    "name must not contain control characters" },
  { "osinfo-empty", "osinfo", "\"\"", NULL, E (BAD_VALUE), "osinfo must not be empty" },
  { "created-bad", "created", "\"yesterday\"", NULL, E (BAD_VALUE),
    "created: “yesterday” is not an ISO 8601 date and time with a time zone, like "
    "“2024-05-01T12:00:00Z”" },
  { "created-no-zone", "created", "\"2024-05-01T12:00:00\"", NULL, E (BAD_VALUE),
    "created: “2024-05-01T12:00:00” is not an ISO 8601 date …" },
  { "boot-kind", "boot.kind", "\"pxe\"", NULL, E (BAD_VALUE),
    "boot.kind: “pxe” is not a boot kind Vivarium knows (disk, kernel, firmware)" },
  { "boot-firmware", "boot.firmware", "\"coreboot\"", NULL, E (BAD_VALUE),
    "boot.firmware: “coreboot” is not a firmware Vivarium knows (bios, uefi)" },
  { "boot-kernel-empty", "boot.kernel", "\"\"", NULL, E (BAD_VALUE),
    "boot.kernel must not be empty" },
  { "disk-format", "disks[1].format", "\"vmdk\"", NULL, E (BAD_VALUE),
    "disks[1].format: “vmdk” is not a disk format Vivarium knows (qcow2, raw)" },
  { "disk-cache", "disks[0].cache", "\"unsafe\"", NULL, E (BAD_VALUE),
    "disks[0].cache: “unsafe” is not a cache mode Vivarium knows (writeback, none)" },
  { "disk-path-empty", "disks[0].path", "\"\"", NULL, E (BAD_VALUE),
    "disks[0].path must not be empty" },
  { "disk-path-twice", "disks[1].path", "\"disk.qcow2\"", NULL, E (BAD_VALUE),
    "disks[1].path: “disk.qcow2” is already used by disks[0]" },
  { "disk-serial-long", "disks[1].serial", "\"123456789012345678901\"", NULL, E (BAD_VALUE),
    "disks[1].serial is longer than 20 bytes" },
  { "disk-serial-ascii", "disks[1].serial", "\"d\\u00e9j\\u00e0\"", NULL, E (BAD_VALUE),
    "disks[1].serial may contain only printable ASCII characters" },
  { "disk-bus", "disks[0].bus", "\"ide\"", NULL, E (BAD_VALUE),
    "disks[0].bus: “ide” is not a disk bus Vivarium knows (virtio, sata)" },
  { "boot-order-device", "boot.order", "[\"net\"]", NULL, E (BAD_VALUE),
    "boot.order[0]: “net” is not a boot device Vivarium knows (disk, cdrom)" },
  { "boot-order-twice", "boot.order", "[\"disk\", \"disk\"]", NULL, E (BAD_VALUE),
    "boot.order[1]: “disk” is already listed as boot.order[0]" },
  { "boot-order-long", "boot.order", "[\"disk\", \"cdrom\", \"disk\"]", NULL, E (BAD_VALUE),
    "boot.order may list at most 2 devices" },
  { "media-path-empty", "media[0].path", "\"\"", NULL, E (BAD_VALUE),
    "media[0].path must not be empty" },
  { "media-kind", "media[0].kind", "\"floppy\"", NULL, E (BAD_VALUE),
    "media[0].kind: “floppy” is not a kind of removable media Vivarium knows (cdrom)" },
  { "network-mode", "network.mode", "\"bridge\"", NULL, E (BAD_VALUE),
    "network.mode: “bridge” is not a network mode Vivarium knows (user, none, tap, passt)" },
  { "tap-missing", "network", "{\"mode\": \"tap\"}", NULL, E (MISSING_FIELD),
    "network.tap is missing" },
  { "tap-empty", "network.tap", "\"\"", NULL, E (BAD_VALUE),
    "network.tap: “” is not a network interface name (at most 15 characters, no spaces, “/” "
    "or “:”)" },
  { "tap-slash", "network.tap", "\"tap/0\"", NULL, E (BAD_VALUE),
    "network.tap: “tap/0” is not a network interface name …" },
  { "tap-space", "network.tap", "\"tap 0\"", NULL, E (BAD_VALUE),
    "network.tap: “tap 0” is not a network interface name …" },
  { "tap-long", "network.tap", "\"tap0123456789abc\"", NULL, E (BAD_VALUE),
    "network.tap: “tap0123456789abc” is not a network interface name …" },
  { "tap-dots", "network.tap", "\"..\"", NULL, E (BAD_VALUE),
    "network.tap: “..” is not a network interface name …" },
  { "tap-number", "network.tap", "3", NULL, E (WRONG_TYPE),
    "network.tap: expected a string, got an integer" },
  { "forward-address-name", "network.forwards[0].address", "\"localhost\"", NULL,
    E (BAD_VALUE),
    "network.forwards[0].address: “localhost” is not an IP address, like “127.0.0.1” or “::1”" },
  { "forward-address-range", "network.forwards[1].address", "\"10.0.0.256\"", NULL,
    E (BAD_VALUE), "network.forwards[1].address: “10.0.0.256” is not an IP address, …" },
  { "forward-address-type", "network.forwards[0].address", "[127, 0, 0, 1]", NULL,
    E (WRONG_TYPE), "network.forwards[0].address: expected a string, got an array" },
  { "mac-short", "network.mac", "\"52:54:00:12:34\"", NULL, E (BAD_VALUE),
    "network.mac: “52:54:00:12:34” is not a MAC address, like “52:54:00:12:34:56”" },
  { "mac-dashes", "network.mac", "\"52-54-00-12-34-56\"", NULL, E (BAD_VALUE),
    "network.mac: “52-54-00-12-34-56” is not a MAC address, …" },
  { "mac-not-hex", "network.mac", "\"52:54:00:12:34:zz\"", NULL, E (BAD_VALUE),
    "network.mac: “52:54:00:12:34:zz” is not a MAC address, …" },
  { "mac-multicast", "network.mac", "\"01:00:5e:00:00:01\"", NULL, E (BAD_VALUE),
    "network.mac: 01:00:5e:00:00:01 cannot be the address of a network card; it must be a "
    "unicast address" },
  { "mac-zero", "network.mac", "\"00:00:00:00:00:00\"", NULL, E (BAD_VALUE),
    "network.mac: 00:00:00:00:00:00 cannot be …" },
  { "forward-protocol", "network.forwards[0].protocol", "\"sctp\"", NULL, E (BAD_VALUE),
    "network.forwards[0].protocol: “sctp” is not a protocol Vivarium knows (tcp, udp)" },
  { "host-port-0", "network.forwards[0].host_port", "0", NULL, E (BAD_VALUE),
    "network.forwards[0].host_port: 0 is not a port number (1 to 65535)" },
  { "host-port-65536", "network.forwards[1].host_port", "65536", NULL, E (BAD_VALUE),
    "network.forwards[1].host_port: 65536 is not a port number (1 to 65535)" },
  { "guest-port-negative", "network.forwards[0].guest_port", "-22", NULL, E (BAD_VALUE),
    "network.forwards[0].guest_port: -22 is not a port number (1 to 65535)" },
  { "forward-twice", "network.forwards[1]",
    "{\"protocol\": \"tcp\", \"host_port\": 2222, \"guest_port\": 23}", NULL, E (BAD_VALUE),
    "network.forwards[1].host_port: tcp port 2222 is already forwarded by network.forwards[0]" },
  { "display-kind", "display.kind", "\"vnc\"", NULL, E (BAD_VALUE),
    "display.kind: “vnc” is not a display kind Vivarium knows (spice, none)" },
  { "display-small", "display.width", "10", NULL, E (BAD_VALUE),
    "display.width: 10 pixels is not a valid display size (128 to 16384)" },
  { "display-zero", "display.height", "0", NULL, E (BAD_VALUE),
    "display.height: 0 pixels is not a valid display size (128 to 16384)" },
  { "display-huge", "display.height", "20000", NULL, E (BAD_VALUE),
    "display.height: 20000 pixels is not a valid display size (128 to 16384)" },
  { "display-width-alone", "display.height", NULL, NULL, E (BAD_VALUE),
    "display.width and display.height must be given together" },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *bad = data;
  g_autofree char *json = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  json = bad->path != NULL ? mutate (bad->path, bad->value) : g_strdup (bad->json);
  config = viv_machine_config_load_from_data (json, -1, &error);
  g_assert_null (config);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, bad->code);

  if (g_str_has_suffix (bad->message, "…"))
    {
      g_autofree char *start = g_strndup (bad->message, strlen (bad->message) - strlen ("…"));

      if (!g_str_has_prefix (error->message, start))
        g_error ("“%s” does not start with “%s”", error->message, start);
    }
  else
    g_assert_cmpstr (error->message, ==, bad->message);
}

/* Each mutation is applied to a valid document: check that it is. */
static void
test_mutations_valid (void)
{
  g_autoptr(VivMachineConfig) full = load_ok (full_json);
  g_autoptr(VivMachineConfig) minimal = load_ok (minimal_json);
  g_autofree char *same = mutate ("name", "\"Debian 12 — test\"");
  g_autoptr(VivMachineConfig) again = load_ok (same);

  g_assert_true (viv_machine_config_equal (full, again));
  g_assert_false (viv_machine_config_equal (full, minimal));
}

static void
test_deep_nesting (void)
{
  g_autoptr(GString) json = g_string_new ("{\"version\": 1, \"x\": ");
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (json, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (json, ']');
  g_string_append_c (json, '}');

  config = viv_machine_config_load_from_data (json->str, (gssize) json->len, &error);
  g_assert_null (config);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE);
  g_assert_cmpstr (error->message, ==,
                   "machine.json is nested more than 64 levels deep (line 1, column 84)");

  /* Brackets inside strings do not count. */
  g_clear_error (&error);
  g_string_assign (json, "{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"");
  for (guint i = 0; i < 60; i++)
    g_string_append (json, "[{");
  g_string_append (json, "\", \"memory\": 16777216, \"cpus\": 1}");
  config = viv_machine_config_load_from_data (json->str, -1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
}

/* Issue 16: the depth guard skipped only double-quoted strings, but
 * json-glib also reads comments and single-quoted strings, so a quote in
 * either hid 80,000 levels of nesting from the guard and the parser
 * overflowed the stack of the app at every start. Only strict JSON reaches
 * the parser now, with its depth counted. */
static void
test_deep_nesting_hidden (void)
{
  static const char *const prefixes[] = {
    "/* \" */ {\"version\": 1, \"x\": ",      /* a quote in a comment */
    "// \"\n{\"version\": 1, \"x\": ",        /* in a line comment */
    "{'\"': 1, \"version\": 1, \"x\": ",       /* in a single-quoted string */
    "{\"version\": 1, \"x\": '\"', \"y\": ",   /* a single-quoted value */
  };

  for (guint k = 0; k < G_N_ELEMENTS (prefixes); k++)
    {
      g_autoptr(GString) json = g_string_new (prefixes[k]);
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;

      for (guint i = 0; i < 80000; i++)
        g_string_append_c (json, '[');
      for (guint i = 0; i < 80000; i++)
        g_string_append_c (json, ']');
      g_string_append_c (json, '}');

      config = viv_machine_config_load_from_data (json->str, (gssize) json->len, &error);
      g_assert_null (config);
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE);
      g_test_message ("%s", error->message);
      g_assert_true (g_str_has_prefix (error->message, "machine.json is not valid JSON at line "));
    }
}

/* What json-glib accepts but JSON does not is refused, with where */
static void
test_strict_json (void)
{
  static const struct { const char *json; const char *message; } cases[] = {
    { "{\"version\": 1, /* c */ \"name\": \"m\"}",
      "machine.json is not valid JSON at line 1, column 16" },
    { "{\"version\": 1,\n 'name': \"m\"}",
      "machine.json is not valid JSON at line 2, column 2" },
    { "{\"version\": 0x1}", "machine.json is not valid JSON at line 1, column 14" },
    { "{\"version\": 1,}", "machine.json is not valid JSON at line 1, column 15" },
    { "{\"version\": NaN}", "machine.json is not valid JSON at line 1, column 13" },
    { "{\"version\": 1", "machine.json is not valid JSON: it ends too early (line 1, column 14)" },
    { "{\"version\": 1} {}", "machine.json is not valid JSON at line 1, column 16" },
    { "{\"name\": \"a\tb\"}", "machine.json is not valid JSON at line 1, column 12" },
    { "   \n\t ", "machine.json is empty" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;

      config = viv_machine_config_load_from_data (cases[i].json, -1, &error);
      g_assert_null (config);
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

/* Issue 16: an unknown member holding 1e39128 was kept as an infinite
 * double and saved as "inf", which is not JSON: the machine could not be
 * loaded again. Refused at load now, naming the member. */
static void
test_huge_number (void)
{
  static const struct { const char *member; const char *message; } cases[] = {
    { "\"future\": 1e39128", "future: the number is too large" },
    { "\"future\": -1e400", "future: the number is too large" },
    { "\"future\": {\"list\": [1, 2, 1e999]}", "future.list[2]: the number is too large" },
    { "\"devices\": {\"rng\": true, \"later\": 1e309}", "devices.later: the number is too large" },
  };
  g_autofree char *base = g_strndup (minimal_json, strlen (minimal_json) - 1);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *json = g_strdup_printf ("%s, %s}", base, cases[i].member);
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;

      config = viv_machine_config_load_from_data (json, -1, &error);
      g_assert_null (config);
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }

  /* Large but finite, and tiny: kept, written back as JSON that loads */
  {
    g_autofree char *json = g_strdup_printf ("%s, \"big\": 1.5e308, \"tiny\": 1e-400}", base);
    g_autoptr(VivMachineConfig) config = load_ok (json);
    g_autofree char *saved = viv_machine_config_to_data (config, NULL);
    g_autoptr(VivMachineConfig) again = load_ok (saved);
    g_autofree char *saved_again = viv_machine_config_to_data (again, NULL);

    g_assert_nonnull (strstr (saved, "1.5e+308"));
    g_assert_cmpstr (saved, ==, saved_again);
  }
}

/* Data with a length is not read past it. */
static void
test_length (void)
{
  g_autofree char *json = g_strconcat (minimal_json, "garbage", NULL);
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) error = NULL;

  config = viv_machine_config_load_from_data (json, (gssize) strlen (minimal_json), &error);
  g_assert_no_error (error);
  g_assert_nonnull (config);
  g_clear_pointer (&config, viv_machine_config_free);

  config = viv_machine_config_load_from_data (json, -1, &error);
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE);
}

/* Issue 23, item 4: a machine.json that is a FIFO hung the helper (and the
 * app's library scan) in the read; a link to /dev/zero read until memory
 * ran out; a 2 GiB file took seconds and gigabytes. Only regular files of
 * at most VIV_MACHINE_CONFIG_MAX_SIZE are read now. alarm() makes a hang a
 * failure. */
static void
test_not_a_file (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *fifo = g_build_filename (dir, "fifo.json", NULL);
  g_autofree char *zero = g_build_filename (dir, "zero.json", NULL);
  g_autofree char *big = g_build_filename (dir, "big.json", NULL);
  g_autofree char *ok = g_build_filename (dir, "ok.json", NULL);
  g_autofree char *link = g_build_filename (dir, "link.json", NULL);
  const char *refused[] = { fifo, zero, big, dir };

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (symlink ("/dev/zero", zero), ==, 0);
  {
    /* valid JSON, just too much of it: spaces after a real description */
    g_autoptr(GString) text = g_string_new (minimal_json);
    int fd;

    g_string_append_c (text, '\n');
    g_assert_true (g_file_set_contents (big, text->str, (gssize) text->len, NULL));
    fd = open (big, O_WRONLY | O_APPEND);
    g_assert_cmpint (fd, >=, 0);
    for (guint i = 0; i < VIV_MACHINE_CONFIG_MAX_SIZE / 4096 + 1; i++)
      {
        char spaces[4096];

        memset (spaces, ' ', sizeof spaces);
        g_assert_cmpint (write (fd, spaces, sizeof spaces), ==, sizeof spaces);
      }
    close (fd);
  }
  g_assert_true (g_file_set_contents (ok, minimal_json, -1, NULL));
  g_assert_cmpint (symlink ("ok.json", link), ==, 0);

  alarm (20);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;

      config = viv_machine_config_load (refused[i], &error);
      g_assert_null (config);
      g_test_message ("%s", error->message);
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_NOT_A_FILE);
    }
  alarm (0);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(VivMachineConfig) config = viv_machine_config_load (big, &error);
    g_autofree char *expected = g_strdup_printf ("“%s” is larger than 1 MiB: it is not a "
                                                 "machine description", big);

    g_assert_cmpstr (error->message, ==, expected);
  }
  /* A link to a regular file is fine; a missing file is a GFileError */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(VivMachineConfig) config = viv_machine_config_load (link, &error);
    g_autofree char *missing = g_build_filename (dir, "missing.json", NULL);

    g_assert_no_error (error);
    g_assert_nonnull (config);
    g_clear_pointer (&config, viv_machine_config_free);
    config = viv_machine_config_load (missing, &error);
    g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  }
  remove_tree (dir);
}

/* Issue 23, item 10: what json-glib read wrongly or a message showed badly */
static void
test_json_details (void)
{
  static const struct { const char *json; int code; const char *message; } cases[] = {
    /* 10^23 wrapped to -1 ("-1 bytes is too little"), 2^63 to a negative */
    { "{\"version\": 1, \"memory\": 99999999999999999999999}", VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json holds a whole number too large to read (line 1, column 26)" },
    { "{\"version\": 1, \"memory\": 9223372036854775808}", VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json holds a whole number too large to read (line 1, column 26)" },
    /* the last "disks" won: a machine with no disks */
    { "{\"version\": 1, \"disks\": [{\"path\": \"a.img\"}], \"disks\": []}",
      VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json has “disks” twice in one object (line 1, column 46)" },
    /* the same name, written another way */
    { "{\"version\": 1, \"name\": \"a\", \"n\\u0061me\": \"b\"}", VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json has “name” twice in one object (line 1, column 29)" },
    /* "disk.qcow2\u0000.evil" opened disk.qcow2 */
    { "{\"version\": 1, \"disks\": [{\"path\": \"disk.qcow2\\u0000.evil\"}]}",
      VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json holds a string with a null character, \\u0000 (line 1, column 46)" },
    /* found by fuzz-machine-config: json-glib made bytes that are not UTF-8 of
     * half a surrogate pair, and the file saved was not JSON */
    { "{\"version\": 1, \"boot\": {\"e\\udef5x\": 1}}", VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json holds a string with half a surrogate pair, which is no character "
      "(line 1, column 27)" },
    { "{\"version\": 1, \"name\": \"\\ud83d\\u0041\"}", VIV_MACHINE_CONFIG_ERROR_PARSE,
      "machine.json holds a string with half a surrogate pair, which is no character "
      "(line 1, column 25)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(VivMachineConfig) config = NULL;
      g_autoptr(GError) error = NULL;

      config = viv_machine_config_load_from_data (cases[i].json, -1, &error);
      g_assert_null (config);
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, cases[i].code);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }

  /* A whole surrogate pair is one character, as it should be */
  {
    g_autoptr(VivMachineConfig) config =
      load_ok ("{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"\\ud83d\\ude00\", "
               "\"memory\": 16777216, \"cpus\": 1}");

    g_assert_cmpstr (config->name, ==, "😀");
  }

  /* The largest whole numbers still read */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(VivMachineConfig) config =
      viv_machine_config_load_from_data ("{\"version\": 1, \"uuid\": \"" UUID "\", \"name\": \"m\", "
                                         "\"memory\": 9223372036854775807, \"cpus\": 1}", -1,
                                         &error);

    g_assert_null (config);
    g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "9223372036854775807"));
  }

  /* A 1 MB value is cut in the message, not echoed in full */
  {
    g_autoptr(GString) json = g_string_new ("{\"version\": 1, \"uuid\": \"");
    g_autoptr(VivMachineConfig) config = NULL;
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < 1000000; i++)
      g_string_append_c (json, 'x');
    g_string_append (json, "\", \"name\": \"m\", \"memory\": 16777216, \"cpus\": 1}");
    config = viv_machine_config_load_from_data (json->str, (gssize) json->len, &error);
    g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
    g_assert_cmpuint (strlen (error->message), <, 300);
    g_assert_true (g_str_has_prefix (error->message,
                                     "uuid: “xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…” "));
  }
}

/* Issue 23, item 10: "disk.qcow2" and "./disk.qcow2" passed the duplicate
 * check, and the start failed with a misleading "locked". The names are
 * compared as paths now, and the files behind them before a start. */
static void
test_same_disk_twice (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *disk = g_build_filename (dir, "disk.qcow2", NULL);
  g_autofree char *link = g_build_filename (dir, "other.qcow2", NULL);
  static const char *const same_names[][2] = {
    { "disk.qcow2", "./disk.qcow2" },
    { "disk.qcow2", "sub/../disk.qcow2" },
    { "/m/disk.qcow2", "/m//disk.qcow2" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (same_names); i++)
    {
      g_autoptr(VivMachineConfig) config = viv_machine_config_new ("m", 16 * 1024 * 1024, 1);
      g_autoptr(GError) error = NULL;

      g_ptr_array_add (config->disks, viv_disk_config_new (same_names[i][0], VIV_DISK_FORMAT_QCOW2));
      g_ptr_array_add (config->disks, viv_disk_config_new (same_names[i][1], VIV_DISK_FORMAT_QCOW2));
      g_assert_false (viv_machine_config_check (config, &error));
      g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "is already used by disks[0]"));
    }

  /* A link, or the absolute path: only the files tell */
  g_assert_true (g_file_set_contents (disk, "", 0, NULL));
  g_assert_cmpint (symlink ("disk.qcow2", link), ==, 0);
  {
    const char *other_names[] = { "other.qcow2", disk };

    for (guint i = 0; i < G_N_ELEMENTS (other_names); i++)
      {
        g_autoptr(VivMachineConfig) config = viv_machine_config_new ("m", 16 * 1024 * 1024, 1);
        g_autoptr(GError) error = NULL;
        g_autofree char *expected = g_strdup_printf ("disks[1].path: “%s” is the same file as "
                                                     "disks[0]", other_names[i]);

        g_ptr_array_add (config->disks, viv_disk_config_new ("disk.qcow2", VIV_DISK_FORMAT_QCOW2));
        g_ptr_array_add (config->disks, viv_disk_config_new (other_names[i], VIV_DISK_FORMAT_QCOW2));
        g_assert_true (viv_machine_config_check (config, NULL));
        g_assert_false (viv_machine_config_validate_files (config, dir, &error));
        g_assert_cmpstr (error->message, ==, expected);
      }
  }
  remove_tree (dir);
}

/* --- files the machine names ----------------------------------------------- */

static void
test_validate_files (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *outside = make_tmp_dir ();
  g_autofree char *data_img = g_build_filename (outside, "data.img", NULL);
  g_autoptr(VivMachineConfig) config = load_ok (full_json);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  g_autofree char *resolved = NULL;
  VivDiskConfig *disk = g_ptr_array_index (config->disks, 1);
  static const char *const files[] = { "vmlinuz", "initrd.img", "disk.qcow2", "debian.iso" };

  g_free (disk->path);
  disk->path = g_strdup (data_img);

  /* Relative paths are relative to the machine's folder. */
  resolved = viv_machine_config_resolve_path (dir, "disk.qcow2");
  message = g_build_filename (dir, "disk.qcow2", NULL);
  g_assert_cmpstr (resolved, ==, message);
  g_clear_pointer (&resolved, g_free);
  g_clear_pointer (&message, g_free);
  resolved = viv_machine_config_resolve_path (dir, "/abs/./x.img");
  g_assert_cmpstr (resolved, ==, "/abs/x.img");
  g_clear_pointer (&resolved, g_free);

  /* Nothing there yet: the kernel is the first one named. */
  g_assert_false (viv_machine_config_validate_files (config, dir, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE);
  message = g_strdup_printf ("boot.kernel: %s/vmlinuz does not exist", dir);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_pointer (&message, g_free);
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);

      write_file (path, "x");
    }
  write_file (data_img, "x");
  g_assert_true (viv_machine_config_validate_files (config, dir, &error));
  g_assert_no_error (error);

  /* Each missing file is named by its field. */
  {
    static const struct { const char *file; const char *field; } cases[] = {
      { "initrd.img", "boot.initrd" },
      { "disk.qcow2", "disks[0].path" },
      { "debian.iso", "media[0].path" },
    };

    VivMediaConfig *media = g_ptr_array_index (config->media, 0);

    /* full_json's disc is ejected: only an inserted one is needed. */
    media->inserted = TRUE;
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autofree char *path = g_build_filename (dir, cases[i].file, NULL);
        g_autofree char *expected = g_strdup_printf ("%s: %s does not exist",
                                                     cases[i].field, path);

        g_assert_cmpint (g_unlink (path), ==, 0);
        g_assert_false (viv_machine_config_validate_files (config, dir, &error));
        g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE);
        g_assert_cmpstr (error->message, ==, expected);
        g_clear_error (&error);
        if (strcmp (cases[i].file, "debian.iso") == 0)
          {
            media->inserted = FALSE;
            g_assert_true (viv_machine_config_validate_files (config, dir, &error));
            g_assert_no_error (error);
            media->inserted = TRUE;
          }
        write_file (path, "x");
      }
  }

  /* An absolute path outside the folder. */
  g_assert_cmpint (g_unlink (data_img), ==, 0);
  g_assert_false (viv_machine_config_validate_files (config, dir, &error));
  message = g_strdup_printf ("disks[1].path: %s does not exist", data_img);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_pointer (&message, g_free);
  g_clear_error (&error);

  /* A folder where a disk should be. */
  g_assert_cmpint (g_mkdir (data_img, 0700), ==, 0);
  g_assert_false (viv_machine_config_validate_files (config, dir, &error));
  g_assert_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE);
  message = g_strdup_printf ("disks[1].path: %s is a folder, not a file", data_img);
  g_assert_cmpstr (error->message, ==, message);
  g_clear_pointer (&message, g_free);
  g_clear_error (&error);
  g_assert_cmpint (g_rmdir (data_img), ==, 0);
  write_file (data_img, "x");

  /* The kernel and initrd only matter when booting a kernel. */
  {
    g_autofree char *kernel = g_build_filename (dir, "vmlinuz", NULL);

    g_assert_cmpint (g_unlink (kernel), ==, 0);
    config->boot.kind = VIV_BOOT_KIND_DISK;
    g_assert_true (viv_machine_config_validate_files (config, dir, &error));
    g_assert_no_error (error);
  }

  remove_tree (dir);
  remove_tree (outside);
}

/* machine.schema.json describes the members the code writes. */
static void
test_schema (void)
{
  g_autofree char *schema_path = g_test_build_filename (G_TEST_DIST, "..", "src", "common",
                                                        "machine.schema.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonParser) written = json_parser_new ();
  g_autoptr(VivMachineConfig) config = load_ok (full_json);
  g_autofree char *data = viv_machine_config_to_data (config, NULL);
  g_autoptr(GError) error = NULL;
  static const struct { const char *written; const char *schema; } objects[] = {
    { NULL, NULL },
    { "boot", "boot" },
    { "disks[1]", "disk" },
    { "media[0]", "media" },
    { "network", "network" },
    { "network.forwards[0]", "forward" },
    { "display", "display" },
    { "devices", "devices" },
  };
  JsonObject *schema;

  if (!g_file_test (schema_path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("machine.schema.json is not in the source tree");
      return;
    }

  json_parser_load_from_file (parser, schema_path, &error);
  g_assert_no_error (error);
  json_parser_load_from_data (written, data, -1, &error);
  g_assert_no_error (error);
  schema = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (schema, "$schema"), ==,
                   "https://json-schema.org/draft/2020-12/schema");

  for (guint i = 0; i < G_N_ELEMENTS (objects); i++)
    {
      JsonObject *def = schema;
      JsonObject *properties;
      JsonObject *object;
      g_autoptr(GList) names = NULL;

      if (objects[i].schema != NULL)
        def = json_object_get_object_member (json_object_get_object_member (schema, "$defs"),
                                             objects[i].schema);
      g_assert_nonnull (def);
      properties = json_object_get_object_member (def, "properties");

      if (objects[i].written != NULL)
        {
          g_autofree char *member = NULL;
          JsonObject *parent = NULL;

          object = json_node_get_object (walk (json_parser_get_root (written),
                                               objects[i].written, &parent, &member));
        }
      else
        object = json_node_get_object (json_parser_get_root (written));

      /* Both ways: every member written is described, every member
       * described is written (full_json sets them all). */
      g_assert_cmpuint (json_object_get_size (object), ==, json_object_get_size (properties));
      names = json_object_get_members (object);
      for (GList *l = names; l != NULL; l = l->next)
        if (!json_object_has_member (properties, l->data))
          g_error ("%s is not in the schema (%s)", (char *) l->data,
                   objects[i].schema != NULL ? objects[i].schema : "top level");
    }
}

/* --- viv_file_replace ------------------------------------------------------ */

static void
test_replace_new (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "file.json", NULL);
  g_autofree char *content = NULL;
  g_autofree char *names = NULL;
  g_autoptr(GError) error = NULL;
  mode_t mask = umask (022);
  struct stat st;

  umask (mask);
  g_assert_true (viv_file_replace (path, "new\n", 4, &error));
  g_assert_no_error (error);
  content = read_file (path);
  g_assert_cmpstr (content, ==, "new\n");
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0644 & ~mask);
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "file.json");
  g_clear_pointer (&content, g_free);

  /* Empty content is content too. */
  g_assert_true (viv_file_replace (path, "", 0, &error));
  g_assert_no_error (error);
  content = read_file (path);
  g_assert_cmpstr (content, ==, "");

  remove_tree (dir);
}

typedef struct
{
  const char *path;
  char       *tmp_path;
} HookData;

/* Runs where a crash would: the new data is in the temporary file, PATH is
 * still the old one. */
static void
check_before_rename (const char *tmp_path,
                     gpointer    user_data)
{
  HookData *data = user_data;
  g_autofree char *tmp_content = read_file (tmp_path);
  g_autofree char *content = read_file (data->path);
  g_autofree char *dir = g_path_get_dirname (data->path);
  g_autofree char *tmp_dir = g_path_get_dirname (tmp_path);

  g_assert_cmpstr (tmp_content, ==, "new content\n");
  g_assert_cmpstr (content, ==, "old content\n");
  g_assert_cmpstr (dir, ==, tmp_dir);
  data->tmp_path = g_strdup (tmp_path);
}

static void
test_replace_existing (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "file.json", NULL);
  g_autofree char *content = NULL;
  g_autofree char *names = NULL;
  g_autoptr(GError) error = NULL;
  HookData data = { path, NULL };

  write_file (path, "old content\n");
  g_assert_true (viv_file_replace_full (path, "new content\n", 12, check_before_rename, &data,
                                        &error));
  g_assert_no_error (error);
  content = read_file (path);
  g_assert_cmpstr (content, ==, "new content\n");

  /* The temporary was hidden, next to PATH, and is gone now. */
  g_assert_nonnull (data.tmp_path);
  {
    g_autofree char *base = g_path_get_basename (data.tmp_path);

    g_assert_true (g_str_has_prefix (base, ".file.json."));
  }
  g_assert_false (g_file_test (data.tmp_path, G_FILE_TEST_EXISTS));
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "file.json");

  g_free (data.tmp_path);
  remove_tree (dir);
}

static void
crash (const char *tmp_path G_GNUC_UNUSED,
       gpointer    user_data G_GNUC_UNUSED)
{
  raise (SIGKILL);
}

static void
test_replace_crash (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "machine.json", NULL);
  g_autofree char *content = NULL;
  g_autoptr(GDir) listing = NULL;
  g_autoptr(GError) error = NULL;
  const char *name;
  guint strays = 0;
  pid_t pid;
  int status;

  write_file (path, "old content\n");

  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      viv_file_replace_full (path, "new content\n", 12, crash, NULL, NULL);
      _exit (1);  /* not reached: the hook kills us */
    }

  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);

  /* The old content, whole, and at most a stray temporary beside it. */
  content = read_file (path);
  g_assert_cmpstr (content, ==, "old content\n");
  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      if (strcmp (name, "machine.json") == 0)
        continue;
      g_assert_true (g_str_has_prefix (name, ".machine.json."));
      strays++;
    }
  g_assert_cmpuint (strays, <=, 1);

  /* The next write works. */
  g_clear_pointer (&content, g_free);
  g_assert_true (viv_file_replace (path, "newer content\n", 14, &error));
  g_assert_no_error (error);
  content = read_file (path);
  g_assert_cmpstr (content, ==, "newer content\n");

  remove_tree (dir);
}

/* A write into a folder we cannot write to fails and leaves nothing. Run
 * as an unprivileged user: root can write anywhere. */
static void
check_unwritable (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "file.json", NULL);
  g_autofree char *names = NULL;
  g_autofree char *content = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_false (viv_file_replace (path, "new\n", 4, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, path));
  content = read_file (path);
  g_assert_cmpstr (content, ==, "old\n");
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "file.json");
}

static void
test_replace_failures (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *missing = g_build_filename (dir, "missing", "file.json", NULL);
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_autofree char *sub_file = g_build_filename (sub, "file.json", NULL);
  g_autofree char *names = NULL;
  g_autoptr(GError) error = NULL;

  /* A missing folder: nothing is created. */
  g_assert_false (viv_file_replace (missing, "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  names = list_dir (dir);
  g_assert_cmpstr (names, ==, "");
  g_clear_pointer (&names, g_free);

  /* A folder in the way of the rename: the temporary is removed. */
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (sub_file, 0755), ==, 0);
  g_assert_false (viv_file_replace (sub_file, "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  g_assert_nonnull (strstr (error->message, sub_file));
  g_clear_error (&error);
  names = list_dir (sub);
  g_assert_cmpstr (names, ==, "file.json");
  g_clear_pointer (&names, g_free);
  g_assert_cmpint (g_rmdir (sub_file), ==, 0);

  /* A folder we may not write to. */
  write_file (sub_file, "old\n");
  g_assert_cmpint (chmod (sub, 0555), ==, 0);
  g_assert_cmpint (chmod (dir, 0755), ==, 0);
  if (geteuid () != 0)
    check_unwritable (sub);
  else
    {
      pid_t pid = fork ();
      int status;

      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          /* nobody */
          if (setgid (65534) < 0 || setuid (65534) < 0)
            _exit (2);
          check_unwritable (sub);
          _exit (0);
        }
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }

  remove_tree (dir);
}

/* --- viv_file_make_private_dir --------------------------------------------- */

static void
test_private_dir (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *nested = g_build_filename (dir, "a", "b", "vivarium", NULL);
  g_autofree char *open_dir = g_build_filename (dir, "open", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *link = g_build_filename (dir, "link", NULL);
  g_autofree char *foreign = g_build_filename (dir, "foreign", NULL);
  g_autoptr(GError) error = NULL;
  struct stat st;

  /* Created, with its parents, private. */
  g_assert_true (viv_file_make_private_dir (nested, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lstat (nested, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* An existing private folder is fine. */
  g_assert_true (viv_file_make_private_dir (nested, &error));
  g_assert_no_error (error);

  /* One open to others is refused, not repaired. */
  g_assert_cmpint (g_mkdir (open_dir, 0700), ==, 0);
  g_assert_cmpint (chmod (open_dir, 0755), ==, 0);
  g_assert_false (viv_file_make_private_dir (open_dir, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, open_dir));
  g_assert_nonnull (strstr (error->message, "0755"));
  g_clear_error (&error);
  g_assert_cmpint (lstat (open_dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0755);

  /* A file in the way. */
  write_file (file, "x");
  g_assert_false (viv_file_make_private_dir (file, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_assert_nonnull (strstr (error->message, file));
  g_clear_error (&error);

  /* A symbolic link, even to a private folder. */
  g_assert_cmpint (symlink (nested, link), ==, 0);
  g_assert_false (viv_file_make_private_dir (link, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_clear_error (&error);

  /* Under a file: cannot be created. */
  {
    g_autofree char *under_file = g_build_filename (file, "sub", NULL);

    g_assert_false (viv_file_make_private_dir (under_file, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
    g_assert_nonnull (strstr (error->message, under_file));
    g_clear_error (&error);
  }

  /* Someone else's folder (only root can make one to test with). */
  if (geteuid () == 0)
    {
      g_assert_cmpint (g_mkdir (foreign, 0700), ==, 0);
      g_assert_cmpint (chown (foreign, 65534, 65534), ==, 0);
      g_assert_false (viv_file_make_private_dir (foreign, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
      g_assert_nonnull (strstr (error->message, "another user"));
      g_clear_error (&error);
    }

  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/machine-config/new", test_new_defaults);
  g_test_add_func ("/machine-config/round-trip", test_round_trip);
  g_test_add_func ("/machine-config/every-field", test_every_field);
  g_test_add_func ("/machine-config/defaults", test_defaults_when_absent);
  g_test_add_func ("/machine-config/golden", test_golden_output);
  g_test_add_func ("/machine-config/unknown-members", test_unknown_members);
  g_test_add_func ("/machine-config/network-modes", test_network_modes);
  g_test_add_func ("/machine-config/boot-kinds", test_boot_kinds);
  g_test_add_func ("/machine-config/firmware-kinds", test_firmware_kinds);
  g_test_add_func ("/machine-config/save-checks", test_save_checks);
  g_test_add_func ("/machine-config/load-dir", test_load_dir);
  g_test_add_func ("/machine-config/mutations-valid", test_mutations_valid);
  g_test_add_func ("/machine-config/deep-nesting", test_deep_nesting);
  g_test_add_func ("/machine-config/deep-nesting-hidden", test_deep_nesting_hidden);
  g_test_add_func ("/machine-config/strict-json", test_strict_json);
  g_test_add_func ("/machine-config/huge-number", test_huge_number);
  g_test_add_func ("/machine-config/not-a-file", test_not_a_file);
  g_test_add_func ("/machine-config/json-details", test_json_details);
  g_test_add_func ("/machine-config/same-disk-twice", test_same_disk_twice);
  g_test_add_func ("/machine-config/length", test_length);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/machine-config/bad/%s", bad_cases[i].name);

      g_test_add_data_func (name, &bad_cases[i], test_bad);
    }
  g_test_add_func ("/machine-config/validate-files", test_validate_files);
  g_test_add_func ("/machine-config/schema", test_schema);
  g_test_add_func ("/file/replace/new", test_replace_new);
  g_test_add_func ("/file/replace/existing", test_replace_existing);
  g_test_add_func ("/file/replace/crash", test_replace_crash);
  g_test_add_func ("/file/replace/failures", test_replace_failures);
  g_test_add_func ("/file/private-dir", test_private_dir);

  return g_test_run ();
}
