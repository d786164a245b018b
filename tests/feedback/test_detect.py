"""feedback/detect.h's drift detectors against river 0.26.1's, index by index.

Each stream (numpy, fixed seeds, 100,000 values with abrupt and gradual
changes of the error rate or the error's size) runs through river's detector
and through detect_main with the same parameters; the indices where
warning_detected and drift_detected hold after an update must be the same
lists, and each list the test relies on must be non-empty. detect_main also
saves the detector halfway (and just after a drift, when a reset is pending),
loads it and checks that the copy answers as the original did."""
import json

import numpy as np
import pytest
from river import drift

from conftest import run_driver, run_driver_raw

N = 100_000
RIVER = {
    "ddm": drift.binary.DDM,
    "eddm": drift.binary.EDDM,
    "hddm_a": drift.binary.HDDMA,
    "hddm_w": drift.binary.HDDMW,
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
}
BINARY = {"ddm", "eddm", "hddm_a", "hddm_w"}


def _bits(p, seed):
    return (np.random.default_rng(seed).random(N) < p).astype(int).tolist()


def _abs_err(mu, sigma, seed):
    return np.abs(np.random.default_rng(seed).normal(mu, sigma)).tolist()


def _steps(levels):
    """Piecewise-constant levels: [(start, value), ...] over N."""
    out = np.empty(N)
    for (start, v), (end, _) in zip(levels, levels[1:] + [(N, None)]):
        out[start:end] = v
    return out


def _ramps(points):
    """Piecewise-linear through [(index, value), ...] over N."""
    xs, ys = zip(*points)
    return np.interp(np.arange(N), xs, ys)


STREAMS = {
    # a classifier's errors: the rate jumps up, then falls back lower
    "bits_abrupt": lambda: _bits(_steps([(0, 0.10), (40_000, 0.30), (70_000, 0.05)]), 1),
    # the rate creeps up over 30,000 values and back down over 20,000
    "bits_gradual": lambda: _bits(
        _ramps([(0, 0.05), (30_000, 0.05), (60_000, 0.35), (80_000, 0.10), (N, 0.10)]), 2),
    # a regressor's absolute errors: the bias jumps, then the spread
    "real_abrupt": lambda: _abs_err(_steps([(0, 0.0), (35_000, 0.8), (70_000, 0.2)]),
                                    _steps([(0, 1.0), (55_000, 2.0), (85_000, 0.5)]), 3),
    # the bias drifts up and down slowly
    "real_gradual": lambda: _abs_err(
        _ramps([(0, 0.0), (20_000, 0.0), (60_000, 1.5), (90_000, 0.3), (N, 0.3)]), 1.0, 4),
}
_cache = {}


def stream(name):
    if name not in _cache:
        _cache[name] = STREAMS[name]()
    return _cache[name]


def river_positions(spec, xs):
    params = {k: v for k, v in spec.items() if k != "type"}
    det = RIVER[spec["type"]](**params)
    warnings, drifts = [], []
    for i, x in enumerate(xs):
        det.update(x)
        if getattr(det, "warning_detected", False):
            warnings.append(i)
        if det.drift_detected:
            drifts.append(i)
    return warnings, drifts


def driver(spec, xs, split=None):
    args = [json.dumps(spec)] + (["--split", str(split)] if split is not None else [])
    return run_driver("detect_main", args, "".join(f"{x!r}\n" for x in xs))


# (spec, stream, whether the stream must raise warnings too)
CASES = [
    ({"type": "ddm"}, "bits_abrupt", True),
    ({"type": "ddm"}, "bits_gradual", True),
    ({"type": "ddm", "warm_start": 500, "warning_threshold": 1.5, "drift_threshold": 2.5},
     "bits_gradual", True),
    ({"type": "eddm"}, "bits_abrupt", True),
    ({"type": "eddm", "warm_start": 100, "alpha": 0.8, "beta": 0.7}, "bits_gradual", True),
    ({"type": "hddm_a"}, "bits_abrupt", True),
    ({"type": "hddm_a"}, "bits_gradual", True),
    ({"type": "hddm_a", "drift_confidence": 0.0001, "warning_confidence": 0.01,
      "two_sided_test": True}, "bits_abrupt", True),
    ({"type": "hddm_w"}, "bits_abrupt", True),
    ({"type": "hddm_w", "drift_confidence": 0.0005, "warning_confidence": 0.02,
      "lambda_val": 0.1, "two_sided_test": True}, "bits_gradual", True),
    ({"type": "adwin"}, "real_abrupt", False),
    ({"type": "adwin"}, "real_gradual", False),
    ({"type": "adwin"}, "bits_abrupt", False),
    ({"type": "adwin", "delta": 0.05, "clock": 1, "max_buckets": 3, "min_window_length": 20,
      "grace_period": 200}, "real_gradual", False),
    ({"type": "adwin", "delta": 0.0001, "clock": 7, "max_buckets": 1, "min_window_length": 1,
      "grace_period": 0}, "bits_gradual", False),
    # a loose delta: many drifts on small windows, each cut test near its bound
    ({"type": "adwin", "delta": 0.9, "clock": 1}, "real_gradual", False),
    ({"type": "adwin", "delta": 0.3, "clock": 1, "min_window_length": 2, "grace_period": 5},
     "bits_abrupt", False),
    ({"type": "adwin", "delta": 0.2, "clock": 3, "max_buckets": 2}, "real_abrupt", False),
    ({"type": "page_hinkley"}, "real_abrupt", False),
    ({"type": "page_hinkley"}, "real_gradual", False),
    ({"type": "page_hinkley", "mode": "up", "threshold": 25.0, "delta": 0.01,
      "alpha": 0.999, "min_instances": 100}, "real_gradual", False),
    ({"type": "page_hinkley", "mode": "down", "threshold": 10.0, "delta": 0.001},
     "real_abrupt", False),
    ({"type": "page_hinkley", "mode": "both", "threshold": 30.0, "alpha": 1.0},
     "real_gradual", False),
    ({"type": "page_hinkley", "mode": "down", "threshold": 15.0}, "bits_abrupt", False),
]


def _id(case):
    spec, name, _ = case
    extra = ",".join(f"{k}={v}" for k, v in spec.items() if k != "type")
    return f"{spec['type']}[{extra or 'defaults'}]-{name}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_same_positions_as_river(case):
    spec, name, warns = case
    xs = stream(name)
    warnings, drifts = river_positions(spec, xs)
    assert drifts, f"{_id(case)}: the stream must make river drift"
    assert not warns or warnings, f"{_id(case)}: the stream must make river warn"
    # saved and loaded halfway, and again right after the first drift, with
    # the reset still pending
    for split in (N // 2, drifts[0] + 1):
        got = driver(spec, xs, split)
        assert got["split_equal"] is True
        assert got["count"] == N
        assert got["drifts"] == drifts
        assert got["warnings"] == warnings


def test_an_unsaved_run_matches_too():
    spec, xs = {"type": "hddm_w", "two_sided_test": True}, stream("bits_abrupt")
    warnings, drifts = river_positions(spec, xs)
    got = driver(spec, xs)
    assert drifts and warnings
    assert (got["warnings"], got["drifts"]) == (warnings, drifts)
    assert "split_equal" not in got


@pytest.mark.parametrize("type_", sorted(RIVER))
def test_defaults_are_rivers(type_):
    """The written-back spec holds every parameter, with river's default."""
    got = driver({"type": type_}, [])["spec"]
    assert got.pop("type") == type_
    assert got == RIVER[type_]()._get_params()
    # and it reads back as the same spec
    assert driver({"type": type_, **got}, [])["spec"] == {"type": type_, **got}


def test_spec_written_back_with_given_values():
    spec = {"type": "page_hinkley", "mode": "up", "threshold": 12.5, "min_instances": 7}
    got = driver(spec, [])["spec"]
    assert got == {"type": "page_hinkley", "min_instances": 7, "delta": 0.005,
                   "threshold": 12.5, "alpha": 0.9999, "mode": "up"}


def refused(spec, values=()):
    arg = spec if isinstance(spec, str) else json.dumps(spec)
    rc, out, err = run_driver_raw("detect_main", [arg], "".join(f"{v}\n" for v in values))
    assert rc == 1, (rc, out, err)
    assert out == ""
    return err


@pytest.mark.parametrize("spec,message", [
    ("[1, 2]", "A drift detector spec must be a JSON object"),
    ({"delta": 0.1}, "Missing field 'type' in drift detector spec: expected ddm, eddm, "
                     "hddm_a, hddm_w, adwin or page_hinkley"),
    ({"type": "kswin"}, "Invalid value for 'type' in drift detector spec: expected ddm, eddm, "
                        "hddm_a, hddm_w, adwin or page_hinkley"),
    ({"type": 3}, "Invalid value for 'type'"),
    ({"type": "adwin", "dleta": 0.1}, "Unknown parameter 'dleta' for drift detector adwin: "
     "expected type, delta, clock, max_buckets, min_window_length, grace_period"),
    ({"type": "ddm", "delta": 0.1}, "Unknown parameter 'delta' for drift detector ddm"),
    ({"type": "adwin", "delta": "0.1"}, "Invalid value for 'delta' in drift detector adwin: "
                                        "expected a number > 0 and < 1"),
    ({"type": "adwin", "delta": 1.5}, "Invalid value for 'delta' in drift detector adwin: "
                                      "expected a number > 0 and < 1"),
    ({"type": "adwin", "clock": 2.5}, "Invalid value for 'clock' in drift detector adwin: "
                                      "expected an integer from 1 to 2147483647"),
    ({"type": "adwin", "clock": 0}, "'clock' in drift detector adwin: expected an integer "
                                    "from 1"),
    ({"type": "adwin", "max_buckets": 5000}, "'max_buckets' in drift detector adwin: "
                                             "expected an integer from 1 to 1000"),
    ({"type": "ddm", "warm_start": -1}, "'warm_start' in drift detector ddm: expected an "
                                        "integer from 0 to 2147483647"),
    ({"type": "ddm", "drift_threshold": 0}, "'drift_threshold' in drift detector ddm: "
                                            "expected a number > 0"),
    ({"type": "hddm_a", "two_sided_test": 1}, "'two_sided_test' in drift detector hddm_a: "
                                              "expected true or false"),
    ({"type": "hddm_w", "lambda_val": 0}, "'lambda_val' in drift detector hddm_w: expected "
                                          "a number > 0 and <= 1"),
    ({"type": "page_hinkley", "mode": "sideways"}, "Invalid value for 'mode' in drift "
     "detector page_hinkley: expected \"up\", \"down\" or \"both\""),
    ({"type": "page_hinkley", "threshold": -3}, "'threshold' in drift detector page_hinkley: "
                                                "expected a number > 0"),
    ({"type": "eddm", "alpha": 0.8, "beta": 0.85}, "Invalid value for 'beta' in drift "
     "detector eddm: expected at most alpha (0.8)"),
])
def test_bad_spec_refused(spec, message):
    assert message in refused(spec)


@pytest.mark.parametrize("type_", sorted(BINARY))
@pytest.mark.parametrize("value", ["0.5", "2", "-1", "nan"])
def test_binary_detectors_take_only_0_and_1(type_, value):
    err = refused({"type": type_}, ["0", "1", "1", value])
    assert f"Drift detector {type_} takes only 0 (a correct prediction) or 1 (an error)" in err


@pytest.mark.parametrize("type_", ["adwin", "page_hinkley"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_real_detectors_take_finite_values(type_, value):
    assert f"Drift detector {type_} takes finite numbers" in refused({"type": type_},
                                                                      ["0.3", value])


def test_real_detectors_take_any_finite_value():
    xs = [0.0, 1.0, 2.5, -3.0, 1e300] * 20
    for type_ in ("adwin", "page_hinkley"):
        warnings, drifts = river_positions({"type": type_}, xs)
        got = driver({"type": type_}, xs)
        assert (got["warnings"], got["drifts"]) == (warnings, drifts)
