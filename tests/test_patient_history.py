"""A patient's trends for the patient page: readings folded into buckets, NEWS2 over time, who may look."""

from datetime import UTC, datetime, timedelta

import pytest

from app.bootstrap import Vigil
from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.schemas import Actor, VitalReadingIn
from app.services.patient_history import bucket_seconds_for, news2_over_time

from .conftest import FakeClock, World

HR, RR, SPO2, O2 = VitalKind.HEART_RATE, VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.ON_OXYGEN


async def record(vigil: Vigil, world: World, at: datetime, bed: str = 'North-1', **values: float) -> None:
    device = Actor(kind='system', hospital_id=world.a.hospital_id, name='monitor')
    await vigil.patients.record_vitals(device, [
        VitalReadingIn(patient_mrn=f'alpha-{bed}', kind=VitalKind(kind), value=value,
                       unit=VITAL_SPECS[VitalKind(kind)].unit, measured_at=at)
        for kind, value in values.items()])


async def test_readings_fold_into_buckets_that_keep_the_lowest_and_highest_value(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    now = clock()  # 08:00:00 UTC, a whole minute
    await record(vigil, world, now - timedelta(minutes=2, seconds=50), heart_rate=80, spo2=97)
    await record(vigil, world, now - timedelta(minutes=2, seconds=40), spo2=84)  # a short desaturation
    await record(vigil, world, now - timedelta(minutes=2, seconds=30), heart_rate=90, spo2=96)
    await record(vigil, world, now - timedelta(minutes=1, seconds=10), heart_rate=120)

    trend = await vigil.patient_history.trend(world.a.actor('nurse'), world.a.patient_ids['North-1'], hours=6)

    assert trend.bucket_seconds == 60 and trend.until == now and trend.since == now - timedelta(hours=6)
    minute = datetime(2026, 3, 2, 7, 57, tzinfo=UTC)
    assert [(p.at, p.low, p.high) for p in trend.series[HR]] == [
        (minute, 80, 90), (minute + timedelta(minutes=1), 120, 120)]
    assert [(p.at, p.low, p.high) for p in trend.series[SPO2]] == [(minute, 84, 97)]
    # SpO2 84 % scores 3 in the first minute; heart rate 120 scores 2 in the next, SpO2 carried forward (3).
    assert [(p.at, p.total) for p in trend.news2] == [(minute, 3), (minute + timedelta(minutes=1), 5)]


async def test_readings_before_the_window_only_carry_their_score_forward(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    await record(vigil, world, clock() - timedelta(hours=2), resp_rate=26)
    await record(vigil, world, clock() - timedelta(minutes=5), heart_rate=75)

    trend = await vigil.patient_history.trend(world.a.actor('doctor'), world.a.patient_ids['North-1'], hours=1)

    assert trend.bucket_seconds == 10
    assert RR not in trend.series
    assert [p.total for p in trend.news2] == [3]  # respiratory rate 26 from two hours ago still counts


async def test_an_empty_history_is_empty(vigil: Vigil, world: World) -> None:
    trend = await vigil.patient_history.trend(world.a.actor('admin'), world.a.patient_ids['South-1'])

    assert trend.series == {} and trend.news2 == ()


async def test_other_patients_readings_stay_out(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await record(vigil, world, clock() - timedelta(minutes=1), bed='North-2', heart_rate=150)

    trend = await vigil.patient_history.trend(world.a.actor('admin'), world.a.patient_ids['North-1'])

    assert trend.series == {}


async def test_who_may_see_a_trend(vigil: Vigil, world: World) -> None:
    with pytest.raises(NotAllowed, match='not on one of your wards'):
        await vigil.patient_history.trend(world.a.actor('nurse'), world.a.patient_ids['South-1'])
    with pytest.raises(PatientNotFound):
        await vigil.patient_history.trend(world.a.actor('admin'), world.b.patient_ids['East-1'])


@pytest.mark.parametrize('hours', [0, -1, 73])
async def test_a_window_out_of_range_is_refused(vigil: Vigil, world: World, hours: float) -> None:
    with pytest.raises(InvalidInput, match='at most 72 hours'):
        await vigil.patient_history.trend(world.a.actor('admin'), world.a.patient_ids['North-1'], hours=hours)


@pytest.mark.parametrize('hours, seconds', [(1, 10), (6, 60), (24, 240), (0.01, 1)])
def test_buckets_give_about_360_points(hours: float, seconds: int) -> None:
    assert bucket_seconds_for(hours) == seconds


def test_the_worst_value_of_a_bucket_is_one_of_its_ends() -> None:
    # Heart rate 45-95 spans 1 point (41-50), 0 (51-90) and 1 point (91-110): the worst is 1.
    assert news2_over_time({HR: {0: (45, 95)}}, {}, 1) == [(0, 1)]
    assert news2_over_time({HR: {0: (60, 135)}}, {}, 1) == [(0, 3)]


def test_oxygen_in_a_bucket_scores_and_selects_the_scale_2_oxygen_bands() -> None:
    buckets = {SPO2: {0: (97, 97), 60: (97, 97)}, O2: {60: (0, 1)}}

    # Scale 2 on air: 97 % scores 0; on oxygen: 97 % scores 3, and oxygen itself 2.
    assert news2_over_time(buckets, {}, 2) == [(0, 0), (60, 5)]
    # Scale 1: oxygen scores 2, SpO2 97 % stays 0.
    assert news2_over_time(buckets, {}, 1) == [(0, 0), (60, 2)]


async def test_a_fitted_trend_starts_shortly_before_the_first_reading_of_the_window(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    now = clock()
    await record(vigil, world, now - timedelta(hours=8), heart_rate=70)  # before the 6 hours: not fitted to
    await record(vigil, world, now - timedelta(minutes=40), heart_rate=80)
    await record(vigil, world, now - timedelta(minutes=1), heart_rate=90)

    trend = await vigil.patient_history.trend(world.a.actor('nurse'), world.a.patient_ids['North-1'], 6, fit=True)

    # 40 minutes of data and a 5 % lead: 42 minutes in buckets of 7 seconds, the start on a bucket boundary.
    assert (trend.hours, trend.bucket_seconds, trend.until) == (6, 7, now)
    assert now - timedelta(minutes=42, seconds=7) < trend.since <= now - timedelta(minutes=42)
    assert [(p.low, p.high) for p in trend.series[HR]] == [(80, 80), (90, 90)]


async def test_a_fitted_trend_spans_at_least_two_minutes(vigil: Vigil, world: World, clock: FakeClock) -> None:
    now = clock()
    await record(vigil, world, now - timedelta(seconds=30), heart_rate=80)

    trend = await vigil.patient_history.trend(world.a.actor('nurse'), world.a.patient_ids['North-1'], 6, fit=True)

    assert (trend.since, trend.bucket_seconds) == (now - timedelta(minutes=2), 1)


@pytest.mark.parametrize('minutes', [None, 7 * 60, 5 * 60 + 50])
async def test_a_fitted_trend_without_recent_or_with_old_data_covers_the_whole_window(
        vigil: Vigil, world: World, clock: FakeClock, minutes: int | None) -> None:
    if minutes is not None:  # 7 h ago: outside the window; 5 h 50 min ago: the lead reaches past the 6 hours
        await record(vigil, world, clock() - timedelta(minutes=minutes), heart_rate=80)

    trend = await vigil.patient_history.trend(world.a.actor('nurse'), world.a.patient_ids['North-1'], 6, fit=True)

    assert (trend.since, trend.bucket_seconds) == (clock() - timedelta(hours=6), 60)
