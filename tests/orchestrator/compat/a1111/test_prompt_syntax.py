"""A1111's emphasis, translated for remgo, gives each word A1111's documented weight when remgo's own prompt
parser (the worker's, Fooocus's rules) reads it. Prompt editing and alternation give A1111's schedule of the
prompt: the table below is A1111's own documented examples (its prompt_parser doctests and wiki) and cases
worked out by hand from its rules; BREAK and AND are refused naming the field."""

import pytest

from inference_worker.diffusers_kernel.conditioning.prompt_weighting import parse_weights
from orchestrator.compat.a1111.prompt_syntax import PromptRefused, joint_schedule, prompt_schedule, to_remgo

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


@pytest.mark.parametrize("prompt", ["a cat BREAK a dog", "a cat AND a dog", "a [cat:dog BREAK:0.5]"])
def test_break_and_and_are_refused_naming_the_field(prompt: str) -> None:
    with pytest.raises(PromptRefused) as refused:
        to_remgo(prompt, "negative_prompt")
    assert refused.value.field == "negative_prompt"


SCHEDULES = [
    # A1111's doctests (prompt_parser.get_learned_conditioning_prompt_schedules, 10 steps)
    ("test", 10, [(10, "test")]),
    ("a [b:3]", 10, [(3, "a "), (10, "a b")]),
    ("a [b: 3]", 10, [(3, "a "), (10, "a b")]),
    ("a [[[b]]:2]", 10, [(2, "a "), (10, "a [[b]]")]),
    ("[(a:2):3]", 10, [(3, ""), (10, "(a:2)")]),
    ("a [b : c : 1] d", 10, [(1, "a b  d"), (10, "a  c  d")]),
    ("a[b:[c:d:2]:1]e", 10, [(1, "abe"), (2, "ace"), (10, "ade")]),
    ("a [unbalanced", 10, [(10, "a [unbalanced")]),
    ("a [b:.5] c", 10, [(5, "a  c"), (10, "a b c")]),
    ("((a][:b:c [d:3]", 10, [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
    ("[a|(b:1.1)]", 4, [(1, "a"), (2, "(b:1.1)"), (3, "a"), (4, "(b:1.1)")]),
    ("[fe|]male", 4, [(1, "female"), (2, "male"), (3, "female"), (4, "male")]),
    ("[fe|||]male", 5, [(1, "female"), (2, "male"), (3, "male"), (4, "male"), (5, "female")]),
    # worked out by hand: `when` with a decimal point × steps, int(), at most the steps; without, a step
    ("a [cat:dog:0.5]", 20, [(10, "a cat"), (20, "a dog")]),
    ("a [cat:dog:0.33]", 20, [(6, "a cat"), (20, "a dog")]),  # int(6.6)
    ("a [cat:dog:7]", 20, [(7, "a cat"), (20, "a dog")]),
    ("a [cat:dog:30]", 20, [(20, "a cat")]),  # past the end: never changes
    ("a [cat:dog:1.5]", 10, [(10, "a cat")]),  # 1.5 × 10 → at most 10
    ("a [cat:dog:0.01]", 20, [(20, "a dog")]),  # int(0.2) = 0: `to` from the first step
    ("a [dog:0.25] x", 8, [(2, "a  x"), (8, "a dog x")]),
    ("a [cat::0.5] x", 4, [(2, "a cat x"), (4, "a  x")]),
    ("[a|b]", 4, [(1, "a"), (2, "b"), (3, "a"), (4, "b")]),
    ("[a|b|c] [x:y:2]", 3, [(1, "a x"), (2, "b x"), (3, "c y")]),
    ("[[a|b]:c:2]", 3, [(1, "a"), (2, "b"), (3, "c")]),  # nested: the alternation runs until the edit
    (r"a \[cat:dog:0.5\]", 10, [(10, r"a \[cat:dog:0.5\]")]),  # escaped brackets: text
    (r"a [c\:at:dog:0.5]", 10, [(5, r"a c\:at"), (10, "a dog")]),  # an escaped colon inside a branch
    ("a | b [cat:dog:0.5]", 10, [(10, "a | b [cat:dog:0.5]")]),  # `|` outside brackets: not A1111's grammar
    ("([cat:dog:0.5])", 10, [(5, "(cat)"), (10, "(dog)")]),  # emphasis around an edit stays for later
]


@pytest.mark.parametrize(("prompt", "steps", "expected"), SCHEDULES)
def test_a1111_schedules(prompt: str, steps: int, expected: list) -> None:
    assert prompt_schedule(prompt, steps) == expected


def test_both_prompts_change_on_their_joint_steps() -> None:
    assert joint_schedule("a [cat:dog:0.5]", "[ugly::4]", 20) == [
        (4, "a cat", "ugly"), (10, "a cat", ""), (20, "a dog", "")]
    assert joint_schedule("a cat", "blurry", 20) == [(20, "a cat", "blurry")]
    assert joint_schedule("[a:a:3]", "", 5) == [(5, "a", "")]  # alike neighbours merged


def test_square_brackets_without_a_schedule_are_emphasis() -> None:
    assert weights(to_remgo("[a:b] c", "prompt"))["a:b"] == pytest.approx(1 / 1.1)
