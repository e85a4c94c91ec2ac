#!/usr/bin/python3
"""sd_notify as systemd sees it, through a NOTIFY_SOCKET this test binds: STATUS= follows the
broker connection, READY=1 only once the broker (and the simulated coordinator) is up, WATCHDOG=1 at the period WATCHDOG_USEC asks
for (and only for the process WATCHDOG_PID names), RELOADING=1 then READY=1 on SIGHUP (also when the
new file is broken), STOPPING=1 and exit 0 on SIGTERM."""
import re
import signal
import time

from broker import Mosquitto, free_port
from daemon import Daemon, mqtt_ini, scaled
from notify import NotifySocket, statuses
from sim import Sim

WATCHDOG_USEC = 1_000_000
# WATCHDOG_PID must be the daemon's own pid: the shell's pid survives the exec.
WRAPPER = ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"]


def non_watchdog(msgs):
    return [m for m in msgs if m[1] != {"WATCHDOG": "1"}]


def main():
    port = free_port()
    broker = Mosquitto(port=port)
    ns = NotifySocket()
    sim = Sim(fast=True).start()
    env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    ini = mqtt_ini(port, base_topic="lumint", mqtt_extra="reconnect_max = 1\n", level="info",
                   serial_port=sim.port)
    # STATUS= is "<n> plugs, mqtt ..., coordinator ..."; this picks the mqtt part.
    mqtt_status = lambda f: (re.search(r"mqtt [^,]*(?:, retry in [\d.]+ s)?", f.get("STATUS", "")) or [""])[0]
    try:
        with Daemon(ini, env=env, prefix=WRAPPER) as d:
            # The broker is not there yet: STATUS says so, READY=1 is not sent.
            ns.wait_for(lambda f: mqtt_status(f) == "mqtt disconnected (Connection refused), retry in 0.5 s",
                        what="STATUS=mqtt disconnected")
            assert not any("READY" in m[1] for m in ns.since(0))

            # A reload before READY=1 does not claim readiness (nor RELOADING=1, which needs READY=1).
            mark = ns.mark()
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"info: Reloaded ")
            ns.wait_for(lambda f: f.get("STATUS", "").endswith("; configuration reloaded"), start=mark,
                        what="STATUS=...; configuration reloaded")
            assert not any("READY" in m[1] or "RELOADING" in m[1] for m in ns.since(0)), ns.since(0)

            broker.start()
            i, (t_ready, fields, raw) = ns.wait_for(lambda f: f.get("READY") == "1", timeout=60, what="READY=1")
            # STATUS= comes with READY=1 when it changed then, else just before
            assert statuses(ns.since(0)[:i + 1])[-1] == "0 plugs, mqtt connected, coordinator ready", ns.since(0)

            # WATCHDOG=1, regularly, at about half of WATCHDOG_USEC (sd-event pings between 1/2 and 3/4).
            start = ns.mark()
            time.sleep(4 * WATCHDOG_USEC / 1e6)
            pings = [m[0] for m in ns.since(start) if m[1].get("WATCHDOG") == "1"]
            assert len(pings) >= 3, pings
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            period = WATCHDOG_USEC / 1e6
            assert all(g <= 1.5 * period for g in gaps), gaps          # never lets the watchdog expire
            assert sum(gaps) / len(gaps) >= 0.25 * period, gaps         # and does not spin

            # The broker goes away: STATUS follows.
            mark = ns.mark()
            broker.stop()
            ns.wait_for(lambda f: mqtt_status(f).startswith("mqtt disconnected (") and
                        mqtt_status(f).endswith("retry in 0.5 s"), start=mark, what="STATUS=mqtt disconnected")
            mark = ns.mark()
            broker.start()
            ns.wait_for(lambda f: mqtt_status(f) == "mqtt connected", start=mark,
                        timeout=20, what="STATUS=mqtt connected")

            # SIGHUP: RELOADING=1 (with MONOTONIC_USEC=), then READY=1. A run-time key is applied, a
            # restart-only key is reported.
            d.write_ini(ini.replace("reconnect_max = 1\n", "reconnect_max = 1\nqos = 0\n")
                        .replace("level = info", "level = debug").replace("host = 127.0.0.1", "host = localhost")
                        + "[device 0x00158d0001a2b3c4]\nfriendly_name = lamp\n")
            mark = ns.mark()
            d.send_signal(signal.SIGHUP)
            j, (_, f1, raw1) = ns.wait_for(lambda f: f.get("RELOADING") == "1", start=mark, what="RELOADING=1")
            assert re.fullmatch(r"\d+", f1.get("MONOTONIC_USEC", "")), raw1
            k, (_, f2, raw2) = ns.wait_for(lambda f: f.get("READY") == "1", start=j + 1, what="READY=1")
            assert f2["STATUS"].endswith("configuration reloaded"), raw2
            d.wait_log(r"warning: Reload: \[mqtt\] host changed; it takes effect only after a restart")
            d.wait_log(r"warning: Reload: \[mqtt\] qos changed; it takes effect only after a restart")
            d.wait_log(r"info: Reload: \[log\] level changed, applied")
            # Applied if a component takes device sections over at run time, else kept for a restart.
            d.wait_log(r"(info|warning): Reload: \[device 0x00158d0001a2b3c4\] added or removed")

            # A broken file on reload: the running configuration stays, READY=1 still follows.
            d.write_ini("[mqtt]\nport = many\n")
            mark = ns.mark()
            d.send_signal(signal.SIGHUP)
            j, _ = ns.wait_for(lambda f: f.get("RELOADING") == "1", start=mark, what="RELOADING=1")
            k, (_, f2, raw2) = ns.wait_for(lambda f: f.get("READY") == "1", start=j + 1, what="READY=1")
            assert "reload failed" in f2["STATUS"], raw2
            d.wait_log(r"error: .*lumiplugd\.ini:2: \[mqtt\] port = 'many': expected an integer from 1 to 65535")
            assert d.running()

            # SIGTERM: STOPPING=1, exit 0.
            mark = ns.mark()
            assert d.stop(signal.SIGTERM) == 0, d.log()
            ns.wait_for(lambda f: f.get("STOPPING") == "1", start=mark, what="STOPPING=1")

        # WATCHDOG_PID naming another process: no pings from us.
        mark = ns.mark()
        env2 = dict(env, WATCHDOG_PID="1")
        with Daemon(ini, env=env2) as d:
            ns.wait_for(lambda f: f.get("READY") == "1", start=mark, timeout=60, what="READY=1")
            time.sleep(3 * WATCHDOG_USEC / 1e6)
            assert not any(m[1].get("WATCHDOG") for m in ns.since(mark)), ns.since(mark)
            assert d.stop() == 0
    finally:
        broker.stop()
        sim.stop()
        ns.close()
    print("ok")


if __name__ == "__main__":
    main()
