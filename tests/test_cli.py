"""The ``vsml`` entry point: paper counts, exit code 2 for user mistakes, no tracebacks."""

import json

import pytest

from vsml import cli


def test_describe_prints_the_paper_counts(capsys):
    assert cli.main(["describe", "--method", "vsml", "--dataset", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "2,384" in out and "257,232" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["describe", "--method", "vsmlx"], "did you mean 'vsml'"),
        (["describe", "--dataset", "mnistt"], "did you mean 'mnist'"),
        (["describe", "--set", "micro_tick=1"], "did you mean 'micro_ticks'"),
        (["meta-test", "--method", "adam-deep", "--dataset", "nope", "--out", "x.csv"],
         "unknown dataset"),
    ],
)
def test_user_mistakes_exit_2_with_a_clear_message(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-command"])
    assert exc.value.code == 2


def test_bench_times_every_path_and_the_conv_network(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "-A", "12", "-B", "3", "-P", "1", "-T", "4", "--repeats", "1",
            "--conv", "--conv-side", "5", "--json", str(out)]
    assert cli.main(argv) == 0
    rows = json.loads(out.read_text())
    got = {(r["implementation"], r["workload"]) for r in rows}
    assert got == {(p, w) for p in ("reference", "fast-jax", "fused")
                   for w in ("episode", "es-batch", "conv-es-batch")}
    conv = [r for r in rows if r["workload"] == "conv-es-batch"]
    # 2 members x 4 examples; conv 3x3/2 on 5x5: 9 x 8 synapses at 3x3 positions, then dense
    # 72 -> 3; 2 micro ticks x 2 sweeps
    assert all(r["sub_lstm_ticks_per_s"] * r["seconds"] == pytest.approx(
        2 * 4 * (2 * 2 * (9 * 8 * 9 + 72 * 3)), rel=1e-6) for r in conv)
    assert all("peak_fraction" not in r for r in conv)
    assert "conv-es-batch" in capsys.readouterr().out
