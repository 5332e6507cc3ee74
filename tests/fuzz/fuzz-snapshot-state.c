/* fuzz-snapshot-state.c: the saved-state container (snapshot/state.c)
 *
 * A state file is read back from the machine's folder, where anything may
 * have happened to it. Any input may be refused, with a message; one that
 * parses is read section by section, field after field of the kinds the
 * input's first byte picks, as a device's load reads it: a read past a
 * section's end, a bad flag or an overlong buffer make the reader fail
 * with a message, never read outside the input.
 *
 * Input: a byte of flags (bit 0: make the checksum right first, so the
 * fuzzer gets past it; bits 1-7: the field kinds, cycling), then the file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <glib.h>

#include "snapshot/state.h"
#include "viv-bytes.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
refused (GError *error)
{
  if (error == NULL || error->message == NULL || error->message[0] == '\0')
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *copy = NULL;
  struct vmm_state_file *f;
  uint8_t flags;

  if (size < 1)
    return 0;
  flags = data[0];
  /* a copy of its own size, so a sanitizer sees any read past the end */
  copy = g_memdup2 (data + 1, size - 1);
  size--;
  if ((flags & 1) && size >= 4)
    viv_put_le32 (copy + size - 4, (uint32_t) crc32_z (0, copy, size - 4));
  f = vmm_state_file_parse (copy, size, &error);
  if (f == NULL)
    {
      refused (error);
      return 0;
    }
  for (unsigned i = 0; i < vmm_state_file_n_sections (f); i++)
    {
      const struct vmm_state_section *s = vmm_state_file_section (f, i);
      struct vmm_state_reader r;
      unsigned kind = flags >> 1;
      GError *e = NULL;

      if (s->data < copy || s->data + s->len > copy + size || s->name == NULL)
        abort ();
      if (!vmm_state_reader_init (&r, f, s->name, 1 + (flags >> 4), &e))
        {
          refused (e);
          g_error_free (e);
          continue;
        }
      for (unsigned n = 0; n < 4096 && r.failed == NULL && r.pos < s->len; n++, kind /= 2)
        {
          uint8_t buf[16];
          uint32_t len;

          switch ((kind + n) % 7)
            {
            case 0: vmm_state_get_u8 (&r); break;
            case 1: vmm_state_get_u16 (&r); break;
            case 2: vmm_state_get_u32 (&r); break;
            case 3: vmm_state_get_u64 (&r); break;
            case 4: vmm_state_get_bool (&r); break;
            case 5: vmm_state_get_bytes (&r, buf, sizeof buf); break;
            default:
              {
                const uint8_t *p = vmm_state_get_blob (&r, 1024, &len);

                if (p != NULL && (p < s->data || p + len > s->data + s->len))
                  abort ();
                break;
              }
            }
        }
      if (vmm_state_reader_done (&r, &e))
        {
          if (r.pos != s->len)
            abort ();
        }
      else
        {
          refused (e);
          g_error_free (e);
        }
    }
  vmm_state_file_free (f);
  return 0;
}
