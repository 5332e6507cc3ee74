/* vm-config.h: what a VM is built from, and the one place that parses it
 *
 * struct vmm_config is everything vmm_vm_create() needs. It comes from the
 * command line (vmm_config_from_args, with main.c declaring the options)
 * or from a machine's machine.json (vmm_config_from_machine, for the
 * D-Bus service); the disk and console spec strings the command line takes
 * are parsed here too. Nothing else in the engine parses configuration.
 *
 * A config owns the strings it points to (a chunk freed by
 * vmm_config_clear), so it outlives the arguments it was made from. Parse
 * errors are GErrors in VMM_ERROR, VMM_ERROR_CONFIG, with the message the
 * user sees.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/chardev.h"
#include "net/user.h"
#include "viv-machine-config.h"
#include "virtio/blk.h"
#include "virtio/console.h"

#define VMM_MAX_CPUS 255
#define VMM_MAX_DISKS 16
#define VMM_MAX_CDROMS 4
#define VMM_MAX_SATA 6           /* disks and CD-ROMs on the AHCI controller's ports */

/* The engine's errors on set-up paths (building a VM, parsing its
 * configuration); see README.md for the convention. */
#define VMM_ERROR (vmm_error_quark ())
typedef enum {
  VMM_ERROR_NO_KVM,     /* KVM missing or unusable: exit status 2 */
  VMM_ERROR_CONFIG,     /* bad options */
  VMM_ERROR_BOOT,       /* the kernel or initrd cannot be booted */
  VMM_ERROR_FAILED,     /* anything else */
} VmmError;
GQuark vmm_error_quark (void);

enum vmm_display_kind {
  VMM_DISPLAY_NONE,
  VMM_DISPLAY_SPICE,           /* virtio-gpu, virtio-input and the SPICE server */
};

/* The scanout's preferred size when nothing says otherwise */
#define VMM_DISPLAY_DEFAULT_WIDTH  1280
#define VMM_DISPLAY_DEFAULT_HEIGHT 800

struct vmm_display_config {
  enum vmm_display_kind kind;
  uint32_t width, height;      /* the preferred size; never 0 with a display */
  const char *socket_path;     /* for stock SPICE clients, or NULL: none */
};

/* What starts the guest: our loader (direct kernel boot) or firmware from
 * Debian's packages, which boots discs and disks */
enum vmm_firmware {
  VMM_FIRMWARE_NONE,           /* direct kernel boot */
  VMM_FIRMWARE_BIOS,           /* SeaBIOS */
  VMM_FIRMWARE_UEFI,           /* OVMF */
};

/* SeaBIOS's own default for its boot menu prompt */
#define VMM_BOOT_MENU_WAIT_MS 2500

/* Where the firmware is when nothing else says (Debian's seabios and ovmf) */
#define VMM_SEABIOS_PATH   "/usr/share/seabios/bios-256k.bin"
#define VMM_SEAVGABIOS_DIR "/usr/share/seabios"
#define VMM_OVMF_CODE_PATH "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define VMM_OVMF_VARS_PATH "/usr/share/OVMF/OVMF_VARS_4M.fd"
/* The option ROM through which SeaBIOS boots a kernel from fw_cfg (QEMU's
 * -kernel with SeaBIOS), from Debian's qemu-system-data */
#define VMM_LINUXBOOT_ROM_PATH "/usr/share/qemu/linuxboot_dma.bin"

/* The network card and what is behind it */
enum vmm_net_mode {
  VMM_NET_NONE,                /* no card */
  VMM_NET_USER,                /* user-mode NAT (libslirp) */
  VMM_NET_TAP,                 /* an existing tap device */
  VMM_NET_PASST,               /* Debian's passt, started for the VM */
};

#define VMM_MAX_FORWARDS 64

struct vmm_net_spec {
  enum vmm_net_mode mode;
  uint8_t mac[6];
  const char *tap;             /* VMM_NET_TAP: the device's name */
  unsigned n_forwards;         /* user and passt modes */
  struct vmm_net_forward forwards[VMM_MAX_FORWARDS];
};

/* QEMU's, for the command line without mac= */
#define VMM_NET_DEFAULT_MAC { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }

/* A CD-ROM drive on the AHCI controller */
struct vmm_cdrom_spec {
  const char *path;            /* the disc (an ISO image), or NULL: an empty drive */
};

/* What the firmware tries, in order (its bootorder file) */
enum vmm_boot_device {
  VMM_BOOT_DEVICE_DISK,        /* every disk, in their order */
  VMM_BOOT_DEVICE_CDROM,       /* every CD-ROM drive with a disc */
};
#define VMM_BOOT_DEVICES 2

enum vmm_serial_mode {
  VMM_SERIAL_NONE,
  VMM_SERIAL_STDIO,
  VMM_SERIAL_FILE,
  VMM_SERIAL_CALLBACK,         /* serial_output gets the bytes */
};

struct vmm_config {
  const char *kvm_path;        /* NULL: /dev/kvm */
  enum vmm_firmware firmware;
  const char *firmware_path;   /* the BIOS ROM or OVMF's code; NULL: Debian's */
  const char *vars_path;       /* UEFI: the machine's own variable store */
  unsigned boot_menu_wait_ms;  /* how long "Press ESC for boot menu" waits (SeaBIOS) */
  const char *debugcon_path;   /* the firmware's debug log (port 0x402) goes here; NULL: the
                                * engine's log at debug level only */
  const char *kernel_path;     /* NULL with firmware: the firmware boots a disc or disk */
  const char *initrd_path;     /* NULL: none */
  const char *cmdline;         /* NULL: empty */
  uint64_t memory;             /* bytes */
  unsigned cpus;
  enum vmm_serial_mode serial;
  const char *serial_path;     /* for VMM_SERIAL_FILE */
  /* For VMM_SERIAL_CALLBACK: called on a vCPU thread, must not block */
  void (*serial_output) (void *data, const uint8_t *bytes, size_t len);
  void *serial_data;
  bool rng;
  bool handle_signals;         /* SIGTERM/SIGINT/SIGHUP stop the VM (command-line use) */
  bool console_enabled;        /* a virtio-console device */
  struct vmm_console_config console;
  unsigned n_disks;
  struct vmm_disk_spec disks[VMM_MAX_DISKS];
  unsigned n_cdroms;
  struct vmm_cdrom_spec cdroms[VMM_MAX_CDROMS];
  /* With firmware: what it boots first; n_boot 0: disks, then CD-ROMs */
  unsigned n_boot;
  enum vmm_boot_device boot[VMM_BOOT_DEVICES];
  bool io_threads;             /* disk I/O on threads even where io_uring works */
  struct vmm_display_config display;
  struct vmm_net_spec net;

  GStringChunk *strings;       /* what the strings above point into, or NULL */
};

/* The command line's options, as main.c's GOptionEntry table leaves them. */
struct vmm_config_args {
  const char *kvm_path;        /* the KVM device, already checked */
  const char *kernel;
  const char *initrd;
  const char *cmdline;
  const char *memory;          /* a size (512M, 2G); NULL: 512 MiB */
  unsigned cpus;               /* 0: one */
  const char *serial;          /* --serial; NULL: stdio */
  const char *console;         /* --console; NULL: no console unless a --port */
  const char *const *ports;    /* --port NAME[,socket=PATH], NULL-terminated; NULL: none */
  const char *const *disks;    /* --disk specs, NULL-terminated; NULL: none */
  const char *const *cdroms;   /* --cdrom PATH|empty, NULL-terminated; NULL: none */
  const char *boot;            /* --boot order=cdrom,disk; NULL: disks first */
  const char *aio;             /* --aio; NULL: io_uring where the kernel has it */
  const char *display;         /* --display spice[,socket=PATH]|none; NULL: none */
  const char *firmware;        /* --firmware bios|uefi[,file=PATH][,vars=PATH]; NULL: none */
  const char *debugcon;        /* --debugcon FILE */
  const char *net;             /* --net user[,...]|tap=NAME[,...]|passt[,...]|none; NULL: none */
  bool rng;
};

/* Fills CONFIG (cleared first) from the command line. The VM stops on
 * SIGTERM, SIGINT and SIGHUP. */
gboolean vmm_config_from_args    (struct vmm_config *config, const struct vmm_config_args *args,
                                  GError **error);
/* Fills CONFIG (cleared first) from a machine's description; relative
 * paths are relative to MACHINE_DIR. Serial output goes nowhere until the
 * caller sets serial_output (the service does). */
gboolean vmm_config_from_machine (struct vmm_config *config, const VivMachineConfig *machine,
                                  const char *machine_dir, GError **error);
/* Frees what CONFIG owns (it can be filled again). */
void     vmm_config_clear        (struct vmm_config *config);

/* Parses PATH[,format=raw|qcow2][,readonly=on|off][,cache=writeback|none]
 * [,serial=ID][,bus=virtio|sata]. TEXT is modified in place (the commas become NULs) and SPEC
 * points into it. */
gboolean vmm_disk_spec_parse    (char *text, struct vmm_disk_spec *spec, GError **error);
/* Parses "stdio", "file:PATH", "socket:PATH" or "none"; SPEC's path points
 * into TEXT. The message of ERROR names --console, the option that takes
 * these. */
gboolean vmm_chardev_spec_parse (const char *text, struct vmm_chardev_spec *spec,
                                 GError **error);
