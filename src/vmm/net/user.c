/* net/user.c: user-mode networking, libslirp on a thread of its own
 *
 * libslirp is not thread-safe: everything it does happens on this
 * backend's thread, which polls libslirp's sockets, runs its timers, takes
 * the guest's frames from the card when told they wait, and gives the
 * guest libslirp's. libslirp cannot be told "later" when it sends, so
 * frames the guest has no buffers for wait in a bounded backlog until it
 * has; past the bound they are dropped and TCP resends them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "net/user.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <slirp/libslirp.h>

#include "log.h"

G_DEFINE_QUARK (vmm-net-error-quark, vmm_net_error)

#define BACKLOG_FRAMES   1024
#define BACKLOG_BYTES    (8u << 20)
#define TX_BUDGET        256
#define MAX_POLL_FDS     1024
/* fds[0] wakes the thread, 1 and 2 are the card's kicks, libslirp's follow */
#define FIRST_SLIRP_FD   3

struct timer {
  SlirpTimerId id;
  void *cb_opaque;
  SlirpTimerCb cb;              /* the old interface's, or NULL */
  int64_t expire_ms;            /* -1: not armed */
};

struct frame {
  size_t len;
  uint8_t data[];
};

struct user {
  struct vmm_net_backend be;
  struct vmm_net_card card;
  struct vmm_net_events events;
  Slirp *slirp;
  pthread_t thread;
  bool thread_started;
  int wake_fd;
  atomic_bool stop, tx_pending, rx_pending;

  GPtrArray *timers;            /* of struct timer * */
  struct pollfd fds[MAX_POLL_FDS];
  unsigned n_fds;

  GQueue backlog;               /* of struct frame *, for the guest */
  size_t backlog_bytes;
  uint64_t dropped;
  uint8_t tx_buf[VMM_NET_MAX_FRAME];
  char lease[16];
  struct vmm_ratelimit rl;
};

static void
wake (struct user *u)
{
  uint64_t one = 1;

  if (write (u->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
    vmm_log_error ("user network: cannot wake its thread: %s", strerror (errno));
}

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- DHCP leases, seen on their way to the guest ---------------------------------- */

bool
vmm_net_dhcp_ack_address (const uint8_t *f, size_t len, char address[16])
{
  const uint8_t *ip, *udp, *bootp, *opt, *end;
  size_t ihl;

  /* Ethernet, IPv4, UDP from port 67 to 68 */
  if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00)
    return false;
  ip = f + 14;
  ihl = (size_t) (ip[0] & 0x0f) * 4;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip[9] != 17 || len < 14 + ihl + 8)
    return false;
  udp = ip + ihl;
  if (udp[0] != 0 || udp[1] != 67 || udp[2] != 0 || udp[3] != 68)
    return false;
  bootp = udp + 8;
  end = f + len;
  /* op 2 (reply), the magic cookie, then options */
  if (end - bootp < 240 || bootp[0] != 2 ||
      memcmp (bootp + 236, "\x63\x82\x53\x63", 4) != 0)
    return false;
  for (opt = bootp + 240; opt < end && opt[0] != 255;)
    {
      if (opt[0] == 0)
        {
          opt++;
          continue;
        }
      if (end - opt < 2 || end - opt < 2 + opt[1])
        return false;
      if (opt[0] == 53 && opt[1] == 1)
        {
          if (opt[2] != 5)      /* DHCPACK */
            return false;
          snprintf (address, 16, "%u.%u.%u.%u", bootp[16], bootp[17], bootp[18], bootp[19]);
          return true;
        }
      opt += 2 + opt[1];
    }
  return false;
}

/* ---- frames to the guest ----------------------------------------------------------- */

static bool
flush_backlog (struct user *u)
{
  struct frame *f;

  while ((f = g_queue_peek_head (&u->backlog)) != NULL)
    {
      if (u->card.receive (u->card.opaque, f->data, f->len) == -ENOBUFS)
        return false;
      g_queue_pop_head (&u->backlog);
      u->backlog_bytes -= f->len;
      free (f);
    }
  return true;
}

static ssize_t
on_send_packet (const void *buf, size_t len, void *opaque)
{
  struct user *u = opaque;
  char lease[16];

  if (vmm_net_dhcp_ack_address (buf, len, lease) && strcmp (lease, u->lease) != 0)
    {
      memcpy (u->lease, lease, sizeof lease);
      vmm_log_info ("user network: the guest was leased %s", lease);
      if (u->events.lease != NULL)
        u->events.lease (u->events.opaque, lease);
    }
  /* in order: behind what already waits */
  if (g_queue_is_empty (&u->backlog) &&
      u->card.receive (u->card.opaque, buf, len) != -ENOBUFS)
    return (ssize_t) len;
  if (u->backlog.length >= BACKLOG_FRAMES || u->backlog_bytes + len > BACKLOG_BYTES)
    {
      u->dropped++;
      return (ssize_t) len;
    }
  {
    struct frame *f = malloc (sizeof *f + len);

    if (f == NULL)
      {
        u->dropped++;
        return (ssize_t) len;
      }
    f->len = len;
    memcpy (f->data, buf, len);
    g_queue_push_tail (&u->backlog, f);
    u->backlog_bytes += len;
  }
  return (ssize_t) len;
}

/* ---- frames from the guest --------------------------------------------------------- */

static int
send_to_slirp (void *data, const struct iovec *iov, unsigned n_iov, size_t len)
{
  struct user *u = data;
  size_t off = 0;

  /* One copy, out of guest memory: libslirp copies an IP packet again
   * before it parses it, but parses an ARP frame where it is, and another
   * vCPU could change the frame under it there */
  for (unsigned i = 0; i < n_iov && off < len; i++)
    {
      size_t n = MIN (iov[i].iov_len, len - off);

      memcpy (u->tx_buf + off, iov[i].iov_base, n);
      off += n;
    }
  slirp_input (u->slirp, u->tx_buf, (int) off);
  return 0;
}

/* ---- libslirp's callbacks ------------------------------------------------------------- */

static void
on_guest_error (const char *msg, void *opaque)
{
  struct user *u = opaque;

  vmm_log_guest (&u->rl, "user network: %s", msg);
}

static int64_t
on_clock_get_ns (void *opaque)
{
  (void) opaque;
  return now_ns ();
}

static void *
on_timer_new_opaque (SlirpTimerId id, void *cb_opaque, void *opaque)
{
  struct user *u = opaque;
  struct timer *t = g_new0 (struct timer, 1);

  t->id = id;
  t->cb_opaque = cb_opaque;
  t->expire_ms = -1;
  g_ptr_array_add (u->timers, t);
  return t;
}

static void *
on_timer_new (SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
  struct timer *t = on_timer_new_opaque (SLIRP_TIMER_NUM, cb_opaque, opaque);

  t->cb = cb;
  return t;
}

static void
on_timer_free (void *timer, void *opaque)
{
  struct user *u = opaque;

  g_ptr_array_remove_fast (u->timers, timer);
  g_free (timer);
}

static void
on_timer_mod (void *timer, int64_t expire_ms, void *opaque)
{
  struct timer *t = timer;

  (void) opaque;
  t->expire_ms = expire_ms;
}

static void
on_register_poll_fd (int fd, void *opaque)
{
  (void) fd;
  (void) opaque;
}

static void
on_notify (void *opaque)
{
  wake (opaque);
}

static const SlirpCb slirp_callbacks = {
  .send_packet = on_send_packet,
  .guest_error = on_guest_error,
  .clock_get_ns = on_clock_get_ns,
  .timer_new = on_timer_new,
  .timer_free = on_timer_free,
  .timer_mod = on_timer_mod,
  .register_poll_fd = on_register_poll_fd,
  .unregister_poll_fd = on_register_poll_fd,
  .notify = on_notify,
  .timer_new_opaque = on_timer_new_opaque,
};

static int
on_add_poll (int fd, int events, void *opaque)
{
  struct user *u = opaque;
  struct pollfd *p;

  if (u->n_fds == MAX_POLL_FDS)
    return -1;
  p = &u->fds[u->n_fds];
  p->fd = fd;
  p->events = (short) (((events & SLIRP_POLL_IN) ? POLLIN : 0) |
                       ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
                       ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
  p->revents = 0;
  return (int) u->n_fds++;
}

static int
on_get_revents (int idx, void *opaque)
{
  struct user *u = opaque;
  short r;

  if (idx < FIRST_SLIRP_FD || (unsigned) idx >= u->n_fds)
    return 0;
  r = u->fds[idx].revents;
  return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
         ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
         ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* ---- the thread ------------------------------------------------------------------ */

static void
run_timers (struct user *u, int64_t now_ms, uint32_t *timeout)
{
  for (guint i = 0; i < u->timers->len; i++)
    {
      struct timer *t = g_ptr_array_index (u->timers, i);

      if (t->expire_ms < 0)
        continue;
      if (t->expire_ms <= now_ms)
        {
          t->expire_ms = -1;
          if (t->cb != NULL)
            t->cb (t->cb_opaque);
          else
            slirp_handle_timer (u->slirp, t->id, t->cb_opaque);
          /* the callback may have freed or added timers */
          i = (guint) -1;
          continue;
        }
      if ((uint64_t) (t->expire_ms - now_ms) < *timeout)
        *timeout = (uint32_t) (t->expire_ms - now_ms);
    }
}

static void *
user_thread (void *data)
{
  struct user *u = data;

  while (!atomic_load (&u->stop))
    {
      uint32_t timeout = 1000;
      int ret;

      run_timers (u, now_ns () / 1000000, &timeout);
      /* work left from the last round: look again at once */
      if (atomic_load (&u->tx_pending) || (atomic_load (&u->rx_pending) &&
                                           !g_queue_is_empty (&u->backlog)))
        timeout = 0;

      u->fds[0] = (struct pollfd) { .fd = u->wake_fd, .events = POLLIN };
      u->fds[1] = (struct pollfd) { .fd = u->card.tx_kick_fd, .events = POLLIN };
      u->fds[2] = (struct pollfd) { .fd = u->card.rx_kick_fd, .events = POLLIN };
      u->n_fds = FIRST_SLIRP_FD;
      slirp_pollfds_fill (u->slirp, &timeout, on_add_poll, u);
      ret = poll (u->fds, u->n_fds, (int) timeout);
      if (ret > 0 && (u->fds[0].revents & POLLIN))
        {
          uint64_t n;

          if (read (u->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
            vmm_log_error ("user network: %s", strerror (errno));
        }
      if (ret > 0)
        vmm_net_take_kicks (&u->fds[1], &u->fds[2], &u->tx_pending, &u->rx_pending);
      slirp_pollfds_poll (u->slirp, ret < 0, on_get_revents, u);

      /* what is left waits for the card's next rx_ready */
      if (atomic_exchange (&u->rx_pending, false))
        flush_backlog (u);
      if (atomic_exchange (&u->tx_pending, false))
        {
          /* frames to the guest first: room there is what TCP waits on */
          if (u->card.transmit (u->card.opaque, send_to_slirp, u, TX_BUDGET) == -EAGAIN)
            atomic_store (&u->tx_pending, true);
        }
    }
  return NULL;
}

static void
user_tx_ready (struct vmm_net_backend *be)
{
  struct user *u = (struct user *) be;

  if (!atomic_exchange (&u->tx_pending, true))
    wake (u);
}

static void
user_rx_ready (struct vmm_net_backend *be)
{
  struct user *u = (struct user *) be;

  if (!atomic_exchange (&u->rx_pending, true))
    wake (u);
}

static void
user_free (struct vmm_net_backend *be)
{
  struct user *u = (struct user *) be;
  struct frame *f;

  if (u->thread_started)
    {
      atomic_store (&u->stop, true);
      wake (u);
      pthread_join (u->thread, NULL);
    }
  if (u->slirp != NULL)
    slirp_cleanup (u->slirp);
  while ((f = g_queue_pop_head (&u->backlog)) != NULL)
    free (f);
  if (u->timers != NULL)
    g_ptr_array_unref (u->timers);
  if (u->wake_fd >= 0)
    close (u->wake_fd);
  g_free (u);
}

static const struct vmm_net_backend_ops user_ops = {
  .name = "user",
  .tx_ready = user_tx_ready,
  .rx_ready = user_rx_ready,
  .free = user_free,
};

/* ---- setting up -------------------------------------------------------------------- */

static gboolean
add_forward (struct user *u, const struct vmm_net_forward *fw, GError **error)
{
  const char *host = fw->host_address != NULL ? fw->host_address : "127.0.0.1";
  struct sockaddr_storage haddr = { 0 };
  struct sockaddr_in gaddr = { .sin_family = AF_INET, .sin_port = htons (fw->guest_port) };
  socklen_t hlen;
  int flags = fw->udp ? SLIRP_HOSTFWD_UDP : 0;

  if (inet_pton (AF_INET, host, &((struct sockaddr_in *) &haddr)->sin_addr) == 1)
    {
      haddr.ss_family = AF_INET;
      ((struct sockaddr_in *) &haddr)->sin_port = htons (fw->host_port);
      hlen = sizeof (struct sockaddr_in);
    }
  else if (inet_pton (AF_INET6, host, &((struct sockaddr_in6 *) &haddr)->sin6_addr) == 1)
    {
      haddr.ss_family = AF_INET6;
      ((struct sockaddr_in6 *) &haddr)->sin6_port = htons (fw->host_port);
      hlen = sizeof (struct sockaddr_in6);
    }
  else
    {
      g_set_error (error, VMM_NET_ERROR, 0, _("“%s” is not an IP address"), host);
      return FALSE;
    }
  /* the guest's address: the one DHCP gives it (0.0.0.0 means that) */
  errno = 0;
  if (slirp_add_hostxfwd (u->slirp, (struct sockaddr *) &haddr, hlen,
                          (struct sockaddr *) &gaddr, sizeof gaddr, flags) < 0)
    {
      int err = errno;

      g_set_error (error, VMM_NET_ERROR, 0,
                   err == EADDRINUSE
                   /* Translators: %s is TCP or UDP, then the host's address and port */
                   ? _("Cannot forward %s port %s:%u to the machine: another program uses it")
                   : _("Cannot forward %s port %s:%u to the machine: %s"),
                   fw->udp ? "UDP" : "TCP", host, fw->host_port,
                   err != 0 ? g_strerror (err) : _("refused"));
      return FALSE;
    }
  return TRUE;
}

struct vmm_net_backend *
vmm_net_user_new (const struct vmm_net_user_config *config, const struct vmm_net_card *card,
                  const struct vmm_net_events *events, GError **error)
{
  SlirpConfig cfg = { .version = 4 };
  struct user *u = g_new0 (struct user, 1);
  int ret;

  u->be.ops = &user_ops;
  u->card = *card;
  if (events != NULL)
    u->events = *events;
  u->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  u->timers = g_ptr_array_new ();
  g_queue_init (&u->backlog);
  if (u->wake_fd < 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (errno));
      goto fail;
    }

  /* QEMU's -netdev user addresses, which guests and users know */
  cfg.in_enabled = true;
  inet_pton (AF_INET, "10.0.2.0", &cfg.vnetwork);
  inet_pton (AF_INET, "255.255.255.0", &cfg.vnetmask);
  inet_pton (AF_INET, "10.0.2.2", &cfg.vhost);
  inet_pton (AF_INET, "10.0.2.15", &cfg.vdhcp_start);
  inet_pton (AF_INET, "10.0.2.3", &cfg.vnameserver);
  cfg.in6_enabled = true;
  inet_pton (AF_INET6, "fec0::", &cfg.vprefix_addr6);
  cfg.vprefix_len = 64;
  inet_pton (AF_INET6, "fec0::2", &cfg.vhost6);
  inet_pton (AF_INET6, "fec0::3", &cfg.vnameserver6);
  u->slirp = slirp_new (&cfg, &slirp_callbacks, u);
  if (u->slirp == NULL)
    {
      g_set_error (error, VMM_NET_ERROR, 0, _("libslirp could not be set up"));
      goto fail;
    }
  for (unsigned i = 0; i < config->n_forwards; i++)
    if (!add_forward (u, &config->forwards[i], error))
      goto fail;

  {
    sigset_t all, old;

    /* signals are for the VM's own threads (vCPU kicks, the stop signals) */
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &old);
    ret = pthread_create (&u->thread, NULL, user_thread, u);
    pthread_sigmask (SIG_SETMASK, &old, NULL);
  }
  if (ret != 0)
    {
      g_set_error (error, VMM_NET_ERROR, 0, "%s", g_strerror (ret));
      goto fail;
    }
  u->thread_started = true;
  return &u->be;

fail:
  user_free (&u->be);
  return NULL;
}
