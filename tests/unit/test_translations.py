"""Messages as gettext catalogues: complete in every language, current with the code, and
read in the language Accept-Language asks for."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from salesguard.alerts import CATALOG, render
from salesguard.errors import CODE_MESSAGES, ErrorCode, code_message
from salesguard.translations import (
    LANGUAGES,
    SOURCE_LANGUAGE,
    Translatable,
    catalogue_locales,
    catalogue_path,
    negotiate_language,
)

REPO = Path(__file__).resolve().parents[2]
# Where `make translations` looks for texts (the Makefile's PYTHON_PACKAGES).
TRANSLATABLE_SOURCES = [
    REPO / "shared/src",
    *sorted((REPO / "services").glob("*/src")),
    REPO / "gateway/src",
]
# A translation may name the Chinese text of an evidence value as <key>_zh.
LANGUAGE_SUFFIX = {"zh": "_zh"}


def catalogue(language: str) -> Catalog:
    locale = catalogue_locales()[language]
    with catalogue_path(locale).open("rb") as po:
        return read_po(po, locale=locale)


def every_text() -> Iterator[Translatable]:
    for entry in CATALOG.values():
        yield entry.title
        yield entry.message
    yield from CODE_MESSAGES.values()


def placeholders(text: str, language: str = SOURCE_LANGUAGE) -> set[str]:
    suffix = LANGUAGE_SUFFIX.get(language, "")
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return {name.removesuffix(suffix) if suffix else name for name in names}


def test_there_are_catalogues_for_english_and_chinese() -> None:
    assert {"en", "zh"} <= set(LANGUAGES)
    assert catalogue_locales()["zh"] == "zh_CN"


def test_each_text_says_which_alert_kind_or_error_code_it_belongs_to() -> None:
    for kind, entry in CATALOG.items():
        assert entry.title.context == entry.message.context == f"alert:{kind}"
    assert set(CODE_MESSAGES) == set(ErrorCode)
    for code, message in CODE_MESSAGES.items():
        assert message.context == f"error:{code.value}"


def translated(language: str) -> dict[Translatable, str | None]:
    """Every marked text and its translation in ``language``'s catalogue (None where the
    catalogue lacks it, or holds an empty or fuzzy one)."""
    po = catalogue(language)
    found: dict[Translatable, str | None] = {}
    for text in every_text():
        entry = po.get(text.source, context=text.context)
        string = entry.string if entry is not None and not entry.fuzzy else None
        found[text] = string if isinstance(string, str) and string else None
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_alert_kind_and_error_code_is_translated(language: str) -> None:
    missing = [
        f"{text.context}: {text.source}" for text, t in translated(language).items() if not t
    ]
    assert missing == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_name_the_placeholders_of_their_source(language: str) -> None:
    differing = [
        f"{text.context}: {translation}"
        for text, translation in translated(language).items()
        if placeholders(translation or "", language) != placeholders(text.source)
    ]
    assert differing == []


def test_the_catalogues_hold_what_the_code_marks_and_nothing_else() -> None:
    """What `make translations` extracts: a text changed in code without `make
    translations` (and its translation) fails here."""
    extracted = {
        (context, message)
        for source in TRANSLATABLE_SOURCES
        for _, _, message, _, context in extract_from_dir(
            str(source), keywords={"Translatable": ((1, "c"), 2)}
        )
    }
    assert extracted == {(text.context, text.source) for text in every_text()}
    for language in LANGUAGES:
        po = catalogue(language)
        held = {(message.context, message.id) for message in po if message.id}
        assert held == extracted, language
        assert not po.obsolete, language


def test_alerts_render_as_before_in_both_languages() -> None:
    evidence = {"existing_code": "C-000042", "matched_on": "phone"}
    assert render("DUPLICATE_CUSTOMER_CLAIM", evidence, "en") == (
        "Duplicate customer claimed",
        "An attempt to register customer C-000042 again (matched on phone); a manager should decide.",
    )
    assert render("DUPLICATE_CUSTOMER_CLAIM", evidence, "zh") == (
        "重复客户认领",
        "有人试图重复登记客户 C-000042（匹配项：phone），需由经理裁定。",
    )
    assert render("MOCK_LOCATION", {}, "zh") == ("模拟定位", "签到时设备报告使用了模拟定位。")
    assert render("ABNORMAL_CALL_PATTERN", {"summary": "s", "summary_zh": "摘要"}, "zh") == (
        "通话模式异常",
        "摘要",
    )


def test_missing_evidence_reads_as_a_question_mark() -> None:
    assert render("NEW_DEVICE", {}, "en") == (
        "Check-in from a new device",
        "Checked in from a device never used before (?).",
    )


def test_an_unknown_kind_renders_as_its_name_and_an_unknown_language_in_english() -> None:
    assert render("NOT_A_KIND", {}, "zh") == ("NOT_A_KIND", "")
    assert render("MOCK_LOCATION", {}, "fr") == render("MOCK_LOCATION", {}, "en")
    assert render("MOCK_LOCATION", {}, "en") == (
        "Simulated location",
        "The device reported a mock location at check-in.",
    )


def test_error_codes_read_in_both_languages() -> None:
    assert code_message(ErrorCode.INTERNAL) == "internal error in a service"
    assert code_message(ErrorCode.UNAVAILABLE, "en") == "a service is unavailable"
    assert code_message(ErrorCode.NOT_FOUND, "zh") == "未找到"
    assert code_message(ErrorCode.NOT_FOUND, "fr") == "not found"


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        (None, "en"),
        ("", "en"),
        ("zh", "zh"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("en;q=0.5, zh;q=0.9", "zh"),
        ("fr, zh-TW", "zh"),
        ("ZH-Hant", "zh"),
        ("zh_CN", "zh"),
        ("zh-yue", "zh"),
        ("Zh-cn;q=0.9, EN;q=0.95", "en"),
        ("fr;q=1.0, zh;q=0.2, en;q=0.1", "zh"),
        ("de-DE, en-GB;q=0.8", "en"),
        ("fr", "en"),
        ("*", "en"),
        ("*, zh", "en"),
        ("zh, *", "zh"),
        ("en;q=abc, zh;q=0.1", "zh"),
        (" , zh", "zh"),
    ],
)
def test_accept_language_picks_the_most_preferred_language_with_a_catalogue(
    accept_language: str | None, language: str
) -> None:
    assert negotiate_language(accept_language) == language
