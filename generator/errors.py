"""One kind of failure the user can fix: printed as `error: <what>; <how to fix>` on one line, exit code 2."""
import click

from trainer.safe_yaml import one_line


class UsageError(click.ClickException):
    exit_code = 2

    def __init__(self, what: str, fix: str):
        super().__init__(one_line(f"{what}; {fix}"))  # names and file contents quoted in messages may hold newlines

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)
