"""Experiments: train, judge on plain and stressed validation, record; designs, selection,
ensembles of seeds."""

from __future__ import annotations

import pytest

from xraylib import config, data, experiment, models, results, train

TINY = experiment.Design(
    dict(filters=(8,), dense_units=8, dropout=0.0),
    train.Recipe(epochs=1, learning_rate=3e-3),
)


@pytest.fixture
def splits(phantom_root, monkeypatch) -> data.Splits:
    monkeypatch.setenv("XRAY_DATA_DIR", str(phantom_root))
    return data.load_splits(progress=False)


def test_an_experiment_records_its_row_stress_table_history_and_model(splits) -> None:
    train.new_session(0)
    run = experiment.run(
        "tiny",
        models.build_cnn(splits.image_size, filters=(8,)),
        splits,
        notebook="99",
        recipe=train.Recipe(epochs=1),
        save=True,
    )
    row = results.load_metrics().set_index("model").loc["tiny"]
    assert row.split == "val" and row.notebook == "99" and row.n == len(splits.y_val)
    assert row.stress_log_loss == pytest.approx(run.row.stress_log_loss)
    assert row.recipe == train.Recipe(epochs=1).describe()
    assert len(experiment.load_history("tiny")) == len(run.fit.history)
    assert (config.models_dir() / "tiny.keras").is_file()
    stress = experiment.load_stress(["tiny"])
    assert list(stress.perturbation) == list(run.stress.index)
    assert experiment.compare([run]).index.tolist() == ["tiny"]


def test_select_takes_the_lowest_stress_log_loss(splits) -> None:
    first = experiment.run_design("a", TINY, splits, notebook="98", save=False)
    second = experiment.run_design("b", TINY.with_changes(augment="exposure"), splits, "98")
    chosen = experiment.select("notebook == '98'")
    best = min((first, second), key=lambda run: run.row.stress_log_loss)
    assert chosen.model == best.name
    assert results.load_metrics().set_index("model").loc["b", "augment"] == "exposure"


def test_members_differ_by_seed_and_ensembles_grow_one_member_at_a_time(splits) -> None:
    members = experiment.train_members(TINY, splits, 2, notebook="97", prefix="m")
    assert [m.name for m in members] == ["m_1", "m_2"]
    assert (members[0].p_val != members[1].p_val).any()
    ensembles = experiment.judge_ensembles(members, splits, notebook="97", prefix="e")
    assert [len(models.ensemble_members(e.model)) for e in ensembles] == [1, 2]
    chosen = experiment.choose_ensemble(ensembles, tolerance=10.0)  # everything ties
    assert chosen.name == "e_1"
    path = experiment.keep(chosen)
    assert path.name == "e_1.keras" and path.is_file()
    assert bool(results.load_metrics().set_index("model").loc["e_1", "saved"])
