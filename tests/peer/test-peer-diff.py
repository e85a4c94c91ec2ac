#!/usr/bin/python3
"""Differential test (issue 5, suite 'peer'): one simulator scenario driven through the real
Zigbee2MQTT (npm zigbee2mqtt@2.14.1) and through lumiplugd, each on its own fresh lumiplug-sim
(--fast, the same report interval, the same plug IEEE) and broker, with the same friendly name
given through each program's configuration. The plug's state JSON on zigbee2mqtt/<name> is then
compared key by key: the same keys, the same JSON types, equal values.

Scenario: pair; set state ON; a 100 W load and a `report` (the 0xFCC0 TLV) -> snapshot "loaded";
set overload_protection 1500, led_disabled_night true, power_outage_memory true, auto_off false;
load 0; a power cycle of the plug (it comes back ON and counts the outage); `report` again (power, current and energy stop moving); get power -> snapshot "final".

Exempt keys (EXEMPT), keys checked per run only (PER_RUN_ONLY) and the one key compared with a
tolerance (voltage, VOLTAGE_TOLERANCE) are listed with their reason. Each program's time-dependent values are also checked against its own
simulator's truth, so a tolerance never hides a conversion error.
Exit 77 (skip) only when the npm registry cannot be reached to install Zigbee2MQTT."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))  # sysenv

from broker import Client
from sim import ieee_of
from sysenv import BASE, Env, wait_until
import z2m

NAME = "diff_plug"
IEEE = ieee_of(1)
REPORT_INTERVAL = 3600      # the sim's periodic TLV never fires on its own during the test
LOAD_W = 100
T0 = time.monotonic()

# Keys allowed to differ in value (never in presence or type):
EXEMPT = {
    # Radio link quality: the simulator derives it from the frame's LQI byte, but each program
    # scales/averages it its own way and it is not a property of the plug.
    "linkquality": "link quality of the last frame, not plug state",
    # Zigbee2MQTT's OTA-check object (state/installed_version/latest_version): depends on the OTA
    # index the host has (none here) and on when the check ran.
    "update": "OTA check result, host-side and time-dependent",
}
# The simulator's mains voltage has a deterministic wobble of +-1.5 V with a 900 s period of the
# simulator's CLOCK_MONOTONIC; the two runs are minutes apart, so the two plugs legitimately see
# different voltages. Each program's value is checked exactly (to the 0.1 V the plug reports)
# against its own simulator; across the programs only the wobble's span may separate them.
VOLTAGE_TOLERANCE = 3.0
# consumption (the TLV's energy counter, unrounded kWh) grows while the 100 W load is on; how long
# that is (from `load 1 100` to `load 1 0`) depends on the wall-clock time each program takes for
# the steps between, so the two values legitimately differ. Each is checked against its own
# simulator's counter to float32 precision (check_against_sim), not across the programs.
PER_RUN_ONLY = {"consumption": "energy counter grown for a wall-clock time that differs per run"}
# Issue 12: lumiplugd reads the plug's four settings back after pairing (and after a restart or an
# announce); Zigbee2MQTT never reads them and publishes null until they are set. Where Zigbee2MQTT
# has null, lumiplugd's value must be the simulated plug's own (checked, then compared as null).
READ_BACK = ("led_disabled_night", "power_outage_memory", "auto_off", "overload_protection")


def read_back_known(step, z, lp, sim, problems):
    """lp with the settings Zigbee2MQTT does not know yet set to null, after checking them."""
    lp = dict(lp)
    for k in READ_BACK:
        if z.get(k) is None and lp.get(k) is not None:
            if lp[k] != sim[k]:
                problems.append(f"{step}: lumiplugd read back {k} = {lp[k]!r}, the plug has {sim[k]!r}")
            lp[k] = None
    return lp


def say(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def set_and_confirm(e, body, sim_key=None, sim_value=None):
    """Publishes <name>/set and waits for the confirmed value in the state message."""
    m = e.mark()
    e.watcher.publish(f"{BASE}/{NAME}/set", json.dumps(body))
    for k, v in body.items():
        e.wait(f"{BASE}/{NAME}", lambda d, k=k, v=v: d.get(k) == v, start=m, timeout=60)
    if sim_key is not None:
        wait_until(lambda: e.sim.state(1)[sim_key] == sim_value, what=f"sim {sim_key} == {sim_value}")


def last_state(e):
    msgs = [p for t, p, _ in e.watcher.messages if t == f"{BASE}/{NAME}"]
    return json.loads(msgs[-1].decode())


def report(e, power):
    """`report 1` on the sim; returns (published state, sim truth before, sim truth after)."""
    before = e.sim.state(1)
    m = e.mark()
    e.sim.command("report 1")
    e.wait(f"{BASE}/{NAME}", lambda d: d.get("power") == power and "voltage" in d, start=m, timeout=60)
    time.sleep(1.0)     # let every message the report causes arrive
    return last_state(e), before, e.sim.state(1)


def scenario(e):
    """The common scenario once the program is up on e's broker and sim; returns the snapshots."""
    e.permit_join(120)
    e.pair(1, timeout=180)
    say("paired")
    time.sleep(2)       # interview follow-ups (configure, reads) settle
    set_and_confirm(e, {"state": "ON"}, "state", "ON")
    e.sim.command(f"load 1 {LOAD_W}")
    loaded, lb, la = report(e, LOAD_W)
    say(f"loaded: {loaded}")
    set_and_confirm(e, {"overload_protection": 1500}, "overload_protection", 1500.0)
    set_and_confirm(e, {"led_disabled_night": True}, "led_disabled_night", True)
    set_and_confirm(e, {"power_outage_memory": True}, "power_outage_memory", True)
    set_and_confirm(e, {"auto_off": False}, "auto_off", False)
    e.sim.command("load 1 0")
    # A power cut: the plug comes back ON (power_outage_memory) and counts the outage in its TLV.
    m = e.mark()
    e.sim.command("powercycle 1")
    e.wait(f"{BASE}/bridge/event", lambda d: d.get("type") == "device_announce"
           and d["data"].get("ieee_address") == IEEE, start=m, timeout=60)
    time.sleep(2)       # whatever each program does on the announce settles
    assert e.sim.state(1)["state"] == "ON" and e.sim.state(1)["power_outage_count"] == 1, e.sim.state(1)
    _, fb, fa = report(e, 0)
    m = e.mark()
    e.watcher.publish(f"{BASE}/{NAME}/get", json.dumps({"power": ""}))
    e.wait(f"{BASE}/{NAME}", lambda d: d.get("power") == 0, start=m, timeout=60)
    time.sleep(2.0)
    final = last_state(e)
    say(f"final: {final}")
    # What a client connecting now gets from the broker's retained store (no message = not retained).
    late = Client(e.broker.port)
    try:
        late.subscribe(f"{BASE}/{NAME}")
        time.sleep(1.5)
        retained = [json.loads(p.decode()) for t, p, r in late.messages if r and p]
    finally:
        late.close()
    return {"loaded": (loaded, lb, la), "final": (final, fb, fa), "retained": retained}


def run_z2m():
    with Env(plugs=1, report_interval=REPORT_INTERVAL) as e:
        z = z2m.Z2M(e.sim.port, e.broker.port, datadir=os.path.join(e.workdir, "z2m-data"),
                    devices={IEEE: {"friendly_name": NAME}}).start()
        try:
            z.wait_log(r"Zigbee2MQTT started", timeout=240)
            return scenario(e)
        finally:
            z.stop()


def run_lumiplugd():
    with Env(plugs=1, report_interval=REPORT_INTERVAL,
             extra=f"[device {IEEE}]\nfriendly_name = {NAME}\n") as e:
        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        snaps = scenario(e)
        assert d.stop() == 0
        return snaps


def jtype(v):
    return {bool: "bool", int: "number", float: "number", str: "string", dict: "object",
            list: "array", type(None): "null"}[type(v)]


def decimals(v):
    s = repr(v)
    return len(s.split(".")[1]) if isinstance(v, float) and "." in s else 0


def check_against_sim(label, state, before, after, problems):
    """A program's time-dependent values against its own simulator (truth just before/after)."""
    lo, hi = sorted((before["voltage"], after["voltage"]))
    if not lo - 0.1 <= state["voltage"] <= hi + 0.1:
        problems.append(f"{label}: voltage {state['voltage']} not the sim's {lo}..{hi}")
    lo, hi = sorted((before["energy"], after["energy"]))
    if not round(lo, 2) - 0.01 <= state["energy"] <= round(hi, 2) + 0.01:
        problems.append(f"{label}: energy {state['energy']} not the sim's {lo}..{hi} kWh")
    # current: both programs publish amperes rounded to 2 decimals (Zigbee2MQTT's default precision)
    if abs(state["current"] - after["current"]) > 0.005 + 1e-9 or decimals(state["current"]) > 2:
        problems.append(f"{label}: current {state['current']} is not the sim's {after['current']} A to 2 decimals")
    # consumption: the TLV's 0x95 energy (a float32 of kWh), published unrounded
    lo, hi = sorted((before["energy"], after["energy"]))
    if not lo - 1e-6 <= state["consumption"] <= hi + 1e-6:
        problems.append(f"{label}: consumption {state['consumption']} not the sim's {lo}..{hi} kWh")


def compare(step, z, lp, problems):
    keys_z, keys_l = set(z), set(lp)
    if keys_z != keys_l:
        problems.append(f"{step}: keys only in Zigbee2MQTT: {sorted(keys_z - keys_l)}; "
                        f"only in lumiplugd: {sorted(keys_l - keys_z)}")
    for k in sorted(keys_z & keys_l):
        if jtype(z[k]) != jtype(lp[k]):
            problems.append(f"{step}: {k}: type {jtype(z[k])} ({z[k]!r}) vs {jtype(lp[k])} ({lp[k]!r})")
            continue
        if k in EXEMPT or k in PER_RUN_ONLY:
            continue
        if k == "voltage":
            if abs(z[k] - lp[k]) > VOLTAGE_TOLERANCE or decimals(z[k]) > 1 or decimals(lp[k]) > 1:
                problems.append(f"{step}: voltage {z[k]!r} vs {lp[k]!r}")
            continue
        if z[k] != lp[k]:
            problems.append(f"{step}: {k}: Zigbee2MQTT {z[k]!r} vs lumiplugd {lp[k]!r}")
        elif json.dumps(z[k], sort_keys=True) != json.dumps(lp[k], sort_keys=True):
            # equal numbers written differently (e.g. 1500 vs 1500.0)
            problems.append(f"{step}: {k}: written {json.dumps(z[k])} by Zigbee2MQTT, "
                            f"{json.dumps(lp[k])} by lumiplugd")


def side_by_side(a, b):
    la = json.dumps(a, indent=1, sort_keys=True).splitlines()
    lb = json.dumps(b, indent=1, sort_keys=True).splitlines()
    w = max(len(x) for x in la + ["Zigbee2MQTT"]) + 2
    out = [f"{'Zigbee2MQTT':<{w}}| lumiplugd"]
    for i in range(max(len(la), len(lb))):
        out.append(f"{la[i] if i < len(la) else '':<{w}}| {lb[i] if i < len(lb) else ''}")
    return "\n".join(out)


def main():
    try:
        z2m.install(log=say)
    except z2m.NpmUnreachable as e:
        print(f"SKIP: {e}")
        return 77
    say(f"Zigbee2MQTT {z2m.VERSION}")
    zs = run_z2m()
    say("Zigbee2MQTT run done")
    ls = run_lumiplugd()
    say("lumiplugd run done")

    problems = []
    for step in ("loaded", "final"):
        z, zb, za = zs[step]
        lp, lb, la = ls[step]
        check_against_sim(f"Zigbee2MQTT {step}", z, zb, za, problems)
        check_against_sim(f"lumiplugd {step}", lp, lb, la, problems)
        compare(step, z, read_back_known(step, z, lp, la, problems), problems)
    final_z, final_l = zs["final"][0], ls["final"][0]
    # The scenario's own settings, as both must have published them.
    for k, v in (("state", "ON"), ("overload_protection", 1500), ("led_disabled_night", True),
                 ("power_outage_memory", True), ("auto_off", False), ("power", 0),
                 ("power_outage_count", 1)):
        for label, s in (("Zigbee2MQTT", final_z), ("lumiplugd", final_l)):
            if s.get(k) != v:
                problems.append(f"final: {label} {k} = {s.get(k)!r}, scenario set {v!r}")
    # Retention of the state topic: Zigbee2MQTT's per-device `retain` defaults to false; issue 5 asks
    # lumiplugd to retain by default (configurable), so here the two differ on purpose. What
    # lumiplugd retains must be its last state message.
    say(f"retained state: Zigbee2MQTT {len(zs['retained'])} message(s), lumiplugd {len(ls['retained'])}")
    if zs["retained"]:
        problems.append(f"Zigbee2MQTT retained {zs['retained']} although its retain default is false")
    if ls["retained"] != [final_l]:
        problems.append(f"lumiplugd retained {ls['retained']}, not its last state {final_l}")
    for step in ("loaded", "final"):
        print(f"--- {step}\n" + side_by_side(zs[step][0], ls[step][0]))
    if problems:
        print("DIFFERENCES:\n  " + "\n  ".join(problems))
        return 1
    say(f"same keys {sorted(final_z)}; exempt from value comparison: {sorted(EXEMPT)}; "
        f"per run only: {sorted(PER_RUN_ONLY)}; voltage within {VOLTAGE_TOLERANCE} V")
    return 0


if __name__ == "__main__":
    sys.exit(main())
