/* vinput.c: a polling virtio-input driver
 *
 * Written from virtio 1.2 §5.8: the configuration is a window selected by
 * (select, subsel) with its size at offset 2 and the data at 8; queue 0
 * carries events to the driver in 8-byte buffers it keeps posted, queue
 * 1 (status) carries events such as LED changes to the device.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vinput.h"

#define VIRTIO_VENDOR 0x1af4

#define CFG_SELECT 0
#define CFG_SUBSEL 1
#define CFG_SIZE   2
#define CFG_DATA   8

#define CFG_ID_NAME    0x01
#define CFG_ID_DEVIDS  0x03
#define CFG_EV_BITS    0x11

#define VI_QSIZE 64
#define VI_BUFS  64

static uint8_t event_bufs[VINPUT_MAX][VI_BUFS][8] __attribute__ ((aligned (16)));
static uint8_t status_bufs[VINPUT_MAX][8] __attribute__ ((aligned (16)));
/* Selects a window; returns its size */
static uint8_t
cfg_select (struct vinput *d, uint8_t select, uint8_t subsel)
{
  mmio_write8 (d->dev.device.addr + CFG_SELECT, select);
  mmio_write8 (d->dev.device.addr + CFG_SUBSEL, subsel);
  return mmio_read8 (d->dev.device.addr + CFG_SIZE);
}

static unsigned
count_bits (struct vinput *d, uint8_t type)
{
  uint8_t size = cfg_select (d, CFG_EV_BITS, type);
  unsigned n = 0;

  for (unsigned i = 0; i < size && i < 128; i++)
    {
      /* No libgcc here for __builtin_popcount */
      for (uint8_t b = virtio_cfg_read8 (&d->dev, CFG_DATA + i); b; b &= (uint8_t) (b - 1))
        n++;
    }
  return n;
}

static void
read_config (struct vinput *d)
{
  uint8_t size = cfg_select (d, CFG_ID_NAME, 0);

  for (unsigned i = 0; i < size && i < 128; i++)
    d->name[i] = (char) virtio_cfg_read8 (&d->dev, CFG_DATA + i);
  d->name[size < 128 ? size : 128] = '\0';
  size = cfg_select (d, CFG_ID_DEVIDS, 0);
  for (unsigned i = 0; i < 4; i++)
    d->ids[i] = size >= 8 ? virtio_cfg_read16 (&d->dev, CFG_DATA + 2 * i) : 0;
  d->n_key = count_bits (d, EV_KEY);
  d->n_rel = count_bits (d, EV_REL);
  d->n_abs = count_bits (d, EV_ABS);
  d->n_led = count_bits (d, EV_LED);
  d->kind = d->n_abs ? VINPUT_TABLET : d->n_rel ? VINPUT_MOUSE : VINPUT_KBD;
}

unsigned
vinput_find_all (const struct pci *pci, struct vinput *devs, unsigned max)
{
  unsigned n = 0;

  if (max > VINPUT_MAX)
    max = VINPUT_MAX;
  for (unsigned k = 0; k < pci->n_devs && n < max; k++)
    {
      const struct pci_dev *p = &pci->devs[k];
      struct vinput *d = &devs[n];

      if (p->vendor != VIRTIO_VENDOR || p->device != VIRTIO_INPUT_ID)
        continue;
      memset (d, 0, sizeof *d);
      d->pci = p;
      d->slot = n;
      for (unsigned i = 0; i < 6;)
        {
          bool restored;
          unsigned used = pci_bar_size (p, i, &d->bars[i], &restored);

          if (d->bars[i].present && !d->bars[i].io)
            map_phys (d->bars[i].base, d->bars[i].size);
          i += used;
        }
      if (virtio_find_caps (&d->dev, p, d->bars, false) && d->dev.device.addr)
        {
          /* The configuration is read once the features are settled
           * (§3.1.1 step 7) */
          d->ok = virtio_begin (&d->dev, 0, false);
          if (d->ok)
            read_config (d);
          d->ok = d->ok
                  && virtio_setup_queue (&d->dev, 0, VI_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
                  && virtio_setup_queue (&d->dev, 1, VI_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
                  && virtio_driver_ok (&d->dev, false);
        }
      if (d->ok)
        {
          struct vq *q = &d->dev.vq[0];
          unsigned nb = q->size < VI_BUFS ? q->size : VI_BUFS;

          for (uint16_t i = 0; i < nb; i++)
            {
              virtq_set_desc (q, i, (uint64_t) event_bufs[n][i], 8, VIRTQ_DESC_F_WRITE, 0);
              virtq_add_avail (q, i);
            }
          virtq_kick (q);
        }
      n++;
    }
  return n;
}

const char *
vinput_kind_name (enum vinput_kind k)
{
  return k == VINPUT_TABLET ? "tablet" : k == VINPUT_MOUSE ? "mouse" : "kbd";
}

bool
vinput_poll (struct vinput *d, struct vinput_event *ev)
{
  struct vq *q = &d->dev.vq[0];
  uint32_t id, len;

  if (!d->ok || !virtq_next_used (q, &id, &len))
    return false;
  if (id >= VI_BUFS)
    {
      tap_diag ("input: used element names descriptor %u", id);
      return false;
    }
  memcpy (&ev->type, event_bufs[d->slot][id], 2);
  memcpy (&ev->code, event_bufs[d->slot][id] + 2, 2);
  memcpy (&ev->value, event_bufs[d->slot][id] + 4, 4);
  virtq_publish (q, (uint16_t) id);
  return true;
}

bool
vinput_status (struct vinput *d, uint16_t type, uint16_t code, int32_t value)
{
  struct vq *q = &d->dev.vq[1];
  uint8_t *b = status_bufs[d->slot];
  uint32_t len;

  if (!d->ok)
    return false;
  memcpy (b, &type, 2);
  memcpy (b + 2, &code, 2);
  memcpy (b + 4, &value, 4);
  virtq_set_desc (q, 0, (uint64_t) b, 8, 0, 0);
  return virtq_submit_wait (q, 0, 1000, &len) == VQ_USED;
}
