"""The book pipeline: jupytext .py notebooks -> papermill (with a profile) -> Jupyter Book 1 -> browser check.

``build`` converts each ``notebooks/NN_*.py`` with jupytext, executes it with papermill into ``book/``
passing the ``profile`` parameter, and runs ``jupyter-book build`` with execution off, so the book
shows exactly what papermill produced. ``check_site`` then opens every page of the table of contents
in headless Chromium and checks that it renders, shows its figures and holds no error output.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from html import unescape
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

ROOT = Path(__file__).resolve().parent.parent
HIDE = "remove-cell"  # Jupyter Book's tag for a cell left out of the page


class BookError(RuntimeError):
    """A notebook failed to execute, the book failed to build, or a page failed its check."""


def notebooks(root: Path = ROOT) -> list[Path]:
    """The book's notebook sources, ``notebooks/NN_*.py``, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def parameterize(source: Path, profile: str) -> nbformat.NotebookNode:
    """Reads a jupytext notebook and injects ``profile`` into its ``parameters`` cell (hidden in the book)."""
    nb = jupytext.read(source)
    nb.metadata.setdefault("papermill", {})  # what papermill's own loader would add
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    if not any("parameters" in c.metadata.tags for c in nb.cells):
        raise BookError(f"{source.name} has no cell tagged 'parameters'")
    nb = papermill.parameterize.parameterize_notebook(nb, {"profile": profile})
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"].append(HIDE)
    return nb


def twin_text(source: Path) -> str:
    """The ``.ipynb`` twin of a ``.py`` notebook: no outputs, cell ids numbered so it is reproducible."""
    nb = jupytext.read(source)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return jupytext.writes(nb, fmt="ipynb")


def pair(source: Path) -> Path:
    """Writes the ``.ipynb`` twin of a ``.py`` notebook when it differs; returns its path."""
    target = source.with_suffix(".ipynb")
    text = twin_text(source)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return target


def parameterize_all(out: str | Path, profile: str, root: Path = ROOT) -> list[Path]:
    """Writes every notebook as ``.ipynb`` with ``profile`` injected (unexecuted), e.g. for nbval."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for source in notebooks(root):
        path = out / (source.stem + ".ipynb")
        nbformat.write(parameterize(source, profile), path)
        paths.append(path)
    return paths


def execute(source: Path, out_dir: Path, profile: str) -> Path:
    """Executes one notebook with papermill into ``out_dir``; a failing cell raises a BookError naming it."""
    out = out_dir / (source.stem + ".ipynb")
    started = time.time()
    try:  # already parameterised (injected cell hidden), so papermill injects nothing more
        papermill.execute_notebook(parameterize(source, profile), str(out), cwd=str(out_dir),
                                   kernel_name="python3", progress_bar=False)
    except papermill.PapermillExecutionError as e:
        raise BookError(f"{source.name}: cell {e.cell_index} (execution count {e.exec_count}) failed with "
                        f"{e.ename}: {e.evalue}\nthe executed notebook is at {out}") from None
    print(f"book: executed {source.name} with profile={profile} in {time.time() - started:.0f} s", flush=True)
    return out


def toc_files(root: Path = ROOT) -> list[str]:
    """The pages named in ``_toc.yml``, in order, as paths without suffix."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def build(profile: str = "paper", only=None, check: bool = True, root: Path = ROOT) -> Path:
    """Executes the notebooks and builds the book into ``_build/html``.

    Args:
        profile: passed to every notebook's ``profile`` parameter.
        only: names (file or stem) of the notebooks to execute again; the others keep their
            executed copies in ``book/``.
        check: open every page in headless Chromium afterwards.
        root: the folder holding ``_config.yml``, ``_toc.yml``, ``notebooks/`` and ``book/``.

    Returns:
        The folder of the built site.
    """
    from .profiles import check as check_profile
    check_profile(profile)
    book_dir = root / "book"
    book_dir.mkdir(exist_ok=True)
    sources = notebooks(root)
    wanted = {s.stem for s in sources} if only is None else {Path(n).stem for n in only}
    unknown = wanted - {s.stem for s in sources}
    if unknown:
        raise BookError(f"no such notebook: {', '.join(sorted(unknown))}")
    pages = toc_files(root)
    for source in sources:
        pair(source)
        if f"book/{source.stem}" not in pages:
            raise BookError(f"notebooks/{source.name} is not in _toc.yml (add 'file: book/{source.stem}')")
        if source.stem in wanted or not (book_dir / f"{source.stem}.ipynb").exists():
            execute(source, book_dir, profile)
    _vendor_mathjax(root)
    started = time.time()
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", str(root), "--keep-going"], cwd=root,
                            capture_output=True, text=True)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed:\n{log[-4000:]}")
    warnings = [l for l in log.splitlines() if "WARNING" in l or "ERROR" in l]
    for line in warnings:
        print("book:", line)
    print(f"book: jupyter-book build took {time.time() - started:.0f} s", flush=True)
    site = root / "_build" / "html"
    _launch_from_sources(site, [s.stem for s in sources])
    if check:
        for page, report in check_site(site, pages, root).items():
            print(f"book: checked {page}: {report['n_images']} figures, title {report['title']!r}")
    return site


def _launch_from_sources(site: Path, stems: list[str]) -> None:
    """Points each page's Binder and Colab buttons at the committed ``notebooks/NN.ipynb`` twin, since
    the executed copies in ``book/`` are build output that the repository does not hold."""
    for stem in stems:
        page = site / "book" / f"{stem}.html"
        if page.exists():
            html = page.read_text()
            page.write_text(html.replace(f"book/{stem}.ipynb", f"notebooks/{stem}.ipynb"))


def _vendor_mathjax(root: Path) -> None:
    """Copies MathJax 3 (shipped by the django-static-mathjax wheel) into ``_vendor/``, which the
    site serves as ``/mathjax``, so equations render without a network."""
    import mathjax
    target = root / "_vendor" / "mathjax"
    if not (target / "tex-mml-chtml.js").exists():
        shutil.copytree(Path(mathjax.__file__).parent / "static" / "mathjax" / "es5", target, dirs_exist_ok=True)


CHECKER = r"""<!doctype html><html><body><script>
const page = new URLSearchParams(location.search).get('page');
const frame = document.createElement('iframe');
frame.style.width = '1400px'; frame.style.height = '100000px';
frame.src = page;
frame.onload = () => {
  const d = frame.contentDocument;
  d.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });
  setTimeout(() => {
    const article = d.querySelector('article') || d.body;
    const imgs = [...article.querySelectorAll('img')];
    const h1 = article.querySelector('h1');
    const report = {
      title: h1 ? h1.textContent.replace(/#$/, '').trim() : null,
      n_images: imgs.length,
      broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
      errors: [...article.querySelectorAll('.output.traceback, .output.error, .output.stderr')]
                .map(e => e.textContent.slice(0, 300))
                .filter(t => /Error|Traceback|Exception|Warning/.test(t)),
      raw_tex: [...article.querySelectorAll('p, li, td')].map(e => e.innerText)
                 .filter(t => /\\\(|\\\[|\$\$/.test(t)).map(t => t.slice(0, 100)),
    };
    const pre = document.createElement('pre'); pre.id = 'report';
    pre.textContent = JSON.stringify(report); document.body.appendChild(pre);
  }, 1500);
};
document.body.appendChild(frame);
</script></body></html>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reports, problems = {}, []
    try:
        with tempfile.TemporaryDirectory() as profile_dir:
            for page in pages:
                url = f"http://127.0.0.1:{server.server_port}/__check__.html?page=/{page}.html"
                reports[page] = report = _browse(url, profile_dir)
                expected = _figures_in(root / f"{page}.ipynb")
                if report is None:
                    problems.append(f"{page}: the page did not render")
                    continue
                if not report["title"]:
                    problems.append(f"{page}: no title")
                if report["broken"]:
                    problems.append(f"{page}: figures that do not load: {report['broken']}")
                if report["n_images"] < expected:
                    problems.append(f"{page}: shows {report['n_images']} figures, the notebook made {expected}")
                if report["raw_tex"]:
                    problems.append(f"{page}: equations MathJax did not typeset: {report['raw_tex']}")
                if report["errors"]:
                    problems.append(f"{page}: error output: {report['errors']}")
    finally:
        server.shutdown()
    if problems:
        raise BookError("the built book failed its browser check:\n" + "\n".join(problems))
    return reports


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/__check__.html"):
            body = CHECKER.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


def _browse(url: str, profile_dir: str) -> dict | None:
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
