/* test-vm-config.c: the engine's configuration, from the command line,
 * machine.json and spec strings (src/vmm/vm-config.c), without a VM
 *
 * The messages checked here are the ones vivarium-vmm prints after
 * "vivarium-vmm: " (or "vivarium-vmm: DIR: " for a machine): they must not
 * change, the translations in po/ match them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "viv-size.h"
#include "vm-config.h"

/* ---- spec strings ------------------------------------------------------------- */

static void
test_disk_spec (void)
{
  char plain[] = "disk.img";
  char full[] = "/images/a b.qcow2,format=qcow2,readonly=on,cache=none,serial=SER-1";
  char options[] = "x.raw,readonly=off,format=raw,cache=writeback";
  struct vmm_disk_spec spec;

  g_assert_true (vmm_disk_spec_parse (plain, &spec, NULL));
  g_assert_cmpstr (spec.path, ==, "disk.img");
  g_assert_cmpint (spec.format, ==, VMM_BLOCK_FORMAT_AUTO);
  g_assert_false (spec.read_only);
  g_assert_cmpint (spec.cache, ==, VMM_DISK_CACHE_WRITEBACK);
  g_assert_null (spec.serial);

  g_assert_true (vmm_disk_spec_parse (full, &spec, NULL));
  g_assert_cmpstr (spec.path, ==, "/images/a b.qcow2");
  g_assert_cmpint (spec.format, ==, VMM_BLOCK_FORMAT_QCOW2);
  g_assert_true (spec.read_only);
  g_assert_cmpint (spec.cache, ==, VMM_DISK_CACHE_NONE);
  g_assert_cmpstr (spec.serial, ==, "SER-1");
  /* The spec points into the text, which the parser cut up. */
  g_assert_true (spec.path == full);

  g_assert_true (vmm_disk_spec_parse (options, &spec, NULL));
  g_assert_cmpint (spec.format, ==, VMM_BLOCK_FORMAT_RAW);
  g_assert_false (spec.read_only);
  g_assert_cmpint (spec.cache, ==, VMM_DISK_CACHE_WRITEBACK);
}

static void
test_disk_spec_errors (void)
{
  static const struct {
    const char *text;
    const char *message;
  } cases[] = {
    { "", "no image path" },
    { ",,", "no image path" },
    { "a.img,readonly", "an option without a value (expected key=value)" },
    { "a.img,format=vmdk", "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                           "cache=writeback|none, serial=ID, bus=virtio|sata)" },
    { "a.img,readonly=yes", "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                            "cache=writeback|none, serial=ID, bus=virtio|sata)" },
    { "a.img,cache=unsafe", "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                            "cache=writeback|none, serial=ID, bus=virtio|sata)" },
    { "a.img,speed=fast", "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                          "cache=writeback|none, serial=ID, bus=virtio|sata)" },
    { "a.img,bus=ide", "an unknown option or value (format=raw|qcow2, readonly=on|off, "
                       "cache=writeback|none, serial=ID, bus=virtio|sata)" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = g_strdup (cases[i].text);
      g_autoptr(GError) error = NULL;
      struct vmm_disk_spec spec;

      g_test_message ("%s", cases[i].text);
      g_assert_false (vmm_disk_spec_parse (text, &spec, &error));
      g_assert_error (error, VMM_ERROR, VMM_ERROR_CONFIG);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
}

static void
test_chardev_spec (void)
{
  static const struct {
    const char *text;
    enum vmm_chardev_kind kind;
    const char *path;
  } good[] = {
    { "stdio", VMM_CHARDEV_STDIO, NULL },
    { "none", VMM_CHARDEV_NONE, NULL },
    { "file:/tmp/console.log", VMM_CHARDEV_FILE, "/tmp/console.log" },
    { "socket:/run/c.sock", VMM_CHARDEV_SOCKET, "/run/c.sock" },
  };
  static const char *const bad[] = {
    "", "file:", "socket:", "tcp:localhost:4444", "STDIO", "stdio ", "pty",
  };
  struct vmm_chardev_spec spec;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      spec.path = "stale";
      g_assert_true (vmm_chardev_spec_parse (good[i].text, &spec, NULL));
      g_assert_cmpint (spec.kind, ==, good[i].kind);
      g_assert_cmpstr (spec.path, ==, good[i].path);
      if (good[i].path != NULL)
        g_assert_true (spec.path > good[i].text);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *expected =
        g_strdup_printf ("--console takes stdio, file:PATH, socket:PATH or none, not “%s”",
                         bad[i]);

      g_assert_false (vmm_chardev_spec_parse (bad[i], &spec, &error));
      g_assert_error (error, VMM_ERROR, VMM_ERROR_CONFIG);
      g_assert_cmpstr (error->message, ==, expected);
    }
}

/* ---- the command line ------------------------------------------------------------- */

static void
test_args_defaults (void)
{
  struct vmm_config_args args = { .kvm_path = "/dev/kvm", .kernel = "vmlinuz" };
  struct vmm_config config;

  memset (&config, 0xa5, sizeof config);
  config.strings = NULL;
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpstr (config.kvm_path, ==, "/dev/kvm");
  g_assert_cmpstr (config.kernel_path, ==, "vmlinuz");
  g_assert_null (config.initrd_path);
  g_assert_null (config.cmdline);
  g_assert_cmpuint (config.memory, ==, 512u << 20);
  g_assert_cmpuint (config.cpus, ==, 1);
  g_assert_cmpint (config.serial, ==, VMM_SERIAL_STDIO);
  g_assert_null (config.serial_path);
  g_assert_null (config.serial_output);
  g_assert_false (config.rng);
  g_assert_true (config.handle_signals);
  g_assert_false (config.console_enabled);
  g_assert_cmpuint (config.n_disks, ==, 0);
  g_assert_false (config.io_threads);
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_NONE);
  g_assert_null (config.display.socket_path);
  vmm_config_clear (&config);
  g_assert_null (config.strings);
}

static void
test_args_display (void)
{
  char arg[] = "spice,socket=/run/user/1000/v.spice";
  struct vmm_config_args args = { .kernel = "k", .display = "spice" };
  struct vmm_config config = { 0 };

  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_SPICE);
  g_assert_cmpuint (config.display.width, ==, VMM_DISPLAY_DEFAULT_WIDTH);
  g_assert_cmpuint (config.display.height, ==, VMM_DISPLAY_DEFAULT_HEIGHT);
  g_assert_null (config.display.socket_path);
  vmm_config_clear (&config);

  args.display = arg;
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_SPICE);
  /* A copy: the argument can go */
  memset (arg, 'x', sizeof arg - 1);
  g_assert_cmpstr (config.display.socket_path, ==, "/run/user/1000/v.spice");
  vmm_config_clear (&config);

  args.display = "none";
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_NONE);
  vmm_config_clear (&config);
}

static void
test_args_full (void)
{
  char kernel[] = "/boot/vmlinuz";
  char disk0[] = "a.qcow2,format=qcow2,readonly=on,cache=none,serial=XY";
  char port1[] = "com.redhat.spice.0,socket=/tmp/agent.sock";
  const char *const disks[] = { disk0, "b.img", NULL };
  const char *const ports[] = { "org.test.0", port1, NULL };
  struct vmm_config_args args = {
    .kvm_path = "/dev/kvm", .kernel = kernel, .initrd = "initrd.img",
    .cmdline = "console=ttyS0 quiet", .memory = "2G", .cpus = 4,
    .serial = "file:/tmp/serial.log", .console = "socket:/tmp/console.sock", .ports = ports,
    .disks = disks, .aio = "threads", .rng = TRUE,
  };
  struct vmm_config config = { 0 };

  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpuint (config.memory, ==, G_GUINT64_CONSTANT (2) << 30);
  g_assert_cmpuint (config.cpus, ==, 4);
  g_assert_cmpstr (config.initrd_path, ==, "initrd.img");
  g_assert_cmpstr (config.cmdline, ==, "console=ttyS0 quiet");
  g_assert_cmpint (config.serial, ==, VMM_SERIAL_FILE);
  g_assert_cmpstr (config.serial_path, ==, "/tmp/serial.log");
  g_assert_true (config.rng);
  g_assert_true (config.io_threads);

  g_assert_true (config.console_enabled);
  g_assert_cmpint (config.console.console.kind, ==, VMM_CHARDEV_SOCKET);
  g_assert_cmpstr (config.console.console.path, ==, "/tmp/console.sock");
  g_assert_cmpuint (config.console.n_ports, ==, 2);
  g_assert_cmpstr (config.console.ports[0].name, ==, "org.test.0");
  g_assert_cmpint (config.console.ports[0].backend.kind, ==, VMM_CHARDEV_NONE);
  g_assert_cmpstr (config.console.ports[1].name, ==, "com.redhat.spice.0");
  g_assert_cmpint (config.console.ports[1].backend.kind, ==, VMM_CHARDEV_SOCKET);
  g_assert_cmpstr (config.console.ports[1].backend.path, ==, "/tmp/agent.sock");

  g_assert_cmpuint (config.n_disks, ==, 2);
  g_assert_cmpstr (config.disks[0].path, ==, "a.qcow2");
  g_assert_cmpint (config.disks[0].format, ==, VMM_BLOCK_FORMAT_QCOW2);
  g_assert_true (config.disks[0].read_only);
  g_assert_cmpint (config.disks[0].cache, ==, VMM_DISK_CACHE_NONE);
  g_assert_cmpstr (config.disks[0].serial, ==, "XY");
  g_assert_cmpstr (config.disks[1].path, ==, "b.img");
  g_assert_cmpint (config.disks[1].format, ==, VMM_BLOCK_FORMAT_AUTO);

  /* The config keeps copies: the arguments are neither cut up nor needed. */
  g_assert_cmpstr (disk0, ==, "a.qcow2,format=qcow2,readonly=on,cache=none,serial=XY");
  g_assert_cmpstr (port1, ==, "com.redhat.spice.0,socket=/tmp/agent.sock");
  memset (kernel, 'x', sizeof kernel - 1);
  memset (disk0, 'x', sizeof disk0 - 1);
  g_assert_cmpstr (config.kernel_path, ==, "/boot/vmlinuz");
  g_assert_cmpstr (config.disks[0].path, ==, "a.qcow2");
  vmm_config_clear (&config);
}

/* A console with only named ports: port 0 has nothing behind it. */
static void
test_args_ports_only (void)
{
  const char *const ports[] = { "only", NULL };
  struct vmm_config_args args = { .kernel = "k", .ports = ports, .aio = "io_uring",
                                  .serial = "none" };
  struct vmm_config config = { 0 };

  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.serial, ==, VMM_SERIAL_NONE);
  g_assert_false (config.io_threads);
  g_assert_true (config.console_enabled);
  g_assert_cmpint (config.console.console.kind, ==, VMM_CHARDEV_NONE);
  g_assert_cmpuint (config.console.n_ports, ==, 1);
  vmm_config_clear (&config);
}

typedef struct {
  const char *name;
  struct vmm_config_args args;
  const char *message;
} ArgsCase;

static void
test_args_errors (void)
{
  static const char *const many_ports[] = {
    "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12", "p13",
    "p14", "p15", NULL,
  };
  static const char *const many_disks[] = {
    "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13",
    "d14", "d15", "d16", NULL,
  };
  static const char *const bad_port[] = { "ok", "x,sock=/p", NULL };
  static const char *const many_cdroms[] = { "a.iso", "b.iso", "c.iso", "d.iso", "e.iso", NULL };
  static const char *const four_cdroms[] = { "a.iso", "b.iso", "c.iso", "empty", NULL };
  static const char *const sata_disks[] = { "a.img,bus=sata", "b.img,bus=sata", "c.img,bus=sata",
                                            NULL };
  static const char *const empty_cdrom[] = { "", NULL };
  static const char *const empty_socket[] = { "x,socket=", NULL };
  static const char *const bad_disk[] = { "good.img", "a.img,format=vmdk", NULL };
  static const char *const no_path[] = { ",", NULL };
  static const ArgsCase cases[] = {
    { "serial", { .serial = "tty" }, "--serial takes stdio, file:PATH or none, not “tty”" },
    { "serial-file", { .serial = "file:" },
      "--serial takes stdio, file:PATH or none, not “file:”" },
    { "console", { .console = "pipe" },
      "--console takes stdio, file:PATH, socket:PATH or none, not “pipe”" },
    { "ports", { .ports = many_ports }, "At most 15 --port options" },
    { "port", { .ports = bad_port }, "--port takes NAME or NAME,socket=PATH, not “x,sock=/p”" },
    { "port-socket", { .ports = empty_socket },
      "--port takes NAME or NAME,socket=PATH, not “x,socket=”" },
    { "disks", { .disks = many_disks }, "At most 16 --disk options" },
    { "disk", { .disks = bad_disk },
      "--disk a.img,format=vmdk: an unknown option or value (format=raw|qcow2, readonly=on|off, "
      "cache=writeback|none, serial=ID, bus=virtio|sata)" },
    { "cdroms", { .cdroms = many_cdroms }, "At most 4 --cdrom options" },
    { "sata", { .disks = sata_disks, .cdroms = four_cdroms },
      "At most 6 SATA disks and CD-ROM drives together" },
    { "cdrom-empty", { .cdroms = empty_cdrom },
      "--cdrom takes the path of a disc image, or “empty”" },
    { "boot", { .boot = "order=cdrom,floppy" },
      "--boot takes order= and disk and cdrom, each at most once (order=cdrom,disk), "
      "not “order=cdrom,floppy”" },
    { "boot-twice", { .boot = "order=disk,disk" },
      "--boot takes order= and disk and cdrom, each at most once (order=cdrom,disk), "
      "not “order=disk,disk”" },
    { "boot-empty", { .boot = "order=" },
      "--boot takes order= and disk and cdrom, each at most once (order=cdrom,disk), "
      "not “order=”" },
    { "firmware", { .firmware = "coreboot" }, "--firmware takes bios or uefi, not “coreboot”" },
    { "firmware-option", { .firmware = "bios,vars=/x" },
      "--firmware: unknown or empty option “vars=/x”" },
    { "firmware-menu-wait", { .firmware = "bios,menu-wait=70000" },
      "--firmware: unknown or empty option “menu-wait=70000”" },
    { "disk-path", { .disks = no_path }, "--disk ,: no image path" },
    { "aio", { .aio = "posix" }, "--aio takes io_uring or threads, not “posix”" },
    { "display", { .display = "vnc" },
      "--display takes spice, spice,socket=PATH or none, not “vnc”" },
    { "display-socket", { .display = "spice,socket=" },
      "--display takes spice, spice,socket=PATH or none, not “spice,socket=”" },
    { "display-option", { .display = "spice,port=5900" },
      "--display takes spice, spice,socket=PATH or none, not “spice,port=5900”" },
    { "display-prefix", { .display = "spicey" },
      "--display takes spice, spice,socket=PATH or none, not “spicey”" },
    { "net", { .net = "bridge" }, "--net takes user, passt, tap=NAME or none, not “bridge”" },
    { "net-tap-empty", { .net = "tap=" }, "--net takes user, passt, tap=NAME or none, not “tap=”" },
    { "net-mac", { .net = "user,mac=01:00:5e:00:00:01" },
      "--net: “01:00:5e:00:00:01” is not a unicast MAC address, like “52:54:00:12:34:56”" },
    { "net-mac-short", { .net = "user,mac=52:54:00" },
      "--net: “52:54:00” is not a unicast MAC address, like “52:54:00:12:34:56”" },
    { "net-option", { .net = "user,ipv6=off" }, "--net: unknown or empty option “ipv6=off”" },
    { "net-tap-fwd", { .net = "tap=tap0,hostfwd=tcp::2222-:22" },
      "--net: unknown or empty option “hostfwd=tcp::2222-:22”" },
    { "hostfwd-port", { .net = "user,hostfwd=tcp::70000-:22" },
      "--net: “tcp::70000-:22” is not a port forward, like “hostfwd=tcp:127.0.0.1:2222-:22”" },
    { "hostfwd-proto", { .net = "user,hostfwd=sctp::22-:22" },
      "--net: “sctp::22-:22” is not a port forward, like “hostfwd=tcp:127.0.0.1:2222-:22”" },
    { "hostfwd-addr", { .net = "user,hostfwd=tcp:localhost:22-:22" },
      "--net: “tcp:localhost:22-:22” is not a port forward, like "
      "“hostfwd=tcp:127.0.0.1:2222-:22”" },
    { "hostfwd-guest", { .net = "user,hostfwd=tcp::22-10.0.0.9:22" },
      "--net: “tcp::22-10.0.0.9:22” is not a port forward, like "
      "“hostfwd=tcp:127.0.0.1:2222-:22”" },
    { "hostfwd-dash", { .net = "user,hostfwd=tcp::22:22" },
      "--net: “tcp::22:22” is not a port forward, like “hostfwd=tcp:127.0.0.1:2222-:22”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      struct vmm_config_args args = cases[i].args;
      g_autoptr(GError) error = NULL;
      struct vmm_config config = { 0 };

      g_test_message ("%s", cases[i].name);
      args.kernel = "vmlinuz";
      g_assert_false (vmm_config_from_args (&config, &args, &error));
      g_assert_error (error, VMM_ERROR, VMM_ERROR_CONFIG);
      g_assert_cmpstr (error->message, ==, cases[i].message);
      vmm_config_clear (&config);
    }
}

/* Firmware, SATA disks, CD-ROM drives and the boot order */
static void
test_args_firmware (void)
{
  const char *disks[] = { "a.qcow2,bus=sata", "b.img,format=raw", NULL };
  const char *cdroms[] = { "installer.iso", "empty", NULL };
  struct vmm_config_args args = {
    .firmware = "uefi,file=/fw/code.fd,vars=/m/vars.fd", .disks = disks, .cdroms = cdroms,
    .boot = "order=cdrom,disk", .debugcon = "/tmp/fw.log",
  };
  struct vmm_config config = { 0 };

  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_UEFI);
  g_assert_cmpstr (config.firmware_path, ==, "/fw/code.fd");
  g_assert_cmpstr (config.vars_path, ==, "/m/vars.fd");
  g_assert_cmpstr (config.debugcon_path, ==, "/tmp/fw.log");
  g_assert_cmpuint (config.boot_menu_wait_ms, ==, VMM_BOOT_MENU_WAIT_MS);
  g_assert_null (config.kernel_path);
  g_assert_cmpuint (config.n_disks, ==, 2);
  g_assert_cmpint (config.disks[0].bus, ==, VMM_DISK_BUS_SATA);
  g_assert_cmpint (config.disks[1].bus, ==, VMM_DISK_BUS_VIRTIO);
  g_assert_cmpuint (config.n_cdroms, ==, 2);
  g_assert_cmpstr (config.cdroms[0].path, ==, "installer.iso");
  g_assert_null (config.cdroms[1].path);
  g_assert_cmpuint (config.n_boot, ==, 2);
  g_assert_cmpint (config.boot[0], ==, VMM_BOOT_DEVICE_CDROM);
  g_assert_cmpint (config.boot[1], ==, VMM_BOOT_DEVICE_DISK);
  vmm_config_clear (&config);

  args = (struct vmm_config_args) { .firmware = "bios,menu-wait=15000" };
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpuint (config.boot_menu_wait_ms, ==, 15000);
  vmm_config_clear (&config);
  args = (struct vmm_config_args) { .firmware = "bios" };
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_BIOS);
  g_assert_null (config.firmware_path);
  g_assert_cmpuint (config.n_boot, ==, 0);
  vmm_config_clear (&config);
}

/* The size's own message, after the option's name */
static void
test_args_memory (void)
{
  struct vmm_config_args args = { .kernel = "k", .memory = "lots" };
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) size_error = NULL;
  g_autofree char *expected = NULL;
  struct vmm_config config = { 0 };
  guint64 size;

  g_assert_false (viv_size_parse ("lots", &size, &size_error));
  expected = g_strconcat ("--memory: ", size_error->message, NULL);
  g_assert_false (vmm_config_from_args (&config, &args, &error));
  g_assert_cmpstr (error->message, ==, expected);
  vmm_config_clear (&config);

  args.memory = "64M";
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpuint (config.memory, ==, 64u << 20);
  vmm_config_clear (&config);
}

/* ---- machine.json ------------------------------------------------------------------ */

#define UUID "0f8fad5b-d9cb-469f-a165-70867728950e"

static VivMachineConfig *
machine (const char *boot, const char *disks, const char *devices)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *json = g_strdup_printf ("{\"version\": 1, \"uuid\": \"" UUID "\", "
                                           "\"name\": \"m\", \"memory\": 134217728, "
                                           "\"cpus\": 3, \"boot\": %s%s%s}",
                                           boot, disks, devices);
  VivMachineConfig *mc = viv_machine_config_load_from_data (json, -1, &error);

  g_assert_no_error (error);
  return mc;
}

static void
test_machine (void)
{
  VivMachineConfig *mc =
    machine ("{\"kind\": \"kernel\", \"kernel\": \"vmlinuz\", \"initrd\": \"/boot/initrd.img\","
             " \"cmdline\": \"console=hvc0\"}",
             ", \"disks\": [{\"path\": \"disk.qcow2\", \"format\": \"qcow2\"},"
             " {\"path\": \"/var/data.img\", \"format\": \"raw\", \"readonly\": true,"
             "  \"cache\": \"none\", \"serial\": \"DATA-01\"}],"
             " \"media\": [{\"path\": \"../isos/debian.iso\", \"kind\": \"cdrom\"}]",
             ", \"devices\": {\"rng\": true, \"console\": true}");
  struct vmm_config config = { 0 };

  g_assert_true (vmm_config_from_machine (&config, mc, "/machines/" UUID, NULL));
  /* machine.json says nothing about these: the service sets them. */
  g_assert_null (config.kvm_path);
  g_assert_cmpint (config.serial, ==, VMM_SERIAL_CALLBACK);
  g_assert_null (config.serial_output);
  g_assert_false (config.handle_signals);

  g_assert_cmpuint (config.memory, ==, 128u << 20);
  g_assert_cmpuint (config.cpus, ==, 3);
  g_assert_true (config.rng);
  g_assert_cmpstr (config.kernel_path, ==, "/machines/" UUID "/vmlinuz");
  g_assert_cmpstr (config.initrd_path, ==, "/boot/initrd.img");
  g_assert_cmpstr (config.cmdline, ==, "console=hvc0");

  /* Disks first, then the media as read-only raw disks */
  g_assert_cmpuint (config.n_disks, ==, 3);
  g_assert_cmpstr (config.disks[0].path, ==, "/machines/" UUID "/disk.qcow2");
  g_assert_cmpint (config.disks[0].format, ==, VMM_BLOCK_FORMAT_QCOW2);
  g_assert_false (config.disks[0].read_only);
  g_assert_cmpint (config.disks[0].cache, ==, VMM_DISK_CACHE_WRITEBACK);
  g_assert_null (config.disks[0].serial);
  g_assert_cmpstr (config.disks[1].path, ==, "/var/data.img");
  g_assert_cmpint (config.disks[1].format, ==, VMM_BLOCK_FORMAT_RAW);
  g_assert_true (config.disks[1].read_only);
  g_assert_cmpint (config.disks[1].cache, ==, VMM_DISK_CACHE_NONE);
  g_assert_cmpstr (config.disks[1].serial, ==, "DATA-01");
  g_assert_cmpstr (config.disks[2].path, ==, "/machines/isos/debian.iso");
  g_assert_cmpint (config.disks[2].format, ==, VMM_BLOCK_FORMAT_RAW);
  g_assert_true (config.disks[2].read_only);
  g_assert_cmpint (config.disks[2].cache, ==, VMM_DISK_CACHE_WRITEBACK);

  g_assert_true (config.console_enabled);
  g_assert_cmpint (config.console.console.kind, ==, VMM_CHARDEV_NONE);
  g_assert_cmpuint (config.console.n_ports, ==, 0);

  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_NONE);
  g_assert_cmpuint (config.n_cdroms, ==, 0);
  g_assert_cmpint (config.disks[2].bus, ==, VMM_DISK_BUS_VIRTIO);

  /* Its strings are its own: the description can go. */
  viv_machine_config_free (mc);
  g_assert_cmpstr (config.cmdline, ==, "console=hvc0");
  g_assert_cmpstr (config.disks[1].serial, ==, "DATA-01");
  vmm_config_clear (&config);
}

static void
test_machine_minimal (void)
{
  g_autoptr(VivMachineConfig) mc = NULL;
  struct vmm_config config = { 0 };

  mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                ", \"devices\": {\"rng\": false}");
  g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
  g_assert_null (config.initrd_path);
  g_assert_null (config.cmdline);
  g_assert_false (config.rng);
  g_assert_false (config.console_enabled);
  g_assert_cmpuint (config.n_disks, ==, 0);
  /* No display member: SPICE at the default size, no socket until asked */
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_SPICE);
  g_assert_cmpuint (config.display.width, ==, VMM_DISPLAY_DEFAULT_WIDTH);
  g_assert_cmpuint (config.display.height, ==, VMM_DISPLAY_DEFAULT_HEIGHT);
  g_assert_null (config.display.socket_path);
  vmm_config_clear (&config);
}

static void
test_machine_display (void)
{
  g_autoptr(VivMachineConfig) sized = NULL;
  g_autoptr(VivMachineConfig) none = NULL;
  g_autoptr(VivMachineConfig) spice = NULL;
  struct vmm_config config = { 0 };

  sized = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                   ", \"display\": {\"kind\": \"spice\", \"width\": 1920, \"height\": 1080}");
  g_assert_true (vmm_config_from_machine (&config, sized, "/m", NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_SPICE);
  g_assert_cmpuint (config.display.width, ==, 1920);
  g_assert_cmpuint (config.display.height, ==, 1080);
  g_assert_null (config.display.socket_path);
  vmm_config_clear (&config);

  spice = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                   ", \"display\": {\"kind\": \"spice\"}");
  g_assert_true (vmm_config_from_machine (&config, spice, "/m", NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_SPICE);
  g_assert_cmpuint (config.display.width, ==, VMM_DISPLAY_DEFAULT_WIDTH);
  g_assert_cmpuint (config.display.height, ==, VMM_DISPLAY_DEFAULT_HEIGHT);
  vmm_config_clear (&config);

  none = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                  ", \"display\": {\"kind\": \"none\"}");
  g_assert_true (vmm_config_from_machine (&config, none, "/m", NULL));
  g_assert_cmpint (config.display.kind, ==, VMM_DISPLAY_NONE);
  vmm_config_clear (&config);
}

/* Firmware boot: the kinds that start a firmware, the disk bus, the CD-ROM
 * drives (no longer virtio disks) and the boot order. */
static void
test_machine_firmware (void)
{
  g_autoptr(VivMachineConfig) bios = NULL;
  g_autoptr(VivMachineConfig) uefi = NULL;
  g_autoptr(VivMachineConfig) disk = NULL;
  struct vmm_config config = { 0 };

  bios = machine ("{\"kind\": \"firmware\", \"firmware\": \"bios\", \"kernel\": \"/k\","
                  " \"order\": [\"cdrom\", \"disk\"]}",
                  ", \"disks\": [{\"path\": \"disk.qcow2\", \"format\": \"qcow2\","
                  " \"bus\": \"sata\"}, {\"path\": \"d2.raw\", \"format\": \"raw\"}],"
                  " \"media\": [{\"path\": \"../isos/any.iso\", \"kind\": \"cdrom\"},"
                  " {\"kind\": \"cdrom\", \"inserted\": false},"
                  " {\"path\": \"gone.iso\", \"kind\": \"cdrom\", \"inserted\": false}]", "");
  g_assert_true (vmm_config_from_machine (&config, bios, "/machines/" UUID, NULL));
  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_BIOS);
  /* The firmware boots what the drives hold, not the kernel kept aside. */
  g_assert_null (config.kernel_path);
  g_assert_null (config.firmware_path);
  g_assert_null (config.vars_path);
  g_assert_cmpuint (config.n_disks, ==, 2);
  g_assert_cmpint (config.disks[0].bus, ==, VMM_DISK_BUS_SATA);
  g_assert_cmpint (config.disks[1].bus, ==, VMM_DISK_BUS_VIRTIO);
  g_assert_cmpuint (config.n_cdroms, ==, 3);
  g_assert_cmpstr (config.cdroms[0].path, ==, "/machines/isos/any.iso");
  g_assert_null (config.cdroms[1].path);
  g_assert_null (config.cdroms[2].path);
  g_assert_cmpuint (config.n_boot, ==, 2);
  g_assert_cmpint (config.boot[0], ==, VMM_BOOT_DEVICE_CDROM);
  g_assert_cmpint (config.boot[1], ==, VMM_BOOT_DEVICE_DISK);
  vmm_config_clear (&config);

  uefi = machine ("{\"kind\": \"firmware\", \"firmware\": \"uefi\"}", "", "");
  g_assert_true (vmm_config_from_machine (&config, uefi, "/machines/" UUID, NULL));
  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_UEFI);
  g_assert_cmpstr (config.vars_path, ==, "/machines/" UUID "/OVMF_VARS.fd");
  g_assert_cmpuint (config.n_boot, ==, 0);
  vmm_config_clear (&config);

  /* "disk" is the default firmware, whatever "firmware" says. */
  disk = machine ("{\"kind\": \"disk\", \"firmware\": \"uefi\"}",
                  ", \"media\": [{\"path\": \"x.iso\", \"kind\": \"cdrom\"}]", "");
  g_assert_true (vmm_config_from_machine (&config, disk, "/m", NULL));
  g_assert_cmpint (config.firmware, ==, VMM_FIRMWARE_BIOS);
  g_assert_null (config.vars_path);
  g_assert_cmpuint (config.n_disks, ==, 0);
  g_assert_cmpuint (config.n_cdroms, ==, 1);
  g_assert_cmpstr (config.cdroms[0].path, ==, "/m/x.iso");
  vmm_config_clear (&config);
}

static void
test_machine_errors (void)
{
  g_autoptr(VivMachineConfig) firmware = NULL;
  g_autoptr(GString) disks = g_string_new (", \"disks\": [");
  g_autoptr(GError) error = NULL;
  g_autofree char *too_many = NULL;
  struct vmm_config config = { 0 };

  /* Five CD-ROM drives are one too many for firmware. */
  firmware = machine ("{\"kind\": \"firmware\", \"firmware\": \"bios\"}",
                      ", \"media\": [{\"kind\": \"cdrom\", \"inserted\": false},"
                      " {\"kind\": \"cdrom\", \"inserted\": false},"
                      " {\"kind\": \"cdrom\", \"inserted\": false},"
                      " {\"kind\": \"cdrom\", \"inserted\": false},"
                      " {\"kind\": \"cdrom\", \"inserted\": false}]", "");
  g_assert_false (vmm_config_from_machine (&config, firmware, "/m", &error));
  g_assert_error (error, VMM_ERROR, VMM_ERROR_CONFIG);
  g_assert_cmpstr (error->message, ==, "media: a machine can have at most 4 CD-ROM drives");
  g_clear_error (&error);
  vmm_config_clear (&config);

  /* Sixteen disks and one medium are one too many. */
  for (guint i = 0; i < 16; i++)
    g_string_append_printf (disks, "%s{\"path\": \"d%u.qcow2\", \"format\": \"qcow2\"}",
                            i ? ", " : "", i);
  g_string_append (disks, "], \"media\": [{\"path\": \"x.iso\", \"kind\": \"cdrom\"}]");
  too_many = g_string_free (g_steal_pointer (&disks), FALSE);
  {
    g_autoptr(VivMachineConfig) mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}",
                                              too_many, "");

    g_assert_false (vmm_config_from_machine (&config, mc, "/m", &error));
    g_assert_error (error, VMM_ERROR, VMM_ERROR_CONFIG);
    g_assert_cmpstr (error->message, ==,
                     "disks: a machine can have at most 16 disks and media together");
    vmm_config_clear (&config);

    /* Sixteen in all is fine. */
    g_ptr_array_remove_index (mc->media, 0);
    g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
    g_assert_cmpuint (config.n_disks, ==, 16);
    vmm_config_clear (&config);
  }
}

/* --net: the modes, the MAC, QEMU's hostfwd syntax */
static void
test_args_net (void)
{
  static const uint8_t qemu_mac[6] = VMM_NET_DEFAULT_MAC;
  struct vmm_config_args args = { .kernel = "vmlinuz" };
  struct vmm_config config = { 0 };
  const struct vmm_net_forward *fw;

  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_NONE);
  vmm_config_clear (&config);

  args.net = "user,mac=52:54:00:AB:cd:01,hostfwd=tcp:127.0.0.1:2222-:22,"
             "hostfwd=udp::5353-10.0.2.15:53,hostfwd=tcp:[::1]:8080-0.0.0.0:80,"
             "hostfwd=:0.0.0.0:8443-:443";
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_USER);
  g_assert_cmpmem (config.net.mac, 6, "\x52\x54\x00\xab\xcd\x01", 6);
  g_assert_cmpuint (config.net.n_forwards, ==, 4);
  fw = &config.net.forwards[0];
  g_assert_false (fw->udp);
  g_assert_cmpstr (fw->host_address, ==, "127.0.0.1");
  g_assert_cmpuint (fw->host_port, ==, 2222);
  g_assert_cmpuint (fw->guest_port, ==, 22);
  fw = &config.net.forwards[1];
  g_assert_true (fw->udp);
  g_assert_null (fw->host_address);
  g_assert_cmpuint (fw->host_port, ==, 5353);
  g_assert_cmpuint (fw->guest_port, ==, 53);
  g_assert_cmpstr (config.net.forwards[2].host_address, ==, "::1");
  g_assert_cmpuint (config.net.forwards[2].guest_port, ==, 80);
  g_assert_cmpstr (config.net.forwards[3].host_address, ==, "0.0.0.0");
  vmm_config_clear (&config);

  args.net = "tap=vmtap0";
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_TAP);
  g_assert_cmpstr (config.net.tap, ==, "vmtap0");
  g_assert_cmpmem (config.net.mac, 6, qemu_mac, 6);
  vmm_config_clear (&config);

  args.net = "passt,hostfwd=tcp::2222-:22";
  g_assert_true (vmm_config_from_args (&config, &args, NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_PASST);
  g_assert_cmpuint (config.net.n_forwards, ==, 1);
  vmm_config_clear (&config);
}

/* machine.json's network: the mode, the MAC (derived when absent), the forwards */
static void
test_machine_net (void)
{
  g_autoptr(VivMachineConfig) mc = NULL;
  struct vmm_config config = { 0 };
  g_autofree char *derived = NULL;
  guint8 mac[6];

  mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                ", \"network\": {\"mode\": \"user\", \"mac\": \"52:54:00:00:00:09\","
                " \"forwards\": [{\"protocol\": \"tcp\", \"host_port\": 2222, \"guest_port\": 22},"
                " {\"protocol\": \"udp\", \"address\": \"::\", \"host_port\": 53,"
                " \"guest_port\": 5353}]}");
  g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_USER);
  g_assert_cmpmem (config.net.mac, 6, "\x52\x54\x00\x00\x00\x09", 6);
  g_assert_cmpuint (config.net.n_forwards, ==, 2);
  g_assert_null (config.net.forwards[0].host_address);
  g_assert_false (config.net.forwards[0].udp);
  g_assert_true (config.net.forwards[1].udp);
  g_assert_cmpstr (config.net.forwards[1].host_address, ==, "::");
  g_assert_cmpuint (config.net.forwards[1].guest_port, ==, 5353);
  vmm_config_clear (&config);
  g_clear_pointer (&mc, viv_machine_config_free);

  /* the default: user mode, the MAC derived from the uuid */
  mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "", "");
  g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_USER);
  derived = viv_machine_config_dup_mac (mc);
  g_assert_true (viv_mac_parse (derived, mac));
  g_assert_cmpmem (config.net.mac, 6, mac, 6);
  g_assert_cmpuint (config.net.n_forwards, ==, 0);
  vmm_config_clear (&config);
  g_clear_pointer (&mc, viv_machine_config_free);

  mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                ", \"network\": {\"mode\": \"tap\", \"tap\": \"vm0\","
                " \"forwards\": [{\"protocol\": \"tcp\", \"host_port\": 2222, \"guest_port\": 22}]}");
  g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_TAP);
  g_assert_cmpstr (config.net.tap, ==, "vm0");
  /* a tap device has no forwards: the host's network reaches the guest */
  g_assert_cmpuint (config.net.n_forwards, ==, 0);
  vmm_config_clear (&config);
  g_clear_pointer (&mc, viv_machine_config_free);

  mc = machine ("{\"kind\": \"kernel\", \"kernel\": \"/k\"}", "",
                ", \"network\": {\"mode\": \"none\"}");
  g_assert_true (vmm_config_from_machine (&config, mc, "/m", NULL));
  g_assert_cmpint (config.net.mode, ==, VMM_NET_NONE);
  vmm_config_clear (&config);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/vm-config/disk-spec", test_disk_spec);
  g_test_add_func ("/vm-config/disk-spec/errors", test_disk_spec_errors);
  g_test_add_func ("/vm-config/chardev-spec", test_chardev_spec);
  g_test_add_func ("/vm-config/args/defaults", test_args_defaults);
  g_test_add_func ("/vm-config/args/full", test_args_full);
  g_test_add_func ("/vm-config/args/ports-only", test_args_ports_only);
  g_test_add_func ("/vm-config/args/display", test_args_display);
  g_test_add_func ("/vm-config/args/errors", test_args_errors);
  g_test_add_func ("/vm-config/args/memory", test_args_memory);
  g_test_add_func ("/vm-config/args/firmware", test_args_firmware);
  g_test_add_func ("/vm-config/args/net", test_args_net);
  g_test_add_func ("/vm-config/machine", test_machine);
  g_test_add_func ("/vm-config/machine/minimal", test_machine_minimal);
  g_test_add_func ("/vm-config/machine/firmware", test_machine_firmware);
  g_test_add_func ("/vm-config/machine/display", test_machine_display);
  g_test_add_func ("/vm-config/machine/net", test_machine_net);
  g_test_add_func ("/vm-config/machine/errors", test_machine_errors);

  return g_test_run ();
}
