"""``desk train`` through its two entry points: add_train_arguments and run_train."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from desk.signals.model import runner
from desk.signals.model.checkpoint import load_checkpoint
from desk.signals.model.command import add_train_arguments, run_train
from desk.signals.model.train import PlainReporter
from tests.signals.model.test_data import write_csv, write_db

CONFIG = """
model: {hidden: 8, layers: 1, attention: 4, head: 4, window: 6, burn_in: 4}
labels: {horizon: 2, dead_band_bps: 3.0}
train: {epochs: 3, batch_size: 64}
"""
METRICS = {"accuracy", "macro_f1", "auc_ovr", "brier", "hit_rate", "calls", "net_bps", "n"}


def _run(*argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run_train(parser.parse_args(list(argv)), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "model.yaml"
    path.write_text(CONFIG)
    return str(path)


def test_json_evaluation_from_a_csv(tmp_path: Path, config: str) -> None:
    csv = write_csv(tmp_path / "btc.csv", n=400, book=True)
    out_dir = tmp_path / "m"
    code, out, err = _run(
        "--csv", str(csv), "--config", config, "--out", str(out_dir), "--json", "--device", "cpu"
    )
    assert code == 0, err
    report = json.loads(out)  # one JSON object, nothing else on stdout
    assert set(report["model"]) == METRICS
    assert set(report["baselines"]) == {"majority", "persistence", "logistic"}
    assert all(set(m) == METRICS for m in report["baselines"].values())
    assert isinstance(report["beats_baselines"], bool) and report["verdict"]
    assert report["checkpoint"] == str(out_dir) and report["training"]["epochs_run"] <= 3
    assert "epoch 1/3" in err  # progress went to stderr
    loaded = load_checkpoint(out_dir)
    assert loaded.card.data.symbols == ["btc"] and loaded.card.metrics["test"]["n_test"] > 0
    assert loaded.card.label.horizon == 2 and loaded.card.model.hidden == 8


def test_text_report_walk_forward_and_overrides_from_sqlite(tmp_path: Path, config: str) -> None:
    db = write_db(tmp_path / "desk.sqlite", n=500)
    code, out, err = _run(
        "--db", str(db), "--symbol", "BTC-USDT", "--config", config, "--epochs", "1",
        "--horizon", "3", "--walk-forward", "2", "--out", str(tmp_path / "wf"),
    )  # fmt: skip
    assert code == 0, err
    assert "fold 1/2" in out and "fold 2/2" in out and "walk-forward over 2 folds" in out
    assert "accuracy" in out and f"checkpoint written to {tmp_path / 'wf'}" in out
    card = load_checkpoint(tmp_path / "wf").card
    assert len(card.metrics["walk_forward"]) == 2 and card.label.horizon == 3
    assert card.train["epochs_run"] == 1


def test_from_the_simulator(tmp_path: Path, config: str) -> None:
    code, out, err = _run(
        "--sim", "0.5", "--timeframe", "5s", "--sim-rate", "10", "--config", config,
        "--json", "--out", str(tmp_path / "sim"),
    )  # fmt: skip
    assert code == 0, err
    assert "simulating" in err and json.loads(out)["n_test"] > 0
    card = load_checkpoint(tmp_path / "sim").card
    assert card.data.symbols == ["BTC-USDT"] and card.data.sources[0].startswith("sim:")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ((), "no data"),
        (("--sim", "0.1", "--device", "cuda"), "CUDA"),
        (("--db", "x.sqlite"), "--db needs --symbol"),
        (("--csv", "missing.csv"), "cannot read"),
        (("--sim", "0.1", "--threads", "0"), "--threads must be at least 1"),
    ],
)
def test_bad_invocations_exit_2_with_a_reason(argv: tuple[str, ...], named: str) -> None:
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, out, err = _run(*argv)
    assert code == 2 and named in err and out == ""


def test_a_bad_config_key_is_refused_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {hidden: 8, hiden: 9}\n")
    code, _, err = _run("--sim", "0.1", "--config", str(bad))
    assert code == 2 and "unknown field `hiden` - at `$.model`" in err


def test_ctrl_c_exits_130(tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "train", interrupted)
    csv = write_csv(tmp_path / "btc.csv", n=400)
    code, _, err = _run("--csv", str(csv), "--config", config, "--out", str(tmp_path / "m"))
    assert code == 130 and "nothing written" in err
    assert not (tmp_path / "m").exists()


def test_ctrl_c_after_an_epoch_keeps_the_best_checkpoint(
    tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class InterruptInEpoch3(PlainReporter):
        def batch(self, epoch: int, index: int, loss: float) -> None:
            if epoch == 3:
                raise KeyboardInterrupt

    monkeypatch.setattr(runner, "make_reporter", InterruptInEpoch3)
    csv = write_csv(tmp_path / "btc.csv", n=400)
    out_dir = tmp_path / "m"
    argv = ("--csv", str(csv), "--config", config, "--epochs", "9", "--out", str(out_dir))
    code, out, _ = _run(*argv)
    assert code == 130 and "interrupted: best weights so far" in out
    card = load_checkpoint(out_dir).card
    assert card.train["stopped"] == "interrupted" and card.train["epochs_run"] == 2
