"""The web layer: everything HTTP around the numeric core and the autoencoder.

`app` builds the FastAPI app (settings, models, work queue, middleware, routes);
`routes/` holds one module per feature, each thin: read the request, call the core, and
hand the result to `negotiation.respond`, the one place that decides between an htmx
fragment, a page, JSON and an image. `views/` builds what each page shows of a result;
`problems` turns every error into an RFC 9457 answer. Only this package (and the CLI)
imports FastAPI or Starlette: `pyproject.toml`'s import-linter contracts say so.
"""
