"""``sklearn-bandgap serve``: the HTTP API through FastAPI's test client.

The rows are those of ``sklearn-bandgap predict`` (same core, same values);
every bad input kind of the predict command gets its own row with a reason;
limits give 413 with a message; garbage bodies a 4xx, never a 500; a
client-supplied name never reaches the filesystem.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
import re
import signal
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from sklearn_bandgap.cli import main
from sklearn_bandgap.serve import Limits, create_app
from sklearn_bandgap.serve._process import serving

EXAMPLES = Path(__file__).parents[1] / "sklearn_bandgap" / "pretrained" / "examples"
SI = (EXAMPLES / "Si_diamond.cif").read_text()
MGO = (EXAMPLES / "MgO_rocksalt.cif").read_text()
LIMITS = Limits(max_request_bytes=2 * 2**20, max_structures=40, timeout=60.0, chunk_size=4)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(workers=1, limits=LIMITS)) as test_client:
        yield test_client


def _good_files() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(EXAMPLES.iterdir()) if p.suffix != ".md"]


def _bad_files() -> dict[str, bytes]:
    """One upload of every bad kind the predict command's tests use."""
    lines = SI.rstrip("\n").splitlines()
    return {
        "coinciding.cif": ("\n".join([*lines, lines[-1]]) + "\n").encode(),
        "not_a_structure.cif": b"hello, I am not a crystal\n",
        "empty.cif": b"",
        "truncated.cif": SI[: len(SI) // 2].encode(),
        "disordered.cif": (
            "\n".join([*lines[:-1], lines[-1].rsplit(" ", 1)[0] + " 0.5"]) + "\n"
        ).encode(),
        "flat.vasp": b"flat\n1.0\n1 0 0\n0 1 0\n0 0 0\nSi\n1\ndirect\n0 0 0\n",
        "corrupt.cif.gz": b"\x1f\x8b not really gzip",
        "binary.cif": os.urandom(2048),
        "water.extxyz": b'3\nProperties=species:S:1:pos:R:3 pbc="F F F"\n'
        b"O 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n",
    }


def _upload(named: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, data)) for name, data in named]


def test_good_files_of_every_format_are_predicted(client):
    good = _good_files()
    good.append(("Si.cif.gz", gzip.compress(SI.encode())))
    good.append(("MgO.cif.bz2", bz2.compress(MGO.encode())))
    reply = client.post("/api/predict", files=_upload(good))
    assert reply.status_code == 200
    body = reply.json()
    assert body["n_failed"] == 0 and body["n_predicted"] == len(good)
    assert body["columns"][:3] == ["id", "formula", "band_gap"]
    assert "band_gap_low_90" in body["columns"]
    rows = {row["id"]: row for row in body["rows"]}
    assert rows["Si.cif.gz"]["formula"] == "Si" and rows["MgO.cif.bz2"]["formula"] == "MgO"
    # in another chunk (batch) of the network: equal up to float32 rounding
    same = pytest.approx(rows["Si_diamond.cif"]["band_gap"], abs=3e-6)
    assert rows["Si.cif.gz"]["band_gap"] == same
    assert rows["ZnO_wurtzite.vasp"]["formula"] == "ZnO"
    assert all(isinstance(r["band_gap"], float) and r["error"] == "" for r in body["rows"])


def test_every_bad_kind_gets_its_own_row_and_reason(client):
    bad = _bad_files()
    two_blocks = ("two_blocks.cif", (MGO + "\ndata_broken\n_cell_length_a 5\n").encode())
    uploads = [("Si_diamond.cif", SI.encode()), *bad.items(), two_blocks]
    reply = client.post("/api/predict", files=_upload(uploads))
    assert reply.status_code == 200
    rows = reply.json()["rows"]
    by_id = {row["id"]: row for row in rows}
    assert by_id["Si_diamond.cif"]["error"] == "" and by_id["Si_diamond.cif"]["band_gap"] > -1
    for name in bad:
        assert by_id[name]["error"], name
        assert by_id[name]["band_gap"] is None, name
    assert "coincide" in by_id["coinciding.cif"]["error"]
    assert "disordered" in by_id["disordered.cif"]["error"]
    assert "not a periodic crystal" in by_id["water.extxyz"]["error"]
    assert "not a valid .gz" in by_id["corrupt.cif.gz"]["error"]
    first = by_id["two_blocks.cif#1"]
    assert first["formula"] == "MgO" and first["error"] == ""
    assert by_id["two_blocks.cif#2"]["error"].startswith("cannot read")
    assert reply.json()["n_failed"] == len(bad) + 1


def test_rows_are_those_of_the_predict_command(client, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    uploads = [*_good_files(), ("broken.cif", b"data_x\n_cell_length_a 3\n")]
    for name, data in uploads:
        (folder / name).write_bytes(data)
    command = str(Path(sys.executable).with_name("sklearn-bandgap"))
    cli = subprocess.run(  # the command as users run it: a process of its own
        [command, "predict", str(folder), "--formation-energy", "--chunk-size", "4"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 1  # the broken file
    cli_rows = list(csv.reader(io.StringIO(cli.stdout)))
    reply = client.post(
        "/api/predict?format=csv", files=_upload(uploads), data={"formation_energy": "true"}
    )
    assert reply.status_code == 200
    api_rows = list(csv.reader(io.StringIO(reply.text)))
    assert api_rows[0] == cli_rows[0]  # the same header
    by_name = {Path(row[0]).name: row[1:] for row in cli_rows[1:]}
    assert {row[0]: row[1:] for row in api_rows[1:]} == by_name
    as_json = client.post(
        "/api/predict", files=_upload(uploads), data={"formation_energy": "true"}
    ).json()
    for row in as_json["rows"]:  # JSON numbers are the CSV's, empty cells null
        for column, value in zip(cli_rows[0][1:], by_name[row["id"]], strict=True):
            expected = value if column in ("formula", "warning", "error") else None
            if expected is None and value != "":
                expected = float(value)
            assert row[column] == expected, (row["id"], column)


def test_json_texts_with_and_without_names(client):
    xyz = '2\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
    xyz += "Na 0 0 0\nCl 1.5 1.5 1.5\n"
    body = {"structures": [SI, {"name": "nacl.extxyz", "text": xyz}], "formation_energy": True}
    reply = client.post("/api/predict", json=body)
    assert reply.status_code == 200
    rows = reply.json()["rows"]
    assert [r["id"] for r in rows] == ["structure 1", "nacl.extxyz"]
    assert [r["formula"] for r in rows] == ["Si", "NaCl"]
    assert all(r["formation_energy_per_atom"] is not None for r in rows)


def test_client_names_and_texts_never_reach_the_filesystem(client, tmp_path):
    secret = tmp_path / "secret.cif"
    secret.write_text(SI)  # a readable structure file on the server's disk
    uploads = [(str(secret), b"not a structure"), ("../../" + secret.name, b"nor this")]
    rows = client.post("/api/predict", files=_upload(uploads)).json()["rows"]
    assert [r["id"] for r in rows] == ["secret.cif", "secret.cif"]  # base names only
    assert all(r["error"].startswith("cannot read") for r in rows)  # the bytes, not the file
    as_text = client.post("/api/predict", json={"structures": [str(secret)]}).json()["rows"]
    assert as_text[0]["error"] and as_text[0]["formula"] == ""
    named = {"structures": [{"name": str(secret), "text": "junk"}]}
    assert client.post("/api/predict", json=named).json()["rows"][0]["error"]
    assert client.get("/static/../_app.py").status_code == 404
    assert client.get("/api/models/..%2F..%2Fetc%2Fpasswd/parity.png").status_code == 404


def test_limits_answer_413_with_a_message(client):
    many = [("Si.cif", SI.encode())] * (LIMITS.max_structures + 1)
    reply = client.post("/api/predict", files=_upload(many))
    assert reply.status_code == 413 and "limit of 40" in reply.json()["detail"]
    big = [("big.cif", b"x" * (LIMITS.max_request_bytes + 10))]
    reply = client.post("/api/predict", files=_upload(big))
    assert reply.status_code == 413 and "MB" in reply.json()["detail"]

    def chunked():  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b"{" * 2**20

    reply = client.post(
        "/api/predict", content=chunked(), headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413

    def chunked_upload():  # a well-formed form whose file outgrows the limit
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.cif"\r\n\r\n'
        for _ in range(3):
            yield b"a" * 2**20
        yield b"\r\n--x--\r\n"

    reply = client.post(
        "/api/predict",
        content=chunked_upload(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert reply.status_code == 413 and "MB" in reply.json()["detail"]
    assert client.post("/api/predict", json={"structures": [SI]}).status_code == 200


def test_the_time_limit_names_every_structure_it_did_not_reach():
    limits = Limits(timeout=1e-9, chunk_size=1)
    with TestClient(create_app(workers=1, limits=limits)) as quick:
        reply = quick.post("/api/predict", json={"structures": [SI, MGO]})
    assert reply.status_code == 200
    rows = reply.json()["rows"]
    assert [r["id"] for r in rows] == ["structure 1", "structure 2"]
    assert all("time limit" in r["error"] and r["band_gap"] is None for r in rows)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "the JSON body is not"),
        (b'{"structures": "one"}', "application/json", 400, "structures"),
        (b'{"structures": []}', "application/json", 400, "empty"),
        (b'{"structures": [{"path": "/etc/passwd"}]}', "application/json", 400, "structures"),
        (b"[1, 2]", "application/json", 400, "the JSON body is not"),
        (b"hello", "text/plain", 415, "multipart/form-data"),
        (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.cif"\r\n\r\nda',
            "multipart/form-data; boundary=b",
            400,
            "",
        ),
        (b"", "multipart/form-data; boundary=b", 400, ""),
        (b"\x00\xff" * 100, "multipart/form-data", 400, ""),
    ],
)
def test_garbage_bodies_get_a_4xx_with_a_reason(client, content, content_type, status, message):
    reply = client.post("/api/predict", content=content, headers={"content-type": content_type})
    assert reply.status_code == status, reply.text
    assert message in reply.json()["detail"]


def test_an_unknown_output_format_is_refused(client):
    reply = client.post("/api/predict?format=xml", json={"structures": [SI]})
    assert reply.status_code == 400 and "format" in reply.json()["detail"]


def test_model_cards_and_parity_plots(client):
    models = client.get("/api/models").json()
    names = [m["name"] for m in models]
    assert names == ["band_gap_mp2018", "band_gap_mp2018_chgnet", "formation_energy_mp2018"]
    assert models[0]["served"] and models[0]["test_mae"] > 0
    card = client.get("/api/models/band_gap_mp2018").json()
    assert card["name"] == "band_gap_mp2018" and card["split"]["n_test"] == 3333
    plot = client.get("/api/models/band_gap_mp2018/parity.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content[:8] == b"\x89PNG\r\n\x1a\n"
    missing = client.get("/api/models/nope")
    assert missing.status_code == 404
    assert "no shipped model named 'nope'" in missing.json()["detail"]


def test_openapi_schema_describes_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/models", "/api/models/{name}"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN


def test_the_page_and_its_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/app.js"' in page.text
    for name in ("app.js", "style.css", "index.html"):
        text = files("sklearn_bandgap.serve").joinpath(f"static/{name}").read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name  # nothing from a CDN
        assert not re.search(r"""fetch\(["'`]https?:""", text), name
        assert client.get(f"/static/{name}").status_code == 200


def test_serve_command_checks_its_arguments(capsys, monkeypatch):
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err
    assert main(["serve", "--model", "no_such_model"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["serve", "--timeout", "0"]) == 2
    started = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(kw))
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert started == {"host": "0.0.0.0", "port": 8123, "log_level": "warning"}
    assert "Warning: listening on 0.0.0.0" in capsys.readouterr().err
    assert main(["serve"]) == 0
    assert "Warning" not in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_no_worker_outlives_the_server(stop):
    with serving() as (_, server):
        workers = _children(server.pid)
        assert workers  # the prediction worker (and multiprocessing's resource tracker)
        server.send_signal(stop)
        server.wait(timeout=60)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_killed_worker_costs_its_rows_and_the_next_request_is_served():
    with TestClient(create_app(workers=1, limits=LIMITS)) as fresh:
        assert fresh.post("/api/predict", json={"structures": [SI]}).json()["n_predicted"] == 1
        for pid in _children(os.getpid()):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        time.sleep(1.0)
        reply = fresh.post("/api/predict", json={"structures": [SI, MGO]})
        assert reply.status_code == 200
        rows = reply.json()["rows"]
        assert len(rows) == 2 and all("worker stopped" in r["error"] for r in rows)
        again = fresh.post("/api/predict", json={"structures": [SI, MGO]}).json()
        assert again["n_predicted"] == 2 and again["n_failed"] == 0
