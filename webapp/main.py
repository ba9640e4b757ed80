"""The ASGI entry point: ``uvicorn webapp.main:app``.

The app itself is built in `webapp.server.app`; this module only makes one for uvicorn,
the Dockerfile and the docs, so that path never changes when the server's insides do.
"""

from webapp.server.app import compile_loops, create_app

__all__ = ["app", "compile_loops", "create_app"]

app = create_app()
