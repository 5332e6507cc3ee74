/* fuzz-console-pci.c: a virtio-console on the PCI bus, driven as a guest drives it
 *
 * A guest reaches the PCI host and the virtio-pci transport only through
 * vCPU exits, and fills its own RAM. Here the input is that guest: each
 * input gets a fresh machine (fake guest RAM, an MMIO and a port bus, the
 * PCI host on CF8/CFC and ECAM, a virtio-console with three ports and one
 * with one port, placed by the host; KVM's part faked, as in tests/vmm)
 * and runs a list of operations, each made into the exit a vCPU would see
 * and handed to the engine's exit dispatch. The consoles' host side is
 * /dev/null and nothing, and no thread runs beside the input's, so an
 * input does the same every time. Host input to the guest (a backend's
 * reads, on the loop thread) is not covered.
 *
 * An input is a sequence of operations, each an op byte then its operands
 * (little-endian; an operation cut short by the end of the input is not
 * made):
 *
 *   op bits 0-2  kind         bit 3  write (else read)
 *   op bits 4-5  width        1, 2, 4 or 8 bytes
 *   op bit 6     which console, for BAR and notify (the second is there
 *                for BARs to collide)
 *
 *   0 ECAM      bus (1), devfn (1), register (2, below 4 KiB) [value]
 *   1 port I/O  port (1: 0xcf0 + its low 4 bits) [value]; width 8 is a
 *               string instruction: then a byte, size (bits 0-1: 1, 2, 4)
 *               and count (bits 2-7, plus 1) [count items of size]
 *   2 BAR       offset (2) from BAR0 as config space has it now [value]
 *   3 MMIO      address (8) [value]
 *   4 RAM       guest address (3), length (1), the bytes: the guest's own
 *               writes to its memory (rings, descriptors, buffers); RAM
 *               is the first MiB
 *   5 notify    queue (1): the 2-byte write of its index at its notify
 *               address, what a driver's kick is
 *   6 CF8/CFC   bus (1), devfn (1), register (1): the latch, then the data
 *               port at register's byte in it [value]
 *   7 (reserved: skipped)
 *
 * After each operation the machine must still make sense: config space
 * bits the guest may not write are as the device set them (IDs, the
 * capability list, BAR flags, the MSI-X table size), and what the MMIO bus
 * decodes for a console is exactly where its BAR says, only while the BAR
 * is mapped, and always then unless another range is in the way. A crash,
 * a sanitizer report or an input that does not end (replay's alarm,
 * libFuzzer's -timeout) is a finding as well.
 *
 * Seeds (corpus/console-pci, from console-pci-seeds.py): a driver bringing
 * the console up and sending "hello", the same with MULTIPORT and the
 * control queues, indirect tables and EVENT_IDX, more control answers than
 * wait, MSI-X vectors set up, pending and fired, BAR sizing through ECAM
 * and CF8, two BARs colliding, the pci_cfg window.
 *
 * VIVARIUM_FUZZ_LOG=1 keeps the engine's log (else /dev/null) and prints
 * what an input left behind: status, queues, vectors, where BARs are.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "dispatch.h"
#include "log.h"
#include "viv-bytes.h"
#include "virtio/console.h"
#include "vmm-test.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define RAM_SIZE      VMM_MiB (1)
#define BAR_SIZE      0x8000u    /* virtio/pci.c's one BAR */
#define NOTIFY_OFF    0x3000u
#define NOTIFY_MULT   4u
#define MAX_REP       64u
#define N_CONSOLES    2u

enum {
  OP_ECAM,
  OP_PIO,
  OP_BAR,
  OP_MMIO,
  OP_RAM,
  OP_NOTIFY,
  OP_CF8,
};

struct machine {
  struct vmm_test_virtio t;
  struct vmm_virtio_env env;
  struct vmm_bus pio;
  struct vmm_ratelimit unhandled_rl;
  struct vmm_dispatch dispatch;
  struct vmm_virtio_console *con[N_CONSOLES];
  struct vmm_virtio_dev *dev[N_CONSOLES];
  /* What the guest cannot change in the config space of the host bridge
   * and the consoles: the bits outside wmask, as they were when the device
   * was placed */
  struct {
    const struct vmm_pci_device *dev;
    uint8_t fixed[VMM_PCI_CONFIG_SIZE];
  } pci[1 + N_CONSOLES];
};

/* The input, read from the front */
struct reader {
  const uint8_t *p;
  size_t left;
};

static bool
take (struct reader *r, void *out, size_t n)
{
  if (r->left < n)
    return false;
  if (out != NULL)
    memcpy (out, r->p, n);
  r->p += n;
  r->left -= n;
  return true;
}

static bool
take_le (struct reader *r, size_t n, uint64_t *value)
{
  uint8_t b[8];

  if (!take (r, b, n))
    return false;
  *value = viv_get_le (b, (unsigned) n);
  return true;
}

/* ---- exits ------------------------------------------------------------------ */

/* The callbacks only system events and fatal exits reach: this target
 * makes neither, so one being called is a bug in the dispatch. */
static void
unexpected_call (void *opaque)
{
  (void) opaque;
  fprintf (stderr, "fuzz-console-pci: an I/O or MMIO exit reached a VM-wide callback\n");
  abort ();
}

static void
unexpected_stop (void *opaque, enum vmm_exit_reason reason, const char *message)
{
  (void) reason;
  fprintf (stderr, "fuzz-console-pci: the VM stopped: %s\n", message);
  unexpected_call (opaque);
}

static void
unexpected_registers (void *opaque, unsigned vcpu)
{
  (void) vcpu;
  unexpected_call (opaque);
}

static void
mmio_exit (struct machine *m, uint64_t addr, uint32_t len, bool write, uint8_t *data)
{
  struct vmm_exit exit = { .kind = VMM_EXIT_KIND_MMIO };

  exit.mmio.addr = addr;
  exit.mmio.len = len;
  exit.mmio.write = write;
  exit.mmio.data = data;
  vmm_exit_dispatch (&m->dispatch, &exit);
}

static void
pio_exit (struct machine *m, uint16_t port, uint8_t size, uint32_t count, bool out,
          uint8_t *data)
{
  struct vmm_exit exit = { .kind = VMM_EXIT_KIND_IO };

  exit.io.port = port;
  exit.io.size = size;
  exit.io.count = count;
  exit.io.out = out;
  exit.io.data = data;
  vmm_exit_dispatch (&m->dispatch, &exit);
}

/* Where BAR0 of a console is as its config space says (decode on or not) */
static uint64_t
bar0_address (const struct vmm_virtio_dev *dev)
{
  const uint8_t *config = dev->pci.config;

  return ((uint64_t) vmm_pci_get32 (&config[PCI_BAR0 + 4]) << 32 |
          vmm_pci_get32 (&config[PCI_BAR0])) & ~(uint64_t) 0xf;
}

/* ---- what must hold after every operation ----------------------------------- */

/* The checks' own loops and comparisons are not the code under test: under
 * libFuzzer they would only add features and trace calls to every step. */
#if defined(__clang__)
#define NOT_FUZZED __attribute__ ((no_sanitize ("coverage")))
#else
#define NOT_FUZZED
#endif

static void G_GNUC_NORETURN
broken (const char *what, unsigned slot, unsigned offset)
{
  fprintf (stderr, "fuzz-console-pci: %s (slot %u, offset %#x)\n", what, slot, offset);
  abort ();
}

/* What the MMIO bus decodes for DEV is where its BAR is, once, and only
 * while both the PCI device and the transport say it is mapped; and it is
 * there whenever nothing else is in the way */
static void NOT_FUZZED
check_bar (const struct machine *m, const struct vmm_virtio_dev *dev)
{
  const struct vmm_bus *mmio = &m->t.mmio;
  const struct vmm_pci_bar *bar = &dev->pci.bars[0];
  bool decode = vmm_pci_get16 (&dev->pci.config[PCI_COMMAND]) & PCI_COMMAND_MEMORY;
  unsigned owned = 0;

  for (unsigned i = 0; i < mmio->n_ranges; i++)
    {
      const struct vmm_bus_range *r = &mmio->ranges[i];

      if (r->opaque != dev)
        continue;
      owned++;
      if (!dev->bar_mapped || r->base != dev->bar_addr || r->len != BAR_SIZE)
        broken ("the MMIO bus decodes the console where its BAR is not", dev->pci.slot,
                PCI_BAR0);
    }
  if (owned != (dev->bar_mapped ? 1u : 0u))
    broken ("the console's BAR is mapped a number of times other than its state says",
            dev->pci.slot, PCI_BAR0);
  if (bar->mapped && (!decode || bar->addr != bar0_address (dev) || bar->addr == 0))
    broken ("BAR0 decodes at an address config space does not give it", dev->pci.slot,
            PCI_BAR0);
  if (dev->bar_mapped && (!bar->mapped || dev->bar_addr != bar->addr))
    broken ("the transport's BAR is not where the PCI device's is", dev->pci.slot, PCI_BAR0);

  /* The converse: a BAR the PCI device decodes, with nothing else in its
   * way (any more), is on the bus, even if the bus refused it while
   * another BAR was there (issue16-bar-refused-never-retried.bin) */
  if (bar->mapped && !dev->bar_mapped)
    {
      for (unsigned i = 0; i < mmio->n_ranges; i++)
        {
          const struct vmm_bus_range *r = &mmio->ranges[i];

          if (r->base < bar->addr + BAR_SIZE && bar->addr < r->base + r->len)
            return;
        }
      broken ("BAR0 decodes where nothing else is, yet the bus has nothing there",
              dev->pci.slot, PCI_BAR0);
    }
}

/* After every operation the 256 bytes of conventional config space, where
 * everything is; at the end of the input all 4 KiB */
static void NOT_FUZZED
check_machine (const struct machine *m, unsigned config_len)
{
  const struct vmm_bus *mmio = &m->t.mmio;

  for (unsigned i = 0; i < G_N_ELEMENTS (m->pci); i++)
    {
      const struct vmm_pci_device *d = m->pci[i].dev;

      for (unsigned o = 0; o < config_len; o++)
        if ((d->config[o] & ~d->wmask[o]) != m->pci[i].fixed[o])
          broken ("a read-only config space bit changed", d->slot, o);
    }
  for (unsigned i = 1; i < mmio->n_ranges; i++)
    if (mmio->ranges[i - 1].base + (mmio->ranges[i - 1].len - 1) >= mmio->ranges[i].base)
      broken ("MMIO bus ranges overlap or are out of order", 0, i);
  for (unsigned c = 0; c < N_CONSOLES; c++)
    check_bar (m, m->dev[c]);
}

/* ---- the machine --------------------------------------------------------------- */

static void
machine_init (struct machine *m)
{
  g_autoptr(GError) error = NULL;
  /* The first console: port 0 writes to /dev/null (connected, as a file
   * is); port 1 has no backend; port 2 writes to /dev/null too. The
   * second, port 0 only and no backend, is there for BARs to collide. */
  const struct vmm_console_config config[N_CONSOLES] = {
    {
      .console = { .kind = VMM_CHARDEV_FILE, .path = "/dev/null" },
      .n_ports = 2,
      .ports = {
        { "org.fuzz.none", { .kind = VMM_CHARDEV_NONE, .path = NULL } },
        { "org.fuzz.null", { .kind = VMM_CHARDEV_FILE, .path = "/dev/null" } },
      },
    },
    { .console = { .kind = VMM_CHARDEV_NONE, .path = NULL } },
  };

  memset (m, 0, sizeof *m);
  /* vmm_test_virtio_init's machine, but its loop is not started: with
   * KVM's ioeventfds faked and these backends, the loop would never run
   * anything, and a thread started and joined per input costs more than
   * the rest of the input (and would be one more thing to be sure is
   * deterministic). */
  vmm_test_ram_add (&m->t.ram, 0, RAM_SIZE);
  g_assert_cmpint (vmm_bus_init (&m->t.mmio, "mmio"), ==, 0);
  m->t.router.vm_fd = -1;
  g_assert_cmpint (vmm_loop_init (&m->t.loop), ==, 0);
  vmm_pci_host_init (&m->t.pci, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  m->env = (struct vmm_virtio_env) {
    .mem = &m->t.ram.mem,
    .loop = &m->t.loop,
    .mmio = &m->t.mmio,
    .router = &m->t.router,
    .vm_fd = -1,
  };
  g_assert_cmpint (vmm_bus_init (&m->pio, "pio"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&m->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops,
                                     &m->t.pci, "pci-cf8"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&m->t.mmio, VMM_PCI_ECAM_BASE, VMM_PCI_ECAM_SIZE,
                                     &vmm_pci_ecam_ops, &m->t.pci, "pci-ecam"), ==, 0);
  m->dispatch = (struct vmm_dispatch) {
    .pio = &m->pio,
    .mmio = &m->t.mmio,
    .unhandled_rl = &m->unhandled_rl,
    .opaque = m,
    .power_off = unexpected_call,
    .reset = unexpected_call,
    .stop = unexpected_stop,
    .log_registers = unexpected_registers,
  };

  m->pci[0].dev = &m->t.pci.bridge;
  for (unsigned c = 0; c < N_CONSOLES; c++)
    {
      m->con[c] = vmm_virtio_console_new (&m->env, &config[c], &error);
      g_assert_no_error (error);
      m->dev[c] = vmm_virtio_console_dev (m->con[c]);
      vmm_test_virtio_plug (&m->t, m->dev[c]);
      m->pci[1 + c].dev = &m->dev[c]->pci;
    }
  for (unsigned i = 0; i < G_N_ELEMENTS (m->pci); i++)
    for (unsigned o = 0; o < VMM_PCI_CONFIG_SIZE; o++)
      m->pci[i].fixed[o] = m->pci[i].dev->config[o] & ~m->pci[i].dev->wmask[o];
  check_machine (m, VMM_PCI_CONFIG_SIZE);
}

/* With VIVARIUM_FUZZ_LOG set, what an input left behind, to see that a
 * seed does what it says */
static void
machine_report (const struct machine *m)
{
  const struct vmm_virtio_dev *dev = m->dev[0];

  for (unsigned c = 0; c < N_CONSOLES; c++)
    fprintf (stderr, "console-pci: console %u: status %#x, features %#llx, ISR %#x, BAR0 %#llx "
             "in config space, %s, %s on the bus at %#llx\n", c, m->dev[c]->status,
             (unsigned long long) m->dev[c]->driver_features, m->dev[c]->isr,
             (unsigned long long) bar0_address (m->dev[c]),
             m->dev[c]->pci.bars[0].mapped ? "decode on" : "decode off",
             m->dev[c]->bar_mapped ? "mapped" : "not mapped",
             (unsigned long long) m->dev[c]->bar_addr);
  for (unsigned q = 0; q < dev->ops->num_queues; q++)
    {
      const struct vmm_virtio_queue *vq = &dev->queues[q];
      const uint8_t *used;

      if (!vq->enabled)
        continue;
      used = vmm_mem_ptr (&m->t.ram.mem, vq->vq.used_gpa + 2, 2);
      fprintf (stderr, "console-pci: queue %u: size %u, vector %u, used idx %u\n", q, vq->size,
               vq->vector, used != NULL ? viv_get_le16 (used) : 0);
    }
  for (unsigned v = 0; v < dev->n_vectors; v++)
    fprintf (stderr, "console-pci: vector %u: %s%s, data %#x\n", v,
             dev->msix[v].ctrl & 1 ? "masked" : "unmasked",
             (dev->pba[v / 64] >> (v % 64)) & 1 ? ", pending" : "", dev->msix[v].data);
}

static void
machine_clear (struct machine *m)
{
  if (g_getenv ("VIVARIUM_FUZZ_LOG") != NULL)
    machine_report (m);
  for (unsigned c = 0; c < N_CONSOLES; c++)
    vmm_virtio_console_free (m->con[c]);
  vmm_bus_destroy (&m->pio);
  vmm_test_virtio_clear (&m->t);
}

/* ---- one operation ---------------------------------------------------------------- */

/* Runs the operation at the front of R; false when the input ended in it. */
static bool
run_op (struct machine *m, struct reader *r)
{
  uint8_t op;
  bool write;
  uint32_t len;
  uint64_t a = 0, b = 0, c = 0, value = 0;
  uint8_t data[MAX_REP * 4];

  if (!take (r, &op, 1))
    return false;
  write = op & 0x08;
  len = 1u << ((op >> 4) & 3);

  switch (op & 7)
    {
    case OP_ECAM:
      if (!take_le (r, 1, &a) || !take_le (r, 1, &b) || !take_le (r, 2, &c) ||
          (write && !take_le (r, len, &value)))
        return false;
      viv_put_le (data, value, len);
      mmio_exit (m, VMM_PCI_ECAM_BASE + (a << 20 | b << 12 | (c & 0xfff)), len, write, data);
      break;

    case OP_PIO:
      if (!take_le (r, 1, &a))
        return false;
      if (len == 8)
        {
          uint8_t size, count;

          if (!take_le (r, 1, &b))
            return false;
          size = (uint8_t) (1u << MIN (b & 3, 2));
          count = (uint8_t) ((b >> 2) + 1);
          memset (data, 0, sizeof data);
          if (write && !take (r, data, (size_t) size * count))
            return false;
          pio_exit (m, (uint16_t) (0xcf0 + (a & 0xf)), size, count, write, data);
          break;
        }
      if (write && !take_le (r, len, &value))
        return false;
      viv_put_le (data, value, len);
      pio_exit (m, (uint16_t) (0xcf0 + (a & 0xf)), (uint8_t) len, 1, write, data);
      break;

    case OP_BAR:
      if (!take_le (r, 2, &a) || (write && !take_le (r, len, &value)))
        return false;
      viv_put_le (data, value, len);
      mmio_exit (m, bar0_address (m->dev[op >> 6 & 1]) + a, len, write, data);
      break;

    case OP_MMIO:
      if (!take_le (r, 8, &a) || (write && !take_le (r, len, &value)))
        return false;
      viv_put_le (data, value, len);
      mmio_exit (m, a, len, write, data);
      break;

    case OP_RAM:
      {
        const struct vmm_mem_region *ram = &m->t.ram.mem.regions[0];
        uint8_t n;

        if (!take_le (r, 3, &a) || !take (r, &n, 1) || r->left < n)
          return false;
        /* The part that is RAM; the rest of the bytes go nowhere */
        if (a < ram->size)
          memcpy (ram->host + a, r->p, MIN ((uint64_t) n, ram->size - a));
        take (r, NULL, n);
      }
      break;

    case OP_NOTIFY:
      if (!take_le (r, 1, &a))
        return false;
      viv_put_le (data, a, 2);
      mmio_exit (m, bar0_address (m->dev[op >> 6 & 1]) + NOTIFY_OFF + NOTIFY_MULT * a, 2, true,
                 data);
      break;

    case OP_CF8:
      if (!take_le (r, 1, &a) || !take_le (r, 1, &b) || !take_le (r, 1, &c) ||
          (write && !take_le (r, len, &value)))
        return false;
      viv_put_le (data, 0x80000000u | a << 16 | b << 8 | (c & 0xfc), 4);
      pio_exit (m, VMM_PORT_PCI_CONFIG_ADDR, 4, 1, true, data);
      /* The data port has 4 bytes: 8 is two dword exits */
      viv_put_le (data, value, len);
      for (uint32_t off = 0; off < len; off += 4)
        pio_exit (m, (uint16_t) (VMM_PORT_PCI_CONFIG_DATA + (len < 4 ? (c & 3) : 0)),
                  (uint8_t) MIN (len, 4u), 1, write, data + off);
      break;

    default:
      break;
    }
  check_machine (m, 0x100);
  return true;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc, (void) argv;
  /* What the guest gets wrong is logged; thousands of inputs a second
   * would drown the output. VIVARIUM_FUZZ_LOG=1 keeps it, to look at one. */
  if (g_getenv ("VIVARIUM_FUZZ_LOG") == NULL)
    {
      int fd = open ("/dev/null", O_WRONLY | O_CLOEXEC);

      if (fd >= 0)
        vmm_log_set_fd (fd);
    }
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct machine *m = g_new0 (struct machine, 1);   /* 8 KiB of snapshots: not on the stack */
  struct reader r = { data, size };

  machine_init (m);
  while (run_op (m, &r))
    ;
  check_machine (m, VMM_PCI_CONFIG_SIZE);
  machine_clear (m);
  g_free (m);
  return 0;
}
