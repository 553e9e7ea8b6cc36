#!/usr/bin/env bash
# The full-PTB recipes of the README, one after the other: each trains with validation, keeps the best weights,
# then reports test perplexity with `rnnlm eval`. Minutes to hours on 2 cores; never part of the tests.
#   PTB_DIR=../shared/data/ptb bash bench/recipes.sh [OUT_DIR] [RECIPE ...]
# Recipes: ch6, pytorch, pytorch-tied, pytorch-class (exchange classes), pytorch-bf16, rnn-ptb, rnn-ptb-fast,
# rnn-ptb-fast-data (PTB through rnnlm prepare and --data), ch6-better (2 epochs here; the preset's 40 take about 6 hours on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/recipes}
shift || true
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(ch6 pytorch pytorch-tied rnn-ptb rnn-ptb-fast ch6-better)
mkdir -p "$out"
for r in "${recipes[@]}"; do
  case "$r" in
    ch6) args=(--preset ch6) ;;
    pytorch) args=(--preset pytorch) ;;
    pytorch-tied) args=(--preset pytorch --tied) ;;
    pytorch-class) args=(--preset pytorch --output class --class-method exchange) ;;
    pytorch-bf16) args=(--preset pytorch --precision bf16) ;;
    rnn-ptb) args=(--preset rnn-ptb) ;;
    rnn-ptb-fast) args=(--preset rnn-ptb-fast) ;;
    rnn-ptb-fast-data)
      ptb=${PTB_DIR:-$HOME/.cache/rnnlm/ptb}
      node dist/cli.js prepare "$ptb/ptb.train.txt" --valid "$ptb/ptb.valid.txt" --test "$ptb/ptb.test.txt" -o "$out/ptb-data"
      args=(--data "$out/ptb-data" --preset rnn-ptb-fast) ;;
    ch6-better) args=(--preset ch6-better --max-epoch 2) ;;
    *) echo "unknown recipe $r" >&2; exit 2 ;;
  esac
  echo "== $r: rnnlm train ${args[*]}"
  start=$(date +%s)
  node dist/cli.js train "${args[@]}" --eval-interval 200 --save-best "$out/$r.safetensors" --log "$out/$r.jsonl" \
    --checkpoint "$out/$r.ckpt" | tee "$out/$r.txt"
  data=(); [ "${args[0]}" = --data ] && data=(--data "${args[1]}")
  node dist/cli.js eval "$out/$r.safetensors" "${data[@]}" --split test | tee -a "$out/$r.txt"
  echo "wall time $(( $(date +%s) - start )) s" | tee -a "$out/$r.txt"
done
