"""summary() against figures from outside: torchvision's published MAC counts, count_params,
receptive fields computed by hand, and the unrolled twin of a scanned network."""

import functools

import flax.linen as nn
import jax.numpy as jnp
import pytest

from jaxcnn.inspect import summary
from jaxcnn.models import count_params, create_model, init_shapes
from jaxcnn.models.layers import norm_layer
from jaxcnn.models.resnet import BasicBlock
from tests.inspect.nets import GAP, Plain, conv
from tests.models.references import TORCHVISION_GMACS


@functools.cache
def measured(name: str, size: int, **overrides):
    return summary(create_model(name, **overrides), (1, size, size, 3))


def rows_by_name(s):
    return {row.name: row for row in s.rows}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_macs_match_torchvision_within_half_a_percent(name):
    size, gmacs = TORCHVISION_GMACS[name]
    assert measured(name, size).total_macs / 1e9 == pytest.approx(gmacs, rel=0.005)


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_parameters_equal_count_params_and_rows_add_up(name):
    size, _ = TORCHVISION_GMACS[name]
    s = measured(name, size)
    assert s.total_params == count_params(init_shapes(create_model(name), size))
    assert sum(row.params for row in s.rows) == s.total_params
    assert s.unused_params == {}


def test_conv_row_holds_its_kernel_and_the_batchnorm_after_it():
    conv1 = rows_by_name(measured("resnet18", 224))["conv1"]
    assert conv1.params == 7 * 7 * 3 * 64 + 2 * 64  # kernel (no bias) + BN scale and offset
    assert conv1.macs == 112 * 112 * 64 * 7 * 7 * 3


def test_macs_of_conv_grouped_conv_and_dense_by_hand():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(8, (3, 3), padding=1)(x)
            x = nn.Conv(8, (3, 3), padding=1, feature_group_count=2)(x)
            return nn.Dense(10)(x.reshape(x.shape[0], -1))

    s = summary(Net(), (2, 8, 8, 3))
    assert [row.macs for row in s.rows] == [2 * 8 * 8 * 8 * 3 * 3 * 3, 2 * 8 * 8 * 8 * 3 * 3 * 4, 2 * 8 * 8 * 8 * 10]
    assert [row.params for row in s.rows] == [3 * 3 * 3 * 8 + 8, 3 * 3 * 4 * 8 + 8, 512 * 10 + 10]


def test_transposed_conv_counts_the_macs_torch_counts():
    # torch: input elements x kernel area x out-channels (the taps that meet inserted zeros are free)
    class Up(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.ConvTranspose(8, (2, 2), strides=(2, 2))(x)

    [row] = summary(Up(), (1, 16, 16, 4)).rows
    assert (row.op, row.shape, row.macs) == ("conv_transpose 2x2/2", (1, 32, 32, 8), 16 * 16 * 4 * 2 * 2 * 8)
    assert row.jump == (0.5, 0.5)  # two outputs per input position


def test_three_3x3_convs_see_7x7_with_27_instead_of_49_d_squared_weights():
    d = 8
    stack = summary(Plain((conv(d), conv(d), conv(d))), (1, 16, 16, d))
    single = summary(Plain((conv(d, 7),)), (1, 16, 16, d))
    assert [row.rf for row in stack.rows] == [(3, 3), (5, 5), (7, 7)]
    assert single.rows[0].rf == (7, 7)
    assert sum(row.params for row in stack.rows) == 27 * d * d + 3 * d  # + biases
    assert single.rows[0].params == 49 * d * d + d


def test_vgg16_last_conv_layer_receptive_field_by_hand():
    # each 3x3 conv adds 2 * jump, each 2x2/2 pool adds 1 * jump and doubles it;
    # stages of (2, 2, 3, 3, 3) convs at jumps 1, 2, 4, 8, 16 with 4 pools before conv5.
    by_hand = 1 + 2 * (2 * 1 + 2 * 2 + 3 * 4 + 3 * 8 + 3 * 16) + (1 + 2 + 4 + 8)
    assert by_hand == 196
    last_conv = rows_by_name(measured("vgg16", 224))["conv5_3/conv"]
    assert (last_conv.rf, last_conv.jump) == ((by_hand, by_hand), (16, 16))


class StemAndBlock(nn.Module):
    """A 3x3 stem conv (rf 3) and one ResNet basic block, as jaxcnn's ResNets build them."""

    strides: int

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(nn.Conv, use_bias=False)
        x = conv(8 if self.strides == 1 else 4, (3, 3), padding=1, name="stem")(x)
        return BasicBlock(8, conv, norm_layer(False, jnp.float32, None), strides=self.strides, name="block")(x)


def test_resnet_basic_block_receptive_fields_follow_both_paths():
    rows = rows_by_name(summary(StemAndBlock(strides=2), (1, 16, 16, 3)))
    # main path: 3x3/2 then 3x3 on the stem's rf 3; shortcut: 1x1/2 projection, rf stays 3
    assert (rows["block/conv1"].rf, rows["block/conv1"].jump) == ((3 + 2, 3 + 2), (2, 2))
    assert rows["block/conv2"].rf == (5 + 2 * 2,) * 2
    assert (rows["block/downsample_conv"].rf, rows["block/downsample_conv"].jump) == ((3, 3), (2, 2))
    assert rows["block/add"].rf == (9, 9)  # the largest over the two paths
    identity = rows_by_name(summary(StemAndBlock(strides=1), (1, 16, 16, 3)))
    assert identity["block/add"].rf == (3 + 2 + 2,) * 2


@pytest.mark.parametrize("order", ["wide_first", "narrow_first"])
def test_merge_takes_the_largest_field_whichever_input_comes_first(order):
    class TwoBranches(nn.Module):
        @nn.compact
        def __call__(self, x):
            wide, narrow = nn.Conv(4, (7, 7), padding=3)(x), nn.Conv(4, (3, 3), padding=1)(x)
            return (wide + narrow if order == "wide_first" else narrow + wide), jnp.concatenate([narrow, wide], -1)

    rows = summary(TwoBranches(), (1, 16, 16, 1)).rows
    assert [(row.kind, row.rf) for row in rows[2:]] == [("add", (7, 7)), ("concat", (7, 7))]


def test_global_pool_sees_the_whole_final_map():
    rows = summary(Plain((conv(4), conv(4), GAP)), (1, 6, 6, 1)).rows
    assert rows[-1].rf == (5 + (6 - 1) * 1,) * 2


def test_adaptive_pool_bins_span_exactly_the_final_map():
    # VGG's head pools the last map to 7x7 in bins; fc1 then sees every position of that map
    for size, final in ((32, 1), (288, 9), (448, 14)):
        rows = rows_by_name(measured("vgg11", size))
        pool5 = rows["max_pool_5"]
        assert pool5.shape[1] == final
        assert rows["head/fc1"].rf[0] == pool5.rf[0] + (final - 1) * pool5.jump[0]


def test_scanned_blocks_give_the_rows_of_their_unrolled_twin():
    def measures(s):
        return [(r.op, r.shape, r.params, r.macs, r.rf, r.jump) for r in s.rows]

    scanned, unrolled = measured("resnet18", 64, scan=True), measured("resnet18", 64, scan=False)
    assert measures(scanned) == measures(unrolled)
    assert "layer1_blocks/scan[0]/block/conv1" in rows_by_name(scanned)
    assert "layer1_blocks/block0/conv1" in rows_by_name(unrolled)


def test_parameters_outside_the_forward_pass_are_reported_not_lost():
    model = create_model("googlenet", aux_logits=True)
    variables = init_shapes(model, 224)
    s = measured("googlenet", 224, aux_logits=True)
    aux = {k: v for k, v in variables["params"].items() if k.startswith("aux")}
    assert s.total_params == count_params(variables)
    assert sum(s.unused_params.values()) == count_params({"params": aux})
    assert {path.split("/")[0] for path in s.unused_params} == {"aux1", "aux2"}
    assert s.total_macs == measured("googlenet", 224).total_macs
