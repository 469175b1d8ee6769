"""A MuJoCo probabilistic renderer for AIR's 3D experiments (Sec. III).

``scene``: the scene description and its MuJoCo model; ``renderer``: offscreen rendering;
``likelihood``: blur and Gaussian likelihood; ``gradient``: finite-difference gradients through the
renderer as a ``torch.autograd.Function``.
"""
from airlib.render.renderer import Renderer, RendererUnavailable, shared_renderer  # sets MUJOCO_GL first
from airlib.render.scene import OBJECTS, SYMMETRY, SceneSpec, check_scene, sample_scenes

__all__ = ["OBJECTS", "SYMMETRY", "SceneSpec", "Renderer", "RendererUnavailable",
           "shared_renderer", "check_scene", "sample_scenes"]
