"""The reader's text check: what the built pages say, read from their HTML (no browser needed).

A page fails for: an absolute path of the machine that built it; a word of the development process (how the book
was made belongs in notes and records, not on the page); a Python value printed as a table cell (``True``, ``None``,
``nan``) or a float printed as a column header (``1.000000``); an output written to stderr; a paragraph printed
twice; a cell output that is a log rather than a result: an object's repr (``StudyConfig(seed=0, ...)``,
``<... object at 0x...>``), a dict or JSON dump, float32 noise (``0.6200000047683716``), a warning or log line; a
figure a phone reader cannot open full size (every output image is a link to itself). :func:`page_problems` is one page's list; :func:`check_pages` raises on any.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from .common import BookError

ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|tmp|root|Users|usr|opt|var|mnt|srv)/[\w.@+-]+(?:/[\w.@+-]+)*")
PROCESS_WORDS = re.compile(r"\b(issues?|pilot(?:s|ed)?|lent machine|session|TODO|FIXME)\b", re.I)
REPR_CELL = re.compile(r"^(True|False|None|nan|NaN|<NA>|NaT)$")
FLOAT_HEADER = re.compile(r"^-?\d+\.\d{6}$")
MIN_REPEATED = 80            # characters: shorter paragraphs (a heading-like line) may repeat
OUTPUT_LOG = {               # what a cell's printed output must not be: name -> pattern
    "an object's repr": re.compile(r"^[A-Z]\w*\(\w+=|<[\w.]+ object at 0x[0-9a-f]+>"),   # a listing's calls pass
    "a dict or JSON dump": re.compile(r"^\s*[\[{]\s*[{'\"]"),
    "float32 noise": re.compile(r"\d\.\d*(?:0{6,}|9{6,})\d{2,}"),
    "a warning or log line": re.compile(r"\b\w*Warning\b:|\b(?:WARNING|INFO|DEBUG)\b[:\s]|\bbelow target:"
                                        r"|\bseed \d+ failed: \w+ = "),
}


class _Page(HTMLParser):
    """Collects an article's visible text by kind: paragraphs, table cells (header or not), stderr outputs."""

    BLOCKS = {"p", "li", "td", "th", "pre", "h1", "h2", "h3", "h4", "dt", "dd", "caption"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []          # (tag, class) of the open elements
        self.texts: list[tuple[str, str, bool, bool, bool]] = []   # (tag, text, in a stderr output, in a code
                                                                   # cell's input, in a cell's output)
        self.bare_images = 0                             # output images that are not links to themselves
        self._open: list[list[str]] = []                 # text being collected per open block
        self.skip = 0                                    # inside script/style/svg

    def handle_starttag(self, tag, attrs):
        if tag == "img" and any("cell_output" in c for _, c in self.stack) and not any(t == "a" for t, _ in self.stack):
            self.bare_images += 1
        if tag in ("br", "img", "hr", "meta", "link", "input"):             # void elements: no end tag
            return
        cls = dict(attrs).get("class") or ""
        self.stack.append((tag, cls))
        if tag in ("script", "style", "svg", "noscript"):
            self.skip += 1
        if tag in self.BLOCKS:
            self._open.append([])

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack[-1]
            stderr = any("stderr" in c for _, c in self.stack)
            code = any("cell_input" in c for _, c in self.stack)
            output = any("cell_output" in c for _, c in self.stack)
            self.stack.pop()
            if t in ("script", "style", "svg", "noscript"):
                self.skip -= 1
            if t in self.BLOCKS and self._open:
                text = " ".join("".join(self._open.pop()).split())
                if self._open:
                    self._open[-1].append(" " + text + " ")
                self.texts.append((t, text, stderr, code, output))
            if t == tag:
                break

    def handle_data(self, data):
        if not self.skip and self._open:
            self._open[-1].append(data)


def page_problems(html: str, name: str = "page") -> list[str]:
    """What a reader would trip over in one built page's text (see the module docstring)."""
    body = html.split('<main', 1)[-1]                    # the page's content, not the sidebar or the theme's scripts
    page = _Page()
    page.feed(body)
    problems, seen = [], {}
    def around(text, m):
        return text[max(0, m.start() - 60):m.end() + 60]

    for tag, text, stderr, code, output in page.texts:
        for m in ABSOLUTE_PATH.finditer(text):
            problems.append(f"{name}: an absolute path of the build machine, {m.group(0)!r}: ...{around(text, m)}...")
        if not code:                                     # identifiers in code listings are the library's names
            for m in PROCESS_WORDS.finditer(text):
                problems.append(f"{name}: a word of the development process, {m.group(0)!r}: ...{around(text, m)}...")
        if tag in ("td", "th") and REPR_CELL.match(text):
            problems.append(f"{name}: a Python value printed in a table cell: {text!r}")
        if tag == "th" and FLOAT_HEADER.match(text):
            problems.append(f"{name}: a float printed as a column header: {text!r}")
        if tag == "td" and FLOAT_HEADER.match(text):
            problems.append(f"{name}: a float printed with pandas' default six decimals: {text!r}")
        if stderr and tag == "pre" and text:
            problems.append(f"{name}: output on stderr: {text[:120]!r}")
        if output and tag == "pre" and not stderr:
            for what, pattern in OUTPUT_LOG.items():
                m = pattern.search(text)
                if m:
                    problems.append(f"{name}: a cell output that is {what}: ...{around(text, m)}...")
        if tag == "p" and len(text) >= MIN_REPEATED:
            seen[text] = seen.get(text, 0) + 1
    problems += [f"{name}: a paragraph printed {n} times: {text[:120]!r}" for text, n in seen.items() if n > 1]
    if page.bare_images:
        problems.append(f"{name}: {page.bare_images} output figure(s) a reader cannot open full size (not a link)")
    return list(dict.fromkeys(problems))


def check_pages(site: Path, pages: list[str]) -> None:
    """Raises a BookError listing every page's problems (:func:`page_problems`)."""
    problems = []
    for page in pages:
        path = site / f"{page}.html"
        if path.exists():
            problems += page_problems(path.read_text(encoding="utf-8"), page)
    if problems:
        raise BookError("the built book failed its text check:\n" + "\n".join(problems))
