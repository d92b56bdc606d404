"""Prompt emphasis, long prompts, chunks, CLIP skip and textual-inversion embeddings."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from contract.events import FailureKind
from contract.task import ModelRef
from inference_worker.diffusers_kernel.conditioning import prompts
from inference_worker.diffusers_kernel.conditioning.prompt_weighting import parse_weights
from inference_worker.kernel import KernelError
from inference_worker.model_paths import check_model_paths
from tests.inference_worker.diffusers_kernel.fidelity_models import (
    build_fidelity_files,
    pixels,
    task_builder,
)

# ----- the syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a (b:1.2) c", [("a ", 1.0), ("b", 1.2), (" c", 1.0)]),
        ("(b)", [("b", 1.1)]),
        ("((b:1.5)) c", [("b", 1.5), (" c", 1.0)]),  # an explicit weight replaces the enclosing one
        ("((b) c:0.5)", [("b", pytest.approx(0.55)), (" c", 0.5)]),
        ("\\(b\\) (c\\):2)", [("(b) ", 1.0), ("c)", 2.0)]),
        ("a) b (c", [("a) b (c", 1.0)]),  # unmatched brackets stay text
        ("(a:b)", [("a:b", pytest.approx(1.1))]),  # a tail that is no number is text
        ("(a:-0.5)", [("a", -0.5)]),
    ],
)
def test_weight_syntax(text, segments):
    assert parse_weights(text) == segments


def test_nested_emphasis_compounds():
    [(text, weight)] = parse_weights("(((b)))")
    assert text == "b" and weight == pytest.approx(1.1**3)


@given(st.text(alphabet=st.characters(blacklist_characters="()\\"), max_size=40))
def test_text_without_brackets_is_one_plain_segment(text):
    assert parse_weights(text) == ([(text, 1.0)] if text else [])


# ----- encoding ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipes(tiny_models):
    from inference_worker.model_builders.small_pipelines import build_pipeline

    torch.set_num_threads(int(os.environ.get("REMGO_TEST_THREADS", "1")))
    root = os.path.join(tiny_models.root, ".skeletons")
    return {
        "sdxl": build_pipeline(os.path.join(root, "sdxl"), 0),
        "sd15": build_pipeline(os.path.join(root, "sd15"), 1),
    }


def enc(pipe, chunks, arch="sdxl", clip_skip=2, embeddings=(), field="positive"):
    ctx = prompts.PromptContext(embeddings=list(embeddings))
    return prompts.encode(pipe, arch, chunks, clip_skip, ctx, field)


def token_positions(pipe, text: str, word: str) -> list[int]:
    ids = pipe.tokenizer(text, add_special_tokens=False).input_ids
    wanted = pipe.tokenizer(word, add_special_tokens=False).input_ids
    for start in range(len(ids)):
        if ids[start : start + len(wanted)] == wanted:
            return [1 + start + k for k in range(len(wanted))]  # +1: the start token
    raise AssertionError(word)


def test_weight_one_is_neutral(pipes):
    pipe = pipes["sdxl"]
    plain, weighted = enc(pipe, ["a lighthouse at dusk"]), enc(pipe, ["a (lighthouse:1.0) at dusk"])
    assert torch.equal(plain.embeds, weighted.embeds) and torch.equal(plain.pooled, weighted.pooled)


def test_weighting_a_hand_worked_window():
    # Worked by hand from Fooocus's method: token 1 (weight 2) moves from the empty encoding 1 to
    # 1 + 2·(2 − 1) = 3, token 2 (weight 0) falls onto it: [1, 2, 3] → [1, 3, 1], mean 2 → 5/3; the
    # window is then scaled by 2 / (5/3) = 6/5 → [1.2, 3.6, 1.2]. Window 2 has no weight and stays put.
    hidden = torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])
    empty = torch.ones(1, 3, 1)
    weights = torch.tensor([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    out = prompts.apply_weights(hidden, empty, weights)
    assert out[0, :, 0].tolist() == pytest.approx([1.2, 3.6, 1.2])
    assert torch.equal(out[1], hidden[1])


def _fooocus_weighting(plain, empty, where, weight):
    """Fooocus's documented weighting of one window of one encoder, in numpy float64 from the
    unweighted encodings: weighted tokens leave the empty prompt's encoding `weight` times as far, then
    the whole window is scaled back to the unweighted window's mean."""
    plain, empty = plain.double().numpy(), empty.double().numpy()
    moved = plain.copy()
    moved[where] = empty[where] + weight * (plain[where] - empty[where])
    return moved * (plain.mean() / moved.mean())


@pytest.fixture(scope="module")
def sd15_with_trained_norm(pipes):
    """The tiny SD 1.5 with a final layer norm that is not the identity, as a trained CLIP's is: with
    scale 1 and bias 0 every position comes out with mean 0, a window's mean is rounding noise and
    rescaling to it is meaningless."""
    import copy

    pipe = copy.deepcopy(pipes["sd15"])
    norm = getattr(pipe.text_encoder, "text_model", pipe.text_encoder).final_layer_norm
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        norm.weight.copy_(1.0 + torch.randn(norm.weight.shape, generator=gen) * 0.5)
        norm.bias.copy_(torch.randn(norm.bias.shape, generator=gen) * 0.5)
    return pipe


def encoder_slices(pipe, arch):
    if arch == "sd15":
        return [slice(None)]
    first = int(pipe.text_encoder.config.hidden_size)
    return [slice(0, first), slice(first, None)]


@pytest.mark.parametrize("arch", ["sdxl", "sd15"])
@pytest.mark.parametrize("weight", [1.5, 0.4])
def test_weight_moves_tokens_from_the_empty_prompt_and_keeps_each_encoders_window_mean(
    pipes, sd15_with_trained_norm, arch, weight
):
    pipe = pipes["sdxl"] if arch == "sdxl" else sd15_with_trained_norm
    plain = enc(pipe, ["a lighthouse at dusk"], arch).embeds[0]
    strong = enc(pipe, [f"a (lighthouse:{weight}) at dusk"], arch).embeds[0]
    empty = enc(pipe, [""], arch).embeds[0]
    where = token_positions(pipe, "a lighthouse at dusk", "lighthouse")
    for part in encoder_slices(pipe, arch):
        expected = _fooocus_weighting(plain[:, part], empty[:, part], where, weight)
        got = strong[:, part].double().numpy()
        assert np.allclose(got, expected, rtol=1e-4, atol=1e-5)
        # The rescale is per encoder: each encoder's window keeps its own unweighted mean.
        assert got.mean() == pytest.approx(float(plain[:, part].double().mean()), rel=1e-5, abs=1e-7)
        # Unweighted tokens are not left as they were: the whole window shares one factor.
        others = [i for i in range(77) if i not in where]
        ratio = got[others] / plain[others, part].double().numpy()
        assert not np.allclose(ratio, 1.0, atol=1e-4)


def test_weights_rescale_only_their_own_window_and_leave_pooled_alone(pipes):
    pipe = pipes["sdxl"]
    words = " ".join([f"w{i:03d}" for i in range(18)] + ["abc"])  # 18·4 + 3 = 75 tokens: window 1
    plain = enc(pipe, [f"{words} a lighthouse at dusk"])
    strong = enc(pipe, [f"{words} a (lighthouse:1.6) at dusk"])
    assert plain.embeds.shape[1] == strong.embeds.shape[1] == 2 * 77
    # The window without weights is untouched (up to batch-size rounding), the other one keeps its mean.
    assert torch.allclose(strong.embeds[:, :77], plain.embeds[:, :77], atol=1e-6)
    assert not torch.allclose(strong.embeds[:, 77:], plain.embeds[:, 77:], atol=1e-3)
    for part in encoder_slices(pipe, "sdxl"):
        assert float(strong.embeds[0, 77:, part].mean()) == pytest.approx(
            float(plain.embeds[0, 77:, part].mean()), rel=1e-5, abs=1e-7
        )
    assert torch.allclose(strong.pooled, plain.pooled, atol=1e-6)


def test_long_prompts_take_several_windows_and_keep_words_whole(pipes):
    pipe = pipes["sdxl"]
    words = [f"w{i:03d}" for i in range(30)]  # 4 tokens each: 120 tokens → 2 windows
    cond = enc(pipe, [" ".join(words)])
    assert cond.embeds.shape[1] == 2 * 77
    windows = prompts._pack(pipe.tokenizer, [(t, 1.0) for t in prompts._tokenize(pipe.tokenizer, words)])
    # 75 is not a multiple of 4: the 19th word moves to the next window whole instead of being cut.
    assert windows.ids[0][1 : 1 + 72] == [
        t for w in words[:18] for t in pipe.tokenizer(w, add_special_tokens=False).input_ids
    ]
    assert windows.ids[0][73] == pipe.tokenizer.eos_token_id
    first_only = enc(pipe, [" ".join(words[:18])])
    # Pooled comes from the first window (equal up to batch-size rounding).
    assert torch.allclose(cond.pooled, first_only.pooled, atol=1e-6)
    assert torch.allclose(cond.embeds[:, :77], first_only.embeds, atol=1e-6)


def test_chunks_concatenate_and_their_pooled_vectors_add_up(pipes):
    pipe = pipes["sdxl"]
    a, b = enc(pipe, ["a lighthouse"]), enc(pipe, ["oil painting"])
    both = enc(pipe, ["a lighthouse", "oil painting"])
    assert torch.equal(both.embeds, torch.cat([a.embeds, b.embeds], dim=1))
    assert torch.allclose(both.pooled, a.pooled + b.pooled)


def test_clip_skip_picks_the_layer(pipes):
    pipe = pipes["sd15"]
    ids = torch.tensor([prompts._empty_row(pipe.tokenizer)])
    hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states
    for skip in (1, 2):
        expected = pipe.text_encoder.final_layer_norm(hidden[-skip])
        assert torch.allclose(enc(pipe, [""], "sd15", clip_skip=skip).embeds, expected, atol=1e-6)


# ----- embeddings ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tiny_models):
    return build_fidelity_files(tiny_models)


def copy_of_word(pipe, word: str, folder: str) -> ModelRef:
    """An SDXL embedding file whose vectors are the token-table rows of `word`: it must encode like `word`."""
    from safetensors.torch import save_file

    rows = {}
    for key, tok, te in (
        ("clip_l", pipe.tokenizer, pipe.text_encoder),
        ("clip_g", pipe.tokenizer_2, pipe.text_encoder_2),
    ):
        ids = tok(word, add_special_tokens=False).input_ids
        rows[key] = te.get_input_embeddings().weight[ids].detach().clone()
    path = os.path.join(folder, f"copy-of-{word}.safetensors")
    save_file(rows, path)
    return ModelRef(name=f"sub/copy-of-{word}.safetensors", path=path)


def test_an_embedding_encodes_like_the_tokens_it_holds(pipes, tmp_path):
    pipe = pipes["sdxl"]
    ref = copy_of_word(pipe, "lighthouse", str(tmp_path))
    for plain, with_embedding in (
        ("a lighthouse at dusk", "a embedding:sub/copy-of-lighthouse at dusk"),
        ("a (lighthouse:1.3), dusk", "a (embedding:sub/copy-of-lighthouse.safetensors:1.3), dusk"),
        ("a lighthouse, dusk", "a embedding:sub/copy-of-lighthouse, dusk"),
    ):
        a, b = enc(pipe, [plain]), enc(pipe, [with_embedding], embeddings=[ref])
        assert torch.allclose(a.embeds, b.embeds, atol=1e-6) and torch.allclose(a.pooled, b.pooled, atol=1e-6)


def test_embedding_files_of_each_layout(pipes, files):
    sdxl = ModelRef(name="tiny-style.safetensors", path=files.embedding_sdxl)
    assert not torch.equal(
        enc(pipes["sdxl"], ["embedding:tiny-style"], embeddings=[sdxl]).embeds,
        enc(pipes["sdxl"], ["tiny-style"]).embeds,
    )
    for name, path in (
        ("tiny-sd15.safetensors", files.embedding_sd15),
        ("tiny-a1111.pt", files.embedding_pt),
    ):
        ref = ModelRef(name=name, path=path)
        stem = name.rsplit(".", 1)[0]
        assert enc(pipes["sd15"], [f"embedding:{stem}"], "sd15", embeddings=[ref]).embeds.shape == (1, 77, 32)


def test_embedding_refusals_name_the_chunk(pipes, files):
    with pytest.raises(KernelError) as exc:
        enc(pipes["sdxl"], ["fine", "x embedding:missing"], field="negative")
    assert exc.value.kind is FailureKind.bad_request and exc.value.field == "negative[1]"
    sd15_only = ModelRef(name="tiny-sd15.safetensors", path=files.embedding_sd15)
    with pytest.raises(KernelError) as exc:
        enc(pipes["sdxl"], ["embedding:tiny-sd15"], embeddings=[sd15_only])
    assert exc.value.kind is FailureKind.unsupported and "does not fit" in exc.value.message


def test_embedding_paths_obey_the_model_roots(tiny_models, files):
    make = task_builder(tiny_models)
    task = make(embeddings=[ModelRef(name="x", path="/elsewhere/x.safetensors")])
    with pytest.raises(KernelError) as exc:
        check_model_paths(task, (tiny_models.root,))
    assert exc.value.field == "embeddings[0].path"


# ----- through the kernel --------------------------------------------------------------------------


def test_weights_and_embeddings_change_the_image(kernel, tiny_models, files):
    make = task_builder(tiny_models)
    ref = pixels(kernel, make())
    assert pixels(kernel, make(positive=["a (lighthouse:1.0) at dusk"])) == ref
    assert pixels(kernel, make(positive=["a (lighthouse:1.6) at dusk"])) != ref
    assert pixels(kernel, make(negative=["(blurry:0.5)"])) != ref
    style = ModelRef(name="tiny-style.safetensors", path=files.embedding_sdxl)
    assert (
        pixels(kernel, make(positive=["a lighthouse at dusk embedding:tiny-style"], embeddings=[style]))
        != ref
    )
