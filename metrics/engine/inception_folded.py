"""A faster inference copy of the FID Inception (:func:`fold`), equal to it up to float rounding.

Every BatchNorm is folded into its convolution (in float64, then cast), the 1x1
convolutions that read the same input are merged into one, the ``(x - 128) / 128``
input scaling goes into the first convolution, and the average-pool branches are
reordered as 1x1 convolution then pool (both linear). ``tests/engine/test_inception.py``
checks it against the plain network to 1e-4 relative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from metrics.engine.inception import (
    BasicConv2d,
    FIDInceptionV3,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    _avg_pool_tf,
)


def _folded_conv(
    *units: BasicConv2d, input_scale: float = 1.0, input_shift: float = 0.0
) -> nn.Conv2d:
    """One conv with bias equal to conv -> BN (eval) of each unit, outputs concatenated.

    The units must read the same input with the same kernel geometry (the 1x1
    convolutions that open the branches of a block). Folding is done in float64
    and cast once, so the folded weights are the float32 rounding of the exact ones.
    """
    first = units[0].conv
    weights, biases = [], []
    for unit in units:
        conv, bn = unit.conv, unit.bn
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = conv.weight.double() * scale.view(-1, 1, 1, 1)
        b = bn.bias.double() - bn.running_mean.double() * scale
        # conv(W, s x + t) = conv(s W, x) + t sum(W)  (no padding)
        b = b + input_shift * w.sum(dim=(1, 2, 3))
        weights.append(w * input_scale)
        biases.append(b)
    weight = torch.cat(weights)
    out = nn.Conv2d(
        first.in_channels,
        weight.shape[0],
        kernel_size=first.kernel_size,
        stride=first.stride,
        padding=first.padding,
        bias=True,
    )
    with torch.no_grad():
        out.weight.copy_(weight.float())
        out.bias.copy_(torch.cat(biases).float())
    return out.requires_grad_(False)


def _relu_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.relu(conv(x), inplace=True)


def _split_relu(
    head: torch.Tensor, sizes: list[int], *, relu_last: bool = False
) -> tuple[torch.Tensor, ...]:
    """Split a merged head's output; ReLU in place on all parts but the pool branch's
    (the last, unless ``relu_last``), which still has its average pool ahead of it."""
    n = sum(sizes) if relu_last else sum(sizes[:-1])
    head[:, :n].relu_()
    return torch.split(head, sizes, 1)


class _FoldedA(nn.Module):
    # The pool branch's 1x1 conv runs before its average pool: both are linear and the
    # TF pool's weights sum to 1, so pool(conv(x) + b) == conv(pool(x)) + b; this lets
    # the four 1x1 convolutions reading x run as one.
    def __init__(self, block: InceptionA):
        super().__init__()
        self.split = [64, 48, 64, block.branch_pool.conv.out_channels]
        self.head = _folded_conv(
            block.branch1x1, block.branch5x5_1, block.branch3x3dbl_1, block.branch_pool
        )
        self.b5 = _folded_conv(block.branch5x5_2)
        self.b3_2 = _folded_conv(block.branch3x3dbl_2)
        self.b3_3 = _folded_conv(block.branch3x3dbl_3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b5, b3, bp = _split_relu(self.head(x), self.split)
        b5 = _relu_conv(self.b5, b5)
        b3 = _relu_conv(self.b3_3, _relu_conv(self.b3_2, b3))
        return torch.cat([b1, b5, b3, F.relu(_avg_pool_tf(bp), inplace=True)], 1)


class _FoldedB(nn.Module):
    def __init__(self, block: InceptionB):
        super().__init__()
        self.b3 = _folded_conv(block.branch3x3)
        self.d1 = _folded_conv(block.branch3x3dbl_1)
        self.d2 = _folded_conv(block.branch3x3dbl_2)
        self.d3 = _folded_conv(block.branch3x3dbl_3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = _relu_conv(self.b3, x)
        bd = _relu_conv(self.d3, _relu_conv(self.d2, _relu_conv(self.d1, x)))
        return torch.cat([b3, bd, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _FoldedC(nn.Module):
    def __init__(self, block: InceptionC):
        super().__init__()
        c7 = block.branch7x7_1.conv.out_channels
        self.split = [192, c7, c7, 192]
        self.head = _folded_conv(
            block.branch1x1, block.branch7x7_1, block.branch7x7dbl_1, block.branch_pool
        )
        self.s2 = _folded_conv(block.branch7x7_2)
        self.s3 = _folded_conv(block.branch7x7_3)
        self.d2 = _folded_conv(block.branch7x7dbl_2)
        self.d3 = _folded_conv(block.branch7x7dbl_3)
        self.d4 = _folded_conv(block.branch7x7dbl_4)
        self.d5 = _folded_conv(block.branch7x7dbl_5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b7, bd, bp = _split_relu(self.head(x), self.split)
        b7 = _relu_conv(self.s3, _relu_conv(self.s2, b7))
        bd = _relu_conv(self.d3, _relu_conv(self.d2, bd))
        bd = _relu_conv(self.d5, _relu_conv(self.d4, bd))
        return torch.cat([b1, b7, bd, F.relu(_avg_pool_tf(bp), inplace=True)], 1)


class _FoldedD(nn.Module):
    def __init__(self, block: InceptionD):
        super().__init__()
        self.head = _folded_conv(block.branch3x3_1, block.branch7x7x3_1)
        self.b3_2 = _folded_conv(block.branch3x3_2)
        self.b7_2 = _folded_conv(block.branch7x7x3_2)
        self.b7_3 = _folded_conv(block.branch7x7x3_3)
        self.b7_4 = _folded_conv(block.branch7x7x3_4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3, b7 = torch.split(_relu_conv(self.head, x), [192, 192], 1)
        b3 = _relu_conv(self.b3_2, b3)
        b7 = _relu_conv(self.b7_4, _relu_conv(self.b7_3, _relu_conv(self.b7_2, b7)))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class _FoldedE(nn.Module):
    def __init__(self, block: InceptionE):
        super().__init__()
        self.max_pool = block.max_pool
        heads = [block.branch1x1, block.branch3x3_1, block.branch3x3dbl_1]
        self.split = [320, 384, 448]
        if self.max_pool:
            # max pool is not linear: its 1x1 conv must stay after the pool.
            self.pool_conv = _folded_conv(block.branch_pool)
        else:
            heads.append(block.branch_pool)
            self.split.append(192)
        self.head = _folded_conv(*heads)
        self.b3_2a = _folded_conv(block.branch3x3_2a)
        self.b3_2b = _folded_conv(block.branch3x3_2b)
        self.d2 = _folded_conv(block.branch3x3dbl_2)
        self.d3a = _folded_conv(block.branch3x3dbl_3a)
        self.d3b = _folded_conv(block.branch3x3dbl_3b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = _split_relu(self.head(x), self.split, relu_last=self.max_pool)
        b1, b3, bd = parts[:3]
        b3 = torch.cat([_relu_conv(self.b3_2a, b3), _relu_conv(self.b3_2b, b3)], 1)
        bd = _relu_conv(self.d2, bd)
        bd = torch.cat([_relu_conv(self.d3a, bd), _relu_conv(self.d3b, bd)], 1)
        if self.max_pool:
            bp = _relu_conv(self.pool_conv, F.max_pool2d(x, kernel_size=3, stride=1, padding=1))
        else:
            bp = F.relu(_avg_pool_tf(parts[3]), inplace=True)
        return torch.cat([b1, b3, bd, bp], 1)


_FOLDERS = {
    InceptionA: _FoldedA,
    InceptionB: _FoldedB,
    InceptionC: _FoldedC,
    InceptionD: _FoldedD,
    InceptionE: _FoldedE,
}


class FoldedFIDInceptionV3(nn.Module):
    """Inference copy of :class:`FIDInceptionV3` with BatchNorm folded and 1x1 heads merged."""

    def __init__(self, model: FIDInceptionV3, *, fold_input: bool = True):
        super().__init__()
        model = model.float().eval()
        # The input normalisation (x - 128) / 128 goes into the first convolution, which
        # has no padding, so no zero-padded border would see a shifted value. Reduced
        # precision keeps it separate: bfloat16 holds [-1, 1] better than 0..255.
        assert model.Conv2d_1a_3x3.conv.padding == (0, 0)
        self.normalize = not fold_input
        if fold_input:
            first = _folded_conv(model.Conv2d_1a_3x3, input_scale=1 / 128, input_shift=-1.0)
        else:
            first = _folded_conv(model.Conv2d_1a_3x3)
        self.stem = nn.ModuleList(
            [first]
            + [
                _folded_conv(getattr(model, name))
                for name in (
                    "Conv2d_2a_3x3",
                    "Conv2d_2b_3x3",
                    "Conv2d_3b_1x1",
                    "Conv2d_4a_3x3",
                )
            ]
        )
        self.blocks = nn.ModuleList(
            _FOLDERS[type(block)](block)
            for block in (
                model.Mixed_5b,
                model.Mixed_5c,
                model.Mixed_5d,
                model.Mixed_6a,
                model.Mixed_6b,
                model.Mixed_6c,
                model.Mixed_6d,
                model.Mixed_6e,
                model.Mixed_7a,
                model.Mixed_7b,
                model.Mixed_7c,
            )
        )
        self.register_buffer("fc_weight_t", model.fc.weight.detach().t().contiguous())
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.normalize:
            x = (x - 128) / 128
        c1a, c2a, c2b, c3b, c4a = self.stem
        x = _relu_conv(c2b, _relu_conv(c2a, _relu_conv(c1a, x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = _relu_conv(c4a, _relu_conv(c3b, x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in self.blocks:
            x = block(x)
        pool3 = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return pool3, pool3 @ self.fc_weight_t


def fold(model: FIDInceptionV3, *, fold_input: bool = True) -> FoldedFIDInceptionV3:
    """The faster inference copy of ``model`` (same outputs to float rounding)."""
    return FoldedFIDInceptionV3(model, fold_input=fold_input)
