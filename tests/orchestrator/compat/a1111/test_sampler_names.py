"""A1111's sampler and scheduler names, as A1111 reads them (its sd_samplers / sd_schedulers tables)."""

import pytest

from orchestrator.compat.a1111.sampler_names import NameRefused, resolve


@pytest.mark.parametrize(("sampler", "scheduler", "ours"), [
    ("Euler a", "automatic", ("euler_ancestral", "normal")),  # Automatic: the model's timesteps, evenly spaced
    ("Euler", "Karras", ("euler", "karras")),
    ("DPM++ 2M", None, ("dpmpp_2m", "karras")),  # A1111's DPM++ 2M defaults to Karras
    ("DPM++ 2M SDE", "Automatic", ("dpmpp_2m_sde_gpu", "exponential")),
    ("DPM++ 2M Karras", "automatic", ("dpmpp_2m", "karras")),  # the old combined names
    ("k_euler_a", "uniform", ("euler_ancestral", "normal")),
    ("DPM2", "sgm_uniform", ("dpm_2", "sgm_uniform")),
    ("DDIM", None, ("ddim", "a1111_ddim")),  # A1111's own timesteps: its DDIM reads no scheduler
    ("ddim", "Automatic", ("ddim", "a1111_ddim")),
    ("UniPC", None, ("uni_pc", "a1111_unipc")),  # A1111's own UniPC times, whatever the scheduler field says
    ("unipc", "Automatic", ("uni_pc", "a1111_unipc")),
    ("PLMS", None, ("plms", "a1111_ddim")),  # A1111's PLMS shares its DDIM's timesteps
])
def test_names(sampler, scheduler, ours) -> None:
    assert resolve(sampler, scheduler).ours == ours


@pytest.mark.parametrize(("sampler", "scheduler", "field"), [
    ("PLMS", "Karras", "scheduler"), ("DDIM CFG++", None, "sampler_name"), ("UniPC", "Karras", "scheduler"), ("DDIM", "Karras", "scheduler"),
    ("DDIM Karras", None, "scheduler"), ("DPM++ 3M SDE", None, "sampler_name"),
    ("Nope", None, "sampler_name"), ("Euler", "Beta", "scheduler"), ("Euler", "kl_optimal", "scheduler"),
])
def test_refused_names_the_field(sampler, scheduler, field) -> None:
    with pytest.raises(NameRefused) as refused:
        resolve(sampler, scheduler)
    assert refused.value.field == field


@pytest.mark.parametrize(("eta", "ours"), [
    (0.0, "ddim"),  # A1111's eta_ddim default: the deterministic step
    (1.0, "euler_ancestral"),  # webuiapi's default: DDIM's full noise, the ancestral step on the same levels
    (0.5, None), (2.0, None),
])
def test_ddims_eta_picks_the_sampler_or_none(eta, ours) -> None:
    assert resolve("DDIM", None).sampler.runs(eta) == ours
