#!/usr/bin/python3
"""Write the example networks models/unet-tiny and models/dit-tiny (model.yaml and
model.safetensors) and their PyTorch reference outputs
tests/fixtures/models/<model>/{mu,tau,out}.npy.

    /usr/bin/python3 models/gen_tiny.py

The weights are PyTorch's default initialisation drawn from a fixed seed, not trained:
samples mean nothing, but the arithmetic is that of real models of these shapes.
"""
import math
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
import pmm  # noqa: E402

SEED = 20250115
N = 4  # reference samples

# unet-tiny: ADM-style U-Net on 1x28x28 images.
BASE, MULTS, GROUPS, TEMB, HEADS = 16, (1, 2, 2), 8, 64, 4
# dit-tiny: DiT on sequences of 32 symbols over "_a..z".
VOCAB, LENGTH, WIDTH, DEPTH, MLP, FREQS = "_abcdefghijklmnopqrstuvwxyz", 32, 128, 4, 512, 256


def L(name, op, **keys):
    """A layer mapping, keys in the order written."""
    return {"name": name, "op": op, **keys}


# ---- unet-tiny --------------------------------------------------------------------------------

def res_block(p, x, c_in, c_out):
    """ADM's ResBlock with scale-shift norm: norm, silu, conv; norm, FiLM from the time
    embedding, silu, conv; plus the input (through a 1x1 conv when the channels change)."""
    layers = [
        L(f"{p}.norm1", "groupnorm", input=x, groups=GROUPS, activation="silu"),
        L(f"{p}.conv1", "conv2d", channels=c_out, kernel=3),
        L(f"{p}.emb", "dense", input="temb_act", units=2 * c_out),
        L(f"{p}.emb_map", "reshape", shape=[2 * c_out, 1, 1]),
        L(f"{p}.scale", "chunk", input=f"{p}.emb_map", chunks=2, index=0, axis=0),
        L(f"{p}.shift", "chunk", input=f"{p}.emb_map", chunks=2, index=1, axis=0),
        L(f"{p}.norm2", "groupnorm", input=f"{p}.conv1", groups=GROUPS),
        L(f"{p}.film", "modulate", input=f"{p}.norm2", shift=f"{p}.shift", scale=f"{p}.scale"),
        L(f"{p}.act2", "silu"),
        L(f"{p}.conv2", "conv2d", channels=c_out, kernel=3),
    ]
    skip = x
    if c_in != c_out:
        skip = f"{p}.skip"
        layers.append(L(skip, "conv2d", input=x, channels=c_out, kernel=1))
    return layers + [L(f"{p}.out", "add", inputs=[skip, f"{p}.conv2"])], f"{p}.out"


def attention_block(p, x, c, side):
    """Self-attention over the side x side pixels as tokens of c channels, plus the input."""
    return [
        L(f"{p}_norm", "groupnorm", input=x, groups=GROUPS),
        L(f"{p}_tokens", "reshape", shape=[c, side * side]),
        L(f"{p}_seq", "transpose", perm=[1, 0]),
        L(p, "attention", heads=HEADS),
        L(f"{p}_unseq", "transpose", perm=[1, 0]),
        L(f"{p}_image", "reshape", shape=[c, side, side]),
        L(f"{p}_out", "add", inputs=[x, f"{p}_image"]),
    ], f"{p}_out"


def unet_layers():
    layers = [
        L("time_mlp.0", "sinusoidal", input="time", dim=BASE),
        L("time_mlp.1", "dense", units=TEMB),
        L("time_mlp.2", "silu"),
        L("time_mlp.3", "dense", units=TEMB),
        # ADM's emb_layers are Sequential(SiLU, Linear) in every block: one SiLU serves all.
        L("temb_act", "silu"),
        L("conv_in", "conv2d", input="mu", channels=BASE, kernel=3),
    ]
    x, c, side, skips = "conv_in", BASE, 28, []
    for level, mult in enumerate(MULTS):
        block, x = res_block(f"down.{level}.res", x, c, BASE * mult)
        layers += block
        c = BASE * mult
        skips.append((x, c))
        if level < len(MULTS) - 1:
            layers.append(L(f"down.{level}.downsample", "conv2d", input=x, channels=c, kernel=3,
                            stride=2))
            x, side = f"down.{level}.downsample", (side + 1) // 2
    for make, p in ((res_block, "mid.res1"), (attention_block, "mid.attn"),
                    (res_block, "mid.res2")):
        block, x = make(p, x, c, c if make is res_block else side)
        layers += block
    for level in reversed(range(len(MULTS))):
        skip, c_skip = skips[level]
        layers.append(L(f"up.{level}.cat", "concat", inputs=[x, skip]))
        block, x = res_block(f"up.{level}.res", f"up.{level}.cat", c + c_skip, BASE * MULTS[level])
        layers += block
        c = BASE * MULTS[level]
        if level > 0:
            layers += [L(f"up.{level}.upsample.nearest", "upsample", input=x),
                       L(f"up.{level}.upsample.conv", "conv2d", channels=c, kernel=3)]
            x = f"up.{level}.upsample.conv"
    return layers + [L("out.norm", "groupnorm", input=x, groups=GROUPS, activation="silu"),
                     L("out.conv", "conv2d", channels=1, kernel=3)]


UNET = {
    "name": "unet_tiny",
    "pair": "normal-normal",
    "data": {"shape": [1, 28, 28], "range": [-1, 1]},
    "prior": {"mean": 0.0, "precision": 1.0},
    "schedule": {"kind": "geometric", "steps": 100, "start": 0.01, "end": 10000},
    "sampler": {"kind": "pmm", "output": "posterior-mean"},
    "network": {"kind": "graph", "layers": unet_layers(), "output": "out.conv"},
    "weights": "model.safetensors",
}

UNET_ABOUT = f"""unet_tiny: an ADM-style U-Net on 1x28x28 images in [-1, 1]. Base channels {BASE},
multipliers {MULTS} at 28/14/7; per level one ResBlock (GroupNorm {GROUPS} + SiLU, conv 3x3,
GroupNorm, FiLM x * (1 + scale) + shift from the time embedding, SiLU, conv 3x3, residual;
1x1 conv on the skip when the channels change); stride-2 convs down, nearest upsample +
conv up, channel-concat skips; middle ResBlock, {HEADS}-head self-attention over the 7x7
pixels, ResBlock. Time embedding: sinusoidal(tau, {BASE}), dense {TEMB}, SiLU, dense
{TEMB}."""


# ---- dit-tiny ---------------------------------------------------------------------------------

ADALN = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


def dit_block(p, x):
    """DiT's adaLN-Zero block (here with default, not zero, initialisation)."""
    ada = f"{p}.adaLN_modulation.1"
    return [
        L(ada, "dense", input="c_act", units=6 * WIDTH),
        *(L(f"{p}.{part}", "chunk", input=ada, chunks=6, index=i) for i, part in enumerate(ADALN)),
        L(f"{p}.norm1", "layernorm", input=x, eps=1e-6, affine=False),
        L(f"{p}.mod1", "modulate", input=f"{p}.norm1", shift=f"{p}.shift_msa",
          scale=f"{p}.scale_msa"),
        L(f"{p}.attn", "attention", heads=HEADS),
        L(f"{p}.gated1", "mul", inputs=[f"{p}.gate_msa", f"{p}.attn"]),
        L(f"{p}.res1", "add", inputs=[x, f"{p}.gated1"]),
        L(f"{p}.norm2", "layernorm", eps=1e-6, affine=False),
        L(f"{p}.mod2", "modulate", input=f"{p}.norm2", shift=f"{p}.shift_mlp",
          scale=f"{p}.scale_mlp"),
        L(f"{p}.mlp.fc1", "dense", units=MLP, activation="gelu-tanh"),
        L(f"{p}.mlp.fc2", "dense", units=WIDTH),
        L(f"{p}.gated2", "mul", inputs=[f"{p}.gate_mlp", f"{p}.mlp.fc2"]),
        L(f"{p}.res2", "add", inputs=[f"{p}.res1", f"{p}.gated2"]),
    ], f"{p}.res2"


def dit_layers():
    layers = [
        L("t_embedder.freq", "sinusoidal", input="time", dim=FREQS, order="cos-sin"),
        L("t_embedder.mlp.0", "dense", units=WIDTH),
        L("t_embedder.mlp.1", "silu"),
        L("t_embedder.mlp.2", "dense", units=WIDTH),
        # DiT's adaLN_modulation is Sequential(SiLU, Linear) in every block: one SiLU serves all.
        L("c_act", "silu"),
        L("x_embedder", "embed", input="mu", units=WIDTH),
        L("pos_embed", "param", shape=[LENGTH, WIDTH]),
        L("x0", "add", inputs=["x_embedder", "pos_embed"]),
    ]
    x = "x0"
    for i in range(DEPTH):
        block, x = dit_block(f"blocks.{i}", x)
        layers += block
    ada = "final_layer.adaLN_modulation.1"
    return layers + [
        L(ada, "dense", input="c_act", units=2 * WIDTH),
        L("final_layer.shift", "chunk", input=ada, chunks=2, index=0),
        L("final_layer.scale", "chunk", input=ada, chunks=2, index=1),
        L("final_layer.norm_final", "layernorm", input=x, eps=1e-6, affine=False),
        L("final_layer.mod", "modulate", input="final_layer.norm_final",
          shift="final_layer.shift", scale="final_layer.scale"),
        L("final_layer.linear", "dense", units=len(VOCAB)),
    ]


DIT = {
    "name": "dit_tiny",
    "pair": "dirichlet-categorical",
    "data": {"shape": [LENGTH], "vocab": VOCAB, "padding": True},
    "prior": {"concentration": 0.5, "smoothing": 0.0},
    "schedule": {"kind": "geometric", "steps": 200, "start": 0.001, "end": 1000},
    "sampler": {"kind": "pmm", "output": "posterior-mean"},
    "network": {"kind": "graph", "layers": dit_layers(), "output": "final_layer.linear"},
    "weights": "model.safetensors",
}

DIT_ABOUT = f"""dit_tiny: a DiT over sequences of {LENGTH} symbols of "{VOCAB}" ('_' pads).
mu [{LENGTH}, {len(VOCAB)}] (each position's posterior mean over the symbols) is embedded to
{WIDTH} (expected embedding), plus a learned position embedding; {DEPTH} blocks of
adaLN (shift, scale and gate from the time embedding), LayerNorm without affine, {HEADS}-head
self-attention and a GELU-tanh MLP of {MLP}, each with a gated residual; final adaLN
LayerNorm and dense to [{LENGTH}, {len(VOCAB)}] logits. Time embedding: sinusoidal(tau,
{FREQS}, cos-sin as DiT), dense {WIDTH}, SiLU, dense {WIDTH}."""


# ---- writing ----------------------------------------------------------------------------------

def flops(net):
    """2 x the multiply-adds of the conv, dense, embed and attention layers, per sample;
    norms, activations and elementwise ops are left out."""
    total = 0
    for layer in net.layers:
        out = math.prod(layer.dims)
        if layer.op == "conv2d":
            total += 2 * out * layer.in_dims[0][0] // layer.groups * layer.kernel ** 2
        elif layer.op in ("dense", "embed"):
            total += 2 * out * layer.in_dims[0][-1]
        elif layer.op == "attention":
            length, width = layer.dims
            total += 2 * (4 * length * width * width + 2 * length * length * width)
    return total


def write_model(folder, model, about, mu):
    """Draw the weights, write model.yaml and model.safetensors, then the reference
    output of the network as pmm.load reads it back."""
    torch.manual_seed(SEED)
    mu_shape = mu.shape[1:]
    net = pmm.GraphNet(model["network"], mu_shape)
    params = sum(t.numel() for t in net.state_dict().values())
    summary = (f"{params:,} parameters, {flops(net) / 1e6:.1f} MFLOPs per sample (2 x "
               "multiply-adds of the conv, dense, embed and attention layers). The weights are "
               f"PyTorch's default initialisation from torch.manual_seed({SEED}), untrained: "
               "written by models/gen_tiny.py, with reference outputs in "
               f"tests/fixtures/models/{folder.name}.")
    comment = "\n".join(textwrap.fill(" ".join(part.split()), 92, break_on_hyphens=False)
                        for part in (about, summary))
    folder.mkdir(exist_ok=True)
    pmm.save_weights(net, folder / "model.safetensors",
                     {"generator": "models/gen_tiny.py", "seed": SEED})
    (folder / "model.yaml").write_text(pmm.format_model(model, comment))
    tau = 5 * torch.rand(N)
    with torch.no_grad():
        out = pmm.load(folder / "model.yaml")(mu, tau)
    refs = HERE.parent / "tests" / "fixtures" / "models" / folder.name
    refs.mkdir(parents=True, exist_ok=True)
    for name, array in (("mu", mu), ("tau", tau), ("out", out)):
        np.save(refs / f"{name}.npy", array.numpy())
    print(f"{folder.name}: {params:,} parameters, {flops(net):,} FLOPs per sample, "
          f"mu {list(mu_shape)} -> {list(out.shape[1:])}")


def main():
    torch.set_num_threads(1)  # one summation order for every run
    generator = torch.Generator().manual_seed(SEED + 1)
    unet_mu = torch.randn(N, 1, 28, 28, generator=generator)
    rows = -torch.log(torch.rand(N, LENGTH, len(VOCAB), generator=generator))
    dit_mu = rows / rows.sum(-1, keepdim=True)  # Dirichlet(1) rows
    write_model(HERE / "unet-tiny", UNET, UNET_ABOUT, unet_mu)
    write_model(HERE / "dit-tiny", DIT, DIT_ABOUT, dit_mu)


if __name__ == "__main__":
    main()
