"""The hospital's alarm rules, editable by its administrators: critical limits with their persistence delay,
escalation steps per priority, the device heartbeat, alarm latching, data age and observation frequency.

Every change goes through the rules service, which checks it (inverted or impossible limits, delays out of
bounds, escalation steps that never escalate) and stores nothing it refuses; the refusal is shown next to the row.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from html import escape

from nicegui import ui

from app.domain.observations import (
    DEFAULT_NEWS2_MAX_AGE_MINUTES,
    DEFAULT_OBSERVATION_GRACE_MINUTES,
    DEFAULT_OBSERVATION_MINUTES,
    DEFAULT_STALE_READING_HOURS,
    ObservationBand,
)
from app.errors import DomainError
from app.schemas import Actor, CriticalLimitView, EscalationStepsView, HospitalRulesView
from app.services.rules import RulesService

from .headings import heading
from .theme import PRIORITY_LABELS, priority_chip
from .timestamps import datetime_html

log = logging.getLogger(__name__)

PARAMETERS = {
    'heart_rate': ('Heart rate', '/min'), 'resp_rate': ('Respiratory rate', '/min'),
    'spo2': ('SpO₂, scale 1', '%'), 'spo2_scale2': ('SpO₂, scale 2 patients', '%'),
    'systolic_bp': ('Systolic blood pressure', 'mmHg'), 'diastolic_bp': ('Diastolic blood pressure', 'mmHg'),
    'temperature': ('Temperature', '°C'), 'consciousness': ('Consciousness', 'ACVPU'),
}
# Consciousness is stored as the ACVPU ordinal (0 Alert ... 4 Unresponsive) and only has a high limit: the level
# from which on it alerts. People choose it by its letter.
ACVPU = 'ACVPU'
ACVPU_NAMES = ('alert', 'new confusion', 'responds to voice', 'responds to pain', 'unresponsive')
NEWS2_NAMES = {'resp_rate': 'Respiratory rate', 'spo2': 'SpO₂', 'on_oxygen': 'Air or oxygen',
               'systolic_bp': 'Systolic BP', 'heart_rate': 'Heart rate', 'consciousness': 'Consciousness',
               'temperature': 'Temperature'}
# The chart's monitoring frequencies (RCP NEWS2 chart 4) as staff name them.
BAND_NAMES = {ObservationBand.ZERO: 'NEWS2 0', ObservationBand.LOW: 'NEWS2 1-4',
              ObservationBand.URGENT: 'single 3 or 5-6', ObservationBand.EMERGENCY: '7 or more'}


def acvpu_options(current: float | None) -> dict[int, str]:
    """Return the levels a consciousness limit can start at (Alert only if it is stored already: it alarms on all)."""
    levels = range(0 if current == 0 else 1, len(ACVPU))
    return {level: f'{ACVPU[level]} ({ACVPU_NAMES[level]})' + (' or worse' if level < len(ACVPU) - 1 else '')
            for level in levels}

_STYLE = '''
<style>
.vigil-rules { display: grid; gap: 8px; }
.vigil-rule { display: grid; gap: 6px 10px; align-items: center; padding: 8px 0; border-bottom: 1px solid #eeeeee;
  grid-template-columns: minmax(12rem, 2fr) repeat(4, minmax(6.5rem, 1fr)) auto; }
.vigil-rule-escalation { grid-template-columns: minmax(8rem, 1fr) minmax(10rem, 2fr) auto; }
.vigil-rule-name { font-weight: 600; }
.vigil-rule-origin { display: block; font-size: .78rem; color: #757575; font-weight: 400; }
.vigil-rule-error { grid-column: 1 / -1; color: #b71c1c; font-weight: 600; }
.vigil-rule-error:empty { display: none; }
.vigil-obs-grid { display: grid; gap: 4px 10px; align-items: start;
  grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); }
.vigil-obs-wide { grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
.vigil-obs-heading { font-weight: 600; margin-top: 6px; }
@media (max-width: 899px) {
  .vigil-rule { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .vigil-rule-name, .vigil-rule-actions { grid-column: 1 / -1; }
  .vigil-rule-escalation { grid-template-columns: minmax(0, 1fr); }
}
</style>
'''


def install() -> None:
    """Add the editor's styles to the page."""
    ui.add_head_html(_STYLE)


def origin_html(is_default: bool, updated_by: str | None, updated_at: object) -> str:
    """Say whether a rule is the default or the hospital's own, and who set it when."""
    if is_default:
        return '<span class="vigil-rule-origin">default</span>'
    when = f' · {datetime_html(updated_at)}' if updated_at is not None else ''  # type: ignore[arg-type]
    return f'<span class="vigil-rule-origin">set by {escape(updated_by or "?")}{when}</span>'


def whole(value: float | None, what: str) -> int:
    """Return a whole number typed into a field, or raise ValueError saying what is missing."""
    if value is None or value != int(value):
        raise ValueError(f'Enter {what} as a whole number.')
    return int(value)


def default_hint(is_default: bool, default: int, unit: str) -> str:
    """Say under a setting whether it is Vigil's default or the hospital's own (and what the default is)."""
    return 'default' if is_default else f'own · default {default} {unit}'


def changed_minutes(fields: Mapping[str, ui.number], shown: Mapping[str, tuple[int, bool]],
                    what: Callable[[str], str]) -> dict[str, int | None]:
    """Return the per-key changes typed into fields: a new whole number, or None where an own value was emptied."""
    changes: dict[str, int | None] = {}
    for key, field in fields.items():
        minutes, is_default = shown[key]
        if field.value is None:
            if not is_default:
                changes[key] = None
            continue
        value = whole(field.value, what(key))
        if value != minutes:
            changes[key] = value
    return changes


Acting = Callable[[], Awaitable[Actor]]


class LimitRow:
    """One parameter's critical limits and persistence delay, with Save and Reset."""

    def __init__(self, rules: RulesService, acting: Acting, limit: CriticalLimitView,
                 on_saved: Callable[[HospitalRulesView], None]) -> None:
        self._rules = rules
        self._acting = acting
        self._on_saved = on_saved
        self.parameter = limit.parameter
        name, unit = PARAMETERS.get(limit.parameter, (limit.parameter, ''))
        with ui.element('div').classes('vigil-rule').mark(f'limit-{limit.parameter}'):
            with ui.element('div').classes('vigil-rule-name'):
                ui.label(f'{name} ({unit})')
                self._origin = ui.html('', sanitize=False)  # NOTE: origin_html escapes what comes from outside
            self.low: ui.number | None = None
            self.high: ui.number | ui.select
            if limit.parameter == 'consciousness':
                self.high = ui.select(acvpu_options(limit.high), label='Alert from', clearable=True) \
                    .props('outlined').style('grid-column: span 2').mark(f'limit-{limit.parameter}-high')
            else:
                self.low = ui.number('Low limit', format='%g').props('outlined clearable') \
                    .mark(f'limit-{limit.parameter}-low')
                self.high = ui.number('High limit', format='%g').props('outlined clearable') \
                    .mark(f'limit-{limit.parameter}-high')
            self.seconds = ui.number('Delay (s)', min=0, step=1).props('outlined') \
                .mark(f'limit-{limit.parameter}-seconds')
            self.readings = ui.number('Readings', min=1, step=1).props('outlined') \
                .mark(f'limit-{limit.parameter}-readings')
            with ui.row().classes('vigil-rule-actions gap-1 no-wrap'):
                ui.button('Save', on_click=self.save).props('unelevated no-caps').classes('vigil-touch') \
                    .mark(f'limit-{limit.parameter}-save')
                self._reset = ui.button('Default', on_click=self.reset).props('flat no-caps') \
                    .classes('vigil-touch').tooltip('Back to the default limits').mark(f'limit-{limit.parameter}-reset')
            self.error = ui.label().classes('vigil-rule-error').props('role=alert') \
                .mark(f'limit-{limit.parameter}-error')
        self.show(limit)

    def show(self, limit: CriticalLimitView) -> None:
        """Show the stored state of this parameter (after loading or saving)."""
        if self.low is not None:
            self.low.set_value(limit.low)
        if isinstance(self.high, ui.select):
            self.high.set_options(acvpu_options(limit.high))
            self.high.set_value(None if limit.high is None else int(limit.high))
        else:
            self.high.set_value(limit.high)
        self.seconds.set_value(limit.persistence_seconds)
        self.readings.set_value(limit.persistence_readings)
        self._origin.set_content(origin_html(limit.is_default, limit.updated_by, limit.updated_at))
        self._reset.set_enabled(not limit.is_default)

    async def save(self) -> None:
        try:
            seconds = whole(self.seconds.value, 'the delay in seconds (0 for none)')
            readings = whole(self.readings.value, 'the number of consecutive readings (1 for none)')
            saved = await self._rules.set_limit(await self._acting(), self.parameter,
                                                low=None if self.low is None else self.low.value,
                                                high=self.high.value, persistence_seconds=seconds,
                                                persistence_readings=readings)
        except (ValueError, DomainError) as error:
            self.error.set_text(error.message if isinstance(error, DomainError) else str(error))
            return
        self.error.set_text('')
        self._on_saved(saved)
        ui.notify(f'Saved the limits of {PARAMETERS.get(self.parameter, (self.parameter,))[0].lower()}.',
                  type='positive')

    async def reset(self) -> None:
        try:
            saved = await self._rules.reset_limit(await self._acting(), self.parameter)
        except DomainError as error:
            self.error.set_text(error.message)
            return
        self.error.set_text('')
        self._on_saved(saved)


class EscalationRow:
    """One priority's escalation steps (minutes after raising), with Save and Reset."""

    def __init__(self, rules: RulesService, acting: Acting, steps: EscalationStepsView,
                 on_saved: Callable[[HospitalRulesView], None]) -> None:
        self._rules = rules
        self._acting = acting
        self._on_saved = on_saved
        self.priority = steps.priority
        with ui.element('div').classes('vigil-rule vigil-rule-escalation').mark(f'escalation-{steps.priority.value}'):
            with ui.element('div').classes('vigil-rule-name'):
                ui.html(priority_chip(steps.priority), sanitize=False)
                self._origin = ui.html('', sanitize=False)  # NOTE: origin_html escapes what comes from outside
            self.minutes = ui.input('Minutes after raising', placeholder='e.g. 2, 5 (empty: never)') \
                .props('outlined').mark(f'escalation-{steps.priority.value}-minutes')
            with ui.row().classes('vigil-rule-actions gap-1 no-wrap'):
                ui.button('Save', on_click=self.save).props('unelevated no-caps').classes('vigil-touch') \
                    .mark(f'escalation-{steps.priority.value}-save')
                self._reset = ui.button('Default', on_click=self.reset).props('flat no-caps') \
                    .classes('vigil-touch').tooltip('Back to the default steps')
            self.error = ui.label().classes('vigil-rule-error').props('role=alert') \
                .mark(f'escalation-{steps.priority.value}-error')
        self.show(steps)

    def show(self, steps: EscalationStepsView) -> None:
        """Show the stored steps of this priority."""
        self.minutes.set_value(', '.join(str(m) for m in steps.minutes))
        self._origin.set_content(origin_html(steps.is_default, steps.updated_by, steps.updated_at))
        self._reset.set_enabled(not steps.is_default)

    async def save(self) -> None:
        text = (self.minutes.value or '').replace(';', ',')
        try:
            minutes = tuple(int(part) for part in text.split(',') if part.strip())
        except ValueError:
            self.error.set_text('Write whole minutes separated by commas, for example "2, 5".')
            return
        try:
            saved = await self._rules.set_escalation(await self._acting(), self.priority, minutes)
        except DomainError as error:
            self.error.set_text(error.message)
            return
        self.error.set_text('')
        self._on_saved(saved)
        ui.notify(f'Saved the escalation of {PRIORITY_LABELS[self.priority].lower()} alerts.', type='positive')

    async def reset(self) -> None:
        try:
            saved = await self._rules.reset_escalation(await self._acting(), self.priority)
        except DomainError as error:
            self.error.set_text(error.message)
            return
        self.error.set_text('')
        self._on_saved(saved)


class ObservationSettings:
    """Data age and observation frequency: four hospital settings, saved together (all or nothing)."""

    def __init__(self, rules: RulesService, acting: Acting, current: HospitalRulesView,
                 on_saved: Callable[[HospitalRulesView], None]) -> None:
        self._rules = rules
        self._acting = acting
        self._on_saved = on_saved
        self._current = current
        with ui.element('section').classes('vigil-panel w-full column gap-1') \
                .props('aria-label="Observations and data age"').mark('observation-settings'):
            heading('Observations and data age', 2).classes('vigil-panel-title')
            with ui.element('div').classes('vigil-obs-grid vigil-obs-wide w-full'):
                with ui.column().classes('gap-1'):
                    self._stale = ui.number('History only after (h)', min=1, step=1).props('outlined') \
                        .mark('stale-reading-hours')
                    self._stale_text = ui.label().classes('text-caption text-grey-8')
                with ui.column().classes('gap-1'):
                    self._grace = ui.number('Grace before overdue (min)', min=5, step=5).props('outlined') \
                        .mark('observation-grace')
                    ui.label('How late the next full set of observations may be before an "observations overdue" '
                             'alert.').classes('text-caption text-grey-8')
            ui.label('NEWS2 counts a value as missing once it is older than (min)').classes('vigil-obs-heading')
            with ui.element('div').classes('vigil-obs-grid w-full'):
                self._ages = {kind.value: ui.number(NEWS2_NAMES.get(kind.value, kind.value), min=5, step=5)
                              .props('outlined').mark(f'news2-max-age-{kind.value}')
                              for kind in DEFAULT_NEWS2_MAX_AGE_MINUTES}
            ui.label('Next full set of observations due after (min), by NEWS2 score').classes('vigil-obs-heading')
            with ui.element('div').classes('vigil-obs-grid w-full'):
                self._intervals = {band.value: ui.number(BAND_NAMES[band], min=5, step=5).props('outlined')
                                   .mark(f'observation-minutes-{band.value}') for band in DEFAULT_OBSERVATION_MINUTES}
            with ui.row().classes('items-center gap-3'):
                ui.button('Save', on_click=self.save).props('unelevated no-caps').classes('vigil-touch') \
                    .mark('observations-save')
                ui.label("Empty a parameter's or a band's field to return it to the default.") \
                    .classes('text-caption text-grey-7')
            self.error = ui.label().classes('vigil-rule-error').props('role=alert').mark('observations-error')
        self.show(current)

    def show(self, current: HospitalRulesView) -> None:
        """Show the stored settings, each marked as the default or the hospital's own."""
        self._current = current
        hours = current.stale_reading_hours
        self._stale.set_value(hours)
        self._stale.props['hint'] = default_hint(hours == DEFAULT_STALE_READING_HOURS, DEFAULT_STALE_READING_HOURS,
                                                 'h')
        self._stale_text.set_text(f'A reading measured more than {hours} h before it arrives is kept as history '
                                  'only: never the latest value, never alerting.')
        grace = current.observation_grace_minutes
        self._grace.set_value(grace)
        self._grace.props['hint'] = default_hint(grace == DEFAULT_OBSERVATION_GRACE_MINUTES,
                                                 DEFAULT_OBSERVATION_GRACE_MINUTES, 'min')
        for age in current.news2_max_age_minutes:
            if (field := self._ages.get(age.parameter.value)) is not None:
                field.set_value(age.minutes)
                field.props['hint'] = default_hint(age.is_default, DEFAULT_NEWS2_MAX_AGE_MINUTES[age.parameter], 'min')
        for interval in current.observation_minutes:
            if (field := self._intervals.get(interval.band.value)) is not None:
                field.set_value(interval.minutes)
                field.props['hint'] = default_hint(interval.is_default, DEFAULT_OBSERVATION_MINUTES[interval.band],
                                                   'min')

    async def save(self) -> None:
        current = self._current
        try:
            stale = whole(self._stale.value, 'the hours after which a reading is history only')
            grace = whole(self._grace.value, 'the grace period in minutes')
            ages = changed_minutes(
                self._ages, {a.parameter.value: (a.minutes, a.is_default) for a in current.news2_max_age_minutes},
                lambda key: f'the maximum age of "{NEWS2_NAMES.get(key, key)}" in minutes')
            intervals = changed_minutes(
                self._intervals, {i.band.value: (i.minutes, i.is_default) for i in current.observation_minutes},
                lambda key: f'the interval after "{BAND_NAMES[ObservationBand(key)]}" in minutes')
            stale_change = stale if stale != current.stale_reading_hours else None
            grace_change = grace if grace != current.observation_grace_minutes else None
            if stale_change is None and grace_change is None and not ages and not intervals:
                self.error.set_text('')
                ui.notify('Nothing to save: no observation setting was changed.')
                return
            saved = await self._rules.update_observation_settings(
                await self._acting(), stale_reading_hours=stale_change, news2_max_age_minutes=ages,
                observation_minutes=intervals, observation_grace_minutes=grace_change)
        except (ValueError, DomainError) as error:
            message = error.message if isinstance(error, DomainError) else str(error)
            self.error.set_text(message)
            ui.notify(message, type='negative')
            return
        self.error.set_text('')
        self._on_saved(saved)
        ui.notify('Saved the observation settings.', type='positive')


class RulesEditor:
    """All of a hospital's alarm rules on one page section."""

    def __init__(self, rules: RulesService, acting: Acting, current: HospitalRulesView) -> None:
        self._rules = rules
        self._acting = acting
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Critical limits"'):
            heading('Critical limits', 2).classes('vigil-panel-title')
            ui.label('A value at or beyond a limit raises an alert once it has lasted the delay and the number of '
                     'consecutive readings. Empty: no limit on that side. Defaults are the NEWS2 3-point bands.') \
                .classes('text-grey-8')
            with ui.element('div').classes('vigil-rules w-full'):
                self._limits = {limit.parameter: LimitRow(rules, acting, limit, self.show)
                                for limit in current.limits}
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Escalation"'):
            heading('Escalation', 2).classes('vigil-panel-title')
            ui.label('An alert nobody acknowledges escalates one level at each step (minutes after it was raised). '
                     'Critical and high alerts must escalate at least once.').classes('text-grey-8')
            with ui.element('div').classes('vigil-rules w-full'):
                self._escalation = {steps.priority: EscalationRow(rules, acting, steps, self.show)
                                    for steps in current.escalation}
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Devices and alarms"'):
            heading('Devices and alarms', 2).classes('vigil-panel-title')
            with ui.row().classes('w-full items-center gap-4'):
                self._silence = ui.number('Device silent after (s)', min=30, step=10) \
                    .props('outlined').classes('min-w-[12rem]').mark('device-silence')
                ui.button('Save', on_click=self._save_silence).props('unelevated no-caps') \
                    .classes('vigil-touch').mark('device-silence-save')
                self._latch = ui.switch('Alarms latch (stay until a person resolves them)',
                                        on_change=self._save_latch).classes('vigil-touch').mark('alarms-latch')
            self._settings_error = ui.label().classes('text-negative').props('role=alert').mark('settings-error')
        self._observations = ObservationSettings(rules, acting, current, self.show)
        self._latched = current.alarms_latch
        self.show(current)

    def show(self, current: HospitalRulesView) -> None:
        """Show the stored rules (after loading or after any save: the service returns them all)."""
        for limit in current.limits:
            if limit.parameter in self._limits:
                self._limits[limit.parameter].show(limit)
        for steps in current.escalation:
            if steps.priority in self._escalation:
                self._escalation[steps.priority].show(steps)
        self._silence.set_value(current.device_silence_seconds)
        self._latched = current.alarms_latch  # before set_value: its change handler compares with it
        self._latch.set_value(current.alarms_latch)
        self._observations.show(current)

    async def _save_silence(self) -> None:
        try:
            seconds = whole(self._silence.value, 'the time in seconds')
            self.show(await self._rules.update_settings(await self._acting(), device_silence_seconds=seconds))
        except (ValueError, DomainError) as error:
            self._settings_error.set_text(error.message if isinstance(error, DomainError) else str(error))
            return
        self._settings_error.set_text('')
        ui.notify('Saved the device heartbeat.', type='positive')

    async def _save_latch(self) -> None:
        latch = bool(self._latch.value)
        if latch == self._latched:
            return  # shown, not changed by the user
        try:
            self.show(await self._rules.update_settings(await self._acting(), alarms_latch=latch))
        except DomainError as error:
            self._settings_error.set_text(error.message)
            self._latch.set_value(self._latched)
            return
        self._settings_error.set_text('')
        ui.notify(f'Alarms {"now latch" if self._latch.value else "no longer latch"}.', type='positive')

