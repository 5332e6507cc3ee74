/* virtio/console.c: the console device with multiport (virtio 1.2, 5.3)
 *
 * Queues: port 0's receiveq and transmitq (0, 1), the control receiveq and
 * transmitq (2, 3), then port N's at 2N + 2 and 2N + 3. Without MULTIPORT
 * only queues 0 and 1 are used. max_nr_ports is the number of ports
 * configured; there is no hotplug.
 *
 * The control protocol, driver first: DEVICE_READY; we answer PORT_ADD for
 * every port. PORT_READY for a port; we answer CONSOLE_PORT (port 0),
 * PORT_NAME (named ports) and PORT_OPEN (1) if the host side is connected,
 * and PORT_OPEN again whenever that changes. PORT_OPEN from the driver says
 * the guest opened or closed the port; host input is delivered only to an
 * open port, as a guest application could not read it otherwise.
 *
 * Everything in guest memory is the guest's to change under us: control
 * messages are copied out before they are looked at, every port id is
 * checked, and a message that makes no sense is logged (rate-limited) and
 * ignored. Memory is bounded: at most CTRL_PENDING_MAX control messages
 * wait for receive buffers, and at most PORT_HOLD_MAX bytes of host input
 * per port; past that the backend stops reading its fd.
 *
 * Locking: dev->lock covers all of it. Queue work comes from the transport
 * with the lock held; backend events (loop thread) and emerg_wr (a vCPU)
 * take it here. Backends are called with it held.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n.h>

#include "viv-bytes.h"

#define VIRTIO_ID_CONSOLE             3
#define PCI_CLASS_COMMUNICATION_OTHER 0x078000
#define CONSOLE_QUEUE_SIZE            128

/* Feature bits */
#define VIRTIO_CONSOLE_F_SIZE         0
#define VIRTIO_CONSOLE_F_MULTIPORT    1
#define VIRTIO_CONSOLE_F_EMERG_WRITE  2

/* Control events */
#define VIRTIO_CONSOLE_DEVICE_READY   0
#define VIRTIO_CONSOLE_DEVICE_ADD     1
#define VIRTIO_CONSOLE_DEVICE_REMOVE  2
#define VIRTIO_CONSOLE_PORT_READY     3
#define VIRTIO_CONSOLE_CONSOLE_PORT   4
#define VIRTIO_CONSOLE_RESIZE         5
#define VIRTIO_CONSOLE_PORT_OPEN      6
#define VIRTIO_CONSOLE_PORT_NAME      7

/* struct virtio_console_config */
#define CFG_COLS          0
#define CFG_ROWS          2
#define CFG_MAX_NR_PORTS  4
#define CFG_EMERG_WR      8
#define CFG_SIZE          12

#define CONSOLE_COLS      80
#define CONSOLE_ROWS      25

#define CTRL_HDR_LEN      8      /* id (le32), event (le16), value (le16) */
#define CTRL_PENDING_MAX  64
#define PORT_HOLD_MAX     16384
#define PORT_RESUME_ROOM  (PORT_HOLD_MAX / 2)
#define PORT_NAME_MAX     127

#define Q_CTRL_RX         2
#define Q_CTRL_TX         3

struct console_port {
  struct vmm_virtio_console *con;
  unsigned id;
  char *name;                 /* NULL for port 0 */
  struct vmm_chardev *chr;

  bool ready;                 /* PORT_READY (1) came, or port 0 without MULTIPORT */
  bool guest_open;            /* the guest has the port open */
  bool host_open;             /* what we last told the guest with PORT_OPEN */
  bool tx_blocked;            /* the backend took less than it was given */
  uint64_t tx_offset;         /* bytes of the next transmit chain already written */

  bool session;               /* a peer backend (the SPICE agent): its stream lives
                               * from the guest's open to its close */
  size_t held;                /* host input waiting for receive buffers */
  bool throttled;             /* we told the backend to stop reading */
  uint8_t hold[PORT_HOLD_MAX];
};

struct ctrl_msg {
  uint32_t id;
  uint16_t event, value;
};

struct vmm_virtio_console {
  struct vmm_virtio_dev dev;
  struct vmm_virtio_ops ops;          /* num_queues depends on the ports */

  unsigned n_ports;                   /* port 0 included */
  bool multiport;                     /* negotiated, from DRIVER_OK */
  bool driver_ready;                  /* DEVICE_READY (1) came */

  /* Control messages waiting for control receive buffers (a ring) */
  struct ctrl_msg pending[CTRL_PENDING_MAX];
  unsigned pending_head, pending_count;

  struct console_port ports[VMM_CONSOLE_MAX_PORTS];
};

static unsigned
rx_queue (unsigned port)
{
  return port == 0 ? 0 : 2 * port + 2;
}

static unsigned
tx_queue (unsigned port)
{
  return rx_queue (port) + 1;
}

/* Whether queue Q can be used now (the transport checks this before
 * queue_notify; backend events come from elsewhere). */
static bool
queue_ready (const struct vmm_virtio_console *con, unsigned q)
{
  const struct vmm_virtio_dev *dev = &con->dev;

  return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) &&
         q < con->ops.num_queues && dev->queues[q].enabled;
}

static struct console_port *
find_port (struct vmm_virtio_console *con, uint32_t id)
{
  return id < con->n_ports ? &con->ports[id] : NULL;
}

/* ---- control messages to the driver -------------------------------------- */

static void
ctrl_flush (struct vmm_virtio_console *con)
{
  struct vmm_virtio_dev *dev = &con->dev;
  struct virtq *vq = &dev->queues[Q_CTRL_RX].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  bool pushed = false;
  int ret = 0;

  if (con->pending_count == 0 || !queue_ready (con, Q_CTRL_RX))
    return;
  /* Messages left and no buffers: kicks come back on for new ones. */
  while (con->pending_count > 0 && (ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      const struct ctrl_msg *m = &con->pending[con->pending_head];
      uint8_t buf[CTRL_HDR_LEN + PORT_NAME_MAX];
      uint32_t len = CTRL_HDR_LEN;
      uint32_t n;

      if (chain.in_len == 0)
        {
          vmm_log_guest (&dev->rl, "virtio-console: a control receive buffer with no "
                         "writable bytes");
          virtq_push (vq, chain.head, 0);
          pushed = true;
          continue;
        }
      viv_put_le32 (buf, m->id);
      viv_put_le16 (buf + 4, m->event);
      viv_put_le16 (buf + 6, m->value);
      /* The name follows the header, without a NUL (5.3.6.2). */
      if (m->event == VIRTIO_CONSOLE_PORT_NAME && m->id < con->n_ports &&
          con->ports[m->id].name != NULL)
        {
          size_t name_len = strlen (con->ports[m->id].name);
          memcpy (buf + CTRL_HDR_LEN, con->ports[m->id].name, name_len);
          len += (uint32_t) name_len;
        }
      if (chain.in_len < len)
        vmm_log_guest (&dev->rl, "virtio-console: a control receive buffer of %llu bytes "
                       "cuts a %u-byte message short", (unsigned long long) chain.in_len, len);
      n = virtq_chain_write (&chain, buf, len);
      virtq_push (vq, chain.head, n);
      pushed = true;
      con->pending_head = (con->pending_head + 1) % CTRL_PENDING_MAX;
      con->pending_count--;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, Q_CTRL_RX);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, Q_CTRL_RX);
      return;
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, Q_CTRL_RX);
}

static void
ctrl_send (struct vmm_virtio_console *con, uint32_t id, uint16_t event, uint16_t value)
{
  struct ctrl_msg *m;

  if (!con->multiport)
    return;
  if (con->pending_count == CTRL_PENDING_MAX)
    {
      vmm_log_guest (&con->dev.rl, "virtio-console: %u control messages wait for receive "
                     "buffers; event %u for port %u dropped", CTRL_PENDING_MAX, event, id);
      return;
    }
  m = &con->pending[(con->pending_head + con->pending_count) % CTRL_PENDING_MAX];
  m->id = id;
  m->event = event;
  m->value = value;
  con->pending_count++;
}

/* Tells the guest whether the host side of P is connected, if that
 * changed since we last said. */
static void
port_send_host_open (struct console_port *p, bool open)
{
  if (p->host_open == open)
    return;
  p->host_open = open;
  ctrl_send (p->con, p->id, VIRTIO_CONSOLE_PORT_OPEN, open);
}

/* ---- data ---------------------------------------------------------------- */

static bool
port_can_receive (const struct console_port *p)
{
  const struct vmm_virtio_console *con = p->con;

  if (p->id != 0 && !con->multiport)
    return false;
  return p->guest_open && queue_ready (con, rx_queue (p->id));
}

/* Host to guest: moves held input into P's receive buffers. */
static void
port_rx (struct console_port *p)
{
  struct vmm_virtio_console *con = p->con;
  struct vmm_virtio_dev *dev = &con->dev;
  unsigned q = rx_queue (p->id);
  struct virtq *vq;
  struct virtq_chain chain;
  unsigned budget;
  size_t done = 0;
  bool pushed = false;
  int ret = 0;

  if (p->held == 0 || !port_can_receive (p))
    return;
  vq = &dev->queues[q].vq;
  budget = virtq_drain_budget (vq);
  /* Input left and no buffers: kicks come back on for new ones. */
  while (done < p->held && (ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      size_t want = p->held - done;
      uint32_t n;

      if (chain.in_len == 0)
        vmm_log_guest (&dev->rl, "virtio-console: port %u: a receive buffer with no "
                       "writable bytes", p->id);
      n = virtq_chain_write (&chain, p->hold + done, want > UINT32_MAX ? UINT32_MAX
                                                                        : (uint32_t) want);
      virtq_push (vq, chain.head, n);
      pushed = true;
      done += n;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, q);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, q);
      return;
    }
  if (done > 0)
    {
      memmove (p->hold, p->hold + done, p->held - done);
      p->held -= done;
      /* Half the buffer free before the backend reads again, not every
       * small guest buffer: fewer pause and resume round trips. */
      if (p->throttled && sizeof p->hold - p->held >= PORT_RESUME_ROOM)
        vmm_chardev_accept_input (p->chr);
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, q);
}

/* Writes CHAIN's readable bytes from p->tx_offset on. Returns false when
 * the backend took less; the rest waits for its writable event. */
static bool
port_write_chain (struct console_port *p, const struct virtq_chain *chain)
{
  uint64_t skip = p->tx_offset;

  for (unsigned k = 0; k < chain->n_out; k++)
    {
      const struct virtq_iov *iov = &chain->iov[k];
      size_t len, n;

      if (skip >= iov->len)
        {
          skip -= iov->len;
          continue;
        }
      len = iov->len - (size_t) skip;
      n = vmm_chardev_write (p->chr, (const uint8_t *) iov->base + skip, len);
      skip = 0;
      p->tx_offset += n;
      if (n < len)
        return false;
    }
  p->tx_offset = 0;
  return true;
}

/* Guest to host: P's transmit buffers to its backend. */
static void
port_tx (struct console_port *p)
{
  struct vmm_virtio_console *con = p->con;
  struct vmm_virtio_dev *dev = &con->dev;
  unsigned q = tx_queue (p->id);
  struct virtq *vq;
  struct virtq_chain chain;
  unsigned budget;
  bool pushed = false;
  int ret;

  if (p->tx_blocked || !queue_ready (con, q) || (p->id != 0 && !con->multiport))
    return;
  vq = &dev->queues[q].vq;
  budget = virtq_drain_budget (vq);
  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      if (chain.n_in > 0)
        vmm_log_guest (&dev->rl, "virtio-console: port %u: a transmit buffer with writable "
                       "bytes", p->id);
      if (!port_write_chain (p, &chain))
        {
          /* Taken again (from tx_offset) once the backend can. */
          virtq_unpop (vq);
          p->tx_blocked = true;
          vmm_log_debug ("virtio-console: port %u: the host is not reading; output waits",
                         p->id);
          break;
        }
      virtq_push (vq, chain.head, 0);
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

/* ---- control messages from the driver ------------------------------------ */

static void
port_set_guest_open (struct console_port *p, bool open)
{
  if (p->guest_open == open)
    return;
  p->guest_open = open;
  vmm_chardev_guest_open (p->chr, open);
  if (!open && p->session && p->held > 0)
    {
      /* The rest of the closed session's messages: the next session would
       * take it for the start of its own */
      p->held = 0;
      if (p->throttled)
        vmm_chardev_accept_input (p->chr);
    }
  if (open)
    port_rx (p);
}

static void
ctrl_handle (struct vmm_virtio_console *con, uint32_t id, uint16_t event, uint16_t value)
{
  struct vmm_ratelimit *rl = &con->dev.rl;
  struct console_port *p = NULL;

  if (event != VIRTIO_CONSOLE_DEVICE_READY)
    {
      p = find_port (con, id);
      if (p == NULL)
        {
          vmm_log_guest (rl, "virtio-console: control event %u for port %u, which does not "
                         "exist; ignored", event, id);
          return;
        }
      if (!con->driver_ready)
        {
          vmm_log_guest (rl, "virtio-console: control event %u for port %u before "
                         "DEVICE_READY; ignored", event, id);
          return;
        }
    }

  switch (event)
    {
    case VIRTIO_CONSOLE_DEVICE_READY:
      if (value != 1)
        {
          vmm_log_guest (rl, "virtio-console: the driver failed to set up (DEVICE_READY %u)",
                         value);
          break;
        }
      if (con->driver_ready)
        {
          vmm_log_guest (rl, "virtio-console: DEVICE_READY again; ignored");
          break;
        }
      con->driver_ready = true;
      for (unsigned i = 0; i < con->n_ports; i++)
        ctrl_send (con, i, VIRTIO_CONSOLE_DEVICE_ADD, 1);
      break;

    case VIRTIO_CONSOLE_PORT_READY:
      if (value != 1)
        {
          vmm_log_guest (rl, "virtio-console: the driver could not set up port %u", id);
          p->ready = false;
          break;
        }
      /* Answered every time: a driver asking again gets the same answers. */
      p->ready = true;
      if (p->id == 0)
        ctrl_send (con, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
      if (p->name != NULL)
        ctrl_send (con, p->id, VIRTIO_CONSOLE_PORT_NAME, 1);
      p->host_open = vmm_chardev_connected (p->chr);
      if (p->host_open)
        ctrl_send (con, p->id, VIRTIO_CONSOLE_PORT_OPEN, 1);
      break;

    case VIRTIO_CONSOLE_PORT_OPEN:
      if (value > 1)
        vmm_log_guest (rl, "virtio-console: PORT_OPEN %u for port %u taken as open", value, id);
      port_set_guest_open (p, value != 0);
      break;

    default:
      /* DEVICE_ADD, CONSOLE_PORT, PORT_NAME... are the device's to send. */
      vmm_log_guest (rl, "virtio-console: control event %u from the driver (port %u) is not "
                     "one a driver sends; ignored", event, id);
      break;
    }
}

static void
ctrl_tx (struct vmm_virtio_console *con)
{
  struct vmm_virtio_dev *dev = &con->dev;
  struct virtq *vq = &dev->queues[Q_CTRL_TX].vq;
  struct virtq_chain chain;
  unsigned budget = virtq_drain_budget (vq);
  bool pushed = false;
  int ret;

  while ((ret = virtq_pop_or_enable (vq, &chain, &budget)) > 0)
    {
      uint8_t msg[CTRL_HDR_LEN];
      uint32_t n = virtq_chain_read (&chain, 0, msg, sizeof msg);

      /* Copied out first: the guest may change the buffer meanwhile. */
      if (n < CTRL_HDR_LEN)
        vmm_log_guest (&dev->rl, "virtio-console: a control message of %u bytes (less than "
                       "%u); ignored", n, CTRL_HDR_LEN);
      else
        ctrl_handle (con, viv_get_le32 (msg), viv_get_le16 (msg + 4), viv_get_le16 (msg + 6));
      virtq_push (vq, chain.head, 0);
      pushed = true;
    }
  if (ret == -EAGAIN)
    vmm_virtio_queue_resume (dev, Q_CTRL_TX);
  else if (ret < 0)
    {
      vmm_virtio_set_queue_broken (dev, Q_CTRL_TX);
      return;
    }
  if (pushed && virtq_should_notify (vq))
    vmm_virtio_notify_queue (dev, Q_CTRL_TX);
  ctrl_flush (con);
}

/* ---- transport ops ------------------------------------------------------- */

static void
console_queue_notify (struct vmm_virtio_dev *dev, unsigned q)
{
  struct vmm_virtio_console *con = dev->priv;
  unsigned port;

  if (q >= 2 && !con->multiport)
    {
      vmm_log_guest (&dev->rl, "virtio-console: queue %u used without MULTIPORT; ignored", q);
      return;
    }
  if (q == Q_CTRL_RX)
    ctrl_flush (con);
  else if (q == Q_CTRL_TX)
    ctrl_tx (con);
  else
    {
      port = q < 2 ? 0 : (q - 2) / 2;
      if (port >= con->n_ports)
        return;
      if (q % 2 == 0)
        port_rx (&con->ports[port]);
      else
        port_tx (&con->ports[port]);
    }
}

static void
console_config_read (struct vmm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
  struct vmm_virtio_console *con = dev->priv;
  uint8_t cfg[CFG_SIZE] = { 0 };

  viv_put_le16 (cfg + CFG_COLS, CONSOLE_COLS);
  viv_put_le16 (cfg + CFG_ROWS, CONSOLE_ROWS);
  viv_put_le32 (cfg + CFG_MAX_NR_PORTS, con->n_ports);
  /* emerg_wr reads as 0 */
  memcpy (data, cfg + offset, len);
}

static void
console_config_write (struct vmm_virtio_dev *dev, uint32_t offset, const void *data,
                      uint32_t len)
{
  struct vmm_virtio_console *con = dev->priv;
  uint8_t c;

  (void) len;
  /* emerg_wr: one character to port 0, at any time, even before the
   * features are negotiated (5.3.4.1); the low byte of the value. */
  if (offset != CFG_EMERG_WR)
    {
      vmm_log_guest (&dev->rl, "virtio-console: a write to read-only config offset %u", offset);
      return;
    }
  c = *(const uint8_t *) data;
  vmm_chardev_write (con->ports[0].chr, &c, 1);
}

static int
console_activate (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_console *con = dev->priv;

  con->multiport = vmm_virtio_has_feature (dev, VIRTIO_CONSOLE_F_MULTIPORT);
  /* A driver without MULTIPORT cannot say it opened port 0: it is open. */
  if (!con->multiport)
    {
      con->ports[0].ready = true;
      port_set_guest_open (&con->ports[0], true);
    }
  return 0;
}

static void
console_reset (struct vmm_virtio_dev *dev)
{
  struct vmm_virtio_console *con = dev->priv;

  con->multiport = false;
  con->driver_ready = false;
  con->pending_head = con->pending_count = 0;
  for (unsigned i = 0; i < con->n_ports; i++)
    {
      struct console_port *p = &con->ports[i];

      p->ready = false;
      p->host_open = false;
      p->tx_blocked = false;
      p->tx_offset = 0;
      /* Held input stays: it is the host's, not this driver session's. */
      port_set_guest_open (p, false);
    }
}

/* ---- snapshots ----------------------------------------------------------- */

#define CONSOLE_STATE_VERSION 1

/* A port as saved; HOLD points into the state file */
struct saved_port {
  bool ready, guest_open, host_open;
  uint64_t tx_offset;
  const uint8_t *hold;
  uint32_t held;
};

/* The driver's session: MULTIPORT, DEVICE_READY, the control messages
 * waiting for its buffers, and each port's state as the guest knows it
 * (ready, opened by the guest, open on the host side as last told), the
 * host's input it has not taken yet, and how much of the next transmit
 * buffer the host side has already had. The host side itself (the
 * chardev, its connection) is not saved. */
static void
console_save (struct vmm_virtio_dev *dev, struct vmm_state_writer *w, const char *name)
{
  struct vmm_virtio_console *con = dev->priv;

  vmm_state_begin (w, name, CONSOLE_STATE_VERSION);
  vmm_state_put_u32 (w, con->n_ports);
  vmm_state_put_bool (w, con->multiport);
  vmm_state_put_bool (w, con->driver_ready);
  vmm_state_put_u32 (w, con->pending_count);
  for (unsigned i = 0; i < con->pending_count; i++)
    {
      const struct ctrl_msg *m = &con->pending[(con->pending_head + i) % CTRL_PENDING_MAX];

      vmm_state_put_u32 (w, m->id);
      vmm_state_put_u16 (w, m->event);
      vmm_state_put_u16 (w, m->value);
    }
  for (unsigned i = 0; i < con->n_ports; i++)
    {
      const struct console_port *p = &con->ports[i];

      vmm_state_put_bool (w, p->ready);
      vmm_state_put_bool (w, p->guest_open);
      vmm_state_put_bool (w, p->host_open);
      vmm_state_put_u64 (w, p->tx_offset);
      vmm_state_put_blob (w, p->hold, (uint32_t) p->held);
    }
  vmm_state_end (w);
}

static gboolean
console_load (struct vmm_virtio_dev *dev, const struct vmm_state_file *f, const char *name,
              bool apply, GError **error)
{
  struct vmm_virtio_console *con = dev->priv;
  struct saved_port ports[VMM_CONSOLE_MAX_PORTS] = { 0 };
  struct ctrl_msg pending[CTRL_PENDING_MAX];
  struct vmm_state_reader r;
  bool multiport, driver_ready;
  uint32_t n_ports, n_pending;

  if (!vmm_state_reader_init (&r, f, name, CONSOLE_STATE_VERSION, error))
    return FALSE;
  n_ports = vmm_state_get_u32 (&r);
  if (n_ports != con->n_ports)
    {
      vmm_state_reader_fail (&r, N_("it is of a console with another number of ports"));
      return vmm_state_reader_done (&r, error);
    }
  multiport = vmm_state_get_bool (&r);
  driver_ready = vmm_state_get_bool (&r);
  n_pending = vmm_state_get_u32 (&r);
  if (n_pending > CTRL_PENDING_MAX)
    {
      vmm_state_reader_fail (&r, N_("too many control messages wait"));
      return vmm_state_reader_done (&r, error);
    }
  if (!multiport && (driver_ready || n_pending > 0))
    vmm_state_reader_fail (&r, N_("a port's state needs MULTIPORT, not negotiated"));
  for (unsigned i = 0; i < n_pending; i++)
    {
      struct ctrl_msg *m = &pending[i];

      m->id = vmm_state_get_u32 (&r);
      m->event = vmm_state_get_u16 (&r);
      m->value = vmm_state_get_u16 (&r);
      /* The messages the device sends (ctrl_send) */
      if (m->id >= n_ports || m->value > 1 ||
          (m->event != VIRTIO_CONSOLE_DEVICE_ADD && m->event != VIRTIO_CONSOLE_CONSOLE_PORT &&
           m->event != VIRTIO_CONSOLE_PORT_OPEN && m->event != VIRTIO_CONSOLE_PORT_NAME))
        vmm_state_reader_fail (&r, N_("a control message the device does not send"));
    }
  for (unsigned i = 0; i < n_ports; i++)
    {
      struct saved_port *p = &ports[i];

      p->ready = vmm_state_get_bool (&r);
      p->guest_open = vmm_state_get_bool (&r);
      p->host_open = vmm_state_get_bool (&r);
      p->tx_offset = vmm_state_get_u64 (&r);
      p->hold = vmm_state_get_blob (&r, PORT_HOLD_MAX, &p->held);
      /* Within a chain, at most 4 GiB */
      if (p->tx_offset > UINT32_MAX)
        vmm_state_reader_fail (&r, N_("a port's output is past the end of its buffer"));
      if (i > 0 && !multiport && (p->ready || p->guest_open || p->host_open))
        vmm_state_reader_fail (&r, N_("a port's state needs MULTIPORT, not negotiated"));
    }
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  con->multiport = multiport;
  con->driver_ready = driver_ready;
  memcpy (con->pending, pending, n_pending * sizeof *pending);
  con->pending_head = 0;
  con->pending_count = n_pending;
  for (unsigned i = 0; i < n_ports; i++)
    {
      struct console_port *p = &con->ports[i];
      const struct saved_port *sp = &ports[i];

      p->ready = sp->ready;
      p->host_open = sp->host_open;
      p->tx_offset = sp->tx_offset;
      p->tx_blocked = false;  /* the backend says when it cannot take more */
      if (sp->held > 0)
        memcpy (p->hold, sp->hold, sp->held);
      p->held = sp->held;
      if (p->throttled)
        {
          p->throttled = false;
          vmm_chardev_accept_input (p->chr);
        }
      if (p->guest_open != sp->guest_open)
        {
          p->guest_open = sp->guest_open;
          vmm_chardev_guest_open (p->chr, p->guest_open);
        }
      /* The guest learns whether the host side is there now: it is not
       * the one saved (its messages go out when the transport looks at
       * the control queue) */
      if (con->multiport && p->ready)
        port_send_host_open (p, vmm_chardev_connected (p->chr));
    }
  return TRUE;
}

static const struct vmm_virtio_ops console_ops_template = {
  .name = "console",
  .device_id = VIRTIO_ID_CONSOLE,
  .pci_class = PCI_CLASS_COMMUNICATION_OTHER,
  .features = (1ull << VIRTIO_CONSOLE_F_SIZE) | (1ull << VIRTIO_CONSOLE_F_MULTIPORT) |
              (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE),
  .queue_size = CONSOLE_QUEUE_SIZE,
  .config_size = CFG_SIZE,
  .config_read = console_config_read,
  .config_write = console_config_write,
  .activate = console_activate,
  .reset = console_reset,
  .queue_notify = console_queue_notify,
  .save = console_save,
  .load = console_load,
};

/* ---- backend events (loop thread, no lock held) -------------------------- */

static size_t
port_input_space (void *opaque)
{
  struct console_port *p = opaque;
  size_t space;

  pthread_mutex_lock (&p->con->dev.lock);
  space = sizeof p->hold - p->held;
  /* Once full, no more until port_rx made room and said so. */
  if (space == 0 || (p->throttled && space < PORT_RESUME_ROOM))
    {
      p->throttled = true;
      space = 0;
    }
  else
    p->throttled = false;
  pthread_mutex_unlock (&p->con->dev.lock);
  return space;
}

static void
port_input (void *opaque, const void *data, size_t len)
{
  struct console_port *p = opaque;

  pthread_mutex_lock (&p->con->dev.lock);
  if (len > sizeof p->hold - p->held)
    len = sizeof p->hold - p->held;   /* not reached: the backend asked */
  memcpy (p->hold + p->held, data, len);
  p->held += len;
  port_rx (p);
  pthread_mutex_unlock (&p->con->dev.lock);
}

static void
port_connected (void *opaque, bool connected)
{
  struct console_port *p = opaque;
  struct vmm_virtio_console *con = p->con;

  pthread_mutex_lock (&con->dev.lock);
  if (con->multiport && p->ready)
    {
      port_send_host_open (p, connected);
      ctrl_flush (con);
    }
  /* Output waiting for a client that left is dropped now. */
  if (!connected && p->tx_blocked)
    {
      p->tx_blocked = false;
      port_tx (p);
    }
  pthread_mutex_unlock (&con->dev.lock);
}

static void
port_writable (void *opaque)
{
  struct console_port *p = opaque;

  pthread_mutex_lock (&p->con->dev.lock);
  p->tx_blocked = false;
  port_tx (p);
  pthread_mutex_unlock (&p->con->dev.lock);
}

static const struct vmm_chardev_events port_events = {
  .input_space = port_input_space,
  .input = port_input,
  .connected = port_connected,
  .writable = port_writable,
};

/* ---- construction -------------------------------------------------------- */

/* Port names become /dev/virtio-ports/NAME in Linux: printable ASCII
 * without spaces or '/' ("com.redhat.spice.0", "org.qemu.guest_agent.0"). */
static bool
port_name_valid (const char *name)
{
  size_t len = name ? strlen (name) : 0;

  if (len == 0 || len > PORT_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    {
      unsigned char c = (unsigned char) name[i];

      if (c <= ' ' || c >= 0x7f || c == '/')
        return false;
    }
  return true;
}

static bool
check_config (const struct vmm_console_config *config, GError **error)
{
  if (config->n_ports > VMM_CONSOLE_MAX_PORTS - 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "at most %d named ports",
                   VMM_CONSOLE_MAX_PORTS - 1);
      return false;
    }
  for (unsigned i = 0; i < config->n_ports; i++)
    {
      const char *name = config->ports[i].name;

      if (!port_name_valid (name))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "invalid port name “%s” (1 to %d printable characters, no spaces or '/')",
                       name ? name : "", PORT_NAME_MAX);
          return false;
        }
      for (unsigned j = 0; j < i; j++)
        if (strcmp (config->ports[j].name, name) == 0)
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                         "two ports are named “%s”", name);
            return false;
          }
    }
  return true;
}

struct vmm_virtio_console *
vmm_virtio_console_new (const struct vmm_virtio_env *env, const struct vmm_console_config *config,
                        GError **error)
{
  struct vmm_virtio_console *con;

  if (!check_config (config, error))
    return NULL;
  con = calloc (1, sizeof *con);
  if (con == NULL)
    {
      vmm_virtio_set_error (error, -ENOMEM);
      return NULL;
    }

  con->n_ports = 1 + config->n_ports;
  con->ops = console_ops_template;
  con->ops.num_queues = 2 * (con->n_ports + 1);

  for (unsigned i = 0; i < con->n_ports; i++)
    {
      struct console_port *p = &con->ports[i];
      const struct vmm_chardev_spec *spec = i == 0 ? &config->console
                                                   : &config->ports[i - 1].backend;
      g_autoptr(GError) why = NULL;

      p->con = con;
      p->id = i;
      if (i > 0)
        {
          p->name = strdup (config->ports[i - 1].name);
          if (p->name == NULL)
            {
              vmm_virtio_set_error (error, -ENOMEM);
              goto fail;
            }
        }
      p->session = spec->kind == VMM_CHARDEV_PEER;
      p->chr = vmm_chardev_open (spec, env->loop, &port_events, p, &why);
      if (p->chr == NULL)
        {
          /* Which port: the backend's reason does not say. */
          g_propagate_prefixed_error (error, g_steal_pointer (&why), "%s%s: ",
                                      i == 0 ? "the console" : "port ", i == 0 ? "" : p->name);
          goto fail;
        }
    }

  if (!vmm_virtio_pci_init (&con->dev, &con->ops, con, env, error))
    goto fail;
  return con;

fail:
  vmm_virtio_console_free (con);
  return NULL;
}

struct vmm_virtio_dev *
vmm_virtio_console_dev (struct vmm_virtio_console *console)
{
  return &console->dev;
}

void
vmm_virtio_console_free (struct vmm_virtio_console *console)
{
  if (console == NULL)
    return;
  /* The loop is stopped (or was never started): no event is in flight. */
  for (unsigned i = 0; i < VMM_CONSOLE_MAX_PORTS; i++)
    {
      vmm_chardev_close (console->ports[i].chr);
      free (console->ports[i].name);
    }
  vmm_virtio_pci_destroy (&console->dev);
  free (console);
}
