#!/usr/bin/python3
"""Issue 12, settings that stay true.

Plug 1 has enforce_settings = true with led_disabled_night = true and overload_protection = 1000
in its [device] section; plug 2 has no settings in the INI.
- After pairing, both plugs' four settings are read back: the state shows values, not nulls; plug 1
  is written to the INI's values (the simulated plug then has them).
- A power cycle in which plug 1 loses its settings (factory values): after its announce they are
  read back and written again; the published state ends with the INI's values.
- Plug 2 set over MQTT, then power-cycled losing its settings: the state shows what the plug
  really has now (false / 2300), nothing is written.
- The daemon is stopped, plug 1 loses its settings while nobody listens (its announce is lost);
  after the start the read-back finds out and writes them again.
"""
import json

from sim import ieee_of
from sysenv import BASE, Env, wait_until

P1, P2 = "set_plug1", "set_plug2"
SETTINGS = ("led_disabled_night", "power_outage_memory", "auto_off", "overload_protection")
EXTRA = (f"[device {ieee_of(1)}]\nfriendly_name = {P1}\nenforce_settings = true\n"
         "led_disabled_night = true\noverload_protection = 1000\n\n"
         f"[device {ieee_of(2)}]\nfriendly_name = {P2}\n")
WANT1 = {"led_disabled_night": True, "overload_protection": 1000}


def settings_of(v):
    return {k: v.get(k) for k in SETTINGS}


def wait_settings(e, name, want, start):
    """The first state of name from start whose four settings are all known and equal want's keys."""
    return e.wait(f"{BASE}/{name}", lambda v: all(v.get(k) is not None for k in SETTINGS)
                  and all(v.get(k) == w for k, w in want.items()), start=start, timeout=60)


def sim_has(e, n, want):
    s = e.sim.state(n)
    return all(s[k] == w for k, w in want.items())


def main():
    with Env(plugs=2, extra=EXTRA) as e:
        m = e.mark()
        e.start_daemon()
        e.wait_network(start=m)
        e.permit_join(120)
        m = e.mark()
        e.pair(1)
        e.pair(2)
        # read back after pairing; plug 1 gets the INI's values written
        v1 = wait_settings(e, P1, dict(WANT1, power_outage_memory=False, auto_off=False), m)
        wait_until(lambda: sim_has(e, 1, {"led_disabled_night": True, "overload_protection": 1000.0}),
                   what="plug 1 has the INI's settings")
        v2 = wait_settings(e, P2, {"led_disabled_night": False, "overload_protection": 2300}, m)
        print("after pairing:", settings_of(v1), settings_of(v2))
        e.daemon.wait_log(r"'set_plug1' lost its setting led_disabled_night \(it has false, the configuration "
                          r"says true\): writing it back")

        # power cycle with the settings lost: written back after the announce
        m = e.mark()
        e.sim.powercycle(1, lose_settings=True)
        assert not e.sim.state(1)["led_disabled_night"] and e.sim.state(1)["overload_protection"] == 2300.0
        wait_until(lambda: sim_has(e, 1, {"led_disabled_night": True, "overload_protection": 1000.0}),
                   what="plug 1 settings written back after its power cycle")
        # the state passes through the truth (the read-back) and ends with the INI's values
        e.wait(f"{BASE}/{P1}", lambda v: v.get("overload_protection") == 2300, start=m, timeout=30)
        wait_settings(e, P1, WANT1, m)
        e.daemon.wait_log(r"'set_plug1' lost its setting overload_protection \(it has 2300, the configuration "
                          r"says 1000\)", count=2)

        # no enforcement for plug 2: the state shows the plug's true values after it lost them
        m = e.mark()
        e.watcher.publish(f"{BASE}/{P2}/set", json.dumps({"led_disabled_night": True, "auto_off": True}))
        wait_settings(e, P2, {"led_disabled_night": True, "auto_off": True}, m)
        m = e.mark()
        e.sim.powercycle(2, lose_settings=True)
        v2 = wait_settings(e, P2, {"led_disabled_night": False, "auto_off": False, "overload_protection": 2300}, m)
        assert not e.sim.state(2)["led_disabled_night"] and not e.sim.state(2)["auto_off"]
        print("plug 2 after losing its settings:", settings_of(v2))

        # lost while the daemon was not running: found at the next start
        assert e.daemon.stop() == 0
        e.sim.powercycle(1, lose_settings=True)
        assert not e.sim.state(1)["led_disabled_night"]
        m = e.mark()
        e.start_daemon()
        e.wait_network(start=m)
        wait_until(lambda: sim_has(e, 1, {"led_disabled_night": True, "overload_protection": 1000.0}),
                   what="plug 1 settings written back after the daemon's start")
        wait_settings(e, P1, WANT1, m)
        assert e.daemon.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
