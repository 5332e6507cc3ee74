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

/* For the cases of a test whose first case starts the machine: skip
 * without KVM (HAVE_KVM false), fail when the first case could not bring
 * it up (READY false), skip without xdotool (HAVE_XDOTOOL false) */
#define VIV_TEST_NEED_MACHINE(have_kvm, ready) \
  G_STMT_START { \
    if (!(have_kvm)) \
      { \
        g_test_skip ("/dev/kvm, the helper or the probe is missing: no machine runs here"); \
        return; \
      } \
    if (!(ready)) \
      { \
        g_test_fail_printf ("the machine did not come up"); \
        return; \
      } \
  } G_STMT_END

#define VIV_TEST_NEED_XDOTOOL(have_kvm, ready, have_xdotool) \
  G_STMT_START { \
    VIV_TEST_NEED_MACHINE (have_kvm, ready); \
    if (!(have_xdotool)) \
      { \
        g_test_skip ("xdotool is not installed: no X input events"); \
        return; \
      } \
  } G_STMT_END

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
