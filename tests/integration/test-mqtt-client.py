#!/usr/bin/python3
"""src/mqtt through a small driver (mqtt-client.c): what is published while the broker is away is
queued with a bound (the oldest non-retained messages go first, a newer retained message replaces an
older one on the same topic), sent on connect; registered subscriptions are renewed on every
reconnect (each SUBACK reported); connect hooks run after each (re)connect; unsubscribe stops
deliveries; the retained messages of a QoS 0 subscription all come before the SUBACK of the next
SUBSCRIBE (the fence the discovery wait relies on); shutdown publishes offline."""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

from broker import Client, Mosquitto, free_port
from daemon import build_root, scaled, wrapper

BASE = "lumimc"
PENDING_MAX = 256


class Driver:
    def __init__(self, port, *extra):     # extra: [VERSION [CLIENT_ID]] (mqtt-client.c)
        exe = os.path.join(build_root(), "tests", "integration", "mqtt-client")
        self.stderr_path = os.path.join(tempfile.mkdtemp(prefix="lumi-mqtt-client-"), "stderr.log")
        self.stderr = open(self.stderr_path, "wb")
        # behind LUMIPLUGD_WRAPPER too: it is src/mqtt under test
        self.p = subprocess.Popen([*wrapper(), exe, str(port), BASE, *map(str, extra)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.stderr, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def expect(self, pred, timeout=15.0, what=None):
        for i, line in enumerate(self.seen):
            if pred(line):
                del self.seen[i]
                return line
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"driver did not say {what} within {timeout}s; said {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.startswith("error"):
                raise AssertionError(f"driver: {line}")
            if pred(line):
                return line
            self.seen.append(line)

    def expect_line(self, text, timeout=15.0):
        return self.expect(lambda l: l == text, timeout, repr(text))

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.stderr.close()


def main():
    port = free_port()
    broker = Mosquitto(port=port)
    drv = Driver(port)
    watcher = None
    try:
        # Not started: everything published now is queued, within the bound.
        drv.send(f"subscribe {BASE}/set/#")
        drv.send(f"publish {BASE}/retained A retain")
        drv.expect_line("published")
        drv.send(f"publish {BASE}/retained B retain")
        drv.expect_line("published")
        drv.send(f"burst {BASE}/burst 300")
        drv.expect_line(f"pending {PENDING_MAX}")
        dropped = 300 + 1 - PENDING_MAX

        broker.start()
        watcher = Client(port)
        watcher.subscribe(f"{BASE}/#")
        drv.send("start")
        drv.expect_line("state connected")
        drv.expect_line("hook 1")

        watcher.wait_for(f"{BASE}/burst/299")
        watcher.wait_for(f"{BASE}/hook", lambda p: p == b"connect 1")
        watcher.wait_for(f"{BASE}/bridge/state", lambda p: json.loads(p) == {"state": "online"})
        burst = sorted(int(p) for t, p, _ in watcher.messages if t.startswith(f"{BASE}/burst/"))
        assert burst == list(range(dropped, 300)), burst
        retained = [p for t, p, _ in watcher.messages if t == f"{BASE}/retained"]
        assert retained == [b"B"], retained
        log = drv.log()
        assert f"dropping the oldest ({BASE}/burst/0)" in log, log
        assert f"{dropped} MQTT messages were dropped while the broker was unreachable" in log, log

        def delivered(topic, payload):
            # Retry: the broker may see our publish before the driver's SUBSCRIBE after a reconnect.
            deadline = time.monotonic() + scaled(15)
            while time.monotonic() < deadline:
                watcher.publish(topic, payload)
                try:
                    return drv.expect_line(f"message {topic} {payload}", timeout=0.5)
                except AssertionError:
                    pass
            raise AssertionError(f"{topic} never reached the driver; it said {drv.seen}")

        delivered(f"{BASE}/set/x", "hello")

        # The broker restarts: subscriptions are renewed, the hook runs again.
        watcher.close()
        broker.stop()
        drv.expect_line("state waiting")
        broker.start()
        watcher = Client(port)
        drv.expect_line("state connected", timeout=20)
        drv.expect_line("hook 2")
        drv.expect_line(f"subscribed {BASE}/set/#")            # renewed, and its SUBACK reported
        delivered(f"{BASE}/set/y", "again")

        # Unsubscribed: nothing more on that filter (checked against a later message on another one,
        # which the broker delivers after it).
        drv.send(f"unsubscribe {BASE}/set/#")
        drv.send(f"subscribe {BASE}/other")
        delivered(f"{BASE}/other", "ping")
        watcher.publish(f"{BASE}/set/z", "nope")
        delivered(f"{BASE}/other", "pong")
        assert not any(l.startswith(f"message {BASE}/set/z") for l in drv.seen), drv.seen
        while not drv.lines.empty():
            assert not drv.lines.get().startswith(f"message {BASE}/set/z")

        # The fence: mosquitto writes a QoS 0 subscription's retained messages before it reads the
        # client's next packet, so the next SUBSCRIBE's SUBACK comes after all of them (more than a
        # socket buffer of them: the broker cannot write them all at once).
        n, filler = 2000, "x" * 1000
        for i in range(n):
            watcher.publish(f"{BASE}/fence/{i}", f"{i} {filler}", retain=True)
        drv.send(f"subscribe0 {BASE}/fence/#")
        drv.send(f"subscribe {BASE}/after")
        drv.expect_line(f"subscribed {BASE}/after", timeout=60)
        got = [l for l in drv.seen if l.startswith(f"message {BASE}/fence/")]
        assert len(got) == n, (len(got), drv.seen[-3:])
        assert f"subscribed {BASE}/fence/#" in drv.seen
        drv.seen = [l for l in drv.seen if not l.startswith(f"message {BASE}/fence/")]

        # Shutdown: offline, retained, then the driver exits.
        watcher.subscribe(f"{BASE}/bridge/state")
        mark = watcher.mark()
        drv.send("quit")
        drv.expect_line("stopped")
        assert drv.p.wait(scaled(10)) == 0
        watcher.wait_for(f"{BASE}/bridge/state", lambda p: json.loads(p) == {"state": "offline"}, start=mark)
    except Exception:
        sys.stderr.write(f"--- driver stderr:\n{drv.log()}\n")
        raise
    finally:
        drv.kill()
        if watcher:
            watcher.close()
        broker.stop()
    print("ok")


if __name__ == "__main__":
    main()
