#!/usr/bin/python3
"""Issue 12, fresher power: [device] power_poll_interval = 5 on plug 1 (plug 2 has none).

Counted on the simulated coordinator (its frame log): plug 1 gets a Read Attributes of Analog Input
(0x000C) presentValue (0x0055) on its power endpoint (21) about every 5 s and never sooner; plug 2
gets none; the answers are published as power. With plug 1 out of range, failed polls do not make
it unavailable by themselves; once it is unavailable (after a coordinator reset it does not answer
the availability check) the polls stop, and they start again when it is back.
"""
import json
import time

from sim import ieee_of
from sysenv import BASE, Env, wait_until

P1, P2 = "poll_plug1", "poll_plug2"
INTERVAL = 5
EXTRA = (f"[device {ieee_of(1)}]\nfriendly_name = {P1}\npower_poll_interval = {INTERVAL}\n\n"
         f"[device {ieee_of(2)}]\nfriendly_name = {P2}\n")


def polls(e, nwk, after_line=-1):
    """Sim times of the power reads sent to nwk: AF_DATA_REQUEST to EP 21, cluster 0x000C, ZCL read
    of 0x0055 (retransmissions not counted again), from the log lines after after_line."""
    out = []
    with open(e.sim.log) as f:
        for i, line in enumerate(f):
            if i <= after_line:
                continue
            if "<-" not in line or "AF_DATA_REQUEST" not in line:
                continue
            t = float(line.split()[0])
            b = line.split("<-", 1)[1].split()
            # FE len 24 01 | dst lo hi | dst ep | src ep | cluster lo hi | trans | opt | radius | len | zcl...
            try:
                dst, ep, cluster = int(b[5] + b[4], 16), int(b[6], 16), int(b[9] + b[8], 16)
                zcl = [int(x, 16) for x in b[14:19]]
            except (ValueError, IndexError):
                continue
            if dst == nwk and cluster == 0x000C and zcl[2] == 0x00 and zcl[3:5] == [0x55, 0x00]:
                assert ep == 21, line
                out.append((t, zcl[1]))
    # the host's retransmissions of one read (same transaction number) are one poll
    return [t for i, (t, tsn) in enumerate(out) if i == 0 or out[i - 1][1] != tsn]


def main():
    with Env(plugs=2, extra=EXTRA) as e:
        m = e.mark()
        e.start_daemon()
        e.wait_network(start=m)
        e.permit_join(120)
        e.pair(1)
        e.pair(2)
        n1, n2 = e.sim.plug(1)["nwk"], e.sim.plug(2)["nwk"]
        e.watcher.publish(f"{BASE}/{P1}/set", json.dumps({"state": "ON"}))
        wait_until(lambda: e.sim.state(1)["state"] == "ON", what="plug 1 ON")
        e.sim.command("load 1 60")

        # polled at the interval, the answers published
        wait_until(lambda: len(polls(e, n1)) >= 3, timeout=60, what="3 power polls of plug 1")
        t = polls(e, n1)
        gaps = [b - a for a, b in zip(t, t[1:])]
        print("poll gaps:", [round(g, 2) for g in gaps])
        assert all(g >= INTERVAL - 0.1 for g in gaps), gaps
        assert all(g <= 2 * INTERVAL for g in gaps), gaps
        assert polls(e, n2) == [], "plug 2 has no power_poll_interval"
        m = e.mark()
        e.sim.command("load 1 75")
        e.wait(f"{BASE}/{P1}", lambda v: v.get("power") == 75, start=m, timeout=30)

        # out of range: failed polls alone do not make it unavailable
        m = e.mark()
        e.sim.command("offline 1")
        e.daemon.wait_log(r"Power poll of 'poll_plug1' failed", timeout=60)
        offline = [p for tp, p, _ in e.watcher.messages[m:] if tp == f"{BASE}/{P1}/availability"
                   and json.loads(p.decode()) == {"state": "offline"}]
        assert not offline, "a failed poll made the plug unavailable"

        # unavailable (the coordinator resets: every plug is offline until it answers again, and
        # plug 1 cannot): no more polls
        m = e.mark()
        e.sim.command("reset")
        e.wait(f"{BASE}/{P1}/availability", lambda v: v == {"state": "offline"}, start=m, timeout=60)

        def back_up():   # plug 2 offline with the coordinator, then online again: the coordinator is up
            states = [json.loads(p.decode())["state"] for t, p, _ in e.watcher.messages[m:]
                      if t == f"{BASE}/{P2}/availability"]
            return "offline" in states and states[-1] == "online"
        wait_until(back_up, timeout=60, what="the coordinator back (plug 2 online again)")
        time.sleep(2 * INTERVAL + 1)
        with open(e.sim.log) as f:
            lines = f.readlines()
        reset = max(i for i, line in enumerate(lines) if line.split()[1:3] == ["control:", "reset"])
        # from the daemon's first request after the reset on, it knows: plug 1 is unavailable, and
        # without the pause a poll would follow as soon as the coordinator is back
        knows = next(i for i in range(reset, len(lines)) if "<-" in lines[i] and "SYS_VERSION" in lines[i])
        after = polls(e, n1, after_line=knows)
        assert after == [], f"polls went on while the plug was unavailable: {after}"
        paused = len(polls(e, n1))

        # back: the polls start again
        e.sim.command("online 1")
        m = e.mark()
        e.sim.command("report 1")
        e.wait(f"{BASE}/{P1}/availability", lambda v: v == {"state": "online"}, start=m, timeout=60)
        wait_until(lambda: len(polls(e, n1)) >= paused + 1, timeout=60, what="polls after the plug is back")
        assert e.daemon.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
