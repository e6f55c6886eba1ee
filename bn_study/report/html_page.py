"""Markdown to one self-contained, styled HTML page: the reports, the comparison and the site index.

Offline by construction: no fonts, scripts or styles are fetched, and every PNG the Markdown
links is inlined as a data URI, so a page mailed or opened from a USB stick shows everything.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import markdown

# Readable measure (about 80 characters per line of prose, wider for the tables), the system's
# UI font, numbers in tabular figures so that digits line up down a column.
STYLE = """
:root{--ink:#1f2328;--muted:#59636e;--rule:#d1d9e0;--band:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--open:#9a6700}
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
 max-width:76rem;margin:0 auto;padding:1.5rem 2rem 4rem}
p,li{max-width:52rem}
h1{font-size:1.8rem;margin:.2rem 0 1rem}h2{font-size:1.35rem;margin-top:2.2rem;border-bottom:1px solid var(--rule);
 padding-bottom:.25rem}h3{font-size:1.1rem}
code{font:.88em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--band);padding:.1em .3em;
 border-radius:4px}
table{border-collapse:collapse;font-size:.9rem;margin:1rem 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid var(--rule);padding:.3rem .55rem;vertical-align:top;text-align:left}
th{background:var(--band);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fbfcfd}
.verdict{font-weight:600;white-space:nowrap}
.supported,.consistent,.bit-identical{color:var(--ok)}.not-supported,.differs{color:var(--bad)}
.inconclusive{color:var(--open)}
td img{max-width:none}
img{max-width:100%;height:auto;border:1px solid var(--rule);border-radius:4px;margin:.5rem 0}
nav.toc{background:var(--band);border:1px solid var(--rule);border-radius:6px;padding:.4rem 1.2rem;margin:1rem 0;
 max-width:48rem}
nav.toc ul{margin:.3rem 0;padding-left:1.2rem}
"""
VERDICTS = ("not supported", "supported", "inconclusive", "consistent", "differs", "bit-identical")
_NUMBER = re.compile(r"^[−+-]?(\d[\d,]*\.?\d*(e[−+-]?\d+)?|\.\d+)( ?%| s| min| MB)?$")


def _inline_images(body: str, base_dir: Path) -> str:
    def inline(match: re.Match) -> str:
        data = base64.b64encode((base_dir / match.group(1)).read_bytes()).decode()
        return f'src="data:image/png;base64,{data}"'

    return re.sub(r'src="([^"]+\.png)"', inline, body)


def _mark_cells(body: str) -> str:
    """Right-align numeric cells; colour verdicts (bold cells whose text is a verdict word)."""
    def cell(match: re.Match) -> str:
        inner = match.group(1)
        text = re.sub(r"<[^>]+>", "", inner).strip()
        if _NUMBER.match(text):
            return f'<td class="num">{inner}</td>'
        word = text.lower()
        verdict = next((v for v in VERDICTS if word.startswith(v)), None)
        if verdict and "<strong>" in inner:
            return f'<td><span class="verdict {verdict.replace(" ", "-")}">{inner}</span></td>'
        return match.group(0)

    return re.sub(r"<td>(.*?)</td>", cell, body, flags=re.S)


def to_html(markdown_text: str, base_dir: Path, title: str, toc: bool = True) -> str:
    """One HTML page that opens offline: styled, tables aligned, verdicts coloured, images inlined,
    a table of contents of the ## sections after the title when `toc`."""
    converter = markdown.Markdown(extensions=["tables", "toc"], extension_configs={"toc": {"toc_depth": "2"}})
    body = _mark_cells(_inline_images(converter.convert(markdown_text), Path(base_dir)))
    if toc and converter.toc_tokens:
        sections = converter.toc_tokens[0].get("children", []) if len(converter.toc_tokens) == 1 else converter.toc_tokens
        if len(sections) > 2:
            items = "".join(f'<li><a href="#{s["id"]}">{s["name"]}</a></li>' for s in sections)
            nav = f'<nav class="toc"><strong>Contents</strong><ul>{items}</ul></nav>'
            body = re.sub(r"(</h1>)", r"\1\n" + nav.replace("\\", "\\\\"), body, count=1)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
