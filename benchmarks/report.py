"""Print the results records in ``benchmarks/results/`` as Markdown tables (for the README).

python benchmarks/report.py                                  # every throughput*.json
python benchmarks/report.py benchmarks/results/throughput_best.json
"""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def throughput_table(record):
    env = record["environment"]
    lines = [
        f"`{record['command']}`  ",
        f"{env['backend']} (Keras {env['keras']}"
        + (f", TF {env['tensorflow']}" if "tensorflow" in env else "")
        + (f", JAX {env['jax']}" if "jax" in env else "")
        + f"), {env['cpu_count']} CPUs, {env['date'][:10]}; float32 matmul peak "
        f"{record['peak_matmul_gflops']:.0f} GFLOP/s; "
        f"{record['protocol']['repeats']} rounds x {record['protocol']['steps']} steps",
        "",
        "| model | variant | img/s (median) | range | × seed (paired median) | range "
        "| × seed, CPU time | fwd MFLOP/img | train GFLOP/s | % of peak | jit |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for r in record["rows"]:
        lines.append(
            f"| {r['model']} | `{r['variant']}` | {r['images_per_s']:.0f} "
            f"| {r['images_per_s_min']:.0f}–{r['images_per_s_max']:.0f} "
            f"| **{r['ratio_median']:.2f}** | {r['ratio_min']:.2f}–{r['ratio_max']:.2f} "
            f"| {r.get('cpu_ratio_median', float('nan')):.2f} "
            f"| {r['forward_mflop_per_image']:.1f} | {r['train_gflop_per_s']:.0f} "
            f"| {100 * r['fraction_of_peak']:.0f} | {'yes' if r['jit_compile'] else 'no'} |"
        )
    return "\n".join(lines)


def accuracy_table(record):
    lines = [
        f"`{record['command']}`  ",
        f"{record['dataset']['name']}: {record['dataset']['train']} train / "
        f"{record['dataset']['test']} test images, {record['dataset']['num_classes']} classes; "
        f"{record['epochs']} epochs; seeds {record['seeds']}; config {record['config']}",
        "",
        "| model | variant | test top-1 (mean) | per seed |",
        "|---|---|--:|---|",
    ]
    for s in record["summary"]:
        lines.append(
            f"| {s['model']} | `{s['variant']}` | {s['test_top1_mean']:.3f} "
            f"| {', '.join(f'{v:.3f}' for v in s['test_top1'])} |"
        )
    return "\n".join(lines)


def main(paths):
    paths = [Path(p) for p in paths] or sorted(RESULTS.glob("*.json"))
    for path in paths:
        record = json.loads(path.read_text())
        print(f"### {path.name}\n")
        print(accuracy_table(record) if "summary" in record else throughput_table(record))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
