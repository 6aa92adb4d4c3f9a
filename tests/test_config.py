"""Settings: vaultgate.toml, the environment winning over it, flags over both, and one-line errors naming the source."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.support.config_files import file_error, refusal, write_toml
from vaultgate.config import DEFAULT_MAX_BODY_BYTES, ConfigError, Settings, load, load_with_origins, shown

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "deploy" / "vaultgate.example.toml"
FIELDS = list(Settings.model_fields)


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # ./vaultgate.toml is a lookup location: run each test from an empty directory.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# --- sources and precedence ---


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
        'refresh_interval = 2\nmaster_key_file = "/etc/vg/master.key"\nlog_level = "WARNING"\n',
    )
    settings = load({})
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.database_url == "sqlite:///x.db"
    assert settings.refresh_interval == 2.0 and isinstance(settings.refresh_interval, float)
    assert settings.master_key_file == Path("/etc/vg/master.key")
    assert settings.log_level == "warning"


def test_environment_wins_over_toml(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", 'port = 9000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    settings = load({"VAULTGATE_PORT": "9100", "VAULTGATE_HOST": "127.0.0.2"})
    assert settings.port == 9100
    assert settings.host == "127.0.0.2"
    assert settings.log_level == "debug"  # not in the environment: the file's value


def test_empty_environment_variable_does_not_override(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\n")
    assert load({"VAULTGATE_PORT": ""}).port == 9000


def test_overrides_win_over_environment_and_none_is_no_override() -> None:
    settings = load({"VAULTGATE_PORT": "9100"}, port=9200, host=None)
    assert settings.port == 9200
    assert settings.host == "127.0.0.1"


def test_only_the_given_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTGATE_PORT", "1234")
    assert load({}).port == 8080
    assert load().port == 1234  # no mapping given: the process environment


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write_toml(tmp_path / "elsewhere" / "vg.toml", "port = 7000\n")
    assert load({"VAULTGATE_CONFIG": str(path)}).port == 7000


def test_a_config_path_that_names_no_file_is_refused(tmp_path: Path, _empty_cwd: Path) -> None:
    # Falling back to ./vaultgate.toml would run with settings the operator did not point at.
    write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\n")
    for missing in (tmp_path / "nowhere.toml", tmp_path):
        message = refusal({"VAULTGATE_CONFIG": str(missing)})
        assert message == f"VAULTGATE_CONFIG: no configuration file at {missing}"


def test_toml_in_the_data_dir_is_found(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_toml(data / "vaultgate.toml", 'redis_url = "redis://127.0.0.1:6379/0"\n')
    assert load({"VAULTGATE_DATA_DIR": str(data)}).redis_url == "redis://127.0.0.1:6379/0"


def test_toml_in_the_data_dir_of_the_flag_is_found(tmp_path: Path) -> None:
    # `vaultgate --data-dir DIR ...` reads DIR/vaultgate.toml, as the documented lookup says.
    write_toml(tmp_path / "flagged" / "vaultgate.toml", "port = 7100\n")
    assert load({"VAULTGATE_DATA_DIR": str(tmp_path / "other")}, data_dir=tmp_path / "flagged").port == 7100


def test_the_current_directory_comes_before_the_data_dir(tmp_path: Path, _empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "port = 7001\n")
    write_toml(tmp_path / "data" / "vaultgate.toml", "port = 7002\n")
    assert load({"VAULTGATE_DATA_DIR": str(tmp_path / "data")}).port == 7001


def test_origins_say_where_each_value_came_from(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", 'port = 9000\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    loaded = load_with_origins({"VAULTGATE_HOST": "127.0.0.2", "VAULTGATE_TEST_POSTGRES_URL": "x"}, port=9100)
    assert loaded.file == Path("vaultgate.toml") and loaded.file.absolute() == path
    assert loaded.settings.port == 9100
    assert {name: loaded.origins[name] for name in ("port", "host", "log_level", "redis_url")} == {
        "port": "command line",
        "host": "environment",
        "log_level": "file",
        "redis_url": "default",
    }
    assert set(loaded.origins) == set(FIELDS)
    path.unlink()
    assert load_with_origins({}).file is None


def test_other_variables_with_the_prefix_are_not_errors() -> None:
    # Tests, deployment scripts and the gateway's own workers share the prefix.
    environ = {"VAULTGATE_TEST_POSTGRES_URL": "postgresql://x", "VAULTGATE_GATEWAY": "http://x", "VAULTGATE_X": "1"}
    assert load(environ) == Settings()


# --- the file itself ---


def test_unknown_toml_key_is_refused_naming_file_and_key(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\ndatabse_url = 'typo'\n")
    assert refusal() == f"vaultgate.toml ({path}): databse_url: unknown setting (did you mean database_url?)"


@pytest.mark.parametrize(("body", "key"), [("[server]\nport = 1\n", "server"), ("_env_file = '.env'\n", "_env_file")])
def test_tables_and_pydantic_settings_options_are_unknown_settings(_empty_cwd: Path, body: str, key: str) -> None:
    # `_env_file` would be an option of pydantic-settings' BaseSettings if it reached its constructor.
    path = write_toml(_empty_cwd / "vaultgate.toml", body)
    assert re.fullmatch(file_error(path, key) + r"unknown setting( \(did you mean \w+\?\))?", refusal())


def test_invalid_toml_is_refused_naming_the_file(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", "port = = 1\n")
    assert refusal().startswith(f"vaultgate.toml ({path}): not valid TOML: ")


def test_a_file_that_is_not_utf8_is_refused_naming_the_file(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", 'host = "caf\xe9"\n'.encode("latin-1"))
    assert refusal() == f"vaultgate.toml ({path}): not UTF-8 text (byte 0xe9 at offset 11); save it as UTF-8"


def test_a_byte_order_mark_is_not_an_error(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "\ufeffport = 9000\n".encode())
    assert load({}).port == 9000


def test_a_file_that_cannot_be_read_is_refused_naming_the_file(
    _empty_cwd: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, which reads any file: the operating system's refusal is simulated.
    path = write_toml(_empty_cwd / "vaultgate.toml", "port = 9000\n")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert refusal() == f"vaultgate.toml ({path}): cannot be read: Permission denied"


# --- the model ---


def test_master_key_never_in_repr() -> None:
    settings = load({"VAULTGATE_MASTER_KEY": "c2VjcmV0LW1hc3Rlci1rZXktbWF0ZXJpYWwtMzJieXQ="})
    assert settings.master_key == "c2VjcmV0LW1hc3Rlci1rZXktbWF0ZXJpYWwtMzJieXQ="
    assert "c2VjcmV0" not in repr(settings)


def test_direct_construction_validates_and_reads_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTGATE_PORT", "1234")
    assert Settings().port == 8080  # only load() reads the environment
    assert Settings(port="9000").port == 9000
    with pytest.raises(ConfigError, match=r"^port: must be at least 1, not 0$"):
        Settings(port=0)
    with pytest.raises(ConfigError, match=r"^prot: unknown setting \(did you mean port\?\)$"):
        Settings(prot=1)


def test_settings_are_immutable_and_evolve_validates(tmp_path: Path) -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]
    changed = settings.evolve(port=9000, webhook_url="https://hooks.example/x")
    assert (changed.port, changed.webhook_url, settings.port) == (9000, "https://hooks.example/x", 8080)
    with pytest.raises(ConfigError, match=r"^refresh_interval: must be greater than 0, not 0$"):
        settings.evolve(refresh_interval=0)
    moved = settings.with_data_dir(tmp_path)
    assert moved.resolved_master_key_file == tmp_path / "master.key"
    assert moved.resolved_database_url.endswith(f"{tmp_path}/vaultgate.db")


@pytest.mark.parametrize(
    ("name", "value", "printed"),
    [
        ("database_url", "sqlite:////abs/vaultgate.db", "sqlite:////abs/vaultgate.db"),
        ("database_url", "postgresql://vg@db/vg", "postgresql://vg@db/vg"),
        (
            "database_url",
            "postgresql://vg:pw@[::1]:5433/vg?sslmode=require&password=pw",
            "postgresql://vg:***@[::1]:5433/vg?sslmode=require&password=***",
        ),
        ("database_url", "host=db password=pw", "***"),
        ("redis_url", "unix:///run/redis.sock?password=pw&db=1", "unix:///run/redis.sock?password=***&db=1"),
        ("redis_url", "redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("webhook_url", "https://u:pw@hooks.example:8443/T0/pw", "https://hooks.example:8443/***"),
        ("master_key", "pw", "***"),
        ("metrics_token", "pw", "***"),
        ("port", 8080, 8080),
        ("redis_url", None, None),
    ],
)
def test_printed_values_mask_every_secret(name: str, value: object, printed: object) -> None:
    assert shown(name, value) == printed


# --- the example file and the documentation ---


def test_the_example_file_names_every_setting_with_its_default() -> None:
    """deploy/vaultgate.example.toml lists each field (commented out where there is no default) and loads as the defaults."""
    text = EXAMPLE.read_text()
    named = set(re.findall(r"^#? ?([a-z_]+) = ", text, flags=re.MULTILINE))
    assert [name for name in FIELDS if name not in named] == []
    assert sorted(named - set(FIELDS)) == []
    active = tomllib.loads(text)
    assert all(Settings.model_fields[name].default is not None for name in active)
    assert load({"VAULTGATE_CONFIG": str(EXAMPLE)}) == Settings()
    # The commented-out examples are valid values too.
    commented = "\n".join(line[2:] for line in text.splitlines() if re.match(r"^# [a-z_]+ = ", line))
    example = load({"VAULTGATE_CONFIG": str(write_toml(Path("commented.toml"), commented))})
    assert example.database_url is not None and example.tls_key is not None


def test_every_setting_is_documented() -> None:
    """docs/CONFIGURATION.md names the variable of every field of Settings (a new setting needs its row)."""
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    missing = [name for name in FIELDS if f"VAULTGATE_{name.upper()}" not in doc]
    assert missing == [], f"undocumented settings: {missing}"
    assert "deploy/vaultgate.example.toml" in doc


def test_every_setting_has_its_kind_documented() -> None:
    """The table of kinds in docs/CONFIGURATION.md says what each setting accepts (a new setting needs its kind)."""
    doc = (ROOT / "docs" / "CONFIGURATION.md").read_text()
    rows = doc.split("| kind | accepts | settings |", 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]
    listed = {name.lower() for row in rows for name in re.findall(r"`VAULTGATE_([A-Z_]+)`", row.rsplit(" | ", 1)[-1])}
    assert sorted(set(FIELDS) - listed) == [] and sorted(listed - set(FIELDS)) == []
