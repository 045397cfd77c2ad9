"""The run report of ``sklearn-curate curate``: ``report.json`` and a plain ``report.html``.

The report is a JSON-serialisable dict built by :mod:`sklearn_curate.cli`; this module
only writes it. The HTML page is self-contained (inline CSS, no scripts, no external
files) and shows the counts, timings, parameters and versions as tables. Plots are
left to a fuller report.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

__all__ = ["render_html", "write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; }
"""


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, (int, float)):
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f'<td class="num">{text}</td>'
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return f"<td>{html.escape(str(value))}</td>"


def _table(rows, header=None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_html(report: dict) -> str:
    """Render a run report as a self-contained HTML page.

    Parameters
    ----------
    report : dict
        The run report (the content of ``report.json``). Keys used when present:
        ``counts`` (dict), ``counting_rule`` (str), ``input`` (dict), ``steps``
        (list of dicts with ``name``, ``seconds``, ``device``, ``backend``),
        ``total_seconds`` (float), ``parameters`` (dict), ``versions`` (dict),
        ``files`` (dict), ``default_data`` (dict).

    Returns
    -------
    str
        The page; it references no external file.
    """
    counts = report.get("counts", {})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>sklearn-curate report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>sklearn-curate report</h1>",
    ]
    created = report.get("created")
    if created:
        parts.append(f'<p class="note">Run finished {html.escape(str(created))}.</p>')

    parts.append("<h2>Counts</h2>")
    total = counts.get("inputs") or 0
    rows = []
    for key, value in counts.items():
        share = f"{100.0 * value / total:.1f}%" if total and isinstance(value, int) else ""
        rows.append((key, value, share))
    parts.append(_table(rows, ("decision", "count", "share of inputs")))
    if report.get("counting_rule"):
        parts.append(f'<p class="note">{html.escape(report["counting_rule"])}</p>')

    if report.get("input"):
        parts.append("<h2>Input</h2>")
        parts.append(_table(report["input"].items(), ("key", "value")))

    if report.get("default_data"):
        parts.append("<h2>Injected faults (default data)</h2>")
        parts.append(_table(report["default_data"].items(), ("key", "value")))

    if report.get("steps"):
        parts.append("<h2>Steps</h2>")
        rows = [
            (
                s.get("name"),
                s.get("seconds"),
                s.get("device") or "",
                s.get("backend") or "",
                s.get("detail", ""),
            )
            for s in report["steps"]
        ]
        if report.get("total_seconds") is not None:
            rows.append(("total", report["total_seconds"], "", "", ""))
        parts.append(_table(rows, ("step", "seconds", "device", "backend", "detail")))

    for title, key in (("Parameters", "parameters"), ("Files", "files"), ("Versions", "versions")):
        if report.get(key):
            parts.append(f"<h2>{title}</h2>")
            parts.append(_table(report[key].items(), ("name", "value")))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: dict, folder) -> None:
    """Write ``report.json`` and ``report.html`` into ``folder``.

    Parameters
    ----------
    report : dict
        JSON-serialisable run report.
    folder : str or path-like
        An existing folder.
    """
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(render_html(report), encoding="utf-8")
