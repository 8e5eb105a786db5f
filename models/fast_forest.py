"""A fitted scikit-learn IsolationForest as flat arrays, evaluated by compiled code.

``IsolationForest.score_samples`` walks the forest tree by tree in Python-level
loops (``tree.apply`` per tree, one thread), the bulk of any scoring run. :class:`FlatForest` copies every tree's nodes
into contiguous arrays once and walks all trees for each row in one numba kernel,
rows spread over the cores with ``prange``.

The result is the same number sklearn computes, not an approximation:

- X is cast to float32 first, as sklearn's input validation does, and each split
  compares the float32 value (widened to float64) with the float64 threshold:
  ``x <= threshold`` goes left; NaN follows the node's ``missing_go_to_left``.
- A tree's features are mapped through ``estimators_features_`` only when the
  forest subsampled features (``max_features < n_features``), exactly when
  sklearn does.
- A leaf contributes ``depth + c(n_node_samples) - 1`` (sklearn's
  ``_decision_path_lengths`` and ``_average_path_length``), summed tree by tree in
  float64, and ``score = -2 ** (-sum / (n_trees * c(max_samples)))``.
- ``decision_function = score_samples - offset_`` as in sklearn.

Speed comes from layout, not approximation: each tree is padded to a complete binary
tree (sklearn limits depth to ceil(log2(max_samples)), 8 for 256), so a walk is a fixed
number of branch-free steps and a block of rows advances through one tree in
lockstep. Deeper forests, and rows with NaN, use a plain node-by-node walk.

:meth:`FlatForest.attributions` credits features along each row's paths for the
reasons an analyst reads (see its docstring).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import prange

#: Marks a leaf in ``left`` (sklearn's TREE_LEAF).
_LEAF = -1


@numba.njit(inline="always", cache=True, nogil=True)
def _child(x, node, left, right, threshold, missing_left):
    """sklearn's split rule: ``x <= threshold`` goes left; NaN follows ``missing_go_to_left``."""
    if np.isnan(x):
        return left[node] if missing_left[node] else right[node]
    return left[node] if np.float64(x) <= threshold[node] else right[node]


# The kernels take the forest's arrays one by one: numba compiles plain arrays and scalars,
# and FlatForest._arrays() is the one place that lists them in this order.
@numba.njit(parallel=True, cache=True, nogil=True)
def _path_sums(X, roots, left, right, feature, threshold, missing_left, leaf_value):
    """Sum over trees of each row's leaf value (sklearn's ``depths`` before scaling)."""
    n = X.shape[0]
    out = np.zeros(n, dtype=np.float64)
    n_trees = roots.shape[0]
    for i in prange(n):
        total = 0.0
        for t in range(n_trees):
            node = roots[t]
            while left[node] != _LEAF:
                node = _child(X[i, feature[node]], node, left, right, threshold, missing_left)
            total += leaf_value[node]
        out[i] = total
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _perfect_sums(X, depth, feature, threshold, leaf, block):
    """:func:`_path_sums` on complete trees, a block of rows in lockstep per tree.

    Every tree is padded to a complete tree of ``depth`` levels (node k's children at
    2k+1 and 2k+2; below a real leaf, splits that always go left), so each walk is
    exactly ``depth`` branch-free steps and the rows of a block are independent: the
    CPU overlaps their memory loads instead of waiting on one row's mispredicted
    branches. Thresholds are float32 rounded down (see :func:`_float32_floor`) and
    features small integers, so the trees take a third of the cache. Trees are still
    summed in order, so the result is bit-identical.
    """
    n = X.shape[0]
    out = np.zeros(n, dtype=np.float64)
    n_trees = feature.shape[0]
    inner = feature.shape[1]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        lo = b * block
        m = min(n, lo + block) - lo
        nodes = np.empty(m, dtype=np.int64)
        acc = np.zeros(m, dtype=np.float64)
        for t in range(n_trees):
            ft = feature[t]
            th = threshold[t]
            lf = leaf[t]
            nodes[:] = 0
            for _ in range(depth):
                for j in range(m):
                    k = nodes[j]
                    # x <= threshold goes left (2k+1), as in sklearn's Tree.apply
                    nodes[j] = 2 * k + 1 + np.int64(X[lo + j, ft[k]] > th[k])
            for j in range(m):
                acc[j] += lf[nodes[j] - inner]
        out[lo : lo + m] = acc
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _path_credit(X, roots, left, right, feature, threshold, missing_left, leaf_value, log_n, n_features):
    """Per row and feature: sum over trees of the isolation each split on the path achieved.

    A split's credit is ``log(n_parent / n_child)`` (how much of the training sample it
    cut away from the row) divided by the row's path length in that tree.
    """
    n = X.shape[0]
    out = np.zeros((n, n_features), dtype=np.float64)
    n_trees = roots.shape[0]
    for i in prange(n):
        for t in range(n_trees):
            # First walk: find the leaf, hence the path length that weights every split.
            node = roots[t]
            while left[node] != _LEAF:
                node = _child(X[i, feature[node]], node, left, right, threshold, missing_left)
            # leaf_value = depth + c(n) - 1 >= 0; +1 gives the path length (>= 1).
            weight = 1.0 / (leaf_value[node] + 1.0)
            # Second walk: credit each split's feature with the isolation it achieved.
            node = roots[t]
            while left[node] != _LEAF:
                f = feature[node]
                child = _child(X[i, f], node, left, right, threshold, missing_left)
                out[i, f] += weight * (log_n[node] - log_n[child])
                node = child
        total = 0.0
        for f in range(n_features):
            total += out[i, f]
        if total > 0.0:
            for f in range(n_features):
                out[i, f] /= total
    return out


#: Trees deeper than this are walked node by node: a complete tree has 2**depth leaves.
MAX_PERFECT_DEPTH = 12
#: Rows walked in lockstep per tree (the block's rows of X stay in L1 cache).
BLOCK_ROWS = 1024
#: Iterations of a prange loop a thread takes at a time (blocks, or rows x BLOCK_ROWS).
PARALLEL_CHUNK = 4


def _float32_floor(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold.

    For a float32 x, ``x <= t`` holds exactly when ``x <= _float32_floor(t)``, so the
    comparison can run in float32 without changing a single split decision.
    """
    down = threshold.astype(np.float32)
    over = down.astype(np.float64) > threshold
    down[over] = np.nextafter(down[over], np.float32(-np.inf))
    return down


def _complete_trees(trees, values, depth: int):
    """Pad each tree to a complete tree of ``depth`` levels: (feature, threshold, leaf value)."""
    inner = 2**depth - 1
    feature = np.zeros((len(trees), inner), dtype=np.int64)
    threshold = np.full((len(trees), inner), np.inf)  # x <= inf: padding always goes left
    leaf = np.zeros((len(trees), 2**depth), dtype=np.float64)
    for k, (tree, (feats, value)) in enumerate(zip(trees, values, strict=True)):
        left, right = tree.children_left, tree.children_right
        stack = [(0, 0, 0)]  # (node, position in the complete tree, level)
        while stack:
            node, pos, level = stack.pop()
            if left[node] == _LEAF:
                first = pos
                for _ in range(depth - level):
                    first = 2 * first + 1  # leftmost descendant: the padded path ends here...
                span = 2 ** (depth - level)  # ...and only padding lies to its right
                leaf[k, first - inner : first - inner + span] = value[node]
            else:
                feature[k, pos] = feats[node]
                threshold[k, pos] = tree.threshold[node]
                stack.append((left[node], 2 * pos + 1, level + 1))
                stack.append((right[node], 2 * pos + 2, level + 1))
    small = np.uint8 if feature.max(initial=0) < 256 else np.int32
    return feature.astype(small), _float32_floor(threshold), leaf


def average_path_length(n_samples) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search among n points (sklearn's formula)."""
    from sklearn.ensemble._iforest import _average_path_length

    return _average_path_length(np.asarray(n_samples))


@dataclass(frozen=True, eq=False)
class FlatForest:
    """All trees of a fitted IsolationForest in contiguous arrays (global node indices).

    Build it with :meth:`from_sklearn`; it holds no reference to the sklearn object and
    is derived data: rebuild it from the forest after loading a saved model.
    """

    roots: np.ndarray  # int64 (n_trees,): index of each tree's root node
    left: np.ndarray  # int64 (n_nodes,): left child, -1 at a leaf
    right: np.ndarray  # int64 (n_nodes,)
    feature: np.ndarray  # int64 (n_nodes,): column of the original X
    threshold: np.ndarray  # float64 (n_nodes,)
    missing_left: np.ndarray  # uint8 (n_nodes,): where NaN goes
    leaf_value: np.ndarray  # float64 (n_nodes,): depth + c(n_node_samples) - 1
    log_n: np.ndarray  # float64 (n_nodes,): log of the node's training sample count
    depth: int  # deepest tree's number of split levels
    complete_feature: np.ndarray  # uint8/int32 (n_trees, 2**depth - 1), empty when too deep
    complete_threshold: np.ndarray  # float32 rounded down (n_trees, 2**depth - 1)
    complete_leaf: np.ndarray  # float64 (n_trees, 2**depth): leaf value at each position
    n_features: int
    denominator: float  # n_trees * c(max_samples)
    offset: float  # sklearn's offset_: decision_function = score_samples - offset

    @classmethod
    def from_sklearn(cls, forest) -> FlatForest:
        """Flatten a fitted ``sklearn.ensemble.IsolationForest``."""
        n_features = int(forest.n_features_in_)
        subsample = int(forest._max_features) != n_features
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("left", "right", "feature", "threshold", "miss", "value", "log_n")}
        roots = []
        offset = 0
        per_tree = []  # (original-column feature per node, leaf value per node)
        for est, feats in zip(forest.estimators_, forest.estimators_features_, strict=True):
            tree = est.tree_
            # Recomputed as IsolationForest.fit does, so a forest restored without its
            # private caches still flattens to the same numbers.
            depths = tree.compute_node_depths()
            apl = average_path_length(tree.n_node_samples)
            nodes = tree.node_count
            is_leaf = tree.children_left == _LEAF
            roots.append(offset)
            parts["left"].append(np.where(is_leaf, _LEAF, tree.children_left + offset))
            parts["right"].append(np.where(is_leaf, _LEAF, tree.children_right + offset))
            local = np.where(is_leaf, 0, tree.feature)  # leaves carry -2; never read
            mapped = np.asarray(feats)[local] if subsample else local
            parts["feature"].append(mapped)
            parts["threshold"].append(tree.threshold)
            parts["miss"].append(tree.missing_go_to_left)
            parts["log_n"].append(np.log(np.maximum(tree.n_node_samples, 1)))
            # Same expression and order as sklearn's _parallel_compute_tree_depths.
            value = depths + apl - 1.0
            parts["value"].append(value)
            per_tree.append((mapped, value))
            offset += nodes
        trees = [est.tree_ for est in forest.estimators_]
        depth = max(int(t.max_depth) for t in trees)
        if depth <= MAX_PERFECT_DEPTH:
            complete = _complete_trees(trees, per_tree, depth)
        else:
            complete = (np.zeros((0, 0), np.uint8), np.zeros((0, 0), np.float32), np.zeros((0, 0)))
        denom = len(forest.estimators_) * float(average_path_length([forest.max_samples_])[0])
        return cls(
            roots=np.asarray(roots, dtype=np.int64),
            left=np.ascontiguousarray(np.concatenate(parts["left"]), dtype=np.int64),
            right=np.ascontiguousarray(np.concatenate(parts["right"]), dtype=np.int64),
            feature=np.ascontiguousarray(np.concatenate(parts["feature"]), dtype=np.int64),
            threshold=np.ascontiguousarray(np.concatenate(parts["threshold"]), dtype=np.float64),
            missing_left=np.ascontiguousarray(np.concatenate(parts["miss"]), dtype=np.uint8),
            leaf_value=np.ascontiguousarray(np.concatenate(parts["value"]), dtype=np.float64),
            log_n=np.ascontiguousarray(np.concatenate(parts["log_n"]), dtype=np.float64),
            depth=depth,
            complete_feature=np.ascontiguousarray(complete[0]),
            complete_threshold=np.ascontiguousarray(complete[1]),
            complete_leaf=np.ascontiguousarray(complete[2]),
            n_features=n_features,
            denominator=denom,
            offset=float(forest.offset_),
        )

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    def _matrix(self, X) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n, {self.n_features}), got {X.shape}")
        return X

    def _arrays(self):
        return (self.roots, self.left, self.right, self.feature, self.threshold, self.missing_left, self.leaf_value)

    def score_samples(self, X) -> np.ndarray:
        """Opposite of the anomaly score, equal to ``IsolationForest.score_samples`` (lower = more abnormal)."""
        X = self._matrix(X)
        if X.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        # Hand out work a few blocks at a time rather than in one static half per core: on
        # a shared machine a descheduled thread then delays only its few blocks.
        with numba.parallel_chunksize(PARALLEL_CHUNK):
            if self.complete_feature.size and not np.isnan(X).any():
                args = (self.depth, self.complete_feature, self.complete_threshold, self.complete_leaf, BLOCK_ROWS)
                depths = _perfect_sums(X, *args)
            else:  # NaN follows missing_go_to_left, which the complete layout does not encode
                depths = _path_sums(X, *self._arrays())
        if self.denominator == 0:  # a single training sample: sklearn sets the ratio to 1
            return -(2.0 ** -np.ones_like(depths))
        return -(2.0 ** (-(depths / self.denominator)))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples - offset_``: negative for the forest's own outliers, as in sklearn."""
        return self.score_samples(X) - self.offset

    def attributions(self, X) -> np.ndarray:
        """Per-row, per-feature credit for isolating the row; each row sums to 1.

        Depth-based isolation importance (in the spirit of DIFFI): in every tree, each
        split on the row's path credits its feature with ``1 / path length``, so trees
        that isolate the row in few splits weigh most, and a feature that keeps cutting
        the row off early gets most of the credit. Costs about two forest walks per row:
        call it for the rows whose reasons are wanted (the flagged ones), not for all.
        """
        X = self._matrix(X)
        if X.shape[0] == 0:
            return np.zeros((0, self.n_features), dtype=np.float64)
        with numba.parallel_chunksize(PARALLEL_CHUNK * BLOCK_ROWS):
            return _path_credit(X, *self._arrays(), self.log_n, self.n_features)
