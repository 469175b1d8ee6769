"""Every benchmark script still runs against today's library: each one's ``--smoke`` mode (tiny sizes, seconds) in
a subprocess, one at a time, writing its result to a temporary file with the keys its real result has; the
committed ``benchmarks/*.json`` stay as they are. About 40 s of CPU in all."""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
PROVENANCE = {"git_commit", "git_dirty", "date", "command", "smoke"}
KEYS = {   # script -> keys of its result beside the provenance
    "air_speed.py": {"air_train_step_s", "dair_train_step_s", "air_infer_images_per_s_batch1000",
                     "air_train_step_s_without", "training_runs"},
    "data_speed.py": {"results"},
    "infer_threads.py": {"threads_1", "threads_2"},
    "likelihood_speed.py": {"median_seconds", "speedup"},
    "render.py": {"speed", "gradient_seconds_per_scene", "informativeness"},
    "step_limits.py": {"gemm_gflops_one_thread", "draw", "air", "draw_step_over_air_step", "draw_flops_over_air_flops"},
    "sweep_backends.py": {"backends", "same_weights", "same_records", "fields_that_differ", "report"},
    "tabletop_render.py": {"median_fps", "render_vs_raw", "render_batch_vs_raw"},
    "tabletop_step.py": {"recipes"},
    "try_air_latency.py": {"air", "dair"},
    "try_tabletop_latency.py": {"fixed", "moving", "target_met"},
}
# mutmut first runs the selected tests unmutated (minutes of CPU): only its options are checked
NO_SMOKE = {"mutation.py"}


def committed_results() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(BENCH.glob("*.json"))}


def run(script: str, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_every_script_is_smoked():
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(KEYS) | NO_SMOKE


@pytest.mark.parametrize("script", sorted(KEYS))
def test_smoke(script, tmp_path):
    if script in ("try_air_latency.py", "try_tabletop_latency.py"):
        page = script.removesuffix("_latency.py")
        if not (ROOT / "_build" / "html" / "book" / f"{page}.html").is_file():
            pytest.skip(f"the book is not built (make book): {script} measures its live page")
        if not any(shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome")):
            pytest.skip("no Chromium")
    before = committed_results()
    out = tmp_path / "result.json"
    proc = run(script, "--smoke", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = json.loads(out.read_text())
    if script == "infer_threads.py":               # {label: result}
        (result,) = result.values()
    assert PROVENANCE | KEYS[script] <= set(result), sorted(PROVENANCE | KEYS[script] - set(result))
    assert result["smoke"] is True
    assert len(result["git_commit"]) == 40 or result["git_commit"] == "unknown"
    assert committed_results() == before


def test_smoke_without_out_writes_nothing():
    before = committed_results()
    proc = run("likelihood_speed.py", "--smoke")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "speedup" in proc.stdout and "wrote" not in proc.stdout
    assert committed_results() == before


def test_where_results_go():
    spec = importlib.util.spec_from_file_location("bench_common", BENCH / "_common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    default = BENCH / "x.json"
    assert common.destination(SimpleNamespace(smoke=True, out=None), default) is None
    assert common.destination(SimpleNamespace(smoke=True, out="/tmp/y.json"), default) == Path("/tmp/y.json")
    assert common.destination(SimpleNamespace(smoke=False, out=None), default) == default
    assert set(common.provenance()) == PROVENANCE - {"smoke"}


def test_mutation_driver_parses_its_options():
    proc = run("mutation.py", "--help", timeout=60)
    assert proc.returncode == 0 and "--deadline" in proc.stdout
