"""repr() of the settings read from the environment never shows a password."""

from __future__ import annotations

import pytest

from redis_semcache.config import read_env, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://bob:s3cr%40t@cache:6379/0", "redis://bob:***@cache:6379/0"),
        ("rediss://:hunter2@[::1]:6380/1", "rediss://:***@[::1]:6380/1"),
        ("unix:///run/redis.sock?db=2&password=hunter2", "unix:/run/redis.sock?db=2&password=***"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_urls_are_shown_without_their_password(url, shown):
    assert redact_url(url) == shown


def test_the_config_repr_redacts_the_password_and_the_url():
    config = read_env({"REDIS_URL": "redis://bob:hunter2@cache:6379/0", "REDIS_PASSWORD": "s3cret", "REDIS_DB": "3"})
    text = repr(config)
    assert "hunter2" not in text and "s3cret" not in text
    assert "redis_password='***'" in text and "redis://bob:***@cache:6379/0" in text and "redis_db=3" in text
    assert config.redis_password == "s3cret" and "hunter2" in (config.redis_url or "")  # the values themselves stay
    assert str(config) == text
