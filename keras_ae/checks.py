"""Argument checks that fail early, in Keras' voice.

Every check raises `ValueError` naming the argument, what was received and
what is allowed, so that bad input is refused before any file is written.
"""

import numbers

import numpy as np


def check_positive_int(name, value):
    """Returns `value` if it is an integer > 0, raises `ValueError` otherwise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value <= 0
    ):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_positive_ints(name, values, allow_empty=False):
    """Returns `values` as a tuple of integers > 0, or raises.

    The tuple must not be empty unless `allow_empty` is `True`.
    """
    try:
        checked = tuple(values)
    except TypeError:
        checked, allow_empty = (), False
    if (not checked and not allow_empty) or any(
        isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0
        for v in checked
    ):
        raise ValueError(
            f"`{name}` must be a {'' if allow_empty else 'non-empty '}tuple "
            f"of positive integers. Received: {name}={values!r}"
        )
    return tuple(int(v) for v in checked)


def check_number(name, value, minimum=None, maximum=None):
    """Returns `value` as a float if it is a finite number in [minimum, maximum].

    `None` leaves that side unbounded.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if minimum is not None and maximum is not None:
            allowed = f"a number in [{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            allowed = f"a finite number >= {minimum:g}"
        elif maximum is not None:
            allowed = f"a finite number <= {maximum:g}"
        else:
            allowed = "a finite number"
        raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")
    return float(value)


def check_non_negative_number(name, value):
    """Returns `value` as a float if it is a finite number >= 0."""
    return check_number(name, value, minimum=0)


def check_bool(name, value):
    """Returns `value` if it is a bool (not merely truthy), raises otherwise."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return value


def check_choice(name, value, allowed):
    """Returns `value` if it is one of `allowed`, raises `ValueError` otherwise."""
    if value not in allowed:
        raise ValueError(
            f"Unknown `{name}`. Received: {name}={value!r}; "
            f"allowed: {', '.join(repr(a) for a in allowed)}."
        )
    return value


def check_shape(name, shape, min_rank=1, max_rank=None):
    """Returns `shape` as a tuple of positive ints of an allowed rank."""
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(
            f"`{name}` must be a tuple of positive integers. "
            f"Received: {name}={shape!r}"
        ) from None
    valid = all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
        for d in shape
    )
    if not valid or len(shape) < min_rank or (
        max_rank is not None and len(shape) > max_rank
    ):
        rank = (
            f"{min_rank}" if max_rank == min_rank
            else f"{min_rank} to {max_rank}" if max_rank
            else f"at least {min_rank}"
        )
        raise ValueError(
            f"`{name}` must be a tuple of {rank} positive integers "
            f"(without the batch dimension). Received: {name}={shape!r}"
        )
    return tuple(int(d) for d in shape)


def check_finite(name, array):
    """Raises `ValueError` if `array` holds NaN or infinite values."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"`{name}` must hold only finite values. Received: {name} with "
            f"{bad} NaN or infinite value(s) out of {array.size}."
        )
    return array


def check_unit_range(name, array):
    """Raises `ValueError` unless every value of `array` lies in [0, 1]."""
    array = check_finite(name, array)
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(
            f"`{name}` must be scaled to [0, 1]. Received: {name} with values "
            f"in [{float(array.min()):.4g}, {float(array.max()):.4g}]."
        )
    return array


def check_seed(name, value):
    """Returns `value` if it is `None` or an integer >= 0."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 0
    ):
        raise ValueError(
            f"`{name}` must be a non-negative integer or None. "
            f"Received: {name}={value!r}"
        )
    return int(value)
