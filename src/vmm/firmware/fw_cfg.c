/* firmware/fw_cfg.c: QEMU's firmware configuration device
 *
 * Written from QEMU's docs/specs/fw_cfg.rst, and behaving as QEMU's device
 * does where SeaBIOS and OVMF can tell: a selector beyond the keys selects
 * nothing (reads give 0), the write bit of the selector is ignored,
 * reading past an item's end gives 0 without moving, and a DMA read past
 * the end fills the guest's buffer with zeroes.
 *
 * The DMA descriptor, and every buffer it names, is the guest's: each goes
 * through vmm_mem, which refuses anything not wholly inside guest RAM (a
 * wrapping address included), and the transfer then ends with ERROR. A
 * transfer takes at most two steps (the item's bytes, then zeroes), so a
 * huge length costs no more than one memset of the guest's own RAM.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "firmware/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <glib.h>
#include <glib/gi18n.h>

#include "viv-bytes.h"

#define N_ENTRIES  (VMM_FW_CFG_FILE_FIRST + VMM_FW_CFG_MAX_FILES)
#define NO_ENTRY   0xffffu         /* the selector named no key */

G_STATIC_ASSERT (N_ENTRIES <= VMM_FW_CFG_ENTRY_MASK);

struct entry {
  uint8_t *data;
  uint32_t len;
};

struct vmm_fw_cfg {
  pthread_mutex_t lock;
  const struct vmm_mem *mem;

  struct entry entries[2][N_ENTRIES];          /* [0] generic keys, [1] the arch's */
  char names[VMM_FW_CFG_MAX_FILES][VMM_FW_CFG_MAX_NAME];
  uint16_t order[VMM_FW_CFG_MAX_FILES];        /* file indices, sorted by name */
  unsigned n_files;

  uint16_t selected;                           /* a key, or NO_ENTRY */
  uint32_t offset;                             /* in the selected item */
  uint64_t dma_addr;
};

static void
set_entry (struct vmm_fw_cfg *cfg, uint16_t key, const void *data, uint32_t len)
{
  struct entry *e = &cfg->entries[(key & VMM_FW_CFG_ARCH_LOCAL) != 0][key & VMM_FW_CFG_ENTRY_MASK];

  g_free (e->data);
  e->data = len > 0 ? g_memdup2 (data, len) : NULL;
  e->len = len;
}

struct vmm_fw_cfg *
vmm_fw_cfg_new (const struct vmm_mem *mem)
{
  struct vmm_fw_cfg *cfg = g_new0 (struct vmm_fw_cfg, 1);
  uint8_t id[4], dir[4] = { 0 };

  pthread_mutex_init (&cfg->lock, NULL);
  cfg->mem = mem;
  cfg->selected = NO_ENTRY;
  set_entry (cfg, VMM_FW_CFG_SIGNATURE, "QEMU", 4);
  viv_put_le32 (id, VMM_FW_CFG_VERSION | VMM_FW_CFG_VERSION_DMA);
  set_entry (cfg, VMM_FW_CFG_ID, id, sizeof id);
  set_entry (cfg, VMM_FW_CFG_FILE_DIR, dir, sizeof dir);
  return cfg;
}

void
vmm_fw_cfg_free (struct vmm_fw_cfg *cfg)
{
  if (cfg == NULL)
    return;
  for (unsigned a = 0; a < 2; a++)
    for (unsigned i = 0; i < N_ENTRIES; i++)
      g_free (cfg->entries[a][i].data);
  pthread_mutex_destroy (&cfg->lock);
  g_free (cfg);
}

int
vmm_fw_cfg_add_bytes (struct vmm_fw_cfg *cfg, uint16_t key, const void *data, size_t len)
{
  uint16_t index = key & VMM_FW_CFG_ENTRY_MASK;

  g_return_val_if_fail (cfg != NULL, -EINVAL);
  g_return_val_if_fail (data != NULL || len == 0, -EINVAL);

  if ((key & VMM_FW_CFG_WRITE_CHANNEL) != 0 || index >= N_ENTRIES)
    return -EINVAL;
  if ((key & VMM_FW_CFG_ARCH_LOCAL) == 0
      && (index <= VMM_FW_CFG_ID || index >= VMM_FW_CFG_FILE_DIR))
    return -EINVAL;
  if (len > UINT32_MAX)
    return -E2BIG;

  pthread_mutex_lock (&cfg->lock);
  set_entry (cfg, key, data, (uint32_t) len);
  pthread_mutex_unlock (&cfg->lock);
  return 0;
}

int
vmm_fw_cfg_add_u16 (struct vmm_fw_cfg *cfg, uint16_t key, uint16_t value)
{
  uint8_t b[2];

  viv_put_le16 (b, value);
  return vmm_fw_cfg_add_bytes (cfg, key, b, sizeof b);
}

int
vmm_fw_cfg_add_u32 (struct vmm_fw_cfg *cfg, uint16_t key, uint32_t value)
{
  uint8_t b[4];

  viv_put_le32 (b, value);
  return vmm_fw_cfg_add_bytes (cfg, key, b, sizeof b);
}

int
vmm_fw_cfg_add_u64 (struct vmm_fw_cfg *cfg, uint16_t key, uint64_t value)
{
  uint8_t b[8];

  viv_put_le64 (b, value);
  return vmm_fw_cfg_add_bytes (cfg, key, b, sizeof b);
}

/* Writes the directory item from the sorted list: be32 count, then per
 * file be32 size, be16 key, be16 reserved and the name, NUL-padded. */
static void
update_dir (struct vmm_fw_cfg *cfg)
{
  size_t len = 4 + (size_t) VMM_FW_CFG_FILE_ENTRY_LEN * cfg->n_files;
  g_autofree uint8_t *dir = g_malloc0 (len);

  viv_put_be32 (dir, cfg->n_files);
  for (unsigned i = 0; i < cfg->n_files; i++)
    {
      unsigned file = cfg->order[i];
      uint16_t key = (uint16_t) (VMM_FW_CFG_FILE_FIRST + file);
      uint8_t *f = dir + 4 + (size_t) VMM_FW_CFG_FILE_ENTRY_LEN * i;

      viv_put_be32 (f, cfg->entries[0][key].len);
      viv_put_be16 (f + 4, key);
      memcpy (f + 8, cfg->names[file], VMM_FW_CFG_MAX_NAME);
    }
  set_entry (cfg, VMM_FW_CFG_FILE_DIR, dir, (uint32_t) len);
}

static int put_file (struct vmm_fw_cfg *cfg, const char *name, const void *data, size_t len,
                     bool replace);

int
vmm_fw_cfg_add_file (struct vmm_fw_cfg *cfg, const char *name, const void *data, size_t len)
{
  return put_file (cfg, name, data, len, false);
}

int
vmm_fw_cfg_set_file (struct vmm_fw_cfg *cfg, const char *name, const void *data, size_t len)
{
  return put_file (cfg, name, data, len, true);
}

static int
put_file (struct vmm_fw_cfg *cfg, const char *name, const void *data, size_t len, bool replace)
{
  size_t name_len;
  unsigned file, at;
  int ret;

  g_return_val_if_fail (cfg != NULL, -EINVAL);
  g_return_val_if_fail (name != NULL, -EINVAL);
  g_return_val_if_fail (data != NULL || len == 0, -EINVAL);

  name_len = strnlen (name, VMM_FW_CFG_MAX_NAME);
  if (name_len == 0)
    return -EINVAL;
  if (name_len >= VMM_FW_CFG_MAX_NAME || len > UINT32_MAX)
    return -E2BIG;

  pthread_mutex_lock (&cfg->lock);
  /* Where it goes in the directory, and whether it is there already */
  for (at = 0; at < cfg->n_files; at++)
    {
      int cmp = strcmp (name, cfg->names[cfg->order[at]]);
      if (cmp == 0 && replace)
        {
          /* Same key; the directory has the new size */
          file = cfg->order[at];
          set_entry (cfg, (uint16_t) (VMM_FW_CFG_FILE_FIRST + file), data, (uint32_t) len);
          update_dir (cfg);
          ret = VMM_FW_CFG_FILE_FIRST + (int) file;
          goto out;
        }
      if (cmp == 0)
        {
          ret = -EEXIST;
          goto out;
        }
      if (cmp < 0)
        break;
    }
  if (cfg->n_files == VMM_FW_CFG_MAX_FILES)
    {
      ret = -ENOSPC;
      goto out;
    }

  file = cfg->n_files++;
  memset (cfg->names[file], 0, VMM_FW_CFG_MAX_NAME);
  memcpy (cfg->names[file], name, name_len);
  memmove (&cfg->order[at + 1], &cfg->order[at], (file - at) * sizeof cfg->order[0]);
  cfg->order[at] = (uint16_t) file;
  set_entry (cfg, (uint16_t) (VMM_FW_CFG_FILE_FIRST + file), data, (uint32_t) len);
  update_dir (cfg);
  ret = VMM_FW_CFG_FILE_FIRST + (int) file;

out:
  pthread_mutex_unlock (&cfg->lock);
  return ret;
}

/* ---- the guest's side ------------------------------------------------------------ */

static void
select_key (struct vmm_fw_cfg *cfg, uint16_t key)
{
  cfg->offset = 0;
  cfg->selected = (key & VMM_FW_CFG_ENTRY_MASK) < N_ENTRIES ? key : NO_ENTRY;
}

static const struct entry *
selected_entry (const struct vmm_fw_cfg *cfg)
{
  if (cfg->selected == NO_ENTRY)
    return NULL;
  return &cfg->entries[(cfg->selected & VMM_FW_CFG_ARCH_LOCAL) != 0]
                      [cfg->selected & VMM_FW_CFG_ENTRY_MASK];
}

static uint8_t
read_data_byte (struct vmm_fw_cfg *cfg)
{
  const struct entry *e = selected_entry (cfg);

  if (e == NULL || cfg->offset >= e->len)
    return 0;
  return e->data[cfg->offset++];
}

/* Runs the transfer whose descriptor is at DESC (QEMU's
 * fw_cfg_dma_transfer), then writes its status back into it. */
static void
dma_transfer (struct vmm_fw_cfg *cfg, uint64_t desc)
{
  const struct entry *e;
  uint8_t access[VMM_FW_CFG_DMA_ACCESS_LEN], status[4];
  uint32_t control, length;
  uint64_t addr;
  bool read = false, write = false;

  if (vmm_mem_read (cfg->mem, desc, access, sizeof access) < 0)
    {
      viv_put_be32 (status, VMM_FW_CFG_DMA_ERROR);
      vmm_mem_write (cfg->mem, desc, status, sizeof status);
      return;
    }
  control = viv_get_be32 (access);
  length = viv_get_be32 (access + 4);
  addr = viv_get_be64 (access + 8);

  if (control & VMM_FW_CFG_DMA_SELECT)
    select_key (cfg, (uint16_t) (control >> 16));
  e = selected_entry (cfg);

  if (control & VMM_FW_CFG_DMA_READ)
    read = true;
  else if (control & VMM_FW_CFG_DMA_WRITE)
    write = true;
  else if (!(control & VMM_FW_CFG_DMA_SKIP))
    length = 0;
  control = 0;

  /* At most two steps: the item's bytes, then what lies past its end. */
  while (length > 0 && !(control & VMM_FW_CFG_DMA_ERROR))
    {
      uint32_t len;

      if (write)
        {
          /* No item is writable by the guest. */
          control |= VMM_FW_CFG_DMA_ERROR;
          break;
        }
      if (e == NULL || cfg->offset >= e->len)
        {
          len = length;
          if (read)
            {
              uint8_t *p = vmm_mem_ptr (cfg->mem, addr, len);
              if (p == NULL)
                control |= VMM_FW_CFG_DMA_ERROR;
              else
                memset (p, 0, len);
            }
        }
      else
        {
          len = MIN (length, e->len - cfg->offset);
          if (read && vmm_mem_write (cfg->mem, addr, e->data + cfg->offset, len) < 0)
            control |= VMM_FW_CFG_DMA_ERROR;
          cfg->offset += len;
        }
      addr += len;
      length -= len;
    }

  viv_put_be32 (status, control);
  vmm_mem_write (cfg->mem, desc, status, sizeof status);
}

static void
fw_cfg_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_fw_cfg *cfg = opaque;
  static const char signature[] = VMM_FW_CFG_DMA_SIGNATURE;

  if (offset < VMM_FW_CFG_DMA_HIGH)
    {
      /* The data byte, on either port of the pair as on QEMU */
      if (len == 1 && offset <= VMM_FW_CFG_DATA)
        {
          pthread_mutex_lock (&cfg->lock);
          *(uint8_t *) data = read_data_byte (cfg);
          pthread_mutex_unlock (&cfg->lock);
        }
      return;
    }
  /* The DMA register reads as its signature, big-endian. */
  if (offset - VMM_FW_CFG_DMA_HIGH + len <= 8)
    memcpy (data, signature + (offset - VMM_FW_CFG_DMA_HIGH), len);
}

static void
fw_cfg_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_fw_cfg *cfg = opaque;

  pthread_mutex_lock (&cfg->lock);
  if (offset == VMM_FW_CFG_SELECTOR && len == 2)
    select_key (cfg, viv_get_le16 (data));
  else if (offset == VMM_FW_CFG_DMA_HIGH && len == 4)
    cfg->dma_addr = (uint64_t) viv_get_be32 (data) << 32;
  else if ((offset == VMM_FW_CFG_DMA_LOW && len == 4)
           || (offset == VMM_FW_CFG_DMA_HIGH && len == 8))
    {
      uint64_t desc = len == 8 ? viv_get_be64 (data) : cfg->dma_addr | viv_get_be32 (data);

      cfg->dma_addr = 0;
      dma_transfer (cfg, desc);
    }
  /* Anything else, data port writes included, is ignored, as by QEMU. */
  pthread_mutex_unlock (&cfg->lock);
}

const struct vmm_io_ops vmm_fw_cfg_io_ops = {
  .read = fw_cfg_read,
  .write = fw_cfg_write,
};

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1

void
vmm_fw_cfg_save (const struct vmm_fw_cfg *cfg, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &cfg->lock;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u16 (w, cfg->selected);
  vmm_state_put_u32 (w, cfg->offset);
  vmm_state_put_u64 (w, cfg->dma_addr);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

gboolean
vmm_fw_cfg_load (struct vmm_fw_cfg *cfg, const struct vmm_state_file *f, const char *name,
                 bool apply, GError **error)
{
  struct vmm_state_reader r;
  uint16_t selected;
  uint32_t offset;
  uint64_t dma_addr;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  selected = vmm_state_get_u16 (&r);
  offset = vmm_state_get_u32 (&r);
  dma_addr = vmm_state_get_u64 (&r);
  /* An offset past the item's end is fine: reads there give 0 */
  if (selected != NO_ENTRY && (selected & VMM_FW_CFG_ENTRY_MASK) >= N_ENTRIES)
    vmm_state_reader_fail (&r, N_("fw_cfg’s selected key is out of range"));
  /* Only a high half written waits here; the low half starts the transfer */
  if (dma_addr & 0xffffffffu)
    vmm_state_reader_fail (&r, N_("fw_cfg’s DMA address holds a low half"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  pthread_mutex_lock (&cfg->lock);
  cfg->selected = selected;
  cfg->offset = offset;
  cfg->dma_addr = dma_addr;
  pthread_mutex_unlock (&cfg->lock);
  return TRUE;
}
