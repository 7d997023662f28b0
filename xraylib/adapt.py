"""Declared, unsupervised test-time adaptations: AdaBN and the prior-shift correction.

Both use a site's *unlabelled* images and never their labels, so a hospital could apply them
before using the model; any result that uses them is reported as such, beside the plain one.

**AdaBN.** A model trained on one hospital's X-rays meets images from another acquisition whose
brightness, contrast and texture statistics differ. *Adaptive batch normalisation* (AdaBN;
Li, Wang, Shi, Liu & Hou, "Revisiting Batch Normalization For Practical Domain Adaptation",
2016) keeps every learned weight and only replaces each batch-normalisation layer's stored mean
and variance by those of the new, **unlabelled** images. It needs a batch of local images and
never their labels, so it is what a hospital could do before using the model.

**Prior shift.** Calibrated probabilities carry the pneumonia rate of the data they were
calibrated on (validation: 74% here). At a site with another rate, the same image deserves
another probability. Two estimates of the new rate from unlabelled images: the EM procedure of
Saerens, Latinne & Decaestecker ("Adjusting the outputs of a classifier to new a priori
probabilities", Neural Computation 14(1), 2002), which trusts the probabilities to be
calibrated on the new images, and black-box shift estimation (BBSE; Lipton, Wang & Smola,
ICML 2018), which trusts only the model's confusion rates at its threshold. Each probability
is then adjusted by Bayes' rule. Which one a site should use is decided on validation by
:func:`simulate_shift`, a simulated site with another acquisition *and* another rate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from xraylib import evaluate, models, progress


def adabn(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> keras.Model:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``images``.

    Layers are updated in order, so each one sees inputs already normalised by the adapted
    layers before it. The original model is left unchanged; labels are never used. A model
    without batch normalisation comes back as an unchanged copy, with a warning.

    An :func:`~xraylib.models.ensemble` is adapted member by member.

    Example::

        adapted = adapt.adabn(model, x_unlabelled)
        p = adapted.predict(x_unlabelled)
    """
    members = models.ensemble_members(model)
    if members != [model]:
        return models.ensemble(
            [_adabn_one(member, images, batch_size) for member in members],
            name=model.name,
            calibration=models.ensemble_calibration(model),
        )
    return _adabn_one(model, images, batch_size)


def _adabn_one(model: keras.Model, images: np.ndarray, batch_size: int) -> keras.Model:
    adapted = keras.models.clone_model(model)
    adapted.set_weights(model.get_weights())
    norms = [
        layer for layer in adapted.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not norms:
        warnings.warn(
            f"model {model.name!r} has no batch normalisation: AdaBN leaves it unchanged",
            stacklevel=2,
        )
    for layer in norms:
        feed = keras.Model(adapted.inputs, layer.input)
        activations = feed.predict(images, batch_size=batch_size, verbose=0)
        axes = tuple(range(activations.ndim - 1))
        layer.moving_mean.assign(activations.mean(axis=axes))
        layer.moving_variance.assign(activations.var(axis=axes))
    return adapted


@dataclass
class PriorShift:
    """The outcome of :func:`prior_shift`.

    Attributes:
        p: the adjusted probabilities of PNEUMONIA.
        prior: the estimated pneumonia rate of the new images.
        assumed_prior: the rate the model's probabilities assumed.
        iterations: EM iterations until the rate moved less than the tolerance.
    """

    p: np.ndarray
    prior: float
    assumed_prior: float
    iterations: int


def reweighted(p: np.ndarray, assumed_prior: float, prior: float) -> np.ndarray:
    """Bayes' rule for a new pneumonia rate: probabilities that assumed ``assumed_prior``,
    adjusted to ``prior`` (the odds scaled by the ratio of prior odds)."""
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    ratio = (prior / (1 - prior)) / (assumed_prior / (1 - assumed_prior))
    odds = p / np.clip(1 - p, 1e-12, None) * ratio
    return odds / (1 + odds)


def prior_shift(
    p: np.ndarray, assumed_prior: float, tolerance: float = 1e-6, max_iterations: int = 1000
) -> PriorShift:
    """Estimate the pneumonia rate of unlabelled images from the model's probabilities ``p``
    and adjust them to it (EM of Saerens et al. 2002). Labels are never used.

    ``assumed_prior`` is the pneumonia rate the probabilities assume: for calibrated
    probabilities, the rate of the labels they were calibrated on (the hand-over model's is in
    ``final.json``); for a raw network, its training split's share of PNEUMONIA (0.5 when it was
    trained with balanced class weights).

    Example::

        prior = results.saved_info()["assumed_prior"]
        shifted = adapt.prior_shift(p_site, assumed_prior=prior)
        shifted.prior, shifted.p[:3]
    """
    p = np.clip(np.asarray(p, dtype=float).ravel(), 1e-7, 1 - 1e-7)
    if not 0 < assumed_prior < 1:
        raise ValueError(f"assumed_prior must be in (0, 1), not {assumed_prior}")
    prior, iterations = float(assumed_prior), 0
    while iterations < max_iterations:
        iterations += 1
        new = float(np.clip(reweighted(p, assumed_prior, prior).mean(), 1e-4, 1 - 1e-4))
        moved, prior = abs(new - prior), new
        if moved < tolerance:
            break
    return PriorShift(reweighted(p, assumed_prior, prior), prior, float(assumed_prior), iterations)


@dataclass(frozen=True)
class Reference:
    """What the label-free adaptations know of the model on labelled validation images.

    Attributes:
        y: validation labels (0/1).
        p: the model's validation probabilities (as trained, calibrated).
        threshold: the decision threshold chosen on validation.
    """

    y: np.ndarray
    p: np.ndarray
    threshold: float

    @property
    def prior(self) -> float:
        """The pneumonia rate the probabilities assume: validation's, where they were
        calibrated."""
        return float(np.mean(self.y))


def bbse(p: np.ndarray, reference: Reference) -> float:
    """Black-box shift estimation (Lipton, Wang & Smola, ICML 2018) of the pneumonia rate of
    unlabelled images: the share of images called PNEUMONIA at the threshold, corrected by the
    model's confusion matrix on validation (``C w = μ``). It needs no calibrated probability,
    only that the confusion rates still hold on the new images. Labels of the new images are
    never used.

    Example::

        adapt.bbse(p_site, adapt.Reference(splits.y_val, p_val, threshold))
    """
    y, called = reference.y.astype(int), reference.p >= reference.threshold
    confusion = np.array(
        [[np.mean(called[y == k] == c) for k in (0, 1)] for c in (False, True)]
    )  # rows: called normal/pneumonia; columns: true class; each column sums to 1
    share_called = float(np.mean(np.asarray(p) >= reference.threshold))
    rates = np.linalg.lstsq(confusion, np.array([1 - share_called, share_called]), rcond=None)[0]
    return float(np.clip(rates[1] / max(rates.sum(), 1e-12), 1e-4, 1 - 1e-4))


#: The label-free adaptations notebook 06 compares on a simulated shift and reports, each with
#: the suffix of its model name in the results table.
ADAPTATIONS = {
    "none": "",
    "AdaBN": "+adabn",
    "prior shift (EM)": "+em",
    "prior shift (BBSE)": "+bbse",
    "AdaBN + prior shift (EM)": "+adabn+em",
    "AdaBN + prior shift (BBSE)": "+adabn+bbse",
}


@dataclass
class Adapted:
    """What :func:`adapt_all` returns.

    Attributes:
        p: probabilities of PNEUMONIA under each adaptation of :data:`ADAPTATIONS`.
        rates: the pneumonia rate each prior-shift estimate found (no label used).
        model: the AdaBN-adapted model (for Grad-CAM of the adapted decisions).
    """

    p: dict[str, np.ndarray]
    rates: dict[str, float]
    model: keras.Model


def _with_priors(
    p: np.ndarray, normalised: np.ndarray, reference: Reference
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every adaptation of :data:`ADAPTATIONS` from the plain and the AdaBN probabilities."""
    out, rates = {"none": p, "AdaBN": normalised}, {}
    for base, probs in (("", p), ("AdaBN + ", normalised)):
        em = prior_shift(probs, reference.prior)
        rate = bbse(probs, reference)
        out[f"{base}prior shift (EM)"], rates[f"{base}prior shift (EM)"] = em.p, em.prior
        out[f"{base}prior shift (BBSE)"] = reweighted(probs, reference.prior, rate)
        rates[f"{base}prior shift (BBSE)"] = rate
    return {name: out[name] for name in ADAPTATIONS}, rates


def adapt_all(
    model: keras.Model, images: np.ndarray, reference: Reference, batch_size: int = 256
) -> Adapted:
    """Predict unlabelled ``images`` under every adaptation of :data:`ADAPTATIONS`.

    Example::

        reference = adapt.Reference(splits.y_val, p_val, threshold)
        adapted = adapt.adapt_all(model, x_site, reference)
        adapted.p["AdaBN + prior shift (BBSE)"][:3], adapted.rates
    """
    normalised_model = adabn(model, images)
    plain = model.predict(images, batch_size=batch_size, verbose=0).ravel()
    normalised = normalised_model.predict(images, batch_size=batch_size, verbose=0).ravel()
    p, rates = _with_priors(plain, normalised, reference)
    return Adapted(p=p, rates=rates, model=normalised_model)


def simulate_shift(
    model: keras.Model,
    x_val: np.ndarray,
    reference: Reference,
    rates: tuple[float, ...] = (0.3, 0.5, 0.625, 0.75, 0.9),
    seed: int = 0,
) -> pd.DataFrame:
    """Which adaptation to declare, decided on VALIDATION by a simulated site that differs in
    both acquisition and pneumonia rate: each declared perturbation of
    :data:`xraylib.evaluate.PERTURBATIONS` (the acquisition) crossed with each rate (validation
    images resampled with replacement so that that share is PNEUMONIA). Every adaptation of
    :data:`ADAPTATIONS` is computed as on a real site, from the model and the unlabelled
    images only; the labels score it.

    AdaBN's statistics come from all validation images under each perturbation (not from each
    resample): the acquisition sets them; a rate changes them little. Returns one row per
    perturbation, rate and adaptation: ``estimated_rate`` (NaN without a prior step),
    ``log_loss``, ``accuracy`` (at the reference threshold).

    Example::

        table = adapt.simulate_shift(model, splits.x_val, reference)
        adapt.choose_adaptation(table)
    """
    y = reference.y.astype(int)
    positive, negative = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = []
    for name in progress.bar(evaluate.PERTURBATIONS, desc="simulated sites", unit="shift"):
        images = evaluate.perturb(x_val, name)
        plain = model.predict(images, batch_size=256, verbose=0).ravel()
        normalised = adabn(model, images).predict(images, batch_size=256, verbose=0).ravel()
        rng = np.random.default_rng(seed)
        for rate in rates:
            n_positive = int(round(rate * y.size))
            chosen = np.concatenate(
                [
                    rng.choice(positive, n_positive, replace=True),
                    rng.choice(negative, y.size - n_positive, replace=True),
                ]
            )
            probs, estimates = _with_priors(plain[chosen], normalised[chosen], reference)
            for adaptation, p in probs.items():
                scores = evaluate.compute_metrics(y[chosen], p, reference.threshold)
                rows.append(
                    {
                        "perturbation": name,
                        "rate": rate,
                        "adaptation": adaptation,
                        "estimated_rate": estimates.get(adaptation, np.nan),
                        "log_loss": scores["log_loss"],
                        "accuracy": scores["accuracy"],
                    }
                )
    return pd.DataFrame(rows)


def simulation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`simulate_shift` table per adaptation: mean log-loss (the number that decides,
    lower is better), mean accuracy, and the mean absolute error of the estimated rate; best
    first."""
    summary = table.assign(rate_error=(table.estimated_rate - table.rate).abs())
    summary = summary.groupby("adaptation")[["log_loss", "accuracy", "rate_error"]].mean()
    return summary.sort_values("log_loss")


def choose_adaptation(table: pd.DataFrame) -> str:
    """The adaptation to declare: the lowest mean log-loss over the simulated sites of
    :func:`simulate_shift` (the rule, fixed before the simulation ran)."""
    return str(simulation_summary(table).index[0])
