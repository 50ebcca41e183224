"""A hospital's alarm rules over HTTP: critical limits and persistence delays, escalation policy, heartbeat, latching.

Every token of the hospital may read them (they hold no patient data, and a monitor gateway or a wall display may
want to show the limits Vigil alarms on); only integration tokens change them, on behalf of a named administrator.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from app.domain import Priority
from app.domain.limits import (
    DEVICE_SILENCE_RANGE,
    MAX_ESCALATION_MINUTES,
    MAX_ESCALATION_STEPS,
    MAX_PERSISTENCE_READINGS,
    MAX_PERSISTENCE_SECONDS,
    LimitParameter,
)
from app.schemas import Actor, HospitalRulesView
from app.services.rules import RulesService

from .auth import Authenticate
from .errors import DomainErrorRoute, ErrorBody, Responses

LimitValue = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
ACTED_BY = ('The administrator who decided, recorded as updated_by (overrides) and in the server log; the '
            'integration vouches for their role.')
ActedBy = Annotated[str, Field(min_length=1, max_length=150, description=ACTED_BY)]
ActedByQuery = Annotated[str, Query(min_length=1, max_length=150, description=ACTED_BY)]  # a DELETE has no body


class RefusedBody(BaseModel):
    """Why a change was refused: a message (a value the rules do not allow), or FastAPI's list of the fields that are
    missing or of the wrong type (each with loc, msg and type)."""

    detail: str | list[dict[str, Any]]


READ_ERRORS: Responses = {401: {'model': ErrorBody}, 403: {'model': ErrorBody}}
WRITE_ERRORS: Responses = {**READ_ERRORS, 422: {'model': RefusedBody, 'description': 'Refused; nothing changed'}}


class LimitIn(BaseModel):
    """One parameter's critical limits and persistence delay, replacing the hospital's current ones."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'low': 35, 'high': 140, 'persistence_seconds': 10, 'persistence_readings': 2, 'acted_by': 'Dr Jane Roe'},
    ]})

    # Required even when null: a forgotten field must not silently switch one side of a limit off.
    low: LimitValue = Field(description=(
        'Values at or below alarm; null: no low limit. In the vital sign\'s unit (consciousness: ACVPU ordinal '
        '0 Alert to 4 Unresponsive), within its plausible range and at the NEWS2 chart\'s resolution.'))
    high: LimitValue = Field(description='Values at or above alarm; null: no high limit. Above low.')
    persistence_seconds: StrictInt = Field(description=(
        f'How long (0-{MAX_PERSISTENCE_SECONDS} s, by measured time) a breach must last before it alarms.'))
    persistence_readings: StrictInt = Field(default=1, description=(
        f'How many consecutive readings (1-{MAX_PERSISTENCE_READINGS}) a breach must span before it alarms.'))
    acted_by: ActedBy


class EscalationIn(BaseModel):
    """The escalation steps of one priority, replacing the hospital's current ones."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'minutes': [3, 10, 30], 'acted_by': 'Dr Jane Roe'},
    ]})

    minutes: list[StrictInt] = Field(description=(
        f'Minutes after raising (strictly increasing, 1-{MAX_ESCALATION_MINUTES}, at most {MAX_ESCALATION_STEPS} '
        'steps) at which an unacknowledged alert escalates one level; empty: never (not for critical or high).'))
    acted_by: ActedBy


class SettingsIn(BaseModel):
    """Hospital-wide alarm settings to change; a setting left out stays as it is."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'device_silence_seconds': 300, 'acted_by': 'Dr Jane Roe'},
    ]})

    device_silence_seconds: StrictInt | None = Field(default=None, description=(
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


def rules_router(rules: RulesService, reader: Authenticate, configurer: Authenticate) -> APIRouter:
    """Return the router of the alarm-rule routes."""
    router = APIRouter(prefix='/api/v1/rules', tags=['rules'], route_class=DomainErrorRoute)

    @router.get('', response_model=HospitalRulesView, summary="The hospital's alarm rules", responses=READ_ERRORS)
    async def get_rules(actor: Annotated[Actor, Depends(reader)]) -> HospitalRulesView:
        """The critical limits with their persistence delays, the escalation policy, the device heartbeat timeout
        and latching that the token's hospital runs on. `is_default` tells Vigil's defaults (the NEWS2 3-point
        bands, SpO2 waiting 15 s; escalation critical 2 and 5 min, high 5 and 15, medium 15, low never) from the
        hospital's own overrides, which carry `updated_at` and `updated_by`. Readable with every kind of token."""
        return await rules.get(actor)

    @router.put('/limits/{parameter}', response_model=HospitalRulesView, summary='Override a critical limit',
                responses=WRITE_ERRORS)
    async def set_limit(parameter: LimitParameter, body: LimitIn,
                        actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Set one parameter's limits and persistence delay for the hospital (`spo2_scale2`: patients on SpO2
        scale 2). Detection in this process uses them at once, other server processes within seconds. Answers the
        hospital's rules as they are now."""
        return await rules.set_limit(actor, parameter, low=body.low, high=body.high,
                                     persistence_seconds=body.persistence_seconds,
                                     persistence_readings=body.persistence_readings, on_behalf_of=body.acted_by)

    @router.delete('/limits/{parameter}', response_model=HospitalRulesView, summary='Return a limit to the default',
                   responses=WRITE_ERRORS)
    async def reset_limit(parameter: LimitParameter, actor: Annotated[Actor, Depends(configurer)],
                          acted_by: ActedByQuery) -> HospitalRulesView:
        """Drop the hospital's override of one parameter (a parameter without one stays as it is)."""
        return await rules.reset_limit(actor, parameter, on_behalf_of=acted_by)

    @router.put('/escalation/{priority}', response_model=HospitalRulesView, summary='Set an escalation policy',
                responses=WRITE_ERRORS)
    async def set_escalation(priority: Priority, body: EscalationIn,
                             actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Set when unacknowledged alerts of one priority escalate; applies to alerts raised or escalated from
        now on."""
        return await rules.set_escalation(actor, priority, body.minutes, on_behalf_of=body.acted_by)

    @router.delete('/escalation/{priority}', response_model=HospitalRulesView,
                   summary='Return an escalation policy to the default', responses=WRITE_ERRORS)
    async def reset_escalation(priority: Priority, actor: Annotated[Actor, Depends(configurer)],
                               acted_by: ActedByQuery) -> HospitalRulesView:
        """Drop the hospital's escalation steps of one priority (a priority without them stays as it is)."""
        return await rules.reset_escalation(actor, priority, on_behalf_of=acted_by)

    @router.patch('/settings', response_model=HospitalRulesView, summary='Change heartbeat timeout or latching',
                  responses=WRITE_ERRORS)
    async def update_settings(body: SettingsIn, actor: Annotated[Actor, Depends(configurer)]) -> HospitalRulesView:
        """Change the device heartbeat timeout and/or whether detected alarms latch; what is left out stays."""
        return await rules.update_settings(actor, device_silence_seconds=body.device_silence_seconds,
                                           alarms_latch=body.alarms_latch, on_behalf_of=body.acted_by)

    return router
