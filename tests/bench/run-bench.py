#!/usr/bin/python3
"""First benchmark of lumiplugd against the real Zigbee2MQTT (issue 10), side by side on one machine,
one broker configuration (tests/lib/broker.py: mosquitto with set_tcp_nodelay true) and lumiplug-sim --fast.

Measures, never asserts (not a test; not registered in meson):
  start-up   process start -> bridge/state "online" AND bridge/info naming the coordinator (network up);
             for lumiplugd also -> READY=1 on a NOTIFY_SOCKET this script binds.
  peak RSS   VmHWM of /proc/<pid>/status (Zigbee2MQTT: the node process) after 1 plug was paired and
             both sat idle for 10 s.
  latency    publish <name>/set {"state":"TOGGLE"} -> the simulator's frames_in counter (control
             command "info") growing; the counter is polled over the control socket in a tight loop, so
             the resolution is one control round trip (printed in the report). Each toggle waits for the
             new state on MQTT before the next one is sent.

Usage: LUMI_BUILD_ROOT=build /usr/bin/python3 tests/bench/run-bench.py [-n 200] [--report build/bench-report.md]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "system"))

from broker import Client, Mosquitto  # noqa: E402
from daemon import Daemon, binary  # noqa: E402
from sim import Sim, ieee_of  # noqa: E402
import sysenv  # noqa: E402
import z2m  # noqa: E402

BASE = "zigbee2mqtt"


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def loads(p):
    try:
        return json.loads(p)
    except ValueError:
        return None


def wait_json(client, topic, pred, timeout, start=0):
    def ok(p):
        v = loads(p)
        return isinstance(v, dict) and pred(v)
    return json.loads(client.wait_for(topic, ok, timeout=timeout, start=start)[1])


def wait_network(client, timeout):
    wait_json(client, f"{BASE}/bridge/state", lambda v: v.get("state") == "online", timeout)
    wait_json(client, f"{BASE}/bridge/info",
              lambda v: (v.get("coordinator") or {}).get("ieee_address") not in (None, ""), timeout)


def pair(client, sim, n, timeout):
    tid = f"pj{time.monotonic_ns()}"
    m = client.mark()
    client.publish(f"{BASE}/bridge/request/permit_join", json.dumps({"time": 254, "transaction": tid}))
    wait_json(client, f"{BASE}/bridge/response/permit_join", lambda v: v.get("transaction") == tid, timeout, m)
    ieee = ieee_of(n)
    m = client.mark()
    sim.command(f"press {n}")
    ev = wait_json(client, f"{BASE}/bridge/event",
                   lambda v: v.get("type") == "device_interview" and v["data"].get("ieee_address") == ieee
                   and v["data"].get("status") in ("successful", "failed"), timeout, m)
    if ev["data"]["status"] != "successful":
        raise RuntimeError(f"interview failed: {ev}")
    return ieee


def bench_client(port):
    """The measuring MQTT client, with Nagle off on its socket too: a subscriber that PUBACKs QoS 1
    state messages would otherwise hold its next publish until the broker's delayed ACK (~40 ms)."""
    c = Client(port)
    sock = c.c.socket()
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.subscribe(f"{BASE}/#")
    return c


def frames_in(sim):
    return sim.info()["frames_in"]


def toggles(client, sim, name, n):
    """Latencies (s) of n toggles; each waits for the frame at the simulator and the state on MQTT."""
    out, poll_rtts = [], []
    for i in range(n):
        before = frames_in(sim)
        m = client.mark()
        t0 = time.monotonic()
        client.publish(f"{BASE}/{name}/set", json.dumps({"state": "TOGGLE"}))
        while True:
            p0 = time.monotonic()
            now_frames = frames_in(sim)
            p1 = time.monotonic()
            poll_rtts.append(p1 - p0)
            if now_frames > before:
                out.append(p1 - t0)
                break
            if p1 - t0 > 30:
                raise RuntimeError(f"toggle {i}: no frame reached the simulator within 30 s")
        # confirmation before the next toggle: a state message after the publish
        client.wait_for(f"{BASE}/{name}", lambda p: isinstance(loads(p), dict) and "state" in loads(p), timeout=30, start=m)
    return out, statistics.median(poll_rtts)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def bench_lumiplugd(n):
    r = {}
    work = tempfile.mkdtemp(prefix="lumi-bench-")
    for sub in ("mosq", "sim", "daemon"):
        os.makedirs(os.path.join(work, sub))
    with Mosquitto(workdir=os.path.join(work, "mosq")) as mq, \
            Sim(plugs=1, fast=True, workdir=os.path.join(work, "sim")) as sim:
        c = bench_client(mq.port)
        ns_path = os.path.join(work, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(ns_path)
        ini = sysenv.ini_text(mq.port, sim.port, os.path.join(work, "state"), level="info")
        d = Daemon(ini, env={"NOTIFY_SOCKET": ns_path}, workdir=os.path.join(work, "daemon"))
        try:
            t0 = time.monotonic()
            d.start()
            ns.settimeout(60)
            ready = None
            while ready is None:
                msg = ns.recv(4096).decode()
                if "READY=1" in msg.split("\n"):
                    ready = time.monotonic() - t0
            wait_network(c, 60)
            r["startup"] = time.monotonic() - t0
            r["ready"] = ready
            name = pair(c, sim, 1, 60)
            time.sleep(10)
            r["rss"] = vm_hwm_kib(d.pid)
            r["lat"], r["poll"] = toggles(c, sim, name, n)
            r["version"] = subprocess.run([binary(), "--version"], capture_output=True, text=True).stdout.strip()
        finally:
            d.kill()
            c.close()
            ns.close()
    shutil.rmtree(work, ignore_errors=True)
    return r


def bench_z2m(n):
    r = {}
    try:
        z2m.install()
    except z2m.NpmUnreachable as e:
        say(f"Zigbee2MQTT not measured: {e}")
        return None
    work = tempfile.mkdtemp(prefix="lumi-bench-z2m-")
    for sub in ("mosq", "sim"):
        os.makedirs(os.path.join(work, sub))
    with Mosquitto(workdir=os.path.join(work, "mosq")) as mq, \
            Sim(plugs=1, fast=True, workdir=os.path.join(work, "sim")) as sim:
        c = bench_client(mq.port)
        z = z2m.Z2M(sim.port, mq.port, datadir=os.path.join(work, "z2m"),
                    network={"log_level": "info"})
        try:
            t0 = time.monotonic()
            z.start()
            wait_network(c, 300)
            r["startup"] = time.monotonic() - t0
            name = pair(c, sim, 1, 180)
            time.sleep(10)
            r["rss"] = vm_hwm_kib(z.proc.pid)
            r["lat"], r["poll"] = toggles(c, sim, name, n)
            r["version"] = z2m.VERSION
        finally:
            z.stop()
            c.close()
    shutil.rmtree(work, ignore_errors=True)
    return r


def cmd_version(args):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--toggles", type=int, default=200)
    ap.add_argument("--report", default="build/bench-report.md")
    ap.add_argument("--no-z2m", action="store_true", help="measure lumiplugd alone")
    a = ap.parse_args()
    if a.toggles < 1:
        ap.error("--toggles must be at least 1")

    say("lumiplugd ...")
    L = bench_lumiplugd(a.toggles)
    Z = None
    if not a.no_z2m:
        say("Zigbee2MQTT ...")
        Z = bench_z2m(a.toggles)

    def ms(x):
        return f"{x * 1000:.2f} ms"

    rows = [("start-up to network up", L["startup"], Z and Z["startup"], ms),
            ("peak RSS (VmHWM), 1 plug idle", L["rss"], Z and Z["rss"], lambda k: f"{k / 1024:.1f} MiB"),
            (f"toggle -> frame p50 (n={a.toggles})", pct(L["lat"], 50), Z and pct(Z["lat"], 50), ms),
            (f"toggle -> frame p99 (n={a.toggles})", pct(L["lat"], 99), Z and pct(Z["lat"], 99), ms)]
    lines = ["| figure | lumiplugd | Zigbee2MQTT | ratio Z2M/lumiplugd |", "|---|---|---|---|"]
    for label, lv, zv, f in rows:
        ratio = f"{zv / lv:.2f}x" if zv is not None and lv else "n/a"
        lines.append(f"| {label} | {f(lv)} | {f(zv) if zv is not None else 'not measured'} | {ratio} |")
    lines.append(f"| READY=1 (lumiplugd only) | {ms(L['ready'])} | - | - |")
    table = "\n".join(lines)
    print(table)

    mem = open("/proc/meminfo").readline().split()[1]
    env = [f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
           f"- machine: nproc {os.cpu_count()}, MemTotal {int(mem) // 1024} MiB, kernel {platform.release()}",
           f"- lumiplugd: {L['version']}", f"- Zigbee2MQTT: {Z['version'] if Z else 'not measured'}",
           f"- node: {cmd_version(['node', '--version'])}",
           f"- mosquitto: {cmd_version(['mosquitto', '-h'])} (set_tcp_nodelay true)",
           f"- latency probe resolution (median control round trip): lumiplugd run {ms(L['poll'])}"
           + (f", Zigbee2MQTT run {ms(Z['poll'])}" if Z else "")]
    report = ("# lumiplugd vs Zigbee2MQTT: first benchmark\n\n" + "\n".join(env) + "\n\n" + table + "\n\n"
              "Start-up: process start -> bridge/state online and bridge/info with the coordinator, "
              "lumiplug-sim --fast with a fresh NV (network formed). Latency: publish of "
              "`<ieee>/set {\"state\":\"TOGGLE\"}` -> the simulator's frames_in counter growing, polled "
              "over its control socket; each toggle waits for the state on MQTT before the next. The measuring client has TCP_NODELAY on its socket.\n"
              + ("" if Z else "\nZigbee2MQTT could not be installed/measured: lumiplugd alone.\n"))
    os.makedirs(os.path.dirname(os.path.abspath(a.report)), exist_ok=True)
    with open(a.report, "w") as f:
        f.write(report)
    say(f"report written to {a.report}")


if __name__ == "__main__":
    main()
