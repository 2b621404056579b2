"""Write the golden torch-fidelity / clean-fid numbers that the engine tests compare to.

Run in the peers venv, never by the test suite. ``make peers`` builds that venv from
requirements-peers.txt; ``make check-goldens`` runs this script with ``--out`` a temporary
folder and compares its output with the committed file(s) (tests/data/check_goldens.py)::

    PYTHONPATH=. .peers-venv/bin/python tests/engine/make_reference_numbers.py [--out DIR]

It builds the seeded random FID Inception weights and the two seeded image sets
of ``inception_fixtures.py`` (the tests rebuild the very same ones: the digests
recorded here are checked there), then runs torch-fidelity 0.4.0 on them with
``feature_extractor_weights_path`` pointing at those weights:

- pool3 and unbiased logits per image (FeatureExtractorInceptionV3, one image
  per batch because the sets mix sizes);
- ``calculate_metrics`` as a whole: FID; KID with one subset of all samples and
  with the default sampling (seed 2020) on small subsets; IS with one split and
  with 3 shuffled splits;
- the legacy TF1 bilinear resize (``interpolate_bilinear_2d_like_tensorflow1x``)
  and clean-fid's "clean" resize (PIL bicubic, mode F) of set A's images, at
  fixed sampled pixel positions.

Outputs (small): tests/data/inception_reference.json and .npz.
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
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

import inception_fixtures as fx  # noqa: E402

DATA = HERE.parent / "data"
SET_A, SET_B = fx.SET_A, fx.SET_B


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA, help="folder to write into")
    out_dir = parser.parse_args().out
    import torch_fidelity
    from cleanfid.resize import make_resizer
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        state = fx.build_state_dict()
        weights = tmp / fx.WEIGHTS_NAME
        torch.save(state, weights)
        dirs = {}
        for key, spec in (("a", SET_A), ("b", SET_B)):
            dirs[key] = tmp / key
            fx.write_image_set(dirs[key], **spec)

        extractor = FeatureExtractorInceptionV3(
            "inception-v3-compat",
            ["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(weights),
        )
        arrays = {}
        for key in ("a", "b"):
            pools, logits = [], []
            for path in sorted(dirs[key].iterdir()):
                img = np.asarray(Image.open(path).convert("RGB"))
                x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()
                with torch.no_grad():
                    pool3, logit = extractor(x)
                pools.append(pool3[0].numpy())
                logits.append(logit[0].numpy())
            arrays[f"pool3_{key}"] = np.stack(pools).astype(np.float32)
            arrays[f"logits_{key}"] = np.stack(logits).astype(np.float32)

        common = dict(
            input1=str(dirs["a"]),
            input2=str(dirs["b"]),
            cuda=False,
            batch_size=1,
            feature_extractor_weights_path=str(weights),
            cache=False,
            verbose=False,
        )
        n = SET_A["count"]
        one = torch_fidelity.calculate_metrics(
            **common, fid=True, kid=True, isc=True, kid_subsets=1, kid_subset_size=n, isc_splits=1
        )
        sampled = torch_fidelity.calculate_metrics(
            **common, kid=True, isc=True, kid_subsets=100, kid_subset_size=5, isc_splits=3
        )

        positions = fx.resize_sample_positions()
        clean = make_resizer("PIL", False, "bicubic", (299, 299))
        tf_samples, clean_samples, tf_sums, clean_sums = [], [], [], []
        for img in fx.image_set_arrays(**SET_A)[:6]:
            x = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
            tf = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
            tf = tf[0].numpy()
            cl = clean(img).transpose(2, 0, 1)  # clean-fid returns (299, 299, 3)
            tf_samples.append(tf.reshape(-1)[positions])
            clean_samples.append(cl.reshape(-1)[positions])
            tf_sums.append(float(tf.astype(np.float64).sum()))
            clean_sums.append(float(cl.astype(np.float64).sum()))
        arrays["resize_tf1_samples"] = np.stack(tf_samples).astype(np.float32)
        arrays["resize_clean_samples"] = np.stack(clean_samples).astype(np.float32)

    golden = {
        "how": "tests/engine/make_reference_numbers.py in the peers venv",
        "versions": {
            "torch-fidelity": metadata.version("torch-fidelity"),
            "clean-fid": metadata.version("clean-fid"),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pillow": metadata.version("pillow"),
        },
        "weights_digest": fx.state_dict_digest(state),
        "weights_seed": fx.DEFAULT_SEED,
        "set_a": {**SET_A, "digest": fx.images_digest(fx.image_set_arrays(**SET_A))},
        "set_b": {**SET_B, "digest": fx.images_digest(fx.image_set_arrays(**SET_B))},
        "fid": one["frechet_inception_distance"],
        "kid_one_subset": one["kernel_inception_distance_mean"],
        "is_one_split": one["inception_score_mean"],
        "kid_100x5_seed2020": {
            "mean": sampled["kernel_inception_distance_mean"],
            "std": sampled["kernel_inception_distance_std"],
        },
        "is_3_splits_seed2020": {
            "mean": sampled["inception_score_mean"],
            "std": sampled["inception_score_std"],
        },
        "resize_tf1_sums": tf_sums,
        "resize_clean_sums": clean_sums,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "inception_reference.json").write_text(json.dumps(golden, indent=2) + "\n")
    np.savez_compressed(out_dir / "inception_reference.npz", **arrays)
    print(json.dumps({k: golden[k] for k in ("fid", "kid_one_subset", "is_one_split")}))


if __name__ == "__main__":
    main()
