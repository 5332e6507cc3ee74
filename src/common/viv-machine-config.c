/* viv-machine-config.c: machine.json, the description of one machine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-config"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "viv-file.h"
#include "viv-json.h"
#include "viv-machine-config.h"

G_DEFINE_QUARK (viv-machine-config-error-quark, viv_machine_config_error)

#define MIB (G_GUINT64_CONSTANT (1) << 20)

/* json-glib 1.6 parses recursively without a limit, so a file of nested
 * brackets could overflow the stack; no machine.json needs this many. */
#define MAX_NESTING 64

/* --- names of enumerated values ------------------------------------------ */

typedef struct
{
  const char *const *names;   /* indexed by the enum's value; NULL: no name */
  guint              n_names;
  const char        *message; /* N_(): "%s: “%s” is not a … (%s)" */
} EnumInfo;

static const char *const boot_kind_names[] = {
  [VIV_BOOT_KIND_DISK] = "disk",
  [VIV_BOOT_KIND_KERNEL] = "kernel",
  [VIV_BOOT_KIND_FIRMWARE] = "firmware",
};
static const char *const firmware_names[] = {
  [VIV_FIRMWARE_UNSET] = NULL,
  [VIV_FIRMWARE_BIOS] = "bios",
  [VIV_FIRMWARE_UEFI] = "uefi",
};
static const char *const disk_format_names[] = {
  [VIV_DISK_FORMAT_QCOW2] = "qcow2",
  [VIV_DISK_FORMAT_RAW] = "raw",
};
static const char *const disk_cache_names[] = {
  [VIV_DISK_CACHE_WRITEBACK] = "writeback",
  [VIV_DISK_CACHE_NONE] = "none",
};
static const char *const disk_bus_names[] = {
  [VIV_DISK_BUS_VIRTIO] = "virtio",
  [VIV_DISK_BUS_SATA] = "sata",
};
static const char *const boot_device_names[] = {
  [VIV_BOOT_DEVICE_DISK] = "disk",
  [VIV_BOOT_DEVICE_CDROM] = "cdrom",
};
static const char *const media_kind_names[] = {
  [VIV_MEDIA_KIND_CDROM] = "cdrom",
};
static const char *const network_mode_names[] = {
  [VIV_NETWORK_MODE_USER] = "user",
  [VIV_NETWORK_MODE_NONE] = "none",
  [VIV_NETWORK_MODE_TAP] = "tap",
  [VIV_NETWORK_MODE_PASST] = "passt",
};
static const char *const protocol_names[] = {
  [VIV_PROTOCOL_TCP] = "tcp",
  [VIV_PROTOCOL_UDP] = "udp",
};
static const char *const display_kind_names[] = {
  [VIV_DISPLAY_KIND_SPICE] = "spice",
  [VIV_DISPLAY_KIND_NONE] = "none",
};

static const EnumInfo boot_kind_info = {
  boot_kind_names, G_N_ELEMENTS (boot_kind_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a boot kind Vivarium knows (%s)"),
};
static const EnumInfo firmware_info = {
  firmware_names, G_N_ELEMENTS (firmware_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a firmware Vivarium knows (%s)"),
};
static const EnumInfo disk_format_info = {
  disk_format_names, G_N_ELEMENTS (disk_format_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a disk format Vivarium knows (%s)"),
};
static const EnumInfo disk_cache_info = {
  disk_cache_names, G_N_ELEMENTS (disk_cache_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a cache mode Vivarium knows (%s)"),
};
static const EnumInfo disk_bus_info = {
  disk_bus_names, G_N_ELEMENTS (disk_bus_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a disk bus Vivarium knows (%s)"),
};
static const EnumInfo boot_device_info = {
  boot_device_names, G_N_ELEMENTS (boot_device_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a boot device Vivarium knows (%s)"),
};
static const EnumInfo media_kind_info = {
  media_kind_names, G_N_ELEMENTS (media_kind_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a kind of removable media Vivarium knows (%s)"),
};
static const EnumInfo network_mode_info = {
  network_mode_names, G_N_ELEMENTS (network_mode_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a network mode Vivarium knows (%s)"),
};
static const EnumInfo protocol_info = {
  protocol_names, G_N_ELEMENTS (protocol_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a protocol Vivarium knows (%s)"),
};
static const EnumInfo display_kind_info = {
  display_kind_names, G_N_ELEMENTS (display_kind_names),
  /* Translators: a field of machine.json (“disks[1].format”), the value
   * found there, and the values Vivarium knows (“qcow2, raw”) */
  N_("%s: “%s” is not a display kind Vivarium knows (%s)"),
};

static const char *
enum_to_string (const EnumInfo *info,
                int             value)
{
  if (value < 0 || (guint) value >= info->n_names || info->names[value] == NULL)
    return NULL;
  return info->names[value];
}

/* The members each object knows; everything else is kept in `unknown`. */
static const char *const machine_members[] = {
  "version", "uuid", "name", "osinfo", "created", "memory", "cpus", "boot", "disks",
  "media", "network", "display", "devices", NULL
};
static const char *const boot_members[] = {
  "kind", "kernel", "initrd", "cmdline", "firmware", "order", NULL
};
static const char *const disk_members[] = {
  "path", "format", "readonly", "cache", "serial", "bus", NULL
};
static const char *const media_members[] = { "path", "kind", "inserted", NULL };
static const char *const network_members[] = { "mode", "mac", "forwards", "tap", NULL };
static const char *const forward_members[] = {
  "protocol", "address", "host_port", "guest_port", NULL
};
static const char *const display_members[] = { "kind", "width", "height", NULL };
static const char *const devices_members[] = { "rng", "console", NULL };

/* --- construction and destruction ------------------------------------------ */

VivDiskConfig *
viv_disk_config_new (const char    *path,
                     VivDiskFormat  format)
{
  VivDiskConfig *disk = g_new0 (VivDiskConfig, 1);

  disk->path = g_strdup (path);
  disk->format = format;
  disk->cache = VIV_DISK_CACHE_WRITEBACK;
  return disk;
}

void
viv_disk_config_free (VivDiskConfig *disk)
{
  if (disk == NULL)
    return;
  g_free (disk->path);
  g_free (disk->serial);
  g_clear_pointer (&disk->unknown, json_object_unref);
  g_free (disk);
}

VivMediaConfig *
viv_media_config_new (const char   *path,
                      VivMediaKind  kind)
{
  VivMediaConfig *media = g_new0 (VivMediaConfig, 1);

  media->path = g_strdup (path);
  media->kind = kind;
  media->inserted = TRUE;
  return media;
}

void
viv_media_config_free (VivMediaConfig *media)
{
  if (media == NULL)
    return;
  g_free (media->path);
  g_clear_pointer (&media->unknown, json_object_unref);
  g_free (media);
}

VivPortForward *
viv_port_forward_new (VivProtocol protocol,
                      guint       host_port,
                      guint       guest_port)
{
  VivPortForward *forward = g_new0 (VivPortForward, 1);

  forward->protocol = protocol;
  forward->host_port = host_port;
  forward->guest_port = guest_port;
  return forward;
}

void
viv_port_forward_free (VivPortForward *forward)
{
  if (forward == NULL)
    return;
  g_clear_pointer (&forward->unknown, json_object_unref);
  g_free (forward->address);
  g_free (forward);
}

/* The defaults are what a member left out of machine.json means. */
static VivMachineConfig *
machine_config_alloc (void)
{
  VivMachineConfig *config = g_new0 (VivMachineConfig, 1);

  config->boot.kind = VIV_BOOT_KIND_DISK;
  config->disks = g_ptr_array_new_with_free_func ((GDestroyNotify) viv_disk_config_free);
  config->media = g_ptr_array_new_with_free_func ((GDestroyNotify) viv_media_config_free);
  config->network.mode = VIV_NETWORK_MODE_USER;
  config->network.forwards =
    g_ptr_array_new_with_free_func ((GDestroyNotify) viv_port_forward_free);
  config->display.kind = VIV_DISPLAY_KIND_SPICE;
  config->devices.rng = TRUE;
  config->devices.console = FALSE;
  return config;
}

/**
 * viv_machine_config_new:
 * @name: the machine's name, as the user sees it
 * @memory: memory in bytes
 * @cpus: number of virtual CPUs
 *
 * A new machine with a fresh random UUID, created now, booting from disk,
 * with user-mode networking, a SPICE display and a virtio-rng device, and no
 * disks or media yet. The values are not checked here:
 * viv_machine_config_check() and viv_machine_config_save() do that.
 *
 * Returns: (transfer full): the configuration
 */
VivMachineConfig *
viv_machine_config_new (const char *name,
                        guint64     memory,
                        guint       cpus)
{
  VivMachineConfig *config;
  g_autoptr(GDateTime) now = NULL;

  g_return_val_if_fail (name != NULL, NULL);

  config = machine_config_alloc ();
  config->uuid = g_uuid_string_random ();
  config->name = g_strdup (name);
  now = g_date_time_new_now_utc ();
  /* Whole seconds keep the file readable. */
  config->created = g_date_time_add (now, -(g_date_time_get_microsecond (now)));
  config->memory = memory;
  config->cpus = cpus;
  return config;
}

void
viv_machine_config_free (VivMachineConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->uuid);
  g_free (config->name);
  g_free (config->osinfo);
  g_clear_pointer (&config->created, g_date_time_unref);
  g_free (config->boot.kernel);
  g_free (config->boot.initrd);
  g_free (config->boot.cmdline);
  g_clear_pointer (&config->boot.unknown, json_object_unref);
  g_ptr_array_unref (config->disks);
  g_ptr_array_unref (config->media);
  g_free (config->network.mac);
  g_free (config->network.tap);
  g_ptr_array_unref (config->network.forwards);
  g_clear_pointer (&config->network.unknown, json_object_unref);
  g_clear_pointer (&config->display.unknown, json_object_unref);
  g_clear_pointer (&config->devices.unknown, json_object_unref);
  g_clear_pointer (&config->unknown, json_object_unref);
  g_free (config);
}

/* --- JSON trees: deep copies (so that no two configs share a node) ----------- */

static JsonObject *copy_object (JsonObject *object);

static JsonNode *
copy_node (JsonNode *node)
{
  JsonNode *copy;

  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        g_autoptr(JsonObject) object = copy_object (json_node_get_object (node));

        return json_node_init_object (json_node_alloc (), object);
      }

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        g_autoptr(JsonArray) array_copy = json_array_sized_new (json_array_get_length (array));

        for (guint i = 0; i < json_array_get_length (array); i++)
          json_array_add_element (array_copy, copy_node (json_array_get_element (array, i)));
        return json_node_init_array (json_node_alloc (), array_copy);
      }

    case JSON_NODE_NULL:
      return json_node_init_null (json_node_alloc ());

    case JSON_NODE_VALUE:
    default:
      break;
    }

  copy = json_node_alloc ();
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      return json_node_init_int (copy, json_node_get_int (node));
    case G_TYPE_DOUBLE:
      return json_node_init_double (copy, json_node_get_double (node));
    case G_TYPE_BOOLEAN:
      return json_node_init_boolean (copy, json_node_get_boolean (node));
    case G_TYPE_STRING:
      return json_node_init_string (copy, json_node_get_string (node));
    default:
      g_assert_not_reached ();
    }
}

static JsonObject *
copy_object (JsonObject *object)
{
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &node))
    json_object_set_member (copy, name, copy_node (node));
  return copy;
}

static JsonObject *
copy_unknown (JsonObject *unknown)
{
  return unknown != NULL ? copy_object (unknown) : NULL;
}

/**
 * viv_port_forward_copy:
 * @forward: a forward
 *
 * Returns: (transfer full): a deep copy, members of later versions included
 */
VivPortForward *
viv_port_forward_copy (const VivPortForward *forward)
{
  VivPortForward *copy;

  g_return_val_if_fail (forward != NULL, NULL);

  copy = viv_port_forward_new (forward->protocol, forward->host_port, forward->guest_port);
  copy->address = g_strdup (forward->address);
  copy->unknown = copy_unknown (forward->unknown);
  return copy;
}

VivMachineConfig *
viv_machine_config_copy (const VivMachineConfig *config)
{
  VivMachineConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = machine_config_alloc ();
  copy->uuid = g_strdup (config->uuid);
  copy->name = g_strdup (config->name);
  copy->osinfo = g_strdup (config->osinfo);
  copy->created = config->created != NULL ? g_date_time_ref (config->created) : NULL;
  copy->memory = config->memory;
  copy->cpus = config->cpus;

  copy->boot.kind = config->boot.kind;
  copy->boot.kernel = g_strdup (config->boot.kernel);
  copy->boot.initrd = g_strdup (config->boot.initrd);
  copy->boot.cmdline = g_strdup (config->boot.cmdline);
  copy->boot.firmware = config->boot.firmware;
  memcpy (copy->boot.order, config->boot.order, sizeof copy->boot.order);
  copy->boot.n_order = config->boot.n_order;
  copy->boot.unknown = copy_unknown (config->boot.unknown);

  for (guint i = 0; i < config->disks->len; i++)
    {
      const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);
      VivDiskConfig *disk_copy = viv_disk_config_new (disk->path, disk->format);

      disk_copy->readonly = disk->readonly;
      disk_copy->cache = disk->cache;
      disk_copy->serial = g_strdup (disk->serial);
      disk_copy->bus = disk->bus;
      disk_copy->unknown = copy_unknown (disk->unknown);
      g_ptr_array_add (copy->disks, disk_copy);
    }

  for (guint i = 0; i < config->media->len; i++)
    {
      const VivMediaConfig *media = g_ptr_array_index (config->media, i);
      VivMediaConfig *media_copy = viv_media_config_new (media->path, media->kind);

      media_copy->inserted = media->inserted;
      media_copy->unknown = copy_unknown (media->unknown);
      g_ptr_array_add (copy->media, media_copy);
    }

  copy->network.mode = config->network.mode;
  copy->network.mac = g_strdup (config->network.mac);
  copy->network.tap = g_strdup (config->network.tap);
  for (guint i = 0; i < config->network.forwards->len; i++)
    {
      const VivPortForward *forward = g_ptr_array_index (config->network.forwards, i);
      g_ptr_array_add (copy->network.forwards, viv_port_forward_copy (forward));
    }
  copy->network.unknown = copy_unknown (config->network.unknown);

  copy->display = config->display;
  copy->display.unknown = copy_unknown (config->display.unknown);
  copy->devices = config->devices;
  copy->devices.unknown = copy_unknown (config->devices.unknown);
  copy->unknown = copy_unknown (config->unknown);

  return copy;
}

/* Two configurations are equal when they would be written the same way,
 * unknown members included. */
gboolean
viv_machine_config_equal (const VivMachineConfig *a,
                          const VivMachineConfig *b)
{
  g_autofree char *data_a = NULL;
  g_autofree char *data_b = NULL;

  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  data_a = viv_machine_config_to_data (a, NULL);
  data_b = viv_machine_config_to_data (b, NULL);
  return g_strcmp0 (data_a, data_b) == 0;
}

/* --- errors ---------------------------------------------------------------- */

static char *
member_path (const char *parent,
             const char *member)
{
  return parent != NULL ? g_strdup_printf ("%s.%s", parent, member) : g_strdup (member);
}

static char *
element_path (const char *array_path,
              guint       index)
{
  return g_strdup_printf ("%s[%u]", array_path, index);
}

static const char *
node_kind (JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("an object");
    case JSON_NODE_ARRAY:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("an array");
    case JSON_NODE_NULL:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("null");
    case JSON_NODE_VALUE:
    default:
      break;
    }

  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("an integer");
    case G_TYPE_DOUBLE:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("a floating-point number");
    case G_TYPE_BOOLEAN:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("a boolean");
    case G_TYPE_STRING:
    default:
      /* Translators: a kind of JSON value, as in “expected an integer, got a string” */
      return _("a string");
    }
}

typedef enum
{
  EXPECT_STRING,
  EXPECT_INTEGER,
  EXPECT_BOOLEAN,
  EXPECT_OBJECT,
  EXPECT_ARRAY,
} Expect;

static gboolean
node_is (JsonNode *node,
         Expect    expect)
{
  switch (expect)
    {
    case EXPECT_OBJECT:
      return JSON_NODE_HOLDS_OBJECT (node);
    case EXPECT_ARRAY:
      return JSON_NODE_HOLDS_ARRAY (node);
    case EXPECT_STRING:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
    case EXPECT_INTEGER:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
    case EXPECT_BOOLEAN:
      return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_BOOLEAN;
    default:
      g_assert_not_reached ();
    }
}

static void
set_wrong_type (GError     **error,
                const char  *path,
                Expect       expect,
                JsonNode    *node)
{
  const char *format = NULL;

  switch (expect)
    {
    case EXPECT_STRING:
      /* Translators: a field of machine.json (“memory”), then a kind of
       * JSON value (“a string”) */
      format = _("%s: expected a string, got %s");
      break;
    case EXPECT_INTEGER:
      /* Translators: a field of machine.json (“memory”), then a kind of
       * JSON value (“a string”) */
      format = _("%s: expected an integer, got %s");
      break;
    case EXPECT_BOOLEAN:
      /* Translators: a field of machine.json (“memory”), then a kind of
       * JSON value (“a string”) */
      format = _("%s: expected true or false, got %s");
      break;
    case EXPECT_OBJECT:
      /* Translators: a field of machine.json (“memory”), then a kind of
       * JSON value (“a string”) */
      format = _("%s: expected an object, got %s");
      break;
    case EXPECT_ARRAY:
      /* Translators: a field of machine.json (“memory”), then a kind of
       * JSON value (“a string”) */
      format = _("%s: expected an array, got %s");
      break;
    default:
      g_assert_not_reached ();
    }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_WRONG_TYPE,
               format, path, node_kind (node));
#pragma GCC diagnostic pop
}

static gboolean
set_missing (GError     **error,
             const char  *path)
{
  g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FIELD,
               /* Translators: %s is a field of machine.json, like “cpus” or
                * “disks[0].path” */
               _("%s is missing"), path);
  return FALSE;
}

/* --- checks of values, shared by the parser and viv_machine_config_check() -- */

static gboolean
check_version (gint64   version,
               GError **error)
{
  if (version > VIV_MACHINE_CONFIG_VERSION)
    {
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_NEWER_VERSION,
                   /* Translators: the first %lld is the version of the file,
                    * the %d the newest version this program reads */
                   _("machine.json version %lld is newer than this Vivarium understands (%d)"),
                   (long long) version, VIV_MACHINE_CONFIG_VERSION);
      return FALSE;
    }
  if (version < 1)
    {
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE,
                   /* Translators: %lld is a number; “version” is the name of
                    * a field in machine.json and stays untranslated */
                   _("version: %lld is not a valid version; versions start at 1"),
                   (long long) version);
      return FALSE;
    }
  return TRUE;
}

/* VALUE as a message shows it: at most 64 characters, then "…". A value
 * is echoed so that a person can find it in the file; a 100 MB one would
 * make a 100 MB message (and log line). */
#define SHOWN_CHARS 64

static char *
cut (const char *value)
{
  const char *end = value;

  for (guint i = 0; i < SHOWN_CHARS && *end != '\0'; i++)
    end = g_utf8_next_char (end);
  if (*end == '\0')
    return g_strdup (value);
  return g_strdup_printf ("%.*s…", (int) (end - value), value);
}

/* Whether two paths in machine.json name one file by their names alone
 * ("disk.qcow2", "./disk.qcow2", "a/../disk.qcow2"): relative ones are
 * compared as if in one machine folder. validate_files() compares files. */
static gboolean
same_name (const char *a,
           const char *b)
{
  g_autofree char *ca = NULL;
  g_autofree char *cb = NULL;

  if (a == NULL || b == NULL)
    return FALSE;
  ca = g_canonicalize_filename (a, "/machine");
  cb = g_canonicalize_filename (b, "/machine");
  return strcmp (ca, cb) == 0;
}

static gboolean
set_bad_value (GError     **error,
               const char  *format,
               ...) G_GNUC_PRINTF (2, 3);

static gboolean
set_bad_value (GError     **error,
               const char  *format,
               ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE,
                       message);
  return FALSE;
}

static gboolean
check_memory (const char  *path,
              gint64       memory,
              GError     **error)
{
  if (memory < (gint64) VIV_MACHINE_CONFIG_MIN_MEMORY)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %lld
                           * a number of bytes */
                          _("%s: %lld bytes is too little; a machine needs at least 16 MiB"),
                          path, (long long) memory);
  if (memory > (gint64) VIV_MACHINE_CONFIG_MAX_MEMORY)
    return set_bad_value (error,
                          _("%s: %lld bytes is more than the most Vivarium allows, 16 TiB"),
                          path, (long long) memory);
  if (memory % MIB != 0)
    return set_bad_value (error,
                          _("%s: %lld bytes is not a whole number of MiB (1048576 bytes)"),
                          path, (long long) memory);
  return TRUE;
}

static gboolean
check_cpus (const char  *path,
            gint64       cpus,
            GError     **error)
{
  if (cpus < 1 || cpus > VIV_MACHINE_CONFIG_MAX_CPUS)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %lld
                           * the value found, the %d the limits */
                          _("%s: %lld is not a valid number of CPUs (%d to %d)"),
                          path, (long long) cpus, 1, VIV_MACHINE_CONFIG_MAX_CPUS);
  return TRUE;
}

static gboolean
check_port (const char  *path,
            gint64       port,
            GError     **error)
{
  if (port < 1 || port > 65535)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %lld
                           * the value found */
                          _("%s: %lld is not a port number (1 to 65535)"),
                          path, (long long) port);
  return TRUE;
}

static gboolean
check_display_size (const char  *path,
                    gint64       pixels,
                    GError     **error)
{
  if (pixels < VIV_MACHINE_CONFIG_MIN_DISPLAY || pixels > VIV_MACHINE_CONFIG_MAX_DISPLAY)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %lld
                           * the value found, the %d the limits */
                          _("%s: %lld pixels is not a valid display size (%d to %d)"),
                          path, (long long) pixels,
                          VIV_MACHINE_CONFIG_MIN_DISPLAY, VIV_MACHINE_CONFIG_MAX_DISPLAY);
  return TRUE;
}

static gboolean
uuid_is_canonical (const char *uuid)
{
  if (strlen (uuid) != 36 || !g_uuid_string_is_valid (uuid))
    return FALSE;
  for (const char *p = uuid; *p != '\0'; p++)
    if (g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

static gboolean
check_uuid (const char  *path,
            const char  *uuid,
            GError     **error)
{
  g_autofree char *shown = cut (uuid);

  if (!uuid_is_canonical (uuid))
    return set_bad_value (error,
                          /* Translators: the first %s is a field of
                           * machine.json, the second the value found */
                          _("%s: “%s” is not a UUID in lower case, like "
                            "“0f8fad5b-d9cb-469f-a165-70867728950e”"),
                          path, shown);
  return TRUE;
}

static gboolean
check_not_empty (const char  *path,
                 const char  *value,
                 GError     **error)
{
  if (*value == '\0')
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json */
                          _("%s must not be empty"), path);
  return TRUE;
}

static gboolean
check_name (const char  *path,
            const char  *name,
            GError     **error)
{
  if (!check_not_empty (path, name, error))
    return FALSE;
  if (strlen (name) > VIV_MACHINE_CONFIG_MAX_NAME)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %d a
                           * number of bytes */
                          _("%s is longer than %d bytes"), path, VIV_MACHINE_CONFIG_MAX_NAME);
  if (!g_utf8_validate (name, -1, NULL))
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json */
                          _("%s is not valid UTF-8"), path);
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return set_bad_value (error,
                            /* Translators: %s is a field of machine.json */
                            _("%s must not contain control characters"), path);
  return TRUE;
}

static gboolean
check_serial (const char  *path,
              const char  *serial,
              GError     **error)
{
  if (strlen (serial) > VIV_MACHINE_CONFIG_MAX_SERIAL)
    return set_bad_value (error, _("%s is longer than %d bytes"),
                          path, VIV_MACHINE_CONFIG_MAX_SERIAL);
  for (const char *p = serial; *p != '\0'; p++)
    if (*p < 0x20 || *p > 0x7e)
      return set_bad_value (error,
                            /* Translators: %s is a field of machine.json */
                            _("%s may contain only printable ASCII characters"), path);
  return TRUE;
}

/**
 * viv_mac_parse:
 * @text: "52:54:00:12:34:56", in either case
 * @mac: (out): its six bytes
 *
 * Returns: %TRUE if @text is a MAC address written that way
 */
gboolean
viv_mac_parse (const char *text,
               guint8      mac[6])
{
  g_return_val_if_fail (text != NULL, FALSE);

  if (strlen (text) != 17)
    return FALSE;
  for (guint i = 0; i < 6; i++)
    {
      const char *p = text + i * 3;
      int hi = g_ascii_xdigit_value (p[0]);
      int lo = g_ascii_xdigit_value (p[1]);

      if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
        return FALSE;
      mac[i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

static gboolean
check_mac (const char  *path,
           const char  *text,
           GError     **error)
{
  guint8 mac[6];
  static const guint8 zero[6];
  g_autofree char *shown = cut (text);

  if (!viv_mac_parse (text, mac))
    return set_bad_value (error,
                          /* Translators: the first %s is a field of
                           * machine.json, the second the value found */
                          _("%s: “%s” is not a MAC address, like “52:54:00:12:34:56”"),
                          path, shown);
  if ((mac[0] & 1) != 0 || memcmp (mac, zero, sizeof mac) == 0)
    return set_bad_value (error,
                          /* Translators: the first %s is a field of
                           * machine.json, the second the value found */
                          _("%s: %s cannot be the address of a network card; it must be a "
                            "unicast address"),
                          path, shown);
  return TRUE;
}

/* A network interface's name as Linux takes it (dev_valid_name) */
static gboolean
check_interface (const char  *path,
                 const char  *text,
                 GError     **error)
{
  g_autofree char *shown = cut (text);
  gboolean ok = text[0] != '\0' && strlen (text) < 16 && strcmp (text, ".") != 0 &&
                strcmp (text, "..") != 0;

  for (const char *p = text; ok && *p != '\0'; p++)
    ok = *p != '/' && *p != ':' && !g_ascii_isspace (*p) && (guchar) *p > 0x20 &&
         (guchar) *p < 0x7f;
  if (!ok)
    return set_bad_value (error,
                          /* Translators: the first %s is a field of
                           * machine.json, the second the value found */
                          _("%s: “%s” is not a network interface name (at most 15 "
                            "characters, no spaces, “/” or “:”)"),
                          path, shown);
  return TRUE;
}

static gboolean
check_ip_address (const char  *path,
                  const char  *text,
                  GError     **error)
{
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (text);
  g_autofree char *shown = cut (text);

  if (address == NULL)
    return set_bad_value (error,
                          /* Translators: the first %s is a field of
                           * machine.json, the second the value found */
                          _("%s: “%s” is not an IP address, like “127.0.0.1” or “::1”"),
                          path, shown);
  return TRUE;
}

static gboolean
check_enum (const char      *path,
            const EnumInfo  *info,
            int              value,
            GError         **error)
{
  if (enum_to_string (info, value) == NULL)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %d
                           * a number */
                          _("%s: %d is not a valid value"), path, value);
  return TRUE;
}

/**
 * viv_machine_config_check:
 * @config: a configuration
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR
 *
 * Checks the values in @config by the rules the parser applies, so that
 * what viv_machine_config_save() writes, viv_machine_config_load() reads.
 * Does not look at the disk: see viv_machine_config_validate_files().
 *
 * Returns: %TRUE if @config is valid
 */
gboolean
viv_machine_config_check (const VivMachineConfig  *config,
                          GError                 **error)
{
  const VivBootConfig *boot;
  const VivDisplayConfig *display;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (config->uuid == NULL)
    return set_missing (error, "uuid");
  if (!check_uuid ("uuid", config->uuid, error))
    return FALSE;
  if (config->name == NULL)
    return set_missing (error, "name");
  if (!check_name ("name", config->name, error))
    return FALSE;
  if (config->osinfo != NULL && !check_not_empty ("osinfo", config->osinfo, error))
    return FALSE;
  if (!check_memory ("memory", (gint64) MIN (config->memory, (guint64) G_MAXINT64), error))
    return FALSE;
  if (!check_cpus ("cpus", config->cpus, error))
    return FALSE;

  boot = &config->boot;
  if (!check_enum ("boot.kind", &boot_kind_info, boot->kind, error))
    return FALSE;
  if (boot->kind == VIV_BOOT_KIND_KERNEL && boot->kernel == NULL)
    return set_missing (error, "boot.kernel");
  if (boot->kernel != NULL && !check_not_empty ("boot.kernel", boot->kernel, error))
    return FALSE;
  if (boot->initrd != NULL && !check_not_empty ("boot.initrd", boot->initrd, error))
    return FALSE;
  if (boot->kind == VIV_BOOT_KIND_FIRMWARE && boot->firmware == VIV_FIRMWARE_UNSET)
    return set_missing (error, "boot.firmware");
  if (boot->firmware != VIV_FIRMWARE_UNSET &&
      !check_enum ("boot.firmware", &firmware_info, boot->firmware, error))
    return FALSE;
  if (boot->n_order > VIV_BOOT_DEVICE_COUNT)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %u
                           * the number of boot devices Vivarium knows */
                          _("%s may list at most %u devices"), "boot.order",
                          (guint) VIV_BOOT_DEVICE_COUNT);
  for (guint i = 0; i < boot->n_order; i++)
    {
      g_autofree char *order_path = element_path ("boot.order", i);

      if (!check_enum (order_path, &boot_device_info, boot->order[i], error))
        return FALSE;
      for (guint j = 0; j < i; j++)
        if (boot->order[j] == boot->order[i])
          {
            g_autofree char *other_path = element_path ("boot.order", j);

            return set_bad_value (error,
                                  /* Translators: the first %s is a field of
                                   * machine.json, the second a boot device
                                   * (“cdrom”), the third another field,
                                   * like “boot.order[0]” */
                                  _("%s: “%s” is already listed as %s"), order_path,
                                  enum_to_string (&boot_device_info, boot->order[i]),
                                  other_path);
          }
    }

  for (guint i = 0; i < config->disks->len; i++)
    {
      const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *disk_path = element_path ("disks", i);
      g_autofree char *path = member_path (disk_path, "path");
      g_autofree char *format = member_path (disk_path, "format");
      g_autofree char *cache = member_path (disk_path, "cache");
      g_autofree char *serial = member_path (disk_path, "serial");
      g_autofree char *bus = member_path (disk_path, "bus");

      if (disk->path == NULL)
        return set_missing (error, path);
      if (!check_not_empty (path, disk->path, error) ||
          !check_enum (format, &disk_format_info, disk->format, error) ||
          !check_enum (cache, &disk_cache_info, disk->cache, error) ||
          !check_enum (bus, &disk_bus_info, disk->bus, error) ||
          (disk->serial != NULL && !check_serial (serial, disk->serial, error)))
        return FALSE;

      /* Two drives on one image would corrupt it. */
      for (guint j = 0; j < i; j++)
        {
          const VivDiskConfig *other = g_ptr_array_index (config->disks, j);

          if (same_name (other->path, disk->path))
            {
              g_autofree char *other_path = element_path ("disks", j);
              g_autofree char *shown = cut (disk->path);

              return set_bad_value (error,
                                    /* Translators: the first %s is a field of
                                     * machine.json, the second a file name,
                                     * the third another field, like
                                     * “disks[0]” */
                                    _("%s: “%s” is already used by %s"),
                                    path, shown, other_path);
            }
        }
    }

  for (guint i = 0; i < config->media->len; i++)
    {
      const VivMediaConfig *media = g_ptr_array_index (config->media, i);
      g_autofree char *media_path = element_path ("media", i);
      g_autofree char *path = member_path (media_path, "path");
      g_autofree char *kind = member_path (media_path, "kind");

      /* An empty drive has no path; an inserted disc needs one. */
      if (media->path == NULL && media->inserted)
        return set_missing (error, path);
      if ((media->path != NULL && !check_not_empty (path, media->path, error)) ||
          !check_enum (kind, &media_kind_info, media->kind, error))
        return FALSE;
    }

  if (!check_enum ("network.mode", &network_mode_info, config->network.mode, error))
    return FALSE;
  if (config->network.mac != NULL && !check_mac ("network.mac", config->network.mac, error))
    return FALSE;
  if (config->network.mode == VIV_NETWORK_MODE_TAP && config->network.tap == NULL)
    return set_missing (error, "network.tap");
  if (config->network.tap != NULL && !check_interface ("network.tap", config->network.tap, error))
    return FALSE;
  for (guint i = 0; i < config->network.forwards->len; i++)
    {
      const VivPortForward *forward = g_ptr_array_index (config->network.forwards, i);
      g_autofree char *forward_path = element_path ("network.forwards", i);
      g_autofree char *protocol = member_path (forward_path, "protocol");
      g_autofree char *address = member_path (forward_path, "address");
      g_autofree char *host_port = member_path (forward_path, "host_port");
      g_autofree char *guest_port = member_path (forward_path, "guest_port");

      if (!check_enum (protocol, &protocol_info, forward->protocol, error) ||
          (forward->address != NULL && !check_ip_address (address, forward->address, error)) ||
          !check_port (host_port, forward->host_port, error) ||
          !check_port (guest_port, forward->guest_port, error))
        return FALSE;

      for (guint j = 0; j < i; j++)
        {
          const VivPortForward *other = g_ptr_array_index (config->network.forwards, j);

          if (other->protocol == forward->protocol && other->host_port == forward->host_port)
            {
              g_autofree char *other_path = element_path ("network.forwards", j);

              return set_bad_value (error,
                                    /* Translators: the first %s is a field of
                                     * machine.json, the second a protocol
                                     * (“tcp” or “udp”), %u a port number, the
                                     * last %s another field */
                                    _("%s: %s port %u is already forwarded by %s"),
                                    host_port, enum_to_string (&protocol_info, forward->protocol),
                                    forward->host_port, other_path);
            }
        }
    }

  display = &config->display;
  if (!check_enum ("display.kind", &display_kind_info, display->kind, error))
    return FALSE;
  if (display->width != 0 || display->height != 0)
    {
      if (display->width == 0 || display->height == 0)
        return set_bad_value (error,
                              /* Translators: “display.width” and
                               * “display.height” are fields of machine.json */
                              _("display.width and display.height must be given together"));
      if (!check_display_size ("display.width", display->width, error) ||
          !check_display_size ("display.height", display->height, error))
        return FALSE;
    }

  return TRUE;
}

/* --- parsing --------------------------------------------------------------- */

/* Each reader leaves *out alone when the member is absent and not required. */

static JsonNode *
lookup (JsonObject  *object,
        const char  *path,
        const char  *name,
        gboolean     required,
        Expect       expect,
        GError     **error)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL)
    {
      if (required)
        set_missing (error, path);
      return NULL;
    }
  if (!node_is (node, expect))
    {
      set_wrong_type (error, path, expect, node);
      return NULL;
    }
  return node;
}

static gboolean
read_string (JsonObject  *object,
             const char  *parent,
             const char  *name,
             gboolean     required,
             char       **out,
             GError     **error)
{
  g_autofree char *path = member_path (parent, name);
  GError *local_error = NULL;
  JsonNode *node = lookup (object, path, name, required, EXPECT_STRING, &local_error);

  if (node == NULL)
    {
      if (local_error == NULL)
        return TRUE;
      g_propagate_error (error, local_error);
      return FALSE;
    }
  g_free (*out);
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
read_int (JsonObject  *object,
          const char  *parent,
          const char  *name,
          gboolean     required,
          gint64      *out,
          gboolean    *present,
          GError     **error)
{
  g_autofree char *path = member_path (parent, name);
  GError *local_error = NULL;
  JsonNode *node = lookup (object, path, name, required, EXPECT_INTEGER, &local_error);

  *present = node != NULL;
  if (node == NULL)
    {
      if (local_error == NULL)
        return TRUE;
      g_propagate_error (error, local_error);
      return FALSE;
    }
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
read_bool (JsonObject  *object,
           const char  *parent,
           const char  *name,
           gboolean    *out,
           GError     **error)
{
  g_autofree char *path = member_path (parent, name);
  GError *local_error = NULL;
  JsonNode *node = lookup (object, path, name, FALSE, EXPECT_BOOLEAN, &local_error);

  if (node == NULL)
    {
      if (local_error == NULL)
        return TRUE;
      g_propagate_error (error, local_error);
      return FALSE;
    }
  *out = json_node_get_boolean (node);
  return TRUE;
}

static gboolean
read_enum (JsonObject      *object,
           const char      *parent,
           const char      *name,
           gboolean         required,
           const EnumInfo  *info,
           int             *out,
           GError         **error)
{
  g_autofree char *value = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GString) known = NULL;
  g_autofree char *shown = NULL;

  if (!read_string (object, parent, name, required, &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;

  for (guint i = 0; i < info->n_names; i++)
    if (info->names[i] != NULL && strcmp (info->names[i], value) == 0)
      {
        *out = (int) i;
        return TRUE;
      }

  known = g_string_new (NULL);
  for (guint i = 0; i < info->n_names; i++)
    if (info->names[i] != NULL)
      g_string_append_printf (known, "%s%s", known->len > 0 ? ", " : "", info->names[i]);

  path = member_path (parent, name);
  shown = cut (value);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
  g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE,
               _(info->message), path, shown, known->str);
#pragma GCC diagnostic pop
  return FALSE;
}

/* An object or array member; *out is borrowed from OBJECT. */
static gboolean
read_container (JsonObject  *object,
                const char  *parent,
                const char  *name,
                Expect       expect,
                JsonNode   **out,
                GError     **error)
{
  g_autofree char *path = member_path (parent, name);
  GError *local_error = NULL;

  *out = lookup (object, path, name, FALSE, expect, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

static JsonObject *
collect_unknown (JsonObject        *object,
                 const char *const *known)
{
  JsonObject *unknown = NULL;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  json_object_iter_init_ordered (&iter, object);
  while (json_object_iter_next_ordered (&iter, &name, &node))
    {
      if (g_strv_contains (known, name))
        continue;
      if (unknown == NULL)
        unknown = json_object_new ();
      json_object_set_member (unknown, name, copy_node (node));
    }
  return unknown;
}

/* boot.order: an array of device names. Duplicates are refused by
 * viv_machine_config_check(); more elements than devices here. */
static gboolean
parse_boot_order (JsonObject     *object,
                  VivBootConfig  *boot,
                  GError        **error)
{
  JsonNode *order_node = NULL;
  JsonArray *order;
  guint len;

  if (!read_container (object, "boot", "order", EXPECT_ARRAY, &order_node, error))
    return FALSE;
  if (order_node == NULL)
    return TRUE;

  order = json_node_get_array (order_node);
  len = json_array_get_length (order);
  if (len > VIV_BOOT_DEVICE_COUNT)
    return set_bad_value (error,
                          /* Translators: %s is a field of machine.json, %u
                           * the number of boot devices Vivarium knows */
                          _("%s may list at most %u devices"), "boot.order",
                          (guint) VIV_BOOT_DEVICE_COUNT);

  for (guint i = 0; i < len; i++)
    {
      g_autofree char *path = element_path ("boot.order", i);
      /* read_enum reads members: wrap the element in an object. */
      g_autoptr(JsonObject) holder = json_object_new ();
      int device = 0;

      json_object_set_member (holder, path, json_node_copy (json_array_get_element (order, i)));
      if (!read_enum (holder, NULL, path, TRUE, &boot_device_info, &device, error))
        return FALSE;
      boot->order[i] = device;
    }
  boot->n_order = len;
  return TRUE;
}

static gboolean
parse_boot (JsonObject     *object,
            VivBootConfig  *boot,
            GError        **error)
{
  int kind = boot->kind;
  int firmware = boot->firmware;

  if (!read_enum (object, "boot", "kind", TRUE, &boot_kind_info, &kind, error) ||
      !read_string (object, "boot", "kernel", FALSE, &boot->kernel, error) ||
      !read_string (object, "boot", "initrd", FALSE, &boot->initrd, error) ||
      !read_string (object, "boot", "cmdline", FALSE, &boot->cmdline, error) ||
      !read_enum (object, "boot", "firmware", FALSE, &firmware_info, &firmware, error) ||
      !parse_boot_order (object, boot, error))
    return FALSE;
  boot->kind = kind;
  boot->firmware = firmware;
  boot->unknown = collect_unknown (object, boot_members);
  return TRUE;
}

static gboolean
parse_disk (JsonObject  *object,
            const char  *parent,
            gpointer     element,
            GError     **error)
{
  VivDiskConfig *disk = element;
  int format = disk->format;
  int cache = disk->cache;
  int bus = disk->bus;

  if (!read_string (object, parent, "path", TRUE, &disk->path, error) ||
      !read_enum (object, parent, "format", TRUE, &disk_format_info, &format, error) ||
      !read_bool (object, parent, "readonly", &disk->readonly, error) ||
      !read_enum (object, parent, "cache", FALSE, &disk_cache_info, &cache, error) ||
      !read_string (object, parent, "serial", FALSE, &disk->serial, error) ||
      !read_enum (object, parent, "bus", FALSE, &disk_bus_info, &bus, error))
    return FALSE;
  disk->format = format;
  disk->cache = cache;
  disk->bus = bus;
  disk->unknown = collect_unknown (object, disk_members);
  return TRUE;
}

static gboolean
parse_media (JsonObject  *object,
             const char  *parent,
             gpointer     element,
             GError     **error)
{
  VivMediaConfig *media = element;
  int kind = media->kind;
  JsonNode *path_node = json_object_get_member (object, "path");

  if (!read_bool (object, parent, "inserted", &media->inserted, error))
    return FALSE;
  /* An empty drive may say "path": null; the check below wants a path
   * when a disc is inserted. */
  if (!(path_node != NULL && JSON_NODE_HOLDS_NULL (path_node) && !media->inserted) &&
      !read_string (object, parent, "path", media->inserted, &media->path, error))
    return FALSE;
  if (!read_enum (object, parent, "kind", TRUE, &media_kind_info, &kind, error))
    return FALSE;
  media->kind = kind;
  media->unknown = collect_unknown (object, media_members);
  return TRUE;
}

static gboolean
parse_port (JsonObject  *object,
            const char  *parent,
            const char  *name,
            guint       *out,
            GError     **error)
{
  g_autofree char *path = member_path (parent, name);
  gint64 port = 0;
  gboolean present;

  if (!read_int (object, parent, name, TRUE, &port, &present, error) ||
      !check_port (path, port, error))
    return FALSE;
  *out = (guint) port;
  return TRUE;
}

static gboolean
parse_forward (JsonObject  *object,
               const char  *parent,
               gpointer     element,
               GError     **error)
{
  VivPortForward *forward = element;
  int protocol = forward->protocol;

  if (!read_enum (object, parent, "protocol", TRUE, &protocol_info, &protocol, error) ||
      !read_string (object, parent, "address", FALSE, &forward->address, error) ||
      !parse_port (object, parent, "host_port", &forward->host_port, error) ||
      !parse_port (object, parent, "guest_port", &forward->guest_port, error))
    return FALSE;
  forward->protocol = protocol;
  forward->unknown = collect_unknown (object, forward_members);
  return TRUE;
}

/* Calls PARSE_ELEMENT on each object in the array ARRAY_NODE (may be NULL)
 * and adds what NEW_ELEMENT made to ELEMENTS. */
static gboolean
parse_array (JsonNode    *array_node,
             const char  *array_path,
             GPtrArray   *elements,
             gpointer   (*new_element) (void),
             gboolean   (*parse_element) (JsonObject *, const char *, gpointer, GError **),
             GError     **error)
{
  JsonArray *array;

  if (array_node == NULL)
    return TRUE;

  array = json_node_get_array (array_node);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autofree char *path = element_path (array_path, i);
      gpointer element;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          set_wrong_type (error, path, EXPECT_OBJECT, node);
          return FALSE;
        }
      element = new_element ();
      g_ptr_array_add (elements, element);
      if (!parse_element (json_node_get_object (node), path, element, error))
        return FALSE;
    }
  return TRUE;
}

static gpointer
new_disk (void)
{
  return viv_disk_config_new (NULL, VIV_DISK_FORMAT_QCOW2);
}

static gpointer
new_media (void)
{
  return viv_media_config_new (NULL, VIV_MEDIA_KIND_CDROM);
}

static gpointer
new_forward (void)
{
  return viv_port_forward_new (VIV_PROTOCOL_TCP, 0, 0);
}

static gboolean
parse_network (JsonObject        *object,
               VivNetworkConfig  *network,
               GError           **error)
{
  int mode = network->mode;
  JsonNode *forwards = NULL;

  if (!read_enum (object, "network", "mode", TRUE, &network_mode_info, &mode, error) ||
      !read_string (object, "network", "mac", FALSE, &network->mac, error) ||
      !read_string (object, "network", "tap", FALSE, &network->tap, error) ||
      !read_container (object, "network", "forwards", EXPECT_ARRAY, &forwards, error) ||
      !parse_array (forwards, "network.forwards", network->forwards, new_forward,
                    parse_forward, error))
    return FALSE;
  network->mode = mode;
  if (network->mac != NULL)
    {
      char *lower;

      if (!check_mac ("network.mac", network->mac, error))
        return FALSE;
      lower = g_ascii_strdown (network->mac, -1);
      g_free (network->mac);
      network->mac = lower;
    }
  network->unknown = collect_unknown (object, network_members);
  return TRUE;
}

static gboolean
parse_display (JsonObject        *object,
               VivDisplayConfig  *display,
               GError           **error)
{
  int kind = display->kind;
  gint64 width = 0, height = 0;
  gboolean has_width, has_height;

  if (!read_enum (object, "display", "kind", TRUE, &display_kind_info, &kind, error) ||
      !read_int (object, "display", "width", FALSE, &width, &has_width, error) ||
      (has_width && !check_display_size ("display.width", width, error)) ||
      !read_int (object, "display", "height", FALSE, &height, &has_height, error) ||
      (has_height && !check_display_size ("display.height", height, error)))
    return FALSE;
  display->kind = kind;
  display->width = (guint) width;
  display->height = (guint) height;
  display->unknown = collect_unknown (object, display_members);
  return TRUE;
}

static gboolean
parse_devices (JsonObject        *object,
               VivDevicesConfig  *devices,
               GError           **error)
{
  if (!read_bool (object, "devices", "rng", &devices->rng, error) ||
      !read_bool (object, "devices", "console", &devices->console, error))
    return FALSE;
  devices->unknown = collect_unknown (object, devices_members);
  return TRUE;
}

static gboolean
parse_machine (JsonObject        *root,
               VivMachineConfig  *config,
               GError           **error)
{
  g_autofree char *created = NULL;
  gint64 version = 0, memory = 0, cpus = 0;
  gboolean present;
  JsonNode *boot = NULL, *disks = NULL, *media = NULL;
  JsonNode *network = NULL, *display = NULL, *devices = NULL;

  /* The version first: a newer file may differ in anything else. */
  if (!read_int (root, NULL, "version", TRUE, &version, &present, error) ||
      !check_version (version, error))
    return FALSE;

  if (!read_string (root, NULL, "uuid", TRUE, &config->uuid, error) ||
      !check_uuid ("uuid", config->uuid, error) ||
      !read_string (root, NULL, "name", TRUE, &config->name, error) ||
      !check_name ("name", config->name, error) ||
      !read_string (root, NULL, "osinfo", FALSE, &config->osinfo, error) ||
      !read_string (root, NULL, "created", FALSE, &created, error))
    return FALSE;

  if (created != NULL)
    {
      g_autoptr(GDateTime) when = g_date_time_new_from_iso8601 (created, NULL);
      g_autofree char *shown = cut (created);

      if (when == NULL)
        return set_bad_value (error,
                              /* Translators: the first %s is a field of
                               * machine.json, the second the value found */
                              _("%s: “%s” is not an ISO 8601 date and time with a time "
                                "zone, like “2024-05-01T12:00:00Z”"),
                              "created", shown);
      config->created = g_date_time_to_utc (when);
    }

  if (!read_int (root, NULL, "memory", TRUE, &memory, &present, error) ||
      !check_memory ("memory", memory, error) ||
      !read_int (root, NULL, "cpus", TRUE, &cpus, &present, error) ||
      !check_cpus ("cpus", cpus, error))
    return FALSE;
  config->memory = (guint64) memory;
  config->cpus = (guint) cpus;

  if (!read_container (root, NULL, "boot", EXPECT_OBJECT, &boot, error) ||
      (boot != NULL && !parse_boot (json_node_get_object (boot), &config->boot, error)) ||
      !read_container (root, NULL, "disks", EXPECT_ARRAY, &disks, error) ||
      !parse_array (disks, "disks", config->disks, new_disk, parse_disk, error) ||
      !read_container (root, NULL, "media", EXPECT_ARRAY, &media, error) ||
      !parse_array (media, "media", config->media, new_media, parse_media, error) ||
      !read_container (root, NULL, "network", EXPECT_OBJECT, &network, error) ||
      (network != NULL &&
       !parse_network (json_node_get_object (network), &config->network, error)) ||
      !read_container (root, NULL, "display", EXPECT_OBJECT, &display, error) ||
      (display != NULL &&
       !parse_display (json_node_get_object (display), &config->display, error)) ||
      !read_container (root, NULL, "devices", EXPECT_OBJECT, &devices, error) ||
      (devices != NULL &&
       !parse_devices (json_node_get_object (devices), &config->devices, error)))
    return FALSE;

  config->unknown = collect_unknown (root, machine_members);

  /* What depends on more than one member: required-by-kind fields,
   * duplicates, width with height. */
  return viv_machine_config_check (config, error);
}

/* A number json-glib read as infinite ("1e400") cannot be written back as
 * JSON: refuse the file, naming where it is, rather than save "inf" into
 * it later. Depth is bounded by viv_json_check() before this runs. */
static gboolean
numbers_are_finite (JsonNode   *node,
                    const char *path,
                    GError    **error)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init_ordered (&iter, json_node_get_object (node));
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            g_autofree char *child = path[0] != '\0' ? g_strdup_printf ("%s.%s", path, name)
                                                     : g_strdup (name);

            if (!numbers_are_finite (member, child, error))
              return FALSE;
          }
        return TRUE;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);

        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            g_autofree char *child = g_strdup_printf ("%s[%u]", path, i);

            if (!numbers_are_finite (json_array_get_element (array, i), child, error))
              return FALSE;
          }
        return TRUE;
      }
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (node) == G_TYPE_DOUBLE &&
          !isfinite (json_node_get_double (node)))
        {
          g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_BAD_VALUE,
                       /* Translators: %s is a member of machine.json ("devices.rng") */
                       _("%s: the number is too large"), path);
          return FALSE;
        }
      return TRUE;
    case JSON_NODE_NULL:
    default:
      return TRUE;
    }
}

/**
 * viv_machine_config_load_from_data:
 * @data: the content of a machine.json
 * @len: its length in bytes, or -1 if it is nul-terminated
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR
 *
 * Parses and checks a machine description. Error messages name the field
 * with its path in the file, like “disks[1].format: …”; they do not name
 * the file.
 *
 * Returns: (transfer full): the configuration, or %NULL with @error set
 */
VivMachineConfig *
viv_machine_config_load_from_data (const char  *data,
                                   gssize       len,
                                   GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(GError) json_error = NULL;
  JsonNode *root;

  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (len < 0)
    len = (gssize) strlen (data);

  {
    gsize i = 0;

    while (i < (gsize) len && g_ascii_isspace (data[i]))
      i++;
    if (i == (gsize) len)
      {
        g_set_error_literal (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                             _("machine.json is empty"));
        return NULL;
      }
  }
  /* json-glib accepts more than JSON and recurses once per level of
   * nesting: only strict JSON of a bounded depth reaches it */
  if (!viv_json_check (data, (gsize) len, MAX_NESTING, VIV_MACHINE_CONFIG_FILE_NAME, error))
    return NULL;

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, len > 0 ? data : "", len, &json_error))
    {
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                   /* Translators: %s is the JSON parser's message */
                   _("machine.json is not valid JSON: %s"), json_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_PARSE,
                           _("machine.json is empty"));
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_WRONG_TYPE,
                   /* Translators: %s is a kind of JSON value, like “an array” */
                   _("machine.json must hold an object, got %s"), node_kind (root));
      return NULL;
    }
  if (!numbers_are_finite (root, "", error))
    return NULL;

  config = machine_config_alloc ();
  if (!parse_machine (json_node_get_object (root), config, error))
    return NULL;

  return g_steal_pointer (&config);
}

/* PATH's contents, if it is a regular file (or a link to one) of at most
 * VIV_MACHINE_CONFIG_MAX_SIZE bytes. A FIFO would block the read (and the
 * app's library scan, or the helper, with it), /dev/zero never ends, and a
 * huge file costs seconds and gigabytes: none is a machine description.
 * Opened without blocking, checked on the open file (not the name, which
 * can change between a stat and the open), read to one byte past the cap. */
static char *
read_description (const char  *path,
                  gsize       *len,
                  GError     **error)
{
  g_autofree char *display = g_filename_display_name (path);
  g_autofree char *data = NULL;
  struct stat st;
  gsize done = 0, alloc;
  int fd;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                   /* Translators: the first %s is a file name, the second the reason */
                   _("Could not open “%s”: %s"), display, g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_NOT_A_FILE,
                   /* Translators: %s is a file name */
                   _("“%s” is not a regular file"), display);
      return NULL;
    }
  /* Room for the size the file has now, and one byte to see it grow */
  alloc = (gsize) MIN (st.st_size, VIV_MACHINE_CONFIG_MAX_SIZE) + 1;
  data = g_malloc (alloc + 1);
  for (;;)
    {
      ssize_t n;

      if (done == alloc)
        {
          if (alloc > VIV_MACHINE_CONFIG_MAX_SIZE)
            break;
          alloc = MIN (alloc * 2, (gsize) VIV_MACHINE_CONFIG_MAX_SIZE + 1);
          data = g_realloc (data, alloc + 1);
        }
      n = read (fd, data + done, alloc - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          close (fd);
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved_errno),
                       /* Translators: the first %s is a file name, the second the reason */
                       _("Could not read “%s”: %s"), display, g_strerror (saved_errno));
          return NULL;
        }
      if (n == 0)
        break;
      done += (gsize) n;
    }
  if (done > VIV_MACHINE_CONFIG_MAX_SIZE)
    {
      close (fd);
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_NOT_A_FILE,
                   /* Translators: %s is a file name, %d a number of MiB */
                   _("“%s” is larger than %d MiB: it is not a machine description"),
                   display, VIV_MACHINE_CONFIG_MAX_SIZE / (1024 * 1024));
      return NULL;
    }
  close (fd);
  data[done] = '\0';
  *len = done;
  return g_steal_pointer (&data);
}

/**
 * viv_machine_config_load:
 * @path: a machine.json
 * @error: return location for a #GFileError or a #VIV_MACHINE_CONFIG_ERROR
 *
 * Reads @path with viv_machine_config_load_from_data(). See also
 * viv_machine_config_load_dir(), which checks the UUID against the folder.
 *
 * Returns: (transfer full): the configuration, or %NULL with @error set
 */
VivMachineConfig *
viv_machine_config_load (const char  *path,
                         GError     **error)
{
  g_autofree char *data = NULL;
  gsize len;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = read_description (path, &len, error);
  if (data == NULL)
    return NULL;
  return viv_machine_config_load_from_data (data, (gssize) len, error);
}

/**
 * viv_machine_config_load_dir:
 * @machine_dir: a machine's folder, named after its UUID
 * @error: return location for a #GFileError or a #VIV_MACHINE_CONFIG_ERROR
 *
 * Reads @machine_dir/machine.json and checks that its uuid is the
 * folder's name.
 *
 * Returns: (transfer full): the configuration, or %NULL with @error set
 */
VivMachineConfig *
viv_machine_config_load_dir (const char  *machine_dir,
                             GError     **error)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *dir_name = NULL;

  g_return_val_if_fail (machine_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = g_build_filename (machine_dir, VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  config = viv_machine_config_load (path, error);
  if (config == NULL)
    return NULL;

  /* Canonical, so that "DIR/" and "DIR/." name DIR. */
  canonical = g_canonicalize_filename (machine_dir, NULL);
  dir_name = g_path_get_basename (canonical);
  if (strcmp (dir_name, config->uuid) != 0)
    {
      g_autofree char *display = g_filename_display_name (dir_name);
      g_autofree char *shown = cut (config->uuid);

      set_bad_value (error,
                     /* Translators: the first %s is a field of machine.json,
                      * the second its value, the third a folder name */
                     _("%s: “%s” does not match the name of the machine’s folder, “%s”"),
                     "uuid", shown, display);
      return NULL;
    }

  return g_steal_pointer (&config);
}

/* --- writing --------------------------------------------------------------- */

static void
set_string_member (JsonObject *object,
                   const char *name,
                   const char *value)
{
  if (value != NULL)
    json_object_set_string_member (object, name, value);
}

static void
set_enum_member (JsonObject     *object,
                 const char     *name,
                 const EnumInfo *info,
                 int             value)
{
  const char *text = enum_to_string (info, value);

  /* Only an unchecked config gets here without a name; the parser will
   * refuse what is written. */
  json_object_set_string_member (object, name, text != NULL ? text : "invalid");
}

/* Unknown members go after the known ones, in the order they were read. */
static void
add_unknown (JsonObject *object,
             JsonObject *unknown)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;

  if (unknown == NULL)
    return;

  json_object_iter_init_ordered (&iter, unknown);
  while (json_object_iter_next_ordered (&iter, &name, &node))
    if (!json_object_has_member (object, name))
      json_object_set_member (object, name, copy_node (node));
}

static JsonNode *
object_node (JsonObject *object)
{
  JsonNode *node = json_node_init_object (json_node_alloc (), object);

  json_object_unref (object);
  return node;
}

static JsonObject *
build_machine (const VivMachineConfig *config)
{
  JsonObject *root = json_object_new ();
  JsonObject *object;
  JsonArray *array;

  json_object_set_int_member (root, "version", VIV_MACHINE_CONFIG_VERSION);
  set_string_member (root, "uuid", config->uuid);
  set_string_member (root, "name", config->name);
  set_string_member (root, "osinfo", config->osinfo);
  if (config->created != NULL)
    {
      g_autoptr(GDateTime) utc = g_date_time_to_utc (config->created);
      g_autofree char *created = g_date_time_format_iso8601 (utc);

      json_object_set_string_member (root, "created", created);
    }
  json_object_set_int_member (root, "memory", (gint64) MIN (config->memory, G_MAXINT64));
  json_object_set_int_member (root, "cpus", config->cpus);

  object = json_object_new ();
  set_enum_member (object, "kind", &boot_kind_info, config->boot.kind);
  set_string_member (object, "kernel", config->boot.kernel);
  set_string_member (object, "initrd", config->boot.initrd);
  set_string_member (object, "cmdline", config->boot.cmdline);
  if (config->boot.firmware != VIV_FIRMWARE_UNSET)
    set_enum_member (object, "firmware", &firmware_info, config->boot.firmware);
  if (config->boot.n_order > 0)
    {
      JsonArray *order = json_array_new ();

      for (guint i = 0; i < MIN (config->boot.n_order, VIV_BOOT_DEVICE_COUNT); i++)
        {
          const char *name = enum_to_string (&boot_device_info, config->boot.order[i]);

          json_array_add_string_element (order, name != NULL ? name : "invalid");
        }
      json_object_set_array_member (object, "order", order);
    }
  add_unknown (object, config->boot.unknown);
  json_object_set_member (root, "boot", object_node (object));

  array = json_array_new ();
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);

      object = json_object_new ();
      set_string_member (object, "path", disk->path);
      set_enum_member (object, "format", &disk_format_info, disk->format);
      json_object_set_boolean_member (object, "readonly", disk->readonly);
      set_enum_member (object, "cache", &disk_cache_info, disk->cache);
      set_string_member (object, "serial", disk->serial);
      set_enum_member (object, "bus", &disk_bus_info, disk->bus);
      add_unknown (object, disk->unknown);
      json_array_add_object_element (array, object);
    }
  json_object_set_array_member (root, "disks", array);

  array = json_array_new ();
  for (guint i = 0; i < config->media->len; i++)
    {
      const VivMediaConfig *media = g_ptr_array_index (config->media, i);

      object = json_object_new ();
      set_string_member (object, "path", media->path);
      set_enum_member (object, "kind", &media_kind_info, media->kind);
      json_object_set_boolean_member (object, "inserted", media->inserted);
      add_unknown (object, media->unknown);
      json_array_add_object_element (array, object);
    }
  json_object_set_array_member (root, "media", array);

  object = json_object_new ();
  set_enum_member (object, "mode", &network_mode_info, config->network.mode);
  if (config->network.mac != NULL)
    {
      g_autofree char *mac = g_ascii_strdown (config->network.mac, -1);

      json_object_set_string_member (object, "mac", mac);
    }
  array = json_array_new ();
  for (guint i = 0; i < config->network.forwards->len; i++)
    {
      const VivPortForward *forward = g_ptr_array_index (config->network.forwards, i);
      JsonObject *forward_object = json_object_new ();

      set_enum_member (forward_object, "protocol", &protocol_info, forward->protocol);
      if (forward->address != NULL)
        json_object_set_string_member (forward_object, "address", forward->address);
      json_object_set_int_member (forward_object, "host_port", forward->host_port);
      json_object_set_int_member (forward_object, "guest_port", forward->guest_port);
      add_unknown (forward_object, forward->unknown);
      json_array_add_object_element (array, forward_object);
    }
  json_object_set_array_member (object, "forwards", array);
  if (config->network.tap != NULL)
    json_object_set_string_member (object, "tap", config->network.tap);
  add_unknown (object, config->network.unknown);
  json_object_set_member (root, "network", object_node (object));

  object = json_object_new ();
  set_enum_member (object, "kind", &display_kind_info, config->display.kind);
  if (config->display.width != 0)
    json_object_set_int_member (object, "width", config->display.width);
  if (config->display.height != 0)
    json_object_set_int_member (object, "height", config->display.height);
  add_unknown (object, config->display.unknown);
  json_object_set_member (root, "display", object_node (object));

  object = json_object_new ();
  json_object_set_boolean_member (object, "rng", config->devices.rng);
  json_object_set_boolean_member (object, "console", config->devices.console);
  add_unknown (object, config->devices.unknown);
  json_object_set_member (root, "devices", object_node (object));

  add_unknown (root, config->unknown);

  return root;
}

/* Our own printer rather than JsonGenerator's: the same bytes whatever the
 * json-glib version, and the "key": value layout people write by hand. */

static void
write_indent (GString *out,
              guint    depth)
{
  for (guint i = 0; i < depth; i++)
    g_string_append (out, "  ");
}

static void
write_string (GString    *out,
              const char *text)
{
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          if (c < 0x20)
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

/* The shortest form that reads back as the same double, and still reads
 * back as a double rather than an integer. */
static void
write_double (GString *out,
              double   value)
{
  static const char *const formats[] = { "%.15g", "%.16g", "%.17g" };
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* JSON has no infinity or NaN; loading refuses them, so only a config
   * built in code can hold one. Never write what cannot be read back. */
  if (!isfinite (value))
    {
      g_warning ("a number that JSON cannot hold (%g) is written as null", value);
      g_string_append (out, "null");
      return;
    }

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_ascii_formatd (buf, sizeof buf, formats[i], value);
      if (g_ascii_strtod (buf, NULL) == value)
        break;
    }
  g_string_append (out, buf);
  if (strpbrk (buf, ".eEn") == NULL)
    g_string_append (out, ".0");
}

static void
write_node (GString  *out,
            JsonNode *node,
            guint     depth)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;
        gboolean first = TRUE;

        if (json_object_get_size (object) == 0)
          {
            g_string_append (out, "{}");
            return;
          }

        g_string_append_c (out, '{');
        json_object_iter_init_ordered (&iter, object);
        while (json_object_iter_next_ordered (&iter, &name, &member))
          {
            g_string_append (out, first ? "\n" : ",\n");
            first = FALSE;
            write_indent (out, depth + 1);
            write_string (out, name);
            g_string_append (out, ": ");
            write_node (out, member, depth + 1);
          }
        g_string_append_c (out, '\n');
        write_indent (out, depth);
        g_string_append_c (out, '}');
        return;
      }

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        if (n == 0)
          {
            g_string_append (out, "[]");
            return;
          }

        g_string_append_c (out, '[');
        for (guint i = 0; i < n; i++)
          {
            g_string_append (out, i == 0 ? "\n" : ",\n");
            write_indent (out, depth + 1);
            write_node (out, json_array_get_element (array, i), depth + 1);
          }
        g_string_append_c (out, '\n');
        write_indent (out, depth);
        g_string_append_c (out, ']');
        return;
      }

    case JSON_NODE_NULL:
      g_string_append (out, "null");
      return;

    case JSON_NODE_VALUE:
    default:
      break;
    }

  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
      break;
    case G_TYPE_DOUBLE:
      write_double (out, json_node_get_double (node));
      break;
    case G_TYPE_BOOLEAN:
      g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
      break;
    case G_TYPE_STRING:
      write_string (out, json_node_get_string (node));
      break;
    default:
      g_assert_not_reached ();
    }
}

/**
 * viv_machine_config_to_data:
 * @config: a configuration
 * @len: (out) (optional): the length of the result, without its nul
 *
 * Writes @config as JSON: two-space indentation, members in a fixed order
 * (unknown ones after the known ones, as read), a newline at the end; the
 * same config always gives the same bytes. Does not check @config: see
 * viv_machine_config_check().
 *
 * Returns: (transfer full): nul-terminated UTF-8
 */
char *
viv_machine_config_to_data (const VivMachineConfig *config,
                            gsize                  *len)
{
  g_autoptr(JsonNode) root = NULL;
  GString *out;

  g_return_val_if_fail (config != NULL, NULL);

  root = object_node (build_machine (config));
  out = g_string_new (NULL);
  write_node (out, root, 0);
  g_string_append_c (out, '\n');

  if (len != NULL)
    *len = out->len;
  return g_string_free (out, FALSE);
}

/**
 * viv_machine_config_save:
 * @config: a configuration
 * @path: where to write it, usually MACHINE_DIR/machine.json
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR or a #GIOError
 *
 * Checks @config and replaces @path with it atomically (viv_file_replace()):
 * after a crash @path holds either the old or the new content.
 *
 * Returns: %TRUE on success
 */
gboolean
viv_machine_config_save (const VivMachineConfig  *config,
                         const char              *path,
                         GError                 **error)
{
  g_autofree char *data = NULL;
  gsize len;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!viv_machine_config_check (config, error))
    return FALSE;

  data = viv_machine_config_to_data (config, &len);
  return viv_file_replace (path, data, len, error);
}

/* --- the files a machine uses ---------------------------------------------- */

/**
 * viv_machine_config_resolve_path:
 * @machine_dir: the machine's folder
 * @path: a path from the config (a disk, a kernel, an ISO)
 *
 * Returns: (transfer full): @path made absolute: relative paths are
 *   relative to @machine_dir
 */
char *
viv_machine_config_resolve_path (const char *machine_dir,
                                 const char *path)
{
  g_autofree char *dir = NULL;

  g_return_val_if_fail (machine_dir != NULL, NULL);
  g_return_val_if_fail (path != NULL, NULL);

  dir = g_canonicalize_filename (machine_dir, NULL);
  return g_canonicalize_filename (path, dir);
}

static gboolean
check_file (const char  *machine_dir,
            const char  *field,
            const char  *path,
            GError     **error)
{
  g_autofree char *resolved = viv_machine_config_resolve_path (machine_dir, path);
  g_autofree char *display = g_filename_display_name (resolved);
  struct stat st;

  if (stat (resolved, &st) < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT || saved_errno == ENOTDIR)
        g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE,
                     /* Translators: the first %s is a field of machine.json,
                      * the second a file name */
                     _("%s: %s does not exist"), field, display);
      else
        g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE,
                     /* Translators: the first %s is a field of machine.json,
                      * the second a file name, the third the reason, like
                      * “Permission denied” */
                     _("%s: cannot use %s: %s"), field, display, g_strerror (saved_errno));
      return FALSE;
    }

  if (S_ISDIR (st.st_mode))
    {
      g_set_error (error, VIV_MACHINE_CONFIG_ERROR, VIV_MACHINE_CONFIG_ERROR_MISSING_FILE,
                   /* Translators: the first %s is a field of machine.json,
                    * the second a folder name */
                   _("%s: %s is a folder, not a file"), field, display);
      return FALSE;
    }

  return TRUE;
}

/**
 * viv_machine_config_validate_files:
 * @config: a configuration
 * @machine_dir: the machine's folder, which relative paths are relative to
 * @error: return location for a #VIV_MACHINE_CONFIG_ERROR
 *
 * Checks that the files @config names exist: disks, media, and the kernel
 * and initrd when it boots a kernel. The first missing one is reported, as
 * “disks[0].path: /x/disk.qcow2 does not exist”
 * (%VIV_MACHINE_CONFIG_ERROR_MISSING_FILE).
 *
 * Returns: %TRUE if every file is there
 */
gboolean
viv_machine_config_validate_files (const VivMachineConfig  *config,
                                   const char              *machine_dir,
                                   GError                 **error)
{
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (machine_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (config->boot.kind == VIV_BOOT_KIND_KERNEL)
    {
      if (config->boot.kernel != NULL &&
          !check_file (machine_dir, "boot.kernel", config->boot.kernel, error))
        return FALSE;
      if (config->boot.initrd != NULL &&
          !check_file (machine_dir, "boot.initrd", config->boot.initrd, error))
        return FALSE;
    }

  for (guint i = 0; i < config->disks->len; i++)
    {
      const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *field = g_strdup_printf ("disks[%u].path", i);

      if (disk->path != NULL && !check_file (machine_dir, field, disk->path, error))
        return FALSE;
    }

  /* Two names of one file ("disk.qcow2", "./disk.qcow2", a link to it, its
   * absolute path) pass check()'s comparison of names; the file is the
   * same, and the second drive would find it locked by the first */
  for (guint i = 0; i < config->disks->len; i++)
    {
      const VivDiskConfig *disk = g_ptr_array_index (config->disks, i);
      g_autofree char *resolved = viv_machine_config_resolve_path (machine_dir, disk->path);
      struct stat st;

      if (stat (resolved, &st) < 0)
        continue;
      for (guint j = 0; j < i; j++)
        {
          const VivDiskConfig *other = g_ptr_array_index (config->disks, j);
          g_autofree char *other_resolved = viv_machine_config_resolve_path (machine_dir,
                                                                              other->path);
          struct stat other_st;

          if (stat (other_resolved, &other_st) == 0 && other_st.st_dev == st.st_dev &&
              other_st.st_ino == st.st_ino)
            {
              g_autofree char *field = g_strdup_printf ("disks[%u].path", i);
              g_autofree char *other_field = g_strdup_printf ("disks[%u]", j);
              g_autofree char *shown = cut (disk->path);

              return set_bad_value (error,
                                    /* Translators: the first %s is a field of
                                     * machine.json, the second a file name,
                                     * the third another field, like
                                     * “disks[0]” */
                                    _("%s: “%s” is the same file as %s"),
                                    field, shown, other_field);
            }
        }
    }

  for (guint i = 0; i < config->media->len; i++)
    {
      const VivMediaConfig *media = g_ptr_array_index (config->media, i);
      g_autofree char *field = g_strdup_printf ("media[%u].path", i);

      /* An ejected disc may be gone; it is not needed to start. */
      if (media->inserted && media->path != NULL &&
          !check_file (machine_dir, field, media->path, error))
        return FALSE;
    }

  return TRUE;
}

/**
 * viv_machine_config_dup_mac:
 * @config: a configuration
 *
 * The MAC address of the machine's network card: network.mac when set,
 * otherwise one derived from the UUID (52:54:00, QEMU's prefix, then three
 * bytes of its SHA-256), so that it stays the same from boot to boot
 * without being written down.
 *
 * Returns: (transfer full): "aa:bb:cc:dd:ee:ff", lower case
 */
char *
viv_machine_config_dup_mac (const VivMachineConfig *config)
{
  g_autoptr(GChecksum) checksum = NULL;
  guint8 digest[32];
  gsize digest_len = sizeof digest;

  g_return_val_if_fail (config != NULL, NULL);

  if (config->network.mac != NULL)
    return g_ascii_strdown (config->network.mac, -1);

  g_return_val_if_fail (config->uuid != NULL, NULL);

  checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (checksum, (const guchar *) config->uuid, -1);
  g_checksum_get_digest (checksum, digest, &digest_len);
  return g_strdup_printf ("52:54:00:%02x:%02x:%02x", digest[0], digest[1], digest[2]);
}

/**
 * viv_machine_config_get_firmware:
 * @config: a configuration
 *
 * The firmware @config starts: %VIV_FIRMWARE_UNSET for direct kernel boot,
 * the chosen one for "firmware", BIOS for "disk" (the default firmware).
 *
 * Returns: the firmware
 */
VivFirmware
viv_machine_config_get_firmware (const VivMachineConfig *config)
{
  g_return_val_if_fail (config != NULL, VIV_FIRMWARE_UNSET);

  switch (config->boot.kind)
    {
    case VIV_BOOT_KIND_KERNEL:
      return VIV_FIRMWARE_UNSET;
    case VIV_BOOT_KIND_FIRMWARE:
      return config->boot.firmware;
    case VIV_BOOT_KIND_DISK:
    default:
      return VIV_FIRMWARE_BIOS;
    }
}

/**
 * viv_machine_config_uses_firmware:
 * @config: a configuration
 *
 * Returns: %TRUE if @config boots through a firmware (kinds "disk" and
 *   "firmware"), %FALSE for direct kernel boot
 */
gboolean
viv_machine_config_uses_firmware (const VivMachineConfig *config)
{
  g_return_val_if_fail (config != NULL, FALSE);

  return config->boot.kind != VIV_BOOT_KIND_KERNEL;
}
