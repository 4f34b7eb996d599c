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

Does nothing when its outputs exist, are newer than this script and were made with the same
arguments and images (--force to redo). Same seed and torch version: same ONNX bytes.

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
from export_weights import write_safetensors  # noqa: E402

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
kModelFile = "densenet121_chexnet_seeded.onnx"
kWeightsFile = "densenet121_chexnet_seeded.safetensors"
kOutputName = "probabilities"
kImageSuffixes = (".png", ".jpg", ".jpeg", ".dcm")
kCalibrationBatch = 8
# Where the bundled X-rays are, first found wins: next to the repository (this machine), inside
# it (a checkout that carries shared/), then the repository's own demo images.
kDefaultImageDirs = ("../shared/data/cxr/nih", "shared/data/cxr/nih", "data/demo")
kDefaultFormatDirs = ("../shared/data/cxr/formats", "shared/data/cxr/formats")
kDefaultDicomDirs = ("../shared/data/cxr/dicom", "shared/data/cxr/dicom")

kPreprocess = T.Compose([
    T.Resize(256),
    T.CenterCrop(224),
    T.ToTensor(),
    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])


def first_existing(candidates):
    for d in candidates:
        path = d if os.path.isabs(d) else os.path.join(kRepo, d)
        if os.path.isdir(path):
            return os.path.normpath(path)
    return None


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


def up_to_date(manifest_path, model_path, config):
    if not (os.path.exists(manifest_path) and os.path.exists(model_path)):
        return False
    newest_source = max(os.path.getmtime(os.path.join(kRepo, "scripts", f))
                        for f in ("make_reference_model.py", "convert_checkpoint.py"))
    if min(os.path.getmtime(manifest_path), os.path.getmtime(model_path)) < newest_source:
        return False
    with open(manifest_path) as f:
        return json.load(f).get("config") == config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", help="real X-rays: batch-norm statistics and reference outputs "
                    f"(default: first of {', '.join(kDefaultImageDirs)})")
    ap.add_argument("--formats", help="more images (other formats and sizes), reference outputs only "
                    f"(default: first of {', '.join(kDefaultFormatDirs)}, if any)")
    ap.add_argument("--dicom", help="DICOM files, reference outputs only (needs pydicom) "
                    f"(default: first of {', '.join(kDefaultDicomDirs)}, if any)")
    ap.add_argument("--out", default=os.path.join(kRepo, "models", "generated"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--force", action="store_true", help="redo even when the outputs are up to date")
    args = ap.parse_args(argv)
    start = time.time()

    images_dir = first_existing([args.images] if args.images else kDefaultImageDirs)
    if images_dir is None:
        ap.error(f"no image folder: {args.images or ', '.join(kDefaultImageDirs)}")
    formats_dir = first_existing([args.formats] if args.formats else kDefaultFormatDirs)
    dicom_dir = first_existing([args.dicom] if args.dicom else kDefaultDicomDirs)
    calibration_files = list_images(images_dir)
    if not calibration_files:
        ap.error(f"{images_dir}: no images ({', '.join(kImageSuffixes)})")
    files = calibration_files + (list_images(formats_dir) if formats_dir else []) + \
        (list_images(dicom_dir) if dicom_dir else [])
    stems = [os.path.basename(p).split(".")[0] for p in files]
    if len(set(stems)) != len(stems):
        ap.error("two images share a name stem: " + ", ".join(sorted({s for s in stems if stems.count(s) > 1})))

    out_dir = os.path.abspath(args.out)
    ref_dir = os.path.join(out_dir, "reference")
    model_path = os.path.join(out_dir, kModelFile)
    manifest_path = os.path.join(ref_dir, "manifest.json")
    config = {"seed": args.seed, "opset": args.opset, "torch": torch.__version__,
              "images": [os.path.relpath(p, kRepo) for p in files]}
    weights_path = os.path.join(out_dir, kWeightsFile)
    if not args.force and os.path.exists(weights_path) and up_to_date(manifest_path, model_path, config):
        print(f"{os.path.relpath(manifest_path)} is up to date (--force to redo)")
        return 0

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
