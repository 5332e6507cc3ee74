/* blkdev.c: a small polling virtio-blk driver (virtio 1.2 §5.2)
 *
 * Descriptors are handed out from a free list per queue, as Linux does;
 * a request's header and status byte live in per-head slots of the
 * driver's own memory.  The device never interrupts (no MSI-X vector),
 * and with EVENT_IDX used_event is kept far behind so it does not even
 * try: the probe polls the used ring.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "blkdev.h"

#define VIRTIO_VENDOR 0x1af4
#define VIRTIO_BLK_ID 0x1042

/* The device configuration (§5.2.4) */
#define CFG_CAPACITY           0
#define CFG_SEG_MAX            12
#define CFG_GEOMETRY           16
#define CFG_BLK_SIZE           20
#define CFG_TOPOLOGY           24
#define CFG_NUM_QUEUES         34
#define CFG_MAX_DISCARD_SECT   36
#define CFG_MAX_DISCARD_SEG    40
#define CFG_DISCARD_ALIGN      44
#define CFG_MAX_WZ_SECT        48
#define CFG_MAX_WZ_SEG         52
#define CFG_WZ_MAY_UNMAP       56

/* Queue state from a static pool, handed out on first setup and kept
 * across re-initialisations */
static struct blk_queue queue_pool[24] __attribute__ ((aligned (4096)));
static unsigned queue_pool_used;

uint8_t blk_buf[BLK_BUF_SIZE] __attribute__ ((aligned (4096)));

/* The big indirect table: one request at a time may use it */
static uint8_t big_table[16 * BLK_IND_BIG] __attribute__ ((aligned (16)));
static bool big_busy;

/* --- the pattern ---------------------------------------------------------------- */

uint64_t
pattern_word (uint64_t word, uint64_t seed)
{
  uint64_t z = word ^ (seed * 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void
pattern_fill (uint8_t *buf, size_t len, uint64_t offset, uint64_t seed)
{
  size_t i = 0;

  for (; i < len && (offset + i) % 8; i++)
    buf[i] = (uint8_t) (pattern_word ((offset + i) / 8, seed) >> (8 * ((offset + i) % 8)));
  for (; i + 8 <= len; i += 8)
    {
      uint64_t z = pattern_word ((offset + i) / 8, seed);

      memcpy (buf + i, &z, 8);   /* little-endian, as the host writes it */
    }
  for (; i < len; i++)
    buf[i] = (uint8_t) (pattern_word ((offset + i) / 8, seed) >> (8 * ((offset + i) % 8)));
}

int64_t
pattern_check (const uint8_t *buf, size_t len, uint64_t offset, uint64_t seed)
{
  uint64_t z = 0, zw = ~0ull;

  for (size_t i = 0; i < len; i++)
    {
      uint64_t p = offset + i;

      if (p / 8 != zw)
        {
          zw = p / 8;
          z = pattern_word (zw, seed);
          /* whole words at once where they are whole */
          if (p % 8 == 0 && i + 8 <= len)
            {
              uint64_t got;

              memcpy (&got, buf + i, 8);
              if (got == z)
                {
                  i += 7;
                  continue;
                }
            }
        }
      if (buf[i] != (uint8_t) (z >> (8 * (p % 8))))
        return (int64_t) i;
    }
  return -1;
}

/* --- finding and setting up --------------------------------------------------------- */

unsigned
blk_find (const struct pci *pci, struct blk_disk *disks, unsigned max)
{
  unsigned n = 0;

  for (unsigned i = 0; i < pci->n_devs && n < max; i++)
    {
      const struct pci_dev *p = &pci->devs[i];
      struct blk_disk *d;

      if (p->vendor != VIRTIO_VENDOR || p->device != VIRTIO_BLK_ID)
        continue;
      d = &disks[n++];
      memset (d, 0, sizeof *d);
      d->pci = p;
      for (unsigned b = 0; b < 6;)
        {
          bool restored;
          unsigned used = pci_bar_size (p, b, &d->bars[b], &restored);

          if (d->bars[b].present && !d->bars[b].io)
            map_phys (d->bars[b].base, d->bars[b].size);
          b += used;
        }
      if (!virtio_find_caps (&d->v, p, d->bars, false))
        tap_diag ("virtio-blk at %02x:%02x.%u: no usable capabilities", p->bus, p->dev, p->fn);
    }
  return n;
}

bool
blk_needs_reset (const struct blk_disk *d)
{
  return virtio_status (&d->v) & VIRTIO_STATUS_NEEDS_RESET;
}

static void
queue_reset (struct blk_queue *q, struct vq *vq)
{
  q->vq = vq;
  q->in_flight = 0;
  q->n_free = vq->size;
  q->free_head = 0;
  for (unsigned i = 0; i < BLK_QSIZE; i++)
    {
      q->next[i] = (uint16_t) (i + 1);
      q->busy[i] = false;
      q->big[i] = false;
    }
  /* With EVENT_IDX: never an interrupt (we poll); the probe moves
   * used_event along as it reaps */
  if (virtio_has (vq->dev, VIRTIO_F_EVENT_IDX))
    virtq_set_used_event (vq, (uint16_t) (vq->last_used - 1));
  else
    *(volatile uint16_t *) vq->avail = 1;   /* VIRTQ_AVAIL_F_NO_INTERRUPT */
}

static void
read_config (struct blk_disk *d)
{
  struct virtio_dev *v = &d->v;

  d->capacity = virtio_cfg_read64 (v, CFG_CAPACITY);
  d->seg_max = virtio_has (v, VIRTIO_BLK_F_SEG_MAX) ? virtio_cfg_read32 (v, CFG_SEG_MAX) : 0;
  if (virtio_has (v, VIRTIO_BLK_F_GEOMETRY))
    {
      d->cylinders = virtio_cfg_read16 (v, CFG_GEOMETRY);
      d->heads = virtio_cfg_read8 (v, CFG_GEOMETRY + 2);
      d->sectors = virtio_cfg_read8 (v, CFG_GEOMETRY + 3);
    }
  d->blk_size = virtio_has (v, VIRTIO_BLK_F_BLK_SIZE) ? virtio_cfg_read32 (v, CFG_BLK_SIZE) : 0;
  if (virtio_has (v, VIRTIO_BLK_F_TOPOLOGY))
    {
      d->phys_block_exp = virtio_cfg_read8 (v, CFG_TOPOLOGY);
      d->align_offset = virtio_cfg_read8 (v, CFG_TOPOLOGY + 1);
      d->min_io_size = virtio_cfg_read16 (v, CFG_TOPOLOGY + 2);
      d->opt_io_size = virtio_cfg_read32 (v, CFG_TOPOLOGY + 4);
    }
  d->num_queues = virtio_has (v, VIRTIO_BLK_F_MQ) ? virtio_cfg_read16 (v, CFG_NUM_QUEUES) : 1;
  if (virtio_has (v, VIRTIO_BLK_F_DISCARD))
    {
      d->max_discard_sectors = virtio_cfg_read32 (v, CFG_MAX_DISCARD_SECT);
      d->max_discard_seg = virtio_cfg_read32 (v, CFG_MAX_DISCARD_SEG);
      d->discard_sector_alignment = virtio_cfg_read32 (v, CFG_DISCARD_ALIGN);
    }
  if (virtio_has (v, VIRTIO_BLK_F_WRITE_ZEROES))
    {
      d->max_write_zeroes_sectors = virtio_cfg_read32 (v, CFG_MAX_WZ_SECT);
      d->max_write_zeroes_seg = virtio_cfg_read32 (v, CFG_MAX_WZ_SEG);
      d->write_zeroes_may_unmap = virtio_cfg_read8 (v, CFG_WZ_MAY_UNMAP);
    }
}

bool
blk_setup (struct blk_disk *d, unsigned max_queues)
{
  struct virtio_dev *v = &d->v;
  uint64_t extra = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_GEOMETRY
                   | 1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_BLK_SIZE
                   | 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_TOPOLOGY
                   | 1ull << VIRTIO_BLK_F_MQ | 1ull << VIRTIO_BLK_F_DISCARD
                   | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
  unsigned nq;

  d->ok = false;
  if (!v->common.addr || !v->notify.addr || !v->device.addr)
    {
      tap_diag ("virtio-blk: common, notify or device configuration capability missing");
      return false;
    }
  if (!virtio_begin (v, extra, false))
    return false;
  read_config (d);
  nq = virtio_has (v, VIRTIO_BLK_F_MQ) ? d->num_queues : 1;
  if (nq > max_queues)
    nq = max_queues;
  if (nq > BLK_MAX_QUEUES)
    nq = BLK_MAX_QUEUES;
  if (nq == 0)
    nq = 1;
  for (unsigned i = 0; i < nq; i++)
    {
      if (!virtio_setup_queue (v, (uint16_t) i, BLK_QSIZE, VIRTIO_MSI_NO_VECTOR, false))
        return false;
      if (!d->q[i])
        {
          if (queue_pool_used == ARRAY_SIZE (queue_pool))
            {
              tap_diag ("virtio-blk: the driver's queue pool is used up");
              return false;
            }
          d->q[i] = &queue_pool[queue_pool_used++];
        }
      queue_reset (d->q[i], &v->vq[i]);
    }
  d->nq = nq;
  if (!virtio_driver_ok (v, false))
    return false;
  d->ok = true;
  return true;
}

/* --- requests ------------------------------------------------------------------------ */

int
blk_submit_chain (struct blk_disk *d, unsigned qi, const struct blk_seg *segs, unsigned n,
                  bool indirect, uint64_t tag)
{
  struct blk_queue *q = d->q[qi];
  struct vq *vq = q->vq;
  unsigned need = indirect ? 1 : n;
  uint16_t head, i;

  if (n == 0 || need > q->n_free || (indirect && n > BLK_IND_SMALL && (big_busy || n > BLK_IND_BIG)))
    return -1;
  head = q->free_head;
  if (indirect)
    {
      bool big = n > BLK_IND_SMALL;
      uint8_t *t = big ? big_table : q->ind[head];

      for (unsigned k = 0; k < n; k++)
        {
          volatile uint8_t *e = (volatile uint8_t *) (t + 16 * k);
          uint16_t flags = (segs[k].write ? VIRTQ_DESC_F_WRITE : 0)
                           | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

          *(volatile uint64_t *) e = segs[k].addr;
          *(volatile uint32_t *) (e + 8) = segs[k].len;
          *(volatile uint16_t *) (e + 12) = flags;
          *(volatile uint16_t *) (e + 14) = (uint16_t) (k + 1 < n ? k + 1 : 0);
        }
      q->free_head = q->next[head];
      q->n_free--;
      virtq_set_desc (vq, head, (uint64_t) t, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
      q->n_desc[head] = 1;
      q->big[head] = big;
      if (big)
        big_busy = true;
    }
  else
    {
      i = head;
      for (unsigned k = 0; k < n; k++)
        {
          uint16_t nx = q->next[i];
          uint16_t flags = (segs[k].write ? VIRTQ_DESC_F_WRITE : 0)
                           | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

          virtq_set_desc (vq, i, segs[k].addr, segs[k].len, flags, k + 1 < n ? nx : 0);
          if (k + 1 < n)
            i = nx;
        }
      q->free_head = q->next[i];
      q->n_free = (uint16_t) (q->n_free - n);
      q->n_desc[head] = (uint16_t) n;
      q->big[head] = false;
    }
  q->tag[head] = tag;
  q->busy[head] = true;
  if (!(segs[n - 1].write && segs[n - 1].addr == (uint64_t) &q->status[head]))
    q->status[head] = BLK_S_UNTOUCHED;   /* a chain of the caller's: no status of ours */
  q->in_flight++;
  virtq_add_avail (vq, head);
  return head;
}

int
blk_submit (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector,
            const struct blk_seg *data, unsigned n, bool indirect, uint64_t tag)
{
  struct blk_queue *q = d->q[qi];
  struct blk_seg segs[BLK_IND_BIG];
  uint16_t head = q->free_head;

  /* The header and status slots are the head's: the head is the first
   * descriptor taken from the free list */
  if (n + 2 > ARRAY_SIZE (segs))
    return -1;
  q->hdr[head].type = type;
  q->hdr[head].reserved = 0;
  q->hdr[head].sector = sector;
  q->status[head] = BLK_S_UNTOUCHED;
  segs[0] = (struct blk_seg) { (uint64_t) &q->hdr[head], sizeof q->hdr[head], false };
  for (unsigned k = 0; k < n; k++)
    segs[k + 1] = data[k];
  segs[n + 1] = (struct blk_seg) { (uint64_t) &q->status[head], 1, true };
  return blk_submit_chain (d, qi, segs, n + 2, indirect, tag);
}

int
blk_submit_buf (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector, void *buf,
                uint32_t len, uint64_t tag)
{
  struct blk_seg s = { (uint64_t) buf, len, type != VIRTIO_BLK_T_OUT
                       && type != VIRTIO_BLK_T_DISCARD && type != VIRTIO_BLK_T_WRITE_ZEROES };

  return blk_submit (d, qi, type, sector, &s, len ? 1 : 0, false, tag);
}

void
blk_kick (struct blk_disk *d, unsigned qi)
{
  virtq_kick (d->q[qi]->vq);
}

bool
blk_reap (struct blk_disk *d, unsigned qi, uint64_t *tag, uint8_t *status, uint32_t *len)
{
  struct blk_queue *q = d->q[qi];
  struct vq *vq = q->vq;
  uint32_t id;
  uint16_t i, tail;

  if (!virtq_next_used (vq, &id, len))
    return false;
  if (id >= vq->size || !q->busy[id])
    {
      tap_diag ("virtio-blk: a used element names descriptor %u, not a request in flight", id);
      *tag = ~0ull;
      *status = BLK_S_UNTOUCHED;
      return true;
    }
  *tag = q->tag[id];
  *status = *(volatile uint8_t *) &q->status[id];
  q->busy[id] = false;
  q->in_flight--;
  if (q->big[id])
    big_busy = false;
  /* The chain's descriptors back on the free list, in order */
  tail = (uint16_t) id;
  for (i = 1; i < q->n_desc[id]; i++)
    tail = q->next[tail];
  q->next[tail] = q->free_head;
  q->free_head = (uint16_t) id;
  q->n_free = (uint16_t) (q->n_free + q->n_desc[id]);
  if (virtio_has (vq->dev, VIRTIO_F_EVENT_IDX))
    *(volatile uint16_t *) (vq->avail + 4 + 2ull * vq->size) = (uint16_t) (vq->last_used - 1);
  return true;
}

enum vq_result
blk_wait (struct blk_disk *d, unsigned qi, int head, uint64_t timeout_ms, uint8_t *status,
          uint32_t *len)
{
  uint64_t deadline = deadline_after_ms (timeout_ms);
  uint64_t next_check = deadline_after_ms (1);
  uint64_t tag;

  *status = BLK_S_UNTOUCHED;
  *len = 0;
  for (;;)
    {
      if (blk_reap (d, qi, &tag, status, len))
        return tag == (uint64_t) head ? VQ_USED : VQ_BAD_ID;
      if (deadline_passed (next_check))
        {
          if (blk_needs_reset (d))
            return VQ_NEEDS_RESET;
          if (deadline_passed (deadline))
            return VQ_TIMEOUT;
          next_check = deadline_after_ms (1);
        }
      cpu_relax ();
    }
}

enum vq_result
blk_do (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector,
        const struct blk_seg *data, unsigned n, bool indirect, uint8_t *status, uint32_t *len)
{
  int head = blk_submit (d, qi, type, sector, data, n, indirect, 0);

  *status = BLK_S_UNTOUCHED;
  *len = 0;
  if (head < 0)
    return VQ_TIMEOUT;
  d->q[qi]->tag[head] = (uint64_t) head;
  blk_kick (d, qi);
  return blk_wait (d, qi, head, 5000, status, len);
}

unsigned
blk_rw (struct blk_disk *d, unsigned qi, uint32_t type, uint64_t sector, void *buf,
        uint32_t len)
{
  struct blk_seg s = { (uint64_t) buf, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID };
  uint8_t status;
  uint32_t used;
  enum vq_result r = blk_do (d, qi, type, sector, &s, len ? 1 : 0, false, &status, &used);

  return r == VQ_USED ? status : 0x100u + r;
}

const char *
blk_status_name (unsigned status)
{
  switch (status)
    {
    case VIRTIO_BLK_S_OK:
      return "OK";
    case VIRTIO_BLK_S_IOERR:
      return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
      return "UNSUPP";
    case BLK_S_UNTOUCHED:
      return "status byte not written";
    case 0x100 + VQ_NEEDS_RESET:
      return "NEEDS_RESET";
    case 0x100 + VQ_TIMEOUT:
      return "no completion (timeout)";
    case 0x100 + VQ_BAD_ID:
      return "used element with the wrong id";
    default:
      return "unknown status";
    }
}
