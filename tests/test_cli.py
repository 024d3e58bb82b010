"""The ``vsml`` entry point: paper counts, exit code 2 for user mistakes, no tracebacks."""

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
