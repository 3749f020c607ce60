"""Everything the compose test needs built locally, cached under the cache dir.

No image registry is reachable here, so nothing is pulled: a Debian base from Debian packages
(`debootstrap` + `docker import`), stand-ins for the official Kafka and MongoDB images from the builds the
local stack already makes (Kafka's Maven jars, our FerretDB), the offsetflow image from host-built wheels,
and the Compose v2 CLI from its Go module. Stand-ins are named ``offsetflow-standin/...``: never tagged as
the official images they replace.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from offsetflow.stack.docker import Docker
from offsetflow.stack.ferretdb import FERRETDB_VERSION, FerretDBServer
from offsetflow.stack.gobuild import build_go_command
from offsetflow.stack.kafka import _LOG4J2, KAFKA_VERSION, LOG4J_VERSION, SLF4J_VERSION, fetch_with_maven
from offsetflow.stack.process import require_tool, run_step

COMPOSE_MODULE = "github.com/docker/compose/v2"
COMPOSE_VERSION = "v2.29.7"
DEBIAN_SUITE = "bookworm"
# Python for the offsetflow image, a JRE for the Kafka stand-in; one base keeps one debootstrap.
DEBIAN_PACKAGES = ("python3", "python3-venv", "openjdk-17-jre-headless")

BASE_IMAGE = f"offsetflow-standin/debian:{DEBIAN_SUITE}"
KAFKA_STANDIN = f"offsetflow-standin/kafka:{KAFKA_VERSION}"
MONGO_STANDIN = f"offsetflow-standin/mongo-ferretdb:{FERRETDB_VERSION.removeprefix('v')}"
RECIPE_LABEL = "org.offsetflow.recipe"

_GO_ENV = {"GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}

_KAFKA_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>offsetflow</groupId>
  <artifactId>standin-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId>
      <version>{KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>{SLF4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
"""

# The official apache/kafka image turns KAFKA_FOO_BAR into foo.bar (`__` -> `_`, `___` -> `-`), formats the
# storage with CLUSTER_ID on first start and runs the broker; the stand-in does the same.
_KAFKA_RUN = r"""#!/bin/bash
set -euo pipefail
props=/opt/kafka/config/server.properties
: > "$props"
while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_LOG4J_OPTS|KAFKA_JMX_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_VERSION) continue ;;
    KAFKA_*) ;;
    *) continue ;;
  esac
  key=${name#KAFKA_}
  key=$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
  printf '%s=%s\n' "$key" "$value" >> "$props"
done < <(env)
logdirs=$(sed -n 's/^log\.dirs=//p' "$props")
if [ -z "$logdirs" ]; then
  logdirs=/tmp/kraft-combined-logs
  echo "log.dirs=$logdirs" >> "$props"
fi
java_opts=(${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m} -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml ${KAFKA_OPTS:-})
if [ ! -e "${logdirs%%,*}/meta.properties" ]; then
  java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.tools.StorageTool format \
    -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$props" --ignore-formatted
fi
exec java "${java_opts[@]}" -cp '/opt/kafka/libs/*' kafka.Kafka "$props"
"""

_KAFKA_TOPICS = r"""#!/bin/bash
# kafka-topics.sh as in the official image: org.apache.kafka.tools.TopicCommand (a small JVM, quiet log).
exec java ${KAFKA_TOOLS_HEAP_OPTS:--Xmx128m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
  -Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml -cp '/opt/kafka/libs/*' \
  org.apache.kafka.tools.TopicCommand "$@"
"""

_TOOLS_LOG4J2 = """Configuration:
  status: error
  Appenders:
    Console:
      name: STDERR
      target: SYSTEM_ERR
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: error
      AppenderRef:
        - ref: STDERR
"""

_KAFKA_DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY libs /opt/kafka/libs
COPY run kafka-topics.sh /opt/kafka/bin/
COPY log4j2.yaml tools-log4j2.yaml /opt/kafka/config/
RUN chmod 755 /opt/kafka/bin/* && useradd --system --uid 1000 --home-dir /opt/kafka appuser \\
    && mkdir -p /var/lib/kafka/data && chown -R appuser /opt/kafka/config /var/lib/kafka
ENV PATH=/opt/kafka/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER appuser
EXPOSE 9092
ENTRYPOINT ["/opt/kafka/bin/run"]
"""

# The official mongo image keeps its data in /data/db and has `mongosh`; so does the stand-in.
_MONGO_DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY ferretdb mongosh /usr/local/bin/
RUN chmod 755 /usr/local/bin/ferretdb /usr/local/bin/mongosh \\
    && useradd --system --uid 999 --home-dir /data mongodb && mkdir -p /data/db && chown -R mongodb /data
USER mongodb
EXPOSE 27017
ENTRYPOINT ["/bin/sh", "-c", "mkdir -p /data/db/state && exec ferretdb --handler=sqlite --sqlite-url=file:/data/db/ \\
--listen-addr=:27017 --state-dir=/data/db/state --telemetry=disable --debug-addr=- --log-level=warn"]
"""

# `mongosh --quiet --eval "db.adminCommand('ping').ok"` for the FerretDB stand-in: a real ping over the wire
# protocol (OP_MSG), printing the reply's ok field; exits 1 when the server does not answer ok.
_MONGOSH_GO = r"""package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"time"
)

func cstring(b *bytes.Buffer, s string) { b.WriteString(s); b.WriteByte(0) }

func pingDoc() []byte {
	var body bytes.Buffer
	body.WriteByte(0x10)
	cstring(&body, "ping")
	binary.Write(&body, binary.LittleEndian, int32(1))
	body.WriteByte(0x02)
	cstring(&body, "$db")
	binary.Write(&body, binary.LittleEndian, int32(len("admin")+1))
	cstring(&body, "admin")
	body.WriteByte(0)
	doc := make([]byte, 4, 4+body.Len())
	binary.LittleEndian.PutUint32(doc, uint32(4+body.Len()))
	return append(doc, body.Bytes()...)
}

func okField(doc []byte) (float64, error) {
	i := 4
	for i < len(doc)-1 {
		t := doc[i]
		i++
		end := bytes.IndexByte(doc[i:], 0)
		if end < 0 {
			return 0, fmt.Errorf("bad element name")
		}
		name := string(doc[i : i+end])
		i += end + 1
		var size int
		switch t {
		case 0x01, 0x09, 0x11, 0x12:
			size = 8
		case 0x10:
			size = 4
		case 0x08:
			size = 1
		case 0x0A:
			size = 0
		case 0x07:
			size = 12
		case 0x02, 0x0D, 0x0E:
			size = 4 + int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x03, 0x04:
			size = int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x05:
			size = 5 + int(binary.LittleEndian.Uint32(doc[i:]))
		case 0x13:
			size = 16
		default:
			return 0, fmt.Errorf("unsupported BSON type 0x%x", t)
		}
		if name == "ok" {
			switch t {
			case 0x01:
				return math.Float64frombits(binary.LittleEndian.Uint64(doc[i:])), nil
			case 0x10:
				return float64(int32(binary.LittleEndian.Uint32(doc[i:]))), nil
			case 0x12:
				return float64(int64(binary.LittleEndian.Uint64(doc[i:]))), nil
			case 0x08:
				return float64(doc[i]), nil
			}
		}
		i += size
	}
	return 0, fmt.Errorf("no ok field in the reply")
}

func ping(addr string) (float64, error) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	doc := pingDoc()
	msg := make([]byte, 21, 21+len(doc))
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)+len(doc)))
	binary.LittleEndian.PutUint32(msg[4:], 1)
	binary.LittleEndian.PutUint32(msg[12:], 2013) // OP_MSG, flags 0, one body section (kind 0)
	if _, err := conn.Write(append(msg, doc...)); err != nil {
		return 0, err
	}
	header := make([]byte, 16)
	if _, err := io.ReadFull(conn, header); err != nil {
		return 0, err
	}
	length := int(binary.LittleEndian.Uint32(header))
	if length < 21 || length > 48<<20 || binary.LittleEndian.Uint32(header[12:]) != 2013 {
		return 0, fmt.Errorf("unexpected reply header")
	}
	rest := make([]byte, length-16)
	if _, err := io.ReadFull(conn, rest); err != nil {
		return 0, err
	}
	if rest[4] != 0 {
		return 0, fmt.Errorf("unexpected reply section kind %d", rest[4])
	}
	return okField(rest[5:])
}

func main() {
	addr := os.Getenv("MONGOSH_STANDIN_ADDR")
	if addr == "" {
		addr = "127.0.0.1:27017"
	}
	ok, err := ping(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ping failed:", err)
		os.Exit(1)
	}
	fmt.Println(ok)
	if ok != 1 {
		os.Exit(1)
	}
}
"""


def _recipe(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


_GO_HINT = "install Go 1.24+ (https://go.dev/dl/) to build Compose and the stand-ins"


def _go() -> str:
    return require_tool("go", _GO_HINT)


def _go_env() -> dict[str, str]:
    return {**os.environ, **_GO_ENV, "GOTOOLCHAIN": os.environ.get("GOTOOLCHAIN", "local")}


@dataclass(frozen=True)
class Builds:
    """Host-side builds, each done once into the cache dir (atomic renames: half-done never looks done)."""

    cache_dir: Path

    @property
    def root(self) -> Path:
        return self.cache_dir / "compose-test"

    @property
    def compose(self) -> Path:
        return self.root / f"compose-{COMPOSE_VERSION}" / "docker-compose"

    def build_compose(self) -> Path:
        """The Compose v2 CLI (the standalone `docker-compose` binary) from its Go module."""
        if self.compose.exists():
            return self.compose
        version_flag = f"-X github.com/docker/compose/v2/internal.Version={COMPOSE_VERSION}"
        build_go_command(
            COMPOSE_MODULE,
            COMPOSE_VERSION,
            "./cmd",
            self.compose,
            f"building Compose {COMPOSE_VERSION}",
            _GO_HINT,
            build_flags=("-ldflags", f"-s -w {version_flag}"),
            extra_env=_GO_ENV,
        )
        return self.compose

    @property
    def rootfs(self) -> Path:
        return self.root / f"debian-{DEBIAN_SUITE}-{_recipe(*DEBIAN_PACKAGES)}.tar"

    def build_rootfs(self) -> Path:
        """A minimal Debian with Python and a JRE, from Debian's packages (debootstrap, as root)."""
        if self.rootfs.exists():
            return self.rootfs
        debootstrap = require_tool("debootstrap", "install it: apt-get install -y debootstrap")
        mirror = os.environ.get("OFFSETFLOW_DEBIAN_MIRROR", "http://deb.debian.org/debian")
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            target = Path(tmp) / "rootfs"
            run_step(
                [
                    debootstrap,
                    "--variant=minbase",
                    f"--include={','.join(DEBIAN_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(target),
                    mirror,
                ],
                cwd=Path(tmp),
                log_file=self.root / "debootstrap.log",
                what=f"debootstrap {DEBIAN_SUITE}",
            )
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (target / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = Path(tmp) / "rootfs.tar"
            run_step(
                ["tar", "--numeric-owner", "-C", str(target), "-cf", str(partial), "."],
                cwd=Path(tmp),
                log_file=self.root / "debootstrap.log",
                what="packing the Debian root file system",
            )
            partial.rename(self.rootfs)
        return self.rootfs

    @property
    def kafka_libs(self) -> Path:
        return self.root / f"standin-kafka-{KAFKA_VERSION}" / "libs"

    def fetch_kafka_libs(self) -> Path:
        """The local stack's Kafka jars plus kafka-tools (kafka-topics.sh, used by the healthcheck)."""
        if any(self.kafka_libs.glob("kafka-tools-*.jar")):
            return self.kafka_libs
        fetch_with_maven(_KAFKA_POM, self.kafka_libs, f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}")
        return self.kafka_libs

    def ferretdb(self) -> Path:
        """The local stack's FerretDB build (same cache, same patch)."""
        server = FerretDBServer(self.cache_dir, self.root / "unused")
        server.install()
        return server.binary

    @property
    def mongosh(self) -> Path:
        return self.root / f"standin-mongosh-{_recipe(_MONGOSH_GO)}" / "mongosh"

    def build_mongosh(self) -> Path:
        if self.mongosh.exists():
            return self.mongosh
        self.mongosh.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.mongosh.parent) as tmp:
            work = Path(tmp)
            (work / "go.mod").write_text("module mongosh-standin\n\ngo 1.21\n")
            (work / "main.go").write_text(_MONGOSH_GO)
            run_step(
                [_go(), "build", "-trimpath", "-o", str(work / "mongosh"), "."],
                cwd=work,
                log_file=self.mongosh.parent / "build.log",
                env=_go_env(),
                what="building the mongosh stand-in",
            )
            (work / "mongosh").rename(self.mongosh)
        return self.mongosh

    def build_wheels(self, repo: Path, out: Path) -> None:
        """offsetflow and its dependencies as wheels for the image (the host's Python matches the base's)."""
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        run_step(
            [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--wheel-dir", str(out), "."],
            cwd=repo,
            log_file=self.root / "wheels.log",
            what="building wheels",
        )


def image_recipe(docker: Docker, image: str) -> str | None:
    """The recipe label of a local image, or None when there is no such image."""
    result = docker.run(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', image, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_base(docker: Docker, builds: Builds) -> None:
    recipe = _recipe(builds.rootfs.name)
    if image_recipe(docker, BASE_IMAGE) == recipe:
        return
    rootfs = builds.build_rootfs()
    with open(rootfs, "rb") as tar:
        docker.run(
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            f"LABEL {RECIPE_LABEL}={recipe}",
            "--change",
            'CMD ["bash"]',
            "-",
            BASE_IMAGE,
            stdin=tar,
            timeout=600,
        )


def _build_context_image(docker: Docker, image: str, recipe: str, files: dict[str, Path | str]) -> None:
    if image_recipe(docker, image) == recipe:
        return
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        for name, content in files.items():
            target = context / name
            if isinstance(content, Path) and content.is_dir():
                shutil.copytree(content, target)
            elif isinstance(content, Path):
                shutil.copy2(content, target)
            else:
                target.write_text(content)
        docker.run("build", "--label", f"{RECIPE_LABEL}={recipe}", "-t", image, str(context), timeout=900)


def ensure_kafka_standin(docker: Docker, builds: Builds) -> None:
    recipe = _recipe(BASE_IMAGE, _recipe(builds.rootfs.name), _KAFKA_DOCKERFILE, _KAFKA_RUN, _KAFKA_TOPICS, _KAFKA_POM)
    if image_recipe(docker, KAFKA_STANDIN) == recipe:
        return
    files: dict[str, Path | str] = {
        "Dockerfile": _KAFKA_DOCKERFILE,
        "libs": builds.fetch_kafka_libs(),
        "run": _KAFKA_RUN,
        "kafka-topics.sh": _KAFKA_TOPICS,
        "log4j2.yaml": _LOG4J2,
        "tools-log4j2.yaml": _TOOLS_LOG4J2,
    }
    _build_context_image(docker, KAFKA_STANDIN, recipe, files)


def ensure_mongo_standin(docker: Docker, builds: Builds) -> None:
    ferretdb = builds.ferretdb()  # its cache path names the version and the local build (patches)
    recipe = _recipe(BASE_IMAGE, _recipe(builds.rootfs.name), _MONGO_DOCKERFILE, _MONGOSH_GO, str(ferretdb))
    if image_recipe(docker, MONGO_STANDIN) == recipe:
        return
    files: dict[str, Path | str] = {
        "Dockerfile": _MONGO_DOCKERFILE,
        "ferretdb": ferretdb,
        "mongosh": builds.build_mongosh(),
    }
    _build_context_image(docker, MONGO_STANDIN, recipe, files)
