"""The real lumiplugd for tests: writes an INI, starts build/src/lumiplugd with it, captures stderr,
stops it (and kills it at the end whatever happens).

    with Daemon(ini) as d:          # ini: text of lumiplugd.ini
        d.wait_log(r"Connected to MQTT broker")
        ...
    rc = d.returncode

Two environment variables run the whole suite under a checker (tests/sanitize/run-valgrind.sh):
    LUMIPLUGD_WRAPPER            a command put in front of every lumiplugd the tests start, e.g.
                                 "valgrind --error-exitcode=99 --leak-check=full ..." (split like a shell)
    LUMI_TIMEOUT_MULTIPLIER      scales the tests' waits (wait_log, stop, Client.wait_for, ...), e.g. 10
"""
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time


def build_root():
    return os.environ.get("LUMI_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")


def source_root():
    return os.environ.get("LUMI_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")


def binary():
    return os.path.join(build_root(), "src", "lumiplugd")


def wrapper():
    """The checker command from LUMIPLUGD_WRAPPER (empty: none)."""
    return shlex.split(os.environ.get("LUMIPLUGD_WRAPPER", ""))


def daemon_command(*args):
    """lumiplugd with args, behind LUMIPLUGD_WRAPPER when set."""
    return [*wrapper(), binary(), *args]


def scaled(seconds):
    """A test's timeout, stretched by LUMI_TIMEOUT_MULTIPLIER (for valgrind and slow machines)."""
    try:
        factor = float(os.environ.get("LUMI_TIMEOUT_MULTIPLIER", "1"))
    except ValueError:
        factor = 1.0
    return seconds * max(factor, 1.0)


def skip(reason):
    """Exit with meson's 'skipped' code, saying why."""
    print(f"SKIP: {reason}")
    sys.exit(77)


# A serial port that cannot exist: tests that do not start the simulator must never open a real one.
NO_COORDINATOR = "/nonexistent/lumiplugd-test-no-coordinator"


def mqtt_ini(port, base_topic="zigbee2mqtt", extra="", level="debug", target="stderr", mqtt_extra="",
             serial_port=NO_COORDINATOR, state_dir=None):
    """A minimal INI for a broker on 127.0.0.1:port, with a private state directory (never
    /var/lib/lumiplugd) and, unless given, a serial port that does not exist."""
    state_dir = state_dir or tempfile.mkdtemp(prefix="lumi-state-")
    return (f"[mqtt]\nhost = 127.0.0.1\nport = {port}\nbase_topic = {base_topic}\n{mqtt_extra}"
            f"[serial]\nport = {serial_port}\n"
            f"[state]\ndirectory = {state_dir}\n"
            f"[log]\nlevel = {level}\ntarget = {target}\n{extra}")


def check_config(ini_text=None, path=None, args=()):
    """Runs lumiplugd --check-config; returns (exit code, stdout, stderr)."""
    tmp = None
    if path is None:
        tmp = tempfile.mkdtemp(prefix="lumi-check-")
        path = os.path.join(tmp, "lumiplugd.ini")
        with open(path, "w") as f:
            f.write(ini_text)
    p = subprocess.run(daemon_command("--check-config", "-c", path, *args), capture_output=True, text=True,
                       timeout=scaled(30))
    return p.returncode, p.stdout, p.stderr


class Daemon:
    def __init__(self, ini_text, args=(), env=None, prefix=(), workdir=None, stderr_path=None,
                 pass_fds=()):
        self.workdir = workdir or tempfile.mkdtemp(prefix="lumi-daemon-")
        self.ini_path = os.path.join(self.workdir, "lumiplugd.ini")
        self.stderr_path = stderr_path or os.path.join(self.workdir, "stderr.log")
        self.args = list(args)
        self.env = env
        self.prefix = list(prefix)
        self.pass_fds = tuple(pass_fds)
        self.proc = None
        self.returncode = None
        self.write_ini(ini_text)

    def write_ini(self, text):
        with open(self.ini_path, "w") as f:
            f.write(text)

    def command(self):
        return [*self.prefix, *daemon_command("-c", self.ini_path, *self.args)]

    def start(self):
        env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
            env.pop(k, None)
        # the default [control] socket is $RUNTIME_DIRECTORY/control: one per test daemon, never
        # /run/lumiplugd/control, so that tests running side by side do not meet there
        env["RUNTIME_DIRECTORY"] = self.workdir
        if self.env:
            env.update(self.env)
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=self.stderr, env=env, pass_fds=self.pass_fds,
                                     start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=15.0, count=1, start=0):
        """Waits until pattern (regex) has matched count times in stderr after offset start."""
        rx = re.compile(pattern)
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()[start:]
            found = rx.findall(text)
            if len(found) >= count:
                return rx.search(text)
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"lumiplugd exited ({self.proc.returncode}) before /{pattern}/ appeared "
                                     f"{count}x; log:\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"/{pattern}/ did not appear {count}x within {timeout}s; log:\n{text}")
            time.sleep(0.05)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=15.0):
        self.returncode = self.proc.wait(scaled(timeout))
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Sends sig and waits; returns the exit code (negative: killed by a signal)."""
        if self.proc is None:
            return self.returncode
        timeout = scaled(timeout)
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"lumiplugd did not stop within {timeout}s after {sig!r}; log:\n{self.log()}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        """SIGKILL to the whole process group (a wrapper and the daemon)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.proc is not None:
            self.returncode = self.proc.returncode

    def finish(self):
        """The end of a test: a clean stop if it still runs (so a checker such as valgrind gets to
        its leak report), SIGKILL if that does not work. Never raises."""
        if self.running():
            try:
                self.stop(timeout=10.0)
            except Exception:       # noqa: BLE001 - stop() has killed it already
                pass
        self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.finish()
        if getattr(self, "stderr", None):
            self.stderr.close()
        if exc[0] is not None:
            sys.stderr.write(f"--- lumiplugd stderr ({self.stderr_path}):\n{self.log()}\n")
