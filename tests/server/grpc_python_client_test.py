#!/usr/bin/python3
"""A Python gRPC client, with stubs generated from grpc_service.proto the way Triton's Python
client has its own, calls every RPC of a chexrt gRPC server in front of the fake "sum" service
(grpc_fake_server) and checks the answers field by field.

usage: grpc_python_client_test.py GRPC_FAKE_SERVER GRPC_SERVICE_PROTO PROTOC GRPC_PYTHON_PLUGIN
Exits 77 (skipped, with the reason) where Python's grpc module or the plugin is missing.
"""
import os
import struct
import subprocess
import sys
import tempfile

SKIP = 77


def main():
    server_path, proto, protoc, plugin = sys.argv[1:5]
    try:
        import grpc
    except ImportError:
        print("skipped: Python's grpc module is missing (Debian: python3-grpcio)")
        return SKIP
    if not os.path.exists(plugin):
        print("skipped: grpc_python_plugin not found (Debian: protobuf-compiler-grpc)")
        return SKIP
    import numpy as np

    with tempfile.TemporaryDirectory() as out:
        subprocess.run([protoc, f"--proto_path={os.path.dirname(proto)}", f"--python_out={out}",
                        f"--grpc_python_out={out}", f"--plugin=protoc-gen-grpc_python={plugin}", proto],
                       check=True)
        sys.path.insert(0, out)
        import grpc_service_pb2 as pb
        import grpc_service_pb2_grpc as pb_grpc

        server = subprocess.Popen([server_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline().split()
            assert line[0] == "port", line
            with grpc.insecure_channel(f"127.0.0.1:{line[1]}") as channel:
                check(grpc, pb, pb_grpc.GRPCInferenceServiceStub(channel), np)
        finally:
            server.stdin.close()
            assert server.wait(timeout=30) == 0, "grpc_fake_server did not exit cleanly"
    print("grpc_python_client_test: every RPC answered as expected")
    return 0


def bytes_tensor(elements):
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def check(grpc, pb, stub, np):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready

    server = stub.ServerMetadata(pb.ServerMetadataRequest())
    assert (server.name, server.version, list(server.extensions)) == ("chexrt", "0.1.0", ["binary_tensor_data"])

    model = stub.ModelMetadata(pb.ModelMetadataRequest(name="sum"))
    assert model.name == "sum" and list(model.versions) == ["1"] and model.platform == "chexrt_fake"
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("a", "FP32", [-1, 3]),
                                                                           ("files", "BYTES", [-1])]
    assert model.parameters["demo_model"].bool_param is True
    assert stub.ModelReady(pb.ModelReadyRequest(name="sum")).ready
    assert not stub.ModelReady(pb.ModelReadyRequest(name="sum", version="2")).ready

    # As Triton's client sends tensors: numpy arrays as raw_input_contents.
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    b = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    files = [b"\x89PNG\r\n", b"\xff\xd8\xff"]
    request = pb.ModelInferRequest(model_name="sum", id="py-1")
    request.parameters["mode"].string_param = "exact"
    request.inputs.add(name="a", datatype="FP32", shape=[2, 3])
    request.inputs.add(name="b", datatype="UINT8", shape=[2, 3])
    request.inputs.add(name="files", datatype="BYTES", shape=[2])
    request.raw_input_contents.extend([a.tobytes(), b.tobytes(), bytes_tensor(files)])
    response = stub.ModelInfer(request)
    assert response.id == "py-1" and response.model_name == "sum"
    names = [o.name for o in response.outputs]
    assert names == ["sum", "echo_a", "echo_b", "echo_files", "parameters"], names
    assert len(response.raw_output_contents) == len(names)
    total = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(list(response.outputs[0].shape))
    np.testing.assert_array_equal(total, a + b)
    assert response.raw_output_contents[3] == bytes_tensor(files)
    assert response.raw_output_contents[4] == bytes_tensor([b"mode=exact"])

    # Typed contents, one requested output.
    request = pb.ModelInferRequest(model_name="sum")
    request.inputs.add(name="x", datatype="INT64", shape=[3]).contents.int64_contents.extend([1, -2, 2**40])
    request.outputs.add(name="sum")
    response = stub.ModelInfer(request)
    assert [o.name for o in response.outputs] == ["sum"]
    np.testing.assert_array_equal(np.frombuffer(response.raw_output_contents[0], dtype=np.float32),
                                  np.array([1, -2, 2**40], dtype=np.float32))

    # Errors arrive as the call's status.
    for call, code, text in [
        (lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="nope")), grpc.StatusCode.NOT_FOUND, "model 'nope'"),
        (lambda: stub.ModelInfer(pb.ModelInferRequest(
            model_name="sum", inputs=[pb.ModelInferRequest.InferInputTensor(name="a", datatype="FP32", shape=[2])],
            raw_input_contents=[b"\0\0\0\0"])),
         grpc.StatusCode.INVALID_ARGUMENT, "input 'a': raw_input_contents has 4 bytes but FP32 [2] needs 8"),
    ]:
        try:
            call()
            raise AssertionError(f"expected {code}")
        except grpc.RpcError as e:
            assert e.code() == code, (e.code(), e.details())
            assert text in e.details(), e.details()


if __name__ == "__main__":
    sys.exit(main())
