"""A headless SPICE client for the firmware tests and bench/firmware.py.

It connects to a unix socket (vivarium-vmm's --display spice,socket=PATH or
QEMU's -spice unix=on,addr=PATH), keeps the primary surface as the server
sends it, and types keys. Screens are read as 32-bit xRGB rows, the format
both servers use for their primary surface. Driven by GLib's main loop:
every wait runs it until its condition holds or the time runs out.
"""
import ctypes
import os
import time

import gi

gi.require_version("SpiceClientGLib", "2.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib, GObject, SpiceClientGLib  # noqa: E402

# PC XT scancodes, as SpiceInputsChannel takes them (0xe0-prefixed keys
# as 0x100 | code)
KEY_ESC = 0x01
KEY_ENTER = 0x1c
KEY_DOWN = 0x150
KEY_UP = 0x148


class Screen:
    def __init__(self, socket_path, connect_timeout=30.0):
        self.addr = 0
        self.width = self.height = self.stride = 0
        self.invalidates = 0
        self.first_update = None      # time.monotonic() of the first invalidate
        self.inputs = None
        self.display = None
        self.session = SpiceClientGLib.Session(uri="spice+unix://" + socket_path)
        GObject.Object.connect(self.session, "channel-new", self._channel_new)
        deadline = time.monotonic() + connect_timeout
        while not os.path.exists(socket_path):
            if time.monotonic() > deadline:
                raise TimeoutError("no SPICE socket at " + socket_path)
            time.sleep(0.01)
        self.session.connect()
        if not self.wait(lambda: self.inputs is not None and self.display is not None,
                         connect_timeout):
            raise TimeoutError("the SPICE session did not open its channels")

    def _channel_new(self, session, channel):
        if isinstance(channel, SpiceClientGLib.DisplayChannel):
            self.display = channel
            GObject.Object.connect(channel, "display-primary-create", self._primary)
            GObject.Object.connect(channel, "display-primary-destroy", self._destroyed)
            GObject.Object.connect(channel, "display-invalidate", self._invalidate)
            channel.connect()
        elif isinstance(channel, SpiceClientGLib.InputsChannel):
            self.inputs = channel
            channel.connect()

    def _primary(self, channel, fmt, width, height, stride, shmid, addr):
        self.addr, self.width, self.height, self.stride = addr, width, height, stride

    def _destroyed(self, channel):
        self.addr = 0

    def _invalidate(self, channel, x, y, w, h):
        self.invalidates += 1
        if self.first_update is None:
            self.first_update = time.monotonic()

    def wait(self, condition, timeout, step=0.02):
        """Runs the main loop until CONDITION() or TIMEOUT seconds"""
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while True:
            while ctx.pending():
                ctx.iteration(False)
            if condition():
                return True
            if time.monotonic() > deadline:
                return False
            ctx.iteration(False)
            time.sleep(step)

    def pixels(self):
        """(width, height, stride, bytes) of the screen now, or None"""
        self.wait(lambda: True, 0)
        if not self.addr:
            return None
        return (self.width, self.height, self.stride,
                ctypes.string_at(self.addr, self.stride * self.height))

    def lit_fraction(self, y0, y1, x0=0, x1=None, threshold=0x60):
        """The share of pixels in [x0, x1) x [y0, y1) brighter than THRESHOLD"""
        shot = self.pixels()
        if shot is None:
            return 0.0
        w, h, stride, data = shot
        x1 = w if x1 is None else min(x1, w)
        y1 = min(y1, h)
        lit = total = 0
        for y in range(y0, y1):
            row = data[y * stride + x0 * 4:y * stride + x1 * 4]
            for x in range(0, len(row), 4):
                total += 1
                if max(row[x], row[x + 1], row[x + 2]) > threshold:
                    lit += 1
        return lit / total if total else 0.0

    def save_png(self, path):
        shot = self.pixels()
        if shot is None:
            return False
        w, h, stride, data = shot
        rgb = bytearray(w * h * 3)
        for y in range(h):
            row = data[y * stride:y * stride + w * 4]
            rgb[y * w * 3 + 0:(y + 1) * w * 3:3] = row[2::4]
            rgb[y * w * 3 + 1:(y + 1) * w * 3:3] = row[1::4]
            rgb[y * w * 3 + 2:(y + 1) * w * 3:3] = row[0::4]
        pb = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(rgb)),
                                             GdkPixbuf.Colorspace.RGB, False, 8, w, h, w * 3)
        pb.savev(path, "png", [], [])
        return True

    def key(self, code):
        self.inputs.key_press_and_release(code)
        self.wait(lambda: True, 0)

    def close(self):
        self.session.disconnect()


# GRUB's menu in VGA text mode (720x400, 9x16 cells): the highlighted entry
# is a light bar across the menu box; the first entry is on text row 4.
def grub_bar_row(screen):
    """The text row GRUB highlights (4..12), or None when no menu shows"""
    shot = screen.pixels()
    if shot is None or (shot[0], shot[1]) != (720, 400):
        return None
    for row in range(4, 13):
        y = row * 16 + 8
        if screen.lit_fraction(y - 2, y + 2, 27, 630) > 0.8:
            return row
    return None
