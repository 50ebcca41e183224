"""A hospital's alarm rules over HTTP: critical limits and persistence delays, escalation policy, heartbeat, latching,
data age and observation frequency.

Every token of the hospital may read them (they hold no patient data, and a monitor gateway or a wall display may
want to show the limits Vigil alarms on); only integration tokens change them, on behalf of a named administrator.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator
from pydantic.config import JsonDict

from app.domain import Priority
from app.domain.alerts import DEFAULT_ESCALATION_MINUTES
from app.domain.limits import (
    DEFAULT_LIMITS,
    DEVICE_SILENCE_RANGE,
    MAX_ESCALATION_MINUTES,
    MAX_ESCALATION_STEPS,
    MAX_PERSISTENCE_READINGS,
    MAX_PERSISTENCE_SECONDS,
    LimitParameter,
)
from app.domain.news2 import NEWS2_PARAMETERS, chart_steps
from app.domain.observations import (
    DEFAULT_NEWS2_MAX_AGE_MINUTES,
    DEFAULT_OBSERVATION_GRACE_MINUTES,
    DEFAULT_OBSERVATION_MINUTES,
    DEFAULT_STALE_READING_HOURS,
    NEWS2_MAX_AGE_RANGE,
    OBSERVATION_GRACE_RANGE,
    OBSERVATION_MINUTES_RANGE,
    STALE_READING_HOURS_RANGE,
    ObservationBand,
)
from app.domain.text import ONE_LINE_TEXT_PATTERN
from app.domain.vitals import VITAL_SPECS
from app.schemas import Actor, HospitalRulesView
from app.services.rules import RulesService

from .auth import Authenticate
from .errors import MALFORMED, REFUSED, DomainErrorRoute, ErrorBody, Responses
from .openapi import never_null

LimitValue = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
ACTED_BY = ('The administrator who decided, recorded as updated_by (overrides) and in the server log; the '
            'integration vouches for their role.')
# The pattern documents what the rules service refuses (app/domain/text.py); it is not checked a second time here.
ONE_LINE_TEXT: JsonDict = {'pattern': ONE_LINE_TEXT_PATTERN}
ActedBy = Annotated[str, Field(min_length=1, max_length=150, description=ACTED_BY, json_schema_extra=ONE_LINE_TEXT)]
ActedByQuery = Annotated[str, Query(min_length=1, max_length=150, description=ACTED_BY,  # a DELETE has no body
                                    json_schema_extra=ONE_LINE_TEXT)]
T = TypeVar('T')


def settings_schema(example: JsonDict) -> Callable[[JsonDict], None]:
    """Return the document hook of a settings model: a setting may be left out but never null (its validator
    refuses null; the field stays Optional so that pydantic's messages name the field, not a union branch), and
    acted_by with at least one setting is given."""

    def document(schema: JsonDict) -> None:
        never_null(schema)
        schema['minProperties'] = 2
        schema['examples'] = [example]

    return document


def override(bounds: tuple[int, int]) -> dict[str, Any]:
    """Return the document of one key of an override map: minutes within bounds, or null for the default."""
    return {'anyOf': [{'type': 'integer', **documented(*bounds)}, {'type': 'null'}]}


def documented(low: int, high: int) -> dict[str, Any]:
    """Return the bounds of a whole number for the document; the domain check refuses values outside them."""
    return {'minimum': low, 'maximum': high}


READ_ERRORS: Responses = {401: {'model': ErrorBody}, 403: {'model': ErrorBody}}
WRITE_ERRORS: Responses = {**READ_ERRORS, **REFUSED}
BODY_ERRORS: Responses = {**WRITE_ERRORS, **MALFORMED}


class LimitIn(BaseModel):
    """One parameter's critical limits and persistence delay, replacing the hospital's current ones."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)

    # Required even when null: a forgotten field must not silently switch one side of a limit off.
    low: LimitValue = Field(description=(
        'Values at or below alarm; null: no low limit. In the vital sign\'s unit (consciousness: ACVPU ordinal '
        '0 Alert to 4 Unresponsive), within its plausible range and at the NEWS2 chart\'s resolution.'))
    high: LimitValue = Field(description='Values at or above alarm; null: no high limit. Above low.')
    persistence_seconds: StrictInt = Field(description=(
        f'How long (0-{MAX_PERSISTENCE_SECONDS} s, by measured time) a breach must last before it alarms.'),
        json_schema_extra=documented(0, MAX_PERSISTENCE_SECONDS))
    persistence_readings: StrictInt = Field(default=1, description=(
        f'How many consecutive readings (1-{MAX_PERSISTENCE_READINGS}) a breach must span before it alarms.'),
        json_schema_extra=documented(1, MAX_PERSISTENCE_READINGS))
    acted_by: ActedBy


class EscalationIn(BaseModel):
    """The escalation steps of one priority, replacing the hospital's current ones."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True)

    minutes: list[StrictInt] = Field(description=(
        f'Minutes after raising (strictly increasing, 1-{MAX_ESCALATION_MINUTES}, at most {MAX_ESCALATION_STEPS} '
        'steps) at which an unacknowledged alert escalates one level; empty: never (not for critical or high).'),
        json_schema_extra={'maxItems': MAX_ESCALATION_STEPS, 'uniqueItems': True,
                           'items': {'type': 'integer', **documented(1, MAX_ESCALATION_MINUTES)}})
    acted_by: ActedBy


class SettingsIn(BaseModel):
    """Hospital-wide alarm settings to change; a setting left out stays as it is."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra=settings_schema(
        {'device_silence_seconds': 300, 'acted_by': 'Dr Jane Roe'}))

    device_silence_seconds: StrictInt | None = Field(
        default=None, json_schema_extra=documented(*DEVICE_SILENCE_RANGE), description=(
        f'A device that sent readings and then stays silent this long ({DEVICE_SILENCE_RANGE[0]}-'
        f'{DEVICE_SILENCE_RANGE[1]} s) raises a heartbeat alert.'))
    alarms_latch: StrictBool | None = Field(default=None, description=(
        'true: a detected alert stays until a person resolves it, even when the value recovers (it shows that it '
        'recovered); false: recovery resolves it.'))
    acted_by: ActedBy

    @model_validator(mode='after')
    def _changes_something(self) -> 'SettingsIn':
        given = self.model_fields_set - {'acted_by'}
        if not given:
            raise ValueError('name at least one setting to change: device_silence_seconds or alarms_latch')
        if nulls := sorted(name for name in given if getattr(self, name) is None):
            raise ValueError(f'{" and ".join(nulls)} cannot be null; leave a setting out to keep it as it is')
        return self


def _range(bounds: tuple[int, int]) -> str:
    return f'{bounds[0]}-{bounds[1]}'


# Keys are plain names, so an unknown one reaches the rules service and is refused with the names it knows.
Overrides = dict[str, StrictInt | None]
_DEFAULT_AGE = next(iter(DEFAULT_NEWS2_MAX_AGE_MINUTES.values()))


class ObservationSettingsIn(BaseModel):
    """Data age and observation frequency to change; a setting left out stays as it is. In the two maps a key left
    out stays as it is and a key set to null returns to Vigil's default."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra=settings_schema(
        {'news2_max_age_minutes': {'spo2': 60, 'resp_rate': None}, 'observation_grace_minutes': 15,
         'acted_by': 'Dr Jane Roe'}))

    stale_reading_hours: StrictInt | None = Field(
        default=None, json_schema_extra=documented(*STALE_READING_HOURS_RANGE), description=(
        f'A reading measured more than this many hours ({_range(STALE_READING_HOURS_RANGE)}; default '
        f'{DEFAULT_STALE_READING_HOURS}) before it arrives is kept as history only: never the latest value, never '
        'alerting.'))
    news2_max_age_minutes: Overrides | None = Field(default=None, description=(
        f'Per NEWS2 parameter ({", ".join(k.value for k in NEWS2_PARAMETERS)}): once its latest value is older '
        f'than this many minutes ({_range(NEWS2_MAX_AGE_RANGE)}; default {_DEFAULT_AGE}), NEWS2 counts it as '
        'missing and screens show it as stale.'),
        json_schema_extra={'propertyNames': {'enum': [k.value for k in NEWS2_PARAMETERS]},
                           'additionalProperties': override(NEWS2_MAX_AGE_RANGE)})
    observation_minutes: Overrides | None = Field(default=None, description=(
        'Per NEWS2 band, minutes after a full set of observations until the next is due '
        f'({_range(OBSERVATION_MINUTES_RANGE)}; defaults ' +
        ', '.join(f'{band.value} {minutes}' for band, minutes in DEFAULT_OBSERVATION_MINUTES.items()) +
        '): zero = aggregate 0, low = 1-4, urgent = a single 3 or 5-6, emergency = 7 or more. A sicker band is '
        'never observed less often than a milder one.'),
        json_schema_extra={'propertyNames': {'enum': [b.value for b in ObservationBand]},
                           'additionalProperties': override(OBSERVATION_MINUTES_RANGE)})
    observation_grace_minutes: StrictInt | None = Field(
        default=None, json_schema_extra=documented(*OBSERVATION_GRACE_RANGE), description=(
        f'How many minutes ({_range(OBSERVATION_GRACE_RANGE)}; default {DEFAULT_OBSERVATION_GRACE_MINUTES}) the '
        'next full set may be late before an "observations overdue" alert.'))
    acted_by: ActedBy

    @model_validator(mode='after')
    def _changes_something(self) -> 'ObservationSettingsIn':
        given = self.model_fields_set - {'acted_by'}
        if not given:
            raise ValueError('name at least one setting to change: stale_reading_hours, news2_max_age_minutes, '
                             'observation_minutes or observation_grace_minutes')
        if nulls := sorted(name for name in given if getattr(self, name) is None):
            raise ValueError(f'{" and ".join(nulls)} cannot be null; leave a setting out to keep it as it is (in '
                             'the maps, a key set to null returns to the default)')
        return self


def fixed(endpoint: Callable[..., Awaitable[T]], *, body: type[BaseModel] | None = None,
          **values: Any) -> Callable[..., Awaitable[T]]:
    """Return the endpoint for one path: `values` fill path parameters; `body` documents the body with a model
    of its own (a subclass of the endpoint's, so the validation is the same)."""
    signature = inspect.signature(endpoint)
    parameters = [p.replace(annotation=body) if p.name == 'body' and body is not None else p
                  for p in signature.parameters.values() if p.name not in values]

    async def route(**arguments: Any) -> T:
        return await endpoint(**arguments, **values)

    # NOTE: FastAPI reads what a route takes from its signature.
    route.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    route.__doc__ = endpoint.__doc__
    return route


def limit_model(parameter: LimitParameter) -> type[LimitIn]:
    """Return LimitIn as documented for one parameter: its plausible range and chart resolution, its example."""
    spec, step = VITAL_SPECS[parameter.vital], 1 / chart_steps(parameter.vital)
    default = DEFAULT_LIMITS[parameter]
    value = {'type': 'integer' if step == 1 else 'number', 'minimum': spec.low, 'maximum': spec.high,
             **({} if step == 1 else {'multipleOf': step})}

    def document(schema: dict[str, Any]) -> None:
        properties = schema['properties']
        properties['low']['anyOf'] = [{'type': 'null'}] if parameter is LimitParameter.CONSCIOUSNESS else [
            value, {'type': 'null'}]
        properties['high']['anyOf'] = [value, {'type': 'null'}]
        # NOTE: FastAPI writes the document without nulls, which would leave an example without a required side:
        # only defaults with both sides make an example.
        if default.low is not None and default.high is not None:
            schema['examples'] = [{'low': default.low, 'high': default.high,
                                   'persistence_seconds': default.persistence_seconds,
                                   'persistence_readings': default.persistence_readings, 'acted_by': 'Dr Jane Roe'}]

    name = ''.join(part.title() for part in parameter.value.split('_'))
    return type(f'{name}LimitIn', (LimitIn,), {'model_config': ConfigDict(json_schema_extra=document),
                                              '__doc__': f'{LimitIn.__doc__} ({spec.label}, {spec.unit})'})


def escalation_model(priority: Priority) -> type[EscalationIn]:
    """Return EscalationIn as documented for one priority (critical and high escalate at least once)."""

    def document(schema: dict[str, Any]) -> None:
        if priority in (Priority.CRITICAL, Priority.HIGH):
            schema['properties']['minutes']['minItems'] = 1
        default = list(DEFAULT_ESCALATION_MINUTES[priority])
        schema['examples'] = [{'minutes': default, 'acted_by': 'Dr Jane Roe'}]

    return type(f'{priority.value.title()}EscalationIn', (EscalationIn,), {
        'model_config': ConfigDict(json_schema_extra=document), '__doc__': EscalationIn.__doc__})


def rules_router(rules: RulesService, reader: Authenticate, configurer: Authenticate) -> APIRouter:
    """Return the router of the alarm-rule routes."""
    router = APIRouter(prefix='/api/v1/rules', tags=['rules'], route_class=DomainErrorRoute)

    @router.get('', response_model=HospitalRulesView, summary="The hospital's alarm rules", responses=READ_ERRORS)
    async def get_rules(actor: Annotated[Actor, Depends(reader)]) -> HospitalRulesView:
        """The critical limits with their persistence delays, the escalation policy, the device heartbeat timeout,
        latching, data age and observation frequency that the token's hospital runs on. `is_default` tells Vigil's
        defaults (the NEWS2 3-point bands, SpO2 waiting 15 s; escalation critical 2 and 5 min, high 5 and 15, medium
        15, low never; NEWS2 values count for 780 min; observations due after 720, 240, 60 or 15 min by band) from
        the hospital's own overrides; limits and escalation steps also carry `updated_at` and `updated_by` (the
        rule history holds who changed the rest). Readable with every kind of token."""
        return await rules.get(actor)

    async def set_limit(parameter: LimitParameter, body: LimitIn,
                        actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Set one parameter's limits and persistence delay for the hospital (`spo2_scale2`: patients on SpO2
        scale 2). Detection in this process uses them at once, other server processes within seconds. Answers the
        hospital's rules as they are now."""
        return await rules.set_limit(actor, parameter, low=body.low, high=body.high,
                                     persistence_seconds=body.persistence_seconds,
                                     persistence_readings=body.persistence_readings, on_behalf_of=body.acted_by)

    async def reset_limit(parameter: LimitParameter, actor: Annotated[Actor, Depends(configurer)],
                          acted_by: ActedByQuery) -> HospitalRulesView:
        """Drop the hospital's override of one parameter (a parameter without one stays as it is)."""
        return await rules.reset_limit(actor, parameter, on_behalf_of=acted_by)

    async def set_escalation(priority: Priority, body: EscalationIn,
                             actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Set when unacknowledged alerts of one priority escalate; applies to alerts raised or escalated from
        now on."""
        return await rules.set_escalation(actor, priority, body.minutes, on_behalf_of=body.acted_by)

    async def reset_escalation(priority: Priority, actor: Annotated[Actor, Depends(configurer)],
                               acted_by: ActedByQuery) -> HospitalRulesView:
        """Drop the hospital's escalation steps of one priority (a priority without them stays as it is)."""
        return await rules.reset_escalation(actor, priority, on_behalf_of=acted_by)

    # NOTE: one documented path per parameter and per priority, because what a body may hold depends on them (SpO2
    # limits lie within 0-100 %, heart rate within 0-350 /min; high alerts must escalate) and OpenAPI cannot tie a
    # body's schema to a path parameter. The templated routes after them answer the same, and refuse an unknown
    # parameter or priority with 422; they stay out of the document, which lists every path they accept.
    for parameter in LimitParameter:
        router.put(f'/limits/{parameter.value}', response_model=HospitalRulesView, responses=BODY_ERRORS,
                   summary=f'Override the critical limit of {parameter.value}')(
            fixed(set_limit, parameter=parameter, body=limit_model(parameter)))
        router.delete(f'/limits/{parameter.value}', response_model=HospitalRulesView, responses=WRITE_ERRORS,
                      summary=f'Return the limit of {parameter.value} to the default')(
            fixed(reset_limit, parameter=parameter))
    for priority in Priority:
        router.put(f'/escalation/{priority.value}', response_model=HospitalRulesView, responses=BODY_ERRORS,
                   summary=f'Set the escalation policy of {priority.value} alerts')(
            fixed(set_escalation, priority=priority, body=escalation_model(priority)))
        router.delete(f'/escalation/{priority.value}', response_model=HospitalRulesView, responses=WRITE_ERRORS,
                      summary=f'Return the escalation policy of {priority.value} alerts to the default')(
            fixed(reset_escalation, priority=priority))
    router.put('/limits/{parameter}', include_in_schema=False)(set_limit)
    router.delete('/limits/{parameter}', include_in_schema=False)(reset_limit)
    router.put('/escalation/{priority}', include_in_schema=False)(set_escalation)
    router.delete('/escalation/{priority}', include_in_schema=False)(reset_escalation)

    @router.patch('/settings', response_model=HospitalRulesView, summary='Change heartbeat timeout or latching',
                  responses=BODY_ERRORS)
    async def update_settings(body: SettingsIn, actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Change the device heartbeat timeout and/or whether detected alarms latch; what is left out stays."""
        return await rules.update_settings(actor, device_silence_seconds=body.device_silence_seconds,
                                           alarms_latch=body.alarms_latch, on_behalf_of=body.acted_by)

    @router.patch('/observations', response_model=HospitalRulesView,
                  summary='Change data age and observation frequency', responses=BODY_ERRORS)
    async def update_observation_settings(body: ObservationSettingsIn,
                                          actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Change when a reading is too old at arrival, how old a NEWS2 value may be, when the next full set of
        observations is due per NEWS2 band and the grace before it counts as overdue; what is left out stays. All
        or nothing: one refused value changes nothing. This server process applies them at once, the others within
        seconds."""
        return await rules.update_observation_settings(
            actor, stale_reading_hours=body.stale_reading_hours, news2_max_age_minutes=body.news2_max_age_minutes,
            observation_minutes=body.observation_minutes, observation_grace_minutes=body.observation_grace_minutes,
            on_behalf_of=body.acted_by)

    return router
