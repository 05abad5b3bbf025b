"""Photo analysis (A4): type checks, EXIF time and place, and the perceptual hash on real images.

The images are made here with Pillow: gradients with shapes, text and noise,
and a "photo-like" one (multi-octave noise, soft objects, vignette, blur and
grain), so the hash sees structure as it would in a photo.
"""

from __future__ import annotations

import io
import itertools
import random
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps
from PIL.TiffImagePlugin import IFDRational

from salesguard.errors import InvalidInput
from salesguard_attendance.photos import (
    ALLOWED_CONTENT_TYPES,
    MAX_PIXELS,
    analyse_photo,
    band_probes,
    hamming,
    hash_bands,
)

# What a re-encoded or resized copy stays within (measured: at most 2 bits, 4 with a
# nearest-neighbour downscale), and the distance recommended for PHOTO_REUSED.
COPY_DISTANCE = 3
MATCH_DISTANCE = 7
# Unrelated pictures were never closer than 17 bits in the measurements.
UNRELATED_DISTANCE = 12

SIZE = (800, 600)


# -- images --------------------------------------------------------------------------------


def _noise(rng: random.Random, size: tuple[int, int]) -> Image.Image:
    return Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


@cache
def scene(seed: int) -> Image.Image:
    """A rotated colour gradient with shapes, a word and 12 % noise."""
    rng = random.Random(seed)
    w, h = SIZE
    gradient = Image.linear_gradient("L").rotate(rng.uniform(0, 360), expand=True).resize(SIZE)
    image = ImageOps.colorize(gradient, _colour(rng), _colour(rng)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(6, 12)):
        x0, y0 = rng.randrange(-w // 4, w), rng.randrange(-h // 4, h)
        box = (x0, y0, x0 + rng.randrange(w // 10, w // 2), y0 + rng.randrange(h // 10, h // 2))
        shape = rng.choice([draw.ellipse, draw.rectangle])
        shape(box, fill=_colour(rng))
    font = ImageFont.load_default(size=rng.randrange(h // 12, h // 6))
    word = rng.choice(["客户", "ACME", "门店", "SALES"])
    draw.text((rng.randrange(w // 2), rng.randrange(h // 2)), word, fill=_colour(rng), font=font)
    return Image.blend(image, _noise(rng, SIZE).convert("RGB"), 0.12)


@cache
def photo_like(seed: int) -> Image.Image:
    """Noise at six scales (a natural image's 1/f spectrum), objects, vignette, blur, grain."""
    rng = random.Random(seed)
    w, h = SIZE
    channels = []
    for _ in range(3):
        layers = Image.new("L", SIZE, 0)
        weight = 0.5
        for cells in (3, 6, 12, 24, 48, 96):
            layer = _noise(rng, (cells * w // h + 1, cells)).resize(SIZE, Image.Resampling.BICUBIC)
            layers = Image.blend(layers, layer, weight)
            weight *= 0.6
        channels.append(ImageOps.autocontrast(layers, cutoff=1))
    image = Image.merge("RGB", channels)
    objects, mask = Image.new("RGB", SIZE), Image.new("L", SIZE, 0)
    for _ in range(rng.randrange(3, 6)):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(h // 12, h // 3)
        ImageDraw.Draw(objects).ellipse((x - r, y - r, x + r, y + r), fill=_colour(rng))
        ImageDraw.Draw(mask).ellipse((x - r, y - r, x + r, y + r), fill=200)
    image = Image.composite(objects, image, mask.filter(ImageFilter.GaussianBlur(h / 80)))
    vignette = ImageOps.invert(Image.radial_gradient("L").resize(SIZE))
    vignette = vignette.point(lambda v: 140 + v * 115 // 255)
    image = ImageChops.multiply(image, Image.merge("RGB", [vignette] * 3))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    return Image.blend(image, _noise(rng, SIZE).convert("RGB"), 0.05)


PICTURES: list[Callable[[], Image.Image]] = [
    *(lambda s=s: scene(s) for s in range(4)),
    *(lambda s=s: photo_like(100 + s) for s in range(4)),
]


def encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        image = image.convert("RGB")
        options.setdefault("quality", 92)
    image.save(out, format=fmt, **options)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def phash(data: bytes, content_type: str = "image/jpeg") -> int:
    return analyse_photo(data, content_type).perceptual_hash


def scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (round(image.width * factor), round(image.height * factor))
    return image.resize(size, Image.Resampling.LANCZOS)


def cropped(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def with_exif(
    *,
    taken: str | None = None,
    offset: str | None = None,
    subseconds: str | None = None,
    gps: dict[int, Any] | None = None,
    orientation: int | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "salesguard-test"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    tags = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        tags[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        tags[ExifTags.Base.OffsetTimeOriginal] = offset
    if subseconds is not None:
        tags[ExifTags.Base.SubsecTimeOriginal] = subseconds
    if gps is not None:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    return exif


def dms(degrees: int, minutes: int, seconds: float) -> tuple[IFDRational, ...]:
    return (
        IFDRational(degrees, 1),
        IFDRational(minutes, 1),
        IFDRational(round(seconds * 100), 100),
    )


def gps_of(lat_ref: str, lat: Any, lng_ref: str, lng: Any) -> dict[int, Any]:
    return {
        ExifTags.GPS.GPSLatitudeRef: lat_ref,
        ExifTags.GPS.GPSLatitude: lat,
        ExifTags.GPS.GPSLongitudeRef: lng_ref,
        ExifTags.GPS.GPSLongitude: lng,
    }


SHANGHAI = gps_of("N", dms(31, 13, 50.4), "E", dms(121, 28, 26.4))


# -- EXIF ---------------------------------------------------------------------------------------


def test_exif_time_and_gps_round_trip() -> None:
    exif = with_exif(taken="2024:03:15 14:30:05", offset="+08:00", subseconds="25", gps=SHANGHAI)
    data = encode(scene(1), exif=exif)
    facts = analyse_photo(data, "image/jpeg")
    assert facts.taken_at == datetime(2024, 3, 15, 14, 30, 5, 250000, timezone(timedelta(hours=8)))
    assert facts.taken_at.astimezone(UTC) == datetime(2024, 3, 15, 6, 30, 5, 250000, UTC)
    assert facts.exif_location is not None
    lat, lng = facts.exif_location
    assert lat == pytest.approx(31 + 13 / 60 + 50.4 / 3600, abs=1e-9)
    assert lng == pytest.approx(121 + 28 / 60 + 26.4 / 3600, abs=1e-9)
    assert (facts.width, facts.height, facts.content_type) == (800, 600, "image/jpeg")


def test_southern_and_western_hemispheres_are_negative() -> None:
    gps = gps_of("S", dms(33, 52, 8.4), "W", dms(70, 40, 0))
    facts = analyse_photo(encode(scene(1), exif=with_exif(gps=gps)), "image/jpeg")
    assert facts.exif_location == pytest.approx((-(33 + 52 / 60 + 8.4 / 3600), -(70 + 40 / 60)))


def test_time_without_offset_is_naive_wall_clock() -> None:
    facts = analyse_photo(
        encode(scene(1), exif=with_exif(taken="2024:03:15 14:30:05")), "image/jpeg"
    )
    assert facts.taken_at == datetime(2024, 3, 15, 14, 30, 5)
    assert facts.taken_at.tzinfo is None


@pytest.mark.parametrize(
    "gps",
    [
        gps_of("N", dms(95, 0, 0), "E", dms(121, 0, 0)),  # latitude beyond the pole
        gps_of("N", dms(31, 0, 0), "E", dms(181, 0, 0)),  # longitude beyond 180°
        gps_of("N", dms(31, 61, 0), "E", dms(121, 0, 0)),  # 61 minutes
        gps_of("N", dms(31, 0, 60), "E", dms(121, 0, 0)),  # 60 seconds
        gps_of("N", (IFDRational(31, 0), IFDRational(0, 1), IFDRational(0, 1)), "E", dms(1, 0, 0)),
        gps_of("X", dms(31, 0, 0), "E", dms(121, 0, 0)),  # no hemisphere
        gps_of("N", dms(0, 0, 0), "E", dms(0, 0, 0)),  # "no fix" written as 0°, 0°
        {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: dms(31, 0, 0)},
        {**SHANGHAI, ExifTags.GPS.GPSStatus: "V"},  # the receiver says the fix is void
    ],
)
def test_impossible_positions_are_dropped_silently(gps: dict[int, Any]) -> None:
    facts = analyse_photo(encode(scene(1), exif=with_exif(gps=gps)), "image/jpeg")
    assert facts.exif_location is None


@pytest.mark.parametrize(
    ("taken", "offset"),
    [("0000:00:00 00:00:00", None), ("    :  :     :  :  ", None), ("2024:02:30 10:00:00", None)],
)
def test_impossible_times_are_dropped_silently(taken: str, offset: str | None) -> None:
    facts = analyse_photo(
        encode(scene(1), exif=with_exif(taken=taken, offset=offset)), "image/jpeg"
    )
    assert facts.taken_at is None


def test_an_unusable_offset_leaves_the_time_naive() -> None:
    facts = analyse_photo(
        encode(scene(1), exif=with_exif(taken="2024:03:15 14:30:05", offset="+99:00")),
        "image/jpeg",
    )
    assert facts.taken_at == datetime(2024, 3, 15, 14, 30, 5)


def test_a_damaged_exif_block_reads_as_no_exif() -> None:
    junk = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + b"\xff" * 40
    with pytest.warns(UserWarning, match="Corrupt EXIF"):
        facts = analyse_photo(encode(scene(2), exif=junk), "image/jpeg")
    assert (facts.taken_at, facts.exif_location, facts.width) == (None, None, 800)


def test_a_photo_without_exif() -> None:
    facts = analyse_photo(encode(scene(2)), "image/jpeg")
    assert (facts.taken_at, facts.exif_location) == (None, None)


# -- types -----------------------------------------------------------------------------------------


def test_png_and_heic_are_accepted_with_their_exif() -> None:
    exif = with_exif(taken="2024:03:15 14:30:05", offset="-05:00", gps=SHANGHAI)
    jpeg_hash = phash(encode(photo_like(100)))
    png = analyse_photo(encode(photo_like(100), "PNG", exif=exif), "image/png")
    heic = analyse_photo(encode(photo_like(100), "HEIF", exif=exif.tobytes()), "image/heic")
    for facts, content_type in ((png, "image/png"), (heic, "image/heic")):
        assert facts.content_type == content_type
        assert (facts.width, facts.height) == SIZE
        assert facts.taken_at == datetime(
            2024, 3, 15, 14, 30, 5, tzinfo=timezone(-timedelta(hours=5))
        )
        assert facts.exif_location == pytest.approx((31.2306667, 121.474), abs=1e-6)
        assert hamming(facts.perceptual_hash, jpeg_hash) <= COPY_DISTANCE
    assert {"image/jpeg", "image/png", "image/heic"} == ALLOWED_CONTENT_TYPES


def test_sha256_is_of_the_bytes() -> None:
    import hashlib

    data = encode(scene(3))
    assert analyse_photo(data, "image/jpeg").sha256 == hashlib.sha256(data).hexdigest()
    assert analyse_photo(data, "Image/JPEG; q=1").content_type == "image/jpeg"


def refused(data: bytes, content_type: str) -> str:
    with pytest.raises(InvalidInput) as info:
        analyse_photo(data, content_type)
    assert info.value.field == "photo_keys"
    return info.value.message


def test_a_text_file_named_jpg_is_refused() -> None:
    message = refused(b"Dear HR, this is my visit photo. Regards.\n" * 20, "image/jpeg")
    assert "not a JPEG, PNG or HEIC image" in message


def test_a_content_type_mismatch_is_refused() -> None:
    png = encode(scene(1), "PNG")
    assert refused(png, "image/jpeg") == "the photo is image/png, but was declared as image/jpeg"
    assert "image/jpeg" in refused(encode(scene(1)), "image/heic")
    assert "must be one of" in refused(encode(scene(1), "GIF"), "image/gif")
    assert "must be one of" in refused(png, "")


def test_a_truncated_image_is_refused() -> None:
    data = encode(photo_like(101))
    assert "truncated or corrupt" in refused(data[: len(data) // 2], "image/jpeg")
    assert "truncated or corrupt" in refused(encode(scene(1), "PNG")[:5000], "image/png")
    assert "not a JPEG" in refused(b"\x89PNG\r\n", "image/png")


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims to be width × height (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows; the rest is "missing"
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_decompression_bombs_are_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 100
    assert "at most 40 MP" in refused(png_header_only(side, side), "image/png")
    # Past twice Pillow's own limit it refuses to open the file at all.
    assert "too many pixels" in refused(png_header_only(20_000, 20_000), "image/png")


def test_orientation_is_applied_to_size_and_hash() -> None:
    picture = scene(2)
    upright = analyse_photo(encode(picture), "image/jpeg")
    # Stored on its side with "rotate 90° clockwise to show" (6), as phones do.
    stored = picture.transpose(Image.Transpose.ROTATE_90)
    turned = analyse_photo(encode(stored, exif=with_exif(orientation=6)), "image/jpeg")
    assert (turned.width, turned.height) == (upright.width, upright.height) == SIZE
    assert hamming(turned.perceptual_hash, upright.perceptual_hash) <= COPY_DISTANCE


# -- perceptual hash -------------------------------------------------------------------------------


@pytest.mark.parametrize("picture", PICTURES)
def test_reencoded_and_resized_copies_stay_within_the_threshold(
    picture: Callable[[], Image.Image],
) -> None:
    original = encode(picture())
    h = phash(original)
    image = decode(original)
    copies = {
        "JPEG quality 60": encode(image, quality=60),
        "50 %": encode(scaled(image, 0.5), quality=85),
        "25 %": encode(scaled(image, 0.25), quality=85),
        "25 % at quality 60": encode(scaled(image, 0.25), quality=60),
    }
    distances = {name: hamming(h, phash(data)) for name, data in copies.items()}
    assert max(distances.values()) <= COPY_DISTANCE, distances
    # Slightly cropped (1 % off each side), halved and re-encoded: still a match.
    reused = encode(scaled(cropped(image, 0.01), 0.5), quality=60)
    assert hamming(h, phash(reused)) <= MATCH_DISTANCE


def test_unrelated_pictures_are_far_apart() -> None:
    hashes = [phash(encode(picture())) for picture in PICTURES]
    distances = [hamming(a, b) for a, b in itertools.combinations(hashes, 2)]
    assert min(distances) > UNRELATED_DISTANCE, sorted(distances)


def test_hash_is_64_bits_and_hamming_counts_bits() -> None:
    h = phash(encode(photo_like(102)))
    assert 0 <= h < 2**64
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0010) == 2
    assert hamming(h, h) == 0


# -- bands ---------------------------------------------------------------------------------------------


def flip_bits(h: int, count: int, rng: random.Random) -> int:
    for bit in rng.sample(range(64), count):
        h ^= 1 << bit
    return h


def test_bands_are_16_bit_most_significant_first() -> None:
    assert hash_bands(0x0123_4567_89AB_CDEF) == (0x0123, 0x4567, 0x89AB, 0xCDEF)
    rng = random.Random(7)
    for _ in range(200):
        h = rng.getrandbits(64)
        a, b, c, d = hash_bands(h)
        assert (a << 48) | (b << 32) | (c << 16) | d == h


def test_hashes_within_three_bits_share_a_band() -> None:
    rng = random.Random(42)
    for _ in range(5000):
        h = rng.getrandbits(64)
        near = flip_bits(h, rng.randrange(0, 4), rng)
        assert any(x == y for x, y in zip(hash_bands(h), hash_bands(near), strict=True))
    # Four bits, one per band, is the first distance that can miss every band.
    spread = flip_bits(0, 0, rng) ^ (1 | 1 << 16 | 1 << 32 | 1 << 48)
    assert all(x != y for x, y in zip(hash_bands(0), hash_bands(spread), strict=True))


@pytest.mark.parametrize(("max_distance", "per_band"), [(3, 1), (7, 17), (11, 137)])
def test_band_probes_find_every_hash_within_the_distance(max_distance: int, per_band: int) -> None:
    rng = random.Random(max_distance)
    for _ in range(2000):
        h = rng.getrandbits(64)
        probes = band_probes(h, max_distance)
        assert [len(p) for p in probes] == [per_band] * 4
        near = flip_bits(h, rng.randrange(0, max_distance + 1), rng)
        assert any(band in probe for band, probe in zip(hash_bands(near), probes, strict=True))
    with pytest.raises(ValueError, match="0 to 11"):
        band_probes(0, 12)
