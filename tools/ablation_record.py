"""Writes artifacts/air-multi-mnist-ablation.json from the raw results of the recipe ablations (issue 10).

Each ablation ran `airlib.train.train(NAME, "paper", seed, stop_at=STOP, overrides=...)` for every
(configuration, seed) on the lent machine's CPU cores, one thread per run, through a snapshot of the
training code of commit a3488cf with the window-IoU and q(z_pres) diagnostics added (the same loss and
random streams as the run layer's loop). Usage: python tools/ablation_record.py RESULT.json:STOP:LABEL ...
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = {
    "base": {}, "clip10": {"train.clip": 10.0}, "anneal1k": {"train.anneal_steps": 1000},
    "prior01": {"train.prior_start": 0.01}, "scale02": {"model.scale_prior": [2.2, 0.2]},
    "lr5e-4": {"train.lr": 5e-4}, "dair-base": {}, "dair-prior01": {"train.prior_start": 0.01},
    "scale19": {"model.init_scale": 1.9}, "lr3e-4": {"train.lr": 3e-4},
}
KEEP = ("step", "test_count_accuracy", "test_mean_count", "test_elbo", "iou12", "q_pres", "pres_prior")

runs = []
for arg in sys.argv[1:]:
    path, stop, label = arg.split(":")
    for r in json.loads(Path(path).read_text()):
        name = r["config"]
        runs.append(dict(ablation=label, config=name, experiment=r["exp"], seed=r["seed"], steps=int(stop),
                         overrides=OVERRIDES[name], seconds=round(r["seconds"], 1),
                         history=[{k: h.get(k) for k in KEEP} for h in r["history"]]))
record = dict(
    description="Recipe ablation for issue 10: AIR/DAIR on multi-MNIST, paper profile, each run stopped after "
                "`steps` steps of the 10,000-step schedule (a failing run locks into its failure by step 500). "
                "Histories on 1,000 held-out images.",
    command="airlib.train.train(NAME, 'paper', seed, stop_at=steps, overrides=overrides)",
    code="commit a3488cf's train.py plus the window-IoU and q(z_pres) diagnostics (same loss and random streams)",
    device="the lent machine's CPU: 16 cores of an H100 host, 16 runs at once, one thread each; torch 2.11.0, numpy 2.5.2",
    runs=sorted(runs, key=lambda r: (r["config"], r["seed"], r["ablation"])))
(ROOT / "artifacts" / "air-multi-mnist-ablation.json").write_text(json.dumps(record, indent=0))
print(len(runs), "runs")
