#!/usr/bin/env bash
# Renders one shard of a poster: band INDEX of COUNT of the image stored in DOCUMENT.png
# (a PNG moonbrot exported), into OUT_DIR/band-INDEX.png. The scheduler hands each task
# its index, so one script serves both:
#   Slurm job arrays:         SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT (--array=0-N-1)
#   Kubernetes Indexed Jobs:  JOB_COMPLETION_INDEX, and SHARDS set to the Job's completions
# When every shard is done, `moonbrot stitch -o POSTER.png OUT_DIR/band-*.png` joins them.
#
# Usage: render-shard.sh DOCUMENT.png OUT_DIR [more `moonbrot render` flags, e.g. --size]
# MOONBROT names the binary (default: moonbrot on the PATH).
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 DOCUMENT.png OUT_DIR [moonbrot render flags...]" >&2
  exit 2
fi
document=$1
out_dir=$2
shift 2
index=${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-}}
count=${SLURM_ARRAY_TASK_COUNT:-${SHARDS:-}}
if [[ -z $index || -z $count ]]; then
  echo "$0: no shard index or count: run it as a Slurm array task, or in a Kubernetes" \
    "Indexed Job with SHARDS set to its completions" >&2
  exit 2
fi
mkdir -p "$out_dir"
band=$(printf '%s/band-%05d.png' "$out_dir" "$index")
exec "${MOONBROT:-moonbrot}" render --from "$document" --shard "$index/$count" "$@" -o "$band"
