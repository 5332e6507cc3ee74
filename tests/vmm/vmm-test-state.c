/* vmm-test-state.c: saved-state files for the engine's unit tests
 *
 * Whole files from a writer, a section's payload, and a file with one
 * section replaced (vmm-test.h), for any device's tests: they need the
 * state container only, not the virtio library.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "vmm-test.h"

#include <string.h>

#include "snapshot/state.h"

GBytes *
vmm_test_state_finish (struct vmm_state_writer *w)
{
  const uint8_t *data;
  GBytes *bytes;
  size_t len;

  data = vmm_state_writer_finish (w, &len);
  bytes = g_bytes_new (data, len);
  vmm_state_writer_free (w);
  return bytes;
}

struct vmm_state_file *
vmm_test_state_parse (GBytes *file)
{
  g_autoptr (GError) error = NULL;
  struct vmm_state_file *f;
  size_t len;
  const uint8_t *data = g_bytes_get_data (file, &len);

  f = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
  return f;
}

GBytes *
vmm_test_state_payload (GBytes *file, const char *section)
{
  struct vmm_state_file *f = vmm_test_state_parse (file);
  const struct vmm_state_section *s = vmm_state_file_find (f, section);
  GBytes *payload;

  g_assert_nonnull (s);
  payload = g_bytes_new (s->data, s->len);
  vmm_state_file_free (f);
  return payload;
}

GBytes *
vmm_test_state_replace (GBytes *file, const char *section, uint32_t version, const void *data,
                        size_t n)
{
  struct vmm_state_file *f = vmm_test_state_parse (file);
  struct vmm_state_writer *w = vmm_state_writer_new ();
  bool found = false;

  for (unsigned i = 0; i < vmm_state_file_n_sections (f); i++)
    {
      const struct vmm_state_section *s = vmm_state_file_section (f, i);
      bool it = strcmp (s->name, section) == 0;

      found |= it;
      vmm_state_begin (w, s->name, it ? version : s->version);
      vmm_state_put_bytes (w, it ? data : s->data, it ? n : s->len);
      vmm_state_end (w);
    }
  g_assert_true (found);
  vmm_state_file_free (f);
  return vmm_test_state_finish (w);
}
