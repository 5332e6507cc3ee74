/* test-cpuid.c: a saved guest's CPUID against this host's (kvm/cpuid.h)
 *
 * Made-up tables, no KVM: the same table fits; a feature bit the host
 * lacks in each compared leaf is found and named; the bits KVM changes as
 * the guest runs, and leaves that are not compared, do not count; a larger
 * XSAVE area is refused.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "kvm/cpuid.h"

/* A host with SSE4.2, AVX, AVX2 and XSAVEC but not AVX-512 */
static const struct kvm_cpuid_entry2 host[] = {
  { .function = 0x0, .eax = 0xd, .ebx = 0x756e6547 },
  { .function = 0x1, .eax = 0x906ea, .ecx = (1u << 20) | (1u << 26) | (1u << 28) | (1u << 31),
    .edx = (1u << 0) | (1u << 25) | (1u << 26) },
  { .function = 0x7, .index = 0, .eax = 1, .ebx = (1u << 5), .ecx = 0 },
  { .function = 0x7, .index = 1 },
  { .function = 0xd, .index = 0, .eax = 0x7, .ebx = 0x240, .ecx = 0x340 },
  { .function = 0xd, .index = 1, .eax = 0x3 },
  { .function = 0x80000001, .ecx = 1, .edx = (1u << 29) },
};

static struct kvm_cpuid_entry2 *
copy_host (void)
{
  return g_memdup2 (host, sizeof host);
}

static struct kvm_cpuid_entry2 *
entry (struct kvm_cpuid_entry2 *t, uint32_t function, uint32_t index)
{
  for (size_t i = 0; i < G_N_ELEMENTS (host); i++)
    if (t[i].function == function && t[i].index == index)
      return &t[i];
  g_assert_not_reached ();
}

static void
test_same (void)
{
  struct vmm_cpuid_lack lack;

  g_assert_true (vmm_cpuid_fits (host, G_N_ELEMENTS (host), host, G_N_ELEMENTS (host), &lack));
  /* A guest that saw less fits too */
  g_assert_true (vmm_cpuid_fits (host, 2, host, G_N_ELEMENTS (host), NULL));
}

static void
test_avx512 (void)
{
  g_autofree struct kvm_cpuid_entry2 *saved = copy_host ();
  g_autofree char *message = NULL;
  struct vmm_cpuid_lack lack;

  /* AVX-512F and AVX-512BW: the lower bit is named */
  entry (saved, 0x7, 0)->ebx |= (1u << 16) | (1u << 30);
  g_assert_false (vmm_cpuid_fits (saved, G_N_ELEMENTS (host), host, G_N_ELEMENTS (host),
                                  &lack));
  g_assert_false (lack.xsave_size);
  g_assert_cmphex (lack.function, ==, 0x7);
  g_assert_cmpuint (lack.index, ==, 0);
  g_assert_cmpint (lack.reg, ==, VMM_CPUID_EBX);
  g_assert_cmpuint (lack.bit, ==, 16);
  message = vmm_cpuid_lack_message (&lack);
  g_assert_cmpstr (message, ==,
                   "This snapshot was taken on a processor with AVX-512, which this one lacks");
}

/* Each compared leaf, in leaf order: the first one's bit is what is named */
static void
test_each_leaf (void)
{
  static const struct {
    uint32_t function, index;
    enum vmm_cpuid_reg reg;
    unsigned bit;
    const char *name;
  } cases[] = {
    { 0x1, 0, VMM_CPUID_ECX, 13, "CMPXCHG16B" },
    { 0x1, 0, VMM_CPUID_EDX, 26 + 1, NULL },
    { 0x7, 0, VMM_CPUID_ECX, 1, "AVX-512VBMI" },
    { 0x7, 0, VMM_CPUID_EDX, 24, "AMX-TILE" },
    { 0x7, 1, VMM_CPUID_EAX, 4, "AVX-VNNI" },
    { 0xd, 0, VMM_CPUID_EAX, 5, "AVX-512 state" },
    { 0xd, 0, VMM_CPUID_EDX, 0, NULL },
    { 0xd, 1, VMM_CPUID_EAX, 3, "XSAVES" },
    { 0xd, 1, VMM_CPUID_ECX, 11, NULL },
    { 0x80000001, 0, VMM_CPUID_ECX, 6, "SSE4a" },
    { 0x80000001, 0, VMM_CPUID_EDX, 27, "RDTSCP" },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree struct kvm_cpuid_entry2 *saved = copy_host ();
      g_autofree char *message = NULL;
      struct kvm_cpuid_entry2 *e = entry (saved, cases[i].function, cases[i].index);
      uint32_t *regs[] = { &e->eax, &e->ebx, &e->ecx, &e->edx };
      struct vmm_cpuid_lack lack;

      *regs[cases[i].reg] |= 1u << cases[i].bit;
      /* and a larger XSAVE area, checked after the features */
      entry (saved, 0xd, 0)->ecx = 0x1000;
      g_assert_false (vmm_cpuid_fits (saved, G_N_ELEMENTS (host), host, G_N_ELEMENTS (host),
                                      &lack));
      g_assert_false (lack.xsave_size);
      g_assert_cmphex (lack.function, ==, cases[i].function);
      g_assert_cmpuint (lack.index, ==, cases[i].index);
      g_assert_cmpint (lack.reg, ==, cases[i].reg);
      g_assert_cmpuint (lack.bit, ==, cases[i].bit);
      g_assert_cmpstr (vmm_cpuid_feature_name (lack.function, lack.index, lack.reg, lack.bit),
                       ==, cases[i].name);
      message = vmm_cpuid_lack_message (&lack);
      if (cases[i].name != NULL)
        g_assert_nonnull (strstr (message, cases[i].name));
      else
        g_assert_nonnull (strstr (message, "CPUID 0x"));
    }
}

/* A leaf the host does not have at all has no features */
static void
test_host_lacks_leaf (void)
{
  const struct kvm_cpuid_entry2 saved_71 = { .function = 0x7, .index = 1, .edx = 1u << 5 };
  struct vmm_cpuid_lack lack;

  /* The host's first three leaves only (0, 1, 7.0) */
  g_assert_false (vmm_cpuid_fits (&saved_71, 1, host, 3, &lack));
  g_assert_cmphex (lack.function, ==, 0x7);
  g_assert_cmpuint (lack.index, ==, 1);
  g_assert_cmpint (lack.reg, ==, VMM_CPUID_EDX);
  g_assert_cmpuint (lack.bit, ==, 5);
  /* 0xd.0, 0xd.1, 0x80000001 */
  g_assert_false (vmm_cpuid_fits (&host[4], 3, host, 3, &lack));
  g_assert_cmphex (lack.function, ==, 0xd);
  g_assert_cmpuint (lack.index, ==, 0);
  g_assert_cmpint (lack.reg, ==, VMM_CPUID_EAX);
  g_assert_cmpuint (lack.bit, ==, 0);
}

/* What the guest did to its CPUID (CR4.OSXSAVE, CR4.PKE, the APIC
 * disabled on this side) and leaves not compared (family, sizes, the
 * brand) do not refuse */
static void
test_not_features (void)
{
  g_autofree struct kvm_cpuid_entry2 *saved = copy_host ();
  g_autofree struct kvm_cpuid_entry2 *here = copy_host ();

  entry (saved, 0x1, 0)->ecx |= 1u << 27;
  entry (saved, 0x7, 0)->ecx |= 1u << 4;
  entry (here, 0x1, 0)->edx &= ~(1u << 9);
  entry (saved, 0x1, 0)->edx |= 1u << 9;
  entry (saved, 0x1, 0)->eax = 0xa0671;
  entry (saved, 0x1, 0)->ebx = 0xffffffff;
  entry (saved, 0x0, 0)->eax = 0x20;
  entry (saved, 0x7, 0)->eax = 2;
  entry (saved, 0xd, 0)->ebx = 0x340;
  entry (saved, 0xd, 1)->ebx = 0x340;
  g_assert_true (vmm_cpuid_fits (saved, G_N_ELEMENTS (host), here, G_N_ELEMENTS (host), NULL));
}

static void
test_xsave_size (void)
{
  g_autofree struct kvm_cpuid_entry2 *saved = copy_host ();
  g_autofree char *message = NULL;
  struct vmm_cpuid_lack lack;

  entry (saved, 0xd, 0)->ecx = 0xa88;
  g_assert_false (vmm_cpuid_fits (saved, G_N_ELEMENTS (host), host, G_N_ELEMENTS (host),
                                  &lack));
  g_assert_true (lack.xsave_size);
  g_assert_cmpuint (lack.saved_size, ==, 0xa88);
  g_assert_cmpuint (lack.host_size, ==, 0x340);
  message = vmm_cpuid_lack_message (&lack);
  g_assert_nonnull (strstr (message, "2696"));
  g_assert_nonnull (strstr (message, "832"));

  entry (saved, 0xd, 0)->ecx = 0x200;
  g_assert_true (vmm_cpuid_fits (saved, G_N_ELEMENTS (host), host, G_N_ELEMENTS (host), NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cpuid/same", test_same);
  g_test_add_func ("/cpuid/avx512", test_avx512);
  g_test_add_func ("/cpuid/each-leaf", test_each_leaf);
  g_test_add_func ("/cpuid/host-lacks-leaf", test_host_lacks_leaf);
  g_test_add_func ("/cpuid/not-features", test_not_features);
  g_test_add_func ("/cpuid/xsave-size", test_xsave_size);
  return g_test_run ();
}
