"""Latency of one live inference in the browser (the book's ``try_air`` page), in headless Chromium.

Serves the built site (``make book`` first), opens ``book/try_air.html?bench=N`` in real time (no
virtual clock): the page runs N inferences of AIR and of DAIR on held-out test images through
onnxruntime-web (WebAssembly, one thread) and posts the timings back. Target: a median of at most
10 ms per inference. Writes ``benchmarks/try_air_latency.json``.

    .venv/bin/python benchmarks/try_air_latency.py [--site _build/html] [-n 300]
"""
import argparse
import functools
import http.server
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from airlib.book.check import CHROMIUM_FLAGS, chromium


class Handler(http.server.SimpleHTTPRequestHandler):
    results: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.results.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--site", default="_build/html")
    p.add_argument("-n", type=int, default=300, help="inferences per model")
    p.add_argument("--out", default="benchmarks/try_air_latency.json")
    args = p.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=args.site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/book/try_air.html?bench={args.n}&report=/__latency__"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while not Handler.results and time.time() < deadline:
            time.sleep(0.5)
        proc.kill()
    server.shutdown()
    if not Handler.results:
        raise SystemExit("the page posted no timings within 300 s")
    result = dict(what="latency of one inference (batch 1) on the try_air page: onnxruntime-web, WebAssembly, one thread",
                  browser=subprocess.run([chromium(), "--version"], capture_output=True, text=True).stdout.strip(),
                  machine=f"{platform.machine()}, {platform.processor() or 'cpu'}", date=time.strftime("%Y-%m-%d"),
                  load_average=os.getloadavg(), target_ms=10, **Handler.results[0])
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
