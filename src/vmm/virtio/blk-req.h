/* virtio/blk-req.h: virtio-blk requests, parsed out of descriptor chains
 * and merged (virtio 1.2, 5.2.6)
 *
 * The device (blk.c) pops a chain and hands it here: the header, the data
 * segments and the status byte are found and checked against the disk as
 * the guest sees it (struct blk_disk), giving a request to start or a
 * status to answer with at once. Adjacent reads (or writes) popped in one
 * pass are then merged into one I/O, a group. Nothing here touches the
 * disk or the queue; blk.c runs the I/O and answers.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/aio.h"
#include "log.h"
#include "virtio/virtq.h"

/* Request types and status */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2

#define VIRTIO_BLK_ID_BYTES       20
#define BLK_SECTOR                512ull
#define BLK_MAX_DISCARD_SEG       256
#define BLK_MAX_DISCARD_SECTORS   (UINT32_MAX / 2)

struct vmm_virtio_blk;
struct blk_req;

/* The disk as the guest sees it: what requests are checked against */
struct blk_disk {
  uint64_t capacity;        /* bytes, a multiple of 512 */
  bool read_only;
  bool direct;              /* O_DIRECT: ALIGNMENT applies, merged I/O is cut shorter */
  uint32_t alignment;
  char serial[VIRTIO_BLK_ID_BYTES];   /* GET_ID's answer, NUL-padded */
};

/* One piece of a request: one aio request on one extent. */
struct blk_sub {
  struct vmm_aio_req aio;
  struct blk_req *req;
  struct iovec *iov;        /* a slice of the request's data */
  int iovcnt;
  bool iov_owned;           /* iov is ours to free (else it is req->data) */
  void *bounce;             /* an aligned copy, for O_DIRECT */
  size_t bounce_len;
  struct iovec bounce_iov;
  bool is_read;
  uint64_t offset;          /* where a synchronous read or write goes */
};

/* Small arrays live in the request itself: a typical request has a few
 * data segments, one piece and at most a couple of write cookies, so it
 * costs one allocation. */
#define REQ_INLINE_DATA    4
#define REQ_INLINE_SUBS    2
#define REQ_INLINE_COOKIES 2

struct blk_req {
  struct vmm_virtio_blk *blk;
  unsigned queue;
  uint16_t head;
  unsigned generation;
  uint32_t type;
  uint64_t sector;          /* as the header says */
  uint8_t *status;          /* the status byte, in guest memory */
  uint32_t used_len;
  struct iovec *data;       /* the data part of the chain */
  int n_data;
  unsigned data_cap;
  uint64_t offset;          /* bytes */
  uint64_t len;
  unsigned pending;
  int error;                /* the first failure, -errno */
  /* Where it happened, when it was the I/O of a DATA extent (else -1):
   * the message names the file (a backing file?) and says if the file
   * ends before it (truncated?) */
  int error_fd;
  uint64_t error_host_offset, error_len;
  void **cookies;           /* block layer write cookies */
  unsigned n_cookies, cap_cookies;
  struct blk_sub **subs;
  unsigned n_subs, cap_subs;
  /* DISCARD / WRITE_ZEROES segments, checked */
  struct { uint64_t offset, len; bool unmap; } *segs;
  unsigned n_segs;
  /* A merged read or write (see blk_req_merge): not a request of the
   * driver but the I/O of several adjacent ones, MEMBERS, whose data it
   * carries in order. It has no head or status of its own. */
  bool is_group;
  struct blk_req *members, **members_tail;
  struct blk_req *next_member;

  struct iovec data_inline[REQ_INLINE_DATA];
  struct blk_sub sub_inline;
  struct blk_sub *subs_inline[REQ_INLINE_SUBS];
  void *cookies_inline[REQ_INLINE_COOKIES];
};

/* Grows ARRAY (CAP elements of SIZE bytes; INLINE_STORAGE is the request's
 * own array, never freed) to hold NEED elements. Returns the array, moved
 * or not, or NULL (then nothing changed). */
void *blk_grow_array (void *array, unsigned *cap, unsigned need, size_t size,
                      const void *inline_storage);

/* An empty request of BLK's, or NULL when out of memory */
struct blk_req *blk_req_new  (struct vmm_virtio_blk *blk);
void            blk_req_free (struct blk_req *req);

/* Finds the status byte (the chain's last writable byte: the caller
 * checked there is one) and reads the header into REQ's type and sector.
 * Returns false, logged through RL, when the chain is too short for a
 * header: the request is then answered with IOERR. */
bool blk_req_parse_header (struct blk_req *req, const struct virtq_chain *chain,
                           struct vmm_ratelimit *rl);

enum blk_req_action {
  BLK_REQ_ANSWER,           /* answer now with *status (req->error may say why) */
  BLK_REQ_RW,               /* a read or write of len > 0 bytes at offset: merge, start */
  BLK_REQ_FLUSH,            /* flush the disk */
  BLK_REQ_DISCARD,          /* DISCARD or WRITE_ZEROES the checked segs */
};

/* The rest of the request, by type: the data segments, checked against
 * DISK (inside it, whole sectors, aligned for O_DIRECT, writable), and
 * what to do with it. GET_ID is answered here. What the guest got wrong
 * is logged through RL. */
enum blk_req_action blk_req_parse (struct blk_req *req, const struct blk_disk *disk,
                                   const struct virtq_chain *chain, uint8_t *status,
                                   struct vmm_ratelimit *rl);

/* REQ (a read or write to start) joins *BATCH, the one collected before
 * it, when it continues it on the disk in the same direction, queue and
 * device generation, within the merge limits for DISK. The second request
 * makes *BATCH a group holding both. Returns false when REQ cannot join
 * (or memory ran out): *BATCH may then be a group, started as it is. */
bool blk_req_merge (const struct blk_disk *disk, struct blk_req **batch, struct blk_req *req);
