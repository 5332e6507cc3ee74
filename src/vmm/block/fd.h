/* block/fd.h: whole reads, writes and syncs of a file descriptor
 *
 * Run-time helpers: they return 0 or -errno. The drivers do their metadata
 * and synchronous data I/O through them, the asynchronous I/O's workers
 * their syncs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* fdatasync, retried while it is interrupted. */
int vmm_block_fdatasync_fd (int fd);

/* Whole reads and writes at OFFSET, retrying short transfers and EINTR.
 * A read past the end of the file gives zeroes. With ALIGN > 1 (O_DIRECT),
 * unaligned buffers, offsets or lengths go through an aligned bounce buffer
 * (a write then reads, modifies and writes the aligned blocks around it). */
int vmm_block_pread_fd  (int fd, void *buf, size_t len, uint64_t offset, uint32_t align);
int vmm_block_pwrite_fd (int fd, const void *buf, size_t len, uint64_t offset, uint32_t align);
/* The same for a scatter list. */
int vmm_block_preadv_fd  (int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
                          uint32_t align);
int vmm_block_pwritev_fd (int fd, const struct iovec *iov, int iovcnt, uint64_t offset,
                          uint32_t align);

/* The bytes a scatter list holds */
size_t vmm_block_iov_len (const struct iovec *iov, int iovcnt);
