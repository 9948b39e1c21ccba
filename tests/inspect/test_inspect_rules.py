"""Each design rule of the course, broken by a small model built to break only it; numbers in
the warnings are checked against hand computations."""

import pytest

from jaxcnn.inspect import summary
from jaxcnn.models import create_model
from tests.inspect.nets import GAP, GOOD, POOL, Plain, conv


def warnings_of(layers, size=32, num_classes=10):
    return summary(Plain(tuple(layers)), (1, size, size, 3), num_classes=num_classes).warnings


def replaced(index, layer):
    return GOOD[:index] + (layer,) + GOOD[index + 1 :]


def test_a_model_following_every_rule_gets_no_warning():
    assert warnings_of(GOOD) == []


def test_resnet50_at_224_gets_no_warning():
    assert summary(create_model("resnet50"), (1, 224, 224, 3), num_classes=1000).warnings == []


def test_input_not_divisible_by_two_to_the_number_of_halvings():
    [warning] = warnings_of(GOOD, size=30)  # two 2x2/2 pools: 30 -> 15 -> 7
    assert "Input height and width 30" in warning and "2^2 = 4" in warning and "halves them 2 times" in warning
    assert "28 and 32" in warning  # the multiples of 4 around 30


def test_final_map_not_under_10():
    [warning] = warnings_of(GOOD[:5] + GOOD[6:])  # one pool less: 32 -> 16
    assert "16x16, not under 10x10" in warning and "1 more stride-2 reduction would make it 8x8" in warning


def test_fewer_than_six_conv_layers():
    [warning] = warnings_of(GOOD[:6] + GOOD[7:])  # 5 convs
    assert "has 5 conv layers" in warning and "fewer than the 6" in warning


def test_large_kernel_compared_with_a_stack_of_3x3_convs():
    d = 16
    [warning] = warnings_of(replaced(1, conv(d, 7)))
    assert "7x7 kernel" in warning
    assert f"49·{d}·{d} = {49 * d * d:,} weights" in warning  # the course's 49 D^2 ...
    assert "a stack of 3 3x3 convs" in warning and f"27·{d}·{d} = {27 * d * d:,}" in warning  # ... against 27 D^2


def test_stride_2_stem_with_a_large_kernel_is_the_exception():
    assert warnings_of(replaced(0, conv(16, 7, 2)), size=64) == []


def test_a_1x7_conv_is_cheaper_than_its_stack_of_1x3_convs_and_is_not_flagged():
    # 7 D^2 weights against 3 * 3 D^2 for three 1x3 convs: the rule's reason does not hold
    assert warnings_of(replaced(1, conv(16, (1, 7)))) == []


def test_a_5x5_conv_between_different_widths_against_its_cheapest_stack():
    [warning] = warnings_of(replaced(3, conv(32, 5)))  # 16 -> 32 maps
    assert f"25·16·32 = {25 * 16 * 32:,} weights" in warning
    # two 3x3 convs: 16 -> 16, then 16 -> 32
    stack = 9 * 16 * 32 + 9 * 16 * 16
    assert f"a stack of 2 3x3 convs with the same 5x5 receptive field has 9·16·32 + 9·16·16 = {stack:,}" in warning


def test_feature_maps_shrinking_with_depth():
    shrinking = (conv(64), conv(64), POOL, conv(32), conv(32), POOL, conv(16), conv(16), GAP, ("dense", 10))
    [warning] = warnings_of(shrinking)
    assert "Feature maps shrink with depth: 64 at stride 1 but at most 32 at stride 2" in warning


def test_last_layer_not_dense():
    [warning] = warnings_of(GOOD[:-2] + (conv(10, 1), GAP))
    assert "The last layer is global_avg_pool" in warning and "not a dense layer with T = 10 outputs" in warning


def test_last_dense_layer_with_the_wrong_number_of_outputs():
    [warning] = warnings_of(GOOD, num_classes=100)
    assert "has 10 outputs but num_classes is 100" in warning


@pytest.mark.parametrize("name", ["vgg16", "googlenet"])
def test_course_architectures_follow_the_rules(name):
    assert summary(create_model(name), (1, 224, 224, 3), num_classes=1000).warnings == []
