"""The FastAPI application: the HTTP API, the page and its assets.

Routes
------
``POST /api/predict``
    Structure files (multipart ``files``: CIF, POSCAR/CONTCAR, extended XYZ,
    compressed or not) or JSON ``{"structures": [text or {"name", "text"}, ...]}``;
    one row per structure with the columns of ``sklearn-bandgap predict``
    (``?format=csv``: its CSV). ``formation_energy`` (form field, JSON key or
    query) adds the shipped formation-energy model.
``GET /api/models``, ``GET /api/models/{name}``, ``GET /api/models/{name}/parity.png``
    The shipped models' cards and parity plots.
``GET /``
    The page (``static/``), served by the package itself: no CDN, no build step.

Uploaded files are read in memory under the request's size limit: their names
are only ids and format hints, never paths on this machine.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from sklearn_bandgap.screening._chunks import ModelSpec, resolve_model
from sklearn_bandgap.screening._sources import Item
from sklearn_bandgap.serve._limits import BodySizeLimit, Limits, RequestTooLarge
from sklearn_bandgap.serve._pool import PredictionPool

#: Columns that hold text; every other column of a row is a number (or null).
TEXT_COLUMNS = ("id", "formula", "warning", "error")
FORMATION_ENERGY_MODEL = "formation_energy_mp2018"


class PredictResponse(BaseModel):
    """The rows of one request, as ``sklearn-bandgap predict`` would write them."""

    columns: list[str] = Field(description="the CSV header of sklearn-bandgap predict")
    rows: list[dict[str, str | float | None]] = Field(
        description="one per structure (CIF blocks and XYZ frames apart), in input order"
    )
    n_predicted: int
    n_failed: int = Field(description="rows with a reason in their error column")


class JsonStructures(BaseModel):
    """The JSON form of a request: structure texts, each alone or with a file name."""

    structures: list[str | dict[str, str]] = Field(
        description='CIF, POSCAR or extended-XYZ texts, or {"name": "x.extxyz", "text": ...}'
    )
    formation_energy: bool = False


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "CIF, POSCAR/CONTCAR, extended XYZ; .gz/.bz2/.xz",
                        },
                        "formation_energy": {"type": "boolean"},
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": JsonStructures.model_json_schema()},
        },
    }
}


def create_app(
    model: str = "band_gap_mp2018",
    *,
    workers: int = 1,
    limits: Limits | None = None,
) -> FastAPI:
    """The server's application, with its own pool of prediction workers.

    Parameters
    ----------
    model : str, default="band_gap_mp2018"
        Shipped model name or ``.safetensors`` path of the headline model.
    workers : int, default=1
        Worker processes that predict (each loads the models once).
    limits : Limits, default=None
        Request limits (default: :class:`Limits()`).

    Returns
    -------
    app : FastAPI
        Run it with uvicorn (``sklearn-bandgap serve``) or FastAPI's test client.
    """
    limits = limits or Limits()
    specs = [resolve_model(model)]
    extra = resolve_model(FORMATION_ENERGY_MODEL)
    with_energy = list(specs)
    if os.path.realpath(extra.path) != os.path.realpath(specs[0].path):
        with_energy.append(extra)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = PredictionPool(with_energy, workers)
        try:
            await asyncio.to_thread(pool.start)
            state["pool"] = pool
            state["headers"] = {
                False: await asyncio.to_thread(pool.header, specs),
                True: await asyncio.to_thread(pool.header, with_energy),
            }
            yield
        finally:
            pool.close()

    app = FastAPI(
        title="sklearn_bandgap",
        summary="Band gaps (and formation energies) of crystal structures",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads its scripts from a CDN; the schema is enough
        redoc_url=None,
    )
    app.add_middleware(BodySizeLimit, max_bytes=limits.max_request_bytes)
    app.mount("/static", StaticFiles(packages=[("sklearn_bandgap.serve", "static")]), "static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        index = files("sklearn_bandgap.serve").joinpath("static/index.html")
        return HTMLResponse(index.read_text(encoding="utf-8"))

    @app.get("/api/models", summary="The shipped models' cards (summary)")
    async def models() -> list[dict[str, Any]]:
        from sklearn_bandgap.pretrained import list_pretrained, model_card

        return [
            _summary(model_card(name), served=name in _served_names(specs))
            for name in list_pretrained()
        ]

    @app.get("/api/models/{name}", summary="A shipped model's card")
    async def card(name: str) -> dict[str, Any]:
        return _card(name)

    @app.get("/api/models/{name}/parity.png", summary="A shipped model's test parity plot")
    async def parity(name: str) -> FileResponse:
        from sklearn_bandgap.pretrained._registry import MODELS_DIR

        _card(name)  # 404 for unknown names: the name never reaches a path unchecked
        path = MODELS_DIR / f"{name}_parity.png"
        if not path.is_file():
            raise HTTPException(404, f"no parity plot is shipped for {name}")
        return FileResponse(path, media_type="image/png")

    @app.post(
        "/api/predict",
        summary="Predict the structures of uploaded files or JSON texts",
        response_model=PredictResponse,
        openapi_extra=_REQUEST_BODY,
        responses={
            400: {"description": "a malformed body"},
            413: {"description": "too large or too many structures"},
            415: {"description": "neither multipart/form-data nor JSON"},
        },
    )
    async def predict(request: Request, format: str = "json") -> Response:
        if format not in ("json", "csv"):
            raise HTTPException(400, f"format={format!r}: use json or csv")
        items, energy = await _read_request(request, limits)
        chosen = with_energy if energy else specs
        header = state["headers"][energy]
        rows = await state["pool"].rows(
            chosen,
            items,
            n_values=len(header) - 4,  # id, formula ... warning, error
            chunk_size=limits.chunk_size,
            timeout=limits.timeout,
        )
        if format == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
            return Response(out.getvalue(), media_type="text/csv")
        records = [_record(header, row) for row in rows]
        failed = sum(1 for row in rows if row[-1])
        body = PredictResponse(
            columns=header, rows=records, n_predicted=len(rows) - failed, n_failed=failed
        )
        return JSONResponse(body.model_dump())

    return app


async def _read_request(request: Request, limits: Limits) -> tuple[list[Item], bool]:
    """The request's items and whether the formation energy is asked for."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    energy = _flag(request.query_params.get("formation_energy", "false"))
    items: list[Item] = []
    if content_type == "multipart/form-data":
        try:
            form = await request.form(
                max_files=limits.max_structures + 1, max_fields=limits.max_structures + 10
            )
        except (HTTPException, RequestTooLarge):
            raise
        except Exception as exc:  # a truncated or garbled body
            raise HTTPException(400, f"cannot read the uploaded form: {exc}") from None
        uploads = [value for key, value in form.multi_items() if key == "files"]
        for value in uploads:
            if isinstance(value, str):  # a text field named files: its text
                items.append(Item(f"text {len(items) + 1}", value, "text"))
                continue
            name = os.path.basename((value.filename or "").replace("\\", "/")) or "upload"
            items.append(Item(name, (name, await value.read()), "upload"))
        if "formation_energy" in form:
            energy = _flag(str(form["formation_energy"]))
        if not uploads:
            raise HTTPException(400, "no files: upload them in the form field 'files'")
    elif content_type == "application/json":
        try:
            body = JsonStructures.model_validate_json(await request.body())
        except ValueError as exc:
            raise HTTPException(400, f"the JSON body is not {_JSON_SHAPE}: {_first(exc)}") from None
        for k, entry in enumerate(body.structures, start=1):
            if isinstance(entry, str):
                items.append(Item(f"structure {k}", entry, "text"))
            elif set(entry) == {"name", "text"}:
                name = os.path.basename(entry["name"].replace("\\", "/")) or f"structure {k}"
                items.append(Item(name, (name, entry["text"].encode()), "upload"))
            else:
                raise HTTPException(400, f"structures[{k - 1}]: give a text or {{name, text}}")
        energy = energy or body.formation_energy
        if not items:
            raise HTTPException(400, "no structures: the list 'structures' is empty")
    else:
        raise HTTPException(
            415, f"send multipart/form-data (files) or application/json, not {content_type!r}"
        )
    if len(items) > limits.max_structures:
        raise HTTPException(
            413,
            f"{len(items)} structures in one request, more than this server's limit of "
            f"{limits.max_structures}: send them in several requests",
        )
    return items, energy


_JSON_SHAPE = '{"structures": [text, ...], "formation_energy": false}'


def _first(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return str(exc)


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _record(header: list[str], row: list[Any]) -> dict[str, str | float | None]:
    """A CSV row as JSON: numbers as numbers (the CSV's 6 decimals), empty cells as null."""
    record: dict[str, str | float | None] = {}
    for column, value in zip(header, row, strict=True):
        if column in TEXT_COLUMNS:
            record[column] = str(value)
        else:
            record[column] = float(value) if value != "" else None
    return record


def _card(name: str) -> dict[str, Any]:
    from sklearn_bandgap.pretrained import list_pretrained, model_card

    if name not in list_pretrained():
        raise HTTPException(404, f"no shipped model named {name!r}; shipped: {list_pretrained()}")
    return model_card(name)


def _summary(card: dict[str, Any], *, served: bool) -> dict[str, Any]:
    from sklearn_bandgap.metrics import headline_figures

    headline = headline_figures(card["test"])
    return {
        "name": card["name"],
        "description": card["description"],
        "outputs": card["outputs"],
        "test_mae": headline["mae"],
        "n_test": card["split"]["n_test"],
        "served": served,
    }


def _served_names(specs: list[ModelSpec]) -> set[str]:
    from pathlib import Path

    return {Path(spec.path).stem for spec in specs} | {FORMATION_ENERGY_MODEL}


def _version() -> str:
    from sklearn_bandgap import __version__

    return __version__
