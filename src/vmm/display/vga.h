/* display/vga.h: QEMU's "std VGA" as a guest sees it
 *
 * A VGA core (the legacy registers, four planes of video memory, text and
 * graphics modes) with the Bochs VBE "DISPI" extension and a linear
 * framebuffer, behind PCI function 1234:1111 (class 03 00 00): the screen
 * SeaBIOS's VGA BIOS (vgabios-stdvga.bin), OVMF's QemuVideoDxe and boot
 * loaders draw on. What it shows goes to a struct vmm_display_listener,
 * the one virtio-gpu feeds.
 *
 * The caller registers the legacy ranges on its buses with the vga as
 * opaque: vmm_vga_ioport_ops at VMM_VGA_IOPORT_BASE, vmm_vga_dispi_ops at
 * VMM_VGA_DISPI_BASE (port bus), vmm_vga_mem_ops at VMM_VGA_MEM_BASE (MMIO
 * bus). The PCI function (vmm_vga_pci_dev) has the video memory as BAR0,
 * mapped into the guest as RAM through the caller's map_ram, and a 4 KiB
 * MMIO BAR2: the EDID at 0x000, the VGA ports 0x3c0-0x3df at 0x400, the
 * DISPI registers (16-bit, index × 2) at 0x500, as QEMU's stdvga has them.
 * No expansion ROM BAR: the VGA BIOS comes through fw_cfg.
 *
 * The screen is drawn on the loop thread (a timer, about 60 Hz while
 * something changes) into an XRGB8888 surface; only changed rectangles are
 * passed on. With no mode set (DISPI off and CRTC registers that describe
 * no screen) the listener gets set_surface (NULL); a mode that is set but
 * blanked (attribute controller's palette address source off, or the
 * sequencer's screen-off bit) shows as black at that mode's size.
 * A client's request_size is ignored: a VGA has no way to tell its guest.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "devices/pci.h"
#include "display/display.h"
#include "loop.h"
#include "snapshot/state.h"

#define VMM_VGA_IOPORT_BASE   0x3b0     /* 0x3b0-0x3df: mono CRTC, then 0x3c0-0x3df */
#define VMM_VGA_IOPORT_LEN    0x30
#define VMM_VGA_DISPI_BASE    0x1ce     /* index; data at 0x1cf (and 0x1d0) */
#define VMM_VGA_DISPI_LEN     3
#define VMM_VGA_MEM_BASE      0xa0000
#define VMM_VGA_MEM_LEN       0x20000

#define VMM_VGA_DEFAULT_VRAM  (16u << 20)
#define VMM_VGA_MIN_VRAM      (1u << 20)
#define VMM_VGA_MAX_VRAM      (256u << 20)

struct vmm_vga_config {
  uint32_t vram_size;        /* a power of two, VMM_VGA_MIN_VRAM..MAX; 0: the default */
  uint32_t edid_width;       /* the EDID's preferred mode; 0: 1024 × 768 */
  uint32_t edid_height;
};

struct vmm_vga_env {
  struct vmm_loop *loop;     /* where the screen is drawn */
  struct vmm_bus *mmio;      /* where BAR2 goes */
  /* Maps HOST (SIZE bytes, page-aligned) at GPA as guest RAM (a KVM
   * memory slot), or removes that mapping (MAP false). Called from the PCI
   * host's BAR updates. Returns 0 or -errno. May be NULL (nothing mapped:
   * the LFB is then only reachable through the banked window). */
  int (*map_ram) (void *opaque, uint64_t gpa, uint64_t size, void *host, bool map);
  void *map_opaque;
  /* Hands the device the window writes the VMM holds back (KVM's
   * coalesced MMIO ring) and returns how many: called, without the
   * device's locks, before each frame is drawn. As a held-back write
   * touches nothing, the device then polls while its screen is shown: at
   * frame rate for a second after writes came, every 50 ms otherwise.
   * May be NULL (every write exits). */
  unsigned (*flush) (void *opaque);
  void *flush_opaque;
};

struct vmm_vga;

extern const struct vmm_io_ops vmm_vga_ioport_ops;
extern const struct vmm_io_ops vmm_vga_dispi_ops;
extern const struct vmm_io_ops vmm_vga_mem_ops;

/* Errors: G_IO_ERROR (a bad configuration, no memory, no timer). */
struct vmm_vga *vmm_vga_new (const struct vmm_vga_config *config, const struct vmm_vga_env *env,
                             GError **error);
/* Unmaps BAR0 and BAR2 if mapped. The caller has removed the legacy
 * ranges and stopped the loop (its timer handler may otherwise run once
 * more). */
void            vmm_vga_free (struct vmm_vga *vga);
/* Power-on state: registers cleared, DISPI off (video memory kept). */
void            vmm_vga_reset (struct vmm_vga *vga);

struct vmm_pci_device *vmm_vga_pci_dev (struct vmm_vga *vga);
/* LISTENER NULL: none. Called from any thread; the next frame goes to it
 * as a new surface. */
void            vmm_vga_set_listener (struct vmm_vga *vga,
                                      const struct vmm_display_listener *listener);

/* The video memory (BAR0's host side) and its size */
uint8_t        *vmm_vga_vram (struct vmm_vga *vga, uint32_t *size);
/* Draws the screen now, as the timer does, as at time NOW_NS
 * (vmm_monotonic_ns; it decides the blink phases). */
void            vmm_vga_render (struct vmm_vga *vga, uint64_t now_ns);

/* The display's saved state (snapshot/README.md), in the section NAME:
 * the VGA registers (sequencer, graphics controller, CRTC, attribute
 * controller, the DAC with its palette and indices, misc output, the
 * latches) and the DISPI ones, and the video memory, compressed. The
 * mode is derived again from the registers on load. The PCI function's
 * configuration (BARs, command) is the PCI host's to save; restoring it
 * maps the video memory where the guest put it. The EDID is the
 * machine's configuration, not state.
 *
 * The caller has paused the vCPUs (the guest writes the video memory
 * directly). load refuses a state for another video memory size or with
 * registers no guest could have set, changing nothing; with APPLY it
 * takes the registers and memory, and the next frame drawn is sent whole.
 * Both take the core's locks: call them without. */
void     vmm_vga_save (struct vmm_vga *vga, struct vmm_state_writer *w, const char *name);
gboolean vmm_vga_load (struct vmm_vga *vga, const struct vmm_state_file *f, const char *name,
                       bool apply, GError **error);
