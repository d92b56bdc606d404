"""What to tell a client whose sampler or scheduler the kernel does not run.

AUTOMATIC1111 names samplers by label and, before 1.9, folded the scheduler into it: `DPM++ 2M Karras`
is Fooocus's `dpmpp_2m` with the `karras` scheduler. This API takes Fooocus's names only; an A1111
name gets the pair to send instead (the labels are the ones the a1111 metadata scheme writes).
"""

from __future__ import annotations

from orchestrator.common.field_error import close_matches
from orchestrator.store.metadata.a1111 import SAMPLER_BY_LABEL

# A1111's scheduler suffixes → Fooocus's scheduler names.
SCHEDULER_SUFFIXES = {"karras": "karras", "exponential": "exponential", "sgm uniform": "sgm_uniform"}
_BY_LABEL = {label.casefold(): sampler for label, sampler in SAMPLER_BY_LABEL.items()}


def a1111_sampler(name: str) -> tuple[str, str | None] | None:
    """(Fooocus sampler, scheduler or None) for an A1111 sampler label, any case; None for other names."""
    label = " ".join(name.split()).casefold()
    if label in _BY_LABEL:
        return _BY_LABEL[label], None
    for suffix, scheduler in SCHEDULER_SUFFIXES.items():
        base = label.removesuffix(" " + suffix)
        if base != label and base in _BY_LABEL:
            return _BY_LABEL[base], scheduler
    return None


def not_offered(field: str, label: str, name: str, offered: list[str]) -> tuple[str, list[str]]:
    """(message, suggestions) for `name`, which is not among the kernel's `offered` names."""
    a1111 = a1111_sampler(name) if field == "sampler_name" else None
    if a1111 is None:
        return f"{label} {name!r} is not one the kernel runs", close_matches(name, offered)
    sampler, scheduler = a1111
    use = f'sampler_name "{sampler}"' + (f' with scheduler_name "{scheduler}"' if scheduler else "")
    message = (f"{name!r} is AUTOMATIC1111's name for a sampler, which remgo's A1111 face (/sdapi/v1) takes; "
               f"this API takes Fooocus's names: {use}")
    if sampler not in offered:
        return f"{message}, which this server's kernel does not run", close_matches(sampler, offered)
    return message, [sampler]
