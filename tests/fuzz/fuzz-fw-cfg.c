/* fuzz-fw-cfg.c: fw_cfg's ports and DMA, driven by a hostile guest
 *
 * The device holds the fixed items, a few files and, when the header asks,
 * the ACPI tables with their loader script. The input then is a sequence
 * of port accesses and DMA descriptors against two regions of fake guest
 * RAM with a hole between them (and guard pages around them).
 *
 * Beyond "no crash, no sanitizer report":
 *  - a DMA changes guest RAM only inside the buffer its descriptor names
 *    and the descriptor's control word;
 *  - the control word it leaves holds nothing but ERROR;
 *  - the data port reads each item's bytes, then zeroes.
 *
 * Input: a 1-byte header (bit 0: the ACPI tables too), then ops of 32
 * bytes:
 *
 *   [0]       op % 6: select, read data, DMA, port write, port read, poke RAM
 *   [1]       a count (reads), an offset (port accesses), flags (DMA:
 *             bit 0 descriptor in the second region, bit 1 raw 64-bit
 *             descriptor address from [4..11], bit 2 one 8-byte kick)
 *   [2..3]    le16: a key (select), a RAM offset (DMA descriptor, poke)
 *   [4..11]   le64: a value (port write, poke) or address
 *   [12..27]  the DMA descriptor, as the guest writes it (big-endian)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "firmware/acpi-loader.h"
#include "firmware/fw_cfg.h"
#include "viv-bytes.h"
#include "vmm-test.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define RAM_A_GPA   0x0u
#define RAM_A_SIZE  0x10000u
#define RAM_B_GPA   0x11000u    /* a hole of a page between the two */
#define RAM_B_SIZE  0x1000u
#define OP_LEN      32u

enum { OP_SELECT, OP_READ, OP_DMA, OP_OUT, OP_IN, OP_POKE, N_OPS };

struct fuzz {
  struct vmm_test_ram ram;
  uint8_t *a, *b;
  uint8_t before_a[RAM_A_SIZE], before_b[RAM_B_SIZE];
  struct vmm_fw_cfg *cfg;
  uint8_t file[3][64];         /* the files' contents */
};

/* Bytes of [A, A + ALEN) in region R (GPA, SIZE) changed from BEFORE:
 * only inside [LO, HI) (a wrapping HI is the end of the address space) or
 * the control word at DESC. */
static void
check_changes (const uint8_t *now, const uint8_t *before, uint64_t gpa, uint64_t size,
               uint64_t lo, uint64_t hi, bool wraps, uint64_t desc)
{
  for (uint64_t i = 0; i < size; i++)
    {
      uint64_t at = gpa + i;

      if (now[i] == before[i])
        continue;
      if (at >= desc && at - desc < 4)
        continue;
      if (at >= lo && (wraps || at < hi))
        continue;
      fprintf (stderr, "DMA wrote 0x%llx outside its buffer [0x%llx, 0x%llx)\n",
               (unsigned long long) at, (unsigned long long) lo, (unsigned long long) hi);
      abort ();
    }
}

static void
run_dma (struct fuzz *f, const uint8_t *op)
{
  uint8_t flags = op[1];
  uint64_t desc, lo, hi;
  uint32_t length;
  uint8_t *d;
  bool wraps;

  if (flags & 2)
    desc = viv_get_le64 (op + 4);
  else if (flags & 1)
    desc = RAM_B_GPA + viv_get_le16 (op + 2) % RAM_B_SIZE;
  else
    desc = RAM_A_GPA + viv_get_le16 (op + 2);

  /* The descriptor goes in where it fits in RAM */
  d = vmm_mem_ptr (&f->ram.mem, desc, VMM_FW_CFG_DMA_ACCESS_LEN);
  if (d != NULL)
    memcpy (d, op + 12, VMM_FW_CFG_DMA_ACCESS_LEN);
  length = viv_get_be32 (op + 16);
  lo = viv_get_be64 (op + 20);
  hi = lo + length;
  wraps = hi < lo;

  memcpy (f->before_a, f->a, RAM_A_SIZE);
  memcpy (f->before_b, f->b, RAM_B_SIZE);
  if (flags & 4)
    vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_DMA_HIGH, 8,
                      GUINT64_SWAP_LE_BE (desc));
  else
    {
      vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_DMA_HIGH, 4,
                        GUINT32_SWAP_LE_BE ((uint32_t) (desc >> 32)));
      vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_DMA_LOW, 4,
                        GUINT32_SWAP_LE_BE ((uint32_t) desc));
    }

  /* The descriptor read back was what was put there, unless it did not
   * fit; a buffer overlapping it may have changed it since. */
  if (d == NULL)
    lo = hi = 0, wraps = false;
  check_changes (f->a, f->before_a, RAM_A_GPA, RAM_A_SIZE, lo, hi, wraps, desc);
  check_changes (f->b, f->before_b, RAM_B_GPA, RAM_B_SIZE, lo, hi, wraps, desc);
  if (d != NULL && (desc >= hi || desc + 4 <= lo) && !wraps)
    {
      uint32_t control = viv_get_be32 (d);
      if (control & ~(uint32_t) VMM_FW_CFG_DMA_ERROR)
        {
          fprintf (stderr, "DMA left control 0x%x\n", control);
          abort ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fuzz *f;

  if (size < 1)
    return 0;
  f = g_new0 (struct fuzz, 1);
  f->a = vmm_test_ram_add (&f->ram, RAM_A_GPA, RAM_A_SIZE);
  f->b = vmm_test_ram_add (&f->ram, RAM_B_GPA, RAM_B_SIZE);
  /* No zeroes in RAM, so that a stray zero-fill shows */
  for (unsigned i = 0; i < RAM_A_SIZE; i++)
    f->a[i] = (uint8_t) (i % 251 + 1);
  for (unsigned i = 0; i < RAM_B_SIZE; i++)
    f->b[i] = (uint8_t) (i % 241 + 1);
  f->cfg = vmm_fw_cfg_new (&f->ram.mem);

  vmm_fw_cfg_add_u16 (f->cfg, VMM_FW_CFG_NB_CPUS, 2);
  vmm_fw_cfg_add_u64 (f->cfg, VMM_FW_CFG_RAM_SIZE, RAM_A_SIZE + RAM_B_SIZE);
  vmm_fw_cfg_add_bytes (f->cfg, VMM_FW_CFG_E820_TABLE, "e820", 4);
  for (unsigned i = 0; i < G_N_ELEMENTS (f->file); i++)
    {
      char name[32];

      for (unsigned j = 0; j < sizeof f->file[i]; j++)
        f->file[i][j] = (uint8_t) (i * 64 + j + 1);
      snprintf (name, sizeof name, "opt/file%u", 2 - i);
      vmm_fw_cfg_add_file (f->cfg, name, f->file[i], (i + 1) * 16);
    }
  if (data[0] & 1)
    {
      struct vmm_acpi_config config = {
        .n_cpus = 2, .ecam_base = VMM_PCI_ECAM_BASE, .ecam_end_bus = 255,
        .mmio32_base = VMM_PCI_MMIO32_BASE, .mmio32_size = VMM_PCI_MMIO32_SIZE,
        .com1 = true, .rtc = true,
      };
      if (vmm_acpi_build_fw_cfg (f->cfg, &config) < 0)
        abort ();
    }

  for (size_t at = 1; at + OP_LEN <= size; at += OP_LEN)
    {
      const uint8_t *op = data + at;

      switch (op[0] % N_OPS)
        {
        case OP_SELECT:
          vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_SELECTOR, 2,
                            viv_get_le16 (op + 2));
          /* A file of ours reads as its bytes, then zeroes. */
          {
            uint16_t key = viv_get_le16 (op + 2) & ~VMM_FW_CFG_WRITE_CHANNEL;
            if (key >= VMM_FW_CFG_FILE_FIRST && key < VMM_FW_CFG_FILE_FIRST + 3)
              {
                unsigned i = key - VMM_FW_CFG_FILE_FIRST;
                for (unsigned j = 0; j < (i + 1) * 16 + 4; j++)
                  {
                    uint8_t want = j < (i + 1) * 16 ? f->file[i][j] : 0;
                    if (vmm_test_dev_in (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_DATA, 1) != want)
                      abort ();
                  }
                vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_SELECTOR, 2,
                                  viv_get_le16 (op + 2));
              }
          }
          break;
        case OP_READ:
          for (unsigned i = 0; i < op[1]; i++)
            vmm_test_dev_in (&vmm_fw_cfg_io_ops, f->cfg, VMM_FW_CFG_DATA, 1);
          break;
        case OP_DMA:
          run_dma (f, op);
          break;
        case OP_OUT:
          {
            /* As the bus dispatches them: inside the range */
            uint32_t len = 1u << (op[2] % 4);
            uint64_t offset = op[1] % VMM_FW_CFG_PORT_LEN;
            if (offset + len <= VMM_FW_CFG_PORT_LEN)
              vmm_test_dev_out (&vmm_fw_cfg_io_ops, f->cfg, offset, len, viv_get_le64 (op + 4));
          }
          break;
        case OP_IN:
          {
            uint32_t len = 1u << (op[2] % 4);
            uint64_t offset = op[1] % VMM_FW_CFG_PORT_LEN;
            if (offset + len <= VMM_FW_CFG_PORT_LEN)
              vmm_test_dev_in (&vmm_fw_cfg_io_ops, f->cfg, offset, len);
          }
          break;
        case OP_POKE:
          {
            uint16_t off = viv_get_le16 (op + 2);
            f->a[off] = op[4];
          }
          break;
        }
    }

  vmm_fw_cfg_free (f->cfg);
  vmm_test_ram_free (&f->ram);
  g_free (f);
  return 0;
}
