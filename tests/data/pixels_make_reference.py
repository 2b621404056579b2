"""Write tests/data/pixels_reference.json: reference numbers for the pixel-metric tests.

Run in the peers venv, never by the test suite. ``make peers`` builds that venv from
requirements-peers.txt; ``make check-goldens`` runs this script with ``--out`` a temporary
folder and compares its output with the committed file(s) (tests/data/check_goldens.py),
from the repository root:

    .peers-venv/bin/python tests/data/pixels_make_reference.py [--out DIR]

(scikit-image, pytorch-msssim, torchmetrics, lpips and torchvision; never imported by the
project or its tests). Inputs come from
tests/engine/lpips_fixtures.py (seeded numpy images and weights), so the project
tests rebuild exactly the same images and weight files and compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "engine"))

import lpips_fixtures as fx  # noqa: E402

LPIPS_SLICES = {  # lpips.pretrained_networks: slice k holds torchvision features[lo:hi]
    "alex": [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)],
    "vgg": [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)],
}


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].double()


def ms_ssim_edge_padded(x: torch.Tensor, y: torch.Tensor) -> float:
    """pytorch_msssim's per-scale SSIM/cs, combined as it does, but with TensorFlow's and MATLAB's
    rule for odd sides (repeat the last row/column before the 2x2 mean) instead of zero padding."""
    import torch.nn.functional as F
    from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim

    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], dtype=x.dtype)
    win = _fspecial_gauss_1d(11, 1.5).repeat([x.shape[1], 1, 1, 1])
    mcs = []
    for level in range(5):
        ssim_pc, cs = _ssim(x, y, data_range=255, win=win, size_average=False)
        if level < 4:
            mcs.append(torch.relu(cs))
            pad = (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)
            x = F.avg_pool2d(F.pad(x, pad, mode="replicate"), 2)
            y = F.avg_pool2d(F.pad(y, pad, mode="replicate"), 2)
    stack = torch.stack(mcs + [torch.relu(ssim_pc)], dim=0)
    return float(torch.prod(stack ** weights.view(-1, 1, 1), dim=0).mean())


def pixel_references() -> dict:
    import pytorch_msssim
    from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    out = {}
    for case in fx.PIXEL_CASES:
        a, b = fx.case_images(case)
        row = {
            "digest": fx.images_digest(a, b),
            "ssim": float(
                structural_similarity(
                    a,
                    b,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                    data_range=255,
                    channel_axis=-1,
                )
            ),
            "psnr": float(peak_signal_noise_ratio(a, b, data_range=255)),
            "mse": float(mean_squared_error(a, b)),
        }
        if min(a.shape[:2]) >= 161:
            x, y = to_tensor(a), to_tensor(b)
            row["ms_ssim_pytorch_msssim"] = float(pytorch_msssim.ms_ssim(x, y, data_range=255))
            row["ms_ssim_edge_padded"] = ms_ssim_edge_padded(x, y)
            if min(s // 16 for s in a.shape[:2]) > 10:  # torchmetrics' own size rule
                row["ms_ssim_torchmetrics"] = float(
                    multiscale_structural_similarity_index_measure(x, y, data_range=255.0)
                )
        out[case[0]] = row
    return out


def peer_lpips(net: str, directory: Path):
    import lpips

    backbone_file, linear_file = fx.write_weights(directory, net)
    # pnet_rand: torchvision must not try to download ImageNet weights; we load ours below.
    model = lpips.LPIPS(
        net=net, pretrained=True, model_path=str(linear_file), pnet_rand=True, verbose=False
    )
    tv_state = torch.load(backbone_file, map_location="cpu", weights_only=True)
    mapped = {}
    for k, (lo, hi) in enumerate(LPIPS_SLICES[net], start=1):
        for idx in range(lo, hi):
            for p in ("weight", "bias"):
                if f"features.{idx}.{p}" in tv_state:
                    mapped[f"slice{k}.{idx}.{p}"] = tv_state[f"features.{idx}.{p}"]
    model.net.load_state_dict(mapped, strict=True)
    return model.eval()


def lpips_references() -> dict:
    import lpips

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for net, cases in fx.LPIPS_CASES.items():
            model = peer_lpips(net, Path(tmp) / net)
            rows = {}
            with torch.no_grad():
                for case in cases:
                    a, b = fx.case_images(case)
                    ta, tb = lpips.im2tensor(a), lpips.im2tensor(b)
                    rows[case[0]] = {
                        "digest": fx.images_digest(a, b),
                        "lpips": float(model(ta, tb)),
                        "lpips_reversed": float(model(tb, ta)),
                    }
                if net == "alex":
                    imgs = [fx.smooth_image(30 + k, 48, 48) for k in range(4)]
                    ds = [
                        float(model(lpips.im2tensor(imgs[i]), lpips.im2tensor(imgs[j])))
                        for i in range(4)
                        for j in range(i + 1, 4)
                    ]
                    rows["diversity_4x48"] = {"mean_pairwise": float(np.mean(ds)), "pairs": ds}
            out[net] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "tests" / "data", help="folder to write into"
    )
    out_dir = parser.parse_args().out
    versions = {
        name: metadata.version(name)
        for name in ("scikit-image", "pytorch-msssim", "torchmetrics", "lpips", "torch", "numpy")
    }
    data = {
        "how": "tests/data/pixels_make_reference.py in a scratch venv with the peers",
        "versions": versions,
        "pixels": pixel_references(),
        "lpips": lpips_references(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "pixels_reference.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
