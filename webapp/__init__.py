"""convlens: see the layers of a convolutional network.

The layout is the architecture:

* the modules flat in ``webapp/`` are the lesson's numeric core, one noun each
  (`arithmetic`, `padding`, `kernels`, `convolution`, `engine`, `pooling`, `display`,
  `images`, `photos`, `numeric`, ...): plain numpy, no web framework;
* ``webapp/autoencoder/`` runs the ONNX autoencoders trained on MNIST;
* ``webapp/server/`` is everything HTTP (FastAPI, templates, routes by feature);
* `main` is the ASGI entry point (``uvicorn webapp.main:app``), `cli` the ``convlens``
  command.

Only the server layer and the CLI import FastAPI or Starlette; pyproject.toml's
import-linter contracts enforce it (tests/test_architecture.py).
"""

__version__ = "0.1.0"
