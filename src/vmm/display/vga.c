/* display/vga.c: the VGA core's registers, its memory window and DISPI
 *
 * What a guest reaches through ports 0x3b0-0x3df, the DISPI ports and the
 * 0xa0000-0xbffff window, after QEMU's hw/display/vga.c (our own code):
 * the attribute controller's flip-flop, sequencer, graphics controller,
 * CRTC (at 0x3b4 or 0x3d4 as MISC bit 0 says, registers 0-7 write-protected
 * by CR11 bit 7), the DAC, input status 1 with a retrace bit that toggles
 * at every read (what polling loops wait for), the planar memory with
 * chain-4, odd/even, write modes 0-3, the latches and read modes 0 and 1,
 * and the Bochs VBE registers with the 64 KiB banked window.
 *
 * Every index the guest writes is masked to the registers that exist;
 * DISPI values are clamped so the mode always fits the video memory.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "display/vga-core.h"
#include "display/vga.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zlib.h>

#define ST01_DISP_ENABLE  0x01
#define ST01_V_RETRACE    0x08

#define SR04_SEQ_MODE     0x04    /* 1: sequential (no odd/even) */
#define SR04_CHAIN4       0x08

#define FRAME_NS          16666667ull
/* With a flush hook, held-back writes show this soon: while the guest
 * writes, and when it has not for a second */
#define FLUSH_BUSY_NS     1000000000ull
#define FLUSH_IDLE_NS     50000000ull

/* The bits of each register that exist (QEMU's sr_mask and gr_mask) */
static const uint8_t sr_mask[8] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff };
static const uint8_t gr_mask[16] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff };

/* Bit I of the 4-bit value set: 0xff in byte (plane) I */
static uint32_t
expand4 (unsigned v)
{
  uint32_t r = 0;

  for (unsigned i = 0; i < 4; i++)
    if (v & (1u << i))
      r |= 0xffu << (8 * i);
  return r;
}

/* ---- the timer ------------------------------------------------------------------------------ */

static void
arm_timer (struct vmm_vga_core *core, uint64_t ns)
{
  struct itimerspec its = { 0 };

  if (core->timer_fd < 0)
    return;
  its.it_value.tv_sec = (time_t) (ns / 1000000000ull);
  its.it_value.tv_nsec = (long) (ns % 1000000000ull);
  if (timerfd_settime (core->timer_fd, 0, &its, NULL) == 0)
    core->timer_armed = true;
}

static void
touch_locked (struct vmm_vga_core *core)
{
  if (!core->timer_armed)
    arm_timer (core, FRAME_NS);
}

void
vmm_vga_core_touch (struct vmm_vga_core *core)
{
  pthread_mutex_lock (&core->lock);
  touch_locked (core);
  pthread_mutex_unlock (&core->lock);
}

static void
on_timer (void *opaque, int fd, uint32_t events)
{
  struct vmm_vga_core *core = opaque;
  uint64_t expirations, next, now;
  bool shown;

  (void) events;
  if (read (fd, &expirations, sizeof expirations) < 0 && errno == EAGAIN)
    return;
  pthread_mutex_lock (&core->lock);
  core->timer_armed = false;
  pthread_mutex_unlock (&core->lock);

  now = vmm_monotonic_ns ();
  if (core->flush != NULL && core->flush (core->flush_opaque) > 0)
    core->last_flushed_ns = now;
  next = vmm_vga_core_render (core, now);
  pthread_mutex_lock (&core->render_lock);
  shown = core->has_listener;
  pthread_mutex_unlock (&core->render_lock);
  /* nothing to poll for while nobody is shown the screen: a new listener
   * touches the core, which draws and polls again */
  if (core->flush != NULL && shown)
    {
      uint64_t poll = now - core->last_flushed_ns < FLUSH_BUSY_NS ? FRAME_NS : FLUSH_IDLE_NS;

      if (next == 0 || next > poll)
        next = poll;
    }
  if (next != 0)
    {
      pthread_mutex_lock (&core->lock);
      if (!core->timer_armed)
        arm_timer (core, next);
      pthread_mutex_unlock (&core->lock);
    }
}

/* ---- DISPI ---------------------------------------------------------------------------------- */

static unsigned
dispi_bpp (unsigned bpp)
{
  switch (bpp)
    {
    case 8: case 15: case 16: case 24: case 32:
      return bpp;
    default:
      return 8;
    }
}

/* Clamps the mode in R to what exists and fits SIZE bytes of video memory
 * (a guest may write anything), and derives the line length and start. */
static void
dispi_fixup_regs (struct vmm_vga_regs *r, uint64_t size)
{
  uint16_t *d = r->dispi;
  uint64_t line, maxy, offset;
  unsigned bytes;

  d[VBE_DISPI_INDEX_BPP] = (uint16_t) dispi_bpp (d[VBE_DISPI_INDEX_BPP]);
  bytes = (d[VBE_DISPI_INDEX_BPP] + 7) / 8;
  d[VBE_DISPI_INDEX_XRES] = (uint16_t) CLAMP (d[VBE_DISPI_INDEX_XRES] & ~7u, 8, VBE_DISPI_MAX_XRES);
  d[VBE_DISPI_INDEX_YRES] = (uint16_t) CLAMP (d[VBE_DISPI_INDEX_YRES], 1, VBE_DISPI_MAX_YRES);
  if (d[VBE_DISPI_INDEX_VIRT_WIDTH] < d[VBE_DISPI_INDEX_XRES])
    d[VBE_DISPI_INDEX_VIRT_WIDTH] = d[VBE_DISPI_INDEX_XRES];
  line = (uint64_t) d[VBE_DISPI_INDEX_VIRT_WIDTH] * bytes;
  if (line * d[VBE_DISPI_INDEX_YRES] > size)
    {
      /* too wide for the memory: back to no virtual width first */
      d[VBE_DISPI_INDEX_VIRT_WIDTH] = d[VBE_DISPI_INDEX_XRES];
      line = (uint64_t) d[VBE_DISPI_INDEX_XRES] * bytes;
    }
  maxy = size / line;          /* line <= 64000 < VMM_VGA_MIN_VRAM: at least 16 */
  if (d[VBE_DISPI_INDEX_YRES] > maxy)
    d[VBE_DISPI_INDEX_YRES] = (uint16_t) maxy;
  d[VBE_DISPI_INDEX_VIRT_HEIGHT] = (uint16_t) MIN (maxy, 0xffff);

  if (d[VBE_DISPI_INDEX_X_OFFSET] > d[VBE_DISPI_INDEX_VIRT_WIDTH] - d[VBE_DISPI_INDEX_XRES])
    d[VBE_DISPI_INDEX_X_OFFSET] = 0;
  offset = (uint64_t) d[VBE_DISPI_INDEX_Y_OFFSET] * line +
           (uint64_t) d[VBE_DISPI_INDEX_X_OFFSET] * bytes;
  if (offset + line * d[VBE_DISPI_INDEX_YRES] > size)
    {
      d[VBE_DISPI_INDEX_Y_OFFSET] = 0;
      offset = (uint64_t) d[VBE_DISPI_INDEX_X_OFFSET] * bytes;
      if (offset + line * d[VBE_DISPI_INDEX_YRES] > size)
        {
          d[VBE_DISPI_INDEX_X_OFFSET] = 0;
          offset = 0;
        }
    }
  r->vbe_line_offset = (uint32_t) line;
  r->vbe_start = (uint32_t) offset;
}

static void
dispi_fixup (struct vmm_vga_core *core)
{
  dispi_fixup_regs (&core->r, core->vram_size);
}

static bool
dispi_enabled (const struct vmm_vga_regs *r)
{
  return (r->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED) != 0;
}

uint16_t
vmm_vga_core_dispi_read (struct vmm_vga_core *core, uint16_t index)
{
  uint16_t v = 0;

  pthread_mutex_lock (&core->lock);
  if (core->r.dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS)
    {
      switch (index)
        {
        case VBE_DISPI_INDEX_XRES: v = VBE_DISPI_MAX_XRES; goto out;
        case VBE_DISPI_INDEX_YRES: v = VBE_DISPI_MAX_YRES; goto out;
        case VBE_DISPI_INDEX_BPP:  v = VBE_DISPI_MAX_BPP; goto out;
        default: break;
        }
    }
  if (index == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
    v = (uint16_t) (core->vram_size >> 16);
  else if (index < VBE_DISPI_INDEX_NB)
    v = core->r.dispi[index];
out:
  pthread_mutex_unlock (&core->lock);
  return v;
}

static void
dispi_enable (struct vmm_vga_core *core, uint16_t v)
{
  struct vmm_vga_regs *r = &core->r;
  bool was = dispi_enabled (r);

  r->dispi[VBE_DISPI_INDEX_ENABLE] = v;
  if ((v & VBE_DISPI_ENABLED) && !was)
    {
      r->dispi[VBE_DISPI_INDEX_VIRT_WIDTH] = 0;   /* fixup: the X resolution */
      r->dispi[VBE_DISPI_INDEX_X_OFFSET] = 0;
      r->dispi[VBE_DISPI_INDEX_Y_OFFSET] = 0;
      r->dispi[VBE_DISPI_INDEX_BANK] = 0;
      r->bank_offset = 0;
      dispi_fixup (core);
      if (!(v & VBE_DISPI_NOCLEARMEM))
        memset (core->vram, 0,
                (size_t) r->vbe_line_offset * r->dispi[VBE_DISPI_INDEX_YRES]);
      /* The legacy window as the banked window sees it: graphics, 64 KiB
       * at 0xa0000, chain-4 onto linear memory, all planes written. */
      r->gr[6] = (uint8_t) ((r->gr[6] & ~0x0c) | 0x05);
      r->sr[4] |= SR04_CHAIN4;
      r->sr[2] |= 0x0f;
    }
  else if (!(v & VBE_DISPI_ENABLED))
    {
      r->bank_offset = 0;
      r->dispi[VBE_DISPI_INDEX_BANK] = 0;
    }
}

void
vmm_vga_core_dispi_write (struct vmm_vga_core *core, uint16_t index, uint16_t v)
{
  struct vmm_vga_regs *r = &core->r;

  pthread_mutex_lock (&core->lock);
  switch (index)
    {
    case VBE_DISPI_INDEX_ID:
      if (v >= VBE_DISPI_ID0 && v <= VBE_DISPI_ID5)
        r->dispi[index] = v;
      break;
    case VBE_DISPI_INDEX_XRES:
    case VBE_DISPI_INDEX_YRES:
    case VBE_DISPI_INDEX_BPP:
    case VBE_DISPI_INDEX_VIRT_WIDTH:
    case VBE_DISPI_INDEX_X_OFFSET:
    case VBE_DISPI_INDEX_Y_OFFSET:
      r->dispi[index] = v;
      if (dispi_enabled (r))
        dispi_fixup (core);
      break;
    case VBE_DISPI_INDEX_BANK:
      v &= (uint16_t) ((core->vram_size >> 16) - 1);
      r->dispi[index] = v;
      r->bank_offset = (uint32_t) v << 16;
      break;
    case VBE_DISPI_INDEX_ENABLE:
      dispi_enable (core, v);
      break;
    default:
      /* VIRT_HEIGHT and VIDEO_MEMORY_64K are read-only; others do not exist */
      break;
    }
  touch_locked (core);
  pthread_mutex_unlock (&core->lock);
}

/* ---- the legacy registers ------------------------------------------------------------------- */

/* A port of the other CRTC location than MISC bit 0 selects */
static bool
port_absent (const struct vmm_vga_regs *r, uint16_t port)
{
  if (r->misc & 0x01)
    return port >= 0x3b0 && port <= 0x3bf;
  return port >= 0x3d0 && port <= 0x3df;
}

uint8_t
vmm_vga_core_port_read (struct vmm_vga_core *core, uint16_t port)
{
  struct vmm_vga_regs *r = &core->r;
  uint8_t v = 0xff;

  pthread_mutex_lock (&core->lock);
  if (port_absent (r, port))
    goto out;
  switch (port)
    {
    case 0x3c0:
      v = r->ar_index;
      break;
    case 0x3c1:
      v = (r->ar_index & 0x1f) <= 0x14 ? r->ar[r->ar_index & 0x1f] : 0;
      break;
    case 0x3c2:
      v = 0;                     /* input status 0 */
      break;
    case 0x3c4:
      v = r->sr_index;
      break;
    case 0x3c5:
      v = r->sr[r->sr_index];
      break;
    case 0x3c6:
      v = r->pel_mask;
      break;
    case 0x3c7:
      v = r->dac_state;
      break;
    case 0x3c8:
      v = r->dac_write_index;
      break;
    case 0x3c9:
      v = r->palette[r->dac_read_index * 3 + r->dac_sub];
      if (++r->dac_sub == 3)
        {
          r->dac_sub = 0;
          r->dac_read_index++;
        }
      break;
    case 0x3ca:
      v = r->fcr;
      break;
    case 0x3cc:
      v = r->misc;
      break;
    case 0x3ce:
      v = r->gr_index;
      break;
    case 0x3cf:
      v = r->gr[r->gr_index];
      break;
    case 0x3b4:
    case 0x3d4:
      v = r->cr_index;
      break;
    case 0x3b5:
    case 0x3d5:
      v = r->cr_index <= 0x18 ? r->cr[r->cr_index] : 0;
      break;
    case 0x3ba:
    case 0x3da:
      /* what a "wait for retrace" loop sees change */
      r->st01 ^= ST01_V_RETRACE | ST01_DISP_ENABLE;
      v = r->st01;
      r->ar_flip = false;
      break;
    default:
      break;
    }
out:
  pthread_mutex_unlock (&core->lock);
  return v;
}

static void
ar_write (struct vmm_vga_regs *r, uint8_t v)
{
  unsigned i = r->ar_index & 0x1f;

  if (!r->ar_flip)
    {
      r->ar_index = v & 0x3f;
      r->ar_flip = true;
      return;
    }
  r->ar_flip = false;
  if (i <= 0x0f)
    r->ar[i] = v & 0x3f;
  else if (i == 0x10)
    r->ar[i] = v & ~0x10;
  else if (i == 0x11)
    r->ar[i] = v;
  else if (i == 0x12)
    r->ar[i] = v & 0x3f;
  else if (i == 0x13 || i == 0x14)
    r->ar[i] = v & 0x0f;
}

void
vmm_vga_core_port_write (struct vmm_vga_core *core, uint16_t port, uint8_t v)
{
  struct vmm_vga_regs *r = &core->r;

  pthread_mutex_lock (&core->lock);
  if (port_absent (r, port))
    goto out;
  switch (port)
    {
    case 0x3c0:
    case 0x3c1:
      ar_write (r, v);
      break;
    case 0x3c2:
      r->misc = v & ~0x10;
      break;
    case 0x3c4:
      r->sr_index = v & 0x07;
      break;
    case 0x3c5:
      r->sr[r->sr_index] = v & sr_mask[r->sr_index];
      break;
    case 0x3c6:
      r->pel_mask = v;
      break;
    case 0x3c7:
      r->dac_read_index = v;
      r->dac_sub = 0;
      r->dac_state = 3;
      break;
    case 0x3c8:
      r->dac_write_index = v;
      r->dac_sub = 0;
      r->dac_state = 0;
      break;
    case 0x3c9:
      r->dac_cache[r->dac_sub++] = v;
      if (r->dac_sub == 3)
        {
          memcpy (&r->palette[r->dac_write_index * 3], r->dac_cache, 3);
          r->dac_write_index++;
          r->dac_sub = 0;
        }
      break;
    case 0x3ce:
      r->gr_index = v & 0x0f;
      break;
    case 0x3cf:
      r->gr[r->gr_index] = v & gr_mask[r->gr_index];
      break;
    case 0x3b4:
    case 0x3d4:
      r->cr_index = v;
      break;
    case 0x3b5:
    case 0x3d5:
      if (r->cr_index > 0x18)
        break;
      if ((r->cr[0x11] & 0x80) && r->cr_index <= 7)
        {
          /* protected, but for the line compare bit of the overflow */
          if (r->cr_index == 7)
            r->cr[7] = (uint8_t) ((r->cr[7] & ~0x10) | (v & 0x10));
          break;
        }
      r->cr[r->cr_index] = v;
      break;
    case 0x3ba:
    case 0x3da:
      r->fcr = v & 0x10;
      break;
    default:
      break;
    }
  touch_locked (core);
out:
  pthread_mutex_unlock (&core->lock);
}

/* ---- the memory window ---------------------------------------------------------------------- */

/* ADDR (from 0xa0000) as an offset into the GC's memory map, or -1 when
 * the map does not cover it */
static int64_t
window_offset (const struct vmm_vga_regs *r, uint64_t addr)
{
  switch ((r->gr[6] >> 2) & 3)
    {
    case 0:
      return (int64_t) addr;
    case 1:
      return addr < 0x10000 ? (int64_t) addr + r->bank_offset : -1;
    case 2:
      return addr >= 0x10000 && addr < 0x18000 ? (int64_t) addr - 0x10000 : -1;
    default:
      return addr >= 0x18000 ? (int64_t) addr - 0x18000 : -1;
    }
}

static uint8_t
mem_readb (struct vmm_vga_core *core, uint64_t addr)
{
  struct vmm_vga_regs *r = &core->r;
  int64_t off = window_offset (r, addr);
  uint32_t latch;

  if (off < 0 || (uint64_t) off >= core->vram_size)
    return 0xff;
  if (r->sr[4] & SR04_CHAIN4)
    return core->vram[off];
  if (!(r->sr[4] & SR04_SEQ_MODE))
    {
      unsigned plane = (r->gr[4] & 2) | (off & 1);

      return core->vram[(((uint64_t) off & 0x1fffe) << 1) | plane];
    }
  off &= 0xffff;
  memcpy (&latch, core->vram + off * 4, 4);
  r->latch = latch;
  if (!(r->gr[5] & 0x08))
    return (uint8_t) (latch >> ((r->gr[4] & 3) * 8));
  /* read mode 1: a bit is set where all the planes the don't-care
   * register names match the colour compare register */
  latch = (latch ^ expand4 (r->gr[2])) & expand4 (r->gr[7]);
  latch |= latch >> 16;
  latch |= latch >> 8;
  return (uint8_t) ~latch;
}

static void
mem_writeb (struct vmm_vga_core *core, uint64_t addr, uint8_t val)
{
  struct vmm_vga_regs *r = &core->r;
  int64_t off = window_offset (r, addr);
  uint32_t v, bit_mask, plane_mask, word;
  unsigned rot;

  if (off < 0 || (uint64_t) off >= core->vram_size)
    return;
  if (r->sr[4] & SR04_CHAIN4)
    {
      if (r->sr[2] & (1u << (off & 3)))
        core->vram[off] = val;
      return;
    }
  if (!(r->sr[4] & SR04_SEQ_MODE))
    {
      unsigned plane = (r->gr[4] & 2) | (off & 1);

      if (r->sr[2] & (1u << plane))
        core->vram[(((uint64_t) off & 0x1fffe) << 1) | plane] = val;
      return;
    }

  off &= 0xffff;
  rot = r->gr[3] & 7;
  bit_mask = r->gr[8];
  switch (r->gr[5] & 3)
    {
    case 0:
      v = (uint8_t) ((val >> rot) | (val << (8 - rot)));
      v *= 0x01010101u;
      v = (v & ~expand4 (r->gr[1])) | (expand4 (r->gr[0]) & expand4 (r->gr[1]));
      break;
    case 1:
      v = r->latch;
      goto write;
    case 2:
      v = expand4 (val & 0x0f);
      break;
    default:
      v = (uint8_t) ((val >> rot) | (val << (8 - rot)));
      bit_mask &= v;
      v = expand4 (r->gr[0]);
      break;
    }
  switch ((r->gr[3] >> 3) & 3)
    {
    case 1: v &= r->latch; break;
    case 2: v |= r->latch; break;
    case 3: v ^= r->latch; break;
    default: break;
    }
  bit_mask *= 0x01010101u;
  v = (v & bit_mask) | (r->latch & ~bit_mask);
write:
  plane_mask = expand4 (r->sr[2]);
  memcpy (&word, core->vram + off * 4, 4);
  word = (word & ~plane_mask) | (v & plane_mask);
  memcpy (core->vram + off * 4, &word, 4);
}

static void
mem_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_vga_core *core = opaque;
  uint8_t *p = data;

  pthread_mutex_lock (&core->lock);
  for (uint32_t i = 0; i < len; i++)
    p[i] = mem_readb (core, offset + i);
  pthread_mutex_unlock (&core->lock);
}

static void
mem_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_vga_core *core = opaque;
  const uint8_t *p = data;

  pthread_mutex_lock (&core->lock);
  for (uint32_t i = 0; i < len; i++)
    mem_writeb (core, offset + i, p[i]);
  touch_locked (core);
  pthread_mutex_unlock (&core->lock);
}

const struct vmm_io_ops vmm_vga_mem_ops = { .read = mem_read, .write = mem_write };

/* ---- the port ranges ------------------------------------------------------------------------ */

static void
ioport_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  uint8_t *p = data;

  for (uint32_t i = 0; i < len; i++)
    p[i] = vmm_vga_core_port_read (opaque, (uint16_t) (VMM_VGA_IOPORT_BASE + offset + i));
}

static void
ioport_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  const uint8_t *p = data;

  /* a 16-bit out to an index port writes the index, then the data */
  for (uint32_t i = 0; i < len; i++)
    vmm_vga_core_port_write (opaque, (uint16_t) (VMM_VGA_IOPORT_BASE + offset + i), p[i]);
}

const struct vmm_io_ops vmm_vga_ioport_ops = { .read = ioport_read, .write = ioport_write };

static void
dispi_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_vga_core *core = opaque;
  uint16_t v;

  if (offset == 0)
    {
      pthread_mutex_lock (&core->lock);
      v = core->r.dispi_index;
      pthread_mutex_unlock (&core->lock);
    }
  else
    {
      pthread_mutex_lock (&core->lock);
      v = core->r.dispi_index;
      pthread_mutex_unlock (&core->lock);
      v = vmm_vga_core_dispi_read (core, v);
    }
  memcpy (data, &v, MIN (len, 2u));
}

static void
dispi_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_vga_core *core = opaque;
  uint16_t v = 0, index;

  memcpy (&v, data, MIN (len, 2u));
  if (len == 1 && offset == 1)
    return;                    /* the high byte of the index: 16-bit only */
  pthread_mutex_lock (&core->lock);
  if (offset == 0)
    {
      core->r.dispi_index = v;
      pthread_mutex_unlock (&core->lock);
      return;
    }
  index = core->r.dispi_index;
  pthread_mutex_unlock (&core->lock);
  vmm_vga_core_dispi_write (core, index, v);
}

const struct vmm_io_ops vmm_vga_dispi_ops = { .read = dispi_read, .write = dispi_write };

/* ---- saved state ----------------------------------------------------------------------------
 * The section (version 1):
 *
 *   u32 video memory size            the machine's: a state of another size is refused
 *   u8  misc, sr_index, sr[8], gr_index, gr[16], cr_index, cr[32], ar_index, ar[32]
 *   bool ar_flip
 *   u8  dac_state, dac_read_index, dac_write_index, dac_sub, dac_cache[3], palette[768],
 *       pel_mask, st01, fcr
 *   u32 latch
 *   u16 dispi_index, dispi[VBE_DISPI_INDEX_NB]
 *   zblob video memory               a zblob (vmm_state_put_zblob)
 *
 * What follows from the registers (the DISPI line length, start and bank
 * offset, the mode the renderer draws) is derived again on load, not
 * trusted. The renderer's last frame, its timer and the blink phase are
 * the host's: a restored display draws its next frame whole. */

#define VGA_STATE_VERSION  1

/* The bits attribute controller register I has (ar_write) */
static uint8_t
ar_mask (unsigned i)
{
  if (i <= 0x0f || i == 0x12)
    return 0x3f;
  if (i == 0x10)
    return (uint8_t) ~0x10;
  if (i == 0x11)
    return 0xff;
  if (i == 0x13 || i == 0x14)
    return 0x0f;
  return 0;
}

void
vmm_vga_core_save (struct vmm_vga_core *core, struct vmm_state_writer *w, const char *name)
{
  struct vmm_vga_regs r;

  pthread_mutex_lock (&core->lock);
  r = core->r;
  pthread_mutex_unlock (&core->lock);

  vmm_state_begin (w, name, VGA_STATE_VERSION);
  vmm_state_put_u32 (w, core->vram_size);
  vmm_state_put_u8 (w, r.misc);
  vmm_state_put_u8 (w, r.sr_index);
  vmm_state_put_bytes (w, r.sr, sizeof r.sr);
  vmm_state_put_u8 (w, r.gr_index);
  vmm_state_put_bytes (w, r.gr, sizeof r.gr);
  vmm_state_put_u8 (w, r.cr_index);
  vmm_state_put_bytes (w, r.cr, sizeof r.cr);
  vmm_state_put_u8 (w, r.ar_index);
  vmm_state_put_bytes (w, r.ar, sizeof r.ar);
  vmm_state_put_bool (w, r.ar_flip);
  vmm_state_put_u8 (w, r.dac_state);
  vmm_state_put_u8 (w, r.dac_read_index);
  vmm_state_put_u8 (w, r.dac_write_index);
  vmm_state_put_u8 (w, r.dac_sub);
  vmm_state_put_bytes (w, r.dac_cache, sizeof r.dac_cache);
  vmm_state_put_bytes (w, r.palette, sizeof r.palette);
  vmm_state_put_u8 (w, r.pel_mask);
  vmm_state_put_u8 (w, r.st01);
  vmm_state_put_u8 (w, r.fcr);
  vmm_state_put_u32 (w, r.latch);
  vmm_state_put_u16 (w, r.dispi_index);
  for (unsigned i = 0; i < VBE_DISPI_INDEX_NB; i++)
    vmm_state_put_u16 (w, r.dispi[i]);
  /* read without the lock: the guest writes it directly (the LFB), and
   * the caller has paused it */
  vmm_state_put_zblob (w, core->vram, core->vram_size);
  vmm_state_end (w);
}

/* Reads the registers into R, checking each can be what the guest made
 * it, and derives the DISPI values that follow from them */
static void
load_regs (struct vmm_state_reader *rd, struct vmm_vga_regs *r, uint32_t vram_size)
{
  bool bad_bits = false;
  struct vmm_vga_regs fixed;

  memset (r, 0, sizeof *r);
  if (vmm_state_get_u32 (rd) != vram_size)
    vmm_state_reader_fail (rd, N_("the video memory is not this display's size"));
  r->misc = vmm_state_get_u8 (rd);
  r->sr_index = vmm_state_get_u8 (rd);
  vmm_state_get_bytes (rd, r->sr, sizeof r->sr);
  r->gr_index = vmm_state_get_u8 (rd);
  vmm_state_get_bytes (rd, r->gr, sizeof r->gr);
  r->cr_index = vmm_state_get_u8 (rd);
  vmm_state_get_bytes (rd, r->cr, sizeof r->cr);
  r->ar_index = vmm_state_get_u8 (rd);
  vmm_state_get_bytes (rd, r->ar, sizeof r->ar);
  r->ar_flip = vmm_state_get_bool (rd);
  r->dac_state = vmm_state_get_u8 (rd);
  r->dac_read_index = vmm_state_get_u8 (rd);
  r->dac_write_index = vmm_state_get_u8 (rd);
  r->dac_sub = vmm_state_get_u8 (rd);
  vmm_state_get_bytes (rd, r->dac_cache, sizeof r->dac_cache);
  vmm_state_get_bytes (rd, r->palette, sizeof r->palette);
  r->pel_mask = vmm_state_get_u8 (rd);
  r->st01 = vmm_state_get_u8 (rd);
  r->fcr = vmm_state_get_u8 (rd);
  r->latch = vmm_state_get_u32 (rd);
  r->dispi_index = vmm_state_get_u16 (rd);
  for (unsigned i = 0; i < VBE_DISPI_INDEX_NB; i++)
    r->dispi[i] = vmm_state_get_u16 (rd);
  if (rd->failed != NULL)
    return;

  /* the indices, as the port writes mask them */
  if (r->sr_index >= G_N_ELEMENTS (r->sr) || r->gr_index >= G_N_ELEMENTS (r->gr) ||
      r->ar_index > 0x3f)
    vmm_state_reader_fail (rd, N_("a register index is out of range"));
  /* the bits each register has (the CRTC's beyond 0x18 are never written) */
  for (unsigned i = 0; i < G_N_ELEMENTS (r->sr); i++)
    bad_bits |= (r->sr[i] & ~sr_mask[i]) != 0;
  for (unsigned i = 0; i < G_N_ELEMENTS (r->gr); i++)
    bad_bits |= (r->gr[i] & ~gr_mask[i]) != 0;
  for (unsigned i = 0; i < G_N_ELEMENTS (r->ar); i++)
    bad_bits |= (r->ar[i] & ~ar_mask (i)) != 0;
  for (unsigned i = 0x19; i < G_N_ELEMENTS (r->cr); i++)
    bad_bits |= r->cr[i] != 0;
  bad_bits |= (r->misc & 0x10) || (r->fcr & ~0x10) ||
              (r->st01 & ~(ST01_V_RETRACE | ST01_DISP_ENABLE));
  if (bad_bits)
    vmm_state_reader_fail (rd, N_("a register holds bits it does not have"));
  if ((r->dac_state != 0 && r->dac_state != 3) || r->dac_sub > 2)
    vmm_state_reader_fail (rd, N_("the DAC is in a state it cannot be in"));

  if (r->dispi[VBE_DISPI_INDEX_ID] < VBE_DISPI_ID0 ||
      r->dispi[VBE_DISPI_INDEX_ID] > VBE_DISPI_ID5 ||
      r->dispi[VBE_DISPI_INDEX_BANK] > (vram_size >> 16) - 1 ||
      r->dispi[VBE_DISPI_INDEX_VIDEO_MEMORY_64K] != 0)
    vmm_state_reader_fail (rd, N_("a VBE register holds a value it cannot hold"));
  /* an enabled mode is one dispi_fixup made: it leaves it as it is */
  fixed = *r;
  if (dispi_enabled (r))
    {
      dispi_fixup_regs (&fixed, vram_size);
      if (memcmp (fixed.dispi, r->dispi, sizeof r->dispi) != 0)
        vmm_state_reader_fail (rd, N_("the VBE mode does not fit the video memory"));
    }
  r->vbe_line_offset = fixed.vbe_line_offset;
  r->vbe_start = fixed.vbe_start;
  r->bank_offset = (uint32_t) r->dispi[VBE_DISPI_INDEX_BANK] << 16;
}

gboolean
vmm_vga_core_load (struct vmm_vga_core *core, const struct vmm_state_file *f, const char *name,
                   bool apply, GError **error)
{
  struct vmm_state_reader rd;
  struct vmm_vga_regs r;
  uint8_t *vram = NULL;

  if (!vmm_state_reader_init (&rd, f, name, VGA_STATE_VERSION, error))
    return FALSE;
  load_regs (&rd, &r, core->vram_size);
  if (rd.failed == NULL)
    {
      vram = malloc (core->vram_size);
      if (vram == NULL)
        vmm_state_reader_fail (&rd, N_("there is not enough memory to restore it"));
      else
        vmm_state_get_zblob (&rd, vram, core->vram_size);
    }
  if (!vmm_state_reader_done (&rd, error))
    {
      free (vram);
      return FALSE;
    }
  if (!apply)
    {
      free (vram);
      return TRUE;
    }

  pthread_mutex_lock (&core->lock);
  core->r = r;
  memcpy (core->vram, vram, core->vram_size);
  pthread_mutex_unlock (&core->lock);
  free (vram);
  /* the next frame goes out whole, drawn from the restored registers */
  pthread_mutex_lock (&core->render_lock);
  core->new_listener = true;
  pthread_mutex_unlock (&core->render_lock);
  vmm_vga_core_touch (core);
  return TRUE;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

void
vmm_vga_core_reset (struct vmm_vga_core *core)
{
  pthread_mutex_lock (&core->lock);
  memset (&core->r, 0, sizeof core->r);
  core->r.dispi[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
  core->r.dispi[VBE_DISPI_INDEX_BPP] = 8;
  core->r.pel_mask = 0xff;
  touch_locked (core);
  pthread_mutex_unlock (&core->lock);
}

bool
vmm_vga_core_init (struct vmm_vga_core *core, uint8_t *vram, uint32_t vram_size,
                   struct vmm_loop *loop, GError **error)
{
  int ret;

  memset (core, 0, sizeof *core);
  pthread_mutex_init (&core->lock, NULL);
  pthread_mutex_init (&core->render_lock, NULL);
  core->vram = vram;
  core->vram_size = vram_size;
  core->loop = loop;
  core->shown_null = true;
  core->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (core->timer_fd < 0)
    {
      ret = -errno;
      goto fail;
    }
  ret = vmm_loop_add (loop, core->timer_fd, EPOLLIN, on_timer, core);
  if (ret < 0)
    goto fail;
  core->timer_added = true;
  vmm_vga_core_reset (core);
  return true;

fail:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-ret),
               _("Cannot set up the VGA display's timer: %s"), g_strerror (-ret));
  if (core->timer_fd >= 0)
    close (core->timer_fd);
  pthread_mutex_destroy (&core->lock);
  pthread_mutex_destroy (&core->render_lock);
  return false;
}

void
vmm_vga_core_destroy (struct vmm_vga_core *core)
{
  if (core->timer_added)
    vmm_loop_remove (core->loop, core->timer_fd);
  if (core->timer_fd >= 0)
    close (core->timer_fd);
  free (core->frame);
  free (core->line);
  pthread_mutex_destroy (&core->lock);
  pthread_mutex_destroy (&core->render_lock);
}

void
vmm_vga_core_set_flush (struct vmm_vga_core *core, unsigned (*flush) (void *opaque),
                        void *opaque)
{
  core->flush = flush;
  core->flush_opaque = opaque;
  if (flush != NULL)
    vmm_vga_core_touch (core);
}

void
vmm_vga_core_set_listener (struct vmm_vga_core *core, const struct vmm_display_listener *listener)
{
  pthread_mutex_lock (&core->render_lock);
  core->has_listener = listener != NULL;
  if (listener != NULL)
    core->listener = *listener;
  core->new_listener = true;
  pthread_mutex_unlock (&core->render_lock);
  vmm_vga_core_touch (core);
}
