"""Table-top AIR in Jupyter: set a scene's objects and camera, MuJoCo renders it, the network describes it (anywidget).

The notebook twin of the book's live gallery (``book/try_tabletop.md``, which runs the same graph exported to ONNX
in the browser on held-out scenes rendered at build time): for each of the N = 3 slots, whether an object stands
there, its type, position and angle, and, for a moving-camera network, the camera's angle. Each change renders the
scene with MuJoCo, runs the network (:class:`airlib.tabletop_export.TabletopGraph`, the graph the page exports) and
re-renders its description; the objects it found are drawn over the scene, projected with the renderer's camera.

    from airlib.try_tabletop import TabletopScene
    TabletopScene(airlib.load_pretrained("tabletop-air-sleep-type-camera"))
"""
from __future__ import annotations

import base64
import io
import math

import anywidget
import numpy as np
import torch
import traitlets

from .experiments.tabletop import SPEC, TabletopConfig
from .render.crockery import BODY_RADIUS
from .render.tabletop import KINDS, TabletopRenderer, check_scene, image_projection
from .tabletop_export import TabletopGraph
from .tabletop_scenes import N, Scenes


def png(image: np.ndarray) -> bytes:
    """A uint8 image (H, W, 3) as PNG bytes (lossless: a browser's canvas reads back the same pixels)."""
    from PIL import Image
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"png needs a uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_and_infer(model, renderer: TabletopRenderer, present, kind, pose, camera: float = 0.0) -> dict:
    """Renders one scene, infers its most likely description with the exported graph's torch module, re-renders that.

    Args:
        model: a plain table-top AIR network (``load_pretrained("tabletop-air-sleep-type")``).
        renderer: the renderer of the network's images (its size is the graph's input size).
        present (N,) 0/1, kind (N,) int (index into ``KINDS``), pose (N, 3) x, y in metres and the angle in radians,
            camera: degrees from the central position (within the spec's ``camera_range``).

    Returns:
        ``image`` and ``rerender``, uint8 (H, W, 3); ``description``, :class:`airlib.tabletop_scenes.Scenes` of one
        scene (kind -1 where absent); ``q_pres`` (N,), each step's probability of an object.

    Raises:
        ValueError: a scene the renderer cannot show (the message names what is wrong).
    """
    present, kind, pose, camera = check_scene(present, kind, pose, camera, renderer.spec)
    image = renderer.render(present, kind, pose, camera, check=False)             # (H, W, 3) uint8
    with torch.no_grad():
        got = TabletopGraph(model, renderer.size)(torch.from_numpy(image.copy())[None])
    z_pres, z_kind, z_pose, z_cam, q_pres = (t.numpy() for t in got)
    description = Scenes(z_pres > 0, z_kind.astype(np.int64), z_pose, z_cam)
    rerender = renderer.render(*(v[0] for v in description), check=True)
    return dict(image=image, description=description, q_pres=q_pres[0], rerender=rerender)


ESM = r"""
function render({ model, el }) {
  const L = model.get('limits'), SHOW = 256, COLOURS = ['red', 'lime', 'dodgerblue'], deg = Math.PI / 180;
  const slider = (cls, lo, hi, step) => `<input type="range" class="${cls}" min="${lo}" max="${hi}" step="${step}" style="width:90px">`;
  const rows = [0, 1, 2].map(i => `<tr data-slot="${i}"><td style="color:${COLOURS[i]}">slot ${i + 1}</td>
      <td><input type="checkbox" class="present"></td>
      <td><select class="kind">${L.kinds.map((k, j) => `<option value="${j}">${k}</option>`).join('')}</select></td>
      <td>${slider('x', -L.placement, L.placement, 0.01)}</td><td>${slider('y', -L.placement, L.placement, 0.01)}</td>
      <td>${slider('angle', -180, 180, 5)}</td></tr>`).join('');
  el.innerHTML = `<div style="font-family:sans-serif">
    <table><tr><th></th><th>present</th><th>type</th><th>x</th><th>y</th><th>angle</th></tr>${rows}</table>
    <p>camera ${slider('camera', -L.camera_range, L.camera_range, 1)} <span class="cam"></span></p>
    <div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">
      <div><p>the scene, with what the network found</p><canvas width="${SHOW}" height="${SHOW}" style="border:1px solid #888"></canvas></div>
      <div><p>its description, re-rendered</p><img class="again" width="${SHOW}" height="${SHOW}" style="border:1px solid #888"></div>
      <div class="info"></div></div><p class="error" style="color:#b00"></p></div>`;
  const canvas = el.querySelector('canvas'), picture = new Image();
  let queued = false;
  function fill() {                                      // the controls from the scene trait
    const s = model.get('scene');
    el.querySelectorAll('tr[data-slot]').forEach(row => {
      const i = Number(row.dataset.slot);
      row.querySelector('.present').checked = s.present[i];
      row.querySelector('.kind').value = String(s.kind[i]);
      row.querySelector('.x').value = s.x[i]; row.querySelector('.y').value = s.y[i]; row.querySelector('.angle').value = s.angle[i];
    });
    const cam = el.querySelector('.camera');
    cam.value = s.camera; cam.disabled = !L.moving_camera;
    el.querySelector('.cam').textContent = L.moving_camera ? `${s.camera} degrees` : '(fixed for this network)';
  }
  function send() {                                      // the scene trait from the controls
    queued = false;
    const s = {present: [], kind: [], x: [], y: [], angle: [], camera: Number(el.querySelector('.camera').value)};
    el.querySelectorAll('tr[data-slot]').forEach(row => {
      s.present.push(row.querySelector('.present').checked); s.kind.push(Number(row.querySelector('.kind').value));
      for (const k of ['x', 'y', 'angle']) s[k].push(Number(row.querySelector(`.${k}`).value));
    });
    model.set('scene', s); model.save_changes();
  }
  el.querySelectorAll('input, select').forEach(c => c.addEventListener('input', () => {
    if (!queued) { queued = true; requestAnimationFrame(send); }
  }));
  function project(x, y, camera) {                      // airlib.render.tabletop.image_projection, scaled to the canvas
    const c = Math.cos(-camera * deg), s = Math.sin(-camera * deg), u = c * x - s * y, v = s * x + c * y, H = L.projection;
    const w = H[2][0] * u + H[2][1] * v + H[2][2], k = SHOW / L.size;
    return [(H[0][0] * u + H[0][1] * v + H[0][2]) / w * k, (H[1][0] * u + H[1][1] * v + H[1][2]) / w * k];
  }
  function show() {
    const r = model.get('result');
    el.querySelector('.error').textContent = r.error || '';
    if (!r.image) return;
    fill();
    picture.onload = () => {
      const ctx = canvas.getContext('2d');
      ctx.drawImage(picture, 0, 0, SHOW, SHOW);
      r.objects.forEach((o, i) => {
        ctx.strokeStyle = COLOURS[i]; ctx.lineWidth = 2; ctx.beginPath();
        for (let t = 0; t <= 32; t++) {
          const a = 2 * Math.PI * t / 32, [px, py] = project(o.x + o.radius * Math.cos(a), o.y + o.radius * Math.sin(a), r.camera);
          t ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
        }
        ctx.stroke();
      });
    };
    picture.src = r.image;
    el.querySelector('.again').src = r.rerender;
    el.querySelector('.info').innerHTML = `<p style="font-size:2em"><b>${r.count}</b></p>` + r.q_pres.map((q, i) => {
      const o = r.objects[i], what = o ? `${o.kind} at (${o.x.toFixed(2)}, ${o.y.toFixed(2)}) m, ${o.angle.toFixed(0)} degrees`
        : i === r.count ? 'nothing more' : 'not reached';
      return `<div style="color:${COLOURS[i]}">step ${i + 1}: ${what}; q(present) = ${q.toFixed(3)}</div>`;
    }).join('') + (L.moving_camera ? `<p>camera: ${r.camera.toFixed(1)} degrees</p>` : '');
  }
  model.on('change:result', show);
  fill(); show();
}
export default { render };
"""


class TabletopScene(anywidget.AnyWidget):
    """A table-top scene whose objects and camera the reader sets; MuJoCo renders it and the network describes it.

    Args:
        model: a plain table-top AIR network (``airlib.load_pretrained``); a moving-camera one gets a camera control.
        scene: an optional first scene: ``{"present", "kind", "x", "y", "angle" (degrees), "camera" (degrees)}``,
            lists of N; default: a cup and a plate.
        size: the render size the network reads (its experiment's ``render_size``).

    Attributes:
        scene: the scene as the controls set it (or Python; a scene the renderer cannot show raises).
        result: what :func:`render_and_infer` gives, for the page: PNG data URIs ``image`` and ``rerender``, ``count``,
            ``objects`` (kind, x, y, angle in degrees, radius), ``q_pres`` and ``camera``.
    """
    _esm = ESM
    scene = traitlets.Dict().tag(sync=True)
    limits = traitlets.Dict().tag(sync=True)
    result = traitlets.Dict().tag(sync=True)

    def __init__(self, model, scene: dict | None = None, size: int = TabletopConfig.render_size, **kwargs):
        super().__init__(**kwargs)
        self.model, self.renderer = model, TabletopRenderer(size, SPEC)
        spec = self.renderer.spec
        self.limits = dict(kinds=list(KINDS), placement=spec.placement_half_width, camera_range=spec.camera_range,
                           moving_camera=bool(model.moving_camera), size=size,
                           projection=image_projection(spec, size).tolist())
        self.observe(self._infer, names="scene")
        self.scene = scene or dict(present=[True, True, False], kind=[0, 2, 1], x=[-0.15, 0.12, 0.0],
                                   y=[0.1, -0.1, 0.0], angle=[30, 0, 0], camera=0)

    @traitlets.validate("scene")
    def _check(self, proposal):
        s = proposal["value"]
        if set(s) != {"present", "kind", "x", "y", "angle", "camera"}:
            raise traitlets.TraitError(f"a scene is a dict of present, kind, x, y, angle and camera; got {sorted(s)}")
        if any(len(s[k]) != N for k in ("present", "kind", "x", "y", "angle")):
            raise traitlets.TraitError(f"a scene has {N} slots: present, kind, x, y and angle are lists of {N}, got "
                                       f"{ {k: len(s[k]) for k in ('present', 'kind', 'x', 'y', 'angle')} }")
        try:
            check_scene(np.asarray(s["present"]), np.asarray(s["kind"], np.int64), self._pose(s), s["camera"],
                        self.renderer.spec)
        except ValueError as error:
            raise traitlets.TraitError(str(error)) from None
        return s

    @staticmethod
    def _pose(s: dict) -> np.ndarray:
        """(N, 3): x, y in metres and the angle in radians, from the scene's degrees."""
        return np.stack([np.asarray(s["x"], float), np.asarray(s["y"], float),
                         np.radians(np.asarray(s["angle"], float))], 1)

    def _infer(self, change=None) -> None:
        s = self.scene
        out = render_and_infer(self.model, self.renderer, s["present"], np.asarray(s["kind"], np.int64), self._pose(s),
                               s["camera"])
        d = out["description"]
        uri = lambda image: "data:image/png;base64," + base64.b64encode(png(image)).decode()   # noqa: E731
        objects = [dict(kind=KINDS[int(d.kind[0, i])], x=float(d.pose[0, i, 0]), y=float(d.pose[0, i, 1]),
                        angle=math.degrees(float(d.pose[0, i, 2])), radius=BODY_RADIUS[KINDS[int(d.kind[0, i])]])
                   for i in np.flatnonzero(d.present[0])]
        self.result = dict(image=uri(out["image"]), rerender=uri(out["rerender"]), count=len(objects), objects=objects,
                           q_pres=out["q_pres"].tolist(), camera=float(d.camera[0]))

    def close(self) -> None:
        """Closes the widget and its MuJoCo renderer."""
        self.renderer.close()
        super().close()
