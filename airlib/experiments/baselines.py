"""The paper's baselines on multi-MNIST: DRAW (Figs. 6 and 7; ref. [6]) as ``draw-multi-mnist`` and the
convolutional autoencoder (Fig. 7) as ``cae-multi-mnist``.

Both are trained like AIR (the same 0 to 2 digit images, data order and learning-rate schedule)
without labels: DRAW by its own ELBO, every latent reparameterised, the CAE by its squared error.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..cae import CAE, CAEConfig
from ..draw import DRAW, DRAWConfig
from . import Experiment, eval_mode, register
from .multi_mnist import MultiMNISTExperiment


@dataclass(frozen=True)
class BaselineTrainConfig:
    """Optimisation of a baseline: Adam, the rate decaying linearly over the last half."""
    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay_from: float = 0.5
    lr_final: float = 0.1
    clip: float = 10.0
    log_every: int = 250
    eval_images: int = 1000
    checkpoint_seconds: float = 120.0
    figure_images: int = 8              # 3-digit test images whose reconstructions are kept (Fig. 6 bottom)
    figure_steps: tuple[int, ...] = (5, 10, 20, 40)   # DRAW steps t whose canvases sigmoid(c_t) are kept


DRAW_SMOKE = (DRAWConfig(steps=8, enc=32, dec=32, z=4), BaselineTrainConfig(steps=60, batch_size=32, log_every=30,
                                                                              eval_images=100, checkpoint_seconds=0.0,
                                                                              figure_steps=(2, 4, 8)))
# 10,000 steps, AIR's budget, so that the baseline trains as long as the model it is compared with
DRAW_PAPER = (DRAWConfig(), BaselineTrainConfig(steps=10000, lr=5e-4))   # 1e-3 was unstable (see draw.py)


class BaselineExperiment(MultiMNISTExperiment):
    """A baseline on AIR's data, data order and schedule, optimised by plain Adam (the registry's default,
    not AIR's separate group for the NVIL baseline), with no success threshold and no figures by default."""
    success = None

    def optimiser(self, model, cfg: BaselineTrainConfig) -> torch.optim.Optimizer:
        return Experiment.optimiser(self, model, cfg)

    def figures(self, model, data: dict, cfg, step: int) -> dict[str, torch.Tensor]:
        return {}


class DRAWExperiment(BaselineExperiment):
    """DRAW on 0 to 2 digits; ``exact3_*`` metrics on images of exactly 3."""

    def __init__(self, name: str = "draw-multi-mnist"):
        super().__init__(name, difference=False, exact=(3,))
        self.summary = "DRAW (40 steps, read and write attention) on multi-MNIST (0, 1, 2 digits), Fig. 6"
        self.configs = {"smoke": DRAW_SMOKE, "paper": DRAW_PAPER}

    def build(self, model_cfg: DRAWConfig, train_cfg: BaselineTrainConfig) -> DRAW:
        return DRAW(model_cfg)

    def loss(self, model: DRAW, batch, cfg, step: int, generator) -> tuple[torch.Tensor, dict]:
        x = batch[0].to(next(model.parameters()).device)
        loss, terms = model.loss(x, generator)
        return loss, dict(elbo=terms["elbo"].mean().item())

    @torch.no_grad()
    def score(self, model: DRAW, images: torch.Tensor, batch: int = 500, seed: int = 12345) -> dict:
        """One-sample ELBO (nats/image) and the deterministic reconstruction's mean squared error."""
        gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        elbo, mse = 0.0, 0.0
        with eval_mode(model):
            for i in range(0, len(images), batch):
                x = model.check_images(images[i:i + batch])
                elbo += model.elbo_terms(model(x, sample=True, generator=gen), x)["elbo"].sum().item()
                mse += (torch.sigmoid(model(x, sample=False).canvas) - x).pow(2).mean((1, 2)).sum().item()
        return dict(elbo=elbo / len(images), mse=mse / len(images))

    def evaluate(self, model: DRAW, data: dict, cfg, step: int, final: bool = False) -> dict:
        out = {}
        for split in ("test", "exact3"):
            images = data[f"{split}_images"]
            ev = self.score(model, images if final else images[:cfg.eval_images])
            out |= {f"{split}_elbo": ev["elbo"], f"{split}_mse": ev["mse"]}
        if final:
            out["test_images"], out["exact3_images"] = len(data["test_images"]), len(data["exact3_images"])
        return out

    def figures(self, model: DRAW, data: dict, cfg, step: int) -> dict[str, torch.Tensor]:
        if step != cfg.steps:
            return {}
        with eval_mode(model):
            tr = model.reconstruct(data["exact3_images"][:cfg.figure_images], keep_canvases=True)
        keep = [t - 1 for t in cfg.figure_steps]
        return {"exact3.canvases": tr.canvases[:, keep].half().cpu()}     # (8, len(figure_steps), H, W)


DRAW_MULTI_MNIST = register(DRAWExperiment())


CAE_SMOKE = (CAEConfig(channels=8, code=16), BaselineTrainConfig(steps=60, batch_size=32, log_every=30, eval_images=100,
                                                                checkpoint_seconds=0.0))
CAE_PAPER = (CAEConfig(), BaselineTrainConfig(steps=3000))


class CAEExperiment(BaselineExperiment):
    """The convolutional autoencoder on 0 to 2 digits."""

    def __init__(self, name: str = "cae-multi-mnist"):
        super().__init__(name, difference=False)
        self.summary = "Convolutional autoencoder on multi-MNIST (0, 1, 2 digits), the unstructured code of Fig. 7"
        self.configs = {"smoke": CAE_SMOKE, "paper": CAE_PAPER}

    def build(self, model_cfg: CAEConfig, train_cfg: BaselineTrainConfig) -> CAE:
        return CAE(model_cfg)

    def loss(self, model: CAE, batch, cfg, step: int, generator) -> tuple[torch.Tensor, dict]:
        return model.loss(batch[0].to(next(model.parameters()).device))

    @torch.no_grad()
    def evaluate(self, model: CAE, data: dict, cfg, step: int, final: bool = False) -> dict:
        images = data["test_images"] if final else data["test_images"][:cfg.eval_images]
        with eval_mode(model):
            mse = sum((model(x)[1] - x).pow(2).mean((1, 2)).sum().item()
                      for x in (model.check_images(p) for p in images.split(500))) / len(images)
        return dict(test_mse=mse, **({"test_images": len(images)} if final else {}))


CAE_MULTI_MNIST = register(CAEExperiment())
