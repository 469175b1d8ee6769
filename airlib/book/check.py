"""The reader's check: every page of the built book, opened in headless Chromium at 1280 px and at 390 px.

A local HTTP server serves the site plus a checker page whose script (``checker.js``, package data)
loads each page in an iframe and reports what a reader would trip over: a missing title, figures that
do not load or are shrunk until their text is under 8 px, error outputs, untypeset equations,
outputs cut off at the right edge, Markdown tables printed as raw pipes, internal links and downloads
that do not resolve, and requests that leave the site. At both widths, and so on a phone, no table,
figure, output or text may end past the window's right edge where no box scrolls sideways to reach it,
and the page itself may not scroll sideways. Two screenshots per page (1280 and 390 px wide) go to
``_build/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import tempfile
import threading
from html import unescape
from importlib import resources
from pathlib import Path

import nbformat

from .common import HIDE, ROOT, BookError

WIDTH = 1280                 # the reader's window, in CSS pixels
PHONE_WIDTH = 390            # a phone's window (an iPhone 12 to 15), in CSS pixels
MIN_TEXT_PX = 8              # the smallest readable figure text on screen
FIGURE_DPI = 100             # matplotlib's inline backend: pixels per inch of a figure's PNG
SMALLEST_FONT_PT = 8         # the smallest font size the figures use (legends, small titles)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def checker_page() -> bytes:
    """The HTML page that runs ``checker.js`` on the page named by its ``?page=`` query, in a window
    ``?width=`` px wide (1280 unless given; narrower, it reports only what the window cuts off)."""
    script = resources.files(__package__).joinpath("checker.js").read_text()
    return f"<!doctype html><html><body><script>\n{script}</script></body></html>".encode()


def chromium() -> str:
    """The path of a Chromium executable, or a BookError naming the Debian package."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BookError("headless Chromium is needed to check the book: apt-get install chromium")


def check_site(site: Path, pages: list[str], root: Path = ROOT, screenshots: bool = True) -> dict[str, dict]:
    """Opens each page in headless Chromium; checks it renders, its figures load, no output is an error and,
    at 1280 px as on a 390 px phone, nothing is cut off at the right edge.

    Args:
        site: the built HTML folder (``_build/html``).
        pages: page paths without suffix, as in ``_toc.yml``.
        root: where each page's executed notebook lies, to count the figures it should show.
        screenshots: also save what a reader sees first of each page, at both widths, in ``site/../screenshots``.

    Returns:
        The browser's report for each page at 1280 px, with the 390 px one under ``"narrow"``.
    """
    handler = functools.partial(_Handler, checker_page(), directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reports, problems = {}, []
    try:
        with tempfile.TemporaryDirectory() as profile_dir:
            for page in pages:
                url = f"http://127.0.0.1:{server.server_port}/__check__.html?page=/{page}.html"
                reports[page] = report = _browse(url, profile_dir)
                if report is not None:
                    report["narrow"] = _browse(f"{url}&width={PHONE_WIDTH}", profile_dir)
                problems += _problems(page, report, _figures_in(root / f"{page}.ipynb"), site)
                for width, suffix in ((WIDTH, ""), (PHONE_WIDTH, f"-{PHONE_WIDTH}")) if screenshots else ():
                    _screenshot(f"http://127.0.0.1:{server.server_port}/{page}.html",
                                site.parent / "screenshots" / f"{Path(page).name}{suffix}.png", profile_dir, width)
    finally:
        server.shutdown()
    if problems:
        raise BookError("the built book failed its browser check:\n" + "\n".join(problems))
    return reports


def _problems(page: str, report: dict | None, expected_figures: int, site: Path | None = None) -> list[str]:
    """What is wrong with one page, from the browser's report."""
    if report is None:
        return [f"{page}: the page did not render"]
    problems = []
    if not report["title"]:
        problems.append(f"{page}: no title")
    if report["broken"]:
        problems.append(f"{page}: figures that do not load: {report['broken']}")
    if report["n_images"] < expected_figures:
        problems.append(f"{page}: shows {report['n_images']} figures, the notebook made {expected_figures}")
    if report["raw_tex"]:
        problems.append(f"{page}: equations MathJax did not typeset: {report['raw_tex']}")
    if report["errors"]:
        problems.append(f"{page}: error output: {report['errors']}")
    for error in report.get("console", []):
        problems.append(f"{page}: a script error in the browser's console: {error}")
    for item in report.get("overflow", []):
        problems.append(f"{page}: output cut off at the right edge: {item}")
    for fig in report.get("figures", []):
        text_px = SMALLEST_FONT_PT * FIGURE_DPI / 72 * fig["shown"] / fig["natural"]
        if text_px < MIN_TEXT_PX:
            problems.append(f"{page}: figure {fig['src']} is shrunk from {fig['natural']} to {fig['shown']} px: "
                            f"its {SMALLEST_FONT_PT} pt text shows at {text_px:.1f} px (< {MIN_TEXT_PX})")
    for text in report.get("pipes", []):
        problems.append(f"{page}: a Markdown table shown as raw text: {text}")
    for link in report.get("dead", []):
        problems.append(f"{page}: a link that does not resolve: {link}")
    live = report.get("live")
    if live is not None and live["state"] != "ready":
        problems.append(f"{page}: the live demo did not run: {live['status']}")
    elif live is not None:
        problems += _live_problems(page, live["tests"], site)
    tabletop = report.get("tabletop")
    if tabletop is not None and tabletop["state"] != "ready":
        problems.append(f"{page}: the live table-top gallery did not run: {tabletop['status']}")
    elif tabletop is not None:
        problems += _tabletop_problems(page, tabletop["tests"], site)
    for url in report.get("external", []):
        problems.append(f"{page}: a request leaves the site: {url}")
    narrow = report.get("narrow", {})
    if narrow is None:
        problems.append(f"{page}: the page did not render at {PHONE_WIDTH} px")
    for seen in (report, narrow or {}):
        problems += _reach_problems(page, seen)
    return problems


def _reach_problems(page: str, report: dict) -> list[str]:
    """What a window of the report's width cuts off: content past its right edge that no box scrolls to, and a
    page wider than the window (which then scrolls sideways as a whole)."""
    if "cutoff" not in report:
        return []
    width = report["width"]
    problems = [f"{page}: at {width} px, cut off at the right edge with no sideways scroll to reach it: {item}"
                for item in report["cutoff"]]
    if report["scroll_width"] > report["viewport"] + 1:
        problems.append(f"{page}: at {width} px the page is {report['scroll_width']} px wide, wider than the "
                        f"{report['viewport']} px window: it scrolls sideways")
    return problems


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site, and the checker page at ``/__check__.html``."""

    def __init__(self, checker: bytes, *args, **kwargs):
        self.checker = checker
        super().__init__(*args, **kwargs)

    def do_GET(self):
        if self.path.startswith("/__check__.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(self.checker)))
            self.end_headers()
            self.wfile.write(self.checker)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


def _browse(url: str, profile_dir: str) -> dict | None:
    """The checker's report for one page, or None when the page never wrote one; ``console`` lists the errors the
    page's scripts raised (Chromium's log on stderr)."""
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--virtual-time-budget=20000",
           "--enable-logging=stderr", "--v=0", "--dump-dom", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="report">(.*?)</pre>', result.stdout, re.S)
    if not match:
        return None
    report = json.loads(unescape(match.group(1)))
    report["console"] = console_errors(result.stderr)
    return report


def console_errors(log: str) -> list[str]:
    """The uncaught errors in a Chromium log (``--enable-logging=stderr``): ``message (source:line)``, each once."""
    found = re.findall(r':CONSOLE\(?:?\d*\)?\]? "((?:Uncaught|Error)[^"]*)", source: (\S+) \((\d+)\)', log)
    return list(dict.fromkeys(f"{msg} ({src.rsplit('/', 1)[-1]}:{line})" for msg, src, line in found))


def _live_problems(page: str, tests: dict | None, site: Path | None) -> list[str]:
    """The live page's browser test: held-out images get the Python model's counts, two digits redrawn with
    the pen are counted as two with two windows, a cleared canvas as none."""
    if not tests:
        return [f"{page}: the live demo could not be driven"]
    import base64

    import numpy as np
    import torch

    from ..pretrained import load_pretrained
    from .live import MODELS
    held = json.loads((site / "try_air" / "test_images.json").read_text())
    images = torch.from_numpy(np.stack([np.frombuffer(base64.b64decode(b), np.uint8) for b in held["images"]])
                              .reshape(-1, 50, 50).copy())
    expected = load_pretrained(MODELS[0], 0).infer(images[:len(tests["held_out"])]).count.tolist()
    problems = []
    if tests["held_out"] != expected:
        problems.append(f"{page}: counts of held-out images in the browser {tests['held_out']} differ from "
                        f"model.infer's {expected}")
    if tests["drawn"]["count"] != 2 or tests["drawn"]["windows"] != 2:
        problems.append(f"{page}: two digits drawn with the pen gave count {tests['drawn']['count']} and "
                        f"{tests['drawn']['windows']} windows, not 2 and 2")
    if tests["cleared"]["count"] != 0:
        problems.append(f"{page}: a cleared canvas gave count {tests['cleared']['count']}, not 0")
    return problems


def _tabletop_problems(page: str, tests: dict | None, site: Path | None) -> list[str]:
    """The table-top gallery's browser test: on every scene, the browser's count and types are those of the torch
    inference on the same PNG decoded by Python, its pixels are the build's, and the re-render shows."""
    if not tests:
        return [f"{page}: the live table-top gallery could not be driven"]
    import numpy as np
    import torch
    from PIL import Image

    from ..experiments.tabletop import air_infer
    from ..pretrained import load_pretrained
    folder = site / "try_tabletop"
    gallery = json.loads((folder / "gallery.json").read_text())
    problems = []
    for net in gallery["networks"]:
        got = tests.get(net["key"], [])
        if len(got) != len(net["scenes"]):
            problems.append(f"{page}: {len(got)} of the {len(net['scenes'])} {net['label']} scenes ran in the browser")
            continue
        pixels = np.stack([np.asarray(Image.open(folder / s["image"]).convert("RGB")) for s in net["scenes"]])
        ref = air_infer(load_pretrained(net["name"], 0), torch.from_numpy(pixels).permute(0, 3, 1, 2))
        for s, answer, present, kind in zip(net["scenes"], got, ref.present, ref.kind):
            where = f"{page}: {net['label']}, held-out scene {s['held_out']}"
            expected = [int(k) for k in kind[present]]
            if answer["count"] != len(expected) or answer["kind"] != expected:
                problems.append(f"{where}: the browser found {answer['count']} objects of types {answer['kind']}, "
                                f"torch {len(expected)} of types {expected}")
            if not answer["decoded"]:
                problems.append(f"{where}: the browser decoded the PNG to other pixels than the build wrote")
            if answer["differs"] or not answer["shown"]:
                problems.append(f"{where}: the re-render is not shown ({answer['differs'] or 'hidden'})")
    return problems


def _screenshot(url: str, out: Path, profile_dir: str, width: int = WIDTH) -> None:
    """Saves what a reader sees first of a page, ``width`` px wide."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--virtual-time-budget=10000",
           "--hide-scrollbars", f"--window-size={width},2000", f"--screenshot={out}", url]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _figures_in(notebook: Path) -> int:
    """Counts the image outputs of an executed notebook (0 for a page that is not a notebook)."""
    if not notebook.exists():
        return 0
    nb = nbformat.read(notebook, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and HIDE not in c.metadata.get("tags", [])
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
