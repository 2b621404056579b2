"""What each metric is: its name, label, unit and direction (higher or lower is better).

The one source of truth for a metric's direction. The engine's results
(:class:`metrics.engine.result.MetricResult`), the run pages and recipes
(``metrics.services.recipes``) and the comparison report (its sign convention, arrows and
exports) all read it from here, so they can never disagree again (the run-start page once said
novelty was higher-is-better while the engine said lower).

A new metric joins everything (run pages, report tables, correlations, item-level agreement)
by declaring itself once::

    metric_declare("pickscore", "PickScore", higher_is_better=True, unit="logit x 100")

Names are the catalogue's (recipe) names; ``aliases`` are the names an engine function writes
in its result (``inception_score`` for ``is``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """A metric's identity: catalogue name, human label, unit and direction."""

    name: str
    label: str
    higher_is_better: bool
    unit: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    known: bool = True  # False for a name nobody declared (its direction is a guess)

    @property
    def lower_is_better(self) -> bool:
        return not self.higher_is_better

    @property
    def better(self) -> str:
        """``"higher"`` or ``"lower"``: which way is better, for tables."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def direction_text(self) -> str:
        """A plain phrase for pages: "↑ higher is better" / "↓ lower is better"."""
        arrow = "↑" if self.higher_is_better else "↓"
        text = f"{arrow} {self.better} is better"
        return text if self.known else text + " (direction not declared; assumed)"


METRICS: dict[str, MetricInfo] = {}
_ALIASES: dict[str, str] = {}


def metric_declare(
    name: str,
    label: str,
    *,
    higher_is_better: bool,
    unit: str = "",
    description: str = "",
    aliases: tuple[str, ...] = (),
) -> MetricInfo:
    """Declare a metric (once); declaring it again differently is an error."""
    info = MetricInfo(name, label, bool(higher_is_better), unit, description, tuple(aliases))
    existing = METRICS.get(name)
    if existing is not None and existing != info:
        raise ValueError(f"metric {name!r} is already declared differently: {existing}")
    METRICS[name] = info
    for alias in aliases:
        _ALIASES[alias] = name
    return info


def metric_info(name: str) -> MetricInfo:
    """The declared metadata of ``name`` (or an alias); undeclared names get a marked guess."""
    key = _ALIASES.get(name, name)
    if key in METRICS:
        return METRICS[key]
    return MetricInfo(name, name, True, known=False)


# --- the declared metrics ---------------------------------------------------------------------
# fmt: off
metric_declare("fid", "FID", higher_is_better=False,
               description="Fréchet distance of Inception pool3 features to the reference set")
metric_declare("kid", "KID", higher_is_better=False,
               description="kernel (polynomial) MMD of Inception features to the reference set")
metric_declare("is", "Inception Score", higher_is_better=True, aliases=("inception_score",))
metric_declare("class_kl", "Class-distribution KL", higher_is_better=False, unit="nats")
metric_declare("precision", "Precision (k-NN)", higher_is_better=True)
metric_declare("recall", "Recall (k-NN)", higher_is_better=True)
metric_declare("density", "Density", higher_is_better=True)
metric_declare("coverage", "Coverage", higher_is_better=True)
metric_declare("clip_score", "CLIP score", higher_is_better=True, unit="100 x cosine")
metric_declare("clip_direction", "CLIP directional similarity", higher_is_better=True,
               unit="cosine", aliases=("clip_directional_similarity",))
metric_declare("cmmd", "CMMD", higher_is_better=False, unit="x 1000")
metric_declare("vendi", "Vendi score", higher_is_better=True, unit="effective number of images")
# Novelty's value is the similarity to the nearest reference image: lower means more novel.
metric_declare("novelty", "Novelty / memorisation", higher_is_better=False,
               unit="cosine similarity to the nearest reference image")
metric_declare("ssim", "SSIM", higher_is_better=True)
metric_declare("ms_ssim", "MS-SSIM", higher_is_better=True)
metric_declare("psnr", "PSNR", higher_is_better=True, unit="dB")
metric_declare("mse", "MSE", higher_is_better=False)
metric_declare("lpips", "LPIPS", higher_is_better=False)
metric_declare("lpips_diversity", "LPIPS diversity", higher_is_better=True)
# fmt: on
# Human-preference scorers (metrics/engine/aesthetic.py, pickscore.py, hpsv2.py, imagereward.py).
metric_declare("aesthetic", "LAION aesthetic score", higher_is_better=True, unit="1-10 scale")
metric_declare("pickscore", "PickScore", higher_is_better=True, unit="logit scale x cosine")
metric_declare("hpsv2", "HPS v2.1", higher_is_better=True, unit="cosine")
metric_declare("imagereward", "ImageReward", higher_is_better=True, unit="standardised reward")
