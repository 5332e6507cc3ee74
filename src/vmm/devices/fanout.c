/* devices/fanout.c: one byte stream to many readers, with a backlog
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/fanout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

struct vmm_fanout_client {
  struct vmm_fanout *f;
  int fd;
  uint8_t *pending;        /* what the socket did not take yet */
  size_t pending_len;
  bool watching_out;
};

/* Lock held. */
static void
client_drop (struct vmm_fanout *f, unsigned i)
{
  struct vmm_fanout_client *c = f->clients[i];

  vmm_loop_remove (f->loop, c->fd);
  close (c->fd);
  free (c->pending);
  free (c);
  f->clients[i] = NULL;
}

static void on_client (void *opaque, int fd, uint32_t events);

/* Lock held. Writes what it can, keeps the rest, drops a client that is
 * too far behind. Returns false when the client was dropped. */
static bool
client_send (struct vmm_fanout *f, unsigned i, const uint8_t *data, size_t len)
{
  struct vmm_fanout_client *c = f->clients[i];
  ssize_t n = 0;

  if (c->pending_len == 0 && len > 0)
    {
      n = send (c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            {
              client_drop (f, i);
              return false;
            }
          n = 0;
        }
    }
  if ((size_t) n < len)
    {
      size_t rest = len - (size_t) n;
      uint8_t *p;

      if (c->pending_len + rest > VMM_FANOUT_CLIENT_MAX)
        {
          vmm_log_warning ("a console client fell too far behind; disconnecting it");
          client_drop (f, i);
          return false;
        }
      p = realloc (c->pending, c->pending_len + rest);
      if (p == NULL)
        {
          client_drop (f, i);
          return false;
        }
      memcpy (p + c->pending_len, data + n, rest);
      c->pending = p;
      c->pending_len += rest;
      if (!c->watching_out)
        {
          /* watch for room */
          if (vmm_loop_modify (f->loop, c->fd, EPOLLIN | EPOLLOUT) < 0)
            {
              client_drop (f, i);
              return false;
            }
          c->watching_out = true;
        }
    }
  return true;
}

static int
client_index (struct vmm_fanout *f, struct vmm_fanout_client *c)
{
  for (unsigned i = 0; i < VMM_FANOUT_MAX_CLIENTS; i++)
    if (f->clients[i] == c)
      return (int) i;
  return -1;
}

static void
on_client (void *opaque, int fd, uint32_t events)
{
  struct vmm_fanout_client *c = opaque;
  struct vmm_fanout *f = c->f;
  uint8_t buf[512];
  int i;

  pthread_mutex_lock (&f->lock);
  i = client_index (f, c);
  if (i < 0)
    goto out;

  if (events & EPOLLOUT && c->pending_len > 0)
    {
      ssize_t n = send (fd, c->pending, c->pending_len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        {
          client_drop (f, (unsigned) i);
          goto out;
        }
      if (n > 0)
        {
          memmove (c->pending, c->pending + n, c->pending_len - (size_t) n);
          c->pending_len -= (size_t) n;
        }
      if (c->pending_len == 0 && c->watching_out)
        {
          if (vmm_loop_modify (f->loop, c->fd, EPOLLIN) < 0)
            {
              client_drop (f, (unsigned) i);
              goto out;
            }
          c->watching_out = false;
        }
    }

  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        {
          client_drop (f, (unsigned) i);
          goto out;
        }
      if (n > 0 && f->input != NULL)
        {
          pthread_mutex_unlock (&f->lock);
          /* Input the sink cannot take now is dropped, as a UART overruns. */
          f->input (f->opaque, buf, (size_t) n);
          return;
        }
    }
out:
  pthread_mutex_unlock (&f->lock);
}

void
vmm_fanout_init (struct vmm_fanout *f, struct vmm_loop *loop,
                 size_t (*input) (void *opaque, const uint8_t *data, size_t len), void *opaque)
{
  memset (f, 0, sizeof *f);
  pthread_mutex_init (&f->lock, NULL);
  f->loop = loop;
  f->input = input;
  f->opaque = opaque;
}

void
vmm_fanout_destroy (struct vmm_fanout *f)
{
  pthread_mutex_lock (&f->lock);
  for (unsigned i = 0; i < VMM_FANOUT_MAX_CLIENTS; i++)
    if (f->clients[i] != NULL)
      client_drop (f, i);
  pthread_mutex_unlock (&f->lock);
  pthread_mutex_destroy (&f->lock);
}

int
vmm_fanout_attach (struct vmm_fanout *f, int fd)
{
  struct vmm_fanout_client *c;
  int slot = -1, ret;

  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  c = calloc (1, sizeof *c);
  if (c == NULL)
    {
      close (fd);
      return -ENOMEM;
    }
  c->f = f;
  c->fd = fd;

  pthread_mutex_lock (&f->lock);
  for (unsigned i = 0; i < VMM_FANOUT_MAX_CLIENTS; i++)
    if (f->clients[i] == NULL)
      {
        slot = (int) i;
        break;
      }
  if (slot < 0 || (ret = vmm_loop_add (f->loop, fd, EPOLLIN, on_client, c)) < 0)
    {
      pthread_mutex_unlock (&f->lock);
      close (fd);
      free (c);
      return slot < 0 ? -EMFILE : ret;
    }
  f->clients[slot] = c;
  /* the backlog first, in its two pieces around the ring's end */
  {
    size_t first = f->backlog_len;
    if (f->backlog_start + first > VMM_FANOUT_BACKLOG)
      first = VMM_FANOUT_BACKLOG - f->backlog_start;
    if (client_send (f, (unsigned) slot, f->backlog + f->backlog_start, first))
      client_send (f, (unsigned) slot, f->backlog, f->backlog_len - first);
  }
  pthread_mutex_unlock (&f->lock);
  return 0;
}

void
vmm_fanout_write (struct vmm_fanout *f, const uint8_t *data, size_t len)
{
  pthread_mutex_lock (&f->lock);
  for (size_t i = 0; i < len; i++)
    {
      size_t end = (f->backlog_start + f->backlog_len) % VMM_FANOUT_BACKLOG;
      f->backlog[end] = data[i];
      if (f->backlog_len < VMM_FANOUT_BACKLOG)
        f->backlog_len++;
      else
        f->backlog_start = (f->backlog_start + 1) % VMM_FANOUT_BACKLOG;
    }
  for (unsigned i = 0; i < VMM_FANOUT_MAX_CLIENTS; i++)
    if (f->clients[i] != NULL)
      client_send (f, i, data, len);
  pthread_mutex_unlock (&f->lock);
}
