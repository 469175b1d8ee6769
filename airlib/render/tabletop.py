"""Table-top scenes (Sec. III-B, Figs. 9-10): a table, up to three pieces of crockery, a camera on an orbit.

One MuJoCo model holds the table and nine mocap bodies, three replicas each of the cup, the pan and
the plate (:mod:`airlib.render.crockery`), so that any scene of three objects, types repeated or not,
is shown by moving bodies: slot ``i`` of a scene uses the next free replica of its type, and unused
replicas wait far below the table, beyond the camera's far plane. The camera is MuJoCo's free camera
looking at the table's centre from a fixed distance and elevation; its azimuth is the central
position plus the scene's camera angle (``z_cam``, degrees), limited to ``camera_range``.

A scene is ``present`` (N,) bool, ``kind`` (N,) int (index into :data:`KINDS`), ``pose`` (N, 3) float
(x, y on the table in metres, rotation about the table's normal in radians) and ``camera`` (degrees).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from . import crockery  # noqa: E402
from .renderer import GL_PACKAGES, RendererUnavailable, check_size  # noqa: E402

KINDS = ("cup", "pan", "plate")
REPLICAS = 3                       # of each kind: any three-object scene can be shown
COLOURS = {"cup": (0.92, 0.38, 0.30), "pan": (0.30, 0.45, 0.95), "plate": (0.92, 0.92, 0.90)}
PARKED_Z = -50.0                   # where unused replicas wait (beyond the far plane)


@dataclass(frozen=True)
class TableSpec:
    """The fixed part of a table-top scene (metres and degrees).

    Attributes:
        table_half_width: half the side of the square table top.
        placement_half_width: object centres lie in ``[-p, p]^2`` (object bodies stay on the table).
        distance, elevation, azimuth: the camera's distance from the table's centre, its elevation
            (negative: looking down) and its central azimuth (90: looking along +y).
        camera_range: the moving camera's azimuth stays within ``azimuth +- camera_range``.
        fovy: vertical field of view.
        offsamples: multisamples per pixel (anti-aliasing).
    """
    table_half_width: float = 0.5
    placement_half_width: float = 0.3
    distance: float = 1.4
    elevation: float = -55.0
    azimuth: float = 90.0
    camera_range: float = 40.0
    fovy: float = 45.0
    offsamples: int = 4

    def __post_init__(self):
        for name in ("table_half_width", "placement_half_width", "distance", "fovy", "camera_range"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"TableSpec.{name} must be a positive number, got {value!r}")
        if self.placement_half_width + min(crockery.BODY_RADIUS.values()) > self.table_half_width:
            raise ValueError(f"TableSpec.placement_half_width {self.placement_half_width} leaves no object on the table "
                             f"of half-width {self.table_half_width}")
        if not -90 < self.elevation < 0:
            raise ValueError(f"TableSpec.elevation must be in (-90, 0) degrees (looking down), got {self.elevation!r}")
        if not 0 < self.fovy < 180:
            raise ValueError(f"TableSpec.fovy must be in (0, 180) degrees, got {self.fovy!r}")
        if not 0 < self.camera_range < 180:
            raise ValueError(f"TableSpec.camera_range must be in (0, 180) degrees, got {self.camera_range!r}")


def body_name(kind: str, replica: int, scale_index: int = 0) -> str:
    return f"{kind}{replica}" + (f"_s{scale_index}" if scale_index else "")


def scene_xml(spec: TableSpec, size: int, scales: tuple[float, ...] = (1.0,)) -> str:
    """MJCF of the table and the crockery bodies (three replicas of each type at each of ``scales``), the
    meshes inline."""
    t = spec.table_half_width
    assets, bodies = [], []
    for kind in KINDS:
        for j, scale in enumerate(scales):
            tag = f"_s{j}" if j else ""
            for part in crockery.parts(kind):
                v = " ".join(f"{x * scale:.6f}" for x in part.mesh.vertices.reshape(-1))
                f = " ".join(map(str, part.mesh.faces.reshape(-1)))
                assets.append(f'<mesh name="{kind}_{part.name}{tag}" vertex="{v}" face="{f}"/>')
            rgba = " ".join(map(str, (*COLOURS[kind], 1)))
            for r in range(REPLICAS):
                geoms = "".join(f'<geom type="mesh" mesh="{kind}_{p.name}{tag}" pos="{" ".join(str(c * scale) for c in p.pos)}" '
                                f'euler="{" ".join(map(str, p.euler))}" rgba="{rgba}"/>' for p in crockery.parts(kind))
                bodies.append(f'<body name="{body_name(kind, r, j)}" mocap="true" pos="0 0 {PARKED_Z}">{geoms}</body>')
    return f"""
<mujoco model="air-tabletop">
  <compiler angle="degree"/>
  <default><geom contype="0" conaffinity="0"/></default>
  <statistic center="0 0 0" extent="1"/>
  <visual>
    <quality shadowsize="0" offsamples="{spec.offsamples}"/>
    <global offwidth="{size}" offheight="{size}" fovy="{spec.fovy}"/>
    <map znear="0.05" zfar="6"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
  </visual>
  <asset>{''.join(assets)}</asset>
  <worldbody>
    <light pos="0.4 -0.6 2.0" dir="-0.2 0.3 -1" diffuse="0.7 0.7 0.7" castshadow="false"/>
    <geom name="table" type="box" size="{t} {t} 0.04" pos="0 0 -0.04" rgba="0.12 0.12 0.14 1"/>
    {''.join(bodies)}
  </worldbody>
</mujoco>
"""


def check_scene(present, kind, pose, camera, spec: TableSpec):
    """One scene in canonical form (numpy arrays), or a ValueError naming what is wrong."""
    present = np.asarray(present)
    kind = np.asarray(kind)
    pose = np.asarray(pose, np.float64)
    n = present.shape[0] if present.ndim == 1 else -1
    if n < 1 or kind.shape != (n,) or pose.shape != (n, 3):
        raise ValueError(f"a scene is present (N,), kind (N,) and pose (N, 3); got {present.shape}, {kind.shape}, "
                         f"{pose.shape}")
    if present.dtype != bool and not np.isin(present, (0, 1)).all():
        raise ValueError(f"present must be 0/1 or bool, got {present.tolist()}")
    present = present.astype(bool)
    if not np.issubdtype(kind.dtype, np.integer) or np.any((kind[present] < 0) | (kind[present] >= len(KINDS))):
        raise ValueError(f"kind must be integers in 0..{len(KINDS) - 1} ({', '.join(KINDS)}), got {kind.tolist()}")
    for k in range(len(KINDS)):
        if np.sum(present & (kind == k)) > REPLICAS:
            raise ValueError(f"a scene holds at most {REPLICAS} of each kind, got {np.sum(present & (kind == k))} "
                             f"{KINDS[k]}s")
    if not np.isfinite(pose).all():
        raise ValueError(f"pose must be finite, got {pose.tolist()}")
    p = spec.placement_half_width
    off = present & np.any(np.abs(pose[:, :2]) > p + 1e-6, axis=1)        # 1e-6: a float32 pose clamped to p
    if off.any():
        raise ValueError(f"object centres {pose[off, :2].round(3).tolist()} are off the table: |x| and |y| must be at "
                         f"most {p} m")
    camera = float(camera)
    if not math.isfinite(camera) or abs(camera) > spec.camera_range + 1e-9:
        raise ValueError(f"camera angle {camera!r} is outside +-{spec.camera_range} degrees")
    return present, kind.astype(np.int64), pose, camera


def image_projection(spec: TableSpec, size: int, camera: float = 0.0) -> np.ndarray:
    """The homography that takes a point (x, y) of the table's top (z = 0, metres) to where the renderer shows it:
    ``(col, row, 1) ~ H (x, y, 1)``, pixel edges at integers, row 0 at the top (MuJoCo's free camera, pinhole).

    The camera orbits the table's centre about the vertical, so ``image_projection(spec, size, c)`` is
    ``image_projection(spec, size, 0)`` applied to the point turned by ``-c`` degrees (the live page uses this).

    Returns:
        (3, 3) float64.
    """
    az, el = math.radians(spec.azimuth + float(camera)), math.radians(spec.elevation)
    forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    up = np.array([-math.sin(el) * math.cos(az), -math.sin(el) * math.sin(az), math.cos(el)])
    rotation = np.stack([np.cross(forward, up), -up, forward])      # world -> camera: x right, y down, z ahead
    position = -spec.distance * forward                             # looking at the table's centre
    focal = size / (2 * math.tan(math.radians(spec.fovy) / 2))      # pixels
    k = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    projection = k @ np.concatenate([rotation, -rotation @ position[:, None]], 1)    # (3, 4)
    return projection[:, [0, 1, 3]]                                  # the columns of x, y and 1 (z = 0)


class TabletopRenderer:
    """Renders table-top scenes at ``size x size`` pixels on the CPU (MuJoCo offscreen OpenGL).

    Raises:
        RendererUnavailable: no OpenGL context (the message names the Debian packages).
    """

    def __init__(self, size: int = 128, spec: TableSpec = TableSpec(), scales: tuple[float, ...] = (1.0,)):
        self._renderer = None
        self.frames = 0                 # frames rendered so far (what a training step costs: chapter 6)
        self.size = check_size(size)
        if not isinstance(spec, TableSpec):
            raise TypeError(f"spec must be a TableSpec, got {type(spec).__name__}")
        scales = tuple(scales)
        if not scales or not all(isinstance(c, (int, float)) and 0.5 <= c <= 2 for c in scales):
            raise ValueError(f"scales must be sizes in [0.5, 2] relative to the meshes, got {scales!r}")
        self.spec, self.scales = spec, scales
        self.model = mujoco.MjModel.from_xml_string(scene_xml(spec, self.size, scales))
        self.data = mujoco.MjData(self.model)
        self._mocap = {(k, j, r): self.model.body(body_name(kind, r, j)).mocapid[0]
                       for k, kind in enumerate(KINDS) for j in range(len(scales)) for r in range(REPLICAS)}
        self._geoms = {k: [g for g in range(self.model.ngeom)
                           if self.model.body(self.model.geom_bodyid[g]).name.startswith(kind)]
                       for k, kind in enumerate(KINDS)}
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.lookat[:] = (0.0, 0.0, 0.0)
        self.camera.distance, self.camera.elevation = spec.distance, spec.elevation
        try:
            self._renderer = mujoco.Renderer(self.model, self.size, self.size)
        except Exception as error:
            raise RendererUnavailable(
                f"MuJoCo could not create an offscreen OpenGL context with MUJOCO_GL="
                f"{os.environ.get('MUJOCO_GL', '')!r} ({type(error).__name__}: {error}); rendering on the CPU needs "
                f"{GL_PACKAGES}") from error

    def set_colours(self, colours: dict[int, tuple[float, float, float]] | None = None) -> None:
        """Colours of each kind (index -> rgb in [0, 1]); None restores :data:`COLOURS` (perturbation for transfer)."""
        for k, kind in enumerate(KINDS):
            rgb = COLOURS[kind] if colours is None or k not in colours else colours[k]
            if len(rgb) != 3 or not all(0 <= c <= 1 for c in rgb):
                raise ValueError(f"a colour is three numbers in [0, 1], got {rgb!r}")
            self.model.geom_rgba[self._geoms[k], :3] = rgb

    def render(self, present, kind, pose, camera: float = 0.0, check: bool = True, scale=None) -> np.ndarray:
        """Renders one scene; uint8 (size, size, 3). ``scale`` (N,): each object's index into ``scales``
        (default: the first, for every object)."""
        if self._renderer is None:
            raise RuntimeError("this TabletopRenderer is closed")
        if check:
            present, kind, pose, camera = check_scene(present, kind, pose, camera, self.spec)
        if scale is None:
            scale = np.zeros(len(present), np.int64)
        elif check and (np.shape(scale) != (len(present),) or not all(0 <= int(j) < len(self.scales) for j in scale)):
            raise ValueError(f"scale must be one index into the renderer's {len(self.scales)} scales per slot, got {scale!r}")
        self.data.mocap_pos[:, 2] = PARKED_Z
        used = {}
        for i in np.flatnonzero(present):
            body = (int(kind[i]), int(scale[i]))                    # the next free replica of this type and size
            used[body] = used.get(body, 0) + 1
            m = self._mocap[(*body, used[body] - 1)]
            x, y, theta = pose[i]
            self.data.mocap_pos[m] = (x, y, 0.0)
            self.data.mocap_quat[m] = (math.cos(theta / 2), 0.0, 0.0, math.sin(theta / 2))
        mujoco.mj_kinematics(self.model, self.data)
        self.camera.azimuth = self.spec.azimuth + float(camera)
        self._renderer.update_scene(self.data, camera=self.camera)
        self.frames += 1
        return self._renderer.render()

    def render_batch(self, present, kind, pose, camera=None, check: bool = True, scale=None, colours=None) -> torch.Tensor:
        """Renders scenes (B, N), (B, N), (B, N, 3) and cameras (B,) (default 0) to float (B, 3, size, size) in [0, 1].

        Perturbations (for transfer): ``scale`` (B, N) indices into ``scales``; ``colours`` (B, 3 kinds, 3) rgb
        per scene and kind (the renderer's colours are restored afterwards)."""
        present, kind, pose = (np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                               for v in (present, kind, pose))
        camera = np.zeros(len(present)) if camera is None else np.asarray(
            camera.detach().cpu() if isinstance(camera, torch.Tensor) else camera, np.float64)
        if present.ndim != 2 or kind.shape != present.shape or pose.shape != (*present.shape, 3) \
                or camera.shape != (len(present),):
            raise ValueError(f"render_batch needs present (B, N), kind (B, N), pose (B, N, 3) and camera (B,); got "
                             f"{present.shape}, {kind.shape}, {pose.shape}, {camera.shape}")
        out = np.empty((len(present), self.size, self.size, 3), np.uint8)    # (B, H, W, 3)
        if colours is not None and np.shape(colours) != (len(present), len(KINDS), 3):
            raise ValueError(f"colours must be (B, {len(KINDS)}, 3), got {np.shape(colours)}")
        try:
            for b in range(len(present)):
                if colours is not None:
                    self.set_colours(dict(enumerate(map(tuple, np.asarray(colours[b], np.float64)))))
                out[b] = self.render(present[b], kind[b], pose[b], camera[b], check=check,
                                     scale=None if scale is None else np.asarray(scale[b]))
        finally:
            if colours is not None:
                self.set_colours(None)
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)

    def camera_position(self) -> np.ndarray:
        """Where the last render's camera stood (world coordinates), as MuJoCo placed it."""
        cams = self._renderer.scene.camera
        return np.mean([np.asarray(c.pos) for c in cams], axis=0)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> "TabletopRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------ gradients by finite differences

# Forward-difference steps: metres for x and y, radians for the rotation, degrees for the camera.
DEFAULT_EPS = (1e-2, 1e-2, 3e-2, 1.0)


class TabletopRenderFunction(torch.autograd.Function):
    """images = render(scene), differentiable in the objects' poses and the camera angle by forward differences:

        d y / d z_k ~= (render(z + eps_k e_k) - render(z)) / eps_k

    for every present object's x, y and rotation and for the camera (1 + 3 n + 1 renders per scene).
    The presence and the types are discrete and get no gradient (the score function handles them).
    """

    @staticmethod
    def forward(ctx, pose, camera, present, kind, renderer, eps):
        images = renderer.render_batch(present, kind, pose.detach(), camera.detach(), check=False)  # (B, 3, H, W)
        ctx.renderer, ctx.eps = renderer, np.asarray(eps, np.float64)
        ctx.present = np.asarray(present.detach().cpu() if isinstance(present, torch.Tensor) else present, bool)
        ctx.kind = np.asarray(kind.detach().cpu() if isinstance(kind, torch.Tensor) else kind)
        ctx.save_for_backward(pose.detach(), camera.detach(), images)
        return images.to(pose.dtype)

    @staticmethod
    def backward(ctx, grad_images):
        pose, camera, images = ctx.saved_tensors
        r, eps = ctx.renderer, ctx.eps
        pose64, cam64 = pose.cpu().double().numpy(), camera.cpu().double().numpy()
        base = (images * 255.0).round().permute(0, 2, 3, 1).numpy()            # (B, H, W, 3), 0..255 floats
        g = grad_images.detach().cpu().permute(0, 2, 3, 1).double().numpy() / 255.0
        grad_pose, grad_cam = np.zeros(pose64.shape), np.zeros(cam64.shape)
        for b in range(len(pose64)):
            def slope(p, c, step):
                moved = r.render(ctx.present[b], ctx.kind[b], p, c, check=False).astype(np.float64)
                return float(((moved - base[b]) * g[b]).sum() / step)
            for i in np.flatnonzero(ctx.present[b]):
                for k in range(3):
                    p = pose64[b].copy()
                    p[i, k] += eps[k]
                    grad_pose[b, i, k] = slope(p, cam64[b], eps[k])
            if ctx.needs_input_grad[1]:
                grad_cam[b] = slope(pose64[b], cam64[b] + eps[3], eps[3])
        return (torch.from_numpy(grad_pose).to(pose), torch.from_numpy(grad_cam).to(camera), None, None, None, None)


def render(present, kind, pose: torch.Tensor, camera: torch.Tensor, renderer: TabletopRenderer,
           eps=DEFAULT_EPS, check: bool = True) -> torch.Tensor:
    """Renders scenes (B, N), (B, N), pose (B, N, 3), camera (B,) to (B, 3, H, W) in [0, 1], differentiable in
    ``pose`` and ``camera`` by forward differences (:class:`TabletopRenderFunction`)."""
    eps = np.broadcast_to(np.asarray(eps, np.float64), (4,))
    if np.any(eps <= 0):
        raise ValueError(f"finite-difference steps must be positive, got {eps.tolist()}")
    if check:
        for b in range(len(pose)):
            check_scene(np.asarray(present[b]), np.asarray(kind[b]), pose[b].detach().cpu().numpy(),
                        float(camera[b]), renderer.spec)
    return TabletopRenderFunction.apply(pose, camera, present, kind, renderer, eps)
