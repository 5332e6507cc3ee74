/* test-kvm-state.c: a vCPU's and the VM's KVM state saved and restored (kvm/state.h)
 *
 * Real VMs on /dev/kvm (each test skips without it): one driven into a
 * distinctive state, saved, loaded into a second, and the second read
 * back; a guest stopped at a port write continued on another VM; damaged
 * sections refused with the second VM unchanged.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include "arch/x86/cpu.h"
#include "kvm/kvm.h"
#include "kvm/state.h"
#include "kvm/vcpu.h"
#include "snapshot/state.h"
#include "viv-bytes.h"

#define MEM_SIZE   0x10000
#define CODE_ADDR  0x1000

#define MSR_IA32_TSC          0x10
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_KERNEL_GS_BASE    0xc0000102
#define APIC_TASKPRI          0x80

/* Seconds a value that moves by itself may have moved between two reads */
#define SLACK_S 10

struct vm {
  int fd;
  struct vmm_kvm_vcpu vcpu;
  void *mem;
};

struct fixture {
  struct vmm_kvm kvm;
  struct kvm_cpuid2 *cpuid;
  struct vm a, b;
  uint64_t tsc_hz;
  bool tsc_fixed;               /* this KVM ignores TSC writes (kvm_pvm): not compared */
};

static void
vm_init (struct fixture *fx, struct vm *vm)
{
  vm->fd = vmm_kvm_create_vm (&fx->kvm);
  g_assert_cmpint (vm->fd, >=, 0);
  g_assert_cmpint (vmm_kvm_setup_platform (vm->fd), ==, 0);
  vm->mem = mmap (NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g_assert_true (vm->mem != MAP_FAILED);
  g_assert_cmpint (vmm_kvm_set_memory (vm->fd, 0, 0, MEM_SIZE, vm->mem), ==, 0);
  g_assert_cmpint (vmm_kvm_vcpu_create (&vm->vcpu, vm->fd, 0, (size_t) fx->kvm.vcpu_mmap_size),
                   ==, 0);
  g_assert_cmpint (vmm_x86_vcpu_init (fx->kvm.fd, vm->vcpu.fd, fx->cpuid, 0, 1), ==, 0);
}

static void
vm_fini (struct vm *vm)
{
  if (vm->fd < 0)
    return;
  vmm_kvm_vcpu_destroy (&vm->vcpu);
  close (vm->fd);
  munmap (vm->mem, MEM_SIZE);
  vm->fd = -1;
}

static void
fixture_set_up (struct fixture *fx, gconstpointer data)
{
  int khz;

  (void) data;
  fx->a.fd = fx->b.fd = -1;
  if (vmm_kvm_open (&fx->kvm, NULL) < 0)
    {
      g_test_skip ("/dev/kvm cannot be opened");
      return;
    }
  g_assert_cmpint (vmm_x86_supported_cpuid (fx->kvm.fd, &fx->cpuid), ==, 0);
  vm_init (fx, &fx->a);
  vm_init (fx, &fx->b);
  khz = ioctl (fx->a.vcpu.fd, KVM_GET_TSC_KHZ, 0);
  fx->tsc_hz = khz > 0 ? (uint64_t) khz * 1000 : 4000000000ull;
}

static void
fixture_tear_down (struct fixture *fx, gconstpointer data)
{
  (void) data;
  vm_fini (&fx->a);
  vm_fini (&fx->b);
  free (fx->cpuid);
  if (fx->kvm.fd >= 0)
    vmm_kvm_close (&fx->kvm);
}

/* The state of VM as a state file: its VM sections and "vcpu.0" */
static GBytes *
save (struct fixture *fx, struct vm *vm)
{
  struct vmm_state_writer *w = vmm_state_writer_new ();
  g_autoptr (GError) error = NULL;
  const uint8_t *data;
  GBytes *bytes;
  size_t len;

  g_assert_true (vmm_kvm_vm_save (&fx->kvm, vm->fd, w, &error));
  g_assert_no_error (error);
  g_assert_true (vmm_kvm_vcpu_save (&vm->vcpu, &fx->kvm, w, "vcpu.0", &error));
  g_assert_no_error (error);
  data = vmm_state_writer_finish (w, &len);
  bytes = g_bytes_new (data, len);
  vmm_state_writer_free (w);
  return bytes;
}

/* Loads BYTES into VM: TRUE, or FALSE with *ERROR set */
static gboolean
load (struct fixture *fx, struct vm *vm, GBytes *bytes, bool apply, GError **error)
{
  struct vmm_state_file *f;
  size_t len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);
  gboolean ok;

  f = vmm_state_file_parse (data, len, error);
  if (f == NULL)
    return FALSE;
  /* As a restore does: every section checked before any is applied */
  ok = vmm_kvm_vm_load (&fx->kvm, vm->fd, f, false, error) &&
       vmm_kvm_vcpu_load (&vm->vcpu, &fx->kvm, f, "vcpu.0", false, error);
  if (ok && apply)
    ok = vmm_kvm_vm_load (&fx->kvm, vm->fd, f, true, error) &&
         vmm_kvm_vcpu_load (&vm->vcpu, &fx->kvm, f, "vcpu.0", true, error);
  vmm_state_file_free (f);
  return ok;
}

static uint64_t
le64 (const uint8_t *p)
{
  return viv_get_le64 (p);
}

/* A moving value, read at least OLD and at most SLACK later */
static void
assert_moved_by_little (uint64_t old, uint64_t now, uint64_t slack)
{
  g_assert_cmpuint (now, >=, old);
  g_assert_cmpuint (now - old, <=, slack);
}

/* LATER (saved after EARLIER) holds the same state: every byte equal but
 * those that move on their own: the TSC (the last field of a vCPU
 * section) and the clock, each at least as far as before and at most
 * SLACK_S seconds further; the PIT's load times, which KVM sets to the
 * time of KVM_SET_PIT2 (see state.c) */
static void
assert_same_state (struct fixture *fx, GBytes *earlier, GBytes *later)
{
  g_autoptr (GError) error = NULL;
  struct vmm_state_file *fe, *fl;
  size_t le, ll;
  const uint8_t *de = g_bytes_get_data (earlier, &le);
  const uint8_t *dl = g_bytes_get_data (later, &ll);

  fe = vmm_state_file_parse (de, le, &error);
  g_assert_no_error (error);
  fl = vmm_state_file_parse (dl, ll, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (vmm_state_file_n_sections (fe), ==, vmm_state_file_n_sections (fl));
  for (unsigned i = 0; i < vmm_state_file_n_sections (fe); i++)
    {
      const struct vmm_state_section *se = vmm_state_file_section (fe, i);
      const struct vmm_state_section *sl = vmm_state_file_find (fl, se->name);
      g_autofree uint8_t *a = NULL, *b = NULL;
      uint64_t n;

      g_assert_nonnull (sl);
      g_assert_cmpuint (se->version, ==, sl->version);
      g_assert_cmpuint (se->len, ==, sl->len);
      n = se->len;
      a = g_memdup2 (se->data, n);
      b = g_memdup2 (sl->data, n);
      if (g_str_has_prefix (se->name, "vcpu."))
        {
          if (!fx->tsc_fixed)
            assert_moved_by_little (le64 (a + n - 8), le64 (b + n - 8), SLACK_S * fx->tsc_hz);
          memset (a + n - 8, 0, 8);
          memset (b + n - 8, 0, 8);
        }
      else if (strcmp (se->name, "kvm.clock") == 0)
        {
          g_assert_cmpuint (n, ==, 9);
          assert_moved_by_little (le64 (a + 1), le64 (b + 1),
                                  SLACK_S * G_GUINT64_CONSTANT (1000000000));
          memset (a + 1, 0, 8);
          memset (b + 1, 0, 8);
        }
      else if (strcmp (se->name, "kvm.pit") == 0)
        {
          /* present, flags, then 3 channels of 16 bytes and a load time */
          g_assert_cmpuint (n, ==, 5 + 3 * 24);
          for (unsigned c = 0; c < 3; c++)
            {
              memset (a + 5 + c * 24 + 16, 0, 8);
              memset (b + 5 + c * 24 + 16, 0, 8);
            }
        }
      if (memcmp (a, b, n) != 0)
        {
          for (uint64_t j = 0; j < n; j++)
            if (a[j] != b[j])
              g_error ("section %s differs at byte %" G_GUINT64_FORMAT ": %#x, then %#x",
                       se->name, j, a[j], b[j]);
        }
    }
  vmm_state_file_free (fe);
  vmm_state_file_free (fl);
}

static uint64_t
get_msr (struct vm *vm, uint32_t index)
{
  struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e;
  } m = { .hdr.nmsrs = 1, .e.index = index };

  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_MSRS, &m), ==, 1);
  return m.e.data;
}

static void
set_msr (struct vm *vm, uint32_t index, uint64_t value)
{
  struct {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e;
  } m = { .hdr.nmsrs = 1, .e = { .index = index, .data = value } };

  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_SET_MSRS, &m), ==, 1);
}

/* XCR0 with x87, SSE and, when this host has it, AVX */
static uint64_t
test_xcr0 (struct fixture *fx)
{
  uint64_t xcr0 = 3;

  for (unsigned i = 0; i < fx->cpuid->nent; i++)
    if (fx->cpuid->entries[i].function == 0xd && fx->cpuid->entries[i].index == 0)
      xcr0 |= fx->cpuid->entries[i].eax & 4;
  return xcr0;
}

static void
segment (struct kvm_segment *s, uint16_t selector, uint8_t type)
{
  *s = (struct kvm_segment) {
    .base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
    .present = 1, .dpl = 0, .db = 1, .s = 1, .g = 1,
  };
}

/* A distinctive state for VM A: 32-bit protected mode, registers, MSRs,
 * XCR0, debug registers, the LAPIC's TPR, the PIC, an IOAPIC entry, the
 * PIT, the clock */
static void
drive_a (struct fixture *fx)
{
  struct vm *a = &fx->a;
  struct kvm_regs regs = {
    .rax = 0x1111111122222222, .rbx = 0x3333, .rcx = 0x4444, .rdx = 0x5555, .rsi = 0x6666,
    .rdi = 0x7777, .rsp = 0x8000, .rbp = 0x9999, .r8 = 8, .r15 = 15, .rip = 0x1234,
    .rflags = 0x46,
  };
  struct kvm_sregs sregs;
  struct kvm_xcrs xcrs = { .nr_xcrs = 1, .xcrs[0] = { .xcr = 0, .value = test_xcr0 (fx) } };
  struct kvm_debugregs dbg = { .db = { 0x1000, 0x2000 }, .dr6 = 0xffff0ff0, .dr7 = 0x405 };
  struct kvm_lapic_state lapic;
  struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
  struct kvm_pit_state2 pit;
  struct kvm_clock_data clock = { .clock = 1000 * G_GUINT64_CONSTANT (1000000000) };
  uint32_t tpr = 0x50;

  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_SET_REGS, &regs), ==, 0);
  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_GET_SREGS, &sregs), ==, 0);
  segment (&sregs.cs, 0x8, 0xb);
  segment (&sregs.ds, 0x10, 0x3);
  segment (&sregs.es, 0x10, 0x3);
  segment (&sregs.ss, 0x10, 0x3);
  sregs.gdt.base = 0x500;
  sregs.gdt.limit = 0x17;
  sregs.idt.base = 0x600;
  sregs.idt.limit = 0xff;
  sregs.cr0 = 0x33;                           /* PE, MP, ET, NE */
  sregs.cr2 = 0xcafe000;
  sregs.cr4 = 0x40600;                        /* OSFXSR, OSXMMEXCPT, OSXSAVE */
  sregs.efer = 0x1;                           /* SCE */
  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_SET_SREGS, &sregs), ==, 0);
  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_SET_XCRS, &xcrs), ==, 0);
  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_SET_DEBUGREGS, &dbg), ==, 0);

  set_msr (a, MSR_IA32_SYSENTER_EIP, 0xdeadbeef);
  set_msr (a, MSR_KERNEL_GS_BASE, 0xffff888012345678);
  set_msr (a, MSR_IA32_TSC, 1000000000000ull);
  /* A software-assisted KVM (kvm_pvm) runs guests on the host's TSC and
   * takes the write without effect: nothing to restore then */
  fx->tsc_fixed = get_msr (a, MSR_IA32_TSC) - 1000000000000ull > SLACK_S * fx->tsc_hz;
  if (fx->tsc_fixed)
    g_test_message ("this KVM ignores TSC writes: the TSC is not compared");

  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_GET_LAPIC, &lapic), ==, 0);
  memcpy (&lapic.regs[APIC_TASKPRI], &tpr, 4);
  g_assert_cmpint (ioctl (a->vcpu.fd, KVM_SET_LAPIC, &lapic), ==, 0);

  g_assert_cmpint (ioctl (a->fd, KVM_GET_IRQCHIP, &chip), ==, 0);
  chip.chip.ioapic.redirtbl[5].bits = 0x0100000000008035ull;  /* vector 0x35, level, to 1 */
  g_assert_cmpint (ioctl (a->fd, KVM_SET_IRQCHIP, &chip), ==, 0);
  chip = (struct kvm_irqchip) { .chip_id = KVM_IRQCHIP_PIC_MASTER };
  g_assert_cmpint (ioctl (a->fd, KVM_GET_IRQCHIP, &chip), ==, 0);
  chip.chip.pic.irq_base = 0x20;
  chip.chip.pic.imr = 0xfa;
  chip.chip.pic.elcr = 0x08;
  g_assert_cmpint (ioctl (a->fd, KVM_SET_IRQCHIP, &chip), ==, 0);

  g_assert_cmpint (ioctl (a->fd, KVM_GET_PIT2, &pit), ==, 0);
  pit.channels[0].count = 1193;
  pit.channels[0].mode = 2;
  pit.channels[0].rw_mode = 3;
  pit.channels[2].gate = 1;
  g_assert_cmpint (ioctl (a->fd, KVM_SET_PIT2, &pit), ==, 0);

  g_assert_cmpint (ioctl (a->fd, KVM_SET_CLOCK, &clock), ==, 0);
}

/* The values drive_a set, read back from VM */
static void
assert_driven (struct fixture *fx, struct vm *vm)
{
  struct kvm_regs regs;
  struct kvm_sregs sregs;
  struct kvm_xcrs xcrs;
  struct kvm_lapic_state lapic;
  struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
  struct kvm_clock_data clock = { 0 };
  uint32_t tpr;

  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_REGS, &regs), ==, 0);
  g_assert_cmphex (regs.rax, ==, 0x1111111122222222);
  g_assert_cmphex (regs.rip, ==, 0x1234);
  g_assert_cmphex (regs.rflags, ==, 0x46);
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_SREGS, &sregs), ==, 0);
  g_assert_cmphex (sregs.cr0, ==, 0x33);
  g_assert_cmphex (sregs.cr4, ==, 0x40600);
  g_assert_cmphex (sregs.efer, ==, 0x1);
  g_assert_cmphex (sregs.cs.selector, ==, 0x8);
  g_assert_cmphex (sregs.cr8, ==, 0x5);       /* the TPR's priority class */
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_XCRS, &xcrs), ==, 0);
  g_assert_cmphex (xcrs.xcrs[0].value, ==, test_xcr0 (fx));
  g_assert_cmphex (get_msr (vm, MSR_IA32_SYSENTER_EIP), ==, 0xdeadbeef);
  g_assert_cmphex (get_msr (vm, MSR_KERNEL_GS_BASE), ==, 0xffff888012345678);
  if (!fx->tsc_fixed)
    assert_moved_by_little (1000000000000ull, get_msr (vm, MSR_IA32_TSC), SLACK_S * fx->tsc_hz);
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_LAPIC, &lapic), ==, 0);
  memcpy (&tpr, &lapic.regs[APIC_TASKPRI], 4);
  g_assert_cmphex (tpr, ==, 0x50);
  g_assert_cmpint (ioctl (vm->fd, KVM_GET_IRQCHIP, &chip), ==, 0);
  g_assert_cmphex (chip.chip.ioapic.redirtbl[5].bits & ~(1ull << 14), ==, 0x0100000000008035ull);
  g_assert_cmpint (ioctl (vm->fd, KVM_GET_CLOCK, &clock), ==, 0);
  assert_moved_by_little (1000 * G_GUINT64_CONSTANT (1000000000), clock.clock,
                          SLACK_S * G_GUINT64_CONSTANT (1000000000));
}

static void
test_round_trip (struct fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) saved_a = NULL, saved_b = NULL, again_b = NULL, restored = NULL;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  (void) data;
  if (fx->a.fd < 0)
    return;
  drive_a (fx);
  assert_driven (fx, &fx->a);
  saved_a = save (fx, &fx->a);
  /* saving changes nothing */
  assert_driven (fx, &fx->a);

  /* apply false: B as it was */
  saved_b = save (fx, &fx->b);
  ok = load (fx, &fx->b, saved_a, false, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  again_b = save (fx, &fx->b);
  assert_same_state (fx, saved_b, again_b);

  /* apply true: B reads as A did, and saves the same bytes */
  ok = load (fx, &fx->b, saved_a, true, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  assert_driven (fx, &fx->b);
  restored = save (fx, &fx->b);
  assert_same_state (fx, saved_a, restored);
}

/* inc ax; out 0x10, al; inc ax; out 0x10, al; hlt (real mode) */
static const uint8_t code[] = { 0x40, 0xe6, 0x10, 0x40, 0xe6, 0x10, 0xf4 };

static void
start_code (struct vm *vm)
{
  struct kvm_sregs sregs;
  struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 2 };

  memcpy ((uint8_t *) vm->mem + CODE_ADDR, code, sizeof code);
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_SREGS, &sregs), ==, 0);
  sregs.cs.selector = 0;
  sregs.cs.base = 0;
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_SET_SREGS, &sregs), ==, 0);
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_SET_REGS, &regs), ==, 0);
}

static void
run_to_out (struct vm *vm, uint8_t *al, uint64_t *rip)
{
  struct vmm_exit exit;
  struct kvm_regs regs;
  int ret;

  do
    ret = vmm_kvm_vcpu_run (&vm->vcpu, &exit);
  while (ret == -EINTR);
  g_assert_cmpint (ret, ==, 0);
  g_assert_cmpint (exit.kind, ==, VMM_EXIT_KIND_IO);
  g_assert_true (exit.io.out);
  g_assert_cmpuint (exit.io.port, ==, 0x10);
  *al = exit.io.data[0];
  g_assert_cmpint (ioctl (vm->vcpu.fd, KVM_GET_REGS, &regs), ==, 0);
  *rip = regs.rip;
}

/* A guest stopped at its first OUT goes on from there on another VM */
static void
test_continue (struct fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) saved = NULL;
  g_autoptr (GError) error = NULL;
  struct kvm_regs regs;
  uint64_t rip, past;
  gboolean ok;
  uint8_t al;

  (void) data;
  if (fx->a.fd < 0)
    return;
  start_code (&fx->a);
  memcpy ((uint8_t *) fx->b.mem + CODE_ADDR, code, sizeof code);
  run_to_out (&fx->a, &al, &rip);
  g_assert_cmpuint (al, ==, 1);
  /* With VT-x or AMD-V KVM completes an OUT at the next KVM_RUN: RIP is
   * still on it; emulated (real mode on kvm_pvm), it may be past it */
  if (rip != CODE_ADDR + 1)
    g_assert_cmphex (rip, ==, CODE_ADDR + 3);
  past = rip - (CODE_ADDR + 1);

  saved = save (fx, &fx->a);
  /* the save completed it */
  g_assert_cmpint (ioctl (fx->a.vcpu.fd, KVM_GET_REGS, &regs), ==, 0);
  g_assert_cmphex (regs.rip, ==, CODE_ADDR + 3);

  ok = load (fx, &fx->b, saved, true, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  run_to_out (&fx->b, &al, &rip);
  g_assert_cmpuint (al, ==, 2);
  g_assert_cmphex (rip, ==, CODE_ADDR + 4 + past);
  /* and A goes on the same way */
  run_to_out (&fx->a, &al, &rip);
  g_assert_cmpuint (al, ==, 2);
}

/* ---- damaged sections ----------------------------------------------------------- */

typedef void (*edit_fn) (GByteArray *payload, uint32_t *version);

/* DATA with the section NAME's payload and version passed through EDIT */
static GBytes *
rewrite (GBytes *bytes, const char *name, edit_fn edit)
{
  g_autoptr (GError) error = NULL;
  struct vmm_state_writer *w = vmm_state_writer_new ();
  struct vmm_state_file *f;
  const uint8_t *out;
  GBytes *result;
  size_t len;
  const uint8_t *data = g_bytes_get_data (bytes, &len);
  bool found = false;

  f = vmm_state_file_parse (data, len, &error);
  g_assert_no_error (error);
  for (unsigned i = 0; i < vmm_state_file_n_sections (f); i++)
    {
      const struct vmm_state_section *s = vmm_state_file_section (f, i);
      g_autoptr (GByteArray) payload = g_byte_array_new ();
      uint32_t version = s->version;

      g_byte_array_append (payload, s->data, (guint) s->len);
      if (strcmp (s->name, name) == 0)
        {
          edit (payload, &version);
          found = true;
        }
      vmm_state_begin (w, s->name, version);
      vmm_state_put_bytes (w, payload->data, payload->len);
      vmm_state_end (w);
    }
  g_assert_true (found);
  vmm_state_file_free (f);
  out = vmm_state_writer_finish (w, &len);
  result = g_bytes_new (out, len);
  vmm_state_writer_free (w);
  return result;
}

static void
cut_short (GByteArray *p, uint32_t *version)
{
  (void) version;
  g_byte_array_set_size (p, p->len - 5);
}

static void
newer (GByteArray *p, uint32_t *version)
{
  (void) p;
  *version += 1;
}

/* A vCPU section (version 2) starts with the CPUID table: a count and
 * entries of 7 u32 (function, index, flags, EAX to EDX); the registers
 * follow */
#define CPUID_ENTRY_SIZE (7 * 4)

static uint32_t
regs_offset (const GByteArray *p)
{
  return 4 + viv_get_le32 (p->data) * CPUID_ENTRY_SIZE;
}

/* RFLAGS (the 18th register) without its always-one bit */
static void
bad_rflags (GByteArray *p, uint32_t *version)
{
  (void) version;
  viv_put_le64 (p->data + regs_offset (p) + 17 * 8, 0);
}

/* Where the FPU kind is: after 18 registers, 8 segments, 2 tables, 7
 * control registers, the interrupt, the PDPTRs' flag and 4 PDPTRs */
#define FPU_KIND_OFFSET (regs_offset (p) + 18 * 8 + 8 * 23 + 2 * 10 + 7 * 8 + 2 + 1 + 4 * 8)

/* An XSAVE area 4 KiB larger than this host's */
static void
big_xsave (GByteArray *p, uint32_t *version)
{
  uint32_t n = viv_get_le32 (p->data + FPU_KIND_OFFSET + 1);
  uint8_t *zeros = g_malloc0 (64 * 1024);
  uint8_t len[4];

  (void) version;
  g_assert_cmpuint (p->data[FPU_KIND_OFFSET], ==, 1);
  viv_put_le32 (len, n + 64 * 1024);
  memcpy (p->data + FPU_KIND_OFFSET + 1, len, 4);
  /* a GByteArray is a GArray of bytes */
  g_array_insert_vals ((GArray *) p, FPU_KIND_OFFSET + 5 + n, zeros, 64 * 1024);
  g_free (zeros);
}

/* The IOAPIC moved away from 0xfec00000 (after two 16-byte PICs) */
static void
bad_ioapic (GByteArray *p, uint32_t *version)
{
  (void) version;
  viv_put_le64 (p->data + 32, 0xd0000000);
}

/* 17 XCRs */
static void
many_xcrs (GByteArray *p, uint32_t *version)
{
  uint32_t n = viv_get_le32 (p->data + FPU_KIND_OFFSET + 1);

  (void) version;
  p->data[FPU_KIND_OFFSET + 5 + n] = 17;
}

/* A CPUID table longer than any */
static void
big_cpuid (GByteArray *p, uint32_t *version)
{
  (void) version;
  viv_put_le32 (p->data, 100000);
}

/* The saved vCPU's entry FUNCTION.INDEX */
static uint8_t *
find_cpuid (GByteArray *p, uint32_t function, uint32_t index)
{
  for (uint32_t i = 0; i < viv_get_le32 (p->data); i++)
    {
      uint8_t *e = p->data + 4 + i * CPUID_ENTRY_SIZE;

      if (viv_get_le32 (e) == function && viv_get_le32 (e + 4) == index)
        return e;
    }
  g_error ("no CPUID leaf %#x.%u saved", function, index);
}

/* Saved on a processor with every feature bit of leaf 7.0 EBX */
static void
more_features (GByteArray *p, uint32_t *version)
{
  uint8_t *e = find_cpuid (p, 0x7, 0);

  (void) version;
  viv_put_le32 (e + 16, 0xffffffff);
}

/* Saved on a processor whose XSAVE area is 64 KiB */
static void
big_xsave_leaf (GByteArray *p, uint32_t *version)
{
  uint8_t *e = find_cpuid (p, 0xd, 0);

  (void) version;
  viv_put_le32 (e + 20, 64 * 1024);
}

/* As an engine before the CPUID was saved wrote it */
static void
version_1 (GByteArray *p, uint32_t *version)
{
  g_assert_cmpuint (*version, ==, 2);
  g_byte_array_remove_range (p, 0, regs_offset (p));
  *version = 1;
}

/* A guest that saw a feature this vCPU's CPUID lacks is refused before
 * anything changes, naming it; a larger XSAVE area too */
static void
test_cpuid (struct fixture *fx, gconstpointer data)
{
  static const struct {
    edit_fn edit;
    const char *says;
  } cases[] = {
    { more_features, "This snapshot was taken on a processor with " },
    { big_xsave_leaf, "(XSAVE) takes 65536 bytes" },
  };
  g_autoptr (GBytes) saved_a = NULL, saved_b = NULL, again_b = NULL;

  (void) data;
  if (fx->a.fd < 0)
    return;
  drive_a (fx);
  saved_a = save (fx, &fx->a);
  saved_b = save (fx, &fx->b);

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bad = rewrite (saved_a, "vcpu.0", cases[i].edit);

      for (int apply = 0; apply < 2; apply++)
        {
          g_autoptr (GError) error = NULL;

          g_assert_false (load (fx, &fx->b, bad, apply, &error));
          g_assert_error (error, VMM_KVM_STATE_ERROR, VMM_KVM_STATE_ERROR_CPU);
          g_test_message ("%s", error->message);
          g_assert_nonnull (strstr (error->message, cases[i].says));
        }
    }
  again_b = save (fx, &fx->b);
  assert_same_state (fx, saved_b, again_b);
}

/* A section from before the CPUID was saved still loads, unchecked */
static void
test_version_1 (struct fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) saved_a = NULL, old = NULL, again = NULL;
  g_autoptr (GError) error = NULL;

  (void) data;
  if (fx->a.fd < 0)
    return;
  drive_a (fx);
  saved_a = save (fx, &fx->a);
  old = rewrite (saved_a, "vcpu.0", version_1);
  g_assert_true (load (fx, &fx->b, old, true, &error));
  g_assert_no_error (error);
  again = save (fx, &fx->b);
  assert_same_state (fx, saved_a, again);
}

static void
test_damaged (struct fixture *fx, gconstpointer data)
{
  static const struct {
    const char *section;
    edit_fn edit;
    int code;
    const char *says;
  } cases[] = {
    { "vcpu.0", cut_short, VMM_STATE_ERROR_DAMAGED, NULL },
    { "vcpu.0", big_cpuid, VMM_STATE_ERROR_DAMAGED, "CPUID" },
    { "vcpu.0", newer, VMM_STATE_ERROR_TOO_NEW, NULL },
    { "vcpu.0", bad_rflags, VMM_STATE_ERROR_DAMAGED, "RFLAGS" },
    { "vcpu.0", big_xsave, VMM_STATE_ERROR_DAMAGED, "XSAVE" },
    { "vcpu.0", many_xcrs, VMM_STATE_ERROR_DAMAGED, "XCR" },
    { "kvm.irqchip", bad_ioapic, VMM_STATE_ERROR_DAMAGED, "IOAPIC" },
    { "kvm.irqchip", cut_short, VMM_STATE_ERROR_DAMAGED, NULL },
    { "kvm.pit", newer, VMM_STATE_ERROR_TOO_NEW, NULL },
    { "kvm.clock", cut_short, VMM_STATE_ERROR_DAMAGED, NULL },
  };
  g_autoptr (GBytes) saved_a = NULL, saved_b = NULL, again_b = NULL;

  (void) data;
  if (fx->a.fd < 0)
    return;
  drive_a (fx);
  saved_a = save (fx, &fx->a);
  saved_b = save (fx, &fx->b);

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) bad = rewrite (saved_a, cases[i].section, cases[i].edit);
      g_autofree char *quoted = g_strdup_printf ("“%s”", cases[i].section);

      for (int apply = 0; apply < 2; apply++)
        {
          g_autoptr (GError) error = NULL;

          g_assert_false (load (fx, &fx->b, bad, apply, &error));
          g_assert_error (error, VMM_STATE_ERROR, cases[i].code);
          g_test_message ("%s: %s", cases[i].section, error->message);
          g_assert_nonnull (strstr (error->message, quoted));
          if (cases[i].says != NULL)
            g_assert_nonnull (strstr (error->message, cases[i].says));
        }
    }
  again_b = save (fx, &fx->b);
  assert_same_state (fx, saved_b, again_b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/kvm-state/round-trip", struct fixture, NULL, fixture_set_up, test_round_trip,
              fixture_tear_down);
  g_test_add ("/kvm-state/continue", struct fixture, NULL, fixture_set_up, test_continue,
              fixture_tear_down);
  g_test_add ("/kvm-state/damaged", struct fixture, NULL, fixture_set_up, test_damaged,
              fixture_tear_down);
  g_test_add ("/kvm-state/cpuid", struct fixture, NULL, fixture_set_up, test_cpuid,
              fixture_tear_down);
  g_test_add ("/kvm-state/version-1", struct fixture, NULL, fixture_set_up, test_version_1,
              fixture_tear_down);
  return g_test_run ();
}
