"""Settings: vaultgate.toml, the environment winning over it, flags over both, and one-line errors naming the source."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from vaultgate.config import DEFAULT_MAX_BODY_BYTES, ConfigError, Settings, load, load_with_origins

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


def write_toml(path: Path, body: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body)
    return path


def file_error(path: Path, key: str) -> str:
    """The start of a refusal of ``key`` in the file at ``path``, as a regex."""
    return re.escape(f"{path.name} ({path.absolute()}): {key}: ")


def refusal(environ: dict[str, str] | None = None, **overrides: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(environ or {}, **overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


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


# --- types, ranges and choices ---


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("VAULTGATE_PORT", "eighty", "must be a whole number"),
        ("VAULTGATE_PORT", "80.5", "must be a whole number"),
        ("VAULTGATE_PORT", "8080.0", "must be a whole number"),
        ("VAULTGATE_PORT", "0", "must be at least 1"),
        ("VAULTGATE_PORT", "65536", "must be at most 65535"),
        ("VAULTGATE_MAX_BODY_BYTES", "20MB", "must be a whole number"),
        ("VAULTGATE_REFRESH_INTERVAL", "fast", "must be a number"),
        ("VAULTGATE_UPSTREAM_TIMEOUT", "10s", "must be a number"),
        ("VAULTGATE_UPSTREAM_TIMEOUT", "inf", "must be a finite number"),
        ("VAULTGATE_DRAIN_TIMEOUT", "nan", "must be a finite number"),
        ("VAULTGATE_TOKEN_EXCHANGE_RPM", "-1", "must be at least 0"),
        ("VAULTGATE_HOST", " ", "must not be empty"),
    ],
)
def test_bad_values_in_the_environment_name_the_variable(variable: str, value: str, problem: str) -> None:
    message = refusal({variable: value})
    assert message.startswith(f"{variable}: {problem}, not ")


@pytest.mark.parametrize(
    "name",
    [
        # Zero would burn a core (a loop that never sleeps), end every request at once, or refuse everything.
        "refresh_interval",
        "usage_flush_interval",
        "limits_timeout",
        "upstream_timeout",
        "rotation_check_interval",
        "max_body_bytes",
        "privacy_scan_timeout",
        "privacy_scan_max_bytes",
        "header_timeout",
        "body_idle_timeout",
        "body_timeout",
        "max_header_count",
        "max_header_bytes",
        "keepalive_timeout",
        "upstream_max_attempts",
        "upstream_connect_timeout",
        "upstream_breaker_threshold",
        "upstream_breaker_cool_down",
        "max_upstream_response_bytes",
        "max_upstream_event_bytes",
        "max_staleness",
        "drain_timeout",
    ],
)
def test_intervals_timeouts_and_sizes_must_be_greater_than_zero(name: str) -> None:
    variable = f"VAULTGATE_{name.upper()}"
    for value in ("0", "-1"):
        assert refusal({variable: value}) == f"{variable}: must be greater than 0, not {value!r}"


@pytest.mark.parametrize("name", ["upstream_retry_budget", "upstream_backoff_base", "upstream_backoff_max"])
def test_zero_means_none_where_documented_but_negative_is_refused(name: str) -> None:
    variable = f"VAULTGATE_{name.upper()}"
    assert getattr(load({variable: "0"}), name) == 0.0
    assert refusal({variable: "-0.5"}) == f"{variable}: must be at least 0, not '-0.5'"


def test_token_exchange_rpm_zero_means_no_limit() -> None:
    assert load({"VAULTGATE_TOKEN_EXCHANGE_RPM": "0"}).token_exchange_rpm == 0


def test_ports_at_the_ends_of_the_range_are_accepted() -> None:
    assert [load({"VAULTGATE_PORT": p}).port for p in ("1", "65535")] == [1, 65535]


def test_the_log_level_in_the_file_is_refused_naming_file_and_key(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", 'log_level = "loud"\n')
    assert refusal() == (
        f"vaultgate.toml ({path}): log_level: use one of debug, info, warning, error, critical, not 'loud'"
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("port = true", "must be a whole number, not True"),
        ("port = 8080.5", "must be a whole number, not 8080.5"),
        ("port = 8080.0", "must be a whole number, not 8080.0"),
        ('port = "http"', "must be a whole number, not 'http'"),
        ("max_body_bytes = 1.5", "must be a whole number, not 1.5"),
        ("refresh_interval = false", "must be a number, not False"),
        ("refresh_interval = 0", "must be greater than 0, not 0"),
        ("admin_docs = 1", "use true or false, not 1"),
        ('admin_docs = "ture"', "use true or false, not 'ture'"),
        ("host = 127", "must be a string, not 127"),
        ("data_dir = 5", "must be a path (a string), not 5"),
        ('data_dir = ""', "must not be empty, not ''"),
        ("log_format = 1", "use one of text, json, not 1"),
    ],
)
def test_toml_values_of_the_wrong_type_are_refused_not_coerced(_empty_cwd: Path, line: str, problem: str) -> None:
    # int(True) == 1 and int(8080.5) == 8080: silently listening on port 1 is worse than an error.
    path = write_toml(_empty_cwd / "vaultgate.toml", line + "\n")
    assert refusal() == f"vaultgate.toml ({path}): {line.split(' ')[0]}: {problem}"


def test_several_bad_values_are_all_named_on_one_line(_empty_cwd: Path) -> None:
    path = write_toml(_empty_cwd / "vaultgate.toml", 'log_level = "loud"\n')
    assert refusal({"VAULTGATE_PORT": "0"}, data_dir="") == (
        "--data-dir: must not be empty, not ''; "
        "VAULTGATE_PORT: must be at least 1, not '0'; "
        f"vaultgate.toml ({path}): log_level: use one of debug, info, warning, error, critical, not 'loud'"
    )


def test_a_flag_value_is_named_by_its_flag() -> None:
    assert refusal({}, port=70000) == "--port: must be at most 65535, not 70000"
    assert refusal({}, prot=1) == "--prot: unknown setting (did you mean port?)"


@pytest.mark.parametrize("name", ["admin_docs", "allow_link_local_upstreams", "require_shared_limits"])
def test_switches_are_off_by_default_and_read_as_booleans(name: str, _empty_cwd: Path) -> None:
    assert getattr(load({}), name) is False
    variable = f"VAULTGATE_{name.upper()}"
    words = [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("On", True)]
    words += [("false", False), ("0", False), ("no", False), ("off", False)]
    for raw, expected in words:
        assert getattr(load({variable: raw}), name) is expected
    (_empty_cwd / "vaultgate.toml").write_text(f"{name} = true\n")
    assert getattr(load({}), name) is True


@pytest.mark.parametrize("word", ["ture", "t", "y", "2", "enabled"])
def test_a_misspelt_switch_is_refused_not_read_as_off(word: str) -> None:
    message = refusal({"VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS": word})
    assert message == f"VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS: use true or false, not {word!r}"


def test_retry_and_failover_settings_are_read() -> None:
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


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "loud"), ("LOG_FORMAT", "xml")])
def test_words_outside_a_settings_choices_are_refused_naming_them(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^VAULTGATE_{name}: use one of .*, not '{value}'$"):
        load({f"VAULTGATE_{name}": value})


def test_choices_are_read_case_insensitively() -> None:
    assert load({"VAULTGATE_LOG_LEVEL": "DEBUG", "VAULTGATE_LOG_FORMAT": "Json"}).log_format == "json"


def test_max_staleness_must_exceed_the_refresh_interval() -> None:
    # A replica confirms its snapshot once per refresh: a shorter bound refuses every key between two checks.
    message = refusal({"VAULTGATE_REFRESH_INTERVAL": "2", "VAULTGATE_MAX_STALENESS": "1"})
    assert message == "VAULTGATE_MAX_STALENESS: must be greater than refresh_interval (2.0), not 1.0"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "VAULTGATE_DATABASE_URL",
            "mysql://vg:hunter2@db/vg",
            "use a postgresql://, postgres:// or sqlite:// URL, not 'mysql://vg:***@db/vg'",
        ),
        (
            "VAULTGATE_REDIS_URL",
            "http://cache:6379",
            "use a redis://, rediss:// or unix:// URL, not 'http://cache:6379'",
        ),
        (
            "VAULTGATE_TRUSTED_PROXIES",
            "10.0.0.0/8, 10.0.0.300",
            "use IP addresses or CIDRs separated by commas ('10.0.0.300' is neither), not '10.0.0.0/8, 10.0.0.300'",
        ),
    ],
)
def test_urls_and_networks_are_checked_and_passwords_never_repeated(variable: str, value: str, message: str) -> None:
    assert refusal({variable: value}) == f"{variable}: {message}"


def test_accepted_urls_and_networks() -> None:
    settings = load(
        {
            "VAULTGATE_DATABASE_URL": "postgres://vg@db/vg",
            "VAULTGATE_REDIS_URL": "rediss://cache:6380/1",
            "VAULTGATE_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
        }
    )
    assert (settings.database_url, settings.redis_url) == ("postgres://vg@db/vg", "rediss://cache:6380/1")


def test_an_empty_optional_string_in_the_file_means_unset(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", 'redis_url = ""\nprices_file = ""\n')
    settings = load({})
    assert (settings.redis_url, settings.prices_file) == (None, None)


def test_a_secret_is_never_repeated_in_a_refusal(_empty_cwd: Path) -> None:
    write_toml(_empty_cwd / "vaultgate.toml", "master_key = 1234567\nmetrics_token = 7654321\n")
    message = refusal()
    assert "master_key: must be a string" in message and "metrics_token: must be a string" in message
    assert "1234567" not in message and "7654321" not in message


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
