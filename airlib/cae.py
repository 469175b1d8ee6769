"""A convolutional autoencoder (CAE): the unstructured representation of Fig. 7 (Sec. II-B).

Trained without labels on the same 0 to 2 digit images as AIR, by the squared error of its
reconstruction (the Gaussian likelihood of AIR with a fixed sigma, up to constants):
``x (B, 50, 50) -> code (B, C) -> reconstruction (B, 50, 50)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .air import image_batch


@dataclass(frozen=True)
class CAEConfig:
    image_size: int = 50
    channels: int = 32          # the first convolution's channels (doubled once)
    code: int = 64              # the representation's size


class CAE(nn.Module):
    """Encoder: three strided convolutions and a linear layer; decoder: the mirror image."""

    def __init__(self, config: CAEConfig = CAEConfig()):
        super().__init__()
        self.config = c = config
        w = c.channels
        # (B, 1, 50, 50) -> (B, w, 25, 25) -> (B, 2w, 13, 13) -> (B, 2w, 7, 7) -> (B, code)
        self.encoder = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.ReLU(), nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(),
                                     nn.Conv2d(2 * w, 2 * w, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(2 * w * 7 * 7, c.code))
        # (B, code) -> (B, 2w, 7, 7) -> (B, 2w, 13, 13) -> (B, w, 25, 25) -> (B, 1, 50, 50) logits
        self.decoder = nn.Sequential(nn.Linear(c.code, 2 * w * 7 * 7), nn.ReLU(), nn.Unflatten(1, (2 * w, 7, 7)),
                                     nn.ConvTranspose2d(2 * w, 2 * w, 3, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(2 * w, w, 3, 2, 1), nn.ReLU(),
                                     nn.ConvTranspose2d(w, 1, 4, 2, 1))
        with torch.no_grad():
            self.decoder[-1].bias.fill_(-2.0)               # start from a nearly empty canvas, as AIR

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 50, 50) in [0, 1] -> code (B, C), reconstruction (B, 50, 50) in [0, 1]."""
        code = self.encoder(images[:, None])
        return code, torch.sigmoid(self.decoder(code)[:, 0])

    def check_images(self, images) -> Tensor:
        return image_batch(images, self.config.image_size, next(self.parameters()))

    def loss(self, images: Tensor) -> tuple[Tensor, dict]:
        """Mean squared error per pixel of the reconstruction."""
        _, recon = self(images)
        mse = (recon - images).pow(2).mean()
        return mse, dict(mse=mse.item())

    @torch.no_grad()
    def encode(self, images, chunk: int = 1000) -> Tensor:
        """The representation of images (B, 50, 50), uint8 or float in [0, 1]: codes (B, C)."""
        images = self.check_images(images)
        if not len(images):
            return images.new_zeros(0, self.config.code)
        return torch.cat([self(part)[0] for part in images.split(chunk)])
