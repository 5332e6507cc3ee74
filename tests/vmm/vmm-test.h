/* vmm-test.h: what the engine's unit tests share
 *
 * Fake guest RAM (a struct vmm_mem over anonymous mappings), little-endian
 * access to it, a virtqueue driver that lays out the rings in that RAM and
 * adds chains as a guest driver would, accesses to a device through a bus
 * or its ops, a fake interrupt line, log capture, scratch folders, and a
 * virtio-pci device on a fake bus (vmm-test-virtio.c; with KVM's irqfd,
 * ioeventfd and GSI routing faked, so a device runs without /dev/kvm).
 * Every helper asserts instead of returning an error: a failed set-up is a
 * failed test. For byte order in plain buffers, use viv-bytes.h.
 *
 * Link: the helpers are a static library (vmm_test_dep, which brings the
 * engine's base library: memory, buses, log), one file per set of engine
 * code they need, so a test only pulls in what it calls. A test that uses
 * vmm-test-virtio.c takes the virtio library's objects, not the library,
 * which would bring kvm/'s along beside the fakes (tests/vmm/meson.build).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "bus.h"
#include "devices/irq_line.h"
#include "devices/pci.h"
#include "kvm/irq.h"
#include "loop.h"
#include "mem.h"

/* ---- fake guest RAM (vmm-test-mem.c) ---------------------------------------------- */

/* Zero it before the first vmm_test_ram_add; vmm_test_ram_free zeroes it again. */
struct vmm_test_ram {
  struct vmm_mem mem;
  void *maps[VMM_MEM_MAX_REGIONS];      /* each region's mapping, guard pages included */
  size_t map_sizes[VMM_MEM_MAX_REGIONS];
};

/* Adds SIZE bytes (whole pages) of zeroed RAM at GPA, between two PROT_NONE
 * guard pages: a stray access just past either end faults in every build.
 * Pages are only backed once touched, so large guests are cheap. Returns the
 * host pointer. */
uint8_t *vmm_test_ram_add     (struct vmm_test_ram *ram, uint64_t gpa, uint64_t size);
/* Adds SIZE bytes of address space at GPA that must never be touched
 * (PROT_NONE), for lengths no heap holds. */
void     vmm_test_ram_reserve (struct vmm_test_ram *ram, uint64_t gpa, uint64_t size);
void     vmm_test_ram_free    (struct vmm_test_ram *ram);

/* The host address of [GPA, GPA + LEN), asserted to be in RAM. */
void    *vmm_test_ptr (const struct vmm_mem *mem, uint64_t gpa, uint64_t len);

uint16_t vmm_test_get16 (const struct vmm_mem *mem, uint64_t gpa);
uint32_t vmm_test_get32 (const struct vmm_mem *mem, uint64_t gpa);
uint64_t vmm_test_get64 (const struct vmm_mem *mem, uint64_t gpa);
void     vmm_test_put16 (const struct vmm_mem *mem, uint64_t gpa, uint16_t v);
void     vmm_test_put32 (const struct vmm_mem *mem, uint64_t gpa, uint32_t v);
void     vmm_test_put64 (const struct vmm_mem *mem, uint64_t gpa, uint64_t v);

/* ---- the driver side of a split virtqueue (vmm-test-mem.c) ------------------------- */

struct vmm_test_vq {
  const struct vmm_mem *mem;
  uint16_t size;
  uint64_t desc, avail, used;         /* the rings' addresses */
  uint64_t data_start, data_end;      /* buffers and indirect tables are carved from here */
  uint64_t next_data;
  uint16_t avail_idx;                 /* ours; published with vmm_test_vq_publish */
  uint16_t next_desc;                 /* the next descriptor vmm_test_vq_add uses */
  uint16_t last_used;                 /* used entries taken with vmm_test_vq_next_used */
};

/* One buffer of a chain, for vmm_test_vq_add_bufs */
struct vmm_test_buf {
  uint64_t gpa;
  uint32_t len;
  bool writable;
};

/* Rings of SIZE entries at DESC, AVAIL and USED (the caller zeroed them);
 * buffers from [DATA_START, DATA_END), reused from the start when full. */
void     vmm_test_vq_init (struct vmm_test_vq *vq, const struct vmm_mem *mem, uint16_t size,
                           uint64_t desc, uint64_t avail, uint64_t used, uint64_t data_start,
                           uint64_t data_end);

/* A buffer of LEN bytes filled with SEED, SEED + 1, ... */
uint64_t vmm_test_vq_data (struct vmm_test_vq *vq, uint32_t len, uint8_t seed);
/* A buffer holding a copy of DATA (LEN bytes; zeroes if DATA is NULL) */
uint64_t vmm_test_vq_copy (struct vmm_test_vq *vq, const void *data, uint32_t len);

/* Writes a descriptor at P, or as entry I of the table at TABLE. */
void     vmm_test_put_desc_at   (void *p, uint64_t addr, uint32_t len, uint16_t flags,
                                 uint16_t next);
void     vmm_test_vq_put_desc   (struct vmm_test_vq *vq, uint64_t table, unsigned i,
                                 uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Writes HEAD into the next avail entry, without publishing it. */
void     vmm_test_vq_offer      (struct vmm_test_vq *vq, uint16_t head);
/* Publishes the offered entries (avail->idx, with release semantics). */
void     vmm_test_vq_publish    (struct vmm_test_vq *vq);
/* Adds and publishes a direct chain of N pattern buffers of LENS (see
 * vmm_test_vq_data: seed 16 × k), the first N_OUT device-readable; returns
 * its head. */
uint16_t vmm_test_vq_add        (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n,
                                 unsigned n_out);
/* An indirect table of N pattern buffers, as vmm_test_vq_add; returns its
 * address. */
uint64_t vmm_test_vq_table      (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n,
                                 unsigned n_out);
/* Adds and publishes one descriptor naming such a table. */
uint16_t vmm_test_vq_add_indirect (struct vmm_test_vq *vq, const uint32_t *lens, unsigned n,
                                   unsigned n_out);
/* Adds and publishes a direct chain of the N buffers BUFS; returns its head. */
uint16_t vmm_test_vq_add_bufs   (struct vmm_test_vq *vq, const struct vmm_test_buf *bufs,
                                 unsigned n);

/* The used ring, as the device left it (acquire: a device thread may write it) */
uint16_t vmm_test_vq_used_idx   (const struct vmm_test_vq *vq);
void     vmm_test_vq_used_elem  (const struct vmm_test_vq *vq, uint16_t idx, uint32_t *id,
                                 uint32_t *len);
/* The next used entry not taken yet: false when there is none. */
bool     vmm_test_vq_next_used  (struct vmm_test_vq *vq, uint32_t *id, uint32_t *len);
/* The same, waiting up to TIMEOUT_MS for a device thread to put it there. */
bool     vmm_test_vq_wait_used  (struct vmm_test_vq *vq, uint32_t *id, uint32_t *len,
                                 unsigned timeout_ms);
/* Where used_event (in the avail ring) and avail_event (in the used ring) are */
uint64_t vmm_test_vq_used_event  (const struct vmm_test_vq *vq);
uint64_t vmm_test_vq_avail_event (const struct vmm_test_vq *vq);

/* ---- devices on a bus (vmm-test-bus.c) ------------------------------------------- */

/* An access through the bus, as the vCPU loop makes it (LEN 1 to 8). */
uint64_t vmm_test_bus_in  (struct vmm_bus *bus, uint64_t addr, uint32_t len);
void     vmm_test_bus_out (struct vmm_bus *bus, uint64_t addr, uint32_t len, uint64_t value);

/* ---- device handlers, interrupt lines, waiting (vmm-test-util.c) -------------------- */

/* A direct call of a device's handler, with the all-ones the bus puts in
 * the buffer before a read. */
uint64_t vmm_test_dev_in  (const struct vmm_io_ops *ops, void *opaque, uint64_t offset,
                           uint32_t len);
void     vmm_test_dev_out (const struct vmm_io_ops *ops, void *opaque, uint64_t offset,
                           uint32_t len, uint64_t value);

/* An interrupt line that counts its calls. A call that does not change the
 * level is counted apart: devices should only drive changes. */
struct vmm_test_irq {
  unsigned calls;
  unsigned redundant;
  bool level;
  unsigned gsi;
};

/* Resets IRQ and returns a line that drives it. */
struct vmm_irq_line vmm_test_irq_line (struct vmm_test_irq *irq, unsigned gsi);

/* True when LOCK is free, i.e. a callback was not called with it held. */
bool     vmm_test_mutex_is_free (pthread_mutex_t *lock);

/* Polls COND (every millisecond) until it is true or TIMEOUT_MS passed.
 * Returns its last value. */
bool     vmm_test_wait_until (bool (*cond) (void *data), void *data, unsigned timeout_ms);

/* ---- scratch folders (vmm-test-util.c) --------------------------------------------- */

/* A new, empty folder in the temporary directory, named from TEMPLATE as
 * g_dir_make_tmp names it ("test-foo-XXXXXX"). g_free the path. */
char    *vmm_test_make_dir   (const char *tmpl);
/* Removes the files in DIR, then DIR (a test's folders hold no folders). */
void     vmm_test_remove_dir (const char *dir);

/* ---- the engine's log (vmm-test-log.c) --------------------------------------------- */

/* Sends the log to a memory file from now on; returns its fd. */
int      vmm_test_log_capture (void);
/* What was logged since the capture or the last take (g_free it) */
char    *vmm_test_log_take    (int fd);
/* Takes what was logged and fails the test unless WANT is in it. */
void     vmm_test_log_expect  (int fd, const char *want);
/* Back to stderr: what was logged and not taken goes to the test's
 * output (g_test_message); closes FD. */
void     vmm_test_log_release (int fd);

/* ---- a virtio-pci device on a fake bus (vmm-test-virtio.c) ------------------------- */

/* KVM's irqfds and GSI routes are faked there for any device (the router
 * hands out GSIs from 24); these say what a device asked of them, for the
 * first VMM_TEST_FAKE_GSIS GSIs: the eventfd attached to GSI (-1: none),
 * and the MSI route set for it (false: none). */
#define VMM_TEST_FAKE_GSIS 64
int      vmm_test_fake_irqfd (unsigned gsi);
bool     vmm_test_fake_msi   (unsigned gsi, uint64_t *address, uint32_t *data);

#define VMM_TEST_VIRTIO_MAX_QUEUES 16

struct vmm_virtio_dev;
struct vmm_virtio_env;

struct vmm_test_virtio {
  struct vmm_test_ram ram;
  struct vmm_bus mmio;
  struct vmm_irq_router router;         /* faked: only counts GSIs */
  struct vmm_loop loop;                 /* the VM's device loop, running */
  struct vmm_pci_host pci;
  struct vmm_virtio_dev *dev;           /* once plugged */
  uint64_t bar;                         /* where the BAR was placed */
  unsigned n_queues;
  struct vmm_test_vq vq[VMM_TEST_VIRTIO_MAX_QUEUES];
};

/* Guest RAM, an MMIO bus, a running loop and a PCI host; ENV is what a
 * device is created with. */
void     vmm_test_virtio_init  (struct vmm_test_virtio *t, struct vmm_virtio_env *env);
/* Adds DEV to the PCI host, which places its BAR on the bus. */
void     vmm_test_virtio_plug  (struct vmm_test_virtio *t, struct vmm_virtio_dev *dev);
/* The driver's set-up (virtio 1.2, 3.1.1): reset, ACKNOWLEDGE, DRIVER,
 * FEATURES (VERSION_1 and DRIVER_FEATURES, offered or not), FEATURES_OK,
 * N_QUEUES queues of SIZE entries laid out in RAM and enabled, DRIVER_OK.
 * Returns the device status at the end. */
uint8_t  vmm_test_virtio_setup (struct vmm_test_virtio *t, uint64_t driver_features,
                                unsigned n_queues, uint16_t size);
/* Its steps, for a driver that lays its rings out itself: reset to
 * FEATURES_OK (returns the status); queue Q of SIZE entries at DESC, AVAIL
 * and USED, enabled (returns whether the device took it); DRIVER_OK
 * (returns the status). */
uint8_t  vmm_test_virtio_negotiate (struct vmm_test_virtio *t, uint64_t driver_features);
bool     vmm_test_virtio_queue     (struct vmm_test_virtio *t, unsigned q, uint16_t size,
                                    uint64_t desc, uint64_t avail, uint64_t used);
uint8_t  vmm_test_virtio_driver_ok (struct vmm_test_virtio *t);
/* A driver's bring-up as fuzz input says it (tests/fuzz): HDR is a le64
 * of features, then per queue le16 size, le32 desc, avail and used
 * addresses (14 bytes; size 0 leaves the queue alone). HOW: bit 0 asks for
 * features the device did not offer (OFFERED), bit 1 goes on without
 * FEATURES_OK, bit 2 stops before DRIVER_OK. */
void     vmm_test_virtio_setup_from (struct vmm_test_virtio *t, const uint8_t *hdr,
                                     unsigned n_queues, uint64_t offered, uint8_t how);
/* The 64 feature bits the device offers */
uint64_t vmm_test_virtio_device_features (struct vmm_test_virtio *t);
/* BAR accesses: the common configuration is at 0, the ISR at 0x1000, the
 * device configuration at 0x2000, the notifications at 0x3000. */
uint64_t vmm_test_virtio_read  (struct vmm_test_virtio *t, uint64_t offset, uint32_t len);
void     vmm_test_virtio_write (struct vmm_test_virtio *t, uint64_t offset, uint32_t len,
                                uint64_t value);
/* The driver's notification for queue Q, as a vCPU writes it. */
void     vmm_test_virtio_kick  (struct vmm_test_virtio *t, unsigned q);
/* Reads (and so clears) the ISR: bit 0 a queue interrupt, bit 1 config. */
uint8_t  vmm_test_virtio_isr   (struct vmm_test_virtio *t);
/* Makes DST's guest RAM a copy of SRC's, and its driver's queues SRC's
 * (over DST's RAM): the memory a restored machine comes back with. */
void     vmm_test_virtio_copy_guest (struct vmm_test_virtio *dst,
                                     const struct vmm_test_virtio *src);

/* ---- saved state (vmm-test-state.c; the virtio save, vmm-test-virtio.c) -------------- */

struct vmm_state_writer;
struct vmm_state_file;

/* FILE parsed (asserted to parse) */
struct vmm_state_file *vmm_test_state_parse (GBytes *file);

/* The writer's file, finished, as bytes; frees W */
GBytes  *vmm_test_state_finish  (struct vmm_state_writer *w);
/* The payload of SECTION in FILE (asserted to be there) */
GBytes  *vmm_test_state_payload (GBytes *file, const char *section);
/* FILE with SECTION's version made VERSION and its payload the N bytes
 * at DATA, the other sections as they were */
GBytes  *vmm_test_state_replace (GBytes *file, const char *section, uint32_t version,
                                 const void *data, size_t n);

/* DEV's state as vmm_virtio_save writes it under NAME, a whole file */
GBytes  *vmm_test_virtio_save  (struct vmm_virtio_dev *dev, const char *name);
/* Loads NAME from FILE into DEV: with APPLY false, which must leave DEV
 * as it was (saved again, the same bytes), then with APPLY true, after
 * which DEV saves FILE again byte for byte. Asserts both take it. */
void     vmm_test_virtio_load  (struct vmm_virtio_dev *dev, GBytes *file, const char *name);
/* What every section must refuse: SECTION of FILE cut short by a byte,
 * with byte OFFSET of its payload set to VALUE (a value the device cannot
 * be in), and one version newer. vmm_virtio_load refuses each, with APPLY
 * false and true, with an error naming SECTION, and DEV's state stays as
 * it was. */
void     vmm_test_virtio_refusals (struct vmm_virtio_dev *dev, GBytes *file, const char *name,
                                   const char *section, size_t offset, uint8_t value);

/* Stops the loop: call it before freeing the device, then _clear. */
void     vmm_test_virtio_stop  (struct vmm_test_virtio *t);
void     vmm_test_virtio_clear (struct vmm_test_virtio *t);
