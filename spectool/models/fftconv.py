"""Exact 'same'-padded 1-D cross-correlation, direct or through the FFT.

A dense ``Conv1d`` with a long kernel (MSPC-Net's 45- and 405-tap token-mixer convs)
costs ``k * L * C_in * C_out`` multiply-adds directly; through the FFT it costs a few
transforms of length ``n ~ L + k/2`` plus ``C_in * C_out * n / 2`` complex products.
Both paths compute the same function (the FFT path is exact up to floating-point
rounding); :func:`conv1d_same` picks one from the kernel size.

The FFT path always runs in float32 or float64 (half-precision FFTs are slow or limited
to power-of-two sizes), also under autocast, and returns the input's dtype.
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
    """The real matrix form of the spectra of one or more kernels, for ``length`` samples.

    Each kernel ``weights[g]`` (C_out_g, C_in_g, k_g) is placed circularly shifted by its
    left padding in a length-``n`` buffer (taps ``j >= p_left`` at the start, the first
    ``p_left`` taps at the end), so the circular correlation of the zero-extended input
    gives the 'same' output directly in positions ``0 .. L-1``; no wrap-around reaches
    them when ``n >= L + max(p_left, p_right)`` (``n`` is shared, set by the longest kernel).

    Returns (F, 2 sum C_in, 2 sum C_out), F = n // 2 + 1, block-diagonal over the kernels
    (group g reads only its own input channels). Per frequency, real and imaginary parts
    are interleaved per channel so that ``[Xr Xi] @ M = [Yr Yi]`` computes
    ``Y[o] = sum_i X[i] * conj(W[o, i])`` (row (i, re): Wr, -Wi; row (i, im): Wi, Wr).
    """
    n = fft_size(length + max(max(same_padding(w.shape[-1])) for w in weights))
    blocks = []
    for w in weights:
        c_out, c_in, k = w.shape
        p_left = same_padding(k)[0]
        kernel = w.new_zeros(c_out, c_in, n)
        kernel[..., : k - p_left] = w[..., p_left:]
        if p_left:
            kernel[..., n - p_left:] = w[..., :p_left]
        wf = torch.fft.rfft(kernel).permute(2, 1, 0)                            # (F, C_in, C_out)
        wr, wi = wf.real, wf.imag
        m = torch.stack([torch.stack([wr, -wi], dim=-1), torch.stack([wi, wr], dim=-1)], dim=2)
        blocks.append(m.reshape(-1, 2 * c_in, 2 * c_out))
    return blocks[0].contiguous() if len(blocks) == 1 else _block_diag_batched(blocks)


def _block_diag_batched(blocks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Block-diagonal (F, sum R, sum C) matrix from (F, R_g, C_g) blocks."""
    rows, cols = sum(b.shape[1] for b in blocks), sum(b.shape[2] for b in blocks)
    out = blocks[0].new_zeros(blocks[0].shape[0], rows, cols)
    r = c = 0
    for b in blocks:
        out[:, r:r + b.shape[1], c:c + b.shape[2]] = b
        r, c = r + b.shape[1], c + b.shape[2]
    return out


def fft_conv1d_same(x: torch.Tensor, spectrum: torch.Tensor) -> torch.Tensor:
    """Cross-correlate ``x`` (B, C_in, L) with the kernel(s) given by :func:`kernel_spectrum`.

    One real batched matmul over frequencies with contiguous operands (a complex einsum
    is ~100x slower on CPU).
    """
    batch, c_in, length = x.shape
    n = 2 * (spectrum.shape[0] - 1)
    xf = torch.view_as_real(torch.fft.rfft(x, n=n))                             # (B, C_in, F, 2)
    xs = xf.permute(2, 0, 1, 3).reshape(-1, batch, 2 * c_in)                  # (F, B, 2 C_in)
    ys = torch.bmm(xs, spectrum)                                               # (F, B, 2 C_out)
    yf = torch.view_as_complex(ys.reshape(ys.shape[0], batch, -1, 2).permute(1, 2, 0, 3))
    return torch.fft.irfft(yf, n=n)[..., :length]


def _direct(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    k = weight.shape[-1]
    if k % 2:
        return F.conv1d(x, weight, padding=k // 2)
    return F.conv1d(F.pad(x, same_padding(k)), weight)


def grouped_conv1d_same(xs: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], fast: bool = True,
                        cache: dict | None = None) -> list[torch.Tensor]:
    """``conv1d_same(xs[g], weights[g])`` for every group g, sharing one FFT.

    With ``fast``, all groups whose kernels have at least :data:`FFT_MIN_KERNEL` taps run
    together: one forward FFT of their stacked inputs, one batched matmul with the
    block-diagonal kernel spectrum, one inverse FFT. The other groups (and all groups
    with ``fast=False``) use the direct convolution.

    ``cache`` is an optional dict owned by the caller: when no gradient is needed, the
    kernel spectrum is kept there per (length, dtype, device) and reused while the
    weights are unchanged (same storages and version counters).
    """
    long = [g for g, w in enumerate(weights) if fast and w.shape[-1] >= FFT_MIN_KERNEL]
    out = [None if g in long else _direct(x, w) for g, (x, w) in enumerate(zip(xs, weights))]
    if not long:
        return out
    x0 = xs[long[0]]
    compute = torch.float64 if x0.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=x0.device.type, enabled=False):
        ws = [weights[g].to(compute) for g in long]
        length = x0.shape[-1]
        reuse = cache is not None and not torch.compiler.is_compiling() and not (
            torch.is_grad_enabled() and any(weights[g].requires_grad for g in long))
        if reuse:
            key = (length, compute, x0.device)
            stamp = tuple((weights[g].data_ptr(), weights[g]._version) for g in long)
            if key not in cache or cache[key][0] != stamp:
                cache.clear()
                cache[key] = (stamp, kernel_spectrum(ws, length))
            spectrum = cache[key][1]
        else:
            spectrum = kernel_spectrum(ws, length)
        xin = xs[long[0]] if len(long) == 1 else torch.cat([xs[g] for g in long], dim=1)
        y = fft_conv1d_same(xin.to(compute), spectrum).to(x0.dtype)
    start = 0
    for g in long:
        c = weights[g].shape[0]
        out[g] = y[:, start:start + c]
        start += c
    return out


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
