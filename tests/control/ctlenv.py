"""Shared helpers of the control tests: the real lumiplugctl binary, a daemon started under
systemd-socket-activate (the control socket passed as systemd passes it), raw socket clients."""
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))

from daemon import Daemon, build_root, skip  # noqa: E402
from sysenv import BASE, Env, wait_until  # noqa: E402,F401

EXIT = {"ok": 0, "failure": 1, "usage": 2, "not-running": 3, "permission": 4, "unknown-device": 5,
        "bad-value": 6, "timeout": 7}


def ctl_binary():
    return os.path.join(build_root(), "src", "ctl", "lumiplugctl")


def ctl(sock, *args, user=None, timeout=60, env=None):
    """Runs lumiplugctl --socket sock args...; returns (exit code, stdout, stderr)."""
    cmd = [ctl_binary(), "--socket", sock, *args]
    if user:
        pw = pwd.getpwnam(user)
        cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def ctl_ok(sock, *args):
    rc, out, err = ctl(sock, *args)
    assert rc == 0, f"lumiplugctl {' '.join(args)}: exit {rc}\nstdout: {out}\nstderr: {err}"
    return out


def ctl_json(sock, *args):
    return json.loads(ctl_ok(sock, "--json", *args))


def ctl_fails(sock, expect, *args, user=None):
    """Runs lumiplugctl and checks the exit code (a key of EXIT); returns stderr."""
    rc, out, err = ctl(sock, *args, user=user)
    assert rc == EXIT[expect], f"lumiplugctl {' '.join(args)}: exit {rc}, expected {expect} ({EXIT[expect]})\n" \
                               f"stdout: {out}\nstderr: {err}"
    assert err.startswith("lumiplugctl: "), err
    return err


def start_activated(env, control_path, extra_fds=(), extra=None):
    """lumiplugd under systemd-socket-activate with the listening socket named "control" (and more
    sockets named as given in extra_fds: [(path, name)])."""
    if not shutil.which("systemd-socket-activate"):
        skip("systemd-socket-activate is not installed")
    prefix = ["systemd-socket-activate", "-l", control_path]
    names = ["control"]
    for path, name in extra_fds:
        prefix += ["-l", path]
        names.append(name)
    prefix.append("--fdname=" + ":".join(names))
    d = Daemon(env.ini(extra=extra), prefix=prefix, workdir=tempfile.mkdtemp(prefix="daemon-", dir=env.workdir))
    d.start()
    d.wait_log(r"Listening on .* as 3")     # systemd-socket-activate's own line: the socket is there
    env.daemons.append(d)
    env.daemon = d
    return d


def latest(env, topic):
    """The JSON of the last message seen on topic (None if none)."""
    with env.watcher.cond:
        for t, payload, _ in reversed(env.watcher.messages):
            if t == topic:
                return json.loads(payload) if payload else None
    return None


class Raw:
    """A raw control socket client: send bytes, read reply lines."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def reply(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError(f"connection closed before a reply (have {self.buf!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        self.send(json.dumps(obj).encode() + b"\n")
        return self.reply()

    def closed(self):
        """True once the daemon closed the connection (after what it had to say)."""
        try:
            return self.s.recv(65536) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()
