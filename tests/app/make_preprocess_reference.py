#!/usr/bin/python3
"""Writes torchvision's preprocessing of bundled chest X-rays, for app_tests to compare with.

Run by ctest as the fixture `app_preprocess_reference` (see tests/app/CMakeLists.txt):
    make_preprocess_reference.py --data data --out <build>/tests/app/preprocess_reference

Output: manifest.txt, and for each case raw little-endian files:
    <name>.decoded.u8       the 8-bit pixels PIL holds after decoding, [H, W] or [H, W, 3]
    <name>.<pipeline>.f32   the float32 input tensor, [samples, 3, crop, crop]
manifest.txt lines:
    decoded <name> <relpath> <width> <height> <channels>
    tensor <name> <relpath> <pipeline> <mode> <resize> <crop> <samples>

The one departure from plain PIL is 16-bit grey: PIL opens it as mode 'I' and convert('RGB')
clips everything above 255 to white. chexrt maps 16-bit v to round(v / 257) instead, and this
script does the same, so the comparison checks chexrt's documented behaviour.
"""
import argparse
import os
import sys

try:
    import numpy as np
    import torch
    from PIL import Image
    from torchvision import transforms
except ImportError as error:  # the test must fail, not pass, without its reference
    sys.exit(f"make_preprocess_reference.py needs numpy, torch, torchvision and PIL: {error}")

IMAGES = [
    ("nih_8bit", "cxr/nih/00017921_000.png"),
    ("png_16bit", "cxr/formats/00017921_000_16bit.png"),
    ("png_rgba", "cxr/formats/00014995_000_rgba.png"),
    ("jpeg_grey", "cxr/formats/00008980_000_q90.jpg"),
    ("png_2000x1800", "cxr/formats/00023104_000_2000x1800.png"),
    ("png_512", "cxr/formats/00012082_000_512.png"),
]

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def to_input(crop):
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(MEAN, STD)])(crop)


# name -> (chexrt ResizeMode, resize size, crop size, transform producing [samples, 3, c, c])
PIPELINES = {
    "center256": ("center", 256, 224, transforms.Compose(
        [transforms.Resize(256), transforms.CenterCrop(224), to_input, lambda t: t.unsqueeze(0)])),
    "center224": ("center", 224, 224, transforms.Compose(
        [transforms.Resize(224), transforms.CenterCrop(224), to_input, lambda t: t.unsqueeze(0)])),
    "exact224": ("exact", 224, 224, transforms.Compose(
        [transforms.Resize((224, 224)), to_input, lambda t: t.unsqueeze(0)])),
    "tencrop256": ("tencrop", 256, 224, transforms.Compose(
        [transforms.Resize(256), transforms.TenCrop(224),
         lambda crops: torch.stack([to_input(c) for c in crops])])),
}


def load_8bit(path):
    image = Image.open(path)
    if image.mode in ("I", "I;16", "I;16B"):
        values = np.asarray(image).astype(np.float64)
        image = Image.fromarray(np.round(values / 257.0).astype(np.uint8), "L")
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="the repository's data directory (holds cxr/)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.txt")
    if os.path.exists(manifest_path):  # never leave an old manifest beside new files
        os.remove(manifest_path)
    manifest = []
    for name, rel in IMAGES:
        image = load_8bit(os.path.join(args.data, rel))
        pixels = np.asarray(image, dtype=np.uint8)
        channels = 1 if pixels.ndim == 2 else pixels.shape[2]
        pixels.tofile(os.path.join(args.out, f"{name}.decoded.u8"))
        manifest.append(f"decoded {name} {rel} {image.width} {image.height} {channels}")
        rgb = image.convert("RGB")
        for pipeline, (mode, resize, crop, transform) in PIPELINES.items():
            tensor = transform(rgb).contiguous().numpy().astype("<f4")
            tensor.tofile(os.path.join(args.out, f"{name}.{pipeline}.f32"))
            manifest.append(f"tensor {name} {rel} {pipeline} {mode} {resize} {crop} {tensor.shape[0]}")
    # Written last: its presence means every file above is complete.
    with open(manifest_path, "w") as f:
        f.write("\n".join(manifest) + "\n")
    print(f"wrote {len(manifest)} reference entries to {args.out}")


if __name__ == "__main__":
    main()
