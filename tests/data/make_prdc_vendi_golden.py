"""Write tests/data/prdc_vendi_golden.json: the authors' PRDC and Vendi numbers the tests compare to.

Run in the peers venv, never by the test suite (the project does not depend on these packages).
``make peers`` builds that venv from requirements-peers.txt; ``make check-goldens`` runs this
script (with ``--out`` a temporary folder) and compares its output with the committed file:

    .peers-venv/bin/python tests/data/make_prdc_vendi_golden.py [--out DIR]

- ``prdc``: ``prdc.compute_prdc(real_features=ref, fake_features=gen, nearest_k=k)`` for k = 3
  and 5, on numpy ``default_rng(7)``: ref = 50 x 8 standard normal, then gen = 40 x 8 standard
  normal x 1.2 + 0.3 (tests/engine/test_prdc.py rebuilds the same arrays).
- ``vendi``: ``vendi.score_dual`` on the row-normalised 30 x 6 draw and ``vendi.score_K`` on
  the cosine kernel of the row-normalised 5 x 40 draw, both from numpy ``default_rng(11)``
  in that order (tests/engine/test_vendi.py).
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NAME = "prdc_vendi_golden.json"


def prdc_cases() -> dict:
    from prdc import compute_prdc

    rng = np.random.default_rng(7)
    ref = rng.standard_normal((50, 8))
    gen = rng.standard_normal((40, 8)) * 1.2 + 0.3
    out = {}
    for k in (3, 5):
        r = compute_prdc(real_features=ref, fake_features=gen, nearest_k=k)
        out[f"k{k}"] = {
            key: float(r[key]) for key in ("precision", "recall", "density", "coverage")
        }
    return out


def vendi_cases() -> dict:
    from vendi_score import vendi

    rng = np.random.default_rng(11)
    many, few = rng.standard_normal((30, 6)), rng.standard_normal((5, 40))
    many_n = many / np.linalg.norm(many, axis=1, keepdims=True)
    few_n = few / np.linalg.norm(few, axis=1, keepdims=True)
    return {
        "many_30x6_score_dual": float(vendi.score_dual(many_n, normalize=False)),
        "few_5x40_score_K": float(vendi.score_K(few_n @ few_n.T)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    out_dir = parser.parse_args().out
    golden = {
        "how": "tests/data/make_prdc_vendi_golden.py in the peers venv (make peers)",
        "versions": {name: metadata.version(name) for name in ("prdc", "vendi-score", "numpy")},
        "prdc": prdc_cases(),
        "vendi": vendi_cases(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / NAME).write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {out_dir / NAME}")


if __name__ == "__main__":
    main()
