"""The browser check: every page of the built book, opened in headless Chromium, renders and shows its figures.

A local HTTP server serves the site plus a checker page whose script (``checker.js``, package data)
loads each page in an iframe and reports its title, figures, error outputs and untypeset equations.
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

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def checker_page() -> bytes:
    """The HTML page that runs ``checker.js`` on the page named by its ``?page=`` query."""
    script = resources.files(__package__).joinpath("checker.js").read_text()
    return f"<!doctype html><html><body><script>\n{script}</script></body></html>".encode()


def chromium() -> str:
    """The path of a Chromium executable, or a BookError naming the Debian package."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BookError("headless Chromium is needed to check the book: apt-get install chromium")


def check_site(site: Path, pages: list[str], root: Path = ROOT) -> dict[str, dict]:
    """Opens each page in headless Chromium; checks it renders, its figures load and no output is an error.

    Args:
        site: the built HTML folder (``_build/html``).
        pages: page paths without suffix, as in ``_toc.yml``.
        root: where each page's executed notebook lies, to count the figures it should show.

    Returns:
        The browser's report for each page.
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
                problems += _problems(page, report, _figures_in(root / f"{page}.ipynb"))
    finally:
        server.shutdown()
    if problems:
        raise BookError("the built book failed its browser check:\n" + "\n".join(problems))
    return reports


def _problems(page: str, report: dict | None, expected_figures: int) -> list[str]:
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
    """The checker's report for one page, or None when the page never wrote one."""
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "--virtual-time-budget=20000",
           "--dump-dom", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="report">(.*?)</pre>', result.stdout, re.S)
    return json.loads(unescape(match.group(1))) if match else None


def _figures_in(notebook: Path) -> int:
    """Counts the image outputs of an executed notebook (0 for a page that is not a notebook)."""
    if not notebook.exists():
        return 0
    nb = nbformat.read(notebook, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" and HIDE not in c.metadata.get("tags", [])
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
