#!/usr/bin/python3
"""lumiplugd against the real Zigbee2MQTT (issue 10), side by side on one machine: the same broker
configuration (tests/lib/broker.py: mosquitto with set_tcp_nodelay true), the same simulator
(lumiplug-sim --fast, Z-Stack 3.x.0, adapter zstack for Zigbee2MQTT), the same plugs.

Not a test (nothing fails on a slow machine): it prints a table, the targets of issue 10 met or
missed, and writes a markdown report with gnuplot PNGs (Debian: apt-get install gnuplot-nox).

  LUMI_BUILD_ROOT=build tests/bench/run-bench.py [--out tests/bench] [--quick] [--no-z2m]

What is measured, for each program (see REPORT.md for the method in words):
  start-up    process start -> bridge/state online, bridge/info naming the coordinator and the
              plug's Home Assistant discovery published (lumiplugd also: READY=1 on NOTIFY_SOCKET)
  memory      VmHWM after start-up + 10 s idle with 1 plug; VmHWM in the 200-plug scale run
  command     publish <name>/set TOGGLE -> the AF_DATA_REQUEST On/Off frame parsed by the simulator
              (its CLOCK_MONOTONIC stamp, control command "stamps")
  report      the simulator writing a 0xFCC0 report -> the state message at the MQTT subscriber
  inside      the same two paths from the program's own system calls (LD_PRELOAD iotrace.so):
              the epoll wake-up that delivered the input -> the return of the output write()
  cpu         utime+stime (/proc/<pid>/stat) per 10,000 reports at each scale point;
              lumiplugd also under callgrind: instructions per report and per toggle
  scale       1, 10, 50, 200 plugs each reporting every second for --seconds: CPU %, RSS, state
              messages expected (reports the simulator sent) vs received, late ones (> 1 s); the
              window starts once the program's start-up requests to the plugs are over (settle())
Plugs are pre-provisioned once (cached): see provision().
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import paho.mqtt.client as paho  # noqa: E402
from broker import Mosquitto  # noqa: E402
from daemon import Daemon, binary  # noqa: E402
from sim import Sim, ieee_of, sim_binary  # noqa: E402
import z2m  # noqa: E402

BASE = "zigbee2mqtt"
T0 = time.monotonic()
LATE_S = 1.0            # a state message more than this after its report counts as late


def say(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# MQTT client with receive time stamps

class TClient:
    """Records (monotonic ns at on_message, topic, payload) for everything under the subscriptions;
    Nagle off on its socket (a subscriber's PUBACKs would otherwise delay its next publish)."""

    def __init__(self, port):
        self.msgs = []
        self.cond = threading.Condition()
        self.c = paho.Client(client_id=f"bench-{os.getpid()}-{time.monotonic_ns()}", protocol=paho.MQTTv311)
        self.c.on_message = self._on_message
        up = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: up.set() if rc == 0 else None
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.loop_start()
        if not up.wait(10):
            raise RuntimeError("bench MQTT client could not connect")
        for t in (f"{BASE}/#", "homeassistant/#"):
            self.c.subscribe(t, 0)
        time.sleep(0.2)

    def _on_message(self, client, userdata, msg):
        t = time.monotonic_ns()
        with self.cond:
            self.msgs.append((t, msg.topic, bytes(msg.payload)))
            self.cond.notify_all()

    def publish(self, topic, payload):
        self.c.publish(topic, payload, qos=0)

    def mark(self):
        with self.cond:
            return len(self.msgs)

    def wait(self, pred, timeout, start=0, what="message"):
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.msgs):
                    m = self.msgs[i]
                    i += 1
                    if pred(m[1], m[2]):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s")
                self.cond.wait(min(left, 1.0))

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def jload(p):
    try:
        return json.loads(p)
    except ValueError:
        return None


def on_topic(topic, pred=lambda v: True):
    def p(t, payload):
        if t != topic:
            return False
        v = jload(payload)
        return isinstance(v, dict) and pred(v)
    return p


# --------------------------------------------------------------------------------------------
# /proc

def proc_tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pids):
    """CPU seconds of the processes: the sum over their threads of /proc/<pid>/task/<tid>/schedstat's
    on-CPU nanoseconds (the same time as utime+stime of /proc/<pid>/stat, without its 10 ms tick
    resolution: lumiplugd uses less than a tick for 100 reports)."""
    total = 0
    for p in pids:
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def cpu_ticks_s(pids, which=(11, 12)):
    """utime+stime from /proc/<pid>/stat (10 ms resolution), printed next to cpu_s as a check;
    which=(11,) for utime (user space) alone, (12,) for stime (in the kernel)."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in which)     # utime, stime (fields 14, 15)
        except OSError:
            pass
    return total / tck


def smaps_breakdown(pid):
    """{mapping name: [rss kB, anonymous kB]} and the rollup."""
    agg, cur = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anon]"
                cur = agg.setdefault(os.path.basename(name), [0, 0])
            elif parts[0] == "Rss:":
                cur[0] += int(parts[1])
            elif parts[0] == "Anonymous:":
                cur[1] += int(parts[1])
    roll = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0].endswith(":") and len(parts) >= 2 and parts[1].isdigit():
                roll[parts[0][:-1]] = int(parts[1])
    return agg, roll


# --------------------------------------------------------------------------------------------
# Programs

def lumi_ini(mq_port, sim_port, state_dir, level="warning", mqtt_extra=""):
    return (f"[mqtt]\nhost = 127.0.0.1\nport = {mq_port}\nbase_topic = {BASE}\n{mqtt_extra}\n"
            f"[serial]\nport = {sim_port}\n\n[state]\ndirectory = {state_dir}\n\n"
            f"[log]\nlevel = {level}\ntarget = stderr\n")


class LumiRun:
    name = "lumiplugd"

    def __init__(self, work, mq, sim, z2m_dir=None, preload=None, prefix=(), level="warning", mqtt_extra=""):
        self.work = work
        self.state = os.path.join(work, "state")
        os.makedirs(self.state, exist_ok=True)
        self.ns_path = os.path.join(work, "notify.sock")
        self.ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.ns.bind(self.ns_path)
        env = {"NOTIFY_SOCKET": self.ns_path}
        if preload:
            env.update(preload)
        self.d = Daemon(lumi_ini(mq.port, sim.port, self.state, level, mqtt_extra), env=env, prefix=prefix,
                        workdir=mkd(work, "daemon"))
        if z2m_dir:
            r = subprocess.run([binary(), "--import-z2m", z2m_dir, "-c", self.d.ini_path],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"lumiplugd --import-z2m failed: {r.stdout}{r.stderr}")
        self.ready_ns = None

    def start(self):
        self.d.start()
        threading.Thread(target=self._notify, daemon=True).start()
        return self

    def _notify(self):
        # Keeps reading after READY=1, as systemd does: sd_notify() blocks once a datagram
        # socket's queue (net.unix.max_dgram_qlen, 10) is full of unread STATUS= messages.
        try:
            while True:
                msg = self.ns.recv(4096).decode(errors="replace")
                if self.ready_ns is None and "READY=1" in msg.split("\n"):
                    self.ready_ns = time.monotonic_ns()
        except OSError:
            pass

    @property
    def pid(self):
        return self.d.pid

    def stop(self):
        try:
            self.d.stop(timeout=60)
        finally:
            self.d.kill()
            self.ns.close()


class Z2MRun:
    name = "Zigbee2MQTT"

    def __init__(self, work, mq, sim, z2m_dir, preload=None):
        datadir = os.path.join(work, "z2m")
        shutil.copytree(z2m_dir, datadir)
        self.z = z2m.Z2M(sim.port, mq.port, datadir=datadir, network={"log_level": "warning"})
        self.preload = preload or {}
        self.ready_ns = None

    def start(self):
        saved = {k: os.environ.get(k) for k in self.preload}
        os.environ.update(self.preload)
        try:
            self.z.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        return self

    @property
    def pid(self):
        return self.z.proc.pid

    def stop(self):
        self.z.stop(timeout=120)


def wait_up(c, prog, ieees, timeout, start=0, start_ns=0):
    """Waits for bridge/state online, bridge/info with the coordinator and the discovery of every
    plug in ieees; returns the monotonic ns of the last of them."""
    t1 = c.wait(on_topic(f"{BASE}/bridge/state", lambda v: v.get("state") == "online"), timeout, start,
                f"{prog.name} bridge/state online")[0]
    t2 = c.wait(on_topic(f"{BASE}/bridge/info", lambda v: (v.get("coordinator") or {}).get("ieee_address")),
                timeout, start, f"{prog.name} bridge/info")[0]
    t3 = 0
    if os.environ.get("LUMI_BENCH_DEBUG"):
        say(f"{prog.name}: online {(t1 - start_ns) / 1e9:.3f} s, info {(t2 - start_ns) / 1e9:.3f} s")
    for ieee in ieees:
        t3 = max(t3, c.wait(lambda t, p, ieee=ieee: t.startswith("homeassistant/switch/") and ieee in t and p,
                            timeout, start, f"{prog.name} discovery of {ieee}")[0])
    prog.net_ns = max(t1, t2)
    return max(t1, t2, t3)


# --------------------------------------------------------------------------------------------
# Provisioning: 200 plugs joined in the simulator's NV, known to both programs

def provision(max_plugs, log_dir):
    """Once per simulator build, Zigbee2MQTT version and plug count (cached next to the
    Zigbee2MQTT install): Zigbee2MQTT forms the network on a blank simulated stick and pairs plug 1
    for real (interview, configure); lumiplugd adopts that network and pairs plugs 2..N (fast);
    database.db then gets plugs 2..N as copies of Zigbee2MQTT's own entry for plug 1 with their
    IEEE and network addresses. lumiplugd's devices.json for a run comes from `lumiplugd
    --import-z2m` of the same directory, so both know exactly the same plugs.
    Returns (directory with nv.txt and z2m/, {n: nwk})."""
    with open(sim_binary(), "rb") as f:
        key = hashlib.sha256(f.read() + z2m.VERSION.encode() + str(max_plugs).encode()).hexdigest()[:16]
    root = os.path.join(os.path.dirname(z2m.install_dir()), f"bench-provision-{key}")
    if os.path.exists(os.path.join(root, "done.json")):
        with open(os.path.join(root, "done.json")) as f:
            return root, {int(k): v for k, v in json.load(f).items()}
    say(f"provisioning {max_plugs} plugs into {root} (once)")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    work = tempfile.mkdtemp(prefix="lumi-bench-prov-", dir=log_dir)
    nv = os.path.join(root, "nv.txt")
    with Mosquitto(workdir=mkd(work, "mosq")) as mq, \
            Sim(plugs=max_plugs, nv=nv, fast=True, workdir=mkd(work, "sim"), report_interval=3600) as sim:
        c = TClient(mq.port)
        zdir = os.path.join(root, "z2m")
        z = z2m.Z2M(sim.port, mq.port, datadir=zdir, network={"log_level": "info"})
        z.start()
        try:
            z.wait_log(r"Zigbee2MQTT started", timeout=300)
            pair(c, sim, [1], 300)
            time.sleep(5)
        finally:
            z.stop(timeout=120)
        lw = mkd(work, "lumi")
        m = c.mark()            # before the start: lumiplugd is online within milliseconds
        d = LumiRun(lw, mq, sim, level="info").start()
        try:
            wait_up(c, d, [], 120, m)
            for i in range(2, max_plugs + 1, 10):
                pair(c, sim, list(range(i, min(i + 10, max_plugs + 1))), 300)
                say(f"  paired up to {min(i + 9, max_plugs)}")
        finally:
            d.stop()
        nwk = {n: sim.plug(n)["nwk"] for n in range(1, max_plugs + 1)}
        assert all(sim.plug(n)["joined"] for n in range(1, max_plugs + 1))
        c.close()
    # database.db: Zigbee2MQTT's entries; plug 1 as the template of the others
    with open(os.path.join(zdir, "database.db")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    coord = [r for r in rows if r.get("type") == "Coordinator"]
    p1 = [r for r in rows if r.get("ieeeAddr") == ieee_of(1)]
    if len(coord) != 1 or len(p1) != 1 or p1[0].get("interviewState") != "SUCCESSFUL":
        raise RuntimeError(f"unexpected Zigbee2MQTT database after pairing plug 1: {rows}")
    out = [coord[0]]
    for n in range(1, max_plugs + 1):
        r = json.loads(json.dumps(p1[0]))
        r["id"] = n + 1
        r["ieeeAddr"] = ieee_of(n)
        r["nwkAddr"] = nwk[n]
        out.append(r)
    with open(os.path.join(zdir, "database.db"), "w") as f:
        f.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in out))
    for junk in ("log", "z2m-output.log", "state.json"):
        p = os.path.join(zdir, junk)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else (os.path.exists(p) and os.unlink(p))
    with open(os.path.join(root, "done.json"), "w") as f:
        json.dump(nwk, f)
    shutil.rmtree(work, ignore_errors=True)
    return root, nwk


def mkd(*parts):
    p = os.path.join(*parts)
    os.makedirs(p, exist_ok=True)
    return p


def pair(c, sim, numbers, timeout):
    m = c.mark()
    c.publish(f"{BASE}/bridge/request/permit_join", json.dumps({"time": 254}))
    c.wait(on_topic(f"{BASE}/bridge/response/permit_join"), 60, m, "permit_join response")
    m = c.mark()
    for n in numbers:
        sim.command(f"press {n}")
    for n in numbers:
        ev = c.wait(on_topic(f"{BASE}/bridge/event", lambda v, n=n: v.get("type") == "device_interview"
                             and v["data"].get("ieee_address") == ieee_of(n)
                             and v["data"].get("status") in ("successful", "failed")), timeout, m,
                    f"interview of plug {n}")
        if jload(ev[2])["data"]["status"] != "successful":
            raise RuntimeError(f"interview of plug {n} failed")


def run_dir_for(prov, n, work):
    """A Zigbee2MQTT data directory with the coordinator and plugs 1..n, and a copy of the NV."""
    zd = os.path.join(work, f"z2m-{n}")
    shutil.copytree(os.path.join(prov, "z2m"), zd)
    with open(os.path.join(zd, "database.db")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    keep = {ieee_of(i) for i in range(1, n + 1)}
    with open(os.path.join(zd, "database.db"), "w") as f:
        for r in rows:
            if r.get("type") == "Coordinator" or r.get("ieeeAddr") in keep:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
    nv = os.path.join(work, f"nv-{n}.txt")
    shutil.copy(os.path.join(prov, "nv.txt"), nv)
    return zd, nv


def make_prog(kind, work, mq, sim, zd, preload=None, prefix=()):
    if kind == "lumiplugd":
        return LumiRun(work, mq, sim, z2m_dir=zd, preload=preload, prefix=prefix)
    if kind == "lumiplugd-qos0":       # state messages as Zigbee2MQTT sends them by default
        return LumiRun(work, mq, sim, z2m_dir=zd, preload=preload, prefix=prefix, mqtt_extra="qos = 0\nretain = false\n")
    return Z2MRun(work, mq, sim, zd, preload=preload)


class Setup:
    """broker + simulator (n plugs, from the provisioned NV) + one program, all stopped at exit."""

    def __init__(self, kind, prov, n, work, report_interval=3600, preload=None, prefix=()):
        self.kind, self.prov, self.n, self.work = kind, prov, n, work
        self.report_interval, self.preload, self.prefix = report_interval, preload, prefix

    def __enter__(self):
        w = self.work
        zd, nv = run_dir_for(self.prov, self.n, w)
        self.mq = Mosquitto(workdir=mkd(w, "mosq")).start()
        self.sim = Sim(plugs=self.n, nv=nv, fast=True, workdir=mkd(w, "sim"),
                       report_interval=self.report_interval).start()
        self.sim.command("stamps")          # recording on
        self.c = TClient(self.mq.port)
        self.prog = make_prog(self.kind, mkd(w, "prog"), self.mq, self.sim, zd, self.preload, self.prefix)
        return self

    def start(self, timeout=600):
        m = self.c.mark()
        self.t0 = time.monotonic_ns()
        self.prog.start()
        self.up_ns = wait_up(self.c, self.prog, [ieee_of(i) for i in range(1, self.n + 1)], timeout, m, self.t0)
        return self

    def stamps(self):
        out = []
        while True:
            r = json.loads(self.sim.command("stamps", timeout=60))
            out += r["stamps"]
            if not r["more"]:
                return out

    def __exit__(self, *exc):
        for f in (lambda: self.prog.stop(), self.c.close, self.sim.stop, self.mq.stop):
            try:
                f()
            except Exception as e:     # noqa: BLE001 - every process is stopped whatever happens
                say(f"cleanup: {e}")


# --------------------------------------------------------------------------------------------
# Phases

def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def phase_startup(kind, prov, work, runs):
    """Start-up times (s) and, from the first run, VmHWM after 10 s idle with 1 plug."""
    res = {"startup": [], "ready": []}
    for i in range(runs):
        with Setup(kind, prov, 1, mkd(work, f"startup-{kind}-{i}")) as s:
            s.start()
            res["startup"].append((s.up_ns - s.t0) / 1e9)
            res.setdefault("net", []).append((s.prog.net_ns - s.t0) / 1e9)
            if getattr(s.prog, "ready_ns", None):
                res["ready"].append((s.prog.ready_ns - s.t0) / 1e9)
            if i == 0:
                time.sleep(10)
                pids = proc_tree(s.prog.pid)
                res["hwm_idle"] = sum(status_kib(p, "VmHWM") for p in pids)
                res["rss_idle"] = sum(status_kib(p, "VmRSS") for p in pids)
                res["smaps"], res["rollup"] = smaps_breakdown(s.prog.pid)
                res["pids_idle"] = len(pids)
                if kind == "lumiplugd" and LIBFLOOR:
                    res["floor"] = library_floor(s.mq.port)
    return res


LIBFLOOR = None         # tests/bench/libfloor.c, built by main()


def build_libfloor(work):
    """libfloor.c linked against lumiplugd's libraries, or None (and why) if it cannot be built."""
    out = os.path.join(work, "libfloor")
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "libsystemd", "libmosquitto", "json-c",
                         "libserialport", "inih"], capture_output=True, text=True)
    if pc.returncode != 0:
        say(f"library floor not measured: pkg-config: {pc.stderr.strip()}")
        return None
    r = subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, "libfloor.c")] + pc.stdout.split(),
                       capture_output=True, text=True)
    if r.returncode != 0:
        say(f"library floor not measured: {r.stderr.strip()}")
        return None
    return out


def library_floor(mq_port):
    """VmHWM/VmRSS (KiB) of libfloor: lumiplugd's libraries doing the least a daemon does with them."""
    r = subprocess.run([LIBFLOOR, "127.0.0.1", str(mq_port), "/dev/null"], capture_output=True, text=True,
                       timeout=60)
    try:
        hwm, rss = (int(x) for x in r.stdout.split())
    except ValueError:
        say(f"libfloor failed: {r.stdout}{r.stderr}")
        return None
    return {"hwm": hwm, "rss": rss}


def phase_latency(kind, prov, work, toggles, reports, iotrace_so):
    """Command and report latencies through the broker, and the time inside the program from its
    own system calls."""
    trace = os.path.join(work, f"iotrace-{kind}")
    preload = {"LD_PRELOAD": iotrace_so, "LUMI_IOTRACE": trace}
    res = {}
    with Setup(kind, prov, 1, mkd(work, f"latency-{kind}"), preload=preload) as s:
        s.start()
        time.sleep(3)
        name = ieee_of(1)
        nwk = s.sim.plug(1)["nwk"]
        topic = f"{BASE}/{name}"
        s.stamps()
        res["trace_from"] = time.monotonic_ns()
        # toggles: wait for the confirmed state each time
        pubs = []
        state_msgs_before = s.c.mark()
        for i in range(toggles):
            cur = s.sim.state(1)["state"] if i == 0 else want
            want = "OFF" if cur == "ON" else "ON"
            m = last_mark = s.c.mark()
            t = time.monotonic_ns()
            s.c.publish(f"{topic}/set", json.dumps({"state": "TOGGLE"}))
            pubs.append(t)
            s.c.wait(on_topic(topic, lambda v, w=want: v.get("state") == w), 30, m, f"toggle {i} state")
        time.sleep(1.5)
        toggle_state_msgs = sum(1 for _, t, _ in s.c.msgs[state_msgs_before:] if t == topic)
        # what the last toggle published on <base>/<name>, with the delay after its publish
        res["last_toggle_msgs"] = [(round((t - pubs[-1]) / 1e6, 3), p.decode(errors="replace"))
                                   for t, tp, p in s.c.msgs[last_mark:] if tp == topic]
        st = s.stamps()
        onoff = [x[0] for x in st if x[1] == 1 and x[2] == 0x24 and x[3] == 0x01 and x[5] == 6]
        res["cmd"] = pair_after(pubs, onoff)
        res["state_msgs_per_toggle"] = toggle_state_msgs / toggles
        # reports: one at a time
        res["reports_from"] = time.monotonic_ns()
        lat = []
        for i in range(reports):
            m = s.c.mark()
            t = time.monotonic_ns()
            s.sim.command("report 1")
            got = s.c.wait(lambda tp, p: tp == topic, 30, m, f"report {i} state")[0]
            st = s.stamps()
            sent = [x[0] for x in st if x[1] == 0 and x[2] == 0x44 and x[3] == 0x81 and x[5] == 0xFCC0
                    and x[4] == nwk and x[0] >= t]
            if sent:
                lat.append((got - sent[0]) / 1e9)
        time.sleep(1.0)
        res["rep"] = lat
    tr = [f for f in os.listdir(work) if f.startswith(f"iotrace-{kind}.")]
    res["inside"] = analyse_iotrace([os.path.join(work, f) for f in tr], res["trace_from"], res["reports_from"])
    return res


def pair_after(starts, stamps):
    """For each start time, the first stamp after it (both ns); latencies in s."""
    out, j = [], 0
    stamps = sorted(stamps)
    for t in starts:
        while j < len(stamps) and stamps[j] < t:
            j += 1
        if j < len(stamps):
            out.append((stamps[j] - t) / 1e9)
            j += 1
    return out


REC = 40


def analyse_iotrace(paths, since, reports_from):
    """Time inside the program, from its own system calls (iotrace.so records):
    command: the epoll wake-up before the MQTT PUBLISH was read -> return of the write() of the
             AF_DATA_REQUEST (FE len 24 01) to the serial port;
    report:  the epoll wake-up before the serial read of an AF_INCOMING_MSG (FE len 44 81) -> return
             of the first write of an MQTT PUBLISH (first byte 0x3X) to the broker socket.
    All threads of a process share the record array, in call order of their return.
    Each direction is taken only from the phase where its input is the only one in flight: MQTT ->
    serial from the toggles (since .. reports_from), serial -> MQTT from the one-at-a-time reports
    (reports_from ..). During a toggle the plug sends a default response and then an attribute
    report, so "the first frame in -> the next publish out" would also count the time between
    the two frames, which is not time spent inside the program."""
    import struct
    cmd, rep = [], []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        recs = []
        for i in range(len(data) // REC):
            t0, t1, ret, fd, op, kindb, nb, _, b, _ = struct.unpack_from("<QQiiBBBB8sI", data, i * REC)
            recs.append((t0, t1, ret, fd, op, kindb, b[:nb]))
        recs = sorted((r for r in recs if r[1] >= since), key=lambda r: r[1])
        last_epoll = None
        pending_cmd = pending_rep = None
        for t0, t1, ret, fd, op, k, b in recs:
            if op == 3:
                if ret > 0:
                    last_epoll = t1
                continue
            if op == 1 and ret > 0 and k == 1 and b and (b[0] & 0xF0) == 0x30:
                pending_cmd = last_epoll
            elif op == 1 and ret > 0 and k == 3 and len(b) >= 4 and b[0] == 0xFE and b[2] == 0x44 and b[3] == 0x81:
                if pending_rep is None:
                    pending_rep = last_epoll
            elif op == 2 and ret > 0 and k == 3 and len(b) >= 4 and b[0] == 0xFE and b[2] == 0x24 and b[3] == 0x01:
                if pending_cmd is not None and t1 < reports_from:
                    cmd.append((t1 - pending_cmd) / 1e9)
                pending_cmd = None
            elif op == 2 and ret > 0 and k == 1 and b and (b[0] & 0xF0) == 0x30:
                if pending_rep is not None and pending_rep >= reports_from:
                    rep.append((t1 - pending_rep) / 1e9)
                pending_rep = None
    return {"cmd": cmd, "rep": rep}


def phase_callgrind(prov, work, reports, toggles):
    """lumiplugd under callgrind, instrumentation switched on only around the reports and toggles."""
    out = os.path.join(work, "callgrind.out")
    prefix = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"]
    res = {}
    with Setup("lumiplugd", prov, 1, mkd(work, "callgrind"), prefix=prefix) as s:
        s.start(timeout=300)
        time.sleep(2)
        topic = f"{BASE}/{ieee_of(1)}"
        vpid = s.prog.pid
        want = s.sim.state(1)["state"]
        for what, n in (("report", reports), ("toggle", toggles)):
            subprocess.run(["callgrind_control", "-z", str(vpid)], capture_output=True, timeout=60)
            subprocess.run(["callgrind_control", "-i", "on", str(vpid)], capture_output=True, timeout=60)
            for i in range(n):
                m = s.c.mark()
                if what == "report":
                    s.sim.command("report 1")
                    s.c.wait(lambda tp, p: tp == topic, 60, m, "report state")
                else:
                    # a toggle is done when both its state messages came (the confirmed command, then
                    # the plug's report of onOff): the next one never finds the previous still queued
                    want = "OFF" if want == "ON" else "ON"
                    s.c.publish(f"{topic}/set", json.dumps({"state": "TOGGLE"}))
                    is_new = on_topic(topic, lambda v, w=want: v.get("state") == w)
                    first = s.c.wait(is_new, 60, m, "toggle state")
                    try:
                        s.c.wait(is_new, 5, s.c.msgs.index(first, m) + 1, "toggle report")
                    except TimeoutError:
                        pass
            time.sleep(1.0)
            subprocess.run(["callgrind_control", "-i", "off", str(vpid)], capture_output=True, timeout=60)
            subprocess.run(["callgrind_control", "-d", what, str(vpid)], capture_output=True, timeout=60)
            dumps = sorted(f for f in os.listdir(work) if f.startswith("callgrind.out.") and not f.endswith(".txt"))
            newest = max((os.path.join(work, f) for f in dumps), key=os.path.getmtime)
            ann = subprocess.run(["callgrind_annotate", "--threshold=95", newest], capture_output=True,
                                 text=True, timeout=120).stdout
            total = 0
            for line in ann.splitlines():
                if "PROGRAM TOTALS" in line:
                    total = int(line.split()[0].replace(",", ""))
            res[what] = total / n
            res[what + "_top"] = top_functions(ann, 8)
    return res


def top_functions(ann, k):
    """The first k rows "Ir (pct%) file:function" of callgrind_annotate's function list."""
    import re
    rows, started = [], False
    rx = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$")
    for line in ann.splitlines():
        if line.startswith("Ir") and "file:function" in line:
            started = True
            continue
        m = rx.match(line) if started else None
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2).strip()))
        if len(rows) >= k:
            break
    return rows


SETTLE_MIN_S = 5            # after start: reports flowing
SETTLE_QUIET_S = 3          # ... and the program has sent no request to a plug for this long
SETTLE_MAX_S = 240


def settle(s, pids):
    """Waits until the program's start-up work towards the plugs is over, so that the scale window
    measures reports only: at least SETTLE_MIN_S, then until it has sent no AF_DATA_REQUEST for
    SETTLE_QUIET_S (lumiplugd reads back four settings of every plug after a start, at most 20 reads
    a second: 40 s with 200 plugs; Zigbee2MQTT sends nothing). Returns that work's figures: seconds
    from the first look, requests sent, CPU seconds."""
    t_start, c_start = time.monotonic(), cpu_s(pids)
    s.stamps()
    time.sleep(SETTLE_MIN_S)
    requests, last = 0, time.monotonic()
    while True:
        now = time.monotonic()
        sent = [x for x in s.stamps() if x[1] == 1 and x[2] == 0x24 and x[3] == 0x01]
        requests += len(sent)
        if sent:
            last = max(x[0] for x in sent) / 1e9     # the simulator's CLOCK_MONOTONIC, as time.monotonic()
        if now - last >= SETTLE_QUIET_S or now - t_start >= SETTLE_MAX_S:
            break
        time.sleep(1)
    return {"seconds": max(0.0, last - t_start) if requests else 0.0, "requests": requests,
            "total_s": time.monotonic() - t_start, "cpu_s": cpu_s(pids) - c_start,
            "capped": time.monotonic() - t_start >= SETTLE_MAX_S}


def phase_scale(kind, prov, work, n, seconds):
    """n plugs each reporting every second for `seconds`: CPU, RSS, expected vs received."""
    with Setup(kind, prov, n, mkd(work, f"scale-{kind}-{n}"), report_interval=1) as s:
        s.start(timeout=900)
        nwk2n = {s.sim.plug(i)["nwk"]: i for i in range(1, n + 1)}
        pids = proc_tree(s.prog.pid)
        startup = settle(s, pids)
        c0, k0, t0 = cpu_s(pids), cpu_ticks_s(pids), time.monotonic_ns()
        u0, y0 = cpu_ticks_s(pids, (11,)), cpu_ticks_s(pids, (12,))
        m0 = s.c.mark()
        time.sleep(seconds)
        c1, k1, t1 = cpu_s(pids), cpu_ticks_s(pids), time.monotonic_ns()
        u1, y1 = cpu_ticks_s(pids, (11,)), cpu_ticks_s(pids, (12,))
        hwm = sum(status_kib(p, "VmHWM") for p in pids)
        rss = sum(status_kib(p, "VmRSS") for p in pids)
        time.sleep(3)                   # grace: messages of the window's last reports arrive
        st = s.stamps()
        sent = {}
        for x in st:
            if x[1] == 0 and x[2] == 0x44 and x[3] == 0x81 and x[5] == 0xFCC0 and t0 <= x[0] <= t1 and x[4] in nwk2n:
                sent.setdefault(nwk2n[x[4]], []).append(x[0])
        got = {}
        for t, tp, p in s.c.msgs[m0:]:
            if tp.startswith(f"{BASE}/0x") and tp.count("/") == 1:
                got.setdefault(tp[len(BASE) + 1:], []).append(t)
        expected = received = dropped = late = 0
        lat = []
        for i in range(1, n + 1):
            e = sent.get(i, [])
            r = sorted(got.get(ieee_of(i), []))
            expected += len(e)
            ls = pair_after(e, r)
            received += len(ls)
            dropped += len(e) - len(ls)
            late += sum(1 for v in ls if v > LATE_S)
            lat += ls
        reports = expected
        return {"n": n, "startup_work": startup, "cpu_s": c1 - c0, "cpu_ticks_s": k1 - k0, "user_s": u1 - u0, "sys_s": y1 - y0, "wall_s": (t1 - t0) / 1e9, "cpu_pct": 100 * (c1 - c0) / ((t1 - t0) / 1e9),
                "hwm": hwm, "rss": rss, "expected": expected, "received": received, "dropped": dropped,
                "late": late, "lat_p50": pct(lat, 50), "lat_p99": pct(lat, 99),
                "cpu_per_10k": (c1 - c0) / reports * 10000 if reports else float("nan"),
                "extra_msgs": sum(len(v) for v in got.values()) - received}


# --------------------------------------------------------------------------------------------
# Report

def cmd_version(args):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def gnuplot(script, outdir):
    if not shutil.which("gnuplot"):
        say("gnuplot not found (apt-get install gnuplot-nox): no plots")
        return False
    r = subprocess.run(["gnuplot"], input=script, text=True, cwd=outdir, capture_output=True, timeout=120)
    if r.returncode != 0:
        say(f"gnuplot failed: {r.stderr}")
        return False
    return True


def plots(outdir, R):
    have_z = "z2m" in R
    dat = os.path.join(outdir, "bench-scale.dat")
    with open(dat, "w") as f:
        f.write("# plugs lumi_rss_MiB lumi_cpu_pct z2m_rss_MiB z2m_cpu_pct\n")
        for i, L in enumerate(R["lumi"]["scale"]):
            Z = R["z2m"]["scale"][i] if have_z else None
            f.write(f"{L['n']} {L['hwm'] / 1024:.3f} {L['cpu_pct']:.3f} "
                    f"{(Z['hwm'] / 1024) if Z else 'NaN'} {Z['cpu_pct'] if Z else 'NaN'}\n")
    lat_files = []
    for who in ("lumi", "z2m"):
        if who not in R:
            continue
        for what in ("cmd", "rep"):
            xs = sorted(R[who]["lat"][what])
            p = os.path.join(outdir, f"bench-lat-{who}-{what}.dat")
            with open(p, "w") as f:
                for i, v in enumerate(xs):
                    f.write(f"{v * 1000:.4f} {(i + 1) / len(xs):.5f}\n")
            lat_files.append(p)
    common = "set terminal pngcairo size 900,520 font ',11'\nset grid\nset key left top\n"
    ok = gnuplot(common + f"""
set output 'bench-rss.png'
set title 'Peak RSS (VmHWM) against plugs reporting every second'
set xlabel 'plugs'; set ylabel 'MiB'; set logscale x; set logscale y
set xtics (1, 10, 50, 200)
plot 'bench-scale.dat' u 1:2 w lp lw 2 t 'lumiplugd', '' u 1:4 w lp lw 2 t 'Zigbee2MQTT'
set output 'bench-cpu.png'
set title 'CPU (% of one core) against plugs reporting every second'
set ylabel '% CPU'
plot 'bench-scale.dat' u 1:3 w lp lw 2 t 'lumiplugd', '' u 1:5 w lp lw 2 t 'Zigbee2MQTT'
""", outdir)
    for what, title in (("cmd", "publish <name>/set -> On/Off frame at the simulator"),
                        ("rep", "simulator writes a report -> state message at the subscriber")):
        lines = []
        for who, label in (("lumi", "lumiplugd"), ("z2m", "Zigbee2MQTT")):
            if who in R:
                lines.append(f"'bench-lat-{who}-{what}.dat' u 1:2 w l lw 2 t '{label}'")
        ok = gnuplot(common + f"""
set output 'bench-latency-{what}.png'
set title 'Latency, cumulative distribution: {title}'
set xlabel 'ms (log)'; set ylabel 'fraction'; set logscale x; set key right bottom
plot {', '.join(lines)}
""", outdir) and ok
    for p in lat_files + [dat]:
        os.unlink(p)
    return ok


def fmt_ms(x):
    return "n/a" if x != x else (f"{x * 1e6:.0f} µs" if x < 0.001 else f"{x * 1000:.2f} ms")


def mib(k):
    return f"{k / 1024:.2f} MiB"


def ratio(z, l, better_low=True):
    if z is None or not l or z != z or l != l:
        return "n/a"
    return f"{z / l:.1f}x"


def write_report(a, R, outdir, started, loads):
    L, Z = R["lumi"], R.get("z2m")
    rows = []

    def row(label, lv, zv, f, target=""):
        rows.append((label, f(lv), f(zv) if zv is not None else "not measured", ratio(zv, lv), target))

    sL = L["startup"]
    sZ = Z["startup"] if Z else None
    med = statistics.median
    row(f"start-up to bridge online + network up (bridge/info), median of {len(sL['net'])}", med(sL["net"]),
        med(sZ["net"]) if Z else None, lambda v: f"{v:.3f} s", "≥20x sooner")
    row(f"start-up to the plug's discovery published, median of {len(sL['startup'])}", med(sL["startup"]),
        med(sZ["startup"]) if Z else None, lambda v: f"{v:.3f} s", "")
    rows.append(("READY=1 (lumiplugd)", f"{med(sL['ready']):.3f} s" if sL["ready"] else "n/a", "-", "-", ""))
    row("peak RSS (VmHWM), 1 plug, 10 s idle", sL["hwm_idle"], sZ["hwm_idle"] if Z else None, mib, "≥30x lower")
    big = [x for x in L["scale"] if x["n"] == max(y["n"] for y in L["scale"])][0]
    bigZ = [x for x in Z["scale"] if x["n"] == big["n"]][0] if Z else None
    row(f"peak RSS (VmHWM), {big['n']} plugs reporting", big["hwm"], bigZ["hwm"] if Z else None, mib,
        "≥30x lower, < 4 MiB")
    floor = sL.get("floor")
    if floor:
        rows.append(("peak RSS of lumiplugd's libraries alone (tests/bench/libfloor.c)", mib(floor["hwm"]), "-", "-",
                     ""))
        rows.append((f"lumiplugd's own peak RSS above its libraries: 1 plug idle / {big['n']} plugs",
                     f"{mib(sL['hwm_idle'] - floor['hwm'])} / {mib(big['hwm'] - floor['hwm'])}", "-", "-", ""))
    for what, label in (("cmd", "command: publish set -> On/Off frame at sim"),
                        ("rep", "report: sim writes report -> state at subscriber")):
        for q in (50, 99):
            n = len(L["lat"][what])
            row(f"{label}, p{q} (n={n})", pct(L["lat"][what], q), pct(Z["lat"][what], q) if Z else None, fmt_ms)
    for what, label in (("cmd", "inside, MQTT in -> serial out"), ("rep", "inside, serial in -> MQTT out")):
        for q in (50, 99):
            n = len(L["lat"]["inside"][what])
            zl = Z["lat"]["inside"][what] if Z else []
            row(f"{label}, p{q} (n={n})", pct(L["lat"]["inside"][what], q), pct(zl, q) if zl else None, fmt_ms,
                "< 100 µs" if q == 50 else "< 1 ms")
    row(f"CPU s per 10,000 reports ({big['n']} plugs)", big["cpu_per_10k"], bigZ["cpu_per_10k"] if Z else None,
        lambda v: f"{v:.3f} s", "≥20x less")
    if "callgrind" in L:
        cg = L["callgrind"]
        rows.append(("instructions per report (callgrind)", f"{cg['report']:,.0f}", "-", "-", ""))
        rows.append(("instructions per toggle (callgrind)", f"{cg['toggle']:,.0f}", "-", "-", ""))
    rows.append(("state messages per toggle", f"{L['lat']['state_msgs_per_toggle']:.2f}",
                 f"{Z['lat']['state_msgs_per_toggle']:.2f}" if Z else "-", "-", ""))
    table = ["| figure | lumiplugd | Zigbee2MQTT | Z2M / lumiplugd | target |", "|---|---|---|---|---|"]
    table += [f"| {' | '.join(r)} |" for r in rows]

    scale = ["| plugs | program | CPU % | CPU s in window (schedstat / stat ticks) | CPU s / 10k reports "
             "| CPU µs / report | VmHWM | VmRSS end "
             "| reports sent | state msgs received | dropped | late (>1 s) | report latency p50 / p99 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for who, P in (("lumiplugd", L), ("Zigbee2MQTT", Z), ("lumiplugd, qos 0 / retain false", L)):
        if not P:
            continue
        for x in (P["scale"] if who != "lumiplugd, qos 0 / retain false" else [P["scale_qos0"]] if "scale_qos0" in P else []):
            per = x["cpu_s"] / x["expected"] * 1e6 if x["expected"] else float("nan")
            scale.append(f"| {x['n']} | {who} | {x['cpu_pct']:.2f} | {x['cpu_s']:.3f} / {x.get('cpu_ticks_s', float('nan')):.2f} "
                         f"| {x['cpu_per_10k']:.3f} | {per:.1f} | {mib(x['hwm'])} "
                         f"| {mib(x['rss'])} | {x['expected']} | {x['received']} | {x['dropped']} | {x['late']} "
                         f"| {fmt_ms(x['lat_p50'])} / {fmt_ms(x['lat_p99'])} |")

    # the start-up work the scale windows leave out (settle())
    startup_work = ["| plugs | program | requests to plugs after start | over | CPU s meanwhile | of which above "
                    "the reports' rate | per request |", "|---|---|---|---|---|---|---|"]
    for who, P in (("lumiplugd", L), ("Zigbee2MQTT", Z)):
        for x in (P["scale"] if P else []):
            w = x.get("startup_work")
            if not w:
                continue
            extra = w["cpu_s"] - x["cpu_s"] / x["wall_s"] * w["total_s"]
            per = f"{extra / w['requests'] * 1e6:.0f} µs" if w["requests"] else "-"
            startup_work.append(f"| {x['n']} | {who} | {w['requests']}{' (capped)' if w['capped'] else ''} "
                                f"| {w['seconds']:.1f} s | {w['cpu_s']:.3f} | {extra:.3f} | {per} |")

    # targets
    tg = []

    def target(label, ok):
        tg.append(f"- {'MET ' if ok else 'MISSED'} {label}")
    if Z:
        target(f"peak memory ≥30x below Zigbee2MQTT: idle {sZ['hwm_idle'] / sL['hwm_idle']:.1f}x, "
               f"{big['n']} plugs {bigZ['hwm'] / big['hwm']:.1f}x",
               sZ["hwm_idle"] >= 30 * sL["hwm_idle"] and bigZ["hwm"] >= 30 * big["hwm"])
    target(f"< 4 MiB RSS with {big['n']} plugs: {mib(big['hwm'])}"
           + (f" (the libraries alone: {mib(floor['hwm'])})" if floor else ""), big["hwm"] < 4096)
    if Z:
        r = med(sZ["net"]) / med(sL["net"])
        target(f"ready (bridge online, network up) ≥20x sooner: {r:.1f}x", r >= 20)
        r = med(sZ["startup"]) / med(sL["startup"])
        target(f"discovery published ≥20x sooner: {r:.1f}x", r >= 20)
    for what, label in (("cmd", "MQTT -> serial"), ("rep", "serial -> MQTT")):
        xs = L["lat"]["inside"][what]
        target(f"time inside lumiplugd {label} p50 < 100 µs, p99 < 1 ms: {fmt_ms(pct(xs, 50))} / {fmt_ms(pct(xs, 99))}",
               bool(xs) and pct(xs, 50) < 100e-6 and pct(xs, 99) < 1e-3)
    if Z:
        r = bigZ["cpu_per_10k"] / big["cpu_per_10k"] if big["cpu_per_10k"] else float("inf")
        target(f"≥20x less CPU per report ({big['n']} plugs): {r:.1f}x", r >= 20)
    # Flat per-plug cost: the CPU per report must not grow with the number of plugs (it falls while
    # the fixed cost of the 1 s timers is shared by more reports), and neither may the memory each
    # added plug costs.
    pts = [x for x in L["scale"] if x["expected"]]
    if len(pts) >= 2:
        per = [x["cpu_s"] / x["expected"] * 1e6 for x in pts]
        grows = [f"{pts[i]['n']}->{pts[i + 1]['n']}" for i in range(len(pts) - 1) if per[i + 1] > 1.25 * per[i]]
        target(f"per-plug cost flat from {pts[0]['n']} to {pts[-1]['n']} plugs: CPU per report "
               + ", ".join(f"{x['n']}: {v:.0f} µs" for x, v in zip(pts, per))
               + (f" (grows {', '.join(grows)})" if grows else " (never grows by more than 25%)"), not grows)
        mem = [(pts[i + 1]["hwm"] - pts[i]["hwm"]) / (pts[i + 1]["n"] - pts[i]["n"]) for i in range(len(pts) - 1)]
        tg.append("- memory per added plug (VmHWM difference / plugs added): "
                  + ", ".join(f"{pts[i]['n']}->{pts[i + 1]['n']}: {m:.1f} KiB" for i, m in enumerate(mem)))

    mem = open("/proc/meminfo").readline().split()[1]
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    env = [f"- date: {started} to {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
           f"- machine: {cpu}, {os.cpu_count()} CPUs, {int(mem) // 1024} MiB RAM; kernel {platform.release()}; "
           f"{cmd_version(['sh', '-c', '. /etc/os-release; echo $PRETTY_NAME'])}",
           f"- load average (1/5/15 min) at start: {loads[0]}, at end: {loads[1]} (the machine is shared)",
           f"- lumiplugd: {cmd_version([binary(), '--version'])}, meson buildtype "
           f"{a.buildtype} ({os.path.realpath(os.path.join(os.path.dirname(binary()), '..'))})",
           f"- Zigbee2MQTT: {z2m.VERSION if Z else 'not measured'} (npm, {z2m.install_dir()}), "
           f"node {cmd_version(['node', '--version'])}",
           f"- mosquitto: {cmd_version(['sh', '-c', 'mosquitto -h | head -1'])}, `set_tcp_nodelay true`",
           f"- simulator: lumiplug-sim --fast (no simulated serial or radio delay)",
           f"- run: {' '.join(sys.argv[1:]) or '(defaults)'}"]

    sm = sorted(sL["smaps"].items(), key=lambda kv: -kv[1][0])
    smaps = ["| mapping | RSS kB | anonymous kB |", "|---|---|---|"]
    smaps += [f"| {k} | {v[0]} | {v[1]} |" for k, v in sm if v[0] > 0]
    ro = sL["rollup"]
    cg_lines = []
    if "callgrind" in L:
        for what in ("report", "toggle"):
            cg_lines.append(f"\nTop functions (self instructions summed over the measured {what}s), total {L['callgrind'][what]:,.0f} per {what}:\n")
            cg_lines += [f"    {ir:>12,}  {fn}" for ir, fn in L["callgrind"][what + "_top"]]

    tog = []
    for who, P in (("lumiplugd", L), ("Zigbee2MQTT", Z)):
        if P:
            tog.append(f"{who}, the last toggle, ms after the publish of set: payload")
            tog += [f"    {ms:8.3f}  {pl}" for ms, pl in P["lat"].get("last_toggle_msgs", [])]
    text = f"""# lumiplugd vs Zigbee2MQTT: benchmark

Written by `tests/bench/run-bench.py` (issue 10). Both programs ran one after the other on the same
machine, against the same broker configuration and the same simulator build, with the same
pre-provisioned plugs.

{chr(10).join(env)}

## Figures

{chr(10).join(table)}

## Targets (printed, never a failing test)

{chr(10).join(tg)}

## Scale: every plug reports (0xFCC0 TLV) every second for {a.seconds} s

{chr(10).join(scale)}

Each window starts once the program's start-up work towards the plugs is over (at least
{SETTLE_MIN_S} s after start, then {SETTLE_QUIET_S} s without a request sent to a plug): lumiplugd reads
back four settings of every plug after each start (its `enforce_settings` read-back, at most 20 reads
a second), which is not report work; Zigbee2MQTT sends nothing. That work, measured apart:

{chr(10).join(startup_work)}

![RSS](bench-rss.png)
![CPU](bench-cpu.png)
![command latency](bench-latency-cmd.png)
![report latency](bench-latency-rep.png)

## Where lumiplugd's memory is (1 plug idle, /proc/pid/smaps)

RssAnon {ro.get('Anonymous', 0)} kB, total Rss {ro.get('Rss', 0)} kB, Pss {ro.get('Pss', 0)} kB
(shared library pages are counted in full in RSS, shared with every other process that maps them in PSS).

{chr(10).join(smaps)}
{chr(10).join(cg_lines)}

## State messages after one toggle

{chr(10).join(tog)}
"""
    path = os.path.join(outdir, "bench-results.md")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(outdir, "bench-results.json"), "w") as f:
        json.dump(R, f, default=str)
    print("\n".join(table))
    print()
    print("\n".join(scale))
    print("\n".join(startup_work))
    print()
    print("\n".join(tg))
    say(f"results written to {path} (+ PNGs)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE), help="directory of the results and PNGs")
    ap.add_argument("--toggles", type=int, default=1000)
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--startup-runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--scale", default="1,10,50,200")
    ap.add_argument("--callgrind", type=int, default=200, help="reports and toggles under callgrind (0: skip)")
    ap.add_argument("--no-z2m", action="store_true")
    ap.add_argument("--quick", action="store_true", help="short development run")
    ap.add_argument("--only", default="", help="comma list of phases: startup,latency,callgrind,scale")
    a = ap.parse_args()
    if a.quick:
        a.toggles, a.reports, a.startup_runs, a.seconds, a.callgrind = 50, 50, 1, 10, 20
    scale = [int(x) for x in a.scale.split(",")]
    if not os.environ.get("LUMI_BUILD_ROOT"):
        sys.exit("set LUMI_BUILD_ROOT to the meson build directory (e.g. build)")
    intro = subprocess.run(["meson", "introspect", "--buildoptions", os.environ["LUMI_BUILD_ROOT"]],
                           capture_output=True, text=True)
    try:
        a.buildtype = [o["value"] for o in json.loads(intro.stdout) if o["name"] == "buildtype"][0]
    except (ValueError, IndexError):
        a.buildtype = "unknown"
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load0 = open("/proc/loadavg").read().split()[:3]
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="lumi-bench-")
    so = os.path.join(work, "iotrace.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "iotrace.c"), "-ldl"], check=True)
    if not a.no_z2m:
        try:
            z2m.install(log=say)
        except z2m.NpmUnreachable as e:
            say(f"Zigbee2MQTT not measured: {e}")
            a.no_z2m = True
    global LIBFLOOR
    LIBFLOOR = build_libfloor(work)
    prov, _ = provision(max(scale), work)
    if prov is None:
        sys.exit("the benchmark needs Zigbee2MQTT to provision the plugs (npm registry unreachable)")
    R = {}
    only = set(a.only.split(",")) if a.only else {"startup", "latency", "callgrind", "scale"}
    kinds = [("lumi", "lumiplugd")] + ([] if a.no_z2m else [("z2m", "zigbee2mqtt")])
    for who, kind in kinds:
        P = R.setdefault(who, {})
        if "startup" in only:
            say(f"{kind}: start-up x{a.startup_runs} and idle memory")
            P["startup"] = phase_startup(kind, prov, work, a.startup_runs)
        if "latency" in only:
            say(f"{kind}: {a.toggles} toggles and {a.reports} reports")
            P["lat"] = phase_latency(kind, prov, work, a.toggles, a.reports, so)
        if "callgrind" in only and kind == "lumiplugd" and a.callgrind > 0:
            say("lumiplugd under callgrind")
            P["callgrind"] = phase_callgrind(prov, work, a.callgrind, a.callgrind)
    if "scale" in only:
        for n in scale:
            for who, kind in kinds:
                say(f"{kind}: {n} plugs reporting every second for {a.seconds} s")
                R[who].setdefault("scale", []).append(phase_scale(kind, prov, work, n, a.seconds))
        # lumiplugd's defaults are retain = true, qos = 1 for state; Zigbee2MQTT's are false and 0
        say(f"lumiplugd with qos = 0, retain = false: {max(scale)} plugs for {a.seconds} s")
        R["lumi"]["scale_qos0"] = phase_scale("lumiplugd-qos0", prov, work, max(scale), a.seconds)
    load1 = open("/proc/loadavg").read().split()[:3]
    if only == {"startup", "latency", "callgrind", "scale"}:
        plots(a.out, R)
        write_report(a, R, a.out, started, ("/".join(load0), "/".join(load1)))
    else:
        path = os.path.join(a.out, "bench-partial.json")
        with open(path, "w") as f:
            json.dump(R, f, default=str)
        say(f"phases {a.only}: results in {path}")
    if not os.environ.get("LUMI_KEEP_WORKDIR"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        say(f"work directory kept: {work}")


if __name__ == "__main__":
    main()
