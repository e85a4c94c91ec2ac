#!/usr/bin/python3
"""Logging to the journal, checked field by field: the daemon runs in a private mount namespace
where /run/systemd/journal/socket is this test's own datagram socket, and the test parses the
journal's native protocol (KEY=VALUE lines, or KEY\\n<le64 size><data>\\n). Covers target=journal,
target=auto with JOURNAL_STREAM matching stderr (journal) and not matching (stderr), the
structured LUMIPLUGD_* fields, and that no secret is ever sent. Needs root (mount namespace).

Then a whole scenario with the simulator (pairing, a rename, a set, a bad payload, a failed bridge
request, a plug going offline so that AF_DATA_REQUEST fails, a coordinator reset, a plug leaving),
after which every captured entry whose MESSAGE names a plug's IEEE address, a friendly name, a topic
under the base topic or an MT command must carry the matching LUMIPLUGD_DEVICE=, LUMIPLUGD_NAME=,
LUMIPLUGD_TOPIC= or LUMIPLUGD_ZNP_CMD= field: a new log line without them fails here."""
import json
import re
import errno
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from broker import Client, Mosquitto
from daemon import Daemon, mqtt_ini, scaled, skip
from sim import Sim, ieee_of

IEEE = "0x00158d0001a2b3c4"
SECRET = "hunter2-do-not-log"


def parse_native(data):
    """One datagram of the journal's native protocol -> {field: value (str)}."""
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + size]
            assert data[nl + 9 + size:nl + 10 + size] == b"\n", "binary field not terminated by a newline"
            i = nl + 10 + size
        fields[k.decode()] = v.decode("utf-8", "replace")
    return fields


class JournalSocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lumi-journal-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.settimeout(0.2)
        self.raw = []
        self.entries = []
        self.lock = threading.Condition()
        self.running = True
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.raw.append(data)
                self.entries.append(parse_native(data))
                self.lock.notify_all()

    def wait_for(self, pred, timeout=15.0, what="entry"):
        deadline = time.monotonic() + scaled(timeout)
        with self.lock:
            while True:
                for e in self.entries:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no journal {what} within {timeout}s; got "
                                         f"{[e.get('MESSAGE') for e in self.entries]}")
                self.lock.wait(left)

    def clear(self):
        with self.lock:
            self.raw.clear()
            self.entries.clear()

    def close(self):
        self.running = False
        self.sock.close()


def namespace_prefix(sock_path):
    # A private /run in a private mount namespace, with the journal socket pointing at ours.
    script = ('mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal && '
              'ln -s "$0" /run/systemd/journal/socket && exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sock_path]


def main():
    if os.geteuid() != 0:
        skip("needs root for a private mount namespace (unshare -m) to stand in for journald")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        skip("unshare -m does not work here (no mount namespaces in this container)")

    js = JournalSocket()
    try:
        with Mosquitto() as broker:
            device = f"[device {IEEE}]\nfriendly_name = lamp\n"
            ini = mqtt_ini(broker.port, base_topic="jt", level="debug", target="journal", extra=device,
                           mqtt_extra=f"username = lumi\npassword = {SECRET}\n")

            # target=journal
            with Daemon(ini, prefix=namespace_prefix(js.path)) as d:
                e = js.wait_for(lambda e: e.get("MESSAGE", "").startswith("Connected to MQTT broker"))
                assert e["MESSAGE"] == f"Connected to MQTT broker 127.0.0.1:{broker.port}", e
                assert e["PRIORITY"] == "6", e
                assert e["SYSLOG_IDENTIFIER"] == "lumiplugd", e
                assert e["CODE_FILE"].endswith("src/mqtt/mqtt.c"), e
                assert e["CODE_LINE"].isdigit() and int(e["CODE_LINE"]) > 0, e
                assert e["CODE_FUNC"] == "mqtt_on_connect", e

                e = js.wait_for(lambda e: "LUMIPLUGD_DEVICE" in e, what="LUMIPLUGD_DEVICE")
                assert e["LUMIPLUGD_DEVICE"] == IEEE and e["LUMIPLUGD_NAME"] == "lamp", e
                assert e["PRIORITY"] == "7" and e["MESSAGE"] == f"Device {IEEE} is configured as 'lamp'", e

                e = js.wait_for(lambda e: "LUMIPLUGD_TOPIC" in e, what="LUMIPLUGD_TOPIC")
                assert e["LUMIPLUGD_TOPIC"] == "jt/bridge/state", e

                # A reload with a broken file: one error entry per bad line, then one with ERRNO=.
                good_ini = open(d.ini_path).read()
                d.write_ini(good_ini + "[mqtt]\nqos = 5\n[device 0x00158D00000000AA]\nbogus = 1\n")
                d.send_signal(signal.SIGHUP)
                e = js.wait_for(lambda e: e.get("MESSAGE", "").startswith("Reload failed"), what="Reload failed")
                assert e["PRIORITY"] == "3" and e["ERRNO"] == str(errno.EINVAL), e
                assert e["CODE_FUNC"] == "manager_reload", e
                e = js.wait_for(lambda e: e.get("MESSAGE", "").endswith("[mqtt] qos = '5': expected 0, 1 or 2"),
                                what="the bad line")
                assert e["PRIORITY"] == "3" and "ERRNO" not in e, e
                assert e["LUMIPLUGD_ERROR"] == "bad-configuration" and "LUMIPLUGD_DEVICE" not in e, e
                e = js.wait_for(lambda e: "[device 0x00158D00000000AA] bogus: unknown key" in e.get("MESSAGE", ""),
                                what="the bad device line")
                assert e["LUMIPLUGD_DEVICE"] == "0x00158d00000000aa" and e["PRIORITY"] == "3", e
                d.write_ini(good_ini)

                # A lost broker: a warning with LUMIPLUGD_ERROR.
                broker.stop()
                e = js.wait_for(lambda e: e.get("LUMIPLUGD_ERROR") == "mqtt-connection-lost",
                                what="LUMIPLUGD_ERROR=mqtt-connection-lost")
                assert e["PRIORITY"] == "4", e
                assert e["MESSAGE"].startswith(f"Lost the connection to MQTT broker 127.0.0.1:{broker.port}"), e
                broker.start()
                js.wait_for(lambda e: e.get("MESSAGE", "").startswith("Connected to MQTT broker") and e is not None
                            and len([x for x in js.entries if x.get("MESSAGE", "").startswith("Connected")]) >= 2,
                            timeout=20, what="second Connected")
                assert d.stop() == 0
                js.wait_for(lambda e: e.get("MESSAGE") == "Stopped", what="Stopped")
                assert d.log() == "", f"stderr should be empty with target=journal: {d.log()!r}"
                with js.lock:
                    assert not any(SECRET.encode() in r for r in js.raw), "the password reached the journal"
                    assert all(r.count(b"PRIORITY=") == 1 for r in js.raw)

            # target=auto, stderr is the stream systemd named in JOURNAL_STREAM: the journal.
            js.clear()
            auto_ini = ini.replace("target = journal", "target = auto")
            work = tempfile.mkdtemp(prefix="lumi-journal-auto-")
            stderr_path = os.path.join(work, "stderr.log")
            open(stderr_path, "w").close()
            st = os.stat(stderr_path)
            env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
            with Daemon(auto_ini, prefix=namespace_prefix(js.path), env=env, stderr_path=stderr_path,
                        workdir=work) as d:
                js.wait_for(lambda e: e.get("MESSAGE", "").startswith("Connected to MQTT broker"))
                assert d.stop() == 0
                assert d.log() == "", d.log()

            # target=auto, JOURNAL_STREAM names another file: plain lines on stderr, nothing to the journal.
            js.clear()
            env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}
            with Daemon(auto_ini, prefix=namespace_prefix(js.path), env=env) as d:
                d.wait_log(r"info: Connected to MQTT broker 127\.0\.0\.1:\d+\n")
                d.wait_log(rf"debug: Device {IEEE} is configured as 'lamp'\n")
                assert d.stop() == 0
                time.sleep(0.2)
                assert js.entries == [], js.entries
                assert SECRET not in d.log()
        js.clear()
        scenario(js)
    finally:
        js.close()
    print("ok")


IEEE_RE = re.compile(r"(?<!extended PAN ID )\b0x[0-9a-f]{16}\b")
MT_RE = re.compile(r"\b(?:SYS|AF|ZDO|UTIL|APP_CNF|ZB|RPC|MAC|APP|DEBUG)_[A-Z0-9_]*[A-Z0-9]\b")


def check_fields(entries, names, base):
    """Every entry naming a device, a name, a topic or an MT command carries the field; returns how
    many entries each rule checked."""
    checked = {"device": 0, "name": 0, "topic": 0, "znp_cmd": 0}
    bad = []
    for e in entries:
        msg = e.get("MESSAGE", "")
        ieees = set(IEEE_RE.findall(msg))
        if ieees:
            checked["device"] += 1
            if e.get("LUMIPLUGD_DEVICE") not in ieees:
                bad.append(("LUMIPLUGD_DEVICE", msg, e.get("LUMIPLUGD_DEVICE")))
        named = {n for n in names if re.search(rf"(?<![\w/]){re.escape(n)}(?![\w])", msg)}
        if named:
            checked["name"] += 1
            # a failed bridge request is about the device of its request, which the text may not name
            # ("friendly_name 'kitchen' is already in use" when renaming lamp)
            about_request = e.get("LUMIPLUGD_TOPIC", "").startswith(f"{base}/bridge/request/")
            if e.get("LUMIPLUGD_NAME") not in (names if about_request else named):
                bad.append(("LUMIPLUGD_NAME", msg, e.get("LUMIPLUGD_NAME")))
        topics = re.findall(rf"(?<![\w/]){re.escape(base)}/[^\s',)]+", msg)
        if topics:
            checked["topic"] += 1
            if e.get("LUMIPLUGD_TOPIC") not in topics:
                bad.append(("LUMIPLUGD_TOPIC", msg, e.get("LUMIPLUGD_TOPIC")))
        cmds = set(MT_RE.findall(msg))
        if cmds:
            checked["znp_cmd"] += 1
            if e.get("LUMIPLUGD_ZNP_CMD") not in cmds:
                bad.append(("LUMIPLUGD_ZNP_CMD", msg, e.get("LUMIPLUGD_ZNP_CMD")))
    assert not bad, "log lines without their journal fields:\n" + "\n".join(map(repr, bad))
    return checked


def scenario(js):
    base = "js"
    p1, p2 = ieee_of(1), ieee_of(2)
    sim = Sim(plugs=2, fast=True).start()
    try:
        with Mosquitto() as broker:
            device = f"[device {p1}]\nfriendly_name = lamp\n"
            ini = mqtt_ini(broker.port, base_topic=base, level="debug", target="journal", extra=device,
                           serial_port=sim.port)
            watcher = Client(broker.port)
            watcher.subscribe(f"{base}/#")
            try:
                with Daemon(ini, prefix=namespace_prefix(js.path)) as d:
                    def wait_msg(topic, pred, timeout=60):
                        return watcher.wait_for(topic, lambda p: pred(json.loads(p.decode() or "null")),
                                                timeout=timeout, start=0)

                    def request(name, payload):
                        m = watcher.mark()
                        watcher.publish(f"{base}/bridge/request/{name}", json.dumps(payload))
                        _, p, _ = watcher.wait_for(f"{base}/bridge/response/{name}", timeout=30, start=m)
                        return json.loads(p.decode())

                    wait_msg(f"{base}/bridge/info", lambda v: (v.get("coordinator") or {}).get("ieee_address"))
                    assert request("permit_join", {"time": 60})["status"] == "ok"
                    for n in (1, 2):
                        sim.command(f"press {n}")
                        wait_msg(f"{base}/bridge/event", lambda v, n=n: v.get("type") == "device_interview" and
                                 v["data"].get("ieee_address") == ieee_of(n) and v["data"]["status"] == "successful")
                    # rename, a working set, a bad payload, an unknown name, a refused request
                    assert request("device/rename", {"from": p2, "to": "kitchen"})["status"] == "ok"
                    watcher.publish(f"{base}/kitchen/set", json.dumps({"state": "ON"}))
                    wait_msg(f"{base}/kitchen", lambda v: v and v.get("state") == "ON")
                    watcher.publish(f"{base}/kitchen/set", "{not json")
                    js.wait_for(lambda e: e.get("LUMIPLUGD_ERROR") == "invalid-payload", what="invalid-payload")
                    watcher.publish(f"{base}/kitchen/set", json.dumps({"state": "MAYBE"}))
                    watcher.publish(f"{base}/nosuchplug/set", json.dumps({"state": "ON"}))
                    r = request("device/rename", {"from": "lamp", "to": "kitchen"})
                    assert r["status"] == "error", r
                    # plug 1 away: AF_DATA_REQUEST fails, the set fails, the plug goes offline
                    sim.command("offline 1")
                    watcher.publish(f"{base}/lamp/set", json.dumps({"state": "ON"}))
                    wait_msg(f"{base}/lamp/availability", lambda v: v == {"state": "offline"}, timeout=120)
                    # plug 2 leaves; then the coordinator resets by itself and is started again
                    sim.command("leave 2")
                    js.wait_for(lambda e: e.get("MESSAGE") == "Device 'kitchen' left the network", what="leave")
                    sim.command("reset")
                    js.wait_for(lambda e: e.get("LUMIPLUGD_ZNP_CMD") == "SYS_RESET_IND", what="SYS_RESET_IND")
                    js.wait_for(lambda e: e.get("MESSAGE") == "The coordinator is back", what="coordinator back")
                    assert d.stop() == 0
            finally:
                watcher.close()
    finally:
        sim.stop()

    with js.lock:
        entries = list(js.entries)
    find = lambda pred: [e for e in entries if pred(e)]
    # the events of the scenario are there, with their fields
    assert find(lambda e: e.get("MESSAGE", "").startswith(f"Device {p1} joined") and
                e.get("LUMIPLUGD_DEVICE") == p1 and e.get("LUMIPLUGD_NAME") == "lamp")
    assert find(lambda e: e.get("MESSAGE") == f"Renamed '{p2}' to 'kitchen'" and e.get("LUMIPLUGD_DEVICE") == p2 and
                e.get("LUMIPLUGD_NAME") == "kitchen")
    assert find(lambda e: e.get("LUMIPLUGD_ERROR") == "invalid-payload" and e.get("LUMIPLUGD_NAME") == "kitchen" and
                e.get("LUMIPLUGD_TOPIC") == f"{base}/kitchen/set" and e.get("PRIORITY") == "3")
    assert find(lambda e: e.get("LUMIPLUGD_ERROR") == "unknown-entity" and
                e.get("LUMIPLUGD_TOPIC") == f"{base}/nosuchplug/set")
    assert find(lambda e: e.get("LUMIPLUGD_ERROR") == "request-failed" and e.get("LUMIPLUGD_NAME") == "lamp" and
                e.get("LUMIPLUGD_TOPIC") == f"{base}/bridge/request/device/rename")
    assert find(lambda e: e.get("LUMIPLUGD_ZNP_CMD") == "AF_DATA_REQUEST" and e.get("LUMIPLUGD_DEVICE") == p1 and
                e.get("LUMIPLUGD_ERROR") == "af-status")
    assert find(lambda e: e.get("LUMIPLUGD_DEVICE") == p1 and e.get("LUMIPLUGD_TOPIC") == f"{base}/lamp/set" and
                e.get("LUMIPLUGD_ERROR") in ("delivery-failed", "timeout", "no-route"))
    assert find(lambda e: e.get("LUMIPLUGD_ZNP_CMD") == "SYS_RESET_IND" and e.get("LUMIPLUGD_ERROR") == "coordinator-reset")
    assert find(lambda e: e.get("LUMIPLUGD_ZNP_CMD") == "ZDO_STARTUP_FROM_APP" and e.get("MESSAGE", "").startswith("MT "))
    # and no entry names a device, a name, a topic or an MT command without the field
    checked = check_fields(entries, {"lamp", "kitchen"}, base)
    assert all(n > 0 for n in checked.values()), checked


if __name__ == "__main__":
    main()
