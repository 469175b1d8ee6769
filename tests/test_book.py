"""The book pipeline on a small fixture book: jupytext -> papermill -> Jupyter Book -> headless Chromium."""
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from airlib import book

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


def make_fixture_book(root: Path, body: str = FIXTURE) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "00_fixture.py").write_text(body)
    (root / "_config.yml").write_text(
        'title: Fixture\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n'
        'exclude_patterns: ["notebooks"]\n')
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/00_fixture\n")
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = make_fixture_book(tmp_path_factory.mktemp("fixture"))
    site = book.build(profile="smoke", root=root, check=False)
    return root, site


def test_pipeline_executes_with_the_profile_and_hides_the_injected_cell(built):
    root, site = built
    nb = nbformat.read(root / "book" / "00_fixture.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0].metadata["tags"]
    assert 'profile = "smoke"' in injected[0].source
    outputs = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "ran with smoke" in outputs
    html = (site / "book" / "00_fixture.html").read_text()
    assert "ran with smoke" in html and "A fixture chapter" in html
    assert 'profile = "smoke"' not in html  # the injected cell is left out of the page


def test_browser_check_passes_on_a_good_page_and_fails_on_a_broken_figure(built, tmp_path):
    root, site = built
    reports = book.check_site(site, ["book/00_fixture"], root)
    assert reports["book/00_fixture"]["n_images"] == 1
    assert reports["book/00_fixture"]["title"] == "A fixture chapter"
    broken = tmp_path / "html"
    shutil.copytree(site, broken)
    for image in (broken / "_images").glob("*.png"):
        image.write_bytes(b"not a png")
    with pytest.raises(book.BookError, match="figures that do not load"):
        book.check_site(broken, ["book/00_fixture"], root)


def test_a_failing_cell_names_the_notebook_and_the_cell(tmp_path):
    root = make_fixture_book(tmp_path, FIXTURE + "\n# %%\nraise ValueError('boom')\n")
    with pytest.raises(book.BookError, match=r"00_fixture.py: cell \d+ .*ValueError: boom"):
        book.build(profile="smoke", root=root, check=False)


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
    """notebooks/NN.ipynb (for Binder and Colab) is regenerated from NN.py by `python -m airlib book`."""
    for source in book.notebooks():
        twin = source.with_suffix(".ipynb")
        assert twin.exists(), f"{twin.name} missing: run `python -m airlib book --only {source.stem}`"
        assert twin.read_text() == book.twin_text(source), \
            f"{twin.name} is stale: run `python -m airlib book --only {source.stem}`"
