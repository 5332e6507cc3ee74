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

#include "kvm/kvm.h"

/* Exit statuses, documented in --help. */
enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,   /* bad arguments, or the VM could not be built or run */
  EXIT_NO_KVM = 2,   /* KVM is missing or unusable on this computer */
};

struct options {
  gboolean version;
  gboolean check_kvm;
  char *kvm_device;
};

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

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
                                _("Runs one Vivarium virtual machine on KVM."));
  g_option_context_set_description (context,
                                    _("Exit status: 0 when the guest powered off, 1 on an error, "
                                      "2 when KVM is missing or unusable."));
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

  g_printerr (_("vivarium-vmm: nothing to run: give a kernel with --kernel FILE.\n"));
  status = EXIT_FAILED;

out:
  vmm_kvm_close (&kvm);
  g_free (opts.kvm_device);
  return status;
}
