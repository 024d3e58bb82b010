"""Run configs: YAML + --set overrides, validation with suggestions, stable hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsml.errors import UserError
from vsml.meta.config import (
    CONFIG_DIR,
    build,
    config_hash,
    dump_yaml,
    load_config,
    parse_value,
    to_dict,
    trajectory_hash,
)
from vsml.meta.meta_train import main as meta_train_main

ROOT = Path(__file__).resolve().parent.parent


def test_default_yaml_spells_out_the_builtin_defaults():
    from_file = load_config(ROOT / "config" / "default.yaml")
    assert to_dict(from_file) == to_dict(load_config(None))
    assert config_hash(from_file) == config_hash(load_config(None))
    cfg = from_file
    assert (cfg.method, cfg.es.pairs, cfg.es.noise_std, cfg.es.learning_rate) == (
        "vsml", 1024, 0.05, 0.025)
    assert (cfg.es.b1, cfg.es.b2, cfg.meta_train.steps, cfg.meta_train.length) == (
        0.9, 0.999, 10000, 500)
    assert (cfg.gradient.batch, cfg.gradient.learning_rate, cfg.gradient.clip_norm) == (
        128, 1e-3, 25.0)
    assert cfg.tasks.datasets[0].dataset == "mnist"


RUN_CONFIGS = ["default", "invariances", "datasets", "gradient", "metarnn", "metarnn16",
               "metarnn128", "hebbian", "fwmemory", "tiny"]  # config/ also holds pipeline configs


@pytest.mark.parametrize("path", [ROOT / "config" / f"{name}.yaml" for name in RUN_CONFIGS])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert build(to_dict(cfg)) == cfg  # the resolved form round-trips


def test_method_configs():
    assert load_config(CONFIG_DIR / "metarnn.yaml").model.hidden_size == 32
    assert load_config(CONFIG_DIR / "metarnn16.yaml").model.hidden_size == 16
    assert load_config(CONFIG_DIR / "metarnn128.yaml").model.hidden_size == 128
    inv = load_config(CONFIG_DIR / "invariances.yaml")
    assert inv.tasks.augment.enabled and inv.tasks.random_projection_fraction == 0.5
    assert inv.tasks.augment.num_classes == (3, 4, 6, 7)
    assert inv.tasks.augment.image_sizes == (14, 28, 32)


def test_dotted_overrides():
    cfg = load_config(None, ["es.pairs=8", "model.micro_ticks=1", "meta_train.algorithm=gradient",
                             "tasks.datasets.0.image_size=14", "tasks.augment.num_classes=[3, 4]",
                             "tasks.random_projection_fraction=0.5"])
    assert cfg.es.pairs == 8 and cfg.model.micro_ticks == 1
    assert cfg.meta_train.algorithm == "gradient"
    assert cfg.tasks.datasets[0].image_size == 14 and cfg.tasks.datasets[0].dataset == "mnist"
    assert cfg.tasks.augment.num_classes == (3, 4)
    cfg = load_config(None, ["tasks.datasets=[{dataset: random}, sum_sign]"])
    assert [s.dataset for s in cfg.tasks.datasets] == ["random", "sum_sign"]
    assert parse_value("true") is True and parse_value("1e-3") == 1e-3


def test_method_flag_replaces_the_files_method(tmp_path):
    cfg = load_config(CONFIG_DIR / "default.yaml", method="metarnn")
    assert cfg.method == "metarnn"  # the file's VSML model section is dropped
    assert load_config(CONFIG_DIR / "metarnn.yaml", method="metarnn").model.hidden_size == 32


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["es.pair=8"], "'es.pair' (did you mean 'es.pairs'?)"),
        (["esx.pairs=8"], "did you mean 'es'"),
        (["model.micro_tick=1"], "did you mean 'model.micro_ticks'"),
        (["meta_train.step=5"], "did you mean 'meta_train.steps'"),
        (["tasks.datasets.0.image_sise=14"], "did you mean 'tasks.datasets.0.image_size'"),
        (["tasks.augment.enabeld=true"], "did you mean 'tasks.augment.enabled'"),
        (["tasks.datasets=[{dataset: mnistt}]"], "did you mean 'mnist'"),
        (["meta_train.steps=-3"], "meta_train.steps must be > 0"),
        (["meta_train.steps=1.5"], "meta_train.steps"),
        (["es.pairs=many"], "es.pairs"),
        (["es.noise_std=0"], "es.noise_std"),
        (["es.b2=1.0"], "es.b2"),
        (["tasks.random_projection_fraction=1.5"], "random_projection_fraction"),
        (["meta_train.algorithm=cmaes"], "es, gradient"),
        (["tasks.augment.num_classes=[1]"], "num_classes"),
        (["method=vsmll"], "did you mean 'vsml'"),
        (["es.pairs"], "key=value"),
    ],
)
def test_bad_keys_and_values(sets, message):
    with pytest.raises(UserError) as err:
        load_config(None, sets)
    assert message in str(err.value)


def test_unknown_yaml_key_and_bad_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("es:\n  pairs: 4\n  noise: 0.1\n")
    with pytest.raises(UserError, match="es.noise_std"):
        load_config(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(path)
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_exits_2_on_config_errors(tmp_path, capsys):
    assert meta_train_main(["--set", "es.pair=8", "--out", str(tmp_path / "r")]) == 2
    assert "did you mean 'es.pairs'" in capsys.readouterr().err


def test_hash_is_stable_and_sensitive(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("es:\n  pairs: 8\n  noise_std: 0.05\nmethod: vsml\n")
    b.write_text("method: vsml\nes:\n  noise_std: 0.05\n  pairs: 8\n")
    h = config_hash(load_config(a))
    assert len(h) == 64 and h == config_hash(load_config(b))  # key order is irrelevant
    assert h == config_hash(build(to_dict(load_config(a))))
    assert config_hash(load_config(a, ["es.pairs=9"])) != h
    # the resolved form includes the defaults, so dumping and reloading keeps the hash
    c = tmp_path / "c.yaml"
    c.write_text(dump_yaml(load_config(a)))
    assert config_hash(load_config(c)) == h
    # steps / checkpoint_every do not change the trajectory
    assert trajectory_hash(load_config(a, ["meta_train.steps=5"])) == trajectory_hash(
        load_config(a))
    assert trajectory_hash(load_config(a, ["meta_train.seed=5"])) != trajectory_hash(
        load_config(a))
