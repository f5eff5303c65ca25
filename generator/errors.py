"""One kind of failure the user can fix: printed as `error: <what>; <how to fix>`, exit code 2."""
import click


class UsageError(click.ClickException):
    exit_code = 2

    def __init__(self, what: str, fix: str):
        super().__init__(f"{what}; {fix}")

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)
