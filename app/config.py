"""Settings from VIGIL_* environment variables or a .env file, checked once at start-up."""

import os
import secrets
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.client_address import Network, parse_trusted
from app.web_security import normalized_origin

PROJECT_DIR = Path(__file__).resolve().parent.parent
STORAGE_SECRET_FILE = '.storage_secret'  # noqa: S105 (a file name, not a secret)
FROZEN_DATA_DIR = 'vigil-data'


def default_data_dir() -> Path:
    """Return data/ in the repository, or, in the one-file binary, a vigil-data folder next to the executable."""
    if getattr(sys, 'frozen', False):
        # NOTE: the binary runs from a temporary unpack folder (sys._MEIPASS) that is deleted at exit: data kept there
        # would vanish with every restart. Symlinks resolved: the data sits next to the real file.
        return Path(sys.executable).resolve().parent / FROZEN_DATA_DIR
    return PROJECT_DIR / 'data'


class LogLevel(StrEnum):
    DEBUG = 'DEBUG'
    INFO = 'INFO'
    WARNING = 'WARNING'
    ERROR = 'ERROR'


class SqliteSynchronous(StrEnum):
    FULL = 'full'
    NORMAL = 'normal'


class LogFormat(StrEnum):
    TEXT = 'text'
    JSON = 'json'


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix='VIGIL_', env_file='.env', env_file_encoding='utf-8',
                                      extra='ignore', frozen=True)

    data_dir: Path = Field(default_factory=default_data_dir,
                           description='Folder for the SQLite database and the generated storage secret.')
    database_url: str | None = Field(default=None, description='SQLAlchemy async URL; default: SQLite in data_dir.')
    sqlite_synchronous: SqliteSynchronous = Field(default=SqliteSynchronous.FULL, description=(
        'SQLite only. full: every commit is on disk before Vigil answers, so an accepted reading or acknowledgement '
        'survives a power loss. normal: faster ingest, but a power loss (not a crash) may lose the last commits.'))
    redis_url: str | None = Field(default=None, description='Redis URL for the multi-process event bus (optional).')
    redis_prefix: Annotated[str, Field(min_length=1, max_length=64, pattern=r'^[A-Za-z0-9_.-]+$')] = Field(
        default='vigil', description='Prefix of Vigil\'s Redis channels and keys (one per Vigil installation).')
    host: str = Field(default='127.0.0.1', description='Interface to listen on (0.0.0.0 for the whole network).')
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    storage_secret: SecretStr | None = Field(default=None, description='Signs session cookies; generated if unset.')
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = Field(default=LogFormat.TEXT, description='text, or json: one JSON object per line.')
    demo: bool = Field(default=False, description='Seed the demo hospitals and accounts at start-up.')
    demo_password: SecretStr = Field(default=SecretStr('demo'), description='Password of the demo accounts.')
    demo_simulator: bool = Field(default=True, description='With the demo: stream simulated vital signs.')
    watchdog_seconds: Annotated[float, Field(gt=0, le=60)] = Field(
        default=5, description='How often to check for due escalations and silent devices.')
    https_only: bool = Field(default=False, description='Send the session cookie over HTTPS only (behind TLS).')
    session_hours: Annotated[float, Field(gt=0, le=24 * 7)] = Field(
        default=12, description='A sign-in lasts this long (a shift plus handover), then the user signs in again.')
    trusted_proxies: str = Field(default='127.0.0.1,::1', description=(
        'Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For is believed (sign-in '
        'throttling counts failures per client address); empty: believe none.'))
    mllp_port: Annotated[int | None, Field(ge=1, le=65535)] = Field(default=None, description=(
        'Port of the HL7 v2 (MLLP) listener for monitor gateways; unset: no listener.'))
    mllp_host: str = Field(default='127.0.0.1', description=(
        'Interface of the MLLP listener (0.0.0.0 for the whole network); only with VIGIL_MLLP_PORT.'))
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(default=(), description=(
        'Comma-separated origins (https://vigil.example.org) whose pages may open the live connection besides the '
        'address Vigil is reached at; for a proxy that passes neither the public Host nor X-Forwarded-Host.'))

    @field_validator('log_level', mode='before')
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator('log_format', 'sqlite_synchronous', mode='before')
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator('mllp_port', mode='before')
    @classmethod
    def _unset_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator('database_url')
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None or value.strip() == '':
            return None
        if not value.startswith(('sqlite+aiosqlite://', 'postgresql+asyncpg://')):
            raise ValueError('use sqlite+aiosqlite:///path/to/vigil.db or postgresql+asyncpg://user@host/db')
        return value

    @field_validator('redis_url')
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value.strip() == '':
            return None
        if not value.startswith(('redis://', 'rediss://', 'unix://')):
            raise ValueError('use redis://host:6379/0 (or rediss:// for TLS)')
        return value

    @field_validator('trusted_proxies')
    @classmethod
    def _proxies(cls, value: str) -> str:
        parse_trusted(value)
        return value

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        """Return the trusted proxies as networks."""
        return parse_trusted(self.trusted_proxies)

    @field_validator('allowed_origins', mode='before')
    @classmethod
    def _origins(cls, value: object) -> object:
        items = value.split(',') if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        origins = []
        for item in items:
            if not isinstance(item, str):
                return value  # pydantic names the wrong type
            if not item.strip():
                continue
            origin = normalized_origin(item)
            if origin is None:
                raise ValueError(f'{item.strip()!r} is not an origin: use scheme://host[:port], e.g. '
                                 'https://vigil.example.org, several separated by commas')
            origins.append(origin)
        return tuple(origins)

    @property
    def db_url(self) -> str:
        """Return the database URL in force (the SQLite file under data_dir unless one is configured)."""
        return self.database_url or f'sqlite+aiosqlite:///{self.data_dir / "vigil.db"}'

    def resolved_storage_secret(self) -> str:
        """Return the configured storage secret, or the one generated once into data_dir (mode 0600)."""
        if self.storage_secret is not None:
            return self.storage_secret.get_secret_value()
        path = self.data_dir / STORAGE_SECRET_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # O_EXCL: two processes starting at once must not overwrite each other's secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, 'w') as handle:
            handle.write(secret)
        return secret


class SettingsError(Exception):
    """Settings could not be loaded; the message is one line meant for the operator."""


def load_settings() -> Settings:
    """Read the settings, or raise SettingsError with one line naming the bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first['loc'][0]).upper() if first['loc'] else '?'
        raise SettingsError(f'invalid setting VIGIL_{field}: {first["msg"]}') from None


def settings_or_exit() -> Settings:
    """Return the settings; on error print one clear line and exit with code 2."""
    try:
        return load_settings()
    except SettingsError as error:
        print(f'vigil: {error}', file=sys.stderr)
        raise SystemExit(2) from None
