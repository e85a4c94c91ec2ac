#!/usr/bin/python3
"""Benchmark (issue 12, not a test, not registered in meson): the coordinator's request rate with
200 plugs that all have [device] power_poll_interval = 5.

Pairs N plugs (default 200, lumiplug-sim's maximum) on lumiplug-sim --fast with a real mosquitto,
restarts lumiplugd (so the settings read-back of every plug, 4 reads each, runs at the same time as
the polls: the worst case), then counts for --seconds (default 60) every AF_DATA_REQUEST the
coordinator receives (its frame log, by the simulator's clock), per second:

  all         every ZCL request sent to a plug (polls, settings reads and writes, pings, commands,
              the host's retransmissions, and the Default Response the host sends back for every
              answer that asks for one, as herdsman does: the plug's power read responses do)
  polls       Analog Input presentValue reads (the power polls)
  settings    0xFCC0 reads (the settings read-back)

and prints max per second and mean for each, against the stated bound: lumiplugd sends background
reads (polls + settings read-back) at least BRIDGE_BACKGROUND_GAP_USEC = 50 ms apart, so at most
20 per second, whatever N and the intervals are (200 plugs every 5 s would ask for 40/s: the
intervals stretch instead). With the Default Responses to the poll answers the coordinator sends
at most 2 x 20 = 40 requests a second for background work. Also prints the achieved poll interval per plug (median, max).

Usage: LUMI_BUILD_ROOT=build /usr/bin/python3 tests/bench/bench-poll.py [-n 200] [--seconds 60]
"""
import argparse
import collections
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "system"))

from sim import ieee_of  # noqa: E402
from sysenv import BASE, Env  # noqa: E402

BOUND_PER_SECOND = 20
INTERVAL = 5


def requests(log_path, t0, t1):
    """(time, kind, nwk, tsn) of the AF_DATA_REQUESTs in [t0, t1) of the simulator's log."""
    out = []
    with open(log_path) as f:
        for line in f:
            if "<-" not in line or "SREQ AF_DATA_REQUEST" not in line:
                continue
            t = float(line.split()[0])
            if not t0 <= t < t1:
                continue
            b = line.split("<-", 1)[1].split()
            try:
                nwk, cluster = int(b[5] + b[4], 16), int(b[9] + b[8], 16)
                zcl = [int(x, 16) for x in b[14:17]]
            except (ValueError, IndexError):
                continue
            # the Lumi frames carry a manufacturer code: fc, mfr lo, mfr hi, tsn, cmd
            if zcl[2] == 0x0B or (cluster == 0xFCC0 and len(b) > 18 and b[18] == "0B"):
                kind = "default-rsp"
            elif cluster == 0x000C and zcl[2] == 0x00:
                kind = "polls"
            elif cluster == 0xFCC0:
                kind = "settings"
            else:
                kind = "other 0x%04x" % cluster
            out.append((t, kind, nwk, zcl[1]))
    return out


def per_second(ts, t0, seconds):
    counts = collections.Counter(int(t - t0) for t in ts)
    series = [counts.get(i, 0) for i in range(seconds)]
    return max(series), statistics.mean(series)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    extra = "".join(f"[device {ieee_of(i)}]\npower_poll_interval = {INTERVAL}\n\n" for i in range(1, a.n + 1))
    with Env(plugs=a.n, extra=extra) as e:
        e.daemon = None
        d = e.start_daemon()
        e.wait_network()
        m = e.mark()
        e.permit_join(254)
        t = time.monotonic()
        done = set()
        # in batches: the host queues at most 64 interviews
        for first in range(1, a.n + 1, 20):
            batch = range(first, min(first + 20, a.n + 1))
            for i in batch:
                e.sim.command(f"press {i}")
            while len(done) < batch[-1]:
                ev = e.wait(f"{BASE}/bridge/event",
                            lambda v: v["type"] == "device_interview" and v["data"]["status"] == "successful"
                            and v["data"]["ieee_address"] not in done, start=m, timeout=300)
                done.add(ev["data"]["ieee_address"])
        print(f"{a.n} plugs paired in {time.monotonic() - t:.0f} s")
        assert d.stop() == 0

        # the restart: every plug's settings read-back and its polls at once
        m = e.mark()
        e.start_daemon()
        e.wait_network(start=m)
        t0 = e.sim.info().get("now") if isinstance(e.sim.info(), dict) and "now" in e.sim.info() else None
        if t0 is None:
            with open(e.sim.log) as f:
                t0 = float(f.readlines()[-1].split()[0])
        time.sleep(a.seconds + 1)
        reqs = requests(e.sim.log, t0, t0 + a.seconds)
        assert e.daemon.stop() == 0

    print(f"window: {a.seconds} s from the restart's network up, {a.n} plugs, power_poll_interval = {INTERVAL}")
    print(f"stated bound: background reads (polls + settings read-back) <= {BOUND_PER_SECOND}/s")
    print(f"{'requests':<28} {'max/s':>6} {'mean/s':>7}")
    rows = {
        "all AF_DATA_REQUEST": [r[0] for r in reqs],
        "power polls": [r[0] for r in reqs if r[1] == "polls"],
        "settings (0xFCC0)": [r[0] for r in reqs if r[1] == "settings"],
        "polls + settings": [r[0] for r in reqs if r[1] in ("polls", "settings")],
        "Default Responses": [r[0] for r in reqs if r[1] == "default-rsp"],
    }
    for name, ts in rows.items():
        mx, mean = per_second(ts, t0, a.seconds)
        print(f"{name:<28} {mx:>6} {mean:>7.1f}")
    for kind in sorted({r[1] for r in reqs if r[1].startswith("other")}):
        mx, mean = per_second([r[0] for r in reqs if r[1] == kind], t0, a.seconds)
        print(f"  {'cluster ' + kind[6:]:<26} {mx:>6} {mean:>7.1f}")
    mx, _ = per_second(rows["polls + settings"], t0, a.seconds)
    # achieved interval: the gaps between a plug's polls once its read-back is over
    by_plug = collections.defaultdict(list)
    for t, kind, nwk, tsn in reqs:
        if kind == "polls" and (not by_plug[nwk] or by_plug[nwk][-1][1] != tsn):
            by_plug[nwk].append((t, tsn))
    gaps = [b[0] - x[0] for v in by_plug.values() for x, b in zip(v, v[1:])]
    if gaps:
        print(f"poll interval achieved: median {statistics.median(gaps):.1f} s, max {max(gaps):.1f} s "
              f"(asked: {INTERVAL} s; {a.n} plugs x 1/{INTERVAL} s = {a.n / INTERVAL:.0f}/s asked)")
    print(f"within the bound: {'yes' if mx <= BOUND_PER_SECOND else 'NO'}")
    return 0 if mx <= BOUND_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
