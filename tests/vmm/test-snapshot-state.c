/* test-snapshot-state.c: the saved-state container (snapshot/state.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <zlib.h>

#include <glib.h>

#include "snapshot/state.h"
#include "viv-bytes.h"

/* Two sections of every field kind */
static GBytes *
make_file (void)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();
  const uint8_t blob[5] = { 1, 2, 3, 4, 5 };
  const uint8_t *data;
  GBytes *bytes;
  size_t len;

  vmm_state_begin (w, "vcpu.0", 2);
  vmm_state_put_u8 (w, 0xab);
  vmm_state_put_u16 (w, 0xcdef);
  vmm_state_put_u32 (w, 0x12345678);
  vmm_state_put_u64 (w, 0x1122334455667788ull);
  vmm_state_put_bool (w, true);
  vmm_state_put_blob (w, blob, sizeof blob);
  vmm_state_end (w);
  vmm_state_begin (w, "empty", 1);
  vmm_state_end (w);
  data = vmm_state_writer_finish (w, &len);
  bytes = g_bytes_new (data, len);
  vmm_state_writer_free (w);
  return bytes;
}

static void
test_round_trip (void)
{
  g_autoptr (GBytes) bytes = make_file ();
  g_autoptr (GError) error = NULL;
  struct vmm_state_file *f;
  struct vmm_state_reader r;
  const uint8_t *blob;
  uint32_t n;
  size_t len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);

  f = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vmm_state_file_n_sections (f), ==, 2);
  g_assert_cmpstr (vmm_state_file_section (f, 1)->name, ==, "empty");
  g_assert_null (vmm_state_file_find (f, "vcpu.1"));

  g_assert_true (vmm_state_reader_init (&r, f, "vcpu.0", 2, &error));
  g_assert_cmpuint (r.s->version, ==, 2);
  g_assert_cmphex (vmm_state_get_u8 (&r), ==, 0xab);
  g_assert_cmphex (vmm_state_get_u16 (&r), ==, 0xcdef);
  g_assert_cmphex (vmm_state_get_u32 (&r), ==, 0x12345678);
  g_assert_cmphex (vmm_state_get_u64 (&r), ==, 0x1122334455667788ull);
  g_assert_true (vmm_state_get_bool (&r));
  blob = vmm_state_get_blob (&r, 16, &n);
  g_assert_cmpuint (n, ==, 5);
  g_assert_cmpuint (blob[4], ==, 5);
  g_assert_true (vmm_state_reader_done (&r, &error));
  g_assert_no_error (error);

  /* reading past the end fails, and says where */
  g_assert_true (vmm_state_reader_init (&r, f, "empty", 1, &error));
  g_assert_cmpuint (vmm_state_get_u32 (&r), ==, 0);
  g_assert_false (vmm_state_reader_done (&r, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  g_assert_nonnull (strstr (error->message, "“empty”"));
  g_clear_error (&error);

  /* bytes left over fail too */
  g_assert_true (vmm_state_reader_init (&r, f, "vcpu.0", 2, &error));
  vmm_state_get_u8 (&r);
  g_assert_false (vmm_state_reader_done (&r, &error));
  g_clear_error (&error);

  /* a blob longer than the reader allows; a flag that is not 0 or 1 */
  g_assert_true (vmm_state_reader_init (&r, f, "vcpu.0", 2, &error));
  vmm_state_get_bytes (&r, (uint8_t[15]) { 0 }, 15);
  g_assert_null (vmm_state_get_blob (&r, 4, &n));
  g_assert_false (vmm_state_reader_done (&r, &error));
  g_clear_error (&error);
  g_assert_true (vmm_state_reader_init (&r, f, "vcpu.0", 2, &error));
  vmm_state_get_u8 (&r);
  vmm_state_get_bytes (&r, (uint8_t[1]) { 0 }, 1);
  g_assert_false (vmm_state_get_bool (&r));      /* reads 0xef */
  g_assert_false (vmm_state_reader_done (&r, &error));
  g_clear_error (&error);

  /* a section written by a newer engine; a missing one */
  g_assert_false (vmm_state_reader_init (&r, f, "vcpu.0", 1, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_TOO_NEW);
  g_clear_error (&error);
  g_assert_false (vmm_state_reader_init (&r, f, "nothing", 1, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  vmm_state_file_free (f);
}

/* Whether a copy of DATA (its checksum made right with FIX_CRC) parses */
static gboolean
parse_copy (const uint8_t *data, size_t len, bool fix_crc, GError **error)
{
  g_autofree uint8_t *copy = g_memdup2 (data, len);
  struct vmm_state_file *f;

  if (fix_crc && len >= 4)
    viv_put_le32 (copy + len - 4, (uint32_t) crc32_z (0, copy, len - 4));
  f = vmm_state_file_parse (copy, len, error);
  vmm_state_file_free (f);
  return f != NULL;
}

static void
test_damaged (void)
{
  g_autoptr (GBytes) bytes = make_file ();
  size_t len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);
  g_autofree uint8_t *bad = g_memdup2 (data, len);
  GError *error = NULL;

  /* every single byte changed is caught (by the checksum at least) */
  for (size_t i = 0; i < len; i++)
    {
      bad[i] ^= 0x40;
      g_assert_false (parse_copy (bad, len, false, &error));
      g_assert_nonnull (error);
      g_clear_error (&error);
      bad[i] ^= 0x40;
    }
  /* every truncation */
  for (size_t n = 0; n < len; n++)
    {
      g_assert_false (parse_copy (data, n, false, &error));
      g_assert_nonnull (error);
      g_clear_error (&error);
      g_assert_false (parse_copy (data, n, true, &error));
      g_assert_nonnull (error);
      g_clear_error (&error);
    }

  /* lengths and counts wrong under a right checksum */
  viv_put_le32 (bad + 12, 3);                   /* one section more than there is */
  g_assert_false (parse_copy (bad, len, true, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  g_clear_error (&error);
  viv_put_le32 (bad + 12, 1);                   /* bytes after the last section */
  g_assert_false (parse_copy (bad, len, true, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  g_clear_error (&error);
  viv_put_le32 (bad + 12, 2);
  viv_put_le64 (bad + 16 + 2 + 6 + 4, UINT64_MAX);      /* vcpu.0's length */
  g_assert_false (parse_copy (bad, len, true, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  g_clear_error (&error);

  /* not a state file; a newer format */
  g_assert_false (parse_copy ((const uint8_t *) "hello, world, not a state", 25, false, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_NOT_STATE);
  g_clear_error (&error);
  memcpy (bad, data, len);
  viv_put_le32 (bad + 8, VMM_STATE_FORMAT + 1);
  g_assert_false (parse_copy (bad, len, true, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_TOO_NEW);
  g_assert_nonnull (strstr (error->message, "newer"));
  g_clear_error (&error);
}

/* Two sections of one name: refused */
static void
test_twins (void)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();
  g_autofree uint8_t *bad = NULL;
  GError *error = NULL;
  const uint8_t *data;
  size_t len;

  vmm_state_begin (w, "aaaaa", 1);
  vmm_state_put_u32 (w, 1);
  vmm_state_end (w);
  vmm_state_begin (w, "bbbbb", 1);
  vmm_state_end (w);
  data = vmm_state_writer_finish (w, &len);
  g_assert_true (parse_copy (data, len, false, &error));
  bad = g_memdup2 (data, len);
  g_assert_cmpmem (bad + 16 + 23 + 2, 5, "bbbbb", 5);
  memcpy (bad + 16 + 23 + 2, "aaaaa", 5);
  g_assert_false (parse_copy (bad, len, true, &error));
  g_assert_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED);
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);
  vmm_state_writer_free (w);
}

/* Reads one zblob of N bytes from a file whose only section holds WRITE's output */
static gboolean
zblob_read (void (*write) (struct vmm_state_writer *, const void *), const void *arg,
            uint8_t *dst, uint32_t n, uint8_t *encoding)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();
  g_autoptr (GError) error = NULL;
  struct vmm_state_reader r;
  struct vmm_state_file *f;
  const uint8_t *data;
  gboolean ok;
  size_t len;

  vmm_state_begin (w, "z", 1);
  write (w, arg);
  vmm_state_end (w);
  data = vmm_state_writer_finish (w, &len);
  f = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
  g_assert_true (vmm_state_reader_init (&r, f, "z", 1, &error));
  *encoding = vmm_state_file_find (f, "z")->data[0];
  vmm_state_get_zblob (&r, dst, n);
  ok = vmm_state_reader_done (&r, NULL);
  vmm_state_file_free (f);
  vmm_state_writer_free (w);
  return ok;
}

#define ZN (64 * 1024)

static void
put_zblob (struct vmm_state_writer *w, const void *p)
{
  vmm_state_put_zblob (w, p, ZN);
}

/* What the first engines wrote: encoding 1, a zlib stream (with its Adler-32) */
static void
put_zlib (struct vmm_state_writer *w, const void *p)
{
  uLongf len = compressBound (ZN);
  g_autofree uint8_t *z = g_malloc (len);

  g_assert_cmpint (compress2 (z, &len, p, ZN, 1), ==, Z_OK);
  vmm_state_put_u8 (w, 1);
  vmm_state_put_blob (w, z, (uint32_t) len);
}

/* Raw deflate of the first half only: inflates short */
static void
put_short (struct vmm_state_writer *w, const void *p)
{
  z_stream z = { 0 };
  uint8_t out[ZN];

  g_assert_cmpint (deflateInit2 (&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
  z.next_in = (Bytef *) p;
  z.avail_in = ZN / 2;
  z.next_out = out;
  z.avail_out = sizeof out;
  g_assert_cmpint (deflate (&z, Z_FINISH), ==, Z_STREAM_END);
  vmm_state_put_u8 (w, 2);
  vmm_state_put_blob (w, out, (uint32_t) z.total_out);
  deflateEnd (&z);
}

static void
test_zblob (void)
{
  g_autofree uint8_t *in = g_malloc (ZN), *out = g_malloc (ZN), *noise = g_malloc (ZN);
  uint8_t encoding;

  for (unsigned i = 0; i < ZN; i++)
    in[i] = (uint8_t) (i / 1000);
  for (unsigned i = 0; i < ZN; i++)
    noise[i] = (uint8_t) g_test_rand_int ();

  /* written as raw deflate now, and read back */
  g_assert_true (zblob_read (put_zblob, in, out, ZN, &encoding));
  g_assert_cmpuint (encoding, ==, 2);
  g_assert_cmpmem (in, ZN, out, ZN);
  /* the zlib streams of earlier engines still read */
  memset (out, 0, ZN);
  g_assert_true (zblob_read (put_zlib, in, out, ZN, &encoding));
  g_assert_cmpuint (encoding, ==, 1);
  g_assert_cmpmem (in, ZN, out, ZN);
  /* what does not shrink is kept raw */
  g_assert_true (zblob_read (put_zblob, noise, out, ZN, &encoding));
  g_assert_cmpuint (encoding, ==, 0);
  g_assert_cmpmem (noise, ZN, out, ZN);
  /* a stream that ends early is refused */
  g_assert_false (zblob_read (put_short, in, out, ZN, &encoding));
}

static void
count_free (gpointer p)
{
  (*(int *) p)++;
}

/* What a check keeps for its apply: taken once, freed with the file otherwise */
static void
test_keep (void)
{
  g_autoptr (GBytes) bytes = make_file ();
  g_autoptr (GError) error = NULL;
  struct vmm_state_file *f;
  size_t len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);
  int a = 0, b = 0, c = 0;

  f = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
  g_assert_null (vmm_state_file_take (f, "vcpu.0"));
  vmm_state_file_keep (f, "vcpu.0", &a, count_free);
  vmm_state_file_keep (f, "empty", &b, count_free);
  g_assert_true (vmm_state_file_take (f, "vcpu.0") == &a);
  g_assert_null (vmm_state_file_take (f, "vcpu.0"));
  /* kept again under one name: the earlier is freed */
  vmm_state_file_keep (f, "empty", &c, count_free);
  g_assert_cmpint (b, ==, 1);
  vmm_state_file_free (f);
  g_assert_cmpint (a, ==, 0);
  g_assert_cmpint (b, ==, 1);
  g_assert_cmpint (c, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/snapshot-state/round-trip", test_round_trip);
  g_test_add_func ("/snapshot-state/damaged", test_damaged);
  g_test_add_func ("/snapshot-state/twins", test_twins);
  g_test_add_func ("/snapshot-state/zblob", test_zblob);
  g_test_add_func ("/snapshot-state/keep", test_keep);
  return g_test_run ();
}
