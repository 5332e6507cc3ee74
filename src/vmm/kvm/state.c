/* kvm/state.c: a vCPU's and the VM's in-kernel state, saved and restored
 *
 * The order a load writes a vCPU in is QEMU's (kvm_arch_put_registers),
 * for KVM's reasons:
 *
 *   TSC frequency  first, so the TSC written below counts at the right rate
 *   regs           KVM_SET_REGS drops a pending exception: before the events
 *   XSAVE, XCRs    the FPU before the control registers, as QEMU does
 *   sregs          EFER and CR0/CR4 before MSRs that depend on the mode;
 *                  APIC_BASE (xAPIC or x2APIC) before the LAPIC's registers
 *   MSRs           the TSC first in the batch
 *   MP state       then the LAPIC, as QEMU does
 *   LAPIC          after sregs (APIC_BASE, CR8 = TPR: the LAPIC's TPR wins)
 *   TSC deadline   after the LAPIC: KVM ignores it unless the LVT timer is
 *                  in TSC-deadline mode
 *   vCPU events    after regs and the LAPIC: a latched INIT lives in the LAPIC
 *   debug regs     last, as QEMU does
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "kvm/state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <glib/gi18n.h>

#include "kvm/cpuid.h"
#include "log.h"

G_DEFINE_QUARK (vmm-kvm-state-error-quark, vmm_kvm_state_error)

/* 2: the CPUID the vCPU was given, first */
#define VCPU_VERSION 2
#define VM_VERSION   1

/* MSRs */
#define MSR_IA32_TSC             0x10u
#define MSR_IA32_APICBASE        0x1bu
#define MSR_IA32_TSC_ADJUST      0x3bu
#define MSR_IA32_SPEC_CTRL       0x48u
#define MSR_MTRRCAP              0xfeu
#define MSR_IA32_SYSENTER_CS     0x174u
#define MSR_IA32_SYSENTER_ESP    0x175u
#define MSR_IA32_SYSENTER_EIP    0x176u
#define MSR_IA32_MISC_ENABLE     0x1a0u
#define MSR_MTRR_PHYS_BASE0      0x200u
#define MSR_MTRR_FIX64K_00000    0x250u
#define MSR_MTRR_FIX16K_80000    0x258u
#define MSR_MTRR_FIX16K_A0000    0x259u
#define MSR_MTRR_FIX4K_C0000     0x268u
#define MSR_IA32_CR_PAT          0x277u
#define MSR_MTRR_DEF_TYPE        0x2ffu
#define MSR_IA32_TSC_DEADLINE    0x6e0u
#define MSR_X2APIC_FIRST         0x800u
#define MSR_X2APIC_LAST          0x8ffu
#define MSR_HYPERV_FIRST         0x40000000u
#define MSR_HYPERV_LAST          0x400000ffu
#define MSR_KVM_WALL_CLOCK       0x11u
#define MSR_KVM_SYSTEM_TIME      0x12u
#define MSR_KVM_FIRST            0x4b564d00u  /* kvmclock, async PF, steal time, PV EOI... */
#define MSR_KVM_LAST             0x4b564d07u
#define MSR_EFER                 0xc0000080u
#define MSR_STAR                 0xc0000081u
#define MSR_LSTAR                0xc0000082u
#define MSR_CSTAR                0xc0000083u
#define MSR_SYSCALL_MASK         0xc0000084u
#define MSR_FS_BASE              0xc0000100u
#define MSR_GS_BASE              0xc0000101u
#define MSR_KERNEL_GS_BASE       0xc0000102u
#define MSR_TSC_AUX              0xc0000103u

/* Looked for besides KVM_GET_MSR_INDEX_LIST, which leaves out the MTRRs
 * (KVM emulates them but does not list them) and, on some hosts, others;
 * each is kept only if KVM_GET_MSRS takes it. */
static const uint32_t extra_msrs[] = {
  MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE, MSR_TSC_AUX,
  MSR_IA32_CR_PAT, MSR_IA32_MISC_ENABLE, MSR_IA32_SPEC_CTRL, MSR_IA32_TSC_ADJUST,
  MSR_KVM_WALL_CLOCK, MSR_KVM_SYSTEM_TIME,
  MSR_MTRR_DEF_TYPE, MSR_MTRR_FIX64K_00000, MSR_MTRR_FIX16K_80000, MSR_MTRR_FIX16K_A0000,
};
#define N_VAR_MTRRS 8           /* KVM's KVM_NR_VAR_MTRR: base and mask each */

/* Not in the MSR table: the TSC and TSC deadline have fields of their own
 * (written apart, see the order above); EFER, APIC_BASE and the FS/GS
 * bases are in sregs; the x2APIC registers in the LAPIC's state; MTRRcap
 * is read-only; Hyper-V's are not offered to the guest (no Hyper-V CPUID),
 * so it cannot have changed them. */
static bool
msr_excluded (uint32_t index)
{
  return index == MSR_IA32_TSC || index == MSR_IA32_TSC_DEADLINE || index == MSR_EFER ||
         index == MSR_IA32_APICBASE || index == MSR_FS_BASE || index == MSR_GS_BASE ||
         index == MSR_MTRRCAP ||
         (index >= MSR_X2APIC_FIRST && index <= MSR_X2APIC_LAST) ||
         (index >= MSR_HYPERV_FIRST && index <= MSR_HYPERV_LAST);
}

/* The XSAVE area's legacy region and header (uapi layout) */
#define XSAVE_HDR_XSTATE_BV   512
#define XSAVE_HDR_XCOMP_BV    520
#define XSAVE_MIN             4096u  /* sizeof (struct kvm_xsave) */

#define XCR0_X87 1ull

#define FPU_KIND_XSAVE 1        /* an XSAVE area in KVM's (standard) layout */
#define FPU_KIND_FPU   2        /* a struct kvm_fpu: KVM without XSAVE */

#define NO_IRQ 0xffffu

#define IOAPIC_BASE 0xfec00000ull

/* ---- the vCPU's state, read from KVM or from a section ---------------------------- */

struct vcpu_state {
  struct kvm_cpuid_entry2 *cpuid;   /* n_cpuid entries; none from a version 1 section */
  uint32_t n_cpuid;
  struct kvm_regs regs;
  struct kvm_sregs2 sregs;      /* flags: KVM_SREGS2_FLAGS_PDPTRS_VALID or 0 */
  uint16_t irq;                 /* the external interrupt being injected, or NO_IRQ */
  uint8_t fpu_kind;
  uint8_t *xsave;               /* FPU_KIND_XSAVE: XSAVE_LEN bytes */
  uint32_t xsave_len;
  struct kvm_fpu fpu;           /* FPU_KIND_FPU */
  struct kvm_xcrs xcrs;         /* nr_xcrs 0: not saved */
  bool has_debugregs;
  struct kvm_debugregs debugregs;
  struct kvm_lapic_state lapic;
  uint32_t n_msrs;
  struct kvm_msr_entry *msrs;
  uint32_t mp_state;
  bool has_events;
  struct kvm_vcpu_events events;
  uint32_t tsc_khz;             /* 0: unknown */
  uint64_t tsc_deadline;
  uint64_t tsc;
};

static void
vcpu_state_clear (struct vcpu_state *st)
{
  g_free (st->cpuid);
  g_free (st->xsave);
  g_free (st->msrs);
  memset (st, 0, sizeof *st);
}

static gboolean
fail_ioctl (GError **error, const char *what, unsigned index)
{
  int err = errno;

  /* Translators: a vCPU's number, a KVM ioctl's name (KVM_SET_REGS), why */
  g_set_error (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_KVM,
               _("vCPU %u: %s failed: %s"), index, what, g_strerror (err));
  return FALSE;
}

static gboolean
fail_vm_ioctl (GError **error, const char *what)
{
  int err = errno;

  /* Translators: a KVM ioctl's name (KVM_SET_CLOCK), then why it failed */
  g_set_error (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_KVM,
               _("%s failed: %s"), what, g_strerror (err));
  return FALSE;
}

/* ---- MSRs ------------------------------------------------------------------------ */

/* KVM_GET_MSR_INDEX_LIST: g_free'd array of *N indices, or NULL */
static uint32_t *
msr_index_list (const struct vmm_kvm *kvm, uint32_t *n)
{
  struct kvm_msr_list probe = { .nmsrs = 0 };
  struct kvm_msr_list *list;
  uint32_t *indices;

  *n = 0;
  if (ioctl (kvm->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
    return NULL;
  if (probe.nmsrs == 0 || probe.nmsrs > VMM_KVM_STATE_MAX_MSRS)
    return NULL;
  list = g_malloc0 (sizeof *list + probe.nmsrs * sizeof list->indices[0]);
  list->nmsrs = probe.nmsrs;
  if (ioctl (kvm->fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
    {
      g_free (list);
      return NULL;
    }
  *n = list->nmsrs;
  indices = g_memdup2 (list->indices, list->nmsrs * sizeof list->indices[0]);
  g_free (list);
  return indices;
}

static bool
has_index (const struct kvm_msr_entry *e, uint32_t n, uint32_t index)
{
  for (uint32_t i = 0; i < n; i++)
    if (e[i].index == index)
      return true;
  return false;
}

/* The MSRs of VCPU_FD worth saving, with their values: KVM's list and
 * extra_msrs, less msr_excluded, less those KVM_GET_MSRS refuses here
 * (KVM lists some that depend on the vCPU's CPUID or on host features).
 * KVM_GET_MSRS stops at the first it refuses and says how many it read:
 * that one is dropped and the rest asked again. Returns the g_free'd
 * entries and *N, or NULL with errno set. */
static struct kvm_msr_entry *
read_msrs (const struct vmm_kvm *kvm, int vcpu_fd, uint32_t *n)
{
  g_autofree uint32_t *listed = NULL;
  struct kvm_msrs *msrs;
  struct kvm_msr_entry *out;
  uint32_t n_listed, n_cand = 0, done = 0;
  size_t cap;

  listed = msr_index_list (kvm, &n_listed);
  cap = n_listed + G_N_ELEMENTS (extra_msrs) + 2 * N_VAR_MTRRS + 8;
  msrs = g_malloc0 (sizeof *msrs + cap * sizeof msrs->entries[0]);

#define ADD(i)                                                                  \
  G_STMT_START {                                                                \
    uint32_t idx_ = (i);                                                        \
    if (!msr_excluded (idx_) && !has_index (msrs->entries, n_cand, idx_))       \
      msrs->entries[n_cand++].index = idx_;                                     \
  } G_STMT_END
  for (uint32_t i = 0; i < n_listed; i++)
    ADD (listed[i]);
  for (size_t i = 0; i < G_N_ELEMENTS (extra_msrs); i++)
    ADD (extra_msrs[i]);
  for (uint32_t i = 0; i < 2 * N_VAR_MTRRS; i++)
    ADD (MSR_MTRR_PHYS_BASE0 + i);
  for (uint32_t i = 0; i < 8; i++)
    ADD (MSR_MTRR_FIX4K_C0000 + i);
#undef ADD

  /* Ask for entries[done..]; drop the one refused, ask again */
  while (done < n_cand)
    {
      struct kvm_msrs *rest;
      int ret;

      rest = g_malloc0 (sizeof *rest + (n_cand - done) * sizeof rest->entries[0]);
      rest->nmsrs = n_cand - done;
      memcpy (rest->entries, msrs->entries + done, rest->nmsrs * sizeof rest->entries[0]);
      ret = ioctl (vcpu_fd, KVM_GET_MSRS, rest);
      if (ret < 0)
        {
          int err = errno;
          g_free (rest);
          g_free (msrs);
          errno = err;
          return NULL;
        }
      memcpy (msrs->entries + done, rest->entries, (size_t) ret * sizeof rest->entries[0]);
      g_free (rest);
      done += (uint32_t) ret;
      if (done < n_cand)
        {
          vmm_log_debug ("KVM_GET_MSRS refuses MSR %#x: not saved", msrs->entries[done].index);
          memmove (msrs->entries + done, msrs->entries + done + 1,
                   (n_cand - done - 1) * sizeof msrs->entries[0]);
          n_cand--;
        }
    }
  *n = n_cand;
  out = g_memdup2 (msrs->entries, (n_cand ? n_cand : 1) * sizeof msrs->entries[0]);
  g_free (msrs);
  return out;
}

/* One MSR, or FALSE (errno set; EINVAL when KVM refused it) */
static gboolean
get_msr (int vcpu_fd, uint32_t index, uint64_t *value)
{
  struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e;
  } m = { .hdr.nmsrs = 1, .e.index = index };
  int ret = ioctl (vcpu_fd, KVM_GET_MSRS, &m);

  if (ret != 1)
    {
      if (ret >= 0)
        errno = EINVAL;
      return FALSE;
    }
  *value = m.e.data;
  return TRUE;
}

static gboolean
set_msr (int vcpu_fd, uint32_t index, uint64_t value)
{
  struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e;
  } m = { .hdr.nmsrs = 1, .e = { .index = index, .data = value } };
  int ret = ioctl (vcpu_fd, KVM_SET_MSRS, &m);

  if (ret != 1 && ret >= 0)
    errno = EINVAL;
  return ret == 1;
}

/* ---- reading a vCPU from KVM ------------------------------------------------------ */

static bool
has_cap (const struct vmm_kvm *kvm, int cap)
{
  return vmm_kvm_check_extension (kvm, cap) > 0;
}

/* KVM's API documentation: a port or MMIO exit is complete, and the vCPU's
 * state consistent, only once KVM_RUN has been entered again; with
 * immediate_exit set it returns at once after that. */
static gboolean
complete_pending_exit (struct vmm_kvm_vcpu *vcpu, GError **error)
{
  int ret, err;

  __atomic_store_n (&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
  ret = ioctl (vcpu->fd, KVM_RUN, 0);
  err = errno;
  __atomic_store_n (&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
  if (ret == 0)
    {
      g_set_error (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_BUSY,
                   _("vCPU %u is in the middle of an I/O instruction; "
                     "let it run on before saving it"), vcpu->index);
      return FALSE;
    }
  if (err != EINTR && err != EAGAIN)
    {
      errno = err;
      return fail_ioctl (error, "KVM_RUN", vcpu->index);
    }
  return TRUE;
}

/* KVM_GET_CPUID2: the table the vCPU was given (KVM_SET_CPUID2), as KVM
 * keeps it; g_free'd array of *N entries, or NULL with errno set */
static struct kvm_cpuid_entry2 *
read_cpuid (int vcpu_fd, uint32_t *n)
{
  for (uint32_t max = 64; max <= VMM_KVM_STATE_MAX_CPUID; max *= 2)
    {
      struct kvm_cpuid2 *c = g_malloc0 (sizeof *c + max * sizeof c->entries[0]);
      struct kvm_cpuid_entry2 *entries;

      c->nent = max;
      if (ioctl (vcpu_fd, KVM_GET_CPUID2, c) == 0)
        {
          *n = c->nent;
          entries = g_memdup2 (c->entries, (c->nent ? c->nent : 1) * sizeof c->entries[0]);
          g_free (c);
          return entries;
        }
      g_free (c);
      if (errno != E2BIG)
        return NULL;
    }
  errno = E2BIG;
  return NULL;
}

static gboolean
read_vcpu (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm, struct vcpu_state *st,
           GError **error)
{
  struct kvm_mp_state mp;
  int fd = vcpu->fd, xsave2;
  unsigned index = vcpu->index;

  memset (st, 0, sizeof *st);
  st->irq = NO_IRQ;
  st->cpuid = read_cpuid (fd, &st->n_cpuid);
  if (st->cpuid == NULL)
    return fail_ioctl (error, "KVM_GET_CPUID2", index);
  if (ioctl (fd, KVM_GET_REGS, &st->regs) < 0)
    return fail_ioctl (error, "KVM_GET_REGS", index);

  st->has_events = has_cap (kvm, KVM_CAP_VCPU_EVENTS);
  if (st->has_events && ioctl (fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
    return fail_ioctl (error, "KVM_GET_VCPU_EVENTS", index);

  if (has_cap (kvm, KVM_CAP_SREGS2))
    {
      if (ioctl (fd, KVM_GET_SREGS2, &st->sregs) < 0)
        return fail_ioctl (error, "KVM_GET_SREGS2", index);
      st->sregs.flags &= KVM_SREGS2_FLAGS_PDPTRS_VALID;
      /* SREGS2 has no interrupt bitmap: the injected interrupt is in the
       * events (QEMU's reading too) */
      if (st->has_events && st->events.interrupt.injected && !st->events.interrupt.soft)
        st->irq = st->events.interrupt.nr;
    }
  else
    {
      struct kvm_sregs s;

      if (ioctl (fd, KVM_GET_SREGS, &s) < 0)
        return fail_ioctl (error, "KVM_GET_SREGS", index);
      st->sregs.cs = s.cs, st->sregs.ds = s.ds, st->sregs.es = s.es;
      st->sregs.fs = s.fs, st->sregs.gs = s.gs, st->sregs.ss = s.ss;
      st->sregs.tr = s.tr, st->sregs.ldt = s.ldt;
      st->sregs.gdt = s.gdt, st->sregs.idt = s.idt;
      st->sregs.cr0 = s.cr0, st->sregs.cr2 = s.cr2, st->sregs.cr3 = s.cr3;
      st->sregs.cr4 = s.cr4, st->sregs.cr8 = s.cr8;
      st->sregs.efer = s.efer, st->sregs.apic_base = s.apic_base;
      /* The bitmap holds at most one bit: the external interrupt KVM is
       * injecting (not a soft one) */
      for (unsigned i = 0; i < KVM_NR_INTERRUPTS; i++)
        if (s.interrupt_bitmap[i / 64] & (1ull << (i % 64)))
          {
            st->irq = (uint16_t) i;
            break;
          }
    }

  xsave2 = vmm_kvm_check_extension (kvm, KVM_CAP_XSAVE2);
  if (xsave2 > 0 || has_cap (kvm, KVM_CAP_XSAVE))
    {
      st->fpu_kind = FPU_KIND_XSAVE;
      st->xsave_len = xsave2 > (int) XSAVE_MIN ? (uint32_t) xsave2 : XSAVE_MIN;
      if (st->xsave_len > VMM_KVM_STATE_MAX_XSAVE)
        {
          errno = E2BIG;
          return fail_ioctl (error, "KVM_GET_XSAVE", index);
        }
      st->xsave = g_malloc0 (st->xsave_len);
      if (ioctl (fd, xsave2 > 0 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, st->xsave) < 0)
        return fail_ioctl (error, "KVM_GET_XSAVE", index);
    }
  else
    {
      st->fpu_kind = FPU_KIND_FPU;
      if (ioctl (fd, KVM_GET_FPU, &st->fpu) < 0)
        return fail_ioctl (error, "KVM_GET_FPU", index);
    }

  if (has_cap (kvm, KVM_CAP_XCRS))
    {
      if (ioctl (fd, KVM_GET_XCRS, &st->xcrs) < 0)
        return fail_ioctl (error, "KVM_GET_XCRS", index);
      if (st->xcrs.nr_xcrs > KVM_MAX_XCRS)
        st->xcrs.nr_xcrs = KVM_MAX_XCRS;
    }

  st->has_debugregs = has_cap (kvm, KVM_CAP_DEBUGREGS);
  if (st->has_debugregs && ioctl (fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
    return fail_ioctl (error, "KVM_GET_DEBUGREGS", index);

  if (ioctl (fd, KVM_GET_LAPIC, &st->lapic) < 0)
    return fail_ioctl (error, "KVM_GET_LAPIC", index);

  st->msrs = read_msrs (kvm, fd, &st->n_msrs);
  if (st->msrs == NULL)
    return fail_ioctl (error, "KVM_GET_MSRS", index);
  if (!get_msr (fd, MSR_IA32_TSC, &st->tsc))
    return fail_ioctl (error, "KVM_GET_MSRS", index);
  if (!get_msr (fd, MSR_IA32_TSC_DEADLINE, &st->tsc_deadline))
    st->tsc_deadline = 0;       /* no TSC-deadline timer on this host */

  if (ioctl (fd, KVM_GET_MP_STATE, &mp) < 0)
    return fail_ioctl (error, "KVM_GET_MP_STATE", index);
  st->mp_state = mp.mp_state;

  if (has_cap (kvm, KVM_CAP_GET_TSC_KHZ))
    {
      int khz = ioctl (fd, KVM_GET_TSC_KHZ, 0);
      st->tsc_khz = khz > 0 ? (uint32_t) khz : 0;
    }
  return TRUE;
}

/* ---- writing and reading the section ---------------------------------------------- */

static void
put_segment (struct vmm_state_writer *w, const struct kvm_segment *s)
{
  vmm_state_put_u64 (w, s->base);
  vmm_state_put_u32 (w, s->limit);
  vmm_state_put_u16 (w, s->selector);
  vmm_state_put_u8 (w, s->type);
  vmm_state_put_u8 (w, s->present);
  vmm_state_put_u8 (w, s->dpl);
  vmm_state_put_u8 (w, s->db);
  vmm_state_put_u8 (w, s->s);
  vmm_state_put_u8 (w, s->l);
  vmm_state_put_u8 (w, s->g);
  vmm_state_put_u8 (w, s->avl);
  vmm_state_put_u8 (w, s->unusable);
}

static uint8_t
get_flag (struct vmm_state_reader *r)
{
  return vmm_state_get_bool (r) ? 1 : 0;
}

static void
get_segment (struct vmm_state_reader *r, struct kvm_segment *s)
{
  memset (s, 0, sizeof *s);
  s->base = vmm_state_get_u64 (r);
  s->limit = vmm_state_get_u32 (r);
  s->selector = vmm_state_get_u16 (r);
  s->type = vmm_state_get_u8 (r);
  s->present = get_flag (r);
  s->dpl = vmm_state_get_u8 (r);
  s->db = get_flag (r);
  s->s = get_flag (r);
  s->l = get_flag (r);
  s->g = get_flag (r);
  s->avl = get_flag (r);
  s->unusable = get_flag (r);
  if (s->type > 15 || s->dpl > 3)
    vmm_state_reader_fail (r, N_("a segment's type or privilege level is out of range"));
}

static void
put_dtable (struct vmm_state_writer *w, const struct kvm_dtable *d)
{
  vmm_state_put_u64 (w, d->base);
  vmm_state_put_u16 (w, d->limit);
}

static void
get_dtable (struct vmm_state_reader *r, struct kvm_dtable *d)
{
  memset (d, 0, sizeof *d);
  d->base = vmm_state_get_u64 (r);
  d->limit = vmm_state_get_u16 (r);
}

static void
put_regs (struct vmm_state_writer *w, const struct kvm_regs *g)
{
  const uint64_t v[] = {
    g->rax, g->rbx, g->rcx, g->rdx, g->rsi, g->rdi, g->rsp, g->rbp,
    g->r8, g->r9, g->r10, g->r11, g->r12, g->r13, g->r14, g->r15, g->rip, g->rflags,
  };

  for (size_t i = 0; i < G_N_ELEMENTS (v); i++)
    vmm_state_put_u64 (w, v[i]);
}

static void
get_regs (struct vmm_state_reader *r, struct kvm_regs *g)
{
  __u64 *v[] = {
    &g->rax, &g->rbx, &g->rcx, &g->rdx, &g->rsi, &g->rdi, &g->rsp, &g->rbp,
    &g->r8, &g->r9, &g->r10, &g->r11, &g->r12, &g->r13, &g->r14, &g->r15, &g->rip, &g->rflags,
  };

  for (size_t i = 0; i < G_N_ELEMENTS (v); i++)
    *v[i] = vmm_state_get_u64 (r);
  /* RFLAGS: bit 1 always set, bits 22..63 reserved */
  if ((g->rflags & 2) == 0 || (g->rflags >> 22) != 0)
    vmm_state_reader_fail (r, N_("RFLAGS has reserved bits wrong"));
}

static void
put_events (struct vmm_state_writer *w, const struct kvm_vcpu_events *e)
{
  vmm_state_put_u8 (w, e->exception.injected);
  vmm_state_put_u8 (w, e->exception.nr);
  vmm_state_put_u8 (w, e->exception.has_error_code);
  vmm_state_put_u8 (w, e->exception.pending);
  vmm_state_put_u32 (w, e->exception.error_code);
  vmm_state_put_u8 (w, e->interrupt.injected);
  vmm_state_put_u8 (w, e->interrupt.nr);
  vmm_state_put_u8 (w, e->interrupt.soft);
  vmm_state_put_u8 (w, e->interrupt.shadow);
  vmm_state_put_u8 (w, e->nmi.injected);
  vmm_state_put_u8 (w, e->nmi.pending);
  vmm_state_put_u8 (w, e->nmi.masked);
  vmm_state_put_u32 (w, e->sipi_vector);
  vmm_state_put_u32 (w, e->flags);
  vmm_state_put_u8 (w, e->smi.smm);
  vmm_state_put_u8 (w, e->smi.pending);
  vmm_state_put_u8 (w, e->smi.smm_inside_nmi);
  vmm_state_put_u8 (w, e->smi.latched_init);
  vmm_state_put_u8 (w, e->triple_fault.pending);
  vmm_state_put_u8 (w, e->exception_has_payload);
  vmm_state_put_u64 (w, e->exception_payload);
}

#define EVENT_FLAGS (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
                     KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |             \
                     KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

static void
get_events (struct vmm_state_reader *r, struct kvm_vcpu_events *e)
{
  memset (e, 0, sizeof *e);
  e->exception.injected = get_flag (r);
  e->exception.nr = vmm_state_get_u8 (r);
  e->exception.has_error_code = get_flag (r);
  e->exception.pending = get_flag (r);
  e->exception.error_code = vmm_state_get_u32 (r);
  e->interrupt.injected = get_flag (r);
  e->interrupt.nr = vmm_state_get_u8 (r);
  e->interrupt.soft = get_flag (r);
  e->interrupt.shadow = vmm_state_get_u8 (r);
  e->nmi.injected = get_flag (r);
  e->nmi.pending = vmm_state_get_u8 (r);
  e->nmi.masked = get_flag (r);
  e->sipi_vector = vmm_state_get_u32 (r);
  e->flags = vmm_state_get_u32 (r);
  e->smi.smm = get_flag (r);
  e->smi.pending = get_flag (r);
  e->smi.smm_inside_nmi = get_flag (r);
  e->smi.latched_init = get_flag (r);
  e->triple_fault.pending = get_flag (r);
  e->exception_has_payload = get_flag (r);
  e->exception_payload = vmm_state_get_u64 (r);
  /* KVM counts up to two pending NMIs */
  if (e->exception.nr >= 32 || e->nmi.pending > 2 || e->sipi_vector > 0xff ||
      (e->interrupt.shadow & ~(KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI)) != 0 ||
      (e->flags & ~EVENT_FLAGS) != 0)
    vmm_state_reader_fail (r, N_("a pending event is out of range"));
}

static void
write_vcpu (struct vmm_state_writer *w, const char *name, const struct vcpu_state *st)
{
  const struct kvm_sregs2 *s = &st->sregs;
  const struct kvm_segment *segs[] = {
    &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt,
  };

  vmm_state_begin (w, name, VCPU_VERSION);
  vmm_state_put_u32 (w, st->n_cpuid);
  for (uint32_t i = 0; i < st->n_cpuid; i++)
    {
      const struct kvm_cpuid_entry2 *e = &st->cpuid[i];

      vmm_state_put_u32 (w, e->function);
      vmm_state_put_u32 (w, e->index);
      vmm_state_put_u32 (w, e->flags);
      vmm_state_put_u32 (w, e->eax);
      vmm_state_put_u32 (w, e->ebx);
      vmm_state_put_u32 (w, e->ecx);
      vmm_state_put_u32 (w, e->edx);
    }
  put_regs (w, &st->regs);

  for (size_t i = 0; i < G_N_ELEMENTS (segs); i++)
    put_segment (w, segs[i]);
  put_dtable (w, &s->gdt);
  put_dtable (w, &s->idt);
  vmm_state_put_u64 (w, s->cr0);
  vmm_state_put_u64 (w, s->cr2);
  vmm_state_put_u64 (w, s->cr3);
  vmm_state_put_u64 (w, s->cr4);
  vmm_state_put_u64 (w, s->cr8);
  vmm_state_put_u64 (w, s->efer);
  vmm_state_put_u64 (w, s->apic_base);
  vmm_state_put_u16 (w, st->irq);
  vmm_state_put_bool (w, (s->flags & KVM_SREGS2_FLAGS_PDPTRS_VALID) != 0);
  for (unsigned i = 0; i < 4; i++)
    vmm_state_put_u64 (w, s->pdptrs[i]);

  vmm_state_put_u8 (w, st->fpu_kind);
  if (st->fpu_kind == FPU_KIND_XSAVE)
    vmm_state_put_blob (w, st->xsave, st->xsave_len);
  else
    vmm_state_put_blob (w, &st->fpu, sizeof st->fpu);

  vmm_state_put_u8 (w, (uint8_t) st->xcrs.nr_xcrs);
  for (uint32_t i = 0; i < st->xcrs.nr_xcrs; i++)
    {
      vmm_state_put_u32 (w, st->xcrs.xcrs[i].xcr);
      vmm_state_put_u64 (w, st->xcrs.xcrs[i].value);
    }

  vmm_state_put_bool (w, st->has_debugregs);
  for (unsigned i = 0; i < 4; i++)
    vmm_state_put_u64 (w, st->debugregs.db[i]);
  vmm_state_put_u64 (w, st->debugregs.dr6);
  vmm_state_put_u64 (w, st->debugregs.dr7);

  vmm_state_put_blob (w, st->lapic.regs, sizeof st->lapic.regs);

  vmm_state_put_u32 (w, st->n_msrs);
  for (uint32_t i = 0; i < st->n_msrs; i++)
    {
      vmm_state_put_u32 (w, st->msrs[i].index);
      vmm_state_put_u64 (w, st->msrs[i].data);
    }

  vmm_state_put_u32 (w, st->mp_state);
  vmm_state_put_bool (w, st->has_events);
  put_events (w, &st->events);

  vmm_state_put_u32 (w, st->tsc_khz);
  vmm_state_put_u64 (w, st->tsc_deadline);
  /* Last, so that a comparison can tell it apart: it moves by itself */
  vmm_state_put_u64 (w, st->tsc);
  vmm_state_end (w);
}

gboolean
vmm_kvm_vcpu_save (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm, struct vmm_state_writer *w,
                   const char *name, GError **error)
{
  struct vcpu_state st;
  gboolean ok;

  g_return_val_if_fail (vcpu != NULL && vcpu->fd >= 0 && vcpu->run != NULL, FALSE);
  g_return_val_if_fail (kvm != NULL && w != NULL && name != NULL, FALSE);

  memset (&st, 0, sizeof st);
  ok = complete_pending_exit (vcpu, error) && read_vcpu (vcpu, kvm, &st, error);
  if (ok)
    write_vcpu (w, name, &st);
  vcpu_state_clear (&st);
  return ok;
}

/* Whether the features the saved guest saw are all in the table this
 * vCPU was given here (built from this host's KVM_GET_SUPPORTED_CPUID as
 * the saved one was from its host's): a guest that used one would fault */
static gboolean
check_cpuid (struct vmm_kvm_vcpu *vcpu, const struct vcpu_state *st, GError **error)
{
  g_autofree struct kvm_cpuid_entry2 *here = NULL;
  g_autofree char *message = NULL;
  struct vmm_cpuid_lack lack;
  uint32_t n_here = 0;

  here = read_cpuid (vcpu->fd, &n_here);
  if (here == NULL)
    return fail_ioctl (error, "KVM_GET_CPUID2", vcpu->index);
  if (vmm_cpuid_fits (st->cpuid, st->n_cpuid, here, n_here, &lack))
    return TRUE;
  message = vmm_cpuid_lack_message (&lack);
  vmm_log_warning ("vCPU %u: %s", vcpu->index, message);
  g_set_error_literal (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_CPU, message);
  return FALSE;
}

/* Reads the section into ST and checks it, against this host's KVM too */
static gboolean
parse_vcpu (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm, const struct vmm_state_file *f,
            const char *name, struct vcpu_state *st, GError **error)
{
  struct vmm_state_reader r;
  struct kvm_sregs2 *s = &st->sregs;
  struct kvm_segment *segs[] = {
    &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt,
  };
  const uint8_t *p;
  uint32_t n;

  memset (st, 0, sizeof *st);
  if (!vmm_state_reader_init (&r, f, name, VCPU_VERSION, error))
    return FALSE;

  if (r.s->version >= 2)
    {
      n = vmm_state_get_u32 (&r);
      if (n > VMM_KVM_STATE_MAX_CPUID)
        vmm_state_reader_fail (&r, N_("the CPUID table is too large"));
      else
        {
          st->cpuid = g_new0 (struct kvm_cpuid_entry2, n ? n : 1);
          st->n_cpuid = n;
        }
      for (uint32_t i = 0; i < st->n_cpuid && r.failed == NULL; i++)
        {
          struct kvm_cpuid_entry2 *e = &st->cpuid[i];

          e->function = vmm_state_get_u32 (&r);
          e->index = vmm_state_get_u32 (&r);
          e->flags = vmm_state_get_u32 (&r);
          e->eax = vmm_state_get_u32 (&r);
          e->ebx = vmm_state_get_u32 (&r);
          e->ecx = vmm_state_get_u32 (&r);
          e->edx = vmm_state_get_u32 (&r);
        }
    }

  get_regs (&r, &st->regs);

  for (size_t i = 0; i < G_N_ELEMENTS (segs); i++)
    get_segment (&r, segs[i]);
  get_dtable (&r, &s->gdt);
  get_dtable (&r, &s->idt);
  s->cr0 = vmm_state_get_u64 (&r);
  s->cr2 = vmm_state_get_u64 (&r);
  s->cr3 = vmm_state_get_u64 (&r);
  s->cr4 = vmm_state_get_u64 (&r);
  s->cr8 = vmm_state_get_u64 (&r);
  s->efer = vmm_state_get_u64 (&r);
  s->apic_base = vmm_state_get_u64 (&r);
  st->irq = vmm_state_get_u16 (&r);
  s->flags = vmm_state_get_bool (&r) ? KVM_SREGS2_FLAGS_PDPTRS_VALID : 0;
  for (unsigned i = 0; i < 4; i++)
    s->pdptrs[i] = vmm_state_get_u64 (&r);
  /* The reserved bits KVM_SET_SREGS would refuse, or VM entry trip on */
  if ((s->cr0 >> 32) != 0 || s->cr8 > 15 || (s->apic_base & 0x2ffull) != 0 ||
      (st->irq != NO_IRQ && st->irq >= KVM_NR_INTERRUPTS))
    vmm_state_reader_fail (&r, N_("a control register has reserved bits set"));

  st->fpu_kind = vmm_state_get_u8 (&r);
  p = vmm_state_get_blob (&r, VMM_KVM_STATE_MAX_XSAVE, &n);
  if (st->fpu_kind == FPU_KIND_XSAVE && p != NULL)
    {
      int here = vmm_kvm_check_extension (kvm, KVM_CAP_XSAVE2);
      uint32_t max = here > (int) XSAVE_MIN ? (uint32_t) here : XSAVE_MIN;
      uint64_t xcomp;

      if (n < XSAVE_MIN || n % 4 != 0)
        vmm_state_reader_fail (&r, N_("the XSAVE area has a wrong size"));
      else if (n > max)
        vmm_state_reader_fail (&r, N_("the XSAVE area is larger than this host's: "
                                      "saved on a CPU with more XSAVE features"));
      else if (here <= 0 && !has_cap (kvm, KVM_CAP_XSAVE))
        vmm_state_reader_fail (&r, N_("saved with XSAVE, which this host's KVM lacks"));
      else
        {
          memcpy (&xcomp, p + XSAVE_HDR_XCOMP_BV, sizeof xcomp);
          /* KVM's ABI is the standard (not compacted) layout */
          if (xcomp & (1ull << 63))
            vmm_state_reader_fail (&r, N_("the XSAVE area is in compacted form"));
          /* smaller than here: zero-filled, the features beyond it are
           * not in XSTATE_BV, so in their initial state */
          st->xsave = g_malloc0 (max);
          st->xsave_len = max;
          memcpy (st->xsave, p, n);
        }
    }
  else if (st->fpu_kind == FPU_KIND_FPU && p != NULL)
    {
      if (n != sizeof st->fpu)
        vmm_state_reader_fail (&r, N_("the FPU state has a wrong size"));
      else
        memcpy (&st->fpu, p, n);
    }
  else
    vmm_state_reader_fail (&r, N_("the FPU state is of an unknown kind"));

  st->xcrs.nr_xcrs = vmm_state_get_u8 (&r);
  if (st->xcrs.nr_xcrs > KVM_MAX_XCRS)
    {
      vmm_state_reader_fail (&r, N_("too many XCRs"));
      st->xcrs.nr_xcrs = 0;
    }
  for (uint32_t i = 0; i < st->xcrs.nr_xcrs; i++)
    {
      st->xcrs.xcrs[i].xcr = vmm_state_get_u32 (&r);
      st->xcrs.xcrs[i].value = vmm_state_get_u64 (&r);
      if (st->xcrs.xcrs[i].xcr == 0 && (st->xcrs.xcrs[i].value & XCR0_X87) == 0)
        vmm_state_reader_fail (&r, N_("XCR0 lacks the x87 bit"));
    }
  if (st->xcrs.nr_xcrs > 0 && !has_cap (kvm, KVM_CAP_XCRS))
    {
      /* Only XCR0 at its reset value can be dropped unnoticed */
      if (st->xcrs.nr_xcrs > 1 || st->xcrs.xcrs[0].value != XCR0_X87)
        vmm_state_reader_fail (&r, N_("saved with XCRs, which this host's KVM lacks"));
      st->xcrs.nr_xcrs = 0;
    }

  st->has_debugregs = vmm_state_get_bool (&r);
  for (unsigned i = 0; i < 4; i++)
    st->debugregs.db[i] = vmm_state_get_u64 (&r);
  st->debugregs.dr6 = vmm_state_get_u64 (&r);
  st->debugregs.dr7 = vmm_state_get_u64 (&r);
  if ((st->debugregs.dr6 >> 32) != 0 || (st->debugregs.dr7 >> 32) != 0)
    vmm_state_reader_fail (&r, N_("DR6 or DR7 has reserved bits set"));

  p = vmm_state_get_blob (&r, sizeof st->lapic.regs, &n);
  if (p != NULL && n == sizeof st->lapic.regs)
    memcpy (st->lapic.regs, p, n);
  else
    vmm_state_reader_fail (&r, N_("the local APIC's state has a wrong size"));

  n = vmm_state_get_u32 (&r);
  if (n > VMM_KVM_STATE_MAX_MSRS)
    vmm_state_reader_fail (&r, N_("too many MSRs"));
  else
    {
      g_autofree struct kvm_msr_entry *here = NULL;
      uint32_t n_here = 0;

      st->msrs = g_new0 (struct kvm_msr_entry, n ? n : 1);
      st->n_msrs = n;
      for (uint32_t i = 0; i < n && r.failed == NULL; i++)
        {
          st->msrs[i].index = vmm_state_get_u32 (&r);
          st->msrs[i].data = vmm_state_get_u64 (&r);
          if (msr_excluded (st->msrs[i].index) || has_index (st->msrs, i, st->msrs[i].index))
            vmm_state_reader_fail (&r, N_("an MSR is there twice or does not belong there"));
        }
      /* What this vCPU takes: read-only, so with APPLY false too */
      if (r.failed == NULL && n > 0)
        {
          here = read_msrs (kvm, vcpu->fd, &n_here);
          if (here == NULL)
            return fail_ioctl (error, "KVM_GET_MSRS", vcpu->index);
          for (uint32_t i = 0; i < n; i++)
            if (!has_index (here, n_here, st->msrs[i].index))
              {
                vmm_log_warning ("%s: MSR %#x is not one this host's KVM restores", name,
                                 st->msrs[i].index);
                vmm_state_reader_fail (&r, N_("an MSR is not one this host's KVM restores"));
                break;
              }
        }
    }

  st->mp_state = vmm_state_get_u32 (&r);
  if (st->mp_state > KVM_MP_STATE_SIPI_RECEIVED)
    vmm_state_reader_fail (&r, N_("the run state is unknown"));
  st->has_events = vmm_state_get_bool (&r);
  get_events (&r, &st->events);

  st->tsc_khz = vmm_state_get_u32 (&r);
  st->tsc_deadline = vmm_state_get_u64 (&r);
  st->tsc = vmm_state_get_u64 (&r);
  if (!vmm_state_reader_done (&r, error))
    return FALSE;
  return st->n_cpuid == 0 || check_cpuid (vcpu, st, error);
}

/* ---- writing a vCPU into KVM -------------------------------------------------------- */

static gboolean
apply_vcpu (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm, struct vcpu_state *st,
            GError **error)
{
  struct kvm_mp_state mp = { .mp_state = st->mp_state };
  struct kvm_msrs *msrs;
  unsigned index = vcpu->index;
  int fd = vcpu->fd, ret;

  /* The same host keeps its rate; another one scales to the saved rate if
   * it can (KVM_CAP_TSC_CONTROL), else the guest sees its TSC tick at
   * another rate and is told so in the log. 250 ppm is NTP's tolerance. */
  if (st->tsc_khz != 0 && has_cap (kvm, KVM_CAP_GET_TSC_KHZ))
    {
      int khz = ioctl (fd, KVM_GET_TSC_KHZ, 0);

      if (khz > 0 && (uint64_t) ABS ((int64_t) khz - (int64_t) st->tsc_khz) * 4000 > st->tsc_khz)
        {
          if (has_cap (kvm, KVM_CAP_TSC_CONTROL) &&
              ioctl (fd, KVM_SET_TSC_KHZ, (unsigned long) st->tsc_khz) == 0)
            ;
          else
            vmm_log_warning ("vCPU %u: saved with a TSC of %u kHz, this host's runs at %d kHz",
                             index, st->tsc_khz, khz);
        }
    }

  if (ioctl (fd, KVM_SET_REGS, &st->regs) < 0)
    return fail_ioctl (error, "KVM_SET_REGS", index);

  if (st->fpu_kind == FPU_KIND_XSAVE)
    {
      if (ioctl (fd, KVM_SET_XSAVE, st->xsave) < 0)
        return fail_ioctl (error, "KVM_SET_XSAVE", index);
    }
  else if (ioctl (fd, KVM_SET_FPU, &st->fpu) < 0)
    return fail_ioctl (error, "KVM_SET_FPU", index);

  if (st->xcrs.nr_xcrs > 0 && ioctl (fd, KVM_SET_XCRS, &st->xcrs) < 0)
    return fail_ioctl (error, "KVM_SET_XCRS", index);

  if (has_cap (kvm, KVM_CAP_SREGS2))
    {
      /* Without saved PDPTRs (flags 0) KVM loads them from guest memory */
      if (ioctl (fd, KVM_SET_SREGS2, &st->sregs) < 0)
        return fail_ioctl (error, "KVM_SET_SREGS2", index);
    }
  else
    {
      struct kvm_sregs s;
      const struct kvm_sregs2 *s2 = &st->sregs;

      memset (&s, 0, sizeof s);
      s.cs = s2->cs, s.ds = s2->ds, s.es = s2->es, s.fs = s2->fs, s.gs = s2->gs;
      s.ss = s2->ss, s.tr = s2->tr, s.ldt = s2->ldt, s.gdt = s2->gdt, s.idt = s2->idt;
      s.cr0 = s2->cr0, s.cr2 = s2->cr2, s.cr3 = s2->cr3, s.cr4 = s2->cr4, s.cr8 = s2->cr8;
      s.efer = s2->efer, s.apic_base = s2->apic_base;
      /* A set bit makes KVM queue that vector as injected; the events
       * below say the same again */
      if (st->irq != NO_IRQ)
        s.interrupt_bitmap[st->irq / 64] |= 1ull << (st->irq % 64);
      if (ioctl (fd, KVM_SET_SREGS, &s) < 0)
        return fail_ioctl (error, "KVM_SET_SREGS", index);
    }

  /* The TSC first, then the table */
  msrs = g_malloc0 (sizeof *msrs + (st->n_msrs + 1) * sizeof msrs->entries[0]);
  msrs->nmsrs = st->n_msrs + 1;
  msrs->entries[0].index = MSR_IA32_TSC;
  msrs->entries[0].data = st->tsc;
  memcpy (msrs->entries + 1, st->msrs, st->n_msrs * sizeof msrs->entries[0]);
  ret = ioctl (fd, KVM_SET_MSRS, msrs);
  if (ret >= 0 && (uint32_t) ret < msrs->nmsrs)
    {
      g_set_error (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_KVM,
                   _("KVM refused MSR %#x of vCPU %u"), msrs->entries[ret].index, index);
      g_free (msrs);
      return FALSE;
    }
  g_free (msrs);
  if (ret < 0)
    return fail_ioctl (error, "KVM_SET_MSRS", index);

  if (ioctl (fd, KVM_SET_MP_STATE, &mp) < 0)
    return fail_ioctl (error, "KVM_SET_MP_STATE", index);

  if (ioctl (fd, KVM_SET_LAPIC, &st->lapic) < 0)
    return fail_ioctl (error, "KVM_SET_LAPIC", index);

  if (st->tsc_deadline != 0 && !set_msr (fd, MSR_IA32_TSC_DEADLINE, st->tsc_deadline))
    return fail_ioctl (error, "KVM_SET_MSRS", index);

  if (st->has_events && has_cap (kvm, KVM_CAP_VCPU_EVENTS))
    {
      struct kvm_vcpu_events e = st->events;

      /* What KVM reported, and the fields it only takes when told to
       * (it does not report them as valid when reading) */
      e.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
                 KVM_VCPUEVENT_VALID_SHADOW;
      if (ioctl (fd, KVM_SET_VCPU_EVENTS, &e) < 0)
        return fail_ioctl (error, "KVM_SET_VCPU_EVENTS", index);
    }

  if (st->has_debugregs && has_cap (kvm, KVM_CAP_DEBUGREGS))
    {
      struct kvm_debugregs d = st->debugregs;

      d.flags = 0;
      if (ioctl (fd, KVM_SET_DEBUGREGS, &d) < 0)
        return fail_ioctl (error, "KVM_SET_DEBUGREGS", index);
    }
  return TRUE;
}

gboolean
vmm_kvm_vcpu_load (struct vmm_kvm_vcpu *vcpu, struct vmm_kvm *kvm,
                   const struct vmm_state_file *f, const char *name, bool apply, GError **error)
{
  struct vcpu_state st;
  gboolean ok;

  g_return_val_if_fail (vcpu != NULL && vcpu->fd >= 0, FALSE);
  g_return_val_if_fail (kvm != NULL && f != NULL && name != NULL, FALSE);

  ok = parse_vcpu (vcpu, kvm, f, name, &st, error);
  if (ok && apply)
    ok = apply_vcpu (vcpu, kvm, &st, error);
  vcpu_state_clear (&st);
  return ok;
}

/* ---- the VM: irqchip, PIT, clock ------------------------------------------------------ */

struct vm_state {
  struct kvm_irqchip pic[2];
  struct kvm_irqchip ioapic;
  bool has_pit;
  struct kvm_pit_state2 pit;    /* count_load_time: on the guest's clock (see below) */
  bool has_clock;
  uint64_t clock;
};

static int64_t
monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The host's CLOCK_MONOTONIC (which KVM's PIT keeps its load times on)
 * less the guest's kvmclock, now: QEMU's conversion (hw/i386/kvm/i8254.c),
 * so a PIT load time is saved as a time of the guest's, and goes back on
 * the new host's clock relative to the restored kvmclock. 0 when the VM
 * has no clock to read. */
static int64_t
host_minus_guest_ns (int vm_fd)
{
  struct kvm_clock_data c;

  memset (&c, 0, sizeof c);
  if (ioctl (vm_fd, KVM_GET_CLOCK, &c) < 0)
    return 0;
  return monotonic_ns () - (int64_t) c.clock;
}

static void
put_pic (struct vmm_state_writer *w, const struct kvm_pic_state *p)
{
  const uint8_t v[] = {
    p->last_irr, p->irr, p->imr, p->isr, p->priority_add, p->irq_base, p->read_reg_select,
    p->poll, p->special_mask, p->init_state, p->auto_eoi, p->rotate_on_auto_eoi,
    p->special_fully_nested_mode, p->init4, p->elcr, p->elcr_mask,
  };

  vmm_state_put_bytes (w, v, sizeof v);
}

static void
get_pic (struct vmm_state_reader *r, struct kvm_pic_state *p)
{
  uint8_t v[16];

  vmm_state_get_bytes (r, v, sizeof v);
  memset (p, 0, sizeof *p);
  p->last_irr = v[0], p->irr = v[1], p->imr = v[2], p->isr = v[3];
  p->priority_add = v[4], p->irq_base = v[5], p->read_reg_select = v[6], p->poll = v[7];
  p->special_mask = v[8], p->init_state = v[9], p->auto_eoi = v[10];
  p->rotate_on_auto_eoi = v[11], p->special_fully_nested_mode = v[12], p->init4 = v[13];
  p->elcr = v[14], p->elcr_mask = v[15];
  /* Flags 0 or 1; the init sequence's step 0..3; a base on 8 vectors */
  if (v[6] > 1 || v[7] > 1 || v[8] > 1 || v[9] > 3 || v[10] > 1 || v[11] > 1 || v[12] > 1 ||
      v[13] > 1 || v[4] > 7 || (v[5] & 7) != 0)
    vmm_state_reader_fail (r, N_("an interrupt controller's state is out of range"));
}

static void
put_pit_channel (struct vmm_state_writer *w, const struct kvm_pit_channel_state *c)
{
  vmm_state_put_u32 (w, c->count);
  vmm_state_put_u16 (w, c->latched_count);
  vmm_state_put_u8 (w, c->count_latched);
  vmm_state_put_u8 (w, c->status_latched);
  vmm_state_put_u8 (w, c->status);
  vmm_state_put_u8 (w, c->read_state);
  vmm_state_put_u8 (w, c->write_state);
  vmm_state_put_u8 (w, c->write_latch);
  vmm_state_put_u8 (w, c->rw_mode);
  vmm_state_put_u8 (w, c->mode);
  vmm_state_put_u8 (w, c->bcd);
  vmm_state_put_u8 (w, c->gate);
  vmm_state_put_u64 (w, (uint64_t) c->count_load_time);
}

static void
get_pit_channel (struct vmm_state_reader *r, struct kvm_pit_channel_state *c)
{
  memset (c, 0, sizeof *c);
  c->count = vmm_state_get_u32 (r);
  c->latched_count = vmm_state_get_u16 (r);
  c->count_latched = vmm_state_get_u8 (r);
  c->status_latched = get_flag (r);
  c->status = vmm_state_get_u8 (r);
  c->read_state = vmm_state_get_u8 (r);
  c->write_state = vmm_state_get_u8 (r);
  c->write_latch = vmm_state_get_u8 (r);
  c->rw_mode = vmm_state_get_u8 (r);
  c->mode = vmm_state_get_u8 (r);
  c->bcd = get_flag (r);
  c->gate = get_flag (r);
  c->count_load_time = (int64_t) vmm_state_get_u64 (r);
  /* count_latched holds the access mode at the latch; mode 0xff: never
   * programmed since reset (i8254.c) */
  if (c->count > 0x10000 || c->count_latched > 3 || c->read_state > 4 || c->write_state > 4 ||
      c->rw_mode > 3 || (c->mode > 5 && c->mode != 0xff))
    vmm_state_reader_fail (r, N_("a timer channel's state is out of range"));
}

static gboolean
read_irqchip (int vm_fd, struct kvm_irqchip *chip, unsigned id, GError **error)
{
  memset (chip, 0, sizeof *chip);
  chip->chip_id = id;
  if (ioctl (vm_fd, KVM_GET_IRQCHIP, chip) < 0)
    return fail_vm_ioctl (error, "KVM_GET_IRQCHIP");
  return TRUE;
}

gboolean
vmm_kvm_vm_save (struct vmm_kvm *kvm, int vm_fd, struct vmm_state_writer *w, GError **error)
{
  struct vm_state st;
  const struct kvm_ioapic_state *io = &st.ioapic.chip.ioapic;
  GString *missing;
  int64_t offset;

  g_return_val_if_fail (kvm != NULL && vm_fd >= 0 && w != NULL, FALSE);

  memset (&st, 0, sizeof st);
  if (!read_irqchip (vm_fd, &st.pic[0], KVM_IRQCHIP_PIC_MASTER, error) ||
      !read_irqchip (vm_fd, &st.pic[1], KVM_IRQCHIP_PIC_SLAVE, error) ||
      !read_irqchip (vm_fd, &st.ioapic, KVM_IRQCHIP_IOAPIC, error))
    return FALSE;

  st.has_clock = has_cap (kvm, KVM_CAP_ADJUST_CLOCK);
  if (st.has_clock)
    {
      struct kvm_clock_data c;

      memset (&c, 0, sizeof c);
      if (ioctl (vm_fd, KVM_GET_CLOCK, &c) < 0)
        return fail_vm_ioctl (error, "KVM_GET_CLOCK");
      st.clock = c.clock;
    }

  /* The engine always makes a PIT (vmm_kvm_setup_platform); ENXIO: none */
  offset = st.has_clock ? host_minus_guest_ns (vm_fd) : 0;
  if (has_cap (kvm, KVM_CAP_PIT_STATE2))
    st.has_pit = ioctl (vm_fd, KVM_GET_PIT2, &st.pit) == 0;
  else
    {
      struct kvm_pit_state old;

      st.has_pit = ioctl (vm_fd, KVM_GET_PIT, &old) == 0;
      memcpy (st.pit.channels, old.channels, sizeof old.channels);
    }
  if (!st.has_pit && errno != ENXIO)
    return fail_vm_ioctl (error, "KVM_GET_PIT2");
  for (unsigned i = 0; i < 3 && st.has_pit; i++)
    st.pit.channels[i].count_load_time -= offset;

  vmm_state_begin (w, "kvm.irqchip", VM_VERSION);
  put_pic (w, &st.pic[0].chip.pic);
  put_pic (w, &st.pic[1].chip.pic);
  vmm_state_put_u64 (w, io->base_address);
  vmm_state_put_u32 (w, io->ioregsel);
  vmm_state_put_u32 (w, io->id);
  vmm_state_put_u32 (w, io->irr);
  for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
    vmm_state_put_u64 (w, io->redirtbl[i].bits);
  vmm_state_end (w);

  vmm_state_begin (w, "kvm.pit", VM_VERSION);
  vmm_state_put_bool (w, st.has_pit);
  vmm_state_put_u32 (w, st.pit.flags);
  for (unsigned i = 0; i < 3; i++)
    put_pit_channel (w, &st.pit.channels[i]);
  vmm_state_end (w);

  vmm_state_begin (w, "kvm.clock", VM_VERSION);
  vmm_state_put_bool (w, st.has_clock);
  vmm_state_put_u64 (w, st.clock);
  vmm_state_end (w);

  /* Once a snapshot: what this KVM could not give */
  missing = g_string_new (NULL);
  if (!has_cap (kvm, KVM_CAP_SREGS2))
    g_string_append (missing, " the PAE PDPTRs (no KVM_CAP_SREGS2),");
  if (!has_cap (kvm, KVM_CAP_XSAVE))
    g_string_append (missing, " the XSAVE area beyond the FPU (no KVM_CAP_XSAVE),");
  if (!has_cap (kvm, KVM_CAP_XCRS))
    g_string_append (missing, " XCR0 (no KVM_CAP_XCRS),");
  if (!has_cap (kvm, KVM_CAP_DEBUGREGS))
    g_string_append (missing, " the debug registers (no KVM_CAP_DEBUGREGS),");
  if (!has_cap (kvm, KVM_CAP_VCPU_EVENTS))
    g_string_append (missing, " pending events (no KVM_CAP_VCPU_EVENTS),");
  if (!has_cap (kvm, KVM_CAP_PIT_STATE2))
    g_string_append (missing, " the PIT's flags (no KVM_CAP_PIT_STATE2),");
  if (!st.has_clock)
    g_string_append (missing, " the clock (no KVM_CAP_ADJUST_CLOCK),");
  if (missing->len > 0)
    {
      g_string_truncate (missing, missing->len - 1);
      vmm_log_info ("this KVM's state leaves out:%s", missing->str);
    }
  g_string_free (missing, TRUE);
  return TRUE;
}

static gboolean
parse_vm (struct vmm_kvm *kvm, int vm_fd, const struct vmm_state_file *f, struct vm_state *st,
          GError **error)
{
  struct kvm_ioapic_state *io = &st->ioapic.chip.ioapic;
  struct vmm_state_reader r;

  memset (st, 0, sizeof *st);
  st->pic[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
  st->pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
  st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;

  if (!vmm_state_reader_init (&r, f, "kvm.irqchip", VM_VERSION, error))
    return FALSE;
  get_pic (&r, &st->pic[0].chip.pic);
  get_pic (&r, &st->pic[1].chip.pic);
  io->base_address = vmm_state_get_u64 (&r);
  io->ioregsel = vmm_state_get_u32 (&r);
  io->id = vmm_state_get_u32 (&r);
  io->irr = vmm_state_get_u32 (&r);
  for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
    io->redirtbl[i].bits = vmm_state_get_u64 (&r);
  /* KVM takes the base as given and routes MMIO by it: ours never moves */
  if (io->base_address != IOAPIC_BASE || io->id > 0xff || io->ioregsel > 0xff ||
      (io->irr >> KVM_IOAPIC_NUM_PINS) != 0)
    vmm_state_reader_fail (&r, N_("the IOAPIC's state is out of range"));
  if (!vmm_state_reader_done (&r, error))
    return FALSE;

  if (!vmm_state_reader_init (&r, f, "kvm.pit", VM_VERSION, error))
    return FALSE;
  st->has_pit = vmm_state_get_bool (&r);
  st->pit.flags = vmm_state_get_u32 (&r);
  for (unsigned i = 0; i < 3; i++)
    get_pit_channel (&r, &st->pit.channels[i]);
  if ((st->pit.flags & ~(uint32_t) (KVM_PIT_FLAGS_HPET_LEGACY |
                                    KVM_PIT_FLAGS_SPEAKER_DATA_ON)) != 0)
    vmm_state_reader_fail (&r, N_("a timer channel's state is out of range"));
  if (st->has_pit)
    {
      struct kvm_pit_state probe;

      /* Does this VM have a PIT to take it? (read-only) */
      if (ioctl (vm_fd, KVM_GET_PIT, &probe) < 0)
        vmm_state_reader_fail (&r, N_("saved with a PIT this machine lacks"));
    }
  if (!vmm_state_reader_done (&r, error))
    return FALSE;

  if (!vmm_state_reader_init (&r, f, "kvm.clock", VM_VERSION, error))
    return FALSE;
  st->has_clock = vmm_state_get_bool (&r);
  st->clock = vmm_state_get_u64 (&r);
  /* kvmclock runs in signed nanoseconds */
  if (st->clock > (uint64_t) INT64_MAX)
    vmm_state_reader_fail (&r, N_("the clock is out of range"));
  if (st->has_clock && !has_cap (kvm, KVM_CAP_ADJUST_CLOCK))
    vmm_log_warning ("kvm.clock: this KVM cannot set the clock: the guest's clock jumps");
  return vmm_state_reader_done (&r, error);
}

gboolean
vmm_kvm_vm_load (struct vmm_kvm *kvm, int vm_fd, const struct vmm_state_file *f, bool apply,
                 GError **error)
{
  struct vm_state st;
  int64_t offset;

  g_return_val_if_fail (kvm != NULL && vm_fd >= 0 && f != NULL, FALSE);

  if (!parse_vm (kvm, vm_fd, f, &st, error))
    return FALSE;
  if (!apply)
    return TRUE;

  /* Not KVM_CLOCK_REALTIME: that would add the time the machine spent
   * saved, which the guest did not live through */
  if (st.has_clock && has_cap (kvm, KVM_CAP_ADJUST_CLOCK))
    {
      struct kvm_clock_data c = { .clock = st.clock };

      if (ioctl (vm_fd, KVM_SET_CLOCK, &c) < 0)
        return fail_vm_ioctl (error, "KVM_SET_CLOCK");
    }

  if (ioctl (vm_fd, KVM_SET_IRQCHIP, &st.pic[0]) < 0 ||
      ioctl (vm_fd, KVM_SET_IRQCHIP, &st.pic[1]) < 0 ||
      ioctl (vm_fd, KVM_SET_IRQCHIP, &st.ioapic) < 0)
    return fail_vm_ioctl (error, "KVM_SET_IRQCHIP");

  if (st.has_pit)
    {
      /* KVM restarts each channel's count at the load (kvm_pit_load_count):
       * the load times given are kept for the record, not obeyed */
      offset = st.has_clock ? host_minus_guest_ns (vm_fd) : 0;
      for (unsigned i = 0; i < 3; i++)
        st.pit.channels[i].count_load_time += offset;
      if (has_cap (kvm, KVM_CAP_PIT_STATE2))
        {
          if (ioctl (vm_fd, KVM_SET_PIT2, &st.pit) < 0)
            return fail_vm_ioctl (error, "KVM_SET_PIT2");
        }
      else
        {
          struct kvm_pit_state old;

          memcpy (old.channels, st.pit.channels, sizeof old.channels);
          if (ioctl (vm_fd, KVM_SET_PIT, &old) < 0)
            return fail_vm_ioctl (error, "KVM_SET_PIT");
        }
    }
  return TRUE;
}
