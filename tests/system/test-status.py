#!/usr/bin/python3
"""STATUS= as systemd shows it, through a NOTIFY_SOCKET this test binds, along a plug's life: start,
permit join, two plugs pairing, one going offline (the simulator's `offline`, then a command that
does not reach it), the other leaving, a coordinator reset, the broker stopping and coming back. Each expected text must
appear, in this order, and STATUS= is only sent when its text changes (never twice the same in a
row)."""
import json
import re
import tempfile

from daemon import Daemon
from notify import NotifySocket, statuses
from sim import ieee_of
from sysenv import BASE, Env


def main():
    ns = NotifySocket()
    try:
        with Env(plugs=2) as e:
            d = Daemon(e.ini(), env={"NOTIFY_SOCKET": ns.path},
                       workdir=tempfile.mkdtemp(prefix="daemon-", dir=e.workdir))
            e.daemons.append(d)
            e.daemon = d
            d.start()

            at = [0]        # each expected text comes after the previous one

            def expect(text, timeout=60, regex=False):
                match = (lambda s: re.fullmatch(text, s)) if regex else (lambda s: s == text)
                i, _ = ns.wait_for(lambda f: match(f.get("STATUS", "")), start=at[0], timeout=timeout,
                                   what=f"STATUS={text}")
                at[0] = i + 1

            ready = "0 plugs, mqtt connected, coordinator ready"
            expect(ready)
            ns.wait_for(lambda f: f.get("READY") == "1", timeout=60, what="READY=1")
            e.wait_network()

            e.permit_join(254)
            expect("0 plugs, mqtt connected, coordinator ready, permit join open for 254 s")
            e.pair(1)
            expect("1 plug, 1 online, mqtt connected, coordinator ready, permit join open for 254 s")
            e.pair(2)
            expect("2 plugs, 2 online, mqtt connected, coordinator ready, permit join open for 254 s")
            e.permit_join(0)
            expect("2 plugs, 2 online, mqtt connected, coordinator ready")

            # plug 1 away: a command that does not reach it makes it offline
            e.sim.command("offline 1")
            e.watcher.publish(f"{BASE}/{ieee_of(1)}/set", json.dumps({"state": "ON"}))
            expect("2 plugs, 1 online, mqtt connected, coordinator ready", timeout=120)

            # plug 2 leaves the network: one plug is left, and it is offline
            e.sim.command("leave 2")
            expect("1 plug, 0 online, mqtt connected, coordinator ready")

            # the coordinator resets by itself and is started again
            e.sim.command("reset")
            expect("1 plug, 0 online, mqtt connected, coordinator reset, restarting it")
            expect("1 plug, 0 online, mqtt connected, coordinator ready")

            # the broker goes away and comes back
            e.broker.stop()
            expect(r"1 plug, 0 online, mqtt disconnected( \([^)]*\))?, retry in [\d.]+ s, coordinator ready", regex=True)
            e.broker.start()
            expect("1 plug, 0 online, mqtt connected, coordinator ready")

            seen = [m[1]["STATUS"] for m in ns.since(0) if "STATUS" in m[1]]
            order = ["0 plugs, mqtt connected, coordinator ready",
                     "0 plugs, mqtt connected, coordinator ready, permit join open for 254 s",
                     "1 plug, 1 online, mqtt connected, coordinator ready, permit join open for 254 s",
                     "2 plugs, 2 online, mqtt connected, coordinator ready, permit join open for 254 s",
                     "2 plugs, 2 online, mqtt connected, coordinator ready",
                     "2 plugs, 1 online, mqtt connected, coordinator ready",
                     "1 plug, 0 online, mqtt connected, coordinator ready",
                     "1 plug, 0 online, mqtt connected, coordinator reset, restarting it",
                     "1 plug, 0 online, mqtt connected, coordinator ready",
                     "1 plug, 0 online, mqtt connected, coordinator ready"]     # after the broker's return
            pos = 0
            for s in seen:
                if pos < len(order) and s == order[pos]:
                    pos += 1
            assert pos == len(order), f"STATUS= texts out of order: {seen}"
            repeats = [a for a, b in zip(seen, seen[1:]) if a == b]
            assert not repeats, f"STATUS= sent again without a change: {repeats} in {seen}"
            assert seen == statuses(ns.since(0))
            assert d.stop() == 0
    finally:
        ns.close()
    print("ok")


if __name__ == "__main__":
    main()
