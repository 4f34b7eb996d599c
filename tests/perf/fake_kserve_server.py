#!/usr/bin/python3
"""A stand-in for `chexrt serve` in the command's tests: health, v2 binary inference, /v1/predict and
/metrics (1 ms queue and 2 ms compute per request answered). Every FAIL_EVERY-th inference is
answered 503. Prints its port on the first line of stdout, then serves until killed."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAIL_EVERY = int(sys.argv[1]) if len(sys.argv) > 1 else 0
lock = threading.Lock()
state = {"requests": 0, "answered": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load client expects
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v2/health/ready":
            return self.reply(200, b"")
        if self.path == "/metrics":
            with lock:
                n = state["answered"]
            text = (f"chexrt_queue_duration_seconds_sum{{model=\"chexnet\"}} {n * 0.001!r}\n"
                    f"chexrt_queue_duration_seconds_count{{model=\"chexnet\"}} {n}\n"
                    f"chexrt_compute_duration_seconds_sum{{model=\"chexnet\"}} {n * 0.002!r}\n"
                    f"chexrt_compute_duration_seconds_count{{model=\"chexnet\"}} {n}\n")
            return self.reply(200, text.encode(), "text/plain; version=0.0.4")
        self.reply(404, b'{"error": "no such path"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            state["requests"] += 1
            refuse = FAIL_EVERY and state["requests"] % FAIL_EVERY == 0
        if refuse:
            return self.reply(503, b'{"error": "queue full"}', headers=[("Retry-After", "1")])
        if self.path == "/v2/models/chexnet/infer":
            n = int(self.headers["Inference-Header-Content-Length"])
            header = json.loads(body[:n])
            tensor = header["inputs"][0]
            if tensor["parameters"]["binary_data_size"] != len(body) - n:
                return self.reply(400, b'{"error": "binary_data_size"}')
            batch = tensor["shape"][0]
            answer = {"outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [batch, 14],
                                   "data": [0.5] * (14 * batch)}]}
        elif self.path.startswith("/v1/predict"):
            kind = self.headers.get("Content-Type", "")
            count = body.count(b"\r\nContent-Disposition: form-data") if kind.startswith("multipart/") else 1
            answer = {"results": [{"file": "x", "findings": []} for _ in range(count)]}
        else:
            return self.reply(404, b'{"error": "no such path"}')
        with lock:
            state["answered"] += 1
        self.reply(200, json.dumps(answer).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
