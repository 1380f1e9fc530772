"""Registry, MSPC-Net (direct and fast paths), baselines, shared layers, save/load, pretrained."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import spectool.models as models
from spectool.errors import CorruptFileError, MissingDataError, ModelError
from spectool.models import baselines, pretrained
from spectool.models.fftconv import (conv1d_same, fft_conv1d_same, fft_size, grouped_conv1d_same,
                                     kernel_spectrum)
from spectool.models.layers import ECA, SE, Conv1dSame, DropPath, LayerNorm1d, same_padding
import spectool.models.fused as fused_module
from spectool.models.mspcnet import MSPCNet
from spectool.models.reference import load_reference_state, reference_key

torch.set_num_threads(2)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- registry and sizes

def test_registry_has_every_paper_model():
    names = set(models.list_models())
    assert {"mspcnet_sdss", "mspcnet_lamost", "sscnn", "racnet", "convnext1d", "spfusion",
            "scanet_mmmm", "scanet_mmmt", "scanet_mmtt", "scanet_mttt", "scanet_tttt"} <= names
    assert models.list_models("mspcnet_*") == ["mspcnet_lamost", "mspcnet_sdss"]
    with pytest.raises(ModelError, match="unknown model"):
        models.create("mspcnet_nope")
    with pytest.raises(ModelError, match="bad options"):
        models.create("sscnn", no_such_option=1)


@pytest.mark.parametrize("name, overrides, expected", [
    ("mspcnet_sdss", {"num_classes": 24}, 2_098_644),          # paper: 2.1M
    ("mspcnet_sdss", {"num_classes": 25}, 2_099_669),          # = reference fixture
    ("mspcnet_sdss", {"num_classes": 37, "n_div": 16}, 1_063_649),
    ("mspcnet_sdss", {"num_classes": 7, "depths": [6, 6, 18, 6]}, 5_669_435),  # authors' HEAD cfg
    ("mspcnet_lamost", {"num_classes": 6}, 2_189_546),         # paper: 2.2M
    ("mspcnet_lamost", {"num_classes": 6, "n_div": 8}, 3_936_746),    # Table 13: 3.9M
    ("mspcnet_lamost", {"num_classes": 6, "n_div": 4}, 10_925_546),   # Table 13: 10.9M
    ("sscnn", {"num_classes": 24}, 7_481_560),
    ("racnet", {"num_classes": 24}, 759_192),
    ("convnext1d", {"num_classes": 24}, 573_288),
    ("racnet", {"num_classes": 24, **baselines.LARGE_PARAMETER_OVERRIDES["racnet"]}, 2_112_088),
    ("convnext1d", {"num_classes": 24, **baselines.LARGE_PARAMETER_OVERRIDES["convnext1d"]}, 3_371_704),
])
def test_parameter_counts(name, overrides, expected):
    assert n_params(models.create(name, **overrides)) == expected


def test_mspcnet_sdss_channel_groups():
    block = models.create("mspcnet_sdss").stages[0].blocks[0]
    assert [tuple(w.shape) for w in block.mixer.weights] == [(16, 16, 5), (16, 16, 45), (16, 16, 405)]
    lamost = models.create("mspcnet_lamost").stages[0].blocks[0]
    assert [w.shape[0] for w in lamost.mixer.weights] == [8, 8, 8]   # 104 identity channels
    assert [len(s.blocks) for s in models.create("mspcnet_lamost").stages] == [4, 4, 8, 4]


def test_mspcnet_drop_path_schedule():
    m = models.create("mspcnet_sdss")
    rates = [getattr(b.drop_path, "p", 0.0) for s in m.stages for b in s.blocks]
    assert rates[0] == 0.0 and isinstance(m.stages[0].blocks[0].drop_path, nn.Identity)
    assert rates[-1] == pytest.approx(0.2) and rates[1] == pytest.approx(0.2 / 11)


@pytest.mark.parametrize("overrides", [
    {"attention": "none"}, {"attention": "eca_back"}, {"kernel_sizes": (3, 9, 27)},
    {"embed_dim": 64}, {"n_div": 4, "kernel_sizes": (5, 5, 5)}, {"depths": (1, 1, 1, 1, 1)},
    {"mlp_ratio": 2.0, "head_dim": 256},
])
def test_mspcnet_ablations_build_and_run(overrides):
    m = models.create("mspcnet_sdss", num_classes=5, **{"depths": (1, 1), **overrides}).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 300)).shape == (2, 5)


def test_mspcnet_bad_options():
    with pytest.raises(ModelError, match="attention"):
        models.create("mspcnet_sdss", attention="se")
    with pytest.raises(ModelError, match="n_div"):
        models.create("mspcnet_sdss", n_div=2)


# ---------------------------------------------------------------- forward contract

@pytest.mark.parametrize("name, length, n_feat, n_attn", [
    ("mspcnet_sdss", 400, 1024, 12), ("sscnn", 512, 1024, 0), ("racnet", 512, 128, 8),
    ("convnext1d", 512, 16 * 2, 0),
])
def test_forward_contract(name, length, n_feat, n_attn):
    m = models.create(name, classes=["a", "b", "c"], input_length=length) if name != "mspcnet_sdss" \
        else models.create(name, classes=["a", "b", "c"])
    m.eval()
    x = torch.randn(2, 1, length)
    with torch.no_grad():
        feats = m.forward_features(x)
        assert feats.shape == (2, n_feat)
        torch.testing.assert_close(m.forward_head(feats), m(x))
    assert m.output_names == ["a", "b", "c"] and m.task == "classification"
    assert m.preprocess == "mspcnet" and not m.needs_image
    attn = m.attention_modules()
    assert len(attn) == n_attn
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in attn}
    handles = [module.gate.register_forward_hook(lambda mod, i, out, name=name: seen[name].append(out))
               for name, module in attn.items()]
    with torch.no_grad():
        m(x)
    for h in handles:
        h.remove()
    for outs in seen.values():
        assert len(outs) == 1 and outs[0].shape[0] == 2 and outs[0].dim() == 2
        assert bool(((outs[0] > 0) & (outs[0] < 1)).all())



# the hook contract over every registered model: tests/test_models_contract.py


def test_mspcnet_hooks_fire_on_all_58_layers_in_eval():
    """Issue 13: on CPU in eval mode the 58 Conv1d/BatchNorm1d/Linear modules of
    ``mspcnet_sdss`` each see the whole batch exactly once."""
    model = models.create("mspcnet_sdss", num_classes=4).eval()
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.BatchNorm1d, nn.Linear))}
    assert len(layers) == 58
    seen: dict[str, list[int]] = {n: [] for n in layers}
    handles = [m.register_forward_hook(lambda mod, a, out, n=n: seen[n].append(out.shape[0]))
               for n, m in layers.items()]
    try:
        with torch.inference_mode():
            model(torch.randn(5, 1, 3584))
    finally:
        for h in handles:
            h.remove()
    assert all(v == [5] for v in seen.values()), {n: v for n, v in seen.items() if v != [5]}


def test_flatten_head_checks_length_and_uses_real_shapes():
    m = models.create("convnext1d", num_classes=4, input_length=3522)   # authors' formula: 220
    assert m.fc.in_features == 208
    with torch.no_grad():
        assert m(torch.randn(1, 1, 3522)).shape == (1, 4)
    with pytest.raises(ModelError, match="3584"):
        models.create("sscnn")(torch.randn(1, 1, 3522))


def test_sscnn_same_padding_is_7_left_8_right():
    conv = Conv1dSame(1, 1, 16, bias=False).requires_grad_(False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0] = 1.0   # output[t] = input[t - 7]
    x = torch.arange(1.0, 21.0).view(1, 1, 20)
    y = conv(x)[0, 0]
    assert y.shape == (20,) and float(y[7]) == 1.0 and float(y[6]) == 0.0 and float(y[19]) == 13.0
    assert same_padding(16) == (7, 8) and same_padding(405) == (202, 202)


@pytest.mark.parametrize("name, kw", [("sscnn", {"channels": [16, 8], "fc_hidden": 128}),
                                      ("racnet", {"widths": [8, 8, 16, 16, 32, 32, 64, 64], "fc_hidden": 64})])
def test_kaiming_init_keeps_star_to_star_differences_and_starts_at_the_output_bias(name, kw):
    """Near-identical inputs (a shared spectrum shape plus 1 % differences, like red-clump
    giants after min-max) reach the flatten head with their differences under He
    initialisation; PyTorch's default shrinks them ~2.4 x per ReLU layer. The zero output
    layer makes every untrained prediction the output bias."""
    g = torch.Generator().manual_seed(0)
    shape = torch.rand(1, 1, 3584, generator=g)
    x = shape + 0.01 * torch.randn(64, 1, 3584, generator=g)
    spread = {}
    for init in ("torch", "kaiming"):
        torch.manual_seed(1)
        m = models.create(name, classes=["mass", "age"], init=init, **kw).eval()
        with torch.no_grad():
            spread[init] = float(m.forward_features(x).std(0).mean())
            out = m(x)
        if init == "kaiming":
            assert torch.equal(out, m.fc.bias.expand_as(out))
            w = m.fc1.weight.detach()
            assert float(w.std()) == pytest.approx((2 / w.shape[1]) ** 0.5, rel=0.05)
    assert spread["kaiming"] > 10 * spread["torch"]
    with pytest.raises(ModelError, match="init must be one of"):
        models.create(name, init="xavier")


# ---------------------------------------------------------------- fast path = direct path

@pytest.mark.parametrize("length, k", [(700, 405), (300, 405), (128, 45), (64, 24), (40, 16), (33, 5)])
def test_conv1d_same_fast_equals_direct(length, k):
    g = torch.Generator().manual_seed(k)
    x = torch.randn(3, 4, length, generator=g, dtype=torch.float64)
    w = torch.randn(5, 4, k, generator=g, dtype=torch.float64)
    expected = F.conv1d(F.pad(x, same_padding(k)), w)
    atol = 1e-10 * expected.abs().max()
    torch.testing.assert_close(fft_conv1d_same(x, kernel_spectrum([w], length)), expected, rtol=0, atol=atol)
    torch.testing.assert_close(conv1d_same(x, w, fast=True), expected, rtol=0, atol=atol)
    torch.testing.assert_close(conv1d_same(x, w, fast=False), expected, rtol=0, atol=1e-12)


def test_grouped_conv_shares_one_fft_exactly():
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(2, c, 500, generator=g, dtype=torch.float64) for c in (3, 4, 2)]
    xs = [*xs, torch.randn(2, 4, 500, generator=g, dtype=torch.float64)]
    ws = [torch.randn(co, ci, k, generator=g, dtype=torch.float64)
          for co, ci, k in ((3, 3, 5), (4, 4, 45), (5, 2, 300), (4, 4, 101))]
    spectrum = kernel_spectrum([ws[1], ws[3]], 500)   # equal channel counts: one FFT
    assert spectrum.shape == (2 * (fft_size(500 + 50) // 2 + 1), 4, 4) and spectrum.is_complex()
    for fast in (True, False):
        for x, w, y in zip(xs, ws, grouped_conv1d_same(xs, ws, fast=fast)):
            expected = F.conv1d(F.pad(x, same_padding(w.shape[-1])), w)
            torch.testing.assert_close(y, expected, rtol=0, atol=1e-10 * expected.abs().max())


def test_kernel_spectrum_cache_follows_weight_changes():
    x = torch.randn(2, 3, 300)
    w = torch.randn(3, 3, 101, requires_grad=True)
    cache: dict = {}
    with torch.no_grad():
        first = conv1d_same(x, w, cache=cache)
        assert len(cache) == 1
        w.mul_(2.0)   # in-place update (as an optimizer step): the spectrum must be rebuilt
        second = conv1d_same(x, w, cache=cache)
    torch.testing.assert_close(second, 2 * first, rtol=1e-5, atol=1e-5)
    y = conv1d_same(x, w, cache=cache)   # grad needed: computed fresh, differentiable
    y.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def _smooth(m: int) -> bool:
    for p in (2, 3, 5):
        while m % p == 0:
            m //= p
    return m == 1


def test_fft_size_is_smooth_even_and_minimal():
    for n in (1, 7, 97, 1000, 3784, 4097):
        m = fft_size(n)
        assert m >= n and m % 2 == 0 and _smooth(m)
        assert not any(j % 2 == 0 and _smooth(j) for j in range(n, m))


def _pair(dtype: torch.dtype, **overrides) -> tuple[MSPCNet, MSPCNet]:
    torch.manual_seed(0)
    fast = models.create("mspcnet_sdss", num_classes=4, **overrides).to(dtype)
    with torch.no_grad():   # non-trivial BatchNorm statistics and affine parameters
        for mod in fast.modules():
            if isinstance(mod, nn.BatchNorm1d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.normal_(1, 0.1)
                mod.bias.normal_(0, 0.1)
    direct = models.create("mspcnet_sdss", num_classes=4, fast=False, **overrides).to(dtype)
    direct.load_state_dict(fast.state_dict())
    return fast, direct


@pytest.mark.parametrize("attention", ["eca", "eca_back", "none"])
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_mspcnet_fft_and_fused_equal_direct_eval(attention, dtype, rtol):
    """The FFT mixer and the fused inference copy compute the direct model's function."""
    fast, direct = _pair(dtype, attention=attention, depths=(1, 1, 1))
    x = torch.randn(2, 1, 700, dtype=dtype)
    fused = fast.eval().fused()
    with torch.no_grad():
        b = direct.eval().forward_features(x)
        lb = direct.forward_head(b)
        for model in (fast, fused):
            a = model.forward_features(x)
            torch.testing.assert_close(a, b, rtol=0, atol=rtol * b.abs().max())
            torch.testing.assert_close(model.forward_head(a), lb, rtol=0, atol=rtol * lb.abs().max())
            torch.testing.assert_close(model(x), lb, rtol=0, atol=rtol * lb.abs().max())


def test_mspcnet_fast_equals_direct_training_step():
    fast, direct = _pair(torch.float64, depths=(1, 2))
    x = torch.randn(4, 1, 450, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    outs = []
    for model in (fast, direct):
        model.train()
        torch.manual_seed(123)   # same drop-path masks on both paths
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        outs.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-10, atol=0)
    for name, grad in outs[0][1].items():
        ref = outs[1][1][name]
        torch.testing.assert_close(grad, ref, rtol=0, atol=1e-9 * max(ref.abs().max(), 1e-12), msg=name)
    # BatchNorm running statistics were updated identically
    torch.testing.assert_close(fast.state_dict(), direct.state_dict(), rtol=1e-10, atol=1e-12)


@pytest.fixture
def small_stream(monkeypatch):
    """Sub-batches of 2 spectra at 600 px (the default streams 4 at 3584 px)."""
    monkeypatch.setattr(fused_module, "STREAM_COLUMNS", 1200)


def test_fused_streams_equal_direct_and_keep_input(small_stream):
    fast, direct = _pair(torch.float64, depths=(2, 2))
    fused = fast.eval().fused()
    x = torch.randn(5, 1, 600, dtype=torch.float64)   # 5 = 2 + 2 + 1: a short last sub-batch
    x0 = x.clone()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), direct.eval()(x), rtol=0, atol=1e-10 * direct(x).abs().max())
    assert torch.equal(x, x0)   # the in-place work never touches the caller's tensor
    h = torch.randn(5, 128, 600, dtype=torch.float64)
    h0 = h.clone()
    stage = fused_module._FusedStage(fast.stages[0])   # a stage without stem or merge gets x itself
    with torch.no_grad():
        torch.testing.assert_close(stage(h, stream=True), direct.stages[0](h), rtol=0, atol=1e-9)
    assert torch.equal(h, h0)


def test_fused_copy_is_inference_only_snapshot_without_the_models_hooks():
    model, _ = _pair(torch.float32, depths=(1, 1))
    model.eval()
    seen = []
    handle = model.fc.register_forward_hook(lambda m, a, out: seen.append(out.shape[0]))
    try:
        fused = models.for_inference(model)
        x = torch.randn(3, 1, 400, requires_grad=True)
        out = fused(x)
    finally:
        handle.remove()
    assert isinstance(fused, fused_module.FusedMSPCNet) and seen == [] and not out.requires_grad
    assert fused.output_names == model.output_names and fused.preprocess == model.preprocess
    assert set(fused.state_dict()).isdisjoint(model.state_dict())   # not the model's modules
    with pytest.raises(ModelError, match="inference-only"):
        fused.train()
    with torch.no_grad():   # a snapshot: later weight changes do not reach it
        before = fused(x)
        model.fc.bias.add_(1.0)
        torch.testing.assert_close(fused(x), before)
    other = models.create("convnext1d", num_classes=2, input_length=512)
    assert models.for_inference(other) is other and not other.training


def test_mspcnet_fused_under_autocast():
    m = models.create("mspcnet_sdss", num_classes=3, depths=(1, 1)).eval()
    fused = m.fused()
    x = torch.randn(2, 1, 500)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fused(x)
    with torch.no_grad():
        ref = m(x)
    assert out.shape == (2, 3) and torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.1, atol=0.05)


# ---------------------------------------------------------------- shared layers

def test_layernorm1d_matches_formula():
    x = torch.randn(2, 6, 9, dtype=torch.float64)
    ln = LayerNorm1d(6).double()
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    expected = ln.weight[:, None] * (x - u) / torch.sqrt(s + 1e-6) + ln.bias[:, None]
    torch.testing.assert_close(ln(x), expected)
    assert LayerNorm1d(6)(torch.randn(2, 6, 4, 5)).shape == (2, 6, 4, 5)


def test_drop_path_semantics():
    dp = DropPath(0.5)
    x = torch.ones(2000, 3)
    torch.manual_seed(0)
    y = dp.train()(x)
    kept = y[:, 0] != 0
    assert set(y.unique().tolist()) <= {0.0, 2.0} and bool((y == y[:, :1]).all())
    assert 0.4 < kept.float().mean() < 0.6
    assert torch.equal(dp.eval()(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_eca_and_se_gates():
    x = torch.randn(2, 128, 50)
    eca = ECA(128)
    assert eca.gate.conv.kernel_size == (5,)
    weights = eca.gate(x)
    assert weights.shape == (2, 128)
    torch.testing.assert_close(eca(x), x * weights[..., None])
    se = SE(32, hidden=4)
    img = torch.randn(2, 32, 5, 6)
    w = se.gate(img)
    assert w.shape == (2, 32)
    torch.testing.assert_close(se(img), img * w[..., None, None])


# ---------------------------------------------------------------- reference key mapping

def test_reference_keys():
    m = models.create("mspcnet_sdss", num_classes=3)
    assert reference_key(m, "stages.4.blocks.5.spatial_mixing.conv3.weight") == "stages.2.blocks.5.mixer.weights.2"
    assert reference_key(m, "stages.5.reduction.weight") == "stages.3.downsample.conv.weight"
    assert reference_key(m, "stages.0.blocks.1.mlp.0.conv.weight") == "stages.0.blocks.1.eca_front.gate.conv.weight"
    assert reference_key(m, "head.4.bias") == "fc.bias"
    r = models.create("racnet", num_classes=3)
    assert reference_key(r, "conv_structure.7.0.conv_blk.8.linear.weight") == "blocks.7.attn.gate.fc.weight"
    c = models.create("convnext1d", num_classes=3)
    assert reference_key(c, "extractor.2.down_sample.bias") == "stages.2.downsample.bias"
    with pytest.raises(ModelError, match="unknown reference parameter"):
        reference_key(m, "stages.0.blocks.0.bogus.weight")


def test_load_reference_state_roundtrip_and_errors():
    m = models.create("sscnn", num_classes=3, input_length=64)
    ref_names = {"features.0": "conv_structure.0", "features.2": "conv_structure.2",
                 "features.5": "conv_structure.5", "features.7": "conv_structure.7",
                 "fc1": "fc_structure.0", "fc": "fc_structure.2"}
    state = {}
    for name, value in m.state_dict().items():
        mod, leaf = name.rsplit(".", 1)
        state[f"state/{ref_names[mod]}.{leaf}"] = torch.randn_like(value).numpy()
    target = models.create("sscnn", num_classes=3, input_length=64)
    load_reference_state(target, state)
    torch.testing.assert_close(target.fc.bias, torch.from_numpy(state["state/fc_structure.2.bias"]))
    del state["state/fc_structure.2.bias"]
    with pytest.raises(ModelError, match="lacks 1"):
        load_reference_state(target, state)
    state["state/fc_structure.2.bias"] = torch.zeros(5).numpy()
    with pytest.raises(ModelError, match="shape"):
        load_reference_state(target, state)


# ---------------------------------------------------------------- save / load / pretrained

def test_save_load_roundtrip(tmp_path):
    m = models.create("racnet", classes=["A", "F", "G"], input_length=512).eval()
    path = models.save(m, tmp_path / "rac", training={"source": "mock", "dataset": "mspc/SC-S>5"},
                       metrics={"accuracy": 0.5})
    assert path.name == "rac.safetensors" and path.with_suffix(".json").exists()
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["name"] == "racnet" and card["overrides"]["input_length"] == 512
    assert card["output_names"] == ["A", "F", "G"] and card["training"]["source"] == "mock"
    assert card["metrics"] == {"accuracy": 0.5} and card["preprocess"] == "mspcnet"
    assert models.read_card(path) == card
    loaded = models.load(path)
    assert not loaded.training and loaded.card["training"]["dataset"] == "mspc/SC-S>5"
    x = torch.randn(2, 1, 512)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), m(x))


def test_save_rejects_bad_cards(tmp_path):
    m = models.create("convnext1d", num_classes=2)
    with pytest.raises(ModelError, match="source"):
        models.save(m, tmp_path / "x", training={"source": "simulated"})
    with pytest.raises(ModelError, match="create"):
        models.save(baselines.ConvNeXt1D(num_classes=2), tmp_path / "y")


def test_load_torch_file_weights_only(tmp_path):
    m = models.create("mspcnet_sdss", num_classes=3, depths=(1,), fast=False).eval()
    path = models.save(m, tmp_path / "m")
    torch.save(m.state_dict(), tmp_path / "m.pt")
    loaded = models.load(tmp_path / "m.pt")   # card from m.json beside it
    assert not loaded.stages[0].blocks[0].mixer.fast
    torch.testing.assert_close(loaded.state_dict(), m.state_dict())

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"w": Evil()}, protocol=2))
    (tmp_path / "evil.json").write_text(path.with_suffix(".json").read_text())
    with pytest.raises(CorruptFileError, match="weights_only"):
        models.load(tmp_path / "evil.pt")


def test_load_errors(tmp_path):
    with pytest.raises(MissingDataError, match="create"):
        models.load("mspcnet_sdss")
    with pytest.raises(MissingDataError):
        models.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CorruptFileError):
        models.load(bad)


def test_pretrained_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "pretrained_dir", lambda: tmp_path)
    assert models.list_pretrained() == []
    m = models.create("convnext1d", num_classes=2).eval()
    models.save(m, tmp_path / "convnext1d-mock-demo", training={"source": "mock", "dataset": "demo"})
    assert models.list_pretrained() == ["convnext1d-mock-demo"]
    assert models.pretrained_card("convnext1d-mock-demo")["training"]["source"] == "mock"
    loaded = models.load("convnext1d-mock-demo")
    torch.testing.assert_close(loaded.state_dict(), m.state_dict())
    with pytest.raises(MissingDataError, match="convnext1d-mock-demo"):
        pretrained.pretrained_path("nope")


@pytest.mark.skipif(os.environ.get("SPECTOOL_TEST_COMPILE") != "1",
                    reason="torch.compile of MSPC-Net needs a C++ compiler and 0.5-3 min on 2 CPU "
                           "cores; set SPECTOOL_TEST_COMPILE=1")
def test_mspcnet_torch_compile_matches_eager():
    m = models.create("mspcnet_sdss", num_classes=3, depths=(1, 1)).eval()
    x = torch.randn(2, 1, 300)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(m)(x), m(x), rtol=1e-4, atol=1e-5)
    m.train()
    torch.compile(m)(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
