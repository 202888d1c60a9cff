"""The self-contained HTML report: inline CSS, tables, and plots as base64 PNG data URIs.

Every piece of text from results files is escaped with ``html.escape``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import pandas as pd

from byolbench.bench.markdown_report import TRANSFER_NOTE
from byolbench.bench.plots import Plot
from byolbench.bench.report_tables import DatasetTables, tables_statement
from byolbench.bench.transfer_tables import TransferTable

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.4em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td.text { text-align: left; }
td.up { color: #14701f; } td.down { color: #b00020; }
figure { margin: 1em 0; } img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
"""
TEXT_COLUMNS = ("backbone", "augmentation", "pretrained on")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell_class(column: str, text: str) -> str:
    if column in TEXT_COLUMNS or column.endswith("published"):
        return ' class="text"'
    if column.endswith("gain") and text.startswith("+"):
        return ' class="up"'
    if column.endswith("gain") and text.startswith("-") and text != "-":
        return ' class="down"'
    return ""


def frame_html(frame: pd.DataFrame, table_id: str, title: str) -> str:
    """A display frame as a ``<table>`` with a caption."""
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(
            f"<td{_cell_class(str(c), str(row[c]))}>{_e(row[c])}</td>" for c in frame.columns
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<table id="{_e(table_id)}"><caption>{_e(title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def transfer_html(tables: Sequence[TransferTable]) -> str:
    """The transfer section: one table per protocol."""
    if not tables:
        return ""
    parts = [
        f'<section id="transfer"><h2>Transfer</h2><p class="note">{_e(TRANSFER_NOTE)}</p>',
        *(
            frame_html(t.display, f"transfer-{t.protocol}-{t.variant}".rstrip("-"), t.title)
            for t in tables
        ),
        "</section>",
    ]
    return "\n".join(parts)


def table_html(tables: DatasetTables) -> str:
    """One dataset's ``<table>`` (with caption) and its reference footnotes."""
    frame = tables.display
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(
            f"<td{_cell_class(str(c), str(row[c]))}>{_e(row[c])}</td>" for c in frame.columns
        )
        body.append(f"<tr>{cells}</tr>")
    parts = [
        f'<table id="table-{_e(tables.slug)}"><caption>{_e(tables.title)}</caption>',
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    ]
    if tables.as_run:
        parts.append(f'<p class="note">{_e(tables.as_run)}</p>')
    if tables.footnotes:
        items = "".join(f"<li>{_e(text)}</li>" for text in tables.footnotes)
        parts.append(f'<p class="note">Published references:</p><ol class="note">{items}</ol>')
    return "\n".join(parts)


def figure_html(plot: Plot) -> str:
    """A ``<figure>`` with the PNG inlined and a link to the PNG file beside the page."""
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(plot.title)}" '
        f'data-file="{_e(plot.name)}"><figcaption>{_e(plot.title)} '
        f'(<a href="{_e(plot.name)}">{_e(plot.name)}</a>)</figcaption></figure>'
    )


def render_html(
    tables: Sequence[DatasetTables],
    plots: Sequence[Plot],
    source: str,
    generated: str,
    transfer: Sequence[TransferTable] = (),
) -> str:
    """The whole page.

    Args:
        tables: One entry per dataset.
        plots: Every plot; each is shown under its dataset.
        source: Where the rows came from (shown in the header).
        generated: Timestamp of the report.
        transfer: Transfer tables (a section after the datasets).
    """
    protocols = "".join(f"<li>{_e(text)}</li>" for text in tables_statement(tables, transfer))
    sections = []
    for entry in tables:
        figures = "\n".join(figure_html(p) for p in plots if p.dataset == entry.dataset)
        sections.append(
            f'<section id="dataset-{_e(entry.slug)}"><h2>{_e(entry.dataset)}</h2>\n'
            f"{table_html(entry)}\n{figures}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>byolbench report</title><style>{STYLE}</style></head><body>\n"
        "<h1>byolbench report</h1>\n"
        f'<p class="note">From {_e(source)}, generated {_e(generated)}.</p>\n'
        f'<section id="protocols"><h2>Evaluation protocols</h2><ul>{protocols}</ul></section>\n'
        + "\n".join(sections)
        + ("\n" + transfer_html(transfer) if transfer else "")
        + "\n</body></html>\n"
    )
