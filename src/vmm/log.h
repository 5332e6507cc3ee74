/* log.h: the engine's log
 *
 * One process runs one VM, so the log sink is process-wide: stderr by
 * default, a file when the helper runs for the app. Messages caused by the
 * guest go through a rate limit owned by the device, so a hostile guest
 * cannot fill the disk.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

enum vmm_log_level {
  VMM_LOG_ERROR,
  VMM_LOG_WARNING,
  VMM_LOG_INFO,
  VMM_LOG_DEBUG,
};

void vmm_log_set_level (enum vmm_log_level level);
enum vmm_log_level vmm_log_get_level (void);
/* Where messages go (an fd the caller keeps open); -1: stderr. A line
 * that cannot be written there (a full disk) goes to stderr instead, after
 * a note saying so. */
void vmm_log_set_fd (int fd);

/* Logs to DIR/NAME from now on: the files before it are kept as NAME.1 ..
 * NAME.KEEP (the oldest dropped), and a file that grows past MAX_BYTES is
 * rotated the same way while running. Returns 0 or -errno (the log then
 * stays where it was). */
int  vmm_log_open_file (const char *dir, const char *name, uint64_t max_bytes, unsigned keep);
/* Closes a file opened by vmm_log_open_file; messages go to stderr again. */
void vmm_log_close_file (void);

void vmm_log (enum vmm_log_level level, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

#define vmm_log_error(...)   vmm_log (VMM_LOG_ERROR, __VA_ARGS__)
#define vmm_log_warning(...) vmm_log (VMM_LOG_WARNING, __VA_ARGS__)
#define vmm_log_info(...)    vmm_log (VMM_LOG_INFO, __VA_ARGS__)
#define vmm_log_debug(...)   do { if (vmm_log_get_level () >= VMM_LOG_DEBUG) \
                                    vmm_log (VMM_LOG_DEBUG, __VA_ARGS__); } while (0)

/* At most BURST messages, then one per INTERVAL seconds, counting the ones
 * dropped. Zero-initialised means the defaults (10, 5 s). */
struct vmm_ratelimit {
  unsigned burst_left;
  bool started;
  uint64_t next_ns;
  unsigned suppressed;
};

/* A warning about something the guest did. */
void vmm_log_guest (struct vmm_ratelimit *rl, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* A message about something the host did that the guest can make happen
 * again and again (a disk that fails every request): rate-limited as
 * vmm_log_guest is, without its "guest: ". */
void vmm_log_limited (struct vmm_ratelimit *rl, enum vmm_log_level level, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* The rate limit on its own, for other things than log lines (signals):
 * at most BURST passes, then one per INTERVAL_S seconds; *SUPPRESSED
 * (may be NULL) is how many did not pass since the last one that did. */
bool vmm_ratelimit_pass (struct vmm_ratelimit *rl, unsigned burst, unsigned interval_s,
                         unsigned *suppressed);
