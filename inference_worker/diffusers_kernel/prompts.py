"""Prompt chunks → text-encoder conditioning, the way Fooocus builds it.

Each chunk is tokenized on its own and cut into 75-token windows; every window becomes
[start] + tokens + [end] + padding (77 tokens) and is encoded separately; the windows of all chunks are
concatenated along the sequence. `clip_skip` picks the hidden layer counted from the end (2 = the
penultimate, SDXL's standard). SDXL concatenates both encoders' features and takes the pooled vector of
the second encoder's first window; SD 1.5 applies the final layer norm to the chosen layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

WINDOW = 75


@dataclass
class Conditioning:
    embeds: torch.Tensor  # [1, 77·windows, features]
    pooled: torch.Tensor | None = None  # SDXL: [1, projection]


def _windows(tokenizer, text: str) -> list[list[int]]:
    ids = tokenizer(text, add_special_tokens=False, truncation=False).input_ids
    pieces = [ids[i : i + WINDOW] for i in range(0, len(ids), WINDOW)] or [[]]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return [[bos, *p, eos] + [pad] * (WINDOW - len(p)) for p in pieces]


def layer_count(encoder) -> int:
    return int(encoder.config.num_hidden_layers)


def _encode(encoder, windows: list[list[int]], clip_skip: int, final_norm: bool):
    device = encoder.device
    ids = torch.tensor(windows, dtype=torch.long, device=device)
    out = encoder(ids, output_hidden_states=True)
    hidden = out.hidden_states[-clip_skip]
    if final_norm:
        text_model = getattr(encoder, "text_model", encoder)
        hidden = text_model.final_layer_norm(hidden)
    pooled = getattr(out, "text_embeds", None)
    return hidden, pooled


@torch.no_grad()
def encode(pipe, arch: str, chunks: list[str], clip_skip: int) -> Conditioning:
    chunks = chunks or [""]
    if arch == "sd15":
        parts = []
        for text in chunks:
            hidden, _ = _encode(pipe.text_encoder, _windows(pipe.tokenizer, text), clip_skip, final_norm=True)
            parts.append(hidden.reshape(1, -1, hidden.shape[-1]))
        return Conditioning(embeds=torch.cat(parts, dim=1))
    parts, pooled = [], None
    for text in chunks:
        h1, _ = _encode(pipe.text_encoder, _windows(pipe.tokenizer, text), clip_skip, final_norm=False)
        h2, p2 = _encode(pipe.text_encoder_2, _windows(pipe.tokenizer_2, text), clip_skip, final_norm=False)
        both = torch.cat([h1, h2.to(h1.dtype)], dim=-1)
        parts.append(both.reshape(1, -1, both.shape[-1]))
        if pooled is None:
            pooled = p2[:1]
    return Conditioning(embeds=torch.cat(parts, dim=1), pooled=pooled)
