"""Images beside the frame: a `generate` result's files as raw bytes after its JSON line, not base64 inside it.

Base64 makes a file a third larger, and parsing a multi-megabyte JSON string holds the reader's interpreter
for milliseconds per image. A client that asks for it with the `framing` method gets each image of a
`generate` response as an attachment: the response's frame lists the attachments' sizes (`"attachments":
[n, …]`) and exactly that many bytes follow its newline, in order, with nothing between them; each
`ImageResult` names its attachment and leaves `data` empty. A client that never asks gets base64 as before.
Pure functions: bytes in, bytes out.
"""

from __future__ import annotations

import msgspec

from contract.events import TaskResult

# The most bytes one frame's attachments may add up to: a reader refuses a frame that announces more.
ATTACHMENTS_LIMIT = 1 << 30


def detach_images(result: TaskResult) -> tuple[TaskResult, list[bytes]]:
    """The result with each image's file moved out into the returned attachments, in image order."""
    files = [image.data for image in result.images]
    images = [msgspec.structs.replace(image, data=b"", attachment=i) for i, image in enumerate(result.images)]
    return msgspec.structs.replace(result, images=images), files


def attach_images(result: TaskResult, attachments: list[bytes]) -> TaskResult:
    """The result with each image's file put back from `attachments`; ValueError when an image names an
    attachment the frame does not have, or two images name the same one."""
    seen: set[int] = set()
    images = []
    for image in result.images:
        if image.attachment is None:
            images.append(image)
            continue
        if not 0 <= image.attachment < len(attachments) or image.attachment in seen:
            raise ValueError(f"image {image.index} names attachment {image.attachment}, but the frame carries "
                             f"{len(attachments)} (or it is named twice)")
        seen.add(image.attachment)
        images.append(msgspec.structs.replace(image, data=attachments[image.attachment], attachment=None))
    return msgspec.structs.replace(result, images=images)


def sizes_problem(sizes: object) -> str | None:
    """Why a frame's `attachments` member cannot be read, or None: a list of byte counts, within the limit."""
    if not isinstance(sizes, list) or not all(type(n) is int and n >= 0 for n in sizes):
        return "attachments must be a list of byte counts"
    if sum(sizes) > ATTACHMENTS_LIMIT:
        return f"attachments add up to {sum(sizes)} bytes, over the limit of {ATTACHMENTS_LIMIT}"
    return None
