"""Save and load models with their model card.

A saved model is ``<stem>.safetensors`` (weights; the card is also stored as JSON in the
safetensors metadata under ``"spectool_card"``) plus ``<stem>.json`` beside it (the same
card, for people and tools). Loading rebuilds the architecture from the card's ``name``
and ``overrides`` with :func:`spectool.models.create`, then loads the weights strictly.

Weights are never unpickled: safetensors files are plain tensors, and PyTorch files
(``.pt``/``.pth``/``.ckpt``) are read with ``torch.load(..., weights_only=True)``.

Card fields: ``name``, ``overrides``, ``task``, ``output_names`` (classes or targets),
``preprocess``, ``input_length``, ``needs_image``, ``training`` (``source``: "mock" or
"real", ``dataset``: preset name, and anything else the trainer records), ``metrics``,
``spectool_version``, ``saved_at`` (UTC, ISO 8601), ``format`` (card format version).
"""
from __future__ import annotations

import datetime as _dt
import json
from os import PathLike
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .._atomic import atomic_path, atomic_write_text
from ..errors import CorruptFileError, MissingDataError, ModelError
from ._registry import create, list_models

CARD_FORMAT = 1
_META_KEY = "spectool_card"
_TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
TRAINING_SOURCES = ("mock", "real")


def _jsonable(value: object) -> object:
    """Tuples -> lists, recursively, so overrides round-trip through JSON."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def build_card(model: nn.Module, training: dict | None = None, metrics: dict | None = None,
               **extra: object) -> dict:
    """The model card of ``model``: architecture, outputs, preprocessing, training, metrics.

    Starts from ``model.card`` (set by :func:`load` or a trainer) and updates it with the
    arguments. ``training["source"]`` must be "mock" or "real" when given.
    """
    name = getattr(model, "model_name", None)
    if name is None:
        raise ModelError("model was not built with spectool.models.create(), so its card has no name",
                         type(model).__name__)
    card = dict(getattr(model, "card", None) or {})
    card.update(
        name=name,
        overrides=_jsonable(getattr(model, "model_overrides", {})),
        task=getattr(model, "task", "classification"),
        output_names=list(getattr(model, "output_names", [])),
        preprocess=getattr(model, "preprocess", None),
        input_length=getattr(model, "input_length", None),
        needs_image=bool(getattr(model, "needs_image", False)),
    )
    if training is not None:
        source = training.get("source")
        if source not in TRAINING_SOURCES:
            raise ModelError(f"training['source'] must be one of {TRAINING_SOURCES}, got {source!r}",
                             "training.source")
        card["training"] = _jsonable(training)
    if metrics is not None:
        card["metrics"] = _jsonable(metrics)
    card.update(_jsonable(extra))
    card.setdefault("training", None)
    card.setdefault("metrics", {})
    return card


def save(model: nn.Module, path: str | PathLike, training: dict | None = None,
         metrics: dict | None = None, **extra: object) -> Path:
    """Write ``model``'s weights and card to ``path`` (``.safetensors`` added if missing).

    Returns the weights path; the card is also written to the ``.json`` beside it and set
    as ``model.card``. Both files are written atomically.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    card = build_card(model, training, metrics, **extra)
    from .. import __version__
    card.update(spectool_version=__version__, format=CARD_FORMAT,
                saved_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    text = json.dumps(card, indent=2, sort_keys=True)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={_META_KEY: text})
    atomic_write_text(path.with_suffix(".json"), text + "\n")
    model.card = card
    return path


def read_card(path: str | PathLike) -> dict:
    """The card of a saved model without loading its weights.

    Reads the safetensors metadata, else the ``.json`` beside the weights.
    """
    path = Path(path)
    if not path.exists():
        raise MissingDataError("no such model file", path)
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
        except (SafetensorError, OSError) as exc:
            raise CorruptFileError(f"not a readable safetensors file ({exc})", path) from exc
        if _META_KEY in meta:
            return _parse_card(meta[_META_KEY], path)
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        raise MissingDataError(f"no model card: neither safetensors metadata nor {sidecar.name}", path)
    return _parse_card(sidecar.read_text(encoding="utf-8"), sidecar)


def _parse_card(text: str, path: Path) -> dict:
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"model card is not valid JSON ({exc})", path) from exc
    if not isinstance(card, dict) or "name" not in card:
        raise CorruptFileError("model card has no 'name' field", path)
    return card


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                return {k: fh.get_tensor(k) for k in fh.keys()}
        except (SafetensorError, OSError) as exc:
            raise CorruptFileError(f"not a readable safetensors file ({exc})", path) from exc
    if path.suffix in _TORCH_SUFFIXES:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # weights_only refuses pickled code with a generic error
            raise CorruptFileError(f"cannot read weights safely with torch.load(weights_only=True): {exc}",
                                   path) from exc
        state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CorruptFileError("file holds no state dict of tensors", path)
        return state
    raise ModelError(f"unsupported weights format {path.suffix!r}; use .safetensors or "
                     f"{'/'.join(_TORCH_SUFFIXES)}", path)


def load(path_or_name: str | PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a saved model (a file path) or a pretrained model (a name from ``list_pretrained()``).

    The model is returned in eval mode with ``model.card`` set.
    """
    from .pretrained import list_pretrained, pretrained_path
    key = str(path_or_name)
    if key in list_pretrained():
        path = pretrained_path(key)
    else:
        path = Path(path_or_name)
        if not path.exists():
            hint = " (an architecture name: build it with spectool.models.create())" \
                if key in list_models() else ""
            raise MissingDataError(f"neither a model file nor a pretrained model{hint}; pretrained: "
                                   f"{', '.join(list_pretrained()) or 'none installed'}", key)
    card = read_card(path)
    overrides = dict(card.get("overrides") or {})
    model = create(card["name"], **overrides)
    state = _read_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"weights do not fit {card['name']!r} with overrides {overrides}: {exc}", path) from exc
    model.card = card
    return model.to(map_location).eval()
