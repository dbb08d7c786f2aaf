"""Open an HTML file in headless Chromium and report what a reader would see go wrong.

Two independent nets, both without a DevTools client or extra Python packages:
- a probe script, put first in a copy of the page's <head>, records error events
  (a broken image or a script error; in the capture phase, so resource errors count
  too) and console.error/warn calls, and at the load event writes every image's
  naturalWidth and those errors into the DOM, which `--dump-dom` prints once the
  page has loaded (`--virtual-time-budget` lets it finish without a real-time wait);
- `--enable-logging=stderr --v=0` prints every console message of the page as a
  `CONSOLE` line, which also catches messages the browser itself writes to the page's
  console (blocked resources, security errors) that no script in the page sees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (event) {
    var target = event.target;
    errors.push(target && target.tagName ? "failed to load " + target.tagName + " " + (target.alt || "")
                                         : String(event.message));
  }, true);
  window.addEventListener("unhandledrejection", function (event) { errors.push(String(event.reason)); });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      errors.push("console." + level + ": " + Array.prototype.join.call(arguments, " "));
      return original.apply(console, arguments);
    };
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.map.call(document.images, function (image) {
      return {alt: image.alt, complete: image.complete, naturalWidth: image.naturalWidth};
    });
    var out = document.createElement("pre");
    out.id = "cmx-probe";
    out.textContent = JSON.stringify({images: images, errors: errors});
    document.body.appendChild(out);
  });
})();
</script>"""
_RESULT = re.compile(r'<pre id="cmx-probe">(.*?)</pre>', re.S)
_CONSOLE = re.compile(r":CONSOLE[:(].*")


def find_chromium() -> str | None:
    """The Chromium executable ($CMX_CHROMIUM, else the first of CHROMIUM_NAMES on PATH), or None."""
    if os.environ.get("CMX_CHROMIUM"):
        return os.environ["CMX_CHROMIUM"]
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def check_page(page: Path, chromium: str, timeout: float = 120) -> dict:
    """{"images": [{alt, complete, naturalWidth}], "errors": [...], "console": [console lines]} of page."""
    html = Path(page).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="cmx-chromium-") as folder:
        probed = Path(folder) / "probed.html"
        # the copy sits beside nothing: the report must not need any file but itself
        probed.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
        profile = Path(folder) / "profile"
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    found = _RESULT.search(done.stdout)
    if not found:
        raise RuntimeError(f"chromium gave no probe result (exit {done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(_unescape(found.group(1)))
    result["console"] = [m.group(0) for m in map(_CONSOLE.search, done.stderr.splitlines()) if m]
    return result


def screenshot(page: Path, chromium: str, out: Path, width: int = 1200, height: int = 2000) -> None:
    """A PNG of the page's top width x height pixels (for the README)."""
    with tempfile.TemporaryDirectory(prefix="cmx-chromium-") as profile:
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--hide-scrollbars",
                        f"--window-size={width},{height}", f"--screenshot={out}", Path(page).resolve().as_uri()],
                       capture_output=True, check=True, timeout=120)
