/* kvm/exit.h: why a vCPU left the guest, as a plain struct
 *
 * vmm_kvm_exit_decode() reads KVM's run page once and says what happened in
 * terms the rest of the engine uses (dispatch.h), so nothing above kvm/
 * reads struct kvm_run and the dispatch can be tested with made-up exits.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct kvm_run;

enum vmm_exit_kind {
  VMM_EXIT_KIND_UNKNOWN,          /* an exit the engine does not expect */
  VMM_EXIT_KIND_IO,               /* port I/O */
  VMM_EXIT_KIND_MMIO,             /* an access to guest-physical memory that is not RAM */
  VMM_EXIT_KIND_HLT,
  VMM_EXIT_KIND_INTR,             /* a signal interrupted the guest */
  VMM_EXIT_KIND_SHUTDOWN,         /* a triple fault */
  VMM_EXIT_KIND_SYSTEM_EVENT,     /* the guest powered off, reset or crashed */
  VMM_EXIT_KIND_FAIL_ENTRY,       /* the hardware refused to enter the guest */
  VMM_EXIT_KIND_INTERNAL_ERROR,   /* KVM could not go on (an instruction it cannot emulate) */
};

enum vmm_system_event {
  VMM_SYSTEM_EVENT_SHUTDOWN,
  VMM_SYSTEM_EVENT_RESET,
  VMM_SYSTEM_EVENT_OTHER,         /* a crash, or an event this engine does not know */
};

/* The most an MMIO exit carries. */
#define VMM_EXIT_MMIO_MAX 8

struct vmm_exit {
  enum vmm_exit_kind kind;
  unsigned vcpu;                  /* the vCPU's index, for messages */
  union {
    struct {
      uint16_t port;
      uint8_t size;               /* 1, 2 or 4 bytes an item */
      bool out;
      uint32_t count;             /* items: more than 1 for a string instruction (rep outsb) */
      uint8_t *data;              /* COUNT items of SIZE bytes; an in writes its result here */
    } io;
    struct {
      uint64_t addr;
      uint32_t len;               /* 1 to VMM_EXIT_MMIO_MAX, as KVM says */
      bool write;
      uint8_t *data;              /* LEN bytes; a read writes its result here */
    } mmio;
    struct {
      enum vmm_system_event event;
      uint32_t type;              /* KVM's number for it, for messages */
    } system_event;
    struct {
      uint64_t reason;            /* the hardware's entry failure reason */
    } fail_entry;
    struct {
      uint32_t suberror;
      bool emulation;             /* KVM met an instruction it cannot emulate */
    } internal;
    struct {
      uint32_t reason;            /* KVM's exit_reason */
    } unknown;
  };
};

/* Decodes the exit RUN describes for vCPU VCPU. The data pointers of an I/O
 * or MMIO exit point into RUN: a read's result written there is what KVM
 * gives the guest on the next KVM_RUN. */
void vmm_kvm_exit_decode (struct kvm_run *run, unsigned vcpu, struct vmm_exit *exit);
