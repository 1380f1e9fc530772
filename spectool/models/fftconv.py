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

import torch
import torch.nn.functional as F

from .layers import same_padding

#: kernels with at least this many taps use the FFT path when ``fast=True``.
FFT_MIN_KERNEL = 24


def fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c integer >= ``n`` (sizes the FFT library handles fastest)."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _fft_conv1d_same(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cross-correlate ``x`` (B, C_in, L) with ``weight`` (C_out, C_in, k), 'same' zero padding.

    The kernel is placed circularly shifted by the left padding in a length-``n`` buffer
    (taps ``j >= p_left`` at the start, the first ``p_left`` taps at the end), so the
    circular correlation of the zero-extended input gives the 'same' output directly in
    positions ``0 .. L-1``. No wrap-around reaches those positions when
    ``n >= L + max(p_left, p_right)``.
    """
    length, k = x.shape[-1], weight.shape[-1]
    p_left, p_right = same_padding(k)
    n = fft_size(length + max(p_left, p_right))
    kernel = x.new_zeros(weight.shape[:-1] + (n,))
    kernel[..., : k - p_left] = weight[..., p_left:]
    if p_left:
        kernel[..., n - p_left:] = weight[..., :p_left]
    # Per frequency f: Y[b, o] = sum_i X[b, i] * conj(W[o, i]), done as ONE real batched
    # matmul over f with contiguous operands (complex einsum is ~100x slower on CPU). Real
    # and imaginary parts are interleaved per channel: row (i, re) -> (o, re) Wr, (o, im) -Wi;
    # row (i, im) -> (o, re) Wi, (o, im) Wr.
    batch, c_in = x.shape[:2]
    c_out = weight.shape[0]
    xf = torch.view_as_real(torch.fft.rfft(x, n=n))                          # (B, C_in, F, 2)
    xs = xf.permute(2, 0, 1, 3).reshape(-1, batch, 2 * c_in)               # (F, B, 2 C_in)
    wf = torch.fft.rfft(kernel, n=n).permute(2, 1, 0)                      # (F, C_in, C_out)
    wr, wi = wf.real, wf.imag
    ws = torch.stack([torch.stack([wr, -wi], dim=-1), torch.stack([wi, wr], dim=-1)], dim=2)
    ys = torch.bmm(xs, ws.reshape(-1, 2 * c_in, 2 * c_out))                # (F, B, 2 C_out)
    yf = torch.view_as_complex(ys.reshape(-1, batch, c_out, 2).permute(1, 2, 0, 3))
    return torch.fft.irfft(yf, n=n)[..., :length]


def conv1d_same(x: torch.Tensor, weight: torch.Tensor, fast: bool = True) -> torch.Tensor:
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
    """
    k = weight.shape[-1]
    if not fast or k < FFT_MIN_KERNEL:
        if k % 2:
            return F.conv1d(x, weight, padding=k // 2)
        return F.conv1d(F.pad(x, same_padding(k)), weight)
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=x.device.type, enabled=False):
        y = _fft_conv1d_same(x.to(compute), weight.to(compute))
    return y.to(x.dtype)
