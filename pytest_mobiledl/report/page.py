"""One self-contained HTML page: inline style, tables, figures as base64 PNG. Nothing is fetched.

Also the text and CSV forms of the same tables, so the three never disagree.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mobiledl.report.contents import Table

if TYPE_CHECKING:
    from pytest_mobiledl.report.plots import Plot

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
tr:nth-child(even) td { background: #fafafa; }
p.note { color: #555; font-size: 0.85em; max-width: 70em; }
img { max-width: 100%; border: 1px solid #eee; }
nav a { margin-right: 1em; } nav b { margin-right: 0.5em; color: #555; }
.scroll { max-height: 40em; overflow: auto; }
"""


#: Tables shown above the figures: the legend of the run tags the figures use.
FIRST = ("runs",)


def html_page(title: str, summary: str, sections: Sequence[Table], plots: Sequence[Plot]) -> str:
    first = [t for t in sections if t.name in FIRST]
    sections = [t for t in sections if t.name not in FIRST]
    nav = ("<b>figures</b> " + " ".join(f'<a href="#plot-{p.name}">{p.name}</a>' for p in plots)
           + " <b>tables</b> " + " ".join(f'<a href="#{t.name}">{t.name}</a>' for t in [*first, *sections]))
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">{html.escape(summary)}</p>', f"<nav>{nav}</nav>"]
    parts += [_table(table) for table in first]
    for plot in plots:
        data = base64.b64encode(plot.png).decode("ascii")
        parts.append(f'<section id="plot-{plot.name}" class="plot"><h2>{html.escape(plot.title)}</h2>'
                     + (f'<p class="note">{html.escape(plot.note)}</p>' if plot.note else "")
                     + f'<img alt="{html.escape(plot.title)}" src="data:image/png;base64,{data}"></section>')
    parts += [_table(table) for table in sections]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table(table: Table) -> str:
    body = ('<p class="note">nothing to show in these runs</p>' if table.frame.empty else
            '<div class="scroll">' + table.frame.to_html(index=False, na_rep="—", border=0,
                                                         classes=f"table-{table.name}") + "</div>")
    return (f'<section id="{table.name}" class="table"><h2>{html.escape(table.title)}</h2>'
            + (f'<p class="note">{html.escape(table.note)}</p>' if table.note else "") + body + "</section>")


def text(sections: Sequence[Table]) -> str:
    from tabulate import tabulate

    out = []
    for table in sections:
        if table.frame.empty:
            continue
        body = tabulate(table.frame, headers="keys", tablefmt="github", showindex=False, missingval="—")
        out.append(f"--- {table.title}\n{body}" + (f"\n{table.note}" if table.note else ""))
    return "\n\n".join(out)


def csv(sections: Sequence[Table], folder: Path) -> list[Path]:
    """One file per table (an empty table is a file with its header, or none when it has no columns)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in sections:
        path = folder / f"{table.name}.csv"
        table.frame.to_csv(path, index=False)
        written.append(path)
    return written
