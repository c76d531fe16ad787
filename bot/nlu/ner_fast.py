"""`FastTagger`: ZhikeNER's trained thinc tagger replayed as a few fused numpy operations.

Calling the thinc model on one short doc costs about a millisecond, almost all of it per-layer
Python overhead (list/ragged/padded conversions, callbacks, checks). `FastTagger.from_model`
walks the trained model once, copies its weights, and compiles the layers it knows into a flat
list of numpy steps that compute the same forward pass (inference mode) on one doc:

- `extract_features`: `doc.to_array(columns)` (uint64 lexical attribute ids);
- `concatenate` of `ints-getitem >> hashembed`: thinc's own `ops.hash(ids, seed) % nV`, the
  four rows summed, one table per column, concatenated;
- `maxout` (`X @ W.T + b`, max over pieces), `layernorm` (`(X - mu) / sqrt(var + 1e-8) * G + b`),
  `dropout` (identity at inference), `residual`, `expand_window` (zero-padded window at the
  array's edges, like `seq2col` without lengths);
- `with_array(pad=p)` on a list input: `p` zero rows before and after the doc, removed again
  afterwards (the padding rows take part in later windows, exactly as in thinc);
- `softmax` (`X @ W.T + b`, normalised unless the layer says otherwise).

Anything else (another architecture, a shared tok2vec listener, static vectors) makes
`from_model` return None, and the caller keeps using thinc. The fast path is derived from the
model and never persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from spacy.tokens import Doc
from thinc.api import Model, NumpyOps

Array = np.ndarray[Any, Any]
Step = Callable[[Array], Array]

_OPS = NumpyOps()


class Unsupported(Exception):
    """The model contains a layer or a combination the fast path does not replay."""


# ---- steps ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashEmbeds:
    """Concatenated HashEmbed tables, one per feature column, stacked into one table."""

    columns: tuple[int, ...]
    seeds: tuple[int, ...]
    rows: Array  # (k, 1, 1) uint32: nV of each table
    offsets: Array  # (k, 1, 1) int64: first row of each table in `table`
    table: Array  # (sum of nV, width) float32
    widths: tuple[int, ...]  # width of each table

    def keys(self, features: Array) -> Array:
        """(k, n, 4) rows of `table`: each id hashed four times, as thinc does, per column."""
        ids = np.ascontiguousarray(features.T[list(self.columns)], dtype=np.uint64)
        keys = np.stack([_OPS.hash(ids[i], seed) for i, seed in enumerate(self.seeds)])
        return (keys % self.rows).astype(np.int64) + self.offsets

    def __call__(self, features: Array) -> Array:
        summed = self.table[self.keys(features)].sum(axis=2)  # (k, n, width)
        return np.ascontiguousarray(summed.transpose(1, 0, 2)).reshape(features.shape[0], -1)


def _maximum(Y: Array, pieces: int) -> Array:
    """Max over pieces laid out piece-major: columns [p * nO, (p + 1) * nO) hold piece p."""
    n_out = Y.shape[1] // pieces
    if pieces == 1:
        return Y
    best = np.maximum(Y[:, :n_out], Y[:, n_out : 2 * n_out])
    for p in range(2, pieces):
        np.maximum(best, Y[:, p * n_out : (p + 1) * n_out], out=best)
    return best


@dataclass(frozen=True, slots=True)
class Maxout:
    weights: Array  # (nI, nP * nO), piece-major columns
    bias: Array  # (nP * nO,)
    pieces: int

    @classmethod
    def from_params(cls, W: Array, b: Array) -> Maxout:
        """From thinc's W (nO, nP, nI) and b (nO, nP)."""
        n_out, pieces, n_in = W.shape
        weights = W.transpose(1, 0, 2).reshape(pieces * n_out, n_in).T
        bias = b.T.reshape(pieces * n_out)
        return cls(np.ascontiguousarray(weights), np.ascontiguousarray(bias), pieces)

    def __call__(self, X: Array) -> Array:
        Y = X @ self.weights
        Y += self.bias
        return _maximum(Y, self.pieces)


@dataclass(frozen=True, slots=True)
class EmbedMaxout:
    """HashEmbeds followed by Maxout, with each table premultiplied by its slice of W.

    `concat(E_c[keys]) @ W == sum_c E_c[keys] @ W_c`, so each token's pre-activation is a sum
    of (columns x 4) rows of the premultiplied tables: no large matrix product per message.
    """

    embeds: HashEmbeds
    table: Array  # (sum of nV, nP * nO) float32: E_c @ W_c per table, stacked
    bias: Array
    pieces: int

    @classmethod
    def fuse(cls, embeds: HashEmbeds, maxout: Maxout) -> EmbedMaxout:
        bounds = np.cumsum([0, *embeds.widths])
        offsets = [*embeds.offsets.ravel().tolist(), embeds.table.shape[0]]
        blocks = []
        for i in range(len(embeds.widths)):
            E = embeds.table[offsets[i] : offsets[i + 1]].astype(np.float64)
            blocks.append(E @ maxout.weights[bounds[i] : bounds[i + 1]].astype(np.float64))
        table = np.concatenate(blocks).astype(np.float32)
        return cls(embeds, table, maxout.bias, maxout.pieces)

    def __call__(self, features: Array) -> Array:
        Y = self.table[self.embeds.keys(features)].sum(axis=(0, 2))  # (n, nP * nO)
        Y += self.bias
        return _maximum(Y, self.pieces)


@dataclass(frozen=True, slots=True)
class LayerNorm:
    gain: Array
    bias: Array
    mean: Array  # (width, 1) column of 1 / width: row means as one matrix-vector product

    @classmethod
    def from_params(cls, gain: Array, bias: Array) -> LayerNorm:
        mean = np.full((gain.shape[0], 1), 1.0 / gain.shape[0], dtype=np.float32)
        return cls(gain, bias, mean)

    def __call__(self, X: Array) -> Array:
        centred = X - X @ self.mean
        var = (centred * centred) @ self.mean
        var += np.float32(1e-08)
        centred /= np.sqrt(var, out=var)
        centred *= self.gain
        centred += self.bias
        return centred


@dataclass(frozen=True, slots=True)
class Window:
    size: int

    def __call__(self, X: Array) -> Array:
        n, width = X.shape
        padded = np.zeros((n + 2 * self.size, width), dtype=X.dtype)
        padded[self.size : self.size + n] = X
        return np.concatenate([padded[i : i + n] for i in range(2 * self.size + 1)], axis=1)


@dataclass(frozen=True, slots=True)
class Residual:
    steps: tuple[Step, ...]

    def __call__(self, X: Array) -> Array:
        Y = run(self.steps, X)
        if Y is X:  # no step copied the input: never add into it in place
            return X + X
        Y += X
        return Y


@dataclass(frozen=True, slots=True)
class Padded:
    pad: int
    steps: tuple[Step, ...]

    def __call__(self, X: Array) -> Array:
        n, width = X.shape
        padded = np.zeros((n + 2 * self.pad, width), dtype=X.dtype)
        padded[self.pad : self.pad + n] = X
        return run(self.steps, padded)[self.pad : self.pad + n]


@dataclass(frozen=True, slots=True)
class Softmax:
    weights: Array  # (nI, nO)
    bias: Array
    normalize: bool
    temperature: float

    def __call__(self, X: Array) -> Array:
        Y = X @ self.weights
        Y += self.bias
        if not self.normalize:
            return Y
        if self.temperature != 1.0:
            Y = Y / self.temperature
        Y = np.exp(Y - Y.max(axis=-1, keepdims=True))
        Y /= Y.sum(axis=-1, keepdims=True)
        return Y


class TokenCache:
    """Memoises row-wise steps (embedding, maxout, layer norm) per token feature row.

    Those steps see one token at a time, so a token's output depends on its feature ids only
    and is the same computed alone or in a batch. The memo is cleared when it is full.
    """

    __slots__ = ("memo", "size", "steps")

    def __init__(self, steps: tuple[Step, ...], size: int) -> None:
        self.steps, self.size = steps, size
        self.memo: dict[bytes, Array] = {}

    def __call__(self, features: Array) -> Array:
        raw, width = features.tobytes(), features.itemsize * features.shape[1]
        keys = [raw[i : i + width] for i in range(0, len(raw), width)]
        rows = [self.memo.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            computed = run(self.steps, features[missing])
            if len(self.memo) + len(missing) > self.size:
                self.memo.clear()
            for i, row in zip(missing, computed, strict=True):
                self.memo[keys[i]] = rows[i] = row
        return np.stack(rows)  # type: ignore[arg-type]


def run(steps: Sequence[Step], X: Array) -> Array:
    for step in steps:
        X = step(X)
    return X


# ---- compiling a thinc model ---------------------------------------------------------------


def _param(layer: Model, name: str) -> Array:
    return np.ascontiguousarray(layer.ops.to_numpy(layer.get_param(name)), dtype=np.float32)


def _combinator(layer: Model) -> str | None:
    """Which thinc combinator built `layer`, recognised from how it names itself."""
    names = [child.name for child in layer.layers]
    if len(names) == 1 and layer.name == f"with_array({names[0]})":
        return "with_array"
    if len(names) == 1 and layer.name == f"residual({names[0]})":
        return "residual"
    if len(names) > 1 and layer.name == ">>".join(names):
        return "chain"
    if len(names) > 1 and layer.name == "|".join(names):
        return "concatenate"
    return None


def _chained(layer: Model) -> list[Model]:
    """The layers of nested chains, in order."""
    if _combinator(layer) != "chain":
        return [layer]
    return [leaf for child in layer.layers for leaf in _chained(child)]


class _Compiler:
    """Turns the layers of a tagger into steps, tracking whether data flows as list or ragged."""

    def __init__(self) -> None:
        self.kind = "docs"
        self.columns: list[Any] | None = None
        self.leaves: dict[str, Callable[[Model], list[Step]]] = {
            "extract_features": self._features,
            "list2ragged": self._becomes("ragged"),
            "ragged2list": self._becomes("list"),
            "maxout": self._maxout,
            "layernorm": self._layernorm,
            "dropout": lambda layer: [],  # identity at inference
            "noop": lambda layer: [],
            "expand_window": lambda layer: [Window(int(layer.attrs["window_size"]))],
            "softmax": self._softmax,
        }

    def compile(self, layer: Model) -> list[Step]:
        combinator = _combinator(layer)
        if combinator == "chain":
            return [step for leaf in _chained(layer) for step in self.compile(leaf)]
        if combinator == "with_array":
            return self._with_array(layer)
        if combinator == "residual":
            return [Residual(tuple(self.compile(layer.layers[0])))]
        if combinator == "concatenate":
            return [_hash_embeds(layer)]
        if combinator is None and not layer.layers and layer.name in self.leaves:
            return self.leaves[layer.name](layer)
        raise Unsupported(layer.name)

    def _features(self, layer: Model) -> list[Step]:
        if self.kind != "docs":
            raise Unsupported("features extracted twice")
        self.kind, self.columns = "list", list(layer.attrs["columns"])
        return []

    def _becomes(self, kind: str) -> Callable[[Model], list[Step]]:
        def convert(layer: Model) -> list[Step]:
            self.kind = kind
            return []

        return convert

    def _with_array(self, layer: Model) -> list[Step]:
        if self.kind == "docs":
            raise Unsupported("with_array before feature extraction")
        steps = tuple(self.compile(layer.layers[0]))
        pad = int(layer.attrs.get("pad", 0))
        # thinc pads list input only; ragged input goes through unpadded
        return [Padded(pad, steps)] if pad > 0 and self.kind == "list" else list(steps)

    @staticmethod
    def _maxout(layer: Model) -> list[Step]:
        shape = tuple(int(layer.get_dim(d)) for d in ("nO", "nP", "nI"))
        W = _param(layer, "W").reshape(shape)
        return [Maxout.from_params(W, _param(layer, "b").reshape(shape[:2]))]

    @staticmethod
    def _layernorm(layer: Model) -> list[Step]:
        return [LayerNorm.from_params(_param(layer, "G"), _param(layer, "b"))]

    @staticmethod
    def _softmax(layer: Model) -> list[Step]:
        weights = np.ascontiguousarray(_param(layer, "W").T)
        normalize = bool(layer.attrs.get("softmax_normalize", True))
        temperature = float(layer.attrs.get("softmax_temperature", 1.0))
        return [Softmax(weights, _param(layer, "b"), normalize, temperature)]


def _hash_embeds(layer: Model) -> HashEmbeds:
    """A concatenation of `ints-getitem >> hashembed` layers, one per feature column."""
    columns, seeds, rows, tables = [], [], [], []
    for child in layer.layers:
        parts = _chained(child)
        if [p.name for p in parts] != ["ints-getitem", "hashembed"]:
            raise Unsupported(child.name)
        index, embed = parts[0].attrs.get("index"), parts[1]
        if not (isinstance(index, tuple) and len(index) == 2 and index[0] == slice(0, None)):
            raise Unsupported(f"ints-getitem index {index!r}")
        columns.append(int(index[1]))
        seeds.append(int(embed.attrs["seed"]))
        tables.append(_param(embed, "E"))
        rows.append(tables[-1].shape[0])
    offsets = np.cumsum([0, *rows[:-1]], dtype=np.int64).reshape(-1, 1, 1)
    return HashEmbeds(
        tuple(columns),
        tuple(seeds),
        np.array(rows, dtype=np.uint32).reshape(-1, 1, 1),
        offsets,
        np.concatenate(tables),
        tuple(table.shape[1] for table in tables),
    )


_ROW_WISE = (HashEmbeds, EmbedMaxout, Maxout, LayerNorm)


def _cached(steps: list[Step], size: int) -> list[Step]:
    """`steps` with the leading row-wise steps, from the embedding on, behind a TokenCache."""
    if size <= 0 or not steps or not isinstance(steps[0], (HashEmbeds, EmbedMaxout)):
        return steps
    n = 1
    while n < len(steps) and isinstance(steps[n], _ROW_WISE):
        n += 1
    return [TokenCache(tuple(steps[:n]), size), *steps[n:]]


def _fused(steps: Sequence[Step]) -> list[Step]:
    """`steps` with each HashEmbeds followed by a Maxout replaced by one EmbedMaxout."""
    out: list[Step] = []
    for step in steps:
        previous = out[-1] if out else None
        if isinstance(step, Maxout) and isinstance(previous, HashEmbeds):
            out[-1] = EmbedMaxout.fuse(previous, step)
        else:
            out.append(step)
    return out


# ---- public API ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FastTagger:
    """The forward pass of a trained spaCy tagger model, for one doc at a time."""

    columns: tuple[Any, ...]  # attributes for `Doc.to_array`
    steps: tuple[Step, ...]
    n_labels: int

    @classmethod
    def from_model(cls, model: Model, cache_size: int = 16384) -> FastTagger | None:
        """Compile `model` (a trained `spacy.Tagger.v2`), or None if it is not replayable.

        `cache_size` tokens' context-free embeddings are memoised (0: no memo).
        """
        compiler = _Compiler()
        try:
            steps = _fused(compiler.compile(model))
        except (Unsupported, KeyError, ValueError, TypeError):
            return None
        last = steps[-1] if steps else None
        if compiler.columns is None or compiler.kind != "list" or not isinstance(last, Softmax):
            return None
        steps = _cached(steps, cache_size)
        return cls(tuple(compiler.columns), tuple(steps), int(last.weights.shape[1]))

    def features(self, doc: Doc) -> Array:
        return doc.to_array(list(self.columns)).reshape(len(doc), -1)

    def predict(self, doc: Doc | Array) -> Array:
        """Scores (tokens x labels, float32) for a doc or its `features(doc)` array."""
        features = self.features(doc) if isinstance(doc, Doc) else doc
        if features.shape[0] == 0:
            return np.zeros((0, self.n_labels), dtype=np.float32)
        return run(self.steps, features)

    def matches(self, model: Model, docs: Sequence[Doc], atol: float = 1e-5) -> bool:
        """Whether this fast path reproduces `model.predict` on each of `docs`."""
        return all(
            np.allclose(self.predict(doc), model.ops.to_numpy(want), rtol=0.0, atol=atol)
            for doc in docs
            for want in model.predict([doc])
        )
