/* pattern.h: the display test's pictures, shared by the probe and the client
 *
 * Both sides compute the same pixels from the same function, so the client
 * can check any frame without the guest sending it anything but a frame
 * number.  Header only and freestanding: the probe has no libc.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>

/* The test picture: an XRGB8888 value (0x00RRGGBB) for pixel (x, y) of frame f */
static inline uint32_t
pattern_pixel (uint32_t f, uint32_t x, uint32_t y)
{
  uint32_t h = (x * 0x9e3779b1u) ^ ((y + f * 0x3c6ef372u) * 0x85ebca77u);
  h ^= h >> 15;
  h *= 0xc2b2ae3du;
  h ^= h >> 13;
  return h & 0xffffffu;
}
/* The fixed small rectangles of `rects` (x, y, w, h), all inside 640x480 */
static const uint32_t pattern_rects[][4] = {
  { 0, 0, 16, 16 }, { 100, 50, 64, 48 }, { 300, 200, 1, 1 }, { 513, 257, 127, 128 },
  { 10, 400, 200, 64 }, { 639, 479, 1, 1 }, { 320, 0, 3, 480 }, { 0, 240, 640, 2 },
};
#define PATTERN_SQUARE 64                       /* the moving square's side */
#define PATTERN_SQUARE_COLOR 0x00ff8000u
#define PATTERN_SQUARE_STEP_X 8
#define PATTERN_SQUARE_STEP_Y 4
/* The cursor of `cursor`: 64x64, hotspot (5, 7); ARGB: opaque where x + y < 64
 * with colour pattern_pixel (7, x, y), else fully transparent (0) */
#define PATTERN_CURSOR_SIZE 64
#define PATTERN_CURSOR_HOT_X 5
#define PATTERN_CURSOR_HOT_Y 7
/* Bench frames: update i is a solid fill of bench_color (i) (distinct for
 * every i in 0..4095: checked by enumerating them) */
static inline uint32_t bench_color (uint32_t i) { return (i * 0x010307u + 0x203040u) & 0xffffffu; }
/* The colour bars of idle mode and of `bars`: white, yellow, cyan, green,
 * magenta, red, blue, black, left to right; bar i spans x from
 * width * i / 8 to width * (i + 1) / 8. Flat areas, so a scaled picture
 * can be checked too. */
static const uint32_t pattern_bars[8] = {
  0xffffffu, 0xffff00u, 0x00ffffu, 0x00ff00u, 0xff00ffu, 0xff0000u, 0x0000ffu, 0x000000u,
};
/* The picture of `clippng`, what the agent puts on the clipboard as
 * image/png: 2x2 pixels, red and green over blue and white (0x00RRGGBB) */
static const uint32_t pattern_png_pixels[4] = { 0xff0000u, 0x00ff00u, 0x0000ffu, 0xffffffu };
static const uint8_t pattern_png[75] = {
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
  0x73, 0x00, 0x00, 0x00, 0x12, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xcf, 0xc0, 0xc0,
  0x00, 0xc2, 0x0c, 0xff, 0x81, 0x00, 0x00, 0x1f, 0xee, 0x05, 0xfb, 0xf1, 0xab, 0xba, 0x77, 0x00,
  0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
