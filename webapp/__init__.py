"""convlens: see the layers of a convolutional network.

The numeric core (`arithmetic`, `padding`, `convolution`, `kernels`, `display`, `images`)
never imports FastAPI; `main` builds the web app around it and `routes` stay thin.
"""

__version__ = "0.1.0"
