#!/usr/bin/python3
"""Issue 9 item 3e: 1,000 bad MQTT messages of every kind, interleaved with good ones, to every topic
the daemon subscribes: bad JSON, wrong types, unknown keys, out-of-range values, unknown devices,
payloads over the 64 KiB limit (up to 1 MiB), binary garbage, empty payloads, bad /set/<key> and /get
messages and bad bridge requests. Every good command is obeyed by the simulated plug; every bad
message addressed to the daemon is reported, exactly once, on bridge/logging (and, for a request, on
bridge/response/<name> with status "error" and its transaction), as Zigbee2MQTT reports them; garbage
on the topics Zigbee2MQTT ignores too (its own output topics, the Home Assistant status and discovery
topics) is ignored. The daemon stays up and its RSS does not grow after a warm-up."""
import json
import os
import random

from chaoslib import BASE, Env, ieee_of, rss_kib, sanitized, start_and_pair, switch, wait_until

BAD = int(os.environ.get("LUMI_CHAOS_BAD_MESSAGES", "1000"))
GOOD_EVERY = 10         # one good command after every 10 bad messages
WARMUP = 200
RSS_TOLERANCE_KIB = 2048
NAME = "lamp"           # plug 1, renamed: the bad messages use the friendly name
LIMIT = 64 * 1024


def bad_message(i, rnd):
    """(topic, payload, expected) for bad message i: expected is ("log", text) for a bridge/logging
    error containing text, ("response", name, transaction or None, text) for an error response that
    is also logged, or ("ignored",)."""
    s = f"{BASE}/{NAME}/set"
    kinds = [
        lambda: (s, f'{{"state": "ON", {i}'.encode(), ("log", f"Invalid message to '{NAME}' (set)")),
        lambda: (s, json.dumps({"state": i}).encode(), ("log", f"got {i}'")),
        lambda: (s, json.dumps({f"key{i}": 1}).encode(), ("log", f"'key{i}' to '{NAME}' failed")),
        lambda: (s, json.dumps({"overload_protection": 5000 + i}).encode(), ("log", f"got {5000 + i}")),
        lambda: (f"{BASE}/ghost{i}/set", b'{"state":"ON"}', ("log", f"Entity 'ghost{i}' is unknown")),
        lambda: (s, (b'{"state":"ON","pad":"' + b"x" * [LIMIT, 200000, 1 << 20][i % 3] + b'"}'),
                 ("log", f"larger than the {LIMIT}-byte limit")),
        lambda: (s, b"\xff" + rnd.randbytes(rnd.randint(1, 300)), ("log", f"Invalid message to '{NAME}' (set)")),
        lambda: (s, b"", ("log", f"Invalid message to '{NAME}' (set)")),
        lambda: (f"{s}/state", f"MAYBE{i}".encode(), ("log", f'got "MAYBE{i}"')),
        lambda: (f"{BASE}/{NAME}/get", f"[{i}]".encode(), ("log", f"Invalid message to '{NAME}' (get)")),
        lambda: (f"{BASE}/{NAME}/get", json.dumps({f"nokey{i}": ""}).encode(), ("log", f"'nokey{i}' to '{NAME}'")),
        lambda: (s, json.dumps({"state": "ON", "led_disabled_night": f"x{i}"}).encode(),
                 ("log", f'got "x{i}"')),
        lambda: (f"{BASE}/bridge/request/nope{i}", json.dumps({"transaction": f"t{i}"}).encode(),
                 ("response", f"nope{i}", f"t{i}", "is not supported")),
        lambda: (f"{BASE}/bridge/request/device/rename", json.dumps({"from": f"ghost{i}", "to": "x",
                                                                       "transaction": f"t{i}"}).encode(),
                 ("response", "device/rename", f"t{i}", f"'ghost{i}'")),
        lambda: (f"{BASE}/bridge/request/device/rename", json.dumps({"from": NAME, "to": f"bad/+/{i}",
                                                                       "transaction": f"t{i}"}).encode(),
                 ("response", "device/rename", f"t{i}", "")),
        lambda: (f"{BASE}/bridge/request/device/remove", json.dumps({"id": f"ghost{i}", "transaction": f"t{i}"}).encode(),
                 ("response", "device/remove", f"t{i}", f"ghost{i}")),
        lambda: (f"{BASE}/bridge/request/permit_join", json.dumps({"value": i, "transaction": f"t{i}"}).encode(),
                 ("response", "permit_join", f"t{i}", "")),
        lambda: (f"{BASE}/bridge/request/device/rename", b"\xfe" + rnd.randbytes(40),
                 ("response", "device/rename", None, "")),
        lambda: (f"{BASE}/bridge/request/device/rename", b"", ("response", "device/rename", None, "")),
        lambda: (f"{BASE}/bridge/request/device/options", b'{"id":"lamp","options":' + b"[" * 300000 + b"]" * 300000 + b"}",
                 ("response", "device/options", None, f"larger than the {LIMIT}-byte limit")),
        lambda: (f"{BASE}/bridge/request/device/options", b'{"transaction":"t%d","id":"lamp","options":' % i +
                 b"[" * 5000 + b"]" * 5000 + b"}", ("response", "device/options", None, "")),
        # ignored, as Zigbee2MQTT ignores them: its own output topics, HA's status and discovery topics
        lambda: (f"{BASE}/{NAME}", rnd.randbytes(50), ("ignored",)),
        lambda: (f"{BASE}/bridge/devices", b"[garbage", ("ignored",)),
        lambda: ("homeassistant/status", rnd.randbytes(20), ("ignored",)),
        lambda: (f"homeassistant/switch/{ieee_of(1)}/switch/config", b"{not json", ("ignored",)),
    ]
    return kinds[i % len(kinds)]()


def report_seen(e, m, expected):
    for t, p, _ in e.watcher.messages[m:]:
        if expected[0] == "log" and t == f"{BASE}/bridge/logging" and expected[1] in json.loads(p)["message"]:
            return True
        if expected[0] == "response" and t == f"{BASE}/bridge/response/{expected[1]}":
            v = json.loads(p)
            if v["status"] == "error" and v.get("transaction") == expected[2] and expected[3] in v["error"]:
                return True
    return False


def main():
    rnd = random.Random(95)
    with Env(plugs=2, report_interval=1) as e:
        d = start_and_pair(e)
        r = e.request("device/rename", {"from": ieee_of(1), "to": NAME, "transaction": "rename"})
        assert r["status"] == "ok", r
        targets = [(1, NAME), (2, ieee_of(2))]
        reported = ignored = good = 0
        logged_before = sum(1 for t, _, _ in e.watcher.messages if t == f"{BASE}/bridge/logging")
        rss = []
        for i in range(BAD):
            topic, payload, expected = bad_message(i, rnd)
            m = e.mark()
            e.watcher.publish(topic, payload)
            if expected[0] == "ignored":
                ignored += 1
            else:
                # the daemon handles its messages in order: the report comes before the next one's
                wait_until(lambda: report_seen(e, m, expected), interval=0.005, timeout=30,
                           what=f"bad message {i} on {topic} ({payload[:60]!r}...) reported as {expected}")
                reported += 1
            if i % GOOD_EVERY == GOOD_EVERY - 1:
                n, name = targets[good % 2]
                want = "OFF" if e.sim.state(n)["state"] == "ON" else "ON"
                mm = e.mark()
                if good % 4 < 2:
                    e.watcher.publish(f"{BASE}/{name}/set", json.dumps({"state": want}))
                else:
                    e.watcher.publish(f"{BASE}/{name}/set/state", want)
                e.wait(f"{BASE}/{name}", lambda v: v.get("state") == want, start=mm, timeout=30)
                wait_until(lambda: e.sim.state(n)["state"] == want, what=f"good command {good} obeyed")
                good += 1
            if i + 1 == WARMUP or i + 1 == BAD or (i + 1) % 100 == 0:
                rss.append((i + 1, rss_kib(d.pid)))
            assert d.running(), f"the daemon died at bad message {i}"

        # still fully working: a normal request and a command to each plug
        assert e.request("health_check", {"transaction": "h"})["status"] == "ok"
        for n, name in targets:
            switch(e, n, "OFF" if e.sim.state(n)["state"] == "ON" else "ON", name=name)
        logged = sum(1 for t, _, _ in e.watcher.messages if t == f"{BASE}/bridge/logging") - logged_before
        print(f"{BAD} bad messages: {reported} reported, {ignored} ignored (topics Zigbee2MQTT ignores too); "
              f"{good} good commands obeyed; {logged} bridge/logging errors")
        assert logged == reported, (logged, reported)
        print("RSS (KiB) after N bad messages: " + ", ".join(f"{n}: {k}" for n, k in rss))
        after_warmup = dict(rss)[WARMUP]
        growth = rss[-1][1] - after_warmup
        print(f"RSS growth after the warm-up of {WARMUP} messages: {growth} KiB (tolerance {RSS_TOLERANCE_KIB} KiB)")
        if sanitized():
            print("a sanitizer build: RSS is not checked (ASan keeps freed memory in its quarantine)")
        else:
            assert growth <= RSS_TOLERANCE_KIB, rss
        assert d.stop() == 0
    print("ok")


if __name__ == "__main__":
    main()
