# The `proxy` service of docker-compose.yml: Debian's nginx in front of gunicorn, configured by
# docker/nginx/render.py from the environment at start. Built FROM the same base as the API image
# (BASE_IMAGE), so it builds wherever the API builds, with apt only (no other registry needed).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /srv/proxy/tmp
COPY docker/nginx/nginx.conf.template docker/nginx/render.py /srv/proxy/
EXPOSE 8000
# SIGQUIT: nginx's graceful stop (finishes the requests in flight); SIGTERM would cut them.
STOPSIGNAL SIGQUIT
ENTRYPOINT ["python3", "/srv/proxy/render.py", "/srv/proxy/nginx.conf", "--exec"]
