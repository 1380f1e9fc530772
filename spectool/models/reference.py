"""Load state dicts named as in the authors' reference code into spectool's modules.

The reference MSPC-Net (``qintianjian-lab/MSPC-Net``) and comparison models
(``qintianjian-lab/Spectrum-Classification-Models``) name their parameters differently
from spectool; :func:`reference_key` maps one reference name to ours with an explicit
rule table per architecture, and :func:`load_reference_state` loads a whole reference
state (e.g. the ``state/<name>`` arrays of the equivalence fixtures in
``shared/reference/classifiers/*.npz``) with strict name and shape checks.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn as nn

from ..errors import ModelError
from .baselines import SSCNN, ConvNeXt1D, RACNet
from .mspcnet import MSPCNet


def _mspc_key(key: str) -> str | None:
    """Reference MSPC-Net name -> spectool name (``stages`` interleaves stages and merges there)."""
    rules = [
        (r"patch_embed\.proj\.(.+)", lambda m: f"embed.conv.{m[1]}"),
        (r"patch_embed\.norm\.(.+)", lambda m: f"embed.norm.{m[1]}"),
        (r"stages\.(\d+)\.reduction\.(.+)", lambda m: f"stages.{(int(m[1]) + 1) // 2}.downsample.conv.{m[2]}"),
        (r"stages\.(\d+)\.norm\.(.+)", lambda m: f"stages.{(int(m[1]) + 1) // 2}.downsample.norm.{m[2]}"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.(.+)", lambda m: _prefixed(f"stages.{int(m[1]) // 2}.blocks.{m[2]}",
                                                                    _mspc_block_key(m[3]))),
        (r"head\.1\.(.+)", lambda m: f"head_conv.{m[1]}"),
        (r"head\.4\.(.+)", lambda m: f"fc.{m[1]}"),
    ]
    return _apply(rules, key)


def _prefixed(prefix: str, key: str | None) -> str | None:
    return None if key is None else f"{prefix}.{key}"


def _mspc_block_key(key: str) -> str | None:
    rules = [
        (r"spatial_mixing\.conv(\d)\.weight", lambda m: f"mixer.weights.{int(m[1]) - 1}"),
        (r"mlp\.0\.conv\.(.+)", lambda m: f"eca_front.gate.conv.{m[1]}"),
        (r"mlp\.1\.(.+)", lambda m: f"fc1.{m[1]}"),
        (r"mlp\.2\.(.+)", lambda m: f"norm.{m[1]}"),
        (r"mlp\.4\.(.+)", lambda m: f"fc2.{m[1]}"),
        (r"mlp\.5\.conv\.(.+)", lambda m: f"eca_back.gate.conv.{m[1]}"),
    ]
    return _apply(rules, key)


def _sscnn_key(key: str) -> str | None:
    rules = [
        (r"conv_structure\.(\d+)\.(.+)", lambda m: f"features.{m[1]}.{m[2]}"),
        (r"fc_structure\.0\.(.+)", lambda m: f"fc1.{m[1]}"),
        (r"fc_structure\.2\.(.+)", lambda m: f"fc.{m[1]}"),
    ]
    return _apply(rules, key)


_RAC_BLOCK = {"conv_blk.0": "conv1", "conv_blk.2": "bn1", "conv_blk.3": "conv2", "conv_blk.5": "bn2",
              "conv_blk.6": "conv3", "conv_blk.8.conv_1": "attn.proj", "conv_blk.8.linear": "attn.gate.fc",
              "residual_conv": "shortcut"}


def _racnet_key(key: str) -> str | None:
    rules = [
        (r"conv_structure\.(\d+)\.0\.(.+)\.(\w+)",
         lambda m: f"blocks.{m[1]}.{_RAC_BLOCK[m[2]]}.{m[3]}" if m[2] in _RAC_BLOCK else None),
        (r"fc_structure\.0\.(.+)", lambda m: f"fc1.{m[1]}"),
        (r"fc_structure\.2\.(.+)", lambda m: f"fc.{m[1]}"),
    ]
    return _apply(rules, key)


_CNX_BLOCK = {"conv_d": "dwconv", "ln": "norm", "conv_1": "fc1", "conv_2": "fc2"}


def _convnext_key(key: str) -> str | None:
    rules = [
        (r"stem\.(.+)", lambda m: f"stem.{m[1]}"),
        (r"extractor\.(\d+)\.blocks\.(\d+)\.(\w+)\.(.+)",
         lambda m: f"stages.{m[1]}.blocks.{m[2]}.{_CNX_BLOCK[m[3]]}.{m[4]}" if m[3] in _CNX_BLOCK else None),
        (r"extractor\.(\d+)\.ln\.(.+)", lambda m: f"stages.{m[1]}.norm.{m[2]}"),
        (r"extractor\.(\d+)\.down_sample\.(.+)", lambda m: f"stages.{m[1]}.downsample.{m[2]}"),
        (r"classifier\.(.+)", lambda m: f"fc.{m[1]}"),
    ]
    return _apply(rules, key)


def _apply(rules: list, key: str) -> str | None:
    """The first matching rule's result for ``key`` (rules are (full-match regex, fn(match)))."""
    for pattern, fn in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return fn(m)
    return None


_KEY_MAPS = {MSPCNet: _mspc_key, SSCNN: _sscnn_key, RACNet: _racnet_key, ConvNeXt1D: _convnext_key}


def reference_key(model: nn.Module, key: str) -> str:
    """The spectool state name for the reference state name ``key`` of ``model``'s architecture.

    Raises :class:`ModelError` for architectures without a reference or unknown names.
    """
    mapper = _KEY_MAPS.get(type(model))
    if mapper is None:
        raise ModelError(f"no reference key mapping for {type(model).__name__}", "model")
    ours = mapper(key)
    if ours is None:
        raise ModelError(f"unknown reference parameter name {key!r} for {type(model).__name__}", key)
    return ours


def load_reference_state(model: nn.Module, npz_state: Mapping[str, np.ndarray]) -> nn.Module:
    """Load a state named as in the reference code into ``model`` (in place; returns it).

    ``npz_state`` maps reference names to arrays, either bare (``"stem.weight"``) or
    prefixed as in the fixtures (``"state/stem.weight"``; other keys are ignored). Every
    parameter and buffer of ``model`` must be provided once with the right shape, else
    :class:`ModelError` names the offending entries. Values are cast to the dtype of
    the model's tensors.
    """
    names = list(npz_state.files if hasattr(npz_state, "files") else npz_state.keys())
    if any(n.startswith("state/") for n in names):
        names = [n for n in names if n.startswith("state/")]
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for name in names:
        ref = name[len("state/"):] if name.startswith("state/") else name
        ours = reference_key(model, ref)
        if ours in mapped:
            raise ModelError(f"two reference entries map to {ours!r}", ref)
        if ours not in own:
            raise ModelError(f"maps to {ours!r}, which {type(model).__name__} does not have "
                             "(different configuration?)", ref)
        value = torch.as_tensor(np.asarray(npz_state[name]))
        if tuple(value.shape) != tuple(own[ours].shape):
            raise ModelError(f"shape {tuple(value.shape)} does not match {ours!r} {tuple(own[ours].shape)}", ref)
        mapped[ours] = value.to(own[ours].dtype)
    missing = sorted(set(own) - set(mapped))
    if missing:
        raise ModelError(f"reference state lacks {len(missing)} entries, e.g. {missing[:3]}", "npz_state")
    model.load_state_dict(mapped, strict=True)
    return model
