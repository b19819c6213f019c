#!/usr/bin/env bash
# Fuzz each named target (default: all) for SECONDS (default 120) with atheris/libFuzzer.
#   pip install atheris            # a dev tool, not a test dependency
#   bash fuzz/run.sh 300 robots decide_json
# Inputs that crash, break an invariant or run past 10 s are written to fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-120}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(robots ai_txt tdmrep headers html_meta documents decide_json)
fi
python fuzz/make_seeds.py > /dev/null
mkdir -p fuzz/artifacts
for target in "${targets[@]}"; do
  echo "== $target: ${seconds}s"
  python "fuzz/fuzz_${target}.py" "fuzz/corpus/${target}" \
    -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="fuzz/artifacts/${target}-" -print_final_stats=1
done
