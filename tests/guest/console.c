/* console.c: the virtio-console tests (virtio 1.2 §5.3)
 *
 * The probe drives the console as Linux's driver does: MULTIPORT, control
 * queues, DEVICE_READY, PORT_READY for each port it was told about, then
 * PORT_OPEN for the ports it opens.  Its receive buffers stay posted and
 * are polled; transmit buffers go one at a time.
 *
 * The host side is a harness (run-console.sh, console-harness.py) that
 * connects to the VMM's sockets.  The exchange, in order:
 *
 *   port 0      host: "ping console"        guest: "PING CONSOLE", "emerg"
 *                                           through emerg_wr, then
 *                                           "vivarium-probe: hello from port 0"
 *               host: "verdict echo=ok emerg=ok line=ok"
 *   first named port (the harness connects to its socket only now)
 *               host: "ping NAME"           guest: "PING NAME" (upper case)
 *               host: "verdict echo=ok"     guest: "bulk out N" and N bytes
 *               host (reading only after a pause, so the VMM must hold the
 *               guest's buffers): "verdict bulk=ok"
 *                                           guest: "bulk in N"
 *               host: N bytes (more than the VMM may hold for the guest)
 *                                           guest: "bye"; the host disconnects
 *   port 0, after a reset without MULTIPORT
 *                                           guest: "single port hello"
 *               host: "verdict single=ok"
 *
 * So the host's checks come back as input, and the probe's TAP stays the
 * only TAP stream.  Every wait is bounded.
 *
 * Options: ports=NAME,NAME... (the named ports to expect, the first one
 * with a socket the harness connects to, the others with nothing behind
 * them).  Without ports= there is no harness: after the handshake the
 * probe only writes the hello line to port 0 (for checking a backend),
 * and with echo=1 reads one line there and writes it back in upper case.
 *
 * Bulk data is a pattern the harness knows too: byte k is (k ^ k >> 8) & 0xff.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "console.h"
#include "virtio.h"

#define VIRTIO_VENDOR      0x1af4
#define VIRTIO_CONSOLE_ID  0x1043

#define VIRTIO_CONSOLE_F_SIZE        0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define DEVICE_READY  0
#define DEVICE_ADD    1
#define PORT_READY    3
#define CONSOLE_PORT  4
#define PORT_OPEN     6
#define PORT_NAME     7

#define CFG_MAX_NR_PORTS 4
#define CFG_EMERG_WR     8

#define BAD_ID        0xffffffffu

#define CON_PORTS     4        /* ports the probe sets up queues for */
#define CON_QSIZE     16
#define CTRL_BUFS     8
#define CTRL_BUF_LEN  128
#define RX_BUFS       4
#define RX_BUF_LEN    64
#define IN_MAX        256
#define NAME_MAX      64
#define MAX_EXPECTED  (CON_PORTS - 1)

/* Waits for the host harness (QEMU spends ~4 s in SeaBIOS, so the
 * harness is long connected by then; under vivarium-vmm it may not be) */
#define HOST_MS       20000
/* Waits for the device alone */
#define DEVICE_MS     2000

#define BULK_OUT      (256 * 1024)   /* more than a unix socket buffers */
#define BULK_IN       (64 * 1024)    /* more than the VMM holds per port */
#define HELLO         "vivarium-probe: hello from port 0\n"

struct port
{
  unsigned n_added, n_console;
  bool named;
  char name[NAME_MAX];
  int host_open;            /* the last PORT_OPEN value from the device; -1: none */
  unsigned n_open[2];
  char in[IN_MAX];          /* input not yet taken as lines */
  unsigned in_len;
};

static struct virtio_dev dev;
static struct pci_bar bars[6];
static bool multiport;
static uint32_t max_nr_ports;
static unsigned n_ports;        /* ports with queues */
static struct port ports[CON_PORTS];
static unsigned n_stray;        /* control messages for ports beyond ours, or of other kinds */
static unsigned n_short;        /* control messages shorter than 8 bytes */

static char expected[MAX_EXPECTED][NAME_MAX];
static unsigned n_expected;

static uint8_t ctrl_bufs[CTRL_BUFS][CTRL_BUF_LEN] __attribute__ ((aligned (16)));
static uint8_t rx_bufs[CON_PORTS][RX_BUFS][RX_BUF_LEN] __attribute__ ((aligned (16)));
static uint8_t tx_buf[4096] __attribute__ ((aligned (16)));

static unsigned rx_queue (unsigned port) { return port == 0 ? 0 : 2 * port + 2; }
static unsigned tx_queue (unsigned port) { return rx_queue (port) + 1; }

static bool
str_eq (const char *a, const char *b)
{
  size_t n = strlen (a);

  return n == strlen (b) && memcmp (a, b, n) == 0;
}

static bool
starts_with (const char *s, const char *prefix)
{
  return strncmp (s, prefix, strlen (prefix)) == 0;
}

/* Whether the space-separated words of line include word */
static bool
has_word (const char *line, const char *word)
{
  size_t n = strlen (word);

  while (*line)
    {
      while (*line == ' ')
        line++;
      if (strncmp (line, word, n) == 0 && (line[n] == ' ' || line[n] == '\0'))
        return true;
      while (*line && *line != ' ')
        line++;
    }
  return false;
}

static void
upper (char *s)
{
  for (; *s; s++)
    if (*s >= 'a' && *s <= 'z')
      *s = (char) (*s - 'a' + 'A');
}

static const char *
result_name (enum vq_result r)
{
  return r == VQ_USED ? "used" : r == VQ_NEEDS_RESET ? "NEEDS_RESET"
         : r == VQ_BAD_ID ? "wrong used id" : "timeout";
}

/* --- receiving: control messages and port input, all by polling ------------------ */

static void
post_rx (struct vq *q, uint16_t i, uint8_t *buf, uint32_t len)
{
  virtq_set_desc (q, i, (uint64_t) buf, len, VIRTQ_DESC_F_WRITE, 0);
  virtq_publish (q, i);
}

static void
handle_ctrl (const uint8_t *b, uint32_t len)
{
  uint32_t id;
  uint16_t event, value;
  struct port *p;

  if (len < 8)
    {
      n_short++;
      tap_diag ("console: a control message of %u bytes", len);
      return;
    }
  memcpy (&id, b, 4);
  memcpy (&event, b + 4, 2);
  memcpy (&value, b + 6, 2);
  tap_diag ("console: control event %u for port %u, value %u (%u bytes)", event, id, value, len);
  if (id >= CON_PORTS)
    {
      n_stray++;
      return;
    }
  p = &ports[id];
  switch (event)
    {
    case DEVICE_ADD:
      p->n_added++;
      break;
    case CONSOLE_PORT:
      p->n_console++;
      break;
    case PORT_NAME:
      {
        uint32_t n = len - 8;

        if (n > NAME_MAX - 1)
          n = NAME_MAX - 1;
        memcpy (p->name, b + 8, n);
        /* The spec sends no NUL; QEMU sends one */
        while (n > 0 && p->name[n - 1] == '\0')
          n--;
        p->name[n] = '\0';
        p->named = true;
        break;
      }
    case PORT_OPEN:
      p->host_open = value != 0;
      p->n_open[value != 0]++;
      break;
    default:
      n_stray++;
      break;
    }
}

void
con_poll (void)
{
  uint32_t id, len;

  if (multiport)
    while (virtq_next_used (&dev.vq[2], &id, &len))
      {
        if (id >= CTRL_BUFS)
          {
            tap_diag ("console: control receive element names descriptor %u", id);
            continue;
          }
        handle_ctrl (ctrl_bufs[id], len < CTRL_BUF_LEN ? len : CTRL_BUF_LEN);
        post_rx (&dev.vq[2], (uint16_t) id, ctrl_bufs[id], CTRL_BUF_LEN);
      }
  for (unsigned i = 0; i < n_ports; i++)
    {
      struct vq *q = &dev.vq[rx_queue (i)];
      struct port *p = &ports[i];

      /* Only as much as in[] holds: the device refills a buffer as soon
       * as it is posted again, so this is not bounded by RX_BUFS */
      while (p->in_len + RX_BUF_LEN <= IN_MAX && virtq_next_used (q, &id, &len))
        {
          if (id >= RX_BUFS)
            {
              tap_diag ("console: port %u receive element names descriptor %u", i, id);
              continue;
            }
          if (len > RX_BUF_LEN)
            len = RX_BUF_LEN;
          memcpy (p->in + p->in_len, rx_bufs[i][id], len);
          p->in_len += len;
          post_rx (q, (uint16_t) id, rx_bufs[i][id], RX_BUF_LEN);
        }
    }
}

/* Takes a whole line (without "\n") of port input, if there is one */
static bool
take_line (struct port *p, char *out, size_t size)
{
  for (unsigned i = 0; i < p->in_len; i++)
    if (p->in[i] == '\n')
      {
        unsigned n = i < size - 1 ? i : (unsigned) size - 1;

        memcpy (out, p->in, n);
        out[n] = '\0';
        memmove (p->in, p->in + i + 1, p->in_len - i - 1);
        p->in_len -= i + 1;
        return true;
      }
  return false;
}

static bool
read_line (unsigned port, char *out, size_t size, uint64_t ms)
{
  uint64_t deadline = deadline_after_ms (ms);

  out[0] = '\0';
  for (;;)
    {
      con_poll ();
      if (take_line (&ports[port], out, size))
        return true;
      if (deadline_passed (deadline))
        return false;
      delay_us (200);
    }
}

static uint8_t
pattern (uint32_t k)
{
  return (uint8_t) (k ^ k >> 8);
}

/* Reads n raw bytes of port input, checking them against the pattern;
 * returns how many came (the first *bad is the offset of a wrong one) */
static uint32_t
read_pattern (unsigned port, uint32_t n, uint64_t ms, uint32_t *bad)
{
  struct port *p = &ports[port];
  uint64_t deadline = deadline_after_ms (ms);
  uint32_t k = 0;

  *bad = n;
  while (k < n)
    {
      unsigned take;

      con_poll ();
      take = p->in_len < n - k ? p->in_len : n - k;
      for (unsigned i = 0; i < take; i++, k++)
        if ((uint8_t) p->in[i] != pattern (k) && *bad == n)
          *bad = k;
      memmove (p->in, p->in + take, p->in_len - take);
      p->in_len -= take;
      if (take)
        {
          deadline = deadline_after_ms (ms);
          continue;
        }
      if (deadline_passed (deadline))
        break;
      delay_us (100);
    }
  return k;
}

/* Polls until the device has sent what cond looks for */
static bool
wait_for (bool (*cond) (unsigned), unsigned arg, uint64_t ms)
{
  uint64_t deadline = deadline_after_ms (ms);

  for (;;)
    {
      con_poll ();
      if (cond (arg))
        return true;
      if (deadline_passed (deadline))
        return false;
      delay_us (200);
    }
}

/* --- sending ----------------------------------------------------------------------- */

static enum vq_result
send_buf (struct vq *q, const void *data, uint32_t len)
{
  uint32_t used;

  memcpy (tx_buf, data, len);
  virtq_set_desc (q, 0, (uint64_t) tx_buf, len, 0, 0);
  return virtq_submit_wait (q, 0, DEVICE_MS, &used);
}

static enum vq_result
ctrl_send (uint32_t id, uint16_t event, uint16_t value)
{
  uint8_t m[8];

  memcpy (m, &id, 4);
  memcpy (m + 4, &event, 2);
  memcpy (m + 6, &value, 2);
  return send_buf (&dev.vq[3], m, sizeof m);
}

static enum vq_result
port_write (unsigned port, const char *s)
{
  return send_buf (&dev.vq[tx_queue (port)], s, strlen (s));
}

/* n pattern bytes in 4 KiB buffers; a buffer may wait for the host to
 * read (the device holds it), so each gets HOST_MS */
static uint32_t
port_write_pattern (unsigned port, uint32_t n)
{
  struct vq *q = &dev.vq[tx_queue (port)];
  uint32_t k = 0, used;

  while (k < n)
    {
      uint32_t len = n - k < sizeof tx_buf ? n - k : sizeof tx_buf;

      for (uint32_t i = 0; i < len; i++)
        tx_buf[i] = pattern (k + i);
      virtq_set_desc (q, 0, (uint64_t) tx_buf, len, 0, 0);
      if (virtq_submit_wait (q, 0, HOST_MS, &used) != VQ_USED)
        break;
      k += len;
    }
  return k;
}

/* --- setting up ------------------------------------------------------------------ */

static bool
con_setup (bool want_multiport)
{
  uint64_t extra = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE;

  if (want_multiport)
    extra |= 1ull << VIRTIO_CONSOLE_F_MULTIPORT;
  multiport = false;
  n_ports = 0;
  if (!virtio_begin (&dev, extra, false))
    return false;
  multiport = virtio_has (&dev, VIRTIO_CONSOLE_F_MULTIPORT);
  max_nr_ports = multiport ? virtio_cfg_read32 (&dev, CFG_MAX_NR_PORTS) : 1;
  n_ports = max_nr_ports < CON_PORTS ? max_nr_ports : CON_PORTS;
  tap_diag ("console: features 0x%lx, max_nr_ports %u, num_queues %u", dev.features,
            max_nr_ports, dev.num_queues);
  for (unsigned i = 0; i < n_ports; i++)
    if (!virtio_setup_queue (&dev, (uint16_t) rx_queue (i), CON_QSIZE, VIRTIO_MSI_NO_VECTOR,
                             false)
        || !virtio_setup_queue (&dev, (uint16_t) tx_queue (i), CON_QSIZE, VIRTIO_MSI_NO_VECTOR,
                                false))
      return false;
  if (multiport
      && (!virtio_setup_queue (&dev, 2, CON_QSIZE, VIRTIO_MSI_NO_VECTOR, false)
          || !virtio_setup_queue (&dev, 3, CON_QSIZE, VIRTIO_MSI_NO_VECTOR, false)))
    return false;
  if (!virtio_driver_ok (&dev, false))
    return false;

  memset (ports, 0, sizeof ports);
  for (unsigned i = 0; i < CON_PORTS; i++)
    ports[i].host_open = -1;
  n_stray = n_short = 0;
  if (multiport)
    for (uint16_t i = 0; i < CTRL_BUFS; i++)
      post_rx (&dev.vq[2], i, ctrl_bufs[i], CTRL_BUF_LEN);
  for (unsigned p = 0; p < n_ports; p++)
    for (uint16_t i = 0; i < RX_BUFS; i++)
      post_rx (&dev.vq[rx_queue (p)], i, rx_bufs[p][i], RX_BUF_LEN);
  return true;
}

/* Splits ports=A,B,... into expected[] */
static void
parse_expected (void)
{
  char list[MAX_EXPECTED * NAME_MAX];
  size_t len = cmdline_string ("ports", list, sizeof list);
  size_t start = 0;

  n_expected = 0;
  for (size_t i = 0; i <= len && n_expected < MAX_EXPECTED; i++)
    if (i == len || list[i] == ',')
      {
        size_t n = i - start;

        if (n > 0 && n < NAME_MAX)
          {
            memcpy (expected[n_expected], list + start, n);
            expected[n_expected][n] = '\0';
            n_expected++;
          }
        start = i + 1;
      }
}

static int
port_named (const char *name)
{
  for (unsigned i = 1; i < n_ports; i++)
    if (ports[i].named && str_eq (ports[i].name, name))
      return (int) i;
  return -1;
}

/* --- conditions for wait_for --------------------------------------------------------- */

static bool
all_added (unsigned n)
{
  for (unsigned i = 0; i < n && i < CON_PORTS; i++)
    if (!ports[i].n_added)
      return false;
  return true;
}

static bool
console_and_names (unsigned n)
{
  unsigned named = 0;

  for (unsigned i = 1; i < n_ports; i++)
    named += ports[i].named;
  return ports[0].n_console > 0 && named >= n;
}

static bool
console_count_above (unsigned n)
{
  return ports[0].n_console > n;
}

static bool
host_open_is (unsigned port_and_value)
{
  return ports[port_and_value >> 1].host_open == (int) (port_and_value & 1);
}

/* --- the tests ---------------------------------------------------------------------- */

static void
test_handshake (void)
{
  unsigned want = 1 + n_expected;
  unsigned wrong = 0;
  char ids[64];
  size_t n = 0;
  enum vq_result r;

  r = ctrl_send (BAD_ID, DEVICE_READY, 1);
  wait_for (all_added, want, DEVICE_MS);
  delay_us (100000);   /* and nothing more after them */
  con_poll ();
  ids[0] = '\0';
  for (unsigned i = 0; i < CON_PORTS; i++)
    if (ports[i].n_added)
      {
        n += snprintf (ids + n, sizeof ids - n, " %u", i);
        if (i >= max_nr_ports || ports[i].n_added > 1)
          wrong++;
      }
  tap_ok (r == VQ_USED && all_added (want) && wrong == 0 && n_stray == 0,
          "console: DEVICE_READY (%s) brings PORT_ADD for ports%s (0-%u expected; each once, "
          "none past max_nr_ports)", result_name (r), ids, want - 1);

  /* PORT_READY for each port, as Linux does once it set the port up */
  for (unsigned i = 0; i < n_ports; i++)
    if (ports[i].n_added)
      ctrl_send (i, PORT_READY, 1);
  wait_for (console_and_names, n_expected, DEVICE_MS);
  delay_us (100000);
  con_poll ();
  wrong = 0;
  for (unsigned i = 1; i < CON_PORTS; i++)
    wrong += ports[i].n_console > 0;
  tap_ok (ports[0].n_console == 1 && wrong == 0,
          "console: PORT_READY brings CONSOLE_PORT for port 0 and no other port");

  /* §5.3.6.2: the driver answers CONSOLE_PORT with PORT_OPEN (1); the
   * named ports are opened as an application would open /dev/vportNpM */
  if (ports[0].n_console)
    ctrl_send (0, PORT_OPEN, 1);
  for (unsigned i = 1; i < n_ports; i++)
    if (ports[i].named)
      ctrl_send (i, PORT_OPEN, 1);

  for (unsigned e = 0; e < n_expected; e++)
    {
      int id = port_named (expected[e]);

      tap_ok (id > 0, "console: PORT_NAME names port %d \"%s\"", id, expected[e]);
    }

  /* The harness connects to the first named port's socket only later */
  wrong = 0;
  for (unsigned i = 1; i < n_ports; i++)
    wrong += ports[i].host_open == 1;
  tap_ok (wrong == 0, "console: no PORT_OPEN (1) from the host for named ports with nothing "
          "connected (%u)", wrong);
}

static void
test_port0_io (void)
{
  char line[128], echo[128];
  bool got;
  enum vq_result r1 = VQ_TIMEOUT, r2 = VQ_TIMEOUT;

  got = read_line (0, line, sizeof line, HOST_MS);
  tap_ok (got && str_eq (line, "ping console"),
          "console: port 0 input: the host's line reached the guest (\"%s\")", line);

  snprintf (echo, sizeof echo, "%s\n", got ? line : "nothing");
  upper (echo);
  r1 = port_write (0, echo);
  if (virtio_has (&dev, VIRTIO_CONSOLE_F_EMERG_WRITE))
    for (const char *c = "emerg\n"; *c; c++)
      virtio_cfg_write32 (&dev, CFG_EMERG_WR, (uint8_t) *c);
  r2 = port_write (0, HELLO);
  tap_ok (r1 == VQ_USED && r2 == VQ_USED,
          "console: port 0 output: the transmit buffers come back used (%s, %s)",
          result_name (r1), result_name (r2));

  got = read_line (0, line, sizeof line, HOST_MS);
  if (!got)
    tap_diag ("console: no verdict from the host on port 0");
  else
    tap_diag ("console: host says \"%s\"", line);
  got = got && starts_with (line, "verdict ");
  tap_ok (got && has_word (line, "echo=ok"),
          "console: port 0 output: the host received the echo \"%s\"", "PING CONSOLE");
  tap_ok (got && has_word (line, "line=ok"),
          "console: port 0 output: the host received the known line");
  if (virtio_has (&dev, VIRTIO_CONSOLE_F_EMERG_WRITE))
    tap_ok (got && has_word (line, "emerg=ok"),
            "console: emerg_wr: the host received the characters written to it");
  else
    tap_skip ("VIRTIO_CONSOLE_F_EMERG_WRITE not offered", "console: emerg_wr");
}

static void
test_named_io (void)
{
  const char *name = expected[0];
  int id = port_named (name);
  char line[128], want[128], echo[128];
  bool got, open;
  enum vq_result r;
  uint32_t n, bad = 0;

  if (id < 0)
    {
      tap_ok (false, "console: port \"%s\" not found; its input and output not tested", name);
      return;
    }
  open = wait_for (host_open_is, (unsigned) id << 1 | 1, HOST_MS);
  tap_ok (open, "console: PORT_OPEN (1) for \"%s\" when the host connected to its socket", name);

  snprintf (want, sizeof want, "ping %s", name);
  got = read_line ((unsigned) id, line, sizeof line, HOST_MS);
  tap_ok (got && str_eq (line, want),
          "console: \"%s\" input: the host's line reached the guest (\"%s\")", name, line);

  snprintf (echo, sizeof echo, "%s\n", got ? line : "nothing");
  upper (echo);
  r = port_write ((unsigned) id, echo);
  got = read_line ((unsigned) id, line, sizeof line, HOST_MS);
  tap_ok (r == VQ_USED && got && starts_with (line, "verdict ") && has_word (line, "echo=ok"),
          "console: \"%s\" output: the host received the echo (%s; host says \"%s\")", name,
          result_name (r), line);

  /* Guest to host, more than the socket holds: the host reads late, so
   * the device must keep the guest's buffers until it can write them */
  snprintf (want, sizeof want, "bulk out %u\n", BULK_OUT);
  r = port_write ((unsigned) id, want);
  n = r == VQ_USED ? port_write_pattern ((unsigned) id, BULK_OUT) : 0;
  got = read_line ((unsigned) id, line, sizeof line, HOST_MS);
  tap_ok (n == BULK_OUT && got && has_word (line, "bulk=ok"),
          "console: \"%s\" output: %u KiB to a host that reads late arrive whole (%u bytes "
          "sent; host says \"%s\")", name, BULK_OUT / 1024, n, line);

  /* Host to guest, more than the VMM holds for a port: the guest drains
   * it through its few small buffers */
  snprintf (want, sizeof want, "bulk in %u\n", BULK_IN);
  r = port_write ((unsigned) id, want);
  n = r == VQ_USED ? read_pattern ((unsigned) id, BULK_IN, HOST_MS, &bad) : 0;
  tap_ok (n == BULK_IN && bad == BULK_IN,
          "console: \"%s\" input: %u KiB from the host arrive whole through %u-byte buffers "
          "(%u bytes, first wrong byte at %u)", name, BULK_IN / 1024, RX_BUF_LEN, n, bad);

  /* The harness disconnects when it sees this */
  port_write ((unsigned) id, "bye\n");
  tap_ok (wait_for (host_open_is, (unsigned) id << 1, HOST_MS),
          "console: PORT_OPEN (0) for \"%s\" when the host disconnected", name);
}

static void
test_unconnected_ports (void)
{
  for (unsigned e = 1; e < n_expected; e++)
    {
      int id = port_named (expected[e]);
      enum vq_result r = id > 0 ? port_write ((unsigned) id, "nobody is there\n") : VQ_TIMEOUT;

      con_poll ();
      tap_ok (id > 0 && r == VQ_USED && ports[id].host_open != 1,
              "console: \"%s\" (nothing on the host side): never opened by the host, and a "
              "write comes back used (%s)", expected[e], result_name (r));
    }
}

static void
test_malformed_control (void)
{
  static const uint8_t truncated[4] = { 0, 0, 0, 0 };
  enum vq_result r[5];
  unsigned before, n_used = 0;
  uint8_t status;
  bool answered;

  r[0] = ctrl_send (99, PORT_READY, 1);                /* no such port */
  r[1] = send_buf (&dev.vq[3], truncated, sizeof truncated);
  r[2] = ctrl_send (BAD_ID, PORT_OPEN, 1);
  r[3] = ctrl_send (0, 0x7777, 0);                     /* no such event */
  r[4] = ctrl_send (1, DEVICE_ADD, 1);                 /* the device's to send */
  for (unsigned i = 0; i < 5; i++)
    n_used += r[i] == VQ_USED;
  status = virtio_status (&dev);
  tap_ok (n_used == 5 && !(status & VIRTIO_STATUS_NEEDS_RESET),
          "console: malformed control messages (PORT_READY for port 99, 4 bytes, PORT_OPEN for "
          "port 0x%x, event 0x7777, DEVICE_ADD from the driver): %u of 5 come back used, "
          "status 0x%02x", BAD_ID, n_used, status);

  con_poll ();
  before = ports[0].n_console;
  ctrl_send (0, PORT_READY, 1);
  answered = wait_for (console_count_above, before, DEVICE_MS);
  delay_us (50000);
  con_poll ();
  tap_ok (answered && n_stray == 0 && n_short == 0,
          "console: the device still answers (PORT_READY for port 0 again brings CONSOLE_PORT), "
          "and sent nothing about other ports (%u stray, %u short messages)", n_stray, n_short);
}

static void
test_single_port (void)
{
  char line[128] = "";
  bool ok = con_setup (false) && !multiport;
  enum vq_result r = ok ? port_write (0, "single port hello\n") : VQ_TIMEOUT;
  bool got = ok && read_line (0, line, sizeof line, HOST_MS);

  tap_ok (ok && r == VQ_USED && got && starts_with (line, "verdict ")
          && has_word (line, "single=ok"),
          "console: without MULTIPORT, port 0 on queues 0 and 1 carries output and input "
          "(%s; host says \"%s\")", result_name (r), line);
  virtio_reset (&dev);
}

/* Finds the device, sizes its BARs and reads its capabilities */
static const struct pci_dev *
con_find (const struct pci *pci, bool *ok)
{
  const struct pci_dev *d = pci_find (pci, VIRTIO_VENDOR, VIRTIO_CONSOLE_ID);

  *ok = false;
  if (!d)
    return NULL;
  for (unsigned i = 0; i < 6;)
    {
      bool restored;
      unsigned used = pci_bar_size (d, i, &bars[i], &restored);

      if (bars[i].present && !bars[i].io)
        map_phys (bars[i].base, bars[i].size);
      i += used;
    }
  *ok = virtio_find_caps (&dev, d, bars, false) && dev.device.addr;
  return d;
}

/* --- the port plumbing for others (agent.c) ---------------------------------------- */

static bool
any_added (unsigned unused)
{
  (void) unused;
  for (unsigned i = 0; i < CON_PORTS; i++)
    if (ports[i].n_added)
      return true;
  return false;
}

static bool
added_named (unsigned unused)
{
  (void) unused;
  for (unsigned i = 1; i < CON_PORTS; i++)
    if (ports[i].n_added && !ports[i].named)
      return false;
  return true;
}

bool
con_attach (const struct pci *pci)
{
  bool ok;

  if (!con_find (pci, &ok) || !ok || !con_setup (true) || !multiport)
    return false;
  ctrl_send (BAD_ID, DEVICE_READY, 1);
  wait_for (any_added, 0, DEVICE_MS);
  delay_us (50000);   /* the rest of the PORT_ADDs */
  con_poll ();
  for (unsigned i = 0; i < n_ports; i++)
    if (ports[i].n_added)
      ctrl_send (i, PORT_READY, 1);
  wait_for (added_named, 0, DEVICE_MS);
  if (ports[0].n_console)
    ctrl_send (0, PORT_OPEN, 1);
  return true;
}

int
con_find_port (const char *name)
{
  return port_named (name);
}

bool
con_open_port (unsigned port)
{
  return port < n_ports && ctrl_send (port, PORT_OPEN, 1) == VQ_USED;
}

int
con_host_open (unsigned port)
{
  return port < n_ports ? ports[port].host_open : -1;
}

size_t
con_take (unsigned port, void *buf, size_t max)
{
  struct port *p;
  size_t n;

  if (port >= n_ports)
    return 0;
  p = &ports[port];
  n = p->in_len < max ? p->in_len : max;
  memcpy (buf, p->in, n);
  memmove (p->in, p->in + n, p->in_len - n);
  p->in_len -= (unsigned) n;
  return n;
}

bool
con_write (unsigned port, const void *data, uint32_t len)
{
  if (port >= n_ports || len > sizeof tx_buf)
    return false;
  return send_buf (&dev.vq[tx_queue (port)], data, len) == VQ_USED;
}

void
test_console (const struct pci *pci)
{
  const struct pci_dev *d;
  bool ok;

  parse_expected ();
  d = con_find (pci, &ok);
  if (!d)
    {
      if (n_expected)
        tap_ok (false, "console: virtio-console (%04x:%04x) present, as ports= expects",
                VIRTIO_VENDOR, VIRTIO_CONSOLE_ID);
      else
        tap_skip ("no virtio-console device", "console: multiport, ports, input and output");
      return;
    }
  ok = ok && con_setup (true);
  tap_ok (ok && multiport && max_nr_ports >= 1 + n_expected,
          "console: virtio-console at %02x:%02x.%u: MULTIPORT negotiated, max_nr_ports %u "
          "(at least %u), %u ports with queues, DRIVER_OK", d->bus, d->dev, d->fn, max_nr_ports,
          1 + n_expected, n_ports);
  if (!ok || !multiport)
    return;

  test_handshake ();
  if (!n_expected)
    {
      /* Nobody on the host side to talk to: a line for whatever the
       * backend is (run-console.sh checks stdio and a file with it) */
      enum vq_result r = port_write (0, HELLO);
      char line[128], echo[128];

      tap_ok (r == VQ_USED, "console: port 0 output: the hello line comes back used (%s)",
              result_name (r));
      if (cmdline_number ("echo", 0))
        {
          /* One line of input back in upper case (stdin, for one) */
          bool got = read_line (0, line, sizeof line, HOST_MS);

          snprintf (echo, sizeof echo, "%s\n", line);
          upper (echo);
          r = got ? port_write (0, echo) : VQ_TIMEOUT;
          tap_ok (got && r == VQ_USED, "console: port 0 input: a line arrived (\"%s\") and "
                  "its echo came back used (%s)", line, result_name (r));
        }
      virtio_reset (&dev);
      return;
    }
  test_port0_io ();
  test_named_io ();
  test_unconnected_ports ();
  test_malformed_control ();
  test_single_port ();
}
