/* vm-snapshot.c: snapshots of a machine (vm-snapshot.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vm-snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kvm/state.h"
#include "snapshot/memory.h"
#include "snapshot/state.h"
#include "viv-file.h"
#include "viv-machine-config.h"
#include "viv-snapshot-index.h"

#define MACHINE_SECTION  "machine"
#define MACHINE_VERSION  1
#define STATE_FILE       "state.bin"
#define MEMORY_FILE      "memory.bin"
#define THUMBNAIL_FILE   "thumbnail.png"
#define NEW_PREFIX       ".new-"

/* ---- crash points ------------------------------------------------------------------- */

/* Tests only (tests/guest/snapshot-crash.py): VIVARIUM_SNAPSHOT_CRASH_AT=STEP
 * kills the helper at that step of a take or a delete, as a crash there
 * would. The steps: take-state, take-memory, take-disk-N (after disk N's
 * snapshot), take-fsync, take-rename, take-index; delete-index,
 * delete-disk-N, delete-folder. */
static void G_GNUC_PRINTF (1, 2)
vmm_snapshot_crash_point (const char *format, ...)
{
  static const char *armed;     /* the variable, read once; NULL when unset */
  static gsize once;
  g_autofree char *step = NULL;
  va_list args;

  if (g_once_init_enter (&once))
    {
      armed = g_strdup (g_getenv ("VIVARIUM_SNAPSHOT_CRASH_AT"));
      g_once_init_leave (&once, 1);
    }
  if (armed == NULL)
    return;
  va_start (args, format);
  step = g_strdup_vprintf (format, args);
  va_end (args);
  if (g_str_equal (step, armed))
    {
      vmm_log_info ("crashing at %s, as VIVARIUM_SNAPSHOT_CRASH_AT says", step);
      raise (SIGKILL);
    }
}

/* ---- the machine's state ------------------------------------------------------------ */

/* What must match for a state to fit this machine, and the VM's own flags */
static void
save_machine (struct vmm_vm *vm, struct vmm_state_writer *w)
{
  vmm_state_begin (w, MACHINE_SECTION, MACHINE_VERSION);
  vmm_state_put_u64 (w, vm->config.memory);
  vmm_state_put_u32 (w, vm->n_vcpus);
  vmm_state_put_u32 (w, (uint32_t) vm->config.firmware);
  vmm_state_put_u32 (w, vm->config.n_disks);
  vmm_state_put_u32 (w, vm->config.n_cdroms);
  vmm_state_put_bool (w, vm->gpu != NULL);
  vmm_state_put_bool (w, vm->net != NULL);
  vmm_state_put_bool (w, vm->rng != NULL);
  vmm_state_put_bool (w, vm->console != NULL);
  vmm_state_put_bool (w, vm->vga != NULL);
  vmm_state_put_bool (w, vm->ahci != NULL);
  vmm_state_put_bool (w, vm->gpu_scanout);
  vmm_state_put_bool (w, vm->ps2_input);
  vmm_state_put_bool (w, vm->pointer_is_mouse);
  vmm_state_end (w);
}

static gboolean
load_machine (struct vmm_vm *vm, const struct vmm_state_file *f, bool apply, GError **error)
{
  struct vmm_state_reader r;
  uint64_t memory;
  uint32_t cpus, firmware, disks, cdroms;
  bool gpu, net, rng, console, vga, ahci, gpu_scanout, ps2_input, pointer_is_mouse;

  if (!vmm_state_reader_init (&r, f, MACHINE_SECTION, MACHINE_VERSION, error))
    return FALSE;
  memory = vmm_state_get_u64 (&r);
  cpus = vmm_state_get_u32 (&r);
  firmware = vmm_state_get_u32 (&r);
  disks = vmm_state_get_u32 (&r);
  cdroms = vmm_state_get_u32 (&r);
  gpu = vmm_state_get_bool (&r);
  net = vmm_state_get_bool (&r);
  rng = vmm_state_get_bool (&r);
  console = vmm_state_get_bool (&r);
  vga = vmm_state_get_bool (&r);
  ahci = vmm_state_get_bool (&r);
  gpu_scanout = vmm_state_get_bool (&r);
  ps2_input = vmm_state_get_bool (&r);
  pointer_is_mouse = vmm_state_get_bool (&r);
  if (!vmm_state_reader_done (&r, error))
    return FALSE;

  if (memory != vm->config.memory)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The snapshot was taken with %llu MiB of memory; the machine now has "
                     "%llu MiB"), (unsigned long long) (memory >> 20),
                   (unsigned long long) (vm->config.memory >> 20));
      return FALSE;
    }
  if (cpus != vm->n_vcpus)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The snapshot was taken with %u processors; the machine now has %u"),
                   cpus, vm->n_vcpus);
      return FALSE;
    }
  if (firmware != (uint32_t) vm->config.firmware || disks != vm->config.n_disks
      || cdroms != vm->config.n_cdroms || gpu != (vm->gpu != NULL) || net != (vm->net != NULL)
      || rng != (vm->rng != NULL) || console != (vm->console != NULL)
      || vga != (vm->vga != NULL) || ahci != (vm->ahci != NULL))
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The snapshot was taken with other devices than the machine has now "
                     "(its firmware, disks, drives, display or network changed)"));
      return FALSE;
    }
  if (apply)
    {
      vm->gpu_scanout = gpu_scanout;
      vm->ps2_input = ps2_input;
      vm->pointer_is_mouse = pointer_is_mouse;
    }
  return TRUE;
}

/* The virtio devices and their sections' names */
static unsigned
virtio_devices (struct vmm_vm *vm, struct vmm_virtio_dev **devs, char names[][32], unsigned max)
{
  unsigned n = 0;

#define ADD(dev, ...) \
  do { \
    if (n < max) \
      { \
        devs[n] = (dev); \
        snprintf (names[n], 32, __VA_ARGS__); \
        n++; \
      } \
  } while (0)
  if (vm->rng != NULL)
    ADD (vmm_virtio_rng_dev (vm->rng), "virtio-rng");
  if (vm->net != NULL)
    ADD (vmm_virtio_net_dev (vm->net), "virtio-net");
  if (vm->console != NULL)
    ADD (vmm_virtio_console_dev (vm->console), "virtio-console");
  for (unsigned i = 0; i < VMM_MAX_DISKS; i++)
    if (vm->disks[i] != NULL)
      ADD (vmm_virtio_blk_dev (vm->disks[i]), "virtio-blk.%u", i);
  if (vm->gpu != NULL)
    ADD (vmm_virtio_gpu_dev (vm->gpu), "virtio-gpu");
  if (vm->keyboard != NULL)
    ADD (vmm_virtio_input_dev (vm->keyboard), "virtio-input.keyboard");
  if (vm->tablet != NULL)
    ADD (vmm_virtio_input_dev (vm->tablet), "virtio-input.tablet");
  if (vm->mouse != NULL)
    ADD (vmm_virtio_input_dev (vm->mouse), "virtio-input.mouse");
#undef ADD
  return n;
}

gboolean
vmm_vm_save_state (struct vmm_vm *vm, struct vmm_state_writer *w, GError **error)
{
  struct vmm_virtio_dev *devs[32];
  char names[32][32];
  unsigned n;

  save_machine (vm, w);
  if (!vmm_kvm_vm_save (&vm->kvm, vm->vm_fd, w, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      char name[32];

      snprintf (name, sizeof name, "vcpu.%u", i);
      if (!vmm_kvm_vcpu_save (&vm->vcpus[i].kvm, &vm->kvm, w, name, error))
        return FALSE;
    }
  vmm_pci_host_save (&vm->pci, w, "pci");
  vmm_q35_save (&vm->q35, w, "q35");
  vmm_serial_save (&vm->com1, w, "serial.0");
  vmm_rtc_save (&vm->rtc, w, "rtc");
  vmm_i8042_save (&vm->i8042, w, "i8042");
  vmm_acpi_pm_save (&vm->pm, w, "acpi-pm");
  if (vm->fw_cfg != NULL)
    vmm_fw_cfg_save (vm->fw_cfg, w, "fw-cfg");
  if (vm->vars_flash != NULL)
    vmm_pflash_save (vm->vars_flash, w, "pflash.vars");
  if (vm->ahci != NULL && vmm_ahci_save (vm->ahci, w, "ahci") < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED,
                   _("The SATA disks did not finish their work in time"));
      return FALSE;
    }
  n = virtio_devices (vm, devs, names, G_N_ELEMENTS (devs));
  for (unsigned i = 0; i < n; i++)
    vmm_virtio_save (devs[i], w, names[i]);
  if (vm->vga != NULL)
    vmm_vga_save (vm->vga, w, "vga");
  return TRUE;
}

/* In the order the devices need: the PCI functions' configuration first
 * (the chipset and AHCI derive theirs from it, virtio's MSI-X needs its
 * enable bit), the devices before the interrupt controllers (their lines
 * are driven where they change; the controllers' saved state then says
 * what is pending), the vCPUs (their local APICs) last. */
gboolean
vmm_vm_load_state (struct vmm_vm *vm, const struct vmm_state_file *f, bool apply, GError **error)
{
  struct vmm_virtio_dev *devs[32];
  char names[32][32];
  unsigned n;

  if (!load_machine (vm, f, apply, error))
    return FALSE;
  if (!vmm_pci_host_load (&vm->pci, f, "pci", apply, error)
      || !vmm_q35_load (&vm->q35, f, "q35", apply, error)
      || !vmm_serial_load (&vm->com1, f, "serial.0", apply, error)
      || !vmm_rtc_load (&vm->rtc, f, "rtc", apply, error)
      || !vmm_i8042_load (&vm->i8042, f, "i8042", apply, error)
      || !vmm_acpi_pm_load (&vm->pm, f, "acpi-pm", apply, error)
      || (vm->fw_cfg != NULL && !vmm_fw_cfg_load (vm->fw_cfg, f, "fw-cfg", apply, error))
      || (vm->vars_flash != NULL
          && !vmm_pflash_load (vm->vars_flash, f, "pflash.vars", apply, error))
      || (vm->ahci != NULL && !vmm_ahci_load (vm->ahci, f, "ahci", apply, error)))
    return FALSE;
  n = virtio_devices (vm, devs, names, G_N_ELEMENTS (devs));
  for (unsigned i = 0; i < n; i++)
    if (!vmm_virtio_load (devs[i], f, names[i], apply, error))
      return FALSE;
  if (vm->vga != NULL && !vmm_vga_load (vm->vga, f, "vga", apply, error))
    return FALSE;
  if (!vmm_kvm_vm_load (&vm->kvm, vm->vm_fd, f, apply, error))
    return FALSE;
  for (unsigned i = 0; i < vm->n_vcpus; i++)
    {
      char name[32];

      snprintf (name, sizeof name, "vcpu.%u", i);
      if (!vmm_kvm_vcpu_load (&vm->vcpus[i].kvm, &vm->kvm, f, name, apply, error))
        return FALSE;
    }
  return TRUE;
}

/* ---- quiet devices -------------------------------------------------------------------- */

/* With the vCPUs parked: no request or frame on its way */
static gboolean
freeze_devices (struct vmm_vm *vm, GError **error)
{
  for (unsigned i = 0; i < VMM_MAX_DISKS; i++)
    if (vm->disks[i] != NULL && !vmm_virtio_blk_freeze (vm->disks[i]))
      {
        for (unsigned k = 0; k < i; k++)
          if (vm->disks[k] != NULL)
            vmm_virtio_blk_thaw (vm->disks[k]);
        g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED,
                     _("The disk %s did not finish its work in time"), vm->config.disks[i].path);
        return FALSE;
      }
  if (vm->net != NULL)
    vmm_virtio_net_freeze (vm->net);
  return TRUE;
}

static void
thaw_devices (struct vmm_vm *vm)
{
  for (unsigned i = 0; i < VMM_MAX_DISKS; i++)
    if (vm->disks[i] != NULL)
      vmm_virtio_blk_thaw (vm->disks[i]);
  if (vm->net != NULL)
    vmm_virtio_net_thaw (vm->net);
}

/* ---- disks ------------------------------------------------------------------------------ */

struct disks {
  unsigned n;
  struct vmm_block *block[VMM_MAX_DISKS];
  const char *path[VMM_MAX_DISKS];
};

/* The machine's disks (not its CD-ROMs: read-only media), all qcow2 */
static gboolean
vm_disks (struct vmm_vm *vm, struct disks *d, GError **error)
{
  unsigned sata = 0;

  d->n = 0;
  for (unsigned i = 0; i < vm->config.n_disks; i++)
    {
      const struct vmm_disk_spec *spec = &vm->config.disks[i];
      struct vmm_block *b;

      if (spec->bus == VMM_DISK_BUS_SATA)
        b = vmm_ahci_port_block (vm->ahci, sata++);    /* disks take the first ports */
      else
        b = vm->disks[i] != NULL ? vmm_virtio_blk_block (vm->disks[i]) : NULL;
      if (b == NULL || spec->read_only)
        continue;
      if (vmm_block_format (b) != VMM_BLOCK_FORMAT_QCOW2)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("Snapshots need qcow2 disks; %s is a raw image"), spec->path);
          return FALSE;
        }
      d->block[d->n] = b;
      d->path[d->n] = spec->path;
      d->n++;
    }
  return TRUE;
}

static bool
disk_has_snapshot (struct vmm_block *b, const char *name)
{
  struct vmm_block_snapshot_info *info = NULL;
  unsigned n = 0;
  bool found = false;

  if (vmm_block_snapshot_list (b, &info, &n) < 0)
    return false;
  for (unsigned i = 0; i < n && !found; i++)
    found = g_strcmp0 (info[i].name, name) == 0;
  vmm_block_snapshot_info_free (info, n);
  return found;
}

static char *
disk_snapshot_name (const char *id)
{
  return g_strconcat (VMM_SNAPSHOT_DISK_PREFIX, id, NULL);
}

/* Removes the disk snapshots named for ID; a disk without one is fine */
static void
delete_disk_snapshots (const struct disks *d, const char *id)
{
  g_autofree char *name = disk_snapshot_name (id);

  for (unsigned i = 0; i < d->n; i++)
    {
      g_autoptr (GError) error = NULL;

      if (vmm_block_snapshot_delete (d->block[i], name, &error) < 0
          && !g_error_matches (error, VMM_BLOCK_ERROR, ENOENT))
        vmm_log_warning ("cannot delete the snapshot %s of %s: %s", name, d->path[i],
                         error->message);
      vmm_snapshot_crash_point ("delete-disk-%u", i);
    }
}

/* Takes back the disk snapshots NAME of the first MADE disks */
static void
undo_disk_snapshots (const struct disks *d, unsigned made, const char *name)
{
  for (unsigned i = 0; i < made; i++)
    {
      g_autoptr (GError) local = NULL;

      if (vmm_block_snapshot_delete (d->block[i], name, &local) < 0)
        vmm_log_warning ("cannot take back the snapshot %s of %s: %s", name, d->path[i],
                         local->message);
    }
}

/* ---- the folder --------------------------------------------------------------------------- */

static char *
snapshots_dir (const char *machine_dir)
{
  return g_build_filename (machine_dir, VIV_SNAPSHOT_INDEX_DIR, NULL);
}

static char *
snapshot_dir (const char *machine_dir, const char *id)
{
  return g_build_filename (machine_dir, VIV_SNAPSHOT_INDEX_DIR, id, NULL);
}

/* What a crash left: folders and disk snapshots the index does not list */
static void
remove_leftovers (const char *machine_dir, const VivSnapshotIndex *index, const struct disks *d)
{
  g_autofree char *dir = snapshots_dir (machine_dir);
  g_autoptr (GDir) list = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (list != NULL && (entry = g_dir_read_name (list)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);

      if (g_str_equal (entry, VIV_SNAPSHOT_INDEX_FILE) || !g_file_test (path, G_FILE_TEST_IS_DIR))
        continue;
      if (g_str_has_prefix (entry, NEW_PREFIX) || viv_snapshot_index_find (index, entry) == NULL)
        {
          vmm_log_info ("removing %s, which no snapshot owns", path);
          viv_file_remove_tree (path);
        }
    }
  for (unsigned i = 0; i < d->n; i++)
    {
      struct vmm_block_snapshot_info *info = NULL;
      unsigned n = 0;

      if (vmm_block_snapshot_list (d->block[i], &info, &n) < 0)
        continue;
      for (unsigned k = 0; k < n; k++)
        {
          const char *name = info[k].name;
          g_autoptr (GError) error = NULL;

          if (!g_str_has_prefix (name, VMM_SNAPSHOT_DISK_PREFIX)
              || viv_snapshot_index_find (index, name + strlen (VMM_SNAPSHOT_DISK_PREFIX)))
            continue;
          vmm_log_info ("removing the snapshot %s of %s, which the index does not list", name,
                        d->path[i]);
          if (vmm_block_snapshot_delete (d->block[i], name, &error) < 0)
            vmm_log_warning ("cannot delete it: %s", error->message);
        }
      vmm_block_snapshot_info_free (info, n);
    }
}

static gboolean
write_file (const char *path, const void *data, size_t len, GError **error)
{
  return viv_file_replace (path, data, len, error);
}

static gboolean delete_with (const char *machine_dir, struct disks *d, const char *id,
                             GError **error);

/* ---- taking -------------------------------------------------------------------------------- */

char *
vmm_vm_snapshot_take (struct vmm_vm *vm, const char *machine_dir, const char *name,
                      GError **error)
{
  g_autoptr (VivSnapshotIndex) index = NULL;
  g_autofree char *id = NULL, *dir = NULL, *tmp = NULL, *top = NULL, *disk_name = NULL;
  g_autofree char *state_path = NULL, *memory_path = NULL, *thumb_path = NULL;
  struct vmm_state_writer *w = NULL;
  struct disks d;
  unsigned made = 0;
  uint64_t memory_bytes = 0;
  size_t state_len = 0;
  const uint8_t *state;
  bool was_paused;
  VivSnapshot *s;

  if (!viv_snapshot_name_check (name, error))
    return NULL;
  index = viv_snapshot_index_load (machine_dir, error);
  if (index == NULL || !vm_disks (vm, &d, error))
    return NULL;
  remove_leftovers (machine_dir, index, &d);

  id = g_strdup_printf ("%" G_GUINT64_FORMAT, index->next_id);
  top = snapshots_dir (machine_dir);
  dir = snapshot_dir (machine_dir, id);
  tmp = g_strconcat (top, G_DIR_SEPARATOR_S NEW_PREFIX, id, NULL);
  state_path = g_build_filename (tmp, STATE_FILE, NULL);
  memory_path = g_build_filename (tmp, MEMORY_FILE, NULL);
  thumb_path = g_build_filename (tmp, THUMBNAIL_FILE, NULL);
  disk_name = disk_snapshot_name (id);
  if (g_mkdir_with_parents (tmp, 0700) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), tmp, g_strerror (errno));
      return NULL;
    }

  /* One instant: the vCPUs parked, the devices quiet */
  was_paused = vmm_vm_is_paused (vm);
  vmm_vm_pause (vm);
  w = vmm_state_writer_new ();
  if (!freeze_devices (vm, error))
    goto fail_running;
  if (!vmm_vm_save_state (vm, w, error))
    goto fail;
  state = vmm_state_writer_finish (w, &state_len);
  if (!write_file (state_path, state, state_len, error))
    goto fail;
  vmm_snapshot_crash_point ("take-state");
  if (!vmm_snapshot_memory_save (&vm->mem, vm->memory_base_fd, memory_path, &memory_bytes,
                                 error))
    goto fail;
  vmm_snapshot_crash_point ("take-memory");
  if (vm->spice != NULL)
    {
      g_autoptr (GError) local = NULL;

      /* A snapshot without its picture is still a snapshot */
      if (vmm_spice_write_thumbnail (vm->spice, thumb_path, &local) < 0)
        vmm_log_warning ("no thumbnail for the snapshot: %s", local->message);
    }
  for (; made < d.n; made++)
    {
      if (vmm_block_snapshot_create (d.block[made], disk_name, error) < 0)
        goto fail;
      vmm_snapshot_crash_point ("take-disk-%u", made);
    }

  /* Only now does it get its name, then the index lists it */
  if (viv_file_fsync_dir (tmp) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), dir, g_strerror (errno));
      goto fail;
    }
  vmm_snapshot_crash_point ("take-fsync");
  if (g_rename (tmp, dir) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), dir, g_strerror (errno));
      goto fail;
    }
  viv_file_fsync_dir (top);
  vmm_snapshot_crash_point ("take-rename");
  s = viv_snapshot_index_add (index, name, TRUE, g_get_real_time () / G_USEC_PER_SEC);
  g_assert (g_str_equal (s->id, id));
  s->memory_bytes = memory_bytes;
  s->state_bytes = state_len;
  if (!viv_snapshot_index_save (index, machine_dir, error))
    {
      viv_file_remove_tree (dir);
      goto fail;
    }
  vmm_snapshot_crash_point ("take-index");
  vmm_state_writer_free (w);
  thaw_devices (vm);
  if (!was_paused)
    vmm_vm_resume (vm);
  return g_steal_pointer (&id);

fail:
  undo_disk_snapshots (&d, made, disk_name);
  thaw_devices (vm);
fail_running:
  viv_file_remove_tree (tmp);
  vmm_state_writer_free (w);
  if (!was_paused)
    vmm_vm_resume (vm);
  return NULL;
}

/* ---- reverting -------------------------------------------------------------------------------- */

gboolean
vmm_vm_snapshot_revert (struct vmm_vm *vm, const char *machine_dir, const char *id,
                        GError **error)
{
  g_autoptr (VivSnapshotIndex) index = NULL;
  g_autofree char *dir = NULL, *state_path = NULL, *memory_path = NULL, *data = NULL;
  g_autofree char *disk_name = NULL;
  g_autoptr (GError) local = NULL;
  struct vmm_state_file *f = NULL;
  struct disks d;
  VivSnapshot *s;
  bool was_paused;
  gsize len;
  int fd;

  gint64 t[8];

  t[0] = g_get_monotonic_time ();
  index = viv_snapshot_index_load (machine_dir, error);
  if (index == NULL)
    return FALSE;
  s = viv_snapshot_index_get (index, id, error);
  if (s == NULL)
    return FALSE;
  if (!s->memory)
    {
      if (vm->started)
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("“%s” was taken while the machine was off: shut the machine down to "
                       "go back to it"), s->name);
      else
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("“%s” was taken while the machine was off: there is no running "
                       "machine to start from"), s->name);
      return FALSE;
    }
  dir = snapshot_dir (machine_dir, id);
  state_path = g_build_filename (dir, STATE_FILE, NULL);
  memory_path = g_build_filename (dir, MEMORY_FILE, NULL);
  disk_name = disk_snapshot_name (id);
  if (!g_file_get_contents (state_path, &data, &len, error))
    return FALSE;
  f = vmm_state_file_parse ((const uint8_t *) data, len, error);
  if (f == NULL || !vm_disks (vm, &d, error))
    goto fail;
  for (unsigned i = 0; i < d.n; i++)
    if (!disk_has_snapshot (d.block[i], disk_name))
      {
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("The disk %s no longer holds the snapshot “%s”"), d.path[i], s->name);
        goto fail;
      }

  t[1] = g_get_monotonic_time ();
  /* A paused machine stays paused (one not started yet is left to start) */
  was_paused = vmm_vm_is_paused (vm);
  vmm_vm_pause (vm);
  if (!freeze_devices (vm, error))
    {
      if (!was_paused)
        vmm_vm_resume (vm);
      goto fail;
    }
  t[2] = g_get_monotonic_time ();
  /* Everything is checked before anything changes */
  if (!vmm_vm_load_state (vm, f, false, error))
    {
      thaw_devices (vm);
      if (!was_paused)
        vmm_vm_resume (vm);
      goto fail;
    }
  t[3] = g_get_monotonic_time ();
  for (unsigned i = 0; i < d.n; i++)
    if (vmm_block_snapshot_apply (d.block[i], disk_name, &local) < 0)
      goto broken;
  t[4] = g_get_monotonic_time ();
  fd = vmm_snapshot_memory_map (&vm->mem, memory_path, &local);
  if (fd < 0)
    goto broken;
  if (vm->memory_base_fd >= 0)
    close (vm->memory_base_fd);
  vm->memory_base_fd = fd;
  t[5] = g_get_monotonic_time ();
  if (!vmm_vm_load_state (vm, f, true, &local))
    goto broken;
  vmm_state_file_free (f);
  t[6] = g_get_monotonic_time ();

  /* As a machine restored elsewhere would: tell the network where it is */
  thaw_devices (vm);
  if (vm->net != NULL)
    vmm_virtio_net_announce (vm->net);
  if (!was_paused)
    vmm_vm_resume (vm);
  t[7] = g_get_monotonic_time ();

  /* Where the machine is now, written while it runs */
  g_free (index->current);
  index->current = g_strdup (id);
  if (!viv_snapshot_index_save (index, machine_dir, &local))
    vmm_log_warning ("the index does not say the machine went back to %s: %s", id,
                     local->message);
  vmm_log_debug ("went back to %s in %.1f ms: read and parse %.1f, pause %.1f, check %.1f, "
                 "disks %.1f, memory %.1f, devices %.1f, resume %.1f", id,
                 (t[7] - t[0]) / 1000.0, (t[1] - t[0]) / 1000.0, (t[2] - t[1]) / 1000.0,
                 (t[3] - t[2]) / 1000.0, (t[4] - t[3]) / 1000.0, (t[5] - t[4]) / 1000.0,
                 (t[6] - t[5]) / 1000.0, (t[7] - t[6]) / 1000.0);
  return TRUE;

broken:
  {
    g_autofree char *message = g_strdup_printf (_("Going back to “%s” failed halfway: %s"),
                                                s->name, local->message);

    /* The disks, the memory and the devices may no longer agree: stop */
    vmm_vm_request_exit (vm, VMM_EXIT_ERROR, message);
    g_set_error_literal (error, VMM_ERROR, VMM_ERROR_FAILED, message);
  }
fail:
  vmm_state_file_free (f);
  return FALSE;
}

/* ---- deleting and renaming -------------------------------------------------------------------- */

gboolean
vmm_vm_snapshot_delete (struct vmm_vm *vm, const char *machine_dir, const char *id,
                        GError **error)
{
  struct disks d = { 0 };

  if (!vm_disks (vm, &d, error))
    return FALSE;
  return delete_with (machine_dir, &d, id, error);
}

gboolean
vmm_vm_snapshot_rename (const char *machine_dir, const char *id, const char *name,
                        GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);

  return index != NULL && viv_snapshot_index_rename (index, id, name, error)
         && viv_snapshot_index_save (index, machine_dir, error);
}

/* ---- a stopped machine: vivarium-vmm snapshot ---------------------------------------------- */

/* The machine's writable disks, opened for the snapshot (all qcow2) */
static gboolean
open_disks (const VivMachineConfig *mc, const char *machine_dir, struct disks *d, GError **error)
{
  d->n = 0;
  for (guint i = 0; i < mc->disks->len && d->n < VMM_MAX_DISKS; i++)
    {
      const VivDiskConfig *dc = g_ptr_array_index (mc->disks, i);
      g_autofree char *path = viv_machine_config_resolve_path (machine_dir, dc->path);
      struct vmm_block_open_opts opts = { .path = path, .format = VMM_BLOCK_FORMAT_AUTO };

      if (dc->readonly)
        continue;
      if (vmm_block_open (&d->block[d->n], &opts, error) < 0)
        return FALSE;
      d->path[d->n] = g_steal_pointer (&path);
      d->n++;
      if (vmm_block_format (d->block[d->n - 1]) != VMM_BLOCK_FORMAT_QCOW2)
        {
          g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                       _("Snapshots need qcow2 disks; %s is a raw image"), d->path[d->n - 1]);
          return FALSE;
        }
    }
  return TRUE;
}

static void
close_disks (struct disks *d)
{
  for (unsigned i = 0; i < d->n; i++)
    {
      if (vmm_block_close (d->block[i]) < 0)
        vmm_log_warning ("cannot flush %s", d->path[i]);
      g_free ((char *) d->path[i]);
    }
  d->n = 0;
}

/* The lock a running helper holds (control/service.c's): held by us, no
 * helper can start the machine meanwhile */
static int
lock_machine (const VivMachineConfig *mc, GError **error)
{
  g_autofree char *dir = g_build_filename (g_get_user_runtime_dir (), "vivarium", NULL);
  g_autofree char *name = g_strconcat (mc->uuid, ".lock", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  int fd;

  if (!viv_file_make_private_dir (dir, error))
    return -1;
  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot open %s: %s"), path, g_strerror (errno));
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) < 0)
    {
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("The machine “%s” is running: its snapshots go through its helper"),
                   mc->name);
      close (fd);
      return -1;
    }
  return fd;
}

static char *
take_stopped (const char *machine_dir, struct disks *d, const char *name, GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);
  g_autofree char *id = NULL, *top = NULL, *tmp = NULL, *dir = NULL, *disk_name = NULL;
  g_autofree char *thumb = NULL, *thumb_copy = NULL, *data = NULL;
  unsigned made = 0;
  gsize len;

  if (index == NULL || !viv_snapshot_name_check (name, error))
    return NULL;
  remove_leftovers (machine_dir, index, d);
  id = g_strdup_printf ("%" G_GUINT64_FORMAT, index->next_id);
  top = snapshots_dir (machine_dir);
  tmp = g_strconcat (top, G_DIR_SEPARATOR_S NEW_PREFIX, id, NULL);
  dir = snapshot_dir (machine_dir, id);
  disk_name = disk_snapshot_name (id);
  if (g_mkdir_with_parents (tmp, 0700) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), tmp, g_strerror (errno));
      return NULL;
    }
  /* the machine's last picture is the snapshot's */
  thumb = g_build_filename (machine_dir, THUMBNAIL_FILE, NULL);
  thumb_copy = g_build_filename (tmp, THUMBNAIL_FILE, NULL);
  if (g_file_get_contents (thumb, &data, &len, NULL)
      && !write_file (thumb_copy, data, len, error))
    goto fail;
  for (; made < d->n; made++)
    if (vmm_block_snapshot_create (d->block[made], disk_name, error) < 0)
      goto fail;
  if (viv_file_fsync_dir (tmp) < 0 || g_rename (tmp, dir) < 0)
    {
      viv_file_set_io_error (error, errno, _("Cannot create %s: %s"), dir, g_strerror (errno));
      goto fail;
    }
  viv_file_fsync_dir (top);
  viv_snapshot_index_add (index, name, FALSE, g_get_real_time () / G_USEC_PER_SEC);
  if (!viv_snapshot_index_save (index, machine_dir, error))
    {
      viv_file_remove_tree (dir);
      goto fail;
    }
  return g_steal_pointer (&id);

fail:
  undo_disk_snapshots (d, made, disk_name);
  viv_file_remove_tree (tmp);
  return NULL;
}

static gboolean
revert_stopped (const char *machine_dir, struct disks *d, const char *id, GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);
  g_autofree char *disk_name = disk_snapshot_name (id);
  VivSnapshot *s;

  if (index == NULL)
    return FALSE;
  s = viv_snapshot_index_get (index, id, error);
  if (s == NULL)
    return FALSE;
  if (s->memory)
    {
      /* its memory goes with a running machine: the helper starts from it */
      g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("“%s” was taken while the machine ran: start the machine from it with "
                     "“vivarium-vmm --machine DIR --restore %s”"), s->name, id);
      return FALSE;
    }
  for (unsigned i = 0; i < d->n; i++)
    if (!disk_has_snapshot (d->block[i], disk_name))
      {
        g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG,
                     _("The disk %s no longer holds the snapshot “%s”"), d->path[i], s->name);
        return FALSE;
      }
  for (unsigned i = 0; i < d->n; i++)
    if (vmm_block_snapshot_apply (d->block[i], disk_name, error) < 0)
      return FALSE;
  g_free (index->current);
  index->current = g_strdup (id);
  return viv_snapshot_index_save (index, machine_dir, error);
}

static gboolean
delete_with (const char *machine_dir, struct disks *d, const char *id, GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);
  g_autofree char *dir = NULL;

  /* Out of the index first: a crash after leaves only leftovers */
  if (index == NULL || !viv_snapshot_index_remove (index, id, error)
      || !viv_snapshot_index_save (index, machine_dir, error))
    return FALSE;
  vmm_snapshot_crash_point ("delete-index");
  delete_disk_snapshots (d, id);
  dir = snapshot_dir (machine_dir, id);
  viv_file_remove_tree (dir);
  vmm_snapshot_crash_point ("delete-folder");
  return TRUE;
}

int
vmm_snapshot_cli_main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VivMachineConfig) mc = NULL;
  g_autofree char *machine_dir = NULL;
  struct disks d = { 0 };
  const char *op;
  gboolean ok = FALSE;
  int lock_fd = -1;
  const GOptionEntry entries[] = {
    { "machine", 0, 0, G_OPTION_ARG_FILENAME, &machine_dir, N_("The machine’s folder"),
      N_("DIR") },
    { NULL }
  };

  context = g_option_context_new (_("take NAME | revert ID | delete ID | rename ID NAME"));
  g_option_context_set_summary (context, _("Takes, reverts to, deletes or renames the snapshots "
                                           "of a machine that is off (its disks only). A running "
                                           "machine's go through its helper, over D-Bus."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    goto out;
  op = argc > 1 ? argv[1] : "";
  if (machine_dir == NULL
      || !((g_str_equal (op, "take") && argc == 3) || (g_str_equal (op, "revert") && argc == 3)
           || (g_str_equal (op, "delete") && argc == 3)
           || (g_str_equal (op, "rename") && argc == 4)))
    {
      g_set_error (&error, VMM_ERROR, VMM_ERROR_CONFIG,
                   _("snapshot needs --machine DIR and one of: take NAME, revert ID, delete ID, "
                     "rename ID NAME"));
      goto out;
    }
  if (g_str_equal (op, "rename"))
    {
      ok = vmm_vm_snapshot_rename (machine_dir, argv[2], argv[3], &error);
      goto out;
    }
  mc = viv_machine_config_load_dir (machine_dir, &error);
  if (mc == NULL || (lock_fd = lock_machine (mc, &error)) < 0
      || !open_disks (mc, machine_dir, &d, &error))
    goto out;
  if (g_str_equal (op, "take"))
    {
      g_autofree char *id = take_stopped (machine_dir, &d, argv[2], &error);

      if (id != NULL)
        g_print ("%s\n", id);
      ok = id != NULL;
    }
  else if (g_str_equal (op, "revert"))
    ok = revert_stopped (machine_dir, &d, argv[2], &error);
  else
    ok = delete_with (machine_dir, &d, argv[2], &error);

out:
  close_disks (&d);
  if (lock_fd >= 0)
    close (lock_fd);
  if (!ok)
    g_printerr ("%s\n", error != NULL ? error->message : _("The snapshot operation failed"));
  return ok ? 0 : 1;
}
