# The offsetflow CLI for docker compose: producers and consumers are `offsetflow <command>`.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY offsetflow ./offsetflow
COPY producers ./producers
COPY consumers ./consumers
COPY schemas ./schemas
RUN pip install .
ENTRYPOINT ["offsetflow"]
CMD ["--help"]
