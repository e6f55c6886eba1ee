"""Markdown to one self-contained, styled HTML page: the reports, the comparison and the site index.

Offline by construction: no fonts, scripts or styles are fetched, and every PNG the Markdown
links is inlined as a data URI, so a page mailed or opened from a USB stick shows everything; a
click on a figure opens its PNG file at full resolution (beside the page, in the results folder).
"""
from __future__ import annotations

import base64
import html
import re
import xml.etree.ElementTree as etree
from pathlib import Path

import markdown
from markdown.extensions import Extension
from markdown.extensions.toc import TocExtension
from markdown.treeprocessors import Treeprocessor

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
.toc{background:var(--band);border:1px solid var(--rule);border-radius:6px;padding:.4rem 1.2rem;margin:1rem 0;
 max-width:48rem}
.toc ul{margin:.3rem 0;padding-left:1.2rem}.toctitle{font-weight:600}
"""
VERDICTS = ("not supported", "supported", "inconclusive", "consistent", "differs", "bit-identical")
_NUMBER = re.compile(r"^[−+-]?(\d[\d,]*\.?\d*(e[−+-]?\d+)?|\.\d+)( ?%| s| min| MB)?$")


class _OfflinePage(Treeprocessor):
    """On the parsed page: PNGs inlined as data URIs; numeric cells right-aligned; bold verdict
    cells coloured by their verdict."""

    def __init__(self, md: markdown.Markdown, base_dir: Path):
        super().__init__(md)
        self.base_dir = base_dir

    def run(self, root) -> None:
        for parent in list(root.iter()):
            for position, image in enumerate(list(parent)):
                source = image.get("src", "")
                if image.tag != "img" or not source.endswith(".png") or source.startswith("data:"):
                    continue
                data = base64.b64encode((self.base_dir / source).read_bytes()).decode()
                image.set("src", f"data:image/png;base64,{data}")
                if parent.tag != "a":  # the figure opens at full size: its file, beside the page
                    link = etree.Element("a", {"href": source, "title": "open the figure at full size"})
                    link.tail, image.tail = image.tail, None
                    parent.remove(image)
                    link.append(image)
                    parent.insert(position, link)
        for cell in root.iter("td"):
            text = "".join(cell.itertext()).strip()
            verdict = next((v for v in VERDICTS if text.lower().startswith(v)), None)
            if _NUMBER.match(text):
                cell.set("class", "num")
            elif verdict and cell.find("strong") is not None:
                cell.set("class", f"verdict {verdict.replace(' ', '-')}")


class _OfflinePageExtension(Extension):
    def __init__(self, base_dir: Path):
        super().__init__()
        self.base_dir = base_dir

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # Priority 1: after the inline patterns (20) have made the <img> and <strong> elements.
        md.treeprocessors.register(_OfflinePage(md, self.base_dir), "offline_page", 1)


def _convert(markdown_text: str, base_dir: Path) -> tuple[str, list]:
    """The page's HTML body and its ## sections (the toc extension's tokens)."""
    converter = markdown.Markdown(extensions=["tables", TocExtension(toc_depth="2-2", title="Contents"),
                                              _OfflinePageExtension(base_dir)])
    return converter.convert(markdown_text), converter.toc_tokens


def to_html(markdown_text: str, base_dir: Path, title: str, toc: bool = True) -> str:
    """One HTML page that opens offline: styled, tables aligned, verdicts coloured, images inlined,
    a table of contents of the ## sections after the title when `toc` and there are more than 2."""
    if toc:  # most pages have more than 2 sections: convert with the contents, again only if not
        first, _, rest = markdown_text.partition("\n")
        marked = f"{first}\n\n[TOC]\n{rest}" if first.startswith("# ") else f"[TOC]\n\n{markdown_text}"
        body, sections = _convert(marked, Path(base_dir))
    if not toc or len(sections) <= 2:  # the sections as Markdown's toc extension found them
        body, _ = _convert(markdown_text, Path(base_dir))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")
