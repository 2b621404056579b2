"""Default criteria: 5-point scales with a label on every point.

Following HEIM (Lee et al. 2023: labelled 5-point scales for alignment,
photorealism, aesthetics, originality) and Otani et al. (CVPR 2023: an "unable to
answer" option); pairwise choices as in GenAI-Arena (A better, B better, tie, both bad).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ratings.models.campaigns import Protocol

COMPARE_LABELS = ("A is better", "B is better", "About the same", "Both are bad")

# One line per paragraph or bullet: the page keeps the line breaks as written.
DEFAULT_INSTRUCTIONS = "\n".join(
    [
        "Thank you for taking part. You will see images, one task at a time, and answer one "
        "or a few questions about them on a scale from 1 to 5.",
        "",
        "- Judge each image on its own merits: there are no right answers, we want your opinion.",
        "- When two images are shown, say which one is better for the question asked, or "
        "whether they are about the same, or both bad.",
        "- When a grid of images is shown, judge how different the images are from each other.",
        '- If you really cannot answer, choose "Can\'t tell".',
        "",
        'Keyboard: press the number keys to answer (1 to 5; 0 for "Can\'t tell"), Enter to '
        "submit. Some tasks are checks with a known answer; careless answers are noticed.",
    ]
)


@dataclass(frozen=True)
class CriterionSpec:
    """What a campaign asks: a question on a labelled scale, under one protocol."""

    key: str
    protocol: str
    name: str
    question: str
    labels: tuple[str, ...] = field(default=())
    allow_cant_tell: bool = True
    shows_prompt: bool = False


_SCALES = {
    "realism": (
        "Realism",
        "How realistic does this image look?",
        "Which image looks more realistic?",
        (
            "Obviously artificial",
            "Mostly artificial",
            "Somewhat realistic",
            "Realistic",
            "Indistinguishable from a photo",
        ),
        False,
    ),
    "relevance": (
        "Relevance to the prompt",
        "How well does the image match the prompt?",
        "Which image matches the prompt better?",
        ("Not at all", "Barely", "Partly", "Mostly", "Exactly"),
        True,
    ),
    "creativity": (
        "Creativity",
        "How original and creative is this image?",
        "Which image is more original and creative?",
        ("Very generic", "Somewhat generic", "Average", "Original", "Very original"),
        False,
    ),
    "diversity": (
        "Diversity",
        "How different are these images from each other?",
        "",
        ("Nearly identical", "Small variations", "Some variety", "Varied", "Very varied"),
        True,
    ),
}

# Which protocols each preset can be asked under.
PRESET_PROTOCOLS = {
    "realism": (Protocol.RATE, Protocol.COMPARE),
    "relevance": (Protocol.RATE, Protocol.COMPARE),
    "creativity": (Protocol.RATE, Protocol.COMPARE),
    "diversity": (Protocol.GRID,),
}


def criterion_preset(key: str, protocol: str = Protocol.RATE) -> CriterionSpec:
    """The default criterion ``key`` (realism, relevance, creativity, diversity) under ``protocol``."""
    if key not in _SCALES:
        raise ValueError(f"no preset criterion {key!r}; presets: {', '.join(_SCALES)}")
    if protocol not in PRESET_PROTOCOLS[key]:
        allowed = ", ".join(PRESET_PROTOCOLS[key])
        raise ValueError(f"{key} cannot be asked under {protocol!r}; use {allowed}")
    name, question, compare_question, labels, shows_prompt = _SCALES[key]
    if protocol == Protocol.COMPARE:
        return CriterionSpec(
            key=key,
            protocol=protocol,
            name=name,
            question=compare_question,
            labels=COMPARE_LABELS,
            allow_cant_tell=False,
            shows_prompt=shows_prompt,
        )
    return CriterionSpec(
        key=key,
        protocol=protocol,
        name=name,
        question=question,
        labels=labels,
        allow_cant_tell=True,
        shows_prompt=shows_prompt,
    )


def default_criteria() -> list[CriterionSpec]:
    """Realism, relevance and creativity on single images; diversity over grids."""
    return [
        criterion_preset("realism"),
        criterion_preset("relevance"),
        criterion_preset("creativity"),
        criterion_preset("diversity", Protocol.GRID),
    ]


def instructions_for(criteria) -> str:
    """Instructions that say what these criteria ask, with the keys their pages use.

    Scales are described with their real length (a compare task has four choices on keys
    1 to 4, not a scale from 1 to 5); ``criteria`` are specs or Criterion rows.
    """
    scaled = [c for c in criteria if c.protocol != Protocol.COMPARE]
    protocols = {c.protocol for c in criteria}
    points = sorted({len(c.labels) for c in scaled})
    lines = ["Thank you for taking part. You will see images, one task at a time, and answer "
             "one or a few questions about them."]  # fmt: skip
    lines.append("")
    if scaled:
        scale = f"1 to {points[0]}" if len(points) == 1 else "1 to the number of points shown"
        lines.append(
            f"- Rate on a scale from {scale}: judge on its own merits, we want your opinion."
        )
    if Protocol.COMPARE in protocols:
        lines.append(
            "- When two images (A and B) are shown, choose which one is better for the question: "
            "A, B, about the same, or both bad (keys 1 to 4)."
        )
    if Protocol.GRID in protocols:
        lines.append(
            "- When a grid of images is shown, judge how different they are from each other."
        )
    if any(getattr(c, "allow_cant_tell", False) for c in scaled):
        lines.append('- If you really cannot answer a rating, choose "Can\'t tell" (key 0).')
    lines.append("")
    lines.append(
        "Keyboard: press the number keys to answer, Enter to submit, ? to see these "
        "instructions again. "
        "Some tasks are checks with a known answer; careless answers are noticed."
    )
    return "\n".join(lines)
