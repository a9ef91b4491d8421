"""Put an adapter trained by ``benchmarks/gpu_adapter.sh train`` into ``adapters/`` with its manifest.

Joins the returned weight parts, checks their sha256 against the machine's, and writes
``manifest.json``: the base model (name, GGUF sha256), the KG store checksum, the training data
(file, records, sha256, and how to make it again), the prompt fingerprint, the exact commands, the
commit the run was made from, and the training and evaluation figures (eval JSONs given with
``--eval``).

    python benchmarks/ship_adapter.py --run /work/.device/... --out adapters/kgqa-qwen2.5-0.5b \\
        --commit 2ec124d --data-sums .ship/bundle/data_sums.txt --eval /path/eval_*.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

from kgrag.atomic import atomic_folder
from kgrag.generation.adapters import MANIFEST, MANIFEST_FORMAT, WEIGHTS, file_sha256, prompt_fingerprint
from kgrag.generation.catalog import KNOWN_MODELS
from kgrag.kg.store import read_manifest

DATA_COMMANDS = [
    "kgrag kg import cmekg hpo mondo icd10cm drugs mesh ddi --out kg/store/default",
    "kgrag make-kgqa --formats chat --out data/kgqa/default --overwrite",
    "python benchmarks/adapter_data.py --data data/kgqa/default --out .ship/bundle/kgqa",
]
TRAIN_COMMAND = (
    "kgrag finetune --base qwen2.5-0.5b-instruct --data kgqa/train.jsonl --kg kg/store/default --out ADAPTER "
    "--grounded 0.5 --max-len 1536 --batch-tokens 16384 --epochs 1 --lr 2e-4 --save-every 100 --log-every 25 "
    "--device cuda   (benchmarks/gpu_adapter.sh train)"
)


def _sums(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"dataset card: (\S+) sha256 ([0-9a-f]{64})", line) or re.match(
            r"(\S+?): .*sha256 ([0-9a-f]{64})", line)
        if m:
            out[Path(m.group(1)).name] = m.group(2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="the folder the train call's files came back to")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--store", type=Path, default=Path("kg/store/default"))
    ap.add_argument("--commit", required=True, help="the commit the GPU run was made from")
    ap.add_argument("--data-sums", type=Path, required=True, help="what adapter_data.py printed")
    ap.add_argument("--eval", type=Path, nargs="*", default=[], help="eval qa / eval mcq JSON files")
    ap.add_argument("--name", default="kgqa-qwen2.5-0.5b")
    ap.add_argument("--note", default="", help="what the commit alone does not say (e.g. uncommitted changes)")
    args = ap.parse_args()

    parts = sorted(args.run.glob(f"{WEIGHTS}.part-*"))
    if not parts:
        raise SystemExit(f"no {WEIGHTS}.part-* in {args.run}")
    expected = (args.run / "SHA256").read_text().split()[0]
    training = json.loads((args.run / "training.json").read_text())
    base = KNOWN_MODELS[training["base"]]
    store = read_manifest(args.store)
    sums = _sums(args.data_sums)
    with atomic_folder(args.out) as tmp:
        with (tmp / WEIGHTS).open("wb") as w:
            for p in parts:
                w.write(p.read_bytes())
        if (have := file_sha256(tmp / WEIGHTS)) != expected:
            raise SystemExit(f"joined weights have sha256 {have}, the GPU machine's file {expected}")
        shutil.copyfile(args.run / "adapter_config.json", tmp / "adapter_config.json")
        shutil.copyfile(args.run / "training.json", tmp / "training.json")
        evals = {p.stem: json.loads(p.read_text()) for p in args.eval}
        manifest = {
            "format": MANIFEST_FORMAT,
            "format_version": 1,
            "name": args.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "base": {"name": base.name, "title": base.title, "gguf_sha256": base.gguf_sha256,
                     "gguf_size": base.gguf_size},
            "store": {"checksum": store["checksum"], "sources": sorted(store["sources"])},
            "prompt": {"fingerprint": prompt_fingerprint()},
            "adapter": {"file": WEIGHTS, "sha256": expected, "dtype": "bfloat16",
                        "lora": {k: training["settings"][k] for k in ("lora_r", "lora_alpha", "lora_dropout",
                                                                      "targets")}},
            "training_data": {"file": "kgqa/train.jsonl", "records": training["data"]["examples"],
                              "sha256": sums["train.jsonl"], "made_by": DATA_COMMANDS,
                              "dataset_card_counts_sha256": sums.get("card.json")},
            "eval_data": {k: sums[k] for k in ("test.jsonl", "test_phrasing.jsonl") if k in sums},
            "command": TRAIN_COMMAND,
            "commit": args.commit,
            **({"commit_note": args.note} if args.note else {}),
            "training": training["figures"],
            "eval": {name: {"settings": {k: e.get("settings", {}).get(k) for k in ("data", "rag", "adapter", "limit",
                                                                                  "device", "n")},
                            "overall": e.get("figures", {}).get("overall", e.get("figures"))}
                     for name, e in evals.items()},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {WEIGHTS} {expected[:12]}…, store {store['checksum'][:12]}…, "
          f"prompt {manifest['prompt']['fingerprint'][:12]}…")


if __name__ == "__main__":
    main()
