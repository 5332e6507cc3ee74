/* viv-snapshot-index.h: a machine's snapshots, as snapshots/index.json says
 *
 * The engine writes the index when it takes, reverts to, renames or deletes
 * a snapshot; the app reads it to draw the timeline. Snapshots form a tree:
 * each has the one it was taken after as its parent (none for the first),
 * and "current" is the snapshot the machine's state continues from (the
 * parent of the next one taken). Taking a snapshot after reverting to an
 * older one starts a branch.
 *
 * The file is strict JSON, written atomically (viv_file_replace):
 *
 *   { "version": 1, "next-id": 4, "current": "3",
 *     "snapshots": [ { "id": "1", "name": "Fresh install", "parent": null,
 *                      "created": 1796660497, "memory": true,
 *                      "memory-bytes": 123, "state-bytes": 45 }, ... ] }
 *
 * A missing file is an empty index. A file that is damaged (bad JSON, a
 * snapshot twice, a parent that is not there, a loop) is refused with a
 * message: nothing is guessed, nothing is lost.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIV_SNAPSHOT_INDEX_DIR   "snapshots"
#define VIV_SNAPSHOT_INDEX_FILE  "index.json"
#define VIV_SNAPSHOT_NAME_MAX    200

#define VIV_SNAPSHOT_INDEX_ERROR (viv_snapshot_index_error_quark ())
typedef enum
{
  VIV_SNAPSHOT_INDEX_ERROR_PARSE,       /* not the index's format */
  VIV_SNAPSHOT_INDEX_ERROR_INVALID,     /* a value or a link that cannot be */
  VIV_SNAPSHOT_INDEX_ERROR_TOO_NEW,     /* a newer version of the format */
  VIV_SNAPSHOT_INDEX_ERROR_NOT_FOUND,   /* no such snapshot */
} VivSnapshotIndexError;
GQuark viv_snapshot_index_error_quark (void);

typedef struct
{
  char *id;                  /* decimal, never reused */
  char *name;
  char *parent;              /* its parent's id, or NULL */
  gint64 created;            /* seconds since the epoch */
  gboolean memory;           /* memory and device state too (taken running) */
  guint64 memory_bytes;      /* what its files take on disk */
  guint64 state_bytes;
} VivSnapshot;

typedef struct
{
  GPtrArray *snapshots;      /* of VivSnapshot *, oldest first */
  char *current;             /* or NULL */
  guint64 next_id;
} VivSnapshotIndex;

VivSnapshotIndex *viv_snapshot_index_new  (void);
void              viv_snapshot_index_free (VivSnapshotIndex *index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivSnapshotIndex, viv_snapshot_index_free)

/* MACHINE_DIR/snapshots/index.json; an empty index when it does not exist */
VivSnapshotIndex *viv_snapshot_index_load           (const char  *machine_dir,
                                                     GError     **error);
VivSnapshotIndex *viv_snapshot_index_load_from_data (const char  *data,
                                                     gssize       len,
                                                     GError     **error);
/* Writes it atomically (making MACHINE_DIR/snapshots if needed) */
gboolean          viv_snapshot_index_save           (const VivSnapshotIndex *index,
                                                     const char             *machine_dir,
                                                     GError                **error);
char             *viv_snapshot_index_to_data        (const VivSnapshotIndex *index);

VivSnapshot *viv_snapshot_index_find   (const VivSnapshotIndex *index,
                                        const char             *id);
/* The same, or NULL with NOT_FOUND in ERROR */
VivSnapshot *viv_snapshot_index_get    (const VivSnapshotIndex *index,
                                        const char             *id,
                                        GError                **error);
/* A new snapshot NAME after the current one, which it becomes; it gets the
 * next id. NAME must pass viv_snapshot_name_check. */
VivSnapshot *viv_snapshot_index_add    (VivSnapshotIndex *index,
                                        const char       *name,
                                        gboolean          memory,
                                        gint64            created);
/* Takes ID out: its children get its parent; if it was current, its
 * parent becomes current. FALSE with NOT_FOUND. */
gboolean     viv_snapshot_index_remove (VivSnapshotIndex *index,
                                        const char       *id,
                                        GError          **error);
gboolean     viv_snapshot_index_rename (VivSnapshotIndex *index,
                                        const char       *id,
                                        const char       *name,
                                        GError          **error);
/* The children of ID (NULL: the roots), oldest first; free the array only */
GPtrArray   *viv_snapshot_index_children (const VivSnapshotIndex *index,
                                          const char             *id);

/* A name is 1 to VIV_SNAPSHOT_NAME_MAX characters of valid UTF-8, not only
 * spaces, without control characters */
gboolean     viv_snapshot_name_check   (const char  *name,
                                        GError     **error);

G_END_DECLS
