"""AWS Signature Version 4, query-string form: presigned S3 URLs that sign headers too.

The minio SDK's ``presigned_put_object`` signs only ``host``; an upload URL here also
signs the Content-Type, Content-Length and ``If-None-Match`` the client must send.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from salesguard.objectstore.base import MAX_URL_LIFETIME

_UNRESERVED = "-_.~"  # with letters and digits: what SigV4 leaves unencoded


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def presign_v4(
    *,
    method: str,
    endpoint: str,
    secure: bool,
    path: str,
    region: str,
    access_key: str,
    secret_key: str,
    expires: timedelta,
    signed_headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned S3 URL (AWS SigV4, query-string authentication, ``UNSIGNED-PAYLOAD``).

    ``endpoint`` is ``host[:port]`` as the minio SDK takes it and ``path`` the
    unencoded ``/bucket/key`` (path-style addressing, which MinIO and SeaweedFS
    serve). ``signed_headers`` are headers the request must carry with exactly
    these values: their names go into ``X-Amz-SignedHeaders`` (with ``host``)
    and their values into the signature, so the server rejects a request that
    sends other values, or leaves one out, with 403 ``SignatureDoesNotMatch``.

    The algorithm (docs.aws.amazon.com, "Authenticating Requests: Using Query
    Parameters"): a canonical request ``METHOD\\nURI\\nQUERY\\nHEADERS\\n\\n
    SIGNED-HEADER-NAMES\\nUNSIGNED-PAYLOAD`` is hashed into a string to sign,
    which is HMAC-ed with a key derived from the secret, the date, the region
    and the service ``s3``.
    """
    seconds = int(expires.total_seconds())
    if not 1 <= seconds <= int(MAX_URL_LIFETIME.total_seconds()):
        raise ValueError("a presigned URL expires after 1 second to 7 days")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"

    # A client leaves the default port out of Host; so must the signature.
    host = endpoint
    default_port = ":443" if secure else ":80"
    if host.endswith(default_port):
        host = host.removesuffix(default_port)
    headers = {"host": host}
    for name, value in (signed_headers or {}).items():
        headers[name.strip().lower()] = re.sub(r"\s+", " ", str(value).strip())
    names = ";".join(sorted(headers))

    params = dict(query or {})
    params.update(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(seconds),
            "X-Amz-SignedHeaders": names,
        }
    )
    canonical_query = "&".join(
        f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params.items())
    )
    canonical_uri = _uri_encode(path, keep_slash=True)
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, names, "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request"
    )
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    scheme = "https" if secure else "http"
    return f"{scheme}://{host}{canonical_uri}?{canonical_query}&X-Amz-Signature={signature}"
