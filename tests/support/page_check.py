#!/usr/bin/python3
"""page_check.py - opens a page in headless Chromium and reports what a reader sees.

    page_check.py PAGE.html SCREENSHOT.png [DARK_SCREENSHOT.png]

Drives Chromium over the DevTools protocol (python3-websocket): console
messages of level error, uncaught exceptions and failed loads are collected
while the page loads; then every <img> and every <svg class="chart"> is
measured (loaded, natural size, box on the page, computed visibility) and a
full-page screenshot is written. Prints one JSON object:

    {"console_errors": [...], "images": [{"src", "complete", "natural_width",
     "width", "height", "visible"}], "charts": [{"id", "width", "height",
     "visible"}], "text": "<the page's innerText>",
     "contrast": {"min": R, "worst": "<text of the element>"}}

"contrast" is the lowest WCAG contrast ratio between the colour of any HTML
text and the background it stands on (the nearest ancestor's opaque
background). With DARK_SCREENSHOT the page is measured again with
prefers-color-scheme: dark, reported as "dark_contrast", and shot again.

Exit status: 0 with the report, 77 when Chromium is not installed (the
caller skips), 1 on any other failure.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

MEASURE = r"""
(() => {
  const seen = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return {width: r.width, height: r.height,
            visible: s.display !== 'none' && s.visibility !== 'hidden' && parseFloat(s.opacity) > 0};
  };
  const images = [...document.images].map((i) => Object.assign(seen(i), {
    src: i.src.slice(0, 80), complete: i.complete, natural_width: i.naturalWidth}));
  const charts = [...document.querySelectorAll('svg.chart')].map((c) => Object.assign(seen(c), {id: c.id}));
  return JSON.stringify({images, charts, text: document.body ? document.body.innerText : '', contrast: contrast()});
})()
"""

CONTRAST = r"""
var contrast = () => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let min = 21, worst = '';
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg')) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < min) { min = ratio; worst = el.textContent.trim().slice(0, 60); }
  }
  return {min, worst};
};
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Cdp:
    """A DevTools connection: call() waits for its reply, events pile up."""

    def __init__(self, ws_url):
        import websocket  # python3-websocket (websocket-client)

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_for(self, method, timeout_s):
        end = time.time() + timeout_s
        while time.time() < end:
            for e in self.events:
                if e["method"] == method:
                    return e
            self.ws.settimeout(max(0.1, end - time.time()))
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
        raise RuntimeError("no %s within %d s" % (method, timeout_s))


def errors_of(events):
    out = []
    for e in events:
        p = e.get("params", {})
        if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif e["method"] == "Runtime.exceptionThrown":
            out.append("exception: " + p.get("exceptionDetails", {}).get("text", ""))
        elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            out.append("log: %s %s" % (entry.get("text", ""), entry.get("url", "")))
        elif e["method"] == "Network.loadingFailed":
            out.append("load failed: %s" % p.get("errorText", ""))
    return out


def measure(cdp, shot):
    """The page's report (see above), and a full-page screenshot to |shot|."""
    measured = cdp.call("Runtime.evaluate", expression=CONTRAST + MEASURE, returnByValue=True)
    if "exceptionDetails" in measured:
        raise RuntimeError("measuring failed: %s" % measured["exceptionDetails"])
    report = json.loads(measured["result"]["value"])
    metrics = cdp.call("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    png = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                   clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png["data"]))
    return report


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 64
    page, shot = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    dark_shot = os.path.abspath(sys.argv[3]) if len(sys.argv) == 4 else None
    exe = chromium()
    if not exe:
        print("chromium is not installed", file=sys.stderr)
        return 77
    profile = tempfile.mkdtemp(prefix="page-check-")
    proc = subprocess.Popen(
        [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--user-data-dir=" + profile, "--window-size=800,1200", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
                break
            time.sleep(0.1)
        port = int(open(port_file).read().split("\n")[0])
        targets = json.load(urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10))
        target = next(t for t in targets if t.get("type") == "page")
        cdp = Cdp(target["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Network", "Page"):
            cdp.call(domain + ".enable")
        cdp.events.clear()
        cdp.call("Page.navigate", url="file://" + page)
        cdp.wait_for("Page.loadEventFired", 30)
        time.sleep(0.3)   # late console messages
        report = measure(cdp, shot)
        if dark_shot:
            cdp.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
            report["dark_contrast"] = measure(cdp, dark_shot)["contrast"]
        report["console_errors"] = errors_of(cdp.events)
        print(json.dumps(report))
        return 0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
