#!/usr/bin/env bash
# The image's build steps, in one script: the Dockerfile runs it, and so does
# tests/test_deploy.py on machines without a container engine.
#
#   deploy/build.sh SRC VENV DATA_DIR
#
# SRC       the repository (pyproject.toml, corpus/ ...)
# VENV      where to create the virtual environment (e.g. /opt/venv)
# DATA_DIR  where to build the index (e.g. /app/var), so a container answers at once
#
# The bot runs its model on onnxruntime: no torch in the image (training needs the
# [train] extra and PyTorch's CPU index: see README > Deployment).
set -euo pipefail
SRC=${1:?usage: deploy/build.sh SRC VENV DATA_DIR}
VENV=${2:?usage: deploy/build.sh SRC VENV DATA_DIR}
DATA=${3:?usage: deploy/build.sh SRC VENV DATA_DIR}
PYTHON=${PYTHON:-python3}

echo "==> virtual environment in $VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check "$SRC"

echo "==> index of $SRC/corpus in $DATA"
export HF_HUB_OFFLINE=1 COACH_DATA_DIR="$DATA" COACH_CORPUS_DIR="$SRC/corpus"
"$VENV/bin/coach" index --check
"$VENV/bin/coach" index

echo "==> installed size"
du -sh "$VENV" "$DATA/index" | sed 's/^/    /'
