"""Which teams an organiser leads, from the teams file (TEAMS_CONFIG, default teams.yaml).

The one place the portal reads teams: the file is read again only when it changes (by
modification time and size), so removing an organiser takes effect on their next request.
The file is read with the warehouse's teams model (transforms/teams_config.py): only the
team names and their organisers matter here."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class TeamsFileError(ValueError):
    """The teams file cannot be read; the message names the file and what is wrong."""


class TeamsFile:
    """The teams file at `path`, read again whenever it changes on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._leaders: dict[str, tuple[str, ...]] = {}
        self._names: tuple[str, ...] = ()
        self._problem: str | None = None

    def led_by(self, email: str) -> tuple[str, ...]:
        """The teams `email` leads, in file order; () when none (or no file)."""
        self._refresh()
        if self._problem:
            raise TeamsFileError(self._problem)
        return self._leaders.get(email.strip().lower(), ())

    def names(self) -> tuple[str, ...]:
        """Every team's name, in file order."""
        self._refresh()
        if self._problem:
            raise TeamsFileError(self._problem)
        return self._names

    def _refresh(self) -> None:
        try:
            info = os.stat(self.path)
            seen = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            seen = (0, -1)
        if seen == self._seen:
            return
        with self._lock:
            if seen == self._seen:
                return
            self._leaders, self._names, self._problem = _read(self.path, seen[1] < 0)
            self._seen = seen


def _read(
    path: Path, missing: bool
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...], str | None]:
    """(email -> teams led, team names, problem or None) from the file, read with the
    warehouse's own teams model (transforms.teams_config), so both read it alike."""
    # Imported here: the teams model brings DuckDB along, which `make revoke` never needs.
    from transforms.teams_config import TeamsConfigError, load_teams

    if missing:
        return {}, (), None  # no teams file: no organiser leads a team
    try:
        teams = load_teams(path).teams
    except (TeamsConfigError, OSError, UnicodeDecodeError) as exc:
        # The model's message names the file, the team and the field, never a value.
        log.warning("teams file %s cannot be used (%s)", path, type(exc).__name__)
        problem = str(exc) if isinstance(exc, TeamsConfigError) else f"{path} cannot be read"
        return {}, (), problem
    leaders: dict[str, list[str]] = {}
    for team in teams:
        for email in team.organisers:  # lower-cased by the model
            leaders.setdefault(email, []).append(team.name)
    return {e: tuple(t) for e, t in leaders.items()}, tuple(t.name for t in teams), None
