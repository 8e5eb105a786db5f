"""The review web page: queue of flagged shipments, shipment detail, decisions.

``create_app`` builds a FastAPI application over scored files (read lazily), the
decision store and optional component imports / tariff events. Security (Host
allow-list, token, CSRF, Origin) is in ``detector.review.security``.
"""
from __future__ import annotations

from urllib.parse import urlencode

import polars as pl
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from detector.review.pictures import shipment_pictures
from detector.review.queue import Filters, ScoredSet
from detector.review.security import CSRF_FIELD, CSRF_HEADER, SecurityConfig, SecurityMiddleware, same_origin
from detector.review.store import STATUSES, DecisionStore
from detector.review.templating import STATIC, environment

ANALYST_COOKIE = "waypoint_analyst"
#: Columns shown at the top of the shipment page; every other column follows.
_HEAD = ("shipment_id", "risk_score", "risk_rank", "flagged", "model_name", "model_version")


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
) -> FastAPI:
    """Build the review application (no module-level state: everything hangs off the app)."""
    security = security or SecurityConfig()
    app = FastAPI(title="waypoint review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityMiddleware, config=security)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    templates = Jinja2Templates(env=environment())
    facets = scored.facets()

    def page_context(request: Request, **values) -> dict:
        return {
            "csrf_token": security.csrf_token(request.state.session),
            "csrf_field": CSRF_FIELD,
            "analyst": request.cookies.get(ANALYST_COOKIE, ""),
            "statuses": STATUSES,
            "source": scored.label,
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
                         here=str(request.url.path) + ("?" + request.url.query if request.url.query else "")),
        )

    @app.get("/shipment/{shipment_id}", response_class=HTMLResponse)
    def shipment(request: Request, shipment_id: str, back: str = "/"):
        row = scored.shipment(shipment_id)
        if row is None:
            raise HTTPException(404, f"shipment {shipment_id} is not in {scored.label}")
        head = [(c, row[c]) for c in _HEAD if c in row]
        contract = [(c, v) for c, v in row.items() if c not in _HEAD and not c.startswith(("f_", "ev_")) and c not in ("reasons", "reason_codes")]
        evidence = [(c, v) for c, v in row.items() if c.startswith("ev_")]
        feats = [(c, v) for c, v in row.items() if c.startswith("f_")]
        history = store.history(shipment_id)
        open_of_exporter = len(scored.open_flagged(row["exporter_id"], store.current_status())) if row.get("exporter_id") else 0
        return templates.TemplateResponse(
            request, "shipment.html",
            page_context(request, row=row, head=head, contract=contract, evidence=evidence, features=feats,
                         history=history, pictures=shipment_pictures(scored, row, inputs=inputs, events=events),
                         status=history[-1].status if history else "open", back=_local_path(back),
                         open_of_exporter=open_of_exporter,
                         exporter_link="/?" + urlencode({"exporter": row.get("exporter_id") or ""}),
                         importer_link="/?" + urlencode({"importer": row.get("importer_id") or ""})),
        )

    def remember(response, analyst: str):
        response.set_cookie(ANALYST_COOKIE, analyst, max_age=180 * 86400, httponly=True, samesite="strict")
        return response

    @app.post("/shipment/{shipment_id}/decide", dependencies=[Depends(require_csrf)])
    def decide(shipment_id: str, status: str = Form(...), note: str = Form(""), analyst: str = Form(""),
               next: str = Form("")):
        if status not in STATUSES:
            raise HTTPException(422, f"unknown status {status!r}")
        row = scored.shipment(shipment_id)
        if row is None:
            raise HTTPException(404, f"shipment {shipment_id} is not in {scored.label}")
        store.decide(shipment_id, status, note=note.strip(), analyst=analyst.strip(), context=scored.context(shipment_id, row))
        target = _local_path(next, f"/shipment/{shipment_id}")
        return remember(RedirectResponse(target, status_code=303), analyst.strip())

    @app.post("/bulk-decide", dependencies=[Depends(require_csrf)])
    def bulk_decide(exporter: str = Form(...), status: str = Form(...), note: str = Form(""),
                    analyst: str = Form(""), next: str = Form("")):
        if status not in STATUSES:
            raise HTTPException(422, f"unknown status {status!r}")
        rows = scored.open_flagged(exporter, store.current_status())
        if rows:
            store.decide_many([r["shipment_id"] for r in rows], status, note=note.strip(), analyst=analyst.strip(),
                              contexts={r["shipment_id"]: scored.context(r["shipment_id"], r) for r in rows})
        target = _local_path(next, "/?" + urlencode({"exporter": exporter}))
        return remember(RedirectResponse(target, status_code=303), analyst.strip())

    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run the application with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)



def build_app(
    scored_paths: list,
    db,
    *,
    security: SecurityConfig | None = None,
    inputs=None,
    events=None,
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
    )


__all__ = ["build_app", "create_app", "serve"]
