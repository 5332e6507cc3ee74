/* firmware/acpi-loader.c: the ACPI tables and their linker/loader script
 *
 * The format is QEMU's (hw/acpi/bios-linker-loader.c), as SeaBIOS's
 * src/fw/romfile_loader.c and OVMF's QemuFwCfgAcpiPlatformDxe run it. The
 * tables come from arch/x86/acpi.c's builder, the same bytes
 * vmm_acpi_build writes; its pointer fields and checksums become
 * ADD_POINTER and ADD_CHECKSUM commands, in the builder's order (pointers
 * first, so that the checksums cover the relocated addresses).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "firmware/acpi-loader.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "viv-bytes.h"

struct vmm_acpi_loader {
  GByteArray *script;
};

struct vmm_acpi_loader *
vmm_acpi_loader_new (void)
{
  struct vmm_acpi_loader *loader = g_new0 (struct vmm_acpi_loader, 1);

  loader->script = g_byte_array_new ();
  return loader;
}

void
vmm_acpi_loader_free (struct vmm_acpi_loader *loader)
{
  if (loader == NULL)
    return;
  g_byte_array_unref (loader->script);
  g_free (loader);
}

static bool
name_fits (const char *name)
{
  size_t len = strnlen (name, VMM_ACPI_LOADER_FILESZ);

  return len > 0 && len < VMM_ACPI_LOADER_FILESZ;
}

/* A new zeroed command, appended to the script */
static uint8_t *
add_command (struct vmm_acpi_loader *loader, uint32_t command)
{
  uint8_t entry[VMM_ACPI_LOADER_ENTRY_LEN] = { 0 };
  guint at = loader->script->len;

  viv_put_le32 (entry, command);
  g_byte_array_append (loader->script, entry, sizeof entry);
  return loader->script->data + at;
}

int
vmm_acpi_loader_allocate (struct vmm_acpi_loader *loader, const char *file, uint32_t align,
                          uint8_t zone)
{
  uint8_t *c;

  g_return_val_if_fail (loader != NULL && file != NULL, -EINVAL);
  if (!name_fits (file) || align == 0 || (align & (align - 1)) != 0
      || (zone != VMM_ACPI_LOADER_ZONE_HIGH && zone != VMM_ACPI_LOADER_ZONE_FSEG))
    return -EINVAL;

  c = add_command (loader, VMM_ACPI_LOADER_ALLOCATE);
  memcpy (c + 4, file, strlen (file));
  viv_put_le32 (c + 4 + VMM_ACPI_LOADER_FILESZ, align);
  c[4 + VMM_ACPI_LOADER_FILESZ + 4] = zone;
  return 0;
}

int
vmm_acpi_loader_add_pointer (struct vmm_acpi_loader *loader, const char *dest_file,
                             const char *src_file, uint32_t offset, uint8_t size)
{
  uint8_t *c;

  g_return_val_if_fail (loader != NULL && dest_file != NULL && src_file != NULL, -EINVAL);
  if (!name_fits (dest_file) || !name_fits (src_file)
      || (size != 1 && size != 2 && size != 4 && size != 8))
    return -EINVAL;

  c = add_command (loader, VMM_ACPI_LOADER_ADD_POINTER);
  memcpy (c + 4, dest_file, strlen (dest_file));
  memcpy (c + 4 + VMM_ACPI_LOADER_FILESZ, src_file, strlen (src_file));
  viv_put_le32 (c + 4 + 2 * VMM_ACPI_LOADER_FILESZ, offset);
  c[4 + 2 * VMM_ACPI_LOADER_FILESZ + 4] = size;
  return 0;
}

int
vmm_acpi_loader_add_checksum (struct vmm_acpi_loader *loader, const char *file, uint32_t offset,
                              uint32_t start, uint32_t length)
{
  uint8_t *c;

  g_return_val_if_fail (loader != NULL && file != NULL, -EINVAL);
  if (!name_fits (file))
    return -EINVAL;

  c = add_command (loader, VMM_ACPI_LOADER_ADD_CHECKSUM);
  memcpy (c + 4, file, strlen (file));
  viv_put_le32 (c + 4 + VMM_ACPI_LOADER_FILESZ, offset);
  viv_put_le32 (c + 4 + VMM_ACPI_LOADER_FILESZ + 4, start);
  viv_put_le32 (c + 4 + VMM_ACPI_LOADER_FILESZ + 8, length);
  return 0;
}

const uint8_t *
vmm_acpi_loader_data (const struct vmm_acpi_loader *loader, size_t *len)
{
  g_return_val_if_fail (loader != NULL && len != NULL, NULL);

  *len = loader->script->len;
  return loader->script->data;
}

int
vmm_acpi_build_fw_cfg (struct vmm_fw_cfg *cfg, const struct vmm_acpi_config *config)
{
  static const char *const files[VMM_ACPI_N_BLOBS] = {
    [VMM_ACPI_BLOB_RSDP] = VMM_ACPI_LOADER_RSDP_FILE,
    [VMM_ACPI_BLOB_TABLES] = VMM_ACPI_LOADER_TABLES_FILE,
  };
  static const uint8_t zones[VMM_ACPI_N_BLOBS] = {
    [VMM_ACPI_BLOB_RSDP] = VMM_ACPI_LOADER_ZONE_FSEG,
    [VMM_ACPI_BLOB_TABLES] = VMM_ACPI_LOADER_ZONE_HIGH,
  };
  struct vmm_acpi_tables t;
  struct vmm_acpi_loader *loader = NULL;
  const uint8_t *script;
  size_t script_len;
  int ret;

  g_return_val_if_fail (cfg != NULL && config != NULL, -EINVAL);

  ret = vmm_acpi_tables_build (&t, config);
  if (ret < 0)
    return ret;

  /* The tables first, as QEMU does: then the RSDP, which points into them. */
  loader = vmm_acpi_loader_new ();
  ret = vmm_acpi_loader_allocate (loader, files[VMM_ACPI_BLOB_TABLES],
                                  t.align[VMM_ACPI_BLOB_TABLES], zones[VMM_ACPI_BLOB_TABLES]);
  g_assert (ret == 0);
  ret = vmm_acpi_loader_allocate (loader, files[VMM_ACPI_BLOB_RSDP],
                                  t.align[VMM_ACPI_BLOB_RSDP], zones[VMM_ACPI_BLOB_RSDP]);
  g_assert (ret == 0);
  for (unsigned i = 0; i < t.n_pointers; i++)
    {
      const struct vmm_acpi_pointer *p = &t.pointers[i];

      ret = vmm_acpi_loader_add_pointer (loader, files[p->blob], files[p->target], p->offset,
                                         p->size);
      g_assert (ret == 0);
    }
  for (unsigned i = 0; i < t.n_checksums; i++)
    {
      const struct vmm_acpi_checksum_field *c = &t.checksums[i];

      ret = vmm_acpi_loader_add_checksum (loader, files[c->blob], c->offset, c->start, c->len);
      g_assert (ret == 0);
    }

  /* The script last: firmware reads it once the files it names are there. */
  for (unsigned i = 0; i < VMM_ACPI_N_BLOBS; i++)
    {
      ret = vmm_fw_cfg_set_file (cfg, files[i], t.data[i], t.len[i]);
      if (ret < 0)
        goto out;
    }
  script = vmm_acpi_loader_data (loader, &script_len);
  ret = vmm_fw_cfg_set_file (cfg, VMM_ACPI_LOADER_FILE, script, script_len);
  if (ret > 0)
    ret = 0;

out:
  vmm_acpi_loader_free (loader);
  vmm_acpi_tables_clear (&t);
  return ret;
}
