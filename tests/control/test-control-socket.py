#!/usr/bin/python3
"""The control socket without systemd: created at [control] socket (its directory too) with mode
0660, a stale socket file replaced, a second daemon on the same path refused with a clear error,
the file removed at exit, no socket with an empty value; lumiplugctl's "not running" exit code.
With systemd-socket-activate: a passed socket of an unknown name is closed with a warning."""
import os
import socket
import stat
import subprocess
import tempfile

from ctlenv import Env, ctl, ctl_binary, ctl_fails, ctl_json, start_activated, wait_until
from daemon import Daemon


def main():
    with Env(plugs=0) as e:
        sock = os.path.join(e.workdir, "run", "control")
        extra = f"[control]\nsocket = {sock}\n"

        # nothing there yet: "not running"
        err = ctl_fails(sock, "not-running", "status")
        assert "lumiplugd is not running" in err, err

        d = e.start_daemon(extra=extra)
        d.wait_log(r"Control socket " + sock)
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
        assert ctl_json(sock, "status")["version"]
        # the socket from the environment, --help, --version, usage errors
        rc, out, err = ctl("/nonexistent", "--version")
        assert rc == 0 and out.startswith("lumiplugctl "), (rc, out, err)
        p = subprocess.run([ctl_binary(), "status"], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, LUMIPLUGD_CONTROL_SOCKET=sock))
        assert p.returncode == 0 and "Version:" in p.stdout, p
        rc, out, err = ctl(sock, "--help")
        assert rc == 0 and "Exit status:" in out, (rc, out, err)
        ctl_fails(sock, "usage", "--bogus")
        ctl_fails(sock, "usage")
        ctl_fails(sock, "usage", "--timeout", "0", "status")
        ctl_fails(sock, "usage", "ota", "flash", "x")
        ctl_fails(sock, "usage", "set", "x", "novalue")

        # a second daemon on the same socket: refused before it touches anything else
        d2 = Daemon(e.ini(extra=extra), workdir=tempfile.mkdtemp(prefix="daemon2-", dir=e.workdir))
        d2.start()
        e.daemons.append(d2)
        assert d2.wait(30) == 1
        assert "Another lumiplugd is already running with the control socket " + sock in d2.log(), d2.log()
        assert ctl_json(sock, "status")["version"]          # the first one still serves

        assert d.stop() == 0
        assert not os.path.exists(sock), "the control socket was left behind"
        ctl_fails(sock, "not-running", "status")

        # a stale socket file (a daemon killed with SIGKILL leaves one): ECONNREFUSED, then replaced
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(sock)
        s.close()
        err = ctl_fails(sock, "not-running", "status")
        assert "Connection refused" in err, err
        d = e.start_daemon(extra=extra)
        d.wait_log(r"Replacing the stale control socket " + sock)
        d.wait_log(r"Control socket " + sock)
        assert ctl_json(sock, "status")["version"]
        d.kill()                                            # SIGKILL: the file stays, stale
        assert os.path.exists(sock)
        ctl_fails(sock, "not-running", "status")

        # a path that is not a socket is never removed
        os.unlink(sock)
        with open(sock, "w") as f:
            f.write("precious\n")
        d = e.start_daemon(extra=extra)
        assert d.wait(30) == 1
        assert "the path exists and is not a socket" in d.log(), d.log()
        assert open(sock).read() == "precious\n"
        os.unlink(sock)

        # empty value: no control socket at all
        d = e.start_daemon(extra="[control]\nsocket =\n")
        d.wait_log(r"lumiplugd starting")
        assert "Control socket" not in d.log()
        assert d.stop() == 0

        # systemd passes an extra socket nobody asked for: closed with a warning
        passed = os.path.join(e.workdir, "passed-control")
        bogus = os.path.join(e.workdir, "bogus")
        d = start_activated(e, passed, extra_fds=[(bogus, "bogus")])
        assert ctl_json(passed, "status")["version"]
        d.wait_log(r"Closing socket 4 passed by systemd with the unknown name 'bogus'")
        rc, out, err = ctl(passed, "status")
        assert rc == 0 and "lumiplugd" in out, (rc, out, err)
        assert d.stop() == 0
        wait_until(lambda: not d.running(), what="daemon stopped")


if __name__ == "__main__":
    main()
