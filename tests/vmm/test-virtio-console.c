/* test-virtio-console.c: virtio-console requests on fake queues
 *
 * The device runs as in a VM (the virtio-pci transport on an MMIO bus, its
 * backends on a running event loop), over fake guest RAM and without
 * /dev/kvm (vmm-test.h). The test plays the guest's driver on the queues
 * and the host's side on the backends: unix sockets it connects to, a
 * file, nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "viv-bytes.h"
#include "virtio/console.h"
#include "vmm-test.h"

#define QUEUE_SIZE      64u
#define TIMEOUT_MS      10000u
#define N_PORTS         4u              /* port 0 and three named ones */
#define N_QUEUES        (2 * (N_PORTS + 1))

/* virtio 1.2, 5.3 */
#define F_SIZE          0
#define F_MULTIPORT     1
#define F_EMERG_WRITE   2
#define DEVICE_READY    0
#define DEVICE_ADD      1
#define PORT_READY      3
#define CONSOLE_PORT    4
#define PORT_OPEN       6
#define PORT_NAME       7
#define Q_CTRL_RX       2
#define Q_CTRL_TX       3
#define CTRL_BUF        256u

/* Port 0 and org.test.one on sockets, org.test.log on a file,
 * org.test.none on nothing */
enum { PORT_SOCKET = 1, PORT_FILE = 2, PORT_NONE = 3 };

struct fx {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_virtio_console *con;
  char *dir;
  char *sock[2];                /* port 0's and port 1's */
  char *file;
  int log_fd;
  /* the buffers given on each queue the device writes, by head */
  uint64_t rx_gpa[N_QUEUES][QUEUE_SIZE];
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

static void
fx_make (struct fx *f)
{
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  f->dir = g_dir_make_tmp ("test-virtio-console-XXXXXX", &error);
  g_assert_no_error (error);
  f->sock[0] = g_build_filename (f->dir, "console.sock", NULL);
  f->sock[1] = g_build_filename (f->dir, "one.sock", NULL);
  f->file = g_build_filename (f->dir, "log.txt", NULL);
  f->log_fd = vmm_test_log_capture ();
  vmm_test_virtio_init (&f->t, &f->env);
}

static struct vmm_console_config
full_config (struct fx *f)
{
  struct vmm_console_config config = {
    .console = { .kind = VMM_CHARDEV_SOCKET, .path = f->sock[0] },
    .n_ports = 3,
    .ports = {
      { "org.test.one", { .kind = VMM_CHARDEV_SOCKET, .path = f->sock[1] } },
      { "org.test.log", { .kind = VMM_CHARDEV_FILE, .path = f->file } },
      { "org.test.none", { .kind = VMM_CHARDEV_NONE, .path = NULL } },
    },
  };

  return config;
}

#define ALL_FEATURES      (~0ull)
#define ALL_BUT_EVENT_IDX (~(1ull << VIRTIO_F_RING_EVENT_IDX))

/* Creates the device with the four ports; the driver takes those of the
 * features offered that are in WANT. */
static void
fx_init_config (struct fx *f, uint64_t want, const struct vmm_console_config *config)
{
  g_autoptr (GError) error = NULL;
  uint64_t features;

  f->con = vmm_virtio_console_new (&f->env, config, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&f->t, vmm_virtio_console_dev (f->con));
  features = vmm_test_virtio_device_features (&f->t) & want;
  g_assert_cmpuint (vmm_test_virtio_setup (&f->t, features, N_QUEUES, QUEUE_SIZE)
                    & VIRTIO_STATUS_DRIVER_OK, !=, 0);
}

static void
fx_init (struct fx *f, uint64_t want)
{
  struct vmm_console_config config;

  fx_make (f);
  config = full_config (f);
  fx_init_config (f, want, &config);
}

static void
fx_clear (struct fx *f)
{
  vmm_test_virtio_stop (&f->t);
  vmm_virtio_console_free (f->con);
  vmm_test_virtio_clear (&f->t);
  vmm_test_log_release (f->log_fd);
  g_unlink (f->file);
  g_rmdir (f->dir);
  g_free (f->sock[0]);
  g_free (f->sock[1]);
  g_free (f->file);
  g_free (f->dir);
}

/* ---- the guest's side --------------------------------------------------------------- */

/* Gives queue Q (one the device writes) N buffers of LEN bytes. */
static void
give (struct fx *f, unsigned q, unsigned n, uint32_t len)
{
  struct vmm_test_vq *vq = &f->t.vq[q];

  for (unsigned i = 0; i < n; i++)
    {
      struct vmm_test_buf b = { vmm_test_vq_copy (vq, NULL, len), len, true };
      uint16_t head = vmm_test_vq_add_bufs (vq, &b, 1);

      f->rx_gpa[q][head] = b.gpa;
    }
  vmm_test_virtio_kick (&f->t, q);
}

/* Waits for the device to fill a buffer of queue Q; returns its bytes and
 * *LEN their number. */
static const uint8_t *
take (struct fx *f, unsigned q, uint32_t *len)
{
  uint32_t id;

  if (!vmm_test_vq_wait_used (&f->t.vq[q], &id, len, TIMEOUT_MS))
    g_error ("nothing on queue %u in %u ms", q, TIMEOUT_MS);
  g_assert_cmpuint (id, <, QUEUE_SIZE);
  return vmm_test_ptr (&f->t.ram.mem, f->rx_gpa[q][id], *len);
}

/* Queues LEN bytes of DATA on queue Q (one the device reads) and kicks;
 * the used entry is not waited for. */
static uint16_t
put (struct fx *f, unsigned q, const void *data, uint32_t len)
{
  struct vmm_test_vq *vq = &f->t.vq[q];
  struct vmm_test_buf b = { vmm_test_vq_copy (vq, data, len), len, false };
  uint16_t head = vmm_test_vq_add_bufs (vq, &b, 1);

  vmm_test_virtio_kick (&f->t, q);
  return head;
}

/* Waits until the device gave back chain HEAD of queue Q, having written
 * nothing into it. */
static void
put_done (struct fx *f, unsigned q, uint16_t head)
{
  uint32_t id, len;

  if (!vmm_test_vq_wait_used (&f->t.vq[q], &id, &len, TIMEOUT_MS))
    g_error ("queue %u: chain %u not given back in %u ms", q, head, TIMEOUT_MS);
  g_assert_cmpuint (id, ==, head);
  g_assert_cmpuint (len, ==, 0);
}

/* A control message from the driver, answered */
static void
ctrl_out (struct fx *f, uint32_t id, uint16_t event, uint16_t value)
{
  uint8_t msg[8];

  viv_put_le32 (msg, id);
  viv_put_le16 (msg + 4, event);
  viv_put_le16 (msg + 6, value);
  put_done (f, Q_CTRL_TX, put (f, Q_CTRL_TX, msg, sizeof msg));
}

/* The next control message from the device: checks it is EVENT for port
 * ID with VALUE, and returns the bytes after the header (a port's name). */
static char *
ctrl_in (struct fx *f, uint32_t id, uint16_t event, uint16_t value)
{
  uint32_t len;
  const uint8_t *msg = take (f, Q_CTRL_RX, &len);

  g_assert_cmpuint (len, >=, 8);
  g_assert_cmpuint (viv_get_le16 (msg + 4), ==, event);
  g_assert_cmpuint (viv_get_le32 (msg), ==, id);
  g_assert_cmpuint (viv_get_le16 (msg + 6), ==, value);
  return g_strndup ((const char *) msg + 8, len - 8);
}

static void
ctrl_none (struct fx *f)
{
  g_assert_cmpuint (vmm_test_vq_used_idx (&f->t.vq[Q_CTRL_RX]), ==, f->t.vq[Q_CTRL_RX].last_used);
}

/* The whole handshake for MULTIPORT: DEVICE_READY, then PORT_READY for
 * every port, checking the answers (no host side is connected yet except
 * the file's). */
static void
handshake (struct fx *f)
{
  give (f, Q_CTRL_RX, 16, CTRL_BUF);
  ctrl_none (f);
  ctrl_out (f, 0, DEVICE_READY, 1);
  for (unsigned i = 0; i < N_PORTS; i++)
    g_free (ctrl_in (f, i, DEVICE_ADD, 1));

  ctrl_out (f, 0, PORT_READY, 1);
  g_free (ctrl_in (f, 0, CONSOLE_PORT, 1));
  ctrl_none (f);
  {
    static const char *const names[] = { NULL, "org.test.one", "org.test.log", "org.test.none" };

    for (unsigned i = 1; i < N_PORTS; i++)
      {
        g_autofree char *name = NULL;

        ctrl_out (f, i, PORT_READY, 1);
        name = ctrl_in (f, i, PORT_NAME, 1);
        g_assert_cmpstr (name, ==, names[i]);
        /* a file is always there to write to */
        if (i == PORT_FILE)
          g_free (ctrl_in (f, i, PORT_OPEN, 1));
        ctrl_none (f);
      }
  }
}

/* ---- the host's side --------------------------------------------------------------- */

static int
client_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

/* Reads exactly LEN bytes from FD, or fails after TIMEOUT_MS. */
static void
client_read (int fd, void *data, size_t len)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000ll;
  size_t got = 0;

  while (got < len)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      ssize_t n;

      if (poll (&p, 1, 100) < 0 && errno != EINTR)
        g_error ("poll: %s", g_strerror (errno));
      if (p.revents == 0)
        {
          if (g_get_monotonic_time () > deadline)
            g_error ("%zu of %zu bytes after %u ms", got, len, TIMEOUT_MS);
          continue;
        }
      n = read (fd, (uint8_t *) data + got, len - got);
      g_assert_cmpint (n, >, 0);
      got += (size_t) n;
    }
}

static void
client_write (int fd, const void *data, size_t len)
{
  g_assert_cmpint (write (fd, data, len), ==, (ssize_t) len);
}

/* ---- tests ------------------------------------------------------------------------ */

static void
do_multiport (gconstpointer data)
{
  bool event_idx = GPOINTER_TO_INT (data);
  uint8_t buf[64];
  const uint8_t *in;
  uint32_t len;
  struct fx f;
  int c0, c1;

  fx_init (&f, event_idx ? ALL_FEATURES : ALL_BUT_EVENT_IDX);
  handshake (&f);

  /* A client comes: the port is open on the host's side. */
  c1 = client_connect (f.sock[1]);
  g_free (ctrl_in (&f, PORT_SOCKET, PORT_OPEN, 1));

  /* Input waits until the guest opens the port and gives buffers. */
  client_write (c1, "ping", 4);
  give (&f, rx_queue (PORT_SOCKET), 2, 64);
  g_usleep (50 * 1000);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[rx_queue (PORT_SOCKET)]), ==, 0);
  ctrl_out (&f, PORT_SOCKET, PORT_OPEN, 1);
  in = take (&f, rx_queue (PORT_SOCKET), &len);
  g_assert_cmpmem (in, len, "ping", 4);

  /* Output reaches the client. */
  put_done (&f, tx_queue (PORT_SOCKET), put (&f, tx_queue (PORT_SOCKET), "pong", 4));
  client_read (c1, buf, 4);
  g_assert_cmpmem (buf, 4, "pong", 4);

  /* Port 0, the console: the same. */
  c0 = client_connect (f.sock[0]);
  g_free (ctrl_in (&f, 0, PORT_OPEN, 1));
  ctrl_out (&f, 0, PORT_OPEN, 1);
  put_done (&f, tx_queue (0), put (&f, tx_queue (0), "hello, console", 14));
  client_read (c0, buf, 14);
  g_assert_cmpmem (buf, 14, "hello, console", 14);
  give (&f, rx_queue (0), 1, 64);
  client_write (c0, "typed", 5);
  in = take (&f, rx_queue (0), &len);
  g_assert_cmpmem (in, len, "typed", 5);

  /* The file port writes its file; nothing's output goes nowhere. */
  ctrl_out (&f, PORT_FILE, PORT_OPEN, 1);
  put_done (&f, tx_queue (PORT_FILE), put (&f, tx_queue (PORT_FILE), "to the file\n", 12));
  put_done (&f, tx_queue (PORT_NONE), put (&f, tx_queue (PORT_NONE), "lost", 4));
  {
    g_autofree char *text = NULL;

    g_assert_true (g_file_get_contents (f.file, &text, NULL, NULL));
    g_assert_cmpstr (text, ==, "to the file\n");
  }

  /* The client leaves: closed for the guest; a new one opens it again. */
  close (c1);
  g_free (ctrl_in (&f, PORT_SOCKET, PORT_OPEN, 0));
  c1 = client_connect (f.sock[1]);
  g_free (ctrl_in (&f, PORT_SOCKET, PORT_OPEN, 1));
  client_write (c1, "again", 5);
  in = take (&f, rx_queue (PORT_SOCKET), &len);
  g_assert_cmpmem (in, len, "again", 5);

  /* The guest closes port 0: input waits for it. */
  ctrl_out (&f, 0, PORT_OPEN, 0);
  give (&f, rx_queue (0), 1, 64);
  client_write (c0, "later", 5);
  g_usleep (50 * 1000);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[rx_queue (0)]), ==,
                    f.t.vq[rx_queue (0)].last_used);
  ctrl_out (&f, 0, PORT_OPEN, 1);
  in = take (&f, rx_queue (0), &len);
  g_assert_cmpmem (in, len, "later", 5);

  close (c0);
  close (c1);
  fx_clear (&f);
}

/* What a driver may get wrong: each is logged and ignored. */
static void
test_control_errors (void)
{
  struct fx f;
  uint8_t msg[4] = { 0 };

  fx_init (&f, ALL_BUT_EVENT_IDX);
  give (&f, Q_CTRL_RX, 8, CTRL_BUF);
  ctrl_out (&f, 0, PORT_READY, 1);
  vmm_test_log_expect (f.log_fd, "control event 3 for port 0 before DEVICE_READY; ignored");
  ctrl_none (&f);
  ctrl_out (&f, 0, DEVICE_READY, 0);
  vmm_test_log_expect (f.log_fd, "the driver failed to set up (DEVICE_READY 0)");
  ctrl_none (&f);
  ctrl_out (&f, 0, DEVICE_READY, 1);
  for (unsigned i = 0; i < N_PORTS; i++)
    g_free (ctrl_in (&f, i, DEVICE_ADD, 1));
  ctrl_out (&f, 0, DEVICE_READY, 1);
  vmm_test_log_expect (f.log_fd, "DEVICE_READY again; ignored");
  ctrl_out (&f, 7, PORT_READY, 1);
  vmm_test_log_expect (f.log_fd, "control event 3 for port 7, which does not exist; ignored");
  ctrl_out (&f, 1, CONSOLE_PORT, 1);
  vmm_test_log_expect (f.log_fd,
                       "control event 4 from the driver (port 1) is not one a driver sends");
  ctrl_out (&f, 1, PORT_READY, 0);
  vmm_test_log_expect (f.log_fd, "the driver could not set up port 1");
  put_done (&f, Q_CTRL_TX, put (&f, Q_CTRL_TX, msg, sizeof msg));
  vmm_test_log_expect (f.log_fd, "a control message of 4 bytes (less than 8); ignored");
  ctrl_none (&f);

  /* a receive buffer too short for a name gets what fits */
  {
    uint32_t id, len;
    struct vmm_test_buf b = { vmm_test_vq_copy (&f.t.vq[Q_CTRL_RX], NULL, 10), 10, true };

    /* the control receive queue holds 4 more buffers of CTRL_BUF first */
    for (unsigned i = 0; i < 4; i++)
      {
        ctrl_out (&f, 0, PORT_READY, 1);
        g_free (ctrl_in (&f, 0, CONSOLE_PORT, 1));
      }
    f.rx_gpa[Q_CTRL_RX][vmm_test_vq_add_bufs (&f.t.vq[Q_CTRL_RX], &b, 1)] = b.gpa;
    ctrl_out (&f, 1, PORT_READY, 1);
    g_assert_true (vmm_test_vq_wait_used (&f.t.vq[Q_CTRL_RX], &id, &len, TIMEOUT_MS));
    g_assert_cmpuint (len, ==, 10);
    g_assert_cmpmem (vmm_test_ptr (&f.t.ram.mem, b.gpa + 8, 2), 2, "or", 2);
    vmm_test_log_expect (f.log_fd,
                         "a control receive buffer of 10 bytes cuts a 20-byte message short");
  }
  fx_clear (&f);
}

/* Without MULTIPORT there is port 0 only, open from the start. */
static void
test_single_port (void)
{
  uint8_t buf[8];
  const uint8_t *in;
  uint32_t len;
  struct fx f;
  int c0;

  fx_init (&f, ALL_BUT_EVENT_IDX & ~(1ull << F_MULTIPORT));
  c0 = client_connect (f.sock[0]);
  give (&f, rx_queue (0), 1, 64);
  client_write (c0, "abc", 3);
  in = take (&f, rx_queue (0), &len);
  g_assert_cmpmem (in, len, "abc", 3);
  put_done (&f, tx_queue (0), put (&f, tx_queue (0), "xyz", 3));
  client_read (c0, buf, 3);
  g_assert_cmpmem (buf, 3, "xyz", 3);
  /* the control queues are not there for it */
  give (&f, Q_CTRL_RX, 1, CTRL_BUF);
  vmm_test_log_expect (f.log_fd, "queue 2 used without MULTIPORT; ignored");
  ctrl_none (&f);
  close (c0);
  fx_clear (&f);
}

/* A drain takes at most a budget of chains (issue 16); the rest are taken
 * when the device comes back to the queue by itself, without a kick:
 * transmit chains, and receive buffers for host input. */
static void
test_budget (void)
{
  struct vmm_virtio_dev *dev;
  uint8_t buf[8];
  uint32_t id, len;
  struct fx f;
  int c0;

  fx_init (&f, ALL_BUT_EVENT_IDX & ~(1ull << F_MULTIPORT));
  dev = vmm_virtio_console_dev (f.con);
  pthread_mutex_lock (&dev->lock);
  g_assert_cmpuint (virtq_drain_budget (&dev->queues[tx_queue (0)].vq), ==, QUEUE_SIZE);
  dev->queues[rx_queue (0)].vq.drain_budget = 2;
  dev->queues[tx_queue (0)].vq.drain_budget = 2;
  pthread_mutex_unlock (&dev->lock);
  c0 = client_connect (f.sock[0]);

  /* five one-byte receive buffers filled by one write from the host (which
   * also tells that the host side is connected: output before that is
   * dropped) */
  give (&f, rx_queue (0), 5, 1);
  client_write (c0, "vwxyz", 5);
  for (unsigned i = 0; i < 5; i++)
    {
      const uint8_t *in = take (&f, rx_queue (0), &len);

      g_assert_cmpuint (len, ==, 1);
      g_assert_cmpuint (in[0], ==, "vwxyz"[i]);
    }

  /* seven one-byte chains, one kick */
  for (unsigned i = 0; i < 7; i++)
    {
      struct vmm_test_buf b = { vmm_test_vq_copy (&f.t.vq[tx_queue (0)], "abcdefg" + i, 1), 1,
                                false };

      vmm_test_vq_add_bufs (&f.t.vq[tx_queue (0)], &b, 1);
    }
  vmm_test_virtio_kick (&f.t, tx_queue (0));
  client_read (c0, buf, 7);
  g_assert_cmpmem (buf, 7, "abcdefg", 7);
  for (unsigned i = 0; i < 7; i++)
    g_assert_true (vmm_test_vq_wait_used (&f.t.vq[tx_queue (0)], &id, &len, TIMEOUT_MS));
  close (c0);
  fx_clear (&f);
}

static void
test_config (void)
{
  struct fx f;
  uint8_t c;
  int c0;

  fx_init (&f, ALL_BUT_EVENT_IDX);
  g_assert_cmphex (vmm_test_virtio_device_features (&f.t) & 0xffffff, ==,
                   1u << F_SIZE | 1u << F_MULTIPORT | 1u << F_EMERG_WRITE);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000, 2), ==, 80);       /* cols */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 2, 2), ==, 25);   /* rows */
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 4, 4), ==, N_PORTS);
  g_assert_cmpuint (vmm_test_virtio_read (&f.t, 0x2000 + 8, 4), ==, 0);

  /* emerg_wr: a character to port 0 at any time */
  c0 = client_connect (f.sock[0]);
  /* the connection is taken on the loop thread: wait for it */
  give (&f, Q_CTRL_RX, 8, CTRL_BUF);
  ctrl_out (&f, 0, DEVICE_READY, 1);
  for (unsigned i = 0; i < N_PORTS; i++)
    g_free (ctrl_in (&f, i, DEVICE_ADD, 1));
  ctrl_out (&f, 0, PORT_READY, 1);
  g_free (ctrl_in (&f, 0, CONSOLE_PORT, 1));
  g_free (ctrl_in (&f, 0, PORT_OPEN, 1));
  vmm_test_virtio_write (&f.t, 0x2000 + 8, 4, 'Z' | 0x100);
  client_read (c0, &c, 1);
  g_assert_cmpuint (c, ==, 'Z');
  vmm_test_virtio_write (&f.t, 0x2000, 2, 1);
  vmm_test_log_expect (f.log_fd, "a write to read-only config offset 0");
  close (c0);
  fx_clear (&f);
}

/* A client that does not read holds the guest's output back, and a guest
 * that gives no buffers holds the host's input back; nothing is lost. */
static void
test_flow_control (void)
{
  enum { CHUNK = 32 * 1024, N_CHUNKS = 32, INPUT = 64 * 1024 };
  g_autofree uint8_t *out = g_malloc (CHUNK * N_CHUNKS);
  g_autofree uint8_t *back = g_malloc (CHUNK * N_CHUNKS);
  g_autofree uint8_t *input = g_malloc (INPUT);
  uint16_t heads[N_CHUNKS];
  size_t got = 0;
  struct fx f;
  int c1;

  fx_init (&f, ALL_BUT_EVENT_IDX);
  handshake (&f);
  c1 = client_connect (f.sock[1]);
  g_free (ctrl_in (&f, PORT_SOCKET, PORT_OPEN, 1));
  ctrl_out (&f, PORT_SOCKET, PORT_OPEN, 1);

  /* a megabyte of output: more than the socket buffers */
  for (unsigned i = 0; i < CHUNK * N_CHUNKS; i++)
    out[i] = (uint8_t) (i * 13 + i / 251);
  for (unsigned i = 0; i < N_CHUNKS; i++)
    heads[i] = put (&f, tx_queue (PORT_SOCKET), out + i * CHUNK, CHUNK);
  g_usleep (50 * 1000);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[tx_queue (PORT_SOCKET)]), <, N_CHUNKS);
  client_read (c1, back, CHUNK * N_CHUNKS);
  g_assert_cmpmem (back, CHUNK * N_CHUNKS, out, CHUNK * N_CHUNKS);
  for (unsigned i = 0; i < N_CHUNKS; i++)
    put_done (&f, tx_queue (PORT_SOCKET), heads[i]);

  /* 64 KiB of input with no buffers given, then a few at a time */
  for (unsigned i = 0; i < INPUT; i++)
    input[i] = (uint8_t) (i * 7 + 1);
  client_write (c1, input, INPUT);
  while (got < INPUT)
    {
      uint32_t len;
      const uint8_t *in;

      give (&f, rx_queue (PORT_SOCKET), 1, 4096);
      in = take (&f, rx_queue (PORT_SOCKET), &len);
      g_assert_cmpuint (len, >, 0);
      g_assert_cmpuint (got + len, <=, INPUT);
      g_assert_cmpmem (in, len, input + got, len);
      got += len;
    }
  close (c1);
  fx_clear (&f);
}

/* ---- snapshots ------------------------------------------------------------------ */

static size_t
device_state_len (struct fx *f)
{
  g_autoptr (GBytes) file = vmm_test_virtio_save (vmm_virtio_console_dev (f->con),
                                                  "virtio-console.0");
  g_autoptr (GBytes) payload = vmm_test_state_payload (file, "virtio-console.0.device");

  return g_bytes_get_size (payload);
}

/* A console whose driver finished the handshake, with a port the guest
 * opened holding host input it gave no buffers for, and two control
 * messages waiting for control buffers, is saved; restored over a copy of
 * the guest's memory (its host side new), the guest gets both. */
static void
test_state (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) file = NULL;
  struct vmm_console_config config;
  const uint8_t *in;
  struct fx a, b;
  size_t before;
  uint32_t len;
  int c1;

  fx_init (&a, ALL_BUT_EVENT_IDX);
  handshake (&a);
  c1 = client_connect (a.sock[1]);
  g_free (ctrl_in (&a, PORT_SOCKET, PORT_OPEN, 1));
  ctrl_out (&a, PORT_SOCKET, PORT_OPEN, 1);
  before = device_state_len (&a);
  client_write (c1, "waiting", 7);
  for (unsigned ms = 0; device_state_len (&a) != before + 7; ms++)
    {
      g_assert_cmpuint (ms, <, TIMEOUT_MS);
      g_usleep (1000);
    }
  close (c1);
  g_free (ctrl_in (&a, PORT_SOCKET, PORT_OPEN, 0));
  /* the control buffers used up (11 of 16 so far), then two messages wait */
  for (unsigned i = 0; i < 5; i++)
    {
      ctrl_out (&a, 0, PORT_READY, 1);
      g_free (ctrl_in (&a, 0, CONSOLE_PORT, 1));
    }
  ctrl_out (&a, 0, PORT_READY, 1);
  ctrl_out (&a, 0, PORT_READY, 1);
  ctrl_none (&a);
  file = vmm_test_virtio_save (vmm_virtio_console_dev (a.con), "virtio-console.0");

  /* the new console: new host sides, the memory as saved */
  fx_make (&b);
  vmm_test_virtio_copy_guest (&b.t, &a.t);
  memcpy (b.rx_gpa, a.rx_gpa, sizeof b.rx_gpa);
  fx_clear (&a);
  config = full_config (&b);
  b.con = vmm_virtio_console_new (&b.env, &config, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&b.t, vmm_virtio_console_dev (b.con));
  vmm_test_virtio_load (vmm_virtio_console_dev (b.con), file, "virtio-console.0");

  /* the messages that waited, then nothing */
  give (&b, Q_CTRL_RX, 4, CTRL_BUF);
  g_free (ctrl_in (&b, 0, CONSOLE_PORT, 1));
  g_free (ctrl_in (&b, 0, CONSOLE_PORT, 1));
  g_usleep (20 * 1000);
  ctrl_none (&b);
  /* the input the guest had not taken */
  give (&b, rx_queue (PORT_SOCKET), 1, 64);
  in = take (&b, rx_queue (PORT_SOCKET), &len);
  g_assert_cmpmem (in, len, "waiting", 7);
  /* the file port writes to the new file */
  put_done (&b, tx_queue (PORT_FILE), put (&b, tx_queue (PORT_FILE), "after\n", 6));
  {
    g_autofree char *text = NULL;

    g_assert_true (g_file_get_contents (b.file, &text, NULL, NULL));
    g_assert_cmpstr (text, ==, "after\n");
  }

  /* refused: cut short, another number of ports, a newer layout */
  g_clear_pointer (&file, g_bytes_unref);
  file = vmm_test_virtio_save (vmm_virtio_console_dev (b.con), "virtio-console.0");
  vmm_test_virtio_refusals (vmm_virtio_console_dev (b.con), file, "virtio-console.0",
                            "virtio-console.0.device", 0, 9);
  fx_clear (&b);
}

/* ---- a peer backend (the SPICE agent's kind) ----------------------------------- */

/* Plays display/spice.c's agent: bounded room for the guest's bytes,
 * input for the guest handed over when the backend pulls */
struct fake_peer {
  GMutex lock;
  void (*kick) (void *data);
  void *kick_data;
  GByteArray *from_guest;
  size_t room;                  /* how many more bytes write takes */
  GByteArray *to_guest;
  bool guest_open;
  unsigned opens, closes;
};

static void
fake_attach (void *data, void (*kick) (void *kick_data), void *kick_data)
{
  struct fake_peer *fp = data;

  g_mutex_lock (&fp->lock);
  fp->kick = kick;
  fp->kick_data = kick_data;
  g_mutex_unlock (&fp->lock);
}

static size_t
fake_write (void *data, const void *buf, size_t len)
{
  struct fake_peer *fp = data;
  size_t n;

  g_mutex_lock (&fp->lock);
  n = MIN (len, fp->room);
  fp->room -= n;
  g_byte_array_append (fp->from_guest, buf, (guint) n);
  g_mutex_unlock (&fp->lock);
  return n;
}

static size_t
fake_read (void *data, void *buf, size_t len)
{
  struct fake_peer *fp = data;
  size_t n;

  g_mutex_lock (&fp->lock);
  n = MIN (len, fp->to_guest->len);
  if (n > 0)
    {
      memcpy (buf, fp->to_guest->data, n);
      g_byte_array_remove_range (fp->to_guest, 0, (guint) n);
    }
  g_mutex_unlock (&fp->lock);
  return n;
}

static bool
fake_connected (void *data)
{
  (void) data;
  return true;
}

static void
fake_guest_open (void *data, bool open)
{
  struct fake_peer *fp = data;

  g_mutex_lock (&fp->lock);
  fp->guest_open = open;
  if (open)
    fp->opens++;
  else
    fp->closes++;
  g_mutex_unlock (&fp->lock);
}

static const struct vmm_chardev_peer_ops fake_peer_ops = {
  .attach = fake_attach,
  .write = fake_write,
  .read = fake_read,
  .connected = fake_connected,
  .guest_open = fake_guest_open,
};

/* Host input for the guest, and the backend told */
static void
fake_send (struct fake_peer *fp, const char *text)
{
  g_mutex_lock (&fp->lock);
  g_byte_array_append (fp->to_guest, (const guint8 *) text, (guint) strlen (text));
  g_assert_nonnull (fp->kick);
  fp->kick (fp->kick_data);
  g_mutex_unlock (&fp->lock);
}

static void
fake_set_room (struct fake_peer *fp, size_t room)
{
  g_mutex_lock (&fp->lock);
  fp->room = room;
  if (fp->kick != NULL)
    fp->kick (fp->kick_data);
  g_mutex_unlock (&fp->lock);
}

/* Waits until the backend took all of the host's input */
static void
fake_wait_taken (struct fake_peer *fp)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000ll;

  for (;;)
    {
      guint left;

      g_mutex_lock (&fp->lock);
      left = fp->to_guest->len;
      g_mutex_unlock (&fp->lock);
      if (left == 0)
        return;
      if (g_get_monotonic_time () > deadline)
        g_error ("the backend left %u bytes for %u ms", left, TIMEOUT_MS);
      g_usleep (1000);
    }
}

static void
fake_assert_from_guest (struct fake_peer *fp, const char *text)
{
  g_mutex_lock (&fp->lock);
  g_assert_cmpmem (fp->from_guest->data, fp->from_guest->len, text, strlen (text));
  g_byte_array_set_size (fp->from_guest, 0);
  g_mutex_unlock (&fp->lock);
}

/* A port backed by a peer: connected at once, bytes both ways with the
 * peer's back-pressure, the guest's open and close passed on, and input
 * held for a closed session dropped (not given to the next one) */
static void
test_peer (void)
{
  enum { PEER = 3 };
  struct fake_peer fp = { 0 };
  struct vmm_chardev_peer peer = { &fake_peer_ops, &fp };
  struct vmm_console_config config = {
    .console = { .kind = VMM_CHARDEV_NONE },
    .n_ports = 3,
    .ports = {
      { "org.test.one", { .kind = VMM_CHARDEV_NONE } },
      { "org.test.two", { .kind = VMM_CHARDEV_NONE } },
      { "com.redhat.spice.0", { .kind = VMM_CHARDEV_PEER, .peer = &peer } },
    },
  };
  const uint8_t *in;
  uint32_t len;
  uint16_t head;
  struct fx f;

  g_mutex_init (&fp.lock);
  fp.from_guest = g_byte_array_new ();
  fp.to_guest = g_byte_array_new ();
  fp.room = 1024;
  fx_make (&f);
  fx_init_config (&f, ALL_BUT_EVENT_IDX, &config);
  g_assert_nonnull (fp.kick);

  /* The handshake: the peer's port is open on the host's side */
  give (&f, Q_CTRL_RX, 16, CTRL_BUF);
  ctrl_out (&f, 0, DEVICE_READY, 1);
  for (unsigned i = 0; i < N_PORTS; i++)
    g_free (ctrl_in (&f, i, DEVICE_ADD, 1));
  ctrl_out (&f, 0, PORT_READY, 1);
  g_free (ctrl_in (&f, 0, CONSOLE_PORT, 1));
  for (unsigned i = 1; i < N_PORTS; i++)
    {
      g_autofree char *name = NULL;

      ctrl_out (&f, i, PORT_READY, 1);
      name = ctrl_in (&f, i, PORT_NAME, 1);
      g_assert_cmpstr (name, ==, config.ports[i - 1].name);
    }
  g_free (ctrl_in (&f, PEER, PORT_OPEN, 1));
  ctrl_none (&f);

  /* The guest opens the port: the peer hears it */
  g_assert_cmpuint (fp.opens, ==, 0);
  ctrl_out (&f, PEER, PORT_OPEN, 1);
  g_assert_true (fp.guest_open);
  g_assert_cmpuint (fp.opens, ==, 1);

  /* Both ways */
  put_done (&f, tx_queue (PEER), put (&f, tx_queue (PEER), "from the agent", 14));
  fake_assert_from_guest (&fp, "from the agent");
  give (&f, rx_queue (PEER), 1, 64);
  fake_send (&fp, "from spice");
  in = take (&f, rx_queue (PEER), &len);
  g_assert_cmpmem (in, len, "from spice", 10);

  /* A full peer: the chain waits, and goes on once the peer has room */
  fake_set_room (&fp, 4);
  head = put (&f, tx_queue (PEER), "abcdefgh", 8);
  g_usleep (50 * 1000);
  g_assert_cmpuint (vmm_test_vq_used_idx (&f.t.vq[tx_queue (PEER)]), ==,
                    f.t.vq[tx_queue (PEER)].last_used);
  fake_set_room (&fp, 1024);
  put_done (&f, tx_queue (PEER), head);
  fake_assert_from_guest (&fp, "abcdefgh");

  /* Input the guest has no buffers for, then the guest closes the port:
   * the peer hears it, and that input is gone with the session */
  fake_send (&fp, "stale");
  fake_wait_taken (&fp);
  ctrl_out (&f, PEER, PORT_OPEN, 0);
  g_assert_false (fp.guest_open);
  g_assert_cmpuint (fp.closes, ==, 1);
  ctrl_out (&f, PEER, PORT_OPEN, 1);
  g_assert_cmpuint (fp.opens, ==, 2);
  give (&f, rx_queue (PEER), 1, 64);
  fake_send (&fp, "fresh");
  in = take (&f, rx_queue (PEER), &len);
  g_assert_cmpmem (in, len, "fresh", 5);

  /* Freeing the device detaches the backend from the peer */
  fx_clear (&f);
  g_assert_null (fp.kick);
  g_byte_array_unref (fp.from_guest);
  g_byte_array_unref (fp.to_guest);
  g_mutex_clear (&fp.lock);
}

/* Construction refuses what cannot work, saying why. */
static void
test_config_errors (void)
{
  struct {
    const char *name;
    const char *want;
  } names[] = {
    { "a b", "invalid port name “a b” (1 to 127 printable characters, no spaces or '/')" },
    { "a/b", "invalid port name “a/b”" },
    { "", "invalid port name “”" },
    { "org.test.log", "two ports are named “org.test.log”" },
  };
  struct fx f;

  for (unsigned i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr (GError) error = NULL;
      struct vmm_console_config config;

      fx_make (&f);
      config = full_config (&f);
      config.ports[0].name = names[i].name;
      g_assert_null (vmm_virtio_console_new (&f.env, &config, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      if (strstr (error->message, names[i].want) == NULL)
        g_error ("“%s”, not “%s”", error->message, names[i].want);
      fx_clear (&f);
    }

  {
    struct vmm_console_config config = { .n_ports = VMM_CONSOLE_MAX_PORTS };
    g_autoptr (GError) error = NULL;

    fx_make (&f);
    g_assert_null (vmm_virtio_console_new (&f.env, &config, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (error->message, ==, "at most 15 named ports");
    fx_clear (&f);
  }

  /* a backend that cannot be opened: which port says the message */
  {
    struct vmm_console_config config;
    g_autoptr (GError) error = NULL;
    g_autofree char *want = NULL;

    fx_make (&f);
    config = full_config (&f);
    g_assert_true (g_file_set_contents (f.sock[1], "", 0, NULL));
    g_assert_null (vmm_virtio_console_new (&f.env, &config, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
    want = g_strdup_printf ("port org.test.one: %s exists and is not a socket", f.sock[1]);
    g_assert_cmpstr (error->message, ==, want);
    g_clear_error (&error);
    g_unlink (f.sock[1]);

    config.console.kind = VMM_CHARDEV_FILE;
    config.console.path = "/nonexistent/dir/console.txt";
    g_assert_null (vmm_virtio_console_new (&f.env, &config, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_assert_true (g_str_has_prefix (error->message, "the console: "));
    fx_clear (&f);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/virtio-console/multiport", GINT_TO_POINTER (false), do_multiport);
  g_test_add_data_func ("/virtio-console/multiport/event-idx", GINT_TO_POINTER (true),
                        do_multiport);
  g_test_add_func ("/virtio-console/control-errors", test_control_errors);
  g_test_add_func ("/virtio-console/single-port", test_single_port);
  g_test_add_func ("/virtio-console/config", test_config);
  g_test_add_func ("/virtio-console/budget", test_budget);
  g_test_add_func ("/virtio-console/flow-control", test_flow_control);
  g_test_add_func ("/virtio-console/config-errors", test_config_errors);
  g_test_add_func ("/virtio-console/peer", test_peer);
  g_test_add_func ("/virtio-console/state", test_state);

  return g_test_run ();
}
