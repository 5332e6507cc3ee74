/* arch/x86/aml.c: a small encoder for ACPI Machine Language
 *
 * Written from the ACPI 6.4 specification: §20.2 (AML grammar) for the
 * terms, §6.4 (resource data types) for the resource templates.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "arch/x86/aml.h"

#include <errno.h>
#include <string.h>

#include "viv-bytes.h"

/* Opcodes and prefixes, §20.2 */
#define AML_ZERO_OP           0x00
#define AML_ONE_OP            0x01
#define AML_NAME_OP           0x08
#define AML_BYTE_PREFIX       0x0a
#define AML_WORD_PREFIX       0x0b
#define AML_DWORD_PREFIX      0x0c
#define AML_STRING_PREFIX     0x0d
#define AML_QWORD_PREFIX      0x0e
#define AML_SCOPE_OP          0x10
#define AML_BUFFER_OP         0x11
#define AML_PACKAGE_OP        0x12
#define AML_METHOD_OP         0x14
#define AML_DUAL_NAME_PREFIX  0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_EXT_OP_PREFIX     0x5b
#define AML_DEVICE_OP         0x82  /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR         0x5c
#define AML_PARENT_PREFIX     0x5e
#define AML_RETURN_OP         0xa4
#define AML_ONES_OP           0xff

/* Resource descriptor tags, §6.4.2 (small) and §6.4.3 (large) */
#define RES_IRQ_NOFLAGS       0x22  /* small type 4, length 2 */
#define RES_IO                0x47  /* small type 8, length 7 */
#define RES_END_TAG           0x79  /* small type 0xf, length 1 */
#define RES_MEMORY32_FIXED    0x86
#define RES_DWORD_ADDRESS     0x87
#define RES_WORD_ADDRESS      0x88
#define RES_EXT_INTERRUPT     0x89
#define RES_QWORD_ADDRESS     0x8a

static void
set_error (int *error, int err)
{
  /* The first mistake is the one worth reporting. */
  if (*error == 0)
    *error = err;
}

static void
put_byte (GByteArray *b, uint8_t v)
{
  g_byte_array_append (b, &v, 1);
}

static void
append_le (GByteArray *b, uint64_t v, unsigned n)
{
  uint8_t tmp[8];

  viv_put_le (tmp, v, n);
  g_byte_array_append (b, tmp, n);
}

void
aml_init (struct aml *aml)
{
  memset (aml, 0, sizeof *aml);
  aml->bytes = g_byte_array_new ();
}

void
aml_clear (struct aml *aml)
{
  if (aml->bytes != NULL)
    g_byte_array_unref (aml->bytes);
  memset (aml, 0, sizeof *aml);
}

int
aml_finish (struct aml *aml, const uint8_t **data, size_t *len)
{
  if (aml->error != 0)
    return aml->error;
  if (aml->depth != 0)
    return -EINVAL;
  *data = aml->bytes->data;
  *len = aml->bytes->len;
  return 0;
}

/* ---- encodings ------------------------------------------------------------ */

/* The largest value a PkgLength of N bytes holds: 6 bits in one byte, else
 * 4 bits in the lead byte and 8 in each of the others. */
static uint32_t
pkglength_max (unsigned n)
{
  return n == 1 ? 0x3f : (1u << (4 + 8 * (n - 1))) - 1;
}

static void
pkglength_write (uint32_t value, unsigned n, uint8_t out[4])
{
  if (n == 1)
    {
      out[0] = (uint8_t) value;
      return;
    }
  /* Bits 7-6 of the lead byte count the bytes that follow it. */
  out[0] = (uint8_t) (((n - 1) << 6) | (value & 0x0f));
  for (unsigned i = 1; i < n; i++)
    out[i] = (uint8_t) (value >> (4 + 8 * (i - 1)));
}

unsigned
aml_encode_pkglength (uint32_t value, uint8_t out[4])
{
  for (unsigned n = 1; n <= 4; n++)
    if (value <= pkglength_max (n))
      {
        pkglength_write (value, n, out);
        return n;
      }
  return 0;
}

static bool
eisa_letter (char c)
{
  return c >= 'A' && c <= 'Z';
}

static int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

int
aml_eisaid (const char *id, uint32_t *value)
{
  uint32_t letters, digits = 0;

  if (id == NULL || strlen (id) != 7
      || !eisa_letter (id[0]) || !eisa_letter (id[1]) || !eisa_letter (id[2]))
    return -EINVAL;
  for (unsigned i = 3; i < 7; i++)
    {
      int d = hex_digit (id[i]);
      if (d < 0)
        return -EINVAL;
      digits = (digits << 4) | (uint32_t) d;
    }

  /* Three 5-bit letters ('A' is 1) in bits 14-0 of a big-endian word, then
   * the product number, also big-endian: so "PNP0A03" is the bytes
   * 41 d0 0a 03, which read as a little-endian DWORD is 0x030ad041. */
  letters = ((uint32_t) (id[0] - '@') << 10) | ((uint32_t) (id[1] - '@') << 5)
            | (uint32_t) (id[2] - '@');
  *value = ((letters >> 8) & 0xff) | ((letters & 0xff) << 8)
           | (((digits >> 8) & 0xff) << 16) | ((digits & 0xff) << 24);
  return 0;
}

/* ---- data and names ------------------------------------------------------- */

void
aml_integer (struct aml *aml, uint64_t value)
{
  if (value == 0)
    put_byte (aml->bytes, AML_ZERO_OP);
  else if (value == 1)
    put_byte (aml->bytes, AML_ONE_OP);
  else if (value == UINT64_MAX)
    put_byte (aml->bytes, AML_ONES_OP);
  else if (value <= UINT8_MAX)
    {
      put_byte (aml->bytes, AML_BYTE_PREFIX);
      append_le (aml->bytes, value, 1);
    }
  else if (value <= UINT16_MAX)
    {
      put_byte (aml->bytes, AML_WORD_PREFIX);
      append_le (aml->bytes, value, 2);
    }
  else if (value <= UINT32_MAX)
    {
      put_byte (aml->bytes, AML_DWORD_PREFIX);
      append_le (aml->bytes, value, 4);
    }
  else
    {
      put_byte (aml->bytes, AML_QWORD_PREFIX);
      append_le (aml->bytes, value, 8);
    }
}

void
aml_dword (struct aml *aml, uint32_t value)
{
  put_byte (aml->bytes, AML_DWORD_PREFIX);
  append_le (aml->bytes, value, 4);
}

void
aml_string (struct aml *aml, const char *s)
{
  /* AsciiCharList: 0x01 to 0x7f, then NullChar */
  for (const char *p = s; *p != '\0'; p++)
    if ((unsigned char) *p > 0x7f)
      {
        set_error (&aml->error, -EINVAL);
        return;
      }
  put_byte (aml->bytes, AML_STRING_PREFIX);
  g_byte_array_append (aml->bytes, (const guint8 *) s, (guint) strlen (s) + 1);
}

/* Checks the NameSeg of LEN characters at S and writes it, padded, to OUT.
 * LeadNameChar is A-Z or _, NameChar adds 0-9. */
static bool
name_seg (const char *s, size_t len, uint8_t out[4])
{
  if (len == 0 || len > 4)
    return false;
  for (size_t i = 0; i < 4; i++)
    {
      char c = i < len ? s[i] : '_';
      bool ok = (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
      if (!ok)
        return false;
      out[i] = (uint8_t) c;
    }
  return true;
}

void
aml_namestring (struct aml *aml, const char *path)
{
  const char *p = path;
  size_t n_segs = 0;
  uint8_t seg[4];

  if (*p == '\\')
    p++;
  else
    while (*p == '^')
      p++;

  /* Validate and count first, so that a bad name emits nothing. */
  if (*p != '\0')
    {
      const char *s = p;
      for (;;)
        {
          const char *dot = strchr (s, '.');
          size_t len = dot != NULL ? (size_t) (dot - s) : strlen (s);
          if (!name_seg (s, len, seg))
            {
              set_error (&aml->error, -EINVAL);
              return;
            }
          n_segs++;
          if (dot == NULL)
            break;
          s = dot + 1;
        }
      if (n_segs > 255)
        {
          set_error (&aml->error, -EINVAL);
          return;
        }
    }

  g_byte_array_append (aml->bytes, (const guint8 *) path, (guint) (p - path));
  if (n_segs == 0)
    put_byte (aml->bytes, AML_ZERO_OP);  /* NullName */
  else if (n_segs == 2)
    put_byte (aml->bytes, AML_DUAL_NAME_PREFIX);
  else if (n_segs > 2)
    {
      put_byte (aml->bytes, AML_MULTI_NAME_PREFIX);
      put_byte (aml->bytes, (uint8_t) n_segs);
    }
  while (n_segs-- > 0)
    {
      const char *dot = strchr (p, '.');
      size_t len = dot != NULL ? (size_t) (dot - p) : strlen (p);
      name_seg (p, len, seg);
      g_byte_array_append (aml->bytes, seg, 4);
      p += len + 1;
    }
}

/* Opens a term whose PkgLength comes right after what is already emitted. */
static void
open_pkg (struct aml *aml)
{
  if (aml->depth >= AML_MAX_DEPTH)
    {
      set_error (&aml->error, -EINVAL);
      return;
    }
  aml->open[aml->depth++] = aml->bytes->len;
}

void
aml_end (struct aml *aml)
{
  GByteArray *b = aml->bytes;
  uint8_t enc[4];
  size_t at, body;
  unsigned n;

  if (aml->depth == 0)
    {
      set_error (&aml->error, -EINVAL);
      return;
    }
  at = aml->open[--aml->depth];
  body = b->len - at;

  /* PkgLength counts its own bytes: take the shortest encoding in which the
   * body plus the encoding fit. */
  for (n = 1; n <= 4; n++)
    if (body <= pkglength_max (n) - n)
      break;
  if (n > 4)
    {
      set_error (&aml->error, -E2BIG);
      return;
    }
  pkglength_write ((uint32_t) (body + n), n, enc);

  g_byte_array_set_size (b, (guint) (b->len + n));
  memmove (b->data + at + n, b->data + at, body);
  memcpy (b->data + at, enc, n);
}

void
aml_buffer (struct aml *aml, const void *data, size_t len)
{
  put_byte (aml->bytes, AML_BUFFER_OP);
  open_pkg (aml);
  aml_integer (aml, len);
  g_byte_array_append (aml->bytes, data, (guint) len);
  aml_end (aml);
}

void
aml_name (struct aml *aml, const char *path)
{
  put_byte (aml->bytes, AML_NAME_OP);
  aml_namestring (aml, path);
}

void
aml_name_integer (struct aml *aml, const char *path, uint64_t value)
{
  aml_name (aml, path);
  aml_integer (aml, value);
}

void
aml_name_string (struct aml *aml, const char *path, const char *s)
{
  aml_name (aml, path);
  aml_string (aml, s);
}

void
aml_name_eisaid (struct aml *aml, const char *path, const char *id)
{
  uint32_t value = 0;

  if (aml_eisaid (id, &value) < 0)
    set_error (&aml->error, -EINVAL);
  aml_name (aml, path);
  aml_dword (aml, value);
}

void
aml_return (struct aml *aml)
{
  put_byte (aml->bytes, AML_RETURN_OP);
}

/* ---- terms that hold others ----------------------------------------------- */

void
aml_scope_begin (struct aml *aml, const char *path)
{
  put_byte (aml->bytes, AML_SCOPE_OP);
  open_pkg (aml);
  aml_namestring (aml, path);
}

void
aml_device_begin (struct aml *aml, const char *path)
{
  put_byte (aml->bytes, AML_EXT_OP_PREFIX);
  put_byte (aml->bytes, AML_DEVICE_OP);
  open_pkg (aml);
  aml_namestring (aml, path);
}

void
aml_method_begin (struct aml *aml, const char *path, unsigned n_args, bool serialized)
{
  if (n_args > 7)
    set_error (&aml->error, -EINVAL);
  put_byte (aml->bytes, AML_METHOD_OP);
  open_pkg (aml);
  aml_namestring (aml, path);
  /* MethodFlags: ArgCount in bits 2-0, SerializeFlag in bit 3, SyncLevel 0 */
  put_byte (aml->bytes, (uint8_t) ((n_args & 7) | (serialized ? 0x08 : 0)));
}

void
aml_package_begin (struct aml *aml, unsigned n_elements)
{
  /* NumElements is one byte; larger packages need VarPackageOp. */
  if (n_elements > 255)
    set_error (&aml->error, -EINVAL);
  put_byte (aml->bytes, AML_PACKAGE_OP);
  open_pkg (aml);
  put_byte (aml->bytes, (uint8_t) n_elements);
}

/* ---- resource templates --------------------------------------------------- */

void
aml_res_init (struct aml_res *res)
{
  res->bytes = g_byte_array_new ();
  res->error = 0;
}

void
aml_res_clear (struct aml_res *res)
{
  if (res->bytes != NULL)
    g_byte_array_unref (res->bytes);
  res->bytes = NULL;
  res->error = 0;
}

void
aml_res_io (struct aml_res *res, bool decode16, uint16_t min, uint16_t max,
            uint8_t align, uint8_t len)
{
  put_byte (res->bytes, RES_IO);
  put_byte (res->bytes, decode16 ? 1 : 0);
  append_le (res->bytes, min, 2);
  append_le (res->bytes, max, 2);
  put_byte (res->bytes, align);
  put_byte (res->bytes, len);
}

void
aml_res_irq_noflags (struct aml_res *res, unsigned irq)
{
  if (irq > 15)
    {
      set_error (&res->error, -EINVAL);
      return;
    }
  put_byte (res->bytes, RES_IRQ_NOFLAGS);
  append_le (res->bytes, 1u << irq, 2);
}

void
aml_res_interrupt (struct aml_res *res, bool consumer, bool level, bool active_low,
                   bool shared, uint32_t gsi)
{
  /* Flags: bit 0 consumer, bit 1 edge (not level), bit 2 active-low,
   * bit 3 shared */
  uint8_t flags = (consumer ? 0x01 : 0) | (level ? 0 : 0x02) | (active_low ? 0x04 : 0)
                  | (shared ? 0x08 : 0);

  put_byte (res->bytes, RES_EXT_INTERRUPT);
  append_le (res->bytes, 6, 2);   /* flags, table length, one DWORD */
  put_byte (res->bytes, flags);
  put_byte (res->bytes, 1);
  append_le (res->bytes, gsi, 4);
}

void
aml_res_memory32_fixed (struct aml_res *res, bool rw, uint32_t base, uint32_t len)
{
  put_byte (res->bytes, RES_MEMORY32_FIXED);
  append_le (res->bytes, 9, 2);
  put_byte (res->bytes, rw ? 1 : 0);
  append_le (res->bytes, base, 4);
  append_le (res->bytes, len, 4);
}

/* Address space descriptors share one layout, with fields WIDTH bytes wide. */
static void
res_address (struct aml_res *res, uint8_t tag, unsigned width, const struct aml_addr_space *as)
{
  const uint64_t fields[] = { as->granularity, as->min, as->max, as->translation, as->length };
  uint64_t limit = width == 8 ? UINT64_MAX : (UINT64_C (1) << (8 * width)) - 1;

  for (size_t i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i] > limit)
      {
        set_error (&res->error, -EINVAL);
        return;
      }
  put_byte (res->bytes, tag);
  append_le (res->bytes, 3 + 5 * width, 2);   /* what follows the length field */
  put_byte (res->bytes, as->type);
  put_byte (res->bytes, as->flags);
  put_byte (res->bytes, as->type_flags);
  for (size_t i = 0; i < G_N_ELEMENTS (fields); i++)
    append_le (res->bytes, fields[i], width);
}

void
aml_res_word_address (struct aml_res *res, const struct aml_addr_space *as)
{
  res_address (res, RES_WORD_ADDRESS, 2, as);
}

void
aml_res_dword_address (struct aml_res *res, const struct aml_addr_space *as)
{
  res_address (res, RES_DWORD_ADDRESS, 4, as);
}

void
aml_res_qword_address (struct aml_res *res, const struct aml_addr_space *as)
{
  res_address (res, RES_QWORD_ADDRESS, 8, as);
}

/* A window a bridge produces: [MIN, MAX], both ends fixed. */
static bool
window (struct aml_res *res, uint8_t type, uint8_t type_flags, uint64_t min, uint64_t max,
        struct aml_addr_space *as)
{
  if (max < min)
    {
      set_error (&res->error, -EINVAL);
      return false;
    }
  *as = (struct aml_addr_space) {
    .type = type,
    .flags = AML_RES_MIN_FIXED | AML_RES_MAX_FIXED,
    .type_flags = type_flags,
    .min = min,
    .max = max,
    .length = max - min + 1,
  };
  return true;
}

void
aml_res_word_bus_number (struct aml_res *res, uint16_t min, uint16_t max)
{
  struct aml_addr_space as;

  if (window (res, AML_RES_TYPE_BUS, 0, min, max, &as))
    aml_res_word_address (res, &as);
}

void
aml_res_word_io (struct aml_res *res, uint16_t min, uint16_t max)
{
  struct aml_addr_space as;

  if (window (res, AML_RES_TYPE_IO, AML_RES_IO_ENTIRE_RANGE, min, max, &as))
    aml_res_word_address (res, &as);
}

void
aml_res_dword_memory (struct aml_res *res, uint8_t mem_flags, uint32_t min, uint32_t max)
{
  struct aml_addr_space as;

  if (window (res, AML_RES_TYPE_MEMORY, mem_flags, min, max, &as))
    aml_res_dword_address (res, &as);
}

void
aml_res_qword_memory (struct aml_res *res, uint8_t mem_flags, uint64_t min, uint64_t max)
{
  struct aml_addr_space as;

  /* [0, 2^64) has no QWORD length: refuse it rather than write 0. */
  if (min == 0 && max == UINT64_MAX)
    {
      set_error (&res->error, -EINVAL);
      return;
    }
  if (window (res, AML_RES_TYPE_MEMORY, mem_flags, min, max, &as))
    aml_res_qword_address (res, &as);
}

void
aml_resource_template (struct aml *aml, const struct aml_res *res)
{
  /* End Tag with checksum 0, which §6.4.2.9 says means "treat the sum as
   * right"; iasl writes the same. */
  static const uint8_t end_tag[2] = { RES_END_TAG, 0 };
  g_autoptr(GByteArray) all = g_byte_array_sized_new (res->bytes->len + 2);

  if (res->error != 0)
    set_error (&aml->error, res->error);
  g_byte_array_append (all, res->bytes->data, res->bytes->len);
  g_byte_array_append (all, end_tag, sizeof end_tag);
  aml_buffer (aml, all->data, all->len);
}
