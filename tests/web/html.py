"""Reading rendered pages in tests: find elements by their attributes instead of matching markup text."""

from __future__ import annotations

from html.parser import HTMLParser

Attrs = dict[str, str]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, Attrs]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value if value is not None else "" for name, value in attrs}))


def elements(html: str, tag: str, **match: str) -> list[Attrs]:
    """Start tags named ``tag`` whose attributes include ``match`` (``class_`` for class)."""
    collector = _Collector()
    collector.feed(html)
    wanted = {k.rstrip("_").replace("_", "-"): v for k, v in match.items()}
    return [attrs for name, attrs in collector.elements if name == tag and wanted.items() <= attrs.items()]


def element(html: str, tag: str, **match: str) -> Attrs:
    found = elements(html, tag, **match)
    assert len(found) == 1, f"expected one <{tag}> with {match}, found {len(found)}"
    return found[0]
