/* viv-test-images.h: disc images for the tests, made with xorriso, and
 * disk images checked with qemu-img
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Debian's debian-installer-12-netboot-amd64 package: a real installer's
 * kernel and initrd, laid out on the discs as a netinst has them */
#define VIV_TEST_NETBOOT_DIR    "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"
#define VIV_TEST_NETBOOT_KERNEL VIV_TEST_NETBOOT_DIR "/linux"
#define VIV_TEST_NETBOOT_INITRD VIV_TEST_NETBOOT_DIR "/initrd.gz"

typedef struct
{
  char *debian11;  /* a Debian 11 netinst's volume id and layout */
  char *debian12;  /* the same as Debian 12, which Debian 12's osinfo-db does not know */
  char *unknown;   /* "SOMETHING_ELSE": a text file, nothing to boot */
} VivTestIsos;

/* xorriso -as mkisofs -V VOLUME_ID NAMING -o ISO TREE; NAMING picks the
 * names: "-J -R" (Joliet and Rock Ridge), "--norock" (plain ISO 9660) */
gboolean viv_test_run_xorriso (const char  *volume_id,
                               const char  *naming,
                               const char  *tree,
                               const char  *iso,
                               char       **reason);

/* Makes the three discs in DIR (a folder the test owns). FALSE, with
 * REASON saying what is missing, where they cannot be made here. */
gboolean viv_test_make_isos   (const char  *dir,
                               VivTestIsos *isos,
                               char       **reason);
void     viv_test_isos_clear  (VivTestIsos *isos);

/* qemu-img info agrees on the image's FORMAT and VIRTUAL_SIZE (a test
 * message, and no check, where qemu-img is missing) */
void     viv_test_check_with_qemu_img (const char *path,
                                       const char *format,
                                       guint64     virtual_size);

G_END_DECLS
