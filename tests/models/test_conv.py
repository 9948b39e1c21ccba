"""The CPU backend's convolution and max pool (jaxcnn.ops): the same function, and the same
gradients, as ``lax.conv_general_dilated`` for every convolution configuration the registered
models use, and the same training step as XLA's own convolution for a model of each family."""

from functools import partial

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcnn.inspect import summary
from jaxcnn.models import create_model, list_models
from jaxcnn.models.inception import InceptionV1Module
from jaxcnn.models.layers import Conv, ConvBN, max_pool, norm_layer
from jaxcnn.ops import (
    BACKENDS,
    CHUNK,
    CPU,
    GEMM_MAX_POSITIONS,
    XLA,
    cpu_conv,
    cpu_max_pool,
    gemm_conv,
    resolve_backend,
    xla_conv,
)
from jaxcnn.training import create_train_state, make_train_step, optimizer

# The smallest input each model takes, so tracing every model stays quick.
TRACE_SIZE = {"inception_v3": 75, "googlenet": 32}


def registry_configs() -> tuple[list[tuple], list[tuple]]:
    """(kernel_hw, strides, padding) of every convolution and (window, strides, padding) of every
    max pool in every registered model, read from the jaxpr of each model's forward pass (not
    written down by hand): that of ``init``, which runs the forward pass to create the variables."""
    convs, pools = set(), set()
    for name in list_models():
        model = create_model(name, backend="xla")
        size = TRACE_SIZE.get(name, 32)
        x = jax.ShapeDtypeStruct((1, size, size, model.in_channels), jnp.float32)
        jaxpr = jax.make_jaxpr(model.init)(jax.random.key(0), x)
        for eqn in _equations(jaxpr.jaxpr):
            if eqn.primitive.name == "conv_general_dilated":
                kernel_hw = tuple(eqn.invars[1].aval.shape[:2])
                padding = tuple(tuple(p) for p in eqn.params["padding"])
                convs.add((kernel_hw, tuple(eqn.params["window_strides"]), padding))
            if eqn.primitive.name == "reduce_window_max":
                p = eqn.params
                pools.add((p["window_dimensions"][1:3], p["window_strides"][1:3], tuple(map(tuple, p["padding"][1:3]))))
    return sorted(convs), sorted(pools)


def _equations(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _equations(sub)


CONFIGS, POOLS = registry_configs()


def one_fast(cases: list[tuple], fast: int) -> list:
    """``cases`` with all but ``cases[fast]`` (one of the quickest) marked slow: the fast tier runs one."""
    return [pytest.param(*case, marks=() if i == fast else pytest.mark.slow) for i, case in enumerate(cases)]


def test_the_registry_uses_the_expected_variety_of_convolutions():
    kernels = {kernel for kernel, _, _ in CONFIGS}
    assert {(1, 1), (3, 3), (5, 5), (7, 7), (1, 7), (7, 1), (1, 3), (3, 1)} <= kernels
    assert {strides for _, strides, _ in CONFIGS} == {(1, 1), (2, 2)}


@pytest.mark.parametrize("kernel_hw, strides, padding", one_fast(CONFIGS, 1))
@pytest.mark.parametrize("batch", [1, pytest.param(CHUNK + 3, marks=pytest.mark.slow)])
def test_values_and_cotangents_equal_lax_conv(kernel_hw, strides, padding, batch):
    """Each side jitted whole, as the library runs it (op by op, the CPU convolution's many small
    operations compile one at a time, several times slower)."""
    size = 2 * max(kernel_hw) + 3  # odd, and larger than every kernel
    kx, kw = jax.random.split(jax.random.key(batch))
    x = jax.random.normal(kx, (batch, size, size + 1, 3))
    kernel = jax.random.normal(kw, (*kernel_hw, 3, 5))
    ours, ref = (
        jax.jit(_value_and_vjp, static_argnums=(0, 3, 4))(conv, x, kernel, strides, padding)
        for conv in (cpu_conv, lax_conv)
    )
    np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(ours[1], ref[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-4 * float(jnp.abs(theirs).max()))


def lax_conv(x, kernel, strides, padding):
    """The reference: ``lax.conv_general_dilated`` in jaxcnn's layouts (NHWC, HWIO)."""
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.slow
@pytest.mark.parametrize("kernel_hw, strides, padding", CONFIGS)
def test_the_matrix_product_convolution_equals_lax_conv_also_on_maps_smaller_than_its_kernel(
    kernel_hw, strides, padding
):
    """``gemm_conv`` (the CPU path for small maps) drops the kernel offsets that only see
    padding; on the smallest input each configuration accepts, many offsets do."""
    smallest = [max(1, k - lo - hi) for k, (lo, hi) in zip(kernel_hw, padding)]
    convs = (gemm_conv, xla_conv)
    for shape in (smallest, [s + 2 for s in smallest]):
        x = jax.random.normal(jax.random.key(sum(shape)), (3, *shape, 4))
        kernel = jax.random.normal(jax.random.key(1), (*kernel_hw, 4, 6))
        ours, ref = (
            jax.jit(_value_and_vjp, static_argnums=(0, 3, 4))(conv, x, kernel, strides, padding) for conv in convs
        )
        np.testing.assert_allclose(ours[0], ref[0], rtol=1e-5, atol=1e-5)
        for mine, theirs in zip(ours[1], ref[1]):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-4 * float(jnp.abs(theirs).max()))


def _value_and_vjp(conv, x, kernel, strides, padding):
    """conv's output and its cotangents (x, kernel) for a fixed random output gradient, in one jit."""
    y, vjp = jax.vjp(lambda x, k: conv(x, k, strides, padding), x, kernel)
    return y, vjp(jax.random.normal(jax.random.key(2), y.shape))


def test_the_registry_uses_the_expected_variety_of_max_pools():
    assert {window for window, _, _ in POOLS} == {(2, 2), (3, 3)}
    assert any(lo or hi for _, _, padding in POOLS for lo, hi in padding)  # ResNet's and ceil mode's


@pytest.mark.parametrize("window, strides, padding", one_fast(POOLS, len(POOLS) - 1))
def test_max_pool_values_and_gradient_equal_xlas_with_ties(window, strides, padding):
    """Rectified integers tie often; XLA gives each output's gradient to the first maximum of
    its window (row-major), and so must the CPU pool."""
    size = 2 * window[0] + 3
    x = jnp.maximum(jax.random.randint(jax.random.key(12), (5, size, size + 1, 3), -3, 3), 0).astype(jnp.float32)

    window_padding = [(0, 0), *padding, (0, 0)]

    def reference(x):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *window, 1), (1, *strides, 1), window_padding)

    def value_and_vjp(pool, x):  # jitted whole, as the library runs it
        y, vjp = jax.vjp(pool, x)
        return y, vjp(jax.random.normal(jax.random.key(13), y.shape))[0]

    ours, ref = (
        jax.jit(value_and_vjp, static_argnums=0)(pool, x)
        for pool in (lambda x: cpu_max_pool(x, window, strides, padding), reference)
    )
    np.testing.assert_array_equal(ours[0], ref[0])
    np.testing.assert_allclose(ours[1], ref[1], rtol=1e-6, atol=1e-6)


@pytest.mark.slow
def test_a_pool_after_batch_norm_routes_every_gradient_as_xla_does():
    """Under jit XLA may recompute the pool's input (batch norm, ReLU) in several fusions whose
    results differ in the last bit; the CPU pool must still find each window's maximum."""
    x = jax.random.normal(jax.random.key(14), (4, 8, 8, 6))
    scale = jax.random.normal(jax.random.key(15), (6,))

    def loss(x, impl):
        normed = (x - x.mean((0, 1, 2))) * jax.lax.rsqrt(x.var((0, 1, 2)) + 1e-5) * scale
        return jnp.sum(max_pool(jax.nn.relu(normed), 3, 2, padding=1, backend=BACKENDS[impl]) ** 2)

    grad = jax.jit(jax.grad(loss), static_argnums=1)
    np.testing.assert_allclose(grad(x, "cpu"), grad(x, "xla"), rtol=1e-5, atol=1e-6)


def test_summary_sees_the_same_convolutions_whichever_implementation_runs():
    """ResNet-18 at 32x32 ends on 1x1 maps, where the CPU path multiplies matrices instead of
    calling a convolution; jaxcnn.summary must still count every convolution's MACs and window."""
    rows = {}
    for impl in ("cpu", "xla"):
        stats = summary(create_model("resnet18", num_classes=10, backend=impl), (1, 32, 32, 3))
        rows[impl] = [(r.name, r.kind, r.shape, r.macs, r.rf) for r in stats.rows]
    assert rows["cpu"] == rows["xla"]
    assert sum(kind == "conv" for _, kind, _, _, _ in rows["cpu"]) == 20
    small = [
        shape for _, kind, shape, _, _ in rows["cpu"] if kind == "conv" and shape[1] * shape[2] <= GEMM_MAX_POSITIONS
    ]
    assert len(small) >= 10  # so these rows do cover convolutions that take the matrix-product path


@pytest.mark.parametrize("batch", [1, 7, pytest.param(2 * CHUNK + 5, marks=pytest.mark.slow)])
def test_kernel_gradient_sums_every_example_once(batch):
    """d/dkernel of sum(conv) is, per tap, the sum of the inputs it touches: a number we can
    compute with numpy alone for a 1x1 convolution (sum over N, H, W of x per input channel)."""
    x = jax.random.normal(jax.random.key(3), (batch, 4, 4, 2))
    kernel = jnp.ones((1, 1, 2, 3))
    grad = jax.grad(lambda k: cpu_conv(x, k, (1, 1), ((0, 0), (0, 0))).sum())(kernel)
    expected = np.broadcast_to(np.asarray(x).sum(axis=(0, 1, 2))[:, None], (2, 3))
    np.testing.assert_allclose(grad[0, 0], expected, rtol=1e-5)


@pytest.mark.slow
def test_bfloat16_gradients_match_xla_within_bf16_precision():
    x = jax.random.normal(jax.random.key(4), (CHUNK + 1, 9, 9, 8)).astype(jnp.bfloat16)
    kernel = jax.random.normal(jax.random.key(5), (3, 3, 8, 8)).astype(jnp.bfloat16)
    args = ((2, 2), ((1, 1), (1, 1)))
    ours = jax.grad(lambda x, k: cpu_conv(x, k, *args).astype(jnp.float32).sum(), argnums=(0, 1))(x, kernel)
    ref = jax.grad(lambda x, k: xla_conv(x, k, *args).astype(jnp.float32).sum(), argnums=(0, 1))(x, kernel)
    for mine, theirs in zip(ours, ref):
        assert mine.dtype == jnp.bfloat16
        scale = float(jnp.abs(theirs.astype(jnp.float32)).max())
        np.testing.assert_allclose(mine.astype(jnp.float32), theirs.astype(jnp.float32), atol=2e-2 * scale)


@pytest.mark.slow
def test_conv_module_has_flax_convs_parameters_and_result():
    import flax.linen as nn

    x = jax.random.normal(jax.random.key(6), (2, 8, 8, 3))
    ours = Conv(4, (3, 3), (2, 2), ((1, 1), (1, 1)), name="conv")
    theirs = nn.Conv(4, (3, 3), (2, 2), padding=((1, 1), (1, 1)), name="conv")
    v_ours, v_theirs = ours.init(jax.random.key(7), x), theirs.init(jax.random.key(7), x)
    assert jax.tree.map(jnp.shape, v_ours) == jax.tree.map(jnp.shape, v_theirs)
    for a, b in zip(jax.tree.leaves(v_ours), jax.tree.leaves(v_theirs)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.apply(v_ours, x), theirs.apply(v_theirs, x), rtol=1e-6, atol=1e-6)


def test_implementation_is_chosen_by_argument_then_environment_then_backend(monkeypatch):
    monkeypatch.delenv("JAXCNN_CONV", raising=False)
    assert resolve_backend().name == ("cpu" if jax.default_backend() == "cpu" else "xla")
    monkeypatch.setenv("JAXCNN_CONV", "xla")
    assert resolve_backend().name == "xla"
    assert resolve_backend("cpu").name == "cpu"
    monkeypatch.setenv("JAXCNN_CONV", "fast")
    with pytest.raises(ValueError, match=r"one of \('xla', 'cpu'\).*got 'fast'"):
        resolve_backend()


def test_the_backend_is_chosen_when_the_model_is_built_not_when_it_is_traced(monkeypatch):
    """ResNet-18 at 32x32 has 20 convolutions; the CPU backend computes those on maps of at most
    ``GEMM_MAX_POSITIONS`` positions as matrix products, so its jaxpr has fewer convolutions."""

    def convolutions(model):
        x = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        jaxpr = jax.make_jaxpr(model.apply)(variables, x)
        return sum(eqn.primitive.name == "conv_general_dilated" for eqn in _equations(jaxpr.jaxpr))

    monkeypatch.setenv("JAXCNN_CONV", "cpu")
    on_cpu = create_model("resnet18", num_classes=10)
    monkeypatch.setenv("JAXCNN_CONV", "xla")
    on_xla = create_model("resnet18", num_classes=10)
    assert (on_cpu.backend, on_xla.backend) == (CPU, XLA)
    assert convolutions(on_xla) == 20 > convolutions(on_cpu)
    monkeypatch.setenv("JAXCNN_CONV", "fast")  # read at construction only: tracing never looks
    assert convolutions(on_cpu) < 20


FAMILIES = [
    ("resnet20", {}, (CHUNK + 3, 28, 28, 1)),
    ("vgg11_bn", {"head": "gap", "stages": ((1, 8), (1, 16), (2, 16), (2, 16), (2, 16))}, (3, 32, 32, 3)),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, overrides, shape", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_a_train_step_gives_the_parameters_of_xlas_convolution(name, overrides, shape):
    tx = optimizer("sgd", 0.1, nesterov=True)
    batch = {
        "image": jax.random.normal(jax.random.key(8), shape),
        "label": jnp.arange(shape[0], dtype=jnp.int32) % 10,
        "index": jnp.arange(shape[0], dtype=jnp.int32),
    }
    params = {}
    for impl in ("cpu", "xla"):
        model = create_model(name, num_classes=10, in_channels=shape[-1], backend=impl, **overrides)
        state = create_train_state(model, jax.random.key(9), (1, *shape[1:]), tx)
        initial = state.params
        state, _ = jax.jit(make_train_step(model, tx))(state, batch)
        params[impl] = state.params
    assert_moved_and_equal(initial, params["cpu"], params["xla"])


@pytest.mark.slow
def test_an_inception_module_has_the_gradients_of_xlas_convolution():
    """GoogLeNet's module (1x1, 3x3, pooled branches, batch norm in train mode); the whole
    network takes minutes to compile twice on a 2-core CPU."""
    x = jax.random.normal(jax.random.key(10), (CHUNK + 1, 9, 9, 8))
    grads, initial = {}, None
    for impl in ("cpu", "xla"):
        conv = partial(ConvBN, norm=norm_layer(True, jnp.float32, None, 1e-3), backend=BACKENDS[impl])
        module = InceptionV1Module(4, 4, 6, 2, 3, 3, conv=conv, pool=partial(max_pool, backend=BACKENDS[impl]))
        variables = module.init(jax.random.key(11), x)
        initial = variables["params"]

        def loss(params, module=module, variables=variables):
            out, _ = module.apply({**variables, "params": params}, x, mutable=["batch_stats"])
            return jnp.sum(out**2)

        grads[impl] = jax.jit(jax.grad(loss))(initial)
    stepped = {impl: jax.tree.map(lambda p, g: p - 0.1 * g, initial, grads[impl]) for impl in grads}
    assert_moved_and_equal(initial, stepped["cpu"], stepped["xla"])


def assert_moved_and_equal(initial, ours, reference):
    """Every parameter took a step (so the comparison means something) and ours equal the
    reference's to float32 tolerance (relative to each tensor's scale: the two sum the same
    products in different orders; at least 1e-6, since a conv bias before batch norm has a zero
    gradient and receives only rounding noise of about 1e-8)."""
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), initial, reference)
    assert all(jax.tree.leaves(moved))
    for mine, theirs in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=max(1e-5 * float(jnp.abs(theirs).max()), 1e-6))
