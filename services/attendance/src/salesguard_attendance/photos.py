"""Photos (A4): what an upload may be, whose it is, and what the service reads from it.

A photo goes from the client straight to the object store through a presigned upload
URL limited to :data:`ALLOWED_CONTENT_TYPES` and a size (:func:`check_upload`), under a
key of the uploader's own (:func:`upload_key`, :func:`is_own_upload`); the check-in then
names the keys. The service reads hashes, size, EXIF time and place
(:func:`analyse_photo`) and finds reuse (:func:`earliest_reuse`). Photos are evidence:
the bucket is versioned and a photo is read at the version the check-in verified.

Pure functions, no I/O: the caller fetches the bytes (the object version it
verifies) and runs :func:`analyse_photo` in a worker thread, since decoding a
large photo takes a while (about 50 ms for 2 MP).

Reuse (``PHOTO_REUSED``) is found two ways: the same bytes (SHA-256) or the
same picture after re-encoding or resizing (a perceptual hash, dHash, compared
by Hamming distance). Hashes are looked up by bands (:func:`hash_bands`,
:func:`band_probes`), so a check-in reads the few earlier photos that can be
close, never all of them.

Measured (82 pictures: 40 synthetic scenes, 40 photo-like, 2 real photos;
distance to the original's hash, worst case): JPEG quality 60 → 1, quality
30 → 2; resized to 50 % or 25 % (Lanczos or bilinear) → 2, nearest-neighbour
→ 4; converted to PNG or HEIC → 1; brightness or contrast ±20 % → 3;
rotated 1° → 6; cropped 2 % off each side → 8 (mean 3), 5 % → 17 (mean 9),
10 % → 32. Unrelated pictures (3321 pairs): never closer than 15, median 30.
A distance of 7 catches every re-encoded or resized copy with room to spare
and most 2 % crops, 8 bits short of the closest unrelated pair; larger crops
are beyond what a 64-bit dHash can see. Note that two real photos of the
same place taken from the same spot are also close (0 to 5 measured on
simulated retakes), and that all flat pictures hash to 0.
"""

from __future__ import annotations

import hashlib
import io
import math
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, cast, func, or_
from sqlalchemy.dialects.postgresql import BIT

from salesguard.errors import InvalidInput
from salesguard_attendance.verification import ReusedPhoto

pillow_heif.register_heif_opener()

ALLOWED_CONTENT_TYPES = frozenset({"image/jpeg", "image/png", "image/heic"})

# Larger images are refused before they are decoded (a decompression bomb is a
# small file that unpacks to an enormous bitmap). 40 MP covers every phone
# camera's default mode with room to spare.
MAX_PIXELS = 40_000_000

# The field every photo error names: the check-in's list of photo keys.
FIELD = "photo_keys"

_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/heic": "HEIF"}
# ISO-BMFF brands of HEIC (HEVC-coded HEIF) files; "mif1"/"msf1" are generic HEIF
# brands that phones also write, with an HEVC brand among the compatible ones.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})


# -- uploads --------------------------------------------------------------------------------


def check_upload(content_type: str, size_bytes: int, max_bytes: int) -> str:
    """The content type an upload is presigned for, once type and size are acceptable."""
    content_type = content_type.strip().lower()
    if content_type not in ALLOWED_CONTENT_TYPES:
        raise InvalidInput(
            "content_type", f"photos must be one of {', '.join(sorted(ALLOWED_CONTENT_TYPES))}"
        )
    if not 0 < size_bytes <= max_bytes:
        raise InvalidInput("size_bytes", f"a photo must be 1 to {max_bytes} bytes")
    return content_type


def upload_key(employee_id: str, day: date, unique: str, content_type: str) -> str:
    """Where an employee's upload goes: under their own prefix, by their local day."""
    extension = mimetypes.guess_extension(content_type) or ".img"
    return f"photos/{employee_id}/{day.isoformat()}/{unique}{extension}"


def is_own_upload(key: str, employee_id: str, uploaded_by: str | None) -> bool:
    """Whether a check-in by ``employee_id`` may name ``key``: an upload they made
    (``uploaded_by`` is None when the key was never handed out), under their prefix."""
    return uploaded_by == employee_id and key.startswith(f"photos/{employee_id}/")


@dataclass(frozen=True)
class PhotoFacts:
    sha256: str
    # 64-bit dHash, unsigned (see :func:`dhash`).
    perceptual_hash: int
    # As the photo is shown: after the EXIF orientation is applied.
    width: int
    height: int
    # Sniffed from the bytes; always equal to the declared type.
    content_type: str
    # EXIF DateTimeOriginal: aware when the photo carries OffsetTimeOriginal, else naive
    # (the camera's wall clock; the caller reads it in the branch's time zone).
    taken_at: datetime | None
    # EXIF GPS as (latitude, longitude) in signed decimal degrees; None when absent or impossible.
    exif_location: tuple[float, float] | None


def analyse_photo(data: bytes, declared_content_type: str) -> PhotoFacts:
    """Read one photo; ``InvalidInput("photo_keys", ...)`` when it is not an acceptable image.

    Refused: a type outside :data:`ALLOWED_CONTENT_TYPES`; bytes of another type
    than the declared one (a text file named ``.jpg``, a PNG declared as JPEG);
    an image of more than :data:`MAX_PIXELS` pixels (checked from the header,
    before decoding); a truncated or corrupt image.

    ``taken_at`` is EXIF ``DateTimeOriginal`` (with ``SubSecTimeOriginal``).
    With ``OffsetTimeOriginal`` it is timezone-aware; without one it is a
    **naive** datetime, the camera's local wall-clock time, which the caller
    must interpret in the branch's time zone. ``exif_location`` comes from the
    GPS IFD; values that cannot be a position (degrees out of range, minutes or
    seconds ≥ 60, a zero denominator, a missing hemisphere, a fix marked void,
    exactly 0°/0°, which cameras write when they have no fix) give None.
    """
    declared = normalise_content_type(declared_content_type)
    if declared not in ALLOWED_CONTENT_TYPES:
        raise InvalidInput(
            FIELD,
            f"photos must be one of {', '.join(sorted(ALLOWED_CONTENT_TYPES))}, "
            f"not {declared_content_type or 'an unnamed type'}",
        )
    sniffed = sniff_content_type(data)
    if sniffed is None:
        raise InvalidInput(
            FIELD, f"the photo is not a JPEG, PNG or HEIC image ({declared} declared)"
        )
    if sniffed != declared:
        raise InvalidInput(FIELD, f"the photo is {sniffed}, but was declared as {declared}")
    try:
        with Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[sniffed]]) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(
                    FIELD,
                    f"the photo is {width}×{height} pixels; at most {MAX_PIXELS // 1_000_000} MP "
                    "are accepted",
                )
            exif = _exif_of(image)
            image.load()  # decodes everything: a truncated file fails here
            orientation = _orientation(exif)
            perceptual_hash = dhash(image, orientation)
    except InvalidInput:
        raise
    except Image.DecompressionBombError:
        raise InvalidInput(FIELD, "the photo has too many pixels to be decoded") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInput(
            FIELD, f"the photo cannot be decoded as {sniffed} (truncated or corrupt): {error}"
        ) from None
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return PhotoFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        perceptual_hash=perceptual_hash,
        width=width,
        height=height,
        content_type=sniffed,
        taken_at=_or_none(_taken_at, exif),
        exif_location=_or_none(_location, exif),
    )


def normalise_content_type(value: str) -> str:
    """``"Image/JPEG; charset=x"`` → ``"image/jpeg"``."""
    return value.split(";", 1)[0].strip().lower()


def sniff_content_type(data: bytes) -> str | None:
    """The image type by its magic bytes, or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    # ISO-BMFF: [size:4]["ftyp"][major brand:4][minor version:4][compatible brands:4*n]
    if len(data) >= 16 and data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[0:4], "big")
        header = data[8 : max(16, min(box_size, 256))]
        major, compatible = header[:4], {header[i : i + 4] for i in range(8, len(header) - 3, 4)}
        if major in _HEIC_BRANDS or (major in _HEIF_GENERIC_BRANDS and compatible & _HEIC_BRANDS):
            return "image/heic"
    return None


# -- perceptual hash ----------------------------------------------------------------------


def dhash(image: Image.Image, orientation: int = 1) -> int:
    """64-bit difference hash (dHash) of an image, as shown after its EXIF orientation.

    1. Grayscale (luma, ITU-R 601); transparent pixels are laid on white first.
    2. Turned as the EXIF ``orientation`` says, so a copy whose pixels were
       rotated by an editor hashes like the original.
    3. Resized to 9 columns × 8 rows with Lanczos resampling, which averages
       over the whole source area (Pillow widens the filter when it
       downscales), so JPEG noise and resizing barely move the 72 values.
    4. In each row, each pixel compared with its right neighbour: bit = 1 when
       the left one is brighter. 8 rows × 8 comparisons = 64 bits, row by row
       from the top, the leftmost comparison of the top row the most
       significant bit.

    It captures the coarse left-to-right gradients of the picture:
    re-encoding, resizing and colour changes keep nearly every bit, different
    pictures differ in about half (measurements in the module docstring). A
    flat picture, or one that only brightens evenly from left to right,
    hashes to 0.
    """
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(backdrop, rgba)
    gray = image.convert("L")
    method = _TRANSPOSE.get(orientation)
    if method is not None:
        gray = gray.transpose(method)
    small = gray.resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()  # 72 bytes, row by row
    value = 0
    for row in range(8):
        for column in range(8):
            left = pixels[row * 9 + column]
            right = pixels[row * 9 + column + 1]
            value = (value << 1) | int(left > right)
    return value


_SIGNED_64 = 1 << 63


def to_signed_64(value: int) -> int:
    """A 64-bit hash as PostgreSQL's BIGINT can hold it."""
    return value - (1 << 64) if value >= _SIGNED_64 else value


def to_unsigned_64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


def informative(perceptual_hash: int) -> bool:
    """Whether a hash says something about the picture (flat pictures hash to ~0)."""
    return 8 <= perceptual_hash.bit_count() <= 56


@dataclass(frozen=True)
class StoredPhoto:
    """An earlier check-in's photo, as the reuse lookup reads it (oldest first)."""

    check_in_id: str
    employee_id: str
    key: str
    sha256: str
    perceptual_hash: int  # unsigned
    # Its check-in's linked customer and time (what tells a retake from a copy).
    customer_id: str | None = None
    at: datetime | None = None


def near_hash_filter(
    bands: Sequence[SQLColumnExpression[int]],
    stored_hash: SQLColumnExpression[int],
    perceptual_hash: int,
    max_distance: int,
    *,
    distance_in_sql: bool,
) -> ColumnElement[bool] | None:
    """The stored photos that may be within ``max_distance`` bits of ``perceptual_hash``
    (:func:`earliest_reuse` decides), as SQL over the four band columns and the signed
    hash column: those sharing a probe value in some band (:func:`band_probes`), and with
    ``distance_in_sql`` (PostgreSQL) within the distance exactly, so only matches travel
    back. None for a near-blank picture: only its bytes count."""
    if not informative(perceptual_hash):
        return None
    probes = band_probes(perceptual_hash, max_distance)
    shares_a_band = or_(*(band.in_(values) for band, values in zip(bands, probes, strict=True)))
    if not distance_in_sql:
        return shares_a_band
    differing = stored_hash.op("#")(to_signed_64(perceptual_hash))
    return and_(shares_a_band, func.bit_count(cast(differing, BIT(64))) <= max_distance)


def earliest_reuse(
    key: str, sha256: str, perceptual_hash: int, earlier: Iterable[StoredPhoto], max_distance: int
) -> ReusedPhoto | None:
    """``PHOTO_REUSED``'s evidence: the earliest stored photo with the same bytes, or
    within ``max_distance`` bits of the perceptual hash. Near-blank pictures (few or
    almost all bits set: flat walls, black frames) all hash alike, so only their exact
    bytes count."""
    for stored in earlier:
        same_bytes = stored.sha256 == sha256
        distance = hamming(stored.perceptual_hash, perceptual_hash)
        if same_bytes or (informative(perceptual_hash) and distance <= max_distance):
            return ReusedPhoto(
                key=key,
                earlier_check_in_id=stored.check_in_id,
                earlier_employee_id=stored.employee_id,
                earlier_key=stored.key,
                same_bytes=same_bytes,
                distance_bits=0 if same_bytes else distance,
                earlier_customer_id=stored.customer_id,
                earlier_at=stored.at,
            )
    return None


def hamming(a: int, b: int) -> int:
    """How many of the 64 bits differ."""
    return (a ^ b).bit_count()


def hash_bands(h: int) -> tuple[int, int, int, int]:
    """The hash cut into four 16-bit bands, most significant first, for a multi-index lookup.

    Pigeonhole: two hashes that differ in at most 3 bits cannot differ in all
    four bands, so they share at least one band exactly. Index each band; to
    find every stored hash within distance ≤ 3 of ``h``, fetch the rows equal
    to ``h`` in band 0, 1, 2 or 3 and compute :func:`hamming` on those only.
    (In general, k bands find every match within k − 1 bits; for larger
    distances with these four bands see :func:`band_probes`.)
    """
    return ((h >> 48) & 0xFFFF, (h >> 32) & 0xFFFF, (h >> 16) & 0xFFFF, h & 0xFFFF)


def band_probes(h: int, max_distance: int) -> tuple[frozenset[int], ...]:
    """For each of the four bands, the values a stored hash within ``max_distance`` may have there.

    Generalised pigeonhole: if two hashes differ in every band by more than
    ``s = max_distance // 4`` bits, they differ in at least ``4 (s + 1) >
    max_distance`` bits. So every stored hash within ``max_distance`` of ``h``
    has, in at least one band ``i``, a value within ``s`` bits of ``h``'s band
    ``i``: fetch ``band_i IN probes[i]`` for the four bands, then check
    :func:`hamming`. ``max_distance`` ≤ 3 gives one value per band (exact band
    match, as :func:`hash_bands`); ≤ 7 gives 17 (the band and its 16 one-bit
    neighbours); ≤ 11 gives 137.
    """
    if not 0 <= max_distance <= 11:
        raise ValueError("band probes are made for distances 0 to 11")
    radius = max_distance // 4
    flips = [0]
    for _ in range(radius):
        flips = sorted({f | (1 << bit) for f in flips for bit in range(16)} | set(flips))
    return tuple(frozenset(band ^ f for f in flips) for band in hash_bands(h))


# -- EXIF ------------------------------------------------------------------------------------

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})


def _exif_of(image: Image.Image) -> Image.Exif:
    """The image's EXIF; a damaged EXIF block reads as none (the picture itself may be fine)."""
    try:
        return image.getexif()
    except Exception:
        return Image.Exif()


_T = TypeVar("_T")


def _or_none(read: Callable[[Image.Exif], _T | None], exif: Image.Exif) -> _T | None:
    """A value read from EXIF, or None when the EXIF is too damaged to read it."""
    try:
        return read(exif)
    except Exception:
        return None


def _orientation(exif: Image.Exif) -> int:
    value = exif.get(ExifTags.Base.Orientation)
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").strip() or None


_EXIF_TIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def _taken_at(exif: Image.Exif) -> datetime | None:
    tags: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.Exif)
    text = _text(tags.get(ExifTags.Base.DateTimeOriginal))
    match = _EXIF_TIME.fullmatch(text or "")
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        taken = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
        return None
    fraction = _text(tags.get(ExifTags.Base.SubsecTimeOriginal))
    if fraction and fraction.isdigit():
        taken = taken.replace(microsecond=int((fraction + "000000")[:6]))
    offset = _EXIF_OFFSET.fullmatch(_text(tags.get(ExifTags.Base.OffsetTimeOriginal)) or "")
    if offset is None:
        return taken  # naive: the camera's wall clock, read in the branch's time zone
    sign, hours, minutes = offset.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return taken
    return taken.replace(tzinfo=timezone(-delta if sign == "-" else delta))


def _degrees(value: Any, limit: float) -> float | None:
    """(degrees, minutes, seconds) rationals → degrees, or None when impossible."""
    if not isinstance(value, tuple | list) or not 1 <= len(value) <= 3:
        return None
    try:
        parts = [float(part) for part in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(part) and part >= 0 for part in parts):
        return None
    degrees, minutes, seconds = (*parts, 0.0, 0.0)[:3]
    if minutes >= 60 or seconds >= 60:
        return None
    total = degrees + minutes / 60 + seconds / 3600
    return total if total <= limit else None


def _location(exif: Image.Exif) -> tuple[float, float] | None:
    gps: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if not gps or _text(gps.get(ExifTags.GPS.GPSStatus)) == "V":  # V: measurement void
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), 90.0)
    lng = _degrees(gps.get(ExifTags.GPS.GPSLongitude), 180.0)
    lat_ref = (_text(gps.get(ExifTags.GPS.GPSLatitudeRef)) or "").upper()
    lng_ref = (_text(gps.get(ExifTags.GPS.GPSLongitudeRef)) or "").upper()
    if lat is None or lng is None or lat_ref not in {"N", "S"} or lng_ref not in {"E", "W"}:
        return None
    if lat == 0 and lng == 0:
        return None
    return (-lat if lat_ref == "S" else lat, -lng if lng_ref == "W" else lng)
