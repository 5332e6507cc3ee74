/* test-boot.c: e820 map, bzImage and PVH ELF loading
 *
 * The bzImage tests use a real Debian kernel from /boot (the set-up script
 * installs linux-image-cloud-amd64); the PVH tests build small ELF images
 * here. Every malformed image must give a clean negative return: run this
 * under ASan/UBSan to make "never reads past the buffer" a checked claim.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "viv-bytes.h"
#include "vmm-test.h"

/* ---- helpers --------------------------------------------------------------- */

static gboolean
state_is_zero (const struct vmm_boot_state *st)
{
  static const struct vmm_boot_state zero;

  return memcmp (st, &zero, sizeof zero) == 0;
}

/* Checks the GDT descriptor SEG->selector indexes against the hidden parts
 * the boot state gives for it. */
static void
check_gdt_entry (const struct vmm_mem *mem, const struct vmm_boot_state *st,
                 const struct vmm_boot_segment *seg, gboolean system16)
{
  guint64 d, base;
  guint32 limit;
  guint gran;

  g_assert_cmpuint (seg->selector + (system16 ? 15 : 7), <=, st->gdt_limit);
  g_assert_cmpuint (st->gdt_base + st->gdt_limit, <, mem->ram_size);
  d = vmm_test_get64 (mem, st->gdt_base + seg->selector);
  base = ((d >> 16) & 0xffffff) | ((d >> 56) & 0xff) << 24;
  limit = (guint32) ((d & 0xffff) | ((d >> 32) & 0xf0000));
  gran = (d >> 55) & 1;
  if (gran)
    limit = (limit << 12) | 0xfff;

  g_assert_cmpuint (base, ==, seg->base);
  g_assert_cmpuint (limit, ==, seg->limit);
  g_assert_cmpuint ((d >> 40) & 0xf, ==, seg->type);
  g_assert_cmpuint ((d >> 44) & 1, ==, seg->s);
  g_assert_cmpuint ((d >> 45) & 3, ==, seg->dpl);
  g_assert_cmpuint ((d >> 47) & 1, ==, seg->present);
  g_assert_cmpuint ((d >> 53) & 1, ==, seg->l);
  g_assert_cmpuint ((d >> 54) & 1, ==, seg->db);
  g_assert_cmpuint (gran, ==, seg->g);
  if (system16)
    g_assert_cmpuint (vmm_test_get64 (mem, st->gdt_base + seg->selector + 8), ==, 0);
}

static void
check_flat (const struct vmm_boot_segment *s, guint16 selector, guint8 type)
{
  g_assert_cmpuint (s->selector, ==, selector);
  g_assert_cmpuint (s->base, ==, 0);
  g_assert_cmpuint (s->limit, ==, 0xffffffff);
  g_assert_cmpuint (s->type, ==, type);
  g_assert_cmpuint (s->present, ==, 1);
  g_assert_cmpuint (s->s, ==, 1);
  g_assert_cmpuint (s->dpl, ==, 0);
  g_assert_cmpuint (s->g, ==, 1);
}

static void
check_segments (const struct vmm_mem *mem, const struct vmm_boot_state *st, gboolean long_mode)
{
  const struct vmm_boot_segment *data[] = { &st->ds, &st->es, &st->fs, &st->gs, &st->ss };

  check_flat (&st->cs, 0x10, 0xb);
  g_assert_cmpuint (st->cs.l, ==, long_mode ? 1 : 0);
  g_assert_cmpuint (st->cs.db, ==, long_mode ? 0 : 1);
  check_gdt_entry (mem, st, &st->cs, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (data); i++)
    {
      check_flat (data[i], 0x18, 0x3);
      g_assert_cmpuint (data[i]->db, ==, 1);
      check_gdt_entry (mem, st, data[i], FALSE);
    }

  g_assert_cmpuint (st->tr.selector, ==, 0x20);
  g_assert_cmpuint (st->tr.base, ==, VMM_BOOT_TSS_ADDR);
  g_assert_cmpuint (st->tr.limit, ==, VMM_BOOT_TSS_LIMIT);
  g_assert_cmpuint (st->tr.type, ==, 11);
  g_assert_cmpuint (st->tr.present, ==, 1);
  g_assert_cmpuint (st->tr.s, ==, 0);
  check_gdt_entry (mem, st, &st->tr, long_mode);
  g_assert_cmpuint (st->ldt.present, ==, 0);

  /* The two null descriptors */
  g_assert_cmpuint (vmm_test_get64 (mem, st->gdt_base), ==, 0);
  g_assert_cmpuint (vmm_test_get64 (mem, st->gdt_base + 8), ==, 0);
  g_assert_cmpuint (st->gdt_base, ==, VMM_BOOT_GDT_ADDR);
  g_assert_cmpuint (st->idt_base, ==, VMM_BOOT_IDT_ADDR);
  g_assert_cmpuint (st->idt_limit, ==, 0);
  g_assert_cmpuint (st->rflags, ==, 0x2);
}

/* ---- e820 ------------------------------------------------------------------ */

static void
check_e820 (guint64 ram)
{
  struct vmm_e820_entry e[VMM_E820_MAX];
  guint64 total = 0;
  gboolean ecam = FALSE, high = FALSE, ebda = FALSE, acpi = FALSE;
  int n;

  n = vmm_e820_build (ram, e, VMM_E820_MAX);
  g_assert_cmpint (n, >, 0);
  g_assert_cmpint (n, <=, VMM_E820_MAX);
  g_assert_cmpuint (e[0].addr, ==, 0);
  g_assert_cmpuint (e[0].type, ==, VMM_E820_RAM);

  for (int i = 0; i < n; i++)
    {
      g_assert_cmpuint (e[i].size, >, 0);
      g_assert_cmpuint (e[i].addr + e[i].size, >, e[i].addr);
      if (i > 0)
        g_assert_cmpuint (e[i].addr, >=, e[i - 1].addr + e[i - 1].size);
      if (e[i].type == VMM_E820_RAM)
        {
          guint64 end = e[i].addr + e[i].size;

          total += e[i].size;
          /* No RAM over the EBDA, the legacy hole, ACPI or the PCI hole */
          g_assert_true (end <= VMM_EBDA_START || e[i].addr >= VMM_HIMEM_START);
          g_assert_true (end <= VMM_PCI_HOLE_START || e[i].addr >= VMM_HIGH_RAM_BASE);
        }
      if (e[i].type == VMM_E820_RESERVED && e[i].addr == VMM_PCI_ECAM_BASE
          && e[i].size == VMM_PCI_ECAM_SIZE)
        ecam = TRUE;
      if (e[i].type == VMM_E820_RESERVED && e[i].addr == VMM_EBDA_START
          && e[i].addr + e[i].size == VMM_LOW_RAM_TOP)
        ebda = TRUE;
      if (e[i].type == VMM_E820_RESERVED && e[i].addr <= VMM_ACPI_BASE
          && e[i].addr + e[i].size >= VMM_ACPI_END)
        acpi = TRUE;
      if (e[i].type == VMM_E820_RAM && e[i].addr >= VMM_HIGH_RAM_BASE)
        {
          g_assert_cmpuint (e[i].addr, ==, VMM_HIGH_RAM_BASE);
          g_assert_cmpuint (e[i].size, ==, ram - VMM_PCI_HOLE_START);
          high = TRUE;
        }
    }
  g_assert_cmpuint (total, ==, ram - (VMM_HIMEM_START - VMM_EBDA_START));
  g_assert_true (ecam);
  g_assert_true (ebda);
  g_assert_true (acpi);
  g_assert_true (high == (ram > VMM_PCI_HOLE_START));

  /* Exactly enough room works; one entry less does not. */
  g_assert_cmpint (vmm_e820_build (ram, e, (unsigned) n), ==, n);
  g_assert_cmpint (vmm_e820_build (ram, e, (unsigned) n - 1), ==, -EINVAL);
}

static void
test_e820_sizes (void)
{
  static const guint64 sizes[] = {
    VMM_MiB (16), VMM_MiB (512), VMM_GiB (3), VMM_GiB (4), VMM_GiB (8),
    VMM_GiB (3) + VMM_MiB (2), VMM_MiB (16) + 4096,
  };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    check_e820 (sizes[i]);
}

static void
test_e820_errors (void)
{
  struct vmm_e820_entry e[VMM_E820_MAX];

  g_assert_cmpint (vmm_e820_build (0, e, VMM_E820_MAX), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (VMM_MIN_RAM - 1, e, VMM_E820_MAX), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (VMM_MiB (512), e, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (VMM_MiB (512), e, 3), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (VMM_GiB (8), e, 5), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (VMM_MiB (512), NULL, VMM_E820_MAX), ==, -EINVAL);
  g_assert_cmpint (vmm_e820_build (G_MAXUINT64, e, VMM_E820_MAX), ==, -EINVAL);
}

/* ---- bzImage --------------------------------------------------------------- */

typedef struct {
  char *path;
  guint8 *data;
  gsize size;
} Kernel;

static void
kernel_read (Kernel *k)
{
  if (!g_file_get_contents (k->path, (char **) &k->data, &k->size, NULL))
    {
      k->data = NULL;
      k->size = 0;
    }
}

/* The newest /boot/vmlinuz-*, a -cloud-amd64 one if there is one */
static void
kernel_find (Kernel *k)
{
  const char *env = g_getenv ("VIVARIUM_TEST_KERNEL");
  g_autoptr(GDir) dir = NULL;
  g_autofree char *best = NULL, *best_key = NULL;
  gboolean best_cloud = FALSE;
  const char *name;

  if (env != NULL)
    {
      k->path = g_strdup (env);
      kernel_read (k);
      return;
    }

  dir = g_dir_open ("/boot", 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *key = NULL;
      gboolean cloud;

      if (!g_str_has_prefix (name, "vmlinuz-"))
        continue;
      cloud = g_str_has_suffix (name, "-cloud-amd64");
      /* The collation key for file names compares version numbers as numbers. */
      key = g_utf8_collate_key_for_filename (name, -1);
      if (best == NULL || (cloud && !best_cloud)
          || (cloud == best_cloud && strcmp (key, best_key) > 0))
        {
          g_free (best);
          g_free (best_key);
          best = g_strdup (name);
          best_key = g_steal_pointer (&key);
          best_cloud = cloud;
        }
    }
  if (best == NULL)
    return;
  k->path = g_build_filename ("/boot", best, NULL);
  kernel_read (k);
}

static gboolean
kernel_or_skip (const Kernel *k)
{
  if (k->data != NULL)
    return TRUE;
  g_printerr ("\n*** test-boot: NO LINUX KERNEL: %s; install the Debian package "
              "linux-image-cloud-amd64 (the set-up script does) to run the bzImage tests ***\n",
              k->path != NULL ? "cannot read it" : "no /boot/vmlinuz-*");
  g_test_skip ("no readable /boot/vmlinuz-*: install linux-image-cloud-amd64");
  return FALSE;
}

static void
test_bzimage_parse (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_bzimage_info info;
  enum vmm_boot_kind kind = VMM_BOOT_PVH;

  if (!kernel_or_skip (k))
    return;
  g_test_message ("kernel: %s", k->path);

  g_assert_true (vmm_bzimage_parse (k->data, k->size, &info, NULL));
  g_assert_cmpuint (info.version, >=, 0x020c);
  g_assert_cmpuint (info.relocatable_kernel, !=, 0);
  g_assert_cmpuint (info.xloadflags & 0x1, !=, 0);
  g_assert_cmpuint (info.loadflags & 0x1, !=, 0);
  g_assert_cmpuint (info.setup_sects, >, 0);
  g_assert_cmpuint (info.setup_size, ==, ((gsize) info.setup_sects + 1) * 512);
  g_assert_cmpuint (info.payload_offset, ==, info.setup_size);
  g_assert_cmpuint (info.payload_offset + info.payload_size, ==, k->size);
  g_assert_cmpuint (info.init_size, >=, info.payload_size);
  g_assert_cmpuint (info.init_size, <, VMM_MiB (512));
  g_assert_cmpuint (info.kernel_alignment, >=, 4096);
  g_assert_cmpuint (info.kernel_alignment & (info.kernel_alignment - 1), ==, 0);
  g_assert_cmpuint (info.pref_address, >=, VMM_HIMEM_START);
  g_assert_cmpuint (info.pref_address % info.kernel_alignment, ==, 0);
  g_assert_cmpuint (info.cmdline_size, >=, 255);
  g_assert_cmpuint (info.initrd_addr_max, >=, VMM_MiB (256) - 1);
  g_assert_cmpuint (info.syssize, >, 0);

  g_assert_true (vmm_boot_detect (k->data, k->size, &kind, NULL));
  g_assert_cmpint (kind, ==, VMM_BOOT_BZIMAGE);
}

static guint64
walk_page_tables (const struct vmm_mem *mem, guint64 cr3, guint64 va)
{
  const guint64 addr = 0x000ffffffffff000ULL;
  guint64 e, table = cr3 & addr;

  g_assert_cmpuint (table + 4096, <=, mem->ram_size);
  e = vmm_test_get64 (mem, table + ((va >> 39) & 511) * 8);
  g_assert_cmpuint (e & 1, ==, 1);
  table = e & addr;
  g_assert_cmpuint (table + 4096, <=, mem->ram_size);
  e = vmm_test_get64 (mem, table + ((va >> 30) & 511) * 8);
  g_assert_cmpuint (e & 0x81, ==, 0x01);
  table = e & addr;
  g_assert_cmpuint (table + 4096, <=, mem->ram_size);
  e = vmm_test_get64 (mem, table + ((va >> 21) & 511) * 8);
  g_assert_cmpuint (e & 0x83, ==, 0x83);   /* present, writable, 2 MiB */
  return (e & 0x000fffffffe00000ULL) + (va & 0x1fffff);
}

static void
test_bzimage_load (gconstpointer data)
{
  const Kernel *k = data;
  const char *cmdline = "console=ttyS0 root=/dev/vda rw quiet";
  struct vmm_test_ram g = { 0 };
  guint8 *ram;
  g_autofree guint8 *initrd = NULL;
  struct vmm_e820_entry e820[VMM_E820_MAX];
  struct vmm_bzimage_info info;
  struct vmm_boot_state st;
  struct vmm_boot_params params;
  const guint8 *zp;
  guint64 load, rd_image, rd_size, cmd_ptr;
  gsize initrd_size = 3 * 4096 + 123;
  int n;

  if (!kernel_or_skip (k))
    return;
  g_assert_true (vmm_bzimage_parse (k->data, k->size, &info, NULL));

  ram = vmm_test_ram_add (&g, 0, VMM_MiB (256));
  initrd = g_malloc (initrd_size);
  for (gsize i = 0; i < initrd_size; i++)
    initrd[i] = (guint8) (i * 13 + 1);
  params = (struct vmm_boot_params) {
    .kernel = k->data, .kernel_size = k->size,
    .initrd = initrd, .initrd_size = initrd_size,
    .cmdline = cmdline, .rsdp_gpa = VMM_ACPI_BASE,
  };
  g_assert_true (vmm_boot_load (&g.mem, &params, &st, NULL));
  g_assert_cmpint (st.kind, ==, VMM_BOOT_BZIMAGE);

  /* The kernel at its preferred address, which a Debian kernel aligns */
  load = st.kernel_load_addr;
  g_assert_cmpuint (load, ==, info.pref_address);
  g_assert_cmpuint (st.kernel_end, ==, load + MAX (info.init_size, info.payload_size));
  g_assert_cmpmem (ram + load, info.payload_size,
                   k->data + info.payload_offset, info.payload_size);

  /* The zero page */
  zp = ram + VMM_ZERO_PAGE_ADDR;
  g_assert_cmpuint (viv_get_le16 (zp + 0x1fe), ==, 0xaa55);
  g_assert_cmpmem (zp + 0x202, 4, "HdrS", 4);
  g_assert_cmpuint (viv_get_le16 (zp + 0x206), ==, info.version);
  g_assert_cmpuint (viv_get_le32 (zp + 0x260), ==, info.init_size);
  g_assert_cmpuint (viv_get_le16 (zp + 0x1fa), ==, 0xffff);
  g_assert_cmpuint (zp[0x210], ==, 0xff);
  g_assert_cmpuint (zp[0x211] & 0x81, ==, 0x81);   /* LOADED_HIGH | CAN_USE_HEAP */
  g_assert_cmpuint (viv_get_le16 (zp + 0x224), ==, 0xfe00);
  g_assert_cmpuint (viv_get_le64 (zp + 0x250), ==, 0);    /* no setup_data */

  cmd_ptr = viv_get_le32 (zp + 0x228) | (guint64) viv_get_le32 (zp + 0xc8) << 32;
  g_assert_cmpuint (cmd_ptr, ==, st.cmdline_addr);
  g_assert_cmpuint (cmd_ptr + strlen (cmdline) + 1, <=, g.mem.ram_size);
  g_assert_cmpstr ((const char *) ram + cmd_ptr, ==, cmdline);

  rd_image = viv_get_le32 (zp + 0x218) | (guint64) viv_get_le32 (zp + 0xc0) << 32;
  rd_size = viv_get_le32 (zp + 0x21c) | (guint64) viv_get_le32 (zp + 0xc4) << 32;
  g_assert_cmpuint (rd_image, ==, st.initrd_addr);
  g_assert_cmpuint (rd_size, ==, initrd_size);
  g_assert_cmpuint (st.initrd_size, ==, initrd_size);
  g_assert_cmpuint (rd_image % 4096, ==, 0);
  g_assert_cmpuint (rd_image, >=, st.kernel_end);
  g_assert_cmpuint (rd_image + rd_size, <=, (guint64) info.initrd_addr_max + 1);
  g_assert_cmpuint (rd_image + rd_size, <=, g.mem.ram_size);
  /* As high as it goes */
  g_assert_cmpuint (rd_image + rd_size + 4096, >, g.mem.ram_size);
  g_assert_cmpmem (ram + rd_image, rd_size, initrd, initrd_size);

  n = vmm_e820_build (g.mem.ram_size, e820, VMM_E820_MAX);
  g_assert_cmpint (n, >, 0);
  g_assert_cmpuint (zp[0x1e8], ==, (guint) n);
  for (int i = 0; i < n; i++)
    {
      const guint8 *e = zp + 0x2d0 + i * 20;

      g_assert_cmpuint (viv_get_le64 (e), ==, e820[i].addr);
      g_assert_cmpuint (viv_get_le64 (e + 8), ==, e820[i].size);
      g_assert_cmpuint (viv_get_le32 (e + 16), ==, e820[i].type);
    }
  g_assert_cmpuint (viv_get_le64 (zp + 0x70), ==, VMM_ACPI_BASE);

  /* Identity-mapped 4 GiB, one probe in every 2 MiB page */
  for (guint64 va = 0x12345; va < VMM_GiB (4); va += VMM_MiB (2))
    g_assert_cmpuint (walk_page_tables (&g.mem, st.cr3, va), ==, va);
  g_assert_cmpuint (walk_page_tables (&g.mem, st.cr3, st.rip), ==, st.rip);
  g_assert_cmpuint (walk_page_tables (&g.mem, st.cr3, 0xffffffff), ==, 0xffffffff);

  /* Registers */
  g_assert_cmpuint (st.rip, ==, load + 0x200);
  g_assert_cmpuint (st.rsi, ==, VMM_ZERO_PAGE_ADDR);
  g_assert_cmpuint (st.rsp, ==, VMM_BOOT_STACK_TOP);
  g_assert_cmpuint (st.cr0 & 0x80000001, ==, 0x80000001);
  g_assert_cmpuint (st.cr3, ==, VMM_PML4_ADDR);
  g_assert_cmpuint (st.cr4 & 0x20, ==, 0x20);
  g_assert_cmpuint (st.efer & 0x500, ==, 0x500);
  check_segments (&g.mem, &st, TRUE);
  vmm_test_ram_free (&g);
}

/* A copy of the kernel's first bytes: the setup area and a slice of the
 * payload is all the header checks read, and copies make ASan exact. */
static guint8 *
kernel_head (const Kernel *k, gsize *size)
{
  struct vmm_bzimage_info info;

  g_assert_true (vmm_bzimage_parse (k->data, k->size, &info, NULL));
  *size = MIN (k->size, info.setup_size + 65536);
  return g_memdup2 (k->data, *size);
}

static gboolean
load_bytes (const struct vmm_mem *mem, const void *kernel, gsize size, const char *cmdline,
            const void *initrd, gsize initrd_size, struct vmm_boot_state *st, GError **error)
{
  struct vmm_boot_params params = {
    .kernel = kernel, .kernel_size = size, .initrd = initrd, .initrd_size = initrd_size,
    .cmdline = cmdline, .rsdp_gpa = VMM_ACPI_BASE,
  };

  return vmm_boot_load (mem, &params, st, error);
}

/* A refusal: a VMM_BOOT_ERROR of CODE (-1: any) that says why. Clears it. */
static void
assert_boot_error (GError **error, int code)
{
  g_assert_nonnull (*error);
  g_assert_true ((*error)->domain == VMM_BOOT_ERROR);
  if (code >= 0)
    g_assert_cmpint ((*error)->code, ==, code);
  g_assert_cmpstr ((*error)->message, !=, "");
  g_clear_error (error);
}

static void
test_bzimage_limits (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_test_ram g = { 0 };
  guint8 *ram;
  g_autofree char *cmdline = NULL;
  g_autofree guint8 *initrd = NULL;
  struct vmm_bzimage_info info;
  struct vmm_boot_state st;
  g_autoptr(GError) error = NULL;
  guint64 need, room, start;

  if (!kernel_or_skip (k))
    return;
  g_assert_true (vmm_bzimage_parse (k->data, k->size, &info, NULL));
  need = MAX (info.init_size, info.payload_size);
  ram = vmm_test_ram_add (&g, 0, VMM_MiB (256));

  /* Command line: cmdline_size characters fit, one more does not. */
  cmdline = g_strnfill (info.cmdline_size, 'x');
  g_assert_true (load_bytes (&g.mem, k->data, k->size, cmdline, NULL, 0, &st, NULL));
  g_assert_cmpstr ((const char *) ram + st.cmdline_addr, ==, cmdline);
  g_free (cmdline);
  cmdline = g_strnfill (info.cmdline_size + 1, 'x');
  g_assert_false (load_bytes (&g.mem, k->data, k->size, cmdline, NULL, 0, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_CMDLINE);
  g_assert_true (state_is_zero (&st));

  /* No command line: an empty one, still pointed at */
  g_assert_true (load_bytes (&g.mem, k->data, k->size, NULL, NULL, 0, &st, NULL));
  g_assert_cmpuint (viv_get_le32 (ram + VMM_ZERO_PAGE_ADDR + 0x228), ==, VMM_CMDLINE_ADDR);
  g_assert_cmpstr ((const char *) ram + VMM_CMDLINE_ADDR, ==, "");
  g_assert_cmpuint (viv_get_le32 (ram + VMM_ZERO_PAGE_ADDR + 0x218), ==, 0);
  g_assert_cmpuint (viv_get_le32 (ram + VMM_ZERO_PAGE_ADDR + 0x21c), ==, 0);

  /* Initrd: exactly the room between the kernel and the top of RAM fits. */
  start = (info.pref_address + need + 4095) & ~4095ULL;
  room = g.mem.ram_size - start;
  initrd = g_malloc0 (room + 1);
  g_assert_true (load_bytes (&g.mem, k->data, k->size, NULL, initrd, room, &st, NULL));
  g_assert_cmpuint (st.initrd_addr, ==, start);
  g_assert_false (load_bytes (&g.mem, k->data, k->size, NULL, initrd, room + 1, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  g_assert_false (load_bytes (&g.mem, k->data, k->size, NULL, initrd, G_MAXSIZE, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  vmm_test_ram_free (&g);

  /* RAM too small for the kernel's init_size, even at the lowest aligned address */
  start = (VMM_HIMEM_START + info.kernel_alignment - 1) & ~((guint64) info.kernel_alignment - 1);
  if (start + need - VMM_MiB (1) < VMM_MIN_RAM)
    {
      g_test_message ("kernel too small for the no-room case");
    }
  else
    {
      ram = vmm_test_ram_add (&g, 0, (start + need - VMM_MiB (1)) & ~(VMM_MiB (1) - 1));
      g_assert_false (load_bytes (&g.mem, k->data, k->size, NULL, NULL, 0, &st, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
      vmm_test_ram_free (&g);

      /* Room from the aligned start but not from pref_address: it moves down. */
      ram = vmm_test_ram_add (&g, 0, (start + need + VMM_MiB (1)) & ~(VMM_MiB (1) - 1));
      if (info.pref_address + need > g.mem.ram_size)
        {
          g_assert_true (load_bytes (&g.mem, k->data, k->size, NULL, NULL, 0, &st, NULL));
          g_assert_cmpuint (st.kernel_load_addr, ==, start);
          g_assert_cmpuint (st.rip, ==, start + 0x200);
          g_assert_cmpmem (ram + start, info.payload_size,
                           k->data + info.payload_offset, info.payload_size);
        }
      vmm_test_ram_free (&g);
    }

  /* RAM that does not start at 0 */
  {
    struct vmm_boot_params params = { .kernel = k->data, .kernel_size = k->size };

    vmm_test_ram_add (&g, VMM_MiB (1), VMM_MiB (16));
    g_assert_false (vmm_boot_load (&g.mem, &params, &st, &error));
    assert_boot_error (&error, -1);
    vmm_test_ram_free (&g);
  }
}

static void
test_bzimage_relocation (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_test_ram g = { 0 };
  guint8 *ram;
  g_autofree guint8 *head = NULL;
  struct vmm_bzimage_info info;
  struct vmm_boot_state st;
  g_autoptr(GError) error = NULL;
  gsize size;

  if (!kernel_or_skip (k))
    return;
  head = kernel_head (k, &size);
  g_assert_true (vmm_bzimage_parse (head, size, &info, NULL));
  ram = vmm_test_ram_add (&g, 0, VMM_MiB (256));

  /* A relocatable kernel whose pref_address is not aligned goes to the
   * first aligned address from 1 MiB. */
  viv_put_le64 (head + 0x258, info.pref_address + 4096);
  g_assert_true (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, NULL));
  g_assert_cmpuint (st.kernel_load_addr, ==,
                    (VMM_HIMEM_START + info.kernel_alignment - 1)
                    & ~((guint64) info.kernel_alignment - 1));
  /* ... and so does one that asks for an address below 1 MiB. */
  viv_put_le64 (head + 0x258, 0x10000);
  g_assert_true (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, NULL));
  g_assert_cmpuint (st.kernel_load_addr, >=, VMM_HIMEM_START);

  /* A kernel that is not relocatable loads only at pref_address. */
  head[0x234] = 0;
  viv_put_le64 (head + 0x258, VMM_MiB (4) + 4096);
  g_assert_true (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, NULL));
  g_assert_cmpuint (st.kernel_load_addr, ==, VMM_MiB (4) + 4096);
  viv_put_le64 (head + 0x258, g.mem.ram_size - 4096);
  g_assert_false (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  viv_put_le64 (head + 0x258, G_MAXUINT64 - 4095);
  g_assert_false (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  viv_put_le64 (head + 0x258, 0x8000);
  g_assert_false (load_bytes (&g.mem, head, size, NULL, NULL, 0, &st, &error));
  assert_boot_error (&error, -1);

  /* initrd_addr_max caps where the initrd goes. */
  head[0x234] = 1;
  viv_put_le64 (head + 0x258, info.pref_address);
  viv_put_le32 (head + 0x22c, VMM_MiB (128) - 1);
  {
    guint8 initrd[100] = { 1, 2, 3 };

    g_assert_true (load_bytes (&g.mem, head, size, NULL, initrd, sizeof initrd, &st, NULL));
    g_assert_cmpuint (st.initrd_addr, ==, (VMM_MiB (128) - sizeof initrd) & ~4095ULL);
    g_assert_cmpmem (ram + st.initrd_addr, sizeof initrd, initrd, sizeof initrd);
    /* Below the kernel's end: no room */
    viv_put_le32 (head + 0x22c, info.pref_address + 4095);
    g_assert_false (load_bytes (&g.mem, head, size, NULL, initrd, sizeof initrd, &st, &error));
    assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  }
  vmm_test_ram_free (&g);
}

static void
test_bzimage_bad_headers (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_test_ram g = { 0 };
  guint8 *ram;
  struct vmm_bzimage_info info;
  struct vmm_boot_state st;
  g_autoptr(GError) error = NULL;
  gsize size, cuts[12];
  guint n_cuts = 0;
  g_autofree guint8 *head = NULL;

  if (!kernel_or_skip (k))
    return;
  head = kernel_head (k, &size);
  g_assert_true (vmm_bzimage_parse (head, size, &info, NULL));
  ram = vmm_test_ram_add (&g, 0, VMM_MiB (128));

  /* Truncated at several points, each cut a fresh allocation of that size */
  cuts[n_cuts++] = 1;
  cuts[n_cuts++] = 0x100;
  cuts[n_cuts++] = 0x1ff;
  cuts[n_cuts++] = 0x204;
  cuts[n_cuts++] = 0x207;
  cuts[n_cuts++] = 0x230;
  cuts[n_cuts++] = 0x202 + (gsize) head[0x201] - 1;
  cuts[n_cuts++] = 0x202 + (gsize) head[0x201];
  cuts[n_cuts++] = info.setup_size - 1;
  cuts[n_cuts++] = info.setup_size;
  for (guint i = 0; i < n_cuts; i++)
    {
      g_autofree guint8 *cut = g_memdup2 (head, cuts[i]);

      g_test_message ("truncated at %#zx", cuts[i]);
      g_assert_false (vmm_bzimage_parse (cut, cuts[i], &info, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      g_assert_false (load_bytes (&g.mem, cut, cuts[i], NULL, NULL, 0, &st, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      g_assert_true (state_is_zero (&st));
    }
  /* One payload byte is enough for the header checks. */
  g_assert_true (vmm_bzimage_parse (head, info.setup_size + 1, &info, NULL));

  /* Patched copies of the real header */
  for (guint c = 0; c < 8; c++)
    {
      g_autofree guint8 *bad = g_memdup2 (head, size);

      switch (c)
        {
        case 0: bad[0x1fe] = 0x55; bad[0x1ff] = 0xab; break;        /* boot_flag */
        case 1: memcpy (bad + 0x202, "HdrT", 4); break;             /* magic */
        case 2: viv_put_le16 (bad + 0x206, 0x020b); break;          /* protocol 2.11 */
        case 3: viv_put_le16 (bad + 0x206, 0x0100); break;
        case 4: bad[0x236] &= (guint8) ~1; break;                   /* no XLF_KERNEL_64 */
        case 5: bad[0x211] &= (guint8) ~1; break;                   /* not LOADED_HIGH */
        case 6: viv_put_le32 (bad + 0x230, 0x300000); break;        /* alignment not 2^n */
        case 7: bad[0x201] = 0x10; break;                           /* header too short */
        default: g_assert_not_reached ();
        }
      g_test_message ("bad header %u", c);
      g_assert_false (vmm_bzimage_parse (bad, size, &info, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      g_assert_false (load_bytes (&g.mem, bad, size, "x", NULL, 0, &st, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
    }

  /* setup_sects 0 means 4. */
  {
    g_autofree guint8 *four = g_memdup2 (head, size);

    four[0x1f1] = 0;
    g_assert_true (vmm_bzimage_parse (four, size, &info, NULL));
    g_assert_cmpuint (info.setup_size, ==, 5 * 512);
    g_assert_cmpuint (info.payload_size, ==, size - 5 * 512);
  }

  /* A header that claims to run past the zero page's room is clamped. */
  {
    g_autofree guint8 *longhdr = g_memdup2 (head, size);

    longhdr[0x201] = 0xff;
    g_assert_true (load_bytes (&g.mem, longhdr, size, NULL, NULL, 0, &st, NULL));
    g_assert_cmpuint (ram[VMM_ZERO_PAGE_ADDR + 0x1e8], >, 0);
  }
  vmm_test_ram_free (&g);
}

/* Random damage to the setup header never crashes the loader. */
static void
test_bzimage_mutations (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_test_ram g = { 0 };
  g_autofree guint8 *head = NULL;
  gsize size;
  guint ok = 0;

  if (!kernel_or_skip (k))
    return;
  head = kernel_head (k, &size);
  vmm_test_ram_add (&g, 0, VMM_MiB (128));

  for (guint iter = 0; iter < 400; iter++)
    {
      g_autofree guint8 *m = g_memdup2 (head, size);
      struct vmm_boot_state st;
      struct vmm_bzimage_info info;
      g_autoptr(GError) error = NULL;
      guint flips = (guint) g_test_rand_int_range (1, 6);
      gsize cut = size;

      for (guint f = 0; f < flips; f++)
        m[g_test_rand_int_range (0x1f1, 0x270)] = (guint8) g_test_rand_int ();
      if (g_test_rand_bit ())
        cut = (gsize) g_test_rand_int_range (0, (gint32) size + 1);

      (void) vmm_bzimage_parse (m, cut, &info, NULL);
      if (load_bytes (&g.mem, m, cut, "console=ttyS0", "initrd", 6, &st, &error))
        {
          ok++;
          g_assert_cmpuint (st.kernel_end, <=, g.mem.ram_size);
          g_assert_cmpuint (st.kernel_load_addr, >=, VMM_HIMEM_START);
          g_assert_cmpuint (st.initrd_addr, >=, st.kernel_end);
        }
      else
        assert_boot_error (&error, -1);
    }
  g_test_message ("%u of 400 mutated images still loaded", ok);
  vmm_test_ram_free (&g);
}

/* ---- PVH ELF --------------------------------------------------------------- */

enum { PH_TYPE, PH_OFFSET, PH_PADDR, PH_FILESZ, PH_MEMSZ, PH_ALIGN };
enum { EH_MACHINE, EH_PHOFF, EH_SHOFF, EH_PHENTSIZE, EH_PHNUM, EH_SHENTSIZE, EH_SHNUM };

typedef struct {
  gboolean is64;
  guint64 paddr;
  gsize code_size;
  gsize bss_size;
  guint64 entry;
  guint desc_size;           /* 4 or 8 */
  gboolean note;             /* a PT_NOTE with the Xen notes */
  gboolean note_section;     /* the notes as an SHT_NOTE section only */
} ElfSpec;

typedef struct {
  gboolean is64;
  guint8 *data;
  gsize size;
  gsize phoff;
  gsize notes_off, notes_size;
  gsize xen_note_off;        /* the PHYS32_ENTRY note */
  gsize code_off;
} Elf;

#define ELF_NOTES_OFF 0x100
#define ELF_SHDRS_OFF 0x180
#define ELF_CODE_OFF  0x200

static void
eh_set (Elf *e, guint field, guint64 v)
{
  /* { offset in ELF64, width, offset in ELF32, width } */
  static const guint8 f[][4] = {
    [EH_MACHINE] = { 18, 2, 18, 2 },
    [EH_PHOFF] = { 32, 8, 28, 4 },
    [EH_SHOFF] = { 40, 8, 32, 4 },
    [EH_PHENTSIZE] = { 54, 2, 42, 2 },
    [EH_PHNUM] = { 56, 2, 44, 2 },
    [EH_SHENTSIZE] = { 58, 2, 46, 2 },
    [EH_SHNUM] = { 60, 2, 48, 2 },
  };
  const guint8 *x = f[field] + (e->is64 ? 0 : 2);

  viv_put_le (e->data + x[0], v, x[1]);
}

static void
ph_set (Elf *e, guint i, guint field, guint64 v)
{
  static const guint8 f[][4] = {
    [PH_TYPE] = { 0, 4, 0, 4 },
    [PH_OFFSET] = { 8, 8, 4, 4 },
    [PH_PADDR] = { 24, 8, 12, 4 },
    [PH_FILESZ] = { 32, 8, 16, 4 },
    [PH_MEMSZ] = { 40, 8, 20, 4 },
    [PH_ALIGN] = { 48, 8, 28, 4 },
  };
  const guint8 *x = f[field] + (e->is64 ? 0 : 2);

  viv_put_le (e->data + e->phoff + i * (e->is64 ? 56 : 32) + x[0], v, x[1]);
}

static gsize
put_note (guint8 *p, const char *name, guint32 type, const void *desc, guint32 descsz)
{
  guint32 namesz = (guint32) strlen (name) + 1;
  gsize len = 12;

  viv_put_le32 (p, namesz);
  viv_put_le32 (p + 4, descsz);
  viv_put_le32 (p + 8, type);
  memcpy (p + len, name, namesz);
  len += (namesz + 3) & ~3u;
  memcpy (p + len, desc, descsz);
  len += (descsz + 3) & ~3u;
  return len;
}

static Elf
elf_build (const ElfSpec *s)
{
  static const guint8 build_id[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
  Elf e = { .is64 = s->is64 };
  guint8 entry[8];
  gsize n = 0;

  e.size = ELF_CODE_OFF + s->code_size;
  e.data = g_malloc0 (e.size);
  e.phoff = s->is64 ? 64 : 52;
  e.code_off = ELF_CODE_OFF;

  memcpy (e.data, "\177ELF", 4);
  e.data[4] = s->is64 ? 2 : 1;
  e.data[5] = 1;                            /* little-endian */
  e.data[6] = 1;                            /* EV_CURRENT */
  viv_put_le16 (e.data + 16, 2);            /* ET_EXEC */
  viv_put_le32 (e.data + 20, 1);
  viv_put_le16 (e.data + (s->is64 ? 52 : 40), s->is64 ? 64 : 52); /* e_ehsize */
  eh_set (&e, EH_MACHINE, s->is64 ? 62 : 3);
  eh_set (&e, EH_PHOFF, e.phoff);
  eh_set (&e, EH_PHENTSIZE, s->is64 ? 56 : 32);
  eh_set (&e, EH_PHNUM, s->note ? 2 : 1);

  /* A build-id note and a Xen note of another type come first, so the scan
   * has to look past them. */
  e.notes_off = ELF_NOTES_OFF;
  n += put_note (e.data + e.notes_off + n, "GNU", 3, build_id, sizeof build_id);
  n += put_note (e.data + e.notes_off + n, "Xen", 1, build_id, 8);
  e.xen_note_off = e.notes_off + n;
  viv_put_le64 (entry, s->entry);
  n += put_note (e.data + e.notes_off + n, "Xen", 18, entry, s->desc_size);
  e.notes_size = n;
  g_assert_cmpuint (e.notes_off + n, <=, ELF_SHDRS_OFF);

  ph_set (&e, 0, PH_TYPE, 1);               /* PT_LOAD */
  ph_set (&e, 0, PH_OFFSET, ELF_CODE_OFF);
  ph_set (&e, 0, PH_PADDR, s->paddr);
  ph_set (&e, 0, PH_FILESZ, s->code_size);
  ph_set (&e, 0, PH_MEMSZ, s->code_size + s->bss_size);
  ph_set (&e, 0, PH_ALIGN, 4096);
  if (s->note)
    {
      ph_set (&e, 1, PH_TYPE, 4);           /* PT_NOTE */
      ph_set (&e, 1, PH_OFFSET, e.notes_off);
      ph_set (&e, 1, PH_FILESZ, e.notes_size);
      ph_set (&e, 1, PH_ALIGN, 4);
    }
  if (s->note_section)
    {
      guint8 *sh = e.data + ELF_SHDRS_OFF + (s->is64 ? 64 : 40);   /* after the null one */

      eh_set (&e, EH_SHOFF, ELF_SHDRS_OFF);
      eh_set (&e, EH_SHENTSIZE, s->is64 ? 64 : 40);
      eh_set (&e, EH_SHNUM, 2);
      viv_put_le32 (sh + 4, 7);             /* SHT_NOTE */
      if (s->is64)
        {
          viv_put_le64 (sh + 24, e.notes_off);
          viv_put_le64 (sh + 32, e.notes_size);
          viv_put_le64 (sh + 48, 4);
        }
      else
        {
          viv_put_le32 (sh + 16, e.notes_off);
          viv_put_le32 (sh + 20, e.notes_size);
          viv_put_le32 (sh + 32, 4);
        }
    }

  for (gsize i = 0; i < s->code_size; i++)
    e.data[ELF_CODE_OFF + i] = (guint8) (i * 7 + 3);
  return e;
}

static ElfSpec
elf_spec_default (gboolean is64)
{
  return (ElfSpec) {
    .is64 = is64, .paddr = VMM_MiB (1), .code_size = 0x100, .bss_size = 0x2345,
    .entry = VMM_MiB (1) + 0x10, .desc_size = is64 ? 8 : 4, .note = TRUE,
  };
}

static void
check_pvh_load (const ElfSpec *spec, gboolean with_initrd, const char *cmdline)
{
  struct vmm_test_ram g = { 0 };
  guint8 *ram = vmm_test_ram_add (&g, 0, VMM_MiB (64));
  Elf e = elf_build (spec);
  g_autofree guint8 *elf_data = e.data;
  static const guint8 initrd[5000] = { 0x1f, 0x8b, 0x08, [4999] = 0x42 };
  struct vmm_e820_entry e820[VMM_E820_MAX];
  enum vmm_boot_kind kind = VMM_BOOT_BZIMAGE;
  struct vmm_boot_state st;
  const guint8 *si, *mod, *map;
  guint64 memmap, modlist, cmd;
  int n;

  g_assert_true (vmm_boot_detect (e.data, e.size, &kind, NULL));
  g_assert_cmpint (kind, ==, VMM_BOOT_PVH);

  /* Dirt where the bss goes, to see it zeroed */
  memset (ram + spec->paddr, 0xaa, spec->code_size + spec->bss_size + 64);
  g_assert_true (load_bytes (&g.mem, e.data, e.size, cmdline, with_initrd ? initrd : NULL,
                               with_initrd ? sizeof initrd : 0, &st, NULL));
  g_assert_cmpint (st.kind, ==, VMM_BOOT_PVH);

  g_assert_cmpmem (ram + spec->paddr, spec->code_size, e.data + ELF_CODE_OFF, spec->code_size);
  for (gsize i = 0; i < spec->bss_size; i++)
    g_assert_cmpuint (ram[spec->paddr + spec->code_size + i], ==, 0);
  /* ... and not a byte more */
  g_assert_cmpuint (ram[spec->paddr + spec->code_size + spec->bss_size], ==, 0xaa);
  g_assert_cmpuint (st.kernel_load_addr, ==, spec->paddr);
  g_assert_cmpuint (st.kernel_end, ==, spec->paddr + spec->code_size + spec->bss_size);

  /* hvm_start_info */
  g_assert_cmpuint (st.rbx, ==, VMM_PVH_INFO_ADDR);
  si = ram + VMM_PVH_INFO_ADDR;
  g_assert_cmpuint (viv_get_le32 (si), ==, 0x336ec578);
  g_assert_cmpuint (viv_get_le32 (si + 4), ==, 1);
  g_assert_cmpuint (viv_get_le32 (si + 8), ==, 0);
  cmd = viv_get_le64 (si + 24);
  g_assert_cmpuint (cmd, ==, st.cmdline_addr);
  g_assert_cmpuint (cmd, !=, 0);
  g_assert_cmpstr ((const char *) ram + cmd, ==, cmdline != NULL ? cmdline : "");
  g_assert_cmpuint (viv_get_le64 (si + 32), ==, VMM_ACPI_BASE);

  memmap = viv_get_le64 (si + 40);
  n = vmm_e820_build (g.mem.ram_size, e820, VMM_E820_MAX);
  g_assert_cmpuint (viv_get_le32 (si + 48), ==, (guint) n);
  g_assert_cmpuint (memmap, >=, VMM_PVH_INFO_ADDR + 56);
  g_assert_cmpuint (memmap + n * 24, <=, VMM_PVH_INFO_ADDR + VMM_PVH_INFO_MAX);
  map = ram + memmap;
  for (int i = 0; i < n; i++)
    {
      g_assert_cmpuint (viv_get_le64 (map + i * 24), ==, e820[i].addr);
      g_assert_cmpuint (viv_get_le64 (map + i * 24 + 8), ==, e820[i].size);
      g_assert_cmpuint (viv_get_le32 (map + i * 24 + 16), ==, e820[i].type);
    }

  if (with_initrd)
    {
      g_assert_cmpuint (viv_get_le32 (si + 12), ==, 1);
      modlist = viv_get_le64 (si + 16);
      g_assert_cmpuint (modlist, >=, VMM_PVH_INFO_ADDR + 56);
      g_assert_cmpuint (modlist + 32, <=, VMM_PVH_INFO_ADDR + VMM_PVH_INFO_MAX);
      g_assert_true (modlist + 32 <= memmap || modlist >= memmap + n * 24);
      mod = ram + modlist;
      g_assert_cmpuint (viv_get_le64 (mod), ==, st.initrd_addr);
      g_assert_cmpuint (viv_get_le64 (mod + 8), ==, sizeof initrd);
      g_assert_cmpuint (viv_get_le64 (mod + 16), ==, 0);
      g_assert_cmpuint (st.initrd_addr % 4096, ==, 0);
      g_assert_cmpuint (st.initrd_addr, >=, st.kernel_end);
      g_assert_cmpuint (st.initrd_addr, ==, (g.mem.ram_size - sizeof initrd) & ~4095ULL);
      g_assert_cmpmem (ram + st.initrd_addr, sizeof initrd, initrd, sizeof initrd);
    }
  else
    {
      g_assert_cmpuint (viv_get_le32 (si + 12), ==, 0);
      g_assert_cmpuint (st.initrd_size, ==, 0);
    }

  /* Registers: 32-bit protected mode, paging off */
  g_assert_cmpuint (st.rip, ==, spec->entry);
  g_assert_cmpuint (st.cr0 & 1, ==, 1);
  g_assert_cmpuint (st.cr0 & 0x80000000, ==, 0);
  g_assert_cmpuint (st.cr4, ==, 0);
  g_assert_cmpuint (st.efer, ==, 0);
  check_segments (&g.mem, &st, FALSE);
  vmm_test_ram_free (&g);
}

static void
test_pvh_load64 (void)
{
  ElfSpec s = elf_spec_default (TRUE);

  check_pvh_load (&s, TRUE, "console=ttyS0 earlyprintk");
  check_pvh_load (&s, FALSE, NULL);
  /* A 4-byte note in an ELF64, as pvh.pandoc writes it (.long) */
  s.desc_size = 4;
  s.paddr = VMM_MiB (2);
  s.entry = VMM_MiB (2) + s.code_size - 1;
  check_pvh_load (&s, TRUE, "");
}

static void
test_pvh_load32 (void)
{
  ElfSpec s = elf_spec_default (FALSE);

  check_pvh_load (&s, TRUE, "console=ttyS0");
  check_pvh_load (&s, FALSE, NULL);
  s.bss_size = 0;
  check_pvh_load (&s, TRUE, NULL);
}

static void
test_pvh_section_note (void)
{
  for (guint b = 0; b < 2; b++)
    {
      ElfSpec s = elf_spec_default (b);

      s.note = FALSE;
      s.note_section = TRUE;
      check_pvh_load (&s, TRUE, "from a section");
    }
}

enum {
  BAD_NO_NOTE,
  BAD_NOTE_CUT,
  BAD_NOTE_DESCSZ_HUGE,
  BAD_NOTE_NAMESZ_HUGE,
  BAD_NOTE_DESCSZ_2,
  BAD_NOTE_PAST_END,
  BAD_NOTE_OFFSET_WRAP,
  BAD_PHOFF_PAST_END,
  BAD_PHOFF_WRAP,
  BAD_PHNUM_HUGE,
  BAD_PHENTSIZE,
  BAD_NO_PHDRS,
  BAD_OFFSET_WRAP,
  BAD_FILESZ_PAST_END,
  BAD_FILESZ_GT_MEMSZ,
  BAD_BELOW_1M,
  BAD_ACROSS_1M,
  BAD_PAST_RAM_END,
  BAD_OUTSIDE_RAM,
  BAD_MEMSZ_HUGE,
  BAD_PADDR_WRAP,
  BAD_ENTRY_IN_BSS,
  BAD_ENTRY_LOW,
  BAD_ENTRY_4G,
  BAD_NO_LOAD,
  BAD_MACHINE,
  BAD_BIG_ENDIAN,
  BAD_CLASS,
  BAD_INITRD_TOO_BIG,
  BAD_CMDLINE_TOO_LONG,
  N_BAD
};

static const struct { const char *name; int expect; } bad_cases[N_BAD] = {
  [BAD_NO_NOTE] = { "no PVH note", VMM_BOOT_ERROR_NOT_KERNEL },
  [BAD_NOTE_CUT] = { "PT_NOTE ends inside the Xen note", VMM_BOOT_ERROR_INVALID },
  [BAD_NOTE_DESCSZ_HUGE] = { "note descsz 0xffffffff", VMM_BOOT_ERROR_INVALID },
  [BAD_NOTE_NAMESZ_HUGE] = { "note namesz 0xfffffffd", VMM_BOOT_ERROR_INVALID },
  [BAD_NOTE_DESCSZ_2] = { "entry note of 2 bytes", VMM_BOOT_ERROR_INVALID },
  [BAD_NOTE_PAST_END] = { "PT_NOTE past the end of the file", VMM_BOOT_ERROR_INVALID },
  [BAD_NOTE_OFFSET_WRAP] = { "PT_NOTE offset + size wraps", VMM_BOOT_ERROR_INVALID },
  [BAD_PHOFF_PAST_END] = { "phdrs past the end of the file", VMM_BOOT_ERROR_INVALID },
  [BAD_PHOFF_WRAP] = { "e_phoff + phdrs wraps", VMM_BOOT_ERROR_INVALID },
  [BAD_PHNUM_HUGE] = { "e_phnum 0xffff", VMM_BOOT_ERROR_INVALID },
  [BAD_PHENTSIZE] = { "e_phentsize too small", VMM_BOOT_ERROR_INVALID },
  [BAD_NO_PHDRS] = { "no program headers", VMM_BOOT_ERROR_INVALID },
  [BAD_OFFSET_WRAP] = { "p_offset + p_filesz wraps", VMM_BOOT_ERROR_INVALID },
  [BAD_FILESZ_PAST_END] = { "p_filesz past the end of the file", VMM_BOOT_ERROR_INVALID },
  [BAD_FILESZ_GT_MEMSZ] = { "p_filesz > p_memsz", VMM_BOOT_ERROR_INVALID },
  [BAD_BELOW_1M] = { "segment below 1 MiB", VMM_BOOT_ERROR_INVALID },
  [BAD_ACROSS_1M] = { "segment across 1 MiB", VMM_BOOT_ERROR_INVALID },
  [BAD_PAST_RAM_END] = { "segment across the end of RAM", VMM_BOOT_ERROR_NO_ROOM },
  [BAD_OUTSIDE_RAM] = { "segment outside RAM", VMM_BOOT_ERROR_NO_ROOM },
  [BAD_MEMSZ_HUGE] = { "p_memsz all ones", VMM_BOOT_ERROR_NO_ROOM },
  [BAD_PADDR_WRAP] = { "p_paddr + p_memsz wraps", VMM_BOOT_ERROR_NO_ROOM },
  [BAD_ENTRY_IN_BSS] = { "entry in the bss", VMM_BOOT_ERROR_INVALID },
  [BAD_ENTRY_LOW] = { "entry below the kernel", VMM_BOOT_ERROR_INVALID },
  [BAD_ENTRY_4G] = { "entry above 4 GiB", VMM_BOOT_ERROR_INVALID },
  [BAD_NO_LOAD] = { "no PT_LOAD", VMM_BOOT_ERROR_INVALID },
  [BAD_MACHINE] = { "EM_ARM", VMM_BOOT_ERROR_NOT_KERNEL },
  [BAD_BIG_ENDIAN] = { "big-endian", VMM_BOOT_ERROR_NOT_KERNEL },
  [BAD_CLASS] = { "ELF class 3", VMM_BOOT_ERROR_NOT_KERNEL },
  [BAD_INITRD_TOO_BIG] = { "initrd bigger than RAM", VMM_BOOT_ERROR_NO_ROOM },
  [BAD_CMDLINE_TOO_LONG] = { "command line of VMM_CMDLINE_MAX characters", VMM_BOOT_ERROR_CMDLINE },
};

static void
test_pvh_errors (void)
{
  struct vmm_test_ram g = { 0 };
  guint8 *ram = vmm_test_ram_add (&g, 0, VMM_MiB (32));
  g_autofree char *long_cmdline = g_strnfill (VMM_CMDLINE_MAX, 'y');
  g_autofree char *max_cmdline = g_strnfill (VMM_CMDLINE_MAX - 1, 'y');
  static const guint8 initrd[16];

  for (guint b = 0; b < 2; b++)
    for (guint c = 0; c < N_BAD; c++)
      {
        ElfSpec s = elf_spec_default (b);
        guint64 wrap = b ? G_MAXUINT64 - 0x0f : G_MAXUINT32 - 0x0f;
        const char *cmdline = "ok";
        gsize initrd_size = sizeof initrd;
        struct vmm_boot_state st;
        enum vmm_boot_kind kind;
        g_autoptr(GError) error = NULL;
        g_autofree guint8 *data = NULL;
        gboolean ok;
        Elf e;

        if (c == BAD_NO_NOTE)
          s.note = FALSE;
        if (c == BAD_NOTE_DESCSZ_2)
          s.desc_size = 2;
        if (c == BAD_ENTRY_4G && !b)
          continue;             /* a 4-byte note cannot say it */
        if (c == BAD_ENTRY_4G)
          s.entry = VMM_GiB (4) + s.entry;
        if (c == BAD_ENTRY_IN_BSS)
          s.entry = s.paddr + s.code_size;
        if (c == BAD_ENTRY_LOW)
          s.entry = 0x1000;
        e = elf_build (&s);
        data = e.data;

        switch (c)
          {
          case BAD_NOTE_CUT:
            ph_set (&e, 1, PH_FILESZ, e.notes_size - 3);
            break;
          case BAD_NOTE_DESCSZ_HUGE:
            viv_put_le32 (e.data + e.xen_note_off + 4, 0xffffffff);
            break;
          case BAD_NOTE_NAMESZ_HUGE:
            viv_put_le32 (e.data + e.xen_note_off, 0xfffffffd);
            break;
          case BAD_NOTE_PAST_END:
            ph_set (&e, 1, PH_OFFSET, e.size - 8);
            break;
          case BAD_NOTE_OFFSET_WRAP:
            ph_set (&e, 1, PH_OFFSET, wrap);
            ph_set (&e, 1, PH_FILESZ, 0x100);
            break;
          case BAD_PHOFF_PAST_END:
            eh_set (&e, EH_PHOFF, e.size - 8);
            break;
          case BAD_PHOFF_WRAP:
            eh_set (&e, EH_PHOFF, wrap);
            break;
          case BAD_PHNUM_HUGE:
            eh_set (&e, EH_PHNUM, 0xffff);
            break;
          case BAD_PHENTSIZE:
            eh_set (&e, EH_PHENTSIZE, 16);
            break;
          case BAD_NO_PHDRS:
            eh_set (&e, EH_PHNUM, 0);
            break;
          case BAD_OFFSET_WRAP:
            ph_set (&e, 0, PH_OFFSET, wrap);
            break;
          case BAD_FILESZ_PAST_END:
            ph_set (&e, 0, PH_FILESZ, s.code_size + 1);
            break;
          case BAD_FILESZ_GT_MEMSZ:
            ph_set (&e, 0, PH_MEMSZ, s.code_size - 1);
            break;
          case BAD_BELOW_1M:
            ph_set (&e, 0, PH_PADDR, 0x8000);
            break;
          case BAD_ACROSS_1M:
            ph_set (&e, 0, PH_PADDR, VMM_HIMEM_START - 0x10);
            break;
          case BAD_PAST_RAM_END:
            ph_set (&e, 0, PH_PADDR, g.mem.ram_size - 0x100);
            break;
          case BAD_OUTSIDE_RAM:
            ph_set (&e, 0, PH_PADDR, g.mem.ram_size + VMM_MiB (1));
            break;
          case BAD_MEMSZ_HUGE:
            ph_set (&e, 0, PH_MEMSZ, b ? G_MAXUINT64 : G_MAXUINT32);
            break;
          case BAD_PADDR_WRAP:
            ph_set (&e, 0, PH_PADDR, wrap & ~0xfffULL);
            ph_set (&e, 0, PH_MEMSZ, 0x2000);
            break;
          case BAD_NO_LOAD:
            ph_set (&e, 0, PH_TYPE, 6);     /* PT_PHDR */
            break;
          case BAD_MACHINE:
            eh_set (&e, EH_MACHINE, 40);
            break;
          case BAD_BIG_ENDIAN:
            e.data[5] = 2;
            break;
          case BAD_CLASS:
            e.data[4] = 3;
            break;
          case BAD_INITRD_TOO_BIG:
            initrd_size = G_MAXSIZE - 100;  /* never read: it cannot fit */
            break;
          case BAD_CMDLINE_TOO_LONG:
            cmdline = long_cmdline;
            break;
          default:
            break;
          }

        g_test_message ("ELF%u: %s", b ? 64 : 32, bad_cases[c].name);
        ok = load_bytes (&g.mem, e.data, e.size, cmdline, initrd, initrd_size, &st, &error);
        if (ok || !g_error_matches (error, VMM_BOOT_ERROR, bad_cases[c].expect))
          g_error ("ELF%u, %s: got %d (%s), expected %d", b ? 64 : 32, bad_cases[c].name,
                   ok ? -1 : error->code, ok ? "loaded" : error->message, bad_cases[c].expect);
        g_assert_true (state_is_zero (&st));
        if (c == BAD_NO_NOTE)
          g_assert_nonnull (strstr (error->message, "CONFIG_PVH"));
        assert_boot_error (&error, bad_cases[c].expect);

        /* Detection refuses everything that is wrong with the file itself. */
        ok = vmm_boot_detect (e.data, e.size, &kind, &error);
        if (c <= BAD_NO_PHDRS || (c >= BAD_MACHINE && c <= BAD_CLASS))
          g_assert_false (ok);
        if (c == BAD_NO_NOTE)
          g_assert_nonnull (strstr (error->message, "CONFIG_PVH"));
        if (!ok)
          assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      }

  /* The longest command line that fits, fits. */
  {
    ElfSpec s = elf_spec_default (TRUE);
    Elf e = elf_build (&s);
    g_autofree guint8 *data = e.data;
    struct vmm_boot_state st;

    g_assert_true (load_bytes (&g.mem, e.data, e.size, max_cmdline, NULL, 0, &st, NULL));
    g_assert_cmpstr ((const char *) ram + st.cmdline_addr, ==, max_cmdline);
  }
  vmm_test_ram_free (&g);
}

/* Every prefix of a good image is refused cleanly; only the whole loads. */
static void
test_pvh_truncations (void)
{
  struct vmm_test_ram g = { 0 };

  vmm_test_ram_add (&g, 0, VMM_MiB (16));
  for (guint b = 0; b < 2; b++)
    {
      ElfSpec s = elf_spec_default (b);
      Elf e = elf_build (&s);
      g_autofree guint8 *data = e.data;

      for (gsize len = 0; len <= e.size; len++)
        {
          /* A fresh allocation of exactly LEN bytes (1 for 0) for ASan */
          g_autofree guint8 *cut = g_malloc (MAX (len, 1));
          struct vmm_boot_state st;
          enum vmm_boot_kind kind;
          g_autoptr(GError) error = NULL;

          memcpy (cut, e.data, len);
          if (!vmm_boot_detect (cut, len, &kind, &error))
            assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
          else
            g_assert_cmpuint (len, >=, e.notes_off + e.notes_size);
          if (len < e.size)
            {
              g_assert_false (load_bytes (&g.mem, cut, len, NULL, NULL, 0, &st, &error));
              assert_boot_error (&error, -1);
            }
          else
            g_assert_true (load_bytes (&g.mem, cut, len, NULL, NULL, 0, &st, NULL));
        }
    }
  vmm_test_ram_free (&g);
}

/* Random damage to the headers and notes never crashes the loader. */
static void
test_pvh_mutations (void)
{
  static const guint64 interesting[] = {
    0, 1, 0x7f, 0xff, 0x1000, 0xffff, 0x100000, 0x7fffffff, 0x80000000, 0xffffffff,
    0x100000000ULL, G_MAXUINT64, G_MAXUINT64 - 0xfff,
  };
  struct vmm_test_ram g = { 0 };
  guint ok = 0;

  vmm_test_ram_add (&g, 0, VMM_MiB (16));
  for (guint iter = 0; iter < 4000; iter++)
    {
      ElfSpec s = elf_spec_default (g_test_rand_bit ());
      Elf e;
      g_autofree guint8 *data = NULL;
      g_autofree guint8 *cut = NULL;
      struct vmm_boot_state st;
      enum vmm_boot_kind kind;
      g_autoptr(GError) error = NULL;
      guint flips = (guint) g_test_rand_int_range (1, 5);
      gsize len;

      s.note_section = g_test_rand_bit ();
      e = elf_build (&s);
      data = e.data;
      for (guint f = 0; f < flips; f++)
        {
          gsize at = (gsize) g_test_rand_int_range (0, ELF_CODE_OFF);
          guint pick = (guint) g_test_rand_int_range (0, G_N_ELEMENTS (interesting));

          /* A random byte, or a value that trips overflow checks in a field */
          if (g_test_rand_bit ())
            e.data[at] = (guint8) g_test_rand_int ();
          else
            viv_put_le (e.data + (at & ~3u), interesting[pick], MIN (8, ELF_CODE_OFF - (at & ~3u)));
        }
      len = g_test_rand_int_range (0, 4) == 0 ? (gsize) g_test_rand_int_range (0, (gint32) e.size)
                                               : e.size;
      cut = g_memdup2 (e.data, len);

      (void) vmm_boot_detect (cut, len, &kind, NULL);
      if (load_bytes (&g.mem, cut, len, "x", "initrd", 6, &st, &error))
        {
          ok++;
          g_assert_cmpuint (st.kernel_load_addr, >=, VMM_HIMEM_START);
          g_assert_cmpuint (st.kernel_end, <=, g.mem.ram_size);
          g_assert_cmpuint (st.rip, <, st.kernel_end);
          g_assert_cmpuint (st.initrd_addr, >=, st.kernel_end);
        }
      else
        assert_boot_error (&error, -1);
    }
  g_test_message ("%u of 4000 mutated images still loaded", ok);
  vmm_test_ram_free (&g);
}

/* ---- detection --------------------------------------------------------------- */

static void
test_detect_garbage (void)
{
  enum vmm_boot_kind kind;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *one = g_malloc (1);
  g_autofree guint8 *four = g_memdup2 ("\177ELF", 4);
  g_autofree guint8 *rnd = g_malloc (8192);
  struct vmm_test_ram g = { 0 };
  struct vmm_boot_state st;
  guint8 empty[1] = { 0 };

  vmm_test_ram_add (&g, 0, VMM_MiB (16));
  g_assert_false (vmm_boot_detect (empty, 0, &kind, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  g_assert_false (vmm_boot_detect (NULL, 0, &kind, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  g_assert_false (load_bytes (&g.mem, empty, 0, NULL, NULL, 0, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);

  for (guint v = 0; v < 256; v++)
    {
      one[0] = (guint8) v;
      g_assert_false (vmm_boot_detect (one, 1, &kind, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      g_assert_false (load_bytes (&g.mem, one, 1, NULL, NULL, 0, &st, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
    }
  g_assert_false (vmm_boot_detect (four, 4, &kind, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  g_assert_false (load_bytes (&g.mem, four, 4, NULL, NULL, 0, &st, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);

  for (guint iter = 0; iter < 200; iter++)
    {
      gsize len = (gsize) g_test_rand_int_range (0, 8193);

      for (gsize i = 0; i < 8192; i++)
        rnd[i] = (guint8) g_test_rand_int ();
      rnd[0] &= 0x7e;   /* never "\177ELF" by chance */
      g_assert_false (vmm_boot_detect (rnd, len, &kind, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
      g_assert_false (load_bytes (&g.mem, rnd, len, NULL, NULL, 0, &st, &error));
      assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);

      /* Random bytes behind the magic numbers: refused or loaded, never a crash */
      memcpy (rnd, "\177ELF", 4);
      (void) vmm_boot_detect (rnd, len, &kind, NULL);
      if (!load_bytes (&g.mem, rnd, len, NULL, NULL, 0, &st, &error))
        assert_boot_error (&error, -1);
      rnd[0] = 0;
      viv_put_le16 (rnd + 0x1fe, 0xaa55);
      memcpy (rnd + 0x202, "HdrS", 4);
      if (len >= 0x206)
        {
          g_assert_true (vmm_boot_detect (rnd, len, &kind, NULL));
          g_assert_cmpint (kind, ==, VMM_BOOT_BZIMAGE);
        }
      if (!load_bytes (&g.mem, rnd, len, NULL, NULL, 0, &st, &error))
        assert_boot_error (&error, -1);
    }
  vmm_test_ram_free (&g);
}

/* ---- a bzImage the firmware loads ------------------------------------------ */

/* A bzImage of SECTS setup sectors (0: the protocol's 4) and PAYLOAD bytes,
 * protocol VERSION, loaded high, with a command line limit of 255 */
static guint8 *
fw_image (guint16 version, guint8 sects, gsize payload, gsize *size)
{
  gsize setup = ((gsize) (sects ? sects : 4) + 1) * 512;
  guint8 *d = g_malloc0 (setup + payload);

  d[0x1f1] = sects;
  viv_put_le16 (d + 0x1fe, 0xaa55);
  d[0x200] = 0xeb;
  d[0x201] = 0x66;
  memcpy (d + 0x202, "HdrS", 4);
  viv_put_le16 (d + 0x206, version);
  d[0x211] = 0x01;
  viv_put_le32 (d + 0x22c, 0x7fffffff);
  viv_put_le32 (d + 0x238, 255);
  for (gsize i = 0; i < payload; i++)
    d[setup + i] = (guint8) (i * 7);
  *size = setup + payload;
  return d;
}

static gboolean
fw_prepare (const void *kernel, gsize size, const void *initrd, gsize initrd_size,
            const char *cmdline, guint64 low_end, struct vmm_fw_kernel *fk, GError **error)
{
  struct vmm_boot_params params = {
    .kernel = kernel, .kernel_size = size, .initrd = initrd, .initrd_size = initrd_size,
    .cmdline = cmdline,
  };

  return vmm_fw_kernel_prepare (&params, low_end, fk, error);
}

/* What the firmware is given: the setup sectors with the header filled in
 * as QEMU's -kernel does, the rest as the kernel, the initrd at the top of
 * RAM below the firmware's reserve, page-aligned; the image untouched. */
static void
test_fw_kernel (void)
{
  g_autofree guint8 *img = NULL, *copy = NULL, *initrd = g_malloc0 (5000);
  struct vmm_fw_kernel fk;
  GError *error = NULL;
  gsize size;

  img = fw_image (0x020f, 1, 3000, &size);
  copy = g_memdup2 (img, size);
  g_assert_true (fw_prepare (img, size, initrd, 5000, "quiet console=ttyS0", 64 << 20, &fk,
                             &error));
  g_assert_no_error (error);
  g_assert_cmpmem (img, size, copy, size);
  g_assert_cmpuint (fk.setup_size, ==, 1024);
  g_assert_true (fk.kernel == img + 1024);
  g_assert_cmpuint (fk.kernel_size, ==, 3000);
  g_assert_cmpuint (fk.setup[0x210], ==, 0xb0);
  g_assert_cmpuint (fk.setup[0x211], ==, 0x81);
  g_assert_cmpuint (viv_get_le16 (fk.setup + 0x224), ==, 0xfe00);
  g_assert_cmpuint (viv_get_le32 (fk.setup + 0x228), ==, VMM_FW_KERNEL_CMDLINE_ADDR);
  g_assert_cmpuint (fk.initrd_addr, ==, ((64u << 20) - VMM_FW_KERNEL_RESERVED_TOP - 5000) & ~0xfffu);
  g_assert_cmpuint (viv_get_le32 (fk.setup + 0x218), ==, fk.initrd_addr);
  g_assert_cmpuint (viv_get_le32 (fk.setup + 0x21c), ==, 5000);
  g_assert_cmpmem (fk.setup + 0x230, 1024 - 0x230, img + 0x230, 1024 - 0x230);
  g_assert_cmpuint (fk.cmdline_size, ==, strlen ("quiet console=ttyS0") + 1);
  g_assert_cmpstr (fk.cmdline, ==, "quiet console=ttyS0");
  vmm_fw_kernel_clear (&fk);
  g_assert_null (fk.setup);

  /* No initrd, no command line, 0 setup sectors (meaning 4) */
  g_free (img);
  img = fw_image (0x0202, 0, 100, &size);
  g_assert_true (fw_prepare (img, size, NULL, 0, NULL, 64 << 20, &fk, &error));
  g_assert_cmpuint (fk.setup_size, ==, 2560);
  g_assert_cmpuint (fk.kernel_size, ==, 100);
  g_assert_cmpuint (fk.initrd_addr, ==, 0);
  g_assert_cmpuint (viv_get_le32 (fk.setup + 0x218), ==, 0);
  g_assert_cmpuint (viv_get_le32 (fk.setup + 0x21c), ==, 0);
  g_assert_cmpuint (fk.cmdline_size, ==, 1);
  g_assert_cmpstr (fk.cmdline, ==, "");
  vmm_fw_kernel_clear (&fk);

  /* The kernel's initrd_addr_max is a ceiling below RAM's */
  g_free (img);
  img = fw_image (0x020f, 1, 100, &size);
  viv_put_le32 (img + 0x22c, 0x37ffffff);
  g_assert_true (fw_prepare (img, size, initrd, 5000, NULL, G_GUINT64_CONSTANT (0xb0000000),
                             &fk, &error));
  g_assert_cmpuint (fk.initrd_addr, ==, (0x38000000u - 5000) & ~0xfffu);
  vmm_fw_kernel_clear (&fk);
}

/* What a firmware cannot be given: a clear reason, nothing allocated. */
static void
test_fw_kernel_errors (void)
{
  g_autofree guint8 *img = NULL, *big = g_malloc0 (8 << 20);
  struct vmm_fw_kernel fk;
  GError *error = NULL;
  gsize size;

  img = fw_image (0x020f, 1, 100, &size);
  g_assert_false (fw_prepare ("\177ELF\2\1\1", 8, NULL, 0, NULL, 64 << 20, &fk, &error));
  g_assert_true (strstr (error->message, "ELF") != NULL);
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  g_assert_null (fk.setup);
  g_assert_false (fw_prepare (img, 0x200, NULL, 0, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  /* only the setup sectors */
  g_assert_false (fw_prepare (img, 1024, NULL, 0, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);

  viv_put_le16 (img + 0x206, 0x0201);
  g_assert_false (fw_prepare (img, size, NULL, 0, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  viv_put_le16 (img + 0x206, 0x020f);
  img[0x211] = 0;
  g_assert_false (fw_prepare (img, size, NULL, 0, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  img[0x211] = 1;
  /* setup sectors past 64 KiB would run into the command line */
  img[0x1f1] = 200;
  g_assert_false (fw_prepare (img, size, NULL, 0, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NOT_KERNEL);
  img[0x1f1] = 1;

  viv_put_le32 (img + 0x238, 8);
  g_assert_false (fw_prepare (img, size, NULL, 0, "123456789", 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_CMDLINE);
  g_assert_true (fw_prepare (img, size, NULL, 0, "12345678", 64 << 20, &fk, &error));
  vmm_fw_kernel_clear (&fk);

  /* 8 MiB of initrd in 8 MiB of RAM; then a ceiling under the kernel */
  g_assert_false (fw_prepare (img, size, big, 8 << 20, NULL, 8 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  viv_put_le32 (img + 0x22c, 0xfffff);
  g_assert_false (fw_prepare (img, size, big, 4096, NULL, 64 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  viv_put_le32 (img + 0x22c, 0x7fffffff);
  g_assert_false (fw_prepare (img, size, NULL, 0, NULL, 1 << 20, &fk, &error));
  assert_boot_error (&error, VMM_BOOT_ERROR_NO_ROOM);
  g_assert_null (fk.setup);

  /* random bytes behind the magic numbers: refused or prepared, never a crash */
  for (guint round = 0; round < 2000; round++)
    {
      gsize len = g_test_rand_int_range (0x200, 4096);
      g_autofree guint8 *rnd = g_malloc (len);

      for (gsize i = 0; i < len; i++)
        rnd[i] = (guint8) g_test_rand_int ();
      viv_put_le16 (rnd + 0x1fe, 0xaa55);
      if (len >= 0x206)
        memcpy (rnd + 0x202, "HdrS", 4);
      if (fw_prepare (rnd, len, big, g_test_rand_int_range (0, 1 << 20), "x", 64 << 20, &fk,
                      &error))
        {
          g_assert_cmpuint (fk.setup_size + fk.kernel_size, ==, len);
          g_assert_true (fk.initrd_addr == 0 || fk.initrd_addr >= VMM_FW_KERNEL_ADDR);
          vmm_fw_kernel_clear (&fk);
        }
      else
        assert_boot_error (&error, -1);
    }
}

/* A real kernel, as Debian builds it, goes through the same way */
static void
test_fw_kernel_real (gconstpointer data)
{
  const Kernel *k = data;
  struct vmm_fw_kernel fk;
  GError *error = NULL;

  if (!kernel_or_skip (k))
    return;
  g_assert_true (fw_prepare (k->data, k->size, "\x1f\x8b", 2, "console=ttyS0", 512 << 20, &fk,
                             &error));
  g_assert_no_error (error);
  g_assert_cmpuint (fk.setup_size, ==, ((gsize) k->data[0x1f1] + 1) * 512);
  g_assert_cmpuint (fk.initrd_addr, >, VMM_FW_KERNEL_ADDR + fk.kernel_size);
  vmm_fw_kernel_clear (&fk);
}

int
main (int argc, char **argv)
{
  static Kernel kernel;
  int ret;

  g_test_init (&argc, &argv, NULL);
  kernel_find (&kernel);

  g_test_add_func ("/boot/e820/sizes", test_e820_sizes);
  g_test_add_func ("/boot/e820/errors", test_e820_errors);
  g_test_add_data_func ("/boot/bzimage/parse", &kernel, test_bzimage_parse);
  g_test_add_data_func ("/boot/bzimage/load", &kernel, test_bzimage_load);
  g_test_add_data_func ("/boot/bzimage/limits", &kernel, test_bzimage_limits);
  g_test_add_data_func ("/boot/bzimage/relocation", &kernel, test_bzimage_relocation);
  g_test_add_data_func ("/boot/bzimage/bad-headers", &kernel, test_bzimage_bad_headers);
  g_test_add_data_func ("/boot/bzimage/mutations", &kernel, test_bzimage_mutations);
  g_test_add_func ("/boot/firmware/kernel", test_fw_kernel);
  g_test_add_func ("/boot/firmware/errors", test_fw_kernel_errors);
  g_test_add_data_func ("/boot/firmware/real", &kernel, test_fw_kernel_real);
  g_test_add_func ("/boot/pvh/load64", test_pvh_load64);
  g_test_add_func ("/boot/pvh/load32", test_pvh_load32);
  g_test_add_func ("/boot/pvh/section-note", test_pvh_section_note);
  g_test_add_func ("/boot/pvh/errors", test_pvh_errors);
  g_test_add_func ("/boot/pvh/truncations", test_pvh_truncations);
  g_test_add_func ("/boot/pvh/mutations", test_pvh_mutations);
  g_test_add_func ("/boot/detect/garbage", test_detect_garbage);

  ret = g_test_run ();
  g_free (kernel.path);
  g_free (kernel.data);
  return ret;
}
