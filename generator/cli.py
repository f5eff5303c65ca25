"""`nautilus`: one click group; each command lives in its own module."""
import os

import click

from trainer.safe_yaml import YAMLInputError

from . import build, demo, kubectl, new, report, validate
from .errors import UsageError

DEBUG_ENV = "NAUTILUS_DEBUG"
# The commands a user runs right before `kubectl apply -k`: they warn when that kubectl is too old.
CHECK_KUBECTL = {"new", "build", "validate"}


class InternalError(UsageError):
    """A failure no check foresaw (a bug): one line and how to see more, exit code 3."""
    exit_code = 3


def _one_line(exc: click.UsageError) -> UsageError:
    command = exc.ctx.command_path if exc.ctx else "nautilus"
    return UsageError(exc.format_message().rstrip("."), f"see `{command} --help`")


class Group(click.Group):
    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:  # plain `nautilus`: the help, as click prints it
            raise
        except click.UsageError as exc:  # `nautilus --bogus`
            raise _one_line(exc) from None

    def invoke(self, ctx):
        """The safety net under every command's own checks: input errors raised deep inside (a YAML bound)
        become usage errors, anything unforeseen one line instead of a traceback."""
        try:
            return super().invoke(ctx)
        except YAMLInputError as exc:
            raise UsageError(exc.what, exc.fix) from None
        except click.UsageError as exc:  # click's own (an unknown option, a bad choice): one line as well
            raise _one_line(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise InternalError(f"unexpected {type(exc).__name__}: {str(exc)[:300]}",
                                f"rerun with {DEBUG_ENV}=1 for the traceback and report it") from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx):
    """Scaffold, render, validate and report Kustomize overlays for NRP Nautilus.

    \b
    Example:
      nautilus new myproject --namespace gp-engine-lab --gpus 2 --gpu-product NVIDIA-A10
      nautilus validate overlays/myproject
      kubectl apply -k overlays/myproject
    """
    if ctx.invoked_subcommand in CHECK_KUBECTL:
        kubectl.warn_if_old()


for command in (new.new, new.init, build.build, validate.validate, report.report, demo.demo):
    main.add_command(command)
