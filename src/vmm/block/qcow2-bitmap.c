/* block/qcow2-bitmap.c: persistent dirty bitmaps (the bitmaps extension)
 *
 * QEMU keeps dirty bitmaps in the image for incremental backups. We do not
 * update them, but we must not lose them either: clearing the extension's
 * autoclear bit (what a writer that does not know it must do) would leave
 * the bitmaps' clusters leaked and the bitmaps gone. So we read the bitmap
 * directory, count its clusters as referenced (check and refcount repair,
 * qcow2-refcount.c), keep the autoclear bit, and before the first write
 * mark every bitmap that must track writes ("auto") as in use, as QEMU
 * does while it has the image open: QEMU then reports such a bitmap as
 * inconsistent instead of trusting it for a backup. Bitmaps that are not
 * "auto" (disabled) need no update and stay valid.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "block/qcow2.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "viv-bytes.h"

#define ENTRY_FIXED 24u

void
qcow2_bitmaps_free (struct qcow2 *q)
{
  for (unsigned i = 0; i < q->n_bitmaps; i++)
    free (q->bitmaps[i].name);
  free (q->bitmaps);
  q->bitmaps = NULL;
  q->n_bitmaps = 0;
}

static int
bad_directory (struct qcow2 *q, GError **error, const char *what, unsigned i)
{
  g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: bitmap %u of the bitmap directory: %s",
               q->b->path, i, what);
  return -EINVAL;
}

/* Checks one directory entry at P (AVAIL bytes left) into BM; its length,
 * padded, in *LEN. */
static int
parse_entry (struct qcow2 *q, const uint8_t *p, uint64_t avail, unsigned i,
             struct qcow2_bitmap *bm, uint64_t *len, GError **error)
{
  uint64_t cs = q->cluster_size;
  uint32_t name_size, extra_size;

  if (avail < ENTRY_FIXED)
    return bad_directory (q, error, "the directory is truncated", i);
  bm->table_offset = viv_get_be64 (p);
  bm->table_size = viv_get_be32 (p + 8);
  bm->flags = viv_get_be32 (p + 12);
  bm->type = p[16];
  bm->granularity_bits = p[17];
  name_size = viv_get_be16 (p + 18);
  extra_size = viv_get_be32 (p + 20);
  if (name_size == 0 || name_size > QCOW2_MAX_BITMAP_NAME)
    return bad_directory (q, error, "the name is empty or too long", i);
  if ((uint64_t) extra_size + name_size > avail - ENTRY_FIXED)
    return bad_directory (q, error, "the entry does not fit in the directory", i);
  if (bm->flags & QCOW2_BITMAP_RESERVED_FLAGS)
    return bad_directory (q, error, "reserved flags are set", i);
  if (bm->type != 1)
    return bad_directory (q, error, "the type is not a dirty tracking bitmap", i);
  if (bm->table_offset == 0 || bm->table_offset & (cs - 1)
      || bm->table_offset > q->file_size
      || (uint64_t) bm->table_size * 8 > q->file_size - bm->table_offset)
    return bad_directory (q, error, "its bitmap table is not within the file", i);
  bm->name = strndup ((const char *) p + ENTRY_FIXED + extra_size, name_size);
  if (bm->name == NULL)
    return -ENOMEM;
  *len = ((uint64_t) ENTRY_FIXED + extra_size + name_size + 7) & ~UINT64_C (7);
  if (*len > avail)
    *len = avail;   /* the padding of the last entry may be missing */
  return 0;
}

int
qcow2_read_bitmaps (struct qcow2 *q, GError **error)
{
  const char *path = q->b->path;
  uint64_t cs = q->cluster_size, off = 0;
  uint8_t *dir;
  int ret = 0;

  if (!q->bitmaps_ext || !(q->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
    return 0;   /* none, or inconsistent: nothing to keep */
  if (q->bitmaps_nb == 0 || q->bitmaps_nb > QCOW2_MAX_BITMAPS
      || q->bitmap_dir_size < ENTRY_FIXED
      || q->bitmap_dir_size > QCOW2_MAX_BITMAP_DIRECTORY
      || (uint64_t) q->bitmaps_nb * ENTRY_FIXED > q->bitmap_dir_size
      || q->bitmap_dir_offset == 0 || q->bitmap_dir_offset & (cs - 1)
      || q->bitmap_dir_offset > q->file_size
      || q->bitmap_dir_size > q->file_size - q->bitmap_dir_offset)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the bitmaps extension is invalid "
                   "(%u bitmaps, a %llu-byte directory at 0x%llx)", path, q->bitmaps_nb,
                   (unsigned long long) q->bitmap_dir_size,
                   (unsigned long long) q->bitmap_dir_offset);
      return -EINVAL;
    }
  dir = malloc (q->bitmap_dir_size);
  q->bitmaps = calloc (q->bitmaps_nb, sizeof *q->bitmaps);
  if (dir == NULL || q->bitmaps == NULL)
    {
      free (dir);
      return -ENOMEM;
    }
  ret = qcow2_meta_read (q, dir, q->bitmap_dir_size, q->bitmap_dir_offset);
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "%s: cannot read the bitmap directory: %s", path,
                 strerror (-ret));
  for (unsigned i = 0; ret == 0 && i < q->bitmaps_nb; i++)
    {
      uint64_t len = 0;

      ret = parse_entry (q, dir + off, q->bitmap_dir_size - off, i, &q->bitmaps[i], &len, error);
      if (ret < 0)
        break;
      q->bitmaps[i].entry_offset = q->bitmap_dir_offset + off;
      q->n_bitmaps++;
      off += len;
    }
  if (ret == 0 && off != q->bitmap_dir_size)
    {
      g_set_error (error, VMM_BLOCK_ERROR, EINVAL, "%s: the bitmap directory holds %llu bytes "
                   "past its %u entries", path, (unsigned long long) (q->bitmap_dir_size - off),
                   q->bitmaps_nb);
      ret = -EINVAL;
    }
  free (dir);
  return ret;
}

int
qcow2_bitmaps_mark_in_use (struct qcow2 *q, GError **error)
{
  bool changed = false;
  int ret = 0;

  for (unsigned i = 0; i < q->n_bitmaps && ret == 0; i++)
    {
      struct qcow2_bitmap *bm = &q->bitmaps[i];
      uint8_t be[4];

      if (!(bm->flags & QCOW2_BITMAP_AUTO) || (bm->flags & QCOW2_BITMAP_IN_USE))
        continue;
      vmm_log_warning ("%s: bitmap “%s” tracks writes, which this program does not record; "
                       "it is marked in use (QEMU will see it as inconsistent)", q->b->path,
                       bm->name);
      bm->flags |= QCOW2_BITMAP_IN_USE;
      viv_put_be32 (be, bm->flags);
      ret = qcow2_meta_write (q, be, 4, bm->entry_offset + 12);
      changed = true;
    }
  if (ret == 0 && changed)
    ret = vmm_block_fdatasync_fd (q->fd);
  if (ret < 0)
    g_set_error (error, VMM_BLOCK_ERROR, -ret, "cannot write %s: %s", q->b->path,
                 strerror (-ret));
  return ret;
}
