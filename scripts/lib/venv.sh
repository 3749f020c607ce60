# Sourced by scripts/*: make sure .venv exists and matches pyproject.toml (re-installs when it changes).
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo_root"
python=${PYTHON:-python3}
stamp=.venv/.offsetflow-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up .venv (python: $($python --version 2>&1)) ..." >&2
  "$python" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  echo "$want" > "$stamp"
fi
export PATH="$repo_root/.venv/bin:$PATH"
