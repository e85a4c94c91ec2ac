#!/usr/bin/python3
"""Issue 4, start-up: a blank coordinator gets a network formed with a random key (kept in the
state directory, never the well-known key), bridge/state goes online and bridge/info names the
coordinator; a restart adopts the same network; an explicit [zigbee] value that does not match is
refused with exit status 1 and a message naming --reform; --reform replaces the network; a
coordinator holding another network than network.json remembers is refused, naming that file."""
import json
import os

from sysenv import Env

WELL_KNOWN_KEY = "01030507090b0d0f00020406080a0c0d"


def network_json(e):
    with open(os.path.join(e.state_dir, "network.json")) as f:
        return json.load(f)


def main():
    with Env(plugs=0) as e:
        d = e.start_daemon()
        info = e.wait_network()
        coord = info["coordinator"]
        sim = e.sim.info()
        assert coord["ieee_address"].startswith("0x") and len(coord["ieee_address"]) == 18, coord
        assert coord["type"] == "zStack3x0", coord
        net = info["network"]
        assert net["pan_id"] == sim["pan"], (net, sim)
        assert net["channel"] == sim["channel"], (net, sim)
        d.wait_log(r"Formed a new Zigbee network")
        stored = network_json(e)
        key = stored["network_key"].lower()
        assert len(key) == 32 and int(key, 16) != 0 and key != WELL_KNOWN_KEY, stored
        assert stored["pan_id"] == net["pan_id"], stored
        st = os.stat(os.path.join(e.state_dir, "network.json"))
        assert st.st_mode & 0o077 == 0, oct(st.st_mode)
        first_pan = net["pan_id"]
        first_epid = net["extended_pan_id"]

        assert d.stop() == 0, d.log()

        # restart: the same network is adopted, not formed again
        m = e.mark()
        d = e.start_daemon()
        info = e.wait_network(start=m)
        assert info["network"]["pan_id"] == first_pan, info["network"]
        assert info["network"]["extended_pan_id"] == first_epid, info["network"]
        d.wait_log(r"Adopted the coordinator's Zigbee network")
        assert "Formed a new" not in d.log()
        assert d.stop() == 0

        # an explicit PAN ID that does not match: refused, exit status 1, a clear message
        other = 0x1a2b if first_pan != 0x1a2b else 0x1a2c
        d = e.start_daemon(zigbee=f"pan_id = 0x{other:04x}\n")
        rc = d.wait(timeout=60)
        assert rc == 1, (rc, d.log())
        log = d.log()
        assert "--reform" in log and "Refusing to start" in log, log
        assert e.sim.info()["pan"] == first_pan

        # --reform replaces it
        m = e.mark()
        d = e.start_daemon(args=["--reform"], zigbee=f"pan_id = 0x{other:04x}\n")
        info = e.wait_network(start=m, timeout=90)
        assert info["network"]["pan_id"] == other, info["network"]
        assert e.sim.info()["pan"] == other
        d.wait_log(r"Formed a new Zigbee network")
        assert network_json(e) != stored
        assert d.stop() == 0

        # a coordinator holding another network than the one network.json remembers (a different
        # stick): refused too, and the message names network.json
        from sim import Sim
        e.sim.stop()
        e.sim = Sim(plugs=0, nv=os.path.join(e.workdir, "nv2.txt"), fast=True,
                    workdir=os.path.join(e.workdir, "sim")).start()
        kept = e.state_dir
        e.state_dir = os.path.join(e.workdir, "state-other")
        m = e.mark()
        d = e.start_daemon()
        e.wait_network(start=m)
        assert d.stop() == 0
        e.state_dir = kept
        d = e.start_daemon()
        assert d.wait(timeout=60) == 1, d.log()
        assert "network.json" in d.log() and "--reform" in d.log(), d.log()
    print("ok")


if __name__ == "__main__":
    main()
