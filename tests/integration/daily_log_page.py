"""Reads a daily log page (outputs/YYYY-MM-DD/log.html) with the standard library's HTML parser: each
image entry's links and parameter table, and every tag the document holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class Entry:
    id: str
    images: list[str] = field(default_factory=list)  # <img src>
    links: list[str] = field(default_factory=list)  # <a href>
    fields: dict[str, str] = field(default_factory=dict)  # parameter label → value, as a browser shows it
    pre: list[str] = field(default_factory=list)


class LogPage(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.entries: list[Entry] = []
        self.title = ""
        self._in: str | None = None
        self._buf: list[str] = []
        self._label = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        entry = self.entries[-1] if self.entries else None
        if tag == "article":
            self.entries.append(Entry(id=found.get("id") or ""))
        elif tag == "img" and entry is not None:
            entry.images.append(found["src"] or "")
        elif tag == "a" and entry is not None:
            entry.links.append(found["href"] or "")
        elif tag in ("th", "td", "pre", "title"):
            self._in, self._buf = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag != self._in:
            return
        text = "".join(self._buf)
        if tag == "th":
            self._label = text
        elif tag == "td":
            self.entries[-1].fields[self._label] = text
        elif tag == "pre":
            self.entries[-1].pre.append(text)
        else:
            self.title = text
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buf.append(data)

    def meta(self, **match: str) -> dict[str, str | None] | None:
        for tag, attrs in self.tags:
            if tag == "meta" and all(attrs.get(k.replace("_", "-")) == v for k, v in match.items()):
                return attrs
        return None


def read_page(path: Path) -> LogPage | None:
    try:
        return LogPage(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def target_file(page_path: Path, link: str) -> Path:
    """The file a link of the page opens, as a browser resolves it against the page's own location."""
    parts = urlsplit(link)
    assert not parts.scheme and not parts.netloc and not parts.path.startswith("/"), f"not relative: {link}"
    return page_path.parent / unquote(parts.path)
