"""Building a server from the Go module proxy into the cache, once: the local stack's FerretDB and S3 server.

Not plain ``go install module@version``: the proxy refuses the version list that command asks for with some
modules (HTTP 403). So the module is downloaded at its exact version, copied out of the module cache (which
stays read-only), optionally patched, and its command built in the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from offsetflow.stack.process import StackError, require_tool, run_step


def build_go_command(
    module: str,
    version: str,
    package: str,
    binary: Path,
    what: str,
    install_hint: str,
    prepare: Callable[[Path], None] = lambda _src: None,
    build_flags: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Build ``package`` (e.g. ``./cmd/ferretdb``) of ``module@version`` into ``binary``; ``prepare`` may change
    the copied source first. The build log is kept beside the binary."""
    go = require_tool("go", install_hint)
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOFLAGS": "-buildvcs=false",
        "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local"),
        **(extra_env or {}),
    }
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        work = Path(tmp)
        download = subprocess.run(
            [go, "mod", "download", "-json", f"{module}@{version}"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if download.returncode != 0:
            raise StackError(f"downloading {module}@{version} failed: {(download.stdout + download.stderr).strip()}")
        src = work / "src"
        shutil.copytree(json.loads(download.stdout)["Dir"], src)
        for path in src.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        prepare(src)
        built = work / binary.name
        run_step(
            [go, "build", "-trimpath", *build_flags, "-o", str(built), package],
            cwd=src,
            log_file=binary.parent / "build.log",
            env=env,
            what=what,
        )
        built.rename(binary)
