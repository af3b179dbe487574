"""Analytic FLOPs agree with the weights of the layers that do the work.

A dense map applied to n vectors costs 2 FLOPs per weight per vector, so each count can
be rebuilt from the kernel sizes of a built block.
"""

import math

import numpy as np
import pytest

from mlp_tutorial import FNetBlock, GMLPBlock, MixerBlock, build_model
from mlp_tutorial.flops import block_flops, model_flops

pytestmark = pytest.mark.backend

P, C = 16, 12


def size(variable):
    return int(np.prod(variable.shape))


def test_mixer_counts_follow_its_kernels():
    block = MixerBlock(tokens_mlp_dim=6, channels_mlp_dim=48)
    block.build((None, P, C))
    flops = block_flops("mixer", num_patches=P, width=C, tokens_mlp_dim=6, channels_mlp_dim=48)
    # token mixing: each of the C channels goes through W1 (P, D_S) and W2 (D_S, P)
    assert flops["token mixing"] == 2 * C * (
        size(block.token_kernel_1) + size(block.token_kernel_2)
    )
    # channel mixing: each of the P patches goes through both Dense kernels
    kernels = size(block.channel_dense_1.kernel) + size(block.channel_dense_2.kernel)
    assert flops["channel mixing"] == 2 * P * kernels


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
    kernels = size(block.ffn_dense_1.kernel) + size(block.ffn_dense_2.kernel)
    assert flops["feed-forward"] == 2 * P * kernels


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
