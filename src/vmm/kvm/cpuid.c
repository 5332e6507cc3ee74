/* kvm/cpuid.c: whether a guest's CPUID fits this host's
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "kvm/cpuid.h"

#include <string.h>

#include <glib.h>
#include <glib/gi18n.h>

#define R(reg) (1u << (reg))

/* The leaves compared, in order, with the registers that hold features
 * and, per register, the bits that are the guest's state, not the CPU's */
static const struct {
  uint32_t function, index;
  unsigned regs;
  uint32_t dynamic[4];
} feature_leaves[] = {
  /* EDX 9: APIC, cleared while APIC_BASE disables it; ECX 27: OSXSAVE (CR4) */
  { 0x1, 0, R (VMM_CPUID_ECX) | R (VMM_CPUID_EDX), { 0, 0, 1u << 27, 1u << 9 } },
  /* ECX 4: OSPKE (CR4); EAX is the last subleaf, not a feature */
  { 0x7, 0, R (VMM_CPUID_EBX) | R (VMM_CPUID_ECX) | R (VMM_CPUID_EDX), { 0, 0, 1u << 4, 0 } },
  { 0x7, 1, R (VMM_CPUID_EAX) | R (VMM_CPUID_EBX) | R (VMM_CPUID_ECX) | R (VMM_CPUID_EDX),
    { 0 } },
  /* XCR0's components; EBX and ECX are sizes */
  { 0xd, 0, R (VMM_CPUID_EAX) | R (VMM_CPUID_EDX), { 0 } },
  /* The XSAVE instructions and IA32_XSS's components; EBX is a size */
  { 0xd, 1, R (VMM_CPUID_EAX) | R (VMM_CPUID_ECX) | R (VMM_CPUID_EDX), { 0 } },
  { 0x80000001, 0, R (VMM_CPUID_ECX) | R (VMM_CPUID_EDX), { 0 } },
};

static const struct {
  uint32_t function, index;
  enum vmm_cpuid_reg reg;
  unsigned bit;
  const char *name;
} feature_names[] = {
  { 0x1, 0, VMM_CPUID_ECX, 0, "SSE3" },
  { 0x1, 0, VMM_CPUID_ECX, 1, "PCLMULQDQ" },
  { 0x1, 0, VMM_CPUID_ECX, 9, "SSSE3" },
  { 0x1, 0, VMM_CPUID_ECX, 12, "FMA" },
  { 0x1, 0, VMM_CPUID_ECX, 13, "CMPXCHG16B" },
  { 0x1, 0, VMM_CPUID_ECX, 17, "PCID" },
  { 0x1, 0, VMM_CPUID_ECX, 19, "SSE4.1" },
  { 0x1, 0, VMM_CPUID_ECX, 20, "SSE4.2" },
  { 0x1, 0, VMM_CPUID_ECX, 21, "x2APIC" },
  { 0x1, 0, VMM_CPUID_ECX, 22, "MOVBE" },
  { 0x1, 0, VMM_CPUID_ECX, 23, "POPCNT" },
  { 0x1, 0, VMM_CPUID_ECX, 24, "TSC-deadline" },
  { 0x1, 0, VMM_CPUID_ECX, 25, "AES-NI" },
  { 0x1, 0, VMM_CPUID_ECX, 26, "XSAVE" },
  { 0x1, 0, VMM_CPUID_ECX, 28, "AVX" },
  { 0x1, 0, VMM_CPUID_ECX, 29, "F16C" },
  { 0x1, 0, VMM_CPUID_ECX, 30, "RDRAND" },
  { 0x1, 0, VMM_CPUID_EDX, 0, "x87" },
  { 0x1, 0, VMM_CPUID_EDX, 4, "TSC" },
  { 0x1, 0, VMM_CPUID_EDX, 8, "CMPXCHG8B" },
  { 0x1, 0, VMM_CPUID_EDX, 15, "CMOV" },
  { 0x1, 0, VMM_CPUID_EDX, 19, "CLFLUSH" },
  { 0x1, 0, VMM_CPUID_EDX, 23, "MMX" },
  { 0x1, 0, VMM_CPUID_EDX, 24, "FXSAVE" },
  { 0x1, 0, VMM_CPUID_EDX, 25, "SSE" },
  { 0x1, 0, VMM_CPUID_EDX, 26, "SSE2" },
  { 0x7, 0, VMM_CPUID_EBX, 0, "FSGSBASE" },
  { 0x7, 0, VMM_CPUID_EBX, 1, "IA32_TSC_ADJUST" },
  { 0x7, 0, VMM_CPUID_EBX, 2, "SGX" },
  { 0x7, 0, VMM_CPUID_EBX, 3, "BMI1" },
  { 0x7, 0, VMM_CPUID_EBX, 4, "TSX (HLE)" },
  { 0x7, 0, VMM_CPUID_EBX, 5, "AVX2" },
  { 0x7, 0, VMM_CPUID_EBX, 7, "SMEP" },
  { 0x7, 0, VMM_CPUID_EBX, 8, "BMI2" },
  { 0x7, 0, VMM_CPUID_EBX, 9, "ERMS" },
  { 0x7, 0, VMM_CPUID_EBX, 10, "INVPCID" },
  { 0x7, 0, VMM_CPUID_EBX, 11, "TSX (RTM)" },
  { 0x7, 0, VMM_CPUID_EBX, 14, "MPX" },
  { 0x7, 0, VMM_CPUID_EBX, 16, "AVX-512" },
  { 0x7, 0, VMM_CPUID_EBX, 17, "AVX-512DQ" },
  { 0x7, 0, VMM_CPUID_EBX, 18, "RDSEED" },
  { 0x7, 0, VMM_CPUID_EBX, 19, "ADX" },
  { 0x7, 0, VMM_CPUID_EBX, 20, "SMAP" },
  { 0x7, 0, VMM_CPUID_EBX, 21, "AVX-512IFMA" },
  { 0x7, 0, VMM_CPUID_EBX, 23, "CLFLUSHOPT" },
  { 0x7, 0, VMM_CPUID_EBX, 24, "CLWB" },
  { 0x7, 0, VMM_CPUID_EBX, 26, "AVX-512PF" },
  { 0x7, 0, VMM_CPUID_EBX, 27, "AVX-512ER" },
  { 0x7, 0, VMM_CPUID_EBX, 28, "AVX-512CD" },
  { 0x7, 0, VMM_CPUID_EBX, 29, "SHA" },
  { 0x7, 0, VMM_CPUID_EBX, 30, "AVX-512BW" },
  { 0x7, 0, VMM_CPUID_EBX, 31, "AVX-512VL" },
  { 0x7, 0, VMM_CPUID_ECX, 1, "AVX-512VBMI" },
  { 0x7, 0, VMM_CPUID_ECX, 2, "UMIP" },
  { 0x7, 0, VMM_CPUID_ECX, 3, "PKU" },
  { 0x7, 0, VMM_CPUID_ECX, 5, "WAITPKG" },
  { 0x7, 0, VMM_CPUID_ECX, 6, "AVX-512VBMI2" },
  { 0x7, 0, VMM_CPUID_ECX, 7, "CET shadow stacks" },
  { 0x7, 0, VMM_CPUID_ECX, 8, "GFNI" },
  { 0x7, 0, VMM_CPUID_ECX, 9, "VAES" },
  { 0x7, 0, VMM_CPUID_ECX, 10, "VPCLMULQDQ" },
  { 0x7, 0, VMM_CPUID_ECX, 11, "AVX-512VNNI" },
  { 0x7, 0, VMM_CPUID_ECX, 12, "AVX-512BITALG" },
  { 0x7, 0, VMM_CPUID_ECX, 14, "AVX-512VPOPCNTDQ" },
  { 0x7, 0, VMM_CPUID_ECX, 16, "5-level paging" },
  { 0x7, 0, VMM_CPUID_ECX, 22, "RDPID" },
  { 0x7, 0, VMM_CPUID_ECX, 25, "CLDEMOTE" },
  { 0x7, 0, VMM_CPUID_ECX, 27, "MOVDIRI" },
  { 0x7, 0, VMM_CPUID_ECX, 28, "MOVDIR64B" },
  { 0x7, 0, VMM_CPUID_EDX, 4, "FSRM" },
  { 0x7, 0, VMM_CPUID_EDX, 8, "AVX-512VP2INTERSECT" },
  { 0x7, 0, VMM_CPUID_EDX, 10, "MD_CLEAR" },
  { 0x7, 0, VMM_CPUID_EDX, 14, "SERIALIZE" },
  { 0x7, 0, VMM_CPUID_EDX, 16, "TSXLDTRK" },
  { 0x7, 0, VMM_CPUID_EDX, 22, "AMX-BF16" },
  { 0x7, 0, VMM_CPUID_EDX, 23, "AVX-512FP16" },
  { 0x7, 0, VMM_CPUID_EDX, 24, "AMX-TILE" },
  { 0x7, 0, VMM_CPUID_EDX, 25, "AMX-INT8" },
  { 0x7, 0, VMM_CPUID_EDX, 26, "IBRS" },
  { 0x7, 0, VMM_CPUID_EDX, 27, "STIBP" },
  { 0x7, 0, VMM_CPUID_EDX, 28, "L1D_FLUSH" },
  { 0x7, 0, VMM_CPUID_EDX, 29, "IA32_ARCH_CAPABILITIES" },
  { 0x7, 0, VMM_CPUID_EDX, 31, "SSBD" },
  { 0x7, 1, VMM_CPUID_EAX, 4, "AVX-VNNI" },
  { 0x7, 1, VMM_CPUID_EAX, 5, "AVX-512BF16" },
  { 0x7, 1, VMM_CPUID_EAX, 10, "FZRM" },
  { 0x7, 1, VMM_CPUID_EAX, 11, "FSRS" },
  { 0x7, 1, VMM_CPUID_EAX, 12, "FSRC" },
  { 0x7, 1, VMM_CPUID_EAX, 21, "AMX-FP16" },
  { 0x7, 1, VMM_CPUID_EAX, 23, "AVX-IFMA" },
  { 0xd, 0, VMM_CPUID_EAX, 0, "x87 state" },
  { 0xd, 0, VMM_CPUID_EAX, 1, "SSE state" },
  { 0xd, 0, VMM_CPUID_EAX, 2, "AVX state" },
  { 0xd, 0, VMM_CPUID_EAX, 3, "MPX state" },
  { 0xd, 0, VMM_CPUID_EAX, 4, "MPX state" },
  { 0xd, 0, VMM_CPUID_EAX, 5, "AVX-512 state" },
  { 0xd, 0, VMM_CPUID_EAX, 6, "AVX-512 state" },
  { 0xd, 0, VMM_CPUID_EAX, 7, "AVX-512 state" },
  { 0xd, 0, VMM_CPUID_EAX, 9, "PKRU state" },
  { 0xd, 0, VMM_CPUID_EAX, 17, "AMX state" },
  { 0xd, 0, VMM_CPUID_EAX, 18, "AMX state" },
  { 0xd, 1, VMM_CPUID_EAX, 0, "XSAVEOPT" },
  { 0xd, 1, VMM_CPUID_EAX, 1, "XSAVEC" },
  { 0xd, 1, VMM_CPUID_EAX, 2, "XGETBV with ECX=1" },
  { 0xd, 1, VMM_CPUID_EAX, 3, "XSAVES" },
  { 0xd, 1, VMM_CPUID_EAX, 4, "XFD" },
  { 0x80000001, 0, VMM_CPUID_ECX, 0, "LAHF/SAHF in 64-bit mode" },
  { 0x80000001, 0, VMM_CPUID_ECX, 5, "LZCNT" },
  { 0x80000001, 0, VMM_CPUID_ECX, 6, "SSE4a" },
  { 0x80000001, 0, VMM_CPUID_ECX, 8, "PREFETCHW" },
  { 0x80000001, 0, VMM_CPUID_ECX, 11, "XOP" },
  { 0x80000001, 0, VMM_CPUID_ECX, 16, "FMA4" },
  { 0x80000001, 0, VMM_CPUID_ECX, 21, "TBM" },
  { 0x80000001, 0, VMM_CPUID_EDX, 11, "SYSCALL" },
  { 0x80000001, 0, VMM_CPUID_EDX, 20, "NX" },
  { 0x80000001, 0, VMM_CPUID_EDX, 26, "1 GiB pages" },
  { 0x80000001, 0, VMM_CPUID_EDX, 27, "RDTSCP" },
  { 0x80000001, 0, VMM_CPUID_EDX, 29, "long mode" },
};

static const struct kvm_cpuid_entry2 *
find (const struct kvm_cpuid_entry2 *t, uint32_t n, uint32_t function, uint32_t index)
{
  for (uint32_t i = 0; i < n; i++)
    if (t[i].function == function && t[i].index == index)
      return &t[i];
  return NULL;
}

static uint32_t
reg_of (const struct kvm_cpuid_entry2 *e, enum vmm_cpuid_reg reg)
{
  if (e == NULL)
    return 0;
  switch (reg)
    {
    case VMM_CPUID_EAX:
      return e->eax;
    case VMM_CPUID_EBX:
      return e->ebx;
    case VMM_CPUID_ECX:
      return e->ecx;
    case VMM_CPUID_EDX:
      return e->edx;
    default:
      g_assert_not_reached ();
    }
}

bool
vmm_cpuid_fits (const struct kvm_cpuid_entry2 *saved, uint32_t n_saved,
                const struct kvm_cpuid_entry2 *host, uint32_t n_host,
                struct vmm_cpuid_lack *lack)
{
  struct vmm_cpuid_lack dummy;
  const struct kvm_cpuid_entry2 *s, *h;

  if (lack == NULL)
    lack = &dummy;
  memset (lack, 0, sizeof *lack);
  for (size_t i = 0; i < G_N_ELEMENTS (feature_leaves); i++)
    {
      uint32_t function = feature_leaves[i].function, index = feature_leaves[i].index;

      s = find (saved, n_saved, function, index);
      if (s == NULL)
        continue;
      h = find (host, n_host, function, index);
      for (unsigned reg = VMM_CPUID_EAX; reg <= VMM_CPUID_EDX; reg++)
        {
          uint32_t missing;

          if (!(feature_leaves[i].regs & R (reg)))
            continue;
          missing = reg_of (s, reg) & ~reg_of (h, reg) & ~feature_leaves[i].dynamic[reg];
          if (missing == 0)
            continue;
          lack->function = function;
          lack->index = index;
          lack->reg = reg;
          lack->bit = (unsigned) __builtin_ctz (missing);
          return false;
        }
    }

  /* A guest that enabled every XSAVE component it saw needs an area this
   * large (KVM_GET_XSAVE2's); a host with a smaller one cannot hold it */
  s = find (saved, n_saved, 0xd, 0);
  h = find (host, n_host, 0xd, 0);
  if (s != NULL && s->ecx > reg_of (h, VMM_CPUID_ECX))
    {
      lack->xsave_size = true;
      lack->saved_size = s->ecx;
      lack->host_size = reg_of (h, VMM_CPUID_ECX);
      return false;
    }
  return true;
}

const char *
vmm_cpuid_feature_name (uint32_t function, uint32_t index, enum vmm_cpuid_reg reg, unsigned bit)
{
  for (size_t i = 0; i < G_N_ELEMENTS (feature_names); i++)
    if (feature_names[i].function == function && feature_names[i].index == index &&
        feature_names[i].reg == reg && feature_names[i].bit == bit)
      return feature_names[i].name;
  return NULL;
}

char *
vmm_cpuid_lack_message (const struct vmm_cpuid_lack *lack)
{
  static const char reg_names[4][4] = { "EAX", "EBX", "ECX", "EDX" };
  g_autofree char *bit_name = NULL;
  const char *name;

  if (lack->xsave_size)
    /* Translators: two sizes in bytes */
    return g_strdup_printf (_("This snapshot was taken on a processor whose extended state "
                              "(XSAVE) takes %u bytes, more than this one’s %u"),
                            lack->saved_size, lack->host_size);
  name = vmm_cpuid_feature_name (lack->function, lack->index, lack->reg, lack->bit);
  if (name == NULL)
    name = bit_name = g_strdup_printf ("CPUID %#x.%u %s[%u]", lack->function, lack->index,
                                       reg_names[lack->reg], lack->bit);
  /* Translators: a processor feature's name, like AVX-512 or
   * “CPUID 0x7.0 EBX[16]” for one without a name */
  return g_strdup_printf (_("This snapshot was taken on a processor with %s, which this one "
                            "lacks"), name);
}
