#!/usr/bin/python3
"""Issue 11 end to end (lumiplugd + lumiplug-sim + mosquitto): OTA updates of a simulated ZNCZ04LM
from image files the test builds into [ota] directory.

  - check with no image, then each kind of bad image (refused, with the reason in the MQTT
    response), an image for another product and one that is not newer;
  - a good image: check says available, update serves it (progress messages with remaining
    seconds, state updating), the plug reboots into the new version, which the daemon reads back
    (installed_version), the response carries from/to;
  - page requests instead of block requests;
  - the plug dropping out mid-update (state back to available, nothing installed), then a new
    update that succeeds;
  - the daemon killed mid-update and started again (available, not installed; the plug's half
    download is aborted), then a new update that succeeds;
  - abort of a running update, and the plug leaving the network mid-update;
  - the Home Assistant update entity that installs with the request it names."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "system"))

import otafile  # noqa: E402
from sim import ieee_of  # noqa: E402
from sysenv import BASE, Env, wait_until  # noqa: E402

NAME = "plug_ota"


def put_image(e, name, data, clear=True):
    d = e.ota_dir
    os.makedirs(d, exist_ok=True)
    if clear:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def request(e, kind, tx, payload=None):
    body = payload if payload is not None else {"id": NAME}
    body = dict(body, transaction=tx)
    return e.request(f"device/ota_update/{kind}", body, timeout=60)


def state_update(e, pred, start, timeout=30):
    return e.wait(f"{BASE}/{NAME}", lambda v: "update" in v and pred(v["update"]), start=start, timeout=timeout)["update"]


def updates_since(e, start):
    out = []
    for topic, payload, _ in e.watcher.messages[start:]:
        if topic == f"{BASE}/{NAME}" and payload:
            v = json.loads(payload)
            if "update" in v:
                out.append(v["update"])
    return out


def page_blocks(size, page, block):
    """Blocks a download of size bytes takes with page requests of page bytes, blocks of block."""
    n = 0
    for start in range(0, size, page):
        n += -(-min(page, size - start) // block)
    return n


def main():
    workdir = None
    extra = ("[ota]\ndirectory = {dir}\nimage_block_response_delay = 0\nimage_block_request_timeout = 3000\n\n"
             f"[device {ieee_of(1)}]\nfriendly_name = {NAME}\n")
    with Env(plugs=1) as e:
        workdir = e.workdir
        e.ota_dir = os.path.join(e.workdir, "ota")
        e.extra = extra.format(dir=e.ota_dir)
        e.start_daemon()
        e.wait_network()
        e.permit_join(120)
        e.pair(1)
        ieee = ieee_of(1)

        # --- the Home Assistant update entity: installs with the update request ---
        cfg = e.wait(f"homeassistant/update/{ieee}/update/config", timeout=30)
        assert cfg["command_topic"] == f"{BASE}/bridge/request/device/ota_update/update", cfg
        assert json.loads(cfg["payload_install"]) == {"id": ieee}, cfg

        # --- bad requests ---
        r = request(e, "check", "nodev", {"id": "nobody"})
        assert r["status"] == "error" and r["error"] == "Device 'nobody' does not exist", r
        r = request(e, "update", "noid", {"foo": 1})
        assert r["status"] == "error" and r["error"] == "Invalid payload", r

        # --- check, nothing in the directory: idle, installed = latest = 22 ---
        m = e.mark()
        r = request(e, "check", "c0")
        assert r["status"] == "ok" and r["data"] == {"id": NAME, "update_available": False, "downgrade": False}, r
        u = state_update(e, lambda u: u["state"] == "idle", m)
        assert u["installed_version"] == 22 and u["latest_version"] == 22, u

        # --- each kind of bad image: refused with the reason, nothing sent to the plug ---
        for fname, data, words in otafile.bad_images(24):
            put_image(e, fname, data)
            r = request(e, "update", "bad-" + fname)
            assert r["status"] == "error", (fname, r)
            assert r["error"].startswith(f"Update of '{NAME}' failed (No image currently available; refused: '{fname}': "), r
            assert words in r["error"], (fname, words, r["error"])
            assert e.sim.plug(1)["joined"] and json.loads(e.sim.command("ota 1"))["blocks"] == 0
        # a broken file with a vendor prefix before the identifier is still found and checked
        put_image(e, "prefixed.ota", otafile.build(24, prefix=b"VENDOR", extra=b"x"))
        r = request(e, "update", "bad-prefixed")
        assert "size mismatch" in r["error"], r
        # an image for another product, and one that is not newer: no image, nothing refused
        put_image(e, "other.ota", otafile.build(30, manufacturer=0x1234, image_type=0x0001))
        put_image(e, "old.ota", otafile.build(22), clear=False)
        r = request(e, "update", "other")
        assert r["status"] == "error" and r["error"] == f"Update of '{NAME}' failed (No image currently available)", r
        r = request(e, "check", "other-check")
        assert r["data"]["update_available"] is False, r
        # an image meant for other hardware versions is not offered either, and said so
        put_image(e, "hw.ota", otafile.build(40, field_control=4, hw=(5, 9)))
        r = request(e, "update", "hw")
        assert r["status"] == "error" and "'hw.ota': for hardware versions 5..9" in r["error"], r

        # --- a good image: check says available ---
        image24 = otafile.build(24, payload_size=6000, seed=24)
        put_image(e, "OTA_lumi.plug.mmeu01_V24.ota", image24)
        put_image(e, "not-for-us.ota", otafile.build(50, manufacturer=0x1234), clear=False)
        m = e.mark()
        r = request(e, "check", "c24")
        src = os.path.join(e.ota_dir, "OTA_lumi.plug.mmeu01_V24.ota")
        assert r["status"] == "ok" and r["data"] == {"id": NAME, "update_available": True, "downgrade": False,
                                                      "source": src}, r
        u = state_update(e, lambda u: u["state"] == "available", m)
        assert u["installed_version"] == 22 and u["latest_version"] == 24 and u["latest_source"] == src, u

        # --- update by IEEE address: progress, reboot, new version read back ---
        m = e.mark()
        r = request(e, "update", "u24", {"id": ieee})
        assert r["status"] == "ok", r
        # as Zigbee2MQTT for this plug (no Basic swBuildId): file versions only
        assert r["data"] == {"id": ieee, "from": {"file_version": 22}, "to": {"file_version": 24}}, r
        ups = updates_since(e, m)
        prog = [u for u in ups if u["state"] == "updating"]
        assert prog and prog[0]["progress"] == 0 and prog[0]["remaining"] > 0, prog[:2]
        # 6000 bytes in blocks of min(64 asked, 50 allowed): progress every 5 %, then 100 %
        steps = [u["progress"] for u in prog]
        assert steps == sorted(steps) and len(steps) >= 15 and steps[-1] == 100, steps
        assert all(isinstance(u["remaining"], int) and u["remaining"] >= 0 for u in prog), prog
        assert prog[-1]["remaining"] == 0, prog[-1]
        final = ups[-1]
        assert final["state"] == "idle" and final["installed_version"] == 24 and final["latest_version"] == 24, ups[-3:]
        assert "progress" not in final and "remaining" not in final, final
        plug = json.loads(e.sim.command("ota 1"))
        assert plug["version"] == 24 and plug["updates"] == 1 and plug["blocks"] == -(-len(image24) // 50), plug
        assert e.sim.state(1)["app_version"] == 24
        # the plug is interviewed again (as Zigbee2MQTT does): Basic appVersion 24 in bridge/devices
        e.devices(start=m, pred=lambda v: any(x["ieee_address"] == ieee and x.get("software_build_id") is None and
                                               x.get("interview_state", "SUCCESSFUL") == "SUCCESSFUL" for x in v))
        # the same image again: not newer, nothing to do
        r = request(e, "update", "u24-again")
        assert r["error"] == f"Update of '{NAME}' failed (No image currently available)", r

        # --- page requests, and the plug's smaller blocks ---
        image26 = otafile.build(26, payload_size=3000, seed=26)
        put_image(e, "v26.ota", image26)
        e.sim.command("ota 1 page_size 256")
        e.sim.command("ota 1 max_data_size 40")
        r = request(e, "update", "u26")
        assert r["status"] == "ok" and r["data"]["to"]["file_version"] == 26, r
        plug = json.loads(e.sim.command("ota 1"))
        assert plug["version"] == 26 and plug["blocks"] == -(-len(image24) // 50) + page_blocks(len(image26), 256, 40), plug
        e.sim.command("ota 1 page_size 0")
        e.sim.command("ota 1 max_data_size 64")

        # --- the plug drops out mid-update: available again, nothing installed; then it works ---
        put_image(e, "v28.ota", otafile.build(28, payload_size=6000, seed=28))
        e.sim.command("ota 1 request_delay 0.05")
        m = e.mark()
        e.watcher.publish(f"{BASE}/bridge/request/device/ota_update/update",
                          json.dumps({"id": NAME, "transaction": "u28-drop"}))
        state_update(e, lambda u: u["state"] == "updating" and u.get("progress", 0) >= 10, m)
        e.sim.command("offline 1")
        r = e.wait(f"{BASE}/bridge/response/device/ota_update/update", lambda v: v.get("transaction") == "u28-drop",
                   start=m, timeout=30)
        assert r["status"] == "error", r
        assert r["error"].startswith(f"OTA update of '{NAME}' failed (Device {ieee} did not start/finish firmware "
                                     "download after being notified."), r
        u = state_update(e, lambda u: u["state"] != "updating", m)
        assert u == {"state": "available", "installed_version": 26, "latest_version": 28,
                     "latest_source": os.path.join(e.ota_dir, "v28.ota"), "latest_release_notes": None}, u
        e.sim.command("online 1")
        e.sim.command("ota 1 request_delay 0")
        r = request(e, "update", "u28")
        assert r["status"] == "ok" and r["data"]["from"]["file_version"] == 26 and r["data"]["to"]["file_version"] == 28, r
        assert json.loads(e.sim.command("ota 1"))["version"] == 28

        # --- the daemon killed mid-update and started again ---
        put_image(e, "v30.ota", otafile.build(30, payload_size=6000, seed=30))
        e.sim.command("ota 1 request_delay 0.05")
        m = e.mark()
        e.watcher.publish(f"{BASE}/bridge/request/device/ota_update/update",
                          json.dumps({"id": NAME, "transaction": "u30-kill"}))
        state_update(e, lambda u: u["state"] == "updating" and u.get("progress", 0) >= 10, m)
        e.daemon.kill()
        m = e.mark()
        e.start_daemon()
        u = state_update(e, lambda u: True, m)
        assert u["state"] == "available" and u["installed_version"] == 28 and "progress" not in u, u
        # the plug's next block request gets ABORT: it drops the half download, keeps version 28
        wait_until(lambda: json.loads(e.sim.command("ota 1"))["aborts"] >= 1, timeout=30, what="ABORT to the plug")
        plug = json.loads(e.sim.command("ota 1"))
        assert plug["version"] == 28 and plug["state"] == "idle", plug
        e.sim.command("ota 1 request_delay 0")
        r = request(e, "update", "u30")
        assert r["status"] == "ok" and r["data"]["to"]["file_version"] == 30, r
        u = state_update(e, lambda u: u["state"] == "idle", m)
        assert u["installed_version"] == 30, u

        # --- abort of nothing: the error goes to .../update, as Zigbee2MQTT's ---
        m = e.mark()
        e.watcher.publish(f"{BASE}/bridge/request/device/ota_update/update/abort",
                          json.dumps({"id": NAME, "transaction": "abort-none"}))
        r = e.wait(f"{BASE}/bridge/response/device/ota_update/update", lambda v: v.get("transaction") == "abort-none",
                   start=m)
        assert r["error"] == f"No OTA in progress to abort for device '{NAME}'", r

        # --- an update in progress: a second request is refused, abort ends it ---
        put_image(e, "v32.ota", otafile.build(32, payload_size=6000, seed=32))
        e.sim.command("ota 1 request_delay 0.05")
        m = e.mark()
        e.watcher.publish(f"{BASE}/bridge/request/device/ota_update/update",
                          json.dumps({"id": NAME, "transaction": "u32"}))
        state_update(e, lambda u: u["state"] == "updating" and u.get("progress", 0) >= 5, m)
        r = request(e, "check", "busy")
        assert r["error"] == f"OTA update or check for update already in progress for '{NAME}'", r
        m_abort = e.mark()
        r = request(e, "update/abort", "abort")
        assert r["status"] == "ok" and r["data"] == {"id": NAME}, r
        r = e.wait(f"{BASE}/bridge/response/device/ota_update/update", lambda v: v.get("transaction") == "u32", start=m)
        assert r["error"] == f"OTA update of '{NAME}' failed (OTA for device {ieee} was aborted)", r
        # after the abort; not a message left from v30's end (its re-interview republishes the state,
        # later than this point on a slow machine: seen under ASan)
        u = state_update(e, lambda u: u["state"] != "updating" and u.get("latest_version") != 30, m_abort)
        assert u["state"] == "available" and u["installed_version"] == 30 and u["latest_version"] == 32, u
        wait_until(lambda: json.loads(e.sim.command("ota 1"))["state"] == "idle", timeout=30, what="plug gave up")
        assert json.loads(e.sim.command("ota 1"))["version"] == 30

        # --- the plug leaves the network mid-update: the update fails at once ---
        m = e.mark()
        e.watcher.publish(f"{BASE}/bridge/request/device/ota_update/update",
                          json.dumps({"id": NAME, "transaction": "u32-leave"}))
        state_update(e, lambda u: u["state"] == "updating" and u.get("progress", 0) >= 5, m)
        e.sim.command("leave 1")
        r = e.wait(f"{BASE}/bridge/response/device/ota_update/update", lambda v: v.get("transaction") == "u32-leave",
                   start=m, timeout=30)
        assert r["error"] == f"OTA update of '{NAME}' failed (the device left the network)", r
        assert json.loads(e.sim.command("ota 1"))["version"] == 30

    return workdir


if __name__ == "__main__":
    main()
