"""The README's demo: mosquitto + lumiplug-sim + lumiplugd, and what lumiplugd publishes.

Steps: start a broker on a free 127.0.0.1 port and the simulator with a few plugs, start the
daemon on the simulator's pseudo-terminal, open permit join over MQTT, press each plug's button,
put a load on one, toggle it over MQTT, and print every message under the base topic and the
Home Assistant discovery prefix as it arrives.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from broker import Client, Mosquitto
from sim import Sim


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plugs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--forever", action="store_true")
    args = ap.parse_args()

    build = os.environ["LUMI_BUILD_ROOT"]
    daemon = os.path.join(build, "src", "lumiplugd")
    work = tempfile.mkdtemp(prefix="lumiplugd-demo-")
    print(f"== working directory {work}")

    broker = Mosquitto().start()
    print(f"== mosquitto on 127.0.0.1:{broker.port}")
    sim = Sim(plugs=args.plugs, workdir=os.path.join(work, "sim"), report_interval=10).start()
    print(f"== lumiplug-sim with {args.plugs} plugs on {sim.port}")

    ini = os.path.join(work, "lumiplugd.ini")
    state = os.path.join(work, "state")
    os.makedirs(state, exist_ok=True)
    with open(ini, "w") as f:
        f.write(f"[mqtt]\nhost = 127.0.0.1\nport = {broker.port}\n\n"
                f"[serial]\nport = {sim.port}\n\n"
                f"[state]\ndirectory = {state}\n\n"
                "[log]\ntarget = stderr\nlevel = info\n")
    print(f"== configuration {ini}:\n" + open(ini).read())

    watcher = Client(broker.port)
    watcher.subscribe("zigbee2mqtt/#")
    watcher.subscribe("homeassistant/#")
    log = open(os.path.join(work, "lumiplugd.log"), "w")
    proc = subprocess.Popen([daemon, "-c", ini], stderr=subprocess.STDOUT, stdout=log)
    print(f"== lumiplugd started (pid {proc.pid}), log in {log.name}\n")

    shown = 0
    deadline = None if args.forever else time.monotonic() + args.seconds
    steps = [
        (3, "open permit join for 60 s",
         lambda: watcher.publish("zigbee2mqtt/bridge/request/permit_join", '{"time": 60}')),
    ]
    for i in range(1, args.plugs + 1):
        steps.append((4 + i, f"press the button of plug {i}", lambda i=i: sim.command(f"press {i}")))
    steps.append((12, "plug 1 powers a 60 W lamp", lambda: sim.command("load 1 60")))
    steps.append((16, "toggle plug 1 over MQTT",
                  lambda: watcher.publish("zigbee2mqtt/plug_1/set", '{"state": "TOGGLE"}')))
    start = time.monotonic()
    try:
        while deadline is None or time.monotonic() < deadline:
            while steps and time.monotonic() - start >= steps[0][0]:
                _, what, action = steps.pop(0)
                print(f"\n== {what}")
                try:
                    action()
                except Exception as e:          # the demo goes on; the error is shown
                    print(f"   ({e})")
            with watcher.cond:
                new = watcher.messages[shown:]
                shown = len(watcher.messages)
            for topic, payload, retain in new:
                text = payload.decode(errors="replace") or "(empty)"
                if len(text) > 300:
                    text = text[:300] + "..."
                print(f"{topic}{' [retained]' if retain else ''}  {text}")
            if proc.poll() is not None:
                print(f"\n== lumiplugd exited with status {proc.returncode}; its log:")
                print(open(log.name).read())
                return 1
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        watcher.close()
        sim.stop()
        broker.stop()
    print(f"\n== stopped; lumiplugd's log is in {log.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
