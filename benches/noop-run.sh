#!/usr/bin/env bash
# A second `pipeline run` of the demo recipe with nothing changed must boot
# no VM and finish in under 2 s. Builds the 4 demo cells once (into a
# private store), then times the no-op run against `pipeline validate` of
# the same recipe (the baseline: load, validate and render, no targets) in
# the same invocation, and prints both and the ratio.
#
#   benches/noop-run.sh [RUNS]
#   benches/noop-run.sh --smoke   one cell, two timed runs each, no target
#                                 (benches/smoke)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0 only=() cells=4
if [[ ${1:-} == --smoke ]]; then
    smoke=1 only=(--only juju= --only microk8s=) cells=1
    set -- 2
fi
runs=${1:-10}
command -v hyperfine >/dev/null || { echo "noop-run: apt-get install hyperfine" >&2; exit 1; }
. benches/demo-recipe.sh noop
export PIPELINE_CACHE_DIR=$work/cache PIPELINE_STATE_DIR=$work/state
cd "$work"
echo "noop-run: building the $cells demo cell(s) once (a few minutes under TCG)..." >&2
"$bin" run demo.toml "${only[@]}" >/dev/null
"$bin" run demo.toml "${only[@]}" 2>&1 | grep -q "nothing to do: $cells cells\{0,1\} up to date" ||
    { echo "noop-run: the second run was not a no-op" >&2; exit 1; }

hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/times.json" \
    -n "pipeline run (no-op)" "$bin run demo.toml ${only[*]}" \
    -n "pipeline validate (baseline)" "$bin validate demo.toml" >&2
boots=$(grep -h " boot .*: started" state/runs/demo/*/run.log | wc -l)
python3 - "$work/times.json" "$boots" "$cells" "$smoke" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
run, base = r["pipeline run (no-op)"], r["pipeline validate (baseline)"]
print(f"no-op run:          {run['mean']*1000:8.1f} ms ± {run['stddev']*1000:.1f} (max {run['max']*1000:.1f} ms)")
print(f"validate baseline:  {base['mean']*1000:8.1f} ms ± {base['stddev']*1000:.1f}")
print(f"ratio run/validate: {run['mean']/base['mean']:.2f}")
print(f"VMs booted by all runs together: {sys.argv[2]} ({sys.argv[3]} by the first build, 0 after)")
if sys.argv[4] == "1":
    print("smoke: no target")
    sys.exit(0 if int(sys.argv[2]) == int(sys.argv[3]) else 1)
ok = run["max"] < 2.0 and int(sys.argv[2]) == int(sys.argv[3])
print("target (< 2 s, no VM): " + ("met" if ok else "NOT met"))
sys.exit(0 if ok else 1)
PY
