/* display/spice.h: the SPICE server inside the engine
 *
 * One spice-server instance on a thread of its own (its own GMainContext):
 * a display channel fed from a framebuffer the display device fills through
 * vmm_spice_display_listener(), the cursor, the inputs channel (keyboard,
 * tablet, mouse) sent on to a struct vmm_input_sink, and the guest agent
 * (clipboard, monitor configuration) on a virtio-console port whose backend
 * is vmm_spice_agent_peer().
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
 * The agent's peer is called as devices/chardev.h says, from the console's
 * threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "devices/chardev.h"   /* struct vmm_chardev_peer: its types only */
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
/* Stops the server; the devices must no longer call its listeners, the
 * agent's port backend must be closed (and its sink and device must stay
 * valid until this returns) */
void vmm_spice_free (struct vmm_spice *spice);

/* What the display device calls (display/display.h): the listener copies
 * flushed rectangles into the server's framebuffer and wakes its thread */
const struct vmm_display_listener *vmm_spice_display_listener (struct vmm_spice *spice);
/* The keyboard LEDs the guest set, for the clients */
const struct vmm_input_led_listener *vmm_spice_led_listener (struct vmm_spice *spice);

/* Called when the screen changes for the first time since the last
 * thumbnail was written, from the thread that changed it (the display
 * device's), with no lock held: it must only queue work (the service arms
 * a one-shot timer for the thumbnail, so a still screen costs nothing).
 * Set before the machine runs; if the screen changed already, FN is
 * called at once, from the caller's thread. */
/* Whether clients send the pointer's position (the tablet: client mouse
 * mode, the default when the input sink has abs) or its motion (server
 * mode: for a guest that only drives a relative mouse, such as firmware
 * on PS/2). Any thread; takes effect soon after. */
void vmm_spice_set_absolute_pointer (struct vmm_spice *spice, bool absolute);

typedef void (*vmm_spice_changed_fn) (void *data);
void vmm_spice_set_changed_fn (struct vmm_spice *spice, vmm_spice_changed_fn fn, void *data);

/* The virtio-console port the SPICE guest agent (spice-vdagent) opens */
#define VMM_SPICE_AGENT_PORT "com.redhat.spice.0"

/* The guest agent's end of the "com.redhat.spice.0" port, for a
 * VMM_CHARDEV_PEER backend (devices/chardev.h):
 *
 *   { .kind = VMM_CHARDEV_PEER, .peer = vmm_spice_agent_peer (spice) }
 *
 * The guest opening the port connects the agent to spice-server's vdagent
 * device (clients see "agent connected"), closing it disconnects it; bytes
 * go both ways through bounded buffers, a writer that fills one waits.
 * Monitor configurations go to the agent only when the display device
 * takes no sizes (config->device without request_size): spice sends them
 * to the device when it can, as QEMU does. One backend at a time. */
const struct vmm_chardev_peer *vmm_spice_agent_peer (struct vmm_spice *spice);

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
/* The same, whether the screen changed or not (a snapshot's picture): 1 if
 * written, 0 if there is no screen yet, -1 with ERROR */
int vmm_spice_write_thumbnail (struct vmm_spice *spice, const char *path, GError **error);
