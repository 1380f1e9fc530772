"""Benchmark: parameters, FLOPs and CPU latency of SPFusion and the SCA-Net variants.

Run: ``python benchmarks/models_spfusion_scanet.py [--no-latency]``. FLOPs are counted with
``torch.utils.flop_counter`` on the meta device and reported as multiply-adds (GMAC, the
unit of the SCA-Net paper's fvcore numbers; torch's counter skips norms, pooling and
resizing, which fvcore counts). Latency: median of repeated eval forwards, one thread.
Writes benchmarks/results/models_spfusion_scanet.json.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from tqdm import tqdm  # noqa: E402

from spectool.models import spfusion_from_onnx  # noqa: E402
from spectool.models.scanet import SCANet  # noqa: E402
from spectool.models.spfusion import SPFusion  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPECTOOL_SHARED", ROOT.parent / "shared"))
ONNX = SHARED / "reference" / "spfusion" / "model.onnx"
LAYOUTS = ["MMMM", "MMMT", "MMTT", "MTTT", "TTTT"]


def _gmacs(model: torch.nn.Module, *inputs: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*inputs)
    return counter.get_total_flops() / 2e9


def _latency_ms(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def complexity() -> list[dict]:
    """Parameters and GMAC per sample, built on the meta device (no memory, no weights)."""
    rows = []
    with torch.device("meta"):
        spf = SPFusion().eval()
        rows.append({"model": "spfusion", "params": sum(p.numel() for p in spf.parameters()),
                     "gmac": _gmacs(spf, torch.zeros(1, 1, 3584), torch.zeros(1, 3, 128, 128))})
        configs = [(lay, style, block) for lay in LAYOUTS for style in ("standard", "authors")
                   for block in ("mbconv", "standard")]
        for lay, style, block in tqdm(configs, desc="SCA-Net FLOPs"):
            if block == "standard" and lay == "TTTT":
                continue  # no M stage to replace
            m = SCANet(lay, transformer_style=style, block=block).eval()
            rows.append({"model": f"scanet_{lay.lower()}", "transformer_style": style,
                         "block": block, "grid_sizes": m.grid_sizes,
                         "params": sum(p.numel() for p in m.parameters()),
                         "gmac": _gmacs(m, torch.zeros(1, 1, 4096))})
    return rows


@torch.no_grad()
def latency() -> dict:
    torch.manual_seed(0)
    res: dict[str, float] = {}
    spf = spfusion_from_onnx(ONNX) if ONNX.exists() else SPFusion().eval()
    for batch in (1, 32):
        x, im = torch.rand(batch, 1, 3584), torch.rand(batch, 3, 128, 128)
        res[f"spfusion_torch_b{batch}_ms_per_sample"] = _latency_ms(lambda: spf(x, im), 10) / batch
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None and ONNX.exists():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(ONNX), opts, providers=["CPUExecutionProvider"])
        for batch in (1, 32):
            feed = {"spectrum": torch.rand(batch, 1, 3584).numpy(),
                    "photometric": torch.rand(batch, 3, 128, 128).numpy()}
            res[f"spfusion_onnxruntime_b{batch}_ms_per_sample"] = \
                _latency_ms(lambda: sess.run(None, feed), 10) / batch
    x = torch.rand(1, 1, 4096)
    for style in tqdm(("standard", "authors"), desc="SCA-Net latency"):
        model = SCANet("MMTT", transformer_style=style).eval()
        res[f"scanet_mmtt_{style}_b1_ms"] = _latency_ms(lambda: model(x), 5)
    return res


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-latency", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result = {"complexity": complexity(), "threads": 1, "load_average": os.getloadavg()}
    for row in result["complexity"]:
        extra = f" {row['transformer_style']}/{row['block']}" if "block" in row else ""
        label = row["model"] + extra
        print(f"{label:40s} params {row['params'] / 1e6:9.3f} M   {row['gmac']:7.3f} GMAC")
    if not args.no_latency:
        result["latency"] = latency()
        for key, value in result["latency"].items():
            print(f"{key:45s} {value:8.1f} ms")
    out = Path(__file__).with_name("results") / "models_spfusion_scanet.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
