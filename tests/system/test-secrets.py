#!/usr/bin/python3
"""No secret is ever logged or published. lumiplugd runs at debug level with an MQTT password and an
explicit network key through everything that touches them: forming the network on a blank
coordinator (the key is written to its NV), a plug pairing and switching, a reload that changes both,
a restart that adopts the network (the key is read back and compared) and --check-config of a broken
file. Every line it wrote and every MQTT message on the broker are searched for the password and for
the key in every spelling (hex either case and byte order, with or without separators, decimal bytes
as Zigbee2MQTT's network_key array). The INI holding them is world-readable (0644): that draws a
warning naming the file and the fix; at 0640 it does not."""
import json
import os
import re
import signal
import subprocess
import tempfile

from broker import Client, Mosquitto
from daemon import Daemon, check_config
from sim import Sim, ieee_of
from sysenv import BASE, wait_until

PASSWORD = "Pw-9f3Kq!zX7-secret"
PASSWORD2 = "Pw-second-Lm2Vb8"
KEY = bytes.fromhex("5a1b9c3d7e2f4a6b8c0d1e3f5a7b9c2d")
KEY2 = bytes.fromhex("c3e1a7954b2d6f8091aabbccddeeff10")


def spellings(key):
    """Every way a 16-byte key could appear in a log line or a JSON payload."""
    out = set()
    for k in (key, key[::-1]):
        for sep in ("", ":", " ", ",", ", ", "-"):
            h = sep.join(f"{b:02x}" for b in k)
            out |= {h, h.upper()}
            if sep:
                h0x = sep.join(f"0x{b:02x}" for b in k)
                out |= {h0x, h0x.upper().replace("0X", "0x")}
        for sep in (",", ", ", " "):
            out.add(sep.join(str(b) for b in k))
    # a run of 6 bytes is enough to count as a leak (a partial or wrapped dump)
    h = key.hex()
    out |= {h[i:i + 12] for i in range(0, len(h) - 11, 2)}
    out |= {h[i:i + 12].upper() for i in range(0, len(h) - 11, 2)}
    return out


def assert_no_secret(what, text):
    for s in (PASSWORD, PASSWORD2):
        assert s not in text, f"the MQTT password appears in {what}"
    for key in (KEY, KEY2):
        for s in spellings(key):
            assert s not in text, f"the network key appears in {what} (as {s!r})"


def ini_text(broker_port, sim_port, state_dir, password, key):
    return (f"[mqtt]\nhost = 127.0.0.1\nport = {broker_port}\nbase_topic = {BASE}\n"
            f"client_id = lumi-secrets-test\nusername = lumi\npassword = {password}\n"
            f"[serial]\nport = {sim_port}\n"
            f"[zigbee]\nnetwork_key = {key.hex()}\n"
            f"[state]\ndirectory = {state_dir}\n"
            f"[log]\nlevel = debug\ntarget = stderr\n")


def main():
    work = tempfile.mkdtemp(prefix="lumi-secrets-")
    os.chmod(work, 0o755)           # mosquitto may drop to its own user before reading its files
    pwfile = os.path.join(work, "passwd")
    for user, pw in (("lumi", PASSWORD), ("watcher", "watch")):
        subprocess.run(["mosquitto_passwd", *([] if os.path.exists(pwfile) else ["-c"]), "-b", pwfile, user, pw],
                       check=True, capture_output=True)
    os.chmod(pwfile, 0o644)
    state_dir = os.path.join(work, "state")
    logs = []

    with Mosquitto(allow_anonymous=False, extra_config=f"password_file {pwfile}\n",
                   workdir=work) as broker, \
            Sim(plugs=1, fast=True, workdir=tempfile.mkdtemp(prefix="sim-", dir=work)) as sim:
        watcher = Client(broker.port, username="watcher", password="watch")
        watcher.subscribe("#")

        def wait_json(topic, pred, start, timeout=60):
            _, p, _ = watcher.wait_for(topic, lambda b: pred(json.loads(b or b"null") or {}), timeout=timeout,
                                       start=start)
            return json.loads(p)

        # --- first run: a blank coordinator gets the configured key; a plug pairs and switches ---
        d = Daemon(ini_text(broker.port, sim.port, state_dir, PASSWORD, KEY),
                   workdir=tempfile.mkdtemp(prefix="daemon-", dir=work))
        os.chmod(d.ini_path, 0o644)
        with d:
            d.wait_log(re.escape(f"warning: {d.ini_path} holds the MQTT password and the network key and every "
                                 f"user can read it (mode 0644); run: chmod 0640 {d.ini_path}"))
            wait_json(f"{BASE}/bridge/info", lambda v: (v.get("coordinator") or {}).get("ieee_address"), 0)
            m = watcher.mark()
            watcher.publish(f"{BASE}/bridge/request/permit_join", json.dumps({"time": 254, "transaction": "pj"}))
            wait_json(f"{BASE}/bridge/response/permit_join", lambda v: v.get("status") == "ok", m)
            sim.command("press 1")
            ieee = ieee_of(1)
            wait_json(f"{BASE}/bridge/event", lambda v: v.get("type") == "device_interview" and
                      v["data"].get("status") == "successful", m)
            m = watcher.mark()
            watcher.publish(f"{BASE}/{ieee}/set", json.dumps({"state": "ON"}))
            wait_json(f"{BASE}/{ieee}", lambda v: v.get("state") == "ON", m)
            wait_until(lambda: sim.state(1)["state"] == "ON", what="the plug switched on")

            # a reload that changes both secrets: named, never shown
            d.write_ini(ini_text(broker.port, sim.port, state_dir, PASSWORD2, KEY2))
            pos = len(d.log())
            d.send_signal(signal.SIGHUP)
            d.wait_log(r"Reload: \[mqtt\] password changed; it takes effect only after a restart", start=pos)
            d.wait_log(r"Reload: \[zigbee\] network_key changed; it takes effect only after a restart", start=pos)
            assert d.stop() == 0, d.log()
        logs.append(("the first run's log", d.log()))

        # --- second run, 0640: no warning; the network (and its key) is adopted from the coordinator ---
        d = Daemon(ini_text(broker.port, sim.port, state_dir, PASSWORD, KEY),
                   workdir=tempfile.mkdtemp(prefix="daemon-", dir=work))
        os.chmod(d.ini_path, 0o640)
        m = watcher.mark()
        with d:
            wait_json(f"{BASE}/bridge/info", lambda v: (v.get("coordinator") or {}).get("ieee_address"), m)
            wait_json(f"{BASE}/bridge/devices", lambda v: any(x.get("ieee_address") == ieee for x in v), m)
            assert "every user can read it" not in d.log(), d.log()
            assert d.stop() == 0, d.log()
        logs.append(("the second run's log", d.log()))

        # --- a key that does not match the coordinator's: refused, without showing either key ---
        d = Daemon(ini_text(broker.port, sim.port, state_dir, PASSWORD, KEY2),
                   workdir=tempfile.mkdtemp(prefix="daemon-", dir=work))
        with d:
            d.wait(timeout=60)
        assert d.returncode == 1, d.log()
        logs.append(("the refused run's log", d.log()))

        # --- --check-config of a broken file that holds the secrets ---
        broken = ini_text(broker.port, sim.port, state_dir, PASSWORD, KEY) + "[mqtt]\nqos = 9\npassword = again\n"
        rc, out, err = check_config(broken)
        assert rc == 1 and "(hidden)" in err, (rc, out, err)
        logs.append(("--check-config", out + err))
        watcher.close()

        for what, text in logs:
            assert_no_secret(what, text)
        payloads = "\n".join(f"{t} {p.decode('utf-8', 'replace')}" for t, p, _ in watcher.messages)
        assert len(watcher.messages) > 20, watcher.messages
        assert_no_secret("an MQTT message", payloads)
    print(f"ok: {sum(len(t) for _, t in logs)} bytes of log and {len(watcher.messages)} MQTT messages hold no secret")


if __name__ == "__main__":
    main()
