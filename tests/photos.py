"""Photos and payment files for tests: real JPEGs with EXIF position and time, uploaded as the
app does."""

from __future__ import annotations

import io
import random
from datetime import datetime
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageDraw, ImageEnhance

from tests.harness import Suite

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011

CREATE_UPLOAD = """
mutation($input: CreatePhotoUploadInput!) {
  createPhotoUpload(input: $input) { key uploadUrl uploadHeaders expiresAt }
}
"""
CREATE_PAYMENT_UPLOAD = """mutation($input: CreatePaymentUploadInput!) {
  createPaymentUpload(input: $input) { key uploadUrl uploadHeaders expiresAt } }"""


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure (shapes and noise), different for every seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(40, 300), y0 + rng.randrange(40, 300)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    return image


def retaken(image: Image.Image) -> Image.Image:
    """The same scene shot again from the same spot a few minutes later: a little brighter
    and framed a few pixels differently (the perceptual hash stays within a few bits, as
    attendance's photos module measured for real retakes)."""
    width, height = image.size
    reframed = image.crop((4, 3, width - 2, height - 1)).resize((width, height))
    return ImageEnhance.Brightness(reframed).enhance(1.08)


def _rational(value: float) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = Fraction(round((minutes_full - minutes) * 60 * 10_000), 10_000)
    return Fraction(degrees), Fraction(minutes), seconds


def jpeg(
    image: Image.Image,
    *,
    gps: tuple[float, float] | None = None,
    taken_at: datetime | None = None,
    quality: int = 90,
) -> bytes:
    """Encode as JPEG with EXIF GPS (decimal degrees) and an aware DateTimeOriginal."""
    exif = Image.Exif()
    if gps is not None:
        lat, lng = gps
        exif.get_ifd(GPS_IFD).update(
            {
                1: "N" if lat >= 0 else "S",
                2: _rational(abs(lat)),
                3: "E" if lng >= 0 else "W",
                4: _rational(abs(lng)),
            }
        )
    if taken_at is not None:
        offset = taken_at.strftime("%z")
        exif.get_ifd(EXIF_IFD).update(
            {
                DATETIME_ORIGINAL: taken_at.strftime("%Y:%m:%d %H:%M:%S"),
                OFFSET_TIME_ORIGINAL: f"{offset[:3]}:{offset[3:]}",
            }
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, exif=exif)
    return buffer.getvalue()


async def upload(suite: Suite, as_: str, data: bytes, content_type: str = "image/jpeg") -> str:
    """createPhotoUpload, then PUT the bytes with the returned headers; returns the key."""
    created = (
        await suite.gql(
            CREATE_UPLOAD, {"input": {"contentType": content_type, "sizeBytes": len(data)}}, as_=as_
        )
    ).ok()["createPhotoUpload"]
    await put(suite, created, data)
    return str(created["key"])


async def upload_payment_file(
    suite: Suite, as_: str, purpose: str, content_type: str, data: bytes
) -> str:
    """createPaymentUpload (a VOUCHER or a STATEMENT), then PUT the bytes; returns the key."""
    created = (
        await suite.gql(
            CREATE_PAYMENT_UPLOAD,
            {"input": {"purpose": purpose, "contentType": content_type, "sizeBytes": len(data)}},
            as_=as_,
        )
    ).ok()["createPaymentUpload"]
    await put(suite, created, data)
    return str(created["key"])


async def put(suite: Suite, created: dict[str, Any], data: bytes) -> httpx.Response:
    """PUT to the upload URL: the S3 server, or the gateway's /objects route when embedded."""
    url: str = created["uploadUrl"]
    headers = dict(created["uploadHeaders"])
    if suite.settings.get("s3_endpoint"):
        async with httpx.AsyncClient() as http:
            response = await http.put(url, content=data, headers=headers)
    else:  # the embedded profile: the gateway in this process serves /objects
        parts = urlsplit(url)
        response = await suite.client.put(
            f"{parts.path}?{parts.query}", content=data, headers=headers
        )
    response.raise_for_status()
    return response
