#!/usr/bin/python3
"""MQTT over TLS with certificates made here with openssl: the broker's certificate must chain to
ca_file and name the host; a client certificate is sent when the broker requires one. Every failure
is retried (never fatal) and never ends with a connection."""
import json
import os
import subprocess
import tempfile

from broker import Client, Mosquitto, free_port
from daemon import Daemon, check_config, mqtt_ini


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}", cwd=d)


def make_cert(d, name, ca, san=None, client=False):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    ext = os.path.join(d, f"{name}.ext")
    with open(ext, "w") as f:
        if san:
            f.write(f"subjectAltName={san}\n")
        f.write(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", ext, cwd=d)


def main():
    d = tempfile.mkdtemp(prefix="lumi-tls-")
    os.chmod(d, 0o755)          # mosquitto may drop to its own user before reading the keys
    make_ca(d, "ca")
    make_ca(d, "otherca")
    make_cert(d, "server", "ca", san="IP:127.0.0.1,DNS:localhost")
    make_cert(d, "wronghost", "ca", san="DNS:elsewhere.example")
    make_cert(d, "client", "ca", client=True)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    p = lambda name: os.path.join(d, name)

    tls, tls_client_cert, tls_wrong_host = free_port(), free_port(), free_port()
    extra = (f"listener {tls} 127.0.0.1\ncafile {p('ca.crt')}\ncertfile {p('server.crt')}\n"
             f"keyfile {p('server.key')}\n"
             f"listener {tls_client_cert} 127.0.0.1\ncafile {p('ca.crt')}\ncertfile {p('server.crt')}\n"
             f"keyfile {p('server.key')}\nrequire_certificate true\n"
             f"listener {tls_wrong_host} 127.0.0.1\ncafile {p('ca.crt')}\ncertfile {p('wronghost.crt')}\n"
             f"keyfile {p('wronghost.key')}\n")

    with Mosquitto(extra_config=extra) as broker:
        watcher = Client(broker.port)           # the plain listener
        watcher.subscribe("#")

        def good(case, port, mqtt_extra, connected=r"Connected to MQTT broker 127\.0\.0\.1:\d+ \(TLS\)"):
            base = f"tls{case}"
            ini = mqtt_ini(port, base_topic=base, mqtt_extra=mqtt_extra)
            with Daemon(ini) as dmn:
                watcher.wait_for(f"{base}/bridge/state", lambda m: json.loads(m) == {"state": "online"},
                                 timeout=20)
                dmn.wait_log(connected)
                if "tls_verify" not in mqtt_extra:
                    assert "INSECURE" not in dmn.log(), dmn.log()
                assert dmn.stop() == 0, dmn.log()
                watcher.wait_for(f"{base}/bridge/state", lambda m: json.loads(m) == {"state": "offline"})

        def bad(case, port, mqtt_extra, expect):
            base = f"tls{case}"
            ini = mqtt_ini(port, base_topic=base, mqtt_extra=mqtt_extra + "reconnect_max = 1\n")
            with Daemon(ini) as dmn:
                # Refused more than once (so it is retried), never connected, still running.
                dmn.wait_log(r"(Cannot connect to|Lost the connection to) MQTT broker .*retrying in (0\.5|1)s|"
                             r"MQTT broker .* \(.*\); (retrying|reconnecting) in (0\.5|1)s", count=3, timeout=30)
                dmn.wait_log(expect)
                log = dmn.log()
                assert "Connected to MQTT broker" not in log, log
                assert dmn.running()
                assert not any(t.startswith(base + "/") for t, _, _ in watcher.messages), watcher.messages
                assert dmn.stop() == 0, log

        good("server", tls, f"ca_file = {p('ca.crt')}\n")
        good("clientcert", tls_client_cert,
             f"ca_file = {p('ca.crt')}\ncert_file = {p('client.crt')}\nkey_file = {p('client.key')}\n")
        bad("unknownca", tls, f"ca_file = {p('otherca.crt')}\n", r"certificate verify failed")
        bad("wronghost", tls_wrong_host, f"ca_file = {p('ca.crt')}\n", r"host name verification failed")
        bad("nocert", tls_client_cert, f"ca_file = {p('ca.crt')}\n", r"MQTT broker 127\.0\.0\.1:\d+ \(")
        good("fullverify", tls, f"ca_file = {p('ca.crt')}\ntls_verify = full\n")
        bad("fullwronghost", tls_wrong_host, f"ca_file = {p('ca.crt')}\ntls_verify = full\n",
            r"host name verification failed")

        # Turning verification down is explicit and loud: a warning at start and at every connection.
        good("nohostname", tls_wrong_host, f"ca_file = {p('ca.crt')}\ntls_verify = no-hostname\n",
             r"warning: Connected to MQTT broker 127\.0\.0\.1:\d+ \(TLS, INSECURE: the broker's host name is "
             r"not verified \(\[mqtt\] tls_verify = no-hostname\)")
        bad("nohostnameunknownca", tls, f"ca_file = {p('otherca.crt')}\ntls_verify = no-hostname\n",
            r"certificate verify failed")
        good("none", tls_wrong_host, f"ca_file = {p('otherca.crt')}\ntls_verify = none\n",
             r"warning: Connected to MQTT broker 127\.0\.0\.1:\d+ \(TLS, INSECURE: the broker's certificate is "
             r"not verified at all \(\[mqtt\] tls_verify = none\)")

        # tls_verify without TLS, and a value that does not exist, are configuration errors
        rc, out, err = check_config(mqtt_ini(tls, mqtt_extra="tls_verify = none\n"))
        assert rc == 1 and "[mqtt] tls_verify = 'none': ca_file is not set, so TLS is off; expected ca_file for TLS" \
            in err, (rc, out, err)
        rc, out, err = check_config(mqtt_ini(tls, mqtt_extra=f"ca_file = {p('ca.crt')}\ntls_verify = off\n"))
        assert rc == 1 and "[mqtt] tls_verify = 'off': expected full, no-hostname or none" in err, (rc, out, err)
        watcher.close()
    print("ok")


if __name__ == "__main__":
    main()
