/* viv-machine-creator.c: the wizard's choices, made into a machine
 *
 * The wizard fills a VivMachineCreator (a source, an OS, a name and
 * resources; nothing touches the disk until create), then
 * viv_machine_creator_create_async() does the work in a worker thread:
 *
 *   machines/.new-<uuid>/        a hidden staging folder, ignored by the
 *     disk.qcow2                 library (it skips names starting with a
 *     vmlinuz, initrd.gz         dot), made by our own block code (qcow2),
 *     machine.json               extracted from the ISO, or the imported disk
 *
 * then renames the staging folder to machines/<uuid> in one step. So the
 * machine appears complete or not at all, for this library, for its folder
 * monitor and for any other Vivarium; a failure or a cancellation removes
 * the staging folder, and with it everything started. (The alternative,
 * viv_library_create_machine() on the main thread, makes the folder itself
 * and would have the disk and boot files moved in afterwards: a machine
 * without its disk, for a moment, in the list.) While it works, the
 * creator holds the staging folder's lock (viv_library_lock_staging()):
 * should the app be killed, the next load of a library removes the folder,
 * and until then no library takes it for a leftover. Once renamed, the main
 * thread asks the library to load again, which adds the new folder at once
 * (the monitor would, a little later), and hands back the VivMachine.
 *
 * Sources:
 * - an installer ISO with direct kernel boot: the kernel and initrd the
 *   OS's media entry names are copied into the folder (boot kind "kernel",
 *   a minimal command line: viv_media_dup_kernel_cmdline()), the ISO is
 *   attached as a CD-ROM where it is (ISOs are large and read-only: no
 *   copy), and an empty qcow2 disk is made;
 * - an ISO for the firmware to boot: boot kind "firmware" (UEFI when the
 *   OS needs it, else BIOS), the ISO in a CD-ROM drive and a disk (on
 *   virtio when the OS has the driver, else SATA);
 * - a disk image: copied into the folder by default (COPY), so that the
 *   machine is self-contained: deleting it removes everything, and the
 *   original stays as it was (a downloaded cloud image serves several
 *   machines). Holes are kept and reflinks used where the file system
 *   can. REFERENCE uses the image where it is, by absolute path, for
 *   images too big to copy; the machine then writes to it, and deleting
 *   the machine leaves it;
 * - a kernel, initrd and command line of one's own: referenced where they
 *   are (whoever points at a kernel is usually building it: a copy would
 *   go stale), with a disk if a size is given;
 * - nothing but an OS (chosen from the list, with viv_machine_creator_set_os()):
 *   boot kind "firmware" and an empty disk chosen as for an ISO, for
 *   installation media to be attached later.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-machine-creator"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <linux/fs.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "viv-disk.h"
#include "viv-machine-creator.h"
#include "viv-os-catalog.h"
#include "viv-file.h"

#define COPY_CHUNK     (G_GUINT64_CONSTANT (8) << 20)
#define COPY_BUFFER    (1 << 20)
#define SECTOR_SIZE    512
/* Before this, and before this much is copied, a rate says little */
#define ESTIMATE_AFTER_US      (3 * G_USEC_PER_SEC)
#define ESTIMATE_AFTER_PERCENT 2

struct _VivMachineCreator
{
  GObject           parent_instance;

  VivLibrary       *library;
  VivCreatorSource  source;
  VivMedia         *media;
  char             *image_path;
  VivDiskImport     import;
  char             *kernel;
  char             *initrd;
  char             *cmdline;

  OsinfoOs         *os;          /* chosen; else the media's */
  char             *name;        /* chosen; else generated */
  guint64           memory;      /* 0: the OS's proposal */
  guint             cpus;        /* 0: the OS's proposal */
  guint64           disk_size;
  gboolean          disk_size_set;

  double            progress;
  const char       *stage;       /* translated, static */
  guint64           bytes_done;
  guint64           bytes_total;
  gint64            seconds_left;
  gboolean          busy;

  VivMachineCreatorTestHook test_hook;
  gpointer          test_hook_data;
};

G_DEFINE_FINAL_TYPE (VivMachineCreator, viv_machine_creator, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_PROGRESS,
  PROP_STAGE,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
viv_machine_creator_dispose (GObject *object)
{
  VivMachineCreator *self = VIV_MACHINE_CREATOR (object);

  g_clear_object (&self->library);
  g_clear_object (&self->media);
  g_clear_object (&self->os);

  G_OBJECT_CLASS (viv_machine_creator_parent_class)->dispose (object);
}

static void
viv_machine_creator_finalize (GObject *object)
{
  VivMachineCreator *self = VIV_MACHINE_CREATOR (object);

  g_free (self->image_path);
  g_free (self->kernel);
  g_free (self->initrd);
  g_free (self->cmdline);
  g_free (self->name);

  G_OBJECT_CLASS (viv_machine_creator_parent_class)->finalize (object);
}

static void
viv_machine_creator_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  VivMachineCreator *self = VIV_MACHINE_CREATOR (object);

  switch (prop_id)
    {
    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;
    case PROP_STAGE:
      g_value_set_string (value, self->stage);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
viv_machine_creator_class_init (VivMachineCreatorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = viv_machine_creator_dispose;
  object_class->finalize = viv_machine_creator_finalize;
  object_class->get_property = viv_machine_creator_get_property;

  /* From 0 to 1, while creating */
  properties[PROP_PROGRESS] = g_param_spec_double ("progress", NULL, NULL, 0, 1, 0, flags);
  /* What is being done, for people ("Copying the disk image") */
  properties[PROP_STAGE] = g_param_spec_string ("stage", NULL, NULL, NULL, flags);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
viv_machine_creator_init (VivMachineCreator *self)
{
  self->source = VIV_CREATOR_SOURCE_NONE;
  self->seconds_left = -1;
}

/**
 * viv_machine_creator_new:
 * @library: the library the machine goes into
 *
 * Returns: (transfer full): a creator with nothing chosen
 */
VivMachineCreator *
viv_machine_creator_new (VivLibrary *library)
{
  VivMachineCreator *self;

  g_return_val_if_fail (VIV_IS_LIBRARY (library), NULL);

  self = g_object_new (VIV_TYPE_MACHINE_CREATOR, NULL);
  self->library = g_object_ref (library);
  return self;
}

/**
 * viv_machine_creator_set_test_hook:
 * @self: a creator
 * @hook: (nullable): the hook, or %NULL
 * @user_data: data for @hook
 *
 * Tests only: see #VivMachineCreatorTestHook. A creation takes the hook
 * set when it starts into its worker thread; changing it meanwhile does
 * not touch that one.
 */
void
viv_machine_creator_set_test_hook (VivMachineCreator         *self,
                                   VivMachineCreatorTestHook  hook,
                                   gpointer                   user_data)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));

  self->test_hook = hook;
  self->test_hook_data = user_data;
}

/* ---- choices ----------------------------------------------------------------------- */

static void
clear_source (VivMachineCreator *self)
{
  g_clear_object (&self->media);
  g_clear_pointer (&self->image_path, g_free);
  g_clear_pointer (&self->kernel, g_free);
  g_clear_pointer (&self->initrd, g_free);
  g_clear_pointer (&self->cmdline, g_free);
}

/**
 * viv_machine_creator_set_iso:
 * @self: a creator
 * @media: the detected disc image
 * @direct_kernel: start it from its kernel and initrd (which
 *   viv_media_can_boot_kernel() says is possible), rather than from the
 *   firmware
 *
 * Its OS (viv_media_get_os(), which viv_media_set_os() changes) proposes
 * the name and resources unless viv_machine_creator_set_os() says
 * otherwise.
 */
void
viv_machine_creator_set_iso (VivMachineCreator *self,
                             VivMedia          *media,
                             gboolean           direct_kernel)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (VIV_IS_MEDIA (media));
  g_return_if_fail (!self->busy);

  clear_source (self);
  self->media = g_object_ref (media);
  self->source = direct_kernel ? VIV_CREATOR_SOURCE_ISO_KERNEL : VIV_CREATOR_SOURCE_ISO_FIRMWARE;
}

/**
 * viv_machine_creator_set_disk_image:
 * @self: a creator
 * @path: an existing raw or qcow2 image
 * @import: copy it into the machine's folder, or use it where it is
 */
void
viv_machine_creator_set_disk_image (VivMachineCreator *self,
                                    const char        *path,
                                    VivDiskImport      import)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (path != NULL);
  g_return_if_fail (!self->busy);

  clear_source (self);
  self->image_path = g_canonicalize_filename (path, NULL);
  self->import = import;
  self->source = VIV_CREATOR_SOURCE_DISK_IMAGE;
}

/**
 * viv_machine_creator_set_kernel:
 * @self: a creator
 * @kernel: a bzImage or PVH ELF kernel
 * @initrd: (nullable): an initrd
 * @cmdline: (nullable): the kernel's command line
 *
 * The files are used where they are, by absolute path.
 */
void
viv_machine_creator_set_kernel (VivMachineCreator *self,
                                const char        *kernel,
                                const char        *initrd,
                                const char        *cmdline)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (kernel != NULL);
  g_return_if_fail (!self->busy);

  clear_source (self);
  self->kernel = g_canonicalize_filename (kernel, NULL);
  self->initrd = initrd != NULL ? g_canonicalize_filename (initrd, NULL) : NULL;
  self->cmdline = cmdline != NULL && cmdline[0] != '\0' ? g_strdup (cmdline) : NULL;
  self->source = VIV_CREATOR_SOURCE_KERNEL;
}

/**
 * viv_machine_creator_set_blank:
 * @self: a creator
 *
 * A machine with an empty disk and no media, started by its firmware: for
 * the OS viv_machine_creator_set_os() names (which names it and proposes
 * its resources), whose installer is attached later.
 */
void
viv_machine_creator_set_blank (VivMachineCreator *self)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (!self->busy);

  clear_source (self);
  self->source = VIV_CREATOR_SOURCE_BLANK;
}

VivCreatorSource
viv_machine_creator_get_source (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), VIV_CREATOR_SOURCE_NONE);
  return self->source;
}

/**
 * viv_machine_creator_get_warning:
 *
 * What the review step should tell before creating, or %NULL.
 *
 * Returns: (nullable): a translated message
 */
const char *
viv_machine_creator_get_warning (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), NULL);

  if (self->source == VIV_CREATOR_SOURCE_DISK_IMAGE && self->import == VIV_DISK_IMPORT_REFERENCE)
    return _("The machine will change the disk image where it is, and deleting the machine "
             "will not delete the image.");
  return NULL;
}

/**
 * viv_machine_creator_set_os:
 * @self: a creator
 * @os: (nullable): the OS, or %NULL for the media's
 */
void
viv_machine_creator_set_os (VivMachineCreator *self,
                            OsinfoOs          *os)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (os == NULL || OSINFO_IS_OS (os));

  g_set_object (&self->os, os);
}

/**
 * viv_machine_creator_get_os:
 *
 * Returns: (transfer none) (nullable): the OS chosen, else the media's
 */
OsinfoOs *
viv_machine_creator_get_os (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), NULL);

  if (self->os != NULL)
    return self->os;
  if (self->media != NULL)
    return viv_media_get_os (self->media);
  return NULL;
}

/* NAME, or NULL for one made from the source */
void
viv_machine_creator_set_name (VivMachineCreator *self,
                              const char        *name)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));

  g_free (self->name);
  self->name = name != NULL && name[0] != '\0' ? g_strdup (name) : NULL;
}

static gboolean
names_equal (const char *a,
             const char *b)
{
  g_autofree char *folded_a = g_utf8_casefold (a, -1);
  g_autofree char *folded_b = g_utf8_casefold (b, -1);

  return strcmp (folded_a, folded_b) == 0;
}

static gboolean
name_taken (const char         *name,
            const char * const *taken)
{
  for (guint i = 0; taken != NULL && taken[i] != NULL; i++)
    if (names_equal (name, taken[i]))
      return TRUE;
  return FALSE;
}

/**
 * viv_machine_make_unique_name:
 * @base: a name ("Debian 12")
 * @taken: (nullable): the names in use
 *
 * @base, or "@base (2)", "@base (3)"... whichever is not taken (compared
 * without regard to case).
 *
 * Returns: (transfer full): the name
 */
char *
viv_machine_make_unique_name (const char         *base,
                              const char * const *taken)
{
  g_return_val_if_fail (base != NULL, NULL);

  if (!name_taken (base, taken))
    return g_strdup (base);
  for (guint n = 2; ; n++)
    {
      /* Translators: a machine's name made unique: "Debian 12 (2)" */
      g_autofree char *name = g_strdup_printf (C_("machine name", "%s (%u)"), base, n);

      if (!name_taken (name, taken))
        return g_steal_pointer (&name);
    }
}

static GStrv
library_names (VivLibrary *library)
{
  GListModel *model = G_LIST_MODEL (library);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  guint n = g_list_model_get_n_items (model);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(VivMachine) machine = g_list_model_get_item (model, i);

      g_strv_builder_add (builder, viv_machine_get_name (machine));
    }
  return g_strv_builder_end (builder);
}

/* An extension is short, starts with a letter and is letters and digits
 * ("iso", "qcow2"): so "vmlinuz-6.1.0-13-amd64" keeps its version. */
static gboolean
is_extension (const char *text)
{
  size_t len = strlen (text);

  if (len == 0 || len > 5 || !g_ascii_isalpha (text[0]))
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isalnum (text[i]))
      return FALSE;
  return TRUE;
}

/**
 * viv_machine_name_from_file:
 * @path: a disc image, disk image or kernel
 *
 * A name made from the file's name, for when the OS is not known:
 * "debian-12.5.0-amd64_netinst.iso" gives "Debian 12.5.0 amd64 netinst"
 * (without the extension, dashes and underscores as spaces, spaces
 * collapsed, the first letter a capital).
 *
 * Returns: (transfer full) (nullable): the name, or %NULL when nothing is
 *   left of the file's name
 */
char *
viv_machine_name_from_file (const char *path)
{
  g_autofree char *base = NULL;
  g_autoptr(GString) name = g_string_new (NULL);
  char *dot;

  g_return_val_if_fail (path != NULL, NULL);

  base = g_path_get_basename (path);
  dot = strrchr (base, '.');
  if (dot != NULL && dot != base && is_extension (dot + 1))
    *dot = '\0';
  for (const char *p = base; *p != '\0'; p++)
    {
      char c = (*p == '-' || *p == '_' || g_ascii_isspace (*p)) ? ' ' : *p;

      if (c == ' ' && (name->len == 0 || name->str[name->len - 1] == ' '))
        continue;
      g_string_append_c (name, c);
    }
  if (name->len > 0 && name->str[name->len - 1] == ' ')
    g_string_truncate (name, name->len - 1);
  /* A hidden file's dot alone, or "." and "/" */
  if (name->len == 0 || strcmp (name->str, ".") == 0 || strcmp (name->str, "/") == 0)
    return NULL;
  name->str[0] = g_ascii_toupper (name->str[0]);
  return g_string_free (g_steal_pointer (&name), FALSE);
}

static gboolean
is_generic (OsinfoOs *os)
{
  return g_str_has_prefix (osinfo_entity_get_id (OSINFO_ENTITY (os)), "http://libosinfo.org/");
}

/* The OS's name when known, else the file's (a disc's volume label, such
 * as "ISOIMAGE", says little: the file's name was chosen by a person) */
static char *
base_name (VivMachineCreator *self)
{
  const char *file = NULL;
  char *name = NULL;

  if (self->os != NULL && !is_generic (self->os))
    return g_strdup (osinfo_product_get_name (OSINFO_PRODUCT (self->os)));
  if (self->media != NULL && self->os == NULL &&
      viv_media_get_os_match (self->media) != VIV_MEDIA_OS_UNKNOWN)
    return g_strdup (viv_media_get_name (self->media));

  if (self->media != NULL)
    file = viv_media_get_path (self->media);
  else if (self->image_path != NULL)
    file = self->image_path;
  else if (self->kernel != NULL)
    file = self->kernel;
  if (file != NULL)
    name = viv_machine_name_from_file (file);
  return name != NULL ? name : g_strdup (_("New Machine"));
}

/**
 * viv_machine_creator_dup_name:
 *
 * The name set, else one made from the OS or the source ("Debian 12") and
 * made unique among the library's ("Debian 12 (2)").
 *
 * Returns: (transfer full): the name
 */
char *
viv_machine_creator_dup_name (VivMachineCreator *self)
{
  g_autofree char *base = NULL;
  g_auto(GStrv) taken = NULL;

  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), NULL);

  if (self->name != NULL)
    return g_strdup (self->name);
  base = base_name (self);
  taken = library_names (self->library);
  return viv_machine_make_unique_name (base, (const char * const *) taken);
}

static void
get_resources (VivMachineCreator *self,
               VivOsResources    *resources)
{
  viv_os_get_resources (viv_machine_creator_get_os (self), resources);
}

/* MEMORY in bytes, or 0 for the OS's proposal */
void
viv_machine_creator_set_memory (VivMachineCreator *self,
                                guint64            memory)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  self->memory = memory;
}

guint64
viv_machine_creator_get_memory (VivMachineCreator *self)
{
  VivOsResources resources;

  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);

  if (self->memory != 0)
    return self->memory;
  get_resources (self, &resources);
  return resources.memory;
}

/* CPUS, or 0 for the OS's proposal */
void
viv_machine_creator_set_cpus (VivMachineCreator *self,
                              guint              cpus)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  self->cpus = cpus;
}

guint
viv_machine_creator_get_cpus (VivMachineCreator *self)
{
  VivOsResources resources;

  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);

  if (self->cpus != 0)
    return self->cpus;
  get_resources (self, &resources);
  return resources.cpus;
}

/* The new disk's size in bytes (rounded up to 512), or 0 for no disk;
 * unset, the OS's proposal. An imported image is the disk: no new one. */
void
viv_machine_creator_set_disk_size (VivMachineCreator *self,
                                   guint64            disk_size)
{
  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  self->disk_size = disk_size;
  self->disk_size_set = TRUE;
}

guint64
viv_machine_creator_get_disk_size (VivMachineCreator *self)
{
  VivOsResources resources;
  guint64 size;

  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);

  if (self->source == VIV_CREATOR_SOURCE_DISK_IMAGE)
    return 0;
  if (self->disk_size_set)
    {
      size = self->disk_size;
    }
  else
    {
      get_resources (self, &resources);
      size = resources.disk;
    }
  return (size + SECTOR_SIZE - 1) / SECTOR_SIZE * SECTOR_SIZE;
}

double
viv_machine_creator_get_progress (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);
  return self->progress;
}

/* Returns: (nullable): what is being done, translated */
const char *
viv_machine_creator_get_stage (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), NULL);
  return self->stage;
}

/* Returns: the bytes the stage copied so far; 0 for a stage not counted in bytes */
guint64
viv_machine_creator_get_bytes_done (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);
  return self->bytes_done;
}

/* Returns: the bytes the stage copies in all; 0 for a stage not counted in bytes */
guint64
viv_machine_creator_get_bytes_total (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), 0);
  return self->bytes_total;
}

/* Returns: the seconds the stage needs still, at its rate so far; -1 when
 * that is not known (yet) */
gint64
viv_machine_creator_get_seconds_left (VivMachineCreator *self)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), -1);
  return self->seconds_left;
}

/**
 * viv_machine_creator_estimate_seconds_left:
 * @done: bytes copied in @elapsed_us
 * @total: bytes to copy in all, @done included
 * @elapsed_us: the time @done took, in microseconds
 *
 * The time the rest takes at the rate so far, rounded up. The first
 * seconds and percents of a copy say little (a cache fills, a reflink
 * finishes at once): until both are past, the answer is -1.
 *
 * Returns: seconds, or -1
 */
gint64
viv_machine_creator_estimate_seconds_left (guint64 done,
                                           guint64 total,
                                           gint64  elapsed_us)
{
  double left_us;

  if (done >= total)
    return 0;
  if (elapsed_us < ESTIMATE_AFTER_US || done == 0 ||
      done < total / 100 * ESTIMATE_AFTER_PERCENT)
    return -1;
  left_us = (double) elapsed_us * (double) (total - done) / (double) done;
  return (gint64) ((left_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
}

/* ---- creating, in a worker thread -------------------------------------------------- */

typedef struct
{
  VivMachineConfig *config;
  VivCreatorSource  source;
  VivMedia         *media;        /* a copy: the wizard's may change */
  char             *image_path;
  VivDiskImport     import;
  guint64           disk_size;
  VivDiskBus        disk_bus;     /* of the new disk */
  char             *machines_dir;
  char             *staging_dir;
  int               staging_lock; /* held while staging_dir is ours, else -1 */
  char             *directory;    /* the machine's folder, once created */
  GTask            *outer;        /* the caller's task, which owns this */

  GCancellable     *cancellable;  /* ours: the caller's, or a failing test hook */
  GCancellable     *caller_cancellable;
  gulong            cancelled_id;
  VivMachineCreatorTestHook hook; /* the creator's when this started */
  gpointer          hook_data;
  GError           *hook_error;

  GMainContext     *context;
  GMutex            lock;
  double            progress;     /* under lock */
  const char       *stage;
  guint64           bytes_done;
  guint64           bytes_total;
  gint64            seconds_left;
  gboolean          pending;
} CreateData;

static void
create_data_free (CreateData *data)
{
  g_clear_pointer (&data->config, viv_machine_config_free);
  g_clear_object (&data->media);
  g_free (data->image_path);
  g_free (data->machines_dir);
  g_free (data->staging_dir);
  if (data->staging_lock >= 0)
    close (data->staging_lock);
  g_free (data->directory);
  if (data->caller_cancellable != NULL)
    g_cancellable_disconnect (data->caller_cancellable, data->cancelled_id);
  g_clear_object (&data->caller_cancellable);
  g_clear_object (&data->cancellable);
  g_clear_error (&data->hook_error);
  g_main_context_unref (data->context);
  g_mutex_clear (&data->lock);
  g_free (data);
}

static void
on_caller_cancelled (GCancellable *cancellable G_GNUC_UNUSED,
                     GCancellable *ours)
{
  g_cancellable_cancel (ours);
}

/* On the main thread, with the caller's task (which owns DATA) */
static gboolean
report_progress (gpointer user_data)
{
  GTask *task = user_data;
  VivMachineCreator *self = g_task_get_source_object (task);
  CreateData *data = g_task_get_task_data (task);
  const char *stage;
  double progress;
  guint64 bytes_done, bytes_total;
  gint64 seconds_left;

  g_mutex_lock (&data->lock);
  progress = data->progress;
  stage = data->stage;
  bytes_done = data->bytes_done;
  bytes_total = data->bytes_total;
  seconds_left = data->seconds_left;
  data->pending = FALSE;
  g_mutex_unlock (&data->lock);

  if (!self->busy)
    return G_SOURCE_REMOVE;
  if (self->progress != progress || self->bytes_done != bytes_done ||
      self->bytes_total != bytes_total || self->seconds_left != seconds_left)
    {
      self->progress = progress;
      self->bytes_done = bytes_done;
      self->bytes_total = bytes_total;
      self->seconds_left = seconds_left;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
    }
  if (self->stage != stage)
    {
      self->stage = stage;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STAGE]);
    }
  return G_SOURCE_REMOVE;
}

/* In the worker; reports are coalesced, at most one waits in the queue.
 * BYTES_TOTAL 0: a stage not counted in bytes. */
static void
set_progress_full (CreateData *data,
                   const char *stage,
                   double      progress,
                   guint64     bytes_done,
                   guint64     bytes_total,
                   gint64      seconds_left)
{
  gboolean queue;

  g_mutex_lock (&data->lock);
  data->stage = stage;
  data->progress = CLAMP (progress, 0, 1);
  data->bytes_done = bytes_done;
  data->bytes_total = bytes_total;
  data->seconds_left = seconds_left;
  queue = !data->pending;
  data->pending = TRUE;
  g_mutex_unlock (&data->lock);

  if (queue)
    g_main_context_invoke_full (data->context, G_PRIORITY_DEFAULT, report_progress,
                                g_object_ref (data->outer), g_object_unref);
}

static void
set_progress (CreateData *data,
              const char *stage,
              double      progress)
{
  set_progress_full (data, stage, progress, 0, 0, -1);
}

static gboolean
run_hook (CreateData  *data,
          const char  *step,
          GError     **error)
{
  if (data->hook == NULL)
    return TRUE;
  if (data->hook (step, data->hook_data, error))
    return TRUE;
  g_assert (error == NULL || *error != NULL);
  return FALSE;
}

/* Progress of a long step, which the hook may make fail: the step then
 * sees a cancellation, and the hook's error is reported */
typedef struct
{
  CreateData *data;
  const char *stage;
  double      from, to;
  gint64      first_time;   /* of the first report, 0 before; the rate counts from there */
  guint64     first_done;
} StepProgress;

static void
on_step_progress (guint64  done,
                  guint64  total,
                  gpointer user_data)
{
  StepProgress *step = user_data;
  CreateData *data = step->data;
  double fraction = total > 0 ? (double) done / (double) total : 1;
  gint64 now = g_get_monotonic_time ();
  gint64 seconds_left = -1;

  if (step->first_time == 0)
    {
      step->first_time = now;
      step->first_done = MIN (done, total);
    }
  else if (done >= step->first_done)
    {
      seconds_left = viv_machine_creator_estimate_seconds_left (done - step->first_done,
                                                                total - step->first_done,
                                                                now - step->first_time);
    }
  set_progress_full (data, step->stage, step->from + (step->to - step->from) * fraction,
                     done, total, seconds_left);
  if (data->hook_error == NULL && !run_hook (data, "progress", &data->hook_error))
    g_cancellable_cancel (data->cancellable);
}

/* "Could not read “%s”: %s" for PATH and the errno */
static void
set_read_error (GError     **error,
                int          saved_errno,
                const char  *path)
{
  g_autofree char *display = g_filename_display_name (path);

  viv_file_set_io_error (error, saved_errno,
                         /* Translators: the first %s is a file name, the second the reason */
                         _("Could not read “%s”: %s"), display, g_strerror (saved_errno));
}

static void
set_folder_error (GError     **error,
                  int          saved_errno,
                  const char  *path)
{
  g_autofree char *display = g_filename_display_name (path);

  viv_file_set_io_error (error, saved_errno,
                         /* Translators: the first %s is a folder name, the second the reason */
                         _("Could not create the folder “%s”: %s"), display,
                         g_strerror (saved_errno));
}

static gboolean
make_disk (CreateData  *data,
           GError     **error)
{
  g_autofree char *path = g_build_filename (data->staging_dir, VIV_MACHINE_CREATOR_DISK_NAME,
                                            NULL);

  if (!viv_disk_create (path, VIV_DISK_FORMAT_QCOW2, data->disk_size, error))
    return FALSE;
  g_ptr_array_add (data->config->disks,
                   viv_disk_config_new (VIV_MACHINE_CREATOR_DISK_NAME, VIV_DISK_FORMAT_QCOW2));
  ((VivDiskConfig *) g_ptr_array_index (data->config->disks,
                                        data->config->disks->len - 1))->bus = data->disk_bus;
  return TRUE;
}

static gboolean
pread_pwrite (int            in,
              int            out,
              guint64        offset,
              guint64        len,
              guint8        *buffer,
              gsize          buffer_size)
{
  while (len > 0)
    {
      ssize_t n = pread (in, buffer, MIN (len, buffer_size), (off_t) offset);
      gsize written = 0;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;    /* the file shrank under us */
          return FALSE;
        }
      while (written < (gsize) n)
        {
          ssize_t w = pwrite (out, buffer + written, (gsize) n - written,
                              (off_t) (offset + written));

          if (w < 0 && errno == EINTR)
            continue;
          if (w < 0)
            return FALSE;
          written += (gsize) w;
        }
      offset += (guint64) n;
      len -= (guint64) n;
    }
  return TRUE;
}

/* Copies SOURCE to the new file DEST, keeping holes; a reflink where the
 * file system can. Reports progress as the offset reached. */
static gboolean
copy_image (const char            *source,
            const char            *dest,
            VivMediaProgressFunc   progress,
            gpointer               progress_data,
            GCancellable          *cancellable,
            GError               **error)
{
  g_autofree guint8 *buffer = NULL;
  gboolean use_copy_range = TRUE;
  struct stat st;
  guint64 offset = 0, size;
  int in = -1, out = -1;
  gboolean ok = FALSE;

  in = open (source, O_RDONLY | O_CLOEXEC);
  if (in < 0 || fstat (in, &st) < 0)
    {
      set_read_error (error, errno, source);
      goto out;
    }
  size = (guint64) st.st_size;
  out = open (dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0)
    goto write_error;
  if (ioctl (out, FICLONE, in) == 0)
    offset = size;
  else if (ftruncate (out, (off_t) size) < 0)
    goto write_error;

  while (offset < size)
    {
      off_t data_start = lseek (in, (off_t) offset, SEEK_DATA);
      off_t data_end;

      if (data_start < 0 && errno == ENXIO)
        break;              /* a hole up to the end */
      if (data_start < 0)
        data_start = (off_t) offset;    /* no SEEK_DATA here: copy it all */
      data_end = lseek (in, data_start, SEEK_HOLE);
      if (data_end < 0)
        data_end = (off_t) size;
      offset = (guint64) data_start;

      while (offset < (guint64) data_end)
        {
          guint64 len = MIN ((guint64) data_end - offset, COPY_CHUNK);
          ssize_t n = -1;

          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            goto out;

          if (use_copy_range)
            {
              loff_t off_in = (loff_t) offset, off_out = (loff_t) offset;

              n = copy_file_range (in, &off_in, out, &off_out, len, 0);
              if (n == 0)
                {
                  errno = EIO;  /* the file shrank under us */
                  goto read_error;
                }
              if (n < 0 && errno == EINTR)
                continue;
              if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
                  errno != EOPNOTSUPP)
                goto write_error;
              if (n < 0)
                use_copy_range = FALSE;
            }
          if (n < 0)
            {
              if (buffer == NULL)
                buffer = g_malloc (COPY_BUFFER);
              if (!pread_pwrite (in, out, offset, len, buffer, COPY_BUFFER))
                goto write_error;
              n = (ssize_t) len;
            }
          offset += (guint64) n;
          if (progress != NULL)
            progress (offset, size, progress_data);
        }
      offset = (guint64) data_end;
    }

  if (fsync (out) < 0)
    goto write_error;
  if (progress != NULL)
    progress (size, size, progress_data);
  ok = TRUE;
  goto out;

read_error:
  set_read_error (error, errno, source);
  goto out;
write_error:
  viv_file_set_write_error (error, errno, dest);
out:
  if (in >= 0)
    close (in);
  if (out >= 0)
    close (out);
  if (!ok && out >= 0)
    g_unlink (dest);
  return ok;
}

/**
 * viv_machine_check_image_writable:
 * @path: a disk image
 * @error: the reason, for people
 *
 * Whether a machine could write to the disk image @path where it is (with
 * %VIV_DISK_IMPORT_REFERENCE): not on a read-only file system, and
 * writable by us. Checked when the image is chosen and again when the
 * machine is made, rather than failing at each start. Blocks on the file
 * system: call it in a worker thread (viv_machine_check_image_writable_async()).
 *
 * Returns: %TRUE if it could; else %FALSE with @error set
 *   (%G_IO_ERROR_READ_ONLY for a read-only file system)
 */
gboolean
viv_machine_check_image_writable (const char  *path,
                                  GError     **error)
{
  struct statvfs fs;
  int saved;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* The file system first: root may write any file, but not there */
  if ((statvfs (path, &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0) ||
      (access (path, W_OK) != 0 && errno == EROFS))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
                           _("The disk image is on a read-only file system: a machine cannot "
                             "change it there, so it has to be copied"));
      return FALSE;
    }
  if (access (path, W_OK) != 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   /* Translators: %s says why ("Permission denied") */
                   _("A machine cannot change the disk image where it is (%s), so it "
                     "has to be copied"), g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static void
check_writable_thread (GTask        *task,
                       gpointer      source_object G_GNUC_UNUSED,
                       gpointer      task_data,
                       GCancellable *cancellable G_GNUC_UNUSED)
{
  GError *error = NULL;

  if (viv_machine_check_image_writable (task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * viv_machine_check_image_writable_async:
 *
 * viv_machine_check_image_writable() in a worker thread.
 */
void
viv_machine_check_image_writable_async (const char          *path,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_check_image_writable_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, check_writable_thread);
}

gboolean
viv_machine_check_image_writable_finish (GAsyncResult  *result,
                                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_check_image_writable_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
import_image (CreateData  *data,
              GError     **error)
{
  g_autofree char *display = g_filename_display_basename (data->image_path);
  g_autoptr(VivDiskInfo) info = viv_disk_inspect (data->image_path, error);
  g_autofree char *dest = NULL;
  StepProgress step = { data, _("Copying the disk image"), 0.05, 0.95, 0, 0 };
  VivDiskFormat format;
  const char *name;

  if (info == NULL)
    return FALSE;
  format = info->format;

  if (data->import == VIV_DISK_IMPORT_REFERENCE)
    {
      /* Now rather than "Read-only file system" at each start */
      if (!viv_machine_check_image_writable (data->image_path, error))
        return FALSE;
      g_ptr_array_add (data->config->disks, viv_disk_config_new (data->image_path, format));
      return TRUE;
    }

  /* A relative backing file would not be found from the copy */
  if (info->backing_file != NULL && !g_path_is_absolute (info->backing_file))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   /* Translators: %s is a file name */
                   _("“%s” depends on another image next to it, and cannot be copied: use it "
                     "where it is instead"), display);
      return FALSE;
    }

  name = format == VIV_DISK_FORMAT_QCOW2 ? VIV_MACHINE_CREATOR_DISK_NAME : "disk.img";
  dest = g_build_filename (data->staging_dir, name, NULL);
  set_progress (data, step.stage, step.from);
  if (!copy_image (data->image_path, dest, on_step_progress, &step, data->cancellable, error))
    return FALSE;
  g_ptr_array_add (data->config->disks, viv_disk_config_new (name, format));
  return TRUE;
}

static gboolean
check_file (const char  *path,
            gboolean     is_kernel,
            GError     **error)
{
  g_autofree char *display = NULL;

  if (path == NULL || g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  display = g_filename_display_name (path);
  if (is_kernel)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 /* Translators: %s is a file name */
                 _("The kernel “%s” does not exist"), display);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 /* Translators: %s is a file name */
                 _("The initial RAM disk “%s” does not exist"), display);
  return FALSE;
}

static gboolean
create_in_thread (CreateData  *data,
                  GError     **error)
{
  g_autofree char *config_path = NULL;
  g_autofree char *directory = NULL;
  int r;

  if (!run_hook (data, "folder", error))
    return FALSE;
  if (g_mkdir_with_parents (data->machines_dir, 0755) < 0)
    {
      set_folder_error (error, errno, data->machines_dir);
      return FALSE;
    }
  data->staging_dir = g_strdup_printf ("%s/" VIV_LIBRARY_STAGING_PREFIX "%s", data->machines_dir,
                                       data->config->uuid);
  if (g_mkdir (data->staging_dir, 0755) < 0)
    {
      int saved_errno = errno;

      set_folder_error (error, saved_errno, data->staging_dir);
      g_clear_pointer (&data->staging_dir, g_free);
      return FALSE;
    }
  /* From here on a failure removes the staging folder (the caller does). */

  /* Ours, for any library that looks: fails only if one took it for a
   * leftover in the instant since the folder was made */
  r = viv_library_lock_staging (data->staging_dir);
  if (r < 0)
    {
      set_folder_error (error, -r, data->staging_dir);
      return FALSE;
    }
  data->staging_lock = r;

  if (data->source == VIV_CREATOR_SOURCE_KERNEL &&
      (!check_file (data->config->boot.kernel, TRUE, error) ||
       !check_file (data->config->boot.initrd, FALSE, error)))
    return FALSE;

  if (data->disk_size > 0)
    {
      set_progress (data, _("Creating the disk"), 0.01);
      if (!run_hook (data, "disk", error) || !make_disk (data, error))
        return FALSE;
    }

  if (data->source == VIV_CREATOR_SOURCE_ISO_KERNEL)
    {
      StepProgress step = { data, _("Copying the kernel and initial RAM disk"), 0.05, 0.95,
                            0, 0 };
      g_autofree char *kernel = NULL;
      g_autofree char *initrd = NULL;

      set_progress (data, step.stage, step.from);
      if (!run_hook (data, "boot-files", error) ||
          !viv_media_extract_boot_files (data->media, data->staging_dir,
                                         on_step_progress, &step, &kernel, &initrd,
                                         data->cancellable, error))
        return FALSE;
      g_assert (g_strcmp0 (kernel, data->config->boot.kernel) == 0);
      g_assert (g_strcmp0 (initrd, data->config->boot.initrd) == 0);
    }

  if (data->source == VIV_CREATOR_SOURCE_DISK_IMAGE)
    {
      if (!run_hook (data, "copy", error) || !import_image (data, error))
        return FALSE;
    }

  set_progress (data, _("Saving the machine"), 0.97);
  config_path = g_build_filename (data->staging_dir, VIV_MACHINE_CONFIG_FILE_NAME, NULL);
  if (!run_hook (data, "config", error) ||
      !viv_machine_config_check (data->config, error) ||
      !viv_machine_config_save (data->config, config_path, error))
    return FALSE;

  if (!run_hook (data, "commit", error) ||
      g_cancellable_set_error_if_cancelled (data->cancellable, error))
    return FALSE;
  directory = g_build_filename (data->machines_dir, data->config->uuid, NULL);
  if (g_rename (data->staging_dir, directory) < 0)
    {
      set_folder_error (error, errno, directory);
      return FALSE;
    }
  g_clear_pointer (&data->staging_dir, g_free);
  /* The lock's file came along; the machine's folder has no use for it */
  {
    g_autofree char *lock = g_build_filename (directory, VIV_LIBRARY_STAGING_LOCK, NULL);

    if (g_unlink (lock) < 0)
      g_debug ("cannot remove %s: %s", lock, g_strerror (errno));
    close (data->staging_lock);
    data->staging_lock = -1;
  }
  r = viv_file_fsync_dir (data->machines_dir);
  if (r < 0)
    g_debug ("cannot sync %s: %s", data->machines_dir, g_strerror (-r));
  data->directory = g_steal_pointer (&directory);
  set_progress (data, _("Saving the machine"), 1);
  return TRUE;
}

static void
create_thread (GTask        *task,
               gpointer      source_object G_GNUC_UNUSED,
               gpointer      task_data,
               GCancellable *cancellable G_GNUC_UNUSED)
{
  CreateData *data = task_data;
  GError *error = NULL;

  if (create_in_thread (data, &error))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  /* Removed with its lock still held: no library starts on it meanwhile */
  if (data->staging_dir != NULL && !viv_file_remove_tree (data->staging_dir))
    g_warning ("Could not remove all of %s", data->staging_dir);
  if (data->staging_lock >= 0)
    {
      close (data->staging_lock);
      data->staging_lock = -1;
    }
  /* A step that failed because the test hook cancelled it */
  if (data->hook_error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) &&
      (data->caller_cancellable == NULL ||
       !g_cancellable_is_cancelled (data->caller_cancellable)))
    {
      g_clear_error (&error);
      error = g_steal_pointer (&data->hook_error);
    }
  g_task_return_error (task, error);
}

/* ---- creating, on the main thread -------------------------------------------------- */

static void
set_busy (VivMachineCreator *self,
          gboolean           busy)
{
  self->busy = busy;
  self->progress = 0;
  self->stage = NULL;
  self->bytes_done = 0;
  self->bytes_total = 0;
  self->seconds_left = -1;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STAGE]);
}

static void
on_library_loaded (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  VivMachineCreator *self = g_task_get_source_object (task);
  CreateData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  VivMachine *machine;

  if (!viv_library_load_finish (VIV_LIBRARY (object), result, &error))
    g_debug ("cannot load the library again: %s", error->message);

  set_busy (self, FALSE);
  machine = viv_library_find (self->library, data->config->uuid);
  if (machine == NULL)
    {
      g_autofree char *display = g_filename_display_name (data->directory);

      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               /* Translators: %s is a folder name */
                               _("The machine was created in “%s”, but could not be added to "
                                 "the collection"), display);
      return;
    }
  g_task_return_pointer (task, g_object_ref (machine), g_object_unref);
}

static void
on_created (GObject      *object G_GNUC_UNUSED,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  VivMachineCreator *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      set_busy (self, FALSE);
      g_task_return_error (task, error);
      return;
    }

  /* Created: no cancelling this part. Loading adds the new folder now. */
  viv_library_load_async (self->library, NULL, on_library_loaded, g_steal_pointer (&task));
}

static gboolean
prepare (VivMachineCreator  *self,
         CreateData         *data,
         GError            **error)
{
  g_autofree char *name = viv_machine_creator_dup_name (self);
  OsinfoOs *os = viv_machine_creator_get_os (self);
  VivMachineConfig *config;

  switch (self->source)
    {
    case VIV_CREATOR_SOURCE_NONE:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _("Choose what the machine starts from first"));
      return FALSE;

    case VIV_CREATOR_SOURCE_ISO_KERNEL:
      if (!viv_media_can_boot_kernel (self->media))
        {
          g_autofree char *display = g_filename_display_basename (viv_media_get_path (self->media));

          g_set_error (error, VIV_MEDIA_ERROR, VIV_MEDIA_ERROR_NO_BOOT_FILES,
                       /* Translators: %s is a file name */
                       _("Where the kernel is on “%s” is not known: start it from its boot "
                         "loader instead"), display);
          return FALSE;
        }
      break;

    case VIV_CREATOR_SOURCE_ISO_FIRMWARE:
    case VIV_CREATOR_SOURCE_DISK_IMAGE:
    case VIV_CREATOR_SOURCE_KERNEL:
    case VIV_CREATOR_SOURCE_BLANK:
    default:
      break;
    }

  config = data->config = viv_machine_config_new (name, viv_machine_creator_get_memory (self),
                                                  viv_machine_creator_get_cpus (self));
  if (os != NULL)
    config->osinfo = g_strdup (osinfo_entity_get_id (OSINFO_ENTITY (os)));
  data->source = self->source;
  data->disk_size = viv_machine_creator_get_disk_size (self);
  data->machines_dir = g_strdup (viv_library_get_machines_dir (self->library));

  switch (self->source)
    {
    case VIV_CREATOR_SOURCE_ISO_KERNEL:
      config->boot.kind = VIV_BOOT_KIND_KERNEL;
      /* The names the extraction gives them */
      config->boot.kernel = g_strdup (VIV_MEDIA_KERNEL_NAME);
      config->boot.initrd = viv_media_dup_initrd_name (self->media);
      config->boot.cmdline = viv_media_dup_kernel_cmdline (self->media);
      data->media = viv_media_copy (self->media);
      g_ptr_array_add (config->media,
                       viv_media_config_new (viv_media_get_path (self->media),
                                             VIV_MEDIA_KIND_CDROM));
      break;

    case VIV_CREATOR_SOURCE_ISO_FIRMWARE:
    case VIV_CREATOR_SOURCE_BLANK:
      /* The firmware the OS needs, and a disk its installer can see: an
       * OS libosinfo does not know gets BIOS and SATA, which every
       * installer handles (GNOME Boxes decides the same way). The boot
       * order stays the default: the empty disk is not bootable, so the
       * disc boots; once installed, the disk does. */
      {
        /* libosinfo's generic entries stand for systems it does not know */
        OsinfoOs *known = os != NULL && !is_generic (os) ? os : NULL;

        config->boot.kind = VIV_BOOT_KIND_FIRMWARE;
        config->boot.firmware = viv_os_needs_uefi (known) ? VIV_FIRMWARE_UEFI
                                                          : VIV_FIRMWARE_BIOS;
        data->disk_bus = viv_os_has_virtio_block (known) ? VIV_DISK_BUS_VIRTIO
                                                         : VIV_DISK_BUS_SATA;
      }
      if (self->source == VIV_CREATOR_SOURCE_ISO_FIRMWARE)
        g_ptr_array_add (config->media,
                         viv_media_config_new (viv_media_get_path (self->media),
                                               VIV_MEDIA_KIND_CDROM));
      break;

    case VIV_CREATOR_SOURCE_DISK_IMAGE:
      config->boot.kind = VIV_BOOT_KIND_DISK;
      data->image_path = g_strdup (self->image_path);
      data->import = self->import;
      break;

    case VIV_CREATOR_SOURCE_KERNEL:
      config->boot.kind = VIV_BOOT_KIND_KERNEL;
      config->boot.kernel = g_strdup (self->kernel);
      config->boot.initrd = g_strdup (self->initrd);
      config->boot.cmdline = g_strdup (self->cmdline);
      break;

    case VIV_CREATOR_SOURCE_NONE:
    default:
      g_assert_not_reached ();
    }

  /* The values the wizard let through, checked before anything is written */
  return viv_machine_config_check (config, error);
}

/**
 * viv_machine_creator_create_async:
 * @self: a creator with a source
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the machine is in the library, or on failure
 * @user_data: data for @callback
 *
 * Creates the machine in a worker thread (see the top of this file), with
 * the progress and stage properties following the long parts. On failure
 * or cancellation nothing is left behind.
 */
void
viv_machine_creator_create_async (VivMachineCreator   *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker = NULL;
  GError *error = NULL;
  CreateData *data;

  g_return_if_fail (VIV_IS_MACHINE_CREATOR (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, viv_machine_creator_create_async);
  /* Once the folder is in place the machine exists: a late cancellation
   * must not report otherwise. The worker checks the cancellable itself. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->busy)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               _("The machine is being created already"));
      return;
    }

  data = g_new0 (CreateData, 1);
  data->outer = task;
  data->staging_lock = -1;
  data->hook = self->test_hook;
  data->hook_data = self->test_hook_data;
  data->context = g_main_context_ref_thread_default ();
  g_mutex_init (&data->lock);
  data->cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    {
      data->caller_cancellable = g_object_ref (cancellable);
      data->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                                                  g_object_ref (data->cancellable),
                                                  g_object_unref);
    }
  g_task_set_task_data (task, data, (GDestroyNotify) create_data_free);

  if (!prepare (self, data, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  set_busy (self, TRUE);
  worker = g_task_new (self, cancellable, on_created, g_object_ref (task));
  g_task_set_source_tag (worker, viv_machine_creator_create_async);
  /* The worker shares the outer task's data; the outer task outlives it
   * (on_created holds it) */
  g_task_set_task_data (worker, data, NULL);
  g_task_set_check_cancellable (worker, FALSE);
  g_task_run_in_thread (worker, create_thread);
}

/**
 * viv_machine_creator_create_finish:
 *
 * Returns: (transfer full): the new machine, in the library, or %NULL
 *   with @error set
 */
VivMachine *
viv_machine_creator_create_finish (VivMachineCreator  *self,
                                   GAsyncResult       *result,
                                   GError            **error)
{
  g_return_val_if_fail (VIV_IS_MACHINE_CREATOR (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        viv_machine_creator_create_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
