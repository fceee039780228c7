# Tip Coach: the Slack bot (web), the weekly tip (clock) and the release step (migrate).
# The build steps live in deploy/build.sh (tests run that script on machines without a
# container engine). No torch here: the model runs on onnxruntime.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
COPY . /src
RUN /src/deploy/build.sh /src /opt/venv /app/var

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 coach
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/corpus /app/corpus
COPY --from=build --chown=coach:coach /app/var /app/var
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    COACH_CORPUS_DIR=/app/corpus \
    COACH_DATA_DIR=/app/var \
    PORT=3000
USER coach
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=2)"
CMD ["coach", "serve", "--http"]
