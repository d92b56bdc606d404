"""Small random-weight control models for a base UNet, written the ways users have them.

`control_lora` gives the tensors of a Stability Control-LoRA file (original names, a `lora_controlnet`
marker, `up`/`down` factors on every ≥2-D weight of the encoder half, full tensors for the rest) together
with the whole ControlNet those tensors make on that UNet, computed here by the published rule (UNet weight
+ up·down). `original_layout` renames a ControlNet's weights to the original layout (a whole ControlNet
file as A1111/ComfyUI keep them).
"""

from __future__ import annotations

import torch

from inference_worker.diffusers_kernel.image_prompts.control import CONTROL_LORA_MARK, original_names

# The hint encoder's widths: three stride-2 convolutions bring the image to the latent's size, as in SDXL's.
SMALL_HINT_WIDTHS = (8, 8, 16, 16)


def _random_net(unet, seed: int):
    from diffusers import ControlNetModel

    torch.manual_seed(seed)
    net = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=SMALL_HINT_WIDTHS)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # zero convolutions start at zero in training: give them weights so residuals flow
        for name, param in net.named_parameters():
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding")):
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return net


def control_lora(unet, rank: int = 4, seed: int = 0) -> tuple[dict[str, torch.Tensor], object]:
    """(the Control-LoRA file's tensors, the ControlNetModel they make on `unet`)."""
    net = _random_net(unet, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    to_original = {v: k for k, v in original_names(net).items()}
    tensors: dict[str, torch.Tensor] = {CONTROL_LORA_MARK: torch.zeros(1)}
    state = {}
    for name, value in net.state_dict().items():
        original = to_original[name]
        if name.startswith("controlnet_"):
            tensors[original] = value.clone()
        elif value.ndim >= 2:
            up = torch.randn((value.shape[0], rank) + (1,) * (value.ndim - 2), generator=gen) * 0.05
            down = torch.randn((rank,) + tuple(value.shape[1:]), generator=gen) * 0.05
            stem = original[: -len(".weight")]
            tensors[f"{stem}.up"], tensors[f"{stem}.down"] = up, down
            value = value + (up.flatten(1) @ down.flatten(1)).reshape(value.shape)
        else:  # norms and biases are shipped whole, differing from the UNet's
            value = value + torch.randn(value.shape, generator=gen) * 0.01
            tensors[original] = value.clone()
        state[name] = value
    net.load_state_dict(state)
    return tensors, net


def random_controlnet(unet, seed: int = 0):
    """A whole ControlNetModel of the UNet's shape, every weight random-ish (encoder half: the UNet's)."""
    return _random_net(unet, seed)


def original_layout(net, prefix: str = "") -> dict[str, torch.Tensor]:
    names = {v: k for k, v in original_names(net).items()}
    return {prefix + names[k]: v.clone() for k, v in net.state_dict().items()}
