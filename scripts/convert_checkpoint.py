#!/usr/bin/env python3
"""Converts a CheXNet PyTorch checkpoint (DenseNet-121, 14 findings) into an ONNX model for chexrt.

Accepted checkpoints:
  (a) a torchvision DenseNet-121 state dict whose head is Linear(1024, 14), under the key
      `classifier.weight` or `classifier.0.weight` (CheXNet's Sequential(Linear, Sigmoid));
  (b) a dict holding such a state dict under 'state_dict' (arnoweng/CheXNet's model.pth.tar), with
      any common key prefix (`module.densenet121.` there) and the key names of torchvision < 0.3,
      `...denselayer1.norm.1.weight`, which become `...denselayer1.norm1.weight`;
  (c) a whole pickled model (torch.save(model)), when its class can be imported here and
      --trust-pickle is given (unpickling a model runs code from the file). Without it, files are
      read with torch's weights-only loader, which in torch 1.13 also refuses Python floats (a
      training checkpoint's 'best_loss'): such files need --trust-pickle there.

Loading is strict: a key the model lacks, or a weight it needs and the checkpoint lacks, is an error
that lists them. The graph ends with a Sigmoid (output "probabilities") unless --no-sigmoid
(output "logits"); the input is "image", [batch, 3, 224, 224], ImageNet-normalized.

  /usr/bin/python3 scripts/convert_checkpoint.py model.pth.tar -o chexnet.onnx
"""
import argparse
import inspect
import os
import re
import sys
import tempfile

import onnx
import torch
import torchvision

kNumClasses = 14
kImageSize = 224
kInputName = "image"

# torchvision < 0.3 registered DenseNet layers as 'norm.1', 'relu.1', 'conv.1', 'norm.2', ...; a
# name with a dot cannot be an attribute, so torchvision renamed them to norm1, conv1, ....
_kOldDenseLayerKey = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var)$")


class CheckpointError(Exception):
    """A checkpoint that cannot be converted; the message says why and names the keys."""


def build_chexnet(num_classes=kNumClasses, sigmoid=True):
    """torchvision DenseNet-121 with CheXNet's head: Sequential(Linear(1024, num_classes), Sigmoid())."""
    try:
        model = torchvision.models.densenet121(weights=None)
    except TypeError:  # torchvision < 0.13 has no `weights` argument
        model = torchvision.models.densenet121(pretrained=False)
    head = [torch.nn.Linear(model.classifier.in_features, num_classes)]
    if sigmoid:
        head.append(torch.nn.Sigmoid())
    model.classifier = torch.nn.Sequential(*head)
    return model


def load_checkpoint(path, trust_pickle=False):
    """Returns the state dict held by a checkpoint file of kind (a), (b) or (c)."""
    kwargs = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kwargs["weights_only"] = not trust_pickle
    try:
        obj = torch.load(path, **kwargs)
    except (AttributeError, ModuleNotFoundError) as e:
        raise CheckpointError(f"the checkpoint pickles a model whose class cannot be imported here ({e}); "
                              "save model.state_dict() instead") from e
    except Exception as e:  # weights_only refusals come as UnpicklingError or RuntimeError by torch version
        hint = "" if trust_pickle else (" (torch's weights-only loader refuses pickled models, and in torch 1.13 "
                                        "even floats: if you trust the file, pass --trust-pickle)")
        raise CheckpointError(f"torch.load failed{hint}: {e}") from e
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"expected a state dict, a dict with 'state_dict' or a pickled model, "
                              f"found {type(obj).__name__}")
    return obj


def normalize_keys(state_dict):
    """Maps a checkpoint's keys onto torchvision's current DenseNet-121 names with a Sequential head."""
    anchor = [k for k in state_dict if k.endswith("features.conv0.weight")]
    if len(anchor) != 1:
        raise CheckpointError(f"expected exactly one key ending in 'features.conv0.weight', found {anchor or 'none'}")
    prefix = anchor[0][: -len("features.conv0.weight")]
    out = {}
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            raise CheckpointError(f"key '{key}' lacks the prefix '{prefix}' that the other keys share")
        name = _kOldDenseLayerKey.sub(r"\1\2.\3", key[len(prefix):])
        if name in ("classifier.weight", "classifier.bias"):
            name = "classifier.0." + name.split(".")[1]
        out[name] = value
    return out


def load_into_chexnet(state_dict, num_classes=kNumClasses, sigmoid=True):
    """A fresh CheXNet model holding `state_dict` (as returned by normalize_keys), loaded strictly.

    Checkpoints from torch < 0.4.1 have no BatchNorm `num_batches_tracked` counters; inference does
    not read them, so they may be absent. Anything else missing or extra is an error.
    """
    model = build_chexnet(num_classes, sigmoid)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [f"{k}: checkpoint {tuple(v.shape)}, model {tuple(expected[k].shape)}"
                  for k, v in state_dict.items() if k in expected and v.shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): " + ", ".join(missing))
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): " + ", ".join(unexpected))
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): " + "; ".join(mismatched))
    if problems:
        raise CheckpointError("the checkpoint does not fit DenseNet-121 with a Linear(1024, "
                              f"{num_classes}) head:\n  " + "\n  ".join(problems))
    full = dict(expected)
    full.update(state_dict)
    model.load_state_dict(full, strict=True)
    return model.eval()


def export_onnx(model, path, opset=13, batch=None, output_name="probabilities"):
    """Exports `model` (eval mode) to `path` atomically: a temporary file in the same folder is
    written, checked with onnx.checker, then renamed over `path`. batch=None: dynamic axis "batch"."""
    model.eval()
    example = torch.zeros(batch or 1, 3, kImageSize, kImageSize)
    kwargs = {}
    if batch is None:
        kwargs["dynamic_axes"] = {kInputName: {0: "batch"}, output_name: {0: "batch"}}
    # torch >= 2.9 defaults to the dynamo exporter, which needs onnxscript and handles dynamic_axes
    # only in part; the TorchScript exporter gives the same graph on every torch version.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".onnx")
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(model, example, tmp, opset_version=opset, do_constant_folding=True,
                              input_names=[kInputName], output_names=[output_name], **kwargs)
        onnx.checker.check_model(onnx.load(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp made it 0600; give it a plain new file's mode
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def check_with_onnxruntime(model, path, batch, tolerance=1e-4):
    """Compares ONNX Runtime with PyTorch on one random input, where onnxruntime is installed.
    Returns False when they differ by more than `tolerance` anywhere."""
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: the graph was checked with onnx.checker only")
        return True
    x = torch.randn(batch or 2, 3, kImageSize, kImageSize, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model(x).numpy()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = session.run(None, {kInputName: x.numpy()})[0]
    diff = float(abs(got - want).max())
    print(f"onnxruntime vs PyTorch on a random input: max |diff| = {diff:.3g} (tolerance {tolerance:g})")
    return diff <= tolerance


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="checkpoint file (.pth, .pth.tar, .pt)")
    ap.add_argument("-o", "--output", required=True, help="ONNX file to write")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--batch", type=int, help="static batch size (default: dynamic axis 'batch')")
    ap.add_argument("--num-classes", type=int, default=kNumClasses)
    ap.add_argument("--no-sigmoid", action="store_true", help="end the graph at the logits")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="allow a whole pickled model (runs code from the checkpoint)")
    args = ap.parse_args(argv)
    if args.batch is not None and args.batch < 1:
        ap.error("--batch must be at least 1")
    # Checked before torch is asked to load anything, so the message names the real problem.
    if not os.path.isfile(args.checkpoint):
        ap.error(f"{args.checkpoint}: no such file")
    if not os.access(args.checkpoint, os.R_OK):
        ap.error(f"{args.checkpoint}: not readable")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(out_dir):
        ap.error(f"--output {args.output}: the folder {out_dir} does not exist")
    try:
        state_dict = normalize_keys(load_checkpoint(args.checkpoint, args.trust_pickle))
        model = load_into_chexnet(state_dict, args.num_classes, sigmoid=not args.no_sigmoid)
    except CheckpointError as e:
        print(f"error: {args.checkpoint}: {e}", file=sys.stderr)
        return 1
    export_onnx(model, args.output, args.opset, args.batch, "logits" if args.no_sigmoid else "probabilities")
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1e6:.1f} MB, opset {args.opset}, "
          f"batch {args.batch or 'dynamic'})")
    if not check_with_onnxruntime(model, args.output, args.batch):
        print(f"error: {args.output} does not compute what the checkpoint does", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
