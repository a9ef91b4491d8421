#!/usr/bin/env bash
# Issues 4 and 5 on the GPU machine: the real default model (Qwen2.5 0.5B Instruct) there, LoRA
# fine-tuning on KG-QA pairs, the four-setting QA evaluation, and the service answering on the GPU.
#
# Device-tool calls back to back (a warm machine keeps /tmp and /root between calls; each call's
# carry stays under 64 MiB). Made on the dev machine first:
#   .ship/bundle/{store.tgz,kgqa.tgz}   tar czf of kg/store/default and of a KG-QA subset
#                                       (chat/train.jsonl: first 40,000 lines, 32,000 used; chat/test.jsonl)
#   .ship/sns/pNN                       ../shared/tools/gpu-ship .ship/sns.tar sns  (the model's six
#                                       registry wheels, 477 MB, in 9 parts)
#   .ship/whl                           Python 3.12 wheels kgrag needs that the machine lacks (fastapi
#                                       also needs opentelemetry-api, importlib-metadata, zipp)
# Calls:
#   bash benchmarks/gpu_kgqa.sh data            carry .ship/bundle
#   bash benchmarks/gpu_kgqa.sh part NN         carry .ship/sns/pNN          (NN = 00 … 08)
#   bash benchmarks/gpu_kgqa.sh setup           carry .ship/whl    (install; kgrag model prepare)
#   bash benchmarks/gpu_kgqa.sh train           kgrag finetune (resumable: run again if cut off)
#   bash benchmarks/gpu_kgqa.sh eval base|tuned [no-rag|rag]   closed-book and with retrieval (two calls: four settings)
#   bash benchmarks/gpu_kgqa.sh serve           kgrag serve on the GPU + curl; generation benchmark
set -euo pipefail
OUT=${OUT:-/tmp/gpu_kgqa_out}
mkdir -p "$OUT"
SITE=/tmp/site
WORK=/tmp/kgqa
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1 KGRAG_STORE=/tmp/kg/default HF_HUB_OFFLINE=1
export KGRAG_MODEL_DIR=/tmp/models TOKENIZERS_PARALLELISM=false
MODEL=qwen2.5-0.5b-instruct
ADAPTER=$WORK/adapters/kgqa
TEST=$WORK/kgqa/chat/test.jsonl
kgrag() { python3 -m kgrag "$@"; }
case "${1:-}" in
  data)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
    mkdir -p /tmp/kg $WORK && tar xzf .ship/bundle/store.tgz -C /tmp/kg && tar xzf .ship/bundle/kgqa.tgz -C $WORK
    wc -l $WORK/kgqa/chat/*.jsonl
    python3 -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)"
    ;;
  part)
    mkdir -p /root/stash/sns && cp ".ship/sns/p$2/part" "/root/stash/sns/part.$2" && ls /root/stash/sns | wc -l
    ;;
  setup)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .ship/whl/*.whl
    cd /root/stash/sns && cat part.* > sns.tar && sha256sum -c "$OLDPWD/.ship/sns/SHA256" && rm part.* && mkdir -p w \
      && tar xf sns.tar -C w && rm sns.tar && cd "$OLDPWD"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $SITE /root/stash/sns/w/*.whl
    rm -rf /root/stash/sns
    { time python3 -m kgrag model prepare $MODEL ; } 2>&1 | grep -v "it/s" | tail -5 | tee "$OUT/prepare.txt"
    ls -la /tmp/models/$MODEL
    ;;
  train)
    resume=""; [ -d "$ADAPTER/checkpoints" ] && resume="--resume"
    timeout 560 python3 -m kgrag finetune --base $MODEL --data $WORK/kgqa/chat/train.jsonl --kg /tmp/kg/default \
      --out $ADAPTER --limit 32000 --grounded 0.5 --max-len 1536 --batch-tokens 16384 --epochs 1 --lr 2e-4 --save-every 100 \
      --log-every 20 --device cuda $resume 2>&1 | grep -v "Loading weights" | tee -a "$OUT/train.txt"
    cp $ADAPTER/training.json "$OUT/" && cp -r $ADAPTER "$OUT/adapter" && rm -rf "$OUT/adapter/checkpoints"
    # the fp32 adapter (35 MB) is over what comes back from a call (16 MiB a file): send a bf16 copy
    # in two parts; here: cat adapter_model.safetensors.part-* > adapter_model.safetensors
    python3 -c "import sys, torch; from safetensors.torch import load_file, save_file; \
      save_file({k: v.to(torch.bfloat16) for k, v in load_file(sys.argv[1]).items()}, sys.argv[2])" \
      $ADAPTER/adapter_model.safetensors /tmp/adapter_bf16.safetensors
    rm "$OUT/adapter/adapter_model.safetensors" && split -b 15M /tmp/adapter_bf16.safetensors \
      "$OUT/adapter/adapter_model.safetensors.part-" && sha256sum /tmp/adapter_bf16.safetensors | tee "$OUT/adapter/SHA256"
    ;;
  eval)  # eval base|tuned [no-rag|rag]: both settings by default (all four took 598 s, at the 600 s call limit)
    settings=("$2:--no-rag" "$2:--rag"); [ -n "${3:-}" ] && settings=("$2:--$3")
    for setting in "${settings[@]}"; do
      name=${setting%%:*}; rag=${setting#*:}; tag=${name}_${rag#--}
      adapter=""; [ "$name" = tuned ] && adapter="--adapter $ADAPTER"
      kgrag eval qa --model $MODEL $adapter $rag --data $TEST --kg /tmp/kg/default --limit 1200 --batch-size 128 \
        --device cuda --out "$OUT/eval_$tag.json" --predictions "$OUT/pred_$tag.jsonl" 2>&1 | tee "$OUT/eval_$tag.txt"
    done
    ;;
  serve)
    for adapter in "" "$ADAPTER"; do
      tag=base; args=""; [ -n "$adapter" ] && tag=tuned && args="--adapter $adapter"
      # python itself in the background (not the kgrag function's subshell), so that kill stops the server
      python3 -m kgrag serve --store /tmp/kg/default --index none --model $MODEL --device cuda --port 8088 $args \
        > "$OUT/serve_$tag.log" 2>&1 &
      pid=$!
      for _ in $(seq 120); do curl -sf localhost:8088/ready >/dev/null && break; sleep 1; done
      curl -s localhost:8088/health | tee "$OUT/health_$tag.json"; echo
      for q in "糖尿病应该挂什么科？" "What are the side effects of aspirin?" "高血压有哪些症状？" \
               "我胸口剧痛还出冷汗，怎么办？"; do
        curl -s localhost:8088/ask -H 'content-type: application/json' \
          -d "{\"question\": \"$q\", \"max_new_tokens\": 160}" >> "$OUT/ask_$tag.jsonl"; echo >> "$OUT/ask_$tag.jsonl"
      done
      kill $pid; wait $pid 2>/dev/null || true
      while curl -s localhost:8088/health >/dev/null; do sleep 0.5; done  # port free for the next one
    done
    python3 benchmarks/gpu_serve.py --model /tmp/models/$MODEL --device cuda --new-tokens 128 | tee "$OUT/gen_bench.txt"
    ;;
  *) echo "usage: $0 data|part NN|setup|train|eval base|tuned [no-rag|rag]|serve" >&2; exit 2 ;;
esac
