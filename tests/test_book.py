"""The book tooling on a small fixture book: jupytext -> papermill -> Jupyter Book -> headless Chromium."""
import hashlib
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import nbformat
import pytest
import yaml

from airlib import book
from airlib.__main__ import main

FIXTURE = '''# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A fixture chapter

# %% tags=["parameters"]
profile = "paper"

# %%
import matplotlib.pyplot as plt
plt.plot([0, 1], [0, 1])
plt.title(f"profile={profile}")
plt.show()
print("ran with", profile)
'''


def make_fixture_book(root: Path, body: str = FIXTURE, stems=("00_fixture",)) -> Path:
    (root / "notebooks").mkdir(parents=True)
    for stem in stems:
        (root / "notebooks" / f"{stem}.py").write_text(body)
    (root / "_config.yml").write_text(
        'title: Fixture\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n'
        'exclude_patterns: ["notebooks"]\n')
    chapters = "".join(f"- file: book/{stem}\n" for stem in stems[1:])
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: book/{stems[0]}\n"
                                   + (f"chapters:\n{chapters}" if chapters else ""))
    return root


BUILD_OUTPUT = ("book", "_build", "_vendor")  # where building may write; the repository ignores them


def sources_snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file outside the build output folders."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] not in BUILD_OUTPUT}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = make_fixture_book(tmp_path_factory.mktemp("fixture"))
    before = sources_snapshot(root)
    site = book.build(profile="smoke", root=root, check=False)
    return root, site, before


def test_pipeline_executes_with_the_profile_and_hides_the_injected_cell(built):
    root, site, _ = built
    nb = nbformat.read(root / "book" / "00_fixture.ipynb", as_version=4)
    assert book.executed_profile(root / "book" / "00_fixture.ipynb") == "smoke"
    assert nb.metadata.papermill.input_path == "notebooks/00_fixture.py"  # not a copy of the notebook
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert 'profile = "smoke"' in injected[0].source
    outputs = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "ran with smoke" in outputs
    html = (site / "book" / "00_fixture.html").read_text()
    assert "ran with smoke" in html and "A fixture chapter" in html
    assert 'profile = "smoke"' not in html  # the injected cell is left out of the page
    source_cell = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(source_cell) == 1 and "remove-cell" in source_cell[0].metadata["tags"]   # and the source's too


def test_building_writes_only_git_ignored_build_output(built):
    root, _, before = built
    assert sources_snapshot(root) == before  # e.g. no notebooks/00_fixture.ipynb twin appeared
    assert {p.name for p in root.iterdir()} <= {Path(p).parts[0] for p in before} | set(BUILD_OUTPUT)
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "book/00_intro.ipynb",
                              "_build/html/index.html", "_vendor/mathjax/tex-mml-chtml.js"],
                             cwd=book.ROOT, capture_output=True, text=True).stdout.split()
    assert len(ignored) == 3, f"not git-ignored: build output among {ignored}"


def test_browser_check_passes_on_a_good_page_and_fails_on_a_broken_figure(built, tmp_path):
    root, site, _ = built
    reports = book.check_site(site, ["book/00_fixture"], root)
    assert {p.name for p in (site.parent / "screenshots").glob("*.png")} == {"00_fixture.png",
                                                                          f"00_fixture-{book.check.PHONE_WIDTH}.png"}
    assert reports["book/00_fixture"]["n_images"] == 1
    assert reports["book/00_fixture"]["title"] == "A fixture chapter"
    broken = tmp_path / "html"
    shutil.copytree(site, broken)
    for image in (broken / "_images").glob("*.png"):
        image.write_bytes(b"not a png")
    with pytest.raises(book.BookError, match="figures that do not load"):
        book.check_site(broken, ["book/00_fixture"], root, screenshots=False)


def test_a_failing_cell_names_the_notebook_and_the_cell(tmp_path):
    root = make_fixture_book(tmp_path, FIXTURE + "\n# %%\nraise ValueError('boom')\n")
    with pytest.raises(book.BookError, match=r"00_fixture.py: cell \d+ .*ValueError: boom"):
        book.build(profile="smoke", root=root, check=False)
    assert (root / "book" / "00_fixture.ipynb").exists()  # kept to read, but not marked complete:
    assert book.executed_profile(root / "book" / "00_fixture.ipynb") is None  # the next build executes it


def test_execution_shows_progress_per_cell_without_the_kernels_encryption_warning(tmp_path, capfd):
    root = make_fixture_book(tmp_path / "root")
    book.execute(root / "notebooks" / "00_fixture.py", tmp_path, "smoke")
    err = capfd.readouterr().err
    assert re.search(r"00_fixture: 100%.*\b(\d+)/\1 .*cell", err), err
    assert "without encryption" not in err, err


def test_a_build_refuses_to_mix_profiles_and_names_the_fix(tmp_path):
    root = make_fixture_book(tmp_path, stems=("00_a", "01_b", "02_c"))
    sources = book.notebooks(root)
    (root / "book").mkdir()
    for source, profile in zip(sources, ["smoke", "smoke", None]):  # 02_c never finished executing
        executed = root / "book" / f"{source.stem}.ipynb"
        nbformat.write(book.parameterize(source, profile or "smoke"), executed)
        if profile:
            book.pipeline.record(executed, source, profile, seconds=1.0)
    assert [book.executed_profile(root / "book" / f"{s.stem}.ipynb") for s in sources] == ["smoke", "smoke", None]
    assert book.plan(sources, root / "book", "smoke", {"00_a"}) == [sources[0], sources[2]]
    assert book.plan(sources, root / "book", "paper", {s.stem for s in sources}) == sources
    with pytest.raises(book.BookError, match=r"01_b \(profile=smoke\)\. .*"
                                             r"python -m airlib book --profile paper --only 00_a 01_b$") as e:
        book.build(profile="paper", only=["00_a.py"], root=root, check=False)
    assert "00_a (" not in str(e.value) and "02_c" not in str(e.value)
    assert book.executed_profile(root / "book" / "00_a.ipynb") == "smoke"  # refused before executing anything


def test_unknown_profile_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        book.build(profile="fast", root=make_fixture_book(tmp_path), check=False)


def test_every_notebook_is_in_the_toc_and_has_one_parameters_cell():
    pages = book.toc_files()
    for source in book.notebooks():
        assert f"book/{source.stem}" in pages, f"{source.name} missing from _toc.yml"
        text = source.read_text()
        assert len(re.findall(r'^# %% .*tags=\["parameters"\]', text, re.M)) == 1, source.name
        assert re.search(r'^profile = "paper"$', text, re.M), source.name


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((book.ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted |= set(extra)
    env = yaml.safe_load((book.ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert wanted == set(pip) - {"-e ."}


def test_paired_ipynb_twins_match_their_sources():
    """notebooks/NN.ipynb (for Binder and Colab) is written from NN.py by `python -m airlib twins`."""
    for source in book.notebooks():
        twin = source.with_suffix(".ipynb")
        assert twin.exists(), f"{twin.name} missing: run `python -m airlib twins`"
        assert twin.read_text() == book.twin_text(source), f"{twin.name} is stale: run `python -m airlib twins`"
    assert main(["twins", "--check"]) == 0


def test_twins_are_written_only_when_missing_or_stale(tmp_path):
    root = make_fixture_book(tmp_path)
    twin = root / "notebooks" / "00_fixture.ipynb"
    assert book.stale_twins(root) == [twin] and not twin.exists()
    assert book.write_twins(root) == [twin]
    assert nbformat.reads(twin.read_text(), as_version=4).cells[0].source == "# A fixture chapter"
    assert book.write_twins(root) == [] and book.stale_twins(root) == []
    (root / "notebooks" / "00_fixture.py").write_text(FIXTURE.replace("A fixture", "An edited"))
    assert book.stale_twins(root) == [twin]


def test_the_browser_checks_script_ships_as_package_data():
    assert "n_images" in resources.files("airlib.book").joinpath("checker.js").read_text()
    setuptools = tomllib.loads((book.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "*.js" in setuptools["package-data"]["airlib.book"]


def _report(**over):
    """A browser report of a page with nothing wrong, with ``over`` changed."""
    good = dict(title="A page", n_images=1, broken=[], errors=[], raw_tex=[], overflow=[], pipes=[], dead=[],
                external=[], figures=[{"src": "a.png", "natural": 900, "shown": 900}], live=None)
    return good | over


@pytest.mark.parametrize("over, expected", [
    ({}, None),
    ({"overflow": ["pre (993 px in 688 px): artifact device torch"]}, "cut off at the right edge"),
    ({"figures": [{"src": "wide.png", "natural": 1600, "shown": 936}]}, "shrunk from 1600 to 936 px"),
    ({"pipes": ["| run | accuracy | |---|---|"]}, "raw text"),
    ({"dead": ["/_sources/notebooks/01.ipynb (404)"]}, "does not resolve"),
    ({"external": ["https://cdn.example.org/x.js"]}, "leaves the site"),
    ({"live": {"state": "error", "status": "could not load the models", "count": "-", "latency": "-",
               "tests": None}}, "live demo did not run"),
])
def test_the_readers_check_names_each_problem(over, expected):
    from airlib.book.check import _problems
    problems = _problems("book/x", _report(**over), expected_figures=1)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


def test_figure_text_threshold_is_eight_pixels():
    """8 pt at 100 dpi is 11.1 px at full size: a figure may shrink to 72% of its width, not further."""
    from airlib.book.check import _problems
    fine = _report(figures=[{"src": "f.png", "natural": 1000, "shown": 721}])
    small = _report(figures=[{"src": "f.png", "natural": 1000, "shown": 719}])
    assert _problems("p", fine, 1) == [] and len(_problems("p", small, 1)) == 1


def test_wide_figures_are_tagged_full_width():
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from airlib.book.pipeline import COLUMN_PX, widen_figures

    def png(width_in):
        fig = plt.figure(figsize=(width_in, 1), dpi=100)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode()

    nb = nbformat.v4.new_notebook()
    for width in (4, 12):
        cell = nbformat.v4.new_code_cell("plot()")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png(width)})]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("text"))
    assert widen_figures(nb) == 1 and 4 * 100 < COLUMN_PX < 12 * 100
    assert "full-width" not in nb.cells[0].metadata.get("tags", []) and "full-width" in nb.cells[1].metadata["tags"]
    assert widen_figures(nb) == 0                                   # tagging twice changes nothing


def test_launch_links_point_at_the_twins_but_downloads_stay_in_the_site(tmp_path):
    from airlib.book.pipeline import _launch_from_sources
    page = tmp_path / "book" / "02_x.html"
    page.parent.mkdir()
    page.write_text('<a href="https://colab.research.google.com/github/o/r/blob/main/book/02_x.ipynb">colab</a>'
                    '<a href="../_sources/book/02_x.ipynb">download</a>')
    _launch_from_sources(tmp_path, ["02_x"])
    html = page.read_text()
    assert "blob/main/notebooks/02_x.ipynb" in html and 'href="../_sources/book/02_x.ipynb"' in html


def test_a_repeated_inline_script_is_dropped_and_a_console_error_is_reported(tmp_path):
    from airlib.book.check import _problems, console_errors
    from airlib.book.pipeline import dedupe_inline_scripts
    page = tmp_path / "book" / "a.html"
    page.parent.mkdir()
    thebe = '    <script>const THEBE_JS_URL = "x"; const thebe_selector = ".cell"</script>'
    page.write_text("\n".join(["<head>", thebe, '    <script async src="t.js"></script>', thebe,
                               '    <script async src="t.js"></script>', "</head><body><p>text</p></body>"]))
    assert dedupe_inline_scripts(tmp_path) == 1
    lines = page.read_text().split("\n")
    assert lines.count(thebe) == 1 and lines.count('    <script async src="t.js"></script>') == 2   # src scripts kept
    assert dedupe_inline_scripts(tmp_path) == 0
    log = ('[1:1:1202/0.1:INFO:CONSOLE:60] "Uncaught SyntaxError: Identifier \'THEBE_JS_URL\' has already been '
           'declared", source: http://127.0.0.1:80/book/a.html (60)\n'
           '[1:1:1202/0.1:INFO:CONSOLE:3] "a plain log line", source: http://127.0.0.1:80/book/a.html (3)')
    errors = console_errors(log)
    assert errors == ["Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has already been declared (a.html:60)"]
    report = dict(title="A", broken=[], n_images=0, raw_tex=[], errors=[], console=errors)
    assert _problems("book/a", report, 0) == [f"book/a: a script error in the browser's console: {errors[0]}"]


PLANTED = FIXTURE.replace('''plt.plot([0, 1], [0, 1])
plt.title(f"profile={profile}")
plt.show()''', '''import airlib
fig, axes = plt.subplots(1, 2)
axes[0].set_title("AIR, paper's recipe: 0 of 0 seeds")             # a panel left empty
x = [i / 99 for i in range(100)]
axes[1].plot(x, [0.95] * 100, label="flat")
axes[1].plot(x, x, label="rising")
axes[1].legend(loc="upper left")                                  # on top of the flat line
plt.show()''')


def test_the_build_fails_on_an_empty_panel_and_a_legend_on_the_data(tmp_path):
    root = make_fixture_book(tmp_path, body=PLANTED)
    with pytest.raises(book.BookError) as e:
        book.build(profile="smoke", root=root, check=False)
    assert "00_fixture.py: figures a reader would trip over" in str(e.value)
    assert "\"AIR, paper's recipe: 0 of 0 seeds\" is empty" in str(e.value)
    assert "the legend of 'panel 2' covers" in str(e.value)


def test_a_chapter_is_built_alone_with_the_landing_page(tmp_path):
    """``book --chapter 1`` (what ``reproduce --chapter 1`` runs): the landing page and chapter 1 are executed and
    built; chapter 2, whose records such a reproduction lacks, is neither executed nor built."""
    root = make_fixture_book(tmp_path, stems=("00_fixture", "01_one", "02_two"))
    (root / "notebooks" / "02_two.py").write_text(FIXTURE.replace('print("ran with", profile)',
                                                                  'raise RuntimeError("chapter 2 executed")'))
    site = book.build(profile="smoke", root=root, check=False, chapter=1)
    assert (site / "book" / "01_one.html").exists() and (site / "book" / "00_fixture.html").exists()
    assert not (site / "book" / "02_two.html").exists() and not (root / "book" / "02_two.ipynb").exists()
    with pytest.raises(book.BookError, match="no chapter 5: the chapters are 0, 1, 2"):
        book.build(profile="smoke", root=root, check=False, chapter=5)
