#!/usr/bin/env python3
"""Makes chexrt's reference model and the PyTorch outputs that chexrt is tested against.

The model is torchvision's DenseNet-121 with CheXNet's head (Linear(1024, 14) + Sigmoid), with
seeded weights (torchvision's default initialization after torch.manual_seed(seed)): it is NOT
trained and its outputs are not findings. So that its activations look like those of a real
model on real X-rays, the batch-norm statistics are measured on the bundled chest X-rays: a
forward pass in train mode with momentum=None (a cumulative average over the batches), under
no_grad, then eval().

Writes, under --out (default models/generated in the repository):
  densenet121_chexnet_seeded.onnx           input "image" [batch, 3, 224, 224], output "probabilities"
  reference/<stem>.input.npy                the preprocessed image, 1x3x224x224 float32
  reference/<stem>.output.npy               PyTorch's output in float32, 1x14 float32
  reference/<stem>.output_f64.npy           the same model run in float64, 1x14 float64
  reference/manifest.json                   the list of the above, and how they were made

Preprocessing (torchvision): PIL open -> convert('RGB') -> Resize(256) -> CenterCrop(224) ->
ToTensor -> Normalize(ImageNet mean, std). 16-bit grayscale images are brought to 8 bits first
(v / 257, rounded), as PIL's convert() would clip them at 255.

Does nothing when its outputs exist and were made from the same inputs: the arguments, the
torch version, and the SHA-256 of every image and of the scripts that make the model (--force
to redo). Changing, adding or removing an image remakes them. Same seed and torch version: same
ONNX bytes.

  /usr/bin/python3 scripts/make_reference_model.py [--seed 0] [--opset 13] [--force]
"""
import argparse
import copy
import glob
import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import build_chexnet, export_onnx, kInputName  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
kModelFile = "densenet121_chexnet_seeded.onnx"
kWeightsFile = "densenet121_chexnet_seeded.safetensors"
kOutputName = "probabilities"
kImageSuffixes = (".png", ".jpg", ".jpeg", ".dcm")
kCalibrationBatch = 8
# The repository's bundled X-rays (data/cxr/README.md says what they are).
kDefaultImageDir = "data/cxr/nih"
kDefaultFormatDir = "data/cxr/formats"
kDefaultDicomDir = "data/cxr/dicom"
# The scripts whose code decides the model's bytes and the reference outputs.
kSourceScripts = ("make_reference_model.py", "convert_checkpoint.py", "export_weights.py")

kPreprocess = T.Compose([
    T.Resize(256),
    T.CenterCrop(224),
    T.ToTensor(),
    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])


def resolve_dir(folder):
    """`folder` made absolute (relative ones are taken from the repository), or None if absent."""
    path = folder if os.path.isabs(folder) else os.path.join(kRepo, folder)
    return os.path.normpath(path) if os.path.isdir(path) else None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_config(args, files):
    """Everything the outputs depend on. The outputs are remade when any of it changes."""
    scripts_dir = os.path.join(kRepo, "scripts")
    return {"seed": args.seed, "opset": args.opset, "torch": torch.__version__,
            "scripts": {f: sha256_of(os.path.join(scripts_dir, f)) for f in kSourceScripts},
            "images": [{"path": os.path.relpath(p, kRepo), "sha256": sha256_of(p)} for p in files]}


def list_images(folder):
    return sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(kImageSuffixes))


def read_dicom(path):
    """A DICOM image as 8-bit grayscale: its values stretched from their min..max to 0..255,
    MONOCHROME1 inverted. chexrt does the same for files without a VOI window or LUT (the
    bundled ones); for files with one, chexrt applies it and these inputs would differ."""
    import pydicom
    ds = pydicom.dcmread(path)
    a = ds.pixel_array.astype(np.float64)
    a = (a - a.min()) / max(a.max() - a.min(), 1.0) * 255.0
    if ds.PhotometricInterpretation == "MONOCHROME1":
        a = 255.0 - a
    return Image.fromarray(np.rint(a).astype(np.uint8), "L")


def read_image(path):
    image = read_dicom(path) if path.lower().endswith(".dcm") else Image.open(path)
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # 8 -> 16 bits is v * 257 (0xFF -> 0xFFFF), so v / 257 inverts it exactly.
        a = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def calibrate_batch_norm(model, images):
    """Sets every BatchNorm's running mean and variance to their averages over `images`."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average: each batch weighs the same
    model.train()
    with torch.no_grad():
        for i in range(0, len(images), kCalibrationBatch):
            model(images[i:i + kCalibrationBatch])
    model.eval()


def up_to_date(manifest_path, output_paths, config):
    """True when every output exists and the manifest (written last) records the same config."""
    if not all(os.path.exists(p) for p in [manifest_path, *output_paths]):
        return False
    try:
        with open(manifest_path) as f:
            return json.load(f).get("config") == config
    except (OSError, ValueError):
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default=kDefaultImageDir,
                    help="real X-rays: batch-norm statistics and reference outputs (default: %(default)s)")
    ap.add_argument("--formats", default=kDefaultFormatDir,
                    help="more images (other formats and sizes), reference outputs only; '' for none "
                    "(default: %(default)s)")
    ap.add_argument("--dicom", default=kDefaultDicomDir,
                    help="DICOM files, reference outputs only (needs pydicom); '' for none (default: %(default)s)")
    ap.add_argument("--out", default=os.path.join(kRepo, "models", "generated"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--force", action="store_true", help="redo even when the outputs are up to date")
    args = ap.parse_args(argv)
    start = time.time()

    images_dir = resolve_dir(args.images)
    if images_dir is None:
        ap.error(f"--images {args.images}: no such folder")
    extra_dirs = []
    for flag, folder in (("--formats", args.formats), ("--dicom", args.dicom)):
        if folder:
            if resolve_dir(folder) is None:
                ap.error(f"{flag} {folder}: no such folder")
            extra_dirs.append(resolve_dir(folder))
    calibration_files = list_images(images_dir)
    if not calibration_files:
        ap.error(f"{images_dir}: no images ({', '.join(kImageSuffixes)})")
    files = calibration_files + [p for d in extra_dirs for p in list_images(d)]
    stems = [os.path.basename(p).split(".")[0] for p in files]
    if len(set(stems)) != len(stems):
        ap.error("two images share a name stem: " + ", ".join(sorted({s for s in stems if stems.count(s) > 1})))

    out_dir = os.path.abspath(args.out)
    ref_dir = os.path.join(out_dir, "reference")
    model_path = os.path.join(out_dir, kModelFile)
    manifest_path = os.path.join(ref_dir, "manifest.json")
    config = make_config(args, files)
    weights_path = os.path.join(out_dir, kWeightsFile)
    if not args.force and up_to_date(manifest_path, [model_path, weights_path], config):
        print(f"{os.path.relpath(manifest_path)} is up to date with its {len(files)} images (--force to redo)")
        return 0
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # written last again: a run stopped half-way is never taken as done

    torch.manual_seed(args.seed)
    model = build_chexnet()

    print(f"batch-norm statistics from {len(calibration_files)} images of {images_dir}", flush=True)
    calibration = torch.stack([kPreprocess(read_image(p)) for p in calibration_files])
    calibrate_batch_norm(model, calibration)
    print(f"  done at {time.time() - start:.1f}s", flush=True)

    export_onnx(model, model_path, args.opset, batch=None, output_name=kOutputName)
    with open(model_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"wrote {model_path} ({os.path.getsize(model_path) / 1e6:.1f} MB, opset {args.opset}, "
          f"sha256 {digest[:16]}) at {time.time() - start:.1f}s", flush=True)

    # The same weights for building the network through chexrt's C++ API, without ONNX.
    write_safetensors(weights_path, {k: v.detach().float().numpy() for k, v in model.state_dict().items()
                                     if not k.endswith("num_batches_tracked")})
    print(f"wrote {weights_path}", flush=True)

    model64 = copy.deepcopy(model).double()
    shutil.rmtree(ref_dir, ignore_errors=True)
    os.makedirs(ref_dir)
    entries, outputs, drifts = [], [], []
    for path, stem in zip(files, stems):
        try:
            image = read_image(path)
        except ImportError:
            print(f"  {os.path.basename(path)}: skipped (DICOM needs pydicom; the C++ app tests cover DICOM)")
            continue
        x = kPreprocess(image).unsqueeze(0)
        with torch.no_grad():
            y = model(x).numpy()
            y64 = model64(x.double()).numpy()
        names = {k: f"{stem}.{k}.npy" for k in ("input", "output", "output_f64")}
        np.save(os.path.join(ref_dir, names["input"]), x.numpy())
        np.save(os.path.join(ref_dir, names["output"]), y)
        np.save(os.path.join(ref_dir, names["output_f64"]), y64)
        entries.append({"image": os.path.relpath(path, kRepo), **names})
        outputs.append(y[0])
        drifts.append(np.linalg.norm(y64 - y) / np.linalg.norm(y64))
    print(f"  {len(entries)} reference outputs at {time.time() - start:.1f}s", flush=True)

    manifest = {
        "model": os.path.relpath(model_path, ref_dir),
        "input_name": kInputName,
        "output_name": kOutputName,
        "preprocessing": "convert('RGB') (16-bit: v/257 first), Resize(256), CenterCrop(224), ToTensor, "
                         "Normalize(mean=[0.485,0.456,0.406], std=[0.229,0.224,0.225])",
        "config": config,
        "entries": entries,
    }
    tmp = manifest_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, manifest_path)

    outputs = np.stack(outputs)
    print(f"outputs over {len(outputs)} images: min {outputs.min():.4f} max {outputs.max():.4f}; "
          f"std across images per class: mean {outputs.std(0).mean():.4f}, "
          f"min {outputs.std(0).min():.4f}, max {outputs.std(0).max():.4f}")
    print(f"float32 vs float64 PyTorch, ||y32 - y64|| / ||y64||: max {max(drifts):.2e}, "
          f"median {np.median(drifts):.2e}")
    ref_bytes = sum(os.path.getsize(os.path.join(ref_dir, f)) for f in os.listdir(ref_dir))
    print(f"wrote {manifest_path} ({len(entries)} images, {ref_bytes / 1e6:.1f} MB) in {time.time() - start:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
