"""Load the SPFusion authors' released ONNX graph (``weights/model.onnx``) into :class:`SPFusion`.

The ONNX file is the only published form of the trained weights. Its exporter folded
every BatchNorm into the preceding convolution, stored LayerNorm affines as ``(C, 1)``
or ``(1, C, 1)`` Mul/Add constants and stored ``Linear`` weights transposed for MatMul,
so most initializers are anonymous (``onnx::Conv_718``). The node names, however, carry
the authors' module path (``/star_fusion/photo_branch/photo_branch.0/block/block.0/Conv``),
so each initializer is mapped through the node that consumes it, never by position:

1. node name -> the authors' module path (``star_fusion.photo_branch.0.block.0``);
2. :data:`AUTHORS_TO_SPECTOOL` -> our module path (``fusion.spectral_branch.dwconv``).
   This is the only place that keeps the authors' names, including their swapped
   star-fusion branch names ("photo_branch" processes the spectral features);
3. the tensor is reshaped/transposed into our parameter. A folded conv (its weight not
   named ``<path>.weight``) receives the fused kernel, and the BatchNorm that follows it
   in our model (:data:`FOLDED_BATCHNORM`) becomes an exact identity plus the fused bias
   (weight 1, running mean 0, running variance 1 - eps, bias = fused bias).

The running statistics of the original BatchNorms cannot be recovered, so the imported
model is meant for inference or for fine-tuning with the BatchNorms kept in eval mode.
Only the ``onnx`` package is needed (no onnxruntime).
"""
from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from ..errors import CorruptFileError, MissingDataError, ModelError
from ._registry import create
from .spfusion import SPFusion

#: authors' module path (regex, full match) -> spectool module path of :class:`SPFusion`.
AUTHORS_TO_SPECTOOL: list[tuple[str, str]] = [
    (r"spec_feature_extractor\.stem", "spectral.stem"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.blocks\.(\d+)\.conv_d",
     r"spectral.stages.\1.blocks.\2.dwconv"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.blocks\.(\d+)\.ln",
     r"spectral.stages.\1.blocks.\2.norm"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.blocks\.(\d+)\.conv_1",
     r"spectral.stages.\1.blocks.\2.fc1"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.blocks\.(\d+)\.conv_2",
     r"spectral.stages.\1.blocks.\2.fc2"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.ln", r"spectral.stages.\1.norm"),
    (r"spec_feature_extractor\.extractor\.(\d+)\.down_sample", r"spectral.stages.\1.downsample"),
    (r"photo_feature_extractor\.feature_extractor\.conv1\.0", "photometric.stem.conv1"),
    (r"photo_feature_extractor\.feature_extractor\.conv1\.3", "photometric.stem.conv2"),
    (r"photo_feature_extractor\.feature_extractor\.conv1\.6", "photometric.stem.conv3"),
    (r"photo_feature_extractor\.feature_extractor\.layer1\.0\.conv1", "photometric.block.conv1"),
    (r"photo_feature_extractor\.feature_extractor\.layer1\.0\.conv2", "photometric.block.conv2"),
    (r"photo_feature_extractor\.conv_blk\.0", "photometric.project.conv1"),
    (r"photo_feature_extractor\.conv_blk\.2", "photometric.project.conv2"),
    (r"photo_feature_extractor\.linear_blk\.1", "photometric.linear"),
    # The authors call the fusion as (spectral, photometric) but name the parameters
    # (photo, spec): their "photo_branch" is our spectral branch and vice versa.
    (r"star_fusion\.photo_branch\.0\.block\.0", "fusion.spectral_branch.dwconv"),
    (r"star_fusion\.photo_branch\.1\.block\.0", "fusion.spectral_branch.expand"),
    (r"star_fusion\.spec_branch\.0\.block\.0", "fusion.photometric_branch.dwconv"),
    (r"star_fusion\.spec_branch\.1\.block\.0", "fusion.photometric_branch.expand"),
    (r"star_fusion\.fusion\.0\.block\.0", "fusion.fuse.reduce"),
    (r"star_fusion\.fusion\.1\.block\.0", "fusion.fuse.dwconv"),
    (r"fusion_trans_blk\.mhsa\.ln_([qkv])", r"transformer.attn.norm_\1"),
    (r"fusion_trans_blk\.ffn\.ln", "transformer.ffn.norm"),
    (r"fusion_trans_blk\.ffn\.ffn\.0", "transformer.ffn.fc1"),
    (r"fusion_trans_blk\.ffn\.ffn\.2", "transformer.ffn.fc2"),
    (r"trans_blks\.(\d+)\.ffn\.ln", r"metaformer.\1.ffn.norm"),
    (r"trans_blks\.(\d+)\.ffn\.ffn\.0", r"metaformer.\1.ffn.fc1"),
    (r"trans_blks\.(\d+)\.ffn\.ffn\.2", r"metaformer.\1.ffn.fc2"),
    (r"trans_blks\.(\d+)\.ffn\.ffn\.3", r"metaformer.\1.ffn.length_proj"),
    (r"classification_head\.se_blk\.2", "head.se.gate.fc1"),
    (r"classification_head\.se_blk\.4", "head.se.gate.fc2"),
    (r"classification_head\.conv_blk\.0", "head.conv"),
    (r"classification_head\.out_linear", "head.linear"),
]

#: spectool conv -> the BatchNorm that follows it (folded into the conv by the exporter).
FOLDED_BATCHNORM: dict[str, str] = {
    "photometric.stem.conv1": "photometric.stem.bn1",
    "photometric.stem.conv2": "photometric.stem.bn2",
    "photometric.stem.conv3": "photometric.stem_norm",
    "photometric.block.conv1": "photometric.block.bn1",
    "photometric.block.conv2": "photometric.block.bn2",
    "photometric.project.conv1": "photometric.project.bn",
    "fusion.spectral_branch.dwconv": "fusion.spectral_branch.bn",
    "fusion.photometric_branch.dwconv": "fusion.photometric_branch.bn",
    "fusion.fuse.reduce": "fusion.fuse.bn",
    "head.conv": "head.bn",
}


def authors_module_path(node_name: str) -> str:
    """The authors' dotted module path encoded in a TorchScript-exported ONNX node name.

    ``/photo_feature_extractor/feature_extractor/conv1/conv1.0/Conv`` ->
    ``photo_feature_extractor.feature_extractor.conv1.0``: the last component is the op,
    and a child of a container repeats its parent's name as prefix (``conv1/conv1.0``).
    """
    parts = [p for p in node_name.split("/") if p][:-1]
    path: list[str] = []
    for part in parts:
        if path and part.startswith(path[-1] + "."):
            part = part[len(path[-1]) + 1:]
        path.append(part)
    return ".".join(path)


def spectool_module_path(authors_path: str) -> str:
    """Map an authors' module path to the :class:`SPFusion` module path (ModelError if unknown)."""
    for pattern, target in AUTHORS_TO_SPECTOOL:
        if re.fullmatch(pattern, authors_path):
            return re.sub(pattern, target, authors_path)
    raise ModelError(f"no SPFusion module corresponds to the ONNX module {authors_path!r}")


def _collect(graph) -> dict[str, dict[str, object]]:
    """Per authors' module path: op type -> initializer names (and Gemm's transB)."""
    from onnx import helper

    names = {init.name for init in graph.initializer}
    modules: dict[str, dict[str, object]] = {}
    for node in graph.node:
        consts = [i for i in node.input if i in names]
        if not consts:
            continue
        entry = modules.setdefault(authors_module_path(node.name), {})
        if node.op_type in entry:
            raise ModelError(f"ONNX module {authors_module_path(node.name)!r} has two "
                             f"{node.op_type} nodes with weights; cannot map it")
        entry[node.op_type] = consts
        if node.op_type == "Gemm":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            entry["transB"] = int(attrs.get("transB", 0))
    return modules


class _Loader:
    """Copies ONNX initializers into a model, recording which tensors were set."""

    def __init__(self, model: SPFusion, arrays: dict[str, np.ndarray]) -> None:
        self.model = model
        self.arrays = arrays
        self.used: set[str] = set()
        self.assigned: set[str] = set()

    def take(self, name: str) -> torch.Tensor:
        self.used.add(name)
        return torch.from_numpy(np.array(self.arrays[name], dtype=np.float32, copy=True))

    def set(self, path: str, value: torch.Tensor) -> None:
        module_path, _, attr = path.rpartition(".")
        target = getattr(self.model.get_submodule(module_path), attr)
        if target.numel() != value.numel():
            raise ModelError(f"ONNX tensor for {path} has {value.numel()} values, "
                             f"model expects shape {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(value.reshape(target.shape))
        self.assigned.add(path)

    def conv(self, authors: str, ours: str, inputs: list[str]) -> None:
        weight = self.take(inputs[0])
        bias = self.take(inputs[1]) if len(inputs) > 1 else None
        self.set(f"{ours}.weight", weight)
        conv = self.model.get_submodule(ours)
        folded = inputs[0] != f"{authors}.weight"
        if not folded:
            if bias is not None:
                self.set(f"{ours}.bias", bias)
            return
        if ours not in FOLDED_BATCHNORM:
            raise ModelError(f"ONNX conv {authors!r} has BatchNorm folded in, but {ours} has "
                             "no BatchNorm after it")
        if conv.bias is not None:
            self.set(f"{ours}.bias", torch.zeros_like(conv.bias))
        bn_path = FOLDED_BATCHNORM[ours]
        bn = self.model.get_submodule(bn_path)
        self.set(f"{bn_path}.weight", torch.ones_like(bn.weight))
        self.set(f"{bn_path}.bias", bias if bias is not None else torch.zeros_like(bn.bias))
        self.set(f"{bn_path}.running_mean", torch.zeros_like(bn.running_mean))
        self.set(f"{bn_path}.running_var", torch.full_like(bn.running_var, 1.0 - bn.eps))

    def load(self, authors: str, ours: str, ops: dict[str, object]) -> None:
        if "Conv" in ops:
            self.conv(authors, ours, ops["Conv"])  # type: ignore[arg-type]
        elif "Gemm" in ops:
            weight, bias = (self.take(n) for n in ops["Gemm"])  # type: ignore[union-attr]
            self.set(f"{ours}.weight", weight if ops["transB"] else weight.T)
            self.set(f"{ours}.bias", bias)
        elif "MatMul" in ops:
            (weight_name,) = ops["MatMul"]  # type: ignore[misc]
            self.set(f"{ours}.weight", self.take(weight_name).T)
            if "Add" in ops:
                (bias_name,) = ops["Add"]  # type: ignore[misc]
                self.set(f"{ours}.bias", self.take(bias_name))
        elif "Mul" in ops and "Add" in ops:  # channels-first LayerNorm affine
            (weight_name,), (bias_name,) = ops["Mul"], ops["Add"]  # type: ignore[misc]
            self.set(f"{ours}.weight", self.take(weight_name))
            self.set(f"{ours}.bias", self.take(bias_name))
        else:
            raise ModelError(f"ONNX module {authors!r} uses ops {sorted(ops)}; no rule to load it")


def spfusion_from_onnx(path: str | PathLike) -> SPFusion:
    """Build :class:`SPFusion` (released configuration) with the weights of the authors' ONNX file.

    Parameters
    ----------
    path
        The authors' ``weights/model.onnx`` (opset 17, BatchNorms folded).

    Returns
    -------
    SPFusion
        In eval mode. Its predictions, attention and SE weights match onnxruntime on
        the same inputs to about 1e-6.

    Raises
    ------
    MissingDataError
        The file does not exist.
    CorruptFileError
        The file is not a readable ONNX model.
    ModelError
        A weight has no counterpart in :class:`SPFusion`, has the wrong size, or a model
        parameter/BatchNorm buffer received no weight.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise MissingDataError("ONNX file not found", path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError and friends
        raise CorruptFileError(f"not a readable ONNX model ({exc})", path) from exc
    arrays = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}

    model: SPFusion = create("spfusion")  # carries its registry name for model cards
    loader = _Loader(model, arrays)
    try:
        for authors, ops in _collect(proto.graph).items():
            loader.load(authors, spectool_module_path(authors), ops)
    except ModelError as exc:
        raise ModelError(exc.reason, path) from exc

    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    missing = sorted(expected - loader.assigned)
    unused = sorted(set(arrays) - loader.used)
    if missing or unused:
        raise ModelError(f"incomplete import: model tensors without weights {missing[:5]}, "
                         f"unused ONNX initializers {unused[:5]}", path)
    model.weights_source = str(path)
    return model.eval()

