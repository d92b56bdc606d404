"""The kernel's UNet names in the original layout (what Fooocus's inpaint patch is keyed by) agree with
diffusers' own single-file converter on full-size SDXL and SD 1.5, for every parameter."""

from __future__ import annotations

import json
import os

import pytest
import torch

from inference_worker.diffusers_kernel.loading.unet_keys import ldm_names

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "catalog", "model_configs")


@pytest.mark.parametrize("arch", ["sdxl", "sd15"])
def test_original_names_are_the_ones_diffusers_converts_from(arch):
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import LDM_UNET_KEY, convert_ldm_unet_checkpoint

    with open(os.path.join(CONFIGS, arch, "unet", "config.json")) as f:
        config = json.load(f)
    with torch.device("meta"):  # names and shapes only: no 2.6 B weights
        unet = UNet2DConditionModel.from_config(config)
    names = [n for n, _ in unet.named_parameters()]
    ours = ldm_names(names, unet.config)
    assert len(ours) == len(names)
    # diffusers moves whatever each original name holds to its own name: let each hold its own name
    converted = convert_ldm_unet_checkpoint({LDM_UNET_KEY + ldm: ldm for ldm in ours}, unet.config)
    assert {diffusers: ldm for ldm, diffusers in ours.items()} == converted
