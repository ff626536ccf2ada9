# shellcheck shell=bash disable=SC2034 # $bin, $base and $work are the caller's
# Sourced by the benchmark scripts: sets the host up, builds pipeline and
# the demo's base image, and writes a copy of recipes/demo.toml into a new
# temp dir that the caller's EXIT trap removes.
#
#   . benches/demo-recipe.sh NAME   (from the repository root)
#   → $bin (the release binary, or $BENCH_BIN when set: benches/smoke
#     passes the debug one the tests built), $base (the base qcow2), $work (the temp
#     dir), $work/demo.toml (its base by absolute path and digest, its
#     template beside it, its store `images` in $work; without [verify]:
#     the benches compare a build with the same build made otherwise)
tests/setup-host
base=$(tests/fixtures/cloud-image.sh | tail -n 1)
if [[ -n ${BENCH_BIN:-} ]]; then
    bin=$(readlink -f "$BENCH_BIN")
else
    cargo build --release --locked -q
    bin=$PWD/target/release/pipeline
fi
work=$(mktemp -d "/tmp/pipeline-$1.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp templates/demo.sh.tera "$work/"
sed -e '/^\[verify\]/,/^$/d' \
    -e "s|^template = .*|template = \"demo.sh.tera\"|" \
    -e "s|^url = .*|url = \"$base\"|" \
    -e "s|^sha256sums = .*|sha256 = \"$(cut -d' ' -f1 "$base.sha256")\"|" \
    -e "s|^path = .*|path = \"images\"|" recipes/demo.toml >"$work/demo.toml"
# The store, as `pipeline init` makes it (a run refuses a store path that
# is not one).
mkdir "$work/images"
: >"$work/images/.pipeline-store"
