"""Form exports' settings: the inbox folder and the optional column maps."""

from __future__ import annotations

from warehouse.env_settings import EnvSettings


class FormsSettings(EnvSettings):
    """Where form exports are dropped, and the column maps for layouts not recognised."""

    FORMS_INBOX: str = "data/inbox"  # every CSV and XLSX in it is read as a form export
    FORMS_CONFIG: str = "forms.yaml"  # optional: column maps (connectors/forms/config.py)
