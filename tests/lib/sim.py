"""Start lumiplug-sim (the simulated Z-Stack coordinator with ZNCZ04LM plugs) for a test.

    with Sim(plugs=2, nv=path) as sim:
        sim.port          # the pty path, or tcp://127.0.0.1:PORT with tcp=True
        sim.command("press 1")                      -> "ok joining 0x1234"
        sim.state(1)                                -> dict from the plug's state JSON

Every control reply is one line: "ok", "ok <payload>" or "error <reason>"; command() raises
SimError on "error". Plugs are numbered from 1. The process is killed on stop() and at exit.
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time


class SimError(RuntimeError):
    pass


def sim_binary():
    """lumiplug-sim from the meson build tree (LUMI_BUILD_ROOT), or from PATH."""
    root = os.environ.get("LUMI_BUILD_ROOT")
    if root:
        path = os.path.join(root, "tests", "sim", "lumiplug-sim")
        if os.path.exists(path):
            return path
    found = shutil.which("lumiplug-sim")
    if found:
        return found
    raise SimError("lumiplug-sim not found: set LUMI_BUILD_ROOT to the meson build directory")


_running = []


@atexit.register
def _kill_leftovers():
    for s in list(_running):
        s.stop()


class Sim:
    def __init__(self, plugs=0, nv=None, tcp=False, tcp_port=0, fast=False, log=None,
                 workdir=None, report_interval=None, ieee=None, link=None, extra_args=()):
        self.workdir = workdir or tempfile.mkdtemp(prefix="lumi-sim-")
        self.plugs = plugs
        self.nv = nv if nv is not None else os.path.join(self.workdir, "nv.txt")
        self.tcp = tcp
        self.tcp_port = tcp_port
        self.fast = fast
        self.log = log or os.path.join(self.workdir, "sim.log")
        self.control_path = os.path.join(self.workdir, "control.sock")
        self.report_interval = report_interval
        self.ieee = ieee
        self.link = link
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.workdir, "sim.stderr")

    def start(self, timeout=10.0):
        args = [sim_binary(), "--control", self.control_path, "--nv", self.nv,
                "--plugs", str(self.plugs), "--log", self.log]
        if self.tcp:
            args += ["--tcp", str(self.tcp_port)]
        elif self.link:
            args += ["--link", self.link]
        if self.fast:
            args.append("--fast")
        if self.report_interval is not None:
            args += ["--report-interval", str(self.report_interval)]
        if self.ieee is not None:
            args += ["--ieee", self.ieee]
        args += self.extra_args
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr)
        _running.append(self)
        line = self.proc.stdout.readline().decode().strip()
        if not line:
            self.stop()
            raise SimError(f"lumiplug-sim did not start; see {self.stderr_path}")
        # With --link the host opens the stable symlink, like /dev/serial/by-id/... on real hardware.
        self.port = self.link if (self.link and not self.tcp) else line
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.control_path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise SimError("lumiplug-sim control socket did not appear")
            time.sleep(0.02)
        return self

    def command(self, line, timeout=10.0):
        """Sends one control line and returns the payload after "ok" (possibly "")."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_path)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        reply = buf.decode().rstrip("\n")
        if reply == "ok":
            return ""
        if reply.startswith("ok "):
            return reply[3:]
        raise SimError(f"{line!r}: {reply}")

    def state(self, n):
        return json.loads(self.command(f"state {n}"))

    def plug(self, n):
        return json.loads(self.command(f"plug {n}"))

    def info(self):
        return json.loads(self.command("info"))

    def frames(self):
        return json.loads(self.command("frames"))

    def reset_energy(self, n):
        """Plug n's energy counter restarts from 0 (as after a firmware update)."""
        return self.command(f"energyreset {n}")

    def set_energy(self, n, kwh):
        """Plug n's energy counter reads kwh from now on."""
        return self.command(f"energyset {n} {kwh}")

    def powercycle(self, n, lose_settings=False):
        """Mains off and on for plug n (it announces again); lose_settings: it boots with its
        factory settings (power_outage_memory, auto_off, led_disabled_night false, 2300 W)."""
        return self.command(f"powercycle {n}" + (" lose-settings" if lose_settings else ""))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "_stderr", None):
            self._stderr.close()
            self._stderr = None
        self.proc = None
        if self in _running:
            _running.remove(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def ieee_of(n):
    """The IEEE address lumiplug-sim gives plug n, as Zigbee2MQTT writes it (0x...)."""
    if n % 2 == 1:
        return "0x%016x" % (0x00158d0001a2b300 + n)
    return "0x%016x" % (0x04cf8cdf3c7a5b00 + n)


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description="start lumiplug-sim and send control commands")
    p.add_argument("--plugs", type=int, default=1)
    p.add_argument("--nv")
    p.add_argument("--tcp", action="store_true")
    p.add_argument("--fast", action="store_true")
    p.add_argument("--control", help="talk to an already running simulator's control socket")
    p.add_argument("commands", nargs="*", help="control lines to send, e.g. 'press 1'")
    a = p.parse_args()
    if a.control:
        s = Sim()
        s.control_path = a.control
        for c in a.commands:
            print(s.command(c))
    else:
        with Sim(plugs=a.plugs, nv=a.nv, tcp=a.tcp, fast=a.fast) as s:
            print("port", s.port, "control", s.control_path, "log", s.log)
            for c in a.commands:
                print(s.command(c))
            try:
                s.proc.wait()
            except KeyboardInterrupt:
                pass
