/* arch/x86/aml.h: a small encoder for ACPI Machine Language (ACPI 6.x, §20)
 *
 * The encoder writes terms in order into one growable buffer. Terms that
 * hold others (Scope, Device, Method, Package) are opened with a _begin
 * call and closed with aml_end(); the PkgLength in front of their body is
 * inserted when they close, once the body's size is known, so callers never
 * count bytes:
 *
 *   aml_scope_begin (&aml, "\\_SB_");
 *     aml_device_begin (&aml, "COM1");
 *       aml_name_eisaid (&aml, "_HID", "PNP0501");
 *       aml_name_integer (&aml, "_UID", 1);
 *     aml_end (&aml);
 *   aml_end (&aml);
 *
 * Mistakes (a bad name, unbalanced aml_end, a body too big for a PkgLength)
 * are remembered in a sticky error that aml_finish() returns, so a table
 * builder can emit a whole table and check once.
 *
 * Resource templates (§6.4) are built separately in a struct aml_res and
 * emitted as a Buffer by aml_resource_template().
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* Deeper nesting than this is a bug in the caller, not a real table. */
#define AML_MAX_DEPTH 16

/* The largest PkgLength value: 28 bits. */
#define AML_PKGLENGTH_MAX 0x0fffffffu

struct aml {
  GByteArray *bytes;
  size_t open[AML_MAX_DEPTH];  /* where each open term's PkgLength goes */
  unsigned depth;
  int error;                   /* first error, as -errno; 0 while all is well */
};

void aml_init (struct aml *aml);
void aml_clear (struct aml *aml);

/* The bytes emitted so far, valid until the next call on AML. Returns 0, the
 * sticky error, or -EINVAL while a term is still open. */
int aml_finish (struct aml *aml, const uint8_t **data, size_t *len);

/* ---- encodings on their own (for tests and for callers' own terms) ------- */

/* Encodes the PkgLength VALUE (which counts its own bytes, §20.2.4) into
 * OUT. Returns the number of bytes (1 to 4), or 0 when VALUE cannot be
 * encoded in that many bytes or exceeds AML_PKGLENGTH_MAX. */
unsigned aml_encode_pkglength (uint32_t value, uint8_t out[4]);

/* Packs a seven-character EISA ID such as "PNP0A08" (three capital letters,
 * four hex digits) into the 32-bit form _HID and _CID use. Returns 0 or
 * -EINVAL. */
int aml_eisaid (const char *id, uint32_t *value);

/* ---- data and names ------------------------------------------------------- */

/* ZeroOp, OneOp, OnesOp for 0, 1 and ~0, else the smallest of BytePrefix,
 * WordPrefix, DWordPrefix, QWordPrefix that holds VALUE. */
void aml_integer (struct aml *aml, uint64_t value);
/* Always DWordPrefix: what ASL's EISAID() and iasl emit. */
void aml_dword (struct aml *aml, uint32_t value);
/* A String of printable ASCII, NUL-terminated in the AML. */
void aml_string (struct aml *aml, const char *s);
/* A NameString: optional "\\" or "^" prefixes, then NameSegs joined by ".";
 * segments shorter than four characters are padded with "_". "" is the
 * NullName. */
void aml_namestring (struct aml *aml, const char *path);
/* A Buffer holding LEN bytes of DATA. */
void aml_buffer (struct aml *aml, const void *data, size_t len);

/* Name (PATH, …): emits NameOp and the NameString; the caller emits the
 * value (an integer, a String, a Buffer or a Package) next. */
void aml_name (struct aml *aml, const char *path);
void aml_name_integer (struct aml *aml, const char *path, uint64_t value);
void aml_name_string (struct aml *aml, const char *path, const char *s);
void aml_name_eisaid (struct aml *aml, const char *path, const char *id);

/* Return (…): emits ReturnOp; the caller emits the value next. */
void aml_return (struct aml *aml);

/* ---- terms that hold others: close each with aml_end() -------------------- */

void aml_scope_begin (struct aml *aml, const char *path);
void aml_device_begin (struct aml *aml, const char *path);
/* N_ARGS 0 to 7; SERIALIZED methods run one thread at a time. */
void aml_method_begin (struct aml *aml, const char *path, unsigned n_args, bool serialized);
/* The caller then emits exactly N_ELEMENTS data objects (up to 255). */
void aml_package_begin (struct aml *aml, unsigned n_elements);
void aml_end (struct aml *aml);

/* ---- resource templates (§6.4) -------------------------------------------- */

struct aml_res {
  GByteArray *bytes;
  int error;
};

/* General flags of the address space descriptors (§6.4.3.5) */
#define AML_RES_CONSUMER     0x01  /* else the device produces the range (a bridge window) */
#define AML_RES_SUB_DECODE   0x02  /* subtractive decode, else positive */
#define AML_RES_MIN_FIXED    0x04
#define AML_RES_MAX_FIXED    0x08

/* Resource types of the address space descriptors */
#define AML_RES_TYPE_MEMORY  0
#define AML_RES_TYPE_IO      1
#define AML_RES_TYPE_BUS     2

/* Type-specific flags: memory */
#define AML_RES_MEM_RW             0x01
#define AML_RES_MEM_NON_CACHEABLE  (0 << 1)
#define AML_RES_MEM_CACHEABLE      (1 << 1)
#define AML_RES_MEM_WRITE_COMBINE  (2 << 1)
#define AML_RES_MEM_PREFETCHABLE   (3 << 1)
/* Type-specific flags: I/O, both ISA and non-ISA ranges */
#define AML_RES_IO_ENTIRE_RANGE    0x03

struct aml_addr_space {
  uint8_t type;          /* AML_RES_TYPE_* */
  uint8_t flags;         /* AML_RES_CONSUMER etc. */
  uint8_t type_flags;    /* AML_RES_MEM_* or AML_RES_IO_* */
  uint64_t granularity;
  uint64_t min, max;
  uint64_t translation;
  uint64_t length;
};

void aml_res_init (struct aml_res *res);
void aml_res_clear (struct aml_res *res);

/* IO (Decode16 or Decode10, MIN, MAX, ALIGN, LEN) */
void aml_res_io (struct aml_res *res, bool decode16, uint16_t min, uint16_t max,
                 uint8_t align, uint8_t len);
/* IRQNoFlags () {IRQ}: edge-triggered, active-high, exclusive; IRQ 0 to 15. */
void aml_res_irq_noflags (struct aml_res *res, unsigned irq);
/* Interrupt (…) {GSI}: the extended descriptor, for GSIs above 15. */
void aml_res_interrupt (struct aml_res *res, bool consumer, bool level, bool active_low,
                        bool shared, uint32_t gsi);
/* Memory32Fixed (ReadWrite or ReadOnly, BASE, LEN) */
void aml_res_memory32_fixed (struct aml_res *res, bool rw, uint32_t base, uint32_t len);

/* Word, DWord and QWord address space descriptors. A value that does not
 * fit the descriptor's width is an error. */
void aml_res_word_address (struct aml_res *res, const struct aml_addr_space *as);
void aml_res_dword_address (struct aml_res *res, const struct aml_addr_space *as);
void aml_res_qword_address (struct aml_res *res, const struct aml_addr_space *as);

/* The shapes a PCI host bridge's _CRS uses: windows it produces, with fixed
 * MIN and MAX (inclusive) and positive decode. */
void aml_res_word_bus_number (struct aml_res *res, uint16_t min, uint16_t max);
void aml_res_word_io (struct aml_res *res, uint16_t min, uint16_t max);
void aml_res_dword_memory (struct aml_res *res, uint8_t mem_flags, uint32_t min, uint32_t max);
void aml_res_qword_memory (struct aml_res *res, uint8_t mem_flags, uint64_t min, uint64_t max);

/* Emits RES, closed with an End Tag, as a Buffer (ASL's ResourceTemplate).
 * An error recorded in RES becomes AML's error. */
void aml_resource_template (struct aml *aml, const struct aml_res *res);
