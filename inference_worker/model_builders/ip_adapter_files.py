"""Small random-weight IP-Adapter files, CLIP-vision encoders and `ip_negative` files, in the layouts users
have: the IP-Adapter release's `.bin` (`{"image_proj": Resampler or linear projection, "ip_adapter":
{"1.to_k_ip.weight", …}}`, the original names), a transformers `CLIPVisionModelWithProjection` as one
`.safetensors` (its small configuration in the metadata, since its shapes match no released encoder), and
Fooocus's `{"data": tokens}`. The weights come from the real classes (diffusers' image projections,
transformers' CLIP vision model) and are written back in the original names.
"""

from __future__ import annotations

import json
import os

import torch

from inference_worker.diffusers_kernel.image_prompts.image_encoder import CONFIG_KEY, INPUT_SIDE

_RESAMPLER_DEPTH = 4  # diffusers builds the "plus" projection four blocks deep


def clip_vision_file(path: str, seed: int = 0, width: int = 32, projection: int = 16) -> str:
    """A 2-layer CLIP vision encoder on 224² images (4 × 4 patches of 56)."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = dict(hidden_size=width, intermediate_size=width * 2, num_hidden_layers=2, num_attention_heads=2,
                  image_size=INPUT_SIDE, patch_size=56, projection_dim=projection, hidden_act="gelu")  # fmt: skip
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**config))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(state, path, metadata={CONFIG_KEY: json.dumps(config)})
    return path


def _plus_original_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' IPAdapterPlusImageProjection names → the IP-Adapter release's Resampler names."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "layers":
            out[key] = value
            continue
        i, rest = parts[1], ".".join(parts[2:])
        simple = {"ln0": "0.norm1", "ln1": "0.norm2", "attn.to_q": "0.to_q", "attn.to_out.0": "0.to_out",
                  "ff.0": "1.0", "ff.1.net.0.proj": "1.1", "ff.1.net.2": "1.3"}  # fmt: skip
        module, leaf = rest.rsplit(".", 1)
        if module in simple:
            out[f"layers.{i}.{simple[module]}.{leaf}"] = value
        elif module == "attn.to_k":  # the release keeps key and value in one matrix
            out[f"layers.{i}.0.to_kv.{leaf}"] = torch.cat([value, state[key.replace("to_k", "to_v")]])
        elif module != "attn.to_v":
            raise ValueError(f"unexpected projection weight {key}")
    return out


def ip_adapter_file(path: str, unet, encoder_width: int, *, plus: bool = True, tokens: int = 4,
                    seed: int = 0, scale: float = 0.3) -> str:  # fmt: skip
    """An IP-Adapter for `unet`: a "plus" Resampler reading `encoder_width`-wide hidden states (`tokens`
    queries), or a plain projection of an `encoder_width`-wide image embedding into 4 tokens."""
    from diffusers.models.embeddings import ImageProjection, IPAdapterPlusImageProjection

    torch.manual_seed(seed)
    width = unet.config.cross_attention_dim
    if plus:
        projection = IPAdapterPlusImageProjection(embed_dims=encoder_width, output_dims=width, hidden_dims=64,
                                                  heads=1, num_queries=tokens, depth=_RESAMPLER_DEPTH)  # fmt: skip
        image_proj = _plus_original_names(projection.state_dict())
    else:
        projection = ImageProjection(image_embed_dim=encoder_width, cross_attention_dim=width, num_image_text_embeds=4)
        image_proj = {k.replace("image_embeds", "proj"): v for k, v in projection.state_dict().items()}
    layers, key_id = {}, 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        attn = unet.get_submodule(name[: -len(".processor")])
        inner = attn.to_k.out_features
        layers[f"{key_id}.to_k_ip.weight"] = torch.randn(inner, width) * scale
        layers[f"{key_id}.to_v_ip.weight"] = torch.randn(inner, width) * scale
        key_id += 2
    os.makedirs(os.path.dirname(path), exist_ok=True)
    state = {"image_proj": {k: v.contiguous() for k, v in image_proj.items()}, "ip_adapter": layers}
    if path.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({f"{part}.{k}": v for part, d in state.items() for k, v in d.items()}, path)
    else:
        torch.save(state, path)
    return path


def ip_negative_file(path: str, tokens: int, width: int, seed: int = 0) -> str:
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({"data": torch.randn(1, tokens, width, generator=gen)}, path)
    return path
