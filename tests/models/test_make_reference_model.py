"""scripts/make_reference_model.py remakes its outputs when any input changes (run by ctest).

The full run (a DenseNet-121 forward pass over every image) is exercised by scripts/test.sh;
this test checks the freshness rule on its own, with a small stand-in for the outputs.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import make_reference_model as mrm  # noqa: E402


class FreshnessTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="chexrt_refmodel_test.")
        self.images = os.path.join(self.dir, "images")
        os.makedirs(self.images)
        for name in ("a.png", "b.png"):
            shutil.copy(os.path.join(mrm.kRepo, "data", "cxr", "nih", "00000284_000.png"),
                        os.path.join(self.images, name))
        self.args = argparse.Namespace(seed=0, opset=13)
        self.outputs = [os.path.join(self.dir, "model.onnx"), os.path.join(self.dir, "weights.safetensors")]
        for p in self.outputs:
            open(p, "wb").close()
        self.manifest = os.path.join(self.dir, "manifest.json")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def files(self):
        return mrm.list_images(self.images)

    def write_manifest(self):
        with open(self.manifest, "w") as f:
            json.dump({"config": mrm.make_config(self.args, self.files())}, f)

    def fresh(self):
        return mrm.up_to_date(self.manifest, self.outputs, mrm.make_config(self.args, self.files()))

    def test_same_inputs_are_up_to_date(self):
        self.write_manifest()
        self.assertTrue(self.fresh())

    def test_changed_image_bytes_remake(self):
        self.write_manifest()
        with open(os.path.join(self.images, "b.png"), "r+b") as f:  # same name, same size
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        self.assertFalse(self.fresh())

    def test_added_or_removed_image_remakes(self):
        self.write_manifest()
        shutil.copy(os.path.join(self.images, "a.png"), os.path.join(self.images, "c.png"))
        self.assertFalse(self.fresh())
        os.remove(os.path.join(self.images, "c.png"))
        self.assertTrue(self.fresh())
        os.remove(os.path.join(self.images, "a.png"))
        self.assertFalse(self.fresh())

    def test_other_seed_or_missing_output_remakes(self):
        self.write_manifest()
        self.args.seed = 1
        self.assertFalse(self.fresh())
        self.args.seed = 0
        os.remove(self.outputs[1])
        self.assertFalse(self.fresh())

    def test_unreadable_manifest_remakes(self):
        with open(self.manifest, "w") as f:
            f.write("{ truncated")
        self.assertFalse(self.fresh())

    def test_script_change_is_an_input(self):
        config = mrm.make_config(self.args, self.files())
        self.assertEqual(sorted(config["scripts"]), sorted(mrm.kSourceScripts))
        self.assertTrue(all(len(h) == 64 for h in config["scripts"].values()))


if __name__ == "__main__":
    unittest.main()
