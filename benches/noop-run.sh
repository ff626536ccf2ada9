#!/usr/bin/env bash
# A second `pipeline run` of the demo recipe with nothing changed must boot
# no VM and finish in under 2 s. Builds the 4 demo cells once (into a
# private store), then times the no-op run against `pipeline validate` of
# the same recipe (the baseline: load, validate and render, no targets) in
# the same invocation, and prints both and the ratio.
#
#   benches/noop-run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
command -v hyperfine >/dev/null || { echo "noop-run: apt-get install hyperfine" >&2; exit 1; }
. benches/demo-recipe.sh noop
export PIPELINE_CACHE_DIR=$work/cache PIPELINE_STATE_DIR=$work/state
cd "$work"
echo "noop-run: building the 4 demo cells once (a few minutes under TCG)..." >&2
"$bin" run demo.toml >/dev/null
"$bin" run demo.toml 2>&1 | grep -q "nothing to do: 4 cells up to date" ||
    { echo "noop-run: the second run was not a no-op" >&2; exit 1; }

hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times.json" \
    -n "pipeline run (no-op)" "$bin run demo.toml" \
    -n "pipeline validate (baseline)" "$bin validate demo.toml" >&2
boots=$(grep -h " boot .*: started" state/runs/demo/*/run.log | wc -l)
python3 - "$work/times.json" "$boots" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
run, base = r["pipeline run (no-op)"], r["pipeline validate (baseline)"]
print(f"no-op run:          {run['mean']*1000:8.1f} ms ± {run['stddev']*1000:.1f} (max {run['max']*1000:.1f} ms)")
print(f"validate baseline:  {base['mean']*1000:8.1f} ms ± {base['stddev']*1000:.1f}")
print(f"ratio run/validate: {run['mean']/base['mean']:.2f}")
print(f"VMs booted by all runs together: {sys.argv[2]} (4 by the first build, 0 after)")
ok = run["max"] < 2.0 and int(sys.argv[2]) == 4
print("target (< 2 s, no VM): " + ("met" if ok else "NOT met"))
sys.exit(0 if ok else 1)
PY
