"""What each kind of setting accepts: types, ranges and choices, refused in one line naming the source.

The same rules hold for the file, the environment and flags (docs/CONFIGURATION.md, "Values and refusals").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config_files import refusal, write_toml
from vaultgate.config import ConfigError, load


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # ./vaultgate.toml is a lookup location: run each test from an empty directory.
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


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
