"""`nautilus`: one click group over the commands of each wing (scaffold, render, policy, review, deploy).

Every failure ends here as one line and an exit code, the contract of trainer/errors.py (docs/conventions.md):
a UsageError (bad input) is `error: <what>; <fix>` and exit 2, anything unforeseen one line and exit 3."""
import os
import traceback

import click

from generator import demo
from generator.core import kubectl_version
from generator.deploy import cli as deploy
from generator.policy import command as validate
from generator.render import command as build
from generator.review import command as report
from generator.scaffold import command as scaffold
from generator.scaffold import examples
from trainer.errors import DEBUG_ENV, one_line, UNEXPECTED, UsageError

PACKAGE = "nautilus-ml-template"  # pyproject.toml's name: `nautilus --version` reads its installed version
# The commands a user runs right before `kubectl apply -k`: they warn when that kubectl is too old.
CHECK_KUBECTL = {"new", "build", "validate"}


class Failure(click.ClickException):
    """How click prints a UsageError (or an unforeseen error): `error: <message>` and its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(one_line(message))
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _click_usage(exc: click.UsageError) -> Failure:
    command = exc.ctx.command_path if exc.ctx else "nautilus"
    return Failure(str(UsageError(exc.format_message().rstrip("."), f"see `{command} --help`")), UsageError.exit_code)


class Group(click.Group):
    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:  # plain `nautilus`: the help, as click prints it
            raise
        except click.UsageError as exc:  # `nautilus --bogus`
            raise _click_usage(exc) from None

    def invoke(self, ctx):
        """The safety net under every command's own checks: input errors raised deep inside (a YAML bound)
        are usage errors, anything unforeseen one line instead of a traceback."""
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise Failure(str(exc), exc.exit_code) from None
        except click.UsageError as exc:  # click's own (an unknown option, a bad choice): one line as well
            raise _click_usage(exc) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):  # the traceback as well; the exit code stays 3
                traceback.print_exc()
            raise Failure(f"unexpected {type(exc).__name__}: {str(exc)[:300]}; "
                          f"rerun with {DEBUG_ENV}=1 for the traceback and report it", UNEXPECTED) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=PACKAGE, prog_name="nautilus")
@click.pass_context
def main(ctx):
    """Scaffold, render, validate and report Kustomize overlays for NRP Nautilus.

    \b
    Example:
      nautilus new myproject --namespace gp-engine-lab --gpus 2 --gpu-product NVIDIA-A10
      nautilus validate overlays/myproject
      kubectl apply -k overlays/myproject -l 'nautilus.io/stage in (storage,config,data)'
      kubectl apply -k overlays/myproject    # once the data Job has completed (README step 4)
    """
    if ctx.invoked_subcommand in CHECK_KUBECTL:
        kubectl_version.warn_if_old()


for command in (scaffold.new, scaffold.init, build.build, validate.validate, report.report, demo.demo, deploy.gitops):
    main.add_command(command)
main.add_command(examples.examples_group, name="examples")
