/* viv-machine-config.h: machine.json, the description of one machine
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The format is described for people and tools in machine.schema.json,
 * installed in $datadir/vivarium. */
#define VIV_MACHINE_CONFIG_VERSION    1
#define VIV_MACHINE_CONFIG_FILE_NAME  "machine.json"

#define VIV_MACHINE_CONFIG_MIN_MEMORY  (G_GUINT64_CONSTANT (16) << 20)          /* 16 MiB */
#define VIV_MACHINE_CONFIG_MAX_MEMORY  (G_GUINT64_CONSTANT (16) << 40)          /* 16 TiB */
#define VIV_MACHINE_CONFIG_MAX_CPUS    255
#define VIV_MACHINE_CONFIG_MAX_NAME    256     /* bytes of UTF-8 */
#define VIV_MACHINE_CONFIG_MAX_SERIAL  20      /* bytes; what virtio-blk can report */
#define VIV_MACHINE_CONFIG_MIN_DISPLAY 128     /* pixels, width and height */
#define VIV_MACHINE_CONFIG_MAX_DISPLAY 16384
/* A machine description is a few kilobytes; this leaves room for hundreds
 * of disks and members of later versions, and bounds what a load reads */
#define VIV_MACHINE_CONFIG_MAX_SIZE    (1024 * 1024)

#define VIV_MACHINE_CONFIG_ERROR (viv_machine_config_error_quark ())

typedef enum
{
  VIV_MACHINE_CONFIG_ERROR_PARSE,          /* not JSON at all */
  VIV_MACHINE_CONFIG_ERROR_MISSING_FIELD,  /* a required member is absent */
  VIV_MACHINE_CONFIG_ERROR_WRONG_TYPE,     /* a member has the wrong JSON type */
  VIV_MACHINE_CONFIG_ERROR_BAD_VALUE,      /* the right type, but out of range or unknown */
  VIV_MACHINE_CONFIG_ERROR_NEWER_VERSION,  /* written by a newer Vivarium */
  VIV_MACHINE_CONFIG_ERROR_MISSING_FILE,   /* a file it names is not there (validate_files) */
  VIV_MACHINE_CONFIG_ERROR_NOT_A_FILE,     /* machine.json is not a regular file, or too large */
} VivMachineConfigError;

typedef enum
{
  VIV_BOOT_KIND_DISK,       /* "disk": the default firmware boots the first disk */
  VIV_BOOT_KIND_KERNEL,     /* "kernel": direct kernel boot */
  VIV_BOOT_KIND_FIRMWARE,   /* "firmware": a chosen firmware, which boots media or disks */
} VivBootKind;

typedef enum
{
  VIV_FIRMWARE_UNSET,       /* no "firmware" member */
  VIV_FIRMWARE_BIOS,
  VIV_FIRMWARE_UEFI,
} VivFirmware;

typedef enum
{
  VIV_DISK_FORMAT_QCOW2,
  VIV_DISK_FORMAT_RAW,
} VivDiskFormat;

typedef enum
{
  VIV_DISK_BUS_VIRTIO,      /* the default: virtio-blk */
  VIV_DISK_BUS_SATA,        /* AHCI, for guests without virtio drivers */
} VivDiskBus;

typedef enum
{
  VIV_BOOT_DEVICE_DISK,
  VIV_BOOT_DEVICE_CDROM,
} VivBootDevice;

#define VIV_BOOT_DEVICE_COUNT 2

typedef enum
{
  VIV_DISK_CACHE_WRITEBACK, /* the default */
  VIV_DISK_CACHE_NONE,      /* O_DIRECT */
} VivDiskCache;

typedef enum
{
  VIV_MEDIA_KIND_CDROM,
} VivMediaKind;

typedef enum
{
  VIV_NETWORK_MODE_USER,    /* the default: user-mode NAT (libslirp) */
  VIV_NETWORK_MODE_NONE,
  VIV_NETWORK_MODE_TAP,     /* an existing tap device (VivNetworkConfig's tap) */
  VIV_NETWORK_MODE_PASST,   /* Debian's passt, started by the helper */
} VivNetworkMode;

typedef enum
{
  VIV_PROTOCOL_TCP,
  VIV_PROTOCOL_UDP,
} VivProtocol;

typedef enum
{
  VIV_DISPLAY_KIND_SPICE,   /* the default */
  VIV_DISPLAY_KIND_NONE,
} VivDisplayKind;

/* Ownership, for every struct below: strings, arrays, the GDateTime and the
 * `unknown` objects are owned by the struct and freed with it. Change a
 * string with g_free() and g_strdup(). `unknown` holds the members this
 * version of Vivarium does not know, to write them back unchanged; it is
 * NULL when there are none; leave it alone. */

typedef struct
{
  char           *path;       /* relative to the machine's folder, or absolute */
  VivDiskFormat   format;
  gboolean        readonly;
  VivDiskCache    cache;
  char           *serial;     /* nullable */
  VivDiskBus      bus;
  JsonObject     *unknown;
} VivDiskConfig;

typedef struct
{
  char           *path;       /* relative to the machine's folder, or absolute;
                               * nullable when not inserted (an empty drive) */
  VivMediaKind    kind;
  gboolean        inserted;   /* defaults to TRUE; FALSE: ejected */
  JsonObject     *unknown;
} VivMediaConfig;

typedef struct
{
  VivProtocol     protocol;
  char           *address;    /* nullable: the host address to bind, an IPv4 or IPv6
                               * literal; NULL means 127.0.0.1 (this host only),
                               * "0.0.0.0" or "::" every address */
  guint           host_port;  /* 1 to 65535 */
  guint           guest_port; /* 1 to 65535 */
  JsonObject     *unknown;
} VivPortForward;

typedef struct
{
  VivBootKind     kind;
  /* Every field is kept whatever the kind, so switching the kind back and
   * forth loses nothing; only the kind's own fields are required. */
  char           *kernel;     /* nullable; required for VIV_BOOT_KIND_KERNEL */
  char           *initrd;     /* nullable */
  char           *cmdline;    /* nullable */
  VivFirmware     firmware;   /* required (not UNSET) for VIV_BOOT_KIND_FIRMWARE */
  /* The firmware's boot order, each device at most once; n_order 0 (no
   * "order" member): disk, then cdrom. */
  VivBootDevice   order[VIV_BOOT_DEVICE_COUNT];
  guint           n_order;
  JsonObject     *unknown;
} VivBootConfig;

typedef struct
{
  VivNetworkMode  mode;
  char           *mac;        /* nullable ("aa:bb:cc:dd:ee:ff", lower case); see
                               * viv_machine_config_dup_mac() */
  GPtrArray      *forwards;   /* of VivPortForward*, never NULL; user and passt modes */
  char           *tap;        /* nullable; the tap device's name, required for
                               * VIV_NETWORK_MODE_TAP (kept whatever the mode) */
  JsonObject     *unknown;
} VivNetworkConfig;

typedef struct
{
  VivDisplayKind  kind;
  guint           width;      /* 0, or both width and height set */
  guint           height;
  JsonObject     *unknown;
} VivDisplayConfig;

typedef struct
{
  gboolean        rng;        /* virtio-rng; defaults to TRUE */
  gboolean        console;    /* virtio-console; defaults to FALSE */
  JsonObject     *unknown;
} VivDevicesConfig;

typedef struct
{
  char             *uuid;     /* lower case, the name of the machine's folder */
  char             *name;
  char             *osinfo;   /* nullable: a libosinfo OS id */
  GDateTime        *created;  /* nullable, UTC */
  guint64           memory;   /* bytes */
  guint             cpus;
  VivBootConfig     boot;
  GPtrArray        *disks;    /* of VivDiskConfig*, never NULL */
  GPtrArray        *media;    /* of VivMediaConfig*, never NULL */
  VivNetworkConfig  network;
  VivDisplayConfig  display;
  VivDevicesConfig  devices;
  JsonObject       *unknown;
} VivMachineConfig;

GQuark            viv_machine_config_error_quark    (void);

VivMachineConfig *viv_machine_config_new            (const char              *name,
                                                     guint64                  memory,
                                                     guint                    cpus);
VivMachineConfig *viv_machine_config_copy           (const VivMachineConfig  *config);
void              viv_machine_config_free           (VivMachineConfig        *config);
gboolean          viv_machine_config_equal          (const VivMachineConfig  *a,
                                                     const VivMachineConfig  *b);

VivMachineConfig *viv_machine_config_load           (const char              *path,
                                                     GError                 **error);
VivMachineConfig *viv_machine_config_load_dir       (const char              *machine_dir,
                                                     GError                 **error);
VivMachineConfig *viv_machine_config_load_from_data (const char              *data,
                                                     gssize                   len,
                                                     GError                 **error);
gboolean          viv_machine_config_check          (const VivMachineConfig  *config,
                                                     GError                 **error);
gboolean          viv_machine_config_validate_files (const VivMachineConfig  *config,
                                                     const char              *machine_dir,
                                                     GError                 **error);
char             *viv_machine_config_to_data        (const VivMachineConfig  *config,
                                                     gsize                   *len);
gboolean          viv_machine_config_save           (const VivMachineConfig  *config,
                                                     const char              *path,
                                                     GError                 **error);

char             *viv_machine_config_resolve_path   (const char              *machine_dir,
                                                     const char              *path);
char             *viv_machine_config_dup_mac        (const VivMachineConfig  *config);
gboolean          viv_mac_parse                     (const char              *text,
                                                     guint8                   mac[6]);
gboolean          viv_machine_config_uses_firmware  (const VivMachineConfig  *config);
VivFirmware       viv_machine_config_get_firmware   (const VivMachineConfig  *config);

VivDiskConfig    *viv_disk_config_new               (const char              *path,
                                                     VivDiskFormat            format);
void              viv_disk_config_free              (VivDiskConfig           *disk);
VivMediaConfig   *viv_media_config_new              (const char              *path,
                                                     VivMediaKind             kind);
void              viv_media_config_free             (VivMediaConfig          *media);
VivPortForward   *viv_port_forward_new              (VivProtocol              protocol,
                                                     guint                    host_port,
                                                     guint                    guest_port);
VivPortForward   *viv_port_forward_copy             (const VivPortForward    *forward);
void              viv_port_forward_free             (VivPortForward          *forward);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivMachineConfig, viv_machine_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivDiskConfig, viv_disk_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivMediaConfig, viv_media_config_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VivPortForward, viv_port_forward_free)

G_END_DECLS
