"""The MNIST autoencoders: ONNX models loaded once, a drawing prepared as MNIST was, and
the reconstruction with every layer's feature maps.

`registry` loads the models (`providers` chooses where each runs: a GPU when there is one,
else the CPU); `preprocessing` turns a drawing into a 28x28 digit; `reconstruction` runs
a digit through a model and measures what came back; `featuremaps` lays a layer's maps out
as one picture; `onnxfile` reads the weights' names and shapes from an ONNX file. No
FastAPI here: the server (`webapp.server.routes.reconstruct`) and the CLI call in.
"""
