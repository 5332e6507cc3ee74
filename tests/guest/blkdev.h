/* blkdev.h: a small polling virtio-blk driver (virtio 1.2 §5.2)
 *
 * Every 1af4:1042 function, negotiated with the features the probe knows,
 * one queue per vCPU (up to BLK_MAX_QUEUES) when MQ is offered, no
 * interrupts: completions are found by polling the used rings.  Several
 * requests may be in flight per queue, as direct chains or through an
 * indirect table.  Used by the blk tests (blk.c) and the write-loop and
 * benchmark modes (blkmode.c).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio.h"

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_GEOMETRY     4
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_TOPOLOGY     10
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
/* What the driver leaves in the status byte: the device did not write it */
#define BLK_S_UNTOUCHED           0xee

#define VIRTIO_BLK_WZ_UNMAP       1u
#define VIRTIO_BLK_ID_BYTES       20

#define BLK_MAX_DISKS             8
#define BLK_MAX_QUEUES            4
#define BLK_QSIZE                 256
/* Entries of the small per-request indirect tables */
#define BLK_IND_SMALL             16
/* Entries of the one big indirect table (requests up to seg_max, one at a time) */
#define BLK_IND_BIG               BLK_QSIZE

struct blk_outhdr
{
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

struct blk_discard_seg
{
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};

/* One buffer of a chain */
struct blk_seg
{
  uint64_t addr;
  uint32_t len;
  bool write;        /* device-writable */
};

struct blk_queue
{
  struct vq *vq;
  uint16_t free_head, n_free;
  uint16_t next[BLK_QSIZE];          /* our copy of each descriptor's next */
  uint16_t n_desc[BLK_QSIZE];        /* descriptors the chain at this head took */
  uint64_t tag[BLK_QSIZE];           /* the caller's, per head */
  bool busy[BLK_QSIZE];
  bool big[BLK_QSIZE];               /* uses the big indirect table */
  unsigned in_flight;
  struct blk_outhdr hdr[BLK_QSIZE] __attribute__ ((aligned (16)));
  uint8_t status[BLK_QSIZE];
  uint8_t ind[BLK_QSIZE][16 * BLK_IND_SMALL] __attribute__ ((aligned (16)));
};

struct blk_disk
{
  const struct pci_dev *pci;
  struct pci_bar bars[6];
  struct virtio_dev v;
  bool ok;                           /* set up, DRIVER_OK */
  char serial[VIRTIO_BLK_ID_BYTES + 1];

  /* the configuration (zero where the feature is not negotiated) */
  uint64_t capacity;                 /* 512-byte sectors */
  uint32_t seg_max, blk_size;
  uint16_t cylinders;
  uint8_t heads, sectors;
  uint8_t phys_block_exp, align_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint16_t num_queues;               /* config field; 1 without MQ */
  uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
  uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;

  unsigned nq;                       /* queues set up */
  struct blk_queue *q[BLK_MAX_QUEUES];
};

/* A buffer for the data of requests, page aligned, shared by blk.c and
 * blkmode.c (one user at a time) */
#define BLK_BUF_SIZE              (8u << 20)
extern uint8_t blk_buf[BLK_BUF_SIZE];

/* The 64-bit pattern word at byte offset 8 * word for seed (splitmix64):
 * the same bytes as vivarium-vmm img write-pattern's pattern_fill */
uint64_t pattern_word (uint64_t word, uint64_t seed);
void pattern_fill (uint8_t *buf, size_t len, uint64_t offset, uint64_t seed);
/* The first offset where buf differs from the pattern, or -1 */
int64_t pattern_check (const uint8_t *buf, size_t len, uint64_t offset, uint64_t seed);

/* Finds every virtio-blk function (sizes its BARs, finds its
 * capabilities); returns how many, at most max */
unsigned blk_find (const struct pci *pci, struct blk_disk *disks, unsigned max);
/* Reset, negotiation (VERSION_1, INDIRECT_DESC, EVENT_IDX and the blk
 * features where offered), queues (up to max_queues, each of up to
 * BLK_QSIZE entries), DRIVER_OK, the configuration.  A diagnostic on
 * failure. */
bool blk_setup (struct blk_disk *d, unsigned max_queues);
/* Whether the device set NEEDS_RESET */
bool blk_needs_reset (const struct blk_disk *d);

/* Queues a chain of n segments on queue qi, as direct descriptors or
 * through an indirect table; not yet visible to the device (blk_kick).
 * Returns the head, or -1 if the queue has no room. */
int blk_submit_chain (struct blk_disk *d, unsigned qi, const struct blk_seg *segs, unsigned n,
                      bool indirect, uint64_t tag);
/* A request: the header (type, sector) in the driver's own buffer, the
 * data segments, the status byte (BLK_S_UNTOUCHED until the device writes
 * it).  Returns the head or -1. */
int blk_submit (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector,
                const struct blk_seg *data, unsigned n, bool indirect, uint64_t tag);
/* A request on one buffer */
int blk_submit_buf (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector,
                    void *buf, uint32_t len, uint64_t tag);
void blk_kick (struct blk_disk *d, unsigned qi);

/* One completion of queue qi if there is one: its tag, status byte and
 * used length; the descriptors go back to the free list */
bool blk_reap (struct blk_disk *d, unsigned qi, uint64_t *tag, uint8_t *status, uint32_t *len);

/* Waits (polling, timeout_ms) for the request at head, which must be the
 * only one in flight on the queue */
enum vq_result blk_wait (struct blk_disk *d, unsigned qi, int head, uint64_t timeout_ms,
                         uint8_t *status, uint32_t *len);
/* Submit, kick and wait: returns the result; *status the status byte */
enum vq_result blk_do (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector,
                       const struct blk_seg *data, unsigned n, bool indirect, uint8_t *status,
                       uint32_t *len);
/* A one-buffer request, waited for; returns the status byte, or 0x100 +
 * the vq_result when it did not come back used */
unsigned blk_rw (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector, void *buf,
                 uint32_t len);

const char *blk_status_name (unsigned status);
