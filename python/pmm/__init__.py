"""PyTorch reference for pmmc graph networks.

pmm.load(model.yaml) builds the network a pmmc model YAML describes, with parameter
names equal to the tensor names of its safetensors weights file, so that PyTorch and
pmmc evaluate the same function on the same tensors; pmm.sample(model.yaml, n) runs the
model's pmm chain with that network, the PyTorch baseline of bench/nets; pmm.export(net,
mu, tau, model.yaml, ...) writes a module's forward(mu, tau) as such a YAML and weights;
pmm.Sampler("libNAME.so") samples from a model pmmc compiled as a shared library.
"""
from .embedded import Sampler, SamplerError
from .export import export
from .graph import GraphNet, load
from .sample import Chain, sample, schedule_values
from .safetensors import load_weights, save_weights
from .spec import format_model

__all__ = ["Chain", "GraphNet", "Sampler", "SamplerError", "export", "format_model", "load",
           "load_weights", "sample", "save_weights", "schedule_values"]
