"""Settings: vaultgate.toml, the environment winning over it, and errors that name the setting."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vaultgate.config import DEFAULT_MAX_BODY_BYTES, ConfigError, Settings, load


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # ./vaultgate.toml is a lookup location: run each test from an empty directory.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_toml(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load({})
    assert settings == Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert settings.redis_url is None


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load({"VAULTGATE_DATA_DIR": str(tmp_path / "data")})
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'vaultgate.db'}"
    assert settings.resolved_master_key_file == tmp_path / "data" / "master.key"


def test_relative_data_dir_resolves_to_an_absolute_sqlite_path(_empty_cwd: Path) -> None:
    url = load({}).resolved_database_url
    assert url == f"sqlite:///{_empty_cwd.resolve() / '.data' / 'vaultgate.db'}"


def test_explicit_database_url_is_kept() -> None:
    url = "postgresql://vg@db.internal/vaultgate"
    assert load({"VAULTGATE_DATABASE_URL": url}).resolved_database_url == url


def test_toml_values_are_read_and_typed(_empty_cwd: Path) -> None:
    write_toml(
        _empty_cwd / "vaultgate.toml",
        'port = 9000\nhost = "0.0.0.0"\ndatabase_url = "sqlite:///x.db"\n'
        'refresh_interval = 2\nmaster_key_file = "/etc/vg/master.key"\n',
    )
    settings = load({})
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.database_url == "sqlite:///x.db"
    assert settings.refresh_interval == 2.0
    assert settings.master_key_file == Path("/etc/vg/master.key")


def test_environment_wins_over_toml(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", 'port = 9000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings = load({"VAULTGATE_PORT": "9100", "VAULTGATE_HOST": "127.0.0.2"})
    assert settings.port == 9100
    assert settings.host == "127.0.0.2"
    assert settings.log_level == "debug"  # not in the environment: the file's value


def test_empty_environment_variable_does_not_override(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\n")
    assert load({"VAULTGATE_PORT": ""}).port == 9000


def test_overrides_win_over_environment() -> None:
    settings = load({"VAULTGATE_PORT": "9100"}, port=9200, host=None)
    assert settings.port == 9200
    assert settings.host == "127.0.0.1"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "elsewhere" / "vg.toml", "port = 7000\n")
    assert load({"VAULTGATE_CONFIG": str(path)}).port == 7000


def test_toml_in_the_data_dir_is_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_toml(data / "vaultgate.toml", 'redis_url = "redis://127.0.0.1:6379/0"\n')
    assert load({"VAULTGATE_DATA_DIR": str(data)}).redis_url == "redis://127.0.0.1:6379/0"


def test_unknown_toml_key_is_config_error(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\ndatabse_url = 'typo'\n")
    with pytest.raises(ConfigError, match="unknown setting 'databse_url'"):
        load({})


def test_invalid_toml_is_config_error_naming_the_file(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "port = = 1\n")
    with pytest.raises(ConfigError, match=r"vaultgate\.toml"):
        load({})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAULTGATE_PORT", "eighty"),
        ("VAULTGATE_PORT", "80.5"),
        ("VAULTGATE_MAX_BODY_BYTES", "20MB"),
        ("VAULTGATE_REFRESH_INTERVAL", "fast"),
        ("VAULTGATE_UPSTREAM_TIMEOUT", "10s"),
    ],
)
def test_bad_number_in_environment_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load({variable: value})
    assert variable in str(info.value)
    assert repr(value) in str(info.value)


def test_bad_number_in_toml_names_the_setting(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", 'port = "http"\n')
    with pytest.raises(ConfigError, match="PORT"):
        load({})


@pytest.mark.parametrize("line", ["port = true", "port = 8080.5", "max_body_bytes = 1.5", "refresh_interval = false"])
def test_toml_values_of_the_wrong_type_are_refused_not_coerced(_empty_cwd: Path, line: str) -> None:
    # int(True) == 1 and int(8080.5) == 8080: silently listening on port 1 is worse than an error.
    write_toml(_empty_cwd / "vaultgate.toml", line + "\n")
    name = line.split(" ")[0].upper()
    with pytest.raises(ConfigError, match=f"VAULTGATE_{name}"):
        load({})


def test_master_key_never_in_repr() -> None:
    settings = load({"VAULTGATE_MASTER_KEY": "c2VjcmV0LW1hc3Rlci1rZXktbWF0ZXJpYWwtMzJieXQ="})
    assert settings.master_key == "c2VjcmV0LW1hc3Rlci1rZXktbWF0ZXJpYWwtMzJieXQ="
    assert "c2VjcmV0" not in repr(settings)


def test_with_data_dir(tmp_path: Path) -> None:
    settings = load({}).with_data_dir(tmp_path)
    assert settings.resolved_master_key_file == tmp_path / "master.key"
    assert settings.resolved_database_url.endswith(f"{tmp_path}/vaultgate.db")


@pytest.mark.parametrize("name", ["admin_docs", "allow_link_local_upstreams"])
def test_switches_are_off_by_default_and_read_as_booleans(name: str, _empty_cwd: Path) -> None:
    assert getattr(load({}), name) is False
    variable = f"VAULTGATE_{name.upper()}"
    for raw, expected in [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False)]:
        assert getattr(load({variable: raw}), name) is expected
    (_empty_cwd / "vaultgate.toml").write_text(f"{name} = true\n")
    assert getattr(load({}), name) is True


def test_a_misspelt_switch_is_refused_not_read_as_off(_empty_cwd: Path) -> None:
    with pytest.raises(ConfigError, match="VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS"):
        load({"VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS": "ture"})


def test_retry_and_failover_settings_are_read_and_checked() -> None:
    settings = load(
        {
            "VAULTGATE_UPSTREAM_MAX_ATTEMPTS": "5",
            "VAULTGATE_UPSTREAM_RETRY_BUDGET": "0",
            "VAULTGATE_UPSTREAM_BACKOFF_MAX": "2.5",
            "VAULTGATE_MAX_UPSTREAM_RESPONSE_BYTES": "1048576",
        }
    )
    assert (settings.upstream_max_attempts, settings.upstream_retry_budget, settings.upstream_backoff_max) == (
        5,
        0.0,
        2.5,
    )
    assert settings.max_upstream_response_bytes == 1048576
    for variable, value in (
        ("VAULTGATE_UPSTREAM_MAX_ATTEMPTS", "0"),  # no attempt at all would answer nothing
        ("VAULTGATE_UPSTREAM_BREAKER_THRESHOLD", "0"),
        ("VAULTGATE_UPSTREAM_RETRY_BUDGET", "-1"),
        ("VAULTGATE_MAX_UPSTREAM_EVENT_BYTES", "-5"),
    ):
        with pytest.raises(ConfigError) as info:
            load({variable: value})
        assert variable in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml")])
def test_words_outside_a_settings_choices_are_refused_naming_them(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"VAULTGATE_{name}: use one of .*not '{value}'"):
        load({f"VAULTGATE_{name}": value})


def test_choices_are_read_case_insensitively() -> None:
    assert load({"VAULTGATE_LOG_LEVEL": "DEBUG", "VAULTGATE_LOG_FORMAT": "Json"}).log_format == "json"


def test_every_setting_is_documented() -> None:
    """docs/CONFIGURATION.md names the variable of every field of Settings (a new setting needs its row)."""
    doc = (Path(__file__).parent.parent / "docs" / "CONFIGURATION.md").read_text()
    missing = [f.name for f in dataclasses.fields(Settings) if f"VAULTGATE_{f.name.upper()}" not in doc]
    assert missing == [], f"undocumented settings: {missing}"
