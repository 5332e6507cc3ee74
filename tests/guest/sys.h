/* sys.h: numbers shared by the ring-0 code (entry.S) and the C side
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

/* GDT selectors, in the order STAR needs: syscall loads CS = SEL_KCODE and
 * SS = SEL_KCODE + 8; a 64-bit sysret would load SEL_UCODE32 + 16 and + 8. */
#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_UCODE32 0x18
#define SEL_UDATA   0x20
#define SEL_UCODE   0x28

/* The syscall service's functions (%eax) */
#define SYS_OUTB  0   /* port, value */
#define SYS_OUTW  1
#define SYS_OUTL  2
#define SYS_INB   3   /* port -> value */
#define SYS_INW   4
#define SYS_INL   5
#define SYS_WRITE 6   /* 8250 base port, bytes, count: waits for THRE per byte */
#define SYS_HALT  7   /* cli; hlt, forever */
