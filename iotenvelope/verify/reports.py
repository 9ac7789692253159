"""verify's reports: JUnit XML (CI dashboards), Markdown (a pull-request comment), a self-contained HTML page.

Every report is built from the cells of one run and names each failing case by ``tcId``. Text that came from a
runner (its answers, its stderr) was already quoted and cut by the protocol host; here it is escaped for the
format and stripped of characters XML cannot carry.
"""

from __future__ import annotations

import html as html_mod
import re
import xml.etree.ElementTree as ET
from typing import Iterable

from .. import __version__
from .matrix import Cell, ok
from .protocol import PROTOCOL_VERSION, CaseOutcome

_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: failing cases listed per cell in the Markdown report (a PR comment has a size limit); HTML lists them all
MARKDOWN_CASES = 20


def _clean(text: object) -> str:
    return _XML_BAD.sub("\ufffd", str(text))


def _failing(cell: Cell) -> list[CaseOutcome]:
    return [c for c in cell.cases if c.status == "failed"]


def _cell_text(cell: Cell) -> str:
    if not cell.available:
        return "not available"
    if cell.failed:
        return f"FAILED {cell.failed}/{cell.passed + cell.failed}"
    if not cell.passed and cell.unsupported:
        return "unsupported"
    return f"{cell.passed} passed" + (f", {cell.unsupported} unsupported" if cell.unsupported else "")


def _summary(cells: list[Cell]) -> str:
    failed = sum(c.failed for c in cells)
    if ok(cells):
        return "OK: every available implementation passed every case it checked"
    if failed:
        return f"FAILED: {failed} case(s) failed"
    return "FAILED: no implementation was available"


def _grid(cells: list[Cell]) -> tuple[list[str], list[str], dict]:
    impls = list(dict.fromkeys(c.impl for c in cells))
    files = list(dict.fromkeys(c.file for c in cells))
    return impls, files, {(c.impl, c.file): c for c in cells}


def _case_line(case: CaseOutcome) -> str:
    flags = f" [{', '.join(case.flags)}]" if case.flags else ""
    what = f"expected {case.expected}, got {case.actual}" if case.expected or case.actual else case.detail
    return f"{case.label}{flags}: {what}"


# ---- JUnit ---------------------------------------------------------------------------------------------------

def junit(cells: list[Cell]) -> str:
    """One testsuite per (implementation, file) cell, one testcase per vector case."""
    root = ET.Element("testsuites", name="iotenvelope verify")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for cell in cells:
        suite = ET.SubElement(root, "testsuite", name=_clean(f"{cell.impl}: {cell.file}"))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for case in cell.cases:
            counts["tests"] += 1
            tc = ET.SubElement(suite, "testcase", classname=_clean(f"iotenvelope.{cell.impl}.{cell.path or cell.file}"),
                               name=_clean(case.label))
            if case.status == "failed":
                counts["failures"] += 1
                body = [f"tcId: {case.tc_id}", f"comment: {case.comment}", f"flags: {', '.join(case.flags) or '-'}"]
                if case.expected or case.actual:
                    body += [f"expected: {case.expected}", f"actual: {case.actual}"]
                body.append(f"detail: {case.detail}")
                failure = ET.SubElement(tc, "failure", message=_clean(case.detail[:500]), type="mismatch")
                failure.text = _clean("\n".join(body))
            elif case.status in ("unsupported", "not-available"):
                counts["skipped"] += 1
                ET.SubElement(tc, "skipped", message=_clean(f"{case.status}: {case.detail}"[:500]))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---- Markdown ------------------------------------------------------------------------------------------------

def _md(text: object) -> str:
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("<", "&lt;")
    return " ".join(out.split())  # one line: a table cell or a list item


def markdown(cells: list[Cell]) -> str:
    impls, files, table = _grid(cells)
    lines = [f"### iotenvelope verify: {'OK' if ok(cells) else 'FAILED'}", "",
             "| implementation | " + " | ".join(f"`{_md(f)}`" for f in files) + " |",
             "|---|" + "---|" * len(files)]
    for impl in impls:
        row = []
        for f in files:
            c = table.get((impl, f))
            text = "-" if c is None else _cell_text(c)
            row.append(f"**{text}**" if c is not None and c.failed else text)
        lines.append(f"| {_md(impl)} | " + " | ".join(row) + " |")
    lines.append("")
    reasons = dict.fromkeys((c.impl, c.reason) for c in cells if not c.available)
    lines += [f"- {_md(impl)}: not available: {_md(reason)}" for impl, reason in reasons]
    unsupported = dict.fromkeys((c.impl, c.file, c.unsupported, c.unsupported_reason) for c in cells if c.unsupported)
    lines += [f"- {_md(impl)} `{_md(f)}`: {n} cases unsupported ({_md(why)}), not counted as passed"
              for impl, f, n, why in unsupported]
    failing = [c for c in cells if c.failed]
    if failing:
        lines += ["", "#### Failing cases", ""]
        for cell in failing:
            cases = _failing(cell)
            lines.append(f"**{_md(cell.impl)}** `{_md(cell.file)}` ({cell.failed} failed):")
            lines += [f"- {_md(_case_line(c))}" for c in cases[:MARKDOWN_CASES]]
            if len(cases) > MARKDOWN_CASES:
                lines.append(f"- ... {len(cases) - MARKDOWN_CASES} more (see the JUnit or HTML report)")
            other = [f for f in cell.failures if not f.startswith("tcId ")]
            lines += [f"- {_md(f)}" for f in other[:5]]
            lines.append("")
    lines += ["", f"{_summary(cells)}. iotenvelope {__version__}, runner protocol {PROTOCOL_VERSION}."]
    return "\n".join(lines).rstrip() + "\n"


# ---- HTML ----------------------------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1b1b1b; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #c8c8c8; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f0f0f0; }
td.pass { background: #dff3df; } td.fail { background: #f8d4d4; font-weight: bold; }
td.na { background: #ececec; color: #555; } td.unsup { background: #fff3cd; }
.status-ok { color: #17631b; } .status-failed { color: #a11111; }
code, .mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
td.mono { min-width: 20em; max-width: 36em; }
"""


def _e(text: object) -> str:
    return html_mod.escape(_clean(text), quote=True)


def _anchor(cell: Cell) -> str:
    return "fail-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{cell.impl}-{cell.file}").strip("-")


def html(cells: list[Cell]) -> str:
    impls, files, table = _grid(cells)
    good = ok(cells)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>iotenvelope verify: " + ("OK" if good else "FAILED") + "</title>",
           f"<style>{_CSS}</style></head><body>",
           "<h1>iotenvelope verify: <span class=\"status-" + ("ok\">OK" if good else "failed\">FAILED") + "</span></h1>",
           f"<p id=\"summary\">{_e(_summary(cells))}. iotenvelope {_e(__version__)}, runner protocol "
           f"{PROTOCOL_VERSION}.</p>",
           '<table id="matrix"><thead><tr><th>implementation</th>'
           + "".join(f"<th><code>{_e(f)}</code></th>" for f in files) + "</tr></thead><tbody>"]
    for impl in impls:
        row = [f"<th>{_e(impl)}</th>"]
        for f in files:
            c = table.get((impl, f))
            if c is None:
                row.append("<td>-</td>")
                continue
            css = "na" if not c.available else "fail" if c.failed else "unsup" if not c.passed else "pass"
            text = _e(_cell_text(c))
            if c.failed:
                text = f'<a href="#{_anchor(c)}">{text}</a>'
            title = c.reason if not c.available else c.unsupported_reason
            row.append(f'<td class="{css}"' + (f' title="{_e(title)}"' if title else "") + f">{text}</td>")
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    notes = dict.fromkeys((c.impl, c.reason) for c in cells if not c.available)
    unsupported = dict.fromkeys((c.impl, c.file, c.unsupported, c.unsupported_reason) for c in cells if c.unsupported)
    if notes or unsupported:
        out.append('<ul id="notes">')
        out += [f"<li>{_e(impl)}: not available: {_e(reason)}</li>" for impl, reason in notes]
        out += [f"<li>{_e(impl)} <code>{_e(f)}</code>: {n} cases unsupported ({_e(why)}), not counted as passed</li>"
                for impl, f, n, why in unsupported]
        out.append("</ul>")
    for cell in (c for c in cells if c.failed):
        out.append(f'<h2 id="{_anchor(cell)}">{_e(cell.impl)}: <code>{_e(cell.file)}</code> - {cell.failed} failed</h2>')
        out.append('<table class="failures"><thead><tr><th>tcId</th><th>comment</th><th>flags</th><th>expected</th>'
                   "<th>actual</th><th>detail</th></tr></thead><tbody>")
        for case in _failing(cell):
            out.append(f'<tr class="failure" data-tcid="{case.tc_id}"><td>{case.tc_id}</td><td>{_e(case.comment)}</td>'
                       f"<td>{_e(', '.join(case.flags))}</td><td class=\"mono\">{_e(case.expected)}</td>"
                       f"<td class=\"mono\">{_e(case.actual)}</td><td>{_e(case.detail)}</td></tr>")
        out.append("</tbody></table>")
        other = [f for f in cell.failures if not f.startswith("tcId ")]
        if other:
            out.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in other[:20]) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def failing_ids(cells: Iterable[Cell]) -> dict[tuple[str, str], list[int]]:
    """(impl, file) -> the failing tcIds (what the reports must name)."""
    return {(c.impl, c.file): [k.tc_id for k in _failing(c)] for c in cells if c.failed}
