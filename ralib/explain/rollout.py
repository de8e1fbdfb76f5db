"""Attention rollout (Abnar & Zuidema 2020) for a windowed vision transformer without a class token, as
RheumaVIT draws where its TinyViT scorer looks.

Rollout multiplies, block after block, each block's attention (averaged over heads, with the residual
path as ``residual * I + (1 - residual) * A``) into one matrix from the last map's tokens back to the
first attention stage's tokens. A windowed block attends within windows only: its matrix is block-diagonal
over the windows, and keys that are padding are dropped (rows renormalised). Between stages the map is
downsampled by a 3 x 3 convolution of stride 2: each new token draws evenly on the tokens under its kernel.
There is no class token: the scorer reads the top-left token of the last map (idx pooling), so that
token's row is the map.

:func:`tinyvit_attention` captures a timm TinyViT's attention by recomputing it from each attention
layer's input with the layer's own weights (what timm's unfused path computes; the fused path never
materialises it), and :func:`tinyvit_rollout` turns it into a map per image.

Example:
    >>> import torch
    >>> steps = [("attention", torch.full((4, 4), 0.25)), ("downsample", downsample_matrix(2, 2))]
    >>> rollout(steps, residual=0.0)[0].tolist()
    [0.25, 0.25, 0.25, 0.25]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def downsample_matrix(h: int, w: int, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """``(h' w', h w)``: each output token of a ``kernel`` x ``kernel``, stride-``stride`` convolution
    (padding ``kernel // 2``) spread evenly over the input tokens under it."""
    pad = kernel // 2
    h2, w2 = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
    out = torch.zeros(h2 * w2, h * w)
    for i in range(h2):
        for j in range(w2):
            rows = [r for r in range(i * stride - pad, i * stride - pad + kernel) if 0 <= r < h]
            cols = [c for c in range(j * stride - pad, j * stride - pad + kernel) if 0 <= c < w]
            for r in rows:
                out[i * w2 + j, [r * w + c for c in cols]] = 1.0 / (len(rows) * len(cols))
    return out


def window_attention_matrix(probs: torch.Tensor, h: int, w: int, window: int) -> torch.Tensor:
    """One image's ``(h w, h w)`` attention from its windows' ``probs`` ``(n_windows, heads, N, N)``
    (``N = window**2``, windows in row-major order over the grid padded to a multiple of ``window``),
    averaged over heads; padding keys dropped and rows renormalised."""
    ph, pw = -(-h // window) * window, -(-w // window) * window
    n_h, n_w = ph // window, pw // window
    if probs.shape[0] != n_h * n_w or probs.shape[-1] != window * window:
        raise ValueError(f"{tuple(probs.shape)} attention for a {h} x {w} grid in windows of {window}")
    mean = probs.float().mean(1)
    out = torch.zeros(h * w, h * w)
    for k in range(n_h * n_w):
        r0, c0 = (k // n_w) * window, (k % n_w) * window
        rr, cc = np.meshgrid(np.arange(r0, r0 + window), np.arange(c0, c0 + window), indexing="ij")
        rr, cc = rr.reshape(-1), cc.reshape(-1)
        real = (rr < h) & (cc < w)
        index = torch.as_tensor((rr * w + cc)[real])
        out[index[:, None], index[None, :]] = mean[k][torch.as_tensor(real)][:, torch.as_tensor(real)]
    return out / out.sum(1, keepdim=True).clamp_min(1e-12)


def rollout(steps: list[tuple[str, torch.Tensor]], residual: float = 0.5) -> torch.Tensor:
    """The product of ``steps`` from first to last: ``("attention", A)`` (square, rows sum to one; taken as
    ``residual * I + (1 - residual) * A``) or ``("downsample", D)``. Returns ``(last tokens, first tokens)``;
    its rows sum to one."""
    result = None
    for kind, matrix in steps:
        matrix = matrix.float()
        if kind == "attention":
            matrix = residual * torch.eye(len(matrix)) + (1 - residual) * matrix
        elif kind != "downsample":
            raise ValueError(f"unknown rollout step {kind!r}")
        result = matrix if result is None else matrix @ result
    if result is None:
        raise ValueError("no steps to roll out")
    return result


def _attention_probs(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A timm TinyViT ``Attention`` layer's softmax attention ``(B, heads, N, N)`` for its input ``x``."""
    b, n, _ = x.shape
    q, k, _ = attn.qkv(attn.norm(x)).view(b, n, attn.num_heads, -1).split([attn.key_dim, attn.key_dim, attn.val_dim], dim=3)
    logits = (q.permute(0, 2, 1, 3) * attn.scale) @ k.permute(0, 2, 3, 1)
    return (logits + attn.get_attention_biases(x.device)).softmax(dim=-1)


def tinyvit_attention(backbone: nn.Module, images: torch.Tensor) -> list[dict]:
    """Run a timm TinyViT ``backbone`` on ``images`` and return, in order, each attention block's
    ``{"probs": (B, n_windows, heads, N, N), "h", "w", "window"}`` and each downsampling's ``{"downsample":
    (h, w)}`` (the grid it reduces). Blocks are found by their ``attn`` and ``window_size``."""
    records, handles = [], []

    def on_block(block, inputs, _output):
        x = inputs[0]  # (B, H, W, C)
        b, h, w, c = x.shape
        win = block.window_size
        pad_b, pad_r = (win - h % win) % win, (win - w % win) % win
        xp = F.pad(x, (0, 0, 0, pad_r, 0, pad_b)) if (pad_b or pad_r) else x
        n_h, n_w = (h + pad_b) // win, (w + pad_r) // win
        windows = xp.view(b, n_h, win, n_w, win, c).transpose(2, 3).reshape(b * n_h * n_w, win * win, c)
        probs = _attention_probs(block.attn, windows)
        records.append({"probs": probs.reshape(b, n_h * n_w, *probs.shape[1:]).detach(), "h": h, "w": w, "window": win})

    def on_downsample(_module, inputs, _output):
        x = inputs[0]  # (B, C, H, W)
        records.append({"downsample": (x.shape[-2], x.shape[-1])})

    for stage in getattr(backbone, "stages", []):
        if hasattr(stage, "downsample") and not isinstance(stage.downsample, nn.Identity):
            handles.append(stage.downsample.register_forward_hook(on_downsample))
        for block in getattr(stage, "blocks", []):
            if hasattr(block, "attn") and hasattr(block, "window_size"):
                handles.append(block.register_forward_hook(on_block))
    if not handles:
        raise ValueError("no windowed attention blocks found: is this a timm TinyViT?")
    try:
        with torch.no_grad():
            backbone.forward_features(images)
    finally:
        for handle in handles:
            handle.remove()
    return records


def tinyvit_rollout(backbone: nn.Module, images: torch.Tensor, residual: float = 0.5) -> np.ndarray:
    """Where the top-left token of a TinyViT's last map (idx pooling) draws from: ``(B, H, W)`` maps over
    ``images`` (bilinear from the first attention stage's grid), each summing to one."""
    records = tinyvit_attention(backbone, images)
    first = next(i for i, r in enumerate(records) if "probs" in r)  # downsamplings before any attention do not count
    maps = []
    for b in range(len(images)):
        steps = []
        for r in records[first:]:
            if "probs" in r:
                steps.append(("attention", window_attention_matrix(r["probs"][b], r["h"], r["w"], r["window"])))
            else:
                steps.append(("downsample", downsample_matrix(*r["downsample"])))
        h0, w0 = records[first]["h"], records[first]["w"]
        maps.append(rollout(steps, residual)[0].reshape(1, 1, h0, w0))
    grid = torch.cat(maps)
    up = F.interpolate(grid, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    return (up / up.sum((1, 2), keepdim=True)).numpy()
