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
CHECKER = """<script>(function(){var found=[],acted=[];
window.addEventListener('error',function(e){var t=e.target;found.push(t&&t.tagName?'failed to load <'+
 t.tagName.toLowerCase()+'> '+(t.src||t.href||''):'script error: '+e.message);},true);
['error','warn'].forEach(function(k){var f=console[k];console[k]=function(){found.push('console.'+k+': '+
 Array.prototype.join.call(arguments,' '));f.apply(console,arguments);};});
function finish(){performance.getEntriesByType('resource').forEach(function(r){if(/^https?:/.test(r.name))
  found.push('network request: '+r.name);});
 var out=document.createElement('pre');out.id='bn-check';out.textContent=JSON.stringify(
  {problems:found,images:document.images.length,plots:acted});document.body.appendChild(out);}
function act(gd){var full=gd._fullData,i=-1;
 for(var j=0;j<full.length;j++){if(full[j].hoverinfo!=='skip'&&full[j].visible===true){i=j;break;}}
 if(i<0){found.push('a plot without a trace to hover');return;}
 var t=full[i],heat=t.type==='heatmap',k,expected;
 if(heat){var r=0,c=0;outer:for(r=0;r<t.z.length;r++){for(c=0;c<t.z[r].length;c++){if(t.z[r][c]!==null)break outer;}}
  k=[r,c];expected=t.customdata[r][c][6];}
 else{k=Math.floor(t.y.length/2);expected=Number(t.y[k]).toFixed(4);}
 if(heat){Plotly.Fx.hover(gd,{xval:k[1],yval:k[0]},(t.xaxis||'x')+(t.yaxis||'y'));}
 else{Plotly.Fx.hover(gd,[{curveNumber:i,pointNumber:k}]);}
 var layer=gd.querySelector('.hoverlayer'),tip=layer?layer.textContent:'';Plotly.Fx.unhover(gd);
 var record={trace:t.name||t.type,point:k,expected:String(expected),tooltip:tip};acted.push(record);
 if(tip.indexOf(String(expected))<0)found.push('hover: the tooltip ('+tip.slice(0,80)+') lacks '+expected);
 var toggle=gd.querySelector('.legend .traces .legendtoggle');record.legend=!!toggle;
 if(toggle){var o={bubbles:true,cancelable:true,view:window,button:0};
  toggle.dispatchEvent(new MouseEvent('mousedown',o));toggle.dispatchEvent(new MouseEvent('mouseup',o));}}
window.addEventListener('load',function(){
 Array.prototype.forEach.call(document.images,function(i){if(!i.complete||i.naturalWidth===0)
  found.push('image not shown: '+(i.alt||i.src.slice(0,60)));});
 var plots=document.querySelectorAll('.js-plotly-plot');if(!plots.length){finish();return;}
 setTimeout(function(){Array.prototype.forEach.call(plots,function(gd){try{act(gd);}catch(e){found.push('acting on the plot: '+e);}});
  setTimeout(function(){Array.prototype.forEach.call(plots,function(gd,n){var rec=acted[n];if(!rec||!rec.legend)return;
   rec.hidden=gd._fullData.filter(function(t){return t.visible==='legendonly';}).length;
   if(!rec.hidden)found.push('legend click: no trace hidden');});finish();},1200);},300);});})();</script>"""
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


def check_page(page: Path, screenshot: Path, browser: str, interactions: list | None = None) -> list[str]:
    """The problems a reader of `page` would meet (empty when none); writes `screenshot`. On an interactive
    page the check also hovers a point of each plot (its tooltip must show the value the page holds) and
    clicks its first legend entry (a trace must hide); what it saw goes into `interactions`."""
    interactions = [] if interactions is None else interactions
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
    interactions.extend(report.get("plots", []))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    _run(browser, ["--window-size=1280,2000", f"--screenshot={screenshot}"], page)
    return report["problems"] + broken_links(page)


def default_pages(results_root: Path) -> list[Path]:
    """results/index.html and every page it leads to: each REPORT.html, COMPARE.html, interactive page
    (plots/*.html) and measurement's README.html (the profiles' too), results/local/ aside."""
    pages = [results_root / "index.html"] if (results_root / "index.html").is_file() else []
    found = [p for pattern in ("**/REPORT.html", "**/COMPARE.html", "**/plots/*.html", "*/README.html", "*/*/README.html")
             for p in sorted(results_root.glob(pattern))]
    local = results_root / "local"
    return pages + [p for p in dict.fromkeys(found) if not p.is_relative_to(local) and not p.name.startswith(".")]


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
