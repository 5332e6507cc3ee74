/* test-pci.c: the PCI host bridge, configuration space and BARs
 *
 * Through CF8/CFC and ECAM as a guest reaches them: the host bridge, config
 * space of devices the test adds (read-only bits, write-1-to-clear,
 * capabilities), BAR sizing and moving, and running out of slots or of the
 * MMIO window.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/layout.h"
#include "bus.h"
#include "devices/pci.h"
#include "viv-bytes.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define TEST_VENDOR   0x1af4
#define TEST_DEVICE   0x10f0
#define TEST_CLASS    0x050000
#define BAR0_SIZE     0x1000    /* 32-bit, BAR0 */
#define BAR2_SIZE     0x8000    /* 64-bit prefetchable, BAR2/BAR3 */

struct pci_fx {
  struct vmm_bus pio, mmio;
  struct vmm_pci_host host;
};

struct bar_event {
  unsigned bar;
  uint64_t addr;
  bool map;
};

struct test_pci;

struct bar_ctx {
  struct test_pci *t;
  unsigned bar;
};

struct test_pci {
  struct vmm_pci_device dev;
  struct vmm_bus *mmio;         /* where the hook registers BARs, or NULL */
  bool collisions;              /* BARs may be placed over others': see the hook */
  bool on_bus[VMM_PCI_NUM_BARS];
  GArray *events;               /* struct bar_event */
  unsigned config_writes;
  uint8_t cap_msix, cap_vndr;
  struct bar_ctx ctx[VMM_PCI_NUM_BARS];
};

static void
bar_mmio_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  const struct bar_ctx *c = opaque;

  viv_put_le (data, 0xba000000u | c->bar << 16 | offset, len);
}

static const struct vmm_io_ops bar_mmio_ops = {
  .read = bar_mmio_read,
};

static void
test_pci_bar_map (struct vmm_pci_device *dev, unsigned bar, uint64_t addr, bool map)
{
  struct test_pci *t = dev->opaque;
  struct bar_event ev = { .bar = bar, .addr = addr, .map = map };

  g_array_append_val (t->events, ev);
  /* What a real device does: put the BAR on the MMIO bus, the same bus
   * ECAM is on, from inside a config write that arrived through it. */
  if (t->mmio == NULL)
    return;
  if (t->collisions)
    {
      /* As virtio's transport takes it: a range over another device's is
       * refused (the BAR decodes nothing); only what got on is removed. */
      if (map)
        t->on_bus[bar] = vmm_bus_register (t->mmio, addr, dev->bars[bar].size, &bar_mmio_ops,
                                           &t->ctx[bar], "bar") == 0;
      else if (t->on_bus[bar])
        {
          g_assert_cmpint (vmm_bus_unregister (t->mmio, addr, &t->ctx[bar]), ==, 0);
          t->on_bus[bar] = false;
        }
      return;
    }
  if (map)
    g_assert_cmpint (vmm_bus_register (t->mmio, addr, dev->bars[bar].size, &bar_mmio_ops,
                                       &t->ctx[bar], "bar"), ==, 0);
  else
    g_assert_cmpint (vmm_bus_unregister (t->mmio, addr, &t->ctx[bar]), ==, 0);
}

static void
test_pci_config_write (struct vmm_pci_device *dev, uint32_t offset, uint32_t len)
{
  struct test_pci *t = dev->opaque;

  (void) offset, (void) len;
  t->config_writes++;
}

static const struct vmm_pci_device_ops test_pci_ops = {
  .config_write = test_pci_config_write,
  .bar_map = test_pci_bar_map,
};

static void
test_pci_init (struct test_pci *t, struct vmm_bus *mmio)
{
  memset (t, 0, sizeof *t);
  t->mmio = mmio;
  t->events = g_array_new (FALSE, FALSE, sizeof (struct bar_event));
  for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
    t->ctx[i] = (struct bar_ctx) { .t = t, .bar = i };
  vmm_pci_device_init (&t->dev, TEST_VENDOR, TEST_DEVICE, TEST_CLASS, 0x01, TEST_VENDOR, 0x0001,
                       &test_pci_ops, t);
  vmm_pci_device_set_bar (&t->dev, 0, BAR0_SIZE, false, false);
  vmm_pci_device_set_bar (&t->dev, 2, BAR2_SIZE, true, true);
  t->cap_msix = vmm_pci_device_add_cap (&t->dev, PCI_CAP_ID_MSIX, 12);
  t->cap_vndr = vmm_pci_device_add_cap (&t->dev, PCI_CAP_ID_VNDR, 16);
}

static void
test_pci_clear (struct test_pci *t)
{
  g_array_unref (t->events);
}

static void
assert_event (struct test_pci *t, unsigned i, unsigned bar, uint64_t addr, bool map)
{
  const struct bar_event *ev;

  g_assert_cmpuint (i, <, t->events->len);
  ev = &g_array_index (t->events, struct bar_event, i);
  g_assert_cmpuint (ev->bar, ==, bar);
  g_assert_cmphex (ev->addr, ==, addr);
  g_assert_cmpint (ev->map, ==, map);
}

static void
pci_fx_init (struct pci_fx *fx, uint64_t window_base, uint64_t window_size)
{
  vmm_bus_init (&fx->pio, "pio");
  vmm_bus_init (&fx->mmio, "mmio");
  vmm_pci_host_init (&fx->host, window_base, window_size);
  g_assert_cmpint (vmm_bus_register (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 8, &vmm_pci_cf8_ops,
                                     &fx->host, "pci-cf8"), ==, 0);
  g_assert_cmpint (vmm_bus_register (&fx->mmio, VMM_PCI_ECAM_BASE, VMM_PCI_ECAM_SIZE,
                                     &vmm_pci_ecam_ops, &fx->host, "pci-ecam"), ==, 0);
}

static void
pci_fx_destroy (struct pci_fx *fx)
{
  vmm_pci_host_destroy (&fx->host);
  vmm_bus_destroy (&fx->mmio);
  vmm_bus_destroy (&fx->pio);
}

static uint32_t
cf8_address (unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
  return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

/* As a BIOS does it: latch the dword address, then access CFC + (reg & 3). */
static uint32_t
cf8_read (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t len)
{
  vmm_test_bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 4, cf8_address (bus, dev, fn, reg));
  return (uint32_t) vmm_test_bus_in (&fx->pio, VMM_PORT_PCI_CONFIG_DATA + (reg & 3), len);
}

static void
cf8_write (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg, uint32_t len,
           uint32_t value)
{
  vmm_test_bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_ADDR, 4, cf8_address (bus, dev, fn, reg));
  vmm_test_bus_out (&fx->pio, VMM_PORT_PCI_CONFIG_DATA + (reg & 3), len, value);
}

static uint64_t
ecam_addr (unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
  return VMM_PCI_ECAM_BASE + ((uint64_t) bus << 20 | dev << 15 | fn << 12 | reg);
}

static uint64_t
ecam_read (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
           uint32_t len)
{
  return vmm_test_bus_in (&fx->mmio, ecam_addr (bus, dev, fn, reg), len);
}

static void
ecam_write (struct pci_fx *fx, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
            uint32_t len, uint64_t value)
{
  vmm_test_bus_out (&fx->mmio, ecam_addr (bus, dev, fn, reg), len, value);
}

/* Slot-1 shortcuts, through CF8 */
#define R(fx, reg, len)      cf8_read ((fx), 0, 1, 0, (reg), (len))
#define W(fx, reg, len, v)   cf8_write ((fx), 0, 1, 0, (reg), (len), (v))

static void
test_pci_cf8_host_bridge (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x08, 4) >> 8, ==, 0x060000);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_HEADER_TYPE, 1), ==, 0x00);
  /* every byte and word of the first dwords, at CFC..CFF */
  for (unsigned reg = 0; reg < 0x10; reg += 4)
    {
      uint32_t dword = cf8_read (&fx, 0, 0, 0, reg, 4);

      for (unsigned i = 0; i < 4; i++)
        g_assert_cmphex (cf8_read (&fx, 0, 0, 0, reg + i, 1), ==, (dword >> (8 * i)) & 0xff);
      for (unsigned i = 0; i < 4; i += 2)
        g_assert_cmphex (cf8_read (&fx, 0, 0, 0, reg + i, 2), ==, (dword >> (8 * i)) & 0xffff);
    }
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_VENDOR_ID, 2), ==, 0x1b36);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_DEVICE_ID, 2), ==, 0x0008);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x0b, 1), ==, 0x06);  /* base class */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x0a, 1), ==, 0x00);  /* subclass: host */

  /* Empty slots, other functions, other buses: all-ones */
  g_assert_cmphex (cf8_read (&fx, 0, 1, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 31, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 5, 0, 0, 2), ==, 0xffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 1, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 7, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 1, 0, 0, 0, 4), ==, 0xffffffff);
  cf8_write (&fx, 0, 0, 3, PCI_COMMAND, 2, 0x0006);   /* dropped */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_COMMAND, 2), ==, 0x0000);

  pci_fx_destroy (&fx);
}

static void
test_pci_cf8_latch (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  vmm_test_bus_out (&fx.pio, 0xcf8, 4, 0x80001234);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf8, 4), ==, 0x80001234);
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, 0x8000ab07);           /* the low two bits read as 0 */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf8, 4), ==, 0x8000ab04);
  /* Only a dword write latches */
  vmm_test_bus_out (&fx.pio, 0xcf8, 1, 0x00);
  vmm_test_bus_out (&fx.pio, 0xcf8, 2, 0x0000);
  vmm_test_bus_out (&fx.pio, 0xcfa, 2, 0x0000);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf8, 4), ==, 0x8000ab04);
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, 0);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf8, 4), ==, 0);

  /* Without the enable bit, CFC reaches nothing, neither reads nor writes. */
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, 0x00000000);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcfc, 4), ==, 0xffffffff);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcfe, 2), ==, 0xffff);
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, PCI_COMMAND);
  vmm_test_bus_out (&fx.pio, 0xcfc, 2, 0x0006);
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, PCI_INTERRUPT_LINE);
  vmm_test_bus_out (&fx.pio, 0xcfc, 1, 0x0b);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_COMMAND, 2), ==, 0x0000);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x00);

  /* With it, the same writes land */
  cf8_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x0b);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0b);

  pci_fx_destroy (&fx);
}

static void
test_pci_ecam (void)
{
  struct pci_fx fx;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);

  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x00, 4), ==, 0x00081b36);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x02, 2), ==, 0x0008);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x08, 4) >> 8, ==, 0x060000);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x0b, 1), ==, 0x06);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0x100, 4), ==, 0);        /* extended space */
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, 0xffc, 4), ==, 0);
  g_assert_cmphex (ecam_read (&fx, 0, 3, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 1, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 7, 0x08, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 1, 0, 0, 0, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 255, 31, 7, 0xffc, 4), ==, 0xffffffff);

  /* A write through ECAM is seen through CF8 and back */
  ecam_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x05);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x05);
  cf8_write (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1, 0x0a);
  g_assert_cmphex (ecam_read (&fx, 0, 0, 0, PCI_INTERRUPT_LINE, 1), ==, 0x0a);

  /* The handler directly, with offsets from the ECAM base */
  g_assert_cmphex (vmm_test_dev_in (&vmm_pci_ecam_ops, &fx.host, 0, 4), ==, 0x00081b36);
  g_assert_cmphex (vmm_test_dev_in (&vmm_pci_ecam_ops, &fx.host, 1 << 15, 4), ==, 0xffffffff);

  pci_fx_destroy (&fx);
}

static uint64_t
bar_addr_from_config (struct pci_fx *fx, unsigned bar, bool is_64)
{
  uint64_t addr = R (fx, PCI_BAR0 + 4 * bar, 4) & ~0xfull;

  if (is_64)
    addr |= (uint64_t) R (fx, PCI_BAR0 + 4 * (bar + 1), 4) << 32;
  return addr;
}

static void
test_pci_add_device (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint64_t a0, a2;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpuint (t.cap_msix, ==, 0x40);
  g_assert_cmpuint (t.cap_vndr, ==, 0x4c);

  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  g_assert_cmpuint (t.dev.slot, ==, 1);

  g_assert_cmphex (R (&fx, PCI_VENDOR_ID, 4), ==, (uint32_t) TEST_DEVICE << 16 | TEST_VENDOR);
  g_assert_cmphex (R (&fx, 0x08, 4), ==, (uint32_t) TEST_CLASS << 8 | 0x01);
  g_assert_cmphex (R (&fx, PCI_SUBSYSTEM_VENDOR_ID, 4), ==, 0x0001u << 16 | TEST_VENDOR);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0, 4), ==, (uint32_t) TEST_DEVICE << 16 | TEST_VENDOR);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, ==, PCI_COMMAND_MEMORY);

  /* BARs: type bits, aligned to their size, inside the window, disjoint */
  g_assert_cmphex (R (&fx, PCI_BAR0, 4) & 0xf, ==, 0x0);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 8, 4) & 0xf, ==, PCI_BAR_MEM_64 | PCI_BAR_MEM_PREFETCH);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 4, 4), ==, 0);   /* BAR1: none */
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_assert_cmphex (a0 % BAR0_SIZE, ==, 0);
  g_assert_cmphex (a2 % BAR2_SIZE, ==, 0);
  g_assert_cmphex (a0, >=, VMM_PCI_MMIO32_BASE);
  g_assert_cmphex (a0 + BAR0_SIZE, <=, VMM_PCI_MMIO32_BASE + VMM_PCI_MMIO32_SIZE);
  g_assert_cmphex (a2, >=, VMM_PCI_MMIO32_BASE);
  g_assert_cmphex (a2 + BAR2_SIZE, <=, VMM_PCI_MMIO32_BASE + VMM_PCI_MMIO32_SIZE);
  g_assert_true (a0 + BAR0_SIZE <= a2 || a2 + BAR2_SIZE <= a0);

  /* The hook saw both mapped there, and they answer on the MMIO bus */
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, true);
  assert_event (&t, 1, 2, a2, true);
  g_assert_true (t.dev.bars[0].mapped && t.dev.bars[2].mapped);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a0 + 0x10, 4), ==, 0xba000010);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a2 + 0x7ffc, 4), ==, 0xba027ffc);

  /* A second device goes to slot 2, after the first one's BARs */
  {
    struct test_pci t2;
    uint64_t b0;

    test_pci_init (&t2, &fx.mmio);
    g_assert_cmpint (vmm_pci_host_add (&fx.host, &t2.dev), ==, 2);
    b0 = cf8_read (&fx, 0, 2, 0, PCI_BAR0, 4) & ~0xfu;
    g_assert_true (b0 >= a2 + BAR2_SIZE || b0 + BAR0_SIZE <= a0);
    g_assert_cmphex (vmm_test_bus_in (&fx.mmio, b0, 4), ==, 0xba000000);
    test_pci_clear (&t2);
  }

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bar_sizing (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd, orig0, orig2lo, orig2hi, lo, hi;
  uint64_t a0, a2, size;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_array_set_size (t.events, 0);

  /* Linux's __pci_read_base: decode off first */
  cmd = R (&fx, PCI_COMMAND, 2);
  W (&fx, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, false);
  assert_event (&t, 1, 2, a2, false);
  g_assert_false (vmm_bus_read (&fx.mmio, a0, &(uint32_t) { 0 }, 4));
  g_assert_false (vmm_bus_read (&fx.mmio, a2, &(uint32_t) { 0 }, 4));

  /* 32-bit BAR0 */
  orig0 = R (&fx, PCI_BAR0, 4);
  W (&fx, PCI_BAR0, 4, 0xffffffff);
  lo = R (&fx, PCI_BAR0, 4);
  W (&fx, PCI_BAR0, 4, orig0);
  g_assert_cmphex (lo, ==, 0xfffff000);
  g_assert_cmphex (~(lo & ~0xfu) + 1, ==, BAR0_SIZE);
  g_assert_cmphex (R (&fx, PCI_BAR0, 4), ==, orig0);

  /* 64-bit BAR2/3: each half */
  orig2lo = R (&fx, PCI_BAR0 + 8, 4);
  orig2hi = R (&fx, PCI_BAR0 + 12, 4);
  W (&fx, PCI_BAR0 + 8, 4, 0xffffffff);
  lo = R (&fx, PCI_BAR0 + 8, 4);
  W (&fx, PCI_BAR0 + 8, 4, orig2lo);
  W (&fx, PCI_BAR0 + 12, 4, 0xffffffff);
  hi = R (&fx, PCI_BAR0 + 12, 4);
  W (&fx, PCI_BAR0 + 12, 4, orig2hi);
  g_assert_cmphex (lo, ==, 0xffff8000 | PCI_BAR_MEM_64 | PCI_BAR_MEM_PREFETCH);
  g_assert_cmphex (hi, ==, 0xffffffff);
  size = ~((uint64_t) hi << 32 | (lo & ~0xfu)) + 1;
  g_assert_cmphex (size, ==, BAR2_SIZE);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 8, 4), ==, orig2lo);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 12, 4), ==, orig2hi);

  /* BARs that are not there size to 0 */
  for (unsigned bar = 4; bar < VMM_PCI_NUM_BARS; bar++)
    {
      W (&fx, PCI_BAR0 + 4 * bar, 4, 0xffffffff);
      g_assert_cmphex (R (&fx, PCI_BAR0 + 4 * bar, 4), ==, 0);
    }
  W (&fx, PCI_BAR0 + 4, 4, 0xffffffff);
  g_assert_cmphex (R (&fx, PCI_BAR0 + 4, 4), ==, 0);

  /* Nothing mapped while decode was off */
  g_assert_cmpuint (t.events->len, ==, 2);

  /* Decode back on: mapped at the restored addresses */
  W (&fx, PCI_COMMAND, 2, cmd);
  g_assert_cmpuint (t.events->len, ==, 4);
  assert_event (&t, 2, 0, a0, true);
  assert_event (&t, 3, 2, a2, true);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a0 + 4, 4), ==, 0xba000004);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a2 + 4, 4), ==, 0xba020004);
  g_assert_cmpuint (t.config_writes, >, 0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bar_move (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint64_t a0, a2, n0;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  a0 = bar_addr_from_config (&fx, 0, false);
  a2 = bar_addr_from_config (&fx, 2, true);
  g_array_set_size (t.events, 0);

  /* Writing the same address again changes nothing */
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  W (&fx, PCI_COMMAND, 2, R (&fx, PCI_COMMAND, 2));
  g_assert_cmpuint (t.events->len, ==, 0);

  /* A 32-bit BAR moved with decode on, through ECAM this time */
  n0 = a0 + VMM_MiB (1);
  ecam_write (&fx, 0, 1, 0, PCI_BAR0, 4, n0);
  g_assert_cmpuint (t.events->len, ==, 2);
  assert_event (&t, 0, 0, a0, false);
  assert_event (&t, 1, 0, n0, true);
  g_assert_false (vmm_bus_read (&fx.mmio, a0, &(uint32_t) { 0 }, 4));
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, n0 + 8, 4), ==, 0xba000008);

  /* A 64-bit BAR moved above 4 GiB through its high half */
  W (&fx, PCI_BAR0 + 12, 4, 0x10);
  g_assert_cmpuint (t.events->len, ==, 4);
  assert_event (&t, 2, 2, a2, false);
  assert_event (&t, 3, 2, 0x1000000000ull | a2, true);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, 0x1000000000ull | a2, 4), ==, 0xba020000);
  g_assert_cmphex (bar_addr_from_config (&fx, 2, true), ==, 0x1000000000ull | a2);

  /* Sized with decode left on: both halves all-ones wraps, so not decoded */
  W (&fx, PCI_BAR0 + 8, 4, 0xffffffff);
  W (&fx, PCI_BAR0 + 12, 4, 0xffffffff);
  g_assert_false (t.dev.bars[2].mapped);
  g_assert_false (g_array_index (t.events, struct bar_event, t.events->len - 1).map);
  W (&fx, PCI_BAR0 + 8, 4, (uint32_t) a2);
  W (&fx, PCI_BAR0 + 12, 4, 0);
  g_assert_true (t.dev.bars[2].mapped);
  assert_event (&t, t.events->len - 1, 2, a2, true);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a2, 4), ==, 0xba020000);

  /* Address 0 is not decoded either */
  W (&fx, PCI_BAR0, 4, 0);
  g_assert_false (t.dev.bars[0].mapped);
  assert_event (&t, t.events->len - 1, 0, n0, false);
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  assert_event (&t, t.events->len - 1, 0, a0, true);

  /* The same for a 32-bit BAR: its all-ones address (4 GiB - size) is the
   * sizing pattern, and update_bars says it does not decode that. */
  W (&fx, PCI_BAR0, 4, 0xffffffff);
  g_assert_false (t.dev.bars[0].mapped);
  W (&fx, PCI_BAR0, 4, (uint32_t) a0);
  g_assert_true (t.dev.bars[0].mapped);
  g_assert_cmphex (t.dev.bars[0].addr, ==, a0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

/* Two devices' BARs over each other: the bus takes one range there and
 * refuses the other, but the second device decodes there as soon as the
 * first one leaves, moved or turned off, as a real device would. */
static void
test_pci_bar_collision (void)
{
  struct pci_fx fx;
  struct test_pci a, b;
  uint64_t a0, b0, away;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&a, &fx.mmio);
  test_pci_init (&b, &fx.mmio);
  a.collisions = b.collisions = true;
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &a.dev), ==, 1);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &b.dev), ==, 2);
  a0 = a.dev.bars[0].addr;
  b0 = b.dev.bars[0].addr;
  g_assert_true (a.on_bus[0] && b.on_bus[0]);

  /* B's BAR0 onto A's with decode on: refused; A still decodes there */
  ecam_write (&fx, 0, 2, 0, PCI_BAR0, 4, a0);
  g_assert_false (b.on_bus[0]);
  g_assert_true (a.on_bus[0]);
  g_assert_false (vmm_bus_read (&fx.mmio, b0, &(uint32_t) { 0 }, 4));

  /* A moves away: B's BAR0 is on the bus where config space says */
  away = a0 + VMM_MiB (1);
  ecam_write (&fx, 0, 1, 0, PCI_BAR0, 4, away);
  g_assert_true (a.on_bus[0]);
  g_assert_true (b.on_bus[0]);
  assert_event (&b, b.events->len - 1, 0, a0, true);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, a0 + 4, 4), ==, 0xba000004);
  g_assert_cmphex (vmm_test_bus_in (&fx.mmio, away + 4, 4), ==, 0xba000004);

  /* The same when A stops decoding rather than moving */
  ecam_write (&fx, 0, 2, 0, PCI_BAR0, 4, away);
  g_assert_false (b.on_bus[0]);
  ecam_write (&fx, 0, 1, 0, PCI_COMMAND, 2, 0);
  g_assert_false (a.on_bus[0] || a.on_bus[2]);
  g_assert_true (b.on_bus[0]);
  assert_event (&b, b.events->len - 1, 0, away, true);
  g_assert_false (vmm_bus_read (&fx.mmio, a0, &(uint32_t) { 0 }, 4));

  test_pci_clear (&a);
  test_pci_clear (&b);
  pci_fx_destroy (&fx);
}

static void
test_pci_capabilities (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint8_t ids[48], n = 0;
  unsigned pos;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);

  /* As Linux's pci_find_capability walks it, bounded */
  g_assert_cmphex (R (&fx, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, PCI_STATUS_CAP_LIST);
  pos = R (&fx, PCI_CAPABILITY_LIST, 1);
  while (pos != 0 && n < sizeof ids)
    {
      g_assert_cmpuint (pos, >=, 0x40);
      g_assert_cmpuint (pos % 4, ==, 0);
      ids[n++] = (uint8_t) R (&fx, pos, 1);
      pos = R (&fx, pos + 1, 1);
    }
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmphex (ids[0], ==, PCI_CAP_ID_MSIX);
  g_assert_cmphex (ids[1], ==, PCI_CAP_ID_VNDR);
  g_assert_cmphex (R (&fx, t.cap_msix, 2), ==, (uint32_t) t.cap_vndr << 8 | PCI_CAP_ID_MSIX);
  g_assert_cmphex (R (&fx, t.cap_vndr, 2), ==, PCI_CAP_ID_VNDR);

  /* The host bridge has none */
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, ==, 0);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, PCI_CAPABILITY_LIST, 1), ==, 0);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_cap_space (void)
{
  struct vmm_pci_device dev;
  unsigned pos, n = 0;

  /* Filling the standard space ends the list instead of running past it */
  vmm_pci_device_init (&dev, 1, 2, 0, 0, 0, 0, NULL, NULL);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x40), ==, 0x40);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x3d), ==, 0x80);  /* 0x40 */
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x41), ==, 0);    /* too big */
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0x40), ==, 0xc0);
  g_assert_cmpuint (vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 4), ==, 0);
  for (pos = dev.config[PCI_CAPABILITY_LIST]; pos != 0 && n < 48; pos = dev.config[pos + 1])
    n++;
  g_assert_cmpuint (n, ==, 3);

  /* A capability longer than what is left is refused, whatever its length. */
  vmm_pci_device_init (&dev, 1, 2, 0, 0, 0, 0, NULL, NULL);
  pos = vmm_pci_device_add_cap (&dev, PCI_CAP_ID_VNDR, 0xfe);
  g_assert_cmpuint (pos, ==, 0);
}

static void
test_pci_read_only (void)
{
  struct pci_fx fx;
  struct test_pci t;
  static const struct { unsigned reg, len; } ro[] = {
    { PCI_VENDOR_ID, 4 }, { PCI_VENDOR_ID, 2 }, { PCI_DEVICE_ID, 2 }, { 0x08, 4 }, { 0x09, 1 },
    { 0x0b, 1 }, { PCI_HEADER_TYPE, 1 }, { PCI_SUBSYSTEM_VENDOR_ID, 4 },
    { PCI_CAPABILITY_LIST, 1 }, { 0x40, 1 }, { 0x41, 1 }, { 0x4c, 2 }, { 0x40, 4 },
    { PCI_INTERRUPT_PIN, 1 },
  };
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);

  for (unsigned i = 0; i < G_N_ELEMENTS (ro); i++)
    {
      uint32_t before = R (&fx, ro[i].reg, ro[i].len);

      W (&fx, ro[i].reg, ro[i].len, ~before);
      g_assert_cmphex (R (&fx, ro[i].reg, ro[i].len), ==, before);
      ecam_write (&fx, 0, 1, 0, ro[i].reg, ro[i].len, 0);
      g_assert_cmphex (R (&fx, ro[i].reg, ro[i].len), ==, before);
    }
  /* The host bridge's IDs too */
  cf8_write (&fx, 0, 0, 0, 0, 4, 0);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0, 4), ==, 0x00081b36);
  cf8_write (&fx, 0, 0, 0, 0x08, 4, 0xffffffff);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0x08, 4), ==, 0x06000000);

  /* What is writable: INTERRUPT_LINE, and only the defined COMMAND bits */
  W (&fx, PCI_INTERRUPT_LINE, 1, 0x0b);
  g_assert_cmphex (R (&fx, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  cmd = R (&fx, PCI_COMMAND, 2);
  W (&fx, PCI_COMMAND, 2, 0xffff);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                   PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
  W (&fx, PCI_COMMAND, 2, cmd);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_status_w1c (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  cmd = R (&fx, PCI_COMMAND, 2);

  /* The device side latches errors: master/target aborts, parity */
  t.dev.config[PCI_STATUS + 1] |= 0xf9;
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0xf910);

  W (&fx, PCI_STATUS, 2, 0x0000);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0xf910);
  W (&fx, PCI_STATUS, 2, 0x8000);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7910);
  W (&fx, PCI_STATUS + 1, 1, 0x01);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7810);
  /* A dword write of COMMAND carries STATUS: zeros there clear nothing */
  W (&fx, PCI_COMMAND, 4, cmd);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, 0x7810);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);
  /* All ones clears every error bit; CAP_LIST is read-only */
  W (&fx, PCI_COMMAND, 4, 0xffff0000u | cmd);
  g_assert_cmphex (R (&fx, PCI_STATUS, 2), ==, PCI_STATUS_CAP_LIST);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2), ==, cmd);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_bad_access (void)
{
  struct pci_fx fx;
  struct test_pci t;
  uint32_t cmd;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&t, &fx.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &t.dev), ==, 1);
  W (&fx, PCI_INTERRUPT_LINE, 1, 0x0b);
  cmd = R (&fx, PCI_COMMAND, 4);
  g_array_set_size (t.events, 0);

  /* Unaligned through ECAM */
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x02, 4), ==, 0xffffffff);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x01, 2), ==, 0xffff);
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x3b, 2), ==, 0xffff);
  ecam_write (&fx, 0, 1, 0, 0x3b, 2, 0);
  ecam_write (&fx, 0, 1, 0, 0x3a, 4, 0);
  ecam_write (&fx, 0, 1, 0, 0x11, 4, 0);       /* into BAR0, unaligned */
  ecam_write (&fx, 0, 1, 0, 0x05, 2, 0xffff);  /* COMMAND/STATUS, unaligned */
  /* Oversize: 8 bytes, and odd lengths the bus never makes */
  g_assert_cmphex (ecam_read (&fx, 0, 1, 0, 0x00, 8), ==, UINT64_MAX);
  ecam_write (&fx, 0, 1, 0, 0x38, 8, 0);
  ecam_write (&fx, 0, 1, 0, 0x10, 8, 0);
  g_assert_cmphex (vmm_test_dev_in (&vmm_pci_ecam_ops, &fx.host, 1 << 15, 3), ==, 0xffffff);
  vmm_test_dev_out (&vmm_pci_ecam_ops, &fx.host, (1 << 15) | 0x3c, 3, 0);
  vmm_test_dev_out (&vmm_pci_ecam_ops, &fx.host, (1 << 15) | 0x3c, 0, 0);

  /* Unaligned through CF8/CFC */
  g_assert_cmphex (R (&fx, 0x01, 2), ==, 0xffff);
  g_assert_cmphex (R (&fx, 0x03, 2), ==, 0xffff);      /* straddles CFF */
  g_assert_cmphex (R (&fx, 0x01, 4), ==, 0xffffffff);  /* straddles CFF */
  W (&fx, PCI_COMMAND + 1, 2, 0xffff);                  /* COMMAND high byte, STATUS */
  g_assert_cmphex (R (&fx, 0x01, 1), ==, TEST_VENDOR >> 8);  /* a byte is fine */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcfa, 1), ==, 0xff);    /* latch bytes */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf9, 2), ==, 0xffff);

  /* Nothing moved */
  g_assert_cmphex (R (&fx, PCI_INTERRUPT_LINE, 1), ==, 0x0b);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 4), ==, cmd);
  g_assert_cmphex (R (&fx, PCI_BAR0, 4), ==, t.dev.bars[0].addr);
  g_assert_cmphex (R (&fx, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, ==, PCI_COMMAND_MEMORY);
  g_assert_cmpuint (t.events->len, ==, 0);
  g_assert_true (t.dev.bars[0].mapped && t.dev.bars[2].mapped);

  test_pci_clear (&t);
  pci_fx_destroy (&fx);
}

static void
test_pci_window_full (void)
{
  struct pci_fx fx;
  struct vmm_pci_device a, b, c, d, e;

  /* A 64 KiB window */
  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_KiB (64));
  vmm_pci_device_init (&a, 1, 1, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&a, 0, VMM_KiB (32), false, false);
  vmm_pci_device_init (&b, 1, 2, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&b, 0, VMM_KiB (64), true, false);
  vmm_pci_device_init (&c, 1, 3, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&c, 0, VMM_KiB (4), false, false);
  vmm_pci_device_set_bar (&c, 1, VMM_KiB (16), false, false);
  vmm_pci_device_init (&d, 1, 4, 0, 0, 0, 0, NULL, NULL);
  vmm_pci_device_set_bar (&d, 0, VMM_KiB (16), false, false);
  vmm_pci_device_init (&e, 1, 5, 0, 0, 0, 0, NULL, NULL);

  g_assert_cmpint (vmm_pci_host_add (&fx.host, &a), ==, 1);
  g_assert_cmphex (cf8_read (&fx, 0, 1, 0, PCI_BAR0, 4), ==, VMM_PCI_MMIO32_BASE);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &b), ==, -ENOSPC);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, 0, 4), ==, 0xffffffff);  /* slot 2 still free */
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &c), ==, 2);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, PCI_BAR0, 4), ==, VMM_PCI_MMIO32_BASE + 0x8000);
  g_assert_cmphex (cf8_read (&fx, 0, 2, 0, PCI_BAR0 + 4, 4), ==, VMM_PCI_MMIO32_BASE + 0xc000);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &d), ==, -ENOSPC);
  /* A device without BARs still fits */
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &e), ==, 3);

  pci_fx_destroy (&fx);
}

static void
test_pci_slots_full (void)
{
  struct pci_fx fx;
  struct vmm_pci_device *devs = g_new0 (struct vmm_pci_device, VMM_PCI_SLOTS);

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  for (unsigned i = 0; i < VMM_PCI_SLOTS - 1; i++)
    {
      vmm_pci_device_init (&devs[i], 0x1af4, (uint16_t) (0x1000 + i), 0xff0000, 0, 0, 0, NULL,
                           NULL);
      vmm_pci_device_set_bar (&devs[i], 0, 0x1000, false, false);
      g_assert_cmpint (vmm_pci_host_add (&fx.host, &devs[i]), ==, (int) i + 1);
    }
  vmm_pci_device_init (&devs[VMM_PCI_SLOTS - 1], 0x1af4, 0x2000, 0xff0000, 0, 0, 0, NULL, NULL);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &devs[VMM_PCI_SLOTS - 1]), ==, -ENOSPC);

  for (unsigned slot = 1; slot < VMM_PCI_SLOTS; slot++)
    g_assert_cmphex (ecam_read (&fx, 0, slot, 0, PCI_DEVICE_ID, 2), ==, 0x1000 + slot - 1);
  g_assert_cmphex (cf8_read (&fx, 0, 0, 0, 0, 4), ==, 0x00081b36);

  pci_fx_destroy (&fx);
  g_free (devs);
}

static void
count_reset (void *opaque)
{
  (*(unsigned *) opaque)++;
}

/* Port 0xcf9: reset control between the latch and the data window */
static void
test_pci_reset_control (void)
{
  struct pci_fx fx;
  unsigned resets = 0;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  fx.host.reset = count_reset;
  fx.host.reset_opaque = &resets;
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf9, 1), ==, 0);
  /* SeaBIOS: SYS_RST first, then RST_CPU as well */
  vmm_test_bus_out (&fx.pio, 0xcf9, 1, 0x02);
  g_assert_cmpuint (resets, ==, 0);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf9, 1), ==, 0x02);
  vmm_test_bus_out (&fx.pio, 0xcf9, 1, 0x06);
  g_assert_cmpuint (resets, ==, 1);
  /* The register is back at 0 after the reset; bit 0 and 4-7 never stick */
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf9, 1), ==, 0);
  vmm_test_bus_out (&fx.pio, 0xcf9, 1, 0xf1);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf9, 1), ==, 0);
  g_assert_cmpuint (resets, ==, 1);
  /* The latch is a dword: a dword write at 0xcf8 does not reset */
  vmm_test_bus_out (&fx.pio, 0xcf8, 4, 0x80000400);
  g_assert_cmpuint (resets, ==, 1);
  g_assert_cmphex (vmm_test_bus_in (&fx.pio, 0xcf8, 4), ==, 0x80000400);
  pci_fx_destroy (&fx);
}

/* A device in a slot of the chipset's choosing */
static void
test_pci_add_at (void)
{
  struct pci_fx fx;
  struct vmm_pci_device a, b;

  pci_fx_init (&fx, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  vmm_pci_device_init (&a, 0x8086, 0x2918, 0x060100, 2, 0, 0, NULL, NULL);
  vmm_pci_device_init (&b, 0x1af4, 0x1000, 0xff0000, 0, 0, 0, NULL, NULL);
  g_assert_cmpint (vmm_pci_host_add_at (&fx.host, &a, 31), ==, 31);
  g_assert_cmpint (vmm_pci_host_add_at (&fx.host, &b, 31), ==, -EBUSY);
  g_assert_cmpint (vmm_pci_host_add_at (&fx.host, &b, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_pci_host_add_at (&fx.host, &b, 32), ==, -EINVAL);
  g_assert_cmpint (vmm_pci_host_add (&fx.host, &b), ==, 1);
  g_assert_cmphex (cf8_read (&fx, 0, 31, 0, 0, 4), ==, 0x29188086);
  pci_fx_destroy (&fx);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_host (void *host, const struct vmm_state_file *f, const char *name, bool apply,
           GError **error)
{
  return vmm_pci_host_load (host, f, name, apply, error);
}

static void
save_host (struct pci_fx *fx, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_pci_host_save (&fx->host, w, "pci");
  vmm_test_state_close (st, w);
}

/* A machine with two test devices whose BARs the guest moved (one above
 * 4 GiB, one onto where the other's was), other config bits changed, the
 * latch and reset control set; saved, and loaded into the same machine
 * fresh from its construction, whose BARs still sit at the first places:
 * it decodes at the guest's places, reads the same config space, and
 * saves the same section. */
static void
test_pci_state (void)
{
  struct pci_fx fa, fb;
  struct test_pci a1, a2, b1, b2;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  uint64_t d0, d2, moved;

  pci_fx_init (&fa, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&a1, &fa.mmio);
  test_pci_init (&a2, &fa.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fa.host, &a1.dev), ==, 1);
  g_assert_cmpint (vmm_pci_host_add (&fa.host, &a2.dev), ==, 2);
  d0 = a2.dev.bars[0].addr;
  d2 = a1.dev.bars[2].addr;
  /* Device 2's BAR0 away, device 1's BAR0 where it was */
  moved = d0 + VMM_MiB (16);
  ecam_write (&fa, 0, 2, 0, PCI_BAR0, 4, moved);
  ecam_write (&fa, 0, 1, 0, PCI_BAR0, 4, d0);
  ecam_write (&fa, 0, 1, 0, PCI_BAR0 + 12, 4, 0x20);
  ecam_write (&fa, 0, 2, 0, PCI_INTERRUPT_LINE, 1, 11);
  ecam_write (&fa, 0, 2, 0, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
  a2.dev.config[0x80] = 0x5a;     /* a byte the device changes on its own */
  vmm_test_bus_out (&fa.pio, 0xcf9, 1, 0x02);
  vmm_test_bus_out (&fa.pio, VMM_PORT_PCI_CONFIG_ADDR, 4, cf8_address (0, 2, 0, 0x3c));
  save_host (&fa, &sa);

  pci_fx_init (&fb, VMM_PCI_MMIO32_BASE, VMM_PCI_MMIO32_SIZE);
  test_pci_init (&b1, &fb.mmio);
  test_pci_init (&b2, &fb.mmio);
  g_assert_cmpint (vmm_pci_host_add (&fb.host, &b1.dev), ==, 1);
  g_assert_cmpint (vmm_pci_host_add (&fb.host, &b2.dev), ==, 2);
  save_host (&fb, &sb0);
  g_array_set_size (b1.events, 0);
  g_array_set_size (b2.events, 0);

  /* Checked only: nothing moves */
  g_assert_true (vmm_pci_host_load (&fb.host, sa.file, "pci", false, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (b1.events->len + b2.events->len, ==, 0);
  save_host (&fb, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "pci");
  vmm_test_state_clear (&sb);

  /* The damaged copies are refused, and nothing moves either */
  vmm_test_state_refusals (&sa, "pci", load_host, &fb.host, 0, 0x03);
  {
    const struct vmm_state_section *s = vmm_test_state_section (&sa, "pci");
    g_autofree uint8_t *copy = g_memdup2 (s->data, s->len);
    /* The bridge's BAR0 said to decode (it has none); device 1's vendor */
    const size_t bad[] = { 4 + 1 + 1 + 1 + VMM_PCI_CONFIG_SIZE, 4 + 1 + 1 + 1 + 1 };

    for (unsigned i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        struct vmm_test_state st = { 0 };

        memcpy (copy, s->data, s->len);
        copy[bad[i]] ^= 1;
        vmm_test_state_make (&st, "pci", 1, copy, s->len);
        g_assert_false (vmm_pci_host_load (&fb.host, st.file, "pci", true, &error));
        vmm_test_state_assert_refused (&error, VMM_STATE_ERROR_DAMAGED, "pci");
        vmm_test_state_clear (&st);
      }
  }
  g_assert_cmpuint (b1.events->len + b2.events->len, ==, 0);
  save_host (&fb, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "pci");
  vmm_test_state_clear (&sb);

  /* Applied: B's BARs leave their first places before any lands on one
   * (the hook asserts every range gets onto the bus) */
  g_assert_true (vmm_pci_host_load (&fb.host, sa.file, "pci", true, &error));
  g_assert_no_error (error);
  g_assert_cmphex (vmm_test_bus_in (&fb.mmio, d0 + 4, 4), ==, 0xba000004);
  g_assert_false (vmm_bus_read (&fb.mmio, moved, &(uint32_t) { 0 }, 4));
  g_assert_cmphex (vmm_test_bus_in (&fb.mmio, 0x2000000000ull | d2, 4), ==, 0xba020000);
  g_assert_false (vmm_bus_read (&fb.mmio, d2, &(uint32_t) { 0 }, 4));
  g_assert_true (b1.dev.bars[0].mapped && b1.dev.bars[2].mapped);
  /* Device 2's decode was turned off */
  g_assert_false (b2.dev.bars[0].mapped || b2.dev.bars[2].mapped);
  /* The guest reads what it left */
  g_assert_cmphex (vmm_test_bus_in (&fb.pio, VMM_PORT_PCI_CONFIG_DATA, 1), ==, 11);
  g_assert_cmphex (vmm_test_bus_in (&fb.pio, 0xcf9, 1), ==, 0x02);
  for (unsigned reg = 0; reg < 0x100; reg += 4)
    g_assert_cmphex (ecam_read (&fb, 0, 2, 0, reg, 4), ==, ecam_read (&fa, 0, 2, 0, reg, 4));
  /* ... and goes on from there: a BAR moved again leaves the loaded place */
  ecam_write (&fb, 0, 1, 0, PCI_BAR0, 4, d0 + VMM_MiB (32));
  assert_event (&b1, b1.events->len - 2, 0, d0, false);
  g_assert_cmphex (vmm_test_bus_in (&fb.mmio, d0 + VMM_MiB (32), 4), ==, 0xba000000);
  ecam_write (&fb, 0, 1, 0, PCI_BAR0, 4, d0);

  save_host (&fb, &sb);
  vmm_test_state_assert_same (&sa, &sb, "pci");

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  test_pci_clear (&a1);
  test_pci_clear (&a2);
  test_pci_clear (&b1);
  test_pci_clear (&b2);
  pci_fx_destroy (&fa);
  pci_fx_destroy (&fb);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/pci/cf8-host-bridge", test_pci_cf8_host_bridge);
  g_test_add_func ("/pci/cf8-latch", test_pci_cf8_latch);
  g_test_add_func ("/pci/ecam", test_pci_ecam);
  g_test_add_func ("/pci/add-device", test_pci_add_device);
  g_test_add_func ("/pci/bar-sizing", test_pci_bar_sizing);
  g_test_add_func ("/pci/bar-move", test_pci_bar_move);
  g_test_add_func ("/pci/bar-collision", test_pci_bar_collision);
  g_test_add_func ("/pci/capabilities", test_pci_capabilities);
  g_test_add_func ("/pci/cap-space", test_pci_cap_space);
  g_test_add_func ("/pci/read-only", test_pci_read_only);
  g_test_add_func ("/pci/status-w1c", test_pci_status_w1c);
  g_test_add_func ("/pci/bad-access", test_pci_bad_access);
  g_test_add_func ("/pci/window-full", test_pci_window_full);
  g_test_add_func ("/pci/slots-full", test_pci_slots_full);
  g_test_add_func ("/pci/reset-control", test_pci_reset_control);
  g_test_add_func ("/pci/add-at", test_pci_add_at);
  g_test_add_func ("/pci/state", test_pci_state);

  return g_test_run ();
}
