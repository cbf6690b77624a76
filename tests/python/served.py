"""A `pensieve serve` process for tests: started on a free port, ready once it prints its ready
line (the URL), stopped with SIGINT; its stderr (the log) is kept for assertions."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time


class Server:
    def __init__(self, binary, args, env=None, timeout=60):
        self.log_lines: list[str] = []
        self._ready = threading.Event()
        self.url = None
        self.proc = subprocess.Popen([str(binary), "serve", *map(str, args)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            raise AssertionError("the server did not get ready:\n" + self.log())

    def _read_log(self):
        for line in self.proc.stderr:
            self.log_lines.append(line.rstrip("\n"))
            m = re.search(r"Pensieve is serving .* at (http://\S+)", line)
            if m:
                self.url = m.group(1)
                self._ready.set()
        self._ready.set()  # ended before getting ready: the waiter sees url None

    def log(self) -> str:
        return "\n".join(self.log_lines)

    def wait_for_log(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_lines:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern!r}:\n" + self.log())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
