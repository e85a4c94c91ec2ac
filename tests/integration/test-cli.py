#!/usr/bin/python3
"""The command line: --help, --version, --check-config (exit 0/1 with the exact errors), -v, bad
usage, the shipped default configuration, and refusing to start on a broken file."""
import os
import re
import subprocess
import tempfile

from broker import Client, Mosquitto
from daemon import Daemon, check_config, daemon_command, mqtt_ini, scaled, source_root


def broker_client_sees_online(port):
    c = Client(port)
    try:
        c.subscribe("zigbee2mqtt/bridge/state")
        c.wait_for("zigbee2mqtt/bridge/state", lambda p: p == b'{"state":"online"}')
    finally:
        c.close()


def run(*args):
    return subprocess.run(daemon_command(*args), capture_output=True, text=True, timeout=scaled(30))


def main():
    p = run("--help")
    assert p.returncode == 0 and "--check-config" in p.stdout and "-c, --config PATH" in p.stdout, p
    p = run("--version")
    assert p.returncode == 0 and re.fullmatch(r"lumiplugd \d+\.\d+\.\d+\n", p.stdout), p
    p = run("--bogus")
    assert p.returncode == 2 and "Try 'lumiplugd --help'." in p.stderr, p
    p = run("extra-argument")
    assert p.returncode == 2, p

    # --check-config
    rc, out, err = check_config("[mqtt]\nport = 1883\n")
    assert rc == 0 and out.endswith(": configuration OK\n") and err == "", (rc, out, err)
    tmp = tempfile.mkdtemp(prefix="lumi-cli-")
    path = os.path.join(tmp, "bad.ini")
    with open(path, "w") as f:
        f.write("[mqtt]\nport = 70000\n[zigbee]\nchannel = 5\nnetwork_key = 1234\n")
    rc, out, err = check_config(path=path)
    assert rc == 1 and out == "", (rc, out, err)
    assert err == (f"{path}:2: [mqtt] port = '70000': expected an integer from 1 to 65535\n"
                   f"{path}:4: [zigbee] channel = '5': expected auto or a channel from 11 to 26\n"
                   f"{path}:5: [zigbee] network_key = (hidden): expected auto or 32 hex digits (16 bytes)\n"), err
    assert "1234" not in err
    rc, out, err = check_config(path=os.path.join(tmp, "missing.ini"))
    assert rc == 1 and err == f"{tmp}/missing.ini: cannot read the configuration: No such file or directory\n", err

    # The shipped default configuration is valid.
    shipped = os.path.join(source_root(), "packaging", "lumiplugd.ini")
    rc, out, err = check_config(path=shipped)
    assert rc == 0, err

    # The daemon refuses to start on a broken file: exit 1, the error on stderr.
    with Daemon("[mqtt]\nqos = 7\n[log]\ntarget = stderr\n") as d:
        assert d.wait(15) == 1
        log = d.log()
        assert re.search(r"error: .*lumiplugd\.ini:2: \[mqtt\] qos = '7': expected 0, 1 or 2\n", log), log
        assert "Refusing to start with a broken configuration" in log, log

    # -v: one level more than [log] level.
    with Mosquitto() as broker:
        with Daemon(mqtt_ini(broker.port, level="info")) as d:
            d.wait_log(r"info: Connected to MQTT broker")
            assert d.stop() == 0
            assert "debug:" not in d.log(), d.log()
        with Daemon(mqtt_ini(broker.port, level="info"), args=["-v"]) as d:
            d.wait_log(r"info: Connected to MQTT broker")
            assert d.stop() == 0
            assert "debug: Connecting to MQTT broker" in d.log(), d.log()
        with Daemon(mqtt_ini(broker.port, level="warning")) as d:
            broker_client_sees_online(broker.port)
            assert d.stop() == 0
            assert "info:" not in d.log(), d.log()
    print("ok")


if __name__ == "__main__":
    main()
