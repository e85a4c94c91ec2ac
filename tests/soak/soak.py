#!/usr/bin/python3
"""Issue 9 item 5, the accelerated soak: lumiplugd with 200 simulated plugs that report 50 times as often
as real ones (the simulator's periodic report every 6 s instead of 300 s), their loads changing and
commands flowing every second, for --minutes (default 30, or LUMI_SOAK_MINUTES). The daemon's RSS is
sampled every --interval seconds, printed as a curve and written to --out (CSV: seconds, KiB). It
fails when the RSS after the warm-up (the first fifth of the run, at least 30 s) grew by more than
--tolerance KiB (default 1024: one lost KiB per plug-minute would be 6 MiB in 30 minutes), when the
daemon died, or when a plug no longer obeys at the end.

    meson test -C build --suite soak -v                       # 30 minutes
    LUMI_SOAK_MINUTES=2 meson test -C build --suite soak -v   # a short check
    LUMI_BUILD_ROOT=build PYTHONPATH=tests/lib /usr/bin/python3 tests/soak/soak.py --minutes 30
"""
import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "chaos"))

import paho.mqtt.client as paho  # noqa: E402

from chaoslib import BASE, Env, fresh_watcher, ieee_of, rss_kib, sanitized, switch  # noqa: E402
from daemon import Daemon  # noqa: E402
from sysenv import ini_text  # noqa: E402

NORMAL_REPORT_S = 300.0         # the simulator's (and the real plug's) periodic report
BATCH = 40                      # buttons pressed at once while pairing (sent in batches, as a person pressing buttons would)


def pair_all(e, plugs):
    e.permit_join(254)
    done = set()
    for first in range(1, plugs + 1, BATCH):
        batch = range(first, min(first + BATCH, plugs + 1))
        m = e.mark()
        for n in batch:
            e.sim.command(f"press {n}")
        for _ in batch:
            ev = e.wait(f"{BASE}/bridge/event",
                        lambda v: v["type"] == "device_interview" and v["data"]["status"] in ("successful", "failed")
                        and v["data"]["ieee_address"] not in done, start=m, timeout=300)
            assert ev["data"]["status"] == "successful", ev
            done.add(ev["data"]["ieee_address"])
        if first + BATCH <= plugs:
            e.permit_join(254)          # keep it open
    assert len(done) == plugs, len(done)


class Counter:
    """Counts the state messages the daemon publishes (without keeping them)."""

    def __init__(self, port):
        self.states = 0
        self.c = paho.Client(client_id=f"soak-count-{os.getpid()}", protocol=paho.MQTTv311)
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.subscribe(f"{BASE}/+", 0)
        self.c.loop_start()

    def on_message(self, c, u, msg):
        if not msg.topic.startswith(f"{BASE}/bridge"):
            self.states += 1

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=float(os.environ.get("LUMI_SOAK_MINUTES", "30")))
    p.add_argument("--plugs", type=int, default=200)
    p.add_argument("--rate", type=float, default=50.0, help="report rate, times the normal one")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    p.add_argument("--tolerance", type=int, default=1024, help="KiB of RSS growth allowed after the warm-up")
    p.add_argument("--out", default=os.path.join(os.environ.get("LUMI_BUILD_ROOT", "."), "soak-rss.csv"))
    a = p.parse_args()
    duration = a.minutes * 60
    warmup = max(30.0, duration / 5)
    rnd = random.Random(5)

    with Env(plugs=a.plugs, report_interval=NORMAL_REPORT_S / a.rate) as e:
        t_setup = time.monotonic()
        # at the info level, as a daemon runs (the tests' debug level logs every frame)
        d = Daemon(ini_text(e.broker.port, e.sim.port, e.state_dir, level="info"),
                   workdir=tempfile.mkdtemp(prefix="daemon-", dir=e.workdir)).start()
        e.daemons.append(d)
        e.wait_network()
        pair_all(e, a.plugs)
        print(f"{a.plugs} plugs paired in {time.monotonic() - t_setup:.0f} s; soak of {a.minutes:g} min, reports "
              f"every {NORMAL_REPORT_S / a.rate:g} s per plug, warm-up {warmup:.0f} s, tolerance {a.tolerance} KiB",
              flush=True)
        e.watcher.close()                       # it would keep every message of the run in memory
        counter = Counter(e.broker.port)
        traffic = paho.Client(client_id=f"soak-traffic-{os.getpid()}", protocol=paho.MQTTv311)
        traffic.connect("127.0.0.1", e.broker.port, keepalive=30)
        traffic.loop_start()

        samples = []
        t0 = time.monotonic()
        next_sample = t0
        next_second = t0
        commands = 0
        with open(a.out, "w") as out:
            out.write("seconds,rss_kib,state_messages\n")
            while True:
                now = time.monotonic()
                if now >= next_sample:
                    assert d.running(), "the daemon died"
                    t, kib = now - t0, rss_kib(d.pid)
                    samples.append((t, kib))
                    out.write(f"{t:.0f},{kib},{counter.states}\n")
                    out.flush()
                    print(f"t={t:6.0f} s  RSS {kib:6d} KiB  {counter.states} state messages", flush=True)
                    next_sample += a.interval
                if now - t0 >= duration:
                    break
                if now >= next_second:
                    # every second: two loads change (their plugs report it), one command, one read
                    for _ in range(2):
                        e.sim.command(f"load {rnd.randint(1, a.plugs)} {rnd.uniform(0, 2300):.1f}")
                    n = rnd.randint(1, a.plugs)
                    traffic.publish(f"{BASE}/{ieee_of(n)}/set", json.dumps({"state": rnd.choice(["ON", "OFF"])}), qos=1)
                    traffic.publish(f"{BASE}/{ieee_of(rnd.randint(1, a.plugs))}/get", json.dumps({"state": ""}), qos=1)
                    commands += 2
                    next_second += 1
                time.sleep(max(0.0, min(next_sample, next_second) - time.monotonic()))
        traffic.loop_stop()
        traffic.disconnect()
        counter.close()

        elapsed = time.monotonic() - t0
        post = [kib for t, kib in samples if t >= warmup]
        assert len(post) >= 2, "the run is too short for a verdict: use at least --minutes 1"
        base = statistics.median(post[:3])
        end = statistics.median(post[-3:])
        ts = [t for t, _ in samples if t >= warmup]
        slope = statistics.linear_regression(ts, post).slope * 60 if len(post) >= 3 else 0.0
        print(f"RSS curve ({len(samples)} samples, KiB): " + " ".join(str(k) for _, k in samples))
        print(f"{counter.states} state messages in {elapsed:.0f} s ({counter.states / elapsed:.1f}/s), "
              f"{commands} commands; RSS after warm-up {base:.0f} -> {end:.0f} KiB (growth {end - base:+.0f} KiB, "
              f"trend {slope:+.1f} KiB/min), peak {max(k for _, k in samples)} KiB; curve in {a.out}")

        # still obeying after all that
        fresh_watcher(e)
        for n in (1, a.plugs):
            switch(e, n, "OFF" if e.sim.state(n)["state"] == "ON" else "ON", timeout=60)
        if sanitized():
            print("a sanitizer build: the RSS bound is not checked (ASan keeps freed memory in its quarantine)")
        else:
            assert end - base <= a.tolerance, f"RSS grew by {end - base:.0f} KiB after the warm-up (> {a.tolerance})"
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
