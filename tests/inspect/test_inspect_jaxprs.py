"""Reading a scan's operands from its structure, on any JAX: the split must be the one the
traced function was written with (and, on JAX versions that still record them, JAX's own counts)."""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn.inspect.jaxprs import scan_layout


def scan_equation(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    return next(eqn for eqn in jaxpr.eqns if eqn.primitive.name == "scan")


def two_carries_two_xs_one_const(carry, xs):
    weights = jnp.arange(3.0)  # closed over: a const of the scan

    def body(carry, x):
        a, b = carry
        row, col = x
        return (a * row.sum() + weights.sum(), b + col), (a, row * 2)

    return jax.lax.scan(body, carry, xs)


@pytest.mark.parametrize("length", [1, 5])
def test_operands_split_as_the_function_wrote_them(length):
    carry = (jnp.float32(1.0), jnp.zeros(4))
    xs = (jnp.ones((length, 6)), jnp.ones((length, 4)))
    eqn = scan_equation(two_carries_two_xs_one_const, carry, xs)
    layout = scan_layout(eqn)
    assert (layout.consts, layout.carry, layout.length) == (1, 2, length)
    assert len(layout.body.invars) == len(eqn.invars)
    if "num_consts" in eqn.params:  # JAX up to 0.10 records the counts: they must agree
        assert (layout.consts, layout.carry) == (eqn.params["num_consts"], eqn.params["num_carry"])


def test_a_carry_shaped_like_a_stacked_output_is_still_a_carry():
    # carry [3, 2] and a per-step output [2] stacked to [3, 2]: the same outer shape
    def fn(carry, xs):
        return jax.lax.scan(lambda c, x: (c * x.sum(), c[0] + x), carry, xs)

    layout = scan_layout(scan_equation(fn, jnp.ones((3, 2)), jnp.ones((3, 2))))
    assert (layout.consts, layout.carry, layout.length) == (0, 1, 3)
