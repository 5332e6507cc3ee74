/* display/vga-pci.c: the VGA core as PCI function 1234:1111
 *
 * QEMU's "VGA" device as its guests find it: class 03 00 00, revision 2,
 * subsystem 1af4:1100; BAR0 the video memory (prefetchable), mapped into
 * the guest as RAM so the LFB costs no exits; BAR2 4 KiB of MMIO with the
 * EDID, the VGA ports and the DISPI registers ("qemu extended regs").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "display/vga.h"
#include "display/vga-core.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "display/edid.h"

#define VGA_VENDOR          0x1234
#define VGA_DEVICE          0x1111
#define PCI_CLASS_VGA       0x030000
#define VGA_REVISION        2
#define SUBSYS_VENDOR       0x1af4
#define SUBSYS_ID           0x1100

#define MMIO_BAR            2
#define MMIO_SIZE           0x1000
#define MMIO_EDID           0x000
#define MMIO_EDID_END       0x400
#define MMIO_VGA            0x400
#define MMIO_VGA_END        0x420
#define MMIO_DISPI          0x500
#define MMIO_DISPI_END      (MMIO_DISPI + VBE_DISPI_INDEX_NB * 2)

struct vmm_vga {
  struct vmm_vga_core core;       /* first: the legacy ops take a vga as a core */
  struct vmm_pci_device pci;
  struct vmm_vga_env env;
  uint8_t *vram;
  uint32_t vram_size;
  uint8_t edid[VMM_EDID_SIZE];
  bool vram_mapped, mmio_mapped;
  uint64_t vram_addr, mmio_addr;
};

/* ---- BAR2 ----------------------------------------------------------------------------------- */

static void
mmio_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_vga *vga = opaque;
  uint8_t *p = data;

  memset (data, 0, len);
  if (offset + len <= MMIO_EDID_END)
    {
      for (uint32_t i = 0; i < len; i++)
        p[i] = offset + i < VMM_EDID_SIZE ? vga->edid[offset + i] : 0;
    }
  else if (offset >= MMIO_VGA && offset + len <= MMIO_VGA_END)
    {
      for (uint32_t i = 0; i < len; i++)
        p[i] = vmm_vga_core_port_read (&vga->core,
                                       (uint16_t) (0x3c0 + offset - MMIO_VGA + i));
    }
  else if (offset >= MMIO_DISPI && offset + len <= MMIO_DISPI_END && len == 2 && !(offset & 1))
    {
      uint16_t v = vmm_vga_core_dispi_read (&vga->core, (uint16_t) ((offset - MMIO_DISPI) / 2));

      memcpy (data, &v, 2);
    }
}

static void
mmio_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_vga *vga = opaque;
  const uint8_t *p = data;

  if (offset >= MMIO_VGA && offset + len <= MMIO_VGA_END)
    {
      for (uint32_t i = 0; i < len; i++)
        vmm_vga_core_port_write (&vga->core, (uint16_t) (0x3c0 + offset - MMIO_VGA + i), p[i]);
    }
  else if (offset >= MMIO_DISPI && offset + len <= MMIO_DISPI_END && len == 2 && !(offset & 1))
    {
      uint16_t v;

      memcpy (&v, data, 2);
      vmm_vga_core_dispi_write (&vga->core, (uint16_t) ((offset - MMIO_DISPI) / 2), v);
    }
}

static const struct vmm_io_ops mmio_ops = { .read = mmio_read, .write = mmio_write };

/* ---- PCI ------------------------------------------------------------------------------------ */

static void
vga_bar_map (struct vmm_pci_device *pci, unsigned bar, uint64_t addr, bool map)
{
  struct vmm_vga *vga = pci->opaque;
  int ret;

  if (bar == 0 && vga->env.map_ram != NULL)
    {
      if (vga->vram_mapped)
        {
          vga->env.map_ram (vga->env.map_opaque, vga->vram_addr, vga->vram_size, vga->vram,
                            false);
          vga->vram_mapped = false;
        }
      if (map)
        {
          ret = vga->env.map_ram (vga->env.map_opaque, addr, vga->vram_size, vga->vram, true);
          if (ret < 0)
            vmm_log_guest (&vga->core.rl, "vga: cannot map the video memory at %#llx: %s",
                           (unsigned long long) addr, g_strerror (-ret));
          else
            {
              vga->vram_mapped = true;
              vga->vram_addr = addr;
            }
        }
    }
  else if (bar == MMIO_BAR && vga->env.mmio != NULL)
    {
      if (vga->mmio_mapped)
        {
          vmm_bus_unregister (vga->env.mmio, vga->mmio_addr, vga);
          vga->mmio_mapped = false;
        }
      if (map)
        {
          ret = vmm_bus_register (vga->env.mmio, addr, MMIO_SIZE, &mmio_ops, vga, "vga");
          if (ret < 0)
            vmm_log_guest (&vga->core.rl, "vga: BAR2 at %#llx overlaps another device",
                           (unsigned long long) addr);
          else
            {
              vga->mmio_mapped = true;
              vga->mmio_addr = addr;
            }
        }
    }
}

static const struct vmm_pci_device_ops pci_ops = { .bar_map = vga_bar_map };

/* ---- API ------------------------------------------------------------------------------------ */

struct vmm_vga *
vmm_vga_new (const struct vmm_vga_config *config, const struct vmm_vga_env *env, GError **error)
{
  uint32_t size = config->vram_size != 0 ? config->vram_size : VMM_VGA_DEFAULT_VRAM;
  struct vmm_vga *vga;
  void *vram;

  if (size < VMM_VGA_MIN_VRAM || size > VMM_VGA_MAX_VRAM || (size & (size - 1)) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("The VGA display's video memory must be a power of two from %u to %u MiB, "
                     "not %u bytes"),
                   VMM_VGA_MIN_VRAM >> 20, VMM_VGA_MAX_VRAM >> 20, size);
      return NULL;
    }
  vga = calloc (1, sizeof *vga);
  if (vga == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, g_strerror (ENOMEM));
      return NULL;
    }
  vram = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
  if (vram == MAP_FAILED)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   _("Cannot allocate the VGA display's video memory: %s"), g_strerror (err));
      free (vga);
      return NULL;
    }
  vga->vram = vram;
  vga->vram_size = size;
  vga->env = *env;
  if (!vmm_vga_core_init (&vga->core, vga->vram, size, env->loop, error))
    {
      munmap (vram, size);
      free (vga);
      return NULL;
    }
  vmm_vga_core_set_flush (&vga->core, env->flush, env->flush_opaque);
  vmm_edid_build (vga->edid, config->edid_width ? config->edid_width : 1024,
                  config->edid_height ? config->edid_height : 768);
  vmm_pci_device_init (&vga->pci, VGA_VENDOR, VGA_DEVICE, PCI_CLASS_VGA, VGA_REVISION,
                       SUBSYS_VENDOR, SUBSYS_ID, &pci_ops, vga);
  vmm_pci_device_set_bar (&vga->pci, 0, size, false, true);
  vmm_pci_device_set_bar (&vga->pci, MMIO_BAR, MMIO_SIZE, false, false);
  return vga;
}

void
vmm_vga_free (struct vmm_vga *vga)
{
  if (vga == NULL)
    return;
  vga_bar_map (&vga->pci, 0, 0, false);
  vga_bar_map (&vga->pci, MMIO_BAR, 0, false);
  vmm_vga_core_destroy (&vga->core);
  munmap (vga->vram, vga->vram_size);
  free (vga);
}

void
vmm_vga_reset (struct vmm_vga *vga)
{
  vmm_vga_core_reset (&vga->core);
}

struct vmm_pci_device *
vmm_vga_pci_dev (struct vmm_vga *vga)
{
  return &vga->pci;
}

void
vmm_vga_set_listener (struct vmm_vga *vga, const struct vmm_display_listener *listener)
{
  vmm_vga_core_set_listener (&vga->core, listener);
}

uint8_t *
vmm_vga_vram (struct vmm_vga *vga, uint32_t *size)
{
  if (size != NULL)
    *size = vga->vram_size;
  return vga->vram;
}

void
vmm_vga_render (struct vmm_vga *vga, uint64_t now_ns)
{
  if (vga->core.flush != NULL)
    vga->core.flush (vga->core.flush_opaque);
  vmm_vga_core_render (&vga->core, now_ns);
}

void
vmm_vga_save (struct vmm_vga *vga, struct vmm_state_writer *w, const char *name)
{
  vmm_vga_core_save (&vga->core, w, name);
}

gboolean
vmm_vga_load (struct vmm_vga *vga, const struct vmm_state_file *f, const char *name, bool apply,
              GError **error)
{
  return vmm_vga_core_load (&vga->core, f, name, apply, error);
}
