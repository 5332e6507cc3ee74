/* arch/x86/boot.c: direct kernel boot, PVH ELF and bzImage (see boot.h)
 *
 * Written from the specifications: Linux's Documentation/arch/x86/boot.rst
 * and zero-page.rst, Xen's arch-x86/hvm/start_info.h and misc/pvh.pandoc,
 * and the ELF gABI. The kernel file is untrusted input: every offset, size
 * and sum taken from it is checked before it is used, and nothing is written
 * to guest memory until the whole layout has been validated.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "arch/x86/boot.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "viv-bytes.h"      /* the formats are little-endian whatever the host is */

/* ---- little helpers -------------------------------------------------------- */

G_DEFINE_QUARK (vmm-boot-error-quark, vmm_boot_error)

/* The reasons are not translated: they name what the specifications name. */
static gboolean
fail (GError **error, VmmBootError code, const char *reason)
{
  g_set_error_literal (error, VMM_BOOT_ERROR, code, reason);
  return FALSE;
}

/* True when [off, off + len) lies inside a SIZE-byte file, without overflow. */
static bool
in_file (size_t size, uint64_t off, uint64_t len)
{
  return off <= size && len <= size - off;
}

#define PAGE_SIZE_4K 0x1000ULL

/* ---- what every boot needs ---------------------------------------------- */

/* Guest RAM as the loaders see it: where low RAM ends, and the e820 map. */
struct boot_ram {
  uint64_t low_end;
  struct vmm_e820_entry e820[VMM_E820_MAX];
  unsigned n_e820;
};

static gboolean
boot_ram_get (const struct vmm_mem *mem, struct boot_ram *ram, GError **error)
{
  const struct vmm_mem_region *low = vmm_mem_region_of (mem, 0);
  int n;

  if (low == NULL || low->gpa != 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "guest RAM does not start at address 0");
  ram->low_end = low->size < VMM_PCI_HOLE_START ? low->size : VMM_PCI_HOLE_START;

  n = vmm_e820_build (mem->ram_size, ram->e820, VMM_E820_MAX);
  if (n < 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "guest RAM is smaller than the minimum");
  ram->n_e820 = (unsigned) n;

  /* The map is derived from the RAM size; make sure the memory really is laid
   * out that way, or the kernel would be told about RAM that is not there. */
  for (unsigned i = 0; i < ram->n_e820; i++)
    if (ram->e820[i].type == VMM_E820_RAM
        && vmm_mem_ptr (mem, ram->e820[i].addr, ram->e820[i].size) == NULL)
      return fail (error, VMM_BOOT_ERROR_INVALID,
                   "guest RAM is not laid out as the x86 memory map says");
  return TRUE;
}

static gboolean
cmdline_len (const char *cmdline, uint64_t max, size_t *len, GError **error)
{
  /* strnlen bounds the scan even if the caller's string is absurdly long. */
  size_t n = cmdline != NULL ? strnlen (cmdline, VMM_CMDLINE_MAX) : 0;

  if (n > VMM_CMDLINE_MAX - 1 || n > max)
    return fail (error, VMM_BOOT_ERROR_CMDLINE, "kernel command line is too long for the kernel");
  *len = n;
  return TRUE;
}

static int
cmdline_write (const struct vmm_mem *mem, const char *cmdline, size_t len)
{
  static const char nul = '\0';
  int ret = 0;

  if (len > 0)
    ret = vmm_mem_write (mem, VMM_CMDLINE_ADDR, cmdline, len);
  if (ret == 0)
    ret = vmm_mem_write (mem, VMM_CMDLINE_ADDR + len, &nul, 1);
  return ret;
}

/* The highest 4 KiB-aligned address at or above KERNEL_END where SIZE bytes
 * end at or below LIMIT: the top of RAM keeps the initrd clear of the
 * kernel's decompression and early allocations, as other loaders do. */
static gboolean
initrd_place (uint64_t size, uint64_t kernel_end, uint64_t limit, uint64_t *addr,
              GError **error)
{
  uint64_t a;

  if (size > limit)
    return fail (error, VMM_BOOT_ERROR_NO_ROOM,
                 "initrd is larger than the RAM the kernel can reach");
  a = (limit - size) & ~(PAGE_SIZE_4K - 1);
  if (a < kernel_end)
    return fail (error, VMM_BOOT_ERROR_NO_ROOM,
                 "initrd does not fit between the kernel and the top of RAM");
  *addr = a;
  return TRUE;
}

/* The GDT descriptor for a segment as the boot state describes it, so the
 * table and the hidden segment registers cannot disagree. */
static uint64_t
gdt_entry (const struct vmm_boot_segment *s)
{
  uint32_t limit = s->g ? s->limit >> 12 : s->limit;

  return (uint64_t) (limit & 0xffff)
         | (s->base & 0xffffffULL) << 16
         | (uint64_t) (s->type & 0xf) << 40
         | (uint64_t) (s->s & 1) << 44
         | (uint64_t) (s->dpl & 3) << 45
         | (uint64_t) (s->present & 1) << 47
         | (uint64_t) ((limit >> 16) & 0xf) << 48
         | (uint64_t) (s->l & 1) << 53
         | (uint64_t) (s->db & 1) << 54
         | (uint64_t) (s->g & 1) << 55
         | ((s->base >> 24) & 0xff) << 56;
}

#define BOOT_CS_SELECTOR  0x10
#define BOOT_DS_SELECTOR  0x18
#define BOOT_TSS_SELECTOR 0x20

#define SEG_TYPE_DATA_RW_ACCESSED   0x3
#define SEG_TYPE_CODE_XR_ACCESSED   0xb
#define SEG_TYPE_TSS_BUSY           0xb
#define SEG_TYPE_LDT                0x2

/* The boot TSS. TR must hold a TSS on entry (VT-x refuses an unusable TR);
 * ours carries an I/O permission bitmap that allows every port, so code a
 * guest runs at CPL 3 before it installs its own TSS can still reach port
 * I/O. The probe guest of the test suite needs exactly that on machines
 * whose KVM runs its "ring 0" at CPL 3. The PVH ABI names a limit of 0x67;
 * a larger limit only adds the bitmap, and every kernel loads its own TR
 * long before it runs user code. It lives in the reserved BIOS area. */
static int
boot_tss (const struct vmm_mem *mem)
{
  uint8_t *tss = vmm_mem_ptr (mem, VMM_BOOT_TSS_ADDR, VMM_BOOT_TSS_LIMIT + 1);

  if (tss == NULL)
    return -EFAULT;
  memset (tss, 0, VMM_BOOT_TSS_LIMIT + 1);
  tss[0x66] = VMM_BOOT_TSS_IOMAP & 0xff;          /* I/O map base */
  tss[0x67] = VMM_BOOT_TSS_IOMAP >> 8;
  tss[VMM_BOOT_TSS_LIMIT] = 0xff;                 /* the bitmap's terminator */
  return 0;
}

/* Flat segments, the TSS and the unusable LDT, for 32-bit (PVH) or 64-bit
 * (bzImage) entry; writes the GDT those selectors index. */
static int
boot_segments (const struct vmm_mem *mem, bool long_mode, struct vmm_boot_state *st)
{
  uint8_t gdt[6 * 8];
  size_t gdt_size;

  st->cs = (struct vmm_boot_segment) {
    .base = 0, .limit = 0xffffffff, .selector = BOOT_CS_SELECTOR,
    .type = SEG_TYPE_CODE_XR_ACCESSED, .present = 1, .dpl = 0, .s = 1,
    .db = long_mode ? 0 : 1, .l = long_mode ? 1 : 0, .g = 1,
  };
  st->ds = (struct vmm_boot_segment) {
    .base = 0, .limit = 0xffffffff, .selector = BOOT_DS_SELECTOR,
    .type = SEG_TYPE_DATA_RW_ACCESSED, .present = 1, .dpl = 0, .s = 1,
    .db = 1, .l = 0, .g = 1,
  };
  st->es = st->fs = st->gs = st->ss = st->ds;
  st->tr = (struct vmm_boot_segment) {
    .base = VMM_BOOT_TSS_ADDR, .limit = VMM_BOOT_TSS_LIMIT, .selector = BOOT_TSS_SELECTOR,
    .type = SEG_TYPE_TSS_BUSY, .present = 1, .dpl = 0, .s = 0,
    .db = 0, .l = 0, .g = 0,
  };
  /* Not present: the caller marks it unusable. */
  st->ldt = (struct vmm_boot_segment) {
    .base = 0, .limit = 0, .selector = 0, .type = SEG_TYPE_LDT, .present = 0,
  };

  memset (gdt, 0, sizeof gdt);
  viv_put_le64 (gdt + BOOT_CS_SELECTOR, gdt_entry (&st->cs));
  viv_put_le64 (gdt + BOOT_DS_SELECTOR, gdt_entry (&st->ds));
  viv_put_le64 (gdt + BOOT_TSS_SELECTOR, gdt_entry (&st->tr));
  /* In long mode a system descriptor takes 16 bytes; its upper half holds
   * base bits 63:32, which are 0. */
  gdt_size = long_mode ? 6 * 8 : 5 * 8;

  if (boot_tss (mem) < 0)
    return -EFAULT;
  st->gdt_base = VMM_BOOT_GDT_ADDR;
  st->gdt_limit = (uint16_t) (gdt_size - 1);
  st->idt_base = VMM_BOOT_IDT_ADDR;
  st->idt_limit = 0;
  return vmm_mem_write (mem, VMM_BOOT_GDT_ADDR, gdt, gdt_size);
}

/* ---- ELF and the PVH note ------------------------------------------------- */

#define EI_NIDENT    16
#define ELFCLASS32   1
#define ELFCLASS64   2
#define ELFDATA2LSB  1
#define EV_CURRENT   1
#define EM_386       3
#define EM_X86_64    62
#define PT_LOAD      1
#define PT_NOTE      4
#define SHT_NOTE     7

#define XEN_ELFNOTE_PHYS32_ENTRY 18

struct elf_image {
  const uint8_t *data;
  size_t size;
  bool is64;
  uint64_t phoff, shoff;
  unsigned phnum, phentsize, shnum, shentsize;
};

struct elf_phdr {
  uint32_t type;
  uint64_t offset, paddr, filesz, memsz, align;
};

static bool
elf_magic (const void *data, size_t size)
{
  return size >= 4 && memcmp (data, "\177ELF", 4) == 0;
}

static gboolean
elf_open (const void *data, size_t size, struct elf_image *elf, GError **error)
{
  const uint8_t *d = data;
  unsigned machine, ehsize, phdr_size, shdr_size;

  if (!elf_magic (data, size) || size < EI_NIDENT)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "not an ELF file");
  if (d[4] != ELFCLASS32 && d[4] != ELFCLASS64)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "ELF file of an unknown class");
  if (d[5] != ELFDATA2LSB)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "ELF file is not little-endian");
  if (d[6] != EV_CURRENT)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "ELF file of an unknown version");

  memset (elf, 0, sizeof *elf);
  elf->data = d;
  elf->size = size;
  elf->is64 = d[4] == ELFCLASS64;
  ehsize = elf->is64 ? 64 : 52;
  phdr_size = elf->is64 ? 56 : 32;
  shdr_size = elf->is64 ? 64 : 40;
  if (size < ehsize)
    return fail (error, VMM_BOOT_ERROR_INVALID, "ELF header is truncated");

  machine = viv_get_le16 (d + 18);
  if (machine != EM_386 && machine != EM_X86_64)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "ELF kernel for another architecture than x86");

  if (elf->is64)
    {
      elf->phoff = viv_get_le64 (d + 32);
      elf->shoff = viv_get_le64 (d + 40);
      elf->phentsize = viv_get_le16 (d + 54);
      elf->phnum = viv_get_le16 (d + 56);
      elf->shentsize = viv_get_le16 (d + 58);
      elf->shnum = viv_get_le16 (d + 60);
    }
  else
    {
      elf->phoff = viv_get_le32 (d + 28);
      elf->shoff = viv_get_le32 (d + 32);
      elf->phentsize = viv_get_le16 (d + 42);
      elf->phnum = viv_get_le16 (d + 44);
      elf->shentsize = viv_get_le16 (d + 46);
      elf->shnum = viv_get_le16 (d + 48);
    }

  if (elf->phnum == 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "ELF kernel without program headers");
  if (elf->phentsize < phdr_size)
    return fail (error, VMM_BOOT_ERROR_INVALID, "ELF program header size is too small");
  /* phnum and phentsize are 16-bit, so their product cannot overflow. */
  if (!in_file (size, elf->phoff, (uint64_t) elf->phnum * elf->phentsize))
    return fail (error, VMM_BOOT_ERROR_INVALID,
                 "ELF program headers extend past the end of the file");

  /* Sections are only a fallback for finding the note: a table that makes no
   * sense is ignored rather than refused, as stripping tools leave odd ones. */
  if (elf->shnum != 0
      && (elf->shentsize < shdr_size
          || !in_file (size, elf->shoff, (uint64_t) elf->shnum * elf->shentsize)))
    elf->shnum = 0;
  return TRUE;
}

static void
elf_phdr_get (const struct elf_image *elf, unsigned i, struct elf_phdr *ph)
{
  const uint8_t *p = elf->data + elf->phoff + (uint64_t) i * elf->phentsize;

  ph->type = viv_get_le32 (p);
  if (elf->is64)
    {
      ph->offset = viv_get_le64 (p + 8);
      ph->paddr = viv_get_le64 (p + 24);
      ph->filesz = viv_get_le64 (p + 32);
      ph->memsz = viv_get_le64 (p + 40);
      ph->align = viv_get_le64 (p + 48);
    }
  else
    {
      ph->offset = viv_get_le32 (p + 4);
      ph->paddr = viv_get_le32 (p + 12);
      ph->filesz = viv_get_le32 (p + 16);
      ph->memsz = viv_get_le32 (p + 20);
      ph->align = viv_get_le32 (p + 28);
    }
}

static uint64_t
align_up (uint64_t v, uint64_t align)
{
  return (v + align - 1) & ~(align - 1);
}

static int
fail_notes (GError **error, VmmBootError code, const char *reason)
{
  fail (error, code, reason);
  return -1;
}

/* Looks for Xen's PHYS32_ENTRY note among the notes in [off, off + len) of
 * the file. Returns 1 and *ENTRY when found, 0 when not, -1 with ERROR set
 * when the notes are malformed. Notes are padded to 4 bytes (8 when the segment or
 * section says so, as some toolchains write for ELF64). */
static int
elf_scan_notes (const struct elf_image *elf, uint64_t off, uint64_t len, uint64_t align,
                uint64_t *entry, GError **error)
{
  const uint8_t *p;
  uint64_t pos = 0;

  if (!in_file (elf->size, off, len))
    return fail_notes (error, VMM_BOOT_ERROR_INVALID, "ELF note extends past the end of the file");
  p = elf->data + off;
  align = align == 8 ? 8 : 4;

  /* Every round consumes at least the 12-byte header, so the loop ends. */
  while (len - pos >= 12)
    {
      uint32_t namesz = viv_get_le32 (p + pos);
      uint32_t descsz = viv_get_le32 (p + pos + 4);
      uint32_t type = viv_get_le32 (p + pos + 8);
      uint64_t name_pad = align_up (namesz, align);
      uint64_t desc_pad = align_up (descsz, align);
      const uint8_t *name, *desc;

      pos += 12;
      if (name_pad > len - pos)
        return fail_notes (error, VMM_BOOT_ERROR_INVALID, "ELF note is truncated");
      name = p + pos;
      pos += name_pad;
      if (descsz > len - pos)
        return fail_notes (error, VMM_BOOT_ERROR_INVALID, "ELF note is truncated");
      desc = p + pos;
      /* The last note's padding may be missing; nothing follows it anyway. */
      pos += desc_pad < len - pos ? desc_pad : len - pos;

      if (namesz == 4 && memcmp (name, "Xen", 4) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY)
        {
          if (descsz == 4)
            *entry = viv_get_le32 (desc);
          else if (descsz == 8)
            *entry = viv_get_le64 (desc);
          else
            return fail_notes (error, VMM_BOOT_ERROR_INVALID,
                               "PVH entry note has a size other than 4 or 8");
          return 1;
        }
    }
  return 0;
}

static gboolean
elf_pvh_entry (const struct elf_image *elf, uint64_t *entry, GError **error)
{
  int ret;

  for (unsigned i = 0; i < elf->phnum; i++)
    {
      struct elf_phdr ph;

      elf_phdr_get (elf, i, &ph);
      if (ph.type != PT_NOTE)
        continue;
      ret = elf_scan_notes (elf, ph.offset, ph.filesz, ph.align, entry, error);
      if (ret != 0)
        return ret > 0;
    }

  for (unsigned i = 0; i < elf->shnum; i++)
    {
      const uint8_t *sh = elf->data + elf->shoff + (uint64_t) i * elf->shentsize;
      uint64_t off, len, align;

      if (viv_get_le32 (sh + 4) != SHT_NOTE)
        continue;
      off = elf->is64 ? viv_get_le64 (sh + 24) : viv_get_le32 (sh + 16);
      len = elf->is64 ? viv_get_le64 (sh + 32) : viv_get_le32 (sh + 20);
      align = elf->is64 ? viv_get_le64 (sh + 48) : viv_get_le32 (sh + 32);
      ret = elf_scan_notes (elf, off, len, align, entry, error);
      if (ret != 0)
        return ret > 0;
    }

  return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
               "ELF kernel without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); "
               "build it with CONFIG_PVH");
}

/* ---- PVH ------------------------------------------------------------------- */

#define XEN_HVM_START_MAGIC_VALUE 0x336ec578

/* Inside the VMM_PVH_INFO_MAX page at VMM_PVH_INFO_ADDR: hvm_start_info
 * (56 bytes in version 1), then the module list, then the memory map. */
#define PVH_START_INFO_SIZE 56
#define PVH_MODLIST_OFF     0x40
#define PVH_MODLIST_ENTRY   32
#define PVH_MEMMAP_OFF      0x80
#define PVH_MEMMAP_ENTRY    24

_Static_assert (PVH_START_INFO_SIZE <= PVH_MODLIST_OFF
                && PVH_MODLIST_OFF + PVH_MODLIST_ENTRY <= PVH_MEMMAP_OFF
                && PVH_MEMMAP_OFF + VMM_E820_MAX * PVH_MEMMAP_ENTRY <= VMM_PVH_INFO_MAX,
                "hvm_start_info, module list and memory map fit their page");

static int
pvh_write_start_info (const struct vmm_mem *mem, const struct boot_ram *ram,
                      const struct vmm_boot_params *params, const struct vmm_boot_state *st)
{
  uint8_t info[PVH_MEMMAP_OFF + VMM_E820_MAX * PVH_MEMMAP_ENTRY];
  uint8_t *mod = info + PVH_MODLIST_OFF;

  memset (info, 0, sizeof info);
  viv_put_le32 (info + 0, XEN_HVM_START_MAGIC_VALUE);
  viv_put_le32 (info + 4, 1);                           /* version */
  viv_put_le32 (info + 8, 0);                           /* flags */
  if (st->initrd_size > 0)
    {
      viv_put_le32 (info + 12, 1);                      /* nr_modules */
      viv_put_le64 (info + 16, VMM_PVH_INFO_ADDR + PVH_MODLIST_OFF);
      viv_put_le64 (mod + 0, st->initrd_addr);
      viv_put_le64 (mod + 8, st->initrd_size);
      viv_put_le64 (mod + 16, 0);                       /* no module command line */
    }
  viv_put_le64 (info + 24, st->cmdline_addr);
  viv_put_le64 (info + 32, params->rsdp_gpa);
  viv_put_le64 (info + 40, VMM_PVH_INFO_ADDR + PVH_MEMMAP_OFF);
  viv_put_le32 (info + 48, ram->n_e820);

  for (unsigned i = 0; i < ram->n_e820; i++)
    {
      uint8_t *e = info + PVH_MEMMAP_OFF + i * PVH_MEMMAP_ENTRY;

      /* hvm_memmap_table_entry types are the e820 ones. */
      viv_put_le64 (e + 0, ram->e820[i].addr);
      viv_put_le64 (e + 8, ram->e820[i].size);
      viv_put_le32 (e + 16, ram->e820[i].type);
    }

  return vmm_mem_write (mem, VMM_PVH_INFO_ADDR, info,
                        PVH_MEMMAP_OFF + (uint64_t) ram->n_e820 * PVH_MEMMAP_ENTRY);
}

static gboolean
load_pvh (const struct vmm_mem *mem, const struct vmm_boot_params *params,
          struct vmm_boot_state *st, GError **error)
{
  struct elf_image elf;
  struct boot_ram ram;
  uint64_t entry = 0, start = UINT64_MAX, end = 0, initrd_size = 0;
  bool entry_ok = false;
  size_t cmd_len;

  if (!elf_open (params->kernel, params->kernel_size, &elf, error)
      || !elf_pvh_entry (&elf, &entry, error)
      || !boot_ram_get (mem, &ram, error)
      || !cmdline_len (params->cmdline, VMM_CMDLINE_MAX - 1, &cmd_len, error))
    return FALSE;

  /* Check every segment before copying any. */
  for (unsigned i = 0; i < elf.phnum; i++)
    {
      struct elf_phdr ph;

      elf_phdr_get (&elf, i, &ph);
      if (ph.type != PT_LOAD)
        continue;
      if (ph.filesz > ph.memsz)
        return fail (error, VMM_BOOT_ERROR_INVALID,
                     "ELF segment has more file bytes than memory bytes");
      if (!in_file (elf.size, ph.offset, ph.filesz))
        return fail (error, VMM_BOOT_ERROR_INVALID, "ELF segment extends past the end of the file");
      if (ph.memsz == 0)
        continue;
      /* Below 1 MiB live the boot structures, the EBDA and ACPI. */
      if (ph.paddr < VMM_HIMEM_START)
        return fail (error, VMM_BOOT_ERROR_INVALID, "ELF segment loads below 1 MiB");
      /* vmm_mem_ptr refuses ranges that wrap or leave one region of RAM. */
      if (vmm_mem_ptr (mem, ph.paddr, ph.memsz) == NULL)
        return fail (error, VMM_BOOT_ERROR_NO_ROOM, "ELF segment lies outside guest RAM");

      if (ph.paddr < start)
        start = ph.paddr;
      if (ph.paddr + ph.memsz > end)
        end = ph.paddr + ph.memsz;
      if (entry >= ph.paddr && entry - ph.paddr < ph.filesz)
        entry_ok = true;
    }
  if (end == 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "ELF kernel without loadable segments");
  /* Paging is off at the entry point: it must be a 32-bit physical address. */
  if (entry >= VMM_GiB (4))
    return fail (error, VMM_BOOT_ERROR_INVALID, "PVH entry point is above 4 GiB");
  if (!entry_ok)
    return fail (error, VMM_BOOT_ERROR_INVALID, "PVH entry point is outside the loaded segments");

  st->kernel_load_addr = start;
  st->kernel_end = end;
  if (params->initrd != NULL && params->initrd_size > 0)
    {
      uint64_t limit = ram.low_end < VMM_GiB (4) ? ram.low_end : VMM_GiB (4);

      initrd_size = params->initrd_size;
      if (!initrd_place (initrd_size, end, limit, &st->initrd_addr, error))
        return FALSE;
      st->initrd_size = initrd_size;
    }
  st->cmdline_addr = VMM_CMDLINE_ADDR;

  /* Everything is known to fit: copy. */
  for (unsigned i = 0; i < elf.phnum; i++)
    {
      struct elf_phdr ph;
      uint8_t *dst;

      elf_phdr_get (&elf, i, &ph);
      if (ph.type != PT_LOAD || ph.memsz == 0)
        continue;
      dst = vmm_mem_ptr (mem, ph.paddr, ph.memsz);
      if (dst == NULL)
        return fail (error, VMM_BOOT_ERROR_NO_ROOM, "ELF segment lies outside guest RAM");
      memcpy (dst, elf.data + ph.offset, ph.filesz);
      memset (dst + ph.filesz, 0, ph.memsz - ph.filesz);
    }
  if ((initrd_size > 0
       && vmm_mem_write (mem, st->initrd_addr, params->initrd, initrd_size) < 0)
      || cmdline_write (mem, params->cmdline, cmd_len) < 0
      || pvh_write_start_info (mem, &ram, params, st) < 0
      || boot_segments (mem, false, st) < 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "low guest RAM is missing");

  st->kind = VMM_BOOT_PVH;
  st->rip = entry;
  st->rbx = VMM_PVH_INFO_ADDR;
  st->rflags = 0x2;
  st->cr0 = 0x11;      /* PE | ET; paging off */
  st->cr3 = 0;
  st->cr4 = 0;
  st->efer = 0;
  return TRUE;
}

/* ---- bzImage --------------------------------------------------------------- */

/* Setup header fields, at the same offsets in the file and the zero page. */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_SYSSIZE          0x1f4
#define HDR_VID_MODE         0x1fa
#define HDR_BOOT_FLAG        0x1fe
#define HDR_JUMP             0x200
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_MIN_ALIGNMENT    0x235
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_HARDWARE_SUBARCH 0x23c
#define HDR_SETUP_DATA       0x250
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260
/* Protocol 2.12 defines the header up to handover_offset, ending here. */
#define HDR_END_2_12         0x268
/* Room struct boot_params leaves for the header before edd_mbr_sig_buffer */
#define HDR_ROOM_END         0x290

/* Zero page fields outside the setup header */
#define ZP_ACPI_RSDP_ADDR     0x070
#define ZP_EXT_RAMDISK_IMAGE  0x0c0
#define ZP_EXT_RAMDISK_SIZE   0x0c4
#define ZP_EXT_CMD_LINE_PTR   0x0c8
#define ZP_E820_ENTRIES       0x1e8
#define ZP_E820_TABLE         0x2d0
#define ZP_E820_MAX           128
#define ZP_SIZE               0x1000

#define BOOT_FLAG_MAGIC       0xaa55
#define LOADED_HIGH           0x01
#define CAN_USE_HEAP          0x80
#define XLF_KERNEL_64         0x0001

_Static_assert (ZP_E820_TABLE + ZP_E820_MAX * 20 <= ZP_SIZE, "e820 table inside the zero page");
_Static_assert (VMM_E820_MAX <= ZP_E820_MAX, "our e820 map fits the zero page's");
_Static_assert (sizeof (struct vmm_e820_entry) == 20, "e820 entries are 20 bytes");

static bool
bzimage_magic (const uint8_t *d, size_t size)
{
  return size >= HDR_MAGIC + 4
         && viv_get_le16 (d + HDR_BOOT_FLAG) == BOOT_FLAG_MAGIC
         && memcmp (d + HDR_MAGIC, "HdrS", 4) == 0;
}

gboolean
vmm_bzimage_parse (const void *image, size_t size, struct vmm_bzimage_info *info,
                   GError **error)
{
  const uint8_t *d = image;
  size_t hdr_end;
  unsigned sects;

  memset (info, 0, sizeof *info);
  if (d == NULL || size < HDR_VERSION + 2)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "file is too small to be a bzImage");
  if (viv_get_le16 (d + HDR_BOOT_FLAG) != BOOT_FLAG_MAGIC)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "not a bzImage: no boot flag 0xAA55 at 0x1FE");
  if (memcmp (d + HDR_MAGIC, "HdrS", 4) != 0)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "not a bzImage: no \"HdrS\" setup header");

  info->version = viv_get_le16 (d + HDR_VERSION);
  if (info->version < 0x020c)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
                 "bzImage boot protocol is older than 2.12; the kernel cannot be "
                 "entered in 64-bit mode");

  /* The jump at 0x200 skips the header, so its target says where it ends. */
  hdr_end = HDR_MAGIC + (size_t) d[HDR_JUMP + 1];
  if (hdr_end < HDR_END_2_12)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
                 "bzImage setup header is shorter than its protocol says");
  if (size < hdr_end)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage is truncated inside its setup header");

  sects = d[HDR_SETUP_SECTS];
  if (sects == 0)
    sects = 4;           /* what the protocol says 0 means */
  info->setup_sects = (uint8_t) sects;
  info->setup_size = ((size_t) sects + 1) * 512;
  if (size < info->setup_size)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage is truncated inside its setup code");
  if (size == info->setup_size)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage has no protected-mode kernel");
  info->payload_offset = info->setup_size;
  info->payload_size = size - info->setup_size;

  info->loadflags = d[HDR_LOADFLAGS];
  info->xloadflags = viv_get_le16 (d + HDR_XLOADFLAGS);
  info->syssize = viv_get_le32 (d + HDR_SYSSIZE);
  info->initrd_addr_max = viv_get_le32 (d + HDR_INITRD_ADDR_MAX);
  info->kernel_alignment = viv_get_le32 (d + HDR_KERNEL_ALIGNMENT);
  info->relocatable_kernel = d[HDR_RELOCATABLE];
  info->min_alignment = d[HDR_MIN_ALIGNMENT];
  info->cmdline_size = viv_get_le32 (d + HDR_CMDLINE_SIZE);
  info->pref_address = viv_get_le64 (d + HDR_PREF_ADDRESS);
  info->init_size = viv_get_le32 (d + HDR_INIT_SIZE);

  if (!(info->xloadflags & XLF_KERNEL_64))
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
                 "bzImage has no 64-bit entry point (XLF_KERNEL_64)");
  if (!(info->loadflags & LOADED_HIGH))
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage is not loaded high (a zImage)");
  if (info->relocatable_kernel
      && (info->kernel_alignment == 0
          || (info->kernel_alignment & (info->kernel_alignment - 1)) != 0))
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
                 "bzImage kernel_alignment is not a power of two");
  return TRUE;
}

/* ---- a bzImage the firmware loads ----------------------------------------- */

#define LOADER_TYPE_QEMU 0xb0      /* what QEMU's -kernel writes: "other" with version 0 */

gboolean
vmm_fw_kernel_prepare (const struct vmm_boot_params *params, uint64_t low_end,
                       struct vmm_fw_kernel *out, GError **error)
{
  const uint8_t *d = params->kernel;
  size_t size = params->kernel_size, setup_size, cmd_len;
  uint16_t version;
  uint32_t max_cmdline = 255, initrd_max = 0x37ffffff;
  uint64_t top;

  memset (out, 0, sizeof *out);
  if (d == NULL || size < HDR_VERSION + 2 || !bzimage_magic (d, size))
    {
      if (d != NULL && size >= 4 && memcmp (d, "\177ELF", 4) == 0)
        return fail (error, VMM_BOOT_ERROR_NOT_KERNEL,
                     "an ELF kernel boots without firmware only; through a firmware, a "
                     "bzImage does");
      return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "not a bzImage: no \"HdrS\" setup header");
    }
  /* the whole setup code is there before any header field past the
   * version is read (it holds the header) */
  setup_size = ((size_t) (d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4) + 1) * 512;
  if (setup_size < HDR_ROOM_END || size <= setup_size)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage is truncated inside its setup code");
  version = viv_get_le16 (d + HDR_VERSION);
  /* 2.02 put the command line anywhere, and the real-mode code at 0x10000 */
  if (version < 0x0202)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage boot protocol is older than 2.02");
  if (!(d[HDR_LOADFLAGS] & LOADED_HIGH))
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage is not loaded high (a zImage)");
  /* the setup code, its heap and stack stay below the command line */
  if (setup_size > VMM_FW_KERNEL_CMDLINE_ADDR - VMM_FW_KERNEL_SETUP_ADDR)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "bzImage setup code is larger than 64 KiB");

  if (version >= 0x0203)
    initrd_max = viv_get_le32 (d + HDR_INITRD_ADDR_MAX);
  if (version >= 0x0206)
    max_cmdline = viv_get_le32 (d + HDR_CMDLINE_SIZE);
  if (!cmdline_len (params->cmdline, MIN (max_cmdline, 0xffffu), &cmd_len, error))
    return FALSE;

  top = low_end > VMM_FW_KERNEL_RESERVED_TOP ? low_end - VMM_FW_KERNEL_RESERVED_TOP : 0;
  if (top > (uint64_t) initrd_max + 1)
    top = (uint64_t) initrd_max + 1;
  if (top < VMM_FW_KERNEL_ADDR || size - setup_size > top - VMM_FW_KERNEL_ADDR)
    return fail (error, VMM_BOOT_ERROR_NO_ROOM, "kernel does not fit in guest RAM");
  if (params->initrd != NULL && params->initrd_size > 0)
    {
      uint64_t kernel_end = VMM_FW_KERNEL_ADDR + (size - setup_size);
      uint64_t addr;

      if (params->initrd_size > top - kernel_end)
        return fail (error, VMM_BOOT_ERROR_NO_ROOM,
                     "initrd does not fit in guest RAM below the kernel's initrd_addr_max");
      addr = (top - params->initrd_size) & ~(PAGE_SIZE_4K - 1);
      if (addr < kernel_end)
        return fail (error, VMM_BOOT_ERROR_NO_ROOM,
                     "initrd does not fit in guest RAM below the kernel's initrd_addr_max");
      out->initrd_addr = (uint32_t) addr;
    }

  out->setup = g_memdup2 (d, setup_size);
  out->setup_size = setup_size;
  out->kernel = d + setup_size;
  out->kernel_size = size - setup_size;
  out->cmdline_size = cmd_len + 1;
  out->cmdline = g_malloc0 (out->cmdline_size);
  if (cmd_len > 0)
    memcpy (out->cmdline, params->cmdline, cmd_len);

  out->setup[HDR_TYPE_OF_LOADER] = LOADER_TYPE_QEMU;
  /* the setup code may use the heap up to the command line */
  out->setup[HDR_LOADFLAGS] |= CAN_USE_HEAP;
  viv_put_le16 (out->setup + HDR_HEAP_END_PTR,
                VMM_FW_KERNEL_CMDLINE_ADDR - VMM_FW_KERNEL_SETUP_ADDR - 0x200);
  viv_put_le32 (out->setup + HDR_CMD_LINE_PTR, VMM_FW_KERNEL_CMDLINE_ADDR);
  viv_put_le32 (out->setup + HDR_RAMDISK_IMAGE, out->initrd_addr);
  viv_put_le32 (out->setup + HDR_RAMDISK_SIZE,
                out->initrd_addr != 0 ? (uint32_t) params->initrd_size : 0);
  return TRUE;
}

void
vmm_fw_kernel_clear (struct vmm_fw_kernel *fk)
{
  g_free (fk->setup);
  g_free (fk->cmdline);
  memset (fk, 0, sizeof *fk);
}

/* Where the kernel goes: its preferred address when it fits, or for a
 * relocatable kernel, the first aligned address from 1 MiB. */
static gboolean
bzimage_load_addr (const struct vmm_bzimage_info *info, uint64_t need, uint64_t low_end,
                   uint64_t *load, GError **error)
{
  uint64_t pref = info->pref_address;
  bool pref_fits = pref >= VMM_HIMEM_START && pref <= low_end && need <= low_end - pref;

  if (!info->relocatable_kernel)
    {
      if (!pref_fits)
        return fail (error, VMM_BOOT_ERROR_NO_ROOM,
                     "kernel does not fit in guest RAM at its fixed load address");
      *load = pref;
      return TRUE;
    }
  if (pref_fits && (pref & (info->kernel_alignment - 1)) == 0)
    {
      *load = pref;
      return TRUE;
    }
  pref = align_up (VMM_HIMEM_START, info->kernel_alignment);
  if (pref > low_end || need > low_end - pref)
    return fail (error, VMM_BOOT_ERROR_NO_ROOM, "kernel (its init_size) does not fit in guest RAM");
  *load = pref;
  return TRUE;
}

/* Identity map of the first 4 GiB in 2 MiB pages: PML4 -> one PDPT -> four
 * PDs. The kernel's 64-bit entry needs paging on and itself mapped. */
static int
bzimage_page_tables (const struct vmm_mem *mem)
{
  uint8_t *pml4 = vmm_mem_ptr (mem, VMM_PML4_ADDR, PAGE_SIZE_4K);
  uint8_t *pdpt = vmm_mem_ptr (mem, VMM_PDPT_ADDR, PAGE_SIZE_4K);
  uint8_t *pd = vmm_mem_ptr (mem, VMM_PD_ADDR, 4 * PAGE_SIZE_4K);
  const uint64_t present_rw = 0x3, huge = 0x80;

  if (pml4 == NULL || pdpt == NULL || pd == NULL)
    return -EFAULT;
  memset (pml4, 0, PAGE_SIZE_4K);
  memset (pdpt, 0, PAGE_SIZE_4K);
  viv_put_le64 (pml4, VMM_PDPT_ADDR | present_rw);
  for (unsigned i = 0; i < 4; i++)
    viv_put_le64 (pdpt + i * 8, (VMM_PD_ADDR + i * PAGE_SIZE_4K) | present_rw);
  for (uint64_t i = 0; i < 4 * 512; i++)
    viv_put_le64 (pd + i * 8, (i << 21) | present_rw | huge);
  return 0;
}

static gboolean
load_bzimage (const struct vmm_mem *mem, const struct vmm_boot_params *params,
              struct vmm_boot_state *st, GError **error)
{
  const uint8_t *d = params->kernel;
  struct vmm_bzimage_info info;
  struct boot_ram ram;
  uint8_t zp[ZP_SIZE];
  uint64_t load, need, initrd_size = 0;
  size_t cmd_len, hdr_end;

  if (!vmm_bzimage_parse (params->kernel, params->kernel_size, &info, error)
      || !boot_ram_get (mem, &ram, error)
      || !cmdline_len (params->cmdline, info.cmdline_size, &cmd_len, error))
    return FALSE;

  /* The kernel decompresses in place over [load, load + init_size). */
  need = info.init_size > info.payload_size ? info.init_size : info.payload_size;
  if (!bzimage_load_addr (&info, need, ram.low_end, &load, error))
    return FALSE;
  st->kernel_load_addr = load;
  st->kernel_end = load + need;

  if (params->initrd != NULL && params->initrd_size > 0)
    {
      /* initrd_addr_max is the last byte the initrd may occupy. */
      uint64_t limit = (uint64_t) info.initrd_addr_max + 1;

      if (limit > ram.low_end)
        limit = ram.low_end;
      initrd_size = params->initrd_size;
      if (!initrd_place (initrd_size, st->kernel_end, limit, &st->initrd_addr, error))
        return FALSE;
      st->initrd_size = initrd_size;
    }
  st->cmdline_addr = VMM_CMDLINE_ADDR;

  /* The zero page: the kernel's own setup header, then what we tell it. */
  memset (zp, 0, sizeof zp);
  hdr_end = HDR_MAGIC + (size_t) d[HDR_JUMP + 1];
  if (hdr_end > HDR_ROOM_END)
    hdr_end = HDR_ROOM_END;
  memcpy (zp + HDR_START, d + HDR_START, hdr_end - HDR_START);

  viv_put_le16 (zp + HDR_VID_MODE, 0xffff);              /* "normal" */
  zp[HDR_TYPE_OF_LOADER] = 0xff;                 /* undefined loader */
  zp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
  viv_put_le16 (zp + HDR_HEAP_END_PTR, 0xfe00);
  /* Only we may hand the kernel setup_data; the file's value means nothing. */
  viv_put_le64 (zp + HDR_SETUP_DATA, 0);
  viv_put_le32 (zp + HDR_HARDWARE_SUBARCH, 0);           /* a PC */
  viv_put_le32 (zp + HDR_CMD_LINE_PTR, (uint32_t) VMM_CMDLINE_ADDR);
  viv_put_le32 (zp + ZP_EXT_CMD_LINE_PTR, (uint32_t) (VMM_CMDLINE_ADDR >> 32));
  viv_put_le32 (zp + HDR_RAMDISK_IMAGE, (uint32_t) st->initrd_addr);
  viv_put_le32 (zp + HDR_RAMDISK_SIZE, (uint32_t) st->initrd_size);
  viv_put_le32 (zp + ZP_EXT_RAMDISK_IMAGE, (uint32_t) (st->initrd_addr >> 32));
  viv_put_le32 (zp + ZP_EXT_RAMDISK_SIZE, (uint32_t) (st->initrd_size >> 32));
  viv_put_le64 (zp + ZP_ACPI_RSDP_ADDR, params->rsdp_gpa);
  zp[ZP_E820_ENTRIES] = (uint8_t) ram.n_e820;
  for (unsigned i = 0; i < ram.n_e820; i++)
    {
      uint8_t *e = zp + ZP_E820_TABLE + i * 20;

      viv_put_le64 (e + 0, ram.e820[i].addr);
      viv_put_le64 (e + 8, ram.e820[i].size);
      viv_put_le32 (e + 16, ram.e820[i].type);
    }

  if (vmm_mem_write (mem, load, d + info.payload_offset, info.payload_size) < 0
      || (initrd_size > 0
          && vmm_mem_write (mem, st->initrd_addr, params->initrd, initrd_size) < 0)
      || cmdline_write (mem, params->cmdline, cmd_len) < 0
      || vmm_mem_write (mem, VMM_ZERO_PAGE_ADDR, zp, sizeof zp) < 0
      || bzimage_page_tables (mem) < 0
      || boot_segments (mem, true, st) < 0)
    return fail (error, VMM_BOOT_ERROR_INVALID, "low guest RAM is missing");

  st->kind = VMM_BOOT_BZIMAGE;
  st->rip = load + 0x200;        /* the 64-bit entry point */
  st->rsi = VMM_ZERO_PAGE_ADDR;
  st->rsp = VMM_BOOT_STACK_TOP;
  st->rflags = 0x2;
  st->cr0 = 0x80000011;          /* PG | ET | PE */
  st->cr3 = VMM_PML4_ADDR;
  st->cr4 = 0x20;                /* PAE */
  st->efer = 0x500;              /* LMA | LME */
  return TRUE;
}

/* ---- entry points ---------------------------------------------------------- */

#define NOT_A_KERNEL "not a kernel: neither a bzImage nor an ELF file"

gboolean
vmm_boot_detect (const void *kernel, size_t size, enum vmm_boot_kind *kind, GError **error)
{
  if (kernel == NULL)
    return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "no kernel");

  if (elf_magic (kernel, size))
    {
      g_autoptr(GError) local = NULL;
      struct elf_image elf;
      uint64_t entry;

      /* An ELF file we cannot boot is not a kernel, whatever is wrong with it. */
      if (!elf_open (kernel, size, &elf, &local) || !elf_pvh_entry (&elf, &entry, &local))
        return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, local->message);
      *kind = VMM_BOOT_PVH;
      return TRUE;
    }
  if (bzimage_magic (kernel, size))
    {
      *kind = VMM_BOOT_BZIMAGE;
      return TRUE;
    }
  return fail (error, VMM_BOOT_ERROR_NOT_KERNEL, NOT_A_KERNEL);
}

gboolean
vmm_boot_load (const struct vmm_mem *mem, const struct vmm_boot_params *params,
               struct vmm_boot_state *state, GError **error)
{
  gboolean ok;

  memset (state, 0, sizeof *state);
  if (params->kernel == NULL)
    ok = fail (error, VMM_BOOT_ERROR_NOT_KERNEL, "no kernel");
  else if (elf_magic (params->kernel, params->kernel_size))
    ok = load_pvh (mem, params, state, error);
  else if (bzimage_magic (params->kernel, params->kernel_size))
    ok = load_bzimage (mem, params, state, error);
  else
    ok = fail (error, VMM_BOOT_ERROR_NOT_KERNEL, NOT_A_KERNEL);
  /* A half-filled state must not look like a bootable one. */
  if (!ok)
    memset (state, 0, sizeof *state);
  return ok;
}
