"""The Summary object, its renderings, the command line and the errors on bad input."""

import argparse
import html.parser

import jax
import jax.numpy as jnp
import pytest

from jaxcnn.inspect import add_summary_parser, summary
from jaxcnn.models import count_params, create_model, init_shapes
from tests.inspect.nets import GOOD, Plain


@pytest.fixture(scope="module")
def resnet20():
    return summary(create_model("resnet20"), (1, 32, 32, 3), num_classes=10)


def test_totals_are_sums_over_rows(resnet20):
    assert resnet20.total_macs == sum(row.macs for row in resnet20.rows)
    assert resnet20.total_params == count_params(init_shapes(create_model("resnet20"), 32))


def test_rows_are_the_convolution_pooling_dense_and_merge_operations(resnet20):
    kinds = [row.kind for row in resnet20.rows]
    # He et al. 2015: 6n + 2 = 20 weighted layers (19 convs + fc), 3n = 9 shortcut additions
    assert (kinds.count("conv"), kinds.count("dense"), kinds.count("add"), kinds.count("global_pool")) == (19, 1, 9, 1)
    assert len(set(row.name for row in resnet20.rows)) == len(resnet20.rows)


def test_text_table_is_aligned_and_ends_with_totals(resnet20):
    lines = str(resnet20).splitlines()
    table = lines[: 2 + len(resnet20.rows)]
    assert table[0].split() == ["layer", "op", "output", "params", "MACs", "RF", "jump"]
    assert len({len(line) for line in table}) == 1  # every column padded to one width
    assert lines[3 + len(resnet20.rows)].startswith(
        f"Total: {resnet20.total_params:,} parameters, {resnet20.total_macs:,} MACs"
    )
    assert lines[-1] == "No design warnings."


def test_html_table_has_a_row_per_operation(resnet20):
    class Rows(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.rows[-1].append(self.cell)
                self.cell = None

    parser = Rows()
    parser.feed(resnet20._repr_html_())
    assert len(parser.rows) == len(resnet20.rows) + 1
    assert [row[0] for row in parser.rows[1:]] == [row.name for row in resnet20.rows]
    assert parser.rows[-1][3] == f"{resnet20.rows[-1].params:,}"


def test_warnings_are_printed():
    text = str(summary(Plain(GOOD), (1, 30, 30, 3)))
    assert text.splitlines()[-1].startswith("Warning: Input height and width 30")


def test_input_too_small_raises_the_error_apply_gives():
    model = create_model("vgg11")
    with pytest.raises(ValueError) as from_model:
        model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError) as from_summary:
        summary(model, (1, 16, 16, 3))
    assert str(from_summary.value) == str(from_model.value)
    assert "at least 32x32" in str(from_summary.value)


def test_not_a_linen_module_raises_type_error():
    with pytest.raises(TypeError, match="expects a flax.linen Module.*got function"):
        summary(lambda x: x, (1, 32, 32, 3))


@pytest.mark.parametrize("shape", [(224, 224, 3), (1, 224, 224), (1, 224, 224, 3, 1), (1, 0, 224, 3), 224])
def test_input_shape_of_wrong_rank_or_size_raises_value_error(shape):
    with pytest.raises(ValueError, match=r"input_shape \(N, H, W, C\).*got"):
        summary(create_model("resnet20"), shape)


def run_cli(*argv):
    parser = argparse.ArgumentParser(prog="jaxcnn")
    add_summary_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_prints_the_table_at_the_models_own_size(capsys):
    assert run_cli("summary", "resnet20") == 0
    out = capsys.readouterr().out
    assert f"{count_params(init_shapes(create_model('resnet20'), 32)):,} parameters" in out
    assert "at input 1x32x32x3" in out and out.rstrip().endswith("No design warnings.")


def test_cli_input_and_num_classes(capsys):
    run_cli("summary", "resnet20", "--input", "64", "--num-classes", "100")
    out = capsys.readouterr().out
    assert f"{count_params(init_shapes(create_model('resnet20', num_classes=100), 64)):,} parameters" in out
    assert "at input 1x64x64x3" in out and "1x100" in out


def test_cli_unknown_model_names_close_matches():
    with pytest.raises(ValueError, match="resnet20"):
        run_cli("summary", "resnet2")
