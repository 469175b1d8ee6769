// Table-top AIR live (book/try_tabletop): the reader picks a held-out scene of the gallery; the network of chapter 6
// trained on the model's own scenes, exported to ONNX by `python -m airlib export`, infers its objects here with
// onnxruntime-web (vendored with the try_air page: no server, no request outside the site). The objects the browser
// found are drawn over the scene, projected with the renderer's camera; beside it, the torch inference's description
// re-rendered by MuJoCo when the book was built, shown only where the browser's answer is the same. Written for
// airlib's book.
(async function () {
  const root = document.getElementById('try-tabletop');
  if (!root) return;
  const base = root.dataset.base;                      // gallery.json, the networks and the renders
  const SHOW = 256, THUMB = 56, COLOURS = ['red', 'lime', 'dodgerblue'], deg = Math.PI / 180;
  const $ = sel => root.querySelector(sel);
  const status = (text, state) => { $('.status').textContent = text; if (state) root.dataset.state = state; };
  let gallery, sessions = {}, net = null, timings = [], keep = 50, last = null, busy = false;

  ort.env.wasm.wasmPaths = root.dataset.ort;
  ort.env.wasm.numThreads = 1;                          // threads need cross-origin isolation, which a static host lacks
  try {
    gallery = await (await fetch(`${base}gallery.json`)).json();
    for (const n of gallery.networks) {
      sessions[n.key] = await ort.InferenceSession.create(`${base}${n.onnx}`, {executionProviders: ['wasm']});
    }
  } catch (e) { status(`could not load the networks: ${e}`, 'error'); return; }
  const SIZE = gallery.size, network = key => gallery.networks.find(n => n.key === key);
  const small = document.createElement('canvas'); small.width = small.height = SIZE;   // the network's input, 1:1
  const sctx = small.getContext('2d', {willReadFrequently: true});
  const images = {};
  const load = src => images[src] || (images[src] = new Promise((ok, fail) => {
    const img = new Image(); img.onload = () => ok(img); img.onerror = () => fail(new Error(`no ${src}`)); img.src = base + src;
  }));

  function project(x, y, camera) {                      // airlib.render.tabletop.image_projection, scaled to the canvas
    const c = Math.cos(-camera * deg), s = Math.sin(-camera * deg), u = c * x - s * y, v = s * x + c * y;
    const H = gallery.projection, w = H[2][0] * u + H[2][1] * v + H[2][2], k = SHOW / SIZE;
    return [(H[0][0] * u + H[0][1] * v + H[0][2]) / w * k, (H[1][0] * u + H[1][1] * v + H[1][2]) / w * k];
  }
  function outline(ctx, o, camera, colour) {            // the object's footprint on the table, and its angle
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    for (let t = 0; t <= 40; t++) {
      const a = 2 * Math.PI * t / 40, [px, py] = project(o.x + o.r * Math.cos(a), o.y + o.r * Math.sin(a), camera);
      t ? ctx.lineTo(px, py) : ctx.moveTo(px, py);
    }
    const [cx, cy] = project(o.x, o.y, camera), [ax, ay] = project(o.x + o.r * Math.cos(o.angle), o.y + o.r * Math.sin(o.angle), camera);
    ctx.moveTo(cx, cy); ctx.lineTo(ax, ay); ctx.stroke();
  }
  const place = (x, y) => `(${x.toFixed(2)}, ${y.toFixed(2)}) m`;
  const same = (a, b) => {                              // the browser's answer against the torch one the re-render shows
    const t = gallery.tolerance;
    for (let i = 0; i < a.present.length; i++) {
      if (a.present[i] !== b.present[i]) return `the browser counts ${a.count}, the torch inference ${b.present.filter(p => p).length}`;
      if (!a.present[i]) continue;
      if (a.kind[i] !== b.kind[i]) return `object ${i + 1} is a ${gallery.kinds[a.kind[i]]} here, a ${gallery.kinds[b.kind[i]]} in the torch inference`;
      const d = a.pose[i].map((v, k) => k < 2 ? Math.abs(v - b.pose[i][k]) : Math.abs(((v - b.pose[i][k] + 3 * Math.PI) % (2 * Math.PI)) - Math.PI));
      if (Math.max(...d) > t.pose) return `object ${i + 1} stands elsewhere than in the torch inference`;
    }
    return Math.abs(a.camera - b.camera) > t.camera ? 'the camera differs from the torch inference' : '';
  };

  function thumbnails() {
    $('.gallery').innerHTML = '';
    network(net).scenes.forEach((s, i) => {
      const b = document.createElement('button');
      b.className = 'thumb'; b.title = b.ariaLabel = `held-out scene ${s.held_out}`;
      const c = document.createElement('canvas'); c.width = c.height = THUMB;      // a canvas, not a figure
      b.appendChild(c);
      load(s.image).then(img => c.getContext('2d').drawImage(img, 0, 0, THUMB, THUMB));
      b.onclick = () => select(net, i);
      $('.gallery').appendChild(b);
    });
  }
  async function select(key, i) {                       // infer scene i of network key's gallery, and show it
    while (busy) await new Promise(r => setTimeout(r, 5));
    busy = true;
    try {
      if (key !== net) { net = key; root.querySelector(`input[value=${key}]`).checked = true; thumbnails(); }
      const n = network(key), s = n.scenes[i], img = await load(s.image);
      root.querySelectorAll('.thumb').forEach((b, j) => b.classList.toggle('picked', j === i));
      sctx.drawImage(img, 0, 0);
      const t0 = performance.now();
      const rgba = sctx.getImageData(0, 0, SIZE, SIZE).data, rgb = new Uint8Array(SIZE * SIZE * 3);
      let sum = 0;
      for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) { rgb[q] = rgba[p]; rgb[q + 1] = rgba[p + 1]; rgb[q + 2] = rgba[p + 2]; }
      const out = await sessions[key].run({images: new ort.Tensor('uint8', rgb, [1, SIZE, SIZE, 3])});
      const ms = performance.now() - t0;
      for (const v of rgb) sum += v;
      timings.push(ms); if (timings.length > keep) timings.shift();
      const sorted = [...timings].sort((a, b) => a - b), median = sorted[Math.floor(sorted.length / 2)];
      const present = [...out.present.data].map(p => p > 0.5), kind = [...out.kind.data], q = [...out.q_pres.data];
      const pose = present.map((_, j) => [...out.pose.data.slice(3 * j, 3 * j + 3)]), camera = out.camera.data[0];
      const count = present.filter(p => p).length, answer = {present, kind, pose, camera, count};
      const differs = same(answer, s.torch), decoded = sum === s.pixel_sum;
      // the scene, with the objects this browser found
      const ctx = $('canvas.scene').getContext('2d');
      ctx.drawImage(img, 0, 0, SHOW, SHOW);
      present.forEach((p, j) => p && outline(ctx, {x: pose[j][0], y: pose[j][1], angle: pose[j][2], r: gallery.radius[kind[j]]}, camera, COLOURS[j]));
      // the description re-rendered at build time, only where it is this answer's
      $('img.again').style.visibility = differs ? 'hidden' : 'visible';
      if (!differs) $('img.again').src = base + s.rerender;
      $('.again-note').textContent = differs ? `not shown: the browser's answer differs from the one it was rendered from (${differs})`
        : 'rendered by MuJoCo when the book was built, from the same answer';
      $('.count').textContent = `${count}`;
      $('.objects').innerHTML = q.map((p, j) => j < count
        ? `<div><span style="color:${COLOURS[j]}">step ${j + 1}</span>: ${gallery.kinds[kind[j]]} at ${place(pose[j][0], pose[j][1])},
           ${(pose[j][2] / deg).toFixed(0)} degrees; q(present) = ${p.toFixed(3)}</div>`
        : j === count ? `<div><span style="color:${COLOURS[j]}">step ${j + 1}</span>: nothing more; q(present) = ${p.toFixed(3)}</div>` : '').join('')
        + (n.moving_camera ? `<div>camera: ${camera.toFixed(1)} degrees</div>` : '');
      const t = s.truth, objs = t.present.map((p, j) => p ? `${gallery.kinds[t.kind[j]]} at ${place(t.pose[j][0], t.pose[j][1])}, `
        + `${(t.pose[j][2] / deg).toFixed(0)} degrees` : null).filter(x => x);
      $('.truth').textContent = `held-out scene ${s.held_out}: ${objs.length} object${objs.length === 1 ? '' : 's'}`
        + (objs.length ? ` (${objs.join('; ')})` : '') + (n.moving_camera ? `, camera ${t.camera.toFixed(1)} degrees` : '');
      $('.latency').textContent = `${ms.toFixed(1)} ms (median of the last ${timings.length}: ${median.toFixed(1)} ms)`;
      $('.decoded').textContent = decoded ? '' : 'this browser decoded the image to other pixels than the network read when the book was built';
      last = {key, index: i, held_out: s.held_out, count, present, kind, pose, camera, q_pres: q, differs, decoded, ms};
      return last;
    } finally { busy = false; }
  }
  function checked() {                                  // what the build's check found, from gallery.json
    $('.checked').textContent = gallery.networks.map(n => `${n.label}: ${n.check.scenes} held-out scenes, `
      + `${n.check.count_mismatches} counts and ${n.check.type_mismatches} scenes' types differ from the torch inference`).join('; ');
  }
  root.querySelectorAll('input[name=network]').forEach(r => r.onchange = () => select(r.value, 0));
  // for the book's browser test (airlib.book.check) and the latency benchmark
  window.tryTabletop = {select, answer: () => last, networks: gallery.networks.map(n => ({key: n.key, scenes: n.scenes.length}))};
  checked();
  await select(gallery.networks[0].key, 0);
  const query = new URLSearchParams(location.search), bench = Number(query.get('bench') || 0);
  if (bench > 0) {                                      // ?bench=N: N scenes per network, for the latency benchmark
    const summary = {};
    keep = Infinity;
    for (const n of gallery.networks) {
      await select(n.key, 0); timings = [];
      for (let i = 0; i < bench; i++) await select(n.key, i % n.scenes.length);
      const sorted = [...timings].sort((a, b) => a - b);
      summary[n.key] = {network: n.name, n: sorted.length, median_ms: sorted[Math.floor(sorted.length / 2)],
                        p95_ms: sorted[Math.floor(0.95 * (sorted.length - 1))], max_ms: sorted[sorted.length - 1]};
    }
    await select(gallery.networks[0].key, 0);
    root.dataset.latency = JSON.stringify(summary);
    if (query.get('report')) await fetch(query.get('report'), {method: 'POST', body: JSON.stringify(summary)});
  }
  status('ready: pick a scene', 'ready');
})();
