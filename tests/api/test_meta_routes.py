"""``/health``, ``/ready``, ``/search``, ``/entities/{id}`` and the page at ``/``."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_and_ready_report_what_is_loaded(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] is True and ready["model"] == "smollm2-135m-instruct" and ready["device"] == "cpu"
    assert ready["entities"] > 200_000 and ready["facts"] > 1_000_000
    assert ready["batcher"]["max_batch"] == 4


def test_search_returns_the_ranked_facts(client: TestClient) -> None:
    body = client.get("/search", params={"q": "糖尿病挂什么科", "top_k": 3}).json()
    assert len(body["facts"]) == 3 and body["facts"][0]["relation"] == "department"
    assert client.get("/search", params={"q": ""}).status_code == 422


def test_an_entity_shows_its_facts_and_links_and_unknown_ids_are_404(client: TestClient) -> None:
    body = client.get("/entities/cmekg:糖尿病").json()
    assert body["name"] == "糖尿病" and body["facts"] and body["links"]
    assert client.get("/entities/hpo:HP:0001250").json()["name"] == "Seizure"
    r = client.get("/entities/nope:nothing")
    assert r.status_code == 404 and "no entity" in r.json()["error"]["message"]


def test_the_web_page_is_served_at_the_root(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html") and "<html" in r.text.lower()
