#!/usr/bin/python3
"""With MQTT 5 (the default) the daemon's own messages under <base>/ are not delivered back to it
(No Local on <base>/#), read from the broker's own log (mosquitto -v logs every PUBLISH it receives
and sends, with the client id): its state messages and bridge/devices reach the broker and the
other subscribers, none is sent to the daemon, while the set commands of another client are (the
plug toggles). The same daemon with [mqtt] version = 4 (MQTT 3.1.1) gets its state messages back,
so the count can tell."""
import json
import re

from sysenv import BASE, Env, wait_until

CLIENT = "lumi-no-local-test"


def publishes(log_path, direction, topic):
    """(retain flag, ...) of the PUBLISH lines for CLIENT on exactly topic; direction: "Received
    PUBLISH from" or "Sending PUBLISH to"."""
    pat = re.compile(re.escape(f"{direction} {CLIENT} ") + r"\(d\d, q\d, r(\d), m\d+, '" + re.escape(topic) + "'")
    with open(log_path, errors="replace") as f:
        return [m.group(1) for m in map(pat.search, f) if m]


def toggle(e, name, times):
    for _ in range(times):
        m = e.mark()
        e.watcher.publish(f"{BASE}/{name}/set", json.dumps({"state": "TOGGLE"}))
        e.wait(f"{BASE}/{name}", lambda v: v.get("state") in ("ON", "OFF"), start=m)


def main():
    log_path = None
    with Env(plugs=1) as e:
        log_path = e.broker.log_path
        e.start_daemon(extra=f"[mqtt]\nclient_id = {CLIENT}\n")
        e.wait_network()
        e.permit_join()
        name = e.pair(1)["data"]["friendly_name"]
        e.devices(pred=lambda v: any(d.get("friendly_name") == name for d in v))
        toggle(e, name, 3)
        state = f"{BASE}/{name}"
        # every state message we saw was logged as received from the daemon before it was sent on
        wait_until(lambda: len(publishes(log_path, "Received PUBLISH from", state)) >= 6, timeout=30,
                   what="the daemon's state messages in the broker's log")
        assert len(publishes(log_path, "Received PUBLISH from", f"{BASE}/bridge/devices")) >= 1
        assert len(publishes(log_path, "Sending PUBLISH to", f"{BASE}/{name}/set")) == 3     # others': yes
        assert publishes(log_path, "Sending PUBLISH to", state) == []                         # ours: no
        assert publishes(log_path, "Sending PUBLISH to", f"{BASE}/bridge/devices") == []
        # bridge/state "online" is published before the subscriptions: it comes once, as retained (r1)
        assert publishes(log_path, "Sending PUBLISH to", f"{BASE}/bridge/state") == ["1"]
        e.daemon.stop()

        # MQTT 3.1.1: the same subscription gets them back (the retained ones of the first run, r1,
        # at subscribe time; the new ones, r0, live).
        e.start_daemon(extra=f"[mqtt]\nclient_id = {CLIENT}\nversion = 4\n")
        e.wait_network()
        before = len(publishes(log_path, "Received PUBLISH from", state))
        toggle(e, name, 1)
        wait_until(lambda: len(publishes(log_path, "Received PUBLISH from", state)) >= before + 2, timeout=30,
                   what="the state messages of the 3.1.1 run in the broker's log")
        wait_until(lambda: publishes(log_path, "Sending PUBLISH to", state).count("0") >= 2, timeout=30,
                   what="the state messages sent back over MQTT 3.1.1")
        assert "does not speak MQTT 5" not in e.daemon.log()
    print("ok")


if __name__ == "__main__":
    main()
