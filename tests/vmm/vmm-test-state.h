/* vmm-test-state.h: saved-state files for the devices' round-trip tests
 *
 * A device test saves device A into a writer, turns it into a parsed file
 * (vmm_test_state_close), loads it into device B, and builds damaged
 * copies of A's section (cut short, a byte changed, a newer version) with
 * vmm_test_state_make to see each refused. Header-only: the tests that use
 * it link the base library (snapshot/state.c) already.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "snapshot/state.h"

struct vmm_test_state {
  GBytes *bytes;
  struct vmm_state_file *file;
};

/* Finishes W (freeing it) and parses what it wrote into ST */
static inline void
vmm_test_state_close (struct vmm_test_state *st, struct vmm_state_writer *w)
{
  g_autoptr (GError) error = NULL;
  const uint8_t *data;
  size_t len;

  data = vmm_state_writer_finish (w, &len);
  st->bytes = g_bytes_new (data, len);
  vmm_state_writer_free (w);
  data = g_bytes_get_data (st->bytes, &len);
  st->file = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
}

/* A file of one section NAME, of VERSION, holding LEN bytes of PAYLOAD */
static inline void
vmm_test_state_make (struct vmm_test_state *st, const char *name, uint32_t version,
                     const void *payload, size_t len)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_state_begin (w, name, version);
  vmm_state_put_bytes (w, payload, len);
  vmm_state_end (w);
  vmm_test_state_close (st, w);
}

static inline void
vmm_test_state_clear (struct vmm_test_state *st)
{
  g_clear_pointer (&st->file, vmm_state_file_free);
  g_clear_pointer (&st->bytes, g_bytes_unref);
}

/* The section NAME of ST, asserted to be there */
static inline const struct vmm_state_section *
vmm_test_state_section (const struct vmm_test_state *st, const char *name)
{
  const struct vmm_state_section *s = vmm_state_file_find (st->file, name);

  g_assert_nonnull (s);
  return s;
}

/* Asserts that the section NAME is the same, byte for byte, in A and B */
static inline void
vmm_test_state_assert_same (const struct vmm_test_state *a, const struct vmm_test_state *b,
                            const char *name)
{
  const struct vmm_state_section *sa = vmm_test_state_section (a, name);
  const struct vmm_state_section *sb = vmm_test_state_section (b, name);

  g_assert_cmpuint (sa->version, ==, sb->version);
  g_assert_cmpmem (sa->data, sa->len, sb->data, sb->len);
}

/* Asserts that ERROR is a refusal of the section NAME (of kind CODE), and
 * clears it */
static inline void
vmm_test_state_assert_refused (GError **error, int code, const char *name)
{
  g_autofree char *quoted = g_strdup_printf ("“%s”", name);

  g_assert_error (*error, VMM_STATE_ERROR, code);
  g_assert_nonnull (strstr ((*error)->message, quoted));
  g_clear_error (error);
}

/* The three damaged copies of a section every device refuses: cut short
 * by a byte, made by a newer version, and with the byte at BAD_AT set to
 * BAD (a value out of range). LOAD loads ST's section NAME into the
 * device under test without applying, then with; it must refuse each,
 * which the caller then checks left the device as it was. */
typedef gboolean (*vmm_test_state_load_fn) (void *device, const struct vmm_state_file *f,
                                            const char *name, bool apply, GError **error);

static inline void
vmm_test_state_refusals (const struct vmm_test_state *good, const char *name,
                         vmm_test_state_load_fn load, void *device, size_t bad_at, uint8_t bad)
{
  const struct vmm_state_section *s = vmm_test_state_section (good, name);
  g_autofree uint8_t *copy = g_memdup2 (s->data, s->len);
  struct vmm_test_state st = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (bad_at, <, s->len);
  for (int apply = 0; apply <= 1; apply++)
    {
      vmm_test_state_make (&st, name, s->version, s->data, s->len - 1);
      g_assert_false (load (device, st.file, name, apply, &error));
      vmm_test_state_assert_refused (&error, VMM_STATE_ERROR_DAMAGED, name);
      vmm_test_state_clear (&st);

      vmm_test_state_make (&st, name, s->version + 1, s->data, s->len);
      g_assert_false (load (device, st.file, name, apply, &error));
      vmm_test_state_assert_refused (&error, VMM_STATE_ERROR_TOO_NEW, name);
      vmm_test_state_clear (&st);

      copy[bad_at] = bad;
      vmm_test_state_make (&st, name, s->version, copy, s->len);
      g_assert_false (load (device, st.file, name, apply, &error));
      vmm_test_state_assert_refused (&error, VMM_STATE_ERROR_DAMAGED, name);
      vmm_test_state_clear (&st);
    }
}
