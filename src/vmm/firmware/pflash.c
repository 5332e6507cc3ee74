/* firmware/pflash.c: CFI parallel flash (Intel command set) for OVMF
 *
 * Written from Intel's and the CFI specifications' descriptions, with
 * QEMU's hw/block/pflash_cfi01.c as the reference for what OVMF expects
 * (our own code). The state is a read mode (array, status, CFI query,
 * identifier) and, after the first cycle of a two-cycle command (program,
 * erase, lock), the command waiting for its second cycle; while one waits,
 * reads return the status register, as on the chip.
 *
 * Where this follows QEMU rather than the chip, on purpose: clear status
 * leaves the register 0 (OVMF's flash detection reads 0x00 there after
 * 0x50 0x70 and takes anything else for "not a flash"); a program stores
 * the byte written instead of ANDing it into the old one (OVMF only
 * programs erased bytes or clears bits, so the two agree for it; QEMU's
 * way is the one OVMF is tested with); unknown commands go back to read
 * array. A block erase acts at the confirm cycle (0xd0) on the block its
 * address names, as the chip does.
 *
 * Durability. Each program and erase is written to the file (pwrite of
 * the bytes it changed) before the memory copy changes, so a crashed
 * helper loses nothing the guest was told about. The fdatasync that makes
 * it survive a host crash is batched: the changed bytes may stay unsynced
 * only while they all lie in one erase block, and the device syncs
 *  - before it changes a different block (so writes reach the disk in the
 *    order the guest made them, one block behind at most),
 *  - before the status register is read and when the guest goes back to
 *    read array or clears the status (the points where OVMF, or any
 *    driver, takes a write as done: QemuFlashWrite ends every write with
 *    0xff, QemuFlashEraseBlock is always followed by a program),
 *  - on vmm_pflash_sync and vmm_pflash_free.
 * A host crash can therefore tear at most the one block being programmed
 * or erased, which is what losing power does to the chip; UEFI's variable
 * store is written with fault-tolerant writes (a spare block and a
 * journal) because of exactly that. A byte-by-byte fdatasync would cost
 * one disk flush per byte of every variable OVMF writes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "firmware/pflash.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_BLOCK_SIZE   4096u
#define MIN_BLOCK_SIZE       4096u
#define MAX_BLOCK_SIZE       (1u << 20)
#define CFI_LEN              0x40u

/* Commands (first cycle) */
#define CMD_READ_ARRAY_QEMU  0x00    /* not in the standard; QEMU's reset value, accepted */
#define CMD_PROGRAM          0x10
#define CMD_ERASE            0x20
#define CMD_PROGRAM_ALT      0x40
#define CMD_CLEAR_STATUS     0x50
#define CMD_LOCK             0x60
#define CMD_READ_STATUS      0x70
#define CMD_READ_ID          0x90
#define CMD_CFI_QUERY        0x98
#define CMD_AMD_RESET        0xf0    /* AMD's reset: probing software sends it */
#define CMD_READ_ARRAY       0xff
/* Second cycles */
#define CMD_CONFIRM          0xd0
#define CMD_LOCK_SET         0x01

enum mode {
  MODE_ARRAY,
  MODE_STATUS,
  MODE_QUERY,
  MODE_ID,
};

enum pending {
  PENDING_NONE,
  PENDING_PROGRAM,
  PENDING_ERASE,
  PENDING_LOCK,
};

struct vmm_pflash {
  char *path;
  char *name;                /* the file's base name, for logs */
  int fd;
  bool readonly;
  uint64_t base, size;
  uint32_t block_size;
  uint8_t *mem;              /* the image: SIZE bytes, page-aligned (mmap) */
  uint8_t *erased;           /* a block of 0xff, what an erase writes; NULL if read-only */
  uint8_t cfi[CFI_LEN];
  const struct vmm_pflash_ops *ops;
  void *opaque;

  pthread_mutex_t lock;      /* everything below, and the bytes of MEM */
  enum mode mode;
  enum pending pending;
  uint8_t status;
  int handle;                /* the read-only mapping's, or -1 when not mapped */
  int64_t dirty_block;       /* the block written since the last sync, or -1 */
  struct vmm_ratelimit rl;
};

/* ---- the CFI table ---------------------------------------------------------------- */

static unsigned
ceil_log2 (uint64_t v)
{
  unsigned n = 0;

  while ((1ULL << n) < v)
    n++;
  return n;
}

/* The query table of an x8 device with one region of uniform blocks,
 * Intel's command set and no write buffer; byte N answers at offset N. */
static void
fill_cfi (struct vmm_pflash *flash)
{
  uint8_t *t = flash->cfi;
  uint64_t blocks = flash->size / flash->block_size;
  uint32_t block_units = flash->block_size / 256;

  memset (t, 0, CFI_LEN);
  t[0x10] = 'Q';
  t[0x11] = 'R';
  t[0x12] = 'Y';
  t[0x13] = 0x01;            /* primary command set: Intel/Sharp extended */
  t[0x14] = 0x00;
  t[0x15] = 0x31;            /* its extended table at 0x31 */
  t[0x16] = 0x00;
  /* 0x17-0x1a: no alternate command set */
  t[0x1b] = 0x27;            /* Vcc 2.7 V .. 3.6 V */
  t[0x1c] = 0x36;
  /* 0x1d-0x1e: no Vpp pin */
  t[0x1f] = 0x04;            /* typical byte program: 2^4 us */
  t[0x20] = 0x00;            /* no write buffer */
  t[0x21] = 0x0a;            /* typical block erase: 2^10 ms */
  t[0x22] = 0x00;            /* no chip erase */
  t[0x23] = 0x04;            /* maximum: 2^4 times typical */
  t[0x24] = 0x00;
  t[0x25] = 0x04;
  t[0x26] = 0x00;
  /* The size as a power of two: rounded up, for images (OVMF's variables)
   * that are not one; the block region below gives the exact size. */
  t[0x27] = (uint8_t) ceil_log2 (flash->size);
  t[0x28] = 0x00;            /* interface: x8 only */
  t[0x29] = 0x00;
  t[0x2a] = 0x00;            /* multi-byte write: 2^0, i.e. none */
  t[0x2b] = 0x00;
  t[0x2c] = 0x01;            /* one erase block region: */
  t[0x2d] = (uint8_t) (blocks - 1);            /*   blocks - 1 */
  t[0x2e] = (uint8_t) ((blocks - 1) >> 8);
  t[0x2f] = (uint8_t) block_units;             /*   the block size / 256 */
  t[0x30] = (uint8_t) (block_units >> 8);
  /* Intel's primary extended table, version 1.0: no optional features */
  t[0x31] = 'P';
  t[0x32] = 'R';
  t[0x33] = 'I';
  t[0x34] = '1';
  t[0x35] = '0';
  t[0x3a] = 0x00;            /* no status register bits beyond the basic ones */
  t[0x3f] = 0x01;            /* one protection field */
}

/* ---- the file --------------------------------------------------------------------- */

/* Writes the bytes a program or erase changes. 0 or -errno. */
static int
write_file (struct vmm_pflash *flash, const void *data, size_t len, uint64_t offset)
{
  const uint8_t *p = data;

  while (len > 0)
    {
      ssize_t n = pwrite (flash->fd, p, len, (off_t) offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        return -EIO;
      p += n;
      len -= (size_t) n;
      offset += (uint64_t) n;
    }
  return 0;
}

static int
sync_locked (struct vmm_pflash *flash)
{
  if (flash->dirty_block < 0)
    return 0;
  flash->dirty_block = -1;
  if (fdatasync (flash->fd) < 0)
    {
      int ret = -errno;

      /* The guest finds out at its next status read, as it would about a
       * program the chip could not complete. */
      flash->status |= VMM_PFLASH_SR_PROGRAM_ERROR;
      vmm_log_limited (&flash->rl, VMM_LOG_ERROR, "pflash %s: cannot sync: %s", flash->name,
                       g_strerror (-ret));
      return ret;
    }
  return 0;
}

/* Called before changing BLOCK: keeps the unsynced bytes within one block. */
static void
sync_other_block (struct vmm_pflash *flash, uint64_t block)
{
  if (flash->dirty_block >= 0 && (uint64_t) flash->dirty_block != block)
    sync_locked (flash);
}

/* ---- modes and the mapping ------------------------------------------------------- */

static void
set_mode (struct vmm_pflash *flash, enum mode mode)
{
  flash->mode = mode;
  if (mode == MODE_ARRAY)
    {
      flash->pending = PENDING_NONE;
      sync_locked (flash);
      if (flash->handle < 0)
        {
          int handle = flash->ops->map (flash->opaque, flash->base, flash->size, flash->mem,
                                        true);

          /* Without the mapping, reads still come here and are answered
           * from memory: slower, not wrong. The next return to read array
           * tries again. */
          if (handle < 0)
            vmm_log_limited (&flash->rl, VMM_LOG_WARNING, "pflash %s: cannot map: %s",
                             flash->name, g_strerror (-handle));
          else
            flash->handle = handle;
        }
    }
  else if (flash->handle >= 0)
    {
      flash->ops->unmap (flash->opaque, flash->handle);
      flash->handle = -1;
    }
}

/* ---- commands ------------------------------------------------------------------- */

static void
program (struct vmm_pflash *flash, uint64_t offset, const uint8_t *data, uint32_t len)
{
  uint64_t first = offset / flash->block_size;
  uint64_t last = (offset + len - 1) / flash->block_size;
  int ret;

  flash->status |= VMM_PFLASH_SR_READY;
  if (flash->readonly)
    {
      flash->status |= VMM_PFLASH_SR_PROGRAM_ERROR | VMM_PFLASH_SR_LOCKED;
      return;
    }
  sync_other_block (flash, first);
  ret = write_file (flash, data, len, offset);
  if (ret < 0)
    {
      flash->status |= VMM_PFLASH_SR_PROGRAM_ERROR;
      vmm_log_limited (&flash->rl, VMM_LOG_ERROR, "pflash %s: cannot write: %s", flash->name,
                       g_strerror (-ret));
      return;
    }
  memcpy (flash->mem + offset, data, len);
  flash->dirty_block = (int64_t) first;
  /* A wide write across a block boundary: sync both now, so the one-block
   * rule holds. */
  if (last != first)
    sync_locked (flash);
}

static void
erase (struct vmm_pflash *flash, uint64_t offset)
{
  uint64_t block = offset / flash->block_size;
  uint64_t start = block * flash->block_size;
  int ret;

  flash->status |= VMM_PFLASH_SR_READY;
  if (flash->readonly)
    {
      flash->status |= VMM_PFLASH_SR_ERASE_ERROR | VMM_PFLASH_SR_LOCKED;
      return;
    }
  sync_other_block (flash, block);
  ret = write_file (flash, flash->erased, flash->block_size, start);
  if (ret < 0)
    {
      flash->status |= VMM_PFLASH_SR_ERASE_ERROR;
      vmm_log_limited (&flash->rl, VMM_LOG_ERROR, "pflash %s: cannot erase: %s", flash->name,
                       g_strerror (-ret));
      return;
    }
  memset (flash->mem + start, 0xff, flash->block_size);
  flash->dirty_block = (int64_t) block;
}

static void
command (struct vmm_pflash *flash, uint64_t offset, uint8_t cmd)
{
  switch (cmd)
    {
    case CMD_READ_ARRAY:
    case CMD_READ_ARRAY_QEMU:
    case CMD_AMD_RESET:
      set_mode (flash, MODE_ARRAY);
      break;
    case CMD_CLEAR_STATUS:
      flash->status = 0;
      set_mode (flash, MODE_ARRAY);
      break;
    case CMD_READ_STATUS:
      set_mode (flash, MODE_STATUS);
      break;
    case CMD_READ_ID:
      set_mode (flash, MODE_ID);
      break;
    case CMD_CFI_QUERY:
      set_mode (flash, MODE_QUERY);
      break;
    case CMD_PROGRAM:
    case CMD_PROGRAM_ALT:
      set_mode (flash, MODE_STATUS);
      flash->pending = PENDING_PROGRAM;
      break;
    case CMD_ERASE:
      set_mode (flash, MODE_STATUS);
      flash->pending = PENDING_ERASE;
      break;
    case CMD_LOCK:
      set_mode (flash, MODE_STATUS);
      flash->pending = PENDING_LOCK;
      break;
    default:
      vmm_log_guest (&flash->rl, "pflash %s: unknown command 0x%02x at 0x%llx", flash->name,
                     cmd, (unsigned long long) offset);
      set_mode (flash, MODE_ARRAY);
      break;
    }
}

/* The second cycle of the command waiting for it */
static void
second_cycle (struct vmm_pflash *flash, uint64_t offset, const uint8_t *data, uint32_t len)
{
  enum pending pending = flash->pending;

  flash->pending = PENDING_NONE;
  switch (pending)
    {
    case PENDING_PROGRAM:
      program (flash, offset, data, len);
      break;
    case PENDING_ERASE:
      if (data[0] == CMD_CONFIRM)
        erase (flash, offset);
      else if (data[0] == CMD_READ_ARRAY)
        set_mode (flash, MODE_ARRAY);
      else
        {
          /* An improper command sequence: the chip sets both error bits. */
          flash->status |= VMM_PFLASH_SR_ERASE_ERROR | VMM_PFLASH_SR_PROGRAM_ERROR;
          set_mode (flash, MODE_ARRAY);
        }
      break;
    case PENDING_LOCK:
      /* Block locks are not kept: every block of a writable device is
       * unlocked, every block of a read-only one locked. */
      if (data[0] == CMD_CONFIRM || data[0] == CMD_LOCK_SET)
        flash->status |= VMM_PFLASH_SR_READY;
      else
        set_mode (flash, MODE_ARRAY);
      break;
    case PENDING_NONE:
    default:
      g_assert_not_reached ();
    }
}

/* ---- MMIO ------------------------------------------------------------------------ */

static uint8_t
read_byte (struct vmm_pflash *flash, uint64_t offset)
{
  if (offset >= flash->size)
    return 0xff;
  switch (flash->mode)
    {
    case MODE_ARRAY:
      return flash->mem[offset];
    case MODE_STATUS:
      return flash->status;
    case MODE_QUERY:
      /* The table repeats every 256 bytes; past its end, zeroes. */
      return (offset & 0xff) < CFI_LEN ? flash->cfi[offset & 0xff] : 0;
    case MODE_ID:
      switch (offset % flash->block_size)
        {
        case 0:
          return VMM_PFLASH_MANUFACTURER;
        case 1:
          return VMM_PFLASH_DEVICE;
        case 2:     /* the block's lock status */
          return flash->readonly ? 0x01 : 0x00;
        default:
          return 0;
        }
    default:
      g_assert_not_reached ();
    }
}

static void
pflash_read (void *opaque, uint64_t offset, void *data, uint32_t len)
{
  struct vmm_pflash *flash = opaque;
  uint8_t *out = data;

  pthread_mutex_lock (&flash->lock);
  /* A status the guest can see as "ready" is one whose writes are on disk. */
  if (flash->mode == MODE_STATUS)
    sync_locked (flash);
  /* The device is 8 bits wide: a wider access reads consecutive bytes,
   * each answering for itself (the status in every byte). */
  for (uint32_t i = 0; i < len && i < 8; i++)
    out[i] = read_byte (flash, offset + i);
  pthread_mutex_unlock (&flash->lock);
}

static void
pflash_write (void *opaque, uint64_t offset, const void *data, uint32_t len)
{
  struct vmm_pflash *flash = opaque;

  if (len == 0 || len > 8 || offset >= flash->size)
    return;
  if (len > flash->size - offset)
    len = (uint32_t) (flash->size - offset);

  pthread_mutex_lock (&flash->lock);
  /* Commands are the low byte of a write, as QEMU takes them; a program's
   * data is the whole write. */
  if (flash->pending != PENDING_NONE)
    second_cycle (flash, offset, data, len);
  else
    command (flash, offset, *(const uint8_t *) data);
  pthread_mutex_unlock (&flash->lock);
}

const struct vmm_io_ops vmm_pflash_ops = {
  .read = pflash_read,
  .write = pflash_write,
};

/* ---- set-up ---------------------------------------------------------------------- */

/* One advisory lock per open image, as block/block.c takes: a writer
 * excludes everyone, readers exclude writers. OFD locks belong to the open
 * file, so they also work between threads of one process. */
static int
lock_file (int fd, bool write)
{
  struct flock fl = {
    .l_type = write ? F_WRLCK : F_RDLCK,
    .l_whence = SEEK_SET,
  };

  if (fcntl (fd, F_OFD_SETLK, &fl) < 0)
    {
      if (errno == EAGAIN || errno == EACCES)
        return -EBUSY;
      /* File systems without locks: go on unlocked. */
      if (errno == ENOLCK || errno == EINVAL || errno == EOPNOTSUPP)
        return 0;
      return -errno;
    }
  return 0;
}

static int
read_file (int fd, uint8_t *buf, uint64_t size)
{
  uint64_t done = 0;

  while (done < size)
    {
      ssize_t n = pread (fd, buf + done, size - done, (off_t) done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        return -EIO;       /* the file shrank under us */
      done += (uint64_t) n;
    }
  return 0;
}

static void
flash_destroy (struct vmm_pflash *flash)
{
  if (flash->fd >= 0)
    close (flash->fd);
  if (flash->mem != NULL)
    munmap (flash->mem, flash->size);
  g_free (flash->erased);
  g_free (flash->name);
  g_free (flash->path);
  pthread_mutex_destroy (&flash->lock);
  g_free (flash);
}

struct vmm_pflash *
vmm_pflash_new (const struct vmm_pflash_config *config, const struct vmm_pflash_ops *ops,
                void *opaque, GError **error)
{
  struct vmm_pflash *flash;
  struct stat st;
  uint32_t block_size;
  int ret;

  g_return_val_if_fail (config != NULL && config->path != NULL, NULL);
  g_return_val_if_fail (ops != NULL && ops->map != NULL && ops->unmap != NULL, NULL);
  g_return_val_if_fail (config->end % MIN_BLOCK_SIZE == 0, NULL);
  block_size = config->block_size ? config->block_size : DEFAULT_BLOCK_SIZE;
  g_return_val_if_fail (block_size >= MIN_BLOCK_SIZE && block_size <= MAX_BLOCK_SIZE
                        && (block_size & (block_size - 1)) == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  flash = g_new0 (struct vmm_pflash, 1);
  pthread_mutex_init (&flash->lock, NULL);
  flash->fd = -1;
  flash->handle = -1;
  flash->dirty_block = -1;
  flash->path = g_strdup (config->path);
  flash->name = g_path_get_basename (config->path);
  flash->readonly = config->readonly;
  flash->block_size = block_size;
  flash->ops = ops;
  flash->opaque = opaque;

  flash->fd = open (config->path, (config->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (flash->fd < 0)
    {
      ret = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (ret),
                   _("Cannot open the firmware flash image %s: %s"), config->path,
                   g_strerror (ret));
      goto fail;
    }
  ret = lock_file (flash->fd, !config->readonly);
  if (ret == -EBUSY)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   _("The firmware flash image %s is in use by another virtual machine"),
                   config->path);
      goto fail;
    }
  if (ret < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (-ret),
                   _("Cannot lock the firmware flash image %s: %s"), config->path,
                   g_strerror (-ret));
      goto fail;
    }
  if (fstat (flash->fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The firmware flash image %s is not a regular file"), config->path);
      goto fail;
    }
  if (st.st_size == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The firmware flash image %s is empty"), config->path);
      goto fail;
    }
  flash->size = (uint64_t) st.st_size;
  if (flash->size > VMM_PFLASH_MAX_SIZE || flash->size > config->end)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The firmware flash image %s is too large: %llu bytes, at most %llu"),
                   config->path, (unsigned long long) flash->size,
                   (unsigned long long) MIN (VMM_PFLASH_MAX_SIZE, config->end));
      goto fail;
    }
  if (flash->size % block_size != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The firmware flash image %s is %llu bytes, not a whole number of "
                     "%u-byte blocks"),
                   config->path, (unsigned long long) flash->size, block_size);
      goto fail;
    }
  flash->base = config->end - flash->size;

  flash->mem = mmap (NULL, flash->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (flash->mem == MAP_FAILED)
    {
      ret = errno;
      flash->mem = NULL;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (ret),
                   _("Cannot read the firmware flash image %s: %s"), config->path,
                   g_strerror (ret));
      goto fail;
    }
  ret = read_file (flash->fd, flash->mem, flash->size);
  if (ret < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (-ret),
                   _("Cannot read the firmware flash image %s: %s"), config->path,
                   g_strerror (-ret));
      goto fail;
    }
  if (!config->readonly)
    {
      flash->erased = g_malloc (block_size);
      memset (flash->erased, 0xff, block_size);
    }
  fill_cfi (flash);

  flash->status = VMM_PFLASH_SR_READY;
  flash->mode = MODE_ARRAY;
  flash->handle = ops->map (opaque, flash->base, flash->size, flash->mem, true);
  if (flash->handle < 0)
    {
      ret = -flash->handle;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (ret),
                   _("Cannot map the firmware flash image %s: %s"), config->path,
                   g_strerror (ret));
      flash->handle = -1;
      goto fail;
    }
  return flash;

fail:
  flash_destroy (flash);
  return NULL;
}

void
vmm_pflash_free (struct vmm_pflash *flash)
{
  if (flash == NULL)
    return;
  pthread_mutex_lock (&flash->lock);
  if (flash->handle >= 0)
    flash->ops->unmap (flash->opaque, flash->handle);
  flash->handle = -1;
  sync_locked (flash);
  pthread_mutex_unlock (&flash->lock);
  /* closing the file drops its lock */
  flash_destroy (flash);
}

uint64_t
vmm_pflash_base (const struct vmm_pflash *flash)
{
  return flash->base;
}

uint64_t
vmm_pflash_size (const struct vmm_pflash *flash)
{
  return flash->size;
}

void
vmm_pflash_reset (struct vmm_pflash *flash)
{
  pthread_mutex_lock (&flash->lock);
  flash->status = VMM_PFLASH_SR_READY;
  set_mode (flash, MODE_ARRAY);
  pthread_mutex_unlock (&flash->lock);
}

int
vmm_pflash_sync (struct vmm_pflash *flash)
{
  int ret;

  pthread_mutex_lock (&flash->lock);
  ret = sync_locked (flash);
  pthread_mutex_unlock (&flash->lock);
  return ret;
}

/* ---- saved state -------------------------------------------------------------------- */

#define STATE_VERSION 1
#define STATUS_BITS   (VMM_PFLASH_SR_READY | VMM_PFLASH_SR_ERASE_ERROR | \
                       VMM_PFLASH_SR_PROGRAM_ERROR | VMM_PFLASH_SR_LOCKED)

void
vmm_pflash_save (const struct vmm_pflash *flash, struct vmm_state_writer *w, const char *name)
{
  pthread_mutex_t *lock = (pthread_mutex_t *) &flash->lock;

  pthread_mutex_lock (lock);
  vmm_state_begin (w, name, STATE_VERSION);
  vmm_state_put_u8 (w, (uint8_t) flash->mode);
  vmm_state_put_u8 (w, (uint8_t) flash->pending);
  vmm_state_put_u8 (w, flash->status);
  vmm_state_end (w);
  pthread_mutex_unlock (lock);
}

gboolean
vmm_pflash_load (struct vmm_pflash *flash, const struct vmm_state_file *f, const char *name,
                 bool apply, GError **error)
{
  struct vmm_state_reader r;
  uint8_t mode, pending, status;

  if (!vmm_state_reader_init (&r, f, name, STATE_VERSION, error))
    return FALSE;
  mode = vmm_state_get_u8 (&r);
  pending = vmm_state_get_u8 (&r);
  status = vmm_state_get_u8 (&r);
  if (mode > MODE_ID || pending > PENDING_LOCK)
    vmm_state_reader_fail (&r, N_("the flash is in a mode it does not know"));
  /* A first cycle leaves the device reading its status */
  if (pending != PENDING_NONE && mode != MODE_STATUS)
    vmm_state_reader_fail (&r, N_("the flash waits for a second cycle outside status mode"));
  if (status & ~STATUS_BITS)
    vmm_state_reader_fail (&r, N_("the flash’s status register has unknown bits set"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  if (!apply)
    return TRUE;

  pthread_mutex_lock (&flash->lock);
  flash->status = status;
  set_mode (flash, (enum mode) mode);
  flash->pending = (enum pending) pending;
  pthread_mutex_unlock (&flash->lock);
  return TRUE;
}
