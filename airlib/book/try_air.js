// Try AIR live (book/try_air): the reader draws digits on a 50x50 canvas; AIR or DAIR, exported to ONNX
// by `python -m airlib export`, finds, counts and reconstructs them in the page with onnxruntime-web
// (vendored beside this file: no server, no request outside the site). Written for airlib's book.
(async function () {
  const root = document.getElementById('try-air');
  if (!root) return;
  const base = root.dataset.base;                      // the folder holding the models, ort and the test images
  const SIZE = 50, SHOW = 300, COLOURS = ['red', 'lime', 'dodgerblue'];
  const status = (text, state) => { root.querySelector('.status').textContent = text; if (state) root.dataset.state = state; };
  const input = root.querySelector('canvas.input'), recon = root.querySelector('canvas.recon');
  const small = document.createElement('canvas'); small.width = small.height = SIZE;   // the model's 50x50 input
  const sctx = small.getContext('2d', {willReadFrequently: true});
  let pixels = new Float32Array(SIZE * SIZE), sessions = {}, model = 'air', tool = 'pen', timings = [], keep = 50;
  let drawing = false, pending = false, tests = null;

  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.numThreads = 1;                          // threads need cross-origin isolation, which a static host lacks
  try {
    for (const name of ['air', 'dair']) {
      sessions[name] = await ort.InferenceSession.create(`${base}${name}-multi-mnist.onnx`, {executionProviders: ['wasm']});
    }
    tests = await (await fetch(`${base}test_images.json`)).json();
  } catch (e) { status(`could not load the models: ${e}`, 'error'); return; }

  function paint(ctx, data) {                           // data: Float32Array(2500) in [0, 1] -> the enlarged canvas
    const img = sctx.createImageData(SIZE, SIZE);
    for (let i = 0; i < SIZE * SIZE; i++) {
      const v = Math.max(0, Math.min(255, Math.round(data[i] * 255)));
      img.data.set([v, v, v, 255], 4 * i);
    }
    sctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, SHOW, SHOW);
  }
  function windows(ctx, where, pres) {                  // airlib.spatial.window_box, scaled to the canvas
    const k = SHOW / SIZE;
    for (let i = 0; i < pres.length; i++) {
      if (pres[i] < 0.5) continue;
      const s = where[3 * i], x = where[3 * i + 1], y = where[3 * i + 2];
      const half = SIZE / (2 * s), cx = (x + 1) * SIZE / 2, cy = (y + 1) * SIZE / 2;
      ctx.strokeStyle = COLOURS[i % 3]; ctx.lineWidth = 2;
      ctx.strokeRect((cx - half) * k, (cy - half) * k, 2 * half * k, 2 * half * k);
    }
  }
  let again = false;
  async function infer() {
    if (pending) { again = true; return; }              // one inference at a time; the latest drawing wins
    pending = true;
    const t0 = performance.now();
    const out = await sessions[model].run({images: new ort.Tensor('float32', pixels, [1, SIZE, SIZE])});
    const ms = performance.now() - t0;
    timings.push(ms); if (timings.length > keep) timings.shift();
    const sorted = [...timings].sort((a, b) => a - b), median = sorted[Math.floor(sorted.length / 2)];
    const pres = out.z_pres.data, where = out.z_where.data, q = out.q_pres.data;
    const count = pres.reduce((a, b) => a + b, 0);
    const ictx = input.getContext('2d'), rctx = recon.getContext('2d');
    paint(ictx, pixels); windows(ictx, where, pres);
    paint(rctx, out.reconstruction.data); windows(rctx, where, pres);
    root.querySelector('.count').textContent = `${count}`;
    const reached = Math.min(pres.length, count + 1);  // steps that decided z_pres (the first 0 ends the run)
    root.querySelector('.presence').innerHTML = [...q].map((p, i) => i < reached
      ? `<div><span style="color:${COLOURS[i]}">step ${i + 1}</span> q(present) = ${p.toFixed(3)}
         <span class="bar" style="width:${Math.round(120 * p)}px;background:${COLOURS[i]}"></span></div>`
      : `<div><span style="color:${COLOURS[i]}">step ${i + 1}</span> not reached</div>`).join('');
    root.querySelector('.latency').textContent = `${ms.toFixed(1)} ms (median of the last ${timings.length}: ${median.toFixed(1)} ms)`;
    last = {count, windows: [...pres].filter(p => p > 0.5).length, where: [...where]};
    pending = false;
    if (again) { again = false; await infer(); }
  }
  let last = null;
  function stroke(ev) {
    const r = input.getBoundingClientRect();
    const px = (ev.clientX - r.left) / r.width * SIZE, py = (ev.clientY - r.top) / r.height * SIZE;
    for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
      const x = Math.floor(px) + dx, y = Math.floor(py) + dy;
      if (x < 0 || y < 0 || x >= SIZE || y >= SIZE) continue;
      const d = Math.hypot(x + 0.5 - px, y + 0.5 - py), ink = Math.max(0, Math.min(1, 1.8 - d));   // a soft pen
      const i = y * SIZE + x;
      pixels[i] = tool === 'pen' ? Math.max(pixels[i], ink) : (ink > 0 ? 0 : pixels[i]);
    }
    requestAnimationFrame(infer);
  }
  function loadTest(n) {
    n = Number.isInteger(n) ? n : Math.floor(Math.random() * tests.count);
    const bytes = Uint8Array.from(atob(tests.images[n]), c => c.charCodeAt(0));
    pixels = Float32Array.from(bytes, b => b / 255);
    root.querySelector('.truth').textContent = `held-out image ${n}: ${tests.counts[n]} digit(s)`;
    return infer();
  }
  input.addEventListener('pointerdown', ev => {
    drawing = true;
    try { input.setPointerCapture(ev.pointerId); } catch (e) { /* a synthetic pointer has nothing to capture */ }
    stroke(ev);
  });
  input.addEventListener('pointermove', ev => { if (drawing) stroke(ev); });
  input.addEventListener('pointerup', () => { drawing = false; });
  root.querySelector('.pen').onclick = () => { tool = 'pen'; };
  root.querySelector('.eraser').onclick = () => { tool = 'eraser'; };
  root.querySelector('.clear').onclick = () => { pixels = new Float32Array(SIZE * SIZE); root.querySelector('.truth').textContent = ''; infer(); };
  root.querySelector('.random').onclick = () => loadTest();
  root.querySelectorAll('input[name=model]').forEach(r => r.onchange = () => { model = r.value; infer(); });
  // for the book's browser test (airlib.book.check): load a held-out image, run inference, read the answer
  window.tryAir = {loadTest, infer: async () => { while (pending) await new Promise(r => setTimeout(r, 5)); await infer(); return last; },
                   answer: () => last, tests};
  await loadTest(tests.counts.indexOf(2));             // start from a held-out image of two digits
  const query = new URLSearchParams(location.search), bench = Number(query.get('bench') || 0);
  if (bench > 0) {                                      // ?bench=N: N inferences per model, for the latency benchmark
    const summary = {};
    keep = Infinity;
    for (const name of ['air', 'dair']) {
      model = name; timings = [];
      for (let i = 0; i < bench; i++) { await loadTest(i % tests.count); }
      const sorted = [...timings].sort((a, b) => a - b);
      summary[name] = {n: sorted.length, median_ms: sorted[Math.floor(sorted.length / 2)],
                       p95_ms: sorted[Math.floor(0.95 * (sorted.length - 1))], max_ms: sorted[sorted.length - 1]};
    }
    model = 'air';
    root.dataset.latency = JSON.stringify(summary);
    if (query.get('report')) await fetch(query.get('report'), {method: 'POST', body: JSON.stringify(summary)});
  }
  status('ready: draw with the mouse or a finger', 'ready');
})();
