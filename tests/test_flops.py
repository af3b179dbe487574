"""Analytic FLOPs agree with the weights of the layers that do the work.

A dense map applied to n vectors costs 2 FLOPs per weight per vector, so each count can
be rebuilt from the kernel sizes of a built block.
"""

import math

import keras
import numpy as np
import pytest

from mlp_tutorial import FNetBlock, GMLPBlock, MixerBlock, build_model
from mlp_tutorial.flops import block_flops, model_flops
from mlp_tutorial.layers import MLP

pytestmark = pytest.mark.backend

P, C = 16, 12


def size(variable):
    return int(np.prod(variable.shape))


def kernel_sizes(layer):
    """Number of matrix weights (biases and norms left out) in ``layer``."""
    return sum(size(v) for v in layer.weights if v.name == "kernel")


def test_mixer_counts_follow_its_kernels():
    block = MixerBlock(tokens_mlp_dim=C // 2, channels_mlp_dim=4 * C)  # the default widths
    block.build((None, P, C))
    flops = block_flops("mixer", num_patches=P, width=C)
    # token mixing: each of the C channels goes through W1 (P, D_S) and W2 (D_S, P)
    assert flops["token mixing"] == 2 * C * kernel_sizes(block.mlp_tokens)
    # channel mixing: each of the P patches goes through both Dense kernels
    assert flops["channel mixing"] == 2 * P * kernel_sizes(block.mlp_channels)


def test_widths_other_than_the_defaults_are_counted():
    block = MixerBlock(tokens_mlp_dim=3, channels_mlp_dim=5)
    block.build((None, P, C))
    flops = block_flops("mixer", num_patches=P, width=C, tokens_mlp_dim=3, channels_mlp_dim=5)
    assert flops["token mixing"] == 2 * C * kernel_sizes(block.mlp_tokens)
    assert flops["channel mixing"] == 2 * P * kernel_sizes(block.mlp_channels)


def test_attention_counts_follow_keras_multi_head_attention():
    """Q, K, V and output projections are the attention layer's four kernels applied to
    every patch; the (P, P) scores and their weighted sum grow quadratically in P."""
    attention = keras.layers.MultiHeadAttention(num_heads=4, key_dim=C // 4)
    x = np.zeros((1, P, C), "float32")
    attention(x, x)
    flops = block_flops("attention", num_patches=P, width=C)
    assert flops["Q, K, V and output projections"] == 2 * P * kernel_sizes(attention)
    doubled = block_flops("attention", num_patches=2 * P, width=C)
    part = "scores and weighted sum (P x P)"
    assert doubled[part] == 4 * flops[part]
    mlp = MLP(4 * C)
    mlp.build((None, P, C))
    assert flops["feed-forward"] == 2 * P * kernel_sizes(mlp)


def test_gmlp_spatial_gating_is_quadratic_in_patches():
    block = GMLPBlock(ffn_dim=2 * C)
    block.build((None, P, C))
    flops = block_flops("gmlp", num_patches=P, width=C)
    assert flops["spatial gating (P x P)"] == 2 * size(block.sgu.spatial_kernel) * C
    kernels = size(block.channel_proj_in.kernel) + size(block.channel_proj_out.kernel)
    assert flops["channel projections"] == 2 * P * kernels
    doubled = block_flops("gmlp", num_patches=2 * P, width=C)["spatial gating (P x P)"]
    assert doubled == 4 * flops["spatial gating (P x P)"]


def test_fnet_counts_the_fft_and_its_ffn():
    block = FNetBlock(ffn_dim=C)
    block.build((None, P, C))
    flops = block_flops("fnet", num_patches=P, width=C)
    assert flops["Re(FFT2)"] == pytest.approx(5 * P * C * math.log2(P * C))
    assert flops["feed-forward"] == 2 * P * kernel_sizes(block.ffn)


@pytest.mark.parametrize("name", ["mixer", "fnet", "gmlp"])
def test_model_count_adds_embedding_blocks_and_head(name):
    config = dict(image_size=16, patch_size=4, embedding_dim=C, num_blocks=3, num_classes=7)
    model = build_model(name, **config)
    parts = model_flops(name, **config)
    embedding = model.get_layer("patch_embedding").kernel
    assert parts["patch embedding"] == 2 * P * size(embedding)
    assert parts["head"] == 2 * size(model.get_layer("logits").kernel)
    per_block = sum(block_flops(name, num_patches=P, width=C).values())
    blocks = sum(v for k, v in parts.items() if k.endswith("(x3)"))
    assert blocks == pytest.approx(3 * per_block)
