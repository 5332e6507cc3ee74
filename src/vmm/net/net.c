/* net/net.c: what the backends share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "net/net.h"

#include <errno.h>
#include <unistd.h>

static bool
take (const struct pollfd *p)
{
  uint64_t n;

  if (p->fd < 0 || !(p->revents & POLLIN))
    return false;
  /* an eventfd: one read empties it */
  return read (p->fd, &n, sizeof n) == sizeof n || errno == EAGAIN;
}

void
vmm_net_take_kicks (const struct pollfd *tx, const struct pollfd *rx, atomic_bool *tx_pending,
                    atomic_bool *rx_pending)
{
  if (take (tx))
    atomic_store (tx_pending, true);
  if (take (rx))
    atomic_store (rx_pending, true);
}
