"""Hypothesis: any bad argument to TrainConfig or image_folder meets a ValueError that names the
argument and the value, never a TypeError from deep inside or a silently accepted value; any bytes
named like an image decode or are refused with the file named."""

import dataclasses
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxcnn.data import image_folder
from jaxcnn.training import TrainConfig
from jaxcnn.training.config import ConfigError

# The documented contract of each field (TrainConfig's docstring), stated here independently.
KINDS = {
    "positive int": ["epochs", "batch_size", "eval_batch_size", "keep_checkpoints"],
    "positive int or None": ["max_steps", "image_size", "num_processes"],
    "int >= 0": ["seed", "pad", "checkpoint_every"],
    "int >= 0 or None": ["process_id"],
    "finite > 0": ["lr"],
    "finite >= 0": ["weight_decay", "warmup_epochs"],
    "[0, 1)": ["momentum", "label_smoothing"],
    "bool": ["nesterov", "flip", "resume", "progress", "distributed"],
}
FIELDS = [(field, kind) for kind, fields in KINDS.items() for field in fields]


def allowed(kind: str, v) -> bool:
    is_int = isinstance(v, int) and not isinstance(v, bool)
    is_real = (is_int or isinstance(v, float)) and math.isfinite(v)
    return {
        "positive int": is_int and v >= 1,
        "positive int or None": v is None or (is_int and v >= 1),
        "int >= 0": is_int and v >= 0,
        "int >= 0 or None": v is None or (is_int and v >= 0),
        "finite > 0": is_real and v > 0,
        "finite >= 0": is_real and v >= 0,
        "[0, 1)": is_real and 0 <= v < 1,
        "bool": isinstance(v, bool),
    }[kind]


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["0.1", "nan", "1", "", "inf"]),
)


@settings(max_examples=300, deadline=None)
@given(field_kind=st.sampled_from(FIELDS), value=VALUES)
def test_train_config_accepts_what_its_contract_allows_and_names_the_field_otherwise(field_kind, value):
    field, kind = field_kind
    try:
        dataclasses.replace(TrainConfig(epochs=10**9 + 1), **{field: value})
    except ConfigError as err:
        assert err.field == field and repr(value) in str(err) and str(err).startswith(f"{field}: expected ")
        assert not allowed(kind, value) or field == "warmup_epochs"  # warmup must also stay below epochs
        return
    assert allowed(kind, value), f"{field}={value!r} was accepted"


@settings(max_examples=100, deadline=None)
@given(
    value=st.one_of(st.integers(-5, 0), st.floats(), st.text(max_size=3), st.booleans(), st.none()),
    which=st.sampled_from(["image_size", "skip_bad", "workers"]),
)
def test_image_folder_refuses_bad_arguments_naming_them(value, which, tmp_path_factory):
    if which == "skip_bad" and isinstance(value, bool) or which == "workers" and value is None:
        return  # valid values of those arguments
    arguments = {"image_size": 8, "skip_bad": False, "workers": None, which: value}
    with pytest.raises(ValueError, match=rf"^{which} must be .*, got {re.escape(repr(value))}$"):
        image_folder(tmp_path_factory.getbasetemp(), **arguments)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm"]))
def test_any_bytes_named_like_an_image_decode_or_are_refused_naming_the_file(data, suffix, tmp_path):
    (tmp_path / "c").mkdir(exist_ok=True)
    for old in (tmp_path / "c").iterdir():
        old.unlink()
    path = tmp_path / "c" / f"x{suffix}"
    path.write_bytes(data)
    try:
        ds = image_folder(tmp_path, image_size=4)
    except ValueError as err:
        assert str(err).startswith(f"cannot decode image {path}: ")
        return
    assert ds.images.shape == (1, 4, 4, 3) and ds.images.dtype == np.uint8
