"""HL7 v2 over MLLP: IHE PCD-01 readings and PCD-04 alarms from vendor-style messages, every kind of refusal, the
control id that makes a repeat harmless, and the listener end to end with `mllp_send` (the hl7 package's client)."""

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, Priority, VitalKind
from app.errors import AlreadyExists, InvalidInput
from app.mllp.listener import MllpListener
from app.mllp.message import parse
from app.schemas import Actor, VitalReadingIn
from data.models import Alert, Hl7Message, VitalReading

from .conftest import FakeClock, World

EXAMPLES = Path(__file__).resolve().parent / 'hl7'
MLLP_SEND = Path(sys.executable).parent / 'mllp_send'


def example(name: str) -> str:
    """An example message as MLLP carries it: segments separated by carriage returns."""
    return (EXAMPLES / name).read_text().strip().replace('\n', '\r')


def replace_segment(message: str, prefix: str, new: str | None) -> str:
    """Replace (or with None remove) the first segment starting with prefix."""
    segments = message.split('\r')
    index = next(i for i, s in enumerate(segments) if s.startswith(prefix))
    if new is None:
        del segments[index]
    else:
        segments[index] = new
    return '\r'.join(segments)


def ack_fields(ack: str) -> dict[str, list[str]]:
    """The segments of an ACK by id, each as its fields."""
    segments = [s.split('|') for s in ack.strip('\x0b\x1c\r\n').split('\r') if s]
    return {s[0]: s for s in segments}


@pytest.fixture
async def feed(vigil: Vigil, world: World) -> MllpListener:
    """A listener (not yet listening) with the example senders registered to hospital alpha."""
    for application in ('PIIC_GW', 'CARESCAPE_GW', 'INFINITY_GW', 'MINDRAY_CMS'):
        await vigil.hl7_feeds.register(hospital_slug='alpha', application=application, facility='ALPHA_ICU')
    return MllpListener(vigil.hl7_feeds, vigil.clock, vigil.telemetry, host='127.0.0.1', port=0)


async def send(listener: MllpListener, message: str, address: str = '10.20.0.15') -> dict[str, list[str]]:
    return ack_fields(await listener.answer(message.encode(), address))


async def readings(vigil: Vigil, mrn_patient_id: int) -> dict[str, tuple[float, str, datetime]]:
    async with vigil.db.read() as session:
        rows = await session.scalars(select(VitalReading).where(VitalReading.patient_id == mrn_patient_id))
        return {row.kind: (row.value, row.unit, row.measured_at) for row in rows}


async def counts(vigil: Vigil) -> tuple[int, int, int]:
    """How many readings, alerts and accepted messages there are: what a refused message must not change."""
    async with vigil.db.read() as session:
        return (await session.scalar(select(func.count()).select_from(VitalReading)) or 0,
                await session.scalar(select(func.count()).select_from(Alert)) or 0,
                await session.scalar(select(func.count()).select_from(Hl7Message)) or 0)


async def patient_alerts(vigil: Vigil, patient_id: int) -> list[Alert]:
    """The patient's alerts from device alarms (a NEWS2 alert the readings raise is detection's business)."""
    async with vigil.db.read() as session:
        return list(await session.scalars(select(Alert).where(
            Alert.patient_id == patient_id, Alert.kind == AlertKind.EXTERNAL).order_by(Alert.id)))


# --- PCD-01 observations -------------------------------------------------------------------------------------------

async def test_a_philips_style_pcd01_message_stores_each_vital_from_its_preferred_source(
        vigil: Vigil, world: World, feed: MllpListener) -> None:
    ack = await send(feed, example('philips_pcd01.hl7'))
    assert ack['MSA'][1:3] == ['AA', 'PIIC-20260302-0001']
    assert 'ERR' not in ack
    stored = await readings(vigil, world.a.patient_ids['North-1'])
    at = datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)
    nibp = datetime(2026, 3, 2, 7, 55, tzinfo=UTC)
    assert stored == {
        'heart_rate': (112, '/min', at),  # the ECG's rate, not the oximeter's pulse (110) of the same moment
        'spo2': (93, '%', at), 'resp_rate': (22, '/min', at),
        'systolic_bp': (104, 'mm[Hg]', nibp), 'diastolic_bp': (61, 'mm[Hg]', nibp),  # the mean (75) has no place
        'temperature': (38.4, 'Cel', datetime(2026, 3, 2, 7, 50, tzinfo=UTC))}
    patient = await vigil.patients.get(Actor.system('test', world.a.hospital_id), world.a.patient_ids['North-1'])
    assert patient.news2.total is not None and patient.news2.total >= 5  # scored like any reading: detection ran


async def test_ucum_units_obr_time_statuses_and_a_second_identifier_in_a_ge_style_message(
        vigil: Vigil, world: World, feed: MllpListener) -> None:
    ack = await send(feed, example('ge_pcd01.hl7'))
    assert ack['MSA'][1] == 'AA'
    at = datetime(2026, 3, 2, 7, 59, 45, tzinfo=UTC)  # OBR-7: the OBX segments carry no time of their own
    assert await readings(vigil, world.a.patient_ids['North-2']) == {
        'heart_rate': (47, '/min', at), 'spo2': (97, '%', at),
        'resp_rate': (10, '/min', at),  # the preliminary (P) 9 is not stored; the final impedance rate is
        'systolic_bp': (128, 'mm[Hg]', at), 'diastolic_bp': (79, 'mm[Hg]', at),
        'temperature': (36.9, 'Cel', at)}  # corrected (C) is stored


async def test_fahrenheit_offsets_and_a_withdrawn_result_in_a_draeger_style_message(
        vigil: Vigil, world: World, feed: MllpListener) -> None:
    assert (await send(feed, example('draeger_pcd01.hl7')))['MSA'][1] == 'AA'
    at = datetime(2026, 3, 2, 7, 59, tzinfo=UTC)  # 08:59 at +0100
    assert await readings(vigil, world.a.patient_ids['South-1']) == {
        'temperature': (38.0, 'Cel', at), 'spo2': (95, '%', at)}  # the wrong (W) 99 % is left out


# --- PCD-04 alarms -------------------------------------------------------------------------------------------------

async def test_an_alarm_is_raised_continued_without_counting_and_ended(
        vigil: Vigil, world: World, feed: MllpListener, clock: FakeClock) -> None:
    patient_id = world.a.patient_ids['North-1']
    assert (await send(feed, example('mindray_pcd04_spo2_low_start.hl7')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, patient_id)
    assert (alert.kind, alert.priority, alert.status) == (AlertKind.EXTERNAL, Priority.HIGH, AlertStatus.ACTIVE)
    assert alert.dedup_key == 'mdc:150456:196670'
    assert 'SpO2 Low' in alert.message and 'SpO2 86 %' in alert.message and '90-100' in alert.message
    assert (await send(feed, example('mindray_pcd04_spo2_low_continue.hl7')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, patient_id)
    assert alert.occurrences == 1  # the same alarm going on is not a new occurrence
    await vigil.rules.update_settings(Actor.system('test', world.a.hospital_id), alarms_latch=False)
    clock.advance(seconds=30)
    assert (await send(feed, example('mindray_pcd04_spo2_low_end.hl7')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, patient_id)
    assert alert.status == AlertStatus.RESOLVED  # the hospital does not latch: the ended alarm resolves


async def test_an_ended_alarm_stays_open_where_the_hospital_latches_and_a_new_start_counts_again(
        vigil: Vigil, world: World, feed: MllpListener) -> None:
    patient_id = world.a.patient_ids['North-1']
    await send(feed, example('mindray_pcd04_spo2_low_start.hl7'))
    assert (await send(feed, example('mindray_pcd04_spo2_low_end.hl7')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, patient_id)
    assert alert.status == AlertStatus.ACTIVE and alert.cleared_at is not None  # latched: a person resolves it
    again = example('mindray_pcd04_spo2_low_start.hl7').replace('MR-ALM-0001|P', 'MR-ALM-0009|P')
    assert (await send(feed, again.replace('L~PM~SP', 'L~PH~SP')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, patient_id)
    assert (alert.occurrences, alert.priority, alert.cleared_at) == (2, Priority.CRITICAL, None)


async def test_a_technical_alarm_is_its_own_alert_per_patient_and_code(
        vigil: Vigil, world: World, feed: MllpListener) -> None:
    assert (await send(feed, example('philips_pcd04_lead_off.hl7')))['MSA'][1] == 'AA'
    [alert] = await patient_alerts(vigil, world.a.patient_ids['North-2'])
    assert (alert.priority, alert.dedup_key) == (Priority.LOW, 'mdc:69798:196680')
    assert alert.message.startswith('Monitor alarm: ECG Leads Off')
    assert await patient_alerts(vigil, world.a.patient_ids['North-1']) == []


async def test_an_advisory_without_alarm_priority_raises_nothing(vigil: Vigil, world: World,
                                                                 feed: MllpListener) -> None:
    advisory = example('mindray_pcd04_spo2_low_start.hl7').replace('L~PM~SP', 'PN~SP')
    assert (await send(feed, advisory))['MSA'][1] == 'AA'
    assert await patient_alerts(vigil, world.a.patient_ids['North-1']) == []
    assert await counts(vigil) == (0, 0, 1)


# --- repeats -------------------------------------------------------------------------------------------------------

async def test_a_repeated_control_id_is_answered_aa_again_and_stored_once(vigil: Vigil, world: World,
                                                                         feed: MllpListener) -> None:
    first = await send(feed, example('philips_pcd01.hl7'))
    before = await counts(vigil)
    again = await send(feed, example('philips_pcd01.hl7'))
    assert first['MSA'][1:3] == again['MSA'][1:3] == ['AA', 'PIIC-20260302-0001']
    assert await counts(vigil) == before == (6, before[1], 1)
    await send(feed, example('mindray_pcd04_spo2_low_start.hl7'))
    await send(feed, example('mindray_pcd04_spo2_low_start.hl7'))
    [alert] = await patient_alerts(vigil, world.a.patient_ids['North-1'])
    assert alert.occurrences == 1  # a repeated "start" is the same message, not a second episode


async def test_control_ids_are_forgotten_after_a_week(vigil: Vigil, world: World, feed: MllpListener,
                                                      clock: FakeClock) -> None:
    await send(feed, example('ge_pcd01.hl7'))
    clock.advance(days=6, hours=23)
    assert await vigil.hl7_feeds.purge_control_ids() == 0
    clock.advance(hours=2)
    assert await vigil.hl7_feeds.purge_control_ids() == 1
    assert (await counts(vigil))[0::2] == (6, 0)  # the readings stay; only the repeat check forgets


async def test_the_same_control_id_from_another_sender_is_another_message(vigil: Vigil, world: World,
                                                                          feed: MllpListener) -> None:
    await send(feed, example('philips_pcd01.hl7'))
    other = example('ge_pcd01.hl7').replace('GE0000174|P', 'PIIC-20260302-0001|P')
    assert (await send(feed, other))['MSA'][1] == 'AA'
    assert await readings(vigil, world.a.patient_ids['North-2'])
    assert (await counts(vigil))[2] == 2


async def test_concurrent_copies_of_one_message_store_it_once(vigil: Vigil, world: World,
                                                              feed: MllpListener) -> None:
    answers = await asyncio.gather(*(send(feed, example('ge_pcd01.hl7')) for _ in range(4)))
    assert all(a['MSA'][1] == 'AA' for a in answers)
    assert (await counts(vigil))[0::2] == (6, 1)



async def test_copies_in_one_shared_ingest_transaction_store_the_message_once(vigil: Vigil, world: World) -> None:
    """Two copies that join the same group commit: the shared transaction fails on the control id, each copy is
    written again alone, and the first must store its control id again (it was rolled back), the second finds it."""
    sender = await vigil.hl7_feeds.register(hospital_slug='alpha', application='PIIC_GW', facility='ALPHA_ICU')
    at = datetime(2026, 3, 2, 7, 59, 30, tzinfo=UTC)
    readings = [VitalReadingIn(patient_mrn='alpha-North-1', kind=VitalKind.HEART_RATE, value=112, unit='/min',
                               measured_at=at)]
    commits = vigil.patients.shared_commits
    stored = await asyncio.gather(*(vigil.hl7_feeds.record_readings(sender, 'PIIC-1', 'ORU^R01', readings)
                                    for _ in range(2)))
    assert sorted(stored) == [False, True]
    assert await counts(vigil) == (1, 0, 1)
    assert vigil.patients.shared_commits == commits + 1  # the shared attempt failed; one copy committed alone

# --- refusals: AE names the field, AR refuses the message; neither changes anything --------------------------------

BAD_CONTENT = [
    ('unknown patient', lambda m: m.replace('alpha-North-1^', 'alpha-Nowhere-9^'), 'PID^1^3', '204'),
    ("another hospital's patient", lambda m: m.replace('alpha-North-1^', 'beta-East-1^'), 'PID^1^3', '204'),
    ('no PID segment', lambda m: replace_segment(m, 'PID|', None), 'PID^1', '101'),
    ('no identifier in PID-3', lambda m: replace_segment(m, 'PID|', 'PID|||||DOE^JANE'), 'PID^1^3', '101'),
    ('heart rate in mmHg', lambda m: m.replace('|112|264864^MDC_DIM_BEAT_PER_MIN^MDC', '|112|266016^MDC_DIM_MMHG^MDC'),
     'OBX^2^6', '103'),
    ('text where a number belongs', lambda m: m.replace('|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.150456|93|',
                                                        '|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.150456|high|'),
     'OBX^3^5', '102'),
    ('an impossible heart rate', lambda m: m.replace('|112|', '|900|'), 'OBX^2^5', '102'),
    ('a time without its UTC offset', lambda m: m.replace('|R|||20260302075930+0000', '|R|||20260302075930', 1),
     'OBX^2^14', '102'),
    ('a time in the future', lambda m: m.replace('|R|||20260302075930+0000', '|R|||20260302093000+0000', 1),
     'OBX^2^14', '102'),
    ('a date that does not exist', lambda m: m.replace('|F|||20260302075000+0000', '|F|||20260231075000+0000'),
     'OBX^9^14', '102'),
]


@pytest.mark.parametrize(('change', 'location', 'code'), [(c, loc, code) for _, c, loc, code in BAD_CONTENT],
                         ids=[name for name, *_ in BAD_CONTENT])
async def test_bad_observations_are_answered_ae_naming_the_field_and_store_nothing(
        vigil: Vigil, world: World, feed: MllpListener, change: Callable[[str], str], location: str,
        code: str) -> None:
    before = await counts(vigil)
    ack = await send(feed, change(example('philips_pcd01.hl7')))
    assert ack['MSA'][1:3] == ['AE', 'PIIC-20260302-0001']
    assert ack['ERR'][2] == location and ack['ERR'][3].startswith(f'{code}^') and ack['ERR'][4] == 'E'
    assert ack['ERR'][8]  # says in words what is wrong
    assert await counts(vigil) == before
    # Corrected and sent again with the same control id, it is stored: the refusal recorded nothing.
    assert (await send(feed, example('philips_pcd01.hl7')))['MSA'][1] == 'AA'


BAD_ALARMS = [
    ('no priority', lambda m: m.replace('L~PM~SP', 'L~SP'), 'OBX^1^8', '103'),
    ('an unknown phase', lambda m: m.replace('|start|', '|begun|'), 'OBX^3^5', '103'),
    ('an unknown state', lambda m: m.replace('|active|', '|ringing|'), 'OBX^4^5', '103'),
    ('no alarm OBX at all', lambda m: '\r'.join(s for s in m.split('\r') if not s.startswith('OBX')), 'OBX^1^8',
     '101'),
]


@pytest.mark.parametrize(('change', 'location', 'code'), [(c, loc, code) for _, c, loc, code in BAD_ALARMS],
                         ids=[name for name, *_ in BAD_ALARMS])
async def test_bad_alarms_are_answered_ae_naming_the_field_and_raise_nothing(
        vigil: Vigil, world: World, feed: MllpListener, change: Callable[[str], str], location: str,
        code: str) -> None:
    before = await counts(vigil)
    ack = await send(feed, change(example('mindray_pcd04_spo2_low_start.hl7')))
    assert ack['MSA'][1] == 'AE'
    assert ack['ERR'][2] == location and ack['ERR'][3].startswith(f'{code}^')
    assert await counts(vigil) == before


REJECTED = [
    ('unknown sender', lambda m: m.replace('PIIC_GW^', 'ROGUE_GW^'), 'MSH^1^3', '204'),
    ('known application, unknown facility', lambda m: m.replace('|ALPHA_ICU|', '|BETA_ICU|'), 'MSH^1^3', '204'),
    ('an unsupported message type', lambda m: m.replace('ORU^R01^ORU_R01', 'ADT^A01^ADT_A01'), 'MSH^1^9', '200'),
    ('a training message', lambda m: m.replace('|P|2.6|', '|T|2.6|'), 'MSH^1^11', '202'),
    ('HL7 version 3', lambda m: m.replace('|P|2.6|', '|P|3.0|'), 'MSH^1^12', '203'),
    ('no control id', lambda m: m.replace('|PIIC-20260302-0001|P|', '||P|'), 'MSH^1^10', '101'),
    ('not HL7 at all', lambda m: 'GET / HTTP/1.1', 'MSH^1', '101'),
]


@pytest.mark.parametrize(('change', 'location', 'code'), [(c, loc, code) for _, c, loc, code in REJECTED],
                         ids=[name for name, *_ in REJECTED])
async def test_messages_refused_as_a_whole_are_answered_ar_and_change_nothing(
        vigil: Vigil, world: World, feed: MllpListener, change: Callable[[str], str], location: str,
        code: str) -> None:
    before = await counts(vigil)
    ack = await send(feed, change(example('philips_pcd01.hl7')))
    assert ack['MSA'][1] == 'AR'
    assert ack['ERR'][2] == location and ack['ERR'][3].startswith(f'{code}^')
    assert await counts(vigil) == before


async def test_an_unknown_sender_is_logged_and_counted(vigil: Vigil, world: World, feed: MllpListener,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger='vigil.mllp'):
        ack = await send(feed, example('philips_pcd01.hl7').replace('PIIC_GW^', 'ROGUE_GW^'), address='10.9.9.9')
    assert ack['MSA'][1] == 'AR'
    assert any('ROGUE_GW^ALPHA_ICU' in r.getMessage() and '10.9.9.9' in r.getMessage() for r in caplog.records)
    metrics = vigil.telemetry.render().decode()
    assert 'vigil_hl7_unknown_sender_messages_total 1.0' in metrics
    assert 'vigil_hl7_messages_total{ack="AR",type="ORU^R01"} 1.0' in metrics


async def test_a_failure_to_store_is_answered_ar_207_so_that_the_sender_sends_again(
        vigil: Vigil, world: World, feed: MllpListener, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def database_gone(*_: object) -> bool:
        raise OperationalError('INSERT ...', {}, ConnectionRefusedError('the database went away'))

    monkeypatch.setattr(vigil.hl7_feeds, 'record_readings', database_gone)
    with caplog.at_level(logging.ERROR, logger='vigil.mllp'):
        ack = await send(feed, example('philips_pcd01.hl7'))
    assert ack['MSA'][1:3] == ['AR', 'PIIC-20260302-0001'] and ack['ERR'][3].startswith('207^')
    assert any('could not be stored' in r.getMessage() for r in caplog.records)
    assert await counts(vigil) == (0, 0, 0)
    monkeypatch.undo()
    assert (await send(feed, example('philips_pcd01.hl7')))['MSA'][1] == 'AA'  # sent again: stored


async def test_a_sender_with_an_allowlist_is_refused_from_other_addresses(vigil: Vigil, world: World) -> None:
    await vigil.hl7_feeds.register(hospital_slug='alpha', application='PIIC_GW', facility='ALPHA_ICU',
                                   allowed_from=['10.20.0.0/24', '192.168.7.3'])
    listener = MllpListener(vigil.hl7_feeds, vigil.clock, vigil.telemetry, host='127.0.0.1', port=0)
    refused = await send(listener, example('philips_pcd01.hl7'), address='10.20.1.15')
    assert refused['MSA'][1] == 'AR' and await counts(vigil) == (0, 0, 0)
    assert (await send(listener, example('philips_pcd01.hl7'), address='10.20.0.15'))['MSA'][1] == 'AA'


async def test_a_message_of_another_hospitals_sender_lands_only_there(vigil: Vigil, world: World) -> None:
    await vigil.hl7_feeds.register(hospital_slug='beta', application='PIIC_GW', facility='ALPHA_ICU')
    listener = MllpListener(vigil.hl7_feeds, vigil.clock, vigil.telemetry, host='127.0.0.1', port=0)
    ack = await send(listener, example('philips_pcd01.hl7'))  # names alpha's patient, but comes from beta's sender
    assert ack['MSA'][1] == 'AE' and ack['ERR'][2] == 'PID^1^3'
    assert await counts(vigil) == (0, 0, 0)


# --- the sender registry -------------------------------------------------------------------------------------------

async def test_the_sender_registry_refuses_bad_names_networks_and_duplicates(vigil: Vigil, world: World) -> None:
    await vigil.hl7_feeds.register(hospital_slug='alpha', application='PIIC_GW', facility='ALPHA_ICU')
    with pytest.raises(AlreadyExists):
        await vigil.hl7_feeds.register(hospital_slug='beta', application='PIIC_GW', facility='ALPHA_ICU')
    with pytest.raises(InvalidInput, match='separators'):
        await vigil.hl7_feeds.register(hospital_slug='alpha', application='PIIC^GW', facility='X')
    with pytest.raises(InvalidInput, match='not an address'):
        await vigil.hl7_feeds.register(hospital_slug='alpha', application='OTHER', facility='X',
                                       allowed_from=['10.20.0.0/33'])
    assert [(s.hospital_slug, s.application) for s in await vigil.hl7_feeds.senders()] == [('alpha', 'PIIC_GW')]


def test_parse_reads_lf_separated_files_as_well() -> None:
    message = parse(example('philips_pcd01.hl7').replace('\r', '\n'))
    assert len(message.segments('OBX')) == 9


# --- end to end: the real client over a real socket ----------------------------------------------------------------

@pytest.fixture
async def listening(feed: MllpListener) -> AsyncIterator[MllpListener]:
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def mllp_send(listener: MllpListener, *files: Path) -> list[dict[str, list[str]]]:
    """Send files with `mllp_send --loose -f` (one connection per file) and return the ACKs it printed."""
    acks = []
    for path in files:
        process = await asyncio.create_subprocess_exec(
            str(MLLP_SEND), '--loose', '-f', str(path), '-p', str(listener.port), '127.0.0.1',
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        acks += [ack_fields(block) for block in out.decode().split('\x1c\r') if block.strip()]
    return acks


async def test_mllp_send_delivers_vendor_files_and_gets_the_acks(
        vigil: Vigil, world: World, listening: MllpListener, tmp_path: Path) -> None:
    batch = tmp_path / 'batch.hl7'  # several messages in one file: sent one after the other on one connection
    batch.write_text('\n'.join((EXAMPLES / name).read_text() for name in (
        'ge_pcd01.hl7', 'mindray_pcd04_spo2_low_start.hl7', 'draeger_pcd01.hl7')))
    acks = await mllp_send(listening, EXAMPLES / 'philips_pcd01.hl7', batch, EXAMPLES / 'philips_pcd01.hl7')
    assert [(a['MSA'][1], a['MSA'][2]) for a in acks] == [
        ('AA', 'PIIC-20260302-0001'), ('AA', 'GE0000174'), ('AA', 'MR-ALM-0001'), ('AA', 'DRG-77001'),
        ('AA', 'PIIC-20260302-0001')]  # the last one a repeat: answered AA, stored once
    assert all(a['MSH'][8].startswith('ACK') and a['MSH'][2] == 'VIGIL' for a in acks)
    assert (await readings(vigil, world.a.patient_ids['North-1']))['heart_rate'][0] == 112
    assert (await readings(vigil, world.a.patient_ids['South-1']))['temperature'][0] == 38.0
    readings_stored, _, messages = await counts(vigil)
    assert (readings_stored, messages) == (6 + 6 + 2, 4)
    [alert] = await patient_alerts(vigil, world.a.patient_ids['North-1'])
    assert alert.priority == Priority.HIGH
    async with vigil.db.read() as session:
        sources = set(await session.scalars(select(VitalReading.source)))
    assert sources == {'hl7:PIIC_GW^ALPHA_ICU', 'hl7:CARESCAPE_GW^ALPHA_ICU', 'hl7:INFINITY_GW^ALPHA_ICU'}


async def test_mllp_send_from_an_unknown_sender_gets_ar(vigil: Vigil, world: World, listening: MllpListener,
                                                        tmp_path: Path) -> None:
    rogue = tmp_path / 'rogue.hl7'
    rogue.write_text((EXAMPLES / 'philips_pcd01.hl7').read_text().replace('PIIC_GW^', 'ROGUE_GW^'))
    [ack] = await mllp_send(listening, rogue)
    assert ack['MSA'][1] == 'AR' and ack['ERR'][2] == 'MSH^1^3'
    assert await counts(vigil) == (0, 0, 0)


async def test_stopping_closes_idle_connections_and_refuses_new_ones(vigil: Vigil, world: World,
                                                                     listening: MllpListener) -> None:
    port = listening.port
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    await listening.stop()
    assert await reader.read() == b''  # closed by the server, nothing half-answered
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection('127.0.0.1', port)


async def test_a_connection_that_does_not_speak_mllp_is_closed_and_logged(
        vigil: Vigil, world: World, listening: MllpListener, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', listening.port)
    with caplog.at_level(logging.WARNING, logger='vigil.mllp'):
        writer.write(example('philips_pcd01.hl7').encode() + b'\x1c\r')  # no start block
        assert await reader.read() == b''  # no ACK: this is not MLLP
    writer.close()
    assert any(getattr(r, 'event', None) == 'hl7.bad_frame' for r in caplog.records)
    assert await counts(vigil) == (0, 0, 0)


def test_readings_kinds_cover_every_mapped_code() -> None:
    from app.mllp.pcd import VITAL_CODES

    assert {kind for kind, _ in VITAL_CODES.values()} == {
        VitalKind.HEART_RATE, VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.SYSTOLIC_BP, VitalKind.DIASTOLIC_BP,
        VitalKind.TEMPERATURE}
