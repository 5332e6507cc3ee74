/* vinput.h: a polling virtio-input driver (virtio 1.2 §5.8)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "virtio.h"

#define VIRTIO_INPUT_ID 0x1052
#define VINPUT_MAX      4

#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11

enum vinput_kind { VINPUT_KBD, VINPUT_TABLET, VINPUT_MOUSE };

struct vinput
{
  const struct pci_dev *pci;
  struct pci_bar bars[6];
  struct virtio_dev dev;
  bool ok;
  unsigned slot;                /* which of the driver's buffer sets */
  enum vinput_kind kind;
  char name[129];
  uint16_t ids[4];              /* bustype, vendor, product, version */
  unsigned n_key, n_rel, n_abs, n_led;   /* bits set in each EV_BITS map */
};

struct vinput_event
{
  uint16_t type, code;
  int32_t value;
};

/* Finds every 1af4:1052 (up to VINPUT_MAX), reads their configuration
 * and sets them up with receive buffers posted; returns how many */
unsigned vinput_find_all (const struct pci *pci, struct vinput *devs, unsigned max);
const char *vinput_kind_name (enum vinput_kind k);
/* The next event from the device's eventq (buffer reposted), if any */
bool vinput_poll (struct vinput *d, struct vinput_event *ev);
/* One event on the statusq; whether it came back used */
bool vinput_status (struct vinput *d, uint16_t type, uint16_t code, int32_t value);
