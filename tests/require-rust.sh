# shellcheck shell=bash
# Sourced first, from the repository root, by ./demo and tests/run: when
# cargo is missing or older than Cargo.toml's rust-version, it says what to
# install and exits, before any package, fixture or build work. Bash
# builtins only, so that it can say so on a host that has next to nothing.

# The version ("1.89.0") in a `cargo --version` or `rustc --version` line.
require_rust_version_of() {
    [[ $1 =~ ^[a-z]+\ ([0-9]+\.[0-9]+\.[0-9]+) ]] && printf '%s\n' "${BASH_REMATCH[1]}"
}

# Whether version $1 (x.y.z) is at least $2 (x.y or x.y.z).
require_rust_at_least() {
    local -a have want
    IFS=. read -r -a have <<<"$1"
    IFS=. read -r -a want <<<"$2"
    local i
    for i in 0 1 2; do
        ((10#${have[i]:-0} == 10#${want[i]:-0})) && continue
        ((10#${have[i]:-0} > 10#${want[i]:-0}))
        return
    done
}

require_rust() {
    local min='' line tool out version how
    while IFS= read -r line; do
        if [[ $line =~ ^rust-version\ *=\ *\"([0-9.]+)\" ]]; then
            min=${BASH_REMATCH[1]}
            break
        fi
    done <Cargo.toml
    [[ -n $min ]] || {
        echo "$0: no rust-version in Cargo.toml (a bug in pipeline)" >&2
        exit 1
    }
    how="Install Rust $min or newer with rustup (https://rustup.rs; Debian's cargo and rustc packages are too old):
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
    . \"\$HOME/.cargo/env\"
then run $0 again."
    if command -v rustup >/dev/null; then
        how="Update it with rustup, then run $0 again:
    rustup default stable && rustup update stable"
    fi
    if ! command -v cargo >/dev/null; then
        if [[ -x ${HOME:-}/.cargo/bin/cargo ]]; then
            how="Rust is installed in ~/.cargo/bin but that is not on PATH:
    . \"\$HOME/.cargo/env\"
then run $0 again."
        fi
        printf '%s: pipeline needs Rust %s or newer (Cargo.toml'\''s rust-version), and cargo is not on PATH.\n%s\n' \
            "$0" "$min" "$how" >&2
        exit 1
    fi
    # cargo runs the rustc on PATH: both must be new enough (Debian 12's cargo
    # 0.66 reports 1.65.0, its rustc 1.63.0).
    for tool in cargo "${RUSTC:-rustc}"; do
        if ! out=$("$tool" --version 2>&1) || ! version=$(require_rust_version_of "$out"); then
            printf '%s: pipeline needs Rust %s or newer; "%s --version" failed:\n%s\n%s\n' \
                "$0" "$min" "$tool" "$out" "$how" >&2
            exit 1
        fi
        if ! require_rust_at_least "$version" "$min"; then
            printf '%s: pipeline needs Rust %s or newer (Cargo.toml'\''s rust-version); %s is %s (%s).\n%s\n' \
                "$0" "$min" "$tool" "$version" "$(command -v "$tool")" "$how" >&2
            exit 1
        fi
    done
}

require_rust
