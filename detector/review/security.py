"""Guards for the local review page: Host allow-list, access token, CSRF, Origin.

The page listens on loopback by default. A browser on the same machine could still
be tricked by another site (DNS rebinding, cross-site form posts), so:

* every request's ``Host`` must be ``localhost``/``127.0.0.1``/``[::1]`` or the bound
  host, with any port (else 400): Starlette's ``TrustedHostMiddleware`` checks it against
  :attr:`SecurityConfig.allowed_hosts`, outside the token check (``app.py``);
* with ``--allow-remote`` every request must carry the ``--token`` (``?token=`` once,
  then a cookie; or an ``X-Waypoint-Token`` header), else 401;
* every POST must carry a CSRF token (HMAC of the per-browser session cookie with a
  per-server secret) and a same-origin ``Origin`` (or ``Referer``), else 403.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from detector.errors import InputError

SESSION_COOKIE = "waypoint_session"
TOKEN_COOKIE = "waypoint_token"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SecurityConfig:
    """What the server accepts; ``secret`` is fresh per server start unless given."""

    host: str = "127.0.0.1"
    allow_remote: bool = False
    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            if not self.allow_remote:
                raise InputError(
                    f"refusing to listen on {self.host}: the review page shows customs data",
                    hint="keep the default 127.0.0.1, or pass --allow-remote with --token",
                )
            if not self.token or len(self.token) < 16:
                raise InputError("--allow-remote needs a --token of at least 16 characters",
                                 hint="e.g. --token $(python -c 'import secrets; print(secrets.token_urlsafe())')")

    @property
    def allowed_hosts(self) -> list[str]:
        """Host names a request may carry, as ``TrustedHostMiddleware`` compares them: lower
        case, IPv6 literals in brackets (``[::1]``), no port. The wildcard addresses
        (``0.0.0.0``, ``::``) name no host a browser sends, and a ``*`` would make Starlette
        accept any Host, so neither is added."""
        names = {"localhost", "127.0.0.1", "[::1]"}
        bound = self.host.strip("[]").lower()
        if bound not in ("0.0.0.0", "::") and "*" not in bound:
            names.add(f"[{bound}]" if ":" in bound else bound)
        return sorted(names)

    def csrf_token(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, token: str | None) -> bool:
        return bool(session and token) and hmac.compare_digest(self.csrf_token(session), token)


def same_origin(request_host: str, origin_or_referer: str) -> bool:
    """True when an Origin/Referer URL names the host (and port) the request was sent to."""
    parts = urlsplit(origin_or_referer)
    return bool(parts.scheme in {"http", "https"} and parts.netloc) and parts.netloc.lower() == request_host.strip().lower()


class SecurityMiddleware:
    """Pure ASGI middleware: token check, session cookie, security headers (the Host was
    checked before, by ``TrustedHostMiddleware``).

    CSRF is checked per route (``require_csrf`` in ``app.py``) because it needs the
    form body; this layer only makes sure the session cookie exists and exposes it
    as ``scope["state"]["session"]``.
    """

    def __init__(self, app, config: SecurityConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        cookies = {k: m.value for k, m in SimpleCookie(headers.get("cookie", "")).items()}
        set_cookies: list[str] = []
        if self.config.token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [None])[0] or headers.get("x-waypoint-token") or cookies.get(TOKEN_COOKIE)
            if not given or not hmac.compare_digest(given.encode(), self.config.token.encode()):
                return await _plain(send, 401, "This review page needs its access token: open it with ?token=...")
            if cookies.get(TOKEN_COOKIE) != self.config.token:
                set_cookies.append(f"{TOKEN_COOKIE}={self.config.token}; Path=/; HttpOnly; SameSite=Strict")
        session = cookies.get(SESSION_COOKIE)
        if not session or len(session) < 16:
            session = secrets.token_urlsafe(24)
            set_cookies.append(f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict")
        scope.setdefault("state", {})["session"] = session

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"set-cookie", c.encode("latin-1")) for c in set_cookies] + [
                    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                     b"script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


async def _plain(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
