/* loop.c: the device event loop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"

struct vmm_loop_handler {
  struct vmm_loop_handler *next;
  int fd;
  bool dead;
  vmm_loop_fn fn;
  void *opaque;
};

uint64_t
vmm_eventfd_drain (int fd)
{
  uint64_t value = 0;

  if (read (fd, &value, sizeof value) != sizeof value)
    return 0;
  return value;
}

int
vmm_loop_init (struct vmm_loop *loop)
{
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

  memset (loop, 0, sizeof *loop);
  loop->wake_fd = -1;
  loop->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  if (loop->epoll_fd < 0)
    return -errno;
  loop->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (loop->wake_fd < 0 || epoll_ctl (loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &ev) < 0)
    {
      int ret = -errno;
      vmm_loop_destroy (loop);
      return ret;
    }
  pthread_mutex_init (&loop->lock, NULL);
  return 0;
}

void
vmm_loop_destroy (struct vmm_loop *loop)
{
  struct vmm_loop_handler *h, *next;

  vmm_loop_stop (loop);
  for (h = loop->handlers; h != NULL; h = next)
    {
      next = h->next;
      free (h);
    }
  loop->handlers = NULL;
  if (loop->wake_fd >= 0)
    close (loop->wake_fd);
  if (loop->epoll_fd >= 0)
    close (loop->epoll_fd);
  loop->wake_fd = loop->epoll_fd = -1;
}

int
vmm_loop_add (struct vmm_loop *loop, int fd, uint32_t events, vmm_loop_fn fn, void *opaque)
{
  struct vmm_loop_handler *h = calloc (1, sizeof *h);
  struct epoll_event ev = { .events = events };
  int ret = 0;

  if (h == NULL)
    return -ENOMEM;
  h->fd = fd;
  h->fn = fn;
  h->opaque = opaque;
  ev.data.ptr = h;

  pthread_mutex_lock (&loop->lock);
  if (epoll_ctl (loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      ret = -errno;
      free (h);
    }
  else
    {
      h->next = loop->handlers;
      loop->handlers = h;
    }
  pthread_mutex_unlock (&loop->lock);
  return ret;
}

int
vmm_loop_modify (struct vmm_loop *loop, int fd, uint32_t events)
{
  int ret = -ENOENT;

  pthread_mutex_lock (&loop->lock);
  for (struct vmm_loop_handler *h = loop->handlers; h != NULL; h = h->next)
    if (h->fd == fd && !h->dead)
      {
        struct epoll_event ev = { .events = events, .data.ptr = h };
        ret = epoll_ctl (loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
        break;
      }
  pthread_mutex_unlock (&loop->lock);
  return ret;
}

int
vmm_loop_remove (struct vmm_loop *loop, int fd)
{
  int ret = -ENOENT;

  pthread_mutex_lock (&loop->lock);
  for (struct vmm_loop_handler *h = loop->handlers; h != NULL; h = h->next)
    if (h->fd == fd && !h->dead)
      {
        h->dead = true;
        epoll_ctl (loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        ret = 0;
        break;
      }
  pthread_mutex_unlock (&loop->lock);
  return ret;
}

static void *
loop_thread (void *data)
{
  struct vmm_loop *loop = data;
  struct epoll_event events[32];

  for (;;)
    {
      int n = epoll_wait (loop->epoll_fd, events, 32, -1);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          vmm_log_error ("event loop: epoll_wait: %s", strerror (errno));
          break;
        }
      for (int i = 0; i < n; i++)
        {
          struct vmm_loop_handler *h = events[i].data.ptr;
          bool dead;

          if (h == NULL)
            return NULL; /* wake_fd: stop */
          pthread_mutex_lock (&loop->lock);
          dead = h->dead;
          pthread_mutex_unlock (&loop->lock);
          if (!dead)
            h->fn (h->opaque, h->fd, events[i].events);
        }
    }
  return NULL;
}

int
vmm_loop_start (struct vmm_loop *loop)
{
  sigset_t all, old;
  int ret;

  /* The thread takes no process signals (SIGTERM's default action would
   * end the helper without flushing a disk): whoever handles them blocks
   * them and reads a signalfd, and a loop thread started earlier than
   * that must not be the one the kernel picks. */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  ret = pthread_create (&loop->thread, NULL, loop_thread, loop);
  pthread_sigmask (SIG_SETMASK, &old, NULL);

  if (ret != 0)
    return -ret;
  pthread_setname_np (loop->thread, "vmm-loop");
  loop->started = true;
  return 0;
}

void
vmm_loop_stop (struct vmm_loop *loop)
{
  uint64_t one = 1;

  if (!loop->started)
    return;
  if (write (loop->wake_fd, &one, sizeof one) < 0)
    vmm_log_error ("event loop: cannot wake: %s", strerror (errno));
  pthread_join (loop->thread, NULL);
  vmm_eventfd_drain (loop->wake_fd);   /* so that a later start runs */
  loop->started = false;
}
