/* virtio/console.c: placeholder, being written */
#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
vmm_virtio_console_new (struct vmm_virtio_console **console, const struct vmm_virtio_env *env,
                        const struct vmm_console_config *config, char **error)
{
  (void) console; (void) env; (void) config;
  *error = strdup ("virtio-console is not written yet");
  return -ENOTSUP;
}

struct vmm_virtio_dev *
vmm_virtio_console_dev (struct vmm_virtio_console *console)
{
  (void) console;
  return NULL;
}

void
vmm_virtio_console_free (struct vmm_virtio_console *console)
{
  (void) console;
}

bool
vmm_chardev_spec_parse (const char *text, struct vmm_chardev_spec *spec)
{
  (void) text; (void) spec;
  return false;
}
