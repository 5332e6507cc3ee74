/* net/fd.c: backends that move frames over a file descriptor (tap, passt)
 *
 * The thread polls the descriptor and a wake-up eventfd. A frame read
 * that the guest has no room for is held, and the descriptor is not read
 * again until the card says rx_ready: the kernel (tap) or passt (the
 * socket) keeps the rest. A write the descriptor cannot take now makes
 * the card keep its frames (transmit's -EAGAIN) until it can.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "net/fd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>

#include "log.h"

#define TX_BUDGET 256
#define STREAM_HDR 4

struct fd_backend {
  struct vmm_net_backend be;
  struct vmm_net_card card;
  struct vmm_net_events events;
  const char *what;             /* "tap", "passt": for messages */
  bool stream;                  /* passt's length-prefixed frames */
  int fd;
  int wake_fd;
  pid_t child;                  /* passt, or 0 */
  pthread_t thread;
  bool thread_started;
  atomic_bool stop, tx_pending, rx_pending;

  /* receiving */
  uint8_t *rx_buf;              /* a frame (tap), or the stream's bytes (passt) */
  size_t rx_len;                /* stream: bytes in rx_buf */
  bool rx_held;                 /* a whole frame waits for the guest's room */
  size_t held_len;
  bool dead;                    /* the descriptor ended (passt quit) */

  /* sending: what a stream could not write at once */
  uint8_t *tx_buf;
  size_t tx_off, tx_len;
  char lease[16];
};

static void
wake (struct fd_backend *b)
{
  uint64_t one = 1;

  if (write (b->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
    vmm_log_error ("%s network: cannot wake its thread: %s", b->what, strerror (errno));
}

/* ---- to the guest --------------------------------------------------------------- */

/* passt's DHCP gives the guest an address too */
static void
note_lease (struct fd_backend *b, const uint8_t *frame, size_t len)
{
  char lease[16];

  if (b->events.lease != NULL && vmm_net_dhcp_ack_address (frame, len, lease) &&
      strcmp (lease, b->lease) != 0)
    {
      memcpy (b->lease, lease, sizeof lease);
      b->events.lease (b->events.opaque, lease);
    }
}

static void
deliver (struct fd_backend *b, const uint8_t *frame, size_t len)
{
  note_lease (b, frame, len);
  if (b->card.receive (b->card.opaque, frame, len) == -ENOBUFS)
    {
      if (frame != b->rx_buf)
        memmove (b->rx_buf, frame, len);
      b->rx_held = true;
      b->held_len = len;
    }
}

/* Stream: hands over every whole frame in rx_buf, keeps the rest */
static void
parse_stream (struct fd_backend *b)
{
  size_t off = 0;

  while (!b->rx_held && b->rx_len - off >= STREAM_HDR)
    {
      const uint8_t *p = b->rx_buf + off;
      size_t len = ((size_t) p[0] << 24) | ((size_t) p[1] << 16) | ((size_t) p[2] << 8) | p[3];

      if (len > VMM_NET_MAX_FRAME)
        {
          vmm_log_error ("%s network: a %zu-byte frame; the connection is dropped", b->what, len);
          b->dead = true;
          return;
        }
      if (b->rx_len - off - STREAM_HDR < len)
        break;
      off += STREAM_HDR + len;
      if (len < VMM_NET_MIN_FRAME)
        continue;
      /* held: it stays first in the buffer, for retry_held */
      if (b->card.receive (b->card.opaque, p + STREAM_HDR, len) == -ENOBUFS)
        {
          off -= STREAM_HDR + len;
          b->rx_held = true;
          break;
        }
      note_lease (b, p + STREAM_HDR, len);
    }
  memmove (b->rx_buf, b->rx_buf + off, b->rx_len - off);
  b->rx_len -= off;
}

static void
read_frames (struct fd_backend *b)
{
  for (unsigned i = 0; i < 64 && !b->rx_held && !b->dead; i++)
    {
      ssize_t n;

      if (b->stream)
        n = read (b->fd, b->rx_buf + b->rx_len, STREAM_HDR + VMM_NET_MAX_FRAME - b->rx_len);
      else
        n = read (b->fd, b->rx_buf, VMM_NET_MAX_FRAME);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n <= 0)
        {
          vmm_log_error ("%s network: %s", b->what,
                         n == 0 ? "the other side closed" : strerror (errno));
          b->dead = true;
          return;
        }
      if (b->stream)
        {
          b->rx_len += (size_t) n;
          parse_stream (b);
        }
      else if ((size_t) n >= VMM_NET_MIN_FRAME)
        deliver (b, b->rx_buf, (size_t) n);
    }
}

static void
retry_held (struct fd_backend *b)
{
  if (!b->rx_held)
    return;
  if (b->stream)
    {
      b->rx_held = false;
      parse_stream (b);
      return;
    }
  if (b->card.receive (b->card.opaque, b->rx_buf, b->held_len) != -ENOBUFS)
    b->rx_held = false;
}

/* ---- from the guest --------------------------------------------------------------- */

/* Stream: writes what is left of the last frame; false while some is */
static bool
flush_tx (struct fd_backend *b)
{
  while (b->tx_off < b->tx_len)
    {
      ssize_t n = write (b->fd, b->tx_buf + b->tx_off, b->tx_len - b->tx_off);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return false;
      if (n <= 0)
        {
          b->dead = true;
          b->tx_off = b->tx_len = 0;
          return true;
        }
      b->tx_off += (size_t) n;
    }
  b->tx_off = b->tx_len = 0;
  return true;
}

static int
send_frame (void *data, const struct iovec *iov, unsigned n_iov, size_t len)
{
  struct fd_backend *b = data;

  if (b->dead)
    return 0;                   /* dropped: nobody is there */
  if (!b->stream)
    {
      ssize_t n = writev (b->fd, iov, (int) n_iov);

      if (n < 0 && errno == EAGAIN)
        return -EAGAIN;
      /* a frame the device refuses (too big for its MTU) is lost, as on a wire */
      return 0;
    }
  if (!flush_tx (b))
    return -EAGAIN;
  b->tx_buf[0] = (uint8_t) (len >> 24);
  b->tx_buf[1] = (uint8_t) (len >> 16);
  b->tx_buf[2] = (uint8_t) (len >> 8);
  b->tx_buf[3] = (uint8_t) len;
  b->tx_len = STREAM_HDR;
  for (unsigned i = 0; i < n_iov && b->tx_len < STREAM_HDR + len; i++)
    {
      size_t n = MIN (iov[i].iov_len, STREAM_HDR + len - b->tx_len);

      memcpy (b->tx_buf + b->tx_len, iov[i].iov_base, n);
      b->tx_len += n;
    }
  flush_tx (b);
  return 0;
}

/* ---- the thread --------------------------------------------------------------------- */

static void *
fd_thread (void *data)
{
  struct fd_backend *b = data;

  while (!atomic_load (&b->stop))
    {
      bool tx_blocked = b->tx_off < b->tx_len;
      struct pollfd fds[4] = {
        { .fd = b->wake_fd, .events = POLLIN },
        { .fd = b->dead ? -1 : b->fd,
          .events = (short) ((b->rx_held ? 0 : POLLIN) |
                             (tx_blocked || atomic_load (&b->tx_pending) ? POLLOUT : 0)) },
        { .fd = b->card.tx_kick_fd, .events = POLLIN },
        { .fd = b->card.rx_kick_fd, .events = POLLIN },
      };
      int timeout = atomic_load (&b->tx_pending) && !tx_blocked ? 0 : -1;

      if (poll (fds, 4, timeout) < 0 && errno != EINTR)
        break;
      vmm_net_take_kicks (&fds[2], &fds[3], &b->tx_pending, &b->rx_pending);
      if (fds[0].revents & POLLIN)
        {
          uint64_t n;

          if (read (b->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
            vmm_log_error ("%s network: %s", b->what, strerror (errno));
        }
      if (atomic_exchange (&b->rx_pending, false))
        retry_held (b);
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
        read_frames (b);
      if (b->stream && b->tx_off < b->tx_len && !flush_tx (b))
        continue;
      if (atomic_exchange (&b->tx_pending, false) &&
          b->card.transmit (b->card.opaque, send_frame, b, TX_BUDGET) == -EAGAIN)
        atomic_store (&b->tx_pending, true);
    }
  return NULL;
}

static void
fd_tx_ready (struct vmm_net_backend *be)
{
  struct fd_backend *b = (struct fd_backend *) be;

  if (!atomic_exchange (&b->tx_pending, true))
    wake (b);
}

static void
fd_rx_ready (struct vmm_net_backend *be)
{
  struct fd_backend *b = (struct fd_backend *) be;

  if (!atomic_exchange (&b->rx_pending, true))
    wake (b);
}

static void
fd_free (struct vmm_net_backend *be)
{
  struct fd_backend *b = (struct fd_backend *) be;

  if (b->thread_started)
    {
      atomic_store (&b->stop, true);
      wake (b);
      pthread_join (b->thread, NULL);
    }
  if (b->fd >= 0)
    close (b->fd);
  if (b->child > 0)
    {
      kill (b->child, SIGTERM);
      waitpid (b->child, NULL, 0);
    }
  if (b->wake_fd >= 0)
    close (b->wake_fd);
  g_free (b->rx_buf);
  g_free (b->tx_buf);
  g_free (b);
}

static const struct vmm_net_backend_ops tap_ops = {
  .name = "tap", .tx_ready = fd_tx_ready, .rx_ready = fd_rx_ready, .free = fd_free,
};
static const struct vmm_net_backend_ops passt_ops = {
  .name = "passt", .tx_ready = fd_tx_ready, .rx_ready = fd_rx_ready, .free = fd_free,
};

static struct fd_backend *
fd_backend_new (const struct vmm_net_backend_ops *ops, const struct vmm_net_card *card,
                const struct vmm_net_events *events)
{
  struct fd_backend *b = g_new0 (struct fd_backend, 1);

  b->be.ops = ops;
  b->what = ops->name;
  b->card = *card;
  if (events != NULL)
    b->events = *events;
  b->fd = -1;
  b->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  b->rx_buf = g_malloc (STREAM_HDR + VMM_NET_MAX_FRAME);
  b->tx_buf = g_malloc (STREAM_HDR + VMM_NET_MAX_FRAME);
  return b;
}

static gboolean
fd_backend_start (struct fd_backend *b, GError **error)
{
  sigset_t all, old;
  int ret;

  if (b->wake_fd < 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (errno));
      return FALSE;
    }
  /* signals are for the VM's own threads */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  ret = pthread_create (&b->thread, NULL, fd_thread, b);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (ret != 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (ret));
      return FALSE;
    }
  b->thread_started = true;
  return TRUE;
}

/* ---- tap ------------------------------------------------------------------------------ */

struct vmm_net_backend *
vmm_net_tap_new (const char *name, const struct vmm_net_card *card, GError **error)
{
  struct fd_backend *b = fd_backend_new (&tap_ops, card, NULL);
  struct ifreq ifr = { 0 };

  /* an existing device only: making one is the administrator's choice */
  if (strlen (name) >= IFNAMSIZ || if_nametoindex (name) == 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0,
                   _("there is no network device “%s”; make it with “ip tuntap add dev %s mode "
                     "tap user USER”"), name, name);
      goto fail;
    }
  b->fd = open ("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (b->fd < 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, _("cannot open /dev/net/tun: %s"), g_strerror (errno));
      goto fail;
    }
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (ioctl (b->fd, TUNSETIFF, &ifr) < 0)
    {
      int err = errno;

      g_set_error (error, VMM_NET_ERROR, 0,
                   err == EPERM || err == EACCES
                   ? _("the tap device “%s” belongs to another user (it was made with “user” "
                       "someone else)")
                   : err == EINVAL ? _("“%s” is not a tap device")
                   : err == EBUSY ? _("the tap device “%s” is in use by another program")
                   : _("cannot attach to the tap device “%s”"), name);
      if (err != EPERM && err != EACCES && err != EINVAL && err != EBUSY)
        g_prefix_error (error, "%s: ", g_strerror (err));
      goto fail;
    }
  if (!fd_backend_start (b, error))
    goto fail;
  return &b->be;

fail:
  fd_free (&b->be);
  return NULL;
}

/* ---- passt ------------------------------------------------------------------------------ */

static void
append_forwards (GPtrArray *argv, const struct vmm_net_user_config *config, bool udp)
{
  for (unsigned i = 0; i < config->n_forwards; i++)
    {
      const struct vmm_net_forward *f = &config->forwards[i];

      if (f->udp != udp)
        continue;
      g_ptr_array_add (argv, g_strdup (udp ? "-u" : "-t"));
      /* passt binds every address unless told one: ours are 127.0.0.1 then */
      g_ptr_array_add (argv, g_strdup_printf ("%s/%u:%u",
                                              f->host_address ? f->host_address : "127.0.0.1",
                                              f->host_port, f->guest_port));
    }
}

struct vmm_net_backend *
vmm_net_passt_new (const char *passt, const struct vmm_net_user_config *config,
                   const struct vmm_net_card *card, const struct vmm_net_events *events,
                   GError **error)
{
  struct fd_backend *b = fd_backend_new (&passt_ops, card, events);
  g_autofree char *path = g_find_program_in_path (passt != NULL ? passt : "passt");
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *dir = NULL, *sock = NULL;
  g_autoptr(GError) local = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  pid_t pid;

  b->stream = true;
  if (path == NULL)
    {
      g_set_error (error, VMM_NET_ERROR, 0,
                   _("passt is not installed: install the “%s” package"), "passt");
      goto fail;
    }
  /* Its socket in a folder of our own (passt's --fd, which would spare
   * it, loses forwarded connections in Debian 12's passt: their handshake
   * never ends, under QEMU too). Run as root, passt becomes nobody: the
   * folder is then nobody's, and passt is told so. */
  dir = g_dir_make_tmp ("vivarium-passt-XXXXXX", &local);
  if (dir == NULL)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", local->message);
      goto fail;
    }
  sock = g_build_filename (dir, "passt.sock", NULL);
  if (strlen (sock) >= sizeof addr.sun_path)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (ENAMETOOLONG));
      goto fail;
    }
  g_strlcpy (addr.sun_path, sock, sizeof addr.sun_path);
  g_ptr_array_add (argv, g_strdup (path));
  /* in the foreground, quiet, for this one VM */
  g_ptr_array_add (argv, g_strdup ("--foreground"));
  g_ptr_array_add (argv, g_strdup ("--quiet"));
  g_ptr_array_add (argv, g_strdup ("--one-off"));
  g_ptr_array_add (argv, g_strdup ("--socket"));
  g_ptr_array_add (argv, g_strdup (sock));
  if (geteuid () == 0)
    {
      struct passwd *pw = getpwnam ("nobody");

      if (pw == NULL || chown (dir, pw->pw_uid, pw->pw_gid) < 0)
        {
          g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (pw ? errno : ENOENT));
          goto fail;
        }
      g_ptr_array_add (argv, g_strdup ("--runas"));
      g_ptr_array_add (argv, g_strdup ("nobody"));
    }
  /* for finding out what passt and the guest said to each other */
  if (g_getenv ("VIVARIUM_PASST_PCAP") != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--pcap"));
      g_ptr_array_add (argv, g_strdup (g_getenv ("VIVARIUM_PASST_PCAP")));
    }
  append_forwards (argv, config, false);
  append_forwards (argv, config, true);
  g_ptr_array_add (argv, NULL);

  pid = fork ();
  if (pid < 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (errno));
      goto fail;
    }
  if (pid == 0)
    {
      sigset_t none;
      int null = open ("/dev/null", O_RDWR);

      /* passt ends with us */
      prctl (PR_SET_PDEATHSIG, SIGTERM);
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      /* its messages would go to a system log a VM's helper does not
       * have; what matters shows as a closed socket */
      if (null >= 0)
        {
          dup2 (null, STDIN_FILENO);
          dup2 (null, STDOUT_FILENO);
          dup2 (null, STDERR_FILENO);
        }
      execv (path, (char **) argv->pdata);
      _exit (127);
    }
  b->child = pid;

  /* its socket appears once it is set up: 10 s at most */
  for (unsigned i = 0; b->fd < 0; i++)
    {
      int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), status;

      if (fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
        {
          b->fd = fd;
          break;
        }
      if (fd >= 0)
        close (fd);
      if (waitpid (pid, &status, WNOHANG) == pid)
        {
          b->child = 0;
          g_set_error (error, VMM_NET_ERROR, 0, _("it did not start (exit status %d)"),
                       WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
          goto fail;
        }
      if (i == 500)
        {
          g_set_error (error, VMM_NET_ERROR, 0, _("its socket did not appear"));
          goto fail;
        }
      g_usleep (20000);
    }
  unlink (sock);
  rmdir (dir);
  if (fcntl (b->fd, F_SETFL, O_NONBLOCK) < 0 || !fd_backend_start (b, error))
    goto fail;
  return &b->be;

fail:
  if (error != NULL && *error != NULL)
    g_prefix_error (error, "passt: ");
  if (sock != NULL)
    unlink (sock);
  if (dir != NULL)
    rmdir (dir);
  fd_free (&b->be);
  return NULL;
}
