"""FerretDB 1.x on SQLite: a MongoDB-wire-protocol database built from the Go module proxy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from offsetflow.stack.gobuild import build_go_command
from offsetflow.stack.process import (
    ManagedProcess,
    StackError,
    port_open,
    wait_until_listening,
)

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
# Bumped whenever the local build changes, so caches rebuild.
LOCAL_BUILD = "offsetflow.2"
# Upstream queries `_id` with `->'$._id'` while its unique `_id_` index is on `->"_id"`; SQLite cannot match
# the two, so every find/update/delete by `_id` scanned the whole table (240 ms at 50k documents). With the
# query written like the index it is an index SEARCH (under 2 ms). Same JSON value, so old data is fine.
_ID_COLUMN_PATCH = (
    "internal/backends/sqlite/metadata/metadata.go",
    """IDColumn = DefaultColumn + "->'$._id'\"""",
    """IDColumn = DefaultColumn + `->"_id"`""",
)
# Each update statement of an `update` command queries its document and upstream closes that query only when
# the whole command ends (`defer` in the loop). A matched row leaves its SQLite connection busy, so a command
# holds one connection per matched update; the pool has 100, so one command of 100 upserts of existing
# documents, or three consumers writing 50 at once (a replay with `--scale 3`), wait on each other forever.
# Closing each update's query when that update is done keeps a command at two connections.
_UPDATE_CLOSE_PATCH = (
    "internal/handler/msg_update.go",
    """		closer := iterator.NewMultiCloser()
		defer closer.Close()
""",
    """		closer := iterator.NewMultiCloser()
""",
)
_UPDATE_CLOSE_PATCH_2 = (
    "internal/handler/msg_update.go",
    """		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {""",
    """		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		closer.Close()
		if err != nil {""",
)
_PATCHES = (_ID_COLUMN_PATCH, _UPDATE_CLOSE_PATCH, _UPDATE_CLOSE_PATCH_2)
_GO_HINT = "install Go 1.24+ (https://go.dev/dl/) to build FerretDB"


@dataclass(frozen=True)
class FerretDBServer:
    cache_dir: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 27017

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def binary(self) -> Path:
        return self.cache_dir / f"ferretdb-{FERRETDB_VERSION}-{LOCAL_BUILD}" / "ferretdb"

    @property
    def home(self) -> Path:
        return self.data_dir / "ferretdb"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("ferretdb", self.home / "ferretdb.pid", self.home / "ferretdb.log", str(self.home))

    def installed(self) -> bool:
        return self.binary.exists()

    def install(self) -> None:
        """Build the binary once.

        Not plain ``go install ...@v1.24.2``: the module proxy refuses the version list that command asks
        for (HTTP 403), and the module zip lacks ``build/version/version.txt``, without which the binary
        panics at start. So: download the module, add the version file, patch the `_id` lookups, build.
        """
        if self.installed():
            return

        def prepare(src: Path) -> None:
            (src / "build" / "version" / "version.txt").write_text(FERRETDB_VERSION + "\n")
            _patch(src)

        build_go_command(
            FERRETDB_MODULE,
            FERRETDB_VERSION,
            "./cmd/ferretdb",
            self.binary,
            f"building FerretDB {FERRETDB_VERSION}",
            _GO_HINT,
            prepare,
        )

    def start(self, timeout: float = 60.0) -> None:
        if self.process.pid() is not None:
            return
        if port_open(self.host, self.port):
            raise StackError(
                f"port {self.port} is taken by a process offsetflow did not start; stop it or pass --mongo-port"
            )
        self.install()
        (self.home / "sqlite").mkdir(parents=True, exist_ok=True)
        (self.home / "state").mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--handler=sqlite",
            f"--sqlite-url=file:{self.home / 'sqlite'}/",
            f"--listen-addr={self.host}:{self.port}",
            f"--state-dir={self.home / 'state'}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=warn",
        ]
        proc = self.process.start(argv, cwd=self.home)
        wait_until_listening(self.process, proc, self.host, self.port, timeout)


def _patch(src: Path) -> None:
    for relative, old, new in _PATCHES:
        path = src / relative
        text = path.read_text()
        if text.count(old) != 1:
            raise StackError(f"cannot apply a FerretDB patch: {old!r} not found once in {relative}")
        path.write_text(text.replace(old, new))
