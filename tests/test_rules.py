"""Per-hospital alarm rules: defaults, admin overrides, validation, and escalation following the hospital's policy."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.bootstrap import Vigil, build
from app.config import Settings
from app.domain import Priority, TokenKind, VitalKind
from app.domain.limits import DEFAULT_LIMITS, CriticalLimit, HospitalRules, LimitParameter, limit_parameter
from app.domain.observations import ObservationBand
from app.errors import InvalidInput, NotAllowed
from app.schemas import Actor, HospitalRulesView, NewAlert

from .conftest import FakeClock, World


def limits_of(view: HospitalRulesView) -> dict[str, tuple[float | None, float | None, int, int, bool]]:
    return {v.parameter: (v.low, v.high, v.persistence_seconds, v.persistence_readings, v.is_default)
            for v in view.limits}


def steps_of(view: HospitalRulesView) -> dict[Priority, tuple[tuple[int, ...], bool]]:
    return {v.priority: (v.minutes, v.is_default) for v in view.escalation}


async def test_a_new_hospital_runs_on_the_news2_defaults(vigil: Vigil, world: World) -> None:
    view = await vigil.rules.get(world.a.actor('nurse'))
    assert limits_of(view) == {
        'heart_rate': (40, 131, 0, 1, True), 'resp_rate': (8, 25, 0, 1, True), 'spo2': (91, None, 15, 1, True),
        'spo2_scale2': (83, None, 15, 1, True), 'systolic_bp': (90, 220, 0, 1, True),
        'diastolic_bp': (None, None, 0, 1, True), 'temperature': (35.0, None, 0, 1, True),
        'consciousness': (None, 1, 0, 1, True),
    }
    assert steps_of(view) == {Priority.CRITICAL: ((2, 5), True), Priority.HIGH: ((5, 15), True),
                              Priority.MEDIUM: ((15,), True), Priority.LOW: ((), True)}
    assert (view.device_silence_seconds, view.alarms_latch) == (120, True)


@pytest.mark.parametrize('kind, scale, parameter', [
    (VitalKind.SPO2, 1, LimitParameter.SPO2), (VitalKind.SPO2, 2, LimitParameter.SPO2_SCALE_2),
    (VitalKind.HEART_RATE, 2, LimitParameter.HEART_RATE), (VitalKind.ON_OXYGEN, 1, None),
])
def test_the_spo2_limit_follows_the_patients_scale(kind: VitalKind, scale: int,
                                                   parameter: LimitParameter | None) -> None:
    assert limit_parameter(kind, scale) is parameter


@pytest.mark.parametrize('parameter, kind, value, breach', [
    (LimitParameter.HEART_RATE, VitalKind.HEART_RATE, 40, 'low'), (LimitParameter.HEART_RATE, VitalKind.HEART_RATE,
                                                                   41, None),
    (LimitParameter.HEART_RATE, VitalKind.HEART_RATE, 130.4, None),
    (LimitParameter.HEART_RATE, VitalKind.HEART_RATE, 130.5, 'high'),  # charted as 131, like NEWS2
    (LimitParameter.TEMPERATURE, VitalKind.TEMPERATURE, 35.04, 'low'),
    (LimitParameter.TEMPERATURE, VitalKind.TEMPERATURE, 35.05, None),
    (LimitParameter.SPO2, VitalKind.SPO2, 91, 'low'), (LimitParameter.SPO2, VitalKind.SPO2, 92, None),
    (LimitParameter.SPO2_SCALE_2, VitalKind.SPO2, 84, None), (LimitParameter.SPO2_SCALE_2, VitalKind.SPO2, 83, 'low'),
    (LimitParameter.CONSCIOUSNESS, VitalKind.CONSCIOUSNESS, 0, None),
    (LimitParameter.CONSCIOUSNESS, VitalKind.CONSCIOUSNESS, 1, 'high'),
    (LimitParameter.SYSTOLIC_BP, VitalKind.SYSTOLIC_BP, 220, 'high'),
    (LimitParameter.DIASTOLIC_BP, VitalKind.DIASTOLIC_BP, 20, None),
])
def test_default_limits_breach_at_the_news2_three_point_bands(parameter: LimitParameter, kind: VitalKind,
                                                             value: float, breach: str | None) -> None:
    assert DEFAULT_LIMITS[parameter].breach(kind, value) == breach


def test_persistence_needs_both_the_time_and_the_readings() -> None:
    limit = CriticalLimit(91, None, persistence_seconds=15, persistence_readings=3)
    start = FakeClock().now
    assert not limit.persisted(start, start + timedelta(seconds=20), readings=2)
    assert not limit.persisted(start, start + timedelta(seconds=14), readings=5)
    assert limit.persisted(start, start + timedelta(seconds=15), readings=3)
    assert CriticalLimit(91, None).persisted(start, start, readings=1)  # no delay: the first reading alerts


async def test_admin_overrides_a_limit_and_resets_it(vigil: Vigil, world: World, clock: FakeClock) -> None:
    admin = world.a.actor('admin')
    view = await vigil.rules.set_limit(admin, 'heart_rate', low=35, high=150, persistence_seconds=10,
                                       persistence_readings=2)
    assert limits_of(view)['heart_rate'] == (35, 150, 10, 2, False)
    [override] = [v for v in view.limits if v.parameter == 'heart_rate']
    assert (override.updated_by, override.updated_at) == ('Admin (alpha-admin)', clock())
    rules = await vigil.rules.rules(world.a.hospital_id)
    assert rules.limits[LimitParameter.HEART_RATE] == CriticalLimit(35, 150, 10, 2)
    # The other hospital is untouched.
    assert limits_of(await vigil.rules.get(world.b.actor('admin')))['heart_rate'] == (40, 131, 0, 1, True)
    view = await vigil.rules.reset_limit(admin, 'heart_rate')
    assert limits_of(view)['heart_rate'] == (40, 131, 0, 1, True)
    assert (await vigil.rules.rules(world.a.hospital_id)).limits[LimitParameter.HEART_RATE] == CriticalLimit(40, 131)


async def test_an_admin_may_switch_off_one_side_of_a_limit(vigil: Vigil, world: World) -> None:
    view = await vigil.rules.set_limit(world.a.actor('admin'), 'spo2', low=None, high=None, persistence_seconds=0)
    assert limits_of(view)['spo2'] == (None, None, 0, 1, False)


async def test_the_system_actor_configures_a_named_hospital(vigil: Vigil, world: World) -> None:
    operator = Actor.system('cli', hospital_id=world.b.hospital_id)
    await vigil.rules.set_limit(operator, 'temperature', low=35.5, high=39.5, persistence_seconds=0)
    assert limits_of(await vigil.rules.get(world.b.actor('nurse')))['temperature'] == (35.5, 39.5, 0, 1, False)
    with pytest.raises(NotAllowed, match='needs a hospital'):
        await vigil.rules.set_limit(Actor.system(), 'temperature', low=35, high=None, persistence_seconds=0)


@pytest.mark.parametrize('who', ['nurse', 'charge', 'doctor', 'device', 'kiosk'])
async def test_only_admins_change_rules(vigil: Vigil, world: World, who: str) -> None:
    actor = (Actor(kind='token', hospital_id=world.a.hospital_id, name=f'token:{who}', token_id=1,
                   token_kind=TokenKind(who)) if who in ('device', 'kiosk') else world.a.actor(who))
    before = await vigil.rules.get(world.a.actor('admin'))
    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.rules.set_limit(actor, 'heart_rate', low=30, high=None, persistence_seconds=0)
    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.rules.set_escalation(actor, Priority.HIGH, (1, 2))
    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.rules.update_settings(actor, alarms_latch=False)
    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.rules.reset_limit(actor, 'heart_rate')
    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.rules.update_observation_settings(actor, observation_grace_minutes=60)
    assert await vigil.rules.get(world.a.actor('admin')) == before
    assert await vigil.rules.history(world.a.actor('admin')) == []


async def test_an_integration_changes_rules_only_naming_the_administrator(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    ehr = Actor(kind='token', hospital_id=world.a.hospital_id, name='token:ehr', token_id=1,
                token_kind=TokenKind.INTEGRATION)
    before = await vigil.rules.get(world.a.actor('admin'))
    for change in (vigil.rules.set_limit(ehr, 'heart_rate', low=30, high=None, persistence_seconds=0),
                   vigil.rules.reset_limit(ehr, 'heart_rate', on_behalf_of='  '),
                   vigil.rules.set_escalation(ehr, Priority.HIGH, (1, 2)),
                   vigil.rules.reset_escalation(ehr, Priority.HIGH),
                   vigil.rules.update_settings(ehr, alarms_latch=False),
                   vigil.rules.update_observation_settings(ehr, stale_reading_hours=12)):
        with pytest.raises(InvalidInput, match='must name the person who acted'):
            await change
    assert await vigil.rules.get(world.a.actor('admin')) == before
    view = await vigil.rules.set_escalation(ehr, Priority.HIGH, (3, 10), on_behalf_of='Dr Jane Roe')
    [high] = [s for s in view.escalation if s.priority is Priority.HIGH]
    assert (high.minutes, high.updated_by, high.updated_at) == ((3, 10), 'Dr Jane Roe (via token:ehr)', clock())


@pytest.mark.parametrize('parameter, fields, message', [
    ('pulse', {}, 'Unknown limit parameter "pulse"'),
    ('heart_rate', {'low': 140, 'high': 130}, r'low limit of heart rate \(140\) must be below the high limit'),
    ('heart_rate', {'low': 60, 'high': 60}, 'must be below the high limit'),
    ('heart_rate', {'high': 400}, 'high limit of heart rate must lie within 0-350'),
    ('spo2', {'low': -1}, 'low limit of SpO2 must lie within 0-100'),
    ('temperature', {'low': 10}, 'within 20-46'),
    ('heart_rate', {'low': 40.5}, 'charted in steps of 1'),
    ('temperature', {'low': 35.05}, 'charted in steps of 0.1'),
    ('consciousness', {'low': 0, 'high': 1}, 'Consciousness has no low limit'),
    ('spo2', {'persistence_seconds': -1}, 'lasts 0-300 seconds'),
    ('spo2', {'persistence_seconds': 301}, 'lasts 0-300 seconds'),
    ('spo2', {'persistence_readings': 0}, 'counts 1-20 consecutive readings'),
    ('spo2', {'persistence_readings': 21}, 'counts 1-20'),
])
async def test_bad_limits_are_refused_and_change_nothing(vigil: Vigil, world: World, parameter: str,
                                                         fields: dict[str, float], message: str) -> None:
    admin = world.a.actor('admin')
    before = await vigil.rules.get(admin)
    values = {'low': 40, 'high': None, 'persistence_seconds': 0, 'persistence_readings': 1, **fields}
    with pytest.raises(InvalidInput, match=message):
        await vigil.rules.set_limit(admin, parameter, **values)  # type: ignore[arg-type]
    assert await vigil.rules.get(admin) == before


async def test_escalation_policy_override_and_reset(vigil: Vigil, world: World) -> None:
    admin = world.a.actor('admin')
    view = await vigil.rules.set_escalation(admin, 'high', [3, 10, 30])
    assert steps_of(view)[Priority.HIGH] == ((3, 10, 30), False)
    view = await vigil.rules.set_escalation(admin, Priority.LOW, ())  # low may never escalate
    assert steps_of(view)[Priority.LOW] == ((), False)
    assert (await vigil.rules.rules(world.a.hospital_id)).escalation[Priority.HIGH] == (3, 10, 30)
    assert steps_of(await vigil.rules.get(world.b.actor('admin')))[Priority.HIGH] == ((5, 15), True)
    view = await vigil.rules.reset_escalation(admin, 'high')
    assert steps_of(view)[Priority.HIGH] == ((5, 15), True)


@pytest.mark.parametrize('priority, minutes, message', [
    ('urgent', [1], 'Unknown priority "urgent"'),
    ('critical', [], 'Critical alerts must escalate at least once'),
    ('high', [], 'High alerts must escalate at least once'),
    ('high', [5, 5], 'must increase strictly'),
    ('high', [10, 5], 'must increase strictly'),
    ('medium', [0, 5], 'whole minutes from 1 to 1440'),
    ('medium', [-5], 'whole minutes'),
    ('medium', [1.5], 'whole minutes'),
    ('medium', [True], 'whole minutes'),
    ('medium', [1441], 'whole minutes'),
    ('medium', [1, 2, 3, 4, 5, 6], 'at most 5 steps'),
])
async def test_bad_escalation_steps_are_refused_and_change_nothing(
        vigil: Vigil, world: World, priority: str, minutes: list[int], message: str) -> None:
    admin = world.a.actor('admin')
    before = await vigil.rules.get(admin)
    with pytest.raises(InvalidInput, match=message):
        await vigil.rules.set_escalation(admin, priority, minutes)
    assert await vigil.rules.get(admin) == before


async def test_hospital_settings_latching_and_device_silence(vigil: Vigil, world: World) -> None:
    admin = world.a.actor('admin')
    view = await vigil.rules.update_settings(admin, device_silence_seconds=300, alarms_latch=False)
    assert (view.device_silence_seconds, view.alarms_latch) == (300, False)
    rules = await vigil.rules.rules(world.a.hospital_id)
    assert (rules.device_silence_seconds, rules.alarms_latch) == (300, False)
    view = await vigil.rules.update_settings(admin, alarms_latch=True)
    assert (view.device_silence_seconds, view.alarms_latch) == (300, True)
    for bad in (29, 86_401, True):
        with pytest.raises(InvalidInput, match='silent after 30-86400 seconds'):
            await vigil.rules.update_settings(admin, device_silence_seconds=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match='true or false'):
        await vigil.rules.update_settings(admin, alarms_latch='no')  # type: ignore[arg-type]
    assert await vigil.rules.get(admin) == view


async def test_new_alerts_escalate_on_the_hospitals_policy(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await vigil.rules.set_escalation(world.a.actor('admin'), Priority.HIGH, [1, 3])
    alert = await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='Fall', patient_id=world.a.patient_ids['North-1']))
    assert alert.next_escalation_at == clock() + timedelta(minutes=1)
    other = await vigil.alerts.raise_alert(world.b.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='Fall', patient_id=world.b.patient_ids['East-1']))
    assert other.next_escalation_at == clock() + timedelta(minutes=5)  # hospital B keeps the default
    clock.advance(minutes=1)
    [escalated] = await vigil.alerts.escalate_due()
    assert escalated.id == alert.id and escalated.next_escalation_at == alert.created_at + timedelta(minutes=3)


async def test_other_processes_see_a_change_within_the_cache_time(
        vigil: Vigil, world: World, clock: FakeClock, db_url: str, tmp_path: Path) -> None:
    other = build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock)
    try:
        assert (await other.rules.rules(world.a.hospital_id)).alarms_latch is True
        await vigil.rules.update_settings(world.a.actor('admin'), alarms_latch=False)
        assert (await vigil.rules.rules(world.a.hospital_id)).alarms_latch is False  # this process: at once
        assert (await other.rules.rules(world.a.hospital_id)).alarms_latch is True  # the other: cached
        clock.advance(seconds=10)
        assert (await other.rules.rules(world.a.hospital_id)).alarms_latch is False
    finally:
        await other.close()


# --- who changed the rules -----------------------------------------------------------------------------------------

async def test_every_rule_change_is_recorded_with_who_and_what(vigil: Vigil, world: World, clock: FakeClock) -> None:
    admin = world.a.actor('admin')
    await vigil.rules.set_limit(admin, 'spo2', low=88, high=None, persistence_seconds=20)
    clock.advance(minutes=1)
    await vigil.rules.reset_limit(admin, 'spo2')
    await vigil.rules.set_escalation(admin, Priority.HIGH, (3, 10))
    await vigil.rules.update_settings(admin, alarms_latch=False)

    history = await vigil.rules.history(admin)

    assert [c.change for c in history] == [
        'device_silence_seconds 120, alarms_latch False',
        'high escalation set to [3, 10] min',
        'spo2 limits reset to the default',
        'spo2 limits set to low 88, high None, delay 20 s and 1 readings',
    ]
    assert {c.actor for c in history} == {'Admin (alpha-admin)'}
    assert history[-1].at == clock() - timedelta(minutes=1)
    # The other hospital's history is its own.
    assert await vigil.rules.history(world.b.actor('admin')) == []


async def test_a_refused_change_leaves_no_record_and_only_admins_read_the_record(vigil: Vigil, world: World) -> None:
    admin = world.a.actor('admin')
    with pytest.raises(InvalidInput):
        await vigil.rules.set_limit(admin, 'heart_rate', low=150, high=40, persistence_seconds=0)
    with pytest.raises(NotAllowed):
        await vigil.rules.set_limit(world.a.actor('charge'), 'heart_rate', low=30, high=None, persistence_seconds=0)
    assert await vigil.rules.history(admin) == []
    with pytest.raises(NotAllowed):
        await vigil.rules.history(world.a.actor('nurse'))


async def test_the_record_of_rule_changes_cannot_be_rewritten(vigil: Vigil, world: World) -> None:
    await vigil.rules.update_settings(world.a.actor('admin'), device_silence_seconds=300)
    statements = ["UPDATE rule_changes SET actor = 'someone else'", 'DELETE FROM rule_changes']
    if vigil.engine.dialect.name == 'postgresql':
        statements.append('TRUNCATE rule_changes')
    for statement in statements:
        with pytest.raises(DBAPIError, match='append-only'):
            async with vigil.engine.begin() as connection:
                await connection.execute(text(statement))
    [change] = await vigil.rules.history(world.a.actor('admin'))
    assert change.actor == 'Admin (alpha-admin)'


# --- data age and observation frequency -------------------------------------------------------------------------------

def ages_of(view: HospitalRulesView) -> dict[str, tuple[int, bool]]:
    return {v.parameter.value: (v.minutes, v.is_default) for v in view.news2_max_age_minutes}


def intervals_of(view: HospitalRulesView) -> dict[str, tuple[int, bool]]:
    return {v.band.value: (v.minutes, v.is_default) for v in view.observation_minutes}


DEFAULT_AGES = {kind: (780, True) for kind in ('resp_rate', 'spo2', 'on_oxygen', 'systolic_bp', 'heart_rate',
                                              'consciousness', 'temperature')}
DEFAULT_INTERVALS = {'zero': (720, True), 'low': (240, True), 'urgent': (60, True), 'emergency': (15, True)}


async def test_a_new_hospital_reports_the_observation_defaults_as_defaults(vigil: Vigil, world: World) -> None:
    view = await vigil.rules.get(world.a.actor('nurse'))

    assert (view.stale_reading_hours, view.observation_grace_minutes) == (24, 30)
    assert ages_of(view) == DEFAULT_AGES
    assert list(ages_of(view)) == list(DEFAULT_AGES)  # NEWS2 chart order
    assert intervals_of(view) == DEFAULT_INTERVALS
    assert list(intervals_of(view)) == ['zero', 'low', 'urgent', 'emergency']  # mildest first


def observed(view: HospitalRulesView) -> dict[str, int]:
    """The four settings as one flat table: 'stale_reading_hours', 'grace', 'age.<parameter>', 'interval.<band>'."""
    return {'stale_reading_hours': view.stale_reading_hours, 'grace': view.observation_grace_minutes,
            **{f'age.{v.parameter.value}': v.minutes for v in view.news2_max_age_minutes},
            **{f'interval.{v.band.value}': v.minutes for v in view.observation_minutes}}


def own_keys(view: HospitalRulesView) -> set[str]:
    return ({f'age.{v.parameter.value}' for v in view.news2_max_age_minutes if not v.is_default} |
            {f'interval.{v.band.value}' for v in view.observation_minutes if not v.is_default})


def applied(rules: HospitalRules) -> dict[str, int]:
    """What detection and the watchdog get, in the same flat table."""
    return {'stale_reading_hours': rules.stale_reading_hours, 'grace': rules.observation_grace_minutes,
            **{f'age.{kind.value}': minutes for kind, minutes in rules.news2_max_age_minutes.items()},
            **{f'interval.{band.value}': minutes for band, minutes in rules.observation_minutes.items()}}


DEFAULT_OBSERVED = {'stale_reading_hours': 24, 'grace': 30, **{f'age.{k}': m for k, (m, _) in DEFAULT_AGES.items()},
                    **{f'interval.{b}': m for b, (m, _) in DEFAULT_INTERVALS.items()}}


@pytest.mark.parametrize('change, expected', [
    ({'stale_reading_hours': 6}, {'stale_reading_hours': 6}),
    ({'stale_reading_hours': 1}, {'stale_reading_hours': 1}),
    ({'stale_reading_hours': 168}, {'stale_reading_hours': 168}),
    ({'observation_grace_minutes': 5}, {'grace': 5}),
    ({'observation_grace_minutes': 240}, {'grace': 240}),
    ({'news2_max_age_minutes': {'spo2': 60}}, {'age.spo2': 60}),
    ({'news2_max_age_minutes': {VitalKind.RESP_RATE: 5, 'consciousness': 2880}},
     {'age.resp_rate': 5, 'age.consciousness': 2880}),
    ({'news2_max_age_minutes': {'on_oxygen': 240, 'systolic_bp': 240, 'heart_rate': 240, 'temperature': 240}},
     {'age.on_oxygen': 240, 'age.systolic_bp': 240, 'age.heart_rate': 240, 'age.temperature': 240}),
    ({'news2_max_age_minutes': {'temperature': 780}}, {'age.temperature': 780}),  # the default's value, now its own
    ({'observation_minutes': {'urgent': 30}}, {'interval.urgent': 30}),
    ({'observation_minutes': {ObservationBand.EMERGENCY: 5, 'zero': 1440}},
     {'interval.emergency': 5, 'interval.zero': 1440}),
    ({'observation_minutes': {'low': 60, 'urgent': 60}},  # a milder band may be observed as often as a sicker one
     {'interval.low': 60, 'interval.urgent': 60}),
    ({'observation_minutes': {'zero': 5, 'low': 5, 'urgent': 5, 'emergency': 5}},
     {'interval.zero': 5, 'interval.low': 5, 'interval.urgent': 5, 'interval.emergency': 5}),
    ({'stale_reading_hours': 2, 'news2_max_age_minutes': {'spo2': 30}, 'observation_minutes': {'low': 120},
      'observation_grace_minutes': 10}, {'stale_reading_hours': 2, 'age.spo2': 30, 'interval.low': 120, 'grace': 10}),
])
async def test_an_admin_changes_an_observation_setting_and_it_applies_at_once(
        vigil: Vigil, world: World, change: dict[str, Any], expected: dict[str, int]) -> None:
    await vigil.rules.rules(world.a.hospital_id)  # in memory now: the change must not wait for the cache

    view = await vigil.rules.update_observation_settings(world.a.actor('admin'), **change)

    assert observed(view) == {**DEFAULT_OBSERVED, **expected}
    assert own_keys(view) == {key for key in expected if key.startswith(('age.', 'interval.'))}
    assert view == await vigil.rules.get(world.a.actor('nurse'))
    assert applied(await vigil.rules.rules(world.a.hospital_id)) == {**DEFAULT_OBSERVED, **expected}
    other = await vigil.rules.get(world.b.actor('admin'))  # the other hospital keeps the defaults
    assert (observed(other), own_keys(other)) == (DEFAULT_OBSERVED, set())


async def test_a_setting_left_out_stays_and_a_null_key_returns_to_the_default(vigil: Vigil, world: World) -> None:
    admin = world.a.actor('admin')
    await vigil.rules.update_observation_settings(
        admin, stale_reading_hours=12, news2_max_age_minutes={'spo2': 60, 'resp_rate': 120},
        observation_minutes={'zero': 480, 'low': 180}, observation_grace_minutes=15)

    view = await vigil.rules.update_observation_settings(
        admin, news2_max_age_minutes={'spo2': None, 'heart_rate': None}, observation_minutes={'zero': None})

    assert (view.stale_reading_hours, view.observation_grace_minutes) == (12, 15)
    assert ages_of(view) == {**DEFAULT_AGES, 'resp_rate': (120, False)}  # resetting a default key is no error
    assert intervals_of(view) == {**DEFAULT_INTERVALS, 'low': (180, False)}
    rules = await vigil.rules.rules(world.a.hospital_id)
    assert (rules.news2_max_age_minutes[VitalKind.SPO2], rules.observation_minutes[ObservationBand.ZERO]) == (780, 720)
    view = await vigil.rules.update_observation_settings(admin, news2_max_age_minutes={'resp_rate': None},
                                                         observation_minutes={'low': None})
    assert (ages_of(view), intervals_of(view)) == (DEFAULT_AGES, DEFAULT_INTERVALS)


async def test_an_integration_changes_observation_settings_naming_the_administrator(
        vigil: Vigil, world: World) -> None:
    ehr = Actor(kind='token', hospital_id=world.a.hospital_id, name='token:ehr', token_id=1,
                token_kind=TokenKind.INTEGRATION)

    view = await vigil.rules.update_observation_settings(ehr, observation_grace_minutes=45, on_behalf_of='Dr Jane Roe')

    assert view.observation_grace_minutes == 45
    [change] = await vigil.rules.history(world.a.actor('admin'))
    assert (change.actor, change.change) == ('Dr Jane Roe (via token:ehr)', 'observation_grace_minutes 30 -> 45')


BAD_OBSERVATION_SETTINGS = [
    ({'stale_reading_hours': 0},
     'The age at which an arriving reading is kept as history only must be whole hours from 1 to 168, not 0'),
    ({'stale_reading_hours': -1}, 'whole hours from 1 to 168, not -1'),
    ({'stale_reading_hours': 169}, 'whole hours from 1 to 168, not 169'),
    ({'stale_reading_hours': True}, 'whole hours from 1 to 168, not True'),
    ({'stale_reading_hours': '24'}, "whole hours from 1 to 168, not '24'"),
    ({'stale_reading_hours': 1.5}, 'whole hours from 1 to 168, not 1.5'),
    ({'observation_grace_minutes': 0}, 'The grace period before observations count as overdue must be whole minutes '
                                       'from 5 to 240, not 0'),
    ({'observation_grace_minutes': -30}, 'whole minutes from 5 to 240, not -30'),
    ({'observation_grace_minutes': 241}, 'whole minutes from 5 to 240, not 241'),
    ({'observation_grace_minutes': False}, 'whole minutes from 5 to 240, not False'),
    ({'observation_grace_minutes': '30'}, "whole minutes from 5 to 240, not '30'"),
    ({'news2_max_age_minutes': {'spo2': 0}}, 'The maximum age of spo2 must be whole minutes from 5 to 2880, not 0'),
    ({'news2_max_age_minutes': {'spo2': -60}}, 'maximum age of spo2 must be whole minutes from 5 to 2880, not -60'),
    ({'news2_max_age_minutes': {'spo2': 2881}}, 'from 5 to 2880, not 2881'),
    ({'news2_max_age_minutes': {'spo2': True}}, 'from 5 to 2880, not True'),
    ({'news2_max_age_minutes': {'spo2': '60'}}, "from 5 to 2880, not '60'"),
    ({'news2_max_age_minutes': {'pulse': 60}}, 'Unknown NEWS2 parameter "pulse"; known are resp_rate, spo2, '
                                               'on_oxygen, systolic_bp, heart_rate, consciousness, temperature'),
    ({'news2_max_age_minutes': {'diastolic_bp': 60}}, 'Unknown NEWS2 parameter "diastolic_bp"'),
    ({'news2_max_age_minutes': {'diastolic_bp': None}}, 'Unknown NEWS2 parameter "diastolic_bp"'),
    ({'observation_minutes': {'urgent': 0}}, 'The observation interval of band "urgent" must be whole minutes from 5 '
                                             'to 1440, not 0'),
    ({'observation_minutes': {'urgent': -15}}, 'band "urgent" must be whole minutes from 5 to 1440, not -15'),
    ({'observation_minutes': {'zero': 1441}}, 'band "zero" must be whole minutes from 5 to 1440, not 1441'),
    ({'observation_minutes': {'low': True}}, 'from 5 to 1440, not True'),
    ({'observation_minutes': {'low': 'hourly'}}, "from 5 to 1440, not 'hourly'"),
    ({'observation_minutes': {'high': 60}}, 'Unknown observation band "high"; known are zero, low, urgent, emergency'),
    ({'observation_minutes': {'continuous': None}}, 'Unknown observation band "continuous"'),
    ({'observation_minutes': {'urgent': 300}}, 'Band "urgent" (300 min) cannot be observed less often than band '
                                               '"low" (240 min)'),
    ({'observation_minutes': {'zero': 200}}, 'Band "low" (240 min) cannot be observed less often than band "zero" '
                                             '(200 min)'),
    ({'observation_minutes': {'low': 30}}, 'Band "urgent" (60 min) cannot be observed less often than band "low" '
                                           '(30 min)'),
    # All or nothing: the good values given with a bad one are not stored either.
    ({'stale_reading_hours': 6, 'observation_grace_minutes': 60, 'news2_max_age_minutes': {'spo2': 60},
      'observation_minutes': {'emergency': 90}}, 'Band "emergency" (90 min) cannot be observed less often'),
    ({'stale_reading_hours': 6, 'news2_max_age_minutes': {'spo2': 60, 'diastolic_bp': 60}},
     'Unknown NEWS2 parameter "diastolic_bp"'),
    ({}, 'Name at least one observation setting to change'),
    ({'news2_max_age_minutes': {}, 'observation_minutes': {}}, 'Name at least one observation setting'),
]


@pytest.mark.parametrize('change, message', BAD_OBSERVATION_SETTINGS)
async def test_bad_observation_settings_are_refused_and_change_nothing(
        vigil: Vigil, world: World, change: dict[str, Any], message: str) -> None:
    admin = world.a.actor('admin')
    before = await vigil.rules.get(admin)
    cached = await vigil.rules.rules(world.a.hospital_id)

    with pytest.raises(InvalidInput) as refused:
        await vigil.rules.update_observation_settings(admin, **change)

    assert message in refused.value.message
    assert await vigil.rules.get(admin) == before
    assert await vigil.rules.rules(world.a.hospital_id) == cached
    assert await vigil.rules.history(admin) == []


async def test_the_band_order_is_checked_against_the_hospitals_own_intervals(vigil: Vigil, world: World) -> None:
    admin = world.a.actor('admin')
    await vigil.rules.update_observation_settings(admin, observation_minutes={'zero': 200, 'low': 180})
    before = await vigil.rules.get(admin)

    for change, message in (({'urgent': 190}, 'Band "urgent" (190 min) cannot be observed less often than band '
                                              '"low" (180 min)'),
                            ({'low': None}, 'Band "low" (240 min) cannot be observed less often than band "zero" '
                                            '(200 min)')):  # a reset is checked on what it would apply
        with pytest.raises(InvalidInput) as refused:
            await vigil.rules.update_observation_settings(admin, observation_minutes=change)
        assert message in refused.value.message
    assert await vigil.rules.get(admin) == before


async def test_observation_changes_are_in_the_rule_history_with_who_and_what(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    admin = world.a.actor('admin')
    await vigil.rules.update_observation_settings(admin, stale_reading_hours=12, observation_grace_minutes=15)
    clock.advance(minutes=1)
    await vigil.rules.update_observation_settings(
        admin, news2_max_age_minutes={'spo2': 60, 'resp_rate': 240}, observation_minutes={'urgent': 30})
    clock.advance(minutes=1)
    await vigil.rules.update_observation_settings(admin, news2_max_age_minutes={'spo2': None},
                                                  observation_minutes={'urgent': None, 'zero': 720})

    history = await vigil.rules.history(admin)

    admin_name = 'Admin (alpha-admin)'
    assert [(c.at, c.actor, c.change) for c in history] == [
        (clock(), admin_name, 'news2_max_age_minutes.spo2 60 -> default 780, observation_minutes.urgent 30 -> '
                              'default 60, observation_minutes.zero 720 -> 720'),
        (clock() - timedelta(minutes=1), admin_name, 'news2_max_age_minutes.spo2 780 -> 60, '
                                                     'news2_max_age_minutes.resp_rate 780 -> 240, '
                                                     'observation_minutes.urgent 60 -> 30'),
        (clock() - timedelta(minutes=2), admin_name, 'stale_reading_hours 24 -> 12, observation_grace_minutes '
                                                     '30 -> 15'),
    ]
    assert await vigil.rules.history(world.b.actor('admin')) == []
