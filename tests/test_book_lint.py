"""The reader's text check (airlib.book.lint): each defect class on a hand-made page, and a clean page passing."""
import pytest

from airlib.book.common import BookError
from airlib.book.lint import check_pages, page_problems


def _page(article: str) -> str:
    """A page as Jupyter Book lays one out: a sidebar (not checked) and the main content."""
    return (f"<html><body><nav><p>issue tracker, /work/main sidebar text</p></nav><main><article>{article}"
            "</article></main><script>var x = '/usr/lib/issue';</script></body></html>")


CLEAN = _page("<h1>6. Table-top scenes</h1><p>AIR counts 98.3% of the scenes right.</p>"
              "<div class='cell docutils container'><div class='cell_input docutils container'><div class='highlight'>"
              "<pre>pilot = study_cfg.pilot_seeds  # names of the library</pre></div></div>"
              "<div class='cell_output docutils container'><div class='output stream'><pre>count 0.983</pre></div></div></div>"
              "<table><tr><th>seed</th><th>count</th></tr><tr><td>0</td><td>98.3%</td></tr></table>")


def test_a_clean_page_has_no_problem():
    assert page_problems(CLEAN) == []


def test_a_code_listing_a_linked_figure_and_plain_numbers_pass():
    listing = ("<div class='cell_output'><pre>def f(x):\n    return torch.distributions.Categorical(logits=x)</pre>"
               "<a href='../_images/a.png'><img src='../_images/a.png'/></a><pre>0.62 0.3333 1e-07 0.1000001</pre></div>")
    assert page_problems(_page(listing)) == []


def test_link_figures_makes_each_figure_a_link_once(tmp_path):
    from airlib.book.pipeline import link_figures
    page = tmp_path / "book" / "a.html"
    page.parent.mkdir()
    page.write_text(_page("<div class='cell_output'><img alt='x' src='../_images/a.png'/>"
                          "<img src=\"../_images/b.png\" /></div><img src='../_static/logo.png'/>"))
    assert page_problems(page.read_text()) != []
    assert link_figures(tmp_path) == 1                  # the double-quoted one; single quotes are not Sphinx's
    page.write_text(_page('<div class="cell_output"><img alt="x" src="../_images/a.png" />'
                          '<img src="../_images/b.png" /></div><img src="../_static/logo.png"/>'))
    assert link_figures(tmp_path) == 2 and link_figures(tmp_path) == 0
    html = page.read_text()
    assert '<a class="figure-full" href="../_images/a.png"><img alt="x" src="../_images/a.png" /></a>' in html
    assert page_problems(html) == []


@pytest.mark.parametrize("article, problem", [
    ("<p>trained with --run-dir /work/main/runs/air-seed0 on this machine</p>", "absolute path of the build machine"),
    ("<div class='cell_output'><pre>loaded /home/someone/airlib/artifacts/x.json</pre></div>", "absolute path"),
    ("<p>The issue that asked for this chapter set two targets.</p>", "development process, 'issue'"),
    ("<p>chosen on one pilot seed</p>", "development process, 'pilot'"),
    ("<div class='cell_output'><pre>device: the lent machine's CPU</pre></div>", "'lent machine'"),
    ("<table><tr><th>met</th></tr><tr><td>True</td></tr></table>", "Python value printed in a table cell: 'True'"),
    ("<table><tr><th>x</th></tr><tr><td>NaN</td></tr></table>", "Python value printed in a table cell: 'NaN'"),
    ("<table><tr><th>1.000000</th></tr><tr><td>3</td></tr></table>", "float printed as a column header: '1.000000'"),
    ("<div class='output stderr'><pre>UserWarning: tabletop-air seed 0 failed</pre></div>", "output on stderr"),
    ("<div class='cell_output'><pre>StudyConfig(seed=0, joint_scenes=300)</pre></div>", "output that is an object's repr"),
    ("<div class='cell_output'><pre>&lt;pandas.io.formats.style.Styler object at 0x7f96&gt;</pre></div>", "object's repr"),
    ("<div class='cell_output'><pre>{'pool': 10000, 'val': 1000}</pre></div>", "a dict or JSON dump"),
    ("<div class='cell_output'><pre>[{\"seed\": 0}]</pre></div>", "a dict or JSON dump"),
    ("<div class='cell_output'><pre>disagree 0.6200000047683716</pre></div>", "float32 noise"),
    ("<div class='cell_output'><pre>below target: tabletop-air seed 0 failed</pre></div>", "a warning or log line"),
    ("<div class='cell_output'><pre>RuntimeWarning: overflow</pre></div>", "a warning or log line"),
    ("<div class='cell_output'><pre>air-counts-013 seed 0 failed: test_count_accuracy = 0.66 &lt; 0.98</pre></div>",
     "a warning or log line"),
    ("<table><tr><th>camera</th></tr><tr><td>0.000000</td></tr></table>", "pandas' default six decimals: '0.000000'"),
    ("<div class='cell_output'><img src='../_images/a.png'/></div>", "1 output figure(s) a reader cannot open"),
    ("<p>" + "The same paragraph, long enough to be a paragraph and not a short label. " * 2 + "</p>" * 1
     + "<p>" + "The same paragraph, long enough to be a paragraph and not a short label. " * 2 + "</p>",
     "a paragraph printed 2 times"),
])
def test_each_defect_class_is_named(article, problem):
    problems = page_problems(_page(article), "book/06_tabletop")
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("book/06_tabletop: ") for p in problems)


def test_a_short_line_may_repeat_and_a_word_inside_another_is_not_a_process_word():
    problems = page_problems(_page("<p>Seed 0</p><p>Seed 0</p><p>tissues and pilots' tissue</p>"))
    assert len(problems) == 1 and "'pilots'" in problems[0]
    assert page_problems(_page("<p>Seed 0</p><p>Seed 0</p><p>the tissue of the model</p>")) == []


def test_check_pages_raises_naming_every_page_s_problems(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.html").write_text(CLEAN)
    (tmp_path / "book" / "b.html").write_text(_page("<p>as the issue asked</p>"))
    check_pages(tmp_path, ["book/a"])
    with pytest.raises(BookError, match=r"text check:\nbook/b: a word of the development process, 'issue'"):
        check_pages(tmp_path, ["book/a", "book/b", "book/missing"])
