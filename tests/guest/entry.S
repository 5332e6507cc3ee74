/* entry.S: the probe's only ring-0 code
 *
 * The PVH entry (32-bit protected mode, paging off, %ebx = hvm_start_info),
 * a prologue that reaches long mode with static page tables and drops to
 * CPL 3, and the syscall service that does port I/O for the C code.  Ring 0
 * is emulated instruction by instruction on this machine's nested KVM, so
 * everything here is straight-line and short; all real work runs at CPL 3.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "sys.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define MSR_APIC_BASE 0x0000001b
#define MSR_EFER      0xc0000080
#define MSR_STAR      0xc0000081
#define MSR_LSTAR     0xc0000082
#define MSR_FMASK     0xc0000084

#define EFER_SCE      (1 << 0)
#define EFER_LME      (1 << 8)
#define CR0_PG        0x80000000
#define CR4_PAE       (1 << 5)

/* RFLAGS bits the syscall entry clears: TF, IF, DF, AC */
#define SYSCALL_FMASK 0x40700

/* Page-table entry bits: present, writable, user; PS for 2 MiB leaves */
#define PTE_PWU       0x007
#define PTE_LARGE     0x080

/* -------------------------------------------------------------------------
 * The PVH note.  QEMU reads the descriptor as a pointer-sized value from an
 * ELF64 image, so it is 8 bytes (as Linux's is); the note is 4-aligned so
 * that the name pads to 4 bytes whatever a loader assumes.
 */
        .section .note.Xen, "a", @note
        .balign 4
        .long   2f - 1f                 /* namesz */
        .long   4f - 3f                 /* descsz */
        .long   XEN_ELFNOTE_PHYS32_ENTRY
1:      .asciz  "Xen"
2:      .balign 4
3:      .quad   pvh_entry
4:      .balign 4

/* -------------------------------------------------------------------------
 * 32-bit entry
 */
        .section .text.entry, "ax"
        .code32
        .globl  pvh_entry
pvh_entry:
        cld
        movl    %ebx, boot_start_info
        lgdt    gdt_ptr
        movl    $SEL_KDATA, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $boot_stack_top, %esp

        movl    $CR4_PAE, %eax
        movl    %eax, %cr4
        movl    $pml4, %eax
        movl    %eax, %cr3
        movl    $MSR_EFER, %ecx
        rdmsr
        orl     $(EFER_LME | EFER_SCE), %eax
        wrmsr
        movl    %cr0, %eax
        orl     $CR0_PG, %eax
        movl    %eax, %cr0
        ljmp    $SEL_KCODE, $long_entry

/* -------------------------------------------------------------------------
 * 64-bit, still ring 0: the syscall MSRs, a few snapshots the tests report
 * (CPL 3 cannot read MSRs or CR0), then iretq to CPL 3 with IF = 0.
 */
        .code64
long_entry:
        movl    $MSR_STAR, %ecx
        xorl    %eax, %eax
        /* syscall: CS = KCODE, SS = KCODE + 8; sysret (unused): +16 / +8 */
        movl    $(((SEL_UCODE32 | 3) << 16) | SEL_KCODE), %edx
        wrmsr
        movl    $MSR_LSTAR, %ecx
        movl    $syscall_entry, %eax
        xorl    %edx, %edx
        wrmsr
        movl    $MSR_FMASK, %ecx
        movl    $SYSCALL_FMASK, %eax
        xorl    %edx, %edx
        wrmsr

        movl    $MSR_APIC_BASE, %ecx
        rdmsr
        movl    %eax, boot_apic_base
        movl    %edx, boot_apic_base + 4
        movl    $MSR_EFER, %ecx
        rdmsr
        movl    %eax, boot_efer
        movl    %edx, boot_efer + 4
        movq    %cr0, %rax
        movq    %rax, boot_cr0
        movq    %cr4, %rax
        movq    %rax, boot_cr4

        pushq   $(SEL_UDATA | 3)        /* SS */
        pushq   $user_stack_top         /* RSP */
        pushq   $0x2                    /* RFLAGS: IF = 0, IOPL = 0 */
        pushq   $(SEL_UCODE | 3)        /* CS */
        pushq   $user_entry             /* RIP */
        iretq

/* -------------------------------------------------------------------------
 * CPL 3 from here: clear .bss (the stacks live outside it), run the tests.
 */
user_entry:
        movl    $__bss_start, %edi
        movl    $__bss_end, %ecx
        subl    %edi, %ecx
        xorl    %eax, %eax
        rep stosb
        call    probe_main
        movl    $SYS_HALT, %eax
        syscall

/* -------------------------------------------------------------------------
 * The syscall service.  In: %eax = SYS_*, %rdi/%rsi/%rdx = arguments.
 * Out: %rax.  Clobbers %rcx, %rdx, %rsi, %rdi, %r8-%r11.  It runs on the
 * caller's stack (syscall switches none; the C code has no red zone) and
 * returns with iretq, since sysretq triple-faults on this machine.
 */
        .balign 16
syscall_entry:
        movq    %rsp, %r10
        cmpl    $SYS_WRITE, %eax
        je      .Lwrite
        movl    %edi, %edx
        cmpl    $SYS_OUTB, %eax
        je      .Loutb
        cmpl    $SYS_INB, %eax
        je      .Linb
        cmpl    $SYS_OUTW, %eax
        je      .Loutw
        cmpl    $SYS_INW, %eax
        je      .Linw
        cmpl    $SYS_OUTL, %eax
        je      .Loutl
        cmpl    $SYS_INL, %eax
        je      .Linl
        cmpl    $SYS_HALT, %eax
        je      .Lhalt
        movq    $-1, %rax
        jmp     .Lreturn

.Loutb: movl    %esi, %eax
        outb    %al, %dx
        jmp     .Lreturn
.Loutw: movl    %esi, %eax
        outw    %ax, %dx
        jmp     .Lreturn
.Loutl: movl    %esi, %eax
        outl    %eax, %dx
        jmp     .Lreturn
.Linb:  xorl    %eax, %eax
        inb     %dx, %al
        jmp     .Lreturn
.Linw:  xorl    %eax, %eax
        inw     %dx, %ax
        jmp     .Lreturn
.Linl:  inl     %dx, %eax
        jmp     .Lreturn

        /* %rdi = 8250 base port, %rsi = bytes, %rdx = count.  Waits (a
         * bounded number of reads) for THRE before each byte, so a slow
         * backend does not lose output. */
.Lwrite:
        movq    %rdx, %r8
1:      testq   %r8, %r8
        jz      3f
        leal    5(%rdi), %edx           /* LSR */
        movl    $0x10000, %r9d
2:      inb     %dx, %al
        testb   $0x20, %al
        jnz     4f
        decl    %r9d
        jnz     2b
4:      movl    %edi, %edx
        movb    (%rsi), %al
        outb    %al, %dx
        incq    %rsi
        decq    %r8
        jmp     1b
3:      xorl    %eax, %eax
        jmp     .Lreturn

.Lhalt: cli
        hlt
        jmp     .Lhalt

.Lreturn:
        pushq   $(SEL_UDATA | 3)
        pushq   %r10
        pushq   %r11
        pushq   $(SEL_UCODE | 3)
        pushq   %rcx
        iretq

/* -------------------------------------------------------------------------
 * The AP trampoline, copied by the C code to a free page below 1 MiB.  A
 * started AP runs it in real mode at CS = page >> 4, IP = 0: it counts
 * itself in and halts with interrupts off.
 */
        .section .rodata.trampoline, "a"
        .code16
        .globl  ap_trampoline, ap_trampoline_counter, ap_trampoline_end
ap_trampoline:
        cli
        lock incl %cs:(ap_trampoline_counter - ap_trampoline)
1:      hlt
        jmp     1b
        .balign 4
ap_trampoline_counter:
        .long   0
ap_trampoline_end:
        .code64

/* -------------------------------------------------------------------------
 * Data: the GDT (in the order STAR needs), the page tables (identity map of
 * 0-4 GiB in 2 MiB pages, user-accessible at every level so CPL 3 reaches
 * RAM and MMIO), and the values the tests report.
 */
        .section .data.boot, "aw"
        .balign 16
gdt:
        .quad   0                       /* null */
        .quad   0x00af9a000000ffff      /* 0x08 kernel code, 64-bit */
        .quad   0x00cf92000000ffff      /* 0x10 kernel data */
        .quad   0x00cffa000000ffff      /* 0x18 user code, 32-bit (sysret's base) */
        .quad   0x00cff2000000ffff      /* 0x20 user data */
        .quad   0x00affa000000ffff      /* 0x28 user code, 64-bit */
gdt_end:
        .balign 4
        .word   0
gdt_ptr:
        .word   gdt_end - gdt - 1
        .long   gdt

        .balign 8
        .globl  boot_start_info, boot_apic_base, boot_efer, boot_cr0, boot_cr4
boot_start_info: .quad 0
boot_apic_base:  .quad 0
boot_efer:       .quad 0
boot_cr0:        .quad 0
boot_cr4:        .quad 0

        .section .data.pagetables, "aw"
        .balign 4096
        .globl  pml4, pdpt
pml4:
        .quad   pdpt + PTE_PWU
        .fill   511, 8, 0
pdpt:
        .quad   pd + 0x0000 + PTE_PWU
        .quad   pd + 0x1000 + PTE_PWU
        .quad   pd + 0x2000 + PTE_PWU
        .quad   pd + 0x3000 + PTE_PWU
        .fill   508, 8, 0
pd:
        .set    addr, 0
        .rept   2048
        .quad   addr + PTE_LARGE + PTE_PWU
        .set    addr, addr + 0x200000
        .endr

/* Stacks: outside .bss, so that clearing .bss at CPL 3 spares them */
        .section .stack, "aw", @nobits
        .balign 4096
        .space  4096
boot_stack_top:
        .space  32768
        .globl  user_stack_top
user_stack_top:

        .section .note.GNU-stack, "", @progbits
