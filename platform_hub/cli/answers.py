"""One line for what an operator can put right.

The root command's group turns the errors an operator can act on — a bad setting, a database that is
not there, not migrated or not reachable, an unknown id, a bad option — into one line on stderr and
an exit status that is not 0. Anything else is a bug of the hub and keeps its traceback. Commands
raise ``CliError`` for their own refusals, services a ``HubError``; no command catches them itself.
"""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from typer._click import Context
from typer._click import exceptions as click  # typer's own copy of click: what its parser raises
from typer.core import TyperGroup

from platform_hub.kit.settings import Settings
from platform_hub.protocol.errors import HubError

FAILED, MISUSED = 1, 2  # the exit statuses: the work failed; the command or its settings are wrong
# The settings' models: Settings, and the zone kit.clock reads alone (ZoneSetting), which it inherits.
SETTINGS_MODELS = frozenset(c.__name__ for c in Settings.__mro__ if issubclass(c, BaseSettings))


class CliError(Exception):
    """What a command tells its operator, in one line, with the exit status that goes with it."""

    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class OneLineGroup(TyperGroup):
    """The root command: every subcommand is parsed and run inside its ``invoke``."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoArgsIsHelpError:
            raise  # a group called bare shows its help, as before
        except click.UsageError as exc:
            where = (exc.ctx or ctx).command_path
            # typer checks values with pydantic, and says so in its messages: the operator needs not know
            said = exc.format_message().replace("Value error, ", "")
            _answer(f"{said} (see: {where} --help)", exc.exit_code)
        except click.ClickException as exc:
            _answer(exc.format_message(), exc.exit_code)
        except CliError as exc:
            _answer(str(exc), exc.exit_code)
        except HubError as exc:
            _answer("; ".join([str(exc), *exc.details]), FAILED)
        except ValidationError as exc:
            if exc.title not in SETTINGS_MODELS:
                raise
            _answer(settings_problem(exc), MISUSED)


def settings_problem(exc: ValidationError) -> str:
    """What is wrong with the settings, by the environment variables an operator sets (pydantic names
    the fields): ``settings: PLATFORM_HUB_RETENTION_YEARS: Input should be a valid integer …``.
    The values are not repeated: a setting may hold a secret."""
    prefix = Settings.model_config.get("env_prefix") or ""
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        variable = f"{prefix}{str(error['loc'][0]).upper()}" if error["loc"] else None
        named = variable is None or message.startswith(variable)  # kit.clock names its variable itself
        problems.append(message if named else f"{variable}: {message}")
    return "settings: " + "; ".join(problems)


def option_problem(exc: ValidationError) -> CliError:
    """What is wrong with a command's options, checked by the model the hub checks them with over
    HTTP: the first problem, by the option's name (``--base-url: Input should be a valid URL …``)."""
    error = exc.errors(include_url=False)[0]
    option = "--" + str(error["loc"][0]).replace("_", "-") if error["loc"] else "options"
    return CliError(f"{option}: {error['msg'].removeprefix('Value error, ')}", MISUSED)


def _answer(message: str, exit_code: int) -> NoReturn:
    one_line = " ".join(message.split())
    typer.echo(f"{typer.style('error:', fg='red')} {one_line}", err=True)
    raise typer.Exit(exit_code)
