"""The readings schema of the device API, property-based: what is plausible is accepted and stored as sent, what is
not is refused with the index of every bad reading; no input makes the parser fail in any other way."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.readings import ACVPU, MAX_BATCH, ReadingsRejected, parse_batch, wire_value
from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS
from app.services.patients import MAX_FUTURE_SKEW

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NUMERIC = [k for k in VitalKind if k not in (VitalKind.CONSCIOUSNESS, VitalKind.ON_OXYGEN)]
# Few examples and no example database: the suite stays fast and leaves no files behind.
QUICK = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

mrns = st.text(st.characters(codec='ascii', categories=['L', 'N']), min_size=1, max_size=64)
# Naive bounds in the drawn timezone; zones never behind UTC keep every drawn instant at or before NOW + skew.
past = st.datetimes(min_value=datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None),
                    max_value=(NOW + MAX_FUTURE_SKEW).replace(tzinfo=None),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]))


@st.composite
def good_readings(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible reading as a device would send it."""
    kind = draw(st.sampled_from(list(VitalKind)))
    spec = VITAL_SPECS[kind]
    reading: dict[str, Any] = {'patient_mrn': draw(mrns), 'kind': kind.value,
                               'measured_at': draw(past).isoformat()}
    if kind is VitalKind.CONSCIOUSNESS:
        reading['value'] = draw(st.sampled_from(ACVPU))
    elif kind is VitalKind.ON_OXYGEN:
        reading['value'] = draw(st.sampled_from([True, False, 0, 1]))
    else:
        reading['value'] = draw(st.floats(spec.low, spec.high) | st.integers(int(spec.low), int(spec.high)))
        reading['unit'] = spec.unit
    if kind in (VitalKind.CONSCIOUSNESS, VitalKind.ON_OXYGEN) and draw(st.booleans()):
        reading['unit'] = spec.unit
    return reading


@st.composite
def bad_readings(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A reading with exactly one thing wrong, and a phrase the refusal must contain."""
    reading = draw(good_readings())
    kind = VitalKind(reading['kind'])
    spec = VITAL_SPECS[kind]
    flaw = draw(st.sampled_from(['kind', 'unit', 'value', 'naive', 'future', 'missing', 'extra']))
    if flaw == 'kind':
        reading['kind'] = draw(st.text(min_size=1, max_size=20).filter(lambda k: k.strip() not in set(VitalKind)))
        return reading, 'unknown kind'
    if flaw == 'unit':
        reading['unit'] = draw(st.text(max_size=16).filter(lambda u: u.strip() not in (spec.unit, '[degF]')))
        return reading, 'not "' if kind in NUMERIC else 'without a unit'
    if flaw == 'value' and kind in NUMERIC:
        too_high, too_low = st.floats(spec.high, 1e9, exclude_min=True), st.floats(-1e9, spec.low, exclude_max=True)
        reading['value'] = draw(too_high | too_low)
        return reading, 'outside the possible range'
    if flaw == 'value':
        reading['value'] = draw(st.sampled_from(['X', 'alert', 7, -1, 2.5]) if kind is VitalKind.CONSCIOUSNESS
                                else st.sampled_from([2, -1, 0.5, 'yes']))
        return reading, 'must be'
    if flaw == 'naive':
        reading['measured_at'] = draw(past).replace(tzinfo=None).isoformat()
        return reading, 'needs a timezone'
    if flaw == 'future':
        ahead = draw(st.floats(MAX_FUTURE_SKEW.total_seconds() + 1, 1e8))
        reading['measured_at'] = (NOW + timedelta(seconds=ahead)).isoformat()
        return reading, 'in the future'
    if flaw == 'missing':
        field = draw(st.sampled_from(['patient_mrn', 'kind', 'value', 'measured_at']))
        del reading[field]
        return reading, f'{field} is missing'
    reading[draw(st.sampled_from(['device', 'source', 'patient_id']))] = 1
    return reading, 'unknown field'


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


@QUICK
@given(st.lists(good_readings(), min_size=1, max_size=20))
def test_plausible_readings_are_accepted_as_sent(batch: list[dict[str, Any]]) -> None:
    readings = parse_batch(body(batch), NOW)

    assert len(readings) == len(batch)
    for sent, kept in zip(batch, readings, strict=True):
        assert kept.patient_mrn == sent['patient_mrn'].strip()
        assert kept.kind == sent['kind']
        assert kept.measured_at == datetime.fromisoformat(sent['measured_at'])
        assert kept.unit == VITAL_SPECS[kept.kind].unit
        assert wire_value(kept.kind, kept.value) == sent['value']


@QUICK
@given(good_readings())
def test_one_reading_may_be_sent_without_an_array(reading: dict[str, Any]) -> None:
    assert parse_batch(body(reading), NOW) == parse_batch(body([reading]), NOW)


@QUICK
@given(st.lists(good_readings(), min_size=1, max_size=20))
def test_a_body_read_straight_from_its_bytes_gives_what_the_general_path_gives(batch: list[dict[str, Any]]) -> None:
    # Pydantic's JSON parser takes a body that starts with '[' or '{'; leading whitespace beyond a few bytes, or another
    # encoding json.loads detects (UTF-16), takes the general path through the parsed document.
    compact = body(batch)

    readings = parse_batch(compact, NOW)

    assert parse_batch(b' ' * 40 + compact, NOW) == readings
    assert parse_batch(json.dumps(batch).encode('utf-16'), NOW) == readings


@QUICK
@given(st.lists(good_readings(), max_size=10), bad_readings(), st.data())
def test_one_bad_reading_rejects_the_batch_and_is_named(
        batch: list[dict[str, Any]], bad: tuple[dict[str, Any], str], data: st.DataObject) -> None:
    reading, phrase = bad
    index = data.draw(st.integers(0, len(batch)))
    batch.insert(index, reading)

    with pytest.raises(ReadingsRejected) as rejected:
        parse_batch(body(batch), NOW)

    [problem] = rejected.value.problems
    assert problem.index == index
    assert phrase in problem.message


@QUICK
@given(st.lists(st.one_of(good_readings().map(lambda r: (r, True)), bad_readings().map(lambda b: (b[0], False))),
                min_size=1, max_size=15))
def test_every_bad_reading_is_listed_in_order(batch: list[tuple[dict[str, Any], bool]]) -> None:
    bad = [index for index, (_, good) in enumerate(batch) if not good]
    document = [reading for reading, _ in batch]
    if not bad:
        assert len(parse_batch(body(document), NOW)) == len(batch)
        return
    with pytest.raises(ReadingsRejected) as rejected:
        parse_batch(body(document), NOW)
    assert [p.index for p in rejected.value.problems] == bad


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20)


@QUICK
@given(json_values)
def test_no_json_makes_the_parser_fail_other_than_by_refusing(document: Any) -> None:
    try:
        readings = parse_batch(body(document), NOW)
    except ReadingsRejected as rejected:
        assert rejected.problems
        return
    assert 1 <= len(readings) <= MAX_BATCH


@QUICK
@given(st.binary(max_size=50))
def test_bytes_that_are_not_json_are_refused(raw: bytes) -> None:
    try:
        json.loads(raw)
    except ValueError:
        with pytest.raises(ReadingsRejected, match='not valid JSON'):
            parse_batch(raw, NOW)


@QUICK
@given(st.floats(-400, 400))
def test_fahrenheit_is_stored_as_celsius_to_a_hundredth(fahrenheit: float) -> None:
    celsius = (fahrenheit - 32) * 5 / 9
    reading = {'patient_mrn': 'M1', 'kind': 'temperature', 'value': fahrenheit, 'unit': '[degF]',
               'measured_at': '2026-03-02T07:00:00Z'}
    try:
        [kept] = parse_batch(body(reading), NOW)
    except ReadingsRejected as rejected:
        assert not 20 <= round(celsius, 2) <= 46
        assert 'outside the possible range' in rejected.problems[0].message
        return
    assert kept.unit == 'Cel'
    assert kept.value == pytest.approx(celsius, abs=0.005)
