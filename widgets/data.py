"""The numbers behind every figure, for Python users: ``Dashboard.data()``.

Each figure becomes a ``Table``: a 2-D numpy array with its row and column labels (plain lists), the
names of its axes and of its values, per-row annotations and the marked elements (the recommendation,
the best pair, the selected token). ``Table.frame()`` gives a pandas DataFrame when pandas is
installed (it is optional). Tokens are the analysed tokens' readable labels, in order; repeats are
kept as they are, so use positions (or ``Table.marks``) rather than labels to find a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.analysis import best_pair
from core.geometry import GeometryFits
from core.texts import TEXT_NAMES
from core.workbench import Workbench

from .views.pairs import overview_tokens


@dataclass(frozen=True)
class Table:
    """One figure's numbers: ``values`` [len(rows), len(columns)] labelled by ``rows`` and ``columns``.

    ``annotations`` maps a name to one entry per row (e.g. Part 3's recommended token at each layer);
    ``marks`` names what the figure marks (indices into rows / columns, or a value).
    """

    title: str
    values: np.ndarray
    rows: list
    columns: list
    row_name: str
    column_name: str
    value_name: str
    annotations: dict = field(default_factory=dict)
    marks: dict = field(default_factory=dict)

    def frame(self):
        """The table as a pandas DataFrame (rows as index, columns as columns, then one column per annotation).

        Raises ImportError with a one-line explanation when pandas is not installed.
        """
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError(
                "Table.frame() needs pandas, which is not installed; .values, .rows and .columns hold the same numbers."
            ) from err
        frame = pd.DataFrame(
            self.values,
            index=pd.Index(self.rows, name=self.row_name),
            columns=pd.Index(self.columns, name=self.column_name),
        )
        for name, entries in self.annotations.items():
            frame[name] = list(entries)
        return frame


def layer_names(bench: Workbench) -> list[int]:
    return list(range(bench.n_layers))


def norms_tables(bench: Workbench) -> dict[str, Table]:
    """Part 1: per text, norms [n_layers, n_tokens]."""
    return {
        f"Part 1 · text {name} norms": Table(
            f"Norms of text {name}",
            np.array(bench.norms[name]),
            layer_names(bench),
            bench.labels(name),
            "layer",
            "token",
            "norm",
        )
        for name in TEXT_NAMES
    }


def target_tables(bench: Workbench, layer: int, alpha: float, token: int) -> dict[str, Table]:
    """Part 2 at ``layer``: the mean vectors [d, 2] and every C token's cosine with the target [n_C, 1]."""
    result = bench.target(layer, alpha)
    means = np.stack([result.mean_a, result.mean_b], axis=1)
    words = bench.labels("C")
    mean_vectors = Table(
        f"Mean vectors at layer {layer}",
        means,
        list(range(means.shape[0])),
        ["mean A", "mean B"],
        "dimension",
        "text",
        "value",
        marks={"mean_cosine": float(result.mean_cosine)},
    )
    similarity = Table(
        f"Similarity to the target at layer {layer}",
        np.asarray(result.target_cosines)[:, None],
        words,
        ["cosine"],
        "token",
        "",
        "cosine",
        annotations={"position": list(range(len(words)))},
        marks={"recommended": int(result.recommended), "selected": token},
    )
    return {
        "Part 2 · mean vectors": mean_vectors,
        "Part 2 · mean A vs mean B": mean_vectors,
        "Part 2 · similarity to the target": similarity,
    }


def layers_table(bench: Workbench, alpha: float, layer: int) -> Table:
    """Part 3: each layer's recommended C token and its cosine [n_layers, 1]."""
    tokens, cosines = bench.recommendations(alpha)
    words = bench.labels("C")
    return Table(
        "Recommended token at each layer",
        np.asarray(cosines)[:, None],
        layer_names(bench),
        ["cosine"],
        "layer",
        "",
        "cosine",
        annotations={"token": [words[k] for k in tokens], "token_position": [int(k) for k in tokens]},
        marks={"current_layer": layer},
    )


def pair_table(bench: Workbench, layer: int, token: int, alpha: float, title: str) -> Table:
    """Part 4: cosines of the targets b + α(b − a) with C token ``token`` [n_A, n_B]."""
    matrix = bench.pair_matrix(layer, token, alpha)
    i, j = best_pair(matrix)
    return Table(
        title,
        np.array(matrix),
        bench.labels("A"),
        bench.labels("B"),
        "token of A",
        "token of B",
        "cosine",
        marks={"token": token, "token_label": bench.labels("C")[token], "best_pair": (int(i), int(j))},
    )


def pairs_tables(bench: Workbench, layer: int, token: int, alpha: float) -> dict[str, Table]:
    """Part 4: the selected C token's pair map and the textbook's four overview maps."""
    words = bench.labels("C")
    tables = {
        "Part 4 · pairs for the selected token": pair_table(
            bench, layer, token, alpha, f"Similarity with “{words[token]}” at layer {layer}"
        )
    }
    for number, k in enumerate(overview_tokens(len(words)), 1):
        tables[f"Part 4 · overview {number}"] = pair_table(bench, layer, k, alpha, f"“{words[k]}” at layer {layer}")
    return tables


def sweep_table(bench: Workbench, alpha: float, layer: int, token: int) -> Table:
    """Part 5: max over pairs [n_layers, n_C]; ``marks["best_pairs"]`` [n_layers, n_C, 2] holds their (i, j)."""
    best, pairs = bench.max_pairs(alpha)
    return Table(
        "Max similarity to the target",
        np.array(best),
        layer_names(bench),
        bench.labels("C"),
        "layer",
        "token of C",
        "max cosine",
        marks={"best_pairs": np.array(pairs), "selected": (layer, token)},
    )


def figure_data(bench: Workbench, layer: int, token: int, alpha: float) -> dict[str, Table]:
    """Every figure's numbers for one state, keyed by the figure names of the export panel."""
    layer = min(layer, bench.n_layers - 1)
    token = min(token, len(bench.labels("C")) - 1)
    return {
        **norms_tables(bench),
        **target_tables(bench, layer, alpha, token),
        "Part 3 · recommendations by layer": layers_table(bench, alpha, layer),
        **pairs_tables(bench, layer, token, alpha),
        "Part 5 · max similarity by layer and token": sweep_table(bench, alpha, layer, token),
        "Geometry · A → B → target (PCA)": geometry_table(bench, layer, alpha, token),
    }


def geometry_table(bench: Workbench, layer: int, alpha: float, token: int) -> Table:
    """The geometry view: PC1 and PC2 of every analysed token of A, B and C, then mean A, mean B and the
    target, [n_A + n_B + n_C + 3, 2]; the "text" annotation says which text (or "mean") each row is."""
    fit = GeometryFits(bench).at(layer, alpha)
    names = ["mean A", "mean B", "target"]
    rows = [label for name in TEXT_NAMES for label in bench.labels(name)] + names
    texts = [name for name in TEXT_NAMES for _ in bench.labels(name)] + ["mean"] * len(names)
    values = np.vstack([*(fit.points[name] for name in TEXT_NAMES), fit.means])
    explained = ", ".join(f"{share * 100:.1f}%" for share in fit.explained)
    return Table(
        f"Geometry at layer {layer} (PCA, explained variance {explained})",
        values,
        rows,
        ["PC1", "PC2"],
        "Token",
        "Component",
        "Coordinate",
        annotations={"text": texts},
        marks={"selected_c_row": len(bench.labels("A")) + len(bench.labels("B")) + token},
    )
