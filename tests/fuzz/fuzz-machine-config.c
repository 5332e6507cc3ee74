/* fuzz-machine-config.c: machine.json, load → save → load
 *
 * The file a person may edit by hand, and that the app reads at every start
 * (the library scan) and writes back with the members it does not know. Any
 * input may be refused; one that loads must save as strict JSON that loads
 * again into an equal config and saves to the same bytes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viv-json.h"
#include "viv-machine-config.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(VivMachineConfig) config = NULL;
  g_autoptr(VivMachineConfig) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *saved = NULL;
  g_autofree char *saved_again = NULL;
  gsize len = 0;

  config = viv_machine_config_load_from_data ((const char *) data, (gssize) size, &error);
  if (config == NULL)
    {
      /* Refused, with a message and nothing else */
      if (error == NULL || error->message == NULL || error->message[0] == '\0')
        abort ();
      return 0;
    }

  saved = viv_machine_config_to_data (config, &len);
  if (!viv_json_check (saved, len, 64, "machine.json", &error))
    {
      fprintf (stderr, "saved machine.json is not JSON: %s\n%s\n", error->message, saved);
      abort ();
    }
  again = viv_machine_config_load_from_data (saved, (gssize) len, &error);
  if (again == NULL)
    {
      fprintf (stderr, "saved machine.json does not load: %s\n%s\n", error->message, saved);
      abort ();
    }
  if (!viv_machine_config_equal (config, again))
    {
      fprintf (stderr, "machine.json loads differently once saved:\n%s\n", saved);
      abort ();
    }
  saved_again = viv_machine_config_to_data (again, NULL);
  if (strcmp (saved, saved_again) != 0)
    {
      fprintf (stderr, "machine.json saves differently the second time:\n%s\n---\n%s\n",
               saved, saved_again);
      abort ();
    }
  return 0;
}
