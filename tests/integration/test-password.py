#!/usr/bin/python3
"""Username and password: a wrong password is refused by the broker, logged clearly (with the
broker's reason, never the password) and retried with backoff; password_file is read at start with
its trailing newline stripped and gets in."""
import json
import os
import subprocess
import tempfile

from broker import Client, Mosquitto
from daemon import Daemon, mqtt_ini

SECRET = "correct horse"
WRONG = "wrong-Pa55w0rd-xyz"


def main():
    d = tempfile.mkdtemp(prefix="lumi-pw-")
    os.chmod(d, 0o755)
    pwfile = os.path.join(d, "passwd")
    subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, "lumi", SECRET], check=True, capture_output=True)
    subprocess.run(["mosquitto_passwd", "-b", pwfile, "watcher", "watch"], check=True, capture_output=True)
    os.chmod(pwfile, 0o644)
    secret_file = os.path.join(d, "secret")
    with open(secret_file, "w") as f:
        f.write(SECRET + "\n")

    with Mosquitto(allow_anonymous=False, extra_config=f"password_file {pwfile}\n") as broker:
        watcher = Client(broker.port, username="watcher", password="watch")
        watcher.subscribe("#")

        # Wrong password: refused, clearly, more than once; the daemon keeps running.
        ini = mqtt_ini(broker.port, base_topic="pwbad",
                       mqtt_extra=f"username = lumi\npassword = {WRONG}\nreconnect_max = 2\n")
        with Daemon(ini) as dmn:
            # MQTT 5 (the default): the broker's reason code 135
            dmn.wait_log(r"error: MQTT broker 127\.0\.0\.1:\d+ refused the connection: Not authorized "
                         r"\(check \[mqtt\] username and password/password_file\); retrying in 1s")
            dmn.wait_log(r"refused the connection: .*retrying in 2s", count=2, timeout=20)
            assert dmn.running()
            log = dmn.log()
            assert "Connected to MQTT broker" not in log, log
            assert WRONG not in log, "the password was logged"
            assert dmn.stop() == 0, log
        assert not any(t.startswith("pwbad/") for t, _, _ in watcher.messages), watcher.messages

        # The same over MQTT 3.1.1: the broker's return code 5, in 3.1.1's words.
        ini = mqtt_ini(broker.port, base_topic="pwbad4",
                       mqtt_extra=f"username = lumi\npassword = {WRONG}\nreconnect_max = 2\nversion = 4\n")
        with Daemon(ini) as dmn:
            dmn.wait_log(r"error: MQTT broker 127\.0\.0\.1:\d+ refused the connection: Connection Refused: not "
                         r"authorised \(check \[mqtt\] username and password/password_file\); retrying in 1s")
            log = dmn.log()
            assert "does not speak MQTT 5" not in log, log
            assert dmn.stop() == 0, log

        # No credentials at all: refused the same way, and never taken for a broker without MQTT 5.
        with Daemon(mqtt_ini(broker.port, base_topic="pwnone", mqtt_extra="reconnect_max = 1\n")) as dmn:
            dmn.wait_log(r"refused the connection: Not authorized \(check", count=2)
            assert "does not speak MQTT 5" not in dmn.log(), dmn.log()
            assert dmn.stop() == 0

        # The right password from password_file (newline stripped): online.
        ini = mqtt_ini(broker.port, base_topic="pwgood",
                       mqtt_extra=f"username = lumi\npassword_file = {secret_file}\n")
        with Daemon(ini) as dmn:
            watcher.wait_for("pwgood/bridge/state", lambda m: json.loads(m) == {"state": "online"}, timeout=20)
            log = dmn.log()
            assert SECRET not in log, "the password was logged"
            assert dmn.stop() == 0, log
            watcher.wait_for("pwgood/bridge/state", lambda m: json.loads(m) == {"state": "offline"})
        watcher.close()
    print("ok")


if __name__ == "__main__":
    main()
