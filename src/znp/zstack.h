/*
 * Z-Stack 3.x.0 / 3.0.x coordinator start-up on top of the MT engine, as a non-blocking state
 * machine: version, NV state (alignment, HAS_CONFIGURED, NIB, active key), adopt or form the
 * network, resume, register the endpoints Zigbee2MQTT registers and the Green Power group, then
 * report the coordinator upward. Z-Stack 1.2 (product id 0) is refused.
 *
 * Adopt vs form: a coordinator holding a formed network (HAS_CONFIGURED = 0x55 and a NIB with a PAN
 * and a channel) is adopted when every value the config gives explicitly matches it; a mismatch is
 * refused (-EEXIST, see zstack_error_message()) unless reform is set. A blank coordinator gets a new
 * network; what the config leaves to "auto" comes from getrandom(), never the well-known key.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "znp/znp.h"

typedef struct Zstack Zstack;

#define ZSTACK_CHANNEL_DEFAULT  11
#define ZSTACK_GP_ENDPOINT      242
#define ZSTACK_GP_GROUP         0x0B84

typedef struct ZstackConfig {
        bool pan_id_auto;
        uint16_t pan_id;
        bool ext_pan_id_auto;
        uint64_t ext_pan_id;            /* display order; 0xDDDDDDDDDDDDDDDD (Zigbee2MQTT's default
                                         * dd:dd:..:dd) means the coordinator's IEEE address */
        bool network_key_auto;
        uint8_t network_key[16];
        uint8_t channel;                /* 11..26; 0 = auto: adopt any, form on 11 */
        bool reform;                    /* lumiplugd --reform: replace a mismatching network */

        /* Zero = the defaults of zigbee-herdsman (state 9 after formation 100 s, after
         * STARTUP_FROM_APP 60 s, NIB poll every 3 s). Tests shorten them. */
        uint64_t formation_timeout_usec;
        uint64_t startup_timeout_usec;
        uint64_t nib_poll_interval_usec;
} ZstackConfig;

typedef struct ZstackVersion {
        uint8_t transport_rev;
        uint8_t product_id;             /* 0 Z-Stack 1.2, 1 Z-Stack 3.x.0, 2 Z-Stack 3.0.x */
        uint8_t major, minor, maint;
        uint32_t revision;              /* CodeRevision, the firmware build date, e.g. 20240710; 0 if absent */
} ZstackVersion;

typedef struct ZstackNib {
        bool aligned;                   /* 116-byte CC26xx layout, else 110-byte CC253x */
        uint16_t dev_address;
        uint8_t channel;
        uint16_t pan_id;
        uint32_t channel_list;
        uint64_t ext_pan_id;            /* display order */
        uint8_t key_loaded;
} ZstackNib;

typedef struct ZstackInfo {
        uint64_t ieee;                  /* display order, 0x00124b00... */
        uint16_t nwk_address;
        ZstackVersion version;
        uint8_t channel;
        uint16_t pan_id;
        uint64_t ext_pan_id;
        uint8_t network_key[16];        /* formed: the key written; adopted: the active key (keep it secret) */
        bool network_key_known;
        bool formed;                    /* true: formed now (save the generated values); false: adopted */
} ZstackInfo;

/* error 0: info is the coordinator. Otherwise a negative errno and zstack_error_message():
 * -EPROTONOSUPPORT Z-Stack 1.2, -EEXIST mismatching network without reform, -ETIMEDOUT,
 * -EBADMSG malformed answer, -EIO a command answered with a failure status, link errors. */
typedef void (*ZstackStartFn)(Zstack *z, int error, const ZstackInfo *info, void *userdata);

int zstack_new(Zstack **ret, Znp *znp);
Zstack *zstack_free(Zstack *z);         /* cancels a start-up in progress without calling back */

/* The Znp must be ready (znp_start() succeeded). cfg is copied. */
int zstack_start(Zstack *z, const ZstackConfig *cfg, ZstackStartFn cb, void *userdata);

/* Why the last start-up failed, one line, no secrets. */
const char *zstack_error_message(const Zstack *z);
/* The MT command it failed at ("ZDO_STARTUP_FROM_APP"), or NULL when none applies. */
const char *zstack_error_command(const Zstack *z);

/* Decoders, exposed for tests and for the manager's logs. -EBADMSG on a short or invalid input. */
int zstack_parse_version(const MtFrame *srsp, ZstackVersion *ret);
int zstack_parse_nib(const uint8_t *nib, size_t len, ZstackNib *ret);
int zstack_parse_device_info(const MtFrame *srsp, uint64_t *ret_ieee, uint16_t *ret_nwk, uint8_t *ret_state);

/* "zStack12", "zStack3x0", "zStack30x" (zigbee-herdsman's names, in Zigbee2MQTT's bridge/info). */
const char *zstack_product_name(uint8_t product_id);

/* 16 random bytes from getrandom() that are not the well-known Zigbee default key; random PAN id
 * (0x0001..0xFFFE) and extended PAN id (not all-0, all-FF or DD..DD). */
int zstack_random_network_key(uint8_t key[16]);
int zstack_random_pan_id(uint16_t *ret);
int zstack_random_ext_pan_id(uint64_t *ret);
