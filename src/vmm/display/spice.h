/* display/spice.h: the SPICE server inside the engine
 *
 * One spice-server instance on a thread of its own (its own GMainContext):
 * a display channel fed from a framebuffer the display device fills through
 * vmm_spice_display_listener(), the cursor, and the inputs channel
 * (keyboard, tablet, mouse) sent on to a struct vmm_input_sink.
 *
 * There is no TCP port. Clients reach the server in two ways:
 *
 *  - vmm_spice_connect_client() returns one end of a fresh socket pair whose
 *    other end the server serves. SPICE opens one connection per channel, so
 *    a client asks for one per channel (spice-client-glib's "client-sockets"
 *    session property and its SpiceChannel::open-fd signal);
 *  - vmm_spice_listen_unix() listens on a unix socket (mode 0600) for stock
 *    clients: `remote-viewer spice+unix:///path/to/socket`.
 *
 * Threads: vmm_spice_new(), _free(), _connect_client(), _listen_unix() and
 * _write_thumbnail_if_changed() from any one thread (not the server's); the
 * listeners from the device's thread, as display/display.h says. The input
 * sink and the device's request_size are called from the server's thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "display/display.h"

struct vmm_spice;

struct vmm_spice_config {
  /* Where clients' input goes, or NULL: none. A sink with abs has a
   * tablet (the client sends absolute positions, "client mouse mode"),
   * with rel a mouse, with key a keyboard. Copied. */
  const struct vmm_input_sink *input;
  /* Asked for new sizes when a client's window or monitors change, or
   * NULL. Copied. */
  const struct vmm_display_device *device;
};

struct vmm_spice *vmm_spice_new (const struct vmm_spice_config *config, GError **error);
/* Stops the server; the devices must no longer call its listeners (and
 * its sink and device must stay valid until this returns) */
void vmm_spice_free (struct vmm_spice *spice);

/* What the display device calls (display/display.h): the listener copies
 * flushed rectangles into the server's framebuffer and wakes its thread */
const struct vmm_display_listener *vmm_spice_display_listener (struct vmm_spice *spice);
/* The keyboard LEDs the guest set, for the clients */
const struct vmm_input_led_listener *vmm_spice_led_listener (struct vmm_spice *spice);

/* A connected socket for one SPICE channel connection: the caller owns the
 * returned fd (close-on-exec). -1 with ERROR on failure. */
int vmm_spice_connect_client (struct vmm_spice *spice, GError **error);

/* Listen on the unix socket PATH (created with mode 0600, an old socket
 * there replaced) for stock clients:
 *
 *   remote-viewer spice+unix:///run/user/1000/vivarium/NAME/spice.sock
 *
 * The socket is removed by vmm_spice_free(). One listening socket per
 * server. */
gboolean vmm_spice_listen_unix (struct vmm_spice *spice, const char *path, GError **error);

/* Writes a PNG of the screen, about 320 px wide, to PATH (atomically:
 * written beside it, then renamed) if the screen changed since the last
 * one. 1 if written, 0 if nothing changed (or there is no screen), -1 with
 * ERROR if writing failed (it is tried again next time). */
int vmm_spice_write_thumbnail_if_changed (struct vmm_spice *spice, const char *path,
                                          GError **error);
