"""Representative images for the learners (004_82c542c12fef7e00.txt, Figure S1: "Every row shows 10
query images, which are the easiest in terms of recall for one learner (R@1 = 1) but extremely
difficult (R@30 = 0) for any other learner").

The queries are selected in the cell's one evaluation pass (``training.dces_parts.
evaluate_dces_retrieval`` → ``metrics.json`` ``learner_examples``: per learner's 16-dim slice, the test
queries whose first positive is at rank 1 in that slice and beyond rank 30 in every other slice;
when more than 10 qualify, those hardest for the other learners first).  This renderer only reads
that record and the query images: one row per learner, up to 10 images, each titled with the best
rank of its first positive among the other slices.  A query the text's rule admits has a green
border.  Where fewer than 10 qualify (the smoke scale's test set of ~130 images leaves few queries
whose positives all lie beyond rank 30), the row goes on with the next hardest queries with R@1 = 1
in that slice, bordered orange; the row's label says how many qualified.

`python -m dmlrepro.figures.learner_examples --manifest-json '<manifest>' --out figS1.png`
"""

from __future__ import annotations

from pathlib import Path

from dmlrepro.errors import UserError
from dmlrepro.figures.manifest import point_name, read_record
from dmlrepro.figures.plotting import main_guard, set_title, subplots


def examples(manifest: dict) -> tuple[dict, dict, str]:
    """(the cell, its learner_examples record, the cell id) of the figure's one point."""
    points = [(panel, series, point) for panel in manifest["panels"] for series in panel["series"]
              for point in series["points"]]
    if len(points) != 1:
        raise UserError(f"{manifest['paper']} {manifest['figure']}: a learner_examples figure shows one cell, "
                        f"got {len(points)} points; give the figure one dataset and one cell")
    panel, series, point = points[0]
    name = point_name(manifest, panel, series, point)
    record = read_record(manifest, name, point["metrics"][0])
    found = record.get("metrics", {}).get("learner_examples")
    if not found or found.get("paths") is None:
        raise UserError(f"{name}: {point['metrics'][0]} has no learner_examples (queries per learner); "
                        "retrain the cell with this code")
    return record.get("cell") or {}, found, point["cell"]


def _image(path: str):
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB").copy()
    except OSError as exc:
        raise UserError(f"query image {path} cannot be read ({exc}); regenerate or restore the dataset") from None


def draw(manifest: dict, device: str | None = None):
    del device
    cell, found, cell_id = examples(manifest)
    rows = len(found["paths"])
    per_row = int(found["per_learner"])
    dim = cell.get("model", {}).get("embedding_dim", 128)
    width = dim // max(rows, 1)
    figure, axes = subplots(rows, per_row, 1.25 * per_row + 1.2, 1.35 * rows + 1.4)
    summary = []
    for k, (paths, ranks) in enumerate(zip(found["paths"], found["ranks"])):
        for j in range(per_row):
            axis = axes[k, j]
            axis.set_xticks([])
            axis.set_yticks([])
            meets = found["meets_rule"][k][j] if j < len(paths) else False
            for spine in axis.spines.values():
                spine.set_visible(j < len(paths))
                spine.set_edgecolor("limegreen" if meets else "darkorange")
                spine.set_linewidth(3)
            if j < len(paths):
                axis.imshow(_image(paths[j]))
                others = [r for i, r in enumerate(ranks[j]) if i != k]
                axis.set_title(f"min rank elsewhere {min(others)}", fontsize=5)
        axes[k, 0].set_ylabel(f"learner {k + 1}\ndims {k * width + 1}-{(k + 1) * width}\n"
                              f"{found['qualifying'][k]} qualify", fontsize=6)
        summary.append(f"learner {k + 1}: {found['qualifying'][k]} queries qualify, shown {len(paths)}: "
                       f"{[Path(p).name for p in paths]} ({cell_id})")
    set_title(figure, manifest, [cell], quantitative=False,
              extra=f"Each row: up to {per_row} test queries with R@{found['hit_rank']} = 1 in that learner's slice and "
                    f"R@{found['miss_beyond']} = 0 in every other slice, hardest for the other learners first "
                    "(the paper does not say which when more qualify); above each image the best rank of its "
                    "first positive among the other learners.  Green border: meets the paper's rule; orange: "
                    "R@1 = 1 here but not R@30 = 0 elsewhere (shown only where fewer than "
                    f"{per_row} qualify).")
    return figure, summary


if __name__ == "__main__":
    main_guard(draw, __doc__.splitlines()[0])
