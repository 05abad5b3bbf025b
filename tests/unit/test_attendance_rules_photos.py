"""A4 one by one: what may be uploaded, where, by whom, and when a photo is a reused one."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table
from sqlalchemy.dialects import sqlite

from salesguard.errors import InvalidInput
from salesguard_attendance.photos import (
    StoredPhoto,
    check_upload,
    earliest_reuse,
    informative,
    is_own_upload,
    near_hash_filter,
    to_signed_64,
    to_unsigned_64,
    upload_key,
)

HASH = 0x0F0F_3C3C_5A5A_A5A5  # 32 bits set: says something about the picture
MAX_BYTES = 1024 * 1024


def stored(number: int, sha256: str, perceptual_hash: int) -> StoredPhoto:
    return StoredPhoto(
        f"ci-{number}", "mate", f"photos/mate/x/{number}.jpg", sha256, perceptual_hash
    )


def test_an_upload_is_a_jpeg_png_or_heic_of_a_bounded_size() -> None:
    assert check_upload(" Image/JPEG ", 10, MAX_BYTES) == "image/jpeg"
    assert check_upload("image/heic", MAX_BYTES, MAX_BYTES) == "image/heic"
    for content_type, size, field in [
        ("image/gif", 10, "content_type"),
        ("text/html", 10, "content_type"),
        ("image/png", 0, "size_bytes"),
        ("image/png", MAX_BYTES + 1, "size_bytes"),
    ]:
        with pytest.raises(InvalidInput) as refused:
            check_upload(content_type, size, MAX_BYTES)
        assert refused.value.field == field


def test_an_upload_goes_under_its_uploaders_prefix_and_day() -> None:
    assert upload_key("rep", date(2026, 11, 24), "abc", "image/jpeg") == (
        "photos/rep/2026-11-24/abc.jpg"
    )
    assert upload_key("rep", date(2026, 11, 24), "abc", "image/png").endswith("/abc.png")


def test_a_check_in_names_only_its_employees_own_uploads() -> None:
    key = "photos/rep/2026-11-24/abc.jpg"
    assert is_own_upload(key, "rep", "rep")
    assert not is_own_upload(key, "rep", None)  # never handed out
    assert not is_own_upload(key, "mate", "mate")  # under someone else's prefix
    assert not is_own_upload("photos/mate/2026-11-24/abc.jpg", "rep", "rep")


def test_hashes_fit_a_signed_bigint_and_come_back() -> None:
    for value in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, HASH):
        signed = to_signed_64(value)
        assert -(1 << 63) <= signed < 1 << 63
        assert to_unsigned_64(signed) == value


def test_flat_pictures_hash_to_nothing_informative() -> None:
    assert informative(HASH)
    assert not informative(0) and not informative((1 << 64) - 1) and not informative(0b1111111)


def test_the_same_bytes_are_a_reuse_whatever_the_hash() -> None:
    reuse = earliest_reuse("new.jpg", "sha-a", 0, [stored(1, "sha-a", 0)], 7)
    assert reuse is not None
    assert reuse.same_bytes and reuse.distance_bits == 0
    assert reuse.earlier_check_in_id == "ci-1" and reuse.earlier_employee_id == "mate"


def test_a_close_perceptual_hash_is_a_reuse_and_the_earliest_match_is_the_evidence() -> None:
    earlier = [
        stored(1, "sha-x", HASH ^ 0b1111_1111),
        stored(2, "sha-y", HASH ^ 0b111),
        stored(3, "sha-z", HASH),
    ]
    reuse = earliest_reuse("new.jpg", "sha-new", HASH, earlier, 7)
    assert reuse is not None
    assert not reuse.same_bytes
    assert (reuse.earlier_check_in_id, reuse.distance_bits) == ("ci-2", 3)


def test_near_blank_pictures_count_only_by_their_bytes() -> None:
    assert earliest_reuse("new.jpg", "sha-new", 0, [stored(1, "sha-x", 0)], 7) is None
    assert earliest_reuse("new.jpg", "sha-new", HASH, [stored(1, "sha-x", HASH ^ 0xFF)], 7) is None


PHOTOS = Table(
    "check_in_photos",
    MetaData(),
    *(Column(f"band_{band}", Integer) for band in range(4)),
    Column("perceptual_hash", BigInteger),
)
BANDS = [PHOTOS.c[f"band_{band}"] for band in range(4)]


def test_the_reuse_lookup_reads_only_photos_sharing_a_band_probe() -> None:
    near = near_hash_filter(BANDS, PHOTOS.c.perceptual_hash, HASH, 7, distance_in_sql=False)
    assert near is not None
    text = str(near.compile(dialect=sqlite.dialect()))
    assert all(f"check_in_photos.band_{band} IN" in text for band in range(4))
    assert "bit_count" not in text


def test_on_postgresql_the_exact_distance_is_checked_in_the_query() -> None:
    near = near_hash_filter(BANDS, PHOTOS.c.perceptual_hash, HASH, 7, distance_in_sql=True)
    assert near is not None
    assert "bit_count" in str(near)


def test_a_near_blank_picture_is_looked_up_by_its_bytes_only() -> None:
    assert near_hash_filter(BANDS, PHOTOS.c.perceptual_hash, 0, 7, distance_in_sql=True) is None
