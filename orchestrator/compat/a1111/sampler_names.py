"""AUTOMATIC1111's sampler and scheduler names → the sampler and schedule remgo runs.

Only pairs whose sampling is the same algorithm on the same noise levels are listed. A1111's k-diffusion
samplers are the functions Fooocus (and so remgo) runs; its `Automatic` scheduler is the sampler's own
default (Karras for DPM++ 2M, DPM++ SDE, DPM++ 2S a, DPM2, DPM2 a; Exponential for DPM++ 2M SDE; otherwise
the model's timesteps spaced evenly, which is remgo's `normal`). DDIM runs on A1111's own timestep spacing,
remgo's `a1111_ddim` schedule, whatever the scheduler (A1111 reads none for it): only Automatic is taken, and
eta 0 (A1111's `eta_ddim` default, remgo's `ddim`) or 1 (webuiapi's default, remgo's `euler_ancestral`: DDIM's
noise at eta 1 is the ancestral step's on the same two levels). PLMS runs on the same timesteps (remgo's `plms`,
which takes no eta). UniPC runs on A1111's UniPC times, remgo's
`a1111_unipc` schedule, with A1111's default UniPC options (variant bh1, order 3, lower order at the end),
which are remgo's uni_pc. Every request of this face conditions the UNet on each level's fractional timestep
(`unet_timestep: interpolated`), as A1111 does with its quantization option off. Left out, so refused by name:
- DDIM CFG++: A1111's own variant of DDIM;
- DPM++ 3M SDE: A1111 drops the next-to-last noise level, remgo does not; DPM++ 2M SDE Heun: no Heun
  solver type here; Restart: a different restart schedule;
- the Polyexponential, KL Optimal, Beta, DDIM and Align Your Steps schedules: remgo has no such schedule
  (or, for the last two, spaces the levels differently).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.common.field_error import FieldError

AUTOMATIC = "automatic"


@dataclass(frozen=True)
class A1111Sampler:
    name: str  # A1111's label
    ours: str  # remgo's sampler
    aliases: tuple[str, ...]
    default_scheduler: str  # A1111 scheduler name `Automatic` stands for
    # The eta our sampler runs; None when the sampler takes no eta (A1111 then ignores the field too).
    eta: float | None = None
    eta_option: float = 1.0  # what A1111 reads when `eta` is null: its `eta_ancestral`, or `eta_ddim` (0)
    timesteps: str | None = None  # the remgo schedule of A1111's own timestep spacing, whatever the scheduler
    # Other etas the sampler runs with here, each with the remgo sampler that runs it (`ours` runs `eta`).
    other_etas: tuple[tuple[float, str], ...] = ()

    def runs(self, eta: float) -> str | None:
        """The remgo sampler that runs this sampler at `eta`; None when no sampler here does."""
        if eta == self.eta:
            return self.ours
        return dict(self.other_etas).get(eta)


@dataclass(frozen=True)
class A1111Scheduler:
    name: str
    label: str
    ours: str | None  # None: Automatic (the sampler's default)
    aliases: tuple[str, ...] = ()
    default_rho: float | None = None
    need_inner_model: bool | None = None


SAMPLERS: tuple[A1111Sampler, ...] = (
    A1111Sampler("DPM++ 2M", "dpmpp_2m", ("k_dpmpp_2m",), "karras"),
    A1111Sampler("DPM++ SDE", "dpmpp_sde_gpu", ("k_dpmpp_sde",), "karras", eta=1.0),
    A1111Sampler("DPM++ 2M SDE", "dpmpp_2m_sde_gpu", ("k_dpmpp_2m_sde",), "exponential", eta=1.0),
    A1111Sampler("DPM++ 2S a", "dpmpp_2s_ancestral", ("k_dpmpp_2s_a",), "karras", eta=1.0),
    A1111Sampler("Euler a", "euler_ancestral", ("k_euler_a", "k_euler_ancestral"), "uniform", eta=1.0),
    A1111Sampler("Euler", "euler", ("k_euler",), "uniform"),
    A1111Sampler("LMS", "lms", ("k_lms",), "uniform"),
    A1111Sampler("Heun", "heun", ("k_heun",), "uniform"),
    A1111Sampler("DPM2", "dpm_2", ("k_dpm_2",), "karras"),
    A1111Sampler("DPM2 a", "dpm_2_ancestral", ("k_dpm_2_a",), "karras", eta=1.0),
    # k-diffusion's default eta for these two is 0, the value Fooocus calls them with.
    A1111Sampler("DPM fast", "dpm_fast", ("k_dpm_fast",), "uniform", eta=0.0),
    A1111Sampler("DPM adaptive", "dpm_adaptive", ("k_dpm_ad",), "uniform", eta=0.0),
    A1111Sampler("LCM", "lcm", ("k_lcm",), "uniform"),
    A1111Sampler("DDIM", "ddim", ("ddim",), "uniform", eta=0.0, eta_option=0.0, timesteps="a1111_ddim",
                 other_etas=((1.0, "euler_ancestral"),)),
    A1111Sampler("PLMS", "plms", ("plms",), "uniform", timesteps="a1111_ddim"),
    A1111Sampler("UniPC", "uni_pc", ("unipc",), "uniform", timesteps="a1111_unipc"),
)

SCHEDULERS: tuple[A1111Scheduler, ...] = (
    A1111Scheduler(AUTOMATIC, "Automatic", None),
    A1111Scheduler("uniform", "Uniform", "normal", need_inner_model=True),
    A1111Scheduler("karras", "Karras", "karras", default_rho=7.0),
    A1111Scheduler("exponential", "Exponential", "exponential"),
    A1111Scheduler("sgm_uniform", "SGM Uniform", "sgm_uniform", aliases=("SGMUniform",), need_inner_model=True),
    A1111Scheduler("simple", "Simple", "simple", need_inner_model=True),
    A1111Scheduler("normal", "Normal", "normal", need_inner_model=True),
)

REFUSED_SAMPLERS = {
    "DDIM CFG++": "A1111's DDIM CFG++ is not run here",
    "DPM++ 3M SDE": "A1111 drops the next-to-last noise level for it and remgo's DPM++ 3M SDE does not",
    "DPM++ 2M SDE Heun": "the Heun solver type of DPM++ 2M SDE is not run here",
    "Restart": "A1111's Restart sampler uses another restart schedule than remgo's",
}
REFUSED_SCHEDULERS = {
    "polyexponential": "no polyexponential schedule here",
    "kl_optimal": "no KL Optimal schedule here",
    "beta": "no Beta schedule here",
    "ddim": "remgo's ddim_uniform spaces its levels differently from A1111's DDIM schedule",
    "align_your_steps": "remgo interpolates Align Your Steps' levels differently from A1111",
}


def _key(text: str) -> str:
    return text.strip().lower()


_SAMPLER_BY_KEY = {_key(n): s for s in SAMPLERS for n in (s.name, *s.aliases)}
_SCHEDULER_BY_KEY = {_key(n): s for s in SCHEDULERS for n in (s.name, s.label, *s.aliases)}
_SCHEDULER_LABELS = {s.label: s for s in SCHEDULERS if s.ours is not None}
_REFUSED_LABELS = {"polyexponential": "Polyexponential", "kl_optimal": "KL Optimal", "beta": "Beta", "ddim": "DDIM",
                   "align_your_steps": "Align Your Steps"}
_REFUSED_SCHEDULER_BY_KEY = {_key(k): reason for name, reason in REFUSED_SCHEDULERS.items()
                             for k in (name, _REFUSED_LABELS[name])}


class NameRefused(FieldError):
    pass


@dataclass(frozen=True)
class Sampling:
    sampler: A1111Sampler
    scheduler: A1111Scheduler  # Automatic only for a sampler on its own timesteps; else the sampler's default
    eta: float | None = None  # the eta it runs at, once the request's is known; None: the sampler's own `eta`

    @property
    def ours(self) -> tuple[str, str]:
        schedule = self.sampler.timesteps or self.scheduler.ours
        assert schedule is not None
        sampler = self.sampler.ours if self.eta is None else self.sampler.runs(self.eta)
        assert sampler is not None
        return sampler, schedule


def find_scheduler(name: str | None, field: str) -> A1111Scheduler:
    if name is None or not name.strip():
        return SCHEDULERS[0]
    found = _SCHEDULER_BY_KEY.get(_key(name))
    if found is not None:
        return found
    refused = _REFUSED_SCHEDULER_BY_KEY.get(_key(name))
    if refused:
        raise NameRefused(field, f"{name!r}: {refused}")
    raise NameRefused(field, f"{name!r} is not a scheduler here; one of "
                             f"{', '.join(s.label for s in SCHEDULERS)}")


def resolve(sampler_name: str | None, scheduler_name: str | None, *, field: str = "sampler_name",
            scheduler_field: str = "scheduler") -> Sampling:
    """A1111's sampler (its label, an alias, or an old `<label> <Scheduler label>` name such as
    `DPM++ 2M Karras`) and scheduler → what runs. A scheduler named in the sampler's name wins over the
    scheduler field, as A1111 reads such names."""
    name = (sampler_name or "Euler").strip()
    scheduler = find_scheduler(scheduler_name, scheduler_field)
    sampler = _SAMPLER_BY_KEY.get(_key(name))
    if sampler is None:
        for label, suffixed in _SCHEDULER_LABELS.items():
            if name.endswith(" " + label) and (found := _SAMPLER_BY_KEY.get(_key(name[: -len(label) - 1]))):
                sampler, scheduler = found, suffixed
                break
    if sampler is None:
        if name in REFUSED_SAMPLERS:
            raise NameRefused(field, f"{name!r}: {REFUSED_SAMPLERS[name]}")
        raise NameRefused(field, f"{name!r} is not a sampler here; one of {', '.join(s.name for s in SAMPLERS)}")
    if sampler.timesteps is not None:
        if scheduler.ours is not None:
            raise NameRefused(scheduler_field, f"{sampler.name} runs on A1111's own timestep spacing, not on "
                                               f"{scheduler.label!r}; send Automatic (or null)")
        return Sampling(sampler=sampler, scheduler=scheduler)
    if scheduler.ours is None:
        scheduler = _SCHEDULER_BY_KEY[sampler.default_scheduler]
    return Sampling(sampler=sampler, scheduler=scheduler)


def samplers_payload(runs: set[str], schedules: set[str]) -> list[dict]:
    """`GET /sdapi/v1/samplers`: the samplers the workers' kernel runs (on their own timesteps, where A1111
    has them), in A1111's item shape."""
    return [{"name": s.name, "aliases": list(s.aliases), "options": _options(s)} for s in SAMPLERS
            if s.ours in runs and (s.timesteps is None or s.timesteps in schedules)]


def _options(sampler: A1111Sampler) -> dict[str, str]:
    return {"scheduler": sampler.default_scheduler} if sampler.default_scheduler != "uniform" else {}


def schedulers_payload(runs: set[str]) -> list[dict]:
    return [{"name": s.name, "label": s.label, "aliases": list(s.aliases) or None, "default_rho": s.default_rho,
             "need_inner_model": s.need_inner_model} for s in SCHEDULERS if s.ours is None or s.ours in runs]
