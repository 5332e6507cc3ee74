/* log.c: the engine's log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by nature (see log.h); set at start-up. */
static int log_fd = -1;
static enum vmm_log_level log_level = VMM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* The rotated file, when vmm_log_open_file set one up. */
static struct {
  char *dir, *name;
  uint64_t max_bytes, written;
  unsigned keep;
  int fd;
} log_file = { .fd = -1 };

void
vmm_log_set_level (enum vmm_log_level level)
{
  log_level = level;
}

enum vmm_log_level
vmm_log_get_level (void)
{
  return log_level;
}

void
vmm_log_set_fd (int fd)
{
  log_fd = fd;
}

/* NAME.KEEP is dropped, NAME.i becomes NAME.i+1, NAME becomes NAME.1. */
static void
shift_files (const char *dir, const char *name, unsigned keep)
{
  char from[4096], to[4096];

  for (unsigned i = keep; i > 0; i--)
    {
      if (i == 1)
        snprintf (from, sizeof from, "%s/%s", dir, name);
      else
        snprintf (from, sizeof from, "%s/%s.%u", dir, name, i - 1);
      snprintf (to, sizeof to, "%s/%s.%u", dir, name, i);
      rename (from, to);
    }
}

static int
open_log (const char *dir, const char *name)
{
  char path[4096];

  snprintf (path, sizeof path, "%s/%s", dir, name);
  return open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
}

int
vmm_log_open_file (const char *dir, const char *name, uint64_t max_bytes, unsigned keep)
{
  int fd;

  if (mkdir (dir, 0755) < 0 && errno != EEXIST)
    return -errno;
  pthread_mutex_lock (&log_lock);
  shift_files (dir, name, keep);
  fd = open_log (dir, name);
  if (fd < 0)
    {
      int ret = -errno;
      pthread_mutex_unlock (&log_lock);
      return ret;
    }
  free (log_file.dir);
  free (log_file.name);
  if (log_file.fd >= 0)
    close (log_file.fd);
  log_file.dir = strdup (dir);
  log_file.name = strdup (name);
  log_file.max_bytes = max_bytes;
  log_file.keep = keep;
  log_file.written = 0;
  log_file.fd = fd;
  log_fd = fd;
  pthread_mutex_unlock (&log_lock);
  return 0;
}

void
vmm_log_close_file (void)
{
  pthread_mutex_lock (&log_lock);
  if (log_file.fd >= 0)
    {
      if (log_fd == log_file.fd)
        log_fd = -1;
      close (log_file.fd);
    }
  free (log_file.dir);
  free (log_file.name);
  log_file.dir = log_file.name = NULL;
  log_file.fd = -1;
  pthread_mutex_unlock (&log_lock);
}

/* With the lock held: a file past its size goes to NAME.1, a new one starts. */
static void
maybe_rotate (size_t adding)
{
  int fd;

  if (log_file.fd < 0 || log_fd != log_file.fd || log_file.max_bytes == 0)
    return;
  log_file.written += adding;
  if (log_file.written <= log_file.max_bytes)
    return;
  shift_files (log_file.dir, log_file.name, log_file.keep);
  fd = open_log (log_file.dir, log_file.name);
  if (fd < 0)
    return; /* keep writing to the renamed file */
  close (log_file.fd);
  log_file.fd = log_fd = fd;
  log_file.written = adding;
}

static void
vlog (enum vmm_log_level level, const char *prefix, const char *fmt, va_list ap)
{
  static const char *names[] = { "error", "warning", "info", "debug" };
  char line[1024];
  struct timespec ts;
  int n, m;

  if (level > log_level)
    return;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  n = snprintf (line, sizeof line, "[%5ld.%06ld] vivarium-vmm %s: %s", (long) ts.tv_sec,
                ts.tv_nsec / 1000, names[level], prefix);
  if (n < 0 || (size_t) n >= sizeof line)
    return;
  m = vsnprintf (line + n, sizeof line - n, fmt, ap);
  if (m < 0)
    return;
  n += m;
  if ((size_t) n >= sizeof line - 1)
    n = sizeof line - 2;
  line[n++] = '\n';

  pthread_mutex_lock (&log_lock);
  maybe_rotate ((size_t) n);
  if (write (log_fd >= 0 ? log_fd : STDERR_FILENO, line, n) < 0)
    {
      /* nowhere left to report it */
    }
  pthread_mutex_unlock (&log_lock);
}

void
vmm_log (enum vmm_log_level level, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vlog (level, "", fmt, ap);
  va_end (ap);
}

void
vmm_log_guest (struct vmm_ratelimit *rl, const char *fmt, ...)
{
  struct timespec ts;
  uint64_t now;
  va_list ap;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  now = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;

  pthread_mutex_lock (&log_lock);
  if (!rl->started)
    {
      rl->started = true;
      rl->burst_left = 10;
    }
  if (rl->burst_left == 0)
    {
      if (now < rl->next_ns)
        {
          rl->suppressed++;
          pthread_mutex_unlock (&log_lock);
          return;
        }
      rl->burst_left = 1;
    }
  rl->burst_left--;
  rl->next_ns = now + 5000000000ull;
  pthread_mutex_unlock (&log_lock);

  if (rl->suppressed > 0)
    {
      vmm_log (VMM_LOG_WARNING, "guest: %u similar messages suppressed", rl->suppressed);
      rl->suppressed = 0;
    }
  va_start (ap, fmt);
  vlog (VMM_LOG_WARNING, "guest: ", fmt, ap);
  va_end (ap);
}
