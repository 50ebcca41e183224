"""Command line: run the server (default) or an operator verb (user, token, hospital, ward, patient, throttle,
mllp, simulate)."""

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

from app.bootstrap import StartupError, Vigil, build, migrate
from app.config import Settings, SettingsError, settings_or_exit
from app.domain import Role, TokenKind
from app.errors import DomainError
from app.schemas import Actor
from app.services.directory import DirectoryService

PROG = 'python main.py'
SIMULATOR_TOKEN_ENV = 'VIGIL_SIMULATOR_TOKEN'  # noqa: S105 (the variable's name)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one clear line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f'vigil: error: {message} (see {self.prog} --help)', file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> Parser:
    """Describe every verb and option."""
    parser = Parser(prog=PROG,
                    description='Vigil, the real-time hospital alert system. Without a verb: run the server.')
    parser.add_argument('--demo', action='store_true',
                        help='seed the demo hospitals, patients and staff accounts, and run the vital-signs simulator')
    parser.add_argument('--no-simulator', action='store_true',
                        help='with --demo: seed the demo but do not start the simulator (quiet patients)')
    parser.add_argument('--host', help='interface to listen on (default: VIGIL_HOST or 127.0.0.1)')
    parser.add_argument('--port', type=int, help='port to listen on (default: VIGIL_PORT or 8080)')
    verbs = parser.add_subparsers(dest='verb', metavar='{user,token,hospital,ward,patient,throttle,mllp,simulate}')

    user = verbs.add_parser('user', help='staff accounts').add_subparsers(dest='action', required=True)
    create = user.add_parser('create', help='create a staff account (password from a prompt or --password-stdin)')
    create.add_argument('--hospital', required=True, metavar='SLUG')
    create.add_argument('--username', required=True)
    create.add_argument('--role', required=True, choices=[r.value for r in Role])
    create.add_argument('--name', help='display name (default: the username)')
    create.add_argument('--ward', action='append', default=[], metavar='NAME', help='assigned ward; repeat for more')
    create.add_argument('--password-stdin', action='store_true', help='read the password from the first stdin line')
    for action, help_text, description in (
            ('deactivate', 'deactivate a staff account: it cannot sign in, and its open pages close within seconds',
             'Deactivate a staff account: it can no longer sign in, every sign-in it has ends, and its open pages '
             'leave within seconds on every server. Nothing is deleted; "user reactivate" undoes it. API tokens '
             'belong to the hospital, not to a person: revoke them separately (token revoke).'),
            ('reactivate', 'let a deactivated staff account sign in again',
             'Let a deactivated staff account sign in again with its password (sign-ins from before stay ended).')):
        change = user.add_parser(action, help=help_text, description=description)
        change.add_argument('--hospital', required=True, metavar='SLUG')
        change.add_argument('--username', required=True)
        change.add_argument('--reason', required=True, help='why, for the log (1-500 characters)')

    token = verbs.add_parser('token', help='API tokens for devices, kiosks and integrations')
    token_actions = token.add_subparsers(dest='action', required=True)
    create = token_actions.add_parser('create', help='create a token; it is printed once, alone on the last line')
    create.add_argument('--hospital', required=True, metavar='SLUG')
    create.add_argument('--kind', required=True, choices=[k.value for k in TokenKind])
    create.add_argument('--name', required=True, help='what the token is for, e.g. "ICU monitor gateway"')
    revoke = token_actions.add_parser('revoke', help='revoke a token by name; it is refused from then on')
    revoke.add_argument('--hospital', required=True, metavar='SLUG')
    revoke.add_argument('--name', required=True)
    listing = token_actions.add_parser('list', help="list a hospital's tokens (never their secrets)")
    listing.add_argument('--hospital', required=True, metavar='SLUG')

    hospital = verbs.add_parser('hospital', help='hospitals').add_subparsers(dest='action', required=True)
    create = hospital.add_parser('create', help='create a hospital')
    create.add_argument('--slug', required=True, help='short identifier, e.g. "general"')
    create.add_argument('--name', required=True, help='full name, e.g. "Vigil General Hospital"')

    ward = verbs.add_parser('ward', help='wards').add_subparsers(dest='action', required=True)
    create = ward.add_parser('create', help='add a ward to a hospital')
    create.add_argument('--hospital', required=True, metavar='SLUG')
    create.add_argument('--name', required=True)

    patient = verbs.add_parser('patient', help="a patient's record").add_subparsers(dest='action', required=True)
    scale = patient.add_parser(
        'spo2-scale', help='prescribe NEWS2 SpO2 scale 2 (target 88-92 %%) or restore scale 1, for a named clinician',
        description='Record the NEWS2 SpO2 scale a clinician prescribed: scale 2 (target 88-92 %) only for confirmed '
        "hypercapnic respiratory failure, scale 1 otherwise. The change goes on the patient's record with the "
        'clinician, the time and the reason; NEWS2 and the SpO2 critical limit follow it at once.')
    scale.add_argument('--hospital', required=True, metavar='SLUG')
    scale.add_argument('--mrn', required=True, help="the patient's medical record number")
    scale.add_argument('--scale', required=True, type=int, choices=(1, 2))
    scale.add_argument('--reason', required=True, help='why, for the record (1-500 characters)')
    scale.add_argument('--by', required=True, metavar='NAME', help='the clinician who prescribed, e.g. "Dr R. Asante"')

    throttle = verbs.add_parser('throttle', help='sign-in throttles: who is made to wait after failed sign-ins')
    throttle_actions = throttle.add_subparsers(dest='action', required=True)
    throttle_actions.add_parser('list', help='list the current throttles (account, address, failures, until)')
    clear = throttle_actions.add_parser('clear', help="forget an account's or an address's failed sign-ins")
    clear.add_argument('--username', help='the account (from every address, unless --address is given too)')
    clear.add_argument('--address', help='the client address (for every account, unless --username is given too)')

    mllp = verbs.add_parser(
        'mllp', help='HL7 v2 senders (monitor gateways) allowed to send over MLLP',
        description='MLLP has no passwords: a message is taken only from a sending application and facility (MSH-3 '
        'and MSH-4) registered to a hospital, and, with --allow, only from those addresses. Others are refused (AR).')
    mllp_actions = mllp.add_subparsers(dest='action', required=True)
    register = mllp_actions.add_parser('register', help='register a sending application and facility to a hospital')
    remove = mllp_actions.add_parser('remove', help='remove a sender: its messages are refused (AR) from then on')
    for command in (register, remove):
        command.add_argument('--hospital', required=True, metavar='SLUG')
        command.add_argument('--application', required=True, help='MSH-3, its first component (e.g. "PIIC")')
        command.add_argument('--facility', required=True, help='MSH-4, its first component (e.g. "ICU-EAST")')
    register.add_argument('--allow', action='append', default=[], metavar='CIDR',
                          help='an address or network it may send from (10.20.0.0/24); repeat for more. Default: any')
    listing = mllp_actions.add_parser('list', help='list the registered senders')
    listing.add_argument('--hospital', metavar='SLUG', help='only this hospital (default: every hospital)')

    simulate = verbs.add_parser(
        'simulate', help='stream simulated vital signs for every patient of a hospital into a running server',
        description="Stream believable vital signs for every patient of the token's hospital through the HTTP API: "
        'random walks around each patient\'s baseline, deterioration episodes that cross the NEWS2 thresholds, '
        'short SpO2 artefacts, and monitor gateways that go silent for a few minutes. Stop it with Ctrl-C.')
    simulate.add_argument('--url', default='http://127.0.0.1:8080', help='the server (default: %(default)s)')
    simulate.add_argument('--token', action='append', default=[], metavar='SECRET',
                          help=f'a device token of the hospital; repeat for several monitor gateways, the wards are '
                          f'shared out among them. Default: the environment variable {SIMULATOR_TOKEN_ENV} (several '
                          'separated by commas), which keeps the secret out of process lists')
    simulate.add_argument('--interval', type=float, default=1.0, metavar='SECONDS',
                          help='seconds between SpO2 and heart-rate readings of each patient; each interval sends '
                          'one request per gateway with every reading that is due (default: %(default)g)')
    simulate.add_argument('--full-set-every', type=float, default=5.0, metavar='SECONDS',
                          help='seconds between readings of every parameter of a patient (default: %(default)g)')
    simulate.add_argument('--seed', type=int, default=0,
                          help='the same seed gives the same baselines and events (default: %(default)s)')
    simulate.add_argument('--duration', type=float, metavar='SECONDS', help='stop after this long (default: never)')
    simulate.add_argument('--calm', action='store_true',
                          help='random walks only: no deterioration, artefacts or gateway outages')
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line (exits with code 2 and one line on a bad argument)."""
    args = build_parser().parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        Parser(prog=PROG).error(f'argument --port: {args.port} is not a port number (1-65535)')
    if args.verb == 'simulate':
        _check_simulate(args)
    return args


def _check_simulate(args: argparse.Namespace) -> None:
    error = Parser(prog=f'{PROG} simulate').error
    if not args.token:
        args.token = [t.strip() for t in os.environ.get(SIMULATOR_TOKEN_ENV, '').split(',') if t.strip()]
    if not args.token:
        error(f'a device token is needed: pass --token or set {SIMULATOR_TOKEN_ENV}')
    if any(not t.strip() or any(c.isspace() for c in t.strip()) for t in args.token):
        error('argument --token: a token is one word without spaces (as `token create` printed it)')
    args.token = [t.strip() for t in args.token]
    if not args.url.startswith(('http://', 'https://')) or len(args.url.split('://', 1)[1].strip('/')) == 0:
        error(f'argument --url: {args.url!r} is not an http:// or https:// address of a server')
    if not 0.05 <= args.interval <= 3600:
        error(f'argument --interval: {args.interval:g} is not between 0.05 and 3600 seconds')
    if not args.interval <= args.full_set_every <= 86400:
        error(f'argument --full-set-every: {args.full_set_every:g} is not between the interval '
              f'({args.interval:g}) and 86400 seconds')
    if args.duration is not None and not args.duration > 0:
        error(f'argument --duration: {args.duration:g} is not a positive number of seconds')


def run_verb(args: argparse.Namespace) -> int:
    """Run an operator verb against the configured database and return the exit code."""
    if args.verb == 'simulate':
        # A client of a running server: it needs neither the settings nor the database. Imported here because
        # the HTTP client would slow every other verb down.
        from app.simulator.command import simulate
        return simulate(args)
    settings = settings_or_exit()
    password = _read_password(args) if (args.verb, args.action) == ('user', 'create') else ''
    try:
        return asyncio.run(_with_vigil(settings, lambda vigil: _VERBS[args.verb, args.action](vigil, args, password)))
    except (DomainError, SettingsError) as error:
        print(f'vigil: error: {error}', file=sys.stderr)
        return 2
    except StartupError as error:
        print(f'vigil: error: {error}', file=sys.stderr)
        return 1


async def _with_vigil(settings: Settings, verb: Callable[[Vigil], Awaitable[None]]) -> int:
    await migrate(settings)
    vigil = build(settings)
    try:
        await verb(vigil)
    finally:
        await vigil.close()
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip('\r\n')
    if not sys.stdin.isatty():
        print('vigil: error: no terminal to ask for the password; pipe it in with --password-stdin', file=sys.stderr)
        raise SystemExit(2)
    first = getpass.getpass('Password: ')
    if getpass.getpass('Repeat password: ') != first:
        print('vigil: error: the two passwords differ', file=sys.stderr)
        raise SystemExit(2)
    return first


async def _user_create(vigil: Vigil, args: argparse.Namespace, password: str) -> None:
    user = await vigil.users.create(Actor.system('cli'), hospital_slug=args.hospital, username=args.username,
                                    password=password, role=Role(args.role), display_name=args.name,
                                    ward_names=args.ward)
    print(f'created {user.role} "{user.username}" in hospital {args.hospital}')


async def _user_deactivate(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    await _user_set_active(vigil, args, active=False)


async def _user_reactivate(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    await _user_set_active(vigil, args, active=True)


async def _user_set_active(vigil: Vigil, args: argparse.Namespace, *, active: bool) -> None:
    hospital = await vigil.hospitals.get(args.hospital)
    actor = Actor.system('cli', hospital_id=hospital.id)
    user = await vigil.users.find(actor, args.username)
    change = vigil.users.reactivate if active else vigil.users.deactivate
    view = await change(actor, user.id, reason=args.reason)
    if active:
        print(f'reactivated "{view.username}" of hospital {args.hospital}: they can sign in again')
    else:
        print(f'deactivated "{view.username}" of hospital {args.hospital}: signed out everywhere, cannot sign in')


async def _token_create(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    created = await vigil.tokens.create(hospital_slug=args.hospital, kind=TokenKind(args.kind), name=args.name)
    print(f'created {created.token.kind} token "{created.token.name}" for hospital {args.hospital}.')
    print('Copy it now: it is shown this once and cannot be recovered.')
    print(created.secret)


async def _token_revoke(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    token = await vigil.tokens.revoke(hospital_slug=args.hospital, name=args.name)
    print(f'revoked {token.kind} token "{token.name}" of hospital {args.hospital}')


async def _token_list(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    for token in await vigil.tokens.list_tokens(hospital_slug=args.hospital):
        state = f'revoked {token.revoked_at:%Y-%m-%d %H:%M}' if token.revoked_at else 'active'
        print(f'{token.name}\t{token.kind}\t{token.prefix}...\tcreated {token.created_at:%Y-%m-%d %H:%M}\t{state}')


async def _hospital_create(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    hospital = await vigil.hospitals.create(slug=args.slug, name=args.name)
    print(f'created hospital "{hospital.name}" ({hospital.slug})')


async def _ward_create(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    ward = await vigil.hospitals.add_ward(hospital_slug=args.hospital, name=args.name)
    print(f'created ward "{ward.name}" in hospital {args.hospital}')


async def _patient_spo2_scale(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    hospital = await vigil.hospitals.get(args.hospital)
    actor = Actor.system('cli', hospital_id=hospital.id)
    patient_id = await DirectoryService(vigil.db, vigil.clock).patient_id(actor, args.mrn)
    patient = await vigil.prescriptions.set_spo2_scale(actor, patient_id, args.scale, args.reason,
                                                       on_behalf_of=args.by)
    what = 'prescribed SpO2 scale 2 (target 88-92 %)' if patient.spo2_scale == 2 else 'restored SpO2 scale 1'
    print(f'{what} for {patient.mrn} ({patient.name}, bed {patient.bed}), by "{patient.spo2_scale_set_by}"')


async def _throttle_list(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    for view in await vigil.sign_in_throttle.current(Actor.system('cli')):
        until = f'waits until {view.blocked_until:%Y-%m-%d %H:%M:%S} UTC' if view.blocked_until else 'not waiting'
        print(f'{view.username or "(any account)"}\t{view.address or "(any address)"}\t{view.failures:g} failures'
              f'\t{until}')


async def _throttle_clear(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    cleared = await vigil.sign_in_throttle.clear(Actor.system('cli'), username=args.username, address=args.address)
    print(f'cleared {cleared} sign-in throttle(s)')


async def _mllp_register(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    sender = await vigil.hl7_feeds.register(hospital_slug=args.hospital, application=args.application,
                                            facility=args.facility, allowed_from=args.allow)
    where = ', '.join(sender.allowed_from) or 'any address'
    print(f'registered HL7 sender {sender.application}^{sender.facility} to hospital {args.hospital} (from {where})')


async def _mllp_remove(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    await vigil.hl7_feeds.remove(hospital_slug=args.hospital, application=args.application, facility=args.facility)
    print(f'removed HL7 sender {args.application}^{args.facility} of hospital {args.hospital}')


async def _mllp_list(vigil: Vigil, args: argparse.Namespace, _: str) -> None:
    for sender in await vigil.hl7_feeds.senders(args.hospital):
        print(f'{sender.hospital_slug}\t{sender.application}\t{sender.facility}\t'
              f'{",".join(sender.allowed_from) or "any address"}\tregistered {sender.created_at:%Y-%m-%d %H:%M}')


_VERBS: dict[tuple[str, str], Callable[[Vigil, argparse.Namespace, str], Awaitable[None]]] = {
    ('user', 'create'): _user_create,
    ('user', 'deactivate'): _user_deactivate,
    ('user', 'reactivate'): _user_reactivate,
    ('token', 'create'): _token_create,
    ('token', 'revoke'): _token_revoke,
    ('token', 'list'): _token_list,
    ('hospital', 'create'): _hospital_create,
    ('ward', 'create'): _ward_create,
    ('patient', 'spo2-scale'): _patient_spo2_scale,
    ('throttle', 'list'): _throttle_list,
    ('throttle', 'clear'): _throttle_clear,
    ('mllp', 'register'): _mllp_register,
    ('mllp', 'remove'): _mllp_remove,
    ('mllp', 'list'): _mllp_list,
}
