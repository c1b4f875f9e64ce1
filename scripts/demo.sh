#!/usr/bin/env bash
# Sets up, builds, and shows connleak catching a real leak: the bundled
# example client forgets to close its connections.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo
echo "\$ build/bin/connleak run -- build/bin/leaky_client"
exec build/bin/connleak run -- build/bin/leaky_client
