"""`bn-study check-html [PAGE...]`: open each HTML page in headless Chromium and fail on what a
reader would see broken: an image that does not load, a script error or console message, a request
to the network (pages must be self-contained), or a link to a file that does not exist. Saves a
screenshot of each page (default under the git-ignored results/local/screenshots/).

The check runs inside the browser: a copy of the page, written beside it so relative paths resolve
the same, gets a small script at the top of <head> that records error events (failed images are
error events, caught in the capture phase), console.error/warn calls and every resource the page
fetched, then writes them into the DOM, which Chromium's --dump-dom prints.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from bn_study.errors import UserError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=5000"]
CHECKER = """<script>(function(){var found=[];
window.addEventListener('error',function(e){var t=e.target;found.push(t&&t.tagName?'failed to load <'+
 t.tagName.toLowerCase()+'> '+(t.src||t.href||''):'script error: '+e.message);},true);
['error','warn'].forEach(function(k){var f=console[k];console[k]=function(){found.push('console.'+k+': '+
 Array.prototype.join.call(arguments,' '));f.apply(console,arguments);};});
window.addEventListener('load',function(){
 Array.prototype.forEach.call(document.images,function(i){if(!i.complete||i.naturalWidth===0)
  found.push('image not shown: '+(i.alt||i.src.slice(0,60)));});
 performance.getEntriesByType('resource').forEach(function(r){if(/^https?:/.test(r.name))
  found.push('network request: '+r.name);});
 var out=document.createElement('pre');out.id='bn-check';out.textContent=JSON.stringify(
  {problems:found,images:document.images.length});document.body.appendChild(out);});})();</script>"""
RESULT = re.compile(r'<pre id="bn-check">(.*?)</pre>', re.S)


def find_browser() -> str:
    for name in BROWSERS:
        if shutil.which(name):
            return shutil.which(name)
    raise UserError("check-html: no Chromium found (looked for " + ", ".join(BROWSERS) + "); install it, "
                    "e.g. apt-get install -y chromium")


def _run(browser: str, args: list[str], page: Path) -> str:
    done = subprocess.run([browser, *FLAGS, *args, page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=120)
    return done.stdout


def broken_links(page: Path) -> list[str]:
    """Relative links in the page whose target file does not exist."""
    targets = re.findall(r'href="([^"#:]+)(?:#[^"]*)?"', page.read_text())
    return [f"link to a missing file: {t}" for t in targets if not (page.parent / t).exists()]


def check_page(page: Path, screenshot: Path, browser: str) -> list[str]:
    """The problems a reader of `page` would meet (empty when none); writes `screenshot`."""
    probe = page.with_name(f".check-{page.name}")
    text = page.read_text()
    probe.write_text(text.replace("<head>", "<head>" + CHECKER, 1) if "<head>" in text else CHECKER + text)
    try:
        match = RESULT.search(_run(browser, ["--dump-dom"], probe))
    finally:
        probe.unlink()
    if not match:
        return ["the page did not finish loading within 5 s of virtual time"]
    report = json.loads(match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    _run(browser, ["--window-size=1280,2000", f"--screenshot={screenshot}"], page)
    return report["problems"] + broken_links(page)


def default_pages(results_root: Path) -> list[Path]:
    """results/index.html and every REPORT.html, COMPARE.html and speed measurement's README.html under results/."""
    pages = [results_root / "index.html"] if (results_root / "index.html").is_file() else []
    return pages + sorted(results_root.glob("**/REPORT.html")) + sorted(results_root.glob("**/COMPARE.html")) + sorted(
        results_root.glob("*/README.html"))


def check_pages(pages: list[Path], screenshots: Path, log=print) -> int:
    """Check each page; returns how many have problems, after logging one line per problem."""
    browser = find_browser()
    failed = 0
    for page in pages:
        if not page.is_file():
            raise UserError(f"check-html: {page}: no such file")
        name = "_".join(page.with_suffix(".png").parts[-2:])
        problems = check_page(page, screenshots / name, browser)
        failed += bool(problems)
        log(f"{'FAIL' if problems else 'ok  '} {page}" + "".join(f"\n     {p}" for p in problems))
    return failed
