#!/usr/bin/python3
"""src/mqtt against a broker that accepts the connection and then neither reads nor acknowledges
(issue 9, bounded resources): libmosquitto would keep every QoS 1 publish in memory until keepalive
notices; src/mqtt refuses more than MQTT_IN_FLIGHT_MAX unfinished publishes, says so once, and keeps
running."""
import os
import socket
import subprocess
import tempfile
import threading

from daemon import build_root

IN_FLIGHT_MAX = 4096            # src/mqtt/mqtt.h


def stalled_broker():
    """A TCP server on 127.0.0.1 that answers CONNECT with CONNACK and never reads again."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []

    def serve():
        c, _ = srv.accept()
        conns.append(c)
        connect = c.recv(4096)                   # the CONNECT
        level = connect[connect.find(b"MQTT") + 4]
        # CONNACK, accepted: MQTT 5's has a property length (none), 3.1.1's ends at the code
        c.sendall(b"\x20\x03\x00\x00\x00" if level == 5 else b"\x20\x02\x00\x00")
        # from now on nothing is read: the kernel buffers fill, then libmosquitto's queue would

    threading.Thread(target=serve, daemon=True).start()
    return srv, conns


def main():
    srv, conns = stalled_broker()
    port = srv.getsockname()[1]
    exe = os.path.join(build_root(), "tests", "integration", "mqtt-client")
    err_path = os.path.join(tempfile.mkdtemp(prefix="lumi-mqtt-stalled-"), "stderr.log")
    with open(err_path, "wb") as err:
        p = subprocess.Popen([exe, str(port), "lumist"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=err, text=True, bufsize=1)
    def next_line():
        """The driver's next answer, past its state changes and connect hooks."""
        while True:
            line = p.stdout.readline()
            assert line, "the driver ended"
            line = line.strip()
            if not line.startswith(("state ", "hook ")):
                return line

    try:
        p.stdin.write("start\n")
        p.stdin.flush()
        while True:                     # until connected (the stalled broker did answer CONNECT)
            line = p.stdout.readline()
            assert line, "the driver ended before connecting"
            if line.strip() == "state connected":
                break
        # bursts of 1,000 QoS 1 publishes, none ever acknowledged: the fifth crosses the bound
        lines = []
        for i in range(5):
            p.stdin.write(f"burst lumist/b{i} 1000\n")
            p.stdin.flush()
            line = next_line()
            assert line == "pending 0", (i, line)
            lines.append(line)
        line = next_line()
        assert line.startswith("error burst") and "No buffer space available" in line, line
        lines.append(line)
        log = open(err_path).read()
        assert f"does not take our messages: {IN_FLIGHT_MAX} are waiting, refusing more" in log, log
        assert log.count("does not take our messages") == 1, log        # said once, not per message
        assert p.poll() is None
        print(f"refused after {IN_FLIGHT_MAX} unfinished publishes; driver said {lines}")
    finally:
        p.kill()
        p.wait()
        for c in conns:
            c.close()
        srv.close()


if __name__ == "__main__":
    main()
