/* devices/fanout.h: one byte stream to many readers, with a backlog
 *
 * What a guest prints on a console goes to every attached client (the
 * app's machine page, a script with gdbus) and into a backlog of the last
 * bytes, which a client that attaches later receives first. Input from any
 * client goes to one sink (the UART). Writers never block: a client that
 * does not keep up is disconnected rather than stalling the vCPU.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define VMM_FANOUT_BACKLOG     (64 * 1024)
#define VMM_FANOUT_CLIENT_MAX  (256 * 1024)  /* bytes a client may fall behind */
#define VMM_FANOUT_MAX_CLIENTS 16

struct vmm_fanout_client;

struct vmm_fanout {
  pthread_mutex_t lock;
  struct vmm_loop *loop;
  uint8_t backlog[VMM_FANOUT_BACKLOG];
  size_t backlog_start, backlog_len;
  struct vmm_fanout_client *clients[VMM_FANOUT_MAX_CLIENTS];
  /* Input from clients; called on the loop thread. Returns bytes taken. */
  size_t (*input) (void *opaque, const uint8_t *data, size_t len);
  void *opaque;
};

void vmm_fanout_init    (struct vmm_fanout *f, struct vmm_loop *loop,
                         size_t (*input) (void *opaque, const uint8_t *data, size_t len),
                         void *opaque);
void vmm_fanout_destroy (struct vmm_fanout *f);

/* Takes FD (a connected socket; made non-blocking), sends it the backlog,
 * then everything written from now on. Returns 0, or -errno (-EMFILE when
 * there are too many clients; the fd is then closed). */
int  vmm_fanout_attach  (struct vmm_fanout *f, int fd);

/* From any thread; never blocks. */
void vmm_fanout_write   (struct vmm_fanout *f, const uint8_t *data, size_t len);
