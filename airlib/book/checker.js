// The browser check of one built page (airlib.book.check). The checker page loads the page named by
// ?page= in a tall iframe, makes its images load eagerly, waits, then writes a JSON report into
// a pre element with id "report", which headless Chromium's --dump-dom hands back to Python.
const page = new URLSearchParams(location.search).get('page');
const frame = document.createElement('iframe');
frame.style.width = '1400px'; frame.style.height = '100000px';
frame.src = page;
frame.onload = () => {
  const d = frame.contentDocument;
  d.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });
  setTimeout(() => {
    const article = d.querySelector('article') || d.body;
    const imgs = [...article.querySelectorAll('img')];
    const h1 = article.querySelector('h1');
    const report = {
      title: h1 ? h1.textContent.replace(/#$/, '').trim() : null,
      n_images: imgs.length,
      broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
      errors: [...article.querySelectorAll('.output.traceback, .output.error, .output.stderr')]
                .map(e => e.textContent.slice(0, 300))
                .filter(t => /Error|Traceback|Exception|Warning/.test(t)),
      // text MathJax left untypeset still shows its delimiters: \( \[ $$
      raw_tex: [...article.querySelectorAll('p, li, td')].map(e => e.innerText)
                 .filter(t => /\\\(|\\\[|\$\$/.test(t)).map(t => t.slice(0, 100)),
    };
    const pre = document.createElement('pre'); pre.id = 'report';
    pre.textContent = JSON.stringify(report); document.body.appendChild(pre);
  }, 1500);
};
document.body.appendChild(frame);
