"""The study report as one self-contained HTML page (the Kubeflow UI's HTML output): the Markdown report,
with the optimisation history and influence charts embedded as images.

The Markdown is converted by a small converter for what the report writes (headings, lists, tables, bold,
code, paragraphs). Every text is escaped before any tag is added: the report holds the LLM's final
analysis and the Creator's words, which are data, never markup.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.9em;display:block;overflow-x:auto}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3}code{background:#f3f3f3;padding:0 .2em}figure{display:inline-block;margin:0 1em 1em 0}
figcaption{font-size:.85em;color:#555}"""
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*([^*\n]+?)\*(?![*\w])")
_CODE = re.compile(r"`([^`\n]+?)`")


def inline(text: str) -> str:
    """One line of Markdown as HTML: escaped, then code, bold and italics."""
    escaped = html.escape(text, quote=True)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def _table(rows: list[str]) -> str:
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    body = [r for r in cells[1:] if not all(set(c) <= set("-: ") for c in r)]  # the |---| separator
    head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
    lines = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"


def markdown_to_html(text: str) -> str:
    """The report's Markdown subset as HTML; anything else is kept as escaped paragraph text."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            i += 1
        elif line.lstrip().startswith("|"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i])
                i += 1
            out.append(_table(block))
        elif re.match(r"\s*([-*]|\d+\.)\s+", line):
            ordered = bool(re.match(r"\s*\d+\.", line))
            items = []
            while i < len(lines) and re.match(r"\s*([-*]|\d+\.)\s+", lines[i]):
                items.append(re.sub(r"^\s*([-*]|\d+\.)\s+", "", lines[i]))
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{inline(item)}</li>" for item in items) + f"</{tag}>")
        elif not line.strip():
            i += 1
        else:
            paragraph = []
            while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6}\s|\s*\||\s*([-*]|\d+\.)\s)",
                                                                       lines[i]):
                paragraph.append(inline(lines[i]))
                i += 1
            out.append("<p>" + "<br>".join(paragraph) + "</p>")
    return "\n".join(out)


def report_page(title: str, markdown: str, images: dict[str, bytes]) -> str:
    """The whole page: the charts (caption -> PNG bytes) after the report's first paragraph, then the rest."""
    figures = "".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for caption, png in images.items())
    body = markdown_to_html(markdown)
    first_section = body.find("<h2>")
    if first_section >= 0 and figures:
        body = body[:first_section] + f"<div>{figures}</div>\n" + body[first_section:]
    elif figures:
        body += f"\n<div>{figures}</div>"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


HISTORY_CHART = "Optimisation history: each trial's objective, by proposer, and the best so far"
INFLUENCE_CHART = "Estimated influence of each hyperparameter"


def report_charts(spec, history, folder: Path) -> dict[str, Path]:
    """The report's PNG charts in `folder` by caption: the history (with any trial) and the influence (with
    enough finished trials to estimate it)."""
    from agenthpo.plots import plot_history, plot_influence
    from agenthpo.report import influences

    charts = {}
    if history:
        charts[HISTORY_CHART] = plot_history(history, spec.objective, folder / "optimization_history.png", spec.name)
    found = influences(spec.space, history, spec.objective)
    if found:
        charts[INFLUENCE_CHART] = plot_influence(found, folder / "influence.png",
                                                 f"{spec.name}: hyperparameter influence")
    return charts
