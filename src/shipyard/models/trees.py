"""Check the decision trees inside a loaded scikit-learn model before anything predicts with it.

scikit-learn walks its trees in compiled code without bounds checks: a child
index past the end of the node array, a feature index past the row, or a node
count larger than the array makes ``predict`` read (or write) outside memory and
crash the process. skops rebuilds the arrays but cannot know what they mean, so
after loading shipyard walks the model once (O(model size), vectorised per tree)
and refuses it unless, for every tree:

- ``sklearn.tree._tree.Tree`` (decision trees, forests, gradient boosting,
  isolation forests): at least one node and no more than the arrays hold; a leaf
  has both children ``-1``; an inner node's children come after it (so a walk
  always ends) and before the end, and its feature is below the tree's
  ``n_features``, which equals its estimator's ``n_features_in_``;
- an ensemble that calls its trees without their own input check (forests,
  bagging, gradient boosting): each tree takes as many features as the ensemble
  gives it, and gradient boosting has one column of trees per output;
- HistGradientBoosting's ``TreePredictor``: the node array has scikit-learn's
  record type and at least one node; an inner node's children come after it and
  before the end; its feature is below the model's ``n_features_in_``; a
  categorical split names a categorical feature and a bitset row that exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

import numpy as np

from .format_spec import ModelFormatError


class MalformedModelError(ModelFormatError):
    """A loaded model's inner structure is inconsistent: using it could crash the process."""


def check_trees(model: Any, where: str) -> int:
    """Refuse ``model`` (with :class:`MalformedModelError`) if a tree inside it is malformed.

    Returns how many trees were checked.
    """
    try:
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
        from sklearn.tree._tree import Tree
    except ImportError:  # no scikit-learn: nothing inside can be one of its trees
        return 0
    checked = 0
    for obj in _objects(model):
        if isinstance(obj, Tree):
            _check_tree(obj, None, f"{where}: a decision tree")
            checked += 1
        elif isinstance(obj, TreePredictor):
            _check_predictor(obj, None, None, f"{where}: a histogram gradient boosting tree")
            checked += 1
        elif isinstance(getattr(obj, "tree_", None), Tree):
            _check_tree(obj.tree_, getattr(obj, "n_features_in_", None), f"{where}: {_name(obj)}")
        if getattr(obj, "_predictors", None) is not None:
            _check_histogram_model(obj, f"{where}: {_name(obj)}")
        if getattr(obj, "estimators_", None) is not None and hasattr(obj, "n_features_in_"):
            _check_ensemble(obj, f"{where}: {_name(obj)}")
    return checked


_OPAQUE = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType)


def _objects(root: Any) -> Iterator[Any]:
    """Every object reachable from ``root`` through attributes, containers and object arrays."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float | bool):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, _OPAQUE):  # code and namespaces, not model state (a trusted pickle)
            continue
        if isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            todo.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                todo.extend(obj.ravel().tolist())
        else:
            state = getattr(obj, "__dict__", None)
            if isinstance(state, dict):
                todo.extend(state.values())


def _check_tree(tree: Any, n_features_in: int | None, where: str) -> None:
    count, capacity = int(tree.node_count), int(tree.capacity)
    if not 1 <= count <= capacity:
        raise _malformed(where, f"it claims {count} nodes but holds {capacity}")
    if n_features_in is not None and int(tree.n_features) != int(n_features_in):
        raise _malformed(
            where, f"its tree takes {tree.n_features} features, the estimator {n_features_in}"
        )
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    index = np.arange(count)
    leaf = left == -1
    if (right[leaf] != -1).any():
        raise _malformed(where, f"leaf node {int(index[leaf][right[leaf] != -1][0])} has a child")
    inner = ~leaf
    _check_children(index[inner], left[inner], right[inner], count, where)
    bad = inner & ((feature < 0) | (feature >= int(tree.n_features)))
    if bad.any():
        first = int(index[bad][0])
        raise _malformed(
            where,
            f"node {first} splits on feature {int(feature[first])}, "
            f"but rows have {int(tree.n_features)} features",
        )


def _check_children(
    index: np.ndarray, left: np.ndarray, right: np.ndarray, count: int, where: str
) -> None:
    for side, child in (("left", left), ("right", right)):
        bad = (child <= index) | (child >= count)
        if bad.any():
            node = int(index[bad][0])
            raise _malformed(
                where,
                f"node {node}'s {side} child is {int(child[bad][0])}, "
                f"outside {node + 1}..{count - 1}",
            )


def _check_histogram_model(model: Any, where: str) -> None:
    n_features = getattr(model, "n_features_in_", None)
    mapper = getattr(model, "_bin_mapper", None)
    categorical = getattr(mapper, "is_categorical_", None)
    if not isinstance(model._predictors, list):
        raise _malformed(where, "its trees are not a list")
    for iteration in model._predictors:
        if not isinstance(iteration, list):
            raise _malformed(where, "its trees are not a list of lists")
        if len(iteration) != getattr(model, "n_trees_per_iteration_", len(iteration)):
            raise _malformed(where, "an iteration has the wrong number of trees")
        for predictor in iteration:
            _check_predictor(predictor, n_features, categorical, where)


def _check_predictor(predictor: Any, n_features: int | None, categorical: Any, where: str) -> None:
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    if not isinstance(predictor, TreePredictor):
        raise _malformed(where, f"a tree is a {type(predictor).__name__}")
    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise _malformed(where, "a tree's node array is not scikit-learn's node record type")
    if nodes.ndim != 1 or len(nodes) == 0:
        raise _malformed(where, f"a tree's node array has shape {nodes.shape}")
    bitsets = predictor.raw_left_cat_bitsets
    if (
        not isinstance(bitsets, np.ndarray)
        or bitsets.dtype != np.uint32
        or bitsets.ndim != 2
        or bitsets.shape[1] != 8
    ):
        raise _malformed(where, "a tree's category bitsets are not an (n, 8) uint32 array")
    count = len(nodes)
    index = np.arange(count)
    inner = nodes["is_leaf"] == 0
    _check_children(
        index[inner],
        nodes["left"][inner].astype(np.int64),
        nodes["right"][inner].astype(np.int64),
        count,
        where,
    )
    feature = nodes["feature_idx"].astype(np.int64)
    limit = n_features if n_features is not None else np.iinfo(np.int64).max
    bad = inner & ((feature < 0) | (feature >= limit))
    if bad.any():
        first = int(index[bad][0])
        raise _malformed(
            where, f"node {first} splits on feature {int(feature[first])} of {n_features}"
        )
    split = inner & (nodes["is_categorical"] != 0)
    if not split.any():
        return
    if (nodes["bitset_idx"][split].astype(np.int64) >= len(bitsets)).any():
        raise _malformed(where, "a categorical split names a bitset the tree does not have")
    if n_features is None:  # a tree on its own: its model checks it again with the features
        return
    flags = np.asarray(categorical if categorical is not None else [], dtype=bool)
    if flags.shape != (n_features,) or not flags[feature[split]].all():
        raise _malformed(where, "a categorical split is on a feature that is not categorical")


def _check_ensemble(model: Any, where: str) -> None:
    """An ensemble's trees take the features it passes them (it skips their input check)."""
    estimators = model.estimators_
    n_features = int(model.n_features_in_)
    if (
        hasattr(model, "n_trees_per_iteration_")
        and isinstance(estimators, np.ndarray)
        and (estimators.ndim != 2 or estimators.shape[1] != int(model.n_trees_per_iteration_))
    ):
        raise _malformed(
            where,
            f"its trees form an array of shape {estimators.shape}, "
            f"not (stages, {model.n_trees_per_iteration_})",
        )
    members = (
        estimators.ravel().tolist() if isinstance(estimators, np.ndarray) else list(estimators)
    )
    subsets = getattr(model, "estimators_features_", None)
    if subsets is not None and len(subsets) != len(members):
        raise _malformed(where, "it has a feature subset for each of a different number of trees")
    for position, member in enumerate(members):
        expected = n_features
        if subsets is not None:
            subset = np.asarray(subsets[position])
            if subset.size and (subset.min() < 0 or subset.max() >= n_features):
                raise _malformed(
                    where, f"member {position} uses a feature outside 0..{n_features - 1}"
                )
            expected = int(subset.size)
        taken = getattr(member, "n_features_in_", None)
        if hasattr(member, "tree_") and taken is not None and int(taken) != expected:
            raise _malformed(
                where, f"member {position} takes {taken} features but is given {expected}"
            )


def _name(obj: Any) -> str:
    return f"a {type(obj).__name__}"


def _malformed(where: str, problem: str) -> MalformedModelError:
    return MalformedModelError(
        f"{where} is malformed: {problem}; refusing it (using it could crash the process)",
        hint="the file was damaged or crafted; register the model again from its training code",
    )
