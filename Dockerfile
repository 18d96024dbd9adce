# One image for every orderflow process: api, relay, worker, migrate.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 orderflow
COPY --from=build /install /usr/local
USER orderflow
ENV PYTHONUNBUFFERED=1
EXPOSE 4000
# SIGTERM lets workers finish their batch and commit before exiting.
STOPSIGNAL SIGTERM
CMD ["orderflow", "api", "--host", "0.0.0.0", "--port", "4000"]
