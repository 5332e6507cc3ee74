/* display/vga-core.h: the VGA core, apart from any PCI face
 *
 * The registers, the video memory and the renderer of a VGA with the
 * DISPI extension. display/vga-pci.c puts it behind 1234:1111; a
 * virtio-vga would put the same core beside virtio-gpu. The legacy ops
 * tables in vga.h take a core as opaque (a struct vmm_vga starts with one).
 *
 * Video memory: planes are interleaved, plane P's byte at offset O is
 * vram[O * 4 + P], as in QEMU, so chain-4 (mode 13h) and the VBE modes
 * see it as linear memory. Plane offsets are 16 bits (256 KiB).
 *
 * Locking: LOCK covers the registers (vCPU threads); RENDER_LOCK the
 * frame and the listener (the loop thread). The renderer copies the
 * registers under LOCK, then reads video memory without it: the guest
 * writes the LFB directly anyway, so a frame may tear, never crash.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "display/display.h"
#include "log.h"
#include "loop.h"
#include "snapshot/state.h"

/* DISPI registers */
#define VBE_DISPI_INDEX_ID              0x0
#define VBE_DISPI_INDEX_XRES            0x1
#define VBE_DISPI_INDEX_YRES            0x2
#define VBE_DISPI_INDEX_BPP             0x3
#define VBE_DISPI_INDEX_ENABLE          0x4
#define VBE_DISPI_INDEX_BANK            0x5
#define VBE_DISPI_INDEX_VIRT_WIDTH      0x6
#define VBE_DISPI_INDEX_VIRT_HEIGHT     0x7
#define VBE_DISPI_INDEX_X_OFFSET        0x8
#define VBE_DISPI_INDEX_Y_OFFSET        0x9
#define VBE_DISPI_INDEX_VIDEO_MEMORY_64K 0xa
#define VBE_DISPI_INDEX_NB              0xb

#define VBE_DISPI_ID0                   0xb0c0
#define VBE_DISPI_ID5                   0xb0c5
#define VBE_DISPI_MAX_XRES              16000
#define VBE_DISPI_MAX_YRES              12000
#define VBE_DISPI_MAX_BPP               32

#define VBE_DISPI_ENABLED               0x01
#define VBE_DISPI_GETCAPS               0x02
#define VBE_DISPI_8BIT_DAC              0x20
#define VBE_DISPI_LFB_ENABLED           0x40
#define VBE_DISPI_NOCLEARMEM            0x80

struct vmm_vga_regs {
  uint8_t misc;
  uint8_t sr_index, sr[8];
  uint8_t gr_index, gr[16];
  uint8_t cr_index, cr[32];
  uint8_t ar_index, ar[32];
  bool ar_flip;                 /* false: the next 0x3c0 write is an index */
  uint8_t dac_state;            /* 0: writing, 3: reading (0x3c7) */
  uint8_t dac_read_index, dac_write_index, dac_sub;
  uint8_t dac_cache[3];
  uint8_t palette[768];
  uint8_t pel_mask;
  uint8_t st01;                 /* input status 1 */
  uint8_t fcr;                  /* feature control */
  uint32_t latch;
  uint16_t dispi_index;
  uint16_t dispi[VBE_DISPI_INDEX_NB];
  /* derived from the DISPI registers when enabled */
  uint32_t vbe_line_offset;     /* bytes */
  uint32_t vbe_start;           /* bytes into video memory */
  uint32_t bank_offset;         /* bytes, the 64 KiB window's base */
};

struct vmm_vga_core {
  pthread_mutex_t lock;
  struct vmm_vga_regs r;
  bool dispi_getcaps;
  uint8_t *vram;
  uint32_t vram_size;
  struct vmm_ratelimit rl;

  /* the renderer */
  pthread_mutex_t render_lock;
  struct vmm_loop *loop;
  unsigned (*flush) (void *opaque);  /* vmm_vga_env's, or NULL */
  void *flush_opaque;
  uint64_t last_flushed_ns;     /* when FLUSH last handed writes over */
  int timer_fd;
  bool timer_added;
  bool timer_armed;             /* under LOCK */
  uint64_t last_change_ns;      /* under RENDER_LOCK */
  struct vmm_display_listener listener;
  bool has_listener;
  bool new_listener;            /* send the whole surface */
  bool shown_null;              /* the listener was last given NULL */
  uint32_t *frame;              /* what the listener was last shown */
  uint32_t frame_w, frame_h;
  size_t frame_cap;             /* pixels */
  uint32_t *line;               /* one line, being drawn */
  size_t line_cap;
};

/* VRAM (VRAM_SIZE bytes, the caller's) is shown; LOOP runs the timer. */
bool vmm_vga_core_init    (struct vmm_vga_core *core, uint8_t *vram, uint32_t vram_size,
                           struct vmm_loop *loop, GError **error);
void vmm_vga_core_destroy (struct vmm_vga_core *core);
/* FLUSH (vmm_vga_env's) runs before every frame; with one, frames are
 * polled for even when nothing touched the core. Before the loop starts. */
void vmm_vga_core_set_flush (struct vmm_vga_core *core, unsigned (*flush) (void *opaque),
                             void *opaque);
void vmm_vga_core_reset   (struct vmm_vga_core *core);
void vmm_vga_core_set_listener (struct vmm_vga_core *core,
                                const struct vmm_display_listener *listener);

/* Port accesses by VGA port number (0x3b0-0x3df), one byte */
uint8_t  vmm_vga_core_port_read   (struct vmm_vga_core *core, uint16_t port);
void     vmm_vga_core_port_write  (struct vmm_vga_core *core, uint16_t port, uint8_t v);
/* DISPI register INDEX */
uint16_t vmm_vga_core_dispi_read  (struct vmm_vga_core *core, uint16_t index);
void     vmm_vga_core_dispi_write (struct vmm_vga_core *core, uint16_t index, uint16_t v);

/* Something the screen shows may have changed: draw soon. Takes LOCK. */
void vmm_vga_core_touch (struct vmm_vga_core *core);

/* The core's part of a saved state: the registers and the video memory,
 * in the section NAME (vga.h, vmm_vga_save). */
void     vmm_vga_core_save (struct vmm_vga_core *core, struct vmm_state_writer *w,
                            const char *name);
gboolean vmm_vga_core_load (struct vmm_vga_core *core, const struct vmm_state_file *f,
                            const char *name, bool apply, GError **error);

/* vga-render.c: draws a frame and tells the listener what changed.
 * Returns when to draw again (ns from now), 0 for "when touched". */
uint64_t vmm_vga_core_render (struct vmm_vga_core *core, uint64_t now_ns);
