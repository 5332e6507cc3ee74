/* test-fw-cfg.c: fw_cfg and the ACPI table loader, driven as firmware would
 *
 * The device is reached through its port handlers, as a vCPU's port I/O
 * reaches it, over fake guest RAM with guard pages (vmm-test.h): a DMA that
 * strays out of RAM faults in every build. The loader's script is run by a
 * small interpreter written from SeaBIOS's src/fw/romfile_loader.c, and
 * what it leaves in RAM is compared with what vmm_acpi_build writes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "firmware/acpi-loader.h"
#include "firmware/fw_cfg.h"
#include "viv-bytes.h"
#include "vmm-test.h"
#include "vmm-test-state.h"

#define RAM_SIZE     VMM_MiB (2)
#define RAM2_GPA     (RAM_SIZE + 0x1000)   /* a second region, past a hole of a page */
#define RAM2_SIZE    0x1000
#define DESC_GPA     0x1000                /* where the tests put a DMA descriptor */
#define BUF_GPA      0x2000                /* and its buffer */

struct fixture {
  struct vmm_test_ram ram;
  struct vmm_fw_cfg *cfg;
};

static void
fixture_init (struct fixture *f)
{
  memset (f, 0, sizeof *f);
  vmm_test_ram_add (&f->ram, 0, RAM_SIZE);
  vmm_test_ram_add (&f->ram, RAM2_GPA, RAM2_SIZE);
  f->cfg = vmm_fw_cfg_new (&f->ram.mem);
}

static void
fixture_clear (struct fixture *f)
{
  vmm_fw_cfg_free (f->cfg);
  vmm_test_ram_free (&f->ram);
}

/* ---- the guest's side: ports and DMA -------------------------------------------- */

static void
select_key (struct vmm_fw_cfg *cfg, uint16_t key)
{
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, cfg, VMM_FW_CFG_SELECTOR, 2, key);
}

static uint8_t
read_byte (struct vmm_fw_cfg *cfg)
{
  return (uint8_t) vmm_test_dev_in (&vmm_fw_cfg_io_ops, cfg, VMM_FW_CFG_DATA, 1);
}

static void
read_bytes (struct vmm_fw_cfg *cfg, void *buf, size_t len)
{
  for (size_t i = 0; i < len; i++)
    ((uint8_t *) buf)[i] = read_byte (cfg);
}

/* Starts a DMA transfer of the descriptor at DESC as SeaBIOS does: the
 * high half, then the low half, each a big-endian register. */
static void
dma_kick (struct vmm_fw_cfg *cfg, uint64_t desc)
{
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, cfg, VMM_FW_CFG_DMA_HIGH, 4,
                    GUINT32_SWAP_LE_BE ((uint32_t) (desc >> 32)));
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, cfg, VMM_FW_CFG_DMA_LOW, 4,
                    GUINT32_SWAP_LE_BE ((uint32_t) desc));
}

/* Writes a descriptor at DESC, runs it, and returns its control word after. */
static uint32_t
dma (struct fixture *f, uint64_t desc, uint32_t control, uint32_t length, uint64_t addr)
{
  uint8_t *d = vmm_test_ptr (&f->ram.mem, desc, VMM_FW_CFG_DMA_ACCESS_LEN);

  viv_put_be32 (d, control);
  viv_put_be32 (d + 4, length);
  viv_put_be64 (d + 8, addr);
  dma_kick (f->cfg, desc);
  return viv_get_be32 (d);
}

/* ---- registers and fixed items --------------------------------------------------- */

static void
test_signature (void)
{
  struct fixture f;
  uint8_t buf[8];

  fixture_init (&f);
  select_key (f.cfg, VMM_FW_CFG_SIGNATURE);
  read_bytes (f.cfg, buf, 6);
  g_assert_cmpmem (buf, 6, "QEMU\0\0", 6);    /* past the end: zeroes */

  select_key (f.cfg, VMM_FW_CFG_ID);
  read_bytes (f.cfg, buf, 4);
  g_assert_cmpuint (viv_get_le32 (buf), ==, VMM_FW_CFG_VERSION | VMM_FW_CFG_VERSION_DMA);

  /* The DMA register reads as "QEMU CFG", big-endian, in any width. */
  viv_put_le32 (buf, (uint32_t) vmm_test_dev_in (&vmm_fw_cfg_io_ops, f.cfg, 4, 4));
  viv_put_le32 (buf + 4, (uint32_t) vmm_test_dev_in (&vmm_fw_cfg_io_ops, f.cfg, 8, 4));
  g_assert_cmpmem (buf, 8, "QEMU CFG", 8);
  g_assert_cmpuint (vmm_test_dev_in (&vmm_fw_cfg_io_ops, f.cfg, 11, 1), ==, 'G');
  fixture_clear (&f);
}

static void
test_selector (void)
{
  struct fixture f;
  uint8_t buf[8];

  fixture_init (&f);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_NB_CPUS, 0x04030201), ==, 0);
  g_assert_cmpint (vmm_fw_cfg_add_u16 (f.cfg, VMM_FW_CFG_MAX_CPUS, 0x0201), ==, 0);
  g_assert_cmpint (vmm_fw_cfg_add_u64 (f.cfg, VMM_FW_CFG_RAM_SIZE, 0x0807060504030201), ==, 0);
  g_assert_cmpint (vmm_fw_cfg_add_bytes (f.cfg, VMM_FW_CFG_E820_TABLE, "e820", 4), ==, 0);

  /* Reads run across the item's end into zeroes, and stay there. */
  select_key (f.cfg, VMM_FW_CFG_NB_CPUS);
  read_bytes (f.cfg, buf, 6);
  g_assert_cmpmem (buf, 6, "\x01\x02\x03\x04\0\0", 6);
  /* Selecting again starts over; the other port of the pair reads too. */
  select_key (f.cfg, VMM_FW_CFG_NB_CPUS);
  g_assert_cmpuint (vmm_test_dev_in (&vmm_fw_cfg_io_ops, f.cfg, 0, 1), ==, 1);
  g_assert_cmpuint (read_byte (f.cfg), ==, 2);
  /* Data port writes are ignored, and do not move the offset. */
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, f.cfg, VMM_FW_CFG_DATA, 1, 0xff);
  g_assert_cmpuint (read_byte (f.cfg), ==, 3);

  select_key (f.cfg, VMM_FW_CFG_MAX_CPUS);
  read_bytes (f.cfg, buf, 3);
  g_assert_cmpmem (buf, 3, "\x01\x02\0", 3);
  select_key (f.cfg, VMM_FW_CFG_RAM_SIZE);
  read_bytes (f.cfg, buf, 8);
  g_assert_cmpmem (buf, 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);

  /* The write bit is ignored; the arch bit picks the architecture's keys. */
  select_key (f.cfg, VMM_FW_CFG_WRITE_CHANNEL | VMM_FW_CFG_SIGNATURE);
  read_bytes (f.cfg, buf, 4);
  g_assert_cmpmem (buf, 4, "QEMU", 4);
  select_key (f.cfg, VMM_FW_CFG_E820_TABLE);
  read_bytes (f.cfg, buf, 4);
  g_assert_cmpmem (buf, 4, "e820", 4);
  select_key (f.cfg, VMM_FW_CFG_ARCH_LOCAL | VMM_FW_CFG_SIGNATURE);
  g_assert_cmpuint (read_byte (f.cfg), ==, 0);
  /* A key past the last one selects nothing. */
  select_key (f.cfg, VMM_FW_CFG_ENTRY_MASK);
  g_assert_cmpuint (read_byte (f.cfg), ==, 0);
  select_key (f.cfg, 0xffff);
  g_assert_cmpuint (read_byte (f.cfg), ==, 0);

  /* Replacing an item */
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_NB_CPUS, 7), ==, 0);
  select_key (f.cfg, VMM_FW_CFG_NB_CPUS);
  g_assert_cmpuint (read_byte (f.cfg), ==, 7);

  /* Keys the device owns, files, the write channel and keys past the end */
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_SIGNATURE, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_ID, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_FILE_DIR, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_FILE_FIRST, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, VMM_FW_CFG_WRITE_CHANNEL | 5, 0), ==, -EINVAL);
  g_assert_cmpint (vmm_fw_cfg_add_u32 (f.cfg, 0x8000 | VMM_FW_CFG_ENTRY_MASK, 0), ==, -EINVAL);
  fixture_clear (&f);
}

/* ---- files ------------------------------------------------------------------------ */

struct dir_entry {
  uint32_t size;
  uint16_t key;
  char name[VMM_FW_CFG_MAX_NAME];
};

/* Reads the directory through the ports; returns the number of files. */
static unsigned
read_dir (struct vmm_fw_cfg *cfg, struct dir_entry *out, unsigned max)
{
  uint8_t buf[VMM_FW_CFG_FILE_ENTRY_LEN];
  uint32_t n;

  select_key (cfg, VMM_FW_CFG_FILE_DIR);
  read_bytes (cfg, buf, 4);
  n = viv_get_be32 (buf);
  g_assert_cmpuint (n, <=, max);
  for (unsigned i = 0; i < n; i++)
    {
      read_bytes (cfg, buf, sizeof buf);
      out[i].size = viv_get_be32 (buf);
      out[i].key = viv_get_be16 (buf + 4);
      g_assert_cmpuint (viv_get_be16 (buf + 6), ==, 0);
      memcpy (out[i].name, buf + 8, VMM_FW_CFG_MAX_NAME);
      /* NUL-terminated, and NUL-padded */
      g_assert_cmpuint (out[i].name[VMM_FW_CFG_MAX_NAME - 1], ==, 0);
      for (size_t j = strlen (out[i].name); j < VMM_FW_CFG_MAX_NAME; j++)
        g_assert_cmpuint (out[i].name[j], ==, 0);
    }
  /* Nothing after the last entry */
  g_assert_cmpuint (read_byte (cfg), ==, 0);
  return n;
}

static bool
find_file (struct vmm_fw_cfg *cfg, const char *name, uint16_t *key, uint32_t *size)
{
  struct dir_entry dir[VMM_FW_CFG_MAX_FILES];
  unsigned n = read_dir (cfg, dir, G_N_ELEMENTS (dir));

  for (unsigned i = 0; i < n; i++)
    if (strcmp (dir[i].name, name) == 0)
      {
        *key = dir[i].key;
        *size = dir[i].size;
        return true;
      }
  return false;
}

static void
test_files (void)
{
  static const char *names[] = { "etc/table-loader", "bootorder", "etc/acpi/rsdp",
                                 "etc/acpi/tables", "a", "etc/e820" };
  static const char *sorted[] = { "a", "bootorder", "etc/acpi/rsdp", "etc/acpi/tables",
                                  "etc/e820", "etc/table-loader" };
  struct dir_entry dir[VMM_FW_CFG_MAX_FILES];
  char long_name[VMM_FW_CFG_MAX_NAME + 1];
  struct fixture f;
  unsigned n;

  fixture_init (&f);
  g_assert_cmpuint (read_dir (f.cfg, dir, G_N_ELEMENTS (dir)), ==, 0);

  /* Keys from FILE_FIRST in the order of adding; contents of length i * 3 */
  for (unsigned i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *content = g_strnfill (i * 3, (char) ('A' + i));
      g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, names[i], content, i * 3), ==,
                       VMM_FW_CFG_FILE_FIRST + i);
    }
  n = read_dir (f.cfg, dir, G_N_ELEMENTS (dir));
  g_assert_cmpuint (n, ==, G_N_ELEMENTS (sorted));
  for (unsigned i = 0; i < n; i++)
    {
      unsigned added = 0;
      uint8_t buf[32];

      g_assert_cmpstr (dir[i].name, ==, sorted[i]);
      while (strcmp (names[added], sorted[i]) != 0)
        added++;
      g_assert_cmpuint (dir[i].key, ==, VMM_FW_CFG_FILE_FIRST + added);
      g_assert_cmpuint (dir[i].size, ==, added * 3);
      select_key (f.cfg, dir[i].key);
      read_bytes (f.cfg, buf, added * 3 + 1);
      for (unsigned j = 0; j < added * 3; j++)
        g_assert_cmpuint (buf[j], ==, 'A' + added);
      g_assert_cmpuint (buf[added * 3], ==, 0);
    }

  /* Duplicates, names that do not fit (55 bytes do) */
  g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, "bootorder", "x", 1), ==, -EEXIST);
  /* Replacing keeps the key and changes the size in the directory */
  {
    uint16_t key = 0, key2 = 0;
    uint32_t size = 0;

    g_assert_true (find_file (f.cfg, "bootorder", &key, &size));
    g_assert_cmpint (vmm_fw_cfg_set_file (f.cfg, "bootorder", "xyzzy", 5), ==, key);
    g_assert_true (find_file (f.cfg, "bootorder", &key2, &size));
    g_assert_cmpuint (key2, ==, key);
    g_assert_cmpuint (size, ==, 5);
  }
  g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, "", "x", 1), ==, -EINVAL);
  memset (long_name, 'n', sizeof long_name);
  long_name[VMM_FW_CFG_MAX_NAME] = '\0';
  g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, long_name, "x", 1), ==, -E2BIG);
  long_name[VMM_FW_CFG_MAX_NAME - 1] = '\0';
  g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, long_name, "x", 1), ==,
                   VMM_FW_CFG_FILE_FIRST + n);
  g_assert_true (find_file (f.cfg, long_name, &dir[0].key, &dir[0].size));

  /* Full */
  for (unsigned i = n + 1; i < VMM_FW_CFG_MAX_FILES; i++)
    {
      g_autofree char *name = g_strdup_printf ("opt/%03u", VMM_FW_CFG_MAX_FILES - i);
      g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, name, NULL, 0), ==,
                       VMM_FW_CFG_FILE_FIRST + i);
    }
  g_assert_cmpint (vmm_fw_cfg_add_file (f.cfg, "zzz", NULL, 0), ==, -ENOSPC);
  n = read_dir (f.cfg, dir, G_N_ELEMENTS (dir));
  g_assert_cmpuint (n, ==, VMM_FW_CFG_MAX_FILES);
  for (unsigned i = 1; i < n; i++)
    g_assert_cmpint (strcmp (dir[i - 1].name, dir[i].name), <, 0);
  /* The last file's key is the last key there is, and it reads. */
  select_key (f.cfg, VMM_FW_CFG_FILE_FIRST + VMM_FW_CFG_MAX_FILES - 1);
  g_assert_cmpuint (read_byte (f.cfg), ==, 0);
  fixture_clear (&f);
}

/* ---- DMA ------------------------------------------------------------------------------ */

static void
test_dma_read (void)
{
  struct fixture f;
  uint8_t content[100], *buf;
  uint8_t desc[VMM_FW_CFG_DMA_ACCESS_LEN];
  int key;

  for (unsigned i = 0; i < sizeof content; i++)
    content[i] = (uint8_t) (i + 1);
  fixture_init (&f);
  key = vmm_fw_cfg_add_file (f.cfg, "etc/test", content, sizeof content);
  g_assert_cmpint (key, >=, VMM_FW_CFG_FILE_FIRST);
  buf = vmm_test_ptr (&f.ram.mem, BUF_GPA, 256);
  memset (buf, 0xaa, 256);

  /* Select and read 10 bytes */
  g_assert_cmpuint (dma (&f, DESC_GPA, (uint32_t) key << 16 | VMM_FW_CFG_DMA_SELECT
                         | VMM_FW_CFG_DMA_READ, 10, BUF_GPA), ==, 0);
  g_assert_cmpmem (buf, 10, content, 10);
  g_assert_cmpuint (buf[10], ==, 0xaa);
  /* Skip 20, then read 30 more: the offset moved on. */
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_SKIP, 20, 0), ==, 0);
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_READ, 30, BUF_GPA + 10), ==, 0);
  g_assert_cmpmem (buf + 10, 30, content + 30, 30);
  /* The port reads on from there too. */
  g_assert_cmpuint (read_byte (f.cfg), ==, content[60]);
  /* Past the end: the rest of the buffer is zeroed. */
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_READ, 60, BUF_GPA + 100), ==, 0);
  g_assert_cmpmem (buf + 100, 39, content + 61, 39);
  for (unsigned i = 139; i < 160; i++)
    g_assert_cmpuint (buf[i], ==, 0);
  g_assert_cmpuint (buf[160], ==, 0xaa);
  /* No operation: nothing moves, and the control word clears. */
  g_assert_cmpuint (dma (&f, DESC_GPA, (uint32_t) key << 16 | VMM_FW_CFG_DMA_SELECT, 10,
                         BUF_GPA + 200), ==, 0);
  g_assert_cmpuint (buf[200], ==, 0xaa);
  g_assert_cmpuint (read_byte (f.cfg), ==, content[0]);
  /* The signature, with DMA; a descriptor given in one 8-byte write */
  viv_put_be32 (desc, VMM_FW_CFG_SIGNATURE << 16 | VMM_FW_CFG_DMA_SELECT | VMM_FW_CFG_DMA_READ);
  viv_put_be32 (desc + 4, 4);
  viv_put_be64 (desc + 8, RAM2_GPA);
  memcpy (vmm_test_ptr (&f.ram.mem, RAM2_GPA + 16, sizeof desc), desc, sizeof desc);
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, f.cfg, VMM_FW_CFG_DMA_HIGH, 8,
                    GUINT64_SWAP_LE_BE (RAM2_GPA + 16));
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, RAM2_GPA, 4), 4, "QEMU", 4);
  g_assert_cmpuint (vmm_test_get32 (&f.ram.mem, RAM2_GPA + 16), ==, 0);
  fixture_clear (&f);
}

static void
test_dma_hostile (void)
{
  struct fixture f;
  uint8_t content[64], *buf, *end;
  int key;

  memset (content, 0x5a, sizeof content);
  fixture_init (&f);
  key = vmm_fw_cfg_add_file (f.cfg, "etc/test", content, sizeof content);
  buf = vmm_test_ptr (&f.ram.mem, BUF_GPA, 256);
  end = vmm_test_ptr (&f.ram.mem, RAM_SIZE - 16, 16);
  memset (buf, 0xaa, 256);
  memset (end, 0xaa, 16);
#define SEL_READ ((uint32_t) key << 16 | VMM_FW_CFG_DMA_SELECT | VMM_FW_CFG_DMA_READ)

  /* Buffers outside RAM, across its end, across the hole, wrapping */
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 16, VMM_GiB (1)), ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 32, RAM_SIZE - 16), ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 32, RAM2_GPA - 8), ==,
                    VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 32, UINT64_MAX - 8), ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_SELECT | VMM_FW_CFG_DMA_READ, 32,
                         UINT64_MAX - 8), ==, VMM_FW_CFG_DMA_ERROR);
  for (unsigned i = 0; i < 16; i++)
    g_assert_cmpuint (end[i], ==, 0xaa);
  /* The item fits, the zeroes after it do not: they are not written. */
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 0xffffffff, RAM_SIZE - 64), ==,
                    VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 0xffffffff, BUF_GPA), ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpmem (buf, 64, content, 64);
  /* A skip of any length touches nothing. */
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_SKIP, 0xffffffff, UINT64_MAX), ==, 0);

  /* Writes are refused and change nothing. */
  memset (buf, 0x11, 64);
  g_assert_cmpuint (dma (&f, DESC_GPA, (uint32_t) key << 16 | VMM_FW_CFG_DMA_SELECT
                         | VMM_FW_CFG_DMA_WRITE, 8, BUF_GPA), ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, VMM_FW_CFG_DMA_SELECT | VMM_FW_CFG_DMA_WRITE, 8, BUF_GPA),
                    ==, VMM_FW_CFG_DMA_ERROR);
  g_assert_cmpuint (dma (&f, DESC_GPA, SEL_READ, 64, BUF_GPA + 64), ==, 0);
  g_assert_cmpmem (buf + 64, 64, content, 64);

  /* Descriptors outside RAM, or across its end: nothing happens, nothing
   * is written (the guard pages would fault). */
  dma_kick (f.cfg, VMM_GiB (1));
  dma_kick (f.cfg, RAM_SIZE - 2);
  dma_kick (f.cfg, RAM2_GPA - 8);
  dma_kick (f.cfg, UINT64_MAX - 7);
  /* One across the end whose control word is in RAM gets ERROR there. */
  vmm_test_put32 (&f.ram.mem, RAM_SIZE - 8, 0);
  dma_kick (f.cfg, RAM_SIZE - 8);
  g_assert_cmpuint (GUINT32_FROM_BE (vmm_test_get32 (&f.ram.mem, RAM_SIZE - 8)), ==,
                    VMM_FW_CFG_DMA_ERROR);
#undef SEL_READ
  fixture_clear (&f);
}

/* ---- the loader ----------------------------------------------------------------------- */

static void
test_loader_script (void)
{
  struct vmm_acpi_loader *l = vmm_acpi_loader_new ();
  char long_name[VMM_ACPI_LOADER_FILESZ + 1];
  const uint8_t *s;
  size_t len;

  g_assert_cmpint (vmm_acpi_loader_allocate (l, "etc/acpi/tables", 64,
                                             VMM_ACPI_LOADER_ZONE_HIGH), ==, 0);
  g_assert_cmpint (vmm_acpi_loader_add_pointer (l, "etc/acpi/rsdp", "etc/acpi/tables", 16, 4),
                   ==, 0);
  g_assert_cmpint (vmm_acpi_loader_add_checksum (l, "etc/acpi/rsdp", 8, 0, 20), ==, 0);
  s = vmm_acpi_loader_data (l, &len);
  g_assert_cmpuint (len, ==, 3 * 128);

  g_assert_cmpuint (viv_get_le32 (s), ==, 1);
  g_assert_cmpstr ((const char *) s + 4, ==, "etc/acpi/tables");
  g_assert_cmpuint (viv_get_le32 (s + 60), ==, 64);
  g_assert_cmpuint (s[64], ==, 1);
  for (size_t i = 65; i < 128; i++)
    g_assert_cmpuint (s[i], ==, 0);

  s += 128;
  g_assert_cmpuint (viv_get_le32 (s), ==, 2);
  g_assert_cmpstr ((const char *) s + 4, ==, "etc/acpi/rsdp");
  g_assert_cmpstr ((const char *) s + 60, ==, "etc/acpi/tables");
  g_assert_cmpuint (viv_get_le32 (s + 116), ==, 16);
  g_assert_cmpuint (s[120], ==, 4);

  s += 128;
  g_assert_cmpuint (viv_get_le32 (s), ==, 3);
  g_assert_cmpstr ((const char *) s + 4, ==, "etc/acpi/rsdp");
  g_assert_cmpuint (viv_get_le32 (s + 60), ==, 8);
  g_assert_cmpuint (viv_get_le32 (s + 64), ==, 0);
  g_assert_cmpuint (viv_get_le32 (s + 68), ==, 20);

  memset (long_name, 'n', sizeof long_name - 1);
  long_name[VMM_ACPI_LOADER_FILESZ] = '\0';
  g_assert_cmpint (vmm_acpi_loader_allocate (l, long_name, 64, 1), ==, -EINVAL);
  g_assert_cmpint (vmm_acpi_loader_allocate (l, "f", 48, 1), ==, -EINVAL);
  g_assert_cmpint (vmm_acpi_loader_allocate (l, "f", 64, 3), ==, -EINVAL);
  g_assert_cmpint (vmm_acpi_loader_add_pointer (l, "f", "g", 0, 3), ==, -EINVAL);
  g_assert_cmpint (vmm_acpi_loader_add_checksum (l, "", 0, 0, 1), ==, -EINVAL);
  vmm_acpi_loader_data (l, &len);
  g_assert_cmpuint (len, ==, 3 * 128);
  vmm_acpi_loader_free (l);
}

/* What SeaBIOS's romfile_loader.c does with the script: allocations come
 * from two bump allocators, the F segment's and the high one's, and each
 * file is read into its allocation with DMA. */
struct loader_file {
  char name[VMM_ACPI_LOADER_FILESZ];
  uint64_t gpa;
  uint32_t size;
};

struct interp {
  struct fixture *f;
  uint64_t fseg_next, high_next;
  struct loader_file files[8];
  unsigned n_files;
};

static struct loader_file *
interp_file (struct interp *in, const uint8_t *name)
{
  char n[VMM_ACPI_LOADER_FILESZ];

  memcpy (n, name, sizeof n);
  n[sizeof n - 1] = '\0';
  for (unsigned i = 0; i < in->n_files; i++)
    if (strcmp (in->files[i].name, n) == 0)
      return &in->files[i];
  g_error ("the script names %s before allocating it", n);
}

static void
interp_run (struct interp *in)
{
  const struct vmm_mem *mem = &in->f->ram.mem;
  g_autofree uint8_t *script = NULL;
  uint16_t key;
  uint32_t size;

  g_assert_true (find_file (in->f->cfg, VMM_ACPI_LOADER_FILE, &key, &size));
  g_assert_cmpuint (size, >, 0);
  g_assert_cmpuint (size % VMM_ACPI_LOADER_ENTRY_LEN, ==, 0);
  script = g_malloc (size);
  select_key (in->f->cfg, key);
  read_bytes (in->f->cfg, script, size);

  for (const uint8_t *c = script; c < script + size; c += VMM_ACPI_LOADER_ENTRY_LEN)
    {
      switch (viv_get_le32 (c))
        {
        case VMM_ACPI_LOADER_ALLOCATE:
          {
            struct loader_file *file = &in->files[in->n_files++];
            uint32_t align = viv_get_le32 (c + 60);
            uint64_t *next = c[64] == VMM_ACPI_LOADER_ZONE_FSEG ? &in->fseg_next : &in->high_next;

            g_assert_cmpuint (in->n_files, <=, G_N_ELEMENTS (in->files));
            g_assert_true (c[64] == VMM_ACPI_LOADER_ZONE_FSEG
                           || c[64] == VMM_ACPI_LOADER_ZONE_HIGH);
            g_assert_cmpuint (align, >, 0);
            g_assert_cmpuint (align & (align - 1), ==, 0);
            memcpy (file->name, c + 4, sizeof file->name);
            g_assert_cmpuint (file->name[sizeof file->name - 1], ==, 0);
            g_assert_true (find_file (in->f->cfg, file->name, &key, &file->size));
            file->gpa = (*next + align - 1) & ~(uint64_t) (align - 1);
            *next = file->gpa + file->size;
            if (c[64] == VMM_ACPI_LOADER_ZONE_FSEG)
              g_assert_cmpuint (*next, <=, 0x100000);
            g_assert_cmpuint (dma (in->f, DESC_GPA, (uint32_t) key << 16 | VMM_FW_CFG_DMA_SELECT
                                   | VMM_FW_CFG_DMA_READ, file->size, file->gpa), ==, 0);
            break;
          }
        case VMM_ACPI_LOADER_ADD_POINTER:
          {
            struct loader_file *dest = interp_file (in, c + 4);
            struct loader_file *src = interp_file (in, c + 60);
            uint32_t offset = viv_get_le32 (c + 116);
            uint8_t width = c[120];
            uint8_t *p;
            uint64_t value;

            g_assert_true (width == 1 || width == 2 || width == 4 || width == 8);
            g_assert_cmpuint ((uint64_t) offset + width, <=, dest->size);
            p = vmm_test_ptr (mem, dest->gpa + offset, width);
            value = viv_get_le (p, width);
            /* An offset inside the source file */
            g_assert_cmpuint (value, <, src->size);
            viv_put_le (p, value + src->gpa, width);
            break;
          }
        case VMM_ACPI_LOADER_ADD_CHECKSUM:
          {
            struct loader_file *file = interp_file (in, c + 4);
            uint32_t offset = viv_get_le32 (c + 60);
            uint32_t start = viv_get_le32 (c + 64), length = viv_get_le32 (c + 68);
            uint8_t *data = vmm_test_ptr (mem, file->gpa, file->size);
            uint8_t sum = 0;

            g_assert_cmpuint (offset, <, file->size);
            g_assert_cmpuint ((uint64_t) start + length, <=, file->size);
            for (uint32_t i = 0; i < length; i++)
              sum = (uint8_t) (sum + data[start + i]);
            data[offset] = (uint8_t) (data[offset] - sum);
            break;
          }
        default:
          g_error ("unexpected loader command %u", viv_get_le32 (c));
        }
    }
}

static uint8_t
sum (const uint8_t *p, size_t len)
{
  uint8_t s = 0;

  for (size_t i = 0; i < len; i++)
    s = (uint8_t) (s + p[i]);
  return s;
}

/* The tables an OS finds from the RSDP, each checked whole and summing to 0. */
struct found {
  const uint8_t *rsdp, *rsdt, *xsdt, *fadt, *madt, *mcfg, *dsdt, *facs;
};

static const uint8_t *
table_at (const struct vmm_mem *mem, uint64_t gpa, const char *sig)
{
  const uint8_t *t = vmm_test_ptr (mem, gpa, 36);
  uint32_t len = viv_get_le32 (t + 4);

  g_assert_cmpmem (t, 4, sig, 4);
  t = vmm_test_ptr (mem, gpa, len);
  g_assert_cmpuint (sum (t, len), ==, 0);
  return t;
}

static void
walk (const struct vmm_mem *mem, uint64_t rsdp_gpa, struct found *t)
{
  uint64_t facs_gpa;
  unsigned n;

  memset (t, 0, sizeof *t);
  t->rsdp = vmm_test_ptr (mem, rsdp_gpa, 36);
  g_assert_cmpmem (t->rsdp, 8, "RSD PTR ", 8);
  g_assert_cmpuint (sum (t->rsdp, 20), ==, 0);
  g_assert_cmpuint (sum (t->rsdp, 36), ==, 0);
  t->rsdt = table_at (mem, viv_get_le32 (t->rsdp + 16), "RSDT");
  t->xsdt = table_at (mem, viv_get_le64 (t->rsdp + 24), "XSDT");
  n = (viv_get_le32 (t->xsdt + 4) - 36) / 8;
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpuint ((viv_get_le32 (t->rsdt + 4) - 36) / 4, ==, n);
  for (unsigned i = 0; i < n; i++)
    g_assert_cmpuint (viv_get_le32 (t->rsdt + 36 + 4 * i), ==,
                      viv_get_le64 (t->xsdt + 36 + 8 * i));
  t->fadt = table_at (mem, viv_get_le64 (t->xsdt + 36), "FACP");
  t->madt = table_at (mem, viv_get_le64 (t->xsdt + 44), "APIC");
  t->mcfg = table_at (mem, viv_get_le64 (t->xsdt + 52), "MCFG");
  g_assert_cmpuint (viv_get_le32 (t->fadt + 40), ==, viv_get_le64 (t->fadt + 140));
  t->dsdt = table_at (mem, viv_get_le64 (t->fadt + 140), "DSDT");
  facs_gpa = viv_get_le64 (t->fadt + 132);
  g_assert_cmpuint (viv_get_le32 (t->fadt + 36), ==, facs_gpa);
  g_assert_cmpuint (facs_gpa % 64, ==, 0);
  t->facs = vmm_test_ptr (mem, facs_gpa, 64);
  g_assert_cmpmem (t->facs, 4, "FACS", 4);
}

/* A and B are the same bytes but for the address fields AT, of WIDTH
 * bytes, and the checksum byte at CSUM (-1: none). */
static void
assert_same_but (const uint8_t *a, const uint8_t *b, size_t len, int csum,
                 const unsigned *at, const unsigned *width, unsigned n)
{
  g_autofree uint8_t *x = g_memdup2 (a, len), *y = g_memdup2 (b, len);

  if (csum >= 0)
    x[csum] = y[csum] = 0;
  for (unsigned i = 0; i < n; i++)
    {
      memset (x + at[i], 0, width[i]);
      memset (y + at[i], 0, width[i]);
    }
  g_assert_cmpmem (x, len, y, len);
}

static struct vmm_acpi_config
default_config (void)
{
  return (struct vmm_acpi_config) {
    .n_cpus = 4,
    .ecam_base = VMM_PCI_ECAM_BASE,
    .ecam_end_bus = VMM_PCI_ECAM_BUSES - 1,
    .mmio32_base = VMM_PCI_MMIO32_BASE,
    .mmio32_size = VMM_PCI_MMIO32_SIZE,
    .mmio64_base = 0x1000000000ull,
    .mmio64_size = VMM_PCI_MMIO64_SIZE,
    .com1 = true,
    .rtc = true,
    .i8042 = true,
    .pvpanic = true,
  };
}

static void
test_loader_acpi (void)
{
  struct vmm_acpi_config config = default_config ();
  const size_t area = VMM_ACPI_END - VMM_ACPI_BASE;
  struct fixture direct, f;
  struct found want, got;
  struct interp in;
  uint64_t rsdp = 0;

  fixture_init (&direct);
  g_assert_cmpint (vmm_acpi_build (&direct.ram.mem, &config, &rsdp), ==, 0);
  walk (&direct.ram.mem, rsdp, &want);

  /* Placed where vmm_acpi_build puts them, the very same bytes */
  fixture_init (&f);
  g_assert_cmpint (vmm_acpi_build_fw_cfg (f.cfg, &config), ==, 0);
  in = (struct interp) { .f = &f, .fseg_next = VMM_ACPI_BASE, .high_next = VMM_ACPI_BASE + 36 };
  interp_run (&in);
  g_assert_cmpuint (in.n_files, ==, 2);
  g_assert_cmpmem (vmm_test_ptr (&f.ram.mem, VMM_ACPI_BASE, area), area,
                   vmm_test_ptr (&direct.ram.mem, VMM_ACPI_BASE, area), area);
  /* A second time replaces them, under the same keys */
  {
    uint16_t key_before = 0, key_after = 1;
    uint32_t size_before = 0, size_after = 1;

    g_assert_true (find_file (f.cfg, "etc/table-loader", &key_before, &size_before));
    g_assert_cmpint (vmm_acpi_build_fw_cfg (f.cfg, &config), ==, 0);
    g_assert_true (find_file (f.cfg, "etc/table-loader", &key_after, &size_after));
    g_assert_cmpuint (key_before, ==, key_after);
    g_assert_cmpuint (size_before, ==, size_after);
  }
  fixture_clear (&f);

  /* Anywhere else: valid, and the same tables but for the addresses */
  fixture_init (&f);
  g_assert_cmpint (vmm_acpi_build_fw_cfg (f.cfg, &config), ==, 0);
  in = (struct interp) { .f = &f, .fseg_next = 0xf5a01, .high_next = 0x123456 };
  interp_run (&in);
  g_assert_cmpuint (in.files[1].gpa, ==, 0xf5a10);    /* the RSDP, 16-aligned */
  g_assert_cmpuint (in.files[0].gpa, ==, 0x123480);   /* the tables, 64-aligned */
  walk (&f.ram.mem, in.files[1].gpa, &got);
  {
    /* and the extended checksum */
    static const unsigned rsdp_at[] = { 16, 24, 32 }, rsdp_w[] = { 4, 8, 1 };
    static const unsigned fadt_at[] = { 36, 40, 132, 140 }, fadt_w[] = { 4, 4, 8, 8 };
    static const unsigned rsdt_at[] = { 36, 40, 44 }, rsdt_w[] = { 4, 4, 4 };
    static const unsigned xsdt_at[] = { 36, 44, 52 }, xsdt_w[] = { 8, 8, 8 };
    const struct { const uint8_t *a, *b; } same[] = {
      { got.madt, want.madt }, { got.mcfg, want.mcfg }, { got.dsdt, want.dsdt },
    };

    assert_same_but (got.rsdp, want.rsdp, 36, 8, rsdp_at, rsdp_w, 3);
    assert_same_but (got.fadt, want.fadt, viv_get_le32 (want.fadt + 4), 9, fadt_at, fadt_w, 4);
    assert_same_but (got.rsdt, want.rsdt, viv_get_le32 (want.rsdt + 4), 9, rsdt_at, rsdt_w, 3);
    assert_same_but (got.xsdt, want.xsdt, viv_get_le32 (want.xsdt + 4), 9, xsdt_at, xsdt_w, 3);
    g_assert_cmpmem (got.facs, 64, want.facs, 64);
    for (unsigned i = 0; i < G_N_ELEMENTS (same); i++)
      g_assert_cmpmem (same[i].a, viv_get_le32 (same[i].a + 4),
                       same[i].b, viv_get_le32 (same[i].b + 4));
  }
  fixture_clear (&f);
  fixture_clear (&direct);

  /* A bad config adds nothing. */
  fixture_init (&f);
  config.n_cpus = 0;
  g_assert_cmpint (vmm_acpi_build_fw_cfg (f.cfg, &config), ==, -EINVAL);
  {
    uint16_t key;
    uint32_t size;
    g_assert_false (find_file (f.cfg, VMM_ACPI_LOADER_FILE, &key, &size));
  }
  fixture_clear (&f);
}

/* ---- saved state ---------------------------------------------------------------------- */

static gboolean
load_cfg (void *cfg, const struct vmm_state_file *f, const char *name, bool apply,
          GError **error)
{
  return vmm_fw_cfg_load (cfg, f, name, apply, error);
}

static void
save_cfg (struct vmm_fw_cfg *cfg, struct vmm_test_state *st)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();

  vmm_fw_cfg_save (cfg, w, "fw-cfg");
  vmm_test_state_close (st, w);
}

/* A file read half way and a DMA address's high half written, saved and
 * loaded into a device the VM filled the same way: the file reads on
 * from where it was, and the DMA's low half completes the address. */
static void
test_state (void)
{
  struct fixture a, b;
  struct vmm_test_state sa = { 0 }, sb = { 0 }, sb0 = { 0 };
  g_autoptr (GError) error = NULL;
  uint8_t data[100], got[90];
  int key;

  for (unsigned i = 0; i < sizeof data; i++)
    data[i] = (uint8_t) (i * 3 + 1);
  fixture_init (&a);
  fixture_init (&b);
  key = vmm_fw_cfg_add_file (a.cfg, "etc/test", data, sizeof data);
  g_assert_cmpint (vmm_fw_cfg_add_file (b.cfg, "etc/test", data, sizeof data), ==, key);
  select_key (a.cfg, (uint16_t) key);
  read_bytes (a.cfg, got, 10);
  vmm_test_dev_out (&vmm_fw_cfg_io_ops, a.cfg, VMM_FW_CFG_DMA_HIGH, 4, 0);
  save_cfg (a.cfg, &sa);

  save_cfg (b.cfg, &sb0);
  g_assert_true (vmm_fw_cfg_load (b.cfg, sa.file, "fw-cfg", false, &error));
  g_assert_no_error (error);
  vmm_test_state_refusals (&sa, "fw-cfg", load_cfg, b.cfg, 1, 0x3f);
  save_cfg (b.cfg, &sb);
  vmm_test_state_assert_same (&sb, &sb0, "fw-cfg");
  vmm_test_state_clear (&sb);

  g_assert_true (vmm_fw_cfg_load (b.cfg, sa.file, "fw-cfg", true, &error));
  g_assert_no_error (error);
  save_cfg (b.cfg, &sb);
  vmm_test_state_assert_same (&sa, &sb, "fw-cfg");
  read_bytes (b.cfg, got, 40);
  g_assert_cmpmem (got, 40, data + 10, 40);
  /* The rest by DMA, the descriptor's address completed by its low half */
  {
    uint8_t *d = vmm_test_ptr (&b.ram.mem, DESC_GPA, VMM_FW_CFG_DMA_ACCESS_LEN);

    viv_put_be32 (d, VMM_FW_CFG_DMA_READ);
    viv_put_be32 (d + 4, 50);
    viv_put_be64 (d + 8, BUF_GPA);
    vmm_test_dev_out (&vmm_fw_cfg_io_ops, b.cfg, VMM_FW_CFG_DMA_LOW, 4,
                      GUINT32_SWAP_LE_BE ((uint32_t) DESC_GPA));
    g_assert_cmphex (viv_get_be32 (d), ==, 0);
    g_assert_cmpmem (vmm_test_ptr (&b.ram.mem, BUF_GPA, 50), 50, data + 50, 50);
  }

  vmm_test_state_clear (&sa);
  vmm_test_state_clear (&sb);
  vmm_test_state_clear (&sb0);
  fixture_clear (&a);
  fixture_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/fw-cfg/signature", test_signature);
  g_test_add_func ("/fw-cfg/selector", test_selector);
  g_test_add_func ("/fw-cfg/files", test_files);
  g_test_add_func ("/fw-cfg/dma/read", test_dma_read);
  g_test_add_func ("/fw-cfg/dma/hostile", test_dma_hostile);
  g_test_add_func ("/fw-cfg/loader/script", test_loader_script);
  g_test_add_func ("/fw-cfg/loader/acpi", test_loader_acpi);
  g_test_add_func ("/fw-cfg/state", test_state);

  return g_test_run ();
}
