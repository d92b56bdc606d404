"""Properties: any valid request normalizes without error, deterministically for a fixed seed, into valid tasks.

"Valid" is what the HTTP boundary accepts plus the catalog's names and the documented cross-field rules
(sizes in multiples of 8 within limits, overwrite_switch of 0.1 … 1 or off, a seed when seed_random is false).
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.a1111_timesteps import SAMPLER_SCHEDULE, SCHEDULE_SAMPLERS
from contract.request import GenerateRequest, MetadataScheme, Performance
from contract.task import MAX_SEED, GenerateTask, OutputFormat, RefinerSwapMethod
from orchestrator.catalog import Catalog, ModelKind
from orchestrator.catalog.styles import SPECIAL_STYLES
from orchestrator.catalog.tables import SDXL_SIZES
from orchestrator.normalize import normalize
from tests.orchestrator.catalog.catalog_samples import REPO_CATALOG, catalog_dir

# A module-level catalog: hypothesis does not mix with function-scoped fixtures.
_TMP = tempfile.TemporaryDirectory(prefix="remgo-props-")
CATALOG = Catalog(catalog_dir(Path(_TMP.name)))
SNAP = CATALOG.snapshot()
CHECKPOINTS = list(SNAP.models[ModelKind.checkpoints])
LORAS = list(SNAP.models[ModelKind.loras])
STYLES = [*SPECIAL_STYLES, *SNAP.style_names]
WORDS = st.sampled_from(["a cat", "castle", "__color__", "__creature__", "[[red,blue]]", "neon", ",", " ",
                         "<lora:film_grain_xl:0.5>", "\n", "sharp focus", "__nope__", "ünïcödé"])


def maybe(strategy):
    return st.one_of(st.none(), strategy)


def weight():
    return st.floats(min_value=-2, max_value=2, allow_nan=False)


def side():
    return st.integers(min_value=32, max_value=512).map(lambda v: v * 8)


lora_item = st.one_of(
    st.tuples(st.booleans(), st.sampled_from([*LORAS, "None"]), weight()),
    st.builds(lambda n, w, e: {"name": n, "weight": w, "enabled": e}, st.sampled_from(LORAS), weight(),
              st.booleans()),
)

requests = st.fixed_dictionaries({}, optional={
    "prompt": st.lists(WORDS, max_size=8).map(" ".join),
    "negative_prompt": st.lists(WORDS, max_size=4).map(" ".join),
    "style_selections": st.lists(st.sampled_from(STYLES), max_size=4),
    "performance_selection": st.sampled_from([p.value for p in Performance]),
    "aspect_ratios_selection": st.one_of(st.sampled_from([f"{w}*{h}" for w, h in SDXL_SIZES]),
                                         st.builds(lambda w, h: f"{w}×{h}", side(), side())),
    "image_number": st.integers(1, 6),
    "image_seed": st.integers(-1, MAX_SEED),
    "seed_random": st.booleans(),
    "image_sharpness": st.floats(0, 30),
    "guidance_scale": st.floats(1, 30),
    "base_model_name": st.sampled_from(CHECKPOINTS),
    "refiner_model_name": st.sampled_from([*CHECKPOINTS, "None"]),
    "refiner_switch": st.floats(0.1, 1),
    # AUTOMATIC1111's own timestep schedules pair with a few samplers only (test_normalize_own_timesteps.py)
    "sampler_name": st.sampled_from([s for s in CATALOG.samplers if s not in SAMPLER_SCHEDULE]),
    "scheduler_name": st.sampled_from([s for s in CATALOG.schedulers if s not in SCHEDULE_SAMPLERS]),
    "vae_name": st.sampled_from(["sdxl_vae.safetensors", "Default (model)"]),
    "output_format": st.sampled_from([f.value for f in OutputFormat]),
    "clip_skip": st.integers(1, 12),
    "loras": st.lists(lora_item, max_size=4),
    "adaptive_cfg": st.floats(1, 30),
    "adm_scaler_positive": st.floats(0.1, 3),
    "adm_scaler_negative": st.floats(0.1, 3),
    "adm_scaler_end": st.floats(0, 1),
    "refiner_swap_method": st.sampled_from([m.value for m in RefinerSwapMethod]),
    "freeu_enabled": st.booleans(),
    "freeu_b1": st.floats(0, 3),
    "overwrite_step": st.integers(-1, 200),
    "overwrite_switch": st.one_of(st.just(-1.0), st.floats(0.1, 1)),
    "overwrite_width": st.one_of(st.just(-1), side()),
    "overwrite_height": st.one_of(st.just(-1), side()),
    "disable_seed_increment": st.booleans(),
    "disable_preview": st.booleans(),
    "save_metadata_to_images": st.booleans(),
    "metadata_scheme": st.sampled_from([m.value for m in MetadataScheme]),
    "preset": st.sampled_from(sorted(SNAP.presets)),
    "read_wildcards_in_order": st.booleans(),
}).filter(lambda r: not (r.get("seed_random") is False and r.get("image_seed") in (None, -1)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=requests, rng_seed=st.integers(0, 2**32))
def test_valid_requests_always_normalize_deterministically(fields, rng_seed):
    request = msgspec.convert(fields, GenerateRequest)
    job = normalize(request, CATALOG, job_id="p", rng=random.Random(rng_seed))
    again = normalize(request, CATALOG, job_id="p", rng=random.Random(rng_seed))
    assert job == again
    assert len(job.images) == (request.image_number or len(job.images))
    assert [s for t in job.tasks for s in t.seeds] == [img.seed for img in job.images]
    for task in job.tasks:
        assert msgspec.json.decode(msgspec.json.encode(task), type=GenerateTask) == task
    # The effective request is a complete record: normalizing it again gives the same tasks.
    assert normalize(job.request, CATALOG, job_id="p", rng=random.Random(0)).tasks == job.tasks


def test_the_shipped_catalog_itself_is_the_one_tested():
    assert Path(SNAP.styles["Remgo Sharp"].source).name == "remgo_styles.json"
    assert (REPO_CATALOG / "styles" / "remgo_styles.json").is_file()
