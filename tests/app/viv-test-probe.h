/* viv-test-probe.h: the probe guest's COM1 and real X input, for GUI tests
 *
 * A test that runs the probe in its display mode (tests/guest/README.md)
 * reads what it prints and sends it commands through the machine's
 * OpenSerial, and moves the X pointer and presses keys with xdotool.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "viv-machine.h"

G_BEGIN_DECLS

typedef struct
{
  GIOStream *serial;
  GCancellable *cancellable;
  GString   *com1;        /* everything COM1 said */
  gsize      mark;        /* where the replies to the last command start */
  guint8     buffer[4096];
  gboolean   ended;       /* the last read finished: nothing is pending */
} VivTestProbe;

VivTestProbe *viv_test_probe_open       (VivMachine   *machine);
void          viv_test_probe_free       (VivTestProbe *probe);
gboolean      viv_test_probe_find_line  (VivTestProbe *probe,
                                         const char   *prefix,
                                         char        **rest);
gboolean      viv_test_probe_expect_line (VivTestProbe *probe,
                                          const char   *prefix,
                                          guint         timeout_ms);
void          viv_test_probe_command    (VivTestProbe *probe,
                                         const char   *line);
gboolean      viv_test_probe_last_input (VivTestProbe *probe,
                                         int           type,
                                         int           code,
                                         int          *value);
gboolean      viv_test_probe_input_is   (VivTestProbe *probe,
                                         int           type,
                                         int           code,
                                         int           value);

gboolean      viv_test_have_xdotool     (void);
gboolean      viv_test_xdo              (const char   *args);
gboolean      viv_test_pointer_to       (GtkWidget    *widget,
                                         double        x,
                                         double        y);

void          viv_test_display_point    (GtkWidget    *display,
                                         double        gx,
                                         double        gy,
                                         double       *x,
                                         double       *y);
gboolean      viv_test_display_shows_bars (gpointer display);
gboolean      viv_test_screenshot_shows_bars (GtkWidget  *window,
                                              GtkWidget  *display,
                                              const char *name,
                                              char      **why);

G_END_DECLS
