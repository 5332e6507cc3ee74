/* devices/chardev.c: the built-in character backends
 *
 * none, stdio, file, a listening unix socket, and a peer in the engine
 * (struct vmm_chardev_peer). Each backend that reads
 * has a private epoll set of its own fds, and only that set is watched by
 * the VM's loop: the backend can then pause reading (stop asking for
 * EPOLLIN), wait for writability, and take clients one after another by
 * changing its own set, without adding and removing loop handlers for each
 * (the loop keeps those until it is destroyed).
 *
 * Everything is level-triggered, and every fd is either drained, paused or
 * dropped when it is reported, so nothing spins.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define READ_CHUNK    4096
#define READ_ROUNDS   16     /* per event; level-triggered epoll brings us back */
#define LISTEN_BACKLOG 4

/* Tags of the fds in the private epoll set */
enum {
  TAG_STDIN = 1,
  TAG_LISTEN,
  TAG_CLIENT,
};

struct builtin_chardev {
  struct vmm_chardev base;

  int epfd;                  /* the private set, in the VM loop; -1 without input */
  int in_fd;                 /* stdin, through a file description of our own */
  int out_fd;                /* stdout or the file */
  bool out_owned;

  int listen_fd;
  int client_fd;
  char *path;                /* the socket we bound, unlinked at close */
  dev_t path_dev;
  ino_t path_ino;

  bool input_paused;         /* the owner had no room: EPOLLIN off */
  bool want_write;           /* a write came up short: EPOLLOUT on */
};

/* The reasons are not translated: they go with the device's name into
 * "Cannot create the virtio-console device: ...". */
static gboolean
set_error (GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static gboolean
set_error (GError **error, int err, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  g_propagate_error (error, g_error_new_valist (G_IO_ERROR, g_io_error_from_errno (err), fmt,
                                                ap));
  va_end (ap);
  return FALSE;
}

/* ---- the common part ----------------------------------------------------- */

void
vmm_chardev_init (struct vmm_chardev *chr, const struct vmm_chardev_ops *ops,
                  struct vmm_loop *loop, const struct vmm_chardev_events *events, void *opaque)
{
  memset (chr, 0, sizeof *chr);
  chr->ops = ops;
  chr->loop = loop;
  chr->events = events;
  chr->opaque = opaque;
  pthread_mutex_init (&chr->lock, NULL);
}

void
vmm_chardev_fini (struct vmm_chardev *chr)
{
  pthread_mutex_destroy (&chr->lock);
}

void
vmm_chardev_set_connected (struct vmm_chardev *chr, bool connected)
{
  bool changed;

  pthread_mutex_lock (&chr->lock);
  changed = chr->connected != connected;
  chr->connected = connected;
  pthread_mutex_unlock (&chr->lock);
  if (changed && chr->events->connected != NULL)
    chr->events->connected (chr->opaque, connected);
}

size_t
vmm_chardev_write (struct vmm_chardev *chr, const void *data, size_t len)
{
  size_t n;

  if (len == 0)
    return 0;
  pthread_mutex_lock (&chr->lock);
  n = chr->ops->write (chr, data, len);
  pthread_mutex_unlock (&chr->lock);
  return n;
}

void
vmm_chardev_accept_input (struct vmm_chardev *chr)
{
  if (chr->ops->accept_input == NULL)
    return;
  pthread_mutex_lock (&chr->lock);
  chr->ops->accept_input (chr);
  pthread_mutex_unlock (&chr->lock);
}

void
vmm_chardev_guest_open (struct vmm_chardev *chr, bool open)
{
  if (chr->ops->guest_open == NULL)
    return;
  pthread_mutex_lock (&chr->lock);
  chr->ops->guest_open (chr, open);
  pthread_mutex_unlock (&chr->lock);
}

bool
vmm_chardev_connected (struct vmm_chardev *chr)
{
  bool connected;

  pthread_mutex_lock (&chr->lock);
  connected = chr->connected;
  pthread_mutex_unlock (&chr->lock);
  return connected;
}

void
vmm_chardev_close (struct vmm_chardev *chr)
{
  if (chr != NULL)
    chr->ops->free (chr);
}

/* ---- the private epoll set ----------------------------------------------- */

static int
watch (struct builtin_chardev *c, int op, int fd, uint32_t tag, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.u32 = tag };

  return epoll_ctl (c->epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev) < 0 ? -errno : 0;
}

/* Lock held. What the input fd (stdin or the client) should report now. */
static void
update_input_mask (struct builtin_chardev *c)
{
  uint32_t events = (c->input_paused ? 0 : EPOLLIN) | (c->want_write ? EPOLLOUT : 0);

  if (c->client_fd >= 0)
    watch (c, EPOLL_CTL_MOD, c->client_fd, TAG_CLIENT, events);
  else if (c->in_fd >= 0)
    watch (c, EPOLL_CTL_MOD, c->in_fd, TAG_STDIN, events & EPOLLIN);
}

static void
set_input_paused (struct builtin_chardev *c, bool paused)
{
  pthread_mutex_lock (&c->base.lock);
  if (c->input_paused != paused)
    {
      c->input_paused = paused;
      update_input_mask (c);
    }
  pthread_mutex_unlock (&c->base.lock);
}

/* Reads what the owner can take from FD. Returns false at end of file or
 * on an error (the caller drops the fd). Loop thread, no lock held. */
static bool
read_input (struct builtin_chardev *c, int fd)
{
  const struct vmm_chardev_events *ev = c->base.events;
  uint8_t buf[READ_CHUNK];

  for (int round = 0; round < READ_ROUNDS; round++)
    {
      size_t space = ev->input_space (c->base.opaque);
      ssize_t n;

      if (space == 0)
        {
          /* Pause, then look again: room made between the two calls came
           * with an accept_input() that found us not yet paused. */
          set_input_paused (c, true);
          space = ev->input_space (c->base.opaque);
          if (space == 0)
            {
              vmm_log_debug ("chardev %s: the guest is not reading; input paused",
                             c->base.ops->name);
              return true;
            }
          set_input_paused (c, false);
        }
      n = read (fd, buf, space < sizeof buf ? space : sizeof buf);
      if (n > 0)
        {
          ev->input (c->base.opaque, buf, (size_t) n);
          continue;
        }
      if (n == 0)
        return false;
      if (errno == EINTR)
        continue;
      return errno == EAGAIN || errno == EWOULDBLOCK;
    }
  return true;
}

/* ---- socket clients ------------------------------------------------------ */

static void
client_disconnect (struct builtin_chardev *c)
{
  pthread_mutex_lock (&c->base.lock);
  if (c->client_fd < 0)
    {
      pthread_mutex_unlock (&c->base.lock);
      return;
    }
  watch (c, EPOLL_CTL_DEL, c->client_fd, 0, 0);
  close (c->client_fd);
  c->client_fd = -1;
  c->want_write = false;
  c->input_paused = false;
  /* The next client, perhaps already waiting in the backlog */
  watch (c, EPOLL_CTL_MOD, c->listen_fd, TAG_LISTEN, EPOLLIN);
  pthread_mutex_unlock (&c->base.lock);
  vmm_log_debug ("chardev %s: client disconnected", c->path);
  vmm_chardev_set_connected (&c->base, false);
}

static void
client_accept (struct builtin_chardev *c)
{
  int fd = accept4 (c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int ret;

  if (fd < 0)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
        return;
      /* Out of fds, say: stop accepting rather than spin on the listener. */
      vmm_log_error ("chardev %s: cannot accept a connection: %s; no longer listening", c->path,
                     strerror (errno));
      pthread_mutex_lock (&c->base.lock);
      watch (c, EPOLL_CTL_MOD, c->listen_fd, TAG_LISTEN, 0);
      pthread_mutex_unlock (&c->base.lock);
      return;
    }

  pthread_mutex_lock (&c->base.lock);
  if (c->client_fd >= 0)
    {
      /* Not reached: the listener is not watched while a client is here. */
      pthread_mutex_unlock (&c->base.lock);
      close (fd);
      return;
    }
  c->client_fd = fd;
  c->input_paused = false;
  c->want_write = false;
  ret = watch (c, EPOLL_CTL_ADD, fd, TAG_CLIENT, EPOLLIN);
  if (ret < 0)
    {
      c->client_fd = -1;
      pthread_mutex_unlock (&c->base.lock);
      close (fd);
      vmm_log_error ("chardev %s: cannot watch a client: %s", c->path, strerror (-ret));
      return;
    }
  /* One client at a time: later ones wait in the backlog until it leaves. */
  watch (c, EPOLL_CTL_MOD, c->listen_fd, TAG_LISTEN, 0);
  pthread_mutex_unlock (&c->base.lock);
  vmm_log_debug ("chardev %s: client connected", c->path);
  vmm_chardev_set_connected (&c->base, true);
}

static void
client_event (struct builtin_chardev *c, uint32_t events)
{
  const struct vmm_chardev_events *ev = c->base.events;
  bool gone = events & (EPOLLHUP | EPOLLERR);
  bool writable = false;

  /* Read first, so what a client sent before it hung up is not lost
   * (as far as the owner has room). */
  if ((events & EPOLLIN) && !read_input (c, c->client_fd))
    gone = true;
  if (gone)
    {
      client_disconnect (c);
      return;
    }
  if (events & EPOLLOUT)
    {
      pthread_mutex_lock (&c->base.lock);
      if (c->want_write)
        {
          c->want_write = false;
          update_input_mask (c);
          writable = true;
        }
      pthread_mutex_unlock (&c->base.lock);
      if (writable && ev->writable != NULL)
        ev->writable (c->base.opaque);
    }
}

/* ---- stdin --------------------------------------------------------------- */

static void
stdin_event (struct builtin_chardev *c, uint32_t events)
{
  bool gone = events & (EPOLLHUP | EPOLLERR);

  if ((events & EPOLLIN) && !read_input (c, c->in_fd))
    gone = true;
  if (!gone)
    return;
  /* End of input: output goes on. */
  pthread_mutex_lock (&c->base.lock);
  watch (c, EPOLL_CTL_DEL, c->in_fd, 0, 0);
  close (c->in_fd);
  c->in_fd = -1;
  pthread_mutex_unlock (&c->base.lock);
}

/* The VM loop saw the private set ready. */
static void
on_events (void *opaque, int fd, uint32_t loop_events)
{
  struct builtin_chardev *c = opaque;
  struct epoll_event ev[4];
  int n;

  (void) loop_events;
  n = epoll_wait (fd, ev, 4, 0);
  for (int i = 0; i < n; i++)
    switch (ev[i].data.u32)
      {
      case TAG_LISTEN:
        client_accept (c);
        break;
      case TAG_CLIENT:
        if (c->client_fd >= 0)
          client_event (c, ev[i].events);
        break;
      case TAG_STDIN:
        if (c->in_fd >= 0)
          stdin_event (c, ev[i].events);
        break;
      default:
        break;
      }
}

/* ---- ops ----------------------------------------------------------------- */

/* Blocking output (stdout, a file), as the serial port does it. */
static size_t
fd_write (struct vmm_chardev *chr, const void *data, size_t len)
{
  struct builtin_chardev *c = (struct builtin_chardev *) chr;
  const uint8_t *p = data;
  size_t left = len;

  while (left > 0)
    {
      ssize_t n = write (c->out_fd, p, left);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          /* A closed pipe, a full disk: the guest keeps running. */
          break;
        }
      p += n;
      left -= (size_t) n;
    }
  return len;
}

static size_t
none_write (struct vmm_chardev *chr, const void *data, size_t len)
{
  (void) chr;
  (void) data;
  return len;
}

static size_t
socket_write (struct vmm_chardev *chr, const void *data, size_t len)
{
  struct builtin_chardev *c = (struct builtin_chardev *) chr;

  if (c->client_fd < 0)
    return len;          /* nobody to hear it */
  for (;;)
    {
      ssize_t n = send (c->client_fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n >= 0 && (size_t) n == len)
        return len;
      if (n < 0 && errno == EINTR)
        continue;
      if (n >= 0 || errno == EAGAIN || errno == EWOULDBLOCK)
        {
          /* Full: the owner holds the rest until EPOLLOUT. */
          if (!c->want_write)
            {
              c->want_write = true;
              update_input_mask (c);
            }
          return n > 0 ? (size_t) n : 0;
        }
      /* The client is going away; its hang-up event disconnects it. */
      return len;
    }
}

static void
builtin_accept_input (struct vmm_chardev *chr)
{
  struct builtin_chardev *c = (struct builtin_chardev *) chr;

  if (c->input_paused)
    {
      c->input_paused = false;
      update_input_mask (c);
    }
}

static void
builtin_free (struct vmm_chardev *chr)
{
  struct builtin_chardev *c = (struct builtin_chardev *) chr;
  struct stat st;

  if (c->epfd >= 0)
    {
      vmm_loop_remove (c->base.loop, c->epfd);
      close (c->epfd);
    }
  if (c->client_fd >= 0)
    close (c->client_fd);
  if (c->listen_fd >= 0)
    close (c->listen_fd);
  /* Unlink the socket only if it is still the one we bound. */
  if (c->path != NULL && lstat (c->path, &st) == 0 && S_ISSOCK (st.st_mode) &&
      st.st_dev == c->path_dev && st.st_ino == c->path_ino)
    unlink (c->path);
  if (c->in_fd >= 0)
    close (c->in_fd);
  if (c->out_owned)
    close (c->out_fd);
  free (c->path);
  vmm_chardev_fini (&c->base);
  free (c);
}

static const struct vmm_chardev_ops none_ops = {
  .name = "none",
  .write = none_write,
  .free = builtin_free,
};

static const struct vmm_chardev_ops stdio_ops = {
  .name = "stdio",
  .write = fd_write,
  .accept_input = builtin_accept_input,
  .free = builtin_free,
};

static const struct vmm_chardev_ops file_ops = {
  .name = "file",
  .write = fd_write,
  .free = builtin_free,
};

static const struct vmm_chardev_ops socket_ops = {
  .name = "socket",
  .write = socket_write,
  .accept_input = builtin_accept_input,
  .free = builtin_free,
};

/* ---- a peer in the engine ------------------------------------------------ */

/* The peer kicks an eventfd on the VM loop; the loop thread then pulls
 * input and passes on connection changes and writability, so the owner's
 * events come from the loop thread as with the other backends. */
struct peer_chardev {
  struct vmm_chardev base;
  struct vmm_chardev_peer peer;
  int efd;
  bool want_write;           /* under base.lock: a write came up short */
};

static void
peer_kick (void *opaque)
{
  struct peer_chardev *c = opaque;
  uint64_t one = 1;

  /* Only EAGAIN (the counter is full, a kick is pending anyway) can fail */
  if (write (c->efd, &one, sizeof one) < 0 && errno != EAGAIN)
    vmm_log_error ("chardev peer: cannot wake the loop: %s", strerror (errno));
}

static void
peer_on_event (void *opaque, int fd, uint32_t loop_events)
{
  struct peer_chardev *c = opaque;
  const struct vmm_chardev_events *ev = c->base.events;
  const struct vmm_chardev_peer *peer = &c->peer;
  uint8_t buf[READ_CHUNK];
  uint64_t count;
  bool writable;
  int round;

  (void) loop_events;
  if (read (fd, &count, sizeof count) < 0 && errno != EAGAIN)
    vmm_log_error ("chardev peer: cannot read its eventfd: %s", strerror (errno));

  vmm_chardev_set_connected (&c->base, peer->ops->connected (peer->data));

  /* Input as far as the owner has room; when it has none it calls
   * accept_input later, which kicks us again */
  for (round = 0; round < READ_ROUNDS; round++)
    {
      size_t space = ev->input_space (c->base.opaque);
      size_t n;

      if (space == 0)
        break;
      n = peer->ops->read (peer->data, buf, space < sizeof buf ? space : sizeof buf);
      if (n == 0)
        break;
      ev->input (c->base.opaque, buf, n);
    }
  if (round == READ_ROUNDS)
    peer_kick (c);           /* more, perhaps: after the loop's other work */

  pthread_mutex_lock (&c->base.lock);
  writable = c->want_write;
  c->want_write = false;
  pthread_mutex_unlock (&c->base.lock);
  /* If the peer is still full, the retried write comes up short again
   * and waits for the peer's next kick */
  if (writable && ev->writable != NULL)
    ev->writable (c->base.opaque);
}

static size_t
peer_write (struct vmm_chardev *chr, const void *data, size_t len)
{
  struct peer_chardev *c = (struct peer_chardev *) chr;
  size_t n = c->peer.ops->write (c->peer.data, data, len);

  if (n < len)
    c->want_write = true;
  return n;
}

static void
peer_accept_input (struct vmm_chardev *chr)
{
  peer_kick (chr);
}

static void
peer_guest_open (struct vmm_chardev *chr, bool open)
{
  struct peer_chardev *c = (struct peer_chardev *) chr;

  c->peer.ops->guest_open (c->peer.data, open);
}

static void
peer_free (struct vmm_chardev *chr)
{
  struct peer_chardev *c = (struct peer_chardev *) chr;

  c->peer.ops->attach (c->peer.data, NULL, NULL);
  if (c->efd >= 0)
    {
      vmm_loop_remove (c->base.loop, c->efd);
      close (c->efd);
    }
  vmm_chardev_fini (&c->base);
  free (c);
}

static const struct vmm_chardev_ops peer_ops = {
  .name = "peer",
  .write = peer_write,
  .accept_input = peer_accept_input,
  .guest_open = peer_guest_open,
  .free = peer_free,
};

static struct vmm_chardev *
open_peer (const struct vmm_chardev_spec *spec, struct vmm_loop *loop,
           const struct vmm_chardev_events *events, void *opaque, GError **error)
{
  struct peer_chardev *c;
  int ret;

  if (spec->peer == NULL || spec->peer->ops == NULL)
    {
      set_error (error, EINVAL, "no peer for the backend");
      return NULL;
    }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    {
      set_error (error, ENOMEM, "out of memory");
      return NULL;
    }
  vmm_chardev_init (&c->base, &peer_ops, loop, events, opaque);
  c->peer = *spec->peer;
  c->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (c->efd < 0)
    {
      set_error (error, errno, "eventfd: %s", strerror (errno));
      vmm_chardev_fini (&c->base);
      free (c);
      return NULL;
    }
  ret = vmm_loop_add (loop, c->efd, EPOLLIN, peer_on_event, c);
  if (ret < 0)
    {
      set_error (error, -ret, "cannot watch the backend: %s", strerror (-ret));
      close (c->efd);
      vmm_chardev_fini (&c->base);
      free (c);
      return NULL;
    }
  c->peer.ops->attach (c->peer.data, peer_kick, c);
  /* The first look: connected, and input already waiting */
  peer_kick (c);
  return &c->base;
}

/* ---- opening ------------------------------------------------------------- */

static void
on_stdin_unused (void *opaque, int fd, uint32_t events)
{
  (void) opaque;
  (void) fd;
  (void) events;
}

/* Always succeeds: without a usable stdin the backend is output only. */
static void
open_stdio (struct builtin_chardev *c)
{
  int ret;

  c->out_fd = STDOUT_FILENO;
  /* One reader for stdin. The serial port (--serial stdio) reads it with
   * a blocking read once the loop says it is readable, so input we took
   * first would block the whole loop. Its registration is on the VM loop
   * already, and epoll refuses the same fd twice: then we stay output
   * only. */
  ret = vmm_loop_add (c->base.loop, STDIN_FILENO, EPOLLIN, on_stdin_unused, c);
  if (ret == -EEXIST)
    {
      vmm_log_info ("console on stdio: stdin goes to the serial port; the console takes no "
                    "input (use --serial none or file:PATH to type into it)");
      return;
    }
  if (ret == 0)
    vmm_loop_remove (c->base.loop, STDIN_FILENO);
  /* A file description of our own, so O_NONBLOCK does not change the
   * terminal or pipe for anyone else. Without /proc, or for a socket,
   * fall back to a dup (read only when epoll says so). */
  c->in_fd = open ("/proc/self/fd/0", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (c->in_fd < 0)
    c->in_fd = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  if (c->in_fd < 0)
    return;              /* no input, output still works */
  /* A regular file or /dev/null cannot be watched: output only. */
  if (watch (c, EPOLL_CTL_ADD, c->in_fd, TAG_STDIN, EPOLLIN) < 0)
    {
      close (c->in_fd);
      c->in_fd = -1;
    }
}

static gboolean
open_file (struct builtin_chardev *c, const char *path, GError **error)
{
  c->out_fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (c->out_fd < 0)
    return set_error (error, errno, "cannot create %s: %s", path, strerror (errno));
  c->out_owned = true;
  return TRUE;
}

/* Whether a process listens on the socket at ADDR. */
static bool
socket_in_use (const struct sockaddr_un *addr)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  bool used;

  if (fd < 0)
    return false;
  used = connect (fd, (const struct sockaddr *) addr, sizeof *addr) == 0 || errno == EAGAIN;
  close (fd);
  return used;
}

static gboolean
open_socket (struct builtin_chardev *c, const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct stat st;
  int ret;

  if (path == NULL || path[0] == '\0')
    return set_error (error, EINVAL, "no socket path");
  if (strlen (path) >= sizeof addr.sun_path)
    return set_error (error, ENAMETOOLONG, "the socket path %s is too long", path);
  memcpy (addr.sun_path, path, strlen (path) + 1);

  /* A socket left by an earlier run is replaced; a live one, or anything
   * that is not a socket, is not. */
  if (lstat (path, &st) == 0)
    {
      if (!S_ISSOCK (st.st_mode))
        return set_error (error, EEXIST, "%s exists and is not a socket", path);
      if (socket_in_use (&addr))
        return set_error (error, EADDRINUSE, "another process listens on %s", path);
      if (unlink (path) < 0 && errno != ENOENT)
        return set_error (error, errno, "cannot remove the old socket %s: %s", path,
                          strerror (errno));
    }

  c->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->listen_fd < 0)
    return set_error (error, errno, "cannot create a socket: %s", strerror (errno));
  if (bind (c->listen_fd, (const struct sockaddr *) &addr, sizeof addr) < 0)
    return set_error (error, errno, "cannot bind %s: %s", path, strerror (errno));
  c->path = strdup (path);
  if (c->path == NULL)
    return set_error (error, ENOMEM, "out of memory");
  if (lstat (path, &st) == 0)
    {
      c->path_dev = st.st_dev;
      c->path_ino = st.st_ino;
    }
  if (listen (c->listen_fd, LISTEN_BACKLOG) < 0)
    return set_error (error, errno, "cannot listen on %s: %s", path, strerror (errno));
  ret = watch (c, EPOLL_CTL_ADD, c->listen_fd, TAG_LISTEN, EPOLLIN);
  if (ret < 0)
    return set_error (error, -ret, "cannot watch %s: %s", path, strerror (-ret));
  return TRUE;
}

struct vmm_chardev *
vmm_chardev_open (const struct vmm_chardev_spec *spec, struct vmm_loop *loop,
                  const struct vmm_chardev_events *events, void *opaque, GError **error)
{
  static const struct vmm_chardev_ops *const kind_ops[] = {
    [VMM_CHARDEV_NONE] = &none_ops,
    [VMM_CHARDEV_STDIO] = &stdio_ops,
    [VMM_CHARDEV_FILE] = &file_ops,
    [VMM_CHARDEV_SOCKET] = &socket_ops,
  };
  struct builtin_chardev *c;
  gboolean ok = TRUE;
  int ret;

  if (spec->kind == VMM_CHARDEV_PEER)
    return open_peer (spec, loop, events, opaque, error);
  if ((unsigned) spec->kind >= sizeof kind_ops / sizeof kind_ops[0])
    {
      set_error (error, EINVAL, "unknown backend kind %d", (int) spec->kind);
      return NULL;
    }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    {
      set_error (error, ENOMEM, "out of memory");
      return NULL;
    }
  vmm_chardev_init (&c->base, kind_ops[spec->kind], loop, events, opaque);
  c->epfd = c->in_fd = c->out_fd = c->listen_fd = c->client_fd = -1;

  if (spec->kind == VMM_CHARDEV_STDIO || spec->kind == VMM_CHARDEV_SOCKET)
    {
      c->epfd = epoll_create1 (EPOLL_CLOEXEC);
      if (c->epfd < 0)
        {
          set_error (error, errno, "epoll_create1: %s", strerror (errno));
          goto fail;
        }
    }
  switch (spec->kind)
    {
    case VMM_CHARDEV_NONE:
      break;
    case VMM_CHARDEV_STDIO:
      open_stdio (c);
      break;
    case VMM_CHARDEV_FILE:
      ok = open_file (c, spec->path, error);
      break;
    case VMM_CHARDEV_SOCKET:
      ok = open_socket (c, spec->path, error);
      break;
    case VMM_CHARDEV_PEER:
      break;                 /* not reached: open_peer() */
    }
  if (!ok)
    goto fail;

  if (c->epfd >= 0)
    {
      ret = vmm_loop_add (loop, c->epfd, EPOLLIN, on_events, c);
      if (ret < 0)
        {
          close (c->epfd);
          c->epfd = -1;
          set_error (error, -ret, "cannot watch the backend: %s", strerror (-ret));
          goto fail;
        }
    }
  /* stdio and a file are always there; a socket once a client comes. */
  c->base.connected = spec->kind == VMM_CHARDEV_STDIO || spec->kind == VMM_CHARDEV_FILE;
  return &c->base;

fail:
  /* Not yet in the loop: closing the set drops what it watched. */
  if (c->epfd >= 0)
    {
      close (c->epfd);
      c->epfd = -1;
    }
  builtin_free (&c->base);
  return NULL;
}
