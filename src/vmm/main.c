/* main.c: vivarium-vmm, the per-VM engine process
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "block/img.h"
#include "control/service.h"
#include "kvm/kvm.h"
#include "log.h"
#include "viv-size.h"
#include "vm.h"

/* Exit statuses, documented in --help. */
enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,   /* bad arguments, or the VM could not be built or run */
  EXIT_NO_KVM = 2,   /* KVM is missing or unusable on this computer */
  EXIT_RESET = 3,    /* the guest reset itself; run again to reboot it */
};

struct options {
  gboolean version;
  gboolean check_kvm;
  gboolean verbose;
  gboolean rng;
  char *kvm_device;
  char *kernel;
  char *initrd;
  char *cmdline;
  char *memory;
  int cpus;
  char *serial;
  char *console;
  char **ports;
  char *machine;
  char **disks;
  char *aio;
};

static void
options_clear (struct options *opts)
{
  g_free (opts->kvm_device);
  g_free (opts->kernel);
  g_free (opts->initrd);
  g_free (opts->cmdline);
  g_free (opts->memory);
  g_free (opts->serial);
  g_free (opts->console);
  g_strfreev (opts->ports);
  g_free (opts->machine);
  g_strfreev (opts->disks);
  g_free (opts->aio);
}

/* --disk PATH[,format=...][,readonly=on][,cache=...] (repeatable), --aio */
static gboolean
parse_disks (const struct options *opts, struct vmm_config *config, GError **error)
{
  guint n = opts->disks ? g_strv_length (opts->disks) : 0;

  if (n > VMM_MAX_DISKS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("At most %d --disk options"),
                   VMM_MAX_DISKS);
      return FALSE;
    }
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *copy = g_strdup (opts->disks[i]);
      const char *why = NULL;

      if (!vmm_disk_spec_parse (opts->disks[i], &config->disks[i], &why))
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("--disk %s: %s"), copy, why);
          return FALSE;
        }
    }
  config->n_disks = n;
  if (opts->aio != NULL && !g_str_equal (opts->aio, "io_uring") &&
      !g_str_equal (opts->aio, "threads"))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--aio takes io_uring or threads, not “%s”"), opts->aio);
      return FALSE;
    }
  config->io_threads = opts->aio != NULL && g_str_equal (opts->aio, "threads");
  return TRUE;
}

/* --console WHERE and --port NAME[,socket=PATH] */
static gboolean
parse_console (const struct options *opts, struct vmm_config *config, GError **error)
{
  struct vmm_console_config *c = &config->console;
  guint n_ports = opts->ports ? g_strv_length (opts->ports) : 0;

  if (opts->console == NULL && n_ports == 0)
    return TRUE;
  config->console_enabled = true;
  c->console.kind = VMM_CHARDEV_NONE;
  if (opts->console != NULL && !vmm_chardev_spec_parse (opts->console, &c->console))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--console takes stdio, file:PATH, socket:PATH or none, not “%s”"),
                   opts->console);
      return FALSE;
    }
  if (n_ports >= VMM_CONSOLE_MAX_PORTS)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, _("At most %d --port options"),
                   VMM_CONSOLE_MAX_PORTS - 1);
      return FALSE;
    }
  for (guint i = 0; i < n_ports; i++)
    {
      struct vmm_console_port_spec *port = &c->ports[i];
      char *comma = strchr (opts->ports[i], ',');

      port->name = opts->ports[i];
      port->backend.kind = VMM_CHARDEV_NONE;
      if (comma != NULL)
        {
          *comma = '\0';
          if (!g_str_has_prefix (comma + 1, "socket=") || comma[8] == '\0')
            {
              g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                           _("--port takes NAME or NAME,socket=PATH, not “%s,%s”"),
                           opts->ports[i], comma + 1);
              return FALSE;
            }
          port->backend.kind = VMM_CHARDEV_SOCKET;
          port->backend.path = comma + 8;
        }
    }
  c->n_ports = n_ports;
  return TRUE;
}

/* --serial stdio|file:PATH|none */
static gboolean
parse_serial (const char *arg, struct vmm_config *config, GError **error)
{
  if (arg == NULL || g_str_equal (arg, "stdio"))
    config->serial = VMM_SERIAL_STDIO;
  else if (g_str_equal (arg, "none"))
    config->serial = VMM_SERIAL_NONE;
  else if (g_str_has_prefix (arg, "file:") && arg[5] != '\0')
    {
      config->serial = VMM_SERIAL_FILE;
      config->serial_path = arg + 5;
    }
  else
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("--serial takes stdio, file:PATH or none, not “%s”"), arg);
      return FALSE;
    }
  return TRUE;
}

static int
run_vm (struct options *opts, const char *kvm_path)
{
  g_autoptr(GError) error = NULL;
  struct vmm_config config = { 0 };
  struct vmm_vm *vm;
  enum vmm_exit_reason reason;
  const char *message = NULL;
  guint64 memory = 512ull << 20;
  int status;

  config.kvm_path = kvm_path;
  config.kernel_path = opts->kernel;
  config.initrd_path = opts->initrd;
  config.cmdline = opts->cmdline;
  config.cpus = opts->cpus > 0 ? (unsigned) opts->cpus : 1;
  config.rng = opts->rng;
  config.handle_signals = true;
  if (opts->cpus < 0)
    {
      g_printerr (_("vivarium-vmm: --cpus must be a positive number\n"));
      return EXIT_FAILED;
    }
  if (opts->memory != NULL && !viv_size_parse (opts->memory, &memory, &error))
    {
      g_printerr ("vivarium-vmm: --memory: %s\n", error->message);
      return EXIT_FAILED;
    }
  config.memory = memory;
  if (!parse_serial (opts->serial, &config, &error) || !parse_console (opts, &config, &error) ||
      !parse_disks (opts, &config, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      return EXIT_FAILED;
    }

  vm = vmm_vm_create (&config, &error);
  if (vm == NULL)
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      return g_error_matches (error, VMM_ERROR, VMM_ERROR_NO_KVM) ? EXIT_NO_KVM : EXIT_FAILED;
    }

  reason = vmm_vm_run (vm, &message);
  switch (reason)
    {
    case VMM_EXIT_POWER_OFF:
    case VMM_EXIT_STOPPED:
      status = EXIT_OK;
      break;
    case VMM_EXIT_RESET:
      vmm_log_info ("the guest reset; exiting (run again to boot it again)");
      status = EXIT_RESET;
      break;
    default:
      g_printerr (_("vivarium-vmm: the virtual machine failed: %s\n"),
                  message ? message : _("unknown error"));
      status = EXIT_FAILED;
      break;
    }
  vmm_vm_destroy (vm);
  return status;
}

static void
print_kvm_error (const char *path, int err, const struct vmm_kvm *kvm)
{
  switch (err)
    {
    case -ENOENT:
    case -ENXIO:
    case -ENODEV:
      g_printerr (_("vivarium-vmm: KVM is not available: %s does not exist.\n"
                    "Turn on hardware virtualization (Intel VT-x or AMD-V) in the computer’s "
                    "firmware settings and load the kvm_intel or kvm_amd kernel module.\n"),
                  path);
      break;
    case -EACCES:
    case -EPERM:
      g_printerr (_("vivarium-vmm: KVM is not usable: permission denied opening %s.\n"
                    "Add your user to the “kvm” group, then log out and in again.\n"),
                  path);
      break;
    case -ENOTTY:
      g_printerr (_("vivarium-vmm: KVM is not usable: %s is not a KVM device.\n"), path);
      break;
    case -EPROTO:
      g_printerr (_("vivarium-vmm: KVM is not usable: %s speaks API version %d, "
                    "version %d is needed.\n"),
                  path, kvm->api_version, 12);
      break;
    default:
      g_printerr (_("vivarium-vmm: KVM is not usable: cannot open %s: %s\n"),
                  path, g_strerror (-err));
      break;
    }
}

/* Opens KVM and checks every capability the engine needs. On failure prints
 * why and returns EXIT_NO_KVM; with VERBOSE, prints the capability table. */
static int
check_kvm (const char *path, gboolean verbose, struct vmm_kvm *kvm)
{
  const struct vmm_kvm_cap *caps, *missing = NULL;
  size_t n_caps;
  int ret;

  ret = vmm_kvm_open (kvm, path);
  if (ret < 0)
    {
      print_kvm_error (path, ret, kvm);
      return EXIT_NO_KVM;
    }

  if (verbose)
    {
      caps = vmm_kvm_caps (&n_caps);
      g_print (_("KVM device: %s\n"), path);
      g_print (_("API version: %d\n"), kvm->api_version);
      g_print (_("Maximum vCPUs: %d\n"), kvm->max_vcpus);
      for (size_t i = 0; i < n_caps; i++)
        {
          int value = vmm_kvm_check_extension (kvm, caps[i].id);
          g_print ("%-28s %-8s %s\n", caps[i].name,
                   value > 0 ? _("yes") : _("no"),
                   caps[i].required ? _("required") : _("optional"));
        }
    }

  ret = vmm_kvm_check_required (kvm, &missing);
  if (ret < 0)
    {
      g_printerr (_("vivarium-vmm: KVM is not usable: the kernel lacks %s, which the engine "
                    "needs. A newer kernel is required.\n"),
                  missing->name);
      vmm_kvm_close (kvm);
      return EXIT_NO_KVM;
    }

  if (verbose)
    g_print (_("KVM is usable.\n"));
  return EXIT_OK;
}

int
main (int argc, char *argv[])
{
  struct options opts = { 0 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  struct vmm_kvm kvm = { .fd = -1 };
  const char *kvm_path;
  int status;

  const GOptionEntry entries[] = {
    { "machine", 0, 0, G_OPTION_ARG_FILENAME, &opts.machine,
      N_("Run the machine in this folder (its machine.json) and serve org.vivarium.Vmm1 on "
         "$XDG_RUNTIME_DIR/vivarium/UUID.sock"), N_("DIR") },
    { "kernel", 'k', 0, G_OPTION_ARG_FILENAME, &opts.kernel,
      N_("Boot this kernel: a bzImage or a PVH ELF"), N_("FILE") },
    { "initrd", 'i', 0, G_OPTION_ARG_FILENAME, &opts.initrd,
      N_("Load this initial ramdisk"), N_("FILE") },
    { "cmdline", 'c', 0, G_OPTION_ARG_STRING, &opts.cmdline,
      N_("The kernel command line"), N_("STRING") },
    { "memory", 'm', 0, G_OPTION_ARG_STRING, &opts.memory,
      N_("Guest memory, for example 512M or 2G (default 512M)"), N_("SIZE") },
    { "cpus", 0, 0, G_OPTION_ARG_INT, &opts.cpus,
      N_("Number of virtual CPUs (default 1)"), N_("N") },
    { "serial", 0, 0, G_OPTION_ARG_STRING, &opts.serial,
      N_("Where COM1 goes: stdio, file:PATH or none (default stdio)"), N_("WHERE") },
    { "disk", 'd', 0, G_OPTION_ARG_STRING_ARRAY, &opts.disks,
      N_("Add a virtio disk (repeatable)"),
      N_("PATH[,format=raw|qcow2][,readonly=on][,cache=writeback|none]") },
    { "aio", 0, 0, G_OPTION_ARG_STRING, &opts.aio,
      N_("How disk I/O runs: io_uring (the default where the kernel has it) or threads"),
      N_("io_uring|threads") },
    { "console", 0, 0, G_OPTION_ARG_STRING, &opts.console,
      N_("Give the guest a virtio console: stdio, file:PATH, socket:PATH or none"), N_("WHERE") },
    { "port", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opts.ports,
      N_("Add a named virtio-console port, connected to a unix socket if given (repeatable)"),
      N_("NAME[,socket=PATH]") },
    { "rng", 0, 0, G_OPTION_ARG_NONE, &opts.rng,
      N_("Give the guest a virtio-rng entropy device"), NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opts.verbose,
      N_("Log more about what the engine does"), NULL },
    { "check-kvm", 0, 0, G_OPTION_ARG_NONE, &opts.check_kvm,
      N_("Check that KVM is usable, print its capabilities and exit"), NULL },
    { "kvm-device", 0, 0, G_OPTION_ARG_FILENAME, &opts.kvm_device,
      N_("Use this KVM device instead of /dev/kvm"), N_("PATH") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opts.version,
      N_("Print the version and exit"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE,
                  g_getenv ("VIVARIUM_LOCALEDIR") ? g_getenv ("VIVARIUM_LOCALEDIR") : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* vivarium-vmm img create|info|check ...: disk images without QEMU */
  if (argc > 1 && g_str_equal (argv[1], "img"))
    return vmm_img_main (argc - 1, argv + 1);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                _("Runs one Vivarium virtual machine on KVM."));
  g_option_context_set_description (context,
                                    _("Exit status: 0 when the guest powered off (or the engine was "
                                      "stopped by SIGTERM or SIGINT), 1 on an error, 2 when KVM is "
                                      "missing or unusable, 3 when the guest reset itself (with "
                                      "--kernel; with --machine it boots again), 4 when another "
                                      "vivarium-vmm already runs the machine."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      g_printerr (_("Run “vivarium-vmm --help” to see the options.\n"));
      status = EXIT_FAILED;
      goto out;
    }

  if (opts.version)
    {
      g_print ("vivarium-vmm %s\n", PACKAGE_VERSION);
      status = EXIT_OK;
      goto out;
    }

  kvm_path = opts.kvm_device != NULL ? opts.kvm_device : VMM_KVM_DEFAULT_PATH;
  status = check_kvm (kvm_path, opts.check_kvm, &kvm);
  if (status != EXIT_OK || opts.check_kvm)
    goto out;

  if (opts.machine != NULL)
    {
      struct vmm_service_options service = {
        .machine_dir = opts.machine,
        .kvm_path = opts.kvm_device,
        .verbose = opts.verbose,
      };

      if (opts.kernel != NULL)
        {
          g_printerr (_("vivarium-vmm: --machine and --kernel do not go together: the machine "
                        "says what it boots.\n"));
          status = EXIT_FAILED;
          goto out;
        }
      vmm_kvm_close (&kvm);
      status = vmm_service_run (&service);
      goto out;
    }
  if (opts.kernel == NULL)
    {
      g_printerr (_("vivarium-vmm: nothing to run: give a machine with --machine DIR or a kernel "
                    "with --kernel FILE.\n"));
      status = EXIT_FAILED;
      goto out;
    }
  vmm_kvm_close (&kvm);
  if (opts.verbose)
    vmm_log_set_level (VMM_LOG_DEBUG);
  status = run_vm (&opts, kvm_path);

out:
  vmm_kvm_close (&kvm);
  options_clear (&opts);
  return status;
}
