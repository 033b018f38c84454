#!/usr/bin/env bash
# Is the suite deterministic? Clones this checkout's HEAD afresh several times (five by default)
# beside the shared directory (a checkout expects ../shared), runs CI there (`CI=true bash .ci/run`)
# one clone after the other, and prints each run's closing `N passed, N failed` line and an overall
# result. Exit 0 only when every run passed.
#
#   bash scripts/five-clean-clones.sh [--runs N] [--shared DIR] [--keep] [--dry-run]
#
#   --runs N      how many clones (default 5)
#   --shared DIR  the shared directory the clones sit beside (default /work/shared, or $KAWATCH_SHARED)
#   --keep        keep every clone (by default a clone whose run passed is removed; a failed one stays)
#   --dry-run     print what would be done, clone and run nothing
#
# Only committed work is tested: HEAD, whatever the work tree holds. Each run's full output goes to
# <parent of shared>/clean-clones/run-N.log; a run takes 15 minutes or more.
set -euo pipefail

runs=5
shared=${KAWATCH_SHARED:-/work/shared}
keep=false
dry=false
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?--runs needs a number}; shift 2 ;;
    --shared) shared=${2:?--shared needs a directory}; shift 2 ;;
    --keep) keep=true; shift ;;
    --dry-run) dry=true; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "five-clean-clones: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$runs" in ''|*[!0-9]*|0) echo "five-clean-clones: --runs: expected a positive integer, got '$runs'" >&2; exit 2 ;; esac

source_repo=$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)
sha=$(git -C "$source_repo" rev-parse HEAD)
parent=$(dirname "$(realpath -m "$shared")")
logs="$parent/clean-clones"
[ -d "$shared" ] || echo "five-clean-clones: warning: $shared does not exist; the clones may miss what they expect in ../shared" >&2
if [ -n "$(git -C "$source_repo" status --porcelain --untracked-files=no)" ]; then
  echo "five-clean-clones: note: uncommitted changes in $source_repo are not tested, only HEAD ($sha)" >&2
fi

run() {
  if $dry; then printf '  would run:'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

echo "five-clean-clones: $runs fresh clones of $sha from $source_repo, in $parent"
run mkdir -p "$logs"
summaries=()
failed_runs=0
for i in $(seq 1 "$runs"); do
  clone="$parent/clean-clone-$i"
  log="$logs/run-$i.log"
  echo "run $i/$runs: $clone (log: $log)"
  run rm -rf "$clone"
  run git clone --quiet --no-checkout --no-hardlinks "$source_repo" "$clone"
  run git -C "$clone" checkout --quiet --detach "$sha"
  if $dry; then
    run env CI=true bash "$clone/.ci/run"
    summaries+=("run $i: (dry run)")
    continue
  fi
  status=0
  (cd "$clone" && CI=true bash .ci/run) >"$log" 2>&1 || status=$?
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
  [ -n "$summary" ] || summary="no summary line (exit $status; see $log)"
  if [ "$status" -ne 0 ] || ! grep -qE '^[0-9]+ passed, 0 failed$' <<<"$summary"; then
    failed_runs=$((failed_runs + 1))
    summaries+=("run $i: $summary  [FAIL, exit $status, clone kept: $clone]")
  else
    summaries+=("run $i: $summary")
    $keep || rm -rf "$clone"
  fi
  echo "  ${summaries[-1]}"
done

echo
echo "five-clean-clones: $sha"
printf '  %s\n' "${summaries[@]}"
if $dry; then
  echo "overall: dry run, nothing was run"
elif [ "$failed_runs" -eq 0 ]; then
  echo "overall: PASS ($runs of $runs runs passed)"
else
  echo "overall: FAIL ($failed_runs of $runs runs failed)"
  exit 1
fi
