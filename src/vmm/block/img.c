/* block/img.c: vivarium-vmm img, disk images without QEMU
 *
 *   img create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o cluster_size=N] PATH [SIZE]
 *   img info [--output=json] PATH
 *   img check PATH
 *   img snapshot -c NAME | -a NAME | -d NAME | -l PATH   (like qemu-img snapshot)
 *   img snapshot --rename OLD NEW PATH
 *
 * Exit statuses follow qemu-img where it has one: check gives 0 for a clean
 * image, 2 for corruptions, 3 for leaks only, 1 when the check could not
 * be done.
 *
 * Some subcommands are for tests and not listed in the help: write-pattern,
 * read-pattern (writes or verifies bytes derived from a seed and their
 * offset), discard, write-zeroes and dump (the guest's view into a raw file).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "block/img.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gi18n.h>
#include <libintl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/block.h"
#include "viv-size.h"

enum {
  IMG_OK = 0,
  IMG_FAILED = 1,
  IMG_CORRUPT = 2,
  IMG_LEAKS = 3,
};

#define PROG "vivarium-vmm img"

static void
print_help (void)
{
  g_print ("%s\n\n", _("Usage: vivarium-vmm img COMMAND [OPTION…] ARGUMENTS"));
  g_print ("%s\n\n", _("Creates, describes and checks disk images (raw and qcow2)."));
  g_print ("%s\n", _("Commands:"));
  g_print ("  create [-f raw|qcow2] [-b BACKING [-F FORMAT]] [-o cluster_size=N] PATH [SIZE]\n");
  g_print ("      %s\n", _("Create an image (qcow2 unless -f says otherwise). SIZE is like 20G; "
                           "with a backing file it defaults to the backing file’s size."));
  g_print ("  info [--output=human|json] PATH\n");
  g_print ("      %s\n", _("Show the format, sizes, backing file and snapshots of an image."));
  g_print ("  check PATH\n");
  g_print ("      %s\n", _("Check the consistency of an image."));
  g_print ("  snapshot -c NAME | -a NAME | -d NAME | -l  PATH\n");
  g_print ("      %s\n\n", _("Take (-c), revert to (-a), delete (-d) or list (-l) the internal "
                           "snapshots of a qcow2 image."));
  g_print ("%s\n", _("Run “vivarium-vmm img COMMAND --help” for a command’s options."));
  g_print ("%s\n", _("Exit status of check: 0 when the image is clean, 2 when it is corrupt, "
                     "3 when it only leaks clusters, 1 when it cannot be checked."));
}

static void
fail_message (const char *what, const GError *error)
{
  g_printerr ("%s: %s: %s\n", PROG, what, error->message);
}

static gboolean
parse_format (const char *text, enum vmm_block_format *format)
{
  if (text == NULL)
    return TRUE;
  if (g_str_equal (text, "raw"))
    *format = VMM_BLOCK_FORMAT_RAW;
  else if (g_str_equal (text, "qcow2"))
    *format = VMM_BLOCK_FORMAT_QCOW2;
  else
    {
      g_printerr (_("%s: unknown image format “%s” (use raw or qcow2)\n"), PROG, text);
      return FALSE;
    }
  return TRUE;
}

/* Parses a GOption context over ARGV; prints the error on failure. */
static gboolean
parse_options (GOptionContext *context, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      g_printerr ("%s: %s\n", PROG, error->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- create ------------------------------------------------------------------ */

static gboolean
parse_create_options (const char *text, struct vmm_block_create_opts *opts)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);

  for (guint i = 0; items[i] != NULL; i++)
    {
      const char *eq = strchr (items[i], '=');
      g_autoptr (GError) error = NULL;
      guint64 value;

      if (items[i][0] == '\0')
        continue;
      if (eq == NULL || strncmp (items[i], "cluster_size", (size_t) (eq - items[i])) != 0
          || eq - items[i] != (ptrdiff_t) strlen ("cluster_size"))
        {
          g_printerr (_("%s: unknown creation option “%s” (only cluster_size is known)\n"),
                      PROG, items[i]);
          return FALSE;
        }
      if (!viv_size_parse (eq + 1, &value, &error) || value > G_MAXUINT32)
        {
          g_printerr (_("%s: invalid cluster size “%s”\n"), PROG, eq + 1);
          return FALSE;
        }
      opts->cluster_size = (uint32_t) value;
    }
  return TRUE;
}

static int
cmd_create (int argc, char **argv)
{
  g_autofree char *format = NULL, *backing = NULL, *backing_format = NULL, *options = NULL;
  g_autoptr (GOptionContext) context = NULL;
  struct vmm_block_create_opts opts = {
    .format = VMM_BLOCK_FORMAT_QCOW2,
    .backing_format = VMM_BLOCK_FORMAT_AUTO,
  };
  GOptionEntry entries[] = {
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format,
      N_("Image format: raw or qcow2 (default qcow2)"), N_("FORMAT") },
    { "backing", 'b', 0, G_OPTION_ARG_FILENAME, &backing,
      N_("Backing file (relative names are relative to the new image)"), N_("FILE") },
    { "backing-format", 'F', 0, G_OPTION_ARG_STRING, &backing_format,
      N_("Format of the backing file (detected when not given)"), N_("FORMAT") },
    { "options", 'o', 0, G_OPTION_ARG_STRING, &options,
      N_("Format options: cluster_size=SIZE (qcow2, 512 to 2M, default 64K)"), N_("OPTIONS") },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GError) error = NULL;

  context = g_option_context_new (_("PATH [SIZE]"));
  g_option_context_set_summary (context, _("Creates a disk image."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv))
    return IMG_FAILED;
  if (!parse_format (format, &opts.format) || !parse_format (backing_format, &opts.backing_format))
    return IMG_FAILED;
  if (options != NULL && !parse_create_options (options, &opts))
    return IMG_FAILED;
  if (argc < 2 || argc > 3)
    {
      g_printerr (_("%s: create needs a path and a size (the size may be left out with a "
                    "backing file)\n"), PROG);
      return IMG_FAILED;
    }
  opts.path = argv[1];
  opts.backing_file = backing;
  if (argc == 3)
    {
      g_autoptr (GError) gerror = NULL;
      guint64 size;
      if (!viv_size_parse (argv[2], &size, &gerror))
        {
          g_printerr (_("%s: invalid size “%s”: %s\n"), PROG, argv[2], gerror->message);
          return IMG_FAILED;
        }
      opts.size = size;
    }
  else if (backing == NULL)
    {
      g_printerr (_("%s: create needs a size when there is no backing file\n"), PROG);
      return IMG_FAILED;
    }

  if (vmm_block_create (&opts, &error) < 0)
    {
      fail_message (_("cannot create the image"), error);
      return IMG_FAILED;
    }
  return IMG_OK;
}

/* ---- info -------------------------------------------------------------------- */

/* A JSON string: quotes, backslashes and control characters escaped; bytes
 * that are not UTF-8 are written as the Latin-1 characters they would be. */
static void
json_string (GString *out, const char *s)
{
  gboolean utf8 = g_utf8_validate (s, -1, NULL);

  g_string_append_c (out, '"');
  for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (out, "\\%c", *p);
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else if (*p == '\t')
        g_string_append (out, "\\t");
      else if (*p < 0x20 || *p == 0x7f || (!utf8 && *p >= 0x80))
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  g_string_append_c (out, '"');
}

static void
print_info_json (const char *path, const struct vmm_block_image_info *info)
{
  g_autoptr (GString) out = g_string_new ("{\n");

  g_string_append (out, "    \"filename\": ");
  json_string (out, path);
  g_string_append_printf (out, ",\n    \"format\": \"%s\"", vmm_block_format_name (info->format));
  g_string_append_printf (out, ",\n    \"virtual-size\": %" G_GUINT64_FORMAT, info->virtual_size);
  g_string_append_printf (out, ",\n    \"actual-size\": %" G_GUINT64_FORMAT, info->actual_size);
  if (info->format == VMM_BLOCK_FORMAT_QCOW2)
    {
      g_string_append_printf (out, ",\n    \"cluster-size\": %u", info->cluster_size);
      g_string_append_printf (out, ",\n    \"dirty-flag\": %s", info->dirty ? "true" : "false");
      if (info->backing_file != NULL)
        {
          g_string_append (out, ",\n    \"backing-filename\": ");
          json_string (out, info->backing_file);
        }
      if (info->backing_format != NULL)
        {
          g_string_append (out, ",\n    \"backing-filename-format\": ");
          json_string (out, info->backing_format);
        }
      if (info->n_snapshots > 0)
        {
          g_string_append (out, ",\n    \"snapshots\": [");
          for (unsigned i = 0; i < info->n_snapshots; i++)
            {
              const struct vmm_block_snapshot_info *s = &info->snapshots[i];
              g_string_append (out, i ? ",\n        {" : "\n        {");
              g_string_append (out, "\n            \"id\": ");
              json_string (out, s->id);
              g_string_append (out, ",\n            \"name\": ");
              json_string (out, s->name);
              g_string_append_printf (out, ",\n            \"vm-state-size\": %" G_GUINT64_FORMAT,
                                      s->vm_state_size);
              g_string_append_printf (out, ",\n            \"date-sec\": %" G_GUINT64_FORMAT,
                                      s->date_sec);
              g_string_append (out, "\n        }");
            }
          g_string_append (out, "\n    ]");
        }
      g_string_append_printf (out, ",\n    \"format-specific\": {\n        \"type\": \"qcow2\","
                              "\n        \"data\": {\n            \"compat\": \"%s\","
                              "\n            \"compression-type\": \"%s\","
                              "\n            \"lazy-refcounts\": %s",
                              info->qcow2_version >= 3 ? "1.1" : "0.10",
                              info->compression_type == 1 ? "zstd" : "zlib",
                              info->lazy_refcounts ? "true" : "false");
      if (info->n_bitmaps > 0)
        {
          g_string_append (out, ",\n            \"bitmaps\": [");
          for (unsigned i = 0; i < info->n_bitmaps; i++)
            {
              const struct vmm_block_bitmap_info *bm = &info->bitmaps[i];
              g_string_append (out, i ? ",\n                {" : "\n                {");
              g_string_append_printf (out, "\n                    \"flags\": [%s%s%s],",
                                      bm->in_use ? "\"in-use\"" : "",
                                      bm->in_use && bm->tracks_writes ? ", " : "",
                                      bm->tracks_writes ? "\"auto\"" : "");
              g_string_append (out, "\n                    \"name\": ");
              json_string (out, bm->name);
              g_string_append_printf (out, ",\n                    \"granularity\": %"
                                      G_GUINT64_FORMAT "\n                }", bm->granularity);
            }
          g_string_append (out, "\n            ]");
        }
      g_string_append_printf (out, ",\n            \"refcount-bits\": %u,"
                              "\n            \"corrupt\": %s\n        }\n    }",
                              info->refcount_bits, info->corrupt ? "true" : "false");
    }
  g_string_append (out, "\n}\n");
  fputs (out->str, stdout);
}

static void
print_info_human (const char *path, const struct vmm_block_image_info *info)
{
  g_autofree char *vsize = viv_size_format (info->virtual_size);
  g_autofree char *asize = viv_size_format (info->actual_size);

  g_print (_("image: %s\n"), path);
  g_print (_("file format: %s\n"), vmm_block_format_name (info->format));
  g_print (_("virtual size: %s (%llu bytes)\n"), vsize, (unsigned long long) info->virtual_size);
  g_print (_("disk size: %s\n"), asize);
  if (info->format != VMM_BLOCK_FORMAT_QCOW2)
    return;
  g_print (_("cluster size: %u\n"), info->cluster_size);
  g_print (_("qcow2 version: %u\n"), info->qcow2_version);
  g_print (_("compression type: %s\n"), info->compression_type == 1 ? "zstd" : "zlib");
  if (info->backing_file != NULL)
    g_print (_("backing file: %s\n"), info->backing_file);
  if (info->backing_format != NULL)
    g_print (_("backing file format: %s\n"), info->backing_format);
  g_print (_("lazy refcounts: %s\n"), info->lazy_refcounts ? "true" : "false");
  g_print (_("refcount bits: %u\n"), info->refcount_bits);
  g_print (_("corrupt: %s\n"), info->corrupt ? "true" : "false");
  if (info->corrupt)
    g_print ("%s\n", _("The image is marked corrupt: it opens read-only until "
                       "“qemu-img check -r all” repairs it."));
  if (info->dirty)
    g_print ("%s\n", _("The image was not closed cleanly (dirty bit set)."));
  if (info->n_bitmaps > 0)
    {
      g_print ("%s\n", _("Bitmaps:"));
      for (unsigned i = 0; i < info->n_bitmaps; i++)
        {
          const struct vmm_block_bitmap_info *bm = &info->bitmaps[i];
          g_print (_("  %s: granularity %llu%s%s\n"), bm->name,
                   (unsigned long long) bm->granularity,
                   bm->tracks_writes ? _(", auto (tracks writes)") : "",
                   bm->in_use ? _(", in use (not consistent: QEMU will not use it)") : "");
        }
    }
  if (info->n_snapshots > 0)
    {
      g_print ("%s\n", _("Snapshot list:"));
      g_print ("%-10s %-20s %12s  %s\n", _("ID"), _("TAG"), _("VM SIZE"), _("DATE"));
      for (unsigned i = 0; i < info->n_snapshots; i++)
        {
          const struct vmm_block_snapshot_info *s = &info->snapshots[i];
          g_autofree char *vm = viv_size_format (s->vm_state_size);
          g_autoptr (GDateTime) dt = g_date_time_new_from_unix_local ((gint64) s->date_sec);
          g_autofree char *date = dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M:%S") : NULL;
          g_print ("%-10s %-20s %12s  %s\n", s->id, s->name, vm, date ? date : "");
        }
    }
}

static int
cmd_info (int argc, char **argv)
{
  g_autofree char *output = NULL;
  g_autoptr (GOptionContext) context = NULL;
  GOptionEntry entries[] = {
    { "output", 0, 0, G_OPTION_ARG_STRING, &output,
      N_("Output format: human or json (default human)"), N_("FORMAT") },
    G_OPTION_ENTRY_NULL
  };
  struct vmm_block_image_info info;
  g_autoptr (GError) error = NULL;

  context = g_option_context_new (_("PATH"));
  g_option_context_set_summary (context, _("Describes a disk image."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv))
    return IMG_FAILED;
  if (output != NULL && !g_str_equal (output, "human") && !g_str_equal (output, "json"))
    {
      g_printerr (_("%s: unknown output format “%s” (use human or json)\n"), PROG, output);
      return IMG_FAILED;
    }
  if (argc != 2)
    {
      g_printerr (_("%s: info needs one image path\n"), PROG);
      return IMG_FAILED;
    }
  if (vmm_block_info (argv[1], &info, &error) < 0)
    {
      fail_message (_("cannot read the image"), error);
      return IMG_FAILED;
    }
  if (output != NULL && g_str_equal (output, "json"))
    print_info_json (argv[1], &info);
  else
    print_info_human (argv[1], &info);
  vmm_block_image_info_clear (&info);
  return IMG_OK;
}

/* ---- check ------------------------------------------------------------------- */

static int
cmd_check (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  GOptionEntry entries[] = { G_OPTION_ENTRY_NULL };
  struct vmm_block_check_result res;
  g_autoptr (GError) error = NULL;
  int status;

  context = g_option_context_new (_("PATH"));
  g_option_context_set_summary (context, _("Checks the consistency of a disk image, like "
                                           "qemu-img check. Exit status: 0 clean, 2 corrupt, "
                                           "3 leaked clusters only, 1 not checked."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv))
    return IMG_FAILED;
  if (argc != 2)
    {
      g_printerr (_("%s: check needs one image path\n"), PROG);
      return IMG_FAILED;
    }
  if (vmm_block_check (argv[1], &res, &error) < 0)
    {
      fail_message (_("cannot check the image"), error);
      return IMG_FAILED;
    }
  if (res.first_problem != NULL)
    g_print (_("ERROR: %s\n"), res.first_problem);
  if (res.corruptions == 0 && res.leaks == 0)
    g_print ("%s\n", _("No errors were found on the image."));
  if (res.corruptions > 0)
    {
      g_print (ngettext ("%llu error was found on the image.\n",
                         "%llu errors were found on the image.\n",
                         (unsigned long) res.corruptions), (unsigned long long) res.corruptions);
      g_print ("%s\n", _("Data may be corrupted, or further writes to the image may corrupt "
                         "it."));
    }
  if (res.leaks > 0)
    {
      g_print (ngettext ("%llu leaked cluster was found on the image.\n",
                         "%llu leaked clusters were found on the image.\n",
                         (unsigned long) res.leaks), (unsigned long long) res.leaks);
      g_print ("%s\n", _("This means waste of disk space, but no harm to data."));
    }
  if (res.total_clusters > 0)
    g_print (_("%llu/%llu = %.2f%% allocated\n"),
             (unsigned long long) res.allocated_clusters,
             (unsigned long long) res.total_clusters,
             100.0 * (double) res.allocated_clusters / (double) res.total_clusters);
  status = res.corruptions > 0 ? IMG_CORRUPT : res.leaks > 0 ? IMG_LEAKS : IMG_OK;
  free (res.first_problem);
  return status;
}

/* ---- snapshot ------------------------------------------------------------------ */

static void
print_snapshots (const struct vmm_block_snapshot_info *sn, unsigned n)
{
  if (n == 0)
    return;
  g_print ("%s\n", _("Snapshot list:"));
  g_print ("%-10s%-17s%11s%20s%15s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK");
  for (unsigned i = 0; i < n; i++)
    {
      g_autoptr (GDateTime) date = g_date_time_new_from_unix_local ((gint64) sn[i].date_sec);
      g_autofree char *when = date != NULL ? g_date_time_format (date, "%Y-%m-%d %H:%M:%S")
                                           : g_strdup ("-");
      uint64_t ms = sn[i].vm_clock_nsec / 1000000;
      g_print ("%-10s%-17s%11" G_GUINT64_FORMAT "%20s %04" G_GUINT64_FORMAT ":%02u:%02u.%03u\n",
               sn[i].id, sn[i].name, sn[i].vm_state_size, when, ms / 3600000,
               (unsigned) (ms / 60000 % 60), (unsigned) (ms / 1000 % 60), (unsigned) (ms % 1000));
    }
}

static int
cmd_snapshot (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autofree char *create = NULL, *apply = NULL, *delete = NULL;
  gboolean list = FALSE, rename = FALSE;
  GOptionEntry entries[] = {
    { "create", 'c', 0, G_OPTION_ARG_STRING, &create, N_("Take a snapshot named NAME"),
      N_("NAME") },
    { "apply", 'a', 0, G_OPTION_ARG_STRING, &apply, N_("Revert the disk to snapshot NAME"),
      N_("NAME") },
    { "delete", 'd', 0, G_OPTION_ARG_STRING, &delete, N_("Delete snapshot NAME"), N_("NAME") },
    { "list", 'l', 0, G_OPTION_ARG_NONE, &list, N_("List the snapshots"), NULL },
    { "rename", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &rename, NULL, NULL },
    G_OPTION_ENTRY_NULL
  };
  struct vmm_block_open_opts opts = { .format = VMM_BLOCK_FORMAT_AUTO };
  struct vmm_block *b = NULL;
  g_autoptr (GError) error = NULL;
  int ops, ret, want_args;

  context = g_option_context_new (_("PATH"));
  g_option_context_set_summary (context, _("Takes, reverts to, deletes or lists the internal "
                                           "snapshots of a qcow2 image, like qemu-img "
                                           "snapshot. The image must not be in use."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!parse_options (context, &argc, &argv))
    return IMG_FAILED;
  ops = (create != NULL) + (apply != NULL) + (delete != NULL) + (list != FALSE)
        + (rename != FALSE);
  want_args = rename ? 4 : 2;
  if (ops != 1 || argc != want_args)
    {
      g_printerr (_("%s: snapshot needs one of -c NAME, -a NAME, -d NAME, -l (or --rename OLD "
                    "NEW) and one image path\n"), PROG);
      return IMG_FAILED;
    }
  opts.path = argv[argc - 1];
  opts.read_only = list;
  ret = vmm_block_open (&b, &opts, &error);
  if (ret < 0)
    {
      fail_message (_("cannot open the image"), error);
      return IMG_FAILED;
    }
  if (list)
    {
      struct vmm_block_snapshot_info *sn = NULL;
      unsigned n = 0;
      ret = vmm_block_snapshot_list (b, &sn, &n);
      if (ret == 0)
        print_snapshots (sn, n);
      else
        error = g_error_new_literal (VMM_BLOCK_ERROR, -ret, g_strerror (-ret));
      vmm_block_snapshot_info_free (sn, n);
    }
  else if (create != NULL)
    ret = vmm_block_snapshot_create (b, create, &error);
  else if (apply != NULL)
    ret = vmm_block_snapshot_apply (b, apply, &error);
  else if (delete != NULL)
    ret = vmm_block_snapshot_delete (b, delete, &error);
  else
    ret = vmm_block_snapshot_rename (b, argv[1], argv[2], &error);
  if (ret < 0)
    fail_message (_("snapshot"), error);
  if (vmm_block_close (b) < 0 && ret == 0)
    {
      g_printerr (_("%s: cannot write the image back\n"), PROG);
      ret = -EIO;
    }
  return ret < 0 ? IMG_FAILED : IMG_OK;
}

/* ---- for tests ------------------------------------------------------------------- */

/* The pattern byte at absolute OFFSET for SEED: splitmix64 of the word. */
static void
pattern_fill (uint8_t *buf, size_t len, uint64_t offset, uint64_t seed)
{
  for (size_t i = 0; i < len; i++)
    {
      uint64_t p = offset + i, z = (p / 8) ^ (seed * UINT64_C (0x9e3779b97f4a7c15));
      z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
      z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
      z ^= z >> 31;
      buf[i] = (uint8_t) (z >> (8 * (p % 8)));
    }
}

static gboolean
parse_u64 (const char *text, uint64_t *out)
{
  g_autoptr (GError) error = NULL;
  guint64 v;

  if (!viv_size_parse (text, &v, &error))
    {
      g_printerr ("%s: bad number %s\n", PROG, text);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

/* Debug commands: [-f FMT] PATH ARGS... */
static int
cmd_debug (const char *cmd, int argc, char **argv)
{
  struct vmm_block_open_opts opts = { .format = VMM_BLOCK_FORMAT_AUTO };
  bool reading = g_str_equal (cmd, "read-pattern") || g_str_equal (cmd, "dump");
  struct vmm_block *b = NULL;
  uint64_t a[3] = { 0, 0, 0 };
  int first = 1, nargs, ret = 0, status = IMG_OK;
  g_autoptr (GError) error = NULL;

  if (argc > 2 && g_str_equal (argv[1], "-f"))
    {
      if (!parse_format (argv[2], &opts.format))
        return IMG_FAILED;
      first = 3;
    }
  nargs = argc - first - 1;
  if (nargs < 0)
    {
      g_printerr ("%s: %s: missing arguments\n", PROG, cmd);
      return IMG_FAILED;
    }
  for (int i = 0; i < nargs && i < 3 && !g_str_equal (cmd, "dump"); i++)
    if (!(i == 2 && g_str_equal (cmd, "write-zeroes")) && !parse_u64 (argv[first + 1 + i], &a[i]))
      return IMG_FAILED;
  opts.path = argv[first];
  opts.read_only = reading;
  ret = vmm_block_open (&b, &opts, &error);
  if (ret < 0)
    {
      fail_message ("open", error);
      return IMG_FAILED;
    }

  if (g_str_equal (cmd, "snapshot"))
    {
      /* GOption names the program after argv[0] in --help and errors */
      argv[1] = (char *) PROG " snapshot";
      return cmd_snapshot (argc - 1, argv + 1);
    }
  if (g_str_equal (cmd, "write-pattern") || g_str_equal (cmd, "read-pattern"))
    {
      uint64_t off = a[0], len = a[1], seed = a[2];
      size_t chunk = 1 << 20;
      uint8_t *buf = g_malloc (chunk), *want = g_malloc (chunk);
      for (uint64_t done = 0; done < len && ret == 0 && status == IMG_OK;)
        {
          size_t n = (size_t) MIN (chunk, len - done);
          struct iovec iov = { buf, n };
          pattern_fill (want, n, off + done, seed);
          if (reading)
            {
              ret = vmm_block_preadv (b, &iov, 1, off + done);
              if (ret == 0 && memcmp (buf, want, n) != 0)
                {
                  g_printerr ("%s: mismatch in [%" G_GUINT64_FORMAT ", +%zu)\n", PROG,
                              off + done, n);
                  status = IMG_CORRUPT;
                }
            }
          else
            {
              iov.iov_base = want;
              ret = vmm_block_pwritev (b, &iov, 1, off + done);
            }
          done += n;
        }
      g_free (buf);
      g_free (want);
    }
  else if (g_str_equal (cmd, "discard"))
    ret = vmm_block_discard (b, a[0], a[1]);
  else if (g_str_equal (cmd, "write-zeroes"))
    ret = vmm_block_write_zeroes (b, a[0], a[1],
                                  nargs >= 3 && g_str_equal (argv[first + 3], "unmap"));
  else if (g_str_equal (cmd, "dump") && nargs >= 1)
    {
      int fd = open (argv[first + 1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      size_t chunk = 1 << 20;
      uint8_t *buf = g_malloc (chunk);
      uint64_t size = vmm_block_size (b);
      if (fd < 0)
        ret = -errno;
      for (uint64_t done = 0; fd >= 0 && done < size && ret == 0;)
        {
          size_t n = (size_t) MIN (chunk, size - done);
          struct iovec iov = { buf, n };
          ret = vmm_block_preadv (b, &iov, 1, done);
          if (ret == 0 && write (fd, buf, n) != (ssize_t) n)
            ret = -EIO;
          done += n;
        }
      if (fd >= 0)
        close (fd);
      g_free (buf);
    }
  if (ret == 0 && !reading)
    ret = vmm_block_flush (b);
  if (ret < 0)
    {
      g_printerr ("%s: %s: %s\n", PROG, cmd, g_strerror (-ret));
      status = IMG_FAILED;
    }
  if (vmm_block_close (b) < 0 && status == IMG_OK)
    status = IMG_FAILED;
  return status;
}

int
vmm_img_main (int argc, char **argv)
{
  const char *cmd;

  if (argc < 2 || g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")
      || g_str_equal (argv[1], "help"))
    {
      print_help ();
      return argc < 2 ? IMG_FAILED : IMG_OK;
    }
  cmd = argv[1];
  if (g_str_equal (cmd, "create"))
    {
      /* GOption names the program after argv[0] in --help and errors */
      argv[1] = (char *) PROG " create";
      return cmd_create (argc - 1, argv + 1);
    }
  if (g_str_equal (cmd, "info"))
    {
      /* GOption names the program after argv[0] in --help and errors */
      argv[1] = (char *) PROG " info";
      return cmd_info (argc - 1, argv + 1);
    }
  if (g_str_equal (cmd, "check"))
    {
      /* GOption names the program after argv[0] in --help and errors */
      argv[1] = (char *) PROG " check";
      return cmd_check (argc - 1, argv + 1);
    }
  if (g_str_equal (cmd, "snapshot"))
    {
      /* GOption names the program after argv[0] in --help and errors */
      argv[1] = (char *) PROG " snapshot";
      return cmd_snapshot (argc - 1, argv + 1);
    }
  if (g_str_equal (cmd, "write-pattern") || g_str_equal (cmd, "read-pattern")
      || g_str_equal (cmd, "discard") || g_str_equal (cmd, "write-zeroes")
      || g_str_equal (cmd, "dump"))
    return cmd_debug (cmd, argc - 1, argv + 1);
  g_printerr (_("%s: unknown command “%s”\n"), PROG, cmd);
  g_printerr (_("Run “vivarium-vmm img --help” to see the commands.\n"));
  return IMG_FAILED;
}
