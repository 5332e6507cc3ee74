/* arch/x86/cpu.c: a vCPU's CPUID, MSRs, LAPIC and boot registers
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "arch/x86/cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"

#define MAX_CPUID_ENTRIES 256

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_X2APIC     (1u << 21)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_EDX_HTT        (1u << 28)

#define KVM_CPUID_BASE_OLD  0x40000000u
#define KVM_CPUID_BASE_NEW  0x40000100u

/* MSRs */
#define MSR_IA32_SYSENTER_CS   0x174
#define MSR_IA32_SYSENTER_ESP  0x175
#define MSR_IA32_SYSENTER_EIP  0x176
#define MSR_IA32_TSC           0x10
#define MSR_IA32_MISC_ENABLE   0x1a0
#define MSR_MTRR_DEF_TYPE      0x2ff
#define MSR_STAR               0xc0000081
#define MSR_LSTAR              0xc0000082
#define MSR_CSTAR              0xc0000083
#define MSR_SYSCALL_MASK       0xc0000084
#define MSR_KERNEL_GS_BASE     0xc0000102

#define MISC_ENABLE_FAST_STRING 1ull
#define MTRR_ENABLE            (1ull << 11)
#define MTRR_TYPE_WB           6ull

/* LAPIC registers in struct kvm_lapic_state */
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

int
vmm_x86_supported_cpuid (int kvm_fd, struct kvm_cpuid2 **out)
{
  for (unsigned n = MAX_CPUID_ENTRIES; n <= 4 * MAX_CPUID_ENTRIES; n *= 2)
    {
      struct kvm_cpuid2 *cpuid = calloc (1, sizeof *cpuid + n * sizeof cpuid->entries[0]);

      if (cpuid == NULL)
        return -ENOMEM;
      cpuid->nent = n;
      if (ioctl (kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
        {
          *out = cpuid;
          return 0;
        }
      free (cpuid);
      if (errno != E2BIG)
        return -errno;
    }
  return -E2BIG;
}

static unsigned
order_of (unsigned n)
{
  unsigned shift = 0;

  while ((1u << shift) < n)
    shift++;
  return shift;
}

static void
set_signature (struct kvm_cpuid_entry2 *e, const char sig[12])
{
  memcpy (&e->ebx, sig, 4);
  memcpy (&e->ecx, sig + 4, 4);
  memcpy (&e->edx, sig + 8, 4);
}

struct kvm_cpuid2 *
vmm_x86_vcpu_cpuid (const struct kvm_cpuid2 *supported, unsigned index, unsigned n_cpus)
{
  struct kvm_cpuid2 *cpuid;
  unsigned n = 0, core_shift = order_of (n_cpus);
  uint32_t max_kvm_leaf = 0;

  cpuid = calloc (1, sizeof *cpuid + (supported->nent + 2) * sizeof cpuid->entries[0]);
  if (cpuid == NULL)
    return NULL;

  for (unsigned i = 0; i < supported->nent; i++)
    {
      struct kvm_cpuid_entry2 e = supported->entries[i];

      switch (e.function)
        {
        case 0x1:
          e.ebx = (e.ebx & 0x0000ffffu) | (index << 24) |
                  ((n_cpus > 255 ? 255 : n_cpus) << 16);
          e.ecx |= CPUID_1_ECX_HYPERVISOR;
          if (n_cpus > 1)
            e.edx |= CPUID_1_EDX_HTT;
          else
            e.edx &= ~CPUID_1_EDX_HTT;
          break;
        case 0x4:
          /* Deterministic cache parameters: one core per CPU, the last
           * level shared by all of them. */
          if ((e.eax & 0x1f) != 0)
            {
              unsigned level = (e.eax >> 5) & 7;
              unsigned sharing = level >= 3 ? n_cpus - 1 : 0;
              e.eax = (e.eax & 0x3ff) | ((n_cpus - 1) << 26) | (sharing << 14);
            }
          break;
        case 0xb:
        case 0x1f:
          /* Extended topology: no SMT level beyond 1 thread per core. */
          e.edx = index;
          if (e.index == 0)
            {
              e.eax = 0;
              e.ebx = 1;
              e.ecx = (1u << 8) | e.index;
            }
          else if (e.index == 1)
            {
              e.eax = core_shift;
              e.ebx = n_cpus;
              e.ecx = (2u << 8) | e.index;
            }
          else
            {
              e.eax = e.ebx = 0;
              e.ecx = e.index;
            }
          break;
        case KVM_CPUID_BASE_OLD:
          max_kvm_leaf = e.eax;
          e.function = KVM_CPUID_BASE_NEW;
          e.eax = KVM_CPUID_BASE_NEW + (max_kvm_leaf - KVM_CPUID_BASE_OLD);
          break;
        default:
          if (e.function > KVM_CPUID_BASE_OLD && e.function < KVM_CPUID_BASE_OLD + 0x100)
            e.function += KVM_CPUID_BASE_NEW - KVM_CPUID_BASE_OLD;
          break;
        }
      cpuid->entries[n++] = e;
    }

  /* Ours, at the base Linux looks at first. */
  cpuid->entries[n] = (struct kvm_cpuid_entry2) {
    .function = KVM_CPUID_BASE_OLD,
    .eax = KVM_CPUID_BASE_OLD, /* no leaves of ours beyond the signature */
  };
  set_signature (&cpuid->entries[n], VMM_CPUID_SIGNATURE);
  n++;
  cpuid->nent = n;
  return cpuid;
}

static int
set_msrs (int kvm_fd, int vcpu_fd)
{
  static const struct { uint32_t index; uint64_t value; } boot_msrs[] = {
    { MSR_IA32_SYSENTER_CS, 0 },
    { MSR_IA32_SYSENTER_ESP, 0 },
    { MSR_IA32_SYSENTER_EIP, 0 },
    { MSR_STAR, 0 },
    { MSR_CSTAR, 0 },
    { MSR_KERNEL_GS_BASE, 0 },
    { MSR_SYSCALL_MASK, 0 },
    { MSR_LSTAR, 0 },
    { MSR_IA32_TSC, 0 },
    { MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
    { MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
  };
  struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry entries[sizeof boot_msrs / sizeof boot_msrs[0]];
  } msrs;
  struct kvm_msr_list *list;
  unsigned n = 0;
  int ret;

  /* Only the MSRs this KVM saves and restores. */
  list = calloc (1, sizeof *list + 1024 * sizeof list->indices[0]);
  if (list == NULL)
    return -ENOMEM;
  list->nmsrs = 1024;
  if (ioctl (kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
    {
      ret = -errno;
      free (list);
      return ret;
    }

  memset (&msrs, 0, sizeof msrs);
  for (unsigned i = 0; i < sizeof boot_msrs / sizeof boot_msrs[0]; i++)
    for (unsigned j = 0; j < list->nmsrs; j++)
      if (list->indices[j] == boot_msrs[i].index)
        {
          msrs.entries[n].index = boot_msrs[i].index;
          msrs.entries[n].data = boot_msrs[i].value;
          n++;
          break;
        }
  free (list);
  msrs.hdr.nmsrs = n;

  ret = ioctl (vcpu_fd, KVM_SET_MSRS, &msrs);
  if (ret < 0)
    return -errno;
  if ((unsigned) ret != n)
    vmm_log_warning ("KVM took %d of %u boot MSRs (stopped at %#x)", ret, n,
                     msrs.entries[ret].index);
  return 0;
}

static int
set_lapic (int vcpu_fd)
{
  struct kvm_lapic_state lapic;
  uint32_t lvt;

  if (ioctl (vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
    return -errno;
  /* Virtual wire mode: LINT0 takes the 8259's ExtINT, LINT1 NMIs. */
  memcpy (&lvt, &lapic.regs[APIC_LVT_LINT0], 4);
  lvt = (lvt & ~0x700u) | (APIC_MODE_EXTINT << 8);
  memcpy (&lapic.regs[APIC_LVT_LINT0], &lvt, 4);
  memcpy (&lvt, &lapic.regs[APIC_LVT_LINT1], 4);
  lvt = (lvt & ~0x700u) | (APIC_MODE_NMI << 8);
  memcpy (&lapic.regs[APIC_LVT_LINT1], &lvt, 4);
  return ioctl (vcpu_fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int
vmm_x86_vcpu_init (int kvm_fd, int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned index,
                   unsigned n_cpus)
{
  struct kvm_cpuid2 *cpuid;
  struct kvm_fpu fpu;
  int ret;

  cpuid = vmm_x86_vcpu_cpuid (supported, index, n_cpus);
  if (cpuid == NULL)
    return -ENOMEM;
  ret = ioctl (vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
  free (cpuid);
  if (ret < 0)
    return ret;

  ret = set_msrs (kvm_fd, vcpu_fd);
  if (ret < 0)
    return ret;

  memset (&fpu, 0, sizeof fpu);
  fpu.fcw = 0x37f;     /* x87 default control word */
  fpu.mxcsr = 0x1f80;  /* SSE default: all exceptions masked */
  if (ioctl (vcpu_fd, KVM_SET_FPU, &fpu) < 0)
    return -errno;

  return set_lapic (vcpu_fd);
}

static void
to_kvm_segment (struct kvm_segment *k, const struct vmm_boot_segment *s)
{
  memset (k, 0, sizeof *k);
  k->base = s->base;
  k->limit = s->limit;
  k->selector = s->selector;
  k->type = s->type;
  k->present = s->present;
  k->dpl = s->dpl;
  k->db = s->db;
  k->s = s->s;
  k->l = s->l;
  k->g = s->g;
  k->unusable = !s->present;
}

int
vmm_x86_vcpu_set_boot_state (int vcpu_fd, const struct vmm_boot_state *st)
{
  struct kvm_sregs sregs;
  struct kvm_regs regs;

  if (ioctl (vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
    return -errno;
  to_kvm_segment (&sregs.cs, &st->cs);
  to_kvm_segment (&sregs.ds, &st->ds);
  to_kvm_segment (&sregs.es, &st->es);
  to_kvm_segment (&sregs.fs, &st->fs);
  to_kvm_segment (&sregs.gs, &st->gs);
  to_kvm_segment (&sregs.ss, &st->ss);
  to_kvm_segment (&sregs.tr, &st->tr);
  to_kvm_segment (&sregs.ldt, &st->ldt);
  sregs.gdt.base = st->gdt_base;
  sregs.gdt.limit = st->gdt_limit;
  sregs.idt.base = st->idt_base;
  sregs.idt.limit = st->idt_limit;
  sregs.cr0 = st->cr0;
  sregs.cr3 = st->cr3;
  sregs.cr4 = st->cr4;
  sregs.efer = st->efer;
  if (ioctl (vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
    return -errno;

  memset (&regs, 0, sizeof regs);
  regs.rip = st->rip;
  regs.rsp = st->rsp;
  regs.rsi = st->rsi;
  regs.rbx = st->rbx;
  regs.rflags = st->rflags ? st->rflags : 0x2;
  return ioctl (vcpu_fd, KVM_SET_REGS, &regs) < 0 ? -errno : 0;
}
