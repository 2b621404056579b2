"""PickScore (Kirstain et al. 2023, "Pick-a-Pic"): a CLIP-H fine-tuned on human preferences.

As its authors compute it (the model card of ``yuvalkirstain/PickScore_v1`` and
``yuvalkirstain/PickScore``): the model is a ``transformers`` ``CLIPModel``; images and
prompts are preprocessed by the processor of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``
(resize the short side to 224 with bicubic, centre crop 224, OpenAI mean/std; CLIP BPE,
padded, truncated at 77 tokens); the score of an image for its prompt is

    ``model.logit_scale.exp() * cos(get_image_features(image), get_text_features(prompt))``

(about 100 x the cosine for the published checkpoint). Softmax over a prompt's images
gives the authors' preference probabilities; we report the per-image score and its mean.

Checkpoints come through the same resolution as CLIP (:func:`metrics.engine.clip.resolve_clip_dir`:
a local directory, ``$EVALSITE_WEIGHTS_DIR/<name>``, the Hugging Face cache, a download);
the processor repository is read for its preprocessing and tokenizer files only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metrics.engine.clip import ClipBundle, _load_from_dir, _weight_files, resolve_clip_dir
from metrics.engine.model_cache import ModelCache

PICKSCORE_MODEL = "yuvalkirstain/PickScore_v1"
PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
PREPROCESSING = "clip-processor-pil"  # transformers' (slow, PIL) CLIPImageProcessor, as the authors

_CACHE = ModelCache()


def load_pickscore(
    model: str = PICKSCORE_MODEL,
    processor: str = PICKSCORE_PROCESSOR,
    *,
    device: Any = "auto",
    download: bool | None = None,
) -> ClipBundle:
    """PickScore's CLIPModel with the LAION CLIP-H processor, loaded once per names and device."""
    from metrics.engine.device import resolve_device
    from metrics.engine.preference import resolve_processor_dir

    dev = resolve_device(device)
    key = (str(model), str(processor), str(dev))

    def load() -> ClipBundle:
        model_dir = resolve_clip_dir(model, download=download)
        processor_dir = resolve_processor_dir(processor, download=download)
        return _load_from_dir(str(model), model_dir, dev, processor_dir=processor_dir)

    return _CACHE.get_or_load(key, load)


def logit_scale(bundle: ClipBundle) -> float:
    """The model's ``logit_scale.exp()`` (the authors' multiplier of the cosine)."""
    return float(bundle.model.logit_scale.detach().float().exp().cpu())


def checkpoint_logit_scale(directory: str | Path) -> float:
    """``exp(logit_scale)`` read from a checkpoint directory without loading the model."""
    import torch

    files = _weight_files(Path(directory))
    for file in files:
        if file.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as fh:
                if "logit_scale" in fh.keys():
                    return float(fh.get_tensor("logit_scale").float().exp())
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
            if "logit_scale" in state:
                return float(state["logit_scale"].float().exp())
    raise ValueError(f"no logit_scale in the checkpoint at {directory}")


def provenance(bundle: ClipBundle, processor: str = PICKSCORE_PROCESSOR) -> dict[str, Any]:
    """What a PickScore result records beyond the bundle's own provenance."""
    return {
        "reference": "PickScore model card: logit_scale.exp() * cos(image, prompt), "
        f"{processor} processor",
        "pickscore_model": bundle.name,
        "pickscore_processor": processor,
        "preprocessing": PREPROCESSING,
    }


def pickscore_paths(
    paths, prompts, *, bundle: ClipBundle, processor: str = PICKSCORE_PROCESSOR, **kw
):
    """PickScore of image files against their prompts (same order); see :func:`prompt_scores_paths`."""
    from metrics.engine.preference import prompt_scores_paths

    return prompt_scores_paths(
        "pickscore",
        paths,
        prompts,
        bundle=bundle,
        scale=logit_scale(bundle),
        provenance=provenance(bundle, processor),
        **kw,
    )
