#!/usr/bin/python3
"""src/mqtt speaks MQTT 5 by default and subscribes <base>/# with No Local: what it publishes there
does not come back to it, what other clients publish there does, and so do the retained messages it
left in an earlier session (same client id) and its own messages on other filters (the Home
Assistant discovery wildcard). With [mqtt] version = 4 (MQTT 3.1.1) its own messages do come back,
so the check can fail. A broker without MQTT 5 (a tiny fake one here, 3.1.1 only: it refuses
protocol level 5 with 3.1.1's return code 1, or hangs up twice in a row) makes it fall back to 3.1.1
once, with one notice, for the rest of the process; the 3.1.1 SUBSCRIBE then carries no option bits."""
import importlib.util
import os
import socket
import struct
import threading

from broker import Client, Mosquitto

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("mqtt_client_test", os.path.join(HERE, "test-mqtt-client.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
Driver, BASE = _mod.Driver, _mod.BASE

NOTICE = "does not speak MQTT 5"


def fence(drv, name):
    """Everything the broker sent the driver before it handled this SUBSCRIBE has been said."""
    drv.send(f"subscribe0 fence/{name}")
    drv.expect_line(f"subscribed fence/{name}")


def echo_case(broker, version, client_id):
    drv = Driver(broker.port, version, client_id)
    other = Client(broker.port)
    try:
        drv.send("start")
        drv.expect_line("state connected")
        drv.send("protocol")
        drv.expect_line(f"protocol {version}")
        drv.send(f"subscribe {BASE}/#")
        drv.expect_line(f"subscribed {BASE}/#")
        drv.send("subscribe0 disc/+/config")
        drv.expect_line("subscribed disc/+/config")

        drv.send(f"publish {BASE}/own hello")
        drv.expect_line("published")
        drv.send("publish disc/a/config mine")
        drv.expect_line("published")
        fence(drv, f"own{version}")             # SUBACK after the broker handled both publishes
        other.publish(f"{BASE}/other", "hi")
        drv.expect_line(f"message {BASE}/other hi")       # from another client: delivered
        drv.expect_line("message disc/a/config mine")       # own, on another filter: delivered
        own = [l for l in drv.seen if l.startswith(f"message {BASE}/own")]
        log = drv.log()
        assert NOTICE not in log, log
        return own
    finally:
        drv.send("quit")
        drv.expect_line("stopped")
        drv.kill()
        other.close()


def test_echo():
    with Mosquitto() as broker:
        # MQTT 5: our own message under <base>/ does not come back
        assert echo_case(broker, 5, "lumimc-v5") == []
        # MQTT 3.1.1: it does (what the option saves)
        assert echo_case(broker, 4, "lumimc-v4") == [f"message {BASE}/own hello"]

        # A retained message of our earlier session (same client id) still comes with No Local.
        drv = Driver(broker.port, "5", "lumimc-keep")
        try:
            drv.send("start")
            drv.expect_line("state connected")
            drv.send(f"publish {BASE}/kept k1 retain")
            drv.expect_line("published")
            fence(drv, "kept")
            drv.send("quit")
            drv.expect_line("stopped")
        finally:
            drv.kill()
        drv = Driver(broker.port, "5", "lumimc-keep")
        try:
            drv.send(f"subscribe {BASE}/#")
            drv.send("start")
            drv.expect_line("state connected")
            drv.expect_line(f"message {BASE}/kept k1")
            drv.send("quit")
            drv.expect_line("stopped")
        finally:
            drv.kill()


class FakeBroker:
    """MQTT 3.1.1 only. mode "refuse": a protocol level 5 CONNECT gets 3.1.1's CONNACK with return
    code 1 (unacceptable protocol version), as mosquitto < 1.6 answers; mode "hangup": the
    connection is closed without a CONNACK; mode "accept": 3.1.1's CONNACK accepting it, which is
    not a valid MQTT 5 CONNACK. Level 4 is accepted; SUBSCRIBE, PUBLISH QoS 1 and
    PINGREQ are answered. Records the level of every CONNECT and the options byte of every
    SUBSCRIBE topic."""

    def __init__(self, mode):
        self.mode = mode
        self.levels = []
        self.sub_options = []
        self.conns = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_exact(c, n):
        b = b""
        while len(b) < n:
            chunk = c.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b

    def _read_packet(self, c):
        head = self._read_exact(c, 1)[0]
        length, mult = 0, 1
        for _ in range(4):
            byte = self._read_exact(c, 1)[0]
            length += (byte & 127) * mult
            mult *= 128
            if not byte & 128:
                break
        return head, self._read_exact(c, length)

    def _serve(self, c):
        try:
            head, body = self._read_packet(c)
            assert head == 0x10, head
            name_len = struct.unpack(">H", body[:2])[0]
            level = body[2 + name_len]
            with self.lock:
                self.levels.append(level)
            if level != 4:
                if self.mode == "refuse":
                    c.sendall(b"\x20\x02\x00\x01")
                elif self.mode == "accept":             # a 3.1.1 CONNACK "accepted": no MQTT 5 properties
                    c.sendall(b"\x20\x02\x00\x00")
                c.close()
                return
            c.sendall(b"\x20\x02\x00\x00")
            while True:
                head, body = self._read_packet(c)
                kind = head >> 4
                if kind == 8:                       # SUBSCRIBE
                    pid, rest, granted = body[:2], body[2:], b""
                    while rest:
                        n = struct.unpack(">H", rest[:2])[0]
                        opt = rest[2 + n]
                        with self.lock:
                            self.sub_options.append((rest[2:2 + n].decode(), opt))
                        granted += bytes([opt & 3 if opt <= 2 else 0x80])
                        rest = rest[3 + n:]
                    c.sendall(bytes([0x90, 2 + len(granted)]) + pid + granted)
                elif kind == 3:                     # PUBLISH
                    if (head >> 1) & 3 == 1:
                        n = struct.unpack(">H", body[:2])[0]
                        c.sendall(b"\x40\x02" + body[2 + n:4 + n])
                elif kind == 12:                    # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif kind == 14:                    # DISCONNECT
                    break
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def drop_all(self):
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def close(self):
        self.closed = True
        self.sock.close()
        self.drop_all()


def fallback_case(mode):
    fake = FakeBroker(mode)
    drv = Driver(fake.port, "5", f"lumimc-{mode}")
    try:
        drv.send(f"subscribe {BASE}/#")
        drv.send("start")
        drv.expect_line("state connected", timeout=20)
        drv.expect_line(f"subscribed {BASE}/#")
        drv.send("protocol")
        drv.expect_line("protocol 4")
        with fake.lock:
            # a hang-up counts only the second time in a row (a broker may go down mid-CONNECT)
            assert fake.levels == ([5, 5, 4] if mode == "hangup" else [5, 4]), fake.levels
            # 3.1.1: the options byte is the QoS alone (No Local would be a malformed packet there)
            assert (f"{BASE}/#", 1) in fake.sub_options, fake.sub_options
            assert all(o <= 2 for _, o in fake.sub_options), fake.sub_options
        log = drv.log()
        reasons = {"refuse": ["(Unsupported Protocol Version)"],
                   "hangup": ["(The connection was lost)", "(Connection reset by peer)"],
                   "accept": ["(A network protocol error occurred when communicating with the broker)",
                              "(Malformed packet)"]}[mode]
        notices = [l for l in log.splitlines() if NOTICE in l]
        assert len(notices) == 1 and any(r in notices[0] for r in reasons), log
        assert notices[0].startswith("notice: "), notices
        assert "refused the connection" not in log, log

        # The connection drops: the next one is 3.1.1 straight away, no second notice.
        fake.drop_all()
        drv.expect_line("state waiting")
        drv.expect_line("state connected", timeout=20)
        with fake.lock:
            assert fake.levels[-2:] == [4, 4] and fake.levels.count(5) == (2 if mode == "hangup" else 1), \
                fake.levels
        assert drv.log().count(NOTICE) == 1, drv.log()
        drv.send("quit")
        drv.expect_line("stopped")
    finally:
        drv.kill()
        fake.close()


def test_version_4_never_tries_5():
    fake = FakeBroker("refuse")
    drv = Driver(fake.port, "4", "lumimc-four")
    try:
        drv.send("start")
        drv.expect_line("state connected", timeout=20)
        with fake.lock:
            assert fake.levels == [4], fake.levels
        assert NOTICE not in drv.log()
        drv.send("quit")
        drv.expect_line("stopped")
    finally:
        drv.kill()
        fake.close()


def main():
    test_echo()
    fallback_case("refuse")
    fallback_case("hangup")
    fallback_case("accept")
    test_version_4_never_tries_5()
    print("ok")


if __name__ == "__main__":
    main()
