"""SPFusion: architecture facts, ablation options, and equivalence with the authors' ONNX."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spectool.errors import CorruptFileError, MissingDataError, ModelError
from spectool.models import create, spfusion_from_onnx
from spectool.models.onnx_import import authors_module_path, spectool_module_path
from spectool.models.spfusion import (ChannelAttention, PoolMetaFormerBlock, SPFusion,
                                      softmax_one_as_implemented)

from conftest import shared_path

torch.set_num_threads(2)


def _n(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _inputs(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, 3584, generator=g), torch.rand(batch, 3, 128, 128, generator=g)


@pytest.fixture(scope="module")
def onnx_path():
    return shared_path("reference", "spfusion", "model.onnx")


@pytest.fixture(scope="module")
def imported(onnx_path) -> SPFusion:
    return spfusion_from_onnx(onnx_path)


def test_parameter_counts_match_the_paper_and_the_authors_code():
    model = create("spfusion")
    assert _n(model) == 939_398
    parts = {name: _n(child) for name, child in model.named_children()}
    assert parts == {"spectral": 559_520, "photometric": 156_692, "fusion": 87_264,
                     "transformer": 74_976, "metaformer": 38_128, "head": 22_818}


def test_forward_contract_and_extras():
    model = SPFusion().eval()
    x, image = _inputs()
    with torch.no_grad():
        out, attention, se = model(x, image, return_extras=True)
        features = model.forward_features(x, image)
        again = model.forward_head(features)
    assert out.shape == (2, 2) and attention.shape == (2, 1, 96, 96) and se.shape == (2, 96)
    assert features.shape == (2, 32)
    torch.testing.assert_close(again, out)
    assert model.output_names == ["mass", "age"] and model.needs_image
    assert (model.task, model.preprocess, model.input_length) == ("regression", "spfusion", 3584)
    torch.testing.assert_close(model.last_attention, attention)


def test_se_gate_hook_returns_the_channel_weights():
    model = SPFusion().eval()
    assert "head.se" in model.attention_modules()
    seen = []
    handle = model.head.se.gate.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    with torch.no_grad():
        model(*_inputs())
    handle.remove()
    assert seen and seen[0].shape == (2, 96)
    torch.testing.assert_close(seen[0], model.last_se_weights)


def test_softmax_one_as_implemented_subtracts_the_max_before_adding_one():
    logits = torch.tensor([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    e = torch.exp(logits - logits.amax(-1, keepdim=True))
    expected = e / (1 + e.sum(-1, keepdim=True))
    torch.testing.assert_close(softmax_one_as_implemented(logits), expected)
    sums = softmax_one_as_implemented(torch.randn(50, 96) * 3).sum(-1)
    assert torch.all(sums >= 0.5) and torch.all(sums < 1.0)
    # not the textbook softmax_1 = exp(a) / (1 + sum exp(a))
    textbook = torch.exp(logits) / (1 + torch.exp(logits).sum(-1, keepdim=True))
    assert not torch.allclose(softmax_one_as_implemented(logits), textbook)


@pytest.mark.parametrize("heads", [2, 4, 7])
def test_multi_head_split_gives_each_head_its_own_positions(heads):
    torch.manual_seed(1)
    attn = ChannelAttention(96, 28, heads=heads).eval()
    for norm in (attn.norm_q, attn.norm_k, attn.norm_v):
        torch.nn.init.normal_(norm.weight)
    x = torch.randn(2, 96, 28)
    out = attn(x)
    d = 28 // heads
    q, k, v = attn.norm_q(x), attn.norm_k(x), attn.norm_v(x)
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        w = softmax_one_as_implemented(q[..., cols] @ k[..., cols].transpose(1, 2) / d ** 0.5)
        torch.testing.assert_close(attn.last_attention[:, h], w)
        torch.testing.assert_close(out[..., cols], w @ v[..., cols])


@pytest.mark.parametrize("bad", [3, 5, 0])
def test_heads_must_divide_28(bad):
    with pytest.raises(ModelError):
        SPFusion(heads=bad)


def test_last_metaformer_block_returns_the_ffn_output_only():
    torch.manual_seed(2)
    block = PoolMetaFormerBlock(96, 28, last=True).eval()
    x = torch.randn(2, 96, 28)
    pooled = torch.nn.functional.avg_pool1d(x, 3, 1, 1, count_include_pad=False)
    torch.testing.assert_close(block(x), block.ffn(x + pooled))
    inner = PoolMetaFormerBlock(96, 28, last=False).eval()
    y = x + pooled
    torch.testing.assert_close(inner(x), y + inner.ffn(y))
    assert inner.ffn.length_proj is None


@pytest.mark.parametrize("overrides, params", [
    ({"fusion": "add"}, 939_398 - 87_264),
    ({"star_kernel": 3}, None), ({"star_kernel": 11}, None),
    ({"ffn_ratio": 2}, 939_398 - 2 * 96 * 96 * 2 - 96 * 2),
    ({"ffn_ratio": 5}, None), ({"heads": 7}, 939_398),
    ({"metaformer_blocks": 3}, 939_398 + 2 * 37_344),
])
def test_ablations_build_and_run(overrides, params):
    model = create("spfusion", **overrides).eval()
    if params is not None:
        assert _n(model) == params
    with torch.no_grad():
        out = model(*_inputs(batch=1))
    assert out.shape == (1, 2) and torch.isfinite(out).all()


def test_slim_widths_keep_the_token_shapes_and_drop_the_trunk_parameters():
    """The CPU modes' slim SPFusion: narrower stem / spectral stages, same (B, 96, 28) tokens."""
    slim = dict(image_widths=(8, 16, 16), spectral_dims=(32, 64, 32), spectral_depths=(1, 1, 1))
    model = create("spfusion", **slim).eval()
    full = create("spfusion").eval()
    x, image = _inputs(batch=2)
    with torch.no_grad():
        assert model.forward_tokens(x, image).shape == full.forward_tokens(x, image).shape == (2, 96, 28)
    # everything after the extractors is the paper's, parameter for parameter
    after = ("fusion", "transformer", "metaformer", "head")
    assert sum(_n(getattr(model, m)) for m in after) == sum(_n(getattr(full, m)) for m in after)
    assert _n(model.photometric.stem) == 3 * 9 * 8 + 8 * 9 * 16 + 16 * 9 * 16 + 2 * (8 + 16)
    assert _n(model) == 336_086 < _n(full) == 939_398
    with pytest.raises(ModelError, match="fused channels"):
        SPFusion(spectral_dims=(32, 64, 48))
    with pytest.raises(ModelError, match="widths"):
        SPFusion(image_widths=(8, 16))


def test_add_fusion_is_the_plain_sum():
    model = SPFusion(fusion="add").eval()
    s, p = torch.randn(2, 32, 28), torch.randn(2, 32, 28)
    torch.testing.assert_close(model.fusion(s, p), s + p)


def test_training_step_reaches_every_parameter():
    torch.manual_seed(3)
    model = SPFusion(drop_rate=0.0).train()
    out = model(*_inputs())
    torch.nn.functional.mse_loss(out, torch.tensor([[1.2, 6.0], [1.0, 8.0]])).backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_bad_inputs_raise_model_error():
    model = SPFusion().eval()
    x, image = _inputs(batch=1)
    with pytest.raises(ModelError, match="image"):
        model(x)
    with pytest.raises(ModelError, match="spectrum"):
        model(x[..., :3000], image)
    with pytest.raises(ModelError, match="image"):
        model(x, image[:, :, :64, :64])


def test_onnx_node_names_give_module_paths():
    assert authors_module_path("/photo_feature_extractor/feature_extractor/conv1/conv1.0/Conv") \
        == "photo_feature_extractor.feature_extractor.conv1.0"
    assert authors_module_path("/spec_feature_extractor/extractor.1/blocks.2/ln/Add_1") \
        == "spec_feature_extractor.extractor.1.blocks.2.ln"
    # the authors' "photo_branch" carries the spectral features
    assert spectool_module_path("star_fusion.photo_branch.0.block.0") \
        == "fusion.spectral_branch.dwconv"
    assert spectool_module_path("trans_blks.0.ffn.ffn.3") == "metaformer.0.ffn.length_proj"
    with pytest.raises(ModelError):
        spectool_module_path("not.a.module")


def test_imported_weights_reproduce_the_authors_outputs(imported):
    ref = np.load(shared_path("reference", "spfusion", "onnx_io.npz"))
    with torch.no_grad():
        pred, attention, se = imported(torch.from_numpy(ref["spectrum"]),
                                       torch.from_numpy(ref["photometric"]), return_extras=True)
    np.testing.assert_allclose(pred.numpy(), ref["predictions"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(attention.numpy(), ref["attention"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(se.numpy(), ref["se_weights"][..., 0], atol=1e-5, rtol=0)
    # BatchNorms are exact identities plus the fused bias
    bn = imported.head.bn
    assert torch.all(bn.weight == 1) and torch.all(bn.running_mean == 0)


def test_gelu_on_the_photometric_branch_does_not_match_the_release(imported):
    ref = np.load(shared_path("reference", "spfusion", "onnx_io.npz"))
    imported.fusion.gelu_branch = "photometric"
    try:
        with torch.no_grad():
            pred = imported(torch.from_numpy(ref["spectrum"]), torch.from_numpy(ref["photometric"]))
    finally:
        imported.fusion.gelu_branch = "spectral"
    assert np.abs(pred.numpy() - ref["predictions"]).max() > 1e-3


def test_imported_model_matches_onnxruntime(imported, onnx_path):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(7)
    x, image = torch.randn(3, 1, 3584, generator=g), torch.rand(3, 3, 128, 128, generator=g)
    feed = {"spectrum": x.numpy(), "photometric": image.numpy()}
    pred_ref, attn_ref, se_ref = session.run(None, feed)
    with torch.no_grad():
        pred, attention, se = imported(x, image, return_extras=True)
    np.testing.assert_allclose(pred.numpy(), pred_ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(attention.numpy(), attn_ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(se.numpy(), se_ref[..., 0], atol=1e-5, rtol=0)


def test_import_errors(tmp_path):
    with pytest.raises(MissingDataError):
        spfusion_from_onnx(tmp_path / "absent.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file")
    with pytest.raises(CorruptFileError):
        spfusion_from_onnx(bad)
