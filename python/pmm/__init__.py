"""PyTorch reference for pmmc graph networks.

pmm.load(model.yaml) builds the network a pmmc model YAML describes, with parameter
names equal to the tensor names of its safetensors weights file, so that PyTorch and
pmmc evaluate the same function on the same tensors.
"""
from .graph import GraphNet, load, parse_layers
from .safetensors import load_weights, save_weights
from .spec import Model, format_model, read_yaml

__all__ = ["GraphNet", "Model", "format_model", "load", "load_weights", "parse_layers",
           "read_yaml", "save_weights"]
