"""Value expressions: forward values and local derivatives against jax.grad, the course's
tie rule for max, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import autodiff as ad

# Each function takes the namespace of exp/log/maximum (jnp or jaxcnn.autodiff), so the very
# same expression is differentiated by jax.grad and by our engine.
EXPRESSIONS = {
    "add": lambda ops, a, b: a + b,
    "radd": lambda ops, a, b: 2.5 + a,
    "sub": lambda ops, a, b: a - b,
    "rsub": lambda ops, a, b: 2.5 - b,
    "mul": lambda ops, a, b: a * b,
    "rmul": lambda ops, a, b: 2.5 * a,
    "div": lambda ops, a, b: a / b,
    "rdiv": lambda ops, a, b: 2.5 / b,
    "neg": lambda ops, a, b: -a,
    "exp": lambda ops, a, b: ops.exp(a * b),
    "log": lambda ops, a, b: ops.log(a * b),
    "maximum": lambda ops, a, b: ops.maximum(a, b),
    "maximum_of_constant": lambda ops, a, b: ops.maximum(a - b, 0.0),
    "composite": lambda ops, a, b: ops.log(ops.exp(a) + ops.exp(b)) / (a - 3.0 * b) - a * a,
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@pytest.mark.parametrize("a, b", [(1.5, 0.7), (0.3, 2.0)])
def test_value_and_gradient_equal_jax(name, a, b):
    f = EXPRESSIONS[name]
    with jax.enable_x64(True):
        expected = f(jnp, jnp.float64(a), jnp.float64(b))
        expected_grads = jax.grad(lambda a, b: f(jnp, a, b), argnums=(0, 1))(jnp.float64(a), jnp.float64(b))
    x, y = ad.Value(a), ad.Value(b)
    out = f(ad, x, y)
    assert out.data == pytest.approx(float(expected), rel=1e-12)
    # A variable the expression does not use is not in its graph, so ask only for used ones.
    nodes = set(ad.topological_order(out))
    for leaf, expected_grad in zip((x, y), expected_grads):
        got = ad.grad(out, [leaf])[0] if leaf in nodes else 0.0
        assert got == pytest.approx(float(expected_grad), rel=1e-12, abs=1e-12)


def test_local_derivatives_are_the_courses():
    x1, x2 = ad.Value(3.0), ad.Value(-2.0)
    assert (x1 * x2).local_grads == (-2.0, 3.0)  # f_x1 = x2, f_x2 = x1
    assert (x1 + x2).local_grads == (1.0, 1.0)
    assert ad.maximum(x1, x2).local_grads == (1.0, 0.0)
    assert ad.maximum(x2, x1).local_grads == (0.0, 1.0)


def test_max_tie_gives_both_arguments_derivative_one():
    # The course: f_x1 = 1 if x1 >= x2, f_x2 = 1 if x2 >= x1; at a tie both hold.
    x1, x2 = ad.Value(4.0), ad.Value(4.0)
    out = ad.maximum(x1, x2)
    assert out.data == 4.0
    assert ad.grad(out, [x1, x2]) == [1.0, 1.0]


def test_relu_as_maximum_with_zero():
    for x, expected in [(-1.0, 0.0), (2.0, 1.0), (0.0, 1.0)]:  # 0 >= 0: the tie rule
        v = ad.Value(x)
        assert ad.grad(ad.maximum(v, 0.0), [v]) == [expected]


def test_a_user_defined_node_with_repeated_parent():
    x = ad.Value(3.0)
    square = ad.Value(x.data**2, parents=(x,), local_grads=(2 * x.data,), op="square")
    assert ad.grad(square * x, [x]) == [27.0]  # d(x^3)/dx = 3 x^2


def test_log_of_non_positive_number_is_rejected():
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="log needs a positive input; got"):
            ad.log(ad.Value(bad))


def test_division_by_zero_is_rejected():
    with pytest.raises(ZeroDivisionError, match="which is 0"):
        ad.Value(1.0) / 0.0


@pytest.mark.parametrize(
    "bad, message",
    [
        ("2.0", "real number; got str"),
        (True, "real number; got bool"),
        (np.ones(3), r"shape \(3,\); make one Value per element"),
        (jnp.float32(1.0), r"convert a 0-d array with float\(x\)"),
    ],
)
def test_value_needs_a_real_number(bad, message):
    with pytest.raises(TypeError, match=message):
        ad.Value(bad)
    with pytest.raises(TypeError, match=message):
        ad.Value(1.0) + bad


def test_inner_node_needs_value_parents_and_one_gradient_per_edge():
    x = ad.Value(1.0)
    with pytest.raises(TypeError, match="parents must be Value nodes; got float"):
        ad.Value(2.0, parents=(1.0,), local_grads=(1.0,))
    with pytest.raises(ValueError, match="got 2 parents and 1 local gradients"):
        ad.Value(2.0, parents=(x, x), local_grads=(1.0,))
