#!/usr/bin/python3
"""Issue 9 item 3d: a plug goes out of radio range (the simulator's `offline`) and comes back, 3 times,
while three plugs report every second and reads flow. While it is away a command to it fails cleanly
(reported on bridge/logging, the plug marked offline on <name>/availability, its state untouched) and
the other plugs obey theirs; once it talks again it is online and obeys commands.
Then a plug that stops acknowledging while 500 commands pour in: its queue is bounded (8 commands per
plug), every command beyond it is refused at once with "Too many requests queued for this plug" on
bridge/logging, the daemon's RSS does not grow, and once the plug is back it obeys again."""
import json
import os
import time

from chaoslib import BASE, Env, Traffic, ieee_of, rss_kib, sanitized, start_and_pair, switch, wait_until

PLUGS = 3
AWAY = 2
CYCLES = int(os.environ.get("LUMI_CHAOS_RANGE_CYCLES", "3"))
FLOOD = 500
QUEUE = 8               # HOST_DEVICE_QUEUE_MAX: commands queued or running per plug
RSS_TOLERANCE_KIB = 1024


def main():
    with Env(plugs=PLUGS, report_interval=1) as e:
        d = start_and_pair(e)
        ieee = ieee_of(AWAY)
        traffic = Traffic(e.broker.port, [n for n in range(1, PLUGS + 1) if n != AWAY])
        try:
            for i in range(CYCLES):
                e.sim.command(f"offline {AWAY}")
                before = e.sim.state(AWAY)["state"]
                want = "OFF" if before == "ON" else "ON"
                m = e.mark()
                t0 = time.monotonic()
                e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": want}))
                # the others keep working meanwhile
                for n in range(1, PLUGS + 1):
                    if n != AWAY:
                        switch(e, n, "OFF" if e.sim.state(n)["state"] == "ON" else "ON")
                err = e.wait(f"{BASE}/bridge/logging",
                             lambda v: f"Publish 'set' 'state' to '{ieee}' failed" in v.get("message", ""),
                             start=m, timeout=120)
                failed_after = time.monotonic() - t0
                e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "offline"}, start=m, timeout=120)
                assert e.sim.state(AWAY)["state"] == before
                assert not any(t == f"{BASE}/{ieee}" and json.loads(p).get("state") == want
                               for t, p, _ in e.watcher.messages[m:]), "a failed command was published as done"
                print(f"cycle {i + 1}: the command to the absent plug failed after {failed_after:.1f} s: "
                      f"{err['message']}")

                m = e.mark()
                e.sim.command(f"online {AWAY}")
                e.wait(f"{BASE}/{ieee}/availability", lambda v: v == {"state": "online"}, start=m, timeout=60)
                switch(e, AWAY, want)
                switch(e, AWAY, before)

            # --- a plug that stops acknowledging while commands pour in ---
            e.sim.command(f"offline {AWAY}")
            m = e.mark()
            rss0 = rss_kib(d.pid)
            for k in range(FLOOD):
                e.watcher.c.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON" if k % 2 else "OFF"}), qos=0)

            def refused():
                return sum(1 for t, p, _ in e.watcher.messages[m:] if t == f"{BASE}/bridge/logging" and
                           f"to '{ieee}' failed: 'Too many requests queued for this plug'" in json.loads(p)["message"])
            wait_until(lambda: refused() >= FLOOD - 2 * QUEUE, what="the commands beyond the queue refused", timeout=60)
            time.sleep(1)
            rss1 = rss_kib(d.pid)
            print(f"{FLOOD} commands to a plug that does not acknowledge: {refused()} refused at once "
                  f"(queue of {QUEUE}); RSS {rss0} -> {rss1} KiB")
            assert refused() <= FLOOD - 1
            assert sanitized() or rss1 - rss0 <= RSS_TOLERANCE_KIB, (rss0, rss1)
            e.sim.command(f"online {AWAY}")       # the queued commands go through (or fail) by themselves
            # A command sent while they still fill the plug's queue is refused at once (as it should be):
            # send it again until it is taken; once taken it runs after the queued ones, so it decides
            # the plug's final state.
            for attempt in range(30):
                want = "OFF" if e.sim.state(AWAY)["state"] == "ON" else "ON"
                m = e.mark()
                e.watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": want}))
                try:
                    e.wait(f"{BASE}/bridge/logging", lambda v: f"to '{ieee}' failed: 'Too many requests queued"
                           in v.get("message", ""), start=m, timeout=2)
                except (AssertionError, TimeoutError):
                    break                           # taken
                time.sleep(1)
            else:
                raise AssertionError("the plug's queue never drained after it came back")
            wait_until(lambda: e.sim.state(AWAY)["state"] == want, what=f"plug {AWAY} {want} in the simulator",
                       timeout=180)
            assert d.running()
        finally:
            traffic.stop()
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
