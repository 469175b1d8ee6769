"""The chapters' first cell (Colab, Binder) and the repository's address, one setting (airlib.book.repository)."""
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from airlib.__main__ import main
from airlib.pretrained import available_seeds
from airlib.book import BookError, repository

ROOT = Path(__file__).resolve().parents[1]


def test_every_copy_of_the_address_agrees_with_the_setting():
    assert repository.stale() == []
    cells = {source.name: source.read_text().split(repository.HEADER_END, 1)[1][:len(repository.install_cell(
        repository.url()))] for source in repository.notebooks()}
    assert set(cells.values()) == {repository.install_cell(repository.url())} and len(cells) >= 6


def _copy_of_the_book(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    for name in ("_config.yml", "README.md"):
        (root / name).write_text((ROOT / name).read_text())
    for source in repository.notebooks():
        (root / "notebooks" / source.name).write_text(source.read_text())
    return root


def test_setting_the_address_writes_every_copy_and_a_stale_copy_is_named(tmp_path):
    root = _copy_of_the_book(tmp_path)
    new = "https://github.com/someone/airlib-fork"
    changed = repository.set_url(new, root)
    assert {p.name for p in changed} >= {"_config.yml", "README.md"} | {p.name for p in repository.notebooks()}
    assert repository.url(root) == new and repository.stale(root) == []
    assert repository.set_url(new, root) == []                       # idempotent: nothing left to change
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(new, "https://github.com/other/x"))
    assert any(p.startswith("README.md names ['https://github.com/other/x']") for p in repository.stale(root))
    chapter = next((root / "notebooks").glob("02_*.py"))
    chapter.write_text(chapter.read_text().replace("sys.path.insert(0, repo)\n", ""))
    assert any("02_" in p and "install cell" in p for p in repository.stale(root))
    with pytest.raises(BookError, match="http"):
        repository.set_url("github.com/x y", root)


def test_the_repository_command_checks_the_copies(capsys):
    assert main(["repository"]) == 0
    assert capsys.readouterr().out.strip() == repository.url()


def _cell() -> str:
    return repository.install_cell(repository.url()).split("\n", 1)[1]     # without the "# %%" line


def test_the_install_cell_does_nothing_where_airlib_is_installed(tmp_path):
    subprocess.run([sys.executable, "-c", _cell()], cwd=tmp_path, check=True, env=dict(os.environ, AIRLIB_REPOSITORY="nowhere"))
    assert list(tmp_path.iterdir()) == []


def _preinstalled(names: tuple[str, ...], into: Path, site: Path) -> list[str]:
    """Links the installed distributions ``names`` and what they require, files and metadata, into ``into``;
    returns the distributions linked. A ``.pth`` file naming ``into`` then makes them installed in ``site``."""
    from importlib import metadata
    from packaging.requirements import Requirement
    todo, done = list(names), []
    while todo:
        dist = metadata.distribution(todo.pop())
        if dist.metadata["Name"] in done:
            continue
        done.append(dist.metadata["Name"])
        tops = {f.parts[0] for f in dist.files or () if ".." not in f.parts and f.parts[0] != "__pycache__"}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)
        todo += [Requirement(r).name for r in dist.requires or () if "extra ==" not in r]
    (site / "preinstalled.pth").write_text(f"{into}\n")
    return done


def test_the_install_cell_installs_airlib_in_a_fresh_environment(tmp_path):
    """A fresh virtual environment with torch and pip preinstalled (Colab's situation): the cell clones the
    repository, installs it and its other dependencies from the package index, and the chapters' imports and trained
    models then work. (``make setup`` installs the pinned torch itself into a fresh environment.)"""
    venv.create(tmp_path / "venv", with_pip=False)                    # pip, too, comes preinstalled, as on Colab
    python = tmp_path / "venv" / "bin" / "python"
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    (tmp_path / "preinstalled").mkdir()
    linked = _preinstalled(("torch", "pip"), tmp_path / "preinstalled", site)
    assert {"torch", "pip", "sympy"} <= set(linked) and "numpy" not in linked and "matplotlib" not in linked
    work = tmp_path / "work"
    work.mkdir()
    probe = _cell() + "\n" + "\n".join([
        "import airlib, airlib.experiments, airlib.plotting",
        "from airlib import runs",
        "from airlib.pretrained import available_seeds",
        "record, tensors = runs.load_artifact(runs.artifact_stem('air-multi-mnist', 0))",
        "import torch",
        "print(airlib.__file__, len(available_seeds('air-multi-mnist')), record['experiment'], len(tensors), "
        "torch.__file__)",
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env["AIRLIB_REPOSITORY"] = str(ROOT)          # the committed tree, cloned as Colab clones the real one
    env["PATH"] = f"{python.parent}:{env['PATH']}"
    out = subprocess.run([str(python), "-c", probe], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    where, seeds, experiment, tensors, torch_at = out.stdout.split()[-5:]
    assert Path(where).is_relative_to(work / "airlib-repo")
    assert int(seeds) == len(available_seeds("air-multi-mnist")) and experiment == "air-multi-mnist" and int(tensors) > 10
    assert Path(torch_at).is_relative_to(tmp_path / "preinstalled")      # pip kept Colab's torch


def test_binder_builds_from_environment_yml_with_the_libraries_mujoco_needs():
    """repo2docker reads environment.yml (which installs airlib), apt.txt, postBuild and start at the root."""
    import yaml
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()   # either would hide the root files
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "-e ." in next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    setup = (ROOT / "tools" / "setup.sh").read_text()
    debian = set(setup.split('DEB_PKGS="')[1].split('"')[0].split()) - {"chromium"}   # the browser check only
    assert set((ROOT / "apt.txt").read_text().split()) == debian
    for script in ("postBuild", "start"):
        assert os.access(ROOT / script, os.X_OK), f"{script} must be executable"
    assert "python -m airlib data" in (ROOT / "postBuild").read_text()
    assert 'exec "$@"' in (ROOT / "start").read_text()
