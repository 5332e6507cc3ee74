/* test-virtio-rng.c: the entropy device on a fake queue
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "virtio/rng.h"
#include "vmm-test.h"

#define TIMEOUT_MS 10000u

/* How many of LEN bytes at GPA still hold the 0xee they were given */
static uint32_t
untouched (struct vmm_test_virtio *t, uint64_t gpa, uint32_t len)
{
  const uint8_t *p = vmm_test_ptr (&t->ram.mem, gpa, len);
  uint32_t n = 0;

  for (uint32_t i = 0; i < len; i++)
    n += p[i] == 0xee;
  return n;
}

static void
test_fill (void)
{
  const uint32_t lens[] = { 64, 200 * 1024, 1 };
  g_autoptr (GError) error = NULL;
  g_autofree uint8_t *fill = g_malloc (200 * 1024);
  struct vmm_test_buf bufs[G_N_ELEMENTS (lens)];
  struct vmm_virtio_env env;
  struct vmm_virtio_rng *rng;
  struct vmm_test_virtio t;
  struct vmm_test_vq *vq;
  uint32_t id, len;
  int log_fd;

  log_fd = vmm_test_log_capture ();
  vmm_test_virtio_init (&t, &env);
  rng = vmm_virtio_rng_new (&env, &error);
  g_assert_no_error (error);
  vmm_test_virtio_plug (&t, vmm_virtio_rng_dev (rng));
  g_assert_cmpuint (vmm_test_virtio_setup (&t, 0, 1, 8) & VIRTIO_STATUS_DRIVER_OK, !=, 0);
  vq = &t.vq[0];

  /* Each buffer filled, a request at most 64 KiB, one kick for all */
  memset (fill, 0xee, 200 * 1024);
  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      bufs[i] = (struct vmm_test_buf) { vmm_test_vq_copy (vq, fill, lens[i]), lens[i], true };
      vmm_test_vq_add_bufs (vq, &bufs[i], 1);
    }
  vmm_test_virtio_kick (&t, 0);
  for (unsigned i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      uint32_t want = MIN (lens[i], 64 * 1024);

      g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
      g_assert_cmpuint (id, ==, i);
      g_assert_cmpuint (len, ==, want);
      /* random bytes: about 1 in 256 is 0xee */
      g_assert_cmpuint (untouched (&t, bufs[i].gpa, want), <, want / 64 + 2);
      g_assert_cmpuint (untouched (&t, bufs[i].gpa + want, lens[i] - want), ==, lens[i] - want);
    }
  g_assert_cmpuint (vmm_test_virtio_isr (&t) & 1, ==, 1);

  /* Nothing writable: given back empty, and logged */
  bufs[0].writable = false;
  vmm_test_vq_add_bufs (vq, &bufs[0], 1);
  vmm_test_virtio_kick (&t, 0);
  g_assert_true (vmm_test_vq_wait_used (vq, &id, &len, TIMEOUT_MS));
  g_assert_cmpuint (len, ==, 0);
  {
    g_autofree char *log = vmm_test_log_take (log_fd);

    g_assert_nonnull (strstr (log, "virtio-rng: a request with no writable bytes"));
  }

  vmm_test_virtio_stop (&t);
  vmm_virtio_rng_free (rng);
  vmm_test_virtio_clear (&t);
  vmm_test_log_release (log_fd);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/virtio-rng/fill", test_fill);
  return g_test_run ();
}
