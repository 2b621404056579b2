"""Statistics of the comparison report: pure numpy/scipy, no Django, no database.

Inputs are flat index arrays (one entry per rating or vote: model, prompt, judge, item indices
starting at 0, and the score), so the report builder fetches rows once and passes columns.
Every bootstrap is seeded, vectorised, and returns plain dataclasses with ``to_dict()``.

- :mod:`.bootstrap`: per-model mean rating with a cluster bootstrap over prompts.
- :mod:`.pairwise` / :mod:`.bradley_terry`: win-rate matrix, Bradley-Terry scores with intervals.
- :mod:`.agreement`: Krippendorff's alpha with an interval over units; each judge against the rest.
- :mod:`.significance`: paired tests over prompts for every pair of models, Holm-adjusted.
- :mod:`.correlation`: human scores against metrics, per model and per image.
- :mod:`.simulate`: campaigns with a known truth, for tests.
"""

from ._common import resample_counts
from .agreement import (
    Alpha,
    JudgeAgreement,
    judge_agreement,
    krippendorff_alpha,
    krippendorff_alpha_bootstrap,
    krippendorff_alpha_units,
)
from .bootstrap import ModelMeans, group_means, model_means_bootstrap
from .bradley_terry import fit_scores, to_elo
from .correlation import Coefficient, Correlation, item_correlation, system_correlation
from .pairwise import (
    A_BETTER,
    B_BETTER,
    BOTH_BAD,
    TIE,
    BradleyTerry,
    WinRates,
    bradley_terry,
    encode_outcomes,
    win_rates,
)
from .significance import PairedTests, holm, paired_tests

__all__ = [
    "A_BETTER",
    "B_BETTER",
    "BOTH_BAD",
    "TIE",
    "Alpha",
    "BradleyTerry",
    "Coefficient",
    "Correlation",
    "JudgeAgreement",
    "ModelMeans",
    "PairedTests",
    "WinRates",
    "bradley_terry",
    "encode_outcomes",
    "fit_scores",
    "group_means",
    "holm",
    "item_correlation",
    "judge_agreement",
    "krippendorff_alpha",
    "krippendorff_alpha_bootstrap",
    "krippendorff_alpha_units",
    "model_means_bootstrap",
    "paired_tests",
    "resample_counts",
    "system_correlation",
    "to_elo",
    "win_rates",
]
