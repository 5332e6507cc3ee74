/* snapmode.c: mode=snapshot, a guest whose state a snapshot must keep
 *
 * The probe fills snap_touch MiB of RAM from 32 MiB on with a pattern (page
 * P holds pattern_fill's bytes for seed 0 at offset P * 4096), then ticks
 * every snap_ms milliseconds (default 50, by the TSC). Tick N rewrites one
 * of the first 1024 pages of that region with seed N, writes 4 KiB block
 * N % 1024 of the first virtio-blk disk (if there is one) with seed N,
 * and, with a virtio-console, writes "snap tick N\n" to its port 0 and the
 * same text (no newline) as a VD_AGENT_CLIPBOARD message to the SPICE
 * agent's port, which is how a SPICE client sees it; with a virtio-gpu it
 * fills a TICK_SIDE square at (TICK_X, TICK_Y) of resource 1 (on scanout 0,
 * the rest BACKGROUND) with tick_colour (N) and transfers and flushes it.
 * Every tenth tick it prints
 *   # snap tick N
 * It keeps what it wrote where in two ledgers in its own memory. A
 * snapshot holds memory, disk and ledgers of one instant, so after a
 * revert they still agree, and the ticks go on from the snapshot's.
 *
 * On the serial line:
 *   v  checks everything against the ledgers: every page of the region,
 *      every block written, and that the TSC did not go back since the
 *      last check; then the devices' queues as the snapshot left them: a
 *      write to console port 0, a clipboard message to the agent's port and
 *      PORT_OPEN (1) for port 0 on the control queue come back used (port 0
 *      and the agent get "snap check at tick N"), and on the gpu a
 *      TRANSFER_TO_HOST_2D and RESOURCE_FLUSH of resource 1 (created at the
 *      start) answer OK_NODATA and a MOVE_CURSOR comes back used; prints
 *      TAP lines (the tick they were made at in each)
 *   h  holds: no more ticks until g; prints "# snap held at tick N". A
 *      snapshot taken then has every tick's output complete, so the
 *      harness knows exactly what each device should show after a revert
 *   g  ticks again (the first 50 ms later)
 *   q  prints the plan and powers off
 * A host harness sends v after a revert, h before and g after taking a
 * snapshot, q at the end.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "acpi.h"
#include "blkdev.h"
#include "console.h"
#include "gpu.h"
#include "lib.h"
#include "pci.h"
#include "snapmode.h"

#define REGION_BASE   (32ull << 20)
#define PAGE          4096ull
#define HOT_PAGES     1024u
#define DISK_BLOCKS   1024u
#define BLOCK         4096u
#define SECTOR        512u

/* The screen: resource 1 in the 16 MiB below the region */
#define FB_BASE       (16ull << 20)
#define FB_BYTES      (16u << 20)
#define RES_ID        1u
#define BACKGROUND    0x303030u
#define TICK_X        32u
#define TICK_Y        32u
#define TICK_SIDE     128u

/* The SPICE agent's port and its message framing (agent.c has the rest) */
#define AGENT_PORT_NAME   "com.redhat.spice.0"
#define VDP_CLIENT_PORT   1
#define VD_AGENT_PROTOCOL 1
#define VD_AGENT_CLIPBOARD 4
#define VD_AGENT_CLIPBOARD_UTF8_TEXT 1

static struct blk_disk disks[BLK_MAX_DISKS];
static uint32_t page_seed[HOT_PAGES];       /* 0: the fill's */
static uint32_t block_seed[DISK_BLOCKS];    /* 0: never written */
static uint8_t block_buf[BLOCK] __attribute__ ((aligned (4096)));

static struct gpu gpu;
static bool screen;
static uint32_t scr_w, scr_h;
static bool console;
static int agent_port = -1;
static uint8_t agent_msg[64];

static uint8_t *
region_page (uint64_t p)
{
  return (uint8_t *) (REGION_BASE + p * PAGE);
}

static struct blk_disk *
first_disk (const struct pci *pci)
{
  unsigned n = blk_find (pci, disks, BLK_MAX_DISKS);

  for (unsigned i = 0; i < n; i++)
    if (blk_setup (&disks[i], 1))
      return &disks[i];
  return NULL;
}

/* The colour of tick N's square: R 0x80, G and B N's low 16 bits, so
 * the harness can read the tick off any of its pixels */
static uint32_t
tick_colour (unsigned tick)
{
  return 0x800000u | (tick & 0xffffu);
}

static struct gpu_rect
tick_rect (void)
{
  return (struct gpu_rect) { TICK_X, TICK_Y, TICK_SIDE, TICK_SIDE };
}

/* Resource 1 of the display's size (1024x768 if it says none) on scanout
 * 0, BACKGROUND with tick 0's square; false without a usable gpu */
static bool
screen_start (const struct pci *pci)
{
  struct gpu_rect rects[16];
  bool enabled[16];
  uint32_t *fb = (uint32_t *) FB_BASE;
  struct gpu_rect all;

  scr_w = 1024;
  scr_h = 768;
  if (!gpu_find (&gpu, pci) || !gpu_setup (&gpu))
    return false;
  if (gpu_display_info (&gpu, rects, enabled) == GPU_RESP_OK_DISPLAY_INFO && enabled[0]
      && rects[0].w >= TICK_X + TICK_SIDE && rects[0].h >= TICK_Y + TICK_SIDE
      && (uint64_t) rects[0].w * rects[0].h * 4 <= FB_BYTES)
    {
      scr_w = rects[0].w;
      scr_h = rects[0].h;
    }
  all = (struct gpu_rect) { 0, 0, scr_w, scr_h };
  for (uint64_t i = 0; i < (uint64_t) scr_w * scr_h; i++)
    fb[i] = BACKGROUND;
  return gpu_create_2d (&gpu, RES_ID, GPU_FMT_B8G8R8X8, scr_w, scr_h) == GPU_RESP_OK_NODATA
         && gpu_attach (&gpu, RES_ID, FB_BASE, scr_w * scr_h * 4) == GPU_RESP_OK_NODATA
         && gpu_set_scanout (&gpu, 0, RES_ID, all) == GPU_RESP_OK_NODATA
         && gpu_transfer (&gpu, RES_ID, all, 0) == GPU_RESP_OK_NODATA
         && gpu_flush (&gpu, RES_ID, all) == GPU_RESP_OK_NODATA;
}

/* Transfer and flush of the square; *t and *f get the answers */
static bool
screen_show (uint32_t *t, uint32_t *f)
{
  struct gpu_rect r = tick_rect ();

  *t = gpu_transfer (&gpu, RES_ID, r, ((uint64_t) r.y * scr_w + r.x) * 4);
  *f = gpu_flush (&gpu, RES_ID, r);
  return *t == GPU_RESP_OK_NODATA && *f == GPU_RESP_OK_NODATA;
}

static bool
screen_tick (unsigned tick)
{
  uint32_t *fb = (uint32_t *) FB_BASE, t, f;

  for (uint32_t y = TICK_Y; y < TICK_Y + TICK_SIDE; y++)
    for (uint32_t x = TICK_X; x < TICK_X + TICK_SIDE; x++)
      fb[(uint64_t) y * scr_w + x] = tick_colour (tick);
  return screen_show (&t, &f);
}

/* The multiport console with port 0 open and the agent's port if there
 * is one (a SPICE display brings it) */
static bool
console_start (const struct pci *pci)
{
  if (!con_attach (pci))
    return false;
  agent_port = con_find_port (AGENT_PORT_NAME);
  if (agent_port >= 0 && !con_open_port ((unsigned) agent_port))
    agent_port = -1;
  return true;
}

static void
put32 (uint8_t *p, uint32_t v)
{
  memcpy (p, &v, 4);
}

/* TEXT as the clipboard's content, unasked: a chunk header, a message
 * header, the clipboard type and the text */
static bool
agent_send_text (const char *text)
{
  uint32_t len = (uint32_t) strlen (text);

  if (agent_port < 0)
    return true;
  if (len > sizeof agent_msg - 32)
    len = sizeof agent_msg - 32;
  put32 (agent_msg, VDP_CLIENT_PORT);
  put32 (agent_msg + 4, 20 + 4 + len);
  put32 (agent_msg + 8, VD_AGENT_PROTOCOL);
  put32 (agent_msg + 12, VD_AGENT_CLIPBOARD);
  memset (agent_msg + 16, 0, 8);
  put32 (agent_msg + 24, 4 + len);
  put32 (agent_msg + 28, VD_AGENT_CLIPBOARD_UTF8_TEXT);
  memcpy (agent_msg + 32, text, len);
  return con_write ((unsigned) agent_port, agent_msg, 32 + len);
}

/* TEXT and a newline to port 0, TEXT to the agent; drains what came in
 * (the SPICE client's messages to the agent, unanswered) */
static bool
console_line (const char *text)
{
  char line[64];
  uint8_t sink[256];
  int n = snprintf (line, sizeof line, "%s\n", text);
  bool ok = con_write (0, line, (uint32_t) n);

  ok = agent_send_text (text) && ok;
  con_poll ();
  for (unsigned p = 0; p < 4; p++)
    while (con_take (p, sink, sizeof sink) > 0)
      ;
  return ok;
}

/* Every page of the region and every block written agree with the ledgers */
static void
verify (struct blk_disk *disk, uint64_t pages, unsigned tick, uint64_t *last_tsc)
{
  uint64_t bad_page = UINT64_MAX, bad_block = UINT64_MAX, tsc = rdtsc ();
  unsigned blocks = 0;

  for (uint64_t p = 0; p < pages && bad_page == UINT64_MAX; p++)
    if (pattern_check (region_page (p), PAGE, p * PAGE, p < HOT_PAGES ? page_seed[p] : 0) >= 0)
      bad_page = p;
  tap_ok (bad_page == UINT64_MAX, "snap: at tick %u, the %lu MiB of memory hold what the "
          "probe wrote (first bad page %ld)", tick, (unsigned long) (pages * PAGE >> 20),
          bad_page == UINT64_MAX ? -1l : (long) bad_page);
  if (disk != NULL)
    {
      for (unsigned b = 0; b < DISK_BLOCKS && bad_block == UINT64_MAX; b++)
        {
          if (block_seed[b] == 0)
            continue;
          blocks++;
          if (blk_rw (disk, 0, VIRTIO_BLK_T_IN, (uint64_t) b * (BLOCK / SECTOR), block_buf,
                      BLOCK) != VIRTIO_BLK_S_OK
              || pattern_check (block_buf, BLOCK, (uint64_t) b * BLOCK, block_seed[b]) >= 0)
            bad_block = b;
        }
      tap_ok (bad_block == UINT64_MAX, "snap: at tick %u, the %u disk blocks written read back "
              "as written (first bad block %ld)", tick, blocks,
              bad_block == UINT64_MAX ? -1l : (long) bad_block);
    }
  tap_ok (tsc >= *last_tsc, "snap: at tick %u, the TSC went on (0x%lx after 0x%lx)", tick, tsc,
          *last_tsc);
  *last_tsc = tsc;
  if (console)
    {
      char text[48];
      bool open, line;

      snprintf (text, sizeof text, "snap check at tick %u", tick);
      line = console_line (text);
      open = con_open_port (0);
      tap_ok (line && open, "snap: at tick %u, virtio-console: a write to port 0%s: %s; "
              "PORT_OPEN on the control queue: %s", tick,
              agent_port >= 0 ? " and one to the agent's port" : "",
              line ? "used" : "not used", open ? "used" : "not used");
    }
  if (screen)
    {
      uint32_t t, f;
      bool shown = screen_show (&t, &f), moved = gpu_move_cursor (&gpu, TICK_X, TICK_Y);

      tap_ok (shown && moved, "snap: at tick %u, virtio-gpu: TRANSFER_TO_HOST_2D %s, "
              "RESOURCE_FLUSH %s (resource %u), MOVE_CURSOR %s",
              tick, gpu_resp_name (t), gpu_resp_name (f), RES_ID,
              moved ? "used" : "not used");
    }
}

NORETURN void
snapshot_mode (const struct pci *pci, const struct acpi *acpi, uint64_t ram_top)
{
  uint64_t touch = cmdline_number ("snap_touch", 16) << 20;
  uint64_t period = cmdline_number ("snap_ms", 50), pages, next, last_tsc = rdtsc ();
  struct blk_disk *disk = first_disk (pci);
  unsigned tick = 0;
  bool held = false;

  if (touch < HOT_PAGES * PAGE || REGION_BASE + touch > ram_top)
    tap_bail ("snapshot: snap_touch must be at least 4 MiB and fit below 0x%lx", ram_top);
  if (!map_phys (REGION_BASE, touch))
    tap_bail ("snapshot: cannot map the region");
  pages = touch / PAGE;
  for (uint64_t p = 0; p < pages; p++)
    pattern_fill (region_page (p), PAGE, p * PAGE, 0);
  screen = screen_start (pci) && screen_tick (0);
  console = console_start (pci);
  tap_diag ("snap start: %lu MiB touched, disk %s (%lu sectors), screen %s (%ux%u), console %s "
            "(agent port %d), a tick every %lu ms", touch >> 20, disk ? "yes" : "none",
            disk ? disk->capacity : 0, screen ? "yes" : "no", scr_w, scr_h,
            console ? "yes" : "no", agent_port, period);

  next = deadline_after_ms (period);
  for (;;)
    {
      int c = serial_getc ();

      if (c == 'v')
        verify (disk, pages, tick, &last_tsc);
      else if (c == 'h')
        {
          held = true;
          tap_diag ("snap held at tick %u", tick);
        }
      else if (c == 'g' && held)
        {
          held = false;
          next = deadline_after_ms (period);
        }
      else if (c == 'q')
        {
          tap_diag ("snap: stopping at tick %u", tick);
          tap_plan ();
          acpi_power_off (acpi);
          tap_bail ("power-off did not take effect");
        }
      if (held || !deadline_passed (next))
        {
          cpu_relax ();
          continue;
        }
      tick++;
      page_seed[tick % HOT_PAGES] = tick;
      pattern_fill (region_page (tick % HOT_PAGES), PAGE, (uint64_t) (tick % HOT_PAGES) * PAGE,
                    tick);
      if (disk != NULL)
        {
          unsigned b = tick % DISK_BLOCKS;

          pattern_fill (block_buf, BLOCK, (uint64_t) b * BLOCK, tick);
          if (blk_rw (disk, 0, VIRTIO_BLK_T_OUT, (uint64_t) b * (BLOCK / SECTOR), block_buf,
                      BLOCK) == VIRTIO_BLK_S_OK)
            block_seed[b] = tick;
          else
            tap_ok (false, "snap: tick %u: the write of block %u failed", tick, b);
        }
      if (console)
        {
          char text[32];

          snprintf (text, sizeof text, "snap tick %u", tick);
          if (!console_line (text))
            tap_ok (false, "snap: tick %u: a console write did not come back", tick);
        }
      if (screen && !screen_tick (tick))
        tap_ok (false, "snap: tick %u: the screen's transfer or flush failed", tick);
      if (tick % 10 == 0)
        tap_diag ("snap tick %u", tick);
      next = deadline_after_ms (period);
    }
}
