"""Shared fixtures: a tiny generated CSS benchmark for the whole session."""
import pytest

from cir_testlib import TINY


@pytest.fixture(scope='session')
def css_root(tmp_path_factory) -> str:
    """A generated tiny CSS benchmark shared by the whole session."""
    from sdfn_plugin.datasets.css import CSSGenerationConfig, ensure_css
    root = str(tmp_path_factory.mktemp('css'))
    ensure_css(root, CSSGenerationConfig(seed=0, **TINY), progress=False)
    return root
