#!/usr/bin/python3
"""lumiplug-sim as a program: pty (with --link) and TCP transports, host going away and coming
back, the control socket's replies and errors, the frame log, NV kept across restarts, quit."""
import json
import os
import socket
import sys
import termios
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from sim import Sim, SimError, ieee_of  # noqa: E402


def frame(cmd0, cmd1, data=b""):
    fcs = len(data) ^ cmd0 ^ cmd1
    for b in data:
        fcs ^= b
    return bytes([0xFE, len(data), cmd0, cmd1]) + data + bytes([fcs])


def read_frames(read, want, timeout=10.0):
    """Reads until `want` complete frames arrived; returns [(cmd0, cmd1, data)]."""
    buf = b""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < want:
        assert time.monotonic() < deadline, f"only {out} within {timeout}s (buffer {buf.hex()})"
        chunk = read()
        if chunk:
            buf += chunk
        while len(buf) >= 5:
            if buf[0] != 0xFE:
                buf = buf[1:]
                continue
            n = buf[1]
            if len(buf) < n + 5:
                break
            out.append((buf[2], buf[3], buf[4:4 + n]))
            buf = buf[n + 5:]
    return out


class Pty:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd, termios.TCSANOW)

    def write(self, b):
        os.write(self.fd, b)

    def read(self):
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            time.sleep(0.01)
            return b""

    def close(self):
        os.close(self.fd)


def test_pty():
    s = Sim(plugs=2)
    s.link = os.path.join(s.workdir, "ttyZNP")
    with s as sim:
        assert os.path.islink(sim.link) and os.readlink(sim.link).startswith("/dev/pts/")
        p = Pty(sim.port)
        p.write(b"\xef" + frame(0x21, 0x01))                       # bootloader skip + ping
        (f,) = read_frames(p.read, 1)
        assert f == (0x61, 0x01, bytes([0x59, 0x06])), f
        p.write(b"\x5f\x1b" + frame(0x21, 0x02)[:-1] + b"\x00" + frame(0x21, 0x02))  # bad FCS, then good
        (f,) = read_frames(p.read, 1)
        assert f[:2] == (0x61, 0x02) and f[2][1] == 1, f                    # product 1 = Z-Stack 3.x.0
        p.close()
        time.sleep(0.3)
        # The host comes back (Zigbee2MQTT restarted): served again.
        p = Pty(sim.link)
        p.write(frame(0x27, 0x00))
        (f,) = read_frames(p.read, 1)
        assert f[:2] == (0x67, 0x00) and f[2][12] == 0, f                   # HOLD
        # Start (forms a network), open it, press the plug: TC_DEV_IND + announce.
        p.write(frame(0x25, 0x40, bytes([100, 0])))
        read_frames(p.read, 1, timeout=20)
        deadline = time.monotonic() + 20
        while sim.info()["state"] != 9:
            assert time.monotonic() < deadline
            p.read()
        p.write(frame(0x25, 0x36, bytes([0x0F, 0xFC, 0xFF, 60, 1])))
        read_frames(p.read, 1)
        # the SRSP comes before the permit takes effect: under load "press" could still find it closed
        deadline = time.monotonic() + 20
        while not sim.info()["permit_join"]:
            assert time.monotonic() < deadline
            p.read()
        with_error = False
        try:
            sim.command("press 3")
        except SimError as e:
            with_error = "1..2" in str(e)
        assert with_error
        assert sim.command("press 2").startswith("joining")
        seen = []
        deadline = time.monotonic() + 10
        while (0x45, 0xC1) not in seen:
            assert time.monotonic() < deadline, seen
            seen += [(a, b) for a, b, _ in read_frames(p.read, 1)]
        assert (0x45, 0xCA) in seen
        assert sim.plug(2)["joined"] is True and sim.plug(2)["ieee"] == ieee_of(2)
        assert sim.state(2)["ieee"] == ieee_of(2)
        frames_json = sim.frames()
        assert any("ZDO_TC_DEV_IND" in x for x in frames_json) and any("SREQ SYS_PING" in x for x in frames_json)
        for bad in ("", "fly", "load 1", "load 1 -5", "state 0", "press x"):
            try:
                sim.command(bad)
                raise AssertionError(f"{bad!r} accepted")
            except SimError:
                pass
        p.close()
        log = open(sim.log).read()
        assert "<- FE 00 21 01 20 SREQ SYS_PING" in log and "-> FE 02 61 01 59 06 3D SRSP SYS_PING" in log
        assert "control: press 2" in log
        nv = sim.nv
    # A second start from the NV file: the network and the joined plug are still there.
    with Sim(plugs=2, nv=nv) as sim:
        info = sim.info()
        assert info["pan"] != 0xFFFF and info["channel"] >= 11, info
        assert sim.plug(2)["joined"] is True and sim.plug(1)["joined"] is False
        assert sim.command("quit") == ""
        sim.proc.wait(10)
        assert sim.proc.returncode == 0


def test_tcp():
    with Sim(plugs=0, tcp=True, fast=True) as sim:
        assert sim.port.startswith("tcp://127.0.0.1:")
        port = int(sim.port.rsplit(":", 1)[1])
        for _ in range(2):      # reconnects are served
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.settimeout(0.05)

                def rd():
                    try:
                        return c.recv(4096)
                    except socket.timeout:
                        return b""
                c.sendall(frame(0x21, 0x04))
                (f,) = read_frames(rd, 1)
                assert f[:2] == (0x61, 0x04) and f[2] == bytes.fromhex("c3b2a129004b1200"), f
                c.sendall(frame(0x22, 0x01))                            # MAC subsystem: not in this build
                (f,) = read_frames(rd, 1)
                assert f == (0x60, 0x00, bytes([0x01, 0x22, 0x01])), f
            time.sleep(0.2)


if __name__ == "__main__":
    test_pty()
    test_tcp()
    print("test-lumiplug-sim: ok")
