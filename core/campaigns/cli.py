"""``herald campaign create FILE`` and ``herald campaign list``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.campaigns.definition import load_definition
from core.campaigns.service import CampaignService
from core.cli_support import DbOption, fail, out
from core.config import resolve_db_url
from core.errors import HeraldError
from core.persistence import open_database


def register(cli: typer.Typer) -> None:
    """Add the ``campaign`` command group."""
    group = typer.Typer(help="Define and list campaigns.", no_args_is_help=True)
    cli.add_typer(group, name="campaign")

    @group.command("create")
    def create(
        file: Annotated[Path, typer.Argument(help="Campaign file (TOML or JSON): name, content, audience.")],
        db: DbOption = None,
    ) -> None:
        """Create a draft campaign from a file; prints its id."""
        try:
            definition = load_definition(file)
            database = open_database(resolve_db_url(db))
        except HeraldError as exc:
            raise fail(str(exc)) from None
        try:
            service = CampaignService(database)
            campaign_id = service.create(definition, actor=getpass.getuser())
            reach = len(service.audience_devices(campaign_id))
        finally:
            database.dispose()
        out.print(f"Campaign {campaign_id} “{definition.name}” created for {reach:,} devices. "
                  f"Send it: herald send --campaign {campaign_id}", highlight=False)

    @group.command("list")
    def list_campaigns(db: DbOption = None) -> None:
        """Every campaign with its state and delivery counts."""
        try:
            database = open_database(resolve_db_url(db))
        except HeraldError as exc:
            raise fail(str(exc)) from None
        try:
            rows = CampaignService(database).list()
        finally:
            database.dispose()
        table = Table("id", "name", "state", "targeted", "sent", "delivered", "clicked", "CTR")
        for r in rows:
            ctr = f"{r.click_through_rate:.1%}" if r.click_through_rate is not None else "—"
            table.add_row(str(r.id), r.name, r.state.value, f"{r.targeted:,}", f"{r.sent:,}", f"{r.delivered:,}",
                          f"{r.clicked:,}", ctr)
        out.print(table if rows else "No campaigns yet: herald campaign create FILE")
