"""The HTTP service on top of the core (`inference`): the factory (app/factory.py), routes,
bookkeeping, the v2 codec and the gunicorn glue. Importing this package imports nothing: the
gunicorn master loads app.worker and app.boot before the workers set up prometheus_client."""
