/* ps2.c: mode=ps2, the i8042 and its PS/2 keyboard and mouse
 *
 * Initialises the controller as SeaBIOS and Linux do (devices off, flush,
 * self test, configuration byte with translation and no interrupts,
 * interface tests, keyboard reset, scancode set 2, scanning on; mouse
 * reset and data reporting on), each step a TAP line.  Then it prints
 * "# ps2 ready" and polls port 0x64: every byte from port 0x60 becomes
 * "# kbd XX" or, with status bit 0x20, "# aux XX".  Commands on COM1, one
 * a line: "leds M" sends 0xED M (reply "# done leds M ACK ACK"), "quit"
 * prints the plan and powers off.  tests/vmm/test-ps2.c types and moves
 * through SPICE and checks the bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "acpi.h"
#include "ps2.h"

#define DATA    0x60
#define STATUS  0x64
#define ST_OBF  0x01
#define ST_IBF  0x02
#define ST_AUX  0x20

#define ACK     0xfa

static bool
wait_write (void)
{
  uint64_t end = deadline_after_ms (200);

  while (inb (STATUS) & ST_IBF)
    if (deadline_passed (end))
      return false;
  return true;
}

static void
ctl (uint8_t c)
{
  wait_write ();
  outb (STATUS, c);
}

static void
kbd_send (uint8_t b)
{
  wait_write ();
  outb (DATA, b);
}

static void
aux_send (uint8_t b)
{
  ctl (0xd4);
  kbd_send (b);
}

/* The next byte within MS (-1 if none); *aux says where it came from */
static int
read_byte (uint64_t ms, bool *aux)
{
  uint64_t end = deadline_after_ms (ms);

  for (;;)
    {
      uint8_t st = inb (STATUS);

      if (st & ST_OBF)
        {
          if (aux)
            *aux = (st & ST_AUX) != 0;
          return inb (DATA);
        }
      if (deadline_passed (end))
        return -1;
    }
}

/* Reads N bytes from the given device into out; true if all came from it */
static bool
read_from (bool want_aux, uint8_t *out, unsigned n)
{
  for (unsigned i = 0; i < n; i++)
    {
      bool aux = false;
      int b = read_byte (500, &aux);

      if (b < 0 || aux != want_aux)
        return false;
      out[i] = (uint8_t) b;
    }
  return true;
}

static void
init (void)
{
  uint8_t r[3], cfg, cfg2;
  bool ok;
  unsigned flushed = 0;
  int b;

  ctl (0xad);                       /* keyboard off */
  ctl (0xa7);                       /* mouse off */
  while (flushed < 32 && read_byte (20, NULL) >= 0)
    flushed++;
  ctl (0x20);
  b = read_byte (500, NULL);
  cfg = (uint8_t) b;
  tap_ok (b >= 0 && flushed < 32, "ps2: controller off, %u bytes flushed, configuration 0x%02x",
          flushed, cfg);
  ctl (0xaa);
  b = read_byte (500, NULL);
  tap_ok (b == 0x55, "ps2: controller self test (0xAA): 0x%02x", b);
  /* Translation on, both clocks on, no interrupts: we poll */
  cfg = (uint8_t) ((cfg | 0x40) & ~0x33);
  ctl (0x60);
  kbd_send (cfg);
  ctl (0x20);
  b = read_byte (500, NULL);
  cfg2 = (uint8_t) b;
  tap_ok (b >= 0 && cfg2 == cfg, "ps2: configuration 0x%02x written (translation) reads back "
          "0x%02x", cfg, cfg2);
  ctl (0xab);
  b = read_byte (500, NULL);
  ctl (0xa9);
  tap_ok (b == 0 && read_byte (500, NULL) == 0, "ps2: keyboard and aux interface tests pass");
  ctl (0xae);
  ctl (0xa8);

  kbd_send (0xff);
  ok = read_from (false, r, 2);
  tap_ok (ok && r[0] == ACK && r[1] == 0xaa,
          "ps2: keyboard reset: ACK, self test passed (0x%02x 0x%02x)", r[0], r[1]);
  kbd_send (0xf0);
  b = read_byte (500, NULL);
  kbd_send (0x02);
  tap_ok (b == ACK && read_byte (500, NULL) == ACK, "ps2: scancode set 2 selected");
  kbd_send (0xf4);
  tap_ok (read_byte (500, NULL) == ACK, "ps2: keyboard scanning enabled");
  kbd_send (0xed);
  b = read_byte (500, NULL);
  kbd_send (0x00);
  tap_ok (b == ACK && read_byte (500, NULL) == ACK, "ps2: LEDs off (0xED 0x00)");

  memset (r, 0, sizeof r);
  aux_send (0xff);
  ok = read_from (true, r, 3);
  tap_ok (ok && r[0] == ACK && r[1] == 0xaa && r[2] == 0x00,
          "ps2: mouse reset through 0xD4: ACK, 0xAA, ID 0x00, all with status bit 0x20 "
          "(0x%02x 0x%02x 0x%02x)", r[0], r[1], r[2]);
  aux_send (0xf2);
  ok = read_from (true, r, 2);
  tap_ok (ok && r[0] == ACK && r[1] == 0x00, "ps2: mouse ID 0x%02x", r[1]);
  aux_send (0xf4);
  ok = read_from (true, r, 1);
  tap_ok (ok && r[0] == ACK, "ps2: mouse data reporting enabled");
}

NORETURN void
ps2_mode (struct acpi *acpi)
{
  char line[64];
  unsigned len = 0;

  init ();
  tap_diag ("ps2 ready");
  for (;;)
    {
      bool aux = false;
      int b = read_byte (0, &aux);
      int c;

      if (b >= 0)
        tap_diag ("%s %02x", aux ? "aux" : "kbd", b);
      c = serial_getc ();
      if (c < 0)
        continue;
      if (c != '\n' && c != '\r')
        {
          if (len < sizeof line - 1)
            line[len++] = (char) c;
          continue;
        }
      line[len] = '\0';
      if (len == 0)
        continue;
      len = 0;
      if (strncmp (line, "leds ", 5) == 0)
        {
          uint8_t m = (uint8_t) (line[5] - '0');
          int a1, a2;

          kbd_send (0xed);
          a1 = read_byte (500, NULL);
          kbd_send (m & 7);
          a2 = read_byte (500, NULL);
          tap_diag ("done leds %u %02x %02x", m & 7, a1 & 0xff, a2 & 0xff);
        }
      else if (strncmp (line, "quit", 5) == 0)
        {
          tap_diag ("%u tests, %u failed; powering off", tap_count (), tap_failures ());
          tap_plan ();
          acpi_power_off (acpi);
          tap_bail ("power-off did not take effect");
        }
      else
        tap_diag ("unknown command \"%s\"", line);
    }
}
