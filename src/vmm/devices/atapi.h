/* devices/atapi.h: the SCSI/MMC side of an ATAPI CD-ROM
 *
 * The packet commands a CD-ROM drive answers (SPC-3, MMC-6), on a medium
 * of 2048-byte sectors, read-only. The transport (devices/ahci.c) hands in
 * each packet with the drive's state locked, moves the data, and does the
 * reads the result asks for.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "block/block.h"
#include "snapshot/state.h"

#define ATAPI_SECTOR 2048u
/* BUF's size for atapi_command: the largest reply other than READ data */
#define ATAPI_BUF_SIZE 512u

/* Sense keys */
#define ATAPI_SENSE_NONE            0x0
#define ATAPI_SENSE_NOT_READY       0x2
#define ATAPI_SENSE_MEDIUM_ERROR    0x3
#define ATAPI_SENSE_ILLEGAL_REQUEST 0x5
#define ATAPI_SENSE_UNIT_ATTENTION  0x6

/* Media event codes (MMC-6, GET EVENT STATUS NOTIFICATION) */
#define ATAPI_EVENT_NONE            0
#define ATAPI_EVENT_EJECT_REQUEST   1
#define ATAPI_EVENT_NEW_MEDIA       2
#define ATAPI_EVENT_MEDIA_REMOVAL   3

struct atapi_state {
  struct vmm_block *medium;   /* NULL: the tray is empty */
  uint64_t sectors;           /* of the medium, ATAPI_SECTOR bytes each */
  /* The medium's file, as the host opened it (owned; NULL: not known),
   * with its size and modification time then: what a snapshot records to
   * put the same disc back */
  char *path;
  uint64_t file_size;
  int64_t file_mtime_ns;
  bool unit_attention;        /* a medium change the guest has not heard of */
  bool prevent;               /* PREVENT ALLOW MEDIUM REMOVAL */
  bool tray_open;
  uint8_t event;              /* the media event not reported yet */
  uint8_t sense_key, asc, ascq;
};

struct atapi_result {
  bool check;                 /* CHECK CONDITION: the sense says why */
  uint32_t len;               /* bytes of BUF for the guest */
  /* READ(10)/(12): LEN bytes from the medium at OFFSET instead of BUF */
  bool read;
  uint64_t offset, read_len;
  /* START STOP UNIT ejected this medium: the caller closes it */
  struct vmm_block *ejected;
};

/* Runs the 12-byte packet CDB; BUF has ATAPI_BUF_SIZE bytes. */
void atapi_command (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf,
                    struct atapi_result *r);

/* The host put MEDIUM (or nothing) in the tray; its file is not known
 * until atapi_set_medium_file. */
void atapi_set_medium (struct atapi_state *s, struct vmm_block *medium);
/* The medium in the tray is the file PATH (taken) of SIZE bytes, last
 * modified at MTIME_NS */
void atapi_set_medium_file (struct atapi_state *s, char *path, uint64_t size, int64_t mtime_ns);
/* Sets the sense for a failed read of the medium. */
void atapi_set_sense  (struct atapi_state *s, uint8_t key, uint8_t asc, uint8_t ascq);

/* Saved state, inside the controller's section (devices/ahci.c): whether a
 * medium was in and its size, the tray, the lock, the unit attention, the
 * event and the sense, and (from VERSION 2 of the controller's section)
 * the medium's file: path, size, modification time. atapi_get reads into
 * a copy (checking each value, vmm_state_reader_fail for a bad one) with
 * *HAD_MEDIUM; the copy's path is the caller's to g_free. The controller
 * puts the saved file back in the drive if it can (devices/ahci.c);
 * atapi_restore then puts the copy into S, keeping S's medium, and when
 * that is not the medium the guest knew of (one there and not before, or
 * the other way, or another size) tells the guest as a host's insert
 * does: unit attention and a media event (a disc gone leaves the tray as
 * saved). */
void atapi_put     (const struct atapi_state *s, struct vmm_state_writer *w);
void atapi_get     (struct atapi_state *copy, bool *had_medium, struct vmm_state_reader *r,
                    uint32_t version);
void atapi_restore (struct atapi_state *s, const struct atapi_state *copy, bool had_medium);
