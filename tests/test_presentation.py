"""presentation.pdf tells a hospital manager what the results files hold, and no more: the test
reads counted from the ledger, counts per X-ray (children only where patient ids count them),
no shift that ``shift.csv`` does not measure, no jargon, and what a flag means where pneumonia
is rarer, in natural frequencies. On small synthetic results (``_fake_results`` of
``test_reporting``) and on the committed ones."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from test_reporting import _fake_results

from xraylib import config, narrative, presentation, results
from xraylib.errors import XrayError

ROOT = config.ROOT

#: Words a slide must not show: method acronyms, ids and the claims the ledger contradicts.
JARGON = re.compile(
    r"AdaBN|BBSE|\bEM\b|prior shift|PPV|@final|ensemble|never seen|unseen|new hospital"
    r"|Every choice was made before",
    re.IGNORECASE,
)


def _shown(fig: Figure) -> str:
    """Every piece of text a slide shows: figure and axes texts, titles, tick labels, legends."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [t.get_text() for t in ax.texts] + [ax.get_title()]
        parts += [t.get_text() for t in ax.get_yticklabels()]
        parts += [t.get_text() for t in ax.get_xticklabels()] + [ax.get_xlabel()]
        if ax.get_legend():
            parts += [t.get_text() for t in ax.get_legend().get_texts()]
        for table in ax.tables:
            parts += [cell.get_text().get_text() for cell in table.get_celld().values()]
    return " ".join(parts).replace("\n", " ")


def _all_shown(res: results.Results) -> list[str]:
    return [_shown(make(res)) for make in presentation.SLIDES]


def _res() -> results.Results:
    return results.Results()


def _hashes(res: results.Results) -> set[str]:
    """The commit hashes of the ledger."""
    return set(res.ledger.commit.dropna().astype(str)) - {"unknown", ""}


def _read_again(shift_p: float = 0.0) -> None:
    """One more read of the test set in the ledger; ``shift_p`` ≠ 0: a different model."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(y * 0.6 + rng.random(200) * 0.5 + shift_p, 0, 1)
    rows = [
        results.score_row("m2", "test", y, p, 0.5, ci=False),
        results.score_row("m2+adabn", "test", y, np.clip(p - 0.1, 0, 1), 0.5, ci=False),
    ]
    results.append_to_ledger(rows, "m2", "another recipe", ["none", "AdaBN"])


# -- natural frequencies ---------------------------------------------------------------------


def test_a_flag_in_natural_frequencies_per_1000_children():
    s = narrative.natural_frequencies(0.9, 0.8, 0.05)
    assert (s.children, s.sick, s.caught, s.missed) == (1000, 50, 45, 5)
    assert (s.healthy, s.false_flags, s.flags) == (950, 190, 235)  # 45 of 235 flags are true


@pytest.mark.parametrize(
    ("sensitivity", "specificity", "prevalence"),
    [(0.972, 0.692, 0.2), (1.0, 0.0, 0.05), (0.0, 1.0, 0.625), (0.333, 0.777, 0.013)],
)
def test_natural_frequencies_add_up_to_the_children_x_rayed(sensitivity, specificity, prevalence):
    s = narrative.natural_frequencies(sensitivity, specificity, prevalence)
    assert s.sick + s.healthy == s.children and s.caught + s.missed == s.sick
    assert 0 <= s.false_flags <= s.healthy and s.flags == s.caught + s.false_flags


def test_shares_are_said_in_plain_words():
    assert narrative.share_in_words(45, 235) == "about 1 in 5"
    assert narrative.share_in_words(194, 440) == "about 4 in 10"
    assert narrative.share_in_words(0, 10) == "none of them"
    assert narrative.share_in_words(3, 3) == "all of them"


def test_the_rarer_pneumonia_slide_uses_the_declared_row_of_the_latest_read():
    _fake_results()
    _read_again(shift_p=0.05)  # read 2: a different model, with an AdaBN row
    res = _res()
    ledger = res.ledger
    row = ledger[(ledger["read"] == 2) & (ledger.adaptation == "AdaBN")].iloc[0]
    shown = _shown(presentation.slide_rarer(res))
    assert "read 2: the model re-tuned on the new images, without their labels" in shown
    for prevalence in narrative.PREVALENCES:
        s = narrative.natural_frequencies(row.sensitivity, row.specificity, prevalence)
        assert f"{s.sick:,} have pneumonia: {s.caught:,} flagged, {s.missed:,} missed" in shown
        assert f"Of its {s.flags:,} flags, {s.caught:,} have pneumonia" in shown
        assert f"If {narrative.per_100(prevalence)} in 100 children have pneumonia" in shown


def test_without_a_declared_row_in_the_latest_read_the_rarer_slide_says_as_trained():
    _fake_results()
    ledger = results.load_ledger()
    ledger[ledger.adaptation != "AdaBN"].to_csv(
        config.results_dir() / "test_ledger.csv", index=False
    )
    assert "read 1: the model as trained" in _shown(presentation.slide_rarer(_res()))


# -- the reads of the test set ---------------------------------------------------------------


def test_read_history_numbers_the_models_and_marks_a_model_read_again():
    base = {"threshold": 0.5, "sensitivity": 0.9, "specificity": 0.6, "roc_auc": 0.9}
    ledger = pd.DataFrame(
        [
            {"read": 1, "date": "d1", "adaptation": "none", **base},
            {"read": 1, "date": "d1", "adaptation": "AdaBN", **base, "specificity": 0.7},
            {"read": 2, "date": "d2", "adaptation": "none", **base},
            {"read": 3, "date": "d3", "adaptation": "none", **base, "roc_auc": 0.95},
        ]
    )
    history = narrative.read_history(ledger)
    assert history.model.tolist() == [1, 1, 2] and history.again.tolist() == [False, True, False]


def test_the_reads_are_counted_from_the_ledger_and_what_they_mean_is_said():
    _fake_results()
    assert _res().reads == 1
    assert "read once" in narrative.reads_sentence(_res())
    _fake_results()  # the same model read again: same answers
    res = _res()
    assert res.reads == results.count_test_reads(config.results_dir()) == 2
    assert "read 2 times, each time scoring the same model" in narrative.reads_sentence(res)
    _read_again(shift_p=0.05)
    res = _res()
    sentence = narrative.reads_sentence(res)
    assert "read 3 times, scoring 2 different models, each fixed before its read" in sentence
    assert "earlier reads showed informed later recipes" in sentence
    assert "not a pristine first look" in sentence
    method = _shown(presentation.slide_method(res))
    assert "test set read 3 times" in method and "model 1, again" in method


# -- counts, shift, plain words --------------------------------------------------------------


def test_test_x_rays_are_counted_per_child_only_with_patient_ids():
    _fake_results()
    shown = _shown(presentation.slide_data(_res()))
    assert "children:" not in shown and "of 90 children" not in shown
    pd.DataFrame(
        {
            "split": "test",
            "label": ["NORMAL"] * 4 + ["PNEUMONIA"] * 3,
            "patient_id": ["a", "a", "b", "c", "p", "p", "q"],
        }
    ).to_csv(config.results_dir() / results.TEST_PREDICTIONS_FILE, index=False)
    res = _res()
    assert res.children == {"NORMAL": 3, "PNEUMONIA": 2, "total": 5}
    shown = _shown(presentation.slide_data(res))
    assert "are of 5 children: 90 healthy X-rays (of 3 children), 110 with pneumonia (of 2" in shown
    assert "healthy test X-rays (of 3 children) were flagged" in _shown(
        presentation.slide_errors(res)
    )


def test_the_shift_is_not_measured_without_shift_csv_and_read_from_it_with_one():
    _fake_results()
    assert "is not measured" in _shown(presentation.slide_adaptation(_res()))
    pd.DataFrame(
        {
            "set": ["validation", "test"],
            "images": [748, 624],
            "out_of_distribution": [0.0107, 0.0481],
            "estimated_pneumonia_rate": [0.741, 0.681],
        }
    ).to_csv(config.results_dir() / results.SHIFT_FILE, index=False)
    shown = _shown(presentation.slide_adaptation(_res()))
    assert "not measured" not in shown
    assert "calls 48 of 1,000 test X-rays unusual (check set: 11 of 1,000)" in shown
    assert "estimated share with pneumonia is 68 of 100 (check set: 74 of 100)" in shown


def test_a_shift_csv_without_its_rows_is_a_one_line_error():
    _fake_results()
    pd.DataFrame({"set": ["test"], "out_of_distribution": [0.1]}).to_csv(
        config.results_dir() / results.SHIFT_FILE, index=False
    )
    with pytest.raises(XrayError, match="needs columns set, out_of_distribution") as caught:
        _res()
    assert "\n" not in str(caught.value)


def test_the_published_slide_sets_sensitivity_and_specificity_side_by_side():
    _fake_results()
    res = _res()
    shown = _shown(presentation.slide_published(res))
    kermany = res.comparison[res.comparison.model.str.startswith("Kermany")].iloc[0]
    assert (
        f"Kermany et al. 2018 (pre-trained on millions of photos) flags "
        f"{narrative.per_100(kermany.sensitivity)} and clears "
        f"{narrative.per_100(kermany.specificity)}"
    ) in shown
    assert (
        "pneumonia X-rays flagged (of 100)" in shown and "healthy X-rays cleared (of 100)" in shown
    )
    assert shown.count("not reported") == 2  # MedMNIST gives neither
    assert "ours, re-tuned" in shown and "ours, as trained" in shown


@pytest.mark.parametrize(
    ("name", "long", "short"),
    [
        ("none", "as trained", "as trained"),
        ("AdaBN", "re-tuned on the new images, without their labels", "re-tuned"),
        ("AdaBN + prior shift (EM)", None, "re-tuned + rate fix (own answers)"),
        ("something new", "adjusted, without their labels", "adjusted"),
    ],
)
def test_adaptations_are_named_in_plain_words(name, long, short):
    if long:
        assert narrative.plain_adaptation(name) == long
    assert narrative.plain_adaptation(name, short=True) == short


def test_no_slide_shows_jargon_ids_or_hashes():
    _fake_results()
    res = _res()
    hashes = _hashes(res)
    for page, shown in enumerate(_all_shown(res), start=1):
        assert not JARGON.search(shown), f"page {page}: {JARGON.search(shown)}"
        assert not any(h in shown for h in hashes), f"page {page} shows a commit hash"
        assert not re.search(r"\b\d[\d,]* (healthy |sick )?children (in|of) the test", shown)


def test_the_check_set_and_training_add_up_to_the_pool_and_the_bars_to_the_total():
    _fake_results()
    res = _res()
    training, check, test = narrative.parts(res)
    assert check.total == res.validation.n and training.total == 300 + 900 + 8 + 8 - check.total
    assert training.total + check.total + test.total == res.counts.loc["total", "total"]
    assert check.pneumonia is None  # a perfect score on the check set: its classes unknown
    assert "classes not counted" in _shown(presentation.slide_data(res))
    table = results.load_metrics()  # a check-set row with 30 of 80 pneumonias found
    final = table.model.str.endswith("@final")
    table.loc[final, ["n", "sensitivity", "specificity"]] = [200, 0.5, 0.9]
    table.loc[final, "accuracy"] = (0.5 * 80 + 0.9 * 120) / 200
    table.to_csv(config.results_dir() / results.METRICS_FILE, index=False)
    res = _res()
    training, check, test = narrative.parts(res)
    assert (check.pneumonia, check.normal) == (80, 120)
    assert (training.pneumonia, training.normal) == (900 + 8 - 80, 300 + 8 - 120)
    shown = _shown(presentation.slide_data(res))
    assert "828 pneumonia" in shown and "80 pneumonia" in shown


def test_the_method_slide_counts_trainings_on_the_check_set_and_the_search_trials():
    _fake_results()
    method = _shown(presentation.slide_method(_res()))
    assert "1 training compared; 1 chosen on the check set" in method and "trial" not in method
    folder = results.search_root() / "cnn_tuned"
    folder.mkdir(parents=True)
    pd.DataFrame({"trial_id": range(7)}).to_csv(folder / results.TRIALS_FILE, index=False)
    assert "plus a 7-trial search" in _shown(presentation.slide_method(_res()))


def test_the_cover_and_the_frequencies_lead_with_the_model_as_trained():
    _fake_results(p_adapted=np.full(200, 0.9))  # adapted: flags every X-ray
    res = _res()
    cover = _shown(presentation.slide_title(res))
    assert f"the model as trained flags {narrative.per_100(res.plain.sensitivity)};" in cover
    assert "as declared before the read, it flags 100 and sends 100." in cover
    frequencies = _shown(presentation.slide_frequencies(res))
    assert f"it flags {narrative.per_100(res.plain.sensitivity)} " in frequencies
    assert "(official test set, as trained; re-tuned: 100 and 100)" in frequencies


def test_the_adaptation_slide_shows_only_as_trained_and_the_declared_adjustment():
    _fake_results()
    ax = presentation.slide_adaptation(_res()).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["as trained", "re-tuned"]


def test_the_targets_slide_says_when_the_targets_changed_and_shows_the_first_ones():
    _fake_results()
    shown = _shown(presentation.slide_target(_res()))
    assert "targets changed" not in shown and "first targets" not in shown
    ledger = results.load_ledger()
    ledger["date"] = "2026-11-23"  # read 1 before the change
    ledger.to_csv(config.results_dir() / results.LEDGER_FILE, index=False)
    res = _res()
    shown = _shown(presentation.slide_target(res))
    specificity = res.ledger[res.ledger.adaptation == "none"].specificity.min()
    assert (
        f"The targets changed on {results.TARGETS_CHANGED_ON}, after read 1 had shown "
        f"specificity {specificity:.2f} as trained" in shown
    )
    first = results.target_check(res.plain, res.adapted, results.FIRST_TARGETS)
    assert len(first) == 8 and set(first.target) == {0.93, 0.975, 0.97, 0.85}
    for metric, minimum in [("accuracy", 0.93), ("ROC AUC", 0.975), ("specificity", 0.85)]:
        assert f"{metric} ≥ {minimum:g}:" in shown


def test_the_grad_cam_slide_shows_four_large_panels_and_what_the_maps_mean():
    _fake_results()
    fig = presentation.slide_errors(_res())
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == len(presentation.GRADCAM_PANELS) == 4
    assert all(ax.get_position().width > 0.2 for ax in panels)
    shown = _shown(fig)
    assert "evidence for pneumonia" in shown and "colours cannot be compared" in shown
    assert "does not show why it was cleared" in shown and "border" in shown
    assert "ECG leads" in shown
    for name, _, _ in presentation.GRADCAM_PANELS:
        assert len(presentation._panels(config.images_dir() / f"{name}.png")) == 4


def test_a_model_handed_over_as_trained_builds_and_says_so(tmp_path):
    _fake_results(declared="none")
    res = _res()
    assert res.adaptation == "none" and narrative.handed_over(res) == "as trained"
    assert "No adjustment to the new images" in _shown(presentation.slide_adaptation(res))
    assert "read 1: the model as trained" in _shown(presentation.slide_rarer(res))
    assert presentation.build(tmp_path / "slides.pdf").is_file()


def test_the_committed_results_make_ten_plain_slides(tmp_path):
    """The committed results files (whatever the latest run wrote) build every slide, with the
    reads counted from the committed ledger and no jargon."""
    committed = ROOT / "data" / "results"
    for name in ["metrics.csv", "counts.csv", "comparison.csv", "test_ledger.csv"]:
        shutil.copy(committed / name, config.results_dir() / name)
    for name in [results.TEST_PREDICTIONS_FILE, results.SHIFT_FILE]:
        if (committed / name).is_file():
            shutil.copy(committed / name, config.results_dir() / name)
    final = ROOT / "data" / "models" / "final.json"
    (config.models_dir() / "final.json").write_text(final.read_text())
    (config.models_dir() / "final.keras").write_bytes(b"")
    for name in ["01_sample_grid", *{name for name, _, _ in presentation.GRADCAM_PANELS}]:
        shutil.copy(ROOT / "images" / f"{name}.png", config.images_dir() / f"{name}.png")
    searches = ROOT / "data" / "tuning"
    for path in searches.glob(f"*/{results.TRIALS_FILE}"):
        copy = results.search_root() / path.relative_to(searches)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    res = _res()
    assert res.adaptation == json.loads(final.read_text()).get("adaptation", res.adaptation)
    shown = _all_shown(res)
    assert len(shown) == len(presentation.SLIDES) == 10
    reads = results.count_test_reads(committed)
    assert f"read {reads} times" in shown[2]
    # training and check set: the pooled train and val folders, split by the final model's n
    counts = pd.read_csv(committed / "counts.csv", index_col="split")
    metrics = pd.read_csv(committed / "metrics.csv")
    final = metrics[metrics.model.str.endswith("@final")].iloc[0]
    check = int(final.n)
    training = int(counts.loc["train", "total"] + counts.loc["val", "total"]) - check
    assert f"{training:,} X-rays to learn from, {check:,} to check with" in shown[2]
    parts = narrative.parts(res)
    assert [p.total for p in parts] == [training, check, int(counts.loc["test", "total"])]
    assert sum(p.total for p in parts) == counts.loc["total", "total"]
    assert f"{int(counts.loc['total', 'total']):,} X-rays of children" in shown[1]
    for part in parts:
        assert part.normal is not None and part.pneumonia is not None
        assert f"{part.normal:,} healthy · {part.pneumonia:,} pneumonia" in shown[1]
    trials = sum(len(pd.read_csv(p)) for p in searches.glob(f"*/{results.TRIALS_FILE}"))
    assert f"plus a {trials}-trial search" in shown[2]
    # the cover leads with the model as trained, then the declared adaptation
    cover = shown[0]
    plain = cover.index(f"the model as trained flags {narrative.per_100(res.plain.sensitivity)}")
    assert plain < cover.index(f"it flags {narrative.per_100(res.adapted.sensitivity)} and sends")
    # the targets slide: the change of targets, from the ledger, and the first targets
    assert (
        f"changed on {results.TARGETS_CHANGED_ON}, after reads 1–3 had shown specificity"
        in (shown[6])
    )
    assert "accuracy ≥ 0.93: not met" in shown[6] and "specificity ≥ 0.85" in shown[6]
    for page, text in enumerate(shown, start=1):
        assert not JARGON.search(text), f"page {page}: {JARGON.search(text)}"
        assert not any(h in text for h in _hashes(res)), f"page {page} shows a commit hash"
    assert presentation.build(tmp_path / "slides.pdf").is_file()
