/* vm-config.c: the engine's configuration, from the command line,
 * machine.json and spec strings (see vm-config.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vm-config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "viv-size.h"

G_DEFINE_QUARK (vmm-error-quark, vmm_error)

#define DEFAULT_MEMORY (512ull << 20)

/* A copy of S that lives as long as CONFIG's strings (NULL stays NULL). */
static char *
keep (struct vmm_config *config, const char *s)
{
  if (s == NULL)
    return NULL;
  if (config->strings == NULL)
    config->strings = g_string_chunk_new (256);
  return g_string_chunk_insert (config->strings, s);
}

/* Takes an allocated string: the copy lives in CONFIG, S is freed. */
static char *
keep_owned (struct vmm_config *config, char *s)
{
  char *kept = keep (config, s);

  g_free (s);
  return kept;
}

static void
config_reset (struct vmm_config *config)
{
  vmm_config_clear (config);
  memset (config, 0, sizeof *config);
  config->boot_menu_wait_ms = VMM_BOOT_MENU_WAIT_MS;
}

void
vmm_config_clear (struct vmm_config *config)
{
  g_clear_pointer (&config->strings, g_string_chunk_free);
}

/* ---- spec strings ----------------------------------------------------------- */

gboolean
vmm_disk_spec_parse (char *text, struct vmm_disk_spec *spec, GError **error)
{
  char *save = NULL, *opt;

  memset (spec, 0, sizeof *spec);
  spec->format = VMM_BLOCK_FORMAT_AUTO;
  spec->cache = VMM_DISK_CACHE_WRITEBACK;
  spec->path = strtok_r (text, ",", &save);
  if (spec->path == NULL || *spec->path == '\0')
    {
      g_set_error_literal (error, VMM_ERROR, VMM_ERROR_CONFIG, "no image path");
      return FALSE;
    }
  while ((opt = strtok_r (NULL, ",", &save)) != NULL)
    {
      char *value = strchr (opt, '=');

      if (value == NULL)
        {
          g_set_error_literal (error, VMM_ERROR, VMM_ERROR_CONFIG,
                               "an option without a value (expected key=value)");
          return FALSE;
        }
      *value++ = '\0';
      if (strcmp (opt, "format") == 0 && strcmp (value, "raw") == 0)
        spec->format = VMM_BLOCK_FORMAT_RAW;
      else if (strcmp (opt, "format") == 0 && strcmp (value, "qcow2") == 0)
        spec->format = VMM_BLOCK_FORMAT_QCOW2;
      else if (strcmp (opt, "readonly") == 0 &&
               (strcmp (value, "on") == 0 || strcmp (value, "off") == 0))
        spec->read_only = strcmp (value, "on") == 0;
      else if (strcmp (opt, "cache") == 0 && strcmp (value, "writeback") == 0)
        spec->cache = VMM_DISK_CACHE_WRITEBACK;
      else if (strcmp (opt, "cache") == 0 && strcmp (value, "none") == 0)
        spec->cache = VMM_DISK_CACHE_NONE;
      else if (strcmp (opt, "serial") == 0)
        spec->serial = value;
      else if (strcmp (opt, "bus") == 0 && strcmp (value, "virtio") == 0)
        spec->bus = VMM_DISK_BUS_VIRTIO;
      else if (strcmp (opt, "bus") == 0 && strcmp (value, "sata") == 0)
        spec->bus = VMM_DISK_BUS_SATA;
      else
        {
          g_set_error_literal (error, VMM_ERROR, VMM_ERROR_CONFIG,
                               "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                               "cache=writeback|none, serial=ID, bus=virtio|sata)");
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vmm_chardev_spec_parse (const char *text, struct vmm_chardev_spec *spec, GError **error)
{
  spec->path = NULL;
  if (text != NULL && strcmp (text, "stdio") == 0)
    spec->kind = VMM_CHARDEV_STDIO;
  else if (text != NULL && strcmp (text, "none") == 0)
    spec->kind = VMM_CHARDEV_NONE;
  else if (text != NULL && strncmp (text, "file:", 5) == 0 && text[5] != '\0')
    {
      spec->kind = VMM_CHARDEV_FILE;
      spec->path = text + 5;
    }
  else if (text != NULL && strncmp (text, "socket:", 7) == 0 && text[7] != '\0')
    {
      spec->kind = VMM_CHARDEV_SOCKET;
      spec->path = text + 7;
    }
  else
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--console takes stdio, file:PATH, socket:PATH or none, not “%s”"),
                   text != NULL ? text : "");
      return FALSE;
    }
  return TRUE;
}

/* ---- the command line --------------------------------------------------------- */

/* --serial stdio|file:PATH|none */
static gboolean
parse_serial (struct vmm_config *config, const char *arg, GError **error)
{
  if (arg == NULL || g_str_equal (arg, "stdio"))
    config->serial = VMM_SERIAL_STDIO;
  else if (g_str_equal (arg, "none"))
    config->serial = VMM_SERIAL_NONE;
  else if (g_str_has_prefix (arg, "file:") && arg[5] != '\0')
    {
      config->serial = VMM_SERIAL_FILE;
      config->serial_path = keep (config, arg + 5);
    }
  else
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--serial takes stdio, file:PATH or none, not “%s”"), arg);
      return FALSE;
    }
  return TRUE;
}

/* --console WHERE and --port NAME[,socket=PATH] */
static gboolean
parse_console (struct vmm_config *config, const struct vmm_config_args *args, GError **error)
{
  struct vmm_console_config *c = &config->console;
  guint n_ports = args->ports ? g_strv_length ((char **) args->ports) : 0;

  if (args->console == NULL && n_ports == 0)
    return TRUE;
  config->console_enabled = true;
  c->console.kind = VMM_CHARDEV_NONE;
  if (args->console != NULL &&
      !vmm_chardev_spec_parse (keep (config, args->console), &c->console, error))
    return FALSE;
  if (n_ports >= VMM_CONSOLE_MAX_PORTS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("At most %d --port options"),
                   VMM_CONSOLE_MAX_PORTS - 1);
      return FALSE;
    }
  for (guint i = 0; i < n_ports; i++)
    {
      struct vmm_console_port_spec *port = &c->ports[i];
      char *name = keep (config, args->ports[i]);
      char *comma = strchr (name, ',');

      port->name = name;
      port->backend.kind = VMM_CHARDEV_NONE;
      if (comma != NULL)
        {
          *comma = '\0';
          if (!g_str_has_prefix (comma + 1, "socket=") || comma[8] == '\0')
            {
              g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                           _("--port takes NAME or NAME,socket=PATH, not “%s,%s”"),
                           name, comma + 1);
              return FALSE;
            }
          port->backend.kind = VMM_CHARDEV_SOCKET;
          port->backend.path = comma + 8;
        }
    }
  c->n_ports = n_ports;
  return TRUE;
}

/* --disk PATH[,format=...][,readonly=on][,cache=...] (repeatable), --aio */
static gboolean
parse_disks (struct vmm_config *config, const struct vmm_config_args *args, GError **error)
{
  guint n = args->disks ? g_strv_length ((char **) args->disks) : 0;

  if (n > VMM_MAX_DISKS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("At most %d --disk options"),
                   VMM_MAX_DISKS);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) local = NULL;

      if (!vmm_disk_spec_parse (keep (config, args->disks[i]), &config->disks[i], &local))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("--disk %s: %s"), args->disks[i],
                       local->message);
          return FALSE;
        }
    }
  config->n_disks = n;
  if (args->aio != NULL && !g_str_equal (args->aio, "io_uring") &&
      !g_str_equal (args->aio, "threads"))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--aio takes io_uring or threads, not “%s”"), args->aio);
      return FALSE;
    }
  config->io_threads = args->aio != NULL && g_str_equal (args->aio, "threads");
  return TRUE;
}

/* --cdrom PATH|empty (repeatable), --boot order=disk,cdrom */
static gboolean
parse_cdroms (struct vmm_config *config, const struct vmm_config_args *args, GError **error)
{
  guint n = args->cdroms ? g_strv_length ((char **) args->cdroms) : 0;
  unsigned n_sata = n;

  for (unsigned i = 0; i < config->n_disks; i++)
    if (config->disks[i].bus == VMM_DISK_BUS_SATA)
      n_sata++;
  if (n > VMM_MAX_CDROMS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("At most %d --cdrom options"),
                   VMM_MAX_CDROMS);
      return FALSE;
    }
  if (n_sata > VMM_MAX_SATA)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("At most %d SATA disks and CD-ROM drives together"), VMM_MAX_SATA);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      if (args->cdroms[i][0] == '\0')
        {
          g_set_error_literal (error, VMM_ERROR, VMM_ERROR_CONFIG,
                               _("--cdrom takes the path of a disc image, or “empty”"));
          return FALSE;
        }
      config->cdroms[i].path = g_str_equal (args->cdroms[i], "empty") ? NULL
                                                                      : keep (config, args->cdroms[i]);
    }
  config->n_cdroms = n;

  if (args->boot == NULL)
    return TRUE;
  if (g_str_has_prefix (args->boot, "order="))
    {
      g_auto(GStrv) items = g_strsplit (args->boot + 6, ",", -1);
      guint n_items = g_strv_length (items);

      config->n_boot = 0;
      for (guint i = 0; i < n_items && n_items <= VMM_BOOT_DEVICES; i++)
        {
          enum vmm_boot_device d;

          if (g_str_equal (items[i], "disk"))
            d = VMM_BOOT_DEVICE_DISK;
          else if (g_str_equal (items[i], "cdrom"))
            d = VMM_BOOT_DEVICE_CDROM;
          else
            break;
          for (unsigned j = 0; j < config->n_boot; j++)
            if (config->boot[j] == d)
              goto bad;
          config->boot[config->n_boot++] = d;
        }
      if (config->n_boot == n_items && n_items > 0)
        return TRUE;
    }
bad:
  g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
               _("--boot takes order= and disk and cdrom, each at most once (order=cdrom,disk), "
                 "not “%s”"), args->boot);
  return FALSE;
}

/* --display spice[,socket=PATH]|none */
static gboolean
parse_display (struct vmm_config *config, const char *arg, GError **error)
{
  config->display.kind = VMM_DISPLAY_NONE;
  if (arg == NULL || g_str_equal (arg, "none"))
    return TRUE;
  if (g_str_equal (arg, "spice") ||
      (g_str_has_prefix (arg, "spice,socket=") && arg[13] != '\0'))
    {
      config->display.kind = VMM_DISPLAY_SPICE;
      config->display.width = VMM_DISPLAY_DEFAULT_WIDTH;
      config->display.height = VMM_DISPLAY_DEFAULT_HEIGHT;
      if (arg[5] == ',')
        config->display.socket_path = keep (config, arg + 13);
      return TRUE;
    }
  g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
               _("--display takes spice, spice,socket=PATH or none, not “%s”"), arg);
  return FALSE;
}

/* bios|uefi[,file=PATH][,vars=PATH] */
static gboolean
parse_firmware (struct vmm_config *config, const char *arg, GError **error)
{
  g_auto(GStrv) parts = NULL;
  guint64 wait;

  config->firmware = VMM_FIRMWARE_NONE;
  config->boot_menu_wait_ms = VMM_BOOT_MENU_WAIT_MS;
  if (arg == NULL)
    return TRUE;
  parts = g_strsplit (arg, ",", -1);
  if (g_str_equal (parts[0], "bios"))
    config->firmware = VMM_FIRMWARE_BIOS;
  else if (g_str_equal (parts[0], "uefi"))
    config->firmware = VMM_FIRMWARE_UEFI;
  else
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--firmware takes bios or uefi, not “%s”"), parts[0]);
      return FALSE;
    }
  for (unsigned i = 1; parts[i] != NULL; i++)
    {
      if (g_str_has_prefix (parts[i], "file=") && parts[i][5] != '\0')
        config->firmware_path = keep (config, parts[i] + 5);
      else if (g_str_has_prefix (parts[i], "vars=") && parts[i][5] != '\0' &&
               config->firmware == VMM_FIRMWARE_UEFI)
        config->vars_path = keep (config, parts[i] + 5);
      else if (g_str_has_prefix (parts[i], "menu-wait=") &&
               g_ascii_string_to_unsigned (parts[i] + 10, 10, 0, 65535, &wait, NULL))
        config->boot_menu_wait_ms = (unsigned) wait;
      else
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("--firmware: unknown or empty option “%s”"), parts[i]);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- the network ------------------------------------------------------------------ */

/* A card's own address: unicast, not all zeros */
static gboolean
parse_mac (const char *text, uint8_t mac[6])
{
  return viv_mac_parse (text, mac) && !(mac[0] & 1) &&
         (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) != 0;
}

static gboolean
parse_port_number (const char *text, uint16_t *port)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, 1, 65535, &v, NULL))
    return FALSE;
  *port = (uint16_t) v;
  return TRUE;
}

/* QEMU's hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, the
 * guest's address left to DHCP; an IPv6 host address in brackets */
static gboolean
parse_hostfwd (struct vmm_config *config, const char *text, struct vmm_net_forward *fw)
{
  g_autofree char *copy = g_strdup (text);
  char *p = copy, *colon, *dash, *addr;

  memset (fw, 0, sizeof *fw);
  if (g_str_has_prefix (p, "tcp:"))
    p += 4;
  else if (g_str_has_prefix (p, "udp:"))
    {
      fw->udp = true;
      p += 4;
    }
  else if (*p == ':')
    p++;
  dash = strchr (p, '-');
  if (dash == NULL)
    return FALSE;
  *dash = '\0';
  /* the host side: [ADDR]:PORT */
  if (*p == '[')
    {
      char *close = strchr (p, ']');
      if (close == NULL || close[1] != ':')
        return FALSE;
      *close = '\0';
      addr = p + 1;
      p = close + 2;
    }
  else
    {
      colon = strrchr (p, ':');
      if (colon == NULL)
        return FALSE;
      *colon = '\0';
      addr = p;
      p = colon + 1;
    }
  if (*addr != '\0')
    {
      g_autoptr(GInetAddress) a = g_inet_address_new_from_string (addr);
      if (a == NULL)
        return FALSE;
      fw->host_address = keep (config, addr);
    }
  if (!parse_port_number (p, &fw->host_port))
    return FALSE;
  /* the guest side: :PORT (its address is the one DHCP gives it) */
  p = dash + 1;
  colon = strrchr (p, ':');
  if (colon == NULL)
    return FALSE;
  *colon = '\0';
  if (*p != '\0' && !g_str_equal (p, "0.0.0.0") && !g_str_equal (p, "10.0.2.15"))
    return FALSE;
  return parse_port_number (colon + 1, &fw->guest_port);
}

/* user|passt|tap=NAME, then mac=MAC, hostfwd=... (user and passt) */
static gboolean
parse_net (struct vmm_config *config, const char *arg, GError **error)
{
  struct vmm_net_spec *net = &config->net;
  static const uint8_t default_mac[6] = VMM_NET_DEFAULT_MAC;
  g_auto(GStrv) parts = NULL;

  memset (net, 0, sizeof *net);
  memcpy (net->mac, default_mac, 6);
  if (arg == NULL || g_str_equal (arg, "none"))
    return TRUE;
  parts = g_strsplit (arg, ",", -1);
  if (g_str_equal (parts[0], "user"))
    net->mode = VMM_NET_USER;
  else if (g_str_equal (parts[0], "passt"))
    net->mode = VMM_NET_PASST;
  else if (g_str_has_prefix (parts[0], "tap=") && parts[0][4] != '\0')
    {
      net->mode = VMM_NET_TAP;
      net->tap = keep (config, parts[0] + 4);
    }
  else
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--net takes user, passt, tap=NAME or none, not “%s”"), parts[0]);
      return FALSE;
    }
  for (unsigned i = 1; parts[i] != NULL; i++)
    {
      if (g_str_has_prefix (parts[i], "mac="))
        {
          if (!parse_mac (parts[i] + 4, net->mac))
            {
              g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                           _("--net: “%s” is not a unicast MAC address, like "
                             "“52:54:00:12:34:56”"), parts[i] + 4);
              return FALSE;
            }
        }
      else if (g_str_has_prefix (parts[i], "hostfwd=") && net->mode != VMM_NET_TAP)
        {
          if (net->n_forwards == VMM_MAX_FORWARDS)
            {
              g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                           _("--net: at most %d port forwards"), VMM_MAX_FORWARDS);
              return FALSE;
            }
          if (!parse_hostfwd (config, parts[i] + 8, &net->forwards[net->n_forwards]))
            {
              g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                           _("--net: “%s” is not a port forward, like "
                             "“hostfwd=tcp:127.0.0.1:2222-:22”"), parts[i] + 8);
              return FALSE;
            }
          net->n_forwards++;
        }
      else
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("--net: unknown or empty option “%s”"), parts[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
net_from_machine (struct vmm_config *config, const VivMachineConfig *mc, GError **error)
{
  struct vmm_net_spec *net = &config->net;
  g_autofree char *mac = viv_machine_config_dup_mac (mc);

  memset (net, 0, sizeof *net);
  switch (mc->network.mode)
    {
    case VIV_NETWORK_MODE_NONE:
      return TRUE;
    case VIV_NETWORK_MODE_USER:
      net->mode = VMM_NET_USER;
      break;
    case VIV_NETWORK_MODE_PASST:
      net->mode = VMM_NET_PASST;
      break;
    case VIV_NETWORK_MODE_TAP:
      net->mode = VMM_NET_TAP;
      net->tap = keep (config, mc->network.tap);
      break;
    default:
      g_assert_not_reached ();
    }
  /* machine.json's own checks passed: a unicast address */
  if (!parse_mac (mac, net->mac))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("network.mac: “%s” is not usable"), mac);
      return FALSE;
    }
  if (net->mode == VMM_NET_TAP)
    return TRUE;
  if (mc->network.forwards->len > VMM_MAX_FORWARDS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("network.forwards: at most %d port forwards"), VMM_MAX_FORWARDS);
      return FALSE;
    }
  for (guint i = 0; i < mc->network.forwards->len; i++)
    {
      const VivPortForward *f = g_ptr_array_index (mc->network.forwards, i);

      net->forwards[i] = (struct vmm_net_forward) {
        .udp = f->protocol == VIV_PROTOCOL_UDP,
        .host_address = keep (config, f->address),
        .host_port = (uint16_t) f->host_port,
        .guest_port = (uint16_t) f->guest_port,
      };
    }
  net->n_forwards = mc->network.forwards->len;
  return TRUE;
}

gboolean
vmm_config_from_args (struct vmm_config *config, const struct vmm_config_args *args,
                      GError **error)
{
  guint64 memory = DEFAULT_MEMORY;

  config_reset (config);
  config->kvm_path = keep (config, args->kvm_path);
  config->kernel_path = keep (config, args->kernel);
  config->initrd_path = keep (config, args->initrd);
  config->cmdline = keep (config, args->cmdline);
  config->cpus = args->cpus > 0 ? args->cpus : 1;
  config->rng = args->rng;
  config->debugcon_path = keep (config, args->debugcon);
  config->handle_signals = true;
  if (args->memory != NULL && !viv_size_parse (args->memory, &memory, error))
    {
      g_prefix_error (error, "--memory: ");
      return FALSE;
    }
  config->memory = memory;
  return parse_serial (config, args->serial, error) && parse_console (config, args, error) &&
         parse_disks (config, args, error) && parse_cdroms (config, args, error) &&
         parse_display (config, args->display, error) &&
         parse_firmware (config, args->firmware, error) && parse_net (config, args->net, error);
}

/* ---- machine.json ---------------------------------------------------------------- */

gboolean
vmm_config_from_machine (struct vmm_config *config, const VivMachineConfig *mc,
                         const char *machine_dir, GError **error)
{
  /* Booted by our loader, an installer finds its ISO as a read-only
   * virtio disk (it has no CD-ROM driver to look with); booted by a
   * firmware, the ISO is in a CD-ROM drive the firmware can boot. */
  bool kernel_boot = mc->boot.kind == VIV_BOOT_KIND_KERNEL;
  unsigned n_disks = mc->disks->len + (kernel_boot ? mc->media->len : 0);

  config_reset (config);
  config->memory = mc->memory;
  config->cpus = mc->cpus;
  config->rng = mc->devices.rng;
  config->serial = VMM_SERIAL_CALLBACK;

  switch (viv_machine_config_get_firmware (mc))
    {
    case VIV_FIRMWARE_UNSET:
      config->firmware = VMM_FIRMWARE_NONE;
      config->kernel_path = keep_owned (config,
                                        viv_machine_config_resolve_path (machine_dir,
                                                                         mc->boot.kernel));
      if (mc->boot.initrd != NULL)
        config->initrd_path = keep_owned (config,
                                          viv_machine_config_resolve_path (machine_dir,
                                                                           mc->boot.initrd));
      config->cmdline = keep (config, mc->boot.cmdline);
      break;
    case VIV_FIRMWARE_BIOS:
      config->firmware = VMM_FIRMWARE_BIOS;
      break;
    case VIV_FIRMWARE_UEFI:
      /* The engine makes it from Debian's template when it is missing. */
      config->firmware = VMM_FIRMWARE_UEFI;
      config->vars_path = keep_owned (config, g_build_filename (machine_dir, "OVMF_VARS.fd",
                                                                NULL));
      break;
    default:
      g_assert_not_reached ();
    }

  if (n_disks > VMM_MAX_DISKS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   kernel_boot ? _("disks: a machine can have at most %d disks and media "
                                   "together")
                               : _("disks: a machine can have at most %d disks"),
                   VMM_MAX_DISKS);
      return FALSE;
    }
  if (!kernel_boot && mc->media->len > VMM_MAX_CDROMS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("media: a machine can have at most %d CD-ROM drives"), VMM_MAX_CDROMS);
      return FALSE;
    }
  for (guint i = 0; i < mc->disks->len; i++)
    {
      const VivDiskConfig *d = mc->disks->pdata[i];
      struct vmm_disk_spec *spec = &config->disks[config->n_disks++];

      spec->path = keep_owned (config, viv_machine_config_resolve_path (machine_dir, d->path));
      spec->bus = d->bus == VIV_DISK_BUS_SATA ? VMM_DISK_BUS_SATA : VMM_DISK_BUS_VIRTIO;
      spec->format = d->format == VIV_DISK_FORMAT_RAW ? VMM_BLOCK_FORMAT_RAW
                                                      : VMM_BLOCK_FORMAT_QCOW2;
      spec->read_only = d->readonly;
      spec->cache = d->cache == VIV_DISK_CACHE_NONE ? VMM_DISK_CACHE_NONE
                                                    : VMM_DISK_CACHE_WRITEBACK;
      spec->serial = keep (config, d->serial);
    }
  for (guint i = 0; i < mc->media->len; i++)
    {
      const VivMediaConfig *m = mc->media->pdata[i];
      char *path = NULL;

      if (m->inserted && m->path != NULL)
        path = keep_owned (config, viv_machine_config_resolve_path (machine_dir, m->path));

      if (kernel_boot)
        {
          /* An empty drive is no disk at all. */
          struct vmm_disk_spec *spec;

          if (path == NULL)
            continue;
          spec = &config->disks[config->n_disks++];
          spec->path = path;
          spec->bus = VMM_DISK_BUS_VIRTIO;
          spec->format = VMM_BLOCK_FORMAT_RAW;
          spec->read_only = true;
          spec->cache = VMM_DISK_CACHE_WRITEBACK;
        }
      else
        config->cdroms[config->n_cdroms++].path = path;
    }

  for (guint i = 0; i < mc->boot.n_order && i < VMM_BOOT_DEVICES; i++)
    config->boot[config->n_boot++] = mc->boot.order[i] == VIV_BOOT_DEVICE_CDROM
                                       ? VMM_BOOT_DEVICE_CDROM : VMM_BOOT_DEVICE_DISK;

  if (mc->devices.console)
    {
      config->console_enabled = true;
      config->console.console.kind = VMM_CHARDEV_NONE;
    }

  /* The description checked the size (both or neither); virtio-gpu clamps
   * it to what its EDID can say. The socket for stock clients is made on
   * request (the service's ListenDisplay). */
  if (mc->display.kind == VIV_DISPLAY_KIND_SPICE)
    {
      config->display.kind = VMM_DISPLAY_SPICE;
      config->display.width = mc->display.width ? mc->display.width : VMM_DISPLAY_DEFAULT_WIDTH;
      config->display.height = mc->display.height ? mc->display.height
                                                  : VMM_DISPLAY_DEFAULT_HEIGHT;
    }
  return net_from_machine (config, mc, error);
}
