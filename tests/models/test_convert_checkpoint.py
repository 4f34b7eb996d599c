"""scripts/convert_checkpoint.py on the checkpoint layouts seen in the wild (run by ctest)."""
import contextlib
import inspect
import io
import os
import re
import sys
import tempfile
import unittest

import numpy as np
import onnx
import onnx.numpy_helper
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import convert_checkpoint as cc  # noqa: E402


def old_torchvision_name(key):
    """features.denseblock1.denselayer1.norm1.weight -> ...denselayer1.norm.1.weight (torchvision < 0.3)."""
    return re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key)


def seeded_model():
    """A CheXNet model whose every weight and batch-norm statistic differs from the next, so that
    a key mapped to the wrong layer changes the outputs (or the shapes)."""
    torch.manual_seed(1)
    model = cc.build_chexnet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def run(argv):
    """convert_checkpoint.main(argv) -> (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cc.main(argv)
    return code, err.getvalue()


class ConvertCheckpointTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = seeded_model()
        cls.state = cls.model.state_dict()
        cls.x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            cls.want = cls.model(cls.x)
        # arnoweng/CheXNet's model.pth.tar: DataParallel around a module holding `densenet121`,
        # old layer names, saved before torch 0.4.1 (no num_batches_tracked), plus training state.
        old = {"module.densenet121." + old_torchvision_name(k): v
               for k, v in cls.state.items() if not k.endswith("num_batches_tracked")}
        assert "module.densenet121.features.denseblock1.denselayer1.norm.1.weight" in old
        cls.old_state = old
        cls.old_path = cls.path("chexnet_old.pth.tar")
        torch.save({"epoch": 3, "arch": "densenet121", "state_dict": old}, cls.old_path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp.name, name)

    def outputs_of(self, checkpoint_path, trust_pickle=False):
        state = cc.normalize_keys(cc.load_checkpoint(checkpoint_path, trust_pickle))
        with torch.no_grad():
            return cc.load_into_chexnet(state)(self.x)

    def test_old_chexnet_checkpoint_loads_every_weight_in_place(self):
        self.assertTrue(torch.equal(self.outputs_of(self.old_path), self.want))

    def test_old_chexnet_checkpoint_exports_its_weights(self):
        out = self.path("old.onnx")
        code, err = run([self.old_path, "-o", out])
        self.assertEqual(code, 0, err)
        model = onnx.load(out)
        onnx.checker.check_model(model)
        self.assertEqual([i.name for i in model.graph.input], ["image"])
        self.assertEqual([o.name for o in model.graph.output], ["probabilities"])
        self.assertEqual(model.graph.input[0].type.tensor_type.shape.dim[0].dim_param, "batch")
        self.assertEqual(model.graph.node[-1].op_type, "Sigmoid")
        # The exporter folds a BatchNorm that follows a Conv into it, so the weights that keep
        # their names are those of the BatchNorms that follow a Concat (norm1 of the 58 dense
        # layers, the 3 transitions' norm, norm5), of the Convs that no BatchNorm follows (conv2,
        # the transitions' conv) and of the classifier.
        initializers = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
        kept = [k for k in self.state
                if re.search(r"(norm1|transition\d\.norm|norm5)\.(weight|bias|running_mean|running_var)$"
                             r"|(conv2|transition\d\.conv)\.weight$|classifier\.0\.(weight|bias)$", k)]
        self.assertEqual(len(kept), (58 + 3 + 1) * 4 + 58 + 3 + 2)
        for k in kept:
            self.assertIn(k, initializers)
            np.testing.assert_array_equal(initializers[k], self.state[k].numpy(), err_msg=k)

    def test_static_batch_without_sigmoid(self):
        out = self.path("static.onnx")
        code, err = run([self.old_path, "-o", out, "--batch", "4", "--no-sigmoid", "--opset", "17"])
        self.assertEqual(code, 0, err)
        model = onnx.load(out)
        self.assertEqual(model.opset_import[0].version, 17)
        self.assertEqual(model.graph.input[0].type.tensor_type.shape.dim[0].dim_value, 4)
        self.assertEqual([o.name for o in model.graph.output], ["logits"])
        self.assertNotIn("Sigmoid", {n.op_type for n in model.graph.node})

    def test_raw_state_dict_with_a_linear_head(self):
        # A torchvision DenseNet-121 whose classifier is a bare Linear(1024, 14).
        raw = {k.replace("classifier.0.", "classifier."): v for k, v in self.state.items()}
        path = self.path("raw.pth")
        torch.save(raw, path)
        self.assertTrue(torch.equal(self.outputs_of(path), self.want))

    def test_whole_pickled_model_needs_trust(self):
        path = self.path("whole.pt")
        torch.save(self.model, path)
        self.assertTrue(torch.equal(self.outputs_of(path, trust_pickle=True), self.want))
        if "weights_only" in inspect.signature(torch.load).parameters:
            code, err = run([path, "-o", self.path("whole.onnx")])
            self.assertEqual(code, 1)
            self.assertIn("--trust-pickle", err)

    def test_wrong_key_is_named_and_nothing_is_written(self):
        bad = dict(self.old_state)
        bad["module.densenet121.features.denseblock2.denselayer3.norm.3.weight"] = \
            bad.pop("module.densenet121.features.denseblock2.denselayer3.norm.1.weight")
        path = self.path("bad_key.pth.tar")
        torch.save({"state_dict": bad}, path)
        out = self.path("bad_key.onnx")
        code, err = run([path, "-o", out])
        self.assertEqual(code, 1)
        self.assertIn("missing key(s): features.denseblock2.denselayer3.norm1.weight", err)
        self.assertIn("unexpected key(s): features.denseblock2.denselayer3.norm.3.weight", err)
        self.assertFalse(os.path.exists(out))

    def test_head_of_another_size_is_named(self):
        bad = dict(self.old_state)
        bad["module.densenet121.classifier.0.weight"] = torch.zeros(15, 1024)
        bad["module.densenet121.classifier.0.bias"] = torch.zeros(15)
        path = self.path("bad_head.pth.tar")
        torch.save({"state_dict": bad}, path)
        code, err = run([path, "-o", self.path("bad_head.onnx")])
        self.assertEqual(code, 1)
        self.assertIn("classifier.0.weight: checkpoint (15, 1024), model (14, 1024)", err)

    def usage_error(self, argv):
        """(exit code, stderr) of a run that argparse stops."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as stop:
            cc.main(argv)
        return stop.exception.code, err.getvalue()

    def test_missing_checkpoint_is_named_first(self):
        code, err = self.usage_error(["/nope/chexnet.pth.tar", "-o", self.path("x.onnx")])
        self.assertEqual(code, 2)
        self.assertIn("/nope/chexnet.pth.tar: no such file", err)
        self.assertNotIn("weights-only", err)

    def test_missing_output_folder_is_named_before_loading(self):
        code, err = self.usage_error([self.old_path, "-o", "/nonexistent/dir/x.onnx"])
        self.assertEqual(code, 2)
        self.assertIn("/nonexistent/dir", err)


if __name__ == "__main__":
    unittest.main()
