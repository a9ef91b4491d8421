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


def test_ready_and_models_name_the_adapter_and_what_it_does_not_match(  # type: ignore[no-untyped-def]
        api_settings, small_chat_model, tmp_path) -> None:
    """An adapter in use is named by /ready (with the store it was trained on and every mismatch with
    the served store and prompt) and by /v1/models."""
    import json

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from api.deps import load_service
    from api.main import create_app
    from kgrag.generation.adapters import MANIFEST_FORMAT, WEIGHTS, file_sha256, prompt_fingerprint

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    base = AutoModelForCausalLM.from_pretrained(small_chat_model.model.name_or_path)
    get_peft_model(base, lora).save_pretrained(tmp_path)
    manifest = {"format": MANIFEST_FORMAT, "name": "kgqa-test",
                "base": {"name": api_settings.model, "gguf_sha256": "x"},
                "store": {"checksum": "0" * 64}, "prompt": {"fingerprint": prompt_fingerprint()},
                "adapter": {"sha256": file_sha256(tmp_path / WEIGHTS)}, "commit": "abc"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    service = load_service(api_settings.model_copy(update={"adapter": str(tmp_path)}))
    try:
        with TestClient(create_app(service.settings, service=service)) as c:
            adapter = c.get("/ready").json()["adapter"]
            assert adapter["name"] == "kgqa-test" and adapter["trained_on_store"] == "0" * 64
            assert len(adapter["mismatches"]) == 1 and "KG store" in adapter["mismatches"][0]
            assert c.get("/v1/models").json()["data"][0]["adapter"] == "kgqa-test"
    finally:
        service.close()
