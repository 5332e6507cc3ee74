/* viv-bytes.h: reading and writing fixed-width integers in a given byte order
 *
 * Disk formats (qcow2: big-endian), boot protocols, ACPI and AML, and virtio
 * structures (little-endian) are laid out in a byte order of their own
 * whatever the host's is, and at addresses that need not be aligned. These
 * helpers go through memcpy, which compilers turn into one load or store.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t
viv_get_le16 (const void *p)
{
  uint16_t v;
  memcpy (&v, p, sizeof v);
  return le16toh (v);
}

static inline uint32_t
viv_get_le32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return le32toh (v);
}

static inline uint64_t
viv_get_le64 (const void *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return le64toh (v);
}

static inline void
viv_put_le16 (void *p, uint16_t v)
{
  v = htole16 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
viv_put_le32 (void *p, uint32_t v)
{
  v = htole32 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
viv_put_le64 (void *p, uint64_t v)
{
  v = htole64 (v);
  memcpy (p, &v, sizeof v);
}

/* N bytes (0 to 8), little-endian: registers read or written in part. */
static inline uint64_t
viv_get_le (const void *p, unsigned n)
{
  const uint8_t *b = p;
  uint64_t v = 0;

  for (unsigned i = 0; i < n && i < 8; i++)
    v |= (uint64_t) b[i] << (8 * i);
  return v;
}

static inline void
viv_put_le (void *p, uint64_t v, unsigned n)
{
  uint8_t *b = p;

  for (unsigned i = 0; i < n && i < 8; i++)
    b[i] = (uint8_t) (v >> (8 * i));
}

static inline uint16_t
viv_get_be16 (const void *p)
{
  uint16_t v;
  memcpy (&v, p, sizeof v);
  return be16toh (v);
}

static inline uint32_t
viv_get_be32 (const void *p)
{
  uint32_t v;
  memcpy (&v, p, sizeof v);
  return be32toh (v);
}

static inline uint64_t
viv_get_be64 (const void *p)
{
  uint64_t v;
  memcpy (&v, p, sizeof v);
  return be64toh (v);
}

static inline void
viv_put_be16 (void *p, uint16_t v)
{
  v = htobe16 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
viv_put_be32 (void *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, sizeof v);
}

static inline void
viv_put_be64 (void *p, uint64_t v)
{
  v = htobe64 (v);
  memcpy (p, &v, sizeof v);
}
