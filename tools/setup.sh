#!/usr/bin/env bash
# Creates .venv (if missing), installs airlib with its book and test extras, the Debian libraries
# MuJoCo and the browser test need, and caches MNIST. Safe to run again: it reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.airlib-installed
DEB_PKGS="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 chromium"

missing=()
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x $VENV/bin/python ]; then
  echo "setup: creating $VENV"
  $PY -m venv $VENV
fi
# Reinstall only when the package metadata changed.
if [ ! -f $STAMP ] || [ pyproject.toml -nt $STAMP ]; then
  echo "setup: installing airlib and its dependencies into $VENV"
  # torch first and pinned, so nothing later can pull a CUDA build. (grep drops this machine's
  # notes about absent local package folders.)
  pip() { $VENV/bin/python -m pip install -q "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }
  pip --upgrade pip
  pip "torch==2.13.0"
  pip -e ".[book,test]"
  $VENV/bin/python -c "import torch, airlib, papermill, jupytext, nbval, xdist" 
  $VENV/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
  touch $STAMP
fi
$VENV/bin/python -m airlib data
