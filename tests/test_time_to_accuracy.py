"""benchmarks/time_to_accuracy.py: the ratio it reports, and the callback that stops at target."""

import json
import sys

import keras
import numpy as np
import pytest
from conftest import REPO

from mlp_tutorial.training import EpochLog

sys.path.insert(0, str(REPO / "benchmarks"))
import time_to_accuracy as tta  # noqa: E402


def history(seconds, top1):
    n = len(seconds)
    return dict(train_seconds=seconds, test_top1=top1, test_top5=[0.9] * n,
                test_seconds=[5.0] * n, loss=[1.0] * n, val_top1=[0.4] * n)  # fmt: skip


def test_ratio_is_the_example_time_over_ours_at_the_first_epoch_on_target():
    summary = tta.summarize(history([60, 60, 90], [0.30, 0.48, 0.50]), [400, 500, 450], 0.4758)
    # The example: 50 epochs x 45,000 images at the example rebuild's median 450 images/s.
    assert summary["example_minutes"] == pytest.approx(50 * 45_000 / 450 / 60)
    assert summary["reached_epoch"] == 2
    assert summary["minutes_to_target"] == pytest.approx(2.0)  # two epochs of 60 s
    assert summary["ratio"] == pytest.approx(50 * 45_000 / 450 / 60 / 2.0)
    assert [e["train_minutes_total"] for e in summary["epochs"]] == pytest.approx([1, 2, 3.5])
    assert summary["best_test_top1"] == 0.50
    assert summary["example_images_per_second"] == 450


def test_the_targets_are_the_examples_published_top1():
    assert tta.TARGETS == {"mixer": 0.4758, "fnet": 0.4663, "gmlp": 0.5064}


def test_a_run_that_misses_the_target_has_no_ratio():
    summary = tta.summarize(history([60, 60], [0.30, 0.40]), [450], 0.4758)
    assert summary["reached_epoch"] is None and summary["ratio"] is None
    assert summary["best_test_top1"] == 0.40


def test_the_callback_logs_test_accuracy_and_stops_at_the_target():
    rng = np.random.default_rng(0)
    # Images (N, H, W, C): the callback also scores each test image with its mirror image.
    x, y = rng.normal(size=(64, 2, 2, 1)).astype("float32"), rng.integers(0, 3, 64)
    model = keras.Sequential(
        [keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(keras.optimizers.SGD(learning_rate=0.0), loss)  # the weights stay put
    expected = float(np.mean(np.argmax(model.predict(x, verbose=0), axis=1) == y))
    callback = tta.test_callback(x, y, target=0.0)  # any accuracy reaches 0
    timer = EpochLog(epochs=5, images_per_epoch=64, printer=lambda line: None)
    fit = model.fit(x, y, epochs=5, batch_size=64, callbacks=[timer, callback], verbose=0)
    assert len(fit.history["loss"]) == 1  # stopped after the first epoch
    assert fit.history["test_top5"] == [1.0]  # three classes: always in the top 5
    assert fit.history["test_top1"] == [pytest.approx(expected)]
    assert 0.0 <= fit.history["test_top1_flip"][0] <= 1.0
    assert fit.history["train_seconds"][0] > 0


def test_a_run_resumes_only_on_the_cpu_it_started_on(tmp_path):
    here = {"model": "Intel(R) Xeon(R) Processor", "flags": {"amx_bf16": True}}
    there = {"model": "AMD EPYC", "flags": {"amx_bf16": False}}
    assert tta.load_example_samples(tmp_path, here) == []  # a new run
    (tmp_path / tta.SAMPLES_FILE).write_text(json.dumps({"cpu": here, "samples": [410.0]}))
    assert tta.load_example_samples(tmp_path, here) == [410.0]
    with pytest.raises(SystemExit, match="trained on .*AMD EPYC.* delete that folder"):
        tta.load_example_samples(tmp_path, there)


def test_a_backup_made_before_the_rename_resumes(tmp_path):
    here = {"model": "Intel(R) Xeon(R) Processor", "flags": {"amx_bf16": True}}
    legacy = tmp_path / "seed_images_per_second.json"
    legacy.write_text(json.dumps({"cpu": here, "samples": [410.0, 415.0]}))
    assert tta.load_example_samples(tmp_path, here) == [410.0, 415.0]


def test_the_report_reads_the_committed_records(capsys):
    """Every committed record prints, also those that say ``seed_images_per_second``."""
    files = [*tta.RECORDS.glob("time_to_accuracy_*.json"),
             *(REPO / "benchmarks" / "results" / "screening").glob("*.json")]  # fmt: skip
    assert files
    tta.print_summary([json.loads(f.read_text()) for f in files])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == len(files)


def test_the_record_keeps_the_training_curves_when_logged():
    logged = dict(history([60, 60], [0.30, 0.40]), val_loss=[3.1, 3.0], top1=[0.2, 0.3])
    epochs = tta.summarize(logged, [450], 0.4758)["epochs"]
    assert [e["val_loss"] for e in epochs] == [3.1, 3.0]
    assert [e["top1"] for e in epochs] == [0.2, 0.3]
    assert "learning_rate" not in epochs[0]  # not logged, not invented
