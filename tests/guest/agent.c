/* agent.c: a tiny SPICE guest agent on the "com.redhat.spice.0" port
 *
 * The VDI port protocol as spice-protocol's vd_agent.h lays it out (our
 * own constants: the probe is freestanding): the byte stream is chunks, a
 * VDIChunkHeader {port, size} and size bytes; the chunks' bytes, per port,
 * are messages, a VDAgentMessage {protocol, type, opaque, size} and size
 * bytes of data.  A message may span chunks.  The agent does what
 * protocol.md asks: capabilities, monitors configuration, the clipboard
 * by demand, one selection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "agent.h"
#include "console.h"
#include "pattern.h"

#define VDP_CLIENT_PORT 1
#define VDP_SERVER_PORT 2
#define VD_AGENT_PROTOCOL 1

#define VD_AGENT_MONITORS_CONFIG        2
#define VD_AGENT_REPLY                  3
#define VD_AGENT_CLIPBOARD              4
#define VD_AGENT_ANNOUNCE_CAPABILITIES  6
#define VD_AGENT_CLIPBOARD_GRAB         7
#define VD_AGENT_CLIPBOARD_REQUEST      8

#define VD_AGENT_CAP_MONITORS_CONFIG     1
#define VD_AGENT_CAP_REPLY               2
#define VD_AGENT_CAP_CLIPBOARD_BY_DEMAND 5

#define VD_AGENT_SUCCESS                 1
#define VD_AGENT_CLIPBOARD_UTF8_TEXT     1
#define VD_AGENT_CLIPBOARD_IMAGE_PNG     2

#define CHUNK_HDR 8
#define MSG_HDR   20
#define MSG_MAX   4096          /* kept of a message; the rest is skipped */
#define CLIP_MAX  1024
/* After the guest opened the port, how long to wait for the host's
 * PORT_OPEN before announcing anyway (not every VMM sends it) */
#define OPEN_WAIT_MS 200

struct reasm
{
  uint8_t msg[MSG_MAX];
  uint32_t have, need;          /* need: 0 until the header is in */
};

static int port = -1;
static uint64_t open_deadline;
static bool announced;
static int last_host_open = -1;

static uint8_t chunk_hdr[CHUNK_HDR];
static uint32_t chunk_hdr_have, chunk_left, chunk_port;
static struct reasm reasm[2];   /* client, server */

static char clip_text[CLIP_MAX];
static bool clip_offered;
static uint32_t clip_type;      /* what was offered: text, or pattern_png */

static uint8_t out[CHUNK_HDR + MSG_HDR + CLIP_MAX + 16];

static void put32 (uint8_t *p, uint32_t v) { memcpy (p, &v, 4); }
static uint32_t get32 (const uint8_t *p) { uint32_t v; memcpy (&v, p, 4); return v; }

static bool
send_msg (uint32_t type, const void *data, uint32_t len)
{
  put32 (out, VDP_CLIENT_PORT);
  put32 (out + 4, MSG_HDR + len);
  put32 (out + 8, VD_AGENT_PROTOCOL);
  put32 (out + 12, type);
  memset (out + 16, 0, 8);      /* opaque */
  put32 (out + 24, len);
  memcpy (out + CHUNK_HDR + MSG_HDR, data, len);
  return con_write ((unsigned) port, out, CHUNK_HDR + MSG_HDR + len);
}

static void
announce (uint32_t request)
{
  uint8_t d[8];

  put32 (d, request);
  put32 (d + 4, 1u << VD_AGENT_CAP_MONITORS_CONFIG | 1u << VD_AGENT_CAP_REPLY
                | 1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
  send_msg (VD_AGENT_ANNOUNCE_CAPABILITIES, d, sizeof d);
}

bool
agent_start (const struct pci *pci)
{
  if (!con_attach (pci))
    return false;
  port = con_find_port (AGENT_PORT_NAME);
  if (port < 0)
    return false;
  con_open_port ((unsigned) port);
  open_deadline = deadline_after_ms (OPEN_WAIT_MS);
  return true;
}

static void
print_clipboard (const uint8_t *p, uint32_t n)
{
  char line[400];
  size_t k = 0;

  for (uint32_t i = 0; i < n && k + 5 < sizeof line; i++)
    if (p[i] >= 0x20 && p[i] <= 0x7e)
      line[k++] = (char) p[i];
    else
      k += (size_t) snprintf (line + k, sizeof line - k, "\\x%02x", p[i]);
  line[k] = '\0';
  tap_diag ("agent clipboard %s", line);
}

/* An image from the host, in hex: the test decodes it */
static void
print_png (const uint8_t *p, uint32_t n, uint32_t size)
{
  static char line[2 * 240 + 1];    /* a TAP line holds 512 bytes */
  static const char hex[] = "0123456789abcdef";
  uint32_t k = 0;

  for (uint32_t i = 0; i < n && k + 2 < sizeof line; i++)
    {
      line[k++] = hex[p[i] >> 4];
      line[k++] = hex[p[i] & 15];
    }
  line[k] = '\0';
  tap_diag ("agent clipboard-png %u %s", size, line);
}

static void
handle_msg (const uint8_t *m, uint32_t kept, void (*monitors) (uint32_t, uint32_t))
{
  uint32_t type = get32 (m + 4), size = get32 (m + 16);
  const uint8_t *d = m + MSG_HDR;
  uint32_t n = kept - MSG_HDR;   /* what we have of the data */

  if (get32 (m) != VD_AGENT_PROTOCOL)
    {
      tap_diag ("agent: a message with protocol %u", get32 (m));
      return;
    }
  switch (type)
    {
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
      if (n >= 4 && get32 (d) != 0)
        announce (0);
      break;
    case VD_AGENT_MONITORS_CONFIG:
      if (n >= 8 + 20 && get32 (d) >= 1)
        {
          uint8_t r[8];
          uint32_t h = get32 (d + 8), w = get32 (d + 12);

          put32 (r, VD_AGENT_MONITORS_CONFIG);
          put32 (r + 4, VD_AGENT_SUCCESS);
          send_msg (VD_AGENT_REPLY, r, sizeof r);
          if (monitors)
            monitors (w, h);
          tap_diag ("agent monitors %ux%u", w, h);
        }
      break;
    case VD_AGENT_CLIPBOARD_GRAB:
      {
        /* Text when there is text, else an image */
        uint32_t want = 0;

        for (uint32_t i = 0; i + 4 <= n; i += 4)
          if (get32 (d + i) == VD_AGENT_CLIPBOARD_UTF8_TEXT)
            want = VD_AGENT_CLIPBOARD_UTF8_TEXT;
          else if (get32 (d + i) == VD_AGENT_CLIPBOARD_IMAGE_PNG && want == 0)
            want = VD_AGENT_CLIPBOARD_IMAGE_PNG;
        if (want != 0)
          {
            uint8_t r[4];

            put32 (r, want);
            send_msg (VD_AGENT_CLIPBOARD_REQUEST, r, sizeof r);
          }
      }
      break;
    case VD_AGENT_CLIPBOARD:
      if (n >= 4 && get32 (d) == VD_AGENT_CLIPBOARD_UTF8_TEXT)
        print_clipboard (d + 4, (size < n ? size : n) - 4);
      else if (n >= 4 && get32 (d) == VD_AGENT_CLIPBOARD_IMAGE_PNG)
        print_png (d + 4, (size < n ? size : n) - 4, size - 4);
      break;
    case VD_AGENT_CLIPBOARD_REQUEST:
      if (clip_offered && n >= 4 && clip_type == VD_AGENT_CLIPBOARD_IMAGE_PNG
          && get32 (d) == VD_AGENT_CLIPBOARD_IMAGE_PNG)
        {
          static uint8_t c[4 + sizeof pattern_png];

          put32 (c, VD_AGENT_CLIPBOARD_IMAGE_PNG);
          memcpy (c + 4, pattern_png, sizeof pattern_png);
          send_msg (VD_AGENT_CLIPBOARD, c, sizeof c);
          tap_diag ("done clippng");
        }
      else if (clip_offered && n >= 4 && clip_type == VD_AGENT_CLIPBOARD_UTF8_TEXT
               && get32 (d) == VD_AGENT_CLIPBOARD_UTF8_TEXT)
        {
          uint32_t len = (uint32_t) strlen (clip_text);
          static uint8_t c[4 + CLIP_MAX];

          put32 (c, VD_AGENT_CLIPBOARD_UTF8_TEXT);
          memcpy (c + 4, clip_text, len);
          send_msg (VD_AGENT_CLIPBOARD, c, 4 + len);
          tap_diag ("done clip");
        }
      break;
    default:
      break;
    }
}

/* Feeds chunk data of one port into its message reassembly */
static void
feed (struct reasm *r, const uint8_t *p, uint32_t n, void (*monitors) (uint32_t, uint32_t))
{
  while (n > 0)
    {
      uint32_t want = r->need ? r->need - r->have : MSG_HDR - r->have;
      uint32_t take = n < want ? n : want;

      for (uint32_t i = 0; i < take; i++, r->have++)
        if (r->have < MSG_MAX)
          r->msg[r->have] = p[i];
      p += take;
      n -= take;
      if (!r->need && r->have == MSG_HDR)
        r->need = MSG_HDR + get32 (r->msg + 16);
      if (r->need && r->have == r->need)
        {
          handle_msg (r->msg, r->have < MSG_MAX ? r->have : MSG_MAX, monitors);
          r->have = r->need = 0;
        }
    }
}

void
agent_poll (void (*monitors) (uint32_t w, uint32_t h))
{
  uint8_t buf[256];
  size_t n;
  int host;

  if (port < 0)
    return;
  con_poll ();
  host = con_host_open ((unsigned) port);
  if ((!announced && (host == 1 || (host == -1 && deadline_passed (open_deadline))))
      || (announced && host == 1 && last_host_open == 0))
    {
      announce (1);
      if (!announced)
        tap_diag ("agent up");
      announced = true;
    }
  last_host_open = host;

  while ((n = con_take ((unsigned) port, buf, sizeof buf)) > 0)
    for (size_t i = 0; i < n;)
      {
        if (chunk_left == 0)
          {
            chunk_hdr[chunk_hdr_have++] = buf[i++];
            if (chunk_hdr_have == CHUNK_HDR)
              {
                chunk_port = get32 (chunk_hdr);
                chunk_left = get32 (chunk_hdr + 4);
                chunk_hdr_have = 0;
              }
            continue;
          }
        {
          uint32_t take = (uint32_t) (n - i) < chunk_left ? (uint32_t) (n - i) : chunk_left;

          if (chunk_port == VDP_CLIENT_PORT || chunk_port == VDP_SERVER_PORT)
            feed (&reasm[chunk_port - 1], buf + i, take, monitors);
          i += take;
          chunk_left -= take;
        }
      }
}

void
agent_clip (const char *text)
{
  uint8_t t[4];
  size_t len = strlen (text);

  if (len >= CLIP_MAX)
    len = CLIP_MAX - 1;
  memcpy (clip_text, text, len);
  clip_text[len] = '\0';
  clip_offered = true;
  clip_type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
  put32 (t, VD_AGENT_CLIPBOARD_UTF8_TEXT);
  if (port >= 0)
    send_msg (VD_AGENT_CLIPBOARD_GRAB, t, sizeof t);
}

void
agent_clip_png (void)
{
  uint8_t t[4];

  clip_offered = true;
  clip_type = VD_AGENT_CLIPBOARD_IMAGE_PNG;
  put32 (t, VD_AGENT_CLIPBOARD_IMAGE_PNG);
  if (port >= 0)
    send_msg (VD_AGENT_CLIPBOARD_GRAB, t, sizeof t);
}
