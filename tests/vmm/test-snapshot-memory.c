/* test-snapshot-memory.c: guest RAM to a file and back (snapshot/memory.h)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/magic.h>
#include <sys/vfs.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mem.h"
#include "snapshot/memory.h"

#define RAM      (64ull << 20)
#define PAGE     4096ull

static void
fill (struct vmm_mem *mem, uint64_t off, uint64_t len, uint8_t seed)
{
  uint8_t *p = (uint8_t *) mem->mapping + off;

  for (uint64_t i = 0; i < len; i++)
    p[i] = (uint8_t) (seed + i * 31 + i / 4093);
}

/* Whether [off, off + len) of the file at FD is all hole */
static bool
is_hole (int fd, uint64_t off, uint64_t len)
{
  off_t data = lseek (fd, (off_t) off, SEEK_DATA);

  return (data < 0 && errno == ENXIO) || (uint64_t) data >= off + len;
}

/* In a folder of WHERE (NULL: the temporary folder, where the memory is
 * written with O_DIRECT; a tmpfs refuses O_DIRECT, and gets it through
 * the page cache) */
static void
test_save_map (gconstpointer where)
{
  g_autofree char *dir = NULL;
  g_autofree char *first = NULL, *second = NULL, *third = NULL;
  g_autoptr (GError) error = NULL;
  struct vmm_mem a, b;
  uint64_t written = 0;
  uint8_t *reference;
  int fd, base;
  struct statfs st;

  if (where == NULL)
    dir = g_dir_make_tmp ("vivarium-mem-XXXXXX", NULL);
  else if (statfs (where, &st) == 0 && st.f_type == TMPFS_MAGIC)
    dir = g_mkdtemp (g_build_filename (where, "vivarium-mem-XXXXXX", NULL));
  else
    {
      g_test_skip ("no tmpfs to try");
      return;
    }
  g_assert_nonnull (dir);
  first = g_build_filename (dir, "first.bin", NULL);
  second = g_build_filename (dir, "second.bin", NULL);
  third = g_build_filename (dir, "third.bin", NULL);
  g_assert_cmpint (vmm_mem_alloc (&a, RAM, RAM), ==, 0);
  g_assert_cmpint (vmm_mem_alloc (&b, RAM, RAM), ==, 0);
  /* touched: 3 pages at 1 MiB, 1 byte at 40 MiB, the last page; read-only
   * access elsewhere does not count as touched (maps the zero page) */
  fill (&a, 1 << 20, 3 * PAGE, 1);
  ((uint8_t *) a.mapping)[40ull << 20] = 0x5a;
  fill (&a, RAM - PAGE, PAGE, 2);
  g_assert_cmpuint (((volatile uint8_t *) a.mapping)[20ull << 20], ==, 0);

  g_assert_true (vmm_snapshot_memory_save (&a, -1, first, &written, &error));
  g_assert_no_error (error);
  /* the pages with something in them, not the rest of their huge pages */
  g_assert_cmpuint (written, ==, 5 * PAGE);
  fd = open (first, O_RDONLY);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint ((uint64_t) lseek (fd, 0, SEEK_END), ==, RAM);
  g_assert_true (is_hole (fd, 8ull << 20, 24ull << 20));
  g_assert_false (is_hole (fd, 1 << 20, PAGE));
  close (fd);
  /* an existing file is not overwritten */
  g_assert_false (vmm_snapshot_memory_save (&a, -1, first, NULL, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* B takes A's memory by mapping the file */
  base = vmm_snapshot_memory_map (&b, first, &error);
  g_assert_no_error (error);
  g_assert_cmpint (base, >=, 0);
  g_assert_cmpmem (b.mapping, RAM, a.mapping, RAM);
  /* B's writes stay B's: the file and A keep theirs */
  reference = g_memdup2 (a.mapping, RAM);
  fill (&b, 1 << 20, PAGE, 9);
  fill (&b, 50ull << 20, PAGE, 10);
  g_assert_cmpmem (a.mapping, RAM, reference, RAM);

  /* saving B again: what it changed, and what it still has from the file
   * without having touched it (the last page) */
  g_assert_true (vmm_snapshot_memory_save (&b, base, second, &written, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (written, ==, 6 * PAGE);
  close (base);
  vmm_mem_free (&a);
  g_assert_cmpint (vmm_mem_alloc (&a, RAM, RAM), ==, 0);
  base = vmm_snapshot_memory_map (&a, second, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (a.mapping, RAM, b.mapping, RAM);
  g_assert_cmpmem ((uint8_t *) a.mapping + RAM - PAGE, PAGE, reference + RAM - PAGE, PAGE);
  close (base);

  /* a file of another size is refused, the mapping left as it was (the
   * mapped file itself must not shrink: the pages past its end would fault) */
  g_assert_true (g_file_set_contents (third, "short", 5, NULL));
  g_assert_cmpint (vmm_snapshot_memory_map (&a, third, &error), ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL);
  g_assert_cmpmem (a.mapping, RAM, b.mapping, RAM);
  g_clear_error (&error);
  g_assert_cmpint (vmm_snapshot_memory_map (&a, "/nonexistent/memory.bin", &error), ==, -1);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);

  g_free (reference);
  vmm_mem_free (&a);
  vmm_mem_free (&b);
  g_unlink (first);
  g_unlink (second);
  g_unlink (third);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/snapshot-memory/save-map", NULL, test_save_map);
  g_test_add_data_func ("/snapshot-memory/save-map-tmpfs", "/dev/shm", test_save_map);
  return g_test_run ();
}
