/*
 * One simulated Xiaomi ZNCZ04LM (lumi.plug.mmeu01): descriptors, ZCL server and physics.
 *
 * Firmware variant: the endpoints zha-device-handlers captured from real plugs
 * (zhaquirks/xiaomi/aqara/plug_eu.py): EP 1 (HA smart plug: Basic, DeviceTemperature, Identify,
 * Groups, Scenes, OnOff, Lumi 0xFCC0 in; Time, OTA out), EP 21 (Analog Input: power in W),
 * a second Analog Input endpoint for energy in kWh (EP 22 up to firmware 22, EP 31 from
 * firmware 24, as in deCONZ's ZNCZ04LM DDFs) and EP 242 (Green Power proxy).
 * Attributes and values follow the fw 22 dumps in sprut/Hub issues #192/#361/#401: Basic has no
 * swBuildId (0x4000), DeviceTemperature is announced but answers no attribute (the temperature
 * only travels in the Lumi TLV), 0xFCC0 also carries the unexplained boolean 0x00FC.
 *
 * All attributes live in one table (attrs[]); read, write, discover, configure reporting and
 * the change reports all walk it. The physics (energy, voltage, temperature, overload,
 * auto_off) advance in sim_plug_tick().
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "sim-lumi-tlv.h"
#include "sim-ota.h"
#include "sim-plug.h"
#include "sim-zcl.h"

#define LUMI_MFR 0x115f
#define LUMI_OTA_IMAGE_TYPE 0x4018      /* zigbee-OTA index, lumi.plug.mmeu01 */
#define COORD_EP 1

#define CL_BASIC 0x0000
#define CL_DEVTEMP 0x0002
#define CL_IDENTIFY 0x0003
#define CL_GROUPS 0x0004
#define CL_SCENES 0x0005
#define CL_ONOFF 0x0006
#define CL_TIME 0x000a
#define CL_ANALOG_INPUT 0x000c
#define CL_OTA 0x0019
#define CL_GREEN_POWER 0x0021
#define CL_LUMI 0xfcc0

#define EP_MAIN 1
#define EP_POWER 21
#define EP_ENERGY 0xfe          /* placeholder in attrs[]: 22 or 31 depending on firmware */
#define EP_GP 242

#define OVERLOAD_DEFAULT_W 2300.0f
#define OVERLOAD_MIN_W 100.0f
#define OVERLOAD_MAX_W 2300.0f
#define AUTO_OFF_THRESHOLD_W 2.0
#define AUTO_OFF_DELAY_S (20.0 * 60.0)
#define DEFAULT_REPORT_INTERVAL_S 300.0
#define AMBIENT_C 25.0
#define THERMAL_TAU_S 600.0
#define MAX_GROUPS 8
/* Lumi attribute 0x00F5 (uint32) that the plug appends to every On/Off report. In the captures
 * it reads 0x03 <own network address> 0x00 (0x032A7300 from 0x2A73 in zha-device-handlers #516,
 * 0x0398BF00 from 0x98BF in home-assistant/core #47650); its meaning is unknown. */
#define ON_OFF_F5_VALUE(nwk) (0x03000000u | (uint32_t) (nwk) << 8)

enum {
        ACC_R = 1 << 0,
        ACC_W = 1 << 1,
        ACC_P = 1 << 2,         /* reportable: Configure Reporting accepted */
        ACC_AUTO = 1 << 3,      /* reported on change without any configuration */
};

typedef enum AttrId {
        A_ZCL_VERSION,
        A_APP_VERSION,
        A_STACK_VERSION,
        A_HW_VERSION,
        A_MANUFACTURER,
        A_MODEL,
        A_DATE_CODE,
        A_POWER_SOURCE,
        A_IDENTIFY_TIME,
        A_GROUPS_NAME_SUPPORT,
        A_SCENE_COUNT,
        A_SCENE_CURRENT,
        A_SCENE_GROUP,
        A_SCENE_VALID,
        A_SCENE_NAME_SUPPORT,
        A_SCENE_LAST_CONFIGURED_BY,
        A_ON_OFF,
        A_ON_OFF_F5,
        A_POWER_OUT_OF_SERVICE,
        A_POWER_VALUE,
        A_POWER_STATUS_FLAGS,
        A_ENERGY_OUT_OF_SERVICE,
        A_ENERGY_VALUE,
        A_ENERGY_STATUS_FLAGS,
        A_LUMI_MODE,
        A_LUMI_TLV,
        A_LUMI_00FC,
        A_LUMI_OUTAGE_MEMORY,
        A_LUMI_AUTO_OFF,
        A_LUMI_LED_NIGHT,
        A_LUMI_CONSUMER,
        A_LUMI_OVERLOAD,
        _A_MAX,
} AttrId;

typedef struct AttrDef {
        AttrId id;
        uint8_t ep;
        uint16_t cluster, attr, mfr;
        uint8_t type, access;
} AttrDef;

static const AttrDef attrs[] = {
        { A_ZCL_VERSION,          EP_MAIN,   CL_BASIC,        0x0000, 0,        ZT_UINT8,   ACC_R },
        { A_APP_VERSION,          EP_MAIN,   CL_BASIC,        0x0001, 0,        ZT_UINT8,   ACC_R },
        { A_STACK_VERSION,        EP_MAIN,   CL_BASIC,        0x0002, 0,        ZT_UINT8,   ACC_R },
        { A_HW_VERSION,           EP_MAIN,   CL_BASIC,        0x0003, 0,        ZT_UINT8,   ACC_R },
        { A_MANUFACTURER,         EP_MAIN,   CL_BASIC,        0x0004, 0,        ZT_CHARSTR, ACC_R },
        { A_MODEL,                EP_MAIN,   CL_BASIC,        0x0005, 0,        ZT_CHARSTR, ACC_R },
        { A_DATE_CODE,            EP_MAIN,   CL_BASIC,        0x0006, 0,        ZT_CHARSTR, ACC_R },
        { A_POWER_SOURCE,         EP_MAIN,   CL_BASIC,        0x0007, 0,        ZT_ENUM8,   ACC_R },
        { A_IDENTIFY_TIME,        EP_MAIN,   CL_IDENTIFY,     0x0000, 0,        ZT_UINT16,  ACC_R | ACC_W },
        { A_GROUPS_NAME_SUPPORT,  EP_MAIN,   CL_GROUPS,       0x0000, 0,        ZT_BITMAP8, ACC_R },
        { A_SCENE_COUNT,          EP_MAIN,   CL_SCENES,       0x0000, 0,        ZT_UINT8,   ACC_R },
        { A_SCENE_CURRENT,        EP_MAIN,   CL_SCENES,       0x0001, 0,        ZT_UINT8,   ACC_R },
        { A_SCENE_GROUP,          EP_MAIN,   CL_SCENES,       0x0002, 0,        ZT_UINT16,  ACC_R },
        { A_SCENE_VALID,          EP_MAIN,   CL_SCENES,       0x0003, 0,        ZT_BOOL,    ACC_R },
        { A_SCENE_NAME_SUPPORT,   EP_MAIN,   CL_SCENES,       0x0004, 0,        ZT_BITMAP8, ACC_R },
        { A_SCENE_LAST_CONFIGURED_BY, EP_MAIN, CL_SCENES,     0x0005, 0,        ZT_IEEE,    ACC_R },
        { A_ON_OFF,               EP_MAIN,   CL_ONOFF,        0x0000, 0,        ZT_BOOL,    ACC_R | ACC_P | ACC_AUTO },
        { A_ON_OFF_F5,            EP_MAIN,   CL_ONOFF,        0x00f5, 0,        ZT_UINT32,  ACC_R },
        { A_POWER_OUT_OF_SERVICE, EP_POWER,  CL_ANALOG_INPUT, 0x0051, 0,        ZT_BOOL,    ACC_R },
        { A_POWER_VALUE,          EP_POWER,  CL_ANALOG_INPUT, 0x0055, 0,        ZT_SINGLE,  ACC_R | ACC_P | ACC_AUTO },
        { A_POWER_STATUS_FLAGS,   EP_POWER,  CL_ANALOG_INPUT, 0x006f, 0,        ZT_BITMAP8, ACC_R },
        { A_ENERGY_OUT_OF_SERVICE,EP_ENERGY, CL_ANALOG_INPUT, 0x0051, 0,        ZT_BOOL,    ACC_R },
        { A_ENERGY_VALUE,         EP_ENERGY, CL_ANALOG_INPUT, 0x0055, 0,        ZT_SINGLE,  ACC_R | ACC_P },
        { A_ENERGY_STATUS_FLAGS,  EP_ENERGY, CL_ANALOG_INPUT, 0x006f, 0,        ZT_BITMAP8, ACC_R },
        { A_LUMI_MODE,            EP_MAIN,   CL_LUMI,         0x0009, LUMI_MFR, ZT_UINT8,   ACC_R | ACC_W },
        { A_LUMI_TLV,             EP_MAIN,   CL_LUMI,         0x00f7, LUMI_MFR, ZT_OCTSTR,  ACC_R },
        { A_LUMI_00FC,            EP_MAIN,   CL_LUMI,         0x00fc, LUMI_MFR, ZT_BOOL,    ACC_R },
        { A_LUMI_OUTAGE_MEMORY,   EP_MAIN,   CL_LUMI,         0x0201, LUMI_MFR, ZT_BOOL,    ACC_R | ACC_W },
        { A_LUMI_AUTO_OFF,        EP_MAIN,   CL_LUMI,         0x0202, LUMI_MFR, ZT_BOOL,    ACC_R | ACC_W },
        { A_LUMI_LED_NIGHT,       EP_MAIN,   CL_LUMI,         0x0203, LUMI_MFR, ZT_BOOL,    ACC_R | ACC_W },
        { A_LUMI_CONSUMER,        EP_MAIN,   CL_LUMI,         0x0207, LUMI_MFR, ZT_BOOL,    ACC_R | ACC_P | ACC_AUTO },
        { A_LUMI_OVERLOAD,        EP_MAIN,   CL_LUMI,         0x020b, LUMI_MFR, ZT_SINGLE,  ACC_R | ACC_W },
};

typedef struct Endpoint {
        uint8_t ep;
        uint16_t profile, device;
        uint8_t version;
        uint8_t n_in, n_out;
        uint16_t in[8], out[4];
} Endpoint;

static const Endpoint endpoints[] = {
        { EP_MAIN, 0x0104, 0x0051, 1, 7, 2,
          { CL_BASIC, CL_DEVTEMP, CL_IDENTIFY, CL_GROUPS, CL_SCENES, CL_ONOFF, CL_LUMI },
          { CL_TIME, CL_OTA } },
        { EP_POWER, 0x0104, 0x0051, 1, 1, 0, { CL_ANALOG_INPUT }, { 0 } },
        { EP_ENERGY, 0x0104, 0x0051, 1, 1, 0, { CL_ANALOG_INPUT }, { 0 } },
        { EP_GP, 0xa1e0, 0x0061, 0, 0, 1, { 0 }, { CL_GREEN_POWER } },
};

/* Reporting state of one reportable attribute. */
typedef struct ReportSlot {
        bool configured;
        uint16_t min_s, max_s;
        double change;
        double last_value;
        double last_time;
        bool reported_once;
        bool pending;
} ReportSlot;

struct SimPlug {
        SimPlugConfig cfg;
        SimPlugOps ops;
        void *userdata;

        uint8_t tsn;                    /* the plug's own sequence number for its reports */
        uint16_t nwk;                   /* its network address, as the coordinator told it */
        bool joined;                    /* as told by the last tick */
        bool have_time;
        double now, last_tick;
        double next_tlv_at;
        bool boot_report_pending;

        /* relay and load */
        bool on;
        bool consumer;
        double load_w;
        double energy_kwh;
        double temperature_c;
        unsigned outage_count;
        double low_since;               /* auto_off: since when power is below the threshold; <0 none */
        double auto_off_delay_s;
        unsigned overload_trips;

        /* settings (0xFCC0) */
        bool outage_memory, auto_off, led_night;
        uint8_t mode;
        float overload_w;

        uint16_t identify_s;
        double identify_tick;

        uint16_t groups[MAX_GROUPS];
        size_t n_groups;

        ReportSlot slots[_A_MAX];

        /* Basic modelId / manufacturerName: "lumi.plug.mmeu01" / "LUMI" unless a test makes this
         * device another product (sim_plug_set_identity). */
        char model[33], manufacturer[33];

        SimOta *ota;                    /* its OTA Upgrade client (sim-ota.c) */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static uint8_t energy_ep(const SimPlug *p) {
        return p->cfg.app_version >= 24 ? 31 : 22;
}

static uint8_t real_ep(const SimPlug *p, uint8_t ep) {
        return ep == EP_ENERGY ? energy_ep(p) : ep;
}

static const Endpoint *find_endpoint(const SimPlug *p, uint8_t ep) {
        for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
                if (real_ep(p, endpoints[i].ep) == ep)
                        return &endpoints[i];
        return NULL;
}

static bool endpoint_has(const Endpoint *e, uint16_t cluster, bool server) {
        const uint16_t *l = server ? e->in : e->out;
        size_t n = server ? e->n_in : e->n_out;
        for (size_t i = 0; i < n; i++)
                if (l[i] == cluster)
                        return true;
        return false;
}

static const AttrDef *find_attr(const SimPlug *p, uint8_t ep, uint16_t cluster, uint16_t attr,
                                uint16_t mfr) {
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
                if (real_ep(p, attrs[i].ep) == ep && attrs[i].cluster == cluster &&
                    attrs[i].attr == attr && attrs[i].mfr == mfr)
                        return &attrs[i];
        return NULL;
}

static const AttrDef *attr_by_id(AttrId id) {
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
                if (attrs[i].id == id)
                        return &attrs[i];
        return NULL;
}

static double power_w(const SimPlug *p) {
        return p->on && p->consumer ? p->load_w : 0.0;
}

/* Mains voltage: 230 V, a per-plug offset from its address, a slow deterministic wobble and a
 * small drop under load; 0.1 V resolution like the plug's decivolt readings. */
static double voltage_v(const SimPlug *p) {
        double offset = (double) ((p->cfg.ieee >> 3) % 21) / 10.0 - 1.0;
        double wobble = 1.5 * sin(2.0 * M_PI * p->now / 900.0);
        double v = 230.0 + offset + wobble - 0.0015 * power_w(p);
        return round(v * 10.0) / 10.0;
}

static double current_ma(const SimPlug *p) {
        return round(power_w(p) / voltage_v(p) * 1000.0);
}

static double target_temperature(const SimPlug *p) {
        return AMBIENT_C + 0.004 * power_w(p);
}

/* ---- attribute values -------------------------------------------------------------------- */

static void fill_tlv(const SimPlug *p, SimLumiTlv *t) {
        *t = (SimLumiTlv) {
                .on = p->on,
                .temperature_c = (int8_t) lround(p->temperature_c),
                .power_w = (float) power_w(p),
                .energy_kwh = (float) p->energy_kwh,
                .voltage_dv = (float) round(voltage_v(p) * 10.0),
                .current_ma = (float) current_ma(p),
                .boot_count = (uint16_t) (p->outage_count + 1),
                .app_version = (uint8_t) p->cfg.app_version,
                .consumer_connected = p->consumer,
        };
}

static void encode_value(const SimPlug *p, AttrId id, ZclWriter *w) {
        switch (id) {
        case A_ZCL_VERSION:             zw_u8(w, 3); break;
        case A_APP_VERSION:             zw_u8(w, (uint8_t) p->cfg.app_version); break;
        case A_STACK_VERSION:           zw_u8(w, 2); break;
        case A_HW_VERSION:              zw_u8(w, 1); break;
        case A_MANUFACTURER:            zw_str(w, p->manufacturer, strlen(p->manufacturer)); break;
        case A_MODEL:                   zw_str(w, p->model, strlen(p->model)); break;
        case A_DATE_CODE:               zw_str(w, "09-06-2019", 10); break;
        case A_POWER_SOURCE:            zw_u8(w, 0x01); break;
        case A_IDENTIFY_TIME:           zw_u16(w, p->identify_s); break;
        case A_GROUPS_NAME_SUPPORT:     zw_u8(w, 0); break;
        case A_SCENE_COUNT:             zw_u8(w, 0); break;
        case A_SCENE_CURRENT:           zw_u8(w, 0); break;
        case A_SCENE_GROUP:             zw_u16(w, 0); break;
        case A_SCENE_VALID:             zw_u8(w, 0); break;
        case A_SCENE_NAME_SUPPORT:      zw_u8(w, 0); break;
        case A_SCENE_LAST_CONFIGURED_BY: zw_u64(w, UINT64_MAX); break;
        case A_ON_OFF:                  zw_u8(w, p->on); break;
        case A_ON_OFF_F5:               zw_u32(w, ON_OFF_F5_VALUE(p->nwk)); break;
        case A_POWER_OUT_OF_SERVICE:    zw_u8(w, 0); break;
        case A_POWER_VALUE:             zw_float(w, (float) power_w(p)); break;
        case A_POWER_STATUS_FLAGS:      zw_u8(w, 0); break;
        case A_ENERGY_OUT_OF_SERVICE:   zw_u8(w, 0); break;
        case A_ENERGY_VALUE:            zw_float(w, (float) p->energy_kwh); break;
        case A_ENERGY_STATUS_FLAGS:     zw_u8(w, 0); break;
        case A_LUMI_MODE:               zw_u8(w, p->mode); break;
        case A_LUMI_TLV: {
                SimLumiTlv t;
                uint8_t blob[SIM_LUMI_TLV_LEN > SIM_LUMI_TLV_LEN_FW24 ? SIM_LUMI_TLV_LEN : SIM_LUMI_TLV_LEN_FW24];
                fill_tlv(p, &t);
                int n = sim_lumi_tlv_encode(&t, blob, sizeof blob);
                if (n < 0)
                        w->overflow = true;
                else
                        zw_str(w, blob, (size_t) n);
                break;
        }
        case A_LUMI_00FC:               zw_u8(w, 0); break;
        case A_LUMI_OUTAGE_MEMORY:      zw_u8(w, p->outage_memory); break;
        case A_LUMI_AUTO_OFF:           zw_u8(w, p->auto_off); break;
        case A_LUMI_LED_NIGHT:          zw_u8(w, p->led_night); break;
        case A_LUMI_CONSUMER:           zw_u8(w, p->consumer); break;
        case A_LUMI_OVERLOAD:           zw_float(w, p->overload_w); break;
        case _A_MAX:                    w->overflow = true; break;
        }
}

/* Numeric view of a reportable attribute, for change detection. */
static double numeric_value(const SimPlug *p, AttrId id) {
        switch (id) {
        case A_ON_OFF:          return p->on;
        case A_POWER_VALUE:     return (float) power_w(p);
        case A_ENERGY_VALUE:    return (float) p->energy_kwh;
        case A_LUMI_CONSUMER:   return p->consumer;
        default:                return 0;
        }
}

/* ---- sending ------------------------------------------------------------------------------ */

static void send_frame(SimPlug *p, uint16_t cluster, uint8_t src_ep, const ZclWriter *w) {
        if (w->overflow || !p->ops.send)
                return;
        p->ops.send(p, cluster, src_ep, COORD_EP, w->buf, w->len, p->userdata);
}

/* Header of a frame the plug starts (a report or a request): its own TSN. */
static void own_header(SimPlug *p, ZclWriter *w, uint8_t fc, uint16_t mfr, uint8_t cmd) {
        zw_u8(w, fc | (mfr ? ZFC_MANUFACTURER : 0));
        if (mfr)
                zw_u16(w, mfr);
        zw_u8(w, p->tsn++);
        zw_u8(w, cmd);
}

/* Report Attributes of one attribute: FC 0x18 (0x1C with the Lumi code), disable default
 * response set, to the coordinator's endpoint 1. */
static void send_report(SimPlug *p, const AttrDef *d) {
        uint8_t buf[128];
        ZclWriter w;

        zw_init(&w, buf, sizeof buf);
        own_header(p, &w, ZFC_SERVER_TO_CLIENT | ZFC_DISABLE_DEFAULT_RSP, d->mfr, 0x0a);
        zw_u16(&w, d->attr);
        zw_u8(&w, d->type);
        encode_value(p, d->id, &w);
        if (d->id == A_ON_OFF) {
                const AttrDef *f5 = attr_by_id(A_ON_OFF_F5);
                zw_u16(&w, f5->attr);
                zw_u8(&w, f5->type);
                encode_value(p, f5->id, &w);
        }
        send_frame(p, d->cluster, real_ep(p, d->ep), &w);

        ReportSlot *s = &p->slots[d->id];
        s->last_value = numeric_value(p, d->id);
        s->last_time = p->now;
        s->reported_once = true;
        s->pending = false;
}

static void send_tlv_report(SimPlug *p) {
        send_report(p, attr_by_id(A_LUMI_TLV));
}

static bool slot_active(const SimPlug *p, const AttrDef *d) {
        return (d->access & ACC_AUTO) || p->slots[d->id].configured;
}

/* Sends the change reports that are due. force_on_off: the relay was commanded, report its
 * state even if it did not change (the plug confirms every command with a report). */
static void report_changes(SimPlug *p, bool force_on_off) {
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
                const AttrDef *d = &attrs[i];
                ReportSlot *s = &p->slots[d->id];

                if (!(d->access & ACC_P) || !slot_active(p, d))
                        continue;

                double v = numeric_value(p, d->id);
                bool changed;
                if (zcl_type_is_analog(d->type))
                        changed = fabs(v - s->last_value) > 0 &&
                                  fabs(v - s->last_value) >= s->change;
                else
                        changed = v != s->last_value;
                if (d->id == A_ON_OFF && force_on_off)
                        changed = true;
                if (changed)
                        s->pending = true;
                if (!s->pending)
                        continue;

                if (!p->joined) {
                        /* Nobody to tell; remember the value so the next change is relative. */
                        s->pending = false;
                        s->last_value = v;
                        continue;
                }
                if (s->configured && s->reported_once && p->now - s->last_time < s->min_s)
                        continue;       /* minimum interval not over: stays pending */
                send_report(p, d);
        }
}

/* ---- relay and physics -------------------------------------------------------------------- */

static void check_overload(SimPlug *p) {
        if (p->on && power_w(p) > p->overload_w) {
                p->on = false;
                p->overload_trips++;
                p->low_since = -1;
        }
}

/* auto_off counts from the moment the plug is ON and draws under the threshold. */
static void update_auto_off(SimPlug *p) {
        if (p->auto_off && p->on && power_w(p) < AUTO_OFF_THRESHOLD_W) {
                if (p->low_since < 0)
                        p->low_since = p->now;
        } else
                p->low_since = -1;
}

/* The relay was switched (command, button or protection). */
static void set_relay(SimPlug *p, bool on) {
        p->on = on;
        p->low_since = -1;
        check_overload(p);
        update_auto_off(p);
}

/* ---- ZCL server ------------------------------------------------------------------------- */

typedef struct Request {
        uint16_t cluster;
        uint8_t src_ep, dst_ep;
        uint8_t fc;
        uint16_t mfr;           /* 0 when the frame has none */
        uint8_t tsn, cmd;
        ZclReader payload;
} Request;

/* Header of an answer: the opposite direction, the request's manufacturer code and TSN.
 * Disable-default-response as the fw 22 plug sets it in captures: set on Default Responses and
 * on the Lumi code's manufacturer-specific answers (0x1C, deCONZ #2583), clear on the stack's
 * other answers (Read Attributes / Groups responses 0x08 / 0x09, zha-device-handlers #516). */
static void answer_header(ZclWriter *w, const Request *r, bool cluster_specific, uint8_t cmd) {
        bool manufacturer = r->fc & ZFC_MANUFACTURER;
        bool default_rsp = !cluster_specific && cmd == 0x0b;
        uint8_t fc = (r->fc & ZFC_SERVER_TO_CLIENT) ^ ZFC_SERVER_TO_CLIENT;

        if (default_rsp || manufacturer)
                fc |= ZFC_DISABLE_DEFAULT_RSP;
        if (cluster_specific)
                fc |= ZFC_CLUSTER_SPECIFIC;
        if (manufacturer)
                fc |= ZFC_MANUFACTURER;
        zw_u8(w, fc);
        if (manufacturer)
                zw_u16(w, r->mfr);
        zw_u8(w, r->tsn);
        zw_u8(w, cmd);
}

static void send_answer(SimPlug *p, const Request *r, ZclWriter *w) {
        if (w->overflow || !p->ops.send)
                return;
        p->ops.send(p, r->cluster, r->dst_ep, r->src_ep, w->buf, w->len, p->userdata);
}

static void default_response(SimPlug *p, const Request *r, uint8_t status) {
        uint8_t buf[8];
        ZclWriter w;

        if (status == ZS_SUCCESS && (r->fc & ZFC_DISABLE_DEFAULT_RSP))
                return;
        zw_init(&w, buf, sizeof buf);
        answer_header(&w, r, false, 0x0b);
        zw_u8(&w, r->cmd);
        zw_u8(&w, status);
        send_answer(p, r, &w);
}

static void read_attributes(SimPlug *p, Request *r) {
        uint8_t buf[256];
        ZclWriter w;
        uint16_t id;

        if (zr_left(&r->payload) < 2)
                return default_response(p, r, ZS_MALFORMED_COMMAND);
        zw_init(&w, buf, sizeof buf);
        answer_header(&w, r, false, 0x01);
        while (zr_u16(&r->payload, &id)) {
                const AttrDef *d = find_attr(p, r->dst_ep, r->cluster, id, r->mfr);
                size_t mark = w.len;

                zw_u16(&w, id);
                if (!d || !(d->access & ACC_R)) {
                        zw_u8(&w, ZS_UNSUPPORTED_ATTRIBUTE);
                } else {
                        zw_u8(&w, ZS_SUCCESS);
                        zw_u8(&w, d->type);
                        encode_value(p, d->id, &w);
                }
                if (w.overflow) {
                        /* Answer what fits, like a stack with a full buffer. */
                        w.overflow = false;
                        w.len = mark;
                        break;
                }
        }
        send_answer(p, r, &w);
}

/* Checks (and with commit, applies) one written value; returns the ZCL status. */
static uint8_t write_value(SimPlug *p, const AttrDef *d, uint8_t type, const uint8_t *v, bool commit) {
        if (type != d->type)
                return ZS_INVALID_DATA_TYPE;
        if (!(d->access & ACC_W))
                return ZS_READ_ONLY;

        switch (d->id) {
        case A_IDENTIFY_TIME:
                if (commit) {
                        p->identify_s = (uint16_t) (v[0] | v[1] << 8);
                        p->identify_tick = p->now;
                }
                return ZS_SUCCESS;
        case A_LUMI_MODE:
                if (v[0] > 1)
                        return ZS_INVALID_VALUE;
                if (commit)
                        p->mode = v[0];
                return ZS_SUCCESS;
        case A_LUMI_OUTAGE_MEMORY:
        case A_LUMI_AUTO_OFF:
        case A_LUMI_LED_NIGHT:
                if (v[0] > 1)
                        return ZS_INVALID_VALUE;
                if (commit) {
                        if (d->id == A_LUMI_OUTAGE_MEMORY)
                                p->outage_memory = v[0];
                        else if (d->id == A_LUMI_AUTO_OFF) {
                                p->auto_off = v[0];
                                p->low_since = -1;
                                update_auto_off(p);
                        } else
                                p->led_night = v[0];
                }
                return ZS_SUCCESS;
        case A_LUMI_OVERLOAD: {
                float f = zcl_float_from_le(v);
                if (!(f >= OVERLOAD_MIN_W && f <= OVERLOAD_MAX_W))
                        return ZS_INVALID_VALUE;
                if (commit) {
                        p->overload_w = f;
                        check_overload(p);
                }
                return ZS_SUCCESS;
        }
        default:
                return ZS_READ_ONLY;
        }
}

typedef struct WriteRecord {
        const AttrDef *def;
        uint16_t attr;
        uint8_t type;
        const uint8_t *value;
        uint8_t status;
} WriteRecord;

static void write_attributes(SimPlug *p, Request *r) {
        WriteRecord recs[16];
        size_t n = 0;
        bool undivided = r->cmd == 0x03, no_response = r->cmd == 0x05;
        bool was_on = p->on;

        /* Parse every record first: a malformed list is refused as a whole. */
        while (zr_left(&r->payload) > 0) {
                WriteRecord *rec;
                uint16_t attr;
                uint8_t type;

                if (n >= sizeof recs / sizeof recs[0])
                        return default_response(p, r, ZS_INSUFFICIENT_SPACE);
                if (!zr_u16(&r->payload, &attr) || !zr_u8(&r->payload, &type))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                int sz = zcl_value_size(type, r->payload.buf + r->payload.pos, zr_left(&r->payload));
                if (sz < 0)
                        return default_response(p, r, sz == -EINVAL ? ZS_INVALID_DATA_TYPE : ZS_MALFORMED_COMMAND);
                rec = &recs[n++];
                *rec = (WriteRecord) {
                        .def = find_attr(p, r->dst_ep, r->cluster, attr, r->mfr),
                        .attr = attr,
                        .type = type,
                        .value = r->payload.buf + r->payload.pos,
                };
                zr_skip(&r->payload, (size_t) sz);
        }
        if (n == 0 && !no_response)
                return default_response(p, r, ZS_MALFORMED_COMMAND);

        bool all_ok = true;
        for (size_t i = 0; i < n; i++) {
                recs[i].status = recs[i].def ? write_value(p, recs[i].def, recs[i].type, recs[i].value, false)
                                             : ZS_UNSUPPORTED_ATTRIBUTE;
                if (recs[i].status != ZS_SUCCESS)
                        all_ok = false;
        }
        if (!undivided || all_ok)
                for (size_t i = 0; i < n; i++)
                        if (recs[i].status == ZS_SUCCESS)
                                (void) write_value(p, recs[i].def, recs[i].type, recs[i].value, true);

        if (no_response)
                default_response(p, r, ZS_SUCCESS);
        else {
                uint8_t buf[128];
                ZclWriter w;

                zw_init(&w, buf, sizeof buf);
                answer_header(&w, r, false, 0x04);
                if (all_ok)
                        zw_u8(&w, ZS_SUCCESS);
                else
                        for (size_t i = 0; i < n; i++)
                                if (recs[i].status != ZS_SUCCESS) {
                                        zw_u8(&w, recs[i].status);
                                        zw_u16(&w, recs[i].attr);
                                }
                send_answer(p, r, &w);
        }

        /* A lowered overload limit may have tripped the relay. */
        if (was_on && !p->on)
                report_changes(p, true);
}

static void configure_reporting(SimPlug *p, Request *r) {
        uint8_t buf[128];
        ZclWriter w;
        bool all_ok = true;

        zw_init(&w, buf, sizeof buf);
        answer_header(&w, r, false, 0x07);
        if (zr_left(&r->payload) == 0)
                return default_response(p, r, ZS_MALFORMED_COMMAND);
        while (zr_left(&r->payload) > 0) {
                uint8_t dir, type;
                uint16_t attr, min_s, max_s, timeout;
                uint8_t status = ZS_SUCCESS;

                if (!zr_u8(&r->payload, &dir) || !zr_u16(&r->payload, &attr))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                if (dir == 0x01) {
                        /* The plug receives no reports: it keeps no timeout for any attribute. */
                        if (!zr_u16(&r->payload, &timeout))
                                return default_response(p, r, ZS_MALFORMED_COMMAND);
                        status = ZS_UNSUPPORTED_ATTRIBUTE;
                } else if (dir != 0x00) {
                        return default_response(p, r, ZS_INVALID_FIELD);
                } else {
                        if (!zr_u8(&r->payload, &type) || !zr_u16(&r->payload, &min_s) ||
                            !zr_u16(&r->payload, &max_s))
                                return default_response(p, r, ZS_MALFORMED_COMMAND);
                        const uint8_t *change = NULL;
                        if (zcl_type_is_analog(type)) {
                                int sz = zcl_value_size(type, r->payload.buf + r->payload.pos,
                                                        zr_left(&r->payload));
                                if (sz < 0)
                                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                                change = r->payload.buf + r->payload.pos;
                                zr_skip(&r->payload, (size_t) sz);
                        }
                        const AttrDef *d = find_attr(p, r->dst_ep, r->cluster, attr, r->mfr);
                        if (!d)
                                status = ZS_UNSUPPORTED_ATTRIBUTE;
                        else if (!(d->access & ACC_P))
                                status = ZS_UNREPORTABLE_ATTRIBUTE;
                        else if (type != d->type)
                                status = ZS_INVALID_DATA_TYPE;
                        else if (max_s != 0 && max_s != 0xffff && max_s < min_s)
                                status = ZS_INVALID_VALUE;
                        else {
                                ReportSlot *s = &p->slots[d->id];
                                if (max_s == 0xffff) {
                                        /* Reporting off: back to the plug's own behaviour. */
                                        s->configured = false;
                                        s->min_s = s->max_s = 0;
                                        s->change = 0;
                                } else {
                                        s->configured = true;
                                        s->min_s = min_s;
                                        s->max_s = max_s;
                                        s->change = change && d->type == ZT_SINGLE ? fabs(zcl_float_from_le(change)) : 0;
                                }
                        }
                }
                if (status != ZS_SUCCESS) {
                        all_ok = false;
                        zw_u8(&w, status);
                        zw_u8(&w, dir);
                        zw_u16(&w, attr);
                }
        }
        if (all_ok) {
                zw_init(&w, buf, sizeof buf);
                answer_header(&w, r, false, 0x07);
                zw_u8(&w, ZS_SUCCESS);
        }
        send_answer(p, r, &w);
}

static void read_reporting_configuration(SimPlug *p, Request *r) {
        uint8_t buf[128];
        ZclWriter w;
        uint8_t dir;
        uint16_t attr;

        zw_init(&w, buf, sizeof buf);
        answer_header(&w, r, false, 0x09);
        if (zr_left(&r->payload) == 0)
                return default_response(p, r, ZS_MALFORMED_COMMAND);
        while (zr_u8(&r->payload, &dir) && zr_u16(&r->payload, &attr)) {
                const AttrDef *d = find_attr(p, r->dst_ep, r->cluster, attr, r->mfr);
                if (!d) {
                        zw_u8(&w, ZS_UNSUPPORTED_ATTRIBUTE); zw_u8(&w, dir); zw_u16(&w, attr);
                } else if (!(d->access & ACC_P) || dir != 0x00) {
                        zw_u8(&w, ZS_UNREPORTABLE_ATTRIBUTE); zw_u8(&w, dir); zw_u16(&w, attr);
                } else if (!p->slots[d->id].configured) {
                        zw_u8(&w, ZS_NOT_FOUND); zw_u8(&w, dir); zw_u16(&w, attr);
                } else {
                        const ReportSlot *s = &p->slots[d->id];
                        zw_u8(&w, ZS_SUCCESS); zw_u8(&w, dir); zw_u16(&w, attr);
                        zw_u8(&w, d->type);
                        zw_u16(&w, s->min_s);
                        zw_u16(&w, s->max_s);
                        if (d->type == ZT_SINGLE)
                                zw_float(&w, (float) s->change);
                }
        }
        send_answer(p, r, &w);
}

/* Discover Attributes (0x0C) and Discover Attributes Extended (0x15). */
static void discover_attributes(SimPlug *p, Request *r, bool extended) {
        uint8_t buf[128];
        ZclWriter w;
        uint16_t start;
        uint8_t max;

        if (!zr_u16(&r->payload, &start) || !zr_u8(&r->payload, &max))
                return default_response(p, r, ZS_MALFORMED_COMMAND);

        /* attrs[] is sorted by attribute id within each cluster. */
        const AttrDef *found[32];
        size_t n = 0;
        bool complete = true;
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
                const AttrDef *d = &attrs[i];
                if (real_ep(p, d->ep) != r->dst_ep || d->cluster != r->cluster || d->mfr != r->mfr ||
                    d->attr < start)
                        continue;
                if (n >= max || n >= sizeof found / sizeof found[0]) {
                        complete = false;
                        break;
                }
                found[n++] = d;
        }
        zw_init(&w, buf, sizeof buf);
        answer_header(&w, r, false, extended ? 0x16 : 0x0d);
        zw_u8(&w, complete);
        for (size_t i = 0; i < n; i++) {
                zw_u16(&w, found[i]->attr);
                zw_u8(&w, found[i]->type);
                if (extended)
                        zw_u8(&w, (found[i]->access & ACC_R ? 0x01 : 0) |
                                   (found[i]->access & ACC_W ? 0x02 : 0) |
                                   (found[i]->access & ACC_P ? 0x04 : 0));
        }
        send_answer(p, r, &w);
}

static void global_command(SimPlug *p, Request *r) {
        switch (r->cmd) {
        case 0x00:
                return read_attributes(p, r);
        case 0x02: case 0x03: case 0x05:
                return write_attributes(p, r);
        case 0x06:
                return configure_reporting(p, r);
        case 0x08:
                return read_reporting_configuration(p, r);
        case 0x0c:
                return discover_attributes(p, r, false);
        case 0x15:
                return discover_attributes(p, r, true);
        case 0x01: case 0x04: case 0x07: case 0x09: case 0x0a: case 0x0b: case 0x0d:
        case 0x12: case 0x14: case 0x16:
                return;         /* responses and reports need no answer */
        default:
                return default_response(p, r, ZS_UNSUP_GENERAL_COMMAND);
        }
}

static void on_off_command(SimPlug *p, Request *r) {
        bool on;

        switch (r->cmd) {
        case 0x00: on = false; break;
        case 0x01: on = true; break;
        case 0x02: on = !p->on; break;
        default:
                return default_response(p, r, ZS_UNSUP_COMMAND);
        }
        set_relay(p, on);
        default_response(p, r, ZS_SUCCESS);
        report_changes(p, true);
}

static void identify_command(SimPlug *p, Request *r) {
        uint16_t t;

        switch (r->cmd) {
        case 0x00:
                if (!zr_u16(&r->payload, &t))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                p->identify_s = t;
                p->identify_tick = p->now;
                return default_response(p, r, ZS_SUCCESS);
        case 0x01:
                if (p->identify_s > 0) {
                        uint8_t buf[8];
                        ZclWriter w;
                        zw_init(&w, buf, sizeof buf);
                        answer_header(&w, r, true, 0x00);
                        zw_u16(&w, p->identify_s);
                        send_answer(p, r, &w);
                }
                return;         /* not identifying: no answer (ZCL 3.5.2.3.2) */
        /* Trigger Effect (0x40) and anything else: the real plug answers UNSUP_COMMAND
         * (zha-device-handlers #516). */
        default:
                return default_response(p, r, ZS_UNSUP_COMMAND);
        }
}

static ssize_t group_index(const SimPlug *p, uint16_t g) {
        for (size_t i = 0; i < p->n_groups; i++)
                if (p->groups[i] == g)
                        return (ssize_t) i;
        return -1;
}

static void groups_command(SimPlug *p, Request *r) {
        uint8_t buf[64];
        ZclWriter w;
        uint16_t g;
        uint8_t status;

        zw_init(&w, buf, sizeof buf);
        switch (r->cmd) {
        case 0x00:      /* add group {group u16, name string} */
        case 0x05: {    /* add group if identifying */
                uint8_t namelen;
                if (!zr_u16(&r->payload, &g) || !zr_u8(&r->payload, &namelen) ||
                    (namelen != 0xff && !zr_skip(&r->payload, namelen)))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                if (g == 0x0000 || g > 0xfff7)
                        status = ZS_INVALID_VALUE;
                else if (r->cmd == 0x05 && p->identify_s == 0)
                        return default_response(p, r, ZS_SUCCESS);
                else if (group_index(p, g) >= 0)
                        status = ZS_DUPLICATE_EXISTS;
                else if (p->n_groups >= MAX_GROUPS)
                        status = ZS_INSUFFICIENT_SPACE;
                else {
                        p->groups[p->n_groups++] = g;
                        status = ZS_SUCCESS;
                }
                if (r->cmd == 0x05)
                        return default_response(p, r, status);
                answer_header(&w, r, true, 0x00);
                zw_u8(&w, status);
                zw_u16(&w, g);
                return send_answer(p, r, &w);
        }
        case 0x01:      /* view group */
                if (!zr_u16(&r->payload, &g))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                answer_header(&w, r, true, 0x01);
                zw_u8(&w, group_index(p, g) >= 0 ? ZS_SUCCESS : ZS_NOT_FOUND);
                zw_u16(&w, g);
                if (group_index(p, g) >= 0)
                        zw_str(&w, "", 0);
                return send_answer(p, r, &w);
        case 0x02: {    /* get group membership {count u8, groups u16[]} */
                uint8_t count;
                uint16_t want[MAX_GROUPS * 4];
                size_t nw = 0;
                if (!zr_u8(&r->payload, &count))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                for (unsigned i = 0; i < count; i++) {
                        if (!zr_u16(&r->payload, &g))
                                return default_response(p, r, ZS_MALFORMED_COMMAND);
                        if (nw < sizeof want / sizeof want[0])
                                want[nw++] = g;
                }
                answer_header(&w, r, true, 0x02);
                zw_u8(&w, (uint8_t) (MAX_GROUPS - p->n_groups));
                size_t at = w.len, k = 0;
                zw_u8(&w, 0);
                for (size_t i = 0; i < p->n_groups; i++) {
                        bool wanted = count == 0;
                        for (size_t j = 0; j < nw && !wanted; j++)
                                wanted = want[j] == p->groups[i];
                        if (wanted) {
                                zw_u16(&w, p->groups[i]);
                                k++;
                        }
                }
                if (!w.overflow)
                        buf[at] = (uint8_t) k;
                return send_answer(p, r, &w);
        }
        case 0x03: {    /* remove group */
                if (!zr_u16(&r->payload, &g))
                        return default_response(p, r, ZS_MALFORMED_COMMAND);
                ssize_t i = group_index(p, g);
                if (i >= 0) {
                        memmove(&p->groups[i], &p->groups[i + 1],
                                (p->n_groups - (size_t) i - 1) * sizeof p->groups[0]);
                        p->n_groups--;
                }
                answer_header(&w, r, true, 0x03);
                zw_u8(&w, i >= 0 ? ZS_SUCCESS : ZS_NOT_FOUND);
                zw_u16(&w, g);
                return send_answer(p, r, &w);
        }
        case 0x04:      /* remove all groups */
                p->n_groups = 0;
                return default_response(p, r, ZS_SUCCESS);
        default:
                return default_response(p, r, ZS_UNSUP_COMMAND);
        }
}

/* Commands to a cluster the plug is a client of (server -> client direction). */
static void client_cluster_command(SimPlug *p, Request *r) {
        if (!(r->fc & ZFC_CLUSTER_SPECIFIC)) {
                if (r->cmd == 0x00) {
                        /* The plug keeps no client-side attributes it would share. */
                        return read_attributes(p, r);
                }
                return global_command(p, r);
        }
        if (r->mfr)
                return default_response(p, r, ZS_UNSUP_MANUF_CLUSTER_COMMAND);
        if (r->cluster == CL_GREEN_POWER && r->cmd == 0x02)
                return default_response(p, r, ZS_SUCCESS);     /* proxy commissioning mode */
        default_response(p, r, ZS_UNSUP_COMMAND);
}

void sim_plug_receive(SimPlug *p, uint16_t cluster, uint8_t src_ep, uint8_t dst_ep,
                      const uint8_t *zcl, size_t len) {
        Request r = { .cluster = cluster, .src_ep = src_ep, .dst_ep = dst_ep };
        ZclReader rd;

        if (!p || !zcl)
                return;
        zr_init(&rd, zcl, len);
        if (!zr_u8(&rd, &r.fc))
                return;
        if ((r.fc & ZFC_MANUFACTURER) && !zr_u16(&rd, &r.mfr))
                return;
        if (!zr_u8(&rd, &r.tsn) || !zr_u8(&rd, &r.cmd))
                return;         /* too short to answer: no TSN to echo */
        if ((r.fc & 0x03) > 1)
                return;         /* reserved frame type: dropped by the stack */
        zr_init(&r.payload, zcl + rd.pos, len - rd.pos);

        const Endpoint *e = find_endpoint(p, dst_ep);
        if (!e)
                return;         /* no such endpoint: APS drops it */

        bool to_server = !(r.fc & ZFC_SERVER_TO_CLIENT);
        if (!endpoint_has(e, cluster, to_server)) {
                if (!(r.fc & ZFC_CLUSTER_SPECIFIC) && (r.cmd == 0x0b || r.cmd == 0x01 || r.cmd == 0x04 ||
                                                       r.cmd == 0x07 || r.cmd == 0x0a))
                        return;
                return default_response(p, &r, ZS_UNSUPPORTED_CLUSTER);
        }

        if ((r.fc & ZFC_MANUFACTURER) && r.mfr != LUMI_MFR) {
                if (!(r.fc & ZFC_CLUSTER_SPECIFIC) && r.cmd == 0x0b)
                        return;
                return default_response(p, &r, r.fc & ZFC_CLUSTER_SPECIFIC ?
                                                ZS_UNSUP_MANUF_CLUSTER_COMMAND :
                                                ZS_UNSUP_MANUF_GENERAL_COMMAND);
        }

        if (!to_server && cluster == CL_OTA &&
            ((r.fc & ZFC_CLUSTER_SPECIFIC) || r.cmd == 0x0b) && !(r.fc & ZFC_MANUFACTURER)) {
                /* the OTA client's business: Image Notify, the responses, Default Responses */
                sim_ota_receive(p->ota, zcl, len, p->now);
                return;
        }
        if (!to_server)
                return client_cluster_command(p, &r);

        if (!(r.fc & ZFC_CLUSTER_SPECIFIC))
                return global_command(p, &r);

        if (r.mfr)
                return default_response(p, &r, ZS_UNSUP_MANUF_CLUSTER_COMMAND);

        switch (cluster) {
        case CL_ONOFF:
                return on_off_command(p, &r);
        case CL_IDENTIFY:
                return identify_command(p, &r);
        case CL_GROUPS:
                return groups_command(p, &r);
        default:
                /* Basic reset, Scenes, Lumi cluster commands: not implemented by this plug. */
                return default_response(p, &r, ZS_UNSUP_COMMAND);
        }
}

/* ---- OTA client glue ---------------------------------------------------------------------- */

static void ota_send(const uint8_t *zcl, size_t len, void *userdata) {
        SimPlug *p = userdata;

        if (p->ops.send)
                p->ops.send(p, CL_OTA, EP_MAIN, COORD_EP, zcl, len, p->userdata);
}

static uint8_t ota_next_tsn(void *userdata) {
        SimPlug *p = userdata;

        return p->tsn++;
}

/* The new firmware runs: Basic appVersion follows the file version (fw 22 -> 0x16 in both), the
 * relay restarts as after a power cut, and the network side hears about the reboot. */
static void ota_reboot(uint32_t version, void *userdata) {
        SimPlug *p = userdata;

        p->cfg.app_version = version > 0xff ? 0xff : version;
        sim_plug_power_cycle(p);
        if (p->ops.reboot)
                p->ops.reboot(p, p->userdata);
}

SimOta *sim_plug_ota(SimPlug *p) {
        return p->ota;
}

/* ---- public API ------------------------------------------------------------------------- */

SimPlug *sim_plug_new(const SimPlugConfig *cfg, const SimPlugOps *ops, void *userdata) {
        SimPlug *p;

        if (!cfg || cfg->app_version > 0xff)
                return NULL;
        p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->cfg = *cfg;
        if (p->cfg.app_version == 0)
                p->cfg.app_version = 22;
        if (!(p->cfg.report_interval_s > 0))
                p->cfg.report_interval_s = DEFAULT_REPORT_INTERVAL_S;
        if (ops)
                p->ops = *ops;
        p->userdata = userdata;
        p->tsn = (uint8_t) (cfg->ieee ^ cfg->ieee >> 8);
        p->temperature_c = AMBIENT_C;
        p->nwk = 0xfffe;
        p->overload_w = OVERLOAD_DEFAULT_W;
        p->low_since = -1;
        p->auto_off_delay_s = AUTO_OFF_DELAY_S;
        p->next_tlv_at = -1;
        strcpy(p->model, "lumi.plug.mmeu01");
        strcpy(p->manufacturer, "LUMI");
        p->ota = sim_ota_new(LUMI_MFR, LUMI_OTA_IMAGE_TYPE, p->cfg.app_version,
                             &(SimOtaOps) { .send = ota_send, .reboot = ota_reboot, .next_tsn = ota_next_tsn }, p);
        if (!p->ota) {
                free(p);
                return NULL;
        }
        for (size_t i = 0; i < _A_MAX; i++)
                p->slots[i].last_value = numeric_value(p, (AttrId) i);
        return p;
}

/* Printable ASCII without the characters JSON would have to escape, 1..32 bytes (a ZCL string of
 * the Basic cluster holds up to 32). */
static bool identity_string_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > 32)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
                        return false;
        return true;
}

int sim_plug_set_identity(SimPlug *p, const char *model, const char *manufacturer) {
        if (!identity_string_ok(model) || (manufacturer && !identity_string_ok(manufacturer)))
                return -EINVAL;
        strcpy(p->model, model);
        if (manufacturer)
                strcpy(p->manufacturer, manufacturer);
        return 0;
}

const char *sim_plug_model(const SimPlug *p) {
        return p->model;
}

SimPlug *sim_plug_free(SimPlug *p) {
        if (p)
                sim_ota_free(p->ota);
        free(p);
        return NULL;
}

uint64_t sim_plug_ieee(const SimPlug *p) {
        return p->cfg.ieee;
}

size_t sim_plug_node_descriptor(const SimPlug *p, uint8_t out[13]) {
        (void) p;
        /* Router; 2.4 GHz; capabilities as announced; manufacturer 0x115F; max buffer 127;
         * max in/out transfer 100; server mask: stack compliance revision 22; no extended lists. */
        static const uint8_t nd[13] = {
                0x01, 0x40, 0x8e, 0x5f, 0x11, 0x7f, 0x64, 0x00, 0x00, 0x2c, 0x64, 0x00, 0x00,
        };
        memcpy(out, nd, sizeof nd);
        return sizeof nd;
}

size_t sim_plug_active_endpoints(const SimPlug *p, uint8_t *out, size_t max) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0] && n < max; i++)
                out[n++] = real_ep(p, endpoints[i].ep);
        return n;
}

int sim_plug_simple_descriptor(const SimPlug *p, uint8_t ep, uint8_t *out, size_t max) {
        const Endpoint *e = find_endpoint(p, ep);
        ZclWriter w;

        if (!e)
                return -ENOENT;
        zw_init(&w, out, max);
        zw_u8(&w, ep);
        zw_u16(&w, e->profile);
        zw_u16(&w, e->device);
        zw_u8(&w, e->version);
        zw_u8(&w, e->n_in);
        for (size_t i = 0; i < e->n_in; i++)
                zw_u16(&w, e->in[i]);
        zw_u8(&w, e->n_out);
        for (size_t i = 0; i < e->n_out; i++)
                zw_u16(&w, e->out[i]);
        if (w.overflow)
                return -ENOBUFS;
        return (int) w.len;
}

uint8_t sim_plug_capabilities(const SimPlug *p) {
        (void) p;
        /* allocate address | rx on when idle | mains powered | full function device (router) */
        return 0x80 | 0x08 | 0x04 | 0x02;
}

static void advance(SimPlug *p, double now) {
        if (!p->have_time) {
                /* The clock starts now: whatever was timed from 0 before the first tick
                 * (auto_off, identify) starts from here. */
                p->have_time = true;
                p->now = p->last_tick = now;
                if (p->low_since >= 0)
                        p->low_since = now;
                p->identify_tick = now;
                return;
        }
        double dt = now - p->last_tick;
        if (dt <= 0)
                return;
        double pw = power_w(p);
        p->energy_kwh += pw * dt / 3600.0 / 1000.0;
        p->temperature_c += (target_temperature(p) - p->temperature_c) * (1.0 - exp(-dt / THERMAL_TAU_S));
        p->now = p->last_tick = now;
}

void sim_plug_tick(SimPlug *p, double now_s, bool joined) {
        bool was_joined = p->joined;

        advance(p, now_s);
        p->joined = joined;
        sim_ota_tick(p->ota, p->now);

        /* identify counts down once per second */
        while (p->identify_s > 0 && p->now - p->identify_tick >= 1.0) {
                p->identify_s--;
                p->identify_tick += 1.0;
        }

        /* auto_off: on, and drawing under 2 W for the whole delay */
        update_auto_off(p);
        if (p->low_since >= 0 && p->now - p->low_since >= p->auto_off_delay_s) {
                set_relay(p, false);
                report_changes(p, true);
        }

        if (!joined)
                return;

        if (!was_joined || p->next_tlv_at < 0)
                p->next_tlv_at = p->now + p->cfg.report_interval_s;

        if (p->boot_report_pending) {
                p->boot_report_pending = false;
                report_changes(p, true);
                send_tlv_report(p);
                p->next_tlv_at = p->now + p->cfg.report_interval_s;
        }

        /* configured periodic reports (maximum interval) */
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
                const AttrDef *d = &attrs[i];
                ReportSlot *s = &p->slots[d->id];
                if (s->configured && s->max_s > 0 && s->max_s != 0xffff &&
                    (!s->reported_once || p->now - s->last_time >= s->max_s))
                        s->pending = true;
        }
        report_changes(p, false);

        if (p->now >= p->next_tlv_at) {
                send_tlv_report(p);
                p->next_tlv_at = p->now + p->cfg.report_interval_s;
        }
}

void sim_plug_toggle_button(SimPlug *p) {
        set_relay(p, !p->on);
        report_changes(p, true);
}

void sim_plug_set_load(SimPlug *p, double watts) {
        if (!(watts >= 0) || !isfinite(watts))
                return;
        p->load_w = watts;
        p->consumer = watts > 0;
        bool was_on = p->on;
        check_overload(p);
        update_auto_off(p);
        report_changes(p, was_on != p->on);
}

void sim_plug_report_now(SimPlug *p) {
        send_tlv_report(p);
        if (p->joined)
                p->next_tlv_at = p->now + p->cfg.report_interval_s;
}

void sim_plug_power_cycle(SimPlug *p) {
        bool last = p->on;

        p->outage_count++;
        p->on = p->outage_memory ? last : false;
        p->low_since = -1;
        p->identify_s = 0;
        check_overload(p);
        update_auto_off(p);
        /* After booting it tells the coordinator its state (on the next tick while joined). */
        p->boot_report_pending = true;
}

void sim_plug_reset_energy(SimPlug *p) {
        p->energy_kwh = 0;
}

void sim_plug_set_energy(SimPlug *p, double kwh) {
        if (isfinite(kwh) && kwh >= 0)
                p->energy_kwh = kwh;
}

void sim_plug_forget_settings(SimPlug *p) {
        p->outage_memory = false;
        p->auto_off = false;
        p->led_night = false;
        p->overload_w = OVERLOAD_DEFAULT_W;
        p->low_since = -1;
}

void sim_plug_set_auto_off_delay(SimPlug *p, double seconds) {
        p->auto_off_delay_s = seconds > 0 ? seconds : AUTO_OFF_DELAY_S;
}

void sim_plug_set_nwk(SimPlug *p, uint16_t nwk) {
        p->nwk = nwk;
}

bool sim_plug_in_group(const SimPlug *p, uint16_t group) {
        return group_index(p, group) >= 0;
}

bool sim_plug_is_on(const SimPlug *p) {
        return p->on;
}

double sim_plug_power(const SimPlug *p) {
        return power_w(p);
}

int sim_plug_state_json(const SimPlug *p, char *buf, size_t size) {
        int n = snprintf(buf, size,
                         "{\"ieee\":\"0x%016llx\",\"model\":\"%s\",\"manufacturer\":\"%s\",\"state\":\"%s\",\"load\":%.2f,\"power\":%.2f,"
                         "\"energy\":%.6f,\"voltage\":%.1f,\"current\":%.3f,\"device_temperature\":%.1f,"
                         "\"consumer_connected\":%s,\"power_outage_memory\":%s,\"auto_off\":%s,"
                         "\"led_disabled_night\":%s,\"overload_protection\":%.1f,"
                         "\"power_outage_count\":%u,\"overload_trips\":%u,\"app_version\":%u,"
                         "\"energy_endpoint\":%u,\"report_interval\":%.1f,\"auto_off_delay\":%.1f,\"identify_time\":%u,"
                         "\"groups\":%zu,\"joined\":%s,\"tsn\":%u}",
                         (unsigned long long) p->cfg.ieee, p->model, p->manufacturer, p->on ? "ON" : "OFF", p->load_w, power_w(p),
                         p->energy_kwh, voltage_v(p), current_ma(p) / 1000.0, p->temperature_c,
                         p->consumer ? "true" : "false", p->outage_memory ? "true" : "false",
                         p->auto_off ? "true" : "false", p->led_night ? "true" : "false",
                         (double) p->overload_w, p->outage_count, p->overload_trips,
                         (unsigned) p->cfg.app_version, (unsigned) energy_ep(p), p->cfg.report_interval_s, p->auto_off_delay_s,
                         (unsigned) p->identify_s, p->n_groups, p->joined ? "true" : "false",
                         (unsigned) p->tsn);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return n;
}
