"""What the plugin costs a project that does not use it: a module of fixture definitions."""

from __future__ import annotations

import pytest

from tests.test_import_cost import loaded_after

pytest_plugins = ["pytester"]


def test_import_socket_activation_does_not_import_the_plugin() -> None:
    """The top-level package never imports socket_activation.testing."""
    after = loaded_after("import socket_activation")
    assert not {m for m in after if m.startswith("socket_activation.testing")}


def test_loading_the_plugin_imports_none_of_the_library() -> None:
    """Beyond pytest itself, loading the plugin (what every pytest run does once the package
    is installed) imports the plugin module and its package, nothing else of ours, and no
    pydantic."""
    baseline = loaded_after("import pytest")
    after = loaded_after("import pytest\nimport socket_activation.testing.plugin")
    ours = {m for m in after - baseline if m.startswith("socket_activation")}
    assert ours == {
        "socket_activation",
        "socket_activation.testing",
        "socket_activation.testing.plugin",
    }
    assert "pydantic" not in after


def test_the_entry_point_registers_the_fixtures(pytester: pytest.Pytester) -> None:
    """Installed, the plugin is found through pytest11; its fixtures are listed, and a
    project can switch it off with -p no:socket_activation."""
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    listed = result.stdout.str()
    assert "fixtures defined from socket_activation.testing.plugin" in listed
    for name in ("activated_server", "notify_socket", "systemd_activation_env"):
        assert f"\n{name} -- " in listed, name
    assert "\nrestart_under_load -- " in listed
    off = pytester.runpytest_subprocess("--fixtures", "-p", "no:socket_activation")
    assert "activated_server" not in off.stdout.str()


def test_a_test_run_without_the_fixtures_is_unchanged(pytester: pytest.Pytester) -> None:
    """A plain test passes; no socket_activation module beyond the plugin is imported."""
    pytester.makepyfile(
        """
        import sys
        def test_plain():
            assert not [m for m in sys.modules
                        if m.startswith("socket_activation.") and not m.startswith(
                            "socket_activation.testing")]
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
