/* snapshot/state.c: the state file's container (state.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "snapshot/state.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <glib/gi18n.h>

#include "viv-bytes.h"

#define HEADER_LEN  16          /* magic, format, section count */
#define TRAILER_LEN 4           /* CRC-32 */

G_DEFINE_QUARK (vmm-state-error-quark, vmm_state_error)

/* ---- writing ---------------------------------------------------------------------- */

struct vmm_state_writer {
  GByteArray *buf;
  GHashTable *names;           /* of the sections so far */
  size_t section;              /* where the open section's length goes, or 0 */
  uint32_t n_sections;
};

struct vmm_state_writer *
vmm_state_writer_new (void)
{
  struct vmm_state_writer *w = g_new0 (struct vmm_state_writer, 1);
  uint8_t header[HEADER_LEN] = { 0 };

  w->buf = g_byte_array_new ();
  w->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  memcpy (header, VMM_STATE_MAGIC, 8);
  viv_put_le32 (header + 8, VMM_STATE_FORMAT);
  g_byte_array_append (w->buf, header, sizeof header);
  return w;
}

void
vmm_state_writer_free (struct vmm_state_writer *w)
{
  if (w == NULL)
    return;
  g_byte_array_unref (w->buf);
  g_hash_table_unref (w->names);
  g_free (w);
}

void
vmm_state_begin (struct vmm_state_writer *w, const char *name, uint32_t version)
{
  size_t n = strlen (name);
  uint8_t head[2 + VMM_STATE_MAX_NAME + 12];

  g_assert (w->section == 0);
  g_assert (n > 0 && n <= VMM_STATE_MAX_NAME);
  g_assert (w->n_sections < VMM_STATE_MAX_SECTIONS);
  /* a name twice is the engine's bug, not the guest's */
  g_assert (g_hash_table_add (w->names, g_strdup (name)));
  viv_put_le16 (head, (uint16_t) n);
  memcpy (head + 2, name, n);
  viv_put_le32 (head + 2 + n, version);
  viv_put_le64 (head + 6 + n, 0);
  g_byte_array_append (w->buf, head, (guint) (14 + n));
  w->section = w->buf->len - 8;
  w->n_sections++;
}

void
vmm_state_end (struct vmm_state_writer *w)
{
  g_assert (w->section != 0);
  viv_put_le64 (w->buf->data + w->section, w->buf->len - (w->section + 8));
  w->section = 0;
}

void
vmm_state_put_bytes (struct vmm_state_writer *w, const void *p, size_t n)
{
  g_assert (w->section != 0);
  g_assert (n <= G_MAXUINT);
  if (n > 0)
    g_byte_array_append (w->buf, p, (guint) n);
}

void
vmm_state_put_u8 (struct vmm_state_writer *w, uint8_t v)
{
  vmm_state_put_bytes (w, &v, 1);
}

void
vmm_state_put_u16 (struct vmm_state_writer *w, uint16_t v)
{
  uint8_t b[2];

  viv_put_le16 (b, v);
  vmm_state_put_bytes (w, b, sizeof b);
}

void
vmm_state_put_u32 (struct vmm_state_writer *w, uint32_t v)
{
  uint8_t b[4];

  viv_put_le32 (b, v);
  vmm_state_put_bytes (w, b, sizeof b);
}

void
vmm_state_put_u64 (struct vmm_state_writer *w, uint64_t v)
{
  uint8_t b[8];

  viv_put_le64 (b, v);
  vmm_state_put_bytes (w, b, sizeof b);
}

void
vmm_state_put_bool (struct vmm_state_writer *w, bool v)
{
  vmm_state_put_u8 (w, v ? 1 : 0);
}

void
vmm_state_put_blob (struct vmm_state_writer *w, const void *p, uint32_t n)
{
  vmm_state_put_u32 (w, n);
  vmm_state_put_bytes (w, p, n);
}

#define ZBLOB_RAW      0
#define ZBLOB_ZLIB     1       /* a zlib stream (written by the first engines) */
#define ZBLOB_DEFLATE  2       /* raw deflate: the file's CRC already covers it, so no Adler-32 */
#define ZBLOB_MIN   4096        /* smaller buffers are not worth compressing */

/* Deflates P into a buffer of at most N - 1 bytes: its length, or 0 when it
 * does not get smaller (or there is no memory to try) */
static size_t
deflate_raw (const void *p, uint32_t n, uint8_t **out)
{
  z_stream z = { 0 };
  size_t len = 0;

  *out = malloc (n);
  if (*out == NULL || deflateInit2 (&z, Z_BEST_SPEED, Z_DEFLATED, -15, 8,
                                    Z_DEFAULT_STRATEGY) != Z_OK)
    return 0;
  z.next_in = (Bytef *) p;
  z.avail_in = n;
  z.next_out = *out;
  z.avail_out = n - 1;
  if (deflate (&z, Z_FINISH) == Z_STREAM_END)
    len = z.total_out;
  deflateEnd (&z);
  return len;
}

void
vmm_state_put_zblob (struct vmm_state_writer *w, const void *p, uint32_t n)
{
  g_autofree uint8_t *z = NULL;
  size_t len = n >= ZBLOB_MIN ? deflate_raw (p, n, &z) : 0;

  if (len > 0)
    {
      vmm_state_put_u8 (w, ZBLOB_DEFLATE);
      vmm_state_put_blob (w, z, (uint32_t) len);
      return;
    }
  /* small, incompressible, or no memory to compress in: raw, which reads back the same */
  vmm_state_put_u8 (w, ZBLOB_RAW);
  vmm_state_put_blob (w, p, n);
}

const uint8_t *
vmm_state_writer_finish (struct vmm_state_writer *w, size_t *len)
{
  uint8_t crc[TRAILER_LEN];

  g_assert (w->section == 0);
  viv_put_le32 (w->buf->data + 12, w->n_sections);
  viv_put_le32 (crc, (uint32_t) crc32_z (0, w->buf->data, w->buf->len));
  g_byte_array_append (w->buf, crc, sizeof crc);
  *len = w->buf->len;
  return w->buf->data;
}

/* ---- reading ---------------------------------------------------------------------- */

struct vmm_state_file {
  struct vmm_state_section *sections;
  unsigned n;
  char *names;                 /* the sections' names, each NUL-terminated */
  /* What a loader's check decoded, kept for its apply (vmm_state_file_keep):
   * a cache, not part of the file's content, hence changed through const */
  struct kept {
    char *section;
    void *data;
    GDestroyNotify free_func;
  } *kept;
  unsigned n_kept;
};

static void
kept_clear (struct kept *k)
{
  if (k->free_func != NULL && k->data != NULL)
    k->free_func (k->data);
  g_free (k->section);
  *k = (struct kept) { 0 };
}

void
vmm_state_file_free (struct vmm_state_file *f)
{
  if (f == NULL)
    return;
  for (unsigned i = 0; i < f->n_kept; i++)
    kept_clear (&f->kept[i]);
  g_free (f->kept);
  g_free (f->sections);
  g_free (f->names);
  g_free (f);
}

void
vmm_state_file_keep (const struct vmm_state_file *cf, const char *section, void *data,
                     GDestroyNotify free_func)
{
  struct vmm_state_file *f = (struct vmm_state_file *) cf;

  for (unsigned i = 0; i < f->n_kept; i++)
    if (strcmp (f->kept[i].section, section) == 0)
      {
        kept_clear (&f->kept[i]);
        f->kept[i] = (struct kept) { g_strdup (section), data, free_func };
        return;
      }
  f->kept = g_renew (struct kept, f->kept, f->n_kept + 1);
  f->kept[f->n_kept++] = (struct kept) { g_strdup (section), data, free_func };
}

void *
vmm_state_file_take (const struct vmm_state_file *cf, const char *section)
{
  struct vmm_state_file *f = (struct vmm_state_file *) cf;

  for (unsigned i = 0; i < f->n_kept; i++)
    if (strcmp (f->kept[i].section, section) == 0)
      {
        void *data = f->kept[i].data;

        g_free (f->kept[i].section);
        f->kept[i] = f->kept[--f->n_kept];
        return data;
      }
  return NULL;
}

static struct vmm_state_file *
parse_fail (struct vmm_state_file *f, GError **error, const char *why)
{
  vmm_state_file_free (f);
  g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED,
               _("The saved state is damaged: %s"), why);
  return NULL;
}

struct vmm_state_file *
vmm_state_file_parse (const uint8_t *data, size_t len, GError **error)
{
  struct vmm_state_file *f;
  g_autoptr (GHashTable) seen = NULL;
  uint32_t format, n;
  size_t off, body, names_len = 0;

  if (len < HEADER_LEN + TRAILER_LEN || memcmp (data, VMM_STATE_MAGIC, 8) != 0)
    {
      g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_NOT_STATE,
                   _("This is not a saved machine state"));
      return NULL;
    }
  format = viv_get_le32 (data + 8);
  if (format == 0 || format > VMM_STATE_FORMAT)
    {
      g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_TOO_NEW,
                   _("The saved state was made by a newer version of Vivarium (format %u; "
                     "this version reads up to %u)"), format, VMM_STATE_FORMAT);
      return NULL;
    }
  body = len - TRAILER_LEN;
  if ((uint32_t) crc32_z (0, data, body) != viv_get_le32 (data + body))
    return parse_fail (NULL, error, _("its checksum does not match"));
  n = viv_get_le32 (data + 12);
  if (n > VMM_STATE_MAX_SECTIONS)
    return parse_fail (NULL, error, _("too many sections"));

  f = g_new0 (struct vmm_state_file, 1);
  f->sections = g_new0 (struct vmm_state_section, n ? n : 1);
  f->names = g_malloc ((size_t) n * (VMM_STATE_MAX_NAME + 1) + 1);
  seen = g_hash_table_new (g_str_hash, g_str_equal);
  off = HEADER_LEN;
  for (uint32_t i = 0; i < n; i++)
    {
      struct vmm_state_section *s = &f->sections[i];
      uint16_t name_len;
      char *name;

      if (body - off < 2)
        return parse_fail (f, error, _("a section is cut short"));
      name_len = viv_get_le16 (data + off);
      if (name_len == 0 || name_len > VMM_STATE_MAX_NAME || body - off - 2 < (size_t) name_len + 12)
        return parse_fail (f, error, _("a section is cut short"));
      name = f->names + names_len;
      memcpy (name, data + off + 2, name_len);
      name[name_len] = '\0';
      if (strlen (name) != name_len || !g_utf8_validate (name, name_len, NULL))
        return parse_fail (f, error, _("a section has a bad name"));
      names_len += (size_t) name_len + 1;
      s->name = name;
      s->version = viv_get_le32 (data + off + 2 + name_len);
      s->len = viv_get_le64 (data + off + 6 + name_len);
      off += 14 + (size_t) name_len;
      if (s->len > body - off)
        return parse_fail (f, error, _("a section is cut short"));
      s->data = data + off;
      off += s->len;
      if (!g_hash_table_add (seen, (gpointer) s->name))
        return parse_fail (f, error, _("a section is there twice"));
    }
  if (off != body)
    return parse_fail (f, error, _("it has bytes after its last section"));
  f->n = n;
  return f;
}

const struct vmm_state_section *
vmm_state_file_find (const struct vmm_state_file *f, const char *name)
{
  for (unsigned i = 0; i < f->n; i++)
    if (strcmp (f->sections[i].name, name) == 0)
      return &f->sections[i];
  return NULL;
}

unsigned
vmm_state_file_n_sections (const struct vmm_state_file *f)
{
  return f->n;
}

const struct vmm_state_section *
vmm_state_file_section (const struct vmm_state_file *f, unsigned i)
{
  return i < f->n ? &f->sections[i] : NULL;
}

gboolean
vmm_state_reader_init (struct vmm_state_reader *r, const struct vmm_state_file *f,
                       const char *name, uint32_t max_version, GError **error)
{
  memset (r, 0, sizeof *r);
  r->s = vmm_state_file_find (f, name);
  if (r->s == NULL)
    {
      g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED,
                   _("The saved state has no “%s”"), name);
      return FALSE;
    }
  if (r->s->version == 0 || r->s->version > max_version)
    {
      g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_TOO_NEW,
                   _("The saved state of “%s” was made by a newer version of Vivarium "
                     "(version %u; this version reads up to %u)"), name, r->s->version,
                   max_version);
      r->s = NULL;
      return FALSE;
    }
  return TRUE;
}

void
vmm_state_reader_fail (struct vmm_state_reader *r, const char *why)
{
  if (r->failed == NULL)
    r->failed = why;
}

/* The next N bytes, or NULL (and the reader fails) */
static const uint8_t *
take (struct vmm_state_reader *r, size_t n)
{
  const uint8_t *p;

  if (r->failed != NULL || r->s == NULL)
    return NULL;
  if (r->s->len - r->pos < n)
    {
      vmm_state_reader_fail (r, N_ ("cut short"));
      return NULL;
    }
  p = r->s->data + r->pos;
  r->pos += n;
  return p;
}

uint8_t
vmm_state_get_u8 (struct vmm_state_reader *r)
{
  const uint8_t *p = take (r, 1);

  return p ? p[0] : 0;
}

uint16_t
vmm_state_get_u16 (struct vmm_state_reader *r)
{
  const uint8_t *p = take (r, 2);

  return p ? viv_get_le16 (p) : 0;
}

uint32_t
vmm_state_get_u32 (struct vmm_state_reader *r)
{
  const uint8_t *p = take (r, 4);

  return p ? viv_get_le32 (p) : 0;
}

uint64_t
vmm_state_get_u64 (struct vmm_state_reader *r)
{
  const uint8_t *p = take (r, 8);

  return p ? viv_get_le64 (p) : 0;
}

bool
vmm_state_get_bool (struct vmm_state_reader *r)
{
  uint8_t v = vmm_state_get_u8 (r);

  if (v > 1)
    vmm_state_reader_fail (r, N_ ("a flag is neither 0 nor 1"));
  return v == 1;
}

void
vmm_state_get_bytes (struct vmm_state_reader *r, void *p, size_t n)
{
  const uint8_t *src = take (r, n);

  if (src != NULL)
    memcpy (p, src, n);
  else if (n > 0)
    memset (p, 0, n);
}

const uint8_t *
vmm_state_get_blob (struct vmm_state_reader *r, uint32_t max, uint32_t *n)
{
  uint32_t len = vmm_state_get_u32 (r);
  const uint8_t *p;

  *n = 0;
  if (len > max)
    {
      vmm_state_reader_fail (r, N_ ("a buffer is too long"));
      return NULL;
    }
  p = take (r, len);
  if (p != NULL)
    *n = len;
  return p;
}

static bool
inflate_all (const uint8_t *p, uint32_t len, void *dst, uint32_t n, int window_bits)
{
  z_stream z = { 0 };
  bool ok;

  if (inflateInit2 (&z, window_bits) != Z_OK)
    return false;
  z.next_in = (Bytef *) p;
  z.avail_in = len;
  z.next_out = dst;
  z.avail_out = n;
  /* the whole output, the whole input, and the stream's end: nothing more, nothing less */
  ok = inflate (&z, Z_FINISH) == Z_STREAM_END && z.total_out == n && z.avail_in == 0;
  inflateEnd (&z);
  return ok;
}

void
vmm_state_get_zblob (struct vmm_state_reader *r, void *dst, uint32_t n)
{
  uint8_t encoding = vmm_state_get_u8 (r);
  const uint8_t *p;
  uint32_t len;

  if (encoding == ZBLOB_RAW)
    {
      p = vmm_state_get_blob (r, n, &len);
      if (p != NULL && len != n)
        vmm_state_reader_fail (r, N_("a buffer has the wrong size"));
      else if (p != NULL)
        memcpy (dst, p, n);
      return;
    }
  if (encoding != ZBLOB_ZLIB && encoding != ZBLOB_DEFLATE)
    {
      vmm_state_reader_fail (r, N_("a buffer is in an unknown encoding"));
      return;
    }
  p = vmm_state_get_blob (r, (uint32_t) MIN (compressBound (n), (uLong) UINT32_MAX), &len);
  if (p == NULL)
    return;
  if (!inflate_all (p, len, dst, n, encoding == ZBLOB_ZLIB ? 15 : -15))
    vmm_state_reader_fail (r, N_("a compressed buffer does not inflate to its size"));
}

gboolean
vmm_state_reader_done (struct vmm_state_reader *r, GError **error)
{
  const char *why = r->failed;

  if (r->s == NULL)
    why = N_ ("missing");
  else if (why == NULL && r->pos != r->s->len)
    why = N_ ("bytes left over");
  if (why == NULL)
    return TRUE;
  g_set_error (error, VMM_STATE_ERROR, VMM_STATE_ERROR_DAMAGED,
               _("The saved state of “%s” is damaged (%s)"), r->s ? r->s->name : "?", _(why));
  return FALSE;
}
