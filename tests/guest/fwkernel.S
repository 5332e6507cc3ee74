/* fwkernel.S: a bzImage that only a boot loader following the Linux boot
 * protocol's real-mode path can start (SeaBIOS's linuxboot option ROM,
 * given it through fw_cfg as QEMU's -kernel does).
 *
 * Its setup code is entered in real mode at the setup segment + 0x20, as
 * the protocol says, enters 32-bit protected mode and jumps to the
 * protected-mode kernel at code32_start (1 MiB) with ESI at the setup
 * header's page, as the real kernel's setup does. The kernel then prints on
 * COM1 what its loader told it and what it finds in memory:
 *
 *   fwkernel: loader=b0 cmdline=<the command line> initrd=<address>,<size>
 *   fwkernel: initrd-sum=<sum of its bytes> tail=<the kernel's last word>
 *   fwkernel: done
 *
 * and halts. The test (tests/vmm/fwkernel.sh) checks the numbers against
 * the files it gave.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#define COM1 0x3f8

        .section .setup, "ax"
        .code16
        .org 0x1f1
setup_sects:    .byte 1                 /* setup: this sector and the boot sector */
root_flags:     .word 0
syssize:        .long 0
ram_size:       .word 0
vid_mode:       .word 0xffff
root_dev:       .word 0
boot_flag:      .word 0xaa55
        .org 0x200
        jmp     start
        .org 0x202
        .ascii  "HdrS"
version:        .word 0x020f
realmode_swtch: .long 0
start_sys_seg:  .word 0
kernel_version: .word 0
type_of_loader: .byte 0
loadflags:      .byte 0x01              /* LOADED_HIGH */
setup_move_sz:  .word 0
code32_start:   .long 0x100000
ramdisk_image:  .long 0
ramdisk_size:   .long 0
bootsect_kludge: .long 0
heap_end_ptr:   .word 0
ext_loader_ver: .byte 0
ext_loader_type: .byte 0
cmd_line_ptr:   .long 0
initrd_addr_max: .long 0x7fffffff
kernel_align:   .long 0x200000
relocatable:    .byte 0
min_alignment:  .byte 0
xloadflags:     .word 0
cmdline_size:   .long 2047
hw_subarch:     .long 0
hw_subarch_data: .quad 0
payload_offset: .long 0
payload_length: .long 0
setup_data:     .quad 0
pref_address:   .quad 0x100000
init_size:      .long 0x10000
handover_offset: .long 0
        .org 0x268

start:
        cli
        cld
        /* the loader set DS to the setup segment: the GDT's linear address
         * is that segment's base plus its offset */
        xorl    %eax, %eax
        movw    %ds, %ax
        shll    $4, %eax
        movl    %eax, %esi              /* boot_params, for the kernel */
        addl    $gdt, %eax
        movl    %eax, gdt_base
        lgdtl   gdt_ptr
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x10, $0x100000

        .balign 8
gdt:    .quad 0
        .quad 0
        .quad 0x00cf9a000000ffff        /* 0x10: flat code */
        .quad 0x00cf92000000ffff        /* 0x18: flat data */
gdt_ptr: .word 4 * 8 - 1
gdt_base: .long 0
        .org 0x400

        .section .kernel, "ax"
        .code32
kernel:
        movl    $0x18, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    $stack_top, %esp
        movl    %esi, %ebp              /* boot_params */

        movl    $msg_loader, %esi
        call    puts
        movzbl  0x210(%ebp), %eax
        movl    $2, %ecx
        call    puthex
        movl    $msg_cmdline, %esi
        call    puts
        movl    0x228(%ebp), %esi       /* cmd_line_ptr */
        call    puts_bounded
        movl    $msg_initrd, %esi
        call    puts
        movl    0x218(%ebp), %eax
        movl    $8, %ecx
        call    puthex
        movb    $',', %al
        call    putc
        movl    0x21c(%ebp), %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_nl, %esi
        call    puts

        /* the initrd's bytes, summed, and the kernel's last word: both
         * made it into memory where the header says */
        movl    0x218(%ebp), %esi
        movl    0x21c(%ebp), %ecx
        xorl    %edx, %edx
        xorl    %eax, %eax
1:      testl   %ecx, %ecx
        jz      2f
        movzbl  (%esi), %eax
        addl    %eax, %edx
        incl    %esi
        decl    %ecx
        jmp     1b
2:      movl    %edx, %edi              /* putc takes DX */
        movl    $msg_sum, %esi
        call    puts
        movl    %edi, %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_tail, %esi
        call    puts
        movl    kernel_tail, %eax
        movl    $8, %ecx
        call    puthex
        movl    $msg_done, %esi
        call    puts
3:      hlt
        jmp     3b

/* AL to COM1 (DX is lost) */
putc:
        movw    $COM1, %dx
        outb    %al, %dx
        ret

/* the NUL-terminated string at ESI */
puts:
        lodsb
        testb   %al, %al
        jz      1f
        call    putc
        jmp     puts
1:      ret

/* the same, at most 2047 bytes, from an address the loader gave */
puts_bounded:
        movl    $2047, %ecx
1:      testl   %ecx, %ecx
        jz      2f
        lodsb
        testb   %al, %al
        jz      2f
        call    putc
        decl    %ecx
        jmp     1b
2:      ret

/* the low ECX hex digits of EAX */
puthex:
        movl    %eax, %ebx
1:      decl    %ecx
        movl    %ebx, %eax
        pushl   %ecx
        shll    $2, %ecx
        shrl    %cl, %eax
        popl    %ecx
        andl    $0xf, %eax
        movb    hexdigits(%eax), %al
        call    putc
        testl   %ecx, %ecx
        jnz     1b
        ret

hexdigits:      .ascii "0123456789abcdef"
msg_loader:     .asciz "fwkernel: loader="
msg_cmdline:    .asciz " cmdline="
msg_initrd:     .asciz " initrd="
msg_nl:         .asciz "\n"
msg_sum:        .asciz "fwkernel: initrd-sum="
msg_tail:       .asciz " tail="
msg_done:       .asciz "\nfwkernel: done\n"

        .balign 16
stack:  .fill 1024, 1, 0
stack_top:
        .balign 4
kernel_tail:    .long 0x7a11ed0c        /* the kernel's last word */
