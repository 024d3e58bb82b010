"""Copy a finished pipeline run of one scale to published/<scale>/ (what `make publish` runs).

    python workflow/scripts/publish.py --scale mini [--dest published] [--figures fig6 fig8]

The list of files comes from the scale's plan (config/pipeline.yaml through
vsml.repro.pipeline, config/cloning.yaml), as in the Snakefile, so a figure added to the plan
is published without editing this script.

* Required: what the scale's default target (``rule all``) builds: every figure's tables and
  its PDF + PNG, and the claims tables (main, appendix_train, appendix_mnist, and cloning where
  config/cloning.yaml has the scale).  With ``--figures`` only those figures and the claims
  tables they feed (the rest is skipped, and said so).  If one is missing nothing is copied:
  every missing path is listed with the command that builds it, and the exit status is 1.
* Optional (copied when there, else reported as skipped with the reason; never an error): the
  meta-trained VSML learners (checkpoints/), the conv VSML run's meta-loss (Fig. 20) and the
  jobs' costs (job_times.csv, from benchmarks/<scale>/).

Layout under <dest>/<scale>/ (README and docs link into it): the grid figures' tables at the
top (<fig>.csv, raw/, curves/), Figs. 18, 20, 21 under appendix_train/, Figs. 9, 17, 19 under
appendix_mnist/, the cloning tables under cloning/, every drawing under figures/.  The raw and
curve tables of the appendix figures are also in raw/ and curves/ (earlier `make publish`
copied those folders whole).  Every copy is atomic.  Files in the destination that the
pipeline does not make are left alone; those not hand-made (HAND_MADE) are listed as stale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vsml.errors import UserError
from vsml.io import write_bytes_atomic
from vsml.repro import appendix_train, introspection, pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
import job_times  # noqa: E402  (a sibling script)

# where the rules write what (Snakefile, workflow/rules/*.smk)
APPENDIX_TRAIN = appendix_train.FIGURES  # appendix_train.smk
APPENDIX_MNIST = (*introspection.INTROSPECTION_FIGURES, "fig19")  # appendix_mnist.smk
CLONING_FIGURES = ("fig5", "fig10", "fig11")  # cloning.smk's CL_FIGURES
# figures with a curves/ table: aggregate_curves, fewshot_aggregate (fig18), horizon_table
CURVES = (*pipeline.CURVE_FIGURES, "fig18", "fig19")
# the claims tables: results/<scale>/<name>.{csv,md,html} -> <name>.{csv,md,html}
CLAIMS = ("claims", "appendix_train/claims", "appendix_mnist/claims", "cloning/claims")
# the four dense VSML learners of the plan: folder under checkpoints/ -> (variant, distribution)
CHECKPOINTS = {
    "vsml-mnist": ("plain", "mnist"),
    "vsml-mnist-proj": ("proj", "mnist"),
    "vsml-fashion-mnist": ("plain", "fashion_mnist"),
    "vsml-fashion-mnist-proj": ("proj", "fashion_mnist"),
}
# what a learner's folder holds; the ES optimizer state (checkpoint.npz) stays behind
FILES = ("meta_params.npz", "run.json", "metrics.csv")
CONV_CURVE = "appendix_train/fig20-conv-meta-training.csv"
JOB_TIMES = "job_times.csv"
# in published/<scale>/ but written by hand, not by the pipeline: never called stale
HAND_MADE = ("lr_search/", "cloning/extended/", "checkpoints/README.md",
             "checkpoints/example-my-data.png")


@dataclass(frozen=True)
class Output:
    """One file of the run: where the pipeline writes it, where it is published."""

    src: str  # relative to the repository root
    dst: str  # relative to <dest>/<scale>
    job: str  # the job writing it: naming one missing output of a job rebuilds all of them


@dataclass
class Group:
    """A figure's files or a claims table's (required as a whole)."""

    name: str  # "fig6" or a CLAIMS name
    outputs: list[Output]
    feeds: tuple[str, ...] = ()  # a claims table: the figures it judges


@dataclass
class Extra:
    """An optional output: copied when ``reason`` is None, else skipped for that reason."""

    label: str
    files: dict[str, Path | bytes] = field(default_factory=dict)  # dst -> source or content
    reason: str | None = None


def fig_number(fig: str) -> int:
    """For the order of the paper (by name, fig10 would come before fig5)."""
    return int(fig.removeprefix("fig"))


def has_cloning(root: Path, scale: str) -> bool:
    """Whether config/cloning.yaml has the scale (else cloning.smk adds no cloning rules)."""
    config = yaml.safe_load((root / "config" / "cloning.yaml").read_text()) or {}
    return scale in (config.get("scales") or {})


def figure_outputs(fig: str, scale: str) -> list[Output]:
    """A figure's tables and drawings, each with its published path."""
    res, table, drawing = f"results/{scale}", f"table:{fig}", f"figure:{fig}"
    drawings = [Output(f"figures/{fig}.{ext}", f"figures/{fig}.{ext}", drawing)
                for ext in ("pdf", "png")]
    if fig in CLONING_FIGURES:
        return [Output(f"{res}/cloning/{fig}.csv", f"cloning/{fig}.csv", table), *drawings]
    home = ("appendix_train/" if fig in APPENDIX_TRAIN
            else "appendix_mnist/" if fig in APPENDIX_MNIST else "")
    out = [Output(f"{res}/{fig}.csv", f"{home}{fig}.csv", table)]
    sub = ["curves"] if fig in CURVES else []
    if fig not in APPENDIX_MNIST:  # the introspection and horizon rules write no raw table
        sub.insert(0, "raw")
    for folder in sub:
        src = f"{res}/{folder}/{fig}.csv"
        out.append(Output(src, f"{folder}/{fig}.csv", table))
        if home:
            out.append(Output(src, f"{home}{folder}/{fig}.csv", table))
    if fig in introspection.INTROSPECTION_FIGURES:
        out.append(Output(f"{res}/introspection/{fig}.csv",
                          f"appendix_mnist/introspection/{fig}.csv", table))
    return [*out, *drawings]


def plan_groups(plan: pipeline.Plan, cloning: bool) -> tuple[dict[str, Group], dict[str, Group]]:
    """(figure groups by figure, claims groups by name): everything ``rule all`` builds."""
    scale = plan.scale
    figs = [*pipeline.FIGURES, *(CLONING_FIGURES if cloning else ())]
    figures = {fig: Group(fig, figure_outputs(fig, scale)) for fig in sorted(figs, key=fig_number)}
    if cloning:  # the clones' own table (cloning target), from the clones of Figs. 5 and 11
        clones = Output(f"results/{scale}/cloning/clones.csv", "cloning/clones.csv", "table:clones")
        for fig in ("fig5", "fig11"):
            figures[fig].outputs.append(clones)
    feeds = {"claims": plan.claims_figures,
             "appendix_train/claims": appendix_train.claims_figures(plan),
             "appendix_mnist/claims": APPENDIX_MNIST,
             "cloning/claims": ("fig5",) if cloning else ()}
    claims = {}
    for name in CLAIMS:
        if name == "cloning/claims" and not cloning:
            continue
        outputs = [Output(f"results/{scale}/{name}.{ext}", f"{name}.{ext}", f"claims:{name}")
                   for ext in ("csv", "md", "html")]
        claims[name] = Group(name, outputs, tuple(feeds[name]))
    return figures, claims


def select(figures: dict[str, Group], claims: dict[str, Group], chosen: Sequence[str] | None
           ) -> tuple[list[Group], list[str], list[str]]:
    """(required groups, figures skipped, claims tables skipped): all of them, or the
    ``chosen`` figures and the claims tables they feed."""
    if chosen is None:
        return [*figures.values(), *claims.values()], [], []
    unknown = [f for f in chosen if f not in figures]
    if unknown:
        raise UserError(f"--figures: {' '.join(unknown)} not a figure of this scale "
                        f"(choose from {' '.join(figures)})")
    fed = [n for n, g in claims.items() if set(g.feeds) & set(chosen)]
    groups = [g for f, g in figures.items() if f in chosen] + [claims[n] for n in fed]
    return (groups, [f for f in figures if f not in chosen],
            [n for n in claims if n not in fed])


def unique(outputs: Iterable[Output]) -> list[Output]:
    """Each (src, dst) once (clones.csv belongs to two figures)."""
    return list(dict.fromkeys(outputs))


# ------------------------------------------------------------------------------ optional


def _run_extra(label: str, run_dir: Path, job: pipeline.TrainJob, files: dict[str, str]) -> Extra:
    """A finished run's files (source name -> published path), or why they are skipped."""
    extra = Extra(label)
    try:
        status = json.loads((run_dir / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        status = None
    absent = [name for name in files if not (run_dir / name).is_file()]
    if status == "done" and not absent:  # published even where its data is missing now
        extra.files = {dst: run_dir / name for name, dst in files.items()}
    elif status is not None and status != "done":
        extra.reason = f"{run_dir} not finished (run.json status: {status})"
    elif job.missing:
        extra.reason = f"not run at this scale: data unavailable ({', '.join(job.missing)})"
    elif not run_dir.is_dir():
        extra.reason = f"{run_dir} does not exist (not meta-trained)"
    elif status is None:
        extra.reason = f"{run_dir} has no run.json (not meta-trained)"
    else:
        extra.reason = f"{run_dir} lacks {', '.join(absent)}"
    return extra


def run_extras(plan: pipeline.Plan, root: Path, runs: Path) -> list[Extra]:
    """The four dense VSML learners and the conv run's meta-loss, from ``runs`` (the
    repository's runs/<scale>/train).

    The run folders are the ones the current config plans (their names carry the config
    hash), so a working copy with older runs beside them publishes the right ones.
    """
    with contextlib.chdir(root):  # the hashes come from config/default.yaml etc.
        jobs = [(f"checkpoints/{name}", plan.train_job("vsml", variant, dist),
                 {f: f"checkpoints/{name}/{f}" for f in FILES})
                for name, (variant, dist) in CHECKPOINTS.items()]
        fig20 = appendix_train.settings(plan, "fig20")
        jobs += [(CONV_CURVE, appendix_train.conv_train_job(plan, dist, fig20["variant"]),
                  {"metrics.csv": CONV_CURVE})
                 for dist in fig20["distributions"][:1]]  # the first (MNIST) row: all mini runs
    return [_run_extra(label, runs / job.id, job, files) for label, job, files in jobs]


def job_times_extra(benchmarks: Path) -> Extra:
    """job_times.csv from Snakemake's benchmark files, when the run recorded them."""
    extra = Extra(JOB_TIMES)
    if not benchmarks.is_dir():
        extra.reason = f"{benchmarks} does not exist (the run recorded no benchmarks)"
        return extra
    rows = job_times.read_benchmarks(benchmarks)
    if not rows:
        extra.reason = f"no benchmark files under {benchmarks}"
    else:
        extra.files = {JOB_TIMES: job_times.tidy_table(rows).to_csv(index=False).encode()}
    return extra


# ------------------------------------------------------------------------------ publishing


def snakemake(scale: str, targets: Sequence[str]) -> str:
    """The command line that builds ``targets`` (all: the default target) at ``scale``."""
    return shlex.join(["snakemake", "--cores", "all", "--config", f"scale={scale}", *targets])


def build_targets(missing: Sequence[Output]) -> list[str]:
    """Fewest targets that rebuild every missing output: one missing output per job, and a
    figure's table job is left to its figure when the figure needs the missing summary."""
    by_job: dict[str, list[Output]] = {}
    for out in missing:
        by_job.setdefault(out.job, []).append(out)
    targets = []
    for job, outs in by_job.items():
        kind, _, name = job.partition(":")
        summary = re.fullmatch(r"results/[^/]+/(cloning/)?fig\d+\.csv", outs[0].src)
        if kind == "table" and f"figure:{name}" in by_job and summary:
            continue
        targets.append(outs[0].src)
    return targets


def report_missing(missing: Sequence[Output], outputs: Sequence[Output], scale: str,
                   every: bool, root: Path) -> None:
    """Every missing path with the command that builds it, then one command for all."""
    srcs = list(dict.fromkeys(o.src for o in missing))
    total = len({o.src for o in outputs})
    lines = [f"error: {len(srcs)} of {total} required outputs of scale {scale} are missing; "
             "nothing was published.  Build each with:"]
    width = max(len(s) for s in srcs)
    lines += [f"  {src:<{width}}  {snakemake(scale, [src])}" for src in srcs]
    if every and len(srcs) == total:
        cmd = snakemake(scale, []) + "   (the default target, `all`)"
    else:
        cmd = snakemake(scale, build_targets(missing))
    where = "" if root == Path(".") else f" (in {root})"
    lines += [f"or all of them{where}:", f"  {cmd}"]
    print("\n".join(lines), file=sys.stderr)


def stale_files(folder: Path, expected: set[str]) -> list[str]:
    """Files under ``folder`` the pipeline does not make at this scale (not hand-made)."""
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in expected and not rel.startswith(HAND_MADE):
            out.append(rel)
    return out


def publish(root: Path, scale: str, dest: Path, chosen: Sequence[str] | None = None,
            echo: Callable[[str], None] = print) -> int:
    """Copy the scale's outputs from ``root`` to ``dest``/<scale>; 0 only if every required
    one was there (then all of them are copied), 1 if one is missing (then none is)."""
    plan = pipeline.load_plan(root, scale)
    cloning = has_cloning(root, plan.scale)
    figures, claims = plan_groups(plan, cloning)
    required, skipped, skipped_claims = select(figures, claims, chosen)
    outputs = unique(o for g in required for o in g.outputs)
    out_dir = dest / plan.scale
    echo(f"publish scale {plan.scale}: {root} -> {out_dir}")
    if not cloning:
        echo(f"  config/cloning.yaml has no scale {plan.scale!r}: no Figs. 5, 10, 11, no "
             "cloning tables")
    if skipped:
        echo(f"  skipped (not in --figures): {', '.join(skipped)}")
    if skipped_claims:
        echo(f"  skipped claims tables (fed by none of --figures): {', '.join(skipped_claims)}")

    # read every required file first: all of them are published, or none
    missing = [o for o in outputs if not (root / o.src).is_file()]
    if missing:
        report_missing(missing, outputs, plan.scale, every=chosen is None, root=root)
        return 1
    content = {o.dst: (root / o.src).read_bytes() for o in outputs}
    for o in outputs:
        write_bytes_atomic(out_dir / o.dst, content[o.dst])
        echo(f"  copied {o.src} -> {out_dir / o.dst}")

    extras = run_extras(plan, root, root / "runs" / plan.scale / "train")
    if chosen is not None and "fig20" not in chosen:
        conv = next(e for e in extras if e.label == CONV_CURVE)
        conv.files, conv.reason = {}, "fig20 not in --figures"
    extras.append(job_times_extra(root / "benchmarks" / plan.scale))
    copied_extra = 0
    for extra in extras:
        if extra.reason is None:
            # the whole group or nothing (a learner's three files)
            blobs = {dst: s if isinstance(s, bytes) else s.read_bytes()
                     for dst, s in extra.files.items()}
            for dst, blob in blobs.items():
                write_bytes_atomic(out_dir / dst, blob)
            copied_extra += len(blobs)
            echo(f"  copied optional {extra.label} ({len(blobs)} file(s))")
        else:
            echo(f"  skipped optional {extra.label}: {extra.reason}")

    every_output = {o.dst for g in [*figures.values(), *claims.values()] for o in g.outputs}
    every_output |= {JOB_TIMES, CONV_CURVE}
    every_output |= {f"checkpoints/{name}/{f}" for name in CHECKPOINTS for f in FILES}
    stale = stale_files(out_dir, every_output)
    if stale:
        echo(f"  stale: {len(stale)} file(s) in {out_dir} that the pipeline does not make at "
             f"scale {plan.scale} (left alone; delete them by hand if they are obsolete):")
        for rel in stale:
            echo(f"    {rel}")
    skipped_extra = [e.label for e in extras if e.reason is not None]
    echo(f"copied {len(outputs) + copied_extra} files ({len(outputs)} required, "
         f"{copied_extra} optional); skipped {len(skipped_extra)} optional"
         + (f" ({', '.join(skipped_extra)})" if skipped_extra else "")
         + (f"; {len(skipped)} figure(s) not in --figures" if skipped else "")
         + (f"; {len(stale)} stale" if stale else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="mini")
    parser.add_argument("--dest", type=Path, help="published/ folder (default: ROOT/published)")
    parser.add_argument("--figures", nargs="+", metavar="FIG",
                        help="only these figures (fig5 ... fig21) and the claims tables they feed")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="the repository (config/, results/, figures/, runs/, benchmarks/)")
    args = parser.parse_args(argv)
    dest = args.dest if args.dest is not None else args.root / "published"
    try:
        return publish(args.root, args.scale, dest, args.figures)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
