"""Install (once, cached) and run the real Zigbee2MQTT for the peer tests.

install() puts zigbee2mqtt@VERSION (pinned, exact) into a cache directory keyed by the version:
$LUMI_Z2M_CACHE, else /var/cache/lumiplugd-tests if writable, else ~/.cache/lumiplugd-tests.
A complete install is reused; the registry is only asked when it is missing. NpmUnreachable is
raised only when the npm registry cannot be reached (the peer suite then skips with 77).

Z2M(...) writes a configuration.yaml into a fresh data directory, starts node on it and records
its output; wait_log() waits for a log line.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

VERSION = "2.14.1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NpmUnreachable(RuntimeError):
    pass


def _cache_root():
    env = os.environ.get("LUMI_Z2M_CACHE")
    if env:
        return env
    var = "/var/cache/lumiplugd-tests"
    try:
        os.makedirs(var, exist_ok=True)
        if os.access(var, os.W_OK):
            return var
    except OSError:
        pass
    return os.path.join(os.path.expanduser("~"), ".cache", "lumiplugd-tests")


def install_dir(version=VERSION):
    return os.path.join(_cache_root(), f"zigbee2mqtt-{version}")


def _installed(d, version):
    try:
        with open(os.path.join(d, "node_modules", "zigbee2mqtt", "package.json")) as f:
            return json.load(f).get("version") == version
    except (OSError, ValueError):
        return False


def registry_reachable(timeout=30):
    npm = shutil.which("npm")
    if not npm:
        return False
    try:
        r = subprocess.run([npm, "ping"], capture_output=True, timeout=timeout)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def install(version=VERSION, log=print):
    """Returns the directory holding node_modules/zigbee2mqtt at exactly this version.

    The install goes into a temporary directory that is renamed into place when complete, under
    a lock, so concurrent or interrupted runs never see half an install."""
    d = install_dir(version)
    if _installed(d, version):
        return d
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise RuntimeError("node and npm are needed for the peer suite (Debian: nodejs, npm)")
    os.makedirs(os.path.dirname(d), exist_ok=True)
    with open(d + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed(d, version):
            return d
        tmp = f"{d}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with open(os.path.join(tmp, "package.json"), "w") as f:
            json.dump({"name": "lumiplugd-z2m-cache", "private": True,
                       "dependencies": {"zigbee2mqtt": version}}, f)
        log(f"installing zigbee2mqtt@{version} into {d} (once)")
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--save-exact",
                            f"zigbee2mqtt@{version}"], cwd=tmp, capture_output=True, text=True, timeout=1800)
        if r.returncode != 0 or not _installed(tmp, version):
            shutil.rmtree(tmp, ignore_errors=True)
            if not registry_reachable():
                raise NpmUnreachable(f"the npm registry cannot be reached (npm ping failed); "
                                     f"npm install said: {r.stderr.strip()[-500:]}")
            raise RuntimeError(f"npm install zigbee2mqtt@{version} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
    return d


def _yaml(value, indent=0):
    """Enough YAML for a Zigbee2MQTT configuration (dicts, lists, scalars)."""
    pad = "  " * indent
    out = []
    for k, v in value.items():
        if isinstance(v, dict):
            out.append(f"{pad}{json.dumps(k)}:")
            out.append(_yaml(v, indent + 1) if v else f"{pad}  {{}}")
        else:
            out.append(f"{pad}{json.dumps(k)}: {json.dumps(v)}")
    return "\n".join(out)


class Z2M:
    def __init__(self, serial_port, mqtt_port, datadir=None, devices=None, network=None,
                 extra=None, version=VERSION):
        self.dir = install(version)
        self.datadir = datadir or tempfile.mkdtemp(prefix="lumi-z2m-")
        self.serial_port = serial_port
        self.mqtt_port = mqtt_port
        self.devices = devices or {}
        self.network = network or {}
        self.extra = extra or {}
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.log_path = os.path.join(self.datadir, "z2m-output.log")

    def config(self):
        advanced = {"log_level": "debug", "log_output": ["console"], "channel": 11,
                    "pan_id": 6754, "ext_pan_id": [221, 221, 221, 221, 221, 221, 221, 17],
                    "network_key": [1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14],
                    "last_seen": "disable", "elapsed": False}
        advanced.update(self.network)
        conf = {
            "version": 4,
            "homeassistant": {"enabled": True},
            "frontend": {"enabled": False},
            "mqtt": {"base_topic": "zigbee2mqtt", "server": f"mqtt://127.0.0.1:{self.mqtt_port}",
                     "client_id": "zigbee2mqtt-peer"},
            "serial": {"port": self.serial_port, "adapter": "zstack"},
            "advanced": advanced,
            "availability": {"enabled": False},
            "devices": self.devices,
        }
        for k, v in self.extra.items():
            if isinstance(v, dict) and isinstance(conf.get(k), dict):
                conf[k].update(v)
            else:
                conf[k] = v
        return conf

    def write_config(self):
        os.makedirs(self.datadir, exist_ok=True)
        with open(os.path.join(self.datadir, "configuration.yaml"), "w") as f:
            f.write(_yaml(self.config()) + "\n")

    def start(self):
        self.write_config()
        env = dict(os.environ)
        env.update({"ZIGBEE2MQTT_DATA": self.datadir, "Z2M_ONBOARD_NO_SERVER": "1",
                    "NODE_ENV": "production"})
        env.pop("ZIGBEE2MQTT_CONFIG", None)
        entry = os.path.join(self.dir, "node_modules", "zigbee2mqtt", "index.js")
        self.log_file = open(self.log_path, "a")
        self.proc = subprocess.Popen(["node", entry], cwd=self.datadir, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            line = ANSI.sub("", line.rstrip("\n"))
            self.log_file.write(line + "\n")
            self.log_file.flush()
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_log(self, pattern, timeout=60, start=0):
        """First output line (from index start) matching the regular expression."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i]):
                        return self.lines[i]
                    i += 1
                if self.proc.poll() is not None and i >= len(self.lines):
                    raise RuntimeError(f"zigbee2mqtt exited ({self.proc.returncode}) before /{pattern}/; "
                                       f"last lines:\n" + "\n".join(self.lines[-30:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no zigbee2mqtt log line /{pattern}/ within {timeout}s; last lines:\n"
                                       + "\n".join(self.lines[-30:]))
                self.cond.wait(min(left, 0.5))

    def log_matches(self, pattern, start=0):
        rx = re.compile(pattern)
        with self.cond:
            return [ln for ln in self.lines[start:] if rx.search(ln)]

    def stop(self, timeout=60):
        """SIGTERM and wait: Zigbee2MQTT backs up the coordinator on a clean stop."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.reader.join(5)
            self.log_file.close()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
