"""Texts people read, in their language: gettext catalogues read with Babel.

The English source texts are written in code, each marked as a :class:`Translatable`
with a context that says what it is (``alert:LATE_REGISTRATION``, ``error:GONE``). The
translations live in ``locale/<locale>/LC_MESSAGES/salesguard.po``, one per language,
maintained with the usual gettext tools (``make translations``: ``pybabel extract`` and
``pybabel update``). A language is one more ``.po`` file, no code.

The ``.po`` files are compiled in memory when a language is first asked for, so no
compiled ``.mo`` can be stale. The API names a language by its code ('en', 'zh'):
the catalogue of ``zh_CN`` serves 'zh'.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.core import negotiate_locale, parse_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "salesguard"
# The language of the source texts, and of callers who ask for none we have.
SOURCE_LANGUAGE = "en"


@dataclass(frozen=True)
class Translatable:
    """A source text to translate, and its context (which text it is, for translators).

    ``pybabel extract -k Translatable:1c,2`` finds every one: write the arguments as
    string literals."""

    context: str
    source: str

    def in_language(self, language: str) -> str:
        """The text in ``language`` (an API language code); the source text where the
        catalogue lacks it."""
        return translations(language).pgettext(self.context, self.source)


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def catalogue_locales() -> dict[str, str]:
    """API language code → the locale of its catalogue ('zh' → 'zh_CN')."""
    locales = sorted(
        path.name for path in LOCALE_DIR.iterdir() if catalogue_path(path.name).is_file()
    )
    return {parse_locale(locale)[0]: locale for locale in locales}


LANGUAGES = tuple(sorted(catalogue_locales()))


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language``; no translations (source texts) for a
    language without one."""
    locale = catalogue_locales().get(language)
    if locale is None:
        return gettext.NullTranslations()
    with catalogue_path(locale).open("rb") as po:
        catalogue = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    # Fuzzy entries are guesses awaiting a translator: not shown, as msgfmt would not.
    write_mo(compiled, catalogue, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def negotiate_language(accept_language: str | None) -> str:
    """The language to answer in, from an ``Accept-Language`` header: the caller's most
    preferred one that has a catalogue (Babel matches 'zh-TW' or 'zh-Hans-CN' to 'zh',
    'en-GB' to 'en'); the source language for ``*``, for none and for no match."""
    preferred = [
        SOURCE_LANGUAGE if tag == "*" else tag.lower().replace("_", "-")
        for tag in ranked_tags(accept_language or "")
    ]
    return negotiate_locale(preferred, LANGUAGES, sep="-") or SOURCE_LANGUAGE


def ranked_tags(accept_language: str) -> list[str]:
    """The language tags of an ``Accept-Language`` header, most preferred first (by
    quality, then as written; a quality that is no number counts as 0)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag.strip():
            ranked.append((-quality, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]
