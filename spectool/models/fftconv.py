"""Exact 'same'-padded 1-D cross-correlation, direct or through the FFT.

A dense ``Conv1d`` with a long kernel (MSPC-Net's 45- and 405-tap token-mixer convs)
costs ``k * L * C_in * C_out`` multiply-adds directly; through the FFT it costs a few
transforms of length ``n ~ L + k/2`` plus ``C_in * C_out * n / 2`` complex products.
Both compute the same function (the FFT path is exact up to floating-point rounding:
~1e-15 relative in float64, ~1e-6 in float32). :func:`grouped_conv1d_same` sends every
kernel with at least :data:`FFT_MIN_KERNEL` taps through one shared FFT and the rest
through the direct convolution.

The FFT path always runs in float32 or float64 (half-precision FFTs are slow or limited
to power-of-two sizes), also under autocast, and returns the input's dtype. It is
device-agnostic (torch.fft on CPU and CUDA) and works under ``torch.compile`` (the
complex ops fall back to eager kernels).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .layers import same_padding

#: kernels with at least this many taps use the FFT path when ``fast=True``.
FFT_MIN_KERNEL = 24


def fft_size(n: int) -> int:
    """Smallest even 2^a 3^b 5^c integer >= ``n`` (a >= 1: sizes the FFT handles fastest,
    and even so that the spectrum length ``n // 2 + 1`` determines ``n``)."""
    half = max(1, -(-n // 2))
    best = 1 << (half - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < half:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return 2 * best


def kernel_spectrum(weights: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    """The conjugated spectra of G kernels of equal channel counts, for inputs of
    ``length`` samples.

    Each kernel ``weights[g]`` (C_out, C_in, k_g) is placed circularly shifted by its left
    padding in a length-``n`` buffer (taps ``j >= p_left`` at the start, the first
    ``p_left`` taps at the end), so the circular correlation of the zero-extended input
    gives the 'same' output directly in positions ``0 .. L-1``; no wrap-around reaches
    them when ``n >= L + max(p_left, p_right)`` (``n`` is shared, set by the longest kernel).

    Returns complex (F * G, C_in, C_out), frequency-major, F = n // 2 + 1, so that per
    frequency ``X @ M`` computes ``Y[o] = sum_i X[i] * conj(W[o, i])``.
    """
    c_out, c_in = weights[0].shape[:2]
    if any(w.shape[:2] != (c_out, c_in) for w in weights):
        raise ValueError("kernel_spectrum needs kernels with equal channel counts")
    n = fft_size(length + max(max(same_padding(w.shape[-1])) for w in weights))
    kernel = weights[0].new_zeros(len(weights), c_out, c_in, n)
    for g, w in enumerate(weights):
        k = w.shape[-1]
        p_left = same_padding(k)[0]
        kernel[g, ..., : k - p_left] = w[..., p_left:]
        if p_left:
            kernel[g, ..., n - p_left:] = w[..., :p_left]
    wf = torch.fft.rfft(kernel).conj().permute(3, 0, 2, 1)          # (F, G, C_in, C_out)
    return wf.reshape(-1, c_in, c_out).contiguous()


def fft_conv1d_same(x: torch.Tensor, spectrum: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Cross-correlate ``x`` (B, G * C_in, L), group by group, with the G kernels given by
    :func:`kernel_spectrum`; returns (B, G * C_out, L).

    One complex batched matmul over (frequency, group) with contiguous operands (faster on
    CPU than its real 2x2-block form, and much faster than a complex einsum).
    """
    batch, channels, length = x.shape
    c_in, c_out = spectrum.shape[1:]
    n_freq = spectrum.shape[0] // groups
    n = 2 * (n_freq - 1)
    xf = torch.fft.rfft(x, n=n).view(batch, groups, c_in, n_freq)
    xs = xf.permute(3, 1, 0, 2).reshape(-1, batch, c_in)                       # (F G, B, C_in)
    ys = torch.bmm(xs, spectrum).view(n_freq, groups, batch, c_out)            # (F, G, B, C_out)
    yf = ys.permute(2, 1, 3, 0).reshape(batch, groups * c_out, n_freq)
    return torch.fft.irfft(yf, n=n)[..., :length]


def _compiling() -> bool:
    """Whether torch.compile is tracing (the spectrum cache is skipped then)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling and is_compiling())


def _direct(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    k = weight.shape[-1]
    if k % 2:
        return F.conv1d(x, weight, padding=k // 2)
    return F.conv1d(F.pad(x, same_padding(k)), weight)


def grouped_conv1d_same(xs: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], fast: bool = True,
                        cache: dict | None = None) -> list[torch.Tensor]:
    """``conv1d_same(xs[g], weights[g])`` for every group g, sharing one FFT.

    With ``fast``, all groups whose kernels have at least :data:`FFT_MIN_KERNEL` taps and
    equal channel counts run together: one forward FFT of their stacked inputs, one
    batched matmul over (frequency, group), one inverse FFT. The other groups (and all
    groups with ``fast=False``) use the direct convolution.

    ``cache`` is an optional dict owned by the caller: when no gradient is needed, the
    kernel spectrum is kept there per (length, dtype, device) and reused while the
    weights are unchanged (same storages and version counters).
    """
    long = [g for g, w in enumerate(weights) if fast and w.shape[-1] >= FFT_MIN_KERNEL]
    out = [None if g in long else _direct(x, w) for g, (x, w) in enumerate(zip(xs, weights))]
    buckets: dict[tuple, list[int]] = {}
    for g in long:   # kernels with equal channel counts share one FFT
        buckets.setdefault((tuple(weights[g].shape[:2]), xs[g].dtype), []).append(g)
    for members in buckets.values():
        for g, y in zip(members, _fft_groups([xs[g] for g in members], [weights[g] for g in members], cache)):
            out[g] = y
    return out


def _fft_groups(xs: Sequence[torch.Tensor], weights: Sequence[torch.Tensor],
                cache: dict | None) -> list[torch.Tensor]:
    """FFT path of :func:`grouped_conv1d_same` for kernels of equal channel counts."""
    x0 = xs[0]
    compute = torch.float64 if x0.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=x0.device.type, enabled=False):
        length = x0.shape[-1]
        reuse = cache is not None and not _compiling() and not (
            torch.is_grad_enabled() and any(w.requires_grad for w in weights))
        if reuse:
            key = (length, compute, x0.device, tuple(w.shape for w in weights))
            stamp = tuple((w.data_ptr(), w._version) for w in weights)
            if key not in cache or cache[key][0] != stamp:
                cache.pop(key, None)
                cache[key] = (stamp, kernel_spectrum([w.to(compute) for w in weights], length))
            spectrum = cache[key][1]
        else:
            spectrum = kernel_spectrum([w.to(compute) for w in weights], length)
        xin = x0 if len(xs) == 1 else torch.cat(list(xs), dim=1)
        y = fft_conv1d_same(xin.to(compute), spectrum, len(xs)).to(x0.dtype)
    return list(y.split(weights[0].shape[0], dim=1))


def conv1d_same(x: torch.Tensor, weight: torch.Tensor, fast: bool = True,
                cache: dict | None = None) -> torch.Tensor:
    """Stride-1, bias-free ``Conv1d`` with PyTorch 'same' zero padding (k=16 pads 7 | 8).

    Parameters
    ----------
    x
        Input (B, C_in, L).
    weight
        Kernel (C_out, C_in, k), applied as cross-correlation (no flip).
    fast
        Use the FFT for kernels of at least :data:`FFT_MIN_KERNEL` taps; ``False``
        always uses the direct convolution.
    cache
        See :func:`grouped_conv1d_same`.
    """
    return grouped_conv1d_same([x], [weight], fast, cache)[0]
