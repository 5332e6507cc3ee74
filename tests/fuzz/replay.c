/* replay.c: runs a fuzz target without libFuzzer
 *
 * Every target in tests/fuzz is a libFuzzer target (LLVMFuzzerTestOneInput).
 * Built with -Dfuzzing=true and clang, libFuzzer drives it (run.sh). In every
 * other build this driver does, as a normal test, so that no target rots:
 *
 *   fuzz-replay-TARGET [--runs N] [--seed S] [--timeout SECONDS] CORPUS...
 *
 * It runs each file of the corpus folders (seeds and the reproducers of past
 * findings), then N inputs made by mutating them, from a seeded generator so
 * a failure can be run again (--seed, --only). An input that runs longer than
 * the timeout is a finding, as under libFuzzer (-timeout): a device loop that
 * does not end fails the test; it does not hang it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

#define MAX_LEN_DEFAULT 65536

static const char *current_name = "";
static guint64 current_index;
static guint64 seed;

static void
on_alarm (int sig G_GNUC_UNUSED)
{
  static const char msg[] = "\nfuzz-replay: TIMEOUT: an input ran longer than the timeout "
                            "(a loop that does not end?)\n";
  char line[160];
  int n;

  (void) !write (2, msg, sizeof msg - 1);
  n = snprintf (line, sizeof line, "fuzz-replay: input: %s; run it again with --seed %"
                G_GUINT64_FORMAT " --only %" G_GUINT64_FORMAT "\n",
                current_name, seed, current_index);
  if (n > 0)
    (void) !write (2, line, (size_t) MIN (n, (int) sizeof line));
  _exit (70);
}

static guint64
next_random (guint64 *state)
{
  /* splitmix64: small, and the same on every machine */
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* One mutation of BUF (LEN bytes, room for MAX): what libFuzzer's simplest
 * mutators do, enough to leave the seeds' paths */
static gsize
mutate (guint8 *buf, gsize len, gsize max, guint64 *rng, GPtrArray *corpus)
{
  static const guint8 interesting[] = { 0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff, 0x10, 0x40 };
  guint kind = (guint) (next_random (rng) % 8);
  gsize pos = len > 0 ? (gsize) (next_random (rng) % len) : 0;

  switch (kind)
    {
    case 0: /* flip a bit */
      if (len > 0)
        buf[pos] ^= (guint8) (1u << (next_random (rng) % 8));
      break;
    case 1: /* an interesting byte */
      if (len > 0)
        buf[pos] = interesting[next_random (rng) % sizeof interesting];
      break;
    case 2: /* a random byte */
      if (len > 0)
        buf[pos] = (guint8) next_random (rng);
      break;
    case 3: /* an interesting 16/32/64-bit value, either end */
      {
        static const guint64 words[] = { 0, 1, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000,
                                         0xffffffff, 0x1000, 0x200, 0xffffffffffffffffull };
        guint64 w = words[next_random (rng) % G_N_ELEMENTS (words)];
        gsize width = (gsize) 2 << (next_random (rng) % 3);

        if (next_random (rng) & 1)
          w = GUINT64_SWAP_LE_BE (w) >> (64 - 8 * width);
        if (len >= width)
          {
            pos = (gsize) (next_random (rng) % (len - width + 1));
            memcpy (buf + pos, &w, width);
          }
      }
      break;
    case 4: /* delete a run */
      if (len > 1)
        {
          gsize n = 1 + (gsize) (next_random (rng) % MIN (len - pos, 64));
          memmove (buf + pos, buf + pos + n, len - pos - n);
          len -= n;
        }
      break;
    case 5: /* insert a run of one byte */
      if (len < max)
        {
          gsize n = 1 + (gsize) (next_random (rng) % MIN (max - len, 64));
          memmove (buf + pos + n, buf + pos, len - pos);
          memset (buf + pos, (int) (next_random (rng) & 0xff), n);
          len += n;
        }
      break;
    case 6: /* copy a run within the input */
      if (len > 1)
        {
          gsize from = (gsize) (next_random (rng) % len);
          gsize n = 1 + (gsize) (next_random (rng) % MIN (len - MAX (from, pos), 64));
          memmove (buf + pos, buf + from, n);
        }
      break;
    default: /* splice another corpus input in */
      {
        GBytes *other = corpus->pdata[next_random (rng) % corpus->len];
        gsize olen;
        const guint8 *odata = g_bytes_get_data (other, &olen);

        if (olen > 0)
          {
            gsize from = (gsize) (next_random (rng) % olen);
            gsize n = MIN (olen - from, max - pos);
            gsize most = 1 + (gsize) (next_random (rng) % 256);

            /* Not inside MIN (): it would draw a second number */
            n = MIN (n, most);
            memcpy (buf + pos, odata + from, n);
            len = MAX (len, pos + n);
          }
      }
      break;
    }
  return len;
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
add_path (GPtrArray *corpus, GPtrArray *names, const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
      g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
      const char *name;

      if (dir == NULL)
        return;
      while ((name = g_dir_read_name (dir)) != NULL)
        if (name[0] != '.')
          g_ptr_array_add (entries, g_build_filename (path, name, NULL));
      g_ptr_array_sort (entries, compare_paths);
      for (guint i = 0; i < entries->len; i++)
        add_path (corpus, names, entries->pdata[i]);
      return;
    }
  {
    g_autoptr(GError) error = NULL;
    char *contents = NULL;
    gsize len = 0;

    if (!g_file_get_contents (path, &contents, &len, &error))
      {
        g_printerr ("fuzz-replay: %s\n", error->message);
        exit (2);
      }
    g_ptr_array_add (corpus, g_bytes_new_take (contents, len));
    g_ptr_array_add (names, g_strdup (path));
  }
}

int
main (int argc, char *argv[])
{
  g_autoptr(GPtrArray) corpus = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  gint64 runs = 2000;
  gint64 only = -1;
  gint64 max_len = MAX_LEN_DEFAULT;
  int timeout = 10;
  const char *seed_text = g_getenv ("VIVARIUM_FUZZ_SEED");
  gint64 start = g_get_monotonic_time ();
  guint8 *buf;
  guint64 rng;
  int i;

  seed = seed_text != NULL ? g_ascii_strtoull (seed_text, NULL, 0) : 1;
  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--runs") == 0 && i + 1 < argc)
        runs = g_ascii_strtoll (argv[++i], NULL, 10);
      else if (strcmp (argv[i], "--seed") == 0 && i + 1 < argc)
        seed = g_ascii_strtoull (argv[++i], NULL, 0);
      else if (strcmp (argv[i], "--only") == 0 && i + 1 < argc)
        only = g_ascii_strtoll (argv[++i], NULL, 10);
      else if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc)
        timeout = atoi (argv[++i]);
      else if (strcmp (argv[i], "--max-len") == 0 && i + 1 < argc)
        max_len = g_ascii_strtoll (argv[++i], NULL, 10);
      else if (argv[i][0] == '-')
        {
          g_printerr ("usage: %s [--runs N] [--seed S] [--only I] [--timeout SECONDS] "
                      "[--max-len BYTES] CORPUS...\n", argv[0]);
          return 2;
        }
      else
        add_path (corpus, names, argv[i]);
    }
  if (corpus->len == 0)
    {
      g_printerr ("fuzz-replay: no corpus: a target needs at least one seed\n");
      return 2;
    }

  signal (SIGALRM, on_alarm);

  /* The corpus, as it is */
  if (only < 0)
    for (guint k = 0; k < corpus->len; k++)
      {
        gsize len;
        const guint8 *data = g_bytes_get_data (corpus->pdata[k], &len);
        guint8 *copy = g_memdup2 (data, MAX (len, 1));

        current_name = names->pdata[k];
        alarm ((unsigned) timeout);
        LLVMFuzzerTestOneInput (copy, len);
        alarm (0);
        g_free (copy);
      }

  /* Then mutations of it; input I depends on the seed and I only */
  buf = g_malloc ((gsize) max_len);
  current_name = "a mutation";
  for (gint64 n = only >= 0 ? only : 0; n < (only >= 0 ? only + 1 : runs); n++)
    {
      GBytes *base;
      gsize len;
      const guint8 *data;
      guint rounds;

      rng = seed * 0x100000001b3ull + (guint64) n;
      base = corpus->pdata[next_random (&rng) % corpus->len];
      data = g_bytes_get_data (base, &len);
      len = MIN (len, (gsize) max_len);
      memcpy (buf, data, len);
      rounds = 1 + (guint) (next_random (&rng) % 8);
      for (guint r = 0; r < rounds; r++)
        len = mutate (buf, len, (gsize) max_len, &rng, corpus);

      current_index = (guint64) n;
      alarm ((unsigned) timeout);
      LLVMFuzzerTestOneInput (buf, len);
      alarm (0);
    }
  g_free (buf);

  g_print ("fuzz-replay: %u corpus inputs and %" G_GINT64_FORMAT " mutations (seed %"
           G_GUINT64_FORMAT ") in %.1f s, no finding\n",
           only >= 0 ? 0 : corpus->len, only >= 0 ? 1 : runs, seed,
           (double) (g_get_monotonic_time () - start) / 1e6);
  return 0;
}
