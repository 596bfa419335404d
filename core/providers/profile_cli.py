"""``herald profile``: import provider credentials once, list and inspect profiles, test their connections.

::

    herald profile import-simulator --state DIR [--name simulator]
    herald profile import-production --name prod --service-account sa.json \\
        --apns-key AuthKey_ABC123DEFG.p8 --apns-key-id ABC123DEFG --apns-team-id DEF123GHIJ \\
        --apns-topic com.example.app [--apns-sandbox] --vapid-key vapid.pem --vapid-subject mailto:ops@example.com
    herald profile list | show NAME [--json] | remove NAME | test NAME [--apns-h2c]

Secrets go to the encrypted store (``core.providers.secret_store``): the key in the OS keyring, or a
passphrase from ``HERALD_PASSPHRASE`` / an interactive prompt where there is no usable keyring. Nothing
printed here contains key material; errors name the file and the field to fix, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from core.cli_support import err, fail, out
from core.config import data_dir
from core.errors import CredentialError, HeraldError, ValidationError
from core.providers.profiles import (
    list_profiles,
    load_profile,
    load_simulator_profile,
    production_profile,
    remove_profile,
    save_profile,
)
from core.providers.secret_store import PASSPHRASE_ENV, SecretStore


def register(cli: typer.Typer) -> None:
    """Add the ``profile`` command group to the root command."""
    group = typer.Typer(help="Provider profiles: credentials for FCM, APNs and Web Push (production or simulator).",
                        no_args_is_help=True)
    cli.add_typer(group, name="profile")

    @group.command("import-simulator")
    def import_simulator(
        state: Annotated[Path | None, typer.Option("--state", show_default=False,
                                                   help="Simulator state folder (default: the user data "
                                                        "folder's simulator/).")] = None,
        name: Annotated[str, typer.Option(help="Name of the profile to create or update.")] = "simulator",
    ) -> None:
        """Import the profile of a simulator that has run in --state (replaces a profile of the same name)."""
        state_dir = state or data_dir() / "simulator"
        with _errors():
            profile = load_simulator_profile(state_dir, name=name)
            store = _store()
            existed = store.exists(name)
            save_profile(store, profile)
        _print_notice(store)
        verb = "Updated" if existed else "Imported"
        out.print(f"{verb} simulator profile [bold]{name}[/] from {state_dir} "
                  f"({', '.join(p.value for p in profile.providers)}).", highlight=False)

    @group.command("import-production")
    def import_production(
        name: Annotated[str, typer.Option(help="Name of the profile, e.g. prod.")],
        service_account: Annotated[Path | None, typer.Option(help="FCM: service-account JSON key file.",
                                                             show_default=False)] = None,
        fcm_project_id: Annotated[str | None, typer.Option(help="FCM project id (default: the service "
                                                           "account's).", show_default=False)] = None,
        apns_key: Annotated[Path | None, typer.Option(help="APNs: the .p8 auth key file.", show_default=False)] = None,
        apns_key_id: Annotated[str | None, typer.Option(help="APNs: the key's 10-character Key ID.",
                                                        show_default=False)] = None,
        apns_team_id: Annotated[str | None, typer.Option(help="APNs: your 10-character Team ID.",
                                                         show_default=False)] = None,
        apns_topic: Annotated[str | None, typer.Option(help="APNs: the app's bundle id.", show_default=False)] = None,
        apns_sandbox: Annotated[bool, typer.Option("--apns-sandbox", help="APNs: use the development "
                                                   "(sandbox) environment.")] = False,
        vapid_key: Annotated[Path | None, typer.Option(help="Web Push: VAPID private key (PEM or base64url).",
                                                       show_default=False)] = None,
        vapid_public_key: Annotated[str | None, typer.Option(help="Web Push: the applicationServerKey your apps "
                                                             "use; checked against the private key.",
                                                             show_default=False)] = None,
        vapid_subject: Annotated[str | None, typer.Option(help="Web Push: mailto: or https: contact.",
                                                          show_default=False)] = None,
        replace: Annotated[bool, typer.Option("--replace", help="Overwrite a profile of the same name.")] = False,
    ) -> None:
        """Import production credential files into an encrypted profile (the files are read once)."""
        with _errors():
            store = _store()
            if store.exists(name) and not replace:
                raise ValidationError(f"A profile named {name!r} exists already; add --replace to overwrite it "
                                      "or choose another --name.", field="name")
            profile = production_profile(
                name, service_account=service_account, fcm_project_id=fcm_project_id, apns_key=apns_key,
                apns_key_id=apns_key_id, apns_team_id=apns_team_id, apns_topic=apns_topic,
                apns_sandbox=apns_sandbox, vapid_key=vapid_key, vapid_public_key=vapid_public_key,
                vapid_subject=vapid_subject,
            )
            save_profile(store, profile)
        _print_notice(store)
        out.print(f"Imported production profile [bold]{name}[/] ({', '.join(p.value for p in profile.providers)}); "
                  f"credentials encrypted in {store.root} (key: {store.key_source}). The original files are no "
                  "longer needed by Herald.", highlight=False)

    @group.command("list")
    def list_command() -> None:
        """List the stored profiles (no secrets)."""
        with _errors():
            store = _store()
            profiles = list_profiles(store)
        if not profiles:
            out.print("No profiles yet. Import one: herald profile import-simulator, or herald profile "
                      "import-production (see --help).", highlight=False)
            return
        table = Table("name", "kind", "providers", "identity", "imported")
        for meta in profiles:
            table.add_row(meta.get("name", "?"), meta.get("kind", "?"), ", ".join(meta.get("providers", [])),
                          _identity(meta), meta.get("imported_at", ""))
        out.print(table)
        err.print(f"Credentials are encrypted in {store.root} (key: {store.key_source}).", highlight=False)

    @group.command("show")
    def show(
        name: Annotated[str, typer.Argument(help="Profile name.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the metadata as JSON.")] = False,
    ) -> None:
        """Show a profile's metadata: ids, URLs, key fingerprints (never the keys)."""
        with _errors():
            store = _store()
            meta = _metadata_or_fail(store, name)
        view = _displayable(meta)
        if as_json:
            typer.echo(json.dumps(view, indent=2, sort_keys=True))
            return
        out.print(f"[bold]{view['name']}[/] ({view['kind']}), imported {view.get('imported_at', '?')}",
                  highlight=False)
        out.print(f"  source: {view.get('source', '')}", highlight=False)
        for section in ("fcm", "apns", "webpush"):
            if section in view:
                out.print(f"  [bold]{section}[/]", highlight=False)
                for key, value in view[section].items():
                    if value is not None:
                        out.print(f"    {key}: {value}", highlight=False)

    @group.command("remove")
    def remove(name: Annotated[str, typer.Argument(help="Profile name.")]) -> None:
        """Delete a stored profile and its encrypted credentials."""
        with _errors():
            store = _store()
            found = remove_profile(store, name)
        if not found:
            raise fail(f"There is no profile named {name!r} (herald profile list shows them).")
        out.print(f"Removed profile [bold]{name}[/].", highlight=False)

    @group.command("test")
    def test(
        name: Annotated[str, typer.Argument(help="Profile name.")],
        apns_h2c: Annotated[bool, typer.Option("--apns-h2c", help="Reach the simulator's APNs over h2c.")] = False,
    ) -> None:
        """Test connection: prove each provider's credentials work, without reaching a device."""
        from core.providers.connectivity import check_connections

        with _errors():
            store = _store()
            _metadata_or_fail(store, name)
            profile = load_profile(store, name)
            checks = asyncio.run(check_connections(profile, apns_h2c=apns_h2c))
        for check in checks:
            mark = "[green]ok[/]" if check.ok else "[bold red]FAILED[/]"
            out.print(f"{check.provider.value:8} {mark}  {check.detail}", highlight=False)
        if not all(check.ok for check in checks):
            raise typer.Exit(1)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn Herald's errors into a one-line message (file and field) and exit code 1, without a traceback."""
    try:
        yield
    except (CredentialError, ValidationError) as exc:
        where = f" [dim](field: {escape(exc.field)})[/]" if exc.field else ""
        raise fail(escape(str(exc)) + where) from None
    except HeraldError as exc:
        raise fail(escape(str(exc))) from None


def _store() -> SecretStore:
    return SecretStore.default(prompt=_prompt_passphrase)


def _prompt_passphrase(new: bool) -> str:
    if not sys.stdin.isatty():
        return ""
    if new:
        err.print("Herald's credential store needs a passphrase (it is asked for again whenever credentials are "
                  f"used; {PASSPHRASE_ENV} can carry it).", highlight=False)
    text: str = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=new, err=True)
    return text


def _print_notice(store: SecretStore) -> None:
    if store.notice:
        err.print(f"[yellow]note:[/] {store.notice}", highlight=False)


def _metadata_or_fail(store: SecretStore, name: str) -> dict[str, Any]:
    try:
        return store.metadata(name)
    except KeyError:
        raise fail(f"There is no profile named {name!r} (herald profile list shows them).") from None


def _identity(meta: dict[str, Any]) -> str:
    parts = []
    if "fcm" in meta:
        parts.append(f"project {meta['fcm'].get('project_id')}")
    if "apns" in meta:
        parts.append(f"{meta['apns'].get('topic')} ({meta['apns'].get('environment')})")
    if "webpush" in meta:
        parts.append(f"VAPID {str(meta['webpush'].get('vapid_public_key', ''))[:12]}…")
    return "; ".join(parts)


def _displayable(meta: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in meta.items() if k != "format"}
    if "apns" in view:
        apns = dict(view["apns"])
        apns["trusted_ca"] = "simulator CA (stored)" if apns.pop("ca_pem", None) else None
        view["apns"] = apns
    return view
