/* main.c: the vivarium GUI
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "viv-application.h"

/* Without a DRM render node GTK's GL renderer runs on the CPU (llvmpipe)
 * and repaints the whole window every frame: there a machine's screen
 * showed a 64x64 change in 31 ms, against 2.8 ms with the cairo renderer,
 * which repaints only what changed (bench/console.sh; full-screen video
 * is a third slower with cairo). GSK_RENDERER, when set, decides. */
static void
choose_renderer (void)
{
  g_autoptr(GDir) dri = NULL;
  const char *name;

  if (g_getenv ("GSK_RENDERER") != NULL)
    return;
  dri = g_dir_open ("/dev/dri", 0, NULL);
  while (dri != NULL && (name = g_dir_read_name (dri)) != NULL)
    if (g_str_has_prefix (name, "renderD"))
      return;
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(VivApplication) app = NULL;

  setlocale (LC_ALL, "");
  viv_application_init_i18n ();
  choose_renderer ();

  app = viv_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
