"""Parameter validation, property-based: any value of any type for any parameter of any experiment is either
accepted as a value of the declared type and range, or refused with one line naming the parameter."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from labdeck.engine import DataError, ParamError, registry
from labdeck.engine.params import BUDGET, parse_budget

PARAMS = [(spec.name, p.name) for spec in registry.specs() for p in spec.params]

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "", " ", "0", "-1", "1.5", "true", "csv:/dev/zero",
                     "file:/dev/zero", "folder:/nonexistent", "csv:", "file:", "%", "99999999999999999999"]),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(PARAMS), value=ANY)
def test_any_value_is_accepted_as_declared_or_refused_in_one_line_naming_the_key(key, value):
    experiment, name = key
    spec = registry.get(experiment)
    param = spec.params[name]
    try:
        got = param.coerce(value)
    except (ParamError, DataError) as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{name}:"), message
        return
    kind = {"int": int, "float": float, "str": str, "bool": bool}[param.type]
    assert isinstance(got, kind) and not (param.type == "int" and isinstance(got, bool))
    if param.type in ("int", "float"):
        assert math.isfinite(got)
        assert param.low is None or got >= param.low
        assert param.high is None or got <= param.high
    if param.choices:
        assert got in param.choices


@settings(max_examples=200, deadline=None)
@given(value=ANY)
def test_a_budget_is_finite_seconds_or_refused_in_one_line(value):
    try:
        got = parse_budget(value)
    except ParamError as exc:
        assert str(exc).startswith("budget:") and "\n" not in str(exc)
        try:
            BUDGET.coerce(value)
        except ParamError as form:
            assert str(form).startswith("budget:")
        return
    assert got is None or (math.isfinite(got) and got > 0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(PARAMS), value=ANY)
def test_the_cross_checks_refuse_in_one_line_too(key, value):
    """The whole resolve, the experiment's own checks included (data sources are read, sizes are checked)."""
    experiment, name = key
    try:
        values = registry.get(experiment).resolve({name: value})
    except (ParamError, DataError) as exc:
        assert "\n" not in str(exc)
        return
    assert set(values) == {p.name for p in registry.get(experiment).params}


def test_sources_that_never_end_or_hang_are_refused(tmp_path):
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for experiment, key, value in (("sequence", "source", "csv:/dev/zero"), ("sequence", "source", f"csv:{fifo}"),
                                   ("language", "corpus", "file:/dev/zero"), ("language", "corpus", f"file:{fifo}")):
        try:
            registry.get(experiment).resolve({key: value})
        except DataError as exc:
            assert "not a regular file" in str(exc)
        else:
            raise AssertionError(f"{key}={value} was accepted")


def test_data_that_would_fail_a_run_is_refused_before(tmp_path):
    csv = tmp_path / "series.csv"
    csv.write_text("t,y\n" + "\n".join(f"{i},{i % 7}" for i in range(100)) + "\n100,inf\n")
    refused(("sequence", {"source": f"csv:{csv}:y"}), "'inf' is not a finite number")
    csv.write_text("t,y\n" + "\n".join(f"{i},{'N/A' if i == 5 else i % 7}" for i in range(100)) + "\n")
    values = registry.get("sequence").resolve({"source": f"csv:{csv}:y", "window": "10", "horizon": "10"})
    assert values["source"].endswith(":y")  # one N/A cell is a missing value, not a refused column
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(b"a" * 10_000 + b"\xff\xfe bad bytes")
    refused(("language", {"corpus": f"file:{corpus}"}), "not UTF-8 text")
    corpus.write_text("x")
    refused(("language", {"corpus": f"file:{corpus}"}), "too few")
    refused(("vision", {"image_size": "8"}), "image_size: must be an integer from 16")
    refused(("sequence", {"length": "5000000", "window": "2000"}), "GiB of windows")


def refused(case, fragment: str) -> None:
    experiment, overrides = case
    try:
        registry.get(experiment).resolve(overrides)
    except (ParamError, DataError) as exc:
        assert fragment in str(exc), str(exc)
    else:
        raise AssertionError(f"{overrides} was accepted")


def in_range(key):
    """Values of the declared type inside the declared range: most of them pass the checks."""
    param = registry.get(key[0]).params[key[1]]
    if param.choices:
        return st.sampled_from(param.choices)
    if param.type == "bool":
        return st.booleans()
    if param.type == "int":
        return st.integers(param.low, param.high)
    if param.type == "float":
        return st.floats(param.low, param.high)
    return st.sampled_from([param.default, "", "wave", "stdlib", "csv:missing.csv", "folder:/"])


CORPUS = "\n".join(f"the lab trains a small model on line {i} of a tiny corpus, and it learns" for i in range(200))
SMALL = {  # settings that train a batch in a blink; the drawn value then overrides one of them
    "sequence": {"length": "300", "hidden": "8", "window": "10", "horizon": "20", "batch_size": "32"},
    "vision": {"dataset": "shapes", "shapes_count": "200", "image_size": "16", "width": "4", "batch_size": "32"},
    "language": {"max_chars": "4000", "embedding": "8", "hidden": "16", "bptt": "16", "batch_size": "8",
                 "sample_tokens": "5"},
}


# sizes past which a valid run costs minutes on a 2-core CPU (accepted all the same; not trained here)
COSTLY = {"width": 32, "hidden": 64, "embedding": 64, "layers": 3, "depth": 3, "image_size": 64, "window": 200,
          "horizon": 200, "length": 20_000, "bptt": 256, "max_chars": 200_000, "shapes_count": 5000,
          "batch_size": 4096, "sample_tokens": 500, "vocab": 20_000, "epochs": 1000}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(drawn=st.sampled_from(PARAMS).flatmap(
    lambda key: st.tuples(st.just(key), st.one_of(ANY, in_range(key), in_range(key)))))
def test_a_value_the_checks_accept_starts_a_run_that_trains(drawn, tmp_path_factory, monkeypatch, shared_cache):
    """The other half of the promise: what resolve accepts does not fail the run it starts."""
    from labdeck.engine import Store, runs

    (experiment, name), value = drawn
    tmp = tmp_path_factory.mktemp("accepted")
    monkeypatch.setenv("LABDECK_DATA", str(tmp / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    corpus = tmp / "corpus.txt"
    corpus.write_text(CORPUS)
    overrides = dict(SMALL[experiment], **({"corpus": f"file:{corpus}"} if experiment == "language" else {}))
    overrides[name] = value
    store = Store(tmp / "home")
    try:
        run_id = runs.create(store, experiment, overrides, budget=0.3, budget_kind="train")
    except (ParamError, DataError) as exc:
        assert "\n" not in str(exc)
        event("refused")
        return
    params = store.get(run_id).params
    if name in COSTLY and isinstance(params[name], (int, float)) and params[name] > COSTLY[name]:
        event("accepted; too costly to train in a test")  # width=1001 is valid: it trains for minutes on a CPU
        return
    event("started")
    ended = runs.run_here(store, run_id)
    if ended.reason == "download":  # a real dataset, and this machine is offline: the run says so
        return
    assert ended.status == "finished", (experiment, name, value, ended.message)
    assert store.get(run_id).epochs >= 1
