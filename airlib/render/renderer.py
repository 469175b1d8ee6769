"""The renderer: scene description -> image, with MuJoCo's offscreen OpenGL renderer on the CPU.

One :class:`Renderer` owns one MuJoCo model, one ``MjData`` and one ``mujoco.Renderer`` (an
OpenGL context). Scenes are shown by setting poses, never by rebuilding the model, so the cost of a
render is the cost of MuJoCo drawing one frame. :func:`shared_renderer` keeps one renderer per
process and image size, closed at exit.
"""
from __future__ import annotations

import atexit
import math
import operator
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # read by mujoco at import; CPU rendering via Mesa

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from airlib.render.scene import (FIRST_GROUP, OBJECTS, SceneSpec, check_scene,  # noqa: E402
                                 cylinder_texture, scene_xml)

GL_PACKAGES = "libegl1 libegl-mesa0 libgl1-mesa-dri (MUJOCO_GL=egl) or libosmesa6 (MUJOCO_GL=osmesa)"

# Largest image side accepted: 8192 renders with Mesa's EGL on the CPU (9 s to set up); beyond it
# the offscreen buffer with its multisamples needs gigabytes.
MAX_SIZE = 8192


def check_size(size) -> int:
    """Validates an image side in pixels: an integer in ``1..MAX_SIZE``.

    Raises:
        TypeError: for a size that is not an integer (a float, a string, a bool).
        ValueError: for a size outside ``1..MAX_SIZE``.
    """
    if isinstance(size, bool):
        raise TypeError(f"size must be an integer number of pixels in 1..{MAX_SIZE}, got {size!r}")
    try:
        side = operator.index(size)
    except TypeError:
        raise TypeError(f"size must be an integer number of pixels in 1..{MAX_SIZE}, got "
                        f"{size!r} ({type(size).__name__})") from None
    if not 1 <= side <= MAX_SIZE:
        raise ValueError(f"size must be an integer number of pixels in 1..{MAX_SIZE}, got {side}")
    return side


class RendererUnavailable(RuntimeError):
    """No usable OpenGL backend for offscreen rendering."""


class Renderer:
    """Renders scenes of one object on a table at ``size x size`` pixels.

    Args:
        size: image side in pixels (the paper renders at 128).
        spec: the fixed scene (table, sizes, camera).

    Raises:
        TypeError, ValueError: for a size that is not an integer in ``1..MAX_SIZE`` or a spec
            that is not a :class:`SceneSpec`, before any OpenGL call.
        RendererUnavailable: if MuJoCo cannot create an offscreen OpenGL context; the message
            names the Debian packages that provide one.
    """

    def __init__(self, size: int = 128, spec: SceneSpec = SceneSpec()):
        self._renderer = None  # so that close() works whatever fails below
        self.size = check_size(size)
        if not isinstance(spec, SceneSpec):
            raise TypeError(f"spec must be a SceneSpec, got {type(spec).__name__}")
        self.spec = spec
        size = self.size
        self.model = mujoco.MjModel.from_xml_string(scene_xml(spec, size))
        tex = self.model.texture("cylinder")
        width = int(self.model.tex_width[tex.id])
        start = int(self.model.tex_adr[tex.id])
        texture = cylinder_texture(width).reshape(-1)
        self.model.tex_data[start:start + texture.size] = texture
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)  # places the fixed camera and light (mj_camlight)
        try:
            self._renderer = mujoco.Renderer(self.model, size, size)
        except Exception as error:  # the GL backend raises several types
            backend = os.environ.get("MUJOCO_GL", "")
            raise RendererUnavailable(
                f"MuJoCo could not create an offscreen OpenGL context with MUJOCO_GL={backend!r} "
                f"({type(error).__name__}: {error}). Rendering on the CPU needs the Debian "
                f"packages {GL_PACKAGES}; install them with apt-get and set MUJOCO_GL before "
                f"Python imports mujoco.") from error
        self._options = [self._option(i) for i in range(len(OBJECTS))]
        self._height = spec.object_half_size
        self._mocap = [self.model.body(name).mocapid[0] for name in OBJECTS]

    @staticmethod
    def _option(index: int) -> mujoco.MjvOption:
        option = mujoco.MjvOption()
        option.geomgroup[:] = 0
        option.geomgroup[0] = 1  # the table
        option.geomgroup[FIRST_GROUP + index] = 1
        return option

    def render(self, identity, pose, check: bool = True) -> np.ndarray:
        """Renders one scene.

        Args:
            identity: object index or name (see :data:`~airlib.render.scene.OBJECTS`).
            pose: ``(x, y, theta)`` in metres and radians.
            check: validate the scene (off only for inner loops that already did).

        Returns:
            uint8 image, shape (size, size, 3).
        """
        if self._renderer is None:
            raise RuntimeError("this Renderer is closed")
        if check:
            identity, pose = check_scene(identity, pose, self.spec)
        x, y, theta = (float(v) for v in pose)
        m = self._mocap[identity]
        self.data.mocap_pos[m] = (x, y, self._height)
        self.data.mocap_quat[m] = (math.cos(theta / 2), 0.0, 0.0, math.sin(theta / 2))
        mujoco.mj_kinematics(self.model, self.data)
        self._renderer.update_scene(self.data, camera="camera", scene_option=self._options[identity])
        return self._renderer.render()

    def render_batch(self, identity, pose, check: bool = True) -> torch.Tensor:
        """Renders a batch of scenes to a float tensor.

        Args:
            identity: (B,) object indices or names (tensor, array or list).
            pose: (B, 3) poses ``(x, y, theta)``.
            check: validate every scene (the shapes are always checked).

        Returns:
            float32 tensor (B, 3, size, size), intensities in [0, 1].

        Raises:
            ValueError: for identity not of shape (B,), pose not of shape (B, 3), or (with
                ``check``) a bad scene (see :func:`~airlib.render.scene.check_scene`).
        """
        identity = np.asarray(_numpy(identity))
        pose = np.asarray(_numpy(pose), dtype=np.float64)
        if pose.size == 0 and identity.size == 0:
            identity, pose = identity.reshape(0), pose.reshape(0, 3)
        if identity.ndim != 1 or pose.ndim != 2 or pose.shape[1] != 3 or len(identity) != len(pose):
            raise ValueError(f"render_batch needs identity of shape (B,) and pose of shape (B, 3) "
                             f"with the same B, got identity {identity.shape} and pose {pose.shape}")
        if check:
            scenes = [check_scene(i.item(), p, self.spec) for i, p in zip(identity, pose)]
        else:
            scenes = [(int(i), p) for i, p in zip(identity, pose)]
        out = np.empty((len(identity), self.size, self.size, 3), np.uint8)  # (B, H, W, 3)
        for b, (i, p) in enumerate(scenes):
            out[b] = self.render(i, p, check=False)
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W)

    def close(self) -> None:
        """Frees the OpenGL context; safe to call twice."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _numpy(values):
    """A tensor as a numpy array on the CPU; anything else unchanged."""
    return values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else values


_SHARED: dict[tuple, Renderer] = {}      # (renderer class, its arguments) -> the process's one instance


def shared(make, *args):
    """The process's renderer ``make(*args)`` (one OpenGL context per class and arguments, reused), created on
    first use or after it was closed, and closed at exit. Chapter 5's and chapter 6's renderers share this cache."""
    key = (make, *args)
    if key not in _SHARED or _SHARED[key]._renderer is None:
        _SHARED[key] = make(*args)
    return _SHARED[key]


def shared_renderer(size: int = 128, spec: SceneSpec = SceneSpec()) -> Renderer:
    """The process's single-object renderer for ``(size, spec)``."""
    return shared(Renderer, check_size(size), spec)


@atexit.register
def close_shared() -> None:
    """Closes every shared renderer (registered to run at interpreter exit)."""
    while _SHARED:
        _SHARED.popitem()[1].close()
