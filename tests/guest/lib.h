/* lib.h: the probe's freestanding runtime
 *
 * Port I/O through the ring-0 syscall service, MMIO accessors, a small
 * printf, TAP helpers and a TSC clock.  Everything here runs at CPL 3.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys.h"

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((__typeof__ (x)) (a) - 1))
#define PRINTF_LIKE(f, a) __attribute__ ((format (printf, f, a)))
#define NORETURN __attribute__ ((noreturn))

#define COM1 0x3f8

/* Values the ring-0 prologue saved (entry.S) */
extern uint64_t boot_start_info;
extern uint64_t boot_apic_base;
extern uint64_t boot_efer;
extern uint64_t boot_cr0;
extern uint64_t boot_cr4;

/* --- the syscall service ------------------------------------------------ */

static inline uint64_t
sys_call (uint64_t fn, uint64_t a, uint64_t b, uint64_t c)
{
  uint64_t ret;

  __asm__ volatile ("syscall"
                    : "=a" (ret), "+D" (a), "+S" (b), "+d" (c)
                    : "0" (fn)
                    : "rcx", "r8", "r9", "r10", "r11", "memory");
  return ret;
}

static inline void outb (uint16_t port, uint8_t v) { sys_call (SYS_OUTB, port, v, 0); }
static inline void outw (uint16_t port, uint16_t v) { sys_call (SYS_OUTW, port, v, 0); }
static inline void outl (uint16_t port, uint32_t v) { sys_call (SYS_OUTL, port, v, 0); }
static inline uint8_t inb (uint16_t port) { return sys_call (SYS_INB, port, 0, 0); }
static inline uint16_t inw (uint16_t port) { return sys_call (SYS_INW, port, 0, 0); }
static inline uint32_t inl (uint16_t port) { return sys_call (SYS_INL, port, 0, 0); }

NORETURN void halt_forever (void);

/* --- MMIO (volatile, one instruction each, so KVM's emulator decodes them) */

static inline uint8_t mmio_read8 (uint64_t a) { return *(volatile uint8_t *) a; }
static inline uint16_t mmio_read16 (uint64_t a) { return *(volatile uint16_t *) a; }
static inline uint32_t mmio_read32 (uint64_t a) { return *(volatile uint32_t *) a; }
static inline void mmio_write8 (uint64_t a, uint8_t v) { *(volatile uint8_t *) a = v; }
static inline void mmio_write16 (uint64_t a, uint16_t v) { *(volatile uint16_t *) a = v; }
static inline void mmio_write32 (uint64_t a, uint32_t v) { *(volatile uint32_t *) a = v; }

/* 64-bit registers as two 32-bit accesses, low half first (virtio 1.2 §4.1.3.1) */
static inline uint64_t
mmio_read64 (uint64_t a)
{
  uint32_t lo = mmio_read32 (a);
  return lo | (uint64_t) mmio_read32 (a + 4) << 32;
}

static inline void
mmio_write64 (uint64_t a, uint64_t v)
{
  mmio_write32 (a, (uint32_t) v);
  mmio_write32 (a + 4, (uint32_t) (v >> 32));
}

static inline void barrier (void) { __asm__ volatile ("" ::: "memory"); }
static inline void mfence (void) { __asm__ volatile ("mfence" ::: "memory"); }
static inline void cpu_relax (void) { __asm__ volatile ("pause" ::: "memory"); }

/* Makes [addr, addr + len) reachable through the page tables: the static
 * ones cover 0-4 GiB, this adds 2 MiB mappings above (up to 512 GiB) for
 * BARs or tables a VMM placed there.  Returns false if it cannot. */
bool map_phys (uint64_t addr, uint64_t len);

/* --- clock ---------------------------------------------------------------- */

static inline uint64_t
rdtsc (void)
{
  uint32_t lo, hi;

  __asm__ volatile ("rdtsc" : "=a" (lo), "=d" (hi));
  return lo | (uint64_t) hi << 32;
}

/* Calibrates the TSC against the ACPI PM timer (port 0 = none: assume
 * 3 GHz, which only stretches the time bounds). */
void clock_init (uint16_t pm_tmr_port, bool pm_tmr_32bit);
uint64_t clock_tsc_per_ms (void);
uint64_t deadline_after_ms (uint64_t ms);
bool deadline_passed (uint64_t deadline);
void delay_us (uint64_t us);

/* --- strings and memory ---------------------------------------------------- */

void *memset (void *s, int c, size_t n);
void *memcpy (void *dst, const void *src, size_t n);
void *memmove (void *dst, const void *src, size_t n);
int memcmp (const void *a, const void *b, size_t n);
size_t strlen (const char *s);
int strncmp (const char *a, const char *b, size_t n);

int vsnprintf (char *buf, size_t size, const char *fmt, va_list ap);
int snprintf (char *buf, size_t size, const char *fmt, ...) PRINTF_LIKE (3, 4);
void printf (const char *fmt, ...) PRINTF_LIKE (1, 2);

/* --- the command line ------------------------------------------------------ */

void cmdline_set (const char *s);
const char *cmdline_get (void);
/* The value of key=value as a number, or fallback if absent or malformed */
uint64_t cmdline_number (const char *key, uint64_t fallback);
bool cmdline_has (const char *key);
/* Copies KEY's value (up to the next space, NUL-terminated, cut at size -
 * 1) into buf; returns its length, 0 if absent */
size_t cmdline_string (const char *key, char *buf, size_t size);
/* Whether KEY's value is exactly VALUE. */
bool cmdline_is (const char *key, const char *value);

/* --- TAP on COM1 ------------------------------------------------------------ */

void serial_init (void);
/* A byte of COM1 input, or -1 if none is waiting (two port reads: LSR,
 * then RBR; each an exit) */
int serial_getc (void);
bool tap_ok (bool ok, const char *fmt, ...) PRINTF_LIKE (2, 3);
void tap_skip (const char *reason, const char *fmt, ...) PRINTF_LIKE (2, 3);
void tap_diag (const char *fmt, ...) PRINTF_LIKE (1, 2);
unsigned tap_count (void);
unsigned tap_failures (void);
void tap_plan (void);
/* "Bail out! ...", then the power-off path (set by main) */
NORETURN void tap_bail (const char *fmt, ...) PRINTF_LIKE (1, 2);
void tap_set_bail_hook (void (*hook) (void));
