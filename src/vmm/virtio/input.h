/* virtio/input.h: the input device (virtio 1.2, 5.8)
 *
 * Three kinds, each its own PCI function (1af4:1052), as a Linux guest's
 * virtio_input driver expects them:
 *
 *   keyboard  EV_KEY with every key display/keymap.c gives, EV_REP (the
 *             guest repeats keys itself), EV_LED NumLock, CapsLock,
 *             ScrollLock (the guest sets them through the status queue)
 *   tablet    EV_ABS ABS_X and ABS_Y from 0 to 32767, EV_KEY BTN_LEFT,
 *             RIGHT, MIDDLE, SIDE and EXTRA, EV_REL REL_WHEEL; not
 *             INPUT_PROP_DIRECT: a pointer, not a touch screen
 *   mouse     EV_REL REL_X, REL_Y and REL_WHEEL, the same buttons
 *
 * The host side is a struct vmm_input_sink (display/display.h), called
 * from the display server's thread: each call queues its events, ended by
 * a SYN_REPORT, for the device's thread, which puts them into the guest's
 * event buffers as they come and whenever the guest adds buffers. A
 * device takes only the events it has (its bitmaps) and drops the rest,
 * so a server can hand every call to all three. Events wait in a bounded
 * ring: a guest that takes none loses the oldest (logged, rate-limited);
 * without a driver (before DRIVER_OK) there is no one to queue them for
 * and they are dropped. A reset drops what waits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "display/display.h"
#include "virtio/device.h"

enum vmm_input_kind {
  VMM_INPUT_KEYBOARD,
  VMM_INPUT_TABLET,
  VMM_INPUT_MOUSE,
};

/* Events that wait for the guest's buffers, at most; past that the oldest
 * reports go */
#define VMM_INPUT_RING_EVENTS 256

/* The tablet's axes run from 0 to this */
#define VMM_INPUT_ABS_MAX     32767

struct vmm_virtio_input;

/* Returns the device, or NULL with ERROR set (see device.h). LEDS (may be
 * NULL; copied) hears the keyboard LEDs the guest sets, on the device's
 * thread with its lock held. */
struct vmm_virtio_input *vmm_virtio_input_new  (const struct vmm_virtio_env *env,
                                                enum vmm_input_kind kind,
                                                const struct vmm_input_led_listener *leds,
                                                GError **error);
struct vmm_virtio_dev   *vmm_virtio_input_dev  (struct vmm_virtio_input *input);
/* Where the display server sends this device's input, from any thread
 * (valid until the device is freed) */
struct vmm_input_sink    vmm_virtio_input_sink (struct vmm_virtio_input *input);
/* Whether a driver runs the device (DRIVER_OK, not reset): where the
 * host's input should go. Any thread. */
bool                     vmm_virtio_input_ready (struct vmm_virtio_input *input);
/* Events dropped so far because the guest did not take them */
uint64_t                 vmm_virtio_input_dropped (struct vmm_virtio_input *input);
void                     vmm_virtio_input_free (struct vmm_virtio_input *input);
