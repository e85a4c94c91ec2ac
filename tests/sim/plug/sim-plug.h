/*
 * One simulated Xiaomi ZNCZ04LM (lumi.plug.mmeu01): its ZDO descriptors, its ZCL server side
 * (Basic, On/Off, Analog Input power on EP 21, Lumi 0xFCC0 with manufacturer code 0x115F) and its
 * physics (load, energy, overload, auto_off, power outage memory). It knows nothing of MT or of
 * the coordinator: frames to and from it are APS payloads (ZCL bytes) with cluster and endpoints.
 *
 * The coordinator side (sim-coordinator and friends) owns network membership (join, announce,
 * leave, range), turns AF_DATA_REQUESTs for this plug's network address into sim_plug_receive()
 * and turns what the plug sends through SimPlugOps.send into AF_INCOMING_MSG frames.
 * Time is driven from outside: sim_plug_tick() is called often (every 100 ms or so).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SimPlug SimPlug;

typedef struct SimPlugOps {
        /* The plug transmits a ZCL frame to the coordinator (network address 0x0000). */
        void (*send)(SimPlug *p, uint16_t cluster, uint8_t src_ep, uint8_t dst_ep,
                     const uint8_t *zcl, size_t len, void *userdata);
        /* It restarted by itself (after an OTA update); may be NULL. */
        void (*reboot)(SimPlug *p, void *userdata);
} SimPlugOps;

typedef struct SimPlugConfig {
        uint64_t ieee;                  /* e.g. 0x00158d0001a2b3c4 or 0x04cf8cdf3c77b3bd */
        double report_interval_s;       /* period of the 0xFCC0/0x00F7 TLV report (real plug: minutes) */
        uint32_t app_version;           /* Basic appVersion / OTA file version, e.g. 22 */
} SimPlugConfig;

SimPlug *sim_plug_new(const SimPlugConfig *cfg, const SimPlugOps *ops, void *userdata);
SimPlug *sim_plug_free(SimPlug *p);

uint64_t sim_plug_ieee(const SimPlug *p);

/* ZDO answers (payload after SrcAddr/Status/NwkAddrOfInterest, as MT ZDO_*_RSP carry them). */
size_t sim_plug_node_descriptor(const SimPlug *p, uint8_t out[13]);
size_t sim_plug_active_endpoints(const SimPlug *p, uint8_t *out, size_t max);
/* Simple descriptor of endpoint ep, starting at the Endpoint byte; -ENOENT if no such endpoint. */
int sim_plug_simple_descriptor(const SimPlug *p, uint8_t ep, uint8_t *out, size_t max);
/* MAC capability flags of its announce (router, mains, rx on when idle, allocate address). */
uint8_t sim_plug_capabilities(const SimPlug *p);

/* A ZCL frame from the coordinator to this plug. Answers go out through ops->send. */
void sim_plug_receive(SimPlug *p, uint16_t cluster, uint8_t src_ep, uint8_t dst_ep,
                      const uint8_t *zcl, size_t len);

/* Advance time: energy accumulates, overload and auto_off act, periodic reports go out.
 * now_s is a monotonic clock in seconds; reports only go out while joined is true. */
void sim_plug_tick(SimPlug *p, double now_s, bool joined);

/* Control-socket actions. */
void sim_plug_toggle_button(SimPlug *p);              /* short press on a joined plug */
void sim_plug_set_load(SimPlug *p, double watts);     /* what is plugged in draws this much */
void sim_plug_report_now(SimPlug *p);                 /* the full 0x00F7 TLV report, now */
void sim_plug_power_cycle(SimPlug *p);                /* mains off and on: outage count, memory */
void sim_plug_reset_energy(SimPlug *p);               /* device counter back to 0 (fw update) */
void sim_plug_set_energy(SimPlug *p, double kwh);     /* the counter reads kwh (>= 0) from now on */
/* The settings (power_outage_memory, auto_off, led_disabled_night, overload_protection) back to
 * their factory values (false, false, false, 2300 W), as a plug that lost them (a firmware update,
 * a reset, a fault) reads after it boots; combine with sim_plug_power_cycle(). */
void sim_plug_forget_settings(SimPlug *p);

/* The plug's internal state as one JSON object (NUL-terminated); returns length or -ENOBUFS. */
int sim_plug_state_json(const SimPlug *p, char *buf, size_t size);

/* Additions for tests and the control socket.
 *
 * Notes on the behaviour above:
 * - report_interval_s <= 0 means 300 s; app_version 0 means 22. app_version >= 24 moves the
 *   energy Analog Input endpoint from 22 to 31 (endpoints 1, 21, 22|31, 242).
 * - Spontaneous frames (change reports, periodic 0x00F7, boot reports after a power cycle) go
 *   out only while the last sim_plug_tick() said joined; answers to sim_plug_receive() and
 *   sim_plug_report_now() always go out (the caller decides whether the plug is reachable).
 * - After sim_plug_power_cycle() the plug sends its On/Off state and the 0x00F7 blob on the
 *   next tick while joined; network membership (rejoin, announce) is the caller's business.
 * - Frame control as in captures of real plugs: reports 0x18 (0x1C with the Lumi code 0x115F),
 *   Default Responses 0x18/0x1C, other answers 0x08 (0x09 cluster-specific) or 0x1C for the
 *   Lumi code's manufacturer-specific ones. Herdsman answers the 0x08 ones with a Default
 *   Response, which the plug ignores. Answers go back to the requesting endpoint; reports and
 *   the plug's own requests (OTA Query Next Image) go to the coordinator's endpoint 1.
 */

/* auto_off waits this long with the plug ON and drawing under 2 W before it switches off; the
 * real plug waits 20 min (1200 s, the default). Tests shorten it; seconds <= 0 restores 1200. */
void sim_plug_set_auto_off_delay(SimPlug *p, double seconds);
bool sim_plug_is_on(const SimPlug *p);
/* The network address the plug got when it joined (the coordinator assigns it). The plug echoes
 * it in the Lumi attribute 0x00F5 of its On/Off reports (0x03 nwk 0x00); 0xFFFE until set. */
void sim_plug_set_nwk(SimPlug *p, uint16_t nwk);
/* Group membership of endpoint 1 (Groups cluster add/remove), for group-addressed frames. */
bool sim_plug_in_group(const SimPlug *p, uint16_t group);
double sim_plug_power(const SimPlug *p);               /* W actually drawn (0 when OFF) */

/* Make this device another product: its Basic modelId (and manufacturerName, unless NULL) answer
 * these strings instead of "lumi.plug.mmeu01" / "LUMI", so a host sees a device it does not
 * support; everything else (descriptors, clusters) stays the plug's. Strings are 1..32 printable
 * ASCII characters without '"' or '\\'; -EINVAL otherwise, nothing changed. */
int sim_plug_set_identity(SimPlug *p, const char *model, const char *manufacturer);
const char *sim_plug_model(const SimPlug *p);

/* Its OTA Upgrade client (sim-ota.h): settings and state for the control socket's "ota". After
 * an update it reboots into the new file version (Basic appVersion follows, capped at 255) and
 * SimPlugOps.reboot is called. */
typedef struct SimOta SimOta;
SimOta *sim_plug_ota(SimPlug *p);
