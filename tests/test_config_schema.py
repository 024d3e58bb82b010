"""The pipeline config schema (workflow/schemas/config.schema.yaml): the published config
passes, bad values are refused with one line naming the key, the value and what is allowed,
and the schema's lists stay in step with the code."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from vsml.data import DATASETS
from vsml.repro import appendix_train, config_schema, introspection, pipeline

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def _config(**overrides):
    """config/pipeline.yaml with command-line overrides as Snakemake passes them."""
    with open(ROOT / "config/pipeline.yaml") as f:
        config = yaml.safe_load(f)
    config.update(overrides)
    return config_schema.typed_overrides(config)


def _refusal(config) -> str:
    with pytest.raises(WorkflowError) as info:
        validate(config, str(SCHEMA))
    return config_schema.one_line(info.value, SCHEMA)


def test_the_pipeline_config_and_its_documented_overrides_pass():
    validate(_config(), str(SCHEMA))
    # the overrides of config/pipeline.yaml's header and docs/pipeline.md, as Snakemake
    # passes them (nested scalars as strings)
    validate(_config(seeds=64, datasets=["mnist", "sum_sign"],
                     vsml={"model.micro_ticks": "1"}, threads={"train": "2"},
                     pool_available_only="false", image_size="null",
                     **{"adam-shallow": {"model.learning_rate": "0.003"}}), str(SCHEMA))
    for scale in pipeline.SCALES:
        pipeline.resolve_scale(_config(scale=scale))


def test_overrides_are_typed_before_validation():
    config = _config(threads={"train": "2"}, pool_available_only="false", data_dir="null")
    assert config["threads"] == {"train": 2}
    assert config["pool_available_only"] is False
    assert config["data_dir"] is None
    assert config["scales"]["mini"]["seeds"] == 32  # the file's own values untouched


@pytest.mark.parametrize("override, expected", [
    ({"seeds": -4}, "pipeline config: seeds = -4 is not allowed: must be an integer >= 1 "
                    "(meta-test episodes (seeds) per cell)"),
    ({"length": 0}, "pipeline config: length = 0 is not allowed: must be an integer >= 1"),
    ({"seeds": "many"}, "pipeline config: seeds = 'many' is not allowed: must be an integer"),
    ({"seedz": 4}, "pipeline config: unknown key 'seedz' (did you mean 'seeds'?); valid keys: "
                   "scale, scales, data_dir"),
    ({"threads": {"train": "two"}}, "pipeline config: threads.train = 'two' is not allowed: "
                                    "must be an integer >= 1"),
    ({"threads": {"trains": "2"}}, "pipeline config: unknown key 'trains' in threads "
                                   "(did you mean 'train'?); valid keys: train, test"),
    ({"datasets": ["mnist", "mnsit"]}, "pipeline config: datasets[1] = 'mnsit' is not "
                                       "allowed: must be one of mnist, fashion_mnist"),
    ({"datasets": ["mnist", "mnist"]}, "pipeline config: datasets = ['mnist', 'mnist'] lists "
                                       "'mnist' twice"),
    ({"methods": []}, "pipeline config: methods = [] is not allowed: must be a list of names"),
    ({"distributions": ["all_but_x"]}, "pipeline config: distributions[0] = 'all_but_x' is not "
                                       "allowed: must be one of mnist"),
    ({"pool_available_only": "maybe"}, "pipeline config: pool_available_only = 'maybe' is not "
                                       "allowed: must be true or false"),
    ({"image_size": "1"}, "pipeline config: image_size = 1 is not allowed: must be an integer "
                          "or null >= 2"),
    ({"vsml": {"micro_ticks": "1"}}, "pipeline config: unknown key 'micro_ticks' in vsml; "
                                     "valid keys: variants, section.key (e.g. es.pairs)"),
    ({"hebbian": {"variants": {"projj": {"es.learning_rate": "0.1"}}}},
     "pipeline config: unknown key 'projj' in hebbian.variants (did you mean 'proj'?); "
     "valid keys: plain, proj, augment"),
    ({"fig7": {"tests": [{"label": "x"}]}}, "pipeline config: fig7.tests[0] lacks the key(s) "
                                            "set"),
    ({"appendix_mnist": {"fig9": {"streamz": "3"}}},
     "pipeline config: unknown key 'streamz' in appendix_mnist.fig9 (did you mean 'streams'?)"),
    ({"appendix_train": {"fig20": {"variant": "augment"}}},
     "pipeline config: appendix_train.fig20.variant = 'augment' is not allowed: must be one "
     "of plain, proj"),
    ({"data_dir": 3}, "pipeline config: data_dir = 3 is not allowed: must be a string or null"),
])
def test_a_bad_override_is_refused_with_one_line(override, expected):
    line = _refusal(_config(**override))
    assert line.startswith(expected), line
    assert "\n" not in line


def test_a_bad_value_in_the_file_names_its_scale():
    config = _config()
    config["scales"]["mini"]["seeds_fig6"] = 0
    assert _refusal(config).startswith(
        "pipeline config: scales.mini.seeds_fig6 = 0 is not allowed: must be an integer >= 1")
    config = _config()
    del config["scales"]["smoke"]["pool"]
    assert _refusal(config).startswith("pipeline config: scales.smoke lacks the key(s) pool")


def test_the_schema_lists_what_the_code_knows():
    with open(SCHEMA) as f:
        schema = yaml.safe_load(f)
    defs = schema["$defs"]
    assert defs["dataset"]["enum"] == list(DATASETS)
    names = [*DATASETS, "all", *(f"all_but_{d}" for d in DATASETS)]
    assert defs["distributions"]["items"]["enum"] == names
    assert defs["method"]["enum"] == [*pipeline.META_LEARNED, *pipeline.ONLINE]
    figures = {int(f[3:]) for f in defs["figure"]["enum"]}
    assert figures == set(range(5, 22))
    assert {int(f[3:]) for f in pipeline.FIGURES} <= figures
    keys = set(pipeline.SCALE_KEYS)
    assert set(defs["scale"]["properties"]) == keys
    assert set(defs["scale"]["required"]) == keys - set(pipeline.OPTIONAL_KEYS)
    assert set(schema["properties"]) == keys | set(config_schema.TOP_LEVEL)
    assert set(defs["appendix_mnist"]["properties"]) == set(introspection.DEFAULTS)
    for fig, sub in introspection.DEFAULTS.items():
        if isinstance(sub, dict):
            assert set(defs["appendix_mnist"]["properties"][fig]["properties"]) == set(sub)
    train = defs["appendix_train"]["properties"]
    assert set(train) == {*appendix_train.FIGURES, "claims_figures"}
    for fig, sub in appendix_train.DEFAULTS.items():
        assert set(train[fig]["properties"]) == set(sub), fig


def _snakemake():
    exe = Path(sys.executable).parent / "snakemake"
    exe = str(exe) if exe.exists() else shutil.which("snakemake")
    if exe is None:
        pytest.skip("snakemake not installed")
    return exe


def test_snakemake_refuses_a_bad_value_while_reading_the_snakefile(tmp_path):
    work = tmp_path / "repo"
    for name in ("config", "workflow"):
        shutil.copytree(ROOT / name, work / name)
    shutil.copy(ROOT / "Snakefile", work / "Snakefile")
    result = subprocess.run(
        [_snakemake(), "-n", "figures/fig6.pdf", "--config", "seeds=-4"], cwd=work,
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "VSML_DATA_DIR": str(tmp_path / "no-data")})
    assert result.returncode == 1
    lines = [ln for ln in result.stderr.splitlines() if "is extended by" not in ln]
    assert lines == ["pipeline config: seeds = -4 is not allowed: must be an integer >= 1 "
                     "(meta-test episodes (seeds) per cell)"], result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (work / "results").exists()  # refused before anything was planned or written


def test_the_schema_is_valid_json_schema():
    import jsonschema

    with open(SCHEMA) as f:
        schema = yaml.safe_load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    # every $ref names a definition that exists
    text = SCHEMA.read_text()
    for name in {part.split('"')[0] for part in text.split('"#/$defs/')[1:]}:
        assert name in schema["$defs"], name
