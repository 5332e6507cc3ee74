/* main.c: the vivarium GUI
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "viv-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(VivApplication) app = NULL;

  setlocale (LC_ALL, "");
  viv_application_init_i18n ();

  app = viv_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
