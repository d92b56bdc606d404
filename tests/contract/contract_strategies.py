"""Hypothesis strategies for msgspec types that honour their `Meta` constraints (ge/le/multiple_of/lengths).

`st.from_type` ignores `Annotated[..., msgspec.Meta(...)]`, so values it draws would fail msgspec's own
validation. These are built from `msgspec.inspect.type_info` instead; a constraint this module does not know
raises, so a new kind of constraint in the contract cannot slip by untested.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from contract.hires import HiresFix
from contract.image_input import Inpaint, Padding, Upscale
from contract.image_prompt import IP_ADAPTER_TYPES, ImagePrompt
from contract.prompt_schedule import MAX_SCHEDULE_STEP
from contract.request import ImageSource
from contract.task import GenerateTask

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
MAX_ITEMS = 4  # keep containers small: the point is shape coverage, not volume

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=MAX_ITEMS) | st.dictionaries(st.text(max_size=10), inner, max_size=MAX_ITEMS)
    ),
    max_leaves=10,
)


def _int(t: mi.IntType) -> st.SearchStrategy[int]:
    lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else INT64_MIN)
    hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**63 - 1)
    if t.multiple_of:
        step = t.multiple_of
        return st.integers(-(-lo // step), hi // step).map(lambda k: k * step)
    return st.integers(lo, hi)


def _float(t: mi.FloatType) -> st.SearchStrategy[float]:
    if t.multiple_of is not None:
        raise NotImplementedError("float multiple_of: teach contract_strategies about it")
    lo = t.ge if t.ge is not None else t.gt
    hi = t.le if t.le is not None else t.lt
    return st.floats(
        min_value=lo, max_value=hi, exclude_min=t.gt is not None, exclude_max=t.lt is not None,
        allow_nan=False, allow_infinity=False,
    )  # fmt: skip


def _sizes(t: Any) -> dict[str, int]:
    low = t.min_length or 0
    high = t.max_length if t.max_length is not None else low + MAX_ITEMS
    return {"min_size": low, "max_size": min(high, low + MAX_ITEMS)}


def _struct(t: mi.StructType) -> st.SearchStrategy[msgspec.Struct]:
    fields = {f.name: from_info(f.type) for f in t.fields}
    fixup = _FIXUPS.get(t.cls, lambda kw: kw)
    return st.fixed_dictionaries(fields).map(lambda kw: t.cls(**fixup(kw)))


def from_info(t: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.AnyType):
        return json_values
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return _int(t)
    if isinstance(t, mi.FloatType):
        return _float(t)
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            if t.min_length is not None or t.max_length is not None:
                raise NotImplementedError("str pattern with lengths: teach contract_strategies about it")
            return st.from_regex(t.pattern, fullmatch=True)
        return st.text(**_sizes(t))
    if isinstance(t, mi.BytesType):
        return st.binary(**_sizes(t))
    if isinstance(t, mi.EnumType):
        return st.sampled_from(list(t.cls))
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.ListType):
        return st.lists(from_info(t.item_type), **_sizes(t))
    if isinstance(t, mi.TupleType):
        return st.tuples(*(from_info(item) for item in t.item_types))
    if isinstance(t, mi.DictType):
        return st.dictionaries(from_info(t.key_type), from_info(t.value_type), **_sizes(t))
    if isinstance(t, mi.StructType):
        return _struct(t)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(from_info(item) for item in t.types))
    raise NotImplementedError(f"no strategy for {t!r}")


def for_type(tp: Any) -> st.SearchStrategy[Any]:
    return from_info(mi.type_info(tp))


def _inpaint(kw: dict[str, Any]) -> dict[str, Any]:
    # The mask has the image's size; the padded size stays a valid output size (64…8192).
    image = msgspec.structs.replace(kw["image"], width=max(kw["image"].width % 4096, 64),
                                    height=max(kw["image"].height % 4096, 64))
    pad = kw["padding"]
    kw["image"], kw["padding"] = image, Padding(left=pad.left % 1024, top=pad.top % 1024,
                                                right=pad.right % 1024, bottom=pad.bottom % 1024)
    if kw["mask"] is not None:
        kw["mask"] = msgspec.structs.replace(kw["mask"], width=image.width, height=image.height)
    elif not any(msgspec.structs.astuple(kw["padding"])):  # no mask: the padding is what is repainted
        kw["padding"] = Padding(left=8)
    if kw["a1111"] is not msgspec.UNSET:
        _a1111(kw)
    return kw


def _a1111(kw: dict[str, Any]) -> None:
    # A1111's steps need a mask and Fooocus's knobs neutral; the whole picture is sampled at the image's size.
    if kw["mask"] is None:
        kw["a1111"] = msgspec.UNSET
        return
    kw.update(respective_field=1.0, erode_or_dilate=0, disable_initial_latent=False, padding=Padding(), engine=None)
    if not kw["a1111"].only_masked:
        image = msgspec.structs.replace(kw["image"], width=kw["image"].width // 8 * 8,
                                        height=kw["image"].height // 8 * 8)
        kw["image"], kw["mask"] = image, msgspec.structs.replace(kw["mask"], width=image.width, height=image.height)
        kw["a1111"] = msgspec.structs.replace(kw["a1111"], width=image.width, height=image.height)


def _image_source(kw: dict[str, Any]) -> dict[str, Any]:
    if (kw["history_id"] is None) == (kw["upload_id"] is None):  # exactly one of the two
        kw["upload_id"] = None if kw["history_id"] is not None else "0" * 64
    return kw


def _generate_task(kw: dict[str, Any]) -> dict[str, Any]:
    # GenerateTask wants either no image metadata or one entry per seed.
    metadata = kw["image_metadata"]
    if metadata:
        kw["image_metadata"] = [metadata[i % len(metadata)] for i in range(len(kw["seeds"]))]
    variation = kw.get("variation")
    if variation is not msgspec.UNSET and variation is not None:  # one variation seed per seed
        kw["variation"] = msgspec.structs.replace(
            variation, seeds=[variation.seeds[i % len(variation.seeds)] for i in range(len(kw["seeds"]))])
    schedule = kw.get("prompt_schedule")
    if schedule is not msgspec.UNSET and schedule is not None:  # text to image on the base model, ascending
        hires = kw.get("hires")
        keeps_hires = hires is not msgspec.UNSET and hires is not None and hires.prompt_schedule is not msgspec.UNSET
        kw.update(image_input=msgspec.UNSET, image_prompts=msgspec.UNSET, refiner=None,
                  hires=hires if keeps_hires else msgspec.UNSET)
        entries = [msgspec.structs.replace(e, until_step=kw["steps"] + i)
                   for i, e in enumerate(schedule[: MAX_SCHEDULE_STEP - kw["steps"] + 1])]
        kw.update(prompt_schedule=entries, positive=entries[0].positive, negative=entries[0].negative)
    # Its size is the method's: text to image and Vary a Dimension, Inpaint the padded image's size.
    method = kw.get("image_input")
    if method is not msgspec.UNSET and method is not None:  # hires fix is text to image only
        kw["hires"] = msgspec.UNSET
    if isinstance(method, Inpaint):
        kw["width"], kw["height"] = method.output_size()
    elif not isinstance(method, Upscale):
        kw["width"], kw["height"] = (max(min(side, 4096) // 8 * 8, 64) for side in (kw["width"], kw["height"]))
    return kw


def _image_prompt(kw: dict[str, Any]) -> dict[str, Any]:
    # The IP-Adapter types need a CLIP-vision encoder; the control-model types take none.
    if kw["type"] in IP_ADAPTER_TYPES:
        kw["image_encoder"] = kw["image_encoder"] or kw["model"]
    else:
        kw["image_encoder"] = kw["ip_negative"] = None
    return kw


def _hires(kw: dict[str, Any]) -> dict[str, Any]:
    # The upscaled size covers the final one (the centred crop only removes).
    kw["upscaled_width"] = max(kw["upscaled_width"], kw["width"])
    kw["upscaled_height"] = max(kw["upscaled_height"], kw["height"])
    schedule = kw.get("prompt_schedule")
    if schedule is not msgspec.UNSET and schedule is not None:  # ascending, covering the pass's steps
        kw["prompt_schedule"] = [msgspec.structs.replace(e, until_step=kw["steps"] + i)
                                 for i, e in enumerate(schedule[: MAX_SCHEDULE_STEP - kw["steps"] + 1])]
    return kw


_FIXUPS = {GenerateTask: _generate_task, HiresFix: _hires, Inpaint: _inpaint, ImageSource: _image_source, ImagePrompt: _image_prompt}
