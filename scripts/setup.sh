#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine (or macOS) for building and testing Pensieve:
# system packages, then a project-local .venv holding the pinned MLX backend wheel (its C++
# headers, libmlx and CMake config) and the Python reference tools. Idempotent: a stamp file
# records what was installed so repeated `make` runs cost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(build-essential cmake ninja-build pkg-config clang python3 python3-venv python3-dev
  libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
  libcurl4-openssl-dev libssl-dev libedit-dev
  tmux chromium)  # tmux and chromium drive the terminal-chat and web-page tests

if [[ "$(uname)" == "Linux" ]] && command -v apt-get >/dev/null; then
  missing=()
  command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

# npm test clients (Claude Code's native binary, Playwright for the web page), when npm is there.
if command -v npm >/dev/null && [[ ! -x tests/clients/node_modules/.bin/claude ||
      ! -d tests/clients/node_modules/playwright-core ||
      tests/clients/package.json -nt tests/clients/node_modules/.stamp ]]; then
  (cd tests/clients && npm install --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/.stamp)
fi

# Constrained decoding builds llguidance from crates.io with cargo, which needs Rust >= 1.87:
# newer than Debian bookworm's rustc (1.63), so Rust comes from rustup (rustup.rs).
[[ -x "$HOME/.cargo/bin/cargo" ]] && PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null && command -v rustup >/dev/null; then
  rustup default stable >&2
fi
rust_version=$(rustc --version 2>/dev/null | awk '{print $2}')
if [[ -z "$rust_version" || "$(printf '%s\n' 1.87.0 "$rust_version" | sort -V | head -1)" != 1.87.0 ]]; then
  echo "setup: Rust >= 1.87 with cargo is needed (found: ${rust_version:-none}); install it with" \
    "rustup (https://rustup.rs), then run make again" >&2
  exit 1
fi

# Backend wheel: mlx-cpu on Linux (default), mlx-cuda-13 with PENSIEVE_BACKEND=cuda, Metal on macOS.
REQ=requirements-test.txt
STAMP=.venv/.pensieve-setup
want="$(cat "$REQ") backend=${PENSIEVE_BACKEND:-cpu}"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then exit 0; fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r "$REQ"
if [[ "${PENSIEVE_BACKEND:-cpu}" == "cuda" ]]; then
  .venv/bin/pip install -q "mlx[cuda13]==0.32.4"
fi
echo "$want" > "$STAMP"
echo "setup: .venv ready" >&2
