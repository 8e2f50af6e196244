"""Which types a skops file may rebuild: skops's own defaults, the project's, and this list.

skops refuses any type it does not trust by default (scikit-learn's public
estimators, NumPy/SciPy ufuncs and dtypes, builtin containers); what it reports
through ``skops.io.get_untrusted_types`` is what a loader would have to accept on
top. shipyard accepts, on top, exactly:

- the names the model lists under ``trusted_types`` in ``shipyard.yaml`` (the
  user's deliberate decision), and
- :data:`SHIPYARD_TRUSTED_TYPES`, the reviewed list below: **classes** (never
  functions, never a module prefix) that the models shipyard's own training,
  template and demo make need, each reviewed for what rebuilding it can do.

Anything else is refused, with the list of types and the ``trusted_types`` line
that would accept them. A prefix such as ``numpy.`` is never trusted: it would
cover ``numpy.testing._private.utils.runstring`` (``exec``) or
``numpy.lib._datasource.DataSource`` (whose ``__del__`` deletes a directory).

How the list was made (review it again when skops or scikit-learn changes the
types it reports): fit each estimator shipyard's template, demo and tests use —
RandomForest/ExtraTrees/GradientBoosting/HistGradientBoosting classifiers and
regressors (every loss), DecisionTree, LogisticRegression, LinearRegression,
Ridge, Dummy*, IsolationForest, and pipelines of ColumnTransformer, OneHotEncoder,
OrdinalEncoder, SimpleImputer, StandardScaler and MinMaxScaler — dump it with
``skops.io.dumps`` and print ``skops.io.get_untrusted_types(data=...)``. With
skops 0.16.0 and scikit-learn 1.9.1 the union is the three classes below plus
``functools.partial`` and the function ``sklearn.utils.validation.check_array``
(HistGradientBoosting with ``categorical_features``), which stay out: a function
is a callable by name, so such a model needs them in ``trusted_types``.
``sklearn.calibration._CalibratedClassifier`` and ``_SigmoidCalibration``
(CalibratedClassifierCV) are reported too; shipyard does not make them, so they
are left to ``trusted_types`` as well. The survey, in short::

    import skops.io as sio
    reported = set()
    for model in fitted_models:  # the estimators and pipelines listed above, fitted
        reported |= set(sio.get_untrusted_types(data=sio.dumps(model)))
    print(sorted(reported))
"""

from __future__ import annotations

from collections.abc import Iterable

#: Bumped whenever :data:`SHIPYARD_TRUSTED_TYPES` changes (a change is a security review).
TRUSTED_TYPES_VERSION = 1
#: The versions the list was last reviewed against.
REVIEWED_WITH = {"skops": "0.16.0", "scikit-learn": "1.9.1", "numpy": "2.4.6"}

#: Fully qualified class name → why rebuilding it is safe.
SHIPYARD_TRUSTED_TYPES: dict[str, str] = {
    "sklearn.tree._tree.Tree": (
        "the node arrays of every scikit-learn decision tree (forests, gradient boosting); "
        "skops rebuilds it with Tree(n_features, n_classes, n_outputs) and __setstate__, which "
        "check dtypes and shapes; child and feature indices are not checked by scikit-learn, "
        "so shipyard checks them after loading (shipyard.models.trees)"
    ),
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor": (
        "the node arrays of HistGradientBoosting; a plain object with three NumPy arrays, "
        "whose indices shipyard checks after loading (shipyard.models.trees)"
    ),
    "numpy.dtype": (
        "a NumPy dtype (e.g. SimpleImputer's fit dtype), rebuilt by skops from its string "
        "spelling; it holds no code"
    ),
}


def refused_types(untrusted: Iterable[str], trusted_types: Iterable[str]) -> list[str]:
    """Of the types skops reports as ``untrusted``, those neither the project nor shipyard trusts.

    Names are compared exactly: a trusted ``numpy.dtype`` trusts nothing else under ``numpy``.
    """
    accepted = accepted_types(trusted_types)
    return sorted({name for name in untrusted if name not in accepted})


def accepted_types(trusted_types: Iterable[str]) -> set[str]:
    """What a skops file may hold on top of skops's defaults: the model's ``trusted_types``
    and :data:`SHIPYARD_TRUSTED_TYPES`, by exact name."""
    return set(trusted_types) | set(SHIPYARD_TRUSTED_TYPES)
