/* vmm-test-log.c: what the engine logged, for a test to look at
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "vmm-test.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

int
vmm_test_log_capture (void)
{
  int fd = memfd_create ("vmm-test-log", MFD_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  vmm_log_set_fd (fd);
  return fd;
}

char *
vmm_test_log_take (int fd)
{
  off_t end = lseek (fd, 0, SEEK_END);
  char *text;

  g_assert_cmpint (end, >=, 0);
  text = g_malloc0 ((size_t) end + 1);
  g_assert_cmpint (pread (fd, text, (size_t) end, 0), ==, end);
  g_assert_cmpint (ftruncate (fd, 0), ==, 0);
  g_assert_cmpint (lseek (fd, 0, SEEK_SET), ==, 0);
  return text;
}

void
vmm_test_log_expect (int fd, const char *want)
{
  g_autofree char *log = vmm_test_log_take (fd);

  if (strstr (log, want) == NULL)
    g_error ("the log has no “%s”: %s", want, log);
}

void
vmm_test_log_release (int fd)
{
  g_autofree char *log = vmm_test_log_take (fd);

  if (log[0] != '\0')
    g_test_message ("logged: %s", log);
  vmm_log_set_fd (-1);
  close (fd);
}
