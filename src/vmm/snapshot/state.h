/* snapshot/state.h: the saved state of a machine, as a file
 *
 * A state file holds the vCPUs', the VM's and every device's state at one
 * instant (guest memory goes to a file of its own). It is a sequence of
 * sections, each named for what it holds ("vcpu.0", "kvm.irqchip",
 * "virtio-blk.0") and versioned on its own, so a device can change its
 * layout without touching the others' and a newer engine can still read
 * an older file:
 *
 *   header   "VIVSTATE" (8 bytes), format version u32, section count u32
 *   section  name length u16, name, version u32, payload length u64, payload
 *   ...
 *   trailer  CRC-32 (zlib's) of everything before it, u32
 *
 * all little-endian. A file is read whole and checked before anything in it
 * is used: the magic, a format version this engine knows, the checksum,
 * every section inside the file, no name twice. A reader then takes a
 * section's fields in order; reading past its end, or a value out of
 * range (vmm_state_reader_fail), makes the reader fail, and
 * vmm_state_reader_done says so with the section's name. Nothing is
 * applied from a section until all of it has been read and checked: a
 * device's load reads into a copy, then commits (snapshot/README.md).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#define VMM_STATE_ERROR (vmm_state_error_quark ())
typedef enum {
  VMM_STATE_ERROR_NOT_STATE,   /* not a state file at all */
  VMM_STATE_ERROR_DAMAGED,     /* a checksum, a length or a value is wrong */
  VMM_STATE_ERROR_TOO_NEW,     /* written by a newer engine, in a format this one lacks */
} VmmStateError;
GQuark vmm_state_error_quark (void);

#define VMM_STATE_MAGIC          "VIVSTATE"
/* The format of the container; each section has its own version */
#define VMM_STATE_FORMAT         1
#define VMM_STATE_MAX_NAME       64
#define VMM_STATE_MAX_SECTIONS   4096

/* ---- writing ---------------------------------------------------------------------- */

struct vmm_state_writer;

struct vmm_state_writer *vmm_state_writer_new (void);
void vmm_state_writer_free (struct vmm_state_writer *w);

/* Starts a section NAME (at most VMM_STATE_MAX_NAME bytes, unique in the
 * file) of layout VERSION; the next vmm_state_put_* go into it until
 * vmm_state_end. */
void vmm_state_begin (struct vmm_state_writer *w, const char *name, uint32_t version);
void vmm_state_end   (struct vmm_state_writer *w);

void vmm_state_put_u8    (struct vmm_state_writer *w, uint8_t v);
void vmm_state_put_u16   (struct vmm_state_writer *w, uint16_t v);
void vmm_state_put_u32   (struct vmm_state_writer *w, uint32_t v);
void vmm_state_put_u64   (struct vmm_state_writer *w, uint64_t v);
void vmm_state_put_bool  (struct vmm_state_writer *w, bool v);
void vmm_state_put_bytes (struct vmm_state_writer *w, const void *p, size_t n);
/* A length (u32) and the bytes: a buffer whose size may vary */
void vmm_state_put_blob  (struct vmm_state_writer *w, const void *p, uint32_t n);

/* A buffer of N bytes its reader knows the size of (pixels, video
 * memory): an encoding byte (0 raw, 1 a zlib stream, 2 raw deflate: what
 * is written now) and a blob, compressed when that helps */
void vmm_state_put_zblob (struct vmm_state_writer *w, const void *p, uint32_t n);

/* The whole file (header, sections, checksum): *LEN bytes, the writer's
 * until it is freed. Every section must be ended. */
const uint8_t *vmm_state_writer_finish (struct vmm_state_writer *w, size_t *len);

/* ---- reading ---------------------------------------------------------------------- */

struct vmm_state_file;

struct vmm_state_section {
  const char *name;
  uint32_t version;
  const uint8_t *data;
  uint64_t len;
};

/* Checks LEN bytes of DATA (kept by the caller while the result lives) as
 * a state file. NULL with *ERROR set when it is not one, is damaged, or was
 * written in a format newer than VMM_STATE_FORMAT. */
struct vmm_state_file *vmm_state_file_parse (const uint8_t *data, size_t len, GError **error);
void vmm_state_file_free (struct vmm_state_file *f);

/* The section NAME, or NULL */
const struct vmm_state_section *vmm_state_file_find (const struct vmm_state_file *f,
                                                     const char *name);
/* A loader's check (apply false) may leave what it decoded from SECTION
 * with F, and its apply (same F) take it back instead of decoding again.
 * The file frees what is still kept (with FREE_FUNC) when it is freed;
 * keeping again under one name frees the earlier. */
void vmm_state_file_keep (const struct vmm_state_file *f, const char *section, void *data,
                          GDestroyNotify free_func);
/* What was kept under SECTION (now the caller's), or NULL */
void *vmm_state_file_take (const struct vmm_state_file *f, const char *section);
unsigned vmm_state_file_n_sections (const struct vmm_state_file *f);
const struct vmm_state_section *vmm_state_file_section (const struct vmm_state_file *f,
                                                        unsigned i);

/* Reads one section's fields in order */
struct vmm_state_reader {
  const struct vmm_state_section *s;
  uint64_t pos;
  const char *failed;          /* why it failed (static), or NULL */
};

/* Starts reading the section NAME of F. FALSE with *ERROR set when it is
 * missing, or its version is above MAX_VERSION (written by a newer
 * engine). */
gboolean vmm_state_reader_init (struct vmm_state_reader *r, const struct vmm_state_file *f,
                                const char *name, uint32_t max_version, GError **error);

/* Past the end these return 0 and make the reader fail */
uint8_t  vmm_state_get_u8    (struct vmm_state_reader *r);
uint16_t vmm_state_get_u16   (struct vmm_state_reader *r);
uint32_t vmm_state_get_u32   (struct vmm_state_reader *r);
uint64_t vmm_state_get_u64   (struct vmm_state_reader *r);
/* 0 or 1; anything else fails */
bool     vmm_state_get_bool  (struct vmm_state_reader *r);
void     vmm_state_get_bytes (struct vmm_state_reader *r, void *p, size_t n);
/* A blob of at most MAX bytes: its bytes in the file (NULL when failed) */
const uint8_t *vmm_state_get_blob (struct vmm_state_reader *r, uint32_t max, uint32_t *n);

/* A zblob of exactly N bytes into DST (whose content is undefined when it fails:
 * loaders read into a copy) */
void     vmm_state_get_zblob (struct vmm_state_reader *r, void *dst, uint32_t n);

/* Makes the reader fail: WHY (a static string marked with N_(), shown
 * translated) says what was wrong */
void     vmm_state_reader_fail (struct vmm_state_reader *r, const char *why);

/* TRUE when every field was there and right and the section has no bytes
 * left over; else FALSE with *ERROR naming the section and the reason. */
gboolean vmm_state_reader_done (struct vmm_state_reader *r, GError **error);
