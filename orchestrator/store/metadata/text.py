"""The metadata text embedded in an image, in either scheme: written from ImageParams, read back into them.

`fooocus` (a JSON object, fooocus.py) and `a1111` (A1111's parameters text, a1111.py); the image's
`fooocus_scheme` entry names which one it is.
"""

from __future__ import annotations

from orchestrator.common.image_params import ImageParams
from orchestrator.store.metadata import a1111, fooocus

SCHEMES = ("fooocus", "a1111")


def embedded_text(params: ImageParams, scheme: str) -> dict[str, str]:
    """Key → text to embed in the image file (what GenerateTask.image_metadata carries for it)."""
    scheme = str(getattr(scheme, "value", scheme))
    if scheme == "fooocus":
        text = fooocus.fooocus_json(params)
    elif scheme == "a1111":
        text = a1111.render(params, fooocus.log_fields(params))
    else:
        raise ValueError(f"metadata_scheme: unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    return {"parameters": text, "fooocus_scheme": scheme}


def parse(text: str) -> ImageParams | None:
    """Embedded `parameters` text of either scheme → ImageParams; None when it is neither (or unreadable)."""
    if not isinstance(text, str) or not text.strip():
        return None
    stripped = text.strip()
    return fooocus.parse_json(stripped) if stripped.startswith("{") else a1111.parse(stripped)
