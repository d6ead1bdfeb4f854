#!/usr/bin/env bash
# npm start: set up what is missing, build, and run the local server with the
# demo page, the built package and the development signer.
#
#   LISTEN=127.0.0.1:8080   address to listen on
#   DATA_DIR=data           upload state and media (git-ignored)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LISTEN="${LISTEN:-127.0.0.1:8080}"
DATA_DIR="${DATA_DIR:-data}"
# A development key only: the dev signer hands signatures to anyone who asks.
DEV_SECRET_ID="${DEV_SECRET_ID:-dev}"
DEV_SECRET_KEY="${DEV_SECRET_KEY:-dev-secret-key-not-for-production}"

bash scripts/setup.sh
bash scripts/build.sh

mkdir -p "$DATA_DIR"
cat <<MSG

  vod-ugc-upload demo
  Open http://$LISTEN/ in a browser, pick a file, and watch it upload.
  (Uploads are stored in $DATA_DIR/. Stop with Ctrl-C.)

MSG
exec target/release/vod-ugc-server \
  --listen "$LISTEN" \
  --data "$DATA_DIR" \
  --www www \
  --pkg pkg \
  --dev-signer \
  --secret-id "$DEV_SECRET_ID" \
  --secret-key "$DEV_SECRET_KEY"
