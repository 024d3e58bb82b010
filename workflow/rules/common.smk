# Helpers shared by the rules: the command line of every job, taken from PLAN.


def _q(args):
    return " ".join(shlex.quote(str(a)) for a in args)


def _not_run(reason_missing):
    return f"{pipeline.NOT_RUN_DATA} ({', '.join(reason_missing)})"


def train_job(run):
    try:
        return PLAN.train[run]
    except KeyError:
        raise ValueError(
            f"{RUNS}/train/{run} is not a run of the current plan (scale {SCALE}); "
            "snakemake -n lists the valid targets"
        ) from None


def test_job(test):
    try:
        return PLAN.test[test]
    except KeyError:
        raise ValueError(
            f"{RUNS}/test/{test}.csv is not a meta-test of the current plan (scale {SCALE})"
        ) from None


def train_command(run):
    """vsml meta-train ... for an available run, else a 'not run' marker."""
    job = train_job(run)
    out = f"{RUNS}/train/{run}"
    if job.missing:
        status = {"status": "not run", "reason": _not_run(job.missing)}
        return f"echo {shlex.quote(json.dumps(status))}"
    args = ["vsml", "meta-train", "--method", job.method, "--config", job.config_file]
    for s in job.sets:
        args += ["--set", s]
    args += ["--out", out, "--no-progress"]
    ok = {"status": "ok", "run_dir": out, "config_hash": job.config_hash}
    # meta-train's own output goes to the log; stdout becomes status.json
    return f"{_q(args)} 1>&2 && echo {shlex.quote(json.dumps(ok))}"


def test_command(test):
    """vsml meta-test ... for a runnable cell, else a 'not run' CSV marker."""
    job = test_job(test)
    if job.missing:
        return f"printf %s {shlex.quote(not_run_csv(_not_run(job.missing)))}"
    args = [
        "vsml",
        "meta-test",
        "--dataset",
        job.dataset,
        "--episodes",
        job.episodes,
        "--length",
        job.length,
        "--seed",
        job.seed,
        "--scale",
        SCALE,
    ]
    if job.train:
        args += ["--checkpoint", f"{RUNS}/train/{job.train}"]
    else:
        args += ["--method", job.method]
    for s in job.sets:
        args += ["--set", s]
    args += list(job.options)
    return _q(args) + " --out"


def _test_input(w):
    job = test_job(w.test)
    return [f"{RUNS}/train/{job.train}/status.json"] if job.train else []


def _figure_tests(w):
    return [f"{RUNS}/test/{t}.csv" for t in PLAN.figure_tests(w.fig)]


def _figure_input(w):
    out = {"summary": f"{RES}/{w.fig}.csv"}
    if w.fig in CURVE_FIGURES:
        out["curves"] = f"{RES}/curves/{w.fig}.csv"
    return out


def write_cells():
    """results/<scale>/cells/<fig>-<hash>.json: what every bar/curve of a figure is.

    Written while the Snakefile is read (a rule would cost a Snakefile re-parse per
    figure); the name carries the hash of the content, so a changed figure plan is a new
    input of its aggregation (which then reruns) and switching back reuses the old file.
    """
    from pathlib import Path

    from vsml.io import write_text_atomic

    out = {}
    for fig in FIGURES:
        records = PLAN.cell_records(fig)
        path = Path(f"{RES}/cells/{fig}-{pipeline.short_hash(records)}.json")
        if not path.exists():
            write_text_atomic(path, json.dumps(records, indent=1, sort_keys=True) + "\n")
        out[fig] = str(path)
    return out


CELLS = write_cells()


# cloning.smk: the deep clone starts from the shallow one (config/cloning.yaml)
def _cl_backprop_input(w):
    if w.clone == "deep" and CL["deep"]["init_from_shallow"]:
        return {"init": f"{CL_RUNS}/shallow.npz"}
    return {}


# appendix_train.smk: Figs. 18 and 21 are drawn with their learning curves
def _appendix_figure_input(w):
    out = {"summary": f"{RES}/{w.fig}.csv"}
    if w.fig in ("fig18", "fig21"):
        out["curves"] = f"{RES}/curves/{w.fig}.csv"
    return out
