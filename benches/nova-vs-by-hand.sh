#!/usr/bin/env bash
# One demo cell built on the test rig's Nova two ways, interleaved in one
# invocation:
#
#   - pipeline: `pipeline run` of the demo recipe with backend = "openstack"
#     on cloud-a (Nova + Glance a), compression = "none", one cell
#     (--only juju= --only microk8s=) and one target, kind openstack on
#     cloud-b (Glance b); --force, a fresh state directory per run.
#   - by hand: the same Nova and Glance calls with curl and jq: a token,
#     the staged base (Glance a, pipeline_kind=base), POST /servers
#     (networks none, config drive, the user-data pipeline rendered in the
#     warm-up), poll until ACTIVE, poll os-getConsoleOutput every 2 s for
#     the final result line with the nonce, os-stop, poll until SHUTOFF,
#     createImage, poll the image until active, DELETE the server (until
#     404), create the image in Glance b, stream `curl …/file | curl -T -`
#     with Content-Length, wait active, delete the snapshot in Glance a.
#
# A warm-up pipeline run (untimed) stages the base in Glance a, puts it in
# nova-compute's image cache and renders the user-data the by-hand side
# reuses. Then ROUNDS rounds, alternating which side goes first. Prints each
# round, the medians, the ratio pipeline / by hand (target <= 1.05), where the
# time goes for both (staging, setup, POST → ACTIVE, guest, stop, snapshot,
# publish, cleanup), host CPU busy and MemAvailable during each build (every
# 1 s), and pipeline's own RSS (every 0.5 s; RSS_INTERVAL) over the run and
# during the upload (must stay flat). Exits 1 when a target is not met.
#
#   benches/nova-vs-by-hand.sh [ROUNDS]      (default 3; ~5 min a round)
#   benches/nova-vs-by-hand.sh --smoke       one round, no target (benches/smoke)
#
# Starts its own `tests/openstack/rig start DIR --nova` (one per machine:
# fails at once if another runs) and stops it on every path. Needs root,
# curl, jq, python3. Talks to 127.0.0.1 only. Keeps its files with KEEP=1.
set -euo pipefail

case ${1:-} in
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
esac
smoke=0
if [[ ${1:-} == --smoke ]]; then
    smoke=1
    set -- 1
fi
rounds=${1:-3}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROUNDS] (see --help)" >&2; exit 2; }

cd "$(dirname "$0")/.."
repo=$PWD
helper=$repo/benches/nova-vs-by-hand.py
say() { printf 'nova-vs-by-hand: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in curl jq python3; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# Loopback only, never through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

if pids=$(pgrep -f nova-compute); then
    die "another --nova rig is running (nova-compute pids: ${pids//$'\n'/ }); only one runs per machine: try again when it has stopped"
fi

say "setting up the host, the base image and the release build"
# Sets $bin, $base, $work (a new temp dir) and $work/demo.toml; its EXIT
# trap is replaced by ours below.
# shellcheck source=benches/demo-recipe.sh
. benches/demo-recipe.sh nova-vs-by-hand
rig=$work/rig
sampler=
cleanup() {
    local code=$?
    trap - EXIT INT TERM
    [[ -n $sampler ]] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null
    if [[ -e $rig/rig.json ]]; then
        say "stopping the rig"
        "$repo/tests/openstack/rig" stop "$rig" >/dev/null 2>&1 || say "warning: rig stop failed ($rig)"
    fi
    if [[ ${KEEP:-} == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# QEMU runs as libvirt-qemu: the rig's parents must be searchable.
chmod 755 "$work"
cd "$work"
python3 "$helper" recipe demo.toml bench.toml
cell=(--only juju= --only microk8s=)

say "starting the --nova rig"
"$repo/tests/openstack/rig" install >/dev/null
"$repo/tests/openstack/rig" start "$rig" --nova --watch-pid $$ >rig-start.log 2>&1 ||
    { tail -n 20 rig-start.log >&2; die "the rig did not start (another --nova rig, or libvirtd running?)"; }
# shellcheck disable=SC1091
. "$rig/rig.env"

# pipeline sees only the rig: no OS_* or PIPELINE_* of ours.
clean_env=()
while IFS= read -r v; do
    [[ $v == OS_* || $v == PIPELINE_* ]] && clean_env+=(-u "$v")
done < <(compgen -e)
pipeline() { # DIR STATE ARGS... : run pipeline under the helper (stamps, RSS)
    local dir=$1 state=$2
    shift 2
    env "${clean_env[@]}" OS_CLIENT_CONFIG_FILE="$rig/clouds.yaml" \
        PIPELINE_CACHE_DIR="$work/cache" PIPELINE_STATE_DIR="$state" \
        python3 "$helper" run "$dir" -- "$bin" run bench.toml "${cell[@]}" "$@"
}

# ---------------------------------------------------------------- curl
token=
auth() {
    local body
    body=$(jq -nc --arg u "$CI_USER" --arg p "$CI_PASSWORD" --arg proj "$CI_PROJECT" \
        '{auth: {identity: {methods: ["password"], password: {user: {name: $u, domain: {name: "Default"}, password: $p}}},
          scope: {project: {name: $proj, domain: {name: "Default"}}}}}')
    token=$(curl -sS --noproxy '*' --fail -D - -o /dev/null -H 'Content-Type: application/json' \
        -d "$body" "$KEYSTONE_URL/auth/tokens" | tr -d '\r' | awk 'tolower($1) == "x-subject-token:" {print $2}')
    [[ -n $token ]] || die "no token from Keystone"
}
# call METHOD URL [JSON]: sets $status and $body.
status='' body=''
call() {
    local out
    out=$(curl -sS --noproxy '*' -X "$1" -H "X-Auth-Token: $token" \
        -H 'Content-Type: application/json' -H 'OpenStack-API-Version: compute 2.45' \
        -H 'X-OpenStack-Nova-API-Version: 2.45' ${3:+-d "$3"} -w '\n%{http_code}' "$2") ||
        die "$1 $2: curl failed"
    status=${out##*$'\n'}
    body=${out%$'\n'*}
}
expect() { # STATUS... : the last call answered one of them
    local s
    for s; do [[ $status == "$s" ]] && return 0; done
    die "unexpected answer $status: $body"
}
now() { date +%s.%N; }
mark() { echo "$1 $(now)" >>"$phases"; }
deadline() { echo $(($(date +%s) + $1)); }
check_deadline() { (($(date +%s) < $1)) || die "$2: timed out"; }

# The Glance b images of a side, deleted between rounds (outside the timing).
delete_b_images() { # QUERY
    local id
    call GET "$GLANCE_B_URL/v2/images?$1"
    expect 200
    for id in $(jq -r '.images[].id' <<<"$body"); do
        call DELETE "$GLANCE_B_URL/v2/images/$id"
        expect 204 404
    done
}

by_hand() { # ROUND
    local r=$1 id image snap bid size until server_status
    phases=$work/round-$r/by-hand/phases
    mkdir -p "${phases%/*}"
    : >"$phases"
    mark start
    auth
    call GET "$GLANCE_A_URL/v2/images?pipeline_kind=base&status=active"
    expect 200
    image=$(jq -r '[.images[] | select(.pipeline_kind == "base" and .image_type != "snapshot")][0].id // empty' <<<"$body")
    [[ -n $image ]] || die "no staged base in Glance a"
    call POST "$NOVA_URL/servers" "$(jq -nc --arg name "by-hand-$r" --arg image "$image" \
        --arg flavor "$FLAVOR_BUILDER_ID" --rawfile ud "$work/user-data" \
        '{server: {name: $name, imageRef: $image, flavorRef: $flavor, networks: "none",
          config_drive: true, user_data: ($ud | @base64)}}')"
    expect 202
    id=$(jq -r .server.id <<<"$body")
    mark created
    until=$(deadline 300)
    while :; do
        call GET "$NOVA_URL/servers/$id"
        expect 200
        server_status=$(jq -r .server.status <<<"$body")
        [[ $server_status == ERROR ]] && die "server $id: ERROR: $(jq -c .server.fault <<<"$body")"
        [[ $server_status == ACTIVE ]] && break
        check_deadline "$until" "server $id to become ACTIVE"
        sleep 1
    done
    mark active
    until=$(deadline 600)
    while :; do
        sleep 2
        call GET "$NOVA_URL/servers/$id"
        expect 200
        server_status=$(jq -r .server.status <<<"$body")
        [[ $server_status == ACTIVE ]] || die "server $id went $server_status before the final line"
        call POST "$NOVA_URL/servers/$id/action" '{"os-getConsoleOutput": {"length": 200}}'
        expect 200 404 409
        if [[ $status == 200 ]]; then
            jq -r '.output // ""' <<<"$body" >"$work/round-$r/by-hand/console.log"
            if grep -q "PIPELINE_RESULT $nonce script=[1-9]" "$work/round-$r/by-hand/console.log"; then
                die "the provisioning script failed: see $work/round-$r/by-hand/console.log (KEEP=1)"
            fi
            grep -q "PIPELINE_RESULT $nonce clean=0" "$work/round-$r/by-hand/console.log" && break
        fi
        check_deadline "$until" "the guest's final line"
    done
    mark final
    call POST "$NOVA_URL/servers/$id/action" '{"os-stop": null}'
    expect 202 409
    until=$(deadline 300)
    while :; do
        call GET "$NOVA_URL/servers/$id"
        expect 200
        [[ $(jq -r .server.status <<<"$body") == SHUTOFF ]] && break
        check_deadline "$until" "server $id to stop"
        sleep 1
    done
    mark shutoff
    # A snapshot inherits the base's properties (pipeline_kind=base among
    # them): say what it is, so that nobody takes it for a staged base.
    call POST "$NOVA_URL/servers/$id/action" "{\"createImage\": {\"name\": \"by-hand-snapshot-$r\", \"metadata\": {\"pipeline_kind\": \"by-hand-snapshot\"}}}"
    expect 202
    snap=$(jq -r .image_id <<<"$body")
    mark image_created
    until=$(deadline 1800)
    while :; do
        call GET "$GLANCE_A_URL/v2/images/$snap"
        expect 200
        case $(jq -r .status <<<"$body") in
        active) break ;;
        queued | saving | uploading | importing) ;;
        *) die "snapshot $snap: $(jq -r .status <<<"$body")" ;;
        esac
        check_deadline "$until" "snapshot $snap to become active"
        sleep 1
    done
    size=$(jq -r .size <<<"$body")
    mark image_active
    call DELETE "$NOVA_URL/servers/$id"
    expect 204
    until=$(deadline 300)
    while :; do
        call GET "$NOVA_URL/servers/$id"
        [[ $status == 404 ]] && break
        check_deadline "$until" "server $id to go"
        sleep 0.5
    done
    mark server_deleted
    call POST "$GLANCE_B_URL/v2/images" "{\"name\": \"by-hand-$r\", \"disk_format\": \"qcow2\", \"container_format\": \"bare\", \"visibility\": \"private\", \"bench_side\": \"by-hand\"}"
    expect 201
    bid=$(jq -r .id <<<"$body")
    mark b_created
    # Streamed: Glance a's answer goes straight into Glance b's PUT.
    curl -sS --noproxy '*' --fail -H "X-Auth-Token: $token" "$GLANCE_A_URL/v2/images/$snap/file" |
        curl -sS --noproxy '*' --fail -o /dev/null -T - -H 'Expect:' -H 'Transfer-Encoding:' \
            -H "Content-Length: $size" -H 'Content-Type: application/octet-stream' \
            -H "X-Auth-Token: $token" "$GLANCE_B_URL/v2/images/$bid/file" ||
        die "streaming snapshot $snap to Glance b failed"
    mark streamed
    until=$(deadline 600)
    while :; do
        call GET "$GLANCE_B_URL/v2/images/$bid"
        expect 200
        [[ $(jq -r .status <<<"$body") == active ]] && break
        check_deadline "$until" "image $bid in Glance b to become active"
        sleep 1
    done
    [[ $(jq -r .size <<<"$body") == "$size" ]] || die "image $bid in Glance b: size $(jq -r .size <<<"$body"), not $size"
    mark b_active
    call DELETE "$GLANCE_A_URL/v2/images/$snap"
    expect 204
    mark end
    echo "$size" >"$work/snapshot-bytes"
}

pipeline_round() { # ROUND
    local r=$1
    pipeline "$work/round-$r/pipeline" "$work/state-$r" --force >/dev/null ||
        die "pipeline failed in round $r (its stderr: $work/round-$r/pipeline/stderr, KEEP=1)"
}

after_round() { # leave both stores as they were (untimed)
    auth
    delete_b_images "bench_side=by-hand"
    delete_b_images "pipeline_owner=pipeline:bench"
    call GET "$GLANCE_A_URL/v2/images"
    expect 200
    local left
    left=$(jq -r --arg base "$base_id" '[.images[] | select(.id != $base)] | length' <<<"$body")
    ((left == 0)) || die "Glance a has $left image(s) besides the staged base: $(jq -c '[.images[] | {name, status}]' <<<"$body")"
}

# ---------------------------------------------------------------- run
load_before=$(cut -d' ' -f1 /proc/loadavg)
# Host CPU and memory every second from here on; the report cuts out each
# build's window.
python3 "$helper" host "$work/host" &
sampler=$!
say "warm-up: one pipeline run, untimed (stages the base in Glance a)"
pipeline "$work/warm-up" "$work/state-warm" >/dev/null || die "the warm-up run failed"
ud=$(echo "$work"/state-warm/runs/bench/*/demo-bookworm-x64/user-data)
[[ -f $ud ]] || die "no user-data in the warm-up's run directory"
cp "$ud" "$work/user-data"
nonce=$(sed -n "s/^NONCE='\([0-9a-f]*\)'$/\1/p" "$ud" | head -n 1)
[[ -n $nonce ]] || die "no NONCE in $ud"
warm_stage=$(grep -o 'stage bookworm: done in .*' "$work/warm-up/stderr" | sed 's/.*done in //')
[[ -n $warm_stage ]] || die "the warm-up did not stage the base"
base_id=$(sed -n 's/.*stage bookworm: staged base image \([0-9a-f-]*\) .*/\1/p' "$work/warm-up/stderr")
[[ -n $base_id ]] || die "no staged base image id in the warm-up's log"
after_round

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(pipeline by_hand); else order=(by_hand pipeline); fi
    for side in "${order[@]}"; do
        say "round $r/$rounds: $side"
        t0=$(now)
        if [[ $side == pipeline ]]; then pipeline_round "$r"; else by_hand "$r"; fi
        say "round $r/$rounds: $side took $(awk "BEGIN { printf \"%.1f\", $(now) - $t0 }") s"
        after_round
    done
done
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=

jq -n --arg load "$load_before" --arg stage "$warm_stage" \
    --argjson total "$(jq '.end - .start' "$work/warm-up/result.json")" \
    --argjson bytes "$(cat "$work/snapshot-bytes")" --argjson cores "$(nproc)" \
    --argjson mem "$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)" \
    '{load_before: $load, warmup_stage: $stage, warmup_total: $total, snapshot_bytes: $bytes,
      cores: $cores, mem_total_mib: $mem}' >"$work/meta.json"
if ((smoke)); then
    python3 "$helper" report "$work" "$rounds" || say "smoke: targets not asserted"
else
    python3 "$helper" report "$work" "$rounds"
fi
