"""A NOTIFY_SOCKET as systemd offers it: a datagram socket in a temporary directory that collects
every sd_notify() message with its arrival time, for tests of READY=, STATUS=, WATCHDOG= ..."""
import os
import socket
import tempfile
import threading
import time

from daemon import scaled


class NotifySocket:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lumi-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []          # (monotonic time, {key: value}, raw)
        self.cond = threading.Condition()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            text = data.decode()
            fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
            with self.cond:
                self.messages.append((now, fields, text))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait_for(self, pred, start=0, timeout=15.0, what="message"):
        deadline = time.monotonic() + scaled(timeout)
        with self.cond:
            i = start
            while True:
                while i < len(self.messages):
                    if pred(self.messages[i][1]):
                        return i, self.messages[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout}s; got {[m[2] for m in self.messages[start:]]}")
                self.cond.wait(left)

    def since(self, start):
        with self.cond:
            return list(self.messages[start:])

    def close(self):
        self.running = False
        self.sock.close()


def statuses(msgs):
    """The STATUS= texts of (time, fields, raw) messages, in order, without repeats in a row."""
    out = []
    for m in msgs:
        st = m[1].get("STATUS")
        if st is not None and (not out or out[-1] != st):
            out.append(st)
    return out
