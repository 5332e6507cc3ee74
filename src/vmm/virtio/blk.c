/* virtio/blk.c: the block device
 *
 * Requests are parsed on the loop thread (dev->lock held), split by the
 * block layer's map calls into extents of host files, and run through the
 * asynchronous I/O engine (io_uring, or worker threads). Flush, discard,
 * write-zeroes and compressed clusters take the synchronous block calls on
 * a worker. Completions come back on the loop thread, write the status
 * byte and return the chain to the driver.
 *
 * Reads (or writes) popped in one pass that follow each other on the disk
 * run as one I/O (a group), as QEMU merges them: a guest streaming a file
 * queues many small adjacent requests, and one large preadv costs the
 * host far less than many small ones. The group answers all its members
 * at once; if it fails, each member runs again alone for its own status.
 *
 * A request that fails on the host (a full disk, a backing file cut short)
 * gets IOERR, as QEMU's rerror=report and werror=report do, and the machine
 * goes on: the log names the disk, its image, the operation and the error
 * (and the backing file, if that is where it happened), and whoever set an
 * error function (the D-Bus service: the DiskError signal) hears of it.
 * QEMU's default for writes, werror=enospc, pauses the VM on ENOSPC
 * instead and retries the failed requests on resume; doing that here
 * would mean keeping failed requests and the VM's pause in the I/O path,
 * and a guest's file system copes with a write error (it remounts
 * read-only, or the application sees EIO), so the app tells the user to
 * free space, and the guest's next writes succeed once there is some.
 *
 * Parsing a chain into a request, its checks, and merging are in
 * blk-req.c; this file has the device, its queues and I/O thread, and
 * running and answering requests.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/blk.h"
#include "virtio/blk-req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "block/aio.h"
#include "block/fd.h"
#include "viv-bytes.h"

#define VIRTIO_ID_BLOCK 2

/* Feature bits */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define QUEUE_SIZE                256
#define MAX_SEGMENTS              (QUEUE_SIZE - 2)   /* header and status take two */
#define MAX_EXTENTS_PER_MAP       32
#define PCI_CLASS_STORAGE_SCSI    0x010000

/* The device configuration layout (virtio 1.2, 5.2.4) */
#define CFG_CAPACITY              0
#define CFG_SEG_MAX               12
#define CFG_GEOMETRY              16
#define CFG_BLK_SIZE              20
#define CFG_TOPOLOGY              24
#define CFG_NUM_QUEUES            34
#define CFG_MAX_DISCARD_SECTORS   36
#define CFG_MAX_DISCARD_SEG       40
#define CFG_DISCARD_ALIGNMENT     44
#define CFG_MAX_WZ_SECTORS        48
#define CFG_MAX_WZ_SEG            52
#define CFG_WZ_MAY_UNMAP          56
#define CONFIG_SIZE               60

struct vmm_virtio_blk {
  struct vmm_virtio_dev dev;
  struct vmm_virtio_ops ops;
  struct vmm_block *block;
  struct vmm_aio *aio;
  /* The disk's own I/O thread: its queue notifications, completions and
   * park timer are served there, and its buffered writes run there (see
   * vmm_virtio_blk_new), so a disk never holds up the VM's other devices
   * or another disk. */
  struct vmm_loop iothread;
  struct blk_disk disk;     /* what requests are checked against */
  uint8_t config[CONFIG_SIZE];
  unsigned generation;      /* bumped by a device reset */
  unsigned in_flight;
  pthread_cond_t idle;      /* with dev.lock: in_flight reached 0 */
  bool resetting;           /* a reset waits for the requests in flight */
  bool frozen;              /* a snapshot: no new requests taken (vmm_virtio_blk_freeze) */
  struct vmm_ratelimit rl;
  /* Failed requests (req_report_error): the log's limit, the error fn's */
  char *path;
  unsigned index;
  struct vmm_ratelimit io_rl, error_rl;
  vmm_disk_error_fn error_fn;
  void *error_data;
  /* The read or write being collected from the ring, not started yet:
   * adjacent requests join it (one pass of blk_queue_notify, dev.lock). */
  struct blk_req *batch;
  /* Queues "parked": the driver's kicks are off while requests are in
   * flight, and each batch of completions looks at the ring instead (see
   * blk_queue_notify). PARK_TIMER bounds how long: a queue whose requests
   * are slow takes kicks again after PARK_MAX_US. */
  uint64_t parked;          /* bit q: queue q (the first 64) */
  struct vmm_loop *loop;
  int park_timer;           /* a timerfd, -1 if none (then nothing parks) */
  bool park_timer_armed;
  uint64_t parked_at;       /* ns, CLOCK_MONOTONIC: the last time a queue parked */
};

/* The longest a parked queue leaves the driver's kicks off, when no
 * completion comes to look at its ring: about what a kick costs a nested
 * guest, and a few on bare metal. */
#define PARK_MAX_US               500

/* How long a reset waits for the requests in flight to finish */
#define RESET_DRAIN_SECONDS 30

/* ---- completing ---------------------------------------------------------------- */

/* The block layer's write cookies: committed when the I/O succeeded (a
 * commit can still fail), else aborted. Returns the status to report. */
static uint8_t
req_commit (struct blk_req *req, uint8_t status)
{
  struct vmm_virtio_blk *blk = req->blk;

  if (req->type == VIRTIO_BLK_T_OUT)
    for (unsigned i = 0; i < req->n_cookies; i++)
      {
        int ret;

        if (status == VIRTIO_BLK_S_OK && (ret = vmm_block_write_commit (blk->block,
                                                                       req->cookies[i])) < 0)
          {
            status = VIRTIO_BLK_S_IOERR;
            if (req->error == 0)
              req->error = ret;
          }
        else if (status != VIRTIO_BLK_S_OK)
          vmm_block_write_abort (blk->block, req->cookies[i]);
      }
  req->n_cookies = 0;
  return status;
}

/* dev->lock held. Writes the status and returns the chain to the driver;
 * the caller frees REQ and decides about the interrupt. Returns whether
 * anything was put in the used ring. */
static bool
req_answer (struct blk_req *req, uint8_t status)
{
  struct vmm_virtio_blk *blk = req->blk;
  struct vmm_virtio_dev *dev = &blk->dev;
  bool pushed = false;

  /* A request from before a device reset goes nowhere: the rings it
   * belonged to are gone (guest memory itself stays valid). */
  if (req->generation == blk->generation && (dev->status & VIRTIO_STATUS_DRIVER_OK))
    {
      struct virtq *vq = &dev->queues[req->queue].vq;

      if (req->status != NULL)
        *req->status = status;
      virtq_push (vq, req->head, req->status != NULL ? req->used_len : 0);
      pushed = true;
    }
  if (--blk->in_flight == 0)
    pthread_cond_broadcast (&blk->idle);
  return pushed;
}

/* After one or more answers on queue Q: one interrupt decision for all. */
static void
queue_maybe_notify (struct vmm_virtio_blk *blk, unsigned q)
{
  if (virtq_should_notify (&blk->dev.queues[q].vq))
    vmm_virtio_notify_queue (&blk->dev, q);
}

static const char *
operation_name (uint32_t type)
{
  switch (type)
    {
    case VIRTIO_BLK_T_IN:
      return "read";
    case VIRTIO_BLK_T_OUT:
      return "write";
    case VIRTIO_BLK_T_FLUSH:
      return "flush";
    case VIRTIO_BLK_T_DISCARD:
      return "discard";
    case VIRTIO_BLK_T_WRITE_ZEROES:
      return "write-zeroes";
    case VIRTIO_BLK_T_GET_ID:
      return "get-id";
    default:
      return "request";
    }
}

/* For a failed extent's I/O: which file of the chain it was, if not the
 * image itself, and whether that file ends before the data (a file cut
 * short under a running VM reads as an I/O error). Empty when there is
 * nothing to add. */
static void
describe_failed_file (struct vmm_virtio_blk *blk, const struct blk_req *req, char *out,
                      size_t size)
{
  unsigned depth = 0;
  const char *file;
  struct stat st;
  size_t n = 0;

  out[0] = '\0';
  if (req->error_fd < 0)
    return;
  file = vmm_block_file_of_fd (blk->block, req->error_fd, &depth);
  if (file == NULL)
    return;
  if (depth > 0)
    n = (size_t) snprintf (out, size, "; in the backing file %s", file);
  if (n >= size)
    return;
  if (req->error == -EIO && fstat (req->error_fd, &st) == 0 && S_ISREG (st.st_mode) &&
      req->error_host_offset + req->error_len > (uint64_t) st.st_size)
    snprintf (out + n, size - n, "; %s ends at byte %llu, before the data at byte %llu "
              "(was it truncated?)", file, (unsigned long long) st.st_size,
              (unsigned long long) req->error_host_offset);
}

/* dev->lock held. REQ failed on the host (req->error): log it, naming
 * the disk and what failed, and tell the error function. */
static void
req_report_error (struct blk_req *req)
{
  struct vmm_virtio_blk *blk = req->blk;
  int err = -req->error;
  const char *name = strerrorname_np (err);
  char where[96] = "", detail[PATH_MAX + 160];
  g_autofree char *message = NULL;

  if (req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_OUT)
    snprintf (where, sizeof where, " of %llu bytes at sector %llu", (unsigned long long) req->len,
              (unsigned long long) (req->offset / BLK_SECTOR));
  describe_failed_file (blk, req, detail, sizeof detail);
  message = g_strdup_printf ("disk %u (%s): %s%s failed: %s (%s)%s", blk->index, blk->path,
                             operation_name (req->type), where, strerror (err),
                             name != NULL ? name : "?", detail);
  vmm_log_limited (&blk->io_rl, VMM_LOG_ERROR, "virtio-blk: %s", message);
  if (blk->error_fn != NULL && vmm_ratelimit_pass (&blk->error_rl, 3, 5, NULL))
    {
      struct vmm_disk_error e = {
        .disk = blk->index,
        .path = blk->path,
        .operation = operation_name (req->type),
        .error = err,
        .message = message,
      };
      blk->error_fn (&e, blk->error_data);
    }
}

/* dev->lock held. Answers a request, maybe interrupts, frees it. */
static void
req_finish (struct blk_req *req, uint8_t status)
{
  unsigned q = req->queue;
  struct vmm_virtio_blk *blk = req->blk;

  status = req_commit (req, status);
  if (req->error < 0)
    req_report_error (req);
  if (req_answer (req, status))
    queue_maybe_notify (blk, q);
  blk_req_free (req);
}

static int submit_rw (struct blk_req *req, bool is_read);
static void group_finish (struct blk_req *g, uint8_t status);

/* Starts the read or write of a request or a group; finishes it at once
 * when nothing went in flight (all zeroes, or an error before any I/O). */
static void
req_start_rw (struct blk_req *req)
{
  int ret = submit_rw (req, req->type == VIRTIO_BLK_T_IN);
  uint8_t status;

  if (ret < 0 && req->error == 0)
    req->error = ret;
  if (req->pending > 0)
    return;
  status = req->error < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
  if (req->is_group)
    group_finish (req, status);
  else
    req_finish (req, status);
}

/* dev->lock held. A merged I/O finished. On success every member is
 * answered, with one interrupt decision for them all. On failure nobody
 * can tell which member's range failed, so each member runs again on its
 * own and gets its own status, as if it had never been merged. */
static void
group_finish (struct blk_req *g, uint8_t status)
{
  struct vmm_virtio_blk *blk = g->blk;
  struct blk_req *m, *next;
  bool pushed = false;

  status = req_commit (g, status);
  if (status != VIRTIO_BLK_S_OK && g->generation == blk->generation
      && (blk->dev.status & VIRTIO_STATUS_DRIVER_OK))
    {
      for (m = g->members; m != NULL; m = next)
        {
          next = m->next_member;
          m->next_member = NULL;
          req_start_rw (m);
        }
      vmm_aio_flush_submissions (blk->aio);
    }
  else
    {
      for (m = g->members; m != NULL; m = next)
        {
          next = m->next_member;
          pushed |= req_answer (m, status);
          blk_req_free (m);
        }
      if (pushed)
        queue_maybe_notify (blk, g->queue);
    }
  g->members = NULL;
  blk_req_free (g);
}

static void
sub_done (struct vmm_aio_req *aio, int result)
{
  struct blk_sub *sub = aio->opaque;
  struct blk_req *req = sub->req;
  struct vmm_virtio_blk *blk = req->blk;

  pthread_mutex_lock (&blk->dev.lock);
  if (result < 0 && req->error == 0)
    {
      req->error = result;
      if (sub->aio.op != VMM_AIO_CALL)
        {
          req->error_fd = sub->aio.fd;
          req->error_host_offset = sub->aio.offset;
          req->error_len = vmm_block_iov_len (sub->aio.iov, sub->aio.iovcnt);
        }
    }
  if (result == 0 && sub->bounce != NULL && sub->is_read)
    {
      /* copy the aligned buffer back into the guest's */
      size_t off = 0;
      for (int i = 0; i < sub->iovcnt; i++)
        {
          memcpy (sub->iov[i].iov_base, (uint8_t *) sub->bounce + off, sub->iov[i].iov_len);
          off += sub->iov[i].iov_len;
        }
    }
  if (--req->pending == 0)
    {
      uint8_t status = req->error < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;

      if (req->is_group)
        group_finish (req, status);   /* the members will say what failed */
      else
        req_finish (req, status);     /* and logs what failed */
    }
  pthread_mutex_unlock (&blk->dev.lock);
}

/* ---- building sub-requests ------------------------------------------------------ */

static struct blk_sub *
req_add_sub (struct blk_req *req)
{
  struct blk_sub *sub;
  void *subs = blk_grow_array (req->subs, &req->cap_subs, req->n_subs + 1, sizeof *req->subs,
                           req->subs_inline);

  if (subs == NULL)
    return NULL;
  req->subs = subs;
  if (req->n_subs == 0)
    {
      sub = &req->sub_inline;
      memset (sub, 0, sizeof *sub);
    }
  else if ((sub = calloc (1, sizeof *sub)) == NULL)
    return NULL;
  sub->req = req;
  sub->aio.opaque = sub;
  sub->aio.done = sub_done;
  req->subs[req->n_subs++] = sub;
  return sub;
}

/* The part [off, off + len) of the request's data, as an iovec array: the
 * request's own when that is all of it, else a new one (*OWNED). */
static int
slice_data (const struct blk_req *req, uint64_t off, uint64_t len, struct iovec **out,
            bool *owned)
{
  struct iovec *iov;
  int n = 0, i = 0;
  uint64_t pos = 0;

  *owned = false;
  if (off == 0 && len == req->len)
    {
      *out = req->data;
      return req->n_data;
    }
  iov = calloc ((size_t) req->n_data, sizeof *iov);
  if (iov == NULL)
    return -ENOMEM;
  /* find the segment holding OFF */
  while (i < req->n_data && pos + req->data[i].iov_len <= off)
    pos += req->data[i++].iov_len;
  while (len > 0 && i < req->n_data)
    {
      uint64_t skip = off - pos;
      uint64_t take = req->data[i].iov_len - skip;

      if (take > len)
        take = len;
      iov[n].iov_base = (uint8_t *) req->data[i].iov_base + skip;
      iov[n].iov_len = (size_t) take;
      n++;
      len -= take;
      off += take;
      pos += req->data[i].iov_len;
      i++;
    }
  if (len != 0)
    {
      free (iov);
      return -EINVAL;
    }
  *out = iov;
  *owned = true;
  return n;
}

static void
zero_iov (const struct iovec *iov, int n)
{
  for (int i = 0; i < n; i++)
    memset (iov[i].iov_base, 0, iov[i].iov_len);
}

static bool
iov_aligned (const struct iovec *iov, int n, uint64_t offset, uint32_t align)
{
  if (offset % align)
    return false;
  for (int i = 0; i < n; i++)
    if ((uintptr_t) iov[i].iov_base % align || iov[i].iov_len % align)
      return false;
  return true;
}

static int
call_preadv (void *data)
{
  struct blk_sub *sub = data;

  return vmm_block_preadv (sub->req->blk->block, sub->iov, sub->iovcnt, sub->offset);
}

static int
call_pwritev (void *data)
{
  struct blk_sub *sub = data;

  return vmm_block_pwritev (sub->req->blk->block, sub->iov, sub->iovcnt, sub->offset);
}

/* Queues one extent's I/O. Returns 0 or -errno. */
static int
submit_extent (struct blk_req *req, const struct vmm_block_extent *e, bool is_read)
{
  struct vmm_virtio_blk *blk = req->blk;
  struct blk_sub *sub;
  int n;

  sub = req_add_sub (req);
  if (sub == NULL)
    return -ENOMEM;
  n = slice_data (req, e->offset - req->offset, e->len, &sub->iov, &sub->iov_owned);
  if (n < 0)
    return n;
  sub->iovcnt = n;
  sub->is_read = is_read;
  sub->offset = e->offset;

  switch (e->kind)
    {
    case VMM_BLOCK_EXTENT_ZERO:
      if (is_read)
        zero_iov (sub->iov, n);
      return 0;   /* nothing in flight */

    case VMM_BLOCK_EXTENT_SYNC:
      sub->aio.op = VMM_AIO_CALL;
      sub->aio.call = is_read ? call_preadv : call_pwritev;
      sub->aio.call_data = sub;
      break;

    case VMM_BLOCK_EXTENT_DATA:
      sub->aio.op = is_read ? VMM_AIO_READV : VMM_AIO_WRITEV;
      sub->aio.fd = e->fd;
      sub->aio.offset = e->host_offset;
      sub->aio.iov = sub->iov;
      sub->aio.iovcnt = n;
      if (blk->disk.direct && !iov_aligned (sub->iov, n, e->host_offset, blk->disk.alignment))
        {
          /* O_DIRECT wants aligned buffers: go through an aligned copy. */
          static const size_t min_align = 4096;
          size_t align = blk->disk.alignment > min_align ? blk->disk.alignment : min_align;
          size_t off = 0;

          sub->bounce_len = (size_t) e->len;
          if (posix_memalign (&sub->bounce, align, sub->bounce_len) != 0)
            {
              sub->bounce = NULL;
              return -ENOMEM;
            }
          if (!is_read)
            for (int i = 0; i < n; i++)
              {
                memcpy ((uint8_t *) sub->bounce + off, sub->iov[i].iov_base, sub->iov[i].iov_len);
                off += sub->iov[i].iov_len;
              }
          sub->bounce_iov.iov_base = sub->bounce;
          sub->bounce_iov.iov_len = sub->bounce_len;
          sub->aio.iov = &sub->bounce_iov;
          sub->aio.iovcnt = 1;
        }
      break;
    }
  req->pending++;
  vmm_aio_submit (blk->aio, &sub->aio);
  return 0;
}

/* Maps [req->offset, + req->len) and queues its pieces. */
static int
submit_rw (struct blk_req *req, bool is_read)
{
  struct vmm_virtio_blk *blk = req->blk;
  struct vmm_block_extent extents[MAX_EXTENTS_PER_MAP];
  uint64_t pos = req->offset, end = req->offset + req->len;
  int ret = 0;

  while (pos < end)
    {
      void *cookie = NULL;
      int n = is_read ? vmm_block_map_read (blk->block, pos, end - pos, extents,
                                            MAX_EXTENTS_PER_MAP)
                      : vmm_block_map_write (blk->block, pos, end - pos, extents,
                                             MAX_EXTENTS_PER_MAP, &cookie);
      if (n <= 0)
        return n < 0 ? n : -EIO;
      if (!is_read)
        {
          void *c = blk_grow_array (req->cookies, &req->cap_cookies, req->n_cookies + 1,
                                sizeof *req->cookies, req->cookies_inline);
          if (c == NULL)
            {
              vmm_block_write_abort (blk->block, cookie);
              return -ENOMEM;
            }
          req->cookies = c;
          req->cookies[req->n_cookies++] = cookie;
        }
      for (int i = 0; i < n; i++)
        {
          /* The block layer answers for a prefix; never trust it blindly. */
          if (extents[i].offset != pos || extents[i].len == 0 || extents[i].len > end - pos)
            return -EIO;
          if ((ret = submit_extent (req, &extents[i], is_read)) < 0)
            return ret;
          pos += extents[i].len;
        }
    }
  return 0;
}

static int
call_flush (void *data)
{
  struct blk_sub *sub = data;

  return vmm_block_flush (sub->req->blk->block);
}

static int
call_discard (void *data)
{
  struct blk_sub *sub = data;
  struct blk_req *req = sub->req;
  int ret = 0;

  for (unsigned i = 0; i < req->n_segs && ret == 0; i++)
    ret = req->type == VIRTIO_BLK_T_DISCARD
            ? vmm_block_discard (req->blk->block, req->segs[i].offset, req->segs[i].len)
            : vmm_block_write_zeroes (req->blk->block, req->segs[i].offset, req->segs[i].len,
                                      req->segs[i].unmap);
  return ret;
}

static int
submit_call (struct blk_req *req, int (*fn) (void *))
{
  struct blk_sub *sub = req_add_sub (req);

  if (sub == NULL)
    return -ENOMEM;
  sub->aio.op = VMM_AIO_CALL;
  sub->aio.call = fn;
  sub->aio.call_data = sub;
  req->pending++;
  vmm_aio_submit (req->blk->aio, &sub->aio);
  return 0;
}

/* Starts the collected read or write, if any. */
static void
batch_submit (struct vmm_virtio_blk *blk)
{
  struct blk_req *req = blk->batch;

  if (req == NULL)
    return;
  blk->batch = NULL;
  req_start_rw (req);
}

/* A read or write ready to start (checked, len > 0): it joins the one
 * being collected when it continues it, else that one starts and this
 * one is collected. The last is started at the end of the pass. */
static void
batch_add (struct vmm_virtio_blk *blk, struct blk_req *req)
{
  if (blk->batch != NULL && blk_req_merge (&blk->disk, &blk->batch, req))
    return;
  batch_submit (blk);
  blk->batch = req;
}

/* Starts one request; dev->lock held. A request that fails its checks is
 * answered at once. */
static void
handle_request (struct vmm_virtio_blk *blk, unsigned q, const struct virtq_chain *chain)
{
  struct virtq *vq = &blk->dev.queues[q].vq;
  struct blk_req *req;
  uint8_t status = VIRTIO_BLK_S_OK;
  int ret = 0;

  /* No writable byte: nowhere to put a status. Return it unanswered. */
  if (chain->n_in == 0)
    {
      vmm_log_guest (&blk->rl, "virtio-blk: a request without a status byte");
      virtq_push (vq, chain->head, 0);
      if (virtq_should_notify (vq))
        vmm_virtio_notify_queue (&blk->dev, q);
      return;
    }

  req = blk_req_new (blk);
  if (req == NULL)
    {
      virtq_push (vq, chain->head, 0);
      if (virtq_should_notify (vq))
        vmm_virtio_notify_queue (&blk->dev, q);
      return;
    }
  req->queue = q;
  req->head = chain->head;
  req->generation = blk->generation;
  blk->in_flight++;
  if (!blk_req_parse_header (req, chain, &blk->rl))
    {
      req_finish (req, VIRTIO_BLK_S_IOERR);
      return;
    }
  /* Anything but a read or write waits for nothing collected before it:
   * start that first (a FLUSH after writes, say). */
  if (req->type != VIRTIO_BLK_T_IN && req->type != VIRTIO_BLK_T_OUT)
    batch_submit (blk);

  switch (blk_req_parse (req, &blk->disk, chain, &status, &blk->rl))
    {
    case BLK_REQ_RW:
      batch_add (blk, req);   /* started by the end of this pass */
      return;
    case BLK_REQ_FLUSH:
      ret = submit_call (req, call_flush);
      break;
    case BLK_REQ_DISCARD:
      ret = submit_call (req, call_discard);
      break;
    case BLK_REQ_ANSWER:
      break;
    }
  if (ret < 0)
    {
      req->error = ret;
      status = VIRTIO_BLK_S_IOERR;
    }
  /* Pieces may be in flight already when a later piece failed: the last
   * completion answers. Otherwise answer now. */
  if (req->pending == 0)
    req_finish (req, status);
  else if (status != VIRTIO_BLK_S_OK && req->error == 0)
    req->error = -EIO;
}

/* ---- device ops ---------------------------------------------------------------------- */

/* Arms the timer for NS from now, unless it is armed */
static void
arm_park_timer (struct vmm_virtio_blk *blk, uint64_t ns)
{
  struct itimerspec its = { .it_value = { .tv_sec = (time_t) (ns / 1000000000u),
                                          .tv_nsec = (long) (ns % 1000000000u) } };

  if (blk->park_timer_armed)
    return;
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
    its.it_value.tv_nsec = 1;
  if (timerfd_settime (blk->park_timer, 0, &its, NULL) == 0)
    blk->park_timer_armed = true;
}

/* Takes the requests the driver made available on queue Q; dev->lock held.
 *
 * The driver kicks (a VM exit, ~15 µs nested) unless told not to. While
 * requests are in flight their completions will come anyway, so with
 * MAY_PARK the queue is "parked": kicks stay off and every batch of
 * completions looks at the ring (blk_batch_done), as QEMU's polling of a
 * busy queue does. Once nothing is in flight, or PARK_MAX_US after parking,
 * kicks come back on, with the ring checked again after enabling them so
 * that nothing made available meanwhile waits. */
static void
process_queue (struct vmm_virtio_blk *blk, unsigned q, bool may_park)
{
  struct vmm_virtio_dev *dev = &blk->dev;
  struct virtq *vq = &dev->queues[q].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  bool park;
  int ret;

  if (q < 64)
    blk->parked &= ~(1ull << q);
  /* A reset is waiting for the requests in flight, or a snapshot is
   * being taken: no new ones (they stay in the ring) */
  if (blk->resetting || blk->frozen)
    return;
  /* Whether to park is decided when the ring turns out empty, with the
   * requests just taken counted in flight. */
  do
    {
      park = may_park && q < 64 && blk->park_timer >= 0 && blk->in_flight > 0 &&
             (dev->status & VIRTIO_STATUS_DRIVER_OK);
      ret = park ? virtq_pop_quiet (vq, &chain, &budget)
                 : virtq_pop_or_enable (vq, &chain, &budget);
      if (ret > 0)
        handle_request (blk, q, &chain);
    }
  while (ret > 0);
  /* A full ring's worth taken and more there: the rest on the I/O thread
   * in a moment, after what waits there (completions among it), not now,
   * which may be a vCPU's DRIVER_OK. Not parked: that is sooner. */
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, q);
  else if (ret < 0)
    vmm_virtio_set_queue_broken (dev, q);
  else if (park)
    {
      /* The timer counts from the last park, not the first: while
       * completions keep coming the queue stays parked (a timer that
       * fires early is pushed back in on_park_timer, no syscall here) */
      blk->parked |= 1ull << q;
      blk->parked_at = vmm_monotonic_ns ();
      arm_park_timer (blk, PARK_MAX_US * 1000u);
    }
  batch_submit (blk);
  vmm_aio_flush_submissions (blk->aio);
}

/* The block layer finished a batch of requests (loop thread): parked
 * queues look at their rings. */
static void
blk_batch_done (void *opaque)
{
  struct vmm_virtio_blk *blk = opaque;
  uint64_t parked;

  pthread_mutex_lock (&blk->dev.lock);
  parked = blk->parked;
  while (parked != 0)
    {
      unsigned q = (unsigned) __builtin_ctzll (parked);

      parked &= ~(1ull << q);
      if (blk->parked & (1ull << q))
        process_queue (blk, q, true);
    }
  pthread_mutex_unlock (&blk->dev.lock);
}

/* PARK_MAX_US passed: parked queues take kicks again (their requests are
 * slow; the next batch of completions may park them again). */
static void
on_park_timer (void *opaque, int fd, uint32_t events)
{
  struct vmm_virtio_blk *blk = opaque;
  uint64_t expirations, parked;

  (void) events;
  if (read (fd, &expirations, sizeof expirations) < 0)
    { /* nothing: a spurious wake-up */ }
  pthread_mutex_lock (&blk->dev.lock);
  blk->park_timer_armed = false;
  if (blk->parked != 0)
    {
      uint64_t since = vmm_monotonic_ns () - blk->parked_at;

      if (since < PARK_MAX_US * 1000u)
        {
          /* Parked again since it was armed: not yet */
          arm_park_timer (blk, PARK_MAX_US * 1000u - since);
          pthread_mutex_unlock (&blk->dev.lock);
          return;
        }
    }
  parked = blk->parked;
  while (parked != 0)
    {
      unsigned q = (unsigned) __builtin_ctzll (parked);

      parked &= ~(1ull << q);
      process_queue (blk, q, false);
    }
  pthread_mutex_unlock (&blk->dev.lock);
}

static void
blk_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  process_queue (dev->priv, q, true);
}

static void
blk_config_read (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
  struct vmm_virtio_blk *blk = dev->priv;

  memcpy (data, blk->config + offset, len);
}

static void
blk_reset (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_blk *blk = dev->priv;
  struct timespec deadline;

  /* Requests in flight finish into nothing (see req_finish), but they may
   * still read into guest buffers. The reset is complete when the status
   * reads 0 (virtio 1.2, 4.1.4.3.2): after that nothing may touch memory
   * the driver could be using again, so wait for them, as QEMU drains.
   * This runs on a vCPU thread (a write to device_status) with dev->lock
   * held; the completions come on the loop thread, which takes the lock
   * while we wait. Bounded, in case the host's storage hangs. */
  blk->generation++;
  blk->parked = 0;          /* the queues are gone */
  if (blk->in_flight == 0)
    return;
  blk->resetting = true;
  clock_gettime (CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += RESET_DRAIN_SECONDS;
  while (blk->in_flight > 0)
    if (pthread_cond_timedwait (&blk->idle, &dev->lock, &deadline) == ETIMEDOUT)
      {
        vmm_log_warning ("virtio-blk: %u requests still in flight %d s after a device reset",
                         blk->in_flight, RESET_DRAIN_SECONDS);
        break;
      }
  blk->resetting = false;
}

/* ---- snapshots ------------------------------------------------------------------------ */

bool
vmm_virtio_blk_freeze (struct vmm_virtio_blk *blk)
{
  struct timespec deadline;
  bool idle = true;

  pthread_mutex_lock (&blk->dev.lock);
  blk->frozen = true;
  clock_gettime (CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += RESET_DRAIN_SECONDS;
  while (blk->in_flight > 0 && idle)
    if (pthread_cond_timedwait (&blk->idle, &blk->dev.lock, &deadline) == ETIMEDOUT)
      idle = false;
  if (!idle)
    {
      vmm_log_warning ("virtio-blk: %u requests still in flight after %d s", blk->in_flight,
                       RESET_DRAIN_SECONDS);
      blk->frozen = false;
    }
  pthread_mutex_unlock (&blk->dev.lock);
  return idle;
}

void
vmm_virtio_blk_thaw (struct vmm_virtio_blk *blk)
{
  pthread_mutex_lock (&blk->dev.lock);
  if (blk->frozen)
    {
      blk->frozen = false;
      /* what the driver queued meanwhile: its kicks found us frozen */
      for (unsigned q = 0; q < blk->dev.ops->num_queues; q++)
        vmm_virtio_queue_resume (&blk->dev, q);
    }
  pthread_mutex_unlock (&blk->dev.lock);
}

struct vmm_block *
vmm_virtio_blk_block (struct vmm_virtio_blk *blk)
{
  return blk->block;
}

#define BLK_STATE_VERSION 1

/* What the guest sees of the disk beyond its queues is its configuration:
 * saved so that a restore onto another disk (another size, block size or
 * number of queues) is refused rather than shown to a driver that read
 * the old one. Nothing else: the requests' generation and the parked
 * queues are the host's; the caller drained the requests in flight. */
static void
blk_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  struct vmm_virtio_blk *blk = dev->priv;

  /* The caller quiesced the disk: a request in flight would be lost */
  g_assert (blk->in_flight == 0 && blk->batch == NULL);
  vmm_state_begin (w, name, BLK_STATE_VERSION);
  vmm_state_put_blob (w, blk->config, sizeof blk->config);
  vmm_state_end (w);
}

static gboolean
blk_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
          bool apply, GError **error)
{
  struct vmm_virtio_blk *blk = dev->priv;
  struct vmm_state_reader r;
  const uint8_t *config;
  uint32_t len;

  (void) apply;               /* nothing to put back: the configuration is the disk's */
  if (!vmm_state_reader_init (&r, f, name, BLK_STATE_VERSION, error))
    return FALSE;
  config = vmm_state_get_blob (&r, sizeof blk->config, &len);
  if (config != NULL && (len != sizeof blk->config || memcmp (config, blk->config, len) != 0))
    vmm_state_reader_fail (&r, N_("the disk is not the one saved (its size, block size or "
                                  "number of queues differ)"));
  return vmm_state_reader_done (&r, error);
}

static void
build_config (struct vmm_virtio_blk *blk, unsigned num_queues)
{
  uint64_t sectors = blk->disk.capacity / BLK_SECTOR;
  uint64_t cylinders = sectors / (16 * 63);
  uint32_t block_size = blk->disk.direct && blk->disk.alignment > BLK_SECTOR ? blk->disk.alignment
                                                                           : BLK_SECTOR;
  unsigned exp = 0;

  while ((BLK_SECTOR << exp) < block_size)
    exp++;
  memset (blk->config, 0, sizeof blk->config);
  viv_put_le64 (blk->config + CFG_CAPACITY, sectors);
  viv_put_le32 (blk->config + CFG_SEG_MAX, MAX_SEGMENTS);
  viv_put_le16 (blk->config + CFG_GEOMETRY, (uint16_t) (cylinders > 65535 ? 65535 : cylinders));
  blk->config[CFG_GEOMETRY + 2] = 16;   /* heads */
  blk->config[CFG_GEOMETRY + 3] = 63;   /* sectors per track */
  viv_put_le32 (blk->config + CFG_BLK_SIZE, block_size);
  blk->config[CFG_TOPOLOGY] = (uint8_t) exp;            /* physical block exponent */
  blk->config[CFG_TOPOLOGY + 1] = 0;                    /* alignment offset */
  viv_put_le16 (blk->config + CFG_TOPOLOGY + 2, 1);     /* min I/O size, in blocks */
  viv_put_le16 (blk->config + CFG_NUM_QUEUES, (uint16_t) num_queues);
  viv_put_le32 (blk->config + CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
  viv_put_le32 (blk->config + CFG_MAX_DISCARD_SEG, BLK_MAX_DISCARD_SEG);
  viv_put_le32 (blk->config + CFG_DISCARD_ALIGNMENT, block_size / BLK_SECTOR);
  viv_put_le32 (blk->config + CFG_MAX_WZ_SECTORS, BLK_MAX_DISCARD_SECTORS);
  viv_put_le32 (blk->config + CFG_MAX_WZ_SEG, BLK_MAX_DISCARD_SEG);
  blk->config[CFG_WZ_MAY_UNMAP] = 1;
}

static void
derive_serial (struct vmm_virtio_blk *blk, const struct vmm_disk_spec *spec)
{
  const char *src = spec->serial;
  size_t n;

  if (src == NULL)
    {
      src = strrchr (spec->path, '/');
      src = src ? src + 1 : spec->path;
    }
  n = strlen (src);
  memset (blk->disk.serial, 0, sizeof blk->disk.serial);
  memcpy (blk->disk.serial, src, n < sizeof blk->disk.serial ? n : sizeof blk->disk.serial);
}

/* Frees what vmm_virtio_blk_new set up, as far as it got (the device's
 * PCI function is gone, the I/O thread stopped). Returns the result of
 * flushing the image, if it was open. */
static int
blk_release (struct vmm_virtio_blk *blk)
{
  int ret = 0;

  if (blk->park_timer >= 0)
    {
      vmm_loop_remove (blk->loop, blk->park_timer);
      close (blk->park_timer);
    }
  vmm_aio_free (blk->aio);
  if (blk->block != NULL)
    ret = vmm_block_close (blk->block);
  pthread_cond_destroy (&blk->idle);
  vmm_loop_destroy (&blk->iothread);
  free (blk->path);
  free (blk);
  return ret;
}

struct vmm_virtio_blk *
vmm_virtio_blk_new (const struct vmm_virtio_env *env, const struct vmm_disk_spec *spec,
                    unsigned num_queues, bool force_threads, GError **error)
{
  struct vmm_block_open_opts opts = {
    .path = spec->path,
    .format = spec->format,
    .read_only = spec->read_only,
    .direct = spec->cache == VMM_DISK_CACHE_NONE,
  };
  struct vmm_virtio_env io_env = *env;
  struct vmm_virtio_blk *blk;
  pthread_condattr_t attr;
  int ret;

  if (num_queues == 0)
    num_queues = 1;
  blk = calloc (1, sizeof *blk);
  if (blk == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }
  blk->park_timer = -1;
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&blk->idle, &attr);
  pthread_condattr_destroy (&attr);
  ret = vmm_loop_init (&blk->iothread);
  if (ret < 0)
    {
      vmm_virtio_set_error (error, ret);
      pthread_cond_destroy (&blk->idle);
      free (blk);
      return NULL;
    }
  io_env.loop = &blk->iothread;
  blk->index = spec->index;
  blk->path = strdup (spec->path);
  if (blk->path == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      goto fail;
    }

  if (vmm_block_open (&blk->block, &opts, error) < 0)
    goto fail;
  blk->disk.read_only = spec->read_only || vmm_block_read_only (blk->block);
  blk->disk.direct = opts.direct;
  blk->disk.alignment = vmm_block_alignment (blk->block);
  if (blk->disk.alignment == 0)
    blk->disk.alignment = 1;
  /* The guest sees whole sectors; a last partial sector is not addressable. */
  blk->disk.capacity = vmm_block_size (blk->block) & ~(BLK_SECTOR - 1);
  derive_serial (blk, spec);
  build_config (blk, num_queues);

  ret = vmm_aio_new (&blk->aio, io_env.loop, QUEUE_SIZE * num_queues, force_threads);
  if (ret < 0)
    {
      vmm_virtio_set_error (error, ret);
      g_prefix_error (error, "cannot set up disk I/O: ");
      goto fail;
    }
  vmm_aio_set_batch_done (blk->aio, blk_batch_done, blk);
  /* Buffered writes run on the I/O thread itself. ext4 cannot do them
   * without blocking (no IOCB_NOWAIT), so io_uring hands every one to
   * a kernel worker, one at a time per file, and each completion wakes
   * this thread, which then competes with the worker for a CPU. Here
   * the thread copies the data itself, as Firecracker's and
   * cloud-hypervisor's synchronous engines do; the guest's next
   * requests wait at most one turn (INLINE_TURN_BYTES in aio.c).
   * Against handing them to io_uring (bench/disk.sh --peer, 12 paired
   * rounds of 1 s, cache=writeback): 4 KiB random writes 1.39 (raw)
   * and 1.48 (qcow2), 128 KiB sequential writes 1.17 and 1.07, reads
   * unchanged. A write the kernel makes sleep (dirty page throttling)
   * holds up this disk's reads behind it, where io_uring would let them
   * pass: after one, writes go through io_uring for a while (aio.c,
   * INLINE_SLOW_NS). O_DIRECT writes always go through io_uring: the
   * device does the work. */
  vmm_aio_set_inline_writes (blk->aio, !blk->disk.direct);
  /* Without the timer, queues never park: kicks as usual */
  blk->loop = io_env.loop;
  blk->park_timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (blk->park_timer >= 0 &&
      vmm_loop_add (io_env.loop, blk->park_timer, EPOLLIN, on_park_timer, blk) < 0)
    {
      close (blk->park_timer);
      blk->park_timer = -1;
    }

  blk->ops = (struct vmm_virtio_ops) {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .pci_class = PCI_CLASS_STORAGE_SCSI,
    .features = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_GEOMETRY) |
                (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
                (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_MQ) |
                (blk->disk.read_only ? (1ull << VIRTIO_BLK_F_RO)
                                : (1ull << VIRTIO_BLK_F_DISCARD) |
                                  (1ull << VIRTIO_BLK_F_WRITE_ZEROES)),
    .num_queues = num_queues,
    .queue_size = QUEUE_SIZE,
    .config_size = CONFIG_SIZE,
    .config_read = blk_config_read,
    .reset = blk_reset,
    .queue_notify = blk_queue_notify,
    .save = blk_save,
    .load = blk_load,
  };
  if (!vmm_virtio_pci_init (&blk->dev, &blk->ops, blk, &io_env, error))
    {
      g_prefix_error (error, "cannot create the device: ");
      goto fail;
    }
  ret = vmm_loop_start (&blk->iothread);
  if (ret < 0)
    {
      vmm_virtio_pci_destroy (&blk->dev);
      vmm_virtio_set_error (error, ret);
      g_prefix_error (error, "cannot create the device: ");
      goto fail;
    }
  pthread_setname_np (blk->iothread.thread, "vmm-disk-io");
  return blk;

fail:
  blk_release (blk);
  return NULL;
}

struct vmm_virtio_dev *
vmm_virtio_blk_dev (struct vmm_virtio_blk *blk)
{
  return &blk->dev;
}

void
vmm_virtio_blk_set_error_fn (struct vmm_virtio_blk *blk, vmm_disk_error_fn fn, void *data)
{
  pthread_mutex_lock (&blk->dev.lock);
  blk->error_fn = fn;
  blk->error_data = data;
  pthread_mutex_unlock (&blk->dev.lock);
}

int
vmm_virtio_blk_free (struct vmm_virtio_blk *blk)
{
  if (blk == NULL)
    return 0;
  /* Completions take the device lock; once the I/O thread stops nothing
   * else runs (the vCPUs and the VM's loop are stopped). */
  vmm_loop_stop (&blk->iothread);
  vmm_aio_drain (blk->aio);
  vmm_virtio_pci_destroy (&blk->dev);
  return blk_release (blk);
}
