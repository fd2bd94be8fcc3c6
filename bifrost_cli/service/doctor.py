"""bifrost doctor: is this target ready to run a batch end to end?

Checks, in order, each a row of the report: the configuration (config file, profile, the settings
in effect, secrets never shown), the credentials (only where they are set, or that they are
missing), the target itself, one cheap read call (a list of at most one batch, or file), the
gateway's version where it tells it, and which operations the target supports (from the spec
capability tables). The verdict: exit 0 only when the target can create, wait for and read the
results of a batch; otherwise the exit code of the first failed check, with what to do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bifrost_cli.errors import BifrostError, ExitCode

Status = Literal["ok", "warn", "fail", "skip"]
END_TO_END = ("batches.create", "batches.get", "batches.results")
"""What a batch needs end to end: create it, wait for it (its status), read its results."""
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    hint: str | None = None
    exit_code: ExitCode | None = None


@dataclass
class DoctorReport:
    provider: str | None = None
    mode: str | None = None
    target: str | None = None
    version: str | None = None
    settings: list[tuple[str, str, str]] = field(default_factory=list)
    """(setting, value, source), secrets as ``set`` only."""
    checks: list[Check] = field(default_factory=list)
    operations: list[tuple[str, str | None]] = field(default_factory=list)
    """(operation, None when supported, else what to do instead)."""

    def add(self, name: str, status: Status, detail: str, *, hint: str | None = None, exit_code: ExitCode | None = None) -> Check:
        check = Check(name, status, detail, hint, exit_code if status == "fail" else None)
        self.checks.append(check)
        return check

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def verdict(self) -> None:
        """Raise for the first failed check: its message, hint and exit code."""
        failed = next((c for c in self.checks if c.status == "fail"), None)
        if failed is None:
            return
        raise BifrostError(
            f"not ready: {failed.name}: {failed.detail}", hint=failed.hint, exit_code=failed.exit_code or ExitCode.ERROR
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "mode": self.mode,
            "target": self.target,
            "gateway_version": self.version,
            "settings": [{"name": n, "value": v, "source": s} for n, v, s in self.settings],
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail, "hint": c.hint,
                 "exit_code": int(c.exit_code) if c.exit_code is not None else None}
                for c in self.checks
            ],
            "operations": [{"operation": op, "supported": why is None, "instead": why} for op, why in self.operations],
        }


def run_doctor(
    settings_of: Callable[[], Any],
    target_of: Callable[[], Any],
    *,
    environ: Mapping[str, str] | None = None,
) -> DoctorReport:
    """The report for the settings and target these give (both built here, so that a bad config
    file or a target that cannot be built is a row of the report, not a crash)."""
    from bifrost_cli.config import redact_url, settings_table
    from bifrost_cli.errors import UsageError
    from bifrost_cli.http import Redactor
    from bifrost_cli.providers import registry

    env = os.environ if environ is None else environ
    report = DoctorReport()
    try:
        settings = settings_of()
    except UsageError as exc:
        report.add("configuration", "fail", exc.message, hint=exc.hint, exit_code=exc.exit_code)
        return report
    redact = Redactor(settings.secrets())
    spec = registry.get(settings.provider)
    mode = "emulator" if settings.emulator else "gateway" if settings.base_url else "direct"
    report.provider, report.mode = spec.name, mode

    path = settings.path
    where = f"{path}" if path.exists() else f"{path} (none: defaults, environment and flags only)"
    report.add("configuration", "ok", where + (f"; profile {settings.profile}" if settings.profile else "; no profile"))
    own = {s.name for s in spec.settings}
    others = {s.name for other in registry.specs() if other.name != spec.name for s in other.settings}
    for s in settings_table():
        if s.name in others and s.name not in own:
            continue
        value = settings.values.get(s.name)
        if s.secret:
            shown = "set" if value else "-"
        elif value is None:
            shown = "-"
        else:
            shown = redact_url(str(value)) if s.is_url else str(value)
        report.settings.append((s.name, shown, settings.sources.get(s.name, "default")))

    _credentials(report, settings, spec, mode, env)

    try:
        target = target_of()
    except BifrostError as exc:
        report.add("target", "fail", redact(exc.message), hint=exc.hint, exit_code=exc.exit_code)
        return report
    report.target = redact(redact_url(target.describe()))
    report.add("target", "ok", f"{report.target} ({mode})")
    unsupported: dict[str, str] = dict(target.capabilities.unsupported)
    from bifrost_cli.providers.spec import OPERATIONS

    report.operations = [(op, unsupported.get(op)) for op in OPERATIONS]

    reachable = _answers(report, target, unsupported, redact)
    if reachable and mode != "direct":
        _version(report, target, redact)

    missing = [op for op in END_TO_END if op in unsupported]
    if missing:
        report.add(
            "batch operations",
            "fail",
            f"{', '.join(missing)} not supported by this target",
            hint=unsupported[missing[0]],
            exit_code=ExitCode.USAGE,
        )
    else:
        report.add("batch operations", "ok", "create, wait (status) and results are supported")
    return report


def _credentials(report: DoctorReport, settings: Any, spec: Any, mode: str, env: Mapping[str, str]) -> None:
    """Where each credential comes from, or that it is missing; never its value."""
    if mode == "emulator":
        report.add("credentials", "ok", "none needed: the in-process emulator")
        return
    if mode == "gateway":
        if settings.api_key:
            report.add("credentials", "ok", f"virtual key set via {_source(settings.sources.get('api_key'), '--api-key')}")
        else:
            report.add(
                "credentials",
                "warn",
                "no virtual key (BIFROST_VIRTUAL_KEY or --api-key): fine only if the gateway requires none",
            )
        return
    secret = [s for s in spec.settings if s.secret]
    if not secret:  # Bedrock: boto3's own credential chain
        found = next((name for name in AWS_CREDENTIALS if env.get(name)), None)
        if found:
            report.add("credentials", "ok", f"AWS credentials set via {found}")
        else:
            report.add(
                "credentials",
                "warn",
                "no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE): boto3 may still find "
                "them (~/.aws, an instance role); the call below tells",
            )
        return
    for s in secret:
        if settings.values.get(s.name):
            report.add("credentials", "ok", f"{s.name} set via {_source(settings.sources.get(s.name), s.env[0])}")
        else:
            report.add(
                "credentials",
                "fail",
                f"{s.name} missing",
                hint=f"Set {' or '.join(s.env)} (or put {s.name} in the config file), or go through a gateway with --base-url.",
                exit_code=ExitCode.USAGE,
            )


def _source(source: str | None, flag: str) -> str:
    if not source or source == "flag":
        return flag
    return source.removeprefix("env ")


def _answers(report: DoctorReport, target: Any, unsupported: Mapping[str, str], redact: Callable[[str], str]) -> bool:
    """One cheap read call: a list of at most one batch (or file)."""
    if "batches.list" not in unsupported:
        what, call = "batches list (limit 1)", lambda: target.list_batches(limit=1)
    elif "files.list" not in unsupported:
        what, call = "files list (limit 1)", lambda: target.list_files(limit=1)
    else:
        report.add("answers", "skip", "this target can list nothing to try")
        return False
    try:
        found = sum(1 for _ in call())
    except BifrostError as exc:
        report.add("answers", "fail", f"{what}: {redact(exc.message)}", hint=exc.hint, exit_code=exc.exit_code)
        return False
    report.add("answers", "ok", f"{what}: answered ({found} listed)")
    return True


def _version(report: DoctorReport, target: Any, redact: Callable[[str], str]) -> None:
    from bifrost_cli.providers.gateway import gateway_version

    try:
        version = gateway_version(target)
    except BifrostError as exc:
        report.add("gateway version", "warn", f"not told: {redact(exc.message)}")
        return
    if version is None:
        report.add("gateway version", "skip", "not told (this gateway has no GET /api/version)")
        return
    report.version = redact(version)
    report.add("gateway version", "ok", report.version)
