"""Chapter 1's study of the ELBO's estimators on the exact toy (:mod:`airlib.toy`) as a recorded study:
``toy-estimators``.

On one data set of one-pixel scenes it fits the inference network to the exact ELBO, with and without the
residual (Sec. 1.2); checks every estimator's Monte Carlo mean against the exact gradient (Sec. 1.5); measures
their variances at the start and at the best parameters (Sec. 1.6); trains the network with each of them
(Sec. 1.7); and trains it under priors that favour fewer and fewer objects (Sec. 1.8). It reads no trained
runs. Every random draw comes from one stream seeded by ``toy.Study.seed``, in the order the chapter once drew
them, so the recorded numbers are those the chapter computed inline.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .. import estimators as est
from .. import toy
from . import Evaluation, Inputs, register

K_CHECK = 4                                      # VIMCO's K in the unbiasedness check (collapsed toy)
DEMO_PROBS = (0.9, 0.7, 0.4)                     # q(z_pres^i = 1) of the unary-code example, six images
VARIANTS = ("reinforce", "local", "baseline", "nvil", "nvil, scaled", "vimco", "relaxed")


def grid() -> torch.Tensor:
    """(400,) the pixel brightnesses the figures draw densities and posteriors over."""
    return torch.linspace(-1.5, 9.0, 400, dtype=toy.DTYPE)


def toy_data(cfg: toy.Study, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The data set: ``cfg.data`` pixels (M,) and their true counts (M,), 0 to N objects equally often."""
    return toy.Scene(rho=1.0).sample(cfg.data, gen)


def frozen(normaliser: est.SignalNormaliser, scale: bool) -> est.SignalNormaliser:
    """A copy of trained running statistics that no longer updates (scale: divide, or centre only)."""
    copy = est.SignalNormaliser(normaliser.mean.shape[0], scale=scale)
    copy.load_state_dict(normaliser.state_dict())
    return copy.eval()


def variants(fixed: toy.Fit, temperature: float) -> dict[str, tuple[str, dict]]:
    """Each estimator of the study (``VARIANTS``) as ``(toy estimator, options)``, given a baseline network and
    running statistics fitted at the same q."""
    return {"reinforce": ("reinforce", {}), "local": ("local", {}),
            "baseline": ("baseline", {"baseline_net": fixed.baseline_net}),
            "nvil": ("nvil", {"baseline_net": fixed.baseline_net,
                              "normaliser": frozen(fixed.normaliser, False)}),
            "nvil, scaled": ("nvil", {"baseline_net": fixed.baseline_net,
                                      "normaliser": frozen(fixed.normaliser, True)}),
            "vimco": ("vimco", {}),
            "relaxed": ("relaxed", {"temperature": temperature})}


def count_kl(q_n: torch.Tensor, posterior: torch.Tensor) -> float:
    """Mean over the data of KL[q(n | x) || p(n | x)] for (M, N + 1) q and p: the error in the counts (nats)."""
    return float((q_n * (q_n.clamp_min(1e-300).log() - posterior.log())).sum(1).mean())


def fit_row(elbo: float, gap: float, q_n: torch.Tensor, posterior: torch.Tensor) -> dict[str, float]:
    """One row of the table of fits (Sec. 1.7): the final exact ELBO, its gap to the mean log p(x), and the
    counts' KL of the final q(n | x) (M, N + 1) to the exact posterior (M, N + 1)."""
    return {"final ELBO": elbo, "log p(x) - ELBO": gap, "KL[q(n|x) || p(n|x)]": count_kl(q_n, posterior)}


def steps_used(q_n: torch.Tensor) -> torch.Tensor:
    """(M, N + 1) q(n | x) -> (N,) the mean over the data of q(n >= i | x), how often step i finds an object."""
    return q_n.flip(1).cumsum(1).flip(1)[:, 1:].mean(0)


def variance_ratios(rows: list[dict], names, columns=("total variance", "presence variance"),
                    points=("start", "best")) -> dict[str, dict[str, float]]:
    """Each estimator's variance over NVIL's, averaged over the sample sizes both were measured at:
    ``{"<column>, <point>": {"<name> / nvil": ratio}}`` from the variance rows."""
    def at(point, name, column):
        return {r["samples"]: r[column] for r in rows if r["point"] == point and r["estimator"] == name}

    out = {}
    for column in columns:
        for point in points:
            nvil = at(point, "nvil", column)
            out[f"{column}, {point}"] = {
                f"{name} / nvil": float(np.mean([v / nvil[s] for s, v in at(point, name, column).items() if s in nvil]))
                for name in names if name != "nvil"}
    return out


def unbiasedness(scene, params, x, fixed, cfg, gen) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Sec. 1.5: ``cfg.repeats`` single-sample estimates of each variant against the exact gradient (VIMCO's
    of the collapsed K-sample bound). Returns the table's rows and ``check.<name>.{exact,mean,se,z}``."""
    exact_elbo = toy.exact_gradient(scene, params, x, nodes=cfg.nodes)
    exact_iwae = toy.exact_gradient(scene, params, x, K=K_CHECK, collapsed=True)
    rows, tensors = [], {}
    for name, (estimator, options) in variants(fixed, cfg.temperature).items():
        if name == "vimco":
            g = toy.gradient_samples("vimco", scene, params, x, cfg.repeats, samples=K_CHECK, collapsed=True,
                                     generator=gen)
            exact = exact_iwae
        else:
            g = toy.gradient_samples(estimator, scene, params, x, cfg.repeats, generator=gen, **options)
            exact = exact_elbo
        mean, se = g.mean(0), g.std(0) / np.sqrt(cfg.repeats)
        check = toy.check_mean(g, exact)  # Hotelling's T^2: the coordinates share samples
        tensors |= {f"check.{name}.exact": exact.clone(), f"check.{name}.mean": mean, f"check.{name}.se": se,
                    f"check.{name}.z": check.z}
        rows.append({"estimator": name, "target": f"grad L_{K_CHECK} (collapsed)" if name == "vimco" else "grad ELBO",
                     "max |z|": float(check.z.abs().max()), "T^2 / dof": check.t2 / check.dof,
                     "p-value": check.p_value, "|mean - exact| / |exact|": float((mean - exact).norm() / exact.norm())})
    return rows, tensors


def variances(scene, points: dict, x, cfg, gen) -> list[dict]:
    """Sec. 1.6: total variance of each variant's gradient estimate (and of its q(z_pres) part) at each point
    ``{point: (params, fixed fit)}`` and sample size, from ``cfg.var_repeats`` repetitions."""
    rows = []
    for point, (params, fixed) in points.items():
        for name, (estimator, options) in variants(fixed, cfg.temperature).items():
            for S in cfg.sample_sizes:
                if name == "vimco" and S < 2:
                    continue
                g = toy.gradient_samples(estimator, scene, params, x, cfg.var_repeats, samples=S, generator=gen,
                                         **options)
                presence = g.reshape(len(g), scene.N, toy.N_PARAMS)[:, :, :3]  # (R, N, 3) a, b, c
                rows.append({"point": point, "estimator": name, "samples": S, "total variance": float(g.var(0).sum()),
                             "presence variance": float(presence.var(0).sum())})
    return rows


def occam(x, params0, cfg) -> list[dict]:
    """Sec. 1.8: the network trained with NVIL under each prior rho of ``cfg.rhos``; how often each step finds
    an object, learned (q) and exact (p), per rho and step."""
    rows = []
    for rho in cfg.rhos:
        model = toy.Scene(rho=rho)
        f = toy.fit("nvil", model, x, params0, cfg.fit_steps, samples=cfg.fit_samples, lr=cfg.lr,
                    eval_every=cfg.fit_steps, nodes=cfg.fit_nodes, seed=cfg.seed)
        q_used, p_used = steps_used(f.q_n[-1]), steps_used(model.posterior_n(x))
        rows += [{"rho": rho, "step": i + 1, "learned q": float(q_used[i]), "exact p": float(p_used[i])}
                 for i in range(model.N)]
    return rows


def compute(inputs: Inputs, profile: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Every number of chapter 1 (see the module docstring); per-pixel gaps, gradient checks, training curves
    and the learned q(n | x) over ``grid()`` as tensors."""
    cfg, threads = toy.study(profile), torch.get_num_threads()
    torch.set_num_threads(1)  # the toy's tensors are small: one thread is the fastest
    try:
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        scene = toy.Scene()                                     # rho = 0.5: the model favours fewer objects
        x, n = toy_data(cfg, gen)
        demo = est.sample_presence(probs=torch.tensor(DEMO_PROBS).expand(6, 3), generator=gen)  # (6, 3)
        params0 = toy.init_params(scene.N, cfg.seed, spread=0.3)  # the starting point of every fit
        best = toy.fit_exact(scene, x, params0, cfg.exact_steps, cfg.exact_iters, nodes=cfg.fit_nodes)
        blind = toy.fit_exact(scene, x, params0, cfg.exact_steps, cfg.exact_iters, nodes=cfg.fit_nodes,
                              explain_away=False)
        log_px, posterior = scene.log_evidence(x), scene.posterior_n(x)
        with torch.no_grad():
            at_best = toy.exact(scene, best, x, nodes=cfg.nodes)
            gap_best = log_px - at_best.elbo
            gap_blind = log_px - toy.exact(scene, blind, x, nodes=cfg.nodes, explain_away=False).elbo
        fixed0 = toy.fit("nvil", scene, x, params0, cfg.baseline_steps, lr=cfg.lr, learn_q=False, seed=cfg.seed)
        checks, tensors = unbiasedness(scene, params0, x, fixed0, cfg, gen)
        fixed_best = toy.fit("nvil", scene, x, best, cfg.baseline_steps, lr=cfg.lr, learn_q=False, seed=cfg.seed)
        variance = variances(scene, {"start": (params0, fixed0), "best": (best, fixed_best)}, x, cfg, gen)
        fits, seconds = {}, {}
        for name in toy.ESTIMATORS:
            t0 = time.time()
            f = toy.fit(name, scene, x, params0, cfg.fit_steps, samples=cfg.fit_samples, lr=cfg.lr,
                        eval_every=cfg.eval_every, nodes=cfg.fit_nodes, temperature=cfg.temperature, seed=cfg.seed)
            seconds[name] = time.time() - t0
            fits[name] = fit_row(f.elbo[-1], float(log_px.mean()) - f.elbo[-1], f.q_n[-1], posterior)
            kl = [count_kl(q, posterior) for q in f.q_n]
            tensors |= {f"fit.{name}.steps": torch.tensor(f.steps),
                        f"fit.{name}.elbo": torch.tensor(f.elbo, dtype=toy.DTYPE),
                        f"fit.{name}.count_kl": torch.tensor(kl, dtype=toy.DTYPE)}
            if name == "nvil":
                with torch.no_grad():
                    tensors["q_grid.nvil"] = toy.exact(scene, f.params, grid(), nodes=cfg.fit_nodes).q_n
        fits["exact-gradient fit"] = fit_row(float(-gap_best.mean() + log_px.mean()), float(gap_best.mean()),
                                             at_best.q_n, posterior)
        metrics = {"log_px": float(log_px.mean()),
                   "gap": {"residual": float(gap_best.mean()), "blind": float(gap_blind.mean())},
                   "checks": checks, "variance": variance, "ratios": variance_ratios(variance, VARIANTS),
                   "fits": fits, "fit_seconds": seconds, "occam": occam(x, params0, cfg)}
        tensors |= {"x": x, "n": n, "demo.z_pres": demo, "gap.residual": gap_best, "gap.blind": gap_blind}
        return metrics, tensors
    finally:
        torch.set_num_threads(threads)


def checks(tensors: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """The unbiasedness checks from the study's tensors: name -> (exact, mean, se, z), in ``VARIANTS`` order."""
    return {name: tuple(tensors[f"check.{name}.{k}"] for k in ("exact", "mean", "se", "z")) for name in VARIANTS
            if f"check.{name}.z" in tensors}


def curves(tensors: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """The training curves from the study's tensors: estimator -> (steps, exact ELBO, count KL)."""
    return {name: tuple(tensors[f"fit.{name}.{k}"] for k in ("steps", "elbo", "count_kl")) for name in toy.ESTIMATORS
            if f"fit.{name}.steps" in tensors}


def _data(profile: str) -> dict[str, torch.Tensor]:
    cfg = toy.study(profile)
    x, n = toy_data(cfg, torch.Generator().manual_seed(cfg.seed))
    return {"x": x, "n": n}


STUDY = register(Evaluation(
    "toy-estimators", "chapter 1: the ELBO's gradient estimators on the exact one-pixel toy: unbiasedness, variance, "
    "training with each, and the Occam sweep over priors", (), toy.study, _data, compute))
