/* viv-kernel.c: whether a file is a kernel the engine boots
 *
 * The app side's one way into the engine's boot loaders (arch/x86/boot.h):
 * a file chosen as a Linux kernel is checked with the engine's own
 * detection when it is chosen, so that a file the engine would refuse at
 * start is refused in the wizard, with the engine's words.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "viv-kernel"

#include "config.h"

#include <glib/gi18n.h>

#include "arch/x86/boot.h"
#include "viv-kernel.h"

/**
 * viv_kernel_check:
 * @path: a file chosen as a Linux kernel
 * @error: return location for a #GIOError
 *
 * Whether the engine can boot @path: a PVH ELF, or a bzImage whose setup
 * header it accepts. The file is mapped, not read, so a large file that
 * is not a kernel costs nothing. Blocks on the disk: call it from a worker
 * thread.
 *
 * Returns: %TRUE if the engine boots it; %FALSE with @error set, in the
 * words the engine would use at start
 */
gboolean
viv_kernel_check (const char  *path,
                  GError     **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(GError) reason = NULL;
  g_autofree char *display = NULL;
  enum vmm_boot_kind kind;
  const void *data;
  gsize size;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* A FIFO would block the mapping: only files get that far */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      display = g_filename_display_name (path);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE,
                   /* Translators: %s is a file name */
                   _("The kernel “%s” is not a file"), display);
      return FALSE;
    }

  mapped = g_mapped_file_new (path, FALSE, error);
  if (mapped == NULL)
    return FALSE;
  data = g_mapped_file_get_contents (mapped);
  size = g_mapped_file_get_length (mapped);

  if (vmm_boot_detect (data, size, &kind, &reason) && kind == VMM_BOOT_BZIMAGE)
    {
      struct vmm_bzimage_info info;

      vmm_bzimage_parse (data, size, &info, &reason);
    }
  if (reason == NULL)
    return TRUE;

  display = g_filename_display_name (path);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               /* The engine's message when it cannot boot a kernel (vm.c).
                * Translators: the first %s is a file name, the second the reason */
               _("Cannot boot %s: %s"), display, reason->message);
  return FALSE;
}
