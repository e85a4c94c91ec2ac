#!/usr/bin/python3
"""A stalled event loop stops the WATCHDOG=1 pings, and they resume when it runs again. Uses
lumiplugd-debug (tests/debug: the same daemon plus a SIGUSR2 hook that blocks the loop for
LUMIPLUGD_DEBUG_STALL_SEC seconds and says so on NOTIFY_SOCKET). The assertions are about the order
of the datagrams (pings before, none between stall-begin and stall-end, pings after) and about a
stall far longer than WATCHDOG_USEC; no tight timing. Also checks that the installed lumiplugd has no
such hook and that lumiplugd-debug is not installed."""
import json
import os
import signal
import subprocess
import time

from broker import free_port
from daemon import Daemon, build_root, mqtt_ini
from notify import NotifySocket

WATCHDOG_USEC = 1_000_000
STALL_SEC = 6
WRAPPER = ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"]
MARK = b"LUMIPLUGD_DEBUG_STALL_SEC"


class DebugDaemon(Daemon):
    def command(self):
        return [*self.prefix, os.path.join(build_root(), "tests", "debug", "lumiplugd-debug"), "-c", self.ini_path,
                *self.args]


def is_ping(m):
    return m[1].get("WATCHDOG") == "1"


def main():
    # The shipped daemon carries no hook; the debug build does (so this check can fail).
    shipped = open(os.path.join(build_root(), "src", "lumiplugd"), "rb").read()
    debug = open(os.path.join(build_root(), "tests", "debug", "lumiplugd-debug"), "rb").read()
    assert MARK not in shipped and b"stall-begin" not in shipped, "the installed lumiplugd has the debug stall hook"
    assert MARK in debug and b"stall-begin" in debug
    installed = json.loads(subprocess.run(["meson", "introspect", "--installed", build_root()], check=True,
                                          capture_output=True, text=True).stdout)
    assert not any("lumiplugd-debug" in k or "lumiplugd-debug" in v for k, v in installed.items()), installed
    assert any(v.endswith("/lumiplugd") for v in installed.values()), installed

    ns = NotifySocket()
    # No broker and no coordinator are needed: the loop turns (and retries) all the same.
    ini = mqtt_ini(free_port(), base_topic="wd", level="info")
    env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": str(WATCHDOG_USEC), "LUMIPLUGD_DEBUG_STALL_SEC": str(STALL_SEC)}
    try:
        with DebugDaemon(ini, env=env, prefix=WRAPPER) as d:
            # regular pings first
            for k in range(3):
                ns.wait_for(lambda f: f.get("WATCHDOG") == "1", start=ns.mark(), timeout=15, what=f"ping {k}")
            d.send_signal(signal.SIGUSR2)
            i, (t_begin, _, _) = ns.wait_for(lambda f: f.get("X_LUMIPLUGD_DEBUG") == "stall-begin", timeout=15,
                                             what="stall-begin")
            j, (t_end, _, _) = ns.wait_for(lambda f: f.get("X_LUMIPLUGD_DEBUG") == "stall-end", start=i,
                                           timeout=STALL_SEC + 30, what="stall-end")
            # pings resume after the stall
            for k in range(3):
                ns.wait_for(lambda f: f.get("WATCHDOG") == "1", start=ns.mark(), timeout=15, what=f"ping after {k}")
            msgs = ns.since(0)
            before = [m for m in msgs[:i] if is_ping(m)]
            during = [m for m in msgs[i + 1:j] if is_ping(m)]
            after = [m for m in msgs[j + 1:] if is_ping(m)]
            assert len(before) >= 3, before
            assert during == [], f"WATCHDOG=1 while the loop was stalled: {during}"
            assert len(after) >= 3, after
            # the silence lasted far longer than the watchdog interval (systemd would have acted)
            assert t_end - t_begin >= 3 * WATCHDOG_USEC / 1e6, (t_begin, t_end)
            assert max(m[0] for m in before) <= t_begin
            d.wait_log(r"warning: Debug hook: the event loop runs again\n")
            assert d.running()
            assert d.stop() == 0, d.log()
    finally:
        ns.close()
    print("ok")


if __name__ == "__main__":
    main()
