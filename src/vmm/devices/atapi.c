/* devices/atapi.c: the SCSI/MMC side of an ATAPI CD-ROM
 *
 * What a guest's CD-ROM driver and a firmware's boot code ask of a drive:
 * the readiness dance (TEST UNIT READY, REQUEST SENSE, the unit attention
 * after a medium change), identification (INQUIRY, GET CONFIGURATION,
 * MODE SENSE), the disc's layout (READ CAPACITY, READ TOC, READ DISC
 * INFORMATION), polled media events, the tray, and READ(10)/(12). Every
 * reply is cut to the allocation length the guest gave.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "devices/atapi.h"

#include <string.h>

#include <glib/gi18n.h>

#include "viv-bytes.h"

/* Above this size a disc is a DVD (an 80-minute CD holds 360000 sectors) */
#define CD_MAX_SECTORS 360000u

#define PROFILE_CDROM  0x0008
#define PROFILE_DVDROM 0x0010

void
atapi_set_sense (struct atapi_state *s, uint8_t key, uint8_t asc, uint8_t ascq)
{
  s->sense_key = key;
  s->asc = asc;
  s->ascq = ascq;
}

void
atapi_set_medium (struct atapi_state *s, struct vmm_block *medium)
{
  atapi_set_medium_file (s, NULL, 0, 0);
  s->medium = medium;
  if (medium != NULL)
    {
      s->sectors = vmm_block_size (medium) / ATAPI_SECTOR;
      s->tray_open = false;
      s->unit_attention = true;
      s->event = ATAPI_EVENT_NEW_MEDIA;
    }
  else
    {
      s->sectors = 0;
      s->tray_open = true;
      s->prevent = false;
      s->event = ATAPI_EVENT_MEDIA_REMOVAL;
    }
}

void
atapi_set_medium_file (struct atapi_state *s, char *path, uint64_t size, int64_t mtime_ns)
{
  g_free (s->path);
  s->path = path;
  s->file_size = size;
  s->file_mtime_ns = mtime_ns;
}

static void
check (struct atapi_state *s, struct atapi_result *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
  atapi_set_sense (s, key, asc, ascq);
  r->check = true;
  r->len = 0;
}

static void
invalid_field (struct atapi_state *s, struct atapi_result *r)
{
  check (s, r, ATAPI_SENSE_ILLEGAL_REQUEST, 0x24, 0x00);
}

static bool
need_medium (struct atapi_state *s, struct atapi_result *r)
{
  if (s->medium != NULL)
    return true;
  check (s, r, ATAPI_SENSE_NOT_READY, 0x3a, s->tray_open ? 0x02 : 0x01);
  return false;
}

static uint16_t
current_profile (const struct atapi_state *s)
{
  if (s->medium == NULL)
    return 0;
  return s->sectors > CD_MAX_SECTORS ? PROFILE_DVDROM : PROFILE_CDROM;
}

/* Writes LBA as MSF (with the 2-second lead-in) at P: 0, M, S, F */
static void
put_msf (uint8_t *p, uint64_t lba)
{
  uint64_t f = lba + 150;

  p[0] = 0;
  p[1] = (uint8_t) (f / (75 * 60));
  p[2] = (uint8_t) (f / 75 % 60);
  p[3] = (uint8_t) (f % 75);
}

static void
put_addr (uint8_t *p, uint64_t lba, bool msf)
{
  if (msf)
    put_msf (p, lba);
  else
    viv_put_be32 (p, (uint32_t) lba);
}

static void
inquiry (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf, struct atapi_result *r)
{
  if (cdb[1] & 1)   /* vital product data: none */
    {
      invalid_field (s, r);
      return;
    }
  buf[0] = 0x05;          /* CD/DVD device */
  buf[1] = 0x80;          /* removable */
  buf[2] = 0x05;          /* SPC-3 */
  buf[3] = 0x32;          /* response format 2, ATAPI version 3 */
  buf[4] = 36 - 5;
  memcpy (&buf[8], "VIVARIUM", 8);
  memcpy (&buf[16], "CD-ROM          ", 16);
  memcpy (&buf[32], "1.0 ", 4);
  r->len = 36;
}

static uint32_t
mode_page_current (const struct atapi_state *s, uint8_t page, uint8_t *p)
{
  switch (page)
    {
    case 0x01:   /* read/write error recovery */
      memset (p, 0, 12);
      p[0] = 0x01;
      p[1] = 10;
      p[3] = 5;  /* read retry count */
      return 12;
    case 0x2a:   /* CD/DVD capabilities and mechanical status */
      memset (p, 0, 22);
      p[0] = 0x2a;
      p[1] = 20;
      p[2] = 0x3b;   /* reads CD-R, CD-RW, method 2, DVD-ROM, DVD-R, DVD-RAM */
      p[4] = 0x71;   /* audio play, mode 2 forms 1 and 2, multi-session */
      p[5] = 0x03;   /* CD-DA, accurate stream */
      /* tray loading, eject, prevent jumper off, locked state */
      p[6] = (uint8_t) (0x20 | 0x08 | (s->prevent ? 0x02 : 0) | 0x01);
      p[7] = 0x03;   /* separate volume and mute */
      viv_put_be16 (&p[8], 706);   /* max read speed, kB/s (4x) */
      viv_put_be16 (&p[10], 2);    /* volume levels */
      viv_put_be16 (&p[12], 512);  /* buffer, KiB */
      viv_put_be16 (&p[14], 706);  /* current read speed */
      return 22;
    default:
      return 0;
    }
}

/* Writes PAGE at P; CHANGEABLE: the mask of what MODE SELECT may change,
 * which is nothing. Returns its length, 0 for a page we do not have. */
static uint32_t
mode_page (const struct atapi_state *s, uint8_t page, bool changeable, uint8_t *p)
{
  uint32_t len = mode_page_current (s, page, p);

  if (changeable && len > 2)
    memset (&p[2], 0, len - 2);
  return len;
}

static void
mode_sense (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf, struct atapi_result *r)
{
  bool ten = cdb[0] == 0x5a;
  uint32_t hdr = ten ? 8 : 4;
  uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3f;
  uint32_t len = hdr;

  if (pc == 3)
    {
      check (s, r, ATAPI_SENSE_ILLEGAL_REQUEST, 0x39, 0x00);   /* saving not supported */
      return;
    }
  if (page == 0x3f)
    {
      len += mode_page (s, 0x01, pc == 1, &buf[len]);
      len += mode_page (s, 0x2a, pc == 1, &buf[len]);
    }
  else
    {
      uint32_t n = mode_page (s, page, pc == 1, &buf[len]);

      if (n == 0)
        {
          invalid_field (s, r);
          return;
        }
      len += n;
    }
  if (ten)
    {
      viv_put_be16 (&buf[0], (uint16_t) (len - 2));
      buf[2] = s->medium != NULL ? 0x01 : 0x70;   /* 120 mm data disc, or none */
    }
  else
    {
      buf[0] = (uint8_t) (len - 1);
      buf[1] = s->medium != NULL ? 0x01 : 0x70;
    }
  r->len = len;
}

static uint32_t
feature (uint8_t *p, uint16_t code, uint8_t flags, uint8_t len)
{
  viv_put_be16 (p, code);
  p[2] = flags;
  p[3] = len;
  return 4;
}

static void
get_configuration (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf,
                   struct atapi_result *r)
{
  uint8_t rt = cdb[1] & 3;
  uint16_t start = viv_get_be16 (&cdb[2]);
  uint16_t profile = current_profile (s);
  uint32_t len = 8;

  if (rt == 3)
    {
      invalid_field (s, r);
      return;
    }
  viv_put_be16 (&buf[6], profile);
  /* 0000h profile list: DVD-ROM, CD-ROM (always current: persistent) */
  if (start == 0)
    {
      len += feature (&buf[len], 0x0000, 0x03, 8);
      viv_put_be16 (&buf[len], PROFILE_DVDROM);
      buf[len + 2] = profile == PROFILE_DVDROM;
      viv_put_be16 (&buf[len + 4], PROFILE_CDROM);
      buf[len + 6] = profile == PROFILE_CDROM;
      len += 8;
    }
  /* 0001h core: ATAPI, persistent and current */
  if (start <= 0x0001 && !(rt == 2 && start != 0x0001))
    {
      len += feature (&buf[len], 0x0001, 0x0b, 8);
      viv_put_be32 (&buf[len], 2);   /* physical interface: ATAPI */
      buf[len + 4] = 0x01;           /* DBE */
      len += 8;
    }
  /* 0002h morphing: operational change events, polled */
  if (start <= 0x0002 && !(rt == 2 && start != 0x0002))
    {
      len += feature (&buf[len], 0x0002, 0x07, 4);
      buf[len] = 0x02;
      len += 4;
    }
  /* 0003h removable medium: tray, eject, lock */
  if (start <= 0x0003 && !(rt == 2 && start != 0x0003))
    {
      len += feature (&buf[len], 0x0003, 0x03, 4);
      buf[len] = (uint8_t) (0x20 | 0x08 | 0x01 | (s->prevent ? 0x04 : 0));
      len += 4;
    }
  viv_put_be32 (&buf[0], len - 4);
  r->len = len;
}

static void
event_status (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf, struct atapi_result *r)
{
  if (!(cdb[1] & 1))   /* asynchronous notification: not offered */
    {
      invalid_field (s, r);
      return;
    }
  buf[3] = 0x10;   /* supported classes: media */
  if (!(cdb[4] & 0x10))
    {
      viv_put_be16 (&buf[0], 2);
      buf[2] = 0x80;   /* NEA: no event of a class asked for */
      r->len = 4;
      return;
    }
  viv_put_be16 (&buf[0], 6);
  buf[2] = 0x04;       /* media class */
  buf[4] = s->event;
  buf[5] = (uint8_t) ((s->medium != NULL ? 0x02 : 0) | (s->tray_open ? 0x01 : 0));
  s->event = ATAPI_EVENT_NONE;
  r->len = 8;
}

static void
read_toc (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf, struct atapi_result *r)
{
  bool msf = cdb[1] & 2;
  uint8_t format = cdb[2] & 0x0f, track = cdb[6];
  uint32_t len = 4;

  if (!need_medium (s, r))
    return;
  if (format == 0 && cdb[9] >> 6)   /* the old place for the format (SFF-8020) */
    format = cdb[9] >> 6;
  switch (format)
    {
    case 0:   /* TOC: track 1 and the lead-out */
      if (track > 1 && track != 0xaa)
        {
          invalid_field (s, r);
          return;
        }
      buf[2] = 1;
      buf[3] = 1;
      if (track <= 1)
        {
          buf[len + 1] = 0x14;   /* ADR 1, data track */
          buf[len + 2] = 1;
          put_addr (&buf[len + 4], 0, msf);
          len += 8;
        }
      buf[len + 1] = 0x16;
      buf[len + 2] = 0xaa;
      put_addr (&buf[len + 4], s->sectors, msf);
      len += 8;
      break;
    case 1:   /* session information: one session from track 1 */
      buf[2] = 1;
      buf[3] = 1;
      buf[len + 1] = 0x14;
      buf[len + 2] = 1;
      put_addr (&buf[len + 4], 0, msf);
      len += 8;
      break;
    case 2:   /* full TOC: points A0, A1, A2 and track 1, in MSF */
      {
        static const uint8_t points[] = { 0xa0, 0xa1, 0xa2, 0x01 };

        buf[2] = 1;
        buf[3] = 1;
        for (unsigned i = 0; i < G_N_ELEMENTS (points); i++)
          {
            uint8_t *d = &buf[len];

            memset (d, 0, 11);
            d[0] = 1;       /* session */
            d[1] = 0x14;
            d[3] = points[i];
            if (points[i] == 0xa0)
              d[8] = 1;     /* first track; disc type 0: CD-ROM */
            else if (points[i] == 0xa1)
              d[8] = 1;     /* last track */
            else if (points[i] == 0xa2)
              put_msf (&d[7], s->sectors);
            else
              put_msf (&d[7], 0);
            len += 11;
          }
        break;
      }
    default:
      invalid_field (s, r);
      return;
    }
  viv_put_be16 (&buf[0], (uint16_t) (len - 2));
  r->len = len;
}

static void
disc_information (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf,
                  struct atapi_result *r)
{
  if (cdb[1] & 7)   /* only standard disc information */
    {
      invalid_field (s, r);
      return;
    }
  if (!need_medium (s, r))
    return;
  viv_put_be16 (&buf[0], 32);
  buf[2] = 0x0e;   /* complete session, finalized disc */
  buf[3] = 1;      /* first track */
  buf[4] = 1;      /* sessions */
  buf[5] = 1;      /* first track of the last session */
  buf[6] = 1;      /* its last track */
  buf[7] = 0x20;   /* unrestricted use */
  r->len = 34;
}

static void
start_stop (struct atapi_state *s, const uint8_t *cdb, struct atapi_result *r)
{
  bool loej = cdb[4] & 2, start = cdb[4] & 1;

  if (!loej)
    return;
  if (start)   /* close the tray: nothing to load that the host did not put in */
    {
      s->tray_open = false;
      return;
    }
  if (s->prevent)
    {
      check (s, r, ATAPI_SENSE_ILLEGAL_REQUEST, 0x53, 0x02);   /* removal prevented */
      return;
    }
  r->ejected = s->medium;
  atapi_set_medium (s, NULL);
}

void
atapi_command (struct atapi_state *s, const uint8_t *cdb, uint8_t *buf, struct atapi_result *r)
{
  uint32_t alloc = 0;
  uint8_t op = cdb[0];

  memset (r, 0, sizeof *r);
  memset (buf, 0, ATAPI_BUF_SIZE);

  /* A unit attention fails the next command but these (SPC-3, 5.9.7;
   * MMC-6 adds GET EVENT STATUS NOTIFICATION and GET CONFIGURATION) */
  if (s->unit_attention && op != 0x12 && op != 0x03 && op != 0x4a && op != 0x46)
    {
      s->unit_attention = false;
      check (s, r, ATAPI_SENSE_UNIT_ATTENTION, 0x28, 0x00);
      return;
    }

  switch (op)
    {
    case 0x00:   /* TEST UNIT READY */
      need_medium (s, r);
      break;
    case 0x03:   /* REQUEST SENSE */
      alloc = cdb[4];
      buf[0] = 0x70;
      if (s->unit_attention)
        {
          s->unit_attention = false;
          atapi_set_sense (s, ATAPI_SENSE_UNIT_ATTENTION, 0x28, 0x00);
        }
      buf[2] = s->sense_key;
      buf[7] = 10;
      buf[12] = s->asc;
      buf[13] = s->ascq;
      r->len = 18;
      atapi_set_sense (s, ATAPI_SENSE_NONE, 0, 0);
      goto out;   /* keeps nothing to clear */
    case 0x12:   /* INQUIRY */
      alloc = viv_get_be16 (&cdb[3]);
      inquiry (s, cdb, buf, r);
      break;
    case 0x1a:   /* MODE SENSE(6) */
      alloc = cdb[4];
      mode_sense (s, cdb, buf, r);
      break;
    case 0x5a:   /* MODE SENSE(10) */
      alloc = viv_get_be16 (&cdb[7]);
      mode_sense (s, cdb, buf, r);
      break;
    case 0x1b:   /* START STOP UNIT */
      start_stop (s, cdb, r);
      break;
    case 0x1e:   /* PREVENT ALLOW MEDIUM REMOVAL */
      s->prevent = cdb[4] & 1;
      break;
    case 0x25:   /* READ CAPACITY */
      if (!need_medium (s, r))
        break;
      viv_put_be32 (&buf[0], s->sectors ? (uint32_t) MIN (s->sectors - 1, 0xffffffffu) : 0);
      viv_put_be32 (&buf[4], ATAPI_SECTOR);
      r->len = 8;
      alloc = 8;
      break;
    case 0x28:   /* READ(10) */
    case 0xa8:   /* READ(12) */
      {
        uint64_t lba = viv_get_be32 (&cdb[2]);
        uint64_t count = op == 0x28 ? viv_get_be16 (&cdb[7]) : viv_get_be32 (&cdb[6]);

        if (!need_medium (s, r))
          break;
        if (lba + count > s->sectors)
          {
            check (s, r, ATAPI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00);   /* LBA out of range */
            break;
          }
        r->read = true;
        r->offset = lba * ATAPI_SECTOR;
        r->read_len = count * ATAPI_SECTOR;
        break;
      }
    case 0x2b:   /* SEEK(10) */
      need_medium (s, r);
      break;
    case 0x43:   /* READ TOC/PMA/ATIP */
      alloc = viv_get_be16 (&cdb[7]);
      read_toc (s, cdb, buf, r);
      break;
    case 0x46:   /* GET CONFIGURATION */
      alloc = viv_get_be16 (&cdb[7]);
      get_configuration (s, cdb, buf, r);
      break;
    case 0x4a:   /* GET EVENT STATUS NOTIFICATION */
      alloc = viv_get_be16 (&cdb[7]);
      event_status (s, cdb, buf, r);
      break;
    case 0x51:   /* READ DISC INFORMATION */
      alloc = viv_get_be16 (&cdb[7]);
      disc_information (s, cdb, buf, r);
      break;
    case 0xbb:   /* SET CD SPEED */
      break;
    case 0xbd:   /* MECHANISM STATUS */
      alloc = viv_get_be16 (&cdb[8]);
      buf[1] = s->tray_open ? 0x10 : 0;
      r->len = 8;
      break;
    default:
      check (s, r, ATAPI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00);   /* invalid opcode */
      break;
    }
  if (!r->check)
    atapi_set_sense (s, ATAPI_SENSE_NONE, 0, 0);
out:
  if (!r->read && r->len > alloc)
    r->len = alloc;
}

/* ---- saved state -------------------------------------------------------------------- */

void
atapi_put (const struct atapi_state *s, struct vmm_state_writer *w)
{
  vmm_state_put_bool (w, s->medium != NULL);
  vmm_state_put_u64 (w, s->sectors);
  vmm_state_put_bool (w, s->unit_attention);
  vmm_state_put_bool (w, s->prevent);
  vmm_state_put_bool (w, s->tray_open);
  vmm_state_put_u8 (w, s->event);
  vmm_state_put_u8 (w, s->sense_key);
  vmm_state_put_u8 (w, s->asc);
  vmm_state_put_u8 (w, s->ascq);
  vmm_state_put_blob (w, s->path, s->path != NULL ? (uint32_t) strlen (s->path) : 0);
  vmm_state_put_u64 (w, s->file_size);
  vmm_state_put_u64 (w, (uint64_t) s->file_mtime_ns);
}

void
atapi_get (struct atapi_state *copy, bool *had_medium, struct vmm_state_reader *r,
           uint32_t version)
{
  memset (copy, 0, sizeof *copy);
  *had_medium = vmm_state_get_bool (r);
  copy->sectors = vmm_state_get_u64 (r);
  copy->unit_attention = vmm_state_get_bool (r);
  copy->prevent = vmm_state_get_bool (r);
  copy->tray_open = vmm_state_get_bool (r);
  copy->event = vmm_state_get_u8 (r);
  copy->sense_key = vmm_state_get_u8 (r);
  copy->asc = vmm_state_get_u8 (r);
  copy->ascq = vmm_state_get_u8 (r);
  if (version >= 2)
    {
      uint32_t n;
      const uint8_t *path = vmm_state_get_blob (r, 4096, &n);

      copy->file_size = vmm_state_get_u64 (r);
      copy->file_mtime_ns = (int64_t) vmm_state_get_u64 (r);
      if (path != NULL && n > 0)
        {
          if (memchr (path, 0, n) != NULL || !*had_medium)
            vmm_state_reader_fail (r, N_("the CD-ROM’s disc has a bad file name"));
          else
            copy->path = g_strndup ((const char *) path, n);
        }
    }
  if (copy->event > ATAPI_EVENT_MEDIA_REMOVAL || copy->sense_key > 0x0f)
    vmm_state_reader_fail (r, N_("the CD-ROM’s event or sense is unknown"));
  if (!*had_medium && copy->sectors != 0)
    vmm_state_reader_fail (r, N_("the CD-ROM’s empty tray has a size"));
}

void
atapi_restore (struct atapi_state *s, const struct atapi_state *copy, bool had_medium)
{
  struct vmm_block *medium = s->medium;
  uint64_t sectors = s->sectors;
  char *path = s->path;

  *s = *copy;
  s->medium = medium;
  s->sectors = sectors;
  s->path = path;
  if (had_medium != (medium != NULL) || copy->sectors != sectors)
    {
      s->unit_attention = true;
      if (medium != NULL)
        {
          s->tray_open = false;
          s->event = ATAPI_EVENT_NEW_MEDIA;
        }
      else
        {
          /* The tray as it was: a guest that did not open it finds the
           * drive empty, as after the host ejected the disc */
          s->prevent = false;
          s->event = ATAPI_EVENT_MEDIA_REMOVAL;
        }
    }
}
