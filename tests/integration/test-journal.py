#!/usr/bin/python3
"""Logging to the journal, checked field by field: the daemon runs in a private mount namespace
where /run/systemd/journal/socket is this test's own datagram socket, and the test parses the
journal's native protocol (KEY=VALUE lines, or KEY\\n<le64 size><data>\\n). Covers target=journal,
target=auto with JOURNAL_STREAM matching stderr (journal) and not matching (stderr), the
structured LUMIPLUGD_* fields, and that no secret is ever sent. Needs root (mount namespace)."""
import errno
import os
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from broker import Mosquitto
from daemon import Daemon, mqtt_ini, scaled, skip

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
                d.write_ini(good_ini + "[mqtt]\nqos = 5\n")
                d.send_signal(signal.SIGHUP)
                e = js.wait_for(lambda e: e.get("MESSAGE", "").startswith("Reload failed"), what="Reload failed")
                assert e["PRIORITY"] == "3" and e["ERRNO"] == str(errno.EINVAL), e
                assert e["CODE_FUNC"] == "manager_reload", e
                e = js.wait_for(lambda e: e.get("MESSAGE", "").endswith("[mqtt] qos = '5': expected 0, 1 or 2"),
                                what="the bad line")
                assert e["PRIORITY"] == "3" and "ERRNO" not in e, e
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
    finally:
        js.close()
    print("ok")


if __name__ == "__main__":
    main()
