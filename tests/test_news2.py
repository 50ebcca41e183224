"""NEWS2 scoring against the RCP 2017 chart: every band edge of every parameter, both SpO2 scales, triggers."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain import VitalKind
from app.domain.news2 import NEWS2_PARAMETERS, TriggerLevel, assess, explain, sub_score, trigger_level
from app.domain.observations import DEFAULT_NEWS2_MAX_AGE_MINUTES

RR, SPO2, O2, SBP, HR, ACVPU, TEMP = (VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.ON_OXYGEN, VitalKind.SYSTOLIC_BP,
                                      VitalKind.HEART_RATE, VitalKind.CONSCIOUSNESS, VitalKind.TEMPERATURE)

# (value, points) on both sides of every edge of the chart, plus the extremes a device can send.
CHART = {
    RR: [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
    SBP: [(0, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3)],
    HR: [(0, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3),
         (250, 3)],
    TEMP: [(25.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2),
           (42.0, 2)],
    ACVPU: [(0, 0), (1, 3), (2, 3), (3, 3), (4, 3)],
    O2: [(0, 0), (1, 2)],
}
SPO2_SCALE_1 = [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SPO2_SCALE_2_AIR = [(50, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (97, 0),
                    (100, 0)]
SPO2_SCALE_2_OXYGEN = [(50, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 1), (94, 1),
                       (95, 2), (96, 2), (97, 3), (100, 3)]


@pytest.mark.parametrize('kind, value, points', [(k, v, p) for k, rows in CHART.items() for v, p in rows])
@pytest.mark.parametrize('spo2_scale', [1, 2])
def test_every_band_edge_of_the_chart(kind: VitalKind, value: float, points: int, spo2_scale: int) -> None:
    assert sub_score(kind, value, spo2_scale) == points
    view = assess({kind: value}, spo2_scale)
    assert view.sub_scores == {kind: points} and view.total == points


@pytest.mark.parametrize('value, points', SPO2_SCALE_1)
@pytest.mark.parametrize('on_oxygen', [0, 1])
def test_spo2_scale_1_ignores_oxygen_for_the_saturation(value: float, points: int, on_oxygen: int) -> None:
    view = assess({SPO2: value, O2: on_oxygen}, spo2_scale=1)
    assert view.sub_scores == {SPO2: points, O2: 2 * on_oxygen}


@pytest.mark.parametrize('value, points', SPO2_SCALE_2_AIR)
def test_spo2_scale_2_on_air(value: float, points: int) -> None:
    assert assess({SPO2: value, O2: 0}, spo2_scale=2).sub_scores == {SPO2: points, O2: 0}


@pytest.mark.parametrize('value, points', SPO2_SCALE_2_OXYGEN)
def test_spo2_scale_2_on_oxygen_scores_saturations_above_target(value: float, points: int) -> None:
    assert assess({SPO2: value, O2: 1}, spo2_scale=2).sub_scores == {SPO2: points, O2: 2}


def test_oxygen_never_selects_scale_2() -> None:
    # 88 % on oxygen: 3 points on scale 1 (the patient's scale), 0 on scale 2.
    assert assess({SPO2: 88, O2: 1}, spo2_scale=1).sub_scores[SPO2] == 3
    assert assess({SPO2: 88, O2: 1}, spo2_scale=2).sub_scores[SPO2] == 0


def test_scale_2_without_an_oxygen_reading_scores_as_air_and_reports_oxygen_missing() -> None:
    view = assess({SPO2: 97}, spo2_scale=2)
    assert view.sub_scores == {SPO2: 0} and O2 in view.missing


@pytest.mark.parametrize('kind, value, points', [
    (TEMP, 35.04, 3), (TEMP, 35.05, 1), (TEMP, 36.04, 1), (TEMP, 36.05, 0), (TEMP, 38.05, 1), (TEMP, 39.05, 2),
    (RR, 20.4, 0), (RR, 20.5, 2), (RR, 8.5, 1), (HR, 40.5, 1), (HR, 130.5, 3), (SBP, 90.5, 2), (SBP, 219.5, 3),
    (SPO2, 91.5, 2), (SPO2, 95.49, 1),
])
def test_values_between_band_edges_are_charted_half_up_first(kind: VitalKind, value: float, points: int) -> None:
    assert sub_score(kind, value) == points


def test_missing_parameters_are_reported_never_scored() -> None:
    empty = assess({}, spo2_scale=1)
    assert (empty.total, empty.sub_scores, empty.missing, empty.risk) == (0, {}, NEWS2_PARAMETERS, 'low')
    assert not empty.complete
    partial = assess({HR: 135, VitalKind.DIASTOLIC_BP: 40}, spo2_scale=1)
    assert partial.sub_scores == {HR: 3}  # diastolic pressure is not part of NEWS2
    assert partial.missing == (RR, SPO2, O2, SBP, ACVPU, TEMP)


def test_a_complete_normal_set_scores_zero() -> None:
    view = assess({RR: 16, SPO2: 97, O2: 0, SBP: 125, HR: 72, ACVPU: 0, TEMP: 36.8}, spo2_scale=1)
    assert (view.total, view.risk, view.missing, view.complete) == (0, 'low', (), True)
    assert set(view.sub_scores) == set(NEWS2_PARAMETERS)


@pytest.mark.parametrize('values, total, risk', [
    ({RR: 21, HR: 95}, 3, 'low'),  # 2 + 1
    ({RR: 21, HR: 111}, 4, 'low'),  # 2 + 2
    ({ACVPU: 1}, 3, 'low-medium'),  # new confusion alone: a single 3
    ({RR: 25, HR: 95}, 4, 'low-medium'),
    ({RR: 21, HR: 111, TEMP: 38.5}, 5, 'medium'),
    ({RR: 25, O2: 1}, 5, 'medium'),  # a single 3 inside an aggregate of 5 is still medium
    ({RR: 21, HR: 111, O2: 1}, 6, 'medium'),
    ({RR: 21, HR: 111, O2: 1, TEMP: 38.5}, 7, 'high'),
    ({RR: 25, SPO2: 91, O2: 1, SBP: 90, HR: 131, ACVPU: 4, TEMP: 35.0}, 20, 'high'),
])
def test_aggregate_and_single_parameter_risk(values: dict[VitalKind, float], total: int, risk: str) -> None:
    view = assess(values, spo2_scale=1)
    assert (view.total, view.risk) == (total, risk)


@pytest.mark.parametrize('total, sub_scores, level', [
    (0, {}, TriggerLevel.NONE),
    (4, {RR: 2, HR: 2}, TriggerLevel.NONE),
    (3, {ACVPU: 3}, TriggerLevel.SINGLE_3),
    (5, {RR: 2, HR: 2, TEMP: 1}, TriggerLevel.URGENT),
    (6, {RR: 3, O2: 2, TEMP: 1}, TriggerLevel.URGENT),
    (7, {RR: 2, HR: 2, O2: 2, TEMP: 1}, TriggerLevel.EMERGENCY),
])
def test_trigger_levels_are_ordered(total: int, sub_scores: dict[VitalKind, int], level: TriggerLevel) -> None:
    assert trigger_level(total, sub_scores) is level


@pytest.mark.parametrize('scale', [0, 3, None])
def test_an_unknown_spo2_scale_is_refused_even_without_spo2(scale: object) -> None:
    with pytest.raises(ValueError, match='SpO2 scale must be 1 or 2'):
        assess({HR: 80}, spo2_scale=scale)  # type: ignore[arg-type]


def test_diastolic_pressure_has_no_sub_score() -> None:
    with pytest.raises(ValueError, match='not a NEWS2 parameter'):
        sub_score(VitalKind.DIASTOLIC_BP, 40)


# --- the one explanation: rounding, staleness and pending edges -------------------------------------------------------

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize('kind, value, points', [
    (RR, 20.49, 0), (RR, 20.5, 2), (SBP, 90.49, 3), (SBP, 90.5, 2), (HR, 130.5, 3), (HR, 40.49, 3), (HR, 40.5, 1),
    (TEMP, 35.049, 3), (TEMP, 35.05, 1), (TEMP, 38.049, 0), (TEMP, 38.05, 1), (SPO2, 95.5, 0), (SPO2, 91.49, 3),
])
def test_explain_charts_half_up_like_the_table(kind: VitalKind, value: float, points: int) -> None:
    view = explain({kind: (value, NOW)}, 1, NOW, DEFAULT_NEWS2_MAX_AGE_MINUTES)
    assert view.sub_scores == {kind: points} and view.total == points


@pytest.mark.parametrize('age, stale', [
    (timedelta(minutes=780), False),  # exactly the maximum age still counts
    (timedelta(minutes=780, seconds=1), True),
    (timedelta(days=30), True),
])
def test_a_value_counts_until_its_maximum_age_and_then_is_missing(age: timedelta, stale: bool) -> None:
    view = explain({RR: (25, NOW - age), HR: (72, NOW)}, 1, NOW, DEFAULT_NEWS2_MAX_AGE_MINUTES)
    assert (RR in view.stale, RR in view.missing, view.total) == (stale, stale, 0 if stale else 3)
    assert view.stale.get(RR, age.total_seconds()) == age.total_seconds()
    assert ('stale: respiratory rate' in view.explanation) is stale


def test_stale_oxygen_scores_scale_2_saturation_as_air() -> None:
    """Oxygen of unknown state (stale) scores SpO2 on scale 2 as on air, the lower bound, and is itself missing."""
    view = explain({SPO2: (97, NOW), O2: (1, NOW - timedelta(hours=20))}, 2, NOW, DEFAULT_NEWS2_MAX_AGE_MINUTES)
    assert view.sub_scores == {SPO2: 0} and O2 in view.stale and O2 in view.missing


def test_each_parameter_has_its_own_maximum_age() -> None:
    max_age = {**DEFAULT_NEWS2_MAX_AGE_MINUTES, SPO2: 10}
    view = explain({SPO2: (85, NOW - timedelta(minutes=11)), RR: (25, NOW - timedelta(minutes=11))}, 1, NOW, max_age)
    assert set(view.stale) == {SPO2} and view.sub_scores == {RR: 3}


@pytest.mark.parametrize('counted, seconds_left, shown', [
    (0, 15.0, 'SpO2 88 %, confirming for 15 s (counts 0, 3 once confirmed)'),
    (2, None, 'SpO2 88 %, confirming (counts 2, 3 once confirmed)'),
])
def test_a_pending_value_counts_at_its_persisted_level(counted: int, seconds_left: float | None, shown: str) -> None:
    view = explain({SPO2: (88, NOW)}, 1, NOW, DEFAULT_NEWS2_MAX_AGE_MINUTES, {SPO2: (counted, seconds_left)})
    assert view.sub_scores == {SPO2: counted} and view.pending[SPO2].points == 3
    assert shown in view.explanation


def test_a_confirmed_value_is_not_pending() -> None:
    view = explain({SPO2: (88, NOW)}, 1, NOW, DEFAULT_NEWS2_MAX_AGE_MINUTES, {SPO2: (3, None)})
    assert view.pending == {} and view.sub_scores == {SPO2: 3}
    assert view.explanation.startswith('NEWS2 3 (low-medium risk, urgent ward-based response): SpO2 88 % (3)')
