"""How convlens's MNIST autoencoders are made: trained, exported to ONNX, described by a card.

Not part of the installed app (which only reads the `.onnx` and `.json` files here); run
`python models/train.py --help`. The torch modules are in `architectures`, the steps from
data to card in `training/`, the cards' prose in `cards/*.md`.
"""
