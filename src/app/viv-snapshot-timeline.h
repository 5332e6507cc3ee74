/* viv-snapshot-timeline.h: a machine's snapshots, left to right in time
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "viv-snapshot-index.h"

G_BEGIN_DECLS

#define VIV_TYPE_SNAPSHOT_TIMELINE (viv_snapshot_timeline_get_type ())
G_DECLARE_FINAL_TYPE (VivSnapshotTimeline, viv_snapshot_timeline, VIV, SNAPSHOT_TIMELINE,
                      GtkWidget)

GtkWidget  *viv_snapshot_timeline_new          (void);
void        viv_snapshot_timeline_set_index    (VivSnapshotTimeline    *self,
                                                const VivSnapshotIndex *index,
                                                const char             *machine_dir,
                                                const char             *error_message);
void        viv_snapshot_timeline_set_hidden   (VivSnapshotTimeline    *self,
                                                const char *const      *ids);
const char *viv_snapshot_timeline_get_selected (VivSnapshotTimeline    *self);
void        viv_snapshot_timeline_select       (VivSnapshotTimeline    *self,
                                                const char             *id);
gboolean    viv_snapshot_timeline_focus_card   (VivSnapshotTimeline    *self,
                                                const char             *id);
void        viv_snapshot_timeline_popup_menu   (VivSnapshotTimeline    *self,
                                                const char             *id);

/* What it shows, for tests: "empty", "error" or "timeline"; the cards,
 * where each is in the grid, and where "You are here" is */
const char *viv_snapshot_timeline_get_view     (VivSnapshotTimeline    *self);
guint       viv_snapshot_timeline_get_n_cards  (VivSnapshotTimeline    *self);
GtkWidget  *viv_snapshot_timeline_get_card     (VivSnapshotTimeline    *self,
                                                const char             *id);
gboolean    viv_snapshot_timeline_get_position (VivSnapshotTimeline    *self,
                                                const char             *id,
                                                int                    *column,
                                                int                    *row);
GtkWidget  *viv_snapshot_timeline_get_here     (VivSnapshotTimeline    *self);
GtkPopover *viv_snapshot_timeline_get_menu     (VivSnapshotTimeline    *self,
                                                const char             *id);

G_END_DECLS
