#!/usr/bin/python3
"""The web page at `/`, driven in headless Chromium through the DevTools protocol.

Starts a server (`chexrt serve`, or tests/server/fake_predict_server.py), opens its page, uploads
a real X-ray through the file input and checks what a user would see against the server's own
answer to the same file: the 14 findings as bars sorted by probability with their percentages,
the heat map of the top finding over the X-ray, the demo banner exactly when the model is the
demo one, the opacity slider moved with the keyboard, a new heat map when another finding is
chosen, and the server's message when the file is not an image. Saves a screenshot.

    web_page_test.py --server "CMD ... {port} ..." [--needs "CMD" --needs-text T] [--image X.png]
                     [--screenshot out.png] [--chromium chromium]

{port} in the server command is replaced by a free port. --needs names a command that must
succeed, printing --needs-text, for the test to make sense (`chexrt serve --help` printing
--grpc-port: a chexrt without `serve` prints its general help); when it does not, or Chromium
is missing, the test is skipped (exit 77) with the reason. The screenshot path may also come from
CHEXRT_WEB_SCREENSHOT.
"""
import argparse
import base64
import importlib.util
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

SKIP = 77
ROOT = Path(__file__).resolve().parents[2]


class Failure(Exception):
    pass


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, content_type=None, timeout=120):
    """(status, JSON body) of a GET, or of a POST when data is given."""
    request = urllib.request.Request(url, data=data)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class Process:
    """A child process whose output goes to a log file shown when something goes wrong."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.log_path = Path(workdir) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def check_alive(self):
        if self.proc.poll() is not None:
            raise Failure(f"{self.name} exited with status {self.proc.returncode}:\n{self.output()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class DevTools:
    """A minimal Chrome DevTools protocol client over one page's WebSocket."""

    def __init__(self, url):
        import websocket  # Debian: python3-websocket
        self.ws = websocket.create_connection(url, timeout=120, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise Failure(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise Failure(f"evaluating {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def page_errors(self):
        errors = []
        for event in self.events:
            if event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                errors.append(details.get("exception", {}).get("description") or details.get("text"))
            elif event.get("method") == "Runtime.consoleAPICalled" and event["params"]["type"] == "error":
                errors.append(" ".join(str(a.get("value", a.get("description"))) for a in event["params"]["args"]))
        return errors

    def wait_for(self, expression, what, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.1)
        shown = self.evaluate("JSON.stringify({status: document.getElementById('status').textContent,"
                              " error: document.getElementById('error').textContent})")
        raise Failure(f"timed out after {timeout} s waiting for {what}; the page shows {shown}")

    def set_file(self, path):
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
        self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def press(self, key, code):
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code)


def start_chromium(chromium, workdir):
    profile = Path(workdir) / "profile"
    browser = Process("chromium", [
        chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"], workdir)
    # With port 0 Chromium picks a free port and writes it to DevToolsActivePort.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not port_file.exists() or len(port_file.read_text().split()) < 2:
        browser.check_alive()
        if time.monotonic() > deadline:
            raise Failure(f"Chromium did not open its DevTools port in 60 s:\n{browser.output()}")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
        pages = [t for t in json.loads(response.read()) if t["type"] == "page"]
    if not pages:
        raise Failure("Chromium has no page to drive")
    return browser, DevTools(pages[0]["webSocketDebuggerUrl"])


def wait_ready(server, base, timeout):
    """GET /v1/info's answer once GET /v2/health/ready says the model can answer (the server
    listens, and answers /v1/info, while its engine is still being built)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=5) as response:
                if response.status == 200:
                    status, info = http(f"{base}/v1/info", timeout=5)
                    if status != 200:
                        raise Failure(f"GET /v1/info answered {status}: {info}")
                    return info
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise Failure(f"the server was not ready (GET /v2/health/ready) within {timeout} s:\n{server.output()}")


def check(condition, message):
    if not condition:
        raise Failure(message)
    print(f"ok: {message}")


HEATMAP_STATE = """(() => { const h = document.getElementById('heatmap');
  return {finding: h.dataset.finding, complete: h.complete, hidden: h.hidden, width: h.naturalWidth,
          height: h.naturalHeight, src: h.src, opacity: getComputedStyle(h).opacity}; })()"""

# Share of the heat map's pixels that are coloured (the X-ray under it is grey).
COLOURED_SHARE = """(() => { const h = document.getElementById('heatmap');
  const c = document.createElement('canvas'); c.width = h.naturalWidth; c.height = h.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(h, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 0; i < d.length; i += 4) {
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 24) n++; }
  return n / (c.width * c.height); })()"""


def save_screenshot(page, out):
    """The whole page, 1280 px wide, as a PNG written atomically."""
    page.evaluate("document.activeElement.blur()")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.call("Emulation.setDeviceMetricsOverride", width=1280, height=height, deviceScaleFactor=1, mobile=False)
    png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(png)
    os.replace(tmp, out)  # a reader never sees half a PNG
    check(png[:8] == b"\x89PNG\r\n\x1a\n", f"screenshot saved to {out} ({len(png)} bytes)")


def predict(base, path, query="heatmap=1", content_type="application/octet-stream"):
    """The server's own answer for a file, which the page must show."""
    status, answer = http(f"{base}/v1/predict?{query}", Path(path).read_bytes(), content_type)
    return status, answer


def check_page_opens(page, base, info):
    page.call("Page.navigate", url=f"{base}/")
    page.wait_for("document.readyState === 'complete' && "
                  "!document.getElementById('model').textContent.startsWith('connecting')", "the page to load")
    unlabelled = page.evaluate("[...document.querySelectorAll('input, select, button')].filter(e =>"
                               " !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id)")
    check(unlabelled == [], "every control of the page has a label")
    banner = page.evaluate("(() => { const b = document.getElementById('demo-banner');"
                           " return {shown: !b.hidden && b.offsetHeight > 0, text: b.textContent}; })()")
    demo = bool(info["model"].get("demo"))
    check(banner["shown"] == demo, f"the demo banner is {'shown' if demo else 'hidden'} as /v1/info says")
    if demo:
        check("not for diagnosis" in banner["text"].lower(), "the banner says: not for diagnosis")


def check_bars(page, info, result, top):
    """The 14 bars show `result`'s findings, most probable first, `top` (if any) marked. Their names."""
    probability = {f["name"]: f["probability"] for f in result["findings"]}
    rows = page.evaluate("[...document.querySelectorAll('#findings .finding')].map(b => ({name: b.dataset.name,"
                         " label: b.querySelector('.name').textContent, pct: b.querySelector('.pct').textContent,"
                         " width: parseFloat(b.querySelector('.fill').style.width),"
                         " pressed: b.getAttribute('aria-pressed')}))")
    names = [r["name"] for r in rows]
    check(sorted(names) == sorted(info["findings"]), "the 14 bars name the 14 findings of /v1/info")
    check(all(probability[a] >= probability[b] for a, b in zip(names, names[1:])),
          f"the bars are sorted by probability, {names[0]} first")
    for r in rows:
        p = probability[r["name"]]
        if r["label"] != r["name"].replace("_", " ") or r["pct"] != f"{p * 100:.1f}%" or abs(r["width"] - p * 100) > 1e-3:
            raise Failure(f"bar {r} does not show {r['name']} at probability {p}")
    check(True, "each bar shows its finding's name, percentage and length")
    check([r["name"] for r in rows if r["pressed"] == "true"] == ([top] if top else []),
          f"the shown finding's bar ({top}) is marked" if top else "no bar is marked")
    return names


def check_upload(page, base, info, image):
    status, answer = predict(base, image)
    if status != 200:
        raise Failure(f"POST /v1/predict of {image} answered {status}: {answer}")
    result = answer["results"][0]
    top = result["heatmaps"][0]["finding"]
    page.set_file(image)
    page.wait_for("document.querySelectorAll('#findings .finding').length === 14 && "
                  "(() => { const h = document.getElementById('heatmap');"
                  " return !h.hidden && h.complete && h.naturalWidth > 0; })()",
                  "the findings and the heat map")
    names = check_bars(page, info, result, top)
    xray = page.evaluate("(() => { const x = document.getElementById('xray');"
                         " return {w: x.naturalWidth, h: x.naturalHeight, hidden: x.hidden}; })()")
    heat = page.evaluate(HEATMAP_STATE)
    check(not xray["hidden"] and (xray["w"], xray["h"]) == (result["width"], result["height"]),
          f"the X-ray is shown ({xray['w']}x{xray['h']})")
    scale = min(1.0, 1024 / max(xray["w"], xray["h"]))
    check(heat["finding"] == top and abs(heat["width"] - xray["w"] * scale) <= 1
          and abs(heat["height"] - xray["h"] * scale) <= 1,
          f"the heat map of {top} is loaded ({heat['width']}x{heat['height']})")
    check(page.evaluate(COLOURED_SHARE) > 0.01, "the heat map is coloured over the grey X-ray")
    check(page.evaluate("document.getElementById('finding').value") == top, "the finding selector shows it")
    return names


def check_opacity(page):
    page.evaluate("document.getElementById('opacity').focus()")
    page.press("ArrowLeft", 37)
    heat = page.evaluate(HEATMAP_STATE)
    check(page.evaluate("document.getElementById('opacity').value") == "55" and abs(float(heat["opacity"]) - 0.55) < 1e-6,
          "the opacity slider moves with the keyboard and sets the heat map's opacity (55%)")


def requests_sent(page):
    return [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]


def choose(page, select, value):
    page.evaluate(f"(() => {{ const s = document.getElementById({json.dumps(select)}); s.value = {json.dumps(value)};"
                  " s.dispatchEvent(new Event('change', {bubbles: true})); })()")


def check_finding_change(page, other):
    old_src = page.evaluate(HEATMAP_STATE)["src"]
    choose(page, "finding", other)
    page.wait_for(f"(() => {{ const h = document.getElementById('heatmap'); return h.dataset.finding === "
                  f"{json.dumps(other)} && h.complete && h.naturalWidth > 0; }})()", f"the heat map of {other}")
    heat = page.evaluate(HEATMAP_STATE)
    check(any("/v1/predict?" in u and f"heatmap={urllib.parse.quote_plus(other)}" in u for u in requests_sent(page)),
          f"choosing {other} asks POST /v1/predict?heatmap={other}")
    check(heat["src"] != old_src and heat["width"] > 0 and heat["height"] > 0,
          f"a new heat map ({other}, {heat['width']}x{heat['height']}) replaces the old one")


def check_mode_change(page, base, info, image, finding):
    """Another preprocessing mode asks again, keeping the chosen finding's heat map."""
    status, answer = predict(base, image, f"mode=exact&heatmap={urllib.parse.quote_plus(finding)}")
    if status != 200:
        raise Failure(f"POST /v1/predict?mode=exact of {image} answered {status}: {answer}")
    choose(page, "mode", "exact")
    page.wait_for("document.getElementById('meta').textContent.includes('mode exact') && "
                  "(() => { const h = document.getElementById('heatmap');"
                  " return !h.hidden && h.complete && h.naturalWidth > 0; })()", "the answer in mode exact")
    check(any("mode=exact" in u for u in requests_sent(page)), "choosing mode exact asks POST /v1/predict?mode=exact")
    check_bars(page, info, answer["results"][0], finding)


def check_dicom(page, base):
    """The browser cannot draw DICOM, so the heat map is the picture."""
    dicom = ROOT / "data/cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"
    status, answer = predict(base, dicom, "mode=exact&heatmap=1", "application/dicom")
    if status != 200:
        print(f"note: the server does not read DICOM here ({status}: {answer.get('error')}); DICOM step left out")
        return
    page.set_file(dicom)
    page.wait_for("document.getElementById('viewer').classList.contains('no-xray') && "
                  "(() => { const h = document.getElementById('heatmap');"
                  " return !h.hidden && h.complete && h.naturalWidth > 0; })()", "the DICOM file's heat map")
    heat = page.evaluate(HEATMAP_STATE)
    note = page.evaluate("document.getElementById('note').hidden ? '' : document.getElementById('note').textContent")
    check(heat["finding"] == answer["results"][0]["heatmaps"][0]["finding"] and float(heat["opacity"]) == 1.0
          and "DICOM" in note, "a DICOM file is shown as its opaque heat map, with a note")


def check_without_heatmaps(page, base, info, image):
    """A server that draws no heat maps (`chexrt serve --engine`): the findings, and why no map."""
    status, answer = predict(base, image)
    check(status == 400 and "heatmap" in answer.get("error", ""), f"the server refuses heat maps: {answer.get('error')}")
    reason = answer["error"]
    status, answer = predict(base, image, "")
    if status != 200:
        raise Failure(f"POST /v1/predict of {image} answered {status}: {answer}")
    page.set_file(image)
    page.wait_for("document.querySelectorAll('#findings .finding').length === 14", "the findings")
    check_bars(page, info, answer["results"][0], None)
    state = page.evaluate("({note: document.getElementById('note').hidden ? '' : document.getElementById('note').textContent,"
                          " error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,"
                          " heatmap: document.getElementById('heatmap').hidden,"
                          " selector: document.getElementById('finding').disabled,"
                          " xray: !document.getElementById('xray').hidden})")
    check(reason in state["note"] and not state["error"], f"the page says why there is no heat map: {state['note']!r}")
    check(state["heatmap"] and state["selector"] and state["xray"], "the X-ray is shown, with no heat map or selector")


def check_not_an_image(page, base, workdir, query):
    """The server's complaint is shown, and no findings. `query`: what the page will ask."""
    junk = Path(workdir) / "notes.txt"
    junk.write_text("These are notes, not an X-ray.\n")
    status, answer = predict(base, junk, query)
    check(status == 400 and answer.get("error"), f"the server refuses a text file: {answer.get('error')}")
    page.set_file(junk)
    page.wait_for("!document.getElementById('error').hidden", "the error message")
    shown = page.evaluate("document.getElementById('error').textContent")
    check("400" in shown and answer["error"] in shown, f"the page shows it: {shown!r}")
    check(page.evaluate("document.querySelectorAll('#findings .finding').length") == 0
          and page.evaluate("document.getElementById('heatmap').hidden"), "and no findings or heat map")


def run(args, workdir):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Process("server", [a.replace("{port}", str(port)) for a in shlex.split(args.server)], workdir)
    browser = None
    try:
        info = wait_ready(server, base, args.startup_timeout)
        check(len(info["findings"]) == 14, f"GET /v1/info lists 14 findings; demo model: {info['model'].get('demo')}")
        browser, page = start_chromium(args.chromium, workdir)
        for domain in ("Page", "Runtime", "Network"):
            page.call(f"{domain}.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        check_page_opens(page, base, info)
        image = Path(args.image).resolve()
        if args.no_heatmaps:
            check_without_heatmaps(page, base, info, image)
            check_not_an_image(page, base, workdir, "mode=crop")
        else:
            names = check_upload(page, base, info, image)
            if args.screenshot:
                save_screenshot(page, Path(args.screenshot))
            check_opacity(page)
            other = names[-1]  # the least probable finding, so that it differs from the top one
            check_finding_change(page, other)
            check_mode_change(page, base, info, image, other)
            check_dicom(page, base)
            check_not_an_image(page, base, workdir, "mode=exact&heatmap=1")
        errors = page.page_errors()
        check(errors == [], f"no script errors on the page{': ' + str(errors) if errors else ''}")
        page.call("Browser.close")
    finally:
        if browser:
            browser.stop()
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="server command line; {port} is replaced by a free port")
    parser.add_argument("--needs", help="a command that must succeed, else the test is skipped")
    parser.add_argument("--needs-text", help="text that --needs must print, else the test is skipped")
    parser.add_argument("--image", default=str(ROOT / "data/cxr/nih/00000284_000.png"))
    parser.add_argument("--screenshot", default=os.environ.get("CHEXRT_WEB_SCREENSHOT"))
    parser.add_argument("--no-heatmaps", action="store_true",
                        help="the server draws no heat maps (answers ?heatmap= with 400): check the page copes")
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--startup-timeout", type=float, default=300)
    args = parser.parse_args()

    if not shutil.which(args.chromium):
        skip(f"{args.chromium} is not installed (Debian: chromium; scripts/install_deps.sh installs it)")
    if importlib.util.find_spec("websocket") is None:
        skip("python3-websocket is not installed (scripts/install_deps.sh installs it)")
    if args.needs:
        try:
            probe = subprocess.run(shlex.split(args.needs), capture_output=True, text=True, timeout=60)
        except OSError as e:
            skip(f"`{args.needs}` cannot run: {e}")
        said = (probe.stdout + probe.stderr).strip()
        if probe.returncode != 0:
            skip(f"`{args.needs}` failed ({probe.returncode}): {said[:300]}")
        if args.needs_text and args.needs_text not in said:
            skip(f"`{args.needs}` does not mention {args.needs_text}: this build has no such command")
    with tempfile.TemporaryDirectory(prefix="chexrt_web_") as workdir:
        try:
            run(args, workdir)
        except Failure as e:
            print(f"FAILED: {e}")
            return 1
    print("web page test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
