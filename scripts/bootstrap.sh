#!/usr/bin/env bash
# Installs everything the build needs, idempotently: Debian packages (Catch2 v2) and a project-local
# virtualenv (.venv) holding Halide 21, CMake >= 3.28 and Ninja, pinned in requirements-build.txt.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_apt=()
[ -f /usr/include/catch2/catch.hpp ] || need_apt+=(catch2)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}"
fi

venv="$root/.venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.requirements-build.sha"
want="$(sha256sum "$root/requirements-build.txt" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements-build.txt"
  echo "$want" > "$stamp"
fi
