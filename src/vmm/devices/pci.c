/* devices/pci.c: the PCI host bridge, configuration space and BARs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/pci.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n.h>

#include "log.h"

/* A generic PCIe host bridge ID (Red Hat's, as QEMU's gpex uses); no guest
 * driver binds to a host bridge by ID. */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

void
vmm_pci_device_init (struct vmm_pci_device *dev, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
                     uint16_t subsys_id, const struct vmm_pci_device_ops *ops, void *opaque)
{
  memset (dev, 0, sizeof *dev);
  dev->ops = ops;
  dev->opaque = opaque;
  vmm_pci_set16 (&dev->config[PCI_VENDOR_ID], vendor);
  vmm_pci_set16 (&dev->config[PCI_DEVICE_ID], device);
  dev->config[PCI_REVISION_ID] = revision;
  dev->config[PCI_CLASS_PROG] = (uint8_t) class_code;
  dev->config[PCI_CLASS_PROG + 1] = (uint8_t) (class_code >> 8);
  dev->config[PCI_CLASS_PROG + 2] = (uint8_t) (class_code >> 16);
  vmm_pci_set16 (&dev->config[PCI_SUBSYSTEM_VENDOR_ID], subsys_vendor);
  vmm_pci_set16 (&dev->config[PCI_SUBSYSTEM_ID], subsys_id);
  /* COMMAND: memory and I/O decode, bus mastering, INTx disable */
  vmm_pci_set16 (&dev->wmask[PCI_COMMAND], PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
                                           PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
  /* STATUS: the error bits are write-one-to-clear */
  vmm_pci_set16 (&dev->w1cmask[PCI_STATUS], 0xf900);
  dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
  dev->next_cap = 0x40;
}

void
vmm_pci_device_set_bar (struct vmm_pci_device *dev, unsigned bar, uint64_t size, bool is_64,
                        bool prefetch)
{
  uint32_t flags = (is_64 ? PCI_BAR_MEM_64 : 0) | (prefetch ? PCI_BAR_MEM_PREFETCH : 0);
  uint64_t mask = ~(size - 1);

  dev->bars[bar] = (struct vmm_pci_bar) { .size = size, .is_64 = is_64, .prefetch = prefetch };
  vmm_pci_set32 (&dev->config[PCI_BAR0 + 4 * bar], flags);
  vmm_pci_set32 (&dev->wmask[PCI_BAR0 + 4 * bar], (uint32_t) mask & ~0xfu);
  if (is_64)
    vmm_pci_set32 (&dev->wmask[PCI_BAR0 + 4 * (bar + 1)], (uint32_t) (mask >> 32));
}

uint8_t
vmm_pci_device_add_cap (struct vmm_pci_device *dev, uint8_t id, uint8_t len)
{
  uint8_t off = dev->next_cap;
  unsigned size = ((unsigned) len + 3) & ~3u;

  if (off == 0 || len < 2 || off + size > 0x100)
    return 0;
  dev->config[off] = id;
  dev->config[off + 1] = 0;
  if (dev->last_cap)
    dev->config[dev->last_cap + 1] = off;
  else
    dev->config[PCI_CAPABILITY_LIST] = off;
  dev->last_cap = off;
  vmm_pci_set16 (&dev->config[PCI_STATUS],
                 vmm_pci_get16 (&dev->config[PCI_STATUS]) | PCI_STATUS_CAP_LIST);
  dev->next_cap = off + size >= 0x100 ? 0 : (uint8_t) (off + size);
  return off;
}

/* MSI capability layout with 64-bit addresses (PCI 3.0, 6.8.1) */
#define MSI_CONTROL        2
#define MSI_ADDRESS_LO     4
#define MSI_ADDRESS_HI     8
#define MSI_DATA           12
#define MSI_SIZE           14
#define MSI_CONTROL_ENABLE 0x0001
#define MSI_CONTROL_64BIT  0x0080

uint8_t
vmm_pci_device_add_msi (struct vmm_pci_device *dev)
{
  uint8_t cap = vmm_pci_device_add_cap (dev, PCI_CAP_ID_MSI, MSI_SIZE);

  if (cap == 0)
    return 0;
  /* One vector (MMC 0), so MME stays 0: only the enable bit is the guest's */
  vmm_pci_set16 (&dev->config[cap + MSI_CONTROL], MSI_CONTROL_64BIT);
  vmm_pci_set16 (&dev->wmask[cap + MSI_CONTROL], MSI_CONTROL_ENABLE);
  vmm_pci_set32 (&dev->wmask[cap + MSI_ADDRESS_LO], 0xfffffffcu);
  vmm_pci_set32 (&dev->wmask[cap + MSI_ADDRESS_HI], 0xffffffffu);
  vmm_pci_set16 (&dev->wmask[cap + MSI_DATA], 0xffff);
  return cap;
}

bool
vmm_pci_msi_message (const struct vmm_pci_device *dev, uint8_t cap, uint64_t *address,
                     uint32_t *data)
{
  *address = vmm_pci_get32 (&dev->config[cap + MSI_ADDRESS_LO]) |
             (uint64_t) vmm_pci_get32 (&dev->config[cap + MSI_ADDRESS_HI]) << 32;
  *data = vmm_pci_get16 (&dev->config[cap + MSI_DATA]);
  return vmm_pci_get16 (&dev->config[cap + MSI_CONTROL]) & MSI_CONTROL_ENABLE;
}

static uint64_t
bar_address (const struct vmm_pci_device *dev, unsigned bar)
{
  uint64_t addr = vmm_pci_get32 (&dev->config[PCI_BAR0 + 4 * bar]) & ~0xfull;

  if (dev->bars[bar].is_64)
    addr |= (uint64_t) vmm_pci_get32 (&dev->config[PCI_BAR0 + 4 * (bar + 1)]) << 32;
  return addr;
}

/* BAR LEFT of device GONE stopped decoding at [ADDR, ADDR + SIZE): every
 * other BAR mapped over any of it is announced again, off then on. A
 * device whose BAR the guest placed over another's got no bus range (the
 * bus refuses a second one over the same addresses), and would decode
 * nothing until the guest moved it again; a real device decodes as soon
 * as the other one leaves. Host lock held. */
static void
announce_again (struct vmm_pci_host *host, const struct vmm_pci_device *gone, unsigned left,
                uint64_t addr, uint64_t size)
{
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    {
      struct vmm_pci_device *d = host->slots[s];

      if (d == NULL || d->ops == NULL || d->ops->bar_map == NULL)
        continue;
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        {
          const struct vmm_pci_bar *b = &d->bars[i];

          if (!b->mapped || (d == gone && i == left) ||
              b->addr >= addr + size || addr >= b->addr + b->size)
            continue;
          d->ops->bar_map (d, i, b->addr, false);
          d->ops->bar_map (d, i, b->addr, true);
        }
    }
}

/* After a write to COMMAND or a BAR: move the mappings that changed. Host
 * lock held. */
static void
update_bars (struct vmm_pci_host *host, struct vmm_pci_device *dev)
{
  bool decode = vmm_pci_get16 (&dev->config[PCI_COMMAND]) & PCI_COMMAND_MEMORY;

  for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
    {
      struct vmm_pci_bar *bar = &dev->bars[i];
      uint64_t addr;
      bool map;

      if (bar->size == 0)
        continue;
      addr = bar_address (dev, i);
      /* An address at 0, or one reaching the top of the BAR's address
       * space (what sizing with decode left on leaves), is not decoded:
       * it would cover the LAPIC and IOAPIC. */
      map = decode && addr != 0 && addr + bar->size > addr &&
            (bar->is_64 || addr + bar->size - 1 < 0xffffffffull);
      if (bar->mapped && (!map || addr != bar->addr))
        {
          if (dev->ops && dev->ops->bar_map)
            dev->ops->bar_map (dev, i, bar->addr, false);
          bar->mapped = false;
          announce_again (host, dev, i, bar->addr, bar->size);
        }
      if (map && !bar->mapped)
        {
          bar->addr = addr;
          bar->mapped = true;
          if (dev->ops && dev->ops->bar_map)
            dev->ops->bar_map (dev, i, addr, true);
        }
    }
}

static void
config_read (struct vmm_pci_device *dev, uint32_t offset, void *data, uint32_t len)
{
  if (dev->ops && dev->ops->config_read)
    dev->ops->config_read (dev, offset, len);
  memcpy (data, &dev->config[offset], len);
}

static void
config_write (struct vmm_pci_host *host, struct vmm_pci_device *dev, uint32_t offset,
              const void *data, uint32_t len)
{
  const uint8_t *in = data;
  bool bars_touched = false;

  for (uint32_t i = 0; i < len; i++)
    {
      uint32_t o = offset + i;
      uint8_t keep = dev->config[o] & ~dev->wmask[o];

      dev->config[o] = (uint8_t) (keep | (in[i] & dev->wmask[o]));
      dev->config[o] &= (uint8_t) ~(in[i] & dev->w1cmask[o]);
      if (o == PCI_COMMAND || (o >= PCI_BAR0 && o < PCI_BAR0 + 4 * VMM_PCI_NUM_BARS))
        bars_touched = true;
    }
  if (bars_touched)
    update_bars (host, dev);
  if (dev->ops && dev->ops->config_write)
    dev->ops->config_write (dev, offset, len);
}

/* Finds the device for a bus/devfn; only function 0 of bus 0 has devices. */
static struct vmm_pci_device *
lookup (struct vmm_pci_host *host, unsigned bus, unsigned slot, unsigned fn)
{
  if (bus != 0 || fn != 0 || slot >= VMM_PCI_SLOTS)
    return NULL;
  return host->slots[slot];
}

static void
config_access (struct vmm_pci_host *host, unsigned bus, unsigned slot, unsigned fn, uint32_t reg,
        void *data, uint32_t len, bool write)
{
  struct vmm_pci_device *dev;

  /* Accesses must be naturally aligned and inside config space. */
  if ((len != 1 && len != 2 && len != 4) || (reg & (len - 1)) || reg + len > VMM_PCI_CONFIG_SIZE)
    return;
  pthread_mutex_lock (&host->lock);
  dev = lookup (host, bus, slot, fn);
  if (dev != NULL)
    {
      if (write)
        config_write (host, dev, reg, data, len);
      else
        config_read (dev, reg, data, len);
    }
  pthread_mutex_unlock (&host->lock);
}

/* Ports 0xcf8-0xcfb hold the address latch (only dword accesses reach it),
 * 0xcfc-0xcff the data window into the latched device's config space. */
static void
cf8_access (struct vmm_pci_host *host, uint64_t offset, void *data, uint32_t len, bool write)
{
  uint32_t addr;

  pthread_mutex_lock (&host->lock);
  if (offset == 1 && len == 1)
    {
      /* Reset control: RST_CPU (bit 2) set starts a reset, hard (SYS_RST,
       * bit 1) or soft; for us both restart the machine. */
      bool reset = false;

      if (write)
        {
          uint8_t v = *(uint8_t *) data & 0x0e;

          reset = (v & 0x04) && !(host->reset_control & 0x04);
          host->reset_control = reset ? 0 : v;
        }
      else
        *(uint8_t *) data = host->reset_control;
      pthread_mutex_unlock (&host->lock);
      if (reset && host->reset != NULL)
        host->reset (host->reset_opaque);
      return;
    }
  if (offset < 4)
    {
      if (offset == 0 && len == 4)
        {
          if (write)
            host->config_address = vmm_pci_get32 (data) & 0x80fffffcu;
          else
            vmm_pci_set32 (data, host->config_address);
        }
      pthread_mutex_unlock (&host->lock);
      return;
    }
  addr = host->config_address;
  pthread_mutex_unlock (&host->lock);
  if (!(addr & 0x80000000u) || offset - 4 + len > 4)
    return;
  config_access (host, (addr >> 16) & 0xff, (addr >> 11) & 0x1f, (addr >> 8) & 7,
                 (addr & 0xfc) + (uint32_t) (offset - 4), data, len, write);
}

static void
cf8_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  cf8_access (opaque, offset, data, len, false);
}

static void
cf8_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  cf8_access (opaque, offset, (void *) data, len, true);
}

const struct vmm_io_ops vmm_pci_cf8_ops = {
  .read = cf8_read,
  .write = cf8_write,
};

static void
ecam_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  config_access (opaque, (offset >> 20) & 0xff, (offset >> 15) & 0x1f, (offset >> 12) & 7,
          offset & 0xfff, data, len, false);
}

static void
ecam_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  config_access (opaque, (offset >> 20) & 0xff, (offset >> 15) & 0x1f, (offset >> 12) & 7,
          offset & 0xfff, (void *) data, len, true);
}

const struct vmm_io_ops vmm_pci_ecam_ops = {
  .read = ecam_read,
  .write = ecam_write,
};

void
vmm_pci_host_init (struct vmm_pci_host *host, uint64_t mmio32_base, uint64_t mmio32_size)
{
  memset (host, 0, sizeof *host);
  pthread_mutex_init (&host->lock, NULL);
  host->mmio32_next = mmio32_base;
  host->mmio32_end = mmio32_base + mmio32_size;
  host->enable_at_add = true;

  vmm_pci_device_init (&host->bridge, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
                       PCI_CLASS_BRIDGE_HOST, 0, HOST_BRIDGE_VENDOR, HOST_BRIDGE_DEVICE,
                       NULL, NULL);
  host->slots[0] = &host->bridge;
  host->bridge.slot = 0;
}

void
vmm_pci_host_destroy (struct vmm_pci_host *host)
{
  pthread_mutex_destroy (&host->lock);
}

static int add_locked (struct vmm_pci_host *host, struct vmm_pci_device *dev, int slot);

int
vmm_pci_host_add (struct vmm_pci_host *host, struct vmm_pci_device *dev)
{
  int slot = -1;
  int ret;

  pthread_mutex_lock (&host->lock);
  for (unsigned s = 1; s < VMM_PCI_SLOTS; s++)
    if (host->slots[s] == NULL)
      {
        slot = (int) s;
        break;
      }
  ret = slot < 0 ? -ENOSPC : add_locked (host, dev, slot);
  pthread_mutex_unlock (&host->lock);
  return ret;
}

int
vmm_pci_host_add_at (struct vmm_pci_host *host, struct vmm_pci_device *dev, unsigned slot)
{
  int ret;

  if (slot == 0 || slot >= VMM_PCI_SLOTS)
    return -EINVAL;
  pthread_mutex_lock (&host->lock);
  ret = host->slots[slot] != NULL ? -EBUSY : add_locked (host, dev, (int) slot);
  pthread_mutex_unlock (&host->lock);
  return ret;
}

/* Host lock held */
static int
add_locked (struct vmm_pci_host *host, struct vmm_pci_device *dev, int slot)
{
  uint64_t next;

  /* Assign every BAR, largest alignment first is not needed for a handful
   * of small BARs: align each to its size. */
  next = host->mmio32_next;
  for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
    {
      struct vmm_pci_bar *bar = &dev->bars[i];
      uint64_t addr;

      if (bar->size == 0)
        continue;
      addr = (next + bar->size - 1) & ~(bar->size - 1);
      if (addr + bar->size > host->mmio32_end || addr + bar->size < addr)
        return -ENOSPC;
      vmm_pci_set32 (&dev->config[PCI_BAR0 + 4 * i],
                     (uint32_t) addr | (vmm_pci_get32 (&dev->config[PCI_BAR0 + 4 * i]) & 0xf));
      if (bar->is_64)
        vmm_pci_set32 (&dev->config[PCI_BAR0 + 4 * (i + 1)], (uint32_t) (addr >> 32));
      next = addr + bar->size;
    }
  host->mmio32_next = next;
  dev->slot = (unsigned) slot;
  host->slots[slot] = dev;

  /* Firmware would enable decode; Linux and the probe find devices ready. */
  if (host->enable_at_add)
    vmm_pci_set16 (&dev->config[PCI_COMMAND],
                   vmm_pci_get16 (&dev->config[PCI_COMMAND]) | PCI_COMMAND_MEMORY);
  update_bars (host, dev);
  return slot;
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1

/* Bytes of the standard header that say which function this is: IDs,
 * revision, class, header type, subsystem IDs. */
static bool
same_identity (const uint8_t *a, const uint8_t *b)
{
  return memcmp (a, b, 4) == 0 && memcmp (a + PCI_REVISION_ID, b + PCI_REVISION_ID, 4) == 0 &&
         a[PCI_HEADER_TYPE] == b[PCI_HEADER_TYPE] &&
         memcmp (a + PCI_SUBSYSTEM_VENDOR_ID, b + PCI_SUBSYSTEM_VENDOR_ID, 4) == 0;
}

/* Whether the BAR decodes at all with config space CONFIG (update_bars'
 * rule), and where. */
static bool
bar_decodes (const struct vmm_pci_device *dev, const uint8_t *config, unsigned i,
             uint64_t *addr)
{
  const struct vmm_pci_bar *bar = &dev->bars[i];
  bool decode = vmm_pci_get16 (&config[PCI_COMMAND]) & PCI_COMMAND_MEMORY;
  uint64_t a = vmm_pci_get32 (&config[PCI_BAR0 + 4 * i]) & ~0xfull;

  if (bar->is_64)
    a |= (uint64_t) vmm_pci_get32 (&config[PCI_BAR0 + 4 * (i + 1)]) << 32;
  *addr = a;
  return bar->size != 0 && decode && a != 0 && a + bar->size > a &&
         (bar->is_64 || a + bar->size - 1 < 0xffffffffull);
}

void
vmm_pci_host_save (const struct vmm_pci_host *host, struct vmm_state_writer *w, const char *name)
{
  /* The lock only orders us after a config access still running; the
   * vCPUs are paused. */
  pthread_mutex_t *lock = (pthread_mutex_t *) &host->lock;
  unsigned n = 0;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u32 (w, host->config_address);
  vmm_state_put_u8 (w, host->reset_control);
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    n += host->slots[s] != NULL;
  vmm_state_put_u8 (w, (uint8_t) n);
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    {
      const struct vmm_pci_device *dev = host->slots[s];

      if (dev == NULL)
        continue;
      vmm_state_put_u8 (w, (uint8_t) s);
      vmm_state_put_bytes (w, dev->config, VMM_PCI_CONFIG_SIZE);
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        {
          vmm_state_put_bool (w, dev->bars[i].mapped);
          vmm_state_put_u64 (w, dev->bars[i].mapped ? dev->bars[i].addr : 0);
        }
    }
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

/* One function's saved state */
struct saved_function {
  uint8_t config[VMM_PCI_CONFIG_SIZE];
  bool mapped[VMM_PCI_NUM_BARS];
  uint64_t addr[VMM_PCI_NUM_BARS];
};

gboolean
vmm_pci_host_load (struct vmm_pci_host *host, const struct vmm_state_file *f, const char *name,
                   bool apply, GError **error)
{
  struct vmm_state_reader r;
  g_autofree struct saved_function *saved = NULL;
  bool present[VMM_PCI_SLOTS] = { false };
  uint32_t config_address;
  uint8_t reset_control;
  unsigned n, expected = 0;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  saved = g_new0 (struct saved_function, VMM_PCI_SLOTS);
  config_address = vmm_state_get_u32 (&r);
  if (config_address & ~0x80fffffcu)
    vmm_state_reader_fail (&r, N_("the PCI configuration address has reserved bits set"));
  reset_control = vmm_state_get_u8 (&r);
  /* RST_CPU (bit 2) never stays set: setting it resets at once */
  if (reset_control & ~0x0au)
    vmm_state_reader_fail (&r, N_("the PCI reset control register holds a bad value"));

  pthread_mutex_lock (&host->lock);
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    expected += host->slots[s] != NULL;
  n = vmm_state_get_u8 (&r);
  if (n != expected)
    vmm_state_reader_fail (&r, N_("the PCI functions are not this machine’s"));
  for (unsigned k = 0; k < n && r.failed == NULL; k++)
    {
      unsigned s = vmm_state_get_u8 (&r);
      const struct vmm_pci_device *dev;
      struct saved_function *sf;

      if (s >= VMM_PCI_SLOTS || host->slots[s] == NULL || present[s])
        {
          vmm_state_reader_fail (&r, N_("the PCI functions are not this machine’s"));
          break;
        }
      present[s] = true;
      dev = host->slots[s];
      sf = &saved[s];
      vmm_state_get_bytes (&r, sf->config, VMM_PCI_CONFIG_SIZE);
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        {
          sf->mapped[i] = vmm_state_get_bool (&r);
          sf->addr[i] = vmm_state_get_u64 (&r);
        }
      if (r.failed != NULL)
        break;
      if (!same_identity (sf->config, dev->config))
        {
          vmm_state_reader_fail (&r, N_("the PCI functions are not this machine’s"));
          break;
        }
      /* The decode follows from COMMAND and the BAR registers; one that
       * disagrees with them is damage, not a state the bus can be in. */
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        {
          uint64_t addr;
          bool decodes = bar_decodes (dev, sf->config, i, &addr);

          if (sf->mapped[i] != decodes || (sf->mapped[i] && sf->addr[i] != addr) ||
              (!sf->mapped[i] && sf->addr[i] != 0))
            vmm_state_reader_fail (&r, N_("a PCI BAR’s decoding does not match its register"));
        }
    }
  if (!vmm_state_reader_done (&r, error))
    {
      pthread_mutex_unlock (&host->lock);
      return FALSE;
    }
  if (!apply)
    {
      pthread_mutex_unlock (&host->lock);
      return TRUE;
    }

  host->config_address = config_address;
  host->reset_control = reset_control;
  /* Every BAR that moves or goes off first, then the saved ones on: never
   * two at once over the same addresses, whatever moved where. One that
   * stays where it is stays mapped (a revert to the same layout changes no
   * KVM mapping or ioeventfd). */
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    {
      struct vmm_pci_device *dev = host->slots[s];

      if (dev == NULL)
        continue;
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        if (dev->bars[i].mapped && !(saved[s].mapped[i] && saved[s].addr[i] == dev->bars[i].addr))
          {
            if (dev->ops && dev->ops->bar_map)
              dev->ops->bar_map (dev, i, dev->bars[i].addr, false);
            dev->bars[i].mapped = false;
          }
    }
  for (unsigned s = 0; s < VMM_PCI_SLOTS; s++)
    {
      struct vmm_pci_device *dev = host->slots[s];

      if (dev == NULL)
        continue;
      memcpy (dev->config, saved[s].config, VMM_PCI_CONFIG_SIZE);
      for (unsigned i = 0; i < VMM_PCI_NUM_BARS; i++)
        if (saved[s].mapped[i] && !dev->bars[i].mapped)
          {
            dev->bars[i].addr = saved[s].addr[i];
            dev->bars[i].mapped = true;
            if (dev->ops && dev->ops->bar_map)
              dev->ops->bar_map (dev, i, saved[s].addr[i], true);
          }
    }
  pthread_mutex_unlock (&host->lock);
  return TRUE;
}
