"""The engine side of one console: workspace, SDK ingest API, simulator, provider profile and sending engine.

Everything here runs on the EngineHost's loop thread (``host.submit(session.method, ...)``); no method
touches a widget, and the console never reaches the ORM: it calls core's services and gets typed results
back. The parts, in the order ``start()`` brings them up:

1. the workspace ``Database`` (opened and migrated);
2. the SDK ingest API on a loopback port (``BackgroundIngestServer``), so devices and SDKs report here;
3. the bundled simulator in-process (``RuntimeThread``), reporting to that API — unless told the simulator
   runs as its own process (``start_simulator=False``); its state folder holds the simulator profile;
4. the active provider profile (``simulator`` by default) turned into providers;
5. the ``SendEngine`` serving in the background on this loop, publishing on ``bus``.

First run: ``needs_demo()`` is true for an empty workspace that never had the demo; ``build_demo()``
(blocking: run it with ``asyncio.to_thread``) fills it like ``herald demo`` does. ``close()`` stops
everything in reverse order and joins every thread it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from core.campaigns.definition import Audience, CampaignDefinition
from core.campaigns.figures import CampaignFigures, CampaignTimeline, campaign_figures, campaign_timeline
from core.campaigns.queries import Reach, audience_device_ids, audience_reach, stored_definition
from core.campaigns.service import CampaignService, CampaignSummary
from core.clock import SystemClock
from core.collector.app import IngestApp
from core.collector.server import BackgroundIngestServer, build_ingest_app
from core.composer.personalise import Personaliser
from core.errors import CredentialError, HeraldError
from core.events import EventBus
from core.imports.users import import_users
from core.persistence import Database, open_database
from core.providers.base import ConnectionCheck, PushProvider
from core.providers.connectivity import check_connections
from core.providers.factory import build_providers
from core.providers.profiles import (
    ProfileKind,
    ProviderProfile,
    list_profiles,
    load_profile,
    load_simulator_profile,
    production_profile,
    provider_settings,
    save_profile,
)
from core.providers.secret_store import SecretStore
from core.sending.engine import SendEngine, StartResult
from core.workspace import WorkspaceSummary, summarize
from simulator.demo import DemoResult, build_demo
from simulator.runtime import RuntimeInfo, RuntimeOptions, RuntimeThread

log = logging.getLogger(__name__)

#: The profile that sends to the bundled simulator; it is read from the simulator's state folder.
SIMULATOR_PROFILE = "simulator"
#: Written into the simulator's state folder once the demo workspace is complete.
DEMO_MARKER = "herald-demo.json"
#: (stage, done, total) from ``build_demo``.
DemoProgress = Callable[[str, int, int], None]


class DemoCancelled(HeraldError):
    """The person cancelled the creation of the demo workspace."""


class PassphraseNeeded(HeraldError):
    """The credential store is passphrase-protected (no OS keyring) and no passphrase was given yet."""

    def __init__(self, new: bool) -> None:
        super().__init__("The credential store needs a passphrase" + (" (choose one)" if new else ""))
        self.new = new


@dataclass(frozen=True)
class SessionOptions:
    """How the console runs its engine."""

    db_url: str
    simulator_state: Path
    #: Start the bundled simulator in this process (False: it runs as ``herald simulator`` elsewhere).
    start_simulator: bool = True
    demo_users: int = 500
    demo_seed: int = 1
    #: Multiplies the simulated users' reaction delays (the simulator's ``time_scale``; 0.01 = 100× faster).
    time_scale: float = 1.0
    profile: str = SIMULATOR_PROFILE


@dataclass(frozen=True, slots=True)
class ProfileInfo:
    """One provider profile as the settings screen lists it (no secrets)."""

    name: str
    kind: ProfileKind
    providers: tuple[str, ...]
    source: str
    imported_at: str
    #: True for the simulator profile read live from the simulator's state folder.
    bundled: bool = False


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the status bar and the settings screen show about the engine."""

    workspace: str
    engine: str
    profile: str | None
    profile_kind: ProfileKind | None
    simulator: str
    fleet: int
    sdk_key: str | None
    ingest_url: str | None
    problem: str | None = None


class ConsoleSession:
    """Owns the workspace, ingest server, simulator, providers and sending engine of one console."""

    def __init__(self, options: SessionOptions, bus: EventBus | None = None) -> None:
        self.options = options
        self.bus = bus or EventBus()
        self.clock = SystemClock()
        self.db: Database | None = None
        self.ingest_app: IngestApp | None = None
        self.ingest: BackgroundIngestServer | None = None
        self.simulator: RuntimeThread | None = None
        self.simulator_info: RuntimeInfo | None = None
        self.engine: SendEngine | None = None
        self.profile: ProviderProfile | None = None
        self._providers: dict[object, PushProvider] = {}
        self._settings_stack: contextlib.ExitStack | None = None
        self._stop: asyncio.Event | None = None
        self._serve: asyncio.Task[None] | None = None
        self._problem: str | None = None
        self._passphrase: str | None = None

    # ------------------------------------------------------------------------------- workspace & first run

    def open(self) -> WorkspaceSummary:
        """Open (and migrate) the workspace and start the SDK ingest API; returns what is in it."""
        if self.db is None:
            self.db = open_database(self.options.db_url)
        if self.ingest is None:
            self.ingest_app = build_ingest_app(self.db)
            self.ingest = BackgroundIngestServer(self.ingest_app)
            self.ingest.start()
        return summarize(self.db)

    def summary(self) -> WorkspaceSummary:
        """Count what is in the workspace."""
        return summarize(self._db())

    def needs_demo(self) -> bool:
        """True for an empty workspace whose simulator never received the demo population."""
        summary = self.open()
        return summary.is_empty and not (self.options.simulator_state / DEMO_MARKER).exists()

    def build_demo(self, progress: DemoProgress | None = None, cancel: threading.Event | None = None) -> DemoResult:
        """Create the demo workspace (blocking; run off the loop). ``cancel`` stops it at the next step."""
        self.open()
        assert self.ingest is not None and self.ingest_app is not None and self.db is not None
        db = self.db

        def report(stage: str, done: int, total: int) -> None:
            if cancel is not None and cancel.is_set():
                raise DemoCancelled("Creating the demo workspace was cancelled")
            if progress is not None:
                progress(stage, done, total)

        result = build_demo(
            self.options.simulator_state, self.ingest.address.url, self.ingest_app.sdk_key,
            users=self.options.demo_users, seed=self.options.demo_seed, now=self.clock.now(),
            import_users_csv=lambda path: import_users(db, path), progress=report,
        )
        (self.options.simulator_state / DEMO_MARKER).write_text(json.dumps({
            "users": result.users, "devices": result.devices, "seed": self.options.demo_seed,
            "created_at": self.clock.now().isoformat(timespec="seconds"),
        }) + "\n")
        return result

    async def start(self) -> SessionStatus:
        """Bring up the simulator (when in-process), the active profile and the sending engine."""
        self.open()
        if self.options.start_simulator and self.simulator is None:
            assert self.ingest is not None and self.ingest_app is not None
            thread = RuntimeThread(self.options.simulator_state, RuntimeOptions(
                seed=self.options.demo_seed, herald_url=self.ingest.address.url, sdk_key=self.ingest_app.sdk_key,
                time_scale=self.options.time_scale,
            ))
            try:
                self.simulator_info = await asyncio.to_thread(thread.start)
                self.simulator = thread
            except Exception as exc:
                self._problem = f"The simulator did not start: {exc}"
                log.warning("%s", self._problem)
        try:
            await self.use_profile(self.options.profile)
        except (HeraldError, FileNotFoundError, KeyError) as exc:
            self._problem = _profile_problem(self.options.profile, exc)
        return self.status()

    def status(self) -> SessionStatus:
        """The engine's state for the status bar."""
        if self.simulator is not None:
            simulator = "running"
        elif not self.options.start_simulator:
            simulator = "separate process"
        else:
            simulator = "not running"
        fleet = len(self.simulator.runtime.fleet) if self.simulator and self.simulator.runtime.fleet else 0
        return SessionStatus(
            workspace=self._db().engine.url.render_as_string(hide_password=True),
            engine="sending" if self.engine is not None else "stopped",
            profile=self.profile.name if self.profile else None,
            profile_kind=self.profile.kind if self.profile else None,
            simulator=simulator, fleet=fleet, sdk_key=self.ingest_app.sdk_key if self.ingest_app else None,
            ingest_url=self.ingest.address.url if self.ingest else None, problem=self._problem,
        )

    def control_url(self) -> str | None:
        """The simulator's control API: the in-process one, or a separate process's (from its ports file)."""
        if self.simulator_info is not None:
            return self.simulator_info.control_url
        ports = self.options.simulator_state / "ports.json"
        if not self.options.start_simulator and ports.exists():
            with contextlib.suppress(ValueError, KeyError, OSError):
                return f"http://127.0.0.1:{int(json.loads(ports.read_text())['control'])}"
        return None

    # ------------------------------------------------------------------------------------- profiles

    def _store(self, passphrase: str | None = None) -> SecretStore:
        if passphrase:
            self._passphrase = passphrase

        def ask(new: bool) -> str:
            raise PassphraseNeeded(new)

        return SecretStore.default(passphrase=self._passphrase, prompt=ask)

    def _load_profile(self, name: str) -> ProviderProfile:
        if name == SIMULATOR_PROFILE:
            return load_simulator_profile(self.options.simulator_state)
        return load_profile(self._store(), name)

    async def use_profile(self, name: str) -> SessionStatus:
        """Send through profile ``name`` from now on (the engine restarts with its providers)."""
        profile = self._load_profile(name)
        await self._stop_engine()
        stack = contextlib.ExitStack()
        try:
            settings = stack.enter_context(provider_settings(profile))
            providers = build_providers(settings, self.clock)
        except BaseException:
            stack.close()
            raise
        self._settings_stack = stack
        self._providers = dict(providers)
        self.profile = profile
        self.engine = SendEngine(self._db(), providers, self.clock, self.bus, personalise=Personaliser(self._db()))
        await self.engine.resume_unfinished()
        self._stop = asyncio.Event()
        self._serve = asyncio.create_task(self.engine.serve(self._stop), name="herald-send-engine")
        self._problem = None
        return self.status()

    def profiles(self) -> list[ProfileInfo]:
        """The bundled simulator profile (when the simulator has run) and every stored profile."""
        out: list[ProfileInfo] = []
        if (self.options.simulator_state / "profile.json").exists():
            out.append(ProfileInfo(SIMULATOR_PROFILE, ProfileKind.SIMULATOR, ("fcm", "apns", "webpush"),
                                   f"bundled simulator ({self.options.simulator_state})", "", bundled=True))
        for meta in list_profiles(SecretStore.default()):
            if meta.get("name") == SIMULATOR_PROFILE:
                continue
            out.append(ProfileInfo(str(meta.get("name")), ProfileKind(meta.get("kind", "production")),
                                   tuple(meta.get("providers", ())), str(meta.get("source", "")),
                                   str(meta.get("imported_at", ""))))
        return out

    def import_simulator_profile(self, name: str = "simulator-saved", passphrase: str | None = None) -> ProfileInfo:
        """Store the running simulator's profile under ``name`` (encrypted like production credentials)."""
        profile = load_simulator_profile(self.options.simulator_state, name=name)
        save_profile(self._store(passphrase), profile)
        return _info(profile)

    def import_production(self, name: str, passphrase: str | None = None, **files: object) -> ProfileInfo:
        """Read production credential files once and store them encrypted (``production_profile``'s arguments)."""
        store = self._store(passphrase)
        profile = production_profile(name, **files)  # type: ignore[arg-type]
        save_profile(store, profile)
        return _info(profile)

    async def test_connection(self, name: str, passphrase: str | None = None) -> list[ConnectionCheck]:
        """Prove each provider of profile ``name`` accepts its credentials (no device is reached)."""
        if passphrase:
            self._passphrase = passphrase
        return await check_connections(self._load_profile(name), clock=self.clock)

    # ------------------------------------------------------------------------------------ campaigns

    def campaigns(self) -> list[CampaignSummary]:
        """Every campaign, newest first, with its delivery counts."""
        return CampaignService(self._db(), self.clock).list()

    def create_campaign(self, definition: CampaignDefinition) -> int:
        """Store a new draft; returns its id."""
        return CampaignService(self._db(), self.clock).create(definition, actor="console")

    def duplicate_campaign(self, campaign_id: int) -> int:
        """A draft copy of a campaign (same content, audience and settings); returns the copy's id."""
        definition = stored_definition(self._db(), campaign_id)
        return self.create_campaign(replace(definition, name=f"{definition.name} (copy)"))

    def definition(self, campaign_id: int) -> CampaignDefinition:
        """A campaign's stored definition."""
        return stored_definition(self._db(), campaign_id)

    def reach(self, audience: Audience) -> Reach:
        """How many reachable devices ``audience`` addresses."""
        return audience_reach(self._db(), audience)

    async def send(self, campaign_id: int, audience: Audience, fast: bool = False) -> StartResult:
        """Write the audience to the outbox and start sending through the active profile."""
        engine = self._engine()
        if fast:
            await engine.warm_up()
        devices = audience_device_ids(self._db(), audience)
        return await engine.start_campaign(campaign_id, fast=fast, device_ids=devices)

    async def pause(self, campaign_id: int) -> None:
        """Stop claiming the campaign's messages."""
        await self._engine().pause(campaign_id)

    async def resume(self, campaign_id: int) -> None:
        """Send a paused campaign again."""
        await self._engine().resume(campaign_id)

    async def cancel(self, campaign_id: int) -> int:
        """Cancel what has not left; returns how many messages were cancelled."""
        return await self._engine().cancel(campaign_id)

    def figures(self, campaign_id: int) -> CampaignFigures:
        """The campaign's live totals."""
        return campaign_figures(self._db(), campaign_id)

    def timeline(self, campaign_id: int) -> CampaignTimeline:
        """The campaign's per-second series so far."""
        return campaign_timeline(self._db(), campaign_id)

    # ---------------------------------------------------------------------------------------- closing

    async def _stop_engine(self) -> None:
        if self._stop is not None and self._serve is not None:
            self._stop.set()
            with contextlib.suppress(Exception):
                await self._serve
        for provider in self._providers.values():
            with contextlib.suppress(Exception):
                await provider.aclose()
        if self._settings_stack is not None:
            self._settings_stack.close()
        self.engine = None
        self._serve = self._stop = self._settings_stack = None
        self._providers = {}

    async def close(self) -> None:
        """Stop sending, the simulator, the ingest API and release the workspace (joins every thread)."""
        await self._stop_engine()
        if self.simulator is not None:
            simulator, self.simulator = self.simulator, None
            await asyncio.to_thread(simulator.stop)
        if self.ingest is not None:
            ingest, self.ingest = self.ingest, None
            await asyncio.to_thread(ingest.stop)
        if self.db is not None:
            self.db.dispose()
            self.db = None

    def _db(self) -> Database:
        if self.db is None:
            self.db = open_database(self.options.db_url)
        return self.db

    def _engine(self) -> SendEngine:
        if self.engine is None:
            raise CredentialError(
                self._problem or "No provider profile is active; choose one in Settings → Provider profiles.",
                field="profile",
            )
        return self.engine


def _info(profile: ProviderProfile) -> ProfileInfo:
    return ProfileInfo(profile.name, profile.kind, tuple(p.value for p in profile.providers), profile.source,
                       profile.imported_at)


def _profile_problem(name: str, exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return (f"The {name} profile is not there yet ({exc.filename}); start the simulator once "
                "(herald simulator) or choose another profile in Settings.")
    if isinstance(exc, KeyError):
        return f"There is no profile named {name!r}; import it in Settings → Provider profiles."
    return f"Profile {name} cannot be used: {exc}"


def started_at_text(at: datetime | None) -> str:
    """A campaign's start time for people ("started 14:02:11"), or an empty string."""
    return f"started {at.astimezone().strftime('%H:%M:%S')}" if at else ""
