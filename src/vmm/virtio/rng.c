/* virtio/rng.c: the entropy device
 *
 * One queue of device-writable buffers, filled from getrandom(2). A request
 * gets at most 64 KiB, so a guest asking for gigabytes cannot hold the
 * event loop; it gets the rest with its next buffer.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#define VIRTIO_ID_RNG      4
#define RNG_QUEUE_SIZE     256
#define RNG_MAX_REQUEST    (64 * 1024)
#define PCI_CLASS_OTHERS   0x00ff00

struct vmm_virtio_rng {
  struct vmm_virtio_dev dev;
  uint64_t bytes_served;
};

static uint32_t
fill_chain (const struct virtq_chain *chain)
{
  uint32_t done = 0;

  for (unsigned i = chain->n_out; i < chain->n_out + chain->n_in && done < RNG_MAX_REQUEST; i++)
    {
      const struct virtq_iov *iov = &chain->iov[i];
      uint32_t want = iov->len;
      uint32_t got = 0;

      if (want > RNG_MAX_REQUEST - done)
        want = RNG_MAX_REQUEST - done;
      while (got < want)
        {
          ssize_t n = getrandom ((uint8_t *) iov->base + got, want - got, 0);
          if (n < 0)
            {
              if (errno == EINTR)
                continue;
              return done + got;
            }
          got += (uint32_t) n;
        }
      done += got;
    }
  return done;
}

static void
rng_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_rng *rng = dev->priv;
  struct virtq *vq = &dev->queues[q].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  bool pushed = false;
  int ret;

  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint32_t len = 0;

      if (chain.in_len == 0)
        vmm_log_guest (&dev->rl, "virtio-rng: a request with no writable bytes");
      else
        len = fill_chain (&chain);
      rng->bytes_served += len;
      virtq_push (vq, chain.head, len);
      pushed = true;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, q);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, q);
      return;
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, q);
}

static const struct vmm_virtio_ops rng_ops = {
  .name = "rng",
  .device_id = VIRTIO_ID_RNG,
  .pci_class = PCI_CLASS_OTHERS,
  .features = 0,
  .num_queues = 1,
  .queue_size = RNG_QUEUE_SIZE,
  .config_size = 0,
  .queue_notify = rng_queue_notify,
};

struct vmm_virtio_rng *
vmm_virtio_rng_new (const struct vmm_virtio_env *env, GError **error)
{
  struct vmm_virtio_rng *rng = calloc (1, sizeof *rng);

  if (rng == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }
  if (!vmm_virtio_pci_init (&rng->dev, &rng_ops, rng, env, error))
    {
      free (rng);
      return NULL;
    }
  return rng;
}

struct vmm_virtio_dev *
vmm_virtio_rng_dev (struct vmm_virtio_rng *rng)
{
  return &rng->dev;
}

void
vmm_virtio_rng_free (struct vmm_virtio_rng *rng)
{
  if (rng == NULL)
    return;
  vmm_virtio_pci_destroy (&rng->dev);
  free (rng);
}
