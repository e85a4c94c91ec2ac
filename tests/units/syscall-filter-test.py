#!/usr/bin/python3
"""The daemon's system calls stay inside the unit's SystemCallFilter=, its sockets inside
RestrictAddressFamilies=, its writes inside the state directory (ProtectSystem=strict).

Runs build/src/lumiplugd under `strace -f -C` through what the service does on a real host:
lumiplug-sim as the coordinator on a pty, a real broker, sd_notify with a watchdog, the network
started, a plug paired and switched (the device store written), a SIGHUP reload and a SIGTERM
stop (the system tests' set-up, tests/system/sysenv.py). It then expands the
SystemCallFilter= lines of the configured lumiplugd.service with `systemd-analyze syscall-filter`
(allowed = @system-service minus @privileged and @resources), and fails naming every system call
the daemon made that the sandbox would refuse with EPERM, every address family it asked
socket() for that RestrictAddressFamilies= does not list, and every path it wrote outside the
state directory (and /dev).

    syscall-filter-test.py UNIT_FILE
Skips (77) without strace or systemd-analyze, or when ptrace is not permitted."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "system"))
from daemon import Daemon, binary, build_root, skip      # noqa: E402
from sim import ieee_of, sim_binary         # noqa: E402
from sysenv import BASE, Env, wait_until     # noqa: E402


def expand(group, seen=None):
    """The system calls of a name or @group, recursively."""
    seen = set() if seen is None else seen
    if not group.startswith("@"):
        return {group}
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"FAIL: systemd-analyze syscall-filter {group}: {out.stderr.strip()}")
    calls = set()
    for line in out.stdout.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        calls |= expand(item, seen)
    return calls


def allowed_by(unit_path):
    """Applies the unit's SystemCallFilter= lines in order, as systemd does."""
    allowed = None
    with open(unit_path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("SystemCallFilter="):
                continue
            value = line.split("=", 1)[1].strip()
            deny = value.startswith("~")
            names = value.lstrip("~").split()
            calls = set().union(*(expand(n) for n in names))
            if deny:
                allowed = (allowed or set()) - calls if allowed is not None else None
                if allowed is None:
                    raise SystemExit("FAIL: a deny-list SystemCallFilter= before any allow-list")
            else:
                allowed = calls if allowed is None else allowed | calls
    if allowed is None:
        raise SystemExit(f"FAIL: no SystemCallFilter= in {unit_path}")
    return allowed


def families_allowed_by(unit_path):
    with open(unit_path) as f:
        lines = [ln.strip() for ln in f if ln.strip().startswith("RestrictAddressFamilies=")]
    if not lines:
        raise SystemExit(f"FAIL: no RestrictAddressFamilies= in {unit_path}")
    return set().union(*(set(ln.split("=", 1)[1].split()) for ln in lines))


def traced(trace_path):
    """(system calls from the summary table, address families given to socket()/socketpair())."""
    calls, families, in_summary = set(), set(), False
    with open(trace_path) as f:
        for line in f:
            if line.startswith("% time"):
                in_summary = True
                continue
            if in_summary:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    calls.add(parts[-1])
            else:
                m = re.search(r"\bsocket(?:pair)?\((AF_\w+)", line)
                if m:
                    families.add(m.group(1))
    return calls, families


WRITE_RX = [
    (re.compile(r'\bopenat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+)'), "open"),
    (re.compile(r'\bmkdir\("([^"]+)", \d+\)\s+= (-?\d+)( E[A-Z]+)?'), "mkdir"),
    (re.compile(r'\brename(?:at2?)?\((?:AT_FDCWD, )?"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"'), "rename"),
    (re.compile(r'\bunlink(?:at)?\((?:AT_FDCWD, )?"([^"]+)"'), "unlink"),
]


def written_paths(trace_path):
    """Paths the daemon created, opened for writing, renamed or unlinked (ProtectSystem=strict
    leaves only StateDirectory= and RuntimeDirectory= writable). mkdir of an existing parent
    (EEXIST) is not a write: the kernel answers it also on a read-only file system."""
    paths = set()
    with open(trace_path) as f:
        for line in f:
            if line.startswith("% time"):
                break
            for rx, kind in WRITE_RX:
                m = rx.search(line)
                if not m:
                    continue
                if kind == "open":
                    if any(flag in m.group(2) for flag in ("O_WRONLY", "O_RDWR", "O_CREAT")):
                        paths.add(m.group(1))
                elif kind == "mkdir":
                    if m.group(3) is None or m.group(3).strip() != "EEXIST":
                        paths.add(m.group(1))
                elif kind == "rename":
                    paths.update((m.group(1), m.group(2)))
                else:
                    paths.add(m.group(1))
    return paths


def daemon_pid(tracer_pid, timeout=10.0):
    """The traced lumiplugd: strace's child, once it has executed the daemon."""
    want = os.path.realpath(binary())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{tracer_pid}/task/{tracer_pid}/children") as f:
                for kid in f.read().split():
                    try:
                        if os.path.realpath(f"/proc/{kid}/exe") == want:
                            return int(kid)
                    except OSError:
                        pass
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError("strace did not start lumiplugd")


def main():
    unit = sys.argv[1]
    if os.environ.get("LUMIPLUGD_WRAPPER"):
        skip("LUMIPLUGD_WRAPPER is set: the syscalls traced would be the wrapper's, not lumiplugd's")
    for tool in ("strace", "systemd-analyze"):
        if not shutil.which(tool):
            skip(f"{tool} is not installed (Debian package {tool if tool == 'strace' else 'systemd'})")
    if not os.access(binary(), os.X_OK):
        skip("the daemon is not built")
    try:
        sim_binary()
    except Exception as err:
        skip(str(err))
    if subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode != 0:
        skip("ptrace is not permitted here")

    allowed = allowed_by(unit)
    families_allowed = families_allowed_by(unit)
    work = tempfile.mkdtemp(prefix="lumi-seccomp-")
    summary = os.path.join(work, "strace.txt")
    notify_path = os.path.join(work, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(0.2)

    def drain():                # as systemd does: a full datagram queue would block sd_notify()
        while notify.fileno() >= 0:
            try:
                notify.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
    threading.Thread(target=drain, daemon=True).start()
    try:
        with Env(plugs=1) as e:
            # RuntimeDirectory= of the unit: where the daemon makes its control socket
            runtime_dir = os.path.join(e.workdir, "run")
            os.makedirs(runtime_dir)
            env = {"NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "1000000", "RUNTIME_DIRECTORY": runtime_dir,
                   # LeakSanitizer cannot run under ptrace (sanitizer builds)
                   "ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"]))}
            d = Daemon(e.ini(), env=env, prefix=["strace", "-f", "-qq", "-C", "-o", summary],
                       workdir=tempfile.mkdtemp(prefix="daemon-", dir=e.workdir))
            e.daemons.append(d)         # killed at the end whatever happens
            d.start()
            pid = daemon_pid(d.pid)
            state_dir = e.state_dir
            e.wait_network(timeout=60)
            e.permit_join(60)
            e.pair(1)
            ieee = ieee_of(1)
            m = e.mark()
            e.watcher.publish(f"{BASE}/{ieee}/set", '{"state": "ON"}')
            e.wait(f"{BASE}/{ieee}", lambda v: v.get("state") == "ON", start=m)
            wait_until(lambda: e.sim.state(1)["state"] == "ON", what="the plug switched on")
            time.sleep(2.5)             # a few watchdog pings
            # the control socket: accept, read, write (lumiplugctl set goes through the bridge too)
            ctl = os.path.join(build_root(), "src", "ctl", "lumiplugctl")
            for args in (["status"], ["set", ieee, "state=OFF"]):
                p = subprocess.run([ctl, "--socket", os.path.join(runtime_dir, "control"), *args],
                                   capture_output=True, text=True, timeout=60)
                assert p.returncode == 0, f"lumiplugctl {args}: {p.returncode} {p.stderr}"
            mark = len(d.log())
            os.kill(pid, signal.SIGHUP)
            d.wait_log(r"Reloaded ", start=mark, timeout=30)
            os.kill(pid, signal.SIGTERM)
            rc = d.wait(timeout=30)
            assert rc == 0, f"strace/lumiplugd exited {rc}; log:\n{d.log()[-5000:]}"
        used, families = traced(summary)
        written = written_paths(summary)
        assert used, f"strace recorded no system call ({summary})"
        refused = sorted(used - allowed)
        print(f"lumiplugd made {len(used)} distinct system calls; the unit allows {len(allowed)}")
        print("used: " + " ".join(sorted(used)))
        print("address families: " + " ".join(sorted(families)))
        failed = False
        if refused:
            print("FAIL: outside SystemCallFilter= of " + unit + ": " + " ".join(refused))
            failed = True
        else:
            print("all inside SystemCallFilter=")
        stray = sorted(families - families_allowed)
        if stray:
            print("FAIL: outside RestrictAddressFamilies= of " + unit + ": " + " ".join(stray))
            failed = True
        else:
            print("all inside RestrictAddressFamilies=")
        inside = (os.path.realpath(state_dir) + os.sep, os.path.realpath(runtime_dir) + os.sep, "/dev/")
        outside = sorted(p for p in written if not (os.path.realpath(p) + os.sep).startswith(inside)
                         and not os.path.realpath(p).startswith("/dev/"))
        if outside:
            print("FAIL: written outside the state directory (the unit's only writable place but "
                  "the runtime directory): " + " ".join(outside))
            failed = True
        else:
            print(f"all {len(written)} written paths inside the state or runtime directory or /dev")
        sys.exit(1 if failed else 0)
    finally:
        notify.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
