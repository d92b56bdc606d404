"""A1111's emphasis, translated for remgo, gives each word A1111's documented weight when remgo's own prompt
parser (the worker's, Fooocus's rules) reads it; what needs a per-step schedule is refused naming the field."""

import pytest

from inference_worker.diffusers_kernel.conditioning.prompt_weighting import parse_weights
from orchestrator.compat.a1111.prompt_syntax import PromptRefused, to_remgo

# A1111's wiki ("Attention/emphasis"): (w) ×1.1, ((w)) ×1.21, [w] ÷1.1, (w:1.5) ×1.5, (w:0.25) ×0.25, \( literal;
# nested explicit weights multiply: ((w:1.5)) = 1.5 × 1.1.
CASES = [
    ("a (word) b", {"word": 1.1}),
    ("a ((word)) b", {"word": 1.21}),
    ("a [word] b", {"word": 1 / 1.1}),
    ("a [[word]] b", {"word": 1 / 1.21}),
    ("a (word:1.5) b", {"word": 1.5}),
    ("a (word:0.25) b", {"word": 0.25}),
    ("a ((word:1.5)) b", {"word": 1.65}),
    ("([word])", {"word": 1.0}),
    ("a (unclosed word", {"unclosed word": 1.1}),
]


def weights(remgo_prompt: str) -> dict[str, float]:
    return {text.strip(): w for text, w in parse_weights(remgo_prompt) if text.strip()}


@pytest.mark.parametrize(("prompt", "expected"), CASES)
def test_remgo_reads_a1111_weights(prompt: str, expected: dict[str, float]) -> None:
    got = weights(to_remgo(prompt, "prompt"))
    for word, weight in expected.items():
        assert got[word] == pytest.approx(weight, rel=1e-12)
    assert all(w == 1.0 for text, w in got.items() if text not in expected)


def test_literal_brackets_stay_text() -> None:
    assert parse_weights(to_remgo(r"a \(b\) \[c\]", "prompt")) == [("a (b) [c]", 1.0)]


def test_newlines_do_not_split_the_prompt_into_chunks() -> None:
    assert to_remgo("a cat\non a mat", "prompt") == "a cat on a mat"


@pytest.mark.parametrize("prompt", ["a [cat:dog:0.5] x", "a [dog:10] x", "a [cat::0.3] x", "a [cat|dog] x", "([word:1.5])",
                                    "a cat BREAK a dog", "a cat AND a dog"])
def test_schedules_break_and_are_refused_naming_the_field(prompt: str) -> None:
    with pytest.raises(PromptRefused) as refused:
        to_remgo(prompt, "negative_prompt")
    assert refused.value.field == "negative_prompt"


def test_square_brackets_without_a_schedule_are_emphasis() -> None:
    assert weights(to_remgo("[a:b] c", "prompt"))["a:b"] == pytest.approx(1 / 1.1)
