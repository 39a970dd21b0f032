#!/usr/bin/env bash
# Round trips of one query against collections of 1, 8 and 32 shards on an S3-compatible
# server, after open. Usage:
#   scripts/collection_roundtrips.sh DATASET_DIR ENDPOINT BUCKET [PYTHON]
# DATASET_DIR is a dataset folder (docs/datasets.md); the first 64,000 rows are split into
# shards with scripts/split_arrow.py (PYTHON must have numpy and pyarrow).
set -euo pipefail
data=$1 endpoint=$2 bucket=$3 py=${4:-python3}
bin=${IVFPQ_BIN:-target/release/ivfpq}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store=(--endpoint "$endpoint" --allow-http --region us-east-1
  --store-option access_key_id=test --store-option secret_access_key=test)
"$py" - "$data" "$work/q.fvecs" <<'PY'
import sys, numpy as np
raw = np.fromfile(sys.argv[1] + "/query.fvecs", dtype=np.int32)
d = int(raw[0]); raw.reshape(-1, d + 1)[:1].tofile(sys.argv[2])
PY
for n in 1 8 32; do
  "$py" "$(dirname "$0")/split_arrow.py" "$data" "$work/p$n" "$n" --rows 64000 >/dev/null
  shards=()
  for f in "$work/p$n"/*.arrow; do
    out="$work/$(basename "$f" .arrow)-$n.ivfpq"
    if [ ! -f "$work/model.ivfpq" ]; then
      "$bin" build --input "$f" --output "$out" --nlist 128 --m 25 --metric cosine \
        --model-output "$work/model.ivfpq" >/dev/null
    else
      "$bin" build --input "$f" --output "$out" --model "$work/model.ivfpq" >/dev/null
    fi
    shards+=("$out")
  done
  uri="s3://$bucket/roundtrips-$$-$n"
  "$bin" collection create "$uri" --model "$work/model.ivfpq" "${store[@]}" >/dev/null
  "$bin" collection add "$uri" "${shards[@]}" "${store[@]}" >/dev/null
  echo "shards=$n"
  "$bin" collection search "$uri" --queries "$work/q.fvecs" --k 10 --nprobe 16 --refine 4 \
    --stats "${store[@]}" 2>&1 >/dev/null | sed 's/^/  /'
done
