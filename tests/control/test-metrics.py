#!/usr/bin/python3
"""Issue 7 item 2: the Prometheus endpoint. [metrics] listen on 127.0.0.1: GET /metrics in the text
format 0.0.4 whose per-plug values are what MQTT published for the plug (power, energy, voltage,
current, temperature, link quality, availability), label values escaped, daemon counters; 404, 405
and 400 for everything else. Then the same socket passed by systemd under the name "metrics"."""
import http.client
import os
import re
import socket

from broker import free_port
from ctlenv import BASE, Env, ctl_json, latest, start_activated, wait_until
from sim import ieee_of

SAMPLE = re.compile(r'^([a-z_]+)(\{device="([^"]*)",name="((?:[^"\\]|\\.)*)"\})? (\S+)$')


def get(port, path="/metrics", method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path)
    r = c.getresponse()
    body = r.read().decode()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def raw(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    return out.decode(errors="replace")


def parse(body):
    """{(name, device, label name): value} and the set of families with HELP and TYPE."""
    samples, helped, typed = {}, set(), {}
    for line in body.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            typed[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            samples[(m.group(1), m.group(3), m.group(4))] = float(m.group(5))
    for name, _, _ in samples:
        assert name in helped and name in typed, f"{name} without HELP/TYPE"
    return samples, typed


def main():
    port = free_port()
    with Env(plugs=1) as e:
        e.start_daemon(extra=f"[metrics]\nlisten = 127.0.0.1:{port}\n")
        e.wait_network()
        e.daemon.wait_log(rf"Metrics at http://127.0.0.1:{port}/metrics")
        m = e.mark()
        e.permit_join(60)
        e.pair(1, start=m)
        ieee = ieee_of(1)
        name = 'desk "lamp" \\ 1'
        r = e.request("device/rename", {"from": ieee, "to": name, "transaction": "r1"})
        assert r["status"] == "ok", r
        m = e.mark()
        e.watcher.publish(f"{BASE}/{name}/set", '{"state": "ON"}')
        e.wait(f"{BASE}/{name}", lambda v: v.get("state") == "ON", start=m)
        e.sim.command("load 1 60")
        e.sim.command("report 1")
        mq = e.wait(f"{BASE}/{name}", lambda v: v.get("power") not in (None, 0) and v.get("voltage") is not None
                    and v.get("device_temperature") is not None and v.get("linkquality") is not None, start=m)

        status, ctype, body = get(port)
        assert status == 200 and ctype == "text/plain; version=0.0.4; charset=utf-8", (status, ctype)
        label = 'desk \\"lamp\\" \\\\ 1'
        keys = (("power_watts", "power"), ("energy_kwh", "energy"), ("voltage_volts", "voltage"),
                ("current_amperes", "current"), ("device_temperature_celsius", "device_temperature"),
                ("linkquality", "linkquality"))

        def same_as_mqtt():
            """The scrape shows what MQTT last published (a report may come in between: retried)."""
            smp, _ = parse(get(port)[2])
            last = latest(e, f"{BASE}/{name}")
            return all(smp.get((f"lumiplugd_plug_{metric}", ieee, label)) == last[key] for metric, key in keys)
        wait_until(same_as_mqtt, what="metrics equal to the plug's MQTT state")
        samples, typed = parse(body)
        assert samples[('lumiplugd_plug_available', ieee, label)] == 1, body
        for metric, _ in keys:
            assert typed[f"lumiplugd_plug_{metric}"] == "gauge"
        assert abs(samples[("lumiplugd_plug_power_watts", ieee, label)] - 60) < 5, mq
        assert samples[("lumiplugd_znp_frames_received_total", None, None)] > 10
        assert samples[("lumiplugd_znp_frames_sent_total", None, None)] > 10
        assert ("lumiplugd_znp_retries_total", None, None) in samples
        assert samples[("lumiplugd_mqtt_reconnects_total", None, None)] == 0
        assert samples[("lumiplugd_mqtt_connected", None, None)] == 1
        assert samples[("lumiplugd_uptime_seconds", None, None)] >= 0
        assert typed["lumiplugd_znp_frames_sent_total"] == "counter"

        # a plug out of range: its sends are retried, the counter shows it
        retries = samples[("lumiplugd_znp_retries_total", None, None)]
        e.sim.command("offline 1")
        e.watcher.publish(f"{BASE}/{name}/set", '{"state": "OFF"}')
        wait_until(lambda: parse(get(port)[2])[0][("lumiplugd_znp_retries_total", None, None)] > retries,
                   timeout=60, what="a retry counted")
        e.sim.command("online 1")

        # the broker goes away and comes back: one reconnect counted, the plug's values unchanged
        e.broker.restart()

        def reconnected():
            smp, _ = parse(get(port)[2])
            return smp[("lumiplugd_mqtt_reconnects_total", None, None)] == 1 and \
                smp[("lumiplugd_mqtt_connected", None, None)] == 1
        wait_until(reconnected, timeout=60, what="one MQTT reconnect counted")

        # everything else
        assert get(port, "/")[0] == 404
        assert get(port, "/metrics/x")[0] == 404
        assert get(port, "/metrics", "POST")[0] == 405
        status, _, body = get(port, "/metrics", "HEAD")
        assert status == 200 and body == ""
        assert raw(port, b"garbage\r\n\r\n").startswith("HTTP/1.1 400 ")
        assert raw(port, b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 10000 + b"\r\n\r\n").startswith("HTTP/1.1 400 ")
        assert raw(port, b"GET /metrics HTTP/1.0\r\n\r\n").startswith("HTTP/1.1 200 ")
        # a client that sends half a request does not stop the others
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /met")
        assert get(port)[0] == 200
        s.close()
        assert e.daemon.stop() == 0

    # systemd passes the listener, named "metrics"
    port = free_port()
    with Env(plugs=0) as e:
        sock = os.path.join(e.workdir, "control")
        d = start_activated(e, sock, extra_fds=[(f"127.0.0.1:{port}", "metrics")])
        assert ctl_json(sock, "status")["version"]      # the first connection starts the daemon
        d.wait_log(r"Metrics socket passed by systemd")
        status, _, body = get(port)
        assert status == 200 and "lumiplugd_uptime_seconds " in body, body
        assert d.stop() == 0


if __name__ == "__main__":
    main()
