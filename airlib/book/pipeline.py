"""The book pipeline: jupytext ``.py`` notebook -> papermill (with a profile) -> Jupyter Book 1 -> post-processing.

``build`` parameterises each ``notebooks/NN_*.py``, executes it with papermill into ``book/`` and
records there which profile it ran with, then runs ``jupyter-book build`` with execution off, so the
book shows exactly what papermill produced. It writes under ``book/``, ``_build/`` and ``_vendor/``
only, all git-ignored: the ``.ipynb`` twins of the chapters come from ``python -m airlib twins``.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill

from ..figures import check as figure_check
from ..profiles import check as check_profile
from ..reproduce import chapter_reads, copied, copied_note
from .check import check_site
from .lint import check_pages
from .common import HIDE, ROOT, BookError, notebooks, toc_files

COLUMN_PX = 680    # a figure's PNG wider than the text column at 1280 px (688 px) is shown full width
RECORD = "airlib"  # the executed notebook's metadata key: {"profile", "source", "source_sha256", "seconds"}


def parameterize(source: Path, profile: str) -> nbformat.NotebookNode:
    """Reads a jupytext notebook and injects ``profile`` into its ``parameters`` cell; both cells are left out of
    the page."""
    nb = jupytext.read(source)
    nb.metadata.setdefault("papermill", {})  # what papermill's own loader would add
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
    if not any("parameters" in c.metadata.tags for c in nb.cells):
        raise BookError(f"{source.name} has no cell tagged 'parameters'")
    nb = papermill.parameterize.parameterize_notebook(nb, {"profile": profile})
    for cell in nb.cells:     # the parameters (the source's and papermill's) are for runs, not for readers
        tags = cell.metadata.get("tags", [])
        if ("injected-parameters" in tags or "parameters" in tags) and HIDE not in tags:
            tags.append(HIDE)
    return nb


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


def kernel_config(kernel_name: str = "python3"):
    """The kernel manager's settings: kernel sockets that are not plain TCP.

    ipykernel logs "Kernel is running over TCP without encryption" whenever its sockets are plain
    TCP. Rather than hide that log, this removes its cause: jupyter_client's
    ``KernelManager.transport_encryption = "auto"`` provisions CurveZMQ keys for a kernelspec that
    declares ``supported_encryption: ["curve"]`` (ipykernel's does); where pyzmq, jupyter_client or
    the kernelspec lack CurveZMQ, the kernel talks over IPC (Unix sockets) instead of TCP.
    """
    import zmq
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import get_kernel_spec
    from traitlets.config import Config
    declared = get_kernel_spec(kernel_name).metadata.get("supported_encryption") or []
    if zmq.has("curve") and "transport_encryption" in KernelManager.class_traits() and "curve" in declared:
        return Config({"KernelManager": {"transport_encryption": "auto"}})
    return Config({"KernelManager": {"transport": "ipc"}})


def execute(source: Path, out_dir: Path, profile: str, progress: bool = True) -> Path:
    """Executes one notebook with papermill into ``out_dir`` and records its profile there.

    Args:
        source: a ``notebooks/NN_*.py`` chapter.
        out_dir: where the executed ``NN_*.ipynb`` goes (and the kernel's working directory).
        profile: passed to the notebook's ``profile`` parameter.
        progress: show papermill's per-cell progress bar on stderr.

    Returns:
        The executed notebook. A failing cell raises a BookError naming it.
    """
    out = Path(out_dir) / (source.stem + ".ipynb")
    print(f"book: executing {source.name} with profile={profile}", flush=True)
    started = time.time()
    figure_log = out.with_suffix(".figures.jsonl")         # airlib.figures.check: the kernel's figure problems
    figure_log.unlink(missing_ok=True)
    before = os.environ.get(figure_check.ENV)
    os.environ[figure_check.ENV] = str(figure_log.resolve())    # the kernel inherits it
    try:  # already parameterised (injected cell hidden), so papermill injects nothing more
        papermill.execute_notebook(parameterize(source, profile), str(out), cwd=str(out_dir),
                                   kernel_name="python3", progress_bar={"desc": source.stem} if progress else False,
                                   config=kernel_config())
    except papermill.PapermillExecutionError as e:
        raise BookError(f"{source.name}: cell {e.cell_index} (execution count {e.exec_count}) failed with "
                        f"{e.ename}: {e.evalue}\nthe executed notebook is at {out}") from None
    finally:
        if before is None:
            os.environ.pop(figure_check.ENV, None)
        else:
            os.environ[figure_check.ENV] = before
    problems = figure_check.read(figure_log)
    if problems:
        raise BookError(f"{source.name}: figures a reader would trip over:\n" + "\n".join(problems))
    seconds = time.time() - started
    record(out, source, profile, seconds)
    print(f"book: executed {source.name} with profile={profile} in {seconds:.0f} s", flush=True)
    return out


def record(executed: Path, source: Path, profile: str, seconds: float) -> None:
    """Marks ``executed`` as a complete execution of ``source`` with ``profile``, in its metadata.

    Also replaces papermill's ``input_path``, which holds a whole copy of the notebook it was handed,
    with the source's name.
    """
    nb = nbformat.read(executed, as_version=4)
    name = f"notebooks/{source.name}"
    nb.metadata.setdefault("papermill", {})["input_path"] = name
    nb.metadata[RECORD] = {"profile": profile, "source": name, "seconds": round(seconds, 1),
                           "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    widen_figures(nb)
    mark_copied(nb, source)
    tmp = executed.with_suffix(".tmp.ipynb")
    nbformat.write(nb, tmp)
    os.replace(tmp, executed)


def mark_copied(nb: nbformat.NotebookNode, source: Path) -> bool:
    """Puts a note under the page's title naming the seeds it reads from committed records rather than from the
    reproduction that built it (``reproduce --figures``); returns whether there were any."""
    if not copied() or not re.match(r"\d\d_", source.name):
        return False
    note = copied_note(chapter_reads(int(source.name[:2])))
    if note:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"```{{note}}\n{note}\n```"))
    return bool(note)


def widen_figures(nb: nbformat.NotebookNode) -> int:
    """Tags every code cell whose figure is wider than the text column ``full-width`` (the theme then
    lets it span the page's right margin), so that its smallest text stays readable. Returns the count."""
    import base64
    import struct
    n = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        widths = [struct.unpack(">I", base64.b64decode(o["data"]["image/png"][:44])[16:20])[0]
                  for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        tags = cell.metadata.setdefault("tags", [])
        if widths and max(widths) > COLUMN_PX and "full-width" not in tags:
            tags.append("full-width")
            n += 1
    return n


def executed_profile(executed: Path) -> str | None:
    """The profile of a complete execution; None when ``executed`` is missing, unreadable, or its
    execution failed, was interrupted or predates the record."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError):
        return None
    return nb.metadata.get(RECORD, {}).get("profile")


def plan(sources: list[Path], book_dir: Path, profile: str, wanted: set[str]) -> list[Path]:
    """The sources to execute: those in ``wanted`` and those with no complete execution in ``book_dir``.

    Raises:
        BookError: a chapter left as it is was executed with another profile (a book mixes no profiles);
            the message names the chapters, their profiles and the command that re-executes them.
    """
    run, mixed = [], {}
    for source in sources:
        done = executed_profile(book_dir / f"{source.stem}.ipynb")
        if source.stem in wanted or done is None:
            run.append(source)
        elif done != profile:
            mixed[source.stem] = done
    if mixed:
        chapters = ", ".join(f"{stem} (profile={done})" for stem, done in mixed.items())
        again = " ".join(sorted(wanted | set(mixed)))
        raise BookError(f"a book mixes no profiles, but book/ holds chapters executed with another profile "
                        f"than {profile!r}: {chapters}. Re-execute them as well: "
                        f"python -m airlib book --profile {profile} --only {again}")
    return run


def build(profile: str = "paper", only=None, check: bool = True, root: Path = ROOT, chapter: int | None = None) -> Path:
    """Executes the notebooks and builds the book into ``_build/html``.

    Args:
        profile: passed to every notebook's ``profile`` parameter.
        only: names (file or stem) of the notebooks to execute again; the others keep their
            executed copies in ``book/``, which must have been executed with ``profile``.
        check: open every page in headless Chromium afterwards.
        root: the folder holding ``_config.yml``, ``_toc.yml``, ``notebooks/`` and ``book/``.
        chapter: build a book of the landing page and chapter ``chapter`` alone (``notebooks/NN_*.py``), both
            executed now; the other chapters are neither executed nor built (``reproduce --chapter``).

    Returns:
        The folder of the built site.
    """
    check_profile(profile)
    sources = notebooks(root)
    wanted = {s.stem for s in sources} if only is None else {Path(n).stem for n in only}
    unknown = wanted - {s.stem for s in sources}
    if unknown:
        raise BookError(f"no such notebook: {', '.join(sorted(unknown))}")
    pages = toc_files(root)
    for source in sources:
        if f"book/{source.stem}" not in pages:
            raise BookError(f"notebooks/{source.name} is not in _toc.yml (add 'file: book/{source.stem}')")
    toc = None
    if chapter is not None:                     # the landing page and one chapter
        mine = [s for s in sources if s.stem[:2] == f"{chapter:02d}"]
        if not mine:
            raise BookError(f"no chapter {chapter}: the chapters are "
                            f"{', '.join(str(int(s.stem[:2])) for s in sources)} (notebooks/NN_*.py)")
        pages = list(dict.fromkeys([pages[0], f"book/{mine[0].stem}"]))
        sources = [s for s in sources if f"book/{s.stem}" in pages]
        wanted = {s.stem for s in sources}
        toc = chapter_toc(root, pages)
    book_dir = root / "book"
    book_dir.mkdir(exist_ok=True)
    # the last page (the appendix) runs last: it reports how long the other chapters took to execute
    for source in sorted(plan(sources, book_dir, profile, wanted), key=lambda s: s.stem == Path(pages[-1]).name):
        if source.stem not in wanted:
            print(f"book: book/{source.stem}.ipynb is missing or did not finish executing", flush=True)
        execute(source, book_dir, profile)
    _vendor_mathjax(root)
    _vendor_artifacts(root)
    if "book/try_air" in pages:
        from .live import build_live
        build_live(root)
    if "book/try_tabletop" in pages:
        from .live import build_live_tabletop
        build_live_tabletop(root)
    site = jupyter_book(root, toc)
    _launch_from_sources(site, [s.stem for s in sources])
    dedupe_inline_scripts(site)
    link_figures(site)
    check_pages(site, pages)                    # what the pages say: no build paths, process words, reprs, stderr
    if check:
        for page, report in check_site(site, pages, root).items():
            print(f"book: checked {page}: {report['n_images']} figures, title {report['title']!r}")
    return site


def chapter_toc(root: Path, pages: list[str]) -> Path:
    """A table of contents of ``pages`` alone (the first is the root), written under ``_build/``."""
    import yaml
    toc = {"format": "jb-book", "root": pages[0]} | ({"chapters": [{"file": p} for p in pages[1:]]} if pages[1:] else {})
    path = root / "_build" / "_toc.chapter.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(toc, sort_keys=False))
    return path


def jupyter_book(root: Path, toc: Path | None = None) -> Path:
    """Runs ``jupyter-book build`` (execution off) on ``root`` (with another table of contents ``toc``); prints its
    warnings; returns the site."""
    started = time.time()
    jb = Path(sys.executable).with_name("jupyter-book")
    # --all: a full rebuild; an incremental one kept stale bibliography keys and skipped new files of _vendor/
    result = subprocess.run([str(jb), "build", str(root), "--keep-going", "--all", *(["--toc", str(toc)] if toc else [])],
                            cwd=root, capture_output=True, text=True)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise BookError(f"jupyter-book build failed:\n{log[-4000:]}")
    for line in log.splitlines():
        if "WARNING" in line or "ERROR" in line:
            print("book:", line)
    print(f"book: jupyter-book build took {time.time() - started:.0f} s", flush=True)
    return root / "_build" / "html"


OUTPUT_IMAGE = re.compile(r'<img [^>]*src="((?:\.\./)*_images/[^"]+)"[^>]*>')   # a figure Sphinx copied from an output


def link_figures(site: Path) -> int:
    """Makes every figure of the pages (the images Sphinx copies into ``_images/``) a link to itself, so that a
    reader on a phone, where the figure is scaled to the column, opens it full size with a tap. Returns the number
    of figures linked; a figure already inside a link is left as it is."""
    linked = 0
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        out, pos = [], 0
        for m in OUTPUT_IMAGE.finditer(html):
            if re.search(r"<a\b[^>]*>\s*$", html[:m.start()]):
                continue
            out += [html[pos:m.start()], f'<a class="figure-full" href="{m.group(1)}">{m.group(0)}</a>']
            pos = m.end()
            linked += 1
        if out:
            page.write_text("".join(out) + html[pos:], encoding="utf-8")
    return linked


def dedupe_inline_scripts(site: Path) -> int:
    """Drops the second copy of an inline ``<script>`` line from every page (Jupyter Book 1 writes sphinx-thebe's
    ``const THEBE_JS_URL = ...`` twice, and the second copy is a SyntaxError in the reader's console). Returns the
    number of lines dropped."""
    dropped = 0
    for page in site.rglob("*.html"):
        seen, out = set(), []
        lines = page.read_text(encoding="utf-8").split("\n")
        for line in lines:
            key = line.strip()
            if key.startswith("<script>") and key.endswith("</script>"):
                if key in seen:
                    continue
                seen.add(key)
            out.append(line)
        if len(out) < len(lines):
            dropped += len(lines) - len(out)
            page.write_text("\n".join(out), encoding="utf-8")
    return dropped


def _launch_from_sources(site: Path, stems: list[str]) -> None:
    """Points each page's Binder and Colab buttons at the committed ``notebooks/NN.ipynb`` twin, since
    the executed copies in ``book/`` are build output that the repository does not hold. Only links
    that leave the site change: the download button's ``_sources/book/NN.ipynb`` is in the site."""
    import re
    for stem in stems:
        page = site / "book" / f"{stem}.html"
        if page.exists():
            html = page.read_text()
            page.write_text(re.sub(rf'(href="https?://[^"]*?)book/{stem}\.ipynb', rf"\1notebooks/{stem}.ipynb", html))


def _vendor_artifacts(root: Path) -> None:
    """Copies the trained models and their records into ``_vendor/models/``, served as ``/models`` (not
    ``artifacts``: Sphinx leaves out extra files that match ``exclude_patterns``, which lists ``artifacts``),
    so the appendix's download links work from the published site."""
    from .. import runs
    target = root / "_vendor" / "models"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in sorted(runs.ARTIFACTS.glob("*")):
        if path.suffix in (".json", ".safetensors"):
            shutil.copyfile(path, target / path.name)


def _vendor_mathjax(root: Path) -> None:
    """Copies MathJax 3 (shipped by the django-static-mathjax wheel) into ``_vendor/``, which the
    site serves as ``/mathjax``, so equations render without a network."""
    import mathjax
    target = root / "_vendor" / "mathjax"
    if not (target / "tex-mml-chtml.js").exists():
        shutil.copytree(Path(mathjax.__file__).parent / "static" / "mathjax" / "es5", target, dirs_exist_ok=True)
