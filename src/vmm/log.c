/* log.c: the engine's log
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by nature (see log.h); set once at start-up. */
static int log_fd = -1;
static enum vmm_log_level log_level = VMM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

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
