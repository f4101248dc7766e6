"""as_unit_vector: the caller's embedding is never changed, whatever its type."""

from __future__ import annotations

import numpy as np
import pytest

from redis_semcache._vectors import as_unit_vector


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_callers_array_is_left_as_it_was(dtype):
    given = np.array([3.0, 4.0, 0.0], dtype=dtype)
    unit = as_unit_vector(given, 3)
    assert given.tolist() == [3.0, 4.0, 0.0]
    assert unit.dtype == np.float32 and unit.tolist() == pytest.approx([0.6, 0.8, 0.0])
    assert not np.shares_memory(unit, given)


def test_lists_and_arrays_of_the_same_numbers_give_the_same_bits():
    rng = np.random.default_rng(3)
    for _ in range(50):
        v = rng.standard_normal(384) * rng.uniform(1e-3, 1e3)
        as_list, as_f64, as_f32 = as_unit_vector(v.tolist()), as_unit_vector(v), as_unit_vector(v.astype(np.float32))
        assert as_list.tobytes() == as_f64.tobytes()
        # float32 input is normalised in float64 too: exactly float64's result on the rounded numbers
        assert as_f32.tobytes() == as_unit_vector(v.astype(np.float32).astype(np.float64)).tobytes()
        assert abs(float(np.linalg.norm(as_f64)) - 1.0) < 1e-6
