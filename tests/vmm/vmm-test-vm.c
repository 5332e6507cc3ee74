/* vmm-test-vm.c: a fake of the machine (vm.h) for the control service's test
 *
 * control/service.c drives a VM through the few calls below. Here the
 * machine "runs" until asked to stop: nothing is built, no KVM, no guest.
 * What the test needs to steer it comes in through the machine's own
 * channels:
 *
 *  - the serial console (OpenSerial): "H" makes the fake open /dev/null
 *    until the process is out of descriptors and answer "hogged N\n"; "F"
 *    closes them again and answers "freed\n";
 *  - the machine folder, when vmm_test_vm_gate_dir is set: creating the
 *    machine writes DIR/creating, then waits until DIR/release exists (a
 *    machine that takes a while to build);
 *  - the CD-ROM drives (config.cdroms): "L" on the serial console locks
 *    drive 0's tray, as a guest reading the disc does ("locked\n"); an
 *    EjectMedium without force then fails, and the guest, asked to let
 *    go, ejects the disc itself a moment later, from a thread of its own
 *    (the medium callback). "E" makes the guest eject drive 0's disc
 *    ("ejected\n");
 *  - the display: a machine with one gets the real SPICE server
 *    (display/spice.c), showing vmm_test_vm_pixel()'s pattern, as if the
 *    guest had drawn it; no input devices. "D" on the serial console
 *    draws it again in other colours (the screen changed).
 *
 * Stopping happens on a thread of its own, as a vCPU thread would report it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"
#include "vm-snapshot.h"
#include "viv-snapshot-index.h"
#include "vmm-test-vm.h"

const char *vmm_test_vm_gate_dir;

struct fake_vm {
  struct vmm_vm vm;              /* first: what the service holds */
  GThread *stopper;
  GArray *hog;                   /* descriptors taken by "H" */
  uint8_t *screen;               /* the display's pixels, XRGB8888 */
  unsigned seed;

  GMutex media_lock;
  char *cdroms[VMM_MAX_CDROMS];  /* the discs in the drives, NULL: empty */
  bool locked[VMM_MAX_CDROMS];
  vmm_vm_medium_fn medium_fn;
  void *medium_data;
  GThread *ejecter;              /* the guest letting go of a locked disc */
};

uint32_t
vmm_test_vm_pixel (unsigned seed, uint32_t x, uint32_t y)
{
  return ((x * 7 + seed) & 0xff) | ((y * 5 + seed) & 0xff) << 8 | ((x ^ y) & 0xff) << 16;
}

/* What the guest would have drawn, flushed as a whole */
static void
show_screen (struct fake_vm *f)
{
  const struct vmm_display_listener *l = vmm_spice_display_listener (f->vm.spice);
  struct vmm_display_surface surface = {
    .width = VMM_TEST_VM_SCREEN_W, .height = VMM_TEST_VM_SCREEN_H,
    .stride = VMM_TEST_VM_SCREEN_W * 4, .format = VMM_PIXEL_XRGB8888,
  };

  for (uint32_t y = 0; y < surface.height; y++)
    for (uint32_t x = 0; x < surface.width; x++)
      {
        uint32_t p = vmm_test_vm_pixel (f->seed, x, y);
        uint8_t *o = f->screen + (size_t) y * surface.stride + x * 4;

        o[0] = p & 0xff;
        o[1] = (p >> 8) & 0xff;
        o[2] = (p >> 16) & 0xff;
        o[3] = 0;
      }
  surface.pixels = f->screen;
  l->set_surface (l->data, &surface);
  l->update (l->data, &surface, 0, 0, surface.width, surface.height);
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
wait_for_release (const char *dir)
{
  g_autofree char *creating = g_build_filename (dir, "creating", NULL);
  g_autofree char *release = g_build_filename (dir, "release", NULL);

  g_assert_true (g_file_set_contents (creating, "", 0, NULL));
  while (!g_file_test (release, G_FILE_TEST_EXISTS))
    g_usleep (10000);
}

struct vmm_vm *
vmm_vm_create (const struct vmm_config *config, GError **error)
{
  struct fake_vm *f;

  (void) error;
  if (vmm_test_vm_gate_dir != NULL)
    wait_for_release (vmm_test_vm_gate_dir);
  f = g_new0 (struct fake_vm, 1);
  f->vm.config = *config;
  f->vm.config.strings = NULL;   /* the service's config owns them */
  f->hog = g_array_new (FALSE, FALSE, sizeof (int));
  g_mutex_init (&f->media_lock);
  for (unsigned i = 0; i < config->n_cdroms; i++)
    f->cdroms[i] = g_strdup (config->cdroms[i].path);
  pthread_mutex_init (&f->vm.exit_lock, NULL);
  if (config->display.kind == VMM_DISPLAY_SPICE)
    {
      struct vmm_spice_config spice_config = { 0 };

      f->vm.spice = vmm_spice_new (&spice_config, error);
      if (f->vm.spice == NULL)
        {
          vmm_vm_destroy (&f->vm);
          return NULL;
        }
      f->screen = g_malloc ((size_t) VMM_TEST_VM_SCREEN_W * VMM_TEST_VM_SCREEN_H * 4);
      show_screen (f);
    }
  return &f->vm;
}

struct vmm_spice *
vmm_vm_get_spice (struct vmm_vm *vm)
{
  return vm->spice;
}

static void
release_hog (struct fake_vm *f)
{
  for (guint i = 0; i < f->hog->len; i++)
    close (g_array_index (f->hog, int, i));
  g_array_set_size (f->hog, 0);
}

void
vmm_vm_destroy (struct vmm_vm *vm)
{
  struct fake_vm *f = (struct fake_vm *) vm;

  if (vm == NULL)
    return;
  if (f->stopper != NULL)
    g_thread_join (f->stopper);
  if (f->ejecter != NULL)
    g_thread_join (f->ejecter);
  for (unsigned i = 0; i < VMM_MAX_CDROMS; i++)
    g_free (f->cdroms[i]);
  g_mutex_clear (&f->media_lock);
  vmm_spice_free (vm->spice);
  g_free (f->screen);
  release_hog (f);
  g_array_unref (f->hog);
  pthread_mutex_destroy (&vm->exit_lock);
  g_free (vm->exit_message);
  g_free (f);
}

void
vmm_vm_set_callbacks (struct vmm_vm *vm, vmm_vm_exit_fn exit_fn, vmm_vm_panic_fn panic_fn,
                      void *data)
{
  vm->exit_fn = exit_fn;
  vm->panic_fn = panic_fn;
  vm->callback_data = data;
}

/* No disks here: nothing reports */
void
vmm_vm_set_disk_error_fn (struct vmm_vm *vm G_GNUC_UNUSED, vmm_disk_error_fn fn G_GNUC_UNUSED,
                          void *data G_GNUC_UNUSED)
{
}

void
vmm_vm_set_display_changed_fn (struct vmm_vm *vm, void (*fn) (void *data), void *data)
{
  if (vm->spice != NULL)
    vmm_spice_set_changed_fn (vm->spice, fn, data);
}

int
vmm_vm_start (struct vmm_vm *vm)
{
  vm->started = true;
  vm->start_ns = now_ns ();
  return 0;
}

static gpointer
stopper_thread (gpointer data)
{
  struct vmm_vm *vm = data;

  if (vm->exit_fn != NULL)
    vm->exit_fn (vm, vm->exit_reason, vm->exit_message, vm->callback_data);
  return NULL;
}

void
vmm_vm_request_exit (struct vmm_vm *vm, enum vmm_exit_reason reason, const char *message)
{
  struct fake_vm *f = (struct fake_vm *) vm;

  pthread_mutex_lock (&vm->exit_lock);
  if (!vm->exit_requested)
    {
      vm->exit_requested = true;
      vm->exit_reason = reason;
      vm->exit_message = g_strdup (message);
      f->stopper = g_thread_new ("fake-vcpu", stopper_thread, vm);
    }
  pthread_mutex_unlock (&vm->exit_lock);
}

enum vmm_exit_reason
vmm_vm_wait (struct vmm_vm *vm, const char **message)
{
  struct fake_vm *f = (struct fake_vm *) vm;

  pthread_mutex_lock (&vm->exit_lock);
  if (f->stopper != NULL)
    {
      g_thread_join (f->stopper);
      f->stopper = NULL;
    }
  pthread_mutex_unlock (&vm->exit_lock);
  if (message != NULL)
    *message = vm->exit_message;
  return vm->exit_reason;
}

enum vmm_exit_reason
vmm_vm_run (struct vmm_vm *vm, const char **message)
{
  vmm_vm_start (vm);
  return vmm_vm_wait (vm, message);
}

void
vmm_vm_pause (struct vmm_vm *vm)
{
  vm->pause_requested = true;
}

void
vmm_vm_resume (struct vmm_vm *vm)
{
  vm->pause_requested = false;
}

bool
vmm_vm_is_paused (struct vmm_vm *vm)
{
  return vm->pause_requested;
}

uint64_t
vmm_vm_uptime_ns (struct vmm_vm *vm)
{
  return vm->started ? now_ns () - vm->start_ns : 0;
}

/* The guest obeys the button at once. */
void
vmm_vm_power_button (struct vmm_vm *vm)
{
  vmm_vm_request_exit (vm, VMM_EXIT_POWER_OFF, NULL);
}

static void guest_eject (struct fake_vm *f);

static void
serial_say (struct vmm_vm *vm, const char *text)
{
  if (vm->config.serial_output != NULL)
    vm->config.serial_output (vm->config.serial_data, (const uint8_t *) text, strlen (text));
}

size_t
vmm_vm_serial_input (struct vmm_vm *vm, const uint8_t *data, size_t len)
{
  struct fake_vm *f = (struct fake_vm *) vm;

  for (size_t i = 0; i < len; i++)
    {
      if (data[i] == 'H')
        {
          char answer[64];
          int fd;

          while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
            g_array_append_val (f->hog, fd);
          g_assert_true (errno == EMFILE || errno == ENFILE);
          snprintf (answer, sizeof answer, "hogged %u\n", f->hog->len);
          serial_say (vm, answer);
        }
      else if (data[i] == 'F')
        {
          release_hog (f);
          serial_say (vm, "freed\n");
        }
      else if (data[i] == 'L' && vm->config.n_cdroms > 0)
        {
          g_mutex_lock (&f->media_lock);
          f->locked[0] = true;
          g_mutex_unlock (&f->media_lock);
          serial_say (vm, "locked\n");
        }
      else if (data[i] == 'E' && vm->config.n_cdroms > 0)
        {
          guest_eject (f);
          serial_say (vm, "ejected\n");
        }
      else if (data[i] == 'D' && vm->spice != NULL)
        {
          f->seed++;
          show_screen (f);
          serial_say (vm, "drawn\n");
        }
    }
  return len;
}

/* ---- the network ---------------------------------------------------------------- */

void
vmm_vm_set_lease_fn (struct vmm_vm *vm G_GNUC_UNUSED,
                     void (*fn) (struct vmm_vm *vm, const char *address, void *data) G_GNUC_UNUSED,
                     void *data G_GNUC_UNUSED)
{
}

/* ---- CD-ROM drives ------------------------------------------------------------- */

void
vmm_vm_set_medium_fn (struct vmm_vm *vm, vmm_vm_medium_fn fn, void *data)
{
  struct fake_vm *f = (struct fake_vm *) vm;

  f->medium_fn = fn;
  f->medium_data = data;
}

/* The guest takes the disc out of drive 0, on a thread that is not the
 * service's, as the controller would. */
static void
guest_eject (struct fake_vm *f)
{
  g_mutex_lock (&f->media_lock);
  g_clear_pointer (&f->cdroms[0], g_free);
  f->locked[0] = false;
  g_mutex_unlock (&f->media_lock);
  if (f->medium_fn != NULL)
    f->medium_fn (f->medium_data, 0, false);
}

static gpointer
ejecter_thread (gpointer data)
{
  g_usleep (50000);
  guest_eject (data);
  return NULL;
}

gboolean
vmm_vm_insert_medium (struct vmm_vm *vm, unsigned drive, const char *path, GError **error)
{
  struct fake_vm *f = (struct fake_vm *) vm;
  gboolean ok = FALSE;

  g_mutex_lock (&f->media_lock);
  if (drive >= vm->config.n_cdroms)
    g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, "no CD-ROM drive %u", drive);
  else if (f->cdroms[drive] != NULL)
    g_set_error (error, VMM_ERROR, VMM_ERROR_CONFIG, "CD-ROM drive %u holds a disc", drive);
  else if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_set_error (error, VMM_ERROR, VMM_ERROR_FAILED, "Cannot open %s: %s", path,
                 g_strerror (ENOENT));
  else
    {
      f->cdroms[drive] = g_strdup (path);
      ok = TRUE;
    }
  g_mutex_unlock (&f->media_lock);
  return ok;
}

int
vmm_vm_eject_medium (struct vmm_vm *vm, unsigned drive, bool force)
{
  struct fake_vm *f = (struct fake_vm *) vm;
  int ret = 0;

  g_mutex_lock (&f->media_lock);
  if (drive >= vm->config.n_cdroms)
    ret = -ENODEV;
  else if (f->locked[drive] && !force)
    {
      ret = -EBUSY;
      if (f->ejecter == NULL)
        f->ejecter = g_thread_new ("fake-guest-eject", ejecter_thread, f);
    }
  else
    {
      g_clear_pointer (&f->cdroms[drive], g_free);
      f->locked[drive] = false;
    }
  g_mutex_unlock (&f->media_lock);
  return ret;
}

/* The fake has no controller (vm->ahci is NULL); the service asks only
 * through one, so this is never reached with a real port */
char *
vmm_ahci_dup_medium_path (struct vmm_ahci *ahci G_GNUC_UNUSED, unsigned port G_GNUC_UNUSED)
{
  return NULL;
}

/* ---- snapshots (vm-snapshot.h): the index only, as the real ones leave it ---------- */

char *
vmm_vm_snapshot_take (struct vmm_vm *vm, const char *machine_dir, const char *name,
                      GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);
  VivSnapshot *s;

  (void) vm;
  if (index == NULL || !viv_snapshot_name_check (name, error))
    return NULL;
  s = viv_snapshot_index_add (index, name, TRUE, g_get_real_time () / G_USEC_PER_SEC);
  if (!viv_snapshot_index_save (index, machine_dir, error))
    return NULL;
  return g_strdup (s->id);
}

gboolean
vmm_vm_snapshot_revert (struct vmm_vm *vm, const char *machine_dir, const char *id,
                        GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);

  (void) vm;
  if (index == NULL)
    return FALSE;
  if (viv_snapshot_index_get (index, id, error) == NULL)
    return FALSE;
  g_free (index->current);
  index->current = g_strdup (id);
  return viv_snapshot_index_save (index, machine_dir, error);
}

gboolean
vmm_vm_snapshot_delete (struct vmm_vm *vm, const char *machine_dir, const char *id,
                        GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);

  (void) vm;
  return index != NULL && viv_snapshot_index_remove (index, id, error)
         && viv_snapshot_index_save (index, machine_dir, error);
}

gboolean
vmm_vm_snapshot_rename (const char *machine_dir, const char *id, const char *name,
                        GError **error)
{
  g_autoptr (VivSnapshotIndex) index = viv_snapshot_index_load (machine_dir, error);

  return index != NULL && viv_snapshot_index_rename (index, id, name, error)
         && viv_snapshot_index_save (index, machine_dir, error);
}
