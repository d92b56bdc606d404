"""Prompt chunks → text-encoder conditioning, the way Fooocus builds it.

Each chunk is read for emphasis (`prompt_weighting`), split into words and tokenized; words are packed
into 75-token windows (a word shorter than `KEEP_WHOLE` tokens is never cut between two windows), and
every window becomes [start] + tokens + [end] + padding = 77 tokens, encoded separately. The windows of
all chunks are concatenated along the sequence.

Weights: a token of weight w becomes  empty + w · (encoded − empty), where `empty` is the encoding of an
empty prompt at the same position, so a weight scales the token's departure from "nothing said"; then
each 77-token window of a weighted chunk is multiplied by (its mean before weighting / its mean after),
per encoder, as Fooocus does. Pooled vectors are never weighted.
`clip_skip` picks the hidden layer counted from the end (2 = the penultimate, SDXL's standard); SD 1.5
applies the final layer norm to it. SDXL concatenates both encoders' features; its pooled vector is the
second encoder's pooled output of each chunk's first window, summed over the chunks (as Fooocus does).
`embedding:name` words insert a textual-inversion file's vectors in place of tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from contract.task import ModelRef
from inference_worker.diffusers_kernel.conditioning.embeddings import PREFIX, EmbeddingLibrary
from inference_worker.diffusers_kernel.conditioning.prompt_weighting import parse_weights

WINDOW = 75
KEEP_WHOLE = 8  # words of fewer tokens move to the next window whole instead of being cut


@dataclass
class Conditioning:
    embeds: torch.Tensor  # [1, 77·windows, features]
    pooled: torch.Tensor | None = None  # SDXL: [1, projection]


@dataclass
class PromptContext:
    """What encoding needs besides the text: the task's embedding files and the field being encoded."""

    embeddings: list[ModelRef] = field(default_factory=list)
    library: EmbeddingLibrary = field(default_factory=EmbeddingLibrary)


# A token is an id, or a vector (an embedding's) with the id that stands in for it in the sequence.
Token = int | torch.Tensor


@dataclass
class _Windows:
    ids: list[list[int]]
    weights: list[list[float]]
    vectors: dict[tuple[int, int], torch.Tensor]  # (window, position) → inserted vector

    @property
    def weighted(self) -> bool:
        return any(w != 1.0 for row in self.weights for w in row)


def _words(tokenizer, text: str, encoder_index: int, width: int, ctx: PromptContext, field_name: str):
    """[(tokens of one word, weight)] for a chunk, in order."""
    out: list[tuple[list[Token], float]] = []
    for piece, weight in parse_weights(text):
        words = piece.replace("\n", " ").split(" ")
        plain: list[str] = []
        for word in words:
            if not word:
                continue
            if word.startswith(PREFIX):
                embedding, leftover = ctx.library.resolve(word, ctx.embeddings, field_name)
                vectors = embedding.vectors(encoder_index, width, field_name)
                plain_tokens = _tokenize(tokenizer, plain)
                out += [(t, weight) for t in plain_tokens]
                plain = []
                out.append(([v for v in vectors], weight))
                if leftover:
                    plain.append(leftover)
            else:
                plain.append(word)
        out += [(t, weight) for t in _tokenize(tokenizer, plain)]
    return out


def _tokenize(tokenizer, words: list[str]) -> list[list[Token]]:
    if not words:
        return []
    ids = tokenizer(words, add_special_tokens=False, truncation=False).input_ids
    return [list(t) for t in ids if t]


def _pack(tokenizer, words: list[tuple[list[Token], float]]) -> _Windows:
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows: list[list[tuple[Token, float]]] = [[]]
    for tokens, weight in words:
        tokens = list(tokens)
        if len(rows[-1]) + len(tokens) > WINDOW and len(tokens) < KEEP_WHOLE and rows[-1]:
            rows.append([])
        while tokens:
            room = WINDOW - len(rows[-1])
            if room == 0:
                rows.append([])
                continue
            rows[-1] += [(t, weight) for t in tokens[:room]]
            tokens = tokens[room:]
    ids, weights, vectors = [], [], {}
    for w, row in enumerate(rows):
        line, line_w = [bos], [1.0]
        for pos, (token, weight) in enumerate(row, start=1):
            if isinstance(token, torch.Tensor):
                vectors[(w, pos)] = token
                line.append(bos)  # a stand-in id: never the end token, so pooling still finds the end
            else:
                line.append(int(token))
            line_w.append(weight)
        filler = WINDOW + 2 - len(line) - 1
        ids.append(line + [eos] + [pad] * filler)
        weights.append(line_w + [1.0] * (filler + 1))
    return _Windows(ids, weights, vectors)


def layer_count(encoder) -> int:
    return int(encoder.config.num_hidden_layers)


def _run(encoder, windows: _Windows, clip_skip: int, final_norm: bool, with_empty: list[int] | None):
    """(hidden [n, 77, d], pooled [n, p] or None); `with_empty` adds one more row at the end."""
    device = encoder.device
    rows = windows.ids + ([with_empty] if with_empty is not None else [])
    ids = torch.tensor(rows, dtype=torch.long, device=device)
    handle = None
    if windows.vectors:
        table = encoder.get_input_embeddings()

        def insert(_module, _inputs, output):
            output = output.clone()
            for (w, pos), vector in windows.vectors.items():
                output[w, pos] = vector.to(output.device, output.dtype)
            return output

        handle = table.register_forward_hook(insert)
    try:
        out = encoder(ids, output_hidden_states=True)
    finally:
        if handle is not None:
            handle.remove()
    hidden = out.hidden_states[-clip_skip]
    if final_norm:
        text_model = getattr(encoder, "text_model", encoder)
        hidden = text_model.final_layer_norm(hidden)
    pooled = getattr(out, "text_embeds", None)
    return hidden, pooled


def apply_weights(hidden: torch.Tensor, empty: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """hidden [windows, positions, d], empty [1, positions, d], weights [windows, positions] → weighted.

    Each window is then rescaled to its unweighted mean (Fooocus), so emphasis moves the weighted tokens
    relative to the rest instead of shifting the whole window."""
    w = weights.to(hidden.device, hidden.dtype).unsqueeze(-1)
    original_mean = hidden.mean(dim=(1, 2), keepdim=True)
    moved = torch.where(w != 1.0, empty + (hidden - empty) * w, hidden)
    return moved * (original_mean / moved.mean(dim=(1, 2), keepdim=True))


def _empty_row(tokenizer) -> list[int]:
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return [bos, eos] + [pad] * WINDOW


def _encode_chunk(
    tokenizer,
    encoder,
    text: str,
    index: int,
    clip_skip: int,
    final_norm: bool,
    ctx: PromptContext,
    field_name: str,
):
    width = int(encoder.config.hidden_size)
    windows = _pack(tokenizer, _words(tokenizer, text, index, width, ctx, field_name))
    weighted = windows.weighted
    hidden, pooled = _run(
        encoder, windows, clip_skip, final_norm, _empty_row(tokenizer) if weighted else None
    )
    hidden = hidden.float()
    if weighted:
        empty, hidden = hidden[-1:], hidden[:-1]
        pooled = pooled[:-1] if pooled is not None else None
        hidden = apply_weights(hidden, empty, torch.tensor(windows.weights, dtype=torch.float32))
    return hidden.reshape(1, -1, hidden.shape[-1]), (pooled[:1].float() if pooled is not None else None)


@torch.no_grad()
def encode(
    pipe,
    arch: str,
    chunks: list[str],
    clip_skip: int,
    ctx: PromptContext | None = None,
    field_name: str = "positive",
) -> Conditioning:
    ctx = ctx or PromptContext()
    chunks = chunks or [""]
    dtype = pipe.text_encoder.dtype
    parts, pooled = [], None
    for i, text in enumerate(chunks):
        where = f"{field_name}[{i}]"
        if arch == "sd15":
            h, _ = _encode_chunk(pipe.tokenizer, pipe.text_encoder, text, 0, clip_skip, True, ctx, where)
            parts.append(h)
            continue
        h1, _ = _encode_chunk(pipe.tokenizer, pipe.text_encoder, text, 0, clip_skip, False, ctx, where)
        h2, p2 = _encode_chunk(pipe.tokenizer_2, pipe.text_encoder_2, text, 1, clip_skip, False, ctx, where)
        if h1.shape[1] != h2.shape[1]:
            raise ValueError(f"{where}: the two tokenizers split the prompt into different window counts")
        parts.append(torch.cat([h1, h2], dim=-1))
        pooled = p2 if pooled is None else pooled + p2
    embeds = torch.cat(parts, dim=1).to(dtype)
    return Conditioning(embeds=embeds, pooled=pooled.to(dtype) if pooled is not None else None)
