// The reader's check of one built page (airlib.book.check). The checker page loads the page named by
// ?page= in an iframe ?width= px wide (1280 unless given), makes its images load eagerly, waits, then writes a
// JSON report into a pre element with id "report", which headless Chromium's --dump-dom hands back to Python.
// Below 1280 px (a phone) it reports only what the narrow window cuts off.
const query = new URLSearchParams(location.search), page = query.get('page');
const width = Number(query.get('width') || 1280), narrow = width < 1280;
const frame = document.createElement('iframe');
frame.style.width = `${width}px`; frame.style.height = '100000px'; frame.style.border = '0';
frame.src = page;
const short = t => t.replace(/\s+/g, ' ').trim().slice(0, 120);
// What the reader cannot reach: a box, or a run of text, that ends past the right edge of the window, or of a box
// that hides its overflow, with no box in between that scrolls sideways. A box that scrolls inside itself (a code
// cell with overflow: auto) is fine where the box itself fits. Text shortened with an ellipsis, and content hidden
// from sight for screen readers (MathJax's MathML), are not cut off.
const unreachable = (d, w) => {
  const styles = new Map(), edges = new Map();
  const style = e => { if (!styles.has(e)) styles.set(e, w.getComputedStyle(e)); return styles.get(e); };
  const clips = e => style(e).overflowX === 'hidden' || style(e).overflowX === 'clip';
  const unseen = e => style(e).clip !== 'auto' || style(e).clipPath !== 'none'           // clipped out of sight
                      || clips(e) && (e.clientWidth <= 1 || e.clientHeight <= 1);
  const edge = e => {                   // the right edge of what a reader can see of the content inside e
    if (!e || e === d.body || e === d.documentElement) return d.documentElement.clientWidth;
    if (!edges.has(e)) {
      const s = style(e);
      edges.set(e, s.overflowX === 'auto' || s.overflowX === 'scroll' || unseen(e) ? Infinity
        : !clips(e) ? edge(e.parentElement)
        : s.textOverflow === 'ellipsis' ? Infinity
        : Math.min(e.getBoundingClientRect().left + e.clientLeft + e.clientWidth, edge(e.parentElement)));
    }
    return edges.get(e);
  };
  const culprits = [];
  for (const e of d.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect(), shown = edge(e.parentElement);
    if (r.width * r.height > 0 && r.right > shown + 1 && style(e).position !== 'fixed'
        && !unseen(e) && e.checkVisibility({visibilityProperty: true})) culprits.push([e, r.right, shown]);
  }
  const texts = d.createTreeWalker(d.body, NodeFilter.SHOW_TEXT), range = d.createRange();
  for (let t = texts.nextNode(); t; t = texts.nextNode()) {
    if (!t.data.trim()) continue;
    range.selectNodeContents(t);
    const r = range.getBoundingClientRect(), shown = edge(t.parentElement);
    if (r.right > shown + 1 && t.parentElement.checkVisibility({visibilityProperty: true}))
      culprits.push([t.parentElement, r.right, shown]);
  }
  // name each culprit by the table, figure, code or output it belongs to, else by its nearest block
  const units = 'table, pre, figure, img, svg, canvas, video, iframe, mjx-container, .cell_output, .highlight';
  const block = e => {
    while (e.parentElement && style(e).display.startsWith('inline')) e = e.parentElement;
    return e;
  };
  const ends = new Map();                // unit -> [where its content ends, where the reader stops seeing it]
  for (const [e, end, shown] of culprits) {
    const u = e.closest(units) || block(e), [e0, s0] = ends.get(u) || [-Infinity, Infinity];
    ends.set(u, [Math.max(end, e0), Math.min(shown, s0)]);
  }
  const name = e => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : '')
    + [...e.classList].filter(c => !/\d/.test(c)).slice(0, 2).map(c => `.${c}`).join('');
  return [...ends].filter(([u]) => ![...ends.keys()].some(o => o !== u && o.contains(u)))
    .map(([u, [end, shown]]) => `${name(u)} (ends at ${Math.round(end)} px, shown to ${Math.round(shown)} px): `
                                + short(u.textContent).slice(0, 80));
};
const reach = (d, w) => ({width, viewport: d.documentElement.clientWidth, scroll_width: d.scrollingElement.scrollWidth,
                          cutoff: unreachable(d, w)});
const report = data => {
  const pre = document.createElement('pre'); pre.id = 'report';
  pre.textContent = JSON.stringify(data); document.body.appendChild(pre);
};
frame.onload = () => {
  const d = frame.contentDocument, w = frame.contentWindow;
  d.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });
  setTimeout(async () => {
    const live = d.getElementById('try-air');            // the live page: wait for its first inference
    for (let i = 0; live && live.dataset.state === 'loading' && i < 60; i++) await new Promise(r => setTimeout(r, 500));
    const table = d.getElementById('try-tabletop');      // the table-top live page: the same
    for (let i = 0; table && table.dataset.state === 'loading' && i < 60; i++) await new Promise(r => setTimeout(r, 500));
    if (narrow) return report(reach(d, w));
    let tableTests = null;
    if (table && table.dataset.state === 'ready') {      // every scene of every network's gallery, as a reader picks it
      tableTests = {};
      for (const n of w.tryTabletop.networks) {
        tableTests[n.key] = [];
        for (let i = 0; i < n.scenes; i++) {
          const a = await w.tryTabletop.select(n.key, i);
          tableTests[n.key].push({count: a.count, kind: a.kind.slice(0, a.count), differs: a.differs, decoded: a.decoded,
                                  shown: table.querySelector('img.again').style.visibility !== 'hidden'});
        }
      }
      await w.tryTabletop.select(w.tryTabletop.networks[0].key, 0);
    }
    let liveTests = null;
    if (live && live.dataset.state === 'ready') {       // drive it as a reader would
      const app = w.tryAir, canvas = live.querySelector('canvas.input'), box = canvas.getBoundingClientRect();
      const heldOut = [];
      for (let n = 0; n < 20; n++) { await app.loadTest(n); heldOut.push((await app.infer()).count); }
      // two separated digits of a held-out image, redrawn pen stroke by pen stroke with pointer events
      const n2 = app.tests.counts.indexOf(2), ink = Uint8Array.from(atob(app.tests.images[n2]), c => c.charCodeAt(0));
      live.querySelector('.clear').click(); await app.infer();
      live.querySelector('.pen').click();
      const at = i => ({clientX: box.left + ((i % 50) + 0.5) * box.width / 50, clientY: box.top + (Math.floor(i / 50) + 0.5) * box.height / 50,
                        pointerId: 1, bubbles: true});
      for (let i = 0; i < ink.length; i++) {
        if (ink[i] < 160) continue;
        canvas.dispatchEvent(new w.PointerEvent('pointerdown', at(i)));
        canvas.dispatchEvent(new w.PointerEvent('pointerup', at(i)));
      }
      const drawn = await app.infer();
      live.querySelector('.clear').click();
      const cleared = await app.infer();
      liveTests = {held_out: heldOut, drawn_index: n2, drawn, cleared};
    }
    const article = d.querySelector('article') || d.body;
    const imgs = [...article.querySelectorAll('img')];
    const h1 = article.querySelector('h1');
    // outputs and tables wider than their box: the reader would have to scroll sideways to see them
    const overflow = [...article.querySelectorAll('.cell_output pre, .output pre, .cell_output table, table')]
      .filter(e => e.scrollWidth > e.clientWidth + 2 && e.clientWidth > 0)
      .map(e => `${e.tagName.toLowerCase()} (${e.scrollWidth} px in ${e.clientWidth} px): ${short(e.textContent)}`);
    const scrollers = [...article.querySelectorAll('.cell_output, .output, .table-wrapper, .pst-scrollable-table-container')]
      .filter(e => e.scrollWidth > e.clientWidth + 2 && e.clientWidth > 0)
      .map(e => `${e.className.split(' ')[0]} (${e.scrollWidth} px in ${e.clientWidth} px): ${short(e.textContent)}`);
    // each figure's shrink factor: shown width over its pixel width
    const figures = imgs.filter(i => i.naturalWidth > 0)
      .map(i => ({src: i.getAttribute('src').slice(0, 60), natural: i.naturalWidth, shown: i.clientWidth}));
    // Markdown tables that were printed instead of rendered
    const pipes = [...article.querySelectorAll('p, .cell_output pre, .output pre')].map(e => e.textContent)
      .filter(t => /\|\s*-{3,}\s*\|/.test(t) || /^\s*\|.*\|\s*$/m.test(t) && /\|.*\|.*\|/.test(t)).map(short);
    // every link inside the site (and every download) must resolve
    const links = [...new Set([...d.querySelectorAll('a[href]')].map(a => a.href.split('#')[0])
      .filter(h => h.startsWith(location.origin)))];
    const dead = [];
    for (const href of links) {
      try { const r = await fetch(href, {method: 'HEAD'}); if (!r.ok) dead.push(`${href.replace(location.origin, '')} (${r.status})`); }
      catch (e) { dead.push(`${href.replace(location.origin, '')} (${e})`); }
    }
    // requests that left the site (the book must work offline and from a static host)
    const external = w.performance.getEntriesByType('resource').map(e => e.name)
      .filter(n => !n.startsWith(location.origin) && !n.startsWith('data:') && !n.startsWith('blob:'));
    report({
      ...reach(d, w),
      title: h1 ? h1.textContent.replace(/#$/, '').trim() : null,
      n_images: imgs.length,
      broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
      errors: [...article.querySelectorAll('.output.traceback, .output.error, .output.stderr')]
                .map(e => e.textContent.slice(0, 300))
                .filter(t => /Error|Traceback|Exception|Warning/.test(t)),
      // text MathJax left untypeset still shows its delimiters: \( \[ $$
      raw_tex: [...article.querySelectorAll('p, li, td')].map(e => e.innerText)
                 .filter(t => /\\\(|\\\[|\$\$/.test(t)).map(t => t.slice(0, 100)),
      overflow: [...new Set([...overflow, ...scrollers])],
      figures, pipes, dead, external, links: links.length,
      live: live ? {tests: liveTests, state: live.dataset.state, status: short(live.querySelector('.status').textContent),
                    count: live.querySelector('.count').textContent, latency: live.querySelector('.latency').textContent} : null,
      tabletop: table ? {tests: tableTests, state: table.dataset.state, status: short(table.querySelector('.status').textContent)}
                      : null,
    });
  }, 2500);
};
document.body.appendChild(frame);
