#!/usr/bin/python3
"""Issue 4/5: 20 plugs pair in one session (their buttons pressed at once, more than the host
interviews in parallel), all listed as ZNCZ04LM, each switched on over MQTT under a distinct name."""
import json

from sim import ieee_of
from sysenv import BASE, Env, wait_until

N = 20


def main():
    with Env(plugs=N) as e:
        e.start_daemon(extra="".join(f"[device {ieee_of(i)}]\nfriendly_name = plug_{i}\n\n" for i in range(1, 4)))
        e.wait_network()
        m = e.mark()
        e.permit_join(254)
        for i in range(1, N + 1):
            e.sim.command(f"press {i}")
        done = {}
        for _ in range(N):
            ev = e.wait(f"{BASE}/bridge/event",
                        lambda v: v["type"] == "device_interview" and v["data"]["status"] in ("successful", "failed")
                        and v["data"]["ieee_address"] not in done, start=m, timeout=120)
            done[ev["data"]["ieee_address"]] = ev["data"]["status"]
        assert all(s == "successful" for s in done.values()), done
        assert set(done) == {ieee_of(i) for i in range(1, N + 1)}, done

        devs = e.devices(start=m, pred=lambda v: sum(1 for x in v if (x.get("definition") or {}).get("model") ==
                                                     "ZNCZ04LM" and x.get("interview_completed")) == N)
        names = {x["ieee_address"]: x["friendly_name"] for x in devs}
        # the INI names the first three; the rest keep Zigbee2MQTT's default name, the IEEE address
        for i in range(1, N + 1):
            assert names[ieee_of(i)] == (f"plug_{i}" if i <= 3 else ieee_of(i)), names

        m = e.mark()
        for i in range(1, N + 1):
            e.watcher.publish(f"{BASE}/{names[ieee_of(i)]}/set", json.dumps({"state": "ON"}))
        for i in range(1, N + 1):
            e.wait(f"{BASE}/{names[ieee_of(i)]}", lambda v: v.get("state") == "ON", start=m, timeout=60)
        wait_until(lambda: all(e.sim.state(i)["state"] == "ON" for i in range(1, N + 1)), what="all plugs ON")
        assert e.daemon.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
