#!/usr/bin/env bash
# Tests of the Genesys blueprint (deploy/genesys/):
#
#   tests/genesys/run.sh terraform     the Terraform, offline: parsed with an
#                                      HCL parser, every resource and attribute
#                                      name checked against the pinned
#                                      provider's documented schema, every
#                                      reference resolved (no binaries needed)
#   AUTHFLOW_BIN=... AUTHFLOW_DEMO_CRM_BIN=... tests/genesys/run.sh flow
#                                      the Archy flow run end to end against
#                                      a live authflow, Redis, demo CRM and
#                                      loopback SMS sink (started by
#                                      tests/contract/run.sh; its fixture's
#                                      "otp" line sends one-time codes there)
#
# Installs this folder's pinned npm packages (package-lock.json) first; the
# flow tests also use tests/contract's. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
what=${1:-}
command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 2; }
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false NO_UPDATE_NOTIFIER=1

echo "== npm ci (tests/genesys)"
timeout 120 npm ci --no-audit --no-fund --loglevel=error

case "$what" in
  terraform)
    timeout 120 node --test --test-reporter=spec "$HERE/terraform.test.mjs" "$HERE/architect.test.mjs"
    ;;
  flow)
    CONTRACT_SKIP_LINT=1 CONTRACT_TEST_FILES="$HERE/flow.test.mjs" exec ../contract/run.sh
    ;;
  *)
    echo "usage: $0 terraform|flow" >&2
    exit 2
    ;;
esac
