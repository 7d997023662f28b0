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
def splits(phantom_root) -> data.Splits:
    return data.load_splits(phantom_root, profile=config.PROFILES["smoke"], progress=False)


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
    assert len(results.load_history("tiny")) == len(run.fit.history)
    assert (config.models_dir() / "tiny.keras").is_file()
    stress = results.load_stress(["tiny"])
    assert list(stress.perturbation) == list(run.stress.index)
    assert experiment.compare([run]).index.tolist() == ["tiny"]


def test_select_takes_the_lowest_stress_log_loss(splits) -> None:
    first = experiment.run_design("a", TINY, splits, notebook="98", save=False)
    second = experiment.run_design("b", TINY.with_changes(augment="exposure"), splits, "98")
    chosen = experiment.select("notebook == '98'")
    best = min((first, second), key=lambda run: run.row.stress_log_loss)
    assert chosen.model == best.name
    assert results.load_metrics().set_index("model").loc["b", "augment"] == "exposure"


def test_runs_of_one_design_over_seeds_are_averaged_and_the_rule_prefers_the_broader(
    splits,
) -> None:
    mild = experiment.run_seeds("mild", TINY, splits, notebook="97", seeds=[1, 2])
    assert [run.name for run in mild] == ["mild_seed1", "mild_seed2"]
    assert (mild[0].p_val != mild[1].p_val).any()
    experiment.run_seeds("broad", TINY.with_changes(augment="exposure"), splits, "97", [1, 2])
    summary = experiment.seed_summary("notebook == '97'")
    assert summary.seeds.tolist() == [2, 2]
    rows = results.load_metrics().query("design == 'mild'")
    assert summary.loc["mild", "stress_log_loss_mean"] == pytest.approx(rows.stress_log_loss.mean())
    assert experiment.select("notebook == '97'").model in {"mild_seed1", "broad_seed1"}
    # overlapping ranges: the preferred (broader) design is kept whichever mean is lower
    wide = summary.assign(stress_log_loss_min=0.0, stress_log_loss_max=10.0)
    assert experiment.choose_design(wide, prefer=["broad", "mild"]) == "broad"
    apart = summary.assign(
        stress_log_loss_mean=[1.0, 2.0],
        stress_log_loss_min=[0.9, 1.9],
        stress_log_loss_max=[1.1, 2.1],
    )
    assert experiment.choose_design(apart, prefer=["broad", "mild"]) == apart.index[0]
    with pytest.raises(ValueError, match="missing"):
        experiment.choose_design(summary, prefer=["broad"])


def test_the_ensemble_holds_every_saved_seed_and_is_judged_against_its_members(splits) -> None:
    experiment.run_seeds("pair", TINY, splits, notebook="96", seeds=[1, 2])
    names = experiment.members_of("pair")
    assert names == ["pair_seed1", "pair_seed2"]
    final = experiment.ensemble_of(names, splits, notebook="96", name="pair_ensemble")
    assert len(models.ensemble_members(final.model)) == 2
    assert (config.models_dir() / "pair_ensemble.keras").is_file()
    table = experiment.against_members("pair_ensemble", names)
    assert list(table.columns) == ["ensemble", "mean member", "best member", "worst member"]
    assert table.loc["roc_auc", "best member"] >= table.loc["roc_auc", "worst member"]


def test_a_rerun_reuses_a_saved_run_of_the_same_design_seed_and_scale(
    splits, monkeypatch, capsys
) -> None:
    first = experiment.run_seeds("kept", TINY, splits, notebook="96", seeds=[1])[0]
    members = experiment.members_of("kept")
    experiment.ensemble_of(members, splits, notebook="96", name="kept_ensemble")
    before = results.load_metrics().to_csv()
    earlier = results.forget_from("96")
    assert len(earlier) == 2 and results.load_metrics().empty

    def no_training(*args, **kwargs):
        raise AssertionError("a matching saved run was trained again")

    with monkeypatch.context() as patched:  # undoes this patch only, not the test's isolation
        patched.setattr(train, "fit", no_training)
        again = experiment.run_seeds("kept", TINY, splits, "96", seeds=[1], earlier=earlier)[0]
        experiment.ensemble_of(members, splits, "96", name="kept_ensemble", earlier=earlier)
    out = capsys.readouterr().out
    assert "reused committed run kept_seed1" in out and "reused committed ensemble" in out
    assert results.load_metrics().to_csv() == before
    assert (again.p_val == first.p_val).all()
    earlier = results.forget_from("96")
    wider = TINY.with_changes(layers={**TINY.layers, "dropout": 0.5})  # another design: trained
    experiment.run_seeds("kept", wider, splits, notebook="96", seeds=[1], earlier=earlier)
    assert "reused" not in capsys.readouterr().out


def test_a_saved_run_is_the_same_network_whatever_its_augmentation_layers() -> None:
    # the committed runs were trained with the custom RandomBlur, which later gave way to
    # Keras' RandomGaussianBlur: a re-run must still recognise them (the policy is compared by
    # name in the metrics row)
    old = experiment.final_design("acquisition", 1).build(32, name="a")
    new = experiment.final_design("exposure", 1).build(32, name="b")
    other = TINY.build(32, name="c")
    assert experiment._architecture(old) == experiment._architecture(new)
    assert experiment._architecture(old) != experiment._architecture(other)
