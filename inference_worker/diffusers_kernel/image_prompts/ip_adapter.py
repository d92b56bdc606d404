"""IP-Adapter files and the cross-attention that reads their image tokens.

A file (`ip-adapter-plus_sdxl_vit-h.bin`, `ip-adapter-plus-face_sdxl_vit-h.bin`, or the same weights as
`.safetensors` with `image_proj.` / `ip_adapter.` key prefixes) holds the image projection (`image_proj`:
the "plus" Resampler, or a plain linear projection) and one key/value pair per cross-attention layer
(`ip_adapter`: `1.to_k_ip.weight`, `1.to_v_ip.weight`, `3.…`, numbered over the UNet's attention layers in
diffusers' order). diffusers builds both (its `UNet2DConditionLoadersMixin` converters, the ones behind
`load_ip_adapter`); the `.bin` is read with `torch.load(weights_only=True)`, which runs no code.

`PromptAttention` is diffusers' `IPAdapterAttnProcessor2_0` — text attention plus, for each image prompt,
scale × attention over its image tokens — with the UNet's own processor used on every call where no
prompt acts, so a UNet with no prompt acting computes exactly what it computes without adapters.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch

from contract.events import FailureKind
from inference_worker.kernel import KernelError

_PARTS = ("image_proj", "ip_adapter")


def _bad(field: str, message: str) -> KernelError:
    return KernelError(FailureKind.bad_request, message, field)


def read_file(path: str, field: str) -> dict[str, dict[str, torch.Tensor]]:
    """{"image_proj": …, "ip_adapter": …} from a `.bin`/`.pt`/`.pth` or `.safetensors` IP-Adapter file."""
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise KernelError(FailureKind.unknown_model, f"IP-Adapter file not found: {path}", f"{field}.path")
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load_file

            flat = load_file(path, device="cpu")
            state: dict = {part: {} for part in _PARTS}
            for key, value in flat.items():
                part, _, rest = key.partition(".")
                if part in state:
                    state[part][rest] = value
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a refused global, a truncated or foreign file: all name the file
        raise _bad(field, f"{name} is not an IP-Adapter file remgo can read as weights only: "
                          f"{type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or any(not isinstance(state.get(p), dict) or not state[p] for p in _PARTS):
        raise _bad(field, f"{name} is not an IP-Adapter file: it needs image_proj and ip_adapter weights")
    return state


@dataclass
class AdapterWeights:
    """One IP-Adapter file, built for one UNet."""

    name: str
    plus: bool  # reads the encoder's penultimate hidden states (else its image embedding)
    encoder_width: int  # the width of the encoder features its projection takes
    projection: torch.nn.Module  # image features → image tokens
    layers: dict[str, tuple[torch.nn.Linear, torch.nn.Linear]]  # attn2 processor name → (to_k_ip, to_v_ip)


def build_adapter(state: dict, unet, name: str, field: str) -> AdapterWeights:
    proj, layers = state["image_proj"], state["ip_adapter"]
    plus, plain = "latents" in proj, "proj.weight" in proj
    if not (plus or plain):
        raise _bad(field, f"{name}: only the plain and \"plus\" IP-Adapter layouts are run (not the full-face "
                          "or FaceID ones, which need other image features)")
    first = layers.get("1.to_k_ip.weight")
    width = unet.config.cross_attention_dim
    if first is None or first.shape[1] != width:
        got = "no 1.to_k_ip.weight" if first is None else f"{first.shape[1]}-wide image tokens"
        raise _bad(field, f"{name} does not fit the base model: it has {got}; the UNet's cross-attention "
                          f"takes {width} (SDXL adapters need an SDXL base)")
    cross = [n for n in unet.attn_processors if not n.endswith("attn1.processor")]
    if len(layers) != 2 * len(cross):
        raise _bad(field, f"{name} has {len(layers) // 2} attention layers; the base UNet has {len(cross)}")
    try:
        procs = unet._convert_ip_adapter_attn_to_diffusers([state], low_cpu_mem_usage=False)
        projection = unet._convert_ip_adapter_image_proj_to_diffusers(proj, low_cpu_mem_usage=False)
    except (KeyError, RuntimeError) as exc:
        raise _bad(field, f"{name} does not fit the base UNet: {type(exc).__name__}: {exc}") from None
    device, dtype = unet.device, unet.dtype
    pairs = {
        n: (p.to_k_ip[0].to(device, dtype), p.to_v_ip[0].to(device, dtype))
        for n, p in procs.items() if hasattr(p, "to_k_ip")
    }  # fmt: skip
    encoder_width = int(proj["proj_in.weight"].shape[1] if plus else proj["proj.weight"].shape[1])
    return AdapterWeights(name, plus, encoder_width, projection.to(device, dtype).eval(), pairs)


@dataclass
class Acting:
    """What the prompts add on one UNet call: per prompt, its tokens for every batch row and its scale."""

    tokens: list[torch.Tensor]
    scales: list[float]


class Switch:
    """Shared by a UNet's `PromptAttention`s: the prompts acting on the current call, or None."""

    def __init__(self) -> None:
        self.acting: Acting | None = None


@functools.cache
def prompt_attention() -> type:
    """The `PromptAttention` class (built on first use: diffusers is imported lazily)."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    class PromptAttention(IPAdapterAttnProcessor2_0):
        def __init__(self, plain, pairs: list[tuple[torch.nn.Linear, torch.nn.Linear]], switch: Switch) -> None:
            k0 = pairs[0][0]
            super().__init__(hidden_size=k0.out_features, cross_attention_dim=k0.in_features, num_tokens=[],
                             scale=[])  # fmt: skip
            self.to_k_ip = torch.nn.ModuleList([k for k, _ in pairs])  # the adapters' own layers, not copies
            self.to_v_ip = torch.nn.ModuleList([v for _, v in pairs])
            self.plain, self.switch = plain, switch

        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                     **kwargs):  # fmt: skip
            acting = self.switch.acting
            if acting is None or encoder_hidden_states is None:
                return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
            self.scale = acting.scales
            self.num_tokens = [t.shape[1] for t in acting.tokens]
            return super().__call__(attn, hidden_states, (encoder_hidden_states, acting.tokens), attention_mask,
                                    temb)  # fmt: skip

    return PromptAttention


class Installed:
    """`PromptAttention` on every cross-attention layer of a UNet, one image prompt per adapter slot;
    `restore()` puts the UNet's own processors back."""

    def __init__(self, unet, adapters: list[AdapterWeights]) -> None:
        self.unet, self.switch = unet, Switch()
        self._saved = dict(unet.attn_processors)
        chosen, attention = dict(self._saved), prompt_attention()
        for name in adapters[0].layers:
            chosen[name] = attention(self._saved[name], [a.layers[name] for a in adapters], self.switch)
        unet.set_attn_processor(chosen)  # (it consumes the dict it is given)

    def restore(self) -> None:
        self.unet.set_attn_processor(dict(self._saved))
