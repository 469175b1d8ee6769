"""The spatial transformer against PyTorch's grid_sample, and its round trip (place, then attend)."""
import torch
import torch.nn.functional as F

from airlib import spatial


def _random_where(b, gen):
    return torch.stack([1 + torch.rand(b, generator=gen) * 2, torch.randn(b, generator=gen) * 0.5,
                        torch.randn(b, generator=gen) * 0.5], 1)


def test_attend_and_place_match_grid_sample():
    gen = torch.Generator().manual_seed(0)
    images, patches = torch.rand(16, 50, 50, generator=gen), torch.rand(16, 28, 28, generator=gen)
    z_where = _random_where(16, gen)
    grid = F.affine_grid(spatial.theta(z_where), (16, 1, 28, 28), align_corners=False)
    ref = F.grid_sample(images[:, None], grid, align_corners=False)[:, 0]
    torch.testing.assert_close(spatial.attend(images, z_where), ref, atol=1e-5, rtol=0)
    grid = F.affine_grid(spatial.theta(z_where, inverse=True), (16, 1, 50, 50), align_corners=False)
    ref = F.grid_sample(patches[:, None], grid, align_corners=False)[:, 0]
    torch.testing.assert_close(spatial.place(patches, z_where), ref, atol=1e-5, rtol=0)


def test_gradient_wrt_z_where_matches_grid_sample():
    gen = torch.Generator().manual_seed(1)
    patches = torch.rand(4, 28, 28, generator=gen)
    z1 = _random_where(4, gen).requires_grad_(True)
    z2 = z1.detach().clone().requires_grad_(True)
    target = torch.rand(4, 50, 50, generator=gen)
    (spatial.place(patches, z1) * target).sum().backward()
    grid = F.affine_grid(spatial.theta(z2, inverse=True), (4, 1, 50, 50), align_corners=False)
    (F.grid_sample(patches[:, None], grid, align_corners=False)[:, 0] * target).sum().backward()
    torch.testing.assert_close(z1.grad, z2.grad, atol=1e-3, rtol=1e-3)


def test_round_trip_at_native_size_is_exact():
    """A digit placed at its native size on the pixel grid is read back exactly."""
    gen = torch.Generator().manual_seed(2)
    patches = torch.rand(8, 28, 28, generator=gen)
    top_left = torch.randint(0, 50 - 28 + 1, (8, 2), generator=gen).float()   # (row, col)
    centre = -1 + (2 * top_left + 28) / 50                                      # normalised
    z_where = torch.stack([torch.full((8,), 50 / 28), centre[:, 1], centre[:, 0]], 1)
    canvas = spatial.place(patches, z_where)
    for b in range(8):
        r, c = top_left[b].long().tolist()
        torch.testing.assert_close(canvas[b, r:r + 28, c:c + 28], patches[b], atol=1e-5, rtol=0)
    torch.testing.assert_close(spatial.attend(canvas, z_where), patches, atol=1e-5, rtol=0)


def test_round_trip_of_a_smooth_patch_anywhere():
    """Off the pixel grid and at other scales, a smooth patch survives place -> attend closely."""
    u = torch.linspace(-1, 1, 28)
    blob = torch.exp(-(u[:, None] ** 2 + u[None, :] ** 2) / 0.2)                # (28, 28)
    z_where = torch.tensor([[1.3, 0.11, -0.23], [2.0, -0.3, 0.17], [1.6, 0.05, 0.4]])
    back = spatial.attend(spatial.place(blob.expand(3, 28, 28), z_where), z_where)
    assert (back - blob).abs().max() < 0.03


def test_window_box():
    box = spatial.window_box(torch.tensor([50 / 28, 0.0, 0.0]))
    torch.testing.assert_close(box, torch.tensor([11.0, 11.0, 28.0, 28.0]))
