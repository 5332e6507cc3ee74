/* lib.c: the probe's freestanding runtime
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "lib.h"

void
halt_forever (void)
{
  for (;;)
    sys_call (SYS_HALT, 0, 0, 0);
}

/* --- page tables above 4 GiB ------------------------------------------------ */

extern uint64_t pml4[512];

#define PTE_PWU   0x007ull
#define PTE_LARGE 0x080ull
#define PTE_ADDR  0x000ffffffffff000ull

/* Spare tables for map_phys; an entry going from not-present to present
 * needs no TLB flush, so CPL 3 can extend the map without ring 0. */
static uint64_t spare_tables[8][512] __attribute__ ((aligned (4096)));
static unsigned spare_used;

static uint64_t *
table_below (uint64_t *entry)
{
  uint64_t *t;

  if (*entry & 1)
    return (uint64_t *) (*entry & PTE_ADDR);
  if (spare_used == ARRAY_SIZE (spare_tables))
    return NULL;
  t = spare_tables[spare_used++];
  barrier ();
  *entry = (uint64_t) t | PTE_PWU;
  return t;
}

bool
map_phys (uint64_t addr, uint64_t len)
{
  uint64_t end = addr + len;
  uint64_t gb;

  if (len == 0 || end < addr || end > (1ull << 48))
    return len == 0;
  if (end <= (4ull << 30))
    return true;

  for (gb = addr >> 30; gb <= (end - 1) >> 30; gb++)
    {
      uint64_t *pdpt_t, *pd_t;
      unsigned i;

      if (gb < 4)
        continue;
      pdpt_t = table_below (&pml4[gb >> 9]);
      if (!pdpt_t)
        return false;
      if (pdpt_t[gb & 511] & 1)
        continue;
      if (spare_used == ARRAY_SIZE (spare_tables))
        return false;
      pd_t = spare_tables[spare_used++];
      for (i = 0; i < 512; i++)
        pd_t[i] = (gb << 30) + ((uint64_t) i << 21) + PTE_LARGE + PTE_PWU;
      barrier ();
      pdpt_t[gb & 511] = (uint64_t) pd_t | PTE_PWU;
    }
  return true;
}

/* --- clock ---------------------------------------------------------------- */

static uint64_t tsc_per_ms = 3000000;

void
clock_init (uint16_t port, bool is_32bit)
{
  uint32_t mask = is_32bit ? 0xffffffffu : 0xffffffu;
  uint32_t t0, t, ticks = 0;
  uint64_t c0, c1;
  unsigned guard;

  if (port == 0)
    return;

  /* 10 ms of the 3.579545 MHz PM timer; each read is a syscall and an exit
   * (about 60 µs here), far below the interval measured. */
  t0 = inl (port) & mask;
  c0 = rdtsc ();
  for (guard = 0; guard < 100000; guard++)
    {
      t = inl (port) & mask;
      ticks = (t - t0) & mask;
      if (ticks >= 35795)
        break;
    }
  c1 = rdtsc ();
  if (ticks < 35795 || c1 <= c0)
    return;   /* a PM timer that does not run: keep the guess */
  tsc_per_ms = (c1 - c0) * 3579545ull / ((uint64_t) ticks * 1000ull);
  if (tsc_per_ms == 0)
    tsc_per_ms = 1;
}

uint64_t
clock_tsc_per_ms (void)
{
  return tsc_per_ms;
}

uint64_t
deadline_after_ms (uint64_t ms)
{
  return rdtsc () + ms * tsc_per_ms;
}

bool
deadline_passed (uint64_t deadline)
{
  return (int64_t) (rdtsc () - deadline) >= 0;
}

void
delay_us (uint64_t us)
{
  uint64_t end = rdtsc () + us * tsc_per_ms / 1000;

  while ((int64_t) (rdtsc () - end) < 0)
    cpu_relax ();
}

/* --- strings and memory -----------------------------------------------------
 * gcc may emit calls to these; the build passes
 * -fno-tree-loop-distribute-patterns so the loops do not become calls to
 * themselves. */

void *
memset (void *s, int c, size_t n)
{
  unsigned char *p = s;

  while (n--)
    *p++ = (unsigned char) c;
  return s;
}

void *
memcpy (void *dst, const void *src, size_t n)
{
  unsigned char *d = dst;
  const unsigned char *s = src;

  while (n--)
    *d++ = *s++;
  return dst;
}

void *
memmove (void *dst, const void *src, size_t n)
{
  unsigned char *d = dst;
  const unsigned char *s = src;

  if (d < s)
    return memcpy (dst, src, n);
  while (n--)
    d[n] = s[n];
  return dst;
}

int
memcmp (const void *a, const void *b, size_t n)
{
  const unsigned char *x = a, *y = b;

  for (; n; n--, x++, y++)
    if (*x != *y)
      return *x - *y;
  return 0;
}

size_t
strlen (const char *s)
{
  size_t n = 0;

  while (s[n])
    n++;
  return n;
}

int
strncmp (const char *a, const char *b, size_t n)
{
  for (; n; n--, a++, b++)
    {
      if (*a != *b)
        return (unsigned char) *a - (unsigned char) *b;
      if (!*a)
        break;
    }
  return 0;
}

/* --- printf ------------------------------------------------------------------
 * Enough for the probe: %d %i %u %x %X %s %c %p %%, the l/ll/z length
 * modifiers, '-' and '0' flags, a width and, for %s, a precision. */

struct out
{
  char *buf;
  size_t size;
  size_t len;
};

static void
out_char (struct out *o, char c)
{
  if (o->len + 1 < o->size)
    o->buf[o->len] = c;
  o->len++;
}

static void
out_pad (struct out *o, char c, int n)
{
  while (n-- > 0)
    out_char (o, c);
}

static void
out_number (struct out *o, uint64_t v, bool negative, unsigned base, bool upper,
            int width, bool left, bool zero)
{
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char tmp[24];
  int n = 0, len;

  do
    {
      tmp[n++] = digits[v % base];
      v /= base;
    }
  while (v);

  len = n + (negative ? 1 : 0);
  if (!left && !zero)
    out_pad (o, ' ', width - len);
  if (negative)
    out_char (o, '-');
  if (!left && zero)
    out_pad (o, '0', width - len);
  while (n)
    out_char (o, tmp[--n]);
  if (left)
    out_pad (o, ' ', width - len);
}

int
vsnprintf (char *buf, size_t size, const char *fmt, va_list ap)
{
  struct out o = { buf, size, 0 };

  for (; *fmt; fmt++)
    {
      bool left = false, zero = false;
      int width = 0, precision = -1, lng = 0;

      if (*fmt != '%')
        {
          out_char (&o, *fmt);
          continue;
        }
      fmt++;
      for (;; fmt++)
        {
          if (*fmt == '-')
            left = true;
          else if (*fmt == '0')
            zero = true;
          else
            break;
        }
      if (*fmt == '*')
        {
          width = va_arg (ap, int);
          fmt++;
        }
      while (*fmt >= '0' && *fmt <= '9')
        width = width * 10 + (*fmt++ - '0');
      if (*fmt == '.')
        {
          fmt++;
          precision = 0;
          if (*fmt == '*')
            {
              precision = va_arg (ap, int);
              fmt++;
            }
          while (*fmt >= '0' && *fmt <= '9')
            precision = precision * 10 + (*fmt++ - '0');
        }
      while (*fmt == 'l' || *fmt == 'z')
        {
          lng++;
          fmt++;
        }

      switch (*fmt)
        {
        case 'd':
        case 'i':
          {
            int64_t v = lng ? va_arg (ap, long) : va_arg (ap, int);
            out_number (&o, v < 0 ? -(uint64_t) v : (uint64_t) v, v < 0, 10, false,
                        width, left, zero);
            break;
          }
        case 'u':
        case 'x':
        case 'X':
          {
            uint64_t v = lng ? va_arg (ap, unsigned long) : va_arg (ap, unsigned);
            out_number (&o, v, false, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, left,
                        zero);
            break;
          }
        case 'p':
          out_char (&o, '0');
          out_char (&o, 'x');
          out_number (&o, (uint64_t) va_arg (ap, void *), false, 16, false, width, left,
                      zero);
          break;
        case 'c':
          out_pad (&o, ' ', left ? 0 : width - 1);
          out_char (&o, (char) va_arg (ap, int));
          out_pad (&o, ' ', left ? width - 1 : 0);
          break;
        case 's':
          {
            const char *s = va_arg (ap, const char *);
            int n = 0;

            if (!s)
              s = "(null)";
            while (s[n] && (precision < 0 || n < precision))
              n++;
            out_pad (&o, ' ', left ? 0 : width - n);
            for (int i = 0; i < n; i++)
              out_char (&o, s[i]);
            out_pad (&o, ' ', left ? width - n : 0);
            break;
          }
        case '%':
          out_char (&o, '%');
          break;
        case '\0':
          fmt--;
          break;
        default:
          out_char (&o, '%');
          out_char (&o, *fmt);
          break;
        }
    }
  if (o.size)
    o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
  return (int) o.len;
}

int
snprintf (char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (buf, size, fmt, ap);
  va_end (ap);
  return n;
}

/* One syscall per line: the service writes the whole buffer. */
static void
serial_write (const char *s, size_t n)
{
  if (n)
    sys_call (SYS_WRITE, COM1, (uint64_t) s, n);
}

static void
vprint (const char *prefix, const char *fmt, va_list ap)
{
  char line[512];
  size_t p = strlen (prefix), n;

  memcpy (line, prefix, p);
  n = (size_t) vsnprintf (line + p, sizeof line - p - 1, fmt, ap);
  n = p + (n < sizeof line - p - 2 ? n : sizeof line - p - 2);
  /* TAP is line-oriented: keep anything the text carries on one line */
  for (size_t i = 0; i < n; i++)
    if (line[i] == '\n' || line[i] == '\r')
      line[i] = ' ';
  line[n++] = '\n';
  serial_write (line, n);
}

void
printf (const char *fmt, ...)
{
  char line[512];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  if (n >= (int) sizeof line)
    n = sizeof line - 1;
  serial_write (line, (size_t) n);
}

/* --- the command line ------------------------------------------------------ */

static char cmdline[1024];

void
cmdline_set (const char *s)
{
  size_t i;

  for (i = 0; s && s[i] && i < sizeof cmdline - 1; i++)
    cmdline[i] = s[i];
  cmdline[i] = '\0';
}

const char *
cmdline_get (void)
{
  return cmdline;
}

/* The value after "key=" in a space-separated token, or NULL */
static const char *
cmdline_value (const char *key)
{
  size_t k = strlen (key);
  const char *p = cmdline;

  while (*p)
    {
      while (*p == ' ')
        p++;
      if (strncmp (p, key, k) == 0 && p[k] == '=')
        return p + k + 1;
      while (*p && *p != ' ')
        p++;
    }
  return NULL;
}

size_t
cmdline_string (const char *key, char *buf, size_t size)
{
  const char *v = cmdline_value (key);
  size_t n = 0;

  if (size == 0)
    return 0;
  for (; v && v[n] && v[n] != ' ' && n < size - 1; n++)
    buf[n] = v[n];
  buf[n] = '\0';
  return n;
}

bool
cmdline_has (const char *key)
{
  return cmdline_value (key) != NULL;
}

bool
cmdline_is (const char *key, const char *value)
{
  const char *v = cmdline_value (key);
  size_t i = 0;

  if (!v)
    return false;
  for (; value[i]; i++)
    if (v[i] != value[i])
      return false;
  return v[i] == '\0' || v[i] == ' ';
}

uint64_t
cmdline_number (const char *key, uint64_t fallback)
{
  const char *v = cmdline_value (key);
  uint64_t n = 0;
  unsigned base = 10;

  if (!v || !*v || *v == ' ')
    return fallback;
  if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
    {
      base = 16;
      v += 2;
    }
  for (; *v && *v != ' '; v++)
    {
      unsigned d;

      if (*v >= '0' && *v <= '9')
        d = *v - '0';
      else if (base == 16 && *v >= 'a' && *v <= 'f')
        d = *v - 'a' + 10;
      else if (base == 16 && *v >= 'A' && *v <= 'F')
        d = *v - 'A' + 10;
      else
        return fallback;
      n = n * base + d;
    }
  return n;
}

/* --- TAP ---------------------------------------------------------------------- */

static unsigned tests_run, tests_failed;
static void (*bail_hook) (void);

void
serial_init (void)
{
  /* 8 data bits, no parity, 1 stop bit; no UART interrupts (IF stays 0
   * anyway) and no FIFO, so THRE means "this byte was taken". */
  outb (COM1 + 1, 0x00);
  outb (COM1 + 3, 0x03);
  outb (COM1 + 2, 0x00);
  outb (COM1 + 4, 0x03);
}

int
serial_getc (void)
{
  /* LSR bit 0: data ready */
  if (!(inb (COM1 + 5) & 0x01))
    return -1;
  return inb (COM1);
}

bool
tap_ok (bool ok, const char *fmt, ...)
{
  char prefix[32];
  va_list ap;

  tests_run++;
  if (!ok)
    tests_failed++;
  snprintf (prefix, sizeof prefix, "%sok %u - ", ok ? "" : "not ", tests_run);
  va_start (ap, fmt);
  vprint (prefix, fmt, ap);
  va_end (ap);
  return ok;
}

void
tap_skip (const char *reason, const char *fmt, ...)
{
  char line[400];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  tests_run++;
  printf ("ok %u - %s # SKIP %s\n", tests_run, line, reason);
}

void
tap_diag (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprint ("# ", fmt, ap);
  va_end (ap);
}

unsigned
tap_count (void)
{
  return tests_run;
}

unsigned
tap_failures (void)
{
  return tests_failed;
}

void
tap_plan (void)
{
  printf ("1..%u\n", tests_run);
}

void
tap_set_bail_hook (void (*hook) (void))
{
  bail_hook = hook;
}

void
tap_bail (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprint ("Bail out! ", fmt, ap);
  va_end (ap);
  if (bail_hook)
    {
      void (*hook) (void) = bail_hook;

      bail_hook = NULL;   /* a bail-out inside the hook must not recurse */
      hook ();
    }
  halt_forever ();
}
