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
/* The last write to log_fd failed: lines go to stderr (write_line). */
static bool log_failing;

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
  pthread_mutex_lock (&log_lock);
  log_fd = fd;
  log_failing = false;
  pthread_mutex_unlock (&log_lock);
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
  log_failing = false;
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

/* write(), again after a signal; returns whether all of it went. */
static bool
write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t done = write (fd, data, len);

      if (done < 0 && errno == EINTR)
        continue;
      if (done <= 0)
        return false;
      data += done;
      len -= (size_t) done;
    }
  return true;
}

/* With the lock held. A log that cannot be written (its file system full,
 * the file too large, the disk gone) hands the line to stderr, which the
 * app keeps as well (viv-helper.c): the last lines before a failure are
 * the ones that say what happened. Said once on stderr when it starts. */
static void
write_line (const char *line, size_t len)
{
  int saved = errno;

  if (log_fd < 0 || log_fd == STDERR_FILENO)
    {
      write_all (STDERR_FILENO, line, len);
      errno = saved;
      return;
    }
  if (write_all (log_fd, line, len))
    {
      log_failing = false;
      errno = saved;
      return;
    }
  if (!log_failing)
    {
      char note[256];
      int m = snprintf (note, sizeof note,
                        "vivarium-vmm: cannot write the log: %s; "
                        "messages go to stderr until it can\n", strerror (errno));

      log_failing = true;
      if (m > 0)
        write_all (STDERR_FILENO, note, (size_t) m < sizeof note ? (size_t) m : sizeof note - 1);
    }
  write_all (STDERR_FILENO, line, len);
  errno = saved;
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
  write_line (line, (size_t) n);
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

/* With the lock held: whether a message may go now; counts it in
 * rl->suppressed if not. Returns the count of those suppressed before it
 * in *SUPPRESSED (and starts counting again). */
static bool
ratelimit_pass (struct vmm_ratelimit *rl, unsigned burst, unsigned interval_s,
                unsigned *suppressed)
{
  struct timespec ts;
  uint64_t now;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  now = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
  *suppressed = 0;
  if (!rl->started)
    {
      rl->started = true;
      rl->burst_left = burst;
    }
  if (rl->burst_left == 0)
    {
      if (now < rl->next_ns)
        {
          rl->suppressed++;
          return false;
        }
      rl->burst_left = 1;
    }
  rl->burst_left--;
  rl->next_ns = now + (uint64_t) interval_s * 1000000000ull;
  *suppressed = rl->suppressed;
  rl->suppressed = 0;
  return true;
}

bool
vmm_ratelimit_pass (struct vmm_ratelimit *rl, unsigned burst, unsigned interval_s,
                    unsigned *suppressed)
{
  unsigned dropped;
  bool pass;

  pthread_mutex_lock (&log_lock);
  pass = ratelimit_pass (rl, burst, interval_s, &dropped);
  pthread_mutex_unlock (&log_lock);
  if (suppressed != NULL)
    *suppressed = dropped;
  return pass;
}

static void
vlog_limited (struct vmm_ratelimit *rl, enum vmm_log_level level, const char *prefix,
              const char *fmt, va_list ap)
{
  unsigned suppressed;

  if (!vmm_ratelimit_pass (rl, 10, 5, &suppressed))
    return;
  if (suppressed > 0)
    vmm_log (level, "%s%u similar messages suppressed", prefix, suppressed);
  vlog (level, prefix, fmt, ap);
}

void
vmm_log_guest (struct vmm_ratelimit *rl, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vlog_limited (rl, VMM_LOG_WARNING, "guest: ", fmt, ap);
  va_end (ap);
}

void
vmm_log_limited (struct vmm_ratelimit *rl, enum vmm_log_level level, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vlog_limited (rl, level, "", fmt, ap);
  va_end (ap);
}
