"""The training chapters' settings: the CPU ones they run with, and the Keras example's.

``CPU_SETTINGS`` are chosen with the time-to-accuracy benchmark (``benchmarks/
time_to_accuracy.py``, issue 14), which measures how soon a setting reaches the Keras
example's CIFAR-100 accuracy on a 2-core CPU; ``CPU_RECORDS`` names the run behind each.
The chapters hold the same values as literals in their parameters cells, so that "Run
all" reproduces the page; ``tests/test_settings.py`` keeps the chapters and this table
equal (and, once all three runs are recorded, the records too).

``EXAMPLE_SETTINGS`` are the Keras example's for a GPU: 32 x 32 images upsampled to 64 x 64
and cut into 8 x 8 patches, width 256, its hidden widths, its recipe (a constant learning
rate halved on plateaus, early stopping) and 50 epochs.
"""

# Shared by the three models on a CPU: no upsampling (4 x 4 patches of the 32 x 32 images
# give the example's 64 patches at a quarter of the pixels), width 128, and the warmup +
# cosine schedule with label smoothing, every epoch run.
_CPU = dict(
    image_size=32, patch_size=4, embedding_dim=128, num_blocks=4, dropout_rate=0.2,
    batch_size=128, weight_decay=1e-4, recipe="+label_smoothing", epochs=50,
    precision="float32",
)  # fmt: skip

#: Per model: the shared settings, its peak learning rate (the example's, but FNet's: at the
#: example's 1e-3 it learns too slowly under the cosine), its hidden widths.
CPU_SETTINGS = {
    "mixer": dict(_CPU, learning_rate=0.005, tokens_mlp_dim=64, channels_mlp_dim=128),
    "fnet": dict(_CPU, learning_rate=0.005, ffn_dim=128),
    "gmlp": dict(_CPU, learning_rate=0.003, ffn_dim=256),
}

#: The time-to-accuracy record (in benchmarks/results/) each model's CPU settings come from.
CPU_RECORDS = {
    "mixer": "time_to_accuracy_mixer_w128_c128_ls.json",
    "fnet": "time_to_accuracy_fnet_w128_ls_lr5e-3.json",
    "gmlp": "time_to_accuracy_gmlp_w128_ls.json",
}

_EXAMPLE = dict(
    image_size=64, patch_size=8, embedding_dim=256, num_blocks=4, dropout_rate=0.2,
    batch_size=128, weight_decay=1e-4, recipe="seed", epochs=50, precision="float32",
)  # fmt: skip

#: The Keras example's settings: its hidden widths are P = 64 for both of the Mixer's MLPs,
#: C for FNet's and 2C for gMLP's.
EXAMPLE_SETTINGS = {
    "mixer": dict(_EXAMPLE, learning_rate=0.005, tokens_mlp_dim=64, channels_mlp_dim=64),
    "fnet": dict(_EXAMPLE, learning_rate=0.001, ffn_dim=256),
    "gmlp": dict(_EXAMPLE, learning_rate=0.003, ffn_dim=512),
}
