"""Try AIR in Jupyter: a drawing canvas (anywidget) whose strokes are inferred by ``model.infer`` as you draw.

The notebook twin of the book's live page (``book/try_air.md``, which runs the same network exported
to ONNX in the browser): draw on the 50x50 canvas, and the count, the attention windows (steps 1, 2,
3 in red, green, blue), the reconstruction and each step's presence probability follow.

    from airlib.try_air import DrawAIR
    DrawAIR(airlib.load_pretrained("air-multi-mnist"))
"""
from __future__ import annotations

import anywidget
import torch
import traitlets

from .export import InferenceGraph

ESM = r"""
function render({ model, el }) {
  const SIZE = 50, SHOW = 250, COLOURS = ['red', 'lime', 'dodgerblue'];
  el.innerHTML = `<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">
    <div><canvas class="in" width="${SHOW}" height="${SHOW}" style="border:1px solid #888;touch-action:none"></canvas>
      <div><button class="pen">pen</button><button class="eraser">eraser</button><button class="clear">clear</button></div></div>
    <div><canvas class="out" width="${SHOW}" height="${SHOW}" style="border:1px solid #888"></canvas></div>
    <div class="info" style="font-family:sans-serif"></div></div>`;
  const cin = el.querySelector('canvas.in'), cout = el.querySelector('canvas.out');
  let pixels = model.get('pixels').slice(), tool = 'pen', drawing = false, queued = false;
  function paint(ctx, data) {
    const k = SHOW / SIZE;
    for (let i = 0; i < SIZE * SIZE; i++) {
      const v = Math.round(255 * Math.max(0, Math.min(1, data[i])));
      ctx.fillStyle = `rgb(${v},${v},${v})`;
      ctx.fillRect((i % SIZE) * k, Math.floor(i / SIZE) * k, k, k);
    }
  }
  function windows(ctx, r) {                           // airlib.spatial.window_box
    const k = SHOW / SIZE;
    r.z_where.forEach(([s, x, y], i) => {
      if (r.z_pres[i] < 0.5) return;
      const half = SIZE / (2 * s), cx = (x + 1) * SIZE / 2, cy = (y + 1) * SIZE / 2;
      ctx.strokeStyle = COLOURS[i % 3]; ctx.lineWidth = 2;
      ctx.strokeRect((cx - half) * k, (cy - half) * k, 2 * half * k, 2 * half * k);
    });
  }
  function show() {
    const r = model.get('result');
    paint(cin.getContext('2d'), pixels);
    if (!r.count && r.count !== 0) return;
    windows(cin.getContext('2d'), r);
    paint(cout.getContext('2d'), r.reconstruction); windows(cout.getContext('2d'), r);
    el.querySelector('.info').innerHTML = `<p style="font-size:2em"><b>${r.count}</b></p>` + r.q_pres.map((q, i) =>
      i <= r.count && i < r.q_pres.length ? `<div style="color:${COLOURS[i]}">step ${i + 1}: q(present) = ${q.toFixed(3)}</div>` : '').join('');
  }
  function send() { queued = false; model.set('pixels', pixels.slice()); model.save_changes(); }
  function stroke(ev) {
    const b = cin.getBoundingClientRect(), px = (ev.clientX - b.left) / b.width * SIZE, py = (ev.clientY - b.top) / b.height * SIZE;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const x = Math.floor(px) + dx, y = Math.floor(py) + dy;
      if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) continue;
      const ink = Math.max(0, Math.min(1, 1.8 - Math.hypot(x + 0.5 - px, y + 0.5 - py)));
      const i = y * SIZE + x;
      pixels[i] = tool === 'pen' ? Math.max(pixels[i], ink) : (ink > 0 ? 0 : pixels[i]);
    }
    paint(cin.getContext('2d'), pixels);
    if (!queued) { queued = true; requestAnimationFrame(send); }
  }
  cin.addEventListener('pointerdown', ev => { drawing = true; cin.setPointerCapture(ev.pointerId); stroke(ev); });
  cin.addEventListener('pointermove', ev => { if (drawing) stroke(ev); });
  cin.addEventListener('pointerup', () => { drawing = false; });
  el.querySelector('.pen').onclick = () => { tool = 'pen'; };
  el.querySelector('.eraser').onclick = () => { tool = 'eraser'; };
  el.querySelector('.clear').onclick = () => { pixels = new Array(SIZE * SIZE).fill(0); send(); };
  model.on('change:result', show);
  show();
}
export default { render };
"""


class DrawAIR(anywidget.AnyWidget):
    """A canvas for drawing digits, inferred live by an AIR or DAIR model.

    Args:
        model: a trained AIR (``airlib.load_pretrained``).
        image: an optional first image (50, 50), float in [0, 1] or uint8.

    Attributes:
        pixels: the drawing, 2,500 floats in [0, 1], row-major (set by the canvas, or by Python).
        result: the answer of the graph the live page runs (``export.InferenceGraph``, the deterministic
            pass of ``model.infer``): count, z_pres, z_where, q_pres, reconstruction.
    """
    _esm = ESM
    pixels = traitlets.List(traitlets.Float()).tag(sync=True)
    result = traitlets.Dict().tag(sync=True)

    def __init__(self, model, image=None, **kwargs):
        super().__init__(**kwargs)
        self.model, self.graph = model, InferenceGraph(model)
        size = model.config.image_size
        first = torch.zeros(size, size) if image is None else model.check_images(torch.as_tensor(image)[None])[0]
        self.observe(self._infer, names="pixels")
        self.pixels = first.flatten().tolist()

    def _infer(self, change=None) -> None:
        size = self.model.config.image_size
        x = torch.tensor(self.pixels, dtype=torch.float32).clamp(0, 1).view(1, size, size)
        with torch.no_grad():
            z_pres, z_where, reconstruction, q_pres = self.graph(self.model.check_images(x))
        self.result = dict(count=int(z_pres.sum()), z_pres=z_pres[0].tolist(), z_where=z_where[0].tolist(),
                           q_pres=q_pres[0].tolist(), reconstruction=reconstruction[0].clamp(0, 1).flatten().tolist())
