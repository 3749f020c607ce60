"""Apache Kafka (KRaft, single node) from its Maven Central jars, run on the machine's Java."""

from __future__ import annotations

import base64
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from offsetflow.stack.process import (
    ManagedProcess,
    StackError,
    port_open,
    require_tool,
    run_step,
    wait_until_listening,
)

KAFKA_VERSION = "4.4.0"
SLF4J_VERSION = "2.0.17"
LOG4J_VERSION = "2.24.3"

_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>offsetflow</groupId>
  <artifactId>local-kafka</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
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

_LOG4J2 = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: info
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: warn
      - name: org.apache.kafka.controller
        level: warn
"""


@dataclass(frozen=True)
class KafkaServer:
    cache_dir: Path
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    heap: str = "1g"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def home(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("kafka", self.home / "kafka.pid", self.home / "kafka.log", str(self.home))

    def installed(self) -> bool:
        return any(self.libs_dir.glob("kafka_2.13-*.jar"))

    def install(self) -> None:
        """Fetch the broker jars with Maven once; later starts reuse the cache."""
        if self.installed():
            return
        require_tool("java", "install a Java 17+ runtime (e.g. `apt install openjdk-17-jre-headless`)")
        fetch_with_maven(_POM, self.libs_dir, f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}")

    def _java(self, main_class: str, *args: str) -> list[str]:
        java = require_tool("java", "install a Java 17+ runtime (e.g. `apt install openjdk-17-jre-headless`)")
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            "-cp",
            f"{self.libs_dir}/*",
            main_class,
            *args,
        ]

    def _write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "6",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "6",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        path = self.home / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j2.yaml").write_text(_LOG4J2)
        return path

    def start(self, timeout: float = 90.0) -> None:
        if self.process.pid() is not None:
            return
        if port_open(self.host, self.port):
            raise StackError(
                f"port {self.port} is taken by a process offsetflow did not start; stop it or pass --kafka-port"
            )
        self.install()
        config = self._write_config()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            run_step(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                cwd=self.home,
                log_file=self.process.log_file,
                what="formatting Kafka storage",
            )
        proc = self.process.start(self._java("kafka.Kafka", str(config)), cwd=self.home)
        wait_until_listening(self.process, proc, self.host, self.port, timeout)


def fetch_with_maven(pom: str, libs_dir: Path, what: str) -> None:
    """Copy the runtime jars ``pom`` depends on into ``libs_dir`` with Maven. Atomic: a half-finished fetch
    never looks installed (the jars are renamed into place only once all are there)."""
    mvn = require_tool("mvn", "install Apache Maven (e.g. `apt install maven`) to fetch the Kafka jars")
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs_dir.parent) as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(pom)
        run_step(
            [
                mvn,
                "-q",
                "-B",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={work / 'libs'}",
                "-DincludeScope=runtime",
            ],
            cwd=work,
            log_file=libs_dir.parent / "maven.log",
            what=f"fetching {what} with Maven",
        )
        shutil.rmtree(libs_dir, ignore_errors=True)
        (work / "libs").rename(libs_dir)
