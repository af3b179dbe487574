"""Forward MFLOP per image of the example rebuild and the package's models, part by part.

    python benchmarks/flops.py                                  # the example's configuration
    python benchmarks/flops.py --image-size 32 --patch-size 4 --embedding-dim 128

Counted by the package's one counter, ``mlp_tutorial.flops`` (matmuls and FFTs, forward;
training is about 3x). The example's models are counted as the package's at the example's
widths plus the identity convolution of the example's patch extractor
(``variants.forward_flops``).
"""

import argparse

from variants import forward_flops, hidden_widths, parse_variant

import mlp_tutorial
import mlp_tutorial.flops
from mlp_tutorial.classifier import EXAMPLE

VARIANTS = ("example", "project+examplewidths", "project")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Defaults: the Keras example's classifier.
    parser.add_argument("--image-size", type=int, default=EXAMPLE["image_size"])
    parser.add_argument("--patch-size", type=int, default=EXAMPLE["patch_size"])
    parser.add_argument("--embedding-dim", type=int, default=EXAMPLE["embedding_dim"])
    parser.add_argument("--num-blocks", type=int, default=EXAMPLE["num_blocks"])
    parser.add_argument("--num-classes", type=int, default=100)
    args = parser.parse_args(argv)
    geometry = dict(
        image_size=args.image_size, patch_size=args.patch_size, embedding_dim=args.embedding_dim,
        num_blocks=args.num_blocks, num_classes=args.num_classes,
    )  # fmt: skip
    print("| model | variant | forward MFLOP / image | parts (MFLOP) |")
    print("|---|---|--:|---|")
    for model in mlp_tutorial.MODEL_NAMES:
        for variant in VARIANTS:
            total = forward_flops(model, variant, geometry)
            parts = ""
            if variant != "example":
                widths = hidden_widths(model, parse_variant(variant)[1], **geometry)
                counted = mlp_tutorial.flops.model_flops(model, **geometry, **widths)
                parts = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in counted.items())
            print(f"| {model} | `{variant}` | {total / 1e6:.1f} | {parts} |")


if __name__ == "__main__":
    main()
