"""A real mosquitto broker on 127.0.0.1 for tests, and a small MQTT client around paho.

Each test starts its own broker on a free port, so tests never share state.
"""
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import paho.mqtt.client as paho

from daemon import scaled


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class Mosquitto:
    """mosquitto started on a free loopback port; extra config lines may be given."""

    def __init__(self, port=None, extra_config="", allow_anonymous=True, workdir=None):
        self.port = port or free_port()
        self.workdir = workdir or tempfile.mkdtemp(prefix="lumi-mosq-")
        self.extra_config = extra_config
        self.allow_anonymous = allow_anonymous
        self.proc = None
        self.log_path = os.path.join(self.workdir, "mosquitto.log")

    def config_text(self):
        return (f"listener {self.port} 127.0.0.1\n"
                f"allow_anonymous {'true' if self.allow_anonymous else 'false'}\n"
                "persistence false\n"
                "set_tcp_nodelay true\n"
                f"{self.extra_config}\n")

    def start(self):
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = os.path.join(self.workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(self.config_text())
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([exe, "-c", conf, "-v"], stdout=self.log, stderr=self.log)
        if not wait_port(self.port):
            raise RuntimeError(f"mosquitto did not start on port {self.port}, see {self.log_path}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL, as a crash or an OOM kill: no clean disconnect of the clients."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Client:
    """A subscriber/publisher that records every message and can wait for one."""

    def __init__(self, port, client_id=None, username=None, password=None):
        self.messages = []          # (topic, payload bytes, retain)
        self.cond = threading.Condition()
        self.c = paho.Client(client_id=client_id or f"test-{os.getpid()}-{time.monotonic_ns()}",
                             protocol=paho.MQTTv311)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.on_message = self._on_message
        self.connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: self.connected.set() if rc == 0 else None
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise RuntimeError("test MQTT client could not connect")

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def subscribe(self, topic, qos=1):
        done = threading.Event()
        self.c.on_subscribe = lambda *a: done.set()
        self.c.subscribe(topic, qos)
        done.wait(5)

    def publish(self, topic, payload, retain=False, qos=1):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish()

    def wait_for(self, topic, predicate=None, timeout=10.0, start=0):
        """First message on topic (from index start) whose payload satisfies predicate."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.messages):
                    t, p, r = self.messages[i]
                    i += 1
                    if paho.topic_matches_sub(topic, t) and (predicate is None or predicate(p)):
                        return t, p, r
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m for m in self.messages if paho.topic_matches_sub(topic, m[0])]
                    raise TimeoutError(f"no message on {topic} matching within {timeout}s; saw {seen[-5:]}")
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.messages)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
