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
#include "vm-snapshot.h"
#include "control/service.h"
#include "kvm/kvm.h"
#include "log.h"
#include "vm.h"

#ifdef __SANITIZE_ADDRESS__
/* Built with AddressSanitizer (the test builds): spice-server 0.15
 * allocates the keyboard's and the mouse's state when they are added and
 * never frees it (it cannot remove them; spice_server_destroy leaves
 * them). The helper says so itself, as every test that starts one with a
 * display would otherwise fail on it. Matching needs the whole stack
 * (GLib's allocator has no frame pointers), hence the slow unwinder; our
 * own leaks are still found. */
const char *__asan_default_options (void);
const char *__lsan_default_suppressions (void);

const char *
__asan_default_options (void)
{
  return "fast_unwind_on_malloc=0";
}

const char *
__lsan_default_suppressions (void)
{
  return "leak:spice_server_add_interface\n";
}
#endif

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
  char *restore;
  char **disks;
  char *aio;
  char *display;
  char *firmware;
  char *debugcon;
  char *net;
  char **cdroms;
  char *boot;
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
  g_free (opts->restore);
  g_strfreev (opts->disks);
  g_free (opts->aio);
  g_free (opts->display);
  g_free (opts->firmware);
  g_free (opts->debugcon);
  g_free (opts->net);
  g_strfreev (opts->cdroms);
  g_free (opts->boot);
}

static int
run_vm (const struct options *opts, const char *kvm_path)
{
  struct vmm_config_args args = {
    .kvm_path = kvm_path,
    .kernel = opts->kernel,
    .initrd = opts->initrd,
    .cmdline = opts->cmdline,
    .memory = opts->memory,
    .serial = opts->serial,
    .console = opts->console,
    .ports = (const char *const *) opts->ports,
    .disks = (const char *const *) opts->disks,
    .aio = opts->aio,
    .display = opts->display,
    .firmware = opts->firmware,
    .debugcon = opts->debugcon,
    .net = opts->net,
    .cdroms = (const char *const *) opts->cdroms,
    .boot = opts->boot,
    .rng = opts->rng,
  };
  g_autoptr(GError) error = NULL;
  struct vmm_config config = { 0 };
  struct vmm_vm *vm;
  enum vmm_exit_reason reason;
  const char *message = NULL;
  int status;

  /* GOption takes any int. Checked here, not in vm-config.c, because the
   * message, as translated, carries the program's name. */
  if (opts->cpus < 0)
    {
      g_printerr (_("vivarium-vmm: --cpus must be a positive number\n"));
      return EXIT_FAILED;
    }
  args.cpus = (unsigned) opts->cpus;
  if (!vmm_config_from_args (&config, &args, &error))
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      vmm_config_clear (&config);
      return EXIT_FAILED;
    }

  vm = vmm_vm_create (&config, &error);
  if (vm == NULL)
    {
      g_printerr ("vivarium-vmm: %s\n", error->message);
      vmm_config_clear (&config);
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
  vmm_config_clear (&config);
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
    { "restore", 0, 0, G_OPTION_ARG_STRING, &opts.restore,
      N_("With --machine: start from this snapshot of the running machine instead of booting"),
      N_("ID") },
    { "firmware", 0, 0, G_OPTION_ARG_STRING, &opts.firmware,
      N_("Start the firmware, which boots the disks and discs: bios (SeaBIOS) or uefi (OVMF), "
         "from Debian's packages unless a file is given"),
      N_("bios|uefi[,file=PATH][,vars=PATH][,menu-wait=MS]") },
    { "net", 0, 0, G_OPTION_ARG_STRING, &opts.net,
      N_("A network card: user-mode NAT with optional port forwards from this host, an "
         "existing tap device, passt, or none (the default)"),
      N_("user[,mac=MAC][,hostfwd=tcp:127.0.0.1:2222-:22]|tap=NAME|passt|none") },
    { "debugcon", 0, 0, G_OPTION_ARG_FILENAME, &opts.debugcon,
      N_("Write the firmware's debug log (port 0x402) to this file"), N_("FILE") },
    { "kernel", 'k', 0, G_OPTION_ARG_FILENAME, &opts.kernel,
      N_("Boot this kernel: a bzImage or a PVH ELF (with --firmware, the firmware boots it: "
         "a bzImage only)"), N_("FILE") },
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
      N_("Add a disk, on virtio unless bus=sata (repeatable)"),
      N_("PATH[,format=raw|qcow2][,readonly=on][,cache=writeback|none][,bus=virtio|sata]") },
    { "cdrom", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &opts.cdroms,
      N_("Add a SATA CD-ROM drive with this disc, or an empty one (repeatable)"),
      N_("PATH|empty") },
    { "boot", 0, 0, G_OPTION_ARG_STRING, &opts.boot,
      N_("What the firmware boots first (default: disks, then discs)"),
      N_("order=disk,cdrom") },
    { "aio", 0, 0, G_OPTION_ARG_STRING, &opts.aio,
      N_("How disk I/O runs: io_uring (the default where the kernel has it) or threads"),
      N_("io_uring|threads") },
    { "console", 0, 0, G_OPTION_ARG_STRING, &opts.console,
      N_("Give the guest a virtio console: stdio, file:PATH, socket:PATH or none"), N_("WHERE") },
    { "port", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opts.ports,
      N_("Add a named virtio-console port, connected to a unix socket if given (repeatable)"),
      N_("NAME[,socket=PATH]") },
    { "display", 0, 0, G_OPTION_ARG_STRING, &opts.display,
      N_("Give the guest a screen, keyboard and tablet shown over SPICE, with a unix socket "
         "for SPICE clients if given (default none)"),
      N_("spice[,socket=PATH]|none") },
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
  /* vivarium-vmm snapshot --machine DIR ...: the snapshots of a machine that is off */
  if (argc > 1 && g_str_equal (argv[1], "snapshot"))
    return vmm_snapshot_cli_main (argc - 1, argv + 1);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Runs one Vivarium virtual machine on KVM."));
  g_option_context_set_description (context,
                                    _("Exit status: 0 when the guest powered off (or the engine "
                                      "was stopped by SIGTERM or SIGINT), 1 on an error, 2 when "
                                      "KVM is missing or unusable, 3 when the guest reset "
                                      "itself (with --kernel; with --machine it boots again), 4 "
                                      "when another vivarium-vmm already runs the machine."));
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
        .restore_id = opts.restore,
      };

      if (opts.kernel != NULL || opts.firmware != NULL)
        {
          g_printerr (_("vivarium-vmm: --machine does not go with --kernel or --firmware: the "
                        "machine says what it boots.\n"));
          status = EXIT_FAILED;
          goto out;
        }
      vmm_kvm_close (&kvm);
      status = vmm_service_run (&service);
      goto out;
    }
  if (opts.restore != NULL)
    {
      g_printerr (_("vivarium-vmm: --restore needs the machine: give it with --machine DIR.\n"));
      status = EXIT_FAILED;
      goto out;
    }
  if (opts.kernel == NULL && opts.firmware == NULL)
    {
      g_printerr (_("vivarium-vmm: nothing to run: give a machine with --machine DIR, a kernel "
                    "with --kernel FILE or firmware with --firmware bios.\n"));
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
