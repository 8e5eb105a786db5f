"""The review web page: queue of flagged shipments, shipment detail, decisions.

``create_app`` builds a FastAPI application over scored files (read lazily), the
decision store and optional component imports / tariff events. Security (Host
allow-list, token, CSRF, Origin) is in ``detector.review.security``.

Shipment ids are taken as they come (national entry numbers hold ``/``, ``.``, ``%``,
``#``, spaces): every link carries the id as a query parameter (``/shipment?id=...``)
and every form as a field, so no id is ever split on ``/`` or normalised away as a
``..`` path segment by the browser. ``/shipment/{id:path}`` still answers old links.
"""
from __future__ import annotations

import datetime as dt
import functools
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import polars as pl
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from detector.review.history import ModelHistory, model_history
from detector.review.pictures import NAMES as PICTURES, shipment_pictures
from detector.review.queue import Filters, ScoredSet
from detector.review.security import CSRF_FIELD, CSRF_HEADER, SecurityConfig, SecurityMiddleware, same_origin
from detector.errors import InputError
from detector.review.store import STATUSES, DecisionStore, check_decision
from detector.review.templating import STATIC, environment

ANALYST_COOKIE = "waypoint_analyst"
#: Columns shown at the top of the shipment page; every other column follows.
_HEAD = ("shipment_id", "risk_score", "risk_rank", "flagged", "model_name", "model_version")


def shipment_url(shipment_id: str, back: str | None = None) -> str:
    """The page of one shipment; the id travels as a query parameter, percent-encoded."""
    params = {"id": shipment_id, **({"back": back} if back else {})}
    return "/shipment?" + urlencode(params, quote_via=quote)


def _local_path(value: str | None, default: str = "/") -> str:
    """Only same-site paths may be redirect targets (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def create_app(
    scored: ScoredSet,
    store: DecisionStore,
    *,
    security: SecurityConfig | None = None,
    inputs: pl.DataFrame | None = None,
    events: pl.DataFrame | None = None,
    access_log: str | Path | None = None,
    routes: list[dict] | None = None,
    history: ModelHistory | None = None,
    settings=None,
) -> FastAPI:
    """Build the review application (no module-level state: everything hangs off the app).

    ``routes``: the rows of a route table (`waypoint routes -o`) for the ``/routes`` page.

    ``history``: the model's history for the pictures; by default found from the scored
    files' lineage in the store of ``settings`` (default: from the environment), once, at
    the first picture drawn.

    ``access_log``: a file to which every request is appended as one line (``AccessLog``).
    """
    security = security or SecurityConfig()
    app = FastAPI(title="waypoint review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityMiddleware, config=security)
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    # Added after SecurityMiddleware, so it runs before it: a foreign Host (DNS rebinding) is
    # refused with 400 before the token is asked for; no www. redirect, a refusal is a refusal.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=security.allowed_hosts, www_redirect=False)
    if access_log is not None:
        app.add_middleware(AccessLog, path=access_log)  # added last: outermost, so refused requests are logged too
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    templates = Jinja2Templates(env=environment())
    facets = scored.facets()
    known: dict[str, ModelHistory] = {} if history is None else {"history": history}
    known_lock = threading.Lock()

    def model_state() -> ModelHistory:
        """The model's history, looked up once (the first shipment page waits for it)."""
        with known_lock:
            if "history" not in known:
                known["history"] = model_history(scored.paths, scored.first_day(), settings)
            return known["history"]

    @functools.lru_cache(maxsize=64)
    def pictures_of(shipment_id: str) -> dict:
        """The charts of one shipment (their SVG drawn once, when first asked for)."""
        row = scored.shipment(shipment_id)
        if row is None:
            raise HTTPException(404, f"shipment {shipment_id} is not in {scored.label}")
        return shipment_pictures(scored, row, inputs=inputs, events=events, history=model_state())

    def chart_url(shipment_id: str, name: str) -> str:
        return f"/chart/shipment/{name}.svg?" + urlencode({"id": shipment_id}, quote_via=quote)

    def page_context(request: Request, **values) -> dict:
        return {
            "csrf_token": security.csrf_token(request.state.session),
            "csrf_field": CSRF_FIELD,
            "analyst": unquote(request.cookies.get(ANALYST_COOKIE, "")),
            "statuses": STATUSES,
            "source": scored.label,
            "shipment_url": shipment_url,
            **values,
        }

    async def require_csrf(request: Request) -> None:
        """Refuse a state-changing request without a valid CSRF token or from another origin."""
        host = request.headers.get("host", "")
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        if origin and origin != "null":
            if not same_origin(host, origin):
                raise HTTPException(403, "cross-origin request refused")
        elif not (referer and same_origin(host, referer)):
            raise HTTPException(403, "request without a same-origin Origin or Referer refused")
        form = await request.form()
        token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
        if not security.csrf_ok(request.state.session, str(token) if token else None):
            raise HTTPException(403, "missing or invalid CSRF token: reload the page and try again")

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    def here_of(request: Request) -> str:
        return str(request.url.path) + ("?" + request.url.query if request.url.query else "")

    @app.get("/", response_class=HTMLResponse)
    def queue(request: Request, page: int = 1):
        filters = Filters.from_mapping(request.query_params)
        decided = store.current_status()
        result = scored.page(filters, decided, page)
        def link(**changes) -> str:
            params = filters.as_query()
            params.update({k: v for k, v in changes.items() if v})
            return "/?" + urlencode(params)
        return templates.TemplateResponse(
            request, "queue.html",
            page_context(request, result=result, filters=filters, facets=facets, link=link,
                         csv_link="/queue.csv" + ("?" + urlencode(filters.as_query()) if filters.as_query() else ""),
                         here=here_of(request)),
        )

    @app.get("/queue.csv")
    def queue_csv(request: Request):
        """Every flagged shipment the filters match (not only one page), as a spreadsheet-safe CSV."""
        from detector.io.write import neutralise_formulas

        filters = Filters.from_mapping(request.query_params)
        frame = neutralise_formulas(scored.matching(filters, store.current_status()))
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return Response(frame.write_csv(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="waypoint-queue-{stamp}.csv"'})

    def shipment_page(request: Request, shipment_id: str, back: str):
        row = scored.shipment(shipment_id)
        if row is None:
            raise HTTPException(404, f"shipment {shipment_id} is not in {scored.label}")
        head = [(c, row[c]) for c in _HEAD if c in row]
        contract = [(c, v) for c, v in row.items() if c not in _HEAD and not c.startswith(("f_", "ev_")) and c not in ("reasons", "reason_codes")]
        evidence = [(c, v) for c, v in row.items() if c.startswith("ev_")]
        feats = [(c, v) for c, v in row.items() if c.startswith("f_")]
        history = store.history(shipment_id)
        open_of_exporter = len(scored.open_flagged(row["exporter_id"], store.current_status())) if row.get("exporter_id") else 0
        back = _local_path(back)
        return templates.TemplateResponse(
            request, "shipment.html",
            page_context(request, row=row, head=head, contract=contract, evidence=evidence, features=feats,
                         history=history, pictures=pictures_of(shipment_id),
                         chart_url=lambda name: chart_url(shipment_id, name),
                         status=history[-1].status if history else "open", back=back,
                         here=shipment_url(shipment_id, back),
                         open_of_exporter=open_of_exporter,
                         exporter_link="/?" + urlencode({"exporter": row.get("exporter_id") or ""}),
                         importer_link="/?" + urlencode({"importer": row.get("importer_id") or ""})),
        )

    @app.get("/shipment", response_class=HTMLResponse)
    def shipment(request: Request, id: str = "", back: str = "/"):
        return shipment_page(request, id, back)

    @app.get("/shipment/{shipment_id:path}", response_class=HTMLResponse)
    def shipment_by_path(request: Request, shipment_id: str, back: str = "/"):
        """Links of earlier versions (the id in the path); ids with ``/`` or ``..`` need ``?id=``."""
        return shipment_page(request, shipment_id, back)

    def remember(response, analyst: str):
        # Percent-encoded: a name in any script (or with ; and ") fits a cookie, which is latin-1.
        response.set_cookie(ANALYST_COOKIE, quote(analyst, safe=""), max_age=180 * 86400, httponly=True, samesite="strict")
        return response

    def checked(status: str, note: str, analyst: str) -> tuple[str, str]:
        """The note and analyst of a decision, or a 422 saying what is missing."""
        if status not in STATUSES:
            raise HTTPException(422, f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        note, analyst = note.strip(), analyst.strip()
        try:
            check_decision(status, note=note, analyst=analyst)
        except InputError as exc:
            raise HTTPException(422, f"{exc}: {exc.hint}" if exc.hint else str(exc)) from None
        return note, analyst

    def record(shipment_id: str, status: str, note: str, analyst: str, next: str):
        note, analyst = checked(status, note, analyst)
        row = scored.shipment(shipment_id)
        if row is None:
            raise HTTPException(404, f"shipment {shipment_id} is not in {scored.label}")
        store.decide(shipment_id, status, note=note, analyst=analyst, context=scored.context(shipment_id, row))
        target = _local_path(next, shipment_url(shipment_id))
        return remember(RedirectResponse(target, status_code=303), analyst)

    @app.post("/decide", dependencies=[Depends(require_csrf)])
    def decide(shipment_id: str = Form(...), status: str = Form(""), note: str = Form(""), analyst: str = Form(""),
               next: str = Form("")):
        return record(shipment_id, status, note, analyst, next)

    @app.post("/shipment/{shipment_id:path}/decide", dependencies=[Depends(require_csrf)])
    def decide_by_path(shipment_id: str, status: str = Form(""), note: str = Form(""), analyst: str = Form(""),
                       next: str = Form("")):
        return record(shipment_id, status, note, analyst, next)

    @app.post("/bulk-decide", dependencies=[Depends(require_csrf)])
    def bulk_decide(exporter: str = Form(...), status: str = Form(""), note: str = Form(""),
                    analyst: str = Form(""), expected: str = Form(""), confirm: str = Form(""), next: str = Form("")):
        """All open flags of one exporter at once: no default status, and the analyst confirms
        the number of shipments shown, which must still be the number open now."""
        note, analyst = checked(status, note, analyst)
        rows = scored.open_flagged(exporter, store.current_status())
        if confirm != "yes":
            raise HTTPException(422, f"tick the box confirming the {len(rows)} shipments to decide at once")
        if expected != str(len(rows)):
            raise HTTPException(409, f"exporter {exporter} now has {len(rows)} open flags, not {expected or '?'}: "
                                     "reload the page and confirm again")
        if rows:
            store.decide_many([r["shipment_id"] for r in rows], status, note=note, analyst=analyst,
                              contexts={r["shipment_id"]: scored.context(r["shipment_id"], r) for r in rows})
        target = _local_path(next, "/?" + urlencode({"exporter": exporter}))
        return remember(RedirectResponse(target, status_code=303), analyst)

    @app.get("/chart/shipment/{name}.svg")
    def shipment_chart(name: str, id: str = ""):
        """One picture of a shipment as an SVG image (``<img>`` on the page: an image runs no
        script and needs no style the page's policy would refuse)."""
        if name not in PICTURES:
            raise HTTPException(404, f"no picture {name!r}: pictures are {', '.join(PICTURES)}")
        chart = pictures_of(id).get(name)
        if chart is None:
            raise HTTPException(404, f"shipment {id} has no {name} picture (no component imports given)")
        return Response(chart.svg(), media_type="image/svg+xml")

    @functools.lru_cache(maxsize=1)
    def route_cards_once() -> list[dict]:
        from detector.review.route_pictures import route_cards

        return route_cards(routes or [])

    @app.get("/chart/route/{index}.svg")
    def route_chart(index: int):
        cards = route_cards_once()
        if not 0 <= index < len(cards):
            raise HTTPException(404, f"no route {index}: the page shows {len(cards)}")
        return Response(cards[index]["picture"].svg(), media_type="image/svg+xml")

    @app.get("/routes", response_class=HTMLResponse)
    def routes_page(request: Request):
        cards = route_cards_once()
        return templates.TemplateResponse(
            request, "routes.html",
            page_context(request, routes=cards, flagged=sum(1 for r in cards if r["flagged"]),
                         routes_source=", ".join(sorted({r.get("dest_source") or "?" for r in cards})), cover=0.75),
        )

    return app


def bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` now, so a busy port is an error before the URL is announced.

    Port 0 takes any free port (``sock.getsockname()[1]`` says which).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host}: not an address this machine has ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # reuse a port in TIME_WAIT, not a busy one
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="another program (or review page) uses this port: stop it, or pass --port N") from None
    sock.set_inheritable(True)
    return sock


def serve(app: FastAPI, host: str | None = None, port: int | None = None, *, sock: socket.socket | None = None) -> None:
    """Run the application with uvicorn until interrupted, on ``sock`` (see :func:`bind`) or ``host:port``."""
    import uvicorn

    sock = sock or bind(host or "127.0.0.1", 8765 if port is None else port)
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False, server_header=False, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


class AccessLog:
    """Pure ASGI middleware: one line per request appended to a file.

    ``time client method path status bytes ms``; the ``token`` query parameter is
    blanked, and the path is written as the client sent it (percent-encoded), so no
    line can be forged by a request.
    """

    def __init__(self, app, path: str | Path) -> None:
        self.app = app
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.path.open("a", encoding="utf-8").close()  # fail at start, not at the first request

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        seen = {"status": 0, "bytes": 0}

        async def counting(message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            self._write(scope, seen, time.perf_counter() - started)

    def _write(self, scope, seen: dict, seconds: float) -> None:
        from urllib.parse import parse_qsl

        raw = scope.get("raw_path") or quote(scope.get("path", "")).encode()
        target = raw.decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            pairs = [(k, "-" if k == "token" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
            target += "?" + urlencode(pairs, quote_via=quote)
        client = scope.get("client") or ("-", 0)
        line = (f"{dt.datetime.now(dt.UTC).isoformat(timespec='milliseconds')} {client[0]} {scope.get('method', '-')} "
                f"{''.join(c if c.isprintable() and c != ' ' else quote(c) for c in target)} {seen['status']} "
                f"{seen['bytes']} {seconds * 1000:.0f}ms\n")
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)



def build_app(
    scored_paths: list,
    db,
    *,
    security: SecurityConfig | None = None,
    inputs=None,
    events=None,
    access_log=None,
    routes=None,
) -> FastAPI:
    """Open the scored files, the decision store and the side tables, and build the app."""
    from detector.review.queue import read_side_table
    from features.schema import EVENTS, INPUTS

    return create_app(
        ScoredSet(list(scored_paths)),
        DecisionStore(db),
        security=security,
        inputs=read_side_table(inputs, INPUTS),
        events=read_side_table(events, EVENTS),
        access_log=access_log,
        routes=None if routes is None else __import__("detector.review.route_pictures", fromlist=["read_routes"]).read_routes(routes),
    )


__all__ = ["AccessLog", "bind", "build_app", "create_app", "serve", "shipment_url"]
