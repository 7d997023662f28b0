"""What ``presentation.pdf`` says, in plain words: the sentences and whole numbers each slide
shows, made from the results files (:class:`xraylib.results.Results`).

Results are told as natural frequencies ("of 100 X-rays with pneumonia, it flags 97"; "of 1,000
children X-rayed, …"), counted per X-ray, never per child, unless a patient id counts the
children. No model id, commit hash or method acronym appears: adaptations are told in plain
words (:func:`plain_adaptation`). :mod:`xraylib.presentation` draws the slides around them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from xraylib import results
from xraylib.results import FIRST_TARGETS, TARGETS_CHANGED_ON, Results, target_check

METRIC_NAMES = {
    "accuracy": "accuracy",
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "roc_auc": "ROC AUC",
}
#: Where the images come from (the data card: Kermany et al. 2018), training and test alike.
CENTRE = "Guangzhou Women and Children's Medical Center"
#: Shares of children with pneumonia at which a flag is told per :data:`PER` children X-rayed
#: (rarer than in the official test set).
PREVALENCES = (0.05, 0.20)
PER = 1000
#: Each step of a declared adaptation in plain words: (on a headline, on a chart label).
PLAIN_STEPS = {
    "AdaBN": ("re-tuned on the new images", "re-tuned"),
    "prior shift (EM)": (
        "corrected for the pneumonia rate it estimates from its own answers",
        "rate fix (own answers)",
    ),
    "prior shift (BBSE)": (
        "corrected for the pneumonia rate estimated from its check-set errors",
        "rate fix (check-set errors)",
    ),
}


def is_none(name: object) -> bool:
    return name is None or (isinstance(name, float) and math.isnan(name)) or name == "none"


def plain_adaptation(name: object, short: bool = False) -> str:
    """An adaptation in plain words: ``"AdaBN"`` → "re-tuned on the new images, without their
    labels" (``short``: "re-tuned"); ``"none"`` → "as trained". Unknown steps: "adjusted"."""
    if is_none(name):
        return "as trained"
    steps = [
        PLAIN_STEPS.get(step.strip(), ("adjusted", "adjusted"))[int(short)]
        for step in str(name).split(" + ")
    ]
    return " + ".join(steps) if short else " and ".join(steps) + ", without their labels"


def handed_over(res: Results) -> str:
    """The declared adaptation in plain words (``"as trained"`` when there is none)."""
    return plain_adaptation(res.adaptation)


def of_children(res: Results, label: str) -> str:
    """ " (of 225 children)" for the test X-rays of ``label`` when patient ids count them;
    else ``""``."""
    n = res.children.get(label)
    return f" (of {n:,} children)" if n else ""


def whole(x: float) -> int:
    """``x`` rounded to a whole number, halves up: ``whole(62.5) == 63``."""
    return int(math.floor(float(x) + 0.5))


def per_100(rate: float) -> int:
    """A rate as a whole number of 100: ``per_100(0.9821) == 98``."""
    return whole(100 * float(rate))


def flagged_sentence(row: pd.Series, who: str = "it") -> str:
    """A test result in natural frequencies, e.g. "Of 100 X-rays with pneumonia, it flags 98;
    of 100 healthy X-rays, it sends 34 for a needless second look." (``who`` in place of the
    first "it")."""
    return (
        f"Of 100 X-rays with pneumonia, {who} flags {per_100(row.sensitivity)}; of 100 healthy "
        f"X-rays, it sends {per_100(1 - row.specificity)} for a needless second look."
    )


@dataclass(frozen=True)
class Screening:
    """What a flag means among ``children`` X-rayed, ``sick`` of whom have pneumonia.

    Attributes:
        caught: children with pneumonia it flags; ``missed`` the rest of them.
        false_flags: healthy children it flags all the same (of ``healthy``).
    """

    children: int
    sick: int
    caught: int
    missed: int
    healthy: int
    false_flags: int

    @property
    def flags(self) -> int:
        """Every child it flags (called PNEUMONIA)."""
        return self.caught + self.false_flags


def natural_frequencies(
    sensitivity: float, specificity: float, prevalence: float, children: int = PER
) -> Screening:
    """A flag in natural frequencies: of ``children`` X-rayed where a share ``prevalence`` has
    pneumonia, how many have it, how many are flagged rightly and wrongly, how many are missed
    (whole children, halves rounded up).

    >>> natural_frequencies(0.9, 0.8, 0.05)
    Screening(children=1000, sick=50, caught=45, missed=5, healthy=950, false_flags=190)
    """
    sick = whole(children * prevalence)
    caught = whole(sick * sensitivity)
    healthy = children - sick
    return Screening(
        children, sick, caught, sick - caught, healthy, whole(healthy * (1 - specificity))
    )


def latest_result(res: Results) -> tuple[pd.Series, str]:
    """The final model's latest test result for the frequencies slide and which it is: the
    latest ledger read's row with the declared adaptation, else that read's row as trained
    (else the declared row of ``metrics.csv``); with a phrase such as "read 5: the model
    re-tuned on the new images, without their labels"."""
    ledger = res.ledger
    if len(ledger):
        latest = ledger[ledger["read"] == ledger["read"].max()]
        how = latest["adaptation"].fillna("none")
        for name in (res.adaptation, "none"):
            found = latest[how == name]
            if len(found):
                read = int(latest["read"].iloc[0])
                return found.iloc[0], f"read {read}: the model {plain_adaptation(name)}"
    return res.adapted, f"the model {handed_over(res)}"


def read_history(ledger: pd.DataFrame) -> pd.DataFrame:
    """One row per read of the official test set: ``read, date, model, again``.

    ``model`` numbers the models scored (1, 2, … in the order first read); a read whose result
    as trained (threshold, sensitivity, specificity, ROC AUC) equals an earlier read's scored
    the same model again (``again``).
    """
    rows: list[dict] = []
    seen: dict[tuple[str, ...], int] = {}
    for read, lines in ledger.groupby("read", sort=True):
        plain = lines[lines["adaptation"].fillna("none") == "none"]
        first = (plain if len(plain) else lines).iloc[0]
        key = tuple(
            f"{float(first.get(m, math.nan)):.10g}"
            for m in ("threshold", "sensitivity", "specificity", "roc_auc")
        )
        again = key in seen
        number = seen.setdefault(key, len(seen) + 1)
        rows.append(
            {"read": int(read), "date": str(first["date"]), "model": number, "again": again}
        )
    return pd.DataFrame(rows, columns=["read", "date", "model", "again"])


def reads_sentence(res: Results) -> str:
    """How often the official test set was read and what that means, in plain words."""
    reads, models = res.reads, read_history(res.ledger).model.nunique()
    if reads <= 1:
        return (
            "The official test set was read once, to score a model whose every setting was "
            "fixed before that read."
        )
    scored = (
        f"scoring {models} different models" if models > 1 else "each time scoring the same model"
    )
    meaning = (
        " What earlier reads showed informed later recipes, so the latest read is not a "
        "pristine first look."
        if models > 1
        else ""
    )
    return (
        f"The official test set has been read {reads} times, {scored}, each fixed before its "
        f"read.{meaning}"
    )


def shift_sentence(res: Results) -> str:
    """Test images against check (validation) images, only as ``shift.csv`` measures them."""
    if res.shift is None:
        return (
            f"Training and test X-rays all come from one hospital ({CENTRE}). How far the "
            "test images differ from the check images is not measured."
        )
    table = res.shift
    sets = table["set"].astype(str).str.lower()
    test, check = (
        table[sets.str.startswith("test")].iloc[0],
        table[sets.str.startswith("val")].iloc[0],
    )
    text = (
        f"Training and test X-rays come from one hospital ({CENTRE}). Measured without labels, "
        f"the input check calls {whole(PER * test.out_of_distribution)} of {PER:,} test X-rays "
        f"unusual (check set: {whole(PER * check.out_of_distribution)} of {PER:,})"
    )
    rate = "estimated_pneumonia_rate"
    if rate in table.columns and pd.notna(test[rate]) and pd.notna(check[rate]):
        text += (
            f"; the estimated share with pneumonia is {per_100(test[rate])} of 100 "
            f"(check set: {per_100(check[rate])} of 100)"
        )
    return text + "."


def which_result(result: object, adaptation: object) -> str:
    """How a slide names a target's result: "as trained", or the declared ``adaptation`` in
    plain words ("re-tuned")."""
    return "as trained" if result == "plain" else plain_adaptation(adaptation, short=True)


def short_name(model: str) -> str:
    """A comparison row's model name without its parenthesised details."""
    return model.split(" (")[0]


@dataclass(frozen=True)
class Part:
    """The X-rays of one part of the data: ``name`` ("training", "check set", "official
    test"), ``total`` X-rays of which ``pneumonia`` with pneumonia (``None``: not known)."""

    name: str
    total: int
    pneumonia: int | None

    @property
    def normal(self) -> int | None:
        """The healthy X-rays (``None``: not known)."""
        return None if self.pneumonia is None else self.total - self.pneumonia


def parts(res: Results) -> list[Part]:
    """The X-rays by the part they served: training, check set (validation) and official
    test; they add up to the total of ``counts.csv``.

    The check set is split off the pooled train and official val folders, grouped by patient:
    its size is ``n`` of the final model's validation row, and its X-rays with pneumonia
    ``P`` follow from that row, whose accuracy is (sensitivity · P + specificity · (n − P)) / n
    (not known when its sensitivity equals its specificity, e.g. a perfect score). Training is
    the rest of the pool.
    """
    row, counts = res.validation, res.counts
    n = int(row.n)
    pooled = counts.loc[[s for s in ("train", "val") if s in counts.index]].sum()
    test = Part("official test", res.test_count("total"), res.test_count("PNEUMONIA"))
    if math.isclose(float(row.sensitivity), float(row.specificity)):
        return [Part("training", int(pooled.total) - n, None), Part("check set", n, None), test]
    sick = whole(n * (row.accuracy - row.specificity) / (row.sensitivity - row.specificity))
    return [
        Part("training", int(pooled.total) - n, int(pooled.PNEUMONIA) - sick),
        Part("check set", n, sick),
        test,
    ]


def trainings_compared(res: Results) -> int:
    """How many trainings were scored on the check set: the validation rows of single models
    on as many images as the final model's (not its ``@final`` row, not an ensemble that
    averages other trainings)."""
    metrics = res.metrics
    validation = metrics[(metrics.split == "val") & (metrics.n == res.validation.n)]
    members = pd.to_numeric(
        validation.get("members", pd.Series(index=validation.index, dtype=float)), errors="coerce"
    )
    single = ~validation.model.astype(str).str.contains("@") & ~(members > 1)
    return int(single.sum())


def search_trials() -> int:
    """The trials of every committed keras-tuner search (rows of each ``trials.csv`` under
    :func:`xraylib.results.search_root`); 0 without a search."""
    return sum(
        len(pd.read_csv(path)) for path in results.search_root().glob(f"*/{results.TRIALS_FILE}")
    )


def chosen_step(res: Results) -> str:
    """The method slide's second box: how many trainings were compared on the check set, the
    search's trials, and what the final model is (an average of several trainings when it
    is an ensemble)."""
    trained, trials = trainings_compared(res), search_trials()
    tried = f"{trained} training{'s' * (trained != 1)}\ncompared" + (
        f",\nplus a {trials}-trial\nsearch" if trials else ""
    )
    validation = res.metrics[res.metrics.split == "val"]
    members = pd.to_numeric(validation.get("members", pd.Series(dtype=float)), errors="coerce")
    k = int(members.max()) if members.notna().any() else 1
    if k > 1:
        return f"{tried};\nthe final averages\n{k} of them"
    return f"{tried};\n1 chosen on\nthe check set"


def cover_sentence(res: Results) -> str:
    """The cover's headline: the test result as trained first, then with the adjustment
    declared before the read (when there is one)."""
    text = (
        f"Scored on the official test set: {res.test_count('total')} X-rays from the same "
        f"hospital as its training X-rays. {flagged_sentence(res.plain, 'the model as trained')}"
    )
    if is_none(res.adaptation):
        return text
    row = res.adapted
    return (
        f"{text} {plain_adaptation(res.adaptation).capitalize()}, as declared before the "
        f"read, it flags {per_100(row.sensitivity)} and sends {per_100(1 - row.specificity)}."
    )


def share_in_words(part: int, total: int) -> str:
    """``part`` of ``total`` as a plain share: "about 1 in 7" below a quarter, else "about 4 in
    10"; "none of them", "all of them" at the ends.

    >>> share_in_words(49, 341), share_in_words(194, 440), share_in_words(0, 5)
    ('about 1 in 7', 'about 4 in 10', 'none of them')
    """
    if part <= 0 or total <= 0:
        return "none of them"
    if part >= total:
        return "all of them"
    share = part / total
    return f"about 1 in {whole(1 / share)}" if share < 0.25 else f"about {whole(10 * share)} in 10"


def reads_before_the_change(ledger: pd.DataFrame) -> pd.DataFrame:
    """The ledger rows of the reads judged against :data:`~xraylib.results.FIRST_TARGETS`
    (dated before :data:`~xraylib.results.TARGETS_CHANGED_ON`)."""
    return ledger[ledger["date"].astype(str) < TARGETS_CHANGED_ON]


def targets_changed_sentence(res: Results) -> str:
    """When and after what the targets changed, from the ledger; ``""`` when no read was
    judged against the first targets."""
    before = reads_before_the_change(res.ledger)
    if before.empty:
        return ""
    plain = before[before["adaptation"].fillna("none") == "none"]
    reads = sorted({int(r) for r in before["read"]})
    which = f"read {reads[0]}" if len(reads) == 1 else f"reads {reads[0]}–{reads[-1]}"
    first = len({metric for _, metric in FIRST_TARGETS})
    shown = (
        f", after {which} had shown specificity {plain.specificity.min():.2f} as trained"
        if len(plain)
        else ""
    )
    return (
        f"The targets changed on {TARGETS_CHANGED_ON}{shown}: the {first} first targets, "
        f"against which {which} had been judged (right), gave way to those now used (left), "
        "and the specificity target went."
    )


def target_verdict(res: Results) -> str:
    """One sentence from the numbers: is every target of :data:`results.TARGETS` met?"""
    check = target_check(res.plain, res.adapted)
    if check.met.all():
        return "It meets every quality target the project set itself."
    short = [
        f"{METRIC_NAMES[item.metric]} ({which_result(item.result, res.adaptation)})"
        for item in check[~check.met].itertuples()
    ]
    return f"It misses {len(short)} of {len(check)} quality targets: {', '.join(short)}."


def compared_name(model: str, res: Results) -> str:
    """A comparison row's name on the slide: ours in plain words, published ones short."""
    if model.startswith("xraylib"):
        how = "as trained" if "plain" in model else plain_adaptation(res.adaptation, short=True)
        return f"ours, {how}"
    return short_name(model)


def more_or_fewer(ours: int, theirs: int, what: str) -> str:
    """ "more pneumonias" / "fewer pneumonias" / "as many pneumonias"."""
    return f"{'more' if ours > theirs else 'fewer' if ours < theirs else 'as many'} {what}"
