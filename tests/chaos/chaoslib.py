"""Shared set-up of the chaos tests: the system tests' Env (mosquitto + lumiplug-sim --fast +
lumiplugd as real processes) with several paired plugs that report every second, background
commands flowing from their own MQTT client, and helpers to check that a command was obeyed (the
simulated plug's own state, not only what the daemon says) and to read the daemon's RSS."""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))

import paho.mqtt.client as paho  # noqa: E402

from sim import ieee_of  # noqa: E402,F401 - re-exported for the tests
from sysenv import BASE, Env, wait_until  # noqa: E402,F401


def rss_kib(pid):
    """The resident set size of a process in KiB (VmRSS of /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def sanitized():
    """True when the daemon was built with a sanitizer: AddressSanitizer keeps freed memory in its
    quarantine (up to 256 MiB), so RSS says nothing about leaks there (LeakSanitizer checks at exit)."""
    root = os.environ.get("LUMI_BUILD_ROOT", "")
    try:
        with open(os.path.join(root, "meson-info", "intro-buildoptions.json")) as f:
            opts = json.load(f)
    except (OSError, ValueError):
        return False
    return any(o["name"] == "b_sanitize" and o["value"] not in ("none", "", []) for o in opts)


def start_and_pair(e, extra=None):
    """Starts the daemon of Env e and pairs all its plugs; returns the daemon."""
    d = e.start_daemon(extra=extra)
    e.wait_network()
    e.permit_join(254)
    for n in range(1, e.plugs + 1):
        e.pair(n)
    return d


def switch(e, n, want, timeout=60.0, name=None):
    """Sets plug n (named name, else its IEEE address) to want over MQTT; returns once the daemon
    published it and the simulated plug is in that state (the command was obeyed by the plug itself)."""
    name = name or ieee_of(n)
    m = e.mark()
    e.watcher.publish(f"{BASE}/{name}/set", json.dumps({"state": want}))
    e.wait(f"{BASE}/{name}", lambda v: v.get("state") == want, start=m, timeout=timeout)
    wait_until(lambda: e.sim.state(n)["state"] == want, what=f"plug {n} {want} in the simulator", timeout=timeout)


def fresh_watcher(e):
    """Replaces e.watcher by a new client subscribed to everything (after a broker restart the old one
    has lost its subscriptions); returns it."""
    try:
        e.watcher.close()
    except Exception:       # noqa: BLE001 - the old connection may be dead already
        pass
    from broker import Client
    e.watcher = Client(e.broker.port)
    e.watcher.subscribe(f"{BASE}/#")
    e.watcher.subscribe("homeassistant/#")
    return e.watcher


class Traffic:
    """Commands that flow all the time: a `get` of the state of each of the given plugs every
    `period` seconds, from a client of its own that reconnects by itself. Reads change nothing, so
    the tests' own checks of the plugs' state are not disturbed."""

    def __init__(self, port, plugs, period=0.2):
        self.plugs = list(plugs)
        self.period = period
        self.sent = 0
        self.stop_event = threading.Event()
        self.c = paho.Client(client_id=f"traffic-{os.getpid()}-{time.monotonic_ns()}", protocol=paho.MQTTv311)
        self.c.reconnect_delay_set(min_delay=1, max_delay=1)
        self.c.connect_async("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop_event.wait(self.period):
            n = self.plugs[i % len(self.plugs)]
            i += 1
            info = self.c.publish(f"{BASE}/{ieee_of(n)}/get", json.dumps({"state": ""}), qos=0)
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self.sent += 1

    def stop(self):
        self.stop_event.set()
        self.thread.join(5)
        self.c.loop_stop()
        self.c.disconnect()
