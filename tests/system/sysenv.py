"""Shared set-up of the system tests: mosquitto + lumiplug-sim (--fast) + lumiplugd as real
processes, a watcher subscribed to everything the daemon publishes, and helpers for the steps every
test repeats (wait for the network, pair plugs, read bridge/devices). Everything is stopped at the
end, also on failure."""
import json
import os
import shutil
import sys
import tempfile
import time

from broker import Client, Mosquitto
from daemon import Daemon, scaled
from sim import Sim, ieee_of

BASE = "zigbee2mqtt"


def ini_text(broker_port, port, state_dir, zigbee="", extra="", level="debug"):
    return (f"[mqtt]\nhost = 127.0.0.1\nport = {broker_port}\nbase_topic = {BASE}\n\n"
            f"[serial]\nport = {port}\n\n"
            f"[state]\ndirectory = {state_dir}\n\n"
            f"[zigbee]\n{zigbee}\n"
            f"[log]\nlevel = {level}\ntarget = stderr\n\n{extra}")


def loads(payload):
    return json.loads(payload.decode()) if payload else None


class Env:
    """with Env(plugs=2) as e: e.start_daemon(); e.wait_network(); e.pair(1) ..."""

    def __init__(self, plugs=1, zigbee="", extra="", nv=None, workdir=None, sim_args=(), report_interval=None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="lumi-system-")
        self.state_dir = os.path.join(self.workdir, "state")
        self.plugs = plugs
        self.zigbee = zigbee
        self.extra = extra
        self.nv = nv or os.path.join(self.workdir, "nv.txt")
        self.sim_args = sim_args
        self.report_interval = report_interval
        self.broker = self.sim = self.watcher = None
        self.daemons = []

    def __enter__(self):
        self.broker = Mosquitto(workdir=os.path.join(self.workdir, "mosq"))
        os.makedirs(self.broker.workdir, exist_ok=True)
        self.broker.start()
        self.start_sim()
        self.watcher = Client(self.broker.port)
        self.watcher.subscribe(f"{BASE}/#")
        self.watcher.subscribe("homeassistant/#")
        return self

    def start_sim(self):
        os.makedirs(os.path.join(self.workdir, "sim"), exist_ok=True)
        self.sim = Sim(plugs=self.plugs, nv=self.nv, fast=True, workdir=os.path.join(self.workdir, "sim"),
                       report_interval=self.report_interval, extra_args=self.sim_args).start()
        return self.sim

    def ini(self, zigbee=None, extra=None):
        return ini_text(self.broker.port, self.sim.port, self.state_dir,
                        self.zigbee if zigbee is None else zigbee, self.extra if extra is None else extra)

    def start_daemon(self, args=(), zigbee=None, extra=None):
        d = Daemon(self.ini(zigbee, extra), args=args,
                   workdir=tempfile.mkdtemp(prefix="daemon-", dir=self.workdir))
        d.start()
        self.daemons.append(d)
        self.daemon = d
        return d

    def __exit__(self, *exc):
        for d in self.daemons:
            d.finish()
            if exc[0] is not None:
                sys.stderr.write(f"--- lumiplugd log {d.stderr_path}:\n{d.log()[-20000:]}\n")
        if self.watcher:
            self.watcher.close()
        if self.sim:
            if exc[0] is not None:
                try:
                    sys.stderr.write(f"--- sim log:\n{open(self.sim.log).read()[-5000:]}\n")
                except OSError:
                    pass
            self.sim.stop()
        if self.broker:
            self.broker.stop()
        if exc[0] is None and not os.environ.get("LUMI_KEEP_WORKDIR"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            sys.stderr.write(f"--- work directory kept: {self.workdir}\n")

    # --- helpers -------------------------------------------------------------------------------

    def wait(self, topic, pred=None, timeout=30.0, start=0):
        """The JSON of the first message on topic from index start satisfying pred(json)."""
        def p(payload):
            try:
                v = loads(payload)
            except ValueError:
                return False
            return pred is None or pred(v)
        _, payload, _ = self.watcher.wait_for(topic, p, timeout=timeout, start=start)
        return loads(payload)

    def mark(self):
        return self.watcher.mark()

    def wait_network(self, start=0, timeout=60.0):
        """bridge/state online and bridge/info with a coordinator; returns bridge/info."""
        self.wait(f"{BASE}/bridge/state", lambda v: v.get("state") == "online", timeout=timeout, start=start)
        return self.wait(f"{BASE}/bridge/info",
                         lambda v: (v.get("coordinator") or {}).get("ieee_address") not in (None, ""),
                         timeout=timeout, start=start)

    def devices(self, start=0, pred=None, timeout=30.0):
        return self.wait(f"{BASE}/bridge/devices", pred, timeout=timeout, start=start)

    def request(self, name, payload, timeout=30.0):
        m = self.mark()
        self.watcher.publish(f"{BASE}/bridge/request/{name}", json.dumps(payload))
        return self.wait(f"{BASE}/bridge/response/{name}",
                         lambda v: v.get("transaction") == payload.get("transaction"), timeout=timeout, start=m)

    def permit_join(self, seconds=254):
        r = self.request("permit_join", {"time": seconds, "transaction": f"pj{time.monotonic_ns()}"})
        assert r["status"] == "ok", r
        return r

    def pair(self, n, start=None, timeout=60.0):
        """Presses plug n's button (permit join must be open); waits for a successful interview."""
        ieee = ieee_of(n)
        m = self.mark() if start is None else start
        self.sim.command(f"press {n}")
        ev = self.wait(f"{BASE}/bridge/event",
                       lambda v: v.get("type") == "device_interview" and v["data"].get("ieee_address") == ieee
                       and v["data"].get("status") in ("successful", "failed"), timeout=timeout, start=m)
        assert ev["data"]["status"] == "successful", ev
        return ev


def wait_until(fn, timeout=30.0, what="condition", interval=0.1):
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:      # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")
