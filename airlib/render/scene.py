"""The scene: a table and one object, written as a MuJoCo model (Sec. III-A, Fig. 8a).

A scene description is ``(identity, x, y, theta)``: which of three objects stands on the table
(a red cube, a blue sphere or a textured cylinder), where on the table plane its centre is, and its
rotation about the table's normal. This is the paper's ``z_what`` (a three-valued discrete
variable) and ``z_where`` (position and rotation angle, in R^3), for N = 1 object.

The table is nearly black and every object is at least 0.3 bright in every colour channel, so
(object - table) has positive channels for all three types. A rendered object overlapping the
observed one then lowers the squared error whatever the two types are, since
|a - b|^2 < |a - t|^2 + |b - t|^2 when (a - t).(b - t) > 0, and the likelihood draws even a guess
of the wrong type towards the object (with a brown table and a pure red cube, a blue sphere drawn
over the cube would raise the error and push an early guess of the wrong type away).

One MuJoCo model holds all three objects as mocap bodies, each in its own geom group. A scene is
shown by moving the objects (``mocap_pos``, ``mocap_quat``) and switching on the group of the one
present, so a renderer is built once and reused for every scene.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OBJECTS = ("cube", "sphere", "cylinder")

# Rotation about the table's normal that maps each object's appearance onto itself:
# a cube repeats every quarter turn, a sphere for every angle (0 here), the textured cylinder once
# per turn (its texture marks one side).
SYMMETRY = {"cube": math.pi / 2, "sphere": 0.0, "cylinder": 2 * math.pi}

# The first geom group that holds an object: object i lives in group FIRST_GROUP + i.
FIRST_GROUP = 3


@dataclass(frozen=True)
class SceneSpec:
    """The fixed part of the scene: table, object sizes, camera and light (units: metres).

    Attributes:
        table_half_width: half the side of the square table top.
        object_half_size: half-extent of the cube, radius of the sphere and cylinder, and half
            their heights; objects stand on the table top.
        placement_half_width: object centres are drawn from ``[-p, p]^2``, so an object always
            stands fully on the table and in view.
        camera_pos: position of the fixed camera.
        camera_lookat: point the camera looks at.
        fovy: vertical field of view in degrees, in (0, 180); a wide one shrinks the scene (at
            170 degrees the whole scene fits in a few pixels of a 32x32 image).
        offsamples: multisamples per pixel of the offscreen buffer (anti-aliasing; it makes the
            image, and so the finite differences, change smoothly with the pose).

    Raises:
        ValueError, TypeError: on construction, for a field that would give a black or
            meaningless image: a non-positive or non-finite size, a placement region that lets an
            object overhang the table, a camera that is not three finite numbers, looks straight
            down or sits on its target, a field of view outside (0, 180) degrees, or a negative
            number of multisamples. Positions are stored as tuples of floats (hashable).
    """

    table_half_width: float = 0.5
    object_half_size: float = 0.1
    placement_half_width: float = 0.35
    camera_pos: tuple[float, float, float] = (0.0, -0.95, 1.25)
    camera_lookat: tuple[float, float, float] = (0.0, -0.02, 0.0)
    fovy: float = 43.0
    offsamples: int = 8

    def __post_init__(self):
        for name in ("table_half_width", "object_half_size", "placement_half_width"):
            value = _real(self, name)
            if not value > 0:
                raise ValueError(f"SceneSpec.{name} must be positive (metres), got {value!r}")
        if self.placement_half_width + self.object_half_size > self.table_half_width:
            raise ValueError(
                f"SceneSpec.placement_half_width + object_half_size must be at most "
                f"table_half_width, so that an object stands fully on the table: got "
                f"{self.placement_half_width!r} + {self.object_half_size!r} > "
                f"{self.table_half_width!r}")
        for name in ("camera_pos", "camera_lookat"):
            try:
                point = tuple(float(v) for v in getattr(self, name))
            except (TypeError, ValueError):
                point = ()
            if len(point) != 3 or not all(map(math.isfinite, point)):
                raise ValueError(f"SceneSpec.{name} must be three finite numbers (x, y, z), "
                                 f"got {getattr(self, name)!r}")
            object.__setattr__(self, name, point)
        view = np.subtract(self.camera_lookat, self.camera_pos)
        distance = np.linalg.norm(view)
        if distance == 0 or np.linalg.norm(np.cross(view / distance, [0.0, 0.0, 1.0])) < 1e-6:
            raise ValueError(f"SceneSpec camera must not sit on its target or look straight up or "
                             f"down (its image's up is the world's z), got camera_pos "
                             f"{self.camera_pos} and camera_lookat {self.camera_lookat}")
        fovy = _real(self, "fovy")
        if not 0 < fovy < 180:
            raise ValueError(f"SceneSpec.fovy must be in (0, 180) degrees, got {fovy!r}")
        if isinstance(self.offsamples, bool) or not isinstance(self.offsamples, (int, np.integer)):
            raise TypeError(f"SceneSpec.offsamples must be an integer >= 0, got {self.offsamples!r}")
        if self.offsamples < 0:
            raise ValueError(f"SceneSpec.offsamples must be an integer >= 0, got {self.offsamples}")
        object.__setattr__(self, "offsamples", int(self.offsamples))

    @property
    def table_width(self) -> float:
        """Side of the table top: the unit of the position error."""
        return 2 * self.table_half_width


def _real(spec: SceneSpec, name: str) -> float:
    """A field of ``spec`` as a finite float, stored back as one; TypeError/ValueError otherwise."""
    value = getattr(spec, name)
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"SceneSpec.{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"SceneSpec.{name} must be finite, got {value!r}")
    object.__setattr__(spec, name, float(value))
    return float(value)


def _camera_axes(pos, lookat) -> str:
    """The ``xyaxes`` attribute of a camera at ``pos`` looking at ``lookat``, with z up."""
    forward = np.asarray(lookat, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return " ".join(f"{v:.6f}" for v in (*right, *up))


def scene_xml(spec: SceneSpec, size: int) -> str:
    """MJCF text of the scene: table, three hidden-by-group objects, one light and one camera.

    Args:
        spec: the fixed geometry of the scene.
        size: the largest image side the model will be rendered at (offscreen buffer).

    Returns:
        The model as an MJCF string.
    """
    h = spec.object_half_size
    t = spec.table_half_width
    return f"""
<mujoco model="air-3d-single-object">
  <visual>
    <quality shadowsize="0" offsamples="{spec.offsamples}"/>
    <global offwidth="{size}" offheight="{size}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.3 0.3 0.3" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="cylinder" type="cube" builtin="flat" rgb1="1 1 1" width="64" height="64"/>
    <material name="cylinder" texture="cylinder" specular="0.1"/>
  </asset>
  <worldbody>
    <light pos="0.4 -0.6 2.0" dir="-0.2 0.3 -1" diffuse="0.7 0.7 0.7" castshadow="false"/>
    <geom name="table" type="box" size="{t} {t} 0.04" pos="0 0 -0.04" rgba="0.12 0.12 0.14 1"/>
    <body name="cube" mocap="true" pos="0 0 {h}">
      <geom type="box" size="{h} {h} {h}" rgba="0.95 0.3 0.3 1" group="{FIRST_GROUP}"/>
    </body>
    <body name="sphere" mocap="true" pos="0 0 {h}">
      <geom type="sphere" size="{h}" rgba="0.3 0.45 1.0 1" group="{FIRST_GROUP + 1}"/>
    </body>
    <body name="cylinder" mocap="true" pos="0 0 {h}">
      <geom type="cylinder" size="{h} {h}" material="cylinder" group="{FIRST_GROUP + 2}"/>
    </body>
    <camera name="camera" pos="{' '.join(map(str, spec.camera_pos))}"
            xyaxes="{_camera_axes(spec.camera_pos, spec.camera_lookat)}" fovy="{spec.fovy}"/>
  </worldbody>
</mujoco>
"""


def cylinder_texture(width: int) -> np.ndarray:
    """The cylinder's cube-map texture: white, with a green bar from the centre of the top to the
    +x side and a green +x side face, so a turn of the cylinder is visible from above.

    MuJoCo stores a cube texture as six ``width x width`` faces stacked in the order
    +x, -x, +y, -y, +z, -z, and maps it onto a primitive by the direction from the geom's centre.

    Args:
        width: side of one face in texels.

    Returns:
        uint8 array, shape (6 * width, width, 3).
    """
    faces = np.full((6, width, width, 3), 235, np.uint8)  # (face, row, col, rgb)
    green = np.array([20, 150, 60], np.uint8)
    faces[0] = green  # +x side
    # On the +z face, which image axis is +x is not documented; a bar along both a row and a
    # column half would be ambiguous, so the renderer's tests measure the direction instead.
    u = np.arange(width)
    col, row = np.meshgrid(u, u)
    half_bar = (np.abs(row - width / 2 + 0.5) < width / 7) & (col >= width / 2)
    faces[4][half_bar] = green
    return faces.reshape(6 * width, width, 3)


def check_scene(identity, pose, spec: SceneSpec) -> tuple[int, np.ndarray]:
    """Validates one scene description and returns it in canonical form.

    Args:
        identity: an object index in ``range(3)`` or a name in :data:`OBJECTS`.
        pose: ``(x, y, theta)``: centre on the table plane (metres) and rotation (radians).
        spec: the scene whose table bounds the position.

    Returns:
        ``(index, pose)`` with pose a float64 array of shape (3,).

    Raises:
        ValueError: for an unknown object, a pose of the wrong shape, a non-finite pose, or an
            object centre off the placement region of the table.
    """
    if isinstance(identity, str):
        if identity not in OBJECTS:
            raise ValueError(f"unknown object type {identity!r}: expected one of {OBJECTS}")
        index = OBJECTS.index(identity)
    else:
        index = int(identity)
        if not 0 <= index < len(OBJECTS) or index != identity:
            raise ValueError(f"unknown object type {identity!r}: expected an index in 0..2 "
                             f"or one of {OBJECTS}")
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (3,):
        raise ValueError(f"a pose is (x, y, theta), got shape {pose.shape}")
    if not np.all(np.isfinite(pose)):
        raise ValueError(f"pose must be finite, got {pose.tolist()}")
    p = spec.placement_half_width
    if np.any(np.abs(pose[:2]) > p + 1e-9):
        raise ValueError(f"object centre ({pose[0]:.3f}, {pose[1]:.3f}) is off the table: "
                         f"|x| and |y| must be at most {p} m (table half-width "
                         f"{spec.table_half_width} m)")
    return index, pose


def sample_scenes(n: int, spec: SceneSpec, rng: np.random.Generator):
    """Draws ``n`` scenes from the prior: uniform identity, position and rotation.

    Args:
        n: number of scenes.
        spec: bounds the positions.
        rng: numpy random generator.

    Returns:
        identity (n,) int64 and pose (n, 3) float32: x, y in ``[-p, p]``, theta in ``[-pi, pi)``.
    """
    identity = rng.integers(0, len(OBJECTS), size=n)
    p = spec.placement_half_width
    pose = np.stack([rng.uniform(-p, p, n), rng.uniform(-p, p, n),
                     rng.uniform(-math.pi, math.pi, n)], axis=1)
    return identity.astype(np.int64), pose.astype(np.float32)
