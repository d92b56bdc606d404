"""The request's image prompts → the task's `image_prompts` and `control` (contract/image_prompt.py).

Fooocus's rules: a stop or weight left out, or 0, is the type's default (ImagePrompt 0.5 / 0.6, FaceSwap
0.9 / 0.75, PyraCanny and CPDS 0.5 / 1.0); each type runs on its model files (catalog/image_prompt_models.py),
and a type whose files are not installed, or that the workers' kernel does not run, is refused naming
`image_prompts[i].type`. The five advanced knobs are shared by all prompts of a job. Like the input image, a
prompt's image is kept by sha256: the dispatcher puts the bytes back into the task a worker gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contract.image_input import InputImage
from contract.image_prompt import ControlSettings, ImagePrompt, ImagePromptType
from contract.model_ref import ModelRef
from contract.request import GenerateRequest
from orchestrator.catalog import CatalogSnapshot, ModelFile
from orchestrator.catalog.image_prompt_models import (
    DEFAULT_STOP_WEIGHT,
    IP_NEGATIVE,
    kernel_name,
    prompt_models,
)
from orchestrator.common.image_params import PromptUse
from orchestrator.common.input_image import ResolvedImage
from orchestrator.normalize.errors import NormalizeError

# The shared knobs, as request fields.
CONTROL_KNOBS = ("controlnet_softness", "canny_low_threshold", "canny_high_threshold", "skipping_cn_preprocessor",
                 "debugging_cn_preprocessor")
CONTROL_MODEL_TYPES = frozenset({ImagePromptType.pyra_canny, ImagePromptType.cpds})
# Which prompt types a knob acts on (Fooocus: softness scales the control models' residuals, the thresholds
# are PyraCanny's Canny, skipping the preprocessor leaves ImagePrompt's plain resize as it is).
KNOB_TYPES: dict[str, frozenset[ImagePromptType]] = {
    "controlnet_softness": CONTROL_MODEL_TYPES,
    "canny_low_threshold": frozenset({ImagePromptType.pyra_canny}),
    "canny_high_threshold": frozenset({ImagePromptType.pyra_canny}),
    "skipping_cn_preprocessor": frozenset(set(ImagePromptType) - {ImagePromptType.image_prompt}),
    "debugging_cn_preprocessor": frozenset(ImagePromptType),
}


def image_field(index: int) -> str:
    """The name the request's resolved images go by (and the JSON path, without `$.`, of the image)."""
    return f"image_prompts[{index}].image"


@dataclass
class PromptPlan:
    prompts: list[ImagePrompt]  # image bytes left empty: the dispatcher reads them from the input store
    control: ControlSettings
    uses: list[PromptUse]  # what the metadata records


def _ref(model: ModelFile | None) -> ModelRef | None:
    return None if model is None else ModelRef(name=model.name, path=model.path)


def _or_default(value: float | None, default: float) -> float:
    return value if value is not None and value > 0 else default  # Fooocus's 0 (unset slider): the type's own


def plan_prompts(used: GenerateRequest, inputs: dict[str, ResolvedImage], snapshot: CatalogSnapshot, warn,
                 runs: Callable[[str], bool] = lambda name: True,
                 base_architecture: str | None = None) -> PromptPlan | None:
    """The job's image prompts, None when it has none. NormalizeError names `image_prompts[i].<field>`."""
    asked = used.image_prompts or []
    prompts, uses = [], []
    without_negative = False
    for i, item in enumerate(asked):
        field = f"image_prompts[{i}]"
        kind = item.type
        if not runs(kernel_name(kind)):
            raise NormalizeError(f"{field}.type", f"{kind.value} is not run by the workers' kernel (it reports no "
                                                  f"{kernel_name(kind)!r} input)")
        if base_architecture not in (None, "sdxl", "unknown"):  # the header says another family
            raise NormalizeError(f"{field}.type", f"{kind.value} runs on SDXL checkpoints (its models are SDXL's) "
                                                  f"and this base's header says {base_architecture}")
        models = prompt_models(snapshot, kind)
        if models.missing:
            raise NormalizeError(f"{field}.type", f"{kind.value} needs files that are not installed: "
                                 + "; ".join(m.hint() for m in models.missing))
        image = inputs.get(image_field(i))
        if image is None:
            raise NormalizeError(f"{field}.image", "the image of this image prompt was not received")
        default_stop, default_weight = DEFAULT_STOP_WEIGHT[kind]
        stop, weight = _or_default(item.stop, default_stop), _or_default(item.weight, default_weight)
        without_negative |= models.image_encoder is not None and models.ip_negative is None
        prompts.append(ImagePrompt(
            type=kind, image=InputImage(data=b"", sha256=image.sha256, width=image.width, height=image.height),
            stop=stop, weight=weight, model=_ref(models.model), image_encoder=_ref(models.image_encoder),
            ip_negative=_ref(models.ip_negative)))
        uses.append(PromptUse(type=kind.value, stop=stop, weight=weight, image_sha256=image.sha256,
                              history_id=image.history_id))
    if not prompts:
        return None
    if without_negative:
        warn(f"{IP_NEGATIVE} is not installed: the IP-Adapter runs without Fooocus's negative image embedding")
    control = ControlSettings(
        softness=used.controlnet_softness, canny_low=used.canny_low_threshold, canny_high=used.canny_high_threshold,
        skip_preprocessor=used.skipping_cn_preprocessor, debug_preprocessor=used.debugging_cn_preprocessor)
    return PromptPlan(prompts=prompts, control=control, uses=uses)


def idle_knobs(plan: PromptPlan | None, overridden: list[str]) -> list[str]:
    """The knobs the client set that act on none of the job's prompt types."""
    types = {p.type for p in plan.prompts} if plan else set()
    return [knob for knob in overridden if not types & KNOB_TYPES[knob]]
