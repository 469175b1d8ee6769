"""Latency of one live inference in the browser (the book's ``try_air`` page), in headless Chromium.

Serves the built site (``make book`` first), opens ``book/try_air.html?bench=N`` in real time (no
virtual clock): the page runs N inferences of AIR and of DAIR on held-out test images through
onnxruntime-web (WebAssembly, one thread) and posts the timings back. Target: a median of at most
10 ms per inference. Writes ``benchmarks/try_air_latency.json``. ``--smoke``: three inferences each, written
nowhere (``--out`` to keep it); it still needs the built site and Chromium.

    .venv/bin/python benchmarks/try_air_latency.py [--site _build/html] [-n 300]
"""
import functools
import http.server
import json
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import parser, save
from airlib.book.check import CHROMIUM_FLAGS, chromium

OUT = Path(__file__).with_name("try_air_latency.json")


class Handler(http.server.SimpleHTTPRequestHandler):
    results: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.results.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def page_timings(site: str, page: str, n: int, wait_s: float) -> dict:
    """Serves ``site``, opens ``page?bench=n`` in headless Chromium (real time) and returns the timings it posts."""
    if not (Path(site) / page).is_file():
        raise SystemExit(f"no {site}/{page}: build the book first (make book)")
    Handler.results = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/{page}?bench={n}&report=/__latency__"
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + wait_s
        while not Handler.results and time.time() < deadline:
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)        # the browser and the helpers it started, before their folder goes
        proc.wait()
    server.shutdown()
    if not Handler.results:
        raise SystemExit(f"the page posted no timings within {wait_s} s")
    return Handler.results[0]


def browser_and_machine() -> dict:
    """The Chromium version, the machine and its load average, for the record."""
    return dict(browser=subprocess.run([chromium(), "--version"], capture_output=True, text=True).stdout.strip(),
                machine=f"{platform.machine()}, {platform.processor() or 'cpu'}", load_average=os.getloadavg())


def main(argv=None) -> dict:
    p = parser(__doc__, OUT)
    p.add_argument("--site", default="_build/html")
    p.add_argument("-n", type=int, default=None, help="inferences per model (default 300; with --smoke, 3)")
    args = p.parse_args(argv)
    n, wait_s = (args.n or 3, 120) if args.smoke else (args.n or 300, 300)
    timings = page_timings(args.site, "book/try_air.html", n, wait_s)
    machine = browser_and_machine()
    result = dict(what="latency of one inference (batch 1) on the try_air page: onnxruntime-web, WebAssembly, one thread",
                  browser=machine["browser"], machine=machine["machine"], load_average=machine["load_average"],
                  target_ms=10, **timings)
    result = save(result, args, OUT)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
