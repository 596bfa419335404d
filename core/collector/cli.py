"""Command-line commands of the ingest API: ``herald serve`` and ``herald sdk-key``."""

from __future__ import annotations

from typing import Annotated

import typer

from core.cli_support import DbOption, err, fail, out
from core.config import SDK_KEY_ENV, resolve_db_url
from core.errors import HeraldError
from core.persistence import open_database


def register(cli: typer.Typer) -> None:
    """Add ``serve`` and ``sdk-key`` to the root command."""

    @cli.command("serve")
    def serve(
        db: DbOption = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8077,
        sdk_key: Annotated[
            str | None,
            typer.Option("--sdk-key", envvar=SDK_KEY_ENV, show_default=False,
                         help="Key devices must send as X-Herald-Key (default: the workspace's stored key)."),
        ] = None,
        profile: Annotated[
            str | None,
            typer.Option(help="Also send: resume unfinished campaigns through this provider profile "
                              "(simulator, or an imported one). Default: simulator when it has run once."),
        ] = None,
        no_send: Annotated[bool, typer.Option("--no-send", help="Serve the SDK API only; send nothing.")] = False,
    ) -> None:
        """Run the SDK ingest API headless, and resume unfinished sends (devices report here)."""
        from core.collector.sdk_key import masked
        from core.collector.server import build_ingest_app, serve_forever
        from core.sending.service import resume_sending

        try:
            database = open_database(resolve_db_url(db))
            app = build_ingest_app(database, sdk_key)
        except HeraldError as exc:
            raise fail(str(exc)) from None
        key_note = "from --sdk-key" if sdk_key else "stored in the workspace; `herald sdk-key` prints it"
        err.print(
            f"Herald ingest API on [bold]http://{host}:{port}/sdk/v1[/] "
            f"(workspace {database.engine.url.render_as_string(hide_password=True)}, "
            f"SDK key {masked(app.sdk_key)} {key_note}). Ctrl+C stops.",
            highlight=False,
        )
        companion = None if no_send else resume_sending(database, profile)
        if companion is None and not no_send:
            err.print("Not sending: no provider profile (run the simulator once, or pass --profile).")
        try:
            serve_forever(app, host, port, companion)
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}. Pick another --port.") from None
        finally:
            database.dispose()

    @cli.command("sdk-key")
    def sdk_key_command(db: DbOption = None) -> None:
        """Print the workspace's SDK key (generating one if it has none)."""
        from core.collector.sdk_key import ensure_sdk_key

        try:
            database = open_database(resolve_db_url(db))
        except HeraldError as exc:
            raise fail(str(exc)) from None
        out.print(ensure_sdk_key(database), highlight=False)
        database.dispose()

