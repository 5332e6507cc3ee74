/* devices/chardev.h: character backends, the host side of a console port
 *
 * A backend carries a byte stream between a device (a virtio-console port)
 * and something on the host: stdio, a file (output only), a listening unix
 * socket (one client at a time), nothing, or a peer: another part of the
 * engine in this process that serves the stream through struct
 * vmm_chardev_peer (the embedded SPICE server's vdagent channel, for the
 * "com.redhat.spice.0" port: display/spice.h's vmm_spice_agent_peer()).
 *
 * The device side ("the owner") gives a table of events when it opens a
 * backend. Backends run on the VM's event loop: events are called on the
 * loop thread with no backend lock held, so the owner takes its own lock in
 * them and may call back into the backend from there. The owner may call
 * the vmm_chardev_*() functions from any thread, its own lock held (lock
 * order: the owner's lock, then the backend's).
 *
 * Flow control both ways, with bounded memory:
 *  - guest to host: write() takes what it can without blocking (a socket)
 *    or blocks (stdio, a file); when it takes less than it was given, the
 *    backend calls events->writable once it can take more (or
 *    events->connected (false) if the other side went away).
 *  - host to guest: the backend asks events->input_space how much the
 *    owner can hold, never passes more, and stops reading its fd at zero
 *    until the owner calls vmm_chardev_accept_input().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

enum vmm_chardev_kind {
  VMM_CHARDEV_NONE,
  VMM_CHARDEV_STDIO,
  VMM_CHARDEV_FILE,     /* output only */
  VMM_CHARDEV_SOCKET,   /* a listening unix socket at path */
  VMM_CHARDEV_PEER,     /* peer serves the stream */
};

/* The far side of a VMM_CHARDEV_PEER backend. The peer keeps bounded
 * buffers both ways and the backend pulls from them: nothing is pushed into
 * the device from the peer's threads.
 *
 * attach (data, kick, kick_data) comes first (from the thread that opens
 * the backend); from then on the peer calls KICK (KICK_DATA), from any
 * thread and even with its own lock held (it only wakes the backend's
 * loop), when it has input for the guest, when it has room again after a
 * write that took less than it was given, or when connected changed.
 * attach (data, NULL, NULL) detaches: once it returns the peer calls KICK
 * no more. The other calls come with the owner's and the backend's locks
 * held (the peer's own lock comes last), except read and connected, which
 * come from the loop thread with no lock held. */
struct vmm_chardev_peer_ops {
  void   (*attach)     (void *data, void (*kick) (void *kick_data), void *kick_data);
  /* Guest output: takes up to LEN bytes, returns how many (less: full, a
   * kick follows when there is room) */
  size_t (*write)      (void *data, const void *buf, size_t len);
  /* Host input for the guest: copies up to LEN bytes into BUF, returns
   * how many (0: none now, a kick follows when there is) */
  size_t (*read)       (void *data, void *buf, size_t len);
  /* Whether the other side is there to talk to */
  bool   (*connected)  (void *data);
  /* The guest opened or closed its end of the port */
  void   (*guest_open) (void *data, bool open);
};

struct vmm_chardev_peer {
  const struct vmm_chardev_peer_ops *ops;
  void *data;
};

struct vmm_chardev_spec {
  enum vmm_chardev_kind kind;
  const char *path;                      /* a file or a socket */
  const struct vmm_chardev_peer *peer;   /* a peer; it outlives the backend */
};

struct vmm_chardev;

/* What the owner hears from its backend; on the loop thread, no backend
 * lock held. */
struct vmm_chardev_events {
  /* How many input bytes the owner can take now (0: stop reading). */
  size_t (*input_space) (void *opaque);
  /* Host input, at most what input_space last said. */
  void   (*input)       (void *opaque, const void *data, size_t len);
  /* The host side connected (a socket client came) or went away. */
  void   (*connected)   (void *opaque, bool connected);
  /* A write that took less than it was given can be retried. */
  void   (*writable)    (void *opaque);
};

/* What a backend implements. Called with chr->lock held, except free. */
struct vmm_chardev_ops {
  const char *name;                  /* "socket", for logs */
  /* Takes up to LEN bytes of guest output; returns how many it took. Data
   * nobody can receive (no client, a closed pipe) counts as taken. */
  size_t (*write)        (struct vmm_chardev *chr, const void *data, size_t len);
  /* The owner has room for input again. */
  void   (*accept_input) (struct vmm_chardev *chr);
  /* The guest opened or closed its end of the port (a SPICE char device
   * would tell the server; the built-in backends need nothing). */
  void   (*guest_open)   (struct vmm_chardev *chr, bool open);
  /* Stops watching fds (the loop is stopped or the caller is on it),
   * closes them and frees CHR. */
  void   (*free)         (struct vmm_chardev *chr);
};

/* The part every backend shares; a backend embeds it first. */
struct vmm_chardev {
  const struct vmm_chardev_ops *ops;
  const struct vmm_chardev_events *events;
  void *opaque;
  struct vmm_loop *loop;
  pthread_mutex_t lock;
  bool connected;                    /* under lock */
};

/* Opens the backend SPEC describes. For a socket this binds and listens at
 * once: an existing socket file nobody listens on is replaced, anything
 * else at the path is refused. Returns NULL with ERROR set (G_IO_ERROR, the
 * code from the errno) when it cannot. */
struct vmm_chardev *vmm_chardev_open (const struct vmm_chardev_spec *spec, struct vmm_loop *loop,
                                      const struct vmm_chardev_events *events, void *opaque,
                                      GError **error);
/* Closes a backend (NULL is fine). A socket's path is unlinked. */
void vmm_chardev_close (struct vmm_chardev *chr);

size_t vmm_chardev_write        (struct vmm_chardev *chr, const void *data, size_t len);
void   vmm_chardev_accept_input (struct vmm_chardev *chr);
void   vmm_chardev_guest_open   (struct vmm_chardev *chr, bool open);
bool   vmm_chardev_connected    (struct vmm_chardev *chr);

/* For backends: the common part, and connection changes (calls
 * events->connected when the state changes; chr->lock not held). */
void vmm_chardev_init          (struct vmm_chardev *chr, const struct vmm_chardev_ops *ops,
                                struct vmm_loop *loop, const struct vmm_chardev_events *events,
                                void *opaque);
void vmm_chardev_set_connected (struct vmm_chardev *chr, bool connected);
void vmm_chardev_fini          (struct vmm_chardev *chr);
