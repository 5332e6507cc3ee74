/* display/display.h: between a display device and a display server
 *
 * The device (virtio-gpu) says what its scanout shows; the server (SPICE,
 * display/spice.c) shows it to clients and sends their input back to the
 * input devices (virtio-input). Neither knows the other: the VM wires a
 * struct vmm_display_listener into the device and a struct vmm_input_sink
 * into the server.
 *
 * Threads: the device calls the listener from the VM's event loop thread
 * with the device locked; the listener must not block or call back into
 * the device. Pixels passed to it are valid only during the call: a
 * listener that needs them later copies them (the flushed rectangle only).
 * The server calls the input sink and request_size from its own thread;
 * those must only queue work for the device's thread.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Pixel formats, as in memory on a little-endian host (DRM fourcc names):
 * XRGB8888 is bytes B, G, R, X. virtio-gpu's B8G8R8X8 is this one. */
enum vmm_pixel_format {
  VMM_PIXEL_XRGB8888,   /* B G R X in memory */
  VMM_PIXEL_ARGB8888,   /* B G R A */
  VMM_PIXEL_XBGR8888,   /* R G B X */
  VMM_PIXEL_ABGR8888,   /* R G B A */
  VMM_PIXEL_BGRX8888,   /* X R G B */
  VMM_PIXEL_BGRA8888,   /* A R G B */
  VMM_PIXEL_RGBX8888,   /* X B G R */
  VMM_PIXEL_RGBA8888,   /* A B G R */
};

/* What a scanout shows: width × height pixels of 4 bytes, rows STRIDE
 * bytes apart */
struct vmm_display_surface {
  uint32_t width, height, stride;
  enum vmm_pixel_format format;
  const uint8_t *pixels;
};

/* A cursor image: width × height ARGB8888 pixels (premultiplied alpha),
 * rows width * 4 bytes apart, with its hot spot */
struct vmm_display_cursor {
  uint32_t width, height;
  uint32_t hot_x, hot_y;
  const uint8_t *pixels;
};

struct vmm_display_listener {
  /* The scanout now shows SURFACE (all of it is new), or nothing (NULL:
   * disabled, as at reset) */
  void (*set_surface) (void *data, const struct vmm_display_surface *surface);
  /* The guest flushed [x, x + w) × [y, y + h) of the current surface;
   * SURFACE is the same as set_surface's, pixels valid during the call.
   * The rectangle is within it. */
  void (*update) (void *data, const struct vmm_display_surface *surface,
                  uint32_t x, uint32_t y, uint32_t w, uint32_t h);
  /* A new cursor image at (x, y), or none (NULL: hidden) */
  void (*set_cursor) (void *data, const struct vmm_display_cursor *cursor, int32_t x, int32_t y);
  void (*move_cursor) (void *data, int32_t x, int32_t y);
  void *data;
};

/* What the server asks of the display device, from the server's thread */
struct vmm_display_device {
  /* A client would like the scanout at WIDTH × HEIGHT (a window resized,
   * a monitor configuration): the device tells the guest (virtio-gpu's
   * display event); the guest may or may not follow. */
  void (*request_size) (void *dev, uint32_t width, uint32_t height);
  void *dev;
};

/* Input, in Linux input codes (linux/input-event-codes.h): what
 * virtio-input passes to the guest as it is. The server translates its
 * clients' codes (SPICE's PC scancodes) to these. */
struct vmm_input_sink {
  void (*key) (void *data, uint16_t code, bool pressed);             /* KEY_*, BTN_* */
  /* The pointer at (x, y) of a WIDTH × HEIGHT screen (the tablet) */
  void (*abs) (void *data, uint32_t x, uint32_t y, uint32_t width, uint32_t height);
  void (*rel) (void *data, int32_t dx, int32_t dy);                  /* the mouse */
  void (*wheel) (void *data, int32_t dy);                            /* + is up */
  void *data;
};

/* The keyboard LEDs the guest set (virtio-input's status queue), for the
 * server to tell its clients: bits 1 << LED_NUML, LED_CAPSL, LED_SCROLLL.
 * Called from the device's thread, like the display listener. */
struct vmm_input_led_listener {
  void (*leds) (void *data, uint32_t leds);
  void *data;
};
