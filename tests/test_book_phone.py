"""The reader's check at a phone's width (390 px): hand-made pages in headless Chromium, through check_site."""
import shutil

import numpy as np
import pandas as pd
import pytest

from airlib import book
from airlib.book.check import PHONE_WIDTH, _problems

CSS = book.ROOT / "_static" / "airlib.css"

# a results table as a chapter prints it (a pandas Styler in a cell's output) and one written in Markdown, both
# about 600 px wide: they fit a 1280 px window but not a phone's
STYLER = (pd.DataFrame(np.linspace(0.9, 1.0, 30).reshape(3, 10), columns=[f"seed {i}" for i in range(10)])
          .style.format("{:.5f}").set_uuid("wide").to_html())
MARKDOWN = ('<table class="table"><thead><tr>' + "".join(f"<th><p>run {i}</p></th>" for i in range(8))
            + "</tr></thead><tbody><tr>" + "".join("<td><p>0.983&plusmn;0.002</p></td>" for _ in range(8))
            + "</tr></tbody></table>")
TABLES = (f'<div class="cell_output docutils container"><div class="output text_html">{STYLER}</div></div>'
          f'<div class="pst-scrollable-table-container">{MARKDOWN}</div>')
# a figure 600 px wide; a paragraph with inline code as Sphinx writes it (each word in a span.pre that never
# wraps) and a long name
WIDE = (TABLES + '<img alt="plot" src="data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27 '
        'width=%27600%27 height=%2760%27/%3E"><p>One call away: <code class="docutils literal notranslate">'
        '<span class="pre">airlib.load_pretrained("air-multi-mnist").infer(images).count.tolist()</span></code>'
        ', or open notebooks_02_multi_mnist_paired_with_its_jupytext_source.ipynb</p>')
SCROLLS = "overflow-x: auto"
PAGES = {   # page -> (article, with airlib.css)
    "book/bare": (WIDE, False),
    "book/styled": (WIDE, True),
    "book/wrapped": (f'<div style="{SCROLLS}">{STYLER}</div><div style="{SCROLLS}">{MARKDOWN}</div>'
                     '<pre style="overflow: auto">model = load_pretrained("air-multi-mnist", seed=0)'
                     '; counts = model.infer(images).count.tolist()</pre>'
                     '<p style="overflow: hidden; white-space: nowrap; text-overflow: ellipsis; width: 150px">'
                     'a title shortened with an ellipsis on purpose</p>'
                     '<span style="position: absolute; width: 1px; height: 1px; overflow: hidden; '
                     'white-space: nowrap">a label for screen readers only, longer than the whole of a phone\'s '
                     'window is wide</span>'
                     '<p style="position: relative; overflow: hidden">x<span style="position: absolute; left: 0; '
                     'clip: rect(1px, 1px, 1px, 1px); white-space: nowrap">a formula as MathJax writes it for '
                     'screen readers, clipped out of sight</span></p>', False),
    "book/wide": ('<div style="width: 600px">a block 600 px wide</div>', False),
    "book/clipped": ('<div style="overflow: hidden; width: 120px; white-space: nowrap">a sentence its box hides '
                     'half of</div>', False),
}


def _page(article: str, css: bool) -> str:
    link = '<link rel="stylesheet" href="../_static/airlib.css">' if css else ""
    return (f"<!doctype html><html><head><title>x</title><style>span.pre {{ white-space: nowrap }}</style>{link}"
            f"</head><body><main><article class='bd-article'>"
            f"<h1>A page</h1>{article}</article></main></body></html>")


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    """What check_site says of each page of PAGES (1280 and 390 px), as ``{page: [problem, ...]}``."""
    root = tmp_path_factory.mktemp("phone")
    site = root / "html"
    (site / "book").mkdir(parents=True)
    (site / "_static").mkdir()
    shutil.copyfile(CSS, site / "_static" / "airlib.css")
    for page, (article, css) in PAGES.items():
        (site / f"{page}.html").write_text(_page(article, css))
    try:
        book.check_site(site, list(PAGES), root, screenshots=False)
        found = []
    except book.BookError as e:
        found = str(e).splitlines()[1:]
    return {page: [p for p in found if p.startswith(f"{page}: ")] for page in PAGES}


def test_wide_tables_figures_and_code_without_the_books_css_are_cut_off_on_a_phone(problems):
    cut = f"book/bare: at {PHONE_WIDTH} px, cut off at the right edge with no sideways scroll to reach it: "
    assert sorted(p.split(" (ends at")[0] for p in problems["book/bare"] if p.startswith(cut)) == [
        cut + name for name in ("img", "p", "table#T_wide", "table.table")], problems["book/bare"]
    assert any("the page is" in p and "scrolls sideways" in p for p in problems["book/bare"])
    assert not any(" 1280 px" in p for p in problems["book/bare"])       # all fit a laptop's window


def test_the_books_css_makes_wide_tables_scroll_in_their_own_box_and_figures_and_code_fit(problems):
    assert problems["book/styled"] == []


def test_what_scrolls_in_its_own_box_or_is_hidden_on_purpose_is_not_cut_off(problems):
    assert problems["book/wrapped"] == []   # tables and code in boxes that scroll, an ellipsis, screen-reader text


def test_a_page_wider_than_a_phone_is_named_with_its_width(problems):
    assert f"book/wide: at {PHONE_WIDTH} px the page is 608 px wide, wider than the {PHONE_WIDTH} px window: " \
           "it scrolls sideways" in problems["book/wide"]
    assert any("cut off" in p and "div (ends at 608 px" in p for p in problems["book/wide"]), problems["book/wide"]


def test_text_that_a_box_hides_is_cut_off_at_every_width(problems):
    assert [p.split(": ")[1] for p in problems["book/clipped"]] == [
        "at 1280 px, cut off at the right edge with no sideways scroll to reach it",
        f"at {PHONE_WIDTH} px, cut off at the right edge with no sideways scroll to reach it"], problems["book/clipped"]
    assert all("shown to 128 px" in p for p in problems["book/clipped"])


def test_a_page_that_does_not_render_on_a_phone_is_named():
    good = dict(title="A", n_images=0, broken=[], errors=[], raw_tex=[], width=1280, viewport=1280,
                scroll_width=1280, cutoff=[])
    assert _problems("book/x", good | {"narrow": good | {"width": 390, "viewport": 390, "scroll_width": 390}}, 0) == []
    assert _problems("book/x", good | {"narrow": None}, 0) == [f"book/x: the page did not render at {PHONE_WIDTH} px"]
