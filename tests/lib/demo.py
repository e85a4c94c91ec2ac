"""The README's demo: mosquitto + lumiplug-sim + lumiplugd, and what lumiplugd publishes.

Starts a broker on a free 127.0.0.1 port and the simulator with a few plugs, then the daemon on the
simulator's pseudo-terminal. Once the coordinator's network is up (bridge/info names it), it opens
permit join over MQTT, presses each plug's button, puts a 60 W lamp on plug_1 and toggles it over
MQTT. Every message under the base topic and the Home Assistant prefix is printed as it arrives.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from broker import Client, Mosquitto
from sim import Sim, ieee_of

printing = threading.Lock()


def say(text):
    with printing:
        print(text, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plugs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=40, help="how long to show messages at the end")
    ap.add_argument("--forever", action="store_true", help="keep running until Ctrl-C")
    ap.add_argument("--quiet-discovery", action="store_true", help="do not print Home Assistant configs")
    args = ap.parse_args()

    build = os.environ["LUMI_BUILD_ROOT"]
    daemon = os.path.join(build, "src", "lumiplugd")
    ctl = os.path.join(build, "src", "ctl", "lumiplugctl")
    work = tempfile.mkdtemp(prefix="lumiplugd-demo-")
    os.makedirs(os.path.join(work, "sim"))
    os.makedirs(os.path.join(work, "state"))
    say(f"== working directory {work}")

    broker = Mosquitto().start()
    say(f"== mosquitto on 127.0.0.1:{broker.port}")
    sim = Sim(plugs=args.plugs, workdir=os.path.join(work, "sim"), report_interval=10).start()
    say(f"== lumiplug-sim with {args.plugs} plugs on {sim.port} (control socket {sim.control_path})")

    ini = os.path.join(work, "lumiplugd.ini")
    with open(ini, "w") as f:
        f.write(f"[mqtt]\nhost = 127.0.0.1\nport = {broker.port}\n\n"
                f"[serial]\nport = {sim.port}\n\n"
                f"[state]\ndirectory = {os.path.join(work, 'state')}\n\n"
                f"[control]\nsocket = {os.path.join(work, 'control')}\n\n"
                "[log]\ntarget = stderr\nlevel = info\n")
        for i in range(1, args.plugs + 1):
            f.write(f"\n[device {ieee_of(i)}]\nfriendly_name = plug_{i}\n")
    say(f"== configuration {ini}:\n" + open(ini).read())

    watcher = Client(broker.port)

    def show(client, userdata, msg):
        watcher._on_message(client, userdata, msg)
        if args.quiet_discovery and msg.topic.startswith("homeassistant/"):
            return
        text = bytes(msg.payload).decode(errors="replace") or "(empty)"
        if len(text) > 320:
            text = text[:320] + "..."
        say(f"{msg.topic}{' [retained]' if msg.retain else ''}  {text}")

    watcher.c.on_message = show
    watcher.subscribe("zigbee2mqtt/#")
    watcher.subscribe("homeassistant/#")
    log = open(os.path.join(work, "lumiplugd.log"), "w")
    proc = subprocess.Popen([daemon, "-c", ini], stderr=subprocess.STDOUT, stdout=log)
    say(f"== lumiplugd started (pid {proc.pid}), its log: {log.name}\n")

    def step(what, action):
        if proc.poll() is not None:
            raise RuntimeError(f"lumiplugd exited with status {proc.returncode}; see {log.name}")
        say(f"\n== {what}")
        action()

    def coordinator_up(payload):
        try:
            return bool(json.loads(payload).get("coordinator", {}).get("ieee_address"))
        except ValueError:
            return False

    status = 0
    try:
        say("== waiting for the coordinator's network (bridge/info)")
        watcher.wait_for("zigbee2mqtt/bridge/info", coordinator_up, timeout=60)
        step("open permit join for 120 s",
             lambda: watcher.publish("zigbee2mqtt/bridge/request/permit_join", '{"time": 120}'))
        watcher.wait_for("zigbee2mqtt/bridge/response/permit_join", timeout=15)
        for i in range(1, args.plugs + 1):
            step(f"press the button of plug {i}", lambda i=i: sim.command(f"press {i}"))
            watcher.wait_for("zigbee2mqtt/bridge/event",
                             lambda p, i=i: b'"successful"' in p and ieee_of(i).encode() in p, timeout=60)
        step("plug_1 powers a 60 W lamp (the simulator's load)", lambda: sim.command("load 1 60"))
        step("switch plug_1 on over MQTT",
             lambda: watcher.publish("zigbee2mqtt/plug_1/set", '{"state": "ON"}'))
        time.sleep(2)
        step("plug_1 sends its full report", lambda: sim.command("report 1"))
        time.sleep(2)
        step("toggle plug_1 over MQTT",
             lambda: watcher.publish("zigbee2mqtt/plug_1/set", '{"state": "TOGGLE"}'))
        time.sleep(1)
        control = os.path.join(work, "control")
        step(f"ask the daemon over its control socket: lumiplugctl --socket {control} devices",
             lambda: say(subprocess.run([ctl, "--socket", control, "devices"], capture_output=True, text=True,
                                        timeout=30).stdout.rstrip()))
        deadline = None if args.forever else time.monotonic() + args.seconds
        say(f"\n== showing what comes next {'until Ctrl-C' if args.forever else f'for {args.seconds:.0f} s'}")
        while (deadline is None or time.monotonic() < deadline) and proc.poll() is None:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise RuntimeError(f"lumiplugd exited with status {proc.returncode}; see {log.name}")
    except KeyboardInterrupt:
        pass
    except Exception as e:          # the demo says what went wrong, then cleans up
        say(f"\n== demo failed: {e}")
        status = 1
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
    say(f"\n== stopped; lumiplugd's log is in {log.name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
