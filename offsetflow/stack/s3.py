"""An S3-compatible server for the local stack: versitygw on its posix backend, built from the Go module proxy.

Why versitygw rather than MinIO: both are Go modules without ``replace`` directives, but versitygw's posix
backend keeps each object as a plain file under the data dir (easy to inspect, nothing to format) and its
build is a fraction of MinIO's. It speaks the S3 API that botocore/s3fs, polars, DuckDB and Spark use, with
path-style addressing on 127.0.0.1.

The credentials are fixed development ones: the stack only listens on 127.0.0.1. They reach the server through
its environment, never its command line (``ps`` shows command lines to every user).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from offsetflow.stack.gobuild import build_go_command
from offsetflow.stack.process import (
    ManagedProcess,
    StackError,
    port_open,
    wait_until_listening,
)

VERSITYGW_MODULE = "github.com/versity/versitygw"
VERSITYGW_VERSION = "v1.8.0"
# Bumped whenever the local build changes, so caches rebuild.
LOCAL_BUILD = "offsetflow.1"

DEV_ACCESS_KEY_ID = "offsetflow-dev"
DEV_SECRET_ACCESS_KEY = "offsetflow-dev-secret-not-for-production"
DEV_REGION = "us-east-1"
DEV_BUCKET = "offsetflow"

_GO_HINT = "install Go 1.25+ (https://go.dev/dl/) to build the S3 server (versitygw)"


@dataclass(frozen=True)
class S3Server:
    cache_dir: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9000

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def binary(self) -> Path:
        return self.cache_dir / f"versitygw-{VERSITYGW_VERSION}-{LOCAL_BUILD}" / "versitygw"

    @property
    def home(self) -> Path:
        return self.data_dir / "s3"

    @property
    def buckets(self) -> Path:
        """One folder per bucket, one file per object: ``buckets/<bucket>/<key>``."""
        return self.home / "buckets"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("s3", self.home / "s3.pid", self.home / "s3.log", str(self.buckets))

    def client_env(self) -> dict[str, str]:
        """The standard AWS variables that point boto-style clients (s3fs, boto3, the AWS CLI) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
            "AWS_REGION": DEV_REGION,
        }

    def installed(self) -> bool:
        return self.binary.exists()

    def install(self) -> None:
        """Build the binary once: download the module at an exact version (the proxy refuses version lists
        for some modules), then build its command in a copy, so the module cache stays read-only."""
        if self.installed():
            return
        build_go_command(
            VERSITYGW_MODULE,
            VERSITYGW_VERSION,
            "./cmd/versitygw",
            self.binary,
            f"building versitygw {VERSITYGW_VERSION}",
            _GO_HINT,
            build_flags=("-ldflags", f"-X main.Version={VERSITYGW_VERSION}"),
        )

    def start(self, timeout: float = 60.0) -> None:
        if self.process.pid() is not None:
            return
        if port_open(self.host, self.port):
            raise StackError(
                f"port {self.port} is taken by a process offsetflow did not start; stop it or pass --s3-port"
            )
        self.install()
        meta = self.home / "meta"
        (self.buckets / DEV_BUCKET).mkdir(parents=True, exist_ok=True)
        meta.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            f"--port={self.host}:{self.port}",
            f"--region={DEV_REGION}",
            "--quiet",
            "posix",
            # Metadata in files next to the data rather than in extended attributes, which not every
            # filesystem a data dir may sit on (tmpfs, some overlays) supports.
            f"--sidecar={meta}",
            str(self.buckets),
        ]
        # Only what the server needs: it reads many VGW_*/LOGFILE/WEBHOOK variables, and a stray one in the
        # user's shell must not change it.
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "ROOT_ACCESS_KEY_ID": DEV_ACCESS_KEY_ID,
            "ROOT_SECRET_ACCESS_KEY": DEV_SECRET_ACCESS_KEY,
        }
        proc = self.process.start(argv, cwd=self.home, env=env)
        wait_until_listening(self.process, proc, self.host, self.port, timeout)


def wait_s3_usable(server: S3Server, deadline: float) -> None:
    """Ready means an authenticated listing of the dev bucket works, not merely an open port."""
    from offsetflow.sinks.storage import s3_filesystem

    last = ""
    while time.monotonic() < deadline:
        try:
            fs = s3_filesystem(server.client_env())
            fs.ls(DEV_BUCKET, refresh=True)
            return
        except Exception as exc:
            last = str(exc)
            time.sleep(0.3)
    raise StackError(f"the S3 server at {server.endpoint_url} did not list bucket {DEV_BUCKET} in time: {last}")
