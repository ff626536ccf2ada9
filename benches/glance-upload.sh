#!/usr/bin/env bash
# Upload of a qcow2 with real content (1 GiB of random data by default) to a
# test-rig Glance (tests/openstack/rig, on 127.0.0.1), two ways, alternately:
#
#   - pipeline's OpenStack store (benches/glance_upload.rs: open the target,
#     Store::upload, which creates the image, streams the file, waits for
#     `active` and compares checksums), under /usr/bin/time -v for its peak
#     RSS. Target: under 64 MiB, whatever the image size.
#   - `curl -T` with `-H 'Expect:'` into an image created beforehand: the
#     raw PUT alone. Target: pipeline's throughput at least 80 % of curl's.
#
# Usage: benches/glance-upload.sh [SIZE_MIB] [ROUNDS]   (defaults 1024, 3)
#        benches/glance-upload.sh --smoke   16 MiB, one round, no target
#                                           (benches/smoke)
# Prints the median of each, the ratio, and PASS/FAIL per target (exit 1 on
# a FAIL). Needs qemu-img, curl, python3 (the rig) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
if [[ ${1:-} == --smoke ]]; then
  SMOKE=1
  set -- 16 1
fi
SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/glance-bench.XXXXXX")
RIG="$WORK/rig"
cleanup() {
  tests/openstack/rig stop "$RIG" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf 'glance-upload: %s\n' "$*" >&2; }

log "building the bench binary"
BIN=$(cargo bench --bench glance_upload --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*glance_upload[^"]*"' | tail -n1 | cut -d'"' -f4)
[[ -x "$BIN" ]] || { log "bench binary not found"; exit 1; }

log "making a ${SIZE_MIB} MiB qcow2 of random data"
head -c "${SIZE_MIB}M" /dev/urandom >"$WORK/data.raw"
qemu-img convert -f raw -O qcow2 "$WORK/data.raw" "$WORK/bench.qcow2"
rm "$WORK/data.raw"
IMAGE="$WORK/bench.qcow2"
BYTES=$(stat -c %s "$IMAGE")

log "starting the rig"
tests/openstack/rig start "$RIG" >/dev/null
# shellcheck disable=SC1091
. "$RIG/rig.env"
export OS_CLIENT_CONFIG_FILE="$RIG/clouds.yaml"
unset OS_CLOUD OS_CLIENT_SECURE_FILE
GLANCE="$GLANCE_A_URL"
# Loopback only: never through a proxy.
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

token() {
  curl -sS -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$CI_USER\",\"domain\":{\"name\":\"Default\"},\"password\":\"$CI_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"$CI_PROJECT\",\"domain\":{\"name\":\"Default\"}}}}}" \
    "$KEYSTONE_URL/auth/tokens" | tr -d '\r' | awk 'tolower($1)=="x-subject-token:" {print $2}'
}
TOKEN=$(token)

run_pipeline() {
  /usr/bin/time -v "$BIN" cloud-a "$IMAGE" >"$WORK/out" 2>"$WORK/time"
  local secs rss
  secs=$(sed -n 's/^upload_seconds=\([0-9.]*\).*/\1/p' "$WORK/out")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time")
  echo "$secs $rss"
}

run_curl() {
  local id secs
  id=$(curl -sS -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"curl-bench","disk_format":"qcow2","container_format":"bare"}' \
    "$GLANCE/v2/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  secs=$(curl -sS -o /dev/null -w '%{time_total}' -T "$IMAGE" -H 'Expect:' \
    -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
    "$GLANCE/v2/images/$id/file")
  curl -sS -o /dev/null -X DELETE -H "X-Auth-Token: $TOKEN" "$GLANCE/v2/images/$id"
  echo "$secs"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# Both clients share the machine's cores with Glance (pipeline also hashes
# what it sends): other busy processes skew the ratio against pipeline.
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
P_SECS=() P_RSS=() C_SECS=()
for round in $(seq 1 "$ROUNDS"); do
  read -r secs rss < <(run_pipeline)
  P_SECS+=("$secs") P_RSS+=("$rss")
  c=$(run_curl)
  C_SECS+=("$c")
  log "round $round: pipeline ${secs} s (peak RSS ${rss} KiB), curl ${c} s"
done

p=$(printf '%s\n' "${P_SECS[@]}" | median)
c=$(printf '%s\n' "${C_SECS[@]}" | median)
rss=$(printf '%s\n' "${P_RSS[@]}" | sort -g | tail -n1)
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
python3 - "$BYTES" "$p" "$c" "$rss" "$LOAD_BEFORE" "$LOAD_AFTER" "$(nproc)" "$SMOKE" <<'EOF'
import sys
size, p, c, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
load_before, load_after, cores = sys.argv[5], sys.argv[6], sys.argv[7]
mib = 1 << 20
pt, ct = size / p / mib, size / c / mib
ratio = pt / ct
rss_mib = rss / 1024
print(f"image:            {size} bytes ({size / mib:.0f} MiB qcow2)")
print(f"machine:          {cores} cores, load average {load_before} before, {load_after} after")
print(f"pipeline upload:  {p:.2f} s  {pt:.1f} MiB/s  (median)")
print(f"curl -T:          {c:.2f} s  {ct:.1f} MiB/s  (median)")
print(f"throughput ratio: {ratio * 100:.0f} %   target >= 80 %: {'PASS' if ratio >= 0.8 else 'FAIL'}")
print(f"peak RSS:         {rss_mib:.1f} MiB  target < 64 MiB: {'PASS' if rss_mib < 64 else 'FAIL'}")
sys.exit(0 if sys.argv[8] == "1" or (ratio >= 0.8 and rss_mib < 64) else 1)
EOF
