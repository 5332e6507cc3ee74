/* test-cpu.c: the CPUID table each vCPU gets
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <linux/kvm.h>
#include <string.h>

#include "arch/x86/cpu.h"

/* A small "supported" table, as KVM_GET_SUPPORTED_CPUID returns it. */
static struct kvm_cpuid2 *
fake_supported (void)
{
  static const struct kvm_cpuid_entry2 entries[] = {
    { .function = 0x0, .eax = 0x1f, .ebx = 0x756e6547 },
    { .function = 0x1, .eax = 0x000906ea, .ebx = 0x00100800, .ecx = 0x7ffafbbf,
      .edx = 0xbfebfbff },
    { .function = 0x4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      .eax = 0x1c004121 },     /* L1 data */
    { .function = 0x4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      .eax = 0x1c03c163 },     /* L3 unified */
    { .function = 0x4, .index = 4, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0 },
    { .function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      .eax = 1, .ebx = 2, .ecx = 0x100 },
    { .function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      .eax = 4, .ebx = 8, .ecx = 0x201 },
    { .function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX },
    { .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b, .ecx = 0x564b4d56,
      .edx = 0x4d },
    { .function = 0x40000001, .eax = 0x01007afb },
    { .function = 0x80000008, .eax = 0x3030 },
  };
  struct kvm_cpuid2 *c = g_malloc0 (sizeof *c + sizeof entries);

  c->nent = G_N_ELEMENTS (entries);
  memcpy (c->entries, entries, sizeof entries);
  return c;
}

static const struct kvm_cpuid_entry2 *
find (const struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
  for (unsigned i = 0; i < c->nent; i++)
    if (c->entries[i].function == function && c->entries[i].index == index)
      return &c->entries[i];
  return NULL;
}

/* A leaf that must be there: the test stops when it is not. */
static const struct kvm_cpuid_entry2 *
leaf (const struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
  const struct kvm_cpuid_entry2 *e = find (c, function, index);

  if (e == NULL)
    g_error ("CPUID leaf %#x.%u is missing", function, index);
  return e;
}

static void
test_signature (void)
{
  g_autofree struct kvm_cpuid2 *sup = fake_supported ();
  g_autofree struct kvm_cpuid2 *c = vmm_x86_vcpu_cpuid (sup, 0, 1);
  if (c == NULL)
    g_error ("no CPUID table");
  const struct kvm_cpuid_entry2 *ours, *kvm, *kvm_features;
  char sig[13] = { 0 };

  g_assert_nonnull (c);
  ours = leaf (c, 0x40000000, 0);
  memcpy (sig, &ours->ebx, 4);
  memcpy (sig + 4, &ours->ecx, 4);
  memcpy (sig + 8, &ours->edx, 4);
  g_assert_cmpstr (sig, ==, "VivariumVMM");
  g_assert_cmphex (ours->eax, ==, 0x40000000);

  /* KVM's leaves moved to 0x40000100, its max leaf moved with them, so
   * Linux still finds kvm-clock and the PV features. */
  kvm = leaf (c, 0x40000100, 0);
  g_assert_cmphex (kvm->ebx, ==, 0x4b4d564b);
  g_assert_cmphex (kvm->eax, ==, 0x40000101);
  kvm_features = leaf (c, 0x40000101, 0);
  g_assert_cmphex (kvm_features->eax, ==, 0x01007afb);
  g_assert_null (find (c, 0x40000001, 0));

  /* Only one 0x40000000 leaf */
  for (unsigned i = 0, n = 0; i < c->nent; i++)
    if (c->entries[i].function == 0x40000000 && ++n > 1)
      g_assert_not_reached ();
}

static void
test_topology (void)
{
  g_autofree struct kvm_cpuid2 *sup = fake_supported ();

  for (unsigned n_cpus = 1; n_cpus <= 8; n_cpus++)
    for (unsigned i = 0; i < n_cpus; i++)
      {
        g_autofree struct kvm_cpuid2 *c = vmm_x86_vcpu_cpuid (sup, i, n_cpus);
        if (c == NULL)
          g_error ("no CPUID table");
        const struct kvm_cpuid_entry2 *l1 = leaf (c, 0x1, 0);
        const struct kvm_cpuid_entry2 *smt = leaf (c, 0xb, 0);
        const struct kvm_cpuid_entry2 *core = leaf (c, 0xb, 1);
        const struct kvm_cpuid_entry2 *end = leaf (c, 0xb, 2);
        const struct kvm_cpuid_entry2 *l1d = leaf (c, 0x4, 0);
        const struct kvm_cpuid_entry2 *l3 = leaf (c, 0x4, 3);
        unsigned shift = 0;

        while ((1u << shift) < n_cpus)
          shift++;

        /* leaf 1: APIC ID, logical count, hypervisor bit, HTT with > 1 CPU */
        g_assert_cmpuint (l1->ebx >> 24, ==, i);
        g_assert_cmpuint ((l1->ebx >> 16) & 0xff, ==, n_cpus);
        g_assert_cmphex (l1->ebx & 0xffff, ==, 0x0800);
        g_assert_true (l1->ecx & (1u << 31));
        g_assert_cmpuint (!!(l1->edx & (1u << 28)), ==, n_cpus > 1);
        g_assert_cmphex (l1->eax, ==, 0x000906ea);

        /* leaf 0xb: one thread per core, N cores per package, x2APIC ID */
        g_assert_cmpuint (smt->eax, ==, 0);
        g_assert_cmpuint (smt->ebx, ==, 1);
        g_assert_cmphex (smt->ecx, ==, 0x100);
        g_assert_cmpuint (smt->edx, ==, i);
        g_assert_cmpuint (core->eax, ==, shift);
        g_assert_cmpuint (core->ebx, ==, n_cpus);
        g_assert_cmphex (core->ecx, ==, 0x201);
        g_assert_cmpuint (core->edx, ==, i);
        g_assert_cmpuint (end->ebx, ==, 0);
        g_assert_cmphex (end->ecx, ==, 2);

        /* leaf 4: cores per package; L1 private, L3 shared */
        g_assert_cmpuint (l1d->eax >> 26, ==, n_cpus - 1);
        g_assert_cmpuint ((l1d->eax >> 14) & 0xfff, ==, 0);
        g_assert_cmpuint ((l3->eax >> 14) & 0xfff, ==, n_cpus - 1);
        g_assert_cmphex (l3->eax & 0x3ff, ==, 0x163);
      }
}

static void
test_untouched (void)
{
  g_autofree struct kvm_cpuid2 *sup = fake_supported ();
  g_autofree struct kvm_cpuid2 *c = vmm_x86_vcpu_cpuid (sup, 3, 4);
  if (c == NULL)
    g_error ("no CPUID table");
  const struct kvm_cpuid_entry2 *e;

  /* Leaves we do not own are passed through. */
  e = leaf (c, 0x80000008, 0);
  g_assert_cmphex (e->eax, ==, 0x3030);
  e = leaf (c, 0x0, 0);
  g_assert_cmphex (e->eax, ==, 0x1f);
  g_assert_cmpuint (c->nent, ==, sup->nent + 1);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cpu/cpuid/signature", test_signature);
  g_test_add_func ("/cpu/cpuid/topology", test_topology);
  g_test_add_func ("/cpu/cpuid/untouched", test_untouched);
  return g_test_run ();
}
