#!/usr/bin/python3
"""Checks chexrt's deployment files (deploy/) against the server they deploy.

Every YAML file under deploy/ is parsed. The container arguments of the Kubernetes Deployment and
the KServe ServingRuntime must be flags of `chexrt serve`; the ports they name must be the
container ports that the probes, the Service and the Prometheus annotations use; liveness probes
ask /v2/health/live and readiness probes /v2/health/ready; the Deployment asks for a GPU; the
HorizontalPodAutoscaler scales that Deployment on chexrt_queue_depth, which the Prometheus adapter
rule serves; the InferenceService runs on the chexrt runtime with protocolVersion v2. The
Dockerfile is checked statically (no Docker daemon here): Debian 12 bases, the scripts it runs
exist and the build context keeps them, the exposed ports, the non-root user, the health check
and the entrypoint.

The flags of `chexrt serve` come from `chexrt serve --help` when the binary has that command,
else from tests/deploy/serve_flags.txt (the server contract's list); the output says which.

  check_manifests.py --root REPO --chexrt BUILD/tools/cli/chexrt [--self-test]

--self-test breaks copies of the files in known ways and fails unless each is reported.
"""
import argparse
import copy
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys

import yaml

LIVE = "/v2/health/live"
READY = "/v2/health/ready"
QUEUE_METRIC = "chexrt_queue_depth"
# `chexrt serve`'s defaults (the server contract): what a container gets without the flag.
DEFAULT_PORT = 8000
DEFAULT_GRPC_PORT = 8001
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def serve_flags(root, chexrt):
    """The flags of `chexrt serve` and where they were read."""
    try:
        run = subprocess.run([chexrt, "serve", "--help"], capture_output=True, text=True, timeout=120)
        if run.returncode == 0 and "--port" in run.stdout:
            return set(FLAG.findall(run.stdout)) - {"--help"}, "`chexrt serve --help`"
    except OSError:
        pass
    path = os.path.join(root, "tests", "deploy", "serve_flags.txt")
    with open(path) as f:
        text = "".join(line for line in f if not line.startswith("#"))
    return set(FLAG.findall(text)), "tests/deploy/serve_flags.txt (this chexrt has no serve command)"


def load(root):
    """Every deploy/ file the checks read: {relative path: [YAML documents]} and the Dockerfile."""
    files = {}
    for path in sorted(glob.glob(os.path.join(root, "deploy", "**", "*.yaml"), recursive=True)):
        with open(path) as f:
            files[os.path.relpath(path, root)] = [d for d in yaml.safe_load_all(f) if d is not None]
    with open(os.path.join(root, "deploy", "Dockerfile")) as f:
        dockerfile = f.read()
    ignore_path = os.path.join(root, ".dockerignore")
    dockerignore = open(ignore_path).read() if os.path.exists(ignore_path) else ""
    return {"yaml": files, "dockerfile": dockerfile, "dockerignore": dockerignore}


def parse_args(args, where, problems):
    """[(flag, value or None)] of a container's args."""
    out = []
    i = 0
    args = [str(a) for a in args or []]
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            problems.append(f"{where}: argument '{arg}' is neither a flag nor a flag's value")
            i += 1
            continue
        if "=" in arg:
            out.append(tuple(arg.split("=", 1)))
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out.append((arg, args[i + 1]))
            i += 1
        else:
            out.append((arg, None))
        i += 1
    return out


def port_number(port, container):
    """A probe's or Service's port (number or name) as the container's port number, or None."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports", []):
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def check_container(where, container, flags, flag_source, problems, serverless=False):
    """The args, ports and probes of a container running `chexrt serve`; returns its (port, grpc port)."""
    args = parse_args(container.get("args"), where, problems)
    values = {}
    for flag, value in args:
        if flag not in flags:
            problems.append(f"{where}: {flag} is not a flag of chexrt serve (flags from {flag_source})")
        values[flag] = value
    if "--host" in values and values["--host"] != "0.0.0.0":
        problems.append(f"{where}: --host {values['--host']}: a pod must listen on 0.0.0.0")
    try:
        port = int(values.get("--port", DEFAULT_PORT))
        grpc_port = int(values.get("--grpc-port", DEFAULT_GRPC_PORT))
    except (TypeError, ValueError):
        problems.append(f"{where}: --port and --grpc-port need numbers")
        return None, None
    declared = [p.get("containerPort") for p in container.get("ports", [])]
    if port not in declared:
        problems.append(f"{where}: --port {port} is not among the container ports {declared}")
    if grpc_port and grpc_port not in declared:
        problems.append(f"{where}: --grpc-port {grpc_port} is not among the container ports {declared}")
    if serverless and len(declared) != 1:
        problems.append(f"{where}: KServe's serverless mode routes exactly one container port, not {declared}")
    for probe, paths in (("livenessProbe", {LIVE}), ("readinessProbe", {READY}), ("startupProbe", {LIVE, READY})):
        spec = container.get(probe)
        if spec is None:
            if probe != "startupProbe":
                problems.append(f"{where}: no {probe}")
            continue
        get = spec.get("httpGet") or {}
        if get.get("path") not in paths:
            problems.append(f"{where}: {probe} asks {get.get('path')!r}, expected {' or '.join(sorted(paths))}")
        if port_number(get.get("port"), container) != port:
            problems.append(f"{where}: {probe} port {get.get('port')!r} is not the HTTP port {port} (--port)")
    return port, grpc_port


def by_kind(files, kind):
    return [(path, d) for path, docs in files.items() for d in docs if isinstance(d, dict) and d.get("kind") == kind]


def check_kubernetes(files, flags, flag_source, problems):
    deployments = by_kind(files, "Deployment")
    if len(deployments) != 1:
        problems.append(f"expected one Deployment under deploy/, found {len(deployments)}")
        return None
    path, deployment = deployments[0]
    name = deployment["metadata"]["name"]
    template = deployment["spec"]["template"]
    labels = template["metadata"].get("labels", {})
    selector = deployment["spec"]["selector"].get("matchLabels", {})
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{path}: the selector {selector} does not match the pod labels {labels}")
    container = template["spec"]["containers"][0]
    where = f"{path}: container {container.get('name')}"
    port, grpc_port = check_container(where, container, flags, flag_source, problems)
    gpus = ((container.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu")
    if not gpus or int(gpus) < 1:
        problems.append(f"{where}: resources.limits has no nvidia.com/gpu")
    annotations = template["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or annotations.get("prometheus.io/path") != "/metrics":
        problems.append(f"{path}: the pod template does not ask Prometheus to scrape /metrics")
    if str(annotations.get("prometheus.io/port")) != str(port):
        problems.append(f"{path}: prometheus.io/port {annotations.get('prometheus.io/port')} is not --port {port}")

    services = by_kind(files, "Service")
    if len(services) != 1:
        problems.append(f"expected one Service, found {len(services)}")
    for spath, service in services:
        sel = service["spec"].get("selector", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problems.append(f"{spath}: the selector {sel} does not select the Deployment's pods {labels}")
        targets = set()
        for p in service["spec"].get("ports", []):
            target = port_number(p.get("targetPort", p.get("port")), container)
            if target is None or target not in [c.get("containerPort") for c in container.get("ports", [])]:
                problems.append(f"{spath}: port {p.get('name')}: targetPort {p.get('targetPort')!r} is no container port")
            targets.add(target)
        if targets != {port, grpc_port} - {0}:
            problems.append(f"{spath}: the Service reaches ports {sorted(t for t in targets if t)}, "
                            f"the server listens on {port} (HTTP) and {grpc_port} (gRPC)")
        if sorted(p.get("port") for p in service["spec"].get("ports", [])) != [DEFAULT_PORT, DEFAULT_GRPC_PORT]:
            problems.append(f"{spath}: the Service should offer {DEFAULT_PORT} (HTTP) and {DEFAULT_GRPC_PORT} (gRPC)")

    hpas = by_kind(files, "HorizontalPodAutoscaler")
    if len(hpas) != 1:
        problems.append(f"expected one HorizontalPodAutoscaler, found {len(hpas)}")
    for hpath, hpa in hpas:
        if hpa.get("apiVersion") != "autoscaling/v2":
            problems.append(f"{hpath}: apiVersion {hpa.get('apiVersion')}: pod metrics need autoscaling/v2")
        target = hpa["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") != name:
            problems.append(f"{hpath}: scaleTargetRef {target} is not the Deployment {name}")
        metrics = [m["pods"]["metric"]["name"] for m in hpa["spec"].get("metrics", []) if m.get("type") == "Pods"]
        if metrics != [QUEUE_METRIC]:
            problems.append(f"{hpath}: scales on pod metrics {metrics}, expected [{QUEUE_METRIC}]")
        if not 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"]["maxReplicas"]:
            problems.append(f"{hpath}: minReplicas/maxReplicas out of order")

    rules = [d for docs in files.values() for d in docs if isinstance(d, dict) and "rules" in d]
    served = [r.get("name", {}).get("as") for d in rules for r in (d["rules"].get("custom") or [])
              if QUEUE_METRIC in r.get("seriesQuery", "")]
    if served != [QUEUE_METRIC]:
        problems.append(f"no Prometheus adapter rule serves {QUEUE_METRIC} (found {served})")
    return port, grpc_port


def check_kserve(files, flags, flag_source, problems):
    runtimes = by_kind(files, "ServingRuntime") + by_kind(files, "ClusterServingRuntime")
    services = by_kind(files, "InferenceService")
    if len(runtimes) != 1 or len(services) != 1:
        problems.append(f"expected one ServingRuntime and one InferenceService, found {len(runtimes)} and {len(services)}")
        return
    rpath, runtime = runtimes[0]
    if "v2" not in runtime["spec"].get("protocolVersions", []):
        problems.append(f"{rpath}: the runtime's protocolVersions {runtime['spec'].get('protocolVersions')} lack v2")
    container = runtime["spec"]["containers"][0]
    check_container(f"{rpath}: container {container.get('name')}", container, flags, flag_source, problems,
                    serverless=True)
    formats = [f["name"] for f in runtime["spec"].get("supportedModelFormats", [])]
    ipath, isvc = services[0]
    if isvc.get("apiVersion") != "serving.kserve.io/v1beta1":
        problems.append(f"{ipath}: apiVersion {isvc.get('apiVersion')}, expected serving.kserve.io/v1beta1")
    model = isvc["spec"]["predictor"].get("model") or {}
    if model.get("protocolVersion") != "v2":
        problems.append(f"{ipath}: predictor.model.protocolVersion is {model.get('protocolVersion')!r}, expected v2")
    if model.get("runtime") != runtime["metadata"]["name"]:
        problems.append(f"{ipath}: runtime {model.get('runtime')!r} is not {runtime['metadata']['name']!r}")
    if (model.get("modelFormat") or {}).get("name") not in formats:
        problems.append(f"{ipath}: modelFormat {model.get('modelFormat')} is not one the runtime supports ({formats})")


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments left out."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") and not pending:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def check_dockerfile(root, data, flags, flag_source, ports, problems):
    text = data["dockerfile"]
    steps = dockerfile_instructions(text)
    args = {}
    for word, rest in steps:
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key] = value.strip('"')
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), b) for b in bases]
    if len(resolved) < 2 or not all(re.match(r"debian:12(\b|-|$)", b) for b in resolved):
        problems.append(f"deploy/Dockerfile: the default base images {resolved} are not Debian 12 (debian:12...)")
    if "nvidia/cuda:" not in text:
        problems.append("deploy/Dockerfile: the CUDA variant (an nvidia/cuda base image) is not documented")
    for word, rest in steps:
        if word != "RUN":
            continue
        for script in re.findall(r"(?<![\w/])((?:scripts|deploy)/[\w./-]+)", rest):
            if not os.path.isfile(os.path.join(root, script)):
                problems.append(f"deploy/Dockerfile: RUN uses {script}, which does not exist")
            for pattern in data["dockerignore"].splitlines():
                pattern = pattern.strip()
                if pattern and not pattern.startswith("#") and (fnmatch.fnmatch(script, pattern) or
                                                                fnmatch.fnmatch(script.split("/")[0], pattern)):
                    problems.append(f".dockerignore: {pattern} leaves {script} out of the build context")
    exposed = {int(p.split("/")[0]) for word, rest in steps if word == "EXPOSE" for p in rest.split()}
    if exposed != {DEFAULT_PORT, DEFAULT_GRPC_PORT} or (ports[0] and exposed != set(ports) - {0}):
        problems.append(f"deploy/Dockerfile: EXPOSE {sorted(exposed)}, but the server listens on "
                        f"{DEFAULT_PORT} and {DEFAULT_GRPC_PORT} (and the Deployment on {ports})")
    users = [rest for word, rest in steps if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("deploy/Dockerfile: the image runs as root (no USER, or USER root)")
    health = [rest for word, rest in steps if word == "HEALTHCHECK"]
    if not health or READY not in health[-1] or f":{DEFAULT_PORT}/" not in health[-1]:
        problems.append(f"deploy/Dockerfile: HEALTHCHECK does not ask {READY} on port {DEFAULT_PORT}")
    entry = [rest for word, rest in steps if word == "ENTRYPOINT"]
    try:
        words = json.loads(entry[-1]) if entry else []
    except ValueError:
        words = []
    if words[:4] != ["chexrt", "serve", "--host", "0.0.0.0"]:
        problems.append(f"deploy/Dockerfile: ENTRYPOINT {entry[-1] if entry else None} is not "
                        "[\"chexrt\", \"serve\", \"--host\", \"0.0.0.0\"] (exec form)")
    for flag in FLAG.findall(" ".join(words)):
        if flag not in flags:
            problems.append(f"deploy/Dockerfile: ENTRYPOINT flag {flag} is not a flag of chexrt serve ({flag_source})")


def check_all(root, data, flags, flag_source):
    problems = []
    for path, docs in data["yaml"].items():
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict) or not ("kind" in doc and "apiVersion" in doc or "rules" in doc):
                problems.append(f"{path}: document {i + 1} is neither a Kubernetes object nor adapter rules")
    ports = check_kubernetes(data["yaml"], flags, flag_source, problems) or (None, None)
    check_kserve(data["yaml"], flags, flag_source, problems)
    check_dockerfile(root, data, flags, flag_source, ports, problems)
    return problems


def self_test(root, data, flags, flag_source):
    """Each breakage of a copy of the files must be reported with the words given."""
    def docs(d, kind):
        return [doc for _, doc in by_kind(d["yaml"], kind)][0]

    def container(d, kind="Deployment"):
        doc = docs(d, kind)
        return (doc["spec"]["template"]["spec"] if kind == "Deployment" else doc["spec"])["containers"][0]

    def set_arg(c, flag, value):
        i = c["args"].index(flag)
        c["args"][i + 1] = value

    breakages = [
        ("liveness path", lambda d: container(d)["livenessProbe"]["httpGet"].update(path="/healthz"), LIVE),
        ("readiness path", lambda d: container(d, "ServingRuntime")["readinessProbe"]["httpGet"].update(path=LIVE),
         READY),
        ("unknown flag", lambda d: container(d)["args"].extend(["--no-such-flag", "1"]), "--no-such-flag"),
        ("port moved", lambda d: set_arg(container(d), "--port", "9000"), "--port 9000"),
        ("no GPU", lambda d: container(d)["resources"]["limits"].pop("nvidia.com/gpu"), "nvidia.com/gpu"),
        ("service target", lambda d: docs(d, "Service")["spec"]["ports"][0].update(targetPort=1234), "targetPort"),
        ("HPA metric", lambda d: docs(d, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]["metric"].update(
            name="cpu"), QUEUE_METRIC),
        ("KServe protocol", lambda d: docs(d, "InferenceService")["spec"]["predictor"]["model"].update(
            protocolVersion="v1"), "protocolVersion"),
        ("KServe second port", lambda d: container(d, "ServingRuntime")["ports"].append({"containerPort": 8081}),
         "exactly one container port"),
        ("Dockerfile base", lambda d: d.update(dockerfile=d["dockerfile"].replace(
            "ARG BUILD_IMAGE=debian:12", "ARG BUILD_IMAGE=ubuntu:24.04")), "Debian 12"),
        ("Dockerfile port", lambda d: d.update(dockerfile=d["dockerfile"].replace("EXPOSE 8000 8001", "EXPOSE 8000")),
         "EXPOSE"),
        ("Dockerfile script", lambda d: d.update(dockerfile=d["dockerfile"].replace(
            "RUN scripts/install_deps.sh", "RUN scripts/no_such_script.sh")), "scripts/no_such_script.sh"),
        ("Dockerfile root", lambda d: d.update(dockerfile=d["dockerfile"].replace("USER 10001", "USER root")), "root"),
        ("context", lambda d: d.update(dockerignore=d["dockerignore"] + "\nscripts\n"), ".dockerignore"),
    ]
    failed = 0
    for name, breakage, words in breakages:
        broken = copy.deepcopy(data)
        breakage(broken)
        problems = check_all(root, broken, flags, flag_source)
        if not any(words in p for p in problems):
            print(f"FAIL: breaking '{name}' was not reported with '{words}'; reported: {problems}")
            failed += 1
        else:
            print(f"ok: {name}: {next(p for p in problems if words in p)}")
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--chexrt", required=True)
    parser.add_argument("--self-test", action="store_true")
    a = parser.parse_args()
    flags, flag_source = serve_flags(a.root, a.chexrt)
    print(f"serve flags from {flag_source}: {' '.join(sorted(flags))}")
    data = load(a.root)
    print(f"files: {', '.join(sorted(data['yaml']))}, deploy/Dockerfile")
    problems = check_all(a.root, data, flags, flag_source)
    for p in problems:
        print(f"FAIL: {p}")
    if a.self_test:
        if problems:
            print("the files themselves have problems: the self-test needs them clean")
            return 1
        return 1 if self_test(a.root, data, flags, flag_source) else 0
    if not problems:
        print("deploy/: all checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
