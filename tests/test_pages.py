"""What a reader sees at 1280 px, checked on the chapters' sources, without running them.

- The code a reader copies fits the page: no code-cell line over 88 characters.
- nbval's markers are cell tags (metadata), not comments in that code.
- Every figure has a numbered caption: a code cell that draws (calls a ``plot_*`` function
  of ``mlp_tutorial.plots``, or ``plt.*``) carries MyST-NB's figure metadata, with a
  caption that states no run-dependent number and a label of its own; ``numfig`` is on.
- The run card and the epoch log that the chapters print fit 88 characters a line.

The stored outputs are not checked here: they are those of the last full execution.
"""

import ast
import math
import re
import types
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDTH = 88  # characters of code that a page at 1280 px shows without scrolling

# What nbval honours as cell tags (nbval.plugin.metadata_tags), and the comment markers
# that the tags replace.
NBVAL_TAGS = {"nbval-check-output", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception"}
NBVAL_COMMENT = re.compile(r"^\s*#\s*(NBVAL_|PYTEST_VALIDATE_)")

# The plotting functions of the package, read from its source (no matplotlib import).
PLOTS = ast.parse((REPO / "mlp_tutorial" / "plots.py").read_text(encoding="utf-8"))
PLOT_FUNCTIONS = {
    node.name
    for node in PLOTS.body
    if isinstance(node, ast.FunctionDef) and node.name.startswith("plot_")
}
# A number that a run produces: a decimal ("47.6") or a percentage ("48%").
RUN_NUMBER = re.compile(r"\d\.\d|\d\s*%")


def code_cells(chapter):
    notebook = nbformat.read(chapter, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def python_source(cell):
    """The cell's source as IPython runs it: ``%magic`` and ``!shell`` lines become calls."""
    return TransformerManager().transform_cell(cell.source)


def draws_a_figure(cell):
    """Whether the cell calls a plotting function: ``plot_*(...)`` or ``plt.*(...)``."""
    for node in ast.walk(ast.parse(python_source(cell))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in PLOT_FUNCTIONS:
            return True
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            if func.value.id == "plt":
                return True
    return False


def figure_options(cell):
    """The cell's MyST-NB figure options: ``metadata.mystnb.figure``, or None."""
    return cell.metadata.get("mystnb", {}).get("figure")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(chapter):
    long = [
        f"code cell {index}: {len(line)} characters: {line}"
        for index, cell in enumerate(code_cells(chapter))
        for line in cell.source.splitlines()
        if len(line) > WIDTH
    ]
    assert not long, "\n".join(long)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_nbval_markers_are_tags_not_comments(chapter):
    cells = code_cells(chapter)
    lines = [line for cell in cells for line in cell.source.splitlines()]
    comments = [line for line in lines if NBVAL_COMMENT.match(line)]
    assert not comments, f"nbval comments, not tags: {comments}"
    tags = [tag for cell in cells for tag in cell.metadata.get("tags", [])]
    assert {tag for tag in tags if tag.startswith("nbval")} <= NBVAL_TAGS
    assert "nbval-check-output" in tags, "no cell of the chapter is checked by nbval"


def test_nbval_honours_the_tags():
    plugin = pytest.importorskip("nbval.plugin")
    assert set(plugin.metadata_tags) >= NBVAL_TAGS


def test_the_figure_metadata_is_what_myst_nb_reads():
    config = pytest.importorskip("myst_nb.core.config")
    fields = config.NbParserConfig.__dataclass_fields__
    assert fields["cell_metadata_key"].default == "mystnb"
    assert fields["render_figure_options"].metadata["cell_key"] == "figure"


def test_figures_are_numbered():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["numfig"] is True


def test_every_figure_has_a_caption_and_a_label_of_its_own():
    labels, problems, figures = [], [], 0
    for chapter in CHAPTERS:
        for index, cell in enumerate(code_cells(chapter)):
            where = f"{chapter.stem}, code cell {index}"
            options = figure_options(cell)
            if not draws_a_figure(cell):
                if options is not None:
                    problems.append(f"{where}: figure metadata, but it draws no figure")
                continue
            figures += 1
            if not isinstance(options, dict) or not options.get("caption"):
                problems.append(f"{where}: draws a figure without a caption")
                continue
            caption, label = options["caption"], options.get("name", "")
            labels.append(label)
            if not re.fullmatch(r"fig-[a-z0-9]+(-[a-z0-9]+)*", label):
                problems.append(f"{where}: label {label!r} is not fig-<words>")
            if RUN_NUMBER.search(caption):
                problems.append(f"{where}: the caption states a run's number: {caption}")
            reads_data = re.search(r"\bdata\.|history|records", cell.source)
            if reads_data and "CIFAR-100" not in caption:
                problems.append(f"{where}: the caption does not name the data: {caption}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    assert not duplicates, f"figure labels used twice: {duplicates}"
    assert not problems, "\n".join(problems)
    assert figures >= 2 * len(CHAPTERS)


def test_the_caption_check_can_fail():
    """A figure cell without its metadata, and a caption with a run's number, are caught."""
    bare = nbformat.v4.new_code_cell('fig = plot_history(result.history, title="gMLP")')
    assert draws_a_figure(bare) and figure_options(bare) is None
    assert not draws_a_figure(nbformat.v4.new_code_cell('%config A.b = ["png"]\nx = 1'))
    assert RUN_NUMBER.search("gMLP reaches 47.6% top-1")


# ------------------------------------------------------------------------------------
# What the package prints on every training page
# ------------------------------------------------------------------------------------


def test_run_card_lines_fit_the_page_even_with_a_long_data_source(capsys):
    import keras

    from mlp_tutorial.environment import print_run_card

    source = (
        "CIFAR-100: 500 train (class-balanced subset of 50,000, seed 42) / 10,000 test "
        "images, read from " + "/a-rather-long-folder-name" * 6 + "/cifar-100-python.tar.gz"
    )
    ablation = ["example", "+warmup_cosine", "+label_smoothing", "+randaugment", "+mixup_cutmix"]
    settings = dict(model="gmlp", epochs=50, ablation=ablation, data_path="/x" * 70)
    print_run_card(types.SimpleNamespace(source=source), **settings, precision="float32")
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == "Run card"
    assert max(len(line) for line in lines) <= WIDTH, printed
    keys = [line.split()[0] for line in lines[1:] if not line.startswith(" " * 4)]
    assert keys == ["data", "backend", "device", "precision", "versions", *settings]
    column = lines[1].index(source[:10])  # where every value starts
    for line in lines[1:]:
        assert line[column - 2 : column] == "  " and line[column] != " ", line
    assert ["precision", keras.config.dtype_policy().name] in [line.split() for line in lines]
    assert "".join(source.split()) in "".join(printed.split())  # wrapped, not cut


def test_epoch_lines_fit_the_page_under_their_header():
    import keras

    from mlp_tutorial.training import EpochLog

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-3), loss="mse")
    printed = []
    log = EpochLog(epochs=1000, images_per_epoch=45_000, printer=printed.append)
    log.set_model(model)
    logs = dict(loss=4.6052, top1=0.0123, top5=0.0567, val_loss=123.4567, val_top1=1.0)
    for epoch in (0, 999):
        log.on_epoch_begin(epoch)  # as fit calls it: the epoch's timer starts
        log.on_epoch_end(epoch, dict(logs, val_top5=math.nan))
    assert len(printed) == 3  # the header once, then one line per epoch
    assert max(len(line) for line in printed) <= WIDTH, printed
    header = "epoch loss top1 top5 val_loss val_top1 val_top5 lr".split()
    assert printed[0].split() == header
    assert printed[2].split() == [
        "1000/1000", "4.6052", "0.012", "0.057", "123.4567", "1.000", "nan", "3.00e-03"
    ]  # fmt: skip

    def ends(line):
        return [match.end() for match in re.finditer(r"\S+", line)]

    assert ends(printed[0]) == ends(printed[1]) == ends(printed[2])  # right-aligned columns


def test_the_blocks_a_chapter_shows_fit_the_page():
    """The code ``page_code(...)`` displays (the blocks readers copy) fits in WIDTH."""
    from mlp_tutorial import layers
    from mlp_tutorial.display import page_code

    shown = set()
    for chapter in CHAPTERS:
        for cell in code_cells(chapter):
            for call in re.findall(r"page_code\(([^)]*)\)", cell.source):
                shown.update(name.strip() for name in call.split(","))
    assert {"MixerBlock", "FNetBlock", "SpatialGatingUnit", "GMLPBlock", "Patches"} <= shown
    objects = [getattr(layers, name) for name in sorted(shown)]
    long = [line for line in page_code(*objects).splitlines() if len(line) > WIDTH]
    assert long == []
