# Shared by scripts/vendor-check.sh and scripts/vendor-refresh.sh (sourced, not run): builds
# pristine smoltcp 0.14.0 plus vendor/patches/*.patch, in order, into a directory.
#
# The pristine crate is the .crate file crates.io serves, checked against its sha256 (the one
# Cargo.lock recorded before the crate was vendored). It comes from cargo's download cache, or,
# when that is empty, from `cargo fetch` in a throw-away project that depends on it.

SMOLTCP_VERSION=0.14.0
SMOLTCP_SHA256=b6f8b28ad56c6e35524a37dd492af5d1a47e31e1a4d175cd12f89c075f01980f

# Prints the path of the checked .crate file of smoltcp $SMOLTCP_VERSION.
pristine_crate() {
  local home=${CARGO_HOME:-$HOME/.cargo} crate
  crate=$(ls "$home"/registry/cache/*/smoltcp-$SMOLTCP_VERSION.crate 2>/dev/null | head -n1 || true)
  if [ -z "$crate" ]; then
    local proj
    proj=$(mktemp -d)
    mkdir -p "$proj/src"
    printf '[package]\nname = "fetch-smoltcp"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nsmoltcp = { version = "=%s", default-features = false }\n' \
      "$SMOLTCP_VERSION" >"$proj/Cargo.toml"
    : >"$proj/src/lib.rs"
    (cd "$proj" && cargo fetch --quiet) >&2 || { echo "cannot fetch smoltcp $SMOLTCP_VERSION (cargo fetch failed)" >&2; rm -rf "$proj"; return 1; }
    rm -rf "$proj"
    crate=$(ls "$home"/registry/cache/*/smoltcp-$SMOLTCP_VERSION.crate 2>/dev/null | head -n1 || true)
  fi
  if [ -z "$crate" ]; then
    echo "smoltcp-$SMOLTCP_VERSION.crate is not in $home/registry/cache" >&2
    return 1
  fi
  local sum
  sum=$(sha256sum "$crate" | cut -d' ' -f1)
  if [ "$sum" != "$SMOLTCP_SHA256" ]; then
    echo "$crate has sha256 $sum, expected $SMOLTCP_SHA256: not the pristine crate" >&2
    return 1
  fi
  printf '%s\n' "$crate"
}

# build_patched DIR: DIR/smoltcp becomes the pristine crate with every patch applied.
build_patched() {
  local out=$1 crate patch
  crate=$(pristine_crate) || return 1
  tar -xzf "$crate" -C "$out" || return 1
  mv "$out/smoltcp-$SMOLTCP_VERSION" "$out/smoltcp"
  for patch in vendor/patches/*.patch; do
    [ -e "$patch" ] || continue
    # --no-backup-if-mismatch and -F0: a patch that does not apply exactly is an error.
    if ! patch -d "$out/smoltcp" -p1 -F0 -s --no-backup-if-mismatch <"$patch" >&2; then
      echo "$patch does not apply to pristine smoltcp $SMOLTCP_VERSION plus the patches before it" >&2
      return 1
    fi
  done
}
