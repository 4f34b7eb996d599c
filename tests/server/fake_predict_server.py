#!/usr/bin/python3
"""A stand-in for `chexrt serve`'s web side: GET /, GET /v1/info, POST /v1/predict (and the
health checks GET /v2/health/live and /ready, always 200) as
docs/server.md specifies them, with made-up numbers. It lets the web page and its browser test
run without building the engine.

The probabilities are derived from a hash of the mode and the decoded pixels (the same image
and mode always get the same numbers, different ones different numbers); each heat map is the X-ray, capped at 1024
px on its longer side, with a blob placed by the finding coloured over it in the blue -> red
"jet" scale, as the real server draws its class activation maps. Nothing here is a model.

    fake_predict_server.py [--host 127.0.0.1] [--port 8000] [--page src/server/web/index.html]
                           [--no-heatmaps]

--no-heatmaps answers a heatmap parameter with 400, as `chexrt serve --engine` does (an engine
file holds no classifier weights to draw class activation maps from).
"""
import argparse
import base64
import email.parser
import email.policy
import hashlib
import io
import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

FINDINGS = [
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
]
MODES = ["crop", "exact", "tencrop"]
MODEL = {
    "name": "chexnet", "version": "1", "demo": True,
    "warning": "Untrained demo model with seeded weights: its outputs are not findings. Not for diagnosis.",
}
MAX_BODY_BYTES = 64 << 20
HEATMAP_MAX_SIDE = 1024
NO_HEATMAPS = "heatmap: this server has no heat maps (an engine file was served)"


class BadRequest(Exception):
    pass


def finding_index(name):
    """As chexrt's finding_index(): case ignored, ' ' read as '_'."""
    wanted = name.strip().replace(" ", "_").lower()
    for k, finding in enumerate(FINDINGS):
        if finding.lower() == wanted:
            return k
    raise BadRequest(f"heatmap: unknown finding '{name}'; valid: 1, all, {', '.join(FINDINGS)}")


def decode(name, data):
    """The image as 8-bit grey, or BadRequest naming the file and what is wrong."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        try:
            import pydicom
            ds = pydicom.dcmread(io.BytesIO(data))
            pixels = ds.pixel_array.astype(np.float64)
        except Exception as e:  # pydicom raises many types; the message is what matters
            raise BadRequest(f"{name}: DICOM: {e}")
        lo, hi = float(pixels.min()), float(pixels.max())
        grey = (pixels - lo) * (255.0 / max(hi - lo, 1.0))
        if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
            grey = 255.0 - grey
        return Image.fromarray(grey.round().astype(np.uint8), "L")
    kind = "PNG" if data[:8] == b"\x89PNG\r\n\x1a\n" else "JPEG" if data[:3] == b"\xff\xd8\xff" else None
    if kind:
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as e:
            raise BadRequest(f"{name}: {kind}: {e}")
        if image.mode in ("I;16", "I;16B", "I"):
            pixels = np.asarray(image, dtype=np.float64)
            return Image.fromarray((pixels * (255.0 / max(pixels.max(), 1.0))).astype(np.uint8), "L")
        return image.convert("L")
    raise BadRequest(f"{name}: not a PNG, JPEG or DICOM file (it starts with bytes {data[:8].hex(' ')})")


def probabilities(grey, mode):
    digest = hashlib.sha256(mode.encode() + grey.tobytes()).digest()
    return [round(0.02 + 0.9 * (digest[k] / 255.0) ** 2, 6) for k in range(len(FINDINGS))]


def heatmap_png(grey, finding):
    scale = min(1.0, HEATMAP_MAX_SIDE / max(grey.size))
    size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    xray = np.asarray(grey.resize(size, Image.BILINEAR), dtype=np.float64)
    h, w = xray.shape
    # A blob whose place depends on the finding, so that each finding's map differs.
    angle = 2 * np.pi * finding / len(FINDINGS)
    cy, cx = 0.5 + 0.22 * np.sin(angle), 0.5 + 0.22 * np.cos(angle)
    y = (np.arange(h)[:, None] + 0.5) / h
    x = (np.arange(w)[None, :] + 0.5) / w
    m = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 0.16 ** 2))
    jet = np.stack([np.clip(1.5 - np.abs(4 * m - k), 0, 1) for k in (3, 2, 1)], axis=-1) * 255
    alpha = (0.6 * m)[..., None]  # opacity falls linearly to 0 where the map is 0
    rgb = xray[..., None] * (1 - alpha) + jet * alpha
    out = io.BytesIO()
    Image.fromarray(rgb.round().astype(np.uint8), "RGB").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def files_of(content_type, body):
    """[(name, bytes)]: the parts of a multipart body, or the body itself."""
    if content_type.lower().startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        parts = [(p.get_filename() or p.get_param("name", header="content-disposition") or f"part{k}",
                  p.get_payload(decode=True) or b"")
                 for k, p in enumerate(message.iter_parts())]
        if not parts:
            raise BadRequest("body: multipart/form-data without parts")
        return parts
    if not body:
        raise BadRequest("body: empty; send a PNG, JPEG or DICOM file")
    return [("upload", body)]


def predict(query, content_type, body, heatmaps_available=True):
    params = urllib.parse.parse_qs(query)
    mode = params.get("mode", ["crop"])[0]
    if mode not in MODES:
        raise BadRequest(f"mode: '{mode}' is not one of {', '.join(MODES)}")
    heatmap = params.get("heatmap", [""])[0]
    if heatmap not in ("", "0") and not heatmaps_available:
        raise BadRequest(NO_HEATMAPS)
    fixed = None
    if heatmap not in ("", "0", "1", "all"):
        fixed = finding_index(heatmap)
    results = []
    for name, data in files_of(content_type, body):
        try:
            grey = decode(name, data)
        except BadRequest as e:
            results.append({"file": name, "error": str(e)})
            continue
        probs = probabilities(grey, mode)
        result = {"file": name, "width": grey.width, "height": grey.height,
                  "findings": [{"name": n, "probability": p} for n, p in zip(FINDINGS, probs)]}
        if heatmap == "all":
            wanted = list(range(len(FINDINGS)))
        elif heatmap == "1":
            wanted = [int(np.argmax(probs))]
        else:
            wanted = [] if fixed is None else [fixed]
        if wanted:
            result["heatmaps"] = [{"finding": FINDINGS[k], "png_base64": heatmap_png(grey, k)} for k in wanted]
        results.append(result)
    if all("error" in r for r in results):
        raise BadRequest("; ".join(r["error"] for r in results))
    return {"model": MODEL, "mode": mode, "results": results}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up early is no fault of the server's.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    page = b""
    heatmaps_available = True
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # the test's output stays readable
        pass

    def answer(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            self.answer(200, self.page, "text/html; charset=utf-8")
        elif path in ("/v2/health/live", "/v2/health/ready"):
            self.answer(200, b"", "text/plain")
        elif path == "/v1/info":
            self.answer(200, {"model": MODEL, "findings": FINDINGS, "modes": MODES, "max_body_bytes": MAX_BODY_BYTES})
        else:
            self.answer(404, {"error": f"{path}: no such resource"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.answer(413, {"error": f"body: {length} bytes; the limit is {MAX_BODY_BYTES}"})
            self.close_connection = True
            return
        body = self.rfile.read(length)
        if url.path != "/v1/predict":
            self.answer(404, {"error": f"{url.path}: no such resource"})
            return
        try:
            self.answer(200, predict(url.query, self.headers.get("Content-Type", ""), body, self.heatmaps_available))
        except BadRequest as e:
            self.answer(400, {"error": str(e)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--page", type=Path,
                        default=Path(__file__).resolve().parents[2] / "src/server/web/index.html")
    parser.add_argument("--no-heatmaps", action="store_true", help="refuse the heatmap parameter (400)")
    args = parser.parse_args()
    Handler.page = args.page.read_bytes()
    Handler.heatmaps_available = not args.no_heatmaps
    server = Server((args.host, args.port), Handler)
    print(f"fake_predict_server: listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
