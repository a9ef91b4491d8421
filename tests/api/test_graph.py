"""``GET /entities/{id}/neighbourhood`` and the vendored graph library the chat page draws it with."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import load_service
from api.main import create_app
from kgrag.config import Settings

VENDOR = Path(__file__).resolve().parents[2] / "api" / "static" / "vendor"


@pytest.fixture(scope="module")
def client(tiny_store: Path, small_chat_model) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = Settings(store=tiny_store, index=Path("none"), model="smollm2-135m-instruct", device="cpu",
                        max_new_tokens=8, max_batch=1)
    service = load_service(settings, small_chat_model)
    try:
        with TestClient(create_app(settings, service=service)) as c:
            yield c
    finally:
        service.close()


def test_the_neighbourhood_is_nodes_and_labelled_edges(client: TestClient) -> None:
    body = client.get("/entities/cmekg:糖尿病/neighbourhood", params={"lang": "zh"}).json()
    assert body["center"] == "cmekg:糖尿病" and body["facts_total"] >= len(body["edges"])
    nodes = {n["id"]: n for n in body["nodes"]}
    edge = next(e for e in body["edges"] if e["label"] == "就诊科室")
    assert nodes[edge["source"]]["label"] == "糖尿病" and nodes[edge["target"]]["label"] == "内分泌科"
    assert edge["kg_source"] == "cmekg" and "mini.jsonl" in edge["provenance"]


def test_by_name_in_english_with_a_limit(client: TestClient) -> None:
    body = client.get("/entities/Seizure/neighbourhood", params={"limit": 3}).json()
    assert body["center"] == "hpo:HP:0001250" and 1 <= len(body["edges"]) <= 3


def test_the_entity_route_still_answers_beside_it(client: TestClient) -> None:
    assert client.get("/entities/cmekg:糖尿病").json()["name"] == "糖尿病"


def test_unknown_entities_and_bad_options_are_named(client: TestClient) -> None:
    r = client.get("/entities/nope:nothing/neighbourhood")
    assert r.status_code == 404 and "no entity" in r.json()["error"]["message"]
    r = client.get("/entities/cmekg:糖尿病/neighbourhood", params={"lang": "fr"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "query.lang"
    assert client.get("/entities/cmekg:糖尿病/neighbourhood", params={"limit": 0}).status_code == 422


def test_the_page_and_its_library_are_served_from_the_service(client: TestClient) -> None:
    page = client.get("/").text
    src = re.search(r'<script src="(vendor/[^"]+)"></script>', page)
    assert src, "the page loads no vendored library"
    js = client.get("/" + src.group(1))
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "cytoscape" in js.text[:2000]


def test_the_vendored_file_is_the_pinned_one_with_its_licence() -> None:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((VENDOR / "cytoscape.min.js").read_bytes()).hexdigest()
    assert f"`cytoscape.min.js` sha256: `{digest}`" in readme
    assert "Permission is hereby granted" in (VENDOR / "cytoscape.LICENSE").read_text(encoding="utf-8")
