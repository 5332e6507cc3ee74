/* loop.h: the device event loop
 *
 * A thread waits on the fds devices care about (queue-notify eventfds,
 * host-side input) and runs their handlers, off the vCPU threads. A VM has
 * one for its devices, and each disk one of its own (virtio/blk.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef void (*vmm_loop_fn) (void *opaque, int fd, uint32_t events);

struct vmm_loop_handler;

struct vmm_loop {
  int epoll_fd;
  int wake_fd;                       /* eventfd that stops the thread */
  pthread_t thread;
  bool started;
  pthread_mutex_t lock;
  struct vmm_loop_handler *handlers; /* freed at destroy, so events in flight stay valid */
};

int  vmm_loop_init    (struct vmm_loop *loop);
/* Stops the thread (if started) and frees everything. */
void vmm_loop_destroy (struct vmm_loop *loop);

/* Calls FN on the loop thread whenever FD has EVENTS (EPOLLIN...). */
int  vmm_loop_add     (struct vmm_loop *loop, int fd, uint32_t events, vmm_loop_fn fn,
                       void *opaque);
/* Changes the events FD is watched for. */
int  vmm_loop_modify  (struct vmm_loop *loop, int fd, uint32_t events);
/* After this returns, FN may still be running once for FD on the loop thread
 * if called from another thread; from a handler it takes effect at once. */
int  vmm_loop_remove  (struct vmm_loop *loop, int fd);

int  vmm_loop_start   (struct vmm_loop *loop);
void vmm_loop_stop    (struct vmm_loop *loop);

/* Drains an eventfd; returns the counter it held (0 if none). */
uint64_t vmm_eventfd_drain (int fd);

/* CLOCK_MONOTONIC in nanoseconds: what loop deadlines and device timers
 * count in. */
static inline uint64_t
vmm_monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}
