"""Crockery meshes made in code (Sec. III-B): a cup, a pan and a plate as surfaces of revolution.

No mesh file can be downloaded here, so each object is a profile curve in the (r, z) half-plane
turned about the z axis (:func:`revolve`), plus a handle for the cup (a torus) and the pan (a
cylinder). The meshes go into MuJoCo inline (``<mesh vertex=... face=...>``), MuJoCo's own mesh
support: the shapes are simple enough that a mesh library would add a dependency and nothing else.
Each mesh is a closed surface with outward normals (``tests/test_tabletop.py`` checks every edge and
the enclosed volume against an exact formula); they are made once per process (``lru_cache``).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

SEGMENTS = 40          # facets around the axis; at 128x128 the outlines look round


class Mesh(NamedTuple):
    """A triangle mesh: vertices (V, 3) float64 in metres, faces (F, 3) int64, counter-clockwise seen from outside."""
    vertices: np.ndarray
    faces: np.ndarray


class Part(NamedTuple):
    """One mesh of an object, placed in the object's frame (``euler``: degrees, MuJoCo's xyz convention)."""
    name: str
    mesh: Mesh
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    euler: tuple[float, float, float] = (0.0, 0.0, 0.0)


def revolve(profile, segments: int = SEGMENTS, closed: bool = False) -> Mesh:
    """The surface swept by turning a profile about the z axis.

    Args:
        profile: (P, 2) points (r, z), counter-clockwise in the (r, z) plane (r to the right, z up),
            so that the surface faces outward. An open profile starts and ends on the axis (r = 0):
            the ends become poles. A ``closed`` profile (a loop, all r > 0) makes a torus-like surface.
        segments: facets around the axis (at least 3).

    Returns:
        A closed :class:`Mesh`.
    """
    p = np.asarray(profile, np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
        raise ValueError(f"a profile is (P, 2) points (r, z) with P >= 3, got shape {p.shape}")
    if segments < 3:
        raise ValueError(f"segments must be at least 3, got {segments}")
    if np.any(p[:, 0] < 0):
        raise ValueError("a profile lies in r >= 0")
    if closed and np.any(p[:, 0] == 0):
        raise ValueError("a closed profile must stay off the axis (r > 0)")
    if not closed and (p[0, 0] != 0 or p[-1, 0] != 0 or np.any(p[1:-1, 0] == 0)):
        raise ValueError("an open profile starts and ends on the axis (r = 0) and leaves it in between")
    phi = 2 * math.pi * np.arange(segments) / segments
    rings = p if closed else p[1:-1]                       # the points that sweep a ring
    ring = (rings[:, None, 0, None] * np.stack([np.cos(phi), np.sin(phi)], -1))   # (R, K, 2)
    verts = np.concatenate([ring, np.broadcast_to(rings[:, None, 1:], (len(rings), segments, 1))], -1).reshape(-1, 3)
    idx = np.arange(len(rings) * segments).reshape(len(rings), segments)
    k, k1 = np.arange(segments), (np.arange(segments) + 1) % segments
    faces = []
    pairs = [(j, (j + 1) % len(rings)) for j in range(len(rings) if closed else len(rings) - 1)]
    for a, b in pairs:                                      # quads between consecutive rings: two triangles
        faces += [np.stack([idx[a, k], idx[a, k1], idx[b, k1]], 1), np.stack([idx[a, k], idx[b, k1], idx[b, k]], 1)]
    if not closed:
        first, last = len(verts), len(verts) + 1
        verts = np.concatenate([verts, [[0.0, 0.0, p[0, 1]], [0.0, 0.0, p[-1, 1]]]])
        faces += [np.stack([np.full(segments, first), idx[0, k1], idx[0, k]], 1),
                  np.stack([idx[-1, k], idx[-1, k1], np.full(segments, last)], 1)]
    return Mesh(verts, np.concatenate(faces).astype(np.int64))


def circle(centre_r: float, centre_z: float, radius: float, points: int = 16) -> np.ndarray:
    """A counter-clockwise circle in the (r, z) plane: the profile of a torus."""
    t = 2 * math.pi * np.arange(points) / points
    return np.stack([centre_r + radius * np.cos(t), centre_z + radius * np.sin(t)], 1)


def signed_volume(mesh: Mesh) -> float:
    """The enclosed volume by the divergence theorem: positive when the faces point outward."""
    a, b, c = (mesh.vertices[mesh.faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


# ------------------------------------------------------------------ the three objects (metres)

@functools.lru_cache(maxsize=None)
def cup(radius: float = 0.07, height: float = 0.12, wall: float = 0.006) -> tuple[Part, ...]:
    """A straight cup (open top, a bottom) with a ring handle on its +x side."""
    r, h, w = radius, height, wall
    body = revolve([(0, 0), (r, 0), (r, h), (r - w, h), (r - w, w), (0, w)])
    ring = 0.032                                            # the handle's radius (centre line)
    handle = revolve(circle(ring, 0.0, 0.008), closed=True)
    # the ring stands in the xz plane, its inner side sunk into the wall
    return (Part("body", body), Part("handle", handle, (r + ring - 0.012, 0.0, 0.55 * h), (90.0, 0.0, 0.0)))


@functools.lru_cache(maxsize=None)
def pan(radius: float = 0.12, height: float = 0.05, wall: float = 0.006, handle: float = 0.12) -> tuple[Part, ...]:
    """A shallow pan with a straight handle along +x at its rim."""
    r, h, w = radius, height, wall
    body = revolve([(0, 0), (r, 0), (r, h), (r - w, h), (r - w, w), (0, w)])
    rod = revolve([(0, 0), (0.011, 0), (0.011, handle), (0, handle)])   # a cylinder along z, turned onto x
    return (Part("body", body), Part("handle", rod, (r - w, 0.0, 0.8 * h), (0.0, 90.0, 0.0)))


@functools.lru_cache(maxsize=None)
def plate(radius: float = 0.14, foot: float = 0.08, rim: float = 0.022, thickness: float = 0.007) -> tuple[Part, ...]:
    """A plate: a flat well of radius ``foot`` and a sloping rim up to ``radius``."""
    body = revolve([(0, 0), (foot, 0), (radius, rim), (radius, rim + thickness), (foot, thickness), (0, thickness)])
    return (Part("body", body),)


MAKERS = {"cup": cup, "pan": pan, "plate": plate}
# Radius of each object's body on the table (handles excluded): the sampler keeps bodies apart by it.
BODY_RADIUS = {"cup": 0.07, "pan": 0.12, "plate": 0.14}


def parts(name: str) -> tuple[Part, ...]:
    """The meshes of an object by name, with a clear error for an unknown one."""
    if name not in MAKERS:
        raise ValueError(f"unknown crockery {name!r}: expected one of {', '.join(MAKERS)}")
    return MAKERS[name]()
