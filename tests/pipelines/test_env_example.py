"""`.env.example` lists every setting the models declare, each with its default, and
nothing else: it cannot drift from the one place the defaults are held."""

from pathlib import Path

from pipelines import settings

ROOT = Path(__file__).resolve().parents[2]


def _example() -> dict[str, str]:
    """NAME -> value from `.env.example`'s setting lines (comments and blanks skipped)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line.strip() and not line.startswith("#")]
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), "a setting listed twice"
    return {name.strip(): value.strip() for name, value in pairs}


def _declared() -> dict[str, str]:
    return {name: text for layer in settings.LAYERS for name, text in layer.defaults().items()}


def test_env_example_lists_every_setting_with_its_default():
    example, declared = _example(), _declared()
    assert sorted(set(declared) - set(example)) == [], "settings missing from .env.example"
    assert sorted(set(example) - set(declared)) == [], ".env.example lists unknown settings"
    assert {n: v for n, v in example.items() if v != declared[n]} == {}, "defaults differ"


def test_defaults_are_a_view_of_the_models():
    assert {n: v for n, v in _declared().items() if v} == settings.DEFAULTS
    assert settings.DEFAULTS["MAILCHIMP_RECONCILE_DAYS"] == "7"
    assert settings.DEFAULTS["IDENTITY_CONFIG"] == "identity.yaml"
    assert settings.DEFAULTS["ACTION_NETWORK_RATE"] == "4"


def test_a_setting_reads_the_environment_with_blank_as_unset(monkeypatch):
    monkeypatch.setenv("MAILCHIMP_MAX_CONNECTIONS", " 5 ")
    monkeypatch.setenv("EXPORTS_DIR", "   ")
    current = settings.current()
    assert current.platforms["mailchimp"].MAILCHIMP_MAX_CONNECTIONS == 5
    assert current.transforms.EXPORTS_DIR == "data/exports"
    assert settings.get("EXPORTS_DIR") == "data/exports" and not settings.has("EXPORTS_DIR")
    assert settings.get("MAILCHIMP_MAX_CONNECTIONS") == "5"


def test_a_key_is_never_shown_in_the_settings(monkeypatch):
    monkeypatch.setenv("MAILCHIMP_API_KEY", "0123456789abcdef-us6")
    current = settings.current()
    assert current.platforms["mailchimp"].MAILCHIMP_API_KEY == "0123456789abcdef-us6"
    assert "0123456789abcdef" not in repr(current)


def test_a_platform_takes_its_settings_typed_with_their_defaults(monkeypatch):
    from connectors.mailchimp.settings import MailchimpSettings

    for name in ("MAILCHIMP_ACTIVITY_DAYS", "MAILCHIMP_MAX_CONNECTIONS"):
        monkeypatch.delenv(name, raising=False)
    given = {"MAILCHIMP_ACTIVITY_DAYS": "12", "MAILCHIMP_MAX_CONNECTIONS": " "}
    typed = MailchimpSettings.of(given)
    assert typed.MAILCHIMP_ACTIVITY_DAYS == 12 and typed.MAILCHIMP_MAX_CONNECTIONS == 8
