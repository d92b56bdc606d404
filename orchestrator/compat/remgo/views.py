"""RemGo's HTTP shapes, translated from and to remgo's own: the /generate body, /settings, /history, /gpus.

RemGo's web frontend and scripts speak these shapes (field names and value formats are theirs); every
value here comes from the catalog, the normalizer's request, the History index or the worker pool, so the
compatibility routes stay a translation and never a second implementation.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Annotated, Any

import msgspec

from contract.request import GenerateRequest, MetadataScheme, Performance
from contract.task import OutputFormat, RefinerSwapMethod
from orchestrator.api.request_body import NESTED_TOO_DEEPLY, BodyError, validation_error
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.catalog.tables import MAX_IMAGE_NUMBER, SDXL_SIZES, aspect_label
from orchestrator.common.image_params import ImageParams
from orchestrator.common.query_params import Query, QueryError
from orchestrator.pool.handle import WorkerHandle, WorkerState
from orchestrator.store.history.query import HistoryQuery
from orchestrator.store.history.rows import HistoryItem
from orchestrator.store.metadata.fooocus import DEFAULT_VAE, log_fields

# RemGo's frontend sends this base model name for "whatever the preset or settings say".
DEFAULT_MODEL = "Default"
# LoRA rows the frontend offers (Fooocus's default_max_lora_number); a request may carry more.
LORA_SLOTS = 5
# RemGo's rule for one history page.
HISTORY_LIMIT_MAX = 30
# Images indexed in place outside outputs/ are addressed as `_history/<image id>/<file name>` under /images/.
HISTORY_PREFIX = "_history"
_CUDA = re.compile(r"^cuda:(\d+)$")


class RemgoGenerateRequest(GenerateRequest, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of RemGo's `POST /generate`: the v2 request plus the frontend's `controlnet_softness`."""

    # Fooocus applies it to image-prompt ControlNets only; remgo runs none, so it changes nothing.
    controlnet_softness: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None


_generate_decoder = msgspec.json.Decoder(RemgoGenerateRequest)


def decode_generate(body: bytes) -> tuple[GenerateRequest, list[str]]:
    """RemGo's body → (the v2 request, notes for the job's warnings). Raises BodyError naming the field."""
    if not body.strip():
        raise BodyError("$", "the body is empty; send RemGo's generate request as a JSON object")
    try:
        remgo = _generate_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, RemgoGenerateRequest, body) from None
    except msgspec.DecodeError as exc:
        raise BodyError("$", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError("$", f"not valid JSON: {NESTED_TOO_DEEPLY}") from None
    fields = {name: getattr(remgo, name) for name in GenerateRequest.__struct_fields__}
    if isinstance(remgo.base_model_name, str) and remgo.base_model_name.strip() == DEFAULT_MODEL:
        fields["base_model_name"] = None
    notes = []
    if remgo.controlnet_softness is not None:
        notes.append("controlnet_softness had no effect: it applies to image prompts (ControlNet), "
                     "which this server does not run")
    return GenerateRequest(**fields), notes


def _upper_bound(struct: type[msgspec.Struct], name: str) -> int:
    """The `le` bound of an optional integer field of a contract struct (kept in one place: the contract)."""
    field = next(f for f in msgspec.inspect.type_info(struct).fields if f.name == name)
    kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
    return next(t.le for t in kinds if isinstance(t, msgspec.inspect.IntType))


def settings_payload(catalog: Catalog) -> dict[str, Any]:
    """`GET /settings`: every list RemGo's frontend fills its controls with (each one must be present)."""
    snap = catalog.snapshot()
    return {
        "models": list(snap.models[ModelKind.checkpoints]),
        "loras": list(snap.models[ModelKind.loras]),
        "vaes": [DEFAULT_VAE, *snap.models[ModelKind.vae]],
        "aspect_ratios": [aspect_label(w, h) for w, h in SDXL_SIZES],
        "performance_options": [p.value for p in Performance],
        "styles": [s["name"] for s in catalog.styles_list()],
        "presets": list(snap.presets),
        "samplers": catalog.samplers,
        "schedulers": catalog.schedulers,
        "output_formats": [f.value for f in OutputFormat],
        "clip_skip_max": _upper_bound(GenerateRequest, "clip_skip"),
        "default_lora_count": LORA_SLOTS,
        "refiner_swap_methods": [m.value for m in RefinerSwapMethod],
        "metadata_schemes": [m.value for m in MetadataScheme],
        "max_image_number": min(MAX_IMAGE_NUMBER, _upper_bound(GenerateRequest, "image_number")),
    }


# ----- history ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffsetQuery(HistoryQuery):
    """A history page by position (RemGo pages by offset; the /v1 API by keyset cursor)."""

    offset: int = 0

    def sql(self) -> tuple[str, list[object]]:
        sql, args = super().sql()
        if not sql.endswith("LIMIT ?"):  # the base query's shape changed: fail loudly, never page wrongly
            raise RuntimeError("HistoryQuery.sql() no longer ends with `LIMIT ?`")
        return f"{sql} OFFSET ?", [*args, self.offset]


_PAGE_MAX = 2**53  # beyond any page; sqlite integers end at 2**63


class HistoryPageQuery(Query):
    """`GET /history`: `limit` is clamped to 1…30 (RemGo's rule), `page` (from 1) or `offset` (from 0)."""

    limit: Annotated[int, msgspec.Meta(description=f"images per page, clamped to 1…{HISTORY_LIMIT_MAX}")] | None = None
    page: Annotated[int, msgspec.Meta(ge=1, description="page number, from 1")] | None = None
    offset: Annotated[int, msgspec.Meta(ge=0, description="images to skip, from 0")] | None = None

    def check(self) -> None:
        if self.page is not None and self.offset is not None:
            raise QueryError("offset", "give page or offset, not both")
        for name in ("page", "offset"):
            if (getattr(self, name) or 0) > _PAGE_MAX:
                raise QueryError(name, f"is too large: {getattr(self, name)}")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @property
    def number(self) -> int:
        return self.offset // self.limit + 1


def history_page(query: HistoryPageQuery) -> Page:
    limit = HISTORY_LIMIT_MAX if query.limit is None else max(1, min(HISTORY_LIMIT_MAX, query.limit))
    offset = query.offset if query.offset is not None else ((query.page or 1) - 1) * limit
    return Page(limit=limit, offset=offset)


def history_metadata(item: HistoryItem) -> dict[str, Any] | None:
    """The keys Fooocus logs for the image; the embedded JSON as found for images remgo cannot fully read."""
    if item.params is not None:
        try:
            return log_fields(msgspec.convert(item.params, ImageParams))
        except msgspec.ValidationError:
            pass
    if item.raw_metadata and item.raw_metadata.lstrip().startswith("{"):
        try:
            found = json.loads(item.raw_metadata)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None
    return None


def history_entry(item: HistoryItem, in_outputs: bool) -> dict[str, Any]:
    """One `GET /history` item: `path` is what `GET /images/{path}` serves."""
    name = PurePosixPath(item.path).name
    path = item.path if in_outputs else f"{HISTORY_PREFIX}/{item.id}/{name}"
    created = datetime.strptime(item.created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    return {"filename": name, "path": path, "created": created, "metadata": history_metadata(item)}


def history_payload(entries: list[dict[str, Any]], total: int, page: Page) -> dict[str, Any]:
    return {"items": entries, "total": total, "limit": page.limit, "offset": page.offset, "page": page.number,
            "total_pages": math.ceil(total / page.limit)}


# ----- workers ----------------------------------------------------------------------------------


def gpus_payload(workers: list[WorkerHandle]) -> dict[str, Any]:
    """`GET /gpus`. `weight` is 1 for every worker: images go to whichever worker is free, one at a time,
    so a faster GPU takes a larger share by itself. `device` is the CUDA index, as RemGo numbers GPUs."""
    gpus = []
    for worker in workers:
        cuda = _CUDA.match(worker.device)
        gpus.append({"device": int(cuda.group(1)) if cuda else worker.device, "name": worker.name, "weight": 1,
                     "busy": worker.state is WorkerState.busy})
    return {"multi_gpu_enabled": len(workers) > 1, "gpu_count": len(workers), "gpus": gpus}
