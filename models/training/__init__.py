"""The steps from MNIST to a model card, one module each.

    data        the digits: MNIST, the held-out split, drawn-like digits, noise
    recipes     the four models and how each is trained (plain data, no torch)
    fit         augmentation, the training loop, checkpoints
    measure     the metrics every model is judged by
    export      the ONNX file, checked against PyTorch
    cards       the model card: the measured facts and the prose of models/cards/*.md
    pipeline    one model from data to card, in that order

`data`, `recipes`, `measure` and `cards` import neither torch nor onnx, so the test suite
can rebuild the committed cards without the `train` extra.
"""
