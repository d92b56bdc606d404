"""Read a .safetensors header (tensor names, shapes, metadata) without loading a byte of weights.

The parsing rules are the contract's (contract/checkpoint.py), shared with the orchestrator's catalog.
"""

from __future__ import annotations

from contract.checkpoint import CheckpointHeader, HeaderError, header_length, parse_header

__all__ = ["CheckpointHeader", "HeaderError", "read_header"]


def read_header(path: str) -> CheckpointHeader:
    try:
        with open(path, "rb") as fh:
            length = header_length(fh.read(8))
            return parse_header(fh.read(length), length)
    except HeaderError as exc:
        raise HeaderError(f"{path}: {exc}") from None
