#!/usr/bin/python3
"""Issue 4: the device database survives kill -9 at any moment. Three plugs are paired; then the
daemon is started and killed with SIGKILL LOOPS times (default 100, as issue 4 asks; LUMI_KILL_LOOPS overrides) at
varying moments while it renames plugs and switches them (so it is writing); after every kill the
database parses and holds every plug under one of its two names, and no file was set aside as
corrupt. At the end a normal start lists all of them."""
import json
import os
import random
import time

from sim import ieee_of
from sysenv import BASE, Env

LOOPS = int(os.environ.get("LUMI_KILL_LOOPS", "100"))


def check_db(e, i):
    with open(os.path.join(e.state_dir, "devices.json")) as f:
        db = json.load(f)          # a torn file would raise here
    text = json.dumps(db)
    for n in (1, 2, 3):
        assert ieee_of(n) in text, (i, n, text[:500])
    corrupt = [f for f in os.listdir(e.state_dir) if "corrupt" in f]
    assert not corrupt, (i, corrupt)
    return db


def main():
    rnd = random.Random(4)
    with Env(plugs=3) as e:
        d = e.start_daemon()
        e.wait_network()
        e.permit_join(254)
        for n in (1, 2, 3):
            e.pair(n)
        assert d.stop() == 0
        check_db(e, -1)

        for i in range(LOOPS):
            start = len(e.watcher.messages)
            d = e.start_daemon()
            if i % 3 == 0:
                # killed during the start-up
                time.sleep(rnd.uniform(0, 0.3))
            else:
                e.wait_network(start=start)
                n = 1 + i % 3
                old = ieee_of(n) if (i // 3) % 2 == 0 else f"p{n}"
                new = f"p{n}" if old == ieee_of(n) else ieee_of(n)
                # may hit either name depending on earlier kills: rename from whichever exists
                for src in (old, new):
                    e.watcher.publish(f"{BASE}/bridge/request/device/rename",
                                      json.dumps({"from": src, "to": new if src == old else old}))
                e.watcher.publish(f"{BASE}/{ieee_of(n)}/set", json.dumps({"state": "TOGGLE"}))
                time.sleep(rnd.uniform(0, 0.2))
            d.kill()
            assert d.returncode == -9, d.returncode
            check_db(e, i)

        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        devs = e.devices(start=m, pred=lambda v: len(v) == 4)
        assert {x["ieee_address"] for x in devs if x["type"] != "Coordinator"} == {ieee_of(n) for n in (1, 2, 3)}
        assert all(x.get("interview_completed") for x in devs if x["type"] != "Coordinator"), devs
        assert d.stop() == 0
    print(f"ok ({LOOPS} kills)")


if __name__ == "__main__":
    main()
