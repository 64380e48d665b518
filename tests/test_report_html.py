"""The HTML report page: the Markdown report as HTML, charts embedded, and no markup from the LLM's text."""

import base64
import html
import re

from memory_store import MemoryStudyStore

from agenthpo import study
from agenthpo.report_html import HISTORY_CHART, INFLUENCE_CHART, markdown_to_html, report_page
from agenthpo.spec import parse_spec
from agenthpo.trial import Proposal


def test_the_report_subset_becomes_html():
    page = markdown_to_html("# Study `x`\n\n3 finished; **best** trial 2.\n\n- `lr` = 0.1\n- depth = 3\n\n"
                            "| trial | value |\n|---|---|\n| 1 | 0.5 |\n| 2 | 0.7 |\n\n*set aside: too short*")
    assert "<h1>Study <code>x</code></h1>" in page
    assert "<p>3 finished; <strong>best</strong> trial 2.</p>" in page
    assert "<ul><li><code>lr</code> = 0.1</li><li>depth = 3</li></ul>" in page
    assert "<tbody><tr><td>1</td><td>0.5</td></tr><tr><td>2</td><td>0.7</td></tr></tbody>" in page
    assert "<p><em>set aside: too short</em></p>" in page


def test_llm_text_never_becomes_markup():
    hostile = ('Try <script>alert(1)</script> and <img src=x onerror=alert(2)>.\n\n'
               '- `" onmouseover="alert(3)` **<b>bold</b>**\n\n| a<i> | b |\n|---|---|\n| <svg/onload=alert(4)> | c |')
    page = markdown_to_html(hostile)
    assert not re.search(r"<(script|img|svg|b|i)[\s>/]", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;svg/onload=alert(4)&gt;" in page
    assert "<code>&quot; onmouseover=&quot;alert(3)</code>" in page


def test_the_page_embeds_its_charts_before_the_first_section():
    png = b"\x89PNG\r\n\x1a\nfake"
    page = report_page("study <x>", "# Study\n\nsummary\n\n## Best\n\ntext", {"History <1>": png})
    assert page.startswith("<!DOCTYPE html>") and "<title>study &lt;x&gt;</title>" in page
    assert page.index("data:image/png;base64," + base64.b64encode(png).decode()) < page.index("<h2>Best</h2>")
    assert 'alt="History &lt;1&gt;"' in page


def branin_study(name: str, trials: int):
    spec = parse_spec({"name": name, "task": "branin", "objective": {"metric": "value", "direction": "minimize"},
                       "space": {"x1": {"type": "float", "low": -5.0, "high": 10.0},
                                 "x2": {"type": "float", "low": 0.0, "high": 15.0}},
                       "budget": {"trials": trials}, "proposer": "random"}, base_dir=None)
    store = MemoryStudyStore()
    return spec, store, study.open_study(spec, store).study_id


def test_a_study_report_writes_the_page_with_history_and_influence(tmp_path):
    spec, store, study_id = branin_study("page", 6)
    study.run_inprocess(spec, store, study_id)
    html_path = tmp_path / "report.html"
    reported = study.report_study(spec, store, study_id, html_path=str(html_path))
    page = html_path.read_text()
    assert page == store.studies[study_id].html  # the same page on the study run (MLflow: report.html)
    assert page.count("data:image/png;base64,") == 2
    assert f'alt="{html.escape(HISTORY_CHART)}"' in page and f'alt="{html.escape(INFLUENCE_CHART)}"' in page
    assert "<h2>All trials</h2>" in page and reported.markdown.splitlines()[0].startswith("# Study")


def test_one_trial_has_a_history_chart_and_no_influence(tmp_path):
    spec, store, study_id = branin_study("one", 1)
    config = study.create_trial(spec, store, study_id)
    assert isinstance(config.proposal, Proposal)
    study.train_step(spec, store, config)
    study.report_study(spec, store, study_id)
    page = store.studies[study_id].html
    assert page.count("data:image/png;base64,") == 1 and INFLUENCE_CHART not in page
