"""What the tests of the pages the gateway serves (GraphiQL, the HR console) share: the tags
a page loads and its Content-Security-Policy's directives."""

from __future__ import annotations

from html.parser import HTMLParser


class Tags(HTMLParser):
    """The page's scripts (their attributes and any inline text), stylesheet links and inline
    styles."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.stylesheets: list[dict[str, str | None]] = []
        self.inline_styles = 0
        # The text inside script tags, each with the type of its script.
        self.script_texts: list[tuple[str | None, str]] = []
        self._script_type: str | None = None
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
            self._script_type = attributes.get("type")
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes)
        elif tag == "style" or "style" in attributes:
            self.inline_styles += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_texts.append((self._script_type, data))

    @property
    def data_blocks(self) -> list[str]:
        """The text of the JSON data scripts (``type="application/json"``)."""
        return [text for type_, text in self.script_texts if type_ == "application/json"]

    @property
    def inline_script(self) -> str:
        """All text inside script tags, white space around each piece dropped."""
        return "".join(text.strip() for _, text in self.script_texts)


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy's directives: the sources by directive name."""
    return {name: sources for name, *sources in (part.split() for part in policy.split(";"))}
