"""The small networks of AIR (Fig. 2): image embedding, recurrent core, step head, encoder, decoder.

Sizes follow the common reference implementations (Pyro's ``examples/air``): an LSTM of 256 units,
encoder and decoder with 200 hidden units, ``z_what`` of 50 dimensions. NVIL's baseline network is
``estimators.BaselineMLP``, shared with the toy model of chapter 1 and the 3D model.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ImageEmbedding(nn.Module):
    # Takes an image (or DAIR's error canvas) x (B, H*W) to features (B, embed).
    def __init__(self, n_pixels: int, embed: int):
        super().__init__()
        self.fc = nn.Linear(n_pixels, embed)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.fc(x))


class Core(nn.Module):
    """The recurrent function ``(omega^i, h^i) = R_phi(x, h^{i-1})``: an LSTM cell whose input is the
    image features and the previous step's latents.

    The image part of the input projection, ``W_x @ embed(x)``, does not change from step to step
    in AIR, so :meth:`project_image` computes it once per image and :meth:`forward` adds it to the
    step-dependent part: one (B, 4H) matrix product saved per step.
    """

    def __init__(self, embed: int, latent: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.image_proj = nn.Linear(embed, 4 * hidden)               # W_x, with the gates' bias
        self.recurrent = nn.Linear(latent + hidden, 4 * hidden, bias=False)  # [W_z, W_h]

    def project_image(self, features: Tensor) -> Tensor:
        """(B, embed) -> (B, 4 * hidden)."""
        return self.image_proj(features)

    def forward(self, image_proj: Tensor, z_prev: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """One LSTM step. Shapes: (B, 4H), (B, latent), (B, H), (B, H) -> h, c (B, H) each."""
        gates = image_proj + self.recurrent(torch.cat([z_prev, h], -1))
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class StepHead(nn.Module):
    # Takes the LSTM state h^i (B, H) to the parameters omega^i of q(z_pres^i) and q(z_where^i).
    def __init__(self, hidden: int, where_mean: tuple[float, float, float], where_sd: float, pres_logit: float):
        super().__init__()
        self.fc = nn.Linear(hidden, 7)
        with torch.no_grad():                                       # start at a fixed, narrow posterior
            self.fc.weight.mul_(0.1)
            self.fc.bias.copy_(torch.tensor([pres_logit, *where_mean, *[_softplus_inv(where_sd)] * 3]))

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns the presence logit (B,), z_where's mean (B, 3) and standard deviation (B, 3)."""
        out = self.fc(h)
        return out[:, 0], out[:, 1:4], F.softplus(out[:, 4:7]) + 1e-4


class Encoder(nn.Module):
    # Takes an attention window x_att (B, 28*28) to the mean and sd of q(z_what) (B, Z) each.
    def __init__(self, n_pixels: int, hidden: int, z_what: int):
        super().__init__()
        self.fc1 = nn.Linear(n_pixels, hidden)
        self.fc2 = nn.Linear(hidden, 2 * z_what)

    def forward(self, x_att: Tensor) -> tuple[Tensor, Tensor]:
        mean, sd = self.fc2(F.relu(self.fc1(x_att))).chunk(2, -1)
        return mean, F.softplus(sd) + 1e-4


class Decoder(nn.Module):
    """Takes a latent code z_what (B, Z) to a patch of pixel intensities y_att (B, 28*28) in (0, 1).

    The output bias starts negative, so the first reconstructions are nearly empty and the model
    is not paid for drawing something at every step before it has learned what a digit looks like.
    """

    def __init__(self, z_what: int, hidden: int, n_pixels: int, output_bias: float):
        super().__init__()
        self.fc1 = nn.Linear(z_what, hidden)
        self.fc2 = nn.Linear(hidden, n_pixels)
        with torch.no_grad():
            self.fc2.bias.fill_(output_bias)

    def forward(self, z_what: Tensor) -> Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(z_what))))


def _softplus_inv(y: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(y))))
