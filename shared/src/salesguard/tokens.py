"""Bearer tokens: ``sub`` is the employee ID. HS256 with a shared secret in dev, RS256 via JWKS in production."""

from __future__ import annotations

import asyncio
import time

import jwt

from salesguard.errors import Unauthenticated

DEV_ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 8192


def issue_dev_token(secret: str, employee_id: str, *, ttl_seconds: int = 8 * 3600) -> str:
    now = int(time.time())
    claims = {"sub": employee_id, "iat": now, "exp": now + ttl_seconds, "iss": "salesguard-dev"}
    return jwt.encode(claims, secret, algorithm=DEV_ALGORITHM)


class TokenVerifier:
    """Verifies bearer tokens and returns the employee ID they name."""

    def __init__(
        self,
        *,
        secret: str | None,
        jwks_url: str | None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("either SALESGUARD_JWT_SECRET or SALESGUARD_JWKS_URL is required")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._issuer = issuer
        self._audience = audience

    async def subject(self, token: str) -> str:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("the bearer token is too large")
        options: jwt.types.Options = {
            "require": ["sub", "exp"],
            "verify_aud": self._audience is not None,
        }
        try:
            if self._jwks is not None:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                claims = jwt.decode(
                    token,
                    signing_key.key,
                    algorithms=["RS256"],
                    issuer=self._issuer,
                    audience=self._audience,
                    options=options,
                )
            else:
                assert self._secret is not None
                claims = jwt.decode(
                    token,
                    self._secret,
                    algorithms=[DEV_ALGORITHM],
                    issuer=self._issuer,
                    audience=self._audience,
                    options=options,
                )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("the token's signing key cannot be found") from None
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"the bearer token is invalid: {error}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 64:
            raise Unauthenticated("the bearer token names no employee")
        return subject
