"""Column maps for exports no layout recognises, from the forms configuration."""

import pytest

from connectors.forms.config import load_column_maps
from connectors.forms.landing import land_form_exports


def test_column_map_by_file_pattern_loads_an_unknown_layout(con, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "volunteers_es.csv").write_text("Correo,Nombre\nana@example.org,Ana\n")
    config = tmp_path / "forms.yaml"
    config.write_text("column_maps:\n  'volunteers_*.csv': {email: Correo, given_name: Nombre}\n")
    maps = load_column_maps(str(config))
    report = land_form_exports(con, inbox, "b", lambda _: None, lambda _: None, maps)
    assert report.files_loaded == 1 and report.rows_loaded == 1
    assert con.execute("SELECT layout FROM form_files").fetchone()[0] == "configured"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("column_maps: [1, 2]", "column_maps: must be a mapping of file name pattern"),
        (
            "column_maps:\n  'x.csv': {shoe_size: Size}\n",
            r"column_maps\['x.csv'\].shoe_size: unknown field; allowed fields: ",
        ),
        ("column_maps: {unclosed", "not valid YAML"),
    ],
)
def test_bad_forms_configuration_is_named(tmp_path, text, message):
    config = tmp_path / "forms.yaml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_column_maps(str(config))


def test_no_configuration_file_means_no_maps(tmp_path):
    assert load_column_maps(str(tmp_path / "absent.yaml")) == {}


def test_the_old_single_consent_field_still_maps_to_email_consent(tmp_path):
    config = tmp_path / "forms.yaml"
    config.write_text("column_maps:\n  'signup.csv': {email: Email, consent: 'Newsletter?'}\n")
    maps = load_column_maps(str(config))
    assert maps == {"signup.csv": {"email": "Email", "consent_email": "Newsletter?"}}
